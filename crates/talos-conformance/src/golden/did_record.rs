//! `did/record.json`: signed discovery records, and records a receiver must refuse.

use talos_crypto::json::{self, Map, Number, Value};
use talos_crypto::{SigningKey, Timestamp, base64url, x25519};
use talos_did::puzzle;
use talos_did::record::{
    DiscoveryRecord, ML_KEM_768_KEY_LEN, OneTimePrekey, Policy, PqPrekey, Prekeys, RecordFields,
    SignedPrekey,
};

use super::{Derived, Family, Spec, apply_changes, rng_bytes};
use crate::util::{array_field, field, hex_array, hex_field, n, object, s, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "did/record.json",
    contract: "did/record.schema.json",
    description: "Discovery records v1. The record of identity_seed_hex is signed with that key: sig = Ed25519 \
                  over the RFC 8785 canonical JSON of every member but sig. The signed prekey's sig is Ed25519 \
                  by the identity key (or by signer_seed_hex when given) over \"talos-v2 signed prekey\" ‖ \
                  be32(id) ‖ key; the ML-KEM-768 prekey's over \"talos-v2 pq prekey\" ‖ be32(id) ‖ key. With \
                  puzzle_difficulty the record carries the first nonce from 0 that solves the identity's \
                  puzzle (BLAKE3(pk ‖ le64(nonce)) with that many leading zero bits), and the receiver's \
                  policy requires it; puzzle_nonce puts a given nonce in instead. `object` is the JSON form; \
                  expected.cbor_hex its deterministic CBOR, expected.did its DID, expected.kademlia_key_hex \
                  SHA-256 of the public key, expected.encoded_len the length of the canonical JSON and \
                  expected.prekeys_verify whether the prekey signatures verify under the identity key \
                  (validation checks only the record signature, which covers them; the handshake checks \
                  them). Receivers decode the object and validate it at now_ms with the default policy (16 KiB, \
                  300 s skew, 7-day lifetime) changed by `policy`. Negative cases alter the record after \
                  signing: resign_seed_hex replaces sig by that key's signature, tamper.set replaces \
                  top-level members and tamper.null sets members to null.",
    producer: || format!("talos-did {}", talos_did::VERSION),
    specs,
    derive,
};

const ALICE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const MALLORY: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const ISSUED: u64 = 1_768_178_601_000;
const HOUR: u64 = 3_600_000;

fn big(value: u64) -> Value {
    Value::Number(Number::try_from(value).unwrap_or(Number::from(0u32)))
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|i| s(*i)).collect())
}

fn x25519_hex(seed: u8) -> String {
    hex::encode(
        x25519::StaticSecret::from_bytes([seed; 32])
            .public_key()
            .to_bytes(),
    )
}

/// The typical record: two addresses, two tools, three one-time prekeys.
fn base() -> Map {
    let mut m = Map::new();
    m.insert("identity_seed_hex".into(), s(ALICE));
    m.insert("seq".into(), n(7));
    m.insert("issued_at_ms".into(), big(ISSUED));
    m.insert("expires_at_ms".into(), big(ISSUED + HOUR));
    m.insert(
        "addresses".into(),
        strings(&[
            "/ip4/203.0.113.7/tcp/4001",
            "/ip6/2001:db8::7/udp/4001/quic-v1",
        ]),
    );
    m.insert("tools".into(), strings(&["search", "fetch_page"]));
    m.insert(
        "signed_prekey".into(),
        object([("id", n(1)), ("public_hex", s(x25519_hex(0x51)))]),
    );
    m.insert(
        "one_time_prekeys".into(),
        Value::Array(
            (0..3)
                .map(|i| {
                    object([
                        ("id", n(100 + i)),
                        ("public_hex", s(x25519_hex(0x60 + i as u8))),
                    ])
                })
                .collect(),
        ),
    );
    m.insert("now_ms".into(), big(ISSUED + 10_000));
    m
}

fn with(mut m: Map, pairs: &[(&str, Value)]) -> Value {
    for (k, v) in pairs {
        m.insert((*k).into(), v.clone());
    }
    Value::Object(m)
}

fn pq() -> Value {
    object([
        ("id", n(2)),
        (
            "public_hex",
            s(hex::encode(rng_bytes::<ML_KEM_768_KEY_LEN>([0x6b; 32], 0))),
        ),
    ])
}

fn tamper_set(pairs: &[(&str, Value)]) -> (&'static str, Value) {
    let set: Map = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    ("tamper", object([("set", Value::Object(set))]))
}

#[allow(clippy::too_many_lines)] // one list of cases
fn specs() -> Vec<Spec> {
    let minimal = {
        let mut m = base();
        m.remove("tools");
        m.insert(
            "addresses".into(),
            strings(&["/dns4/agent.example/tcp/443/wss"]),
        );
        m.insert("one_time_prekeys".into(), Value::Array(vec![]));
        m.insert("seq".into(), n(0));
        Value::Object(m)
    };
    // ALICE's key-agreement did:key.
    let alice_x25519 = SigningKey::from_seed(&[0x11; 32])
        .verifying_key()
        .to_x25519();
    let alice_x25519 = talos_did::DidKey::X25519(alice_x25519).to_string();
    vec![
        Spec::ok(
            "typical",
            "two addresses, two tools, a signed prekey and three one-time prekeys",
            Value::Object(base()),
        ),
        Spec::ok(
            "minimal",
            "one address, no tools, no one-time prekeys, seq 0",
            minimal,
        ),
        Spec::ok(
            "with-pq-prekey",
            "with an ML-KEM-768 prekey (a third signature)",
            with(base(), &[("pq_prekey", pq())]),
        ),
        Spec::ok(
            "with-puzzle",
            "with a Sybil puzzle solution at difficulty 8, which the policy requires",
            with(
                base(),
                &[
                    ("puzzle_difficulty", n(8)),
                    ("policy", object([("puzzle_difficulty", n(8))])),
                ],
            ),
        ),
        Spec::ok(
            "largest-seq",
            "seq 2^53 - 1, lifetime exactly 7 days, checked 300 s before issued_at",
            with(
                base(),
                &[
                    ("seq", big((1 << 53) - 1)),
                    ("expires_at_ms", big(ISSUED + 7 * 24 * HOUR)),
                    ("now_ms", big(ISSUED - 300_000)),
                ],
            ),
        ),
        Spec::err(
            "tampered",
            "an address changed after signing",
            with(
                base(),
                &[tamper_set(&[(
                    "addresses",
                    strings(&["/ip4/198.51.100.66/tcp/4001"]),
                )])],
            ),
            "signature",
        ),
        Spec::err(
            "expired-at-now",
            "checked exactly at expires_at",
            with(base(), &[("now_ms", big(ISSUED + HOUR))]),
            "expired",
        ),
        Spec::err(
            "future-dated",
            "issued_at 301 s ahead of the receiver's now",
            with(base(), &[("now_ms", big(ISSUED - 301_000))]),
            "future",
        ),
        Spec::err(
            "lifetime-too-long",
            "expires_at 7 days and 1 ms after issued_at",
            with(
                base(),
                &[("expires_at_ms", big(ISSUED + 7 * 24 * HOUR + 1))],
            ),
            "lifetime",
        ),
        Spec::err(
            "wrong-signer",
            "names Alice's DID but is signed by Mallory",
            with(base(), &[("resign_seed_hex", s(MALLORY))]),
            "signature",
        ),
        Spec::ok(
            "bad-prekey-signature",
            "the signed prekey is signed by another key: the record is valid, the bundle is not",
            with(
                base(),
                &[(
                    "signed_prekey",
                    object([
                        ("id", n(1)),
                        ("public_hex", s(x25519_hex(0x51))),
                        ("signer_seed_hex", s(MALLORY)),
                    ]),
                )],
            ),
        ),
        Spec::ok(
            "bad-pq-prekey-signature",
            "the ML-KEM prekey is signed by another key: the record is valid, the bundle is not",
            with(
                base(),
                &[(
                    "pq_prekey",
                    with(
                        pq().as_object().cloned().unwrap_or_default(),
                        &[("signer_seed_hex", s(MALLORY))],
                    ),
                )],
            ),
        ),
        Spec::err(
            "oversize",
            "larger than the receiver's limit (1024 bytes here)",
            with(
                base(),
                &[
                    ("pq_prekey", pq()),
                    ("policy", object([("max_record_len", n(1024))])),
                ],
            ),
            "too large",
        ),
        Spec::err(
            "missing-puzzle",
            "the policy requires difficulty 8; the record has no solution",
            with(base(), &[("policy", object([("puzzle_difficulty", n(8))]))]),
            "puzzle",
        ),
        Spec::err(
            "weak-puzzle",
            "nonce 0 does not meet difficulty 8 for this key",
            with(
                base(),
                &[
                    ("puzzle_nonce", n(0)),
                    ("policy", object([("puzzle_difficulty", n(8))])),
                ],
            ),
            "puzzle",
        ),
        Spec::err(
            "unknown-member",
            "a member the format does not have",
            with(base(), &[tamper_set(&[("ttl", n(60))])]),
            "unknown field",
        )
        .schema_invalid(),
        Spec::err(
            "null-member",
            "tools written as null",
            with(
                base(),
                &[("tamper", object([("null", strings(&["tools"]))]))],
            ),
            "null",
        )
        .schema_invalid(),
        Spec::err(
            "empty-tools",
            "an empty tools list instead of no member",
            with(base(), &[tamper_set(&[("tools", Value::Array(vec![]))])]),
            "canonical",
        )
        .schema_invalid(),
        Spec::err(
            "x25519-did",
            "an X25519 did:key, which cannot sign",
            with(base(), &[tamper_set(&[("did", s(alice_x25519))])]),
            "ed25519",
        )
        .schema_invalid(),
        Spec::err(
            "seq-too-large",
            "seq 2^53, beyond what JSON carries exactly",
            with(base(), &[tamper_set(&[("seq", big(1 << 53))])]),
            "seq beyond",
        )
        .schema_invalid(),
        Spec::err(
            "version-2",
            "a format version this crate does not read",
            with(base(), &[tamper_set(&[("v", n(2))])]),
            "unsupported record version",
        )
        .schema_invalid(),
    ]
}

fn x25519_key(value: &Value) -> Result<x25519::PublicKey, String> {
    Ok(x25519::PublicKey::from_bytes(hex_array::<32>(
        value,
        "public_hex",
    )?))
}

fn seed_key(value: &Value, name: &str) -> Result<SigningKey, String> {
    Ok(SigningKey::from_seed(&hex_array::<32>(value, name)?))
}

/// The prekey's signer: `signer_seed_hex` if given, else the identity.
fn prekey_signer(value: &Value, identity: &SigningKey) -> Result<SigningKey, String> {
    match value.get("signer_seed_hex") {
        Some(_) => seed_key(value, "signer_seed_hex"),
        None => Ok(identity.clone()),
    }
}

fn id(value: &Value) -> Result<u32, String> {
    u32::try_from(u64_field(value, "id")?).map_err(|e| e.to_string())
}

fn strings_field(inputs: &Value, name: &str) -> Result<Vec<String>, String> {
    if inputs.get(name).is_none() {
        return Ok(Vec::new());
    }
    array_field(inputs, name)?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{name}: not a string"))
        })
        .collect()
}

fn fields(inputs: &Value, identity: &SigningKey) -> Result<RecordFields, String> {
    let spk = field(inputs, "signed_prekey")?;
    let one_time = array_field(inputs, "one_time_prekeys")?
        .iter()
        .map(|k| {
            Ok(OneTimePrekey {
                id: id(k)?,
                key: x25519_key(k)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let pq = inputs
        .get("pq_prekey")
        .map(|p| -> Result<PqPrekey, String> {
            let key: [u8; ML_KEM_768_KEY_LEN] = hex_field(p, "public_hex")?
                .try_into()
                .map_err(|_| "pq_prekey.public_hex is not 1184 bytes".to_owned())?;
            Ok(PqPrekey::sign(
                &prekey_signer(p, identity)?,
                id(p)?,
                Box::new(key),
            ))
        })
        .transpose()?;
    let puzzle_nonce = match (inputs.get("puzzle_difficulty"), inputs.get("puzzle_nonce")) {
        (Some(_), _) => {
            let difficulty = u32::try_from(u64_field(inputs, "puzzle_difficulty")?)
                .map_err(|e| e.to_string())?;
            Some(
                puzzle::solve(&identity.verifying_key(), difficulty, 0, 1 << 32)
                    .ok_or("no puzzle solution")?,
            )
        }
        (None, Some(_)) => Some(u64_field(inputs, "puzzle_nonce")?),
        (None, None) => None,
    };
    Ok(RecordFields {
        seq: u64_field(inputs, "seq")?,
        issued_at: Timestamp::from_millis(u64_field(inputs, "issued_at_ms")?),
        expires_at: Timestamp::from_millis(u64_field(inputs, "expires_at_ms")?),
        addresses: strings_field(inputs, "addresses")?,
        tools: strings_field(inputs, "tools")?,
        prekeys: Prekeys {
            signed: SignedPrekey::sign(&prekey_signer(spk, identity)?, id(spk)?, x25519_key(spk)?),
            one_time,
            pq,
        },
        puzzle_nonce,
    })
}

fn policy(inputs: &Value) -> Result<Policy, String> {
    let mut policy = Policy::default();
    if let Some(p) = inputs.get("policy") {
        if p.get("max_record_len").is_some() {
            policy.set_max_record_len(
                usize::try_from(u64_field(p, "max_record_len")?).map_err(|e| e.to_string())?,
            );
        }
        if p.get("puzzle_difficulty").is_some() {
            policy.set_puzzle_difficulty(Some(
                u32::try_from(u64_field(p, "puzzle_difficulty")?).map_err(|e| e.to_string())?,
            ));
        }
    }
    Ok(policy)
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let identity = seed_key(inputs, "identity_seed_hex")?;
    let record =
        DiscoveryRecord::sign(fields(inputs, &identity)?, &identity).map_err(|e| e.to_string())?;
    let mut object = json::parse(&record.to_json()).map_err(|e| e.to_string())?;
    if inputs.get("resign_seed_hex").is_some() {
        let signer = seed_key(inputs, "resign_seed_hex")?;
        let sig = signer.sign(record.signed_bytes());
        apply_changes(
            &mut object,
            &crate::util::object([("sig", s(base64url::encode(&sig.to_bytes())))]),
        );
    }
    if let Some(tamper) = inputs.get("tamper") {
        if let Some(set) = tamper.get("set") {
            apply_changes(&mut object, set);
        }
        if let (Some(Value::Array(names)), Value::Object(map)) = (tamper.get("null"), &mut object) {
            for name in names.iter().filter_map(Value::as_str) {
                map.insert(name.to_owned(), Value::Null);
            }
        }
    }
    let now = Timestamp::from_millis(u64_field(inputs, "now_ms")?);
    let policy = policy(inputs)?;
    let decoded = match DiscoveryRecord::from_json(&object.to_canonical_vec()) {
        Ok(decoded) => decoded,
        Err(e) => return Ok(Derived::failed(Some(object), &e)),
    };
    if let Err(e) = decoded.validate(now, &policy) {
        return Ok(Derived::failed(Some(object), &e));
    }
    let cbor = record.to_cbor();
    let from_cbor = DiscoveryRecord::from_cbor(&cbor).map_err(|e| e.to_string())?;
    if decoded != record || from_cbor != record {
        return Err("the record does not decode to itself".into());
    }
    Ok(Derived::Ok {
        object,
        expected: crate::util::object([
            ("cbor_hex", s(hex::encode(&cbor))),
            ("did", s(record.did().to_string())),
            (
                "kademlia_key_hex",
                s(hex::encode(record.did().kademlia_key())),
            ),
            ("encoded_len", big(record.encoded_len() as u64)),
            (
                "prekeys_verify",
                Value::Bool(
                    record
                        .fields()
                        .prekeys
                        .verify(record.identity_key())
                        .is_ok(),
                ),
            ),
        ]),
    })
}
