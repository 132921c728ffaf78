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

// Re-exports: blocks, validation, sync.

// Re-exports: entries and audit events.

/// The primitives this crate is built on (keys, signatures, hashes, `Timestamp`), re-exported
/// so that a program using only this crate can name them.
pub use talos_crypto as crypto;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
