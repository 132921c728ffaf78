//! `node`: talos-node between nodes on loopback (issue 9's benchmark; not a timed test).
//!
//! Reports:
//! 1. **cold first message**: a node that has never met the peer sends it one message: DHT
//!    lookup of its DID, dial, X3DH from its published bundle, delivery and the signed
//!    receipt (median of [`COLD_RUNS`] fresh pairs; goal ≤ 50 ms);
//! 2. **1 KiB messages per second with receipts** between two nodes whose session exists,
//!    [`WINDOW`] sends in flight ([`MESSAGES`] messages; goal ≥ 20 000/s). Both nodes keep
//!    their state in redb data directories (in a temporary directory), so every message is
//!    committed on both sides before it is acknowledged;
//! 3. **MCP `tools/call` round trip** through both tunnels and both nodes to a trivial tool:
//!    an MCP client's line into `connect_peer`, the network, `serve_peers`, the MCP server
//!    process (this binary, run as `node trivial-mcp-server`: talos-node's
//!    `mcp::run_demo_server`, whose `echo` answers at once) and back ([`MCP_CALLS`] calls after a warm-up; p50 and p99; goal p50 ≤ 1 ms,
//!    p99 ≤ 5 ms);
//! 4. **resident memory per idle session**: the growth of this process's resident set when one
//!    messenger holds [`SESSIONS`] sessions (each started with X3DH and one message), divided
//!    by their number.
//!
//! Run: `cargo bench -p talos-node --bench node` (about a minute; not a criterion benchmark:
//! these are network round trips, reported as medians and percentiles). Names after `--`
//! (`cold`, `throughput`, `mcp`, `memory`) run only those parts.

// Benchmark code, not library code: a failed step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;
use std::time::Instant;

use futures::StreamExt as _;
use talos_crypto::{SigningKey, Timestamp};
use talos_node::messenger::Messenger;
use talos_node::node::{Node, NodeBuilder, NodeConfig, init_identity};
use talos_node::store::Store;
use talos_ratchet::PrekeyStore;

/// Fresh pairs timed for the cold first message.
const COLD_RUNS: usize = 7;
/// Messages timed for the throughput.
const MESSAGES: usize = 50_000;
/// Sends in flight.
const WINDOW: usize = 1024;
/// MCP calls timed.
const MCP_CALLS: usize = 2_000;
/// Sessions held for the memory measurement.
const SESSIONS: usize = 10_000;

fn config() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.send_timeout = Duration::from_secs(30);
    // The default inbound limit (10 000 messages/s per peer) would cap the throughput
    // measured: a node that expects such a peer raises it.
    config.inbound_rate.peer_limit = talos_mcp::acl::rate::RateLimit {
        requests_per_second: 1_000_000,
        burst: 1_000_000,
        bytes_per_day: None,
    };
    config
}

/// A node with its state in `dir`, bootstrapped off `bootstrap`.
async fn start(dir: &std::path::Path, bootstrap: Vec<libp2p::Multiaddr>) -> Node {
    let store = Store::open(dir).unwrap();
    init_identity(&store, talos_node::identity::Protection::Unencrypted).unwrap();
    drop(store);
    NodeBuilder::new()
        .data_dir(dir)
        .bootstrap(bootstrap)
        .config(config())
        .build()
        .await
        .unwrap()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Resident set size of this process, in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

async fn cold_first_message(tmp: &std::path::Path) -> Duration {
    let mut times = Vec::with_capacity(COLD_RUNS);
    for run in 0..COLD_RUNS {
        let b = start(&tmp.join(format!("cold-b{run}")), Vec::new()).await;
        let a = start(
            &tmp.join(format!("cold-a{run}")),
            b.listen_addrs().await.unwrap(),
        )
        .await;
        // B's record is in the DHT (B published it; A joined through B).
        let t = Instant::now();
        a.send(b.did(), b"first").await.unwrap();
        times.push(t.elapsed());
        a.shutdown().await;
        b.shutdown().await;
    }
    eprintln!("cold first message runs: {times:?}");
    median(&mut times)
}

async fn throughput(tmp: &std::path::Path) -> f64 {
    let b = start(&tmp.join("tp-b"), Vec::new()).await;
    let a = start(&tmp.join("tp-a"), b.listen_addrs().await.unwrap()).await;
    a.send(b.did(), b"hello").await.unwrap();
    let body = vec![0x5a_u8; 1024];
    let to = b.did().to_owned();
    let t = Instant::now();
    let delivered = futures::stream::iter(0..MESSAGES)
        .map(|_| a.send(&to, &body))
        .buffer_unordered(WINDOW)
        .filter(|r| core::future::ready(r.is_ok()))
        .count()
        .await;
    let elapsed = t.elapsed();
    assert_eq!(delivered, MESSAGES, "every message acknowledged");
    a.shutdown().await;
    b.shutdown().await;
    MESSAGES as f64 / elapsed.as_secs_f64()
}

fn memory_per_session() -> f64 {
    use talos_crypto::SeedableRng as _;
    let mut rng = talos_crypto::ChaCha20Rng::from_seed([7; 32]);
    let now = Timestamp::from_millis(1_767_225_600_000);
    let mut messenger = Messenger::new(PrekeyStore::new(
        SigningKey::from_seed(&[0xee; 32]),
        &mut rng,
    ));
    // Each peer's prekeys are made and dropped in turn, so the heap grows by what the
    // messenger keeps: the sessions (and their peers' DIDs).
    let mut session = |i: usize, rng: &mut talos_crypto::ChaCha20Rng| {
        let mut seed = [0_u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        let mut store = PrekeyStore::new(SigningKey::from_seed(&seed), rng);
        let one_time = store.generate_one_time_prekeys(1, rng).unwrap();
        let bundle = store.bundle(one_time.first().map(|k| k.id)).unwrap();
        let did = talos_did::Did::from(store.identity_key()).to_string();
        messenger
            .seal(&did, Some(&bundle), b"hello", now, rng)
            .unwrap();
    };
    // Warm the allocator up, then measure.
    for i in 0..SESSIONS / 10 {
        session(i, &mut rng);
    }
    let before = rss();
    for i in SESSIONS / 10..SESSIONS {
        session(i, &mut rng);
    }
    let after = rss();
    after.saturating_sub(before) as f64 / (SESSIONS - SESSIONS / 10) as f64
}

/// p50 and p99 of the MCP round trip between two nodes.
async fn mcp_round_trip(tmp: &std::path::Path) -> (Duration, Duration) {
    use talos_mcp::acl::token::{CapabilityToken, TokenFields};
    use talos_node::mcp::{ServerProcess, connect_peer, serve_peers};
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

    let server = start(&tmp.join("mcp-s"), Vec::new()).await;
    let client = start(&tmp.join("mcp-c"), server.listen_addrs().await.unwrap()).await;
    let now = talos_node::now();
    let fields = TokenFields::new(
        server.did(),
        client.did(),
        "tool:echo",
        now.saturating_sub(Duration::from_secs(60)),
        now.saturating_add(Duration::from_secs(3600)),
    );
    let capability = CapabilityToken::issue(server.signing_key(), &fields).unwrap();
    let exe = std::env::current_exe().unwrap().display().to_string();
    let process = ServerProcess::new(exe, vec!["trivial-mcp-server".to_owned()]);
    let allow = vec![client.did().to_owned()];
    // The default limit (100 calls/s) would deny most of a benchmark's calls.
    let mut rate = talos_mcp::acl::rate::RateConfig::default();
    rate.peer_limit = talos_mcp::acl::rate::RateLimit {
        requests_per_second: 1_000_000,
        burst: 1_000_000,
        bytes_per_day: None,
    };
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let (client_in, tunnel_in) = tokio::io::duplex(1 << 16);
    let (tunnel_out, client_out) = tokio::io::duplex(1 << 16);
    let server_did = server.did().to_owned();
    let (mut write, mut read) = (client_in, tokio::io::BufReader::new(client_out));
    let timed = async {
        let mut line = String::new();
        let call = |id: usize, method: &str, params: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#) + "\n"
        };
        let init = call(
            0,
            "initialize",
            r#"{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}"#,
        );
        write.write_all(init.as_bytes()).await.unwrap();
        read.read_line(&mut line).await.unwrap();
        assert!(line.contains("protocolVersion"), "{line}");
        let mut times = Vec::with_capacity(MCP_CALLS);
        for id in 1..=(MCP_CALLS + MCP_CALLS / 10) {
            let request = call(
                id,
                "tools/call",
                r#"{"name":"echo","arguments":{"message":"hi"}}"#,
            );
            line.clear();
            let t = Instant::now();
            write.write_all(request.as_bytes()).await.unwrap();
            read.read_line(&mut line).await.unwrap();
            let elapsed = t.elapsed();
            assert!(line.contains(r#""text":"echo: hi""#), "{line}");
            if id > MCP_CALLS / 10 {
                times.push(elapsed);
            }
        }
        drop(write);
        times
    };
    let (served, connected, mut times) = tokio::join!(
        serve_peers(&server, process, &allow, rate, None, async {
            let _ = server_stopped.await;
        }),
        async {
            let result = connect_peer(
                &client,
                &server_did,
                capability,
                tokio::io::BufReader::new(tunnel_in),
                tunnel_out,
                core::future::pending(),
            )
            .await;
            let _ = stop_server.send(());
            result
        },
        timed,
    );
    served.unwrap();
    connected.unwrap();
    client.shutdown().await;
    server.shutdown().await;
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("trivial-mcp-server") {
        let stdin = std::io::stdin().lock();
        talos_node::mcp::run_demo_server(stdin, std::io::stdout().lock()).unwrap();
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

/// Whether the part `name` runs: all of them, or those named on the command line
/// (`cargo bench -p talos-node --bench node -- throughput mcp`).
fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

async fn run() {
    let tmp = tempfile::tempdir().unwrap();
    println!(
        "talos-node on loopback, state in redb under {}",
        tmp.path().display()
    );
    if selected("cold") {
        let cold = cold_first_message(tmp.path()).await;
        println!(
            "cold first message (DHT lookup, X3DH, receipt): median {:.1} ms (goal <= 50 ms)",
            cold.as_secs_f64() * 1e3
        );
    }
    if selected("throughput") {
        let rate = throughput(tmp.path()).await;
        println!(
            "1 KiB messages with signed receipts, {WINDOW} in flight: {rate:.0}/s (goal >= 20000/s)"
        );
    }
    if selected("mcp") {
        let (p50, p99) = mcp_round_trip(tmp.path()).await;
        println!(
            "MCP tools/call round trip through both nodes to a trivial tool: p50 {:.2} ms, p99 {:.2} ms \
             (goals <= 1 ms, <= 5 ms)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    if selected("memory") {
        let per_session = memory_per_session();
        println!(
            "resident memory per idle session: {:.2} KiB (growth over the last 90 % of {SESSIONS} sessions in one messenger)",
            per_session / 1024.0
        );
    }
}
