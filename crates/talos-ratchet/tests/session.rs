//! The pairwise Double Ratchet: delivery orders, skip bounds, replays, forgeries, eviction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::SigningKey;
use talos_crypto::x25519::{PublicKey, StaticSecret};
use talos_ratchet::message::Message;
use talos_ratchet::session::{DecryptError, EncryptError, MAX_SKIP, Session, SessionConfig};
use talos_ratchet::v1_1;

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Alice's session and Bob's signed prekey secret.
fn alice_and_spk(rng: &mut ChaCha20Rng) -> (Session, StaticSecret) {
    let spk = StaticSecret::generate(rng);
    let bundle = v1_1::PrekeyBundle::new(&SigningKey::from_seed(&[9; 32]), &spk.public_key());
    (v1_1::initiate(&bundle, rng).unwrap(), spk)
}

/// Both sides, after Alice's first message reached Bob.
fn pair(rng: &mut ChaCha20Rng) -> (Session, Session) {
    let (mut alice, spk) = alice_and_spk(rng);
    let first = alice.encrypt(b"hello", rng).unwrap();
    let (bob, plaintext) = v1_1::accept(&spk, &first).unwrap();
    assert_eq!(&plaintext[..], b"hello");
    (alice, bob)
}

fn state(session: &Session) -> Vec<u8> {
    session.snapshot().to_bytes().to_vec()
}

fn send(from: &mut Session, text: &str, rng: &mut ChaCha20Rng) -> Message {
    from.encrypt(text.as_bytes(), rng).unwrap()
}

fn recv(to: &mut Session, message: &Message) -> String {
    String::from_utf8(to.decrypt(message).unwrap().to_vec()).unwrap()
}

/// Decrypting `message` fails and changes nothing.
fn rejected(to: &mut Session, message: &Message) -> DecryptError {
    let before = state(to);
    let err = to.decrypt(message).unwrap_err();
    assert_eq!(state(to), before, "a rejected message changed the session");
    err
}

#[test]
fn ping_pong_many_turns() {
    let mut rng = rng(1);
    let (mut alice, mut bob) = pair(&mut rng);
    let mut last_alice_key = alice.our_ratchet_key();
    for turn in 0..20 {
        let m = send(&mut bob, &format!("b{turn}"), &mut rng);
        assert_eq!(recv(&mut alice, &m), format!("b{turn}"));
        let m = send(&mut alice, &format!("a{turn}"), &mut rng);
        assert_ne!(
            alice.our_ratchet_key(),
            last_alice_key,
            "a new ratchet key every turn"
        );
        last_alice_key = alice.our_ratchet_key();
        assert_eq!(m.header.n, 0);
        assert_eq!(recv(&mut bob, &m), format!("a{turn}"));
    }
    assert!(alice.has_received() && bob.has_received());
    assert_eq!(alice.skipped_keys() + bob.skipped_keys(), 0);
}

#[test]
fn has_received_and_not_ready() {
    let mut rng = rng(2);
    let (mut alice, spk) = alice_and_spk(&mut rng);
    assert!(!alice.has_received());
    let first = send(&mut alice, "x", &mut rng);
    let mut bob = v1_1::respond(&spk, &first.header).unwrap();
    assert_eq!(
        bob.encrypt(b"too early", &mut rng).unwrap_err(),
        EncryptError::NotReady
    );
    assert_eq!(recv(&mut bob, &first), "x");
    assert!(bob.has_received());
    let reply = send(&mut bob, "y", &mut rng);
    assert_eq!(recv(&mut alice, &reply), "y");
    assert!(alice.has_received());
}

#[test]
fn out_of_order_within_and_across_chains() {
    let mut rng = rng(3);
    let (mut alice, mut bob) = pair(&mut rng);
    let a: Vec<Message> = (1..=5)
        .map(|i| send(&mut alice, &format!("a{i}"), &mut rng))
        .collect();
    assert_eq!(recv(&mut bob, &a[3]), "a4");
    assert_eq!(bob.skipped_keys(), 3);
    assert_eq!(recv(&mut bob, &a[0]), "a1");
    // Bob answers; Alice turns the ratchet and sends on a new chain.
    let b1 = send(&mut bob, "b1", &mut rng);
    assert_eq!(recv(&mut alice, &b1), "b1");
    let c1 = send(&mut alice, "c1", &mut rng);
    assert_eq!(c1.header.pn, 6, "hello + 5 on the previous chain");
    // The new chain arrives first: a5 (pn skip) is stored.
    assert_eq!(recv(&mut bob, &c1), "c1");
    assert_eq!(bob.skipped_keys(), 3); // a2, a3, a5
    for (i, m) in [(5, &a[4]), (3, &a[2]), (2, &a[1])] {
        assert_eq!(recv(&mut bob, m), format!("a{i}"));
    }
    assert_eq!(bob.skipped_keys(), 0);
}

#[test]
fn duplicates_are_rejected() {
    let mut rng = rng(4);
    let (mut alice, mut bob) = pair(&mut rng);
    let m1 = send(&mut alice, "1", &mut rng);
    let m2 = send(&mut alice, "2", &mut rng);
    let m3 = send(&mut alice, "3", &mut rng);
    assert_eq!(recv(&mut bob, &m3), "3");
    assert_eq!(rejected(&mut bob, &m3), DecryptError::Duplicate);
    assert_eq!(recv(&mut bob, &m1), "1");
    assert_eq!(rejected(&mut bob, &m1), DecryptError::Duplicate);
    // After a DH turn, old messages are still refused.
    let b = send(&mut bob, "b", &mut rng);
    recv(&mut alice, &b);
    let c = send(&mut alice, "c", &mut rng);
    recv(&mut bob, &c);
    assert!(bob.decrypt(&m3).is_err());
    assert_eq!(recv(&mut bob, &m2), "2");
    assert!(rejected(&mut bob, &m2) == DecryptError::Duplicate || bob.decrypt(&m2).is_err());
}

#[test]
fn forgeries_leave_the_state_identical() {
    let mut rng = rng(5);
    let (mut alice, mut bob) = pair(&mut rng);
    let skipped = send(&mut alice, "skipped", &mut rng);
    let m = send(&mut alice, "genuine", &mut rng);
    let mut forgeries: Vec<(&str, Message)> = Vec::new();
    let mut f = m.clone();
    f.ciphertext[0] ^= 1;
    forgeries.push(("ciphertext", f));
    let mut f = m.clone();
    *f.ciphertext.last_mut().unwrap() ^= 1;
    forgeries.push(("tag", f));
    let mut f = m.clone();
    f.nonce[11] ^= 1;
    forgeries.push(("nonce", f));
    for n in [
        m.header.n + 1,
        m.header.n + 500,
        m.header.n + MAX_SKIP,
        u32::MAX,
    ] {
        let mut f = m.clone();
        f.header.n = n;
        forgeries.push(("n", f));
    }
    let mut f = m.clone();
    f.header.pn = 7;
    forgeries.push(("pn", f));
    let mut f = m.clone();
    f.header.dh = StaticSecret::generate(&mut rng).public_key();
    forgeries.push(("dh", f));
    let mut f = m.clone();
    f.header.dh = StaticSecret::generate(&mut rng).public_key();
    f.header.pn = 900;
    f.header.n = 900;
    forgeries.push(("dh with big gaps", f));
    let mut f = m.clone();
    f.ciphertext.truncate(15);
    forgeries.push(("truncated", f));
    // Forgeries aimed at the stored skipped key must not consume it.
    let mut f = skipped.clone();
    f.ciphertext[0] ^= 1;
    forgeries.push(("skipped key", f));

    let mut f = m.clone();
    f.header.n = skipped.header.n;
    forgeries.push(("genuine ciphertext under a skipped key", f));

    let m0 = send(&mut alice, "three", &mut rng);
    assert_eq!(recv(&mut bob, &m0), "three"); // stores the keys of `skipped` and `m`
    assert_eq!(bob.skipped_keys(), 2);
    for (what, forged) in &forgeries {
        let before = state(&bob);
        assert!(bob.decrypt(forged).is_err(), "{what} accepted");
        assert_eq!(state(&bob), before, "{what} changed the session");
    }
    let mut f = m.clone();
    f.header.dh = PublicKey::from_bytes([0; 32]);
    // Bob's next ratchet key is pending: no new peer key is acceptable.
    assert_eq!(rejected(&mut bob, &f), DecryptError::DecryptionFailed);
    // Alice has a ratchet key: the small-order key is caught by the DH.
    assert_eq!(rejected(&mut alice, &f), DecryptError::InvalidDhKey);
    assert_eq!(
        DecryptError::InvalidDhKey.upstream_code(),
        "RATCHET_INVALID_DH_KEY"
    );
    assert_eq!(recv(&mut bob, &m), "genuine");
    assert_eq!(recv(&mut bob, &skipped), "skipped");
    // And the session goes on.
    let reply = send(&mut bob, "ok", &mut rng);
    assert_eq!(recv(&mut alice, &reply), "ok");
}

#[test]
fn a_new_chain_forgery_is_refused_while_a_send_is_due() {
    let mut rng = rng(6);
    let (mut alice, mut bob) = pair(&mut rng);
    let b = send(&mut bob, "b", &mut rng);
    recv(&mut alice, &b);
    assert!(
        alice.our_ratchet_key().is_none(),
        "new ratchet key deferred to the next send"
    );
    let mut f = send(&mut bob, "b2", &mut rng);
    f.header.dh = StaticSecret::generate(&mut rng).public_key();
    assert_eq!(rejected(&mut alice, &f), DecryptError::DecryptionFailed);
}

/// Alice's session whose first message Bob has seen, and `count` more messages after it.
fn chain(count: u32, rng: &mut ChaCha20Rng) -> (Session, Vec<Message>) {
    let (mut alice, bob) = pair(rng);
    let messages = (0..count)
        .map(|i| send(&mut alice, &i.to_string(), rng))
        .collect();
    (bob, messages)
}

#[test]
fn max_skip_in_the_current_chain() {
    let mut rng = rng(7);
    let (mut bob, messages) = chain(MAX_SKIP + 2, &mut rng);
    // Bob has Nr = 1; message i has n = i + 1.
    let over = &messages[MAX_SKIP as usize]; // n = 1001: skips 1000 keys: allowed
    let too_far = &messages[MAX_SKIP as usize + 1]; // n = 1002: would skip 1001
    let err = rejected(&mut bob, too_far);
    assert_eq!(
        err,
        DecryptError::TooManySkipped {
            gap: 1001,
            limit: MAX_SKIP
        }
    );
    assert!(err.to_string().contains("too many skipped messages"));
    assert_eq!(err.upstream_code(), "RATCHET_MAX_SKIP_EXCEEDED");
    assert_eq!(recv(&mut bob, over), MAX_SKIP.to_string());
    assert_eq!(bob.skipped_keys(), MAX_SKIP as usize);
    assert_eq!(recv(&mut bob, &messages[0]), "0");
    assert_eq!(recv(&mut bob, too_far), (MAX_SKIP + 1).to_string());
}

#[test]
fn max_skip_for_a_first_message() {
    let mut rng = rng(8);
    let (mut alice, spk) = alice_and_spk(&mut rng);
    let messages: Vec<Message> = (0..=MAX_SKIP + 1)
        .map(|i| send(&mut alice, &i.to_string(), &mut rng))
        .collect();
    assert!(matches!(
        v1_1::accept(&spk, &messages[MAX_SKIP as usize + 1]),
        Err(v1_1::StartError::Decrypt(DecryptError::TooManySkipped {
            gap: 1001,
            ..
        }))
    ));
    let (mut bob, text) = v1_1::accept(&spk, &messages[MAX_SKIP as usize]).unwrap();
    assert_eq!(&text[..], MAX_SKIP.to_string().as_bytes());
    assert_eq!(recv(&mut bob, &messages[17]), "17");
}

#[test]
fn max_skip_in_the_previous_chain() {
    let mut rng = rng(9);
    let (mut alice, mut bob) = pair(&mut rng);
    // Bob has seen message 0 of Alice's chain; she sends 1001 more, then turns the ratchet.
    for i in 0..=MAX_SKIP {
        send(&mut alice, &i.to_string(), &mut rng);
    }
    let b = {
        let mut rng2 = self::rng(10);
        send(&mut bob, "b", &mut rng2)
    };
    recv(&mut alice, &b);
    let c = send(&mut alice, "c", &mut rng);
    assert_eq!(c.header.pn, MAX_SKIP + 2);
    // pn = 1002, Nr = 1: 1001 keys to skip in the old chain.
    assert!(matches!(
        rejected(&mut bob, &c),
        DecryptError::TooManySkipped { gap: 1001, .. }
    ));

    // With one fewer it works: exactly 1000.
    let mut rng = self::rng(11);
    let (mut alice, mut bob) = pair(&mut rng);
    for i in 0..MAX_SKIP {
        send(&mut alice, &i.to_string(), &mut rng);
    }
    let b = send(&mut bob, "b", &mut rng);
    recv(&mut alice, &b);
    let c = send(&mut alice, "c", &mut rng);
    assert_eq!(recv(&mut bob, &c), "c");
    assert_eq!(bob.skipped_keys(), MAX_SKIP as usize);
}

#[test]
fn eviction_is_fifo_and_never_wedges() {
    let mut rng = rng(12);
    let (mut alice, mut bob) = pair(&mut rng);
    let mut config = SessionConfig::default();
    assert_eq!(config.max_skipped_keys(), 2000);
    config.set_max_skipped_keys(5);
    bob.set_config(config);
    assert_eq!(bob.config().max_skipped_keys(), 5);
    let messages: Vec<Message> = (0..11)
        .map(|i| send(&mut alice, &i.to_string(), &mut rng))
        .collect();
    assert_eq!(recv(&mut bob, &messages[10]), "10");
    assert_eq!(bob.skipped_keys(), 5, "10 skipped, the 5 oldest evicted");
    for evicted in &messages[..5] {
        assert_eq!(rejected(&mut bob, evicted), DecryptError::Duplicate);
    }
    for (i, kept) in messages.iter().enumerate().take(10).skip(5) {
        assert_eq!(recv(&mut bob, kept), i.to_string());
    }
    // Across a DH turn: keys of the old chain go first.
    let old: Vec<Message> = (0..3)
        .map(|i| send(&mut alice, &format!("o{i}"), &mut rng))
        .collect();
    let b = send(&mut bob, "b", &mut rng);
    recv(&mut alice, &b);
    let new: Vec<Message> = (0..5)
        .map(|i| send(&mut alice, &format!("n{i}"), &mut rng))
        .collect();
    assert_eq!(recv(&mut bob, &new[4]), "n4"); // skips o0..o2 and n0..n3: 7 > 5
    assert_eq!(bob.skipped_keys(), 5);
    assert_eq!(rejected(&mut bob, &old[0]), DecryptError::DecryptionFailed);
    assert!(bob.decrypt(&old[1]).is_err());
    assert_eq!(recv(&mut bob, &old[2]), "o2");
    for (i, m) in new.iter().enumerate().take(4) {
        assert_eq!(recv(&mut bob, m), format!("n{i}"));
    }
    // Lowering the bound evicts at once.
    let more: Vec<Message> = (0..4)
        .map(|i| send(&mut alice, &i.to_string(), &mut rng))
        .collect();
    recv(&mut bob, &more[3]);
    assert_eq!(bob.skipped_keys(), 3);
    config.set_max_skipped_keys(1);
    bob.set_config(config);
    assert_eq!(bob.skipped_keys(), 1);
    assert_eq!(recv(&mut bob, &more[2]), "2");
}

#[test]
fn a_large_skip_stays_bounded_by_the_session_cap() {
    let mut rng = rng(13);
    let (mut alice, mut bob) = pair(&mut rng);
    // Three chains of 1000 skipped keys each: the store holds the newest 2000.
    let mut firsts = Vec::new();
    for round in 0..3 {
        let first = send(&mut alice, "first", &mut rng);
        for _ in 0..999 {
            send(&mut alice, "", &mut rng);
        }
        let last = send(&mut alice, "last", &mut rng);
        assert_eq!(recv(&mut bob, &last), "last");
        firsts.push(first);
        let b = send(&mut bob, &format!("b{round}"), &mut rng);
        recv(&mut alice, &b);
    }
    assert_eq!(bob.skipped_keys(), 2000);
    assert!(bob.decrypt(&firsts[0]).is_err());
    assert_eq!(recv(&mut bob, &firsts[1]), "first");
    assert_eq!(recv(&mut bob, &firsts[2]), "first");
}

#[test]
fn both_encodings_decrypt() {
    let mut rng = rng(14);
    let (mut alice, mut bob) = pair(&mut rng);
    let m1 = send(&mut alice, "json", &mut rng);
    let m2 = send(&mut alice, "cbor", &mut rng);
    let from_json = Message::from_wire_b64u(&m1.to_wire_b64u()).unwrap();
    let from_cbor = Message::from_cbor(&m2.to_cbor()).unwrap();
    assert_eq!(from_json, m1);
    assert_eq!(from_cbor, m2);
    assert_eq!(recv(&mut bob, &from_cbor), "cbor");
    assert_eq!(recv(&mut bob, &from_json), "json");
    // A 1 KiB message on the upstream wire is 2008 bytes (REFERENCE.md §2.4) when n = pn = 0.
    let (mut alice, _) = alice_and_spk(&mut rng);
    let m = alice.encrypt(&[0; 1024], &mut rng).unwrap();
    assert_eq!(m.to_wire_b64u().len(), 2008);
    assert!(m.to_cbor().len() <= 1024 + 16 + 60);
}

#[test]
fn debug_shows_no_secrets() {
    let mut rng = rng(15);
    let (alice, bob) = pair(&mut rng);
    let shown = format!("{alice:?} {bob:?}");
    for session in [&alice, &bob] {
        let bytes = session.snapshot().to_bytes();
        // Every 32-byte string in the snapshot is a key; the secret ones must not show.
        for window in bytes.windows(34) {
            if window[0] == 0x58 && window[1] == 0x20 {
                let key = &window[2..];
                let public = PublicKey::from_slice(key).unwrap();
                let hex = talos_crypto::hash::to_hex(key);
                if Some(public) != alice.their_ratchet_key()
                    && Some(public) != bob.their_ratchet_key()
                {
                    assert!(!shown.contains(&hex), "{shown}");
                    assert!(!shown.contains(&format!("{:?}", &key[..4])), "{shown}");
                }
            }
        }
    }
    assert!(shown.contains("Session"));
}
