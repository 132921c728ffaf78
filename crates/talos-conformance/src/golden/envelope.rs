//! `wire/envelope.json`: signed envelopes, and ones a receiver must refuse.

use talos_crypto::json::{self, Map, Value};
use talos_crypto::{SigningKey, Timestamp};
use talos_wire::MessageId;
use talos_wire::chunk::ChunkInfo;
use talos_wire::envelope::{Envelope, EnvelopeFields, EnvelopeType, Limits, Recipient};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte};
use crate::util::{field, hex_array, hex_field, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "wire/envelope.json",
    contract: "wire/envelope.schema.json",
    description: "Envelope v1: sig = Ed25519 over the RFC 8785 canonical JSON of every member but sig. \
                  `object` is the JSON form, expected.cbor_hex the deterministic CBOR that travels in DATA \
                  frames. The sender's DID is the did:key of sender_seed_hex. Receivers check at now_ms with \
                  the default limits (±300 s skew) unless inputs say otherwise, then verify with the key of \
                  verify_seed_hex (default: the sender's).",
    producer: super::wire_producer,
    specs,
    derive,
};

const ALICE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const MALLORY: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const BOB_DID: &str = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";
const NOW: u32 = 1_768_178_601;

fn base(kind: &str, content: &[u8]) -> Map {
    let mut m = Map::new();
    m.insert("sender_seed_hex".into(), s(ALICE));
    m.insert("recipient".into(), s(BOB_DID));
    m.insert("id".into(), s("019bb34e-0ae8-7000-8000-000000000001"));
    m.insert("type".into(), s(kind));
    m.insert(
        "timestamp_ms".into(),
        Value::Number(json::Number::try_from(u64::from(NOW) * 1000).unwrap_or(0u32.into())),
    );
    m.insert("content_hex".into(), s(hex::encode(content)));
    m.insert("now_seconds".into(), n(NOW + 10));
    m
}

fn with(mut m: Map, key: &str, value: Value) -> Value {
    m.insert(key.into(), value);
    Value::Object(m)
}

fn specs() -> Vec<Spec> {
    let chunk = object([
        ("stream_id", s("019bb34e-0ae8-7000-8000-0000000000aa")),
        ("sequence", n(2)),
        ("total", n(5)),
        ("hash_hex", s("ab".repeat(32))),
    ]);
    vec![
        Spec::ok(
            "text",
            "a text message",
            Value::Object(base("TEXT", b"hello, bob")),
        ),
        Spec::ok(
            "broadcast",
            "a message to everyone",
            with(base("TEXT", b"hello, all"), "recipient", s("*")),
        ),
        Spec::ok(
            "ratchet",
            "an opaque ratchet message",
            Value::Object(base("RATCHET", &[0u8, 1, 2, 255])),
        ),
        Spec::ok(
            "empty-content",
            "an ACK with no content",
            Value::Object(base("ACK", b"")),
        ),
        Spec::ok(
            "stream-chunk",
            "a chunk of a stream",
            with(base("STREAM_CHUNK", b"chunk bytes"), "chunk", chunk.clone()),
        ),
        Spec::ok(
            "mcp-message",
            "an MCP request",
            Value::Object(base(
                "MCP_MESSAGE",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            )),
        ),
        Spec::err(
            "tampered-content",
            "the content was changed after signing",
            with(
                base("TEXT", b"pay 1"),
                "tamper",
                object([(
                    "flip_byte",
                    object([("field", s("content")), ("index", n(4))]),
                )]),
            ),
            "signature",
        ),
        Spec::err(
            "wrong-sender-key",
            "verified with a key other than the sender's",
            with(base("TEXT", b"hi"), "verify_seed_hex", s(MALLORY)),
            "signature",
        ),
        Spec::err(
            "clock-skew",
            "sent 301 s before the receiver's now",
            with(base("TEXT", b"hi"), "now_seconds", n(NOW + 301)),
            "timestamp out of range",
        ),
        Spec::err(
            "content-too-large",
            "content above the receiver's limit (16 bytes here)",
            with(base("TEXT", &[7u8; 17]), "max_content", n(16)),
            "too large",
        ),
        Spec::err(
            "unknown-type",
            "a type this version does not know",
            with(
                base("TEXT", b"hi"),
                "tamper",
                object([("set", object([("type", s("VIDEO_CALL"))]))]),
            ),
            "unknown envelope type",
        )
        .schema_invalid(),
        Spec::err(
            "chunk-on-text",
            "chunk info on a TEXT envelope",
            with(
                base("TEXT", b"hi"),
                "tamper",
                object([("set", object([("chunk", chunk_json())]))]),
            ),
            "only a stream_chunk",
        )
        .schema_invalid(),
        Spec::err(
            "uppercase-id",
            "an id that is not canonical lowercase",
            with(
                base("TEXT", b"hi"),
                "tamper",
                object([(
                    "set",
                    object([("id", s("019BB34E-0AE8-7000-8000-000000000001"))]),
                )]),
            ),
            "id",
        )
        .schema_invalid(),
        Spec::err(
            "not-a-did",
            "a sender that is not a DID",
            with(
                base("TEXT", b"hi"),
                "tamper",
                object([("set", object([("sender", s("alice@example.com"))]))]),
            ),
            "invalid did",
        )
        .schema_invalid(),
    ]
}

fn chunk_json() -> Value {
    object([
        ("stream_id", s("019bb34e-0ae8-7000-8000-0000000000aa")),
        ("sequence", n(0)),
        ("total", n(1)),
        ("hash", s(talos_crypto::base64url::encode(&[0xab; 32]))),
    ])
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let key = SigningKey::from_seed(&hex_array::<32>(inputs, "sender_seed_hex")?);
    let kind = EnvelopeType::parse(str_field(inputs, "type")?).map_err(|e| e.to_string())?;
    let recipient = match str_field(inputs, "recipient")? {
        "*" => Recipient::Broadcast,
        did => Recipient::Did(did.to_owned()),
    };
    let chunk = inputs
        .get("chunk")
        .map(|c| -> Result<ChunkInfo, String> {
            Ok(ChunkInfo {
                stream_id: str_field(c, "stream_id")?
                    .parse()
                    .map_err(|e: talos_wire::IdError| e.to_string())?,
                sequence: u32::try_from(u64_field(c, "sequence")?).map_err(|e| e.to_string())?,
                total: u32::try_from(u64_field(c, "total")?).map_err(|e| e.to_string())?,
                hash: hex_array::<32>(c, "hash_hex")?,
            })
        })
        .transpose()?;
    let fields = EnvelopeFields {
        id: str_field(inputs, "id")?
            .parse::<MessageId>()
            .map_err(|e| e.to_string())?,
        kind,
        sender: talos_did::key::from_ed25519(&key.verifying_key()),
        recipient,
        timestamp: Timestamp::from_millis(u64_field(inputs, "timestamp_ms")?),
        content: hex_field(inputs, "content_hex")?,
        chunk,
    };
    let mut limits = Limits::default();
    if inputs.get("max_content").is_some() {
        limits.set_max_content(
            usize::try_from(u64_field(inputs, "max_content")?).map_err(|e| e.to_string())?,
        );
    }
    // The sender signs without the receiver's content limit.
    let envelope = Envelope::sign(fields, &key, &Limits::default()).map_err(|e| e.to_string())?;
    let mut object = json::parse(&envelope.to_json()).map_err(|e| e.to_string())?;
    if let Some(tamper) = inputs.get("tamper") {
        if let Some(set) = tamper.get("set") {
            apply_changes(&mut object, set);
        }
        if let Some(flip) = tamper.get("flip_byte") {
            let index = usize::try_from(u64_field(flip, "index")?).map_err(|e| e.to_string())?;
            flip_b64u_byte(&mut object, str_field(flip, "field")?, index)?;
        }
    }
    let now = Timestamp::from_secs(u64_field(inputs, "now_seconds")?).ok_or("now out of range")?;
    let verify_key = match inputs.get("verify_seed_hex") {
        Some(_) => {
            SigningKey::from_seed(&hex_array::<32>(inputs, "verify_seed_hex")?).verifying_key()
        }
        None => key.verifying_key(),
    };
    let negative = ["tamper", "verify_seed_hex", "max_content"]
        .iter()
        .any(|k| inputs.get(k).is_some())
        || u64_field(inputs, "now_seconds")? > u64::from(NOW) + 300;
    let cbor = envelope.to_cbor();
    let from_json = Envelope::from_json(&object.to_canonical_vec(), &limits, now)
        .and_then(|u| u.verify(&verify_key));
    let from_cbor = if negative {
        None
    } else {
        Some(Envelope::decode(&cbor, &limits, now).and_then(|u| u.verify(&verify_key)))
    };
    match (from_json, negative) {
        (Err(e), true) => Ok(Derived::failed(Some(object), &e)),
        (Ok(_), true) => Err("the envelope was accepted".into()),
        (Err(e), false) => Err(e.to_string()),
        (Ok(decoded), false) => {
            if decoded != envelope
                || from_cbor.map(|r| r.map_err(|e| e.to_string())) != Some(Ok(envelope.clone()))
            {
                return Err("the envelope does not decode to itself".into());
            }
            let _ = field(&object, "sig")?;
            Ok(Derived::Ok {
                object,
                expected: crate::util::object([("cbor_hex", s(hex::encode(&cbor)))]),
            })
        }
    }
}
