#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod aead;
pub mod base64url;
pub mod cbor;
mod ed25519;
mod error;
pub mod hash;
pub mod json;
pub mod key_file;
mod record;
pub mod sealed_box;
pub mod signed;
mod time;
pub mod x25519;

pub use ed25519::{
    PUBLIC_KEY_LEN, SEED_LEN, SIGNATURE_LEN, Signature, SigningKey, VerifyingKey, verify_batch,
};
pub use error::{
    AeadError, Base64Error, BatchVerifyError, CborError, Error, ErrorCode, KeyAgreementError,
    KeyError, VerifyError,
};
pub use key_file::KeyFile;
pub use sealed_box::SealedBox;
pub use signed::SignedMessage;
pub use time::Timestamp;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Re-exported so that callers name the same RNG traits this crate takes.
pub use rand_core::{CryptoRng, TryCryptoRng};
pub use zeroize::Zeroizing;
