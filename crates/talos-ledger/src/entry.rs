//! Log entries: what one leaf of the ledger records.
//!
//! An [`Entry`] is a typed, bounded record of one event a Talos node saw: a message sent or
//! received, a session established, a capability issued or revoked, an MCP tool call, an
//! upstream audit event, or an anchor of another log's checkpoint. Its bytes in a block are
//! its deterministic CBOR ([`Entry::to_cbor`]); its leaf hash is the Merkle leaf hash of those
//! bytes. The same fields have a canonical JSON form ([`Entry::to_json`]) for people and
//! other tools; both come from one field list, so they cannot drift apart.
//!
//! # Format (contract `contracts/ledger/entry.schema.json`)
//!
//! ```json
//! {
//!   "v": 1,
//!   "kind": "tool_call",                    // see EntryKind::as_str
//!   "id": "<16 B, e.g. a UUIDv7>",
//!   "sender": "did:key:z6Mk…",             // who recorded it, ≤ 256 bytes
//!   "nonce": 7,                             // per sender, 0 ..= 2^53 − 1
//!   "ts": 1768178601000,                    // ms since the Unix epoch
//!   "body": { … }                           // kind-specific, below
//! }
//! ```
//!
//! | kind | body members |
//! |---|---|
//! | `message_sent`, `message_received` | `peer` (DID), `session_id` (1–64 B), `header_hash` (32 B) |
//! | `session_established` | `peer`, `session_id`, `protocol_version`, `handshake_hash` (32 B) |
//! | `capability_issued` | `capability_hash` (32 B), `issuer`, `subject` (DIDs), `exp` (ms) |
//! | `capability_revoked` | `revocation` (the revocation's canonical JSON bytes, ≤ 16 KiB) |
//! | `tool_call` | `tool`, `request_hash`, `response_hash`? (32 B), `decision` (`allow`/`deny`), `reason`, `latency_us`, `opt_in_plaintext`? |
//! | `audit_event` | `event` (the upstream audit event's canonical JSON bytes) |
//! | `anchor` | `origin`, `size`, `root` (32 B), `note` (the signed checkpoint note) |
//!
//! Bytes are unpadded base64url in JSON and byte strings in CBOR; optional members are
//! omitted when absent, never `null`.
//!
//! **Entries hold hashes, not plaintext.** A message is recorded by the hash of its header,
//! a tool call by the hashes of its request and response. The one exception is
//! [`ToolCall::with_opt_in_plaintext`], which a caller must call explicitly to record a tool
//! call's arguments and result in clear; its member is named `opt_in_plaintext` so that it
//! stands out in every encoding.
//!
//! Decoders are strict: unknown, duplicate, missing or `null` members, members of another
//! kind's body, values out of range and any CBOR but the deterministic encoding are refused
//! ([`EntryError`]). Every entry is at most [`MAX_ENTRY_BYTES`] of CBOR.
//!
//! ```
//! use talos_crypto::Timestamp;
//! use talos_ledger::entry::{Body, Decision, Entry, EntryKind, ToolCall};
//!
//! let call = ToolCall::new("search", [1; 32], Some([2; 32]), Decision::Allow, "policy p1", 1_250)?;
//! let entry = Entry::new(
//!     [7; 16],
//!     "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
//!     42,
//!     Timestamp::from_millis(1_768_178_601_000),
//!     Body::ToolCall(call),
//! )?;
//! let bytes = entry.to_cbor();
//! let back = Entry::from_cbor(&bytes)?;
//! assert_eq!(back, entry);
//! assert_eq!(back.kind(), EntryKind::ToolCall);
//! assert_eq!(Entry::from_json(&entry.to_json())?, entry);
//! # Ok::<(), talos_ledger::entry::EntryError>(())
//! ```

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer};
use talos_crypto::json::{self, JsonError, MAX_SAFE_INTEGER};
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::{CborError, ErrorCode, Timestamp, base64url, cbor};

use crate::audit::AuditEvent;
use crate::merkle::Hash;

/// The entry format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// Largest entry, as the length of its deterministic CBOR (the seed's `MAX_SINGLE_ITEM_SIZE`).
pub const MAX_ENTRY_BYTES: usize = 100_000;

/// Decoders refuse canonical JSON longer than this before parsing it. Base64url and JSON
/// escaping make the JSON form longer than the CBOR one; four times covers every entry whose
/// CBOR fits [`MAX_ENTRY_BYTES`] unless its text is mostly control characters.
pub const MAX_ENTRY_JSON_BYTES: usize = 4 * MAX_ENTRY_BYTES;

/// Longest DID (sender, peer, issuer, subject), in bytes.
pub const MAX_DID_LEN: usize = 256;

/// Longest session id, in bytes.
pub const MAX_SESSION_ID_LEN: usize = 64;

/// Longest MCP tool name (the MCP specification's bound), in bytes.
pub const MAX_TOOL_NAME_LEN: usize = 128;

/// Longest tool-call decision reason, in bytes.
pub const MAX_REASON_LEN: usize = 256;

/// Longest revocation (its canonical JSON), in bytes.
pub const MAX_REVOCATION_LEN: usize = 16 * 1024;

/// Longest anchored log origin, in bytes.
pub const MAX_ORIGIN_LEN: usize = 256;

/// Longest anchored checkpoint note, in bytes.
pub const MAX_NOTE_LEN: usize = 16 * 1024;

/// Longest upstream audit event (its canonical JSON), in bytes: [`crate::audit::MAX_EVENT_LEN`].
pub const MAX_AUDIT_EVENT_LEN: usize = crate::audit::MAX_EVENT_LEN;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A message this node sent ([`Message`]).
    MessageSent,
    /// A message this node received ([`Message`]).
    MessageReceived,
    /// A session established with a peer ([`Session`]).
    SessionEstablished,
    /// A capability issued ([`CapabilityIssued`]).
    CapabilityIssued,
    /// A capability revoked ([`CapabilityRevoked`]).
    CapabilityRevoked,
    /// An MCP tool call, allowed or denied ([`ToolCall`]).
    ToolCall,
    /// An upstream `talos.audit_event` ([`AuditEventEntry`]).
    AuditEvent,
    /// Another log's checkpoint ([`Anchor`]).
    Anchor,
}

impl EntryKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 8] = [
        Self::MessageSent,
        Self::MessageReceived,
        Self::SessionEstablished,
        Self::CapabilityIssued,
        Self::CapabilityRevoked,
        Self::ToolCall,
        Self::AuditEvent,
        Self::Anchor,
    ];

    /// The `kind` member's value, e.g. `"tool_call"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MessageSent => "message_sent",
            Self::MessageReceived => "message_received",
            Self::SessionEstablished => "session_established",
            Self::CapabilityIssued => "capability_issued",
            Self::CapabilityRevoked => "capability_revoked",
            Self::ToolCall => "tool_call",
            Self::AuditEvent => "audit_event",
            Self::Anchor => "anchor",
        }
    }

    /// The body members this kind has (required and optional).
    const fn members(self) -> &'static [&'static str] {
        match self {
            Self::MessageSent | Self::MessageReceived => &["peer", "session_id", "header_hash"],
            Self::SessionEstablished => {
                &["peer", "session_id", "protocol_version", "handshake_hash"]
            }
            Self::CapabilityIssued => &["capability_hash", "issuer", "subject", "exp"],
            Self::CapabilityRevoked => &["revocation"],
            Self::ToolCall => &[
                "tool",
                "request_hash",
                "response_hash",
                "decision",
                "reason",
                "latency_us",
                "opt_in_plaintext",
            ],
            Self::AuditEvent => &["event"],
            Self::Anchor => &["origin", "size", "root", "note"],
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = EntryError;

    fn from_str(s: &str) -> Result<Self, EntryError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| EntryError::UnknownKind(cut(s)))
    }
}

/// A message sent or received: its header's hash, never its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The other party's DID.
    pub peer: String,
    /// The session that carried it (1 to [`MAX_SESSION_ID_LEN`] bytes).
    pub session_id: Vec<u8>,
    /// SHA-256 of the message header.
    pub header_hash: Hash,
}

/// A session established with a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The peer's DID.
    pub peer: String,
    /// The session's id (1 to [`MAX_SESSION_ID_LEN`] bytes).
    pub session_id: Vec<u8>,
    /// The protocol version agreed.
    pub protocol_version: u32,
    /// The handshake transcript hash.
    pub handshake_hash: Hash,
}

/// A capability issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityIssued {
    /// SHA-256 of the capability's canonical form.
    pub capability_hash: Hash,
    /// The issuer's DID.
    pub issuer: String,
    /// The subject's DID.
    pub subject: String,
    /// When the capability expires.
    pub exp: Timestamp,
}

/// A capability revoked: the revocation as talos-acl emits it (its canonical JSON bytes),
/// kept opaque here. At most [`MAX_REVOCATION_LEN`] bytes, not empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityRevoked {
    /// The revocation's canonical JSON bytes.
    pub revocation: Vec<u8>,
}

/// Whether a tool call was let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decision {
    /// Forwarded to the tool.
    Allow,
    /// Refused; the tool never saw the call.
    Deny,
}

impl Decision {
    /// `"allow"` or `"deny"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// A tool call's arguments and result in clear, recorded only when the caller opts in
/// ([`ToolCall::with_opt_in_plaintext`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptInPlaintext {
    /// The call's arguments (e.g. their JSON text).
    pub arguments: String,
    /// The call's result, if there was one.
    pub result: Option<String>,
}

/// An MCP tool call: hashes of the request and response, the decision and its reason, and
/// the latency. Arguments and results appear only as hashes unless opted in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    tool: String,
    request_hash: Hash,
    response_hash: Option<Hash>,
    decision: Decision,
    reason: String,
    latency_us: u64,
    opt_in_plaintext: Option<OptInPlaintext>,
}

impl ToolCall {
    /// A tool call recorded by hashes only. `response_hash` is `None` when there was no
    /// response (a denied call).
    ///
    /// # Errors
    /// [`EntryError::Invalid`] for a tool name outside MCP's rule, a reason longer than
    /// [`MAX_REASON_LEN`] or a latency beyond 2^53 − 1.
    pub fn new(
        tool: impl Into<String>,
        request_hash: Hash,
        response_hash: Option<Hash>,
        decision: Decision,
        reason: impl Into<String>,
        latency_us: u64,
    ) -> Result<Self, EntryError> {
        let call = Self {
            tool: tool.into(),
            request_hash,
            response_hash,
            decision,
            reason: reason.into(),
            latency_us,
            opt_in_plaintext: None,
        };
        call.check()?;
        Ok(call)
    }

    /// **Opts in** to recording the call's arguments and result in clear, next to their
    /// hashes. Only for deployments whose policy allows plaintext in the ledger.
    #[must_use]
    pub fn with_opt_in_plaintext(mut self, plaintext: OptInPlaintext) -> Self {
        self.opt_in_plaintext = Some(plaintext);
        self
    }

    /// The tool's name.
    #[must_use]
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// SHA-256 of the request.
    #[must_use]
    pub const fn request_hash(&self) -> &Hash {
        &self.request_hash
    }

    /// SHA-256 of the response, if there was one.
    #[must_use]
    pub const fn response_hash(&self) -> Option<&Hash> {
        self.response_hash.as_ref()
    }

    /// Allowed or denied.
    #[must_use]
    pub const fn decision(&self) -> Decision {
        self.decision
    }

    /// Why (e.g. the policy rule that decided).
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// How long the call took, in microseconds.
    #[must_use]
    pub const fn latency_us(&self) -> u64 {
        self.latency_us
    }

    /// The arguments and result in clear, if the recorder opted in.
    #[must_use]
    pub const fn opt_in_plaintext(&self) -> Option<&OptInPlaintext> {
        self.opt_in_plaintext.as_ref()
    }

    fn check(&self) -> Result<(), EntryError> {
        if !is_tool_name(&self.tool) {
            return Err(EntryError::Invalid {
                field: "tool",
                reason: "not 1 to 128 of A-Z a-z 0-9 _ - .",
            });
        }
        check_len("reason", &self.reason, 0, MAX_REASON_LEN)?;
        check_safe("latency_us", self.latency_us)
    }
}

/// An upstream `talos.audit_event` v1, held as its canonical JSON bytes (with `event_hash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEventEntry {
    json: Vec<u8>,
}

impl AuditEventEntry {
    /// Wraps an audit event's canonical JSON, after checking it is a valid event whose
    /// `event_hash` matches ([`crate::audit::AuditEvent::from_json`]).
    ///
    /// # Errors
    /// [`EntryError::Invalid`] if it is not.
    pub fn new(json: Vec<u8>) -> Result<Self, EntryError> {
        if json.len() > MAX_AUDIT_EVENT_LEN {
            return Err(EntryError::Invalid {
                field: "event",
                reason: "longer than 64 KiB",
            });
        }
        crate::audit::check_entry_event(&json).map_err(|reason| EntryError::Invalid {
            field: "event",
            reason,
        })?;
        Ok(Self { json })
    }

    /// The event's canonical JSON bytes.
    #[must_use]
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

impl From<&AuditEvent> for AuditEventEntry {
    /// A valid event's canonical JSON: always within [`MAX_AUDIT_EVENT_LEN`].
    fn from(event: &AuditEvent) -> Self {
        Self {
            json: event.to_json(),
        }
    }
}

/// Another log's checkpoint, anchored in this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The anchored log's origin line.
    pub origin: String,
    /// Its tree size.
    pub size: u64,
    /// Its root hash at that size.
    pub root: Hash,
    /// The signed checkpoint note.
    pub note: String,
}

/// An entry's kind-specific body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// See [`EntryKind::MessageSent`].
    MessageSent(Message),
    /// See [`EntryKind::MessageReceived`].
    MessageReceived(Message),
    /// See [`EntryKind::SessionEstablished`].
    SessionEstablished(Session),
    /// See [`EntryKind::CapabilityIssued`].
    CapabilityIssued(CapabilityIssued),
    /// See [`EntryKind::CapabilityRevoked`].
    CapabilityRevoked(CapabilityRevoked),
    /// See [`EntryKind::ToolCall`].
    ToolCall(ToolCall),
    /// See [`EntryKind::AuditEvent`].
    AuditEvent(AuditEventEntry),
    /// See [`EntryKind::Anchor`].
    Anchor(Anchor),
}

impl Body {
    /// The kind of entry this body makes.
    #[must_use]
    pub const fn kind(&self) -> EntryKind {
        match self {
            Self::MessageSent(_) => EntryKind::MessageSent,
            Self::MessageReceived(_) => EntryKind::MessageReceived,
            Self::SessionEstablished(_) => EntryKind::SessionEstablished,
            Self::CapabilityIssued(_) => EntryKind::CapabilityIssued,
            Self::CapabilityRevoked(_) => EntryKind::CapabilityRevoked,
            Self::ToolCall(_) => EntryKind::ToolCall,
            Self::AuditEvent(_) => EntryKind::AuditEvent,
            Self::Anchor(_) => EntryKind::Anchor,
        }
    }

    fn record(&self) -> Record<'_> {
        match self {
            Self::MessageSent(m) | Self::MessageReceived(m) => Record::new()
                .with("peer", Field::text(m.peer.as_str()))
                .with("session_id", Field::bytes(m.session_id.as_slice()))
                .with("header_hash", Field::bytes(&m.header_hash[..])),
            Self::SessionEstablished(s) => Record::new()
                .with("peer", Field::text(s.peer.as_str()))
                .with("session_id", Field::bytes(s.session_id.as_slice()))
                .with("protocol_version", Field::uint(s.protocol_version))
                .with("handshake_hash", Field::bytes(&s.handshake_hash[..])),
            Self::CapabilityIssued(c) => Record::new()
                .with("capability_hash", Field::bytes(&c.capability_hash[..]))
                .with("issuer", Field::text(c.issuer.as_str()))
                .with("subject", Field::text(c.subject.as_str()))
                .with("exp", safe(c.exp.as_millis())),
            Self::CapabilityRevoked(r) => {
                Record::new().with("revocation", Field::bytes(r.revocation.as_slice()))
            }
            Self::ToolCall(t) => Record::new()
                .with("tool", Field::text(t.tool.as_str()))
                .with("request_hash", Field::bytes(&t.request_hash[..]))
                .with_opt(
                    "response_hash",
                    t.response_hash.as_ref().map(|h| Field::bytes(&h[..])),
                )
                .with("decision", Field::text(t.decision.as_str()))
                .with("reason", Field::text(t.reason.as_str()))
                .with("latency_us", safe(t.latency_us))
                .with_opt(
                    "opt_in_plaintext",
                    t.opt_in_plaintext.as_ref().map(|p| {
                        Field::Record(
                            Record::new()
                                .with("arguments", Field::text(p.arguments.as_str()))
                                .with_opt("result", p.result.as_deref().map(Field::text)),
                        )
                    }),
                ),
            Self::AuditEvent(a) => Record::new().with("event", Field::bytes(a.json.as_slice())),
            Self::Anchor(a) => Record::new()
                .with("origin", Field::text(a.origin.as_str()))
                .with("size", safe(a.size))
                .with("root", Field::bytes(&a.root[..]))
                .with("note", Field::text(a.note.as_str())),
        }
    }

    fn check(&self) -> Result<(), EntryError> {
        match self {
            Self::MessageSent(m) | Self::MessageReceived(m) => {
                check_did("peer", &m.peer)?;
                check_session_id(&m.session_id)
            }
            Self::SessionEstablished(s) => {
                check_did("peer", &s.peer)?;
                check_session_id(&s.session_id)
            }
            Self::CapabilityIssued(c) => {
                check_did("issuer", &c.issuer)?;
                check_did("subject", &c.subject)?;
                check_safe("exp", c.exp.as_millis())
            }
            Self::CapabilityRevoked(r) => {
                if r.revocation.is_empty() || r.revocation.len() > MAX_REVOCATION_LEN {
                    return Err(EntryError::Invalid {
                        field: "revocation",
                        reason: "empty or longer than 16 KiB",
                    });
                }
                Ok(())
            }
            Self::ToolCall(t) => t.check(),
            // Checked by `AuditEventEntry::new`, the only way to make one.
            Self::AuditEvent(_) => Ok(()),
            Self::Anchor(a) => {
                check_len("origin", &a.origin, 1, MAX_ORIGIN_LEN)?;
                if a.origin.contains('\n') {
                    return Err(EntryError::Invalid {
                        field: "origin",
                        reason: "contains a newline",
                    });
                }
                check_safe("size", a.size)?;
                check_len("note", &a.note, 1, MAX_NOTE_LEN)
            }
        }
    }
}

/// One leaf of the log. Made with [`Entry::new`] or decoded; always within the format's
/// bounds, so it always encodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    id: [u8; 16],
    sender: String,
    nonce: u64,
    ts: Timestamp,
    body: Body,
}

impl Entry {
    /// An entry `id` (e.g. a UUIDv7's bytes) recorded by `sender` with its per-sender `nonce`
    /// at `ts`.
    ///
    /// # Errors
    /// [`EntryError`] if a field is out of range, or the CBOR form would be longer than
    /// [`MAX_ENTRY_BYTES`] ([`EntryError::TooLarge`]).
    pub fn new(
        id: [u8; 16],
        sender: impl Into<String>,
        nonce: u64,
        ts: Timestamp,
        body: Body,
    ) -> Result<Self, EntryError> {
        let entry = Self {
            id,
            sender: sender.into(),
            nonce,
            ts,
            body,
        };
        entry.check()?;
        let len = entry.to_cbor().len();
        if len > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                len,
                max: MAX_ENTRY_BYTES,
            });
        }
        Ok(entry)
    }

    /// Parses the CBOR form (a block's entry bytes), accepting only its deterministic
    /// encoding of at most [`MAX_ENTRY_BYTES`].
    ///
    /// # Errors
    /// [`EntryError`] naming what is wrong.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                len: bytes.len(),
                max: MAX_ENTRY_BYTES,
            });
        }
        let entry = Self::from_repr(cbor::decode(bytes)?)?;
        if entry.to_cbor() != bytes {
            return Err(CborError::NonCanonical.into());
        }
        Ok(entry)
    }

    /// Parses the canonical JSON form strictly (RFC 8785 bytes only).
    ///
    /// # Errors
    /// [`EntryError`] naming what is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_JSON_BYTES {
            return Err(EntryError::TooLarge {
                len: bytes.len(),
                max: MAX_ENTRY_JSON_BYTES,
            });
        }
        let value = json::parse(bytes)?;
        let entry = Self::from_repr(json::from_value(&value)?)?;
        let len = entry.to_cbor().len();
        if len > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                len,
                max: MAX_ENTRY_BYTES,
            });
        }
        if entry.to_json() != bytes {
            return Err(EntryError::Malformed("not RFC 8785 canonical JSON"));
        }
        Ok(entry)
    }

    /// The deterministic CBOR (RFC 8949 §4.2.1): the entry's bytes in a block.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        self.record().to_cbor()
    }

    /// The RFC 8785 canonical JSON.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.record().to_json()
    }

    /// What the entry records.
    #[must_use]
    pub const fn kind(&self) -> EntryKind {
        self.body.kind()
    }

    /// The entry's id, unique in the log.
    #[must_use]
    pub const fn id(&self) -> &[u8; 16] {
        &self.id
    }

    /// The recorder's DID.
    #[must_use]
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The recorder's nonce, never reused by one sender.
    #[must_use]
    pub const fn nonce(&self) -> u64 {
        self.nonce
    }

    /// When it was recorded.
    #[must_use]
    pub const fn timestamp(&self) -> Timestamp {
        self.ts
    }

    /// The kind-specific body.
    #[must_use]
    pub const fn body(&self) -> &Body {
        &self.body
    }

    /// The anchored checkpoint, for an [`EntryKind::Anchor`] entry.
    #[must_use]
    pub const fn anchor(&self) -> Option<&Anchor> {
        match &self.body {
            Body::Anchor(a) => Some(a),
            _ => None,
        }
    }

    fn record(&self) -> Record<'_> {
        Record::new()
            .with("v", Field::uint(VERSION))
            .with("kind", Field::text(self.kind().as_str()))
            .with("id", Field::bytes(&self.id[..]))
            .with("sender", Field::text(self.sender.as_str()))
            .with("nonce", safe(self.nonce))
            .with("ts", safe(self.ts.as_millis()))
            .with("body", Field::Record(self.body.record()))
    }

    fn check(&self) -> Result<(), EntryError> {
        check_did("sender", &self.sender)?;
        check_safe("nonce", self.nonce)?;
        check_safe("ts", self.ts.as_millis())?;
        self.body.check()
    }

    fn from_repr(repr: Repr) -> Result<Self, EntryError> {
        if repr.v != u64::from(VERSION) {
            return Err(EntryError::UnsupportedVersion(repr.v));
        }
        let kind: EntryKind = repr.kind.parse()?;
        let b = repr.body;
        if let Some(field) = b.present().find(|f| !kind.members().contains(f)) {
            return Err(EntryError::UnexpectedField { kind, field });
        }
        let need = |field: &'static str| EntryError::MissingField { kind, field };
        let message = |b: BodyRepr| -> Result<Message, EntryError> {
            Ok(Message {
                peer: b.peer.ok_or_else(|| need("peer"))?,
                session_id: b.session_id.ok_or_else(|| need("session_id"))?,
                header_hash: hash(
                    b.header_hash.ok_or_else(|| need("header_hash"))?,
                    "header_hash",
                )?,
            })
        };
        let body = match kind {
            EntryKind::MessageSent => Body::MessageSent(message(b)?),
            EntryKind::MessageReceived => Body::MessageReceived(message(b)?),
            EntryKind::SessionEstablished => Body::SessionEstablished(Session {
                peer: b.peer.ok_or_else(|| need("peer"))?,
                session_id: b.session_id.ok_or_else(|| need("session_id"))?,
                protocol_version: u32::try_from(
                    b.protocol_version.ok_or_else(|| need("protocol_version"))?,
                )
                .map_err(|_| EntryError::Invalid {
                    field: "protocol_version",
                    reason: "beyond 2^32 - 1",
                })?,
                handshake_hash: hash(
                    b.handshake_hash.ok_or_else(|| need("handshake_hash"))?,
                    "handshake_hash",
                )?,
            }),
            EntryKind::CapabilityIssued => Body::CapabilityIssued(CapabilityIssued {
                capability_hash: hash(
                    b.capability_hash.ok_or_else(|| need("capability_hash"))?,
                    "capability_hash",
                )?,
                issuer: b.issuer.ok_or_else(|| need("issuer"))?,
                subject: b.subject.ok_or_else(|| need("subject"))?,
                exp: Timestamp::from_millis(b.exp.ok_or_else(|| need("exp"))?),
            }),
            EntryKind::CapabilityRevoked => Body::CapabilityRevoked(CapabilityRevoked {
                revocation: b.revocation.ok_or_else(|| need("revocation"))?,
            }),
            EntryKind::ToolCall => {
                let decision = match b.decision.ok_or_else(|| need("decision"))?.as_str() {
                    "allow" => Decision::Allow,
                    "deny" => Decision::Deny,
                    _ => {
                        return Err(EntryError::Invalid {
                            field: "decision",
                            reason: "neither \"allow\" nor \"deny\"",
                        });
                    }
                };
                Body::ToolCall(ToolCall {
                    tool: b.tool.ok_or_else(|| need("tool"))?,
                    request_hash: hash(
                        b.request_hash.ok_or_else(|| need("request_hash"))?,
                        "request_hash",
                    )?,
                    response_hash: b
                        .response_hash
                        .map(|h| hash(h, "response_hash"))
                        .transpose()?,
                    decision,
                    reason: b.reason.ok_or_else(|| need("reason"))?,
                    latency_us: b.latency_us.ok_or_else(|| need("latency_us"))?,
                    opt_in_plaintext: b.opt_in_plaintext.map(|p| OptInPlaintext {
                        arguments: p.arguments,
                        result: p.result,
                    }),
                })
            }
            EntryKind::AuditEvent => {
                Body::AuditEvent(AuditEventEntry::new(b.event.ok_or_else(|| need("event"))?)?)
            }
            EntryKind::Anchor => Body::Anchor(Anchor {
                origin: b.origin.ok_or_else(|| need("origin"))?,
                size: b.size.ok_or_else(|| need("size"))?,
                root: hash(b.root.ok_or_else(|| need("root"))?, "root")?,
                note: b.note.ok_or_else(|| need("note"))?,
            }),
        };
        let id = repr.id.try_into().map_err(|_| EntryError::Invalid {
            field: "id",
            reason: "not 16 bytes",
        })?;
        let entry = Self {
            id,
            sender: repr.sender,
            nonce: repr.nonce,
            ts: Timestamp::from_millis(repr.ts),
            body,
        };
        entry.check()?;
        Ok(entry)
    }
}

/// Why an entry could not be made or decoded: it is outside the format. Drop it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// Longer than the format allows ([`MAX_ENTRY_BYTES`] of CBOR, [`MAX_ENTRY_JSON_BYTES`]
    /// of JSON input).
    #[error("entry too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A format version this crate does not read.
    #[error("unsupported entry version {0}")]
    UnsupportedVersion(u64),
    /// A `kind` this crate does not know (shown cut to 64 characters).
    #[error("unknown entry kind {0:?}")]
    UnknownKind(String),
    /// A body member the kind requires is absent.
    #[error("{kind} entry without body member {field}")]
    MissingField {
        /// The entry's kind.
        kind: EntryKind,
        /// The member.
        field: &'static str,
    },
    /// A body member of another kind.
    #[error("{kind} entry with body member {field}, which it does not have")]
    UnexpectedField {
        /// The entry's kind.
        kind: EntryKind,
        /// The member.
        field: &'static str,
    },
    /// A member out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The member.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Well-formed, but not in canonical form.
    #[error("malformed entry: {0}")]
    Malformed(&'static str),
}

impl From<&EntryError> for ErrorCode {
    fn from(err: &EntryError) -> Self {
        match err {
            EntryError::UnsupportedVersion(_) => Self::ProtocolMismatch,
            _ => Self::InvalidInput,
        }
    }
}

fn safe(value: u64) -> Field<'static> {
    // `check_safe` admits only values JSON carries exactly.
    Field::Uint(SafeUint::new(value).unwrap_or(SafeUint::MAX))
}

fn check_safe(field: &'static str, value: u64) -> Result<(), EntryError> {
    if value > MAX_SAFE_INTEGER {
        return Err(EntryError::Invalid {
            field,
            reason: "beyond 2^53 - 1",
        });
    }
    Ok(())
}

fn check_len(field: &'static str, text: &str, min: usize, max: usize) -> Result<(), EntryError> {
    if !(min..=max).contains(&text.len()) {
        return Err(EntryError::Invalid {
            field,
            reason: "length out of range",
        });
    }
    Ok(())
}

/// `did:<method>:<id>`, printable ASCII, at most [`MAX_DID_LEN`] bytes. The ledger does not
/// resolve DIDs; it only keeps the field well-formed.
fn check_did(field: &'static str, did: &str) -> Result<(), EntryError> {
    let mut parts = did.splitn(3, ':');
    let ok = did.len() <= MAX_DID_LEN
        && did.bytes().all(|b| b.is_ascii_graphic())
        && parts.next() == Some("did")
        && parts.next().is_some_and(|m| {
            !m.is_empty()
                && m.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts.next().is_some_and(|id| !id.is_empty());
    if ok {
        Ok(())
    } else {
        Err(EntryError::Invalid {
            field,
            reason: "not a DID (did:<method>:<id>, printable ASCII, at most 256 bytes)",
        })
    }
}

fn check_session_id(id: &[u8]) -> Result<(), EntryError> {
    if id.is_empty() || id.len() > MAX_SESSION_ID_LEN {
        return Err(EntryError::Invalid {
            field: "session_id",
            reason: "not 1 to 64 bytes",
        });
    }
    Ok(())
}

/// Whether `t` is a tool name a [`ToolCall`] accepts: 1 to [`MAX_TOOL_NAME_LEN`] of
/// `A-Z a-z 0-9 _ - .` (MCP's tool-name rule).
#[must_use]
pub fn is_tool_name(t: &str) -> bool {
    (1..=MAX_TOOL_NAME_LEN).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn hash(bytes: Vec<u8>, field: &'static str) -> Result<Hash, EntryError> {
    bytes.try_into().map_err(|_| EntryError::Invalid {
        field,
        reason: "not 32 bytes",
    })
}

/// At most 64 characters of untrusted text, for an error message.
fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The decoding side of [`Entry::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u64,
    kind: String,
    #[serde(with = "base64url::serde")]
    id: Vec<u8>,
    sender: String,
    nonce: u64,
    ts: u64,
    body: BodyRepr,
}

/// Every kind's body members; [`Entry::from_repr`] refuses those of other kinds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyRepr {
    #[serde(default)]
    peer: Option<String>,
    #[serde(default, deserialize_with = "opt_bytes")]
    session_id: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "opt_bytes")]
    header_hash: Option<Vec<u8>>,
    #[serde(default)]
    protocol_version: Option<u64>,
    #[serde(default, deserialize_with = "opt_bytes")]
    handshake_hash: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "opt_bytes")]
    capability_hash: Option<Vec<u8>>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "opt_bytes")]
    revocation: Option<Vec<u8>>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default, deserialize_with = "opt_bytes")]
    request_hash: Option<Vec<u8>>,
    #[serde(default, deserialize_with = "opt_bytes")]
    response_hash: Option<Vec<u8>>,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    latency_us: Option<u64>,
    #[serde(default)]
    opt_in_plaintext: Option<PlaintextRepr>,
    #[serde(default, deserialize_with = "opt_bytes")]
    event: Option<Vec<u8>>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, deserialize_with = "opt_bytes")]
    root: Option<Vec<u8>>,
    #[serde(default)]
    note: Option<String>,
}

impl BodyRepr {
    /// The names of the members present.
    fn present(&self) -> impl Iterator<Item = &'static str> {
        [
            ("peer", self.peer.is_some()),
            ("session_id", self.session_id.is_some()),
            ("header_hash", self.header_hash.is_some()),
            ("protocol_version", self.protocol_version.is_some()),
            ("handshake_hash", self.handshake_hash.is_some()),
            ("capability_hash", self.capability_hash.is_some()),
            ("issuer", self.issuer.is_some()),
            ("subject", self.subject.is_some()),
            ("exp", self.exp.is_some()),
            ("revocation", self.revocation.is_some()),
            ("tool", self.tool.is_some()),
            ("request_hash", self.request_hash.is_some()),
            ("response_hash", self.response_hash.is_some()),
            ("decision", self.decision.is_some()),
            ("reason", self.reason.is_some()),
            ("latency_us", self.latency_us.is_some()),
            ("opt_in_plaintext", self.opt_in_plaintext.is_some()),
            ("event", self.event.is_some()),
            ("origin", self.origin.is_some()),
            ("size", self.size.is_some()),
            ("root", self.root.is_some()),
            ("note", self.note.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaintextRepr {
    arguments: String,
    #[serde(default)]
    result: Option<String>,
}

fn opt_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    base64url::serde::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_names() {
        for kind in EntryKind::ALL {
            assert_eq!(kind.as_str().parse::<EntryKind>(), Ok(kind));
        }
        assert!("Tool_Call".parse::<EntryKind>().is_err());
    }

    #[test]
    fn did_syntax() {
        assert!(check_did("s", "did:key:z6Mk").is_ok());
        assert!(check_did("s", "did:web:example.com:user").is_ok());
        for bad in [
            "",
            "did:",
            "did:key:",
            "did::x",
            "dud:key:x",
            "did:Key:x",
            "did:key:a b",
        ] {
            assert!(check_did("s", bad).is_err(), "{bad:?}");
        }
        assert!(check_did("s", &format!("did:key:{}", "a".repeat(248))).is_ok());
        assert!(check_did("s", &format!("did:key:{}", "a".repeat(249))).is_err());
    }
}
