#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Listing and calling never disagree: for random capabilities, random per-peer policies and
//! random tool, resource and prompt sets, an item appears in the filtered `tools/list`,
//! `resources/list` or `prompts/list` result that reaches the client exactly when a call of
//! it (`tools/call` with empty arguments, `resources/read`, `prompts/get`) is forwarded to the
//! MCP server rather than denied.

mod common;

use std::collections::BTreeSet;

use common::{Pair, at, client_key, did, server_key};
use proptest::prelude::*;
use talos_mcp::acl::policy::Policy;
use talos_mcp::acl::token::{CapabilityToken, TokenFields};
use talos_mcp::crypto::json::{Map, Value};
use talos_mcp::jsonrpc::DENIED;
use talos_mcp::{ClientConfig, ServerConfig};

/// Tool names the server may offer (`read_*` is a literal name here; `@` names are never
/// MCP tools but a server may send anything).
const TOOLS: &[&str] = &[
    "read_file",
    "read_text_file",
    "write_file",
    "list_directory",
    "echo",
    "add",
    "delete_all",
    "read_*",
    "get-sum",
    "a.b",
    "@resources",
];

const RESOURCES: &[&str] = &[
    "file:///repo/README.md",
    "file:///repo/src/lib.rs",
    "file:///repo/",
    "file:///etc/passwd",
    "mem://notes",
    "mem://a/b",
    "demo://resource/static/document/architecture.md",
];

const PROMPTS: &[&str] = &["greet", "summarize", "code_review", "*", "simple-prompt"];

/// Capability scope items: tools by name (and the literal `read_*`), every tool, resources
/// by glob, prompts by name, every prompt.
const SCOPE_ITEMS: &[&str] = &[
    "tool:read_file",
    "tool:write_file",
    "tool:echo",
    "tool:read_*",
    "tool:list_directory",
    "tool:add",
    "tool:get-sum",
    "tool:*",
    "tool:@resources/resource:file:///repo/**",
    "tool:@resources/resource:file:///repo/*.md",
    "tool:@resources/resource:mem://*",
    "tool:@resources/resource:demo://**",
    "tool:@resources",
    "tool:@prompts/method:greet",
    "tool:@prompts/method:code_review",
    "tool:@prompts/method:*",
    "tool:@prompts",
];

/// Globs for the `allowed_tools` constraint and the policy's tool and resource lists.
const TOOL_GLOBS: &[&str] = &["read_*", "*_file", "e?ho", "*", "delete_*", "@*", "a.b"];
const RESOURCE_GLOBS: &[&str] = &[
    "file:///repo/**",
    "**/*.md",
    "file:///etc/**",
    "mem://*",
    "**",
    "demo://**",
];

/// A capability for the client with `items` as its scope and, if given, an `allowed_tools`
/// constraint.
fn token(items: &[&str], allowed_tools: Option<&[&str]>) -> CapabilityToken {
    let server = server_key();
    let mut fields = TokenFields::new(
        did(&server),
        did(&client_key()),
        items.join(" "),
        at(0),
        at(3600),
    );
    if let Some(globs) = allowed_tools {
        let mut constraints = Map::new();
        constraints.insert(
            "allowed_tools".into(),
            Value::Array(globs.iter().map(|g| Value::from(*g)).collect()),
        );
        fields = fields.with_constraints(constraints);
    }
    CapabilityToken::issue(&server, &fields).unwrap()
}

fn toml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A per-peer policy for the client; rate limits high enough never to decide a case.
fn peer_policy(
    default_allow: bool,
    allow_tools: &[&str],
    deny_tools: &[&str],
    allow_resources: &[&str],
    deny_resources: &[&str],
) -> Policy {
    let toml = format!(
        "default_allow = {default_allow}\n[peers.\"{}\"]\nallow_tools = {}\ndeny_tools = {}\n\
         allow_resources = {}\ndeny_resources = {}\n\
         rate = {{ requests_per_second = 100000, burst = 100000, bytes_per_day = 0 }}\n",
        did(&client_key()),
        toml_list(allow_tools),
        toml_list(deny_tools),
        toml_list(allow_resources),
        toml_list(deny_resources),
    );
    Policy::from_toml(&toml).unwrap()
}

/// The policy of the capability-only property: everything allowed.
fn open_policy() -> Policy {
    peer_policy(true, &["*"], &[], &["**"], &[])
}

fn pair(token: CapabilityToken, policy: Policy) -> Pair {
    Pair::with_configs(
        ClientConfig::new([9; 16], client_key(), server_key().verifying_key(), token),
        ServerConfig::new(server_key(), client_key().verifying_key()),
        policy,
    )
}

fn line(value: &Map) -> Vec<u8> {
    Value::Object(value.clone()).to_canonical_vec()
}

fn message(id: u64, method: &str, params: Option<Map>) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("jsonrpc".into(), Value::from("2.0"));
    m.insert(
        "id".into(),
        Value::Number(u32::try_from(id).unwrap().into()),
    );
    m.insert("method".into(), Value::from(method));
    if let Some(params) = params {
        m.insert("params".into(), Value::Object(params));
    }
    line(&m)
}

fn result(id: u64, result: Map) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("jsonrpc".into(), Value::from("2.0"));
    m.insert(
        "id".into(),
        Value::Number(u32::try_from(id).unwrap().into()),
    );
    m.insert("result".into(), Value::Object(result));
    line(&m)
}

/// What one kind of list and call looks like.
struct Kind {
    list: &'static str,
    array: &'static str,
    /// The member naming an item in the list, and the call's parameter naming it.
    item: &'static str,
    call: &'static str,
}

const KINDS: [Kind; 3] = [
    Kind {
        list: "tools/list",
        array: "tools",
        item: "name",
        call: "tools/call",
    },
    Kind {
        list: "resources/list",
        array: "resources",
        item: "uri",
        call: "resources/read",
    },
    Kind {
        list: "prompts/list",
        array: "prompts",
        item: "name",
        call: "prompts/get",
    },
];

/// Lists `offered` through the tunnel and returns the names that reached the client, in order.
fn list(pair: &mut Pair, id: u64, kind: &Kind, offered: &[&str]) -> Vec<String> {
    let before = (pair.at_server.len(), pair.at_client.len());
    pair.from_client(&message(id, kind.list, None)).unwrap();
    assert_eq!(
        pair.at_server.len(),
        before.0 + 1,
        "{} is forwarded",
        kind.list
    );
    let items = offered
        .iter()
        .map(|name| {
            let mut item = Map::new();
            item.insert(kind.item.into(), Value::from(*name));
            item.insert("description".into(), Value::from("offered"));
            Value::Object(item)
        })
        .collect();
    let mut body = Map::new();
    body.insert(kind.array.into(), Value::Array(items));
    body.insert("cacheScope".into(), Value::from("public"));
    pair.from_server(&result(id, body)).unwrap();
    assert_eq!(
        pair.at_client.len(),
        before.1 + 1,
        "the list reaches the client"
    );
    let answer = common::parse(pair.at_client.last().unwrap());
    let result = answer.get("result").unwrap();
    assert_eq!(
        result.get("cacheScope").and_then(Value::as_str),
        Some("private"),
        "a filtered list is never cached as public"
    );
    let Some(Value::Array(items)) = result.get(kind.array) else {
        panic!("{} result without {}", kind.list, kind.array)
    };
    items
        .iter()
        .map(|i| i.get(kind.item).and_then(Value::as_str).unwrap().to_owned())
        .collect()
}

/// Calls `name` through the tunnel; `true` when the call reached the server, `false` when
/// the client got a denial. A forwarded call is answered, so that nothing stays pending.
fn call(pair: &mut Pair, id: u64, kind: &Kind, name: &str) -> bool {
    let mut params = Map::new();
    params.insert(kind.item.into(), Value::from(name));
    if kind.call == "tools/call" {
        params.insert("arguments".into(), Value::Object(Map::new()));
    }
    let request = message(id, kind.call, Some(params));
    let before = (pair.at_server.len(), pair.at_client.len());
    pair.from_client(&request).unwrap();
    if pair.at_server.len() == before.0 + 1 {
        assert_eq!(pair.at_server.last().unwrap(), &request);
        assert_eq!(pair.at_client.len(), before.1);
        pair.from_server(&result(id, Map::new())).unwrap();
        assert_eq!(pair.at_client.len(), before.1 + 1);
        return true;
    }
    assert_eq!(
        pair.at_server.len(),
        before.0,
        "at most one line reaches the server"
    );
    assert_eq!(pair.at_client.len(), before.1 + 1, "a denial is answered");
    let answer = common::parse(pair.at_client.last().unwrap());
    let error = answer.get("error").unwrap();
    assert_eq!(
        error.get("code").and_then(|c| match c {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }),
        Some(DENIED),
        "{}",
        String::from_utf8_lossy(pair.at_client.last().unwrap())
    );
    assert_eq!(
        error
            .get("data")
            .and_then(|d| d.get("target"))
            .and_then(Value::as_str),
        Some(name)
    );
    false
}

/// Lists each kind of item, then calls each offered item; returns, per kind, the names listed
/// (and checks that exactly those were forwarded).
fn listed_iff_forwarded(pair: &mut Pair, offered: [&[&str]; 3]) -> [BTreeSet<String>; 3] {
    let mut id = 0;
    let mut out: [BTreeSet<String>; 3] = Default::default();
    for ((kind, offered), shown) in KINDS.iter().zip(offered).zip(&mut out) {
        id += 1;
        let listed = list(pair, id, kind, offered);
        // The filtered list is the offered list with items removed, in order.
        let kept: Vec<&str> = offered
            .iter()
            .copied()
            .filter(|o| listed.iter().any(|l| l == o))
            .collect();
        assert_eq!(
            listed, kept,
            "{}: items removed, never added or reordered",
            kind.list
        );
        for name in offered {
            id += 1;
            let forwarded = call(pair, id, kind, name);
            let is_listed = listed.iter().any(|l| l == name);
            assert_eq!(
                is_listed, forwarded,
                "{} `{name}`: listed {is_listed}, forwarded {forwarded}",
                kind.call
            );
        }
        shown.extend(listed);
    }
    assert_eq!(pair.client.pending(), 0);
    assert_eq!(pair.server.pending(), 0);
    out
}

/// The capability alone, written independently of the crate for the scope items above (no
/// `allowed_tools`): what a tunnel should list.
fn oracle(items: &[&str], kind: usize, name: &str) -> bool {
    let has = |item: &str| items.contains(&item);
    match kind {
        0 => has("tool:*") || (!name.is_empty() && has(&format!("tool:{name}"))),
        1 => {
            has("tool:*")
                || has("tool:@resources")
                || (has("tool:@resources/resource:file:///repo/**")
                    && name.starts_with("file:///repo/"))
                || (has("tool:@resources/resource:file:///repo/*.md")
                    && name
                        .strip_prefix("file:///repo/")
                        .is_some_and(|r| r.ends_with(".md") && !r.contains('/')))
                || (has("tool:@resources/resource:mem://*")
                    && name
                        .strip_prefix("mem://")
                        .is_some_and(|r| !r.contains('/')))
                || (has("tool:@resources/resource:demo://**") && name.starts_with("demo://"))
        }
        _ => {
            has("tool:*")
                || has("tool:@prompts")
                || has("tool:@prompts/method:*")
                || has(&format!("tool:@prompts/method:{name}"))
        }
    }
}

fn subset<T: Clone + core::fmt::Debug>(
    all: &'static [T],
    min: usize,
) -> impl Strategy<Value = Vec<T>> {
    proptest::sample::subsequence(all, min..=all.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random capabilities (optionally with an `allowed_tools` constraint) under a policy
    /// that allows everything.
    #[test]
    fn capability_lists_exactly_what_it_lets_call(
        items in subset(SCOPE_ITEMS, 1),
        constraint in proptest::option::weighted(0.3, subset(TOOL_GLOBS, 0)),
        tools in subset(TOOLS, 0),
        resources in subset(RESOURCES, 0),
        prompts in subset(PROMPTS, 0),
    ) {
        let mut pair = pair(token(&items, constraint.as_deref()), open_policy());
        let listed = listed_iff_forwarded(&mut pair, [&tools, &resources, &prompts]);
        if constraint.is_none() {
            for (kind, (offered, shown)) in [&tools, &resources, &prompts].iter().zip(&listed).enumerate() {
                for name in offered.iter() {
                    prop_assert_eq!(
                        shown.contains(*name),
                        oracle(&items, kind, name),
                        "scope {:?}, item `{}`", items, name
                    );
                }
            }
        }
    }

    /// A random per-peer policy (allow and deny globs for tools and resources, the default
    /// for prompts) combined with a random capability.
    #[test]
    fn policy_and_capability_together_list_exactly_what_they_let_call(
        items in subset(SCOPE_ITEMS, 1),
        default_allow in any::<bool>(),
        allow_tools in subset(TOOL_GLOBS, 0),
        deny_tools in subset(TOOL_GLOBS, 0),
        allow_resources in subset(RESOURCE_GLOBS, 0),
        deny_resources in subset(RESOURCE_GLOBS, 0),
        tools in subset(TOOLS, 0),
        resources in subset(RESOURCES, 0),
        prompts in subset(PROMPTS, 0),
    ) {
        let policy = peer_policy(default_allow, &allow_tools, &deny_tools, &allow_resources, &deny_resources);
        let mut pair = pair(token(&items, None), policy);
        let listed = listed_iff_forwarded(&mut pair, [&tools, &resources, &prompts]);
        // Deny wins: nothing a deny pattern matches is ever listed.
        for name in &listed[0] {
            prop_assert!(
                !deny_tools.iter().any(|g| talos_mcp::acl::glob::Glob::new(g).unwrap().matches(name)),
                "`{}` listed despite deny_tools {:?}", name, deny_tools
            );
        }
        for uri in &listed[1] {
            prop_assert!(
                !deny_resources.iter().any(|g| talos_mcp::acl::glob::Glob::new(g).unwrap().matches(uri)),
                "`{}` listed despite deny_resources {:?}", uri, deny_resources
            );
        }
        // Prompts are an "other" method for the policy: the default decides.
        if !default_allow {
            prop_assert!(listed[2].is_empty());
        }
    }
}

/// The properties are not vacuous: a wide capability lists and forwards everything offered,
/// and a narrow one refuses what it does not name.
#[test]
fn wide_and_narrow_capabilities() {
    let mut wide = pair(token(&["tool:*"], None), open_policy());
    let listed = listed_iff_forwarded(&mut wide, [TOOLS, RESOURCES, PROMPTS]);
    assert_eq!(listed[0].len(), TOOLS.len());
    assert_eq!(listed[1].len(), RESOURCES.len());
    assert_eq!(listed[2].len(), PROMPTS.len());

    let mut narrow = pair(
        token(
            &[
                "tool:echo",
                "tool:@resources/resource:file:///repo/**",
                "tool:@prompts/method:greet",
            ],
            None,
        ),
        open_policy(),
    );
    let listed = listed_iff_forwarded(&mut narrow, [TOOLS, RESOURCES, PROMPTS]);
    assert_eq!(listed[0], BTreeSet::from(["echo".to_owned()]));
    assert_eq!(
        listed[1],
        BTreeSet::from([
            "file:///repo/".to_owned(),
            "file:///repo/README.md".to_owned(),
            "file:///repo/src/lib.rs".to_owned(),
        ])
    );
    assert_eq!(listed[2], BTreeSet::from(["greet".to_owned()]));
}

/// A filtered list whose canonical form outgrows the line limit must not reach the client
/// unfiltered. The MCP server's line is within `MAX_LINE_BYTES`, but numbers such as `1e20`
/// are written out in full by canonical JSON (21 digits), so the filtered copy is over the
/// limit and cannot be written: the client must get an error, never the unfiltered list
/// (a regression test: the filter once failed open here).
#[test]
fn an_oversized_filtered_list_is_never_forwarded_unfiltered() {
    use talos_mcp::jsonrpc::MAX_LINE_BYTES;

    let mut pair = pair(token(&["tool:echo"], None), open_policy());
    pair.from_client(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .unwrap();
    let count = MAX_LINE_BYTES / 20;
    let padding = vec!["1e20"; count].join(",");
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"tools":[{{"name":"echo"}},{{"name":"secret"}}],"_meta":{{"pad":[{padding}]}}}}}}"#
    );
    assert!(line.len() < MAX_LINE_BYTES);
    // The server end answers; whatever reaches the client must not list `secret`.
    let _ = pair.from_server(line.as_bytes());
    for answer in &pair.at_client {
        assert!(
            !answer.windows(8).any(|w| w == b"\"secret\""),
            "the unfiltered list reached the client"
        );
    }
}
