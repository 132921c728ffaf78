#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Real MCP traffic, recorded between the Python `mcp` client and the reference servers
//! (`tests/transcripts/README.md`), replayed through a client tunnel and a server tunnel joined
//! back to back: what passes must arrive byte for byte, what is denied must never reach the
//! server, and lists must show exactly what may be called.

mod common;

use std::collections::BTreeSet;

use common::{Line, Pair, capability, parse, policy, transcript};
use talos_mcp::crypto::json::Value;
use talos_mcp::jsonrpc::DENIED;
use talos_mcp::ledger::entry::Decision;

/// What a replay expects to be refused: `(tool name or method target, reason code)`.
struct Expect<'a> {
    denied: &'a [(&'a str, &'a str)],
    /// Whether a list item (tool name, resource URI or template, prompt name) is shown.
    listed: &'a dyn Fn(&str, &str) -> bool,
}

/// The list filter as the test understands it, written independently of the crate.
fn oracle_filter(method: &str, response: &Value, listed: &dyn Fn(&str, &str) -> bool) -> Value {
    let (array, item) = match method {
        "tools/list" => ("tools", "name"),
        "resources/list" => ("resources", "uri"),
        "resources/templates/list" => ("resourceTemplates", "uriTemplate"),
        "prompts/list" => ("prompts", "name"),
        _ => return response.clone(),
    };
    let mut response = response.clone();
    if let Value::Object(r) = &mut response
        && let Some(Value::Object(result)) = r.get_mut("result")
    {
        if let Some(Value::Array(items)) = result.get_mut(array) {
            items.retain(|i| listed(method, i.get(item).and_then(Value::as_str).unwrap()));
        }
        if result.contains_key("cacheScope") {
            result.insert("cacheScope".into(), Value::String("private".into()));
        }
    }
    response
}

/// Replays `lines` through `pair`, checking every step; returns the number of calls denied.
fn replay(pair: &mut Pair, lines: &[Line], expect: &Expect<'_>) -> usize {
    let mut denied_ids = BTreeSet::new();
    let mut methods = std::collections::BTreeMap::new();
    let mut requests = std::collections::BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        pair.now = common::at(2 + n as u64);
        let (client_before, server_before) = (pair.at_client.len(), pair.at_server.len());
        let audit_before = pair.audit.len();
        if line.c2s {
            if let (Some(method), Some(id)) = (line.method(), line.id()) {
                methods.insert(id.to_canonical_vec(), method.to_owned());
                requests.insert(id.to_canonical_vec(), line.value.clone());
            }
            pair.from_client(line.line.as_bytes())
                .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            let target = line.tool().or_else(|| {
                line.value
                    .get("params")
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
            });
            let denial = target.and_then(|t| expect.denied.iter().find(|(d, _)| *d == t));
            if let Some((target, reason)) = denial {
                assert_eq!(
                    pair.at_server.len(),
                    server_before,
                    "line {}: a denied call reached the server",
                    n + 1
                );
                let answer = parse(pair.at_client.last().unwrap());
                let error = answer.get("error").unwrap();
                assert_eq!(answer.get("id"), line.id());
                assert_eq!(
                    error.get("code").and_then(|c| match c {
                        Value::Number(n) => n.as_i64(),
                        _ => None,
                    }),
                    Some(DENIED)
                );
                let data = error.get("data").unwrap();
                assert_eq!(data.get("reason").and_then(Value::as_str), Some(*reason));
                assert_eq!(data.get("target").and_then(Value::as_str), Some(*target));
                assert_eq!(data.get("talos").and_then(Value::as_str), Some("denied"));
                let record = pair.audit.last().unwrap();
                assert_eq!(pair.audit.len(), audit_before + 1);
                assert_eq!(record.decision, Decision::Deny);
                assert_eq!(record.target, *target);
                assert!(record.reason.starts_with(reason), "{}", record.reason);
                record.to_tool_call().unwrap();
                denied_ids.insert(line.id().unwrap().to_canonical_vec());
            } else {
                assert_eq!(
                    pair.at_server.len(),
                    server_before + 1,
                    "line {}: not forwarded",
                    n + 1
                );
                assert_eq!(
                    pair.at_server.last().unwrap(),
                    line.line.as_bytes(),
                    "line {}: changed on the way",
                    n + 1
                );
                assert_eq!(
                    pair.at_client.len(),
                    client_before,
                    "line {}: answered by the tunnel",
                    n + 1
                );
            }
        } else {
            let id = line.id().map(Value::to_canonical_vec);
            let is_response = line.method().is_none();
            if is_response && id.as_ref().is_some_and(|i| denied_ids.contains(i)) {
                continue; // the server never saw this request
            }
            pair.from_server(line.line.as_bytes())
                .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            assert_eq!(
                pair.at_client.len(),
                client_before + 1,
                "line {}: not delivered",
                n + 1
            );
            let got = pair.at_client.last().unwrap();
            let method = id
                .as_ref()
                .filter(|_| is_response)
                .and_then(|i| methods.get(i));
            match method.map(String::as_str) {
                Some(
                    m @ ("tools/list"
                    | "resources/list"
                    | "resources/templates/list"
                    | "prompts/list"),
                ) => {
                    assert_eq!(
                        parse(got),
                        oracle_filter(m, &line.value, expect.listed),
                        "line {}",
                        n + 1
                    );
                }
                _ => assert_eq!(
                    got,
                    line.line.as_bytes(),
                    "line {}: changed on the way",
                    n + 1
                ),
            }
            if let Some(m) = method
                && matches!(m.as_str(), "tools/call" | "resources/read" | "prompts/get")
            {
                let record = pair.audit.last().unwrap();
                assert_eq!(
                    pair.audit.len(),
                    audit_before + 1,
                    "line {}: not audited",
                    n + 1
                );
                assert_eq!(record.decision, Decision::Allow);
                assert_eq!(
                    record.response_hash,
                    Some(talos_mcp::payload_hash(&parse(got)))
                );
                let request = &requests[id.as_ref().unwrap()];
                assert_eq!(record.request_hash, talos_mcp::payload_hash(request));
                assert!(
                    record.latency_us >= 1_000_000,
                    "one line is one second here"
                );
                record.to_tool_call().unwrap();
            } else {
                assert_eq!(pair.audit.len(), audit_before, "line {}: audited", n + 1);
            }
        }
    }
    assert!(pair.peer_errors.is_empty(), "{:?}", pair.peer_errors);
    denied_ids.len()
}

fn everything(_: &str, _: &str) -> bool {
    true
}

#[test]
fn everything_passes_through_byte_for_byte_when_all_is_allowed() {
    let lines = transcript("everything-legacy");
    let mut pair = Pair::new(capability("tool:*"), policy(""));
    let denied = replay(
        &mut pair,
        &lines,
        &Expect {
            denied: &[],
            listed: &everything,
        },
    );
    assert_eq!(denied, 0);
    // server→client requests and their answers went through: roots, sampling, elicitation.
    for method in ["roots/list", "sampling/createMessage", "elicitation/create"] {
        assert!(
            pair.at_client
                .iter()
                .any(|l| parse(l).get("method").and_then(Value::as_str) == Some(method))
        );
    }
    // The cancelled call was audited as such, and nothing is left pending.
    assert!(
        pair.audit
            .iter()
            .any(|a| a.reason == "cancelled by the peer")
    );
    assert_eq!(pair.client.pending(), 0);
    assert_eq!(pair.server.pending(), 0);
}

#[test]
fn everything_get_env_denied_by_policy_and_hidden_from_lists() {
    let lines = transcript("everything-legacy");
    let mut pair = Pair::new(capability("tool:*"), policy("deny_tools = [\"get-env\"]"));
    let listed = |method: &str, name: &str| !(method == "tools/list" && name == "get-env");
    let denied = replay(
        &mut pair,
        &lines,
        &Expect {
            denied: &[("get-env", "POLICY_DENIED")],
            listed: &listed,
        },
    );
    assert_eq!(denied, 1);
}

#[test]
fn everything_without_resource_scope_cannot_read_or_list_resources() {
    let lines = transcript("everything-legacy");
    let scope = "tool:echo tool:get-sum tool:get-env tool:get-roots-list tool:trigger-sampling-request \
                 tool:trigger-elicitation-request tool:trigger-long-running-operation tool:@prompts/method:simple-prompt";
    let mut pair = Pair::new(capability(scope), policy(""));
    let allowed_tools = [
        "echo",
        "get-sum",
        "get-env",
        "get-roots-list",
        "trigger-sampling-request",
        "trigger-elicitation-request",
        "trigger-long-running-operation",
    ];
    let listed = |method: &str, name: &str| match method {
        "tools/list" => allowed_tools.contains(&name),
        "prompts/list" => name == "simple-prompt",
        _ => false,
    };
    let uri = "demo://resource/static/document/architecture.md";
    let denied = replay(
        &mut pair,
        &lines,
        &Expect {
            denied: &[(uri, "UNKNOWN_TOOL")],
            listed: &listed,
        },
    );
    assert_eq!(denied, 1);
}

#[test]
fn everything_auto_mode_probe_and_fallback_pass_through() {
    let lines = transcript("everything-auto");
    assert_eq!(lines[0].method(), Some("server/discover"));
    let mut pair = Pair::new(capability("tool:echo"), policy(""));
    let listed = |_: &str, name: &str| name == "echo";
    let denied = replay(
        &mut pair,
        &lines,
        &Expect {
            denied: &[],
            listed: &listed,
        },
    );
    assert_eq!(denied, 0);
    // The probe's −32601 reached the client untouched, so it fell back to `initialize`.
    assert_eq!(pair.at_client[0], lines[1].line.as_bytes());
}

#[test]
fn filesystem_read_only_capability_denies_write_file() {
    let lines = transcript("filesystem-legacy");
    let reads = [
        "read_text_file",
        "list_directory",
        "list_allowed_directories",
        "get_file_info",
    ];
    let scope: Vec<String> = reads.iter().map(|t| format!("tool:{t}")).collect();
    let mut pair = Pair::new(capability(&scope.join(" ")), policy(""));
    let listed = |_: &str, name: &str| reads.contains(&name);
    let denied = replay(
        &mut pair,
        &lines,
        &Expect {
            denied: &[("write_file", "UNKNOWN_TOOL")],
            listed: &listed,
        },
    );
    assert_eq!(denied, 1);
    assert!(
        !pair
            .at_server
            .iter()
            .any(|l| String::from_utf8_lossy(l).contains("write_file"))
    );
}

#[test]
fn filesystem_paths_constraint_lists_the_tool_and_checks_each_call() {
    // The capability allows every tool, but only on paths under the capture root; the list
    // shows every tool (some call of each may be allowed), and each call is checked.
    let lines = transcript("filesystem-legacy");
    let server = common::server_key();
    let fields = talos_mcp::acl::token::TokenFields::new(
        common::did(&server),
        common::did(&common::client_key()),
        "tool:*",
        common::at(0),
        common::at(3600),
    )
    .with_constraints(
        match parse(br#"{"paths":["/tmp/talos-mcp-capture/root/hello.txt"]}"#) {
            Value::Object(m) => m,
            _ => unreachable!(),
        },
    );
    let token = talos_mcp::acl::token::CapabilityToken::issue(&server, &fields).unwrap();
    let mut pair = Pair::new(token, policy(""));
    // list_directory and list_allowed_directories name no path (or another): denied;
    // read_text_file and get_file_info of hello.txt are allowed, write_file of new.txt is not.
    let denied = replay(
        &mut pair,
        &lines,
        &Expect {
            denied: &[
                ("list_allowed_directories", "CONSTRAINT_VIOLATION"),
                ("list_directory", "CONSTRAINT_VIOLATION"),
                ("write_file", "CONSTRAINT_VIOLATION"),
            ],
            listed: &everything,
        },
    );
    assert_eq!(denied, 3);
}

#[test]
fn modern_era_passes_meta_untouched_and_marks_filtered_lists_private() {
    let lines = transcript("modern-2026");
    assert!(lines.iter().all(|l| l.method() != Some("initialize")));
    let scope = "tool:add tool:echo tool:@resources/resource:note://** tool:@prompts/method:greet";
    let mut pair = Pair::new(capability(scope), policy(""));
    let listed = |method: &str, name: &str| match method {
        "tools/list" => name != "write_note",
        _ => true,
    };
    let denied = replay(
        &mut pair,
        &lines,
        &Expect {
            denied: &[("write_note", "UNKNOWN_TOOL")],
            listed: &listed,
        },
    );
    assert_eq!(denied, 1);
    // Every list the server marked public reached the client as private.
    for l in &pair.at_client {
        let v = parse(l);
        if let Some(scope) = v.get("result").and_then(|r| r.get("cacheScope")) {
            assert_eq!(scope.as_str(), Some("private"));
        }
    }
}
