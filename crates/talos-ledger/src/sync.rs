//! Chain sync: a Sans-IO state machine that follows peers' statuses, fetches the blocks of a
//! better chain in ranges, validates them before adopting them, and reports peers that send
//! invalid blocks.
//!
//! [`ChainSync`] owns a [`Chain`]. Input: `handle_status`, `handle_blocks`, `handle_timeout`,
//! `handle_disconnect`. Commands: `submit` (a locally mined block). Answers to peers:
//! `serve`, `status`. Output: after **every** input or command, drain `poll_request`, then
//! `poll_event`, until `None`; then read `poll_timeout`.
//!
//! The protocol (REFERENCE §6.6): a peer announces a [`Status`] (height, tip hash, cumulative
//! work, tree size); if its chain beats ours (more work; equal work and a lower tip hash), we
//! ask it for [`Request::GetBlocks`] ranges of at most [`MAX_BLOCKS_PER_REQUEST`] blocks,
//! with at most three requests in flight and a 30 s timeout each. A range whose first new
//! block hangs off a block we do not hold makes us step back (by a growing stride) until the
//! range connects to our tree. Blocks are validated (all five layers) before they enter the
//! tree; the best tip changes only for a better chain. A peer whose blocks fail validation is
//! reported with the [`ValidationReport`] and ignored from then on. Messages travel as
//! [`Message`], deterministic CBOR with a strict decoder.
//!
//! ```
//! use talos_ledger::block::{Block, Chain, ChainConfig, mine};
//! use talos_ledger::crypto::{SigningKey, Timestamp};
//! use talos_ledger::sync::{ChainSync, Message, PeerId, SyncConfig};
//!
//! let key = SigningKey::from_seed(&[1; 32]);
//! let mut config = ChainConfig::default();
//! config.set_difficulty(0);
//! let genesis = mine(Block::genesis_candidate(&key.verifying_key(), Vec::new(), Timestamp::from_millis(0), 0), &key, 1).unwrap();
//! let mut alice = ChainSync::new(Chain::new(config, genesis.clone()).unwrap(), SyncConfig::default());
//! let mut bob = ChainSync::new(Chain::new(config, genesis).unwrap(), SyncConfig::default());
//!
//! let now = Timestamp::from_millis(1_000);
//! let block = mine(bob.chain().candidate(&key.verifying_key(), Vec::new(), now), &key, 1).unwrap();
//! bob.submit(now, block).unwrap();
//!
//! // Bob announces his status; Alice asks for the blocks she lacks, Bob serves them.
//! alice.handle_status(now, PeerId(2), bob.status());
//! while let Some((peer, request)) = alice.poll_request() {
//!     let reply = Message::Blocks(bob.serve(&request)).to_cbor();
//!     if let Ok(Message::Blocks(blocks)) = Message::from_cbor(&reply) {
//!         alice.handle_blocks(now, peer, blocks);
//!     }
//! }
//! assert_eq!(alice.status(), bob.status());
//! ```

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Deserialize;
use talos_crypto::{CborError, Timestamp, cbor};

use crate::block::{Block, BlockDecodeError, Chain, InsertError, Inserted, MAX_BLOCK_BYTES};
use crate::merkle::Hash;
use crate::validate::{AnchorCheck, ValidationReport};

/// Most blocks one [`Request::GetBlocks`] asks for (REFERENCE §6.6).
pub const MAX_BLOCKS_PER_REQUEST: u32 = 100;
/// Most bytes of blocks in one response served or accepted (at least one block is always
/// served).
pub const MAX_RESPONSE_BYTES: usize = 8_000_000;
/// Largest [`Message`] accepted.
pub const MAX_MESSAGE_BYTES: usize = MAX_RESPONSE_BYTES + MAX_BLOCK_BYTES + 4096;
/// Most banned peers remembered; beyond it the lowest [`PeerId`] is forgotten.
pub const MAX_BANNED_PEERS: usize = 4096;
/// Most events queued; the oldest are dropped beyond it.
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// A peer, by the caller's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// What a node announces about its best chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status {
    /// The tip's height.
    pub height: u64,
    /// The tip's block hash.
    pub tip: Hash,
    /// Σ 2^difficulty from genesis to the tip.
    pub cumulative_work: u128,
    /// The log size at the tip.
    pub tree_size: u64,
}

/// A request to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Best-chain blocks from `from_height`, at most `count` (≤ [`MAX_BLOCKS_PER_REQUEST`]).
    GetBlocks {
        /// First height wanted.
        from_height: u64,
        /// How many.
        count: u32,
    },
}

/// What the state machine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The best tip changed (blocks adopted from a peer or submitted locally).
    TipChanged {
        /// The new tip's height.
        height: u64,
        /// The new tip's hash.
        tip: Hash,
    },
    /// A peer sent invalid blocks or broke the protocol; it is ignored from now on.
    PeerMisbehaved {
        /// The peer.
        peer: PeerId,
        /// What was wrong (validation failures, or one structural failure for a protocol
        /// violation).
        report: ValidationReport,
    },
    /// A request to a peer got no answer in time; the peer is not asked again until it sends
    /// a new status.
    RequestTimedOut {
        /// The peer.
        peer: PeerId,
    },
}

/// Bounds and timers of a [`ChainSync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    max_in_flight: usize,
    request_timeout: Duration,
    batch: u32,
    max_peers: usize,
}

impl Default for SyncConfig {
    /// Three requests in flight, 30 s timeout, batches of 100 blocks, 256 peers tracked.
    fn default() -> Self {
        Self {
            max_in_flight: 3,
            request_timeout: Duration::from_secs(30),
            batch: MAX_BLOCKS_PER_REQUEST,
            max_peers: 256,
        }
    }
}

impl SyncConfig {
    /// Most requests in flight at once (at least 1).
    pub fn set_max_in_flight(&mut self, n: usize) -> &mut Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// How long a request may go unanswered.
    pub fn set_request_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.request_timeout = timeout;
        self
    }

    /// Blocks per request, 1 to [`MAX_BLOCKS_PER_REQUEST`].
    pub fn set_batch(&mut self, blocks: u32) -> &mut Self {
        self.batch = blocks.clamp(1, MAX_BLOCKS_PER_REQUEST);
        self
    }

    /// Most peers tracked; statuses of further peers are ignored.
    pub fn set_max_peers(&mut self, n: usize) -> &mut Self {
        self.max_peers = n.max(1);
        self
    }
}

#[derive(Clone, Debug)]
struct Peer {
    status: Status,
    /// The next height to ask for.
    next_from: u64,
    /// How far the next step back goes.
    stride: u64,
    /// Nothing more to ask until the peer announces a new status.
    idle: bool,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    from_height: u64,
    count: u32,
    deadline: Timestamp,
}

/// The sync state machine over one [`Chain`]; see the [module docs](self).
pub struct ChainSync {
    chain: Chain,
    config: SyncConfig,
    peers: BTreeMap<PeerId, Peer>,
    in_flight: BTreeMap<PeerId, InFlight>,
    banned: BTreeSet<PeerId>,
    requests: VecDeque<(PeerId, Request)>,
    events: VecDeque<Event>,
    anchors: Option<Box<dyn AnchorCheck>>,
}

impl core::fmt::Debug for ChainSync {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChainSync")
            .field("height", &self.chain.height())
            .field("peers", &self.peers.len())
            .field("in_flight", &self.in_flight.len())
            .field("banned", &self.banned.len())
            .finish_non_exhaustive()
    }
}

impl ChainSync {
    /// A state machine over `chain`.
    #[must_use]
    pub fn new(chain: Chain, config: SyncConfig) -> Self {
        Self {
            chain,
            config,
            peers: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            banned: BTreeSet::new(),
            requests: VecDeque::new(),
            events: VecDeque::new(),
            anchors: None,
        }
    }

    /// Checks anchor entries of received blocks with `check` (the cross-chain layer).
    pub fn set_anchor_check(&mut self, check: Box<dyn AnchorCheck>) {
        self.anchors = Some(check);
    }

    /// The chain.
    #[must_use]
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Our status, to announce to peers.
    #[must_use]
    pub fn status(&self) -> Status {
        Status {
            height: self.chain.height(),
            tip: self.chain.tip_hash(),
            cumulative_work: self.chain.cumulative_work(),
            tree_size: self.chain.tree_size(),
        }
    }

    /// Whether a peer has been reported and is ignored.
    #[must_use]
    pub fn is_banned(&self, peer: PeerId) -> bool {
        self.banned.contains(&peer)
    }

    /// The answer to a peer's request: best-chain blocks, at most
    /// [`MAX_BLOCKS_PER_REQUEST`] and [`MAX_RESPONSE_BYTES`].
    #[must_use]
    pub fn serve(&self, request: &Request) -> Vec<Block> {
        match *request {
            Request::GetBlocks { from_height, count } => self.chain.blocks_from(
                from_height,
                count.min(MAX_BLOCKS_PER_REQUEST) as usize,
                MAX_RESPONSE_BYTES,
            ),
        }
    }

    /// Adds a block made here (e.g. just mined).
    ///
    /// # Errors
    /// [`InsertError`] if the block is invalid or the chain is full.
    pub fn submit(&mut self, now: Timestamp, block: Block) -> Result<Inserted, InsertError> {
        let anchors = self.anchors.as_deref();
        let inserted = self.chain.insert(block, now, anchors)?;
        if inserted == Inserted::NewTip {
            self.tip_changed();
        }
        self.schedule(now);
        Ok(inserted)
    }

    /// A peer announced its status.
    pub fn handle_status(&mut self, now: Timestamp, peer: PeerId, status: Status) {
        if self.banned.contains(&peer) {
            return;
        }
        if !self.peers.contains_key(&peer) && self.peers.len() >= self.config.max_peers {
            return;
        }
        let start = self.chain.height().min(status.height.saturating_sub(1));
        let start = start.saturating_add(1).min(status.height);
        let entry = self.peers.entry(peer).or_insert(Peer {
            status,
            next_from: start,
            stride: u64::from(self.config.batch),
            idle: false,
        });
        if entry.status != status || entry.idle {
            entry.status = status;
            entry.next_from = start;
            entry.stride = u64::from(self.config.batch);
            entry.idle = false;
        }
        self.schedule(now);
    }

    /// A peer is gone: forget it and its request.
    pub fn handle_disconnect(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
        self.in_flight.remove(&peer);
    }

    /// A peer answered our request with `blocks`. Unsolicited answers, and answers that do
    /// not start at the height of the request in flight (late answers to a request that timed
    /// out), are ignored.
    pub fn handle_blocks(&mut self, now: Timestamp, peer: PeerId, blocks: Vec<Block>) {
        if self.banned.contains(&peer) {
            return;
        }
        let Some(request) = self.in_flight.get(&peer).copied() else {
            return;
        };
        if blocks
            .first()
            .is_some_and(|b| b.header.height != request.from_height)
        {
            // The answer to an earlier request that timed out: not the one we wait for.
            return;
        }
        self.in_flight.remove(&peer);
        self.process(now, peer, request, blocks);
        self.schedule(now);
    }

    fn process(&mut self, now: Timestamp, peer: PeerId, request: InFlight, blocks: Vec<Block>) {
        if blocks.len() > request.count as usize {
            self.misbehaved(peer, "more blocks than requested");
            return;
        }
        let bytes = blocks
            .iter()
            .map(Block::encoded_len)
            .fold(0usize, usize::saturating_add);
        if blocks.len() > 1 && bytes > MAX_RESPONSE_BYTES {
            self.misbehaved(peer, "response larger than the limit");
            return;
        }
        for (i, block) in blocks.iter().enumerate() {
            if block.header.height != request.from_height.saturating_add(i as u64) {
                self.misbehaved(peer, "blocks not at the requested heights");
                return;
            }
        }
        let Some(last_height) = blocks.last().map(|b| b.header.height) else {
            // The peer has nothing there: wait for its next status.
            if let Some(p) = self.peers.get_mut(&peer) {
                p.idle = true;
            }
            return;
        };
        // Skip what we hold; the first new block must hang off our tree.
        let first_new = blocks
            .iter()
            .position(|b| self.chain.get(&b.hash()) != Some(b));
        let Some(first_new) = first_new else {
            self.advance(peer, last_height);
            return;
        };
        let connects = blocks
            .get(first_new)
            .is_some_and(|b| self.chain.contains(&b.header.prev));
        if !connects {
            if request.from_height == 0 {
                self.misbehaved(peer, "chain does not connect to our genesis");
                return;
            }
            if let Some(p) = self.peers.get_mut(&peer) {
                p.next_from = request.from_height.saturating_sub(p.stride);
                p.stride = p.stride.saturating_mul(2);
            }
            return;
        }
        let new_blocks: Vec<Block> = blocks.into_iter().skip(first_new).collect();
        let anchors = self.anchors.as_deref();
        let outcome = self.chain.import(new_blocks, now, anchors);
        if outcome.new_tip {
            self.tip_changed();
        }
        if !outcome.report.is_valid() {
            self.ban(peer, outcome.report);
            return;
        }
        if outcome.full {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.idle = true;
            }
            return;
        }
        self.advance(peer, last_height);
    }

    fn advance(&mut self, peer: PeerId, last_height: u64) {
        let chain = &self.chain;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.next_from = last_height.saturating_add(1);
            p.stride = u64::from(self.config.batch);
            let wants = chain.is_better(p.status.cumulative_work, &p.status.tip)
                && !chain.contains(&p.status.tip);
            if !wants || p.next_from > p.status.height {
                p.idle = true;
            }
        }
    }

    /// Expires requests whose deadline passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let expired: Vec<PeerId> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.in_flight.remove(&peer);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.idle = true;
            }
            self.push_event(Event::RequestTimedOut { peer });
        }
        self.schedule(now);
    }

    /// The next request to send.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<(PeerId, Request)> {
        self.requests.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`ChainSync::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.in_flight.values().map(|r| r.deadline).min()
    }

    /// Requests ranges from peers with better chains, best first, within the in-flight bound.
    fn schedule(&mut self, now: Timestamp) {
        let mut wanted: Vec<(u128, Hash, PeerId)> = self
            .peers
            .iter()
            .filter(|(id, p)| {
                !p.idle
                    && !self.in_flight.contains_key(id)
                    && !self.chain.contains(&p.status.tip)
                    && self
                        .chain
                        .is_better(p.status.cumulative_work, &p.status.tip)
            })
            .map(|(id, p)| (p.status.cumulative_work, p.status.tip, *id))
            .collect();
        // Most work first, then the lower tip hash, then the lower peer id.
        wanted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (_, _, peer) in wanted {
            if self.in_flight.len() >= self.config.max_in_flight {
                break;
            }
            let Some(p) = self.peers.get(&peer) else {
                continue;
            };
            let from_height = p.next_from;
            let remaining = p
                .status
                .height
                .saturating_sub(from_height)
                .saturating_add(1);
            let count = u32::try_from(remaining.min(u64::from(self.config.batch)))
                .unwrap_or(self.config.batch)
                .max(1);
            self.in_flight.insert(
                peer,
                InFlight {
                    from_height,
                    count,
                    deadline: now.saturating_add(self.config.request_timeout),
                },
            );
            self.requests
                .push_back((peer, Request::GetBlocks { from_height, count }));
        }
    }

    fn tip_changed(&mut self) {
        let event = Event::TipChanged {
            height: self.chain.height(),
            tip: self.chain.tip_hash(),
        };
        self.push_event(event);
    }

    fn misbehaved(&mut self, peer: PeerId, why: &str) {
        let report = crate::validate::protocol_violation(why);
        self.ban(peer, report);
    }

    fn ban(&mut self, peer: PeerId, report: ValidationReport) {
        self.peers.remove(&peer);
        self.in_flight.remove(&peer);
        if self.banned.len() >= MAX_BANNED_PEERS {
            // Forget the lowest handle: the bound matters more than one old ban.
            self.banned.pop_first();
        }
        self.banned.insert(peer);
        self.push_event(Event::PeerMisbehaved { peer, report });
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

/// A sync message on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A node's [`Status`].
    Status(Status),
    /// A [`Request`].
    Request(Request),
    /// The answer to [`Request::GetBlocks`].
    Blocks(Vec<Block>),
}

/// Why bytes are not a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Longer than any message. Drop it unparsed.
    #[error("sync message too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not CBOR of a message's shape, or not its deterministic encoding.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// A field is missing, of the wrong length, or the type is unknown.
    #[error("malformed sync message: {0}")]
    Malformed(&'static str),
    /// A block inside does not decode.
    #[error("invalid block in sync message: {0}")]
    Block(#[from] BlockDecodeError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRepr {
    t: String,
    #[serde(default)]
    tip: Option<Bytes>,
    #[serde(default)]
    work: Option<Bytes>,
    #[serde(default)]
    height: Option<u64>,
    #[serde(default)]
    tree_size: Option<u64>,
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    blocks: Option<Vec<Bytes>>,
}

#[derive(Deserialize)]
struct Bytes(#[serde(with = "talos_crypto::base64url::serde")] Vec<u8>);

impl Message {
    /// Deterministic CBOR: `{"t": "status", tip, work (16 bytes, big-endian), height,
    /// tree_size}`, `{"t": "get_blocks", from, count}` or `{"t": "blocks", blocks: [bstr]}`
    /// (each block's wire form as a byte string).
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Status(s) => {
                cbor::write_map_header(&mut out, 5);
                cbor::write_text(&mut out, "t");
                cbor::write_text(&mut out, "status");
                cbor::write_text(&mut out, "tip");
                cbor::write_bytes(&mut out, &s.tip);
                cbor::write_text(&mut out, "work");
                cbor::write_bytes(&mut out, &s.cumulative_work.to_be_bytes());
                cbor::write_text(&mut out, "height");
                cbor::write_uint(&mut out, s.height);
                cbor::write_text(&mut out, "tree_size");
                cbor::write_uint(&mut out, s.tree_size);
            }
            Self::Request(Request::GetBlocks { from_height, count }) => {
                cbor::write_map_header(&mut out, 3);
                cbor::write_text(&mut out, "t");
                cbor::write_text(&mut out, "get_blocks");
                cbor::write_text(&mut out, "from");
                cbor::write_uint(&mut out, *from_height);
                cbor::write_text(&mut out, "count");
                cbor::write_uint(&mut out, u64::from(*count));
            }
            Self::Blocks(blocks) => {
                cbor::write_map_header(&mut out, 2);
                cbor::write_text(&mut out, "t");
                cbor::write_text(&mut out, "blocks");
                cbor::write_text(&mut out, "blocks");
                cbor::write_array_header(&mut out, blocks.len());
                for block in blocks {
                    let bytes = block.to_cbor();
                    cbor::write_bytes(&mut out, &bytes);
                }
            }
        }
        out
    }

    /// Parses a message, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`MessageError`] naming what is wrong.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge {
                len: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let repr: MessageRepr = cbor::decode(bytes)?;
        let message = match repr.t.as_str() {
            "status" => {
                let tip: Hash = repr
                    .tip
                    .and_then(|b| b.0.try_into().ok())
                    .ok_or(MessageError::Malformed("status tip must be 32 bytes"))?;
                let work: [u8; 16] = repr
                    .work
                    .and_then(|b| b.0.try_into().ok())
                    .ok_or(MessageError::Malformed("status work must be 16 bytes"))?;
                Self::Status(Status {
                    height: repr
                        .height
                        .ok_or(MessageError::Malformed("status without height"))?,
                    tip,
                    cumulative_work: u128::from_be_bytes(work),
                    tree_size: repr
                        .tree_size
                        .ok_or(MessageError::Malformed("status without tree_size"))?,
                })
            }
            "get_blocks" => {
                let count = repr
                    .count
                    .ok_or(MessageError::Malformed("get_blocks without count"))?;
                if count > MAX_BLOCKS_PER_REQUEST {
                    return Err(MessageError::Malformed("get_blocks count above 100"));
                }
                Self::Request(Request::GetBlocks {
                    from_height: repr
                        .from
                        .ok_or(MessageError::Malformed("get_blocks without from"))?,
                    count,
                })
            }
            "blocks" => {
                let raw = repr
                    .blocks
                    .ok_or(MessageError::Malformed("blocks without blocks"))?;
                if raw.len() > MAX_BLOCKS_PER_REQUEST as usize {
                    return Err(MessageError::Malformed("more than 100 blocks"));
                }
                let blocks = raw
                    .iter()
                    .map(|b| Block::from_cbor(&b.0))
                    .collect::<Result<Vec<_>, _>>()?;
                Self::Blocks(blocks)
            }
            _ => return Err(MessageError::Malformed("unknown message type")),
        };
        if message.to_cbor() != bytes {
            return Err(CborError::NonCanonical.into());
        }
        Ok(message)
    }
}
