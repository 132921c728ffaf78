#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Scope grammar, matching, coverage and constraints.

use talos_acl::scope::{
    CompiledScope, ConstraintViolation, Constraints, Request, ScopeDenial, ScopeError,
};
use talos_crypto::json::{self, Map};

fn map(text: &str) -> Map {
    json::parse(text.as_bytes())
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn scope(s: &str) -> CompiledScope {
    CompiledScope::parse(s, None).unwrap()
}

#[test]
fn prefix_coverage_and_wildcards() {
    let s = scope("tool:fs");
    assert!(s.matches(&Request::new("fs")));
    assert!(s.matches(&Request::new("fs").with_method("read")));
    assert!(s.matches(&Request::new("fs").with_method("read").with_resource("x/y")));
    assert_eq!(s.check(&Request::new("git")), Err(ScopeDenial::UnknownTool));

    let s = scope("tool:fs/method:read");
    assert!(s.matches(&Request::new("fs").with_method("read")));
    assert_eq!(
        s.check(&Request::new("fs").with_method("write")),
        Err(ScopeDenial::ScopeMismatch)
    );
    assert_eq!(
        s.check(&Request::new("fs")),
        Err(ScopeDenial::ScopeMismatch)
    );

    let s = scope("tool:*/method:read");
    assert!(s.matches(&Request::new("anything").with_method("read")));
    assert!(!s.matches(&Request::new("anything").with_method("write")));

    let s = scope("tool:fs/method:*");
    assert!(s.matches(&Request::new("fs").with_method("x")));
    assert!(!s.matches(&Request::new("fs")));
}

#[test]
fn resource_patterns_are_globs() {
    let s = scope("tool:git/resource:repo/src/**");
    assert!(s.matches(&Request::new("git").with_resource("repo/src/a/b.rs")));
    assert!(!s.matches(&Request::new("git").with_resource("repo/README.md")));
    assert!(!s.matches(&Request::new("git")));
    let s = scope("tool:git/method:read/resource:*.md");
    assert!(
        s.matches(
            &Request::new("git")
                .with_method("read")
                .with_resource("README.md")
        )
    );
    assert!(
        !s.matches(
            &Request::new("git")
                .with_method("read")
                .with_resource("d/README.md")
        )
    );
    let s = scope("tool:git/resource:*");
    assert!(s.matches(&Request::new("git").with_resource("a/b/c")));
}

#[test]
fn several_items() {
    let s = scope("tool:fs/method:read tool:git tool:web/method:get");
    assert_eq!(s.len(), 3);
    assert!(s.matches(&Request::new("git").with_method("push")));
    assert!(s.matches(&Request::new("web").with_method("get")));
    assert_eq!(
        s.check(&Request::new("web").with_method("post")),
        Err(ScopeDenial::ScopeMismatch)
    );
    assert_eq!(
        s.check(&Request::new("shell")),
        Err(ScopeDenial::UnknownTool)
    );
}

#[test]
fn empty_tool_or_method_is_a_mismatch() {
    let s = scope("tool:*");
    assert_eq!(s.check(&Request::new("")), Err(ScopeDenial::ScopeMismatch));
    assert_eq!(
        s.check(&Request::new("x").with_method("")),
        Err(ScopeDenial::ScopeMismatch)
    );
}

#[test]
fn ts_form() {
    let c = map(r#"{"tool":"weather","method":"get"}"#);
    let s = CompiledScope::parse("tools/call", Some(&c)).unwrap();
    assert!(s.matches(&Request::new("weather").with_method("get")));
    assert!(!s.matches(&Request::new("weather").with_method("set")));
    assert!(!s.matches(&Request::new("news").with_method("get")));
    let c = map(r#"{"tool":"weather"}"#);
    let s = CompiledScope::parse("tools/call", Some(&c)).unwrap();
    assert!(s.matches(&Request::new("weather").with_method("anything")));
    assert!(matches!(
        CompiledScope::parse("tools/call", None),
        Err(ScopeError::BadItem { .. })
    ));
    let c = map(r#"{"tool":1}"#);
    assert!(CompiledScope::parse("tools/call", Some(&c)).is_err());
}

#[test]
fn grammar_errors() {
    for bad in [
        "",
        " tool:a",
        "tool:a ",
        "tool:a  tool:b",
        "tools",
        "tool:",
        "tool:a/method:",
        "tool:a/verb:x",
        "tool:a/resource:",
        "tool:a/resource:x**y",
        "tool:a\u{0}b",
        "method:read",
        "tool:a/method:b/c",
        "tools/list",
    ] {
        assert!(CompiledScope::parse(bad, None).is_err(), "{bad:?} parsed");
    }
    assert_eq!(
        CompiledScope::parse("tool:a  tool:b", None),
        Err(ScopeError::EmptyItem)
    );
    let long = format!("tool:{}", "a".repeat(10_000));
    let s = CompiledScope::parse(&long, None).unwrap();
    assert!(!s.matches(&Request::new("a")));
    let long_res = format!("tool:a/resource:{}", "a".repeat(10_000));
    assert!(CompiledScope::parse(&long_res, None).is_err()); // glob too long, not a crash
}

#[test]
fn coverage() {
    let cases = [
        ("tool:fs", "tool:fs/method:read", true),
        ("tool:fs/method:read", "tool:fs", false),
        ("tool:*", "tool:fs/method:x", true),
        ("tool:fs", "tool:*", false),
        ("tool:fs/method:*", "tool:fs/method:read", true),
        ("tool:fs/method:*", "tool:fs", false),
        ("tool:fs/method:read", "tool:fs/method:*", false),
        (
            "tool:git/resource:repo/**",
            "tool:git/resource:repo/src/*.rs",
            true,
        ),
        (
            "tool:git/resource:repo/src/*.rs",
            "tool:git/resource:repo/**",
            false,
        ),
        ("tool:git/resource:repo/**", "tool:git", false),
        ("tool:git/resource:*", "tool:git/resource:repo/**", true),
        ("tool:git/resource:repo/**", "tool:git/resource:*", false),
        ("tool:git/resource:**", "tool:git/resource:*", true),
        ("tool:a tool:b", "tool:b/method:x tool:a", true),
        ("tool:a", "tool:a tool:b", false),
    ];
    for (parent, child, want) in cases {
        assert_eq!(
            scope(parent).covers(&scope(child)),
            want,
            "{parent} covers {child}"
        );
    }
}

#[test]
fn constraints_check() {
    let c = Constraints::parse(Some(&map(
        r#"{"paths":["repo/**","/tmp/*"],"allowed_tools":["read_*"],"max_arg_bytes":100}"#,
    )))
    .unwrap();
    let ok = Request::new("read_file")
        .with_path("repo/a/b")
        .with_arg_bytes(100);
    assert_eq!(c.check(&ok), Ok(()));
    assert_eq!(
        c.check(&ok.with_path("/etc/passwd")),
        Err(ConstraintViolation::Path)
    );
    assert_eq!(
        c.check(&Request::new("read_file")),
        Err(ConstraintViolation::Path)
    );
    assert_eq!(
        c.check(&Request::new("write_file").with_path("repo/a")),
        Err(ConstraintViolation::Tool)
    );
    assert_eq!(
        c.check(&ok.with_arg_bytes(101)),
        Err(ConstraintViolation::ArgBytes)
    );
    assert!(Constraints::parse(None).unwrap().is_empty());
    assert_eq!(
        Constraints::parse(None).unwrap().check(&Request::new("x")),
        Ok(())
    );
}

#[test]
fn constraint_errors() {
    assert_eq!(
        Constraints::parse(Some(&map(r#"{"rate":5}"#))),
        Err(ScopeError::UnknownConstraint("rate".into()))
    );
    for bad in [
        r#"{"paths":"repo/**"}"#,
        r#"{"paths":[1]}"#,
        r#"{"paths":["a**b"]}"#,
        r#"{"allowed_tools":{}}"#,
        r#"{"max_arg_bytes":-1}"#,
        r#"{"max_arg_bytes":"1"}"#,
    ] {
        assert!(
            matches!(
                Constraints::parse(Some(&map(bad))),
                Err(ScopeError::BadConstraint { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn constraints_tighten() {
    let p = Constraints::parse(Some(&map(r#"{"paths":["repo/**"],"max_arg_bytes":100}"#))).unwrap();
    let tighter = Constraints::parse(Some(&map(
        r#"{"paths":["repo/src/**"],"max_arg_bytes":10}"#,
    )))
    .unwrap();
    let wider = Constraints::parse(Some(&map(r#"{"paths":["**"]}"#))).unwrap();
    let bigger = Constraints::parse(Some(&map(r#"{"max_arg_bytes":101}"#))).unwrap();
    let none = Constraints::parse(None).unwrap();
    assert!(tighter.tightens(&p));
    assert!(!wider.tightens(&p));
    assert!(!bigger.tightens(&p));
    assert!(none.tightens(&p)); // inherited: still enforced by the verifier
    assert!(p.tightens(&none));
}

#[test]
fn ts_tool_and_method_are_enforced_as_constraints_too() {
    // Even without a tools/call item, `tool`/`method` constraints are never ignored.
    let c = Constraints::parse(Some(&map(r#"{"tool":"weather","method":"get"}"#))).unwrap();
    assert!(!c.is_empty());
    assert_eq!(c.check(&Request::new("weather").with_method("get")), Ok(()));
    assert_eq!(
        c.check(&Request::new("news").with_method("get")),
        Err(ConstraintViolation::Tool)
    );
    assert_eq!(
        c.check(&Request::new("weather")),
        Err(ConstraintViolation::Method)
    );
    assert_eq!(
        c.check(&Request::new("weather").with_method("set")),
        Err(ConstraintViolation::Method)
    );
    let any = Constraints::parse(Some(&map(r#"{"tool":"*"}"#))).unwrap();
    assert_eq!(any.check(&Request::new("x")), Ok(()));
    assert!(c.tightens(&any));
    assert!(!any.tightens(&c));
    assert!(Constraints::parse(Some(&map(r#"{"tool":""}"#))).is_err());
    assert!(Constraints::parse(Some(&map(r#"{"method":["get"]}"#))).is_err());
}

#[test]
fn authorize_target_ignores_argument_constraints_only() {
    use talos_acl::crypto::json::{self, Value};
    use talos_acl::verify::{Decision, DenyReason};
    let Value::Object(constraints) =
        json::parse(br#"{"paths":["/repo/**"],"max_arg_bytes":10,"allowed_tools":["read_*"]}"#)
            .unwrap()
    else {
        panic!()
    };
    let server = talos_acl::crypto::SigningKey::from_seed(&[1; 32]);
    let iss = talos_acl::did::Did::from(server.verifying_key()).to_string();
    let t = talos_acl::crypto::Timestamp::from_secs(1_767_225_600).unwrap();
    let fields = talos_acl::token::TokenFields::new(
        iss,
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "tool:*",
        t,
        t.saturating_add(core::time::Duration::from_secs(60)),
    )
    .with_constraints(constraints);
    let token = talos_acl::token::CapabilityToken::issue(&server, &fields).unwrap();
    let verified = talos_acl::verify::Verifier::default()
        .verify(
            core::slice::from_ref(&token),
            None,
            t,
            &talos_acl::revocation::RevocationSet::default(),
        )
        .unwrap();
    let policy = verified.policy().unwrap();
    // A call without a path is refused, but the tool may be listed.
    let bare = Request::new("read_file");
    assert_eq!(
        policy.authorize(&bare).deny_reason(),
        Some(DenyReason::ConstraintViolation)
    );
    assert_eq!(policy.authorize_target(&bare), Decision::Allow);
    assert_eq!(
        policy.authorize(&bare.with_path("/repo/a").with_arg_bytes(5)),
        Decision::Allow
    );
    // The tool constraint still applies to listing.
    assert_eq!(
        policy
            .authorize_target(&Request::new("write_file"))
            .deny_reason(),
        Some(DenyReason::ConstraintViolation)
    );
}
