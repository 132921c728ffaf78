#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Session cache: hits, misses, expiry, revocation, eviction; and a throughput check.

use talos_acl::cache::{NoCapability, SessionCache};
use talos_acl::revocation::RevocationSet;
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_acl::verify::{DenyReason, VerifiedChain, Verifier};
use talos_crypto::{SigningKey, Timestamp};

const NOW: u64 = 1_700_000_000;

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s).unwrap()
}

fn key() -> SigningKey {
    SigningKey::from_seed(&[8; 32])
}

fn token(scope: &str, exp: u64) -> CapabilityToken {
    CapabilityToken::issue(
        &key(),
        &TokenFields::new("i", "s", scope, secs(NOW), secs(exp)),
    )
    .unwrap()
}

fn verified(t: &CapabilityToken, revoked: &RevocationSet) -> VerifiedChain {
    Verifier::default()
        .verify(
            core::slice::from_ref(t),
            Some(&key().verifying_key()),
            secs(NOW),
            revoked,
        )
        .unwrap()
}

#[test]
fn hit_miss_and_mismatch() {
    let revoked = RevocationSet::default();
    let t = token("tool:fs/method:read", NOW + 100);
    let other = token("tool:git", NOW + 100);
    let mut cache = SessionCache::new(10);
    assert!(cache.admit([1; 16], verified(&t, &revoked)));
    assert_eq!(cache.len(), 1);
    let h = t.capability_hash();
    let read = Request::new("fs").with_method("read");
    assert!(
        cache
            .authorize_fast([1; 16], h, &read, secs(NOW), &revoked)
            .unwrap()
            .is_allow()
    );
    let d = cache
        .authorize_fast(
            [1; 16],
            h,
            &Request::new("fs").with_method("write"),
            secs(NOW),
            &revoked,
        )
        .unwrap();
    assert_eq!(d.deny_reason(), Some(DenyReason::ScopeMismatch));
    assert_eq!(
        cache.authorize_fast([2; 16], h, &read, secs(NOW), &revoked),
        Err(NoCapability)
    );
    assert_eq!(
        cache.authorize_fast([1; 16], other.capability_hash(), &read, secs(NOW), &revoked),
        Err(NoCapability)
    );
    assert!(
        NoCapability
            .to_string()
            .contains("full verification required")
    );
    assert_eq!(NoCapability.reason(), DenyReason::NoCapability);
}

#[test]
fn expiry_drops_the_session() {
    let revoked = RevocationSet::default();
    let t = token("tool:fs", NOW + 100);
    let mut cache = SessionCache::default();
    cache.admit([1; 16], verified(&t, &revoked));
    let h = t.capability_hash();
    let req = Request::new("fs");
    assert!(
        cache
            .authorize_fast([1; 16], h, &req, secs(NOW + 100), &revoked)
            .unwrap()
            .is_allow()
    );
    let d = cache
        .authorize_fast([1; 16], h, &req, secs(NOW + 101), &revoked)
        .unwrap();
    assert_eq!(d.deny_reason(), Some(DenyReason::Expired));
    assert!(cache.is_empty());
    assert_eq!(
        cache.authorize_fast([1; 16], h, &req, secs(NOW), &revoked),
        Err(NoCapability)
    );
}

#[test]
fn revocation_after_admission_denies() {
    let mut revoked = RevocationSet::default();
    let t = token("tool:fs", NOW + 100);
    let mut cache = SessionCache::default();
    cache.admit([1; 16], verified(&t, &revoked));
    let h = t.capability_hash();
    let req = Request::new("fs");
    assert!(
        cache
            .authorize_fast([1; 16], h, &req, secs(NOW), &revoked)
            .unwrap()
            .is_allow()
    );
    revoked.insert_hash([0xee; 32]).unwrap(); // unrelated: still allowed
    assert!(
        cache
            .authorize_fast([1; 16], h, &req, secs(NOW), &revoked)
            .unwrap()
            .is_allow()
    );
    revoked.insert_hash(*h).unwrap();
    let d = cache
        .authorize_fast([1; 16], h, &req, secs(NOW), &revoked)
        .unwrap();
    assert_eq!(d.deny_reason(), Some(DenyReason::Revoked));
    assert!(cache.is_empty());
}

#[test]
fn unreadable_scope_is_not_admitted() {
    let revoked = RevocationSet::default();
    let t = token("bogus", NOW + 100);
    let mut cache = SessionCache::default();
    assert!(!cache.admit([1; 16], verified(&t, &revoked)));
    assert!(cache.is_empty());
}

#[test]
fn eviction_is_bounded_and_oldest_first() {
    let revoked = RevocationSet::default();
    let t = token("tool:fs", NOW + 100);
    let v = verified(&t, &revoked);
    let mut cache = SessionCache::new(200);
    for i in 0..200_u16 {
        let mut id = [0; 16];
        id[..2].copy_from_slice(&i.to_le_bytes());
        assert!(cache.admit(id, v.clone()));
    }
    assert_eq!(cache.len(), 200);
    // Re-admitting an existing session does not evict.
    assert!(cache.admit([0; 16], v.clone()));
    assert_eq!(cache.len(), 200);
    let mut id = [0; 16];
    id[..2].copy_from_slice(&500_u16.to_le_bytes());
    cache.admit(id, v.clone());
    // 1 % of 200 = 2 evicted (ids 1 and 2: id 0 was re-admitted, so it is newest), 1 added.
    assert_eq!(cache.len(), 199);
    let h = t.capability_hash();
    let req = Request::new("fs");
    let mut id1 = [0; 16];
    id1[0] = 1;
    assert_eq!(
        cache.authorize_fast(id1, h, &req, secs(NOW), &revoked),
        Err(NoCapability)
    );
    assert!(
        cache
            .authorize_fast([0; 16], h, &req, secs(NOW), &revoked)
            .is_ok()
    );
    for i in 0..10_000_u16 {
        let mut id = [0xff; 16];
        id[..2].copy_from_slice(&i.to_le_bytes());
        cache.admit(id, v.clone());
        assert!(cache.len() <= 200);
    }
    let mut last = [0xff; 16];
    last[..2].copy_from_slice(&9_999_u16.to_le_bytes());
    assert!(cache.remove(&last));
    assert!(!cache.remove(&id)); // long evicted
}

/// Throughput of `authorize_fast` with 100 sessions × 20 scope items each. Run with
/// `cargo test --release -p talos-acl --test cache -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn fast_path_throughput() {
    let revoked = RevocationSet::default();
    let mut cache = SessionCache::default();
    let mut hashes = Vec::new();
    let tools: Vec<String> = (0..20).map(|i| format!("tool_{i:02}")).collect();
    for s in 0..100_u8 {
        let scope = tools
            .iter()
            .map(|t| format!("tool:{t}/method:read"))
            .collect::<Vec<_>>()
            .join(" ");
        let t = CapabilityToken::issue(
            &key(),
            &TokenFields::new("i", format!("s{s}"), scope, secs(NOW), secs(NOW + 3600)),
        )
        .unwrap();
        cache.admit([s; 16], verified(&t, &revoked));
        hashes.push(*t.capability_hash());
    }
    let requests: Vec<Request<'_>> = tools
        .iter()
        .map(|t| Request::new(t).with_method("read"))
        .collect();
    let n = 10_000_000_u64;
    let start = std::time::Instant::now();
    let mut allowed = 0_u64;
    for i in 0..n {
        let s = (i % 100) as usize;
        let r = &requests[(i as usize / 100) % 20];
        let d = cache
            .authorize_fast([s as u8; 16], &hashes[s], r, secs(NOW + 1), &revoked)
            .unwrap();
        allowed += u64::from(d.is_allow());
    }
    let elapsed = start.elapsed();
    assert_eq!(allowed, n);
    let per = elapsed.as_nanos() as f64 / n as f64;
    println!(
        "authorize_fast: {per:.1} ns/decision, {:.2} M decisions/s",
        1e3 / per
    );
}
