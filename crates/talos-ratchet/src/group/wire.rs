//! The two objects groups exchange: [`GroupMessage`] and [`SenderKeyDistribution`], each in
//! canonical JSON and deterministic CBOR with strict decoders.

use core::fmt;

use serde::Deserialize;
use talos_crypto::json::{self, JsonError};
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::{CborError, ErrorCode, Signature, VerifyingKey, Zeroizing, cbor};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::chain::Key32;
use super::{GroupId, MESSAGE_CONTEXT, MemberId};

/// The format version of group messages and distributions (`"v"`).
pub const WIRE_VERSION: u32 = 1;

/// Longest plaintext a group message carries: 1 MiB. Larger payloads go through talos-wire's
/// chunked streams.
pub const MAX_PLAINTEXT_LEN: usize = 1 << 20;

/// Decoders refuse longer input before parsing: the JSON form of a message with the longest
/// plaintext, with room for the other members.
pub const MAX_MESSAGE_LEN: usize = (MAX_PLAINTEXT_LEN + 16).div_ceil(3) * 4 + 1024;

/// Decoders of distributions refuse longer input (the JSON form is about 220 bytes).
pub const MAX_DISTRIBUTION_LEN: usize = 1024;

/// Length of [`GroupMessage::header_bytes`]: context, group, sender, epoch, iteration.
pub const HEADER_LEN: usize = MESSAGE_CONTEXT.len() + 32 + 32 + 4 + 4;

/// One encrypted, signed group message (contract `ratchet/group_message.schema.json`).
///
/// Decoding checks only the format; [`GroupSession::decrypt`](super::GroupSession::decrypt)
/// checks the signature and opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMessage {
    pub(super) group: GroupId,
    pub(super) sender: MemberId,
    pub(super) epoch: u32,
    pub(super) iteration: u32,
    pub(super) ciphertext: Vec<u8>,
    pub(super) signature: Signature,
}

impl GroupMessage {
    /// The group.
    #[must_use]
    pub fn group(&self) -> &GroupId {
        &self.group
    }

    /// The sending member.
    #[must_use]
    pub fn sender(&self) -> &MemberId {
        &self.sender
    }

    /// The epoch of the sender key that encrypted it.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The position in the sender's chain.
    #[must_use]
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// `ChaCha20-Poly1305 ciphertext ‖ tag`.
    #[must_use]
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The sender key's Ed25519 signature over [`GroupMessage::signed_bytes`].
    #[must_use]
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// `"talos-group-v1 message" ‖ group ‖ sender ‖ be32(epoch) ‖ be32(iteration)`: the AEAD's
    /// associated data.
    #[must_use]
    pub fn header_bytes(&self) -> [u8; HEADER_LEN] {
        header_bytes(&self.group, &self.sender, self.epoch, self.iteration)
    }

    /// [`GroupMessage::header_bytes`] ‖ ciphertext: what the signature covers.
    #[must_use]
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.ciphertext.len());
        out.extend_from_slice(&self.header_bytes());
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// The canonical JSON form.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        self.record().to_json()
    }

    /// The deterministic CBOR form.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        self.record().to_cbor()
    }

    /// Appends the deterministic CBOR form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.record().write_cbor(out);
    }

    /// Parses the JSON form strictly: canonical or not, but no unknown, duplicate, missing or
    /// `null` members, exact key lengths, strict base64url.
    ///
    /// # Errors
    /// [`GroupDecodeError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, GroupDecodeError> {
        check_len(input, MAX_MESSAGE_LEN)?;
        let value = json::parse(input)?;
        let message = Self::from_repr(json::from_value(&value)?)?;
        if value.to_canonical_vec() != message.to_json() {
            return Err(GroupDecodeError::Malformed("not in canonical form"));
        }
        Ok(message)
    }

    /// Parses the CBOR form, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`GroupDecodeError`] naming what is wrong.
    pub fn from_cbor(input: &[u8]) -> Result<Self, GroupDecodeError> {
        check_len(input, MAX_MESSAGE_LEN)?;
        let message = Self::from_repr(cbor::decode(input)?)?;
        if message.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(message)
    }

    fn record(&self) -> Record<'_> {
        Record::new()
            .with("v", Field::uint(WIRE_VERSION))
            .with("group", Field::bytes(&self.group.0[..]))
            .with("sender", Field::bytes(&self.sender.0[..]))
            .with("epoch", Field::uint(self.epoch))
            .with("iteration", Field::uint(self.iteration))
            .with("ciphertext", Field::bytes(&self.ciphertext[..]))
            .with("sig", Field::bytes(self.signature.to_bytes().to_vec()))
    }

    fn from_repr(repr: MessageRepr) -> Result<Self, GroupDecodeError> {
        if repr.v != WIRE_VERSION {
            return Err(GroupDecodeError::UnsupportedVersion(repr.v));
        }
        if repr.ciphertext.len() < talos_crypto::aead::TAG_LEN {
            return Err(GroupDecodeError::Malformed(
                "ciphertext shorter than the 16-byte tag",
            ));
        }
        if repr.ciphertext.len() > MAX_PLAINTEXT_LEN + talos_crypto::aead::TAG_LEN {
            return Err(GroupDecodeError::TooLarge {
                len: repr.ciphertext.len(),
                max: MAX_PLAINTEXT_LEN + talos_crypto::aead::TAG_LEN,
            });
        }
        Ok(Self {
            group: GroupId(repr.group),
            sender: MemberId(repr.sender),
            epoch: repr.epoch,
            iteration: repr.iteration,
            ciphertext: repr.ciphertext,
            signature: repr.sig,
        })
    }
}

pub(super) fn header_bytes(
    group: &GroupId,
    sender: &MemberId,
    epoch: u32,
    iteration: u32,
) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    let (context, rest) = out.split_at_mut(MESSAGE_CONTEXT.len());
    context.copy_from_slice(MESSAGE_CONTEXT);
    rest[..32].copy_from_slice(&group.0);
    rest[32..64].copy_from_slice(&sender.0);
    rest[64..68].copy_from_slice(&epoch.to_be_bytes());
    rest[68..72].copy_from_slice(&iteration.to_be_bytes());
    out
}

/// A member's sender key as another member receives it (contract
/// `ratchet/sender_key_distribution.schema.json`): the chain key at `iteration` and the public
/// half of the signing key, for one epoch.
///
/// It holds a secret chain key: it is zeroized on drop, its `Debug` redacts it, and it must
/// travel only inside a pairwise [`Session`](crate::session) message to each member. Whoever
/// holds it can read every message the sender sends from `iteration` on in this epoch (and
/// none before).
pub struct SenderKeyDistribution {
    pub(super) group: GroupId,
    pub(super) sender: MemberId,
    pub(super) epoch: u32,
    pub(super) iteration: u32,
    pub(super) chain_key: Key32,
    pub(super) signing_key: VerifyingKey,
}

impl SenderKeyDistribution {
    /// The group.
    #[must_use]
    pub fn group(&self) -> &GroupId {
        &self.group
    }

    /// The member whose sender key this is.
    #[must_use]
    pub fn sender(&self) -> &MemberId {
        &self.sender
    }

    /// The epoch of the sender key.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The first iteration the chain key opens.
    #[must_use]
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The sender key's public signing key.
    #[must_use]
    pub fn signing_key(&self) -> &VerifyingKey {
        &self.signing_key
    }

    /// The canonical JSON form. It contains the chain key: zeroized when dropped.
    #[must_use]
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.record().to_json())
    }

    /// The deterministic CBOR form. It contains the chain key: zeroized when dropped.
    #[must_use]
    pub fn to_cbor(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.record().to_cbor())
    }

    /// Parses the JSON form strictly (as [`GroupMessage::from_json`]).
    ///
    /// # Errors
    /// [`GroupDecodeError`] naming what is wrong.
    pub fn from_json(input: &[u8]) -> Result<Self, GroupDecodeError> {
        check_len(input, MAX_DISTRIBUTION_LEN)?;
        let value = json::parse(input)?;
        let distribution = Self::from_repr(json::from_value(&value)?)?;
        if Zeroizing::new(value.to_canonical_vec()) != distribution.to_json() {
            return Err(GroupDecodeError::Malformed("not in canonical form"));
        }
        Ok(distribution)
    }

    /// Parses the CBOR form, accepting only its deterministic encoding.
    ///
    /// # Errors
    /// [`GroupDecodeError`] naming what is wrong.
    pub fn from_cbor(input: &[u8]) -> Result<Self, GroupDecodeError> {
        check_len(input, MAX_DISTRIBUTION_LEN)?;
        let distribution = Self::from_repr(cbor::decode(input)?)?;
        if distribution.to_cbor().as_slice() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(distribution)
    }

    fn record(&self) -> Record<'_> {
        Record::new()
            .with("v", Field::uint(WIRE_VERSION))
            .with("group", Field::bytes(&self.group.0[..]))
            .with("sender", Field::bytes(&self.sender.0[..]))
            .with("epoch", Field::uint(self.epoch))
            .with("iteration", Field::uint(self.iteration))
            .with("chain_key", Field::bytes(&self.chain_key.as_bytes()[..]))
            .with(
                "signing_key",
                Field::bytes(&self.signing_key.as_bytes()[..]),
            )
    }

    fn from_repr(repr: DistributionRepr) -> Result<Self, GroupDecodeError> {
        if repr.v != WIRE_VERSION {
            return Err(GroupDecodeError::UnsupportedVersion(repr.v));
        }
        let signing_key = VerifyingKey::from_bytes(&repr.signing_key)
            .map_err(|_| GroupDecodeError::Malformed("signing_key is not a valid Ed25519 key"))?;
        Ok(Self {
            group: GroupId(repr.group),
            sender: MemberId(repr.sender),
            epoch: repr.epoch,
            iteration: repr.iteration,
            chain_key: Key32::new(repr.chain_key),
            signing_key,
        })
    }
}

impl fmt::Debug for SenderKeyDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistribution")
            .field("group", &self.group)
            .field("sender", &self.sender)
            .field("epoch", &self.epoch)
            .field("iteration", &self.iteration)
            .field("chain_key", &"<redacted>")
            .field("signing_key", &self.signing_key)
            .finish()
    }
}

/// The chain key wipes itself on drop.
impl ZeroizeOnDrop for SenderKeyDistribution {}

pub(super) fn check_len(input: &[u8], max: usize) -> Result<(), GroupDecodeError> {
    if input.len() > max {
        return Err(GroupDecodeError::TooLarge {
            len: input.len(),
            max,
        });
    }
    Ok(())
}

/// A `u64` that JSON carries exactly, as a record field (callers keep values below 2^53).
pub(super) fn uint64(value: u64) -> Field<'static> {
    Field::Uint(SafeUint::new(value).unwrap_or(SafeUint::MAX))
}

/// The decoding side of [`GroupMessage::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRepr {
    v: u32,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    group: [u8; 32],
    #[serde(with = "talos_crypto::base64url::serde::array")]
    sender: [u8; 32],
    epoch: u32,
    iteration: u32,
    #[serde(with = "talos_crypto::base64url::serde")]
    ciphertext: Vec<u8>,
    sig: Signature,
}

/// The decoding side of [`SenderKeyDistribution::record`]; wiped on drop.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct DistributionRepr {
    v: u32,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    group: [u8; 32],
    #[serde(with = "talos_crypto::base64url::serde::array")]
    sender: [u8; 32],
    epoch: u32,
    iteration: u32,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    chain_key: [u8; 32],
    #[serde(with = "talos_crypto::base64url::serde::array")]
    signing_key: [u8; 32],
}

/// Why a group message, distribution or snapshot could not be decoded. Drop the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupDecodeError {
    /// The CBOR form is malformed or not in deterministic encoding.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The JSON form is not strict JSON of the right shape (unknown, missing, duplicate or
    /// `null` members, wrong lengths, bad base64url, integers out of range).
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The input, or its ciphertext, is longer than the format allows.
    #[error("group message too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A format version this crate does not read.
    #[error("unsupported group format version {0}")]
    UnsupportedVersion(u32),
    /// Well-formed, but inconsistent or not canonical.
    #[error("malformed group object: {0}")]
    Malformed(&'static str),
}

impl From<&GroupDecodeError> for ErrorCode {
    fn from(err: &GroupDecodeError) -> Self {
        match err {
            GroupDecodeError::UnsupportedVersion(_) => Self::ProtocolMismatch,
            _ => Self::InvalidInput,
        }
    }
}
