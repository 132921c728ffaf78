//! `did:key` (W3C CCG did-method-key): a DID that is its own public key.
//!
//! `did:key:z` + base58btc(multicodec varint ‖ raw key): Ed25519 (`0xed`, `z6Mk…`) for
//! identities and X25519 (`0xec`, `z6LS…`) for key agreement. Parsing accepts exactly the
//! encoding [`DidKey`]'s `Display` writes and names what is wrong with anything else.
//!
//! ```
//! use talos_crypto::SigningKey;
//! use talos_did::DidKey;
//!
//! let mut seed = [0u8; 32];
//! seed[31] = 1;
//! let key = SigningKey::from_seed(&seed).verifying_key();
//! let did = DidKey::Ed25519(key);
//! assert_eq!(did.to_string(), "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG");
//! assert_eq!(did.to_string().parse::<DidKey>().unwrap(), did);
//! assert!("did:key:x6Mkjchh".parse::<DidKey>().is_err());
//! ```

use core::fmt;
use core::str::FromStr;

use talos_crypto::hash::{HASH_LEN, sha256};
use talos_crypto::{VerifyingKey, x25519};

use crate::DidError;

/// The multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed as an unsigned varint).
pub const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
/// The multicodec prefix of an X25519 public key (`x25519-pub`, 0xec as an unsigned varint).
pub const X25519_MULTICODEC: [u8; 2] = [0xec, 0x01];

/// The key a `did:key` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DidKey {
    /// An Ed25519 identity key (`z6Mk…`).
    Ed25519(VerifyingKey),
    /// An X25519 key-agreement key (`z6LS…`).
    X25519(x25519::PublicKey),
}

impl DidKey {
    /// The multibase value: `z` + base58btc(multicodec ‖ key), as in `did:key:<value>` and in
    /// `publicKeyMultibase`.
    #[must_use]
    pub fn multibase(&self) -> String {
        let (codec, key) = match self {
            Self::Ed25519(k) => (ED25519_MULTICODEC, k.to_bytes()),
            Self::X25519(k) => (X25519_MULTICODEC, k.to_bytes()),
        };
        let mut bytes = Vec::with_capacity(34);
        bytes.extend_from_slice(&codec);
        bytes.extend_from_slice(&key);
        format!("z{}", bs58::encode(bytes).into_string())
    }

    /// Parses a multibase value (`z6Mk…` or `z6LS…`).
    ///
    /// # Errors
    /// [`DidError`]: not base58btc multibase, an unknown or non-minimal multicodec, a key of
    /// the wrong length, an invalid Ed25519 key, or any non-canonical encoding.
    pub fn from_multibase(value: &str) -> Result<Self, DidError> {
        let b58 = value.strip_prefix('z').ok_or(DidError::BadMultibase)?;
        let bytes = bs58::decode(b58)
            .into_vec()
            .map_err(|_| DidError::BadMultibase)?;
        let (codec, used) = read_varint(&bytes)?;
        let key = &bytes[used..];
        let parsed = match codec {
            0xed => Self::Ed25519(VerifyingKey::from_slice(key).map_err(|e| match e {
                talos_crypto::KeyError::InvalidLength { expected, got } => {
                    DidError::WrongKeyLength { expected, got }
                }
                other => DidError::InvalidKey(other),
            })?),
            0xec => Self::X25519(x25519::PublicKey::from_slice(key).map_err(|_| {
                DidError::WrongKeyLength {
                    expected: 32,
                    got: key.len(),
                }
            })?),
            other => return Err(DidError::UnsupportedMulticodec(other)),
        };
        // One spelling per key: base58 leading zeros, varint padding and the like.
        if parsed.multibase() != value {
            return Err(DidError::NonCanonical);
        }
        Ok(parsed)
    }

    /// The Ed25519 key, for an Ed25519 `did:key`.
    #[must_use]
    pub fn ed25519(&self) -> Option<&VerifyingKey> {
        match self {
            Self::Ed25519(k) => Some(k),
            Self::X25519(_) => None,
        }
    }

    /// The DHT key under which this DID's discovery records are stored: SHA-256 of the raw
    /// public key (32 bytes, without the multicodec prefix). For an Ed25519 key its hex form is
    /// the upstream Talos address ([`VerifyingKey::address`]).
    #[must_use]
    pub fn kademlia_key(&self) -> [u8; HASH_LEN] {
        match self {
            Self::Ed25519(key) => sha256(key.as_bytes()),
            Self::X25519(key) => sha256(key.as_bytes()),
        }
    }
}

/// An unsigned LEB128 varint (multiformats), at most 9 bytes; rejects non-minimal encodings.
fn read_varint(bytes: &[u8]) -> Result<(u64, usize), DidError> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(DidError::NonCanonical);
            }
            return Ok((value, i + 1));
        }
    }
    Err(DidError::BadMultibase)
}

impl fmt::Display for DidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "did:key:{}", self.multibase())
    }
}

impl FromStr for DidKey {
    type Err = DidError;

    fn from_str(s: &str) -> Result<Self, DidError> {
        let rest = s.strip_prefix("did:").ok_or(DidError::NotADid)?;
        let value = rest
            .strip_prefix("key:")
            .ok_or_else(|| DidError::WrongMethod(crate::method_of(rest)))?;
        Self::from_multibase(value)
    }
}

/// The `did:key` of an Ed25519 public key, e.g. `did:key:z6Mk…`.
#[must_use]
pub fn from_ed25519(key: &VerifyingKey) -> String {
    DidKey::Ed25519(*key).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";

    #[test]
    fn errors_are_specific() {
        assert_eq!("key:z6Mk".parse::<DidKey>(), Err(DidError::NotADid));
        assert_eq!(
            "did:web:example.com".parse::<DidKey>(),
            Err(DidError::WrongMethod("web".into()))
        );
        assert_eq!(
            "did:key:x6Mkjchh".parse::<DidKey>(),
            Err(DidError::BadMultibase)
        );
        assert_eq!(
            "did:key:z0OIl".parse::<DidKey>(),
            Err(DidError::BadMultibase)
        ); // not base58
        // A known key with another multicodec (secp256k1-pub, 0xe7).
        let mut bytes = vec![0xe7, 0x01];
        bytes.extend_from_slice(&[2; 33]);
        let other = format!("did:key:z{}", bs58::encode(bytes).into_string());
        assert_eq!(
            other.parse::<DidKey>(),
            Err(DidError::UnsupportedMulticodec(0xe7))
        );
        // Ed25519 codec with 31 bytes.
        let mut short = ED25519_MULTICODEC.to_vec();
        short.extend_from_slice(&[1; 31]);
        let short = format!("did:key:z{}", bs58::encode(short).into_string());
        assert_eq!(
            short.parse::<DidKey>(),
            Err(DidError::WrongKeyLength {
                expected: 32,
                got: 31
            })
        );
        // A small-order Ed25519 key.
        let mut weak = ED25519_MULTICODEC.to_vec();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        weak.extend_from_slice(&identity);
        let weak = format!("did:key:z{}", bs58::encode(weak).into_string());
        assert!(matches!(
            weak.parse::<DidKey>(),
            Err(DidError::InvalidKey(_))
        ));
        // A leading base58 '1' (a zero byte) in front of a valid value.
        let padded = ONE.replace(":z", ":z1");
        assert!(padded.parse::<DidKey>().is_err());
        // A padded varint: 0xed 0x81 0x00 is 0xed written in three bytes.
        let mut long = vec![0xed, 0x81, 0x00];
        long.extend_from_slice(&ONE.parse::<DidKey>().unwrap().ed25519().unwrap().to_bytes());
        let long = format!("did:key:z{}", bs58::encode(long).into_string());
        assert_eq!(long.parse::<DidKey>(), Err(DidError::NonCanonical));
    }

    #[test]
    fn round_trips() {
        let did: DidKey = ONE.parse().unwrap();
        assert_eq!(did.to_string(), ONE);
        let x = DidKey::X25519(did.ed25519().unwrap().to_x25519());
        assert!(x.to_string().starts_with("did:key:z6LS"));
        assert_eq!(x.to_string().parse::<DidKey>().unwrap(), x);
    }
}
