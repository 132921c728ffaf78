//! Blocks: batches of log entries under a signed header, with optional proof-of-work, a
//! bounded [`Mempool`], [`mine`] with a work budget, and the in-memory block tree [`Chain`]
//! with fork choice by most cumulative work.
//!
//! A [`Block`] is a [`Header`] plus entries, each the deterministic CBOR of one
//! [`Entry`]; its leaf in the log is [`leaf_hash`] of those bytes. The header commits to
//! the log *after* the batch (`tree_size`, `tree_root`), to the previous block (`prev`), and
//! is signed by its producer (an Ed25519 `did:key`) over the block hash:
//!
//! `block_hash = SHA-256(deterministic CBOR of the header without "signature")`.
//!
//! Proof-of-work asks `block_hash` to start with `difficulty` zero bits (0 disables it). The
//! wire form is the deterministic CBOR map `{"header": {…, "signature"}, "entries": [bstr…]}`;
//! [`Block::from_cbor`] accepts only that one encoding and refuses unknown fields.
//!
//! Everything is Sans-IO: the genesis timestamp is the caller's (two nodes that agree on it
//! share a genesis), mining is bounded by a caller-supplied number of attempts, and time comes
//! in as a `now` argument.
//!
//! ```
//! use talos_ledger::block::{Block, Chain, ChainConfig, mine};
//! use talos_ledger::crypto::{SigningKey, Timestamp};
//!
//! let key = SigningKey::from_seed(&[1; 32]);
//! let mut config = ChainConfig::default();
//! config.set_difficulty(4);
//! let genesis = Block::genesis_candidate(&key.verifying_key(), Vec::new(), Timestamp::from_millis(0), 4);
//! let genesis = mine(genesis, &key, 1 << 20).unwrap();
//! let mut chain = Chain::new(config, genesis).unwrap();
//!
//! let next = chain.candidate(&key.verifying_key(), Vec::new(), Timestamp::from_millis(1_000));
//! let next = mine(next, &key, 1 << 20).unwrap();
//! chain.insert(next, Timestamp::from_millis(2_000), None).unwrap();
//! assert_eq!(chain.height(), 1);
//! ```
//!
//! [`Entry`]: crate::entry::Entry

use core::time::Duration;
use std::collections::{HashMap, HashSet, VecDeque};

use serde::Deserialize;
use talos_crypto::hash::{Sha256, sha256};
use talos_crypto::{CborError, Signature, SigningKey, Timestamp, VerifyingKey, cbor};
use talos_did::{Did, DidKey};

use crate::entry::Entry;
use crate::merkle::{Frontier, Hash, leaf_hash};
use crate::validate::{AnchorCheck, ValidationReport};

/// Largest block accepted, as the length of its wire form (REFERENCE §6.6 `MAX_BLOCK_SIZE`).
pub const MAX_BLOCK_BYTES: usize = 1_000_000;
/// Largest entry accepted in a block (REFERENCE §6.6 `MAX_SINGLE_ITEM_SIZE`).
pub const MAX_ENTRY_BYTES: usize = crate::entry::MAX_ENTRY_BYTES;
/// Most entries a [`Mempool`] holds (REFERENCE §6.6 `MAX_PENDING_DATA`).
pub const MAX_MEMPOOL_ENTRIES: usize = 10_000;
/// Most entries in one block.
pub const MAX_BLOCK_ENTRIES: usize = 10_000;
/// The longest producer DID accepted in a header.
pub const MAX_PRODUCER_LEN: usize = 256;
/// The header format version this crate writes and reads.
pub const BLOCK_VERSION: u64 = 1;
/// `prev` of the genesis block.
pub const ZERO_HASH: Hash = [0; 32];

/// A block header. `hash()` covers every field but `signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version: [`BLOCK_VERSION`].
    pub version: u64,
    /// Height: 0 for the genesis block, the parent's plus one after.
    pub height: u64,
    /// The parent's block hash; [`ZERO_HASH`] for the genesis block.
    pub prev: Hash,
    /// Log size after this block's entries.
    pub tree_size: u64,
    /// RFC 9162 root of the log after this block's entries.
    pub tree_root: Hash,
    /// When the block was made (the producer's clock).
    pub timestamp: Timestamp,
    /// The producer: an Ed25519 `did:key`.
    pub producer: String,
    /// Required leading zero bits of the block hash (0: no proof-of-work).
    pub difficulty: u8,
    /// Proof-of-work nonce.
    pub nonce: u64,
    /// The producer's Ed25519 signature over the block hash.
    pub signature: Signature,
}

impl Header {
    /// The block hash: SHA-256 of the deterministic CBOR of the header without `signature`.
    #[must_use]
    pub fn hash(&self) -> Hash {
        let mut buf = Vec::with_capacity(256);
        self.write_cbor(&mut buf, false);
        sha256(&buf)
    }

    /// The bytes the block hash covers (the header's CBOR without `signature`).
    #[must_use]
    pub fn unsigned_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_cbor(&mut out, false);
        out
    }

    /// The producer's Ed25519 key, if `producer` is an Ed25519 `did:key`.
    #[must_use]
    pub fn producer_key(&self) -> Option<VerifyingKey> {
        producer_key(&self.producer)
    }

    /// Writes the header map; keys in RFC 8949 §4.2.1 order (shorter first, then bytewise).
    fn write_cbor(&self, out: &mut Vec<u8>, with_signature: bool) {
        cbor::write_map_header(out, if with_signature { 10 } else { 9 });
        cbor::write_text(out, "prev");
        cbor::write_bytes(out, &self.prev);
        cbor::write_text(out, "nonce");
        cbor::write_uint(out, self.nonce);
        cbor::write_text(out, "height");
        cbor::write_uint(out, self.height);
        cbor::write_text(out, "version");
        cbor::write_uint(out, self.version);
        cbor::write_text(out, "producer");
        cbor::write_text(out, &self.producer);
        if with_signature {
            cbor::write_text(out, "signature");
            cbor::write_bytes(out, &self.signature.to_bytes());
        }
        cbor::write_text(out, "timestamp");
        cbor::write_uint(out, self.timestamp.as_millis());
        cbor::write_text(out, "tree_root");
        cbor::write_bytes(out, &self.tree_root);
        cbor::write_text(out, "tree_size");
        cbor::write_uint(out, self.tree_size);
        cbor::write_text(out, "difficulty");
        cbor::write_uint(out, u64::from(self.difficulty));
    }
}

/// The producer key of a DID string: `Some` for an Ed25519 `did:key` only.
pub(crate) fn producer_key(did: &str) -> Option<VerifyingKey> {
    if did.len() > MAX_PRODUCER_LEN {
        return None;
    }
    match did.parse::<Did>() {
        Ok(Did::Key(key)) => key.ed25519().copied(),
        _ => None,
    }
}

/// The `did:key` string of an Ed25519 key.
#[must_use]
pub fn producer_did(key: &VerifyingKey) -> String {
    DidKey::Ed25519(*key).to_string()
}

/// A block: a header and its entries (each the deterministic CBOR of one entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The entries, in log order.
    pub entries: Vec<Vec<u8>>,
}

impl Block {
    /// An unsigned genesis block (height 0, `prev` all zero) over `entries`, not yet mined:
    /// pass it to [`mine`]. Deterministic: the same arguments give the same block.
    #[must_use]
    pub fn genesis_candidate(
        producer: &VerifyingKey,
        entries: Vec<Vec<u8>>,
        timestamp: Timestamp,
        difficulty: u8,
    ) -> Self {
        Self::candidate_on(
            0,
            ZERO_HASH,
            &Frontier::new(),
            producer,
            entries,
            timestamp,
            difficulty,
        )
    }

    fn candidate_on(
        height: u64,
        prev: Hash,
        parent_frontier: &Frontier,
        producer: &VerifyingKey,
        entries: Vec<Vec<u8>>,
        timestamp: Timestamp,
        difficulty: u8,
    ) -> Self {
        let mut frontier = parent_frontier.clone();
        for entry in &entries {
            frontier.push(leaf_hash(entry));
        }
        Self {
            header: Header {
                version: BLOCK_VERSION,
                height,
                prev,
                tree_size: frontier.size(),
                tree_root: frontier.root(),
                timestamp,
                producer: producer_did(producer),
                difficulty,
                nonce: 0,
                signature: Signature::from_bytes(&[0; 64]),
            },
            entries,
        }
    }

    /// The block hash ([`Header::hash`]).
    #[must_use]
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The leaf hashes of the entries.
    #[must_use]
    pub fn leaf_hashes(&self) -> Vec<Hash> {
        self.entries.iter().map(|e| leaf_hash(e)).collect()
    }

    /// The wire form: deterministic CBOR `{header, entries}`.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_cbor(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn write_cbor(&self, out: &mut Vec<u8>) {
        cbor::write_map_header(out, 2);
        cbor::write_text(out, "header");
        self.header.write_cbor(out, true);
        cbor::write_text(out, "entries");
        cbor::write_array_header(out, self.entries.len());
        for entry in &self.entries {
            cbor::write_bytes(out, entry);
        }
    }

    /// The length of [`Block::to_cbor`], computed without encoding the entries.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let mut header = Vec::with_capacity(256);
        self.header.write_cbor(&mut header, true);
        let entries: usize = self
            .entries
            .iter()
            .map(|e| head_len(e.len() as u64).saturating_add(e.len()))
            .fold(0, usize::saturating_add);
        // map head + "header" + header + "entries" + array head + entries
        1usize
            .saturating_add(7)
            .saturating_add(header.len())
            .saturating_add(8)
            .saturating_add(head_len(self.entries.len() as u64))
            .saturating_add(entries)
    }

    /// Parses the wire form, accepting only its deterministic encoding, at most
    /// [`MAX_BLOCK_BYTES`] long, without unknown fields. Nothing is validated beyond the
    /// format: see [`crate::validate`].
    ///
    /// # Errors
    /// [`BlockDecodeError`] naming what is wrong.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, BlockDecodeError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(BlockDecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_BLOCK_BYTES,
            });
        }
        let repr: BlockRepr = cbor::decode(bytes).map_err(BlockDecodeError::from_cbor)?;
        let h = repr.header;
        let block = Self {
            header: Header {
                version: h.version,
                height: h.height,
                prev: h.prev,
                tree_size: h.tree_size,
                tree_root: h.tree_root,
                timestamp: Timestamp::from_millis(h.timestamp),
                producer: h.producer,
                difficulty: h.difficulty,
                nonce: h.nonce,
                signature: h.signature,
            },
            entries: repr.entries.into_iter().map(|e| e.0).collect(),
        };
        if block.to_cbor() != bytes {
            return Err(BlockDecodeError::Cbor(CborError::NonCanonical));
        }
        Ok(block)
    }
}

/// The length of a CBOR head for argument `arg`.
pub(crate) const fn head_len(arg: u64) -> usize {
    match arg {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockRepr {
    header: HeaderRepr,
    entries: Vec<EntryBytes>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderRepr {
    version: u64,
    height: u64,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    prev: Hash,
    tree_size: u64,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    tree_root: Hash,
    timestamp: u64,
    producer: String,
    difficulty: u8,
    nonce: u64,
    signature: Signature,
}

#[derive(Deserialize)]
struct EntryBytes(#[serde(with = "talos_crypto::base64url::serde")] Vec<u8>);

/// Why bytes are not a block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockDecodeError {
    /// Longer than any block. Drop it unparsed.
    #[error("block too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required field is absent. Drop the block.
    #[error("missing field in block: {0}")]
    MissingField(String),
    /// A field has the wrong type or length. Drop the block.
    #[error("invalid type in block: {0}")]
    InvalidType(String),
    /// Not CBOR of the block's shape, unknown fields, or not the deterministic encoding.
    #[error(transparent)]
    Cbor(CborError),
}

impl BlockDecodeError {
    fn from_cbor(err: CborError) -> Self {
        match &err {
            CborError::Malformed { reason } if reason.contains("missing field") => {
                Self::MissingField(reason.clone())
            }
            CborError::Malformed { reason }
                if !reason.contains("unknown field")
                    && (reason.contains("invalid type")
                        || reason.contains("invalid length")
                        || reason.contains("invalid value")) =>
            {
                Self::InvalidType(reason.clone())
            }
            _ => Self::Cbor(err),
        }
    }
}

/// Leading zero bits of a hash.
#[must_use]
pub fn leading_zero_bits(hash: &Hash) -> u32 {
    let mut bits = 0;
    for byte in hash {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// The work a block of `difficulty` adds: 2^difficulty, saturating at `u128::MAX`.
#[must_use]
pub fn work(difficulty: u8) -> u128 {
    1u128
        .checked_shl(u32::from(difficulty))
        .unwrap_or(u128::MAX)
}

/// Mining gave up after the budget of attempts; `block` holds the candidate with its nonce
/// advanced past the attempts made, so the caller can call [`mine`] again with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("mining budget exhausted at nonce {}", block.header.nonce)]
pub struct OutOfBudget {
    /// The candidate, to resume from.
    pub block: Box<Block>,
}

/// Searches nonces from `block.header.nonce` for at most `budget` attempts until the block
/// hash has `difficulty` leading zero bits, then signs it with `key`. Sets
/// `header.producer` to `key`'s `did:key` first. Difficulty 0 succeeds at once (with a budget
/// of at least 1).
///
/// # Errors
/// [`OutOfBudget`] with the advanced candidate when the budget runs out.
pub fn mine(mut block: Block, key: &SigningKey, budget: u64) -> Result<Block, OutOfBudget> {
    let producer = producer_did(&key.verifying_key());
    if block.header.producer != producer {
        block.header.producer = producer;
    }
    let target = u32::from(block.header.difficulty);
    let mut buf = Vec::with_capacity(256);
    for _ in 0..budget {
        buf.clear();
        block.header.write_cbor(&mut buf, false);
        let mut hasher = Sha256::new();
        hasher.update(&buf);
        let hash = hasher.finalize();
        if leading_zero_bits(&hash) >= target {
            block.header.signature = key.sign(&hash);
            return Ok(block);
        }
        block.header.nonce = block.header.nonce.wrapping_add(1);
    }
    Err(OutOfBudget {
        block: Box::new(block),
    })
}

/// Why the [`Mempool`] refused an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MempoolError {
    /// The pool holds its maximum; mine a block or drop the entry.
    #[error("mempool full: {max} entries")]
    Full {
        /// The limit.
        max: usize,
    },
    /// An entry with the same id is already pending. Nothing to do.
    #[error("duplicate entry id")]
    Duplicate,
    /// Larger than any entry. Drop it.
    #[error("entry too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not an entry. Drop it.
    #[error("invalid entry: {0}")]
    Invalid(String),
}

/// Pending entries: bounded ([`MAX_MEMPOOL_ENTRIES`] by default), deduplicated by entry id,
/// first in first out.
#[derive(Clone, Debug)]
pub struct Mempool {
    queue: VecDeque<([u8; 16], Vec<u8>)>,
    ids: HashSet<[u8; 16]>,
    capacity: usize,
}

impl Default for Mempool {
    fn default() -> Self {
        Self::new(MAX_MEMPOOL_ENTRIES)
    }
}

impl Mempool {
    /// An empty pool of at most `capacity` entries.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            ids: HashSet::new(),
            capacity,
        }
    }

    /// Adds the CBOR of one entry.
    ///
    /// # Errors
    /// [`MempoolError`]: the pool is full, the id is pending, or the bytes are not an entry.
    pub fn insert(&mut self, entry: Vec<u8>) -> Result<(), MempoolError> {
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(MempoolError::TooLarge {
                len: entry.len(),
                max: MAX_ENTRY_BYTES,
            });
        }
        let id = *Entry::from_cbor(&entry)
            .map_err(|e| MempoolError::Invalid(e.to_string()))?
            .id();
        if self.ids.contains(&id) {
            return Err(MempoolError::Duplicate);
        }
        if self.queue.len() >= self.capacity {
            return Err(MempoolError::Full { max: self.capacity });
        }
        self.ids.insert(id);
        self.queue.push_back((id, entry));
        Ok(())
    }

    /// Pending entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether an entry with this id is pending.
    #[must_use]
    pub fn contains(&self, id: &[u8; 16]) -> bool {
        self.ids.contains(id)
    }

    /// Removes and returns pending entries, oldest first, packed greedily into `max_bytes` of
    /// block body (each entry counts its CBOR byte-string length): an entry that does not fit
    /// is skipped and stays pending, and later smaller ones may still be taken. At most
    /// [`MAX_BLOCK_ENTRIES`] entries.
    pub fn take_batch(&mut self, max_bytes: usize) -> Vec<Vec<u8>> {
        let mut used = 0usize;
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        while let Some((id, entry)) = self.queue.pop_front() {
            let cost = head_len(entry.len() as u64).saturating_add(entry.len());
            if taken.len() < MAX_BLOCK_ENTRIES && used.saturating_add(cost) <= max_bytes {
                used = used.saturating_add(cost);
                self.ids.remove(&id);
                taken.push(entry);
            } else {
                kept.push_back((id, entry));
            }
        }
        self.queue = kept;
        taken
    }

    /// Drops pending entries that `block` includes (by entry id).
    pub fn remove_included(&mut self, block: &Block) {
        let included: HashSet<[u8; 16]> = block
            .entries
            .iter()
            .filter_map(|e| Entry::from_cbor(e).ok().map(|e| *e.id()))
            .collect();
        if included.is_empty() {
            return;
        }
        self.queue.retain(|(id, _)| !included.contains(id));
        self.ids.retain(|id| !included.contains(id));
    }
}

/// What a [`Chain`] accepts: expected difficulty, clock skew and table bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainConfig {
    pub(crate) difficulty: u8,
    pub(crate) max_difficulty: u8,
    pub(crate) max_skew: Duration,
    pub(crate) max_blocks: usize,
    pub(crate) max_seen: usize,
}

impl Default for ChainConfig {
    /// Difficulty 8 bits (the seed's two hex nibbles), at most 64; timestamps at most 300 s
    /// ahead of `now`; 10 000 blocks; 100 000 remembered entry ids and sender nonces.
    fn default() -> Self {
        Self {
            difficulty: 8,
            max_difficulty: 64,
            max_skew: Duration::from_secs(300),
            max_blocks: 10_000,
            max_seen: 100_000,
        }
    }
}

impl ChainConfig {
    /// The difficulty every block must carry (leading zero bits; 0 disables proof-of-work).
    /// Clamped to [`ChainConfig::set_max_difficulty`].
    pub fn set_difficulty(&mut self, bits: u8) -> &mut Self {
        self.difficulty = bits.min(self.max_difficulty);
        self
    }

    /// The largest difficulty this node will ever require.
    pub fn set_max_difficulty(&mut self, bits: u8) -> &mut Self {
        self.max_difficulty = bits;
        self.difficulty = self.difficulty.min(bits);
        self
    }

    /// How far a block's timestamp may be ahead of `now`.
    pub fn set_max_skew(&mut self, skew: Duration) -> &mut Self {
        self.max_skew = skew;
        self
    }

    /// Most blocks held (all forks); at the bound, side branches are pruned first.
    pub fn set_max_blocks(&mut self, blocks: usize) -> &mut Self {
        self.max_blocks = blocks.max(1);
        self
    }

    /// How many entry ids (and, separately, sender nonces) are remembered for duplicate
    /// detection; the oldest are forgotten first.
    pub fn set_max_seen(&mut self, count: usize) -> &mut Self {
        self.max_seen = count.max(1);
        self
    }

    /// The expected difficulty.
    #[must_use]
    pub fn difficulty(&self) -> u8 {
        self.difficulty
    }

    /// The allowed clock skew.
    #[must_use]
    pub fn max_skew(&self) -> Duration {
        self.max_skew
    }
}

/// A block in the tree, with what validating a child needs.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) block: Block,
    pub(crate) frontier: Frontier,
    pub(crate) work: u128,
}

/// Where a key was seen: block hashes (at most [`SEEN_PER_KEY`]), oldest first.
const SEEN_PER_KEY: usize = 8;

/// A bounded index from a key to the blocks that hold it; forgets the oldest first.
#[derive(Clone, Debug)]
pub(crate) struct SeenIndex {
    map: HashMap<Hash, VecDeque<Hash>>,
    order: VecDeque<Hash>,
    capacity: usize,
}

impl SeenIndex {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn get(&self, key: &Hash) -> Option<&VecDeque<Hash>> {
        self.map.get(key)
    }

    fn insert(&mut self, key: Hash, block: Hash) {
        let slot = self.map.entry(key).or_default();
        if slot.len() >= SEEN_PER_KEY {
            slot.pop_front();
        }
        slot.push_back(block);
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front()
                && let Some(slot) = self.map.get_mut(&old)
            {
                slot.pop_front();
                if slot.is_empty() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

/// The seen-set key of an entry id.
pub(crate) fn id_key(id: &[u8; 16]) -> Hash {
    let mut h = Sha256::new();
    h.update(b"id");
    h.update(id);
    h.finalize()
}

/// The seen-set key of a (sender, nonce) pair.
pub(crate) fn nonce_key(sender: &str, nonce: u64) -> Hash {
    let mut h = Sha256::new();
    h.update(b"nonce");
    h.update(&(sender.len() as u64).to_be_bytes());
    h.update(sender.as_bytes());
    h.update(&nonce.to_be_bytes());
    h.finalize()
}

/// The outcome of [`Chain::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// The block was already held.
    Known,
    /// The block is the new best tip.
    NewTip,
    /// The block extends a fork with less work than the best chain.
    SideBranch,
}

/// Why [`Chain::insert`] refused a block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The block failed validation; the report lists every failure.
    #[error("invalid block: {0}")]
    Invalid(ValidationReport),
    /// The tree holds its maximum and no side branch could be pruned.
    #[error("chain full: {max} blocks")]
    Full {
        /// The limit.
        max: usize,
    },
}

/// The in-memory block tree: every valid block received (bounded), the best tip by most
/// cumulative work (ties: the lower tip hash), and for each block the log [`Frontier`] after
/// it, so a block on any fork is validated against its own parent.
///
/// Getters: `tip`, `tip_hash`, `height`, `cumulative_work`, `get`, `block_at`, `frontier`,
/// `work_of`, `len`. Commands: `insert`, `import` (see [`crate::validate`]), `candidate`.
#[derive(Clone, Debug)]
pub struct Chain {
    pub(crate) config: ChainConfig,
    pub(crate) nodes: HashMap<Hash, Node>,
    pub(crate) genesis: Hash,
    pub(crate) tip: Hash,
    /// Block hashes of the best chain by height.
    pub(crate) main: Vec<Hash>,
    pub(crate) ids: SeenIndex,
    pub(crate) nonces: SeenIndex,
}

impl Chain {
    /// A chain from its genesis block, which is validated like any block except for the
    /// clock (it has no parent, and it is configuration rather than input).
    ///
    /// # Errors
    /// The [`ValidationReport`] of a genesis block that fails validation.
    pub fn new(config: ChainConfig, genesis: Block) -> Result<Self, ValidationReport> {
        let (report, checked) = crate::validate::check_genesis(&config, &genesis);
        let Some(checked) = checked else {
            return Err(report);
        };
        let hash = checked.hash;
        let mut chain = Self {
            config,
            nodes: HashMap::new(),
            genesis: hash,
            tip: hash,
            main: vec![hash],
            ids: SeenIndex::new(config.max_seen),
            nonces: SeenIndex::new(config.max_seen),
        };
        chain.index(hash, &checked.keys);
        chain.nodes.insert(
            hash,
            Node {
                block: genesis,
                frontier: checked.frontier,
                work: checked.work,
            },
        );
        Ok(chain)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The genesis block hash.
    #[must_use]
    pub fn genesis_hash(&self) -> Hash {
        self.genesis
    }

    /// The best tip's hash.
    #[must_use]
    pub fn tip_hash(&self) -> Hash {
        self.tip
    }

    /// The best tip.
    #[must_use]
    pub fn tip(&self) -> &Block {
        &self.node(&self.tip).block
    }

    fn node(&self, hash: &Hash) -> &Node {
        #[allow(clippy::expect_used)]
        self.nodes
            .get(hash)
            .expect("invariant: tip and main-chain hashes are held")
    }

    /// The best tip's height.
    #[must_use]
    pub fn height(&self) -> u64 {
        self.tip().header.height
    }

    /// The best tip's cumulative work (Σ 2^difficulty from genesis, saturating).
    #[must_use]
    pub fn cumulative_work(&self) -> u128 {
        self.node(&self.tip).work
    }

    /// The log size at the best tip.
    #[must_use]
    pub fn tree_size(&self) -> u64 {
        self.tip().header.tree_size
    }

    /// Blocks held, all forks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a chain holds at least its genesis.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether a block is held.
    #[must_use]
    pub fn contains(&self, hash: &Hash) -> bool {
        self.nodes.contains_key(hash)
    }

    /// A held block by hash.
    #[must_use]
    pub fn get(&self, hash: &Hash) -> Option<&Block> {
        self.nodes.get(hash).map(|n| &n.block)
    }

    /// The best chain's block at `height`.
    #[must_use]
    pub fn block_at(&self, height: u64) -> Option<&Block> {
        let index = usize::try_from(height).ok()?;
        let hash = self.main.get(index)?;
        self.get(hash)
    }

    /// Up to `count` best-chain blocks from `from_height`, at most `max_bytes` of wire form
    /// in total (at least one block if any).
    #[must_use]
    pub fn blocks_from(&self, from_height: u64, count: usize, max_bytes: usize) -> Vec<Block> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let Ok(start) = usize::try_from(from_height) else {
            return out;
        };
        for hash in self.main.iter().skip(start).take(count) {
            let Some(block) = self.get(hash) else { break };
            let len = block.encoded_len();
            if !out.is_empty() && bytes.saturating_add(len) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(len);
            out.push(block.clone());
        }
        out
    }

    /// The log frontier after a held block.
    #[must_use]
    pub fn frontier(&self, hash: &Hash) -> Option<&Frontier> {
        self.nodes.get(hash).map(|n| &n.frontier)
    }

    /// The cumulative work up to a held block.
    #[must_use]
    pub fn work_of(&self, hash: &Hash) -> Option<u128> {
        self.nodes.get(hash).map(|n| n.work)
    }

    /// An unsigned candidate block on the best tip over `entries`, with the chain's
    /// difficulty; pass it to [`mine`].
    #[must_use]
    pub fn candidate(
        &self,
        producer: &VerifyingKey,
        entries: Vec<Vec<u8>>,
        timestamp: Timestamp,
    ) -> Block {
        let tip = self.node(&self.tip);
        Block::candidate_on(
            tip.block.header.height.saturating_add(1),
            self.tip,
            &tip.frontier,
            producer,
            entries,
            timestamp,
            self.config.difficulty,
        )
    }

    /// Whether `(work, hash)` beats the current best tip: more work, or equal work and a
    /// lower hash.
    #[must_use]
    pub fn is_better(&self, work: u128, hash: &Hash) -> bool {
        let best = self.cumulative_work();
        work > best || (work == best && *hash < self.tip)
    }

    /// Validates `block` against its parent (which must be held) at `now`, and adds it.
    ///
    /// # Errors
    /// [`InsertError::Invalid`] with every failure found, or [`InsertError::Full`].
    pub fn insert(
        &mut self,
        block: Block,
        now: Timestamp,
        anchors: Option<&dyn AnchorCheck>,
    ) -> Result<Inserted, InsertError> {
        let pre = crate::validate::precheck(&self.config, &block);
        self.insert_prechecked(block, pre, now, anchors)
    }

    pub(crate) fn insert_prechecked(
        &mut self,
        block: Block,
        pre: crate::validate::Prechecked,
        now: Timestamp,
        anchors: Option<&dyn AnchorCheck>,
    ) -> Result<Inserted, InsertError> {
        // The block hash covers the header without its signature, and the entries only
        // through the Merkle commitment: a block with a held hash but other bytes is
        // validated, not taken as known.
        let held = self.nodes.get(&pre.hash).map(|n| n.block == block);
        if held == Some(true) {
            return Ok(Inserted::Known);
        }
        let (report, checked) = crate::validate::check_in_context(self, &block, pre, now, anchors);
        if held.is_some() {
            return if report.is_valid() {
                Ok(Inserted::Known)
            } else {
                Err(InsertError::Invalid(report))
            };
        }
        let Some(checked) = checked else {
            return Err(InsertError::Invalid(report));
        };
        if self.nodes.len() >= self.config.max_blocks {
            self.prune_side_branches();
            if self.nodes.len() >= self.config.max_blocks {
                return Err(InsertError::Full {
                    max: self.config.max_blocks,
                });
            }
        }
        let hash = checked.hash;
        let work = checked.work;
        self.index(hash, &checked.keys);
        self.nodes.insert(
            hash,
            Node {
                block,
                frontier: checked.frontier,
                work,
            },
        );
        if self.is_better(work, &hash) {
            self.reorg_to(hash);
            Ok(Inserted::NewTip)
        } else {
            Ok(Inserted::SideBranch)
        }
    }

    fn index(&mut self, hash: Hash, keys: &crate::validate::EntryKeys) {
        for id in &keys.ids {
            self.ids.insert(*id, hash);
        }
        for nonce in &keys.nonces {
            self.nonces.insert(*nonce, hash);
        }
    }

    /// Makes `new_tip` the best tip and rebuilds the height index from the fork point.
    fn reorg_to(&mut self, new_tip: Hash) {
        let mut branch = Vec::new();
        let mut cursor = new_tip;
        while let Some(node) = self.nodes.get(&cursor) {
            let Ok(height) = usize::try_from(node.block.header.height) else {
                break;
            };
            if self.main.get(height) == Some(&cursor) {
                self.main.truncate(height.saturating_add(1));
                break;
            }
            branch.push(cursor);
            if height == 0 {
                self.main.clear();
                break;
            }
            cursor = node.block.header.prev;
        }
        branch.reverse();
        self.main.extend(branch);
        self.tip = new_tip;
    }

    /// Drops blocks that are not on the best chain, lowest first, until a tenth of the
    /// capacity is free or nothing is left to drop, then the side blocks left without a
    /// parent.
    fn prune_side_branches(&mut self) {
        let main: HashSet<Hash> = self.main.iter().copied().collect();
        let mut side: Vec<(u64, Hash)> = self
            .nodes
            .iter()
            .filter(|(h, _)| !main.contains(*h))
            .map(|(h, n)| (n.block.header.height, *h))
            .collect();
        side.sort_unstable();
        let target = self
            .config
            .max_blocks
            .saturating_sub(self.config.max_blocks / 10 + 1);
        for (_, hash) in &side {
            if self.nodes.len() <= target {
                break;
            }
            self.nodes.remove(hash);
        }
        // Then whatever lost its parent, so every held block keeps its whole ancestry
        // (ascending heights: a parent is handled before its children).
        for (_, hash) in &side {
            let orphaned = self
                .nodes
                .get(hash)
                .is_some_and(|n| !self.nodes.contains_key(&n.block.header.prev));
            if orphaned {
                self.nodes.remove(hash);
            }
        }
    }

    /// The hashes of `from` and its ancestors down to height `min_height`.
    pub(crate) fn ancestors_down_to(&self, from: &Hash, min_height: u64) -> HashSet<Hash> {
        let mut out = HashSet::new();
        let mut cursor = *from;
        while let Some(node) = self.nodes.get(&cursor) {
            out.insert(cursor);
            if node.block.header.height <= min_height || node.block.header.height == 0 {
                break;
            }
            cursor = node.block.header.prev;
        }
        out
    }

    pub(crate) fn node_of(&self, hash: &Hash) -> Option<&Node> {
        self.nodes.get(hash)
    }
}

impl From<&BlockDecodeError> for talos_crypto::ErrorCode {
    /// Block bytes that do not decode are bad input, whatever is wrong with them.
    fn from(_: &BlockDecodeError) -> Self {
        Self::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use talos_crypto::record::{Field, Record};

    fn header() -> Header {
        Header {
            version: 1,
            height: 7,
            prev: [3; 32],
            tree_size: 1000,
            tree_root: [4; 32],
            timestamp: Timestamp::from_millis(1_700_000_000_000),
            producer: producer_did(&SigningKey::from_seed(&[9; 32]).verifying_key()),
            difficulty: 12,
            nonce: 77_777,
            signature: Signature::from_bytes(&[5; 64]),
        }
    }

    #[test]
    fn header_cbor_matches_record_order() {
        let h = header();
        let record = Record::new()
            .with("version", Field::uint(1))
            .with("height", Field::uint(7))
            .with("prev", Field::bytes(&h.prev[..]))
            .with("tree_size", Field::uint(1000))
            .with("tree_root", Field::bytes(&h.tree_root[..]))
            .with(
                "timestamp",
                Field::Uint(talos_crypto::record::SafeUint::new(1_700_000_000_000).unwrap()),
            )
            .with("producer", Field::text(h.producer.clone()))
            .with("difficulty", Field::uint(12))
            .with("nonce", Field::uint(77_777));
        assert_eq!(h.unsigned_cbor(), record.to_cbor());
        let signed = record.with("signature", Field::bytes(h.signature.to_bytes().to_vec()));
        let mut out = Vec::new();
        h.write_cbor(&mut out, true);
        assert_eq!(out, signed.to_cbor());
    }

    #[test]
    fn encoded_len_is_exact() {
        let block = Block {
            header: header(),
            entries: vec![vec![1; 3], vec![2; 30], vec![3; 300], vec![4; 70_000]],
        };
        assert_eq!(block.encoded_len(), block.to_cbor().len());
    }

    #[test]
    fn leading_zeros_and_work() {
        assert_eq!(leading_zero_bits(&[0; 32]), 256);
        let mut h = [0u8; 32];
        h[1] = 0x10;
        assert_eq!(leading_zero_bits(&h), 11);
        assert_eq!(work(0), 1);
        assert_eq!(work(10), 1024);
        assert_eq!(work(200), u128::MAX);
    }
}
