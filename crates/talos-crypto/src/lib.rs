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
pub use rand_core::{CryptoRng, SeedableRng, TryCryptoRng};

/// A seedable cryptographic RNG (ChaCha20, from `rand_chacha`), re-exported so that a
/// program can drive every Talos crate with nothing else. Protocol crates never seed one
/// themselves: seed it from the operating system (e.g. with the `getrandom` crate) in
/// production, or from a fixed seed in tests and replays, where it makes runs reproducible.
///
/// ```
/// use talos_crypto::{ChaCha20Rng, SeedableRng, SigningKey};
///
/// let mut rng = ChaCha20Rng::from_seed([7; 32]); // tests only: a fixed seed
/// let key = SigningKey::generate(&mut rng);
/// assert_eq!(key.verifying_key(), SigningKey::generate(&mut ChaCha20Rng::from_seed([7; 32])).verifying_key());
/// ```
pub use rand_chacha::ChaCha20Rng;
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
