#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Capability tokens and what a capability allows.
pub mod cache;
pub mod revocation;
pub mod scope;
pub mod token;
pub mod verify;
// The three checks together.
pub mod guard;
// Globs, per-peer policy, rate limits and budgets, RBAC bindings.
pub mod glob;
pub mod policy;
pub mod rate;
pub mod rbac;

// Re-exports: capabilities.
pub use cache::{NoCapability, SessionCache, SessionId};
pub use revocation::{Revocation, RevocationError, RevocationSet};
pub use scope::{CompiledScope, Constraints, Request, ScopeError};
pub use token::{CapabilityHash, CapabilityToken, TokenError, TokenFields};
pub use verify::{
    Decision, Denial, DenyReason, DidResolver, KeyResolver, KeyRing, VerifiedChain, Verifier,
    authorize,
};

pub use guard::{Guard, Presented, Verdict};

// Re-exports: policy, rate limits, RBAC.
pub use glob::{Glob, GlobError};
pub use policy::{Policy, PolicyDecision, PolicyError, PolicyReason, PolicyRequest};
pub use rate::{BudgetMode, RateConfig, RateDecision, RateLimit, RateLimiter};
pub use rbac::RbacDecision;

/// The primitives this crate is built on (keys, signatures, `Timestamp`), re-exported so that
/// a program using only this crate can name them.
pub use talos_crypto as crypto;

/// The DIDs that name issuers and subjects (talos-did), re-exported likewise.
pub use talos_did as did;

/// This crate's version, as golden vectors record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
