//! The MCP tunnel's JSON-RPC framing, its packets, and both tunnel ends, from arbitrary bytes.
//!
//! 1. `jsonrpc::Message::parse` of the whole input and of every operation's payload: a
//!    message that parses keeps the input as its bytes, re-classifies identically from
//!    `Message::from_map(value.clone())`, whose canonical bytes parse again to the same kind,
//!    target and hash; stripping `_talos_*` members leaves a message of the same kind with
//!    none left. A refused line's error response parses as an error response with the id the
//!    error names.
//! 2. `packet::Packet::decode` of the same bytes: a packet that decodes re-encodes to its
//!    input when its frame was written canonically (always for a relay), and its encoding is
//!    a fixed point of decode + encode.
//! 3. A `ClientTunnel` and a `ServerTunnel` with fixed keys and session, a capability chosen
//!    by the first byte (`tool:*`, or a narrow scope of two tools, one resource tree and one
//!    prompt), a policy that denies `delete_*`, and small bounds (4 pending requests, a replay
//!    table of 16). The rest of the input is at most [`MAX_OPS`] operations `[op][len: u16
//!    LE][payload]`: a line from the MCP client or the MCP server, a raw packet to either end,
//!    time passing (the client's timeouts), and delivering, replaying, dropping, corrupting,
//!    reordering or re-wrapping the packets in flight between the two ends. Nothing may
//!    panic; the pending counts stay within their bound; every line either end emits towards
//!    its process parses with `Message::parse`; every packet either end emits decodes and
//!    carries a message that parses; only the server end emits audit records, and each one
//!    becomes a ledger entry; and a request that reaches the MCP server never names a tool,
//!    resource or prompt that the capability and the policy refuse.
#![no_main]

use core::time::Duration;
use std::collections::VecDeque;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use talos_acl::did::Did;
use talos_acl::guard::Guard;
use talos_acl::policy::Policy;
use talos_acl::rate::RateConfig;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_crypto::json::Value;
use talos_crypto::{SigningKey, Timestamp};
use talos_mcp::jsonrpc::{Kind, Message};
use talos_mcp::packet::Packet;
use talos_mcp::{ClientConfig, ClientTunnel, Output, ServerConfig, ServerTunnel};

// Keep these in step with `mcp_tunnel_seeds` in examples/seed_corpus.rs.
/// 2026-01-01T00:00:00Z; the tunnels start one second later.
const START_SECS: u64 = 1_767_225_600;
/// The session id of the client end.
const SESSION: [u8; 16] = [9; 16];
/// The capabilities the first byte chooses between (its lowest bit).
const SCOPES: [&str; 2] = [
    "tool:echo tool:read_file tool:@resources/resource:file:///repo/** tool:@prompts/method:greet",
    "tool:*",
];

/// Most operations per input.
const MAX_OPS: usize = 32;
/// Bound of each pending-request table of both ends.
const MAX_PENDING: usize = 4;
/// Most packets kept in flight.
const MAX_WIRE: usize = 64;

struct Fixture {
    client_key: SigningKey,
    server_key: SigningKey,
    tokens: [CapabilityToken; 2],
    policy: Policy,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let client_key = SigningKey::from_seed(&[1; 32]);
        let server_key = SigningKey::from_seed(&[2; 32]);
        let client = Did::from(client_key.verifying_key()).to_string();
        let server = Did::from(server_key.verifying_key()).to_string();
        let at = |secs| Timestamp::from_secs(START_SECS + secs).expect("in range");
        let tokens = SCOPES.map(|scope| {
            let fields = TokenFields::new(server.as_str(), client.as_str(), scope, at(0), at(3600));
            CapabilityToken::issue(&server_key, &fields).expect("valid token")
        });
        let policy = Policy::from_toml(&format!(
            "default_allow = true\n[peers.\"{client}\"]\nallow_tools = [\"*\"]\n\
             deny_tools = [\"delete_*\"]\nallow_resources = [\"**\"]\n\
             rate = {{ requests_per_second = 1000, burst = 1000, bytes_per_day = 0 }}\n"
        ))
        .expect("valid policy");
        Fixture {
            client_key,
            server_key,
            tokens,
            policy,
        }
    })
}

/// Property 1 on one line.
fn check_message(line: &[u8]) {
    let message = match Message::parse(line) {
        Ok(m) => m,
        Err(e) => {
            let response = Message::parse(&e.to_response()).expect("error responses parse");
            let null = Value::Null;
            assert_eq!(
                response.kind(),
                &Kind::Response {
                    id: e.id().unwrap_or(&null).clone(),
                    is_error: true
                }
            );
            return;
        }
    };
    assert_eq!(message.bytes(), line);
    let again = Message::from_map(message.value().clone()).expect("a parsed message re-classifies");
    assert_eq!(again.kind(), message.kind());
    assert_eq!(again.hash(), message.hash());
    let reparsed = Message::parse(again.bytes()).expect("canonical bytes parse");
    assert_eq!(reparsed.kind(), message.kind());
    assert_eq!(reparsed.target(), message.target());
    assert_eq!(reparsed.cancelled_id(), message.cancelled_id());
    assert_eq!(reparsed.hash(), message.hash());
    let mut stripped = message.clone();
    if stripped.strip_talos_fields() {
        assert_eq!(stripped.kind(), message.kind());
        let params = stripped.params().expect("only params are stripped");
        assert!(params.keys().all(|k| !k.starts_with("_talos_")));
        let reparsed = Message::parse(stripped.bytes()).expect("stripped bytes parse");
        assert_eq!(reparsed.kind(), message.kind());
    } else {
        assert_eq!(stripped.bytes(), line);
    }
}

/// Property 2 on one packet.
fn check_packet(bytes: &[u8]) {
    let Ok(packet) = Packet::decode(bytes) else {
        return;
    };
    let encoded = packet.encode();
    assert_eq!(encoded.first(), bytes.first());
    assert!(bytes.ends_with(packet.message()));
    let canonical_frame = match &packet {
        Packet::Call { frame, .. } => {
            bytes.get(5..5 + frame.to_json().len()) == Some(&frame.to_json()[..])
        }
        Packet::Reply { frame, .. } => {
            bytes.get(5..5 + frame.to_json().len()) == Some(&frame.to_json()[..])
        }
        Packet::Relay { .. } => true,
    };
    if canonical_frame {
        assert_eq!(encoded, bytes);
    }
    let again = Packet::decode(&encoded).expect("an encoded packet decodes");
    assert_eq!(again.encode(), encoded);
}

/// Whether the fixed capability and policy let a request reach the MCP server.
fn may_reach_server(message: &Message, wide: bool) -> bool {
    let Some(method) = message.method() else {
        return true;
    };
    let ref_type = message
        .params()
        .and_then(|p| p.get("ref"))
        .and_then(|r| r.get("type"))
        .and_then(Value::as_str);
    let target = message.target();
    let tool_ok = |tool: &str| {
        let denied = tool
            .strip_prefix("delete_")
            .is_some_and(|rest| !rest.contains('/'));
        !tool.is_empty() && !denied && (wide || tool == "echo" || tool == "read_file")
    };
    let resource_ok = |uri: &str| wide || uri.starts_with("file:///repo/");
    let prompt_ok = |name: &str| !name.is_empty() && (wide || name == "greet");
    match (method, ref_type) {
        ("tools/call", _) => target.is_some_and(tool_ok),
        ("resources/read" | "resources/subscribe" | "resources/unsubscribe", _)
        | ("completion/complete", Some("ref/resource")) => target.is_some_and(resource_ok),
        ("prompts/get", _) | ("completion/complete", Some("ref/prompt")) => {
            target.is_some_and(prompt_ok)
        }
        ("completion/complete", _) => false,
        _ => true,
    }
}

struct Harness {
    client: ClientTunnel,
    server: ServerTunnel,
    guard: Guard,
    now: Timestamp,
    wide: bool,
    /// Packets in flight: `(to_server, bytes)`.
    wire: VecDeque<(bool, Vec<u8>)>,
}

impl Harness {
    fn new(wide: bool) -> Self {
        let f = fixture();
        let mut client = ClientConfig::new(
            SESSION,
            f.client_key.clone(),
            f.server_key.verifying_key(),
            f.tokens[usize::from(wide)].clone(),
        );
        client.max_pending = MAX_PENDING;
        client.request_timeout = Duration::from_secs(30);
        let mut server = ServerConfig::new(f.server_key.clone(), f.client_key.verifying_key());
        server.max_pending = MAX_PENDING;
        server.max_replay = 16;
        Self {
            client: ClientTunnel::new(client),
            server: ServerTunnel::new(server),
            guard: Guard::new(f.policy.clone(), RateConfig::default()),
            now: Timestamp::from_secs(START_SECS + 1).expect("in range"),
            wide,
            wire: VecDeque::new(),
        }
    }

    /// Drains both ends, checking every output.
    fn collect(&mut self) {
        assert!(self.client.pending() <= MAX_PENDING);
        assert!(self.server.pending() <= MAX_PENDING);
        while let Some(output) = self.client.poll_output() {
            match output {
                Output::Local(line) => {
                    Message::parse(&line).expect("the client end emits valid lines");
                }
                Output::Peer(packet) => self.send(true, packet),
                other => panic!("the client end emitted {other:?}"),
            }
        }
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Local(line) => {
                    let message = Message::parse(&line).expect("the server end emits valid lines");
                    if matches!(message.kind(), Kind::Request { .. }) {
                        assert!(
                            may_reach_server(&message, self.wide),
                            "reached the server: {}",
                            String::from_utf8_lossy(&line)
                        );
                    }
                }
                Output::Peer(packet) => self.send(false, packet),
                Output::Audit(record) => {
                    record
                        .to_tool_call()
                        .expect("audit records become ledger entries");
                }
                other => panic!("the server end emitted {other:?}"),
            }
        }
    }

    fn send(&mut self, to_server: bool, packet: Vec<u8>) {
        let decoded = Packet::decode(&packet).expect("a tunnel's packets decode");
        Message::parse(decoded.message()).expect("a tunnel's packets carry valid messages");
        match (&decoded, to_server) {
            (Packet::Call { .. } | Packet::Relay { .. }, true)
            | (Packet::Reply { .. } | Packet::Relay { .. }, false) => {}
            _ => panic!("a packet of the wrong direction"),
        }
        if self.wire.len() < MAX_WIRE {
            self.wire.push_back((to_server, packet));
        }
    }

    fn deliver(&mut self, to_server: bool, packet: &[u8]) {
        // Errors are normal here: replays, forgeries, unknown ids.
        let _ = if to_server {
            self.server.handle_peer(packet, &mut self.guard, self.now)
        } else {
            self.client.handle_peer(packet, self.now)
        };
        self.collect();
    }

    fn deliver_front(&mut self) {
        if let Some((to_server, packet)) = self.wire.pop_front() {
            self.deliver(to_server, &packet);
        }
    }

    fn op(&mut self, op: u8, payload: &[u8]) {
        match op % 11 {
            0 => {
                let _ = self.client.handle_local(payload, self.now);
                self.collect();
            }
            1 => {
                let _ = self.server.handle_local(payload, &mut self.guard, self.now);
                self.collect();
            }
            2 => self.deliver(true, payload),
            3 => self.deliver(false, payload),
            4 => {
                let b = |i| u64::from(payload.get(i).copied().unwrap_or(0));
                self.now = self
                    .now
                    .saturating_add(Duration::from_millis(b(0) * 4000 + b(1) * 4));
                self.client.handle_timeout(self.now);
                assert!(self.client.poll_timeout().is_none_or(|t| t > self.now));
                self.collect();
            }
            5 => {
                // Everything in flight, and what it causes, within a bound.
                for _ in 0..2 * MAX_WIRE {
                    if self.wire.is_empty() {
                        break;
                    }
                    self.deliver_front();
                }
            }
            6 => {
                if let Some((to_server, packet)) = self.wire.pop_front() {
                    self.deliver(to_server, &packet);
                    self.deliver(to_server, &packet);
                }
            }
            7 => {
                self.wire.pop_front();
            }
            8 => {
                if let Some((to_server, mut packet)) = self.wire.pop_front() {
                    let at = usize::from(u16::from_le_bytes([
                        payload.first().copied().unwrap_or(0),
                        payload.get(1).copied().unwrap_or(0),
                    ]));
                    let len = packet.len();
                    if let Some(byte) = packet.get_mut(at % len.max(1)) {
                        *byte ^= payload.get(2).copied().unwrap_or(0) | 1;
                    }
                    self.deliver(to_server, &packet);
                }
            }
            9 => {
                if let Some(front) = self.wire.pop_front() {
                    self.wire.push_back(front);
                }
            }
            _ => {
                // The frame in flight around another message.
                if let Some((to_server, packet)) = self.wire.pop_front() {
                    let rewrapped = match Packet::decode(&packet) {
                        Ok(Packet::Call { frame, .. }) => Packet::Call {
                            frame,
                            message: payload.to_vec(),
                        },
                        Ok(Packet::Reply { frame, .. }) => Packet::Reply {
                            frame,
                            message: payload.to_vec(),
                        },
                        _ => Packet::Relay {
                            message: payload.to_vec(),
                        },
                    };
                    self.deliver(to_server, &rewrapped.encode());
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_message(data);
    check_packet(data);

    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let mut harness = Harness::new(config & 1 == 1);
    for _ in 0..MAX_OPS {
        let Some((&op, after)) = rest.split_first() else {
            break;
        };
        let (len, after) = match after.split_first_chunk::<2>() {
            Some((len, after)) => (usize::from(u16::from_le_bytes(*len)), after),
            None => (after.len(), &[][..]),
        };
        let (payload, after) = after.split_at(len.min(after.len()));
        rest = after;
        check_message(payload);
        check_packet(payload);
        harness.op(op, payload);
    }
    harness.op(5, &[]);
});
