//! [`Revocation`]: an endorser withdrawing one of its endorsements, signed.

use serde::Deserialize;
use talos_crypto::json::{self, JsonError};
use talos_crypto::record::{Field, Record};
use talos_crypto::{CborError, ErrorCode, Signature, SigningKey, Timestamp, VerifyingKey, cbor};

use super::endorsement::{MAX_ENCODED_LEN, VERSION, check_time, time_field};
use super::{Endorsement, EndorsementId};
use crate::{DidError, DidKey};

/// A signed statement "`endorser` withdraws its endorsement `endorsement` from `revoked_at`
/// on".
///
/// The JSON form (the contract `contracts/did/endorsement_revocation.schema.json`):
///
/// ```json
/// {"endorsement":"<base64url of the 32-byte id>","endorser":"did:key:z6Mk…",
///  "revoked_at":1770000000000,"sig":"<base64url>","v":1}
/// ```
///
/// `sig` is Ed25519 by the endorser's key over the RFC 8785 canonical JSON of every member
/// but `sig`; the CBOR form is the same map in deterministic encoding. Both decoders verify
/// the signature before they return.
///
/// A revocation names its endorser so that it can be verified on its own, before (or
/// without) the endorsement it revokes. It takes effect only if that endorser is the
/// endorsement's endorser — the endorsement's id commits to its endorser, so nobody else can
/// revoke it — and only at times `now >= revoked_at`, so evaluating trust "as of" an earlier
/// time still sees the endorsement. Revocation is final: a revoked endorsement cannot be
/// reinstated; the endorser issues a new one instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    endorser: VerifyingKey,
    endorsement: EndorsementId,
    revoked_at: Timestamp,
    signature: Signature,
}

impl Revocation {
    /// Signs "the holder of `key` revokes `endorsement` from `revoked_at` on".
    ///
    /// This does not check that `key` made the endorsement (a graph refuses the revocation
    /// if it did not); [`Endorsement::revoke`] does.
    ///
    /// # Errors
    /// [`RevocationError::TimestampOutOfRange`] for a time beyond 2^53 − 1 ms.
    pub fn sign(
        key: &SigningKey,
        endorsement: &EndorsementId,
        revoked_at: Timestamp,
    ) -> Result<Self, RevocationError> {
        if !check_time(revoked_at) {
            return Err(RevocationError::TimestampOutOfRange);
        }
        let endorser = key.verifying_key();
        let signature = key.sign(&signed_record(&endorser, endorsement, revoked_at).to_json());
        Ok(Self {
            endorser,
            endorsement: *endorsement,
            revoked_at,
            signature,
        })
    }

    /// Who revokes.
    #[must_use]
    pub fn endorser(&self) -> DidKey {
        DidKey::Ed25519(self.endorser)
    }

    /// The revoker's Ed25519 key.
    #[must_use]
    pub fn endorser_key(&self) -> &VerifyingKey {
        &self.endorser
    }

    /// The id of the endorsement revoked.
    #[must_use]
    pub fn endorsement(&self) -> &EndorsementId {
        &self.endorsement
    }

    /// From when the endorsement no longer counts.
    #[must_use]
    pub fn revoked_at(&self) -> Timestamp {
        self.revoked_at
    }

    /// The signature.
    #[must_use]
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Whether this revokes `endorsement`: the id matches and the signer is its endorser.
    #[must_use]
    pub fn revokes(&self, endorsement: &Endorsement) -> bool {
        self.endorsement == *endorsement.id() && self.endorser == *endorsement.endorser_key()
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

    /// Parses the JSON form strictly and verifies the signature.
    ///
    /// # Errors
    /// [`RevocationError`] naming what is wrong; [`RevocationError::BadSignature`] if it was
    /// altered after signing.
    pub fn from_json(input: &[u8]) -> Result<Self, RevocationError> {
        check_len(input)?;
        let value = json::parse(input)?;
        let revocation = Self::from_repr(json::from_value(&value)?)?;
        if value.to_canonical_vec() != revocation.to_json() {
            return Err(RevocationError::Malformed(
                "not the canonical value of a revocation",
            ));
        }
        Ok(revocation)
    }

    /// Parses the CBOR form (only its deterministic encoding) and verifies the signature.
    ///
    /// # Errors
    /// As [`Revocation::from_json`].
    pub fn from_cbor(input: &[u8]) -> Result<Self, RevocationError> {
        check_len(input)?;
        let revocation = Self::from_repr(cbor::decode(input)?)?;
        if revocation.to_cbor() != input {
            return Err(CborError::NonCanonical.into());
        }
        Ok(revocation)
    }

    fn from_repr(repr: Repr) -> Result<Self, RevocationError> {
        if repr.v != VERSION {
            return Err(RevocationError::UnsupportedVersion(repr.v));
        }
        let did: DidKey = repr.endorser.parse().map_err(RevocationError::InvalidDid)?;
        let endorser = *did.ed25519().ok_or(RevocationError::NotEd25519)?;
        let revoked_at = Timestamp::from_millis(repr.revoked_at);
        if !check_time(revoked_at) {
            return Err(RevocationError::TimestampOutOfRange);
        }
        let endorsement = EndorsementId::from_bytes(repr.endorsement);
        endorser
            .verify(
                &signed_record(&endorser, &endorsement, revoked_at).to_json(),
                &repr.sig,
            )
            .map_err(|_| RevocationError::BadSignature)?;
        Ok(Self {
            endorser,
            endorsement,
            revoked_at,
            signature: repr.sig,
        })
    }

    fn record(&self) -> Record<'static> {
        signed_record(&self.endorser, &self.endorsement, self.revoked_at)
            .with("sig", Field::bytes(self.signature.to_bytes().to_vec()))
    }
}

impl Endorsement {
    /// Revokes this endorsement from `revoked_at` on; `key` must be the endorser's.
    ///
    /// # Errors
    /// [`RevocationError::NotEndorser`] if `key` is not the endorser's key;
    /// [`RevocationError::TimestampOutOfRange`] for a time beyond 2^53 − 1 ms.
    pub fn revoke(
        &self,
        key: &SigningKey,
        revoked_at: Timestamp,
    ) -> Result<Revocation, RevocationError> {
        if key.verifying_key() != *self.endorser_key() {
            return Err(RevocationError::NotEndorser);
        }
        Revocation::sign(key, self.id(), revoked_at)
    }
}

/// Every member but `sig`.
fn signed_record(
    endorser: &VerifyingKey,
    endorsement: &EndorsementId,
    revoked_at: Timestamp,
) -> Record<'static> {
    Record::new()
        .with("v", Field::uint(VERSION))
        .with(
            "endorser",
            Field::text(DidKey::Ed25519(*endorser).to_string()),
        )
        .with("endorsement", Field::bytes(endorsement.as_bytes().to_vec()))
        .with("revoked_at", time_field(revoked_at))
}

fn check_len(input: &[u8]) -> Result<(), RevocationError> {
    if input.len() > MAX_ENCODED_LEN {
        return Err(RevocationError::TooLarge {
            len: input.len(),
            max: MAX_ENCODED_LEN,
        });
    }
    Ok(())
}

/// The decoding side of [`Revocation::record`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repr {
    v: u32,
    endorser: String,
    #[serde(with = "talos_crypto::base64url::serde::array")]
    endorsement: [u8; 32],
    revoked_at: u64,
    sig: Signature,
}

/// Why a revocation could not be made or read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The JSON form is not strict JSON of the right shape.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The CBOR form is malformed or not deterministic.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The input is longer than [`MAX_ENCODED_LEN`]; it was not parsed.
    #[error("revocation too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A version this crate does not read.
    #[error("unsupported revocation version {0}")]
    UnsupportedVersion(u32),
    /// Well-formed, but not the canonical value of a revocation.
    #[error("malformed revocation: {0}")]
    Malformed(&'static str),
    /// `endorser` is not a valid `did:key`.
    #[error("invalid endorser DID: {0}")]
    InvalidDid(DidError),
    /// `endorser` is a `did:key`, but not an Ed25519 one.
    #[error("endorser must be an ed25519 did:key")]
    NotEd25519,
    /// A time beyond 2^53 − 1 ms, which JSON cannot carry exactly.
    #[error("timestamp out of range: beyond 2^53 - 1 ms")]
    TimestampOutOfRange,
    /// The signature does not verify under the endorser's key: treat it as forged.
    #[error("invalid revocation signature")]
    BadSignature,
    /// The key is not the endorsement's endorser's; only the endorser can revoke.
    #[error("revocation not signed by the endorser")]
    NotEndorser,
}

impl From<&RevocationError> for ErrorCode {
    fn from(err: &RevocationError) -> Self {
        match err {
            RevocationError::BadSignature => Self::CryptoError,
            RevocationError::UnsupportedVersion(_) => Self::ProtocolMismatch,
            RevocationError::NotEndorser => Self::Denied,
            _ => Self::InvalidInput,
        }
    }
}
