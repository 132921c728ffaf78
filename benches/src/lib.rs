//! Benchmarks for the Talos crates (not published).
//!
//! This library holds the pairs of operations (ours beside a direct call of the crate under
//! it) that both the criterion bench (`benches/crypto.rs`) and the `compare` binary
//! (`src/bin/compare.rs`) time, so both measure exactly the same work.
//! Every input comes from a seeded `ChaCha20Rng`: runs are reproducible, and nothing here
//! reads OS randomness. See `README.md` for what is measured and how to run it.

// Benchmark code, not library code: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::hint::black_box;

use chacha20poly1305::KeyInit as _;
use chacha20poly1305::aead::{Aead as _, Payload};
use criterion::Throughput;
use ed25519_dalek::Signer as _;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng as _};
use sha2::Digest as _;

pub mod acl;
pub mod acl_peer;
pub mod ratchet;

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

/// One operation done twice: through talos-crypto, and by a direct call of the crate under it.
/// Inputs are prepared, and both sides' outputs checked equal, when the pair is built.
pub struct Pair {
    /// The group, e.g. `aead`.
    pub group: &'static str,
    /// The operation within the group, e.g. `seal/1KiB`.
    pub name: String,
    /// The crate the direct call goes to, e.g. `chacha20poly1305`.
    pub peer: &'static str,
    /// What one call processes.
    pub work: Throughput,
    /// Our side.
    pub ours: Box<dyn FnMut()>,
    /// The direct call.
    pub direct: Box<dyn FnMut()>,
}

impl core::fmt::Debug for Pair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pair({}/{} vs {})", self.group, self.name, self.peer)
    }
}

impl Pair {
    fn new(
        group: &'static str,
        name: impl Into<String>,
        peer: &'static str,
        work: Throughput,
        ours: impl FnMut() + 'static,
        direct: impl FnMut() + 'static,
    ) -> Self {
        Self {
            group,
            name: name.into(),
            peer,
            work,
            ours: Box::new(ours),
            direct: Box::new(direct),
        }
    }
}

/// Every talos-crypto pair: Ed25519 sign, verify and batch verify of 64; ChaCha20-Poly1305
/// seal and open at 1 KiB and 64 KiB; HKDF-SHA256 to 32 and 64 bytes; SHA-256 and BLAKE3 at
/// 1 KiB and 1 MiB.
#[must_use]
pub fn crypto_pairs() -> Vec<Pair> {
    let mut pairs = ed25519_pairs();
    pairs.extend(aead_pairs());
    pairs.extend(hkdf_pairs());
    pairs.extend(hash_pairs());
    pairs
}

fn ed25519_pairs() -> Vec<Pair> {
    let mut rng = rng(1);
    let seed: [u8; 32] = random_array(&mut rng);
    let message = random_bytes(&mut rng, SIGN_MESSAGE_LEN);
    let ours = talos_crypto::SigningKey::from_seed(&seed);
    let theirs = ed25519_dalek::SigningKey::from_bytes(&seed);
    let (our_vk, their_vk) = (ours.verifying_key(), theirs.verifying_key());
    let (our_sig, their_sig) = (ours.sign(&message), theirs.sign(&message));
    assert_eq!(our_sig.to_bytes(), their_sig.to_bytes());
    // Leaked so both closures can hold the batch and the message slices that borrow from it.
    let batch: &'static BatchInputs = Box::leak(Box::new(BatchInputs::new(BATCH_SIZE, &mut rng)));
    let messages: &'static [&'static [u8]] = Box::leak(batch.message_refs().into_boxed_slice());
    assert!(
        talos_crypto::verify_batch(messages, &batch.talos_signatures, &batch.talos_keys).is_ok()
    );
    assert!(
        ed25519_dalek::verify_batch(messages, &batch.dalek_signatures, &batch.dalek_keys).is_ok()
    );
    let (m1, m2, m3, m4) = (message.clone(), message.clone(), message.clone(), message);
    vec![
        Pair::new(
            "ed25519",
            "sign",
            "dalek",
            Throughput::Elements(1),
            move || {
                black_box(ours.sign(black_box(&m1)));
            },
            move || {
                black_box(theirs.sign(black_box(&m2)));
            },
        ),
        Pair::new(
            "ed25519",
            "verify",
            "dalek",
            Throughput::Elements(1),
            move || {
                black_box(our_vk.verify(black_box(&m3), black_box(&our_sig)).is_ok());
            },
            move || {
                black_box(
                    their_vk
                        .verify_strict(black_box(&m4), black_box(&their_sig))
                        .is_ok(),
                );
            },
        ),
        Pair::new(
            "ed25519",
            "verify_batch64",
            "dalek",
            Throughput::Elements(BATCH_SIZE as u64),
            move || {
                black_box(
                    talos_crypto::verify_batch(
                        black_box(messages),
                        black_box(&batch.talos_signatures),
                        black_box(&batch.talos_keys),
                    )
                    .is_ok(),
                );
            },
            move || {
                black_box(
                    ed25519_dalek::verify_batch(
                        black_box(messages),
                        black_box(&batch.dalek_signatures),
                        black_box(&batch.dalek_keys),
                    )
                    .is_ok(),
                );
            },
        ),
    ]
}

fn aead_pairs() -> Vec<Pair> {
    let mut rng = rng(2);
    let key: [u8; 32] = random_array(&mut rng);
    let nonce = chacha20poly1305::Nonce::from(AEAD_NONCE);
    let mut pairs = Vec::new();
    for (label, len) in [("1KiB", KIB), ("64KiB", 64 * KIB)] {
        let ours = talos_crypto::aead::ChaCha20Poly1305::new(&key);
        let theirs = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        let plaintext = random_bytes(&mut rng, len);
        let sealed = ours.seal(&AEAD_NONCE, AEAD_AAD, &plaintext).unwrap();
        let payload = Payload {
            msg: &plaintext,
            aad: AEAD_AAD,
        };
        assert_eq!(sealed, theirs.encrypt(&nonce, payload).unwrap());
        let payload = Payload {
            msg: &sealed,
            aad: AEAD_AAD,
        };
        assert_eq!(theirs.decrypt(&nonce, payload).unwrap(), plaintext);
        assert_eq!(
            ours.open(&AEAD_NONCE, AEAD_AAD, &sealed).unwrap(),
            plaintext
        );

        let (o1, o2, t1, t2) = (ours.clone(), ours, theirs.clone(), theirs);
        let (p1, p2, s1, s2) = (plaintext.clone(), plaintext, sealed.clone(), sealed);
        pairs.push(Pair::new(
            "aead",
            format!("seal/{label}"),
            "chacha20poly1305",
            Throughput::Bytes(len as u64),
            move || {
                black_box(o1.seal(black_box(&AEAD_NONCE), black_box(AEAD_AAD), black_box(&p1)))
                    .unwrap();
            },
            move || {
                let payload = Payload {
                    msg: black_box(&p2),
                    aad: black_box(AEAD_AAD),
                };
                black_box(t1.encrypt(black_box(&nonce), payload)).unwrap();
            },
        ));
        pairs.push(Pair::new(
            "aead",
            format!("open/{label}"),
            "chacha20poly1305",
            Throughput::Bytes(len as u64),
            move || {
                black_box(o2.open(black_box(&AEAD_NONCE), black_box(AEAD_AAD), black_box(&s1)))
                    .unwrap();
            },
            move || {
                let payload = Payload {
                    msg: black_box(&s2),
                    aad: black_box(AEAD_AAD),
                };
                black_box(t2.decrypt(black_box(&nonce), payload)).unwrap();
            },
        ));
    }
    pairs
}

fn hkdf_pair<const N: usize>(salt: [u8; 32], ikm: [u8; 32]) -> Pair {
    let mut a = [0u8; N];
    let mut b = [0u8; N];
    talos_crypto::hash::hkdf_sha256(Some(&salt), &ikm, HKDF_INFO, &mut a).unwrap();
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), &ikm)
        .expand(HKDF_INFO, &mut b)
        .unwrap();
    assert_eq!(a, b);
    Pair::new(
        "hkdf",
        format!("sha256_{N}B"),
        "hkdf",
        Throughput::Elements(1),
        move || {
            let mut okm = [0u8; N];
            talos_crypto::hash::hkdf_sha256(
                Some(black_box(&salt)),
                black_box(&ikm),
                black_box(HKDF_INFO),
                &mut okm,
            )
            .unwrap();
            black_box(okm);
        },
        move || {
            let mut okm = [0u8; N];
            hkdf::Hkdf::<sha2::Sha256>::new(Some(black_box(&salt)), black_box(&ikm))
                .expand(black_box(HKDF_INFO), &mut okm)
                .unwrap();
            black_box(okm);
        },
    )
}

fn hkdf_pairs() -> Vec<Pair> {
    let mut rng = rng(3);
    let ikm: [u8; 32] = random_array(&mut rng);
    let salt: [u8; 32] = random_array(&mut rng);
    vec![hkdf_pair::<32>(salt, ikm), hkdf_pair::<64>(salt, ikm)]
}

fn hash_pairs() -> Vec<Pair> {
    let mut rng = rng(4);
    let mut pairs = Vec::new();
    for (label, len) in [("1KiB", KIB), ("1MiB", MIB)] {
        let data = random_bytes(&mut rng, len);
        assert_eq!(
            talos_crypto::hash::sha256(&data),
            <[u8; 32]>::from(sha2::Sha256::digest(&data))
        );
        assert_eq!(
            talos_crypto::hash::blake3(&data),
            *blake3::hash(&data).as_bytes()
        );
        let (d1, d2, d3, d4) = (data.clone(), data.clone(), data.clone(), data);
        pairs.push(Pair::new(
            "hash",
            format!("sha256/{label}"),
            "sha2",
            Throughput::Bytes(len as u64),
            move || {
                black_box(talos_crypto::hash::sha256(black_box(&d1)));
            },
            move || {
                black_box(sha2::Sha256::digest(black_box(&d2)));
            },
        ));
        pairs.push(Pair::new(
            "hash",
            format!("blake3/{label}"),
            "blake3",
            Throughput::Bytes(len as u64),
            move || {
                black_box(talos_crypto::hash::blake3(black_box(&d3)));
            },
            move || {
                black_box(blake3::hash(black_box(&d4)));
            },
        ));
    }
    pairs
}
