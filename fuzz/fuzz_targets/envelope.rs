//! `Envelope::decode` / `from_json` take any bytes: what decodes re-encodes to itself, and the
//! two forms agree. (Signatures cannot be forged by a fuzzer; verification is exercised with
//! a fixed key so its failure path runs.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::{SigningKey, Timestamp};
use talos_wire::envelope::{Envelope, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let now = Timestamp::from_millis(1_768_178_601_000);
    let key = SigningKey::from_seed(&[1; 32]).verifying_key();
    if let Ok(unverified) = Envelope::decode(data, &limits, now) {
        let fields = unverified.fields().clone();
        if let Ok(envelope) = unverified.clone().verify(&key) {
            assert_eq!(envelope.to_cbor(), data);
            assert_eq!(envelope.fields(), &fields);
        }
    }
    if let Ok(unverified) = Envelope::from_json(data, &limits, now) {
        let _ = unverified.verify(&key);
    }
});
