//! DID documents: generation in each style, Talos services, strict parsing with a specific
//! error per rule, deterministic CBOR, and round-trip properties over random documents.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use talos_crypto::json::{self, Map, Number, Value};
use talos_crypto::{CborError, SigningKey};
use talos_did::document::{MAX_DOCUMENT_LEN, MAX_METHODS, MAX_SERVICES};
use talos_did::{
    Did, DidError, DidKey, Document, DocumentError, MethodType, PeerDid, Purpose, Relationship,
    Service, Style,
};

const ONE: &str = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";
const ONE_X: &str = "z6LSrHyXiPBhUbvPUtyUCdf32sniiMGPTAesgHrtEa4FePtr";

fn did(seed: u8) -> Did {
    Did::from(SigningKey::from_seed(&[seed; 32]).verifying_key())
}

fn parse(text: &str) -> Value {
    json::parse(text.as_bytes()).unwrap()
}

fn canonical(text: &str) -> String {
    String::from_utf8(json::canonicalize(text.as_bytes()).unwrap()).unwrap()
}

fn base() -> Value {
    Document::resolve(&did(1))
        .with_talos_agent(["/ip4/203.0.113.7/tcp/4001"])
        .unwrap()
        .to_json_value()
}

fn set(mut value: Value, key: &str, member: Value) -> Value {
    if let Value::Object(map) = &mut value {
        if member == Value::Null {
            map.remove(key);
        } else {
            map.insert(key.into(), member);
        }
    }
    value
}

fn reject(value: &Value) -> DocumentError {
    Document::from_json(&value.to_canonical_vec()).expect_err("accepted")
}

#[test]
fn multikey_document_of_a_did_key() {
    let seed = {
        let mut s = [0u8; 32];
        s[31] = 1;
        s
    };
    let did = Did::from(SigningKey::from_seed(&seed).verifying_key());
    assert_eq!(did.to_string(), ONE);
    let doc = Document::resolve(&did);
    let want = format!(
        r#"{{
          "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
          "id": "{ONE}",
          "verificationMethod": [
            {{"id": "{ONE}#z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG", "type": "Multikey",
              "controller": "{ONE}", "publicKeyMultibase": "z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"}},
            {{"id": "{ONE}#{ONE_X}", "type": "Multikey", "controller": "{ONE}", "publicKeyMultibase": "{ONE_X}"}}
          ],
          "authentication": ["{ONE}#z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"],
          "assertionMethod": ["{ONE}#z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"],
          "capabilityInvocation": ["{ONE}#z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"],
          "capabilityDelegation": ["{ONE}#z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"],
          "keyAgreement": ["{ONE}#{ONE_X}"]
        }}"#
    );
    assert_eq!(String::from_utf8(doc.to_json()).unwrap(), canonical(&want));
    assert_eq!(Document::resolve_with(&did, Style::Multikey), doc);
    assert_eq!(doc.did().unwrap(), did);
    for purpose in Purpose::ALL {
        let methods: Vec<_> = doc.methods_for(purpose).collect();
        assert_eq!(methods.len(), 1);
        assert!(purpose.fits(methods[0].key()));
    }
}

#[test]
fn x25519_did_key_and_did_peer_0() {
    let x = DidKey::X25519(SigningKey::from_seed(&[1; 32]).verifying_key().to_x25519());
    for style in Style::ALL {
        let doc = Document::resolve_with(&Did::Key(x), style);
        assert_eq!(doc.verification_methods().len(), 1);
        assert_eq!(doc.relationship(Purpose::KeyAgreement).len(), 1);
        assert!(doc.relationship(Purpose::Authentication).is_empty());
        assert_eq!(doc.signing_key(), None);
        assert_eq!(
            doc.key_agreement_key().map(DidKey::X25519),
            Some(x),
            "{style:?}"
        );
        assert_eq!(Document::from_json(&doc.to_json()).unwrap(), doc);
        doc.check_did(&Did::Key(x)).unwrap();
    }
    let style_2018 = Document::resolve_with(&Did::Key(x), Style::Ed25519VerificationKey2018);
    assert_eq!(
        style_2018.context(),
        &parse(
            r#"["https://www.w3.org/ns/did/v1","https://w3id.org/security/suites/x25519-2019/v1"]"#
        )
    );
    assert_eq!(
        style_2018.verification_methods()[0].method_type(),
        MethodType::X25519KeyAgreementKey2019
    );

    // did:peer:0 expands like did:key, under its own id.
    let key = SigningKey::from_seed(&[1; 32]).verifying_key();
    let peer: Did = PeerDid::numalgo0(DidKey::Ed25519(key)).into();
    let doc = Document::resolve(&peer);
    let key_doc = Document::resolve(&Did::from(key));
    let replaced = key_doc
        .to_json()
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .replace("did:key:", "did:peer:0");
    assert_eq!(String::from_utf8(doc.to_json()).unwrap(), replaced);
    doc.check_did(&peer).unwrap();
}

#[test]
fn talos_services() {
    let did = did(3);
    let doc = Document::resolve(&did)
        .with_talos_agent(["/ip4/203.0.113.7/tcp/4001", "/ip6/::1/udp/4001/quic-v1"])
        .unwrap()
        .with_mcp_tools(["read_file", "search", "git.commit"])
        .unwrap();
    let value = doc.to_json_value();
    let services = value.get("service").unwrap();
    assert_eq!(
        services,
        &parse(&format!(
            r#"[{{"id":"{did}#talos-agent","type":"TalosAgent","serviceEndpoint":["/ip4/203.0.113.7/tcp/4001","/ip6/::1/udp/4001/quic-v1"]}},
                {{"id":"{did}#talos-mcp","type":"TalosMcp","serviceEndpoint":{{"tools":["read_file","search","git.commit"]}}}}]"#
        ))
    );
    assert_eq!(doc.talos_agent_addrs().unwrap().len(), 2);
    assert_eq!(
        doc.mcp_tools().unwrap(),
        ["read_file", "search", "git.commit"]
    );
    assert_eq!(doc.services()[1].service_type(), "TalosMcp");
    doc.check_did(&did).unwrap();
    assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc);

    // A second agent service has the same id.
    assert!(matches!(
        doc.clone().with_talos_agent(["/ip4/1.2.3.4/tcp/1"]),
        Err(DocumentError::DuplicateId(_))
    ));
    // Bad entries.
    for addrs in [vec![], vec!["ip4/1.2.3.4"], vec!["/a b"], vec!["/x", "/x"]] {
        assert!(
            Service::talos_agent("#a", addrs.clone()).is_err(),
            "{addrs:?}"
        );
    }
    for tools in [vec![], vec![""], vec!["a\tb"], vec!["t", "t"]] {
        assert!(
            Service::talos_mcp("#m", tools.clone()).is_err(),
            "{tools:?}"
        );
    }
    // Generic services are kept as JSON.
    let other = Service::from_json_value(&parse(
        r##"{"id":"#hub","type":["LinkedDomains","X"],"serviceEndpoint":{"origins":["https://a.example"]},"priority":-3}"##,
    ))
    .unwrap();
    assert!(matches!(other, Service::Other(_)));
    assert_eq!(other.service_type(), "LinkedDomains");
    let doc = doc.with_service(other.clone()).unwrap();
    assert_eq!(doc.services().last(), Some(&other));
    assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc);
    // Too many services.
    let mut many = Document::resolve(&did);
    for i in 0..MAX_SERVICES {
        many = many
            .with_service(Service::talos_agent(format!("#a{i}"), ["/x"]).unwrap())
            .unwrap();
    }
    assert_eq!(
        many.with_service(Service::talos_agent("#last", ["/x"]).unwrap()),
        Err(DocumentError::TooManyServices {
            got: MAX_SERVICES + 1,
            max: MAX_SERVICES
        })
    );
}

#[test]
fn every_rule_has_its_error() {
    let base = base();
    let id = base.get("id").unwrap().as_str().unwrap().to_owned();
    let methods = base.get("verificationMethod").unwrap().clone();
    let Value::Array(method_list) = &methods else {
        panic!()
    };
    let ed_method = method_list[0].clone();
    let ed_id = ed_method.get("id").unwrap().as_str().unwrap().to_owned();
    let x_id = method_list[1]
        .get("id")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let list = |items: Vec<Value>| Value::Array(items);
    let with_method_member = |key: &str, v: Value| {
        let mut methods = method_list.clone();
        methods[0] = set(methods[0].clone(), key, v);
        set(base.clone(), "verificationMethod", Value::Array(methods))
    };

    assert!(Document::from_json_value(&base).is_ok());
    assert_eq!(
        reject(&set(base.clone(), "id", Value::Null)),
        DocumentError::Missing("id")
    );
    assert_eq!(
        reject(&set(base.clone(), "id", Value::from("alice"))),
        DocumentError::Malformed {
            member: "id",
            reason: "not a DID"
        }
    );
    assert_eq!(
        reject(&set(base.clone(), "@context", Value::Null)),
        DocumentError::Missing("@context")
    );
    assert!(matches!(
        reject(&set(
            base.clone(),
            "@context",
            parse(r#"["https://w3id.org/security/multikey/v1"]"#)
        )),
        DocumentError::Malformed {
            member: "@context",
            ..
        }
    ));
    // A single string context is DID Core's other form, and is kept as written.
    let single = set(
        base.clone(),
        "@context",
        Value::from("https://www.w3.org/ns/did/v1"),
    );
    assert_eq!(
        Document::from_json_value(&single).unwrap().to_json_value(),
        single
    );
    assert_eq!(
        reject(&set(base.clone(), "service", list(vec![]))),
        DocumentError::Empty("service")
    );
    assert_eq!(
        reject(&set(base.clone(), "authentication", list(vec![]))),
        DocumentError::Empty("authentication")
    );
    assert_eq!(
        reject(&with_method_member(
            "type",
            Value::from("EcdsaSecp256k1VerificationKey2019")
        )),
        DocumentError::UnsupportedMethodType("EcdsaSecp256k1VerificationKey2019".into())
    );
    assert!(matches!(
        reject(&with_method_member(
            "type",
            Value::from("X25519KeyAgreementKey2020")
        )),
        DocumentError::Malformed {
            member: "verificationMethod",
            reason: "key does not fit the type"
        }
    ));
    assert!(matches!(
        reject(&with_method_member(
            "extra",
            Value::Number(Number::from(1u32))
        )),
        DocumentError::Malformed {
            member: "verificationMethod",
            ..
        }
    ));
    assert_eq!(
        reject(&with_method_member("controller", Value::Null)),
        DocumentError::Missing("controller")
    );
    assert!(matches!(
        reject(&with_method_member("controller", Value::from("bob"))),
        DocumentError::Malformed {
            reason: "controller is not a DID",
            ..
        }
    ));
    assert_eq!(
        reject(&with_method_member(
            "publicKeyMultibase",
            Value::String(format!(
                "z{}",
                bs58::encode([0xed, 0x01, 1, 2, 3]).into_string()
            ))
        )),
        DocumentError::Key(DidError::WrongKeyLength {
            expected: 32,
            got: 3
        })
    );
    assert_eq!(
        reject(&with_method_member(
            "publicKeyMultibase",
            Value::Number(Number::from(7u32))
        )),
        DocumentError::Malformed {
            member: "verificationMethod",
            reason: "publicKeyMultibase must be a string"
        }
    );
    assert_eq!(
        reject(&with_method_member(
            "publicKeyMultibase",
            Value::from(ONE_X)
        )),
        DocumentError::KeyPurposeMismatch("authentication")
    );
    assert_eq!(
        reject(&with_method_member("id", Value::from(x_id.clone()))),
        DocumentError::DuplicateId(x_id.clone())
    );
    // The same id, once relative and once absolute.
    let relative = x_id.replacen(&id, "", 1);
    assert_eq!(
        reject(&with_method_member("id", Value::from(relative.clone()))),
        DocumentError::DuplicateId(x_id.clone())
    );
    assert_eq!(
        reject(&with_method_member(
            "id",
            Value::from("did:key:z6MkOther#k")
        )),
        DocumentError::ForeignId("did:key:z6MkOther#k".into())
    );
    assert_eq!(
        reject(&with_method_member("id", Value::from(format!("{id}#")))),
        DocumentError::ForeignId(format!("{id}#"))
    );
    assert_eq!(
        reject(&set(
            base.clone(),
            "keyAgreement",
            list(vec![Value::from("#nope")])
        )),
        DocumentError::DanglingReference("#nope".into())
    );
    assert_eq!(
        reject(&set(
            base.clone(),
            "keyAgreement",
            list(vec![Value::from(x_id.clone()), Value::from(relative)])
        )),
        DocumentError::DuplicateReference(x_id.replacen(&id, "", 1))
    );
    assert_eq!(
        reject(&set(
            base.clone(),
            "keyAgreement",
            list(vec![Value::from(ed_id.clone())])
        )),
        DocumentError::KeyPurposeMismatch("keyAgreement")
    );
    assert_eq!(
        reject(&set(
            base.clone(),
            "controller",
            Value::Number(Number::from(7u32))
        )),
        DocumentError::Malformed {
            member: "controller",
            reason: "expected a DID or a list of DIDs"
        }
    );
    assert!(matches!(
        reject(&set(base.clone(), "alsoKnownAs", Value::from("x"))),
        DocumentError::Malformed {
            member: "alsoKnownAs",
            ..
        }
    ));
    assert!(matches!(
        reject(&set(
            base.clone(),
            "extension",
            Value::Number(Number::from_f64(1.5).unwrap())
        )),
        DocumentError::Json(json::JsonError::Unsupported { .. })
    ));
    assert!(matches!(
        Document::from_json(br#"{"id":"did:key:z","id":"x"}"#),
        Err(DocumentError::Json(json::JsonError::DuplicateKey { .. }))
    ));
    assert_eq!(
        reject(&Value::Array(vec![])),
        DocumentError::Malformed {
            member: "document",
            reason: "not a JSON object"
        }
    );
    // Nesting: as deep as the JSON parser takes, and no deeper, in every entry point.
    let nested = |levels: usize| {
        let mut v = Value::Array(vec![]);
        for _ in 1..levels {
            v = Value::Array(vec![v]);
        }
        set(base.clone(), "x-deep", v)
    };
    let deepest = nested(json::MAX_DEPTH - 1);
    let doc = Document::from_json_value(&deepest).unwrap();
    assert_eq!(Document::from_json(&doc.to_json()).unwrap(), doc);
    assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc);
    let too_deep = nested(json::MAX_DEPTH);
    assert_eq!(
        Document::from_json_value(&too_deep),
        Err(DocumentError::Malformed {
            member: "document",
            reason: "nested too deep"
        })
    );
    assert!(matches!(
        reject(&too_deep),
        DocumentError::Json(json::JsonError::TooDeep { .. })
    ));
    // Bounds.
    let big = set(
        base.clone(),
        "extension",
        Value::String("x".repeat(MAX_DOCUMENT_LEN)),
    );
    assert!(matches!(reject(&big), DocumentError::TooLarge { .. }));
    assert!(matches!(
        Document::from_json(&vec![b' '; MAX_DOCUMENT_LEN + 1]),
        Err(DocumentError::TooLarge { .. })
    ));
    let many: Vec<Value> = (0..=MAX_METHODS)
        .map(|i| set(ed_method.clone(), "id", Value::from(format!("#k{i}"))))
        .collect();
    assert_eq!(
        reject(&set(base.clone(), "verificationMethod", list(many))),
        DocumentError::TooManyMethods {
            got: MAX_METHODS + 1,
            max: MAX_METHODS
        }
    );
    // Embedded methods count too.
    let embedded: Vec<Value> = (0..MAX_METHODS)
        .map(|i| set(ed_method.clone(), "id", Value::from(format!("#e{i}"))))
        .collect();
    assert_eq!(
        reject(&set(base.clone(), "assertionMethod", list(embedded))),
        DocumentError::TooManyMethods {
            got: MAX_METHODS + 2,
            max: MAX_METHODS
        }
    );
}

#[test]
fn extensions_and_embedded_methods_round_trip() {
    let base = base();
    let id = base.get("id").unwrap().as_str().unwrap().to_owned();
    let ed_method = base.get("verificationMethod").unwrap().clone();
    let Value::Array(methods) = ed_method else {
        panic!()
    };
    let embedded = set(methods[0].clone(), "id", Value::from("#embedded"));
    let mut value = set(
        base,
        "assertionMethod",
        Value::Array(vec![embedded, Value::from("#missing")]),
    );
    // The reference above is not a method of this document.
    assert!(matches!(
        reject(&value),
        DocumentError::DanglingReference(_)
    ));
    value = set(
        value,
        "assertionMethod",
        Value::Array(vec![set(
            methods[0].clone(),
            "id",
            Value::from("#embedded"),
        )]),
    );
    value = set(value, "alsoKnownAs", parse(r#"["https://alice.example"]"#));
    value = set(value, "controller", Value::from(ONE));
    value = set(
        value,
        "x-talos",
        parse(r#"{"n":[-9007199254740991,0,null,true],"s":"é"}"#),
    );
    let doc = Document::from_json_value(&value).unwrap();
    assert_eq!(doc.to_json_value(), value);
    assert!(matches!(
        doc.relationship(Purpose::AssertionMethod)[0],
        Relationship::Embedded(_)
    ));
    assert!(doc.method("#embedded").is_some());
    assert!(doc.method(&format!("{id}#embedded")).is_some());
    assert_eq!(doc.extra().len(), 3);
    assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc);
}

#[test]
fn check_did_refuses_other_documents() {
    let one = did(1);
    let two = did(2);
    let doc = Document::resolve(&one);
    assert!(matches!(
        doc.check_did(&two),
        Err(DocumentError::IdMismatch { .. })
    ));
    for style in Style::ALL {
        Document::resolve_with(&one, style).check_did(&one).unwrap();
    }
    // The right id, but another key in the first method.
    let other_key = Document::resolve(&two).verification_methods()[0]
        .key()
        .multibase();
    let mut value = doc.to_json_value();
    if let Some(Value::Array(methods)) = value
        .as_object()
        .and_then(|m| m.get("verificationMethod"))
        .cloned()
    {
        let mut methods = methods;
        methods[0] = set(
            methods[0].clone(),
            "publicKeyMultibase",
            Value::from(other_key),
        );
        value = set(value, "verificationMethod", Value::Array(methods));
    }
    let forged = Document::from_json_value(&value).unwrap();
    assert_eq!(forged.check_did(&one), Err(DocumentError::KeysMismatch));
}

/// Encodes a JSON value as CBOR with map keys in plain bytewise (not length-first) order.
fn cbor_unsorted(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(0xa0 | u8::try_from(map.len()).unwrap());
            for (k, v) in map {
                talos_crypto::cbor::write_text(out, k);
                cbor_unsorted(v, out);
            }
        }
        Value::Array(items) => {
            talos_crypto::cbor::write_array_header(out, items.len());
            for v in items {
                cbor_unsorted(v, out);
            }
        }
        Value::String(s) => talos_crypto::cbor::write_text(out, s),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cbor_accepts_only_the_deterministic_encoding() {
    let doc = Document::resolve(&did(5));
    let good = doc.to_cbor();
    assert_eq!(Document::from_cbor(&good).unwrap(), doc);
    let non_canonical = Err(DocumentError::Cbor(CborError::NonCanonical));

    let mut unsorted = Vec::new();
    cbor_unsorted(&doc.to_json_value(), &mut unsorted);
    assert_ne!(unsorted, good);
    assert_eq!(Document::from_cbor(&unsorted), non_canonical);

    // A map head with a one-byte length it does not need.
    let mut long_head = vec![0xb8, good[0] & 0x1f];
    long_head.extend_from_slice(&good[1..]);
    assert_eq!(Document::from_cbor(&long_head), non_canonical);

    // An indefinite-length map.
    let mut indefinite = vec![0xbf];
    indefinite.extend_from_slice(&good[1..]);
    indefinite.push(0xff);
    assert_eq!(Document::from_cbor(&indefinite), non_canonical);

    // A tag around the document.
    let mut tagged = vec![0xd9, 0xd9, 0xf7];
    tagged.extend_from_slice(&good);
    assert!(Document::from_cbor(&tagged).is_err());

    // Trailing bytes, truncation.
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        Document::from_cbor(&trailing),
        Err(DocumentError::Cbor(CborError::Malformed { .. }))
    ));
    for cut in 0..good.len() {
        assert!(Document::from_cbor(&good[..cut]).is_err(), "{cut}");
    }
    assert!(matches!(
        Document::from_cbor(&vec![0; MAX_DOCUMENT_LEN + 1]),
        Err(DocumentError::TooLarge { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties over random documents

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(|i| Value::Number(Number::try_from(i).unwrap())),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..4).prop_map(Value::Object),
        ]
    })
}

fn service(i: usize) -> impl Strategy<Value = Service> {
    prop_oneof![
        prop::collection::btree_set(
            "/ip4/[0-9]{1,3}\\.[0-9]\\.[0-9]\\.[0-9]/tcp/[0-9]{1,5}",
            1..4
        )
        .prop_map(move |addrs| Service::talos_agent(format!("#agent-{i}"), addrs).unwrap()),
        prop::collection::btree_set("[a-z_]{1,12}", 1..5)
            .prop_map(move |tools| Service::talos_mcp(format!("#mcp-{i}"), tools).unwrap()),
        (
            "[A-Z][a-zA-Z]{0,10}",
            json_value(),
            prop::collection::btree_map("[a-z]{1,6}", json_leaf(), 0..3)
        )
            .prop_filter_map(
                "a Talos type needs its own shape",
                move |(t, endpoint, extra)| {
                    let mut m: Map = extra;
                    m.insert("id".into(), Value::String(format!("#svc-{i}")));
                    m.insert("type".into(), Value::String(t));
                    let endpoint = match endpoint {
                        Value::Object(_) => endpoint,
                        other => {
                            let mut e = Map::new();
                            e.insert("value".into(), other);
                            Value::Object(e)
                        }
                    };
                    m.insert("serviceEndpoint".into(), endpoint);
                    Service::from_json_value(&Value::Object(m)).ok()
                }
            ),
    ]
}

fn document() -> impl Strategy<Value = Document> {
    (
        any::<[u8; 32]>(),
        0usize..3,
        0usize..4,
        prop::collection::vec(any::<u8>(), 0..4),
        prop::collection::btree_map("x-[a-z]{1,6}", json_value(), 0..3),
    )
        .prop_flat_map(|(seed, style, kind, services, extra)| {
            let n = services.len();
            let strategies: Vec<_> = (0..n).map(service).collect();
            (Just((seed, style, kind, extra)), strategies)
        })
        .prop_map(|((seed, style, kind, extra), services)| {
            let key = SigningKey::from_seed(&seed).verifying_key();
            let did: Did = match kind {
                0 => Did::from(key),
                1 => Did::Key(DidKey::X25519(key.to_x25519())),
                2 => PeerDid::numalgo0(DidKey::Ed25519(key)).into(),
                _ => PeerDid::numalgo2(&[
                    talos_did::Element::key(Purpose::Authentication, DidKey::Ed25519(key)),
                    talos_did::Element::key(Purpose::KeyAgreement, DidKey::X25519(key.to_x25519())),
                ])
                .unwrap()
                .into(),
            };
            let mut doc = Document::resolve_with(&did, Style::ALL[style]);
            for s in services {
                doc = doc.with_service(s).unwrap();
            }
            let mut value = doc.to_json_value();
            if let Value::Object(map) = &mut value {
                map.extend(extra);
            }
            Document::from_json_value(&value).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn documents_round_trip(doc in document()) {
        let json_form = doc.to_json();
        let cbor_form = doc.to_cbor();
        prop_assert_eq!(Document::from_json(&json_form).unwrap(), doc.clone());
        prop_assert_eq!(Document::from_cbor(&cbor_form).unwrap(), doc.clone());
        // Any formatting of the JSON is accepted.
        let mut spaced = b" \n\t".to_vec();
        spaced.extend_from_slice(&json_form);
        spaced.extend_from_slice(b"\r\n");
        prop_assert_eq!(Document::from_json(&spaced).unwrap(), doc.clone());
        // The JSON form is canonical.
        prop_assert_eq!(json::canonicalize(&json_form).unwrap(), json_form);
        if let Ok(did) = doc.did() {
            doc.check_did(&did).unwrap();
        }
    }

    #[test]
    fn a_changed_cbor_byte_never_gives_a_second_encoding(
        doc in document(),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let good = doc.to_cbor();
        let mut bad = good.clone();
        let i = index.index(bad.len());
        bad[i] ^= flip;
        if let Ok(other) = Document::from_cbor(&bad) {
            prop_assert_ne!(&other, &doc);
            prop_assert_eq!(other.to_cbor(), bad);
        }
    }
}
