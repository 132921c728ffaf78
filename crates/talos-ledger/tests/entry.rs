#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Entries: both encodings round-trip, decoders are strict, sizes are bounded.

use std::path::PathBuf;

use proptest::prelude::*;
use talos_crypto::Timestamp;
use talos_crypto::json;
use talos_ledger::entry::{
    Anchor, AuditEventEntry, Body, CapabilityIssued, CapabilityRevoked, Decision, Entry,
    EntryError, EntryKind, MAX_ENTRY_BYTES, Message, OptInPlaintext, Session, ToolCall,
};

const DID: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const PEER: &str = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";
const TS: Timestamp = Timestamp::from_millis(1_768_178_601_000);

fn bodies() -> Vec<Body> {
    let message = Message {
        peer: PEER.into(),
        session_id: vec![9; 16],
        header_hash: [1; 32],
    };
    vec![
        Body::MessageSent(message.clone()),
        Body::MessageReceived(message),
        Body::SessionEstablished(Session {
            peer: PEER.into(),
            session_id: vec![3; 32],
            protocol_version: 2,
            handshake_hash: [4; 32],
        }),
        Body::CapabilityIssued(CapabilityIssued {
            capability_hash: [5; 32],
            issuer: DID.into(),
            subject: PEER.into(),
            exp: Timestamp::from_millis(1_768_182_201_000),
        }),
        Body::CapabilityRevoked(CapabilityRevoked {
            revocation: br#"{"capability_hash":"abc","revoked_at":1}"#.to_vec(),
        }),
        Body::ToolCall(
            ToolCall::new("search", [6; 32], Some([7; 32]), Decision::Allow, "rule r1", 1_250)
                .unwrap(),
        ),
        Body::ToolCall(ToolCall::new("rm-rf", [8; 32], None, Decision::Deny, "", 3).unwrap()),
        Body::ToolCall(
            ToolCall::new("echo", [6; 32], Some([7; 32]), Decision::Allow, "ok", 0)
                .unwrap()
                .with_opt_in_plaintext(OptInPlaintext {
                    arguments: r#"{"text":"hi"}"#.into(),
                    result: Some("hi".into()),
                }),
        ),
        Body::AuditEvent(AuditEventEntry::new(audit_event_json()).unwrap()),
        Body::Anchor(Anchor {
            origin: "example.com/log".into(),
            size: 12,
            root: [0xab; 32],
            note: "example.com/log\n12\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n\n— example.com/log AAAA\n".into(),
        }),
    ]
}

/// A valid upstream audit event (the vectors' `success_bearer_ipv4`, with its hash).
fn audit_event_json() -> Vec<u8> {
    let path = shared_vectors_dir().join("talos-contracts/test_vectors/audit_event_vectors.json");
    let file = json::parse(&std::fs::read(path).unwrap()).unwrap();
    let json::Value::Array(cases) = file.get("tests").unwrap() else {
        panic!("tests")
    };
    let case = &cases[0];
    let mut event = case
        .get("event_without_hash")
        .unwrap()
        .as_object()
        .unwrap()
        .clone();
    event.insert(
        "event_hash".into(),
        json::Value::String(case.get("event_hash").unwrap().as_str().unwrap().into()),
    );
    json::Value::Object(event).to_canonical_vec()
}

/// Where the shared vectors live: `$TALOS_SHARED_VECTORS`, else `../../../shared/vectors`
/// from this crate (the project layout puts `shared/` beside `main/`).
fn shared_vectors_dir() -> PathBuf {
    std::env::var_os("TALOS_SHARED_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    )
}

fn entry(body: Body) -> Entry {
    Entry::new([0x11; 16], DID, 7, TS, body).unwrap()
}

#[test]
fn every_kind_round_trips_both_encodings() {
    let mut kinds = Vec::new();
    for body in bodies() {
        let kind = body.kind();
        let e = entry(body);
        assert_eq!(e.kind(), kind);
        let cbor = e.to_cbor();
        assert_eq!(Entry::from_cbor(&cbor).unwrap(), e, "{kind}");
        let js = e.to_json();
        assert_eq!(json::canonicalize(&js).unwrap(), js, "{kind}");
        assert_eq!(Entry::from_json(&js).unwrap(), e, "{kind}");
        assert_eq!(e.id(), &[0x11; 16]);
        assert_eq!(e.sender(), DID);
        assert_eq!(e.nonce(), 7);
        assert_eq!(e.timestamp(), TS);
        assert_eq!(e.anchor().is_some(), kind == EntryKind::Anchor);
        kinds.push(kind);
    }
    for kind in EntryKind::ALL {
        assert!(kinds.contains(&kind), "{kind} not covered");
    }
}

#[test]
fn json_shape_is_as_documented() {
    let e = entry(Body::MessageSent(Message {
        peer: PEER.into(),
        session_id: vec![0xfb, 0xff],
        header_hash: [0; 32],
    }));
    let js = String::from_utf8(e.to_json()).unwrap();
    assert_eq!(
        js,
        format!(
            r#"{{"body":{{"header_hash":"{}","peer":"{PEER}","session_id":"-_8"}},"id":"EREREREREREREREREREREQ","kind":"message_sent","nonce":7,"sender":"{DID}","ts":1768178601000,"v":1}}"#,
            "A".repeat(43)
        )
    );
    // CBOR: a 7-member map, shortest keys first ("v", then "id" and "ts").
    let cbor = e.to_cbor();
    assert_eq!(cbor[..4], [0xa7, 0x61, b'v', 0x01]);
    assert_eq!(cbor[4..7], [0x62, b'i', b'd']);
}

#[test]
fn hashes_not_plaintext_by_default() {
    let call = ToolCall::new("search", [6; 32], None, Decision::Deny, "no", 1).unwrap();
    assert!(call.opt_in_plaintext().is_none());
    let js = entry(Body::ToolCall(call)).to_json();
    assert!(!String::from_utf8(js).unwrap().contains("plaintext"));
}

#[test]
fn cbor_decoder_is_strict() {
    let e = entry(bodies().remove(5));
    let good = e.to_cbor();
    // Every truncation fails; so does a trailing byte.
    for cut in 0..good.len() {
        assert!(Entry::from_cbor(&good[..cut]).is_err(), "cut {cut}");
    }
    let mut long = good.clone();
    long.push(0);
    assert!(Entry::from_cbor(&long).is_err());
    // A non-shortest integer head (v = 1 as 0x18 0x01) is refused as non-canonical.
    let mut wide = vec![0xa7, 0x61, b'v', 0x18, 0x01];
    wide.extend_from_slice(&good[4..]);
    assert!(matches!(
        Entry::from_cbor(&wide),
        Err(EntryError::Cbor(talos_crypto::CborError::NonCanonical))
    ));
}

fn json_with(e: &Entry, edit: impl FnOnce(&mut json::Map)) -> Vec<u8> {
    let mut v = json::parse(&e.to_json()).unwrap();
    let json::Value::Object(map) = &mut v else {
        panic!()
    };
    edit(map);
    v.to_canonical_vec()
}

fn body_mut(map: &mut json::Map) -> &mut json::Map {
    match map.get_mut("body").unwrap() {
        json::Value::Object(b) => b,
        _ => panic!(),
    }
}

#[test]
fn json_decoder_is_strict() {
    let e = entry(bodies().remove(0));
    // Unknown top-level member.
    let bad = json_with(&e, |m| {
        m.insert("extra".into(), json::Value::Bool(true));
    });
    assert!(matches!(Entry::from_json(&bad), Err(EntryError::Json(_))));
    // Unknown body member.
    let bad = json_with(&e, |m| {
        body_mut(m).insert("text".into(), json::Value::String("secret".into()));
    });
    assert!(matches!(Entry::from_json(&bad), Err(EntryError::Json(_))));
    // Another kind's member.
    let bad = json_with(&e, |m| {
        body_mut(m).insert("tool".into(), json::Value::String("x".into()));
    });
    assert!(matches!(
        Entry::from_json(&bad),
        Err(EntryError::UnexpectedField {
            kind: EntryKind::MessageSent,
            field: "tool"
        })
    ));
    // Missing member.
    let bad = json_with(&e, |m| {
        body_mut(m).remove("header_hash");
    });
    assert!(matches!(
        Entry::from_json(&bad),
        Err(EntryError::MissingField {
            field: "header_hash",
            ..
        })
    ));
    // Null member.
    let bad = json_with(&e, |m| {
        body_mut(m).insert("peer".into(), json::Value::Null);
    });
    assert!(Entry::from_json(&bad).is_err());
    // Unknown kind, wrong version, short hash, bad DID.
    let bad = json_with(&e, |m| {
        m.insert("kind".into(), json::Value::String("gossip".into()));
    });
    assert!(matches!(
        Entry::from_json(&bad),
        Err(EntryError::UnknownKind(_))
    ));
    let bad = json_with(&e, |m| {
        m.insert(
            "v".into(),
            json::Value::Number(json::Number::from_f64(2.0).unwrap()),
        );
    });
    assert!(matches!(
        Entry::from_json(&bad),
        Err(EntryError::UnsupportedVersion(2))
    ));
    let bad = json_with(&e, |m| {
        body_mut(m).insert("header_hash".into(), json::Value::String("AAAA".into()));
    });
    assert!(matches!(
        Entry::from_json(&bad),
        Err(EntryError::Invalid {
            field: "header_hash",
            ..
        })
    ));
    let bad = json_with(&e, |m| {
        m.insert("sender".into(), json::Value::String("alice".into()));
    });
    assert!(matches!(
        Entry::from_json(&bad),
        Err(EntryError::Invalid {
            field: "sender",
            ..
        })
    ));
    // Not canonical: whitespace, reordered members.
    let mut spaced = e.to_json();
    spaced.insert(1, b' ');
    assert!(matches!(
        Entry::from_json(&spaced),
        Err(EntryError::Malformed(_))
    ));
    // Duplicate key.
    let js = String::from_utf8(e.to_json()).unwrap();
    let dup = js.replacen("\"v\":1}", "\"v\":1,\"v\":1}", 1);
    assert!(matches!(
        Entry::from_json(dup.as_bytes()),
        Err(EntryError::Json(_))
    ));
}

#[test]
fn constructors_check_ranges() {
    let too_big = 1u64 << 53;
    assert!(Entry::new([0; 16], DID, too_big, TS, bodies().remove(0)).is_err());
    assert!(
        Entry::new(
            [0; 16],
            DID,
            0,
            Timestamp::from_millis(too_big),
            bodies().remove(0)
        )
        .is_err()
    );
    assert!(Entry::new([0; 16], "not-a-did", 0, TS, bodies().remove(0)).is_err());
    assert!(ToolCall::new("a b", [0; 32], None, Decision::Deny, "", 0).is_err());
    assert!(ToolCall::new("", [0; 32], None, Decision::Deny, "", 0).is_err());
    assert!(ToolCall::new("t", [0; 32], None, Decision::Deny, "r".repeat(257), 0).is_err());
    assert!(ToolCall::new("t", [0; 32], None, Decision::Deny, "", too_big).is_err());
    let empty_session = Body::MessageSent(Message {
        peer: PEER.into(),
        session_id: vec![],
        header_hash: [0; 32],
    });
    assert!(Entry::new([0; 16], DID, 0, TS, empty_session).is_err());
    let empty_revocation = Body::CapabilityRevoked(CapabilityRevoked { revocation: vec![] });
    assert!(Entry::new([0; 16], DID, 0, TS, empty_revocation).is_err());
    // A valid event converts; its entry round-trips.
    let event = talos_ledger::audit::AuditEvent::from_json(&audit_event_json()).unwrap();
    let wrapped = AuditEventEntry::from(&event);
    assert_eq!(wrapped.json(), audit_event_json());
    let e = Entry::new([0; 16], DID, 0, TS, Body::AuditEvent(wrapped)).unwrap();
    assert_eq!(Entry::from_cbor(&e.to_cbor()).unwrap(), e);
    // An audit event must be a valid, canonical event.
    assert!(AuditEventEntry::new(b"{ }".to_vec()).is_err());
    let mut spaced = audit_event_json();
    spaced.insert(1, b' ');
    assert!(AuditEventEntry::new(spaced).is_err());
    let mut tampered = audit_event_json();
    let at = tampered.iter().position(|&b| b == b'6').unwrap();
    tampered[at] = b'7';
    assert!(AuditEventEntry::new(tampered).is_err());
}

#[test]
fn size_bound_is_100_000_bytes() {
    // An opted-in plaintext sized so the CBOR is exactly at the bound, then one byte over.
    let make = |n: usize| {
        let call = ToolCall::new("t", [0; 32], None, Decision::Allow, "", 0)
            .unwrap()
            .with_opt_in_plaintext(OptInPlaintext {
                arguments: "a".repeat(n),
                result: None,
            });
        Entry::new([0; 16], DID, 0, TS, Body::ToolCall(call))
    };
    let base = make(0).unwrap().to_cbor().len();
    // The text head grows from 1 byte (empty) to 5 bytes (past 65 535 bytes).
    let n = MAX_ENTRY_BYTES - base - 4;
    let at_bound = make(n).unwrap();
    assert_eq!(at_bound.to_cbor().len(), MAX_ENTRY_BYTES);
    assert_eq!(Entry::from_cbor(&at_bound.to_cbor()).unwrap(), at_bound);
    assert_eq!(Entry::from_json(&at_bound.to_json()).unwrap(), at_bound);
    assert!(matches!(
        make(n + 1),
        Err(EntryError::TooLarge {
            len: 100_001,
            max: 100_000
        })
    ));
    // The decoder refuses longer input before parsing.
    assert!(matches!(
        Entry::from_cbor(&vec![0; MAX_ENTRY_BYTES + 1]),
        Err(EntryError::TooLarge { .. })
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Entry::from_cbor(&bytes);
        let _ = Entry::from_json(&bytes);
    }

    #[test]
    fn mutated_entries_fail_or_reencode_identically(
        which in 0usize..10, at in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let e = entry(bodies().remove(which));
        let mut cbor = e.to_cbor();
        let i = at.index(cbor.len());
        cbor[i] = byte;
        if let Ok(d) = Entry::from_cbor(&cbor) {
            prop_assert_eq!(d.to_cbor(), cbor);
        }
    }

    #[test]
    fn tool_calls_round_trip(
        tool in "[A-Za-z0-9_.-]{1,128}", req in any::<[u8; 32]>(), resp in any::<Option<[u8; 32]>>(),
        deny in any::<bool>(), reason in ".{0,64}", latency in 0u64..(1 << 53), nonce in 0u64..(1 << 53),
        id in any::<[u8; 16]>(),
    ) {
        let decision = if deny { Decision::Deny } else { Decision::Allow };
        prop_assume!(reason.len() <= 256);
        let call = ToolCall::new(tool, req, resp, decision, reason, latency).unwrap();
        let e = Entry::new(id, DID, nonce, TS, Body::ToolCall(call)).unwrap();
        prop_assert_eq!(Entry::from_cbor(&e.to_cbor()).unwrap(), e.clone());
        prop_assert_eq!(Entry::from_json(&e.to_json()).unwrap(), e);
    }
}
