//! `Did::from_str` takes any UTF-8: what parses displays as exactly the input, resolves to a
//! document that round-trips in both forms and belongs to the DID, and a did:peer:2 re-encoded
//! from its elements gives the same elements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_did::{Did, DidError, Document, PeerDid};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(did) = text.parse::<Did>() else {
        return;
    };
    assert_eq!(did.to_string(), text, "a second spelling was accepted");
    let doc = Document::resolve(&did);
    assert_eq!(Document::from_json(&doc.to_json()).as_ref(), Ok(&doc));
    assert_eq!(Document::from_cbor(&doc.to_cbor()).as_ref(), Ok(&doc));
    assert_eq!(doc.check_did(&did), Ok(()));
    assert_eq!(doc.signing_key(), did.signing_key());
    if let Did::Peer(peer) = &did {
        assert_eq!(text.parse::<PeerDid>().as_ref(), Ok(peer));
        if peer.numalgo() == 2 {
            match PeerDid::numalgo2(peer.elements()) {
                Ok(again) => assert_eq!(again.elements(), peer.elements()),
                // Our encoding names every service id and may be longer than the input.
                Err(DidError::TooLong { .. }) => {}
                Err(e) => panic!("elements of a parsed DID do not encode: {e}"),
            }
        }
    }
});
