//! Criterion benchmarks of every `talos-crypto` operation beside a direct call of the crate
//! underneath it doing the same work, in the same group, so each pair is reported side by side.
//!
//! Ids are `<group>/<operation>[/<size>]/<who>`, where `<who>` is `talos` for our wrapper and
//! the underlying crate's name (`dalek`, `chacha20poly1305`, `hkdf`, `sha2`, `blake3`) for the
//! direct call. The pairs, their inputs and the check that both sides agree are in the
//! library (`talos_benches::crypto_pairs`), shared with the `compare` binary.
//!
//! Run: `cargo bench -p talos-benches --bench crypto` (add `-- --quick` for a short run, or
//! `-- --plotting-backend plotters` for HTML reports in `target/criterion/`).

use core::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use talos_benches::crypto_pairs;

fn crypto(c: &mut Criterion) {
    let mut pairs = crypto_pairs();
    let mut groups: Vec<&'static str> = pairs.iter().map(|p| p.group).collect();
    groups.dedup();
    for group in groups {
        let mut g = c.benchmark_group(group);
        for pair in pairs.iter_mut().filter(|p| p.group == group) {
            g.throughput(pair.work.clone());
            g.bench_function(format!("{}/talos", pair.name), |b| b.iter(|| (pair.ours)()));
            g.bench_function(format!("{}/{}", pair.name, pair.peer), |b| {
                b.iter(|| (pair.direct)())
            });
        }
        g.finish();
    }
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
    targets = crypto
}
criterion_main!(benches);
