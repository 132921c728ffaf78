//! The server side of a tunnel: it receives the peer's calls, enforces, and faces the real MCP
//! server process.
//!
//! For each [`Packet::Call`] it checks, in order: the frame's signature (the peer's key),
//! `peer_id` (the peer's DID), the session (the first call fixes it), freshness and replay
//! (`issued_at` within the window around now, `correlation_id` not seen within it), that the
//! message is a request whose hash, method and target are those the frame names. A capability
//! embedded in the frame is parsed, must hash to `capability_hash`, name the peer as its
//! subject and be issued by [`ServerConfig::capability_issuer`] (this server, unless
//! configured otherwise: a peer cannot grant itself anything), and is verified and admitted to
//! the [`Guard`]'s session cache. An
//! access-controlled request (see [`tunnel`](crate::tunnel)) is then decided by the guard
//! (policy, rate limits, capability from the session cache; `NO_CAPABILITY` when the session
//! never presented a valid one). A denied request never reaches the MCP server: the peer gets a
//! signed `DENY` reply whose JSON-RPC error has code [`DENIED`] and
//! `data: {"talos":"denied","reason":CODE,"method":…,"target":…}`, and an audit record is
//! emitted. An allowed request is forwarded as the exact line the client wrote.
//!
//! The MCP server's responses go back as signed replies; results of `tools/list`,
//! `resources/list`, `resources/templates/list` and `prompts/list` are first filtered to what
//! the peer may use (so listing and calling agree). Each answered access-controlled call is
//! audited with both hashes and its latency. The server's own requests and notifications
//! are relayed, and the peer's answers to them accepted only for ids the server asked.
//!
//! One tunnel serves one peer's session over one MCP server process, so JSON-RPC ids pass
//! through unchanged. The [`Guard`] is passed to each call, so that one guard (its revocations,
//! rate limits and cache) can serve every tunnel of a node.

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use talos_acl::did::Did;
use talos_acl::guard::{Guard, Presented};
use talos_acl::token::{CapabilityHash, CapabilityToken};
use talos_acl::verify::{Decision, Denial, DenyReason};
use talos_crypto::json::{Map, Value};
use talos_crypto::{SigningKey, Timestamp, VerifyingKey};
use talos_ledger::entry::{self, OptInPlaintext};

use crate::audit::AuditRecord;
use crate::frame::{Hash, McpMessage, McpResponse, ResultCode, Signed};
use crate::jsonrpc::{
    DENIED, INVALID_PARAMS, INVALID_REQUEST, Kind, Message, OVERLOADED, error_response, id_key,
};
use crate::packet::Packet;
use crate::tunnel::{Access, DEFAULT_MAX_PENDING, Output, TunnelError, filter_list, show_id};

/// Default replay window: a frame's `issued_at` may be this far from now either way.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);

/// Default bound of the replay table.
pub const DEFAULT_MAX_REPLAY: usize = 65_536;

/// How a [`ServerTunnel`] is set up.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Our signing key (for replies).
    pub key: SigningKey,
    /// The peer's key: its calls must verify under it.
    pub peer_key: VerifyingKey,
    /// The key whose capabilities this server honours: a presented chain's root must be
    /// issued (and signed) by it. [`ServerConfig::new`] sets our own key, so that a peer can
    /// only use what this server granted it, never a token it issued to itself.
    pub capability_issuer: VerifyingKey,
    /// Bound of each pending-request table.
    pub max_pending: usize,
    /// How far `issued_at` may be from now.
    pub replay_window: Duration,
    /// Bound of the replay table.
    pub max_replay: usize,
    /// Record arguments and results in clear in audit records (off by default).
    pub record_plaintext: bool,
    /// Check each call's signature (on by default). A node that hands this tunnel only
    /// packets that came through a channel authenticating the peer's identity key — a libp2p
    /// connection whose Noise handshake proved the peer's `did:key` key, as talos-node's MCP
    /// lane is, or a ratchet session keyed to it — may turn it off: the channel then
    /// authenticates every packet, and the signed frames remain the evidence of who asked for
    /// what, checkable afterwards. Everything else (peer, session,
    /// replay window, hashes, capability, enforcement) is checked either way.
    pub verify_signatures: bool,
}

impl ServerConfig {
    /// A configuration with the default bounds and no plaintext in audit records.
    #[must_use]
    pub fn new(key: SigningKey, peer_key: VerifyingKey) -> Self {
        Self {
            capability_issuer: key.verifying_key(),
            key,
            peer_key,
            max_pending: DEFAULT_MAX_PENDING,
            replay_window: DEFAULT_REPLAY_WINDOW,
            max_replay: DEFAULT_MAX_REPLAY,
            record_plaintext: false,
            verify_signatures: true,
        }
    }
}

/// A call forwarded to the MCP server and not yet answered.
#[derive(Debug)]
struct Pending {
    correlation_id: String,
    tool: String,
    method: String,
    target: Option<String>,
    controlled: bool,
    request_hash: Hash,
    capability_hash: CapabilityHash,
    arguments: Option<String>,
    received: Timestamp,
}

/// Correlation ids seen within the window, oldest first, bounded. Each is kept as the first
/// 16 bytes of its SHA-256: fixed-size keys stay inside the tree's nodes (no allocation, no
/// pointer to follow per comparison), and a collision needs 2^64 work.
#[derive(Debug, Default)]
struct ReplayWindow {
    seen: BTreeSet<[u8; 16]>,
    order: VecDeque<(u64, [u8; 16])>,
}

impl ReplayWindow {
    fn insert(
        &mut self,
        correlation: &str,
        issued_at: u64,
        now_secs: u64,
        window_secs: u64,
        max: usize,
    ) -> Result<(), TunnelError> {
        if issued_at.abs_diff(now_secs) > window_secs {
            return Err(TunnelError::Stale { issued_at });
        }
        let floor = now_secs.saturating_sub(window_secs);
        while let Some((at, id)) = self.order.front() {
            if *at >= floor {
                break;
            }
            self.seen.remove(id);
            self.order.pop_front();
        }
        let digest = talos_crypto::hash::sha256(correlation.as_bytes());
        let key = *digest.first_chunk::<16>().unwrap_or(&[0; 16]);
        if self.seen.contains(&key) {
            return Err(TunnelError::Replay(correlation.to_owned()));
        }
        if self.seen.len() >= max {
            return Err(TunnelError::ReplayTableFull);
        }
        self.seen.insert(key);
        // Keep `order` sorted by time of expiry: a frame from the future expires last.
        self.order.push_back((issued_at.max(now_secs), key));
        Ok(())
    }
}

/// The server side of a tunnel (see the [module docs](self)).
#[derive(Debug)]
pub struct ServerTunnel {
    config: ServerConfig,
    did: String,
    peer_did: String,
    issuer_did: String,
    /// The session id as frames carry it, and the guard's session key for it.
    session: Option<(String, [u8; 16])>,
    replay: ReplayWindow,
    /// The peer's requests forwarded to the server, by id key.
    pending: BTreeMap<Vec<u8>, Pending>,
    /// The server's requests relayed to the peer, by id key.
    server_requests: BTreeSet<Vec<u8>>,
    out: VecDeque<Output>,
}

/// A call being decided: what its reply and audit record need.
struct Call<'a> {
    frame: &'a McpMessage,
    id: &'a Value,
    target: String,
}

impl ServerTunnel {
    /// A tunnel for `config`.
    #[must_use]
    pub fn new(config: ServerConfig) -> Self {
        Self {
            did: Did::from(config.key.verifying_key()).to_string(),
            peer_did: Did::from(config.peer_key).to_string(),
            issuer_did: Did::from(config.capability_issuer).to_string(),
            session: None,
            replay: ReplayWindow::default(),
            pending: BTreeMap::new(),
            server_requests: BTreeSet::new(),
            out: VecDeque::new(),
            config,
        }
    }

    /// Our DID (the replies' `peer_id`).
    #[must_use]
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The peer's DID.
    #[must_use]
    pub fn peer_did(&self) -> &str {
        &self.peer_did
    }

    /// How many of the peer's requests await the server's answer.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// A packet from the client side.
    ///
    /// # Errors
    /// [`TunnelError`] when the packet was refused (a forged, replayed or malformed frame is
    /// dropped unanswered); a well-formed call that is denied is answered and returns `Ok`.
    pub fn handle_peer(
        &mut self,
        packet: &[u8],
        guard: &mut Guard,
        now: Timestamp,
    ) -> Result<(), TunnelError> {
        match Packet::decode(packet)? {
            Packet::Call { frame, message } => self.call(&frame, &message, guard, now),
            Packet::Relay { message } => {
                let parsed = Message::parse(&message)?;
                match parsed.kind() {
                    Kind::Request { .. } => {
                        return Err(TunnelError::Unexpected("a request outside a call"));
                    }
                    Kind::Notification { .. } => {
                        if let Some(cancelled) = parsed.cancelled_id() {
                            let Some(pending) = self.pending.remove(&id_key(cancelled)) else {
                                return Err(TunnelError::UnknownId(show_id(cancelled)));
                            };
                            self.audit_answered(&pending, None, "cancelled by the peer", now);
                        }
                    }
                    Kind::Response { id, .. } => {
                        if !self.server_requests.remove(&id_key(id)) {
                            return Err(TunnelError::UnknownId(show_id(id)));
                        }
                    }
                }
                self.out.push_back(Output::Local(message));
                Ok(())
            }
            Packet::Reply { .. } => Err(TunnelError::Unexpected("a reply to the server side")),
        }
    }

    /// A line from the MCP server (without its newline; a trailing `\r` is ignored).
    ///
    /// # Errors
    /// [`TunnelError`] when the line was dropped (not JSON-RPC, or answering nothing pending).
    pub fn handle_local(
        &mut self,
        line: &[u8],
        guard: &mut Guard,
        now: Timestamp,
    ) -> Result<(), TunnelError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let message = Message::parse(line)?;
        match message.kind().clone() {
            Kind::Response { id, is_error } => {
                let Some(pending) = self.pending.remove(&id_key(&id)) else {
                    return Err(TunnelError::UnknownId(show_id(&id)));
                };
                let message = match (&self.session, is_error) {
                    (Some((_, session)), false) => filter_list(
                        &message,
                        &pending.tool,
                        guard,
                        &self.peer_did,
                        *session,
                        &pending.capability_hash,
                        now,
                    )
                    .unwrap_or(message),
                    _ => message,
                };
                let code = match message.kind() {
                    Kind::Response {
                        is_error: false, ..
                    } => ResultCode::Ok,
                    _ => ResultCode::Error,
                };
                let hash = self.reply(
                    &pending.correlation_id,
                    &pending.tool,
                    &pending.method,
                    &id,
                    code,
                    None,
                    &message,
                    now,
                )?;
                let result = self
                    .config
                    .record_plaintext
                    .then(|| String::from_utf8_lossy(message.bytes()).into_owned());
                self.audit_answered(&pending, Some((hash, result)), "", now);
                Ok(())
            }
            Kind::Request { id, .. } => {
                if self.server_requests.len() >= self.config.max_pending {
                    let error =
                        error_response(Some(&id), OVERLOADED, "too many pending requests", None);
                    self.out.push_back(Output::Local(error));
                    return Err(TunnelError::Overloaded);
                }
                self.server_requests.insert(id_key(&id));
                self.relay(message.bytes());
                Ok(())
            }
            Kind::Notification { .. } => {
                if let Some(cancelled) = message.cancelled_id()
                    && !self.server_requests.remove(&id_key(cancelled))
                {
                    return Err(TunnelError::UnknownId(show_id(cancelled)));
                }
                self.relay(message.bytes());
                Ok(())
            }
        }
    }

    fn call(
        &mut self,
        frame: &Signed<McpMessage>,
        message: &[u8],
        guard: &mut Guard,
        now: Timestamp,
    ) -> Result<(), TunnelError> {
        if self.config.verify_signatures {
            frame.verify(&self.config.peer_key)?;
        }
        let f = frame.frame();
        if f.peer_id != self.peer_did {
            return Err(TunnelError::WrongParty {
                what: "peer_id",
                found: f.peer_id.clone(),
                expected: self.peer_did.clone(),
            });
        }
        let mut message = Message::parse(message)?;
        let Kind::Request { id, method } = message.kind().clone() else {
            return Err(TunnelError::Unexpected("a call that is not a request"));
        };
        if message.hash() != f.request_hash {
            return Err(TunnelError::Mismatch("request_hash"));
        }
        if f.tool != method || f.method != message.target().unwrap_or(&method) {
            return Err(TunnelError::Mismatch("tool or method"));
        }
        // Only a frame that is entirely genuine uses up its correlation id.
        let session = self.session(&f.session_id)?;
        self.replay.insert(
            &f.correlation_id,
            f.issued_at,
            now.as_secs(),
            self.config.replay_window.as_secs(),
            self.config.max_replay,
        )?;
        message.strip_talos_fields();
        let call = Call {
            frame: f,
            id: &id,
            target: message.target().unwrap_or(&method).to_owned(),
        };

        if let Some(capability) = &f.capability
            && let Err(denial) = self.present(capability, &f.capability_hash, session, guard, now)
        {
            return self.deny(&call, &denial, now);
        }
        let controlled = match Access::of(&message) {
            None => false,
            Some(Err(())) => {
                let denial = Denial::new(DenyReason::Malformed, "the request names no target");
                return self.refuse(&call, INVALID_PARAMS, &denial, now);
            }
            Some(Ok(access)) => {
                let verdict = guard.authorize(
                    &self.peer_did,
                    session,
                    Presented::Hash(&f.capability_hash),
                    &access.request,
                    &access.policy,
                    u64::try_from(message.bytes().len()).unwrap_or(u64::MAX),
                    now,
                );
                if let Decision::Deny(denial) = verdict.decision {
                    return self.deny(&call, &denial, now);
                }
                true
            }
        };
        let key = id_key(&id);
        if self.pending.contains_key(&key) {
            let denial = Denial::new(DenyReason::Malformed, "id already pending");
            return self.refuse(&call, INVALID_REQUEST, &denial, now);
        }
        if self.pending.len() >= self.config.max_pending {
            let denial = Denial::new(DenyReason::RateLimited, "too many pending requests");
            return self.refuse(&call, OVERLOADED, &denial, now);
        }
        let arguments = (self.config.record_plaintext && controlled).then(|| {
            message
                .params()
                .map(|p| {
                    String::from_utf8_lossy(&Value::Object(p.clone()).to_canonical_vec())
                        .into_owned()
                })
                .unwrap_or_default()
        });
        self.pending.insert(
            key,
            Pending {
                correlation_id: f.correlation_id.clone(),
                tool: f.tool.clone(),
                method: f.method.clone(),
                target: controlled.then_some(call.target),
                controlled,
                request_hash: f.request_hash,
                capability_hash: f.capability_hash,
                arguments,
                received: now,
            },
        );
        self.out.push_back(Output::Local(message.bytes().to_vec()));
        Ok(())
    }

    /// The guard's session key for the frames' session id; the first call fixes it.
    fn session(&mut self, session_id: &str) -> Result<[u8; 16], TunnelError> {
        match &self.session {
            Some((id, key)) if id == session_id => Ok(*key),
            Some((id, _)) => Err(TunnelError::WrongParty {
                what: "session_id",
                found: session_id.to_owned(),
                expected: id.clone(),
            }),
            None => {
                let mut input = self.peer_did.as_bytes().to_vec();
                input.push(0);
                input.extend_from_slice(session_id.as_bytes());
                let digest = talos_crypto::hash::sha256(&input);
                let key = *digest.first_chunk::<16>().unwrap_or(&[0; 16]);
                self.session = Some((session_id.to_owned(), key));
                Ok(key)
            }
        }
    }

    /// Verifies and admits a capability presented in a frame.
    fn present(
        &self,
        capability: &Map,
        capability_hash: &CapabilityHash,
        session: [u8; 16],
        guard: &mut Guard,
        now: Timestamp,
    ) -> Result<(), Denial> {
        let bytes = Value::Object(capability.clone()).to_canonical_vec();
        let token = CapabilityToken::from_json(&bytes)
            .map_err(|e| Denial::new(DenyReason::Malformed, e.to_string()))?;
        if token.capability_hash() != capability_hash {
            return Err(Denial::new(
                DenyReason::Invalid,
                "capability_hash is not the hash of the capability",
            ));
        }
        if token.subject() != self.peer_did {
            return Err(Denial::new(
                DenyReason::Invalid,
                "the capability was not issued to this peer",
            ));
        }
        if token.issuer() != self.issuer_did {
            return Err(Denial::new(
                DenyReason::Invalid,
                "the capability was not issued by this server's capability issuer",
            ));
        }
        guard.admit(
            session,
            core::slice::from_ref(&token),
            Some(&self.config.capability_issuer),
            now,
        )
    }

    /// Answers a denied call with [`DENIED`] and audits it.
    fn deny(
        &mut self,
        call: &Call<'_>,
        denial: &Denial,
        now: Timestamp,
    ) -> Result<(), TunnelError> {
        self.refuse(call, DENIED, denial, now)
    }

    /// Answers a call that is not forwarded with a JSON-RPC error of `code` in a `DENY` reply,
    /// and audits it.
    fn refuse(
        &mut self,
        call: &Call<'_>,
        code: i64,
        denial: &Denial,
        now: Timestamp,
    ) -> Result<(), TunnelError> {
        let reason = denial.reason().code();
        let f = call.frame;
        let mut data = Map::new();
        data.insert("talos".into(), Value::String("denied".into()));
        data.insert("reason".into(), Value::String(reason.into()));
        data.insert("method".into(), Value::String(f.tool.clone()));
        data.insert("target".into(), Value::String(call.target.clone()));
        let body = Message::parse(&error_response(
            Some(call.id),
            code,
            &format!("denied by Talos: {reason}"),
            Some(Value::Object(data)),
        ))?;
        let response_hash = self.reply(
            &f.correlation_id,
            &f.tool,
            &f.method,
            call.id,
            ResultCode::Deny,
            Some(reason.to_owned()),
            &body,
            now,
        )?;
        self.out.push_back(Output::Audit(Box::new(AuditRecord {
            session_id: f.session_id.clone(),
            correlation_id: f.correlation_id.clone(),
            peer: self.peer_did.clone(),
            method: f.tool.clone(),
            target: call.target.clone(),
            request_hash: f.request_hash,
            response_hash: Some(response_hash),
            decision: entry::Decision::Deny,
            reason: format!("{reason}: {}", denial.message()),
            latency_us: 0,
            at: now,
            plaintext: None,
        })));
        Ok(())
    }

    /// Emits the audit record of an answered (or cancelled) access-controlled call.
    fn audit_answered(
        &mut self,
        pending: &Pending,
        response: Option<(Hash, Option<String>)>,
        note: &str,
        now: Timestamp,
    ) {
        if !pending.controlled {
            return;
        }
        let (response_hash, result) = response.unzip();
        let reason = if note.is_empty() {
            format!(
                "capability {}",
                talos_crypto::hash::to_hex(&pending.capability_hash)
            )
        } else {
            note.to_owned()
        };
        let latency_us = now
            .duration_since(pending.received)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.out.push_back(Output::Audit(Box::new(AuditRecord {
            session_id: self
                .session
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default(),
            correlation_id: pending.correlation_id.clone(),
            peer: self.peer_did.clone(),
            method: pending.tool.clone(),
            target: pending.target.clone().unwrap_or_default(),
            request_hash: pending.request_hash,
            response_hash,
            decision: entry::Decision::Allow,
            reason,
            latency_us,
            at: now,
            plaintext: pending.arguments.clone().map(|arguments| OptInPlaintext {
                arguments,
                result: result.flatten(),
            }),
        })));
    }

    /// Signs and sends the reply carrying `message`; returns its hash.
    #[allow(clippy::too_many_arguments)] // the members of the reply frame
    fn reply(
        &mut self,
        correlation_id: &str,
        tool: &str,
        method: &str,
        id: &Value,
        result_code: ResultCode,
        denial_reason: Option<String>,
        message: &Message,
        now: Timestamp,
    ) -> Result<Hash, TunnelError> {
        let response_hash = message.hash();
        let frame = McpResponse {
            session_id: self
                .session
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default(),
            correlation_id: correlation_id.to_owned(),
            peer_id: self.did.clone(),
            issued_at: now.as_secs(),
            response_hash,
            tool: tool.to_owned(),
            method: method.to_owned(),
            result_code,
            denial_reason,
            mcp_id: Some(id.clone()),
        };
        let frame = Signed::sign(frame, &self.config.key)?;
        let packet = Packet::Reply {
            frame,
            message: message.bytes().to_vec(),
        };
        self.out.push_back(Output::Peer(packet.encode()));
        Ok(response_hash)
    }

    fn relay(&mut self, message: &[u8]) {
        self.out.push_back(Output::relay(message));
    }
}
