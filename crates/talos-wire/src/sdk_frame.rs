//! The upstream SDK frame codec (talos-v1.1 interop): a frame
//! `{version, type, flags, payload, signature?}` travels as base64url of its RFC 8785
//! canonical JSON (`schemas/frame.json`, `sdk/frame_codec.json`; REFERENCE.md §3.2).
//!
//! ```
//! use talos_wire::sdk_frame::{SdkFrame, SdkFrameType};
//!
//! let frame = SdkFrame::new(SdkFrameType::Data, b"test payload".to_vec());
//! let text = frame.encode();
//! assert_eq!(
//!     text,
//!     "eyJmbGFncyI6MCwicGF5bG9hZCI6ImRHVnpkQ0J3WVhsc2IyRmsiLCJ0eXBlIjoiREFUQSIsInZlcnNpb24iOjF9"
//! );
//! assert_eq!(SdkFrame::decode(text.as_bytes()).unwrap(), frame);
//! ```

use serde::Deserialize;
use talos_crypto::json::{self, JsonError};
use talos_crypto::record::{Field, Record};
use talos_crypto::{ErrorCode, base64url};

/// A frame's type, as upstream spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SdkFrameType {
    /// `HANDSHAKE`.
    Handshake,
    /// `HANDSHAKE_ACK`.
    HandshakeAck,
    /// `DATA`.
    Data,
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `CLOSE`.
    Close,
}

impl SdkFrameType {
    /// The upstream name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "HANDSHAKE",
            Self::HandshakeAck => "HANDSHAKE_ACK",
            Self::Data => "DATA",
            Self::Ping => "PING",
            Self::Pong => "PONG",
            Self::Close => "CLOSE",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::Handshake,
            Self::HandshakeAck,
            Self::Data,
            Self::Ping,
            Self::Pong,
            Self::Close,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

/// An upstream SDK frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SdkFrame {
    /// Protocol version, at least 1.
    pub version: u32,
    /// The frame's type.
    pub kind: SdkFrameType,
    /// Flag bits (upstream defines none; 0).
    pub flags: u32,
    /// The payload.
    pub payload: Vec<u8>,
    /// A signature, if the frame is signed.
    pub signature: Option<Vec<u8>>,
}

impl SdkFrame {
    /// A version-1 frame with no flags and no signature.
    #[must_use]
    pub fn new(kind: SdkFrameType, payload: Vec<u8>) -> Self {
        Self {
            version: 1,
            kind,
            flags: 0,
            payload,
            signature: None,
        }
    }

    /// The frame's canonical JSON.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        Record::new()
            .with("version", Field::uint(self.version))
            .with("type", Field::text(self.kind.as_str()))
            .with("flags", Field::uint(self.flags))
            .with("payload", Field::bytes(&self.payload[..]))
            .with_opt("signature", self.signature.as_deref().map(Field::bytes))
            .to_json()
    }

    /// The wire form: base64url of the canonical JSON.
    #[must_use]
    pub fn encode(&self) -> String {
        base64url::encode(&self.to_json())
    }

    /// Decodes the wire form. `version` and `flags` default to 1 and 0 when absent; the JSON
    /// may come in any member order, but is parsed strictly (no duplicate or unknown members).
    ///
    /// # Errors
    /// [`SdkFrameError`]: not base64url text, truncated or malformed JSON, an unknown type, a
    /// payload or signature that is not strict base64url, version 0.
    pub fn decode(wire: &[u8]) -> Result<Self, SdkFrameError> {
        let text = core::str::from_utf8(wire).map_err(|_| SdkFrameError::NotBase64url)?;
        let json_bytes = base64url::decode(text).map_err(|_| SdkFrameError::NotBase64url)?;
        let value = json::parse(&json_bytes).map_err(|e| match e {
            JsonError::Syntax { offset, .. } if offset >= json_bytes.len() => {
                SdkFrameError::Truncated
            }
            other => SdkFrameError::Json(other),
        })?;
        let repr: Repr = json::from_value(&value).map_err(SdkFrameError::Json)?;
        let kind = SdkFrameType::parse(&repr.kind)
            .ok_or_else(|| SdkFrameError::UnknownType(truncated(&repr.kind)))?;
        let version = repr.version.unwrap_or(1);
        if version == 0 {
            return Err(SdkFrameError::Malformed("version must be at least 1"));
        }
        let bytes = |text: &str| {
            base64url::decode(text).map_err(|_| {
                SdkFrameError::Malformed("payload and signature must be strict base64url")
            })
        };
        Ok(Self {
            version,
            kind,
            flags: repr.flags.unwrap_or(0),
            payload: bytes(&repr.payload)?,
            signature: repr.signature.as_deref().map(bytes).transpose()?,
        })
    }
}

fn truncated(text: &str) -> String {
    text.chars().take(32).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    version: Option<u32>,
    #[serde(rename = "type")]
    kind: String,
    flags: Option<u32>,
    payload: String,
    signature: Option<String>,
}

/// Why an SDK frame was rejected. Every variant maps to `TALOS_FRAME_INVALID`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdkFrameError {
    /// The frame is not base64url text.
    #[error("invalid frame: not base64url text")]
    NotBase64url,
    /// The JSON ends early.
    #[error("invalid frame: truncated JSON")]
    Truncated,
    /// The JSON is invalid or has the wrong members or member types.
    #[error("invalid frame: {0}")]
    Json(JsonError),
    /// A `type` upstream does not define.
    #[error("invalid frame: unknown frame type {0:?}")]
    UnknownType(String),
    /// Well-formed, but inconsistent.
    #[error("invalid frame: {0}")]
    Malformed(&'static str),
}

impl From<&SdkFrameError> for ErrorCode {
    fn from(_: &SdkFrameError) -> Self {
        Self::FrameInvalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_negative_cases() {
        assert_eq!(
            SdkFrame::decode(b"eyJ2ZXJzaW9u"),
            Err(SdkFrameError::Truncated)
        );
        let unknown = SdkFrame::decode(
            b"eyJ2ZXJzaW9uIjoxLCJ0eXBlIjoiVU5LTk9XTiIsImZsYWdzIjowLCJwYXlsb2FkIjoiIn0",
        );
        assert_eq!(unknown, Err(SdkFrameError::UnknownType("UNKNOWN".into())));
        assert!(unknown.unwrap_err().to_string().contains("type"));
        assert_eq!(
            SdkFrame::decode(&[0xde, 0xad, 0xbe, 0xef]),
            Err(SdkFrameError::NotBase64url)
        );
    }

    #[test]
    fn defaults_signature_and_strictness() {
        let decoded =
            SdkFrame::decode(base64url::encode(br#"{"type":"PING","payload":""}"#).as_bytes())
                .unwrap();
        assert_eq!(decoded, SdkFrame::new(SdkFrameType::Ping, Vec::new()));
        let mut signed = SdkFrame::new(SdkFrameType::Data, b"x".to_vec());
        signed.signature = Some(vec![7; 64]);
        assert_eq!(SdkFrame::decode(signed.encode().as_bytes()), Ok(signed));
        for bad in [
            r#"{"type":"PING","payload":"","extra":1}"#,
            r#"{"type":"PING","payload":"Zg=="}"#,
            r#"{"type":"PING","payload":"","version":0}"#,
            r#"{"type":"PING","payload":"","type":"PONG"}"#,
            r#"{"payload":""}"#,
            r#"{"type":1,"payload":""}"#,
            r#"[]"#,
        ] {
            assert!(
                SdkFrame::decode(base64url::encode(bad.as_bytes()).as_bytes()).is_err(),
                "{bad}"
            );
        }
    }
}
