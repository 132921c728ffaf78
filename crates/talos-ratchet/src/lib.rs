#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The pairwise Double Ratchet and its talos-v1.1 start.
pub mod kdf;
pub mod message;
pub mod session;
pub mod snapshot;
pub mod v1_1;
// talos-v2 session start: X3DH, prekeys, and (feature `pq`) PQXDH.
#[cfg(feature = "pq")]
#[cfg_attr(docsrs, doc(cfg(feature = "pq")))]
pub mod pqxdh;
pub mod prekeys;
pub mod x3dh;
// Sender-key groups.
pub mod group;

// Re-exports: pairwise core.
pub use message::{Header, Message, MessageError};
pub use session::{DecryptError, EncryptError, MAX_SKIP, Session, SessionConfig, SessionError};
pub use snapshot::{SessionSnapshot, SnapshotError};
// Re-exports: session start.
pub use prekeys::{
    BundleError, OneTimePrekey, PqPrekey, PrekeyBundle, PrekeyError, PrekeyStore, SignedPrekey,
};
pub use x3dh::{
    Agreement, HandshakeDecodeError, HandshakeError, InitialHeader, InitialMessage, PqHeader,
};
// Re-exports: groups.
pub use group::{
    DistributionError, GroupConfig, GroupDecodeError, GroupDecryptError, GroupEncryptError,
    GroupId, GroupMessage, GroupSession, GroupSnapshot, GroupSnapshotError, MemberId,
    MembershipError, SenderKeyDistribution,
};

/// The primitives this crate is built on (keys, RNG traits, a seedable RNG, `Zeroizing`),
/// re-exported so that a program using only this crate can name them.
pub use talos_crypto as crypto;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The protocol a session speaks. Every session and snapshot records it, and a message or
/// snapshot of one version is refused by a session of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// `talos-v1.1`: the upstream Talos contracts, started by the simplified single-DH
    /// handshake that binds no identity key. For interoperability only; never the default.
    V1_1,
    /// `talos-v2`: the same ratchet, started by X3DH (identity keys in the DH, signed prekey,
    /// one-time prekeys, AD = IK_A ‖ IK_B). The default.
    V2,
    /// `talos-v2` started by PQXDH: X3DH with an ML-KEM-768 shared secret mixed in.
    V2Pq,
}

impl ProtocolVersion {
    /// The name on the wire: `talos-v1.1`, `talos-v2` or `talos-v2-pq`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1_1 => "talos-v1.1",
            Self::V2 => "talos-v2",
            Self::V2Pq => "talos-v2-pq",
        }
    }

    /// The version named `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::V1_1, Self::V2, Self::V2Pq]
            .into_iter()
            .find(|v| v.as_str() == name)
    }
}
