//! Sybil puzzles: solutions verify, the work budget is respected, random nonces mostly fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use talos_crypto::{SigningKey, VerifyingKey};
use talos_did::puzzle::{self, DEFAULT_DIFFICULTY, NONCE_LEN};

fn key(seed: [u8; 32]) -> VerifyingKey {
    SigningKey::from_seed(&seed).verifying_key()
}

#[test]
fn hash_is_blake3_of_key_and_little_endian_nonce() {
    let pk = key([1; 32]);
    let nonce = 0x1122_3344_5566_7788_u64;
    let mut input = pk.to_bytes().to_vec();
    input.extend_from_slice(&[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    assert_eq!(input.len(), 32 + NONCE_LEN);
    assert_eq!(puzzle::hash(&pk, nonce), *blake3::hash(&input).as_bytes());
}

#[test]
fn known_solution() {
    // The first solution from nonce 0 at difficulty 8 for the key of seed [1; 32]; the same
    // case is in test-vectors/did/puzzle.json.
    let pk = key([1; 32]);
    let nonce = puzzle::solve(&pk, 8, 0, 1 << 20).unwrap();
    assert!(puzzle::hash(&pk, nonce)[0] == 0);
    assert!((0..nonce).all(|n| puzzle::hash(&pk, n)[0] != 0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A solution verifies at its difficulty and every lower one, and is the first one from
    /// the start nonce.
    #[test]
    fn solutions_verify(seed in any::<[u8; 32]>(), difficulty in 0u32..=10, start in any::<u64>()) {
        let pk = key(seed);
        let start = start >> 1; // room to search without reaching u64::MAX
        let nonce = puzzle::solve(&pk, difficulty, start, 1 << 20).unwrap();
        prop_assert!(puzzle::verify(&pk, nonce, difficulty));
        prop_assert!(puzzle::leading_zero_bits(&puzzle::hash(&pk, nonce)) >= difficulty);
        for lower in 0..difficulty {
            prop_assert!(puzzle::verify(&pk, nonce, lower));
        }
        for earlier in start..nonce {
            prop_assert!(!puzzle::verify(&pk, earlier, difficulty));
        }
    }

    /// `solve` tries exactly `[start, start + budget)`: it finds the first solution when that
    /// lies inside, nothing otherwise, and the caller resumes where it stopped.
    #[test]
    fn the_budget_is_respected(
        seed in any::<[u8; 32]>(),
        difficulty in 4u32..=10,
        budget in 0u64..2048,
    ) {
        let pk = key(seed);
        let first = puzzle::solve(&pk, difficulty, 0, 1 << 24).unwrap();
        let found = puzzle::solve(&pk, difficulty, 0, budget);
        prop_assert_eq!(found, (first < budget).then_some(first));
        if found.is_none() {
            prop_assert_eq!(puzzle::solve(&pk, difficulty, budget, 1 << 24), Some(first));
        }
    }

    /// Random nonces at difficulty 16 almost never verify (chance 2^-16 each).
    #[test]
    fn random_nonces_mostly_fail(
        seed in any::<[u8; 32]>(),
        nonces in prop::collection::vec(any::<u64>(), 256),
    ) {
        let pk = key(seed);
        let passing = nonces.iter().filter(|&&n| puzzle::verify(&pk, n, 16)).count();
        prop_assert!(passing <= 2, "{} of 256", passing);
        // At difficulty 1 about half pass.
        let half = nonces.iter().filter(|&&n| puzzle::verify(&pk, n, 1)).count();
        prop_assert!((64..=192).contains(&half), "{} of 256", half);
    }
}

#[test]
fn random_nonces_fail_at_the_default_difficulty() {
    let pk = key([5; 32]);
    let passing = (0..100_000u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .filter(|&n| puzzle::verify(&pk, n, DEFAULT_DIFFICULTY))
        .count();
    assert_eq!(passing, 0);
}
