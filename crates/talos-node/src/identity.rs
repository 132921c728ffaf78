//! The node's identity: an Ed25519 [`SigningKey`], its `did:key`, and the key file that keeps
//! it at rest.
//!
//! The key file is talos-crypto's [`KeyFile`]: encrypted under a passphrase (Argon2id and
//! XChaCha20-Poly1305), or, for `talos init --no-passphrase`, in clear (a warning is logged,
//! and [`UNENCRYPTED_WARNING`] is the text the CLI prints). The passphrase comes from the
//! [`PASSPHRASE_ENV`] environment variable ([`passphrase_from_env`]); without one the call
//! fails with [`IdentityError::PassphraseNeeded`], which says what to do.
//!
//! Other secrets the node keeps on disk (the prekey store, which holds every prekey secret and
//! the identity seed itself) are sealed under a key derived from the identity
//! ([`Identity::seal`], [`Identity::open`], [`Identity::seal_prekeys`]): they are as well
//! protected as the key file, and no better (a key file in clear means sealed data is
//! readable by anyone who can read the data directory).
//!
//! ```
//! use talos_crypto::{ChaCha20Rng, SeedableRng, key_file::KdfParams};
//! use talos_node::identity::{Identity, Protection};
//!
//! let mut rng = ChaCha20Rng::from_seed([1; 32]);
//! let identity = Identity::generate(&mut rng);
//! // Tiny Argon2 costs for the example; the node uses KdfParams::DEFAULT.
//! let params = KdfParams::new(64, 1, 1).unwrap();
//! let file = identity.to_key_file(&mut rng, Protection::Passphrase(b"hunter2", params)).unwrap();
//! let again = Identity::from_key_file(&file, Some(b"hunter2")).unwrap();
//! assert_eq!(again.did(), identity.did());
//! assert!(Identity::from_key_file(&file, Some(b"wrong")).is_err());
//! ```

use core::fmt;
use std::ffi::OsString;

use talos_crypto::aead::XChaCha20Poly1305;
use talos_crypto::key_file::{KdfParams, KeyFileError};
use talos_crypto::{CryptoRng, KeyFile, SigningKey, VerifyingKey, Zeroizing};
use talos_did::{Did, DidKey};
use talos_ratchet::{PrekeyError, PrekeyStore};

/// The environment variable the passphrase is read from.
pub const PASSPHRASE_ENV: &str = "TALOS_PASSPHRASE";

/// What the CLI prints when it stores an identity key without a passphrase.
pub const UNENCRYPTED_WARNING: &str = "warning: the identity key is stored without a passphrase; \
     anyone who can read the data directory can impersonate this node";

/// The longest passphrase accepted, in bytes.
pub const MAX_PASSPHRASE_LEN: usize = 1024;

/// The first byte of data sealed by [`Identity::seal`]: the format version.
const SEALED_VERSION: u8 = 1;
/// HKDF `info` of the storage key.
const STORAGE_KEY_INFO: &[u8] = b"talos-node storage key v1";
/// Prefix of the associated data of sealed data (the label follows).
const SEALED_AAD: &[u8] = b"talos-node sealed v1\0";
/// The label that binds sealed prekeys to their purpose.
pub const PREKEYS_LABEL: &[u8] = b"prekeys";

/// How a key file protects the key.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Protection<'a> {
    /// Encrypted under a passphrase with these Argon2id costs ([`KdfParams::DEFAULT`] for real
    /// files).
    Passphrase(&'a [u8], KdfParams),
    /// In clear (`talos init --no-passphrase`); a warning is logged.
    Unencrypted,
}

impl fmt::Debug for Protection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passphrase(_, params) => f
                .debug_struct("Passphrase")
                .field("params", params)
                .finish_non_exhaustive(),
            Self::Unencrypted => f.write_str("Unencrypted"),
        }
    }
}

/// Why an identity could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The key file is encrypted and no passphrase was given. Set the variable (or, for a new
    /// identity, choose `--no-passphrase` deliberately).
    #[error(
        "a passphrase is needed to open the identity key: set TALOS_PASSPHRASE or run on a \
         terminal (or create the identity with --no-passphrase)"
    )]
    PassphraseNeeded,
    /// The passphrase does not open the key file (or the file was altered). Try again.
    #[error("wrong passphrase for the identity key (or the key file is corrupted)")]
    WrongPassphrase,
    /// The passphrase is longer than [`MAX_PASSPHRASE_LEN`].
    #[error("passphrase too long: {len} bytes, limit {max}")]
    PassphraseTooLong {
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The key file is malformed or cannot be made. Restore it from a backup.
    #[error("identity key file: {0}")]
    KeyFile(KeyFileError),
    /// Sealed data does not open under this identity: another identity's, or corrupted.
    #[error("sealed data could not be opened: another identity's, or corrupted")]
    SealedDataCorrupt,
    /// The sealed prekey store opened, but is not a valid prekey snapshot.
    #[error("prekey store: {0}")]
    Prekeys(PrekeyError),
}

impl From<KeyFileError> for IdentityError {
    fn from(err: KeyFileError) -> Self {
        match err {
            KeyFileError::DecryptionFailed => Self::WrongPassphrase,
            other => Self::KeyFile(other),
        }
    }
}

/// The node's identity. `Debug` shows the DID only.
pub struct Identity {
    key: SigningKey,
    did: Did,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("did", &self.did.to_string())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new identity with a key drawn from `rng` (the OS RNG in production).
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self::from_signing_key(SigningKey::generate(rng))
    }

    /// The identity of `key`.
    #[must_use]
    pub fn from_signing_key(key: SigningKey) -> Self {
        let did = Did::Key(DidKey::Ed25519(key.verifying_key()));
        Self { key, did }
    }

    /// Loads the identity from its key file. `passphrase` is ignored for an unencrypted file.
    ///
    /// # Errors
    /// [`IdentityError::PassphraseNeeded`] for an encrypted file without a passphrase,
    /// [`IdentityError::WrongPassphrase`], or [`IdentityError::KeyFile`] for a corrupt file.
    pub fn from_key_file(file: &KeyFile, passphrase: Option<&[u8]>) -> Result<Self, IdentityError> {
        let key = if file.is_encrypted() {
            let passphrase = passphrase.ok_or(IdentityError::PassphraseNeeded)?;
            check_len(passphrase)?;
            file.decrypt(passphrase)?
        } else {
            file.decrypt(b"")?
        };
        Ok(Self::from_signing_key(key))
    }

    /// Loads the identity from key file bytes (as [`crate::store::Store::identity`] returns them
    /// parsed, or as read from a backup).
    ///
    /// # Errors
    /// As [`Identity::from_key_file`], and [`IdentityError::KeyFile`] for bytes that are not a
    /// key file.
    pub fn from_key_file_bytes(
        bytes: &[u8],
        passphrase: Option<&[u8]>,
    ) -> Result<Self, IdentityError> {
        let file = KeyFile::from_bytes(bytes).map_err(IdentityError::KeyFile)?;
        Self::from_key_file(&file, passphrase)
    }

    /// The key file of this identity. [`Protection::Unencrypted`] logs a warning.
    ///
    /// # Errors
    /// [`IdentityError::KeyFile`] for an empty passphrase (refused: use
    /// [`Protection::Unencrypted`] deliberately); [`IdentityError::PassphraseTooLong`].
    pub fn to_key_file(
        &self,
        rng: &mut impl CryptoRng,
        protection: Protection<'_>,
    ) -> Result<KeyFile, IdentityError> {
        match protection {
            Protection::Passphrase(passphrase, params) => {
                check_len(passphrase)?;
                KeyFile::encrypt(rng, &self.key, passphrase, params).map_err(IdentityError::KeyFile)
            }
            Protection::Unencrypted => {
                tracing::warn!(did = %self.did, "identity key stored without a passphrase");
                Ok(KeyFile::unencrypted(&self.key))
            }
        }
    }

    /// The `did:key` of this identity.
    #[must_use]
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The public key.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The signing key (for the protocol crates: X3DH, prekeys, records, checkpoints).
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Seals `plaintext` under a key derived from this identity, bound to `label` (a purpose,
    /// e.g. [`PREKEYS_LABEL`]): version ‖ 24-byte nonce ‖ XChaCha20-Poly1305 ciphertext.
    ///
    /// # Errors
    /// [`IdentityError::SealedDataCorrupt`] only for input beyond the cipher's limit.
    pub fn seal(
        &self,
        rng: &mut impl CryptoRng,
        label: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, IdentityError> {
        self.cipher()?
            .seal_stored(rng, &[SEALED_VERSION], &aad(label), plaintext)
            .map_err(|_| IdentityError::SealedDataCorrupt)
    }

    /// Opens data sealed by [`Identity::seal`] with the same `label`.
    ///
    /// # Errors
    /// [`IdentityError::SealedDataCorrupt`] if it was sealed by another identity, under another
    /// label, or altered.
    pub fn open(&self, label: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
        self.cipher()?
            .open_stored(&[SEALED_VERSION], &aad(label), sealed)
            .map_err(|_| IdentityError::SealedDataCorrupt)
    }

    /// The prekey store's snapshot (every prekey secret and the identity seed), sealed under
    /// [`PREKEYS_LABEL`], for [`crate::store::Store::put_prekeys`].
    ///
    /// # Errors
    /// As [`Identity::seal`].
    pub fn seal_prekeys(
        &self,
        rng: &mut impl CryptoRng,
        prekeys: &PrekeyStore,
    ) -> Result<Vec<u8>, IdentityError> {
        self.seal(rng, PREKEYS_LABEL, &prekeys.to_snapshot())
    }

    /// Opens prekeys sealed by [`Identity::seal_prekeys`].
    ///
    /// # Errors
    /// [`IdentityError::SealedDataCorrupt`], or [`IdentityError::Prekeys`] for a snapshot the
    /// ratchet crate refuses.
    pub fn open_prekeys(&self, sealed: &[u8]) -> Result<PrekeyStore, IdentityError> {
        let snapshot = self.open(PREKEYS_LABEL, sealed)?;
        let prekeys = PrekeyStore::from_snapshot(&snapshot).map_err(IdentityError::Prekeys)?;
        if prekeys.identity_key() != self.verifying_key() {
            return Err(IdentityError::SealedDataCorrupt);
        }
        Ok(prekeys)
    }

    /// The cipher of the storage key: HKDF-SHA256 of the identity seed.
    fn cipher(&self) -> Result<XChaCha20Poly1305, IdentityError> {
        let seed = self.key.to_seed();
        let mut key = Zeroizing::new([0u8; 32]);
        talos_crypto::hash::hkdf_sha256(None, &seed[..], STORAGE_KEY_INFO, &mut key[..])
            .map_err(|_| IdentityError::SealedDataCorrupt)?;
        Ok(XChaCha20Poly1305::new(&key))
    }
}

fn aad(label: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SEALED_AAD.len() + label.len());
    aad.extend_from_slice(SEALED_AAD);
    aad.extend_from_slice(label);
    aad
}

fn check_len(passphrase: &[u8]) -> Result<(), IdentityError> {
    if passphrase.len() > MAX_PASSPHRASE_LEN {
        return Err(IdentityError::PassphraseTooLong {
            len: passphrase.len(),
            max: MAX_PASSPHRASE_LEN,
        });
    }
    Ok(())
}

/// The passphrase from [`PASSPHRASE_ENV`].
///
/// # Errors
/// [`IdentityError::PassphraseNeeded`] if the variable is unset or empty (the CLI will then ask
/// interactively); [`IdentityError::PassphraseTooLong`].
pub fn passphrase_from_env() -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    passphrase_from_value(std::env::var_os(PASSPHRASE_ENV))
}

/// The passphrase from a variable's value, as [`passphrase_from_env`] reads it (separate so
/// that it can be tested without changing the environment). The bytes are taken as they are
/// (on Unix, any bytes; elsewhere, the UTF-8 of a valid string).
///
/// # Errors
/// As [`passphrase_from_env`].
pub fn passphrase_from_value(value: Option<OsString>) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let value = value.ok_or(IdentityError::PassphraseNeeded)?;
    checked_passphrase(Zeroizing::new(
        os_bytes(value).ok_or(IdentityError::PassphraseNeeded)?,
    ))
}

/// `passphrase` if it can be one: not empty, not too long.
///
/// # Errors
/// [`IdentityError::PassphraseNeeded`] if it is empty; [`IdentityError::PassphraseTooLong`].
pub fn checked_passphrase(
    passphrase: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    if passphrase.is_empty() {
        return Err(IdentityError::PassphraseNeeded);
    }
    check_len(&passphrase)?;
    Ok(passphrase)
}

#[cfg(unix)]
fn os_bytes(value: OsString) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    Some(value.into_vec())
}

#[cfg(not(unix))]
fn os_bytes(value: OsString) -> Option<Vec<u8>> {
    value.into_string().ok().map(String::into_bytes)
}
