//! What both ends of a tunnel share: their outputs, their errors, and how an MCP request maps
//! to what a capability and a policy are checked against.
//!
//! # From MCP methods to capabilities
//!
//! | MCP request | capability request | policy request |
//! |---|---|---|
//! | `tools/call` `{name: N, arguments}` | tool `N`, `path` = `arguments.path` if a string, `arg_bytes` = size of `arguments` | tool `N` |
//! | `resources/read`, `resources/subscribe`, `resources/unsubscribe` `{uri: U}`; `completion/complete` with `ref/resource` | tool [`RESOURCES`], resource `U` | resource `U` |
//! | `prompts/get` `{name: P}`; `completion/complete` with `ref/prompt` | tool [`PROMPTS`], method `P` | method `prompts/get` |
//!
//! So a capability scope reads `tool:search tool:@resources/resource:file:///repo/** tool:@prompts/method:greet`.
//! `@` cannot appear in an MCP tool name, so these never collide with a real tool. Lists are
//! filtered item by item with the same mapping (without arguments), and a filtered list's
//! `cacheScope` is set to `private` where the server gave one.

use talos_acl::guard::Guard;
use talos_acl::policy::PolicyRequest;
use talos_acl::scope::Request;
use talos_acl::token::CapabilityHash;
use talos_acl::verify::Decision;
use talos_crypto::Timestamp;
use talos_crypto::json::{Map, Value};

use crate::audit::AuditRecord;
use crate::frame::FrameError;
use crate::jsonrpc::{LineError, Message, TUNNEL_ERROR, error_response};
use crate::packet::PacketError;

/// The capability tool name of resource access.
pub const RESOURCES: &str = "@resources";
/// The capability tool name of prompt access.
pub const PROMPTS: &str = "@prompts";

/// Default bound of each pending-request table.
pub const DEFAULT_MAX_PENDING: usize = 1024;

/// Something a tunnel wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// A line for the local MCP process (client or server), without its newline.
    Local(Vec<u8>),
    /// A [`Packet`](crate::packet::Packet) for the other end of the tunnel.
    Peer(Vec<u8>),
    /// An audit record for the ledger.
    Audit(Box<AuditRecord>),
}

impl Output {
    /// A [`Packet::Relay`](crate::packet::Packet::Relay) of `message` for the other end.
    pub(crate) fn relay(message: &[u8]) -> Self {
        let packet = crate::packet::Packet::Relay {
            message: message.to_vec(),
        };
        Self::Peer(packet.encode())
    }
}

/// Why a tunnel dropped an input. Where the sender can be answered (a local request, a
/// peer's call), the answer is already among the outputs.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// A line that is not an acceptable JSON-RPC message.
    #[error(transparent)]
    Line(#[from] LineError),
    /// A packet that does not decode.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// A frame that does not verify.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame signed as another peer, or for another session.
    #[error("frame of {what} {found:?}, expected {expected:?}")]
    WrongParty {
        /// `peer_id` or `session_id`.
        what: &'static str,
        /// What the frame said.
        found: String,
        /// What the tunnel expected.
        expected: String,
    },
    /// A correlation id seen before within the replay window.
    #[error("replayed correlation id {0:?}")]
    Replay(String),
    /// A frame issued outside the replay window around now.
    #[error("frame issued at {issued_at} s is outside the replay window")]
    Stale {
        /// Its `issued_at`.
        issued_at: u64,
    },
    /// The replay table is full of frames still inside the window.
    #[error("replay table full")]
    ReplayTableFull,
    /// A frame whose hash, tool, method or id does not match its message.
    #[error("frame does not match its message: {0}")]
    Mismatch(&'static str),
    /// A message that this direction does not carry (e.g. a request outside a call).
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// A response or a cancellation naming an id that is not pending for its sender.
    #[error("no pending request with id {0}")]
    UnknownId(String),
    /// A request reusing an id that is still pending.
    #[error("id {0} is already pending")]
    DuplicateId(String),
    /// A pending table is full.
    #[error("too many pending requests")]
    Overloaded,
}

/// A request as a capability and a policy see it, borrowed from a message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access<'a> {
    pub(crate) request: Request<'a>,
    pub(crate) policy: PolicyRequest<'a>,
}

impl<'a> Access<'a> {
    /// The access `message` asks for, if its method is access-controlled: `None` for other
    /// methods, `Some(Err(()))` for a controlled method without its target.
    pub(crate) fn of(message: &'a Message) -> Option<Result<Self, ()>> {
        let method = message.method()?;
        let resource = |uri| Self {
            request: Request::new(RESOURCES).with_resource(uri),
            policy: PolicyRequest::ResourceRead { uri },
        };
        let prompt = |name| Self {
            request: Request::new(PROMPTS).with_method(name),
            policy: PolicyRequest::Other {
                method: "prompts/get",
            },
        };
        let target = message.target();
        Some(match method {
            "tools/call" => target.ok_or(()).map(|tool| {
                let arguments = message.params().and_then(|p| p.get("arguments"));
                let mut request = Request::new(tool)
                    .with_arg_bytes(arguments.map_or(0, |a| a.to_canonical_vec().len()));
                if let Some(path) = arguments
                    .and_then(|a| a.get("path"))
                    .and_then(Value::as_str)
                {
                    request = request.with_path(path);
                }
                Self {
                    request,
                    policy: PolicyRequest::ToolCall { tool },
                }
            }),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                target.ok_or(()).map(resource)
            }
            "prompts/get" => target.ok_or(()).map(prompt),
            "completion/complete" => {
                let kind = message
                    .params()
                    .and_then(|p| p.get("ref"))
                    .and_then(|r| r.get("type"))
                    .and_then(Value::as_str);
                match (kind, target) {
                    (Some("ref/resource"), Some(uri)) => Ok(resource(uri)),
                    (Some("ref/prompt"), Some(name)) => Ok(prompt(name)),
                    _ => Err(()),
                }
            }
            _ => return None,
        })
    }
}

/// The array member and the item member naming each entry of a list result, by method.
fn list_shape(method: &str) -> Option<(&'static str, &'static str)> {
    Some(match method {
        "tools/list" => ("tools", "name"),
        "resources/list" => ("resources", "uri"),
        "resources/templates/list" => ("resourceTemplates", "uriTemplate"),
        "prompts/list" => ("prompts", "name"),
        _ => return None,
    })
}

/// Whether a list item named `name` in the result of `method` may be shown.
fn may_list(
    method: &str,
    name: &str,
    guard: &mut Guard,
    peer: &str,
    session: [u8; 16],
    hash: &CapabilityHash,
    now: Timestamp,
) -> bool {
    let (request, policy) = match method {
        "tools/list" => (Request::new(name), PolicyRequest::ToolCall { tool: name }),
        "prompts/list" => (
            Request::new(PROMPTS).with_method(name),
            PolicyRequest::Other {
                method: "prompts/get",
            },
        ),
        _ => (
            Request::new(RESOURCES).with_resource(name),
            PolicyRequest::ResourceRead { uri: name },
        ),
    };
    matches!(
        guard.check(peer, session, hash, &request, &policy, now),
        Decision::Allow
    )
}

/// Filters the result of a list request (`method`) to what `peer` may use, and marks a
/// cacheable result private. Returns `None` when the message needs no change.
#[allow(clippy::too_many_arguments)] // the guard's inputs, passed through
pub(crate) fn filter_list(
    message: &Message,
    method: &str,
    guard: &mut Guard,
    peer: &str,
    session: [u8; 16],
    hash: &CapabilityHash,
    now: Timestamp,
) -> Option<Message> {
    let (array, item) = list_shape(method)?;
    let result = message.value().get("result")?.as_object()?;
    let items = result.get(array).and_then(|a| match a {
        Value::Array(items) => Some(items),
        _ => None,
    });
    let keep: Vec<bool> = items
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    i.get(item)
                        .and_then(Value::as_str)
                        .is_some_and(|name| may_list(method, name, guard, peer, session, hash, now))
                })
                .collect()
        })
        .unwrap_or_default();
    let cache_public = result
        .get("cacheScope")
        .is_some_and(|s| s.as_str() != Some("private"));
    if keep.iter().all(|k| *k) && !cache_public {
        return None;
    }
    let mut value: Map = message.value().clone();
    if let Some(Value::Object(result)) = value.get_mut("result") {
        if let Some(Value::Array(items)) = result.get_mut(array) {
            let mut flags = keep.iter();
            items.retain(|_| flags.next().copied().unwrap_or(false));
        }
        if result.contains_key("cacheScope") {
            result.insert("cacheScope".into(), Value::String("private".into()));
        }
    }
    match Message::from_map(value) {
        Ok(filtered) => Some(filtered),
        // Fail closed: a filtered list too large to write is answered with an error, never
        // forwarded unfiltered (`None` means "no change needed").
        Err(_) => Message::parse(&error_response(
            message.id(),
            TUNNEL_ERROR,
            "the filtered list exceeds the line limit",
            None,
        ))
        .ok(),
    }
}

/// Correlation ids: 16 bytes in hex, the SHA-256 of the session id and a counter, so that they
/// are unique within the session and need no randomness of their own.
pub(crate) fn correlation_id(session: &[u8; 16], counter: u64) -> String {
    let mut input = Vec::with_capacity(16 + 8 + 18);
    input.extend_from_slice(b"talos-mcp correlation");
    input.extend_from_slice(session);
    input.extend_from_slice(&counter.to_be_bytes());
    let digest = talos_crypto::hash::sha256(&input);
    talos_crypto::hash::to_hex(digest.get(..16).unwrap_or_default())
}

/// A printable form of an id, for errors.
pub(crate) fn show_id(id: &Value) -> String {
    String::from_utf8_lossy(&id.to_canonical_vec())
        .chars()
        .take(80)
        .collect()
}
