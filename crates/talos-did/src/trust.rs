//! Web of trust: signed endorsements between identities, their revocation, and a
//! deterministic, bounded evaluation of "do I trust this DID, and why?".
//!
//! - An [`Endorsement`] says "`endorser` vouches for `subject` at [`TrustLevel`] `level`,
//!   from `issued_at` until `expires_at`", signed by the endorser's Ed25519 key over the
//!   RFC 8785 canonical JSON of every member but `sig`. Its [`EndorsementId`] is SHA-256 of
//!   its canonical signed JSON.
//! - A [`Revocation`] says "`endorser` withdraws endorsement `id` from `revoked_at` on",
//!   signed the same way; only the endorser's revocation takes effect.
//! - A [`TrustGraph`] indexes both once; [`TrustGraph::evaluate`] then answers, for a set of
//!   anchors (DIDs the caller trusts directly), a subject, `now` and a [`TrustPolicy`], with a
//!   [`Verdict`]: untrusted, or trusted through a [`TrustPath`] of signed endorsements with an
//!   effective level. The rule (fewest hops, then highest level, then smallest ids) is on
//!   [`TrustGraph`].
//!
//! Both objects travel as canonical JSON (contracts `did/endorsement.schema.json` and
//! `did/endorsement_revocation.schema.json`) or deterministic CBOR; decoders accept one
//! encoding per value and verify signatures before they return. Nothing here reads a clock:
//! every time-dependent call takes `now`.
//!
//! ```
//! use talos_crypto::{SigningKey, Timestamp};
//! use talos_did::DidKey;
//! use talos_did::trust::{Endorsement, GraphLimits, TrustGraph, TrustLevel, TrustPolicy};
//!
//! let did = |key: &SigningKey| DidKey::Ed25519(key.verifying_key());
//! let (me, alice, bob) = (SigningKey::from_seed(&[1; 32]), SigningKey::from_seed(&[2; 32]),
//!                         SigningKey::from_seed(&[3; 32]));
//! let now = Timestamp::from_millis(1_768_178_601_000);
//! let year = Timestamp::from_millis(now.as_millis() + 365 * 86_400_000);
//!
//! // I vouch fully for Alice; Alice vouches marginally for Bob.
//! let e1 = Endorsement::sign(&me, &did(&alice), TrustLevel::Full, now, year).unwrap();
//! let e2 = Endorsement::sign(&alice, &did(&bob), TrustLevel::Marginal, now, year).unwrap();
//! // They travel as JSON or CBOR; decoding verifies the signature.
//! let e2 = Endorsement::from_cbor(&e2.to_cbor()).unwrap();
//!
//! let graph = TrustGraph::build([e1.clone(), e2.clone()], [], GraphLimits::default()).unwrap();
//! let verdict = graph.evaluate(&[did(&me)], &did(&bob), now, &TrustPolicy::default()).unwrap();
//! let path = verdict.path().unwrap();
//! assert_eq!(path.level(), TrustLevel::Marginal); // a path is worth its weakest hop
//! assert_eq!(path.endorsement_ids().collect::<Vec<_>>(), [e1.id(), e2.id()]);
//!
//! // Alice changes her mind.
//! let mut graph = graph;
//! graph.insert_revocation(e2.revoke(&alice, now).unwrap()).unwrap();
//! let verdict = graph.evaluate(&[did(&me)], &did(&bob), now, &TrustPolicy::default()).unwrap();
//! assert!(!verdict.is_trusted());
//! ```

mod endorsement;
mod graph;
mod revocation;

pub use endorsement::{
    Endorsement, EndorsementError, EndorsementId, MAX_ENCODED_LEN, TrustLevel, VERSION,
};
pub use graph::{
    DEFAULT_MAX_DEPTH, DEFAULT_MAX_EDGES, DEFAULT_MAX_ENDORSEMENTS, DEFAULT_MAX_NODES,
    DEFAULT_MAX_REVOCATIONS, EvaluateError, GraphError, GraphLimits, TrustGraph, TrustPath,
    TrustPolicy, Verdict,
};
pub use revocation::{Revocation, RevocationError};
