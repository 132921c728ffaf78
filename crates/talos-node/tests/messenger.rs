#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Pairwise messaging without I/O: session start from a bundle, receipts, duplicates, forged
//! and misaddressed envelopes, and a restart from snapshots.

use talos_crypto::{ChaCha20Rng, SeedableRng, SigningKey, Timestamp};
use talos_node::messenger::{Inbound, Messenger, MessengerError};
use talos_ratchet::prekeys::{PrekeyBundle, PrekeyStore};

fn now() -> Timestamp {
    Timestamp::from_secs(1_767_225_600).unwrap()
}

fn messenger(seed: u8, rng: &mut ChaCha20Rng) -> Messenger {
    let mut store = PrekeyStore::new(SigningKey::from_seed(&[seed; 32]), rng);
    store.generate_one_time_prekeys(4, rng).unwrap();
    Messenger::new(store)
}

fn bundle(m: &Messenger) -> PrekeyBundle {
    let opk = m.prekeys().one_time_prekeys()[0].id;
    m.prekeys().bundle(Some(opk)).unwrap()
}

fn body(inbound: Inbound) -> Vec<u8> {
    match inbound {
        Inbound::Message { body, .. } => body.to_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn first_message_receipt_and_reply() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let bob_did = bob.did().to_owned();
    let (id, wire) = alice
        .seal(&bob_did, Some(&bundle(&bob)), b"hello bob", now(), &mut rng)
        .unwrap();
    let Inbound::Message {
        id: got,
        from,
        body,
        receipt,
        ..
    } = bob.open(&wire, now(), &mut rng).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (got, from.as_str(), &body[..]),
        (id, alice.did(), &b"hello bob"[..])
    );
    assert_eq!(
        bob.prekeys().one_time_prekey_count(),
        3,
        "the one-time prekey is used up"
    );
    let Inbound::Receipt { id: acked, from } = alice.open(&receipt, now(), &mut rng).unwrap()
    else {
        panic!()
    };
    assert_eq!((acked, from.as_str()), (id, bob_did.as_str()));

    // Bob answers over the session, without a bundle.
    let alice_did = alice.did().to_owned();
    let (_, reply) = bob
        .seal(&alice_did, None, b"hi alice", now(), &mut rng)
        .unwrap();
    assert_eq!(body_of(alice.open(&reply, now(), &mut rng)), b"hi alice");
    let (_, next) = alice
        .seal(&bob_did, None, b"again", now(), &mut rng)
        .unwrap();
    assert_eq!(body_of(bob.open(&next, now(), &mut rng)), b"again");
}

fn body_of(r: Result<Inbound, MessengerError>) -> Vec<u8> {
    body(r.unwrap())
}

#[test]
fn several_messages_before_the_first_answer_and_out_of_order() {
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let bob_did = bob.did().to_owned();
    let b = bundle(&bob);
    let (_, one) = alice
        .seal(&bob_did, Some(&b), b"one", now(), &mut rng)
        .unwrap();
    let (_, two) = alice
        .seal(&bob_did, Some(&b), b"two", now(), &mut rng)
        .unwrap();
    let (_, three) = alice
        .seal(&bob_did, None, b"three", now(), &mut rng)
        .unwrap();
    assert_eq!(body_of(bob.open(&one, now(), &mut rng)), b"one");
    assert_eq!(body_of(bob.open(&three, now(), &mut rng)), b"three");
    assert_eq!(body_of(bob.open(&two, now(), &mut rng)), b"two");
}

#[test]
fn a_retried_message_is_a_duplicate_with_its_receipt_again() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let bob_did = bob.did().to_owned();
    let (id, wire) = alice
        .seal(&bob_did, Some(&bundle(&bob)), b"x", now(), &mut rng)
        .unwrap();
    bob.open(&wire, now(), &mut rng).unwrap();
    let Inbound::Duplicate {
        id: dup, receipt, ..
    } = bob.open(&wire, now(), &mut rng).unwrap()
    else {
        panic!()
    };
    assert_eq!(dup, id);
    assert!(
        matches!(alice.open(&receipt, now(), &mut rng).unwrap(), Inbound::Receipt { id: r, .. } if r == id)
    );
    // The session goes on.
    let (_, next) = alice.seal(&bob_did, None, b"y", now(), &mut rng).unwrap();
    assert_eq!(body_of(bob.open(&next, now(), &mut rng)), b"y");
}

#[test]
fn forged_tampered_and_misaddressed_envelopes_are_refused() {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let (mut alice, mut bob, mut carol) = (
        messenger(1, &mut rng),
        messenger(2, &mut rng),
        messenger(3, &mut rng),
    );
    let bob_did = bob.did().to_owned();
    let (_, wire) = alice
        .seal(&bob_did, Some(&bundle(&bob)), b"secret", now(), &mut rng)
        .unwrap();
    // Only Bob may open it.
    assert!(matches!(
        carol.open(&wire, now(), &mut rng),
        Err(MessengerError::NotForUs(_))
    ));
    // Any flipped byte is refused, and refusing it changes nothing.
    for i in [10, wire.len() / 2, wire.len() - 3] {
        let mut bad = wire.clone();
        bad[i] ^= 0x40;
        assert!(bob.open(&bad, now(), &mut rng).is_err(), "byte {i}");
    }
    assert_eq!(body_of(bob.open(&wire, now(), &mut rng)), b"secret");
    // Far in the future: refused by the envelope's clock-skew check.
    let later = Timestamp::from_secs(1_767_225_600 + 86_400).unwrap();
    let (_, old) = alice
        .seal(&bob_did, None, b"late", now(), &mut rng)
        .unwrap();
    assert!(bob.open(&old, later, &mut rng).is_err());
}

#[test]
fn a_bundle_of_someone_else_is_refused_and_no_bundle_no_session() {
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let (mut alice, bob, mallory) = (
        messenger(1, &mut rng),
        messenger(2, &mut rng),
        messenger(9, &mut rng),
    );
    let bob_did = bob.did().to_owned();
    assert!(matches!(
        alice.seal(&bob_did, Some(&bundle(&mallory)), b"x", now(), &mut rng),
        Err(MessengerError::Bundle(_))
    ));
    assert!(matches!(
        alice.seal(&bob_did, None, b"x", now(), &mut rng),
        Err(MessengerError::NoSession(_))
    ));
    assert!(!alice.has_session(&bob_did));
}

#[test]
fn sessions_continue_after_a_restart_from_snapshots() {
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let (alice_did, bob_did) = (alice.did().to_owned(), bob.did().to_owned());
    let (_, first) = alice
        .seal(&bob_did, Some(&bundle(&bob)), b"1", now(), &mut rng)
        .unwrap();
    bob.open(&first, now(), &mut rng).unwrap();

    // Both restart: prekeys and peer state come back from their snapshots.
    let restart = |m: &Messenger, peer: &str| {
        let mut again =
            Messenger::new(PrekeyStore::from_snapshot(&m.prekeys().to_snapshot()).unwrap());
        again
            .restore_peer(peer, &m.peer_snapshot(peer).unwrap())
            .unwrap();
        again
    };
    let mut alice = restart(&alice, &bob_did);
    let mut bob = restart(&bob, &alice_did);
    // Alice has not heard from Bob yet: her next message still starts the session.
    let (_, second) = alice.seal(&bob_did, None, b"2", now(), &mut rng).unwrap();
    assert_eq!(body_of(bob.open(&second, now(), &mut rng)), b"2");
    let (_, reply) = bob.seal(&alice_did, None, b"3", now(), &mut rng).unwrap();
    assert_eq!(body_of(alice.open(&reply, now(), &mut rng)), b"3");
    assert!(
        alice
            .restore_peer(&bob_did, b"\x00\x00\x00\x05abc")
            .is_err()
    );
}

#[test]
fn a_restamped_envelope_opens_after_the_skew_window_as_the_same_message() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let bob_did = bob.did().to_owned();
    let (id, wire) = alice
        .seal(&bob_did, Some(&bundle(&bob)), b"queued", now(), &mut rng)
        .unwrap();
    assert_eq!(alice.envelope_id(&wire), Some(id));
    let later = Timestamp::from_secs(1_767_225_600 + 3_600).unwrap();
    assert!(bob.open(&wire, later, &mut rng).is_err(), "too old");
    let again = alice.restamp(&wire, later).unwrap();
    let Inbound::Message {
        id: got,
        body,
        receipt,
        ..
    } = bob.open(&again, later, &mut rng).unwrap()
    else {
        panic!()
    };
    assert_eq!((got, &body[..]), (id, &b"queued"[..]));
    // Another restamp of it is a duplicate.
    let third = alice.restamp(&wire, later).unwrap();
    assert!(matches!(
        bob.open(&third, later, &mut rng).unwrap(),
        Inbound::Duplicate { id: d, .. } if d == id
    ));
    // Only receipts pass open_receipt; bob cannot restamp alice's envelope.
    assert!(matches!(
        alice.open_receipt(&receipt, later).unwrap(),
        Inbound::Receipt { id: r, .. } if r == id
    ));
    assert!(alice.open_receipt(&again, later).is_err());
    assert!(bob.restamp(&wire, later).is_err());
}

#[test]
fn a_forgotten_message_opens_again_after_a_rollback() {
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let (alice_did, bob_did) = (alice.did().to_owned(), bob.did().to_owned());
    let (id, wire) = alice
        .seal(
            &bob_did,
            Some(&bob.prekeys().bundle(None).unwrap()),
            b"x",
            now(),
            &mut rng,
        )
        .unwrap();
    bob.open(&wire, now(), &mut rng).unwrap();
    // Bob could not persist it: he forgets the message and the session. (No one-time
    // prekey here: the one used would be gone; the node publishes none.)
    bob.forget_received(&alice_did, id);
    bob.forget_peer(&alice_did);
    assert!(!bob.has_session(&alice_did));
    assert_eq!(body_of(bob.open(&wire, now(), &mut rng)), b"x");
}

#[test]
fn a_batch_opens_its_messages_and_one_receipt_acknowledges_them() {
    use talos_node::messenger::MAX_BATCH;
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let carol = messenger(3, &mut rng);
    let bob_did = bob.did().to_owned();
    let alice_did = alice.did().to_owned();
    let ids: Vec<_> = (0..6)
        .map(|_| talos_wire::MessageId::generate(now(), &mut rng))
        .collect();
    let all = |_| true;
    // The session starts with a single message; the first batch goes before any receipt
    // (its messages carry the session-start header).
    let (_, zero) = alice
        .seal(&bob_did, Some(&bundle(&bob)), b"zero", now(), &mut rng)
        .unwrap();
    assert_eq!(body_of(bob.open(&zero, now(), &mut rng)), b"zero");
    let messages = [(ids[0], &b"one"[..]), (ids[1], b"two"), (ids[2], b"three")];
    let batch = alice
        .seal_batch(&bob_did, &messages, now(), &mut rng)
        .unwrap();

    // Forged, from someone else, or not a batch: refused, nothing changes.
    let mut forged = batch.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(
        bob.open_batch(&alice_did, &forged, now(), &mut rng, all)
            .is_err()
    );
    assert!(
        bob.open_batch(carol.did(), &batch, now(), &mut rng, all)
            .is_err(),
        "signed by Alice, delivered by Carol"
    );
    assert!(
        bob.open_batch(&alice_did, &zero, now(), &mut rng, all)
            .is_err()
    );
    assert!(
        bob.open(&batch, now(), &mut rng).is_err(),
        "a batch is not a message"
    );

    let opened = bob
        .open_batch(&alice_did, &batch, now(), &mut rng, all)
        .unwrap();
    let received: Vec<_> = opened
        .received
        .iter()
        .map(|m| (m.id, m.body.to_vec()))
        .collect();
    assert_eq!(
        received,
        vec![
            (ids[0], b"one".to_vec()),
            (ids[1], b"two".to_vec()),
            (ids[2], b"three".to_vec())
        ]
    );
    assert!(opened.duplicates.is_empty() && opened.refused.is_empty());
    let (from, acked) = alice.open_receipts(&opened.receipt, now()).unwrap();
    assert_eq!(
        (from.as_str(), acked),
        (bob_did.as_str(), ids[..3].to_vec())
    );
    // A batch's receipt is not a single message's.
    assert!(alice.open_receipt(&opened.receipt, now()).is_err());

    // Delivered again: duplicates, acknowledged again.
    let again = bob
        .open_batch(&alice_did, &batch, now(), &mut rng, all)
        .unwrap();
    assert!(again.received.is_empty());
    assert_eq!(again.duplicates, ids[..3].to_vec());

    // A message the receiver does not admit (e.g. over a rate limit) is refused, not
    // decrypted: sent again alone under the same id, it opens.
    let messages = [(ids[3], &b"four"[..]), (ids[4], b"five"), (ids[5], b"six")];
    let batch = alice
        .seal_batch(&bob_did, &messages, now(), &mut rng)
        .unwrap();
    let mut admitted = 0;
    let opened = bob
        .open_batch(&alice_did, &batch, now(), &mut rng, |_| {
            admitted += 1;
            admitted <= 2
        })
        .unwrap();
    assert_eq!(opened.received.len(), 2);
    let refused: Vec<usize> = opened.refused.iter().map(|(i, _)| *i).collect();
    assert_eq!(refused, vec![2]);
    let alone = alice
        .seal_with_id(&bob_did, None, b"six", ids[5], now(), &mut rng)
        .unwrap();
    assert_eq!(body_of(bob.open(&alone, now(), &mut rng)), b"six");

    // Sizes: 1 to MAX_BATCH messages.
    assert!(alice.seal_batch(&bob_did, &[], now(), &mut rng).is_err());
    let many: Vec<_> = (0..=MAX_BATCH)
        .map(|_| (talos_wire::MessageId::generate(now(), &mut rng), &b"x"[..]))
        .collect();
    assert!(alice.seal_batch(&bob_did, &many, now(), &mut rng).is_err());
    let full = alice
        .seal_batch(&bob_did, &many[..MAX_BATCH], now(), &mut rng)
        .unwrap();
    let opened = bob
        .open_batch(&alice_did, &full, now(), &mut rng, all)
        .unwrap();
    assert_eq!(opened.received.len(), MAX_BATCH);
}

#[test]
fn after_a_receipt_messages_go_without_the_session_start_header() {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let (mut alice, mut bob) = (messenger(1, &mut rng), messenger(2, &mut rng));
    let bob_did = bob.did().to_owned();
    let (_, first) = alice
        .seal(&bob_did, Some(&bundle(&bob)), b"same body", now(), &mut rng)
        .unwrap();
    let (_, second) = alice
        .seal(&bob_did, None, b"same body", now(), &mut rng)
        .unwrap();
    assert_eq!(first.len(), second.len(), "both carry the header");
    let Inbound::Message { receipt, .. } = bob.open(&first, now(), &mut rng).unwrap() else {
        panic!()
    };
    alice.open_receipt(&receipt, now()).unwrap();
    let (_, third) = alice
        .seal(&bob_did, None, b"same body", now(), &mut rng)
        .unwrap();
    assert!(
        third.len() + 64 < second.len(),
        "{} vs {}: the header is gone",
        third.len(),
        second.len()
    );
    // Bob opens all of them, the one with the header after the one without.
    assert_eq!(body_of(bob.open(&third, now(), &mut rng)), b"same body");
    assert_eq!(body_of(bob.open(&second, now(), &mut rng)), b"same body");
}
