//! talos-did: discovery-record validation, one by one and in batches (goal ≥ 30 000 records/s
//! on one core), decoding, decoding and validating together, and the Sybil puzzle (hash rate,
//! solving at difficulty 16, verify).
//!
//! Run: `cargo bench -p talos-benches --bench did`. Throughputs are records (or hashes) per
//! second. Solving at the default difficulty takes 2^(DEFAULT_DIFFICULTY - 16) times the
//! `solve/16` time on average.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code, not library code

use core::hint::black_box;
use core::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use talos_crypto::{SigningKey, Timestamp, x25519};
use talos_did::puzzle;
use talos_did::record::{
    DiscoveryRecord, ML_KEM_768_KEY_LEN, OneTimePrekey, Policy, PqPrekey, Prekeys, RecordFields,
    SignedPrekey, validate_batch,
};

const NOW: u64 = 1_768_178_601_000;

/// The shapes benchmarked: the typical record has three addresses, four tools, 20 one-time
/// prekeys and a puzzle solution (the policy requires difficulty 8); `pq` adds an ML-KEM-768
/// prekey (a third signature); `max-opks` carries 100 one-time prekeys.
#[derive(Clone, Copy)]
enum Shape {
    Typical,
    Pq,
    MaxOpks,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Self::Typical => "typical",
            Self::Pq => "pq",
            Self::MaxOpks => "max-opks",
        }
    }
}

fn record(seed: u32, shape: Shape) -> DiscoveryRecord {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&seed.to_le_bytes());
    let identity = SigningKey::from_seed(&bytes);
    let opks = match shape {
        Shape::MaxOpks => 100,
        _ => 20,
    };
    let fields = RecordFields {
        seq: u64::from(seed),
        issued_at: Timestamp::from_millis(NOW),
        expires_at: Timestamp::from_millis(NOW + 3_600_000),
        addresses: vec![
            "/ip4/203.0.113.7/tcp/4001".into(),
            "/ip4/203.0.113.7/udp/4001/quic-v1".into(),
            "/ip6/2001:db8::7/tcp/4001".into(),
        ],
        tools: ["search", "fetch_page", "summarize", "translate"]
            .map(String::from)
            .to_vec(),
        prekeys: Prekeys {
            signed: SignedPrekey::sign(&identity, 1, x25519::PublicKey::from_bytes([1; 32])),
            one_time: (0..opks)
                .map(|id| OneTimePrekey {
                    id,
                    key: x25519::PublicKey::from_bytes([id as u8; 32]),
                })
                .collect(),
            pq: matches!(shape, Shape::Pq)
                .then(|| PqPrekey::sign(&identity, 2, Box::new([3; ML_KEM_768_KEY_LEN]))),
        },
        puzzle_nonce: puzzle::solve(&identity.verifying_key(), 8, 0, u64::MAX),
    };
    DiscoveryRecord::sign(fields, &identity).unwrap()
}

fn records(c: &mut Criterion) {
    let now = Timestamp::from_millis(NOW);
    let mut policy = Policy::default();
    policy.set_puzzle_difficulty(Some(8));
    for shape in [Shape::Typical, Shape::Pq, Shape::MaxOpks] {
        let batch: Vec<DiscoveryRecord> = (0..256).map(|i| record(i, shape)).collect();
        let one = &batch[0];
        let cbor = one.to_cbor();
        let json = one.to_json();
        let mut g = c.benchmark_group(format!("did/record/{}", shape.name()));
        g.throughput(Throughput::Elements(1));
        g.bench_function("validate", |b| {
            b.iter(|| black_box(one).validate(now, &policy).unwrap())
        });
        g.bench_function("from_cbor", |b| {
            b.iter(|| DiscoveryRecord::from_cbor(black_box(&cbor)).unwrap())
        });
        g.bench_function("from_json", |b| {
            b.iter(|| DiscoveryRecord::from_json(black_box(&json)).unwrap())
        });
        g.bench_function("to_cbor", |b| b.iter(|| black_box(one).to_cbor()));
        for n in [64, 256] {
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(format!("validate_batch/{n}"), |b| {
                b.iter(|| {
                    let verdicts = validate_batch(black_box(&batch[..n]), now, &policy);
                    assert!(verdicts.iter().all(Result::is_ok));
                })
            });
        }
        // What a node does with records fetched from the DHT: decode, then validate.
        let wire: Vec<Vec<u8>> = batch.iter().map(DiscoveryRecord::to_cbor).collect();
        g.throughput(Throughput::Elements(wire.len() as u64));
        g.bench_function(format!("from_cbor+validate_batch/{}", wire.len()), |b| {
            b.iter(|| {
                let decoded: Vec<DiscoveryRecord> = wire
                    .iter()
                    .map(|w| DiscoveryRecord::from_cbor(black_box(w)).unwrap())
                    .collect();
                let verdicts = validate_batch(&decoded, now, &policy);
                assert!(verdicts.iter().all(Result::is_ok));
            })
        });
        g.finish();
        println!(
            "did/record/{}: {} bytes canonical JSON, {} bytes CBOR",
            shape.name(),
            json.len(),
            cbor.len()
        );
    }
}

fn puzzles(c: &mut Criterion) {
    let key = SigningKey::from_seed(&[9; 32]).verifying_key();
    let mut g = c.benchmark_group("did/puzzle");
    // Raw hash rate: 2^16 tries at a difficulty no nonce meets.
    g.throughput(Throughput::Elements(1 << 16));
    g.bench_function("hashes", |b| {
        b.iter(|| assert_eq!(puzzle::solve(black_box(&key), 256, 0, 1 << 16), None))
    });
    // Solving at difficulty 16: successive solutions from one stream of nonces, so the mean
    // over many iterations is the mean of the geometric distribution, 2^16 hashes.
    g.throughput(Throughput::Elements(1));
    let mut next = 0u64;
    g.bench_function("solve/16", |b| {
        b.iter(|| {
            let nonce = puzzle::solve(&key, 16, next, u64::MAX).unwrap();
            next = nonce + 1;
            nonce
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| puzzle::verify(black_box(&key), black_box(12345), 16))
    });
    g.finish();
}

/// Settings for a small (2-core, shared) machine; `solve/16` needs the longer measurement to
/// average enough solutions.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = records, puzzles
}
criterion_main!(benches);
