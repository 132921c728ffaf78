//! [`Endorsement`]: one identity vouching for another, signed.

use core::fmt;
use core::str::FromStr;

use serde::Deserialize;
use talos_crypto::json::{self, JsonError};
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::{
    CborError, ErrorCode, Signature, SigningKey, Timestamp, VerifyingKey, base64url, cbor, hash,
};

use crate::{DidError, DidKey};

/// The endorsement format version this crate writes and reads (`v`).
pub const VERSION: u32 = 1;

/// The longest encoded endorsement or revocation a decoder looks at, in either form. A
/// canonical one is under 400 bytes; the rest is room for whitespace in JSON.
pub const MAX_ENCODED_LEN: usize = 4096;

/// How much an endorser vouches for a subject; the `level` member, `1..=3`.
///
/// The levels are ordered, and a path of endorsements is worth its weakest hop (see
/// [`TrustGraph::evaluate`](super::TrustGraph::evaluate)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TrustLevel {
    /// `1`: some confidence. The endorser has interacted with the subject and seen nothing
    /// wrong, but has not verified who runs it.
    Marginal = 1,
    /// `2`: the endorser has verified the subject (who operates it, what it is for) and
    /// vouches for it.
    Full = 2,
    /// `3`: the endorser trusts the subject as it trusts itself: another key or device of
    /// the same operator, or an agent the endorser's own organisation runs. Trust anchors
    /// have this level.
    Ultimate = 3,
}

impl TrustLevel {
    /// Every level, weakest first.
    pub const ALL: [Self; 3] = [Self::Marginal, Self::Full, Self::Ultimate];

    /// The number on the wire: 1, 2 or 3.
    #[must_use]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The level numbered `value` on the wire.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Marginal),
            2 => Some(Self::Full),
            3 => Some(Self::Ultimate),
            _ => None,
        }
    }

    /// The lowercase name: `marginal`, `full` or `ultimate`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Marginal => "marginal",
            Self::Full => "full",
            Self::Ultimate => "ultimate",
        }
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<u8> for TrustLevel {
    type Error = EndorsementError;

    fn try_from(value: u8) -> Result<Self, EndorsementError> {
        Self::from_u8(value).ok_or(EndorsementError::InvalidLevel(u64::from(value)))
    }
}

/// An endorsement's id: SHA-256 of its canonical signed JSON (every member, `sig`
/// included). Written as unpadded base64url; ordered by its bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndorsementId([u8; 32]);

impl EndorsementId {
    /// The smallest id (all zero bytes), for ranges.
    pub(crate) const MIN: Self = Self([0; 32]);
    /// The largest id (all `0xff` bytes), for ranges.
    pub(crate) const MAX: Self = Self([0xff; 32]);

    /// An id from its 32 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 32 bytes, by value.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Display for EndorsementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url::encode(&self.0))
    }
}

impl fmt::Debug for EndorsementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndorsementId({self})")
    }
}

impl FromStr for EndorsementId {
    type Err = talos_crypto::Base64Error;

    /// Parses the strict unpadded base64url of exactly 32 bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        base64url::decode_array::<32>(s).map(Self)
    }
}

/// A signed statement "`endorser` vouches for `subject` at `level`, from `issued_at` until
/// `expires_at`".
///
/// The JSON form (the contract `contracts/did/endorsement.schema.json`):
///
/// ```json
/// {"endorser":"did:key:z6Mk…","expires_at":1799714601000,"issued_at":1768178601000,
///  "level":2,"sig":"<base64url>","subject":"did:key:z6Mk…","v":1}
/// ```
///
/// - `endorser`, `subject`: Ed25519 `did:key`s in their one canonical spelling, and not
///   the same DID (a self-endorsement says nothing and is refused);
/// - `level`: a [`TrustLevel`], 1, 2 or 3;
/// - `issued_at` < `expires_at`: milliseconds since the Unix epoch, at most 2^53 − 1; the
///   endorsement is *active* at `now` when `issued_at <= now < expires_at`;
/// - `sig`: Ed25519 by the endorser's key over the RFC 8785 canonical JSON of every member
///   but `sig`.
///
/// The CBOR form is the same map in deterministic encoding (RFC 8949 §4.2.1), `sig` as a
/// byte string. Both decoders accept exactly one encoding of each value and verify the
/// signature before they return, so an `Endorsement` value always carries a valid
/// signature by its endorser (the endorser's key is in its DID). Whether it is *active* at
/// some `now` is a separate question ([`Endorsement::check_active`]).
///
/// Its [`EndorsementId`] is SHA-256 of its canonical JSON, `sig` included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endorsement {
    endorser: VerifyingKey,
    subject: VerifyingKey,
    level: TrustLevel,
    issued_at: Timestamp,
    expires_at: Timestamp,
    signature: Signature,
    id: EndorsementId,
}

impl Endorsement {
    /// Signs "the holder of `key` vouches for `subject` at `level` from `issued_at` until
    /// `expires_at`".
    ///
    /// # Errors
    /// [`EndorsementError::NotEd25519`] for a subject that is not an Ed25519 `did:key`;
    /// [`EndorsementError::SelfEndorsement`] if `subject` is `key`'s own DID;
    /// [`EndorsementError::InvalidValidity`] unless `issued_at < expires_at`;
    /// [`EndorsementError::TimestampOutOfRange`] for a time beyond 2^53 − 1 ms.
    pub fn sign(
        key: &SigningKey,
        subject: &DidKey,
        level: TrustLevel,
        issued_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Self, EndorsementError> {
        let subject = *subject
            .ed25519()
            .ok_or(EndorsementError::NotEd25519 { field: "subject" })?;
        let endorser = key.verifying_key();
        check_fields(&endorser, &subject, issued_at, expires_at)?;
        let signing_input =
            signed_record(&endorser, &subject, level, issued_at, expires_at).to_json();
        let signature = key.sign(&signing_input);
        Ok(Self::assemble(
            endorser, subject, level, issued_at, expires_at, signature,
        ))
    }

    fn assemble(
        endorser: VerifyingKey,
        subject: VerifyingKey,
        level: TrustLevel,
        issued_at: Timestamp,
        expires_at: Timestamp,
        signature: Signature,
    ) -> Self {
        let mut endorsement = Self {
            endorser,
            subject,
            level,
            issued_at,
            expires_at,
            signature,
            id: EndorsementId::MIN,
        };
        endorsement.id = EndorsementId(hash::sha256(&endorsement.to_json()));
        endorsement
    }

    /// Who vouches.
    #[must_use]
    pub fn endorser(&self) -> DidKey {
        DidKey::Ed25519(self.endorser)
    }

    /// The endorser's Ed25519 key.
    #[must_use]
    pub fn endorser_key(&self) -> &VerifyingKey {
        &self.endorser
    }

    /// For whom.
    #[must_use]
    pub fn subject(&self) -> DidKey {
        DidKey::Ed25519(self.subject)
    }

    /// The subject's Ed25519 key.
    #[must_use]
    pub fn subject_key(&self) -> &VerifyingKey {
        &self.subject
    }

    /// How much.
    #[must_use]
    pub fn level(&self) -> TrustLevel {
        self.level
    }

    /// From when (inclusive).
    #[must_use]
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }

    /// Until when (exclusive).
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The endorser's signature.
    #[must_use]
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// SHA-256 of the canonical signed JSON.
    #[must_use]
    pub fn id(&self) -> &EndorsementId {
        &self.id
    }

    /// Whether `issued_at <= now < expires_at`. Revocation is the graph's business
    /// ([`TrustGraph`](super::TrustGraph)).
    #[must_use]
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.issued_at <= now && now < self.expires_at
    }

    /// Checks that the endorsement is active at `now`.
    ///
    /// # Errors
    /// [`EndorsementError::NotYetValid`] before `issued_at`, [`EndorsementError::Expired`]
    /// from `expires_at` on.
    pub fn check_active(&self, now: Timestamp) -> Result<(), EndorsementError> {
        if now < self.issued_at {
            Err(EndorsementError::NotYetValid {
                issued_at: self.issued_at,
            })
        } else if now >= self.expires_at {
            Err(EndorsementError::Expired {
                expires_at: self.expires_at,
            })
        } else {
            Ok(())
        }
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

    /// Parses the JSON form (any formatting, parsed strictly: no unknown, missing,
    /// duplicate or `null` members) and verifies the signature.
    ///
    /// # Errors
    /// [`EndorsementError`] naming what is wrong; [`EndorsementError::BadSignature`] if it
    /// was altered after signing.
    pub fn from_json(input: &[u8]) -> Result<Self, EndorsementError> {
        check_len(input)?;
        let value = json::parse(input)?;
        let endorsement = Self::from_repr(json::from_value(&value)?)?;
        if value.to_canonical_vec() != endorsement.to_json() {
            return Err(EndorsementError::Malformed(
                "not the canonical value of an endorsement",
            ));
        }
        Ok(endorsement)
    }

    /// Parses the CBOR form (only its deterministic encoding) and verifies the signature.
    ///
    /// # Errors
    /// As [`Endorsement::from_json`].
    pub fn from_cbor(input: &[u8]) -> Result<Self, EndorsementError> {
        check_len(input)?;
        let endorsement = Self::from_repr(cbor::decode(input)?)?;
        if endorsement.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(endorsement)
    }

    fn from_repr(repr: Repr) -> Result<Self, EndorsementError> {
        if repr.v != VERSION {
            return Err(EndorsementError::UnsupportedVersion(repr.v));
        }
        let endorser = parse_did("endorser", &repr.endorser)?;
        let subject = parse_did("subject", &repr.subject)?;
        let level = u8::try_from(repr.level)
            .ok()
            .and_then(TrustLevel::from_u8)
            .ok_or(EndorsementError::InvalidLevel(repr.level))?;
        let issued_at = Timestamp::from_millis(repr.issued_at);
        let expires_at = Timestamp::from_millis(repr.expires_at);
        check_fields(&endorser, &subject, issued_at, expires_at)?;
        let signing_input =
            signed_record(&endorser, &subject, level, issued_at, expires_at).to_json();
        endorser
            .verify(&signing_input, &repr.sig)
            .map_err(|_| EndorsementError::BadSignature)?;
        Ok(Self::assemble(
            endorser, subject, level, issued_at, expires_at, repr.sig,
        ))
    }

    fn record(&self) -> Record<'static> {
        signed_record(
            &self.endorser,
            &self.subject,
            self.level,
            self.issued_at,
            self.expires_at,
        )
        .with("sig", Field::bytes(self.signature.to_bytes().to_vec()))
    }
}

/// Every member but `sig`.
fn signed_record(
    endorser: &VerifyingKey,
    subject: &VerifyingKey,
    level: TrustLevel,
    issued_at: Timestamp,
    expires_at: Timestamp,
) -> Record<'static> {
    Record::new()
        .with("v", Field::uint(VERSION))
        .with(
            "endorser",
            Field::text(DidKey::Ed25519(*endorser).to_string()),
        )
        .with(
            "subject",
            Field::text(DidKey::Ed25519(*subject).to_string()),
        )
        .with("level", Field::uint(u32::from(level.as_u8())))
        .with("issued_at", time_field(issued_at))
        .with("expires_at", time_field(expires_at))
}

/// A timestamp as a JSON-safe integer. Every constructor checks the range first
/// ([`check_time`]), so the saturation never happens.
pub(super) fn time_field(t: Timestamp) -> Field<'static> {
    Field::Uint(SafeUint::new(t.as_millis()).unwrap_or(SafeUint::MAX))
}

/// `Ok` for a time JSON carries exactly (at most 2^53 − 1 ms).
pub(super) fn check_time(t: Timestamp) -> bool {
    SafeUint::new(t.as_millis()).is_some()
}

fn check_fields(
    endorser: &VerifyingKey,
    subject: &VerifyingKey,
    issued_at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), EndorsementError> {
    if !check_time(issued_at) || !check_time(expires_at) {
        return Err(EndorsementError::TimestampOutOfRange);
    }
    if issued_at >= expires_at {
        return Err(EndorsementError::InvalidValidity);
    }
    if endorser == subject {
        return Err(EndorsementError::SelfEndorsement);
    }
    Ok(())
}

fn check_len(input: &[u8]) -> Result<(), EndorsementError> {
    if input.len() > MAX_ENCODED_LEN {
        return Err(EndorsementError::TooLarge {
            len: input.len(),
            max: MAX_ENCODED_LEN,
        });
    }
    Ok(())
}

fn parse_did(field: &'static str, did: &str) -> Result<VerifyingKey, EndorsementError> {
    let key: DidKey = did
        .parse()
        .map_err(|error| EndorsementError::InvalidDid { field, error })?;
    key.ed25519()
        .copied()
        .ok_or(EndorsementError::NotEd25519 { field })
}

/// The decoding side of [`Endorsement::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u32,
    endorser: String,
    subject: String,
    level: u64,
    issued_at: u64,
    expires_at: u64,
    sig: Signature,
}

/// Why an endorsement could not be made, read, or used at `now`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndorsementError {
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The input is longer than [`MAX_ENCODED_LEN`]; it was not parsed.
    #[error("endorsement too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A version this crate does not read. Drop it; a newer peer may understand it.
    #[error("unsupported endorsement version {0}")]
    UnsupportedVersion(u32),
    /// Well-formed, but not the canonical value of an endorsement.
    #[error("malformed endorsement: {0}")]
    Malformed(&'static str),
    /// `endorser` or `subject` is not a valid `did:key`.
    #[error("invalid {field} DID: {error}")]
    InvalidDid {
        /// `"endorser"` or `"subject"`.
        field: &'static str,
        /// What is wrong with it.
        error: DidError,
    },
    /// `endorser` or `subject` is a `did:key`, but not an Ed25519 one: only identity keys
    /// endorse and are endorsed.
    #[error("{field} must be an ed25519 did:key")]
    NotEd25519 {
        /// `"endorser"` or `"subject"`.
        field: &'static str,
    },
    /// `level` is not 1, 2 or 3.
    #[error("invalid trust level {0}: expected 1, 2 or 3")]
    InvalidLevel(u64),
    /// The endorser endorses itself, which says nothing. Refused.
    #[error("self-endorsement: endorser and subject are the same DID")]
    SelfEndorsement,
    /// `expires_at` is not after `issued_at`.
    #[error("invalid validity: expires_at must be after issued_at")]
    InvalidValidity,
    /// A time beyond 2^53 − 1 ms, which JSON cannot carry exactly.
    #[error("timestamp out of range: beyond 2^53 - 1 ms")]
    TimestampOutOfRange,
    /// The signature does not verify under the endorser's key: treat it as forged.
    #[error("invalid endorsement signature")]
    BadSignature,
    /// Used at or after `expires_at`. Ask the endorser for a fresh one.
    #[error("endorsement expired at {expires_at}")]
    Expired {
        /// When it expired.
        expires_at: Timestamp,
    },
    /// Used before `issued_at`: the endorser's clock or ours is off.
    #[error("endorsement not valid before {issued_at}")]
    NotYetValid {
        /// When it becomes valid.
        issued_at: Timestamp,
    },
}

impl From<&EndorsementError> for ErrorCode {
    fn from(err: &EndorsementError) -> Self {
        match err {
            EndorsementError::BadSignature => Self::CryptoError,
            EndorsementError::UnsupportedVersion(_) => Self::ProtocolMismatch,
            EndorsementError::Expired { .. } | EndorsementError::NotYetValid { .. } => Self::Denied,
            _ => Self::InvalidInput,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip() {
        for level in TrustLevel::ALL {
            assert_eq!(TrustLevel::from_u8(level.as_u8()), Some(level));
            assert_eq!(TrustLevel::try_from(level.as_u8()), Ok(level));
        }
        assert_eq!(TrustLevel::from_u8(0), None);
        assert_eq!(TrustLevel::from_u8(4), None);
        assert!(TrustLevel::Marginal < TrustLevel::Full && TrustLevel::Full < TrustLevel::Ultimate);
        assert_eq!(TrustLevel::Full.to_string(), "full");
    }

    #[test]
    fn id_text_is_strict() {
        let id = EndorsementId::from_bytes([7; 32]);
        assert_eq!(id.to_string().parse::<EndorsementId>().unwrap(), id);
        assert!("AAAA".parse::<EndorsementId>().is_err());
        assert!(format!("{id}=").parse::<EndorsementId>().is_err());
    }
}
