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
//! sha2, blake3) for the talos-crypto pairs; for the talos-ratchet pairs it is vodozemac (Olm)
//! or two raw X25519 agreements, named on the line before each result. Before timing, each
//! pair's outputs are checked to be equal (the ratchet pairs check a round trip). Run with
//! `cargo run --release -p talos-benches --bin compare`; it takes about a minute.

// Benchmark code, not library code: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::time::Instant;

use talos_benches::acl::{CachedSessions, acl_pairs};
use talos_benches::crypto_pairs;
use talos_benches::ratchet::ratchet_pairs;

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

fn main() {
    let start = Instant::now();
    println!(
        "talos-crypto vs direct calls: {ROUNDS} rounds of ~{} ms per side, median ns/op",
        ROUND_TARGET.as_millis()
    );
    for mut pair in crypto_pairs() {
        let name = format!("{}/{}", pair.group, pair.name);
        compare(&name, &mut pair.ours, &mut pair.direct);
    }
    println!("talos-ratchet vs vodozemac (Olm) and raw X25519");
    for mut pair in ratchet_pairs() {
        let name = format!("{}/{}", pair.group, pair.name);
        println!("{name}: peer is {}", pair.peer);
        compare(&name, &mut pair.ours, &mut pair.direct);
    }
    println!("talos-acl vs biscuit-auth and one Ed25519 verification");
    for mut pair in acl_pairs() {
        let name = format!("{}/{}", pair.group, pair.name);
        println!("{name}: peer is {}", pair.peer);
        compare(&name, &mut pair.ours, &mut pair.direct);
    }
    cached_decisions();
    println!("total {:.1} s", start.elapsed().as_secs_f64());
}

/// `authorize_fast` over 100 sessions of 20 scope items: decisions per second on this thread
/// (the median of [`ROUNDS`] rounds), and the 50th/99th/99.9th percentiles of single decisions
/// timed one by one. A single timing includes reading the clock twice, so the percentiles are
/// upper bounds; the clock's own cost is printed beside them.
fn cached_decisions() {
    let mut sessions = CachedSessions::new();
    let mut i = 0usize;
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let n = 2_000_000usize;
        let start = Instant::now();
        let mut allowed = 0usize;
        for _ in 0..n {
            allowed += usize::from(sessions.decide(i));
            i = i.wrapping_add(1);
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert_eq!(allowed, n);
        rates.push(n as f64 / elapsed);
    }
    let (rate, q1, q3) = quartiles(rates);
    let mut single = Vec::with_capacity(1_000_000);
    let mut clock = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let t = Instant::now();
        let allowed = sessions.decide(i);
        single.push(t.elapsed().as_nanos() as f64);
        assert!(allowed);
        i = i.wrapping_add(1);
        let t = Instant::now();
        clock.push(t.elapsed().as_nanos() as f64);
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    let (p50, p99, p999) = (
        pct(&mut single, 0.50),
        pct(&mut single, 0.99),
        pct(&mut single, 0.999),
    );
    let (c50, c99) = (pct(&mut clock, 0.50), pct(&mut clock, 0.99));
    println!(
        "acl/authorize_fast 100 sessions x 20 scopes: {:.2} M decisions/s [IQR {:.2}-{:.2}] \
         (median of {ROUNDS} rounds of 2M); one decision timed alone: p50 {p50:.0} ns, p99 {p99:.0} ns, \
         p99.9 {p999:.0} ns (clock alone: p50 {c50:.0} ns, p99 {c99:.0} ns)",
        rate / 1e6,
        q1 / 1e6,
        q3 / 1e6
    );
}
