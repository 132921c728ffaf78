//! Capability tokens: the upstream compact format (talos-v1.1 "format C") plus a `parent` link
//! for delegation.
//!
//! ```json
//! {
//!   "v": "1",
//!   "iss": "did:key:z6Mk…",                 // issuer; its key signs
//!   "sub": "did:key:z6Mk…",                 // subject: who may use the token
//!   "scope": "tool:fs/method:read tool:git", // scope items separated by single spaces
//!   "iat": 1700000000,                      // issued at, Unix seconds
//!   "exp": 1700003600,                      // expires at, Unix seconds (valid while now <= exp)
//!   "constraints": {"paths": ["repo/**"]},  // optional, see crate::scope
//!   "parent": "836d…9e36",                  // optional extension: the parent's capability hash
//!   "sig": "<b64u Ed25519 signature, 64 B>"
//! }
//! ```
//!
//! - `sig = b64u(Ed25519(canon(token ∖ sig)))`, where `canon` is RFC 8785 canonical JSON.
//! - `capability_hash = SHA-256(canon(token including sig))`, shown as lowercase hex.
//!
//! Parsing ([`CapabilityToken::from_json`]) is strict: at most [`MAX_TOKEN_BYTES`] of input,
//! strict JSON (duplicate keys refused), no unknown or missing members, the right types,
//! `v == "1"`, at most [`MAX_SCOPE_ITEMS`] scope items. It does **not** check the signature,
//! the times or the scope grammar: that is [`crate::verify`]'s job, in the upstream order.
//! The input need not be canonical: the token is canonicalised exactly once, and the
//! signature is checked over that canonical form, so a token signed over non-canonical bytes
//! fails verification, as upstream requires.
//!
//! ```
//! use talos_acl::token::{CapabilityToken, TokenFields};
//! use talos_crypto::{SigningKey, Timestamp};
//!
//! let key = SigningKey::from_seed(&[7; 32]);
//! let iat = Timestamp::from_secs(1_700_000_000).unwrap();
//! let exp = Timestamp::from_secs(1_700_003_600).unwrap();
//! let fields = TokenFields::new("did:talos:alice", "did:talos:bob", "tool:fs/method:read", iat, exp);
//! let token = CapabilityToken::issue(&key, &fields).unwrap();
//! let again = CapabilityToken::from_json(&token.to_json()).unwrap();
//! assert_eq!(again, token);
//! assert!(again.verify_signature(&key.verifying_key()).is_ok());
//! ```

use core::fmt;

use talos_crypto::hash::{Sha256, to_hex};
use talos_crypto::json::{self, JsonError, Map, Number, Value};
use talos_crypto::{Signature, SigningKey, Timestamp, VerifyError, VerifyingKey, base64url};

/// The largest token accepted, in bytes of JSON input. Longer input is refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The most scope items (space-separated) a token may carry.
pub const MAX_SCOPE_ITEMS: usize = 64;

/// The only format version: `"v": "1"`.
pub const TOKEN_VERSION: &str = "1";

/// A SHA-256 capability hash (`capability_hash`), 32 bytes.
pub type CapabilityHash = [u8; 32];

/// Why a token could not be parsed or issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The input is longer than [`MAX_TOKEN_BYTES`]. Drop it unparsed.
    #[error("capability token too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The same member appears twice: the token has no single meaning, so no signature can be
    /// checked over it (upstream reports `SIGNATURE_INVALID`).
    #[error("invalid capability signature: token has a duplicate key {key:?}")]
    DuplicateKey {
        /// The repeated key, cut to 64 characters.
        key: String,
    },
    /// Not strict JSON.
    #[error("malformed capability token: {0}")]
    Json(JsonError),
    /// The JSON is not an object.
    #[error("malformed capability token: not a JSON object")]
    NotAnObject,
    /// A required member is missing.
    #[error("malformed capability token: missing member {0:?}")]
    Missing(&'static str),
    /// A member this format does not define.
    #[error("malformed capability token: unknown member {0:?}")]
    UnknownMember(String),
    /// A member has the wrong type or an out-of-range value.
    #[error("malformed capability token: member {member:?} {reason}")]
    Invalid {
        /// The member.
        member: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `v` is not `"1"`.
    #[error("unsupported capability token version {0:?}")]
    UnsupportedVersion(String),
    /// More scope items than [`MAX_SCOPE_ITEMS`].
    #[error("malformed capability token: {count} scope items, maximum {max}")]
    TooManyScopeItems {
        /// Items found.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl From<JsonError> for TokenError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::DuplicateKey { key, .. } => Self::DuplicateKey { key },
            other => Self::Json(other),
        }
    }
}

/// What goes into a new token ([`CapabilityToken::issue`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TokenFields {
    /// Issuer (`iss`): a DID, or any string when the verifier is given the key.
    pub iss: String,
    /// Subject (`sub`).
    pub sub: String,
    /// The scope string (see [`crate::scope`]).
    pub scope: String,
    /// Issued at, whole Unix seconds.
    pub iat: u64,
    /// Expires at, whole Unix seconds.
    pub exp: u64,
    /// Optional constraints object (see [`crate::scope`]).
    pub constraints: Option<Map>,
    /// Optional parent capability hash (delegation extension).
    pub parent: Option<CapabilityHash>,
}

impl TokenFields {
    /// Fields without constraints or parent; times are rounded down to whole seconds.
    #[must_use]
    pub fn new(
        iss: impl Into<String>,
        sub: impl Into<String>,
        scope: impl Into<String>,
        iat: Timestamp,
        exp: Timestamp,
    ) -> Self {
        Self {
            iss: iss.into(),
            sub: sub.into(),
            scope: scope.into(),
            iat: iat.as_secs(),
            exp: exp.as_secs(),
            constraints: None,
            parent: None,
        }
    }

    /// Sets the constraints object.
    #[must_use]
    pub fn with_constraints(mut self, constraints: Map) -> Self {
        self.constraints = Some(constraints);
        self
    }

    /// Names `parent` as this token's parent (delegation).
    #[must_use]
    pub fn with_parent(mut self, parent: &CapabilityToken) -> Self {
        self.parent = Some(*parent.capability_hash());
        self
    }

    fn to_value(&self) -> Result<Map, TokenError> {
        let mut map = Map::new();
        map.insert("v".into(), Value::from(TOKEN_VERSION));
        map.insert("iss".into(), Value::from(self.iss.as_str()));
        map.insert("sub".into(), Value::from(self.sub.as_str()));
        map.insert("scope".into(), Value::from(self.scope.as_str()));
        map.insert("iat".into(), secs_value(self.iat, "iat")?);
        map.insert("exp".into(), secs_value(self.exp, "exp")?);
        if let Some(c) = &self.constraints {
            map.insert("constraints".into(), Value::Object(c.clone()));
        }
        if let Some(p) = &self.parent {
            map.insert("parent".into(), Value::String(to_hex(p)));
        }
        Ok(map)
    }
}

fn secs_value(secs: u64, member: &'static str) -> Result<Value, TokenError> {
    if secs > json::MAX_SAFE_INTEGER {
        return Err(TokenError::Invalid {
            member,
            reason: "exceeds 2^53 - 1",
        });
    }
    Number::try_from(secs)
        .map(Value::Number)
        .map_err(|_| TokenError::Invalid {
            member,
            reason: "exceeds 2^53 - 1",
        })
}

/// A parsed capability token (format C, optionally with `parent`).
///
/// Holds the canonical signing bytes and the capability hash, computed once at parse time.
/// Equality is equality of the canonical form including the signature.
#[derive(Clone)]
pub struct CapabilityToken {
    iss: String,
    sub: String,
    scope: String,
    iat: u64,
    exp: u64,
    constraints: Option<Map>,
    parent: Option<CapabilityHash>,
    sig: Signature,
    /// `canon(token ∖ sig)`: the signed bytes.
    signing: Vec<u8>,
    /// Where `,"sig":"…"` goes into `signing` to give `canon(token)`.
    sig_at: usize,
    hash: CapabilityHash,
}

impl PartialEq for CapabilityToken {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.signing == other.signing && self.sig == other.sig
    }
}

impl Eq for CapabilityToken {}

impl fmt::Debug for CapabilityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapabilityToken")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("scope", &self.scope)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("constraints", &self.constraints)
            .field("parent", &self.parent.as_ref().map(|p| to_hex(p)))
            .field("capability_hash", &to_hex(&self.hash))
            .finish_non_exhaustive()
    }
}

const MEMBERS: [&str; 9] = [
    "v",
    "iss",
    "sub",
    "scope",
    "iat",
    "exp",
    "constraints",
    "parent",
    "sig",
];

impl CapabilityToken {
    /// Parses a token from JSON bytes, strictly (see the [module docs](self)). Checks format
    /// only: call [`crate::verify`] for signature, times, revocation and scope.
    ///
    /// # Errors
    /// [`TokenError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, TokenError> {
        if input.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge {
                len: input.len(),
                max: MAX_TOKEN_BYTES,
            });
        }
        let Value::Object(mut map) = json::parse(input)? else {
            return Err(TokenError::NotAnObject);
        };
        if let Some(unknown) = map.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
            return Err(TokenError::UnknownMember(cut(unknown)));
        }
        let v = get_str(&map, "v")?;
        if v != TOKEN_VERSION {
            return Err(TokenError::UnsupportedVersion(cut(v)));
        }
        let sig_text = take_str(&mut map, "sig")?;
        let sig_bytes: [u8; 64] =
            base64url::decode_array(&sig_text).map_err(|_| TokenError::Invalid {
                member: "sig",
                reason: "is not 64 bytes of unpadded base64url",
            })?;
        let iss = get_str(&map, "iss")?;
        let sub = get_str(&map, "sub")?;
        let scope = get_str(&map, "scope")?;
        let count = scope.split(' ').count();
        if count > MAX_SCOPE_ITEMS {
            return Err(TokenError::TooManyScopeItems {
                count,
                max: MAX_SCOPE_ITEMS,
            });
        }
        let iat = get_secs(&map, "iat")?;
        let exp = get_secs(&map, "exp")?;
        let constraints = match map.get("constraints") {
            None => None,
            Some(Value::Object(c)) => Some(c.clone()),
            Some(_) => {
                return Err(TokenError::Invalid {
                    member: "constraints",
                    reason: "is not an object",
                });
            }
        };
        if let Some(c) = &constraints {
            c.values().try_for_each(json::check_signing_profile)?;
        }
        let parent = match map.get("parent") {
            None => None,
            Some(Value::String(p)) => {
                Some(talos_crypto::hash::from_hex(p).ok_or(TokenError::Invalid {
                    member: "parent",
                    reason: "is not 64 lowercase hex digits",
                })?)
            }
            Some(_) => {
                return Err(TokenError::Invalid {
                    member: "parent",
                    reason: "is not a string",
                });
            }
        };
        let (iss, sub, scope) = (iss.to_owned(), sub.to_owned(), scope.to_owned());
        let signing = Value::Object(map).to_canonical_vec();
        Self::assemble(
            iss,
            sub,
            scope,
            iat,
            exp,
            constraints,
            parent,
            Signature::from_bytes(&sig_bytes),
            &sig_text,
            signing,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        iss: String,
        sub: String,
        scope: String,
        iat: u64,
        exp: u64,
        constraints: Option<Map>,
        parent: Option<CapabilityHash>,
        sig: Signature,
        sig_text: &str,
        signing: Vec<u8>,
    ) -> Result<Self, TokenError> {
        // In canonical order the top-level members after "sig" are "sub" and "v", both
        // strings; a string's canonical form never holds `,"` (its quotes are escaped), so
        // the last `,"sub":"` is the top-level member and "sig" goes right before it.
        let sig_at = rfind(&signing, br#","sub":""#).ok_or(TokenError::Missing("sub"))?;
        let (head, tail) = signing.split_at(sig_at);
        let mut h = Sha256::new();
        h.update(head);
        h.update(br#","sig":""#);
        h.update(sig_text.as_bytes());
        h.update(b"\"");
        h.update(tail);
        let token = Self {
            iss,
            sub,
            scope,
            iat,
            exp,
            constraints,
            parent,
            sig,
            sig_at,
            hash: h.finalize(),
            signing,
        };
        let len = token.encoded_len();
        if len > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge {
                len,
                max: MAX_TOKEN_BYTES,
            });
        }
        Ok(token)
    }

    /// Issues (signs) a new token. The result's [`to_json`](Self::to_json) is canonical JSON.
    ///
    /// # Errors
    /// [`TokenError`] if the fields do not make a valid token (a time beyond 2^53 − 1, a
    /// constraint value outside the signing profile, too many scope items, too large).
    pub fn issue(key: &SigningKey, fields: &TokenFields) -> Result<Self, TokenError> {
        let count = fields.scope.split(' ').count();
        if count > MAX_SCOPE_ITEMS {
            return Err(TokenError::TooManyScopeItems {
                count,
                max: MAX_SCOPE_ITEMS,
            });
        }
        let map = fields.to_value()?;
        let value = Value::Object(map);
        json::check_signing_profile(&value)?;
        let signing = value.to_canonical_vec();
        let sig = key.sign(&signing);
        let sig_text = base64url::encode(&sig.to_bytes());
        Self::assemble(
            fields.iss.clone(),
            fields.sub.clone(),
            fields.scope.clone(),
            fields.iat,
            fields.exp,
            fields.constraints.clone(),
            fields.parent,
            sig,
            &sig_text,
            signing,
        )
    }

    /// The canonical JSON of the whole token, signature included: the bytes to send.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let (head, tail) = self.signing.split_at(self.sig_at);
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(head);
        out.extend_from_slice(br#","sig":""#);
        base64url::encode_to_vec(&self.sig.to_bytes(), &mut out);
        out.push(b'"');
        out.extend_from_slice(tail);
        out
    }

    /// Length of [`to_json`](Self::to_json) in bytes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        // `,"sig":"` (8) + 86 base64url characters + `"` (1).
        self.signing.len() + 95
    }

    /// The signed bytes: canonical JSON of the token without `sig`.
    #[must_use]
    pub fn signing_bytes(&self) -> &[u8] {
        &self.signing
    }

    /// `capability_hash`: SHA-256 of the canonical token including `sig`.
    #[must_use]
    pub fn capability_hash(&self) -> &CapabilityHash {
        &self.hash
    }

    /// `capability_hash` as lowercase hex.
    #[must_use]
    pub fn capability_hash_hex(&self) -> String {
        to_hex(&self.hash)
    }

    /// The issuer (`iss`).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    /// The subject (`sub`).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.sub
    }

    /// The scope string, as signed.
    #[must_use]
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The constraints object, if any.
    #[must_use]
    pub fn constraints(&self) -> Option<&Map> {
        self.constraints.as_ref()
    }

    /// The parent's capability hash (delegation extension), if any.
    #[must_use]
    pub fn parent(&self) -> Option<&CapabilityHash> {
        self.parent.as_ref()
    }

    /// `iat` in Unix seconds.
    #[must_use]
    pub fn issued_at_secs(&self) -> u64 {
        self.iat
    }

    /// `exp` in Unix seconds.
    #[must_use]
    pub fn expires_at_secs(&self) -> u64 {
        self.exp
    }

    /// `iat` as a [`Timestamp`] (`iat` ≤ 2^53 − 1 seconds always fits).
    #[must_use]
    pub fn issued_at(&self) -> Timestamp {
        Timestamp::from_millis(self.iat.saturating_mul(1000))
    }

    /// `exp` as a [`Timestamp`].
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_millis(self.exp.saturating_mul(1000))
    }

    /// The signature.
    #[must_use]
    pub fn signature(&self) -> &Signature {
        &self.sig
    }

    /// Checks the signature against `key` (strict Ed25519 over [`signing_bytes`](Self::signing_bytes)).
    ///
    /// # Errors
    /// [`VerifyError`] if it does not verify.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), VerifyError> {
        key.verify(&self.signing, &self.sig)
    }
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

fn take_str(map: &mut Map, member: &'static str) -> Result<String, TokenError> {
    match map.remove(member) {
        None => Err(TokenError::Missing(member)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TokenError::Invalid {
            member,
            reason: "is not a string",
        }),
    }
}

fn get_str<'m>(map: &'m Map, member: &'static str) -> Result<&'m str, TokenError> {
    match map.get(member) {
        None => Err(TokenError::Missing(member)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TokenError::Invalid {
            member,
            reason: "is not a string",
        }),
    }
}

fn get_secs(map: &Map, member: &'static str) -> Result<u64, TokenError> {
    match map.get(member) {
        None => Err(TokenError::Missing(member)),
        Some(Value::Number(n)) => {
            n.as_u64()
                .filter(|s| *s <= json::MAX_SAFE_INTEGER)
                .ok_or(TokenError::Invalid {
                    member,
                    reason: "is not an integer in 0 ..= 2^53 - 1",
                })
        }
        Some(_) => Err(TokenError::Invalid {
            member,
            reason: "is not an integer",
        }),
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}
