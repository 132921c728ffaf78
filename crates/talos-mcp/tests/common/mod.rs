//! A client tunnel and a server tunnel joined back to back, with recorded MCP traffic to drive
//! them.
#![allow(dead_code, unreachable_pub)] // each test file uses part of it
#![allow(clippy::wrong_self_convention)] // `from_client`: a line from the client, not a conversion

use std::path::PathBuf;

use talos_mcp::acl::did::Did;
use talos_mcp::acl::guard::Guard;
use talos_mcp::acl::policy::Policy;
use talos_mcp::acl::rate::RateConfig;
use talos_mcp::acl::token::{CapabilityToken, TokenFields};
use talos_mcp::crypto::json::{self, Value};
use talos_mcp::crypto::{SigningKey, Timestamp};
use talos_mcp::{AuditRecord, ClientConfig, ClientTunnel, Output, ServerConfig, ServerTunnel};

/// 2026-01-01T00:00:00Z.
pub const START_SECS: u64 = 1_767_225_600;

pub fn client_key() -> SigningKey {
    SigningKey::from_seed(&[1; 32])
}

pub fn server_key() -> SigningKey {
    SigningKey::from_seed(&[2; 32])
}

pub fn did(key: &SigningKey) -> String {
    Did::from(key.verifying_key()).to_string()
}

pub fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(START_SECS + secs).unwrap()
}

/// A capability for the client issued by the server's operator, valid for an hour.
pub fn capability(scope: &str) -> CapabilityToken {
    capability_for(&did(&client_key()), scope, 3600)
}

pub fn capability_for(subject: &str, scope: &str, ttl_secs: u64) -> CapabilityToken {
    let server = server_key();
    let fields = TokenFields::new(did(&server), subject, scope, at(0), at(ttl_secs));
    CapabilityToken::issue(&server, &fields).unwrap()
}

/// A policy that lets the client call every tool and read every resource, plus `extra` lines
/// in its entry; `default_allow` so that prompts (an "other" method for the policy) pass.
pub fn policy(extra: &str) -> Policy {
    let toml = format!(
        "default_allow = true\n[peers.\"{}\"]\nallow_tools = [\"*\"]\nallow_resources = [\"**\"]\n{extra}\n",
        did(&client_key())
    );
    Policy::from_toml(&toml).unwrap()
}

/// Both ends of a tunnel and what reached the two processes.
pub struct Pair {
    pub client: ClientTunnel,
    pub server: ServerTunnel,
    pub guard: Guard,
    pub now: Timestamp,
    /// Lines that reached the MCP server process.
    pub at_server: Vec<Vec<u8>>,
    /// Lines that reached the MCP client process.
    pub at_client: Vec<Vec<u8>>,
    pub audit: Vec<AuditRecord>,
    /// Packets in flight, in order: `(to_server, bytes)`.
    pub wire: Vec<(bool, Vec<u8>)>,
    /// Errors either end returned while pumping packets.
    pub peer_errors: Vec<String>,
}

impl Pair {
    pub fn new(capability: CapabilityToken, policy: Policy) -> Self {
        Self::with_configs(
            ClientConfig::new(
                [9; 16],
                client_key(),
                server_key().verifying_key(),
                capability,
            ),
            ServerConfig::new(server_key(), client_key().verifying_key()),
            policy,
        )
    }

    pub fn with_configs(client: ClientConfig, server: ServerConfig, policy: Policy) -> Self {
        Self {
            client: ClientTunnel::new(client),
            server: ServerTunnel::new(server),
            guard: Guard::new(policy, RateConfig::default()),
            now: at(1),
            at_server: Vec::new(),
            at_client: Vec::new(),
            audit: Vec::new(),
            wire: Vec::new(),
            peer_errors: Vec::new(),
        }
    }

    /// A line from the MCP client, then everything it causes.
    pub fn from_client(&mut self, line: &[u8]) -> Result<(), String> {
        let r = self
            .client
            .handle_local(line, self.now)
            .map_err(|e| e.to_string());
        self.collect();
        self.deliver();
        r
    }

    /// A line from the MCP server, then everything it causes.
    pub fn from_server(&mut self, line: &[u8]) -> Result<(), String> {
        let r = self
            .server
            .handle_local(line, &mut self.guard, self.now)
            .map_err(|e| e.to_string());
        self.collect();
        self.deliver();
        r
    }

    /// Moves outputs of both ends into the wire queue and the process logs.
    pub fn collect(&mut self) {
        while let Some(o) = self.client.poll_output() {
            match o {
                Output::Local(l) => self.at_client.push(l),
                Output::Peer(p) => self.wire.push((true, p)),
                other => panic!("client tunnel emitted {other:?}"),
            }
        }
        while let Some(o) = self.server.poll_output() {
            match o {
                Output::Local(l) => self.at_server.push(l),
                Output::Peer(p) => self.wire.push((false, p)),
                Output::Audit(a) => self.audit.push(*a),
                other => panic!("server tunnel emitted {other:?}"),
            }
        }
    }

    /// Delivers every packet in flight, in order, until none is left.
    pub fn deliver(&mut self) {
        while !self.wire.is_empty() {
            let (to_server, packet) = self.wire.remove(0);
            let r = if to_server {
                self.server.handle_peer(&packet, &mut self.guard, self.now)
            } else {
                self.client.handle_peer(&packet, self.now)
            };
            if let Err(e) = r {
                self.peer_errors.push(e.to_string());
            }
            self.collect();
        }
    }
}

/// One recorded line.
#[derive(Clone, Debug)]
pub struct Line {
    /// `true`: client → server.
    pub c2s: bool,
    pub line: String,
    pub value: Value,
}

impl Line {
    pub fn method(&self) -> Option<&str> {
        self.value.get("method").and_then(Value::as_str)
    }

    pub fn id(&self) -> Option<&Value> {
        self.value.get("id")
    }

    pub fn tool(&self) -> Option<&str> {
        self.value
            .get("params")
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
    }
}

pub fn transcript(name: &str) -> Vec<Line> {
    // CI sets TALOS_MCP_TRANSCRIPTS to transcripts it has just captured from the live servers.
    let dir = std::env::var_os("TALOS_MCP_TRANSCRIPTS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts"),
        PathBuf::from,
    );
    let path = dir.join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .map(|l| {
            let record = json::parse(l.as_bytes()).unwrap();
            let line = record
                .get("line")
                .and_then(Value::as_str)
                .unwrap()
                .to_owned();
            let value = json::parse(line.as_bytes()).unwrap();
            Line {
                c2s: record.get("dir").and_then(Value::as_str) == Some("c2s"),
                line,
                value,
            }
        })
        .collect()
}

pub fn parse(bytes: &[u8]) -> Value {
    json::parse(bytes).unwrap()
}

/// The upstream talos-contracts checkout beside the project (or in `TALOS_SHARED_VECTORS`).
pub fn contracts() -> PathBuf {
    let dir = std::env::var_os("TALOS_SHARED_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    dir.join("talos-contracts")
}

/// A JSON file of talos-contracts, by its path inside it.
pub fn read_contract(rel: &str) -> Value {
    json::parse(&std::fs::read(contracts().join(rel)).unwrap()).unwrap()
}

/// The array member `key` of `v`.
pub fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    match v.get(key) {
        Some(Value::Array(a)) => a,
        _ => panic!("{key} is not an array"),
    }
}
