//! Resolution policy: which discovery record is current for a DID, and for how long.
//!
//! A [`Resolver`] caches validated [`DiscoveryRecord`]s, one per DID, by the rules of BEP44
//! mutable items:
//!
//! - among valid records for a DID the highest `seq` wins; a lower `seq` never replaces a
//!   higher one, and an equal `seq` with other content is refused as a conflict (the DID's
//!   holder signed two different records under one number), never swapped in;
//! - a cached record is served for [`Config::set_ttl`] (300 s by default, the seed's DID cache
//!   TTL) after it was last received, and never after its own `expires_at`; then
//!   [`Resolver::resolve`] returns `None` and the caller looks the DID up in the DHT again;
//! - the highest `seq` seen stays remembered after the record stops being served, so a
//!   replayed older record is still refused;
//! - at most [`Config::set_max_dids`] DIDs (1024 by default) are remembered. Adding another
//!   evicts the least recently used one (inserted, refreshed or resolved longest ago),
//!   forgetting its `seq` too: if an attacker can mint identities faster than you resolve the
//!   ones you care about, require the Sybil puzzle ([`Policy`](crate::record::Policy)).
//!
//! Memory is bounded by `max_dids` records (each at most the policy's `max_record_len`, about
//! twice that in memory) and about 200 bytes of bookkeeping per DID; [`Resolver::prune`] drops the
//! bodies of records no longer served and keeps their `seq`.
//!
//! Time comes only through `now`. If `now` goes backwards, the resolver keeps using the latest
//! `now` it was given.
//!
//! Records live in the DHT under [`DidKey::kademlia_key`]. The record format is the same whatever DHT
//! carries it (libp2p Kademlia, or any store of opaque values under 32-byte keys).
//!
//! ```
//! use talos_crypto::{SigningKey, Timestamp, x25519};
//! use talos_did::record::{DiscoveryRecord, Policy, Prekeys, RecordFields, SignedPrekey};
//! use talos_did::resolver::{Config, Inserted, InsertError, Resolver};
//!
//! let key = SigningKey::from_seed(&[1; 32]);
//! let now = Timestamp::from_millis(1_768_178_601_000);
//! let record = |seq: u64, address: &str| {
//!     let fields = RecordFields {
//!         seq,
//!         issued_at: now,
//!         expires_at: Timestamp::from_millis(now.as_millis() + 3_600_000),
//!         addresses: vec![address.into()],
//!         tools: vec![],
//!         prekeys: Prekeys {
//!             signed: SignedPrekey::sign(&key, 1, x25519::PublicKey::from_bytes([9; 32])),
//!             one_time: vec![],
//!             pq: None,
//!         },
//!         puzzle_nonce: None,
//!     };
//!     DiscoveryRecord::sign(fields, &key).unwrap()
//! };
//! let (old, new) = (record(1, "/ip4/192.0.2.1/tcp/1"), record(2, "/ip4/192.0.2.2/tcp/2"));
//! let policy = Policy::default();
//! let mut resolver = Resolver::new(Config::default());
//!
//! assert_eq!(resolver.insert(now, new.validate(now, &policy).unwrap()), Ok(Inserted::New));
//! let refused = resolver.insert(now, old.validate(now, &policy).unwrap());
//! assert_eq!(refused, Err(InsertError::Stale { seq: 1, current: 2 }));
//! assert_eq!(resolver.resolve(now, &new.did()), Some(&new));
//! ```

use std::collections::BTreeMap;

use core::time::Duration;

use talos_crypto::hash::{HASH_LEN, sha256};
use talos_crypto::{ErrorCode, Timestamp};

use crate::DidKey;
use crate::record::{DiscoveryRecord, ValidRecord};

/// How long records are served, and how many DIDs are remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    ttl: Duration,
    max_dids: usize,
}

impl Default for Config {
    /// A TTL of 300 s (REFERENCE §4.4, the seed's DID cache TTL) and 1024 DIDs.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            max_dids: 1024,
        }
    }
}

impl Config {
    /// How long after it was last received a record is served (never past its `expires_at`).
    pub fn set_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.ttl = ttl;
        self
    }

    /// How many DIDs are remembered (at least 1); beyond it the least recently used is
    /// evicted.
    pub fn set_max_dids(&mut self, count: usize) -> &mut Self {
        self.max_dids = count.max(1);
        self
    }

    /// The TTL.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The number of DIDs remembered at most.
    #[must_use]
    pub fn max_dids(&self) -> usize {
        self.max_dids
    }
}

/// The current record per DID (see the [module docs](self)).
///
/// Getters (`&self`): `config`, `highest_seq`, `len`, `is_empty`. Input: `insert`. Commands:
/// `resolve` (it counts as a use for eviction), `prune`, `remove`. There is no output to poll
/// and no timer: expiry is checked against the `now` of each call.
#[derive(Debug)]
pub struct Resolver {
    config: Config,
    /// By Ed25519 public key. A `BTreeMap`: deterministic, and keys chosen by an attacker
    /// cannot degrade it.
    entries: BTreeMap<[u8; 32], Entry>,
    /// Use order: the first entry is the least recently used.
    by_use: BTreeMap<u64, [u8; 32]>,
    uses: u64,
    now: Timestamp,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    /// SHA-256 of the record's signed bytes: equal `seq`, equal content?
    content: [u8; HASH_LEN],
    /// `None` once it is no longer served (see [`Resolver::prune`]); boxed so that an entry
    /// without its record is small.
    record: Option<Box<DiscoveryRecord>>,
    fresh_until: Timestamp,
    last_use: u64,
}

/// What [`Resolver::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// The first record for this DID (or the first since it was evicted or removed).
    New,
    /// A higher `seq` replaced the cached record.
    Replaced {
        /// The `seq` it replaced.
        previous_seq: u64,
    },
    /// The same record again: it is served for another TTL.
    Refreshed,
}

/// Why [`Resolver::insert`] refused a record. The cache is unchanged in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// A record with a higher `seq` is known for this DID. Drop the older one.
    #[error("stale record: seq {seq}, current seq {current}")]
    Stale {
        /// The refused record's `seq`.
        seq: u64,
        /// The highest `seq` known.
        current: u64,
    },
    /// Another record with the same `seq` and different content is known: the DID's holder
    /// signed both. Keep the first; the holder is misbehaving or lost its counter.
    #[error("conflicting record: seq {seq} is already held with other content")]
    Conflict {
        /// The `seq` both records carry.
        seq: u64,
    },
    /// The record expired before it could be inserted (it was validated at an earlier `now`).
    #[error("record expired: expires_at {expires_at_ms} ms, now {now_ms} ms")]
    Expired {
        /// The record's expiry.
        expires_at_ms: u64,
        /// `now`.
        now_ms: u64,
    },
}

impl From<&InsertError> for ErrorCode {
    fn from(_: &InsertError) -> Self {
        Self::InvalidInput
    }
}

impl Resolver {
    /// An empty cache.
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            entries: BTreeMap::new(),
            by_use: BTreeMap::new(),
            uses: 0,
            now: Timestamp::UNIX_EPOCH,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Offers a validated record. A higher `seq` than the cached one replaces it; the same
    /// record again refreshes its TTL.
    ///
    /// # Errors
    /// [`InsertError`] if the record is older than, or conflicts with, the one known, or has
    /// expired at `now`.
    pub fn insert(
        &mut self,
        now: Timestamp,
        record: ValidRecord<'_>,
    ) -> Result<Inserted, InsertError> {
        let now = self.observe(now);
        let record = record.record();
        let expires_at = record.fields().expires_at;
        if now >= expires_at {
            return Err(InsertError::Expired {
                expires_at_ms: expires_at.as_millis(),
                now_ms: now.as_millis(),
            });
        }
        let fresh_until = now.saturating_add(self.config.ttl).min(expires_at);
        let key = record.identity_key().to_bytes();
        let content = sha256(record.signed_bytes());
        let outcome = match self.entries.get_mut(&key) {
            Some(entry) if record.seq() < entry.seq => {
                return Err(InsertError::Stale {
                    seq: record.seq(),
                    current: entry.seq,
                });
            }
            Some(entry) if record.seq() == entry.seq => {
                if content != entry.content {
                    return Err(InsertError::Conflict { seq: entry.seq });
                }
                entry.fresh_until = fresh_until;
                if entry.record.is_none() {
                    entry.record = Some(Box::new(record.clone()));
                }
                Inserted::Refreshed
            }
            Some(entry) => {
                let previous_seq = entry.seq;
                entry.seq = record.seq();
                entry.content = content;
                entry.record = Some(Box::new(record.clone()));
                entry.fresh_until = fresh_until;
                Inserted::Replaced { previous_seq }
            }
            None => {
                while self.entries.len() >= self.config.max_dids {
                    let Some((_, evicted)) = self.by_use.pop_first() else {
                        break;
                    };
                    self.entries.remove(&evicted);
                }
                self.entries.insert(
                    key,
                    Entry {
                        seq: record.seq(),
                        content,
                        record: Some(Box::new(record.clone())),
                        fresh_until,
                        last_use: 0,
                    },
                );
                Inserted::New
            }
        };
        self.touch(key);
        Ok(outcome)
    }

    /// The record to use for `did` at `now`: `None` if none is cached, or if the cached one is
    /// past its TTL or its `expires_at` (look the DID up again).
    pub fn resolve(&mut self, now: Timestamp, did: &DidKey) -> Option<&DiscoveryRecord> {
        let now = self.observe(now);
        let key = did.ed25519()?.to_bytes();
        let entry = self.entries.get_mut(&key)?;
        if now >= entry.fresh_until {
            entry.record = None;
            return None;
        }
        self.touch(key);
        self.entries.get(&key).and_then(|e| e.record.as_deref())
    }

    /// The highest `seq` known for `did`, served or not; a record must beat it to be accepted.
    #[must_use]
    pub fn highest_seq(&self, did: &DidKey) -> Option<u64> {
        let key = did.ed25519()?.to_bytes();
        self.entries.get(&key).map(|e| e.seq)
    }

    /// Drops the bodies of records no longer served at `now`, keeping their `seq`; returns how
    /// many were dropped. Call it now and then to give memory back; it scans every entry.
    pub fn prune(&mut self, now: Timestamp) -> usize {
        let now = self.observe(now);
        let mut dropped = 0;
        for entry in self.entries.values_mut() {
            if now >= entry.fresh_until && entry.record.take().is_some() {
                dropped += 1;
            }
        }
        dropped
    }

    /// Forgets `did` entirely, its `seq` included. Returns whether it was known.
    pub fn remove(&mut self, did: &DidKey) -> bool {
        let Some(key) = did.ed25519().map(|k| k.to_bytes()) else {
            return false;
        };
        match self.entries.remove(&key) {
            Some(entry) => {
                self.by_use.remove(&entry.last_use);
                true
            }
            None => false,
        }
    }

    /// The number of DIDs remembered (served or not).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no DID is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The latest `now` seen: time never goes backwards here.
    fn observe(&mut self, now: Timestamp) -> Timestamp {
        self.now = self.now.max(now);
        self.now
    }

    /// Marks `key` as the most recently used.
    fn touch(&mut self, key: [u8; 32]) {
        if let Some(entry) = self.entries.get_mut(&key) {
            self.by_use.remove(&entry.last_use);
            self.uses += 1;
            entry.last_use = self.uses;
            self.by_use.insert(self.uses, key);
        }
    }
}
