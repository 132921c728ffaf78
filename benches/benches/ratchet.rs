//! talos-ratchet: messages with and without a DH turn (beside vodozemac), receiving a message
//! 1 000 ahead, X3DH and PQXDH session start, sender-key group messages, snapshot size and
//! restore.
//!
//! Run: `cargo bench -p talos-benches --bench ratchet`. The ours-vs-vodozemac ratios come
//! from `cargo run --release -p talos-benches --bin compare`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code, not library code

use core::hint::black_box;
use core::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use talos_benches::ratchet::{ratchet_pairs, talos_pair};
use talos_benches::{KIB, random_array, rng};
use talos_crypto::{SigningKey, Timestamp};
use talos_ratchet::group::{GroupConfig, GroupId, GroupSession, MemberId};
use talos_ratchet::prekeys::PrekeyStore;
use talos_ratchet::session::Session;
use talos_ratchet::snapshot::SessionSnapshot;
use talos_ratchet::{pqxdh, x3dh};

fn pairs(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratchet");
    for mut pair in ratchet_pairs() {
        g.throughput(pair.work.clone());
        g.bench_function(format!("{}/talos", pair.name), |b| b.iter(&mut pair.ours));
        g.bench_function(format!("{}/{}", pair.name, pair.peer), |b| {
            b.iter(&mut pair.direct)
        });
    }
    g.finish();
}

/// Bob receives Alice's message 1 001, 1 000 after the last one he read: he derives and
/// stores 1 000 skipped keys, then opens it. Each iteration starts from the same snapshot.
fn skip(c: &mut Criterion) {
    let (mut alice, bob) = talos_pair(50);
    let mut rng = rng(51);
    let mut last = None;
    for _ in 0..=1000 {
        last = Some(alice.encrypt(b"x", &mut rng).unwrap());
    }
    let last = last.unwrap();
    let start = bob.snapshot();
    c.bench_function("ratchet/receive-1000-ahead", |b| {
        b.iter_batched(
            || Session::restore(&start),
            |mut bob| {
                black_box(bob.decrypt(&last).unwrap());
                bob
            },
            BatchSize::SmallInput,
        )
    });
}

/// A full session start: Alice's side (verify the bundle, agree, first ratchet key, first
/// message) and Bob's (agree, decrypt the first message, consume the one-time prekey), with
/// X3DH and with PQXDH (ML-KEM-768).
fn handshakes(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratchet/start");
    for pq in [false, true] {
        let name = if pq { "pqxdh" } else { "x3dh" };
        let mut setup = rng(60);
        let mut store =
            PrekeyStore::new(SigningKey::from_seed(&random_array(&mut setup)), &mut setup);
        if pq {
            store
                .rotate_pq_prekey(Timestamp::from_millis(0), &mut setup)
                .unwrap();
        }
        let opk = store.generate_one_time_prekeys(1, &mut setup).unwrap()[0].id;
        let bundle = store.bundle(Some(opk)).unwrap();
        let stored = store.to_snapshot();
        let alice_id = SigningKey::from_seed(&random_array(&mut setup));
        let mut rng = rng(61);
        let start = |rng: &mut rand_chacha::ChaCha20Rng| {
            let (mut alice, header) = if pq {
                pqxdh::initiate(&alice_id, &bundle, rng).unwrap()
            } else {
                x3dh::initiate(&alice_id, &bundle, rng).unwrap()
            };
            let first = alice.encrypt(b"hello", rng).unwrap();
            header.wrap(first)
        };
        g.bench_function(format!("{name}/initiator"), |b| b.iter(|| start(&mut rng)));
        let initial = start(&mut rng);
        g.bench_function(format!("{name}/responder"), |b| {
            b.iter_batched(
                || PrekeyStore::from_snapshot(&stored).unwrap(),
                |mut store| black_box(x3dh::respond(&mut store, &initial).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A 1 KiB group message from one of four members: encrypt (derive, seal, sign) and decrypt
/// (verify, derive, open).
fn group(c: &mut Criterion) {
    let mut setup = rng(70);
    let group = GroupId::random(&mut setup);
    let ids: Vec<MemberId> = (0..4u8).map(|i| MemberId::from_bytes([i; 32])).collect();
    let mut members: Vec<GroupSession> = ids
        .iter()
        .map(|id| GroupSession::new(GroupConfig::default(), group, *id, 0, &mut setup))
        .collect();
    let mut distributions = Vec::new();
    for (i, member) in members.iter_mut().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                distributions.push((j, ids[i], member.add_member(*id).unwrap()));
            }
        }
    }
    for (to, from, distribution) in distributions {
        members[to]
            .handle_distribution(&from, &distribution)
            .unwrap();
    }
    let plaintext = vec![7u8; KIB];
    let (sender, receivers) = members.split_at_mut(1);
    let sender = &mut sender[0];
    let receiver = &mut receivers[0];
    let mut g = c.benchmark_group("ratchet/group");
    g.bench_function("encrypt+decrypt/1KiB", |b| {
        b.iter(|| {
            let message = sender.encrypt(black_box(&plaintext)).unwrap();
            black_box(receiver.decrypt(&message).unwrap());
        })
    });
    g.bench_function("encrypt/1KiB", |b| {
        b.iter(|| black_box(sender.encrypt(black_box(&plaintext)).unwrap()))
    });
    g.finish();
}

/// Snapshot and restore of a session that holds 100 skipped keys.
fn snapshots(c: &mut Criterion) {
    let (mut alice, mut bob) = talos_pair(80);
    let mut rng = rng(81);
    let mut last = None;
    for _ in 0..=100 {
        last = Some(alice.encrypt(b"x", &mut rng).unwrap());
    }
    bob.decrypt(&last.unwrap()).unwrap();
    let bytes = bob.snapshot().to_bytes();
    let (fresh_alice, _) = talos_pair(82);
    let fresh = fresh_alice.snapshot().to_bytes();
    println!(
        "ratchet/snapshot: {} bytes for a session with 100 skipped keys, {} bytes for a fresh one",
        bytes.len(),
        fresh.len()
    );
    let mut g = c.benchmark_group("ratchet/snapshot");
    g.bench_function("to_bytes/100-skipped", |b| {
        b.iter(|| black_box(bob.snapshot().to_bytes()))
    });
    g.bench_function("restore/100-skipped", |b| {
        b.iter(|| Session::restore(&SessionSnapshot::from_bytes(black_box(&bytes)).unwrap()))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = pairs, skip, handshakes, group, snapshots
}
criterion_main!(benches);
