#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Inbound messages are rate limited per peer (talos-acl's limiter, keyed by the peer's
//! authenticated DID) before anything is decrypted: over the limit, a message gets no receipt
//! and stays queued at its sender.

use core::time::Duration;

use talos_crypto::SigningKey;
use talos_mcp::acl::rate::{RateConfig, RateLimit};
use talos_node::node::{NodeBuilder, NodeConfig, NodeError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_inbound_limit_gets_no_receipt() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut strict = NodeConfig::default();
        // One message per peer, ever: no refill.
        strict.inbound_rate = RateConfig {
            peer_limit: RateLimit {
                requests_per_second: 0,
                burst: 1,
                bytes_per_day: None,
            },
            ..RateConfig::default()
        };
        let b = NodeBuilder::new()
            .identity_key(SigningKey::from_seed(&[0xb0; 32]))
            .config(strict)
            .build()
            .await
            .unwrap();
        let mut quick = NodeConfig::default();
        quick.send_timeout = Duration::from_millis(1500);
        let a = NodeBuilder::new()
            .identity_key(SigningKey::from_seed(&[0xa0; 32]))
            .bootstrap(b.listen_addrs().await.unwrap())
            .config(quick)
            .build()
            .await
            .unwrap();
        a.send(b.did(), b"within the limit").await.unwrap();
        let refused = a.send(b.did(), b"over the limit").await;
        assert!(
            matches!(refused, Err(NodeError::NotDelivered { .. })),
            "{refused:?}"
        );
        let history = b.history(None).unwrap();
        assert_eq!(history.len(), 1, "{history:?}");
        assert_eq!(history[0].body, b"within the limit");
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("bounded in time");
}
