//! Errors. One narrow enum per operation, and [`Error`] that holds any of them.

use crate::json::JsonError;
use crate::key_file::KeyFileError;
use crate::sealed_box::SealedBoxError;
use crate::signed::SignedMessageError;

/// The upstream Talos error taxonomy (`sdk/ERROR_TAXONOMY.md`), shared by every Talos crate.
///
/// Errors map to a code with `ErrorCode::from(&err)`; the code is what crosses a
/// process boundary, the error's `Display` text is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `TALOS_DENIED`: the request was understood and refused.
    Denied,
    /// `TALOS_INVALID_CAPABILITY`: a capability token is malformed, expired or revoked.
    InvalidCapability,
    /// `TALOS_PROTOCOL_MISMATCH`: the peer speaks another protocol version.
    ProtocolMismatch,
    /// `TALOS_FRAME_INVALID`: a frame could not be decoded.
    FrameInvalid,
    /// `TALOS_CRYPTO_ERROR`: a signature, MAC or ciphertext did not verify.
    CryptoError,
    /// `TALOS_INVALID_INPUT`: an argument was malformed (wrong length, bad encoding).
    InvalidInput,
    /// `TALOS_TRANSPORT_TIMEOUT`: the peer did not answer in time.
    TransportTimeout,
    /// `TALOS_TRANSPORT_ERROR`: the transport failed.
    TransportError,
}

impl ErrorCode {
    /// The code as upstream spells it, e.g. `"TALOS_INVALID_INPUT"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "TALOS_DENIED",
            Self::InvalidCapability => "TALOS_INVALID_CAPABILITY",
            Self::ProtocolMismatch => "TALOS_PROTOCOL_MISMATCH",
            Self::FrameInvalid => "TALOS_FRAME_INVALID",
            Self::CryptoError => "TALOS_CRYPTO_ERROR",
            Self::InvalidInput => "TALOS_INVALID_INPUT",
            Self::TransportTimeout => "TALOS_TRANSPORT_TIMEOUT",
            Self::TransportError => "TALOS_TRANSPORT_ERROR",
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key or seed could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An Ed25519 seed must be exactly 32 bytes. Pass the RFC 8032 private seed, not an expanded key.
    #[error("invalid seed length: expected 32 bytes, got {got}")]
    InvalidSeedLength {
        /// The length that was passed.
        got: usize,
    },
    /// A public key must be exactly 32 bytes.
    #[error("invalid key length: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// The required length.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// The bytes are not the canonical encoding of a curve point. Reject the key.
    #[error("invalid key: not a canonical point encoding")]
    NonCanonical,
    /// The bytes do not decode to a point on Edwards25519. Reject the key.
    #[error("invalid key: not a point on the curve")]
    NotOnCurve,
    /// The key is a point of small order, for which signatures prove nothing. Reject the key.
    #[error("invalid key: small-order (weak) public key")]
    WeakKey,
}

/// A signature did not verify. Deliberately without detail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("signature verification failed")]
pub struct VerifyError;

/// A batch of signatures did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchVerifyError {
    /// The three slices differ in length: a caller bug.
    #[error(
        "signature batch length mismatch: {messages} messages, {signatures} signatures, {keys} keys"
    )]
    LengthMismatch {
        /// Number of messages passed.
        messages: usize,
        /// Number of signatures passed.
        signatures: usize,
        /// Number of keys passed.
        keys: usize,
    },
    /// The signature at `index` (the first bad one) does not verify; treat its message as forged.
    #[error("signature verification failed for batch item {index}")]
    Invalid {
        /// Index of the first signature that fails on its own.
        index: usize,
    },
}

/// X25519 key agreement produced the all-zero secret: the peer's key has small order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("key agreement failed: the peer's public key has small order")]
pub struct KeyAgreementError;

/// Authenticated encryption failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AeadError {
    /// The ciphertext, nonce, key or associated data is wrong; deliberately without detail.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The input exceeds what the cipher can process under one nonce (about 256 GiB).
    #[error("aead input too long")]
    TooLong,
}

/// Strict base64url decoding failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// Not unpadded base64url (RFC 4648 §5): padding, `+`, `/`, whitespace, a bad length or
    /// non-zero trailing bits.
    #[error("invalid base64url: {reason}")]
    Invalid {
        /// What was wrong.
        reason: String,
    },
    /// The decoded value has the wrong length.
    #[error("invalid base64url value length: expected {expected} bytes, got {got}")]
    WrongLength {
        /// The required number of bytes.
        expected: usize,
        /// The number of bytes decoded.
        got: usize,
    },
}

/// CBOR decoding failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CborError {
    /// The bytes are not CBOR of the expected shape.
    #[error("malformed CBOR: {reason}")]
    Malformed {
        /// What the decoder reported.
        reason: String,
    },
    /// The bytes decode, but are not the one deterministic encoding of their value
    /// (RFC 8949 §4.2.1); a different encoding of the same value is refused.
    #[error("CBOR is not in deterministic encoding")]
    NonCanonical,
}

/// Any error from this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// See [`VerifyError`].
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// See [`BatchVerifyError`].
    #[error(transparent)]
    BatchVerify(#[from] BatchVerifyError),
    /// See [`KeyAgreementError`].
    #[error(transparent)]
    KeyAgreement(#[from] KeyAgreementError),
    /// See [`AeadError`].
    #[error(transparent)]
    Aead(#[from] AeadError),
    /// See [`Base64Error`].
    #[error(transparent)]
    Base64(#[from] Base64Error),
    /// See [`CborError`].
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// See [`JsonError`].
    #[error(transparent)]
    Json(#[from] JsonError),
    /// See [`SealedBoxError`].
    #[error(transparent)]
    SealedBox(#[from] SealedBoxError),
    /// See [`KeyFileError`].
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// See [`SignedMessageError`].
    #[error(transparent)]
    SignedMessage(#[from] SignedMessageError),
}

impl From<&Error> for ErrorCode {
    fn from(err: &Error) -> Self {
        match err {
            Error::Verify(_)
            | Error::BatchVerify(BatchVerifyError::Invalid { .. })
            | Error::KeyAgreement(_)
            | Error::Aead(AeadError::DecryptionFailed)
            | Error::SealedBox(SealedBoxError::DecryptionFailed | SealedBoxError::BadSignature)
            | Error::KeyFile(KeyFileError::DecryptionFailed | KeyFileError::KeyMismatch)
            | Error::SignedMessage(SignedMessageError::BadSignature) => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}
