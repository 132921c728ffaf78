//! The session cache: after one full verification, later requests of a session are decided
//! from compiled state, without signatures, parsing or hashing of strings.
//!
//! [`SessionCache::admit`] stores, for a session id, what [`Verifier::verify`] produced: the
//! leaf's `capability_hash`, the chain's earliest `exp`, every link's hash and the compiled
//! scope and constraints. [`SessionCache::authorize_fast`] then checks, in the full path's
//! order: the session holds this `capability_hash` (else [`NoCapability`]: "full
//! verification required"), `now > exp` → `EXPIRED` (the entry is dropped), any link in the
//! [`RevocationSet`] → `REVOKED` (dropped), then scope and constraints.
//!
//! Revocation is re-checked only when the set's [`RevocationSet::generation`] has changed
//! since the entry was last checked, so the usual cost is one integer compare. Use one
//! revocation set per cache (a different set with the same generation would not be
//! re-checked).
//!
//! # Bounds and eviction
//!
//! At most `capacity` sessions ([`DEFAULT_SESSION_CAPACITY`]). Admitting a new session into
//! a full cache first evicts the oldest-admitted 1 % (at least one), like the Python node's
//! LRU-100-of-10 000; an evicted session simply takes the full path again.
//!
//! # Hashing
//!
//! Session ids are 16 random bytes that **our** side generates, so a peer cannot pick ids
//! that collide in the table; the map therefore uses a trivial hasher (a fold of the id's two
//! 64-bit halves) instead of SipHash. Do not key this cache on peer-chosen ids.
//!
//! ```
//! use talos_acl::cache::SessionCache;
//! use talos_acl::revocation::RevocationSet;
//! use talos_acl::scope::Request;
//! use talos_acl::token::{CapabilityToken, TokenFields};
//! use talos_acl::verify::Verifier;
//! use talos_crypto::{SigningKey, Timestamp};
//!
//! let key = SigningKey::from_seed(&[5; 32]);
//! let now = Timestamp::from_secs(1_700_000_000).unwrap();
//! let exp = Timestamp::from_secs(1_700_003_600).unwrap();
//! let token = CapabilityToken::issue(&key, &TokenFields::new("iss", "sub", "tool:fs", now, exp)).unwrap();
//! let mut revoked = RevocationSet::default();
//! let verified = Verifier::default()
//!     .verify(core::slice::from_ref(&token), Some(&key.verifying_key()), now, &revoked)
//!     .unwrap();
//! let mut cache = SessionCache::default();
//! cache.admit([1; 16], verified);
//! let hash = token.capability_hash();
//! let req = Request::new("fs");
//! assert!(cache.authorize_fast([1; 16], hash, &req, now, &revoked).unwrap().is_allow());
//! assert!(cache.authorize_fast([2; 16], hash, &req, now, &revoked).is_err()); // not cached
//! revoked.insert_hash(*hash).unwrap();
//! let d = cache.authorize_fast([1; 16], hash, &req, now, &revoked).unwrap();
//! assert_eq!(d.deny_reason().unwrap().code(), "REVOKED");
//! assert!(cache.authorize_fast([1; 16], hash, &req, now, &revoked).is_err()); // dropped
//! ```
//!
//! [`Verifier::verify`]: crate::verify::Verifier::verify

use core::hash::{BuildHasherDefault, Hasher};
use std::collections::{HashMap, VecDeque};

use talos_crypto::Timestamp;

use crate::revocation::RevocationSet;
use crate::scope::Request;
use crate::token::CapabilityHash;
use crate::verify::{CompiledPolicy, Decision, Denial, DenyReason, VerifiedChain};

/// Sessions a [`SessionCache::default`] holds (the Python node's 10 000).
pub const DEFAULT_SESSION_CAPACITY: usize = 10_000;

/// A session id: 16 random bytes chosen by our side.
pub type SessionId = [u8; 16];

/// The session has no cached capability with this hash: run the full verification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("NO_CAPABILITY: session not in cache, full verification required")]
pub struct NoCapability;

impl NoCapability {
    /// The denial reason this corresponds to ([`DenyReason::NoCapability`]).
    #[must_use]
    pub const fn reason(self) -> DenyReason {
        DenyReason::NoCapability
    }
}

/// Folds a 16-byte random session id into a `u64`. Not for peer-chosen keys.
#[derive(Clone, Copy, Debug, Default)]
struct SessionHasher(u64);

impl Hasher for SessionHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0_u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _len: usize) {
        // The length prefix of a fixed-size id carries no information.
    }
}

#[derive(Debug)]
struct Entry {
    hash: CapabilityHash,
    exp_ms: u64,
    chain: Box<[CapabilityHash]>,
    policy: CompiledPolicy,
    revocation_generation: u64,
    admitted: u64,
}

/// A bounded map from session id to a verified capability (see the [module docs](self)).
#[derive(Debug)]
pub struct SessionCache {
    map: HashMap<SessionId, Entry, BuildHasherDefault<SessionHasher>>,
    /// Admission order: (session, admission number); stale pairs are skipped.
    order: VecDeque<(SessionId, u64)>,
    capacity: usize,
    admissions: u64,
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new(DEFAULT_SESSION_CAPACITY)
    }
}

impl SessionCache {
    /// An empty cache for at most `capacity` sessions (at least 1).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            map: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
            order: VecDeque::new(),
            capacity,
            admissions: 0,
        }
    }

    /// Sessions cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` if no session is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Caches `verified` for `session_id`, replacing what the session held. Call it after
    /// a full authorization allowed. Returns `false` (and caches nothing) if the chain's
    /// scope or constraints could not be compiled: such a token never allows anything.
    /// May evict the oldest-admitted 1 % of sessions (see the [module docs](self)).
    pub fn admit(&mut self, session_id: SessionId, verified: VerifiedChain) -> bool {
        let (chain, exp_secs, policy) = verified.into_parts();
        let (Ok(policy), Some(hash)) = (policy, chain.last().copied()) else {
            return false;
        };
        if !self.map.contains_key(&session_id) && self.map.len() >= self.capacity {
            self.evict((self.capacity / 100).max(1));
        }
        self.admissions = self.admissions.wrapping_add(1);
        let admitted = self.admissions;
        self.map.insert(
            session_id,
            Entry {
                hash,
                exp_ms: exp_secs.saturating_mul(1000),
                chain,
                policy,
                // Checked against the set when the chain was verified, but that set's
                // generation is unknown here: check on first use.
                revocation_generation: u64::MAX,
                admitted,
            },
        );
        self.order.push_back((session_id, admitted));
        if self.order.len() > self.capacity.saturating_mul(2) {
            let map = &self.map;
            self.order
                .retain(|(id, n)| map.get(id).is_some_and(|e| e.admitted == *n));
        }
        true
    }

    /// Drops the session, if cached.
    pub fn remove(&mut self, session_id: &SessionId) -> bool {
        self.map.remove(session_id).is_some()
    }

    fn evict(&mut self, mut count: usize) {
        while count > 0 {
            let Some((id, n)) = self.order.pop_front() else {
                return;
            };
            if self.map.get(&id).is_some_and(|e| e.admitted == n) {
                self.map.remove(&id);
                count -= 1;
            }
        }
    }

    /// Decides `request` for a cached session: expiry, revocation of any link, scope, then
    /// constraints. Allocates nothing.
    ///
    /// # Errors
    /// [`NoCapability`] if the session is not cached or holds another capability: run the
    /// full verification (and [`admit`](Self::admit)) instead.
    pub fn authorize_fast(
        &mut self,
        session_id: SessionId,
        capability_hash: &CapabilityHash,
        request: &Request<'_>,
        now: Timestamp,
        revoked: &RevocationSet,
    ) -> Result<Decision, NoCapability> {
        self.decide(session_id, capability_hash, now, revoked, |policy| {
            policy.authorize(request)
        })
    }

    /// As [`authorize_fast`](Self::authorize_fast), with `decide` in place of the scope and
    /// constraints check (e.g. [`CompiledPolicy::authorize_target`] to filter a list): expiry
    /// and revocation are checked first, as always.
    ///
    /// # Errors
    /// As [`authorize_fast`](Self::authorize_fast).
    pub fn decide(
        &mut self,
        session_id: SessionId,
        capability_hash: &CapabilityHash,
        now: Timestamp,
        revoked: &RevocationSet,
        decide: impl FnOnce(&CompiledPolicy) -> Decision,
    ) -> Result<Decision, NoCapability> {
        let entry = self.map.get_mut(&session_id).ok_or(NoCapability)?;
        if entry.hash != *capability_hash {
            return Err(NoCapability);
        }
        if now.as_millis() > entry.exp_ms {
            self.map.remove(&session_id);
            return Ok(Decision::Deny(Denial::new(
                DenyReason::Expired,
                "capability expired",
            )));
        }
        let generation = revoked.generation();
        if entry.revocation_generation != generation {
            if entry.chain.iter().any(|h| revoked.contains(h)) {
                self.map.remove(&session_id);
                return Ok(Decision::Deny(Denial::new(
                    DenyReason::Revoked,
                    "capability revoked",
                )));
            }
            entry.revocation_generation = generation;
        }
        Ok(decide(&entry.policy))
    }
}
