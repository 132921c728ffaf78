//! Merkle proof verification from arbitrary input: `verify_inclusion` and `verify_consistency`
//! never panic on any index, sizes, hashes and path; proofs generated from a small log built
//! from the input verify, and the same proof with one flipped bit fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_ledger::merkle::{Hash, MerkleLog, verify_consistency, verify_inclusion};

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    // 1. Arbitrary verifier input.
    let (a, b) = (u64_at(data, 0), u64_at(data, 8));
    let hashes: Vec<Hash> = data
        .get(16..)
        .unwrap_or(&[])
        .chunks_exact(32)
        .take(70)
        .map(|c| c.try_into().unwrap())
        .collect();
    if let Some((first, rest)) = hashes.split_first() {
        let root = rest.first().copied().unwrap_or(*first);
        let _ = verify_inclusion(a, b, first, rest, &root);
        let _ = verify_consistency(a, b, first, &root, rest);
        let _ = verify_inclusion(a % 300, b % 300, first, rest, &root);
        let _ = verify_consistency(a % 300, b % 300, first, &root, rest);
    }

    // 2. Proofs from a small log built from the input.
    let n = 1 + (b % 300);
    let mut log = MerkleLog::new();
    for i in 0..n {
        let byte = data
            .get(i as usize % data.len().max(1))
            .copied()
            .unwrap_or(0);
        log.append(&[byte, i as u8, (i >> 8) as u8]).unwrap();
    }
    let size = 1 + (a % n);
    let index = u64_at(data, 4) % size;
    let root = log.root_at(size).unwrap();
    let leaf = log.leaf_hash_at(index).unwrap();
    let mut proof = log.inclusion_proof(index, size).unwrap();
    verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
    let bit = u64_at(data, 2) as usize;
    if !proof.is_empty() {
        let i = bit % proof.len();
        proof[i][(bit / 8) % 32] ^= 1 << (bit % 8);
        assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_err());
    }
    let mut con = log.consistency_proof(size, n).unwrap();
    verify_consistency(size, n, &root, &log.root(), &con).unwrap();
    if !con.is_empty() {
        let i = bit % con.len();
        con[i][(bit / 8) % 32] ^= 1 << (bit % 8);
        assert!(verify_consistency(size, n, &root, &log.root(), &con).is_err());
    }
});
