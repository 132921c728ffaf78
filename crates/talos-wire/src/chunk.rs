//! Chunked streams and files: a [`Chunker`] on the sending side, a [`Reassembler`] on the
//! receiving side, and the [`StreamStart`] announcement between them.
//!
//! Sans-IO like the rest of the crate: the caller reads files and sockets; the chunker is fed
//! one chunk at a time and the reassembler writes through a caller-supplied [`Sink`], so
//! neither ever holds more than the chunk in hand plus 32 bytes of hash per chunk (64 KiB for a
//! 2 GiB video in 1 MiB chunks; at most 2 MiB, see [`MAX_CHUNKS`]).
//!
//! # Protocol
//!
//! 1. The sender picks a [`MediaType`] (from the first bytes, [`MediaType::detect`]) and with
//!    it a chunk size (64 KiB for text up to 1 MiB for video, overridable with any power of two
//!    from 1 KiB to 4 MiB) and a size limit (50 MiB for images up to 2 GiB for video). Oversized
//!    objects are refused before the first byte is hashed.
//! 2. It hashes the object once through a [`Chunker`], which yields each chunk's
//!    [`ChunkInfo`] and finally a [`Manifest`] with the `STREAM_START`: `{stream_id, size,
//!    mime, media, chunk_size, total, hash, name?}`.
//! 3. It sends the `STREAM_START`, then every chunk as `(ChunkInfo, bytes)` in any order.
//! 4. The receiver builds a [`Reassembler`] from the announcement, feeds it chunks as they
//!    come (duplicates welcome), asks for [`missing`](Reassembler::missing) chunks after a
//!    reconnect, and calls [`finish`](Reassembler::finish), which succeeds only if the whole
//!    object has the announced BLAKE3 hash.
//!
//! # Hashes
//!
//! The announced `hash` is the plain `blake3::hash` of the object, so anyone can check a
//! stored file with any BLAKE3 tool. A chunk's `hash` is a node of that same hash tree: the
//! BLAKE3 *chaining value* of the chunk's bytes as the subtree at its offset
//! (`blake3::hazmat`: `set_input_offset(sequence × chunk_size)`, `finalize_non_root`). This
//! works because chunk sizes are powers of two of at least BLAKE3's 1024-byte chunk, so each
//! chunk is exactly one subtree of the object's tree. Consequences:
//! - the sender hashes each byte once, and the whole-object hash is merged from the chunk
//!   hashes in BLAKE3's left-balanced tree order (`merge_subtrees_non_root`,
//!   `merge_subtrees_root`);
//! - the receiver checks each chunk on arrival and then gets the whole-object hash the same way,
//!   without reading back what it wrote;
//! - a chunk hash binds the chunk's position: the same bytes at another offset hash differently.
//!
//! An object of one chunk (every object up to `chunk_size` bytes, including the empty one) has
//! no tree: its chunk hash is defined as the whole-object hash, `blake3::hash(chunk)`.
//!
//! Chunk hashes travel in each chunk's (signed) `STREAM_CHUNK` envelope: they catch corruption
//! on arrival and let a resume skip what arrived intact. Even where a chunk hash could be
//! forged, the whole-object hash in the signed `STREAM_START` catches the forgery in
//! [`finish`](Reassembler::finish).
//!
//! ```
//! use talos_wire::chunk::{ChunkOutcome, Reassembler, VecSink, chunk_all};
//! # use talos_wire::MessageId;
//! # let id: MessageId = "0190a5e0-7c3a-7000-8000-000000000001".parse().unwrap();
//! let object: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
//! let (start, chunks) = chunk_all(id, &object, None, Some(256 * 1024))?;
//! assert_eq!(start.hash(), blake3::hash(&object).as_bytes());
//!
//! let mut rx = Reassembler::new(&start, VecSink::new(start.size()));
//! rx.handle_chunk(&chunks[2].info, &chunks[2].data).unwrap();
//! assert_eq!(rx.handle_chunk(&chunks[2].info, &chunks[2].data).unwrap(), ChunkOutcome::Duplicate);
//! assert_eq!(rx.missing().collect::<Vec<_>>(), [0, 1]); // after a reconnect, ask for these
//! let mut bad = chunks[0].data.clone();
//! bad[9] ^= 1;
//! assert!(rx.handle_chunk(&chunks[0].info, &bad).is_err()); // refused on arrival
//! for chunk in &chunks[..2] {
//!     rx.handle_chunk(&chunk.info, &chunk.data).unwrap();
//! }
//! assert_eq!(rx.progress(), (700_000, 700_000));
//! assert_eq!(rx.finish().unwrap().into_bytes(), object);
//! # Ok::<(), talos_wire::chunk::ChunkError>(())
//! ```

mod chunker;
mod media;
mod reassembler;
mod start;
mod tree;

pub use chunker::{ChunkError, Chunker, Manifest, chunk_all};
pub use media::{DETECT_LEN, MediaType, TEXT_MIME, UNKNOWN_MIME, UnknownMediaType};
pub use reassembler::{ChunkOutcome, Reassembler, ReassemblyError, Sink, VecSink, VecSinkError};
pub use start::{MAX_MIME_LEN, MAX_NAME_LEN, STREAM_START_VERSION, StreamStart, StreamStartError};

use crate::MessageId;

/// The smallest chunk size: BLAKE3's chunk, 1 KiB.
pub const MIN_CHUNK_SIZE: u32 = blake3::CHUNK_LEN as u32;
/// The largest chunk size, 4 MiB (the seed's video stream chunk; a quarter of the 16 MiB frame).
pub const MAX_CHUNK_SIZE: u32 = 4 * 1024 * 1024;
/// The most chunks one object may have: 65 536, so a reassembler's per-chunk state is at most
/// 2 MiB. The default chunk sizes stay far below it (a 2 GiB video is 2048 chunks); it only
/// refuses tiny chunk-size overrides for large objects.
pub const MAX_CHUNKS: u32 = 65_536;

/// Where a chunk sits in its stream; carried in the envelope of every `STREAM_CHUNK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkInfo {
    /// The stream this chunk belongs to (the id of its `STREAM_START` envelope).
    pub stream_id: MessageId,
    /// The chunk's index, from 0.
    pub sequence: u32,
    /// The number of chunks in the stream.
    pub total: u32,
    /// The chunk's BLAKE3 hash: the chaining value of its bytes at their offset in the object
    /// (see the module docs).
    pub hash: [u8; 32],
}

/// A chunk with its data, as [`chunk_all`] returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Where it sits and its hash.
    pub info: ChunkInfo,
    /// Its bytes.
    pub data: Vec<u8>,
}
