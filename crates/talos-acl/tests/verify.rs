#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Verification order, every deny reason, and the upstream TS negatives (REFERENCE §5.1, §5.3).

use talos_acl::revocation::RevocationSet;
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_acl::verify::{Decision, Denial, DenyReason, Verifier, authorize};
use talos_crypto::json::{self, Map};
use talos_crypto::{ErrorCode, SigningKey, Timestamp, VerifyingKey, base64url};
use talos_did::Did;

const TS_PK: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

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

fn ts_key() -> SigningKey {
    SigningKey::from_seed(&[0; 32])
}

/// A TS-shaped token (iss did:talos:<hex>, scope tools/call) with the given times.
fn ts_token(iat: u64, exp: u64) -> CapabilityToken {
    let fields = TokenFields::new(
        format!("did:talos:{TS_PK}"),
        "did:talos:recipient",
        "tools/call",
        secs(iat),
        secs(exp),
    )
    .with_constraints(map(r#"{"tool":"weather","method":"get"}"#));
    CapabilityToken::issue(&ts_key(), &fields).unwrap()
}

fn weather() -> Request<'static> {
    Request::new("weather").with_method("get")
}

fn decide(token: &CapabilityToken, key: &VerifyingKey, req: &Request<'_>, now: u64) -> Decision {
    authorize(token, Some(key), req, secs(now), &RevocationSet::default())
}

fn denial(d: &Decision) -> &Denial {
    d.denial().unwrap_or_else(|| panic!("allowed"))
}

#[test]
fn ts_positive_allows_its_tool_and_method() {
    let token = ts_token(1_700_000_000, 1_700_003_600);
    let pk = ts_key().verifying_key();
    assert!(decide(&token, &pk, &weather(), 1_700_000_100).is_allow());
    assert_eq!(
        decide(
            &token,
            &pk,
            &Request::new("weather").with_method("set"),
            1_700_000_100
        )
        .deny_reason(),
        Some(DenyReason::ScopeMismatch)
    );
    assert_eq!(
        decide(
            &token,
            &pk,
            &Request::new("news").with_method("get"),
            1_700_000_100
        )
        .deny_reason(),
        Some(DenyReason::UnknownTool)
    );
    // Boundaries: exp inclusive, iat up to 60 s in the future.
    assert!(decide(&token, &pk, &weather(), 1_700_003_600).is_allow());
    assert!(decide(&token, &pk, &weather(), 1_699_999_940).is_allow());
}

#[test]
fn ts_negative_expired() {
    // exp < iat, valid signature → EXPIRED with "expired" in the message.
    let token = ts_token(1_700_000_000, 1_600_000_000);
    let d = decide(&token, &ts_key().verifying_key(), &weather(), 1_700_000_000);
    let d = denial(&d);
    assert_eq!(d.reason(), DenyReason::Expired);
    assert_eq!(d.error_code(), ErrorCode::InvalidCapability);
    assert!(d.to_string().to_lowercase().contains("expired"));
    let late = ts_token(1_700_000_000, 1_700_003_600);
    let d = decide(&late, &ts_key().verifying_key(), &weather(), 1_700_003_601);
    assert_eq!(d.deny_reason(), Some(DenyReason::Expired));
}

#[test]
fn ts_negative_revoked() {
    let token = ts_token(1_700_000_000, 1_700_003_600);
    let mut revoked = RevocationSet::default();
    revoked.insert_hash(*token.capability_hash()).unwrap();
    let d = authorize(
        &token,
        Some(&ts_key().verifying_key()),
        &weather(),
        secs(1_700_000_001),
        &revoked,
    );
    assert_eq!(d.deny_reason(), Some(DenyReason::Revoked));
    assert_eq!(denial(&d).error_code(), ErrorCode::InvalidCapability);
}

#[test]
fn ts_negative_duplicate_keys_is_signature_invalid() {
    let json = String::from_utf8(ts_token(1_700_000_000, 1_700_003_600).to_json()).unwrap();
    let dup = json.replacen(
        r#""scope":"tools/call""#,
        r#""scope":"tools/call","scope":"tools/call""#,
        1,
    );
    let err = CapabilityToken::from_json(dup.as_bytes()).unwrap_err();
    let d = Denial::from(&err);
    assert_eq!(d.reason(), DenyReason::SignatureInvalid);
    assert!(d.to_string().to_lowercase().contains("signature"));
}

#[test]
fn ts_negative_non_canonical_order_is_signature_invalid() {
    // Signed over non-canonical (insertion-order) bytes: the signature cannot match canon().
    let key = ts_key();
    let body = format!(
        r#"{{"v":"1","iss":"did:talos:{TS_PK}","sub":"did:talos:recipient","scope":"tools/call","iat":1700000000,"exp":1700003600,"constraints":{{"tool":"weather","method":"get"}}}}"#
    );
    let sig = base64url::encode(&key.sign(body.as_bytes()).to_bytes());
    let token_json = format!("{},\"sig\":\"{sig}\"}}", &body[..body.len() - 1]);
    let token = CapabilityToken::from_json(token_json.as_bytes()).unwrap();
    let d = decide(&token, &key.verifying_key(), &weather(), 1_700_000_001);
    assert_eq!(d.deny_reason(), Some(DenyReason::SignatureInvalid));
    assert!(denial(&d).message().contains("signature"));
}

#[test]
fn ts_negative_wrong_sig_and_wrong_key() {
    let token = ts_token(1_700_000_000, 1_700_003_600);
    let json = String::from_utf8(token.to_json()).unwrap();
    let sig = base64url::encode(&token.signature().to_bytes());
    let mut bytes = token.signature().to_bytes();
    bytes[5] ^= 1;
    let bad = json.replace(&sig, &base64url::encode(&bytes));
    let forged = CapabilityToken::from_json(bad.as_bytes()).unwrap();
    let pk = ts_key().verifying_key();
    assert_eq!(
        decide(&forged, &pk, &weather(), 1_700_000_001).deny_reason(),
        Some(DenyReason::SignatureInvalid)
    );
    let other = SigningKey::from_seed(&[9; 32]).verifying_key();
    assert_eq!(
        decide(&token, &other, &weather(), 1_700_000_001).deny_reason(),
        Some(DenyReason::SignatureInvalid)
    );
    // Without an explicit key, did:talos cannot be resolved: signature cannot be checked.
    let d = authorize(
        &token,
        None,
        &weather(),
        secs(1_700_000_001),
        &RevocationSet::default(),
    );
    assert_eq!(d.deny_reason(), Some(DenyReason::SignatureInvalid));
}

#[test]
fn tampered_scope_and_swapped_signatures_fail() {
    let key = ts_key();
    let a = ts_token(1_700_000_000, 1_700_003_600);
    let b = ts_token(1_700_000_001, 1_700_003_600);
    let pk = key.verifying_key();
    let a_json = String::from_utf8(a.to_json()).unwrap();
    let tampered = a_json.replace("tools/call", "tool:weather");
    let t = CapabilityToken::from_json(tampered.as_bytes()).unwrap();
    assert_eq!(
        decide(&t, &pk, &weather(), 1_700_000_010).deny_reason(),
        Some(DenyReason::SignatureInvalid)
    );
    let swapped = a_json.replace(
        &base64url::encode(&a.signature().to_bytes()),
        &base64url::encode(&b.signature().to_bytes()),
    );
    let s = CapabilityToken::from_json(swapped.as_bytes()).unwrap();
    assert_eq!(
        decide(&s, &pk, &weather(), 1_700_000_010).deny_reason(),
        Some(DenyReason::SignatureInvalid)
    );
}

#[test]
fn future_iat_is_invalid_and_comes_first() {
    // iat 61 s in the future, and also revoked and badly signed: "future" wins.
    let token = ts_token(1_700_000_061, 1_700_003_600);
    let mut revoked = RevocationSet::default();
    revoked.insert_hash(*token.capability_hash()).unwrap();
    let other = SigningKey::from_seed(&[9; 32]).verifying_key();
    let d = authorize(
        &token,
        Some(&other),
        &weather(),
        secs(1_700_000_000),
        &revoked,
    );
    assert_eq!(d.deny_reason(), Some(DenyReason::Invalid));
    assert!(denial(&d).message().contains("future"));
}

#[test]
fn order_expired_before_revoked_before_signature() {
    let token = ts_token(1_700_000_000, 1_700_000_100);
    let mut revoked = RevocationSet::default();
    revoked.insert_hash(*token.capability_hash()).unwrap();
    let other = SigningKey::from_seed(&[9; 32]).verifying_key();
    let at = |s| authorize(&token, Some(&other), &weather(), secs(s), &revoked).deny_reason();
    assert_eq!(at(1_700_000_101), Some(DenyReason::Expired));
    assert_eq!(at(1_700_000_050), Some(DenyReason::Revoked));
    let clean = RevocationSet::default();
    let d = authorize(
        &token,
        Some(&other),
        &weather(),
        secs(1_700_000_050),
        &clean,
    );
    assert_eq!(d.deny_reason(), Some(DenyReason::SignatureInvalid));
}

fn did_of(key: &SigningKey) -> String {
    Did::from(key.verifying_key()).to_string()
}

#[test]
fn did_key_issuer_resolves_without_explicit_key() {
    let key = SigningKey::from_seed(&[3; 32]);
    let fields = TokenFields::new(did_of(&key), "did:talos:x", "tool:fs", secs(100), secs(200));
    let token = CapabilityToken::issue(&key, &fields).unwrap();
    let d = authorize(
        &token,
        None,
        &Request::new("fs"),
        secs(150),
        &RevocationSet::default(),
    );
    assert!(d.is_allow());
}

#[test]
fn constraint_violation_and_unknown_constraint() {
    let key = SigningKey::from_seed(&[3; 32]);
    let pk = key.verifying_key();
    let issue = |c: &str| {
        let f =
            TokenFields::new("i", "s", "tool:fs", secs(100), secs(200)).with_constraints(map(c));
        CapabilityToken::issue(&key, &f).unwrap()
    };
    let t = issue(r#"{"paths":["repo/**"],"max_arg_bytes":10}"#);
    assert!(decide(&t, &pk, &Request::new("fs").with_path("repo/a"), 150).is_allow());
    let d = decide(&t, &pk, &Request::new("fs").with_path("etc/a"), 150);
    assert_eq!(d.deny_reason(), Some(DenyReason::ConstraintViolation));
    assert_eq!(denial(&d).error_code(), ErrorCode::Denied);
    let d = decide(
        &t,
        &pk,
        &Request::new("fs").with_path("repo/a").with_arg_bytes(11),
        150,
    );
    assert_eq!(d.deny_reason(), Some(DenyReason::ConstraintViolation));
    // scope before constraints
    let d = decide(&t, &pk, &Request::new("git").with_path("etc/a"), 150);
    assert_eq!(d.deny_reason(), Some(DenyReason::UnknownTool));
    // unknown constraint: verifies, but every request is refused naming the key
    let u = issue(r#"{"geo_fence":"eu"}"#);
    let v = Verifier::default()
        .verify(
            core::slice::from_ref(&u),
            Some(&pk),
            secs(150),
            &RevocationSet::default(),
        )
        .unwrap();
    let d = v.authorize(&Request::new("fs"));
    assert_eq!(d.deny_reason(), Some(DenyReason::Malformed));
    assert!(denial(&d).message().contains("geo_fence"));
}

#[test]
fn unreadable_scope_verifies_but_never_allows() {
    let key = SigningKey::from_seed(&[3; 32]);
    let pk = key.verifying_key();
    for scope in [
        "tools/call".to_owned(),
        "tool:a\u{0}b".to_owned(),
        "x".repeat(10_000),
        "tool:a  tool:b".to_owned(),
    ] {
        let t = CapabilityToken::issue(
            &key,
            &TokenFields::new("i", "s", scope.clone(), secs(1), secs(2)),
        )
        .unwrap();
        let v = Verifier::default()
            .verify(
                core::slice::from_ref(&t),
                Some(&pk),
                secs(1),
                &RevocationSet::default(),
            )
            .unwrap();
        assert_eq!(
            v.authorize(&Request::new("a")).deny_reason(),
            Some(DenyReason::Malformed),
            "{scope:?}"
        );
        assert!(v.policy().is_err());
    }
    // A 10 000-character tool name is a valid scope that simply matches nothing else.
    let long = format!("tool:{}", "a".repeat(10_000));
    let t =
        CapabilityToken::issue(&key, &TokenFields::new("i", "s", long, secs(1), secs(2))).unwrap();
    assert_eq!(
        decide(&t, &pk, &Request::new("a"), 1).deny_reason(),
        Some(DenyReason::UnknownTool)
    );
}

#[test]
fn empty_chain_is_no_capability() {
    let d = Verifier::default().authorize(
        &[],
        None,
        &Request::new("x"),
        secs(1),
        &RevocationSet::default(),
    );
    assert_eq!(d.deny_reason(), Some(DenyReason::NoCapability));
}

#[test]
fn codes_are_stable() {
    let all = [
        (DenyReason::NoCapability, "NO_CAPABILITY", Some(1)),
        (DenyReason::Expired, "EXPIRED", Some(2)),
        (DenyReason::Revoked, "REVOKED", Some(3)),
        (DenyReason::ScopeMismatch, "SCOPE_MISMATCH", Some(4)),
        (DenyReason::DelegationInvalid, "DELEGATION_INVALID", Some(5)),
        (DenyReason::UnknownTool, "UNKNOWN_TOOL", Some(6)),
        (DenyReason::SignatureInvalid, "SIGNATURE_INVALID", Some(8)),
        (
            DenyReason::ConstraintViolation,
            "CONSTRAINT_VIOLATION",
            None,
        ),
        (DenyReason::Invalid, "INVALID", None),
        (DenyReason::Malformed, "MALFORMED", None),
    ];
    for (r, code, n) in all {
        assert_eq!(r.code(), code);
        assert_eq!(r.proto_number(), n);
    }
}

/// Cold path against one Ed25519 verify. Run with
/// `cargo test --release -p talos-acl --test verify -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn cold_path_timing() {
    use std::time::Instant;
    let party = |seed: u8| {
        let key = SigningKey::from_seed(&[seed; 32]);
        let did = Did::from(key.verifying_key()).to_string();
        (key, did)
    };
    let (a, ad) = party(1);
    let (b, bd) = party(2);
    let (c, cd) = party(3);
    let scope = "tool:fs/method:read tool:fs/method:write tool:git/resource:repo/src/**";
    let root = CapabilityToken::issue(
        &a,
        &TokenFields::new(&ad, &bd, scope, secs(NOW_T), secs(NOW_T + 3600))
            .with_constraints(map(r#"{"paths":["repo/**"],"max_arg_bytes":4096}"#)),
    )
    .unwrap();
    let k1 = CapabilityToken::issue(
        &b,
        &TokenFields::new(
            &bd,
            &cd,
            "tool:fs/method:read",
            secs(NOW_T),
            secs(NOW_T + 1800),
        )
        .with_parent(&root),
    )
    .unwrap();
    let k2 = CapabilityToken::issue(
        &c,
        &TokenFields::new(
            &cd,
            "did:talos:leaf",
            "tool:fs/method:read",
            secs(NOW_T),
            secs(NOW_T + 900),
        )
        .with_parent(&k1),
    )
    .unwrap();
    let bytes = [root.to_json(), k1.to_json(), k2.to_json()];
    let req = Request::new("fs")
        .with_method("read")
        .with_path("repo/src/lib.rs");
    let revoked = RevocationSet::default();
    let pk = a.verifying_key();
    let n = 2000;
    let time = |f: &mut dyn FnMut()| {
        for _ in 0..100 {
            f();
        }
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_nanos() as f64 / f64::from(n) / 1000.0
    };
    let sig = *root.signature();
    let msg = root.signing_bytes().to_vec();
    let ed = time(&mut || assert!(pk.verify(&msg, &sig).is_ok()));
    let one = time(&mut || {
        let t = CapabilityToken::from_json(&bytes[0]).unwrap();
        assert!(authorize(&t, Some(&pk), &req, secs(NOW_T + 1), &revoked).is_allow());
    });
    let one_did = time(&mut || {
        let t = CapabilityToken::from_json(&bytes[0]).unwrap();
        assert!(authorize(&t, None, &req, secs(NOW_T + 1), &revoked).is_allow());
    });
    let chain = time(&mut || {
        let c: Vec<CapabilityToken> = bytes
            .iter()
            .map(|b| CapabilityToken::from_json(b).unwrap())
            .collect();
        assert!(
            Verifier::default()
                .authorize(&c, None, &req, secs(NOW_T + 1), &revoked)
                .is_allow()
        );
    });
    let mut ring = talos_acl::KeyRing::new();
    for d in [&ad, &bd, &cd] {
        assert!(ring.insert_did(d));
    }
    let chain_ring = time(&mut || {
        let c: Vec<CapabilityToken> = bytes
            .iter()
            .map(|b| CapabilityToken::from_json(b).unwrap())
            .collect();
        assert!(
            Verifier::default()
                .authorize_with(&c, None, &ring, &req, secs(NOW_T + 1), &revoked)
                .is_allow()
        );
    });
    let one_ring = time(&mut || {
        let t = CapabilityToken::from_json(&bytes[0]).unwrap();
        let v = Verifier::default();
        assert!(
            v.authorize_with(
                core::slice::from_ref(&t),
                None,
                &ring,
                &req,
                secs(NOW_T + 1),
                &revoked
            )
            .is_allow()
        );
    });
    println!("ed25519 verify: {ed:.1} µs");
    println!(
        "parse + verify + authorize, did:key issuer in a KeyRing: {one_ring:.1} µs = {:.2}x",
        one_ring / ed
    );
    println!(
        "3-link chain, issuers in a KeyRing: {chain_ring:.1} µs = {:.2}x",
        chain_ring / ed
    );
    println!(
        "parse + verify + authorize, explicit key: {one:.1} µs = {:.2}x",
        one / ed
    );
    println!(
        "parse + verify + authorize, did:key issuer: {one_did:.1} µs = {:.2}x",
        one_did / ed
    );
    println!(
        "3-link chain parse + batch verify + authorize: {chain:.1} µs = {:.2}x",
        chain / ed
    );
}

const NOW_T: u64 = 1_700_000_000;
