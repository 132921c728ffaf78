//! TGA (tool-governance audit) traces: the artefact digest chain and the execution log.
//!
//! A governed tool call leaves four artefacts, each naming the digest of the one before:
//!
//! ```text
//! action_request ← supervisor_decision.action_request_digest
//!                ← tool_call.supervisor_decision_digest
//!                ← tool_effect.tool_call_digest
//! _digest = hex(SHA-256(RFC 8785 canonical JSON of the artefact without _digest)))
//! ```
//!
//! (`_digest_alg: "sha256"` stays in the preimage.) [`artifact_digest`] computes a digest;
//! [`verify_trace`] checks every artefact's `_digest` and every link.
//!
//! The **execution log** records the trace's state machine, append-only:
//!
//! ```text
//! seq 1   PENDING    → PENDING     action_request       (genesis; prev_entry_digest = 0…0)
//!         PENDING    → AUTHORIZED  supervisor_decision
//!         PENDING    → DENIED      supervisor_decision  (final)
//!         AUTHORIZED → EXECUTING   tool_call            (needs tool_call_id)
//!         EXECUTING  → COMPLETED   tool_effect          (final)
//!         EXECUTING  → FAILED      tool_effect          (final)
//! ```
//!
//! [`ExecutionLog::handle_entry`] takes one entry at a time and refuses, without changing
//! state, a sequence number other than the next one ([`TgaError::SequenceGap`],
//! `STATE_SEQUENCE_GAP`), a transition not in the table or not from the current state
//! ([`TgaError::InvalidTransition`], `STATE_INVALID_TRANSITION`), a tool call without
//! `tool_call_id` ([`TgaError::MissingToolCallId`], `MISSING_TOOL_CALL_ID`), and digests that
//! do not chain. A log never grows past four entries (every path reaches a final state by then), so it is
//! bounded by construction.
//! [`verify_log`] checks a whole log in layers (sequence, then transitions, then fields,
//! then digests) and reports the first layer that fails; it accepts exactly the logs that
//! `handle_entry` accepts.
//!
//! After a crash, [`ExecutionLog::recovery`] says what to do: re-dispatch the same tool call
//! with the same idempotency key when a call was logged without its effect
//! (`RE_DISPATCH_SAME_TOOL_CALL`), or only replay the log when it is final
//! (`REPLAY_ONLY_NO_DISPATCH`).
//!
//! ```
//! use talos_crypto::json;
//! use talos_ledger::tga::{ExecutionLog, Recovery, State};
//!
//! let mut log = ExecutionLog::new();
//! for entry in [
//!     r#"{"sequence_number":1,"from_state":"PENDING","to_state":"PENDING","artifact_type":"action_request"}"#,
//!     r#"{"sequence_number":2,"from_state":"PENDING","to_state":"AUTHORIZED","artifact_type":"supervisor_decision"}"#,
//!     r#"{"sequence_number":3,"from_state":"AUTHORIZED","to_state":"EXECUTING","artifact_type":"tool_call","tool_call_id":"c1","idempotency_key":"k1"}"#,
//! ] {
//!     log.handle_entry(&json::parse(entry.as_bytes())?)?;
//! }
//! assert_eq!(log.state(), Some(State::Executing));
//! assert!(matches!(log.recovery(), Recovery::ReDispatch { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use subtle::ConstantTimeEq as _;
use talos_crypto::json::{JsonError, Map, Value};
use talos_crypto::{ErrorCode, hash};

use talos_crypto::hash::from_hex;

/// `_digest_alg`.
pub const DIGEST_ALG: &str = "sha256";

/// The genesis entry's `prev_entry_digest`: 32 zero bytes.
pub const GENESIS_PREV_DIGEST: [u8; 32] = [0; 32];

/// Most entries a log can hold (genesis, decision, call, effect).
pub const MAX_LOG_ENTRIES: usize = 4;

/// Longest `tool_call_id` or `idempotency_key`, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Decoders refuse a longer entry or artefact (as JSON) before parsing it.
pub const MAX_ARTIFACT_LEN: usize = 64 * 1024;

/// A trace's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Requested, not decided.
    Pending,
    /// Approved by the supervisor.
    Authorized,
    /// The tool call was dispatched.
    Executing,
    /// The tool reported success (final).
    Completed,
    /// The tool reported failure (final).
    Failed,
    /// Refused by the supervisor (final).
    Denied,
}

impl State {
    const ALL: [Self; 6] = [
        Self::Pending,
        Self::Authorized,
        Self::Executing,
        Self::Completed,
        Self::Failed,
        Self::Denied,
    ];

    /// The name in the log, e.g. `"EXECUTING"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Authorized => "AUTHORIZED",
            Self::Executing => "EXECUTING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Denied => "DENIED",
        }
    }

    /// Whether no transition leaves this state.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Denied)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The artefact an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArtifactType {
    /// `action_request`.
    ActionRequest,
    /// `supervisor_decision`.
    SupervisorDecision,
    /// `tool_call`.
    ToolCall,
    /// `tool_effect`.
    ToolEffect,
}

impl ArtifactType {
    const ALL: [Self; 4] = [
        Self::ActionRequest,
        Self::SupervisorDecision,
        Self::ToolCall,
        Self::ToolEffect,
    ];

    /// The name in the log, e.g. `"tool_call"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ActionRequest => "action_request",
            Self::SupervisorDecision => "supervisor_decision",
            Self::ToolCall => "tool_call",
            Self::ToolEffect => "tool_effect",
        }
    }
}

impl fmt::Display for ArtifactType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `from → to` recording `artifact` is in the table (the genesis edge only at
/// sequence 1).
#[must_use]
pub const fn is_legal(seq: u64, from: State, to: State, artifact: ArtifactType) -> bool {
    use ArtifactType as A;
    use State as S;
    match (from, to, artifact) {
        (S::Pending, S::Pending, A::ActionRequest) => seq == 1,
        (S::Pending, S::Authorized | S::Denied, A::SupervisorDecision)
        | (S::Authorized, S::Executing, A::ToolCall)
        | (S::Executing, S::Completed | S::Failed, A::ToolEffect) => seq > 1,
        _ => false,
    }
}

/// `hex(SHA-256(canonical JSON of artifact without _digest))`, as 32 bytes. (For an
/// execution-log entry the excluded member is `entry_digest`: see [`entry_digest`].)
///
/// # Errors
/// [`TgaError::Malformed`] if `artifact` is not an object.
pub fn artifact_digest(artifact: &Value) -> Result<[u8; 32], TgaError> {
    digest_without(artifact, "_digest")
}

/// An execution-log entry's digest: SHA-256 of its canonical JSON without `entry_digest`.
///
/// # Errors
/// [`TgaError::Malformed`] if `entry` is not an object.
pub fn entry_digest(entry: &Value) -> Result<[u8; 32], TgaError> {
    digest_without(entry, "entry_digest")
}

fn digest_without(value: &Value, member: &str) -> Result<[u8; 32], TgaError> {
    let mut map = as_object(value, "artefact")?.clone();
    map.remove(member);
    Ok(hash::sha256(&Value::Object(map).to_canonical_vec()))
}

/// Checks a trace's artefacts: each `_digest` (with `_digest_alg: "sha256"`) is the
/// artefact's digest, each `schema_id` names its type, all share one `trace_id`, and each
/// links to the one before by digest and id. A denied trace has no tool call or effect; a
/// call without its effect is allowed.
///
/// # Errors
/// [`TgaError::DigestMismatch`], [`TgaError::BrokenLink`], or [`TgaError::Malformed`].
pub fn verify_trace(
    action_request: &Value,
    supervisor_decision: &Value,
    tool_call: Option<&Value>,
    tool_effect: Option<&Value>,
) -> Result<(), TgaError> {
    let request = check_artifact(action_request, ArtifactType::ActionRequest)?;
    let decision = check_artifact(supervisor_decision, ArtifactType::SupervisorDecision)?;
    link(
        decision,
        "action_request_digest",
        "action_request_id",
        request,
    )?;
    let call = match tool_call {
        Some(call) => Some(check_artifact(call, ArtifactType::ToolCall)?),
        None => None,
    };
    if let Some(call) = call {
        link(
            call,
            "supervisor_decision_digest",
            "supervisor_decision_id",
            decision,
        )?;
    }
    match (tool_effect, call) {
        (Some(effect), Some(call)) => {
            let effect = check_artifact(effect, ArtifactType::ToolEffect)?;
            link(effect, "tool_call_digest", "tool_call_id", call)
        }
        (Some(_), None) => Err(TgaError::BrokenLink("tool_effect without tool_call")),
        (None, _) => Ok(()),
    }
}

/// An artefact checked on its own: its object, its digest and its trace id.
#[derive(Clone, Copy)]
struct Checked<'a> {
    map: &'a Map,
    digest: [u8; 32],
}

fn check_artifact(value: &Value, kind: ArtifactType) -> Result<Checked<'_>, TgaError> {
    let map = as_object(value, kind.as_str())?;
    let schema_id = str_member(map, "schema_id")?;
    if schema_id.strip_prefix("talos.tga.") != Some(kind.as_str()) {
        return Err(TgaError::Malformed {
            field: "schema_id",
            reason: "not talos.tga.<artefact type>",
        });
    }
    if str_member(map, "_digest_alg")? != DIGEST_ALG {
        return Err(TgaError::Malformed {
            field: "_digest_alg",
            reason: "not sha256",
        });
    }
    let claimed = from_hex::<32>(str_member(map, "_digest")?).ok_or(TgaError::Malformed {
        field: "_digest",
        reason: "not 64 lowercase hex digits",
    })?;
    let digest = artifact_digest(value)?;
    if !bool::from(digest.ct_eq(&claimed)) {
        return Err(TgaError::DigestMismatch(kind.as_str()));
    }
    Ok(Checked { map, digest })
}

/// `later` names `earlier` by digest (`digest_member`) and id (`id_member`), in one trace.
fn link(
    later: Checked<'_>,
    digest_member: &'static str,
    id_member: &'static str,
    earlier: Checked<'_>,
) -> Result<(), TgaError> {
    let named =
        from_hex::<32>(str_member(later.map, digest_member)?).ok_or(TgaError::Malformed {
            field: digest_member,
            reason: "not 64 lowercase hex digits",
        })?;
    if !bool::from(named.ct_eq(&earlier.digest)) {
        return Err(TgaError::BrokenLink(digest_member));
    }
    if str_member(later.map, id_member)? != str_member(earlier.map, id_member)? {
        return Err(TgaError::BrokenLink(id_member));
    }
    if str_member(later.map, "trace_id")? != str_member(earlier.map, "trace_id")? {
        return Err(TgaError::BrokenLink("trace_id"));
    }
    Ok(())
}

/// One execution-log entry, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// `sequence_number`, from 1.
    pub seq: u64,
    /// `from_state`.
    pub from: State,
    /// `to_state`.
    pub to: State,
    /// `artifact_type`.
    pub artifact: ArtifactType,
    /// `tool_call_id` (absent or `null`: `None`).
    pub tool_call_id: Option<String>,
    /// `idempotency_key` (absent or `null`: `None`).
    pub idempotency_key: Option<String>,
    /// `prev_entry_digest`, if given (64 hex digits).
    pub prev_entry_digest: Option<[u8; 32]>,
    /// `entry_digest`, if given (64 hex digits).
    pub entry_digest: Option<[u8; 32]>,
    /// The entry's digest, computed ([`entry_digest`]).
    pub digest: [u8; 32],
}

impl LogEntry {
    /// Parses an entry. Other members (ids, artefact digests, timestamps) are kept in the
    /// digest but not interpreted.
    ///
    /// # Errors
    /// [`TgaError::Malformed`] for a member of the wrong type or out of range.
    pub fn from_value(value: &Value) -> Result<Self, TgaError> {
        let map = as_object(value, "entry")?;
        let seq = match map.get("sequence_number") {
            Some(Value::Number(n)) => n.as_u64().filter(|&s| s >= 1),
            _ => None,
        }
        .ok_or(TgaError::Malformed {
            field: "sequence_number",
            reason: "not an integer of at least 1",
        })?;
        let state = |field: &'static str| -> Result<State, TgaError> {
            let name = str_member(map, field)?;
            State::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or(TgaError::Malformed {
                    field,
                    reason: "not a known state",
                })
        };
        let artifact_name = str_member(map, "artifact_type")?;
        let artifact = ArtifactType::ALL
            .into_iter()
            .find(|a| a.as_str() == artifact_name)
            .ok_or(TgaError::Malformed {
                field: "artifact_type",
                reason: "not a known artefact type",
            })?;
        let digest_member = |field: &'static str| -> Result<Option<[u8; 32]>, TgaError> {
            match map.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(h)) => from_hex::<32>(h).map(Some).ok_or(TgaError::Malformed {
                    field,
                    reason: "not 64 lowercase hex digits",
                }),
                Some(_) => Err(TgaError::Malformed {
                    field,
                    reason: "not a string",
                }),
            }
        };
        Ok(Self {
            seq,
            from: state("from_state")?,
            to: state("to_state")?,
            artifact,
            tool_call_id: opt_id(map, "tool_call_id")?,
            idempotency_key: opt_id(map, "idempotency_key")?,
            prev_entry_digest: digest_member("prev_entry_digest")?,
            entry_digest: digest_member("entry_digest")?,
            digest: entry_digest(value)?,
        })
    }
}

/// What to do with a log after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// Nothing logged yet: start the trace.
    Empty,
    /// No tool call was dispatched (`PENDING`, `AUTHORIZED`): continue from `state`.
    Resume {
        /// The log's state.
        state: State,
    },
    /// `RE_DISPATCH_SAME_TOOL_CALL`: a tool call was logged but not its effect. Dispatch the
    /// same call again with the same idempotency key, so a tool that already ran it returns
    /// the first result; then log the effect (`COMPLETED` or `FAILED`).
    ReDispatch {
        /// The logged call.
        tool_call_id: String,
        /// Its idempotency key.
        idempotency_key: String,
    },
    /// A tool call was logged without an idempotency key: re-dispatching it could run it
    /// twice. An operator must find out whether it ran.
    Unresolved {
        /// The logged call.
        tool_call_id: String,
    },
    /// `REPLAY_ONLY_NO_DISPATCH`: the log is final; rebuild state from it, dispatch nothing.
    ReplayOnly {
        /// The final state.
        state: State,
    },
}

impl Recovery {
    /// The upstream action name, where there is one.
    #[must_use]
    pub const fn action(&self) -> Option<&'static str> {
        match self {
            Self::ReDispatch { .. } => Some("RE_DISPATCH_SAME_TOOL_CALL"),
            Self::ReplayOnly { .. } => Some("REPLAY_ONLY_NO_DISPATCH"),
            _ => None,
        }
    }
}

/// The append-only execution log of one trace.
///
/// Getters: `state`, `len`, `last_digest`, `tool_call`, `recovery`. Input: `handle_entry`
/// (one entry; refused entries change nothing). No output queue: every refusal is the
/// returned error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionLog {
    entries: Vec<LogEntry>,
}

impl ExecutionLog {
    /// An empty log.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Appends `entry` if it is the next legal step.
    ///
    /// # Errors
    /// In this order: [`TgaError::Malformed`], [`TgaError::SequenceGap`],
    /// [`TgaError::InvalidTransition`], [`TgaError::MissingToolCallId`] /
    /// [`TgaError::ToolCallMismatch`], [`TgaError::DigestMismatch`] /
    /// [`TgaError::BrokenLink`]. The log is unchanged.
    pub fn handle_entry(&mut self, entry: &Value) -> Result<(), TgaError> {
        let entry = LogEntry::from_value(entry)?;
        self.check_sequence(&entry)?;
        self.check_transition(&entry)?;
        self.check_fields(&entry)?;
        self.check_digests(&entry)?;
        self.entries.push(entry);
        Ok(())
    }

    /// The current state; `None` before the genesis entry.
    #[must_use]
    pub fn state(&self) -> Option<State> {
        self.entries.last().map(|e| e.to)
    }

    /// Entries logged.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is logged.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last entry's digest: what the next entry's `prev_entry_digest` must be.
    #[must_use]
    pub fn last_digest(&self) -> [u8; 32] {
        self.entries
            .last()
            .map_or(GENESIS_PREV_DIGEST, |e| e.digest)
    }

    /// The logged tool call, if any.
    #[must_use]
    pub fn tool_call(&self) -> Option<&LogEntry> {
        self.entries
            .iter()
            .find(|e| e.artifact == ArtifactType::ToolCall)
    }

    /// What to do after a crash, from the log alone.
    #[must_use]
    pub fn recovery(&self) -> Recovery {
        match self.state() {
            None => Recovery::Empty,
            Some(state @ (State::Pending | State::Authorized)) => Recovery::Resume { state },
            Some(State::Executing) => {
                let call = self.tool_call();
                let id = call
                    .and_then(|c| c.tool_call_id.clone())
                    .unwrap_or_default();
                match call.and_then(|c| c.idempotency_key.clone()) {
                    Some(key) => Recovery::ReDispatch {
                        tool_call_id: id,
                        idempotency_key: key,
                    },
                    None => Recovery::Unresolved { tool_call_id: id },
                }
            }
            Some(state) => Recovery::ReplayOnly { state },
        }
    }

    fn check_sequence(&self, entry: &LogEntry) -> Result<(), TgaError> {
        let expected = self.entries.last().map_or(1, |e| e.seq.saturating_add(1));
        if entry.seq != expected {
            return Err(TgaError::SequenceGap {
                expected,
                got: entry.seq,
            });
        }
        Ok(())
    }

    fn check_transition(&self, entry: &LogEntry) -> Result<(), TgaError> {
        let current = self.state().unwrap_or(State::Pending);
        if entry.from != current || !is_legal(entry.seq, entry.from, entry.to, entry.artifact) {
            return Err(TgaError::InvalidTransition {
                seq: entry.seq,
                from: entry.from,
                to: entry.to,
                artifact: entry.artifact,
            });
        }
        Ok(())
    }

    fn check_fields(&self, entry: &LogEntry) -> Result<(), TgaError> {
        match entry.artifact {
            ArtifactType::ToolCall if entry.tool_call_id.is_none() => {
                Err(TgaError::MissingToolCallId { seq: entry.seq })
            }
            ArtifactType::ToolEffect => {
                let call = self.tool_call();
                let same = |a: &Option<String>, b: Option<&Option<String>>| {
                    a.is_none() || b.is_some_and(|b| b == a)
                };
                if same(&entry.tool_call_id, call.map(|c| &c.tool_call_id))
                    && same(&entry.idempotency_key, call.map(|c| &c.idempotency_key))
                {
                    Ok(())
                } else {
                    Err(TgaError::ToolCallMismatch { seq: entry.seq })
                }
            }
            _ => Ok(()),
        }
    }

    fn check_digests(&self, entry: &LogEntry) -> Result<(), TgaError> {
        if let Some(claimed) = entry.entry_digest
            && !bool::from(claimed.ct_eq(&entry.digest))
        {
            return Err(TgaError::DigestMismatch("entry_digest"));
        }
        if let Some(prev) = entry.prev_entry_digest
            && !bool::from(prev.ct_eq(&self.last_digest()))
        {
            return Err(TgaError::BrokenLink("prev_entry_digest"));
        }
        Ok(())
    }
}

/// One layer of [`verify_log`]: a check of one entry against the entries before it.
type Layer = fn(&ExecutionLog, &LogEntry) -> Result<(), TgaError>;

/// Checks a whole log in layers, each over every entry, and reports the first layer that
/// fails: entry format, sequence numbers, transitions, required fields, digests. A log with
/// several faults is reported by its most basic one. Accepts exactly the logs that
/// [`ExecutionLog::handle_entry`] accepts one entry at a time.
///
/// # Errors
/// The first fault of the first failing layer.
pub fn verify_log(entries: &[Value]) -> Result<ExecutionLog, TgaError> {
    if entries.len() > MAX_LOG_ENTRIES {
        return Err(TgaError::Malformed {
            field: "log",
            reason: "more than 4 entries",
        });
    }
    let parsed = entries
        .iter()
        .map(LogEntry::from_value)
        .collect::<Result<Vec<_>, _>>()?;
    let mut log = ExecutionLog::new();
    let layers: [Layer; 4] = [
        ExecutionLog::check_sequence,
        ExecutionLog::check_transition,
        ExecutionLog::check_fields,
        ExecutionLog::check_digests,
    ];
    for layer in layers {
        log.entries.clear();
        for entry in &parsed {
            layer(&log, entry)?;
            log.entries.push(entry.clone());
        }
    }
    Ok(log)
}

/// Why a trace or log was refused. [`TgaError::code`] gives the upstream code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TgaError {
    /// `STATE_SEQUENCE_GAP`: not the next sequence number (a gap, a duplicate, a genesis other
    /// than 1, or a log longer than four entries).
    #[error("sequence gap: expected {expected}, got {got}")]
    SequenceGap {
        /// The next sequence number.
        expected: u64,
        /// The one given.
        got: u64,
    },
    /// `STATE_INVALID_TRANSITION`: not a legal step from the current state.
    #[error("invalid transition at {seq}: {from} -> {to} by {artifact}")]
    InvalidTransition {
        /// The entry's sequence number.
        seq: u64,
        /// Its `from_state`.
        from: State,
        /// Its `to_state`.
        to: State,
        /// Its artefact type.
        artifact: ArtifactType,
    },
    /// `MISSING_TOOL_CALL_ID`: a tool call entry without `tool_call_id`.
    #[error("tool_call entry {seq} without tool_call_id")]
    MissingToolCallId {
        /// The entry's sequence number.
        seq: u64,
    },
    /// `TOOL_CALL_MISMATCH`: a tool effect names another call or idempotency key than the
    /// logged tool call.
    #[error("tool_effect entry {seq} names another tool call")]
    ToolCallMismatch {
        /// The entry's sequence number.
        seq: u64,
    },
    /// `DIGEST_MISMATCH`: a `_digest` or `entry_digest` is not the digest of its object.
    #[error("{0} does not match its content")]
    DigestMismatch(&'static str),
    /// `DIGEST_LINK_BROKEN`: a link (digest, id or trace id) names another object.
    #[error("broken link: {0}")]
    BrokenLink(&'static str),
    /// `MALFORMED`: a member missing, of the wrong type or out of range.
    #[error("malformed {field}: {reason}")]
    Malformed {
        /// The member.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// `MALFORMED`: the JSON is not strict JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// `MALFORMED`: longer than [`MAX_ARTIFACT_LEN`].
    #[error("too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl TgaError {
    /// The error code: upstream's for the state machine, ours for the rest.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::SequenceGap { .. } => "STATE_SEQUENCE_GAP",
            Self::InvalidTransition { .. } => "STATE_INVALID_TRANSITION",
            Self::MissingToolCallId { .. } => "MISSING_TOOL_CALL_ID",
            Self::ToolCallMismatch { .. } => "TOOL_CALL_MISMATCH",
            Self::DigestMismatch(_) => "DIGEST_MISMATCH",
            Self::BrokenLink(_) => "DIGEST_LINK_BROKEN",
            Self::Malformed { .. } | Self::Json(_) | Self::TooLarge { .. } => "MALFORMED",
        }
    }
}

impl From<&TgaError> for ErrorCode {
    fn from(err: &TgaError) -> Self {
        match err {
            TgaError::DigestMismatch(_) | TgaError::BrokenLink(_) => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}

/// Parses an entry or artefact from JSON bytes (strict, at most [`MAX_ARTIFACT_LEN`]).
///
/// # Errors
/// [`TgaError::TooLarge`] or [`TgaError::Json`].
pub fn parse(bytes: &[u8]) -> Result<Value, TgaError> {
    if bytes.len() > MAX_ARTIFACT_LEN {
        return Err(TgaError::TooLarge {
            len: bytes.len(),
            max: MAX_ARTIFACT_LEN,
        });
    }
    Ok(talos_crypto::json::parse(bytes)?)
}

fn as_object<'a>(value: &'a Value, what: &'static str) -> Result<&'a Map, TgaError> {
    value.as_object().ok_or(TgaError::Malformed {
        field: what,
        reason: "not an object",
    })
}

fn str_member<'a>(map: &'a Map, field: &'static str) -> Result<&'a str, TgaError> {
    match map.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TgaError::Malformed {
            field,
            reason: "not a string",
        }),
        None => Err(TgaError::Malformed {
            field,
            reason: "missing",
        }),
    }
}

/// An optional id: absent or `null` is `None`; otherwise 1 to [`MAX_ID_LEN`] bytes.
fn opt_id(map: &Map, field: &'static str) -> Result<Option<String>, TgaError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if (1..=MAX_ID_LEN).contains(&s.len()) => Ok(Some(s.clone())),
        Some(_) => Err(TgaError::Malformed {
            field,
            reason: "not a string of 1 to 256 bytes",
        }),
    }
}
