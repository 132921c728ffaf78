//! Hashes and key derivation: SHA-256, BLAKE3, HMAC-SHA256 and HKDF-SHA256 (RFC 5869).

use hmac::{KeyInit as _, Mac as _};
use sha2::Digest as _;

use crate::error::VerifyError;

/// Length of SHA-256, BLAKE3 and HMAC-SHA256 outputs.
pub const HASH_LEN: usize = 32;

/// The most HKDF-SHA256 can produce from one PRK: 255 × 32 bytes.
pub const HKDF_MAX_OUTPUT: usize = 255 * HASH_LEN;

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; HASH_LEN] {
    sha2::Sha256::digest(data).into()
}

/// Incremental SHA-256, for input that arrives in pieces.
///
/// ```
/// use talos_crypto::hash::{Sha256, sha256};
/// let mut h = Sha256::new();
/// h.update(b"hello ");
/// h.update(b"world");
/// assert_eq!(h.finalize(), sha256(b"hello world"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Sha256(sha2::Sha256);

impl Sha256 {
    /// An empty hash state.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Absorbs `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything absorbed.
    #[must_use]
    pub fn finalize(self) -> [u8; HASH_LEN] {
        self.0.finalize().into()
    }
}

/// BLAKE3 of `data` (32-byte output).
#[must_use]
pub fn blake3(data: &[u8]) -> [u8; HASH_LEN] {
    *::blake3::hash(data).as_bytes()
}

/// Incremental BLAKE3.
pub use ::blake3::Hasher as Blake3;

/// HMAC-SHA256 of `data` under `key` (any length).
#[must_use]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; HASH_LEN] {
    new_hmac(key)
        .chain_update(data)
        .finalize()
        .into_bytes()
        .into()
}

/// Checks an HMAC-SHA256 tag in constant time.
///
/// # Errors
/// [`VerifyError`] if `tag` is not the 32-byte HMAC of `data` under `key`.
pub fn hmac_sha256_verify(key: &[u8], data: &[u8], tag: &[u8]) -> Result<(), VerifyError> {
    new_hmac(key)
        .chain_update(data)
        .verify_slice(tag)
        .map_err(|_| VerifyError)
}

fn new_hmac(key: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    // RFC 2104 §2: a key longer than the 64-byte block is hashed first, and every key is
    // zero-padded to the block. Doing that here lets us use the infallible block-key
    // constructor; the result is identical (RFC 4231 test cases 6 and 7 cover long keys).
    let mut block = zeroize::Zeroizing::new([0u8; 64]);
    if key.len() > block.len() {
        block[..HASH_LEN].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    hmac::Hmac::<sha2::Sha256>::new(&(*block).into())
}

/// HKDF-SHA256 extract-and-expand (RFC 5869) into `okm`.
///
/// `salt: None` is RFC 5869's "not provided", which equals 32 zero bytes.
///
/// # Errors
/// [`HkdfLengthError`] if `okm` is longer than [`HKDF_MAX_OUTPUT`].
///
/// ```
/// let mut okm = [0u8; 42];
/// talos_crypto::hash::hkdf_sha256(Some(b"salt"), b"input key", b"context", &mut okm).unwrap();
/// ```
pub fn hkdf_sha256(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
    okm: &mut [u8],
) -> Result<(), HkdfLengthError> {
    hkdf::Hkdf::<sha2::Sha256>::new(salt, ikm)
        .expand(info, okm)
        .map_err(|_| HkdfLengthError {
            requested: okm.len(),
        })
}

/// HKDF-SHA256 with one extract step and several expand steps: each `(info, okm)` of
/// `outputs` receives exactly what [`hkdf_sha256`]`(salt, ikm, info, okm)` would write, at
/// the cost of one extract for all of them (KDF chains that derive two keys from one input
/// save about a quarter of their work).
///
/// # Errors
/// [`HkdfLengthError`] if an output is longer than [`HKDF_MAX_OUTPUT`]; then nothing is
/// written.
///
/// ```
/// use talos_crypto::hash::{hkdf_sha256, hkdf_sha256_many};
///
/// let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
/// hkdf_sha256_many(None, b"chain key", &mut [(b"message", &mut a[..]), (b"chain", &mut b[..])])
///     .unwrap();
/// let mut one = [0u8; 32];
/// hkdf_sha256(None, b"chain key", b"chain", &mut one).unwrap();
/// assert_eq!(b, one);
/// ```
pub fn hkdf_sha256_many(
    salt: Option<&[u8]>,
    ikm: &[u8],
    outputs: &mut [(&[u8], &mut [u8])],
) -> Result<(), HkdfLengthError> {
    if let Some((_, okm)) = outputs.iter().find(|(_, okm)| okm.len() > HKDF_MAX_OUTPUT) {
        return Err(HkdfLengthError {
            requested: okm.len(),
        });
    }
    let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(salt, ikm);
    for (info, okm) in outputs.iter_mut() {
        hkdf.expand(info, okm).map_err(|_| HkdfLengthError {
            requested: okm.len(),
        })?;
    }
    Ok(())
}

/// HKDF-SHA256 into a fixed-size array; `N` up to [`HKDF_MAX_OUTPUT`].
///
/// # Errors
/// [`HkdfLengthError`] if `N` exceeds [`HKDF_MAX_OUTPUT`].
pub fn hkdf_sha256_array<const N: usize>(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Result<zeroize::Zeroizing<[u8; N]>, HkdfLengthError> {
    let mut okm = zeroize::Zeroizing::new([0u8; N]);
    hkdf_sha256(salt, ikm, info, okm.as_mut())?;
    Ok(okm)
}

/// HKDF was asked for more than 255 × 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("hkdf output too long: {requested} bytes requested, at most 8160")]
pub struct HkdfLengthError {
    /// The number of bytes requested.
    pub requested: usize,
}

/// Lowercase hex, the encoding of hashes and addresses in Talos objects.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The inverse of [`to_hex`] for a fixed length: exactly `2 × N` lowercase hex digits, or
/// `None` (uppercase, odd length and other characters are refused, so each value has one
/// accepted spelling).
#[must_use]
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    const fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *o = (nibble(*hi)? << 4) | nibble(*lo)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let bytes: [u8; 4] = [0x00, 0x0a, 0xf0, 0xff];
        assert_eq!(to_hex(&bytes), "000af0ff");
        assert_eq!(from_hex::<4>("000af0ff"), Some(bytes));
        assert_eq!(from_hex::<4>("000AF0FF"), None);
        assert_eq!(from_hex::<4>("000af0f"), None);
        assert_eq!(from_hex::<4>("000af0ff00"), None);
        assert_eq!(from_hex::<4>("000af0fg"), None);
        assert_eq!(from_hex::<4>("+00af0ff"), None);
    }

    #[test]
    fn hkdf_length_limit() {
        let mut big = vec![0u8; HKDF_MAX_OUTPUT + 1];
        assert_eq!(
            hkdf_sha256(None, b"k", b"", &mut big),
            Err(HkdfLengthError {
                requested: HKDF_MAX_OUTPUT + 1
            })
        );
        let mut max = vec![0u8; HKDF_MAX_OUTPUT];
        assert!(hkdf_sha256(None, b"k", b"", &mut max).is_ok());
    }

    #[test]
    fn absent_salt_equals_zero_salt() {
        let a = hkdf_sha256_array::<32>(None, b"ikm", b"info").unwrap();
        let b = hkdf_sha256_array::<32>(Some(&[0; 32]), b"ikm", b"info").unwrap();
        assert_eq!(*a, *b);
    }

    #[test]
    fn hmac_verify_rejects_wrong_and_short_tags() {
        let tag = hmac_sha256(b"key", b"data");
        assert!(hmac_sha256_verify(b"key", b"data", &tag).is_ok());
        let mut bad = tag;
        bad[31] ^= 1;
        assert!(hmac_sha256_verify(b"key", b"data", &bad).is_err());
        assert!(hmac_sha256_verify(b"key", b"data", &tag[..16]).is_err());
        assert!(hmac_sha256_verify(b"key", b"data", &[]).is_err());
    }

    #[test]
    fn hex() {
        assert_eq!(to_hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
