//! [`SealedBox`]: one message encrypted to an X25519 key, optionally signed by its sender
//! (the seed's "encrypt-then-sign" message).
//!
//! Construction, for a recipient X25519 key `R` (an identity's key-agreement key, see
//! [`VerifyingKey::to_x25519`]):
//!
//! 1. a fresh ephemeral X25519 key `E`; `dh = X25519(e, R)`, refused if all zeros;
//! 2. `key ‖ nonce = HKDF-SHA256(salt = none, ikm = dh, info = "talos-sealed-box-v1", L = 44)`;
//! 3. `metadata = canonical JSON of {v, mode, recipient, ephemeral, sender?}` (RFC 8785,
//!    keys base64url);
//! 4. `ciphertext = ChaCha20-Poly1305(key, nonce, aad = metadata, plaintext)`;
//! 5. authenticated form only: `sig = Ed25519(sender, metadata ‖ ciphertext)`.
//!
//! The anonymous form reveals nothing about the sender. The authenticated form proves that
//! the holder of `sender` sealed this plaintext for `R`; because `sender` is inside the AEAD's
//! associated data, a third party cannot strip the signature and re-sign the box as its own.
//! Either way the key is fresh for every box, so the fixed-per-key nonce is never reused.
//!
//! ```
//! use talos_crypto::{SealedBox, SigningKey};
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
//! # use rand_chacha::rand_core::SeedableRng;
//!
//! let alice = SigningKey::from_seed(&[1; 32]);
//! let bob = SigningKey::from_seed(&[2; 32]);
//! let to_bob = bob.verifying_key().to_x25519();
//!
//! let sealed = SealedBox::seal_authenticated(&mut rng, &alice, &to_bob, b"hi bob").unwrap();
//! let wire = sealed.to_cbor();
//! let opened = SealedBox::from_cbor(&wire).unwrap().open(&bob.to_x25519()).unwrap();
//! assert_eq!(opened.plaintext, b"hi bob");
//! assert_eq!(opened.sender, Some(alice.verifying_key()));
//! ```

use rand_core::CryptoRng;
use serde::Deserialize;

use crate::aead::ChaCha20Poly1305;
use crate::ed25519::{Signature, SigningKey, VerifyingKey};
use crate::error::{AeadError, CborError, KeyAgreementError};
use crate::json::JsonError;
use crate::record::{Field, Record};
use crate::x25519::{EphemeralSecret, PublicKey, StaticSecret};
use crate::{base64url, cbor, hash, json};

/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// HKDF `info` for the box key and nonce.
pub const KDF_INFO: &[u8] = b"talos-sealed-box-v1";

/// A sealed message. Build one with [`SealedBox::seal_anonymous`] or
/// [`SealedBox::seal_authenticated`]; read one with [`SealedBox::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBox {
    recipient: PublicKey,
    ephemeral: PublicKey,
    sender: Option<(VerifyingKey, Signature)>,
    ciphertext: Vec<u8>,
}

/// What [`SealedBox::open`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The decrypted message.
    pub plaintext: Vec<u8>,
    /// The verified sender, for the authenticated form; `None` for an anonymous box.
    pub sender: Option<VerifyingKey>,
}

/// Whether a box names its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Mode {
    /// No sender identity; no signature.
    Anonymous,
    /// Signed by the sender's Ed25519 identity key.
    Authenticated,
}

impl Mode {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Authenticated => "authenticated",
        }
    }
}

impl SealedBox {
    /// Seals `plaintext` for `recipient` without naming the sender.
    ///
    /// # Errors
    /// [`SealedBoxError::InvalidRecipient`] for a small-order recipient key;
    /// [`SealedBoxError::TooLong`] for a plaintext beyond the cipher's limit.
    pub fn seal_anonymous(
        rng: &mut impl CryptoRng,
        recipient: &PublicKey,
        plaintext: &[u8],
    ) -> Result<Self, SealedBoxError> {
        Self::seal(rng, recipient, None, plaintext)
    }

    /// Seals `plaintext` for `recipient` and signs it with `sender`.
    ///
    /// # Errors
    /// As [`SealedBox::seal_anonymous`].
    pub fn seal_authenticated(
        rng: &mut impl CryptoRng,
        sender: &SigningKey,
        recipient: &PublicKey,
        plaintext: &[u8],
    ) -> Result<Self, SealedBoxError> {
        Self::seal(rng, recipient, Some(sender), plaintext)
    }

    fn seal(
        rng: &mut impl CryptoRng,
        recipient: &PublicKey,
        sender: Option<&SigningKey>,
        plaintext: &[u8],
    ) -> Result<Self, SealedBoxError> {
        let secret = EphemeralSecret::generate(rng);
        let ephemeral = secret.public_key();
        let shared = secret
            .diffie_hellman(recipient)
            .map_err(|KeyAgreementError| SealedBoxError::InvalidRecipient)?;
        let sender_key = sender.map(SigningKey::verifying_key);
        let metadata = metadata(recipient, &ephemeral, sender_key.as_ref());
        let (cipher, nonce) = box_cipher(shared.as_bytes())?;
        let ciphertext = cipher
            .seal(&nonce, &metadata, plaintext)
            .map_err(|_| SealedBoxError::TooLong)?;
        let sender = match (sender, sender_key) {
            (Some(key), Some(public)) => {
                Some((public, key.sign(&signed_bytes(metadata, &ciphertext))))
            }
            _ => None,
        };
        Ok(Self {
            recipient: *recipient,
            ephemeral,
            sender,
            ciphertext,
        })
    }

    /// Whether the box is signed by its sender.
    #[must_use]
    pub fn mode(&self) -> Mode {
        if self.sender.is_some() {
            Mode::Authenticated
        } else {
            Mode::Anonymous
        }
    }

    /// The key the box is sealed to.
    #[must_use]
    pub fn recipient(&self) -> &PublicKey {
        &self.recipient
    }

    /// The sender named in an authenticated box (verified only by [`SealedBox::open`]).
    #[must_use]
    pub fn claimed_sender(&self) -> Option<&VerifyingKey> {
        self.sender.as_ref().map(|(key, _)| key)
    }

    /// Verifies the sender's signature (authenticated form), then decrypts.
    ///
    /// # Errors
    /// [`SealedBoxError::WrongRecipient`] if the box is sealed to another key;
    /// [`SealedBoxError::BadSignature`] if the sender's signature does not verify;
    /// [`SealedBoxError::DecryptionFailed`] if the ciphertext or metadata was altered.
    pub fn open(&self, recipient: &StaticSecret) -> Result<Opened, SealedBoxError> {
        if recipient.public_key() != self.recipient {
            return Err(SealedBoxError::WrongRecipient);
        }
        let sender_key = self.claimed_sender().copied();
        let metadata = metadata(&self.recipient, &self.ephemeral, sender_key.as_ref());
        if let Some((key, sig)) = &self.sender {
            let signed = signed_bytes(metadata.clone(), &self.ciphertext);
            key.verify(&signed, sig)
                .map_err(|_| SealedBoxError::BadSignature)?;
        }
        let shared = recipient
            .diffie_hellman(&self.ephemeral)
            .map_err(|KeyAgreementError| SealedBoxError::DecryptionFailed)?;
        let (cipher, nonce) = box_cipher(shared.as_bytes())?;
        let plaintext = cipher
            .open(&nonce, &metadata, &self.ciphertext)
            .map_err(|_| SealedBoxError::DecryptionFailed)?;
        Ok(Opened {
            plaintext,
            sender: sender_key,
        })
    }

    /// Opens a box that must be signed by `expected_sender`.
    ///
    /// # Errors
    /// [`SealedBoxError::UnexpectedSender`] for an anonymous box or another sender, and as
    /// [`SealedBox::open`].
    pub fn open_from(
        &self,
        recipient: &StaticSecret,
        expected_sender: &VerifyingKey,
    ) -> Result<Vec<u8>, SealedBoxError> {
        if self.claimed_sender() != Some(expected_sender) {
            return Err(SealedBoxError::UnexpectedSender);
        }
        Ok(self.open(recipient)?.plaintext)
    }

    /// The canonical JSON form (the contract `contracts/crypto/sealed_box.schema.json`).
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.record().to_json()
    }

    /// Parses the JSON form strictly: no unknown, missing, duplicate or `null` fields.
    ///
    /// # Errors
    /// [`SealedBoxError::Json`] or [`SealedBoxError::Malformed`].
    pub fn from_json(input: &[u8]) -> Result<Self, SealedBoxError> {
        let value = json::parse(input)?;
        let sealed = Self::from_repr(json::from_value(&value)?)?;
        // Any formatting is accepted, but not another value: an absent member written as
        // `null` would be one.
        if value.to_canonical_vec() != sealed.to_json() {
            return Err(SealedBoxError::Malformed(
                "absent members must be omitted, not null",
            ));
        }
        Ok(sealed)
    }

    /// The deterministic CBOR form, for Talos's binary wire.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        self.record().to_cbor()
    }

    /// Parses the CBOR form, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`SealedBoxError::Cbor`] or [`SealedBoxError::Malformed`].
    pub fn from_cbor(input: &[u8]) -> Result<Self, SealedBoxError> {
        let sealed = Self::from_repr(cbor::decode(input)?)?;
        if sealed.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(sealed)
    }

    fn record(&self) -> Record<'_> {
        header(&self.recipient, &self.ephemeral, self.claimed_sender())
            .with("ciphertext", Field::bytes(&self.ciphertext[..]))
            .with_opt(
                "sig",
                self.sender
                    .map(|(_, sig)| Field::bytes(sig.to_bytes().to_vec())),
            )
    }

    fn from_repr(repr: Repr) -> Result<Self, SealedBoxError> {
        if repr.v != VERSION {
            return Err(SealedBoxError::UnsupportedVersion(repr.v));
        }
        let sender = match (repr.mode, repr.sender, repr.sig) {
            (Mode::Anonymous, None, None) => None,
            (Mode::Authenticated, Some(key), Some(sig)) => Some((key, sig)),
            _ => {
                return Err(SealedBoxError::Malformed(
                    "sender and sig must be present exactly when mode is authenticated",
                ));
            }
        };
        if repr.ciphertext.len() < crate::aead::TAG_LEN {
            return Err(SealedBoxError::Malformed("ciphertext shorter than its tag"));
        }
        Ok(Self {
            recipient: repr.recipient,
            ephemeral: repr.ephemeral,
            sender,
            ciphertext: repr.ciphertext,
        })
    }
}

/// The decoding side of [`SealedBox::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u32,
    #[serde(default)]
    sig: Option<Signature>,
    mode: Mode,
    #[serde(default)]
    sender: Option<VerifyingKey>,
    ephemeral: PublicKey,
    recipient: PublicKey,
    #[serde(with = "base64url::serde")]
    ciphertext: Vec<u8>,
}

/// The fields every box has: the AEAD's associated data and the start of the signed bytes.
fn header<'a>(
    recipient: &'a PublicKey,
    ephemeral: &'a PublicKey,
    sender: Option<&'a VerifyingKey>,
) -> Record<'a> {
    let mode = if sender.is_some() {
        Mode::Authenticated
    } else {
        Mode::Anonymous
    };
    Record::new()
        .with("v", Field::uint(VERSION))
        .with("mode", Field::text(mode.as_str()))
        .with("recipient", Field::bytes(&recipient.as_bytes()[..]))
        .with("ephemeral", Field::bytes(&ephemeral.as_bytes()[..]))
        .with_opt("sender", sender.map(|k| Field::bytes(&k.as_bytes()[..])))
}

fn metadata(
    recipient: &PublicKey,
    ephemeral: &PublicKey,
    sender: Option<&VerifyingKey>,
) -> Vec<u8> {
    header(recipient, ephemeral, sender).to_json()
}

fn signed_bytes(mut metadata: Vec<u8>, ciphertext: &[u8]) -> Vec<u8> {
    metadata.extend_from_slice(ciphertext);
    metadata
}

fn box_cipher(shared: &[u8; 32]) -> Result<(ChaCha20Poly1305, [u8; 12]), SealedBoxError> {
    let okm = hash::hkdf_sha256_array::<44>(None, shared, KDF_INFO)
        .map_err(|_| SealedBoxError::DecryptionFailed)?;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&okm[..32]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    Ok((ChaCha20Poly1305::new(&key), nonce))
}

/// Why a sealed box could not be made, read or opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealedBoxError {
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// Well-formed, but inconsistent.
    #[error("malformed sealed box: {0}")]
    Malformed(&'static str),
    /// A version this crate does not read.
    #[error("unsupported sealed box version {0}")]
    UnsupportedVersion(u32),
    /// The recipient key has small order; nothing can be sealed to it.
    #[error("invalid recipient key: small order")]
    InvalidRecipient,
    /// The plaintext exceeds the cipher's limit.
    #[error("sealed box plaintext too long")]
    TooLong,
    /// The box is sealed to another key.
    #[error("sealed box is addressed to another key")]
    WrongRecipient,
    /// The sender's signature does not verify; treat the box as forged.
    #[error("invalid sender signature on sealed box")]
    BadSignature,
    /// The box is anonymous or signed by someone else than expected.
    #[error("sealed box is not signed by the expected sender")]
    UnexpectedSender,
    /// The ciphertext or metadata was altered; deliberately without detail.
    #[error("sealed box decryption failed")]
    DecryptionFailed,
}

impl From<AeadError> for SealedBoxError {
    fn from(err: AeadError) -> Self {
        match err {
            AeadError::TooLong => Self::TooLong,
            _ => Self::DecryptionFailed,
        }
    }
}
