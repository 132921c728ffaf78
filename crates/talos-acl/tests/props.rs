#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Properties: attenuation is sound, tampering fails, revocation of any link denies, and the
//! session cache decides exactly as the full path.

use proptest::prelude::*;
use proptest::sample::select;
use talos_acl::cache::SessionCache;
use talos_acl::revocation::RevocationSet;
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityToken, TokenFields};
use talos_acl::verify::{DenyReason, Verifier};
use talos_crypto::json::{self, Map};
use talos_crypto::{SigningKey, Timestamp};
use talos_did::Did;

const NOW: u64 = 1_700_000_000;

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s).unwrap()
}

fn party(seed: u8) -> (SigningKey, String) {
    let key = SigningKey::from_seed(&[seed; 32]);
    let did = Did::from(key.verifying_key()).to_string();
    (key, did)
}

type Item = (&'static str, &'static str, &'static str);

fn item() -> impl Strategy<Value = Item> {
    (
        select(vec!["a", "b", "*"]),
        select(vec!["", "r", "w", "*"]),
        select(vec!["", "*", "x/**", "x/*", "x/y", "x/*/z", "**", "?/y"]),
    )
}

fn render(items: &[Item]) -> String {
    items
        .iter()
        .map(|(t, m, r)| {
            let mut s = format!("tool:{t}");
            if !m.is_empty() {
                s.push_str("/method:");
                s.push_str(m);
            }
            if !r.is_empty() {
                s.push_str("/resource:");
                s.push_str(r);
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A narrower version of an item (sometimes the same): what a well-behaved delegator writes.
fn narrow((t, m, r): Item, how: u8) -> Item {
    let t = if t == "*" && how & 1 != 0 { "a" } else { t };
    let m = match (m, how & 2 != 0) {
        ("", true) => "r",
        ("*", true) => "w",
        (m, _) => m,
    };
    let r = match (r, how & 4 != 0) {
        ("", true) => "x/y",
        ("*", true) => "x/**",
        ("**", true) => "x/*",
        ("x/**", true) => "x/*/z",
        (r, _) => r,
    };
    (t, m, r)
}

fn scopes() -> impl Strategy<Value = (String, String)> {
    (
        prop::collection::vec(item(), 1..4),
        prop::collection::vec(item(), 1..4),
        prop::collection::vec(any::<u8>(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(parent, random, hows, derived)| {
            let child: Vec<Item> = if derived {
                hows.iter()
                    .enumerate()
                    .map(|(i, how)| narrow(parent[i % parent.len()], *how))
                    .collect()
            } else {
                random
            };
            (render(&parent), render(&child))
        })
}

fn scope() -> impl Strategy<Value = String> {
    prop::collection::vec(item(), 1..4).prop_map(|v| render(&v))
}

fn constraints() -> impl Strategy<Value = Option<String>> {
    (
        select(vec![
            "",
            r#""paths":["x/**"]"#,
            r#""paths":["x/*","p"]"#,
            r#""paths":["**"]"#,
        ]),
        select(vec![
            "",
            r#""allowed_tools":["a"]"#,
            r#""allowed_tools":["*"]"#,
        ]),
        select(vec!["", r#""max_arg_bytes":5"#, r#""max_arg_bytes":50"#]),
    )
        .prop_map(|(p, t, m)| {
            let parts: Vec<&str> = [p, t, m].into_iter().filter(|s| !s.is_empty()).collect();
            (!parts.is_empty()).then(|| format!("{{{}}}", parts.join(",")))
        })
}

#[derive(Clone, Debug)]
struct Req {
    tool: &'static str,
    method: Option<&'static str>,
    resource: Option<&'static str>,
    path: Option<&'static str>,
    arg_bytes: usize,
}

impl Req {
    fn as_request(&self) -> Request<'_> {
        let mut r = Request::new(self.tool).with_arg_bytes(self.arg_bytes);
        r.method = self.method;
        r.resource = self.resource;
        r.path = self.path;
        r
    }
}

fn request() -> impl Strategy<Value = Req> {
    (
        select(vec!["a", "a", "b", "c", ""]),
        select(vec![Some("r"), Some("w"), Some("r"), None, Some("")]),
        select(vec![
            None,
            Some("x/y"),
            Some("x/q/z"),
            Some("x/y/z"),
            Some("q/y"),
            Some("x/"),
        ]),
        select(vec![None, Some("x/y"), Some("p"), Some("x/y/z"), Some("q")]),
        select(vec![0_usize, 3, 5, 6, 10, 50, 51]),
    )
        .prop_map(|(tool, method, resource, path, arg_bytes)| Req {
            tool,
            method,
            resource,
            path,
            arg_bytes,
        })
}

fn issue(
    key: &SigningKey,
    iss: &str,
    sub: &str,
    scope: &str,
    constraints: Option<&str>,
    exp: u64,
    parent: Option<&CapabilityToken>,
) -> CapabilityToken {
    let mut f = TokenFields::new(iss, sub, scope, secs(NOW), secs(exp));
    if let Some(c) = constraints {
        let m: Map = json::parse(c.as_bytes())
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
        f = f.with_constraints(m);
    }
    if let Some(p) = parent {
        f = f.with_parent(p);
    }
    CapabilityToken::issue(key, &f).unwrap()
}

/// A chain of `len` links, each with the given scope and constraints, signed properly.
fn chain(links: &[(String, Option<String>)]) -> Vec<CapabilityToken> {
    let mut out: Vec<CapabilityToken> = Vec::new();
    for (i, (scope, cons)) in links.iter().enumerate() {
        let (key, did) = party(u8::try_from(i).unwrap() + 1);
        let (_, next) = party(u8::try_from(i).unwrap() + 2);
        let exp = NOW + 3600 - u64::try_from(i).unwrap();
        out.push(issue(
            &key,
            &did,
            &next,
            scope,
            cons.as_deref(),
            exp,
            out.last(),
        ));
    }
    out
}

fn verify_at(
    chain: &[CapabilityToken],
    now: u64,
    revoked: &RevocationSet,
) -> Result<talos_acl::VerifiedChain, DenyReason> {
    Verifier::default()
        .verify(chain, None, secs(now), revoked)
        .map_err(|d| d.reason())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn attenuated_child_never_allows_what_its_parent_denies(
        (parent_scope, child_scope) in scopes(), parent_cons in constraints(),
        child_cons in constraints(), inherit in any::<bool>(),
        requests in prop::collection::vec(request(), 1..16),
    ) {
        let child_cons = if inherit { None } else { child_cons };
        let links = vec![(parent_scope, parent_cons), (child_scope, child_cons)];
        let c = chain(&links);
        let revoked = RevocationSet::default();
        let parent = verify_at(&c[..1], NOW + 1, &revoked).unwrap();
        if let Ok(child) = verify_at(&c, NOW + 1, &revoked) {
            for r in &requests {
                if child.authorize(&r.as_request()).is_allow() {
                    prop_assert!(parent.authorize(&r.as_request()).is_allow(), "{:?}", r);
                }
            }
        }
    }

    #[test]
    fn tampering_any_byte_of_any_link_fails(
        len in 1_usize..4, link in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(), flip in 1_u8..=255,
    ) {
        let links = vec![("tool:a".to_owned(), Some(r#"{"max_arg_bytes":5}"#.to_owned())); len];
        let mut c = chain(&links);
        let revoked = RevocationSet::default();
        prop_assert!(verify_at(&c, NOW + 1, &revoked).is_ok());
        let i = link.index(len);
        let mut bytes = c[i].to_json();
        let j = at.index(bytes.len());
        bytes[j] ^= flip;
        match CapabilityToken::from_json(&bytes) {
            Err(_) => {}
            Ok(t) => {
                prop_assert_ne!(&t, &c[i]);
                c[i] = t;
                prop_assert!(verify_at(&c, NOW + 1, &revoked).is_err());
            }
        }
    }

    #[test]
    fn revoking_any_link_denies_the_chain(len in 1_usize..5, link in any::<prop::sample::Index>()) {
        let links = vec![("tool:a".to_owned(), None); len];
        let c = chain(&links);
        let mut revoked = RevocationSet::default();
        revoked.insert_hash(*c[link.index(len)].capability_hash()).unwrap();
        prop_assert_eq!(verify_at(&c, NOW + 1, &revoked).unwrap_err(), DenyReason::Revoked);
    }

    #[test]
    fn cached_decision_equals_full_decision(
        links in prop::collection::vec((scope(), constraints()), 1..3),
        requests in prop::collection::vec((request(), 0_u64..4000, any::<bool>()), 1..10),
    ) {
        let c = chain(&links);
        let mut revoked = RevocationSet::default();
        let Ok(v) = verify_at(&c, NOW, &revoked) else { return Ok(()) };
        let mut cache = SessionCache::new(4);
        let admitted = cache.admit([7; 16], v.clone());
        let hash = *c.last().unwrap().capability_hash();
        let mut dropped = false;
        let mut last_now = NOW;
        for (r, dt, revoke) in &requests {
            // Time only moves forward; a revocation may arrive between requests.
            let now = last_now.max(NOW + dt);
            last_now = now;
            if *revoke && dt % 5 == 0 {
                revoked.insert_hash(*c[usize::try_from(dt % c.len() as u64).unwrap()].capability_hash()).unwrap();
            }
            let full = Verifier::default().authorize(&c, None, &r.as_request(), secs(now), &revoked);
            match cache.authorize_fast([7; 16], &hash, &r.as_request(), secs(now), &revoked) {
                Ok(fast) => {
                    prop_assert!(admitted && !dropped);
                    prop_assert_eq!(fast.deny_reason(), full.deny_reason());
                    if matches!(fast.deny_reason(), Some(DenyReason::Expired | DenyReason::Revoked)) {
                        dropped = true;
                    }
                }
                Err(_) => {
                    // Only when never admitted (unreadable scope) or dropped after a denial
                    // that the full path repeats.
                    prop_assert!(!admitted || dropped);
                    prop_assert!(!full.is_allow());
                }
            }
        }
    }
}
