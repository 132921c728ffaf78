//! `talos_wire::chunk`: a reassembler for a fixed 10 000-byte object (ten 1 KiB chunks, the
//! last one short) fed any sequence of genuine, damaged, misplaced, forged and made-up chunks
//! never panics, keeps its counters consistent, and finishes exactly when it holds the object;
//! `StreamStart::from_cbor` / `from_json` take any bytes, and what they accept round-trips.
//!
//! Input: a mode byte. Mode 0: the rest is a `STREAM_START` to decode. Otherwise the rest is
//! a list of 5-byte operations `[flags, sequence, a, b, c]` (see `chunk_for`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use talos_wire::MessageId;
use talos_wire::chunk::{
    Chunk, ChunkInfo, ChunkOutcome, Reassembler, ReassemblyError, StreamStart, VecSink, chunk_all,
};

const SIZE: usize = 10_000;
const CHUNK: u32 = 1024;

struct Fixture {
    object: Vec<u8>,
    start: StreamStart,
    chunks: Vec<Chunk>,
    /// The same object with byte 4500 changed, chunked alike: chunk 4 is a forgery whose
    /// chunk hash is right for its bytes.
    forged: Vec<Chunk>,
}

fn id(n: u8) -> MessageId {
    format!("0190a5e0-7c3a-7000-8000-0000000000{n:02x}")
        .parse()
        .unwrap()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let object: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
        let (start, chunks) = chunk_all(id(1), &object, None, Some(CHUNK)).unwrap();
        let mut other = object.clone();
        other[4500] ^= 0x5a;
        let (_, forged) = chunk_all(id(1), &other, None, Some(CHUNK)).unwrap();
        Fixture {
            object,
            start,
            chunks,
            forged,
        }
    })
}

/// One chunk to deliver. `flags`: bit 0 flips data bit `b`/`c`, bit 1 flips a hash bit, bit 2
/// takes another stream id, bit 3 a wrong total, bit 4 the forged chunk 4, bit 5 truncates the
/// data by `a` bytes, bit 6 appends `a` bytes, bit 7 uses `a` as a high sequence byte.
fn chunk_for(op: &[u8; 5], f: &Fixture) -> (ChunkInfo, Vec<u8>) {
    let [flags, sequence, a, b, c] = *op;
    let base = &f.chunks[usize::from(sequence) % f.chunks.len()];
    let source = if flags & 0x10 != 0 && base.info.sequence == 4 {
        &f.forged[4]
    } else {
        base
    };
    let (mut info, mut data) = (source.info, source.data.clone());
    info.sequence = u32::from(sequence % 12); // 10 and 11 are beyond the total
    if flags & 0x80 != 0 {
        info.sequence |= u32::from(a) << 24;
    }
    if flags & 0x01 != 0 && !data.is_empty() {
        let at = (usize::from(b) * 7 + usize::from(c)) % data.len();
        data[at] ^= 1 << (c % 8);
    }
    if flags & 0x02 != 0 {
        info.hash[usize::from(b) % 32] ^= 1 << (c % 8);
    }
    if flags & 0x04 != 0 {
        info.stream_id = id(2);
    }
    if flags & 0x08 != 0 {
        info.total = info.total.wrapping_add(u32::from(c) + 1);
    }
    if flags & 0x20 != 0 {
        data.truncate(data.len().saturating_sub(usize::from(a)));
    }
    if flags & 0x40 != 0 {
        data.extend(std::iter::repeat_n(b, usize::from(a)));
    }
    (info, data)
}

fn stream_start(data: &[u8]) {
    if let Ok(start) = StreamStart::from_cbor(data) {
        assert_eq!(start.to_cbor(), data, "accepted non-deterministic CBOR");
        assert_eq!(
            StreamStart::from_json(&start.to_json()).as_ref(),
            Ok(&start)
        );
        exercise(&start);
    }
    if let Ok(start) = StreamStart::from_json(data) {
        assert_eq!(
            StreamStart::from_json(&start.to_json()).as_ref(),
            Ok(&start)
        );
        assert_eq!(
            StreamStart::from_cbor(&start.to_cbor()).as_ref(),
            Ok(&start)
        );
        exercise(&start);
    }
}

/// Any valid announcement: its last chunk, at the longest offset, is checked without a panic.
fn exercise(start: &StreamStart) {
    let last = start.total() - 1;
    let range = start.chunk_range(last).unwrap();
    let data = vec![0u8; (range.end - range.start) as usize];
    let info = ChunkInfo {
        stream_id: start.stream_id(),
        sequence: last,
        total: start.total(),
        hash: [0; 32],
    };
    let mut rx = Reassembler::new(start, VecSink::new(start.size()));
    let _ = rx.handle_chunk(&info, &data);
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    if mode == 0 {
        stream_start(rest);
        return;
    }
    let f = fixture();
    let mut rx = Reassembler::new(&f.start, VecSink::new(SIZE as u64));
    let mut accepted = 0u32;
    for op in rest.chunks_exact(5) {
        let op: &[u8; 5] = op.try_into().unwrap();
        let (info, data) = chunk_for(op, f);
        let state = |rx: &Reassembler<VecSink>| {
            (
                rx.progress(),
                rx.missing().collect::<Vec<_>>(),
                rx.sink().as_bytes().to_vec(),
            )
        };
        let before = state(&rx);
        match rx.handle_chunk(&info, &data) {
            Ok(ChunkOutcome::Accepted) => accepted += 1,
            Ok(ChunkOutcome::Duplicate) => {
                assert_eq!(before, state(&rx), "duplicate changed state")
            }
            Ok(_) => unreachable!(),
            Err(_) => assert_eq!(before, state(&rx), "refused chunk changed state"),
        }
        assert_eq!(rx.missing().count() as u32, f.start.total() - accepted);
        assert_eq!(rx.is_complete(), accepted == f.start.total());
    }
    let complete = rx.is_complete();
    let held = rx.sink().as_bytes().to_vec();
    match rx.finish() {
        Ok(sink) => assert_eq!(sink.into_bytes(), f.object, "finished with wrong data"),
        Err(ReassemblyError::HashMismatch) => {
            assert!(complete);
            assert_ne!(held, f.object, "refused the right object");
        }
        Err(ReassemblyError::Incomplete { .. }) => assert!(!complete),
        Err(e) => panic!("unexpected finish error {e:?}"),
    }
});
