//! Audit records: one per access-controlled call that was answered, cancelled or denied,
//! emitted by the [`ServerTunnel`](crate::server::ServerTunnel) for the node to append to its
//! ledger.
//!
//! A record holds the request's and response's hashes, the decision and its reason, the
//! tool (or resource, or prompt) and the latency. Arguments and results are not in it unless
//! the tunnel was configured to record them ([`ServerConfig::record_plaintext`](crate::server::ServerConfig::record_plaintext)).
//! [`AuditRecord::to_tool_call`] makes the ledger's [`ToolCall`] body of it.

use talos_crypto::Timestamp;
use talos_ledger::entry::{
    Decision, EntryError, MAX_REASON_LEN, OptInPlaintext, ToolCall, is_tool_name,
};

use crate::frame::Hash;

/// One call, as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The tunnel session.
    pub session_id: String,
    /// The call's correlation id.
    pub correlation_id: String,
    /// The calling peer's DID.
    pub peer: String,
    /// The JSON-RPC method (`tools/call`, `resources/read`, `prompts/get`, ...).
    pub method: String,
    /// What it acted on: the tool name, resource URI or prompt name.
    pub target: String,
    /// [`payload_hash`](crate::frame::payload_hash) of the request.
    pub request_hash: Hash,
    /// [`payload_hash`](crate::frame::payload_hash) of the response the peer got, if any.
    pub response_hash: Option<Hash>,
    /// Forwarded, or refused.
    pub decision: Decision,
    /// Why: the capability that allowed it, or the denial code and its explanation.
    pub reason: String,
    /// From the request's arrival to its answer, in microseconds (at the resolution of the
    /// caller's clock).
    pub latency_us: u64,
    /// When the record was made.
    pub at: Timestamp,
    /// The arguments and result in clear, only when configured.
    pub plaintext: Option<OptInPlaintext>,
}

impl AuditRecord {
    /// The ledger body for this record. The ledger's `tool` member holds an MCP tool name:
    /// for a `tools/call` of a well-formed name, that name; otherwise the method with `/`
    /// written as `.` (`resources.read`), and the target leads the reason. A reason longer
    /// than the ledger allows is cut at a character boundary.
    ///
    /// # Errors
    /// [`EntryError`] if the ledger refuses the body (a latency beyond 2^53 − 1).
    pub fn to_tool_call(&self) -> Result<ToolCall, EntryError> {
        let (tool, reason) = if self.method == "tools/call" && is_tool_name(&self.target) {
            (self.target.clone(), self.reason.clone())
        } else {
            (
                self.method.replace('/', "."),
                format!("{}: {}", self.target, self.reason),
            )
        };
        let tool = if is_tool_name(&tool) {
            tool
        } else {
            "mcp".to_owned()
        };
        let call = ToolCall::new(
            tool,
            self.request_hash,
            self.response_hash,
            self.decision,
            truncate(reason, MAX_REASON_LEN),
            self.latency_us,
        )?;
        Ok(match &self.plaintext {
            Some(p) => call.with_opt_in_plaintext(p.clone()),
            None => call,
        })
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
