//! Criterion benchmarks of `talos_wire::chunk`: chunking and hashing a 100 MiB object beside
//! a plain `blake3::hash` of the same bytes (the goal: within 10 %), and reassembling it into a
//! sink that discards the bytes (every chunk verified on arrival, the whole-object hash merged
//! at the end).
//!
//! Ids are `wire_chunk/<operation>/<chunk size>`; `hash/blake3` is the baseline.
//!
//! Run: `cargo bench -p talos-benches --bench wire_chunk` (add `-- --quick` for a short run).

// Benchmark code, not library code: a failed setup step should stop the run loudly.
#![allow(clippy::unwrap_used)]

use core::convert::Infallible;
use core::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use talos_wire::MessageId;
use talos_wire::chunk::{Chunker, MediaType, Reassembler, Sink, StreamStart};

const SIZE: usize = 100 * 1024 * 1024;
const CHUNK_SIZES: [u32; 3] = [64 * 1024, 256 * 1024, 1024 * 1024];

fn object() -> Vec<u8> {
    let mut data = vec![0u8; SIZE];
    blake3::Hasher::new()
        .update(b"wire_chunk bench")
        .finalize_xof()
        .fill(&mut data);
    data
}

fn id() -> MessageId {
    "0190a5e0-7c3a-7000-8000-000000000001".parse().unwrap()
}

/// Chunks `data` over slices (no copies) and returns the announcement and every chunk's info.
fn chunk(data: &[u8], chunk_size: u32) -> (StreamStart, Vec<talos_wire::chunk::ChunkInfo>) {
    let mut chunker = Chunker::with_media(
        id(),
        data.len() as u64,
        MediaType::Video,
        "video/mp4",
        None,
        Some(chunk_size),
    )
    .unwrap();
    let mut infos = Vec::with_capacity(chunker.total() as usize);
    let mut rest = data;
    while let Some(len) = chunker.next_len() {
        let (piece, tail) = rest.split_at(len);
        infos.push(chunker.handle_chunk(piece).unwrap());
        rest = tail;
    }
    (chunker.finish().unwrap().into_start(), infos)
}

/// Throws the bytes away.
struct Discard;

impl Sink for Discard {
    type Error = Infallible;

    fn write_at(&mut self, _offset: u64, data: &[u8]) -> Result<(), Infallible> {
        core::hint::black_box(data);
        Ok(())
    }
}

fn wire_chunk(c: &mut Criterion) {
    let data = object();
    let mut g = c.benchmark_group("wire_chunk");
    g.throughput(Throughput::Bytes(SIZE as u64));

    g.bench_function("hash/blake3", |b| b.iter(|| blake3::hash(&data)));
    for cs in CHUNK_SIZES {
        let (start, _) = chunk(&data, cs);
        assert_eq!(start.hash(), blake3::hash(&data).as_bytes());
        g.bench_with_input(BenchmarkId::new("chunk", cs), &cs, |b, &cs| {
            b.iter(|| chunk(&data, cs))
        });
    }
    for cs in CHUNK_SIZES {
        let (start, infos) = chunk(&data, cs);
        g.bench_with_input(BenchmarkId::new("reassemble", cs), &cs, |b, &cs| {
            b.iter(|| {
                let mut rx = Reassembler::new(&start, Discard);
                for (info, piece) in infos.iter().zip(data.chunks(cs as usize)) {
                    rx.handle_chunk(info, piece).unwrap();
                }
                rx.finish().unwrap()
            })
        });
    }
    g.finish();
}

/// Small settings, as in `crypto.rs`: one 100 MiB pass takes ~10-30 ms.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = wire_chunk
}
criterion_main!(benches);
