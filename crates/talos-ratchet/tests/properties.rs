//! Property: for random schedules of sends on both sides, drops, duplicates, reorderings
//! (within MAX_SKIP) and snapshot/restore at random points, every delivered message decrypts
//! exactly once to its plaintext, and every duplicate is rejected without changing the state.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::SigningKey;
use talos_crypto::x25519::StaticSecret;
use talos_ratchet::message::Message;
use talos_ratchet::session::Session;
use talos_ratchet::snapshot::SessionSnapshot;
use talos_ratchet::v1_1;

#[derive(Clone, Debug)]
enum Op {
    /// `count` messages from Alice (`true`) or Bob.
    Send(bool, u8),
    /// Deliver the in-flight message `pick` (modulo the queue) to Alice or Bob.
    Deliver(bool, usize),
    /// Lose an in-flight message.
    Drop(bool, usize),
    /// Deliver an already delivered message again.
    Replay(bool, usize),
    /// Replace a side by a session restored from its snapshot (through CBOR, both encodings
    /// of the message queue being irrelevant here).
    Restore(bool),
    /// Re-encode the in-flight queue through the JSON wire and CBOR.
    Reencode(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 1u8..5).prop_map(|(a, n)| Op::Send(a, n)),
        4 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Op::Deliver(a, i)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Op::Drop(a, i)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Op::Replay(a, i)),
        1 => any::<bool>().prop_map(Op::Restore),
        1 => any::<bool>().prop_map(Op::Reencode),
    ]
}

struct Side {
    session: Session,
    /// Messages on their way to this side, with their plaintexts.
    inbox: Vec<(Message, Vec<u8>)>,
    /// Messages this side already decrypted.
    delivered: Vec<Message>,
}

fn state(session: &Session) -> Vec<u8> {
    session.snapshot().to_bytes().to_vec()
}

fn run(seed: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let spk = StaticSecret::generate(&mut rng);
    let bundle = v1_1::PrekeyBundle::new(&SigningKey::from_seed(&[1; 32]), &spk.public_key());
    let mut alice = v1_1::initiate(&bundle, &mut rng).unwrap();
    let first = alice.encrypt(b"first", &mut rng).unwrap();
    let (bob, plaintext) = v1_1::accept(&spk, &first).unwrap();
    prop_assert_eq!(&plaintext[..], b"first");
    let mut sides = [
        Side {
            session: alice,
            inbox: Vec::new(),
            delivered: Vec::new(),
        },
        Side {
            session: bob,
            inbox: Vec::new(),
            delivered: vec![first],
        },
    ];
    let mut counter = 0u32;
    for op in ops {
        match *op {
            Op::Send(from_alice, count) => {
                let (from, to) = if from_alice { (0, 1) } else { (1, 0) };
                for _ in 0..count {
                    counter += 1;
                    let text = format!("m{counter}").into_bytes();
                    let m = sides[from].session.encrypt(&text, &mut rng).unwrap();
                    sides[to].inbox.push((m, text));
                }
            }
            Op::Deliver(to_alice, pick) => {
                let side = &mut sides[usize::from(!to_alice)];
                if side.inbox.is_empty() {
                    continue;
                }
                let (m, text) = side.inbox.remove(pick % side.inbox.len());
                let got = side.session.decrypt(&m);
                prop_assert!(got.is_ok(), "{:?} for {:?}", got, m.header);
                prop_assert_eq!(&got.unwrap()[..], &text[..]);
                side.delivered.push(m);
            }
            Op::Drop(to_alice, pick) => {
                let side = &mut sides[usize::from(!to_alice)];
                if !side.inbox.is_empty() {
                    let i = pick % side.inbox.len();
                    side.inbox.remove(i);
                }
            }
            Op::Replay(to_alice, pick) => {
                let side = &mut sides[usize::from(!to_alice)];
                if side.delivered.is_empty() {
                    continue;
                }
                let m = side.delivered[pick % side.delivered.len()].clone();
                let before = state(&side.session);
                prop_assert!(side.session.decrypt(&m).is_err(), "duplicate accepted");
                prop_assert_eq!(state(&side.session), before);
            }
            Op::Restore(alice) => {
                let side = &mut sides[usize::from(!alice)];
                let bytes = side.session.snapshot().to_bytes();
                let restored = Session::restore(&SessionSnapshot::from_bytes(&bytes).unwrap());
                prop_assert_eq!(&*restored.snapshot().to_bytes(), &*bytes);
                side.session = restored;
            }
            Op::Reencode(alice) => {
                let side = &mut sides[usize::from(!alice)];
                for (m, _) in &mut side.inbox {
                    let json = Message::from_wire_b64u(&m.to_wire_b64u()).unwrap();
                    let cbor = Message::from_cbor(&m.to_cbor()).unwrap();
                    prop_assert_eq!(&json, &cbor);
                    *m = json;
                }
            }
        }
    }
    // Everything still in flight is delivered, in random order, exactly once.
    for to in [0, 1] {
        let side = &mut sides[to];
        while let Some((m, text)) = side.inbox.pop() {
            let got = side.session.decrypt(&m);
            prop_assert!(got.is_ok(), "{:?}", got);
            prop_assert_eq!(&got.unwrap()[..], &text[..]);
            let before = state(&side.session);
            prop_assert!(side.session.decrypt(&m).is_err());
            prop_assert_eq!(state(&side.session), before);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_message_decrypts_exactly_once(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..60)) {
        run(seed, &ops)?;
    }
}

fn live_pair(seed: u64) -> (Session, Session, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let spk = StaticSecret::generate(&mut rng);
    let bundle = v1_1::PrekeyBundle::new(&SigningKey::from_seed(&[1; 32]), &spk.public_key());
    let mut alice = v1_1::initiate(&bundle, &mut rng).unwrap();
    let _skipped = alice.encrypt(b"skipped", &mut rng).unwrap();
    let first = alice.encrypt(b"first", &mut rng).unwrap();
    let (bob, _) = v1_1::accept(&spk, &first).unwrap();
    (alice, bob, rng)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Decoders take arbitrary bytes without panicking, and whatever decodes re-encodes to
    /// the same bytes (CBOR has one accepted form).
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Message::from_cbor(&bytes) {
            prop_assert_eq!(m.to_cbor(), bytes.clone());
        }
        let _ = Message::from_json(&bytes);
        let _ = Message::from_wire_b64u(&String::from_utf8_lossy(&bytes));
        if let Ok(s) = SessionSnapshot::from_bytes(&bytes) {
            prop_assert_eq!(&*s.to_bytes(), &bytes[..]);
        }
        let _ = talos_ratchet::snapshot::open(&[0; 32], &bytes);
    }

    /// Mutated messages and snapshots: a live session never changes on a rejected message,
    /// and a mutated snapshot either fails to decode or re-encodes to itself.
    #[test]
    fn mutations_are_harmless(seed in any::<u64>(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4), cbor in any::<bool>()) {
        let (mut alice, mut bob, mut rng) = live_pair(seed);
        let m = alice.encrypt(b"payload", &mut rng).unwrap();
        let mut bytes = if cbor { m.to_cbor() } else { m.to_json() };
        for (at, x) in &flips {
            let i = at % bytes.len();
            bytes[i] ^= x | 1;
        }
        let decoded = if cbor { Message::from_cbor(&bytes) } else { Message::from_json(&bytes) };
        if let Ok(forged) = decoded
            && forged != m
        {
            let before = state(&bob);
            prop_assert!(bob.decrypt(&forged).is_err());
            prop_assert_eq!(state(&bob), before);
        }
        prop_assert_eq!(&bob.decrypt(&m).unwrap()[..], b"payload");

        let mut snap = bob.snapshot().to_bytes().to_vec();
        for (at, x) in &flips {
            let i = at % snap.len();
            snap[i] ^= x | 1;
        }
        if let Ok(s) = SessionSnapshot::from_bytes(&snap) {
            prop_assert_eq!(&*s.to_bytes(), &snap[..]);
            let _ = Session::restore(&s);
        }
    }
}
