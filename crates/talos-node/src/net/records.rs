//! Discovery records in the DHT: their key, and the check every record passes before this
//! node stores it (an inbound `PutRecord`) or uses it (a `get_record` result).
//!
//! The rules are talos-did's: a record is the deterministic CBOR of a
//! [`DiscoveryRecord`] ([`DiscoveryRecord::to_cbor`], the crate's compact form for the DHT),
//! stored under [`DidKey::kademlia_key`] of its own DID (SHA-256 of the Ed25519 public key). It
//! must decode strictly, sit under its own DID's key, pass [`DiscoveryRecord::validate`] at
//! `now` under the node's [`Policy`] (expiry, skew, lifetime, sizes, the Sybil puzzle when the
//! policy requires one, the signature), and then win against what is known for that DID by
//! the [`Resolver`]'s BEP44 rules: a higher `seq` replaces, the same record refreshes, an
//! older `seq` or a different record under the same `seq` is refused.

use talos_crypto::Timestamp;
use talos_did::DidKey;
use talos_did::record::{DiscoveryRecord, Policy, RecordError, ValidationError};
use talos_did::resolver::{InsertError, Inserted, Resolver};

/// The Kademlia key of `did`'s discovery records: [`DidKey::kademlia_key`], the SHA-256 of its
/// public key (32 bytes).
#[must_use]
pub fn record_key(did: &DidKey) -> libp2p::kad::RecordKey {
    libp2p::kad::RecordKey::new(&did.kademlia_key())
}

/// Why a DHT record was refused (not stored, not used).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordRefusal {
    /// The value is not a discovery record in its deterministic CBOR form.
    #[error("malformed discovery record: {0}")]
    Malformed(RecordError),
    /// The record is about another DID than the key it was put under, or is not about an
    /// Ed25519 `did:key`.
    #[error("record key does not belong to the record's DID")]
    KeyMismatch,
    /// The record fails validation (expired, too large, bad signature, weak puzzle, …).
    #[error("invalid discovery record: {0}")]
    Invalid(ValidationError),
    /// A newer record (higher `seq`), or another record under the same `seq`, is known.
    #[error("record superseded: {0}")]
    Superseded(InsertError),
    /// Provider records are not part of the Talos DHT.
    #[error("provider records are not accepted")]
    Provider,
}

/// Decodes and checks `value` put under `key`, and offers it to `resolver`; returns the
/// record and what the resolver did with it.
pub(crate) fn admit(
    key: &libp2p::kad::RecordKey,
    value: &[u8],
    now: Timestamp,
    policy: &Policy,
    resolver: &mut Resolver,
) -> Result<(DiscoveryRecord, Inserted), RecordRefusal> {
    let record = DiscoveryRecord::from_cbor(value).map_err(RecordRefusal::Malformed)?;
    if record_key(&record.did()) != *key {
        return Err(RecordRefusal::KeyMismatch);
    }
    let valid = record
        .validate(now, policy)
        .map_err(RecordRefusal::Invalid)?;
    let inserted = resolver
        .insert(now, valid)
        .map_err(RecordRefusal::Superseded)?;
    Ok((record, inserted))
}

/// Whether `candidate` may replace `stored` in the local record store: a higher `seq`, or the
/// same record again. `stored` was admitted earlier, so only its `seq` and bytes matter.
pub(crate) fn replaces(
    stored: &[u8],
    candidate: &DiscoveryRecord,
    candidate_bytes: &[u8],
) -> Result<(), InsertError> {
    // Nothing decodable is there (it cannot happen: only admitted records are stored).
    let Ok(stored_record) = DiscoveryRecord::from_cbor(stored) else {
        return Ok(());
    };
    let (seq, current) = (candidate.seq(), stored_record.seq());
    if seq > current || (seq == current && stored == candidate_bytes) {
        Ok(())
    } else if seq == current {
        Err(InsertError::Conflict { seq })
    } else {
        Err(InsertError::Stale { seq, current })
    }
}
