#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod chunk;
pub mod convergent;
pub mod envelope;
pub mod frame;
mod id;
pub mod replay;
pub mod sdk_frame;

pub use envelope::{Envelope, EnvelopeType};
pub use frame::{Frame, FrameDecoder, FrameType};
pub use id::{Cursor, CursorError, IdError, MessageId, event_order};

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
