#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![cfg(unix)]
//! MCP end to end with real processes: the Python `mcp` client (pinned, in the capture
//! virtualenv) → `talos mcp-connect` → the network → `talos mcp-serve` →
//! `@modelcontextprotocol/server-everything`, `@modelcontextprotocol/server-filesystem` (pinned,
//! from `node_modules`) and the 2026-07-28 server `.ci/mcp-capture/modern_server.py`.
//!
//! Checked: `tools/list` filtered to the capability, an allowed call returns the tool's
//! result, a denied call returns code −31403 and never reaches the server (a denied
//! `write_file` leaves no file), a session presenting an expired or tampered capability is
//! refused at `initialize`, both MCP eras work, and the serving node's ledger holds and
//! verifies every decision.
//!
//! Needs the servers and the client: `.ci/mcp-capture/capture.sh` installs them; `.ci/run`
//! runs these tests after it with `--ignored`. `TALOS_MCP_PYTHON` (the virtualenv's python) and
//! `TALOS_MCP_SERVERS` (`node_modules/@modelcontextprotocol`) override the default places.

mod common;

use core::time::Duration;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Process, TALOS, finish, ok};
use talos_mcp::crypto::json::{self, Value};
/// Every process this test starts must finish within this.
const LIMIT: Duration = Duration::from_secs(90);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    std::env::var_os("TALOS_MCP_PYTHON").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap();
            PathBuf::from(home).join(".cache/talos-ci/mcp-venv/bin/python")
        },
        PathBuf::from,
    )
}

fn server_script(name: &str) -> PathBuf {
    let modules = std::env::var_os("TALOS_MCP_SERVERS").map_or_else(
        || repo().join(".ci/mcp-capture/node_modules/@modelcontextprotocol"),
        PathBuf::from,
    );
    let script = modules.join(name).join("dist/index.js");
    assert!(
        script.is_file(),
        "{} is missing (run .ci/mcp-capture/capture.sh)",
        script.display()
    );
    script
}

/// A node's data directory with a fresh identity; returns its DID.
fn init(dir: &Path) -> String {
    ok(dir, &["init", "--no-passphrase"]);
    ok(dir, &["id"]).trim().to_owned()
}

/// `talos mcp-serve` of `command` to `peer`, and its address.
fn serve(dir: &Path, peer: &str, command: &str) -> (Process, String) {
    let args = ["mcp-serve", "--allow-peer", peer, "--command", command];
    let mut serving = Process::start(dir, &args, Stdio::null(), Stdio::inherit());
    let addr = serving.addr();
    (serving, addr)
}

/// The Python client through `talos mcp-connect`: its JSON report.
fn client(dir: &Path, peer: &str, capability: &Path, mode: &str, steps: &str) -> Value {
    let mut command = Command::new(python());
    command
        .arg(repo().join(".ci/mcp-e2e/client.py"))
        .arg(TALOS)
        .arg(dir)
        .arg(peer)
        .arg(capability)
        .args([mode, steps]);
    let output = finish(&mut command, LIMIT);
    assert!(
        output.status.success(),
        "client.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    json::parse(String::from_utf8(output.stdout).unwrap().trim().as_bytes()).unwrap()
}

fn results(report: &Value) -> &[Value] {
    match report.get("results") {
        Some(Value::Array(results)) => results,
        _ => panic!("no results in {}", report.to_canonical_string()),
    }
}

fn tools(result: &Value) -> Vec<String> {
    match result.get("tools") {
        Some(Value::Array(tools)) => tools
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect(),
        _ => panic!("not a list: {}", result.to_canonical_string()),
    }
}

fn denial(result: &Value) -> (i64, String) {
    let code = match result.get("code") {
        Some(Value::Number(n)) => n.as_i64().unwrap(),
        _ => panic!("not an error: {}", result.to_canonical_string()),
    };
    let reason = result
        .get("data")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (code, reason)
}

/// The denial of a session refused at `initialize` (the capability it first presents).
fn refused(report: &Value) -> (i64, String) {
    denial(report.get("refused").unwrap_or_else(|| {
        panic!(
            "the session was not refused: {}",
            report.to_canonical_string()
        )
    }))
}

fn text(result: &Value) -> &str {
    assert_eq!(
        result.get("ok"),
        Some(&Value::Bool(true)),
        "{}",
        result.to_canonical_string()
    );
    result.get("text").and_then(Value::as_str).unwrap()
}

/// Two nodes: the server's (`dirs.0`) and the client's; a capability file from the server to
/// the client with `flags`.
fn nodes(tmp: &Path, flags: &[&str]) -> (PathBuf, PathBuf, String, PathBuf) {
    let (server, client) = (tmp.join("server"), tmp.join("client"));
    init(&server);
    let client_did = init(&client);
    let capability = tmp.join("capability.json");
    let mut args = vec!["cap", "issue", "--to", client_did.as_str()];
    args.extend_from_slice(flags);
    let out = capability.to_str().unwrap().to_owned();
    args.extend_from_slice(&["--out", &out]);
    ok(&server, &args);
    (server, client, client_did, capability)
}

#[test]
#[ignore = "needs the Python mcp client and the reference servers; .ci/run runs it"]
fn server_everything_through_two_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, client_dir, client_did, capability) =
        nodes(tmp.path(), &["--allow-tool", "echo", "--ttl", "3600"]);
    let command = format!(
        "node {} stdio",
        server_script("server-everything").display()
    );
    let (serving, addr) = serve(&server, &client_did, &command);

    // The 2025-11-25 era: filtered list, an allowed call, a denied one.
    let steps =
        r#"[["list"],["call","echo",{"message":"hello"}],["call","get-sum",{"a":2,"b":3}]]"#;
    let report = client(&client_dir, &addr, &capability, "legacy", steps);
    let r = results(&report);
    assert_eq!(tools(&r[0]), ["echo"]);
    assert!(
        text(&r[1]).contains("Echo: hello"),
        "{}",
        r[1].to_canonical_string()
    );
    assert_eq!(denial(&r[2]), (-31403, "UNKNOWN_TOOL".to_owned()));

    // Whatever era the client and the server negotiate.
    let report = client(
        &client_dir,
        &addr,
        &capability,
        "auto",
        r#"[["list"],["call","echo",{"message":"auto"}]]"#,
    );
    let r = results(&report);
    assert_eq!(tools(&r[0]), ["echo"]);
    assert!(text(&r[1]).contains("Echo: auto"));

    // A capability whose scope was widened after signing is refused.
    let forged = std::fs::read_to_string(&capability)
        .unwrap()
        .replace("tool:echo", "tool:get-sum");
    let forged_file = tmp.path().join("forged.json");
    std::fs::write(&forged_file, forged).unwrap();
    let report = client(
        &client_dir,
        &addr,
        &forged_file,
        "legacy",
        r#"[["call","get-sum",{"a":2,"b":3}]]"#,
    );
    assert_eq!(refused(&report), (-31403, "SIGNATURE_INVALID".to_owned()));
    serving.stop();

    // The serving node's ledger: every decision, and it verifies.
    ok(&server, &["ledger", "verify"]);
    let export = ok(&server, &["ledger", "export"]);
    let entries: Vec<&str> = export.lines().collect();
    assert!(entries.len() >= 4, "{export}");
    for tool in ["echo", "get-sum"] {
        assert!(export.contains(tool), "{tool} not in the ledger: {export}");
    }
}

#[test]
#[ignore = "needs the Python mcp client and the reference servers; .ci/run runs it"]
fn an_expired_capability_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, client_dir, client_did, capability) =
        nodes(tmp.path(), &["--allow-tool", "echo", "--ttl", "1"]);
    let command = format!(
        "node {} stdio",
        server_script("server-everything").display()
    );
    let (serving, addr) = serve(&server, &client_did, &command);
    std::thread::sleep(Duration::from_millis(2100));
    let report = client(
        &client_dir,
        &addr,
        &capability,
        "legacy",
        r#"[["call","echo",{"message":"late"}]]"#,
    );
    assert_eq!(refused(&report), (-31403, "EXPIRED".to_owned()));
    serving.stop();
}

#[test]
#[ignore = "needs the Python mcp client and the reference servers; .ci/run runs it"]
fn server_filesystem_denied_write_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let root = root.canonicalize().unwrap();
    std::fs::write(root.join("hello.txt"), "hello from talos\n").unwrap();
    let (server, client_dir, client_did, capability) = nodes(
        tmp.path(),
        &["--allow-tool", "read_text_file", "--ttl", "3600"],
    );
    let command = format!(
        "node {} {}",
        server_script("server-filesystem").display(),
        root.display()
    );
    let (serving, addr) = serve(&server, &client_did, &command);
    let hello = root.join("hello.txt");
    let written = root.join("new.txt");
    let steps = format!(
        r#"[["list"],["call","read_text_file",{{"path":"{}"}}],["call","write_file",{{"path":"{}","content":"x"}}]]"#,
        hello.display(),
        written.display()
    );
    let report = client(&client_dir, &addr, &capability, "legacy", &steps);
    let r = results(&report);
    assert_eq!(tools(&r[0]), ["read_text_file"]);
    assert!(text(&r[1]).contains("hello from talos"));
    assert_eq!(denial(&r[2]).0, -31403);
    serving.stop();
    assert!(!written.exists(), "a denied write_file reached the server");
    ok(&server, &["ledger", "verify"]);
}

#[test]
#[ignore = "needs the Python mcp client and the reference servers; .ci/run runs it"]
fn the_2026_era_through_two_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, client_dir, client_did, capability) = nodes(
        tmp.path(),
        &[
            "--allow-tool",
            "echo",
            "--allow-tool",
            "add",
            "--ttl",
            "3600",
        ],
    );
    let command = format!(
        "{} {}",
        python().display(),
        repo().join(".ci/mcp-capture/modern_server.py").display()
    );
    let (serving, addr) = serve(&server, &client_did, &command);
    let steps = r#"[["discover"],["list"],["call","add",{"a":2,"b":3}],["call","write_note",{"path":"x","text":"y"}]]"#;
    let report = client(&client_dir, &addr, &capability, "2026-07-28", steps);
    assert_eq!(
        report.get("protocol").and_then(Value::as_str),
        Some("2026-07-28")
    );
    let r = results(&report);
    assert_eq!(tools(&r[1]), ["add", "echo"]);
    assert!(text(&r[2]).contains('5'), "{}", r[2].to_canonical_string());
    assert_eq!(denial(&r[3]).0, -31403);
    serving.stop();
    ok(&server, &["ledger", "verify"]);
}
