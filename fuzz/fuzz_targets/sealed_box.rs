//! `SealedBox::from_cbor` / `from_json` take any bytes; accepted CBOR is the deterministic
//! encoding, JSON round-trips, and `open` never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::SealedBox;
use talos_crypto::x25519::StaticSecret;

fuzz_target!(|data: &[u8]| {
    let recipient = StaticSecret::from_bytes([7; 32]);
    if let Ok(sealed) = SealedBox::from_cbor(data) {
        assert_eq!(sealed.to_cbor(), data, "accepted non-deterministic CBOR");
        assert_eq!(SealedBox::from_json(&sealed.to_json()).as_ref(), Ok(&sealed));
        let _ = sealed.open(&recipient);
    }
    if let Ok(sealed) = SealedBox::from_json(data) {
        assert_eq!(SealedBox::from_json(&sealed.to_json()).as_ref(), Ok(&sealed));
        assert_eq!(SealedBox::from_cbor(&sealed.to_cbor()).as_ref(), Ok(&sealed));
        let _ = sealed.open(&recipient);
    }
});
