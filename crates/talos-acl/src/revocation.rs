//! Revocation: signed revocation entries and the set a verifier checks on every decision.
//!
//! A [`Revocation`] names a token by its `capability_hash` and is signed by the token's
//! issuer (contract `contracts/acl/revocation.schema.json`):
//!
//! ```json
//! {"capability_hash": "<64 hex>", "issuer": "did:key:z6Mk…", "reason": "key leaked",
//!  "revoked_at": 1700000100, "sig": "<b64u Ed25519 over canon(object ∖ sig)>"}
//! ```
//!
//! `revoked_at` is in Unix seconds; `reason` is optional (at most [`MAX_REASON_LEN`] bytes).
//! The ledger records [`Revocation::to_ledger_entry`] (the canonical JSON, signature included)
//! as an entry of kind [`LEDGER_KIND`].
//!
//! A [`RevocationSet`] holds revoked hashes with O(1) lookup, is bounded
//! ([`DEFAULT_REVOCATION_CAPACITY`] unless chosen), and counts inserts in
//! [`RevocationSet::generation`] so caches know when to re-check. Verification denies a chain
//! if **any** link is in the set, so revoking a token revokes every token delegated from it.
//!
//! Only the token's issuer can revoke it: [`RevocationSet::insert`] takes the revoked token
//! and checks that the revocation names it and is signed by the key of its `iss` DID.
//!
//! ```
//! use talos_acl::revocation::{Revocation, RevocationSet};
//! use talos_acl::token::{CapabilityToken, TokenFields};
//! use talos_crypto::{SigningKey, Timestamp};
//! use talos_did::Did;
//!
//! let key = SigningKey::from_seed(&[3; 32]);
//! let issuer = Did::from(key.verifying_key()).to_string();
//! let at = Timestamp::from_secs(1_700_000_100).unwrap();
//! let exp = Timestamp::from_secs(1_700_003_600).unwrap();
//! let token = CapabilityToken::issue(&key, &TokenFields::new(&issuer, "did:talos:bob", "tool:fs", at, exp)).unwrap();
//! let rev = Revocation::issue(&key, *token.capability_hash(), &issuer, at, Some("leaked")).unwrap();
//! let parsed = Revocation::from_json(&rev.to_ledger_entry()).unwrap();
//! let mut set = RevocationSet::default();
//! assert!(set.insert(&parsed, &token).unwrap()); // signed by the token's issuer
//! assert!(set.contains(token.capability_hash()));
//! assert_eq!(set.generation(), 1);
//! ```

use core::hash::BuildHasherDefault;
use std::collections::HashSet;
use std::hash::DefaultHasher;

use talos_crypto::hash::to_hex;
use talos_crypto::json::{self, JsonError, Map, Number, Value};
use talos_crypto::{Signature, SigningKey, Timestamp, VerifyingKey, base64url};
use talos_did::Did;

use crate::token::{CapabilityHash, CapabilityToken};

/// The ledger entry kind under which revocations are recorded.
pub const LEDGER_KIND: &str = "capability_revoked";

/// The largest revocation accepted, in bytes of JSON.
pub const MAX_REVOCATION_BYTES: usize = 4096;

/// The longest `reason`, in bytes.
pub const MAX_REASON_LEN: usize = 512;

/// Revoked hashes a [`RevocationSet::default`] holds before inserts fail.
pub const DEFAULT_REVOCATION_CAPACITY: usize = 1 << 20;

/// Why a revocation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// Longer than [`MAX_REVOCATION_BYTES`].
    #[error("revocation too large: {len} bytes, maximum {max}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not strict JSON (duplicate keys included).
    #[error("malformed revocation: {0}")]
    Json(#[from] JsonError),
    /// Not an object, a missing or unknown member, or a member of the wrong type or range.
    #[error("malformed revocation: {0}")]
    Shape(&'static str),
    /// The issuer is not a DID with an Ed25519 key, so the signature cannot be checked.
    #[error("revocation issuer has no resolvable Ed25519 key: signature cannot be checked")]
    UnresolvableIssuer,
    /// The signature does not verify.
    #[error("invalid revocation signature")]
    SignatureInvalid,
    /// The revocation names another token or another issuer than the one given.
    #[error("revocation does not match the token: {0}")]
    Mismatch(&'static str),
    /// The revocation set is full.
    #[error(transparent)]
    Full(#[from] RevocationSetFull),
}

/// A signed revocation of one capability (see the [module docs](self)).
#[derive(Clone, PartialEq, Eq)]
pub struct Revocation {
    capability_hash: CapabilityHash,
    issuer: String,
    revoked_at: u64,
    reason: Option<String>,
    sig: Signature,
    signing: Vec<u8>,
}

impl core::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Revocation")
            .field("capability_hash", &to_hex(&self.capability_hash))
            .field("issuer", &self.issuer)
            .field("revoked_at", &self.revoked_at)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

const MEMBERS: [&str; 5] = ["capability_hash", "issuer", "revoked_at", "reason", "sig"];

impl Revocation {
    /// Signs a revocation of `capability_hash` by `issuer` (the revoked token's `iss`;
    /// `key` must be its key).
    ///
    /// # Errors
    /// [`RevocationError::Shape`] for a reason longer than [`MAX_REASON_LEN`] or a time beyond
    /// 2^53 − 1 seconds; [`RevocationError::TooLarge`].
    pub fn issue(
        key: &SigningKey,
        capability_hash: CapabilityHash,
        issuer: &str,
        revoked_at: Timestamp,
        reason: Option<&str>,
    ) -> Result<Self, RevocationError> {
        let secs = revoked_at.as_secs();
        let mut map = Map::new();
        map.insert(
            "capability_hash".into(),
            Value::String(to_hex(&capability_hash)),
        );
        map.insert("issuer".into(), Value::from(issuer));
        map.insert(
            "revoked_at".into(),
            Value::Number(
                Number::try_from(secs)
                    .ok()
                    .filter(|_| secs <= json::MAX_SAFE_INTEGER)
                    .ok_or(RevocationError::Shape("revoked_at exceeds 2^53 - 1"))?,
            ),
        );
        if let Some(r) = reason {
            if r.len() > MAX_REASON_LEN {
                return Err(RevocationError::Shape("reason too long"));
            }
            map.insert("reason".into(), Value::from(r));
        }
        let signing = Value::Object(map).to_canonical_vec();
        let sig = key.sign(&signing);
        let rev = Self {
            capability_hash,
            issuer: issuer.to_owned(),
            revoked_at: secs,
            reason: reason.map(str::to_owned),
            sig,
            signing,
        };
        let len = rev.to_json().len();
        if len > MAX_REVOCATION_BYTES {
            return Err(RevocationError::TooLarge {
                len,
                max: MAX_REVOCATION_BYTES,
            });
        }
        Ok(rev)
    }

    /// Parses a revocation strictly: at most [`MAX_REVOCATION_BYTES`], no duplicate, unknown
    /// or missing members, right types. Does not check the signature.
    ///
    /// # Errors
    /// [`RevocationError`].
    pub fn from_json(input: &[u8]) -> Result<Self, RevocationError> {
        if input.len() > MAX_REVOCATION_BYTES {
            return Err(RevocationError::TooLarge {
                len: input.len(),
                max: MAX_REVOCATION_BYTES,
            });
        }
        let Value::Object(mut map) = json::parse(input)? else {
            return Err(RevocationError::Shape("not a JSON object"));
        };
        if map.keys().any(|k| !MEMBERS.contains(&k.as_str())) {
            return Err(RevocationError::Shape("unknown member"));
        }
        let sig = match map.remove("sig") {
            Some(Value::String(s)) => base64url::decode_array::<64>(&s)
                .map_err(|_| RevocationError::Shape("sig is not 64 bytes of base64url"))?,
            _ => return Err(RevocationError::Shape("sig missing or not a string")),
        };
        let capability_hash = match map.get("capability_hash") {
            Some(Value::String(s)) => talos_crypto::hash::from_hex(s).ok_or(
                RevocationError::Shape("capability_hash is not 64 lowercase hex"),
            )?,
            _ => {
                return Err(RevocationError::Shape(
                    "capability_hash missing or not a string",
                ));
            }
        };
        let issuer = match map.get("issuer") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(RevocationError::Shape("issuer missing or not a string")),
        };
        let revoked_at = match map.get("revoked_at") {
            Some(Value::Number(n)) => n.as_u64().filter(|s| *s <= json::MAX_SAFE_INTEGER).ok_or(
                RevocationError::Shape("revoked_at is not an integer in range"),
            )?,
            _ => {
                return Err(RevocationError::Shape(
                    "revoked_at missing or not an integer",
                ));
            }
        };
        let reason = match map.get("reason") {
            None => None,
            Some(Value::String(s)) if s.len() <= MAX_REASON_LEN => Some(s.clone()),
            Some(_) => return Err(RevocationError::Shape("reason not a string or too long")),
        };
        Ok(Self {
            capability_hash,
            issuer,
            revoked_at,
            reason,
            sig: Signature::from_bytes(&sig),
            signing: Value::Object(map).to_canonical_vec(),
        })
    }

    /// The canonical JSON, signature included.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        // "sig" sorts last: replace the closing brace.
        let body = self.signing.split_last().map_or(&[][..], |(_, b)| b);
        let mut out = Vec::with_capacity(self.signing.len() + 95);
        out.extend_from_slice(body);
        out.extend_from_slice(br#","sig":""#);
        base64url::encode_to_vec(&self.sig.to_bytes(), &mut out);
        out.extend_from_slice(b"\"}");
        out
    }

    /// The bytes the ledger records for this revocation (entry kind [`LEDGER_KIND`]): the
    /// canonical JSON, signature included.
    #[must_use]
    pub fn to_ledger_entry(&self) -> Vec<u8> {
        self.to_json()
    }

    /// The revoked token's hash.
    #[must_use]
    pub fn capability_hash(&self) -> &CapabilityHash {
        &self.capability_hash
    }

    /// The issuer as written.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// When it was revoked, Unix seconds.
    #[must_use]
    pub fn revoked_at_secs(&self) -> u64 {
        self.revoked_at
    }

    /// The reason, if given.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Checks the signature against `key`.
    ///
    /// # Errors
    /// [`RevocationError::SignatureInvalid`].
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), RevocationError> {
        key.verify(&self.signing, &self.sig)
            .map_err(|_| RevocationError::SignatureInvalid)
    }

    /// Checks the signature against the Ed25519 key of the `issuer` DID.
    ///
    /// # Errors
    /// [`RevocationError::UnresolvableIssuer`] or [`RevocationError::SignatureInvalid`].
    pub fn verify_did(&self) -> Result<(), RevocationError> {
        let key = self
            .issuer
            .parse::<Did>()
            .ok()
            .and_then(|d| d.signing_key())
            .ok_or(RevocationError::UnresolvableIssuer)?;
        self.verify(&key)
    }

    /// Checks that this revokes `token` and is signed by its issuer with `issuer_key`.
    ///
    /// # Errors
    /// [`RevocationError::Mismatch`] or [`RevocationError::SignatureInvalid`].
    pub fn verify_for(
        &self,
        token: &CapabilityToken,
        issuer_key: &VerifyingKey,
    ) -> Result<(), RevocationError> {
        if self.capability_hash != *token.capability_hash() {
            return Err(RevocationError::Mismatch("capability_hash"));
        }
        if self.issuer != token.issuer() {
            return Err(RevocationError::Mismatch("issuer"));
        }
        self.verify(issuer_key)
    }
}

impl From<&RevocationError> for talos_crypto::ErrorCode {
    /// A signature that does not verify (or an issuer with no key to verify it) is a
    /// cryptographic failure; anything else is bad input.
    fn from(err: &RevocationError) -> Self {
        match err {
            RevocationError::SignatureInvalid | RevocationError::UnresolvableIssuer => {
                Self::CryptoError
            }
            _ => Self::InvalidInput,
        }
    }
}

/// The revocation set is full: refuse new capabilities or raise the capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("revocation set full ({capacity} entries)")]
pub struct RevocationSetFull {
    /// The set's capacity.
    pub capacity: usize,
}

/// Revoked capability hashes: O(1) lookup, bounded, with a generation counter.
///
/// Hashing uses std's SipHash with fixed keys (deterministic, no OS randomness); keys are
/// SHA-256 outputs of signed tokens, and inserts need the issuer's signature or the
/// operator's decision, so bucket flooding is not a practical concern.
#[derive(Clone, Debug)]
pub struct RevocationSet {
    set: HashSet<CapabilityHash, BuildHasherDefault<DefaultHasher>>,
    capacity: usize,
    generation: u64,
}

impl Default for RevocationSet {
    fn default() -> Self {
        Self::new(DEFAULT_REVOCATION_CAPACITY)
    }
}

impl RevocationSet {
    /// An empty set that holds at most `capacity` hashes.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            set: HashSet::default(),
            capacity,
            generation: 0,
        }
    }

    /// Adds a hash the caller has decided to revoke (an operator decision, or a revocation
    /// already verified). Returns `false` if it was already present. Every new hash bumps
    /// [`generation`](Self::generation).
    ///
    /// # Errors
    /// [`RevocationSetFull`] when the set holds `capacity` hashes.
    pub fn insert_hash(&mut self, hash: CapabilityHash) -> Result<bool, RevocationSetFull> {
        if self.set.contains(&hash) {
            return Ok(false);
        }
        if self.set.len() >= self.capacity {
            return Err(RevocationSetFull {
                capacity: self.capacity,
            });
        }
        self.set.insert(hash);
        self.generation = self.generation.wrapping_add(1);
        Ok(true)
    }

    /// Verifies that `revocation` revokes `token` and is signed by the token's issuer (the key
    /// of its `iss` DID), then adds the hash. A revocation signed by anyone else is refused:
    /// the capability hash travels in the clear, so a revocation that only had to be
    /// self-consistent would let anyone cancel anyone's capability. For an issuer whose key
    /// is not a DID (e.g. `did:talos:<hex>`), check with [`Revocation::verify_for`] and use
    /// [`insert_hash`](Self::insert_hash).
    ///
    /// # Errors
    /// [`RevocationError::Mismatch`] if it names another token or issuer,
    /// [`RevocationError::UnresolvableIssuer`], [`RevocationError::SignatureInvalid`], or a
    /// full set.
    pub fn insert(
        &mut self,
        revocation: &Revocation,
        token: &CapabilityToken,
    ) -> Result<bool, RevocationError> {
        let key = token
            .issuer()
            .parse::<Did>()
            .ok()
            .and_then(|d| d.signing_key())
            .ok_or(RevocationError::UnresolvableIssuer)?;
        revocation.verify_for(token, &key)?;
        Ok(self.insert_hash(revocation.capability_hash)?)
    }

    /// Whether `hash` is revoked.
    #[must_use]
    pub fn contains(&self, hash: &CapabilityHash) -> bool {
        self.set.contains(hash)
    }

    /// Number of revoked hashes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// `true` if nothing is revoked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Increases on every insert of a new hash: a cache that checked a session at
    /// generation `g` need not check again while the generation is still `g`.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }
}
