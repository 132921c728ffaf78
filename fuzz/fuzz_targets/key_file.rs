//! `KeyFile::from_bytes` takes any bytes and accepts only the deterministic encoding. Files
//! with tiny Argon2 costs (or none) are also decrypted, which must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::KeyFile;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = KeyFile::from_bytes(data) else { return };
    assert_eq!(file.to_bytes(), data, "accepted non-deterministic CBOR");
    if file.kdf_params().is_none_or(|p| p.m_kib() <= 64 && p.t() <= 2) {
        match file.decrypt(b"fuzz") {
            Ok(key) => assert_eq!(key.verifying_key(), file.verifying_key()),
            Err(_) => assert!(file.is_encrypted(), "an unencrypted file did not open"),
        }
    }
});
