//! Chunking and reassembly: hashes against `blake3::hash`, any arrival order, every refusal,
//! limits, and the `STREAM_START` encodings.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use talos_crypto::{CborError, cbor};
use talos_wire::MessageId;
use talos_wire::chunk::{
    Chunk, ChunkError, ChunkInfo, ChunkOutcome, Chunker, MAX_CHUNKS, MediaType, Reassembler,
    ReassemblyError, Sink, StreamStart, StreamStartError, VecSink, VecSinkError, chunk_all,
};

const KIB: u32 = 1024;
const MIB: u64 = 1024 * 1024;

fn id(n: u8) -> MessageId {
    format!("0190a5e0-7c3a-7000-8000-0000000000{n:02x}")
        .parse()
        .unwrap()
}

fn object(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    ChaCha20Rng::from_seed([seed; 32]).fill_bytes(&mut bytes);
    bytes
}

fn chunked(data: &[u8], chunk_size: u32) -> (StreamStart, Vec<Chunk>) {
    chunk_all(id(1), data, None, Some(chunk_size)).unwrap()
}

fn reassembler(start: &StreamStart) -> Reassembler<VecSink> {
    Reassembler::new(start, VecSink::new(start.size()))
}

/// Chunk sizes worth trying: the smallest allowed and a few more powers of two.
fn chunk_size() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![KIB, 2 * KIB, 4 * KIB, 8 * KIB, 16 * KIB])
}

// ---------------------------------------------------------------------------------------------
// Hashes

#[test]
fn merged_hash_is_blake3_at_every_edge() {
    let data = object(300_000, 3);
    for cs in [KIB, 2 * KIB, 4 * KIB, 64 * KIB] {
        let c = cs as usize;
        for len in [
            0,
            1,
            1023,
            1024,
            1025,
            c - 1,
            c,
            c + 1,
            2 * c,
            2 * c + 1,
            3 * c,
            5 * c - 1,
            8 * c,
            8 * c + 1,
            300_000,
        ]
        .into_iter()
        .filter(|&len| len <= data.len())
        {
            let (start, chunks) = chunked(&data[..len], cs);
            assert_eq!(
                start.hash(),
                blake3::hash(&data[..len]).as_bytes(),
                "len {len}, chunk size {cs}"
            );
            assert_eq!(start.total() as usize, len.div_ceil(c).max(1));
            assert_eq!(chunks.len(), start.total() as usize);
        }
    }
}

#[test]
fn one_chunk_objects_use_the_root_hash_as_chunk_hash() {
    for len in [0, 1, 1024, 4096] {
        let data = object(len, 4);
        let (start, chunks) = chunked(&data, 4 * KIB);
        assert_eq!(start.total(), 1);
        assert_eq!(chunks[0].info.hash, *blake3::hash(&data).as_bytes());
    }
    // Two chunks: chunk hashes are chaining values, not plain hashes of the chunk.
    let data = object(5000, 4);
    let (_, chunks) = chunked(&data, 4 * KIB);
    assert_ne!(chunks[0].info.hash, *blake3::hash(&data[..4096]).as_bytes());
}

#[test]
fn the_same_bytes_at_another_offset_hash_differently() {
    let data = vec![0x55u8; 8 * 1024];
    let (_, chunks) = chunked(&data, KIB);
    let hashes: BTreeSet<[u8; 32]> = chunks.iter().map(|c| c.info.hash).collect();
    assert_eq!(hashes.len(), 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn merged_hash_is_blake3(len in 0usize..70_000, cs in chunk_size(), seed: u8) {
        let data = object(len, seed);
        let (start, chunks) = chunked(&data, cs);
        prop_assert_eq!(*start.hash(), *blake3::hash(&data).as_bytes());
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
        prop_assert_eq!(joined, data);
    }
}

// ---------------------------------------------------------------------------------------------
// Reassembly

/// A permutation of the chunks with some sent twice or more.
fn deliveries() -> impl Strategy<Value = (usize, u32, Vec<usize>, Vec<prop::sample::Index>)> {
    (0usize..40_000, chunk_size()).prop_flat_map(|(len, cs)| {
        let total = len.div_ceil(cs as usize).max(1);
        (
            Just(len),
            Just(cs),
            Just((0..total).collect::<Vec<_>>()).prop_shuffle(),
            prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_with_duplicates_yields_the_object((len, cs, order, dups) in deliveries(), seed: u8) {
        let data = object(len, seed);
        let (start, chunks) = chunked(&data, cs);
        let mut sends: Vec<usize> = order.clone();
        for (i, dup) in dups.iter().enumerate() {
            let at = dup.index(sends.len() + 1);
            sends.insert(at, order[(i * 7) % order.len()]);
        }
        let mut rx = reassembler(&start);
        let mut missing: BTreeSet<u32> = (0..start.total()).collect();
        let mut received = 0u64;
        for &i in &sends {
            prop_assert_eq!(rx.is_complete(), missing.is_empty());
            let chunk = &chunks[i];
            let outcome = rx.handle_chunk(&chunk.info, &chunk.data).unwrap();
            if missing.remove(&chunk.info.sequence) {
                prop_assert_eq!(outcome, ChunkOutcome::Accepted);
                received += chunk.data.len() as u64;
            } else {
                prop_assert_eq!(outcome, ChunkOutcome::Duplicate);
            }
            prop_assert_eq!(rx.progress(), (received, len as u64));
            prop_assert_eq!(rx.missing().collect::<BTreeSet<_>>(), missing.clone());
            prop_assert_eq!(rx.is_complete(), missing.is_empty());
        }
        prop_assert_eq!(rx.finish().unwrap().into_bytes(), data);
    }

    #[test]
    fn a_flipped_bit_is_refused_at_its_chunk(
        len in 1usize..20_000,
        cs in chunk_size(),
        which: prop::sample::Index,
        at: prop::sample::Index,
        bit in 0u8..8,
        in_hash: bool,
    ) {
        let data = object(len, 9);
        let (start, chunks) = chunked(&data, cs);
        let chunk = &chunks[which.index(chunks.len())];
        let mut rx = reassembler(&start);
        let (mut info, mut bytes) = (chunk.info, chunk.data.clone());
        if in_hash {
            info.hash[at.index(32)] ^= 1 << bit;
        } else {
            let at = at.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        let err = rx.handle_chunk(&info, &bytes).unwrap_err();
        prop_assert!(
            matches!(err, ReassemblyError::ChunkHashMismatch { sequence } if sequence == info.sequence),
            "{err:?}"
        );
        // Nothing changed; the genuine chunk is still welcome.
        prop_assert_eq!(rx.progress().0, 0);
        prop_assert_eq!(rx.missing().count() as u32, start.total());
        prop_assert!(rx.sink().as_bytes().is_empty());
        prop_assert_eq!(rx.handle_chunk(&chunk.info, &chunk.data).unwrap(), ChunkOutcome::Accepted);
    }
}

#[test]
fn chunks_that_do_not_belong_are_refused_and_change_nothing() {
    let data = object(10_000, 5);
    let (start, chunks) = chunked(&data, KIB); // 10 chunks, the last 784 bytes
    let mut rx = reassembler(&start);
    let good = &chunks[3];

    let mut other = good.info;
    other.stream_id = id(2);
    assert!(matches!(
        rx.handle_chunk(&other, &good.data),
        Err(ReassemblyError::WrongStream { expected, got }) if expected == id(1) && got == id(2)
    ));

    let mut beyond = good.info;
    beyond.sequence = 10;
    assert!(matches!(
        rx.handle_chunk(&beyond, &good.data),
        Err(ReassemblyError::BeyondTotal {
            sequence: 10,
            total: 10
        })
    ));
    beyond.sequence = u32::MAX;
    assert!(matches!(
        rx.handle_chunk(&beyond, &good.data),
        Err(ReassemblyError::BeyondTotal { .. })
    ));

    let mut total = good.info;
    total.total = 11;
    assert!(matches!(
        rx.handle_chunk(&total, &good.data),
        Err(ReassemblyError::TotalMismatch {
            total: 11,
            expected: 10
        })
    ));

    let mut long = good.data.clone();
    long.push(0);
    assert!(matches!(
        rx.handle_chunk(&good.info, &long),
        Err(ReassemblyError::WrongLength {
            sequence: 3,
            expected: 1024,
            got: 1025
        })
    ));
    assert!(matches!(
        rx.handle_chunk(&good.info, &good.data[..1000]),
        Err(ReassemblyError::WrongLength {
            sequence: 3,
            expected: 1024,
            got: 1000
        })
    ));
    // The last chunk is exactly the rest of the announced size, not a full chunk.
    let mut padded = chunks[9].data.clone();
    padded.resize(1024, 0);
    assert!(matches!(
        rx.handle_chunk(&chunks[9].info, &padded),
        Err(ReassemblyError::WrongLength {
            sequence: 9,
            expected: 784,
            got: 1024
        })
    ));
    // Right length and hash, wrong position: chunk 4's bytes claimed as chunk 3.
    let mut moved = chunks[4].info;
    moved.sequence = 3;
    assert!(matches!(
        rx.handle_chunk(&moved, &chunks[4].data),
        Err(ReassemblyError::ChunkHashMismatch { sequence: 3 })
    ));

    assert_eq!(rx.progress(), (0, 10_000));
    assert_eq!(rx.missing().count(), 10);
    assert!(rx.sink().as_bytes().is_empty());

    assert_eq!(
        rx.handle_chunk(&good.info, &good.data).unwrap(),
        ChunkOutcome::Accepted
    );
    let mut conflicting = good.info;
    conflicting.hash[0] ^= 1;
    assert!(matches!(
        rx.handle_chunk(&conflicting, &good.data),
        Err(ReassemblyError::ConflictingDuplicate { sequence: 3 })
    ));
    assert_eq!(rx.progress(), (1024, 10_000));
}

#[test]
fn forged_chunks_pass_their_own_hash_but_not_the_object_hash() {
    let data = object(10_000, 6);
    let mut forged = data.clone();
    forged[5000] ^= 0xff;
    let (start, chunks) = chunked(&data, KIB);
    let (_, forged_chunks) = chunked(&forged, KIB);

    let mut rx = reassembler(&start);
    for (i, chunk) in chunks.iter().enumerate() {
        // Chunk 4 (bytes 4096..5120) comes from the forgery, with a hash that matches it.
        let chunk = if i == 4 { &forged_chunks[4] } else { chunk };
        assert_eq!(
            rx.handle_chunk(&chunk.info, &chunk.data).unwrap(),
            ChunkOutcome::Accepted
        );
    }
    assert!(rx.is_complete());
    assert!(matches!(rx.finish(), Err(ReassemblyError::HashMismatch)));

    // The genuine chunk 4 arriving after the forged one conflicts with it.
    let mut rx = reassembler(&start);
    rx.handle_chunk(&forged_chunks[4].info, &forged_chunks[4].data)
        .unwrap();
    assert!(matches!(
        rx.handle_chunk(&chunks[4].info, &chunks[4].data),
        Err(ReassemblyError::ConflictingDuplicate { sequence: 4 })
    ));
}

#[test]
fn finish_refuses_an_incomplete_object() {
    let data = object(5000, 7);
    let (start, chunks) = chunked(&data, KIB);
    let mut rx = reassembler(&start);
    rx.handle_chunk(&chunks[1].info, &chunks[1].data).unwrap();
    assert!(matches!(
        rx.finish(),
        Err(ReassemblyError::Incomplete {
            missing: 4,
            total: 5
        })
    ));
}

#[test]
fn missing_is_exact_and_ranges_are_compact() {
    let data = object(200 * 1024 + 1, 8);
    let (start, chunks) = chunked(&data, KIB); // 201 chunks: bitmap words past 64 and 128
    let mut rx = reassembler(&start);
    let keep = |i: u32| i.is_multiple_of(5) || (60..70).contains(&i) || (120..200).contains(&i);
    for chunk in chunks.iter().filter(|c| keep(c.info.sequence)) {
        rx.handle_chunk(&chunk.info, &chunk.data).unwrap();
    }
    let expected: Vec<u32> = (0..201).filter(|&i| !keep(i)).collect();
    assert_eq!(rx.missing().collect::<Vec<_>>(), expected);
    let ranges: Vec<_> = rx.missing_ranges().collect();
    let flattened: Vec<u32> = ranges.iter().cloned().flatten().collect();
    assert_eq!(flattened, expected);
    assert!(ranges.windows(2).all(|w| w[0].end < w[1].start));
    assert_eq!(ranges.first(), Some(&(1..5)));
    assert_eq!(ranges.last(), Some(&(116..120)));
    for chunk in chunks.iter().filter(|c| !keep(c.info.sequence)) {
        rx.handle_chunk(&chunk.info, &chunk.data).unwrap();
    }
    assert_eq!(rx.missing().count(), 0);
    assert_eq!(rx.missing_ranges().count(), 0);
    assert_eq!(rx.finish().unwrap().into_bytes(), data);
}

#[test]
fn chunk_totals_on_bitmap_word_boundaries() {
    for total in [1usize, 63, 64, 65, 128] {
        let data = object(total * 1024, 2);
        let (start, chunks) = chunked(&data, KIB);
        assert_eq!(start.total() as usize, total);
        let mut rx = reassembler(&start);
        assert_eq!(rx.missing().count(), total);
        for chunk in chunks.iter().rev() {
            rx.handle_chunk(&chunk.info, &chunk.data).unwrap();
        }
        assert!(rx.is_complete());
        assert_eq!(rx.finish().unwrap().into_bytes(), data);
    }
}

#[test]
fn the_empty_object_is_one_empty_chunk() {
    let (start, chunks) = chunk_all(id(1), b"", Some("empty.txt"), None).unwrap();
    assert_eq!(
        (start.size(), start.total(), start.media()),
        (0, 1, MediaType::Text)
    );
    assert_eq!(chunks[0].data, b"");
    let mut rx = reassembler(&start);
    assert_eq!(rx.progress(), (0, 0));
    assert!(!rx.is_complete());
    rx.handle_chunk(&chunks[0].info, b"").unwrap();
    assert!(rx.is_complete());
    assert_eq!(rx.finish().unwrap().into_bytes(), b"");
}

/// A sink that fails when told to, to show a failed write leaves the chunk missing.
#[derive(Default)]
struct Flaky {
    fail: bool,
    writes: Vec<(u64, usize)>,
}

impl Sink for Flaky {
    type Error = &'static str;

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error> {
        if self.fail {
            return Err("disk full");
        }
        self.writes.push((offset, data.len()));
        Ok(())
    }
}

#[test]
fn a_failed_write_leaves_the_chunk_missing() {
    let data = object(3000, 1);
    let (start, chunks) = chunked(&data, KIB);
    let mut sink = Flaky {
        fail: true,
        ..Flaky::default()
    };
    {
        let mut rx = Reassembler::new(&start, &mut sink);
        assert!(matches!(
            rx.handle_chunk(&chunks[2].info, &chunks[2].data),
            Err(ReassemblyError::Sink("disk full"))
        ));
        assert_eq!(rx.missing().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(rx.progress().0, 0);
    }
    sink.fail = false;
    let mut rx = Reassembler::new(&start, &mut sink);
    for chunk in &chunks {
        rx.handle_chunk(&chunk.info, &chunk.data).unwrap();
        // Duplicates are not written again.
        rx.handle_chunk(&chunk.info, &chunk.data).unwrap();
    }
    rx.finish().unwrap();
    assert_eq!(sink.writes, [(0, 1024), (1024, 1024), (2048, 952)]);
}

#[test]
fn vec_sink_refuses_writes_past_its_limit() {
    let mut sink = VecSink::new(10);
    sink.write_at(8, b"ab").unwrap();
    assert_eq!(sink.as_bytes(), b"\0\0\0\0\0\0\0\0ab");
    assert_eq!(
        sink.write_at(9, b"ab"),
        Err(VecSinkError { end: 11, limit: 10 })
    );
    assert!(sink.write_at(u64::MAX, b"a").is_err());
    sink.write_at(0, b"xy").unwrap();
    assert_eq!(sink.into_bytes(), b"xy\0\0\0\0\0\0ab");
}

// ---------------------------------------------------------------------------------------------
// The chunker

#[test]
fn chunker_checks_each_chunk_and_the_count() {
    let data = object(2500, 3);
    let mut chunker = Chunker::new(id(1), 2500, &data, None, Some(KIB)).unwrap();
    assert_eq!((chunker.total(), chunker.next_len()), (3, Some(1024)));
    assert!(matches!(
        chunker.handle_chunk(&data[..1000]),
        Err(ChunkError::WrongLength {
            sequence: 0,
            expected: 1024,
            got: 1000
        })
    ));
    chunker.handle_chunk(&data[..1024]).unwrap();
    chunker.handle_chunk(&data[1024..2048]).unwrap();
    assert_eq!(chunker.next_len(), Some(452));
    let mut early = Chunker::new(id(1), 2500, &data, None, Some(KIB)).unwrap();
    early.handle_chunk(&data[..1024]).unwrap();
    assert!(matches!(
        early.finish(),
        Err(ChunkError::Incomplete {
            chunks: 1,
            total: 3
        })
    ));
    let info = chunker.handle_chunk(&data[2048..]).unwrap();
    assert_eq!((info.sequence, info.total), (2, 3));
    assert_eq!(chunker.next_len(), None);
    assert!(matches!(
        chunker.handle_chunk(b""),
        Err(ChunkError::BeyondTotal {
            sequence: 3,
            total: 3
        })
    ));
    let manifest = chunker.finish().unwrap();

    let (start, chunks) = chunked(&data, KIB);
    assert_eq!(manifest.start(), &start);
    let listed: Vec<(ChunkInfo, _)> = manifest.chunks().collect();
    assert_eq!(listed.len(), 3);
    for ((info, range), chunk) in listed.iter().zip(&chunks) {
        assert_eq!(*info, chunk.info);
        assert_eq!(&data[range.start as usize..range.end as usize], chunk.data);
        assert_eq!(manifest.info(info.sequence), Some(*info));
    }
    assert_eq!(manifest.info(3), None);
}

#[test]
fn limits_are_enforced_from_the_start() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let max = MediaType::Image.max_size();
    assert_eq!(max, 50 * MIB);
    assert!(Chunker::new(id(1), max, png, None, None).is_ok());
    assert!(matches!(
        Chunker::new(id(1), max + 1, png, None, None),
        Err(ChunkError::Invalid(StreamStartError::TooLarge { size, max: m, media: MediaType::Image }))
            if size == max + 1 && m == max
    ));

    let video = MediaType::Video;
    assert_eq!(video.max_size(), 2048 * MIB);
    let chunker = Chunker::with_media(id(1), 2048 * MIB, video, "video/mp4", None, None).unwrap();
    assert_eq!((chunker.chunk_size(), chunker.total()), (1024 * KIB, 2048));
    assert!(matches!(
        Chunker::with_media(id(1), 2048 * MIB + 1, video, "video/mp4", None, None),
        Err(ChunkError::Invalid(StreamStartError::TooLarge { .. }))
    ));
    // 2 GiB in 1 KiB chunks would need 2^21 chunks of state.
    assert!(matches!(
        Chunker::with_media(id(1), 2048 * MIB, video, "video/mp4", None, Some(KIB)),
        Err(ChunkError::Invalid(StreamStartError::TooManyChunks {
            chunks: 2_097_152,
            max: MAX_CHUNKS
        }))
    ));
    for bad in [0, 1, 512, 1000, 3 * KIB, 8 * 1024 * KIB, u32::MAX] {
        assert!(
            matches!(
                Chunker::new(id(1), 10, b"", None, Some(bad)),
                Err(ChunkError::Invalid(StreamStartError::InvalidChunkSize { chunk_size })) if chunk_size == bad
            ),
            "{bad}"
        );
    }
    for good in [KIB, 2 * KIB, 4 * 1024 * KIB] {
        assert!(Chunker::new(id(1), 10, b"", None, Some(good)).is_ok());
    }
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "a\\b",
        "nul\0",
        "tab\t",
        &"x".repeat(256),
    ] {
        assert!(
            matches!(
                Chunker::new(id(1), 10, b"", Some(name), None),
                Err(ChunkError::Invalid(StreamStartError::InvalidName { .. }))
            ),
            "{name:?}"
        );
    }
    for name in ["a.txt", "...", "résumé final.pdf", &"é".repeat(127)] {
        assert!(
            Chunker::new(id(1), 10, b"", Some(name), None).is_ok(),
            "{name:?}"
        );
    }
    for mime in [
        "",
        "text",
        "text/plain\n",
        "t\u{e9}xt/plain",
        &format!("a/{}", "b".repeat(254)),
    ] {
        assert!(
            matches!(
                Chunker::with_media(id(1), 10, MediaType::Text, mime, None, None),
                Err(ChunkError::Invalid(StreamStartError::InvalidMime { .. }))
            ),
            "{mime:?}"
        );
    }
}

#[test]
fn default_chunk_sizes_and_limits() {
    let table = [
        (MediaType::Text, 64 * KIB, 50 * MIB, "text"),
        (MediaType::Image, 256 * KIB, 50 * MIB, "image"),
        (MediaType::Audio, 512 * KIB, 200 * MIB, "audio"),
        (MediaType::Video, 1024 * KIB, 2048 * MIB, "video"),
        (MediaType::Document, 256 * KIB, 100 * MIB, "document"),
        (MediaType::Archive, 512 * KIB, 500 * MIB, "archive"),
        (MediaType::Unknown, 256 * KIB, 50 * MIB, "unknown"),
    ];
    for (media, chunk, max, name) in table {
        assert_eq!(media.chunk_size(), chunk);
        assert!(chunk.is_power_of_two());
        assert_eq!(media.max_size(), max);
        assert_eq!(media.to_string(), name);
        assert_eq!(name.parse::<MediaType>(), Ok(media));
        // The largest object at the default size stays well within the chunk limit.
        assert!(max.div_ceil(u64::from(chunk)) <= u64::from(MAX_CHUNKS));
    }
    assert!("Video".parse::<MediaType>().is_err());
}

// ---------------------------------------------------------------------------------------------
// MIME detection

#[test]
fn detection_from_magic_bytes() {
    let cases: &[(&[u8], MediaType, &str)] = &[
        (
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01",
            MediaType::Image,
            "image/png",
        ),
        (
            b"\xff\xd8\xff\xe0\0\x10JFIF\0",
            MediaType::Image,
            "image/jpeg",
        ),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            MediaType::Document,
            "application/pdf",
        ),
        (
            b"PK\x03\x04\x14\0\0\0\x08\0",
            MediaType::Archive,
            "application/zip",
        ),
        (
            b"\x1f\x8b\x08\0\0\0\0\0",
            MediaType::Archive,
            "application/gzip",
        ),
        (
            b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2",
            MediaType::Video,
            "video/mp4",
        ),
        (b"ID3\x04\0\0\0\0\0\0", MediaType::Audio, "audio/mpeg"),
        (b"fLaC\0\0\0\x22", MediaType::Audio, "audio/x-flac"),
        (b"<!DOCTYPE html><html>", MediaType::Text, "text/html"),
        (b"\0asm\x01\0\0\0", MediaType::Unknown, "application/wasm"),
        (
            "plain UTF-8 text: héllo wörld ✓\n".as_bytes(),
            MediaType::Text,
            "text/plain",
        ),
        (b"", MediaType::Text, "text/plain"),
        (
            b"text with a NUL\0byte",
            MediaType::Unknown,
            "application/octet-stream",
        ),
        (
            b"\xff\xfe\xfd\x80 not utf-8",
            MediaType::Unknown,
            "application/octet-stream",
        ),
    ];
    for &(bytes, media, mime) in cases {
        assert_eq!(MediaType::detect(bytes), (media, mime), "{bytes:x?}");
    }
    // A prefix may end inside a character.
    let text = "ééé".as_bytes();
    assert_eq!(MediaType::detect(&text[..5]).0, MediaType::Text);
    // Random bytes are not text.
    assert_eq!(
        MediaType::detect(&object(8192, 1)),
        (MediaType::Unknown, "application/octet-stream")
    );
}

#[test]
fn chunker_types_objects_by_their_first_bytes() {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(300_000, b'x');
    let (start, chunks) = chunk_all(id(1), &pdf, Some("paper.pdf"), None).unwrap();
    assert_eq!(
        (
            start.media(),
            start.mime(),
            start.chunk_size(),
            chunks.len()
        ),
        (MediaType::Document, "application/pdf", 256 * KIB, 2)
    );
    assert_eq!(start.name(), Some("paper.pdf"));
}

// ---------------------------------------------------------------------------------------------
// STREAM_START encodings

fn sample_start() -> StreamStart {
    StreamStart::new(
        id(1),
        2_000_000,
        MediaType::Video,
        "video/mp4",
        1024 * KIB,
        [0xab; 32],
        Some("clip.mp4"),
    )
    .unwrap()
}

#[test]
fn stream_start_json_is_canonical_and_round_trips() {
    let start = sample_start();
    let json = String::from_utf8(start.to_json()).unwrap();
    assert_eq!(
        json,
        r#"{"chunk_size":1048576,"hash":"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s","media":"video","mime":"video/mp4","name":"clip.mp4","size":2000000,"stream_id":"0190a5e0-7c3a-7000-8000-000000000001","total":2,"v":1}"#
    );
    assert_eq!(StreamStart::from_json(json.as_bytes()).unwrap(), start);
    // Any formatting of the same value is accepted.
    let spaced = json.replace(',', ",\n  ").replace(':', ": ");
    assert_eq!(StreamStart::from_json(spaced.as_bytes()).unwrap(), start);

    let unnamed = StreamStart::new(
        id(1),
        0,
        MediaType::Text,
        "text/plain",
        64 * KIB,
        [0; 32],
        None,
    )
    .unwrap();
    assert_eq!(StreamStart::from_json(&unnamed.to_json()).unwrap(), unnamed);
    assert_eq!(StreamStart::from_cbor(&unnamed.to_cbor()).unwrap(), unnamed);
}

#[test]
fn stream_start_cbor_round_trips_and_is_deterministic() {
    let start = sample_start();
    let bytes = start.to_cbor();
    assert_eq!(bytes[0], 0xa9); // a map of 9 pairs
    assert_eq!(&bytes[1..4], [0x61, b'v', 0x01]); // shortest key first
    assert_eq!(StreamStart::from_cbor(&bytes).unwrap(), start);
}

/// The CBOR map of `start` with its pairs in `order` and `v` written as `v_head`.
fn cbor_with(
    start: &StreamStart,
    extra: Option<(&str, u64)>,
    reverse: bool,
    long_v: bool,
) -> Vec<u8> {
    let mut pairs: Vec<(&str, Vec<u8>)> = Vec::new();
    let item = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut out = Vec::new();
        f(&mut out);
        out
    };
    let v = if long_v { vec![0x18, 0x01] } else { vec![0x01] };
    pairs.push(("v", v));
    pairs.push(("hash", item(&|o| cbor::write_bytes(o, start.hash()))));
    pairs.push(("mime", item(&|o| cbor::write_text(o, start.mime()))));
    pairs.push((
        "name",
        item(&|o| cbor::write_text(o, start.name().unwrap())),
    ));
    pairs.push(("size", item(&|o| cbor::write_uint(o, start.size()))));
    pairs.push((
        "media",
        item(&|o| cbor::write_text(o, start.media().as_str())),
    ));
    pairs.push((
        "total",
        item(&|o| cbor::write_uint(o, start.total().into())),
    ));
    pairs.push((
        "stream_id",
        item(&|o| cbor::write_text(o, &start.stream_id().to_string())),
    ));
    pairs.push((
        "chunk_size",
        item(&|o| cbor::write_uint(o, start.chunk_size().into())),
    ));
    if let Some((key, value)) = extra {
        pairs.push((key, item(&|o| cbor::write_uint(o, value))));
    }
    if reverse {
        pairs.reverse();
    }
    let mut out = Vec::new();
    cbor::write_map_header(&mut out, pairs.len());
    for (key, value) in pairs {
        cbor::write_text(&mut out, key);
        out.extend_from_slice(&value);
    }
    out
}

#[test]
fn stream_start_cbor_refuses_other_encodings() {
    let start = sample_start();
    assert_eq!(cbor_with(&start, None, false, false), start.to_cbor());
    for bytes in [
        cbor_with(&start, None, true, false),
        cbor_with(&start, None, false, true),
    ] {
        assert!(matches!(
            StreamStart::from_cbor(&bytes),
            Err(StreamStartError::Cbor(CborError::NonCanonical))
        ));
    }
    assert!(matches!(
        StreamStart::from_cbor(&cbor_with(&start, Some(("extra", 1)), false, false)),
        Err(StreamStartError::Cbor(CborError::Malformed { .. }))
    ));
    let mut trailing = start.to_cbor();
    trailing.push(0);
    assert!(StreamStart::from_cbor(&trailing).is_err());
    let bytes = start.to_cbor();
    for cut in 0..bytes.len() {
        assert!(StreamStart::from_cbor(&bytes[..cut]).is_err());
    }
}

#[test]
fn stream_start_json_refuses_bad_fields() {
    let json = String::from_utf8(sample_start().to_json()).unwrap();
    let edits: &[(&str, &str, &str)] = &[
        ("unknown field", r#""v":1"#, r#""v":1,"extra":0"#),
        ("null name", r#""name":"clip.mp4""#, r#""name":null"#),
        ("version", r#""v":1"#, r#""v":2"#),
        ("total", r#""total":2"#, r#""total":3"#),
        ("total zero", r#""total":2"#, r#""total":0"#),
        (
            "chunk size",
            r#""chunk_size":1048576"#,
            r#""chunk_size":1000000"#,
        ),
        (
            "chunk size small",
            r#""chunk_size":1048576"#,
            r#""chunk_size":512"#,
        ),
        ("too large", r#""size":2000000"#, r#""size":2147483649"#),
        ("media", r#""media":"video""#, r#""media":"Video""#),
        ("media kind", r#""media":"video""#, r#""media":"film""#),
        ("hash length", "q6s\"", "q6\""),
        ("stream id", "-000000000001", "-00000000000G"),
        ("name", r#""clip.mp4""#, r#""../clip.mp4""#),
        ("mime", r#""video/mp4""#, r#""mp4""#),
        ("missing member", r#""mime":"video/mp4","#, ""),
        ("float", r#""size":2000000"#, r#""size":2000000.5"#),
        ("negative", r#""size":2000000"#, r#""size":-1"#),
    ];
    for &(what, from, to) in edits {
        let bad = json.replacen(from, to, 1);
        assert_ne!(bad, json, "{what}: edit did not apply");
        assert!(
            StreamStart::from_json(bad.as_bytes()).is_err(),
            "{what}: {bad}"
        );
    }
    assert!(matches!(
        StreamStart::from_json(json.replace(r#""v":1"#, r#""v":2"#).as_bytes()),
        Err(StreamStartError::UnsupportedVersion { v: 2 })
    ));
    assert!(matches!(
        StreamStart::from_json(json.replace(r#""total":2"#, r#""total":3"#).as_bytes()),
        Err(StreamStartError::TotalMismatch {
            total: 3,
            expected: 2
        })
    ));
    // The 2_000_000-byte "video" as text exceeds nothing (50 MiB), but 60 MiB does.
    let big_text = json
        .replace(r#""media":"video""#, r#""media":"text""#)
        .replace(r#""size":2000000"#, r#""size":62914560"#)
        .replace(r#""total":2"#, r#""total":60"#);
    assert!(matches!(
        StreamStart::from_json(big_text.as_bytes()),
        Err(StreamStartError::TooLarge {
            size: 62_914_560,
            max: 52_428_800,
            media: MediaType::Text
        })
    ));
    assert!(matches!(
        StreamStart::from_json(
            json.replace(r#""name":"clip.mp4""#, r#""name":null"#)
                .as_bytes()
        ),
        Err(StreamStartError::Malformed(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn stream_start_round_trips(
        size in 0u64..=50 * MIB,
        shift in 0u32..=12,
        media in prop::sample::select(MediaType::ALL),
        hash: [u8; 32],
        name in proptest::option::of("[a-zA-Z0-9 ._-]{1,40}"),
    ) {
        let chunk_size = KIB << shift;
        let start = match StreamStart::new(id(9), size, media, "application/x-test", chunk_size, hash, name.as_deref()) {
            Ok(start) => start,
            Err(StreamStartError::TooManyChunks { .. } | StreamStartError::InvalidName { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        prop_assert_eq!(u64::from(start.total()), size.div_ceil(u64::from(chunk_size)).max(1));
        prop_assert_eq!(StreamStart::from_json(&start.to_json()).unwrap(), start.clone());
        prop_assert_eq!(StreamStart::from_cbor(&start.to_cbor()).unwrap(), start.clone());
        let last = start.chunk_range(start.total() - 1).unwrap();
        prop_assert_eq!(last.end, size);
        prop_assert!(start.chunk_range(start.total()).is_none());
    }

    #[test]
    fn stream_start_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = StreamStart::from_cbor(&bytes);
        let _ = StreamStart::from_json(&bytes);
    }
}
