//! MCP through the node: the process side of the talos-mcp tunnels.
//!
//! - [`serve`] runs an MCP server process (newline-delimited JSON-RPC on its stdin and stdout)
//!   behind a [`ServerTunnel`]: the peer's packets go in, what the tunnel allows goes to the
//!   process, the process's answers go back to the peer as signed replies, and each call's
//!   audit record comes out as an [`McpEvent::Audit`]. The process is restarted, with backoff,
//!   if it exits.
//! - [`connect`] faces an MCP client over any pair of byte streams (the `talos mcp-connect`
//!   process's own stdin and stdout) with a [`ClientTunnel`].
//!
//! Both exchange packets with the other end through a [`PeerLink`]: two channels, which the
//! node connects to the peer ([`Node::mcp_link`], [`Node::mcp_accept`]: the network's MCP
//! lane, over libp2p connections whose Noise handshake authenticates the peer's `did:key`) or,
//! in a test, [`link_pair`] connects back to back. [`serve_peers`] and [`connect_peer`] do that
//! for `talos mcp-serve` and `talos mcp-connect`. The tunnels decide everything; this module
//! only moves lines and packets and reads the clock.
//!
//! Lines are bounded: a line longer than [`MAX_LINE_BYTES`] is cut at that bound and handed to
//! the tunnel, which refuses it (and answers the client where it can); the rest of it is
//! skipped.

use core::future::Future;
use core::time::Duration;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use talos_crypto::Timestamp;
use talos_did::DidKey;
use talos_mcp::acl::guard::Guard;
use talos_mcp::acl::policy::Policy;
use talos_mcp::acl::rate::RateConfig;
use talos_mcp::acl::token::CapabilityToken;
use talos_mcp::jsonrpc::MAX_LINE_BYTES;
use talos_mcp::{
    AuditRecord, ClientConfig, ClientTunnel, Output, ServerConfig, ServerTunnel, TunnelError,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, watch};

use crate::node::{Node, NodeError};
use crate::now;

/// Why an MCP tunnel stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The MCP server process could not be started.
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The process exited more often than [`ServerProcess::max_restarts`] allows in a row.
    #[error("the MCP server exited {0} times in a row; giving up")]
    Restarts(u32),
    /// Reading from or writing to the local side failed.
    #[error("local stream: {0}")]
    Io(#[from] std::io::Error),
    /// The node failed (the peer cannot be reached, the ledger refused an entry).
    #[error("node: {0}")]
    Node(#[from] NodeError),
    /// Not a DID with an Ed25519 key.
    #[error("{0} is not an Ed25519 did:key")]
    BadDid(String),
    /// The tunnel's policy does not parse.
    #[error("policy: {0}")]
    Policy(String),
    /// [`Node::mcp_accept`] was taken already.
    #[error("this node already serves MCP sessions")]
    AlreadyServing,
}

/// Something a running tunnel reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum McpEvent {
    /// A call's (or a denial's) audit record, for the ledger.
    Audit(Box<AuditRecord>),
    /// An input the tunnel refused (a forged, replayed or malformed packet, a bad line). Where
    /// the sender could be answered, it was.
    Refused(TunnelError),
    /// The MCP server process started.
    Started {
        /// Its process id.
        pid: Option<u32>,
    },
    /// The MCP server process exited; it will be restarted.
    Exited {
        /// Its exit status, if it could be read.
        status: Option<std::process::ExitStatus>,
    },
}

/// The two directions of packets between a tunnel and its other end.
#[derive(Debug)]
pub struct PeerLink {
    /// Packets for the other end.
    pub to_peer: mpsc::Sender<Vec<u8>>,
    /// Packets from the other end; the tunnel stops when this closes.
    pub from_peer: mpsc::Receiver<Vec<u8>>,
}

/// Two links joined back to back: what one sends, the other receives.
#[must_use]
pub fn link_pair(capacity: usize) -> (PeerLink, PeerLink) {
    let (a_tx, b_rx) = mpsc::channel(capacity);
    let (b_tx, a_rx) = mpsc::channel(capacity);
    (
        PeerLink {
            to_peer: a_tx,
            from_peer: a_rx,
        },
        PeerLink {
            to_peer: b_tx,
            from_peer: b_rx,
        },
    )
}

/// The MCP server process [`serve`] runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerProcess {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The first wait before a restart; it doubles with each exit in a row, up to 5 s.
    pub restart_backoff: Duration,
    /// How many exits in a row (each within a minute of its start) end the tunnel.
    pub max_restarts: u32,
}

impl ServerProcess {
    /// `program` with `args`, restarted after 100 ms (doubling), at most 5 times in a row.
    #[must_use]
    pub fn new(program: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            program: program.into(),
            args,
            restart_backoff: Duration::from_millis(100),
            max_restarts: 5,
        }
    }

    /// Splits a command line on whitespace (no shell quoting): the first word is the program.
    /// `None` for an empty line.
    #[must_use]
    pub fn from_command_line(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace().map(str::to_owned);
        let program = words.next()?;
        Some(Self::new(program, words.collect()))
    }

    fn spawn(&self) -> Result<(Child, ChildStdin, ChildStdout), McpError> {
        let spawn_error = |source| McpError::Spawn {
            program: self.program.clone(),
            source,
        };
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let missing = || spawn_error(std::io::Error::other("no stdio pipe"));
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        Ok((child, stdin, stdout))
    }
}

/// Runs `process` behind `tunnel` until the peer's side of `link` closes or `shutdown`
/// resolves; then the process is killed. `guard` may be shared by every tunnel of a node.
///
/// # Errors
/// [`McpError::Spawn`] when the process cannot be started, [`McpError::Restarts`] when it
/// keeps exiting. Refused packets and lines are reported as events, not errors.
pub async fn serve(
    mut tunnel: ServerTunnel,
    guard: Arc<Mutex<Guard>>,
    process: ServerProcess,
    mut link: PeerLink,
    events: mpsc::Sender<McpEvent>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), McpError> {
    tokio::pin!(shutdown);
    let mut exits = 0_u32;
    'process: loop {
        let (mut child, mut stdin, stdout) = process.spawn()?;
        let started = tokio::time::Instant::now();
        let _ = events.send(McpEvent::Started { pid: child.id() }).await;
        let mut lines = LineReader::new(BufReader::new(stdout));
        loop {
            tokio::select! {
                () = &mut shutdown => break 'process,
                packet = link.from_peer.recv() => {
                    let Some(packet) = packet else { break 'process };
                    let result = {
                        let mut guard = guard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        tunnel.handle_peer(&packet, &mut guard, now())
                    };
                    report(result, &events).await;
                }
                line = lines.next() => match line {
                    Ok(Some(line)) => {
                        let result = {
                            let mut guard = guard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            tunnel.handle_local(&line, &mut guard, now())
                        };
                        report(result, &events).await;
                    }
                    Ok(None) | Err(_) => break,
                },
            }
            if drain(|| tunnel.poll_output(), &mut stdin, &link, &events)
                .await
                .is_err()
            {
                // The process's stdin is closed: it is exiting.
                break;
            }
        }
        let status = child.wait().await.ok();
        let _ = events.send(McpEvent::Exited { status }).await;
        exits = if started.elapsed() > Duration::from_secs(60) {
            1
        } else {
            exits.saturating_add(1)
        };
        if exits > process.max_restarts {
            return Err(McpError::Restarts(exits));
        }
        let backoff = process
            .restart_backoff
            .saturating_mul(1 << exits.saturating_sub(1).min(16))
            .min(Duration::from_secs(5));
        tokio::select! {
            () = &mut shutdown => break 'process,
            () = tokio::time::sleep(backoff) => {}
        }
    }
    Ok(())
}

/// Moves a tunnel's outputs (`next` polls them): lines to the local process, packets to the
/// peer, audit records out. An error means the local stream is closed.
async fn drain(
    mut next: impl FnMut() -> Option<Output>,
    local: &mut (impl AsyncWrite + Unpin),
    link: &PeerLink,
    events: &mpsc::Sender<McpEvent>,
) -> std::io::Result<()> {
    let mut wrote = false;
    while let Some(output) = next() {
        match output {
            Output::Local(mut line) => {
                line.push(b'\n');
                local.write_all(&line).await?;
                wrote = true;
            }
            Output::Peer(packet) => {
                // A closed link ends the tunnel at its next receive.
                let _ = link.to_peer.send(packet).await;
            }
            Output::Audit(record) => {
                let _ = events.send(McpEvent::Audit(record)).await;
            }
            _ => {}
        }
    }
    if wrote {
        local.flush().await?;
    }
    Ok(())
}

/// Faces an MCP client that writes requests to `input` and reads answers from `output`,
/// until the client closes `input`, the peer's side of `link` closes, or `shutdown` resolves.
///
/// # Errors
/// [`McpError::Io`] when writing to `output` fails.
pub async fn connect<R, W>(
    mut tunnel: ClientTunnel,
    input: R,
    mut output: W,
    mut link: PeerLink,
    events: mpsc::Sender<McpEvent>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), McpError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    tokio::pin!(shutdown);
    let mut lines = LineReader::new(input);
    loop {
        let deadline = tunnel.poll_timeout().map(instant_of);
        tokio::select! {
            () = &mut shutdown => break,
            line = lines.next() => match line? {
                Some(line) => report(tunnel.handle_local(&line, now()), &events).await,
                None => break,
            },
            packet = link.from_peer.recv() => {
                let Some(packet) = packet else { break };
                report(tunnel.handle_peer(&packet, now()), &events).await;
            }
            () = sleep_until(deadline) => tunnel.handle_timeout(now()),
        }
        drain(|| tunnel.poll_output(), &mut output, &link, &events).await?;
    }
    Ok(())
}

async fn report(result: Result<(), TunnelError>, events: &mpsc::Sender<McpEvent>) {
    if let Err(refused) = result {
        tracing::debug!(%refused, "mcp tunnel refused an input");
        let _ = events.send(McpEvent::Refused(refused)).await;
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => core::future::pending().await,
    }
}

/// The tokio instant of a wall-clock timestamp (now, if it has passed).
fn instant_of(at: Timestamp) -> tokio::time::Instant {
    let wait = at.duration_since(now()).unwrap_or_default();
    tokio::time::Instant::now() + wait
}

/// Reads newline-terminated lines of at most [`MAX_LINE_BYTES`] (see the module docs).
struct LineReader<R> {
    reader: R,
    line: Vec<u8>,
    /// Skipping the rest of a line that was cut.
    skipping: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            line: Vec::new(),
            skipping: false,
        }
    }

    /// The next line without its `\n` (a cut one is [`MAX_LINE_BYTES`] + 1 bytes long), or
    /// `None` at the end of the stream. Cancel-safe: a partly read line is kept for the next
    /// call.
    async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                // End of stream: a last line without a newline still counts.
                if self.line.is_empty() || self.skipping {
                    self.skipping = false;
                    self.line.clear();
                    return Ok(None);
                }
                return Ok(Some(core::mem::take(&mut self.line)));
            }
            let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
                Some(at) => (buf.get(..at).unwrap_or_default(), Some(at)),
                None => (buf, None),
            };
            let used = found.map_or(chunk.len(), |at| at + 1);
            if !self.skipping {
                let room = (MAX_LINE_BYTES + 1).saturating_sub(self.line.len());
                self.line
                    .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            }
            self.reader.consume(used);
            if found.is_some() {
                if self.skipping {
                    self.skipping = false;
                    continue;
                }
                return Ok(Some(core::mem::take(&mut self.line)));
            }
            if !self.skipping && self.line.len() > MAX_LINE_BYTES {
                self.skipping = true;
                return Ok(Some(core::mem::take(&mut self.line)));
            }
        }
    }
}

/// The Ed25519 key of a `did:key`.
fn key_of(did: &str) -> Result<talos_crypto::VerifyingKey, McpError> {
    did.parse::<DidKey>()
        .ok()
        .and_then(|d| d.ed25519().copied())
        .ok_or_else(|| McpError::BadDid(did.to_owned()))
}

/// Serves `process` to the peers in `allow` (their DIDs) that start MCP sessions with `node`,
/// until `shutdown` resolves: one [`ServerTunnel`] and one process per peer session, every
/// audit record appended to the node's ledger (and passed on to `events`, if given). The
/// capabilities revoked in the node's store are refused (reread every second). `rate`
/// limits each peer's calls (`RateConfig::default()`: 100/s, bursts of 10). Tunnels
/// honour capabilities the node issued ([`ServerConfig::capability_issuer`]); the policy lets
/// each allowed peer call every tool, resource and prompt, so the capability decides. Packets
/// reach the tunnels through the node's MCP lane, whose connections authenticate the peer, so
/// signatures are not verified twice (`verify_signatures` off).
///
/// # Errors
/// [`McpError::AlreadyServing`], [`McpError::BadDid`] for a DID in `allow`.
pub async fn serve_peers(
    node: &Node,
    process: ServerProcess,
    allow: &[String],
    rate: RateConfig,
    events: Option<mpsc::Sender<McpEvent>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), McpError> {
    let mut peers = Vec::with_capacity(allow.len());
    let mut policy = String::from("default_allow = false\n");
    for did in allow {
        let key = key_of(did)?;
        let did = DidKey::Ed25519(key).to_string();
        policy.push_str(&format!(
            "[peers.\"{did}\"]\nallow_tools = [\"*\"]\nallow_resources = [\"**\"]\n"
        ));
        peers.push((did, key));
    }
    let policy = Policy::from_toml(&policy).map_err(|e| McpError::Policy(e.to_string()))?;
    let guard = Arc::new(Mutex::new(Guard::new(policy, rate)));
    let mut accept = node.mcp_accept().ok_or(McpError::AlreadyServing)?;
    let (audit_tx, mut audit_rx) = mpsc::channel(256);
    let (stop, stopped) = watch::channel(false);
    let mut tunnels = tokio::task::JoinSet::new();
    // The first tick is at once: the store's revocations are in the guard before any session.
    let mut revocations = tokio::time::interval(REVOCATIONS_EVERY);
    revocations.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    revocations.tick().await;
    load_revocations(node, &guard);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = revocations.tick() => load_revocations(node, &guard),
            accepted = accept.recv() => {
                let Some((did, link)) = accepted else { break };
                let Some((_, key)) = peers.iter().find(|(d, _)| *d == did) else {
                    tracing::info!(%did, "mcp session of a peer not allowed: refused");
                    continue;
                };
                let mut config = ServerConfig::new(node.signing_key().clone(), *key);
                config.verify_signatures = false;
                let mut stopped = stopped.clone();
                tunnels.spawn(serve(
                    ServerTunnel::new(config),
                    Arc::clone(&guard),
                    process.clone(),
                    link,
                    audit_tx.clone(),
                    async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    },
                ));
            }
            event = audit_rx.recv() => {
                if let Some(event) = event {
                    record(node, event, events.as_ref()).await;
                }
            }
            Some(ended) = tunnels.join_next() => match ended {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "mcp tunnel ended"),
                Err(error) => tracing::warn!(%error, "mcp tunnel task failed"),
            },
        }
    }
    let _ = stop.send(true);
    drop(audit_tx);
    while tunnels.join_next().await.is_some() {}
    while let Some(event) = audit_rx.recv().await {
        record(node, event, events.as_ref()).await;
    }
    Ok(())
}

/// How often [`serve_peers`] rereads the node's revocations: `talos cap revoke` run against
/// the serving node takes effect within this.
const REVOCATIONS_EVERY: Duration = Duration::from_secs(1);

/// Puts every capability revoked in the node's store into `guard` (the operator revoked them:
/// their sessions are refused from their next request).
fn load_revocations(node: &Node, guard: &Mutex<Guard>) {
    let revoked = match node.store().revocations() {
        Ok(revoked) => revoked,
        Err(error) => {
            tracing::error!(%error, "revocations not read");
            return;
        }
    };
    let mut guard = guard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (hash, _) in revoked {
        match guard.revoke_hash(hash) {
            Ok(true) => {
                tracing::info!(capability = %talos_crypto::hash::to_hex(&hash), "capability revoked")
            }
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "revocation not applied"),
        }
    }
}

/// Appends an audit record to the node's ledger and passes the event on.
async fn record(node: &Node, event: McpEvent, events: Option<&mpsc::Sender<McpEvent>>) {
    if let McpEvent::Audit(audit) = &event
        && let Err(error) = node.append_audit(audit)
    {
        tracing::error!(%error, "audit record not appended to the ledger");
    }
    if let Some(events) = events {
        let _ = events.send(event).await;
    }
}

/// Faces an MCP client on `input` / `output` with a [`ClientTunnel`] to the MCP server `peer`
/// (a DID) serves through its node, presenting `capability`; until the client closes `input`
/// or `shutdown` resolves. As in [`serve_peers`], frames are not verified twice.
///
/// # Errors
/// [`McpError::BadDid`], [`McpError::Node`] when the peer cannot be reached,
/// [`McpError::Io`].
pub async fn connect_peer<R, W>(
    node: &Node,
    peer: &str,
    capability: CapabilityToken,
    input: R,
    output: W,
    shutdown: impl Future<Output = ()>,
) -> Result<(), McpError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let server_key = key_of(peer)?;
    let link = node.mcp_link(peer).await?;
    let mut session = [0_u8; 16];
    getrandom::fill(&mut session)
        .map_err(|e| McpError::Io(std::io::Error::other(e.to_string())))?;
    let mut config = ClientConfig::new(session, node.signing_key().clone(), server_key, capability);
    config.verify_signatures = false;
    config.request_timeout = Duration::from_secs(120);
    let (events, mut reports) = mpsc::channel(64);
    let logged = async move {
        while let Some(event) = reports.recv().await {
            if let McpEvent::Refused(error) = event {
                tracing::warn!(%error, "mcp tunnel refused an input");
            }
        }
    };
    let (result, ()) = tokio::join!(
        connect(
            ClientTunnel::new(config),
            input,
            output,
            link,
            events,
            shutdown
        ),
        logged
    );
    result
}

/// A minimal MCP server over newline-delimited JSON-RPC (2025-11-25), for `talos demo` and
/// the node benchmark: it answers `initialize`, lists two tools — `echo` (returns its
/// `message`) and `delete_everything` (which deletes nothing: it only says it would) — answers
/// `tools/call` of them, `ping` and anything else with an empty result, and ignores
/// notifications. Runs until `input` ends.
///
/// # Errors
/// When reading `input` or writing `output` fails.
pub fn run_demo_server(
    input: impl std::io::BufRead,
    mut output: impl std::io::Write,
) -> std::io::Result<()> {
    use talos_crypto::json::{self, Map, Value};
    for line in input.lines() {
        let line = line?;
        let Ok(message) = json::parse(line.as_bytes()) else {
            continue;
        };
        let Some(id) = message.get("id") else {
            continue;
        };
        let params = message.get("params");
        let text = |t: String| {
            format!(
                r#"{{"content":[{{"type":"text","text":{}}}],"isError":false}}"#,
                Value::String(t).to_canonical_string()
            )
        };
        let result = match message.get("method").and_then(Value::as_str) {
            Some("initialize") => r#"{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"talos-demo-tools","version":"1"}}"#.to_owned(),
            Some("tools/list") => r#"{"tools":[{"name":"echo","description":"Echo a message back.","inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}},{"name":"delete_everything","description":"Would delete everything (does nothing).","inputSchema":{"type":"object"}}]}"#.to_owned(),
            Some("tools/call") => {
                let name = params.and_then(|p| p.get("name")).and_then(Value::as_str);
                let arguments = params.and_then(|p| p.get("arguments"));
                match name {
                    Some("echo") => text(format!(
                        "echo: {}",
                        arguments
                            .and_then(|a| a.get("message"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    )),
                    Some("delete_everything") => text("everything would be deleted now".into()),
                    _ => r#"{"content":[{"type":"text","text":"no such tool"}],"isError":true}"#.to_owned(),
                }
            }
            _ => Value::Object(Map::new()).to_canonical_string(),
        };
        writeln!(
            output,
            r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
            id.to_canonical_string()
        )?;
        output.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    async fn lines(input: &[u8]) -> Vec<Vec<u8>> {
        let mut reader = LineReader::new(BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        while let Some(line) = reader.next().await.unwrap() {
            out.push(line);
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_and_bounded() {
        assert_eq!(
            lines(b"{\"a\":1}\n\n{\"b\":22}\nlast").await,
            vec![
                b"{\"a\":1}".to_vec(),
                Vec::new(),
                b"{\"b\":22}".to_vec(),
                b"last".to_vec()
            ]
        );
        let mut long = vec![b'x'; MAX_LINE_BYTES + 10];
        long.extend_from_slice(b"\nnext\n");
        let got = lines(&long).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE_BYTES + 1);
        assert_eq!(got[1], b"next");
        let exact = vec![b'y'; MAX_LINE_BYTES];
        assert_eq!(lines(&exact).await, vec![exact]);
    }
}
