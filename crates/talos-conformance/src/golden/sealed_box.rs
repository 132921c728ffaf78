//! `crypto/sealed_box.json`: sealed boxes, anonymous and authenticated.

use talos_crypto::json::{self, Value};
use talos_crypto::{SealedBox, SigningKey, base64url, hash};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte, rng, rng_bytes};
use crate::util::{hex_array, hex_field, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "crypto/sealed_box.json",
    contract: "crypto/sealed_box.schema.json",
    description: "SealedBox v1 (X25519 -> HKDF-SHA256 -> ChaCha20-Poly1305, optionally signed by the \
                  sender). Recipients are Ed25519 identities; the box is sealed to the X25519 key did:key \
                  derives from them. The ephemeral secret is the first 32 bytes of ChaCha20Rng(rng_seed) \
                  and is given as ephemeral_secret_hex for implementations that inject it.",
    producer: super::crypto_producer,
    specs,
    derive,
};

const ALICE: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const BOB: &str = "0202020202020202020202020202020202020202020202020202020202020202";
const MALLORY: &str = "0303030303030303030303030303030303030303030303030303030303030303";

fn inputs(sender: Option<&str>, rng_seed: u8, plaintext: &[u8], extra: &[(&str, Value)]) -> Value {
    let seed = [rng_seed; 32];
    let mut map = json::Map::new();
    map.insert("recipient_seed_hex".into(), s(BOB));
    if let Some(sender) = sender {
        map.insert("sender_seed_hex".into(), s(sender));
    }
    map.insert("rng_seed_hex".into(), s(hex::encode(seed)));
    map.insert(
        "ephemeral_secret_hex".into(),
        s(hex::encode(rng_bytes::<32>(seed, 0))),
    );
    map.insert("plaintext_hex".into(), s(hex::encode(plaintext)));
    for (k, v) in extra {
        map.insert((*k).to_owned(), v.clone());
    }
    Value::Object(map)
}

fn tamper(t: Value) -> [(&'static str, Value); 1] {
    [("tamper", t)]
}

fn flip(field: &str, index: u32) -> Value {
    object([(
        "flip_byte",
        object([("field", s(field)), ("index", n(index))]),
    )])
}

fn specs() -> Vec<Spec> {
    let long: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    vec![
        Spec::ok(
            "anonymous",
            "an anonymous box",
            inputs(None, 1, b"hello, bob", &[]),
        ),
        Spec::ok(
            "anonymous-empty",
            "an anonymous box of nothing",
            inputs(None, 2, b"", &[]),
        ),
        Spec::ok(
            "authenticated",
            "a box signed by Alice",
            inputs(Some(ALICE), 3, b"hello, bob, from alice", &[]),
        ),
        Spec::ok(
            "authenticated-1000",
            "a signed box of 1000 bytes",
            inputs(Some(ALICE), 4, &long, &[]),
        ),
        Spec::err(
            "tampered-ciphertext",
            "one bit of the ciphertext was flipped",
            inputs(None, 5, b"secret", &tamper(flip("ciphertext", 0))),
            "decryption failed",
        ),
        Spec::err(
            "tampered-tag",
            "one bit of the tag was flipped",
            inputs(None, 6, b"secret", &tamper(flip("ciphertext", 6 + 15))),
            "decryption failed",
        ),
        Spec::err(
            "tampered-ephemeral",
            "one bit of the ephemeral key was flipped",
            inputs(None, 7, b"secret", &tamper(flip("ephemeral", 3))),
            "decryption failed",
        ),
        Spec::err(
            "tampered-signature",
            "one bit of the sender's signature was flipped",
            inputs(Some(ALICE), 8, b"secret", &tamper(flip("sig", 10))),
            "signature",
        ),
        Spec::err(
            "resigned-by-another-sender",
            "Mallory replaces Alice as sender and signs the box herself: her signature verifies, \
             but the sender is bound into the AEAD's associated data",
            inputs(
                Some(ALICE),
                9,
                b"secret",
                &tamper(object([("resign_with_seed_hex", s(MALLORY))])),
            ),
            "decryption failed",
        ),
        Spec::err(
            "anonymous-made-authenticated",
            "a signature and sender are added to an anonymous box",
            inputs(
                None,
                10,
                b"secret",
                &tamper(object([("resign_with_seed_hex", s(MALLORY))])),
            ),
            "decryption failed",
        ),
        Spec::err(
            "wrong-recipient",
            "Mallory tries to open a box sealed to Bob",
            inputs(None, 11, b"secret", &[("open_with_seed_hex", s(MALLORY))]),
            "another key",
        ),
        Spec::err(
            "missing-signature",
            "an authenticated box without its signature",
            inputs(
                Some(ALICE),
                12,
                b"secret",
                &tamper(object([("set", object([("sig", Value::Null)]))])),
            ),
            "sender and sig",
        )
        .schema_invalid(),
        Spec::err(
            "unknown-version",
            "version 2 is not understood",
            inputs(
                None,
                13,
                b"secret",
                &tamper(object([("set", object([("v", n(2))]))])),
            ),
            "version",
        )
        .schema_invalid(),
    ]
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let bob = SigningKey::from_seed(&hex_array::<32>(inputs, "recipient_seed_hex")?);
    let rng_seed = hex_array::<32>(inputs, "rng_seed_hex")?;
    if hex_array::<32>(inputs, "ephemeral_secret_hex")? != rng_bytes::<32>(rng_seed, 0) {
        return Err("ephemeral_secret_hex is not what rng_seed_hex yields".into());
    }
    let plaintext = hex_field(inputs, "plaintext_hex")?;
    let to = bob.verifying_key().to_x25519();
    let mut rng = rng(rng_seed);
    let sealed = match inputs.get("sender_seed_hex") {
        Some(_) => {
            let alice = SigningKey::from_seed(&hex_array::<32>(inputs, "sender_seed_hex")?);
            SealedBox::seal_authenticated(&mut rng, &alice, &to, &plaintext)
        }
        None => SealedBox::seal_anonymous(&mut rng, &to, &plaintext),
    }
    .map_err(|e| e.to_string())?;
    let mut object = json::parse(&sealed.to_json()).map_err(|e| e.to_string())?;
    let opener = match inputs.get("open_with_seed_hex") {
        Some(_) => SigningKey::from_seed(&hex_array::<32>(inputs, "open_with_seed_hex")?),
        None => bob,
    };
    if let Some(t) = inputs.get("tamper") {
        apply_tamper(&mut object, t)?;
    }
    let attempt = SealedBox::from_json(&object.to_canonical_vec()).and_then(|b| {
        let opened = b.open(&opener.to_x25519())?;
        Ok((b, opened))
    });
    let tampered = inputs.get("tamper").is_some() || inputs.get("open_with_seed_hex").is_some();
    match (attempt, tampered) {
        (Err(e), true) => Ok(Derived::error(Some(object), e)),
        (Ok(_), true) => Err("the altered box was accepted".into()),
        (Err(e), false) => Err(e.to_string()),
        (Ok((decoded, opened)), false) => {
            let cbor = sealed.to_cbor();
            if decoded != sealed
                || SealedBox::from_cbor(&cbor).map_err(|e| e.to_string())? != sealed
            {
                return Err("JSON or CBOR round trip changed the box".into());
            }
            if opened.plaintext != plaintext {
                return Err("opened to a different plaintext".into());
            }
            let expected_sender = inputs
                .get("sender_seed_hex")
                .map(|_| {
                    hex_array::<32>(inputs, "sender_seed_hex")
                        .map(|s| SigningKey::from_seed(&s).verifying_key())
                })
                .transpose()?;
            if opened.sender != expected_sender {
                return Err("wrong sender reported".into());
            }
            Ok(Derived::Ok {
                object,
                expected: crate::util::object([
                    ("cbor_hex", s(hex::encode(&cbor))),
                    ("plaintext_hex", s(hex::encode(&opened.plaintext))),
                    (
                        "plaintext_sha256_hex",
                        s(hash::to_hex(&hash::sha256(&opened.plaintext))),
                    ),
                ]),
            })
        }
    }
}

fn apply_tamper(object: &mut Value, tamper: &Value) -> Result<(), String> {
    if let Some(set) = tamper.get("set") {
        apply_changes(object, set);
    }
    if let Some(flip) = tamper.get("flip_byte") {
        let index = usize::try_from(u64_field(flip, "index")?).map_err(|e| e.to_string())?;
        flip_b64u_byte(object, str_field(flip, "field")?, index)?;
    }
    if tamper.get("resign_with_seed_hex").is_some() {
        // What an attacker can do without Bob's key: claim the box and sign it anew. The
        // signed bytes are rebuilt here from the format's definition, independently of the
        // library: canonical JSON of every member but ciphertext and sig, then the ciphertext.
        let mallory = SigningKey::from_seed(&hex_array::<32>(tamper, "resign_with_seed_hex")?);
        apply_changes(
            object,
            &crate::util::object([
                ("mode", s("authenticated")),
                (
                    "sender",
                    s(base64url::encode(mallory.verifying_key().as_bytes())),
                ),
            ]),
        );
        let mut header = object.clone();
        apply_changes(
            &mut header,
            &crate::util::object([("ciphertext", Value::Null), ("sig", Value::Null)]),
        );
        let mut signed = header.to_canonical_vec();
        let ciphertext =
            base64url::decode(str_field(object, "ciphertext")?).map_err(|e| e.to_string())?;
        signed.extend_from_slice(&ciphertext);
        let sig = mallory.sign(&signed);
        apply_changes(
            object,
            &crate::util::object([("sig", s(base64url::encode(&sig.to_bytes())))]),
        );
    }
    Ok(())
}
