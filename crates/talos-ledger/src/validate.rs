//! The block validation engine: five layers, in order, each failure with its numeric code
//! (REFERENCE §6.6).
//!
//! 1. **Structural** (100 family, [`Code::MalformedBlock`]): version, sizes, counts, producer
//!    DID. A structural failure stops the deeper layers for that block.
//! 2. **Cryptographic** (200): the producer's signature over the block hash, the Merkle
//!    commitment (`tree_size`, `tree_root` after extending the parent's frontier with the
//!    block's leaf hashes), and a height-0 block that is not our genesis.
//! 3. **Consensus** (300): height and `prev` linkage, the chain's difficulty, proof-of-work,
//!    a timestamp at most `max_skew` (300 s) ahead of `now` and not before the parent's.
//! 4. **Semantic** (400): entries decode as [`Entry`], no duplicate entry ids and no reused
//!    (sender, nonce) within the block or on the block's own ancestry (remembered in bounded
//!    seen-sets: ids older than the window are forgotten).
//! 5. **Cross-chain** (500): an [`Anchor`] entry must be consistent with what the caller's
//!    [`AnchorCheck`] holds for that log; skipped when no checker is given.
//!
//! A [`ValidationReport`] lists **every** failure found (up to [`MAX_FAILURES_PER_BLOCK`] per
//! block), not just the first. With the `parallel` feature, [`Chain::import`] runs the
//! structural and cryptographic checks of a batch of blocks on rayon's pool; without it
//! (the default) everything is single-threaded and Sans-IO.
//!
//! ```
//! use talos_ledger::block::{Block, Chain, ChainConfig, mine};
//! use talos_ledger::crypto::{SigningKey, Timestamp};
//! use talos_ledger::validate::Code;
//!
//! let key = SigningKey::from_seed(&[1; 32]);
//! let mut config = ChainConfig::default();
//! config.set_difficulty(0);
//! let genesis = Block::genesis_candidate(&key.verifying_key(), Vec::new(), Timestamp::from_millis(0), 0);
//! let chain = Chain::new(config, mine(genesis, &key, 1).unwrap()).unwrap();
//!
//! let mut block = mine(chain.candidate(&key.verifying_key(), Vec::new(), Timestamp::from_millis(5)), &key, 1).unwrap();
//! block.header.tree_size += 1; // breaks the signature and the Merkle commitment
//! let report = chain.validate(&block, Timestamp::from_millis(10), None);
//! assert_eq!(report.codes(), [Code::SignatureInvalid, Code::MerkleInvalid]);
//! ```
//!
//! [`Entry`]: crate::entry::Entry

use std::collections::HashSet;

use talos_crypto::Timestamp;
use talos_crypto::record::{Field, Record, SafeUint};

use crate::block::{
    BLOCK_VERSION, Block, Chain, ChainConfig, InsertError, Inserted, MAX_BLOCK_BYTES,
    MAX_BLOCK_ENTRIES, MAX_ENTRY_BYTES, ZERO_HASH, id_key, leading_zero_bits, nonce_key,
    producer_key, work,
};
use crate::entry::{Anchor, Entry};
use crate::merkle::{Frontier, Hash};

/// Most failures recorded per block; further ones are dropped.
pub const MAX_FAILURES_PER_BLOCK: usize = 64;
/// Most failures in one report.
pub const MAX_FAILURES_PER_REPORT: usize = 4096;

/// A validation layer, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// Schema, sizes, counts.
    Structural,
    /// Hashes, signatures, Merkle commitments.
    Cryptographic,
    /// Height, linkage, difficulty, proof-of-work, timestamps.
    Consensus,
    /// Entry format, duplicate ids, nonce reuse.
    Semantic,
    /// Anchors of other logs.
    CrossChain,
}

impl Layer {
    /// The name in reports: `structural`, `cryptographic`, `consensus`, `semantic`,
    /// `cross_chain`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Structural => "structural",
            Self::Cryptographic => "cryptographic",
            Self::Consensus => "consensus",
            Self::Semantic => "semantic",
            Self::CrossChain => "cross_chain",
        }
    }
}

/// A failure code (REFERENCE §6.6 numbers and names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Code {
    /// 100: the block is not of the block schema.
    MalformedBlock,
    /// 101: a required field is absent.
    MissingField,
    /// 102: a field has the wrong type.
    InvalidType,
    /// 103: a size or count limit is exceeded.
    SizeExceeded,
    /// 200: a hash is not the expected one.
    HashMismatch,
    /// 201: the producer's signature does not verify.
    SignatureInvalid,
    /// 202: `tree_size`/`tree_root` do not match the parent's log extended by the entries.
    MerkleInvalid,
    /// 300: the block hash lacks the required leading zero bits.
    PowInvalid,
    /// 301: the timestamp is too far ahead of `now` or before the parent's.
    TimestampInvalid,
    /// 302: wrong height, unknown parent, or bad `prev`.
    ChainLinkBroken,
    /// 303: the difficulty is not the chain's.
    DifficultyMismatch,
    /// 400: an entry id already in the block or its ancestry.
    DuplicateMessage,
    /// 401: a (sender, nonce) already in the block or its ancestry.
    NonceReused,
    /// 402: an entry is not a valid entry.
    MessageFormatInvalid,
    /// 500: an anchor is inconsistent with what we hold for its log.
    AnchorMismatch,
    /// 501: an anchor names a log we hold nothing for, so it cannot be checked.
    ExternalVerificationFailed,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Self; 16] = [
        Self::MalformedBlock,
        Self::MissingField,
        Self::InvalidType,
        Self::SizeExceeded,
        Self::HashMismatch,
        Self::SignatureInvalid,
        Self::MerkleInvalid,
        Self::PowInvalid,
        Self::TimestampInvalid,
        Self::ChainLinkBroken,
        Self::DifficultyMismatch,
        Self::DuplicateMessage,
        Self::NonceReused,
        Self::MessageFormatInvalid,
        Self::AnchorMismatch,
        Self::ExternalVerificationFailed,
    ];

    /// The numeric code.
    #[must_use]
    pub const fn number(self) -> u32 {
        match self {
            Self::MalformedBlock => 100,
            Self::MissingField => 101,
            Self::InvalidType => 102,
            Self::SizeExceeded => 103,
            Self::HashMismatch => 200,
            Self::SignatureInvalid => 201,
            Self::MerkleInvalid => 202,
            Self::PowInvalid => 300,
            Self::TimestampInvalid => 301,
            Self::ChainLinkBroken => 302,
            Self::DifficultyMismatch => 303,
            Self::DuplicateMessage => 400,
            Self::NonceReused => 401,
            Self::MessageFormatInvalid => 402,
            Self::AnchorMismatch => 500,
            Self::ExternalVerificationFailed => 501,
        }
    }

    /// The code name, e.g. `"MERKLE_INVALID"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::MalformedBlock => "MALFORMED_BLOCK",
            Self::MissingField => "MISSING_FIELD",
            Self::InvalidType => "INVALID_TYPE",
            Self::SizeExceeded => "SIZE_EXCEEDED",
            Self::HashMismatch => "HASH_MISMATCH",
            Self::SignatureInvalid => "SIGNATURE_INVALID",
            Self::MerkleInvalid => "MERKLE_INVALID",
            Self::PowInvalid => "POW_INVALID",
            Self::TimestampInvalid => "TIMESTAMP_INVALID",
            Self::ChainLinkBroken => "CHAIN_LINK_BROKEN",
            Self::DifficultyMismatch => "DIFFICULTY_MISMATCH",
            Self::DuplicateMessage => "DUPLICATE_MESSAGE",
            Self::NonceReused => "NONCE_REUSED",
            Self::MessageFormatInvalid => "MESSAGE_FORMAT_INVALID",
            Self::AnchorMismatch => "ANCHOR_MISMATCH",
            Self::ExternalVerificationFailed => "EXTERNAL_VERIFICATION_FAILED",
        }
    }

    /// The layer that reports this code.
    #[must_use]
    pub const fn layer(self) -> Layer {
        match self.number() / 100 {
            1 => Layer::Structural,
            2 => Layer::Cryptographic,
            3 => Layer::Consensus,
            4 => Layer::Semantic,
            _ => Layer::CrossChain,
        }
    }
}

/// One failure found in one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The code.
    pub code: Code,
    /// What is wrong, for people.
    pub message: String,
    /// The height the block claims.
    pub block_index: u64,
    /// Named values that explain the failure (e.g. `expected`, `got`).
    pub details: Vec<(&'static str, String)>,
}

impl Failure {
    fn new(code: Code, block_index: u64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            block_index,
            details: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.details.push((name, value.to_string()));
        self
    }

    /// The layer ([`Code::layer`]).
    #[must_use]
    pub fn layer(&self) -> Layer {
        self.code.layer()
    }

    /// The report form `{code, code_name, message, layer, block_index, details}`.
    #[must_use]
    pub fn record(&self) -> Record<'_> {
        let details = self.details.iter().fold(Record::new(), |r, (name, value)| {
            r.with(name, Field::text(value.as_str()))
        });
        Record::new()
            .with("code", Field::uint(self.code.number()))
            .with("code_name", Field::text(self.code.name()))
            .with("message", Field::text(self.message.as_str()))
            .with("layer", Field::text(self.layer().as_str()))
            .with(
                "block_index",
                Field::Uint(SafeUint::new(self.block_index).unwrap_or(SafeUint::MAX)),
            )
            .with("details", Field::Record(details))
    }
}

/// Every failure found while validating one or more blocks, in the order found (block by
/// block, layer by layer). Empty means valid.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("{} validation failure(s){}", failures.len(), failures.first().map(|f| format!(", first: {} {} at height {}: {}", f.code.number(), f.code.name(), f.block_index, f.message)).unwrap_or_default())]
pub struct ValidationReport {
    failures: Vec<Failure>,
}

impl ValidationReport {
    /// Whether nothing failed.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures.
    #[must_use]
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// The failure codes, in order.
    #[must_use]
    pub fn codes(&self) -> Vec<Code> {
        self.failures.iter().map(|f| f.code).collect()
    }

    /// Whether some failure has `code`.
    #[must_use]
    pub fn has(&self, code: Code) -> bool {
        self.failures.iter().any(|f| f.code == code)
    }

    /// Canonical JSON: an array of `{code, code_name, message, layer, block_index, details}`.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = vec![b'['];
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&failure.record().to_json());
        }
        out.push(b']');
        out
    }

    fn extend(&mut self, failures: Vec<Failure>) {
        let room = MAX_FAILURES_PER_REPORT.saturating_sub(self.failures.len());
        self.failures.extend(failures.into_iter().take(room));
    }
}

/// Checks an [`Anchor`] entry against what the caller holds for the anchored log (the lead's
/// light client implements it).
pub trait AnchorCheck {
    /// `Ok` if the anchored checkpoint is consistent with what we hold for its log;
    /// otherwise why not (reported as [`Code::AnchorMismatch`]).
    ///
    /// # Errors
    /// A description of the inconsistency.
    fn check(&self, anchor: &Anchor) -> Result<(), String>;

    /// Whether we hold anything for the log `origin`; an anchor of an unknown log is reported
    /// as [`Code::ExternalVerificationFailed`] and not checked. Default: every log is known.
    fn is_known(&self, origin: &str) -> bool {
        let _ = origin;
        true
    }
}

/// Entry keys for the seen-sets of a valid block.
#[derive(Clone, Debug, Default)]
pub(crate) struct EntryKeys {
    pub(crate) ids: Vec<Hash>,
    pub(crate) nonces: Vec<Hash>,
}

/// What a valid block adds to the chain.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub(crate) hash: Hash,
    pub(crate) frontier: Frontier,
    pub(crate) work: u128,
    pub(crate) keys: EntryKeys,
}

/// The results of the context-free layers (structural, signature, leaf hashes, entry decode).
#[derive(Debug)]
pub(crate) struct Prechecked {
    pub(crate) hash: Hash,
    structural_ok: bool,
    failures: Vec<Failure>,
    leaves: Vec<Hash>,
    entries: Vec<Result<Entry, String>>,
}

struct Failures {
    list: Vec<Failure>,
    height: u64,
}

impl Failures {
    fn push(&mut self, failure: Failure) {
        if self.list.len() < MAX_FAILURES_PER_BLOCK {
            self.list.push(failure);
        }
    }

    fn fail(&mut self, code: Code, message: impl Into<String>) {
        let height = self.height;
        self.push(Failure::new(code, height, message));
    }
}

/// Structural and cryptographic checks that need no chain: safe to run in parallel.
pub(crate) fn precheck(config: &ChainConfig, block: &Block) -> Prechecked {
    let h = &block.header;
    let mut f = Failures {
        list: Vec::new(),
        height: h.height,
    };
    // 1. Structural.
    if h.version != BLOCK_VERSION {
        f.push(
            Failure::new(Code::MalformedBlock, h.height, "unsupported block version")
                .with("expected", BLOCK_VERSION)
                .with("got", h.version),
        );
    }
    if block.entries.len() > MAX_BLOCK_ENTRIES {
        f.push(
            Failure::new(Code::SizeExceeded, h.height, "too many entries")
                .with("count", block.entries.len())
                .with("max", MAX_BLOCK_ENTRIES),
        );
    }
    for (i, entry) in block.entries.iter().enumerate() {
        if entry.len() > MAX_ENTRY_BYTES {
            f.push(
                Failure::new(Code::SizeExceeded, h.height, "entry too large")
                    .with("entry", i)
                    .with("len", entry.len())
                    .with("max", MAX_ENTRY_BYTES),
            );
        }
    }
    let len = block.encoded_len();
    if len > MAX_BLOCK_BYTES {
        f.push(
            Failure::new(Code::SizeExceeded, h.height, "block too large")
                .with("len", len)
                .with("max", MAX_BLOCK_BYTES),
        );
    }
    let key = producer_key(&h.producer);
    if key.is_none() {
        f.fail(Code::InvalidType, "producer is not an ed25519 did:key");
    }
    if h.difficulty > config.max_difficulty {
        f.push(
            Failure::new(Code::SizeExceeded, h.height, "difficulty above the maximum")
                .with("difficulty", h.difficulty)
                .with("max", config.max_difficulty),
        );
    }
    let hash = block.hash();
    let Some(key) = key.filter(|_| f.list.is_empty()) else {
        return Prechecked {
            hash,
            structural_ok: false,
            failures: f.list,
            leaves: Vec::new(),
            entries: Vec::new(),
        };
    };
    // 2. Cryptographic (the parts without the parent).
    if key.verify(&hash, &h.signature).is_err() {
        f.fail(
            Code::SignatureInvalid,
            "producer signature does not verify over the block hash",
        );
    }
    Prechecked {
        hash,
        structural_ok: true,
        failures: f.list,
        leaves: block.leaf_hashes(),
        entries: block
            .entries
            .iter()
            .map(|e| Entry::from_cbor(e).map_err(|err| err.to_string()))
            .collect(),
    }
}

/// Where a block hangs.
enum Parent<'a> {
    /// It is a genesis block: no parent, empty log before it.
    Genesis,
    /// Its held parent.
    Held(&'a crate::block::Node),
    /// Its parent is not held.
    Unknown,
}

/// Validates a genesis block for [`Chain::new`].
pub(crate) fn check_genesis(
    config: &ChainConfig,
    block: &Block,
) -> (ValidationReport, Option<Checked>) {
    let pre = precheck(config, block);
    check(config, None, block, pre, Parent::Genesis, None, None)
}

/// Validates a block against `chain` at `now`.
pub(crate) fn check_in_context(
    chain: &Chain,
    block: &Block,
    pre: Prechecked,
    now: Timestamp,
    anchors: Option<&dyn AnchorCheck>,
) -> (ValidationReport, Option<Checked>) {
    let parent = if block.header.height == 0 {
        Parent::Genesis
    } else {
        chain
            .node_of(&block.header.prev)
            .map_or(Parent::Unknown, Parent::Held)
    };
    check(
        &chain.config,
        Some(chain),
        block,
        pre,
        parent,
        Some(now),
        anchors,
    )
}

fn check(
    config: &ChainConfig,
    chain: Option<&Chain>,
    block: &Block,
    pre: Prechecked,
    parent: Parent<'_>,
    now: Option<Timestamp>,
    anchors: Option<&dyn AnchorCheck>,
) -> (ValidationReport, Option<Checked>) {
    let h = &block.header;
    let mut f = Failures {
        list: pre.failures,
        height: h.height,
    };
    if !pre.structural_ok {
        return (ValidationReport { failures: f.list }, None);
    }

    // 2. Cryptographic, continued: the genesis identity and the Merkle commitment.
    if let (Parent::Genesis, Some(chain)) = (&parent, chain)
        && pre.hash != chain.genesis
    {
        f.push(
            Failure::new(
                Code::HashMismatch,
                h.height,
                "height-0 block is not this chain's genesis",
            )
            .with("expected", hex(&chain.genesis))
            .with("got", hex(&pre.hash)),
        );
    }
    let base = match &parent {
        Parent::Genesis => Some(Frontier::new()),
        Parent::Held(node) => Some(node.frontier.clone()),
        Parent::Unknown => None,
    };
    let frontier = base.map(|mut frontier| {
        for leaf in &pre.leaves {
            frontier.push(*leaf);
        }
        frontier
    });
    if let Some(frontier) = &frontier {
        if frontier.size() != h.tree_size {
            f.push(
                Failure::new(
                    Code::MerkleInvalid,
                    h.height,
                    "tree_size is not the parent's plus the entries",
                )
                .with("expected", frontier.size())
                .with("got", h.tree_size),
            );
        } else if frontier.root() != h.tree_root {
            f.push(
                Failure::new(
                    Code::MerkleInvalid,
                    h.height,
                    "tree_root is not the root after the entries",
                )
                .with("expected", hex(&frontier.root()))
                .with("got", hex(&h.tree_root)),
            );
        }
    }

    // 3. Consensus.
    match &parent {
        Parent::Genesis => {
            if h.prev != ZERO_HASH {
                f.fail(Code::ChainLinkBroken, "genesis prev is not all zero");
            }
        }
        Parent::Unknown => f.push(
            Failure::new(Code::ChainLinkBroken, h.height, "unknown parent block")
                .with("prev", hex(&h.prev)),
        ),
        Parent::Held(node) => {
            let expected = node.block.header.height.saturating_add(1);
            if h.height != expected {
                f.push(
                    Failure::new(Code::ChainLinkBroken, h.height, "height is not parent + 1")
                        .with("expected", expected)
                        .with("got", h.height),
                );
            }
            if h.timestamp < node.block.header.timestamp {
                f.push(
                    Failure::new(
                        Code::TimestampInvalid,
                        h.height,
                        "timestamp before the parent's",
                    )
                    .with("parent", node.block.header.timestamp.as_millis())
                    .with("got", h.timestamp.as_millis()),
                );
            }
        }
    }
    if h.difficulty != config.difficulty {
        f.push(
            Failure::new(
                Code::DifficultyMismatch,
                h.height,
                "difficulty is not the chain's",
            )
            .with("expected", config.difficulty)
            .with("got", h.difficulty),
        );
    }
    let bits = leading_zero_bits(&pre.hash);
    if bits < u32::from(h.difficulty) {
        f.push(
            Failure::new(
                Code::PowInvalid,
                h.height,
                "block hash lacks the required zero bits",
            )
            .with("difficulty", h.difficulty)
            .with("bits", bits),
        );
    }
    if let Some(now) = now {
        let limit = now.saturating_add(config.max_skew);
        if h.timestamp > limit {
            f.push(
                Failure::new(Code::TimestampInvalid, h.height, "timestamp in the future")
                    .with("max", limit.as_millis())
                    .with("got", h.timestamp.as_millis()),
            );
        }
    }

    // 4. Semantic.
    let mut keys = EntryKeys::default();
    let mut block_ids = HashSet::new();
    let mut block_nonces = HashSet::new();
    for (i, entry) in pre.entries.iter().enumerate() {
        match entry {
            Err(reason) => f.push(
                Failure::new(
                    Code::MessageFormatInvalid,
                    h.height,
                    "entry does not decode",
                )
                .with("entry", i)
                .with("reason", reason),
            ),
            Ok(entry) => {
                let id = id_key(entry.id());
                if !block_ids.insert(id) {
                    f.push(
                        Failure::new(
                            Code::DuplicateMessage,
                            h.height,
                            "duplicate entry id in the block",
                        )
                        .with("entry", i)
                        .with("id", hex(entry.id())),
                    );
                }
                let nonce = nonce_key(entry.sender(), entry.nonce());
                if !block_nonces.insert(nonce) {
                    f.push(
                        Failure::new(Code::NonceReused, h.height, "nonce reused in the block")
                            .with("entry", i)
                            .with("sender", entry.sender())
                            .with("nonce", entry.nonce()),
                    );
                }
                keys.ids.push(id);
                keys.nonces.push(nonce);
            }
        }
    }
    if let (Some(chain), Parent::Held(_)) = (chain, &parent) {
        let dup_ids = seen_on_ancestry(chain, &h.prev, &keys.ids, |c| &c.ids);
        for i in dup_ids {
            f.push(
                Failure::new(
                    Code::DuplicateMessage,
                    h.height,
                    "entry id already on this chain",
                )
                .with("entry", i),
            );
        }
        let dup_nonces = seen_on_ancestry(chain, &h.prev, &keys.nonces, |c| &c.nonces);
        for i in dup_nonces {
            f.push(
                Failure::new(
                    Code::NonceReused,
                    h.height,
                    "sender nonce already on this chain",
                )
                .with("entry", i),
            );
        }
    }

    // 5. Cross-chain.
    if let Some(anchors) = anchors {
        for entry in pre.entries.iter().flatten() {
            if let Some(anchor) = entry.anchor() {
                if !anchors.is_known(&anchor.origin) {
                    f.push(
                        Failure::new(
                            Code::ExternalVerificationFailed,
                            h.height,
                            "anchor of a log we hold nothing for",
                        )
                        .with("origin", &anchor.origin),
                    );
                } else if let Err(reason) = anchors.check(anchor) {
                    f.push(
                        Failure::new(
                            Code::AnchorMismatch,
                            h.height,
                            "anchor inconsistent with the log we hold",
                        )
                        .with("origin", &anchor.origin)
                        .with("reason", reason),
                    );
                }
            }
        }
    }

    let report = ValidationReport { failures: f.list };
    let checked = match (&parent, frontier) {
        (Parent::Unknown, _) | (_, None) => None,
        _ if !report.is_valid() => None,
        (parent, Some(frontier)) => {
            let base = match parent {
                Parent::Held(node) => node.work,
                _ => 0,
            };
            Some(Checked {
                hash: pre.hash,
                frontier,
                work: base.saturating_add(work(h.difficulty)),
                keys,
            })
        }
    };
    (report, checked)
}

/// Indices of `keys` already held by a block on the ancestry of `parent` (inclusive).
fn seen_on_ancestry(
    chain: &Chain,
    parent: &Hash,
    keys: &[Hash],
    index: impl Fn(&Chain) -> &crate::block::SeenIndex,
) -> Vec<usize> {
    let index = index(chain);
    let hits: Vec<(usize, &Hash)> = keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| index.get(k).map(|blocks| (i, blocks)))
        .flat_map(|(i, blocks)| blocks.iter().map(move |b| (i, b)))
        .collect();
    if hits.is_empty() {
        return Vec::new();
    }
    let min_height = hits
        .iter()
        .filter_map(|(_, b)| chain.node_of(b).map(|n| n.block.header.height))
        .min()
        .unwrap_or(0);
    let ancestry = chain.ancestors_down_to(parent, min_height);
    let mut out: Vec<usize> = hits
        .into_iter()
        .filter(|(_, b)| ancestry.contains(*b))
        .map(|(i, _)| i)
        .collect();
    out.dedup();
    out
}

fn hex(bytes: &[u8]) -> String {
    talos_crypto::hash::to_hex(bytes)
}

/// The outcome of [`Chain::import`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Every failure of every refused block.
    pub report: ValidationReport,
    /// Blocks added.
    pub inserted: usize,
    /// Blocks already held.
    pub known: usize,
    /// Whether the best tip changed.
    pub new_tip: bool,
    /// Whether the chain was full, so the remaining blocks were not considered.
    pub full: bool,
}

impl Chain {
    /// Validates `block` against this chain at `now` without adding it.
    #[must_use]
    pub fn validate(
        &self,
        block: &Block,
        now: Timestamp,
        anchors: Option<&dyn AnchorCheck>,
    ) -> ValidationReport {
        let pre = precheck(&self.config, block);
        check_in_context(self, block, pre, now, anchors).0
    }

    /// Validates and adds `blocks` in order (each may build on the ones before it). The
    /// context-free checks of all blocks run first, in parallel with the `parallel` feature;
    /// then each block is checked against its parent and added if valid. Invalid blocks are
    /// skipped and their failures reported.
    pub fn import(
        &mut self,
        blocks: Vec<Block>,
        now: Timestamp,
        anchors: Option<&dyn AnchorCheck>,
    ) -> ImportOutcome {
        let prechecks = prechecks(&self.config, &blocks);
        let mut outcome = ImportOutcome::default();
        for (block, pre) in blocks.into_iter().zip(prechecks) {
            match self.insert_prechecked(block, pre, now, anchors) {
                Ok(Inserted::Known) => outcome.known = outcome.known.saturating_add(1),
                Ok(Inserted::NewTip) => {
                    outcome.inserted = outcome.inserted.saturating_add(1);
                    outcome.new_tip = true;
                }
                Ok(_) => outcome.inserted = outcome.inserted.saturating_add(1),
                Err(InsertError::Invalid(report)) => outcome.report.extend(report.failures),
                Err(_) => {
                    outcome.full = true;
                    break;
                }
            }
        }
        outcome
    }
}

#[cfg(not(feature = "parallel"))]
fn prechecks(config: &ChainConfig, blocks: &[Block]) -> Vec<Prechecked> {
    blocks.iter().map(|b| precheck(config, b)).collect()
}

#[cfg(feature = "parallel")]
fn prechecks(config: &ChainConfig, blocks: &[Block]) -> Vec<Prechecked> {
    use rayon::prelude::*;
    blocks.par_iter().map(|b| precheck(config, b)).collect()
}

/// Maps a wire decoding failure to the structural code it stands for: what a peer that sent
/// undecodable block bytes is reported with.
#[must_use]
pub fn decode_failure(err: &crate::block::BlockDecodeError) -> Failure {
    use crate::block::BlockDecodeError as E;
    let code = match err {
        E::TooLarge { .. } => Code::SizeExceeded,
        E::MissingField(_) => Code::MissingField,
        E::InvalidType(_) => Code::InvalidType,
        _ => Code::MalformedBlock,
    };
    Failure::new(code, 0, err.to_string())
}

/// Decodes block bytes, or reports why not as a one-failure [`ValidationReport`].
///
/// # Errors
/// A report with one structural failure ([`decode_failure`]).
pub fn decode_block(bytes: &[u8]) -> Result<Block, ValidationReport> {
    Block::from_cbor(bytes).map_err(|e| ValidationReport {
        failures: vec![decode_failure(&e)],
    })
}

/// A one-failure report for a peer that broke the sync protocol (e.g. sent blocks at heights
/// it was not asked for): [`Code::MalformedBlock`].
#[must_use]
pub(crate) fn protocol_violation(why: &str) -> ValidationReport {
    ValidationReport {
        failures: vec![Failure::new(
            Code::MalformedBlock,
            0,
            format!("protocol violation: {why}"),
        )],
    }
}
