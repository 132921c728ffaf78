#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Delegation chains: attenuation rules, depth, revocation of any link, batch signatures.

use talos_acl::revocation::{Revocation, RevocationSet};
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_acl::verify::{DenyReason, Verifier};
use talos_crypto::json::{self, Map};
use talos_crypto::{SigningKey, Timestamp};
use talos_did::Did;

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s).unwrap()
}

fn map(text: &str) -> Map {
    json::parse(text.as_bytes())
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

struct Party {
    key: SigningKey,
    did: String,
}

fn party(seed: u8) -> Party {
    let key = SigningKey::from_seed(&[seed; 32]);
    let did = Did::from(key.verifying_key()).to_string();
    Party { key, did }
}

const NOW: u64 = 1_700_000_000;

fn root(issuer: &Party, sub: &Party, scope: &str, constraints: Option<&str>) -> CapabilityToken {
    let mut f = TokenFields::new(&issuer.did, &sub.did, scope, secs(NOW), secs(NOW + 3600));
    if let Some(c) = constraints {
        f = f.with_constraints(map(c));
    }
    CapabilityToken::issue(&issuer.key, &f).unwrap()
}

fn child(
    parent: &CapabilityToken,
    issuer: &Party,
    sub: &str,
    scope: &str,
    constraints: Option<&str>,
    exp: u64,
) -> CapabilityToken {
    let mut f = TokenFields::new(&issuer.did, sub, scope, secs(NOW), secs(exp)).with_parent(parent);
    if let Some(c) = constraints {
        f = f.with_constraints(map(c));
    }
    CapabilityToken::issue(&issuer.key, &f).unwrap()
}

fn verify(chain: &[CapabilityToken]) -> Result<talos_acl::VerifiedChain, DenyReason> {
    Verifier::default()
        .verify(chain, None, secs(NOW + 1), &RevocationSet::default())
        .map_err(|d| d.reason())
}

#[test]
fn three_link_chain_attenuates() {
    let (a, b, c) = (party(1), party(2), party(3));
    let r = root(&a, &b, "tool:fs tool:git", Some(r#"{"paths":["repo/**"]}"#));
    let k1 = child(
        &r,
        &b,
        &c.did,
        "tool:fs/method:read",
        Some(r#"{"paths":["repo/src/**"]}"#),
        NOW + 1800,
    );
    let k2 = child(
        &k1,
        &c,
        "did:talos:leaf",
        "tool:fs/method:read",
        None,
        NOW + 900,
    );
    let v = verify(&[r, k1, k2]).unwrap();
    assert_eq!(v.chain_hashes().len(), 3);
    assert_eq!(v.expires_at_secs(), NOW + 900);
    let ok = Request::new("fs")
        .with_method("read")
        .with_path("repo/src/lib.rs");
    assert!(v.authorize(&ok).is_allow());
    // The middle link's path constraint is inherited by the leaf.
    let outside = Request::new("fs")
        .with_method("read")
        .with_path("repo/README.md");
    assert_eq!(
        v.authorize(&outside).deny_reason(),
        Some(DenyReason::ConstraintViolation)
    );
    assert_eq!(
        v.authorize(&Request::new("git").with_path("repo/src/a"))
            .deny_reason(),
        Some(DenyReason::UnknownTool)
    );
}

#[test]
fn broader_scope_is_refused() {
    let (a, b) = (party(1), party(2));
    let r = root(&a, &b, "tool:fs/method:read", None);
    let k = child(&r, &b, "did:talos:x", "tool:fs", None, NOW + 100);
    assert_eq!(
        verify(&[r.clone(), k]).unwrap_err(),
        DenyReason::DelegationInvalid
    );
    let k = child(&r, &b, "did:talos:x", "tool:*/method:read", None, NOW + 100);
    assert_eq!(verify(&[r, k]).unwrap_err(), DenyReason::DelegationInvalid);
}

#[test]
fn looser_constraints_are_refused() {
    let (a, b) = (party(1), party(2));
    let r = root(
        &a,
        &b,
        "tool:fs",
        Some(r#"{"paths":["repo/**"],"max_arg_bytes":10}"#),
    );
    for loose in [r#"{"paths":["**"]}"#, r#"{"max_arg_bytes":11}"#] {
        let k = child(&r, &b, "did:talos:x", "tool:fs", Some(loose), NOW + 100);
        assert_eq!(
            verify(&[r.clone(), k]).unwrap_err(),
            DenyReason::DelegationInvalid,
            "{loose}"
        );
    }
}

#[test]
fn longer_expiry_wrong_issuer_wrong_parent_are_refused() {
    let (a, b, c) = (party(1), party(2), party(3));
    let r = root(&a, &b, "tool:fs", None);
    let late = child(&r, &b, "did:talos:x", "tool:fs", None, NOW + 3601);
    assert_eq!(
        verify(&[r.clone(), late]).unwrap_err(),
        DenyReason::DelegationInvalid
    );
    // Signed by someone who is not the root's subject.
    let stranger = child(&r, &c, "did:talos:x", "tool:fs", None, NOW + 100);
    assert_eq!(
        verify(&[r.clone(), stranger]).unwrap_err(),
        DenyReason::DelegationInvalid
    );
    // parent names another token
    let other_root = root(&a, &b, "tool:fs", Some(r#"{"max_arg_bytes":1}"#));
    let k = child(&other_root, &b, "did:talos:x", "tool:fs", None, NOW + 100);
    assert_eq!(
        verify(&[r.clone(), k.clone()]).unwrap_err(),
        DenyReason::DelegationInvalid
    );
    // a delegated token alone (its parent missing)
    assert_eq!(verify(&[k]).unwrap_err(), DenyReason::DelegationInvalid);
}

#[test]
fn depth_limit() {
    let parties: Vec<Party> = (1..=6).map(party).collect();
    let mut chain = vec![root(&parties[0], &parties[1], "tool:fs", None)];
    for i in 1..5 {
        let parent = chain.last().unwrap().clone();
        chain.push(child(
            &parent,
            &parties[i],
            &parties[i + 1].did,
            "tool:fs",
            None,
            NOW + 100,
        ));
    }
    assert!(verify(&chain[..4]).is_ok()); // root + 3
    assert_eq!(verify(&chain).unwrap_err(), DenyReason::DelegationInvalid); // root + 4
    let deep = Verifier::default().with_max_depth(4);
    assert!(
        deep.verify(&chain, None, secs(NOW + 1), &RevocationSet::default())
            .is_ok()
    );
    let flat = Verifier::default().with_max_depth(0);
    assert!(
        flat.verify(&chain[..1], None, secs(NOW + 1), &RevocationSet::default())
            .is_ok()
    );
    assert!(
        flat.verify(&chain[..2], None, secs(NOW + 1), &RevocationSet::default())
            .is_err()
    );
}

#[test]
fn revoking_any_link_denies_the_chain() {
    let (a, b, c) = (party(1), party(2), party(3));
    let r = root(&a, &b, "tool:fs", None);
    let k1 = child(&r, &b, &c.did, "tool:fs", None, NOW + 100);
    let k2 = child(&k1, &c, "did:talos:leaf", "tool:fs", None, NOW + 100);
    let chain = [r, k1, k2];
    for (i, link) in chain.iter().enumerate() {
        let issuer = [&a, &b, &c][i];
        let rev = Revocation::issue(
            &issuer.key,
            *link.capability_hash(),
            &issuer.did,
            secs(NOW),
            None,
        )
        .unwrap();
        rev.verify_for(link, &issuer.key.verifying_key()).unwrap();
        let mut set = RevocationSet::default();
        assert!(set.insert(&rev, link).unwrap());
        let d = Verifier::default()
            .verify(&chain, None, secs(NOW + 1), &set)
            .unwrap_err();
        assert_eq!(d.reason(), DenyReason::Revoked, "link {i}");
    }
}

#[test]
fn tampered_link_fails_batch_verification() {
    let (a, b, c) = (party(1), party(2), party(3));
    let r = root(&a, &b, "tool:fs", None);
    let k1 = child(&r, &b, &c.did, "tool:fs", None, NOW + 100);
    // A link claiming b as issuer but signed by c: parent hash and issuer match, signature not.
    let f = TokenFields::new(&b.did, &c.did, "tool:fs", secs(NOW), secs(NOW + 100)).with_parent(&r);
    let forged = CapabilityToken::issue(&c.key, &f).unwrap();
    assert_eq!(
        verify(&[r.clone(), forged]).unwrap_err(),
        DenyReason::SignatureInvalid
    );
    assert!(verify(&[r.clone(), k1.clone()]).is_ok());
    let mut bad = String::from_utf8(k1.to_json()).unwrap();
    bad = bad.replace("\"exp\":1700000100", "\"exp\":1700000099");
    let tampered = CapabilityToken::from_json(bad.as_bytes()).unwrap();
    let d = verify(&[r, tampered]).unwrap_err();
    assert_eq!(d, DenyReason::SignatureInvalid);
}

#[test]
fn plain_child_issuer_must_resolve() {
    let (a, b) = (party(1), party(2));
    // Root subject is not a DID: it cannot delegate.
    let r = CapabilityToken::issue(
        &a.key,
        &TokenFields::new(
            &a.did,
            "did:talos:nobody",
            "tool:fs",
            secs(NOW),
            secs(NOW + 10),
        ),
    )
    .unwrap();
    let k = CapabilityToken::issue(
        &b.key,
        &TokenFields::new(
            "did:talos:nobody",
            "x",
            "tool:fs",
            secs(NOW),
            secs(NOW + 10),
        )
        .with_parent(&r),
    )
    .unwrap();
    assert_eq!(verify(&[r, k]).unwrap_err(), DenyReason::SignatureInvalid);
}

#[test]
fn revocation_entries() {
    use talos_acl::revocation::{LEDGER_KIND, RevocationError};
    let (a, b) = (party(1), party(2));
    let r = root(&a, &b, "tool:fs", None);
    let rev = Revocation::issue(
        &a.key,
        *r.capability_hash(),
        &a.did,
        secs(NOW),
        Some("leaked"),
    )
    .unwrap();
    let entry = rev.to_ledger_entry();
    assert_eq!(LEDGER_KIND, "capability_revoked");
    let text = String::from_utf8(entry.clone()).unwrap();
    assert!(text.starts_with(&format!(
        "{{\"capability_hash\":\"{}\"",
        r.capability_hash_hex()
    )));
    assert_eq!(json::canonicalize(&entry).unwrap(), entry); // canonical JSON
    let parsed = Revocation::from_json(&entry).unwrap();
    assert_eq!(parsed, rev);
    assert_eq!(parsed.reason(), Some("leaked"));
    assert_eq!(parsed.revoked_at_secs(), NOW);
    parsed.verify_did().unwrap();
    parsed.verify_for(&r, &a.key.verifying_key()).unwrap();
    // Wrong token, wrong key, tampered bytes.
    let other = root(&a, &b, "tool:git", None);
    assert!(matches!(
        parsed.verify_for(&other, &a.key.verifying_key()),
        Err(RevocationError::Mismatch(_))
    ));
    assert_eq!(
        parsed.verify(&b.key.verifying_key()),
        Err(RevocationError::SignatureInvalid)
    );
    let tampered = text.replace("leaked", "lEaked");
    let t = Revocation::from_json(tampered.as_bytes()).unwrap();
    let mut set = RevocationSet::default();
    assert_eq!(set.insert(&t, &r), Err(RevocationError::SignatureInvalid));
    assert_eq!(set.generation(), 0);
    // Signed by b while claiming a as issuer.
    let forged = Revocation::issue(&b.key, *r.capability_hash(), &a.did, secs(NOW), None).unwrap();
    assert_eq!(
        set.insert(&forged, &r),
        Err(RevocationError::SignatureInvalid)
    );
    // Signed by b in b's own name: a valid signature, but b did not issue the token.
    let own_name =
        Revocation::issue(&b.key, *r.capability_hash(), &b.did, secs(NOW), None).unwrap();
    own_name.verify_did().unwrap();
    assert!(matches!(
        set.insert(&own_name, &r),
        Err(RevocationError::Mismatch(_))
    ));
    // The right revocation, but presented for another token.
    assert!(matches!(
        set.insert(&parsed, &other),
        Err(RevocationError::Mismatch(_))
    ));
    assert_eq!(set.generation(), 0);
    assert!(set.insert(&parsed, &r).unwrap());
    assert!(!set.insert(&parsed, &r).unwrap()); // already there: no new generation
    assert_eq!(set.generation(), 1);
    // Strict parsing.
    for bad in [
        text.replacen("\"issuer\"", "\"issuer\":\"x\",\"issuer\"", 1),
        text.replacen("\"reason\"", "\"extra\":1,\"reason\"", 1),
        text.replacen(
            &r.capability_hash_hex(),
            &r.capability_hash_hex().to_uppercase(),
            1,
        ),
        text.replacen(&format!("{NOW}"), "-1", 1),
        "[]".to_owned(),
        " ".repeat(5000),
    ] {
        assert!(Revocation::from_json(bad.as_bytes()).is_err(), "{bad:.80}");
    }
}

#[test]
fn revocation_set_is_bounded() {
    let mut set = RevocationSet::new(2);
    assert!(set.insert_hash([1; 32]).unwrap());
    assert!(set.insert_hash([2; 32]).unwrap());
    assert!(!set.insert_hash([2; 32]).unwrap());
    assert_eq!(set.insert_hash([3; 32]).unwrap_err().capacity, 2);
    assert_eq!(set.len(), 2);
    assert_eq!(set.generation(), 2);
    assert!(set.contains(&[1; 32]) && !set.contains(&[3; 32]));
}

#[test]
fn key_ring_resolves_opaque_issuers_it_trusts() {
    let (a, b) = (party(1), party(2));
    let r = CapabilityToken::issue(
        &a.key,
        &TokenFields::new(
            "did:talos:alice",
            &b.did,
            "tool:fs",
            secs(NOW),
            secs(NOW + 10),
        ),
    )
    .unwrap();
    let revoked = RevocationSet::default();
    let v = Verifier::default();
    assert!(
        v.verify(core::slice::from_ref(&r), None, secs(NOW), &revoked)
            .is_err()
    );
    let mut ring = talos_acl::KeyRing::new();
    assert!(!ring.insert_did("did:talos:alice"));
    assert!(ring.insert_trusted("did:talos:alice", a.key.verifying_key()));
    assert!(ring.insert_did(&b.did));
    assert_eq!(ring.len(), 2);
    assert!(
        v.verify_with(core::slice::from_ref(&r), None, &ring, secs(NOW), &revoked)
            .is_ok()
    );
    let mut wrong = talos_acl::KeyRing::new();
    wrong.insert_trusted("did:talos:alice", b.key.verifying_key());
    let d = v
        .verify_with(core::slice::from_ref(&r), None, &wrong, secs(NOW), &revoked)
        .unwrap_err();
    assert_eq!(d.reason(), DenyReason::SignatureInvalid);
}
