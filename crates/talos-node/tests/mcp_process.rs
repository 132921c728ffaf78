//! The talos-mcp tunnels driven by `talos_node::mcp` in front of real MCP server processes:
//! `@modelcontextprotocol/server-everything` and `@modelcontextprotocol/server-filesystem`
//! (the versions pinned in `.ci/mcp-capture/package.json`, started from `node_modules`). The
//! MCP client is scripted here; the Python client through `talos mcp-connect` is the CLI's
//! end-to-end test.
//!
//! The servers are installed by `.ci/mcp-capture/capture.sh` (`npm ci`), so these tests are
//! ignored by a plain `cargo test`; `.ci/run` runs them after that step with `--ignored`.
//! `TALOS_MCP_SERVERS` may point at another `node_modules/@modelcontextprotocol`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use core::time::Duration;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use talos_mcp::acl::did::Did;
use talos_mcp::acl::guard::Guard;
use talos_mcp::acl::policy::Policy;
use talos_mcp::acl::rate::RateConfig;
use talos_mcp::acl::token::{CapabilityToken, TokenFields};
use talos_mcp::crypto::json::{self, Map, Value};
use talos_mcp::crypto::{SigningKey, Timestamp};
use talos_mcp::ledger::entry::Decision;
use talos_mcp::{ClientConfig, ClientTunnel, ServerConfig, ServerTunnel};
use talos_node::mcp::{McpEvent, ServerProcess, connect, link_pair, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::{mpsc, oneshot};

const LIMIT: Duration = Duration::from_secs(60);

fn servers() -> PathBuf {
    std::env::var_os("TALOS_MCP_SERVERS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.ci/mcp-capture/node_modules/@modelcontextprotocol")
        },
        PathBuf::from,
    )
}

fn server(name: &str, args: &[&str]) -> ServerProcess {
    let script = servers().join(name).join("dist/index.js");
    assert!(
        script.is_file(),
        "{} is missing: run .ci/mcp-capture/capture.sh (npm ci) or set TALOS_MCP_SERVERS",
        script.display()
    );
    let mut all = vec![script.display().to_string()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    ServerProcess::new("node", all)
}

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Timestamp::from_secs(secs).unwrap()
}

/// The MCP client's end of the `connect` streams, and the tunnels' events.
struct Client {
    write: DuplexStream,
    read: BufReader<DuplexStream>,
    events: mpsc::Receiver<McpEvent>,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// Both tunnels for one session, `process` behind the server tunnel; the capability
    /// (issued by the server side to the client side) has `scope` and `constraints`, the
    /// server's policy allows the client `tools`.
    fn start(process: ServerProcess, scope: &str, constraints: Map, tools: &[&str]) -> Self {
        let client_key = SigningKey::from_seed(&[0x11; 32]);
        let server_key = SigningKey::from_seed(&[0x22; 32]);
        let client_did = Did::from(client_key.verifying_key()).to_string();
        let server_did = Did::from(server_key.verifying_key()).to_string();
        let issued = now().saturating_sub(Duration::from_secs(60));
        let fields = TokenFields::new(
            server_did,
            client_did.clone(),
            scope.to_owned(),
            issued,
            issued.saturating_add(Duration::from_secs(3600)),
        )
        .with_constraints(constraints);
        let capability = CapabilityToken::issue(&server_key, &fields).unwrap();
        let allowed: Vec<String> = tools.iter().map(|t| format!("\"{t}\"")).collect();
        let policy = Policy::from_toml(&format!(
            "default_allow = false\n[peers.\"{client_did}\"]\nallow_tools = [{}]\n",
            allowed.join(", ")
        ))
        .unwrap();
        let server_verifying = server_key.verifying_key();
        let client_tunnel = ClientTunnel::new(ClientConfig::new(
            [7; 16],
            client_key.clone(),
            server_verifying,
            capability,
        ));
        let server_tunnel =
            ServerTunnel::new(ServerConfig::new(server_key, client_key.verifying_key()));
        let guard = Arc::new(Mutex::new(Guard::new(policy, RateConfig::default())));
        let (client_link, server_link) = link_pair(64);
        let (events_tx, events) = mpsc::channel(256);
        let (stop, stopped) = oneshot::channel::<()>();
        let (client_write, tunnel_read) = tokio::io::duplex(1 << 16);
        let (tunnel_write, client_read) = tokio::io::duplex(1 << 16);
        let server_events = events_tx.clone();
        let served = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            serve(
                server_tunnel,
                guard,
                process,
                server_link,
                server_events,
                stopped,
            )
            .await
            .unwrap();
        });
        let connected = tokio::spawn(async move {
            connect(
                client_tunnel,
                BufReader::new(tunnel_read),
                tunnel_write,
                client_link,
                events_tx,
                core::future::pending(),
            )
            .await
            .unwrap();
        });
        Self {
            write: client_write,
            read: BufReader::new(client_read),
            events,
            stop: Some(stop),
            tasks: vec![served, connected],
        }
    }

    async fn send(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).await.unwrap();
        self.write.write_all(b"\n").await.unwrap();
        self.write.flush().await.unwrap();
    }

    /// Sends a request and returns the response with its id; notifications and the server's
    /// requests on the way are skipped.
    async fn call(&mut self, id: u64, method: &str, params: &str) -> Value {
        self.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#
        ))
        .await;
        loop {
            let mut line = String::new();
            let n = self.read.read_line(&mut line).await.unwrap();
            assert!(n > 0, "the tunnel closed before answering {method}");
            let value = json::parse(line.trim_end().as_bytes()).unwrap();
            let is_ours = value
                .get("id")
                .and_then(|i| match i {
                    Value::Number(n) => n.as_u64(),
                    _ => None,
                })
                .is_some_and(|i| i == id);
            if is_ours && value.get("method").is_none() {
                return value;
            }
        }
    }

    async fn initialize(&mut self, version: &str) -> Value {
        let init = self
            .call(
                1,
                "initialize",
                &format!(
                    r#"{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"talos-test","version":"0"}}}}"#
                ),
            )
            .await;
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        init
    }

    /// Audit records received so far.
    fn audits(&mut self) -> Vec<talos_mcp::AuditRecord> {
        let mut out = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            if let McpEvent::Audit(record) = event {
                out.push(*record);
            }
        }
        out
    }

    async fn stop(mut self) {
        drop(self.stop.take());
        drop(self.write);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("tunnel tasks end")
                .unwrap();
        }
    }
}

fn tool_names(list: &Value) -> Vec<String> {
    let Some(Value::Array(tools)) = list.get("result").and_then(|r| r.get("tools")) else {
        panic!("no tools in {}", list.to_canonical_string());
    };
    tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn error_code(response: &Value) -> Option<i64> {
    match response.get("error")?.get("code")? {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[tokio::test]
#[ignore = "needs the reference MCP servers from npm; .ci/run runs it"]
async fn server_everything_allow_deny_and_filtering() {
    tokio::time::timeout(LIMIT, async {
        let mut client = Client::start(
            server("server-everything", &["stdio"]),
            "tool:echo",
            Map::new(),
            &["echo", "get-sum"],
        );
        let init = client.initialize("2025-11-25").await;
        assert!(
            init.get("result").is_some(),
            "{}",
            init.to_canonical_string()
        );

        // Listing is filtered to the capability (the policy alone would allow get-sum too).
        let list = client.call(2, "tools/list", "{}").await;
        assert_eq!(tool_names(&list), ["echo"]);

        let echo = client
            .call(
                3,
                "tools/call",
                r#"{"name":"echo","arguments":{"message":"hi"}}"#,
            )
            .await;
        let text = echo.to_canonical_string();
        assert!(text.contains("Echo: hi"), "{text}");

        let denied = client
            .call(
                4,
                "tools/call",
                r#"{"name":"get-sum","arguments":{"a":1,"b":2}}"#,
            )
            .await;
        assert_eq!(
            error_code(&denied),
            Some(-31403),
            "{}",
            denied.to_canonical_string()
        );
        let data = denied.get("error").and_then(|e| e.get("data")).unwrap();
        assert_eq!(data.get("talos").and_then(Value::as_str), Some("denied"));
        assert_eq!(data.get("target").and_then(Value::as_str), Some("get-sum"));

        let audits = client.audits();
        let decisions: Vec<(String, Decision)> = audits
            .iter()
            .filter(|a| a.method == "tools/call")
            .map(|a| (a.target.clone(), a.decision))
            .collect();
        assert_eq!(
            decisions,
            [
                ("echo".to_owned(), Decision::Allow),
                ("get-sum".to_owned(), Decision::Deny)
            ]
        );
        client.stop().await;
    })
    .await
    .expect("bounded in time");
}

#[tokio::test]
#[ignore = "needs the reference MCP servers from npm; .ci/run runs it"]
async fn server_filesystem_denied_write_leaves_no_file() {
    tokio::time::timeout(LIMIT, async {
        let root = tempfile::tempdir().unwrap();
        let root_path = root.path().canonicalize().unwrap();
        let existing = root_path.join("notes.txt");
        std::fs::write(&existing, "talos was here\n").unwrap();
        let mut constraints = Map::new();
        constraints.insert(
            "paths".into(),
            Value::Array(vec![Value::from(format!("{}/**", root_path.display()))]),
        );
        let mut client = Client::start(
            server("server-filesystem", &[&root_path.display().to_string()]),
            "tool:read_text_file tool:read_file tool:list_directory",
            constraints,
            &[
                "read_text_file",
                "read_file",
                "list_directory",
                "write_file",
            ],
        );
        let init = client.initialize("2025-11-25").await;
        assert!(
            init.get("result").is_some(),
            "{}",
            init.to_canonical_string()
        );

        let list = client.call(2, "tools/list", "{}").await;
        let mut names = tool_names(&list);
        names.sort();
        assert!(!names.contains(&"write_file".to_owned()), "{names:?}");
        assert!(names.contains(&"read_text_file".to_owned()), "{names:?}");

        let read = client
            .call(
                3,
                "tools/call",
                &format!(
                    r#"{{"name":"read_text_file","arguments":{{"path":"{}"}}}}"#,
                    existing.display()
                ),
            )
            .await;
        assert!(
            read.to_canonical_string().contains("talos was here"),
            "{}",
            read.to_canonical_string()
        );

        let target = root_path.join("written.txt");
        let write = client
            .call(
                4,
                "tools/call",
                &format!(
                    r#"{{"name":"write_file","arguments":{{"path":"{}","content":"x"}}}}"#,
                    target.display()
                ),
            )
            .await;
        assert_eq!(
            error_code(&write),
            Some(-31403),
            "{}",
            write.to_canonical_string()
        );
        client.stop().await;
        assert!(!target.exists(), "a denied write_file reached the server");
    })
    .await
    .expect("bounded in time");
}

#[tokio::test]
async fn a_missing_program_is_an_error() {
    let process = ServerProcess::new("/nonexistent/talos-test-mcp-server", Vec::new());
    let (_client_link, server_link) = link_pair(1);
    let (events, _events_rx) = mpsc::channel(8);
    let key = SigningKey::from_seed(&[3; 32]);
    let tunnel = ServerTunnel::new(ServerConfig::new(key.clone(), key.verifying_key()));
    let guard = Arc::new(Mutex::new(Guard::new(
        Policy::from_toml("default_allow = false\n").unwrap(),
        RateConfig::default(),
    )));
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        serve(
            tunnel,
            guard,
            process,
            server_link,
            events,
            core::future::pending(),
        ),
    )
    .await
    .expect("bounded in time");
    assert!(matches!(
        result,
        Err(talos_node::mcp::McpError::Spawn { .. })
    ));
}
