//! Benchmarks for the Talos crates (not published).
//!
//! This library only holds the inputs shared by the criterion bench (`benches/crypto.rs`)
//! and the `compare` binary (`src/bin/compare.rs`), so both measure exactly the same work.
//! Every input comes from a seeded `ChaCha20Rng`: runs are reproducible, and nothing here
//! reads OS randomness. See `README.md` for what is measured and how to run it.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng as _};

/// One KiB.
pub const KIB: usize = 1024;
/// One MiB.
pub const MIB: usize = 1024 * KIB;

/// Length of the message signed and verified by the Ed25519 benchmarks.
pub const SIGN_MESSAGE_LEN: usize = 64;
/// Number of signatures in the batch-verification benchmark.
pub const BATCH_SIZE: usize = 64;
/// The `info` string of the HKDF benchmarks.
pub const HKDF_INFO: &[u8] = b"talos bench hkdf v1";
/// The associated data of the AEAD benchmarks.
pub const AEAD_AAD: &[u8] = b"talos bench header";
/// The nonce of the AEAD benchmarks (reused on purpose: this is a benchmark, not a protocol).
pub const AEAD_NONCE: [u8; 12] = [7; 12];

/// A deterministic RNG for benchmark inputs; `stream` separates independent uses.
#[must_use]
pub fn rng(stream: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0x7a1f_05be_7c00_0000 ^ stream)
}

/// `len` pseudo-random bytes from `rng`.
#[must_use]
pub fn random_bytes(rng: &mut ChaCha20Rng, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rng.fill_bytes(&mut out);
    out
}

/// `N` pseudo-random bytes from `rng`.
#[must_use]
pub fn random_array<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// A batch of valid signatures, each by its own key over its own message, as both our
/// types and ed25519-dalek's (same seeds, so the same keys and signatures).
#[derive(Debug)]
pub struct BatchInputs {
    /// The signed messages, [`SIGN_MESSAGE_LEN`] bytes each.
    pub messages: Vec<Vec<u8>>,
    /// Our verifying keys.
    pub talos_keys: Vec<talos_crypto::VerifyingKey>,
    /// Our signatures.
    pub talos_signatures: Vec<talos_crypto::Signature>,
    /// The same keys as ed25519-dalek values.
    pub dalek_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// The same signatures as ed25519-dalek values.
    pub dalek_signatures: Vec<ed25519_dalek::Signature>,
}

impl BatchInputs {
    /// `n` signatures from keys and messages drawn from `rng`.
    #[must_use]
    pub fn new(n: usize, rng: &mut ChaCha20Rng) -> Self {
        use ed25519_dalek::Signer as _;

        let mut inputs = Self {
            messages: Vec::with_capacity(n),
            talos_keys: Vec::with_capacity(n),
            talos_signatures: Vec::with_capacity(n),
            dalek_keys: Vec::with_capacity(n),
            dalek_signatures: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let seed: [u8; 32] = random_array(rng);
            let message = random_bytes(rng, SIGN_MESSAGE_LEN);
            let ours = talos_crypto::SigningKey::from_seed(&seed);
            let theirs = ed25519_dalek::SigningKey::from_bytes(&seed);
            inputs.talos_keys.push(ours.verifying_key());
            inputs.talos_signatures.push(ours.sign(&message));
            inputs.dalek_keys.push(theirs.verifying_key());
            inputs.dalek_signatures.push(theirs.sign(&message));
            inputs.messages.push(message);
        }
        inputs
    }

    /// The messages as the `&[&[u8]]` both batch verifiers take.
    #[must_use]
    pub fn message_refs(&self) -> Vec<&[u8]> {
        self.messages.iter().map(Vec::as_slice).collect()
    }
}
