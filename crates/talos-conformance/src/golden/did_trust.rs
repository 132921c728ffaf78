//! `did/endorsement.json`: web-of-trust endorsements, revocations, and trust verdicts over
//! small graphs.

use talos_crypto::json::{self, Map, Number, Value};
use talos_crypto::{SigningKey, Timestamp};
use talos_did::DidKey;
use talos_did::trust::{
    Endorsement, EndorsementId, GraphLimits, Revocation, TrustGraph, TrustLevel, TrustPolicy,
    Verdict,
};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte};
use crate::util::{array_field, field, hex_array, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "did/endorsement.json",
    contract: "did/endorsement.schema.json",
    description: "Endorsement v1: endorser vouches for subject at level 1 (marginal), 2 (full) or 3 \
                  (ultimate), active while issued_at <= now < expires_at (ms); sig = Ed25519 over the \
                  RFC 8785 canonical JSON of every member but sig; id = base64url(SHA-256(canonical JSON \
                  with sig)); expected.cbor_hex is the deterministic CBOR form. Revocation v1 \
                  (contracts/did/endorsement_revocation.schema.json): {v, endorser, endorsement: id, \
                  revoked_at, sig}, effective when its endorser is the endorsement's and revoked_at <= now. \
                  Three kinds of case (inputs.kind). endorsement: sign from the seeds, apply inputs.tamper \
                  to the JSON, decode, check it is active at now_ms; object is the (tampered) JSON. \
                  revocation: sign the endorsement and, with revoker_seed_hex, a revocation of its id; a \
                  graph holding the endorsement must refuse a revocation by anyone else; object is the \
                  endorsement, expected.revocation the revocation. graph: inputs.identities maps names to \
                  seeds; sign inputs.endorsements and inputs.revocations (revocation.endorsement is an \
                  index into endorsements), then evaluate inputs.subject from inputs.anchors at now_ms. \
                  Per (endorser, subject) only the latest issued_at <= now counts (ties: lower level, then \
                  smaller id); it is an edge if unexpired, unrevoked and at least policy.min_level. The \
                  verdict is the path of the fewest hops (at most policy.max_depth, default 3), then the \
                  highest lowest level along it, then the smallest sequence of ids compared as bytes from \
                  the anchor; an anchor is trusted with no hops at level 3 and no path passes through one. \
                  expected.verdict.hops indexes inputs.endorsements. object is the first endorsement.",
    producer: did_producer,
    specs,
    derive,
};

fn did_producer() -> String {
    format!("talos-did {}", talos_did::VERSION)
}

const ALICE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const BOB: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const MALLORY: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const CAROL: &str = "4444444444444444444444444444444444444444444444444444444444444444";
const DAVE: &str = "5555555555555555555555555555555555555555555555555555555555555555";
const ERIN: &str = "6666666666666666666666666666666666666666666666666666666666666666";

const NOW: u64 = 1_768_178_601_000;
const DAY: u64 = 86_400_000;
const ISSUED: u64 = NOW - DAY;
const EXPIRES: u64 = NOW + 365 * DAY;

fn ms(value: u64) -> Value {
    Value::Number(Number::try_from(value).unwrap_or_else(|_| Number::from(0u32)))
}

fn with(mut value: Value, extra: &[(&str, Value)]) -> Value {
    if let Value::Object(map) = &mut value {
        for (k, v) in extra {
            map.insert((*k).to_owned(), v.clone());
        }
    }
    value
}

fn single(endorser: &str, subject: &str, level: u32) -> Value {
    object([
        ("kind", s("endorsement")),
        ("endorser_seed_hex", s(endorser)),
        ("subject_seed_hex", s(subject)),
        ("level", n(level)),
        ("issued_at_ms", ms(ISSUED)),
        ("expires_at_ms", ms(EXPIRES)),
        ("now_ms", ms(NOW)),
    ])
}

fn set(changes: Value) -> (&'static str, Value) {
    ("tamper", object([("set", changes)]))
}

fn revocation(revoker: &str, revoked_at: u64) -> Value {
    with(
        single(ALICE, BOB, 2),
        &[
            ("kind", s("revocation")),
            ("revoker_seed_hex", s(revoker)),
            ("revoked_at_ms", ms(revoked_at)),
        ],
    )
}

/// An edge of a graph case: `from` endorses `to` at `level`, issued a day ago for a year.
fn edge(from: &str, to: &str, level: u32) -> Value {
    edge_at(from, to, level, ISSUED, EXPIRES)
}

fn edge_at(from: &str, to: &str, level: u32, issued: u64, expires: u64) -> Value {
    object([
        ("endorser", s(from)),
        ("subject", s(to)),
        ("level", n(level)),
        ("issued_at_ms", ms(issued)),
        ("expires_at_ms", ms(expires)),
    ])
}

fn revoke(index: u32, by: &str, at: u64) -> Value {
    object([
        ("endorsement", n(index)),
        ("by", s(by)),
        ("revoked_at_ms", ms(at)),
    ])
}

/// A graph case; `extra` adds `policy` or `revocations`.
fn graph(anchors: &[&str], subject: &str, edges: Vec<Value>, extra: &[(&str, Value)]) -> Value {
    let seeds = [
        ("alice", ALICE),
        ("bob", BOB),
        ("carol", CAROL),
        ("dave", DAVE),
        ("erin", ERIN),
        ("mallory", MALLORY),
    ];
    let mentioned = |name: &str| {
        anchors.contains(&name)
            || subject == name
            || edges.iter().any(|e| {
                str_field(e, "endorser").ok() == Some(name)
                    || str_field(e, "subject").ok() == Some(name)
            })
            || extra
                .iter()
                .any(|(_, v)| v.to_canonical_string().contains(name))
    };
    let identities: Map = seeds
        .iter()
        .filter(|(name, _)| mentioned(name))
        .map(|(name, seed)| ((*name).to_owned(), s(*seed)))
        .collect();
    with(
        object([
            ("kind", s("graph")),
            ("identities", Value::Object(identities)),
            (
                "anchors",
                Value::Array(anchors.iter().map(|a| s(*a)).collect()),
            ),
            ("subject", s(subject)),
            ("now_ms", ms(NOW)),
            ("endorsements", Value::Array(edges)),
        ]),
        extra,
    )
}

fn policy(pairs: &[(&str, u32)]) -> (&'static str, Value) {
    let map: Map = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), n(*v)))
        .collect();
    ("policy", Value::Object(map))
}

#[allow(clippy::too_many_lines)] // a table of cases
fn specs() -> Vec<Spec> {
    let bob_x25519 = DidKey::X25519(
        SigningKey::from_seed(&[0x22; 32])
            .verifying_key()
            .to_x25519(),
    );
    let alice_did = DidKey::Ed25519(SigningKey::from_seed(&[0x11; 32]).verifying_key());
    vec![
        // Single endorsements.
        Spec::ok(
            "marginal",
            "alice vouches for bob at level 1 (marginal)",
            single(ALICE, BOB, 1),
        ),
        Spec::ok(
            "full",
            "alice vouches for bob at level 2 (full)",
            single(ALICE, BOB, 2),
        ),
        Spec::ok(
            "ultimate",
            "alice vouches for carol at level 3 (ultimate)",
            single(ALICE, CAROL, 3),
        ),
        Spec::err(
            "tampered-level",
            "the level was raised from 2 to 3 after signing",
            with(single(ALICE, BOB, 2), &[set(object([("level", n(3))]))]),
            "signature",
        ),
        Spec::err(
            "tampered-sig",
            "one bit of the signature flipped",
            with(
                single(ALICE, BOB, 2),
                &[(
                    "tamper",
                    object([("flip_byte", object([("field", s("sig")), ("index", n(10))]))]),
                )],
            ),
            "signature",
        ),
        Spec::err(
            "tampered-expiry",
            "expires_at extended by a year after signing",
            with(
                single(ALICE, BOB, 2),
                &[set(object([("expires_at", ms(EXPIRES + 365 * DAY))]))],
            ),
            "signature",
        ),
        Spec::err(
            "expired",
            "checked at its expires_at (the window is half-open)",
            with(single(ALICE, BOB, 2), &[("now_ms", ms(EXPIRES))]),
            "expired",
        ),
        Spec::err(
            "not-yet-valid",
            "checked 1 ms before its issued_at",
            with(single(ALICE, BOB, 2), &[("now_ms", ms(ISSUED - 1))]),
            "not valid before",
        ),
        Spec::err(
            "self-endorsement",
            "subject replaced by the endorser (refused before the signature is checked)",
            with(
                single(ALICE, BOB, 2),
                &[set(object([("subject", s(alice_did.to_string()))]))],
            ),
            "self-endorsement",
        ),
        Spec::err(
            "empty-validity",
            "expires_at equal to issued_at",
            with(
                single(ALICE, BOB, 2),
                &[set(object([("expires_at", ms(ISSUED))]))],
            ),
            "expires_at must be after issued_at",
        ),
        Spec::err(
            "level-out-of-range",
            "level 4",
            with(single(ALICE, BOB, 2), &[set(object([("level", n(4))]))]),
            "trust level",
        )
        .schema_invalid(),
        Spec::err(
            "x25519-subject",
            "a key-agreement did:key as subject",
            with(
                single(ALICE, BOB, 2),
                &[set(object([("subject", s(bob_x25519.to_string()))]))],
            ),
            "ed25519",
        )
        .schema_invalid(),
        Spec::err(
            "unknown-version",
            "v 2",
            with(single(ALICE, BOB, 2), &[set(object([("v", n(2))]))]),
            "unsupported endorsement version",
        )
        .schema_invalid(),
        Spec::err(
            "unknown-member",
            "an extra member",
            with(single(ALICE, BOB, 2), &[set(object([("note", s("hi"))]))]),
            "unknown field",
        )
        .schema_invalid(),
        // Revocations.
        Spec::ok(
            "revocation",
            "alice revokes her endorsement of bob from now on",
            revocation(ALICE, NOW),
        ),
        Spec::ok(
            "revocation-scheduled",
            "alice revokes it from tomorrow: today it still counts",
            revocation(ALICE, NOW + DAY),
        ),
        Spec::err(
            "revocation-by-other",
            "mallory signs a revocation of alice's endorsement",
            revocation(MALLORY, NOW),
            "not signed by the endorser",
        ),
        Spec::err(
            "revocation-tampered",
            "the revocation's endorsement id altered after signing",
            with(
                revocation(ALICE, NOW),
                &[(
                    "tamper",
                    object([(
                        "flip_byte",
                        object([("field", s("endorsement")), ("index", n(0))]),
                    )]),
                )],
            ),
            "signature",
        ),
        // Graphs.
        Spec::ok(
            "graph-direct",
            "an anchor vouches for the subject",
            graph(&["alice"], "bob", vec![edge("alice", "bob", 2)], &[]),
        ),
        Spec::ok(
            "graph-weakest-hop",
            "a three-hop chain is worth its marginal middle hop",
            graph(
                &["alice"],
                "dave",
                vec![
                    edge("alice", "bob", 3),
                    edge("bob", "carol", 1),
                    edge("carol", "dave", 2),
                ],
                &[],
            ),
        ),
        Spec::ok(
            "graph-fewest-hops",
            "one marginal hop beats two ultimate ones",
            graph(
                &["alice"],
                "dave",
                vec![
                    edge("alice", "bob", 3),
                    edge("bob", "dave", 3),
                    edge("alice", "dave", 1),
                ],
                &[],
            ),
        ),
        Spec::ok(
            "graph-highest-level",
            "of two two-hop paths, the one whose weakest hop is stronger",
            graph(
                &["alice"],
                "dave",
                vec![
                    edge("alice", "bob", 2),
                    edge("bob", "dave", 1),
                    edge("alice", "carol", 2),
                    edge("carol", "dave", 2),
                ],
                &[],
            ),
        ),
        Spec::ok(
            "graph-smallest-ids",
            "two equal paths: the smaller id sequence wins (here the one listed second)",
            graph(
                &["alice"],
                "dave",
                vec![
                    edge("alice", "carol", 2),
                    edge("carol", "dave", 2),
                    edge("alice", "bob", 2),
                    edge("bob", "dave", 2),
                ],
                &[],
            ),
        ),
        Spec::ok(
            "graph-depth-bound",
            "a four-hop chain is beyond the default depth of 3",
            graph(&["alice"], "erin", chain4(), &[]),
        ),
        Spec::ok(
            "graph-depth-4",
            "the same chain with max_depth 4",
            graph(&["alice"], "erin", chain4(), &[policy(&[("max_depth", 4)])]),
        ),
        Spec::ok(
            "graph-min-level",
            "min_level 2 ignores the marginal hop, and with it the only path",
            graph(
                &["alice"],
                "carol",
                vec![edge("alice", "bob", 3), edge("bob", "carol", 1)],
                &[policy(&[("min_level", 2)])],
            ),
        ),
        Spec::ok(
            "graph-expired-hop",
            "the second hop expired an hour ago",
            graph(
                &["alice"],
                "carol",
                vec![
                    edge("alice", "bob", 2),
                    edge_at("bob", "carol", 2, ISSUED, NOW - 3_600_000),
                ],
                &[],
            ),
        ),
        Spec::ok(
            "graph-revoked-detour",
            "the direct endorsement is revoked; the two-hop path remains",
            graph(
                &["alice"],
                "carol",
                vec![
                    edge("alice", "carol", 3),
                    edge("alice", "bob", 2),
                    edge("bob", "carol", 2),
                ],
                &[("revocations", Value::Array(vec![revoke(0, "alice", NOW)]))],
            ),
        ),
        Spec::ok(
            "graph-anchor-subject",
            "an anchor is trusted with no hops, whatever others say of it",
            graph(
                &["alice", "bob"],
                "bob",
                vec![edge("mallory", "bob", 1)],
                &[],
            ),
        ),
        Spec::ok(
            "graph-no-path-through-anchor",
            "carol is one hop from the anchor bob, not two from the anchor alice",
            graph(
                &["alice", "bob"],
                "carol",
                vec![
                    edge("alice", "bob", 3),
                    edge("bob", "carol", 1),
                    edge("mallory", "alice", 3),
                ],
                &[],
            ),
        ),
        Spec::ok(
            "graph-latest-word",
            "alice downgraded bob from ultimate to marginal an hour ago",
            graph(
                &["alice"],
                "bob",
                vec![
                    edge("alice", "bob", 3),
                    edge_at("alice", "bob", 1, NOW - 3_600_000, EXPIRES),
                ],
                &[],
            ),
        ),
        Spec::ok(
            "graph-stranger",
            "nobody the anchor trusts vouches for mallory",
            graph(
                &["alice"],
                "mallory",
                vec![edge("alice", "bob", 2), edge("mallory", "bob", 3)],
                &[],
            ),
        ),
        Spec::err(
            "graph-node-budget",
            "max_nodes 2: the search needs to expand alice, bob and carol",
            graph(
                &["alice"],
                "dave",
                vec![
                    edge("alice", "bob", 2),
                    edge("alice", "carol", 2),
                    edge("bob", "erin", 2),
                    edge("carol", "dave", 2),
                ],
                &[policy(&[("max_nodes", 2)])],
            ),
            "limit",
        ),
        Spec::err(
            "graph-revocation-by-other",
            "mallory's revocation of alice's endorsement is refused",
            graph(
                &["alice"],
                "bob",
                vec![edge("alice", "bob", 2)],
                &[("revocations", Value::Array(vec![revoke(0, "mallory", NOW)]))],
            ),
            "not signed by the endorser",
        ),
    ]
}

fn chain4() -> Vec<Value> {
    vec![
        edge("alice", "bob", 2),
        edge("bob", "carol", 2),
        edge("carol", "dave", 2),
        edge("dave", "erin", 2),
    ]
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    match str_field(inputs, "kind")? {
        "endorsement" => derive_endorsement(inputs),
        "revocation" => derive_revocation(inputs),
        "graph" => derive_graph(inputs),
        other => Err(format!("unknown kind {other:?}")),
    }
}

fn time(inputs: &Value, key: &str) -> Result<Timestamp, String> {
    Ok(Timestamp::from_millis(u64_field(inputs, key)?))
}

fn level(inputs: &Value) -> Result<TrustLevel, String> {
    u8::try_from(u64_field(inputs, "level")?)
        .ok()
        .and_then(TrustLevel::from_u8)
        .ok_or_else(|| "bad level".to_owned())
}

fn key(inputs: &Value, name: &str) -> Result<SigningKey, String> {
    Ok(SigningKey::from_seed(&hex_array::<32>(inputs, name)?))
}

fn did(key: &SigningKey) -> DidKey {
    DidKey::Ed25519(key.verifying_key())
}

fn to_value(bytes: &[u8]) -> Result<Value, String> {
    json::parse(bytes).map_err(|e| e.to_string())
}

fn apply_tamper(object: &mut Value, inputs: &Value) -> Result<(), String> {
    if let Some(tamper) = inputs.get("tamper") {
        if let Some(set) = tamper.get("set") {
            apply_changes(object, set);
        }
        if let Some(flip) = tamper.get("flip_byte") {
            let index = usize::try_from(u64_field(flip, "index")?).map_err(|e| e.to_string())?;
            flip_b64u_byte(object, str_field(flip, "field")?, index)?;
        }
    }
    Ok(())
}

/// Signs the endorsement `inputs` describe and checks it decodes to itself both ways.
fn signed(inputs: &Value) -> Result<Endorsement, String> {
    let endorser = key(inputs, "endorser_seed_hex")?;
    let subject = did(&key(inputs, "subject_seed_hex")?);
    let endorsement = Endorsement::sign(
        &endorser,
        &subject,
        level(inputs)?,
        time(inputs, "issued_at_ms")?,
        time(inputs, "expires_at_ms")?,
    )
    .map_err(|e| e.to_string())?;
    let via_json = Endorsement::from_json(&endorsement.to_json()).map_err(|e| e.to_string())?;
    let via_cbor = Endorsement::from_cbor(&endorsement.to_cbor()).map_err(|e| e.to_string())?;
    if via_json != endorsement || via_cbor != endorsement {
        return Err("the endorsement does not decode to itself".into());
    }
    Ok(endorsement)
}

fn derive_endorsement(inputs: &Value) -> Result<Derived, String> {
    let endorsement = signed(inputs)?;
    let mut shown = to_value(&endorsement.to_json())?;
    apply_tamper(&mut shown, inputs)?;
    let decoded = match Endorsement::from_json(&shown.to_canonical_vec()) {
        Ok(decoded) => decoded,
        Err(e) => return Ok(Derived::failed(Some(shown), &e)),
    };
    if let Err(e) = decoded.check_active(time(inputs, "now_ms")?) {
        return Ok(Derived::failed(Some(shown), &e));
    }
    if inputs.get("tamper").is_some() {
        return Err("the tampered endorsement was accepted".into());
    }
    Ok(Derived::Ok {
        object: shown,
        expected: object([
            ("id", s(endorsement.id().to_string())),
            ("cbor_hex", s(hex::encode(endorsement.to_cbor()))),
        ]),
    })
}

fn derive_revocation(inputs: &Value) -> Result<Derived, String> {
    let endorsement = signed(inputs)?;
    let shown = to_value(&endorsement.to_json())?;
    let revoker = key(inputs, "revoker_seed_hex")?;
    let revoked_at = time(inputs, "revoked_at_ms")?;
    let revocation =
        Revocation::sign(&revoker, endorsement.id(), revoked_at).map_err(|e| e.to_string())?;
    let mut revocation_json = to_value(&revocation.to_json())?;
    apply_tamper(&mut revocation_json, inputs)?;
    let decoded = match Revocation::from_json(&revocation_json.to_canonical_vec()) {
        Ok(decoded) => decoded,
        Err(e) => return Ok(Derived::failed(Some(shown), &e)),
    };
    if Revocation::from_cbor(&revocation.to_cbor()).as_ref() != Ok(&revocation) {
        return Err("the revocation does not decode to itself".into());
    }
    let mut graph = TrustGraph::new(GraphLimits::default());
    graph
        .insert_endorsement(endorsement.clone())
        .map_err(|e| e.to_string())?;
    if let Err(e) = graph.insert_revocation(decoded) {
        return Ok(Derived::failed(Some(shown), &e));
    }
    let now = time(inputs, "now_ms")?;
    let endorser = key(inputs, "endorser_seed_hex")?;
    let verdict = graph
        .evaluate(
            &[did(&endorser)],
            &endorsement.subject(),
            now,
            &TrustPolicy::default(),
        )
        .map_err(|e| e.to_string())?;
    Ok(Derived::Ok {
        object: shown,
        expected: object([
            ("id", s(endorsement.id().to_string())),
            ("revocation", revocation_json),
            ("revocation_cbor_hex", s(hex::encode(revocation.to_cbor()))),
            (
                "revoked",
                Value::Bool(graph.is_revoked(endorsement.id(), now)),
            ),
            ("trusted", Value::Bool(verdict.is_trusted())),
        ]),
    })
}

fn derive_graph(inputs: &Value) -> Result<Derived, String> {
    let identities = field(inputs, "identities")?;
    let named = |name: &str| key(identities, name);
    let mut endorsements = Vec::new();
    for e in array_field(inputs, "endorsements")? {
        let endorser = named(str_field(e, "endorser")?)?;
        let subject = did(&named(str_field(e, "subject")?)?);
        let endorsement = Endorsement::sign(
            &endorser,
            &subject,
            level(e)?,
            time(e, "issued_at_ms")?,
            time(e, "expires_at_ms")?,
        )
        .map_err(|e| e.to_string())?;
        // What a receiver would decode.
        let endorsement =
            Endorsement::from_json(&endorsement.to_json()).map_err(|e| e.to_string())?;
        endorsements.push(endorsement);
    }
    let mut revocations = Vec::new();
    if inputs.get("revocations").is_some() {
        for r in array_field(inputs, "revocations")? {
            let index = usize::try_from(u64_field(r, "endorsement")?).map_err(|e| e.to_string())?;
            let target = endorsements.get(index).ok_or("no such endorsement")?;
            let revocation = Revocation::sign(
                &named(str_field(r, "by")?)?,
                target.id(),
                time(r, "revoked_at_ms")?,
            )
            .map_err(|e| e.to_string())?;
            revocations
                .push(Revocation::from_cbor(&revocation.to_cbor()).map_err(|e| e.to_string())?);
        }
    }
    let shown = to_value(
        &endorsements
            .first()
            .ok_or("a graph case needs an endorsement")?
            .to_json(),
    )?;
    let mut policy = TrustPolicy::default();
    if let Some(p) = inputs.get("policy") {
        if p.get("max_depth").is_some() {
            policy.set_max_depth(
                u8::try_from(u64_field(p, "max_depth")?).map_err(|e| e.to_string())?,
            );
        }
        if p.get("min_level").is_some() {
            policy.set_min_level(level(&object([("level", field(p, "min_level")?.clone())]))?);
        }
        if p.get("max_nodes").is_some() {
            policy.set_max_nodes(
                usize::try_from(u64_field(p, "max_nodes")?).map_err(|e| e.to_string())?,
            );
        }
        if p.get("max_edges").is_some() {
            policy.set_max_edges(
                usize::try_from(u64_field(p, "max_edges")?).map_err(|e| e.to_string())?,
            );
        }
    }
    let graph = match TrustGraph::build(
        endorsements.iter().cloned(),
        revocations,
        GraphLimits::default(),
    ) {
        Ok(graph) => graph,
        Err(e) => return Ok(Derived::failed(Some(shown), &e)),
    };
    let mut anchors = Vec::new();
    for a in array_field(inputs, "anchors")? {
        anchors.push(did(&named(a.as_str().ok_or("anchor is not a name")?)?));
    }
    let subject = did(&named(str_field(inputs, "subject")?)?);
    let verdict = match graph.evaluate(&anchors, &subject, time(inputs, "now_ms")?, &policy) {
        Ok(verdict) => verdict,
        Err(e) => return Ok(Derived::failed(Some(shown), &e)),
    };
    let ids: Vec<EndorsementId> = endorsements.iter().map(|e| *e.id()).collect();
    let verdict = match &verdict {
        Verdict::Trusted(path) => {
            let mut hops = Vec::new();
            for id in path.endorsement_ids() {
                let index = ids.iter().position(|i| i == id).ok_or("unknown hop")?;
                hops.push(Value::Number(
                    Number::try_from(index as u64).map_err(|e| e.to_string())?,
                ));
            }
            object([
                ("trusted", Value::Bool(true)),
                ("anchor", s(path.anchor().to_string())),
                ("level", n(u32::from(path.level().as_u8()))),
                ("hops", Value::Array(hops)),
                (
                    "path",
                    Value::Array(path.endorsement_ids().map(|id| s(id.to_string())).collect()),
                ),
                (
                    "dids",
                    Value::Array(path.dids().map(|d| s(d.to_string())).collect()),
                ),
            ])
        }
        _ => object([("trusted", Value::Bool(false))]),
    };
    Ok(Derived::Ok {
        object: shown,
        expected: object([
            (
                "endorsement_ids",
                Value::Array(ids.iter().map(|id| s(id.to_string())).collect()),
            ),
            ("verdict", verdict),
        ]),
    })
}
