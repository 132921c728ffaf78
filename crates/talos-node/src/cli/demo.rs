//! `talos demo`: a local network of three nodes in one process, on loopback, printed as a
//! transcript: discovery through the DHT, an X3DH session, messages both ways, a file transfer,
//! an MCP tool call allowed and one denied by capability, and the ledger's checkpoints with an
//! inclusion proof and a consistency proof checked by a light client.
//!
//! The nodes keep their state in a temporary directory, removed at the end. The MCP server is
//! this binary itself (`talos demo-tool-server`, hidden): `talos_node::mcp::run_demo_server`.

use core::time::Duration;
use std::io::Write;

use talos_crypto::json::{self, Value};
use talos_crypto::{SigningKey, Zeroizing};
use talos_did::DidKey;
use talos_ledger::checkpoint::CheckpointSigner;
use talos_ledger::entry::{Body, Entry};
use talos_ledger::light::{LightClient, Update};
use talos_mcp::acl::rate::RateConfig;
use talos_mcp::acl::token::{CapabilityToken, TokenFields};
use talos_node::mcp::{ServerProcess, connect_peer, serve_peers};
use talos_node::node::{Node, NodeBuilder, NodeConfig, NodeEvent};
use talos_node::store::Store;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use super::{CliError, ledger};
use talos_node::now;

/// The whole demo must finish within this.
const LIMIT: Duration = Duration::from_secs(120);

/// Prints one line of the transcript.
fn say(out: &mut dyn Write, line: &str) -> Result<(), CliError> {
    writeln!(out, "{line}").map_err(|e| CliError::new(format!("cannot write: {e}")))
}

fn short(did: &str) -> String {
    let tail = did.len().saturating_sub(6);
    format!(
        "{}…{}",
        did.get(..16).unwrap_or(did),
        did.get(tail..).unwrap_or("")
    )
}

/// A node with its state in `dir` and a fresh identity key (held in memory only).
async fn start(dir: &std::path::Path, bootstrap: Vec<libp2p::Multiaddr>) -> Result<Node, CliError> {
    let mut seed = Zeroizing::new([0_u8; 32]);
    getrandom::fill(&mut seed[..]).map_err(|e| CliError::new(format!("no randomness: {e}")))?;
    Ok(NodeBuilder::new()
        .store(Store::open(dir)?)
        .identity_key(SigningKey::from_seed(&seed))
        .bootstrap(bootstrap)
        .config(NodeConfig::default())
        .build()
        .await?)
}

/// Runs the demo, printing its transcript on `out`.
pub(crate) async fn run(out: &mut dyn Write) -> Result<(), CliError> {
    tokio::time::timeout(LIMIT, demo(out))
        .await
        .map_err(|_| CliError::new(format!("the demo did not finish within {LIMIT:?}")))?
}

#[allow(clippy::too_many_lines)] // one story, told in order
async fn demo(out: &mut dyn Write) -> Result<(), CliError> {
    let tmp = tempfile::tempdir().map_err(|e| CliError::new(format!("temp dir: {e}")))?;
    say(
        out,
        "== Talos demo: three nodes on 127.0.0.1, one process ==",
    )?;

    // 1. The network.
    let alice = start(&tmp.path().join("alice"), Vec::new()).await?;
    let bootstrap = alice.listen_addrs().await?;
    let bob = start(&tmp.path().join("bob"), bootstrap.clone()).await?;
    let carol = start(&tmp.path().join("carol"), bootstrap.clone()).await?;
    say(out, &format!("alice {} (bootstrap)", alice.did()))?;
    say(out, &format!("bob   {}", bob.did()))?;
    say(out, &format!("carol {}", carol.did()))?;

    // 2. Discovery: Bob finds Carol's signed record through the DHT.
    let carol_key: DidKey = carol
        .did()
        .parse()
        .map_err(|_| CliError::new("carol's DID"))?;
    let record = bob.network().resolve(&carol_key).await?;
    say(
        out,
        &format!(
            "\n[dht] bob resolved {} through the DHT: signed record seq {}, {} address(es), \
             signed prekey {}",
            short(carol.did()),
            record.fields().seq,
            record.fields().addresses.len(),
            record.fields().prekeys.signed.id
        ),
    )?;

    // 3. An X3DH session and messages both ways, each acknowledged by a signed receipt.
    let mut carol_events = carol.events();
    let mut bob_events = bob.events();
    let id = bob.send(carol.did(), b"hello carol, this is bob").await?;
    say(
        out,
        &format!(
            "[x3dh] bob started a session from carol's published prekeys; message {id} \
             delivered, signed receipt received"
        ),
    )?;
    let got = received(&mut carol_events, bob.did()).await?;
    say(out, &format!("[msg] carol got: {got:?}"))?;
    carol.send(bob.did(), b"hi bob, carol here").await?;
    let got = received(&mut bob_events, carol.did()).await?;
    say(
        out,
        &format!("[msg] bob got:   {got:?} (the reply rides the same ratchet)"),
    )?;

    // 4. A file, through the same session: chunked, each chunk acknowledged, the whole
    //    checked against the BLAKE3 hash in the signed announcement.
    let file = tmp.path().join("report.txt");
    let contents: Vec<u8> = (0..3_000_000_u32)
        .map(|i| b"talos moves files in verified chunks\n"[(i % 37) as usize])
        .collect();
    std::fs::write(&file, &contents).map_err(|e| CliError::new(format!("demo file: {e}")))?;
    let receipt = bob.send_file(carol.did(), &file).await?;
    let arrived = loop {
        match carol_events.recv().await {
            Ok(NodeEvent::File {
                path, size, hash, ..
            }) => break (path, size, hash),
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return Err(CliError::new("carol stopped"));
            }
        }
    };
    let same = std::fs::read(&arrived.0).map_err(|e| CliError::new(format!("{e}")))? == contents;
    say(
        out,
        &format!(
            "\n[file] bob sent {} bytes in {} chunks; carol verified blake3 {}… and stored {}: \
             identical {same}",
            receipt.size,
            receipt.chunks,
            hex8(&arrived.2),
            arrived.0.display()
        ),
    )?;
    if !same || arrived.1 != receipt.size {
        return Err(CliError::new("the file did not arrive intact"));
    }

    // 5. MCP: Carol serves a tool server to Bob; Bob's capability allows only `echo`.
    let at = now();
    let fields = TokenFields::new(
        carol.did(),
        bob.did(),
        "tool:echo",
        at.saturating_sub(Duration::from_secs(60)),
        at.saturating_add(Duration::from_secs(600)),
    );
    let capability = CapabilityToken::issue(carol.signing_key(), &fields)
        .map_err(|e| CliError::new(format!("capability: {e}")))?;
    say(
        out,
        &format!(
            "\n[cap] carol issued bob a capability for tool:echo (hash {}…)",
            hex8(capability.capability_hash())
        ),
    )?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find this program: {e}")))?;
    let process = ServerProcess::new(exe.display().to_string(), vec!["demo-tool-server".into()]);
    let allow = vec![bob.did().to_owned()];
    let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
    let (client_in, tunnel_in) = tokio::io::duplex(1 << 16);
    let (tunnel_out, client_out) = tokio::io::duplex(1 << 16);
    let carol_did = carol.did().to_owned();
    let mut transcript = Vec::new();
    let mcp_client = async {
        let mut write = client_in;
        let mut read = BufReader::new(client_out);
        let requests = [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"demo","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello through two nodes"}}}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"delete_everything","arguments":{}}}"#,
        ];
        for request in requests {
            write.write_all(request.as_bytes()).await?;
            write.write_all(b"\n").await?;
            let mut line = String::new();
            read.read_line(&mut line).await?;
            transcript.push(line);
        }
        drop(write);
        Ok::<(), std::io::Error>(())
    };
    let (served, connected, talked) = tokio::join!(
        serve_peers(
            &carol,
            process,
            &allow,
            RateConfig::default(),
            None,
            async {
                let _ = serving_stopped.await;
            }
        ),
        async {
            let result = connect_peer(
                &bob,
                &carol_did,
                capability,
                BufReader::new(tunnel_in),
                tunnel_out,
                core::future::pending(),
            )
            .await;
            let _ = stop_serving.send(());
            result
        },
        mcp_client,
    );
    served.map_err(|e| CliError::new(format!("mcp-serve: {e}")))?;
    connected.map_err(|e| CliError::new(format!("mcp-connect: {e}")))?;
    talked.map_err(|e| CliError::new(format!("mcp client: {e}")))?;
    let answers: Vec<Value> = transcript
        .iter()
        .map(|l| json::parse(l.trim().as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::new(format!("mcp answer: {e}")))?;
    let tools: Vec<&str> = match answers.get(1).and_then(|a| a.get("result")?.get("tools")) {
        Some(Value::Array(tools)) => tools
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    say(
        out,
        &format!(
            "[mcp] tools/list through the tunnel: {tools:?} (the server has echo and delete_everything; the list is filtered to the capability)"
        ),
    )?;
    if tools != ["echo"] {
        return Err(CliError::new("the tool list was not filtered"));
    }
    let allowed = answers
        .get(2)
        .and_then(|a| a.get("result")?.get("content"))
        .map(Value::to_canonical_string)
        .unwrap_or_default();
    say(out, &format!("[mcp] tools/call echo: allowed → {allowed}"))?;
    let denied = answers.get(3).and_then(|a| a.get("error"));
    let code = denied
        .and_then(|e| e.get("code"))
        .map(Value::to_canonical_string);
    say(
        out,
        &format!(
            "[mcp] tools/call delete_everything: denied → code {} {}",
            code.as_deref().unwrap_or("?"),
            denied
                .and_then(|e| e.get("data"))
                .map(Value::to_canonical_string)
                .unwrap_or_default()
        ),
    )?;
    if code.as_deref() != Some("-31403") || !allowed.contains("echo: hello") {
        return Err(CliError::new("the MCP calls were not decided as expected"));
    }

    // 6. The ledger: both decisions are entries of carol's audit log; a light client that
    //    trusts carol's log key checks inclusion and consistency.
    let ledger = carol
        .store()
        .ledger()
        .map_err(|e| CliError::new(format!("ledger: {e}")))?;
    let size = ledger.size();
    say(
        out,
        &format!("\n[ledger] carol's audit ledger holds {size} entries:"),
    )?;
    for index in 0..size {
        let bytes = ledger.entry(index)?.unwrap_or_default();
        let entry = Entry::from_cbor(&bytes).map_err(|e| CliError::new(format!("entry: {e}")))?;
        if let Body::ToolCall(call) = entry.body() {
            say(
                out,
                &format!(
                    "  #{index} tool {} decision {:?}, request {}…",
                    call.tool(),
                    call.decision(),
                    hex8(call.request_hash())
                ),
            )?;
        }
    }
    if size < 2 {
        return Err(CliError::new("the ledger does not hold both decisions"));
    }
    let origin = ledger::origin(carol.did());
    let mut signer = CheckpointSigner::new(&origin, carol.signing_key().clone())
        .map_err(|e| CliError::new(format!("checkpoint: {e}")))?;
    let mut client = LightClient::new(4);
    client
        .add_log_key(signer.verifier())
        .map_err(|e| CliError::new(format!("light client: {e}")))?;
    let log = ledger.log();
    let first = talos_ledger::checkpoint::Checkpoint::new(&origin, 1, log.root_at(1).map_err(err)?)
        .map_err(err)?;
    let note = signer.sign(&first, &[]).map_err(err)?;
    let update = client.update(&note.to_bytes(), &[]).map_err(err)?;
    say(
        out,
        &format!("[light] checkpoint of size 1 signed by carol: {update:?}"),
    )?;
    let latest = signer.sign_log(log).map_err(err)?;
    let proof = log.consistency_proof(1, size).map_err(err)?;
    let update = client.update(&latest.to_bytes(), &proof).map_err(err)?;
    say(
        out,
        &format!(
            "[light] checkpoint of size {size}: consistency proof ({} hashes) verified → {update:?}",
            proof.len()
        ),
    )?;
    if update != Update::Advanced {
        return Err(CliError::new("the light client did not advance"));
    }
    let last = size - 1;
    let entry = ledger.entry(last)?.unwrap_or_default();
    let inclusion = log.inclusion_proof(last, size).map_err(err)?;
    client
        .verify_entry(&origin, &entry, last, &inclusion)
        .map_err(err)?;
    say(
        out,
        &format!(
            "[light] inclusion proof of entry #{last} ({} hashes) verified against it",
            inclusion.len()
        ),
    )?;
    say(
        out,
        &format!(
            "\n{}",
            String::from_utf8_lossy(&latest.to_bytes()).trim_end()
        ),
    )?;
    drop(ledger);

    for node in [bob, carol, alice] {
        node.shutdown().await;
    }
    say(out, "\n== done: every step checked ==")?;
    Ok(())
}

/// The next message from `from`, as text.
async fn received(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    from: &str,
) -> Result<String, CliError> {
    loop {
        match events.recv().await {
            Ok(NodeEvent::Message { from: f, body, .. }) if f == from => {
                return Ok(String::from_utf8_lossy(&body).into_owned());
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return Err(CliError::new("the node stopped"));
            }
        }
    }
}

fn hex8(bytes: &[u8]) -> String {
    talos_crypto::hash::to_hex(bytes.get(..4).unwrap_or(bytes))
}

fn err(e: impl core::fmt::Display) -> CliError {
    CliError::new(e.to_string())
}
