//! `crypto/key_file.json`: identity keys at rest.

use talos_crypto::json::{Map, Number, Value};
use talos_crypto::key_file::KdfParams;
use talos_crypto::{KeyFile, SigningKey, base64url, cbor};

use super::{Derived, Family, Spec, rng, rng_bytes};
use crate::util::{hex_array, n, object, s, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "crypto/key_file.json",
    contract: "crypto/key_file.schema.json",
    description: "KeyFile v1: an Ed25519 seed encrypted under a passphrase (Argon2id v1.3 -> \
                  XChaCha20-Poly1305, associated data = deterministic CBOR of every field but secret), \
                  or stored in clear. `object` is the CBOR file shown as JSON (byte strings as \
                  base64url); cbor_hex is the file. Salt and nonce are the first 16 and next 24 bytes of \
                  ChaCha20Rng(rng_seed). The Argon2 costs here are tiny so vectors run fast; never use \
                  them for real keys.",
    producer: super::crypto_producer,
    specs,
    derive,
};

const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn inputs(passphrase: Option<&str>, m_kib: u32, t: u32, p: u32, extra: &[(&str, Value)]) -> Value {
    let rng_seed = [0x42u8; 32];
    let mut map = Map::new();
    map.insert("seed_hex".into(), s(SEED));
    match passphrase {
        Some(pass) => {
            map.insert("passphrase_utf8".into(), s(pass));
            map.insert("m_kib".into(), n(m_kib));
            map.insert("t".into(), n(t));
            map.insert("p".into(), n(p));
            map.insert("rng_seed_hex".into(), s(hex::encode(rng_seed)));
            map.insert(
                "salt_hex".into(),
                s(hex::encode(rng_bytes::<16>(rng_seed, 0))),
            );
            map.insert(
                "nonce_hex".into(),
                s(hex::encode(rng_bytes::<24>(rng_seed, 16))),
            );
        }
        None => {
            map.insert("passphrase_utf8".into(), Value::Null);
        }
    }
    for (k, v) in extra {
        map.insert((*k).to_owned(), v.clone());
    }
    Value::Object(map)
}

fn specs() -> Vec<Spec> {
    let pass = "correct horse battery staple";
    vec![
        Spec::ok(
            "encrypted",
            "a passphrase-protected key",
            inputs(Some(pass), 64, 1, 1, &[]),
        ),
        Spec::ok(
            "encrypted-two-lanes",
            "two Argon2 lanes, two passes",
            inputs(Some("pässwörd 🔐"), 256, 2, 2, &[]),
        ),
        Spec::ok(
            "clear",
            "a key stored in clear (talos init --no-passphrase)",
            inputs(None, 0, 0, 0, &[]),
        ),
        Spec::err(
            "wrong-passphrase",
            "opened with another passphrase",
            inputs(
                Some(pass),
                64,
                1,
                1,
                &[("open_passphrase_utf8", s("Correct horse battery staple"))],
            ),
            "wrong passphrase",
        ),
        Spec::err(
            "flipped-salt",
            "one bit of the salt was flipped",
            inputs(
                Some(pass),
                64,
                1,
                1,
                &[("tamper", object([("flip", s("salt"))]))],
            ),
            "wrong passphrase",
        ),
        Spec::err(
            "flipped-nonce",
            "one bit of the nonce was flipped",
            inputs(
                Some(pass),
                64,
                1,
                1,
                &[("tamper", object([("flip", s("nonce"))]))],
            ),
            "wrong passphrase",
        ),
        Spec::err(
            "lowered-cost",
            "m_kib lowered from 64 to 32 in the file: a different key, and bound as associated data",
            inputs(
                Some(pass),
                64,
                1,
                1,
                &[("tamper", object([("set_m_kib", n(32))]))],
            ),
            "wrong passphrase",
        ),
        Spec::err(
            "hostile-cost",
            "m_kib of 4 GiB is refused before Argon2 runs",
            inputs(
                Some(pass),
                64,
                1,
                1,
                &[("tamper", object([("set_m_kib", n(4 * 1024 * 1024))]))],
            ),
            "parameters",
        )
        .schema_invalid(),
        Spec::err(
            "non-deterministic-cbor",
            "m_kib written with a longer head than needed: same value, another encoding",
            inputs(
                Some(pass),
                64,
                1,
                1,
                &[("tamper", object([("long_m_kib", Value::Bool(true))]))],
            ),
            "deterministic",
        ),
        Spec::err(
            "clear-wrong-key",
            "a clear file whose seed does not belong to its public key",
            inputs(
                None,
                0,
                0,
                0,
                &[("tamper", object([("flip", s("secret"))]))],
            ),
            "do not match",
        ),
    ]
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let key = SigningKey::from_seed(&hex_array::<32>(inputs, "seed_hex")?);
    let passphrase = inputs.get("passphrase_utf8").and_then(Value::as_str);
    let file = match passphrase {
        Some(pass) => {
            let seed = hex_array::<32>(inputs, "rng_seed_hex")?;
            if hex_array::<16>(inputs, "salt_hex")? != rng_bytes::<16>(seed, 0)
                || hex_array::<24>(inputs, "nonce_hex")? != rng_bytes::<24>(seed, 16)
            {
                return Err("salt_hex or nonce_hex is not what rng_seed_hex yields".into());
            }
            let params = KdfParams::new(
                u32_field(inputs, "m_kib")?,
                u32_field(inputs, "t")?,
                u32_field(inputs, "p")?,
            )
            .map_err(|e| e.to_string())?;
            KeyFile::encrypt(&mut rng(seed), &key, pass.as_bytes(), params)
                .map_err(|e| e.to_string())?
        }
        None => KeyFile::unencrypted(&key),
    };
    let mut bytes = file.to_bytes();
    if let Some(tamper) = inputs.get("tamper") {
        apply_tamper(&mut bytes, tamper)?;
    }
    let open_with = inputs
        .get("open_passphrase_utf8")
        .and_then(Value::as_str)
        .or(passphrase)
        .unwrap_or("");
    let view = cbor_view(&bytes).ok();
    let tampered = inputs.get("tamper").is_some() || inputs.get("open_passphrase_utf8").is_some();
    match (
        KeyFile::from_bytes(&bytes).and_then(|f| f.decrypt(open_with.as_bytes())),
        tampered,
    ) {
        (Err(e), true) => Ok(Derived::error(view, e)),
        (Ok(_), true) => Err("the altered file was accepted".into()),
        (Err(e), false) => Err(e.to_string()),
        (Ok(opened), false) => {
            if opened.to_seed() != key.to_seed() {
                return Err("decrypted another key".into());
            }
            Ok(Derived::Ok {
                object: view.ok_or("the file is not CBOR")?,
                expected: object([
                    ("cbor_hex", s(hex::encode(&bytes))),
                    (
                        "public_key",
                        s(base64url::encode(key.verifying_key().as_bytes())),
                    ),
                ]),
            })
        }
    }
}

fn u32_field(value: &Value, key: &str) -> Result<u32, String> {
    u32::try_from(u64_field(value, key)?).map_err(|e| e.to_string())
}

/// Edits the CBOR bytes the way an attacker with write access to the file could.
fn apply_tamper(bytes: &mut Vec<u8>, tamper: &Value) -> Result<(), String> {
    let view = cbor_view(bytes)?;
    if let Some(name) = tamper.get("flip").and_then(Value::as_str) {
        let text = view
            .get(name)
            .or_else(|| view.get("kdf").and_then(|k| k.get(name)))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no byte field {name}"))?;
        let needle = base64url::decode(text).map_err(|e| e.to_string())?;
        let at = find(bytes, &needle).ok_or("field bytes not found")?;
        bytes[at] ^= 1;
    }
    if tamper.get("set_m_kib").is_some() || tamper.get("long_m_kib").is_some() {
        let key = b"\x65m_kib";
        let at = find(bytes, key).ok_or("m_kib not found")? + key.len();
        let old_len = head_len(bytes[at]);
        let mut head = Vec::new();
        if let Some(Value::Number(v)) = tamper.get("set_m_kib") {
            cbor::write_uint(&mut head, v.as_u64().ok_or("bad m_kib")?);
        } else {
            // The same value, in a 2-byte argument where 1 byte suffices.
            let value = view
                .get("kdf")
                .map(|k| u64_field(k, "m_kib"))
                .transpose()?
                .unwrap_or(0);
            head.push(0x19);
            head.extend_from_slice(
                &u16::try_from(value)
                    .map_err(|e| e.to_string())?
                    .to_be_bytes(),
            );
        }
        bytes.splice(at..at + old_len, head);
    }
    Ok(())
}

fn head_len(initial: u8) -> usize {
    match initial & 0x1f {
        24 => 2,
        25 => 3,
        26 => 5,
        27 => 9,
        _ => 1,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The CBOR file as JSON: text-keyed maps as objects, byte strings as base64url.
fn cbor_view(bytes: &[u8]) -> Result<Value, String> {
    let value: ciborium::Value = cbor::decode(bytes).map_err(|e| e.to_string())?;
    to_json(&value)
}

fn to_json(value: &ciborium::Value) -> Result<Value, String> {
    Ok(match value {
        ciborium::Value::Integer(i) => {
            let v = u64::try_from(i128::from(*i)).map_err(|e| e.to_string())?;
            Value::Number(Number::try_from(v).map_err(|e| e.to_string())?)
        }
        ciborium::Value::Bytes(b) => s(base64url::encode(b)),
        ciborium::Value::Text(t) => s(t.clone()),
        ciborium::Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let k = k.as_text().ok_or("non-text map key")?;
                map.insert(k.to_owned(), to_json(v)?);
            }
            Value::Object(map)
        }
        _ => return Err("unexpected CBOR item in a key file".into()),
    })
}
