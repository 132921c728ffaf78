#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! A capability revoked in the serving node's store (what `talos cap revoke` does on a running
//! node) is refused by the node's MCP tunnels from the next call on, including in a session
//! that already used it; the node's audit records go on after another writer (such a command)
//! appended to its ledger.

use core::time::Duration;

use talos_crypto::SigningKey;
use talos_ledger::entry::{Body, CapabilityIssued, Entry};
use talos_mcp::acl::rate::{RateConfig, RateLimit};
use talos_mcp::acl::revocation::Revocation;
use talos_mcp::acl::token::{CapabilityToken, TokenFields};
use talos_node::mcp::{ServerProcess, connect_peer, serve_peers};
use talos_node::node::NodeBuilder;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

fn call(id: u32, method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#) + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_capability_is_refused_by_a_running_tunnel() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let server = NodeBuilder::new()
            .identity_key(SigningKey::from_seed(&[0x51; 32]))
            .build()
            .await
            .unwrap();
        let client = NodeBuilder::new()
            .identity_key(SigningKey::from_seed(&[0xc1; 32]))
            .bootstrap(server.listen_addrs().await.unwrap())
            .build()
            .await
            .unwrap();
        let now = talos_node::now();
        let fields = TokenFields::new(
            server.did(),
            client.did(),
            "tool:echo",
            now.saturating_sub(Duration::from_secs(60)),
            now.saturating_add(Duration::from_secs(3600)),
        );
        let capability = CapabilityToken::issue(server.signing_key(), &fields).unwrap();
        let hash = *capability.capability_hash();
        let process = ServerProcess::new(
            env!("CARGO_BIN_EXE_talos").to_owned(),
            vec!["demo-tool-server".to_owned()],
        );
        let allow = vec![client.did().to_owned()];
        let rate = RateConfig {
            peer_limit: RateLimit {
                requests_per_second: 1_000,
                burst: 1_000,
                bytes_per_day: None,
            },
            ..RateConfig::default()
        };
        let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
        let (mut write, tunnel_in) = tokio::io::duplex(1 << 16);
        let (tunnel_out, client_out) = tokio::io::duplex(1 << 16);
        let mut read = BufReader::new(client_out);
        let server_did = server.did().to_owned();
        let script = async {
            let mut line = String::new();
            let init = call(
                0,
                "initialize",
                r#"{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}"#,
            );
            write.write_all(init.as_bytes()).await.unwrap();
            read.read_line(&mut line).await.unwrap();
            assert!(line.contains("protocolVersion"), "{line}");
            let echo = r#"{"name":"echo","arguments":{"message":"hi"}}"#;
            line.clear();
            write
                .write_all(call(1, "tools/call", echo).as_bytes())
                .await
                .unwrap();
            read.read_line(&mut line).await.unwrap();
            assert!(line.contains("echo: hi"), "allowed before: {line}");

            // Another writer of the node's ledger appends (as `talos cap issue` does through
            // the control socket) once the node has appended its audit of that call.
            let audited = loop {
                let size = server.store().ledger().unwrap().size();
                if size > 0 {
                    break size;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let entry = Entry::new(
                [7; 16],
                server.did(),
                audited,
                talos_node::now(),
                Body::CapabilityIssued(CapabilityIssued {
                    capability_hash: [9; 32],
                    issuer: server.did().to_owned(),
                    subject: server.did().to_owned(),
                    exp: talos_node::now(),
                }),
            )
            .unwrap();
            let mut other = server.store().ledger().unwrap();
            other.append_entry(&entry.to_cbor()).unwrap();
            drop(other);

            // The operator revokes it on the serving node.
            let revocation = Revocation::issue(
                server.signing_key(),
                hash,
                server.did(),
                talos_node::now(),
                Some("test"),
            )
            .unwrap();
            server
                .store()
                .put_revocation(&hash, &revocation.to_json())
                .unwrap();
            let mut id = 2;
            loop {
                line.clear();
                write
                    .write_all(call(id, "tools/call", echo).as_bytes())
                    .await
                    .unwrap();
                read.read_line(&mut line).await.unwrap();
                if !line.contains("echo: hi") {
                    break;
                }
                assert!(id < 40, "still allowed after 4 s: {line}");
                id += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(line.contains(r#""error""#), "{line}");
            assert!(!line.contains("echo: hi"), "{line}");
            // The node's audits after the other append went on (the node reopened its ledger).
            loop {
                if server.store().ledger().unwrap().size() >= audited + id as u64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            drop(write);
        };
        let (served, connected, ()) = tokio::join!(
            serve_peers(&server, process, &allow, rate, None, async {
                let _ = server_stopped.await;
            }),
            async {
                let result = connect_peer(
                    &client,
                    &server_did,
                    capability,
                    BufReader::new(tunnel_in),
                    tunnel_out,
                    core::future::pending(),
                )
                .await;
                let _ = stop_server.send(());
                result
            },
            script,
        );
        served.unwrap();
        connected.unwrap();
        client.shutdown().await;
        server.shutdown().await;
    })
    .await
    .expect("bounded in time");
}
