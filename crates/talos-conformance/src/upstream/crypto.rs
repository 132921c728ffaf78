//! Upstream talos-crypto vectors.

use base64::Engine as _;
use talos_crypto::json::Value;
use talos_crypto::{ErrorCode, SigningKey, VerifyingKey, base64url, hash, json};

use crate::report::{Cases, Outcome};
use crate::util::{expect_error, field, hex_field, same, str_field};

/// `base64url.json`: strict unpadded base64url.
pub(super) fn base64url(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "valid", "encoded", |case| {
        let encoded = str_field(case, "encoded")?;
        let bytes = hex_field(case, "bytes_hex")?;
        same("encode", encoded, base64url::encode(&bytes).as_str())?;
        same(
            "decode",
            Ok(bytes),
            base64url::decode(encoded).map_err(|e| e.to_string()),
        )
    });
    cases.each(doc, "invalid", "", |case| {
        let text = case.as_str().ok_or("invalid entry is not a string")?;
        match base64url::decode(text) {
            Ok(bytes) => Err(format!("accepted, decoded to {}", hex::encode(bytes))),
            Err(_) => Ok(()),
        }
    });
    cases.finish()
}

/// `sdk/canonical_json.json`: canonical strings (and one placeholder hash, skipped).
pub(super) fn canonical_json(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let mut skipped = Vec::new();
    cases.each(doc, "vectors", "test_id", |vector| {
        let id = str_field(vector, "test_id")?;
        let inputs = field(vector, "inputs")?;
        let expected = field(vector, "expected")?;
        let value = if let Some(v) = inputs.get("unordered").or_else(|| inputs.get("value")) {
            v.clone()
        } else {
            json::parse(str_field(inputs, "pretty_printed")?.as_bytes())
                .map_err(|e| e.to_string())?
        };
        let canonical = value.to_canonical_string();
        let want = expected
            .get("canonical")
            .or_else(|| expected.get("canonical_number"))
            .and_then(Value::as_str)
            .ok_or("no expected canonical form")?;
        same("canonical", want, canonical.as_str())?;
        if let Some(hash_hex) = expected.get("hash_sha256_hex").and_then(Value::as_str) {
            let what = format!("{id}.hash_sha256_hex");
            match super::skipped(&format!("sdk/canonical_json.json#{what}")) {
                Some(reason) => skipped.push((what, reason)),
                None => same(
                    "sha256",
                    hash_hex,
                    hash::to_hex(&hash::sha256(canonical.as_bytes())).as_str(),
                )?,
            }
        }
        Ok(())
    });
    for (what, reason) in skipped {
        cases.skip(&what, reason);
    }
    cases.finish()
}

/// `crypto/canonical_hash.json`: canonical strings.
pub(super) fn canonical_hash(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "tests", "name", |test| {
        let canonical = field(test, "input")?.to_canonical_string();
        same(
            "canonical",
            str_field(test, "expected_json")?,
            canonical.as_str(),
        )
    });
    cases.finish()
}

/// The upstream `verify(msg, sig, pk) -> bool`: malformed keys or signatures are `false`.
fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_slice(public_key) else {
        return false;
    };
    let Ok(sig) = talos_crypto::Signature::from_slice(signature) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

fn key_from(inputs: &Value) -> Result<SigningKey, String> {
    SigningKey::from_seed_slice(&hex_field(inputs, "seed_hex")?).map_err(|e| e.to_string())
}

/// `sdk/signing_verify.json`: Ed25519 from seeds, did:key, and negative cases.
pub(super) fn signing_verify(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "vectors", "test_id", |vector| {
        let inputs = field(vector, "inputs")?;
        let expected = field(vector, "expected")?;
        let key = key_from(inputs)?;
        let message = str_field(inputs, "message_utf8")?.as_bytes();
        let public = key.verifying_key();
        let sig = key.sign(message).to_bytes();
        if let Some(pk) = expected.get("public_key_hex").and_then(Value::as_str) {
            same("public key", pk, hex::encode(public.as_bytes()).as_str())?;
        }
        if let Some(s) = expected.get("signature_base64url").and_then(Value::as_str) {
            same("signature", s, base64url::encode(&sig).as_str())?;
        }
        if let Some(did) = expected.get("did").and_then(Value::as_str) {
            same("did", did, talos_did::key::from_ed25519(&public).as_str())?;
        }
        if let Some(Value::Number(len)) = expected.get("signature_length") {
            same("signature length", len.as_u64(), Some(sig.len() as u64))?;
        }
        same(
            "self-verification",
            true,
            verify(public.as_bytes(), message, &sig),
        )
    });
    cases.each(doc, "negative_cases", "test_id", |vector| {
        let inputs = field(vector, "inputs")?;
        if let Some(expected_error) = vector.get("expected_error") {
            let seed = hex_field(inputs, "seed_hex")?;
            let err = talos_crypto::Error::from(
                SigningKey::from_seed_slice(&seed)
                    .err()
                    .ok_or("seed accepted")?,
            );
            return expect_error(
                expected_error,
                ErrorCode::from(&err).as_str(),
                &err.to_string(),
            );
        }
        let want = field(field(vector, "expected")?, "verify")? == &Value::Bool(true);
        let got = if let Some(wrong) = inputs.get("wrong_public_key_hex").and_then(Value::as_str) {
            let pk = hex::decode(wrong).map_err(|e| e.to_string())?;
            let sig = base64url::decode(str_field(inputs, "signature_base64url")?)
                .map_err(|e| e.to_string())?;
            verify(&pk, str_field(inputs, "message_utf8")?.as_bytes(), &sig)
        } else {
            let key = key_from(inputs)?;
            let sig = key
                .sign(str_field(inputs, "original_message")?.as_bytes())
                .to_bytes();
            let tampered = str_field(inputs, "tampered_message")?.as_bytes();
            verify(key.verifying_key().as_bytes(), tampered, &sig)
        };
        same("verify", want, got)
    });
    cases.finish()
}

/// `crypto/ed25519_signatures.json`: signatures over canonical JSON, keys and signatures in
/// standard padded base64, keys resolved by id.
pub(super) fn ed25519_signatures(doc: &Value) -> Outcome {
    let std_b64 = base64::engine::general_purpose::STANDARD;
    let mut cases = Cases::default();
    let key_b64 = field(doc, "key_pair").and_then(|k| str_field(k, "public_key_b64"));
    cases.each(doc, "tests", "name", |test| {
        let key_b64 = key_b64.clone()?;
        // The only key this file defines is `key_pair`; any other key id is unresolvable.
        let key = if str_field(test, "key_id")? == key_b64 {
            Some(std_b64.decode(key_b64).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let message = field(test, "payload")?.to_canonical_vec();
        let sig = std_b64
            .decode(str_field(test, "signature_b64")?)
            .map_err(|e| e.to_string())?;
        let valid = key.is_some_and(|k| verify(&k, &message, &sig));
        same(
            "verdict",
            str_field(test, "expected")?,
            if valid { "valid" } else { "invalid" },
        )
    });
    cases.finish()
}
