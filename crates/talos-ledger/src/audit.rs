//! Upstream audit events: the `talos.audit_event` v1 object and its hashing rule.
//!
//! An [`AuditEvent`] is what a Talos gateway emits for each request it serves (upstream
//! contract `schemas/audit/audit_event.schema.json`, JSON Schema 2020-12; our copy with the
//! rules a schema cannot state is `contracts/ledger/audit_event.schema.json`). Every object
//! in it refuses unknown members. Its integrity rule:
//!
//! ```text
//! event_hash = hex(SHA-256(RFC 8785 canonical JSON of the event without event_hash)))
//! ```
//!
//! - **Build** one from typed [`AuditEventFields`] ([`AuditEvent::new`]): validated, then
//!   hashed.
//! - **Verify** a received one ([`AuditEvent::from_json`]): strict JSON, the schema's rules,
//!   then the hash recomputed and compared in constant time.
//! - The client IP is recorded only as [`ClientIpHash`]: `hex(HMAC-SHA256(key, ip))`, IPv4
//!   as is and IPv6 in its compressed form (RFC 5952), with the key's id. Unknown IP: omit
//!   all three `client_ip_*` members.
//! - [`redact_meta`] applies a surface's meta allowlist in the normative way: keys not on it
//!   are dropped and named in `meta_redacted_keys`, with `meta_redaction_applied: true`.
//!
//! ```
//! use talos_crypto::json::Value;
//! use talos_ledger::audit::{
//!     AuditEvent, AuditEventFields, ClientIpHash, Http, Method, Outcome, Principal,
//! };
//!
//! let fields = AuditEventFields {
//!     event_id: "01945533-3158-7c85-992d-9865f1715694".into(),
//!     ts: "2026-01-11T18:00:00.000Z".into(),
//!     request_id: "req-1".into(),
//!     surface_id: "llm.invoke".into(),
//!     outcome: Outcome::Success,
//!     principal: Principal::Bearer { principal_id: "p-1".into(), team_id: "t-1".into() },
//!     http: Http {
//!         method: Method::Post,
//!         path: "/v1/chat/completions".into(),
//!         status_code: 200,
//!         client_ip: ClientIpHash::compute(b"test-ip-key-secret", "test-ip-key-v1", "192.168.1.1"),
//!     },
//!     resource: None,
//!     meta: [("model".to_owned(), "gpt-4".into()), ("tokens".to_owned(), Value::Number(100.into()))].into(),
//! };
//! let event = AuditEvent::new(fields)?;
//! assert_eq!(
//!     event.event_hash_hex(),
//!     "6a803fcf7040693958c0de56d3d0359ed16625a7df8e21c76b73626716bdb7f7"
//! );
//! let received = AuditEvent::from_json(&event.to_json())?;
//! assert_eq!(received, event);
//! # Ok::<(), talos_ledger::audit::AuditError>(())
//! ```

use core::net::IpAddr;

use subtle::ConstantTimeEq as _;
use talos_crypto::hash::{self, from_hex};
use talos_crypto::json::{self, JsonError, Map, Number, Value};
use talos_crypto::{ErrorCode, Timestamp};

/// `schema_id`.
pub const SCHEMA_ID: &str = "talos.audit_event";

/// `schema_version`.
pub const SCHEMA_VERSION: &str = "v1";

/// `http.client_ip_hash_alg`.
pub const CLIENT_IP_HASH_ALG: &str = "HMAC-SHA256";

/// Most `meta` members.
pub const MAX_META_PROPERTIES: usize = 32;

/// Longest `meta` string value, in characters.
pub const MAX_META_STRING: usize = 1024;

/// Longest event: decoders refuse longer input before parsing it, and no event whose
/// canonical JSON (with `event_hash`) is longer is made or accepted.
pub const MAX_EVENT_LEN: usize = 64 * 1024;

/// `meta_redaction_applied`, added by [`redact_meta`].
pub const META_REDACTION_APPLIED: &str = "meta_redaction_applied";

/// `meta_redacted_keys`, added by [`redact_meta`].
pub const META_REDACTED_KEYS: &str = "meta_redacted_keys";

/// How the request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// `success`.
    Success,
    /// `failure`.
    Failure,
    /// `denied`.
    Denied,
}

impl Outcome {
    /// The `outcome` value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// Who made the request; the shape follows `auth_mode`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// `auth_mode: "signed"`: a request signed with the key `signer_key_id`.
    Signed {
        /// 1 to 200 characters, not `anonymous`.
        principal_id: String,
        /// 1 to 200 characters.
        team_id: String,
        /// 1 to 200 characters.
        signer_key_id: String,
    },
    /// `auth_mode: "bearer"`.
    Bearer {
        /// 1 to 200 characters, not `anonymous`.
        principal_id: String,
        /// 1 to 200 characters.
        team_id: String,
    },
    /// `auth_mode: "anonymous"`, `principal_id: "anonymous"`.
    Anonymous,
}

/// An HTTP method the contract knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
    /// `HEAD`.
    Head,
}

impl Method {
    const ALL: [Self; 7] = [
        Self::Get,
        Self::Post,
        Self::Put,
        Self::Patch,
        Self::Delete,
        Self::Options,
        Self::Head,
    ];

    /// The method's name, e.g. `"POST"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Head => "HEAD",
        }
    }
}

/// The client IP, keyed-hashed: `hex(HMAC-SHA256(key, canonical ip))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIpHash {
    /// The HMAC.
    pub hash: [u8; 32],
    /// Which key (1 to 200 characters).
    pub key_id: String,
}

impl ClientIpHash {
    /// Hashes `ip` under `key`; `None` if `ip` is not an IP address (record it as unknown:
    /// no `client_ip_*` members).
    #[must_use]
    pub fn compute(key: &[u8], key_id: impl Into<String>, ip: &str) -> Option<Self> {
        let ip = canonical_ip(ip)?;
        Some(Self {
            hash: hash::hmac_sha256(key, ip.as_bytes()),
            key_id: key_id.into(),
        })
    }
}

/// The form of `ip` that is hashed: IPv4 dotted decimal, IPv6 compressed (RFC 5952, e.g.
/// `2001:db8::1`). `None` if `ip` is not an IP address.
#[must_use]
pub fn canonical_ip(ip: &str) -> Option<String> {
    ip.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

/// The request, as its surface's template (never the raw path or query).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Http {
    /// The method.
    pub method: Method,
    /// The path template: `/`, no `?`, at most 500 characters.
    pub path: String,
    /// 100 to 599.
    pub status_code: u16,
    /// The client IP's keyed hash; `None` when unknown.
    pub client_ip: Option<ClientIpHash>,
}

/// What the request touched (optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// 1 to 100 characters.
    pub resource_type: Option<String>,
    /// 1 to 200 characters.
    pub resource_id: Option<String>,
}

/// An event's members, before hashing.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEventFields {
    /// UUIDv7, lowercase with hyphens.
    pub event_id: String,
    /// RFC 3339 UTC with milliseconds (see [`format_ts`]).
    pub ts: String,
    /// 1 to 128 characters.
    pub request_id: String,
    /// 1 to 200 characters.
    pub surface_id: String,
    /// How the request ended.
    pub outcome: Outcome,
    /// Who made it.
    pub principal: Principal,
    /// The HTTP request.
    pub http: Http,
    /// What it touched.
    pub resource: Option<Resource>,
    /// At most 32 scalar members (string ≤ 1024 characters, number, bool, null), already
    /// filtered by the surface's allowlist ([`redact_meta`]).
    pub meta: Map,
}

/// A valid `talos.audit_event` v1 with its `event_hash`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    /// The full event, `event_hash` included.
    value: Value,
    hash: [u8; 32],
}

impl AuditEvent {
    /// Builds, validates and hashes an event.
    ///
    /// # Errors
    /// [`AuditError`] for a member outside the contract.
    pub fn new(fields: AuditEventFields) -> Result<Self, AuditError> {
        Self::from_unhashed(&fields.into_value())
    }

    /// Validates an event given without `event_hash` and hashes it.
    ///
    /// # Errors
    /// [`AuditError`] for an event outside the contract, one that has an `event_hash`, or
    /// one whose canonical JSON would be longer than [`MAX_EVENT_LEN`].
    pub fn from_unhashed(event: &Value) -> Result<Self, AuditError> {
        let map = event.as_object().ok_or(AuditError::Invalid {
            field: "event",
            reason: "not an object",
        })?;
        if map.contains_key("event_hash") {
            return Err(AuditError::Invalid {
                field: "event_hash",
                reason: "present in an event to hash",
            });
        }
        check_event(map)?;
        let canonical = event.to_canonical_vec();
        // The full event adds `,"event_hash":"<64 hex digits>"`: 80 bytes.
        let len = canonical.len().saturating_add(80);
        if len > MAX_EVENT_LEN {
            return Err(AuditError::TooLarge {
                len,
                max: MAX_EVENT_LEN,
            });
        }
        let hash = hash::sha256(&canonical);
        let mut full = map.clone();
        full.insert("event_hash".into(), Value::String(hash::to_hex(&hash)));
        Ok(Self {
            value: Value::Object(full),
            hash,
        })
    }

    /// Verifies a received event: strict JSON (no duplicate keys), at most
    /// [`MAX_EVENT_LEN`] bytes, the contract's rules, and `event_hash` recomputed and compared
    /// in constant time. Any JSON layout is accepted; the hash covers the canonical form.
    ///
    /// # Errors
    /// [`AuditError`]; [`AuditError::HashMismatch`] for an altered event.
    pub fn from_json(bytes: &[u8]) -> Result<Self, AuditError> {
        if bytes.len() > MAX_EVENT_LEN {
            return Err(AuditError::TooLarge {
                len: bytes.len(),
                max: MAX_EVENT_LEN,
            });
        }
        Self::verify_value(&json::parse(bytes)?)
    }

    /// As [`AuditEvent::from_json`], for a parsed value.
    ///
    /// # Errors
    /// As [`AuditEvent::from_json`].
    pub fn verify_value(event: &Value) -> Result<Self, AuditError> {
        let map = event.as_object().ok_or(AuditError::Invalid {
            field: "event",
            reason: "not an object",
        })?;
        let claimed = match map.get("event_hash") {
            Some(Value::String(h)) => from_hex::<32>(h).ok_or(AuditError::Invalid {
                field: "event_hash",
                reason: "not 64 lowercase hex digits",
            })?,
            Some(_) => {
                return Err(AuditError::Invalid {
                    field: "event_hash",
                    reason: "not a string",
                });
            }
            None => return Err(AuditError::Missing("event_hash")),
        };
        let mut unhashed = map.clone();
        unhashed.remove("event_hash");
        let event = Self::from_unhashed(&Value::Object(unhashed))?;
        if !bool::from(event.hash.ct_eq(&claimed)) {
            return Err(AuditError::HashMismatch);
        }
        Ok(event)
    }

    /// `event_hash`.
    #[must_use]
    pub const fn event_hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// `event_hash` as it appears in the event: 64 lowercase hex digits.
    #[must_use]
    pub fn event_hash_hex(&self) -> String {
        hash::to_hex(&self.hash)
    }

    /// The bytes `event_hash` covers: the canonical JSON of the event without `event_hash`.
    #[must_use]
    pub fn hashed_bytes(&self) -> Vec<u8> {
        let mut map = self.map().clone();
        map.remove("event_hash");
        Value::Object(map).to_canonical_vec()
    }

    /// The canonical JSON of the whole event, `event_hash` included.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.value.to_canonical_vec()
    }

    /// The event as a JSON value.
    #[must_use]
    pub const fn value(&self) -> &Value {
        &self.value
    }

    fn map(&self) -> &Map {
        match &self.value {
            Value::Object(map) => map,
            // Only objects are ever stored.
            _ => const { &Map::new() },
        }
    }
}

impl AuditEventFields {
    /// The event without `event_hash`, as JSON.
    #[must_use]
    pub fn into_value(self) -> Value {
        let s = |t: String| Value::String(t);
        let mut principal = Map::new();
        match self.principal {
            Principal::Signed {
                principal_id,
                team_id,
                signer_key_id,
            } => {
                principal.insert("auth_mode".into(), s("signed".into()));
                principal.insert("principal_id".into(), s(principal_id));
                principal.insert("team_id".into(), s(team_id));
                principal.insert("signer_key_id".into(), s(signer_key_id));
            }
            Principal::Bearer {
                principal_id,
                team_id,
            } => {
                principal.insert("auth_mode".into(), s("bearer".into()));
                principal.insert("principal_id".into(), s(principal_id));
                principal.insert("team_id".into(), s(team_id));
            }
            Principal::Anonymous => {
                principal.insert("auth_mode".into(), s("anonymous".into()));
                principal.insert("principal_id".into(), s("anonymous".into()));
            }
        }
        let mut http = Map::new();
        http.insert("method".into(), s(self.http.method.as_str().into()));
        http.insert("path".into(), s(self.http.path));
        http.insert(
            "status_code".into(),
            Value::Number(Number::from(u32::from(self.http.status_code))),
        );
        if let Some(ip) = self.http.client_ip {
            http.insert("client_ip_hash".into(), s(hash::to_hex(&ip.hash)));
            http.insert("client_ip_hash_alg".into(), s(CLIENT_IP_HASH_ALG.into()));
            http.insert("client_ip_hash_key_id".into(), s(ip.key_id));
        }
        let mut event = Map::new();
        event.insert("schema_id".into(), s(SCHEMA_ID.into()));
        event.insert("schema_version".into(), s(SCHEMA_VERSION.into()));
        event.insert("event_id".into(), s(self.event_id));
        event.insert("ts".into(), s(self.ts));
        event.insert("request_id".into(), s(self.request_id));
        event.insert("surface_id".into(), s(self.surface_id));
        event.insert("outcome".into(), s(self.outcome.as_str().into()));
        event.insert("principal".into(), Value::Object(principal));
        event.insert("http".into(), Value::Object(http));
        if let Some(r) = self.resource {
            let mut resource = Map::new();
            if let Some(t) = r.resource_type {
                resource.insert("resource_type".into(), s(t));
            }
            if let Some(id) = r.resource_id {
                resource.insert("resource_id".into(), s(id));
            }
            event.insert("resource".into(), Value::Object(resource));
        }
        event.insert("meta".into(), Value::Object(self.meta));
        Value::Object(event)
    }
}

/// Applies a surface's meta allowlist, normative variant: members whose key is not in
/// `allowlist` are dropped; if any were, `meta_redaction_applied: true` and
/// `meta_redacted_keys` (the dropped keys, sorted, joined by `", "`) are added. The event
/// hash covers only the result.
#[must_use]
pub fn redact_meta(meta: &Map, allowlist: &[&str]) -> Map {
    let mut kept = Map::new();
    let mut dropped: Vec<&str> = Vec::new();
    for (key, value) in meta {
        if allowlist.contains(&key.as_str()) {
            kept.insert(key.clone(), value.clone());
        } else {
            dropped.push(key);
        }
    }
    if !dropped.is_empty() {
        dropped.sort_unstable();
        kept.insert(META_REDACTION_APPLIED.into(), Value::Bool(true));
        kept.insert(META_REDACTED_KEYS.into(), Value::String(dropped.join(", ")));
    }
    kept
}

/// `ts` for `at`: RFC 3339 UTC with milliseconds, e.g. `2026-01-11T18:00:00.000Z`. `None`
/// after year 9999.
#[must_use]
pub fn format_ts(at: Timestamp) -> Option<String> {
    /// 10000-01-01T00:00:00Z in milliseconds.
    const YEAR_10000: u64 = 253_402_300_800_000;
    (at.as_millis() < YEAR_10000).then(|| at.to_string())
}

/// Checks an event without `event_hash` against the contract.
fn check_event(map: &Map) -> Result<(), AuditError> {
    known(
        "event",
        map,
        &[
            "schema_id",
            "schema_version",
            "event_id",
            "ts",
            "request_id",
            "surface_id",
            "outcome",
            "principal",
            "http",
            "resource",
            "meta",
        ],
    )?;
    constant(map, "schema_id", SCHEMA_ID)?;
    constant(map, "schema_version", SCHEMA_VERSION)?;
    let event_id = string(map, "event_id", 36, 36)?;
    if !is_uuidv7(event_id) {
        return Err(AuditError::Invalid {
            field: "event_id",
            reason: "not a lowercase UUIDv7",
        });
    }
    if !is_ts(string(map, "ts", 24, 24)?) {
        return Err(AuditError::Invalid {
            field: "ts",
            reason: "not YYYY-MM-DDTHH:MM:SS.mmmZ",
        });
    }
    string(map, "request_id", 1, 128)?;
    string(map, "surface_id", 1, 200)?;
    let outcome = string(map, "outcome", 1, 16)?;
    if ![Outcome::Success, Outcome::Failure, Outcome::Denied]
        .iter()
        .any(|o| o.as_str() == outcome)
    {
        return Err(AuditError::Invalid {
            field: "outcome",
            reason: "not success, failure or denied",
        });
    }
    check_principal(object(map, "principal")?)?;
    check_http(object(map, "http")?)?;
    if map.contains_key("resource") {
        let resource = object(map, "resource")?;
        known("resource", resource, &["resource_type", "resource_id"])?;
        optional_string(resource, "resource_type", 100)?;
        optional_string(resource, "resource_id", 200)?;
    }
    check_meta(object(map, "meta")?)
}

fn check_principal(p: &Map) -> Result<(), AuditError> {
    let mode = string(p, "auth_mode", 1, 16)?;
    let id = |p: &Map| -> Result<(), AuditError> {
        if string(p, "principal_id", 1, 200)? == "anonymous" {
            return Err(AuditError::Invalid {
                field: "principal_id",
                reason: "\"anonymous\" with an authenticated auth_mode",
            });
        }
        string(p, "team_id", 1, 200).map(drop)
    };
    match mode {
        "signed" => {
            known(
                "principal",
                p,
                &["auth_mode", "principal_id", "team_id", "signer_key_id"],
            )?;
            id(p)?;
            string(p, "signer_key_id", 1, 200).map(drop)
        }
        "bearer" => {
            known("principal", p, &["auth_mode", "principal_id", "team_id"])?;
            id(p)
        }
        "anonymous" => {
            known("principal", p, &["auth_mode", "principal_id"])?;
            constant(p, "principal_id", "anonymous")
        }
        _ => Err(AuditError::Invalid {
            field: "auth_mode",
            reason: "not signed, bearer or anonymous",
        }),
    }
}

fn check_http(h: &Map) -> Result<(), AuditError> {
    known(
        "http",
        h,
        &[
            "method",
            "path",
            "status_code",
            "client_ip_hash",
            "client_ip_hash_alg",
            "client_ip_hash_key_id",
        ],
    )?;
    let method = string(h, "method", 1, 8)?;
    if !Method::ALL.iter().any(|m| m.as_str() == method) {
        return Err(AuditError::Invalid {
            field: "method",
            reason: "not GET, POST, PUT, PATCH, DELETE, OPTIONS or HEAD",
        });
    }
    let path = string(h, "path", 1, 500)?;
    if !path.starts_with('/') || path.contains('?') {
        return Err(AuditError::Invalid {
            field: "path",
            reason: "not a template path (starts with /, no query)",
        });
    }
    let status = match h.get("status_code") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(_) => None,
        None => return Err(AuditError::Missing("status_code")),
    };
    if !status.is_some_and(|s| (100..=599).contains(&s)) {
        return Err(AuditError::Invalid {
            field: "status_code",
            reason: "not an integer from 100 to 599",
        });
    }
    let present = [
        "client_ip_hash",
        "client_ip_hash_alg",
        "client_ip_hash_key_id",
    ]
    .iter()
    .filter(|k| h.contains_key(**k))
    .count();
    match present {
        0 => Ok(()),
        3 => {
            if from_hex::<32>(string(h, "client_ip_hash", 64, 64)?).is_none() {
                return Err(AuditError::Invalid {
                    field: "client_ip_hash",
                    reason: "not 64 lowercase hex digits",
                });
            }
            constant(h, "client_ip_hash_alg", CLIENT_IP_HASH_ALG)?;
            string(h, "client_ip_hash_key_id", 1, 200).map(drop)
        }
        _ => Err(AuditError::Invalid {
            field: "client_ip_hash",
            reason: "client_ip_hash, client_ip_hash_alg and client_ip_hash_key_id are all-or-nothing",
        }),
    }
}

fn check_meta(meta: &Map) -> Result<(), AuditError> {
    if meta.len() > MAX_META_PROPERTIES {
        return Err(AuditError::Invalid {
            field: "meta",
            reason: "more than 32 members",
        });
    }
    for value in meta.values() {
        match value {
            Value::String(s) if s.chars().count() > MAX_META_STRING => {
                return Err(AuditError::Invalid {
                    field: "meta",
                    reason: "a string longer than 1024 characters",
                });
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {}
            Value::Array(_) | Value::Object(_) => {
                return Err(AuditError::Invalid {
                    field: "meta",
                    reason: "a value that is not a scalar",
                });
            }
        }
    }
    Ok(())
}

fn known(object: &'static str, map: &Map, allowed: &[&str]) -> Result<(), AuditError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(AuditError::UnknownMember {
            object,
            key: key.chars().take(64).collect(),
        }),
        None => Ok(()),
    }
}

fn object<'a>(map: &'a Map, field: &'static str) -> Result<&'a Map, AuditError> {
    match map.get(field) {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(AuditError::Invalid {
            field,
            reason: "not an object",
        }),
        None => Err(AuditError::Missing(field)),
    }
}

/// A string member of `min..=max` characters (JSON Schema counts code points).
fn string<'a>(
    map: &'a Map,
    field: &'static str,
    min: usize,
    max: usize,
) -> Result<&'a str, AuditError> {
    match map.get(field) {
        Some(Value::String(s)) if (min..=max).contains(&s.chars().count()) => Ok(s),
        Some(Value::String(_)) => Err(AuditError::Invalid {
            field,
            reason: "length out of range",
        }),
        Some(_) => Err(AuditError::Invalid {
            field,
            reason: "not a string",
        }),
        None => Err(AuditError::Missing(field)),
    }
}

fn optional_string(map: &Map, field: &'static str, max: usize) -> Result<(), AuditError> {
    if map.contains_key(field) {
        string(map, field, 1, max)?;
    }
    Ok(())
}

fn constant(map: &Map, field: &'static str, want: &str) -> Result<(), AuditError> {
    match map.get(field) {
        Some(Value::String(s)) if s == want => Ok(()),
        Some(_) => Err(AuditError::Invalid {
            field,
            reason: "not the required constant",
        }),
        None => Err(AuditError::Missing(field)),
    }
}

/// `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`.
fn is_uuidv7(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            14 => c == b'7',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
        })
}

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`.
fn is_ts(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Checks an entry's audit event: canonical JSON of a valid event whose hash matches.
pub(crate) fn check_entry_event(bytes: &[u8]) -> Result<(), &'static str> {
    let event = AuditEvent::from_json(bytes).map_err(|_| "not a valid audit event")?;
    if event.to_json() != bytes {
        return Err("not RFC 8785 canonical JSON");
    }
    Ok(())
}

/// Why an audit event was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Not strict JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// Longer than [`MAX_EVENT_LEN`].
    #[error("audit event too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required member is absent.
    #[error("audit event without {0}")]
    Missing(&'static str),
    /// A member the contract does not define (`additionalProperties: false`).
    #[error("unknown member {key:?} in {object}")]
    UnknownMember {
        /// The object.
        object: &'static str,
        /// The key, cut to 64 characters.
        key: String,
    },
    /// A member out of the contract's range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The member.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// `event_hash` is not the hash of the event: it was altered.
    #[error("event_hash does not match the event")]
    HashMismatch,
}

impl From<&AuditError> for ErrorCode {
    fn from(err: &AuditError) -> Self {
        match err {
            AuditError::HashMismatch => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339_ms() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_768_154_400_000, "2026-01-11T18:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_ts(Timestamp::from_millis(ms)).as_deref(), Some(want));
            assert!(is_ts(want));
        }
        assert_eq!(format_ts(Timestamp::from_millis(253_402_300_800_000)), None);
        assert_eq!(format_ts(Timestamp::from_millis(u64::MAX)), None);
    }

    #[test]
    fn syntax_rules() {
        assert!(is_uuidv7("01945533-3158-7c85-992d-9865f1715694"));
        for bad in [
            "01945533-3158-4c85-992d-9865f1715694",
            "01945533-3158-7c85-c92d-9865f1715694",
            "01945533-3158-7C85-992d-9865f1715694",
            "019455333158-7c85-992d-9865f1715694",
        ] {
            assert!(!is_uuidv7(bad), "{bad}");
        }
        assert_eq!(from_hex::<32>(&"0a".repeat(32)), Some([10; 32]));
        assert_eq!(from_hex::<32>(&"0A".repeat(32)), None);
        assert_eq!(
            canonical_ip("2001:0db8:0000::0001").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(canonical_ip("unknown"), None);
    }
}
