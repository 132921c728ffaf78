#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Ten nodes on loopback: bootstrap off node 0, DIDs resolved through the DHT, sessions and
//! receipts between random pairs, a forged DHT record refused, and a node restarted on its
//! data directory continuing its sessions.

use core::time::Duration;
use std::path::Path;

use talos_crypto::{SigningKey, Timestamp};
use talos_did::DidKey;
use talos_did::record::{DiscoveryRecord, Prekeys, RecordFields, SignedPrekey};
use talos_node::identity::Protection;
use talos_node::net;
use talos_node::node::{Node, NodeBuilder, NodeConfig, NodeError, NodeEvent, init_identity};
use talos_node::now;
use talos_node::store::{Direction, Status, Store};
use tokio::sync::broadcast;

const LIMIT: Duration = Duration::from_secs(240);
const COUNT: usize = 10;

fn config() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.send_timeout = Duration::from_secs(30);
    config
}

async fn start(dir: &Path, bootstrap: Vec<libp2p::Multiaddr>) -> Node {
    NodeBuilder::new()
        .data_dir(dir)
        .bootstrap(bootstrap)
        .config(config())
        .build()
        .await
        .unwrap()
}

/// Waits for the message `body` from `from`.
async fn received(events: &mut broadcast::Receiver<NodeEvent>, from: &str, body: &[u8]) {
    loop {
        match events.recv().await.unwrap() {
            NodeEvent::Message {
                from: f, body: b, ..
            } if f == from && b == body => return,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_nodes() {
    tokio::time::timeout(LIMIT, run())
        .await
        .expect("test timed out");
}

async fn run() {
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..COUNT)
        .map(|i| root.path().join(format!("n{i}")))
        .collect();
    for dir in &dirs {
        let store = Store::open(dir).unwrap();
        init_identity(&store, Protection::Unencrypted).unwrap();
    }
    let mut nodes: Vec<Node> = Vec::new();
    nodes.push(start(&dirs[0], vec![]).await);
    let seed_addr = nodes[0].listen_addrs().await.unwrap().remove(0);
    for dir in &dirs[1..] {
        nodes.push(start(dir, vec![seed_addr.clone()]).await);
    }
    let dids: Vec<String> = nodes.iter().map(|n| n.did().to_owned()).collect();
    let mut events: Vec<_> = nodes.iter().map(Node::events).collect();

    // Random pairs (fixed seed): each send resolves, starts or continues a session, and
    // returns with the receipt.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64: a fixed, reproducible sequence.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % COUNT as u64).unwrap()
    };
    let mut pairs: Vec<(usize, usize)> = vec![(3, 4), (5, 3)];
    while pairs.len() < 14 {
        let a = next();
        let b = next();
        if a != b {
            pairs.push((a, b));
        }
    }
    for (k, &(a, b)) in pairs.iter().enumerate() {
        let body = format!("message {k} from {a} to {b}");
        let id = nodes[a].send(&dids[b], body.as_bytes()).await.unwrap();
        received(&mut events[b], &dids[a], body.as_bytes()).await;
        let sent = nodes[a].history(Some(&dids[b])).unwrap();
        let entry = sent.iter().find(|e| e.id == id).unwrap();
        assert_eq!(
            (entry.direction, entry.status),
            (Direction::Outgoing, Status::Delivered)
        );
        let got = nodes[b].history(Some(&dids[a])).unwrap();
        assert!(
            got.iter()
                .any(|e| e.id == id && e.status == Status::Received)
        );
    }

    // A forged record under node 7's key (another identity's record): refused by every
    // peer; node 2 still resolves node 7's own record and reaches it.
    let d7: DidKey = dids[7].parse().unwrap();
    let forger = SigningKey::from_seed(&[99; 32]);
    let issued_at = now();
    let forged = DiscoveryRecord::sign(
        RecordFields {
            seq: u64::MAX >> 12,
            issued_at,
            expires_at: Timestamp::from_millis(issued_at.as_millis() + 3_600_000),
            addresses: vec!["/ip4/127.0.0.1/tcp/9".into()],
            tools: vec![],
            prekeys: Prekeys {
                signed: SignedPrekey::sign(
                    &forger,
                    1,
                    talos_crypto::x25519::StaticSecret::from_bytes([7; 32]).public_key(),
                ),
                one_time: vec![],
                pq: None,
            },
            puzzle_nonce: None,
        },
        &forger,
    )
    .unwrap();
    nodes[5]
        .network()
        .put_unchecked(net::record_key(&d7).to_vec(), forged.to_cbor())
        .await
        .ok();
    let found = nodes[2].network().resolve(&d7).await.unwrap();
    assert_eq!(found.did(), d7);
    nodes[2].send(&dids[7], b"after the forgery").await.unwrap();
    received(&mut events[7], &dids[2], b"after the forgery").await;

    // Node 3 restarts on its data directory (a new port): its sessions go on both ways.
    let before = nodes[3].history(None).unwrap().len();
    let old = nodes.remove(3);
    old.shutdown().await;
    let restarted = start(&dirs[3], vec![seed_addr.clone()]).await;
    assert_eq!(restarted.did(), dids[3]);
    assert_eq!(restarted.history(None).unwrap().len(), before);
    nodes.insert(3, restarted);
    events[3] = nodes[3].events();
    nodes[3].send(&dids[4], b"3 is back").await.unwrap();
    received(&mut events[4], &dids[3], b"3 is back").await;
    nodes[4].send(&dids[3], b"welcome back").await.unwrap();
    received(&mut events[3], &dids[4], b"welcome back").await;
    nodes[5].send(&dids[3], b"hello again").await.unwrap();
    received(&mut events[3], &dids[5], b"hello again").await;
    let peers = nodes[3].peers().await.unwrap();
    assert!(peers.iter().any(|p| p.did == dids[4] && p.session));

    // Node 8 goes offline: node 1's message is queued (pending), and delivered by the retry
    // loop once node 8 is back.
    let offline = nodes.remove(8);
    offline.shutdown().await;
    let mut events1 = nodes[1].events();
    let Err(NodeError::NotDelivered { id, .. }) = nodes[1]
        .send_with_timeout(&dids[8], b"while you were out", Duration::from_secs(2))
        .await
    else {
        panic!("delivered to an offline node")
    };
    let pending = nodes[1].history(Some(&dids[8])).unwrap();
    assert!(
        pending
            .iter()
            .any(|e| e.id == id && e.status == Status::Pending)
    );
    nodes.insert(8, start(&dirs[8], vec![seed_addr.clone()]).await);
    loop {
        match events1.recv().await.unwrap() {
            NodeEvent::Delivered { id: d, .. } if d == id => break,
            _ => {}
        }
    }
    let got = nodes[8].history(Some(&dids[1])).unwrap();
    assert!(
        got.iter()
            .any(|e| e.id == id && e.body == b"while you were out")
    );
    let sent = nodes[1].history(Some(&dids[8])).unwrap();
    assert!(
        sent.iter()
            .any(|e| e.id == id && e.status == Status::Delivered)
    );

    for node in nodes {
        node.shutdown().await;
    }
}
