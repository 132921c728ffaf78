//! X25519 key agreement (RFC 7748): static and single-use secrets.
//!
//! Every agreement checks that the result is contributory: a peer key of small order, which
//! would make the shared secret all zeros whatever our secret is, is an error.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{KeyAgreementError, KeyError};

/// Length of X25519 keys and shared secrets.
pub const KEY_LEN: usize = 32;

/// An X25519 public key (a Montgomery u-coordinate). Any 32 bytes are accepted here;
/// weak keys are caught by the agreement itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(x25519_dalek::PublicKey);

impl PublicKey {
    /// A public key from its 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(x25519_dalek::PublicKey::from(bytes))
    }

    /// A public key from a slice.
    ///
    /// # Errors
    /// [`KeyError::InvalidLength`] unless `bytes` is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| KeyError::InvalidLength {
            expected: KEY_LEN,
            got: bytes.len(),
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The 32-byte encoding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.0.as_bytes()
    }

    /// The 32-byte encoding, by value.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "x25519::PublicKey({})",
            crate::hash::to_hex(self.as_bytes())
        )
    }
}

/// JSON: base64url string; CBOR: 32-byte string.
impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::base64url::serde::serialize(self.as_bytes(), serializer)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::base64url::serde::array::deserialize(deserializer).map(Self::from_bytes)
    }
}

/// A reusable X25519 secret (a signed prekey, or the key-agreement half of an identity).
/// Zeroized on drop.
#[derive(Clone)]
pub struct StaticSecret(x25519_dalek::StaticSecret);

impl StaticSecret {
    /// A secret from 32 bytes; they are clamped when used, as RFC 7748 specifies.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        Self(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// A fresh secret from `rng`.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self(x25519_dalek::StaticSecret::random_from_rng(rng))
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey((&self.0).into())
    }

    /// X25519(self, their_public).
    ///
    /// # Errors
    /// [`KeyAgreementError`] if the result is all zeros (their key has small order).
    pub fn diffie_hellman(
        &self,
        their_public: &PublicKey,
    ) -> Result<SharedSecret, KeyAgreementError> {
        SharedSecret::checked(self.0.diffie_hellman(&their_public.0))
    }

    /// The secret bytes, for storage; zeroized when dropped.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }
}

/// The inner x25519-dalek secret wipes itself on drop.
impl zeroize::ZeroizeOnDrop for StaticSecret {}

impl fmt::Debug for StaticSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticSecret")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// A single-use X25519 secret: [`EphemeralSecret::diffie_hellman`] consumes it, so it cannot
/// be used twice or stored. Zeroized on drop.
pub struct EphemeralSecret(x25519_dalek::EphemeralSecret);

impl EphemeralSecret {
    /// A fresh secret from `rng`.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self(x25519_dalek::EphemeralSecret::random_from_rng(rng))
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey((&self.0).into())
    }

    /// X25519(self, their_public), consuming the secret.
    ///
    /// # Errors
    /// [`KeyAgreementError`] if the result is all zeros (their key has small order).
    pub fn diffie_hellman(
        self,
        their_public: &PublicKey,
    ) -> Result<SharedSecret, KeyAgreementError> {
        SharedSecret::checked(self.0.diffie_hellman(&their_public.0))
    }
}

/// The inner x25519-dalek secret wipes itself on drop.
impl zeroize::ZeroizeOnDrop for EphemeralSecret {}

impl fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralSecret")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// The output of an X25519 agreement; feed it to a KDF, never use it as a key directly.
/// Zeroized on drop.
pub struct SharedSecret(x25519_dalek::SharedSecret);

impl SharedSecret {
    fn checked(shared: x25519_dalek::SharedSecret) -> Result<Self, KeyAgreementError> {
        if shared.was_contributory() {
            Ok(Self(shared))
        } else {
            Err(KeyAgreementError)
        }
    }

    /// The 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        self.0.as_bytes()
    }
}

/// The inner x25519-dalek secret wipes itself on drop.
impl zeroize::ZeroizeOnDrop for SharedSecret {}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSecret").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_peer_is_refused() {
        let secret = StaticSecret::from_bytes([9; 32]);
        assert_eq!(
            secret.diffie_hellman(&PublicKey::from_bytes([0; 32])).err(),
            Some(KeyAgreementError)
        );
        let mut one = [0; 32];
        one[0] = 1;
        assert!(secret.diffie_hellman(&PublicKey::from_bytes(one)).is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let secret = StaticSecret::from_bytes([0x5a; 32]);
        let shown = format!("{secret:?}");
        assert!(!shown.contains("5a5a"), "{shown}");
        let shared = secret
            .diffie_hellman(&StaticSecret::from_bytes([3; 32]).public_key())
            .unwrap();
        assert_eq!(format!("{shared:?}"), "SharedSecret { .. }");
    }
}
