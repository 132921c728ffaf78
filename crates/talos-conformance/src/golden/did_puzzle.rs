//! `did/puzzle.json`: Sybil puzzle solutions, and nonces that do not solve.

use talos_crypto::json::Value;
use talos_crypto::{SigningKey, base64url};
use talos_did::puzzle;

use super::{Derived, Family, Spec};
use crate::util::{hex_array, n, object, s, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "did/puzzle.json",
    contract: "did/puzzle.schema.json",
    description: "Sybil puzzles (S/Kademlia): a nonce n solves the puzzle of the Ed25519 key pk (of seed_hex) \
                  at difficulty D when BLAKE3(pk ‖ le64(n)) — the 32-byte key, then n as 8 little-endian \
                  bytes — begins with at least D zero bits, most significant bit of the first byte first. \
                  With start_nonce the case's nonce is the first solution from there (counting up); with \
                  nonce it is given. `object` holds the key, the nonce (its 8 little-endian bytes) and the \
                  difficulty, all base64url or integers; expected.hash_hex is the BLAKE3 output, \
                  expected.leading_zero_bits its count and expected.valid whether n solves the puzzle.",
    producer: || format!("talos-did {}", talos_did::VERSION),
    specs,
    derive,
};

fn seed(byte: u8) -> Value {
    s(hex::encode([byte; 32]))
}

fn solve(
    id: &'static str,
    description: &'static str,
    byte: u8,
    difficulty: u32,
    start: u32,
) -> Spec {
    Spec::ok(
        id,
        description,
        object([
            ("seed_hex", seed(byte)),
            ("difficulty", n(difficulty)),
            ("start_nonce", n(start)),
        ]),
    )
}

fn given(
    id: &'static str,
    description: &'static str,
    byte: u8,
    difficulty: u32,
    nonce: u32,
) -> Spec {
    Spec::ok(
        id,
        description,
        object([
            ("seed_hex", seed(byte)),
            ("difficulty", n(difficulty)),
            ("nonce", n(nonce)),
        ]),
    )
}

fn specs() -> Vec<Spec> {
    vec![
        solve(
            "difficulty-0",
            "difficulty 0: any nonce solves, so the first is the start",
            1,
            0,
            0,
        ),
        solve("difficulty-1", "difficulty 1", 1, 1, 0),
        solve("difficulty-4", "difficulty 4", 1, 4, 0),
        solve("difficulty-8", "difficulty 8", 1, 8, 0),
        solve("difficulty-12", "difficulty 12, another key", 2, 12, 0),
        solve("difficulty-16", "difficulty 16, another key", 3, 16, 0),
        solve(
            "difficulty-8-from-2-32",
            "difficulty 8 from nonce 2^32 - 1: the nonce's high bytes matter",
            1,
            8,
            u32::MAX,
        ),
        given(
            "nonce-0-fails-at-8",
            "nonce 0 does not solve difficulty 8 for this key",
            1,
            8,
            0,
        ),
        given(
            "nonce-1-fails-at-16",
            "nonce 1 does not solve difficulty 16 for this key",
            3,
            16,
            1,
        ),
        given(
            "difficulty-257",
            "no nonce meets a difficulty above 256",
            1,
            257,
            0,
        ),
    ]
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let key = SigningKey::from_seed(&hex_array::<32>(inputs, "seed_hex")?).verifying_key();
    let difficulty = u32::try_from(u64_field(inputs, "difficulty")?).map_err(|e| e.to_string())?;
    let nonce = match inputs.get("start_nonce") {
        Some(_) => puzzle::solve(&key, difficulty, u64_field(inputs, "start_nonce")?, 1 << 32)
            .ok_or("no solution")?,
        None => u64_field(inputs, "nonce")?,
    };
    let hash = puzzle::hash(&key, nonce);
    let bits = puzzle::leading_zero_bits(&hash);
    let valid = puzzle::verify(&key, nonce, difficulty);
    if valid != (bits >= difficulty && difficulty <= puzzle::MAX_DIFFICULTY) {
        return Err("verify disagrees with the bit count".into());
    }
    let object = object([
        ("key", s(base64url::encode(key.as_bytes()))),
        ("nonce", s(base64url::encode(&nonce.to_le_bytes()))),
        ("difficulty", n(difficulty)),
    ]);
    Ok(Derived::Ok {
        object,
        expected: crate::util::object([
            ("hash_hex", s(hex::encode(hash))),
            ("leading_zero_bits", n(bits)),
            ("valid", Value::Bool(valid)),
        ]),
    })
}
