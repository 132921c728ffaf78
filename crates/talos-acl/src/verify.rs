//! Verification and authorization of a capability token or a delegation chain.
//!
//! # Order (REFERENCE §5.3, the Python full path)
//!
//! For a chain `[root, child, …]` each step runs over every link before the next step:
//!
//! 1. `iat` more than 60 s after `now` → [`DenyReason::Invalid`] ("future");
//! 2. `now > exp` → [`DenyReason::Expired`];
//! 3. a link's `capability_hash` is in the [`RevocationSet`] → [`DenyReason::Revoked`];
//! 4. signatures (one Ed25519 verify, or batch verification for a chain) →
//!    [`DenyReason::SignatureInvalid`];
//! 5. delegation rules → [`DenyReason::DelegationInvalid`];
//! 6. scope → [`DenyReason::UnknownTool`] or [`DenyReason::ScopeMismatch`];
//! 7. constraints of **every** link → [`DenyReason::ConstraintViolation`].
//!
//! Steps 1–5 are [`Verifier::verify`]; 6–7 are [`VerifiedChain::authorize`]. A scope or
//! constraints object that cannot be compiled is reported at step 6 as
//! [`DenyReason::Malformed`], so a token verifies even when this crate cannot read its scope.
//! An empty chain is [`DenyReason::NoCapability`]; a chain longer than the depth limit is
//! refused as [`DenyReason::DelegationInvalid`] before any other work.
//!
//! # Keys
//!
//! The root's key is the `root_key` argument when given (the upstream TS vectors use
//! `iss: "did:talos:<hex>"`, which no DID method resolves), else the Ed25519 key of the
//! root's `iss` DID (`did:key`, `did:peer`). A child's key is always that of its `iss` DID.
//! Decoding a did:key (base58 and point decompression) costs about a fifth of a signature
//! check; [`Verifier::verify_with`] takes a [`KeyResolver`] such as a [`KeyRing`] of issuers
//! already resolved, which a node keeps for the DIDs it meets often.
//!
//! # Delegation (our extension of format C)
//!
//! A chain has at most `1 + max_depth` tokens ([`DEFAULT_MAX_DEPTH`] = 3 delegations). The
//! root has no `parent`; for each child: `parent` = the previous link's `capability_hash`,
//! `iss` = the previous link's `sub`, `exp` ≤ the previous `exp`, every scope item is covered
//! by an item of the previous scope ([`CompiledScope::covers`]), and every constraint list it
//! sets is within the previous one's ([`Constraints::tightens`]). A parent's constraint the
//! child leaves out still applies: step 7 checks every link's constraints.
//!
//! ```
//! use talos_acl::revocation::RevocationSet;
//! use talos_acl::scope::Request;
//! use talos_acl::token::{CapabilityToken, TokenFields};
//! use talos_acl::verify::{DenyReason, Verifier};
//! use talos_crypto::{SigningKey, Timestamp};
//! use talos_did::Did;
//!
//! let alice = SigningKey::from_seed(&[1; 32]);
//! let bob = SigningKey::from_seed(&[2; 32]);
//! let (a, b) = (Did::from(alice.verifying_key()).to_string(), Did::from(bob.verifying_key()).to_string());
//! let now = Timestamp::from_secs(1_700_000_000).unwrap();
//! let exp = Timestamp::from_secs(1_700_003_600).unwrap();
//!
//! let root = CapabilityToken::issue(&alice, &TokenFields::new(&a, &b, "tool:fs", now, exp)).unwrap();
//! let child_fields = TokenFields::new(&b, "did:talos:carol", "tool:fs/method:read", now, exp).with_parent(&root);
//! let child = CapabilityToken::issue(&bob, &child_fields).unwrap();
//!
//! let revoked = RevocationSet::default();
//! let chain = [root, child];
//! let verified = Verifier::default().verify(&chain, None, now, &revoked).unwrap();
//! assert!(verified.authorize(&Request::new("fs").with_method("read")).is_allow());
//! let denied = verified.authorize(&Request::new("fs").with_method("write"));
//! assert_eq!(denied.deny_reason(), Some(DenyReason::ScopeMismatch));
//! ```

use core::fmt;
use core::time::Duration;
use std::borrow::Cow;

use talos_crypto::{ErrorCode, Signature, Timestamp, VerifyingKey, verify_batch};
use talos_did::Did;

use crate::revocation::RevocationSet;
use crate::scope::{CompiledScope, ConstraintViolation, Constraints, Request, ScopeDenial};
use crate::token::{CapabilityHash, CapabilityToken};

/// Delegations allowed below the root by default: a chain holds at most 1 + 3 tokens.
pub const DEFAULT_MAX_DEPTH: usize = 3;

/// How far in the future `iat` may be (clock skew), as upstream: 60 s.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(60);

/// Why a request was denied. [`code`](Self::code) is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// `NO_CAPABILITY` (1): no token, or the session cache has none.
    NoCapability,
    /// `EXPIRED` (2).
    Expired,
    /// `REVOKED` (3).
    Revoked,
    /// `SCOPE_MISMATCH` (4).
    ScopeMismatch,
    /// `DELEGATION_INVALID` (5).
    DelegationInvalid,
    /// `UNKNOWN_TOOL` (6).
    UnknownTool,
    /// `SIGNATURE_INVALID` (8).
    SignatureInvalid,
    /// `CONSTRAINT_VIOLATION`: a constraint on the arguments refuses the request.
    ConstraintViolation,
    /// `INVALID`: the token is not valid yet (issued in the future beyond the skew).
    Invalid,
    /// `MALFORMED`: the token cannot be read (bad JSON, unknown member, unreadable scope or
    /// an unknown constraint).
    Malformed,
    /// `POLICY_DENIED`: the per-peer policy refuses the request ([`crate::guard`]).
    PolicyDenied,
    /// `RATE_LIMITED`: a rate limit or budget of the peer refuses it ([`crate::guard`]).
    RateLimited,
}

impl DenyReason {
    /// The stable code: REFERENCE §0.2 denial reasons where they exist.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::NoCapability => "NO_CAPABILITY",
            Self::Expired => "EXPIRED",
            Self::Revoked => "REVOKED",
            Self::ScopeMismatch => "SCOPE_MISMATCH",
            Self::DelegationInvalid => "DELEGATION_INVALID",
            Self::UnknownTool => "UNKNOWN_TOOL",
            Self::SignatureInvalid => "SIGNATURE_INVALID",
            Self::ConstraintViolation => "CONSTRAINT_VIOLATION",
            Self::Invalid => "INVALID",
            Self::Malformed => "MALFORMED",
            Self::PolicyDenied => "POLICY_DENIED",
            Self::RateLimited => "RATE_LIMITED",
        }
    }

    /// The `DenialReason` number of `proto/talos.proto`, where one exists.
    #[must_use]
    pub const fn proto_number(self) -> Option<u8> {
        match self {
            Self::NoCapability => Some(1),
            Self::Expired => Some(2),
            Self::Revoked => Some(3),
            Self::ScopeMismatch => Some(4),
            Self::DelegationInvalid => Some(5),
            Self::UnknownTool => Some(6),
            Self::SignatureInvalid => Some(8),
            Self::ConstraintViolation
            | Self::Invalid
            | Self::Malformed
            | Self::PolicyDenied
            | Self::RateLimited => None,
        }
    }

    /// The upstream error code: `TALOS_INVALID_CAPABILITY` when the token itself is bad
    /// (expired, revoked, forged, malformed, bad chain), `TALOS_DENIED` when a good token
    /// does not allow the request.
    #[must_use]
    pub const fn error_code(self) -> ErrorCode {
        match self {
            Self::Expired
            | Self::Revoked
            | Self::SignatureInvalid
            | Self::DelegationInvalid
            | Self::Invalid
            | Self::Malformed => ErrorCode::InvalidCapability,
            Self::NoCapability
            | Self::ScopeMismatch
            | Self::UnknownTool
            | Self::ConstraintViolation
            | Self::PolicyDenied
            | Self::RateLimited => ErrorCode::Denied,
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A denial: one reason and a message a caller can show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    reason: DenyReason,
    message: Cow<'static, str>,
}

impl Denial {
    /// A denial with a message.
    #[must_use]
    pub fn new(reason: DenyReason, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// The reason.
    #[must_use]
    pub const fn reason(&self) -> DenyReason {
        self.reason
    }

    /// The human message (contains "expired" / "signature" where upstream vectors look for
    /// them).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The upstream error code ([`DenyReason::error_code`]).
    #[must_use]
    pub const fn error_code(&self) -> ErrorCode {
        self.reason.error_code()
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.message)
    }
}

impl core::error::Error for Denial {}

impl From<&crate::token::TokenError> for Denial {
    /// A token that does not parse: a duplicate key is `SIGNATURE_INVALID` (as upstream: no
    /// signature can be checked over an ambiguous token), anything else `MALFORMED`.
    fn from(e: &crate::token::TokenError) -> Self {
        let reason = match e {
            crate::token::TokenError::DuplicateKey { .. } => DenyReason::SignatureInvalid,
            _ => DenyReason::Malformed,
        };
        Self::new(reason, e.to_string())
    }
}

/// The outcome of an authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // allow or deny: closed by design
#[must_use]
pub enum Decision {
    /// The request is allowed.
    Allow,
    /// The request is denied, for one reason.
    Deny(Denial),
}

impl Decision {
    /// `true` for [`Decision::Allow`].
    #[must_use]
    pub const fn is_allow(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// The reason of a denial.
    #[must_use]
    pub const fn deny_reason(&self) -> Option<DenyReason> {
        match self {
            Self::Allow => None,
            Self::Deny(d) => Some(d.reason),
        }
    }

    /// The denial, if any.
    #[must_use]
    pub const fn denial(&self) -> Option<&Denial> {
        match self {
            Self::Allow => None,
            Self::Deny(d) => Some(d),
        }
    }
}

/// What a verified chain allows: the leaf's scope and every link's constraints, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledPolicy {
    scope: CompiledScope,
    constraints: Box<[Constraints]>,
}

impl CompiledPolicy {
    /// Scope, then every link's constraints (steps 6–7). Allocates nothing, also when it
    /// denies.
    pub fn authorize(&self, request: &Request<'_>) -> Decision {
        self.decide(request, Constraints::check)
    }

    /// Whether some call of `request`'s tool (method, resource) could be allowed: the scope
    /// and the constraints on the tool and method, but not those on a call's arguments
    /// (`paths`, `max_arg_bytes`). A tunnel filters lists with this, so that it lists exactly
    /// the tools a peer may call with some arguments.
    pub fn authorize_target(&self, request: &Request<'_>) -> Decision {
        self.decide(request, Constraints::check_target)
    }

    fn decide(
        &self,
        request: &Request<'_>,
        constraint: impl Fn(&Constraints, &Request<'_>) -> Result<(), ConstraintViolation>,
    ) -> Decision {
        match self.scope.check(request) {
            Ok(()) => {}
            Err(ScopeDenial::UnknownTool) => {
                return Decision::Deny(Denial::new(
                    DenyReason::UnknownTool,
                    "no scope item names this tool",
                ));
            }
            Err(_) => {
                return Decision::Deny(Denial::new(
                    DenyReason::ScopeMismatch,
                    "scope does not cover this method or resource",
                ));
            }
        }
        for c in &self.constraints {
            if let Err(v) = constraint(c, request) {
                return Decision::Deny(Denial::new(DenyReason::ConstraintViolation, v.message()));
            }
        }
        Decision::Allow
    }
}

/// A chain that passed steps 1–5 at some `now`.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    hashes: Box<[CapabilityHash]>,
    exp_secs: u64,
    policy: Result<CompiledPolicy, Denial>,
}

impl VerifiedChain {
    /// Steps 6–7 for `request`.
    pub fn authorize(&self, request: &Request<'_>) -> Decision {
        match &self.policy {
            Ok(p) => p.authorize(request),
            Err(d) => Decision::Deny(d.clone()),
        }
    }

    /// The leaf token's `capability_hash`.
    #[must_use]
    pub fn capability_hash(&self) -> &CapabilityHash {
        // A verified chain is never empty.
        self.hashes.last().unwrap_or(&[0; 32])
    }

    /// Every link's `capability_hash`, root first.
    #[must_use]
    pub fn chain_hashes(&self) -> &[CapabilityHash] {
        &self.hashes
    }

    /// The earliest `exp` of the chain, Unix seconds.
    #[must_use]
    pub fn expires_at_secs(&self) -> u64 {
        self.exp_secs
    }

    /// The compiled policy, or the denial explaining why the scope or constraints cannot be
    /// read.
    ///
    /// # Errors
    /// The [`DenyReason::Malformed`] denial.
    pub fn policy(&self) -> Result<&CompiledPolicy, &Denial> {
        self.policy.as_ref()
    }

    pub(crate) fn into_parts(self) -> (Box<[CapabilityHash]>, u64, Result<CompiledPolicy, Denial>) {
        (self.hashes, self.exp_secs, self.policy)
    }
}

/// Verification settings. [`Verifier::default`] is upstream's: 60 s skew, depth 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verifier {
    max_depth: usize,
    skew: Duration,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            skew: DEFAULT_SKEW,
        }
    }
}

fn deny(reason: DenyReason, message: impl Into<Cow<'static, str>>) -> Denial {
    Denial::new(reason, message)
}

impl Verifier {
    /// Allows at most `max_depth` delegations below the root.
    #[must_use]
    pub const fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Sets how far in the future `iat` may be.
    #[must_use]
    pub const fn with_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Steps 1–5 for `chain` (root first) at `now` (see the [module docs](self)), resolving
    /// issuers with [`DidResolver`].
    ///
    /// # Errors
    /// The first [`Denial`] in the documented order.
    pub fn verify(
        &self,
        chain: &[CapabilityToken],
        root_key: Option<&VerifyingKey>,
        now: Timestamp,
        revoked: &RevocationSet,
    ) -> Result<VerifiedChain, Denial> {
        self.verify_with(chain, root_key, &DidResolver, now, revoked)
    }

    /// [`verify`](Self::verify) with issuer keys from `keys` (for example a [`KeyRing`] of
    /// issuers already resolved, which saves the DID decoding on every cold verification).
    ///
    /// # Errors
    /// The first [`Denial`] in the documented order.
    pub fn verify_with(
        &self,
        chain: &[CapabilityToken],
        root_key: Option<&VerifyingKey>,
        keys: &impl KeyResolver,
        now: Timestamp,
        revoked: &RevocationSet,
    ) -> Result<VerifiedChain, Denial> {
        let Some(root) = chain.first() else {
            return Err(deny(DenyReason::NoCapability, "no capability token"));
        };
        if chain.len() > self.max_depth.saturating_add(1) {
            return Err(deny(
                DenyReason::DelegationInvalid,
                format!("delegation chain deeper than {}", self.max_depth),
            ));
        }
        let now_ms = now.as_millis();
        let latest_iat =
            now_ms.saturating_add(u64::try_from(self.skew.as_millis()).unwrap_or(u64::MAX));
        // (1) not yet valid
        if chain.iter().any(|t| t.issued_at().as_millis() > latest_iat) {
            return Err(deny(
                DenyReason::Invalid,
                "capability issued in the future (beyond clock skew)",
            ));
        }
        // (2) expired
        if chain.iter().any(|t| now_ms > t.expires_at().as_millis()) {
            return Err(deny(DenyReason::Expired, "capability expired"));
        }
        // (3) revoked (any link)
        if chain.iter().any(|t| revoked.contains(t.capability_hash())) {
            return Err(deny(DenyReason::Revoked, "capability revoked"));
        }
        // (4) signatures
        let root_key = match root_key {
            Some(k) => *k,
            None => issuer_key(keys, root.issuer())?,
        };
        if chain.len() == 1 {
            root.verify_signature(&root_key)
                .map_err(|_| deny(DenyReason::SignatureInvalid, "invalid capability signature"))?;
        } else {
            let resolver = keys;
            let mut keys = Vec::with_capacity(chain.len());
            keys.push(root_key);
            for t in chain.iter().skip(1) {
                keys.push(issuer_key(resolver, t.issuer())?);
            }
            let messages: Vec<&[u8]> = chain.iter().map(CapabilityToken::signing_bytes).collect();
            let sigs: Vec<Signature> = chain.iter().map(|t| *t.signature()).collect();
            verify_batch(&messages, &sigs, &keys).map_err(|_| {
                deny(
                    DenyReason::SignatureInvalid,
                    "invalid capability signature in delegation chain",
                )
            })?;
        }
        // (5) delegation rules
        if root.parent().is_some() {
            return Err(deny(
                DenyReason::DelegationInvalid,
                "chain starts at a delegated token: its parent is missing",
            ));
        }
        for pair in chain.windows(2) {
            let [parent, child] = pair else { continue };
            if child.parent() != Some(parent.capability_hash()) {
                return Err(deny(
                    DenyReason::DelegationInvalid,
                    "parent does not name the previous link's capability_hash",
                ));
            }
            if child.issuer() != parent.subject() {
                return Err(deny(
                    DenyReason::DelegationInvalid,
                    "issuer is not the previous link's subject",
                ));
            }
            if child.expires_at_secs() > parent.expires_at_secs() {
                return Err(deny(
                    DenyReason::DelegationInvalid,
                    "expires after its parent",
                ));
            }
        }
        let policy = compile(chain)?;
        let exp_secs = chain
            .iter()
            .map(CapabilityToken::expires_at_secs)
            .min()
            .unwrap_or(0);
        Ok(VerifiedChain {
            hashes: chain.iter().map(|t| *t.capability_hash()).collect(),
            exp_secs,
            policy,
        })
    }

    /// Verifies `chain` and authorizes `request` (steps 1–7).
    pub fn authorize(
        &self,
        chain: &[CapabilityToken],
        root_key: Option<&VerifyingKey>,
        request: &Request<'_>,
        now: Timestamp,
        revoked: &RevocationSet,
    ) -> Decision {
        self.authorize_with(chain, root_key, &DidResolver, request, now, revoked)
    }

    /// [`authorize`](Self::authorize) with issuer keys from `keys`.
    pub fn authorize_with(
        &self,
        chain: &[CapabilityToken],
        root_key: Option<&VerifyingKey>,
        keys: &impl KeyResolver,
        request: &Request<'_>,
        now: Timestamp,
        revoked: &RevocationSet,
    ) -> Decision {
        match self.verify_with(chain, root_key, keys, now, revoked) {
            Ok(v) => v.authorize(request),
            Err(d) => Decision::Deny(d),
        }
    }
}

/// [`Verifier::default`]`.authorize(…)` for one token.
pub fn authorize(
    token: &CapabilityToken,
    root_key: Option<&VerifyingKey>,
    request: &Request<'_>,
    now: Timestamp,
    revoked: &RevocationSet,
) -> Decision {
    Verifier::default().authorize(
        core::slice::from_ref(token),
        root_key,
        request,
        now,
        revoked,
    )
}

/// Where issuer keys come from.
pub trait KeyResolver {
    /// The Ed25519 key that signs as `issuer`, if known.
    fn resolve(&self, issuer: &str) -> Option<VerifyingKey>;
}

/// Resolves an issuer that is a DID with an Ed25519 key (`did:key`, `did:peer`) by decoding
/// it ([`Did::signing_key`]); any other issuer is unknown.
#[derive(Clone, Copy, Debug, Default)]
pub struct DidResolver;

impl KeyResolver for DidResolver {
    fn resolve(&self, issuer: &str) -> Option<VerifyingKey> {
        issuer.parse::<Did>().ok().and_then(|d| d.signing_key())
    }
}

/// The most issuers a [`KeyRing`] holds.
pub const MAX_KEY_RING: usize = 4096;

/// Issuers whose keys are already known, checked before DID decoding: a bounded map from
/// issuer string to key. An entry is trusted configuration (it says "this issuer signs with
/// this key"), so add a DID only through [`KeyRing::insert_did`], which derives the key from
/// the DID itself, and opaque issuers (`did:talos:…`) only from a trusted source.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: std::collections::HashMap<
        String,
        VerifyingKey,
        core::hash::BuildHasherDefault<std::hash::DefaultHasher>,
    >,
}

impl KeyRing {
    /// An empty ring.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a DID with its own key. Returns `false` if the string is not a DID with an
    /// Ed25519 key or the ring is full ([`MAX_KEY_RING`]).
    pub fn insert_did(&mut self, did: &str) -> bool {
        match DidResolver.resolve(did) {
            Some(key) => self.insert_trusted(did, key),
            None => false,
        }
    }

    /// Adds an issuer with a key the caller vouches for. Returns `false` if the ring is
    /// full ([`MAX_KEY_RING`]).
    pub fn insert_trusted(&mut self, issuer: &str, key: VerifyingKey) -> bool {
        if self.keys.len() >= MAX_KEY_RING && !self.keys.contains_key(issuer) {
            return false;
        }
        self.keys.insert(issuer.to_owned(), key);
        true
    }

    /// Issuers held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `true` if empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyResolver for KeyRing {
    /// The ring's key, else [`DidResolver`].
    fn resolve(&self, issuer: &str) -> Option<VerifyingKey> {
        self.keys
            .get(issuer)
            .copied()
            .or_else(|| DidResolver.resolve(issuer))
    }
}

fn issuer_key(keys: &impl KeyResolver, iss: &str) -> Result<VerifyingKey, Denial> {
    keys.resolve(iss).ok_or_else(|| {
        deny(
            DenyReason::SignatureInvalid,
            "issuer is not a DID with an Ed25519 key: signature cannot be checked",
        )
    })
}

/// Compiles every link; checks scope coverage and constraint tightening (step 5).
/// `Ok(Err(_))`: a link cannot be compiled, reported at authorize time.
fn compile(chain: &[CapabilityToken]) -> Result<Result<CompiledPolicy, Denial>, Denial> {
    let mut prev: Option<CompiledScope> = None;
    let mut constraints: Vec<Constraints> = Vec::with_capacity(chain.len());
    for token in chain {
        let compiled = CompiledScope::parse(token.scope(), token.constraints())
            .map_err(|e| e.to_string())
            .and_then(|s| {
                Constraints::parse(token.constraints())
                    .map(|c| (s, c))
                    .map_err(|e| e.to_string())
            });
        let (scope, cons) = match compiled {
            Ok(x) => x,
            Err(message) => return Ok(Err(deny(DenyReason::Malformed, message))),
        };
        if let Some(parent_scope) = &prev {
            if !parent_scope.covers(&scope) {
                return Err(deny(
                    DenyReason::DelegationInvalid,
                    "delegated scope is broader than its parent's",
                ));
            }
            // Within every ancestor's constraints, not only the parent's.
            if !constraints.iter().all(|ancestor| cons.tightens(ancestor)) {
                return Err(deny(
                    DenyReason::DelegationInvalid,
                    "delegated constraints are looser than its parent's",
                ));
            }
        }
        constraints.push(cons);
        prev = Some(scope);
    }
    let Some(scope) = prev else {
        return Err(deny(DenyReason::NoCapability, "no capability token"));
    };
    constraints.retain(|c| !c.is_empty());
    Ok(Ok(CompiledPolicy {
        scope,
        constraints: constraints.into_boxed_slice(),
    }))
}
