#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Persistent state in redb: identity, prekeys, sessions, history, queue, ledger; the data
// directory lock.
pub mod store;
// The identity key file: encrypted at rest with a passphrase.
pub mod identity;
// The libp2p network: transport, Kademlia under a Talos protocol name with records validated
// by talos-did, request-response carrying talos-wire frames, gossipsub for checkpoints.
pub mod net;
// Pairwise messaging without I/O: sessions per peer, signed envelopes, receipts.
pub mod messenger;
// The embeddable node: store, network and messenger driven by tokio.
pub mod node;
// MCP through the node: an MCP server process behind a server tunnel, an MCP client in front
// of a client tunnel.
pub mod mcp;
// Operations endpoints: health and Prometheus metrics.
pub mod metrics;
// File transfer: chunked, verified, resumable; the receiving side's partial files.
pub mod files;

/// The wall clock as the Sans-IO crates take it: milliseconds since the Unix epoch (0 for a
/// clock set before 1970). The node is the one place that reads it.
#[must_use]
pub fn now() -> talos_crypto::Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    talos_crypto::Timestamp::from_millis(ms)
}
