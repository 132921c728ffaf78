//! Envelopes (the seed's `MessagePayload`): who sent what to whom and when, signed by the
//! sender. They travel in DATA frames as deterministic CBOR; their JSON form is the contract
//! `contracts/wire/envelope.schema.json`.
//!
//! The signature is Ed25519 over the RFC 8785 canonical JSON of every field but `sig` — the
//! rule upstream Talos uses for all signed objects — so the CBOR on the wire is only a
//! transport: both forms carry the same value and the same signature.
//!
//! Decoding checks structure and limits (content size, id format, DID syntax, clock skew
//! against the caller's `now`) and gives an [`Unverified`] envelope; the caller resolves the
//! sender's DID to its key (talos-did) and calls [`Unverified::verify`].
//!
//! ```
//! use talos_crypto::{SigningKey, Timestamp};
//! use talos_wire::envelope::{Envelope, EnvelopeFields, EnvelopeType, Limits, Recipient};
//! use talos_wire::MessageId;
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
//!
//! let alice = SigningKey::from_seed(&[1; 32]);
//! let now = Timestamp::from_millis(1_768_178_601_000);
//! let envelope = Envelope::sign(
//!     EnvelopeFields {
//!         id: MessageId::generate(now, &mut rng),
//!         kind: EnvelopeType::Text,
//!         sender: "did:key:z6MkAlice".into(),
//!         recipient: Recipient::Did("did:key:z6MkBob".into()),
//!         timestamp: now,
//!         content: b"hello".to_vec(),
//!         chunk: None,
//!     },
//!     &alice,
//!     &Limits::default(),
//! )
//! .unwrap();
//! let wire = envelope.to_cbor();
//!
//! let unverified = Envelope::decode(&wire, &Limits::default(), now).unwrap();
//! assert_eq!(unverified.fields().sender, "did:key:z6MkAlice"); // look up this DID's key
//! let verified = unverified.verify(&alice.verifying_key()).unwrap();
//! assert_eq!(verified.fields().content, b"hello");
//! ```

use core::time::Duration;

use serde::Deserialize;
use talos_crypto::json::{self, JsonError};
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::{CborError, ErrorCode, Signature, SigningKey, Timestamp, VerifyingKey, cbor};

use crate::MessageId;
use crate::chunk::ChunkInfo;

/// The envelope format version.
pub const VERSION: u32 = 1;

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvelopeType {
    /// A text message.
    Text,
    /// An acknowledgement.
    Ack,
    /// A stream's announcement (content: `chunk::StreamStart`).
    StreamStart,
    /// One chunk of a stream (carries [`ChunkInfo`]).
    StreamChunk,
    /// A stream's end.
    StreamEnd,
    /// An offer to send a file.
    FileOffer,
    /// An MCP request or notification.
    McpMessage,
    /// An MCP response.
    McpResponse,
    /// An MCP error.
    McpError,
    /// A Double Ratchet message.
    Ratchet,
    /// A signed delivery receipt.
    Receipt,
}

const TYPES: [EnvelopeType; 11] = [
    EnvelopeType::Text,
    EnvelopeType::Ack,
    EnvelopeType::StreamStart,
    EnvelopeType::StreamChunk,
    EnvelopeType::StreamEnd,
    EnvelopeType::FileOffer,
    EnvelopeType::McpMessage,
    EnvelopeType::McpResponse,
    EnvelopeType::McpError,
    EnvelopeType::Ratchet,
    EnvelopeType::Receipt,
];

impl EnvelopeType {
    /// The name on the wire, e.g. `"STREAM_CHUNK"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::Ack => "ACK",
            Self::StreamStart => "STREAM_START",
            Self::StreamChunk => "STREAM_CHUNK",
            Self::StreamEnd => "STREAM_END",
            Self::FileOffer => "FILE_OFFER",
            Self::McpMessage => "MCP_MESSAGE",
            Self::McpResponse => "MCP_RESPONSE",
            Self::McpError => "MCP_ERROR",
            Self::Ratchet => "RATCHET",
            Self::Receipt => "RECEIPT",
        }
    }

    /// The type named `name`.
    ///
    /// # Errors
    /// [`EnvelopeError::UnknownType`] for a name this version does not know.
    pub fn parse(name: &str) -> Result<Self, EnvelopeError> {
        TYPES
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| EnvelopeError::UnknownType(name.chars().take(32).collect()))
    }
}

/// To whom.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Recipient {
    /// One agent.
    Did(String),
    /// Everyone (`"*"` on the wire).
    Broadcast,
}

impl Recipient {
    fn as_str(&self) -> &str {
        match self {
            Self::Did(did) => did,
            Self::Broadcast => "*",
        }
    }
}

/// An envelope's fields, all but the signature. (A new field is a new format version.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeFields {
    /// A UUIDv7, unique per sender.
    pub id: MessageId,
    /// What the content is.
    pub kind: EnvelopeType,
    /// The sender's DID.
    pub sender: String,
    /// The recipient's DID, or everyone.
    pub recipient: Recipient,
    /// When it was sent.
    pub timestamp: Timestamp,
    /// Opaque bytes, usually a ratchet message.
    pub content: Vec<u8>,
    /// Present exactly for `STREAM_CHUNK`.
    pub chunk: Option<ChunkInfo>,
}

/// Limits applied when signing and decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    max_content: usize,
    max_skew: Duration,
    max_did_len: usize,
}

impl Default for Limits {
    /// Content up to 16 MiB − 4 KiB (so an envelope fits a default frame), ±300 s of clock
    /// skew, DIDs up to 256 bytes.
    fn default() -> Self {
        Self {
            max_content: 16 * 1024 * 1024 - 4096,
            max_skew: Duration::from_secs(300),
            max_did_len: 256,
        }
    }
}

impl Limits {
    /// Largest content accepted.
    pub fn set_max_content(&mut self, bytes: usize) -> &mut Self {
        self.max_content = bytes;
        self
    }

    /// Largest difference between an envelope's timestamp and `now`.
    pub fn set_max_skew(&mut self, skew: Duration) -> &mut Self {
        self.max_skew = skew;
        self
    }

    /// Longest DID accepted.
    pub fn set_max_did_len(&mut self, bytes: usize) -> &mut Self {
        self.max_did_len = bytes;
        self
    }
}

/// A signed envelope, verified (or made) by this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    fields: EnvelopeFields,
    signature: Signature,
}

/// A decoded envelope whose signature has not been checked yet: nothing in it is
/// authenticated. Resolve `fields().sender` to a key and call [`Unverified::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unverified(Envelope);

impl Unverified {
    /// The fields, unauthenticated.
    #[must_use]
    pub fn fields(&self) -> &EnvelopeFields {
        &self.0.fields
    }

    /// Checks the signature against the sender's key, which the caller resolved from
    /// `fields().sender`.
    ///
    /// # Errors
    /// [`EnvelopeError::BadSignature`] if the signature does not verify under `sender_key`.
    pub fn verify(self, sender_key: &VerifyingKey) -> Result<Envelope, EnvelopeError> {
        let signed = self.0.record_without_sig().to_json();
        sender_key
            .verify(&signed, &self.0.signature)
            .map_err(|_| EnvelopeError::BadSignature)?;
        Ok(self.0)
    }
}

impl Envelope {
    /// Checks `fields` against `limits` and signs them.
    ///
    /// # Errors
    /// [`EnvelopeError`] for a field outside the limits or the format (DID syntax, content
    /// size, a timestamp beyond 2^53 − 1 ms, chunk info present on a type other than
    /// `STREAM_CHUNK` or missing on one).
    pub fn sign(
        fields: EnvelopeFields,
        key: &SigningKey,
        limits: &Limits,
    ) -> Result<Self, EnvelopeError> {
        check_fields(&fields, limits)?;
        let unsigned = Self {
            fields,
            signature: Signature::from_bytes(&[0; 64]),
        };
        let signature = key.sign(&unsigned.record_without_sig().to_json());
        Ok(Self {
            signature,
            ..unsigned
        })
    }

    /// The fields.
    #[must_use]
    pub fn fields(&self) -> &EnvelopeFields {
        &self.fields
    }

    /// The sender's signature.
    #[must_use]
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    fn record_without_sig(&self) -> Record<'_> {
        let f = &self.fields;
        let chunk = f.chunk.as_ref().map(|c| {
            Field::Record(
                Record::new()
                    .with("stream_id", Field::text(c.stream_id.to_string()))
                    .with("sequence", Field::uint(c.sequence))
                    .with("total", Field::uint(c.total))
                    .with("hash", Field::bytes(&c.hash[..])),
            )
        });
        Record::new()
            .with("v", Field::uint(VERSION))
            .with("id", Field::text(f.id.to_string()))
            .with("type", Field::text(f.kind.as_str()))
            .with("sender", Field::text(&f.sender[..]))
            .with("recipient", Field::text(f.recipient.as_str()))
            // `sign` and `decode` admit only timestamps JSON carries exactly.
            .with(
                "timestamp",
                Field::Uint(SafeUint::new(f.timestamp.as_millis()).unwrap_or(SafeUint::MAX)),
            )
            .with("content", Field::bytes(&f.content[..]))
            .with_opt("chunk", chunk)
    }

    fn record(&self) -> Record<'_> {
        self.record_without_sig()
            .with("sig", Field::bytes(self.signature.to_bytes().to_vec()))
    }

    /// Appends the deterministic CBOR form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.record().write_cbor(out);
    }

    /// The deterministic CBOR form.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        self.record().to_cbor()
    }

    /// The canonical JSON form.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.record().to_json()
    }

    /// Decodes the CBOR form (only its deterministic encoding) and checks it against `limits`
    /// and `now`.
    ///
    /// # Errors
    /// [`EnvelopeError`] naming what is wrong.
    pub fn decode(
        bytes: &[u8],
        limits: &Limits,
        now: Timestamp,
    ) -> Result<Unverified, EnvelopeError> {
        // Cheap bound before any parsing: the content is most of an envelope.
        if bytes.len()
            > limits
                .max_content
                .saturating_add(2 * limits.max_did_len + 1024)
        {
            return Err(EnvelopeError::ContentTooLarge {
                len: bytes.len(),
                max: limits.max_content,
            });
        }
        let envelope = Self::from_repr(cbor::decode(bytes)?, limits, now)?;
        if envelope.to_cbor() != bytes {
            return Err(CborError::NonCanonical.into());
        }
        Ok(Unverified(envelope))
    }

    /// Decodes the JSON form (any formatting, parsed strictly) and checks it as
    /// [`Envelope::decode`] does.
    ///
    /// # Errors
    /// [`EnvelopeError`] naming what is wrong.
    pub fn from_json(
        bytes: &[u8],
        limits: &Limits,
        now: Timestamp,
    ) -> Result<Unverified, EnvelopeError> {
        let value = json::parse(bytes)?;
        let envelope = Self::from_repr(json::from_value(&value)?, limits, now)?;
        if envelope.to_json() != value.to_canonical_vec() {
            return Err(EnvelopeError::Malformed(
                "absent members must be omitted, not null",
            ));
        }
        Ok(Unverified(envelope))
    }

    fn from_repr(repr: Repr, limits: &Limits, now: Timestamp) -> Result<Self, EnvelopeError> {
        if repr.v != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(repr.v));
        }
        let chunk = repr
            .chunk
            .map(|c| -> Result<ChunkInfo, EnvelopeError> {
                Ok(ChunkInfo {
                    stream_id: c.stream_id.parse().map_err(|_| EnvelopeError::InvalidId)?,
                    sequence: c.sequence,
                    total: c.total,
                    hash: c
                        .hash
                        .try_into()
                        .map_err(|_| EnvelopeError::Malformed("chunk.hash must be 32 bytes"))?,
                })
            })
            .transpose()?;
        let fields = EnvelopeFields {
            id: repr.id.parse().map_err(|_| EnvelopeError::InvalidId)?,
            kind: EnvelopeType::parse(&repr.kind)?,
            sender: repr.sender,
            recipient: if repr.recipient == "*" {
                Recipient::Broadcast
            } else {
                Recipient::Did(repr.recipient)
            },
            timestamp: Timestamp::from_millis(repr.timestamp),
            content: repr.content,
            chunk,
        };
        check_fields(&fields, limits)?;
        let skew = fields.timestamp.abs_diff(now);
        if skew > limits.max_skew {
            return Err(EnvelopeError::ClockSkew {
                skew_ms: u64::try_from(skew.as_millis()).unwrap_or(u64::MAX),
                max_ms: u64::try_from(limits.max_skew.as_millis()).unwrap_or(u64::MAX),
            });
        }
        let signature = Signature::from_slice(&repr.sig)
            .map_err(|_| EnvelopeError::Malformed("sig must be 64 bytes"))?;
        Ok(Self { fields, signature })
    }
}

fn check_fields(f: &EnvelopeFields, limits: &Limits) -> Result<(), EnvelopeError> {
    if f.content.len() > limits.max_content {
        return Err(EnvelopeError::ContentTooLarge {
            len: f.content.len(),
            max: limits.max_content,
        });
    }
    check_did(&f.sender, limits)?;
    if let Recipient::Did(did) = &f.recipient {
        check_did(did, limits)?;
    }
    if SafeUint::new(f.timestamp.as_millis()).is_none() {
        return Err(EnvelopeError::Malformed("timestamp beyond 2^53 - 1 ms"));
    }
    match (f.kind, &f.chunk) {
        (EnvelopeType::StreamChunk, Some(c)) if c.sequence < c.total => Ok(()),
        (EnvelopeType::StreamChunk, Some(_)) => Err(EnvelopeError::Malformed(
            "chunk.sequence must be below chunk.total",
        )),
        (EnvelopeType::StreamChunk, None) => {
            Err(EnvelopeError::Malformed("a STREAM_CHUNK needs chunk info"))
        }
        (_, Some(_)) => Err(EnvelopeError::Malformed(
            "only a STREAM_CHUNK carries chunk info",
        )),
        (_, None) => Ok(()),
    }
}

/// W3C DID syntax (`did:<method>:<method-specific-id>`), within the length limit. Which
/// methods are acceptable, and the DID-to-key binding, are talos-did's business.
fn check_did(did: &str, limits: &Limits) -> Result<(), EnvelopeError> {
    let invalid = || EnvelopeError::InvalidDid(did.chars().take(64).collect());
    if did.len() > limits.max_did_len {
        return Err(invalid());
    }
    let rest = did.strip_prefix("did:").ok_or_else(invalid)?;
    let (method, id) = rest.split_once(':').ok_or_else(invalid)?;
    let method_ok = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let id_ok = !id.is_empty()
        && !id.ends_with(':')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'));
    if method_ok && id_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// The decoding side of [`Envelope::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u32,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    sender: String,
    recipient: String,
    timestamp: u64,
    #[serde(with = "talos_crypto::base64url::serde")]
    content: Vec<u8>,
    #[serde(default)]
    chunk: Option<ChunkRepr>,
    #[serde(with = "talos_crypto::base64url::serde")]
    sig: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkRepr {
    stream_id: String,
    sequence: u32,
    total: u32,
    #[serde(with = "talos_crypto::base64url::serde")]
    hash: Vec<u8>,
}

/// Why an envelope was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// A version this crate does not read.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u32),
    /// A type this version does not know. Drop the envelope; a newer peer may send it.
    #[error("unknown envelope type {0:?}")]
    UnknownType(String),
    /// The id (or a chunk's stream id) is not a lowercase UUIDv7.
    #[error("invalid envelope id: expected a lowercase UUIDv7")]
    InvalidId,
    /// A sender or recipient that is not a DID (or too long).
    #[error("invalid DID {0:?}")]
    InvalidDid(String),
    /// The content exceeds the limit.
    #[error("envelope content too large: {len} bytes, maximum {max}")]
    ContentTooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The timestamp is further from `now` than the allowed skew.
    #[error("envelope timestamp out of range: {skew_ms} ms from now, maximum {max_ms} ms")]
    ClockSkew {
        /// Distance from `now`.
        skew_ms: u64,
        /// The limit.
        max_ms: u64,
    },
    /// Well-formed, but inconsistent.
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
    /// The signature does not verify under the sender's key: treat the envelope as forged.
    #[error("invalid envelope signature")]
    BadSignature,
}

impl From<&EnvelopeError> for ErrorCode {
    fn from(err: &EnvelopeError) -> Self {
        match err {
            EnvelopeError::BadSignature => Self::CryptoError,
            EnvelopeError::UnsupportedVersion(_) => Self::ProtocolMismatch,
            _ => Self::FrameInvalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_syntax() {
        let limits = Limits::default();
        for ok in [
            "did:key:z6MkAbc",
            "did:web:example.com:user",
            "did:peer:2.Ez6L%20x",
        ] {
            assert!(check_did(ok, &limits).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "did:",
            "did:key",
            "did:key:",
            "did:Key:x",
            "key:z6Mk",
            "did:key:a b",
            "did:key:x:",
        ] {
            assert!(check_did(bad, &limits).is_err(), "{bad}");
        }
        assert!(check_did(&format!("did:key:{}", "a".repeat(300)), &limits).is_err());
    }

    #[test]
    fn type_names_round_trip() {
        for t in TYPES {
            assert_eq!(EnvelopeType::parse(t.as_str()), Ok(t));
        }
        assert_eq!(
            EnvelopeType::parse("VIDEO_CALL"),
            Err(EnvelopeError::UnknownType("VIDEO_CALL".into()))
        );
    }
}
