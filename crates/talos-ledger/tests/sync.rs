#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Chain sync: message encoding, the request discipline (bounds, timeouts, misbehaving
//! peers), and an in-memory network of several nodes that must converge to the most-work
//! chain after partitions and concurrent mining (proptest over random schedules).

use std::collections::VecDeque;

use proptest::prelude::*;
use talos_crypto::{SigningKey, Timestamp};
use talos_ledger::block::{Block, Chain, ChainConfig, mine};
use talos_ledger::entry::{Body, Entry, Message as EntryMessage};
use talos_ledger::merkle::Hash;
use talos_ledger::sync::{
    ChainSync, Event, MAX_BLOCKS_PER_REQUEST, Message, MessageError, PeerId, Request, Status,
    SyncConfig,
};

const T0: u64 = 1_700_000_000_000;
const DIFFICULTY: u8 = 1;

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

fn genesis() -> Block {
    let k = key(200);
    mine(
        Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(0), DIFFICULTY),
        &k,
        1 << 20,
    )
    .unwrap()
}

fn new_chain() -> Chain {
    let mut config = ChainConfig::default();
    config.set_difficulty(DIFFICULTY);
    Chain::new(config, genesis()).unwrap()
}

fn entry(node: u8, n: u64) -> Vec<u8> {
    let mut id = [node; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    Entry::new(
        id,
        format!("did:key:node{node}"),
        n,
        ts(0),
        Body::MessageSent(EntryMessage {
            peer: "did:key:peer".into(),
            session_id: vec![node],
            header_hash: [node; 32],
        }),
    )
    .unwrap()
    .to_cbor()
}

fn mine_on(sync: &ChainSync, k: &SigningKey, entries: Vec<Vec<u8>>, at: u64) -> Block {
    mine(
        sync.chain().candidate(&k.verifying_key(), entries, ts(at)),
        k,
        1 << 20,
    )
    .unwrap()
}

#[test]
fn messages_round_trip_strictly() {
    let chain = new_chain();
    let status = Message::Status(Status {
        height: 3,
        tip: [7; 32],
        cumulative_work: (1 << 100) + 5,
        tree_size: 99,
    });
    let request = Message::Request(Request::GetBlocks {
        from_height: 1,
        count: 100,
    });
    let blocks = Message::Blocks(vec![chain.tip().clone()]);
    for m in [status, request, blocks, Message::Blocks(Vec::new())] {
        let bytes = m.to_cbor();
        assert_eq!(Message::from_cbor(&bytes).unwrap(), m);
        let mut long = bytes.clone();
        long.push(0);
        assert!(Message::from_cbor(&long).is_err());
        for cut in 0..bytes.len() {
            assert!(Message::from_cbor(&bytes[..cut]).is_err());
        }
    }
    // count above 100 is refused.
    let too_many = Message::Request(Request::GetBlocks {
        from_height: 0,
        count: 101,
    });
    assert!(matches!(
        Message::from_cbor(&too_many.to_cbor()),
        Err(MessageError::Malformed(_))
    ));
    // Fields of another message type are refused (re-encoding differs).
    let mut mixed = Vec::new();
    talos_crypto::cbor::write_map_header(&mut mixed, 4);
    talos_crypto::cbor::write_text(&mut mixed, "t");
    talos_crypto::cbor::write_text(&mut mixed, "get_blocks");
    talos_crypto::cbor::write_text(&mut mixed, "from");
    talos_crypto::cbor::write_uint(&mut mixed, 1);
    talos_crypto::cbor::write_text(&mut mixed, "count");
    talos_crypto::cbor::write_uint(&mut mixed, 1);
    talos_crypto::cbor::write_text(&mut mixed, "height");
    talos_crypto::cbor::write_uint(&mut mixed, 1);
    assert!(Message::from_cbor(&mixed).is_err());
}

#[test]
fn follows_a_better_peer_in_batches() {
    let mut a = ChainSync::new(new_chain(), SyncConfig::default());
    let mut b = ChainSync::new(new_chain(), SyncConfig::default());
    let k = key(1);
    for i in 0..250u64 {
        let block = mine_on(&b, &k, vec![entry(1, i)], i + 1);
        b.submit(ts(i + 1), block).unwrap();
    }
    while b.poll_event().is_some() {}
    let now = ts(1_000);
    a.handle_status(now, PeerId(2), b.status());
    let mut requests = 0;
    while let Some((peer, request)) = a.poll_request() {
        requests += 1;
        assert_eq!(peer, PeerId(2));
        let Request::GetBlocks { count, .. } = request else {
            unreachable!()
        };
        assert!(count <= MAX_BLOCKS_PER_REQUEST);
        // Through the wire form, as a real transport would.
        let reply = Message::Blocks(b.serve(&request)).to_cbor();
        let Message::Blocks(blocks) = Message::from_cbor(&reply).unwrap() else {
            unreachable!()
        };
        a.handle_blocks(now, peer, blocks);
    }
    assert_eq!(requests, 3, "250 blocks in batches of 100");
    assert_eq!(a.chain().tip_hash(), b.chain().tip_hash());
    assert!(matches!(a.poll_event(), Some(Event::TipChanged { .. })));
    assert_eq!(a.status(), b.status());
}

#[test]
fn in_flight_requests_are_bounded_and_time_out() {
    let mut a = ChainSync::new(new_chain(), SyncConfig::default());
    let mut b = ChainSync::new(new_chain(), SyncConfig::default());
    let block = mine_on(&b, &key(1), Vec::new(), 1);
    b.submit(ts(1), block).unwrap();
    for peer in 0..5 {
        a.handle_status(ts(10), PeerId(peer), b.status());
    }
    let mut sent = Vec::new();
    while let Some(r) = a.poll_request() {
        sent.push(r);
    }
    assert_eq!(sent.len(), 3, "at most three requests in flight");
    assert_eq!(a.poll_timeout(), Some(ts(10 + 30_000)));
    a.handle_timeout(ts(10 + 29_999));
    assert!(a.poll_event().is_none());
    // After 30 s the three time out and the two other peers are asked.
    a.handle_timeout(ts(10 + 30_000));
    let timed_out: Vec<Event> = core::iter::from_fn(|| a.poll_event()).collect();
    assert_eq!(timed_out.len(), 3);
    assert!(
        timed_out
            .iter()
            .all(|e| matches!(e, Event::RequestTimedOut { .. }))
    );
    let next: Vec<PeerId> = core::iter::from_fn(|| a.poll_request())
        .map(|(p, _)| p)
        .collect();
    assert_eq!(next, [PeerId(3), PeerId(4)]);
    // A late answer from a timed-out peer is ignored.
    let late = b.serve(&Request::GetBlocks {
        from_height: 1,
        count: 1,
    });
    a.handle_blocks(ts(40_011), PeerId(0), late.clone());
    assert_eq!(a.chain().height(), 0);
    a.handle_blocks(ts(40_011), PeerId(3), late);
    assert_eq!(a.chain().height(), 1);
}

#[test]
fn a_peer_sending_invalid_blocks_is_reported_and_ignored() {
    let mut a = ChainSync::new(new_chain(), SyncConfig::default());
    let mut b = ChainSync::new(new_chain(), SyncConfig::default());
    for i in 0..3 {
        let block = mine_on(&b, &key(1), vec![entry(1, i)], i + 1);
        b.submit(ts(i + 1), block).unwrap();
    }
    a.handle_status(ts(10), PeerId(9), b.status());
    let (peer, request) = a.poll_request().unwrap();
    let mut blocks = b.serve(&request);
    blocks[1].entries[0][5] ^= 1; // breaks the Merkle commitment and the entry
    a.handle_blocks(ts(10), peer, blocks);
    let events: Vec<Event> = core::iter::from_fn(|| a.poll_event()).collect();
    let report = events
        .iter()
        .find_map(|e| match e {
            Event::PeerMisbehaved { peer, report } if *peer == PeerId(9) => Some(report),
            _ => None,
        })
        .expect("reported");
    assert!(report.has(talos_ledger::validate::Code::MerkleInvalid));
    assert!(a.is_banned(PeerId(9)));
    // The valid prefix was kept; the peer is not asked again.
    assert_eq!(a.chain().height(), 1);
    a.handle_status(ts(20), PeerId(9), b.status());
    assert!(a.poll_request().is_none());
}

#[test]
fn blocks_at_unrequested_heights_are_a_protocol_violation() {
    let mut a = ChainSync::new(new_chain(), SyncConfig::default());
    let mut b = ChainSync::new(new_chain(), SyncConfig::default());
    for i in 0..3 {
        let block = mine_on(&b, &key(1), Vec::new(), i + 1);
        b.submit(ts(i + 1), block).unwrap();
    }
    a.handle_status(ts(10), PeerId(1), b.status());
    let (peer, request) = a.poll_request().unwrap();
    // An answer that starts elsewhere is taken for a late answer to an older request.
    let blocks = b.serve(&Request::GetBlocks {
        from_height: 2,
        count: 2,
    });
    a.handle_blocks(ts(10), peer, blocks);
    assert!(!a.is_banned(PeerId(1)));
    assert_eq!(a.poll_timeout(), Some(ts(30_010)), "still waiting");
    // A gap inside the answer is a violation.
    let mut blocks = b.serve(&request);
    blocks.remove(1);
    a.handle_blocks(ts(10), peer, blocks);
    assert!(a.is_banned(PeerId(1)));
    // Unsolicited blocks from a peer we never asked change nothing.
    let blocks = b.serve(&Request::GetBlocks {
        from_height: 1,
        count: 3,
    });
    a.handle_blocks(ts(10), PeerId(2), blocks);
    assert_eq!(a.chain().height(), 0);
}

// ----- An in-memory network -----

struct Node {
    sync: ChainSync,
    key: SigningKey,
    mined: u64,
}

struct Net {
    nodes: Vec<Node>,
    /// Partition group of each node; nodes talk only within a group.
    group: Vec<u8>,
    inbox: VecDeque<(usize, usize, Vec<u8>)>,
    now: u64,
}

#[derive(Clone, Debug)]
enum Action {
    Mine(usize),
    Partition(Vec<u8>),
    Heal,
    Deliver(usize),
    Tick,
}

impl Net {
    fn new(n: usize) -> Self {
        Self {
            nodes: (0..n)
                .map(|i| Node {
                    sync: ChainSync::new(new_chain(), SyncConfig::default()),
                    key: key(u8::try_from(i).unwrap() + 1),
                    mined: 0,
                })
                .collect(),
            group: vec![0; n],
            inbox: VecDeque::new(),
            now: 1_000,
        }
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        a != b && self.group[a] == self.group[b]
    }

    fn send(&mut self, from: usize, to: usize, message: &Message) {
        if self.linked(from, to) {
            self.inbox.push_back((from, to, message.to_cbor()));
        }
    }

    fn broadcast_status(&mut self, from: usize) {
        let status = Message::Status(self.nodes[from].sync.status());
        for to in 0..self.nodes.len() {
            self.send(from, to, &status);
        }
    }

    /// Drains a node's outputs: requests go on the wire, events are checked.
    fn drain(&mut self, i: usize) {
        while let Some((peer, request)) = self.nodes[i].sync.poll_request() {
            let to = usize::try_from(peer.0).unwrap();
            self.send(i, to, &Message::Request(request));
        }
        let mut tip_changed = false;
        while let Some(event) = self.nodes[i].sync.poll_event() {
            match event {
                Event::PeerMisbehaved { peer, report } => {
                    panic!("honest peer {peer:?} reported by {i}: {report}")
                }
                Event::TipChanged { .. } => tip_changed = true,
                _ => {}
            }
        }
        if tip_changed {
            self.broadcast_status(i);
        }
    }

    fn deliver_one(&mut self) -> bool {
        let Some((from, to, bytes)) = self.inbox.pop_front() else {
            return false;
        };
        if !self.linked(from, to) {
            return true; // lost to the partition
        }
        let now = ts(self.now);
        let peer = PeerId(from as u64);
        match Message::from_cbor(&bytes).unwrap() {
            Message::Status(status) => self.nodes[to].sync.handle_status(now, peer, status),
            Message::Request(request) => {
                let blocks = self.nodes[to].sync.serve(&request);
                self.send(to, from, &Message::Blocks(blocks));
            }
            Message::Blocks(blocks) => self.nodes[to].sync.handle_blocks(now, peer, blocks),
            _ => unreachable!(),
        }
        self.drain(to);
        true
    }

    fn tick(&mut self, ms: u64) {
        self.now += ms;
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .sync
                .poll_timeout()
                .is_some_and(|t| t <= ts(self.now))
            {
                self.nodes[i].sync.handle_timeout(ts(self.now));
                self.drain(i);
            }
        }
    }

    fn mine(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let entries = vec![entry(u8::try_from(i).unwrap() + 1, node.mined)];
        node.mined += 1;
        let block = mine_on(&node.sync, &node.key, entries, self.now);
        node.sync.submit(ts(self.now), block).unwrap();
        self.drain(i);
    }

    fn apply(&mut self, action: &Action) {
        match action {
            Action::Mine(i) => self.mine(*i % self.nodes.len()),
            Action::Partition(groups) => {
                for (g, v) in self.group.iter_mut().zip(groups) {
                    *g = *v;
                }
            }
            Action::Heal => self.group.iter_mut().for_each(|g| *g = 0),
            Action::Deliver(n) => {
                for _ in 0..*n {
                    if !self.deliver_one() {
                        break;
                    }
                }
            }
            Action::Tick => self.tick(1_000),
        }
    }

    /// Heals the network and lets it settle.
    fn settle(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        for _round in 0..20 {
            self.tick(31_000); // expire requests lost to partitions
            for i in 0..self.nodes.len() {
                self.broadcast_status(i);
            }
            let mut steps = 0;
            while self.deliver_one() {
                steps += 1;
                assert!(steps < 100_000, "no quiescence");
            }
            if self.converged() {
                return;
            }
        }
    }

    fn converged(&self) -> bool {
        let tip = self.nodes[0].sync.chain().tip_hash();
        self.nodes.iter().all(|n| n.sync.chain().tip_hash() == tip)
    }

    /// The best tip any node holds: most work, then the lower hash.
    fn best_tip(&self) -> (u128, Hash) {
        self.nodes
            .iter()
            .map(|n| (n.sync.chain().cumulative_work(), n.sync.chain().tip_hash()))
            .min_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)))
            .unwrap()
    }
}

#[test]
fn three_nodes_converge_after_a_partition() {
    let mut net = Net::new(3);
    net.apply(&Action::Partition(vec![0, 1, 1]));
    for _ in 0..4 {
        net.apply(&Action::Mine(0));
        net.apply(&Action::Tick);
    }
    for _ in 0..3 {
        net.apply(&Action::Mine(1));
        net.apply(&Action::Deliver(50));
        net.apply(&Action::Mine(2));
        net.apply(&Action::Deliver(50));
    }
    assert!(!net.converged());
    let best = net.best_tip();
    net.settle();
    assert!(net.converged());
    assert_eq!(net.nodes[0].sync.chain().tip_hash(), best.1);
    assert_eq!(net.nodes[1].sync.chain().cumulative_work(), best.0);
}

fn arb_action(nodes: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..nodes).prop_map(Action::Mine),
        1 => proptest::collection::vec(0u8..3, nodes).prop_map(Action::Partition),
        1 => Just(Action::Heal),
        3 => (1usize..40).prop_map(Action::Deliver),
        1 => Just(Action::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Sync converges to the most-work chain.
    #[test]
    fn sync_converges_to_the_most_work_chain(
        nodes in 3usize..5,
        schedule in proptest::collection::vec(arb_action(4), 1..80),
    ) {
        let mut net = Net::new(nodes);
        for action in &schedule {
            net.apply(action);
        }
        let best = net.best_tip();
        net.settle();
        prop_assert!(net.converged());
        for node in &net.nodes {
            prop_assert_eq!(node.sync.chain().tip_hash(), best.1);
            prop_assert_eq!(node.sync.chain().cumulative_work(), best.0);
        }
    }
}
