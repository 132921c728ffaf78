//! The `talos` command line: clap definitions and the commands.
//!
//! Every command works on one data directory (`--data-dir`, else `$TALOS_HOME`, else the
//! platform data directory: `$XDG_DATA_HOME/talos` or `~/.local/share/talos` on Linux). The
//! commands that read only the store (`id`, `peers`, `status`, `history`, `cap`, `ledger`)
//! cannot run while a `talos listen` holds the directory (there is no control socket yet).
//! `--json` prints one JSON document (for `listen`, one JSON line per received message).
//! Logs go to stderr, filtered by `RUST_LOG` (default `warn`).

pub(crate) mod cap;
pub(crate) mod control;
pub(crate) mod demo;
pub(crate) mod ledger;

use core::future::Future;
use core::net::SocketAddr;
use core::time::Duration;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use libp2p::Multiaddr;
use talos_crypto::json::{Map, Number, Value};
use talos_crypto::key_file::KdfParams;
use talos_crypto::{KeyFile, SigningKey, Zeroizing};
use talos_did::Did;
use talos_mcp::acl::rate::RateConfig;
use talos_mcp::acl::token::CapabilityToken;
use talos_node::identity::{self, Identity, Protection};
use talos_node::mcp::{self, ServerProcess};
use talos_node::metrics::Metrics;
use talos_node::node::{self, NodeBuilder, NodeConfig, NodeError, NodeEvent};
use talos_node::store::{Direction, HistoryEntry, Status, Store, StoreError};
use talos_node::{net, now};

/// The environment variable that names the data directory.
pub(crate) const HOME_ENV: &str = "TALOS_HOME";

/// The file in the data directory that holds the node's name (`talos init --name`).
const NAME_FILE: &str = "name";

/// The longest name accepted, in bytes.
const MAX_NAME_LEN: usize = 64;

/// Exit code of `send` when no receipt came in time (the message stays queued).
const NOT_DELIVERED: u8 = 3;

/// `talos`: a Talos node and its tools.
#[derive(Parser, Debug)]
#[command(
    name = "talos",
    version,
    about = "Talos: end-to-end encrypted messaging between agents"
)]
pub(crate) struct Cli {
    /// The data directory [default: $TALOS_HOME, else the platform data directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create this node's identity (prints its DID). The key is encrypted with
    /// $TALOS_PASSPHRASE, or a passphrase asked on the terminal.
    Init {
        /// A name for this node (shown by `status`).
        #[arg(long)]
        name: Option<String>,
        /// Store the key without a passphrase (anyone who can read the data directory can
        /// impersonate the node).
        #[arg(long)]
        no_passphrase: bool,
    },
    /// Print this node's DID.
    Id,
    /// Run the node in the foreground: print incoming messages until SIGINT or SIGTERM.
    Listen {
        /// Addresses to listen on, e.g. /ip4/0.0.0.0/tcp/4001.
        #[arg(long = "listen", value_name = "MULTIADDR", required = true, num_args = 1..)]
        listen: Vec<Multiaddr>,
        #[command(flatten)]
        foreground: ForegroundArgs,
    },
    /// Send a text message and wait for the peer's signed receipt.
    Send {
        /// Peers to join the network through (ending in /p2p/PEER_ID).
        #[arg(long, value_name = "MULTIADDR")]
        bootstrap: Vec<Multiaddr>,
        /// Seconds to wait for the receipt; without one the message stays queued.
        #[arg(long, value_name = "S", default_value_t = 30)]
        timeout: u64,
        /// The peer's DID.
        did: String,
        /// The message.
        text: String,
    },
    /// Send a file (hashed, chunked, encrypted through the session, resumed after a cut) and
    /// wait until the peer has it whole, its BLAKE3 hash checked.
    SendFile {
        /// Peers to join the network through (ending in /p2p/PEER_ID).
        #[arg(long, value_name = "MULTIADDR")]
        bootstrap: Vec<Multiaddr>,
        /// Give up when no chunk was acknowledged for this many seconds.
        #[arg(long, value_name = "S", default_value_t = 30)]
        timeout: u64,
        /// The peer's DID.
        did: String,
        /// The file.
        path: PathBuf,
    },
    /// List the peers this node has a session with.
    Peers,
    /// Print this node's DID, name, data directory and counts.
    Status,
    /// Print the message history, oldest first.
    History {
        /// Only the messages exchanged with this DID.
        #[arg(long, value_name = "DID")]
        peer: Option<String>,
    },
    /// Capability tokens: issue, delegate, revoke, show.
    #[command(subcommand)]
    Cap(cap::CapCommand),
    /// The audit ledger: checkpoint, prove, verify, export.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Serve an MCP server process to authorized peers through Talos tunnels, until SIGINT or
    /// SIGTERM. Each peer session gets its own process; every call and denial is recorded in
    /// the ledger.
    McpServe {
        /// The peers allowed to use the server (their capabilities, issued by this node with
        /// `talos cap issue`, say which tools).
        #[arg(long = "allow-peer", value_name = "DID", required = true, num_args = 1..)]
        allow_peer: Vec<String>,
        /// The MCP server's command line (split on whitespace, no shell), e.g.
        /// "node server.js stdio".
        #[arg(long, value_name = "CMD ARGS")]
        command: String,
        /// Addresses to listen on [default: /ip4/127.0.0.1/tcp/0].
        #[arg(long = "listen", value_name = "MULTIADDR", num_args = 1..)]
        listen: Vec<Multiaddr>,
        #[command(flatten)]
        foreground: ForegroundArgs,
    },
    /// Run a local network of three nodes in this process and print what they do: discovery,
    /// an X3DH session, messages, MCP calls allowed and denied, ledger proofs checked by a
    /// light client.
    Demo,
    /// The demo's MCP tool server on stdin/stdout (started by `talos demo`).
    #[command(hide = true)]
    DemoToolServer,
    /// Be an MCP server on stdin/stdout for an MCP client (e.g. in a desktop agent's
    /// configuration), tunnelled to the MCP server PEER serves with `talos mcp-serve`.
    McpConnect {
        /// The serving node: its DID, or its multiaddr ending in /p2p/PEER_ID.
        peer: String,
        /// The capability PEER issued to this node (`talos cap issue --out FILE` there).
        #[arg(long, value_name = "FILE")]
        capability: PathBuf,
        /// Peers to join the network through (ending in /p2p/PEER_ID).
        #[arg(long, value_name = "MULTIADDR")]
        bootstrap: Vec<Multiaddr>,
    },
}

/// The options of a node running in the foreground (`listen`, `mcp-serve`).
#[derive(clap::Args, Debug)]
pub(crate) struct ForegroundArgs {
    /// Peers to join the network through (ending in /p2p/PEER_ID).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<Multiaddr>,
    /// Write the first listen address, with /p2p/PEER_ID, to FILE once listening.
    #[arg(long, value_name = "FILE")]
    port_file: Option<PathBuf>,
    /// Serve /health/live, /health/ready and Prometheus /metrics on ADDR (e.g.
    /// 127.0.0.1:9090).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

/// A command's failure: what to print on stderr, and the exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    /// The message (one line, no secret).
    pub message: String,
    /// The process exit code (not 0).
    pub code: u8,
}

impl CliError {
    /// A failure with exit code 1.
    #[must_use]
    #[allow(clippy::new_ret_no_self)]
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// A failure with its own exit code.
    #[must_use]
    pub(crate) fn with_code(message: impl Into<String>, code: u8) -> Self {
        Self {
            message: message.into(),
            code: code.max(1),
        }
    }
}

impl core::fmt::Display for CliError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl core::error::Error for CliError {}

/// `From` the error types the commands meet: their message, exit code 1.
macro_rules! from_errors {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for CliError {
            fn from(error: $error) -> Self {
                Self::new(error.to_string())
            }
        }
    )*};
}
from_errors!(
    StoreError,
    NodeError,
    identity::IdentityError,
    net::NetError,
    std::io::Error,
);

/// Parses the arguments, runs the command, and turns the outcome into the exit code.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("talos: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(run(cli, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("talos: {}", error.message);
            ExitCode::from(error.code)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,libp2p_kad=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs one command, writing its result to `out`.
async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let dir = data_dir(cli.data_dir)?;
    let json = cli.json;
    match cli.command {
        Command::Init {
            name,
            no_passphrase,
        } => init(&dir, name.as_deref(), no_passphrase, json, out),
        Command::Listen { listen, foreground } => {
            let serving = Foreground::start(&dir, listen, foreground).await?;
            run_listen(serving, json, out).await
        }
        Command::Send {
            bootstrap,
            timeout,
            did,
            text,
        } => {
            if open_unless_locked(&dir)?.is_none() {
                return control::forward(&dir, out).await;
            }
            let payload = Payload::Text(&text);
            send(&dir, bootstrap, timeout, &did, payload, json, out).await
        }
        Command::SendFile {
            bootstrap,
            timeout,
            did,
            path,
        } => {
            if open_unless_locked(&dir)?.is_none() {
                return control::forward(&dir, out).await;
            }
            let payload = Payload::File(&path);
            send(&dir, bootstrap, timeout, &did, payload, json, out).await
        }
        command @ (Command::Id
        | Command::Peers
        | Command::Status
        | Command::History { .. }
        | Command::Cap(_)
        | Command::Ledger(_)) => match open_unless_locked(&dir)? {
            Some(store) => stored(command, &store, None, &dir, json, out).await,
            // A running node holds the directory: it runs the command.
            None => control::forward(&dir, out).await,
        },
        Command::McpServe {
            allow_peer,
            command,
            mut listen,
            foreground,
        } => {
            if listen.is_empty() {
                listen.push(default_listen()?);
            }
            let serving = Foreground::start(&dir, listen, foreground).await?;
            mcp_serve(serving, &allow_peer, &command).await
        }
        Command::McpConnect {
            peer,
            capability,
            bootstrap,
        } => mcp_connect(&dir, &peer, &capability, bootstrap).await,
        Command::Demo => demo::run(out).await,
        Command::DemoToolServer => mcp::run_demo_server(std::io::stdin().lock(), std::io::stdout())
            .map_err(|e| CliError::new(format!("demo tool server: {e}"))),
    }
}

async fn mcp_serve(serving: Foreground, allow: &[String], command: &str) -> Result<(), CliError> {
    let process = ServerProcess::from_command_line(command)
        .ok_or_else(|| CliError::new("--command is empty"))?;
    let allow = allow
        .iter()
        .map(|did| canonical_did(did))
        .collect::<Result<Vec<_>, _>>()?;
    let node = &serving.node;
    let (events, mut audits) = tokio::sync::mpsc::channel(256);
    let counted = async {
        while let Some(event) = audits.recv().await {
            if let (mcp::McpEvent::Audit(record), Some(metrics)) = (&event, &serving.metrics) {
                match record.decision {
                    talos_mcp::ledger::entry::Decision::Allow => metrics.mcp_allowed.inc(),
                    _ => metrics.mcp_denied.inc(),
                }
            }
        }
    };
    let served = mcp::serve_peers(
        node,
        process,
        &allow,
        RateConfig::default(),
        Some(events),
        stop_signal()?,
    );
    let result = serving.run(async { tokio::join!(served, counted) }).await;
    serving.shutdown().await;
    let (served, ()) = result?;
    served.map_err(|e| CliError::new(format!("mcp-serve: {e}")))
}

async fn mcp_connect(
    dir: &Path,
    peer: &str,
    capability: &Path,
    bootstrap: Vec<Multiaddr>,
) -> Result<(), CliError> {
    let token = std::fs::read(capability)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", capability.display())))?;
    let token = CapabilityToken::from_json(&token)
        .map_err(|e| CliError::new(format!("{} is not a capability: {e}", capability.display())))?;
    let mut config = NodeConfig::default();
    config.publish = false;
    let node = build_node(dir, vec![default_listen()?], bootstrap, config).await?;
    // PEER is a DID, or the multiaddr of its node: dial it, and its key is its DID.
    let did = if let Ok(addr) = peer.parse::<Multiaddr>() {
        let peer_id = node.network().dial(addr).await?;
        net::did_of(&peer_id)
            .map(|d| d.to_string())
            .ok_or_else(|| CliError::new(format!("{peer} is not a Talos node's address")))?
    } else {
        canonical_did(peer)?
    };
    if token.subject() != node.did() {
        eprintln!(
            "warning: the capability in {} was issued to {}, not to this node ({})",
            capability.display(),
            token.subject(),
            node.did()
        );
    }
    let mut terminate = terminate_signal()?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate.wait() => {}
        }
    };
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let result = mcp::connect_peer(&node, &did, token, stdin, tokio::io::stdout(), stop).await;
    node.shutdown().await;
    result.map_err(|e| CliError::new(format!("mcp-connect: {e}")))
}

fn default_listen() -> Result<Multiaddr, CliError> {
    "/ip4/127.0.0.1/tcp/0"
        .parse()
        .map_err(|_| CliError::new("bad default address"))
}

// --- the data directory ---

/// `--data-dir`, else `$TALOS_HOME`, else the platform data directory.
fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    platform_data_dir()
        .map(|d| d.join("talos"))
        .ok_or_else(|| CliError::new("no data directory: pass --data-dir or set TALOS_HOME"))
}

#[cfg(target_os = "macos")]
fn platform_data_dir() -> Option<PathBuf> {
    home().map(|h| h.join("Library/Application Support"))
}

#[cfg(windows)]
fn platform_data_dir() -> Option<PathBuf> {
    std::env::var_os("APPDATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[cfg(not(any(target_os = "macos", windows)))]
fn platform_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home().map(|h| h.join(".local/share")))
}

#[cfg(not(windows))]
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Opens the store of an initialised data directory, saying what to do when there is none
/// or another process holds it.
fn open(dir: &Path) -> Result<Store, CliError> {
    if !dir.join(talos_node::store::DB_FILE).is_file() {
        return Err(CliError::new(format!(
            "no talos node in {}: run `talos init` first (or pass --data-dir)",
            dir.display()
        )));
    }
    create(dir)
}

/// Runs a command that reads or changes the node's state on `store` — the command's own, or
/// the running node's (then `key` is its key; else the key file is opened when needed).
async fn stored(
    command: Command,
    store: &Store,
    key: Option<&SigningKey>,
    dir: &Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let signing_key = || key.map_or_else(|| load_key(store, dir), |key| Ok(key.clone()));
    match command {
        Command::Id => {
            let file = key_file(store, dir)?;
            let did = Did::from(file.verifying_key()).to_string();
            if json {
                write_json(out, &object([("did", Value::from(did))]))
            } else {
                write_line(out, &did)
            }
        }
        Command::Peers => {
            let peers = store.sessions()?;
            if json {
                let list = peers
                    .into_iter()
                    .map(|did| object([("did", Value::from(did)), ("session", Value::Bool(true))]))
                    .collect();
                write_json(out, &Value::Array(list))
            } else if peers.is_empty() {
                write_line(out, "no peers yet")
            } else {
                for did in peers {
                    write_line(out, &did)?;
                }
                Ok(())
            }
        }
        Command::Status => status(store, dir, json, out),
        Command::History { peer } => {
            let peer = peer.map(|p| canonical_did(&p)).transpose()?;
            let history = store.history(peer.as_deref())?;
            print_history(&history, json, out)
        }
        Command::Cap(cmd) => {
            let key = signing_key()?;
            let ctx = cap::Ctx {
                key: &key,
                store,
                json,
                now: now(),
            };
            cap::run(cmd, &ctx, out)
        }
        Command::Ledger(cmd) => {
            let key = signing_key()?;
            let ctx = ledger::Ctx {
                key: &key,
                store,
                json,
                now: now(),
            };
            ledger::run(cmd, &ctx, out)
        }
        _ => Err(CliError::new("not a command on the node's state")),
    }
}

/// Runs a command that came through the control socket of the running `node`.
pub(crate) async fn on_node(
    cli: Cli,
    node: &node::Node,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let json = cli.json;
    match cli.command {
        Command::Send {
            timeout, did, text, ..
        } => {
            let limit = Duration::from_secs(timeout.max(1));
            let to = canonical_did(&did)?;
            deliver(node, &to, Payload::Text(&text), limit, json, out).await
        }
        Command::SendFile {
            timeout, did, path, ..
        } => {
            let limit = Duration::from_secs(timeout.max(1));
            let to = canonical_did(&did)?;
            deliver(node, &to, Payload::File(&path), limit, json, out).await
        }
        command @ (Command::Id
        | Command::Peers
        | Command::Status
        | Command::History { .. }
        | Command::Cap(_)
        | Command::Ledger(_)) => {
            stored(
                command,
                node.store(),
                Some(node.signing_key()),
                dir,
                json,
                out,
            )
            .await
        }
        _ => Err(CliError::new(
            "this command cannot run through a running node's control socket",
        )),
    }
}

/// The store, or `None` when a running node holds the directory.
fn open_unless_locked(dir: &Path) -> Result<Option<Store>, CliError> {
    if !dir.join(talos_node::store::DB_FILE).is_file() {
        return open(dir).map(Some);
    }
    match Store::open(dir) {
        Ok(store) => Ok(Some(store)),
        Err(StoreError::Locked(_)) => Ok(None),
        Err(other) => Err(CliError::new(format!(
            "cannot open {}: {other}",
            dir.display()
        ))),
    }
}

/// Opens (creating it if needed) the store, saying what to do when another process holds it.
fn create(dir: &Path) -> Result<Store, CliError> {
    Store::open(dir).map_err(|error| match error {
        StoreError::Locked(_) => CliError::new(format!(
            "{} is in use by a running talos node (e.g. `talos listen`); stop it first",
            dir.display()
        )),
        other => CliError::new(format!("cannot open {}: {other}", dir.display())),
    })
}

/// The stored key file, or an error that says to run `talos init`.
fn key_file(store: &Store, dir: &Path) -> Result<KeyFile, CliError> {
    store.identity()?.ok_or_else(|| {
        CliError::new(format!(
            "no identity in {}: run `talos init` first",
            dir.display()
        ))
    })
}

/// The passphrase for `file`: none for an unencrypted file, else [`passphrase`].
fn passphrase_for(file: &KeyFile) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
    if file.is_encrypted() {
        Ok(Some(passphrase(false)?))
    } else {
        Ok(None)
    }
}

/// The passphrase from `$TALOS_PASSPHRASE`, or else asked on the terminal when there is one
/// (twice when `new`, for a new key), without echo.
fn passphrase(new: bool) -> Result<Zeroizing<Vec<u8>>, CliError> {
    use std::io::IsTerminal as _;
    match identity::passphrase_from_env() {
        Err(identity::IdentityError::PassphraseNeeded) if std::io::stdin().is_terminal() => {
            let ask = |prompt: &str| {
                rpassword::prompt_password(prompt)
                    // The string's buffer becomes the zeroized vector: no other copy.
                    .map(|typed| Zeroizing::new(typed.into_bytes()))
                    .map_err(|error| CliError::new(format!("cannot read the passphrase: {error}")))
            };
            let typed = identity::checked_passphrase(ask("Passphrase for the identity key: ")?)?;
            if new && ask("The same passphrase again: ")? != typed {
                return Err(CliError::new("the passphrases differ"));
            }
            Ok(typed)
        }
        Err(identity::IdentityError::PassphraseNeeded) if new => Err(CliError::new(
            "set TALOS_PASSPHRASE (or run on a terminal) to encrypt the identity key, \
             or pass --no-passphrase to store it in clear",
        )),
        other => Ok(other?),
    }
}

/// The identity key stored in `store`, decrypted with `$TALOS_PASSPHRASE` if it needs one.
fn load_key(store: &Store, dir: &Path) -> Result<SigningKey, CliError> {
    let file = key_file(store, dir)?;
    let passphrase = passphrase_for(&file)?;
    let identity = Identity::from_key_file(&file, passphrase.as_deref().map(Vec::as_slice))?;
    Ok(identity.signing_key().clone())
}

// --- init, status ---

fn init(
    dir: &Path,
    name: Option<&str>,
    no_passphrase: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(name) = name
        && (name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control))
    {
        return Err(CliError::new(format!(
            "--name must be 1 to {MAX_NAME_LEN} bytes without control characters"
        )));
    }
    let passphrase = if no_passphrase {
        None
    } else {
        Some(passphrase(true)?)
    };
    let store = create(dir)?;
    if let Some(file) = store.identity()? {
        return Err(CliError::new(format!(
            "{} already has an identity: {}",
            dir.display(),
            Did::from(file.verifying_key())
        )));
    }
    let protection = match &passphrase {
        Some(passphrase) => Protection::Passphrase(passphrase, KdfParams::DEFAULT),
        None => {
            eprintln!("{}", identity::UNENCRYPTED_WARNING);
            Protection::Unencrypted
        }
    };
    let identity = node::init_identity(&store, protection)?;
    if let Some(name) = name {
        std::fs::write(dir.join(NAME_FILE), name)
            .map_err(|e| CliError::new(format!("cannot write the name: {e}")))?;
    }
    let did = identity.did().to_string();
    if json {
        let mut doc = Map::new();
        doc.insert("did".into(), Value::from(did));
        doc.insert("data_dir".into(), Value::from(dir.display().to_string()));
        doc.insert("encrypted".into(), Value::Bool(!no_passphrase));
        write_json(out, &Value::Object(doc))
    } else {
        write_line(out, &did)
    }
}

fn status(store: &Store, dir: &Path, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let file = key_file(store, dir)?;
    let did = Did::from(file.verifying_key()).to_string();
    let name = std::fs::read_to_string(dir.join(NAME_FILE)).ok();
    let sessions = store.sessions()?.len();
    let queued = store.queued()?.len();
    let history = store.history(None)?;
    let pending = history
        .iter()
        .filter(|e| e.status == Status::Pending)
        .count();
    if json {
        let mut doc = Map::new();
        doc.insert("did".into(), Value::from(did));
        doc.insert("name".into(), name.map_or(Value::Null, Value::from));
        doc.insert("data_dir".into(), Value::from(dir.display().to_string()));
        doc.insert("encrypted".into(), Value::Bool(file.is_encrypted()));
        doc.insert("sessions".into(), number(sessions));
        doc.insert("messages".into(), number(history.len()));
        doc.insert("pending".into(), number(pending));
        doc.insert("queued".into(), number(queued));
        write_json(out, &Value::Object(doc))
    } else {
        let text = format!(
            "did:       {did}\nname:      {}\ndata dir:  {}\nkey:       {}\nsessions:  {sessions}\n\
             messages:  {} ({pending} pending, {queued} queued)",
            name.as_deref().unwrap_or("-"),
            dir.display(),
            if file.is_encrypted() {
                "encrypted"
            } else {
                "NOT encrypted"
            },
            history.len(),
        );
        write_line(out, &text)
    }
}

// --- listen, send ---

async fn run_listen(serving: Foreground, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let mut events = serving.node.events();
    let mut stop = Box::pin(stop_signal()?);
    let printing = async {
        loop {
            let event = tokio::select! {
                () = &mut stop => return Ok(()),
                event = events.recv() => event,
            };
            match event {
                Ok(NodeEvent::Message {
                    id,
                    from,
                    sent,
                    body,
                }) => {
                    let text = String::from_utf8_lossy(&body);
                    if json {
                        let mut doc = Map::new();
                        doc.insert("id".into(), Value::from(id.to_string()));
                        doc.insert("from".into(), Value::from(from));
                        doc.insert("sent".into(), Value::from(sent.to_string()));
                        doc.insert("text".into(), Value::from(text.into_owned()));
                        write_json(out, &Value::Object(doc))?;
                    } else {
                        write_line(out, &format!("{from}: {text}"))?;
                    }
                }
                Ok(NodeEvent::File {
                    id,
                    from,
                    name,
                    path,
                    size,
                    hash,
                }) => {
                    let name = name.unwrap_or_default();
                    let hash = talos_crypto::hash::to_hex(&hash);
                    if json {
                        let mut doc = Map::new();
                        doc.insert("id".into(), Value::from(id.to_string()));
                        doc.insert("from".into(), Value::from(from));
                        doc.insert("file".into(), Value::from(name));
                        doc.insert("path".into(), Value::from(path.display().to_string()));
                        doc.insert(
                            "size".into(),
                            Number::try_from(size).map_or(Value::Null, Value::Number),
                        );
                        doc.insert("blake3".into(), Value::from(hash));
                        write_json(out, &Value::Object(doc))?;
                    } else {
                        write_line(
                            out,
                            &format!(
                                "{from} sent {name:?} ({size} bytes, blake3 {hash}): {}",
                                path.display()
                            ),
                        )?;
                    }
                }
                Ok(NodeEvent::Delivered { id, to }) => {
                    tracing::info!(%id, %to, "queued message delivered");
                }
                Ok(NodeEvent::Failed { id, to }) => {
                    eprintln!("message {id} to {to} given up: no receipt before the deadline");
                }
                Ok(NodeEvent::Error { message }) => tracing::warn!("{message}"),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("warning: {n} events not shown (output too slow)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    };
    let result = serving.run(printing).await;
    serving.shutdown().await;
    result?
}

/// A node running in the foreground (`listen`, `mcp-serve`): its listen addresses printed and
/// written to the port file, its control socket served, and its metrics if asked for.
struct Foreground {
    node: node::Node,
    dir: PathBuf,
    metrics: Option<Arc<Metrics>>,
}

impl Foreground {
    async fn start(
        dir: &Path,
        listen: Vec<Multiaddr>,
        args: ForegroundArgs,
    ) -> Result<Self, CliError> {
        let ForegroundArgs {
            bootstrap,
            port_file,
            metrics,
        } = args;
        let node = build_node(dir, listen, bootstrap, NodeConfig::default()).await?;
        let addrs = node.listen_addrs().await?;
        for addr in &addrs {
            eprintln!("listening on {addr}");
        }
        eprintln!("did: {}", node.did());
        if let Some(path) = port_file {
            let first = addrs
                .first()
                .ok_or_else(|| CliError::new("no listen address"))?;
            write_atomically(&path, format!("{first}\n").as_bytes())?;
        }
        let metrics = match metrics {
            Some(addr) => {
                let metrics = Arc::new(Metrics::default());
                let bound = talos_node::metrics::spawn(addr, Arc::clone(&metrics))
                    .await
                    .map_err(|e| CliError::new(format!("cannot serve metrics on {addr}: {e}")))?;
                eprintln!("metrics on http://{bound}/metrics");
                Some(metrics)
            }
            None => None,
        };
        Ok(Self {
            node,
            dir: dir.to_path_buf(),
            metrics,
        })
    }

    /// Runs `work` beside the control socket and the metrics until `work` ends (or the
    /// control socket fails).
    async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, CliError> {
        let control = control::serve(&self.node, &self.dir);
        let observed = observe(&self.node, self.metrics.as_deref());
        tokio::select! {
            done = work => Ok(done),
            failed = control => failed.map(|never| match never {}),
            () = observed => Err(CliError::new("metrics stopped")),
        }
    }

    /// Shuts the node down (metrics say not ready first).
    async fn shutdown(self) {
        eprintln!("shutting down");
        if let Some(metrics) = &self.metrics {
            metrics
                .ready
                .store(false, core::sync::atomic::Ordering::Relaxed);
        }
        self.node.shutdown().await;
    }
}

/// Keeps `metrics` up to date from the node's events, and its queue and ledger counts every
/// two seconds; never ends (pending when there are no metrics).
async fn observe(node: &node::Node, metrics: Option<&Metrics>) {
    let Some(metrics) = metrics else {
        return core::future::pending().await;
    };
    metrics
        .ready
        .store(true, core::sync::atomic::Ordering::Relaxed);
    let mut events = node.events();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut connected = std::collections::BTreeSet::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Ok(queued) = node.store().queued() {
                    metrics.queued.set(queued.len() as u64);
                }
                if let Ok(ledger) = node.store().ledger() {
                    metrics.ledger_entries.set(ledger.size());
                }
            }
            event = events.recv() => match event {
                Ok(NodeEvent::Message { .. }) => metrics.messages_received.inc(),
                Ok(NodeEvent::Delivered { .. }) => metrics.messages_sent.inc(),
                Ok(NodeEvent::PeerConnected { did }) => {
                    connected.insert(did);
                    metrics.peers.set(connected.len() as u64);
                }
                Ok(NodeEvent::PeerDisconnected { did }) => {
                    connected.remove(&did);
                    metrics.peers.set(connected.len() as u64);
                }
                Ok(NodeEvent::Error { .. }) => metrics.refused.inc(),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return core::future::pending().await;
                }
            },
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
fn stop_signal() -> Result<impl Future<Output = ()>, CliError> {
    let mut terminate = terminate_signal()?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate.wait() => {}
        }
    })
}

/// What `send` and `send-file` deliver.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Text(&'a str),
    File(&'a Path),
}

#[allow(clippy::too_many_arguments)]
async fn send(
    dir: &Path,
    bootstrap: Vec<Multiaddr>,
    timeout: u64,
    did: &str,
    payload: Payload<'_>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if timeout == 0 {
        return Err(CliError::new("--timeout must be at least 1 second"));
    }
    let to = canonical_did(did)?;
    let start = Instant::now();
    let limit = Duration::from_secs(timeout);
    let mut config = NodeConfig::default();
    config.send_timeout = limit;
    config.publish = false;
    let step = limit.min(Duration::from_secs(10));
    config
        .network
        .set_query_timeout(step)
        .set_request_timeout(step);
    let listen = vec![
        "/ip4/127.0.0.1/tcp/0"
            .parse()
            .map_err(|_| CliError::new("bad default address"))?,
    ];
    let node = tokio::time::timeout(limit, build_node(dir, listen, bootstrap, config))
        .await
        .map_err(|_| {
            CliError::with_code(format!("could not join the network within {timeout} s"), 2)
        })??;
    let remaining = limit
        .saturating_sub(start.elapsed())
        .max(Duration::from_millis(1));
    let result = deliver(&node, &to, payload, remaining, json, out).await;
    node.shutdown().await;
    result
}

/// Sends `payload` to `to` from `node`, waiting at most `limit` for the receipt (for a file:
/// for each acknowledgement), and prints the outcome.
async fn deliver(
    node: &node::Node,
    to: &str,
    payload: Payload<'_>,
    limit: Duration,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match payload {
        Payload::Text(text) => match node.send_with_timeout(to, text.as_bytes(), limit).await {
            Ok(id) => delivered(id, to, json, out),
            Err(error) => Err(not_delivered(error, to, limit.as_secs())),
        },
        Payload::File(path) => match node.send_file_with_timeout(to, path, limit).await {
            Ok(receipt) => {
                let hash = talos_crypto::hash::to_hex(&receipt.hash);
                if json {
                    let mut doc = Map::new();
                    doc.insert("id".into(), Value::from(receipt.id.to_string()));
                    doc.insert("to".into(), Value::from(to));
                    doc.insert(
                        "size".into(),
                        Number::try_from(receipt.size).map_or(Value::Null, Value::Number),
                    );
                    doc.insert("blake3".into(), Value::from(hash));
                    doc.insert("status".into(), Value::from("delivered"));
                    write_json(out, &Value::Object(doc))
                } else {
                    write_line(
                        out,
                        &format!(
                            "delivered {} ({} bytes, blake3 {hash}) to {to}",
                            path.display(),
                            receipt.size
                        ),
                    )
                }
            }
            Err(error) => Err(CliError::new(format!(
                "{} not delivered to {to}: {error}",
                path.display()
            ))),
        },
    }
}

fn delivered(
    id: node::MessageId,
    to: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if json {
        let mut doc = Map::new();
        doc.insert("id".into(), Value::from(id.to_string()));
        doc.insert("to".into(), Value::from(to));
        doc.insert("status".into(), Value::from("delivered"));
        write_json(out, &Value::Object(doc))
    } else {
        write_line(out, &format!("delivered {id} to {to}"))
    }
}

fn not_delivered(error: NodeError, to: &str, timeout: u64) -> CliError {
    match error {
        NodeError::NotDelivered { id, reason } => CliError::with_code(
            format!(
                "no receipt from {to} within {timeout} s ({reason}); message {id} stays queued \
                 and is retried while a node runs on this data directory"
            ),
            NOT_DELIVERED,
        ),
        error => CliError::new(format!("cannot send to {to}: {error}")),
    }
}

/// Opens the data directory and starts a node on it.
async fn build_node(
    dir: &Path,
    listen: Vec<Multiaddr>,
    bootstrap: Vec<Multiaddr>,
    config: NodeConfig,
) -> Result<node::Node, CliError> {
    let store = open(dir)?;
    let file = key_file(&store, dir)?;
    let mut builder = NodeBuilder::new()
        .store(store)
        .listen(listen)
        .bootstrap(bootstrap)
        .config(config);
    if let Some(passphrase) = passphrase_for(&file)? {
        builder = builder.passphrase(passphrase);
    }
    Ok(builder.build().await?)
}

/// SIGTERM (Unix), or a future that never completes.
struct Terminate {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Terminate {
    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            self.signal.recv().await;
        }
        #[cfg(not(unix))]
        {
            std::future::pending::<()>().await;
        }
    }
}

fn terminate_signal() -> Result<Terminate, CliError> {
    #[cfg(unix)]
    {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| CliError::new(format!("cannot handle SIGTERM: {e}")))?;
        Ok(Terminate { signal })
    }
    #[cfg(not(unix))]
    {
        Ok(Terminate {})
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a reader never
/// sees a partial file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

// --- output ---

fn print_history(
    history: &[HistoryEntry],
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if json {
        let list = history
            .iter()
            .map(|e| {
                let mut doc = Map::new();
                doc.insert("id".into(), Value::from(e.id.to_string()));
                doc.insert("peer".into(), Value::from(e.peer.clone()));
                doc.insert("direction".into(), Value::from(direction(e.direction)));
                doc.insert("status".into(), Value::from(status_name(e.status)));
                doc.insert("timestamp".into(), Value::from(e.timestamp.to_string()));
                doc.insert(
                    "text".into(),
                    Value::from(String::from_utf8_lossy(&e.body).into_owned()),
                );
                Value::Object(doc)
            })
            .collect();
        return write_json(out, &Value::Array(list));
    }
    if history.is_empty() {
        return write_line(out, "no messages");
    }
    for e in history {
        let arrow = match e.direction {
            Direction::Outgoing => "->",
            _ => "<-",
        };
        write_line(
            out,
            &format!(
                "{} {arrow} {} [{}] {}",
                e.timestamp,
                e.peer,
                status_name(e.status),
                String::from_utf8_lossy(&e.body)
            ),
        )?;
    }
    Ok(())
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Outgoing => "outgoing",
        _ => "incoming",
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Delivered => "delivered",
        Status::Received => "received",
        _ => "failed",
    }
}

/// A DID as the node stores it (canonical `did:key`), or a clear error.
fn canonical_did(text: &str) -> Result<String, CliError> {
    text.parse::<talos_did::DidKey>()
        .map(|d| d.to_string())
        .map_err(|e| CliError::new(format!("not a did:key: {e}")))
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn number(n: usize) -> Value {
    #[allow(clippy::cast_precision_loss)] // counts are far below 2^53
    Number::from_f64(n as f64).map_or(Value::Null, Value::Number)
}

fn write_json(out: &mut dyn Write, value: &Value) -> Result<(), CliError> {
    let mut bytes = value.to_canonical_vec();
    bytes.push(b'\n');
    write_bytes(out, &bytes)
}

fn write_line(out: &mut dyn Write, line: &str) -> Result<(), CliError> {
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    write_bytes(out, &bytes)
}

fn write_bytes(out: &mut dyn Write, bytes: &[u8]) -> Result<(), CliError> {
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(format!("cannot write the output: {e}")))
}
