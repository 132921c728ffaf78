//! Criterion benchmarks of every `talos-crypto` operation beside a direct call of the crate
//! underneath it doing the same work, in the same group, so each pair is reported side by side.
//!
//! Ids are `<group>/<operation>[/<size>]/<who>`, where `<who>` is `talos` for our wrapper and
//! the underlying crate's name (`dalek`, `chacha20poly1305`, `hkdf`, `sha2`, `blake3`) for the
//! direct call. Keys, ciphers and inputs are built outside the timed closures.
//!
//! Run: `cargo bench -p talos-benches --bench crypto` (add `-- --quick` for a short run, or
//! `-- --plotting-backend plotters` for HTML reports in `target/criterion/`).

// Benchmark code, not library code: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::hint::black_box;
use core::time::Duration;

use chacha20poly1305::KeyInit as _;
use chacha20poly1305::aead::{Aead as _, Payload};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::Signer as _;
use sha2::Digest as _;
use talos_benches::{
    AEAD_AAD, AEAD_NONCE, BATCH_SIZE, BatchInputs, HKDF_INFO, KIB, MIB, SIGN_MESSAGE_LEN,
    random_array, random_bytes, rng,
};

fn ed25519(c: &mut Criterion) {
    let mut rng = rng(1);
    let seed: [u8; 32] = random_array(&mut rng);
    let message = random_bytes(&mut rng, SIGN_MESSAGE_LEN);
    let ours = talos_crypto::SigningKey::from_seed(&seed);
    let theirs = ed25519_dalek::SigningKey::from_bytes(&seed);
    let our_vk = ours.verifying_key();
    let their_vk = theirs.verifying_key();
    let our_sig = ours.sign(&message);
    let their_sig = theirs.sign(&message);
    assert_eq!(our_sig.to_bytes(), their_sig.to_bytes());
    let batch = BatchInputs::new(BATCH_SIZE, &mut rng);
    let batch_messages = batch.message_refs();

    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign/talos", |b| b.iter(|| ours.sign(black_box(&message))));
    g.bench_function("sign/dalek", |b| {
        b.iter(|| theirs.sign(black_box(&message)))
    });
    g.bench_function("verify/talos", |b| {
        b.iter(|| {
            our_vk
                .verify(black_box(&message), black_box(&our_sig))
                .is_ok()
        })
    });
    g.bench_function("verify/dalek", |b| {
        b.iter(|| {
            their_vk
                .verify_strict(black_box(&message), black_box(&their_sig))
                .is_ok()
        })
    });
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    g.bench_function("verify_batch64/talos", |b| {
        b.iter(|| {
            talos_crypto::verify_batch(
                black_box(&batch_messages),
                black_box(&batch.talos_signatures),
                black_box(&batch.talos_keys),
            )
            .is_ok()
        })
    });
    g.bench_function("verify_batch64/dalek", |b| {
        b.iter(|| {
            ed25519_dalek::verify_batch(
                black_box(&batch_messages),
                black_box(&batch.dalek_signatures),
                black_box(&batch.dalek_keys),
            )
            .is_ok()
        })
    });
    g.finish();
}

fn aead(c: &mut Criterion) {
    let mut rng = rng(2);
    let key: [u8; 32] = random_array(&mut rng);
    let ours = talos_crypto::aead::ChaCha20Poly1305::new(&key);
    let theirs = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
    let nonce = chacha20poly1305::Nonce::from(AEAD_NONCE);

    let mut g = c.benchmark_group("aead");
    for (label, len) in [("1KiB", KIB), ("64KiB", 64 * KIB)] {
        let plaintext = random_bytes(&mut rng, len);
        let sealed = ours.seal(&AEAD_NONCE, AEAD_AAD, &plaintext).unwrap();
        let payload = Payload {
            msg: &plaintext,
            aad: AEAD_AAD,
        };
        assert_eq!(sealed, theirs.encrypt(&nonce, payload).unwrap());

        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("seal/{label}/talos"), |b| {
            b.iter(|| {
                ours.seal(
                    black_box(&AEAD_NONCE),
                    black_box(AEAD_AAD),
                    black_box(&plaintext),
                )
            })
        });
        g.bench_function(format!("seal/{label}/chacha20poly1305"), |b| {
            b.iter(|| {
                let payload = Payload {
                    msg: black_box(&plaintext),
                    aad: black_box(AEAD_AAD),
                };
                theirs.encrypt(black_box(&nonce), payload)
            })
        });
        g.bench_function(format!("open/{label}/talos"), |b| {
            b.iter(|| {
                ours.open(
                    black_box(&AEAD_NONCE),
                    black_box(AEAD_AAD),
                    black_box(&sealed),
                )
            })
        });
        g.bench_function(format!("open/{label}/chacha20poly1305"), |b| {
            b.iter(|| {
                let payload = Payload {
                    msg: black_box(&sealed),
                    aad: black_box(AEAD_AAD),
                };
                theirs.decrypt(black_box(&nonce), payload)
            })
        });
    }
    g.finish();
}

fn hkdf(c: &mut Criterion) {
    let mut rng = rng(3);
    let ikm: [u8; 32] = random_array(&mut rng);
    let salt: [u8; 32] = random_array(&mut rng);

    let mut g = c.benchmark_group("hkdf");
    g.throughput(Throughput::Elements(1));
    // One closure per output length: `okm` is a stack array of that length.
    macro_rules! pair {
        ($len:literal) => {{
            let mut a = [0u8; $len];
            let mut b = [0u8; $len];
            talos_crypto::hash::hkdf_sha256(Some(&salt), &ikm, HKDF_INFO, &mut a).unwrap();
            hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), &ikm)
                .expand(HKDF_INFO, &mut b)
                .unwrap();
            assert_eq!(a, b);
            g.bench_function(concat!("sha256_", $len, "B/talos"), |bench| {
                bench.iter(|| {
                    let mut okm = [0u8; $len];
                    talos_crypto::hash::hkdf_sha256(
                        Some(black_box(&salt)),
                        black_box(&ikm),
                        black_box(HKDF_INFO),
                        &mut okm,
                    )
                    .map(|()| okm)
                })
            });
            g.bench_function(concat!("sha256_", $len, "B/hkdf"), |bench| {
                bench.iter(|| {
                    let mut okm = [0u8; $len];
                    hkdf::Hkdf::<sha2::Sha256>::new(Some(black_box(&salt)), black_box(&ikm))
                        .expand(black_box(HKDF_INFO), &mut okm)
                        .map(|()| okm)
                })
            });
        }};
    }
    pair!(32);
    pair!(64);
    g.finish();
}

fn hash(c: &mut Criterion) {
    let mut rng = rng(4);
    let mut g = c.benchmark_group("hash");
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

        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("sha256/{label}/talos"), |b| {
            b.iter(|| talos_crypto::hash::sha256(black_box(&data)))
        });
        g.bench_function(format!("sha256/{label}/sha2"), |b| {
            b.iter(|| sha2::Sha256::digest(black_box(&data)))
        });
        g.bench_function(format!("blake3/{label}/talos"), |b| {
            b.iter(|| talos_crypto::hash::blake3(black_box(&data)))
        });
        g.bench_function(format!("blake3/{label}/blake3"), |b| {
            b.iter(|| blake3::hash(black_box(&data)))
        });
    }
    g.finish();
}

/// Settings for a small (2-core, shared) machine: the whole bench takes about two minutes.
///
/// Plots are off because rendering them (plotters, no gnuplot here) more than doubled the run
/// time; pass `--plotting-backend plotters` after `--` to get the HTML reports back.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = ed25519, aead, hkdf, hash
}
criterion_main!(benches);
