#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Upstream audit events: the five contract vectors byte-exact, and strict validation.

use std::path::PathBuf;

use proptest::prelude::*;
use talos_crypto::json::{self, Map, Value};
use talos_crypto::{ErrorCode, Timestamp, hash};
use talos_ledger::audit::{
    AuditError, AuditEvent, AuditEventFields, ClientIpHash, Http, Method, Outcome, Principal,
    Resource, canonical_ip, format_ts, redact_meta,
};

/// Where the shared vectors live: `$TALOS_SHARED_VECTORS`, else `../../../shared/vectors`
/// from this crate (the project layout puts `shared/` beside `main/`).
fn shared_vectors_dir() -> PathBuf {
    std::env::var_os("TALOS_SHARED_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    )
}

fn vectors() -> Vec<Value> {
    let path = shared_vectors_dir().join("talos-contracts/test_vectors/audit_event_vectors.json");
    let file = json::parse(&std::fs::read(path).unwrap()).unwrap();
    let Some(Value::Array(tests)) = file.get("tests") else {
        panic!("no tests")
    };
    assert_eq!(tests.len(), 5);
    tests.clone()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{key}"))
}

#[test]
fn all_five_vectors_hash_byte_exact() {
    for case in vectors() {
        let name = s(&case, "name");
        let unhashed = case.get("event_without_hash").unwrap();
        let event = AuditEvent::from_unhashed(unhashed).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.event_hash_hex(), s(&case, "event_hash"), "{name}");
        assert_eq!(event.hashed_bytes(), unhashed.to_canonical_vec(), "{name}");
        if let Some(hex_bytes) = case.get("canonical_bytes_hex").and_then(Value::as_str) {
            assert_eq!(hex::encode(event.hashed_bytes()), hex_bytes, "{name}");
        }
        // The full event verifies as received, in any layout.
        assert_eq!(
            AuditEvent::from_json(&event.to_json()).unwrap(),
            event,
            "{name}"
        );
        let mut pretty = event.to_json();
        pretty.insert(1, b'\n');
        assert_eq!(AuditEvent::from_json(&pretty).unwrap(), event, "{name}");
    }
}

#[test]
fn client_ip_hashes_match_the_vectors() {
    let mut checked = 0;
    for case in vectors() {
        let name = s(&case, "name");
        let ctx = case.get("input_context").unwrap();
        let http = case.get("event_without_hash").unwrap().get("http").unwrap();
        let ip = ctx.get("client_ip").and_then(Value::as_str);
        let key = ctx.get("ip_hmac_key").and_then(Value::as_str);
        match (ip.and_then(canonical_ip), key) {
            (Some(_), Some(key)) => {
                let key_id = s(ctx, "ip_hmac_key_id");
                let h = ClientIpHash::compute(key.as_bytes(), key_id, ip.unwrap()).unwrap();
                assert_eq!(hash::to_hex(&h.hash), s(http, "client_ip_hash"), "{name}");
                assert_eq!(s(http, "client_ip_hash_key_id"), key_id);
                checked += 1;
            }
            // Unknown or absent IP: no ip members at all.
            _ => assert!(http.get("client_ip_hash").is_none(), "{name}"),
        }
    }
    assert_eq!(checked, 2);
    // The IPv6 vector hashes the compressed form; a long spelling gives the same hash.
    let long = ClientIpHash::compute(b"test-ip-key-secret", "k", "2001:0db8:0:0::0001").unwrap();
    assert_eq!(
        hash::to_hex(&long.hash),
        "3b2222f0896661256b62b47bbed3ad68e9e683dc52ddab148402ca19f114237a"
    );
}

#[test]
fn normative_redaction_matches_its_vector() {
    let case = vectors()
        .into_iter()
        .find(|c| s(c, "name") == "meta_filtering_normative")
        .unwrap();
    let unfiltered = case
        .get("input_context")
        .unwrap()
        .get("unfiltered_meta")
        .unwrap()
        .as_object()
        .unwrap();
    let expected = case.get("event_without_hash").unwrap().get("meta").unwrap();
    let redacted = redact_meta(unfiltered, &["model", "tokens"]);
    assert_eq!(&Value::Object(redacted), expected);
    // Nothing dropped: no markers.
    let kept = redact_meta(
        unfiltered,
        &["model", "tokens", "internal_id", "raw_request"],
    );
    assert_eq!(&kept, unfiltered);
}

fn fields() -> AuditEventFields {
    AuditEventFields {
        event_id: "01945533-3158-7c85-992d-9865f1715695".into(),
        ts: format_ts(Timestamp::from_millis(1_768_154_401_000)).unwrap(),
        request_id: "req-2".into(),
        surface_id: "admin.write".into(),
        outcome: Outcome::Denied,
        principal: Principal::Signed {
            principal_id: "p-2".into(),
            team_id: "t-2".into(),
            signer_key_id: "key-sig-1".into(),
        },
        http: Http {
            method: Method::Put,
            path: "/v1/policy".into(),
            status_code: 403,
            client_ip: ClientIpHash::compute(
                b"test-ip-key-secret",
                "test-ip-key-v1",
                "2001:db8::1",
            ),
        },
        resource: None,
        meta: Map::new(),
    }
}

#[test]
fn typed_builder_reproduces_the_ipv6_vector() {
    let case = vectors()
        .into_iter()
        .find(|c| s(c, "name") == "denied_signed_ipv6")
        .unwrap();
    let event = AuditEvent::new(fields()).unwrap();
    assert_eq!(event.event_hash_hex(), s(&case, "event_hash"));
}

/// An edit of an event's members.
type Edit = Box<dyn FnOnce(&mut Map)>;

fn mutate(edit: impl FnOnce(&mut Map)) -> Result<AuditEvent, AuditError> {
    let Value::Object(mut map) = fields().into_value() else {
        panic!()
    };
    edit(&mut map);
    AuditEvent::from_unhashed(&Value::Object(map))
}

fn sub<'a>(map: &'a mut Map, key: &str) -> &'a mut Map {
    match map.get_mut(key).unwrap() {
        Value::Object(m) => m,
        _ => panic!(),
    }
}

#[test]
fn schema_rules_are_enforced() {
    let st = |t: &str| Value::String(t.into());
    assert!(mutate(|_| {}).is_ok());
    let bad: Vec<(&str, Edit)> = vec![
        (
            "unknown top member",
            Box::new(|m| drop(m.insert("x".into(), Value::Null))),
        ),
        ("missing meta", Box::new(|m| drop(m.remove("meta")))),
        (
            "schema_id",
            Box::new(move |m| drop(m.insert("schema_id".into(), st("talos.other")))),
        ),
        (
            "v4 uuid",
            Box::new(move |m| {
                drop(m.insert(
                    "event_id".into(),
                    st("01945533-3158-4c85-992d-9865f1715695"),
                ));
            }),
        ),
        (
            "uppercase uuid",
            Box::new(move |m| {
                drop(m.insert(
                    "event_id".into(),
                    st("01945533-3158-7C85-992D-9865F1715695"),
                ));
            }),
        ),
        (
            "ts without ms",
            Box::new(move |m| drop(m.insert("ts".into(), st("2026-01-11T18:00:01Z")))),
        ),
        (
            "empty request_id",
            Box::new(move |m| drop(m.insert("request_id".into(), st("")))),
        ),
        (
            "long request_id",
            Box::new(move |m| drop(m.insert("request_id".into(), st(&"r".repeat(129))))),
        ),
        (
            "outcome",
            Box::new(move |m| drop(m.insert("outcome".into(), st("ok")))),
        ),
        (
            "anonymous signed",
            Box::new(move |m| {
                drop(sub(m, "principal").insert("principal_id".into(), st("anonymous")));
            }),
        ),
        (
            "signed without key",
            Box::new(|m| drop(sub(m, "principal").remove("signer_key_id"))),
        ),
        (
            "bearer with key",
            Box::new(move |m| {
                drop(sub(m, "principal").insert("auth_mode".into(), st("bearer")));
            }),
        ),
        (
            "method",
            Box::new(move |m| drop(sub(m, "http").insert("method".into(), st("TRACE")))),
        ),
        (
            "path with query",
            Box::new(move |m| drop(sub(m, "http").insert("path".into(), st("/a?b=1")))),
        ),
        (
            "relative path",
            Box::new(move |m| drop(sub(m, "http").insert("path".into(), st("a")))),
        ),
        (
            "status 600",
            Box::new(|m| {
                drop(sub(m, "http").insert("status_code".into(), Value::Number(600.into())));
            }),
        ),
        (
            "status 99",
            Box::new(|m| {
                drop(sub(m, "http").insert("status_code".into(), Value::Number(99.into())));
            }),
        ),
        (
            "status 200.5",
            Box::new(|m| {
                let n = json::Number::from_f64(200.5).unwrap();
                drop(sub(m, "http").insert("status_code".into(), Value::Number(n)));
            }),
        ),
        (
            "ip partial",
            Box::new(|m| drop(sub(m, "http").remove("client_ip_hash_key_id"))),
        ),
        (
            "ip alg",
            Box::new(move |m| {
                drop(sub(m, "http").insert("client_ip_hash_alg".into(), st("SHA256")));
            }),
        ),
        (
            "meta array",
            Box::new(|m| {
                drop(sub(m, "meta").insert("a".into(), Value::Array(vec![])));
            }),
        ),
        (
            "meta long string",
            Box::new(move |m| {
                drop(sub(m, "meta").insert("a".into(), st(&"é".repeat(1025))));
            }),
        ),
        (
            "meta 33 members",
            Box::new(|m| {
                let meta = sub(m, "meta");
                for i in 0..33 {
                    meta.insert(format!("k{i}"), Value::Bool(true));
                }
            }),
        ),
        (
            "resource unknown",
            Box::new(|m| {
                let mut r = Map::new();
                r.insert("kind".into(), Value::Null);
                m.insert("resource".into(), Value::Object(r));
            }),
        ),
        (
            "event_hash present",
            Box::new(move |m| drop(m.insert("event_hash".into(), st(&"0".repeat(64))))),
        ),
    ];
    for (what, edit) in bad {
        assert!(mutate(edit).is_err(), "{what} accepted");
    }
    // Boundaries that are allowed.
    assert!(
        mutate(|m| {
            let meta = sub(m, "meta");
            for i in 0..32 {
                meta.insert(format!("k{i}"), Value::Null);
            }
            meta.insert("k0".into(), Value::String("é".repeat(1024)));
        })
        .is_ok()
    );
    // Meta keys have no length limit in the contract; the event as a whole does.
    assert!(matches!(
        mutate(|m| drop(sub(m, "meta").insert("k".repeat(70_000), Value::Null))),
        Err(AuditError::TooLarge { .. })
    ));
    let mut f = fields();
    f.principal = Principal::Anonymous;
    f.http.client_ip = None;
    f.resource = Some(Resource {
        resource_type: Some("repo".into()),
        resource_id: None,
    });
    assert!(AuditEvent::new(f).is_ok());
}

#[test]
fn received_events_are_verified() {
    let event = AuditEvent::new(fields()).unwrap();
    let good = event.to_json();
    // Tampered content: the hash no longer matches.
    let text = String::from_utf8(good.clone()).unwrap();
    let tampered = text.replace("\"req-2\"", "\"req-3\"");
    let err = AuditEvent::from_json(tampered.as_bytes()).unwrap_err();
    assert_eq!(err, AuditError::HashMismatch);
    assert_eq!(ErrorCode::from(&err), ErrorCode::CryptoError);
    // Hash absent, malformed, uppercase; duplicate keys; oversized.
    let without = text.replace(
        &format!("\"event_hash\":\"{}\",", event.event_hash_hex()),
        "",
    );
    assert_eq!(
        AuditEvent::from_json(without.as_bytes()),
        Err(AuditError::Missing("event_hash"))
    );
    let upper = text.replace(
        &event.event_hash_hex(),
        &event.event_hash_hex().to_uppercase(),
    );
    assert!(matches!(
        AuditEvent::from_json(upper.as_bytes()),
        Err(AuditError::Invalid {
            field: "event_hash",
            ..
        })
    ));
    let dup = text.replacen("{", "{\"outcome\":\"denied\",", 1);
    assert!(matches!(
        AuditEvent::from_json(dup.as_bytes()),
        Err(AuditError::Json(_))
    ));
    assert!(matches!(
        AuditEvent::from_json(&vec![b' '; 64 * 1024 + 1]),
        Err(AuditError::TooLarge { .. })
    ));
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = AuditEvent::from_json(&bytes);
    }

    #[test]
    fn any_one_byte_change_is_caught(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let good = AuditEvent::new(fields()).unwrap().to_json();
        let mut bad = good.clone();
        let i = at.index(bad.len());
        prop_assume!(bad[i] != byte);
        bad[i] = byte;
        // Either refused, or (whitespace or an equivalent escape) the same event.
        if let Ok(e) = AuditEvent::from_json(&bad) {
            prop_assert_eq!(e.to_json(), good);
        }
    }

    #[test]
    fn format_ts_is_well_formed(ms in 0u64..253_402_300_800_000) {
        let ts = format_ts(Timestamp::from_millis(ms)).unwrap();
        let mut f = fields();
        f.ts = ts;
        prop_assert!(AuditEvent::new(f).is_ok());
    }
}
