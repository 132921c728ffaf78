//! Per-peer policy: the TOML format and its errors (each naming a line), and the evaluation
//! order (unknown peer, disabled, deny wins, allow, default).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use talos_acl::policy::{
    MAX_PATTERNS, MAX_POLICY_BYTES, PatternList, Policy, PolicyErrorKind, PolicyReason,
    PolicyRequest,
};
use talos_acl::rate::RateLimit;
use talos_crypto::SigningKey;
use talos_did::Did;

fn did(seed: u8) -> String {
    Did::from(SigningKey::from_seed(&[seed; 32]).verifying_key()).to_string()
}

fn tool(tool: &str) -> PolicyRequest<'_> {
    PolicyRequest::ToolCall { tool }
}

fn uri(uri: &str) -> PolicyRequest<'_> {
    PolicyRequest::ResourceRead { uri }
}

fn sample() -> (Policy, String, String) {
    let (a, b) = (did(1), did(2));
    let text = format!(
        r#"
default_allow = false

[peers."{a}"]
enabled = true
allow_tools = ["read_*", "list_directory"]
deny_tools = ["read_secret*"]
allow_resources = ["file:///repo/**"]
deny_resources = ["file:///repo/.git/**"]
rate = {{ requests_per_second = 10, burst = 20, bytes_per_day = 100000000 }}

[peers.'{b}']
enabled = false
allow_tools = ["**"]
"#
    );
    (Policy::from_toml(&text).unwrap(), a, b)
}

#[test]
fn evaluation_order() {
    let (p, a, b) = sample();
    assert_eq!(p.peer_count(), 2);
    assert!(!p.default_allow());

    let d = p.evaluate(&a, &tool("read_file"));
    assert!(d.is_allowed());
    assert!(matches!(
        d.reason(),
        PolicyReason::Pattern { list: PatternList::AllowTools, pattern } if pattern.as_str() == "read_*"
    ));
    assert!(d.code().is_none());
    // Deny wins over a matching allow.
    let d = p.evaluate(&a, &tool("read_secrets"));
    assert!(!d.is_allowed());
    assert_eq!(
        d.to_string(),
        "denied: matches deny_tools pattern `read_secret*`"
    );
    assert_eq!(d.code().unwrap().as_str(), "TALOS_DENIED");
    assert!(p.evaluate(&a, &tool("list_directory")).is_allowed());
    // No pattern: default (deny).
    let d = p.evaluate(&a, &tool("write_file"));
    assert!(!d.is_allowed());
    assert_eq!(d.reason(), PolicyReason::NoPatternMatched);

    assert!(p.evaluate(&a, &uri("file:///repo/src/lib.rs")).is_allowed());
    assert!(
        !p.evaluate(&a, &uri("file:///repo/.git/config"))
            .is_allowed()
    );
    assert!(!p.evaluate(&a, &uri("file:///etc/passwd")).is_allowed());
    // Tool patterns do not apply to resources and vice versa.
    assert!(!p.evaluate(&a, &uri("read_file")).is_allowed());

    let d = p.evaluate(
        &a,
        &PolicyRequest::Other {
            method: "prompts/list",
        },
    );
    assert_eq!(
        (d.is_allowed(), d.reason()),
        (false, PolicyReason::OtherMethod)
    );

    // Disabled peer: denied even though `**` would allow.
    let d = p.evaluate(&b, &tool("read_file"));
    assert_eq!(
        (d.is_allowed(), d.reason()),
        (false, PolicyReason::PeerDisabled)
    );

    let d = p.evaluate(&did(3), &tool("read_file"));
    assert_eq!(
        (d.is_allowed(), d.reason()),
        (false, PolicyReason::UnknownPeer)
    );

    assert_eq!(
        p.rate_limit(&a),
        Some(RateLimit {
            requests_per_second: 10,
            burst: 20,
            bytes_per_day: Some(100_000_000)
        })
    );
    assert_eq!(p.rate_limit(&b), None);
}

#[test]
fn requests_from_mcp_methods() {
    assert_eq!(
        PolicyRequest::from_mcp("tools/call", Some("ls")),
        tool("ls")
    );
    assert_eq!(PolicyRequest::from_mcp("tools/call", None), tool(""));
    assert_eq!(
        PolicyRequest::from_mcp("resources/read", Some("file:///a")),
        uri("file:///a")
    );
    assert_eq!(PolicyRequest::from_mcp("resources/list", None), uri(""));
    assert_eq!(
        PolicyRequest::from_mcp("prompts/get", Some("x")),
        PolicyRequest::Other {
            method: "prompts/get"
        }
    );
    let (p, a, _) = sample();
    assert!(
        !p.evaluate(&a, &PolicyRequest::from_mcp("tools/call", None))
            .is_allowed()
    );
}

#[test]
fn default_allow_applies_to_unknown_peers_and_other_methods() {
    let a = did(1);
    let p = Policy::from_toml(&format!(
        "default_allow = true\n[peers.\"{a}\"]\ndeny_tools = [\"rm\"]\nrate = {{ burst = 3 }}\n"
    ))
    .unwrap();
    assert!(p.evaluate(&did(9), &tool("rm")).is_allowed());
    assert!(!p.evaluate(&a, &tool("rm")).is_allowed());
    assert!(p.evaluate(&a, &tool("ls")).is_allowed());
    assert!(
        p.evaluate(&a, &PolicyRequest::Other { method: "ping" })
            .is_allowed()
    );
    // Missing rate members take the defaults.
    assert_eq!(
        p.rate_limit(&a),
        Some(RateLimit {
            burst: 3,
            ..RateLimit::DEFAULT
        })
    );
    // An empty file is a valid, deny-everything policy.
    let empty = Policy::from_toml("").unwrap();
    assert!(!empty.evaluate(&a, &tool("x")).is_allowed());
}

/// `(line, column)` of the error for `text`.
fn err_at(text: &str) -> (PolicyErrorKind, Option<usize>, Option<usize>) {
    let e = Policy::from_toml(text).unwrap_err();
    assert!(e.to_string().starts_with("policy line"), "{e}");
    (e.kind().clone(), e.line(), e.column())
}

#[test]
fn errors_name_the_line() {
    let a = did(1);
    // Unknown top-level key.
    let (k, line, _) = err_at("default_allow = false\nbogus = 1\n");
    assert!(matches!(k, PolicyErrorKind::Toml(_)));
    assert_eq!(line, Some(2));
    // Unknown key in a peer entry.
    let (k, line, _) = err_at(&format!("\n[peers.\"{a}\"]\nallow_tool = [\"x\"]\n"));
    assert!(
        matches!(k, PolicyErrorKind::Toml(ref m) if m.contains("allow_tool")),
        "{k:?}"
    );
    assert_eq!(line, Some(3));
    // Wrong type.
    let (_, line, _) = err_at(&format!("[peers.\"{a}\"]\n\nenabled = \"yes\"\n"));
    assert_eq!(line, Some(3));
    // Bad TOML syntax.
    let (_, line, _) = err_at("default_allow = \n");
    assert_eq!(line, Some(1));
    // Bad glob, with the column of the string.
    let (k, line, col) = err_at(&format!(
        "[peers.\"{a}\"]\ndeny_tools = [\"ok\", \"a**b\"]\n"
    ));
    assert!(matches!(
        k,
        PolicyErrorKind::BadGlob {
            list: PatternList::DenyTools,
            ..
        }
    ));
    assert_eq!((line, col), (Some(2), Some(21)));
    // Bad DID as a peer key.
    let (k, line, _) = err_at("default_allow = true\n[peers.\"did:web:example.com\"]\n");
    assert!(matches!(k, PolicyErrorKind::BadPeer { .. }));
    assert_eq!(line, Some(2));
    let (k, _, _) = err_at("[peers.\"alice\"]\n");
    assert!(matches!(k, PolicyErrorKind::BadPeer { .. }));
    // Duplicate peer: the same key twice (TOML), and the same signing key as did:peer:0.
    let (_, line, _) = err_at(&format!("[peers.\"{a}\"]\n[peers.\"{a}\"]\n"));
    assert_eq!(line, Some(2));
    let peer0 = a.replacen("did:key:", "did:peer:0", 1);
    let (k, line, _) = err_at(&format!("[peers.\"{a}\"]\n\n[peers.\"{peer0}\"]\n"));
    assert!(matches!(k, PolicyErrorKind::DuplicatePeer { .. }), "{k:?}");
    assert_eq!(line, Some(3));
    // Rate of zero, negative, too large.
    let (k, line, _) = err_at(&format!("[peers.\"{a}\"]\nrate = {{ burst = 0 }}\n"));
    assert_eq!(k, PolicyErrorKind::BadRate { field: "burst" });
    assert_eq!(line, Some(2));
    let (_, line, _) = err_at(&format!(
        "[peers.\"{a}\"]\n\nrate = {{ requests_per_second = -1 }}\n"
    ));
    assert_eq!(line, Some(3));
    let (_, line, _) = err_at(&format!(
        "[peers.\"{a}\"]\nrate = {{ burst = 1, extra = 2 }}\n"
    ));
    assert_eq!(line, Some(2));
    // Too many patterns.
    let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("\"t{i}\"")).collect();
    let (k, line, _) = err_at(&format!(
        "[peers.\"{a}\"]\n\nallow_tools = [{}]\n",
        many.join(",")
    ));
    assert!(matches!(k, PolicyErrorKind::TooManyPatterns { .. }));
    assert_eq!(line, Some(3));
}

#[test]
fn size_bound() {
    let big = format!("# {}\n", "x".repeat(MAX_POLICY_BYTES));
    let e = Policy::from_toml(&big).unwrap_err();
    assert!(matches!(e.kind(), PolicyErrorKind::TooLarge { .. }));
    assert_eq!(e.line(), None);
}

#[test]
fn error_columns_count_characters() {
    let a = did(1);
    // A multi-byte character before the error on the same line.
    let (_, line, col) = err_at(&format!("[peers.\"{a}\"]\ndeny_tools = [\"é\", \"a**\"]\n"));
    assert_eq!((line, col), (Some(2), Some(20)));
}

proptest! {
    /// Deny wins: a tool matching any deny pattern is never allowed, whatever the allows.
    #[test]
    fn deny_always_wins(
        allow in prop::collection::vec("[ab*?]{1,4}", 0..4),
        deny in prop::collection::vec("[ab*?]{1,4}", 0..4),
        name in "[ab]{0,5}",
        default_allow in any::<bool>(),
    ) {
        let a = did(1);
        let list = |v: &[String]| v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(",");
        let text = format!(
            "default_allow = {default_allow}\n[peers.\"{a}\"]\nallow_tools = [{}]\ndeny_tools = [{}]\n",
            list(&allow), list(&deny)
        );
        let Ok(p) = Policy::from_toml(&text) else { return Ok(()); };
        let g = |s: &String| talos_acl::Glob::new(s).unwrap().matches(&name);
        let d = p.evaluate(&a, &tool(&name));
        let expected = if deny.iter().any(g) { false } else if allow.iter().any(g) { true } else { default_allow };
        prop_assert_eq!(d.is_allowed(), expected);
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn parser_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = Policy::from_toml(&text) {
            prop_assert!(e.line().is_some());
        }
    }
}

/// Timing (run with `--release -- --ignored --nocapture`): evaluation among 1000 peers.
#[test]
#[ignore = "timing; run in release"]
fn timing() {
    use core::fmt::Write as _;
    let mut text = String::new();
    let peers: Vec<String> = (0..=255u8).map(did).collect();
    for p in &peers {
        writeln!(
            text,
            "[peers.\"{p}\"]\nallow_tools = [\"read_*\", \"list_directory\"]\ndeny_tools = [\"write_*\"]\n\
             allow_resources = [\"file:///repo/**\"]\ndeny_resources = [\"file:///repo/.git/**\"]"
        )
        .unwrap();
    }
    let start = std::time::Instant::now();
    let policy = Policy::from_toml(&text).unwrap();
    println!(
        "parse {} peers ({} bytes): {:?}",
        peers.len(),
        text.len(),
        start.elapsed()
    );
    let n = 1_000_000u32;
    let start = std::time::Instant::now();
    for i in 0..n {
        let p = &peers[i as usize % peers.len()];
        let d = policy.evaluate(p, &uri("file:///repo/src/lib.rs"));
        assert!(core::hint::black_box(d).is_allowed());
    }
    println!(
        "evaluate (resource, {} peers): {:?}/call",
        peers.len(),
        start.elapsed() / n
    );
}
