#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The Merkle log, signed checkpoints and the light client.
pub mod checkpoint;
pub mod light;
pub mod merkle;
pub mod note;
// Blocks, their validation, and chain sync.
pub mod block;
pub mod sync;
pub mod validate;
// What the log records.
pub mod audit;
pub mod entry;
pub mod tga;

// Re-exports: Merkle log, notes, checkpoints, light client.
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointSigner, TreeHead, Witness};
pub use light::{Equivocation, LightClient, LightError, Update};
pub use merkle::{
    EMPTY_ROOT, Frontier, Hash, LogError, MemoryStore, MerkleLog, ProofError, Store, leaf_hash,
    node_hash, verify_consistency, verify_inclusion,
};
pub use note::{Note, NoteError, NoteSignature, NoteSigner, NoteVerifier};

// Re-exports: blocks, validation, sync.
pub use block::{
    Block, BlockDecodeError, Chain, ChainConfig, Header, InsertError, Inserted, MAX_BLOCK_BYTES,
    MAX_MEMPOOL_ENTRIES, Mempool, MempoolError, OutOfBudget, mine,
};
pub use sync::{
    ChainSync, Event as SyncEvent, Message as SyncMessage, PeerId, Request as SyncRequest,
    Status as SyncStatus, SyncConfig,
};
pub use validate::{AnchorCheck, Code, Failure, ImportOutcome, Layer, ValidationReport};

// Re-exports: entries and audit events.
pub use audit::{AuditError, AuditEvent};
pub use entry::{Anchor, Body, Decision, Entry, EntryError, EntryKind, MAX_ENTRY_BYTES};
pub use tga::{ExecutionLog, TgaError};

/// The primitives this crate is built on (keys, signatures, hashes, `Timestamp`), re-exported
/// so that a program using only this crate can name them.
pub use talos_crypto as crypto;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
