//! JSON-RPC 2.0 lines as MCP's stdio transport carries them: one message per line, classified
//! without being rewritten, and the error responses a tunnel answers with itself.
//!
//! [`Message::parse`] reads one line (without its newline) with the strict JSON parser and
//! sorts it into a request, a notification or a response. It keeps the line's exact bytes, so
//! that a tunnel forwards what it received untouched: ids, unknown members and unknown methods
//! pass through as they were written. It refuses what a newline-delimited stream must not
//! carry or what JSON-RPC does not allow:
//!
//! - a line longer than [`MAX_LINE_BYTES`], or with a raw `\n` or `\r` in it (JSON allows them
//!   as whitespace, but a line with one would reach the next process as two messages);
//! - invalid JSON (code [`PARSE_ERROR`]); a batch array (MCP dropped batching in 2025-06-18;
//!   code [`INVALID_REQUEST`]); anything but an object with `"jsonrpc":"2.0"`; an id that is
//!   not a string or an integer; a request whose `params` is not an object; a response
//!   without exactly one of `result` and `error`.
//!
//! [`error_response`] builds the JSON-RPC error a tunnel answers with. Talos's own errors use
//! codes outside the range JSON-RPC and MCP reserve (−32768..−32000):
//!
//! | Code | Meaning |
//! |---|---|
//! | [`DENIED`] −31403 | Talos refused the request (capability, policy or rate limit); `data` names why |
//! | [`OVERLOADED`] −31429 | too many requests pending in the tunnel |
//! | [`TUNNEL_ERROR`] −31500 | the tunnel could not carry the request (e.g. its answer failed verification) |
//! | [`TIMED_OUT`] −31504 | no answer within the tunnel's request timeout |
//!
//! ```
//! use talos_mcp::jsonrpc::{Kind, Message};
//!
//! let line = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#;
//! let message = Message::parse(line)?;
//! assert!(matches!(message.kind(), Kind::Request { method, .. } if method == "tools/call"));
//! assert_eq!(message.target(), Some("echo"));
//! assert_eq!(message.bytes(), line);
//! # Ok::<(), talos_mcp::jsonrpc::LineError>(())
//! ```

use talos_crypto::json::{self, JsonError, Map, Number, Value};

use crate::frame::{Hash, payload_hash};

/// The longest line accepted, in bytes (MCP results can carry images and files).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// JSON-RPC: invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request object (a batch, a missing `jsonrpc`, ...).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: invalid method parameters (e.g. a `tools/call` without a tool name).
pub const INVALID_PARAMS: i64 = -32602;
/// Talos: the request was refused by capability, policy or rate limit.
pub const DENIED: i64 = -31403;
/// Talos: too many requests are pending in the tunnel.
pub const OVERLOADED: i64 = -31429;
/// Talos: the tunnel could not carry the request.
pub const TUNNEL_ERROR: i64 = -31500;
/// Talos: no answer arrived within the tunnel's request timeout.
pub const TIMED_OUT: i64 = -31504;

/// Why a line is not a JSON-RPC message a tunnel accepts.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// Longer than [`MAX_LINE_BYTES`].
    #[error("line of {len} bytes exceeds the limit of {MAX_LINE_BYTES}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A raw line break inside the line.
    #[error("line break inside a message")]
    LineBreak,
    /// Not JSON.
    #[error("parse error: {0}")]
    Json(#[from] JsonError),
    /// A JSON array: a batch.
    #[error("JSON-RPC batches are not supported")]
    Batch,
    /// JSON, but not a JSON-RPC 2.0 message; `id` is the message's id where it had a valid
    /// one, so that the error can be answered.
    #[error("invalid JSON-RPC message: {reason}")]
    Invalid {
        /// The id, if the message had a usable one.
        id: Option<Value>,
        /// What was wrong.
        reason: &'static str,
    },
}

impl LineError {
    /// The JSON-RPC error code this is answered with.
    #[must_use]
    pub const fn code(&self) -> i64 {
        match self {
            Self::Json(_) => PARSE_ERROR,
            Self::TooLong { .. } | Self::LineBreak | Self::Batch | Self::Invalid { .. } => {
                INVALID_REQUEST
            }
        }
    }

    /// The id to answer with (`null` when none is known).
    #[must_use]
    pub fn id(&self) -> Option<&Value> {
        match self {
            Self::Invalid { id, .. } => id.as_ref(),
            _ => None,
        }
    }

    /// The JSON-RPC error response answering the line.
    #[must_use]
    pub fn to_response(&self) -> Vec<u8> {
        error_response(self.id(), self.code(), &self.to_string(), None)
    }
}

/// What a message is.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::exhaustive_enums)] // JSON-RPC has these three kinds
pub enum Kind {
    /// A request: it has an id and expects a response.
    Request {
        /// Its id (a string or an integer).
        id: Value,
        /// Its method.
        method: String,
    },
    /// A notification: a method without an id.
    Notification {
        /// Its method.
        method: String,
    },
    /// A response (a result or an error) to the request with this id.
    Response {
        /// The id (`null` for an error about an unreadable request).
        id: Value,
        /// `true` when it carries `error` rather than `result`.
        is_error: bool,
    },
}

/// One JSON-RPC message: its exact bytes, its parsed value and its [`Kind`].
#[derive(Clone, Debug)]
pub struct Message {
    bytes: Vec<u8>,
    /// Always an object.
    value: Value,
    kind: Kind,
}

static EMPTY: Map = Map::new();

impl Message {
    /// Parses and classifies one line (without its line terminator).
    ///
    /// # Errors
    /// [`LineError`], see the [module docs](self).
    pub fn parse(line: &[u8]) -> Result<Self, LineError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(LineError::TooLong { len: line.len() });
        }
        if line.iter().any(|&b| b == b'\n' || b == b'\r') {
            return Err(LineError::LineBreak);
        }
        let value = match json::parse(line)? {
            Value::Object(map) => map,
            Value::Array(_) => return Err(LineError::Batch),
            _ => {
                return Err(LineError::Invalid {
                    id: None,
                    reason: "not an object",
                });
            }
        };
        let kind = classify(&value)?;
        Ok(Self {
            bytes: line.to_vec(),
            value: Value::Object(value),
            kind,
        })
    }

    /// A message from a parsed object (e.g. one a tunnel rewrote), serialized canonically.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), for an object that is not a valid message.
    pub fn from_map(value: Map) -> Result<Self, LineError> {
        let kind = classify(&value)?;
        let value = Value::Object(value);
        let bytes = value.to_canonical_vec();
        if bytes.len() > MAX_LINE_BYTES {
            return Err(LineError::TooLong { len: bytes.len() });
        }
        Ok(Self { bytes, value, kind })
    }

    /// The exact bytes of the line.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The message as a JSON object.
    #[must_use]
    pub fn value(&self) -> &Map {
        match &self.value {
            Value::Object(map) => map,
            _ => &EMPTY,
        }
    }

    /// [`payload_hash`] of the message: SHA-256 of its canonical JSON, as frames bind it.
    #[must_use]
    pub fn hash(&self) -> Hash {
        payload_hash(&self.value)
    }

    /// Its kind.
    #[must_use]
    pub const fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The method of a request or a notification.
    #[must_use]
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            Kind::Request { method, .. } | Kind::Notification { method } => Some(method),
            Kind::Response { .. } => None,
        }
    }

    /// The id of a request or a response.
    #[must_use]
    pub const fn id(&self) -> Option<&Value> {
        match &self.kind {
            Kind::Request { id, .. } | Kind::Response { id, .. } => Some(id),
            Kind::Notification { .. } => None,
        }
    }

    /// `params`, if it is an object.
    #[must_use]
    pub fn params(&self) -> Option<&Map> {
        self.value().get("params").and_then(Value::as_object)
    }

    /// What an access-controlled request acts on: the tool of a `tools/call`, the URI of a
    /// `resources/read`, `resources/subscribe` or `resources/unsubscribe`, the prompt of a
    /// `prompts/get`, the prompt or resource a `completion/complete` refers to. `None` for
    /// other methods, or when the member is missing or not a string.
    #[must_use]
    pub fn target(&self) -> Option<&str> {
        let params = self.params()?;
        fn member<'m>(map: &'m Map, key: &str) -> Option<&'m str> {
            map.get(key).and_then(Value::as_str)
        }
        match self.method()? {
            "tools/call" | "prompts/get" => member(params, "name"),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                member(params, "uri")
            }
            "completion/complete" => {
                let reference = params.get("ref")?.as_object()?;
                match member(reference, "type")? {
                    "ref/prompt" => member(reference, "name"),
                    "ref/resource" => member(reference, "uri"),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The `requestId` of a `notifications/cancelled`.
    #[must_use]
    pub fn cancelled_id(&self) -> Option<&Value> {
        match self.method() {
            Some("notifications/cancelled") => self.params()?.get("requestId"),
            _ => None,
        }
    }

    /// Removes the members of `params` whose names start with `_talos_` (the seed proxy's
    /// in-band fields; REFERENCE §7.2 rule 10), re-serializing the message if there were any.
    /// Returns `true` when something was removed.
    pub fn strip_talos_fields(&mut self) -> bool {
        let Value::Object(map) = &mut self.value else {
            return false;
        };
        let Some(Value::Object(params)) = map.get_mut("params") else {
            return false;
        };
        let before = params.len();
        params.retain(|k, _| !k.starts_with("_talos_"));
        if params.len() == before {
            return false;
        }
        self.bytes = self.value.to_canonical_vec();
        true
    }
}

/// A key for an id in a pending-request table: its canonical JSON (`7` and `"7"` differ).
#[must_use]
pub fn id_key(id: &Value) -> Vec<u8> {
    id.to_canonical_vec()
}

fn classify(value: &Map) -> Result<Kind, LineError> {
    let id = match value.get("id") {
        None => None,
        Some(id @ Value::String(_)) => Some(id.clone()),
        Some(id @ Value::Number(n)) if n.as_i64().is_some() => Some(id.clone()),
        Some(Value::Null) => Some(Value::Null),
        Some(_) => {
            return Err(LineError::Invalid {
                id: None,
                reason: "id must be a string or an integer",
            });
        }
    };
    let invalid = |reason| LineError::Invalid {
        id: id.clone().filter(|i| *i != Value::Null),
        reason,
    };
    if value.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("jsonrpc must be \"2.0\""));
    }
    if let Some(method) = value.get("method") {
        let Some(method) = method.as_str() else {
            return Err(invalid("method must be a string"));
        };
        if value.contains_key("result") || value.contains_key("error") {
            return Err(invalid("a request has no result or error"));
        }
        match value.get("params") {
            None | Some(Value::Object(_)) => {}
            Some(_) => return Err(invalid("params must be an object")),
        }
        return Ok(match id {
            None => Kind::Notification {
                method: method.to_owned(),
            },
            Some(Value::Null) => return Err(invalid("a request id must not be null")),
            Some(id) => Kind::Request {
                id,
                method: method.to_owned(),
            },
        });
    }
    let Some(id) = id.clone() else {
        return Err(invalid("neither a method nor an id"));
    };
    match (value.get("result"), value.get("error")) {
        (Some(_), None) => Ok(Kind::Response {
            id,
            is_error: false,
        }),
        (None, Some(Value::Object(_))) => Ok(Kind::Response { id, is_error: true }),
        (None, Some(_)) => Err(invalid("error must be an object")),
        _ => Err(invalid("a response has exactly one of result and error")),
    }
}

/// A JSON-RPC error response, as canonical JSON: `{"error":{"code","message","data"?},"id","jsonrpc"}`
/// (`id` is `null` when `None`).
#[must_use]
pub fn error_response(
    id: Option<&Value>,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Vec<u8> {
    let mut error = Map::new();
    #[allow(clippy::cast_precision_loss)] // JSON-RPC codes are small integers
    let code = Number::from_f64(code as f64).map_or(Value::Null, Value::Number);
    error.insert("code".into(), code);
    error.insert("message".into(), Value::String(message.to_owned()));
    if let Some(data) = data {
        error.insert("data".into(), data);
    }
    let mut response = Map::new();
    response.insert("jsonrpc".into(), Value::String("2.0".into()));
    response.insert("id".into(), id.cloned().unwrap_or(Value::Null));
    response.insert("error".into(), Value::Object(error));
    Value::Object(response).to_canonical_vec()
}
