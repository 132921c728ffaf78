//! Ratchet messages: the header `{dh, n, pn}`, its canonical bytes (the AAD), and the two
//! encodings of a message.
//!
//! # Header and AAD
//!
//! A [`Header`] carries the sender's current ratchet public key `dh`, the message number `n`
//! in the sending chain and the length `pn` of the previous sending chain. Its canonical bytes
//! are RFC 8785 JSON, `{"dh":"<b64u 32 B>","n":5,"pn":10}`; for talos-v1.1 they are the whole
//! AEAD associated data, for talos-v2 the session's `AD` comes first.
//!
//! Counters are `u32`: four billion messages per chain is far beyond any real chain, and a
//! sender refuses to go past `u32::MAX` (see [`crate::session::EncryptError`]). A header whose
//! counter does not fit (upstream JSON integers reach 2^53) is refused with
//! [`MessageError::CounterOutOfRange`].
//!
//! # Encodings
//!
//! Both decode to the same [`Message`]:
//!
//! - **JSON wire** (upstream talos-v1.1): `wire_message_b64u = b64u(canon({"ciphertext",
//!   "header", "nonce"}))`, bytes as unpadded base64url. [`Message::to_json`] writes the
//!   canonical JSON, [`Message::to_wire_b64u`] its base64url. The decoders parse strictly:
//!   no missing, extra or duplicate members (in the header too: extra header members would
//!   change the AAD), strict base64url, a 32-byte `dh`, a 12-byte `nonce`, a ciphertext at
//!   least as long as the tag, integer counters that fit `u32`. Any JSON formatting is
//!   accepted, since the AAD is rebuilt canonically from the decoded header.
//! - **Compact CBOR** (our frames): the deterministic encoding (RFC 8949 §4.2.1) of the array
//!   `[dh: bstr(32), n: uint, pn: uint, nonce: bstr(12), ciphertext: bstr]`, 52–60 bytes of
//!   overhead besides the ciphertext. Only that encoding is accepted (shortest heads,
//!   definite lengths, no trailing bytes), so every message has exactly one CBOR form.
//!
//! Neither encoding carries the protocol version: the version belongs to the session (the
//! session start announces it), and it is bound cryptographically, because the AAD of a
//! talos-v2 message starts with the session's `AD` and that of a talos-v1.1 message does
//! not. A message of another version therefore fails to authenticate and leaves the session
//! unchanged.
//!
//! ```
//! use talos_crypto::x25519::PublicKey;
//! use talos_ratchet::message::{Header, Message};
//!
//! let message = Message {
//!     header: Header { dh: PublicKey::from_bytes([0; 32]), n: 1, pn: 0 },
//!     nonce: *b"abcdefghijkl",
//!     ciphertext: vec![7; 20],
//! };
//! assert_eq!(
//!     message.header.to_canonical_json(),
//!     br#"{"dh":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","n":1,"pn":0}"#
//! );
//! let wire = message.to_wire_b64u();
//! assert_eq!(Message::from_wire_b64u(&wire).unwrap(), message);
//! assert_eq!(Message::from_cbor(&message.to_cbor()).unwrap(), message);
//! ```

use core::fmt;

use talos_crypto::json::{self, JsonError, Map, Value};
use talos_crypto::{ErrorCode, base64url, cbor, x25519};

/// Length of the ChaCha20-Poly1305 nonce carried in every message.
pub const NONCE_LEN: usize = 12;

/// Length of the Poly1305 tag at the end of every ciphertext.
pub const TAG_LEN: usize = 16;

/// Longest ciphertext (plaintext + tag) a message may carry: 16 MiB, the largest frame.
pub const MAX_CIPHERTEXT_LEN: usize = 16 * 1024 * 1024;

/// Longest canonical JSON message accepted (a [`MAX_CIPHERTEXT_LEN`] ciphertext in base64url
/// plus the rest).
pub const MAX_JSON_LEN: usize = MAX_CIPHERTEXT_LEN / 3 * 4 + 4 + 512;

/// Longest `wire_message_b64u` accepted.
pub const MAX_WIRE_LEN: usize = MAX_JSON_LEN / 3 * 4 + 4;

/// Longest CBOR message accepted.
pub const MAX_CBOR_LEN: usize = MAX_CIPHERTEXT_LEN + 64;

/// A message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The sender's current ratchet public key.
    pub dh: x25519::PublicKey,
    /// The message number in the current sending chain.
    pub n: u32,
    /// The number of messages in the sender's previous sending chain.
    pub pn: u32,
}

impl Header {
    /// Appends the canonical JSON `{"dh":"…","n":…,"pn":…}` to `out`.
    pub fn write_canonical_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"dh":""#);
        base64url::encode_to_vec(self.dh.as_bytes(), out);
        out.extend_from_slice(br#"","n":"#);
        push_u32(out, self.n);
        out.extend_from_slice(br#","pn":"#);
        push_u32(out, self.pn);
        out.push(b'}');
    }

    /// The canonical JSON: for talos-v1.1, the AEAD associated data.
    #[must_use]
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80);
        self.write_canonical_json(&mut out);
        out
    }

    /// Parses a header from JSON (any formatting, parsed strictly).
    ///
    /// # Errors
    /// [`MessageError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, MessageError> {
        if input.len() > 1024 {
            return Err(MessageError::TooLarge {
                len: input.len(),
                max: 1024,
            });
        }
        Self::from_value(&json::parse(input)?)
    }

    fn from_value(value: &Value) -> Result<Self, MessageError> {
        let map = value
            .as_object()
            .ok_or(MessageError::InvalidHeader("not an object"))?;
        only_fields(map, &["dh", "n", "pn"], true)?;
        let dh = map
            .get("dh")
            .ok_or(MessageError::InvalidHeader("missing dh"))?
            .as_str()
            .ok_or(MessageError::InvalidHeader("dh is not a string"))?;
        let dh = base64url::decode(dh).map_err(|_| MessageError::InvalidBase64 { field: "dh" })?;
        let dh: [u8; 32] = dh
            .as_slice()
            .try_into()
            .map_err(|_| MessageError::InvalidDhKey { len: dh.len() })?;
        Ok(Self {
            dh: x25519::PublicKey::from_bytes(dh),
            n: counter(map, "n")?,
            pn: counter(map, "pn")?,
        })
    }
}

fn push_u32(out: &mut Vec<u8>, value: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut v = value;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn counter(map: &Map, name: &'static str) -> Result<u32, MessageError> {
    let missing = if name == "n" {
        "missing n"
    } else {
        "missing pn"
    };
    let Value::Number(number) = map.get(name).ok_or(MessageError::InvalidHeader(missing))? else {
        return Err(MessageError::InvalidHeader(
            "counters must be non-negative integers",
        ));
    };
    let v = number.as_f64();
    if v.fract() != 0.0 || v < 0.0 {
        return Err(MessageError::InvalidHeader(
            "counters must be non-negative integers",
        ));
    }
    number
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or(MessageError::CounterOutOfRange { field: name })
}

/// Checks that `map` has exactly the members `names`.
fn only_fields(map: &Map, names: &[&'static str], header: bool) -> Result<(), MessageError> {
    if let Some(extra) = map.keys().find(|k| !names.contains(&k.as_str())) {
        if header {
            return Err(MessageError::InvalidHeader("unexpected member"));
        }
        return Err(MessageError::UnexpectedField(
            extra.chars().take(64).collect(),
        ));
    }
    Ok(())
}

/// A ratchet message: header, nonce and `ciphertext ‖ tag`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// The header, authenticated as (part of) the AAD.
    pub header: Header,
    /// The ChaCha20-Poly1305 nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("header", &self.header)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

impl Message {
    /// The canonical JSON `{"ciphertext":…,"header":{…},"nonce":…}`.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ciphertext.len() / 3 * 4 + 160);
        out.extend_from_slice(br#"{"ciphertext":""#);
        out.extend_from_slice(base64url::encode(&self.ciphertext).as_bytes());
        out.extend_from_slice(br#"","header":"#);
        self.header.write_canonical_json(&mut out);
        out.extend_from_slice(br#","nonce":""#);
        out.extend_from_slice(base64url::encode(&self.nonce).as_bytes());
        out.extend_from_slice(br#""}"#);
        out
    }

    /// The upstream `wire_message_b64u`: base64url of [`Message::to_json`].
    #[must_use]
    pub fn to_wire_b64u(&self) -> String {
        base64url::encode(&self.to_json())
    }

    /// Parses the JSON form strictly (see the [module docs](self)).
    ///
    /// # Errors
    /// [`MessageError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, MessageError> {
        if input.len() > MAX_JSON_LEN {
            return Err(MessageError::TooLarge {
                len: input.len(),
                max: MAX_JSON_LEN,
            });
        }
        let value = json::parse(input)?;
        let map = value
            .as_object()
            .ok_or(MessageError::Malformed("not a JSON object"))?;
        only_fields(map, &["ciphertext", "header", "nonce"], false)?;
        let header = Header::from_value(
            map.get("header")
                .ok_or(MessageError::MissingField("header"))?,
        )?;
        let nonce = bytes_field(map, "nonce")?;
        let nonce: [u8; NONCE_LEN] = nonce
            .as_slice()
            .try_into()
            .map_err(|_| MessageError::InvalidNonce { len: nonce.len() })?;
        let ciphertext = bytes_field(map, "ciphertext")?;
        check_ciphertext(ciphertext.len())?;
        Ok(Self {
            header,
            nonce,
            ciphertext,
        })
    }

    /// Parses an upstream `wire_message_b64u`.
    ///
    /// # Errors
    /// [`MessageError::InvalidBase64`] for anything but strict unpadded base64url, then as
    /// [`Message::from_json`].
    pub fn from_wire_b64u(wire: &str) -> Result<Self, MessageError> {
        if wire.len() > MAX_WIRE_LEN {
            return Err(MessageError::TooLarge {
                len: wire.len(),
                max: MAX_WIRE_LEN,
            });
        }
        let json =
            base64url::decode(wire).map_err(|_| MessageError::InvalidBase64 { field: "wire" })?;
        Self::from_json(&json)
    }

    /// Appends the compact CBOR form to `out`.
    pub fn encode_cbor(&self, out: &mut Vec<u8>) {
        out.reserve(self.ciphertext.len() + 64);
        cbor::write_array_header(out, 5);
        cbor::write_bytes(out, self.header.dh.as_bytes());
        cbor::write_uint(out, u64::from(self.header.n));
        cbor::write_uint(out, u64::from(self.header.pn));
        cbor::write_bytes(out, &self.nonce);
        cbor::write_bytes(out, &self.ciphertext);
    }

    /// The compact CBOR form.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ciphertext.len() + 64);
        self.encode_cbor(&mut out);
        out
    }

    /// Parses the compact CBOR form, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`MessageError`] naming what is wrong.
    pub fn from_cbor(input: &[u8]) -> Result<Self, MessageError> {
        if input.len() > MAX_CBOR_LEN {
            return Err(MessageError::TooLarge {
                len: input.len(),
                max: MAX_CBOR_LEN,
            });
        }
        let mut r = Reader::new(input);
        if r.array().map_err(MessageError::Cbor)? != 5 {
            return Err(MessageError::Cbor("expected an array of 5 items"));
        }
        let dh = r.bytes().map_err(MessageError::Cbor)?;
        let dh: [u8; 32] = dh
            .try_into()
            .map_err(|_| MessageError::InvalidDhKey { len: dh.len() })?;
        let n = r.uint().map_err(MessageError::Cbor)?;
        let n = u32::try_from(n).map_err(|_| MessageError::CounterOutOfRange { field: "n" })?;
        let pn = r.uint().map_err(MessageError::Cbor)?;
        let pn = u32::try_from(pn).map_err(|_| MessageError::CounterOutOfRange { field: "pn" })?;
        let nonce = r.bytes().map_err(MessageError::Cbor)?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| MessageError::InvalidNonce { len: nonce.len() })?;
        let ciphertext = r.bytes().map_err(MessageError::Cbor)?;
        check_ciphertext(ciphertext.len())?;
        r.finish().map_err(MessageError::Cbor)?;
        Ok(Self {
            header: Header {
                dh: x25519::PublicKey::from_bytes(dh),
                n,
                pn,
            },
            nonce,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

fn check_ciphertext(len: usize) -> Result<(), MessageError> {
    if len < TAG_LEN {
        return Err(MessageError::CiphertextTooShort { len });
    }
    if len > MAX_CIPHERTEXT_LEN {
        return Err(MessageError::TooLarge {
            len,
            max: MAX_CIPHERTEXT_LEN,
        });
    }
    Ok(())
}

fn bytes_field(map: &Map, name: &'static str) -> Result<Vec<u8>, MessageError> {
    let text = map
        .get(name)
        .ok_or(MessageError::MissingField(name))?
        .as_str()
        .ok_or(MessageError::Malformed(
            "nonce and ciphertext must be strings",
        ))?;
    base64url::decode(text).map_err(|_| MessageError::InvalidBase64 { field: name })
}

/// Why a message (or header) could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The input is longer than any valid message. Drop it.
    #[error("message too large: {len} bytes, limit {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field (or the whole wire string, `"wire"`) is not strict unpadded base64url.
    #[error("invalid base64url in {field}")]
    InvalidBase64 {
        /// Which field.
        field: &'static str,
    },
    /// Not JSON, or JSON the strict parser refuses (duplicate keys, …).
    #[error("invalid message: {0}")]
    Json(#[from] JsonError),
    /// The JSON is not a message object, or a member has the wrong type.
    #[error("invalid message: {0}")]
    Malformed(&'static str),
    /// A required member is missing.
    #[error("invalid message: missing field {0}")]
    MissingField(&'static str),
    /// A member the message contract does not allow (`additionalProperties: false`).
    #[error("invalid message: unexpected field {0:?}")]
    UnexpectedField(String),
    /// The header is not `{dh, n, pn}` with the right types (upstream
    /// `RATCHET_INVALID_HEADER`).
    #[error("invalid header: {0}")]
    InvalidHeader(&'static str),
    /// The header's `dh` is not 32 bytes (upstream `RATCHET_INVALID_DH_KEY`).
    #[error("invalid dh key: expected 32 bytes, got {len}")]
    InvalidDhKey {
        /// The decoded length.
        len: usize,
    },
    /// A counter does not fit in 32 bits.
    #[error("invalid header: counter {field} out of range (at most 4294967295)")]
    CounterOutOfRange {
        /// `"n"` or `"pn"`.
        field: &'static str,
    },
    /// The nonce is not 12 bytes.
    #[error("invalid nonce: expected 12 bytes, got {len}")]
    InvalidNonce {
        /// The decoded length.
        len: usize,
    },
    /// The ciphertext is shorter than the 16-byte tag.
    #[error("ciphertext truncated: {len} bytes, shorter than the 16-byte tag")]
    CiphertextTooShort {
        /// The decoded length.
        len: usize,
    },
    /// Not the compact CBOR form, or not its deterministic encoding.
    #[error("invalid message cbor: {0}")]
    Cbor(&'static str),
}

impl MessageError {
    /// The upstream error code: `RATCHET_INVALID_HEADER`, `RATCHET_INVALID_DH_KEY`, or
    /// `TALOS_FRAME_INVALID` for the rest.
    #[must_use]
    pub const fn upstream_code(&self) -> &'static str {
        match self {
            Self::InvalidHeader(_) | Self::CounterOutOfRange { .. } => "RATCHET_INVALID_HEADER",
            Self::InvalidDhKey { .. } => "RATCHET_INVALID_DH_KEY",
            _ => "TALOS_FRAME_INVALID",
        }
    }
}

impl From<&MessageError> for ErrorCode {
    fn from(_: &MessageError) -> Self {
        Self::FrameInvalid
    }
}

/// A strict reader of deterministic CBOR (RFC 8949 §4.2.1): shortest heads, definite
/// lengths. Byte strings are borrowed, so secrets are never copied into temporary buffers.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.buf.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn head(&mut self) -> Result<(u8, u64), &'static str> {
        let first = *self.take(1)?.first().ok_or("truncated")?;
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let v = u64::from(self.take(1)?[0]);
                if v < 24 {
                    return Err("non-shortest integer head");
                }
                v
            }
            25 => {
                let b = self.take(2)?;
                let v = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if v <= 0xff {
                    return Err("non-shortest integer head");
                }
                v
            }
            26 => {
                let b = self.take(4)?;
                let v = u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if v <= 0xffff {
                    return Err("non-shortest integer head");
                }
                v
            }
            27 => {
                let b = self.take(8)?;
                let v = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                if v <= 0xffff_ffff {
                    return Err("non-shortest integer head");
                }
                v
            }
            _ => return Err("indefinite length or reserved head"),
        };
        Ok((major, arg))
    }

    fn expect(&mut self, major: u8, what: &'static str) -> Result<u64, &'static str> {
        let (m, arg) = self.head()?;
        if m == major { Ok(arg) } else { Err(what) }
    }

    pub(crate) fn uint(&mut self) -> Result<u64, &'static str> {
        self.expect(cbor::MAJOR_UINT, "expected an unsigned integer")
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.expect(cbor::MAJOR_BYTES, "expected a byte string")?;
        let len = usize::try_from(len).map_err(|_| "truncated")?;
        self.take(len)
    }

    pub(crate) fn text(&mut self) -> Result<&'a str, &'static str> {
        let len = self.expect(cbor::MAJOR_TEXT, "expected a text string")?;
        let len = usize::try_from(len).map_err(|_| "truncated")?;
        core::str::from_utf8(self.take(len)?).map_err(|_| "invalid utf-8")
    }

    pub(crate) fn array(&mut self) -> Result<u64, &'static str> {
        self.expect(cbor::MAJOR_ARRAY, "expected an array")
    }

    pub(crate) fn map(&mut self) -> Result<u64, &'static str> {
        self.expect(cbor::MAJOR_MAP, "expected a map")
    }

    pub(crate) fn bool(&mut self) -> Result<bool, &'static str> {
        match self.take(1)? {
            [0xf4] => Ok(false),
            [0xf5] => Ok(true),
            _ => Err("expected a boolean"),
        }
    }

    /// The next map key, if the next item is the unsigned integer `key`; consumes it then.
    pub(crate) fn key_is(&mut self, key: u64) -> bool {
        let mut probe = Reader { buf: self.buf };
        if probe.uint() == Ok(key) {
            self.buf = probe.buf;
            true
        } else {
            false
        }
    }

    pub(crate) fn finish(&self) -> Result<(), &'static str> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            header: Header {
                dh: x25519::PublicKey::from_bytes([9; 32]),
                n: 300,
                pn: 70_000,
            },
            nonce: [1; 12],
            ciphertext: vec![2; 40],
        }
    }

    #[test]
    fn counters_print_like_json() {
        for v in [0, 7, 10, 4_294_967_295] {
            let mut out = Vec::new();
            push_u32(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
    }

    #[test]
    fn both_encodings_round_trip() {
        let m = sample();
        assert_eq!(Message::from_json(&m.to_json()).unwrap(), m);
        assert_eq!(Message::from_cbor(&m.to_cbor()).unwrap(), m);
        assert_eq!(
            json::canonicalize(&m.to_json()).unwrap(),
            m.to_json(),
            "to_json is canonical"
        );
    }

    #[test]
    fn cbor_rejects_non_shortest_and_trailing() {
        let m = sample();
        let good = m.to_cbor();
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Message::from_cbor(&trailing),
            Err(MessageError::Cbor("trailing bytes"))
        );
        // n = 300 written with a 4-byte head instead of 2.
        let mut long = good[..35].to_vec();
        long.extend_from_slice(&[0x1a, 0, 0, 1, 44]);
        long.extend_from_slice(&good[38..]);
        assert!(matches!(
            Message::from_cbor(&long),
            Err(MessageError::Cbor(_))
        ));
        for cut in 0..good.len() {
            assert!(Message::from_cbor(&good[..cut]).is_err());
        }
    }
}
