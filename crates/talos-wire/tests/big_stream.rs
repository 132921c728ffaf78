//! A 2 GiB video (the largest object allowed) chunked and reassembled without ever being in
//! memory: peak resident memory of the whole test process stays under 64 MiB.
//!
//! Alone in its file, so `VmHWM` measures this test only. Run it with
//! `cargo test -p talos-wire --release --test big_stream -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Instant;

use talos_wire::MessageId;
use talos_wire::chunk::{ChunkOutcome, Chunker, MediaType, Reassembler, Sink, StreamStart};

const MIB: u64 = 1024 * 1024;
const SIZE: u64 = 2048 * MIB;
const MP4_HEADER: &[u8] = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2";

/// The synthetic video: a BLAKE3 output stream (fast even in a debug build, where the
/// dependency is optimised) with an MP4 header, produced one chunk at a time from any position.
struct Source(blake3::OutputReader);

impl Source {
    fn new() -> Self {
        Self(
            blake3::Hasher::new()
                .update(b"talos big stream")
                .finalize_xof(),
        )
    }

    /// Fills `buf` with the object's bytes starting at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) {
        self.0.set_position(offset);
        self.0.fill(buf);
        if offset == 0 {
            buf[..MP4_HEADER.len()].copy_from_slice(MP4_HEADER);
        }
    }
}

/// A sink that keeps nothing: it hashes what it is given, which must come in order.
struct HashingSink {
    hasher: blake3::Hasher,
    next: u64,
}

impl Sink for HashingSink {
    type Error = String;

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), String> {
        if offset != self.next {
            return Err(format!("write at {offset}, expected {}", self.next));
        }
        self.hasher.update(data);
        self.next += data.len() as u64;
        Ok(())
    }
}

fn peak_resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "2 GB: run by .ci/run with --ignored"]
fn two_gib_video_streams_in_bounded_memory() {
    let began = Instant::now();
    let id: MessageId = "0190a5e0-7c3a-7000-8000-00000000b16b".parse().unwrap();
    let mut source = Source::new();
    let mut buf = vec![0u8; MIB as usize];

    // Sender, pass 1: type the object from its first bytes, hash it chunk by chunk.
    source.read_at(0, &mut buf[..8192]);
    let mut chunker = Chunker::new(id, SIZE, &buf[..8192], Some("big.mp4"), None).unwrap();
    assert_eq!(
        (chunker.media(), chunker.mime(), chunker.total()),
        (MediaType::Video, "video/mp4", 2048)
    );
    let mut offset = 0u64;
    while let Some(len) = chunker.next_len() {
        source.read_at(offset, &mut buf[..len]);
        chunker.handle_chunk(&buf[..len]).unwrap();
        offset += len as u64;
    }
    let manifest = chunker.finish().unwrap();
    let hashed = began.elapsed();

    // The announcement crosses the wire.
    let start = StreamStart::from_cbor(&manifest.start().to_cbor()).unwrap();
    assert_eq!(start.size(), SIZE);

    // Pass 2: send every chunk, holding back the last ten and repeating every 97th.
    let mut rx = Reassembler::new(
        &start,
        HashingSink {
            hasher: blake3::Hasher::new(),
            next: 0,
        },
    );
    let mut send = |sequence: u32, rx: &mut Reassembler<HashingSink>| {
        let (info, range) = (
            manifest.info(sequence).unwrap(),
            start.chunk_range(sequence).unwrap(),
        );
        let data = &mut buf[..(range.end - range.start) as usize];
        source.read_at(range.start, data);
        rx.handle_chunk(&info, data).unwrap()
    };
    for sequence in 0..2038 {
        assert_eq!(send(sequence, &mut rx), ChunkOutcome::Accepted);
        if sequence % 97 == 0 {
            assert_eq!(send(sequence, &mut rx), ChunkOutcome::Duplicate);
        }
    }
    // A reconnect: the receiver says what is missing, the sender resends only that.
    assert_eq!(rx.missing_ranges().collect::<Vec<_>>(), vec![2038..2048]);
    assert_eq!(rx.progress(), (2038 * MIB, SIZE));
    for sequence in rx.missing().collect::<Vec<_>>() {
        assert_eq!(send(sequence, &mut rx), ChunkOutcome::Accepted);
    }
    assert!(rx.is_complete());
    let sink = rx.finish().unwrap();
    assert_eq!(sink.next, SIZE);
    assert_eq!(sink.hasher.finalize().as_bytes(), start.hash());

    let peak = peak_resident_kib();
    eprintln!(
        "2 GiB: hashed in {:.1?}, total {:.1?}, VmHWM {} KiB",
        hashed,
        began.elapsed(),
        peak
    );
    assert!(peak < 64 * 1024, "peak resident memory {peak} KiB");
}
