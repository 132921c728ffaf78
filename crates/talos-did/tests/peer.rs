//! The DID parser (every malformed form gets its own error) and did:peer numalgo 0 and 2:
//! round trips, resolution per the DIF spec, and strictness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use talos_crypto::json::{self, Value};
use talos_crypto::{SigningKey, base64url, hash};
use talos_did::did::MAX_DID_LEN;
use talos_did::key::{ED25519_MULTICODEC, X25519_MULTICODEC};
use talos_did::peer::MAX_ELEMENTS;
use talos_did::{Did, DidError, DidKey, Document, Element, PeerDid, Purpose, Service};

const ONE: &str = "z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";

fn ed(seed: u8) -> DidKey {
    DidKey::Ed25519(SigningKey::from_seed(&[seed; 32]).verifying_key())
}

fn x(seed: u8) -> DidKey {
    DidKey::X25519(
        SigningKey::from_seed(&[seed; 32])
            .verifying_key()
            .to_x25519(),
    )
}

fn z(bytes: &[u8]) -> String {
    format!("z{}", bs58::encode(bytes).into_string())
}

fn err(s: &str) -> DidError {
    s.parse::<Did>().expect_err(s)
}

// ---------------------------------------------------------------------------------------------
// The DID parser

#[test]
fn did_parser_names_every_malformed_form() {
    let key = SigningKey::from_seed(&[1; 32]).verifying_key().to_bytes();
    let with = |codec: &[u8], body: &[u8]| {
        let mut v = codec.to_vec();
        v.extend_from_slice(body);
        z(&v)
    };
    for prefix in ["did:key:", "did:peer:0"] {
        let p = |v: &str| format!("{prefix}{v}");
        assert_eq!(err(&p(ONE)[..0]), DidError::NotADid);
        assert_eq!(err(&p(&ONE.replacen('z', "m", 1))), DidError::BadMultibase);
        assert_eq!(err(&p("z0OIl")), DidError::BadMultibase);
        assert_eq!(err(&p("")), DidError::BadMultibase);
        assert_eq!(
            err(&p(&with(&[0xe7, 0x01], &[2; 33]))),
            DidError::UnsupportedMulticodec(0xe7)
        );
        assert_eq!(
            err(&p(&with(&ED25519_MULTICODEC, &key[..31]))),
            DidError::WrongKeyLength {
                expected: 32,
                got: 31
            }
        );
        assert_eq!(
            err(&p(&with(&X25519_MULTICODEC, &[9; 33]))),
            DidError::WrongKeyLength {
                expected: 32,
                got: 33
            }
        );
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            err(&p(&with(&ED25519_MULTICODEC, &identity))),
            DidError::InvalidKey(_)
        ));
        assert_eq!(
            err(&p(&with(&[0xed, 0x81, 0x00], &key))),
            DidError::NonCanonical
        );
        // A leading base58 '1' is a zero byte: multicodec 0.
        assert_eq!(
            err(&p(&ONE.replacen('z', "z1", 1))),
            DidError::UnsupportedMulticodec(0)
        );
    }
    assert_eq!(err("did"), DidError::NotADid);
    assert_eq!(err("DID:key:z6Mk"), DidError::NotADid);
    assert_eq!(
        err("did:web:example.com"),
        DidError::WrongMethod("web".into())
    );
    assert_eq!(err("did:KEY:z6Mk"), DidError::WrongMethod("KEY".into()));
    assert_eq!(err("did:keys:z6Mk"), DidError::WrongMethod("keys".into()));
    assert_eq!(
        err(&format!("did:key:{}", "1".repeat(MAX_DID_LEN))),
        DidError::TooLong {
            len: MAX_DID_LEN + 8,
            max: MAX_DID_LEN
        }
    );
    // A DID URL is not a DID.
    assert_eq!(err(&format!("did:key:{ONE}#{ONE}")), DidError::BadMultibase);
}

#[test]
fn did_signing_key_kademlia_key_and_address() {
    let signing = SigningKey::from_seed(&[1; 32]).verifying_key();
    let kad = hash::sha256(signing.as_bytes());
    let dids: Vec<Did> = vec![
        Did::from(signing),
        PeerDid::numalgo0(DidKey::Ed25519(signing)).into(),
        PeerDid::numalgo2(&[
            Element::key(Purpose::KeyAgreement, x(1)),
            Element::key(Purpose::AssertionMethod, ed(2)),
            Element::key(Purpose::Authentication, DidKey::Ed25519(signing)),
            Element::key(Purpose::Authentication, ed(3)),
        ])
        .unwrap()
        .into(),
    ];
    for did in &dids {
        assert_eq!(did.signing_key(), Some(signing), "{did}");
        assert_eq!(did.kademlia_key(), Some(kad));
        assert_eq!(did.address(), Some(signing.address()));
        assert_eq!(did.address().unwrap(), hash::to_hex(&kad));
        // Serde: the string.
        let text = serde_json::to_string(did).unwrap();
        assert_eq!(text, format!("\"{did}\""));
        assert_eq!(&serde_json::from_str::<Did>(&text).unwrap(), did);
    }
    assert!(serde_json::from_str::<Did>("\"did:web:x\"").is_err());
    let no_signer: Vec<Did> = vec![
        Did::Key(x(1)),
        PeerDid::numalgo0(x(1)).into(),
        PeerDid::numalgo2(&[Element::key(Purpose::AssertionMethod, ed(1))])
            .unwrap()
            .into(),
    ];
    for did in &no_signer {
        assert_eq!(did.signing_key(), None, "{did}");
        assert_eq!(did.kademlia_key(), None);
        assert_eq!(did.address(), None);
    }
}

// ---------------------------------------------------------------------------------------------
// did:peer:2

/// The example of `decentralized-identity/peer-did-method-spec` `spec/core.md` ("Example Peer
/// DID 2"), without the optional `alsoKnownAs`.
const SPEC_DID: &str = "did:peer:2.Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc.Ez6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9leGFtcGxlLmNvbS9kaWRjb21tIiwiYSI6WyJkaWRjb21tL3YyIl0sInIiOlsiZGlkOmV4YW1wbGU6MTIzNDU2Nzg5YWJjZGVmZ2hpI2tleS0xIl19fQ.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9leGFtcGxlLmNvbS9hbm90aGVyIiwiYSI6WyJkaWRjb21tL3YyIl0sInIiOlsiZGlkOmV4YW1wbGU6MTIzNDU2Nzg5YWJjZGVmZ2hpI2tleS0yIl19fQ";

#[test]
fn resolves_the_spec_example() {
    let did: Did = SPEC_DID.parse().unwrap();
    assert_eq!(did.to_string(), SPEC_DID);
    let doc = Document::resolve(&did);
    let want = format!(
        r##"{{
          "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
          "id": "{SPEC_DID}",
          "verificationMethod": [
            {{"id": "#key-1", "controller": "{SPEC_DID}", "type": "Multikey",
              "publicKeyMultibase": "z6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc"}},
            {{"id": "#key-2", "controller": "{SPEC_DID}", "type": "Multikey",
              "publicKeyMultibase": "z6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR"}}
          ],
          "authentication": ["#key-1"],
          "keyAgreement": ["#key-2"],
          "service": [
            {{"type": "DIDCommMessaging",
              "serviceEndpoint": {{"uri": "http://example.com/didcomm", "accept": ["didcomm/v2"],
                                   "routingKeys": ["did:example:123456789abcdefghi#key-1"]}},
              "id": "#service"}},
            {{"type": "DIDCommMessaging",
              "serviceEndpoint": {{"uri": "http://example.com/another", "accept": ["didcomm/v2"],
                                   "routingKeys": ["did:example:123456789abcdefghi#key-2"]}},
              "id": "#service-1"}}
          ]
        }}"##
    );
    assert_eq!(
        String::from_utf8(doc.to_json()).unwrap(),
        String::from_utf8(json::canonicalize(want.as_bytes()).unwrap()).unwrap()
    );
    doc.check_did(&did).unwrap();
    assert_eq!(Document::from_json(&doc.to_json()).unwrap(), doc);
    assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc);
    assert_eq!(doc.signing_key(), did.signing_key());
    assert!(doc.signing_key().is_some());
    assert_eq!(
        doc.key_agreement_key().map(DidKey::X25519),
        Some(DidKey::from_multibase("z6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR").unwrap())
    );
}

/// `sicpa-dlab/peer-did-python` `tests/test_vectors.py` `PEER_DID_NUMALGO_2`: keys in another
/// order, two authentication keys, an abbreviated string endpoint, no service id.
#[test]
fn resolves_the_python_vector() {
    let text = "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.Vz6MkgoLTnTypo3tDRwCkZXSccTPHRLhF4ZnjhueYAFpEX6vg.SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludCIsInIiOlsiZGlkOmV4YW1wbGU6c29tZW1lZGlhdG9yI3NvbWVrZXkiXSwiYSI6WyJkaWRjb21tL3YyIiwiZGlkY29tbS9haXAyO2Vudj1yZmM1ODciXX0";
    let peer: PeerDid = text.parse().unwrap();
    assert_eq!(peer.to_string(), text);
    let doc = Document::resolve(&peer.clone().into());
    let value = doc.to_json_value();
    assert_eq!(
        value.get("authentication").unwrap(),
        &json::parse(br##"["#key-2","#key-3"]"##).unwrap()
    );
    assert_eq!(
        value.get("keyAgreement").unwrap(),
        &json::parse(br##"["#key-1"]"##).unwrap()
    );
    assert_eq!(
        value.get("service").unwrap(),
        &json::parse(
            br##"[{"id":"#service","type":"DIDCommMessaging","serviceEndpoint":"https://example.com/endpoint",
                  "routingKeys":["did:example:somemediator#somekey"],"accept":["didcomm/v2","didcomm/aip2;env=rfc587"]}]"##
        )
        .unwrap()
    );
    assert_eq!(
        peer.signing_key().map(DidKey::Ed25519),
        Some(DidKey::from_multibase("z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V").unwrap())
    );
}

#[test]
fn talos_services_encode_and_resolve() {
    let agent = Service::talos_agent(
        "#agent",
        [
            "/ip4/127.0.0.1/tcp/4001",
            "/dns4/a.example/udp/4001/quic-v1",
        ],
    )
    .unwrap();
    let mcp = Service::talos_mcp("#mcp", ["read_file", "search"]).unwrap();
    let elements = [
        Element::key(Purpose::Authentication, ed(1)),
        Element::key(Purpose::KeyAgreement, x(1)),
        Element::Service(agent.clone()),
        Element::Service(mcp.clone()),
    ];
    let peer = PeerDid::numalgo2(&elements).unwrap();
    assert_eq!(peer.elements(), &elements);
    assert_eq!(peer.services().collect::<Vec<_>>(), [&agent, &mcp]);
    // Services travel abbreviated, as canonical JSON.
    let service_text = peer.as_str().split(".S").nth(1).unwrap();
    let decoded = base64url::decode(service_text).unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        r##"{"id":"#agent","s":["/ip4/127.0.0.1/tcp/4001","/dns4/a.example/udp/4001/quic-v1"],"t":"TalosAgent"}"##
    );
    let doc = Document::resolve(&peer.clone().into());
    assert_eq!(doc.talos_agent_addrs().unwrap().len(), 2);
    assert_eq!(doc.mcp_tools().unwrap(), ["read_file", "search"]);
    assert_eq!(doc.services()[0].id(), "#agent");
}

#[test]
fn didcomm_type_is_abbreviated() {
    let service = json::parse(
        br##"{"id":"#didcomm","type":"DIDCommMessaging","serviceEndpoint":{"uri":"https://x.example","accept":["didcomm/v2"],"routingKeys":[]}}"##,
    )
    .unwrap();
    let service = Service::from_json_value(&service).unwrap();
    let peer = PeerDid::numalgo2(&[
        Element::key(Purpose::Authentication, ed(4)),
        Element::Service(service.clone()),
    ])
    .unwrap();
    let encoded = peer.as_str().split(".S").nth(1).unwrap();
    let text = String::from_utf8(base64url::decode(encoded).unwrap()).unwrap();
    assert_eq!(
        text,
        r##"{"id":"#didcomm","s":{"a":["didcomm/v2"],"r":[],"uri":"https://x.example"},"t":"dm"}"##
    );
    assert_eq!(peer.services().next(), Some(&service));
}

fn service_element(json_text: &str) -> String {
    format!(".S{}", base64url::encode(json_text.as_bytes()))
}

#[test]
fn peer2_strictness() {
    let v = format!(".V{}", ed(1).multibase());
    let e = format!(".E{}", x(1).multibase());
    let p = |rest: &str| format!("did:peer:2{rest}");
    let ok_service = r##"{"t":"dm","s":"https://example.com"}"##;
    assert!(
        p(&format!("{v}{e}{}", service_element(ok_service)))
            .parse::<Did>()
            .is_ok()
    );

    assert_eq!(
        err(&p("")),
        DidError::MalformedPeer("did:peer:2 elements must start with '.'")
    );
    assert_eq!(
        err(&p(&v[1..])),
        DidError::MalformedPeer("did:peer:2 elements must start with '.'")
    );
    assert_eq!(
        err(&p(&format!("{v}."))),
        DidError::MalformedPeer("empty did:peer:2 element")
    );
    assert_eq!(
        err(&p(&format!("{v}..{}", &e[1..]))),
        DidError::MalformedPeer("empty did:peer:2 element")
    );
    assert_eq!(
        err(&p(&v.replacen('V', "X", 1))),
        DidError::UnknownPurpose('X')
    );
    assert_eq!(
        err(&p(&v.replacen('V', "v", 1))),
        DidError::UnknownPurpose('v')
    );
    assert_eq!(
        err(&p(&v.replacen('V', "E", 1))),
        DidError::KeyPurposeMismatch('E')
    );
    assert_eq!(
        err(&p(&e.replacen('E', "V", 1))),
        DidError::KeyPurposeMismatch('V')
    );
    assert_eq!(
        err(&p(&e.replacen('E', "A", 1))),
        DidError::KeyPurposeMismatch('A')
    );
    assert_eq!(err(&p(".V")), DidError::BadMultibase);
    assert_eq!(
        err(&p(&v.replacen(".Vz", ".Va", 1))),
        DidError::BadMultibase
    );
    assert_eq!(
        err(&p(&format!("{v}{v}").repeat(MAX_ELEMENTS / 2 + 1))),
        DidError::TooManyElements {
            got: MAX_ELEMENTS + 2,
            max: MAX_ELEMENTS
        }
    );

    let bad_service = |json_text: &str| err(&p(&format!("{v}{}", service_element(json_text))));
    let is_bad = |e: DidError, needle: &str| match e {
        DidError::BadService(msg) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
        other => panic!("expected BadService, got {other:?}"),
    };
    // Padding, standard alphabet, not base64 at all.
    let padded = format!("{v}.S{}=", base64url::encode(b"{\"t\":\"x\",\"s\":\"y\"}a"));
    is_bad(err(&p(&padded)), "base64url");
    is_bad(err(&p(&format!("{v}.S!!"))), "base64url");
    is_bad(bad_service("not json"), "invalid JSON");
    is_bad(bad_service(r#"[{"t":"dm","s":"x"}]"#), "not a JSON object");
    is_bad(
        bad_service(r#"{"t":"dm","s":"x","t":"dm"}"#),
        "duplicate key",
    );
    is_bad(
        bad_service(r#"{"t":"dm","type":"dm","s":"x"}"#),
        "both abbreviated and in full",
    );
    is_bad(
        bad_service(r#"{"t":"dm"}"#),
        "missing member serviceEndpoint",
    );
    is_bad(bad_service(r#"{"s":"x"}"#), "missing member service type");
    is_bad(
        bad_service(r#"{"t":"dm","s":1}"#),
        "malformed serviceEndpoint",
    );
    is_bad(
        bad_service(r#"{"t":"dm","s":"x","id":"did:peer:2#x"}"#),
        "relative",
    );
    is_bad(bad_service(r#"{"t":"dm","s":"x","id":7}"#), "relative");
    is_bad(
        bad_service(r##"{"t":"dm","s":"x","id":"#key-1"}"##),
        "duplicate id",
    );
    is_bad(bad_service(r#"{"t":"dm","s":"x","n":1.5}"#), "not allowed");
    is_bad(
        bad_service(r#"{"t":"TalosAgent","s":["not-a-multiaddr"]}"#),
        "invalid entry",
    );
    // Two unnamed services get #service and #service-1; a third named "#service" clashes.
    let two = format!(
        "{v}{}{}",
        service_element(ok_service),
        service_element(ok_service)
    );
    let peer: PeerDid = p(&two).parse().unwrap();
    let ids: Vec<&str> = peer.services().map(Service::id).collect();
    assert_eq!(ids, ["#service", "#service-1"]);
    let clash = format!(
        "{two}{}",
        service_element(r##"{"t":"dm","s":"x","id":"#service"}"##)
    );
    is_bad(err(&p(&clash)), "duplicate id");
}

#[test]
fn numalgo2_encoder_refuses_what_it_cannot_round_trip() {
    assert_eq!(
        PeerDid::numalgo2(&[]),
        Err(DidError::MalformedPeer(
            "did:peer:2 needs at least one element"
        ))
    );
    assert_eq!(
        PeerDid::numalgo2(&[Element::key(Purpose::KeyAgreement, ed(1))]),
        Err(DidError::KeyPurposeMismatch('E'))
    );
    let many = vec![Element::key(Purpose::Authentication, ed(1)); MAX_ELEMENTS + 1];
    assert!(matches!(
        PeerDid::numalgo2(&many),
        Err(DidError::TooManyElements { .. })
    ));
    let absolute = Service::talos_agent("did:peer:2#agent", ["/ip4/1.2.3.4/tcp/1"]).unwrap();
    assert!(matches!(
        PeerDid::numalgo2(&[Element::Service(absolute)]),
        Err(DidError::BadService(_))
    ));
    let clash = Service::from_json_value(
        &json::parse(br##"{"id":"#x","type":"X","serviceEndpoint":{"a":1}}"##).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        PeerDid::numalgo2(&[Element::Service(clash)]),
        Err(DidError::BadService(_))
    ));
    // A DID too long to accept is not produced either.
    let tools: Vec<String> = (0..200).map(|i| format!("tool_{i}")).collect();
    let big = Service::talos_mcp("#mcp", tools).unwrap();
    assert!(matches!(
        PeerDid::numalgo2(&[Element::Service(big)]),
        Err(DidError::TooLong { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties

fn key_element() -> impl Strategy<Value = Element> {
    (any::<u8>(), 0usize..5).prop_map(|(seed, p)| {
        let purpose = Purpose::ALL[p];
        let key = if purpose == Purpose::KeyAgreement {
            x(seed)
        } else {
            ed(seed)
        };
        Element::key(purpose, key)
    })
}

fn service_value() -> impl Strategy<Value = Value> {
    let endpoint = prop_oneof![
        "[a-z]{1,12}://[a-z.]{1,16}".prop_map(Value::String),
        prop::collection::vec(
            "/ip4/[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]\\.[0-9]/tcp/[0-9]{1,5}",
            1..3
        )
        .prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect())),
        ("[a-z]{1,12}", prop::collection::vec("[a-z/0-9]{1,8}", 0..3)).prop_map(|(uri, accept)| {
            let mut m = json::Map::new();
            m.insert("uri".into(), Value::String(uri));
            m.insert(
                "accept".into(),
                Value::Array(accept.into_iter().map(Value::String).collect()),
            );
            Value::Object(m)
        }),
    ];
    (
        prop_oneof![Just("DIDCommMessaging".to_owned()), "[A-Z][a-zA-Z]{0,10}"],
        endpoint,
        prop::option::of("[a-z]{1,8}"),
    )
        .prop_map(|(t, endpoint, id)| {
            let mut m = json::Map::new();
            m.insert("type".into(), Value::String(t));
            m.insert("serviceEndpoint".into(), endpoint);
            if let Some(id) = id {
                m.insert("id".into(), Value::String(format!("#svc-{id}")));
            }
            Value::Object(m)
        })
}

proptest! {
    #[test]
    fn peer2_round_trips(
        keys in prop::collection::vec(key_element(), 1..6),
        services in prop::collection::vec(service_value(), 0..3),
    ) {
        // Give unnamed services the ids resolution would, so the elements compare equal.
        let mut elements = keys;
        let mut unnamed = 0;
        for mut s in services {
            if let Value::Object(m) = &mut s && !m.contains_key("id") {
                let id = if unnamed == 0 { "#service".to_owned() } else { format!("#service-{unnamed}") };
                unnamed += 1;
                m.insert("id".into(), Value::String(id));
            }
            if let Ok(service) = Service::from_json_value(&s) {
                elements.push(Element::Service(service));
            }
        }
        let Ok(peer) = PeerDid::numalgo2(&elements) else {
            // Only random service ids can collide.
            return Ok(());
        };
        prop_assert_eq!(peer.elements(), &elements[..]);
        let text = peer.to_string();
        let again: Did = text.parse().unwrap();
        prop_assert_eq!(again.to_string(), text.clone());
        prop_assert_eq!(&again, &Did::Peer(peer.clone()));
        let doc = Document::resolve(&again);
        prop_assert_eq!(Document::from_json(&doc.to_json()).unwrap(), doc.clone());
        prop_assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc.clone());
        doc.check_did(&again).unwrap();
        let key_count = elements.iter().filter(|e| matches!(e, Element::Key { .. })).count();
        prop_assert_eq!(doc.verification_methods().len(), key_count);
        for (i, m) in doc.verification_methods().iter().enumerate() {
            prop_assert_eq!(m.id(), format!("#key-{}", i + 1));
        }
        prop_assert_eq!(doc.signing_key(), again.signing_key());
    }

    #[test]
    fn parsed_dids_display_as_their_input(s in "did:(key|peer):[0-9]?z[1-9A-HJ-NP-Za-km-z]{40,50}") {
        if let Ok(did) = s.parse::<Did>() {
            prop_assert_eq!(did.to_string(), s);
        }
    }
}
