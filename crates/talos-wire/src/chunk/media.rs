//! Media types: detection from magic bytes, chunk sizes and size limits.

use core::fmt;
use core::str::FromStr;

/// 1 KiB.
const KIB: u32 = 1024;
/// 1 MiB, as a size limit.
const MIB: u64 = 1024 * 1024;

/// How many leading bytes [`MediaType::detect`] looks at: pass this many, or the whole object
/// if it is shorter. (The `infer` crate reads the same 8 KiB from a file.)
pub const DETECT_LEN: usize = 8192;

/// MIME type for text that no magic number matched.
pub const TEXT_MIME: &str = "text/plain";
/// MIME type for bytes that are neither a known format nor text.
pub const UNKNOWN_MIME: &str = "application/octet-stream";

/// The kind of an object, which sets its default chunk size and its maximum size
/// (REFERENCE.md §3.3, the seed's file limits).
///
/// | media      | chunk size | maximum size          |
/// |------------|------------|-----------------------|
/// | `text`     | 64 KiB     | 50 MiB (our choice)   |
/// | `image`    | 256 KiB    | 50 MiB                |
/// | `audio`    | 512 KiB    | 200 MiB               |
/// | `video`    | 1 MiB      | 2 GiB                 |
/// | `document` | 256 KiB    | 100 MiB               |
/// | `archive`  | 512 KiB    | 500 MiB               |
/// | `unknown`  | 256 KiB    | 50 MiB                |
///
/// The seed writes its limits as "50 MB … 2 GB"; we read them as binary units (50 MB =
/// 50 × 2^20 bytes, 2 GB = 2^31 bytes). That reading is the larger one, so no object the seed
/// accepts under either reading is refused here, and a 2 GB video is exactly 2048 chunks of
/// 1 MiB. The seed has no file limit for text; we use the image and unknown limit, 50 MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaType {
    /// UTF-8 text, HTML, XML, shell scripts.
    Text,
    /// Still images (PNG, JPEG, GIF, WebP, …).
    Image,
    /// Audio (MP3, FLAC, Ogg, WAV, …).
    Audio,
    /// Video (MP4, Matroska, WebM, …).
    Video,
    /// Documents: PDF, office formats, EPUB, RTF, PostScript.
    Document,
    /// Archives and compressed files (zip, tar, gzip, 7z, …).
    Archive,
    /// Anything else, including executables and fonts.
    Unknown,
}

impl MediaType {
    /// Every media type, in the order of the table above.
    pub const ALL: &'static [Self] = &[
        Self::Text,
        Self::Image,
        Self::Audio,
        Self::Video,
        Self::Document,
        Self::Archive,
        Self::Unknown,
    ];

    /// The media type and MIME type of an object, from its first bytes (see [`DETECT_LEN`]).
    ///
    /// Magic numbers are matched by the `infer` crate. When none matches, bytes that are valid
    /// UTF-8 without NUL (a character cut at the end of `first_bytes` is allowed) are
    /// [`Text`](Self::Text), `"text/plain"`; anything else is [`Unknown`](Self::Unknown),
    /// `"application/octet-stream"`. The empty object is text.
    ///
    /// ```
    /// use talos_wire::chunk::MediaType;
    ///
    /// let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    /// assert_eq!(MediaType::detect(png), (MediaType::Image, "image/png"));
    /// assert_eq!(MediaType::detect("héllo".as_bytes()), (MediaType::Text, "text/plain"));
    /// assert_eq!(MediaType::detect(&[0xff, 0xfe, 0x00, 0x81]).0, MediaType::Unknown);
    /// ```
    #[must_use]
    pub fn detect(first_bytes: &[u8]) -> (Self, &'static str) {
        if let Some(kind) = infer::get(first_bytes) {
            let mime = kind.mime_type();
            return (Self::from_matcher(kind.matcher_type(), mime), mime);
        }
        if looks_like_text(first_bytes) {
            (Self::Text, TEXT_MIME)
        } else {
            (Self::Unknown, UNKNOWN_MIME)
        }
    }

    fn from_matcher(matcher: infer::MatcherType, mime: &str) -> Self {
        use infer::MatcherType as M;
        match matcher {
            M::Text => Self::Text,
            M::Image => Self::Image,
            M::Audio => Self::Audio,
            M::Video => Self::Video,
            M::Doc | M::Book => Self::Document,
            // `infer` files these under archives; people call them documents.
            M::Archive
                if matches!(
                    mime,
                    "application/pdf" | "application/rtf" | "application/postscript"
                ) =>
            {
                Self::Document
            }
            M::Archive => Self::Archive,
            M::App | M::Font | M::Custom => Self::Unknown,
        }
    }

    /// The default chunk size in bytes: a power of two, 64 KiB for text up to 1 MiB for video.
    #[must_use]
    pub const fn chunk_size(self) -> u32 {
        match self {
            Self::Text => 64 * KIB,
            Self::Image | Self::Document | Self::Unknown => 256 * KIB,
            Self::Audio | Self::Archive => 512 * KIB,
            Self::Video => 1024 * KIB,
        }
    }

    /// The largest object of this type, in bytes (binary units; see the type's docs).
    #[must_use]
    pub const fn max_size(self) -> u64 {
        match self {
            Self::Text | Self::Image | Self::Unknown => 50 * MIB,
            Self::Audio => 200 * MIB,
            Self::Video => 2048 * MIB,
            Self::Document => 100 * MIB,
            Self::Archive => 500 * MIB,
        }
    }

    /// The name used in `STREAM_START`: `"text"`, `"image"`, `"audio"`, `"video"`,
    /// `"document"`, `"archive"` or `"unknown"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Archive => "archive",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaType {
    type Err = UnknownMediaType;

    /// Parses a name written by [`MediaType::as_str`] (lowercase only).
    fn from_str(s: &str) -> Result<Self, UnknownMediaType> {
        Self::ALL
            .iter()
            .copied()
            .find(|media| media.as_str() == s)
            .ok_or(UnknownMediaType)
    }
}

/// Not one of the media type names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown media type: expected text, image, audio, video, document, archive or unknown")]
pub struct UnknownMediaType;

/// Valid UTF-8 with no NUL byte, allowing the last character to be cut off.
fn looks_like_text(bytes: &[u8]) -> bool {
    let valid = match core::str::from_utf8(bytes) {
        Ok(_) => bytes,
        // `error_len() == None`: the input ends inside a character, which a prefix may.
        Err(e) if e.error_len().is_none() => bytes.get(..e.valid_up_to()).unwrap_or_default(),
        Err(_) => return false,
    };
    !valid.contains(&0)
}
