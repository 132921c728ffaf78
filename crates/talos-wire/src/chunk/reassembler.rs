//! The receiving side: verifying chunks in any order and writing them through a sink.

use core::convert::Infallible;
use core::fmt;
use core::ops::Range;

use super::tree::{self, Hash};
use super::{ChunkInfo, StreamStart};
use crate::MessageId;

/// Where a [`Reassembler`] writes verified chunks: a file opened by the caller, a hasher, a
/// buffer. Writes come in any order, each at most once per chunk, never past the announced size.
pub trait Sink {
    /// What a failed write reports.
    type Error;

    /// Writes `data` at byte `offset` of the object.
    ///
    /// # Errors
    /// Whatever the storage reports; the reassembler then leaves the chunk missing.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error>;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    type Error = S::Error;

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), S::Error> {
        (**self).write_at(offset, data)
    }
}

/// A sink into memory, for small objects and tests, that refuses to grow past a limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VecSink {
    bytes: Vec<u8>,
    limit: u64,
}

impl VecSink {
    /// An empty sink that holds at most `limit` bytes (pass [`StreamStart::size`]). Memory grows
    /// with the highest byte written; gaps read as zeros.
    #[must_use]
    pub const fn new(limit: u64) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
        }
    }

    /// The bytes written so far.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes written.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl Sink for VecSink {
    type Error = VecSinkError;

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), VecSinkError> {
        let too_far = VecSinkError {
            end: offset.saturating_add(data.len() as u64),
            limit: self.limit,
        };
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.limit)
            .ok_or(too_far)?;
        let (Ok(start), Ok(end)) = (usize::try_from(offset), usize::try_from(end)) else {
            return Err(too_far);
        };
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes
            .get_mut(start..end)
            .ok_or(too_far)?
            .copy_from_slice(data);
        Ok(())
    }
}

/// A write past a [`VecSink`]'s limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("write ends at byte {end}, beyond the sink's limit of {limit}")]
pub struct VecSinkError {
    /// Where the write would have ended.
    pub end: u64,
    /// The sink's limit.
    pub limit: u64,
}

/// What [`Reassembler::handle_chunk`] did with a chunk that passed every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChunkOutcome {
    /// New: verified and written.
    Accepted,
    /// Already received with the same hash: acknowledged, not written again.
    Duplicate,
}

/// Puts an announced object back together from chunks that arrive in any order, any number of
/// times, verifying each on arrival and the whole object at the end.
///
/// Getters: [`stream_id`](Self::stream_id), [`progress`](Self::progress),
/// [`missing`](Self::missing), [`missing_ranges`](Self::missing_ranges),
/// [`is_complete`](Self::is_complete), [`sink`](Self::sink). Input:
/// [`handle_chunk`](Self::handle_chunk). Output: [`finish`](Self::finish) once complete, or
/// [`into_sink`](Self::into_sink) to give up.
///
/// A chunk is checked before anything is written: its stream id and total must match the
/// announcement, its sequence must be below the total, its length must be exactly that chunk's
/// share of the announced size, and its bytes must hash to its announced hash (the BLAKE3
/// chaining value at its offset, see the [module docs](super)). A chunk that fails a check,
/// or whose write fails, changes nothing and can be sent again.
///
/// Chunk hashes come with the chunks, so they catch corruption, not forgery; the announced
/// whole-object hash (authenticated with the `STREAM_START`) catches forgery, in
/// [`finish`](Self::finish), by merging the chunk hashes into the BLAKE3 root, without reading
/// the sink back. **Until `finish` succeeds the sink holds unverified bytes**: write to a
/// temporary place, and on any error from `finish` discard it. A mismatch cannot say which
/// chunk was forged; fetch the whole object again.
///
/// Memory: 32 bytes and one bit per chunk, at most [`MAX_CHUNKS`](super::MAX_CHUNKS) chunks
/// (about 2 MiB), allocated by [`new`](Self::new); the data only passes through.
pub struct Reassembler<S> {
    stream_id: MessageId,
    size: u64,
    chunk_size: u32,
    total: u32,
    hash: Hash,
    /// One bit per chunk, set when received; the bits past `total` start set.
    received: Vec<u64>,
    /// Each received chunk's hash (zeros until then).
    hashes: Vec<Hash>,
    received_chunks: u32,
    received_bytes: u64,
    sink: S,
}

impl<S: Sink> Reassembler<S> {
    /// A reassembler for the object `start` announces, writing into `sink`.
    #[must_use]
    pub fn new(start: &StreamStart, sink: S) -> Self {
        let total = start.total();
        let words = total.div_ceil(64) as usize;
        let mut received = vec![0u64; words];
        let used = total % 64;
        if let (Some(last), true) = (received.last_mut(), used != 0) {
            *last = !0u64 << used;
        }
        Self {
            stream_id: start.stream_id(),
            size: start.size(),
            chunk_size: start.chunk_size(),
            total,
            hash: *start.hash(),
            received,
            hashes: vec![[0; 32]; total as usize],
            received_chunks: 0,
            received_bytes: 0,
            sink,
        }
    }

    /// Checks a chunk, writes it at its offset and records its hash.
    ///
    /// A chunk already received is acknowledged as [`ChunkOutcome::Duplicate`] when its
    /// announced hash equals the stored one, without hashing or writing its bytes.
    ///
    /// # Errors
    /// [`ReassemblyError::WrongStream`], [`ReassemblyError::TotalMismatch`],
    /// [`ReassemblyError::BeyondTotal`], [`ReassemblyError::WrongLength`],
    /// [`ReassemblyError::ChunkHashMismatch`], [`ReassemblyError::ConflictingDuplicate`] or
    /// [`ReassemblyError::Sink`]. The reassembler is unchanged in every case.
    pub fn handle_chunk(
        &mut self,
        info: &ChunkInfo,
        data: &[u8],
    ) -> Result<ChunkOutcome, ReassemblyError<S::Error>> {
        let sequence = info.sequence;
        if info.stream_id != self.stream_id {
            return Err(ReassemblyError::WrongStream {
                expected: self.stream_id,
                got: info.stream_id,
            });
        }
        if info.total != self.total {
            return Err(ReassemblyError::TotalMismatch {
                total: info.total,
                expected: self.total,
            });
        }
        let beyond = ReassemblyError::BeyondTotal {
            sequence,
            total: self.total,
        };
        let range = self.chunk_range(sequence).ok_or(beyond)?;
        let expected = range.end - range.start;
        if data.len() as u64 != expected {
            return Err(ReassemblyError::WrongLength {
                sequence,
                expected,
                got: data.len() as u64,
            });
        }
        let index = sequence as usize;
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        let stored = self.hashes.get(index).copied();
        let (Some(flags), Some(stored)) = (self.received.get(word).copied(), stored) else {
            return Err(ReassemblyError::BeyondTotal {
                sequence,
                total: self.total,
            });
        };
        if flags & bit != 0 {
            return if stored == info.hash {
                Ok(ChunkOutcome::Duplicate)
            } else {
                Err(ReassemblyError::ConflictingDuplicate { sequence })
            };
        }
        match tree::chunk_hash(self.total == 1, range.start, data) {
            Some(hash) if hash == info.hash => {}
            _ => return Err(ReassemblyError::ChunkHashMismatch { sequence }),
        }
        self.sink
            .write_at(range.start, data)
            .map_err(ReassemblyError::Sink)?;
        // Commit: every check passed and the bytes are written.
        if let (Some(flags), Some(stored)) =
            (self.received.get_mut(word), self.hashes.get_mut(index))
        {
            *flags |= bit;
            *stored = info.hash;
        }
        self.received_chunks += 1;
        self.received_bytes += expected;
        Ok(ChunkOutcome::Accepted)
    }

    /// Verifies the whole object against the announced hash and hands back the sink; only now
    /// is the object "yielded".
    ///
    /// # Errors
    /// [`ReassemblyError::Incomplete`] if chunks are missing (check
    /// [`is_complete`](Self::is_complete) first: this consumes the reassembler);
    /// [`ReassemblyError::HashMismatch`] if the chunks, each matching its own hash, do not make
    /// the announced object. In both cases discard what the sink holds.
    pub fn finish(self) -> Result<S, ReassemblyError<S::Error>> {
        if !self.is_complete() {
            return Err(ReassemblyError::Incomplete {
                missing: self.total - self.received_chunks,
                total: self.total,
            });
        }
        match tree::root(&self.hashes) {
            Some(root) if root == self.hash => Ok(self.sink),
            _ => Err(ReassemblyError::HashMismatch),
        }
    }
}

impl<S> Reassembler<S> {
    /// The stream this reassembler accepts chunks of.
    #[must_use]
    pub const fn stream_id(&self) -> MessageId {
        self.stream_id
    }

    /// `(bytes received, object size)`; duplicates count once.
    #[must_use]
    pub const fn progress(&self) -> (u64, u64) {
        (self.received_bytes, self.size)
    }

    /// Whether every chunk has been received (the object is not verified until
    /// [`finish`](Self::finish)).
    #[must_use]
    pub const fn is_complete(&self) -> bool {
        self.received_chunks == self.total
    }

    /// The sequence numbers not yet received, ascending: what to ask for after a reconnect.
    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        self.received.iter().enumerate().flat_map(|(word, &flags)| {
            let mut gaps = !flags;
            core::iter::from_fn(move || {
                if gaps == 0 {
                    return None;
                }
                let bit = gaps.trailing_zeros();
                gaps &= gaps - 1;
                u32::try_from(word * 64).ok()?.checked_add(bit)
            })
        })
    }

    /// [`missing`](Self::missing) as ascending, non-adjacent ranges: a compact resume request.
    pub fn missing_ranges(&self) -> impl Iterator<Item = Range<u32>> + '_ {
        let mut missing = self.missing().peekable();
        core::iter::from_fn(move || {
            let start = missing.next()?;
            let mut end = start + 1;
            while missing.next_if_eq(&end).is_some() {
                end += 1;
            }
            Some(start..end)
        })
    }

    /// The sink, holding only verified chunks but not yet a verified object.
    #[must_use]
    pub const fn sink(&self) -> &S {
        &self.sink
    }

    /// Gives up and returns the sink, whose bytes are **unverified**: discard them, or keep
    /// them only to resume with a new reassembler for the same announcement.
    #[must_use]
    pub fn into_sink(self) -> S {
        self.sink
    }

    fn chunk_range(&self, sequence: u32) -> Option<Range<u64>> {
        if sequence >= self.total {
            return None;
        }
        let start = u64::from(sequence) * u64::from(self.chunk_size);
        Some(start..self.size.min(start + u64::from(self.chunk_size)))
    }
}

impl<S> fmt::Debug for Reassembler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembler")
            .field("stream_id", &self.stream_id)
            .field("size", &self.size)
            .field("received_chunks", &self.received_chunks)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// Why a chunk or an object was refused. After a chunk error the reassembler is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError<E = Infallible> {
    /// The chunk belongs to another stream: route it there.
    #[error("chunk for stream {got}, expected {expected}")]
    WrongStream {
        /// This reassembler's stream.
        expected: MessageId,
        /// The chunk's stream.
        got: MessageId,
    },
    /// The chunk's total differs from the announcement: the sender is broken.
    #[error("chunk says total {total}, announcement says {expected}")]
    TotalMismatch {
        /// The chunk's total.
        total: u32,
        /// The announced total.
        expected: u32,
    },
    /// The chunk's sequence is not below the announced total: the sender is broken.
    #[error("chunk {sequence} is beyond the total of {total}")]
    BeyondTotal {
        /// The chunk's sequence.
        sequence: u32,
        /// The announced total.
        total: u32,
    },
    /// The chunk's length is not its share of the announced size: ask for it again.
    #[error("chunk {sequence} has {got} bytes, expected {expected}")]
    WrongLength {
        /// The chunk's sequence.
        sequence: u32,
        /// Its length under the announcement.
        expected: u64,
        /// The length received.
        got: u64,
    },
    /// The chunk's bytes do not match its hash (corrupted in transit): ask for it again.
    #[error("chunk {sequence} does not match its hash")]
    ChunkHashMismatch {
        /// The chunk's sequence.
        sequence: u32,
    },
    /// The chunk was already received with another hash: one of them is forged; the first is
    /// kept, and [`Reassembler::finish`] decides.
    #[error("chunk {sequence} was already received with another hash")]
    ConflictingDuplicate {
        /// The chunk's sequence.
        sequence: u32,
    },
    /// [`Reassembler::finish`] was called with chunks missing.
    #[error("object incomplete: {missing} of {total} chunks missing")]
    Incomplete {
        /// Chunks missing.
        missing: u32,
        /// The announced total.
        total: u32,
    },
    /// Every chunk matched its own hash but together they do not make the announced object:
    /// the sender forged chunks or the announcement. Discard the sink's bytes.
    #[error("object does not match the announced hash")]
    HashMismatch,
    /// The sink failed to write the chunk; it stays missing.
    #[error("sink write failed")]
    Sink(#[source] E),
}

impl<E> From<&ReassemblyError<E>> for talos_crypto::ErrorCode {
    fn from(err: &ReassemblyError<E>) -> Self {
        match err {
            ReassemblyError::ChunkHashMismatch { .. } | ReassemblyError::HashMismatch => {
                Self::CryptoError
            }
            ReassemblyError::Sink(_) => Self::TransportError,
            _ => Self::InvalidInput,
        }
    }
}
