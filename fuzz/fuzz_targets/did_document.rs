//! `Document::from_cbor` / `from_json` take any bytes: accepted CBOR is the deterministic
//! encoding, accepted JSON re-encodes to the canonical form of the input (nothing is dropped
//! or rewritten), and the two forms agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::json;
use talos_did::Document;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::from_cbor(data) {
        assert_eq!(doc.to_cbor(), data, "accepted non-deterministic CBOR");
        assert_eq!(Document::from_json(&doc.to_json()).as_ref(), Ok(&doc));
        if let Ok(did) = doc.did() {
            let _ = doc.check_did(&did);
        }
    }
    if let Ok(doc) = Document::from_json(data) {
        assert_eq!(
            json::canonicalize(data).ok(),
            Some(doc.to_json()),
            "not faithful"
        );
        assert_eq!(Document::from_json(&doc.to_json()).as_ref(), Ok(&doc));
        assert_eq!(Document::from_cbor(&doc.to_cbor()).as_ref(), Ok(&doc));
        if let Ok(did) = doc.did() {
            let _ = doc.check_did(&did);
        }
    }
});
