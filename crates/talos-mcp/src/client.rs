//! The client side of a tunnel: it faces an MCP client (to which it is the MCP server, e.g.
//! launched by a desktop agent) and sends the client's requests to the peer's
//! [`ServerTunnel`](crate::server::ServerTunnel) as signed calls.
//!
//! - A request becomes a [`Packet::Call`]: an `MCP_MESSAGE` signed with our key, binding the
//!   request's exact bytes through `request_hash`, carrying the capability's hash, and the
//!   capability itself on the session's first request (again after the peer answered
//!   `NO_CAPABILITY`). `_talos_*` members of `params` are removed first.
//! - The peer's [`Packet::Reply`] is verified (signature, peer, session, correlation id,
//!   response hash, JSON-RPC id) before its response reaches the client; a reply that fails is
//!   answered to the client as [`TUNNEL_ERROR`].
//! - Notifications, the server's requests (`roots/list`, `sampling/createMessage`,
//!   `elicitation/create`) and the client's responses to them are relayed unchanged. A
//!   `notifications/cancelled` may only name a request of its sender that is still pending.
//! - Invalid lines are answered with a JSON-RPC error (parse error, batch refused); a request
//!   reusing a pending id, or one over the pending bound, likewise.
//!
//! Requests not answered within the timeout are answered [`TIMED_OUT`]
//! by [`ClientTunnel::handle_timeout`].

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use talos_acl::did::Did;
use talos_acl::token::CapabilityToken;
use talos_crypto::json::{self, Map, Value};
use talos_crypto::{SigningKey, Timestamp, VerifyingKey};

use crate::frame::{McpMessage, McpResponse, ResultCode, Signed};
use crate::jsonrpc::{
    INVALID_REQUEST, Kind, Message, OVERLOADED, TIMED_OUT, TUNNEL_ERROR, error_response, id_key,
};
use crate::packet::Packet;
use crate::tunnel::{DEFAULT_MAX_PENDING, Output, TunnelError, correlation_id, show_id};

/// How a [`ClientTunnel`] is set up.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The session id (random, from the caller).
    pub session_id: [u8; 16],
    /// Our signing key; its DID is the frames' `peer_id`.
    pub key: SigningKey,
    /// The server side's key.
    pub server_key: VerifyingKey,
    /// The capability our requests rely on.
    pub capability: CapabilityToken,
    /// Bound of each pending-request table.
    pub max_pending: usize,
    /// How long a request may wait for its answer.
    pub request_timeout: Duration,
    /// Check each reply's signature (on by default); see
    /// [`ServerConfig::verify_signatures`](crate::server::ServerConfig::verify_signatures)
    /// for when a node may turn it off.
    pub verify_signatures: bool,
}

impl ClientConfig {
    /// A configuration with the default bounds ([`DEFAULT_MAX_PENDING`], a 5-minute timeout).
    #[must_use]
    pub const fn new(
        session_id: [u8; 16],
        key: SigningKey,
        server_key: VerifyingKey,
        capability: CapabilityToken,
    ) -> Self {
        Self {
            session_id,
            key,
            server_key,
            capability,
            max_pending: DEFAULT_MAX_PENDING,
            request_timeout: Duration::from_secs(300),
            verify_signatures: true,
        }
    }
}

#[derive(Debug)]
struct Pending {
    id: Value,
    sent: Timestamp,
}

/// The client side of a tunnel (see the [module docs](self)).
#[derive(Debug)]
pub struct ClientTunnel {
    config: ClientConfig,
    did: String,
    server_did: String,
    session_hex: String,
    capability_map: Map,
    capability_sent: bool,
    counter: u64,
    /// Our requests in flight, by correlation id.
    pending: BTreeMap<String, Pending>,
    /// The same, by JSON-RPC id key.
    ids: BTreeMap<Vec<u8>, String>,
    /// The server's requests in flight, by id key.
    server_requests: BTreeSet<Vec<u8>>,
    out: VecDeque<Output>,
}

impl ClientTunnel {
    /// A tunnel for `config`.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        let capability_map = match json::parse(&config.capability.to_json()) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Self {
            did: Did::from(config.key.verifying_key()).to_string(),
            server_did: Did::from(config.server_key).to_string(),
            session_hex: talos_crypto::hash::to_hex(&config.session_id),
            capability_map,
            capability_sent: false,
            counter: 0,
            pending: BTreeMap::new(),
            ids: BTreeMap::new(),
            server_requests: BTreeSet::new(),
            out: VecDeque::new(),
            config,
        }
    }

    /// Our DID (the frames' `peer_id`).
    #[must_use]
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The session id as the frames carry it (hex).
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session_hex
    }

    /// How many of our requests await an answer.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run, if anything is pending.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.pending
            .values()
            .map(|p| p.sent.saturating_add(self.config.request_timeout))
            .min()
    }

    /// Answers every request pending longer than the timeout with
    /// [`TIMED_OUT`].
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let timeout = self.config.request_timeout;
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.sent.saturating_add(timeout) <= now)
            .map(|(c, _)| c.clone())
            .collect();
        for correlation in expired {
            if let Some(p) = self.take(&correlation) {
                self.answer(&p.id, TIMED_OUT, "no answer from the peer in time");
            }
        }
    }

    /// A line from the MCP client (without its newline; a trailing `\r` is ignored).
    ///
    /// # Errors
    /// [`TunnelError`] when the line was refused or dropped; a request is answered.
    pub fn handle_local(&mut self, line: &[u8], now: Timestamp) -> Result<(), TunnelError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut message = match Message::parse(line) {
            Ok(m) => m,
            Err(e) => {
                self.out.push_back(Output::Local(e.to_response()));
                return Err(e.into());
            }
        };
        match message.kind().clone() {
            Kind::Request { id, method } => {
                let key = id_key(&id);
                if self.ids.contains_key(&key) {
                    self.answer(&id, INVALID_REQUEST, "id already pending");
                    return Err(TunnelError::DuplicateId(show_id(&id)));
                }
                if self.pending.len() >= self.config.max_pending {
                    self.answer(&id, OVERLOADED, "too many pending requests");
                    return Err(TunnelError::Overloaded);
                }
                message.strip_talos_fields();
                self.call(&message, id, key, &method, now)
            }
            Kind::Notification { .. } => {
                if let Some(cancelled) = message.cancelled_id() {
                    let Some(correlation) = self.ids.get(&id_key(cancelled)).cloned() else {
                        return Err(TunnelError::UnknownId(show_id(cancelled)));
                    };
                    // The server should not answer a cancelled request; if it does, the
                    // answer is dropped as unknown.
                    self.take(&correlation);
                }
                self.relay(message.bytes());
                Ok(())
            }
            Kind::Response { id, .. } => {
                if !self.server_requests.remove(&id_key(&id)) {
                    return Err(TunnelError::UnknownId(show_id(&id)));
                }
                self.relay(message.bytes());
                Ok(())
            }
        }
    }

    /// A packet from the server side.
    ///
    /// # Errors
    /// [`TunnelError`] when the packet was refused; a reply to a pending request that fails
    /// verification is answered to the client as [`TUNNEL_ERROR`].
    pub fn handle_peer(&mut self, packet: &[u8], _now: Timestamp) -> Result<(), TunnelError> {
        match Packet::decode(packet)? {
            Packet::Reply { frame, message } => {
                let correlation = frame.frame().correlation_id.clone();
                let Some(pending) = self.take(&correlation) else {
                    return Err(TunnelError::UnknownId(correlation));
                };
                match self.check_reply(&frame, &message, &pending.id) {
                    Ok(()) => {
                        let f = frame.frame();
                        if f.result_code == ResultCode::Deny
                            && f.denial_reason.as_deref() == Some("NO_CAPABILITY")
                        {
                            self.capability_sent = false;
                        }
                        self.out.push_back(Output::Local(message));
                        Ok(())
                    }
                    Err(e) => {
                        self.answer(
                            &pending.id,
                            TUNNEL_ERROR,
                            "the peer's answer failed verification",
                        );
                        Err(e)
                    }
                }
            }
            Packet::Relay { message } => {
                let parsed = Message::parse(&message)?;
                match parsed.kind() {
                    Kind::Request { id, .. } => {
                        if self.server_requests.len() >= self.config.max_pending {
                            let error = error_response(
                                Some(id),
                                OVERLOADED,
                                "too many pending requests",
                                None,
                            );
                            self.relay(&error);
                            return Err(TunnelError::Overloaded);
                        }
                        self.server_requests.insert(id_key(id));
                    }
                    Kind::Notification { .. } => {
                        if let Some(cancelled) = parsed.cancelled_id()
                            && !self.server_requests.remove(&id_key(cancelled))
                        {
                            return Err(TunnelError::UnknownId(show_id(cancelled)));
                        }
                    }
                    Kind::Response { .. } => {
                        return Err(TunnelError::Unexpected("a response outside a reply"));
                    }
                }
                self.out.push_back(Output::Local(message));
                Ok(())
            }
            Packet::Call { .. } => Err(TunnelError::Unexpected("a call to the client side")),
        }
    }

    fn call(
        &mut self,
        message: &Message,
        id: Value,
        key: Vec<u8>,
        method: &str,
        now: Timestamp,
    ) -> Result<(), TunnelError> {
        self.counter = self.counter.wrapping_add(1);
        let correlation = correlation_id(&self.config.session_id, self.counter);
        let frame = McpMessage {
            session_id: self.session_hex.clone(),
            correlation_id: correlation.clone(),
            peer_id: self.did.clone(),
            issued_at: now.as_secs(),
            request_hash: message.hash(),
            tool: method.to_owned(),
            method: message.target().unwrap_or(method).to_owned(),
            capability_hash: *self.config.capability.capability_hash(),
            capability: (!self.capability_sent).then(|| self.capability_map.clone()),
        };
        let frame = match Signed::sign(frame, &self.config.key) {
            Ok(f) => f,
            Err(e) => {
                self.answer(&id, TUNNEL_ERROR, "the request cannot be framed");
                return Err(e.into());
            }
        };
        self.capability_sent = true;
        let packet = Packet::Call {
            frame,
            message: message.bytes().to_vec(),
        };
        self.out.push_back(Output::Peer(packet.encode()));
        self.ids.insert(key, correlation.clone());
        self.pending.insert(correlation, Pending { id, sent: now });
        Ok(())
    }

    fn check_reply(
        &self,
        frame: &Signed<McpResponse>,
        message: &[u8],
        id: &Value,
    ) -> Result<(), TunnelError> {
        if self.config.verify_signatures {
            frame.verify(&self.config.server_key)?;
        }
        let f = frame.frame();
        if f.peer_id != self.server_did {
            return Err(TunnelError::WrongParty {
                what: "peer_id",
                found: f.peer_id.clone(),
                expected: self.server_did.clone(),
            });
        }
        if f.session_id != self.session_hex {
            return Err(TunnelError::WrongParty {
                what: "session_id",
                found: f.session_id.clone(),
                expected: self.session_hex.clone(),
            });
        }
        let parsed = Message::parse(message)?;
        if parsed.hash() != f.response_hash {
            return Err(TunnelError::Mismatch("response_hash"));
        }
        match parsed.kind() {
            Kind::Response { id: got, .. } if got == id && f.mcp_id.as_ref() == Some(id) => Ok(()),
            _ => Err(TunnelError::Mismatch(
                "the reply is not the response to this request",
            )),
        }
    }

    fn take(&mut self, correlation: &str) -> Option<Pending> {
        let pending = self.pending.remove(correlation)?;
        self.ids.remove(&id_key(&pending.id));
        Some(pending)
    }

    fn answer(&mut self, id: &Value, code: i64, message: &str) {
        self.out
            .push_back(Output::Local(error_response(Some(id), code, message, None)));
    }

    fn relay(&mut self, message: &[u8]) {
        self.out.push_back(Output::relay(message));
    }
}
