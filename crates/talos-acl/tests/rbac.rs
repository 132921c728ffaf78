//! RBAC: scope matching and specificity, deny by default, tie-breaking, bounds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use talos_acl::rbac::{
    Binding, Identity, MAX_SCOPE_ATTRIBUTES, PrincipalStatus, RbacDecision, RbacDenyReason,
    RbacError, Scope, Specificity, authorize,
};

fn repo(name: &str) -> Scope {
    Scope::new("repo", [("repo", name)]).unwrap()
}

#[test]
fn specificity_cases() {
    let req = repo("talosprotocol/talos");
    assert_eq!(
        repo("talosprotocol/talos").match_required(&req),
        Some(Specificity::Exact)
    );
    assert_eq!(repo("*").match_required(&req), Some(Specificity::Wildcard));
    assert_eq!(repo("talosprotocol/other").match_required(&req), None);
    let team = Scope::new("team", [("team", "platform")]).unwrap();
    assert_eq!(team.match_required(&req), None);
    assert_eq!(
        Scope::global().match_required(&req),
        Some(Specificity::Global)
    );
    assert_eq!(Specificity::Exact.as_u8(), 2);
    assert_eq!(Specificity::Wildcard.as_u8(), 1);
    assert_eq!(Specificity::Global.as_u8(), 0);
}

#[test]
fn missing_and_extra_attributes() {
    let req = Scope::new("repo", [("repo", "x"), ("branch", "main")]).unwrap();
    // The binding lacks a required attribute: no match.
    assert_eq!(repo("x").match_required(&req), None);
    // The binding names an attribute the requirement does not: narrower, no match...
    let narrow = Scope::new("repo", [("repo", "x"), ("branch", "main")]).unwrap();
    assert_eq!(narrow.match_required(&repo("x")), None);
    // ...unless it is a wildcard.
    let wide = Scope::new("repo", [("repo", "x"), ("branch", "*")]).unwrap();
    assert_eq!(wide.match_required(&repo("x")), Some(Specificity::Wildcard));
    assert_eq!(narrow.match_required(&req), Some(Specificity::Exact));
    // A required value "*" is literal: only a binding "*" (wildcard) matches it.
    assert_eq!(repo("x").match_required(&repo("*")), None);
}

#[test]
fn deny_by_default() {
    let req = repo("r");
    assert_eq!(
        authorize(None, "llm.invoke", &req),
        RbacDecision::Deny(RbacDenyReason::NoIdentity)
    );
    let empty = Identity::new("p1", vec![]).unwrap();
    assert_eq!(
        authorize(Some(&empty), "admin.write", &req),
        RbacDecision::Deny(RbacDenyReason::NoMatchingBinding)
    );
    let all = Identity::new("p1", vec![Binding::new(&["**"], Scope::global()).unwrap()]).unwrap();
    assert!(authorize(Some(&all), "admin.write", &req).is_allow());
    let revoked = all.clone().with_status(PrincipalStatus::Revoked);
    assert_eq!(
        authorize(Some(&revoked), "llm.invoke", &req),
        RbacDecision::Deny(RbacDenyReason::Revoked)
    );
    let suspended = all.with_status(PrincipalStatus::Suspended);
    assert!(!authorize(Some(&suspended), "llm.invoke", &req).is_allow());
    // A binding with no actions grants nothing.
    let none = Identity::new("p1", vec![Binding::new(&[], Scope::global()).unwrap()]).unwrap();
    assert!(!authorize(Some(&none), "x", &req).is_allow());
    assert_eq!(RbacDenyReason::Revoked.code().as_str(), "TALOS_DENIED");
}

#[test]
fn most_specific_binding_wins() {
    let id = Identity::new(
        "p",
        vec![
            Binding::new(&["repo.*"], Scope::global()).unwrap(),
            Binding::new(&["repo.read"], repo("*")).unwrap(),
            Binding::new(&["repo.write"], repo("t")).unwrap(),
            Binding::new(&["repo.read"], repo("*")).unwrap(),
        ],
    )
    .unwrap();
    let req = repo("t");
    assert_eq!(
        authorize(Some(&id), "repo.read", &req),
        RbacDecision::Allow {
            binding: 1,
            specificity: Specificity::Wildcard
        }
    );
    assert_eq!(
        authorize(Some(&id), "repo.write", &req),
        RbacDecision::Allow {
            binding: 2,
            specificity: Specificity::Exact
        }
    );
    assert_eq!(
        authorize(Some(&id), "repo.delete", &repo("u")),
        RbacDecision::Allow {
            binding: 0,
            specificity: Specificity::Global
        }
    );
    assert!(!authorize(Some(&id), "admin.write", &req).is_allow());
}

#[test]
fn construction_errors() {
    assert!(matches!(
        Scope::new("", [("a", "b")]),
        Err(RbacError::Empty { .. })
    ));
    assert!(matches!(
        Scope::new("repo", [("a", "1"), ("a", "2")]),
        Err(RbacError::DuplicateAttribute { .. })
    ));
    assert_eq!(
        Scope::new("global", [("a", "b")]),
        Err(RbacError::GlobalWithAttributes)
    );
    let many: Vec<(String, String)> = (0..=MAX_SCOPE_ATTRIBUTES)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    assert!(matches!(
        Scope::new("t", many),
        Err(RbacError::TooMany { .. })
    ));
    assert!(matches!(
        Binding::new(&["a**"], Scope::global()),
        Err(RbacError::BadAction { .. })
    ));
    assert!(matches!(
        Identity::new("", vec![]),
        Err(RbacError::Empty { .. })
    ));
    let s = Scope::new("repo", [("b", "2"), ("a", "1")]).unwrap();
    assert_eq!(s.to_string(), "repo {a: \"1\", b: \"2\"}");
    assert_eq!(s.attribute("b"), Some("2"));
    assert_eq!(s.attribute("c"), None);
}
