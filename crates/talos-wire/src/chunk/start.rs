//! `STREAM_START`: the announcement that precedes an object's chunks.

use core::ops::Range;

use talos_crypto::json::JsonError;
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::{CborError, base64url, cbor, json};

use super::{MAX_CHUNK_SIZE, MAX_CHUNKS, MIN_CHUNK_SIZE, MediaType};
use crate::MessageId;

/// The `STREAM_START` format version this crate writes and reads.
pub const STREAM_START_VERSION: u32 = 1;
/// The longest file name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;
/// The longest MIME type, in bytes.
pub const MAX_MIME_LEN: usize = 255;

/// The announcement of an object sent in chunks (`STREAM_START`): its size, type, chunking and
/// whole-object BLAKE3 hash.
///
/// Every `StreamStart` is valid: [`StreamStart::new`], the decoders and
/// [`Chunker::finish`](super::Chunker::finish) all check that
/// - `chunk_size` is a power of two from 1 KiB to 4 MiB ([`MIN_CHUNK_SIZE`], [`MAX_CHUNK_SIZE`]);
/// - `size` is at most [`MediaType::max_size`] of `media`;
/// - `total` is `ceil(size / chunk_size)`, or 1 for the empty object, and at most
///   [`MAX_CHUNKS`];
/// - `mime` is 1 to 255 printable ASCII characters with a `/`;
/// - `name`, if present, is 1 to 255 bytes of UTF-8 with no `/`, `\`, NUL or other control
///   character, and is not `.` or `..`. It is a hint: a receiver that writes files still
///   chooses its own path.
///
/// Both encodings carry the same fields, `{v: 1, stream_id, size, mime, media, chunk_size,
/// total, hash, name?}`: canonical JSON (RFC 8785; `hash` in base64url, `stream_id` a UUIDv7
/// string) and deterministic CBOR (`hash` a byte string). Decoders refuse unknown fields, and
/// refuse any CBOR but the deterministic encoding.
///
/// `media` is what the sender claims; it sets the size limit. A receiver that cares can run
/// [`MediaType::detect`] on chunk 0 and compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamStart {
    stream_id: MessageId,
    size: u64,
    mime: String,
    media: MediaType,
    chunk_size: u32,
    total: u32,
    hash: [u8; 32],
    name: Option<String>,
}

impl StreamStart {
    /// An announcement; `total` is computed from `size` and `chunk_size`.
    ///
    /// Use [`Chunker`](super::Chunker) to compute `hash`; it must be the whole-object
    /// `blake3::hash`.
    ///
    /// # Errors
    /// [`StreamStartError`] if any rule in the type's docs is broken.
    pub fn new(
        stream_id: MessageId,
        size: u64,
        media: MediaType,
        mime: &str,
        chunk_size: u32,
        hash: [u8; 32],
        name: Option<&str>,
    ) -> Result<Self, StreamStartError> {
        let total = check_params(size, media, mime, chunk_size, name)?;
        Ok(Self {
            stream_id,
            size,
            mime: mime.to_owned(),
            media,
            chunk_size,
            total,
            hash,
            name: name.map(str::to_owned),
        })
    }

    /// The stream's id, which every chunk repeats.
    #[must_use]
    pub const fn stream_id(&self) -> MessageId {
        self.stream_id
    }

    /// The object's size in bytes.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The MIME type, e.g. `"video/mp4"`.
    #[must_use]
    pub fn mime(&self) -> &str {
        &self.mime
    }

    /// The media type, which sets the size limit.
    #[must_use]
    pub const fn media(&self) -> MediaType {
        self.media
    }

    /// Bytes per chunk; the last chunk may be shorter.
    #[must_use]
    pub const fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The number of chunks: `ceil(size / chunk_size)`, and 1 for the empty object.
    #[must_use]
    pub const fn total(&self) -> u32 {
        self.total
    }

    /// The whole object's BLAKE3 hash.
    #[must_use]
    pub const fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The file name, if the sender gave one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The bytes of the object that chunk `sequence` holds; `None` beyond the total.
    ///
    /// ```
    /// # use talos_wire::{MessageId, chunk::{MediaType, StreamStart}};
    /// # let id: MessageId = "0190a5e0-7c3a-7000-8000-000000000001".parse().unwrap();
    /// let start = StreamStart::new(id, 2500, MediaType::Text, "text/plain", 1024, [0; 32], None)?;
    /// assert_eq!(start.total(), 3);
    /// assert_eq!(start.chunk_range(2), Some(2048..2500));
    /// assert_eq!(start.chunk_range(3), None);
    /// # Ok::<(), talos_wire::chunk::StreamStartError>(())
    /// ```
    #[must_use]
    pub fn chunk_range(&self, sequence: u32) -> Option<Range<u64>> {
        if sequence >= self.total {
            return None;
        }
        let start = u64::from(sequence) * u64::from(self.chunk_size);
        Some(start..self.size.min(start + u64::from(self.chunk_size)))
    }

    /// The canonical JSON form.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.record().to_json()
    }

    /// Parses the JSON form strictly (any formatting; no unknown, missing, duplicate or `null`
    /// members) and checks the rules in the type's docs.
    ///
    /// # Errors
    /// [`StreamStartError::Json`] for JSON of the wrong shape, [`StreamStartError::Malformed`]
    /// for a `null` member, and the validation variants.
    pub fn from_json(input: &[u8]) -> Result<Self, StreamStartError> {
        let value = json::parse(input)?;
        let start = Self::from_repr(json::from_value(&value)?)?;
        // An absent `name` written as `null` would be a second form of the same value.
        if value.to_canonical_vec() != start.to_json() {
            return Err(StreamStartError::Malformed(
                "absent members must be omitted, not null",
            ));
        }
        Ok(start)
    }

    /// The deterministic CBOR form.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        self.record().to_cbor()
    }

    /// Parses the CBOR form, accepting only its deterministic encoding, and checks the rules in
    /// the type's docs.
    ///
    /// # Errors
    /// [`StreamStartError::Cbor`] for malformed or non-deterministic CBOR, and the validation
    /// variants.
    pub fn from_cbor(input: &[u8]) -> Result<Self, StreamStartError> {
        let start = Self::from_repr(cbor::decode(input)?)?;
        if start.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(start)
    }

    fn record(&self) -> Record<'_> {
        // `size` is at most 2 GiB (the largest `max_size`), far below 2^53.
        let size = SafeUint::new(self.size).unwrap_or(SafeUint::MAX);
        Record::new()
            .with("v", Field::uint(STREAM_START_VERSION))
            .with("stream_id", Field::text(self.stream_id.to_string()))
            .with("size", Field::Uint(size))
            .with("mime", Field::text(self.mime.as_str()))
            .with("media", Field::text(self.media.as_str()))
            .with("chunk_size", Field::uint(self.chunk_size))
            .with("total", Field::uint(self.total))
            .with("hash", Field::bytes(&self.hash[..]))
            .with_opt("name", self.name.as_deref().map(Field::text))
    }

    fn from_repr(repr: Repr) -> Result<Self, StreamStartError> {
        if repr.v != STREAM_START_VERSION {
            return Err(StreamStartError::UnsupportedVersion { v: repr.v });
        }
        let media = repr
            .media
            .parse()
            .map_err(|_| StreamStartError::Malformed("unknown media type"))?;
        let start = Self::new(
            repr.stream_id,
            repr.size,
            media,
            &repr.mime,
            repr.chunk_size,
            repr.hash,
            repr.name.as_deref(),
        )?;
        if repr.total != start.total {
            return Err(StreamStartError::TotalMismatch {
                total: repr.total,
                expected: start.total,
            });
        }
        Ok(start)
    }
}

/// The decoding side of [`StreamStart::record`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u32,
    stream_id: MessageId,
    size: u64,
    mime: String,
    media: String,
    chunk_size: u32,
    total: u32,
    #[serde(with = "base64url::serde::array")]
    hash: [u8; 32],
    #[serde(default)]
    name: Option<String>,
}

/// Checks everything but the hash and returns the number of chunks.
pub(super) fn check_params(
    size: u64,
    media: MediaType,
    mime: &str,
    chunk_size: u32,
    name: Option<&str>,
) -> Result<u32, StreamStartError> {
    if !chunk_size.is_power_of_two() || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(StreamStartError::InvalidChunkSize { chunk_size });
    }
    let max = media.max_size();
    if size > max {
        return Err(StreamStartError::TooLarge { size, max, media });
    }
    let chunks = size.div_ceil(u64::from(chunk_size)).max(1);
    let total = u32::try_from(chunks)
        .ok()
        .filter(|&total| total <= MAX_CHUNKS)
        .ok_or(StreamStartError::TooManyChunks {
            chunks,
            max: MAX_CHUNKS,
        })?;
    check_mime(mime)?;
    if let Some(name) = name {
        check_name(name)?;
    }
    Ok(total)
}

fn check_mime(mime: &str) -> Result<(), StreamStartError> {
    let ok = !mime.is_empty()
        && mime.len() <= MAX_MIME_LEN
        && mime.contains('/')
        && mime.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StreamStartError::InvalidMime { len: mime.len() })
    }
}

fn check_name(name: &str) -> Result<(), StreamStartError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_NAME_LEN {
        "longer than 255 bytes"
    } else if name == "." || name == ".." {
        "a dot path"
    } else if name.contains(['/', '\\']) {
        "contains a path separator"
    } else if name.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(StreamStartError::InvalidName {
        reason,
        len: name.len(),
    })
}

/// Why a `STREAM_START` could not be made or read. Refuse the stream in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamStartError {
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// Well-formed, but not in its one accepted form.
    #[error("malformed stream start: {0}")]
    Malformed(&'static str),
    /// A format version this crate does not read.
    #[error("unsupported stream start version {v}")]
    UnsupportedVersion {
        /// The version found.
        v: u32,
    },
    /// The chunk size is not a power of two from 1 KiB to 4 MiB.
    #[error("invalid chunk size {chunk_size}: must be a power of two from 1024 to 4194304")]
    InvalidChunkSize {
        /// The chunk size given.
        chunk_size: u32,
    },
    /// The object is larger than its media type allows.
    #[error("object too large: {size} bytes, at most {max} for {media}")]
    TooLarge {
        /// The object's size.
        size: u64,
        /// The limit for `media`.
        max: u64,
        /// The media type.
        media: MediaType,
    },
    /// The chunk size is so small that the object needs too many chunks; use a larger one.
    #[error("too many chunks: {chunks}, at most {max}")]
    TooManyChunks {
        /// The number of chunks the object would need.
        chunks: u64,
        /// The limit, [`MAX_CHUNKS`].
        max: u32,
    },
    /// The announced number of chunks does not follow from the size and chunk size.
    #[error("chunk total {total} does not match size and chunk size, which give {expected}")]
    TotalMismatch {
        /// The total announced.
        total: u32,
        /// `ceil(size / chunk_size)`, or 1 for the empty object.
        expected: u32,
    },
    /// The MIME type is empty, longer than 255 bytes, has no `/` or a non-printable byte.
    #[error("invalid mime type ({len} bytes)")]
    InvalidMime {
        /// Its length in bytes.
        len: usize,
    },
    /// The file name breaks a rule in [`StreamStart`]'s docs.
    #[error("invalid file name ({len} bytes): {reason}")]
    InvalidName {
        /// Which rule.
        reason: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

impl From<&StreamStartError> for talos_crypto::ErrorCode {
    fn from(err: &StreamStartError) -> Self {
        match err {
            StreamStartError::Json(_)
            | StreamStartError::Cbor(_)
            | StreamStartError::Malformed(_) => Self::FrameInvalid,
            StreamStartError::UnsupportedVersion { .. } => Self::ProtocolMismatch,
            _ => Self::InvalidInput,
        }
    }
}
