#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The libp2p network on loopback: DHT discovery with validated records, request-response,
//! the codec's size limit, gossipsub checkpoints.

use core::time::Duration;
use std::time::Instant;

use futures::StreamExt as _;
use futures::io::Cursor;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, Codec as _, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use talos_crypto::{SigningKey, Timestamp, x25519};
use talos_did::record::{
    DiscoveryRecord, Policy, Prekeys, RecordFields, SignedPrekey, ValidationError,
};
use talos_did::resolver::InsertError;
use talos_node::net::{
    self, Event, Lane, MAX_MESSAGE_LEN, MAX_REQUEST_LEN, NetError, Network, RecordRefusal,
    WIRE_PROTOCOL, WireCodec,
};
use talos_node::now;
use tokio::sync::mpsc;

/// Every test finishes within this, or fails.
const LIMIT: Duration = Duration::from_secs(60);

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

/// A discovery record of `key` listing `addresses`, valid for an hour.
fn record(key: &SigningKey, seq: u64, addresses: Vec<String>) -> DiscoveryRecord {
    let issued_at = now();
    let spk = x25519::StaticSecret::from_bytes([seq as u8 ^ 0x5a; 32]).public_key();
    let fields = RecordFields {
        seq,
        issued_at,
        expires_at: Timestamp::from_millis(issued_at.as_millis() + 3_600_000),
        addresses,
        tools: vec![],
        prekeys: Prekeys {
            signed: SignedPrekey::sign(key, 1, spk),
            one_time: vec![],
            pq: None,
        },
        puzzle_nonce: None,
    };
    DiscoveryRecord::sign(fields, key).unwrap()
}

async fn node(seed: u8) -> Network {
    let listen: Vec<Multiaddr> = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    Network::new(&key(seed), &listen).await.unwrap()
}

/// The first listen address, without `/p2p/`.
async fn addr(node: &Network) -> Multiaddr {
    node.listen_addrs().await.unwrap().remove(0)
}

/// The first listen address with `/p2p/<peer id>`.
async fn full_addr(node: &Network) -> Multiaddr {
    addr(node).await.with(Protocol::P2p(node.peer_id()))
}

/// A, then B and C bootstrapped from A.
async fn three() -> (Network, Network, Network) {
    let a = node(1).await;
    let a_addr = full_addr(&a).await;
    let b = node(2).await;
    b.bootstrap(core::slice::from_ref(&a_addr)).await.unwrap();
    let c = node(3).await;
    c.bootstrap(&[a_addr]).await.unwrap();
    (a, b, c)
}

/// Answers every request with `echo:` and the request.
fn serve_echo(node: &mut Network) {
    let mut inbound = node.take_inbound().unwrap();
    tokio::spawn(async move {
        while let Some(mut request) = inbound.recv().await {
            let mut response = b"echo:".to_vec();
            response.extend_from_slice(&request.take_bytes());
            response.truncate(64);
            request.respond(response).unwrap();
        }
    });
}

/// Waits for the first event that `matches`, skipping the others.
async fn wait_for(events: &mut mpsc::Receiver<Event>, matches: impl Fn(&Event) -> bool) -> Event {
    loop {
        let event = events.recv().await.expect("event stream ended");
        if matches(&event) {
            return event;
        }
    }
}

/// A bare libp2p peer whose codec allows `max` bytes: it can send what a Talos node refuses.
fn raw_peer(max: usize) -> Swarm<request_response::Behaviour<WireCodec>> {
    let identity = libp2p::identity::Keypair::ed25519_from_bytes([99; 32]).unwrap();
    libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                WireCodec::with_max_len(max),
                [(StreamProtocol::new(WIRE_PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .build()
}

/// Sends `request` from the raw peer and drives it until the response or the failure.
async fn raw_request(
    swarm: &mut Swarm<request_response::Behaviour<WireCodec>>,
    peer: PeerId,
    addr: Multiaddr,
    request: Vec<u8>,
) -> Result<Vec<u8>, request_response::OutboundFailure> {
    let id = swarm
        .behaviour_mut()
        .send_request_with_addresses(&peer, request, vec![addr]);
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) if request_id == id => return Ok(response),
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) if request_id == id => return Err(error),
            _ => {}
        }
    }
}

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test timed out")
}

#[test]
fn peer_id_is_the_did_key() {
    let did = talos_did::DidKey::Ed25519(key(7).verifying_key());
    let peer = net::peer_id_of(&did).unwrap();
    assert_eq!(net::did_of(&peer), Some(did));
    let libp2p_key = libp2p::identity::Keypair::ed25519_from_bytes(*key(7).to_seed()).unwrap();
    assert_eq!(libp2p_key.public().to_peer_id(), peer);
    let hashed = libp2p::multihash::Multihash::<64>::wrap(0x12, &[0; 32]).unwrap();
    let hashed = PeerId::from_multihash(hashed).unwrap();
    assert_eq!(net::did_of(&hashed), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_through_the_dht_then_round_trip() {
    bounded(async {
        let (a, b, mut c) = three().await;
        assert_eq!(net::peer_id_of(c.did()), Some(c.peer_id()));
        serve_echo(&mut c);
        let published = record(&key(3), 1, vec![addr(&c).await.to_string()]);
        c.publish_record(&published).await.unwrap();

        let start = Instant::now();
        let found = b.resolve(c.did()).await.unwrap();
        let resolved = start.elapsed();
        assert_eq!(found, published);
        assert!(found.validate(now(), &Policy::default()).is_ok());
        let peer = b.connect(&found).await.unwrap();
        assert_eq!(peer, c.peer_id());
        let connected = start.elapsed();
        let response = b.request(peer, b"hello".to_vec()).await.unwrap();
        let total = start.elapsed();
        assert_eq!(response, b"echo:hello");
        eprintln!(
            "B (bootstrapped, already a DHT neighbour of C): resolve {resolved:?}, \
             +connect {connected:?}, +round trip {total:?}"
        );

        // A node that joins later, knows only A, and has never talked to C.
        let d = node(4).await;
        d.bootstrap(&[full_addr(&a).await]).await.unwrap();
        let start = Instant::now();
        let found = d.resolve(c.did()).await.unwrap();
        let resolved = start.elapsed();
        let peer = d.connect(&found).await.unwrap();
        let connected = start.elapsed();
        let response = d.request(peer, b"cold".to_vec()).await.unwrap();
        let total = start.elapsed();
        assert_eq!(response, b"echo:cold");
        eprintln!(
            "D (joined later): resolve {resolved:?}, +connect {connected:?}, \
             +round trip {total:?}"
        );

        // A fresh node, from its first dial to the round trip: join the DHT through A,
        // resolve C, connect, request.
        let e = node(5).await;
        let a_addr = full_addr(&a).await;
        let start = Instant::now();
        e.bootstrap(&[a_addr]).await.unwrap();
        let joined = start.elapsed();
        let found = e.resolve(c.did()).await.unwrap();
        let resolved = start.elapsed();
        let peer = e.connect(&found).await.unwrap();
        let response = e.request(peer, b"fresh".to_vec()).await.unwrap();
        let total = start.elapsed();
        assert_eq!(response, b"echo:fresh");
        eprintln!(
            "E (fresh): bootstrap {joined:?}, +resolve {resolved:?}, +connect and round trip \
             {total:?}"
        );
        e.shutdown().await;

        // An unknown DID has no record.
        let unknown = talos_did::DidKey::Ed25519(key(42).verifying_key());
        assert_eq!(b.resolve(&unknown).await, Err(NetError::NotFound));
        for n in [a, b, c, d] {
            n.shutdown().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_records_are_refused() {
    bounded(async {
        let (a, mut b, mut c) = three().await;
        let mut b_events = b.take_events().unwrap();
        let mut c_events = c.take_events().unwrap();
        let c_key = net::record_key(c.did()).to_vec();
        let address = addr(&c).await.to_string();
        let old = record(&key(3), 1, vec![address.clone()]);
        let genuine = record(&key(3), 2, vec![address]);
        c.publish_record(&genuine).await.unwrap();
        wait_for(
            &mut b_events,
            |e| matches!(e, Event::RecordStored { seq: 2, did, .. } if did == c.did()),
        )
        .await;

        // 1. A valid record of another DID, put under C's key.
        let other = record(&key(9), 5, vec!["/ip4/127.0.0.1/tcp/1".into()]);
        a.put_unchecked(c_key.clone(), other.to_cbor())
            .await
            .unwrap();
        for events in [&mut b_events, &mut c_events] {
            wait_for(events, |e| {
                matches!(e, Event::RecordRefused { from, reason: RecordRefusal::KeyMismatch }
                    if *from == Some(a.peer_id()))
            })
            .await;
        }

        // 2. C's record with a tampered address and C's signature.
        let json = String::from_utf8(genuine.to_json())
            .unwrap()
            .replace("127.0.0.1", "127.0.0.2");
        let tampered = DiscoveryRecord::from_json(json.as_bytes()).unwrap();
        a.put_unchecked(c_key.clone(), tampered.to_cbor())
            .await
            .unwrap();
        for events in [&mut b_events, &mut c_events] {
            wait_for(events, |e| {
                matches!(
                    e,
                    Event::RecordRefused {
                        reason: RecordRefusal::Invalid(ValidationError::BadSignature),
                        ..
                    }
                )
            })
            .await;
        }

        // 3. Garbage.
        a.put_unchecked(c_key.clone(), b"not a record".to_vec())
            .await
            .unwrap();
        wait_for(&mut b_events, |e| {
            matches!(
                e,
                Event::RecordRefused {
                    reason: RecordRefusal::Malformed(_),
                    ..
                }
            )
        })
        .await;

        // 4. C's own record, expired (and refused by C itself before publication).
        let mut fields = genuine.fields().clone();
        fields.seq = 9;
        fields.issued_at = Timestamp::from_millis(now().as_millis() - 7_200_000);
        fields.expires_at = Timestamp::from_millis(now().as_millis() - 3_600_000);
        let expired = DiscoveryRecord::sign(fields, &key(3)).unwrap();
        assert!(matches!(
            c.publish_record(&expired).await,
            Err(NetError::Record(RecordRefusal::Invalid(
                ValidationError::Expired { .. }
            )))
        ));
        a.put_unchecked(c_key.clone(), expired.to_cbor())
            .await
            .unwrap();
        wait_for(&mut b_events, |e| {
            matches!(
                e,
                Event::RecordRefused {
                    reason: RecordRefusal::Invalid(ValidationError::Expired { .. }),
                    ..
                }
            )
        })
        .await;

        // 5. C's own older record, replayed.
        a.put_unchecked(c_key.clone(), old.to_cbor()).await.unwrap();
        wait_for(&mut b_events, |e| {
            matches!(
                e,
                Event::RecordRefused {
                    reason: RecordRefusal::Superseded(InsertError::Stale { seq: 1, current: 2 }),
                    ..
                }
            )
        })
        .await;

        // A's own store holds the replay; B and C hold the genuine record, and B resolves it.
        assert_eq!(b.resolve(c.did()).await.unwrap(), genuine);

        // C publishing an older record than the one known is refused locally.
        assert!(matches!(
            c.publish_record(&old).await,
            Err(NetError::Record(RecordRefusal::Superseded(_)))
        ));

        // A newer record replaces the genuine one everywhere.
        let newer = record(&key(3), 3, vec![addr(&c).await.to_string()]);
        c.publish_record(&newer).await.unwrap();
        wait_for(&mut b_events, |e| {
            matches!(e, Event::RecordStored { seq: 3, .. })
        })
        .await;
        assert_eq!(b.resolve(c.did()).await.unwrap(), newer);

        // Forged records of a DID nobody published: an error, not the forgery.
        let d_did = talos_did::DidKey::Ed25519(key(4).verifying_key());
        a.put_unchecked(net::record_key(&d_did).to_vec(), other.to_cbor())
            .await
            .unwrap();
        assert_eq!(b.resolve(&d_did).await, Err(NetError::NotFound));
        for n in [a, b, c] {
            n.shutdown().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_refused() {
    bounded(async {
        let protocol = StreamProtocol::new(WIRE_PROTOCOL);
        let mut codec = WireCodec::default();
        assert_eq!(codec.max_len(), 1024 * 1024 + 9);

        // Writing: refused before a byte is written.
        let mut out = Cursor::new(Vec::new());
        let error = codec
            .write_request(&protocol, &mut out, vec![0; MAX_MESSAGE_LEN + 1])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(out.get_ref().is_empty());

        // Reading: a length prefix above the limit is refused without reading the body.
        let announced = u32::try_from(MAX_MESSAGE_LEN + 1).unwrap();
        let mut input = announced.to_be_bytes().to_vec();
        input.extend_from_slice(&[0; 16]);
        let error = codec
            .read_request(&protocol, &mut Cursor::new(input.clone()))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let error = codec
            .read_response(&protocol, &mut Cursor::new(input))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let mut huge = u32::MAX.to_be_bytes().to_vec();
        huge.push(0);
        assert!(
            codec
                .read_request(&protocol, &mut Cursor::new(huge))
                .await
                .is_err()
        );

        // A body shorter than its prefix.
        let mut short = 10u32.to_be_bytes().to_vec();
        short.extend_from_slice(b"abc");
        let error = codec
            .read_request(&protocol, &mut Cursor::new(short))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);

        // Exactly the limit round-trips through the codec.
        let mut out = Cursor::new(Vec::new());
        codec
            .write_request(&protocol, &mut out, vec![7; MAX_MESSAGE_LEN])
            .await
            .unwrap();
        let bytes = out.into_inner();
        assert_eq!(bytes.len(), 4 + MAX_MESSAGE_LEN);
        let back = codec
            .read_request(&protocol, &mut Cursor::new(bytes))
            .await
            .unwrap();
        assert_eq!(back.len(), MAX_MESSAGE_LEN);

        // Through the network: the limit passes, one byte more is refused.
        let a = node(11).await;
        let mut b = node(12).await;
        serve_echo(&mut b);
        a.dial(full_addr(&b).await).await.unwrap();
        // (A request is its lane byte and at most MAX_REQUEST_LEN bytes.)
        assert_eq!(MAX_REQUEST_LEN, MAX_MESSAGE_LEN - 1);
        let response = a
            .request(b.peer_id(), vec![1; MAX_REQUEST_LEN])
            .await
            .unwrap();
        assert_eq!(&response[..5], b"echo:");
        let refused = a.request(b.peer_id(), vec![1; MAX_REQUEST_LEN + 1]).await;
        assert_eq!(
            refused,
            Err(NetError::TooLarge {
                len: MAX_REQUEST_LEN + 1,
                max: MAX_REQUEST_LEN
            })
        );

        // A peer with a laxer codec sends one byte more: the node's codec refuses it, the
        // exchange fails, and nothing reaches the node's handler.
        let mut c = node(13).await;
        let mut c_inbound = c.take_inbound().unwrap();
        let mut raw = raw_peer(4 * MAX_MESSAGE_LEN);
        let c_addr = addr(&c).await;
        let refused = raw_request(
            &mut raw,
            c.peer_id(),
            c_addr.clone(),
            vec![Lane::Message as u8; MAX_MESSAGE_LEN + 1],
        )
        .await;
        assert!(refused.is_err(), "{refused:?}");
        assert!(c_inbound.try_recv().is_err());
        // The same peer within the limit is served.
        let answered = tokio::spawn(async move {
            let request = c_inbound.recv().await.unwrap();
            assert_eq!(request.bytes().len(), MAX_REQUEST_LEN);
            request.respond(b"ok".to_vec()).unwrap();
        });
        let within = vec![Lane::Message as u8; MAX_MESSAGE_LEN];
        let response = raw_request(&mut raw, c.peer_id(), c_addr.clone(), within)
            .await
            .unwrap();
        assert_eq!(response, b"ok");
        answered.await.unwrap();
        // A request on no known lane is refused unanswered.
        let refused = raw_request(&mut raw, c.peer_id(), c_addr, vec![9; 16]).await;
        assert!(refused.is_err(), "{refused:?}");
        for n in [a, b, c] {
            n.shutdown().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_gossiped() {
    bounded(async {
        let (a, mut b, c) = three().await;
        let mut b_events = b.take_events().unwrap();
        let checkpoint = b"checkpoint: size 42, root 00ff".to_vec();
        // Subscriptions travel once connections are up: retry until a subscriber is known.
        loop {
            match c.publish_checkpoint(checkpoint.clone()).await {
                Ok(()) => break,
                Err(NetError::Publish(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(other) => panic!("{other}"),
            }
        }
        let event = wait_for(&mut b_events, |e| matches!(e, Event::Checkpoint { .. })).await;
        assert_eq!(
            event,
            Event::Checkpoint {
                source: Some(c.peer_id()),
                data: checkpoint
            }
        );
        assert!(matches!(
            c.publish_checkpoint(vec![0; net::MAX_CHECKPOINT_LEN + 1])
                .await,
            Err(NetError::TooLarge { .. })
        ));
        for n in [a, b, c] {
            n.shutdown().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_reach_their_own_handlers() {
    bounded(async {
        let a = node(21).await;
        let mut b = node(22).await;
        serve_echo(&mut b);
        let mut mcp = b.take_mcp_inbound().unwrap();
        assert!(b.take_mcp_inbound().is_none());
        let served = tokio::spawn(async move {
            let request = mcp.recv().await.unwrap();
            let mut response = b"mcp:".to_vec();
            response.extend_from_slice(request.bytes());
            request.respond(response).unwrap();
        });
        a.dial(full_addr(&b).await).await.unwrap();
        let response = a
            .request_on(Lane::Mcp, b.peer_id(), Vec::new(), b"packet")
            .await
            .unwrap();
        assert_eq!(response, b"mcp:packet");
        served.await.unwrap();
        let response = a.request(b.peer_id(), b"message".to_vec()).await.unwrap();
        assert_eq!(response, b"echo:message");
        a.shutdown().await;
        b.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_carries_requests_too() {
    bounded(async {
        let quic: Multiaddr = "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap();
        let a = Network::new(&key(31), core::slice::from_ref(&quic))
            .await
            .unwrap();
        let mut b = Network::new(&key(32), &[quic]).await.unwrap();
        serve_echo(&mut b);
        let b_addr = b.listen_addrs().await.unwrap().remove(0);
        assert!(b_addr.to_string().contains("/quic-v1"), "{b_addr}");
        let peer = a
            .dial(b_addr.with(Protocol::P2p(b.peer_id())))
            .await
            .unwrap();
        assert_eq!(peer, b.peer_id());
        let response = a.request(peer, b"over quic".to_vec()).await.unwrap();
        assert_eq!(response, b"echo:over quic");
        a.shutdown().await;
        b.shutdown().await;
    })
    .await;
}
