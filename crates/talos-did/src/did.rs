//! [`Did`]: any DID this crate understands (`did:key`, `did:peer` numalgo 0 and 2), parsed
//! strictly, with the key that authenticates as it.
//!
//! Parsing dispatches on the method and names what is wrong with a malformed DID: not a DID,
//! another method, bad multibase, an unknown multicodec, a key of the wrong length, an invalid
//! key, or a non-canonical spelling. Whatever parses displays as exactly the input, so a DID
//! has one accepted spelling and can be compared as a string.
//!
//! ```
//! use talos_did::Did;
//!
//! let did: Did = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG".parse().unwrap();
//! let key = did.signing_key().unwrap();
//! assert_eq!(did.address().unwrap(), key.address());
//! assert_eq!(did.kademlia_key().unwrap(), talos_crypto::hash::sha256(key.as_bytes()));
//!
//! let peer: Did = "did:peer:0z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG".parse().unwrap();
//! assert_eq!(peer.signing_key(), Some(key));
//! assert!("did:web:example.com".parse::<Did>().is_err());
//! ```

use core::fmt;
use core::str::FromStr;

use talos_crypto::VerifyingKey;

use crate::peer::PeerDid;
use crate::{DidError, DidKey};

/// The longest DID accepted, in bytes: room for a did:peer:2 with a few keys and services.
/// Longer input is refused before it is decoded.
pub const MAX_DID_LEN: usize = 2048;

/// A DID of a supported method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Did {
    /// `did:key:z…`: the DID is its public key ([W3C CCG did:key]).
    ///
    /// [W3C CCG did:key]: https://w3c-ccg.github.io/did-method-key/
    Key(DidKey),
    /// `did:peer:0…` or `did:peer:2…` ([DIF peer DID method]).
    ///
    /// [DIF peer DID method]: https://identity.foundation/peer-did-method-spec/
    Peer(PeerDid),
}

impl Did {
    /// The Ed25519 key that authenticates as this DID: the key of an Ed25519 `did:key` or
    /// `did:peer:0`, or the first authentication (`V`) key of a `did:peer:2`. `None` for a DID
    /// without one (an X25519 `did:key`, a `did:peer:2` without `V` keys).
    #[must_use]
    pub fn signing_key(&self) -> Option<VerifyingKey> {
        match self {
            Self::Key(key) => key.ed25519().copied(),
            Self::Peer(peer) => peer.signing_key(),
        }
    }

    /// The Kademlia id of this DID: SHA-256 of [`Did::signing_key`] (REFERENCE §4.4: an id is
    /// H(public key)).
    #[must_use]
    pub fn kademlia_key(&self) -> Option<[u8; 32]> {
        self.signing_key()
            .map(|key| DidKey::Ed25519(key).kademlia_key())
    }

    /// The upstream Talos address: lowercase hex SHA-256 of [`Did::signing_key`]
    /// ([`VerifyingKey::address`]).
    #[must_use]
    pub fn address(&self) -> Option<String> {
        self.signing_key().map(|key| key.address())
    }

    /// The method name: `"key"` or `"peer"`.
    #[must_use]
    pub fn method(&self) -> &'static str {
        match self {
            Self::Key(_) => "key",
            Self::Peer(_) => "peer",
        }
    }
}

impl From<DidKey> for Did {
    fn from(key: DidKey) -> Self {
        Self::Key(key)
    }
}

impl From<PeerDid> for Did {
    fn from(peer: PeerDid) -> Self {
        Self::Peer(peer)
    }
}

impl From<VerifyingKey> for Did {
    /// The Ed25519 `did:key` of `key`.
    fn from(key: VerifyingKey) -> Self {
        Self::Key(DidKey::Ed25519(key))
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(key) => key.fmt(f),
            Self::Peer(peer) => peer.fmt(f),
        }
    }
}

impl FromStr for Did {
    type Err = DidError;

    fn from_str(s: &str) -> Result<Self, DidError> {
        check_len(s)?;
        let rest = s.strip_prefix("did:").ok_or(DidError::NotADid)?;
        if rest.starts_with("key:") {
            Ok(Self::Key(s.parse()?))
        } else if rest.starts_with("peer:") {
            Ok(Self::Peer(s.parse()?))
        } else {
            Err(DidError::WrongMethod(crate::method_of(rest)))
        }
    }
}

/// Refuses input longer than [`MAX_DID_LEN`].
pub(crate) fn check_len(s: &str) -> Result<(), DidError> {
    if s.len() > MAX_DID_LEN {
        return Err(DidError::TooLong {
            len: s.len(),
            max: MAX_DID_LEN,
        });
    }
    Ok(())
}

impl serde::Serialize for Did {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Did {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DidVisitor;
        impl serde::de::Visitor<'_> for DidVisitor {
            type Value = Did;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a did:key or did:peer string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Did, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DidVisitor)
    }
}

/// Whether `s` has the generic DID syntax of DID Core §3.1 (`did:<method>:<method-specific-id>`,
/// method `[a-z0-9]+`, id characters `[A-Za-z0-9._:-]` or `%XX`, not ending in `:`), within
/// [`MAX_DID_LEN`]. Used for DIDs of any method inside documents (ids, controllers).
#[must_use]
pub fn is_did_syntax(s: &str) -> bool {
    if s.len() > MAX_DID_LEN {
        return false;
    }
    let Some(rest) = s.strip_prefix("did:") else {
        return false;
    };
    let Some((method, id)) = rest.split_once(':') else {
        return false;
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return false;
    }
    if id.is_empty() || id.ends_with(':') {
        return false;
    }
    let bytes = id.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':') {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";

    #[test]
    fn dispatches_on_method() {
        assert!(matches!(ONE.parse::<Did>(), Ok(Did::Key(_))));
        let peer = ONE.replace("did:key:", "did:peer:0");
        assert!(matches!(peer.parse::<Did>(), Ok(Did::Peer(_))));
        assert_eq!(
            "did:web:example.com".parse::<Did>(),
            Err(DidError::WrongMethod("web".into()))
        );
        assert_eq!("didkey".parse::<Did>(), Err(DidError::NotADid));
        let long = format!("did:key:z{}", "1".repeat(MAX_DID_LEN));
        assert!(matches!(long.parse::<Did>(), Err(DidError::TooLong { .. })));
    }

    #[test]
    fn generic_syntax() {
        assert!(is_did_syntax(ONE));
        assert!(is_did_syntax("did:web:example.com%3A8443:agents:alice"));
        for bad in [
            "did:web",
            "did::x",
            "did:Web:x",
            "did:web:",
            "did:web:a:",
            "did:web:a b",
            "did:web:%zz",
            "did:web:%4",
            "did:key:z#frag",
        ] {
            assert!(!is_did_syntax(bad), "{bad}");
        }
    }
}
