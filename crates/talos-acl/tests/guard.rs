#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Policy, rate limits and capability together: each can deny alone, the cheap checks run
//! first, follow-ups come from the session cache, and a revocation reaches cached sessions.

use talos_acl::crypto::{SigningKey, Timestamp};
use talos_acl::did::Did;
use talos_acl::guard::{Guard, Presented};
use talos_acl::policy::{Policy, PolicyRequest};
use talos_acl::rate::{BudgetMode, RateConfig, RateLimit};
use talos_acl::revocation::Revocation;
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_acl::verify::DenyReason;

const NOW: u64 = 1_767_225_600;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs).unwrap()
}

struct Setup {
    server: SigningKey,
    peer: String,
    token: CapabilityToken,
}

fn setup(scope: &str) -> Setup {
    let server = SigningKey::from_seed(&[1; 32]);
    let agent = SigningKey::from_seed(&[2; 32]);
    let peer = Did::from(agent.verifying_key()).to_string();
    let iss = Did::from(server.verifying_key()).to_string();
    let fields = TokenFields::new(iss, &peer, scope, at(NOW), at(NOW + 3600));
    let token = CapabilityToken::issue(&server, &fields).unwrap();
    Setup {
        server,
        peer,
        token,
    }
}

fn policy(peer: &str, rate: &str) -> Policy {
    Policy::from_toml(&format!(
        "[peers.\"{peer}\"]\nallow_tools = [\"*\"]\ndeny_tools = [\"write_*\"]\n{rate}"
    ))
    .unwrap()
}

fn call(tool: &str) -> (Request<'_>, PolicyRequest<'_>) {
    (Request::new(tool), PolicyRequest::ToolCall { tool })
}

fn reason(v: &talos_acl::guard::Verdict) -> Option<&'static str> {
    v.decision.deny_reason().map(DenyReason::code)
}

#[test]
fn all_three_must_allow() {
    let s = setup("tool:read_file tool:write_file");
    let mut guard = Guard::new(policy(&s.peer, ""), RateConfig::default());
    let chain = core::slice::from_ref(&s.token);
    let (req, preq) = call("read_file");
    let v = guard.authorize(
        &s.peer,
        [1; 16],
        Presented::Chain(chain),
        &req,
        &preq,
        0,
        at(NOW),
    );
    assert!(v.decision.is_allow(), "{v:?}");
    // The capability allows write_file; the policy does not.
    let (req, preq) = call("write_file");
    let v = guard.authorize(
        &s.peer,
        [2; 16],
        Presented::Chain(chain),
        &req,
        &preq,
        0,
        at(NOW),
    );
    assert_eq!(reason(&v), Some("POLICY_DENIED"));
    assert!(v.decision.denial().unwrap().message().contains("write_*"));
    // The policy allows search; the capability does not.
    let (req, preq) = call("search");
    let v = guard.authorize(
        &s.peer,
        [3; 16],
        Presented::Chain(chain),
        &req,
        &preq,
        0,
        at(NOW),
    );
    // (no scope item names the tool: denied by default as an unknown tool)
    assert_eq!(reason(&v), Some("UNKNOWN_TOOL"));
    // A stranger is refused by the default-deny policy before anything else.
    let (req, preq) = call("read_file");
    let v = guard.authorize(
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        [4; 16],
        Presented::Chain(chain),
        &req,
        &preq,
        0,
        at(NOW),
    );
    assert_eq!(reason(&v), Some("POLICY_DENIED"));
}

#[test]
fn policy_runs_before_signature_verification() {
    let s = setup("tool:write_file");
    let mut forged = s.token.to_json();
    let at_sig = forged.windows(6).position(|w| w == b"\"sig\":").unwrap() + 8;
    forged[at_sig] ^= 1;
    let forged = CapabilityToken::from_json(&forged).unwrap();
    let mut guard = Guard::new(policy(&s.peer, ""), RateConfig::default());
    let chain = core::slice::from_ref(&forged);
    let (req, preq) = call("write_file");
    let v = guard.authorize(
        &s.peer,
        [1; 16],
        Presented::Chain(chain),
        &req,
        &preq,
        0,
        at(NOW),
    );
    assert_eq!(reason(&v), Some("POLICY_DENIED"));
    let (req, preq) = call("read_file");
    let v = guard.authorize(
        &s.peer,
        [1; 16],
        Presented::Chain(chain),
        &req,
        &preq,
        0,
        at(NOW),
    );
    assert_eq!(reason(&v), Some("SIGNATURE_INVALID"));
}

#[test]
fn follow_ups_come_from_the_cache_and_revocation_reaches_them() {
    let s = setup("tool:read_file");
    let mut guard = Guard::new(policy(&s.peer, ""), RateConfig::default());
    let hash = Presented::Hash(s.token.capability_hash());
    let (req, preq) = call("read_file");
    // No full verification yet: the hash alone is not enough.
    let v = guard.authorize(&s.peer, [9; 16], hash, &req, &preq, 0, at(NOW));
    assert_eq!(reason(&v), Some("NO_CAPABILITY"));
    let chain = Presented::Chain(core::slice::from_ref(&s.token));
    assert!(
        guard
            .authorize(&s.peer, [9; 16], chain, &req, &preq, 0, at(NOW))
            .decision
            .is_allow()
    );
    assert!(
        guard
            .authorize(&s.peer, [9; 16], hash, &req, &preq, 0, at(NOW + 1))
            .decision
            .is_allow()
    );
    // Another session does not share the first one's verification.
    let v = guard.authorize(&s.peer, [8; 16], hash, &req, &preq, 0, at(NOW + 1));
    assert_eq!(reason(&v), Some("NO_CAPABILITY"));

    let iss = Did::from(s.server.verifying_key()).to_string();
    let revocation = Revocation::issue(
        &s.server,
        *s.token.capability_hash(),
        &iss,
        at(NOW + 2),
        None,
    )
    .unwrap();
    // Someone else's "revocation" of the same hash is refused.
    let mallory = SigningKey::from_seed(&[6; 32]);
    let mallory_did = Did::from(mallory.verifying_key()).to_string();
    let forged = Revocation::issue(
        &mallory,
        *s.token.capability_hash(),
        &mallory_did,
        at(NOW + 2),
        None,
    )
    .unwrap();
    assert!(guard.revoke(&forged, &s.token).is_err());
    assert!(guard.revocations().is_empty());
    assert!(guard.revoke(&revocation, &s.token).unwrap());
    let v = guard.authorize(&s.peer, [9; 16], hash, &req, &preq, 0, at(NOW + 2));
    assert_eq!(reason(&v), Some("REVOKED"));
    let v = guard.authorize(&s.peer, [9; 16], chain, &req, &preq, 0, at(NOW + 2));
    assert_eq!(reason(&v), Some("REVOKED"));
    // After expiry the cached session is refused too.
    let s2 = setup("tool:read_file tool:list");
    let chain2 = Presented::Chain(core::slice::from_ref(&s2.token));
    assert!(
        guard
            .authorize(&s2.peer, [7; 16], chain2, &req, &preq, 0, at(NOW))
            .decision
            .is_allow()
    );
    let hash2 = Presented::Hash(s2.token.capability_hash());
    let v = guard.authorize(&s2.peer, [7; 16], hash2, &req, &preq, 0, at(NOW + 3601));
    assert_eq!(reason(&v), Some("EXPIRED"));
    // Expiry dropped the session; ending a live one forgets its verification too.
    assert!(!guard.end_session(&[7; 16]));
    assert!(
        guard
            .authorize(&s2.peer, [6; 16], chain2, &req, &preq, 0, at(NOW))
            .decision
            .is_allow()
    );
    assert!(guard.end_session(&[6; 16]));
    let v = guard.authorize(&s2.peer, [6; 16], hash2, &req, &preq, 0, at(NOW));
    assert_eq!(reason(&v), Some("NO_CAPABILITY"));
}

#[test]
fn rate_limits_deny_in_hard_mode_and_warn_in_warn_mode() {
    let s = setup("tool:read_file");
    let rate = "rate = { requests_per_second = 1, burst = 2 }\n";
    let chain = Presented::Chain(core::slice::from_ref(&s.token));
    let hash = Presented::Hash(s.token.capability_hash());
    let (req, preq) = call("read_file");

    let mut hard = Guard::new(policy(&s.peer, rate), RateConfig::default());
    assert!(
        hard.authorize(&s.peer, [1; 16], chain, &req, &preq, 0, at(NOW))
            .decision
            .is_allow()
    );
    assert!(
        hard.authorize(&s.peer, [1; 16], hash, &req, &preq, 0, at(NOW))
            .decision
            .is_allow()
    );
    let v = hard.authorize(&s.peer, [1; 16], hash, &req, &preq, 0, at(NOW));
    assert_eq!(reason(&v), Some("RATE_LIMITED"));
    // One second later one token has refilled.
    assert!(
        hard.authorize(&s.peer, [1; 16], hash, &req, &preq, 0, at(NOW + 1))
            .decision
            .is_allow()
    );

    let warn = RateConfig {
        mode: BudgetMode::Warn,
        peer_limit: RateLimit {
            requests_per_second: 1,
            burst: 1,
            bytes_per_day: None,
        },
        ..RateConfig::default()
    };
    // No `rate` table in the policy: the guard's default limit applies.
    let mut soft = Guard::new(policy(&s.peer, ""), warn);
    let v = soft.authorize(&s.peer, [1; 16], chain, &req, &preq, 0, at(NOW));
    assert!(v.decision.is_allow() && v.warning.is_none());
    let v = soft.authorize(&s.peer, [1; 16], hash, &req, &preq, 0, at(NOW));
    assert!(v.decision.is_allow());
    assert!(
        v.warning.is_some(),
        "over the limit in warn mode: allowed with a warning"
    );
}

#[test]
fn admit_then_check_lists_what_may_be_called_without_spending_rate() {
    use talos_acl::verify::Decision;
    let s = setup("tool:read_file tool:fs/method:read");
    let mut guard = Guard::new(
        policy(&s.peer, "rate = { requests_per_second = 1, burst = 1 }"),
        RateConfig::default(),
    );
    let session = [3; 16];
    let hash = *s.token.capability_hash();
    // Before admission, nothing may be listed.
    let (read, read_policy) = call("read_file");
    assert_eq!(
        guard
            .check(&s.peer, session, &hash, &read, &read_policy, at(NOW))
            .deny_reason(),
        Some(DenyReason::NoCapability)
    );
    guard
        .admit(session, core::slice::from_ref(&s.token), None, at(NOW))
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            guard.check(&s.peer, session, &hash, &read, &read_policy, at(NOW)),
            Decision::Allow
        );
    }
    let (write, write_policy) = call("write_file");
    assert!(
        !guard
            .check(&s.peer, session, &hash, &write, &write_policy, at(NOW))
            .is_allow()
    );
    // `check` spent no rate: the first real call still passes the burst of 1.
    let first = guard.authorize(
        &s.peer,
        session,
        Presented::Hash(&hash),
        &read,
        &read_policy,
        0,
        at(NOW),
    );
    assert!(first.decision.is_allow());
    // An expired admission lists nothing.
    assert_eq!(
        guard
            .check(&s.peer, session, &hash, &read, &read_policy, at(NOW + 3601))
            .deny_reason(),
        Some(DenyReason::Expired)
    );
}

#[test]
fn admit_refuses_an_invalid_chain() {
    let s = setup("tool:read_file");
    let other = setup("tool:read_file");
    let mut guard = Guard::new(policy(&s.peer, ""), RateConfig::default());
    assert!(guard.admit([1; 16], &[], None, at(NOW)).is_err());
    let expired = guard.admit(
        [1; 16],
        core::slice::from_ref(&other.token),
        None,
        at(NOW + 7200),
    );
    assert_eq!(expired.unwrap_err().reason(), DenyReason::Expired);
}

#[test]
fn a_first_call_outside_the_scope_still_admits_the_chain() {
    let s = setup("tool:read_file");
    let mut guard = Guard::new(policy(&s.peer, ""), RateConfig::default());
    let session = [4; 16];
    let (delete, delete_policy) = call("delete");
    let chain = Presented::Chain(core::slice::from_ref(&s.token));
    let first = guard.authorize(&s.peer, session, chain, &delete, &delete_policy, 0, at(NOW));
    assert_eq!(first.decision.deny_reason(), Some(DenyReason::UnknownTool));
    let (read, read_policy) = call("read_file");
    let hash = Presented::Hash(s.token.capability_hash());
    let next = guard.authorize(&s.peer, session, hash, &read, &read_policy, 0, at(NOW));
    assert!(next.decision.is_allow());
}

#[test]
fn an_operator_revocation_by_hash_reaches_cached_sessions() {
    let s = setup("tool:read_file");
    let mut guard = Guard::new(policy(&s.peer, ""), RateConfig::default());
    let (req, preq) = call("read_file");
    let chain = Presented::Chain(core::slice::from_ref(&s.token));
    let hash = Presented::Hash(s.token.capability_hash());
    assert!(
        guard
            .authorize(&s.peer, [5; 16], chain, &req, &preq, 0, at(NOW))
            .decision
            .is_allow()
    );
    assert!(guard.revoke_hash(*s.token.capability_hash()).unwrap());
    assert!(
        !guard.revoke_hash(*s.token.capability_hash()).unwrap(),
        "once"
    );
    let v = guard.authorize(&s.peer, [5; 16], hash, &req, &preq, 0, at(NOW + 1));
    assert_eq!(reason(&v), Some("REVOKED"));
    let v = guard.authorize(&s.peer, [4; 16], chain, &req, &preq, 0, at(NOW + 1));
    assert_eq!(reason(&v), Some("REVOKED"));
}
