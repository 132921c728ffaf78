#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Signed frames between the two ends of a tunnel.
pub mod frame;
// Digests and the upstream SDK's signed request.
pub mod digest;
// Write-content validation of tool calls (upstream DOC_* checks).
pub mod document;
// JSON-RPC lines: classification and the tunnel's own errors.
pub mod jsonrpc;
// What the two ends of a tunnel send each other.
pub mod packet;
// Shared by both ends: outputs, errors, the MCP-to-capability mapping, list filtering.
pub mod tunnel;
// The end facing the MCP client.
pub mod client;
// The end facing the MCP server: enforcement.
pub mod server;
// Audit records of calls and denials.
pub mod audit;

pub use audit::AuditRecord;
pub use client::{ClientConfig, ClientTunnel};
pub use frame::{FrameError, McpMessage, McpResponse, ResultCode, Signed, payload_hash};
pub use server::{ServerConfig, ServerTunnel};
pub use tunnel::{Output, TunnelError};

/// The primitives this crate is built on, re-exported so that a program using only this
/// crate can name them.
pub use talos_crypto as crypto;

/// The capability layer the server side enforces with.
pub use talos_acl as acl;

/// The ledger whose entries audit records become.
pub use talos_ledger as ledger;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
