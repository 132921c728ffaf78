//! talos-ratchet beside vodozemac (Olm) and raw X25519: the sessions both sides start from,
//! and the pairs the `compare` binary times.
//!
//! Both libraries run a steady conversation that has already turned once (each side has
//! sent and received), so the first measured message is an ordinary one, not a pre-key
//! message. Our randomness comes from a seeded `ChaCha20Rng`; vodozemac draws its own from
//! the OS, which it does only when it makes a new ratchet key.

use core::hint::black_box;

use criterion::Throughput;
use talos_crypto::SigningKey;
use talos_crypto::aead::ChaCha20Poly1305;
use talos_crypto::x25519::StaticSecret;
use talos_ratchet::kdf::{ChainKey, kdf_ck};
use talos_ratchet::prekeys::PrekeyStore;
use talos_ratchet::session::Session;
use talos_ratchet::x3dh;
use vodozemac::olm::{Account, OlmMessage, Session as OlmSession, SessionConfig};

use crate::{KIB, Pair, random_array, random_bytes, rng};

/// Alice and Bob after an X3DH start (with a one-time prekey) and one reply from Bob, so
/// both have a sending and a receiving chain. Seeded from `seed`.
#[must_use]
pub fn talos_pair(seed: u64) -> (Session, Session) {
    let mut rng = rng(seed);
    let mut store = PrekeyStore::new(SigningKey::from_seed(&random_array(&mut rng)), &mut rng);
    let opk = store.generate_one_time_prekeys(1, &mut rng).unwrap()[0].id;
    let bundle = store.bundle(Some(opk)).unwrap();
    let alice_id = SigningKey::from_seed(&random_array(&mut rng));
    let (mut alice, header) = x3dh::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let first = alice.encrypt(b"hello", &mut rng).unwrap();
    let (mut bob, _) = x3dh::respond(&mut store, &header.wrap(first)).unwrap();
    let reply = bob.encrypt(b"hi", &mut rng).unwrap();
    alice.decrypt(&reply).unwrap();
    (alice, bob)
}

/// The same for vodozemac: an Olm session from Alice's outbound session to Bob's inbound
/// one, and one reply.
#[must_use]
pub fn olm_pair() -> (OlmSession, OlmSession) {
    let alice = Account::new();
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    let otk = *bob.one_time_keys().values().next().unwrap();
    bob.mark_keys_as_published();
    let mut alice_session = alice
        .create_outbound_session(SessionConfig::version_1(), bob.curve25519_key(), otk)
        .unwrap();
    let OlmMessage::PreKey(first) = alice_session.encrypt(b"hello").unwrap() else {
        unreachable!("an outbound session's first message is a pre-key message")
    };
    let mut bob_session = bob
        .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), &first)
        .unwrap()
        .session;
    let reply = bob_session.encrypt(b"hi").unwrap();
    alice_session.decrypt(&reply).unwrap();
    (alice_session, bob_session)
}

/// The ratchet pairs: a 1 KiB message in one direction (encrypt + decrypt, no DH turn) and
/// a ping-pong message (each one turns the DH ratchet) against vodozemac, and the same
/// ping-pong message against two raw X25519 agreements (the floor of a DH turn).
#[must_use]
pub fn ratchet_pairs() -> Vec<Pair> {
    let mut input = rng(40);
    let plaintext = random_bytes(&mut input, KIB);

    // One direction: Alice keeps sending, Bob keeps receiving.
    let ours = {
        let (mut alice, mut bob) = talos_pair(41);
        let mut rng = rng(42);
        let plaintext = plaintext.clone();
        let check = bob
            .decrypt(&alice.encrypt(&plaintext, &mut rng).unwrap())
            .unwrap();
        assert_eq!(&check[..], &plaintext[..]);
        move || {
            let message = alice.encrypt(black_box(&plaintext), &mut rng).unwrap();
            black_box(bob.decrypt(&message).unwrap());
        }
    };
    let peer = {
        let (mut alice, mut bob) = olm_pair();
        let plaintext = plaintext.clone();
        assert_eq!(
            bob.decrypt(&alice.encrypt(&plaintext).unwrap()).unwrap(),
            plaintext
        );
        move || {
            let message = alice.encrypt(black_box(&plaintext)).unwrap();
            black_box(bob.decrypt(&message).unwrap());
        }
    };
    let one_way = Pair::new(
        "ratchet",
        "encrypt+decrypt/1KiB",
        "vodozemac",
        Throughput::Bytes(KIB as u64),
        ours,
        peer,
    );

    // The same message against the primitives it is made of: KDF_CK on each side, one
    // ChaCha20-Poly1305 seal and one open (per-message keys, as the ratchet uses them).
    let ours_again = {
        let (mut alice, mut bob) = talos_pair(46);
        let mut rng = rng(47);
        let plaintext = plaintext.clone();
        move || {
            let message = alice.encrypt(black_box(&plaintext), &mut rng).unwrap();
            black_box(bob.decrypt(&message).unwrap());
        }
    };
    let primitives = {
        let mut ck = ChainKey::from_bytes(random_array(&mut input));
        let plaintext = plaintext.clone();
        // talos-v2's AAD: AD (64 bytes) then the canonical header (about 60).
        let aad = [0x5a; 124];
        move || {
            let (mk, next) = kdf_ck(black_box(&ck));
            let sealed = ChaCha20Poly1305::new(mk.as_bytes())
                .seal(&[0; 12], &aad, black_box(&plaintext))
                .unwrap();
            let (mk, _) = kdf_ck(black_box(&ck));
            black_box(
                ChaCha20Poly1305::new(mk.as_bytes())
                    .open(&[0; 12], &aad, &sealed)
                    .unwrap(),
            );
            ck = next;
        }
    };
    let floor_message = Pair::new(
        "ratchet",
        "encrypt+decrypt-vs-primitives/1KiB",
        "2 KDF_CK + ChaCha20-Poly1305 seal and open",
        Throughput::Bytes(KIB as u64),
        ours_again,
        primitives,
    );

    // Ping-pong: the sides take turns, so every message carries a new ratchet key.
    let ping_pong_ours = || {
        let (mut a, mut b) = talos_pair(43);
        let mut rng = rng(44);
        move || {
            let message = a.encrypt(black_box(b"ping"), &mut rng).unwrap();
            black_box(b.decrypt(&message).unwrap());
            core::mem::swap(&mut a, &mut b);
        }
    };
    let ping_pong_olm = {
        let (mut a, mut b) = olm_pair();
        move || {
            let message = a.encrypt(black_box(b"ping")).unwrap();
            black_box(b.decrypt(&message).unwrap());
            core::mem::swap(&mut a, &mut b);
        }
    };
    let turn = Pair::new(
        "ratchet",
        "dh-turn",
        "vodozemac",
        Throughput::Elements(1),
        ping_pong_ours(),
        ping_pong_olm,
    );

    // The floor: two X25519 agreements (a turn costs two agreements and one key generation).
    let two_dh = {
        let mut rng = rng(45);
        let (a, b) = (
            StaticSecret::generate(&mut rng),
            StaticSecret::generate(&mut rng),
        );
        let (pa, pb) = (a.public_key(), b.public_key());
        move || {
            black_box(a.diffie_hellman(black_box(&pb)).unwrap());
            black_box(b.diffie_hellman(black_box(&pa)).unwrap());
        }
    };
    let floor = Pair::new(
        "ratchet",
        "dh-turn-vs-2dh",
        "x25519-dalek, two agreements",
        Throughput::Elements(1),
        ping_pong_ours(),
        two_dh,
    );

    vec![one_way, floor_message, turn, floor]
}
