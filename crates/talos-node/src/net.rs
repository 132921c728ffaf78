//! The libp2p network of a Talos node.
//!
//! One [`Network`] runs a libp2p `Swarm` in a tokio task and is driven through channels:
//! every call sends a command and awaits its reply, so a `Network` is used from any task
//! with `&self`. The swarm speaks
//!
//! - TCP + Noise + Yamux, and QUIC (`/udp/PORT/quic-v1`, TLS 1.3), both with the node's
//!   Ed25519 identity key;
//! - identify (`/ipfs/id/1.0.0`, protocol version [`IDENTIFY_PROTOCOL_VERSION`]); the listen
//!   addresses a peer reports are added to the DHT's routing table;
//! - Kademlia under [`KAD_PROTOCOL`] (not the IPFS DHT), in server mode, with record
//!   filtering on: every record put to this node, and every record a lookup returns, is a
//!   discovery record checked by talos-did before it is stored or used (see
//!   [`RecordRefusal`] and [`record_key`]); provider records are refused;
//! - request-response under [`WIRE_PROTOCOL`] with [`WireCodec`]: length-prefixed opaque
//!   bytes (talos-wire frames or envelopes), at most [`MAX_MESSAGE_LEN`] each way;
//! - gossipsub on [`CHECKPOINT_TOPIC`]: signed messages (strict validation), opaque
//!   checkpoint bytes of at most [`MAX_CHECKPOINT_LEN`].
//!
//! # Identity: a DID is a `PeerId`
//!
//! The libp2p key pair is made from the same Ed25519 seed as the node's `did:key`, so the
//! `PeerId` (the identity multihash of the protobuf-encoded Ed25519 public key: libp2p inlines
//! keys of up to 42 encoded bytes, and an Ed25519 key encodes in 36) carries the very public
//! key the DID names. [`peer_id_of`] and [`did_of`] convert both ways without any lookup, and
//! Noise (TCP) and TLS (QUIC) authenticate the peer's key on every connection: a request from
//! `PeerId` P comes from the holder of the DID `did_of(P)`.
//!
//! # Use
//!
//! [`Network::new`] binds the listen addresses and returns once they are known
//! ([`Network::listen_addrs`]). Take the streams once with [`Network::take_events`] and
//! [`Network::take_inbound`] and serve them: inbound requests are answered with
//! [`InboundRequest::respond`]; unanswered ones time out. [`Network::bootstrap`] joins the DHT
//! through known peers, [`Network::publish_record`] puts this node's discovery record,
//! [`Network::resolve`] finds and validates another DID's record, [`Network::connect`] dials
//! the addresses in it, [`Network::request`] does a round trip.
//!
//! The node refreshes its record (a higher `seq`) before it expires; this module only puts
//! what it is given. Checkpoint bytes are delivered as they are: the ledger checks them.

mod codec;
mod driver;
mod records;

use core::time::Duration;

use libp2p::identity::{Keypair, PublicKey};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};
use talos_crypto::{SigningKey, VerifyingKey};
use talos_did::DidKey;
use talos_did::record::{DiscoveryRecord, Policy};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use codec::{MAX_MESSAGE_LEN, TooLarge, WireCodec, read_message, write_message};

/// The longest request: a message on the wire less its [`Lane`] byte.
pub const MAX_REQUEST_LEN: usize = MAX_MESSAGE_LEN - 1;
pub use records::{RecordRefusal, record_key};

use driver::Command;

/// The Kademlia protocol name of the Talos DHT.
pub const KAD_PROTOCOL: &str = "/talos/kad/1.0.0";

/// The request-response protocol that carries talos-wire frames.
pub const WIRE_PROTOCOL: &str = "/talos/wire/1.0.0";

/// The gossipsub topic of ledger checkpoints.
pub const CHECKPOINT_TOPIC: &str = "talos/checkpoints/1";

/// The protocol version announced by identify.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "/talos/1.0.0";

/// The largest checkpoint published or delivered, in bytes.
pub const MAX_CHECKPOINT_LEN: usize = 64 * 1024;

/// How long [`Network::new`] waits for its listeners to report their addresses.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Added to the protocol timeouts for the reply to cross the channels.
const REPLY_MARGIN: Duration = Duration::from_secs(2);

/// Timeouts, limits and the record policy of a [`Network`].
#[derive(Clone, Debug)]
pub struct Config {
    request_timeout: Duration,
    query_timeout: Duration,
    idle_timeout: Duration,
    record_policy: Policy,
    max_records: usize,
    max_pending_inbound: usize,
    channel_capacity: usize,
    max_connections: u32,
    max_connections_per_peer: u32,
}

impl Default for Config {
    /// Requests 10 s, DHT queries 10 s, talos-did's default record [`Policy`], 1024 records,
    /// 256 inbound requests awaiting an answer, 256 events buffered; connections as in the
    /// upstream seed (REFERENCE §8): 50 at most (and 50 pending inbound), 3 per peer, closed
    /// after 300 s idle.
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            record_policy: Policy::default(),
            max_records: 1024,
            max_pending_inbound: 256,
            channel_capacity: 256,
            max_connections: 50,
            max_connections_per_peer: 3,
        }
    }
}

impl Config {
    /// How long a request waits for its response, and an inbound request for our answer.
    pub fn set_request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a DHT query (bootstrap, put, get) runs at most.
    pub fn set_query_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.query_timeout = timeout;
        self
    }

    /// How long a connection without open streams is kept.
    pub fn set_idle_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.idle_timeout = timeout;
        self
    }

    /// The policy discovery records are validated against (puzzle difficulty, lifetime, …).
    pub fn set_record_policy(&mut self, policy: Policy) -> &mut Self {
        self.record_policy = policy;
        self
    }

    /// How many DHT records this node stores for others at most.
    pub fn set_max_records(&mut self, count: usize) -> &mut Self {
        self.max_records = count.max(1);
        self
    }

    /// How many inbound requests may await an answer at once; beyond it new ones are dropped.
    pub fn set_max_pending_inbound(&mut self, count: usize) -> &mut Self {
        self.max_pending_inbound = count.max(1);
        self
    }

    /// The capacity of the event and inbound-request channels; when one is full, new items
    /// are dropped (and a dropped request is not answered).
    pub fn set_channel_capacity(&mut self, count: usize) -> &mut Self {
        self.channel_capacity = count.max(1);
        self
    }

    /// How many connections may be established at once, and pending inbound (at least 1).
    pub fn set_max_connections(&mut self, count: u32) -> &mut Self {
        self.max_connections = count.max(1);
        self
    }

    /// How many connections to one peer may be established at once (at least 1).
    pub fn set_max_connections_per_peer(&mut self, count: u32) -> &mut Self {
        self.max_connections_per_peer = count.max(1);
        self
    }

    /// The request timeout.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The DHT query timeout.
    #[must_use]
    pub fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    /// The record policy.
    #[must_use]
    pub fn record_policy(&self) -> &Policy {
        &self.record_policy
    }
}

/// Why a network operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The swarm could not be built (transport, gossipsub configuration). Fatal.
    #[error("network setup failed: {0}")]
    Setup(String),
    /// An address could not be listened on. Check the multiaddr and that the port is free.
    #[error("cannot listen: {0}")]
    Listen(String),
    /// A dial failed. The peer is unreachable at these addresses.
    #[error("dial failed: {0}")]
    Dial(String),
    /// A multiaddr lacks what the call needs (e.g. the `/p2p/` of a bootstrap peer).
    #[error("bad address: {0}")]
    BadAddress(String),
    /// A DID that cannot be on the network: only Ed25519 `did:key`s are.
    #[error("not an Ed25519 did:key")]
    NotEd25519,
    /// The DHT has no known peer to start from. Bootstrap from a known peer first.
    #[error("no known peers")]
    NoKnownPeers,
    /// A DHT query failed.
    #[error("dht query failed: {0}")]
    Query(String),
    /// No valid discovery record was found for the DID.
    #[error("no valid discovery record found")]
    NotFound,
    /// Our own record was refused before publication (invalid, or not newer than the one
    /// known).
    #[error("record refused: {0}")]
    Record(RecordRefusal),
    /// A request or response is longer than the codec allows.
    #[error("message too large: {len} bytes, limit {max}")]
    TooLarge {
        /// The length offered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A request failed (dial failure, connection closed, unsupported protocol, I/O, remote
    /// timeout).
    #[error("request failed: {0}")]
    Request(String),
    /// A checkpoint could not be published (no subscribed peer yet, duplicate, too large).
    #[error("publish failed: {0}")]
    Publish(String),
    /// No reply in time.
    #[error("timed out")]
    Timeout,
    /// The network task has stopped.
    #[error("network stopped")]
    Stopped,
}

/// What the network reports, from [`Network::take_events`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A first connection to `peer` was established.
    Connected {
        /// The peer.
        peer: PeerId,
    },
    /// The last connection to `peer` closed.
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A checkpoint arrived on [`CHECKPOINT_TOPIC`] (signed by `source`'s key; its content is
    /// unchecked).
    Checkpoint {
        /// The peer that published it.
        source: Option<PeerId>,
        /// The checkpoint bytes.
        data: Vec<u8>,
    },
    /// A discovery record put by `from` was stored (for `did`, with `seq`).
    RecordStored {
        /// The peer that put it.
        from: PeerId,
        /// The DID it is about.
        did: DidKey,
        /// Its sequence number.
        seq: u64,
    },
    /// A DHT record was refused: put by `from`, or returned by `from` to a lookup (`None`:
    /// from the local store).
    RecordRefused {
        /// The peer that sent it.
        from: Option<PeerId>,
        /// Why.
        reason: RecordRefusal,
    },
}

/// What a request on [`WIRE_PROTOCOL`] carries: its first byte, which routes it to
/// [`Network::take_inbound`] or [`Network::take_mcp_inbound`]. A request with another first
/// byte is refused unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lane {
    /// Messages and receipts (talos-wire envelopes).
    Message = 1,
    /// Packets between the two ends of an MCP tunnel (talos-mcp packets).
    Mcp = 2,
    /// Batch envelopes (`messenger::Messenger::seal_batch`), answered by one receipt; they
    /// arrive with [`Lane::Message`]'s requests.
    Batch = 3,
}

impl Lane {
    /// The lane whose first byte is `byte`.
    #[must_use]
    pub const fn of(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Message),
            2 => Some(Self::Mcp),
            3 => Some(Self::Batch),
            _ => None,
        }
    }
}

/// A request from a peer, from [`Network::take_inbound`] or [`Network::take_mcp_inbound`]:
/// answer it with
/// [`respond`](Self::respond), or drop it to refuse it.
pub struct InboundRequest {
    peer: PeerId,
    lane: Lane,
    bytes: Vec<u8>,
    reply: oneshot::Sender<Vec<u8>>,
}

impl InboundRequest {
    /// The peer that sent it (authenticated by Noise; [`did_of`] gives its DID).
    #[must_use]
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// The lane it came on.
    #[must_use]
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// The request bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the request bytes out, for a handler that keeps them.
    #[must_use]
    pub fn take_bytes(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.bytes)
    }

    /// Sends `response` back.
    ///
    /// # Errors
    /// [`NetError::TooLarge`] if `response` is longer than [`MAX_MESSAGE_LEN`] (nothing is
    /// sent and the peer gets no answer); [`NetError::Stopped`] if the request has timed out or
    /// the network stopped.
    pub fn respond(self, response: Vec<u8>) -> Result<(), NetError> {
        if response.len() > MAX_MESSAGE_LEN {
            return Err(NetError::TooLarge {
                len: response.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        self.reply.send(response).map_err(|_| NetError::Stopped)
    }
}

impl core::fmt::Debug for InboundRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InboundRequest")
            .field("peer", &self.peer)
            .field("lane", &self.lane)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A running libp2p swarm and the handle to drive it (see the [module docs](self)).
///
/// Dropping it stops the network task; [`Network::shutdown`] does so and waits for it.
#[derive(Debug)]
pub struct Network {
    peer_id: PeerId,
    did: DidKey,
    config: Config,
    commands: mpsc::Sender<Command>,
    events: Option<mpsc::Receiver<Event>>,
    inbound: Option<mpsc::Receiver<InboundRequest>>,
    mcp_inbound: Option<mpsc::Receiver<InboundRequest>>,
    task: JoinHandle<()>,
}

impl Network {
    /// Starts a network with the default [`Config`]; see [`Network::with_config`].
    ///
    /// # Errors
    /// As [`Network::with_config`].
    pub async fn new(key: &SigningKey, listen: &[Multiaddr]) -> Result<Self, NetError> {
        Self::with_config(key, listen, Config::default()).await
    }

    /// Builds the swarm on the identity `key`, listens on every address of `listen` (e.g.
    /// `/ip4/127.0.0.1/tcp/0`), waits until each listener has an address, and starts the
    /// network task. Call it inside a tokio runtime.
    ///
    /// # Errors
    /// [`NetError::Setup`] if the swarm cannot be built, [`NetError::Listen`] if an address
    /// cannot be listened on or reports no address within 10 s.
    pub async fn with_config(
        key: &SigningKey,
        listen: &[Multiaddr],
        config: Config,
    ) -> Result<Self, NetError> {
        let keypair = keypair_of(key)?;
        let peer_id = keypair.public().to_peer_id();
        let did = DidKey::Ed25519(key.verifying_key());
        let (commands, command_rx) = mpsc::channel(64);
        let (event_tx, events) = mpsc::channel(config.channel_capacity);
        let (inbound_tx, inbound) = mpsc::channel(config.channel_capacity);
        let (mcp_inbound_tx, mcp_inbound) = mpsc::channel(config.channel_capacity);
        let driver = driver::Driver::start(
            keypair,
            listen,
            config.clone(),
            command_rx,
            event_tx,
            [inbound_tx, mcp_inbound_tx],
        )
        .await?;
        let task = tokio::spawn(driver.run());
        Ok(Self {
            peer_id,
            did,
            config,
            commands,
            events: Some(events),
            inbound: Some(inbound),
            mcp_inbound: Some(mcp_inbound),
            task,
        })
    }

    /// This node's `PeerId` (the same key as its DID).
    #[must_use]
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// This node's DID.
    #[must_use]
    pub fn did(&self) -> &DidKey {
        &self.did
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The event stream; `Some` the first time only. Events that find it full (or never
    /// taken) are dropped.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<Event>> {
        self.events.take()
    }

    /// The stream of inbound requests of [`Lane::Message`] and [`Lane::Batch`]; `Some` the first
    /// time only.
    /// Answer each with [`InboundRequest::respond`] within the request timeout.
    pub fn take_inbound(&mut self) -> Option<mpsc::Receiver<InboundRequest>> {
        self.inbound.take()
    }

    /// The stream of inbound requests of [`Lane::Mcp`]; `Some` the first time only. Requests
    /// on a lane whose stream was never taken are dropped when its channel fills.
    pub fn take_mcp_inbound(&mut self) -> Option<mpsc::Receiver<InboundRequest>> {
        self.mcp_inbound.take()
    }

    /// The addresses this node listens on (without `/p2p/`).
    ///
    /// # Errors
    /// [`NetError::Stopped`] or [`NetError::Timeout`].
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.call(REPLY_MARGIN, |reply| Command::ListenAddrs { reply })
            .await
    }

    /// The peers this node is connected to.
    ///
    /// # Errors
    /// [`NetError::Stopped`] or [`NetError::Timeout`].
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.call(REPLY_MARGIN, |reply| Command::ConnectedPeers { reply })
            .await
    }

    /// Dials `addr` and waits for the connection; returns the peer's id. With a trailing
    /// `/p2p/<id>` the peer must be that one, and an existing connection to it (or a dial
    /// already under way, which requests then wait for) counts.
    ///
    /// # Errors
    /// [`NetError::Dial`] if no connection could be made.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        let (peer, opts) = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => (
                Some(peer),
                DialOpts::peer_id(peer).addresses(vec![addr]).build(),
            ),
            _ => (None, DialOpts::unknown_peer_id().address(addr).build()),
        };
        self.call(self.config.request_timeout + REPLY_MARGIN, |reply| {
            Command::Dial {
                opts: Box::new(opts),
                peer,
                reply,
            }
        })
        .await
    }

    /// Dials `peer` at `addrs` (an existing connection counts) and waits for the connection.
    ///
    /// # Errors
    /// [`NetError::Dial`] if no connection could be made.
    pub async fn dial_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
        self.call(self.config.request_timeout + REPLY_MARGIN, |reply| {
            Command::Dial {
                opts: Box::new(opts),
                peer: Some(peer),
                reply,
            }
        })
        .await
        .map(|_| ())
    }

    /// Connects to the node that published `record`: its `PeerId` comes from the record's
    /// DID, its addresses from the record (the ones that do not parse are skipped). Validate
    /// the record first ([`Network::resolve`] does).
    ///
    /// # Errors
    /// [`NetError::BadAddress`] if no address parses, [`NetError::Dial`] if none answers.
    pub async fn connect(&self, record: &DiscoveryRecord) -> Result<PeerId, NetError> {
        let peer = peer_id_of(&record.did()).ok_or(NetError::NotEd25519)?;
        let addrs = record_addrs(record, peer);
        if addrs.is_empty() {
            return Err(NetError::BadAddress(
                "no usable address in the record".into(),
            ));
        }
        self.dial_peer(peer, addrs).await?;
        Ok(peer)
    }

    /// Joins the DHT: adds every peer of `peers` (each address must end in `/p2p/<id>`) to
    /// the routing table, then runs a Kademlia bootstrap and waits for it to finish. With no
    /// `peers`, bootstraps from the peers already known.
    ///
    /// # Errors
    /// [`NetError::BadAddress`] for an address without `/p2p/`, [`NetError::NoKnownPeers`],
    /// [`NetError::Query`] if the bootstrap query fails, [`NetError::Timeout`].
    pub async fn bootstrap(&self, peers: &[Multiaddr]) -> Result<(), NetError> {
        let mut known = Vec::with_capacity(peers.len());
        for addr in peers {
            let mut addr = addr.clone();
            match addr.pop() {
                Some(Protocol::P2p(peer)) => known.push((peer, addr)),
                _ => return Err(NetError::BadAddress(format!("{addr}: no /p2p/ peer id"))),
            }
        }
        self.call(self.config.query_timeout + REPLY_MARGIN, |reply| {
            Command::Bootstrap {
                peers: known,
                reply,
            }
        })
        .await
    }

    /// Publishes this node's discovery record in the DHT under [`record_key`] of its DID,
    /// after checking it as any peer will (valid now, under this node's policy, and newer than
    /// any record this node knows for the DID). Returns once the record is stored locally and
    /// at least one peer accepted the `PutRecord`.
    ///
    /// # Errors
    /// [`NetError::Record`] if the record is refused, [`NetError::Query`] if no peer took it
    /// (it is still stored locally and republished by Kademlia), [`NetError::Timeout`].
    pub async fn publish_record(&self, record: &DiscoveryRecord) -> Result<(), NetError> {
        let record = Box::new(record.clone());
        self.call(self.config.query_timeout + REPLY_MARGIN, |reply| {
            Command::PublishRecord { record, reply }
        })
        .await
    }

    /// Looks `did` up in the DHT and returns its current discovery record: every record the
    /// lookup returns (the local store's included) is decoded and validated, and the highest
    /// valid `seq` wins (talos-did's [`Resolver`](talos_did::Resolver) rules). If the lookup
    /// yields nothing valid, a record validated earlier and still fresh is returned.
    ///
    /// # Errors
    /// [`NetError::NotEd25519`], [`NetError::NotFound`] if no valid record is known,
    /// [`NetError::Timeout`].
    pub async fn resolve(&self, did: &DidKey) -> Result<DiscoveryRecord, NetError> {
        if did.ed25519().is_none() {
            return Err(NetError::NotEd25519);
        }
        let did = *did;
        self.call(self.config.query_timeout + REPLY_MARGIN, |reply| {
            Command::Resolve { did, reply }
        })
        .await
    }

    /// Sends `request` to `peer` over [`WIRE_PROTOCOL`] on [`Lane::Message`] and returns its
    /// response. Dials the peer if needed, with the addresses the DHT and identify taught this
    /// node.
    ///
    /// # Errors
    /// [`NetError::TooLarge`] if `request` is longer than [`MAX_REQUEST_LEN`],
    /// [`NetError::Request`] if the exchange fails, [`NetError::Timeout`].
    pub async fn request(&self, peer: PeerId, request: Vec<u8>) -> Result<Vec<u8>, NetError> {
        self.request_with_addresses(peer, Vec::new(), request).await
    }

    /// [`Network::request`], dialing `addrs` too if the peer is not connected.
    ///
    /// # Errors
    /// As [`Network::request`].
    pub async fn request_with_addresses(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        self.request_on(Lane::Message, peer, addrs, &request).await
    }

    /// Sends `request` to `peer` on `lane` (see [`Network::request_with_addresses`]).
    ///
    /// # Errors
    /// As [`Network::request`].
    pub async fn request_on(
        &self,
        lane: Lane,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: &[u8],
    ) -> Result<Vec<u8>, NetError> {
        if request.len() > MAX_REQUEST_LEN {
            return Err(NetError::TooLarge {
                len: request.len(),
                max: MAX_REQUEST_LEN,
            });
        }
        let mut bytes = Vec::with_capacity(1 + request.len());
        bytes.push(lane as u8);
        bytes.extend_from_slice(request);
        self.call(self.config.request_timeout + REPLY_MARGIN, |reply| {
            Command::Request {
                peer,
                addrs,
                bytes,
                reply,
            }
        })
        .await
    }

    /// Publishes a checkpoint on [`CHECKPOINT_TOPIC`], signed with the node's key.
    ///
    /// # Errors
    /// [`NetError::TooLarge`] above [`MAX_CHECKPOINT_LEN`]; [`NetError::Publish`] if no
    /// subscribed peer is known yet (retry once connected) or gossipsub refuses it.
    pub async fn publish_checkpoint(&self, data: Vec<u8>) -> Result<(), NetError> {
        if data.len() > MAX_CHECKPOINT_LEN {
            return Err(NetError::TooLarge {
                len: data.len(),
                max: MAX_CHECKPOINT_LEN,
            });
        }
        self.call(REPLY_MARGIN, |reply| Command::PublishCheckpoint {
            data,
            reply,
        })
        .await
    }

    /// Puts `value` under `key` in the DHT **without any check**, as a misbehaving node
    /// would: for tests of record filtering. Peers validate it like any record.
    ///
    /// # Errors
    /// [`NetError::Query`] if no peer took it, [`NetError::Timeout`].
    #[doc(hidden)]
    pub async fn put_unchecked(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), NetError> {
        self.call(self.config.query_timeout + REPLY_MARGIN, |reply| {
            Command::PutUnchecked { key, value, reply }
        })
        .await
    }

    /// Stops the network task and waits for it: connections close, pending calls fail
    /// with [`NetError::Stopped`].
    pub async fn shutdown(self) {
        let Self { commands, task, .. } = self;
        // A send error means the task has already stopped.
        let _ = commands.send(Command::Shutdown).await;
        drop(commands);
        if let Err(error) = task.await {
            tracing::warn!(%error, "network task ended abnormally");
        }
    }

    /// Sends one command and waits for its reply, at most `timeout`.
    async fn call<T>(
        &self,
        timeout: Duration,
        command: impl FnOnce(oneshot::Sender<Result<T, NetError>>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetError::Stopped),
            Err(_) => Err(NetError::Timeout),
        }
    }
}

/// The libp2p key pair of a Talos identity key: the same Ed25519 seed. The seed copy that
/// libp2p reads is zeroized (by libp2p, and again when the `Zeroizing` copy drops).
fn keypair_of(key: &SigningKey) -> Result<Keypair, NetError> {
    let mut seed = key.to_seed();
    Keypair::ed25519_from_bytes(&mut seed[..]).map_err(|e| NetError::Setup(e.to_string()))
}

/// The addresses a discovery record lists that parse, each ending in `/p2p/` of `peer`.
#[must_use]
pub fn record_addrs(record: &DiscoveryRecord, peer: PeerId) -> Vec<Multiaddr> {
    record
        .fields()
        .addresses
        .iter()
        .filter_map(|a| a.parse::<Multiaddr>().ok())
        .map(|a| match a.iter().last() {
            Some(Protocol::P2p(_)) => a,
            _ => a.with(Protocol::P2p(peer)),
        })
        .collect()
}

/// The `PeerId` of an Ed25519 `did:key`: derived from the public key alone, no lookup.
/// `None` for an X25519 `did:key`.
#[must_use]
pub fn peer_id_of(did: &DidKey) -> Option<PeerId> {
    let key = did.ed25519()?;
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(PublicKey::from(public).to_peer_id())
}

/// The `did:key` of a `PeerId` that inlines an Ed25519 public key (every Talos node's does);
/// `None` for any other `PeerId`.
#[must_use]
pub fn did_of(peer: &PeerId) -> Option<DidKey> {
    /// The multihash code of the identity hash, with which libp2p inlines small keys.
    const IDENTITY: u64 = 0;
    let multihash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if multihash.code() != IDENTITY {
        return None;
    }
    let public = PublicKey::try_decode_protobuf(multihash.digest())
        .ok()?
        .try_into_ed25519()
        .ok()?;
    VerifyingKey::from_bytes(&public.to_bytes())
        .ok()
        .map(DidKey::Ed25519)
}
