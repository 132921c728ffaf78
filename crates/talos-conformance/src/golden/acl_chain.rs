//! `acl/chain.json`: delegation chains of capability tokens, and the decisions they give.

use talos_acl::revocation::RevocationSet;
use talos_acl::token::CapabilityToken;
use talos_acl::verify::Verifier;
use talos_crypto::json::{Map, Value};

use super::acl_token::{
    EXP, IAT, NOW, acl_producer, apply_tamper, decisions, denied, did, fields, identities, key,
    req, secs, time, to_value,
};
use super::{Derived, Family, Spec};
use crate::util::{array_field, field, hex_array, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "acl/chain.json",
    contract: "acl/chain.schema.json",
    description: "Delegation chains (our extension of capability format C): the object is the \
                  chain as presented, root first, each link a capability token \
                  (contracts/acl/capability.schema.json). Each case signs inputs.links in order \
                  with the keys of inputs.identities (seeds by name): link i goes from the did:key \
                  of its iss to that of its sub, is signed by iss (or by signer when given) and \
                  names the previous link's capability_hash as parent (or parent_hex when given; \
                  the root names none unless given); tamper (set / flip_byte, as in acl/token.json) \
                  is applied to that link's JSON. The chain is verified at inputs.now (Unix seconds) \
                  with at most inputs.max_depth delegations (default 3) and no revocations, then each \
                  of inputs.requests is authorized against every link's scope and constraints. A \
                  chain verifies only if, in this order over all links: no iat is more than 60 s \
                  after now, no exp is before now, every signature verifies (batch), the root has \
                  no parent, each child's parent is the previous capability_hash, its iss the \
                  previous sub, its exp not later, its scope items covered by the previous scope and \
                  its constraint lists within every ancestor's (max_arg_bytes does not grow). \
                  expected.capability_hashes lists the links' hashes; expected.decisions as in \
                  acl/token.json. A refused chain is an expected_error (TALOS_INVALID_CAPABILITY).",
    producer: acl_producer,
    specs,
    derive,
};

/// A link from `iss` to `sub` with `scope`, issued at `IAT`, expiring at `EXP`.
pub(super) fn link(iss: &str, sub: &str, scope: &str, extra: &[(&str, Value)]) -> Value {
    let mut map = Map::new();
    map.insert("iss".into(), s(iss));
    map.insert("sub".into(), s(sub));
    map.insert("scope".into(), s(scope));
    map.insert("iat".into(), secs(IAT));
    map.insert("exp".into(), secs(EXP));
    for (k, v) in extra {
        map.insert((*k).into(), v.clone());
    }
    Value::Object(map)
}

/// Chain inputs: the identities, the links, `now` and the requests.
pub(super) fn chain(links: Vec<Value>, extra: &[(&str, Value)], requests: Vec<Value>) -> Value {
    let mut map = Map::new();
    map.insert("identities".into(), identities());
    map.insert("links".into(), Value::Array(links));
    map.insert("now".into(), secs(NOW));
    map.insert("requests".into(), Value::Array(requests));
    for (k, v) in extra {
        map.insert((*k).into(), v.clone());
    }
    Value::Object(map)
}

fn paths(globs: &[&str]) -> (&'static str, Value) {
    (
        "constraints",
        object([("paths", Value::Array(globs.iter().map(|g| s(*g)).collect()))]),
    )
}

fn path(p: &str) -> Value {
    req("fs", Some("read"), &[("path", s(p))])
}

fn specs() -> Vec<Spec> {
    let read = || req("fs", Some("read"), &[]);
    vec![
        Spec::ok(
            "chain-2",
            "alice grants bob all of fs; bob delegates read to carol",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs/method:read", &[]),
                ],
                &[],
                vec![read(), req("fs", Some("write"), &[]), req("git", None, &[])],
            ),
        ),
        Spec::ok(
            "chain-3-resources",
            "each delegation narrows the resource glob",
            chain(
                vec![
                    link("alice", "bob", "tool:fs tool:git", &[]),
                    link("bob", "carol", "tool:fs/method:read/resource:repo/**", &[]),
                    link(
                        "carol",
                        "dave",
                        "tool:fs/method:read/resource:repo/src/**",
                        &[],
                    ),
                ],
                &[],
                vec![
                    req("fs", Some("read"), &[("resource", s("repo/src/lib.rs"))]),
                    req("fs", Some("read"), &[("resource", s("repo/Cargo.toml"))]),
                    req("git", None, &[]),
                ],
            ),
        ),
        Spec::ok(
            "chain-4-depth-3",
            "three delegations (the default limit), expiries shrinking",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs", &[("exp", secs(EXP - 60))]),
                    link(
                        "carol",
                        "dave",
                        "tool:fs/method:read",
                        &[("exp", secs(EXP - 120))],
                    ),
                    link(
                        "dave",
                        "erin",
                        "tool:fs/method:read",
                        &[("exp", secs(EXP - 180))],
                    ),
                ],
                &[],
                vec![read(), req("fs", Some("stat"), &[])],
            ),
        ),
        Spec::ok(
            "chain-parent-constraints-apply",
            "the child sets no constraints: the root's paths still apply",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[paths(&["repo/**"])]),
                    link("bob", "carol", "tool:fs/method:read", &[]),
                ],
                &[],
                vec![path("repo/src/lib.rs"), path("etc/passwd"), read()],
            ),
        ),
        Spec::ok(
            "chain-narrower-constraints",
            "the child narrows paths and max_arg_bytes; both links' constraints apply",
            chain(
                vec![
                    link(
                        "alice",
                        "bob",
                        "tool:fs",
                        &[(
                            "constraints",
                            object([
                                ("paths", Value::Array(vec![s("repo/**")])),
                                ("max_arg_bytes", secs(4096)),
                            ]),
                        )],
                    ),
                    link(
                        "bob",
                        "carol",
                        "tool:fs",
                        &[(
                            "constraints",
                            object([
                                ("paths", Value::Array(vec![s("repo/src/**")])),
                                ("max_arg_bytes", secs(1024)),
                            ]),
                        )],
                    ),
                ],
                &[],
                vec![
                    req(
                        "fs",
                        Some("read"),
                        &[("path", s("repo/src/a.rs")), ("arg_bytes", secs(1024))],
                    ),
                    req(
                        "fs",
                        Some("read"),
                        &[("path", s("repo/src/a.rs")), ("arg_bytes", secs(2048))],
                    ),
                    path("repo/README.md"),
                ],
            ),
        ),
        Spec::ok(
            "chain-max-depth-1",
            "a verifier allowing one delegation accepts a chain of two",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs", &[]),
                ],
                &[("max_depth", secs(1))],
                vec![read()],
            ),
        ),
        Spec::err(
            "chain-broader-scope",
            "the child claims all of fs from a parent that grants only read",
            chain(
                vec![
                    link("alice", "bob", "tool:fs/method:read", &[]),
                    link("bob", "carol", "tool:fs", &[]),
                ],
                &[],
                vec![read()],
            ),
            "broader",
        ),
        Spec::err(
            "chain-broader-resource",
            "the child widens repo/src/** to repo/**",
            chain(
                vec![
                    link("alice", "bob", "tool:fs/resource:repo/src/**", &[]),
                    link("bob", "carol", "tool:fs/resource:repo/**", &[]),
                ],
                &[],
                vec![read()],
            ),
            "broader",
        ),
        Spec::err(
            "chain-later-expiry",
            "the child expires one second after its parent",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs", &[("exp", secs(EXP + 1))]),
                ],
                &[],
                vec![read()],
            ),
            "expires after",
        ),
        Spec::err(
            "chain-wrong-issuer",
            "carol signs a child of bob's token (the parent's subject is bob)",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("carol", "dave", "tool:fs", &[]),
                ],
                &[],
                vec![read()],
            ),
            "issuer is not",
        ),
        Spec::err(
            "chain-wrong-parent-hash",
            "the child names another token as its parent",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link(
                        "bob",
                        "carol",
                        "tool:fs",
                        &[("parent_hex", s("11".repeat(32)))],
                    ),
                ],
                &[],
                vec![read()],
            ),
            "parent does not name",
        ),
        Spec::err(
            "chain-root-has-parent",
            "the chain starts at a delegated token",
            chain(
                vec![link(
                    "bob",
                    "carol",
                    "tool:fs",
                    &[("parent_hex", s("11".repeat(32)))],
                )],
                &[],
                vec![read()],
            ),
            "parent is missing",
        ),
        Spec::err(
            "chain-too-deep",
            "four delegations: one more than the default limit",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs", &[]),
                    link("carol", "dave", "tool:fs", &[]),
                    link("dave", "erin", "tool:fs", &[]),
                    link("erin", "mallory", "tool:fs", &[]),
                ],
                &[],
                vec![read()],
            ),
            "deeper than 3",
        ),
        Spec::err(
            "chain-too-deep-for-verifier",
            "two delegations for a verifier allowing one",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs", &[]),
                    link("carol", "dave", "tool:fs", &[]),
                ],
                &[("max_depth", secs(1))],
                vec![read()],
            ),
            "deeper than 1",
        ),
        Spec::err(
            "chain-loosened-paths",
            "the child widens the root's paths",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[paths(&["repo/src/**"])]),
                    link("bob", "carol", "tool:fs", &[paths(&["repo/**"])]),
                ],
                &[],
                vec![path("repo/src/lib.rs")],
            ),
            "looser",
        ),
        Spec::err(
            "chain-loosened-max-arg-bytes",
            "the child raises max_arg_bytes",
            chain(
                vec![
                    link(
                        "alice",
                        "bob",
                        "tool:fs",
                        &[("constraints", object([("max_arg_bytes", secs(1024))]))],
                    ),
                    link(
                        "bob",
                        "carol",
                        "tool:fs",
                        &[("constraints", object([("max_arg_bytes", secs(4096))]))],
                    ),
                ],
                &[],
                vec![read()],
            ),
            "looser",
        ),
        Spec::err(
            "chain-loosened-grandparent",
            "the grandchild's paths are within its parent's (which sets none) but not the root's",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[paths(&["repo/src/**"])]),
                    link("bob", "carol", "tool:fs", &[]),
                    link("carol", "dave", "tool:fs", &[paths(&["repo/**"])]),
                ],
                &[],
                vec![path("repo/src/lib.rs")],
            ),
            "looser",
        ),
        Spec::err(
            "chain-tampered-link",
            "one bit of the child's signature flipped",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link(
                        "bob",
                        "carol",
                        "tool:fs",
                        &[(
                            "tamper",
                            object([(
                                "flip_byte",
                                object([("field", s("sig")), ("index", secs(0))]),
                            )]),
                        )],
                    ),
                ],
                &[],
                vec![read()],
            ),
            "signature",
        ),
        Spec::err(
            "chain-forged-signer",
            "mallory signs a link that claims bob as its issuer",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs", &[("signer", s("mallory"))]),
                ],
                &[],
                vec![read()],
            ),
            "signature",
        ),
        Spec::err(
            "chain-expired-link",
            "the middle link expired a second before now",
            chain(
                vec![
                    link("alice", "bob", "tool:fs", &[]),
                    link("bob", "carol", "tool:fs", &[("exp", secs(NOW - 1))]),
                    link("carol", "dave", "tool:fs", &[("exp", secs(NOW - 1))]),
                ],
                &[],
                vec![read()],
            ),
            "expired",
        ),
    ]
}

/// Signs `inputs.links` in order, as a receiver decodes them.
pub(super) fn build_chain(inputs: &Value) -> Result<Vec<CapabilityToken>, String> {
    let ids = field(inputs, "identities")?;
    let mut chain: Vec<CapabilityToken> = Vec::new();
    for link in array_field(inputs, "links")? {
        let iss_name = str_field(link, "iss")?;
        let signer = match link.get("signer") {
            Some(_) => str_field(link, "signer")?,
            None => iss_name,
        };
        let iss = did(&key(ids, iss_name)?.verifying_key());
        let sub = did(&key(ids, str_field(link, "sub")?)?.verifying_key());
        let mut f = fields(link, &iss, &sub)?;
        if let Some(prev) = chain.last() {
            f = f.with_parent(prev);
        }
        if link.get("parent_hex").is_some() {
            f.parent = Some(hex_array::<32>(link, "parent_hex")?);
        }
        let token = CapabilityToken::issue(&key(ids, signer)?, &f).map_err(|e| e.to_string())?;
        let mut shown = to_value(&token.to_json())?;
        apply_tamper(&mut shown, link)?;
        let received =
            CapabilityToken::from_json(&shown.to_canonical_vec()).map_err(|e| e.to_string())?;
        if link.get("tamper").is_none() && received != token {
            return Err("a link does not decode to itself".into());
        }
        chain.push(received);
    }
    Ok(chain)
}

/// The verifier `inputs` asks for.
pub(super) fn verifier(inputs: &Value) -> Result<Verifier, String> {
    Ok(match inputs.get("max_depth") {
        Some(_) => Verifier::default().with_max_depth(
            usize::try_from(u64_field(inputs, "max_depth")?).map_err(|e| e.to_string())?,
        ),
        None => Verifier::default(),
    })
}

/// The chain as presented: an array of the links' JSON.
pub(super) fn shown(chain: &[CapabilityToken]) -> Result<Value, String> {
    chain
        .iter()
        .map(|t| to_value(&t.to_json()))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// The links' capability hashes.
pub(super) fn hashes(chain: &[CapabilityToken]) -> Value {
    Value::Array(chain.iter().map(|t| s(t.capability_hash_hex())).collect())
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let chain = build_chain(inputs)?;
    let object_value = shown(&chain)?;
    let verifier = verifier(inputs)?;
    let now = time(inputs, "now")?;
    let revoked = RevocationSet::default();
    if let Err(d) = verifier.verify(&chain, None, now, &revoked) {
        return Ok(denied(Some(object_value), &d));
    }
    let tampered = array_field(inputs, "links")?
        .iter()
        .any(|l| l.get("tamper").is_some() || l.get("signer").is_some());
    if tampered {
        return Err("a tampered chain was accepted".into());
    }
    Ok(Derived::Ok {
        object: object_value,
        expected: object([
            ("capability_hashes", hashes(&chain)),
            (
                "decisions",
                decisions(&verifier, &chain, None, now, &revoked, inputs)?,
            ),
        ]),
    })
}
