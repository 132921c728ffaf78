//! `crypto/signed_message.json`: JSON values signed by the upstream rule.

use talos_crypto::json::{self, Value};
use talos_crypto::{SignedMessage, SigningKey};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte};
use crate::util::{field, hex_field, n, object, s};

pub(super) const FAMILY: Family = Family {
    file: "crypto/signed_message.json",
    contract: "crypto/signed_message.schema.json",
    description: "SignedMessage v1: Ed25519 over the RFC 8785 canonical JSON of {payload, signer, v}; \
                  negative cases alter a signed message or sign what the signing profile forbids",
    producer: super::crypto_producer,
    specs,
    derive,
};

const SEED: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";

fn parse(text: &str) -> Value {
    json::parse(text.as_bytes()).unwrap_or(Value::Null)
}

fn inputs(payload: &str, tamper: Option<Value>) -> Value {
    let mut inputs = object([("seed_hex", s(SEED)), ("payload", parse(payload))]);
    if let (Some(t), Value::Object(map)) = (tamper, &mut inputs) {
        map.insert("tamper".into(), t);
    }
    inputs
}

fn specs() -> Vec<Spec> {
    let weak_key = talos_crypto::base64url::encode(&{
        let mut k = [0u8; 32];
        k[0] = 1;
        k
    });
    vec![
        Spec::ok(
            "object",
            "an object payload",
            inputs(r#"{"tool":"search","args":{"q":"rust"},"n":3}"#, None),
        ),
        Spec::ok(
            "unicode-keys",
            "keys whose UTF-16 order differs from code-point order",
            inputs(
                r#"{"\uff01":"bang","\ud83d\udd10":"lock","é":-9007199254740991}"#,
                None,
            ),
        ),
        Spec::ok(
            "array",
            "an array payload",
            inputs(r#"[1,"two",[3],{"four":null},true]"#, None),
        ),
        Spec::ok("string", "a string payload", inputs(r#""hello""#, None)),
        Spec::ok(
            "empty-object",
            "an empty object payload",
            inputs("{}", None),
        ),
        Spec::err(
            "tampered-payload",
            "the payload was changed after signing",
            inputs(
                r#"{"amount":1}"#,
                Some(object([(
                    "set",
                    object([("payload", parse(r#"{"amount":100}"#))]),
                )])),
            ),
            "signature",
        ),
        Spec::err(
            "tampered-signature",
            "one bit of the signature was flipped",
            inputs(
                r#"{"amount":1}"#,
                Some(object([(
                    "flip_byte",
                    object([("field", s("sig")), ("index", n(0))]),
                )])),
            ),
            "signature",
        ),
        Spec::err(
            "weak-signer",
            "the signer is a small-order key",
            inputs(
                r#"{"amount":1}"#,
                Some(object([("set", object([("signer", s(weak_key))]))])),
            ),
            "signer",
        ),
        Spec::err(
            "unknown-version",
            "version 2 is not understood",
            inputs(
                r#"{"amount":1}"#,
                Some(object([("set", object([("v", n(2))]))])),
            ),
            "version",
        )
        .schema_invalid(),
        Spec::err(
            "extra-field",
            "an unknown field",
            inputs(
                r#"{"amount":1}"#,
                Some(object([("set", object([("extra", s("x"))]))])),
            ),
            "exactly the fields",
        )
        .schema_invalid(),
        Spec::err(
            "float-payload",
            "the signing profile refuses floats: Python and RFC 8785 print them differently",
            inputs(r#"{"amount":1.5}"#, None),
            "integer",
        ),
        Spec::err(
            "unsafe-integer",
            "the signing profile refuses integers beyond 2^53 - 1",
            inputs(r#"{"amount":9007199254740992}"#, None),
            "integer",
        ),
    ]
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let key =
        SigningKey::from_seed_slice(&hex_field(inputs, "seed_hex")?).map_err(|e| e.to_string())?;
    let signed = match SignedMessage::sign(&key, field(inputs, "payload")?.clone()) {
        Ok(signed) => signed,
        Err(e) => return Ok(Derived::error(None, e)),
    };
    let text = signed.to_json();
    let mut object = json::parse(&text).map_err(|e| e.to_string())?;
    let Some(tamper) = inputs.get("tamper") else {
        let back = SignedMessage::from_json(&text).map_err(|e| e.to_string())?;
        if back != signed {
            return Err("round trip changed the message".into());
        }
        let text = String::from_utf8(text).map_err(|e| e.to_string())?;
        return Ok(Derived::Ok {
            object,
            expected: crate::util::object([("json", s(text))]),
        });
    };
    if let Some(set) = tamper.get("set") {
        apply_changes(&mut object, set);
    }
    if let Some(flip) = tamper.get("flip_byte") {
        let name = crate::util::str_field(flip, "field")?;
        let index = crate::util::u64_field(flip, "index")?;
        flip_b64u_byte(
            &mut object,
            name,
            usize::try_from(index).map_err(|e| e.to_string())?,
        )?;
    }
    match SignedMessage::from_json(&object.to_canonical_vec()) {
        Ok(_) => Err("the altered message was accepted".into()),
        Err(e) => Ok(Derived::error(Some(object), e)),
    }
}
