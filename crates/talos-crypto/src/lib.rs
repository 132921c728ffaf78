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
pub mod record;
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

#[cfg(test)]
mod zeroize_tests {
    use zeroize::ZeroizeOnDrop;

    fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

    /// The secret-holding types underneath ours wipe themselves on drop; this fails to compile
    /// if a dependency's `zeroize` feature is ever dropped from the workspace manifest.
    #[test]
    fn secret_types_zeroize_on_drop() {
        zeroized_on_drop::<ed25519_dalek::SigningKey>();
        zeroized_on_drop::<x25519_dalek::StaticSecret>();
        zeroized_on_drop::<x25519_dalek::EphemeralSecret>();
        zeroized_on_drop::<x25519_dalek::SharedSecret>();
        zeroized_on_drop::<chacha20poly1305::ChaCha20Poly1305>();
        zeroized_on_drop::<chacha20poly1305::XChaCha20Poly1305>();
        zeroized_on_drop::<crate::SigningKey>();
        zeroized_on_drop::<crate::x25519::StaticSecret>();
        zeroized_on_drop::<crate::x25519::EphemeralSecret>();
        zeroized_on_drop::<crate::x25519::SharedSecret>();
        zeroized_on_drop::<crate::aead::ChaCha20Poly1305>();
        zeroized_on_drop::<crate::aead::XChaCha20Poly1305>();
    }
}
