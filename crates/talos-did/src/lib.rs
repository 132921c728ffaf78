#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod did;
pub mod document;
pub mod key;
pub mod peer;
pub mod puzzle;
pub mod record;
pub mod resolver;
pub mod trust;

pub use did::Did;
pub use document::{
    Document, DocumentError, MethodType, Purpose, Relationship, Service, Style, VerificationMethod,
};
pub use key::DidKey;
pub use peer::{Element, PeerDid};
pub use record::{DiscoveryRecord, RecordFields, ValidRecord, validate_batch};
pub use resolver::Resolver;
pub use trust::{
    Endorsement, EndorsementId, Revocation, TrustGraph, TrustLevel, TrustPath, TrustPolicy, Verdict,
};

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a DID (or part of one) was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DidError {
    /// Not a DID at all: it must start with `did:`.
    #[error("not a DID: expected did:<method>:<id>")]
    NotADid,
    /// A DID of another method than the one expected (or than this crate supports).
    #[error("unsupported DID method {0:?}")]
    WrongMethod(String),
    /// The key is not base58btc multibase (`z…`).
    #[error("bad multibase: expected base58btc with the 'z' prefix")]
    BadMultibase,
    /// A multicodec other than ed25519-pub (0xed) or x25519-pub (0xec).
    #[error("unsupported multicodec 0x{0:x}")]
    UnsupportedMulticodec(u64),
    /// The key after the multicodec has the wrong length.
    #[error("wrong key length: expected {expected} bytes, got {got}")]
    WrongKeyLength {
        /// The key length the multicodec requires.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// The Ed25519 key is not valid (non-canonical, not on the curve, or of small order).
    #[error("invalid key in DID: {0}")]
    InvalidKey(talos_crypto::KeyError),
    /// The DID decodes, but is not the one canonical spelling of its key.
    #[error("non-canonical DID encoding")]
    NonCanonical,
    /// Longer than [`did::MAX_DID_LEN`] bytes; refused before any decoding.
    #[error("DID too long: {len} bytes, limit {max}")]
    TooLong {
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A did:peer numalgo this crate does not implement (only 0 and 2 are).
    #[error("unsupported did:peer numalgo {0:?}")]
    UnsupportedNumalgo(char),
    /// A did:peer:2 element with a purpose code other than A, E, V, I, D or S.
    #[error("unknown did:peer purpose code {0:?}")]
    UnknownPurpose(char),
    /// A did:peer key whose type does not fit its purpose: `E` needs X25519, the others Ed25519.
    #[error("did:peer key type does not fit purpose {0:?}")]
    KeyPurposeMismatch(char),
    /// More did:peer:2 elements than [`peer::MAX_ELEMENTS`].
    #[error("too many did:peer elements: {got}, limit {max}")]
    TooManyElements {
        /// The number found.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A did:peer:2 service that is not strict base64url of a valid service object.
    #[error("bad did:peer service: {0}")]
    BadService(String),
    /// A did:peer string that does not follow the method's grammar.
    #[error("malformed did:peer: {0}")]
    MalformedPeer(&'static str),
}

impl From<&DidError> for talos_crypto::ErrorCode {
    fn from(_: &DidError) -> Self {
        Self::InvalidInput
    }
}

/// The method of `rest` (the part after `did:`), cut to 32 characters.
fn method_of(rest: &str) -> String {
    rest.split(':')
        .next()
        .unwrap_or_default()
        .chars()
        .take(32)
        .collect()
}
