//! `acl/revocation.json`: signed revocations of capability tokens, their ledger entries, and
//! the chains they deny.

use talos_acl::revocation::{LEDGER_KIND, Revocation, RevocationError, RevocationSet};
use talos_crypto::json::Value;

use super::acl_chain::{build_chain, chain, hashes, link, verifier};
use super::acl_token::{
    NOW, acl_producer, apply_tamper, decisions, did, key, req, secs, text, time, to_value,
    with_duplicate,
};
use super::{Derived, Family, Spec};
use crate::util::{array_field, field, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "acl/revocation.json",
    contract: "acl/revocation.schema.json",
    description: "Capability revocation v1: {capability_hash, issuer, revoked_at (Unix seconds), \
                  reason?, sig}; sig = Ed25519 by the revoked token's issuer over the RFC 8785 \
                  canonical JSON of every member but sig, unpadded base64url. The ledger records \
                  the canonical JSON with sig (expected.ledger_entry, UTF-8) as an entry of kind \
                  expected.ledger_kind. Each case builds a chain from inputs.links as \
                  acl/chain.json does, then signs inputs.revocations in order: each revokes link \
                  `link` (its capability_hash), names the did:key of `issuer` (default: the link's \
                  iss) and is signed by `by` (default: the issuer); inputs.tamper (set / flip_byte / \
                  duplicate, as in acl/token.json) is applied to the first revocation's JSON. A \
                  receiver parses each strictly, checks it names the link's capability_hash and iss \
                  and that the signature verifies with the link issuer's key, and adds it to the \
                  revocation set; the object is the first revocation. Then the chain (or its first \
                  inputs.present links) is verified at inputs.now and each of inputs.requests \
                  decided: a chain with any revoked link is denied (REVOKED) whatever the request. expected.revoked[i] says whether link i is \
                  in the set. A revocation refused is an expected_error.",
    producer: acl_producer,
    specs,
    derive,
};

fn revoke(link: u64, extra: &[(&str, Value)]) -> Value {
    let mut map = talos_crypto::json::Map::new();
    map.insert("link".into(), secs(link));
    map.insert("revoked_at".into(), secs(NOW - 60));
    for (k, v) in extra {
        map.insert((*k).into(), v.clone());
    }
    Value::Object(map)
}

fn three() -> Vec<Value> {
    vec![
        link("alice", "bob", "tool:fs", &[]),
        link("bob", "carol", "tool:fs/method:read", &[]),
        link("carol", "dave", "tool:fs/method:read", &[]),
    ]
}

fn case(revocations: Vec<Value>, extra: &[(&str, Value)]) -> Value {
    let mut inputs = chain(
        three(),
        extra,
        vec![req("fs", Some("read"), &[]), req("fs", Some("write"), &[])],
    );
    if let Value::Object(map) = &mut inputs {
        map.insert("revocations".into(), Value::Array(revocations));
    }
    inputs
}

fn specs() -> Vec<Spec> {
    vec![
        Spec::ok(
            "revoke-root",
            "alice revokes the root: the whole chain is denied",
            case(vec![revoke(0, &[("reason", s("key compromised"))])], &[]),
        ),
        Spec::ok(
            "revoke-middle",
            "bob revokes what he delegated to carol: carol's delegation to dave dies with it",
            case(vec![revoke(1, &[])], &[]),
        ),
        Spec::ok(
            "revoke-leaf",
            "carol revokes the leaf",
            case(vec![revoke(2, &[])], &[]),
        ),
        Spec::ok(
            "revoke-leaf-parent-unaffected",
            "carol revokes the leaf; the chain without it (alice to bob to carol) still allows",
            case(vec![revoke(2, &[])], &[("present", secs(2))]),
        ),
        Spec::ok(
            "revoke-two",
            "two revocations in one set: root and leaf",
            case(vec![revoke(0, &[]), revoke(2, &[])], &[]),
        ),
        Spec::ok(
            "revoke-max-reason",
            "a reason of 512 bytes, the maximum",
            case(vec![revoke(0, &[("reason", s("r".repeat(512)))])], &[]),
        ),
        Spec::err(
            "revoke-by-stranger",
            "mallory signs a revocation naming alice as issuer",
            case(vec![revoke(0, &[("by", s("mallory"))])], &[]),
            "signature",
        ),
        Spec::err(
            "revoke-wrong-issuer",
            "mallory revokes alice's token in her own name",
            case(
                vec![revoke(0, &[("by", s("mallory")), ("issuer", s("mallory"))])],
                &[],
            ),
            "issuer",
        ),
        Spec::err(
            "revoke-by-delegate",
            "carol (the root's grandchild holder) cannot revoke the root, which alice issued",
            case(
                vec![revoke(0, &[("by", s("carol")), ("issuer", s("carol"))])],
                &[],
            ),
            "issuer",
        ),
        Spec::err(
            "revoke-tampered-time",
            "revoked_at moved after signing",
            case(
                vec![revoke(0, &[])],
                &[(
                    "tamper",
                    object([("set", object([("revoked_at", secs(NOW - 3600))]))]),
                )],
            ),
            "signature",
        ),
        Spec::err(
            "revoke-tampered-sig",
            "one bit of the signature flipped",
            case(
                vec![revoke(1, &[])],
                &[(
                    "tamper",
                    object([(
                        "flip_byte",
                        object([("field", s("sig")), ("index", secs(63))]),
                    )]),
                )],
            ),
            "signature",
        ),
        Spec::err(
            "revoke-unknown-member",
            "a member the format does not define",
            case(
                vec![revoke(0, &[])],
                &[(
                    "tamper",
                    object([("set", object([("scope", s("tool:fs"))]))]),
                )],
            ),
            "malformed",
        )
        .schema_invalid(),
        Spec::err(
            "revoke-duplicate-key",
            "capability_hash written twice",
            case(
                vec![revoke(0, &[])],
                &[(
                    "tamper",
                    object([(
                        "duplicate",
                        object([
                            ("member", s("capability_hash")),
                            ("value", s("22".repeat(32))),
                        ]),
                    )]),
                )],
            ),
            "duplicate",
        ),
        Spec::err(
            "revoke-other-token",
            "the capability_hash replaced by another token's: no longer the link's",
            case(
                vec![revoke(0, &[])],
                &[(
                    "tamper",
                    object([("set", object([("capability_hash", s("22".repeat(32)))]))]),
                )],
            ),
            "capability_hash",
        ),
    ]
}

fn refused(object: Option<Value>, err: &RevocationError) -> Derived {
    Derived::failed(object, err)
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let chain = build_chain(inputs)?;
    let ids = field(inputs, "identities")?;
    let links = array_field(inputs, "links")?;
    let mut set = RevocationSet::default();
    let mut first: Option<(Option<Value>, Value)> = None;
    for (i, r) in array_field(inputs, "revocations")?.iter().enumerate() {
        let index = usize::try_from(u64_field(r, "link")?).map_err(|e| e.to_string())?;
        let target = chain.get(index).ok_or("no such link")?;
        let issuer_name = match r.get("issuer") {
            Some(_) => str_field(r, "issuer")?,
            None => str_field(links.get(index).ok_or("no such link")?, "iss")?,
        };
        let by = match r.get("by") {
            Some(_) => str_field(r, "by")?,
            None => issuer_name,
        };
        let issuer = did(&key(ids, issuer_name)?.verifying_key());
        let reason = match r.get("reason") {
            Some(_) => Some(str_field(r, "reason")?),
            None => None,
        };
        let revocation = Revocation::issue(
            &key(ids, by)?,
            *target.capability_hash(),
            &issuer,
            time(r, "revoked_at")?,
            reason,
        )
        .map_err(|e| e.to_string())?;
        if revocation.to_ledger_entry() != revocation.to_json() {
            return Err("the ledger entry is not the canonical JSON".into());
        }
        let mut value = to_value(&revocation.to_json())?;
        let mut bytes = value.to_canonical_vec();
        let mut shown = Some(value.clone());
        if i == 0 {
            apply_tamper(&mut value, inputs)?;
            bytes = value.to_canonical_vec();
            shown = Some(value);
            if let Some(dup) = inputs.get("tamper").and_then(|t| t.get("duplicate")) {
                bytes = with_duplicate(shown.as_ref().ok_or("no object")?, dup)?;
                shown = None;
            }
        }
        let parsed = match Revocation::from_json(&bytes) {
            Ok(parsed) => parsed,
            Err(e) => return Ok(refused(shown, &e)),
        };
        if let Err(e) = set.insert(&parsed, target) {
            return Ok(refused(shown, &e));
        }
        if i == 0 {
            first = Some((shown, text(&revocation.to_ledger_entry())?));
        }
    }
    if inputs.get("tamper").is_some() {
        return Err("a tampered revocation was accepted".into());
    }
    let Some((Some(shown), ledger_entry)) = first else {
        return Err("a revocation case needs a revocation".into());
    };
    let now = time(inputs, "now")?;
    let verifier = verifier(inputs)?;
    let presented = match inputs.get("present") {
        Some(_) => {
            let count =
                usize::try_from(u64_field(inputs, "present")?).map_err(|e| e.to_string())?;
            chain
                .get(..count)
                .ok_or("present is longer than the chain")?
        }
        None => chain.as_slice(),
    };
    Ok(Derived::Ok {
        object: shown,
        expected: object([
            ("ledger_kind", s(LEDGER_KIND)),
            ("ledger_entry", ledger_entry),
            ("capability_hashes", hashes(&chain)),
            (
                "revoked",
                Value::Array(
                    chain
                        .iter()
                        .map(|t| Value::Bool(set.contains(t.capability_hash())))
                        .collect(),
                ),
            ),
            (
                "decisions",
                decisions(&verifier, presented, None, now, &set, inputs)?,
            ),
        ]),
    })
}
