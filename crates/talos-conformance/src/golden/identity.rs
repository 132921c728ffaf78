//! `crypto/identity.json`: what an Ed25519 seed determines.

use talos_crypto::json::Value;
use talos_crypto::{SigningKey, base64url, hash};

use super::{Derived, Family, Spec};
use crate::util::{hex_field, object, s, str_field};

pub(super) const FAMILY: Family = Family {
    file: "crypto/identity.json",
    contract: "crypto/identity.schema.json",
    description: "Ed25519 identities from 32-byte seeds: public key, address (hex SHA-256 of the key), \
                  did:key, the X25519 key-agreement key did:key derives, and a signature",
    producer: || {
        format!(
            "talos-crypto {}, talos-did {}",
            talos_crypto::VERSION,
            talos_did::VERSION
        )
    },
    specs,
    derive,
};

const MESSAGE: &str = "Talos golden vector";

fn seed_input(seed_hex: &str) -> Value {
    object([("seed_hex", s(seed_hex)), ("message_utf8", s(MESSAGE))])
}

fn specs() -> Vec<Spec> {
    let counting: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
    vec![
        Spec::ok(
            "seed-zero",
            "the all-zero seed",
            seed_input(&"00".repeat(32)),
        ),
        Spec::ok(
            "seed-one",
            "the seed 00…01 (upstream sign_verify_basic)",
            seed_input(&format!("{}01", "00".repeat(31))),
        ),
        Spec::ok("seed-ff", "the all-0xff seed", seed_input(&"ff".repeat(32))),
        Spec::ok(
            "seed-counting",
            "the seed 00 01 02 … 1f",
            seed_input(&counting),
        ),
        Spec::err(
            "seed-too-short",
            "a 31-byte seed is refused, never padded",
            seed_input(&"00".repeat(31)),
            "seed",
        ),
        Spec::err(
            "seed-too-long",
            "a 33-byte seed is refused, never truncated",
            seed_input(&"00".repeat(33)),
            "seed",
        ),
    ]
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let key = match SigningKey::from_seed_slice(&hex_field(inputs, "seed_hex")?) {
        Ok(key) => key,
        Err(e) => return Ok(Derived::error(None, e)),
    };
    let public = key.verifying_key();
    let message = str_field(inputs, "message_utf8")?.as_bytes();
    let signature = key.sign(message);
    public
        .verify(message, &signature)
        .map_err(|e| e.to_string())?;
    if key.to_x25519().public_key() != public.to_x25519() {
        return Err("the two X25519 derivations disagree".into());
    }
    Ok(Derived::Ok {
        object: object([
            ("public_key", s(base64url::encode(public.as_bytes()))),
            ("address", s(public.address())),
            ("did", s(talos_did::key::from_ed25519(&public))),
            (
                "x25519_public_key",
                s(base64url::encode(public.to_x25519().as_bytes())),
            ),
        ]),
        expected: object([
            ("public_key_hex", s(hash::to_hex(public.as_bytes()))),
            (
                "x25519_secret_hex",
                s(hash::to_hex(&key.to_x25519().to_bytes()[..])),
            ),
            (
                "signature_base64url",
                s(base64url::encode(&signature.to_bytes())),
            ),
        ]),
    })
}
