//! A talos-mcp client tunnel and server tunnel joined back to back, in the steady state of a
//! session, for the `mcp` bench (`benches/mcp.rs`) and the `mcp_p99` binary
//! (`src/bin/mcp_p99.rs`), which both include this file with `#[path]` (it is not a module of
//! the `talos-benches` library).
//!
//! One allowed `tools/call` goes through four steps, each a `handle_*` call and the draining of
//! its outputs, which are checked to be exactly what an allowed call produces:
//!
//! 1. [`Tunnels::client_request`]: the MCP client's line → a signed call packet;
//! 2. [`Tunnels::server_request`]: that packet → the line forwarded to the MCP server;
//! 3. [`Tunnels::server_response`]: the MCP server's answer → a signed reply packet and an
//!    audit record;
//! 4. [`Tunnels::client_response`]: that packet → the line delivered to the MCP client.
//!
//! Every call uses a fresh JSON-RPC id and is answered, so the pending tables stay empty
//! between calls. The client's clock and the server's advance by [`STEP`] per call: the guard
//! keeps its default rate limits (100 requests/s per peer, burst 10) and the replay table holds
//! the correlation ids of the last 300 s, i.e. up to 30 000 entries in a long run (its bound is
//! 65 536). Keys and the session id are fixed, so runs are reproducible.

use core::hint::black_box;
use core::time::Duration;
use std::time::Instant;

use talos_mcp::acl::did::Did;
use talos_mcp::acl::guard::Guard;
use talos_mcp::acl::policy::Policy;
use talos_mcp::acl::rate::RateConfig;
use talos_mcp::acl::token::{CapabilityToken, TokenFields};
use talos_mcp::crypto::json::{Map, Value};
use talos_mcp::crypto::{SigningKey, Timestamp};
use talos_mcp::{ClientConfig, ClientTunnel, Output, ServerConfig, ServerTunnel};

/// 2026-01-01T00:00:00Z, the capability's `iat`.
const START_SECS: u64 = 1_767_225_600;

/// How far both clocks advance per call: 100 calls per second, the default rate limit.
pub(crate) const STEP: Duration = Duration::from_millis(10);

/// The capability's lifetime: 30 days, i.e. 259 million calls at [`STEP`].
const CAPABILITY_TTL_SECS: u64 = 30 * 24 * 3600;

/// The tool every call names.
pub(crate) const TOOL: &str = "read_file";

/// The client's request with JSON-RPC id `id` (about 200 bytes).
pub(crate) fn request_line(id: u64) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{TOOL}","arguments":{{"path":"/repo/src/lib.rs","encoding":"utf-8","max_bytes":65536}},"_meta":{{"progressToken":"tok-{id}"}}}}}}"#
    )
    .into_bytes()
}

/// The MCP server's result for id `id` (about 200 bytes).
pub(crate) fn response_line(id: u64) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"//! The library (a benchmark fixture).\npub fn add(a: u64, b: u64) -> u64 {{\n    a.wrapping_add(b)\n}}\n"}}],"isError":false}}}}"#
    )
    .into_bytes()
}

/// The client side's key (fixed seed).
pub(crate) fn client_key() -> SigningKey {
    SigningKey::from_seed(&[1; 32])
}

/// The server side's key (fixed seed).
pub(crate) fn server_key() -> SigningKey {
    SigningKey::from_seed(&[2; 32])
}

/// Both ends of one session, with its first call done (the capability is admitted).
#[derive(Debug)]
pub(crate) struct Tunnels {
    client: ClientTunnel,
    server: ServerTunnel,
    guard: Guard,
    now: Timestamp,
    next_id: u64,
}

impl Tunnels {
    /// Two tunnels for one session; the first call, which carries and admits the capability,
    /// is made here.
    pub(crate) fn new() -> Self {
        Self::with_verification(true)
    }

    /// As [`new`](Self::new); `verify` = false sets both ends' `verify_signatures` off, as a
    /// node does whose packets all come through the peer's authenticated session.
    pub(crate) fn with_verification(verify: bool) -> Self {
        let client_key = client_key();
        let server_key = server_key();
        let client_did = Did::from(client_key.verifying_key()).to_string();
        let server_did = Did::from(server_key.verifying_key()).to_string();
        let start = Timestamp::from_secs(START_SECS).unwrap();
        let mut constraints = Map::new();
        constraints.insert("paths".into(), Value::Array(vec![Value::from("/repo/**")]));
        let fields = TokenFields::new(
            server_did,
            client_did.clone(),
            format!("tool:{TOOL} tool:search tool:@resources/resource:file:///repo/**"),
            start,
            Timestamp::from_secs(START_SECS + CAPABILITY_TTL_SECS).unwrap(),
        )
        .with_constraints(constraints);
        let capability = CapabilityToken::issue(&server_key, &fields).unwrap();
        let policy = Policy::from_toml(&format!(
            "default_allow = false\n[peers.\"{client_did}\"]\nallow_tools = [\"{TOOL}\", \"search\"]\nallow_resources = [\"file:///repo/**\"]\n"
        ))
        .unwrap();
        let server_verifying = server_key.verifying_key();
        let client_verifying = client_key.verifying_key();
        let mut tunnels = Self {
            client: ClientTunnel::new({
                let mut config =
                    ClientConfig::new([9; 16], client_key, server_verifying, capability);
                config.verify_signatures = verify;
                config
            }),
            server: ServerTunnel::new({
                let mut config = ServerConfig::new(server_key, client_verifying);
                config.verify_signatures = verify;
                config
            }),
            guard: Guard::new(policy, RateConfig::default()),
            now: start.saturating_add(Duration::from_secs(60)),
            next_id: 1,
        };
        tunnels.call();
        tunnels
    }

    /// The id of the next call; also advances the clock by [`STEP`].
    pub(crate) fn next(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.now = self.now.saturating_add(STEP);
        id
    }

    /// Step 1: the client tunnel frames and signs the MCP client's request.
    pub(crate) fn client_request(&mut self, line: &[u8]) -> Vec<u8> {
        self.client.handle_local(line, self.now).unwrap();
        let packet = match self.client.poll_output() {
            Some(Output::Peer(packet)) => packet,
            other => panic!("client_request: expected a packet, got {other:?}"),
        };
        assert!(self.client.poll_output().is_none());
        packet
    }

    /// Step 2: the server tunnel verifies and authorizes the call and forwards the request.
    pub(crate) fn server_request(&mut self, packet: &[u8]) -> Vec<u8> {
        self.server
            .handle_peer(packet, &mut self.guard, self.now)
            .unwrap();
        let line = match self.server.poll_output() {
            Some(Output::Local(line)) => line,
            other => panic!("server_request: expected the forwarded request, got {other:?}"),
        };
        assert!(self.server.poll_output().is_none());
        line
    }

    /// Step 3: the server tunnel frames and signs the MCP server's answer and audits the call.
    pub(crate) fn server_response(&mut self, line: &[u8]) -> Vec<u8> {
        self.server
            .handle_local(line, &mut self.guard, self.now)
            .unwrap();
        let packet = match self.server.poll_output() {
            Some(Output::Peer(packet)) => packet,
            other => panic!("server_response: expected a packet, got {other:?}"),
        };
        match self.server.poll_output() {
            Some(Output::Audit(_)) => {}
            other => panic!("server_response: expected an audit record, got {other:?}"),
        }
        assert!(self.server.poll_output().is_none());
        packet
    }

    /// Step 4: the client tunnel verifies the reply and delivers the answer.
    pub(crate) fn client_response(&mut self, packet: &[u8]) -> Vec<u8> {
        self.client.handle_peer(packet, self.now).unwrap();
        let line = match self.client.poll_output() {
            Some(Output::Local(line)) => line,
            other => panic!("client_response: expected the answer, got {other:?}"),
        };
        assert!(self.client.poll_output().is_none());
        line
    }

    /// One whole call with a fresh id, checked end to end.
    pub(crate) fn call(&mut self) {
        let id = self.next();
        let request = request_line(id);
        let packet = self.client_request(&request);
        let forwarded = self.server_request(&packet);
        assert_eq!(forwarded, request);
        let response = response_line(id);
        let reply = self.server_response(&response);
        let delivered = self.client_response(&reply);
        assert_eq!(delivered, response);
    }

    /// One whole call with a fresh id, each step timed on its own: the lines of the two MCP
    /// processes are built before the clock starts, and the end-to-end checks run after it
    /// stops.
    pub(crate) fn timed_call(&mut self) -> [Duration; 4] {
        let id = self.next();
        let request = request_line(id);
        let response = response_line(id);
        let start = Instant::now();
        let packet = self.client_request(black_box(&request));
        let t1 = start.elapsed();
        let start = Instant::now();
        let forwarded = self.server_request(black_box(&packet));
        let t2 = start.elapsed();
        let start = Instant::now();
        let reply = self.server_response(black_box(&response));
        let t3 = start.elapsed();
        let start = Instant::now();
        let delivered = self.client_response(black_box(&reply));
        let t4 = start.elapsed();
        assert_eq!(forwarded, request);
        assert_eq!(delivered, response);
        [t1, t2, t3, t4]
    }

    /// Whether nothing is pending on either side.
    pub(crate) fn idle(&self) -> bool {
        self.client.pending() == 0 && self.server.pending() == 0
    }
}
