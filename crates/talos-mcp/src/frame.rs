//! Signed MCP frames, the upstream talos-v1.1 format: `MCP_MESSAGE` (a request) and
//! `MCP_RESPONSE`, each signed by its sender over the canonical JSON of the frame without
//! `sig` (REFERENCE.md §7.3).
//!
//! The MCP payload itself is bound only through its hash: `request_hash` /
//! `response_hash` = hex SHA-256 of the canonical JSON of the JSON-RPC message. A request
//! always carries the `capability_hash` of the capability it relies on, and the first request
//! of a session carries the capability itself.
//!
//! Parsing is strict: the strict JSON parser (no duplicate keys), every member known, every
//! required member present with its type, `protocol_version` `"1"`, hashes as 64 lowercase hex
//! digits, at most [`MAX_FRAME_BYTES`]. Verification checks the signature over the canonical
//! form.
//!
//! ```
//! use talos_crypto::SigningKey;
//! use talos_crypto::json;
//! use talos_mcp::frame::{McpMessage, Signed, payload_hash};
//!
//! let key = SigningKey::from_seed(&[0; 32]);
//! let request = json::parse(br#"{"id":"req-123","jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"city":"Paris"},"name":"weather"}}"#)?;
//! let message = McpMessage {
//!     session_id: "sess-uuid-42".into(),
//!     correlation_id: "corr-uuid-99".into(),
//!     peer_id: "did:talos:peer".into(),
//!     issued_at: 1_700_000_100,
//!     request_hash: payload_hash(&request),
//!     tool: "tools/call".into(),
//!     method: "weather/get".into(),
//!     capability_hash: [7; 32],
//!     capability: None,
//! };
//! let signed = Signed::sign(message, &key)?;
//! let received = Signed::<McpMessage>::from_json(&signed.to_json())?;
//! received.verify(&key.verifying_key())?;
//! assert_eq!(received.frame().request_hash, payload_hash(&request));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use talos_crypto::hash::{from_hex, sha256, to_hex};
use talos_crypto::json::{self, Map, Number, Value};
use talos_crypto::{Signature, SigningKey, VerifyingKey, base64url};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The only `protocol_version` of these frames.
pub const PROTOCOL_VERSION: &str = "1";

/// The largest frame accepted, in bytes of JSON (a first request carries a capability token of
/// up to 16 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Longest identifier (session, correlation, peer, tool) accepted.
pub const MAX_ID_LEN: usize = 256;

/// Longest `method` accepted: a tunnel puts the call's target there, which may be a resource
/// URI.
pub const MAX_TARGET_LEN: usize = 4096;

/// Why a frame was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Longer than [`MAX_FRAME_BYTES`].
    #[error("frame too large: {0} bytes")]
    TooLarge(usize),
    /// Not JSON, or JSON with duplicate keys.
    #[error("frame is not valid JSON: {0}")]
    Json(String),
    /// A required member is missing.
    #[error("frame lacks {0}")]
    Missing(&'static str),
    /// A member has the wrong type or form.
    #[error("frame member {0} is malformed")]
    Malformed(&'static str),
    /// A member this frame type does not have.
    #[error("frame has an unknown member {0:?}")]
    Unknown(String),
    /// Another frame type, or another protocol version.
    #[error("frame type or protocol version is not {0}")]
    WrongType(&'static str),
    /// The signature does not verify.
    #[error("frame signature invalid")]
    SignatureInvalid,
}

impl From<&FrameError> for talos_crypto::ErrorCode {
    /// A bad signature is a cryptographic failure; anything else an invalid frame.
    fn from(err: &FrameError) -> Self {
        match err {
            FrameError::SignatureInvalid => Self::CryptoError,
            _ => Self::FrameInvalid,
        }
    }
}

/// SHA-256 of the canonical JSON of a JSON-RPC message: `request_hash` / `response_hash`.
#[must_use]
pub fn payload_hash(message: &Value) -> Hash {
    sha256(&message.to_canonical_vec())
}

/// The members a [`Signed`] frame reads and writes itself, around its [`FrameBody`].
const ENVELOPE: [&str; 3] = ["type", "protocol_version", "sig"];

/// The body of one frame type: its members, without `type`, `protocol_version` and `sig`.
pub trait FrameBody: Sized {
    /// The `type` member.
    const TYPE: &'static str;
    /// The members, as JSON.
    fn to_members(&self) -> Map;
    /// Reads the members; `type`, `protocol_version` and `sig`, which [`Signed`] reads, are
    /// skipped.
    ///
    /// # Errors
    /// [`FrameError`] for a missing, malformed or unknown member.
    fn from_members(members: &Map) -> Result<Self, FrameError>;
    /// Whether a receiver would accept this frame's members, as
    /// [`from_members`](Self::from_members) of [`to_members`](Self::to_members) would say.
    ///
    /// # Errors
    /// As [`from_members`](Self::from_members).
    fn check(&self) -> Result<(), FrameError> {
        Self::from_members(&self.to_members()).map(drop)
    }
}

/// `MCP_MESSAGE`: a JSON-RPC request of `peer_id` in a session.
#[derive(Clone, Debug, PartialEq)]
pub struct McpMessage {
    /// The session.
    pub session_id: String,
    /// Pairs the response with this request; unique per session (replay key).
    pub correlation_id: String,
    /// The sender.
    pub peer_id: String,
    /// Unix seconds.
    pub issued_at: u64,
    /// [`payload_hash`] of the JSON-RPC request.
    pub request_hash: Hash,
    /// The tool (upstream: the MCP method, e.g. `tools/call`).
    pub tool: String,
    /// The method (upstream: e.g. `weather/get`).
    pub method: String,
    /// The capability the request relies on.
    pub capability_hash: Hash,
    /// The capability token itself, on a session's first request.
    pub capability: Option<Map>,
}

/// `result_code` of an `MCP_RESPONSE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultCode {
    /// The tool ran.
    Ok,
    /// Authorization refused the request.
    Deny,
    /// The request failed.
    Error,
}

impl ResultCode {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Deny => "DENY",
            Self::Error => "ERROR",
        }
    }
}

/// `MCP_RESPONSE`: the answer to an [`McpMessage`].
#[derive(Clone, Debug, PartialEq)]
pub struct McpResponse {
    /// The session.
    pub session_id: String,
    /// The request's correlation id.
    pub correlation_id: String,
    /// The responder.
    pub peer_id: String,
    /// Unix seconds.
    pub issued_at: u64,
    /// [`payload_hash`] of the JSON-RPC response.
    pub response_hash: Hash,
    /// As in the request.
    pub tool: String,
    /// As in the request.
    pub method: String,
    /// The outcome.
    pub result_code: ResultCode,
    /// Why, for [`ResultCode::Deny`].
    pub denial_reason: Option<String>,
    /// The JSON-RPC id (a string or a number).
    pub mcp_id: Option<Value>,
}

/// A frame and its signature, with its members as they were signed.
#[derive(Clone, Debug)]
pub struct Signed<T> {
    frame: T,
    signature: Signature,
    /// Every member of the frame, `type`, `protocol_version` and `sig` included: an object.
    members: Value,
}

impl<T: FrameBody> Signed<T> {
    /// Signs `frame` with `key`.
    ///
    /// # Errors
    /// [`FrameError::Malformed`] if a member is out of range (e.g. an identifier longer than
    /// [`MAX_ID_LEN`], a `method` longer than [`MAX_TARGET_LEN`], or a time beyond 2^53 − 1).
    pub fn sign(frame: T, key: &SigningKey) -> Result<Self, FrameError> {
        // Refuse what a receiver would refuse.
        frame.check()?;
        let mut members = frame.to_members();
        members.insert("type".into(), Value::from(T::TYPE));
        members.insert("protocol_version".into(), Value::from(PROTOCOL_VERSION));
        let mut members = Value::Object(members);
        let signature = key.sign(&members.to_canonical_vec());
        if let Value::Object(members) = &mut members {
            members.insert(
                "sig".into(),
                Value::from(base64url::encode(&signature.to_bytes())),
            );
        }
        Ok(Self {
            frame,
            signature,
            members,
        })
    }

    /// Parses a frame strictly (see the [module docs](self)); does not verify it.
    ///
    /// # Errors
    /// [`FrameError`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        let Value::Object(members) =
            json::parse(bytes).map_err(|e| FrameError::Json(e.to_string()))?
        else {
            return Err(FrameError::Malformed("frame"));
        };
        let signature = match members.get("sig") {
            Some(Value::String(s)) => base64url::decode(s)
                .ok()
                .and_then(|b| Signature::from_slice(&b).ok())
                .ok_or(FrameError::Malformed("sig"))?,
            Some(_) => return Err(FrameError::Malformed("sig")),
            None => return Err(FrameError::Missing("sig")),
        };
        if members.get("type").and_then(Value::as_str) != Some(T::TYPE)
            || members.get("protocol_version").and_then(Value::as_str) != Some(PROTOCOL_VERSION)
        {
            return Err(FrameError::WrongType(T::TYPE));
        }
        let frame = T::from_members(&members)?;
        Ok(Self {
            frame,
            signature,
            members: Value::Object(members),
        })
    }

    /// Checks the signature with the sender's key, over the canonical JSON of every member
    /// but `sig`.
    ///
    /// # Errors
    /// [`FrameError::SignatureInvalid`].
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), FrameError> {
        let mut signed = self.members.clone();
        if let Value::Object(members) = &mut signed {
            members.remove("sig");
        }
        key.verify(&signed.to_canonical_vec(), &self.signature)
            .map_err(|_| FrameError::SignatureInvalid)
    }

    /// The frame.
    #[must_use]
    pub const fn frame(&self) -> &T {
        &self.frame
    }

    /// The signature.
    #[must_use]
    pub const fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The frame as canonical JSON, `sig` included.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.members.to_canonical_vec()
    }
}

/// An identifier (or, for `method`, a target) must be non-empty and not too long.
fn check_text(name: &'static str, s: &str) -> Result<(), FrameError> {
    let max = if name == "method" {
        MAX_TARGET_LEN
    } else {
        MAX_ID_LEN
    };
    if s.is_empty() || s.len() > max {
        return Err(FrameError::Malformed(name));
    }
    Ok(())
}

fn text(map: &Map, name: &'static str) -> Result<String, FrameError> {
    match map.get(name) {
        Some(Value::String(s)) => check_text(name, s).map(|()| s.clone()),
        Some(_) => Err(FrameError::Malformed(name)),
        None => Err(FrameError::Missing(name)),
    }
}

fn seconds(map: &Map, name: &'static str) -> Result<u64, FrameError> {
    match map.get(name) {
        Some(Value::Number(n)) => n.as_u64().ok_or(FrameError::Malformed(name)),
        Some(_) => Err(FrameError::Malformed(name)),
        None => Err(FrameError::Missing(name)),
    }
}

fn hash(map: &Map, name: &'static str) -> Result<Hash, FrameError> {
    match map.get(name) {
        Some(Value::String(s)) => from_hex(s).ok_or(FrameError::Malformed(name)),
        Some(_) => Err(FrameError::Malformed(name)),
        None => Err(FrameError::Missing(name)),
    }
}

/// Refuses a member that is neither one of `known` nor one [`Signed`] reads.
fn only(map: &Map, known: &[&str]) -> Result<(), FrameError> {
    match map
        .keys()
        .find(|k| !known.contains(&k.as_str()) && !ENVELOPE.contains(&k.as_str()))
    {
        Some(key) => Err(FrameError::Unknown(key.clone())),
        None => Ok(()),
    }
}

/// The members both frame types have.
struct Common<'a> {
    session_id: &'a str,
    correlation_id: &'a str,
    peer_id: &'a str,
    issued_at: u64,
    tool: &'a str,
    method: &'a str,
}

impl Common<'_> {
    fn texts(&self) -> [(&'static str, &str); 5] {
        [
            ("session_id", self.session_id),
            ("correlation_id", self.correlation_id),
            ("peer_id", self.peer_id),
            ("tool", self.tool),
            ("method", self.method),
        ]
    }

    fn members(&self) -> Map {
        let mut m = Map::new();
        for (name, value) in self.texts() {
            m.insert(name.into(), Value::from(value));
        }
        m.insert("issued_at".into(), number(self.issued_at));
        m
    }

    /// As reading [`members`](Self::members) back would.
    fn check(&self) -> Result<(), FrameError> {
        for (name, value) in self.texts() {
            check_text(name, value)?;
        }
        Number::try_from(self.issued_at).map_err(|_| FrameError::Malformed("issued_at"))?;
        Ok(())
    }
}

fn number(n: u64) -> Value {
    Number::try_from(n).map_or(Value::Null, Value::Number)
}

impl McpMessage {
    fn common(&self) -> Common<'_> {
        Common {
            session_id: &self.session_id,
            correlation_id: &self.correlation_id,
            peer_id: &self.peer_id,
            issued_at: self.issued_at,
            tool: &self.tool,
            method: &self.method,
        }
    }
}

impl FrameBody for McpMessage {
    const TYPE: &'static str = "MCP_MESSAGE";

    fn to_members(&self) -> Map {
        let mut m = self.common().members();
        m.insert(
            "request_hash".into(),
            Value::from(to_hex(&self.request_hash)),
        );
        m.insert(
            "capability_hash".into(),
            Value::from(to_hex(&self.capability_hash)),
        );
        if let Some(cap) = &self.capability {
            m.insert("capability".into(), Value::Object(cap.clone()));
        }
        m
    }

    fn from_members(m: &Map) -> Result<Self, FrameError> {
        let frame = Self {
            session_id: text(m, "session_id")?,
            correlation_id: text(m, "correlation_id")?,
            peer_id: text(m, "peer_id")?,
            issued_at: seconds(m, "issued_at")?,
            request_hash: hash(m, "request_hash")?,
            tool: text(m, "tool")?,
            method: text(m, "method")?,
            capability_hash: hash(m, "capability_hash")?,
            capability: match m.get("capability") {
                None => None,
                Some(Value::Object(c)) => Some(c.clone()),
                Some(_) => return Err(FrameError::Malformed("capability")),
            },
        };
        only(
            m,
            &[
                "session_id",
                "correlation_id",
                "peer_id",
                "issued_at",
                "request_hash",
                "tool",
                "method",
                "capability_hash",
                "capability",
            ],
        )?;
        Ok(frame)
    }

    fn check(&self) -> Result<(), FrameError> {
        self.common().check()
    }
}

impl McpResponse {
    fn common(&self) -> Common<'_> {
        Common {
            session_id: &self.session_id,
            correlation_id: &self.correlation_id,
            peer_id: &self.peer_id,
            issued_at: self.issued_at,
            tool: &self.tool,
            method: &self.method,
        }
    }
}

impl FrameBody for McpResponse {
    const TYPE: &'static str = "MCP_RESPONSE";

    fn to_members(&self) -> Map {
        let mut m = self.common().members();
        m.insert(
            "response_hash".into(),
            Value::from(to_hex(&self.response_hash)),
        );
        m.insert("result_code".into(), Value::from(self.result_code.as_str()));
        if let Some(reason) = &self.denial_reason {
            m.insert("denial_reason".into(), Value::from(reason.as_str()));
        }
        if let Some(id) = &self.mcp_id {
            m.insert("mcp_id".into(), id.clone());
        }
        m
    }

    fn from_members(m: &Map) -> Result<Self, FrameError> {
        let frame = Self {
            session_id: text(m, "session_id")?,
            correlation_id: text(m, "correlation_id")?,
            peer_id: text(m, "peer_id")?,
            issued_at: seconds(m, "issued_at")?,
            response_hash: hash(m, "response_hash")?,
            tool: text(m, "tool")?,
            method: text(m, "method")?,
            result_code: match text(m, "result_code")?.as_str() {
                "OK" => ResultCode::Ok,
                "DENY" => ResultCode::Deny,
                "ERROR" => ResultCode::Error,
                _ => return Err(FrameError::Malformed("result_code")),
            },
            denial_reason: match m.get("denial_reason") {
                None => None,
                Some(Value::String(s)) if s.len() <= MAX_ID_LEN => Some(s.clone()),
                Some(_) => return Err(FrameError::Malformed("denial_reason")),
            },
            mcp_id: match m.get("mcp_id") {
                None => None,
                Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
                Some(_) => return Err(FrameError::Malformed("mcp_id")),
            },
        };
        only(
            m,
            &[
                "session_id",
                "correlation_id",
                "peer_id",
                "issued_at",
                "response_hash",
                "tool",
                "method",
                "result_code",
                "denial_reason",
                "mcp_id",
            ],
        )?;
        Ok(frame)
    }

    fn check(&self) -> Result<(), FrameError> {
        self.common().check()?;
        if self
            .denial_reason
            .as_ref()
            .is_some_and(|r| r.len() > MAX_ID_LEN)
        {
            return Err(FrameError::Malformed("denial_reason"));
        }
        if !matches!(
            self.mcp_id,
            None | Some(Value::String(_) | Value::Number(_))
        ) {
            return Err(FrameError::Malformed("mcp_id"));
        }
        Ok(())
    }
}
