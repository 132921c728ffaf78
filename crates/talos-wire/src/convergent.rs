//! Convergent encryption for stored files (the seed's item 004): the key is a hash of the
//! content, so the same file always encrypts to the same bytes and a store can keep one copy
//! of it however many people upload it, without being able to read it.
//!
//! Construction, for content `m`:
//!
//! 1. `key = BLAKE3-derive-key("talos-wire convergent v1", m)` ([`encrypt`]), or with a
//!    convergence secret `s`, `key = BLAKE3-keyed(BLAKE3-derive-key("talos-wire convergent
//!    v1 secret", s), m)` ([`encrypt_with_secret`]);
//! 2. `nonce = first 24 bytes of BLAKE3-derive-key("talos-wire convergent v1 nonce", key)`;
//! 3. `commitment = BLAKE3-derive-key("talos-wire convergent v1 commitment", key)`;
//! 4. `sealed = commitment ‖ XChaCha20-Poly1305(key, nonce, aad = "talos-wire convergent v1", m)`.
//!
//! Deterministic by design; a nonce is never reused with different plaintexts, because a
//! different plaintext means a different key (short of a BLAKE3 collision). The commitment
//! makes a sealed object open under one key only (Poly1305 alone does not commit to its key).
//! The key is the capability: whoever holds it reads the file; keep it in the owner's
//! encrypted index and index the store by [`storage_id`], which reveals nothing more than the
//! ciphertext does.
//!
//! # The trade-off: only use this where deduplication is worth it
//!
//! Determinism leaks, and nothing fixes that without giving up deduplication:
//! - **Confirmation of a file.** Anyone who can guess a candidate file (a leaked document, a
//!   known installer, a standard form) can encrypt it and check whether the store holds the
//!   result, learning that someone stored that exact file.
//! - **Learning the remaining information.** For a file that is mostly known with a few
//!   unknown, low-entropy fields (a form letter with a PIN, a salary, a date of birth), an
//!   attacker encrypts every candidate and sees which one is stored, recovering the field.
//! - Equality: the store (and anyone who sees it) learns which users hold the same file.
//!
//! [`encrypt_with_secret`] limits all three to the people who share the convergence secret
//! (Tahoe-LAFS's "added convergence secret"), at the price of deduplicating only among them.
//! For anything private and guessable, do not use convergent encryption at all; seal it with a
//! random key (`talos_crypto::aead::XChaCha20Poly1305` and a random nonce).
//!
//! The whole content is in memory: this suits files that are already held in memory; encrypt
//! before chunking, and chunk the `sealed` bytes.
//!
//! ```
//! use talos_wire::convergent;
//!
//! let (key, sealed) = convergent::encrypt(b"quarterly report").unwrap();
//! let (key2, sealed2) = convergent::encrypt(b"quarterly report").unwrap();
//! assert_eq!((&*key, &sealed), (&*key2, &sealed2)); // same file, same bytes: store once
//! assert_eq!(convergent::decrypt(&key, &sealed).unwrap(), b"quarterly report");
//! assert!(convergent::decrypt(&[0; 32], &sealed).is_err());
//! ```

use talos_crypto::Zeroizing;
use talos_crypto::aead::{TAG_LEN, XChaCha20Poly1305};

/// The derive-key context of the content key, and the AEAD's associated data.
pub const KEY_CONTEXT: &str = "talos-wire convergent v1";
/// The derive-key context that turns a convergence secret into a BLAKE3 key.
pub const SECRET_CONTEXT: &str = "talos-wire convergent v1 secret";
/// The derive-key context of the nonce.
pub const NONCE_CONTEXT: &str = "talos-wire convergent v1 nonce";
/// The derive-key context of the key commitment.
pub const COMMITMENT_CONTEXT: &str = "talos-wire convergent v1 commitment";

/// Length of the key commitment at the start of a sealed object.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes a sealed object has beyond its content: commitment and tag.
pub const OVERHEAD: usize = COMMITMENT_LEN + TAG_LEN;

/// Encrypts `content` under the key derived from it; returns the key and the sealed bytes.
///
/// # Errors
/// [`ConvergentError::TooLong`] for content beyond the cipher's limit (about 256 GiB).
pub fn encrypt(content: &[u8]) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>), ConvergentError> {
    let key = Zeroizing::new(blake3::derive_key(KEY_CONTEXT, content));
    let sealed = seal(&key, content)?;
    Ok((key, sealed))
}

/// Encrypts `content` under a key derived from it and a convergence secret shared by the users
/// who want to deduplicate among themselves; see the module docs.
///
/// # Errors
/// As [`encrypt`].
pub fn encrypt_with_secret(
    secret: &[u8; 32],
    content: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>), ConvergentError> {
    let secret_key = Zeroizing::new(blake3::derive_key(SECRET_CONTEXT, secret));
    let key = Zeroizing::new(*blake3::keyed_hash(&secret_key, content).as_bytes());
    let sealed = seal(&key, content)?;
    Ok((key, sealed))
}

/// Checks and decrypts a sealed object with its key.
///
/// # Errors
/// [`ConvergentError::DecryptionFailed`] for a wrong key or altered bytes; deliberately
/// without detail.
pub fn decrypt(key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, ConvergentError> {
    let (commitment, ciphertext) = sealed
        .split_first_chunk::<COMMITMENT_LEN>()
        .ok_or(ConvergentError::DecryptionFailed)?;
    // `blake3::Hash` compares in constant time.
    let expected = blake3::Hash::from_bytes(blake3::derive_key(COMMITMENT_CONTEXT, key));
    if blake3::Hash::from_bytes(*commitment) != expected {
        return Err(ConvergentError::DecryptionFailed);
    }
    XChaCha20Poly1305::new(key)
        .open(&nonce(key), KEY_CONTEXT.as_bytes(), ciphertext)
        .map_err(|_| ConvergentError::DecryptionFailed)
}

/// The name a store files a sealed object under: its BLAKE3 hash. Equal content (and secret)
/// gives an equal id, which is what deduplicates; the id does not reveal the key.
#[must_use]
pub fn storage_id(sealed: &[u8]) -> [u8; 32] {
    *blake3::hash(sealed).as_bytes()
}

fn seal(key: &[u8; 32], content: &[u8]) -> Result<Vec<u8>, ConvergentError> {
    let mut sealed = Vec::with_capacity(content.len().saturating_add(OVERHEAD));
    sealed.extend_from_slice(&blake3::derive_key(COMMITMENT_CONTEXT, key));
    let body = XChaCha20Poly1305::new(key)
        .seal(&nonce(key), KEY_CONTEXT.as_bytes(), content)
        .map_err(|_| ConvergentError::TooLong)?;
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

fn nonce(key: &[u8; 32]) -> [u8; 24] {
    let derived = blake3::derive_key(NONCE_CONTEXT, key);
    derived.first_chunk().copied().unwrap_or_default()
}

/// Why convergent encryption failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvergentError {
    /// The content exceeds the cipher's limit (about 256 GiB).
    #[error("convergent encryption: content too long")]
    TooLong,
    /// Wrong key, or the sealed bytes were altered or truncated; deliberately without detail.
    #[error("convergent decryption failed")]
    DecryptionFailed,
}

impl From<&ConvergentError> for talos_crypto::ErrorCode {
    fn from(err: &ConvergentError) -> Self {
        match err {
            ConvergentError::TooLong => Self::InvalidInput,
            _ => Self::CryptoError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_round_trips() {
        for content in [&b""[..], b"x", &[9u8; 100_000]] {
            let (key, sealed) = encrypt(content).unwrap();
            assert_eq!(sealed.len(), content.len() + OVERHEAD);
            assert_eq!(encrypt(content).unwrap().1, sealed);
            assert_eq!(decrypt(&key, &sealed).unwrap(), content);
        }
        assert_ne!(encrypt(b"a").unwrap().1, encrypt(b"b").unwrap().1);
    }

    #[test]
    fn the_key_is_the_documented_derive_key() {
        let (key, _) = encrypt(b"content").unwrap();
        assert_eq!(
            *key,
            blake3::derive_key("talos-wire convergent v1", b"content")
        );
    }

    #[test]
    fn secrets_separate_users() {
        let (ka, a) = encrypt_with_secret(&[1; 32], b"same file").unwrap();
        let (kb, b) = encrypt_with_secret(&[2; 32], b"same file").unwrap();
        let (_, plain) = encrypt(b"same file").unwrap();
        assert_ne!(a, b);
        assert_ne!(a, plain);
        assert_eq!(encrypt_with_secret(&[1; 32], b"same file").unwrap().1, a);
        assert_eq!(decrypt(&ka, &a).unwrap(), b"same file");
        assert_eq!(decrypt(&kb, &a), Err(ConvergentError::DecryptionFailed));
    }

    #[test]
    fn any_change_is_refused() {
        let (key, sealed) = encrypt(b"some stored file").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x20;
            assert_eq!(
                decrypt(&key, &bad),
                Err(ConvergentError::DecryptionFailed),
                "{i}"
            );
        }
        for len in 0..sealed.len() {
            assert!(decrypt(&key, &sealed[..len]).is_err());
        }
        assert_eq!(storage_id(&sealed), *blake3::hash(&sealed).as_bytes());
    }
}
