//! Persistent state in one redb database: the identity key file, prekeys, ratchet session
//! snapshots, message history, the outgoing queue, the ledger and revocations.
//!
//! # Files and the lock
//!
//! [`Store::open`] uses `<dir>/talos.redb` ([`DB_FILE`]) and holds an exclusive lock on
//! `<dir>/talos.lock` ([`LOCK_FILE`]) for as long as the store, or a [`Ledger`] made from it,
//! lives. A second open of the same directory, from this process or another, fails with
//! [`StoreError::Locked`]: the running node owns the directory, and a second `talos` command
//! talks to it over its control socket. [`Store::in_memory`] keeps everything in memory (tests,
//! embedding).
//!
//! # Durability: commit, then acknowledge
//!
//! Every method that writes commits its redb transaction with `Durability::Immediate` (fsync)
//! before it returns `Ok`. So the rule for callers is: **acknowledge only after the call that
//! records the effect has returned `Ok`**. For an incoming message, write the new ratchet
//! snapshot and the history entry together with one [`Batch`] (or [`Store::put_session`] then
//! [`Store::put_message`]), and send the delivery receipt after [`Store::commit`] returns. A
//! [`Batch`] is one transaction: all of it is on disk, or none of it.
//!
//! # What is in clear
//!
//! The store encrypts nothing itself. The identity key file is encrypted when it was made with
//! a passphrase (see [`crate::identity`]); the prekey store (every prekey secret and the
//! identity seed) is stored as the caller gives it, which should be
//! [`Identity::seal_prekeys`](crate::identity::Identity::seal_prekeys) output, sealed under a
//! key derived from the identity. Everything else is in clear on disk: ratchet session
//! snapshots (their chain keys decrypt past and future messages of the session until the next
//! ratchet step; seal them with [`Identity::seal`](crate::identity::Identity::seal) if the
//! disk is not trusted), message bodies, peer DIDs, timestamps, the queue, the ledger and
//! revocations. Protect the data directory with file permissions.
//!
//! # The ledger
//!
//! [`LedgerStore`] implements [`talos_ledger::merkle::Store`] over redb; [`Ledger`] is a
//! [`MerkleLog`] over it that also keeps the entries by index. One append is one transaction:
//! the entry, the subtree hashes it completes and the new size are committed together when the
//! log calls `set_size`, so after a crash the log opens at some committed size with every entry
//! and hash up to it.

use core::cell::Cell;
use core::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use talos_crypto::{KeyFile, Timestamp, Zeroizing};
use talos_ledger::merkle::{self, Hash, LogError, MerkleLog};
use talos_wire::MessageId;

/// The database file in the data directory.
pub const DB_FILE: &str = "talos.redb";
/// The lock file in the data directory.
pub const LOCK_FILE: &str = "talos.lock";
/// The longest peer DID stored, in bytes ([`talos_did::did::MAX_DID_LEN`]).
pub const MAX_PEER_LEN: usize = talos_did::did::MAX_DID_LEN;

/// The format version of the records this module encodes (history and queue rows).
const RECORD_FORMAT: u8 = 1;

const IDENTITY: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("identity");
const PREKEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("prekeys");
const SESSIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("sessions");
const MESSAGES: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("messages");
const MESSAGES_BY_TIME: TableDefinition<'_, (u64, [u8; 16]), ()> =
    TableDefinition::new("messages_by_time");
const QUEUE: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("queue");
const QUEUE_BY_DUE: TableDefinition<'_, (u64, [u8; 16]), ()> = TableDefinition::new("queue_by_due");
const MERKLE: TableDefinition<'_, (u8, u64), [u8; 32]> = TableDefinition::new("ledger_hashes");
const LEDGER_ENTRIES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("ledger_entries");
const LEDGER_META: TableDefinition<'_, &str, u64> = TableDefinition::new("ledger_meta");
const REVOCATIONS: TableDefinition<'_, [u8; 32], &[u8]> = TableDefinition::new("revocations");
/// Files being received (and received): stream id → sender, `STREAM_START`, final path.
const STREAMS: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("file_streams");
/// The chunks of a file being received that are written (and fsynced) to its partial file:
/// (stream id, sequence) → the chunk's hash.
const STREAM_CHUNKS: TableDefinition<'_, ([u8; 16], u32), [u8; 32]> =
    TableDefinition::new("file_chunks");

const KEY_FILE_ROW: &str = "key_file";
const PREKEYS_ROW: &str = "sealed";
const SIZE_ROW: &str = "size";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another store (this process or another `talos` process) holds the data directory. Talk
    /// to the running node instead, or stop it.
    #[error("data directory {} is in use by another talos process", .0.display())]
    Locked(PathBuf),
    /// The data directory or its lock file could not be used. Check the path and permissions.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// redb failed (I/O, corruption, or a file of another redb version).
    #[error("database: {0}")]
    Database(#[from] redb::Error),
    /// A row does not decode: the database was altered or written by an incompatible version.
    #[error("corrupt {table} record: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// A peer DID that is empty or longer than [`MAX_PEER_LEN`].
    #[error("invalid peer: {len} bytes, limit {max}")]
    InvalidPeer {
        /// The length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value longer than the record format holds (4 GiB).
    #[error("value too large to store: {0} bytes")]
    TooLarge(usize),
    /// [`Store::create_identity`] found an identity already: this data directory belongs to
    /// a node. Use another directory, or remove the old identity deliberately.
    #[error("this data directory already has an identity")]
    IdentityExists,
    /// The stored identity key file does not parse. Restore it from a backup.
    #[error("stored identity key file: {0}")]
    KeyFile(talos_crypto::key_file::KeyFileError),
    /// The ledger on disk is not at the size this log expected: two logs over one store.
    /// Open a single [`Ledger`] per store.
    #[error("ledger changed underneath: expected size {expected}, found {found}")]
    LedgerConflict {
        /// The size the log was at.
        expected: u64,
        /// The size on disk.
        found: u64,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(err: $t) -> Self {
                Self::Database(redb::Error::from(err))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// Sent by this node.
    Outgoing,
    /// Received from the peer.
    Incoming,
}

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Outgoing, not yet acknowledged by the peer (possibly queued).
    Pending,
    /// Outgoing, and the peer's signed receipt arrived.
    Delivered,
    /// Incoming, stored (and acknowledged).
    Received,
    /// Outgoing, given up on (deadline passed or refused).
    Failed,
}

impl Direction {
    fn to_byte(self) -> u8 {
        match self {
            Self::Outgoing => 0,
            Self::Incoming => 1,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Outgoing),
            1 => Some(Self::Incoming),
            _ => None,
        }
    }
}

impl Status {
    fn to_byte(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Delivered => 1,
            Self::Received => 2,
            Self::Failed => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Pending),
            1 => Some(Self::Delivered),
            2 => Some(Self::Received),
            3 => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One message in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The message id (unique; the history's key).
    pub id: MessageId,
    /// The peer's DID.
    pub peer: String,
    /// Which way it went.
    pub direction: Direction,
    /// When it was sent or received; the history's order.
    pub timestamp: Timestamp,
    /// Where it is.
    pub status: Status,
    /// The message body (the plaintext the application sent or received).
    pub body: Vec<u8>,
}

/// A message waiting in the outgoing queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// The message id (as in the history).
    pub id: MessageId,
    /// The peer's DID.
    pub peer: String,
    /// When to try next; [`Store::due`] returns it from then on.
    pub next_attempt: Timestamp,
    /// When to give up.
    pub deadline: Timestamp,
    /// How many attempts were made ([`Store::reschedule`] counts them).
    pub attempts: u32,
    /// What to send (the caller's encoding, e.g. the plaintext to encrypt when the peer is
    /// reachable).
    pub payload: Vec<u8>,
}

impl Queued {
    /// Whether the deadline has passed at `now`.
    #[must_use]
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.deadline
    }
}

/// A stored revocation: the revoked capability's hash and the revocation's bytes.
pub type Revoked = ([u8; 32], Vec<u8>);

/// Writes committed together, in one redb transaction, by [`Store::commit`]: all or nothing.
///
/// ```
/// # use talos_node::store::{Batch, Direction, HistoryEntry, Status, Store};
/// # use talos_crypto::{ChaCha20Rng, SeedableRng, Timestamp};
/// # let store = Store::in_memory()?;
/// # let now = Timestamp::from_millis(1_700_000_000_000);
/// # let id = talos_wire::MessageId::generate(now, &mut ChaCha20Rng::from_seed([0; 32]));
/// let received = HistoryEntry {
///     id, peer: "did:key:z6Mk…".into(), direction: Direction::Incoming,
///     timestamp: now, status: Status::Received, body: b"hello".to_vec(),
/// };
/// let snapshot: &[u8] = b"ratchet snapshot bytes";
/// store.commit(Batch::new().put_session("did:key:z6Mk…", snapshot).put_message(received))?;
/// // Only now send the delivery receipt.
/// # Ok::<(), talos_node::store::StoreError>(())
/// ```
#[derive(Default)]
pub struct Batch {
    ops: Vec<Op>,
}

enum Op {
    PutSession(String, Zeroizing<Vec<u8>>),
    RemoveSession(String),
    PutMessage(HistoryEntry),
    SetStatus(MessageId, Status),
    Enqueue(Queued),
    RemoveQueued(MessageId),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Self::PutSession(..) => "put_session",
            Self::RemoveSession(..) => "remove_session",
            Self::PutMessage(..) => "put_message",
            Self::SetStatus(..) => "set_status",
            Self::Enqueue(..) => "enqueue",
            Self::RemoveQueued(..) => "remove_queued",
        }
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.ops.iter().map(Op::name))
            .finish()
    }
}

impl Batch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `snapshot` (the ratchet crate's session snapshot bytes) as the session with
    /// `peer`, replacing the previous one.
    #[must_use]
    pub fn put_session(mut self, peer: &str, snapshot: &[u8]) -> Self {
        self.ops.push(Op::PutSession(
            peer.to_owned(),
            Zeroizing::new(snapshot.to_vec()),
        ));
        self
    }

    /// Removes the session with `peer`.
    #[must_use]
    pub fn remove_session(mut self, peer: &str) -> Self {
        self.ops.push(Op::RemoveSession(peer.to_owned()));
        self
    }

    /// Stores a history entry, replacing one with the same id.
    #[must_use]
    pub fn put_message(mut self, entry: HistoryEntry) -> Self {
        self.ops.push(Op::PutMessage(entry));
        self
    }

    /// Sets the status of a stored message (nothing if it is not stored).
    #[must_use]
    pub fn set_status(mut self, id: MessageId, status: Status) -> Self {
        self.ops.push(Op::SetStatus(id, status));
        self
    }

    /// Queues a message, replacing one with the same id.
    #[must_use]
    pub fn enqueue(mut self, queued: Queued) -> Self {
        self.ops.push(Op::Enqueue(queued));
        self
    }

    /// Removes a message from the queue (nothing if it is not queued).
    #[must_use]
    pub fn remove_queued(mut self, id: MessageId) -> Self {
        self.ops.push(Op::RemoveQueued(id));
        self
    }

    /// Whether the batch has no writes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// The database and the lock, shared by the store and its ledger.
struct Inner {
    db: Database,
    /// Held (locked) for the lifetime of every handle; closing it releases the lock.
    _lock: Option<File>,
}

/// The node's persistent state. See the [module docs](self) for the lock, durability and what
/// is in clear.
///
/// Identity: `put_identity`, `identity`, `put_prekeys`, `prekeys`. Sessions: `put_session`,
/// `session`, `remove_session`, `sessions`. History: `put_message`, `set_status`, `message`,
/// `history`. Queue: `enqueue`, `due`, `reschedule`, `remove_queued`, `queued`. Several writes
/// in one transaction: `commit`. Ledger: `ledger`. Revocations: `put_revocation`, `revocation`,
/// `revocations`.
pub struct Store {
    inner: Arc<Inner>,
    dir: Option<PathBuf>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in data directory `dir`, taking its lock.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another store holds the directory; [`StoreError::Io`] if the
    /// directory or lock file cannot be made; [`StoreError::Database`] if the database cannot
    /// be opened (corrupt, or another redb format).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked(dir.to_path_buf())),
            Err(TryLockError::Error(err)) => return Err(StoreError::Io(err)),
        }
        let db = match Database::create(dir.join(DB_FILE)) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Locked(dir.to_path_buf()));
            }
            Err(err) => return Err(err.into()),
        };
        let store = Self {
            inner: Arc::new(Inner {
                db,
                _lock: Some(lock),
            }),
            dir: Some(dir.to_path_buf()),
        };
        store.create_tables()?;
        Ok(store)
    }

    /// A store in memory, gone when dropped.
    ///
    /// # Errors
    /// [`StoreError::Database`] only if redb fails to set up its in-memory backend.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        let store = Self {
            inner: Arc::new(Inner { db, _lock: None }),
            dir: None,
        };
        store.create_tables()?;
        Ok(store)
    }

    /// The data directory (`None` in memory).
    #[must_use]
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(IDENTITY)?;
            txn.open_table(PREKEYS)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(MESSAGES)?;
            txn.open_table(MESSAGES_BY_TIME)?;
            txn.open_table(QUEUE)?;
            txn.open_table(QUEUE_BY_DUE)?;
            txn.open_table(MERKLE)?;
            txn.open_table(LEDGER_ENTRIES)?;
            txn.open_table(LEDGER_META)?;
            txn.open_table(REVOCATIONS)?;
            txn.open_table(STREAMS)?;
            txn.open_table(STREAM_CHUNKS)?;
            Ok(())
        })
    }

    /// Runs `f` in a write transaction and commits it (durably) if `f` succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.inner.db.begin_write()?;
        let out = f(&txn)?;
        txn.commit()?;
        Ok(out)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.inner.db.begin_read()?;
        f(&txn)
    }

    // --- identity ---

    /// Stores the identity key file of a new node (`talos init`), unless there is one already.
    ///
    /// # Errors
    /// [`StoreError::IdentityExists`] (nothing is written), [`StoreError::Database`].
    pub fn create_identity(&self, file: &KeyFile) -> Result<(), StoreError> {
        let bytes = Zeroizing::new(file.to_bytes());
        self.write(|txn| {
            let mut table = txn.open_table(IDENTITY)?;
            if table.get(KEY_FILE_ROW)?.is_some() {
                return Err(StoreError::IdentityExists);
            }
            table.insert(KEY_FILE_ROW, bytes.as_slice())?;
            Ok(())
        })
    }

    /// Stores the identity key file (the one row), replacing any previous one (e.g. after a
    /// passphrase change); [`Store::create_identity`] for a new node.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn put_identity(&self, file: &KeyFile) -> Result<(), StoreError> {
        let bytes = Zeroizing::new(file.to_bytes());
        self.write(|txn| {
            txn.open_table(IDENTITY)?
                .insert(KEY_FILE_ROW, bytes.as_slice())?;
            Ok(())
        })
    }

    /// The stored identity key file, if any (parsed; decrypt it with
    /// [`Identity::from_key_file`](crate::identity::Identity::from_key_file)).
    ///
    /// # Errors
    /// [`StoreError::Database`]; [`StoreError::KeyFile`] for a stored file that does not parse.
    pub fn identity(&self) -> Result<Option<KeyFile>, StoreError> {
        let bytes = self.read(|txn| {
            let table = txn.open_table(IDENTITY)?;
            let row = table.get(KEY_FILE_ROW)?;
            Ok(row.map(|g| Zeroizing::new(g.value().to_vec())))
        })?;
        bytes
            .map(|b| KeyFile::from_bytes(&b).map_err(StoreError::KeyFile))
            .transpose()
    }

    /// Stores the prekey store, as sealed by
    /// [`Identity::seal_prekeys`](crate::identity::Identity::seal_prekeys) (stored as given:
    /// pass sealed bytes, never the clear snapshot).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn put_prekeys(&self, sealed: &[u8]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(PREKEYS)?.insert(PREKEYS_ROW, sealed)?;
            Ok(())
        })
    }

    /// The sealed prekey store, if any.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn prekeys(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(PREKEYS)?;
            let row = table.get(PREKEYS_ROW)?;
            Ok(row.map(|g| g.value().to_vec()))
        })
    }

    // --- batches ---

    /// Commits every write of `batch` in one durable transaction. When it returns `Ok`, all of
    /// it is on disk: only then acknowledge what it records.
    ///
    /// # Errors
    /// [`StoreError::InvalidPeer`], [`StoreError::TooLarge`] (nothing is written), or
    /// [`StoreError::Database`] (nothing is written).
    pub fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(|txn| {
            let mut tables = Tables::new(txn);
            for op in &batch.ops {
                apply(&mut tables, op)?;
            }
            Ok(())
        })
    }

    // --- sessions ---

    /// Stores the ratchet session snapshot for `peer` and commits it. Call it after every
    /// encryption and decryption that changed the session, and acknowledge a message only after
    /// it returns `Ok` (or use a [`Batch`] with the history entry).
    ///
    /// # Errors
    /// As [`Store::commit`].
    pub fn put_session(&self, peer: &str, snapshot: &[u8]) -> Result<(), StoreError> {
        self.commit(Batch::new().put_session(peer, snapshot))
    }

    /// The session snapshot for `peer`, if any.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn session(&self, peer: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(SESSIONS)?;
            let row = table.get(peer)?;
            Ok(row.map(|g| Zeroizing::new(g.value().to_vec())))
        })
    }

    /// Removes the session with `peer`.
    ///
    /// # Errors
    /// As [`Store::commit`].
    pub fn remove_session(&self, peer: &str) -> Result<(), StoreError> {
        self.commit(Batch::new().remove_session(peer))
    }

    /// The peers with a stored session, in DID order.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn sessions(&self) -> Result<Vec<String>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(SESSIONS)?;
            let mut peers = Vec::new();
            for row in table.iter()? {
                let (peer, _) = row?;
                peers.push(peer.value().to_owned());
            }
            Ok(peers)
        })
    }

    // --- history ---

    /// Stores a history entry (replacing one with the same id) and commits it.
    ///
    /// # Errors
    /// As [`Store::commit`].
    pub fn put_message(&self, entry: HistoryEntry) -> Result<(), StoreError> {
        self.commit(Batch::new().put_message(entry))
    }

    /// Sets the status of a stored message; `false` if there is none with this id.
    ///
    /// # Errors
    /// As [`Store::commit`], and [`StoreError::Corrupt`].
    pub fn set_status(&self, id: MessageId, status: Status) -> Result<bool, StoreError> {
        self.write(|txn| set_status(&mut Tables::new(txn), id, status))
    }

    /// The message with this id, if stored.
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::Corrupt`].
    pub fn message(&self, id: MessageId) -> Result<Option<HistoryEntry>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(MESSAGES)?;
            let row = table.get(id.as_bytes())?;
            row.map(|g| decode_message(id, g.value())).transpose()
        })
    }

    /// The history, oldest first (by timestamp, then id), of one peer or of all.
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::Corrupt`].
    pub fn history(&self, peer: Option<&str>) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read(|txn| {
            let index = txn.open_table(MESSAGES_BY_TIME)?;
            let messages = txn.open_table(MESSAGES)?;
            let mut out = Vec::new();
            for row in index.iter()? {
                let (_, id_bytes) = row?.0.value();
                let id = MessageId::from_bytes(id_bytes).map_err(|_| StoreError::Corrupt {
                    table: "history",
                    what: "bad message id",
                })?;
                let Some(value) = messages.get(id_bytes)? else {
                    return Err(StoreError::Corrupt {
                        table: "history",
                        what: "index without message",
                    });
                };
                let entry = decode_message(id, value.value())?;
                if peer.is_none_or(|p| p == entry.peer) {
                    out.push(entry);
                }
            }
            Ok(out)
        })
    }

    // --- queue ---

    /// Queues a message (replacing one with the same id) and commits it.
    ///
    /// # Errors
    /// As [`Store::commit`].
    pub fn enqueue(&self, queued: Queued) -> Result<(), StoreError> {
        self.commit(Batch::new().enqueue(queued))
    }

    /// The queued messages whose next attempt is at or before `now`, earliest first (expired
    /// ones included: check [`Queued::is_expired`]).
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::Corrupt`].
    pub fn due(&self, now: Timestamp) -> Result<Vec<Queued>, StoreError> {
        self.read(|txn| {
            let index = txn.open_table(QUEUE_BY_DUE)?;
            let queue = txn.open_table(QUEUE)?;
            let mut out = Vec::new();
            for row in index.range(..=(now.as_millis(), [0xff; 16]))? {
                let (_, id_bytes) = row?.0.value();
                out.push(read_queued(&queue, id_bytes)?);
            }
            Ok(out)
        })
    }

    /// Every queued message, earliest next attempt first.
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::Corrupt`].
    pub fn queued(&self) -> Result<Vec<Queued>, StoreError> {
        self.due(Timestamp::from_millis(u64::MAX))
    }

    /// Moves a queued message's next attempt to `next_attempt` and counts an attempt;
    /// `false` if it is not queued.
    ///
    /// # Errors
    /// As [`Store::commit`], and [`StoreError::Corrupt`].
    pub fn reschedule(&self, id: MessageId, next_attempt: Timestamp) -> Result<bool, StoreError> {
        self.write(|txn| {
            let found = {
                let queue = txn.open_table(QUEUE)?;
                let row = queue.get(id.as_bytes())?;
                row.map(|g| decode_queued(id, g.value())).transpose()?
            };
            let Some(mut queued) = found else {
                return Ok(false);
            };
            queued.next_attempt = next_attempt;
            queued.attempts = queued.attempts.saturating_add(1);
            apply(&mut Tables::new(txn), &Op::Enqueue(queued))?;
            Ok(true)
        })
    }

    /// Removes a message from the queue (delivered, or given up); `false` if it was not queued.
    ///
    /// # Errors
    /// As [`Store::commit`], and [`StoreError::Corrupt`].
    pub fn remove_queued(&self, id: MessageId) -> Result<bool, StoreError> {
        self.write(|txn| remove_queued(&mut Tables::new(txn), id))
    }

    // --- revocations ---

    /// Stores a revocation (its bytes, e.g. talos-acl's JSON) under the revoked capability's
    /// hash, and commits it.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn put_revocation(
        &self,
        capability: &[u8; 32],
        revocation: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(REVOCATIONS)?
                .insert(capability, revocation)?;
            Ok(())
        })
    }

    /// The revocation of a capability, if stored.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn revocation(&self, capability: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(REVOCATIONS)?;
            let row = table.get(capability)?;
            Ok(row.map(|g| g.value().to_vec()))
        })
    }

    /// Every stored revocation, by capability hash.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn revocations(&self) -> Result<Vec<Revoked>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(REVOCATIONS)?;
            let mut out = Vec::new();
            for row in table.iter()? {
                let (k, v) = row?;
                out.push((k.value(), v.value().to_vec()));
            }
            Ok(out)
        })
    }

    // --- ledger ---

    /// The ledger: a [`MerkleLog`] over this store, opened at its committed size. Keep one per
    /// store (a second one's appends fail with [`StoreError::LedgerConflict`]). It shares the
    /// database and the directory lock: the lock is released when both it and the store are
    /// dropped.
    ///
    /// # Errors
    /// [`LogError::Store`] for a failing database, [`LogError::Missing`] for an incomplete one.
    pub fn ledger(&self) -> Result<Ledger, LogError<StoreError>> {
        let store = LedgerStore {
            inner: Arc::clone(&self.inner),
            pending: Vec::new(),
            staged_entry: Cell::new(None),
        };
        Ok(Ledger {
            log: MerkleLog::open(store)?,
        })
    }
}

/// Why [`Ledger::record`] recorded nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The entry format refuses the body (a field out of range, too large).
    #[error("ledger entry refused: {0}")]
    Entry(#[from] talos_ledger::entry::EntryError),
    /// The log did not append it.
    #[error(transparent)]
    Log(#[from] LogError<StoreError>),
}

impl RecordError {
    /// Whether another ledger over the same store appended meanwhile
    /// ([`StoreError::LedgerConflict`]): reopen the ledger ([`Store::ledger`]) and record again.
    #[must_use]
    pub const fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::Log(LogError::Store(StoreError::LedgerConflict { .. }))
        )
    }
}

/// A file being received, or received, as the store keeps it (see [`crate::files`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredStream {
    /// The stream id (the id of its `STREAM_START`).
    pub id: MessageId,
    /// The sender's DID.
    pub from: String,
    /// The `STREAM_START` in deterministic CBOR.
    pub start: Vec<u8>,
    /// Where the verified file was put; `None` while it is being received.
    pub path: Option<String>,
}

impl Store {
    // --- files being received ---

    /// Records a file being received (replacing a record with the same id) and commits it.
    ///
    /// # Errors
    /// [`StoreError::InvalidPeer`], [`StoreError::TooLarge`], [`StoreError::Database`].
    pub fn put_stream(&self, stream: &StoredStream) -> Result<(), StoreError> {
        check_peer(&stream.from)?;
        let bytes = encode_stream(stream)?;
        self.write(|txn| {
            txn.open_table(STREAMS)?
                .insert(*stream.id.as_bytes(), bytes.as_slice())?;
            Ok(())
        })
    }

    /// The record of stream `id`, if any.
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::Corrupt`].
    pub fn stream(&self, id: MessageId) -> Result<Option<StoredStream>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(STREAMS)?;
            let row = table.get(*id.as_bytes())?;
            row.map(|g| decode_stream(id, g.value())).transpose()
        })
    }

    /// Records that chunk `sequence` of stream `id`, with hash `hash`, is written to the
    /// partial file, and commits it: only then acknowledge the chunk.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn put_stream_chunk(
        &self,
        id: MessageId,
        sequence: u32,
        hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(STREAM_CHUNKS)?
                .insert((*id.as_bytes(), sequence), *hash)?;
            Ok(())
        })
    }

    /// The chunks of stream `id` recorded as written: `(sequence, hash)`, ascending.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn stream_chunks(&self, id: MessageId) -> Result<Vec<(u32, [u8; 32])>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(STREAM_CHUNKS)?;
            let key = *id.as_bytes();
            let mut chunks = Vec::new();
            for row in table.range((key, 0)..=(key, u32::MAX))? {
                let (k, hash) = row?;
                chunks.push((k.value().1, hash.value()));
            }
            Ok(chunks)
        })
    }

    /// Marks stream `id` as received into `path` and forgets its chunks, in one commit.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the stream is not recorded; [`StoreError::Database`].
    pub fn finish_stream(&self, id: MessageId, path: &str) -> Result<(), StoreError> {
        let mut stream = self.stream(id)?.ok_or(StoreError::Corrupt {
            table: "file_streams",
            what: "no such stream",
        })?;
        stream.path = Some(path.to_owned());
        let bytes = encode_stream(&stream)?;
        self.write(|txn| {
            txn.open_table(STREAMS)?
                .insert(*id.as_bytes(), bytes.as_slice())?;
            remove_stream_chunks(txn, id)
        })
    }

    /// Forgets stream `id` and its chunks (a file refused or given up).
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn remove_stream(&self, id: MessageId) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(STREAMS)?.remove(*id.as_bytes())?;
            remove_stream_chunks(txn, id)
        })
    }
}

fn remove_stream_chunks(txn: &WriteTransaction, id: MessageId) -> Result<(), StoreError> {
    let mut table = txn.open_table(STREAM_CHUNKS)?;
    let key = *id.as_bytes();
    // Plain range and remove (see REFERENCE.md §8 on redb's riskier APIs).
    let mut sequences = Vec::new();
    for row in table.range((key, 0)..=(key, u32::MAX))? {
        sequences.push(row?.0.value().1);
    }
    for sequence in sequences {
        table.remove((key, sequence))?;
    }
    Ok(())
}

fn encode_stream(stream: &StoredStream) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(16 + stream.from.len() + stream.start.len());
    out.push(RECORD_FORMAT);
    put_bytes(&mut out, stream.from.as_bytes())?;
    put_bytes(&mut out, &stream.start)?;
    match &stream.path {
        Some(path) => {
            out.push(1);
            put_bytes(&mut out, path.as_bytes())?;
        }
        None => out.push(0),
    }
    Ok(out)
}

fn decode_stream(id: MessageId, bytes: &[u8]) -> Result<StoredStream, StoreError> {
    let mut r = Reader {
        rest: bytes,
        table: "file_streams",
    };
    r.format()?;
    let from = r.string()?;
    let start = r.bytes()?.to_vec();
    let path = match r.u8()? {
        0 => None,
        1 => Some(r.string()?),
        _ => return Err(r.corrupt("bad path flag")),
    };
    r.finish()?;
    Ok(StoredStream {
        id,
        from,
        start,
        path,
    })
}

fn check_peer(peer: &str) -> Result<(), StoreError> {
    if peer.is_empty() || peer.len() > MAX_PEER_LEN {
        return Err(StoreError::InvalidPeer {
            len: peer.len(),
            max: MAX_PEER_LEN,
        });
    }
    Ok(())
}

/// A table of rows by message id (history, queue).
type ById<'t> = Table<'t, [u8; 16], &'static [u8]>;
/// A time index of such a table.
type ByTime<'t> = Table<'t, (u64, [u8; 16]), ()>;

/// The tables a batch writes, each opened once per transaction (on first use).
struct Tables<'t> {
    txn: &'t WriteTransaction,
    sessions: Option<Table<'t, &'static str, &'static [u8]>>,
    messages: Option<ById<'t>>,
    messages_by_time: Option<ByTime<'t>>,
    queue: Option<ById<'t>>,
    queue_by_due: Option<ByTime<'t>>,
}

/// Opens `definition` in `slot` unless it is open.
fn opened<'s, 't, K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &'t WriteTransaction,
    slot: &'s mut Option<Table<'t, K, V>>,
    definition: TableDefinition<'_, K, V>,
) -> Result<&'s mut Table<'t, K, V>, StoreError> {
    if slot.is_none() {
        *slot = Some(txn.open_table(definition)?);
    }
    slot.as_mut().ok_or(StoreError::Corrupt {
        table: "tables",
        what: "a table that did not open",
    })
}

impl<'t> Tables<'t> {
    const fn new(txn: &'t WriteTransaction) -> Self {
        Self {
            txn,
            sessions: None,
            messages: None,
            messages_by_time: None,
            queue: None,
            queue_by_due: None,
        }
    }

    fn sessions(&mut self) -> Result<&mut Table<'t, &'static str, &'static [u8]>, StoreError> {
        opened(self.txn, &mut self.sessions, SESSIONS)
    }

    /// The history and its time index.
    fn history(&mut self) -> Result<(&mut ById<'t>, &mut ByTime<'t>), StoreError> {
        let messages = opened(self.txn, &mut self.messages, MESSAGES)?;
        let index = opened(self.txn, &mut self.messages_by_time, MESSAGES_BY_TIME)?;
        Ok((messages, index))
    }

    /// The queue and its due-time index.
    fn queue(&mut self) -> Result<(&mut ById<'t>, &mut ByTime<'t>), StoreError> {
        let queue = opened(self.txn, &mut self.queue, QUEUE)?;
        let index = opened(self.txn, &mut self.queue_by_due, QUEUE_BY_DUE)?;
        Ok((queue, index))
    }
}

fn apply(tables: &mut Tables<'_>, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::PutSession(peer, snapshot) => {
            check_peer(peer)?;
            tables
                .sessions()?
                .insert(peer.as_str(), snapshot.as_slice())?;
        }
        Op::RemoveSession(peer) => {
            tables.sessions()?.remove(peer.as_str())?;
        }
        Op::PutMessage(entry) => {
            check_peer(&entry.peer)?;
            let bytes = encode_message(entry)?;
            let id = *entry.id.as_bytes();
            let (messages, index) = tables.history()?;
            let old = messages
                .insert(id, bytes.as_slice())?
                .map(|g| decode_message(entry.id, g.value()));
            match old {
                None => {}
                Some(Ok(old)) => {
                    index.remove((old.timestamp.as_millis(), id))?;
                }
                // A row that no longer decodes is replaced; find its index keys by id.
                Some(Err(_)) => remove_index_keys(index, id)?,
            }
            index.insert((entry.timestamp.as_millis(), id), ())?;
        }
        Op::SetStatus(id, status) => {
            set_status(tables, *id, *status)?;
        }
        Op::Enqueue(queued) => {
            check_peer(&queued.peer)?;
            let bytes = encode_queued(queued)?;
            let id = *queued.id.as_bytes();
            let (queue, index) = tables.queue()?;
            let old = queue
                .insert(id, bytes.as_slice())?
                .map(|g| decode_queued(queued.id, g.value()));
            match old {
                None => {}
                Some(Ok(old)) => {
                    index.remove((old.next_attempt.as_millis(), id))?;
                }
                Some(Err(_)) => remove_index_keys(index, id)?,
            }
            index.insert((queued.next_attempt.as_millis(), id), ())?;
        }
        Op::RemoveQueued(id) => {
            remove_queued(tables, *id)?;
        }
    }
    Ok(())
}

fn set_status(tables: &mut Tables<'_>, id: MessageId, status: Status) -> Result<bool, StoreError> {
    let (messages, _) = tables.history()?;
    let found = {
        let row = messages.get(id.as_bytes())?;
        row.map(|g| decode_message(id, g.value())).transpose()?
    };
    let Some(mut entry) = found else {
        return Ok(false);
    };
    entry.status = status;
    let bytes = encode_message(&entry)?;
    messages.insert(id.as_bytes(), bytes.as_slice())?;
    Ok(true)
}

fn remove_queued(tables: &mut Tables<'_>, id: MessageId) -> Result<bool, StoreError> {
    let (queue, index) = tables.queue()?;
    let old = queue
        .remove(id.as_bytes())?
        .map(|g| decode_queued(id, g.value()));
    match old {
        None => Ok(false),
        Some(Ok(old)) => {
            index.remove((old.next_attempt.as_millis(), *id.as_bytes()))?;
            Ok(true)
        }
        Some(Err(_)) => {
            // The row was corrupt: drop any index key that points at it.
            remove_index_keys(index, *id.as_bytes())?;
            Ok(true)
        }
    }
}

/// Removes every key of a time index that names `id` (a full scan: only for corrupt rows).
fn remove_index_keys(
    index: &mut Table<'_, (u64, [u8; 16]), ()>,
    id: [u8; 16],
) -> Result<(), StoreError> {
    let mut stale = Vec::new();
    for row in index.iter()? {
        let key = row?.0.value();
        if key.1 == id {
            stale.push(key);
        }
    }
    for key in stale {
        index.remove(key)?;
    }
    Ok(())
}

fn read_queued(
    queue: &impl ReadableTable<[u8; 16], &'static [u8]>,
    id_bytes: [u8; 16],
) -> Result<Queued, StoreError> {
    let id = MessageId::from_bytes(id_bytes).map_err(|_| StoreError::Corrupt {
        table: "queue",
        what: "bad message id",
    })?;
    let Some(value) = queue.get(id_bytes)? else {
        return Err(StoreError::Corrupt {
            table: "queue",
            what: "index without message",
        });
    };
    decode_queued(id, value.value())
}

// --- record encoding: format byte, fixed fields big-endian, length-prefixed (u32) bytes ---

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len()).map_err(|_| StoreError::TooLarge(bytes.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn encode_message(entry: &HistoryEntry) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(24 + entry.peer.len() + entry.body.len());
    out.push(RECORD_FORMAT);
    out.push(entry.direction.to_byte());
    out.push(entry.status.to_byte());
    out.extend_from_slice(&entry.timestamp.as_millis().to_be_bytes());
    put_bytes(&mut out, entry.peer.as_bytes())?;
    put_bytes(&mut out, &entry.body)?;
    Ok(out)
}

fn decode_message(id: MessageId, bytes: &[u8]) -> Result<HistoryEntry, StoreError> {
    let mut r = Reader {
        rest: bytes,
        table: "history",
    };
    r.format()?;
    let direction = Direction::from_byte(r.u8()?).ok_or(r.corrupt("bad direction"))?;
    let status = Status::from_byte(r.u8()?).ok_or(r.corrupt("bad status"))?;
    let timestamp = Timestamp::from_millis(r.u64()?);
    let peer = r.string()?;
    let body = r.bytes()?.to_vec();
    r.finish()?;
    Ok(HistoryEntry {
        id,
        peer,
        direction,
        timestamp,
        status,
        body,
    })
}

fn encode_queued(queued: &Queued) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(32 + queued.peer.len() + queued.payload.len());
    out.push(RECORD_FORMAT);
    out.extend_from_slice(&queued.next_attempt.as_millis().to_be_bytes());
    out.extend_from_slice(&queued.deadline.as_millis().to_be_bytes());
    out.extend_from_slice(&queued.attempts.to_be_bytes());
    put_bytes(&mut out, queued.peer.as_bytes())?;
    put_bytes(&mut out, &queued.payload)?;
    Ok(out)
}

fn decode_queued(id: MessageId, bytes: &[u8]) -> Result<Queued, StoreError> {
    let mut r = Reader {
        rest: bytes,
        table: "queue",
    };
    r.format()?;
    let next_attempt = Timestamp::from_millis(r.u64()?);
    let deadline = Timestamp::from_millis(r.u64()?);
    let attempts = r.u32()?;
    let peer = r.string()?;
    let payload = r.bytes()?.to_vec();
    r.finish()?;
    Ok(Queued {
        id,
        peer,
        next_attempt,
        deadline,
        attempts,
        payload,
    })
}

struct Reader<'a> {
    rest: &'a [u8],
    table: &'static str,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &'static str) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            what,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.rest.len() < n {
            return Err(self.corrupt("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| self.corrupt("truncated"))
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = usize::try_from(self.u32()?).map_err(|_| self.corrupt("length"))?;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let bytes = self.bytes()?;
        core::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| self.corrupt("peer is not UTF-8"))
    }

    fn format(&mut self) -> Result<(), StoreError> {
        if self.u8()? != RECORD_FORMAT {
            return Err(self.corrupt("unknown record format"));
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), StoreError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt("trailing bytes"))
        }
    }
}

// --- the ledger ---

/// [`talos_ledger::merkle::Store`] over redb. `put`s are buffered; `set_size` writes them, the
/// staged entry (see [`Ledger::append_entry`]) and the new size in one durable transaction.
pub struct LedgerStore {
    inner: Arc<Inner>,
    /// Hashes `put` since the last `set_size`, written by it.
    pending: Vec<(u8, u64, Hash)>,
    /// The entry of the append in progress, written with the size.
    staged_entry: Cell<Option<Vec<u8>>>,
}

impl fmt::Debug for LedgerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerStore")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl LedgerStore {
    /// The entry at `index`, if committed.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LEDGER_ENTRIES)?;
        let row = table.get(index)?;
        Ok(row.map(|g| g.value().to_vec()))
    }
}

impl merkle::Store for LedgerStore {
    type Error = StoreError;

    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        if let Some((_, _, hash)) = self
            .pending
            .iter()
            .rev()
            .find(|(l, i, _)| *l == level && *i == index)
        {
            return Ok(Some(*hash));
        }
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(MERKLE)?;
        let row = table.get((level, index))?;
        Ok(row.map(|g| g.value()))
    }

    fn put(&mut self, level: u8, index: u64, hash: Hash) -> Result<(), StoreError> {
        self.pending.push((level, index, hash));
        Ok(())
    }

    fn size(&self) -> Result<u64, StoreError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LEDGER_META)?;
        let row = table.get(SIZE_ROW)?;
        Ok(row.map_or(0, |g| g.value()))
    }

    fn set_size(&mut self, size: u64) -> Result<(), StoreError> {
        // Whatever happens, this append's buffered writes are consumed: after an error the log
        // repeats its puts on the next append.
        let pending = core::mem::take(&mut self.pending);
        let entry = self.staged_entry.take();
        let txn = self.inner.db.begin_write()?;
        {
            let mut meta = txn.open_table(LEDGER_META)?;
            let found = meta.get(SIZE_ROW)?.map_or(0, |g| g.value());
            if size.checked_sub(1) != Some(found) {
                return Err(StoreError::LedgerConflict {
                    expected: size.saturating_sub(1),
                    found,
                });
            }
            let mut hashes = txn.open_table(MERKLE)?;
            for (level, index, hash) in pending {
                hashes.insert((level, index), hash)?;
            }
            if let Some(entry) = entry {
                txn.open_table(LEDGER_ENTRIES)?
                    .insert(found, entry.as_slice())?;
            }
            meta.insert(SIZE_ROW, size)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// The ledger: a [`MerkleLog`] over [`LedgerStore`], with the entries kept by index. It
/// survives a reopen of the store; each append is one durable transaction.
///
/// Getters: `size`, `root`, `log`. Commands: `append_entry`. Queries: `entry`, `root_at`,
/// `inclusion_proof`, `consistency_proof` (through [`Ledger::log`]).
#[derive(Debug)]
pub struct Ledger {
    log: MerkleLog<LedgerStore>,
}

impl Ledger {
    /// Appends an entry (hashed as an RFC 9162 leaf) and returns its index; when it returns
    /// `Ok`, the entry and the new tree are committed.
    ///
    /// # Errors
    /// [`LogError::Store`] if the database fails (the log is unchanged);
    /// [`LogError::Full`].
    pub fn append_entry(&mut self, entry: &[u8]) -> Result<u64, LogError<StoreError>> {
        self.log.store().staged_entry.set(Some(entry.to_vec()));
        let result = self.log.append(entry);
        // Cleared by set_size; cleared here too if the append failed before it.
        drop(self.log.store().staged_entry.take());
        result
    }

    /// Records `body` as a talos-ledger [`Entry`](talos_ledger::entry::Entry) with id `id`,
    /// by `recorder` at `at`, its nonce the entry's index, and appends it
    /// ([`Ledger::append_entry`]); returns its index.
    ///
    /// # Errors
    /// [`RecordError::Entry`] for a body the entry format refuses (nothing is written);
    /// [`RecordError::Log`] as [`Ledger::append_entry`].
    pub fn record(
        &mut self,
        id: MessageId,
        recorder: &str,
        at: Timestamp,
        body: talos_ledger::entry::Body,
    ) -> Result<u64, RecordError> {
        let entry =
            talos_ledger::entry::Entry::new(*id.as_bytes(), recorder, self.size(), at, body)?;
        Ok(self.append_entry(&entry.to_cbor())?)
    }

    /// The entry at `index`, if committed.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.log.store().entry(index)
    }

    /// The number of entries.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.log.size()
    }

    /// The current root.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.log.root()
    }

    /// The Merkle log, for proofs (`inclusion_proof`, `consistency_proof`, `root_at`).
    #[must_use]
    pub fn log(&self) -> &MerkleLog<LedgerStore> {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use talos_crypto::{ChaCha20Rng, SeedableRng};

    use super::*;

    fn sample() -> (HistoryEntry, Queued) {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let id = MessageId::generate(now, &mut ChaCha20Rng::from_seed([4; 32]));
        let entry = HistoryEntry {
            id,
            peer: "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG".into(),
            direction: Direction::Incoming,
            timestamp: now,
            status: Status::Received,
            body: b"hello".to_vec(),
        };
        let queued = Queued {
            id,
            peer: entry.peer.clone(),
            next_attempt: now,
            deadline: now,
            attempts: 3,
            payload: b"payload".to_vec(),
        };
        (entry, queued)
    }

    /// The node shares the store between tasks and moves the ledger into one.
    #[test]
    fn thread_safety() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Store>();
        send::<Ledger>();
        send::<Batch>();
    }

    #[test]
    fn records_round_trip() {
        let (entry, queued) = sample();
        let bytes = encode_message(&entry).unwrap();
        assert_eq!(decode_message(entry.id, &bytes).unwrap(), entry);
        let bytes = encode_queued(&queued).unwrap();
        assert_eq!(decode_queued(queued.id, &bytes).unwrap(), queued);
    }

    /// Bad rows from the disk are errors, never panics: every truncation, every extension,
    /// and every single-byte change of a valid record.
    #[test]
    fn corrupt_records_are_errors() {
        let (entry, queued) = sample();
        for bytes in [
            encode_message(&entry).unwrap(),
            encode_queued(&queued).unwrap(),
        ] {
            for len in 0..bytes.len() {
                assert!(decode_message(entry.id, &bytes[..len]).is_err());
                assert!(decode_queued(entry.id, &bytes[..len]).is_err());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_message(entry.id, &longer).is_err());
            assert!(decode_queued(entry.id, &longer).is_err());
            for i in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut changed = bytes.clone();
                    if let Some(b) = changed.get_mut(i) {
                        *b ^= flip;
                    }
                    let _ = decode_message(entry.id, &changed);
                    let _ = decode_queued(entry.id, &changed);
                }
            }
        }
    }
}
