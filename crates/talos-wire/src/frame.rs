//! Binary frames: `"BMP\x01"` magic (the last byte is the version), a 1-byte type, a
//! big-endian u32 payload length, then the payload (the seed's layout, REFERENCE.md §3.1).
//!
//! [`FrameDecoder`] is incremental: push byte slices of any size, one byte at a time if need
//! be, and pull complete frames. It checks magic, type and length as soon as the 9-byte header
//! is in, so an oversized frame is refused before any of its payload is buffered; it never
//! buffers more than one frame; and after an error it stays failed instead of resynchronising
//! on garbage.
//!
//! ```
//! use talos_wire::frame::{self, FrameDecoder, FrameType};
//!
//! let mut wire = Vec::new();
//! frame::encode(FrameType::Data, b"hello", &mut wire).unwrap();
//! frame::encode(FrameType::Ping, b"", &mut wire).unwrap();
//!
//! let mut decoder = FrameDecoder::new();
//! let mut frames = Vec::new();
//! for byte in &wire {
//!     // One byte at a time: the decoder takes whatever it is given.
//!     let mut input = std::slice::from_ref(byte);
//!     while !input.is_empty() {
//!         let used = decoder.handle_bytes(input).unwrap();
//!         input = &input[used..];
//!         while let Some(frame) = decoder.poll_frame() {
//!             frames.push(frame);
//!         }
//!     }
//! }
//! decoder.finish().unwrap(); // nothing left half-read
//! assert_eq!(frames[0].kind, FrameType::Data);
//! assert_eq!(frames[0].payload, b"hello");
//! assert_eq!(frames[1].kind, FrameType::Ping);
//! ```

use core::fmt;

/// The magic: `"BMP"` and the format version, 1.
pub const MAGIC: [u8; 4] = *b"BMP\x01";
/// Header length: magic, type, length.
pub const HEADER_LEN: usize = 9;
/// The default and the seed's maximum payload: 16 MiB.
pub const DEFAULT_MAX_PAYLOAD: u32 = 16 * 1024 * 1024;

/// Payload capacity allocated when a header arrives; more as the payload does.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameType {
    /// Application data: an envelope.
    Data,
    /// Session start.
    Handshake,
    /// Answer to a handshake.
    HandshakeAck,
    /// Liveness probe.
    Ping,
    /// Answer to a ping.
    Pong,
    /// An error report.
    Error,
    /// Orderly close.
    Close,
}

impl FrameType {
    /// The type byte.
    #[must_use]
    pub const fn to_byte(self) -> u8 {
        match self {
            Self::Data => 0x01,
            Self::Handshake => 0x02,
            Self::HandshakeAck => 0x03,
            Self::Ping => 0x04,
            Self::Pong => 0x05,
            Self::Error => 0x06,
            Self::Close => 0x07,
        }
    }

    /// The type's name, e.g. `"HANDSHAKE_ACK"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Data => "DATA",
            Self::Handshake => "HANDSHAKE",
            Self::HandshakeAck => "HANDSHAKE_ACK",
            Self::Ping => "PING",
            Self::Pong => "PONG",
            Self::Error => "ERROR",
            Self::Close => "CLOSE",
        }
    }

    /// The type for a byte.
    ///
    /// # Errors
    /// [`FrameError::UnknownType`] for any byte but 0x01..=0x07.
    pub const fn from_byte(byte: u8) -> Result<Self, FrameError> {
        Ok(match byte {
            0x01 => Self::Data,
            0x02 => Self::Handshake,
            0x03 => Self::HandshakeAck,
            0x04 => Self::Ping,
            0x05 => Self::Pong,
            0x06 => Self::Error,
            0x07 => Self::Close,
            other => return Err(FrameError::UnknownType(other)),
        })
    }
}

/// A decoded frame.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its type.
    pub kind: FrameType,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("kind", &self.kind)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl Frame {
    /// Appends the frame's bytes to `out`.
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] if the payload does not fit the u32 length field.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        encode(self.kind, &self.payload, out)
    }
}

/// Appends a frame to `out`.
///
/// # Errors
/// [`FrameError::TooLarge`] if `payload` does not fit the u32 length field; `out` is then
/// unchanged. (Receivers enforce their own, usually smaller, maximum.)
pub fn encode(kind: FrameType, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        len: payload.len() as u64,
        max: u32::MAX,
    })?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(kind.to_byte());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Why a byte stream is not a sequence of frames. After any of these the decoder is failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The first four bytes of a frame are not `"BMP\x01"`: not this protocol, or a version
    /// this decoder does not speak.
    #[error("invalid protocol magic {found:02x?}")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A type byte outside 0x01..=0x07.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    /// The announced payload is larger than the maximum.
    #[error("frame too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The maximum.
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("truncated frame: stream closed after {have} of {need} bytes")]
    Truncated {
        /// Bytes of the frame received.
        have: u64,
        /// Bytes the frame needs (header, then header and payload).
        need: u64,
    },
}

impl From<&FrameError> for talos_crypto::ErrorCode {
    fn from(_: &FrameError) -> Self {
        Self::FrameInvalid
    }
}

/// The incremental decoder. Input: [`handle_bytes`](Self::handle_bytes) and, when the stream
/// ends, [`finish`](Self::finish). Output: after every input, drain
/// [`poll_frame`](Self::poll_frame) until `None`.
#[derive(Debug)]
pub struct FrameDecoder {
    max_payload: u32,
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// `Some` once the header is in: the type and the payload received so far.
    body: Option<(FrameType, usize, Vec<u8>)>,
    ready: Option<Frame>,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder with the default maximum payload, 16 MiB.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_payload(DEFAULT_MAX_PAYLOAD)
    }

    /// A decoder that refuses payloads larger than `max_payload` bytes.
    #[must_use]
    pub fn with_max_payload(max_payload: u32) -> Self {
        Self {
            max_payload,
            header: [0; HEADER_LEN],
            header_len: 0,
            body: None,
            ready: None,
            failed: None,
        }
    }

    /// Consumes bytes from `input` and returns how many it took: it stops at the end of a
    /// frame, which [`poll_frame`](Self::poll_frame) then yields; until that frame is polled it
    /// takes nothing more. So at most one frame (header plus maximum payload) is ever buffered.
    ///
    /// # Errors
    /// The first [`FrameError`] met; every later call returns it again.
    pub fn handle_bytes(&mut self, input: &[u8]) -> Result<usize, FrameError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let mut used = 0;
        while self.ready.is_none() && used < input.len() {
            let rest = &input[used..];
            used += match &mut self.body {
                None => {
                    let take = rest.len().min(HEADER_LEN - self.header_len);
                    self.header[self.header_len..self.header_len + take]
                        .copy_from_slice(&rest[..take]);
                    self.header_len += take;
                    if self.header_len == HEADER_LEN {
                        match self.parse_header() {
                            Ok(body) => self.body = Some(body),
                            Err(err) => {
                                self.failed = Some(err);
                                return Err(err);
                            }
                        }
                    }
                    take
                }
                Some((_, len, payload)) => {
                    let take = rest.len().min(*len - payload.len());
                    // Grow geometrically, but never past the announced length: a 9-byte
                    // header alone cannot make us allocate the whole payload.
                    let want = payload.len() + take;
                    if want > payload.capacity() {
                        let target = (*len).min(want.max(payload.capacity() * 2));
                        payload.reserve_exact(target - payload.len());
                    }
                    payload.extend_from_slice(&rest[..take]);
                    take
                }
            };
            if let Some((kind, len, payload)) = &mut self.body
                && payload.len() == *len
            {
                self.ready = Some(Frame {
                    kind: *kind,
                    payload: core::mem::take(payload),
                });
                self.body = None;
                self.header_len = 0;
            }
        }
        Ok(used)
    }

    fn parse_header(&self) -> Result<(FrameType, usize, Vec<u8>), FrameError> {
        let h = &self.header;
        let found = [h[0], h[1], h[2], h[3]];
        if found != MAGIC {
            return Err(FrameError::BadMagic { found });
        }
        let kind = FrameType::from_byte(h[4])?;
        let len = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        if len > self.max_payload {
            return Err(FrameError::TooLarge {
                len: u64::from(len),
                max: self.max_payload,
            });
        }
        // `len` ≤ max_payload: the caller chose to accept that much. Allocate it as it arrives.
        let len = len as usize;
        Ok((kind, len, Vec::with_capacity(len.min(INITIAL_CAPACITY))))
    }

    /// The next complete frame, if there is one.
    #[must_use]
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.ready.take()
    }

    /// Call when the stream has ended.
    ///
    /// # Errors
    /// [`FrameError::Truncated`] if it ended inside a frame; the error that failed the decoder,
    /// if one did.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        match &self.body {
            Some((_, len, payload)) => Err(FrameError::Truncated {
                have: (HEADER_LEN + payload.len()) as u64,
                need: (HEADER_LEN + len) as u64,
            }),
            None if self.header_len > 0 => Err(FrameError::Truncated {
                have: self.header_len as u64,
                need: HEADER_LEN as u64,
            }),
            None => Ok(()),
        }
    }

    /// Bytes held for the frame in progress (never more than its header and payload).
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.header_len + self.body.as_ref().map_or(0, |(_, _, p)| p.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(decoder: &mut FrameDecoder, mut input: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let used = decoder.handle_bytes(input)?;
            input = &input[used..];
            out.extend(decoder.poll_frame());
        }
        Ok(out)
    }

    #[test]
    fn oversized_frame_is_refused_at_its_header() {
        let mut decoder = FrameDecoder::with_max_payload(1024);
        let mut header = Vec::from(MAGIC);
        header.push(1);
        header.extend_from_slice(&1025u32.to_be_bytes());
        assert_eq!(
            feed(&mut decoder, &header),
            Err(FrameError::TooLarge {
                len: 1025,
                max: 1024
            })
        );
        assert_eq!(decoder.buffered(), HEADER_LEN);
        // Stays failed, even on valid input.
        let mut ok = Vec::new();
        encode(FrameType::Ping, b"", &mut ok).unwrap();
        assert!(decoder.handle_bytes(&ok).is_err());
        assert!(decoder.finish().is_err());
    }

    #[test]
    fn errors_name_the_problem() {
        let mut d = FrameDecoder::new();
        assert_eq!(
            feed(&mut d, b"XMP\x01\x01\0\0\0\0"),
            Err(FrameError::BadMagic { found: *b"XMP\x01" })
        );
        let mut d = FrameDecoder::new();
        assert_eq!(
            feed(&mut d, b"BMP\x02\x01\0\0\0\0"),
            Err(FrameError::BadMagic { found: *b"BMP\x02" })
        );
        let mut d = FrameDecoder::new();
        assert_eq!(
            feed(&mut d, b"BMP\x01\x08\0\0\0\0"),
            Err(FrameError::UnknownType(8))
        );
        let mut d = FrameDecoder::new();
        feed(&mut d, b"BMP\x01\x01\0\0\0\x05ab").unwrap();
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated { have: 11, need: 14 })
        );
        assert!(d.finish().unwrap_err().to_string().contains("truncated"));
        let mut d = FrameDecoder::new();
        feed(&mut d, b"BMP").unwrap();
        assert_eq!(d.finish(), Err(FrameError::Truncated { have: 3, need: 9 }));
    }

    #[test]
    fn a_ready_frame_blocks_further_input() {
        let mut wire = Vec::new();
        encode(FrameType::Data, b"one", &mut wire).unwrap();
        encode(FrameType::Data, b"two", &mut wire).unwrap();
        let mut d = FrameDecoder::new();
        let used = d.handle_bytes(&wire).unwrap();
        assert_eq!(used, HEADER_LEN + 3);
        assert_eq!(
            d.handle_bytes(&wire[used..]).unwrap(),
            0,
            "first frame not polled yet"
        );
        assert_eq!(d.poll_frame().unwrap().payload, b"one");
        assert_eq!(d.handle_bytes(&wire[used..]).unwrap(), HEADER_LEN + 3);
        assert_eq!(d.poll_frame().unwrap().payload, b"two");
        assert_eq!(d.poll_frame(), None);
        d.finish().unwrap();
    }

    #[test]
    fn every_type_round_trips() {
        for byte in 1..=7u8 {
            let kind = FrameType::from_byte(byte).unwrap();
            assert_eq!(kind.to_byte(), byte);
        }
        assert_eq!(FrameType::from_byte(0), Err(FrameError::UnknownType(0)));
    }
}
