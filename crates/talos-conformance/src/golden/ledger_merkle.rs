//! `ledger/merkle.json`: RFC 9162 tree roots, inclusion and consistency proofs, and mutated
//! proofs a verifier must refuse.

use talos_crypto::json::{Number, Value};
use talos_ledger::merkle::{
    self, EMPTY_ROOT, Hash, MerkleLog, ProofError, leaf_hash, node_hash, verify_consistency,
    verify_inclusion,
};

use super::{Derived, Family, Spec};
use crate::util::{array_field, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "ledger/merkle.json",
    contract: "ledger/merkle_proof.schema.json",
    description: "RFC 9162 Merkle trees: leaf hash SHA-256(0x00 ‖ data), node hash SHA-256(0x01 ‖ left ‖ \
                  right), left-balanced, the empty tree's root SHA-256 of nothing. inputs.leaves_hex are the \
                  log's leaf data in order (leaf 0 is empty, leaf i > 0 the ASCII of \"talos leaf i\"); op \
                  \"root\" asks for the root of all of them, \"inclusion\" for the proof of leaf index in the \
                  tree of the first size leaves, \"consistency\" for the proof between the first size1 and \
                  the first size2 leaves. `object` is the proof as a verifier receives it (hashes in \
                  lowercase hex, audit path from the leaf upwards, RFC 9162 §2.1.3 and §2.1.4); \
                  expected.verifies says that it verifies. Negative cases alter the proof before \
                  verification: mutate.flip flips the lowest bit of byte `byte` of proof hash `hash`, \
                  mutate.drop_last removes the last hash, mutate.append_hex adds one, mutate.set replaces \
                  members of the object (e.g. the leaf index or a size).",
    producer: || format!("talos-ledger {}", talos_ledger::VERSION),
    specs,
    derive,
};

/// Leaf `i` of the vectors' log.
fn leaf_data(i: u64) -> Vec<u8> {
    if i == 0 {
        Vec::new()
    } else {
        format!("talos leaf {i}").into_bytes()
    }
}

fn leaves(count: u64) -> Value {
    Value::Array((0..count).map(|i| s(hex::encode(leaf_data(i)))).collect())
}

fn big(value: u64) -> Value {
    Value::Number(Number::try_from(value).unwrap_or(Number::from(0u32)))
}

fn root_case(count: u64) -> Value {
    object([("op", s("root")), ("leaves_hex", leaves(count))])
}

fn inclusion(count: u64, index: u64, size: u64) -> Value {
    object([
        ("op", s("inclusion")),
        ("leaves_hex", leaves(count)),
        ("index", big(index)),
        ("size", big(size)),
    ])
}

fn consistency(count: u64, size1: u64, size2: u64) -> Value {
    object([
        ("op", s("consistency")),
        ("leaves_hex", leaves(count)),
        ("size1", big(size1)),
        ("size2", big(size2)),
    ])
}

fn mutated(mut inputs: Value, mutate: Value) -> Value {
    if let Value::Object(map) = &mut inputs {
        map.insert("mutate".into(), mutate);
    }
    inputs
}

#[allow(clippy::too_many_lines)] // one list of cases
fn specs() -> Vec<Spec> {
    let mut specs = vec![
        Spec::ok("root-empty", "the empty tree", root_case(0)),
        Spec::ok("root-one-empty-leaf", "one empty leaf", root_case(1)),
        Spec::ok("root-2", "two leaves", root_case(2)),
        Spec::ok("root-7", "seven leaves (2^3 - 1)", root_case(7)),
        Spec::ok("root-8", "eight leaves (2^3)", root_case(8)),
        Spec::ok("root-9", "nine leaves (2^3 + 1)", root_case(9)),
        Spec::ok("root-33", "33 leaves (2^5 + 1)", root_case(33)),
    ];
    let inclusions: [(&'static str, &'static str, u64, u64, u64); 9] = [
        (
            "inclusion-1-0",
            "the only leaf of a one-leaf tree: an empty path",
            1,
            0,
            1,
        ),
        ("inclusion-7-0", "the first leaf of 7", 7, 0, 7),
        (
            "inclusion-7-6",
            "the last leaf of 7 (a lone right node)",
            7,
            6,
            7,
        ),
        ("inclusion-8-3", "leaf 3 of 8 (a complete tree)", 8, 3, 8),
        ("inclusion-9-8", "the last leaf of 9", 9, 8, 9),
        ("inclusion-15-14", "the last leaf of 15", 15, 14, 15),
        ("inclusion-16-5", "leaf 5 of 16", 16, 5, 16),
        ("inclusion-17-16", "the last leaf of 17", 17, 16, 17),
        (
            "inclusion-prefix-33-12",
            "leaf 12 in the tree of the first 31 of 33 leaves",
            33,
            12,
            31,
        ),
    ];
    for (id, description, count, index, size) in inclusions {
        specs.push(Spec::ok(id, description, inclusion(count, index, size)));
    }
    let consistencies: [(&'static str, &'static str, u64, u64, u64); 9] = [
        ("consistency-1-8", "from one leaf to 8", 8, 1, 8),
        ("consistency-3-7", "from 3 to 7", 7, 3, 7),
        ("consistency-7-8", "from 2^3 - 1 to 2^3", 8, 7, 8),
        ("consistency-8-9", "from 2^3 to 2^3 + 1", 9, 8, 9),
        ("consistency-4-9", "from a power of two to 9", 9, 4, 9),
        ("consistency-15-17", "from 2^4 - 1 to 2^4 + 1", 17, 15, 17),
        ("consistency-16-33", "from 2^4 to 2^5 + 1", 33, 16, 33),
        ("consistency-31-32", "from 2^5 - 1 to 2^5", 33, 31, 32),
        ("consistency-9-9", "equal sizes: an empty proof", 9, 9, 9),
    ];
    for (id, description, count, size1, size2) in consistencies {
        specs.push(Spec::ok(id, description, consistency(count, size1, size2)));
    }
    specs.extend([
        Spec::err(
            "inclusion-flipped-hash",
            "one bit of the second path hash flipped",
            mutated(
                inclusion(8, 3, 8),
                object([("flip", object([("hash", big(1)), ("byte", big(0))]))]),
            ),
            "root mismatch",
        ),
        Spec::err(
            "inclusion-wrong-leaf",
            "a valid path for leaf 3 offered as the path of leaf 2",
            mutated(
                inclusion(8, 3, 8),
                object([("set", object([("leaf_index", big(2))]))]),
            ),
            "root mismatch",
        ),
        Spec::err(
            "inclusion-truncated",
            "the last path hash removed",
            mutated(
                inclusion(17, 16, 17),
                object([("drop_last", Value::Bool(true))]),
            ),
            "wrong proof length",
        ),
        Spec::err(
            "inclusion-extended",
            "a hash appended to the path",
            mutated(
                inclusion(7, 6, 7),
                object([("append_hex", s(hex::encode(EMPTY_ROOT)))]),
            ),
            "wrong proof length",
        ),
        Spec::err(
            "inclusion-index-out-of-range",
            "leaf index equal to the tree size",
            mutated(
                inclusion(7, 6, 7),
                object([("set", object([("leaf_index", big(7))]))]),
            ),
            "not below tree size",
        ),
        Spec::err(
            "consistency-flipped-hash",
            "one bit of the first proof hash flipped",
            mutated(
                consistency(17, 15, 17),
                object([("flip", object([("hash", big(0)), ("byte", big(31))]))]),
            ),
            "root mismatch",
        ),
        Spec::err(
            "consistency-truncated",
            "the last proof hash removed",
            mutated(
                consistency(33, 16, 33),
                object([("drop_last", Value::Bool(true))]),
            ),
            "wrong proof length",
        ),
        Spec::err(
            "consistency-from-zero",
            "size1 0, which no proof can show",
            mutated(
                consistency(8, 7, 8),
                object([("set", object([("size1", big(0))]))]),
            ),
            "invalid tree sizes",
        ),
        Spec::err(
            "consistency-shrinking",
            "size1 above size2",
            mutated(
                consistency(9, 8, 9),
                object([("set", object([("size1", big(10))]))]),
            ),
            "invalid tree sizes",
        ),
        Spec::err(
            "consistency-equal-sizes-nonempty",
            "equal sizes with a non-empty proof",
            mutated(
                consistency(9, 9, 9),
                object([("append_hex", s(hex::encode(EMPTY_ROOT)))]),
            ),
            "wrong proof length",
        ),
    ]);
    specs
}

/// The Merkle tree hash of `leaves` by RFC 9162 §2.1.1's recursive definition: an oracle
/// independent of the log's frontier and store.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [one] => *one,
        _ => {
            let mut k = 1;
            while k * 2 < leaves.len() {
                k *= 2;
            }
            let (left, right) = leaves.split_at(k);
            node_hash(&reference_root(left), &reference_root(right))
        }
    }
}

fn hex_hash(text: &str) -> Result<Hash, String> {
    hex::decode(text)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| format!("{text}: not 32 bytes"))
}

fn hashes(value: &Value, name: &str) -> Result<Vec<Hash>, String> {
    array_field(value, name)?
        .iter()
        .map(|v| hex_hash(v.as_str().ok_or("not a string")?))
        .collect()
}

fn hex_list(hashes: &[Hash]) -> Value {
    Value::Array(hashes.iter().map(|h| s(hex::encode(h))).collect())
}

fn code(err: &ProofError) -> &'static str {
    talos_crypto::ErrorCode::from(err).as_str()
}

fn rejected(object: Value, err: &ProofError) -> Derived {
    Derived::Err {
        object: Some(object),
        code: code(err).into(),
        message: err.to_string(),
    }
}

/// Applies `inputs.mutate` to a proof object.
fn mutate(object: &mut Value, inputs: &Value) -> Result<(), String> {
    let Some(m) = inputs.get("mutate") else {
        return Ok(());
    };
    let mut proof = hashes(object, "proof")?;
    if let Some(flip) = m.get("flip") {
        let hash = usize::try_from(u64_field(flip, "hash")?).map_err(|e| e.to_string())?;
        let byte = usize::try_from(u64_field(flip, "byte")?).map_err(|e| e.to_string())?;
        *proof
            .get_mut(hash)
            .and_then(|h| h.get_mut(byte))
            .ok_or("no such proof byte")? ^= 1;
    }
    if m.get("drop_last").is_some() {
        proof.pop().ok_or("empty proof")?;
    }
    if m.get("append_hex").is_some() {
        proof.push(hex_hash(str_field(m, "append_hex")?)?);
    }
    super::apply_changes(object, &object_with_proof(&proof));
    if let Some(set) = m.get("set") {
        super::apply_changes(object, set);
    }
    Ok(())
}

fn object_with_proof(proof: &[Hash]) -> Value {
    object([("proof", hex_list(proof))])
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let data = array_field(inputs, "leaves_hex")?
        .iter()
        .map(|v| hex::decode(v.as_str().ok_or("not a string")?).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, String>>()?;
    let mut log = MerkleLog::new();
    for d in &data {
        log.append(d).map_err(|e| e.to_string())?;
    }
    let leaf_hashes: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
    let prefix_root = |size: u64| -> Result<Hash, String> {
        let len = usize::try_from(size).map_err(|e| e.to_string())?;
        let want = reference_root(leaf_hashes.get(..len).ok_or("size beyond the leaves")?);
        let got = log.root_at(size).map_err(|e| e.to_string())?;
        if got != want {
            return Err(format!(
                "root_at({size}) differs from RFC 9162's definition"
            ));
        }
        Ok(got)
    };
    match str_field(inputs, "op")? {
        "root" => {
            let root = prefix_root(log.size())?;
            if log.root() != root {
                return Err("root() differs from root_at(size)".into());
            }
            Ok(Derived::Ok {
                object: object([
                    ("type", s("root")),
                    ("tree_size", big(log.size())),
                    ("root", s(hex::encode(root))),
                ]),
                expected: object([("leaf_hashes", hex_list(&leaf_hashes))]),
            })
        }
        "inclusion" => {
            let (index, size) = (u64_field(inputs, "index")?, u64_field(inputs, "size")?);
            let proof = log
                .inclusion_proof(index, size)
                .map_err(|e| e.to_string())?;
            let mut obj = object([
                ("type", s("inclusion")),
                ("tree_size", big(size)),
                ("leaf_index", big(index)),
                (
                    "leaf_hash",
                    s(hex::encode(
                        log.leaf_hash_at(index).map_err(|e| e.to_string())?,
                    )),
                ),
                ("root", s(hex::encode(prefix_root(size)?))),
                ("proof", hex_list(&proof)),
            ]);
            mutate(&mut obj, inputs)?;
            let result = verify_inclusion(
                u64_field(&obj, "leaf_index")?,
                u64_field(&obj, "tree_size")?,
                &hex_hash(str_field(&obj, "leaf_hash")?)?,
                &hashes(&obj, "proof")?,
                &hex_hash(str_field(&obj, "root")?)?,
            );
            finish(obj, result)
        }
        "consistency" => {
            let (size1, size2) = (u64_field(inputs, "size1")?, u64_field(inputs, "size2")?);
            let proof = log
                .consistency_proof(size1, size2)
                .map_err(|e| e.to_string())?;
            let mut obj = object([
                ("type", s("consistency")),
                ("size1", big(size1)),
                ("size2", big(size2)),
                ("root1", s(hex::encode(prefix_root(size1)?))),
                ("root2", s(hex::encode(prefix_root(size2)?))),
                ("proof", hex_list(&proof)),
            ]);
            mutate(&mut obj, inputs)?;
            let result = verify_consistency(
                u64_field(&obj, "size1")?,
                u64_field(&obj, "size2")?,
                &hex_hash(str_field(&obj, "root1")?)?,
                &hex_hash(str_field(&obj, "root2")?)?,
                &hashes(&obj, "proof")?,
            );
            finish(obj, result)
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

fn finish(obj: Value, result: Result<(), ProofError>) -> Result<Derived, String> {
    match result {
        Ok(()) => {
            let len = array_field(&obj, "proof")?.len();
            if len > merkle::MAX_PROOF_LEN {
                return Err("proof longer than MAX_PROOF_LEN".into());
            }
            Ok(Derived::Ok {
                object: obj,
                expected: object([("verifies", Value::Bool(true))]),
            })
        }
        Err(e) => Ok(rejected(obj, &e)),
    }
}
