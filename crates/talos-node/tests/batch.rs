#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Messages sent at once to a peer with a session go out in batches (one request, one
//! receipt): every one is delivered once, in the receiver's history, and recorded as delivered
//! at the sender; the session continues afterwards, batched or not.

use core::time::Duration;
use std::collections::BTreeSet;

use futures::StreamExt as _;
use talos_crypto::SigningKey;
use talos_node::node::NodeBuilder;
use talos_node::store::{Direction, Status};

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
