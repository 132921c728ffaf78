//! Web of trust: endorsement and revocation formats, and the evaluation rule, checked by
//! examples and against a brute-force reference on random graphs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;
use std::sync::LazyLock;

use proptest::prelude::*;
use talos_crypto::{ErrorCode, SigningKey, Timestamp, hash, json};
use talos_did::DidKey;
use talos_did::trust::{
    Endorsement, EndorsementError, EndorsementId, EvaluateError, GraphError, GraphLimits,
    MAX_ENCODED_LEN, Revocation, RevocationError, TrustGraph, TrustLevel, TrustPath, TrustPolicy,
    Verdict,
};

const NOW: u64 = 1_768_178_601_000;
const DAY: u64 = 86_400_000;

/// Eight identities, from seeds `[1; 32]` … `[8; 32]`.
static KEYS: LazyLock<Vec<SigningKey>> =
    LazyLock::new(|| (1..=8u8).map(|i| SigningKey::from_seed(&[i; 32])).collect());

fn key(i: usize) -> &'static SigningKey {
    &KEYS[i]
}

fn did(i: usize) -> DidKey {
    DidKey::Ed25519(key(i).verifying_key())
}

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn now() -> Timestamp {
    t(NOW)
}

/// `from` endorses `to` at `level`, issued a day ago, valid for a year.
fn endorse(from: usize, to: usize, level: TrustLevel) -> Endorsement {
    Endorsement::sign(key(from), &did(to), level, t(NOW - DAY), t(NOW + 365 * DAY)).unwrap()
}

fn graph(endorsements: &[Endorsement], revocations: &[Revocation]) -> TrustGraph {
    TrustGraph::build(
        endorsements.iter().cloned(),
        revocations.iter().cloned(),
        GraphLimits::default(),
    )
    .unwrap()
}

fn eval(g: &TrustGraph, anchors: &[usize], subject: usize) -> Verdict {
    let anchors: Vec<DidKey> = anchors.iter().map(|&i| did(i)).collect();
    g.evaluate(&anchors, &did(subject), now(), &TrustPolicy::default())
        .unwrap()
}

fn ids(path: &TrustPath) -> Vec<EndorsementId> {
    path.endorsement_ids().copied().collect()
}

const ME: usize = 0;
const ALICE: usize = 1;
const BOB: usize = 2;
const CAROL: usize = 3;
const DAVE: usize = 4;
const ERIN: usize = 5;
const MALLORY: usize = 6;

// ---------------------------------------------------------------------------------------
// Formats

#[test]
fn json_form_is_canonical_and_id_is_its_hash() {
    let e = endorse(ALICE, BOB, TrustLevel::Full);
    let text = String::from_utf8(e.to_json()).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"endorser":"{}","expires_at":{},"issued_at":{},"level":2,"sig":"{}","subject":"{}","v":1}}"#,
            did(ALICE),
            NOW + 365 * DAY,
            NOW - DAY,
            talos_crypto::base64url::encode(&e.signature().to_bytes()),
            did(BOB)
        )
    );
    assert_eq!(e.id().as_bytes(), &hash::sha256(text.as_bytes()));
    // The signature covers every member but sig.
    let mut value = json::parse(text.as_bytes()).unwrap();
    if let json::Value::Object(map) = &mut value {
        map.remove("sig");
    }
    key(ALICE)
        .verifying_key()
        .verify(&value.to_canonical_vec(), e.signature())
        .unwrap();
    assert_eq!(Endorsement::from_json(text.as_bytes()).unwrap(), e);
    assert_eq!(Endorsement::from_cbor(&e.to_cbor()).unwrap(), e);
    let mut out = vec![0xaa];
    e.encode(&mut out);
    assert_eq!(out[1..], e.to_cbor()[..]);
}

#[test]
fn json_decoding_accepts_any_formatting_of_the_one_value() {
    let e = endorse(ALICE, BOB, TrustLevel::Marginal);
    let value = json::parse(&e.to_json()).unwrap();
    let json::Value::Object(map) = value else {
        panic!()
    };
    // Reversed member order, with whitespace.
    let members: Vec<String> = map
        .iter()
        .rev()
        .map(|(k, v)| format!("\n  {:?} : {}", k, v.to_canonical_string()))
        .collect();
    let pretty = format!("{{{}\n}}", members.join(","));
    assert_eq!(Endorsement::from_json(pretty.as_bytes()).unwrap(), e);
}

/// Re-serialises the endorsement's JSON with `change` applied to its members.
fn edited(e: &Endorsement, change: impl FnOnce(&mut json::Map)) -> Vec<u8> {
    let mut value = json::parse(&e.to_json()).unwrap();
    if let json::Value::Object(map) = &mut value {
        change(map);
    }
    value.to_canonical_vec()
}

#[test]
fn decoders_name_what_is_wrong() {
    let e = endorse(ALICE, BOB, TrustLevel::Full);
    let bad = |change: fn(&mut json::Map)| Endorsement::from_json(&edited(&e, change)).unwrap_err();

    assert!(matches!(
        bad(|m| {
            m.insert("extra".into(), json::Value::Null);
        }),
        EndorsementError::Json(_)
    ));
    assert!(matches!(
        bad(|m| {
            m.remove("level");
        }),
        EndorsementError::Json(_)
    ));
    assert_eq!(
        bad(|m| {
            m.insert("v".into(), json::Value::Number(2u32.into()));
        }),
        EndorsementError::UnsupportedVersion(2)
    );
    assert_eq!(
        bad(|m| {
            m.insert("level".into(), json::Value::Number(4u32.into()));
        }),
        EndorsementError::InvalidLevel(4)
    );
    assert_eq!(
        bad(|m| {
            m.insert("level".into(), json::Value::Number(0u32.into()));
        }),
        EndorsementError::InvalidLevel(0)
    );
    assert_eq!(
        bad(|m| {
            m.insert("level".into(), json::Value::Number(3u32.into()));
        }),
        EndorsementError::BadSignature
    );
    assert_eq!(
        bad(|m| {
            let endorser = m.get("endorser").cloned().unwrap();
            m.insert("subject".into(), endorser);
        }),
        EndorsementError::SelfEndorsement
    );
    assert_eq!(
        bad(|m| {
            let issued = m.get("issued_at").cloned().unwrap();
            m.insert("expires_at".into(), issued);
        }),
        EndorsementError::InvalidValidity
    );
    assert!(matches!(
        bad(|m| {
            m.insert("subject".into(), "did:web:example.com".into());
        }),
        EndorsementError::InvalidDid {
            field: "subject",
            ..
        }
    ));
    let x25519 = DidKey::X25519(key(BOB).verifying_key().to_x25519()).to_string();
    let e2 = e.clone();
    let err = Endorsement::from_json(&edited(&e2, |m| {
        m.insert("endorser".into(), x25519.as_str().into());
    }))
    .unwrap_err();
    assert_eq!(err, EndorsementError::NotEd25519 { field: "endorser" });
    let err = Endorsement::from_json(&edited(&e, |m| {
        m.insert(
            "expires_at".into(),
            json::Value::Number(json::Number::try_from(1u64 << 53).unwrap()),
        );
    }))
    .unwrap_err();
    assert!(
        matches!(
            err,
            EndorsementError::TimestampOutOfRange | EndorsementError::Json(_)
        ),
        "{err:?}"
    );
    // A sig of the wrong length is a shape error, not a panic.
    assert!(matches!(
        bad(|m| {
            m.insert("sig".into(), "AAAA".into());
        }),
        EndorsementError::Json(_)
    ));
    // Too long to look at.
    let mut long = e.to_json();
    long.extend(core::iter::repeat_n(b' ', MAX_ENCODED_LEN));
    assert!(matches!(
        Endorsement::from_json(&long),
        Err(EndorsementError::TooLarge { .. })
    ));
    assert!(matches!(
        Endorsement::from_cbor(&long),
        Err(EndorsementError::TooLarge { .. })
    ));
    // Error codes.
    assert_eq!(
        ErrorCode::from(&EndorsementError::BadSignature),
        ErrorCode::CryptoError
    );
    assert_eq!(
        ErrorCode::from(&EndorsementError::UnsupportedVersion(2)),
        ErrorCode::ProtocolMismatch
    );
    assert_eq!(
        ErrorCode::from(&EndorsementError::SelfEndorsement),
        ErrorCode::InvalidInput
    );
}

#[test]
fn cbor_decoding_accepts_only_the_deterministic_encoding() {
    let e = endorse(ALICE, BOB, TrustLevel::Ultimate);
    let cbor = e.to_cbor();
    // The same map with `v` written in a two-byte head: same value, another encoding.
    let at = cbor
        .windows(3)
        .position(|w| w == [0x61, b'v', 0x01])
        .unwrap();
    let mut long = cbor[..at + 2].to_vec();
    long.extend_from_slice(&[0x18, 0x01]);
    long.extend_from_slice(&cbor[at + 3..]);
    assert_eq!(
        Endorsement::from_cbor(&long),
        Err(EndorsementError::Cbor(
            talos_crypto::CborError::NonCanonical
        ))
    );
    let mut trailing = cbor.clone();
    trailing.push(0);
    assert!(Endorsement::from_cbor(&trailing).is_err());
    for cut in 0..cbor.len() {
        assert!(Endorsement::from_cbor(&cbor[..cut]).is_err());
    }
}

#[test]
fn signing_checks_its_inputs() {
    let year = t(NOW + 365 * DAY);
    assert_eq!(
        Endorsement::sign(key(ALICE), &did(ALICE), TrustLevel::Full, now(), year),
        Err(EndorsementError::SelfEndorsement)
    );
    assert_eq!(
        Endorsement::sign(key(ALICE), &did(BOB), TrustLevel::Full, now(), now()),
        Err(EndorsementError::InvalidValidity)
    );
    assert_eq!(
        Endorsement::sign(key(ALICE), &did(BOB), TrustLevel::Full, now(), t(1 << 53)),
        Err(EndorsementError::TimestampOutOfRange)
    );
    let x = DidKey::X25519(key(BOB).verifying_key().to_x25519());
    assert_eq!(
        Endorsement::sign(key(ALICE), &x, TrustLevel::Full, now(), year),
        Err(EndorsementError::NotEd25519 { field: "subject" })
    );
    assert_eq!(
        Revocation::sign(key(ALICE), &EndorsementId::from_bytes([1; 32]), t(1 << 53)),
        Err(RevocationError::TimestampOutOfRange)
    );
}

#[test]
fn activity_window_is_half_open() {
    let e = Endorsement::sign(key(ALICE), &did(BOB), TrustLevel::Full, t(1000), t(2000)).unwrap();
    assert!(!e.is_active(t(999)));
    assert!(e.is_active(t(1000)));
    assert!(e.is_active(t(1999)));
    assert!(!e.is_active(t(2000)));
    let err = e.check_active(t(2000)).unwrap_err();
    assert_eq!(
        err,
        EndorsementError::Expired {
            expires_at: t(2000)
        }
    );
    assert!(err.to_string().contains("expired"));
    assert_eq!(ErrorCode::from(&err), ErrorCode::Denied);
    assert_eq!(
        e.check_active(t(999)),
        Err(EndorsementError::NotYetValid { issued_at: t(1000) })
    );
}

#[test]
fn revocations_round_trip_and_only_the_endorser_may_revoke() {
    let e = endorse(ALICE, BOB, TrustLevel::Full);
    let r = e.revoke(key(ALICE), now()).unwrap();
    assert!(r.revokes(&e));
    assert_eq!(r.endorser(), did(ALICE));
    assert_eq!(Revocation::from_json(&r.to_json()).unwrap(), r);
    assert_eq!(Revocation::from_cbor(&r.to_cbor()).unwrap(), r);
    let text = String::from_utf8(r.to_json()).unwrap();
    assert!(text.starts_with(&format!(r#"{{"endorsement":"{}","endorser":"#, e.id())));
    assert_eq!(
        e.revoke(key(MALLORY), now()),
        Err(RevocationError::NotEndorser)
    );
    // Mallory signs one anyway: it is a valid revocation by Mallory, which revokes nothing.
    let forged = Revocation::sign(key(MALLORY), e.id(), now()).unwrap();
    assert!(!forged.revokes(&e));
    let mut g = graph(core::slice::from_ref(&e), &[]);
    let err = g.insert_revocation(forged.clone()).unwrap_err();
    assert_eq!(err, GraphError::NotEndorser);
    assert!(err.to_string().contains("not signed by the endorser"));
    assert_eq!(ErrorCode::from(&err), ErrorCode::Denied);
    assert!(eval(&g, &[ALICE], BOB).is_trusted());
    // Arriving before the endorsement, it is kept until the endorsement shows who may revoke.
    let mut g = TrustGraph::new(GraphLimits::default());
    assert_eq!(g.insert_revocation(forged), Ok(true));
    assert_eq!(g.revocation_count(), 1);
    assert_eq!(g.insert_endorsement(e.clone()), Ok(true));
    assert_eq!(g.revocation_count(), 0);
    assert!(eval(&g, &[ALICE], BOB).is_trusted());
    // The endorser's own revocation applies whichever arrives first.
    let mut g = TrustGraph::new(GraphLimits::default());
    assert_eq!(g.insert_revocation(r.clone()), Ok(true));
    assert_eq!(g.insert_revocation(r.clone()), Ok(false));
    assert_eq!(g.insert_endorsement(e.clone()), Ok(true));
    assert_eq!(g.insert_endorsement(e.clone()), Ok(false));
    assert!(g.is_revoked(e.id(), now()));
    assert!(!eval(&g, &[ALICE], BOB).is_trusted());
}

#[test]
fn tampered_revocations_fail() {
    let e = endorse(ALICE, BOB, TrustLevel::Full);
    let r = e.revoke(key(ALICE), now()).unwrap();
    let mut value = json::parse(&r.to_json()).unwrap();
    if let json::Value::Object(map) = &mut value {
        map.insert(
            "revoked_at".into(),
            json::Value::Number(json::Number::try_from(NOW + 1).unwrap()),
        );
    }
    assert_eq!(
        Revocation::from_json(&value.to_canonical_vec()),
        Err(RevocationError::BadSignature)
    );
    assert_eq!(
        ErrorCode::from(&RevocationError::BadSignature),
        ErrorCode::CryptoError
    );
}

// ---------------------------------------------------------------------------------------
// Evaluation, by example

#[test]
fn a_path_is_worth_its_weakest_hop() {
    let e1 = endorse(ME, ALICE, TrustLevel::Ultimate);
    let e2 = endorse(ALICE, BOB, TrustLevel::Marginal);
    let e3 = endorse(BOB, CAROL, TrustLevel::Full);
    let g = graph(&[e3.clone(), e1.clone(), e2.clone()], &[]);
    let verdict = eval(&g, &[ME], CAROL);
    let path = verdict.path().unwrap();
    assert_eq!(path.level(), TrustLevel::Marginal);
    assert_eq!(verdict.level(), Some(TrustLevel::Marginal));
    assert_eq!(ids(path), [*e1.id(), *e2.id(), *e3.id()]);
    assert_eq!(path.anchor(), &did(ME));
    assert_eq!(path.subject(), &did(CAROL));
    assert_eq!(
        path.dids().collect::<Vec<_>>(),
        [did(ME), did(ALICE), did(BOB), did(CAROL)]
    );
    assert_eq!(path.hops(), [e1, e2, e3]);
    assert_eq!(path.len(), 3);
    assert!(!eval(&g, &[ME], DAVE).is_trusted());
}

#[test]
fn fewest_hops_first_then_highest_level_then_smallest_ids() {
    // Fewest hops beats a higher level.
    let direct = endorse(ME, DAVE, TrustLevel::Marginal);
    let a = endorse(ME, ALICE, TrustLevel::Ultimate);
    let ad = endorse(ALICE, DAVE, TrustLevel::Ultimate);
    let g = graph(&[a.clone(), ad.clone(), direct.clone()], &[]);
    assert_eq!(ids(eval(&g, &[ME], DAVE).path().unwrap()), [*direct.id()]);

    // Among two-hop paths, the higher level wins, whatever the ids.
    let b = endorse(ME, BOB, TrustLevel::Full);
    let bd = endorse(BOB, DAVE, TrustLevel::Marginal);
    let c = endorse(ME, CAROL, TrustLevel::Full);
    let cd = endorse(CAROL, DAVE, TrustLevel::Full);
    let g = graph(&[b.clone(), bd, c.clone(), cd.clone()], &[]);
    let verdict = eval(&g, &[ME], DAVE);
    assert_eq!(ids(verdict.path().unwrap()), [*c.id(), *cd.id()]);
    assert_eq!(verdict.level(), Some(TrustLevel::Full));

    // Equal length and level: the smaller id sequence, compared from the anchor's end.
    let bd = endorse(BOB, DAVE, TrustLevel::Full);
    let g = graph(&[b.clone(), bd.clone(), c.clone(), cd.clone()], &[]);
    let want = core::cmp::min(vec![*b.id(), *bd.id()], vec![*c.id(), *cd.id()]);
    assert_eq!(ids(eval(&g, &[ME], DAVE).path().unwrap()), want);
}

#[test]
fn the_best_path_need_not_extend_the_best_path_to_its_predecessor() {
    // Two paths to Bob: one Ultimate, one Marginal. Bob → Carol is Marginal, so both
    // extensions are Marginal and the id order must decide between them, not Bob's best.
    let e_ma = endorse(ME, ALICE, TrustLevel::Ultimate);
    let e_ab = endorse(ALICE, BOB, TrustLevel::Ultimate);
    let e_md = endorse(ME, DAVE, TrustLevel::Marginal);
    let e_db = endorse(DAVE, BOB, TrustLevel::Marginal);
    let e_bc = endorse(BOB, CAROL, TrustLevel::Marginal);
    let g = graph(
        &[
            e_ma.clone(),
            e_ab.clone(),
            e_md.clone(),
            e_db.clone(),
            e_bc.clone(),
        ],
        &[],
    );
    let to_bob = eval(&g, &[ME], BOB);
    assert_eq!(ids(to_bob.path().unwrap()), [*e_ma.id(), *e_ab.id()]);
    let want = core::cmp::min(
        vec![*e_ma.id(), *e_ab.id(), *e_bc.id()],
        vec![*e_md.id(), *e_db.id(), *e_bc.id()],
    );
    let to_carol = eval(&g, &[ME], CAROL);
    assert_eq!(ids(to_carol.path().unwrap()), want);
    assert_eq!(to_carol.level(), Some(TrustLevel::Marginal));
}

#[test]
fn anchors_are_trusted_directly_and_never_passed_through() {
    // Mallory endorses my anchor and a path runs through it; neither matters.
    let e1 = endorse(ME, ALICE, TrustLevel::Full);
    let e2 = endorse(ALICE, BOB, TrustLevel::Full);
    let e3 = endorse(MALLORY, ALICE, TrustLevel::Marginal);
    let e4 = endorse(BOB, CAROL, TrustLevel::Full);
    let g = graph(&[e1, e2, e3, e4.clone()], &[]);
    let verdict = eval(&g, &[ME, BOB], BOB);
    let path = verdict.path().unwrap();
    assert!(path.is_empty());
    assert_eq!(path.level(), TrustLevel::Ultimate);
    assert_eq!(path.anchor(), &did(BOB));
    // Carol is one hop from the anchor Bob, not three from me.
    assert_eq!(ids(eval(&g, &[ME, BOB], CAROL).path().unwrap()), [*e4.id()]);
    // Anchors that are not identity keys still count by equality.
    let x = DidKey::X25519(key(ERIN).verifying_key().to_x25519());
    let v = g
        .evaluate(&[x], &x, now(), &TrustPolicy::default())
        .unwrap();
    assert!(v.is_trusted());
    let v = g
        .evaluate(&[did(ME)], &x, now(), &TrustPolicy::default())
        .unwrap();
    assert!(!v.is_trusted());
    // No anchors, no trust.
    assert!(!eval(&g, &[], ALICE).is_trusted());
}

#[test]
fn depth_and_level_thresholds() {
    let chain = [
        endorse(ME, ALICE, TrustLevel::Full),
        endorse(ALICE, BOB, TrustLevel::Full),
        endorse(BOB, CAROL, TrustLevel::Marginal),
        endorse(CAROL, DAVE, TrustLevel::Full),
    ];
    let g = graph(&chain, &[]);
    let mut policy = TrustPolicy::default();
    assert_eq!(policy.max_depth(), 3);
    let anchors = [did(ME)];
    assert!(
        !g.evaluate(&anchors, &did(DAVE), now(), &policy)
            .unwrap()
            .is_trusted()
    );
    policy.set_max_depth(4);
    assert_eq!(
        g.evaluate(&anchors, &did(DAVE), now(), &policy)
            .unwrap()
            .path()
            .map(TrustPath::len),
        Some(4)
    );
    policy.set_min_level(TrustLevel::Full);
    assert!(
        !g.evaluate(&anchors, &did(DAVE), now(), &policy)
            .unwrap()
            .is_trusted()
    );
    assert!(
        g.evaluate(&anchors, &did(BOB), now(), &policy)
            .unwrap()
            .is_trusted()
    );
    policy.set_max_depth(0);
    assert!(
        !g.evaluate(&anchors, &did(ALICE), now(), &policy)
            .unwrap()
            .is_trusted()
    );
    assert!(
        g.evaluate(&anchors, &did(ME), now(), &policy)
            .unwrap()
            .is_trusted()
    );
}

#[test]
fn expiry_revocation_and_evaluation_as_of_a_time() {
    let e1 = endorse(ME, ALICE, TrustLevel::Full);
    let e2 = Endorsement::sign(
        key(ALICE),
        &did(BOB),
        TrustLevel::Full,
        t(NOW - DAY),
        t(NOW + 10),
    )
    .unwrap();
    let g = graph(&[e1.clone(), e2.clone()], &[]);
    let anchors = [did(ME)];
    let p = TrustPolicy::default();
    assert!(
        g.evaluate(&anchors, &did(BOB), t(NOW + 9), &p)
            .unwrap()
            .is_trusted()
    );
    assert!(
        !g.evaluate(&anchors, &did(BOB), t(NOW + 10), &p)
            .unwrap()
            .is_trusted()
    );
    // Not yet issued.
    assert!(
        !g.evaluate(&anchors, &did(BOB), t(NOW - DAY - 1), &p)
            .unwrap()
            .is_trusted()
    );

    let r = e1.revoke(key(ME), t(NOW + 5)).unwrap();
    let g = graph(&[e1.clone(), e2], &[r]);
    assert!(
        g.evaluate(&anchors, &did(ALICE), t(NOW + 4), &p)
            .unwrap()
            .is_trusted()
    );
    assert!(
        !g.evaluate(&anchors, &did(ALICE), t(NOW + 5), &p)
            .unwrap()
            .is_trusted()
    );
    assert!(!g.is_revoked(e1.id(), t(NOW + 4)));
    assert!(g.is_revoked(e1.id(), t(NOW + 5)));
}

#[test]
fn the_latest_word_counts() {
    let old = endorse(ALICE, BOB, TrustLevel::Ultimate);
    let newer = Endorsement::sign(
        key(ALICE),
        &did(BOB),
        TrustLevel::Marginal,
        t(NOW - 10),
        t(NOW + DAY),
    )
    .unwrap();
    let g = graph(&[newer.clone(), old.clone()], &[]);
    // A downgrade takes effect.
    let v = eval(&g, &[ALICE], BOB);
    assert_eq!(ids(v.path().unwrap()), [*newer.id()]);
    // Before the newer one was issued, the older one counted.
    let v = g
        .evaluate(
            &[did(ALICE)],
            &did(BOB),
            t(NOW - 11),
            &TrustPolicy::default(),
        )
        .unwrap();
    assert_eq!(ids(v.path().unwrap()), [*old.id()]);
    // With a threshold above the latest word, the older, stronger one does not come back.
    let mut policy = TrustPolicy::default();
    policy.set_min_level(TrustLevel::Full);
    assert!(
        !g.evaluate(&[did(ALICE)], &did(BOB), now(), &policy)
            .unwrap()
            .is_trusted()
    );
    // Nor when the latest word has expired or is revoked.
    let short = Endorsement::sign(
        key(ALICE),
        &did(BOB),
        TrustLevel::Full,
        t(NOW - 10),
        t(NOW - 5),
    )
    .unwrap();
    assert!(!eval(&graph(&[old.clone(), short], &[]), &[ALICE], BOB).is_trusted());
    let revoked = newer.revoke(key(ALICE), now()).unwrap();
    assert!(!eval(&graph(&[old, newer], &[revoked]), &[ALICE], BOB).is_trusted());
}

#[test]
fn bounds_are_errors_not_silence() {
    let star: Vec<Endorsement> = (1..8)
        .map(|i| endorse(ME, i, TrustLevel::Full))
        .chain((2..8).map(|i| endorse(1, i, TrustLevel::Full)))
        .collect();
    let g = graph(&star, &[]);
    let anchors = [did(ME)];
    let mut policy = TrustPolicy::default();
    policy.set_max_edges(6);
    let err = g.evaluate(&anchors, &did(1), now(), &policy).unwrap_err();
    assert_eq!(err, EvaluateError::TooManyEdges { limit: 6 });
    assert!(err.to_string().contains("limit"));
    assert_eq!(ErrorCode::from(&err), ErrorCode::Denied);
    policy.set_max_edges(7);
    assert!(
        g.evaluate(&anchors, &did(1), now(), &policy)
            .unwrap()
            .is_trusted()
    );

    // Finding nobody at depth 2 expands me and my seven contacts: 8 nodes.
    let mut policy = TrustPolicy::default();
    policy.set_max_depth(2).set_max_nodes(7);
    assert!(
        g.evaluate(&anchors, &did(7), now(), &policy)
            .unwrap()
            .is_trusted()
    );
    let stranger = DidKey::Ed25519(SigningKey::from_seed(&[99; 32]).verifying_key());
    assert_eq!(
        g.evaluate(&anchors, &stranger, now(), &policy),
        Err(EvaluateError::TooManyNodes { limit: 7 })
    );
    policy.set_max_nodes(8);
    assert_eq!(
        g.evaluate(&anchors, &stranger, now(), &policy),
        Ok(Verdict::Untrusted)
    );

    let mut limits = GraphLimits::default();
    limits.set_max_endorsements(2).set_max_revocations(1);
    let mut g = TrustGraph::new(limits);
    g.insert_endorsement(star[0].clone()).unwrap();
    g.insert_endorsement(star[1].clone()).unwrap();
    assert_eq!(g.insert_endorsement(star[0].clone()), Ok(false));
    assert_eq!(
        g.insert_endorsement(star[2].clone()),
        Err(GraphError::TooManyEndorsements { limit: 2 })
    );
    g.insert_revocation(star[0].revoke(key(ME), now()).unwrap())
        .unwrap();
    assert_eq!(
        g.insert_revocation(star[1].revoke(key(ME), now()).unwrap()),
        Err(GraphError::TooManyRevocations { limit: 1 })
    );
    // An earlier revocation of the same endorsement replaces the kept one, within the limit.
    assert_eq!(
        g.insert_revocation(star[0].revoke(key(ME), t(NOW - 1)).unwrap()),
        Ok(true)
    );
    assert_eq!(g.revocations().next().unwrap().revoked_at(), t(NOW - 1));
    assert_eq!(g.len(), 2);
    assert_eq!(g.endorsements_by(&did(ME)).count(), 2);
    assert_eq!(g.endorsement(star[1].id()), Some(&star[1]));
}

// ---------------------------------------------------------------------------------------
// Properties

/// A random graph over `KEYS.len()` identities.
#[derive(Clone, Debug)]
struct Spec {
    /// (endorser, subject offset 1.., level, issued_at offset, lifetime).
    edges: Vec<(usize, usize, u8, u64, u64)>,
    /// (edge index, signed by the endorser?, revoked_at offset).
    revocations: Vec<(usize, bool, u64)>,
    anchors: Vec<usize>,
    subject: usize,
    depth: u8,
    min_level: u8,
    /// Sort keys for the insertion order.
    order: Vec<u32>,
}

const N: usize = 6;
/// Times are `NOW - SPAN + offset`, with `offset < 2 * SPAN`.
const SPAN: u64 = 1000;

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec((0..N, 1..N, 1u8..=3, 0..3 * SPAN / 2, 1..4 * SPAN), 4..40),
        prop::collection::vec(
            (any::<usize>(), prop::bool::weighted(0.8), 0..2 * SPAN),
            0..6,
        ),
        prop::collection::vec(0..N / 2, 1..3),
        prop_oneof![1 => 0..N, 3 => 2..N],
        prop_oneof![1 => Just(0u8), 9 => 1u8..=4],
        prop_oneof![3 => Just(1u8), 1 => 2u8..=3],
        prop::collection::vec(any::<u32>(), 46),
    )
        .prop_map(
            |(edges, revocations, anchors, subject, depth, min_level, order)| Spec {
                edges,
                revocations,
                anchors,
                subject,
                depth,
                min_level,
                order,
            },
        )
}

struct Built {
    endorsements: Vec<Endorsement>,
    revocations: Vec<Revocation>,
    anchors: Vec<DidKey>,
    subject: DidKey,
    policy: TrustPolicy,
}

fn build(spec: &Spec) -> Built {
    let endorsements: Vec<Endorsement> = spec
        .edges
        .iter()
        .map(|&(from, offset, level, issued, life)| {
            let to = (from + offset) % N;
            let issued = NOW - SPAN + issued;
            Endorsement::sign(
                key(from),
                &did(to),
                TrustLevel::from_u8(level).unwrap(),
                t(issued),
                t(issued + life),
            )
            .unwrap()
        })
        .collect();
    let revocations = if endorsements.is_empty() {
        Vec::new()
    } else {
        spec.revocations
            .iter()
            .map(|&(index, by_endorser, at)| {
                let e = &endorsements[index % endorsements.len()];
                let signer = if by_endorser {
                    KEYS.iter()
                        .find(|k| k.verifying_key() == *e.endorser_key())
                        .unwrap()
                } else {
                    key(N) // never an endorser in these graphs
                };
                Revocation::sign(signer, e.id(), t(NOW - SPAN + at)).unwrap()
            })
            .collect()
    };
    let mut policy = TrustPolicy::default();
    policy
        .set_max_depth(spec.depth)
        .set_min_level(TrustLevel::from_u8(spec.min_level).unwrap());
    Built {
        endorsements,
        revocations,
        anchors: spec.anchors.iter().map(|&i| did(i)).collect(),
        subject: did(spec.subject),
        policy,
    }
}

/// Inserts everything in the order `order` gives, skipping refused revocations.
fn insert_all(built: &Built, order: &[u32]) -> TrustGraph {
    enum Item<'a> {
        E(&'a Endorsement),
        R(&'a Revocation),
    }
    let mut items: Vec<(u32, usize, Item<'_>)> = built
        .endorsements
        .iter()
        .map(Item::E)
        .chain(built.revocations.iter().map(Item::R))
        .enumerate()
        .map(|(i, item)| (order.get(i).copied().unwrap_or(0), i, item))
        .collect();
    items.sort_by_key(|(k, i, _)| (*k, *i));
    let mut g = TrustGraph::new(GraphLimits::default());
    for (_, _, item) in items {
        match item {
            Item::E(e) => {
                g.insert_endorsement(e.clone()).unwrap();
            }
            Item::R(r) => match g.insert_revocation(r.clone()) {
                Ok(_) | Err(GraphError::NotEndorser) => {}
                Err(e) => panic!("{e}"),
            },
        }
    }
    g
}

/// The edges at `now`, straight from the documented rule.
fn reference_edges(built: &Built, now: Timestamp) -> Vec<&Endorsement> {
    let mut out = Vec::new();
    for e in &built.endorsements {
        let latest = built
            .endorsements
            .iter()
            .filter(|o| {
                o.endorser_key() == e.endorser_key()
                    && o.subject_key() == e.subject_key()
                    && o.issued_at() <= now
            })
            .max_by(|a, b| {
                a.issued_at()
                    .cmp(&b.issued_at())
                    .then(b.level().cmp(&a.level()))
                    .then(b.id().cmp(a.id()))
            });
        let is_latest = latest.is_some_and(|l| l.id() == e.id());
        let revoked = built
            .revocations
            .iter()
            .any(|r| r.revokes(e) && r.revoked_at() <= now);
        if is_latest
            && now < e.expires_at()
            && !revoked
            && e.level() >= built.policy.min_level()
            && !out.iter().any(|o: &&Endorsement| o.id() == e.id())
        {
            out.push(e);
        }
    }
    out
}

/// Brute force: every simple path from an anchor, the best by the documented rule.
fn reference(built: &Built, now: Timestamp) -> Option<(TrustLevel, Vec<EndorsementId>)> {
    if built.anchors.contains(&built.subject) {
        return Some((TrustLevel::Ultimate, Vec::new()));
    }
    let edges = reference_edges(built, now);
    let mut best: Option<(usize, core::cmp::Reverse<TrustLevel>, Vec<EndorsementId>)> = None;
    fn walk<'a>(
        at: DidKey,
        path: &mut Vec<&'a Endorsement>,
        edges: &[&'a Endorsement],
        built: &Built,
        best: &mut Option<(usize, core::cmp::Reverse<TrustLevel>, Vec<EndorsementId>)>,
    ) {
        if at == built.subject {
            let level = path.iter().map(|e| e.level()).min().unwrap();
            let key = (
                path.len(),
                core::cmp::Reverse(level),
                path.iter().map(|e| *e.id()).collect(),
            );
            if best.as_ref().is_none_or(|b| key < *b) {
                *best = Some(key);
            }
            return;
        }
        if path.len() >= usize::from(built.policy.max_depth()) {
            return;
        }
        for e in edges.iter().filter(|e| e.endorser() == at) {
            let visited = path.iter().any(|p| p.endorser() == e.subject())
                || built.anchors.contains(&e.subject()) && e.subject() != built.subject;
            if !visited {
                path.push(e);
                walk(e.subject(), path, edges, built, best);
                path.pop();
            }
        }
    }
    let anchors: BTreeSet<String> = built.anchors.iter().map(ToString::to_string).collect();
    for anchor in anchors {
        let anchor: DidKey = anchor.parse().unwrap();
        walk(anchor, &mut Vec::new(), &edges, built, &mut best);
    }
    best.map(|(_, core::cmp::Reverse(level), ids)| (level, ids))
}

/// Every hop is a real, active, unrevoked latest-word edge, and the path is well formed.
fn check_path(built: &Built, path: &TrustPath, now: Timestamp) {
    assert!(path.len() <= usize::from(built.policy.max_depth()) || path.is_empty());
    assert!(built.anchors.contains(path.anchor()));
    assert_eq!(path.subject(), &built.subject);
    let edges = reference_edges(built, now);
    let mut at = *path.anchor();
    let mut visited = vec![at];
    for hop in path.hops() {
        assert_eq!(hop.endorser(), at);
        assert!(hop.is_active(now), "expired or not yet valid hop");
        assert!(
            !built
                .revocations
                .iter()
                .any(|r| r.revokes(hop) && r.revoked_at() <= now),
            "revoked hop"
        );
        assert!(hop.level() >= built.policy.min_level());
        assert!(
            edges.iter().any(|e| e.id() == hop.id()),
            "not the latest word"
        );
        at = hop.subject();
        assert!(!visited.contains(&at), "a DID visited twice");
        assert!(!built.anchors.contains(&at) || at == built.subject);
        visited.push(at);
    }
    assert_eq!(at, built.subject);
    let level = path
        .hops()
        .iter()
        .map(Endorsement::level)
        .min()
        .unwrap_or(TrustLevel::Ultimate);
    assert_eq!(path.level(), level);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn evaluation_matches_the_rule_in_any_order(spec in spec(), now_offset in SPAN / 2..2 * SPAN) {
        let built = build(&spec);
        let now = t(NOW - SPAN + now_offset);
        let in_order = insert_all(&built, &[]);
        let shuffled = insert_all(&built, &spec.order);
        let verdict = in_order
            .evaluate(&built.anchors, &built.subject, now, &built.policy)
            .unwrap();
        let other = shuffled
            .evaluate(&built.anchors, &built.subject, now, &built.policy)
            .unwrap();
        prop_assert_eq!(&verdict, &other);
        // Anchors in another order, and repeated, change nothing.
        let mut anchors = built.anchors.clone();
        anchors.reverse();
        anchors.extend(built.anchors.iter().copied());
        let again = shuffled
            .evaluate(&anchors, &built.subject, now, &built.policy)
            .unwrap();
        prop_assert_eq!(&verdict, &again);
        match (&verdict, reference(&built, now)) {
            (Verdict::Untrusted, None) => {}
            (Verdict::Trusted(path), Some((level, ids))) => {
                check_path(&built, path, now);
                prop_assert_eq!(path.level(), level);
                prop_assert_eq!(path.endorsement_ids().copied().collect::<Vec<_>>(), ids);
            }
            (v, r) => prop_assert!(false, "graph says {:?}, reference says {:?}", v, r),
        }
    }

    #[test]
    fn revoking_any_hop_of_the_only_path_untrusts(
        len in 1usize..=4,
        levels in prop::collection::vec(1u8..=3, 4),
        noise in prop::collection::vec((0..N, 0..N, 1u8..=3), 0..10),
        cut in any::<prop::sample::Index>(),
    ) {
        // A chain 0 → 1 → … → len, plus noise that never points into the chain.
        let mut endorsements: Vec<Endorsement> = (0..len)
            .map(|i| endorse(i, i + 1, TrustLevel::from_u8(levels[i]).unwrap()))
            .collect();
        let chain: Vec<EndorsementId> = endorsements.iter().map(|e| *e.id()).collect();
        for (from, to, level) in noise {
            if to > len && from != to {
                endorsements.push(endorse(from, to, TrustLevel::from_u8(level).unwrap()));
            }
        }
        let mut policy = TrustPolicy::default();
        policy.set_max_depth(4);
        let anchors = [did(0)];
        let g = graph(&endorsements, &[]);
        let verdict = g.evaluate(&anchors, &did(len), now(), &policy).unwrap();
        prop_assert_eq!(verdict.path().map(ids), Some(chain.clone()));
        let victim = &endorsements[cut.index(len)];
        let endorser = victim.endorser_key();
        let signer = KEYS.iter().find(|k| k.verifying_key() == *endorser).unwrap();
        // Revoked from now on: untrusted. Revoked only from tomorrow: still trusted today.
        let g = graph(&endorsements, &[victim.revoke(signer, now()).unwrap()]);
        prop_assert_eq!(g.evaluate(&anchors, &did(len), now(), &policy).unwrap(), Verdict::Untrusted);
        let g = graph(&endorsements, &[victim.revoke(signer, t(NOW + DAY)).unwrap()]);
        prop_assert!(g.evaluate(&anchors, &did(len), now(), &policy).unwrap().is_trusted());
    }

    #[test]
    fn round_trips_both_forms(
        from in 0..N,
        offset in 1..N,
        level in 1u8..=3,
        issued in 0u64..(1 << 53) - 1,
        life in 1u64..1 << 40,
        revoked in 0u64..(1 << 53),
    ) {
        let issued = issued.min((1 << 53) - 2);
        let expires = (issued + life).min((1 << 53) - 1);
        let e = Endorsement::sign(
            key(from),
            &did((from + offset) % N),
            TrustLevel::from_u8(level).unwrap(),
            t(issued),
            t(expires),
        )
        .unwrap();
        prop_assert_eq!(&Endorsement::from_json(&e.to_json()).unwrap(), &e);
        prop_assert_eq!(&Endorsement::from_cbor(&e.to_cbor()).unwrap(), &e);
        let r = e.revoke(key(from), t(revoked.min((1 << 53) - 1))).unwrap();
        prop_assert_eq!(&Revocation::from_json(&r.to_json()).unwrap(), &r);
        prop_assert_eq!(&Revocation::from_cbor(&r.to_cbor()).unwrap(), &r);
        prop_assert!(r.revokes(&e));
    }

    #[test]
    fn any_changed_byte_fails(
        from in 0..N,
        offset in 1..N,
        level in 1u8..=3,
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let e = Endorsement::sign(
            key(from),
            &did((from + offset) % N),
            TrustLevel::from_u8(level).unwrap(),
            t(NOW),
            t(NOW + DAY),
        )
        .unwrap();
        let r = e.revoke(key(from), t(NOW + 1)).unwrap();
        let changed = |bytes: Vec<u8>| {
            let mut bytes = bytes;
            let i = index.index(bytes.len());
            bytes[i] ^= flip;
            bytes
        };
        prop_assert!(Endorsement::from_json(&changed(e.to_json())).is_err());
        prop_assert!(Endorsement::from_cbor(&changed(e.to_cbor())).is_err());
        prop_assert!(Revocation::from_json(&changed(r.to_json())).is_err());
        prop_assert!(Revocation::from_cbor(&changed(r.to_cbor())).is_err());
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Endorsement::from_json(&bytes);
        let _ = Endorsement::from_cbor(&bytes);
        let _ = Revocation::from_json(&bytes);
        let _ = Revocation::from_cbor(&bytes);
    }
}
