//! Strict base64url without padding (RFC 4648 §5), the encoding of bytes inside Talos JSON.
//!
//! Decoding rejects padding, the standard alphabet's `+` and `/`, whitespace, a length of
//! 4k + 1 and non-zero trailing bits, so every byte string has exactly one accepted encoding
//! (upstream `test_vectors/base64url.json`).
//!
//! ```
//! use talos_crypto::base64url;
//! assert_eq!(base64url::encode(b"fo"), "Zm8");
//! assert_eq!(base64url::decode("Zm8").unwrap(), b"fo");
//! assert!(base64url::decode("Zm8=").is_err());
//! assert!(base64url::decode("Zm9").is_err()); // trailing bits set
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Base64Error;

/// Encodes `bytes` as unpadded base64url.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the unpadded base64url of `bytes` to `out`.
pub(crate) fn encode_to(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Appends the unpadded base64url of `bytes` to `out`, without an intermediate `String`.
pub fn encode_to_vec(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + (bytes.len() * 4).div_ceil(3), 0);
    // The slice has exactly the encoded length, so this cannot fail.
    let _ = URL_SAFE_NO_PAD.encode_slice(bytes, &mut out[start..]);
}

/// Decodes strict unpadded base64url.
///
/// # Errors
/// [`Base64Error::Invalid`] for anything but the one canonical encoding of some bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| Base64Error::Invalid {
            reason: e.to_string(),
        })
}

/// Decodes strict unpadded base64url into exactly `N` bytes.
///
/// # Errors
/// As [`decode`], and [`Base64Error::WrongLength`] if the value is not `N` bytes long.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], Base64Error> {
    let bytes = decode(text)?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| Base64Error::WrongLength { expected: N, got })
}

/// `#[serde(with = ...)]` helpers: bytes as base64url strings in human-readable formats
/// (JSON) and as byte strings in binary ones (CBOR).
pub mod serde {
    use core::fmt;

    use serde::de::Visitor;
    use serde::{Deserializer, Serializer};

    /// Serializes bytes: base64url in JSON, a byte string in CBOR.
    ///
    /// # Errors
    /// Whatever the serializer returns.
    pub fn serialize<S: Serializer>(
        bytes: impl AsRef<[u8]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&super::encode(bytes.as_ref()))
        } else {
            serializer.serialize_bytes(bytes.as_ref())
        }
    }

    /// Deserializes a `Vec<u8>` written by [`serialize`].
    ///
    /// # Errors
    /// For invalid base64url or a value of the wrong type.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(BytesVisitor)
        } else {
            deserializer.deserialize_byte_buf(BytesVisitor)
        }
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes (base64url in JSON)")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            super::decode(v).map_err(E::custom)
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }

    /// The same for fixed-size arrays: `#[serde(with = "talos_crypto::base64url::serde::array")]`.
    pub mod array {
        use serde::de::Error as _;
        use serde::{Deserializer, Serializer};

        /// Serializes a byte array; see [`super::serialize`].
        ///
        /// # Errors
        /// Whatever the serializer returns.
        pub fn serialize<S: Serializer, const N: usize>(
            bytes: &[u8; N],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            super::serialize(bytes, serializer)
        }

        /// Deserializes a byte array of exactly `N` bytes.
        ///
        /// # Errors
        /// For invalid base64url or a value of another length.
        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            deserializer: D,
        ) -> Result<[u8; N], D::Error> {
            let bytes = super::deserialize(deserializer)?;
            let got = bytes.len();
            bytes
                .try_into()
                .map_err(|_| D::Error::custom(format_args!("expected {N} bytes, got {got}")))
        }
    }
}
