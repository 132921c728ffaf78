#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Capability tokens and what a capability allows.
pub mod cache;
pub mod revocation;
pub mod scope;
pub mod token;
pub mod verify;
// Globs, per-peer policy, rate limits and budgets, RBAC bindings.
pub mod glob;
pub mod policy;
pub mod rate;
pub mod rbac;

// Re-exports: capabilities.

// Re-exports: policy, rate limits, RBAC.

/// The primitives this crate is built on (keys, signatures, `Timestamp`), re-exported so that
/// a program using only this crate can name them.
pub use talos_crypto as crypto;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
