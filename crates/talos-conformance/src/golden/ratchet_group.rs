//! `ratchet/group_message.json`: sender-key group messages, and messages a receiver refuses.

use talos_crypto::aead::ChaCha20Poly1305;
use talos_crypto::base64url;
use talos_crypto::hash::{hkdf_sha256_array, hmac_sha256};
use talos_crypto::json::{self, Map, Value};
use talos_ratchet::group::{
    AEAD_INFO, CHAIN_LABEL, GroupConfig, GroupId, GroupMessage, GroupSession, MESSAGE_KEY_LABEL,
    MemberId, SenderKeyDistribution,
};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte, rng};
use crate::util::{array_field, hex_array, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "ratchet/group_message.json",
    contract: "ratchet/group_message.schema.json",
    description: "Sender-key group messages v1. The sender's GroupSession is created at `epoch` from a \
                  ChaCha20Rng seeded with sender_rng_seed_hex, which yields 32 bytes of chain key, then the \
                  32-byte seed of its Ed25519 signing key. It sends `messages` messages; plaintext i is the \
                  UTF-8 text \"message i\". Its sender-key distribution is taken after `distribution_at` of \
                  them (expected.sender_key_distribution, contract ratchet/sender_key_distribution; \
                  expected.distribution_cbor_hex its CBOR), and a receiver at the same epoch installs it, \
                  then receives the messages listed in `deliver`, in that order; every delivery but the \
                  last must open, and the last is the case's `object` (JSON form). Key schedule: mk_i = \
                  HMAC-SHA256(ck_i, \"talos-group-v1 message key\"), ck_(i+1) = HMAC-SHA256(ck_i, \
                  \"talos-group-v1 chain\"), key ‖ nonce = HKDF-SHA256(no salt, mk_i, \"talos-group-v1 \
                  aead\", 44); aad = header = \"talos-group-v1 message\" ‖ group ‖ sender ‖ be32(epoch) ‖ \
                  be32(iteration); sig = Ed25519 over header ‖ ciphertext. expected gives the object's \
                  CBOR, header, message key, AEAD key and nonce (derived from the distribution's chain key), \
                  plaintext, and the skipped keys the receiver stores afterwards. receiver_max_skip \
                  changes the receiver's gap limit (default 1000). Negative cases alter the last message \
                  before it is decoded: tamper.set replaces members, tamper.flip flips the lowest bit of \
                  byte 0 of the named base64url member.",
    producer: || format!("talos-ratchet {}", talos_ratchet::VERSION),
    specs,
    derive,
};

const GROUP: &str = "4747474747474747474747474747474747474747474747474747474747474747";
const SENDER: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const RECEIVER: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const SEED: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn base(messages: u32, deliver: &[u32]) -> Map {
    let mut m = Map::new();
    m.insert("group_hex".into(), s(GROUP));
    m.insert("sender_id_hex".into(), s(SENDER));
    m.insert("receiver_id_hex".into(), s(RECEIVER));
    m.insert("sender_rng_seed_hex".into(), s(SEED));
    m.insert("epoch".into(), n(0));
    m.insert("messages".into(), n(messages));
    m.insert("distribution_at".into(), n(0));
    m.insert(
        "deliver".into(),
        Value::Array(deliver.iter().map(|&i| n(i)).collect()),
    );
    m
}

fn with(mut m: Map, pairs: &[(&str, Value)]) -> Value {
    for (k, v) in pairs {
        m.insert((*k).into(), v.clone());
    }
    Value::Object(m)
}

fn tamper(change: Value) -> (&'static str, Value) {
    ("tamper", change)
}

#[allow(clippy::too_many_lines)] // one list of cases
fn specs() -> Vec<Spec> {
    let set = |k: &str, v: Value| object([("set", object([(k, v)]))]);
    let other_group = base64url::encode(&[0x48; 32]);
    vec![
        Spec::ok(
            "first-message",
            "the first message of a chain, delivered at once",
            Value::Object(base(1, &[0])),
        ),
        Spec::ok(
            "out-of-order",
            "messages 2 and 0 arrive first; message 1 opens with its stored skipped key",
            Value::Object(base(3, &[2, 0, 1])),
        ),
        Spec::ok(
            "skip-ahead",
            "message 4 arrives first: the keys of 0..3 are stored",
            Value::Object(base(5, &[4])),
        ),
        Spec::ok(
            "later-epoch",
            "a sender key of epoch 3, distributed after 2 messages; message 5 arrives",
            with(base(6, &[5]), &[("epoch", n(3)), ("distribution_at", n(2))]),
        ),
        Spec::ok(
            "max-skip-exact",
            "message 1000 arrives first: exactly MAX_SKIP = 1000 keys skipped, accepted",
            Value::Object(base(1001, &[1000])),
        ),
        Spec::err(
            "max-skip-exceeded",
            "message 1001 arrives first: 1001 keys to skip, refused",
            Value::Object(base(1002, &[1001])),
            "too many skipped messages",
        ),
        Spec::err(
            "small-max-skip",
            "the receiver allows gaps of 2; message 3 arrives first",
            with(base(4, &[3]), &[("receiver_max_skip", n(2))]),
            "too many skipped messages",
        ),
        Spec::err(
            "replayed",
            "message 0 delivered twice",
            Value::Object(base(1, &[0, 0])),
            "duplicate",
        ),
        Spec::err(
            "before-distribution",
            "a late joiner: the distribution was taken after 3 messages; message 1 cannot open",
            with(base(4, &[1]), &[("distribution_at", n(3))]),
            "duplicate or expired",
        ),
        Spec::err(
            "flipped-ciphertext",
            "one ciphertext bit changed: the signature fails before any key is derived",
            with(
                base(1, &[0]),
                &[tamper(object([("flip", s("ciphertext"))]))],
            ),
            "signature",
        ),
        Spec::err(
            "flipped-signature",
            "one signature bit changed",
            with(base(1, &[0]), &[tamper(object([("flip", s("sig"))]))]),
            "signature",
        ),
        Spec::err(
            "moved-iteration",
            "the iteration changed from 1 to 2: covered by the signature",
            with(base(2, &[1]), &[tamper(set("iteration", n(2)))]),
            "signature",
        ),
        Spec::err(
            "unknown-epoch",
            "the epoch changed to 1: the receiver holds no sender key for it",
            with(base(1, &[0]), &[tamper(set("epoch", n(1)))]),
            "unknown sender key",
        ),
        Spec::err(
            "wrong-group",
            "the group changed: refused before anything else",
            with(base(1, &[0]), &[tamper(set("group", s(other_group)))]),
            "another group",
        ),
        Spec::err(
            "from-non-member",
            "the sender changed to an id the receiver does not know",
            with(
                base(1, &[0]),
                &[tamper(set("sender", s(base64url::encode(&[0xc3; 32]))))],
            ),
            "non-member",
        ),
        Spec::err(
            "unknown-member",
            "a member the format does not have",
            with(
                base(1, &[0]),
                &[tamper(set("nonce", s("AAAAAAAAAAAAAAAA")))],
            ),
            "unknown field",
        )
        .schema_invalid(),
        Spec::err(
            "version-2",
            "a format version this crate does not read",
            with(base(1, &[0]), &[tamper(set("v", n(2)))]),
            "unsupported group format version",
        )
        .schema_invalid(),
        Spec::err(
            "short-ciphertext",
            "a 15-byte ciphertext, shorter than the tag",
            with(
                base(1, &[0]),
                &[tamper(set("ciphertext", s(base64url::encode(&[0; 15]))))],
            ),
            "tag",
        )
        .schema_invalid(),
        Spec::err(
            "short-group",
            "a 31-byte group id",
            with(
                base(1, &[0]),
                &[tamper(set("group", s(base64url::encode(&[0x47; 31]))))],
            ),
            "expected 32 bytes",
        )
        .schema_invalid(),
    ]
}

fn u32_field(value: &Value, name: &str) -> Result<u32, String> {
    u32::try_from(u64_field(value, name)?).map_err(|e| format!("{name}: {e}"))
}

fn to_value(bytes: &[u8]) -> Result<Value, String> {
    json::parse(bytes).map_err(|e| e.to_string())
}

/// The message key, AEAD key and nonce of `iteration`, derived here from the distribution's
/// chain key at `from` (independently of the library's chain code).
fn keys_at(chain_key: [u8; 32], from: u32, iteration: u32) -> Result<([u8; 32], [u8; 44]), String> {
    if iteration < from {
        return Err("iteration before the distribution".into());
    }
    let mut ck = chain_key;
    for _ in from..iteration {
        ck = hmac_sha256(&ck, CHAIN_LABEL);
    }
    let mk = hmac_sha256(&ck, MESSAGE_KEY_LABEL);
    let okm = hkdf_sha256_array::<44>(None, &mk, AEAD_INFO).map_err(|e| e.to_string())?;
    Ok((mk, *okm))
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let group = GroupId::from_bytes(hex_array::<32>(inputs, "group_hex")?);
    let sender_id = MemberId::from_bytes(hex_array::<32>(inputs, "sender_id_hex")?);
    let receiver_id = MemberId::from_bytes(hex_array::<32>(inputs, "receiver_id_hex")?);
    let epoch = u32_field(inputs, "epoch")?;
    let count = u32_field(inputs, "messages")?;
    let distribution_at = u32_field(inputs, "distribution_at")?;
    let deliver = array_field(inputs, "deliver")?
        .iter()
        .map(|v| match v {
            Value::Number(i) => i
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| "deliver: not an index".to_owned()),
            _ => Err("deliver: not an index".to_owned()),
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let (&last, earlier) = deliver.split_last().ok_or("deliver is empty")?;

    let mut sender = GroupSession::new(
        GroupConfig::default(),
        group,
        sender_id,
        epoch,
        &mut rng(hex_array::<32>(inputs, "sender_rng_seed_hex")?),
    );
    let mut distribution = None;
    let mut sent = Vec::new();
    for i in 0..count {
        if i == distribution_at {
            distribution = Some(sender.distribution());
        }
        let m = sender
            .encrypt(format!("message {i}").as_bytes())
            .map_err(|e| e.to_string())?;
        sent.push(m);
    }
    let distribution = distribution.ok_or("distribution_at beyond the messages")?;
    let distribution_json = distribution.to_json();
    let distribution_cbor = distribution.to_cbor();

    let mut config = GroupConfig::default();
    if inputs.get("receiver_max_skip").is_some() {
        config.set_max_skip(u32_field(inputs, "receiver_max_skip")?);
    }
    // The receiver's own sender key plays no part in the vector.
    let mut receiver = GroupSession::new(config, group, receiver_id, epoch, &mut rng([0; 32]));
    receiver.add_member(sender_id).map_err(|e| e.to_string())?;
    let received =
        SenderKeyDistribution::from_json(&distribution_json).map_err(|e| e.to_string())?;
    if received.to_cbor() != distribution_cbor
        || SenderKeyDistribution::from_cbor(&distribution_cbor)
            .map_err(|e| e.to_string())?
            .to_json()
            != distribution_json
    {
        return Err("the distribution does not decode to itself".into());
    }
    receiver
        .handle_distribution(&sender_id, &received)
        .map_err(|e| e.to_string())?;
    for &i in earlier {
        let m = sent.get(i).ok_or("deliver: no such message")?;
        receiver
            .decrypt(m)
            .map_err(|e| format!("delivery {i}: {e}"))?;
    }

    let original = sent.get(last).ok_or("deliver: no such message")?;
    let mut tampered = to_value(&original.to_json())?;
    if let Some(t) = inputs.get("tamper") {
        if let Some(set) = t.get("set") {
            apply_changes(&mut tampered, set);
        }
        if t.get("flip").is_some() {
            flip_b64u_byte(&mut tampered, str_field(t, "flip")?, 0)?;
        }
    }
    let message = match GroupMessage::from_json(&tampered.to_canonical_vec()) {
        Ok(m) => m,
        Err(e) => return Ok(Derived::failed(Some(tampered), &e)),
    };
    let plaintext = match receiver.decrypt(&message) {
        Ok(p) => p,
        Err(e) => return Ok(Derived::failed(Some(tampered), &e)),
    };
    let cbor = message.to_cbor();
    if GroupMessage::from_cbor(&cbor).map_err(|e| e.to_string())? != message {
        return Err("the message does not decode to itself".into());
    }

    // Independent re-derivation of the keys from the distribution's chain key.
    let dist_value = to_value(&distribution_json)?;
    let chain_key: [u8; 32] =
        base64url::decode_array(str_field(&dist_value, "chain_key")?).map_err(|e| e.to_string())?;
    let (mk, okm) = keys_at(chain_key, distribution_at, message.iteration())?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&okm[..32]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    let opened = ChaCha20Poly1305::new(&key)
        .open(&nonce, &message.header_bytes(), message.ciphertext())
        .map_err(|e| format!("independent derivation does not open the message: {e}"))?;
    if opened[..] != plaintext[..] {
        return Err("independent derivation opens another plaintext".into());
    }
    Ok(Derived::Ok {
        object: tampered,
        expected: object([
            ("cbor_hex", s(hex::encode(&cbor))),
            ("header_hex", s(hex::encode(message.header_bytes()))),
            ("message_key_hex", s(hex::encode(mk))),
            ("aead_key_hex", s(hex::encode(key))),
            ("nonce_hex", s(hex::encode(nonce))),
            ("plaintext_hex", s(hex::encode(&plaintext[..]))),
            (
                "stored_keys",
                n(u32::try_from(receiver.stored_keys(&sender_id)).map_err(|e| e.to_string())?),
            ),
            ("sender_key_distribution", dist_value),
            (
                "distribution_cbor_hex",
                s(hex::encode(&distribution_cbor[..])),
            ),
        ]),
    })
}
