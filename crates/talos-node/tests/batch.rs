#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Messages sent at once to a peer with a session go out in batches (one request, one
//! receipt): every one is delivered once, in the receiver's history, and recorded as delivered
//! at the sender; the session continues afterwards, batched or not. A batch that gets no
//! receipt leaves its messages queued (their bodies in the history), delivered later one by
//! one, across a restart of the sender too.

use core::time::Duration;
use std::collections::BTreeSet;

use futures::StreamExt as _;
use talos_crypto::SigningKey;
use talos_node::identity::Protection;
use talos_node::node::{Node, NodeBuilder, NodeError, init_identity};
use talos_node::store::{Direction, Status, Store};

const MESSAGES: usize = 700;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_delivered_once_each() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let b = NodeBuilder::new()
            .identity_key(SigningKey::from_seed(&[0xb1; 32]))
            .build()
            .await
            .unwrap();
        let a = NodeBuilder::new()
            .identity_key(SigningKey::from_seed(&[0xa1; 32]))
            .bootstrap(b.listen_addrs().await.unwrap())
            .build()
            .await
            .unwrap();
        // The first message starts the session (alone: there is no session to batch on).
        a.send(b.did(), b"first").await.unwrap();
        let to = b.did().to_owned();
        let sent: BTreeSet<String> = (0..MESSAGES).map(|i| format!("message {i}")).collect();
        let results: Vec<_> = futures::stream::iter(sent.iter())
            .map(|body| a.send(&to, body.as_bytes()))
            .buffer_unordered(MESSAGES)
            .collect()
            .await;
        let ids: BTreeSet<_> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(ids.len(), MESSAGES, "distinct ids");

        let received: Vec<_> = b
            .history(None)
            .unwrap()
            .into_iter()
            .filter(|e| e.direction == Direction::Incoming)
            .collect();
        assert_eq!(received.len(), MESSAGES + 1, "each message once");
        let bodies: BTreeSet<String> = received
            .iter()
            .filter(|e| ids.contains(&e.id))
            .map(|e| String::from_utf8(e.body.clone()).unwrap())
            .collect();
        assert_eq!(bodies, sent);
        let outgoing = a.history(Some(b.did())).unwrap();
        assert!(
            outgoing
                .iter()
                .all(|e| e.direction == Direction::Outgoing && e.status == Status::Delivered),
            "all delivered at the sender"
        );

        // The session goes on both ways.
        b.send(a.did(), b"reply").await.unwrap();
        a.send(b.did(), b"last").await.unwrap();
        assert!(
            b.history(None)
                .unwrap()
                .iter()
                .any(|e| e.direction == Direction::Incoming && e.body == b"last")
        );
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("bounded in time");
}

async fn start(dir: &std::path::Path, bootstrap: Vec<libp2p::Multiaddr>) -> Node {
    if !dir.exists() {
        let store = Store::open(dir).unwrap();
        init_identity(&store, Protection::Unencrypted).unwrap();
    }
    NodeBuilder::new()
        .data_dir(dir)
        .bootstrap(bootstrap)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_without_receipt_is_delivered_later_even_after_a_restart() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let tmp = tempfile::tempdir().unwrap();
        let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
        let b = start(&b_dir, Vec::new()).await;
        let a = start(&a_dir, b.listen_addrs().await.unwrap()).await;
        let b_did = b.did().to_owned();
        a.send(&b_did, b"first").await.unwrap();
        b.shutdown().await;

        // B is down: the batch gets no receipt; every send gives up, its message queued.
        let bodies: BTreeSet<String> = (0..20).map(|i| format!("queued {i}")).collect();
        let results: Vec<_> = futures::stream::iter(bodies.iter())
            .map(|body| a.send_with_timeout(&b_did, body.as_bytes(), Duration::from_secs(1)))
            .buffer_unordered(20)
            .collect()
            .await;
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(NodeError::NotDelivered { .. }))),
            "{results:?}"
        );
        let pending = a.history(Some(&b_did)).unwrap();
        assert_eq!(
            pending
                .iter()
                .filter(|e| e.status == Status::Pending)
                .count(),
            20
        );

        // A restarts, then B comes back: A's retry loop delivers them all.
        a.shutdown().await;
        let a = start(&a_dir, Vec::new()).await;
        let b = start(&b_dir, a.listen_addrs().await.unwrap()).await;
        loop {
            let received: BTreeSet<String> = b
                .history(Some(a.did()))
                .unwrap()
                .into_iter()
                .filter(|e| e.direction == Direction::Incoming)
                .map(|e| String::from_utf8(e.body).unwrap())
                .collect();
            if bodies.is_subset(&received) {
                assert_eq!(received.len(), 21, "each once, and the first");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        loop {
            let sent = a.history(Some(&b_did)).unwrap();
            if sent.iter().all(|e| e.status == Status::Delivered) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("bounded in time");
}
