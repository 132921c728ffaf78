//! Benchmarks for the Talos crates; see `benches/`.
