//! [`GroupSnapshot`]: a group session's whole state, versioned, as deterministic CBOR.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use talos_crypto::record::{Field, Record};
use talos_crypto::{ErrorCode, SigningKey, VerifyingKey, Zeroizing, cbor};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::chain::{Key32, SkippedKeys};
use super::wire::{GroupDecodeError, uint64};
use super::{
    CHAIN_END, GroupConfig, GroupId, GroupSession, MAX_CHAINS_PER_SENDER, MAX_MEMBERS, MemberId,
    ReceiverChain, SenderChain,
};

/// The snapshot layout this crate writes; it reads this one only (a later layout adds
/// members with defaults, so older snapshots keep loading).
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Decoders refuse longer snapshots. The largest valid one, 1000 members each with 2000
/// stored keys of about 45 bytes, is about 90 MB; this bound is 256 MiB.
const MAX_SNAPSHOT_LEN: usize = 256 << 20;

/// A group session's state at one moment: the group, this member, the epoch, the bounds,
/// the member list, this member's sender key (chain key, position, signing seed) and every
/// other member's sender keys (chain key, position, public signing key, stored skipped
/// message keys).
///
/// Encoded as deterministic CBOR with text keys (`format` first in meaning: the layout
/// version, [`SNAPSHOT_FORMAT`]); unknown members are ignored when reading, so a later
/// layout that only adds members stays readable. It holds every secret of the session: it
/// zeroizes on drop, its `Debug` shows no key, and it should be stored only encrypted
/// ([`snapshot`](crate::snapshot)). Restoring a snapshot older than messages already sent
/// makes the sender reuse message keys: always restore the latest.
pub struct GroupSnapshot(SnapshotRepr);

impl GroupSnapshot {
    /// The layout version.
    #[must_use]
    pub fn format(&self) -> u32 {
        self.0.format
    }

    /// The deterministic CBOR encoding (zeroized when dropped).
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.record().to_cbor())
    }

    /// Decodes a snapshot and checks that it restores.
    ///
    /// # Errors
    /// [`GroupSnapshotError`] for bytes that are not a snapshot of a supported format, or
    /// whose content is inconsistent.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GroupSnapshotError> {
        if bytes.len() > MAX_SNAPSHOT_LEN {
            return Err(GroupDecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_SNAPSHOT_LEN,
            }
            .into());
        }
        let repr: SnapshotRepr = cbor::decode(bytes).map_err(GroupDecodeError::from)?;
        let snapshot = Self(repr);
        import(&snapshot)?;
        Ok(snapshot)
    }
}

impl fmt::Debug for GroupSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSnapshot")
            .field("format", &self.0.format)
            .field("epoch", &self.0.epoch)
            .field("members", &self.0.members.len())
            .finish_non_exhaustive()
    }
}

/// Its content wipes itself on drop.
impl ZeroizeOnDrop for GroupSnapshot {}

pub(super) fn export(session: &GroupSession) -> GroupSnapshot {
    let own = &session.own;
    GroupSnapshot(SnapshotRepr {
        format: SNAPSHOT_FORMAT,
        group: session.group.0,
        me: session.me.0,
        epoch: session.epoch,
        max_skip: session.config.max_skip,
        max_stored_keys: session.config.max_stored_keys,
        members: session.members.iter().map(|m| IdRepr(m.0)).collect(),
        own: OwnRepr {
            epoch: own.epoch,
            next: own.next,
            chain_key: *own.chain_key.as_bytes(),
            signing_seed: *own.signing_key.to_seed(),
        },
        senders: session
            .senders
            .iter()
            .map(|(id, chains)| SenderRepr {
                id: id.0,
                chains: chains
                    .iter()
                    .map(|c| ChainRepr {
                        epoch: c.epoch,
                        next: c.next,
                        chain_key: *c.chain_key.as_bytes(),
                        signing_key: c.signing_key.to_bytes(),
                        skipped: c
                            .skipped
                            .iter()
                            .map(|(n, mk)| SkippedRepr {
                                n,
                                mk: *mk.as_bytes(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    })
}

pub(super) fn import(snapshot: &GroupSnapshot) -> Result<GroupSession, GroupSnapshotError> {
    use GroupSnapshotError::Invalid;
    let r = &snapshot.0;
    if r.format != SNAPSHOT_FORMAT {
        return Err(GroupSnapshotError::UnsupportedFormat(r.format));
    }
    let config = GroupConfig {
        max_skip: r.max_skip,
        max_stored_keys: r.max_stored_keys,
    };
    let me = MemberId(r.me);
    let members: BTreeSet<MemberId> = r.members.iter().map(|m| MemberId(m.0)).collect();
    if members.len() != r.members.len() {
        return Err(Invalid("duplicate member"));
    }
    if members.len() > MAX_MEMBERS {
        return Err(Invalid("too many members"));
    }
    if !members.contains(&me) {
        return Err(Invalid(
            "the session's own member is not in the member list",
        ));
    }
    if r.own.epoch != r.epoch || r.own.next > CHAIN_END {
        return Err(Invalid("own sender key out of range"));
    }
    let own = SenderChain {
        epoch: r.own.epoch,
        signing_key: SigningKey::from_seed(&r.own.signing_seed),
        chain_key: Key32::new(r.own.chain_key),
        next: r.own.next,
    };
    let max_stored = config.max_span();
    let mut senders = BTreeMap::new();
    for sender in &r.senders {
        let id = MemberId(sender.id);
        if id == me || !members.contains(&id) {
            return Err(Invalid("sender key of a non-member"));
        }
        if sender.chains.is_empty() || sender.chains.len() > MAX_CHAINS_PER_SENDER {
            return Err(Invalid("wrong number of sender keys"));
        }
        if sender.chains.windows(2).any(|w| w[0].epoch >= w[1].epoch) {
            return Err(Invalid("sender keys not in increasing epoch order"));
        }
        let mut chains = Vec::with_capacity(sender.chains.len());
        for c in &sender.chains {
            if c.next > CHAIN_END {
                return Err(Invalid("receiving chain position out of range"));
            }
            let signing_key = VerifyingKey::from_bytes(&c.signing_key)
                .map_err(|_| Invalid("invalid signing key"))?;
            if c.skipped.windows(2).any(|w| w[0].n >= w[1].n)
                || c.skipped.last().is_some_and(|k| k.n >= c.next)
            {
                return Err(Invalid("stored keys out of order or ahead of their chain"));
            }
            if c.skipped.first().is_some_and(|k| {
                usize::try_from(c.next - k.n).map_or(true, |span| span > max_stored)
            }) {
                return Err(Invalid("stored keys beyond the configured bound"));
            }
            let keys = c.skipped.iter().map(|k| (k.n, Key32::new(k.mk))).collect();
            chains.push(ReceiverChain {
                epoch: c.epoch,
                signing_key,
                chain_key: Key32::new(c.chain_key),
                next: c.next,
                skipped: SkippedKeys::restore(keys, c.next),
            });
        }
        if chains.iter().map(|c| c.skipped.len()).sum::<usize>() > max_stored {
            return Err(Invalid("stored keys beyond the configured bound"));
        }
        if senders.insert(id, chains).is_some() {
            return Err(Invalid("duplicate sender"));
        }
    }
    Ok(GroupSession {
        config,
        group: GroupId(r.group),
        me,
        epoch: r.epoch,
        members,
        own,
        senders,
    })
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct SnapshotRepr {
    format: u32,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    group: [u8; 32],
    #[serde(with = "talos_crypto::base64url::serde::array")]
    me: [u8; 32],
    epoch: u32,
    max_skip: u32,
    max_stored_keys: u32,
    members: Vec<IdRepr>,
    own: OwnRepr,
    senders: Vec<SenderRepr>,
}

/// A member id, as a byte string.
#[derive(Deserialize, Zeroize)]
struct IdRepr(#[serde(with = "talos_crypto::base64url::serde::array")] [u8; 32]);

impl SnapshotRepr {
    fn record(&self) -> Record<'_> {
        Record::new()
            .with("format", Field::uint(self.format))
            .with("group", Field::bytes(&self.group[..]))
            .with("me", Field::bytes(&self.me[..]))
            .with("epoch", Field::uint(self.epoch))
            .with("max_skip", Field::uint(self.max_skip))
            .with("max_stored_keys", Field::uint(self.max_stored_keys))
            .with(
                "members",
                Field::List(
                    self.members
                        .iter()
                        .map(|m| Field::bytes(&m.0[..]))
                        .collect(),
                ),
            )
            .with(
                "own",
                Field::Record(
                    Record::new()
                        .with("epoch", Field::uint(self.own.epoch))
                        .with("next", uint64(self.own.next))
                        .with("chain_key", Field::bytes(&self.own.chain_key[..]))
                        .with("signing_seed", Field::bytes(&self.own.signing_seed[..])),
                ),
            )
            .with(
                "senders",
                Field::List(self.senders.iter().map(SenderRepr::field).collect()),
            )
    }
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct OwnRepr {
    epoch: u32,
    next: u64,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    chain_key: [u8; 32],
    #[serde(with = "talos_crypto::base64url::serde::array")]
    signing_seed: [u8; 32],
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct SenderRepr {
    #[serde(with = "talos_crypto::base64url::serde::array")]
    id: [u8; 32],
    chains: Vec<ChainRepr>,
}

impl SenderRepr {
    fn field(&self) -> Field<'_> {
        Field::Record(Record::new().with("id", Field::bytes(&self.id[..])).with(
            "chains",
            Field::List(self.chains.iter().map(ChainRepr::field).collect()),
        ))
    }
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct ChainRepr {
    epoch: u32,
    next: u64,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    chain_key: [u8; 32],
    #[serde(with = "talos_crypto::base64url::serde::array")]
    signing_key: [u8; 32],
    skipped: Vec<SkippedRepr>,
}

impl ChainRepr {
    fn field(&self) -> Field<'_> {
        Field::Record(
            Record::new()
                .with("epoch", Field::uint(self.epoch))
                .with("next", uint64(self.next))
                .with("chain_key", Field::bytes(&self.chain_key[..]))
                .with("signing_key", Field::bytes(&self.signing_key[..]))
                .with(
                    "skipped",
                    Field::List(
                        self.skipped
                            .iter()
                            .map(|k| {
                                Field::Record(
                                    Record::new()
                                        .with("n", uint64(k.n))
                                        .with("mk", Field::bytes(&k.mk[..])),
                                )
                            })
                            .collect(),
                    ),
                ),
        )
    }
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct SkippedRepr {
    n: u64,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    mk: [u8; 32],
}

/// Why a snapshot could not be read or restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupSnapshotError {
    /// The bytes are not a snapshot.
    #[error("invalid group snapshot: {0}")]
    Decode(#[from] GroupDecodeError),
    /// A layout this crate does not read (from a newer version).
    #[error("unsupported group snapshot format {0}")]
    UnsupportedFormat(u32),
    /// The content is inconsistent (corrupted, or not made by this crate).
    #[error("invalid group snapshot: {0}")]
    Invalid(&'static str),
}

impl From<&GroupSnapshotError> for ErrorCode {
    fn from(err: &GroupSnapshotError) -> Self {
        match err {
            GroupSnapshotError::UnsupportedFormat(_) => Self::ProtocolMismatch,
            _ => Self::InvalidInput,
        }
    }
}
