#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

//! Modules:
//!
//! - [`golden`] writes the project's own vectors (`test-vectors/`) deterministically from
//!   fixed seeds, and checks a directory of them against the library crates.
//! - [`upstream`] runs a directory laid out like the upstream `talos-contracts/test_vectors`,
//!   dispatching by relative path; files it cannot handle are skipped with the reason.
//! - [`report`] is the line-per-file output both share.
//! - [`merkle`] runs the transparency-dev Merkle proof probes and the Merkle and signed-note
//!   cross-check commands.
//! - [`capability`] issues and verifies talos-acl capability tokens from JSON lines, for
//!   cross-checks with other implementations.
//! - [`trace`] replays and generates talos-v1.1 Double Ratchet traces (`ratchet-trace`).
//!
//! The `talos-conformance` binary is the command-line front end.

pub mod capability;
pub mod golden;
pub mod merkle;
pub mod report;
pub(crate) mod scripted_rng;
pub mod trace;
pub mod upstream;
mod util;

/// This crate's version, as written into generated vectors.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
