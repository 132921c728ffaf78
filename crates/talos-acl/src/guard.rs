//! The three checks together: a request is allowed only when the peer's [`Policy`] allows it,
//! the peer's rate limits and budgets do, **and** its capability does.
//!
//! [`Guard::authorize`] runs them cheapest first, so that a flood of requests a peer may not
//! make costs no signature verification:
//!
//! 1. the per-peer policy ([`Policy::evaluate`]) → [`DenyReason::PolicyDenied`];
//! 2. the rate limiter, with the peer's `rate` table from the policy or the guard's default
//!    ([`RateLimiter::check_with`]; every attempt that passed the policy counts) →
//!    [`DenyReason::RateLimited`] in [`BudgetMode::Hard`](crate::rate::BudgetMode::Hard); in
//!    `Warn` mode the request goes on and the [`Verdict`] carries the warning;
//! 3. the capability: a session's first request presents the chain ([`Presented::Chain`]),
//!    which is verified in full and, when valid, admitted to the [`SessionCache`] whether or
//!    not it allows this request (a tunnel can also admit it alone with [`Guard::admit`]); later requests present only the leaf's `capability_hash`
//!    ([`Presented::Hash`]) and are decided from the cache, or denied with
//!    [`DenyReason::NoCapability`] when the session is not cached ("full verification
//!    required").
//!
//! The guard owns the revocation set its cache is checked against, so the cache never sees a
//! set other than the one its generations count ([`SessionCache`] docs).
//!
//! ```
//! use talos_acl::guard::{Guard, Presented};
//! use talos_acl::policy::{Policy, PolicyRequest};
//! use talos_acl::rate::RateConfig;
//! use talos_acl::scope::Request;
//! use talos_acl::token::{CapabilityToken, TokenFields};
//! use talos_acl::crypto::{SigningKey, Timestamp};
//! use talos_acl::did::Did;
//!
//! let (server, agent) = (SigningKey::from_seed(&[1; 32]), SigningKey::from_seed(&[2; 32]));
//! let peer = Did::from(agent.verifying_key()).to_string();
//! let now = Timestamp::from_secs(1_767_225_600).unwrap();
//! let exp = Timestamp::from_secs(1_767_229_200).unwrap();
//! let fields = TokenFields::new(Did::from(server.verifying_key()).to_string(), &peer, "tool:*", now, exp);
//! let token = CapabilityToken::issue(&server, &fields)?;
//!
//! // The capability allows every tool; the policy keeps this peer away from `write_*`.
//! let policy = Policy::from_toml(&format!(
//!     "[peers.\"{peer}\"]\nallow_tools = [\"*\"]\ndeny_tools = [\"write_*\"]\n"
//! ))?;
//! let mut guard = Guard::new(policy, RateConfig::default());
//! let session = [7; 16];
//! let read = Request::new("read_file");
//! let first = guard.authorize(&peer, session, Presented::Chain(core::slice::from_ref(&token)),
//!     &read, &PolicyRequest::ToolCall { tool: "read_file" }, 0, now);
//! assert!(first.decision.is_allow());
//!
//! // Follow-ups carry only the hash and are decided from the session cache.
//! let hash = Presented::Hash(token.capability_hash());
//! let again = guard.authorize(&peer, session, hash, &read, &PolicyRequest::ToolCall { tool: "read_file" }, 0, now);
//! assert!(again.decision.is_allow());
//! let write = guard.authorize(&peer, session, hash, &Request::new("write_file"),
//!     &PolicyRequest::ToolCall { tool: "write_file" }, 0, now);
//! assert_eq!(write.decision.deny_reason().map(|r| r.code()), Some("POLICY_DENIED"));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use talos_crypto::{Timestamp, VerifyingKey};

use crate::cache::{SessionCache, SessionId};
use crate::policy::{Policy, PolicyRequest};
use crate::rate::{RateConfig, RateDecision, RateExceeded, RateLimit, RateLimiter};
use crate::revocation::{Revocation, RevocationError, RevocationSet, RevocationSetFull};
use crate::scope::Request;
use crate::token::{CapabilityHash, CapabilityToken};
use crate::verify::{Decision, Denial, DenyReason, Verifier};

/// What a request presents as its capability.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::exhaustive_enums)] // the two ways a session presents a capability
pub enum Presented<'a> {
    /// The full chain (root first): a session's first request.
    Chain(&'a [CapabilityToken]),
    /// Only the leaf's `capability_hash`: a follow-up decided from the session cache.
    Hash(&'a CapabilityHash),
}

/// The outcome of [`Guard::authorize`]: the decision, and a rate-limit warning when the peer
/// is over a limit in [`BudgetMode::Warn`](crate::rate::BudgetMode::Warn).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    /// Allow, or deny with one reason.
    pub decision: Decision,
    /// Set when a limit was exceeded but the mode only warns.
    pub warning: Option<RateExceeded>,
}

/// Policy, rate limits, revocations and the session cache, checked together.
#[derive(Debug)]
pub struct Guard {
    policy: Policy,
    limiter: RateLimiter,
    default_limit: RateLimit,
    verifier: Verifier,
    revoked: RevocationSet,
    cache: SessionCache,
}

impl Guard {
    /// A guard with `policy`, a rate limiter configured by `rate`, the default [`Verifier`], an
    /// empty revocation set and a default-sized session cache.
    #[must_use]
    pub fn new(policy: Policy, rate: RateConfig) -> Self {
        Self {
            policy,
            default_limit: rate.peer_limit,
            limiter: RateLimiter::new(rate),
            verifier: Verifier::default(),
            revoked: RevocationSet::default(),
            cache: SessionCache::default(),
        }
    }

    /// Replaces the verifier (delegation depth, clock skew).
    #[must_use]
    pub fn with_verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// Replaces the session cache (e.g. one of another capacity).
    #[must_use]
    pub fn with_cache(mut self, cache: SessionCache) -> Self {
        self.cache = cache;
        self
    }

    /// The policy.
    #[must_use]
    pub const fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the policy (e.g. after the operator edited the file); cached sessions stay,
    /// since the policy is evaluated on every request anyway.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// The revocation set.
    #[must_use]
    pub const fn revocations(&self) -> &RevocationSet {
        &self.revoked
    }

    /// Adds a revocation of `token` signed by its issuer; cached sessions that depend on the
    /// token are denied (and dropped) on their next request.
    ///
    /// # Errors
    /// As [`RevocationSet::insert`].
    pub fn revoke(
        &mut self,
        revocation: &Revocation,
        token: &CapabilityToken,
    ) -> Result<bool, RevocationError> {
        self.revoked.insert(revocation, token)
    }

    /// Revokes the capability with `hash` on the operator's decision (e.g. `talos cap revoke`
    /// on the serving node), without a signed revocation; cached sessions that depend on it
    /// are denied (and dropped) on their next request. Returns `false` if it was revoked
    /// already.
    ///
    /// # Errors
    /// [`RevocationSetFull`] when the set is full.
    pub fn revoke_hash(&mut self, hash: CapabilityHash) -> Result<bool, RevocationSetFull> {
        self.revoked.insert_hash(hash)
    }

    /// Ends a session: its next request must present the full chain again.
    pub fn end_session(&mut self, session: &SessionId) -> bool {
        self.cache.remove(session)
    }

    /// Verifies `chain` (root first) at `now` and admits it to the session cache for
    /// `session`, without deciding a request: a tunnel does this when a session presents its
    /// capability on a request that is not itself checked against it (`initialize`, a list).
    ///
    /// # Errors
    /// The [`Denial`] of the verification (signature, expiry, revocation, chain rules), or
    /// [`DenyReason::Malformed`] when the leaf's scope cannot be compiled.
    pub fn admit(
        &mut self,
        session: SessionId,
        chain: &[CapabilityToken],
        root_key: Option<&VerifyingKey>,
        now: Timestamp,
    ) -> Result<(), Denial> {
        let verified = self.verifier.verify(chain, root_key, now, &self.revoked)?;
        if self.cache.admit(session, verified) {
            Ok(())
        } else {
            Err(Denial::new(
                DenyReason::Malformed,
                "the capability's scope cannot be compiled".to_owned(),
            ))
        }
    }

    /// Whether a follow-up of `session` presenting `hash` may call `request`'s tool (method,
    /// resource) with some arguments, without counting against any rate limit: the policy,
    /// then the cached capability's scope and tool constraints
    /// ([`CompiledPolicy::authorize_target`](crate::verify::CompiledPolicy::authorize_target)).
    /// Lists are filtered with this, so that a peer is shown exactly what it may call.
    pub fn check(
        &mut self,
        peer: &str,
        session: SessionId,
        hash: &CapabilityHash,
        request: &Request<'_>,
        policy_request: &PolicyRequest<'_>,
        now: Timestamp,
    ) -> Decision {
        let policy = self.policy.evaluate(peer, policy_request);
        if !policy.is_allowed() {
            return Decision::Deny(Denial::new(DenyReason::PolicyDenied, policy.to_string()));
        }
        self.cache
            .decide(session, hash, now, &self.revoked, |policy| {
                policy.authorize_target(request)
            })
            .unwrap_or_else(|e| {
                Decision::Deny(Denial::new(DenyReason::NoCapability, e.to_string()))
            })
    }

    fn cached(
        &mut self,
        session: SessionId,
        hash: &CapabilityHash,
        request: &Request<'_>,
        now: Timestamp,
    ) -> Decision {
        self.cache
            .authorize_fast(session, hash, request, now, &self.revoked)
            .unwrap_or_else(|e| {
                Decision::Deny(Denial::new(DenyReason::NoCapability, e.to_string()))
            })
    }

    /// Decides `request` of `peer` (its DID, as the policy names it) in `session` at `now`.
    /// `policy_request` is the same request as the policy sees it (tool name or resource URI),
    /// `cost_bytes` its size for the byte budget, and `root_key` the root issuer's key when it
    /// is not resolved from the root's DID (see [`Verifier::verify`]).
    #[allow(clippy::too_many_arguments)] // one call per request, every argument is needed
    pub fn authorize(
        &mut self,
        peer: &str,
        session: SessionId,
        presented: Presented<'_>,
        request: &Request<'_>,
        policy_request: &PolicyRequest<'_>,
        cost_bytes: u64,
        now: Timestamp,
    ) -> Verdict {
        self.authorize_with_key(
            peer,
            session,
            presented,
            None,
            request,
            policy_request,
            cost_bytes,
            now,
        )
    }

    /// [`authorize`](Self::authorize) with an explicit root issuer key.
    #[allow(clippy::too_many_arguments)] // as `authorize`, plus the key
    pub fn authorize_with_key(
        &mut self,
        peer: &str,
        session: SessionId,
        presented: Presented<'_>,
        root_key: Option<&VerifyingKey>,
        request: &Request<'_>,
        policy_request: &PolicyRequest<'_>,
        cost_bytes: u64,
        now: Timestamp,
    ) -> Verdict {
        let policy = self.policy.evaluate(peer, policy_request);
        if !policy.is_allowed() {
            return deny(DenyReason::PolicyDenied, policy.to_string());
        }
        let limit = self.policy.rate_limit(peer).unwrap_or(self.default_limit);
        let warning =
            match self
                .limiter
                .check_with(&limit, peer, Some(request.tool), cost_bytes, now)
            {
                RateDecision::Allow => None,
                RateDecision::Warn(over) => Some(over),
                RateDecision::Deny(over) => {
                    return deny(DenyReason::RateLimited, over.to_string());
                }
            };
        let decision = match presented {
            Presented::Hash(hash) => self.cached(session, hash, request, now),
            Presented::Chain(chain) => {
                match self.verifier.verify(chain, root_key, now, &self.revoked) {
                    Err(denial) => Decision::Deny(denial),
                    Ok(verified) => {
                        // The chain is valid whatever this request asks: the session keeps it,
                        // so that a first request outside the scope does not force every
                        // follow-up to present the chain again.
                        let decision = verified.authorize(request);
                        self.cache.admit(session, verified);
                        decision
                    }
                }
            }
        };
        Verdict { decision, warning }
    }
}

fn deny(reason: DenyReason, message: String) -> Verdict {
    Verdict {
        decision: Decision::Deny(Denial::new(reason, message)),
        warning: None,
    }
}
