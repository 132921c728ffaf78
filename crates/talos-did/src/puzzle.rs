//! Sybil puzzles (S/Kademlia's crypto puzzle, seed 004): proof of work bound to an identity key.
//!
//! A **solution** for the Ed25519 identity key `pk` at **difficulty** `D` is a nonce `n` (a
//! `u64`) such that
//!
//! ```text
//! BLAKE3(pk ‖ le64(n))          40 bytes in: the 32-byte key, then n as 8 little-endian bytes
//! ```
//!
//! begins with at least `D` zero bits, counted from the most significant bit of the first
//! output byte. Checking a solution is one hash ([`verify`]); finding one takes 2^D hashes on
//! average (the number of tries is geometric: a quarter of solvers need more than 1.39 × 2^D,
//! one in a hundred more than 4.6 × 2^D). The puzzle depends only on the key, so an identity
//! pays once and puts the same nonce in every discovery record it publishes
//! ([`RecordFields::puzzle_nonce`](crate::record::RecordFields::puzzle_nonce)); in the JSON and
//! CBOR forms the nonce travels as its 8 little-endian bytes.
//!
//! Difficulty 0 accepts any nonce; a difficulty above 256 accepts none.
//!
//! **Sans-IO.** [`solve`] tries at most a caller-chosen number of nonces and returns, so the
//! caller decides how long to work between yields:
//!
//! ```
//! use talos_crypto::SigningKey;
//! use talos_did::puzzle;
//!
//! let key = SigningKey::from_seed(&[1; 32]).verifying_key();
//! let difficulty = 12;
//! let mut next = 0;
//! let nonce = loop {
//!     // 1 000 hashes (well under a millisecond) per step; a node would yield here.
//!     if let Some(nonce) = puzzle::solve(&key, difficulty, next, 1_000) {
//!         break nonce;
//!     }
//!     next += 1_000;
//! };
//! assert!(puzzle::verify(&key, nonce, difficulty));
//! assert!(puzzle::leading_zero_bits(&puzzle::hash(&key, nonce)) >= difficulty);
//! ```
//!
//! # The default difficulty
//!
//! [`DEFAULT_DIFFICULTY`] is chosen so that solving takes about one second on one core. On the
//! reference machine (a 2-core x86-64 VM, AMD EPYC; release build, thin LTO) [`solve`] runs at
//! 12.0 million hashes per second, 83 ns per hash (`cargo bench -p talos-benches --bench did`,
//! `did/puzzle/hashes`; a quick 2 × 10^7-hash release run gave 11.9 million), so
//! D = round(log2(12.0 × 10^6 × 1 s)) = round(23.52) = 24: 2^24 ≈ 16.8 million hashes, 1.4 s on
//! average (`did/puzzle/solve/16` × 2^8). Each bit more doubles the cost, each bit less halves
//! it. A network chooses its difficulty in
//! [`Policy::set_puzzle_difficulty`](crate::record::Policy::set_puzzle_difficulty); all of its
//! nodes must use the same value.

use talos_crypto::VerifyingKey;
use talos_crypto::hash::{HASH_LEN, blake3};

/// Length of the encoded nonce: a `u64`, little-endian.
pub const NONCE_LEN: usize = 8;

/// The difficulty at which solving takes about one second on one core of the reference machine
/// (see the [module docs](self) for the measurement): 2^24 ≈ 16.8 million hashes, 1.4 s on
/// average.
pub const DEFAULT_DIFFICULTY: u32 = 24;

/// The largest difficulty a nonce can meet: every bit of the 256-bit hash is zero.
pub const MAX_DIFFICULTY: u32 = 256;

/// `BLAKE3(pk ‖ le64(nonce))`: the hash whose leading zero bits [`verify`] counts.
#[must_use]
pub fn hash(key: &VerifyingKey, nonce: u64) -> [u8; HASH_LEN] {
    blake3(&input(key, nonce))
}

/// The number of leading zero bits of `hash`, most significant bit of the first byte first
/// (0 to 256).
#[must_use]
pub fn leading_zero_bits(hash: &[u8; HASH_LEN]) -> u32 {
    let mut bits = 0;
    for &byte in hash {
        bits += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    bits
}

/// Whether `nonce` solves the puzzle of `key` at `difficulty`: one hash.
#[must_use]
pub fn verify(key: &VerifyingKey, nonce: u64, difficulty: u32) -> bool {
    difficulty == 0 || leading_zero_bits(&hash(key, nonce)) >= difficulty
}

/// Tries the nonces `start_nonce`, `start_nonce + 1`, … — at most `budget` of them, and never
/// past `u64::MAX - 1` — and returns the first that solves the puzzle of `key` at
/// `difficulty`, or `None` if none of them does. Continue with `start_nonce + budget`.
///
/// The work is `budget` hashes at most; pick it so that one call takes as long as you are
/// willing to block (a hash costs about 83 ns on the reference machine).
#[must_use]
pub fn solve(key: &VerifyingKey, difficulty: u32, start_nonce: u64, budget: u64) -> Option<u64> {
    if difficulty > MAX_DIFFICULTY {
        return None;
    }
    let mut input = input(key, start_nonce);
    for nonce in start_nonce..start_nonce.saturating_add(budget) {
        input[32..].copy_from_slice(&nonce.to_le_bytes());
        if leading_zero_bits(&blake3(&input)) >= difficulty {
            return Some(nonce);
        }
    }
    None
}

fn input(key: &VerifyingKey, nonce: u64) -> [u8; 32 + NONCE_LEN] {
    let mut input = [0u8; 32 + NONCE_LEN];
    input[..32].copy_from_slice(key.as_bytes());
    input[32..].copy_from_slice(&nonce.to_le_bytes());
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leading_zero_bits() {
        let mut h = [0u8; 32];
        assert_eq!(leading_zero_bits(&h), 256);
        h[31] = 1;
        assert_eq!(leading_zero_bits(&h), 255);
        h[0] = 0x80;
        assert_eq!(leading_zero_bits(&h), 0);
        h[0] = 0x01;
        assert_eq!(leading_zero_bits(&h), 7);
        h[0] = 0;
        h[1] = 0x10;
        assert_eq!(leading_zero_bits(&h), 11);
    }

    #[test]
    fn hash_input_is_key_then_little_endian_nonce() {
        let key = talos_crypto::SigningKey::from_seed(&[2; 32]).verifying_key();
        let mut input = key.to_bytes().to_vec();
        input.extend_from_slice(&[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
        assert_eq!(hash(&key, 0x0102_0304_0506_0708), blake3(&input));
    }

    #[test]
    fn edges() {
        let key = talos_crypto::SigningKey::from_seed(&[3; 32]).verifying_key();
        assert!(verify(&key, 12345, 0));
        assert_eq!(solve(&key, 0, 77, 1), Some(77));
        assert_eq!(solve(&key, 0, 77, 0), None);
        assert_eq!(solve(&key, 257, 0, 10), None);
        assert!(!verify(&key, 0, 257));
        // Never wraps: the last nonce tried is u64::MAX - 1.
        assert_eq!(solve(&key, 0, u64::MAX, 10), None);
        assert_eq!(solve(&key, 0, u64::MAX - 1, 10), Some(u64::MAX - 1));
    }
}
