//! Endorsement and revocation decoders take any bytes; what decodes (and so carries a valid
//! signature) re-encodes to itself in both forms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_did::trust::{Endorsement, Revocation};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Endorsement::from_cbor(data) {
        assert_eq!(e.to_cbor(), data);
        assert_eq!(Endorsement::from_json(&e.to_json()).as_ref(), Ok(&e));
    }
    if let Ok(e) = Endorsement::from_json(data) {
        assert_eq!(Endorsement::from_cbor(&e.to_cbor()).as_ref(), Ok(&e));
    }
    if let Ok(r) = Revocation::from_cbor(data) {
        assert_eq!(r.to_cbor(), data);
        assert_eq!(Revocation::from_json(&r.to_json()).as_ref(), Ok(&r));
    }
    if let Ok(r) = Revocation::from_json(data) {
        assert_eq!(Revocation::from_cbor(&r.to_cbor()).as_ref(), Ok(&r));
    }
});
