//! Discovery records: both encodings round-trip, decoders are strict, any altered byte fails,
//! every validation error fires, and batch validation gives exactly the single verdicts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use core::time::Duration;

use proptest::prelude::*;
use talos_crypto::json::{self, Value};
use talos_crypto::{ErrorCode, SigningKey, Timestamp, base64url, x25519};
use talos_did::record::{
    DiscoveryRecord, MAX_ADDRESSES, MAX_DECODE_LEN, MAX_ONE_TIME_PREKEYS, MAX_TOOLS,
    ML_KEM_768_KEY_LEN, OneTimePrekey, Policy, PqPrekey, Prekeys, RecordError, RecordFields,
    SignedPrekey, ValidationError, validate_batch,
};
use talos_did::{DidKey, Service, puzzle};

const NOW: u64 = 1_768_178_601_000;
const HOUR: u64 = 3_600_000;

fn now() -> Timestamp {
    Timestamp::from_millis(NOW)
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

fn x(byte: u8) -> x25519::PublicKey {
    x25519::PublicKey::from_bytes([byte; 32])
}

fn pq_key(byte: u8) -> Box<[u8; ML_KEM_768_KEY_LEN]> {
    Box::new([byte; ML_KEM_768_KEY_LEN])
}

/// A typical record's fields: two addresses, two tools, three one-time prekeys.
fn fields(identity: &SigningKey) -> RecordFields {
    RecordFields {
        seq: 7,
        issued_at: now(),
        expires_at: Timestamp::from_millis(NOW + HOUR),
        addresses: vec![
            "/ip4/203.0.113.7/tcp/4001".into(),
            "/ip6/2001:db8::7/udp/4001/quic-v1".into(),
        ],
        tools: vec!["search".into(), "fetch_page".into()],
        prekeys: Prekeys {
            signed: SignedPrekey::sign(identity, 1, x(0x51)),
            one_time: (0..3)
                .map(|i| OneTimePrekey {
                    id: 100 + i,
                    key: x(0x60 + i as u8),
                })
                .collect(),
            pq: None,
        },
        puzzle_nonce: None,
    }
}

fn signed(f: RecordFields, identity: &SigningKey) -> DiscoveryRecord {
    DiscoveryRecord::sign(f, identity).unwrap()
}

fn object(record: &DiscoveryRecord) -> json::Map {
    match json::parse(&record.to_json()).unwrap() {
        Value::Object(map) => map,
        other => panic!("{other:?}"),
    }
}

fn to_bytes(map: &json::Map) -> Vec<u8> {
    Value::Object(map.clone()).to_canonical_vec()
}

/// The record's JSON with `sig` replaced by a signature of `signer` over the rest.
fn resigned_by(record: &DiscoveryRecord, signer: &SigningKey) -> Vec<u8> {
    let mut map = object(record);
    map.remove("sig");
    let sig = signer.sign(&to_bytes(&map));
    map.insert(
        "sig".into(),
        Value::String(base64url::encode(&sig.to_bytes())),
    );
    to_bytes(&map)
}

fn validate(record: &DiscoveryRecord, at: u64, policy: &Policy) -> Result<(), ValidationError> {
    record
        .validate(Timestamp::from_millis(at), policy)
        .map(|_| ())
}

#[test]
fn a_typical_record_round_trips_and_validates() {
    let alice = key(1);
    let record = signed(fields(&alice), &alice);
    assert_eq!(record.did(), DidKey::Ed25519(alice.verifying_key()));
    assert_eq!(record.encoded_len(), record.to_json().len());
    assert!(record.to_cbor().len() < record.to_json().len());
    assert_eq!(
        DiscoveryRecord::from_json(&record.to_json()).unwrap(),
        record
    );
    assert_eq!(
        DiscoveryRecord::from_cbor(&record.to_cbor()).unwrap(),
        record
    );
    let mut out = vec![0xff];
    record.encode(&mut out);
    assert_eq!(out[1..], record.to_cbor());
    let valid = record.validate(now(), &Policy::default()).unwrap();
    assert_eq!(valid.record(), &record);

    // The signed bytes are the canonical JSON without `sig`, and the record signature
    // verifies over them with the DID's key.
    let mut map = object(&record);
    map.remove("sig");
    assert_eq!(record.signed_bytes(), to_bytes(&map));
    alice
        .verifying_key()
        .verify(record.signed_bytes(), record.signature())
        .unwrap();
    // Member names as the contract has them.
    let map = object(&record);
    let names: Vec<&str> = map.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "addresses",
            "did",
            "expires_at",
            "issued_at",
            "prekeys",
            "seq",
            "sig",
            "tools",
            "v"
        ]
    );
}

#[test]
fn prekey_signatures_use_the_documented_messages() {
    let alice = key(1);
    let spk = SignedPrekey::sign(&alice, 0x0102_0304, x(9));
    let mut message = b"talos-v2 signed prekey".to_vec();
    message.extend_from_slice(&[1, 2, 3, 4]);
    message.extend_from_slice(&[9; 32]);
    assert_eq!(spk.signed_message()[..], message[..]);
    alice
        .verifying_key()
        .verify(&message, &spk.signature)
        .unwrap();
    spk.verify(&alice.verifying_key()).unwrap();
    assert!(spk.verify(&key(2).verifying_key()).is_err());

    let pq = PqPrekey::sign(&alice, 5, pq_key(3));
    let mut message = b"talos-v2 pq prekey".to_vec();
    message.extend_from_slice(&[0, 0, 0, 5]);
    message.extend_from_slice(&[3; ML_KEM_768_KEY_LEN]);
    assert_eq!(pq.signed_message(), message);
    pq.verify(&alice.verifying_key()).unwrap();
    // Same key bytes as a signed prekey would be another message: the contexts differ.
    assert_ne!(&pq.signed_message()[..22], &spk.signed_message()[..22]);
}

#[test]
fn the_largest_record_the_format_allows_fits_the_decoders() {
    let alice = key(1);
    let mut f = fields(&alice);
    f.seq = (1 << 53) - 1;
    f.addresses = (0..MAX_ADDRESSES)
        .map(|i| format!("/{i:02}{}", "a".repeat(253)))
        .collect();
    f.tools = (0..MAX_TOOLS)
        .map(|i| format!("{i:03}{}", "t".repeat(125)))
        .collect();
    f.prekeys.one_time = (0..MAX_ONE_TIME_PREKEYS as u32)
        .map(|i| OneTimePrekey {
            id: u32::MAX - i,
            key: x(i as u8),
        })
        .collect();
    f.prekeys.pq = Some(PqPrekey::sign(&alice, u32::MAX, pq_key(7)));
    f.puzzle_nonce = Some(u64::MAX);
    let record = signed(f, &alice);
    let len = record.encoded_len();
    // Every list full and every string at its longest (MAX_DECODE_LEN's docs quote this).
    assert_eq!(len, 30_104);
    assert!(len < MAX_DECODE_LEN);
    assert_eq!(
        DiscoveryRecord::from_json(&record.to_json()).unwrap(),
        record
    );
    assert_eq!(
        DiscoveryRecord::from_cbor(&record.to_cbor()).unwrap(),
        record
    );
    // Too big for the default policy, fine with a larger bound.
    assert_eq!(
        validate(&record, NOW, &Policy::default()),
        Err(ValidationError::TooLarge {
            len,
            max: 16 * 1024
        })
    );
    validate(&record, NOW, Policy::default().set_max_record_len(len)).unwrap();
}

#[test]
fn signing_refuses_fields_outside_the_format() {
    let alice = key(1);
    type Change = Box<dyn Fn(&mut RecordFields)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|f| f.seq = 1 << 53), "seq beyond 2^53 - 1"),
        (
            Box::new(|f| f.expires_at = Timestamp::from_millis(1 << 53)),
            "timestamp beyond",
        ),
        (
            Box::new(|f| f.expires_at = f.issued_at),
            "expires_at must be after issued_at",
        ),
        (
            Box::new(|f| f.addresses = (0..17).map(|i| format!("/ip4/10.0.0.{i}")).collect()),
            "too many addresses: 17, maximum 16",
        ),
        (
            Box::new(|f| f.addresses.push("ip4/1.2.3.4".into())),
            "invalid address",
        ),
        (
            Box::new(|f| f.addresses.push(format!("/{}", "a".repeat(256)))),
            "invalid address",
        ),
        (
            Box::new(|f| f.addresses.push("/ip4/203.0.113.7/tcp/4001".into())),
            "duplicate address",
        ),
        (
            Box::new(|f| f.tools.push("two words".into())),
            "invalid tool name",
        ),
        (
            Box::new(|f| f.tools.push(String::new())),
            "invalid tool name",
        ),
        (
            Box::new(|f| f.tools.push("search".into())),
            "duplicate tool name",
        ),
        (
            Box::new(|f| f.tools = (0..129).map(|i| format!("t{i}")).collect()),
            "too many tools: 129, maximum 128",
        ),
        (
            Box::new(|f| {
                f.prekeys.one_time = (0..101)
                    .map(|i| OneTimePrekey { id: i, key: x(1) })
                    .collect();
            }),
            "too many one-time prekeys: 101, maximum 100",
        ),
        (
            Box::new(|f| {
                f.prekeys
                    .one_time
                    .push(OneTimePrekey { id: 100, key: x(1) })
            }),
            "duplicate one-time prekey id",
        ),
    ];
    for (change, message) in cases {
        let mut f = fields(&alice);
        change(&mut f);
        let err = DiscoveryRecord::sign(f, &alice).unwrap_err();
        assert!(err.to_string().contains(message), "{err} lacks {message:?}");
        assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidInput);
    }
}

/// Decodes the record's JSON after `change`, expecting an error containing `message`.
fn json_refused(change: impl FnOnce(&mut json::Map), message: &str) {
    let alice = key(1);
    let mut f = fields(&alice);
    f.prekeys.pq = Some(PqPrekey::sign(&alice, 2, pq_key(1)));
    f.puzzle_nonce = Some(42);
    let mut map = object(&signed(f, &alice));
    change(&mut map);
    let err = DiscoveryRecord::from_json(&to_bytes(&map)).unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains(message),
        "{err} lacks {message:?}"
    );
}

fn prekeys_of(map: &mut json::Map) -> &mut json::Map {
    match map.get_mut("prekeys") {
        Some(Value::Object(p)) => p,
        _ => panic!("no prekeys"),
    }
}

#[test]
fn json_decoding_is_strict() {
    json_refused(
        |m| drop(m.insert("extra".into(), Value::Bool(true))),
        "unknown field",
    );
    json_refused(
        |m| drop(prekeys_of(m).insert("extra".into(), Value::Bool(true))),
        "unknown field",
    );
    json_refused(|m| drop(m.remove("seq")), "missing field");
    json_refused(|m| drop(m.insert("tools".into(), Value::Null)), "null");
    json_refused(
        |m| drop(m.insert("puzzle_nonce".into(), Value::Null)),
        "null",
    );
    json_refused(
        |m| drop(prekeys_of(m).insert("pq".into(), Value::Null)),
        "canonical form",
    );
    json_refused(
        |m| drop(m.insert("tools".into(), Value::Array(vec![]))),
        "canonical form",
    );
    json_refused(
        |m| drop(m.insert("v".into(), Value::Number(2u32.into()))),
        "unsupported record version 2",
    );
    json_refused(
        |m| {
            m.insert(
                "seq".into(),
                Value::Number(json::Number::try_from(1u64 << 53).unwrap()),
            );
        },
        "seq beyond",
    );
    let x25519_did = DidKey::X25519(x(5)).to_string();
    json_refused(
        |m| drop(m.insert("did".into(), Value::String(x25519_did))),
        "ed25519",
    );
    json_refused(
        |m| drop(m.insert("did".into(), Value::String("did:web:example.com".into()))),
        "invalid record did",
    );
    json_refused(
        |m| {
            drop(m.insert(
                "puzzle_nonce".into(),
                Value::String(base64url::encode(&[1; 7])),
            ))
        },
        "expected 8 bytes",
    );
    json_refused(
        |m| {
            let pq = prekeys_of(m).get_mut("pq").unwrap();
            if let Value::Object(pq) = pq {
                pq.insert("key".into(), Value::String(base64url::encode(&[1; 1183])));
            }
        },
        "wrong ml-kem-768 key length: expected 1184 bytes, got 1183",
    );
    json_refused(
        |m| drop(m.insert("sig".into(), Value::String("AAAA".into()))),
        "expected 64 bytes",
    );
    // Padded or standard-alphabet base64 is not base64url.
    json_refused(
        |m| {
            let Some(Value::String(sig)) = m.get_mut("sig") else {
                panic!()
            };
            sig.push_str("==");
        },
        "base64url",
    );
    // Duplicate keys never reach the record decoder.
    let record = signed(fields(&key(1)), &key(1));
    let text = String::from_utf8(record.to_json()).unwrap();
    let dup = text.replacen("{", r#"{"seq":8,"#, 1);
    assert!(matches!(
        DiscoveryRecord::from_json(dup.as_bytes()),
        Err(RecordError::Json(_))
    ));
    // Any formatting of the canonical value is accepted.
    let spaced = text.replace(",\"", ",\n  \"");
    assert_eq!(
        DiscoveryRecord::from_json(spaced.as_bytes()).unwrap(),
        record
    );
    // Oversized input is refused before parsing.
    let huge = vec![b' '; MAX_DECODE_LEN + 1];
    assert_eq!(
        DiscoveryRecord::from_json(&huge),
        Err(RecordError::TooLarge {
            len: MAX_DECODE_LEN + 1,
            max: MAX_DECODE_LEN
        })
    );
    assert!(DiscoveryRecord::from_cbor(&huge).is_err());
}

#[test]
fn cbor_decoding_accepts_only_the_deterministic_encoding() {
    let alice = key(1);
    let record = signed(fields(&alice), &alice);
    let cbor = record.to_cbor();
    // The map head is 0xa9 (9 members); write it as 0xb9 0x00 0x09 instead.
    assert_eq!(cbor[0], 0xa9);
    let mut long_head = vec![0xb9, 0x00, 0x09];
    long_head.extend_from_slice(&cbor[1..]);
    assert_eq!(
        DiscoveryRecord::from_cbor(&long_head),
        Err(RecordError::Cbor(talos_crypto::CborError::NonCanonical))
    );
    // An indefinite-length map of the same members.
    let mut indefinite = vec![0xbf];
    indefinite.extend_from_slice(&cbor[1..]);
    indefinite.push(0xff);
    assert!(DiscoveryRecord::from_cbor(&indefinite).is_err());
    // Trailing bytes.
    let mut trailing = cbor.clone();
    trailing.push(0);
    assert!(DiscoveryRecord::from_cbor(&trailing).is_err());
    // Truncations.
    for cut in [0, 1, cbor.len() / 2, cbor.len() - 1] {
        assert!(DiscoveryRecord::from_cbor(&cbor[..cut]).is_err(), "{cut}");
    }
    // JSON is not CBOR and CBOR is not JSON.
    assert!(DiscoveryRecord::from_cbor(&record.to_json()).is_err());
    assert!(DiscoveryRecord::from_json(&cbor).is_err());
}

#[test]
fn validation_errors() {
    let alice = key(1);
    let mallory = key(3);
    let record = signed(fields(&alice), &alice);
    let policy = Policy::default();

    // Expired: at and after expires_at.
    let err = validate(&record, NOW + HOUR, &policy).unwrap_err();
    assert_eq!(
        err,
        ValidationError::Expired {
            expires_at_ms: NOW + HOUR,
            now_ms: NOW + HOUR
        }
    );
    assert!(err.to_string().contains("expired"));
    validate(&record, NOW + HOUR - 1, &policy).unwrap();

    // Future-dated: more than 300 s ahead of now.
    validate(&record, NOW - 300_000, &policy).unwrap();
    let err = validate(&record, NOW - 300_001, &policy).unwrap_err();
    assert_eq!(
        err,
        ValidationError::FutureDated {
            ahead_ms: 300_001,
            max_skew_ms: 300_000
        }
    );
    assert!(err.to_string().contains("future"));
    validate(
        &record,
        NOW - 400_000,
        Policy::default().set_max_skew(Duration::from_secs(400)),
    )
    .unwrap();

    // Lifetime.
    let mut f = fields(&alice);
    f.expires_at = Timestamp::from_millis(NOW + 7 * 24 * HOUR + 1);
    let long = signed(f, &alice);
    let err = validate(&long, NOW, &policy).unwrap_err();
    assert_eq!(
        err,
        ValidationError::LifetimeTooLong {
            lifetime_ms: 604_800_001,
            max_ms: 604_800_000
        }
    );
    assert!(err.to_string().contains("lifetime"));

    // Oversized for the policy.
    let len = record.encoded_len();
    let err = validate(&record, NOW, Policy::default().set_max_record_len(len - 1)).unwrap_err();
    assert_eq!(err, ValidationError::TooLarge { len, max: len - 1 });
    assert!(err.to_string().contains("too large"));

    // Counts tightened by the policy.
    let err = validate(&record, NOW, Policy::default().set_max_addresses(1)).unwrap_err();
    assert_eq!(err, ValidationError::TooManyAddresses { count: 2, max: 1 });
    let err = validate(&record, NOW, Policy::default().set_max_one_time_prekeys(2)).unwrap_err();
    assert_eq!(
        err,
        ValidationError::TooManyOneTimePrekeys { count: 3, max: 2 }
    );

    // Wrong key: the record names Alice's DID and is signed by Mallory.
    let forged = DiscoveryRecord::from_json(&resigned_by(&record, &mallory)).unwrap();
    let err = validate(&forged, NOW, &policy).unwrap_err();
    assert_eq!(err, ValidationError::BadSignature);
    assert!(err.to_string().contains("signature"));
    assert_eq!(ErrorCode::from(&err), ErrorCode::CryptoError);

    // Bad prekey signatures (by another key, or over another id) in a record Alice signed:
    // the record is hers and valid; the bundle fails the handshake's check.
    let alice_key = alice.verifying_key();
    let mut f = fields(&alice);
    f.prekeys.signed = SignedPrekey::sign(&mallory, 1, x(0x51));
    let record = signed(f, &alice);
    validate(&record, NOW, &policy).unwrap();
    assert!(record.fields().prekeys.verify(&alice_key).is_err());
    let mut f = fields(&alice);
    f.prekeys.signed.id = 2;
    assert!(f.prekeys.verify(&alice_key).is_err());
    let mut f = fields(&alice);
    f.prekeys.pq = Some(PqPrekey::sign(&mallory, 2, pq_key(1)));
    assert!(f.prekeys.verify(&alice_key).is_err());
    f.prekeys.pq = Some(PqPrekey::sign(&alice, 2, pq_key(1)));
    f.prekeys.verify(&alice_key).unwrap();
    validate(&signed(f, &alice), NOW, &policy).unwrap();

    // Puzzle required by the policy: missing, too weak, solved.
    let mut puzzled = Policy::default();
    puzzled.set_puzzle_difficulty(Some(8));
    let err = validate(&record, NOW, &puzzled).unwrap_err();
    assert_eq!(err, ValidationError::MissingPuzzle { difficulty: 8 });
    assert!(err.to_string().contains("puzzle"));
    let identity = alice.verifying_key();
    let weak = (0..).find(|&n| !puzzle::verify(&identity, n, 8)).unwrap();
    let bits = puzzle::leading_zero_bits(&puzzle::hash(&identity, weak));
    let mut f = fields(&alice);
    f.puzzle_nonce = Some(weak);
    let err = validate(&signed(f, &alice), NOW, &puzzled).unwrap_err();
    assert_eq!(
        err,
        ValidationError::WeakPuzzle {
            bits,
            difficulty: 8
        }
    );
    assert!(err.to_string().contains("puzzle"));
    let mut f = fields(&alice);
    f.puzzle_nonce = puzzle::solve(&identity, 8, 0, 1 << 20);
    let solved = signed(f, &alice);
    validate(&solved, NOW, &puzzled).unwrap();
    // A policy without a puzzle ignores the nonce.
    validate(&solved, NOW, &policy).unwrap();

    // Error codes: everything but the signatures is invalid input.
    assert_eq!(
        ErrorCode::from(&ValidationError::MissingPuzzle { difficulty: 1 }),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        ErrorCode::from(&RecordError::UnsupportedVersion(2)),
        ErrorCode::ProtocolMismatch
    );
}

#[test]
fn checks_run_in_the_documented_order() {
    // Expired and badly signed: the cheap check answers, in single and batch validation alike.
    let alice = key(1);
    let forged = resigned_by(&signed(fields(&alice), &alice), &key(3));
    let record = DiscoveryRecord::from_json(&forged).unwrap();
    let at = NOW + HOUR;
    let single = validate(&record, at, &Policy::default()).unwrap_err();
    assert!(matches!(single, ValidationError::Expired { .. }));
    assert_eq!(
        validate(&record, NOW, &Policy::default()),
        Err(ValidationError::BadSignature)
    );
    let batch = validate_batch(core::slice::from_ref(&record), now(), &Policy::default());
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[0].as_ref().map(|_| ()),
        Err(&ValidationError::BadSignature)
    );
}

/// What to do to one record of a batch.
#[derive(Clone, Copy, Debug)]
enum Flaw {
    None,
    WithPq,
    ForgedRecord,
    Expired,
    NoPuzzle,
}

/// The key of record `n` of a batch, and (`n + 1000`) the key that forges its signatures.
fn nth_key(n: u32) -> SigningKey {
    let mut seed = [0x5a; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    SigningKey::from_seed(&seed)
}

fn flawed(flaw: Flaw, n: u32) -> DiscoveryRecord {
    let identity = nth_key(n);
    let forger = nth_key(n + 1000);
    let mut f = fields(&identity);
    f.seq = u64::from(n);
    f.puzzle_nonce = puzzle::solve(&identity.verifying_key(), 4, 0, 1 << 16);
    match flaw {
        Flaw::None | Flaw::ForgedRecord => {}
        Flaw::WithPq => f.prekeys.pq = Some(PqPrekey::sign(&identity, 9, pq_key(n as u8))),
        Flaw::Expired => {
            f.issued_at = Timestamp::from_millis(NOW - HOUR);
            f.expires_at = now();
        }
        Flaw::NoPuzzle => f.puzzle_nonce = None,
    }
    let record = signed(f, &identity);
    if matches!(flaw, Flaw::ForgedRecord) {
        DiscoveryRecord::from_json(&resigned_by(&record, &forger)).unwrap()
    } else {
        record
    }
}

fn flaw() -> impl Strategy<Value = Flaw> {
    prop_oneof![
        4 => Just(Flaw::None),
        2 => Just(Flaw::WithPq),
        1 => Just(Flaw::ForgedRecord),
        1 => Just(Flaw::Expired),
        1 => Just(Flaw::NoPuzzle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Batches of up to 300 records (so up to two chunks of 256 signatures), with every kind of
    /// flaw mixed in: the batch verdicts are exactly the single ones.
    #[test]
    fn batch_verdicts_equal_single_verdicts(flaws in prop::collection::vec(flaw(), 0..300)) {
        let mut policy = Policy::default();
        policy.set_puzzle_difficulty(Some(4));
        let records: Vec<DiscoveryRecord> = flaws
            .iter()
            .enumerate()
            .map(|(i, &f)| flawed(f, i as u32))
            .collect();
        let batch = validate_batch(&records, now(), &policy);
        prop_assert_eq!(batch.len(), records.len());
        for ((record, verdict), flaw) in records.iter().zip(&batch).zip(&flaws) {
            let single = record.validate(now(), &policy);
            prop_assert_eq!(verdict, &single, "{:?}", flaw);
            prop_assert_eq!(single.is_ok(), matches!(flaw, Flaw::None | Flaw::WithPq));
            if let Ok(valid) = verdict {
                prop_assert!(core::ptr::eq(valid.record(), record));
            }
        }
    }
}

fn address() -> impl Strategy<Value = String> {
    "/[!-~]{1,40}"
}

fn tool() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,20}"
}

prop_compose! {
    fn any_fields()(
        seed in any::<[u8; 32]>(),
        seq in 0u64..(1 << 53),
        issued_at in 0u64..(1 << 52),
        lifetime in 1u64..(1 << 40),
        addresses in prop::collection::btree_set(address(), 0..=MAX_ADDRESSES),
        tools in prop::collection::btree_set(tool(), 0..8),
        spk in (any::<u32>(), any::<[u8; 32]>()),
        one_time in prop::collection::btree_map(any::<u32>(), any::<[u8; 32]>(), 0..12),
        pq in prop::option::of((any::<u32>(), any::<u8>())),
        puzzle_nonce in prop::option::of(any::<u64>()),
    ) -> (SigningKey, RecordFields) {
        let identity = SigningKey::from_seed(&seed);
        let fields = RecordFields {
            seq,
            issued_at: Timestamp::from_millis(issued_at),
            expires_at: Timestamp::from_millis(issued_at + lifetime),
            addresses: addresses.into_iter().collect(),
            tools: tools.into_iter().collect(),
            prekeys: Prekeys {
                signed: SignedPrekey::sign(&identity, spk.0, x25519::PublicKey::from_bytes(spk.1)),
                one_time: one_time
                    .into_iter()
                    .map(|(id, k)| OneTimePrekey { id, key: x25519::PublicKey::from_bytes(k) })
                    .collect(),
                pq: pq.map(|(id, b)| PqPrekey::sign(&identity, id, pq_key(b))),
            },
            puzzle_nonce,
        };
        (identity, fields)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random records survive JSON and CBOR, each decoder gives the same value, and a record
    /// validates at its issue time under a policy that admits its size and lifetime.
    #[test]
    fn records_round_trip((identity, fields) in any_fields()) {
        let record = DiscoveryRecord::sign(fields.clone(), &identity).unwrap();
        prop_assert_eq!(record.fields(), &fields);
        let json = record.to_json();
        let cbor = record.to_cbor();
        prop_assert_eq!(record.encoded_len(), json.len());
        prop_assert!(cbor.len() < json.len());
        let from_json = DiscoveryRecord::from_json(&json).unwrap();
        let from_cbor = DiscoveryRecord::from_cbor(&cbor).unwrap();
        prop_assert_eq!(&from_json, &record);
        prop_assert_eq!(&from_cbor, &record);
        prop_assert_eq!(&from_cbor.to_json(), &json);
        let lifetime = fields.expires_at.duration_since(fields.issued_at).unwrap();
        let mut policy = Policy::default();
        policy.set_max_record_len(json.len()).set_max_lifetime(lifetime);
        prop_assert!(from_cbor.validate(fields.issued_at, &policy).is_ok());
        // Whatever a record may list, a DID document's Talos services accept.
        if !fields.addresses.is_empty() {
            prop_assert!(Service::talos_agent("#agent", fields.addresses.clone()).is_ok());
        }
        if !fields.tools.is_empty() {
            prop_assert!(Service::talos_mcp("#mcp", fields.tools.clone()).is_ok());
        }
    }
}

/// A record with every optional member, as JSON and CBOR.
fn full_record() -> DiscoveryRecord {
    let alice = key(1);
    let mut f = fields(&alice);
    f.prekeys.pq = Some(PqPrekey::sign(&alice, 2, pq_key(0x33)));
    f.puzzle_nonce = puzzle::solve(&alice.verifying_key(), 4, 0, 1 << 16);
    signed(f, &alice)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Changing any byte of a signed record's CBOR makes it undecodable or invalid.
    #[test]
    fn any_altered_cbor_byte_fails(index in any::<prop::sample::Index>(), xor in 1u8..) {
        let record = full_record();
        let mut bytes = record.to_cbor();
        let i = index.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(altered) = DiscoveryRecord::from_cbor(&bytes) {
            let mut policy = Policy::default();
            policy.set_puzzle_difficulty(Some(4));
            prop_assert!(altered.validate(now(), &policy).is_err(), "byte {} ^ {:#x}", i, xor);
        }
    }

    /// Changing any byte of a signed record's canonical JSON makes it undecodable or invalid.
    #[test]
    fn any_altered_json_byte_fails(index in any::<prop::sample::Index>(), xor in 1u8..) {
        let record = full_record();
        let mut bytes = record.to_json();
        let i = index.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(altered) = DiscoveryRecord::from_json(&bytes) {
            let mut policy = Policy::default();
            policy.set_puzzle_difficulty(Some(4));
            prop_assert!(altered.validate(now(), &policy).is_err(), "byte {} ^ {:#x}", i, xor);
        }
    }
}
