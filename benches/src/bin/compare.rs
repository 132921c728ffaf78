//! `compare`: times each `talos-crypto` operation against a direct call of the crate under it,
//! in one process, and prints the ratio.
//!
//! For every pair it calibrates an iteration count so one round takes about
//! [`ROUND_TARGET`], then runs [`ROUNDS`] rounds of each side, alternating which side goes
//! first, and reports the median of the per-round ns/op, the interquartile range of the
//! rounds as a measure of noise, and, as a cross-check that is less sensitive to load
//! changing during the run, the median of the ratios of adjacent (paired) rounds. The `ratio`
//! line is the ratio of the two medians. Output, per pair:
//!
//! ```text
//! <name>: ours 1234.5 ns/op [IQR 1230.1-1240.0], peer 1200.0 ns/op [IQR 1195.2-1210.7] \
//!   (median of 41 rounds x 100 iters; median of paired-round ratios 1.028)
//! ratio <name> ours/peer = 1.03
//! ```
//!
//! "peer" is the direct call of the underlying crate (ed25519-dalek, chacha20poly1305, hkdf,
//! sha2, blake3). Before timing, each pair's outputs are checked to be equal. Run with
//! `cargo run --release -p talos-benches --bin compare`; it takes well under a minute.

// Benchmark code, not library code: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::hint::black_box;
use core::time::Duration;
use std::time::Instant;

use chacha20poly1305::KeyInit as _;
use chacha20poly1305::aead::{Aead as _, Payload};
use ed25519_dalek::Signer as _;
use sha2::Digest as _;
use talos_benches::{
    AEAD_AAD, AEAD_NONCE, BATCH_SIZE, BatchInputs, HKDF_INFO, KIB, MIB, SIGN_MESSAGE_LEN,
    random_array, random_bytes, rng,
};

/// Rounds per side; the median is reported. Many short rounds, interleaved, keep each pair
/// of adjacent rounds under the same machine load.
const ROUNDS: usize = 41;
/// Wall time one round aims for.
const ROUND_TARGET: Duration = Duration::from_millis(20);

/// ns/op of `iters` calls of `f`.
fn round(iters: u64, f: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// Iterations for one round of about [`ROUND_TARGET`], from the mean cost of the two sides.
fn calibrate(ours: &mut impl FnMut(), peer: &mut impl FnMut()) -> u64 {
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            ours();
            peer();
        }
        let elapsed = start.elapsed();
        if elapsed >= Duration::from_millis(10) || iters >= 1 << 30 {
            // `elapsed` covers both sides: scale to one side's round.
            let per_pair = elapsed.as_nanos() as f64 / iters as f64;
            let target = ROUND_TARGET.as_nanos() as f64 / (per_pair / 2.0);
            return (target as u64).max(1);
        }
        iters *= 2;
    }
}

/// Median, first and third quartile of `v` (not empty).
fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (v[n / 2], v[n / 4], v[(3 * n) / 4])
}

/// Times `ours` against `peer` and prints the two medians and their ratio.
fn compare(name: &str, mut ours: impl FnMut(), mut peer: impl FnMut()) {
    // Warm up caches, branch predictors and the CPU clock on both sides.
    let warm_until = Instant::now() + Duration::from_millis(50);
    while Instant::now() < warm_until {
        ours();
        peer();
    }
    let iters = calibrate(&mut ours, &mut peer);
    let mut our_ns = Vec::with_capacity(ROUNDS);
    let mut peer_ns = Vec::with_capacity(ROUNDS);
    let mut paired = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        // Alternate the order so neither side always runs right after the other.
        if r % 2 == 0 {
            our_ns.push(round(iters, &mut ours));
            peer_ns.push(round(iters, &mut peer));
        } else {
            peer_ns.push(round(iters, &mut peer));
            our_ns.push(round(iters, &mut ours));
        }
        paired.push(our_ns[r] / peer_ns[r]);
    }
    let (paired, _, _) = quartiles(paired);
    let ((o, o25, o75), (p, p25, p75)) = (quartiles(our_ns), quartiles(peer_ns));
    println!(
        "{name}: ours {o:.1} ns/op [IQR {o25:.1}-{o75:.1}], peer {p:.1} ns/op [IQR {p25:.1}-{p75:.1}] \
         (median of {ROUNDS} rounds x {iters} iters; median of paired-round ratios {paired:.3})"
    );
    println!("ratio {name} ours/peer = {:.2}", o / p);
}

fn ed25519() {
    let mut rng = rng(1);
    let seed: [u8; 32] = random_array(&mut rng);
    let message = random_bytes(&mut rng, SIGN_MESSAGE_LEN);
    let ours = talos_crypto::SigningKey::from_seed(&seed);
    let theirs = ed25519_dalek::SigningKey::from_bytes(&seed);
    let (our_vk, their_vk) = (ours.verifying_key(), theirs.verifying_key());
    let (our_sig, their_sig) = (ours.sign(&message), theirs.sign(&message));
    assert_eq!(our_sig.to_bytes(), their_sig.to_bytes());

    compare(
        "ed25519/sign",
        || {
            black_box(ours.sign(black_box(&message)));
        },
        || {
            black_box(theirs.sign(black_box(&message)));
        },
    );
    compare(
        "ed25519/verify",
        || {
            black_box(
                our_vk
                    .verify(black_box(&message), black_box(&our_sig))
                    .is_ok(),
            );
        },
        || {
            black_box(
                their_vk
                    .verify_strict(black_box(&message), black_box(&their_sig))
                    .is_ok(),
            );
        },
    );

    let batch = BatchInputs::new(BATCH_SIZE, &mut rng);
    let messages = batch.message_refs();
    assert!(
        talos_crypto::verify_batch(&messages, &batch.talos_signatures, &batch.talos_keys).is_ok()
    );
    assert!(
        ed25519_dalek::verify_batch(&messages, &batch.dalek_signatures, &batch.dalek_keys).is_ok()
    );
    compare(
        "ed25519/verify_batch64",
        || {
            black_box(
                talos_crypto::verify_batch(
                    black_box(&messages),
                    black_box(&batch.talos_signatures),
                    black_box(&batch.talos_keys),
                )
                .is_ok(),
            );
        },
        || {
            black_box(
                ed25519_dalek::verify_batch(
                    black_box(&messages),
                    black_box(&batch.dalek_signatures),
                    black_box(&batch.dalek_keys),
                )
                .is_ok(),
            );
        },
    );
}

fn aead() {
    let mut rng = rng(2);
    let key: [u8; 32] = random_array(&mut rng);
    let ours = talos_crypto::aead::ChaCha20Poly1305::new(&key);
    let theirs = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
    let nonce = chacha20poly1305::Nonce::from(AEAD_NONCE);
    for (label, len) in [("1KiB", KIB), ("64KiB", 64 * KIB)] {
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

        compare(
            &format!("aead/seal/{label}"),
            || {
                black_box(ours.seal(
                    black_box(&AEAD_NONCE),
                    black_box(AEAD_AAD),
                    black_box(&plaintext),
                ))
                .unwrap();
            },
            || {
                let payload = Payload {
                    msg: black_box(&plaintext),
                    aad: black_box(AEAD_AAD),
                };
                black_box(theirs.encrypt(black_box(&nonce), payload)).unwrap();
            },
        );
        compare(
            &format!("aead/open/{label}"),
            || {
                black_box(ours.open(
                    black_box(&AEAD_NONCE),
                    black_box(AEAD_AAD),
                    black_box(&sealed),
                ))
                .unwrap();
            },
            || {
                let payload = Payload {
                    msg: black_box(&sealed),
                    aad: black_box(AEAD_AAD),
                };
                black_box(theirs.decrypt(black_box(&nonce), payload)).unwrap();
            },
        );
    }
}

fn hkdf_pair<const N: usize>(salt: &[u8; 32], ikm: &[u8; 32]) {
    let mut a = [0u8; N];
    let mut b = [0u8; N];
    talos_crypto::hash::hkdf_sha256(Some(salt), ikm, HKDF_INFO, &mut a).unwrap();
    hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm)
        .expand(HKDF_INFO, &mut b)
        .unwrap();
    assert_eq!(a, b);
    compare(
        &format!("hkdf/sha256_{N}B"),
        || {
            let mut okm = [0u8; N];
            talos_crypto::hash::hkdf_sha256(
                Some(black_box(salt)),
                black_box(ikm),
                black_box(HKDF_INFO),
                &mut okm,
            )
            .unwrap();
            black_box(okm);
        },
        || {
            let mut okm = [0u8; N];
            hkdf::Hkdf::<sha2::Sha256>::new(Some(black_box(salt)), black_box(ikm))
                .expand(black_box(HKDF_INFO), &mut okm)
                .unwrap();
            black_box(okm);
        },
    );
}

fn hkdf() {
    let mut rng = rng(3);
    let ikm: [u8; 32] = random_array(&mut rng);
    let salt: [u8; 32] = random_array(&mut rng);
    hkdf_pair::<32>(&salt, &ikm);
    hkdf_pair::<64>(&salt, &ikm);
}

fn hash() {
    let mut rng = rng(4);
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
        compare(
            &format!("hash/sha256/{label}"),
            || {
                black_box(talos_crypto::hash::sha256(black_box(&data)));
            },
            || {
                black_box(sha2::Sha256::digest(black_box(&data)));
            },
        );
        compare(
            &format!("hash/blake3/{label}"),
            || {
                black_box(talos_crypto::hash::blake3(black_box(&data)));
            },
            || {
                black_box(blake3::hash(black_box(&data)));
            },
        );
    }
}

fn main() {
    let start = Instant::now();
    println!(
        "talos-crypto vs direct calls: {ROUNDS} rounds of ~{} ms per side, median ns/op",
        ROUND_TARGET.as_millis()
    );
    ed25519();
    aead();
    hkdf();
    hash();
    println!("total {:.1} s", start.elapsed().as_secs_f64());
}
