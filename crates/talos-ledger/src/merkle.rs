//! The RFC 9162 Merkle log: hashing, the compact [`Frontier`], a [`Store`] of subtree hashes,
//! the [`MerkleLog`] with inclusion and consistency proofs, and their verification.
//!
//! Hashing is exactly RFC 9162 §2.1 (SHA-256, leaf prefix `0x00`, node prefix `0x01`, the empty
//! tree hashes to SHA-256 of nothing; left-balanced, an odd node is promoted, never duplicated).
//! Leaves are numbered from 0.
//!
//! Appending costs amortised O(1) hashing: the log keeps the [`Frontier`] (the roots of its
//! complete subtrees) and writes each completed subtree hash to the [`Store`] at
//! `(level, index)`, level 0 being the leaf hashes. Roots at earlier sizes and proofs read
//! O(log n) stored hashes, so a log bigger than memory works with a disk-backed store.
//!
//! ```
//! use talos_ledger::merkle::{MerkleLog, leaf_hash, verify_consistency, verify_inclusion};
//!
//! let mut log = MerkleLog::new();
//! for entry in [&b"a"[..], b"b", b"c", b"d", b"e"] {
//!     log.append(entry)?;
//! }
//! let proof = log.inclusion_proof(2, 5)?;
//! verify_inclusion(2, 5, &leaf_hash(b"c"), &proof, &log.root())?;
//!
//! let old_root = log.root_at(3)?;
//! let proof = log.consistency_proof(3, 5)?;
//! verify_consistency(3, 5, &old_root, &log.root(), &proof)?;
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use core::fmt;

use talos_crypto::hash::Sha256;

/// A SHA-256 hash: a leaf hash, a subtree hash or a tree root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The most hashes a proof may hold (a tree of `u64` leaves is at most 64 levels deep; a
/// consistency proof may hold one more).
pub const MAX_PROOF_LEN: usize = 65;

/// The leaf hash of `data`: `SHA-256(0x00 ‖ data)`.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x00]);
    h.update(data);
    h.finalize()
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    talos_crypto::hash::sha256(&buf)
}

/// Why a proof, a size or a frontier was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The sizes are out of order or zero where not allowed.
    #[error("invalid tree sizes {size1} and {size2}")]
    InvalidSizes {
        /// The older size.
        size1: u64,
        /// The newer size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes for the sizes.
    #[error("wrong proof length")]
    WrongLength,
    /// The proof does not lead to the expected root.
    #[error("root mismatch: the proof does not verify")]
    RootMismatch,
    /// A frontier's hash count does not match its size.
    #[error("frontier of size {size} needs {expected} hashes, got {got}")]
    BadFrontier {
        /// The size.
        size: u64,
        /// The number of hashes it needs (one per set bit).
        expected: usize,
        /// The number given.
        got: usize,
    },
}

/// The compact frontier of a log: the roots of its complete subtrees, largest (leftmost) first,
/// one per set bit of the size (≤ 64 hashes). Enough to append and to compute the root, without
/// the rest of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash (amortised O(1) hashing).
    ///
    /// At `u64::MAX` leaves the frontier is full and the call does nothing; [`MerkleLog`] reports
    /// that as [`LogError::Full`].
    pub fn push(&mut self, leaf_hash: Hash) {
        let prepared = self.prepare(leaf_hash, |_, _, _| Ok::<(), core::convert::Infallible>(()));
        if let Ok(Some(step)) = prepared {
            self.commit(step);
        }
    }

    /// Computes the subtrees that appending `leaf` completes, reporting each `(level, index,
    /// hash)` (the leaf itself first), without changing the frontier. `Ok(None)` when full.
    fn prepare<E>(
        &self,
        leaf: Hash,
        mut completed: impl FnMut(u8, u64, &Hash) -> Result<(), E>,
    ) -> Result<Option<PushStep>, E> {
        if self.size == u64::MAX {
            return Ok(None);
        }
        let mut hash = leaf;
        let mut level: u8 = 0;
        let mut index = self.size;
        let mut keep = self.hashes.len();
        completed(level, index, &hash)?;
        // Each trailing one bit of the old size is a complete subtree that now pairs up.
        while index & 1 == 1 {
            let Some(left) = keep.checked_sub(1).and_then(|k| self.hashes.get(k)) else {
                break;
            };
            keep -= 1;
            hash = node_hash(left, &hash);
            level = level.saturating_add(1);
            index >>= 1;
            completed(level, index, &hash)?;
        }
        Ok(Some(PushStep { keep, hash }))
    }

    /// Applies a prepared append.
    fn commit(&mut self, step: PushStep) {
        self.hashes.truncate(step.keep);
        self.hashes.push(step.hash);
        self.size = self.size.saturating_add(1);
    }

    /// The RFC 9162 root (MTH) of the `size` leaves.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return EMPTY_ROOT;
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The complete-subtree roots, largest first: with [`size`](Self::size) they rebuild the
    /// frontier through [`from_parts`](Self::from_parts).
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Rebuilds a frontier from a size and its complete-subtree roots, largest first.
    ///
    /// # Errors
    /// [`ProofError::BadFrontier`] if the number of hashes is not the number of set bits of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(ProofError::BadFrontier {
                size,
                expected,
                got: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }
}

/// A prepared append: how many frontier hashes stay, and the new last one.
#[derive(Clone, Copy, Debug)]
struct PushStep {
    keep: usize,
    hash: Hash,
}

/// Storage of complete-subtree hashes by `(level, index)`: the subtree of leaves
/// `[index · 2^level, (index + 1) · 2^level)`. Level 0 holds the leaf hashes.
///
/// [`MerkleLog`] writes each hash once, in increasing index order per level, and then the new
/// size; a write may be repeated with the same value after an error. Ships [`MemoryStore`];
/// the node provides a persistent one.
pub trait Store {
    /// The storage error.
    type Error: core::error::Error + 'static;

    /// The hash at `(level, index)`, or `None` if it was never stored.
    ///
    /// # Errors
    /// Storage failure.
    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, Self::Error>;

    /// Stores the hash at `(level, index)`.
    ///
    /// # Errors
    /// Storage failure.
    fn put(&mut self, level: u8, index: u64, hash: Hash) -> Result<(), Self::Error>;

    /// The committed log size (0 for a new store).
    ///
    /// # Errors
    /// Storage failure.
    fn size(&self) -> Result<u64, Self::Error>;

    /// Records the committed log size, after the hashes it needs were stored.
    ///
    /// # Errors
    /// Storage failure.
    fn set_size(&mut self, size: u64) -> Result<(), Self::Error>;
}

/// An error of [`MemoryStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryStoreError {
    /// A write would leave a gap (the in-memory store is a flat vector per level).
    #[error("memory store: write at level {level} index {index} leaves a gap")]
    Gap {
        /// The level.
        level: u8,
        /// The index.
        index: u64,
    },
    /// The index does not fit in memory.
    #[error("memory store: index too large")]
    TooLarge,
}

/// The in-memory [`Store`]: one flat vector of hashes per level (about 2 × 32 bytes per leaf).
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    levels: Vec<Vec<Hash>>,
    size: u64,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    type Error = MemoryStoreError;

    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, Self::Error> {
        let Ok(i) = usize::try_from(index) else {
            return Ok(None);
        };
        Ok(self
            .levels
            .get(usize::from(level))
            .and_then(|l| l.get(i))
            .copied())
    }

    fn put(&mut self, level: u8, index: u64, hash: Hash) -> Result<(), Self::Error> {
        let i = usize::try_from(index).map_err(|_| MemoryStoreError::TooLarge)?;
        let lvl = usize::from(level);
        if self.levels.len() <= lvl {
            if lvl > 64 {
                return Err(MemoryStoreError::TooLarge);
            }
            self.levels.resize_with(lvl + 1, Vec::new);
        }
        let Some(row) = self.levels.get_mut(lvl) else {
            return Err(MemoryStoreError::TooLarge);
        };
        match i.cmp(&row.len()) {
            core::cmp::Ordering::Less => {
                if let Some(slot) = row.get_mut(i) {
                    *slot = hash;
                }
            }
            core::cmp::Ordering::Equal => row.push(hash),
            core::cmp::Ordering::Greater => return Err(MemoryStoreError::Gap { level, index }),
        }
        Ok(())
    }

    fn size(&self) -> Result<u64, Self::Error> {
        Ok(self.size)
    }

    fn set_size(&mut self, size: u64) -> Result<(), Self::Error> {
        self.size = size;
        Ok(())
    }
}

/// An error of [`MerkleLog`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError<E: core::error::Error + 'static> {
    /// The store failed.
    #[error("merkle store: {0}")]
    Store(#[source] E),
    /// A hash the log needs is missing from the store (a corrupt or truncated store).
    #[error("merkle store is missing the hash at level {level} index {index}")]
    Missing {
        /// The level.
        level: u8,
        /// The index.
        index: u64,
    },
    /// A requested size or index is beyond the log, or out of order.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The log holds `u64::MAX` leaves.
    #[error("merkle log is full")]
    Full,
}

/// An append-only RFC 9162 Merkle log over a [`Store`].
///
/// Getters: `size`, `root`, `frontier`, `store`. Commands: `append`, `append_leaf_hash`.
/// Queries reading the store: `root_at`, `inclusion_proof`, `consistency_proof`.
pub struct MerkleLog<S: Store = MemoryStore> {
    store: S,
    frontier: Frontier,
}

impl<S: Store + fmt::Debug> fmt::Debug for MerkleLog<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerkleLog")
            .field("size", &self.frontier.size)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Default for MerkleLog<MemoryStore> {
    fn default() -> Self {
        Self::new()
    }
}

impl MerkleLog<MemoryStore> {
    /// An empty log in memory.
    #[must_use]
    pub fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            frontier: Frontier::new(),
        }
    }
}

/// The largest power of two strictly below `n` (`n ≥ 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

impl<S: Store> MerkleLog<S> {
    /// Opens a log over `store`, rebuilding the frontier from the stored size and O(log n)
    /// stored hashes.
    ///
    /// # Errors
    /// [`LogError::Store`] or [`LogError::Missing`] for a failing or incomplete store.
    pub fn open(store: S) -> Result<Self, LogError<S::Error>> {
        let size = store.size().map_err(LogError::Store)?;
        let mut hashes = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0u8..64).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                hashes.push(get(&store, level, start >> level)?);
                start += width;
            }
        }
        let frontier = Frontier::from_parts(size, hashes)?;
        Ok(Self { store, frontier })
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Consumes the log, returning its store.
    #[must_use]
    pub fn into_store(self) -> S {
        self.store
    }

    /// Appends an entry (hashed as a leaf) and returns its leaf index.
    ///
    /// # Errors
    /// [`LogError::Store`] if the store fails (the log is unchanged), [`LogError::Full`].
    pub fn append(&mut self, data: &[u8]) -> Result<u64, LogError<S::Error>> {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Appends a leaf hash and returns its leaf index.
    ///
    /// # Errors
    /// [`LogError::Store`] if the store fails (the log is unchanged), [`LogError::Full`].
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u64, LogError<S::Error>> {
        let index = self.frontier.size;
        let store = &mut self.store;
        let step = self
            .frontier
            .prepare(leaf, |level, i, h| store.put(level, i, *h))
            .map_err(LogError::Store)?
            .ok_or(LogError::Full)?;
        self.store.set_size(index + 1).map_err(LogError::Store)?;
        self.frontier.commit(step);
        Ok(index)
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.frontier.size
    }

    /// The current root.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The frontier (for snapshots and for blocks that commit to the tree).
    #[must_use]
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The leaf hash at `index`.
    ///
    /// # Errors
    /// [`ProofError::IndexOutOfRange`], or a store failure.
    pub fn leaf_hash_at(&self, index: u64) -> Result<Hash, LogError<S::Error>> {
        if index >= self.size() {
            return Err(ProofError::IndexOutOfRange {
                index,
                size: self.size(),
            }
            .into());
        }
        get(&self.store, 0, index)
    }

    /// The root of the first `size` leaves.
    ///
    /// # Errors
    /// [`ProofError::InvalidSizes`] if `size` exceeds the log, or a store failure.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError<S::Error>> {
        if size > self.size() {
            return Err(ProofError::InvalidSizes {
                size1: size,
                size2: self.size(),
            }
            .into());
        }
        if size == self.size() {
            return Ok(self.root());
        }
        if size == 0 {
            return Ok(EMPTY_ROOT);
        }
        self.range_hash(0, size)
    }

    /// MTH of leaves `[start, end)`, `end > start`, where `start` is a multiple of a power of
    /// two ≥ `end − start` and `end ≤ size`: the fold of O(log n) stored complete subtrees.
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, LogError<S::Error>> {
        let n = end - start;
        // Fold from the smallest (rightmost) complete subtree leftwards.
        let mut acc: Option<Hash> = None;
        for level in 0u8..64 {
            let width = 1u64 << level;
            if n & width == 0 {
                continue;
            }
            // The subtree for this bit starts after the larger ones (the higher bits).
            let higher = n & !((width << 1).wrapping_sub(1));
            let part = get(&self.store, level, (start + higher) >> level)?;
            acc = Some(match acc {
                None => part,
                Some(right) => node_hash(&part, &right),
            });
        }
        Ok(acc.unwrap_or(EMPTY_ROOT))
    }

    /// The inclusion proof (audit path) of leaf `index` in the tree of the first `size` leaves,
    /// from the leaf upwards (RFC 9162 §2.1.3.1).
    ///
    /// # Errors
    /// [`ProofError::IndexOutOfRange`], [`ProofError::InvalidSizes`] if `size` exceeds the log,
    /// or a store failure.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError<S::Error>> {
        if size > self.size() {
            return Err(ProofError::InvalidSizes {
                size1: size,
                size2: self.size(),
            }
            .into());
        }
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size }.into());
        }
        let mut path = Vec::with_capacity(64);
        let (mut start, mut end) = (0u64, size);
        while end - start > 1 {
            let k = split_point(end - start);
            if index < start + k {
                path.push(self.range_hash(start + k, end)?);
                end = start + k;
            } else {
                path.push(self.range_hash(start, start + k)?);
                start += k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// The consistency proof between the first `size1` and the first `size2` leaves
    /// (RFC 9162 §2.1.4.1); empty when the sizes are equal.
    ///
    /// # Errors
    /// [`ProofError::InvalidSizes`] if `size1` is 0 or above `size2`, or `size2` exceeds the
    /// log; a store failure.
    pub fn consistency_proof(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<Vec<Hash>, LogError<S::Error>> {
        if size1 == 0 || size1 > size2 || size2 > self.size() {
            return Err(ProofError::InvalidSizes { size1, size2 }.into());
        }
        let mut path = Vec::with_capacity(65);
        if size1 == size2 {
            return Ok(path);
        }
        let (mut start, mut end, mut m, mut complete) = (0u64, size2, size1, true);
        loop {
            let len = end - start;
            if m == len {
                if !complete {
                    path.push(self.range_hash(start, end)?);
                }
                break;
            }
            let k = split_point(len);
            if m <= k {
                path.push(self.range_hash(start + k, end)?);
                end = start + k;
            } else {
                path.push(self.range_hash(start, start + k)?);
                start += k;
                m -= k;
                complete = false;
            }
        }
        path.reverse();
        Ok(path)
    }
}

fn get<S: Store>(store: &S, level: u8, index: u64) -> Result<Hash, LogError<S::Error>> {
    store
        .get(level, index)
        .map_err(LogError::Store)?
        .ok_or(LogError::Missing { level, index })
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2, 0-based `index`).
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] if `index ≥ size`; [`ProofError::WrongLength`] if the path is
/// too long or too short; [`ProofError::RootMismatch`] if it leads to another root.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if !ct_eq(&r, root) {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between trees of `size1` and `size2` leaves (RFC 9162
/// §2.1.4.2). `size1 == 0` is always rejected; equal sizes need an empty proof and equal roots.
///
/// # Errors
/// [`ProofError::InvalidSizes`], [`ProofError::WrongLength`] or [`ProofError::RootMismatch`].
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::InvalidSizes { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if !ct_eq(root1, root2) {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::WrongLength);
    };
    // When size1 is a power of two, root1 is the implicit first element of the path.
    let (start, rest): (&Hash, &[Hash]) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (first, rest)
    };
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if !ct_eq(&fr, root1) || !ct_eq(&sr, root2) {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Equality of two hashes without early exit (roots are public, but this costs nothing).
fn ct_eq(a: &Hash, b: &Hash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl From<&ProofError> for talos_crypto::ErrorCode {
    /// A proof that does not lead to the root is a cryptographic failure; anything else is
    /// malformed input.
    fn from(err: &ProofError) -> Self {
        match err {
            ProofError::RootMismatch => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}
