//! The sending side: hashing an object chunk by chunk.

use core::fmt;
use core::ops::Range;

use super::start::check_params;
use super::tree::{self, Hash};
use super::{Chunk, ChunkInfo, MediaType, StreamStart, StreamStartError};
use crate::MessageId;

/// Splits an object into chunks and hashes each byte once: every chunk's hash as it is fed,
/// and the whole-object hash from those at the end.
///
/// Sans-IO: the caller reads the object and feeds it, one chunk at a time, in order; the
/// chunker copies nothing and holds 32 bytes per chunk. Getters: [`media`](Self::media),
/// [`mime`](Self::mime), [`chunk_size`](Self::chunk_size), [`total`](Self::total),
/// [`next_len`](Self::next_len). Input: [`handle_chunk`](Self::handle_chunk). Output:
/// [`finish`](Self::finish), once every chunk is in.
///
/// The announcement carries the whole-object hash, which is known only after the last byte, so
/// a sender reads a file twice: once through the chunker, then again to send the chunks after
/// the `STREAM_START`, using the [`Manifest`] for each chunk's info (and, after a reconnect,
/// for the chunks the receiver reports missing). The second pass hashes nothing; if the file
/// changed in between, the receiver refuses the changed chunks.
///
/// ```
/// use talos_wire::chunk::{Chunker, MediaType, DETECT_LEN};
/// # use talos_wire::MessageId;
/// # let id: MessageId = "0190a5e0-7c3a-7000-8000-000000000001".parse().unwrap();
/// let file = vec![0u8; 300_000]; // stands for a file read piece by piece
///
/// let head = &file[..DETECT_LEN.min(file.len())];
/// let mut chunker = Chunker::new(id, file.len() as u64, head, Some("data.bin"), None)?;
/// assert_eq!(chunker.media(), MediaType::Unknown);
/// let mut buf = vec![0u8; chunker.chunk_size() as usize];
/// let mut offset = 0;
/// while let Some(len) = chunker.next_len() {
///     buf[..len].copy_from_slice(&file[offset..offset + len]); // read(2) in real life
///     chunker.handle_chunk(&buf[..len])?;
///     offset += len;
/// }
/// let manifest = chunker.finish()?;
/// assert_eq!(manifest.start().hash(), blake3::hash(&file).as_bytes());
/// // Send manifest.start(), then for each sequence the bytes at manifest.start().chunk_range(i)
/// // with manifest.info(i).
/// # Ok::<(), talos_wire::chunk::ChunkError>(())
/// ```
pub struct Chunker {
    stream_id: MessageId,
    size: u64,
    media: MediaType,
    mime: String,
    chunk_size: u32,
    total: u32,
    name: Option<String>,
    hashes: Vec<Hash>,
    offset: u64,
}

impl Chunker {
    /// A chunker for an object of `size` bytes, typed by [`MediaType::detect`] on
    /// `first_bytes` (pass the first [`DETECT_LEN`](super::DETECT_LEN) bytes, or the whole
    /// object if shorter). `chunk_size` overrides the media type's default.
    ///
    /// # Errors
    /// [`ChunkError::Invalid`] if the announcement would be invalid (see [`StreamStart`]):
    /// the object is too large for its type, the chunk size is not a power of two from 1 KiB to
    /// 4 MiB or makes too many chunks, or the name is not allowed.
    pub fn new(
        stream_id: MessageId,
        size: u64,
        first_bytes: &[u8],
        name: Option<&str>,
        chunk_size: Option<u32>,
    ) -> Result<Self, ChunkError> {
        let (media, mime) = MediaType::detect(first_bytes);
        Self::with_media(stream_id, size, media, mime, name, chunk_size)
    }

    /// A chunker for an object whose type the caller already knows.
    ///
    /// # Errors
    /// As [`Chunker::new`], and for a MIME type that is not 1 to 255 printable ASCII bytes
    /// with a `/`.
    pub fn with_media(
        stream_id: MessageId,
        size: u64,
        media: MediaType,
        mime: &str,
        name: Option<&str>,
        chunk_size: Option<u32>,
    ) -> Result<Self, ChunkError> {
        let chunk_size = chunk_size.unwrap_or_else(|| media.chunk_size());
        let total = check_params(size, media, mime, chunk_size, name)?;
        Ok(Self {
            stream_id,
            size,
            media,
            mime: mime.to_owned(),
            chunk_size,
            total,
            name: name.map(str::to_owned),
            hashes: Vec::with_capacity(total as usize),
            offset: 0,
        })
    }

    /// The media type.
    #[must_use]
    pub const fn media(&self) -> MediaType {
        self.media
    }

    /// The MIME type.
    #[must_use]
    pub fn mime(&self) -> &str {
        &self.mime
    }

    /// Bytes per chunk.
    #[must_use]
    pub const fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The number of chunks.
    #[must_use]
    pub const fn total(&self) -> u32 {
        self.total
    }

    /// The length of the next chunk to feed, or `None` once all are in.
    #[must_use]
    pub fn next_len(&self) -> Option<usize> {
        let sequence = self.hashes.len() as u64;
        if sequence >= u64::from(self.total) {
            return None;
        }
        let len = (self.size - self.offset).min(u64::from(self.chunk_size));
        usize::try_from(len).ok()
    }

    /// Hashes the next chunk, which must be exactly [`next_len`](Self::next_len) bytes, and
    /// returns its info. The chunker keeps only the hash.
    ///
    /// # Errors
    /// [`ChunkError::BeyondTotal`] after the last chunk; [`ChunkError::WrongLength`] for a
    /// chunk of another length. The chunker is unchanged.
    pub fn handle_chunk(&mut self, data: &[u8]) -> Result<ChunkInfo, ChunkError> {
        let sequence = self.hashes.len() as u32;
        let expected = self.next_len().ok_or(ChunkError::BeyondTotal {
            sequence,
            total: self.total,
        })?;
        if data.len() != expected {
            return Err(ChunkError::WrongLength {
                sequence,
                expected: expected as u64,
                got: data.len() as u64,
            });
        }
        let hash = tree::chunk_hash(self.total == 1, self.offset, data).ok_or(
            ChunkError::WrongLength {
                sequence,
                expected: expected as u64,
                got: data.len() as u64,
            },
        )?;
        self.hashes.push(hash);
        self.offset += data.len() as u64;
        Ok(ChunkInfo {
            stream_id: self.stream_id,
            sequence,
            total: self.total,
            hash,
        })
    }

    /// The announcement and every chunk's info, once all chunks are in.
    ///
    /// # Errors
    /// [`ChunkError::Incomplete`] if chunks are still to come; the chunker is consumed.
    pub fn finish(self) -> Result<Manifest, ChunkError> {
        let chunks = self.hashes.len() as u32;
        if chunks != self.total {
            return Err(ChunkError::Incomplete {
                chunks,
                total: self.total,
            });
        }
        let incomplete = ChunkError::Incomplete {
            chunks,
            total: self.total,
        };
        let hash = tree::root(&self.hashes).ok_or(incomplete)?;
        let start = StreamStart::new(
            self.stream_id,
            self.size,
            self.media,
            &self.mime,
            self.chunk_size,
            hash,
            self.name.as_deref(),
        )?;
        Ok(Manifest {
            start,
            hashes: self.hashes,
        })
    }
}

impl fmt::Debug for Chunker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunker")
            .field("stream_id", &self.stream_id)
            .field("size", &self.size)
            .field("media", &self.media)
            .field("chunk_size", &self.chunk_size)
            .field("total", &self.total)
            .field("hashed", &self.hashes.len())
            .finish_non_exhaustive()
    }
}

/// What a sender knows after chunking: the `STREAM_START` and every chunk's hash (32 bytes a
/// chunk), so it can send or resend any chunk without hashing again.
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    start: StreamStart,
    hashes: Vec<Hash>,
}

impl Manifest {
    /// The announcement to send first.
    #[must_use]
    pub const fn start(&self) -> &StreamStart {
        &self.start
    }

    /// The announcement, dropping the chunk hashes.
    #[must_use]
    pub fn into_start(self) -> StreamStart {
        self.start
    }

    /// The info to send with chunk `sequence`; `None` beyond the total.
    #[must_use]
    pub fn info(&self, sequence: u32) -> Option<ChunkInfo> {
        let hash = *self.hashes.get(sequence as usize)?;
        Some(ChunkInfo {
            stream_id: self.start.stream_id(),
            sequence,
            total: self.start.total(),
            hash,
        })
    }

    /// Every chunk's info and its byte range in the object, in order.
    pub fn chunks(&self) -> impl Iterator<Item = (ChunkInfo, Range<u64>)> + '_ {
        (0..self.start.total()).filter_map(|i| Some((self.info(i)?, self.start.chunk_range(i)?)))
    }
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

/// Chunks an object that is already in memory: the announcement and every chunk, with its
/// data copied. For large objects, drive a [`Chunker`] over slices instead, which copies nothing.
///
/// ```
/// use talos_wire::chunk::{Reassembler, VecSink, chunk_all};
/// # use talos_wire::MessageId;
/// # let id: MessageId = "0190a5e0-7c3a-7000-8000-000000000001".parse().unwrap();
/// let text = "hello ".repeat(50_000);
/// let (start, chunks) = chunk_all(id, text.as_bytes(), Some("hello.txt"), None)?;
/// assert_eq!((start.mime(), start.total()), ("text/plain", 5)); // 64 KiB chunks
///
/// let mut reassembler = Reassembler::new(&start, VecSink::new(start.size()));
/// for chunk in chunks.iter().rev() {
///     reassembler.handle_chunk(&chunk.info, &chunk.data).unwrap();
/// }
/// assert_eq!(reassembler.finish().unwrap().into_bytes(), text.as_bytes());
/// # Ok::<(), talos_wire::chunk::ChunkError>(())
/// ```
///
/// # Errors
/// As [`Chunker::new`].
pub fn chunk_all(
    stream_id: MessageId,
    data: &[u8],
    name: Option<&str>,
    chunk_size: Option<u32>,
) -> Result<(StreamStart, Vec<Chunk>), ChunkError> {
    let head = data.get(..super::DETECT_LEN).unwrap_or(data);
    let mut chunker = Chunker::new(stream_id, data.len() as u64, head, name, chunk_size)?;
    let mut chunks = Vec::with_capacity(chunker.total() as usize);
    let mut rest = data;
    while let Some(len) = chunker.next_len() {
        let (piece, tail) = rest.split_at_checked(len).unwrap_or((rest, &[]));
        chunks.push(Chunk {
            info: chunker.handle_chunk(piece)?,
            data: piece.to_vec(),
        });
        rest = tail;
    }
    Ok((chunker.finish()?.into_start(), chunks))
}

/// Why a chunker refused input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The object's parameters would make an invalid announcement; see [`StreamStartError`].
    #[error(transparent)]
    Invalid(#[from] StreamStartError),
    /// A chunk was fed after the last one.
    #[error("chunk {sequence} is beyond the total of {total}")]
    BeyondTotal {
        /// The sequence it would have had.
        sequence: u32,
        /// The number of chunks.
        total: u32,
    },
    /// A chunk of the wrong length was fed: feed exactly [`Chunker::next_len`] bytes.
    #[error("chunk {sequence} has {got} bytes, expected {expected}")]
    WrongLength {
        /// The chunk's sequence.
        sequence: u32,
        /// Its length.
        expected: u64,
        /// The length fed.
        got: u64,
    },
    /// [`Chunker::finish`] was called before every chunk was fed.
    #[error("object incomplete: {chunks} of {total} chunks fed")]
    Incomplete {
        /// Chunks fed.
        chunks: u32,
        /// The number of chunks.
        total: u32,
    },
}

impl From<&ChunkError> for talos_crypto::ErrorCode {
    fn from(err: &ChunkError) -> Self {
        match err {
            ChunkError::Invalid(e) => e.into(),
            _ => Self::InvalidInput,
        }
    }
}
