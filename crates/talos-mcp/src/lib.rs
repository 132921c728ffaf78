#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Signed frames between the two ends of a tunnel.
pub mod frame;
// Digests and the upstream SDK's signed request.
pub mod digest;

pub use frame::{FrameError, McpMessage, McpResponse, ResultCode, Signed, payload_hash};

/// The primitives this crate is built on, re-exported so that a program using only this
/// crate can name them.
pub use talos_crypto as crypto;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
