//! [`KeyFile`]: an Ed25519 identity key at rest, encrypted under a passphrase.
//!
//! The file is deterministic CBOR (the contract `contracts/crypto/key_file.schema.json`
//! describes its fields, with bytes shown as base64url):
//!
//! ```text
//! { "v": 1, "kind": "ed25519", "public": h'<32-byte public key>',
//!   "kdf": { "alg": "argon2id", "m_kib": u32, "t": u32, "p": u32, "salt": h'<16 bytes>' },
//!   "nonce": h'<24 bytes>', "secret": h'<XChaCha20-Poly1305(seed), 48 bytes>' }
//! ```
//!
//! The key is Argon2id (v1.3) of the passphrase; the cipher is XChaCha20-Poly1305 with a
//! random nonce; the associated data is the CBOR encoding of every field but `secret`, so no
//! parameter can be changed without the file failing to open. The public key is in clear so
//! a file can be identified without the passphrase; after decryption it must match the seed.
//!
//! An unencrypted file (`KeyFile::unencrypted`, for `talos init --no-passphrase`) has no `kdf`
//! and no `nonce`, and `secret` is the seed itself.
//!
//! ```
//! use talos_crypto::{KeyFile, SigningKey, key_file::KdfParams};
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
//!
//! let key = SigningKey::from_seed(&[9; 32]);
//! // Tiny parameters for the example; use KdfParams::DEFAULT for real files.
//! let params = KdfParams::new(64, 1, 1).unwrap();
//! let file = KeyFile::encrypt(&mut rng, &key, b"correct horse", params).unwrap();
//! let bytes = file.to_bytes();
//!
//! let file = KeyFile::from_bytes(&bytes).unwrap();
//! assert_eq!(file.verifying_key(), key.verifying_key());
//! assert!(file.decrypt(b"wrong").is_err());
//! assert_eq!(file.decrypt(b"correct horse").unwrap().verifying_key(), key.verifying_key());
//! ```

use core::fmt;

use rand_core::CryptoRng;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::aead::XChaCha20Poly1305;
use crate::ed25519::{SEED_LEN, SigningKey, VerifyingKey};
use crate::error::{CborError, KeyError};
use crate::record::{Field, Record};
use crate::{base64url, cbor};

/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;
/// Salt length.
pub const SALT_LEN: usize = 16;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane: RFC 9106's second recommended setting (with one lane, as
    /// this implementation computes lanes sequentially). About 0.15 s here in release builds.
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// The most memory a file may ask for (1 GiB): bounds what opening a hostile file costs.
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// The most passes a file may ask for.
    pub const MAX_T: u32 = 16;
    /// The most lanes a file may ask for.
    pub const MAX_P: u32 = 16;

    /// Parameters: `m_kib` KiB of memory, `t` passes, `p` lanes.
    ///
    /// # Errors
    /// [`KeyFileError::InvalidParams`] unless `1 ≤ t ≤ 16`, `1 ≤ p ≤ 16` and
    /// `8p ≤ m_kib ≤ 1 GiB`.
    pub const fn new(m_kib: u32, t: u32, p: u32) -> Result<Self, KeyFileError> {
        if t == 0
            || t > Self::MAX_T
            || p == 0
            || p > Self::MAX_P
            || m_kib < 8 * p
            || m_kib > Self::MAX_M_KIB
        {
            return Err(KeyFileError::InvalidParams);
        }
        Ok(Self { m_kib, t, p })
    }

    /// Memory in KiB.
    #[must_use]
    pub const fn m_kib(&self) -> u32 {
        self.m_kib
    }

    /// Passes.
    #[must_use]
    pub const fn t(&self) -> u32 {
        self.t
    }

    /// Lanes.
    #[must_use]
    pub const fn p(&self) -> u32 {
        self.p
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An identity key file. `Debug` never shows secret bytes.
#[derive(Clone)]
pub struct KeyFile {
    public: VerifyingKey,
    protection: Protection,
}

#[derive(Clone)]
enum Protection {
    Clear {
        seed: Zeroizing<[u8; SEED_LEN]>,
    },
    Passphrase {
        params: KdfParams,
        salt: [u8; SALT_LEN],
        nonce: [u8; 24],
        ciphertext: Vec<u8>,
    },
}

impl KeyFile {
    /// Encrypts `key` under `passphrase`.
    ///
    /// # Errors
    /// [`KeyFileError::EmptyPassphrase`] for an empty passphrase (use
    /// [`KeyFile::unencrypted`] to store a key in clear, deliberately).
    pub fn encrypt(
        rng: &mut impl CryptoRng,
        key: &SigningKey,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Self, KeyFileError> {
        if passphrase.is_empty() {
            return Err(KeyFileError::EmptyPassphrase);
        }
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let public = key.verifying_key();
        let wrapping_key = derive_key(passphrase, &salt, params)?;
        let aad = header(&public, Some((params, &salt, &nonce))).to_cbor();
        let ciphertext = XChaCha20Poly1305::new(&wrapping_key)
            .seal(&nonce, &aad, &key.to_seed()[..])
            .map_err(|_| KeyFileError::DecryptionFailed)?;
        Ok(Self {
            public,
            protection: Protection::Passphrase {
                params,
                salt,
                nonce,
                ciphertext,
            },
        })
    }

    /// Stores `key` in clear. Anyone who can read the file has the key.
    #[must_use]
    pub fn unencrypted(key: &SigningKey) -> Self {
        Self {
            public: key.verifying_key(),
            protection: Protection::Clear {
                seed: key.to_seed(),
            },
        }
    }

    /// Whether a passphrase protects the key.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        matches!(self.protection, Protection::Passphrase { .. })
    }

    /// The public key, readable without the passphrase.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public
    }

    /// The Argon2id parameters of an encrypted file.
    #[must_use]
    pub fn kdf_params(&self) -> Option<KdfParams> {
        match &self.protection {
            Protection::Passphrase { params, .. } => Some(*params),
            Protection::Clear { .. } => None,
        }
    }

    /// The signing key. An unencrypted file ignores `passphrase`.
    ///
    /// # Errors
    /// [`KeyFileError::DecryptionFailed`] for a wrong passphrase or an altered file;
    /// [`KeyFileError::KeyMismatch`] if the decrypted seed does not belong to the public key.
    pub fn decrypt(&self, passphrase: &[u8]) -> Result<SigningKey, KeyFileError> {
        let key = match &self.protection {
            Protection::Clear { seed } => SigningKey::from_seed(seed),
            Protection::Passphrase {
                params,
                salt,
                nonce,
                ciphertext,
            } => {
                let wrapping_key = derive_key(passphrase, salt, *params)?;
                let aad = header(&self.public, Some((*params, salt, nonce))).to_cbor();
                let seed = Zeroizing::new(
                    XChaCha20Poly1305::new(&wrapping_key)
                        .open(nonce, &aad, ciphertext)
                        .map_err(|_| KeyFileError::DecryptionFailed)?,
                );
                SigningKey::from_seed_slice(&seed).map_err(|_| KeyFileError::DecryptionFailed)?
            }
        };
        if key.verifying_key() != self.public {
            return Err(KeyFileError::KeyMismatch);
        }
        Ok(key)
    }

    /// The file's bytes (deterministic CBOR).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let secret = match &self.protection {
            Protection::Clear { seed } => seed.to_vec(),
            Protection::Passphrase { ciphertext, .. } => ciphertext.clone(),
        };
        let protection = match &self.protection {
            Protection::Passphrase {
                params,
                salt,
                nonce,
                ..
            } => Some((*params, salt, nonce)),
            Protection::Clear { .. } => None,
        };
        header(&self.public, protection)
            .with("secret", Field::bytes(secret))
            .to_cbor()
    }

    /// Parses a key file. The passphrase is not needed, and nothing expensive runs.
    ///
    /// # Errors
    /// [`KeyFileError::Malformed`] for anything but a well-formed version-1 file in
    /// deterministic CBOR; [`KeyFileError::InvalidParams`] for Argon2 costs beyond the limits
    /// of [`KdfParams::new`]; [`KeyFileError::InvalidKey`] for a bad public key;
    /// [`KeyFileError::KeyMismatch`] for an unencrypted seed that does not match it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        let repr: Repr = cbor::decode(bytes)?;
        if repr.v != VERSION {
            return Err(KeyFileError::UnsupportedVersion(repr.v));
        }
        if repr.kind != "ed25519" {
            return Err(KeyFileError::Malformed("kind must be \"ed25519\""));
        }
        let public = VerifyingKey::from_slice(&repr.public).map_err(KeyFileError::InvalidKey)?;
        let protection = match (repr.kdf, repr.nonce) {
            (None, None) => {
                let seed: [u8; SEED_LEN] = repr.secret.as_slice().try_into().map_err(|_| {
                    KeyFileError::Malformed("an unencrypted secret must be 32 bytes")
                })?;
                if SigningKey::from_seed(&seed).verifying_key() != public {
                    return Err(KeyFileError::KeyMismatch);
                }
                Protection::Clear {
                    seed: Zeroizing::new(seed),
                }
            }
            (Some(kdf), Some(nonce)) => {
                if kdf.alg != "argon2id" {
                    return Err(KeyFileError::Malformed("kdf.alg must be \"argon2id\""));
                }
                if repr.secret.len() != SEED_LEN + crate::aead::TAG_LEN {
                    return Err(KeyFileError::Malformed(
                        "an encrypted secret must be 48 bytes",
                    ));
                }
                Protection::Passphrase {
                    params: KdfParams::new(kdf.m_kib, kdf.t, kdf.p)?,
                    salt: kdf
                        .salt
                        .as_slice()
                        .try_into()
                        .map_err(|_| KeyFileError::Malformed("kdf.salt must be 16 bytes"))?,
                    nonce: nonce
                        .as_slice()
                        .try_into()
                        .map_err(|_| KeyFileError::Malformed("nonce must be 24 bytes"))?,
                    ciphertext: repr.secret.clone(),
                }
            }
            _ => {
                return Err(KeyFileError::Malformed(
                    "kdf and nonce must be both present or both absent",
                ));
            }
        };
        let file = Self { public, protection };
        if file.to_bytes() != bytes {
            return Err(CborError::NonCanonical.into());
        }
        Ok(file)
    }
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("public", &self.public)
            .field("kdf_params", &self.kdf_params())
            .finish_non_exhaustive()
    }
}

fn header<'a>(
    public: &'a VerifyingKey,
    protection: Option<(KdfParams, &'a [u8; SALT_LEN], &'a [u8; 24])>,
) -> Record<'a> {
    let (kdf, nonce) = match protection {
        Some((params, salt, nonce)) => (
            Some(Field::Record(
                Record::new()
                    .with("alg", Field::text("argon2id"))
                    .with("m_kib", Field::uint(params.m_kib))
                    .with("t", Field::uint(params.t))
                    .with("p", Field::uint(params.p))
                    .with("salt", Field::bytes(&salt[..])),
            )),
            Some(Field::bytes(&nonce[..])),
        ),
        None => (None, None),
    };
    Record::new()
        .with("v", Field::uint(VERSION))
        .with("kind", Field::text("ed25519"))
        .with("public", Field::bytes(&public.as_bytes()[..]))
        .with_opt("kdf", kdf)
        .with_opt("nonce", nonce)
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|_| KeyFileError::InvalidParams)?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|_| KeyFileError::InvalidParams)?;
    Ok(key)
}

/// The decoding side of [`KeyFile::to_bytes`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u32,
    kind: String,
    #[serde(with = "base64url::serde")]
    public: Vec<u8>,
    #[serde(default)]
    kdf: Option<KdfRepr>,
    #[serde(default, with = "option_bytes")]
    nonce: Option<Vec<u8>>,
    #[serde(with = "base64url::serde")]
    secret: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfRepr {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
    #[serde(with = "base64url::serde")]
    salt: Vec<u8>,
}

mod option_bytes {
    use serde::{Deserialize as _, Deserializer};

    #[derive(serde::Deserialize)]
    struct Bytes(#[serde(with = "crate::base64url::serde")] Vec<u8>);

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Bytes>::deserialize(d)?.map(|b| b.0))
    }
}

/// Why a key file could not be made, read or opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Not a key file (or not deterministic CBOR).
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// A key file, but inconsistent.
    #[error("malformed key file: {0}")]
    Malformed(&'static str),
    /// A version this crate does not read.
    #[error("unsupported key file version {0}")]
    UnsupportedVersion(u32),
    /// Argon2 parameters outside the accepted range.
    #[error("invalid key file parameters: need 1 <= t <= 16, 1 <= p <= 16, 8p <= m_kib <= 1048576")]
    InvalidParams,
    /// The stored public key is not a valid Ed25519 key.
    #[error("invalid public key in key file: {0}")]
    InvalidKey(KeyError),
    /// Refused: an empty passphrase protects nothing. Use an unencrypted file deliberately.
    #[error("empty passphrase: use an unencrypted key file instead")]
    EmptyPassphrase,
    /// Wrong passphrase, or the file was altered.
    #[error("key file decryption failed: wrong passphrase or corrupted file")]
    DecryptionFailed,
    /// The secret does not belong to the public key stored beside it.
    #[error("key file is corrupted: secret and public key do not match")]
    KeyMismatch,
}
