//! talos-ledger: appends to the in-memory Merkle log (goal ≥ 1 million 256-byte entries/s on
//! one core), inclusion and consistency proof generation + verification at 10 million entries
//! (goal ≤ 20 µs each), checkpoint signing and verification, and block validation (blocks of
//! 1 000 entries).
//!
//! Run: `cargo bench -p talos-benches --bench ledger`. Building the 10-million-entry log takes
//! a few seconds and about 700 MB of memory before the proof benchmarks start.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code, not library code

use core::hint::black_box;
use core::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use talos_benches::{random_bytes, rng};
use talos_crypto::{SigningKey, Timestamp};
use talos_ledger::block::{Block, Chain, ChainConfig, mine};
use talos_ledger::checkpoint::{Checkpoint, CheckpointSigner};
use talos_ledger::entry::{Body, Decision, Entry, ToolCall};
use talos_ledger::merkle::{self, MerkleLog};

/// Entries in the large log of the proof benchmarks.
const BIG: u64 = 10_000_000;
/// Length of one appended entry.
const ENTRY_LEN: usize = 256;

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("ledger/append");
    let entries: Vec<Vec<u8>> = {
        let mut rng = rng(1);
        (0..10_000)
            .map(|_| random_bytes(&mut rng, ENTRY_LEN))
            .collect()
    };
    g.throughput(Throughput::Elements(entries.len() as u64));
    g.bench_function("256B x 10000", |b| {
        b.iter_batched_ref(
            MerkleLog::new,
            |log| {
                for entry in &entries {
                    log.append(entry).unwrap();
                }
                black_box(log.root())
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let mut log = MerkleLog::new();
    for i in 0..BIG {
        log.append_leaf_hash(merkle::leaf_hash(&i.to_le_bytes()))
            .unwrap();
    }
    let root = log.root();
    let mut g = c.benchmark_group("ledger/proof at 10M");
    g.throughput(Throughput::Elements(1));
    // A fixed, well spread sequence of indices and sizes; each iteration takes the next.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |bound: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % bound
    };
    g.bench_function("inclusion generate+verify", |b| {
        b.iter(|| {
            let index = next(BIG);
            let proof = log.inclusion_proof(index, BIG).unwrap();
            let leaf = merkle::leaf_hash(&index.to_le_bytes());
            merkle::verify_inclusion(index, BIG, &leaf, &proof, &root).unwrap();
        });
    });
    // Old sizes near the end, as a client that checked in recently asks.
    let roots: Vec<(u64, merkle::Hash)> = (0..64)
        .map(|i| {
            let size = BIG - 1 - (i * 7919);
            (size, log.root_at(size).unwrap())
        })
        .collect();
    let mut i = 0usize;
    g.bench_function("consistency generate+verify", |b| {
        b.iter(|| {
            let (size1, root1) = roots[i % roots.len()];
            i += 1;
            let proof = log.consistency_proof(size1, BIG).unwrap();
            merkle::verify_consistency(size1, BIG, &root1, &root, &proof).unwrap();
        });
    });
    g.finish();
}

fn checkpoints(c: &mut Criterion) {
    let mut log = MerkleLog::new();
    for i in 0u64..1000 {
        log.append(&i.to_le_bytes()).unwrap();
    }
    let mut signer =
        CheckpointSigner::new("example.com/talos-bench", SigningKey::from_seed(&[7; 32])).unwrap();
    let verifier = signer.verifier();
    let checkpoint = Checkpoint::new(signer.origin(), log.size(), log.root()).unwrap();
    let mut g = c.benchmark_group("ledger/checkpoint");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| {
        b.iter(|| black_box(signer.sign(&checkpoint, &[]).unwrap()));
    });
    let signed = signer.sign(&checkpoint, &[]).unwrap().to_bytes();
    g.bench_function("open (parse + verify)", |b| {
        b.iter(|| black_box(Checkpoint::open(&signed, core::slice::from_ref(&verifier)).unwrap()));
    });
    g.finish();
}

/// Entries per benchmarked block.
const BLOCK_ENTRIES: usize = 1000;
const T0: u64 = 1_768_178_601_000;

/// A chain of a genesis, and a block of [`BLOCK_ENTRIES`] MCP tool-call entries (about 280
/// bytes each, hashes only) on it, not yet added.
fn chain_and_block() -> (Chain, Block) {
    let key = SigningKey::from_seed(&[3; 32]);
    let sender = talos_did::Did::from(key.verifying_key()).to_string();
    let mut config = ChainConfig::default();
    config.set_difficulty(0);
    let genesis = Block::genesis_candidate(
        &key.verifying_key(),
        Vec::new(),
        Timestamp::from_millis(T0),
        0,
    );
    let chain = Chain::new(config, mine(genesis, &key, 1).unwrap()).unwrap();
    let entries = (0..BLOCK_ENTRIES as u64)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            let call = ToolCall::new(
                "read_file",
                [1; 32],
                Some([2; 32]),
                Decision::Allow,
                "",
                850,
            )
            .unwrap();
            Entry::new(
                id,
                sender.as_str(),
                i,
                Timestamp::from_millis(T0 + i),
                Body::ToolCall(call),
            )
            .unwrap()
            .to_cbor()
        })
        .collect();
    let block = chain.candidate(
        &key.verifying_key(),
        entries,
        Timestamp::from_millis(T0 + 5_000),
    );
    (chain, mine(block, &key, 1).unwrap())
}

fn blocks(c: &mut Criterion) {
    let (chain, block) = chain_and_block();
    let bytes = block.to_cbor();
    let now = Timestamp::from_millis(T0 + 10_000);
    assert!(chain.validate(&block, now, None).is_valid());
    let mut g = c.benchmark_group(format!(
        "ledger/block of {BLOCK_ENTRIES} entries ({} bytes)",
        bytes.len()
    ));
    g.throughput(Throughput::Elements(BLOCK_ENTRIES as u64));
    g.bench_function("decode", |b| {
        b.iter(|| black_box(Block::from_cbor(&bytes).unwrap()))
    });
    g.bench_function("validate (5 layers)", |b| {
        b.iter(|| assert!(chain.validate(black_box(&block), now, None).is_valid()));
    });
    g.bench_function("decode + validate", |b| {
        b.iter(|| {
            let block = Block::from_cbor(black_box(&bytes)).unwrap();
            assert!(chain.validate(&block, now, None).is_valid());
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = append, checkpoints, blocks, proofs
}
criterion_main!(benches);
