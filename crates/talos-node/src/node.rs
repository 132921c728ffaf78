//! The embeddable Talos node: a [`Store`], a [`Network`] and a [`Messenger`] driven by tokio.
//!
//! [`NodeBuilder`] opens the data directory (or an in-memory store), loads the identity, the
//! prekeys and every session, starts the network, joins the DHT through the bootstrap peers
//! and publishes the node's signed discovery record (its addresses and prekey bundle), which
//! it refreshes before it expires. Then:
//!
//! - [`Node::send`] queues the message (history: pending), resolves the peer's DID through the
//!   DHT, starts a session from its published bundle if there is none, persists the session
//!   snapshot and the sealed envelope, delivers it with request-response, and returns once the
//!   peer's **signed receipt** came back (history: delivered). A peer that cannot be reached
//!   within [`NodeConfig::send_timeout`] gets [`NodeError::NotDelivered`]: the message stays
//!   queued and the node retries it with exponential backoff until
//!   [`NodeConfig::retry_deadline`], reporting the outcome as a [`NodeEvent`].
//! - Messages to a peer with a session go through its outbox: those waiting while a batch is
//!   out are sealed together into one envelope ([`Messenger::seal_batch`]) and committed in one
//!   transaction (which also records the deliveries answered since); the peer commits them in
//!   one transaction and answers with one receipt. A message its batch did not get
//!   acknowledged takes the single path above.
//! - An incoming message (or batch) is opened, its history entries and session snapshot are
//!   committed in one [`Batch`], and only then is the signed receipt sent back; a retry of a
//!   message already received gets its receipt again.
//! - [`Node::send_file`] sends a file in chunks, each sealed through the peer's session, and
//!   returns once the receiver verified the whole file; a cut connection or a restarted
//!   receiver is resumed, resending only the chunks not acknowledged (see [`crate::files`]).
//!   Received files go to [`Node::files_dir`] and are reported as [`NodeEvent::File`].
//! - [`Node::events`] reports messages, receipts, peers, files and errors.
//! - [`Node::shutdown`] stops accepting work, lets in-flight work finish (deliveries for a
//!   short grace period: whatever they have not finished is retried after a restart), stops the
//!   network and closes the store.
//!
//! A node restarted on the same data directory restores its identity, prekeys and sessions
//! and continues its sessions; messages still queued are retried.
//!
//! The node holds no protocol rule of its own: sealing, opening, receipts and duplicates are
//! the [`Messenger`]'s; records are talos-did's; the node moves bytes and persists state.
//! Session snapshots and prekeys are stored sealed under the identity
//! ([`Identity::seal`]); message bodies are stored in clear (see [`crate::store`]).

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use talos_crypto::{ChaCha20Rng, SeedableRng, SigningKey, Timestamp, Zeroizing};
use talos_did::DidKey;
use talos_did::record::{DiscoveryRecord, RecordFields};
use talos_mcp::acl::rate::{RateConfig, RateLimit, RateLimiter};
use talos_ratchet::PrekeyStore;
use talos_ratchet::prekeys::PrekeyBundle;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::files::{self, FileError, FileReceipt, Inbox, Received};
use crate::identity::{Identity, IdentityError, Protection};
use crate::mcp::PeerLink;
use crate::messenger::{self, Inbound, Messenger, MessengerError, StreamFrame, StreamPart, tagged};
use crate::net::{self, InboundRequest, Lane, NetError, Network, record_addrs};
use crate::now;
use crate::store::{Batch, Direction, HistoryEntry, Ledger, Queued, Status, Store, StoreError};

pub use talos_wire::MessageId;

/// The label session snapshots are sealed under ([`Identity::seal`]).
const SESSION_LABEL: &[u8] = b"session";

/// The first byte of a queued payload: the plaintext, not sealed yet (no session, peer not
/// resolved).
const PLAIN: u8 = 0;
/// The first byte of a queued payload: the envelope, sealed (and its session persisted).
const SEALED: u8 = 1;
/// The first byte of a queued payload: nothing follows, the plaintext is the body of the
/// message's history entry (a message sent in a batch, not acknowledged yet).
const IN_HISTORY: u8 = 2;

/// The largest message body [`Node::send`] accepts, in bytes (the envelope must fit one
/// request of [`net::MAX_MESSAGE_LEN`]).
pub const MAX_BODY_LEN: usize = 1024 * 1024 - 8 * 1024;

/// How many events [`Node::events`] buffers per receiver; a receiver further behind loses
/// the oldest ones.
const EVENT_CAPACITY: usize = 1024;

/// How long a sealed envelope is sent as it is; older ones are re-signed with a fresh
/// timestamp (receivers accept 300 s of clock skew).
const FRESH: Duration = Duration::from_secs(60);

/// How long [`Node::shutdown`] lets deliveries under way finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Timeouts, the retry policy and the record lifetime of a [`Node`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeConfig {
    /// How long [`Node::send`] tries before it returns [`NodeError::NotDelivered`] (the
    /// message stays queued). Default 30 s.
    pub send_timeout: Duration,
    /// How long a queued message is retried before it is given up ([`Status::Failed`]).
    /// Default 24 h.
    pub retry_deadline: Duration,
    /// The first retry delay; it doubles with every attempt. Default 1 s.
    pub retry_base: Duration,
    /// The longest retry delay. Default 5 min.
    pub retry_max: Duration,
    /// How often the queue is checked for messages due. Default 1 s.
    pub retry_tick: Duration,
    /// How long a published discovery record is valid; it is refreshed at half its
    /// lifetime. Default 1 h.
    pub record_lifetime: Duration,
    /// Whether the node publishes its discovery record (a node that only sends, like
    /// `talos send`, need not). Default true.
    pub publish: bool,
    /// The network's configuration (request and DHT timeouts, limits, record policy).
    pub network: net::Config,
    /// Per-peer limits on inbound messages (talos-acl's rate limiter, keyed by the peer's
    /// authenticated DID), checked before anything is decrypted or verified: a message over
    /// the limit is dropped unanswered, and its sender retries it later. Default 10 000
    /// messages/s per peer, bursts of 10 000, no byte budget.
    pub inbound_rate: RateConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            send_timeout: Duration::from_secs(30),
            retry_deadline: Duration::from_secs(24 * 3600),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            retry_tick: Duration::from_secs(1),
            record_lifetime: Duration::from_secs(3600),
            publish: true,
            network: net::Config::default(),
            inbound_rate: RateConfig {
                peer_limit: RateLimit {
                    requests_per_second: 10_000,
                    burst: 10_000,
                    bytes_per_day: None,
                },
                ..RateConfig::default()
            },
        }
    }
}

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The store failed (or the data directory is in use by another node).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The identity could not be loaded (passphrase needed or wrong, corrupt key file), or
    /// sealed state did not open.
    #[error("identity: {0}")]
    Identity(#[from] IdentityError),
    /// The network failed.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// A message could not be sealed or a response not opened.
    #[error("messaging: {0}")]
    Messenger(#[from] MessengerError),
    /// The data directory has no identity. Run `talos init` first.
    #[error("no identity in {0}: run `talos init` first")]
    NoIdentity(PathBuf),
    /// The key given to the builder is not the identity stored in the data directory.
    #[error("the identity key given is not the one stored in the data directory")]
    IdentityMismatch,
    /// Neither a data directory nor a key was given to the builder.
    #[error("no data directory and no identity key given")]
    NoStore,
    /// Not an Ed25519 `did:key` (or our own DID).
    #[error("cannot send to {0}: not another node's Ed25519 did:key")]
    BadDid(String),
    /// The body is longer than [`MAX_BODY_LEN`].
    #[error("message too large: {len} bytes, limit {max}")]
    TooLarge {
        /// The length offered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The peer's response was not its receipt for this message.
    #[error("the peer did not answer with its receipt for the message")]
    BadReceipt,
    /// No receipt within the send timeout. The message is queued and retried until the
    /// retry deadline; its outcome comes as a [`NodeEvent`].
    #[error("message {id} not delivered yet (queued for retry): {reason}")]
    NotDelivered {
        /// The message.
        id: MessageId,
        /// The last failure.
        reason: String,
    },
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// The audit ledger refused or failed an append.
    #[error("ledger: {0}")]
    Ledger(String),
    /// A file could not be sent (read, announced, or the receiver refused it).
    #[error("file: {0}")]
    File(#[from] FileError),
}

/// What a node reports, from [`Node::events`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A message arrived (it is in the history, and its receipt was sent).
    Message {
        /// Its id.
        id: MessageId,
        /// The sender's DID.
        from: String,
        /// When the sender sent it (its clock).
        sent: Timestamp,
        /// The body.
        body: Vec<u8>,
    },
    /// The peer's signed receipt for a message we sent arrived.
    Delivered {
        /// The message.
        id: MessageId,
        /// The peer.
        to: String,
    },
    /// A queued message was given up (retry deadline passed).
    Failed {
        /// The message.
        id: MessageId,
        /// The peer.
        to: String,
    },
    /// A first connection to a peer was established.
    PeerConnected {
        /// Its DID (or its `PeerId` if it is not a Talos node).
        did: String,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// Its DID (or its `PeerId`).
        did: String,
    },
    /// Something failed in the background (a refused inbound message, a store error, a
    /// record that could not be published).
    Error {
        /// What failed.
        message: String,
    },
    /// A file is arriving: reported about every 1 % of its bytes.
    FileProgress {
        /// The stream id.
        id: MessageId,
        /// The sender's DID.
        from: String,
        /// Bytes received (and written) so far.
        received: u64,
        /// The file's size.
        total: u64,
    },
    /// A file arrived whole: its BLAKE3 hash matched the signed announcement and it is in
    /// place (see [`crate::files`]).
    File {
        /// The stream id.
        id: MessageId,
        /// The sender's DID.
        from: String,
        /// The name the sender announced, if any.
        name: Option<String>,
        /// Where the file is.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// Its BLAKE3 hash.
        hash: [u8; 32],
    },
}

impl fmt::Debug for NodeEvent {
    /// Bodies are shown by length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Message {
                id,
                from,
                sent,
                body,
            } => f
                .debug_struct("Message")
                .field("id", id)
                .field("from", from)
                .field("sent", sent)
                .field("len", &body.len())
                .finish(),
            Self::Delivered { id, to } => f
                .debug_struct("Delivered")
                .field("id", id)
                .field("to", to)
                .finish(),
            Self::Failed { id, to } => f
                .debug_struct("Failed")
                .field("id", id)
                .field("to", to)
                .finish(),
            Self::PeerConnected { did } => {
                f.debug_struct("PeerConnected").field("did", did).finish()
            }
            Self::PeerDisconnected { did } => f
                .debug_struct("PeerDisconnected")
                .field("did", did)
                .finish(),
            Self::Error { message } => f.debug_struct("Error").field("message", message).finish(),
            Self::FileProgress {
                id,
                from,
                received,
                total,
            } => f
                .debug_struct("FileProgress")
                .field("id", id)
                .field("from", from)
                .field("received", received)
                .field("total", total)
                .finish(),
            Self::File {
                id,
                from,
                name,
                path,
                size,
                hash,
            } => f
                .debug_struct("File")
                .field("id", id)
                .field("from", from)
                .field("name", name)
                .field("path", path)
                .field("size", size)
                .field("hash", &talos_crypto::base64url::encode(hash))
                .finish(),
        }
    }
}

/// A peer, from [`Node::peers`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its DID (or `PeerId` for a connected peer that is not a Talos node).
    pub did: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// Whether a session exists.
    pub session: bool,
}

/// Creates the identity of a new node in `store` (`talos init`): a fresh key, its key file
/// protected by `protection`, and its prekeys. Returns the identity.
///
/// # Errors
/// [`StoreError::IdentityExists`] if the store has one already (nothing changes);
/// [`NodeError::Identity`], [`NodeError::Store`].
pub fn init_identity(store: &Store, protection: Protection<'_>) -> Result<Identity, NodeError> {
    let mut rng = os_rng();
    let identity = Identity::generate(&mut rng);
    let file = identity.to_key_file(&mut rng, protection)?;
    store.create_identity(&file)?;
    let prekeys = PrekeyStore::new(identity.signing_key().clone(), &mut rng);
    store.put_prekeys(&identity.seal_prekeys(&mut rng, &prekeys)?)?;
    Ok(identity)
}

/// Builds a [`Node`]: where its state lives, its identity, where it listens and whom it
/// bootstraps from.
///
/// ```no_run
/// # async fn run() -> Result<(), talos_node::node::NodeError> {
/// use talos_node::node::NodeBuilder;
/// let node = NodeBuilder::new()
///     .data_dir("/var/lib/talos")
///     .listen(vec!["/ip4/0.0.0.0/tcp/4001".parse().unwrap()])
///     .build()
///     .await?;
/// println!("{}", node.did());
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct NodeBuilder {
    dir: Option<PathBuf>,
    store: Option<Store>,
    key: Option<SigningKey>,
    passphrase: Option<Zeroizing<Vec<u8>>>,
    listen: Vec<Multiaddr>,
    bootstrap: Vec<Multiaddr>,
    config: NodeConfig,
}

impl fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("dir", &self.dir)
            .field("listen", &self.listen)
            .field("bootstrap", &self.bootstrap)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NodeBuilder {
    /// A builder: no store yet, listening on `/ip4/127.0.0.1/tcp/0`, no bootstrap peers,
    /// the default [`NodeConfig`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the state in data directory `dir` (opened with [`Store::open`], which locks
    /// it). The identity is the one `talos init` ([`init_identity`]) stored there.
    #[must_use]
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Keeps the state in `store` (e.g. [`Store::in_memory`] for tests and embedding).
    #[must_use]
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses this identity key rather than the store's key file (which need not exist). With
    /// no data directory and no store, the state is kept in memory.
    #[must_use]
    pub fn identity_key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The passphrase of the stored key file (e.g. from
    /// [`passphrase_from_env`](crate::identity::passphrase_from_env)).
    #[must_use]
    pub fn passphrase(mut self, passphrase: Zeroizing<Vec<u8>>) -> Self {
        self.passphrase = Some(passphrase);
        self
    }

    /// The addresses to listen on (default `/ip4/127.0.0.1/tcp/0`).
    #[must_use]
    pub fn listen(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.listen = addrs;
        self
    }

    /// The peers to join the DHT through (each address ends in `/p2p/<peer id>`).
    #[must_use]
    pub fn bootstrap(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.bootstrap = addrs;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    /// Opens the state, starts the network, bootstraps (a failure is logged and reported
    /// as an event: the node keeps trying to publish) and publishes the record.
    ///
    /// # Errors
    /// [`NodeError::NoIdentity`], [`NodeError::Identity`] (passphrase), [`NodeError::Store`]
    /// (e.g. the directory is locked by another node), [`NodeError::Net`] (cannot listen).
    pub async fn build(self) -> Result<Node, NodeError> {
        let Self {
            dir,
            store,
            key,
            passphrase,
            mut listen,
            bootstrap,
            config,
        } = self;
        let store = match (store, &dir, &key) {
            (Some(store), _, _) => store,
            (None, Some(dir), _) => Store::open(dir)?,
            (None, None, Some(_)) => Store::in_memory()?,
            (None, None, None) => return Err(NodeError::NoStore),
        };
        let mut rng = os_rng();
        let identity = match key {
            Some(key) => {
                if let Some(file) = store.identity()?
                    && file.verifying_key() != key.verifying_key()
                {
                    return Err(NodeError::IdentityMismatch);
                }
                Identity::from_signing_key(key)
            }
            None => {
                let file = store.identity()?.ok_or_else(|| {
                    NodeError::NoIdentity(store.dir().map(Path::to_path_buf).unwrap_or_default())
                })?;
                Identity::from_key_file(&file, passphrase.as_deref().map(Vec::as_slice))?
            }
        };
        let prekeys = if let Some(sealed) = store.prekeys()? {
            identity.open_prekeys(&sealed)?
        } else {
            let prekeys = PrekeyStore::new(identity.signing_key().clone(), &mut rng);
            store.put_prekeys(&identity.seal_prekeys(&mut rng, &prekeys)?)?;
            prekeys
        };
        let messenger = restore(&identity, &store, prekeys)?;
        if listen.is_empty() {
            listen.push(
                "/ip4/127.0.0.1/tcp/0"
                    .parse()
                    .map_err(|_| NetError::BadAddress("default".into()))?,
            );
        }
        let mut network =
            Network::with_config(identity.signing_key(), &listen, config.network.clone()).await?;
        let net_events = network.take_events();
        let inbound = network.take_inbound();
        let mcp_inbound = network.take_mcp_inbound();
        let puzzle_nonce = match config.network.record_policy().puzzle_difficulty() {
            // The network requires the Sybil puzzle: solve it once for this key (about a
            // second at the default difficulty), off the async threads.
            Some(difficulty) => {
                let key = identity.verifying_key();
                tokio::task::spawn_blocking(move || {
                    talos_did::puzzle::solve(&key, difficulty, 0, u64::MAX)
                })
                .await
                .ok()
                .flatten()
            }
            None => None,
        };
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (stop, stopped) = watch::channel(false);
        let did = identity.did().to_string();
        let inbox = Inbox::new(files::files_dir(
            store.dir(),
            &network.peer_id().to_string(),
        ));
        let inbound_rate = Mutex::new(RateLimiter::new(config.inbound_rate));
        let shared = Arc::new(Shared {
            did: did.clone(),
            identity,
            store,
            net: network,
            core: Mutex::new(Core { messenger, rng }),
            config,
            events,
            in_flight: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            publish_now: Notify::new(),
            puzzle_nonce,
            stopped,
            mcp: Mutex::new(McpRoutes::default()),
            mcp_pumps: Mutex::new(JoinSet::new()),
            ledger: Mutex::new(None),
            files: inbox,
            inbound_rate,
            outboxes: Mutex::new(HashMap::new()),
            ids: Mutex::new(os_rng()),
        });
        if !bootstrap.is_empty()
            && let Err(error) = shared.net.bootstrap(&bootstrap).await
        {
            tracing::warn!(%error, "bootstrap failed");
            shared.emit(NodeEvent::Error {
                message: format!("bootstrap failed: {error}"),
            });
        }
        let mut tasks = Vec::new();
        if let Some(inbound) = inbound {
            tasks.push(tokio::spawn(inbound_loop(Arc::clone(&shared), inbound)));
        }
        if let Some(net_events) = net_events {
            tasks.push(tokio::spawn(event_loop(Arc::clone(&shared), net_events)));
        }
        if let Some(mcp_inbound) = mcp_inbound {
            tasks.push(tokio::spawn(mcp_loop(Arc::clone(&shared), mcp_inbound)));
        }
        if shared.config.publish {
            // The first publication, before `build` returns: the node is findable once built
            // (if any peer took the record).
            let published = shared.publish().await;
            tasks.push(tokio::spawn(publish_loop(Arc::clone(&shared), published)));
        }
        tasks.push(tokio::spawn(retry_loop(Arc::clone(&shared))));
        tracing::info!(%did, "node started");
        Ok(Node {
            shared,
            stop,
            tasks,
        })
    }
}

/// The messenger and the RNG, locked together: every change to a session is persisted
/// before the lock is released, so snapshots reach the disk in order.
struct Core {
    messenger: Messenger,
    rng: ChaCha20Rng,
}

/// Marks a queued message as being delivered by one task until dropped.
struct InFlight<'a> {
    shared: &'a Shared,
    id: MessageId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight().remove(&self.id);
    }
}

/// What the node's tasks share.
struct Shared {
    did: String,
    identity: Identity,
    store: Store,
    net: Network,
    core: Mutex<Core>,
    config: NodeConfig,
    events: broadcast::Sender<NodeEvent>,
    /// Queued messages a task is delivering now: the retry loop leaves them alone.
    in_flight: Mutex<HashSet<MessageId>>,
    /// Wakes the retry loop (a peer connected).
    wake: Notify,
    /// Wakes the publish loop (a peer connected while the record is not out yet).
    publish_now: Notify,
    /// The Sybil puzzle solution for this key, when the record policy requires one.
    puzzle_nonce: Option<u64>,
    stopped: watch::Receiver<bool>,
    /// Where MCP tunnel packets from each peer go.
    mcp: Mutex<McpRoutes>,
    /// The tasks that carry MCP tunnel packets to peers, joined at shutdown.
    mcp_pumps: Mutex<JoinSet<()>>,
    /// The audit ledger, opened on first use (one per store).
    ledger: Mutex<Option<Ledger>>,
    /// Files being received.
    files: Inbox,
    /// Limits inbound messages per peer ([`NodeConfig::inbound_rate`]).
    inbound_rate: Mutex<RateLimiter>,
    /// Messages waiting to go out in a batch, by peer ([`outbox_loop`]).
    outboxes: Mutex<HashMap<String, mpsc::UnboundedSender<Outgoing>>>,
    /// Draws message ids, apart from the core's RNG so that a send does not wait for the
    /// messenger.
    ids: Mutex<ChaCha20Rng>,
}

/// The largest body sent in a batch; a larger one goes alone.
const BATCHED_BODY_MAX: usize = 64 * 1024;

/// The most body bytes in one batch (with [`messenger::MAX_BATCH`] envelopes' overhead, well
/// under [`net::MAX_REQUEST_LEN`]).
const BATCH_BYTES: usize = 512 * 1024;

/// A message waiting in its peer's outbox.
struct Outgoing {
    /// Its queue entry (the body in clear).
    queued: Queued,
    /// Its history entry (with the body to seal).
    entry: HistoryEntry,
    done: oneshot::Sender<Outcome>,
}

/// Messages sealed into one envelope and persisted ([`Shared::commit_outbox`]), to deliver.
struct SealedBatch {
    messages: Vec<Outgoing>,
    /// The batch envelope.
    wire: Vec<u8>,
}

/// A batch delivered, and the ids its receipt acknowledged (none if it had no valid
/// receipt).
struct Answered {
    batch: SealedBatch,
    acknowledged: HashSet<MessageId>,
}

/// Batches out to one peer at once: the next is sealed while one is delivered.
const BATCHES_IN_FLIGHT: usize = 2;

/// How a batched first attempt went.
enum Outcome {
    /// Acknowledged and recorded.
    Delivered,
    /// In the history and the queue, not acknowledged: `send` goes on trying.
    Queued(Queued),
    /// Nothing was persisted: `send` takes the usual path.
    NotQueued,
}

/// MCP tunnel packets by peer: the link of each peer with one, and where links for peers that
/// start a session go ([`Node::mcp_accept`]).
#[derive(Default)]
struct McpRoutes {
    links: BTreeMap<PeerId, mpsc::Sender<Vec<u8>>>,
    accept: Option<mpsc::Sender<(String, PeerLink)>>,
}

/// How many chunks of a file are in flight at once.
const FILE_WINDOW: usize = 4;

/// Where the frames of one file go.
struct Route {
    to: String,
    did: DidKey,
    peer: PeerId,
    stream: MessageId,
    /// The peer's addresses from its record (empty: those the network knows).
    addrs: Mutex<Vec<Multiaddr>>,
    /// The peer's bundle, when there was no session to send with.
    bundle: Option<PrekeyBundle>,
}

impl Route {
    fn addrs(&self) -> MutexGuard<'_, Vec<Multiaddr>> {
        self.addrs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How many MCP packets wait for a tunnel, per peer and each way.
const MCP_QUEUE: usize = 256;

/// How long an MCP packet from a peer may wait for room in its tunnel's queue before it is
/// refused.
const MCP_HANDOFF: Duration = Duration::from_secs(5);

/// A running node (see the [module docs](self)).
pub struct Node {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("did", &self.shared.did)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// This node's DID.
    #[must_use]
    pub fn did(&self) -> &str {
        &self.shared.did
    }

    /// This node's libp2p `PeerId` (the same key as its DID).
    #[must_use]
    pub fn peer_id(&self) -> PeerId {
        self.shared.net.peer_id()
    }

    /// The store (for what the node does not wrap: ledger, revocations).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The identity key.
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        self.shared.identity.signing_key()
    }

    /// The network (checkpoints, direct requests).
    #[must_use]
    pub fn network(&self) -> &Network {
        &self.shared.net
    }

    /// The addresses this node listens on, each with `/p2p/<peer id>`.
    ///
    /// # Errors
    /// [`NodeError::Net`].
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NodeError> {
        let peer = self.peer_id();
        Ok(self
            .shared
            .net
            .listen_addrs()
            .await?
            .into_iter()
            .map(|a| a.with(Protocol::P2p(peer)))
            .collect())
    }

    /// Sends `body` to `to` and returns once its signed receipt came back (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// [`NodeError::BadDid`], [`NodeError::TooLarge`], [`NodeError::Store`] (nothing is
    /// queued); [`NodeError::NotDelivered`] if no receipt came within
    /// [`NodeConfig::send_timeout`]: the message stays queued and is retried.
    pub async fn send(&self, to: &str, body: &[u8]) -> Result<MessageId, NodeError> {
        self.shared
            .send(to, body, self.shared.config.send_timeout)
            .await
    }

    /// [`Node::send`] with its own timeout instead of [`NodeConfig::send_timeout`].
    ///
    /// # Errors
    /// As [`Node::send`].
    pub async fn send_with_timeout(
        &self,
        to: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<MessageId, NodeError> {
        self.shared.send(to, body, timeout).await
    }

    /// Sends the file at `path` to `to` and returns once the receiver confirmed it whole (its
    /// BLAKE3 hash matched the signed announcement; see [`crate::files`]). A cut connection or
    /// a receiver restarting is retried with backoff, resending only the chunks not
    /// acknowledged; it gives up when nothing was acknowledged for
    /// [`NodeConfig::send_timeout`].
    ///
    /// # Errors
    /// [`NodeError::BadDid`], [`NodeError::File`] (unreadable, too large for its media type,
    /// changed while sent, refused by the receiver), [`NodeError::Store`],
    /// [`NodeError::NotDelivered`] (stalled; nothing is retried later),
    /// [`NodeError::Stopped`].
    pub async fn send_file(&self, to: &str, path: &Path) -> Result<FileReceipt, NodeError> {
        self.shared
            .send_file(to, path, self.shared.config.send_timeout)
            .await
    }

    /// [`Node::send_file`] giving up after `stall` without an acknowledgement.
    ///
    /// # Errors
    /// As [`Node::send_file`].
    pub async fn send_file_with_timeout(
        &self,
        to: &str,
        path: &Path,
        stall: Duration,
    ) -> Result<FileReceipt, NodeError> {
        self.shared.send_file(to, path, stall).await
    }

    /// Where received files are put (`<data dir>/files`).
    #[must_use]
    pub fn files_dir(&self) -> &Path {
        self.shared.files.dir()
    }

    /// The events: messages, receipts, peers, errors. Each call gives a new receiver that
    /// sees the events from then on; one that falls more than 1024 events behind loses the
    /// oldest.
    #[must_use]
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.shared.events.subscribe()
    }

    /// The history, oldest first, of one peer or of all.
    ///
    /// # Errors
    /// [`NodeError::Store`].
    pub fn history(&self, peer: Option<&str>) -> Result<Vec<HistoryEntry>, NodeError> {
        Ok(self.shared.store.history(peer)?)
    }

    /// The peers this node is connected to or has a session with, in DID order.
    ///
    /// # Errors
    /// [`NodeError::Net`], [`NodeError::Store`].
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeError> {
        let mut peers = BTreeMap::new();
        for did in self.shared.store.sessions()? {
            peers.insert(
                did.clone(),
                PeerInfo {
                    did,
                    connected: false,
                    session: true,
                },
            );
        }
        for peer in self.shared.net.connected_peers().await? {
            let did = net::did_of(&peer).map_or_else(|| peer.to_string(), |d| d.to_string());
            peers
                .entry(did.clone())
                .or_insert(PeerInfo {
                    did,
                    connected: true,
                    session: false,
                })
                .connected = true;
        }
        Ok(peers.into_values().collect())
    }

    /// Republishes the discovery record now (a higher `seq`), e.g. after the addresses
    /// changed.
    ///
    /// # Errors
    /// [`NodeError::Net`] if no peer took it (it is retried in the background).
    pub async fn publish(&self) -> Result<(), NodeError> {
        self.shared.publish().await
    }

    /// A link to `peer`'s end of an MCP tunnel: packets sent into
    /// [`PeerLink::to_peer`] reach the peer on the network's MCP lane, in order (the peer is
    /// resolved through the DHT if it is not connected); the packets the peer sends come out of
    /// [`PeerLink::from_peer`]. A second link to the same peer replaces the first. Drop the
    /// link to end it.
    ///
    /// # Errors
    /// [`NodeError::BadDid`], or [`NodeError::Net`] if the peer is neither connected nor
    /// found in the DHT.
    pub async fn mcp_link(&self, peer: &str) -> Result<PeerLink, NodeError> {
        let did: DidKey = peer
            .parse()
            .map_err(|_| NodeError::BadDid(peer.to_owned()))?;
        let peer_id = net::peer_id_of(&did).ok_or_else(|| NodeError::BadDid(peer.to_owned()))?;
        let connected = self.shared.net.connected_peers().await?;
        let addrs = if connected.contains(&peer_id) {
            Vec::new()
        } else {
            record_addrs(&self.shared.net.resolve(&did).await?, peer_id)
        };
        Ok(open_link(&self.shared, peer_id, addrs))
    }

    /// The MCP sessions peers start: a peer without a link that sends an MCP packet gets one,
    /// handed out here with its DID (its packets wait in the link). Drop a link to refuse the
    /// peer. `Some` the first time only; without a receiver, such packets are refused.
    #[must_use]
    pub fn mcp_accept(&self) -> Option<mpsc::Receiver<(String, PeerLink)>> {
        let mut routes = self.shared.mcp_routes();
        if routes.accept.is_some() {
            return None;
        }
        let (tx, rx) = mpsc::channel(64);
        routes.accept = Some(tx);
        Some(rx)
    }

    /// Appends an MCP call's audit record to the ledger as a `ToolCall` entry recorded by
    /// this node; returns its index. Committed when it returns.
    ///
    /// # Errors
    /// [`NodeError::Ledger`].
    pub fn append_audit(&self, record: &talos_mcp::AuditRecord) -> Result<u64, NodeError> {
        let failed = |e: &dyn fmt::Display| NodeError::Ledger(e.to_string());
        let call = record.to_tool_call().map_err(|e| failed(&e))?;
        let id = self.shared.new_id(now());
        let body = || talos_ledger::entry::Body::ToolCall(call.clone());
        let mut slot = self.shared.ledger();
        let ledger = match &mut *slot {
            Some(ledger) => ledger,
            slot @ None => slot.insert(self.shared.store.ledger().map_err(|e| failed(&e))?),
        };
        match ledger.record(id, &self.shared.did, record.at, body()) {
            // A command on the node's store (e.g. `talos cap revoke` through the control
            // socket) appended meanwhile: reopen at the size on disk and record there.
            Err(error) if error.is_conflict() => {
                *ledger = self.shared.store.ledger().map_err(|e| failed(&e))?;
                ledger.record(id, &self.shared.did, record.at, body())
            }
            recorded => recorded,
        }
        .map_err(|e| failed(&e))
    }

    /// Stops the node: background work stops taking new work, an inbound message being
    /// handled is finished, deliveries under way get a few seconds (what they do not finish
    /// stays queued), then the network stops and the store closes (its lock is released).
    pub async fn shutdown(self) {
        let Self {
            shared,
            stop,
            tasks,
        } = self;
        let _ = stop.send(true);
        for task in tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "node task ended abnormally");
            }
        }
        let mut pumps = core::mem::take(&mut *shared.mcp_pumps());
        while pumps.join_next().await.is_some() {}
        drop(shared.ledger().take());
        match Arc::try_unwrap(shared) {
            Ok(shared) => {
                let Shared { net, store, .. } = shared;
                net.shutdown().await;
                drop(store);
            }
            Err(_) => tracing::warn!("node state still shared at shutdown"),
        }
        tracing::info!("node stopped");
    }
}

impl Shared {
    fn emit(&self, event: NodeEvent) {
        // An error only means nobody listens.
        let _ = self.events.send(event);
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock leaves consistent state: every change is persisted
        // before the lock is released, so a poisoned lock is still usable.
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mcp_routes(&self) -> MutexGuard<'_, McpRoutes> {
        self.mcp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mcp_pumps(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.mcp_pumps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ledger(&self) -> MutexGuard<'_, Option<Ledger>> {
        self.ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new message id (UUIDv7: the time and random bits).
    fn new_id(&self, now: Timestamp) -> MessageId {
        let mut rng = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        MessageId::generate(now, &mut *rng)
    }

    fn outboxes(&self) -> MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Outgoing>>> {
        self.outboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn in_flight(&self) -> MutexGuard<'_, HashSet<MessageId>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    async fn send(
        self: &Arc<Self>,
        to: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<MessageId, NodeError> {
        // A peer with a session has a DID known good (and parsing one is not free). A peer
        // with an outbox has a session, and asking the outbox does not wait for the messenger
        // (busy sealing a batch).
        let with_session =
            self.outboxes().contains_key(to) || self.core().messenger.has_session(to);
        let to = if with_session {
            to.to_owned()
        } else {
            let did: DidKey = to.parse().map_err(|_| NodeError::BadDid(to.to_owned()))?;
            let to = did.to_string();
            if did.ed25519().is_none() || to == self.did {
                return Err(NodeError::BadDid(to));
            }
            to
        };
        if body.len() > MAX_BODY_LEN {
            return Err(NodeError::TooLarge {
                len: body.len(),
                max: MAX_BODY_LEN,
            });
        }
        if self.is_stopped() {
            return Err(NodeError::Stopped);
        }
        let now = now();
        let id = self.new_id(now);
        let mut queued = Queued {
            id,
            peer: to.clone(),
            // The retry loop leaves it alone while `send` tries (it is in flight), and takes
            // it over after.
            next_attempt: now.saturating_add(timeout),
            deadline: now.saturating_add(self.config.retry_deadline),
            attempts: 0,
            payload: tagged(PLAIN, body),
        };
        self.in_flight().insert(id);
        // Released however `send` ends (even if its future is dropped): the retry loop then
        // takes the message over.
        let _guard = InFlight { shared: self, id };
        let entry = HistoryEntry {
            id,
            peer: to.clone(),
            direction: Direction::Outgoing,
            timestamp: now,
            status: Status::Pending,
            body: body.to_vec(),
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut entry = Some(entry);
        if body.len() <= BATCHED_BODY_MAX
            && with_session
            && let Some(outgoing) = entry.clone()
        {
            // The first attempt goes with the other messages to this peer in a batch.
            let outcome = tokio::time::timeout_at(deadline, self.batched(&queued, outgoing)).await;
            match outcome {
                Ok(Outcome::Delivered) => return Ok(id),
                Ok(Outcome::Queued(persisted)) => {
                    queued = persisted;
                    entry = None;
                }
                Ok(Outcome::NotQueued) => {}
                Err(_) => return Err(self.not_delivered(id, None)),
            }
        }
        if let Some(entry) = entry {
            // With a session, seal now: the history entry, the session and the envelope in
            // one transaction. Without one, queue the plaintext until the peer is resolved.
            let mut core = self.core();
            if core.messenger.has_session(&to) {
                let batch = Batch::new().put_message(entry);
                self.seal_queued(&mut core, &mut queued, body, None, batch)?;
            } else {
                self.store
                    .commit(Batch::new().put_message(entry).enqueue(queued.clone()))?;
            }
        }
        let mut last: Option<String> = None;
        let mut delay = self.config.retry_base.min(Duration::from_millis(500));
        let attempts = async {
            loop {
                match self.attempt(&mut queued).await {
                    Ok(()) => return Ok(()),
                    Err(error @ NodeError::Store(_)) => return Err(error),
                    Err(error) => {
                        tracing::debug!(%id, %error, "delivery attempt failed");
                        last = Some(error.to_string());
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(self.config.retry_max);
            }
        };
        let result = tokio::time::timeout_at(deadline, attempts).await;
        match result {
            Ok(Ok(())) => Ok(id),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(self.not_delivered(id, last)),
        }
    }

    /// `send` gave up waiting: the retry loop takes the message over soon.
    fn not_delivered(&self, id: MessageId, last: Option<String>) -> NodeError {
        let next = now_plus(self.config.retry_base);
        if let Err(error) = self.store.reschedule(id, next) {
            tracing::warn!(%id, %error, "could not reschedule");
        }
        NodeError::NotDelivered {
            id,
            reason: last.unwrap_or_else(|| "no answer".into()),
        }
    }

    /// Hands a message for a peer with a session to that peer's outbox, whose task seals and
    /// delivers waiting messages in batches ([`outbox_loop`]), and waits for the outcome.
    async fn batched(self: &Arc<Self>, queued: &Queued, entry: HistoryEntry) -> Outcome {
        let (done, outcome) = oneshot::channel();
        let outgoing = Outgoing {
            queued: queued.clone(),
            entry,
            done,
        };
        {
            let mut outboxes = self.outboxes();
            let outbox = outboxes.entry(queued.peer.clone()).or_insert_with(|| {
                let (outbox, waiting) = mpsc::unbounded_channel();
                tokio::spawn(outbox_loop(Arc::clone(self), queued.peer.clone(), waiting));
                outbox
            });
            if outbox.send(outgoing).is_err() {
                return Outcome::NotQueued;
            }
        }
        outcome.await.unwrap_or(Outcome::NotQueued)
    }

    /// One commit for `peer`'s outbox: seals `batch` (the session exists) into one envelope and
    /// persists the messages (history and queue) with the session, and records the deliveries
    /// the receipts of `answered` acknowledged; then tells each message's `send` how it went.
    /// Returns the sealed batch, to deliver.
    fn commit_outbox(
        &self,
        peer: &str,
        mut batch: Vec<Outgoing>,
        answered: Vec<Answered>,
    ) -> Option<SealedBatch> {
        let records = answered
            .iter()
            .flat_map(|a| a.batch.messages.iter().map(move |m| (a, m.queued.id)))
            .filter(|(a, id)| a.acknowledged.contains(id))
            .fold(Batch::new(), |commit, (_, id)| {
                commit.set_status(id, Status::Delivered).remove_queued(id)
            });
        let (persisted, wire) = if batch.is_empty() {
            (self.store.commit(records).map_err(NodeError::from), None)
        } else {
            let mut core = self.core();
            let Core { messenger, rng } = &mut *core;
            let messages: Vec<(MessageId, &[u8])> = batch
                .iter()
                .map(|m| (m.queued.id, m.entry.body.as_slice()))
                .collect();
            let sealed = messenger
                .seal_batch(peer, &messages, now(), rng)
                .map_err(NodeError::from)
                .and_then(|wire| {
                    let snapshot = messenger.peer_snapshot(peer).ok_or_else(|| {
                        NodeError::from(MessengerError::NoSession(peer.to_owned()))
                    })?;
                    Ok((wire, self.identity.seal(rng, SESSION_LABEL, &snapshot)?))
                });
            // Queued with the body left in the history: a retry seals it anew, under its id.
            let (commit, wire) = match sealed {
                Ok((wire, snapshot)) => (
                    batch
                        .iter_mut()
                        .fold(records.put_session(peer, &snapshot), |commit, m| {
                            m.queued.payload = vec![IN_HISTORY];
                            commit
                                .put_message(m.entry.clone())
                                .enqueue(m.queued.clone())
                        }),
                    Some(wire),
                ),
                Err(error) => {
                    tracing::debug!(%peer, %error, "batch not sealed");
                    (records, None)
                }
            };
            // Committed under the lock, so that session snapshots reach the disk in order.
            let persisted = self.store.commit(commit).map_err(NodeError::from);
            if wire.is_none() || persisted.is_err() {
                // Back to the persisted session: nothing sealed here goes out.
                self.rollback(messenger, peer);
            }
            (persisted, wire)
        };
        let recorded = match persisted {
            Ok(()) => true,
            Err(error) => {
                // Each message takes the usual path (which delivers again the ones delivered
                // here and gets their receipts again).
                tracing::warn!(%peer, %error, "outbox commit failed");
                false
            }
        };
        for answer in answered {
            for outgoing in answer.batch.messages {
                let id = outgoing.queued.id;
                if recorded && answer.acknowledged.contains(&id) {
                    tracing::debug!(%id, to = %peer, "delivered");
                    self.emit(NodeEvent::Delivered {
                        id,
                        to: peer.to_owned(),
                    });
                    let _ = outgoing.done.send(Outcome::Delivered);
                } else {
                    let _ = outgoing.done.send(Outcome::Queued(outgoing.queued));
                }
            }
        }
        match wire {
            Some(wire) if recorded => Some(SealedBatch {
                messages: batch,
                wire,
            }),
            _ => {
                for outgoing in batch {
                    let _ = outgoing.done.send(Outcome::NotQueued);
                }
                None
            }
        }
    }

    /// Delivers a sealed batch in one request; the outbox records the deliveries with its
    /// next commit.
    async fn deliver_batch(&self, peer: &str, batch: SealedBatch) -> Answered {
        let acknowledged = self.deliver_sealed(peer, &batch.wire).await;
        Answered {
            batch,
            acknowledged,
        }
    }

    /// Delivers a batch envelope to `peer`; the ids its receipt acknowledges.
    async fn deliver_sealed(&self, peer: &str, wire: &[u8]) -> HashSet<MessageId> {
        let Some(peer_id) = peer
            .parse::<DidKey>()
            .ok()
            .as_ref()
            .and_then(net::peer_id_of)
        else {
            return HashSet::new();
        };
        let receipt = match self
            .net
            .request_on(Lane::Batch, peer_id, Vec::new(), wire)
            .await
        {
            // The messenger may be busy sealing the next batch.
            Ok(response) => blocking(|| self.core().messenger.open_receipts(&response, now())),
            Err(error) => {
                tracing::debug!(%peer, %error, "batch not delivered");
                return HashSet::new();
            }
        };
        match receipt {
            Ok((from, ids)) if from == peer => ids.into_iter().collect(),
            Ok((from, _)) => {
                tracing::debug!(%peer, %from, "batch receipt from someone else");
                HashSet::new()
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "batch receipt refused");
                HashSet::new()
            }
        }
    }

    /// One delivery attempt of a queued message: seal it if it is not sealed yet (and
    /// persist the session and the envelope), deliver it, check the receipt, record it.
    async fn attempt(&self, queued: &mut Queued) -> Result<(), NodeError> {
        let did: DidKey = queued
            .peer
            .parse()
            .map_err(|_| NodeError::BadDid(queued.peer.clone()))?;
        let peer = net::peer_id_of(&did).ok_or_else(|| NodeError::BadDid(queued.peer.clone()))?;
        let (&tag, payload) = queued
            .payload
            .split_first()
            .ok_or_else(|| StoreError::Corrupt {
                table: "queue",
                what: "empty payload",
            })?;
        let mut addrs = Vec::new();
        let wire = match tag {
            // Sealed a moment ago (by `send`): as it is. Older: re-signed with a fresh
            // timestamp, or the receiver's clock-skew check would refuse it.
            SEALED if now().duration_since(queued.id.timestamp()) < Some(FRESH) => payload.to_vec(),
            SEALED => self.core().messenger.restamp(payload, now())?,
            PLAIN | IN_HISTORY => {
                let body = if tag == PLAIN {
                    payload.to_vec()
                } else {
                    self.store
                        .message(queued.id)?
                        .ok_or(StoreError::Corrupt {
                            table: "queue",
                            what: "a message queued without its history entry",
                        })?
                        .body
                };
                let bundle = if self.core().messenger.has_session(&queued.peer) {
                    None
                } else {
                    let record = self.net.resolve(&did).await?;
                    addrs = record_addrs(&record, peer);
                    Some(messenger::bundle_of_record(&record)?)
                };
                let mut core = self.core();
                self.seal_queued(&mut core, queued, &body, bundle.as_ref(), Batch::new())?
            }
            _ => {
                return Err(StoreError::Corrupt {
                    table: "queue",
                    what: "unknown payload tag",
                }
                .into());
            }
        };
        let response = match self
            .net
            .request_with_addresses(peer, addrs.clone(), wire.clone())
            .await
        {
            Ok(response) => response,
            Err(first) if addrs.is_empty() => {
                // Not connected and no known address, or a stale one: look the peer up.
                let record = self.net.resolve(&did).await.map_err(|_| first)?;
                self.net
                    .request_with_addresses(peer, record_addrs(&record, peer), wire)
                    .await?
            }
            Err(error) => return Err(error.into()),
        };
        match self.core().messenger.open_receipt(&response, now())? {
            Inbound::Receipt { id, from } if id == queued.id && from == queued.peer => {}
            _ => return Err(NodeError::BadReceipt),
        }
        self.store.commit(
            Batch::new()
                .set_status(queued.id, Status::Delivered)
                .remove_queued(queued.id),
        )?;
        tracing::debug!(id = %queued.id, to = %queued.peer, "delivered");
        self.emit(NodeEvent::Delivered {
            id: queued.id,
            to: queued.peer.clone(),
        });
        Ok(())
    }

    /// Seals the queued message `body` for its peer (starting the session from `bundle` if
    /// there is none) and commits the session snapshot and the sealed envelope, with `batch`,
    /// in one transaction, before anything is sent; `queued` then holds the envelope. If the
    /// commit fails, the session is rolled back to its persisted state.
    fn seal_queued(
        &self,
        core: &mut Core,
        queued: &mut Queued,
        body: &[u8],
        bundle: Option<&PrekeyBundle>,
        batch: Batch,
    ) -> Result<Vec<u8>, NodeError> {
        let Core { messenger, rng } = core;
        let wire = messenger.seal_with_id(&queued.peer, bundle, body, queued.id, now(), rng)?;
        let snapshot = messenger
            .peer_snapshot(&queued.peer)
            .ok_or_else(|| MessengerError::NoSession(queued.peer.clone()))?;
        let mut next = queued.clone();
        next.payload = tagged(SEALED, &wire);
        let persisted = self
            .identity
            .seal(rng, SESSION_LABEL, &snapshot)
            .map_err(NodeError::from)
            .and_then(|sealed| {
                Ok(self.store.commit(
                    batch
                        .put_session(&queued.peer, &sealed)
                        .enqueue(next.clone()),
                )?)
            });
        if let Err(error) = persisted {
            // Back to the persisted session: the envelope is never sent, so its keys may be
            // used again.
            self.rollback(messenger, &queued.peer);
            return Err(error);
        }
        *queued = next;
        Ok(wire)
    }

    /// Whether a message of `len` bytes from `peer` is within the peer's inbound rate limit
    /// (and counts it).
    fn within_rate(&self, peer: &str, len: usize, now: Timestamp) -> bool {
        let cost = u64::try_from(len).unwrap_or(u64::MAX);
        self.inbound_rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check(peer, None, cost, now)
            .is_allowed()
    }

    /// Handles one inbound request: a message is persisted, then its receipt sent back.
    fn handle_inbound(&self, request: InboundRequest) {
        let now = now();
        let peer = net::did_of(&request.peer())
            .map_or_else(|| request.peer().to_string(), |did| did.to_string());
        if request.lane() == Lane::Batch {
            blocking(|| self.handle_batch(request, &peer, now));
            return;
        }
        if !self.within_rate(&peer, request.bytes().len(), now) {
            tracing::debug!(%peer, "inbound message over the peer's rate limit: dropped");
            return;
        }
        let mut core = self.core();
        let Core { messenger, rng } = &mut *core;
        let prekeys_before = messenger.prekeys().one_time_prekey_count();
        match messenger.open(request.bytes(), now, rng) {
            Ok(Inbound::Message {
                id,
                from,
                sent,
                body,
                receipt,
            }) => {
                let persisted = (|| -> Result<(), NodeError> {
                    let sealed = self.sealed_session(messenger, rng, &from, prekeys_before)?;
                    let entry = HistoryEntry {
                        id,
                        peer: from.clone(),
                        direction: Direction::Incoming,
                        timestamp: now,
                        status: Status::Received,
                        body: body.to_vec(),
                    };
                    self.store
                        .commit(Batch::new().put_session(&from, &sealed).put_message(entry))?;
                    Ok(())
                })();
                if let Err(error) = persisted {
                    // No receipt, and the session and the duplicate check back as on disk:
                    // the sender's retry is opened again.
                    messenger.forget_received(&from, id);
                    self.rollback(messenger, &from);
                    drop(core);
                    tracing::error!(%error, %id, "incoming message not persisted");
                    self.emit(NodeEvent::Error {
                        message: format!("incoming message {id} not persisted: {error}"),
                    });
                    return;
                }
                drop(core);
                if let Err(error) = request.respond(receipt) {
                    tracing::debug!(%error, %id, "receipt not sent");
                }
                tracing::debug!(%id, %from, "message received");
                self.emit(NodeEvent::Message {
                    id,
                    from,
                    sent,
                    body: body.to_vec(),
                });
            }
            Ok(Inbound::Stream {
                from,
                part,
                receipt,
                ..
            }) => {
                let persisted = self
                    .sealed_session(messenger, rng, &from, prekeys_before)
                    .and_then(|sealed| Ok(self.store.put_session(&from, &sealed)?));
                if let Err(error) = persisted {
                    // No receipt: the sender sends the frame again.
                    self.rollback(messenger, &from);
                    drop(core);
                    tracing::error!(%error, "incoming stream frame not persisted");
                    self.emit(NodeEvent::Error {
                        message: format!("incoming stream frame not persisted: {error}"),
                    });
                    return;
                }
                drop(core);
                self.handle_stream(request, from, part, receipt);
            }
            Ok(Inbound::Duplicate { id, receipt, .. }) => {
                drop(core);
                tracing::debug!(%id, "duplicate message: receipt sent again");
                let _ = request.respond(receipt);
            }
            Ok(_) => {
                drop(core);
                tracing::debug!(peer = %request.peer(), "unexpected receipt as a request");
            }
            Err(error) => {
                drop(core);
                tracing::debug!(peer = %request.peer(), %error, "inbound message refused");
                self.emit(NodeEvent::Error {
                    message: format!("message from {} refused: {error}", request.peer()),
                });
            }
        }
    }

    /// Handles a batch of messages from `peer`: those within its rate limit are opened, the
    /// new ones persisted with the session in one commit, then one receipt goes back for all
    /// that were opened (the sender delivers the others again on its own, one by one).
    fn handle_batch(&self, request: InboundRequest, peer: &str, now: Timestamp) {
        let mut core = self.core();
        let Core { messenger, rng } = &mut *core;
        let prekeys_before = messenger.prekeys().one_time_prekey_count();
        let admit = |len| self.within_rate(peer, len, now);
        let opened = match messenger.open_batch(peer, request.bytes(), now, rng, admit) {
            Ok(opened) => opened,
            Err(error) => {
                // As on disk (opening may have advanced the session before failing).
                self.rollback(messenger, peer);
                drop(core);
                tracing::debug!(%peer, %error, "inbound batch refused");
                self.emit(NodeEvent::Error {
                    message: format!("messages from {peer} refused: {error}"),
                });
                return;
            }
        };
        for (index, error) in &opened.refused {
            tracing::debug!(%peer, index, %error, "message of a batch refused");
        }
        let persisted = (|| -> Result<(), NodeError> {
            if opened.received.is_empty() {
                return Ok(());
            }
            let sealed = self.sealed_session(messenger, rng, peer, prekeys_before)?;
            let batch = opened.received.iter().fold(
                Batch::new().put_session(peer, &sealed),
                |batch, message| {
                    batch.put_message(HistoryEntry {
                        id: message.id,
                        peer: peer.to_owned(),
                        direction: Direction::Incoming,
                        timestamp: now,
                        status: Status::Received,
                        body: message.body.to_vec(),
                    })
                },
            );
            Ok(self.store.commit(batch)?)
        })();
        if let Err(error) = persisted {
            // No receipt, and the session and the duplicate check back as on disk.
            for message in &opened.received {
                messenger.forget_received(peer, message.id);
            }
            self.rollback(messenger, peer);
            drop(core);
            tracing::error!(%error, %peer, "incoming messages not persisted");
            self.emit(NodeEvent::Error {
                message: format!("incoming messages from {peer} not persisted: {error}"),
            });
            return;
        }
        drop(core);
        if let Err(error) = request.respond(opened.receipt) {
            tracing::debug!(%error, %peer, "batch receipt not sent");
        }
        for message in opened.received {
            tracing::debug!(id = %message.id, from = %peer, "message received");
            self.emit(NodeEvent::Message {
                id: message.id,
                from: peer.to_owned(),
                sent: message.sent,
                body: message.body.to_vec(),
            });
        }
    }

    /// The session with `from`, sealed for the store, after something from `from` was opened;
    /// if opening used a one-time prekey, the prekeys are persisted first.
    fn sealed_session(
        &self,
        messenger: &Messenger,
        rng: &mut ChaCha20Rng,
        from: &str,
        prekeys_before: usize,
    ) -> Result<Vec<u8>, NodeError> {
        if messenger.prekeys().one_time_prekey_count() != prekeys_before {
            let sealed = self.identity.seal_prekeys(rng, messenger.prekeys())?;
            self.store.put_prekeys(&sealed)?;
        }
        let snapshot = messenger
            .peer_snapshot(from)
            .ok_or_else(|| MessengerError::NoSession(from.to_owned()))?;
        Ok(self.identity.seal(rng, SESSION_LABEL, &snapshot)?)
    }

    /// Handles a frame of a file stream (its session persisted): the receipt goes back once
    /// the frame is persisted; a frame refused for good is answered with an empty response; a
    /// frame that failed to persist is not answered (the sender sends it again).
    fn handle_stream(
        &self,
        request: InboundRequest,
        from: String,
        part: StreamPart,
        receipt: Vec<u8>,
    ) {
        let (stream, result) = match part {
            StreamPart::Start(start) => (
                start.stream_id(),
                self.files.start(&self.store, &from, &start).map(|()| None),
            ),
            StreamPart::Chunk { info, data } => (
                info.stream_id,
                self.files.chunk(&self.store, &from, &info, &data).map(Some),
            ),
            StreamPart::End { stream_id } => (
                stream_id,
                self.files.end(&self.store, &from, stream_id).map(|()| None),
            ),
        };
        match result {
            Ok(received) => {
                if let Err(error) = request.respond(receipt) {
                    tracing::debug!(%error, %stream, "stream receipt not sent");
                }
                match received {
                    Some(Received::Accepted {
                        received,
                        total,
                        report: true,
                    }) => self.emit(NodeEvent::FileProgress {
                        id: stream,
                        from,
                        received,
                        total,
                    }),
                    Some(Received::Complete(file)) => {
                        tracing::info!(%stream, from = %file.from, size = file.size, "file received");
                        self.emit(NodeEvent::FileProgress {
                            id: stream,
                            from: file.from.clone(),
                            received: file.size,
                            total: file.size,
                        });
                        self.emit(NodeEvent::File {
                            id: file.id,
                            from: file.from,
                            name: file.name,
                            path: file.path,
                            size: file.size,
                            hash: file.hash,
                        });
                    }
                    _ => {}
                }
            }
            Err(error @ (FileError::Io(_) | FileError::Store(_))) => {
                tracing::warn!(%error, %stream, "stream frame not persisted");
                self.emit(NodeEvent::Error {
                    message: format!("stream {stream} from {from}: {error}"),
                });
            }
            Err(error) => {
                tracing::debug!(%error, %stream, "stream frame refused");
                let _ = request.respond(Vec::new());
                self.emit(NodeEvent::Error {
                    message: format!("stream {stream} from {from} refused: {error}"),
                });
            }
        }
    }

    /// Sends a file (see [`Node::send_file`]).
    async fn send_file(
        &self,
        to: &str,
        path: &Path,
        stall: Duration,
    ) -> Result<FileReceipt, NodeError> {
        let did: DidKey = to.parse().map_err(|_| NodeError::BadDid(to.to_owned()))?;
        let to = did.to_string();
        if did.ed25519().is_none() || to == self.did {
            return Err(NodeError::BadDid(to));
        }
        let peer = net::peer_id_of(&did).ok_or_else(|| NodeError::BadDid(to.clone()))?;
        if self.is_stopped() {
            return Err(NodeError::Stopped);
        }
        let stream = self.new_id(now());
        let file = path.to_path_buf();
        let manifest = tokio::task::spawn_blocking(move || files::hash_file(&file, stream))
            .await
            .map_err(|e| FileError::Io(std::io::Error::other(e)))??;
        let start = manifest.start().clone();
        let mut route = Route {
            to,
            did,
            peer,
            stream,
            addrs: Mutex::new(Vec::new()),
            bundle: None,
        };
        if !self.core().messenger.has_session(&route.to) {
            let record = self.net.resolve(&route.did).await?;
            *route.addrs() = record_addrs(&record, peer);
            route.bundle = Some(messenger::bundle_of_record(&record)?);
        }
        tracing::debug!(%stream, to = %route.to, size = start.size(), chunks = start.total(), "sending a file");
        self.deliver_until_acked(&route, StreamFrame::Start(&start), stall)
            .await?;
        let resent = self.send_chunks(&route, &manifest, path, stall).await?;
        self.deliver_until_acked(&route, StreamFrame::End(stream), stall)
            .await?;
        tracing::debug!(%stream, to = %route.to, resent, "file delivered");
        Ok(FileReceipt {
            id: stream,
            to: route.to,
            size: start.size(),
            hash: *start.hash(),
            chunks: start.total(),
            resent,
        })
    }

    /// Sends every chunk of `manifest` until each is acknowledged, [`FILE_WINDOW`] at a
    /// time, resending the ones not acknowledged after a backoff. Returns the number of
    /// resends.
    async fn send_chunks(
        &self,
        route: &Route,
        manifest: &talos_wire::chunk::Manifest,
        path: &Path,
        stall: Duration,
    ) -> Result<u32, NodeError> {
        use futures::StreamExt as _;
        let start = manifest.start();
        let total = start.total();
        let mut pending: std::collections::VecDeque<u32> = (0..total).collect();
        let mut acked = vec![false; total as usize];
        let mut done = 0u32;
        let mut resent = 0u32;
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut last_progress = tokio::time::Instant::now();
        let mut pause_until = last_progress;
        let mut delay = self.config.retry_base.min(Duration::from_millis(500));
        let mut last_error = String::new();
        let mut refresh = false;
        while done < total {
            if self.is_stopped() {
                return Err(NodeError::Stopped);
            }
            let now_i = tokio::time::Instant::now();
            if now_i.duration_since(last_progress) > stall {
                return Err(NodeError::NotDelivered {
                    id: route.stream,
                    reason: format!("file transfer stalled: {last_error}"),
                });
            }
            if now_i >= pause_until {
                if refresh {
                    refresh = false;
                    self.refresh_route(route).await;
                }
                while in_flight.len() < FILE_WINDOW {
                    let Some(sequence) = pending.pop_front() else {
                        break;
                    };
                    in_flight.push(async move {
                        (
                            sequence,
                            self.send_chunk(route, manifest, path, sequence).await,
                        )
                    });
                }
            }
            let wake = if pause_until > now_i {
                pause_until
            } else {
                now_i + stall.max(Duration::from_millis(10))
            };
            let next = tokio::select! {
                next = in_flight.next(), if !in_flight.is_empty() => next,
                () = tokio::time::sleep_until(wake) => None,
            };
            let Some((sequence, result)) = next else {
                continue;
            };
            match result {
                Ok(()) => {
                    if let Some(slot) = acked.get_mut(sequence as usize)
                        && !*slot
                    {
                        *slot = true;
                        done += 1;
                    }
                    last_progress = tokio::time::Instant::now();
                    delay = self.config.retry_base.min(Duration::from_millis(500));
                }
                Err(error @ (NodeError::File(_) | NodeError::Store(_) | NodeError::Stopped)) => {
                    return Err(error);
                }
                Err(error) => {
                    tracing::debug!(stream = %route.stream, sequence, %error, "chunk not acknowledged");
                    last_error = error.to_string();
                    pending.push_back(sequence);
                    resent = resent.saturating_add(1);
                    let now_i = tokio::time::Instant::now();
                    if pause_until <= now_i {
                        pause_until = now_i + delay;
                        delay = (delay * 2).min(self.config.retry_max);
                        refresh = true;
                    }
                }
            }
        }
        Ok(resent)
    }

    /// Reads, seals and delivers chunk `sequence` once.
    async fn send_chunk(
        &self,
        route: &Route,
        manifest: &talos_wire::chunk::Manifest,
        path: &Path,
        sequence: u32,
    ) -> Result<(), NodeError> {
        let (Some(info), Some(range)) = (
            manifest.info(sequence),
            manifest.start().chunk_range(sequence),
        ) else {
            return Err(FileError::Changed.into());
        };
        let file = path.to_path_buf();
        let data = tokio::task::spawn_blocking(move || files::read_chunk(&file, range))
            .await
            .map_err(|e| FileError::Io(std::io::Error::other(e)))??;
        let data = Zeroizing::new(data);
        self.deliver_frame(route, StreamFrame::Chunk(&info, &data))
            .await
    }

    /// Delivers `frame` (sealed anew each time) until it is acknowledged, with backoff; gives
    /// up after `stall`.
    async fn deliver_until_acked(
        &self,
        route: &Route,
        frame: StreamFrame<'_>,
        stall: Duration,
    ) -> Result<(), NodeError> {
        let begin = tokio::time::Instant::now();
        let mut delay = self.config.retry_base.min(Duration::from_millis(500));
        loop {
            if self.is_stopped() {
                return Err(NodeError::Stopped);
            }
            let error = match self.deliver_frame(route, frame).await {
                Ok(()) => return Ok(()),
                Err(error @ (NodeError::File(_) | NodeError::Store(_))) => return Err(error),
                Err(error) => error,
            };
            tracing::debug!(stream = %route.stream, %error, "stream frame not acknowledged");
            if begin.elapsed() > stall {
                return Err(NodeError::NotDelivered {
                    id: route.stream,
                    reason: error.to_string(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.config.retry_max);
            self.refresh_route(route).await;
        }
    }

    /// Seals `frame` for the route's peer (persisting the session first), delivers it and
    /// checks the receipt.
    async fn deliver_frame(&self, route: &Route, frame: StreamFrame<'_>) -> Result<(), NodeError> {
        let (id, wire) = {
            let mut core = self.core();
            let Core { messenger, rng } = &mut *core;
            let (id, wire) =
                messenger.seal_stream(&route.to, route.bundle.as_ref(), frame, now(), rng)?;
            let snapshot = messenger
                .peer_snapshot(&route.to)
                .ok_or_else(|| MessengerError::NoSession(route.to.clone()))?;
            let persisted = self
                .identity
                .seal(rng, SESSION_LABEL, &snapshot)
                .map_err(NodeError::from)
                .and_then(|sealed| Ok(self.store.put_session(&route.to, &sealed)?));
            if let Err(error) = persisted {
                self.rollback(messenger, &route.to);
                return Err(error);
            }
            (id, wire)
        };
        let addrs = route.addrs().clone();
        let response = self
            .net
            .request_on(Lane::Message, route.peer, addrs, &wire)
            .await?;
        if response.is_empty() {
            return Err(FileError::Refused(route.stream).into());
        }
        match self.core().messenger.open_receipt(&response, now())? {
            Inbound::Receipt { id: got, from } if got == id && from == route.to => Ok(()),
            _ => Err(NodeError::BadReceipt),
        }
    }

    /// Looks the route's peer up again after a failure, for fresh addresses (best effort).
    async fn refresh_route(&self, route: &Route) {
        match self.net.resolve(&route.did).await {
            Ok(record) => *route.addrs() = record_addrs(&record, route.peer),
            Err(error) => tracing::debug!(%error, "peer not resolved"),
        }
    }

    /// Puts the session with `peer` back as it was last persisted (or drops it if none was).
    fn rollback(&self, messenger: &mut Messenger, peer: &str) {
        messenger.forget_peer(peer);
        let restored = self
            .store
            .session(peer)
            .map_err(NodeError::from)
            .and_then(|stored| match stored {
                Some(sealed) => {
                    let snapshot = self.identity.open(SESSION_LABEL, &sealed)?;
                    Ok(messenger.restore_peer(peer, &snapshot)?)
                }
                None => Ok(()),
            });
        if let Err(error) = restored {
            tracing::error!(%peer, %error, "session not rolled back: it is dropped");
            messenger.forget_peer(peer);
        }
    }

    /// Signs and publishes a fresh discovery record (`seq` = now in milliseconds, so a
    /// restarted node's record replaces its old one).
    async fn publish(&self) -> Result<(), NodeError> {
        let addresses: Vec<String> = self
            .net
            .listen_addrs()
            .await?
            .iter()
            .take(talos_did::record::MAX_ADDRESSES)
            .map(ToString::to_string)
            .collect();
        let issued_at = now();
        let fields = RecordFields {
            seq: issued_at.as_millis(),
            issued_at,
            expires_at: issued_at.saturating_add(self.config.record_lifetime),
            addresses,
            tools: Vec::new(),
            prekeys: messenger::record_prekeys(self.core().messenger.prekeys()),
            puzzle_nonce: self.puzzle_nonce,
        };
        let record = DiscoveryRecord::sign(fields, self.identity.signing_key())
            .map_err(|e| NetError::Setup(format!("record: {e}")))?;
        self.net.publish_record(&record).await?;
        tracing::debug!(seq = record.seq(), "record published");
        Ok(())
    }

    /// The delay before attempt number `attempts + 1`.
    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
        self.config
            .retry_base
            .saturating_mul(factor)
            .min(self.config.retry_max)
    }
}

/// Restores the messenger: prekeys, then every stored session, then the ids of the messages
/// received (so that retries of them are duplicates).
fn restore(
    identity: &Identity,
    store: &Store,
    prekeys: PrekeyStore,
) -> Result<Messenger, NodeError> {
    let mut messenger = Messenger::new(prekeys);
    for peer in store.sessions()? {
        let Some(sealed) = store.session(&peer)? else {
            continue;
        };
        let restored = identity
            .open(SESSION_LABEL, &sealed)
            .map_err(NodeError::from)
            .and_then(|snapshot| Ok(messenger.restore_peer(&peer, &snapshot)?));
        if let Err(error) = restored {
            tracing::warn!(%peer, %error, "session not restored");
        }
    }
    let history = store.history(None)?;
    let skip = history.len().saturating_sub(messenger::MAX_REMEMBERED);
    for entry in history.iter().skip(skip) {
        if entry.direction == Direction::Incoming {
            messenger.remember_received(&entry.peer, entry.id);
        }
    }
    Ok(messenger)
}

/// Delivers the messages waiting in `peer`'s outbox in batches, up to [`BATCHES_IN_FLIGHT`]
/// out at once, so that the messages sent meanwhile go together in the next. Each commit
/// seals and persists the next batch and records the deliveries of the batches answered
/// since the last ([`Shared::commit_outbox`]). Ends when nothing waits and nothing is out (the
/// next message starts a new task), or when the node stops (once the batches out are
/// answered and recorded).
async fn outbox_loop(
    shared: Arc<Shared>,
    peer: String,
    mut waiting: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut stopped = shared.stopped.clone();
    let mut out: JoinSet<Answered> = JoinSet::new();
    let mut carried: Option<Outgoing> = None;
    let mut answered = Vec::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        if out.is_empty() && carried.is_none() {
            let mut outboxes = shared.outboxes();
            if waiting.is_empty() {
                outboxes.remove(&peer);
                return;
            }
        }
        // Wait for an answer, or for a message when another batch may go out.
        if out.len() >= BATCHES_IN_FLIGHT {
            answered.extend(out.join_next().await.and_then(Result::ok));
        } else if carried.is_none() {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => break,
                Some(answer) = out.join_next(), if !out.is_empty() => answered.extend(answer.ok()),
                next = waiting.recv() => match next {
                    Some(next) => carried = Some(next),
                    None => break,
                },
            }
        }
        while let Some(answer) = out.try_join_next() {
            answered.extend(answer.ok());
        }
        let batch = if out.len() < BATCHES_IN_FLIGHT {
            next_batch(&mut carried, &mut waiting)
        } else {
            Vec::new()
        };
        if batch.is_empty() && answered.is_empty() {
            continue;
        }
        let answers = core::mem::take(&mut answered);
        if let Some(sealed) = blocking(|| shared.commit_outbox(&peer, batch, answers)) {
            let (shared, peer) = (Arc::clone(&shared), peer.clone());
            out.spawn(async move { shared.deliver_batch(&peer, sealed).await });
        }
    }
    // Stopping: the batches out are answered (or time out) and recorded; what still waits
    // takes the usual path, which reports the node stopped.
    while let Some(answer) = out.join_next().await {
        answered.extend(answer.ok());
    }
    if !answered.is_empty() {
        blocking(|| shared.commit_outbox(&peer, Vec::new(), answered));
    }
    shared.outboxes().remove(&peer);
    waiting.close();
    for outgoing in carried
        .into_iter()
        .chain(core::iter::from_fn(|| waiting.try_recv().ok()))
    {
        let _ = outgoing.done.send(Outcome::NotQueued);
    }
}

/// The next batch from an outbox: up to [`messenger::MAX_BATCH`] messages and
/// [`BATCH_BYTES`] of bodies (a message that does not fit waits in `carried`).
fn next_batch(
    carried: &mut Option<Outgoing>,
    waiting: &mut mpsc::UnboundedReceiver<Outgoing>,
) -> Vec<Outgoing> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while batch.len() < messenger::MAX_BATCH {
        let Some(next) = carried.take().or_else(|| waiting.try_recv().ok()) else {
            break;
        };
        if !batch.is_empty() && bytes + next.entry.body.len() > BATCH_BYTES {
            *carried = Some(next);
            break;
        }
        bytes += next.entry.body.len();
        batch.push(next);
    }
    batch
}

async fn inbound_loop(shared: Arc<Shared>, mut inbound: mpsc::Receiver<InboundRequest>) {
    let mut stopped = shared.stopped.clone();
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            request = inbound.recv() => match request {
                Some(request) => shared.handle_inbound(request),
                None => break,
            },
        }
    }
}

/// Registers `peer`'s route and starts the task that carries the tunnel's packets to it.
fn open_link(shared: &Arc<Shared>, peer: PeerId, addrs: Vec<Multiaddr>) -> PeerLink {
    let (to_peer, outgoing) = mpsc::channel(MCP_QUEUE);
    let (incoming, from_peer) = mpsc::channel(MCP_QUEUE);
    shared.mcp_routes().links.insert(peer, incoming);
    let pump = mcp_pump(Arc::clone(shared), peer, addrs, outgoing);
    shared.mcp_pumps().spawn(pump);
    PeerLink { to_peer, from_peer }
}

/// Carries one tunnel's packets to `peer`, one request each, in order.
async fn mcp_pump(
    shared: Arc<Shared>,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let mut stopped = shared.stopped.clone();
    loop {
        let packet = tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            packet = outgoing.recv() => match packet {
                Some(packet) => packet,
                None => break,
            },
        };
        if let Err(error) = shared
            .net
            .request_on(Lane::Mcp, peer, addrs.clone(), &packet)
            .await
        {
            // The tunnel answers what is lost (its request timeout), so a lost packet is
            // reported, not retried: a retry could reorder the tunnel's packets.
            tracing::debug!(%peer, %error, "mcp packet not delivered");
            shared.emit(NodeEvent::Error {
                message: format!("mcp packet to {peer} not delivered: {error}"),
            });
        }
    }
}

/// Hands the MCP packets peers send to their tunnels (see [`Node::mcp_link`] and
/// [`Node::mcp_accept`]); a packet is acknowledged once its tunnel has it.
async fn mcp_loop(shared: Arc<Shared>, mut inbound: mpsc::Receiver<InboundRequest>) {
    let mut stopped = shared.stopped.clone();
    loop {
        let mut request = tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            request = inbound.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        let peer = request.peer();
        let route = {
            let mut routes = shared.mcp_routes();
            match routes.links.get(&peer) {
                Some(link) if !link.is_closed() => Some(link.clone()),
                _ => {
                    routes.links.remove(&peer);
                    None
                }
            }
        };
        let route = match route {
            Some(route) => route,
            None => {
                let accept = shared.mcp_routes().accept.clone();
                let (Some(accept), Some(did)) = (accept, net::did_of(&peer)) else {
                    tracing::debug!(%peer, "mcp packet from a peer without a tunnel: refused");
                    continue;
                };
                let link = open_link(&shared, peer, Vec::new());
                let route = shared.mcp_routes().links.get(&peer).cloned();
                if accept.try_send((did.to_string(), link)).is_err() {
                    shared.mcp_routes().links.remove(&peer);
                    tracing::debug!(%peer, "mcp session not accepted: refused");
                    continue;
                }
                let Some(route) = route else { continue };
                route
            }
        };
        let packet = request.take_bytes();
        match tokio::time::timeout(MCP_HANDOFF, route.send(packet)).await {
            Ok(Ok(())) => {
                let _ = request.respond(Vec::new());
            }
            _ => tracing::debug!(%peer, "mcp tunnel not taking packets: refused"),
        }
    }
}

async fn event_loop(shared: Arc<Shared>, mut events: mpsc::Receiver<net::Event>) {
    let mut stopped = shared.stopped.clone();
    loop {
        let event = tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        let name =
            |peer: &PeerId| net::did_of(peer).map_or_else(|| peer.to_string(), |d| d.to_string());
        match event {
            net::Event::Connected { peer } => {
                shared.wake.notify_one();
                shared.publish_now.notify_one();
                shared.emit(NodeEvent::PeerConnected { did: name(&peer) });
            }
            net::Event::Disconnected { peer } => {
                // The peer's MCP session ends with its last connection: its tunnel sees its
                // link close (a server tunnel stops its process), and the peer's next
                // session gets a new one.
                shared.mcp_routes().links.remove(&peer);
                shared.emit(NodeEvent::PeerDisconnected { did: name(&peer) });
            }
            net::Event::RecordRefused { from, reason } => {
                tracing::debug!(?from, %reason, "dht record refused");
            }
            _ => {}
        }
    }
}

/// Keeps the record published: retried (1 s, doubling to 30 s, or at once when a peer
/// connects) until a peer takes it, then refreshed at half its lifetime.
async fn publish_loop(shared: Arc<Shared>, first: Result<(), NodeError>) {
    let mut stopped = shared.stopped.clone();
    let mut published = first.is_ok();
    let mut retry = Duration::from_secs(1);
    loop {
        let wait = if published {
            shared.config.record_lifetime / 2
        } else {
            retry
        };
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            () = tokio::time::sleep(wait) => {}
            () = shared.publish_now.notified(), if !published => {}
        }
        let result = tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            result = shared.publish() => result,
        };
        match result {
            Ok(()) => {
                published = true;
                retry = Duration::from_secs(1);
            }
            Err(error) => {
                tracing::debug!(%error, "record not published yet");
                if published {
                    shared.emit(NodeEvent::Error {
                        message: format!("record not refreshed: {error}"),
                    });
                }
                published = false;
                retry = (retry * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Retries queued messages when they are due; gives up on the expired ones.
async fn retry_loop(shared: Arc<Shared>) {
    let mut stopped = shared.stopped.clone();
    let mut attempts = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            () = tokio::time::sleep(shared.config.retry_tick) => {}
            () = shared.wake.notified() => {}
        }
        while attempts.try_join_next().is_some() {}
        let now = now();
        let due = match shared.store.due(now) {
            Ok(due) => due,
            Err(error) => {
                tracing::error!(%error, "queue unreadable");
                continue;
            }
        };
        for queued in due {
            if !shared.in_flight().insert(queued.id) {
                continue;
            }
            if queued.is_expired(now) {
                let given_up = shared.store.commit(
                    Batch::new()
                        .set_status(queued.id, Status::Failed)
                        .remove_queued(queued.id),
                );
                shared.in_flight().remove(&queued.id);
                match given_up {
                    Ok(()) => shared.emit(NodeEvent::Failed {
                        id: queued.id,
                        to: queued.peer.clone(),
                    }),
                    Err(error) => tracing::error!(%error, "queue not updated"),
                }
                continue;
            }
            let next = now_plus(shared.backoff(queued.attempts));
            if let Err(error) = shared.store.reschedule(queued.id, next) {
                tracing::error!(%error, "queue not updated");
                shared.in_flight().remove(&queued.id);
                continue;
            }
            let shared = Arc::clone(&shared);
            attempts.spawn(async move {
                let mut queued = queued;
                queued.next_attempt = next;
                queued.attempts = queued.attempts.saturating_add(1);
                let id = queued.id;
                let _guard = InFlight {
                    shared: &shared,
                    id,
                };
                if let Err(error) = shared.attempt(&mut queued).await {
                    tracing::debug!(%id, %error, "retry failed");
                }
            });
        }
    }
    // Let deliveries under way finish for a moment; the rest stay queued.
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while attempts.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        attempts.shutdown().await;
    }
}

/// Runs `work` (long on the CPU or waiting for the disk) without holding up the runtime's
/// other tasks: on a multi-threaded runtime, the worker's other tasks move to another thread
/// meanwhile.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// A ChaCha20 RNG seeded from the operating system.
fn os_rng() -> ChaCha20Rng {
    let mut seed = Zeroizing::new([0u8; 32]);
    if let Err(error) = getrandom::fill(&mut seed[..]) {
        // No OS randomness: nothing secret can be made safely. This does not happen on any
        // supported platform.
        tracing::error!(%error, "the operating system RNG failed");
        std::process::abort();
    }
    ChaCha20Rng::from_seed(*seed)
}

fn now_plus(delay: Duration) -> Timestamp {
    now().saturating_add(delay)
}
