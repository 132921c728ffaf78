//! Digests the upstream contracts define over MCP objects (`schemas/mcp/hashing_vectors.json`):
//! the tool-call envelope, JSON documents and raw documents, and the upstream SDK's signed
//! request payload (`schemas/mcp_payload.json`, `sdk/mcp_sign_verify.json`).
//!
//! ```
//! use talos_crypto::json;
//! use talos_mcp::digest::tool_call_digest;
//!
//! let envelope = json::parse(br#"{"tool_server":"system","tool_name":"ping","capability":{"read_only":true},"args":{}}"#)?;
//! assert_eq!(
//!     talos_crypto::hash::to_hex(&tool_call_digest(&envelope)?),
//!     "521d967cafaf20b90faaf8650740767e67a14c9989fd12403cd6a0e8182d1a5f"
//! );
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use talos_crypto::hash::sha256;
use talos_crypto::json::{Map, Value};
use talos_crypto::{Signature, SigningKey, VerifyingKey};

use crate::frame::Hash;

/// Why a tool-call envelope was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// A required member is missing or has the wrong type or form.
    #[error("tool-call envelope member {0} is missing or malformed")]
    Malformed(&'static str),
    /// A member the envelope does not have.
    #[error("tool-call envelope has an unknown member {0:?}")]
    Unknown(String),
}

/// SHA-256 of the canonical JSON of a tool-call envelope `{tool_server, tool_name,
/// capability{read_only}, args, meta?{iat, jti}}`, after checking its contract
/// (`tool_server` matches `^[a-z0-9-_]+$`, `tool_name` `^[a-z0-9-_./]+$`, no other members).
///
/// # Errors
/// [`EnvelopeError`].
pub fn tool_call_digest(envelope: &Value) -> Result<Hash, EnvelopeError> {
    let map = envelope
        .as_object()
        .ok_or(EnvelopeError::Malformed("envelope"))?;
    let name = |member: &'static str, extra: &[u8]| -> Result<(), EnvelopeError> {
        let ok = map.get(member).and_then(Value::as_str).is_some_and(|s| {
            !s.is_empty()
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b"-_".contains(&b)
                        || extra.contains(&b)
                })
        });
        if ok {
            Ok(())
        } else {
            Err(EnvelopeError::Malformed(member))
        }
    };
    name("tool_server", b"")?;
    name("tool_name", b"./")?;
    match map.get("capability").and_then(Value::as_object) {
        Some(c) if c.len() == 1 && matches!(c.get("read_only"), Some(Value::Bool(_))) => {}
        _ => return Err(EnvelopeError::Malformed("capability")),
    }
    if map.get("args").and_then(Value::as_object).is_none() {
        return Err(EnvelopeError::Malformed("args"));
    }
    if let Some(meta) = map.get("meta") {
        let ok = meta
            .as_object()
            .is_some_and(|m| m.keys().all(|k| k == "iat" || k == "jti"));
        if !ok {
            return Err(EnvelopeError::Malformed("meta"));
        }
    }
    if let Some(unknown) = map
        .keys()
        .find(|k| !["tool_server", "tool_name", "capability", "args", "meta"].contains(&k.as_str()))
    {
        return Err(EnvelopeError::Unknown(unknown.clone()));
    }
    Ok(sha256(&envelope.to_canonical_vec()))
}

/// The digest of a JSON document: SHA-256 of its canonical JSON.
#[must_use]
pub fn json_document_digest(document: &Value) -> Hash {
    sha256(&document.to_canonical_vec())
}

/// The digest of a raw document: SHA-256 of its bytes.
#[must_use]
pub fn bytes_document_digest(document: &[u8]) -> Hash {
    sha256(document)
}

/// The upstream SDK's signed request (`schemas/mcp_payload.json`): the canonical JSON of
/// `{request, session_id, correlation_id, tool, action, timestamp}` and its Ed25519 signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdkSignedRequest {
    /// The canonical payload, exactly as signed.
    pub payload: Vec<u8>,
    /// The signature over `payload`.
    pub signature: Signature,
    /// The correlation id, beside the payload for the receiver's check.
    pub correlation_id: String,
}

impl SdkSignedRequest {
    /// Signs the payload of `request` (a JSON-RPC object) in `session_id` at `timestamp` (Unix
    /// seconds).
    #[must_use]
    pub fn sign(
        key: &SigningKey,
        request: Map,
        session_id: &str,
        correlation_id: &str,
        tool: &str,
        action: &str,
        timestamp: talos_crypto::json::Number,
    ) -> Self {
        let mut payload = Map::new();
        payload.insert("request".into(), Value::Object(request));
        payload.insert("session_id".into(), Value::from(session_id));
        payload.insert("correlation_id".into(), Value::from(correlation_id));
        payload.insert("tool".into(), Value::from(tool));
        payload.insert("action".into(), Value::from(action));
        payload.insert("timestamp".into(), Value::Number(timestamp));
        let payload = Value::Object(payload).to_canonical_vec();
        Self {
            signature: key.sign(&payload),
            payload,
            correlation_id: correlation_id.to_owned(),
        }
    }

    /// The SDK's `verify_mcp_response`: `false` if the correlation id (beside the payload, and
    /// the one inside it, which the signature covers) is not the expected one, else whether the
    /// signature verifies under `key`.
    #[must_use]
    pub fn verify(&self, expected_correlation_id: &str, key: &VerifyingKey) -> bool {
        let signed_id = talos_crypto::json::parse(&self.payload).ok().and_then(|p| {
            p.get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        self.correlation_id == expected_correlation_id
            && signed_id.as_deref() == Some(expected_correlation_id)
            && key.verify(&self.payload, &self.signature).is_ok()
    }
}
