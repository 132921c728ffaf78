//! `acl/policy.json`: per-peer policy files (TOML) and the decisions they give.

use talos_acl::policy::{Policy, PolicyError, PolicyReason, PolicyRequest};
use talos_crypto::SigningKey;
use talos_crypto::json::Value;

use super::acl_token::{acl_producer, did, secs, seed};
use super::{Derived, Family, Spec};
use crate::util::{array_field, hex_array, n, object, s, str_field};

pub(super) const FAMILY: Family = Family {
    file: "acl/policy.json",
    contract: "acl/policy_case.schema.json",
    description: "Per-peer policy: the object is a TOML policy file (policy) and requests \
                  ({peer: a DID, method: an MCP method, target?: params.name of tools/call or \
                  params.uri of resources/read and resources/list}). Evaluation: a peer not in the \
                  file gets default_allow (default false); enabled = false denies; tools/call checks \
                  deny_tools then allow_tools (deny wins), resources/read the same with \
                  deny_resources / allow_resources, else default_allow; other methods default_allow. \
                  Patterns are globs (* stops at /, ** crosses it, ? one character). \
                  expected.decisions[i] is {allowed, reason: unknown_peer | peer_disabled | pattern | \
                  no_pattern_matched | other_method, list and pattern when a pattern decided, text: \
                  the decision as shown to people, rate: the peer's rate table with defaults filled \
                  in (bytes_per_day 0: no byte budget) when it has one}. A file that does not load \
                  is an expected_error (TALOS_INVALID_INPUT) whose message names the 1-based line \
                  of the problem (message_contains \"line N,\").",
    producer: acl_producer,
    specs,
    derive,
};

fn peer(name: &str) -> String {
    let key = hex_array::<32>(&object([("seed", seed(name))]), "seed")
        .map(|seed| SigningKey::from_seed(&seed).verifying_key());
    key.map(|k| did(&k)).unwrap_or_default()
}

fn call(who: &str, method: &str, target: Option<&str>) -> Value {
    match target {
        Some(t) => object([
            ("peer", s(peer(who))),
            ("method", s(method)),
            ("target", s(t)),
        ]),
        None => object([("peer", s(peer(who))), ("method", s(method))]),
    }
}

fn case(toml: String, requests: Vec<Value>) -> Value {
    object([("policy", s(toml)), ("requests", Value::Array(requests))])
}

fn specs() -> Vec<Spec> {
    let (alice, bob, carol) = (peer("alice"), peer("bob"), peer("carol"));
    let basic = format!(
        "# who may call what\n\
         [peers.\"{alice}\"]\n\
         allow_tools = [\"read_*\", \"list_directory\"]\n\
         deny_tools = [\"read_secrets\"]\n\
         allow_resources = [\"file:///repo/**\"]\n\
         deny_resources = [\"file:///repo/.git/**\"]\n"
    );
    let tool = |who: &str, t: &str| call(who, "tools/call", Some(t));
    let read = |who: &str, uri: &str| call(who, "resources/read", Some(uri));
    vec![
        Spec::ok(
            "policy-allow-deny",
            "allow and deny patterns for tools and resources: deny wins, no match is the default \
             (deny)",
            case(
                basic.clone(),
                vec![
                    tool("alice", "read_file"),
                    tool("alice", "list_directory"),
                    tool("alice", "read_secrets"),
                    tool("alice", "write_file"),
                    call("alice", "tools/call", None),
                    read("alice", "file:///repo/src/main.rs"),
                    read("alice", "file:///repo/.git/config"),
                    read("alice", "file:///etc/passwd"),
                    call("alice", "resources/list", Some("file:///repo/docs")),
                    call("alice", "initialize", None),
                    tool("mallory", "read_file"),
                ],
            ),
        ),
        Spec::ok(
            "policy-default-allow",
            "default_allow = true: strangers, unmatched calls and other methods are allowed; a \
             disabled peer is not",
            case(
                format!(
                    "default_allow = true\n\
                     \n\
                     [peers.\"{bob}\"]\n\
                     enabled = false\n\
                     allow_tools = [\"*\"]\n\
                     \n\
                     [peers.\"{carol}\"]\n\
                     deny_tools = [\"shell\", \"exec_*\"]\n"
                ),
                vec![
                    tool("mallory", "shell"),
                    tool("bob", "read_file"),
                    call("bob", "initialize", None),
                    tool("carol", "shell"),
                    tool("carol", "exec_python"),
                    tool("carol", "read_file"),
                    call("carol", "prompts/list", None),
                ],
            ),
        ),
        Spec::ok(
            "policy-globs",
            "* stops at /, ** crosses it, ? is one character",
            case(
                format!(
                    "[peers.\"{alice}\"]\n\
                     allow_tools = [\"fs/*\", \"v?\"]\n\
                     allow_resources = [\"file:///a/*\", \"file:///b/**\"]\n"
                ),
                vec![
                    tool("alice", "fs/read"),
                    tool("alice", "fs/read/deep"),
                    tool("alice", "v1"),
                    tool("alice", "v10"),
                    read("alice", "file:///a/x"),
                    read("alice", "file:///a/x/y"),
                    read("alice", "file:///b/x/y/z"),
                ],
            ),
        ),
        Spec::ok(
            "policy-rate",
            "rate tables: missing members take the defaults; bytes_per_day = 0 is no budget",
            case(
                format!(
                    "[peers.\"{alice}\"]\n\
                     allow_tools = [\"*\"]\n\
                     rate = {{ requests_per_second = 5, bytes_per_day = 0 }}\n\
                     \n\
                     [peers.\"{bob}\"]\n\
                     allow_tools = [\"*\"]\n\
                     rate = {{ burst = 50 }}\n"
                ),
                vec![tool("alice", "read_file"), tool("bob", "read_file")],
            ),
        ),
        Spec::ok(
            "policy-empty",
            "an empty file denies everything",
            case(
                String::new(),
                vec![tool("alice", "read_file"), call("bob", "initialize", None)],
            ),
        ),
        Spec::err(
            "policy-unknown-top-key",
            "an unknown key at the top level",
            case("default_allow = false\nbogus = 1\n".into(), vec![]),
            "line 2,",
        ),
        Spec::err(
            "policy-unknown-peer-key",
            "a misspelt key in a peer entry (allow_tool)",
            case(
                format!(
                    "default_allow = false\n\
                     [peers.\"{alice}\"]\n\
                     enabled = true\n\
                     allow_tool = [\"read_*\"]\n"
                ),
                vec![],
            ),
            "line 4,",
        ),
        Spec::err(
            "policy-bad-glob",
            "a pattern with three * in a row",
            case(
                format!(
                    "[peers.\"{alice}\"]\n\
                     allow_tools = [\"read_*\"]\n\
                     \n\
                     deny_tools = [\"ok\", \"a***b\"]\n"
                ),
                vec![],
            ),
            "line 4,",
        ),
        Spec::err(
            "policy-bad-peer",
            "a peer key that is not a DID",
            case(
                format!(
                    "[peers.\"{alice}\"]\n\
                     allow_tools = [\"*\"]\n\
                     \n\
                     [peers.\"did:key:zNotAKey\"]\n\
                     allow_tools = [\"*\"]\n"
                ),
                vec![],
            ),
            "line 4,",
        ),
        Spec::err(
            "policy-zero-burst",
            "rate.burst = 0",
            case(
                format!(
                    "[peers.\"{alice}\"]\n\
                     allow_tools = [\"*\"]\n\
                     rate = {{ requests_per_second = 1, burst = 0 }}\n"
                ),
                vec![],
            ),
            "line 3,",
        ),
        Spec::err(
            "policy-wrong-type",
            "enabled is a string",
            case(
                format!(
                    "\n\
                     [peers.\"{alice}\"]\n\
                     enabled = \"yes\"\n"
                ),
                vec![],
            ),
            "line 3,",
        ),
        Spec::err(
            "policy-syntax",
            "an array left open on line 2: the parser stops at the next key, on line 3",
            case(
                format!(
                    "[peers.\"{alice}\"]\n\
                     allow_tools = [\"read_*\"\n\
                     deny_tools = []\n"
                ),
                vec![],
            ),
            "line 3,",
        ),
        Spec::err(
            "policy-duplicate-peer",
            "the same peer twice",
            case(
                format!(
                    "[peers.\"{alice}\"]\n\
                     allow_tools = [\"*\"]\n\
                     [peers.\"{alice}\"]\n\
                     deny_tools = [\"*\"]\n"
                ),
                vec![],
            ),
            "line 3,",
        ),
    ]
}

fn reason(reason: PolicyReason<'_>) -> Vec<(&'static str, Value)> {
    match reason {
        PolicyReason::UnknownPeer => vec![("reason", s("unknown_peer"))],
        PolicyReason::PeerDisabled => vec![("reason", s("peer_disabled"))],
        PolicyReason::Pattern { list, pattern } => vec![
            ("reason", s("pattern")),
            ("list", s(list.as_str())),
            ("pattern", s(pattern.as_str())),
        ],
        PolicyReason::NoPatternMatched => vec![("reason", s("no_pattern_matched"))],
        PolicyReason::OtherMethod => vec![("reason", s("other_method"))],
        _ => vec![("reason", s("other"))],
    }
}

fn refused(object: Value, err: &PolicyError) -> Derived {
    Derived::failed(Some(object), err)
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let policy = match Policy::from_toml(str_field(inputs, "policy")?) {
        Ok(policy) => policy,
        Err(e) => return Ok(refused(inputs.clone(), &e)),
    };
    let mut decisions = Vec::new();
    for r in array_field(inputs, "requests")? {
        let peer = str_field(r, "peer")?;
        let target = match r.get("target") {
            Some(_) => Some(str_field(r, "target")?),
            None => None,
        };
        let decision = policy.evaluate(
            peer,
            &PolicyRequest::from_mcp(str_field(r, "method")?, target),
        );
        let mut map = talos_crypto::json::Map::new();
        map.insert("allowed".into(), Value::Bool(decision.is_allowed()));
        for (k, v) in reason(decision.reason()) {
            map.insert(k.into(), v);
        }
        map.insert("text".into(), s(decision.to_string()));
        if let Some(rate) = policy.rate_limit(peer) {
            map.insert(
                "rate".into(),
                object([
                    ("requests_per_second", n(rate.requests_per_second)),
                    ("burst", n(rate.burst)),
                    ("bytes_per_day", secs(rate.bytes_per_day.unwrap_or(0))),
                ]),
            );
        }
        decisions.push(Value::Object(map));
    }
    Ok(Derived::Ok {
        object: inputs.clone(),
        expected: object([
            ("default_allow", Value::Bool(policy.default_allow())),
            (
                "peer_count",
                n(u32::try_from(policy.peer_count()).map_err(|e| e.to_string())?),
            ),
            ("decisions", Value::Array(decisions)),
        ]),
    })
}
