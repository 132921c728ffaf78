//! talos-acl: the cached decision (`authorize_fast`, 100 sessions × 20 scope items; goal ≥ 10
//! million decisions/s on one core), the cold path of a fresh token (parse + verify +
//! authorize; goal ≤ 1.2× one Ed25519 verify) and of a 3-link delegation chain with batch
//! verification (goal ≤ 2× one verify), one Ed25519 verify for reference, and biscuit-auth's
//! verify + authorize of an equivalent token (1 and 3 blocks).
//!
//! Run: `cargo bench -p talos-benches --bench acl`; `compare` prints the ratios and the
//! cached decision's percentiles.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code, not library code

use core::hint::black_box;
use core::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use talos_acl::revocation::RevocationSet;
use talos_acl::token::CapabilityToken;
use talos_benches::acl::{
    CachedSessions, EXP, NOW, SCOPES, SESSIONS, chain, cold, cold_chain, identity, key_ring,
    root_token,
};
use talos_benches::acl_peer;

fn cached(c: &mut Criterion) {
    let mut sessions = CachedSessions::new();
    let mut g = c.benchmark_group(format!(
        "acl/authorize_fast {SESSIONS} sessions x {SCOPES} scopes"
    ));
    const BATCH: usize = 2000;
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut i = 0usize;
    g.bench_function("decisions", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                assert!(sessions.decide(black_box(i)));
                i = i.wrapping_add(1);
            }
        });
    });
    g.finish();
}

fn cold_paths(c: &mut Criterion) {
    let revoked = RevocationSet::default();
    let token = root_token();
    let (alice, _) = identity(1);
    let alice_pk = alice.verifying_key();
    let links = chain(3);
    let ring = key_ring();
    let message = CapabilityToken::from_json(&token)
        .unwrap()
        .signing_bytes()
        .to_vec();
    let signature = alice.sign(&message);
    let peer = acl_peer::token("filesystem", &["read", "write"], EXP, 1);
    let peer_chain = acl_peer::token("filesystem", &["read", "write"], EXP, 3);

    let mut g = c.benchmark_group("acl/cold");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ed25519 verify (reference)", |b| {
        b.iter(|| alice_pk.verify(black_box(&message), &signature).unwrap());
    });
    g.bench_function("token: parse+verify+authorize (key given)", |b| {
        b.iter(|| assert!(cold(black_box(&token), Some(&alice_pk), &revoked)));
    });
    g.bench_function("token: parse+verify+authorize (did:key)", |b| {
        b.iter(|| assert!(cold(black_box(&token), None, &revoked)));
    });
    g.bench_function(
        "3-link chain: parse+batch verify+authorize (key ring)",
        |b| {
            b.iter(|| assert!(cold_chain(black_box(&links), &ring, &revoked)));
        },
    );
    g.bench_function("biscuit 1 block: verify+authorize", |b| {
        b.iter(|| {
            assert!(acl_peer::verify_authorize(
                black_box(&peer),
                "filesystem",
                "read",
                NOW
            ))
        });
    });
    g.bench_function("biscuit 3 blocks: verify+authorize", |b| {
        b.iter(|| {
            assert!(acl_peer::verify_authorize(
                black_box(&peer_chain),
                "filesystem",
                "read",
                NOW
            ));
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = cached, cold_paths
}
criterion_main!(benches);
