#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![cfg(unix)]
//! Crash safety with real processes: an embedded node A sends a stream of messages, eight at a
//! time, to a `talos listen` process B; midway B is killed with SIGKILL and restarted on the
//! same data directory and port. Every message A got a signed receipt for is in B's history
//! (once), the messages A was sending at the kill are retried and delivered, B's ledger
//! verifies, and A's session with B carries on.

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

mod common;

use common::{Process, ok};

use talos_crypto::json::{self, Value};
use talos_node::identity::Protection;
use talos_node::node::{MessageId, NodeBuilder, NodeConfig, NodeError, NodeEvent, init_identity};
use talos_node::store::{Direction, Status, Store};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{Semaphore, mpsc};

/// The whole test.
const LIMIT: Duration = Duration::from_secs(120);
/// Messages in the stream.
const COUNT: usize = 200;
/// Sends in flight at once.
const CONCURRENCY: usize = 8;
/// Receipts before B is killed.
const KILL_AFTER: usize = 60;

/// A `talos listen` on `listen`, its stderr in a log file next to its data directory (what it
/// prints per message is not needed, and a full pipe would block it).
fn listener(dir: &Path, listen: &str, bootstrap: Option<&str>, log: &str) -> Process {
    let log = std::fs::File::create(dir.with_extension(log)).unwrap();
    let mut args = vec!["listen", "--listen", listen];
    if let Some(addr) = bootstrap {
        args.extend(["--bootstrap", addr]);
    }
    Process::start(dir, &args, Stdio::null(), Stdio::from(log))
}

/// The TCP port of a `/ip4/…/tcp/PORT/p2p/…` address.
fn port_of(addr: &str) -> u16 {
    let mut parts = addr.split('/');
    parts.find(|p| *p == "tcp").unwrap();
    parts.next().unwrap().parse().unwrap()
}

/// How long B stays down: longer than a send's timeout, so the sends in flight at the kill
/// return without a receipt and are left to A's retries.
const DOWN: Duration = Duration::from_secs(2);

/// Short send timeout and fast retries.
fn config() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.send_timeout = Duration::from_millis(1500);
    config.retry_base = Duration::from_millis(200);
    config.retry_max = Duration::from_secs(1);
    config.retry_tick = Duration::from_millis(100);
    config
        .network
        .set_request_timeout(Duration::from_secs(3))
        .set_query_timeout(Duration::from_secs(3));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_receiver_mid_stream() {
    tokio::time::timeout(LIMIT, run())
        .await
        .expect("test timed out");
}

async fn run() {
    let root = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (root.path().join("a"), root.path().join("b"));
    let b_did = ok(&b_dir, &["init", "--no-passphrase"]).trim().to_owned();
    let mut b = listener(&b_dir, "/ip4/127.0.0.1/tcp/0", None, "log1");
    let b_addr = b.addr();
    let b_listen = format!("/ip4/127.0.0.1/tcp/{}", port_of(&b_addr));

    let a_did = {
        let store = Store::open(&a_dir).unwrap();
        init_identity(&store, Protection::Unencrypted)
            .unwrap()
            .did()
            .to_string()
    };
    let a = NodeBuilder::new()
        .data_dir(&a_dir)
        .bootstrap(vec![b_addr.parse().unwrap()])
        .config(config())
        .build()
        .await
        .unwrap();
    assert_eq!(a.did(), a_did);
    let a_addr = a.listen_addrs().await.unwrap().remove(0).to_string();

    // The first message starts the session (DHT lookup, X3DH).
    let mut delivered: BTreeMap<MessageId, String> = BTreeMap::new();
    let first = "before the stream".to_owned();
    let id = a
        .send_with_timeout(&b_did, first.as_bytes(), Duration::from_secs(30))
        .await
        .unwrap();
    delivered.insert(id, first);
    let peers = a.peers().await.unwrap();
    assert!(
        peers.iter().any(|p| p.did == b_did && p.session),
        "{peers:?}"
    );

    // B's operator issues A a capability and revokes it (through B's control socket): two
    // entries in B's ledger before the crash.
    let cap_file = root.path().join("a.cap");
    let issued = ok(
        &b_dir,
        &[
            "--json",
            "cap",
            "issue",
            "--to",
            &a_did,
            "--allow-tool",
            "echo",
            "--ttl",
            "600",
            "--out",
            cap_file.to_str().unwrap(),
        ],
    );
    let hash = json::parse(issued.as_bytes())
        .unwrap()
        .get("capability_hash")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    ok(&b_dir, &["cap", "revoke", &hash, "--reason", "crash test"]);

    let mut events = a.events();

    // The stream: COUNT sends, CONCURRENCY at a time, each reporting its outcome.
    let a = Arc::new(a);
    let receipts = Arc::new(AtomicUsize::new(0));
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let (report, mut outcomes) = mpsc::unbounded_channel();
    for i in 0..COUNT {
        let (a, receipts, permits, report) = (
            Arc::clone(&a),
            Arc::clone(&receipts),
            Arc::clone(&permits),
            report.clone(),
        );
        let to = b_did.clone();
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let body = format!("message {i:03} of the stream");
            let result = a.send(&to, body.as_bytes()).await;
            if result.is_ok() {
                receipts.fetch_add(1, Ordering::SeqCst);
            }
            let _ = report.send((body, result));
        });
    }
    drop(report);

    // The crash: after KILL_AFTER receipts, SIGKILL B (sends are in flight), then restart it
    // on the same data directory and port, joining A again.
    let crash = {
        let receipts = Arc::clone(&receipts);
        let b_dir = b_dir.clone();
        let a_addr = a_addr.clone();
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            while receipts.load(Ordering::SeqCst) < KILL_AFTER {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "fewer than {KILL_AFTER} receipts"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            let status = b.kill();
            assert_eq!(status.signal(), Some(9), "{status}");
            let at_kill = receipts.load(Ordering::SeqCst);
            std::thread::sleep(DOWN);
            let mut b = listener(&b_dir, &b_listen, Some(&a_addr), "log2");
            let addr = b.addr();
            (b, addr, at_kill)
        })
    };

    let mut queued: Vec<(MessageId, String)> = Vec::new();
    while let Some((body, result)) = outcomes.recv().await {
        match result {
            Ok(id) => assert!(delivered.insert(id, body).is_none(), "id reused"),
            // No receipt in time: queued, and retried by A's node.
            Err(NodeError::NotDelivered { id, .. }) => queued.push((id, body)),
            Err(error) => panic!("send of {body:?} failed: {error}"),
        }
    }
    let (b, b_addr_again, at_kill) = crash.await.unwrap();
    assert_eq!(b_addr_again, b_addr, "B restarted on another address");
    assert!(
        at_kill < COUNT,
        "B was killed after the stream ({at_kill} receipts)"
    );
    eprintln!(
        "{} receipts ({at_kill} before the kill), {} queued for retry",
        delivered.len(),
        queued.len()
    );
    // Sends were in flight at the kill: they had no receipt in time and were queued.
    assert!(!queued.is_empty());

    // The queued messages: A's node retries them until B's receipts come back.
    let start = Instant::now();
    loop {
        let history = a.history(Some(&b_did)).unwrap();
        if history.iter().all(|e| e.status == Status::Delivered) {
            assert_eq!(history.len(), 1 + COUNT);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "queued messages not delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.store().queued().unwrap().is_empty());

    // The session continues: one more message, on the same session (A has exactly one, with
    // B, and never dropped it).
    let last = "after the restart".to_owned();
    let id = a
        .send_with_timeout(&b_did, last.as_bytes(), Duration::from_secs(30))
        .await
        .unwrap();
    delivered.insert(id, last);
    assert_eq!(a.store().sessions().unwrap(), vec![b_did.clone()]);
    let peers = a.peers().await.unwrap();
    assert!(
        peers.iter().any(|p| p.did == b_did && p.session),
        "{peers:?}"
    );
    // A saw the connection to B cut by the kill, and each queued message delivered.
    let mut cut = false;
    let mut retried = BTreeSet::new();
    loop {
        match events.try_recv() {
            Ok(NodeEvent::PeerDisconnected { did }) if did == b_did => cut = true,
            Ok(NodeEvent::Delivered { id, .. }) => {
                retried.insert(id);
            }
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    assert!(cut, "A never saw B disconnect");
    assert!(queued.iter().all(|(id, _)| retried.contains(id)));
    Arc::try_unwrap(a).unwrap().shutdown().await;
    b.stop();

    // B's history: every message A got a receipt for, each once, with its body; and the
    // queued ones too.
    let text = ok(&b_dir, &["--json", "history"]);
    let Value::Array(entries) = json::parse(text.as_bytes()).unwrap() else {
        panic!("history is not a JSON array: {text}");
    };
    let mut received: BTreeMap<String, String> = BTreeMap::new();
    let mut bodies = BTreeSet::new();
    for entry in &entries {
        let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap().to_owned();
        assert_eq!(field("direction"), "incoming");
        assert_eq!(field("status"), "received");
        assert_eq!(field("peer"), a_did);
        assert!(bodies.insert(field("text")), "duplicate body {entry:?}");
        assert!(
            received.insert(field("id"), field("text")).is_none(),
            "duplicate id {entry:?}"
        );
    }
    for (id, body) in &delivered {
        assert_eq!(
            received.get(&id.to_string()),
            Some(body),
            "message {id} ({body:?}) had a receipt but is not in B's history"
        );
    }
    for (id, body) in &queued {
        assert_eq!(received.get(&id.to_string()), Some(body), "queued {id}");
    }
    assert_eq!(received.len(), COUNT + 2);
    let store = Store::open(&a_dir).unwrap();
    assert!(
        store
            .history(None)
            .unwrap()
            .iter()
            .all(|e| e.direction == Direction::Outgoing && e.status == Status::Delivered)
    );
    drop(store);

    // B's ledger verifies, with the two entries it had before the crash; B still has
    // exactly one session, with A.
    let verified = ok(&b_dir, &["ledger", "verify"]);
    assert!(verified.starts_with("ledger ok: 2 entries"), "{verified}");
    ok(&b_dir, &["ledger", "prove", "1"]);
    let peers = ok(&b_dir, &["peers"]);
    assert_eq!(peers.trim(), a_did, "{peers}");
}
