//! Snapshots: restored sessions continue exactly; decoding is strict; sealing at rest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::SigningKey;
use talos_crypto::x25519::StaticSecret;
use talos_ratchet::message::Message;
use talos_ratchet::session::{Session, SessionConfig};
use talos_ratchet::snapshot::{self, FORMAT, SessionSnapshot, SnapshotError};
use talos_ratchet::{ProtocolVersion, v1_1};

fn pair(rng: &mut ChaCha20Rng) -> (Session, Session) {
    let spk = StaticSecret::generate(rng);
    let bundle = v1_1::PrekeyBundle::new(&SigningKey::from_seed(&[9; 32]), &spk.public_key());
    let mut alice = v1_1::initiate(&bundle, rng).unwrap();
    let first = alice.encrypt(b"hello", rng).unwrap();
    let (bob, _) = v1_1::accept(&spk, &first).unwrap();
    (alice, bob)
}

fn round_trip(session: &Session) -> Session {
    let bytes = session.snapshot().to_bytes();
    let snapshot = SessionSnapshot::from_bytes(&bytes).unwrap();
    assert_eq!(snapshot.format(), FORMAT);
    let restored = Session::restore(&snapshot);
    assert_eq!(
        *restored.snapshot().to_bytes(),
        *bytes,
        "restore then snapshot gives the same bytes"
    );
    restored
}

#[test]
fn restored_sessions_continue_exactly() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let (mut alice, mut bob) = pair(&mut rng);
    let late: Vec<Message> = (0..3)
        .map(|i| {
            alice
                .encrypt(format!("late{i}").as_bytes(), &mut rng)
                .unwrap()
        })
        .collect();
    let now = alice.encrypt(b"now", &mut rng).unwrap();
    assert_eq!(&bob.decrypt(&now).unwrap()[..], b"now");
    assert_eq!(bob.skipped_keys(), 3);

    // Bob is restored with his skipped keys; Alice in the middle of her chain.
    let mut bob2 = round_trip(&bob);
    let mut alice2 = round_trip(&alice);
    assert_eq!(bob2.skipped_keys(), 3);
    assert_eq!(bob2.their_ratchet_key(), bob.their_ratchet_key());
    assert_eq!(alice2.our_ratchet_key(), alice.our_ratchet_key());

    // Both copies behave identically given the same randomness.
    let mut r1 = ChaCha20Rng::from_seed([2; 32]);
    let mut r2 = ChaCha20Rng::from_seed([2; 32]);
    let reply = bob.encrypt(b"reply", &mut r1).unwrap();
    assert_eq!(bob2.encrypt(b"reply", &mut r2).unwrap(), reply);
    assert_eq!(&alice2.decrypt(&reply).unwrap()[..], b"reply");
    for (i, m) in late.iter().enumerate().rev() {
        assert_eq!(
            bob2.decrypt(m).unwrap().to_vec(),
            format!("late{i}").into_bytes()
        );
    }
    let next = alice2.encrypt(b"next", &mut rng).unwrap();
    assert_eq!(&bob2.decrypt(&next).unwrap()[..], b"next");
    // A pending ratchet step survives a snapshot too.
    let mut alice3 = round_trip(&alice2);
    assert!(alice3.has_received());
    let m = alice3.encrypt(b"x", &mut rng).unwrap();
    assert_eq!(&bob2.decrypt(&m).unwrap()[..], b"x");
}

#[test]
fn config_and_version_are_kept() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let (_, mut bob) = pair(&mut rng);
    let mut config = SessionConfig::default();
    config.set_max_skipped_keys(17);
    bob.set_config(config);
    let snapshot = SessionSnapshot::from_bytes(&bob.snapshot().to_bytes()).unwrap();
    assert_eq!(snapshot.protocol(), ProtocolVersion::V1_1);
    assert_eq!(snapshot.config().max_skipped_keys(), 17);
    let restored = Session::restore(&snapshot);
    assert_eq!(restored.config(), config);
    assert_eq!(restored.version(), ProtocolVersion::V1_1);
}

/// Replaces the first occurrence of `from` with `to`.
fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    out
}

#[test]
fn decoding_is_strict() {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let (mut alice, mut bob) = pair(&mut rng);
    let skipped = alice.encrypt(b"s", &mut rng).unwrap();
    let m = alice.encrypt(b"m", &mut rng).unwrap();
    bob.decrypt(&m).unwrap();
    drop(skipped);
    let good = bob.snapshot().to_bytes();
    assert!(SessionSnapshot::from_bytes(&good).is_ok());

    for cut in 0..good.len() {
        assert!(
            SessionSnapshot::from_bytes(&good[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut trailing = good.to_vec();
    trailing.push(0);
    assert!(SessionSnapshot::from_bytes(&trailing).is_err());

    // Format and protocol version.
    let other_format = patch(&good, &[0x00, 0x01], &[0x00, 0x02]);
    assert_eq!(
        SessionSnapshot::from_bytes(&other_format).unwrap_err(),
        SnapshotError::UnsupportedFormat(2)
    );
    let other_protocol = patch(&good, b"talos-v1.1", b"talos-v9.9");
    assert_eq!(
        SessionSnapshot::from_bytes(&other_protocol).unwrap_err(),
        SnapshotError::UnknownProtocol("talos-v9.9".into())
    );
    let v2 = patch(
        &good,
        &[
            0x6a, b't', b'a', b'l', b'o', b's', b'-', b'v', b'1', b'.', b'1',
        ],
        &[0x68, b't', b'a', b'l', b'o', b's', b'-', b'v', b'2'],
    );
    assert_eq!(
        SessionSnapshot::from_bytes(&v2).unwrap().protocol(),
        ProtocolVersion::V2
    );

    // A non-shortest head for the format number.
    let long_head = patch(&good, &[0x00, 0x01], &[0x00, 0x18, 0x01]);
    assert!(matches!(
        SessionSnapshot::from_bytes(&long_head),
        Err(SnapshotError::Malformed(_))
    ));
    // has_received = false with a receiving chain: inconsistent.
    let lie = patch(&good, &[0x0b, 0xf5], &[0x0b, 0xf4]);
    assert!(matches!(
        SessionSnapshot::from_bytes(&lie),
        Err(SnapshotError::Inconsistent(_))
    ));
    // More skipped keys than the bound.
    let bound = patch(&good, &[0x0c, 0x19, 0x07, 0xd0], &[0x0c, 0x00]);
    assert!(matches!(
        SessionSnapshot::from_bytes(&bound),
        Err(SnapshotError::Inconsistent(_))
    ));
    assert!(matches!(
        SessionSnapshot::from_bytes(&vec![0; snapshot::MAX_SNAPSHOT_LEN + 1]),
        Err(SnapshotError::TooLarge { .. })
    ));
}

#[test]
fn seal_and_open() {
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let (alice, _) = pair(&mut rng);
    let bytes = alice.snapshot().to_bytes();
    let key = [42u8; 32];
    let sealed = snapshot::seal(&key, &bytes, &mut rng);
    assert_eq!(&sealed[..5], &snapshot::SEAL_HEADER);
    assert_eq!(sealed.len(), bytes.len() + 5 + 24 + 16);
    assert!(
        !sealed
            .windows(16)
            .any(|w| bytes.windows(16).any(|b| b == w)),
        "the snapshot is encrypted"
    );
    assert_eq!(*snapshot::open(&key, &sealed).unwrap(), *bytes);
    // Random nonces: sealing twice differs.
    assert_ne!(snapshot::seal(&key, &bytes, &mut rng), sealed);

    assert_eq!(
        snapshot::open(&[43; 32], &sealed).unwrap_err(),
        SnapshotError::DecryptionFailed
    );
    for i in [0, 4, 5, 20, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[i] ^= 1;
        assert!(snapshot::open(&key, &bad).is_err(), "byte {i}");
    }
    for cut in 0..45 {
        assert!(snapshot::open(&key, &sealed[..cut.min(sealed.len())]).is_err());
    }
    // An empty snapshot seals and opens too.
    let empty = snapshot::seal(&key, &[], &mut rng);
    assert!(snapshot::open(&key, &empty).unwrap().is_empty());
}

#[test]
fn a_responder_before_its_first_message_round_trips() {
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let spk = StaticSecret::generate(&mut rng);
    let bundle = v1_1::PrekeyBundle::new(&SigningKey::from_seed(&[9; 32]), &spk.public_key());
    let mut alice = v1_1::initiate(&bundle, &mut rng).unwrap();
    let first = alice.encrypt(b"first", &mut rng).unwrap();
    let bob = v1_1::respond(&spk, &first.header).unwrap();
    let mut bob = round_trip(&bob);
    assert!(!bob.has_received());
    assert_eq!(&bob.decrypt(&first).unwrap()[..], b"first");
    let mut bob = round_trip(&bob);
    let reply = bob.encrypt(b"reply", &mut rng).unwrap();
    assert_eq!(&alice.decrypt(&reply).unwrap()[..], b"reply");
}

/// Format 1 must stay readable and byte-stable: a fixed session's snapshot is pinned (a
/// layout change needs a new format number, and old snapshots must still load).
#[test]
fn format_1_is_stable() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let (mut alice, mut bob) = pair(&mut rng);
    let skipped = alice.encrypt(b"s", &mut rng).unwrap();
    let m = alice.encrypt(b"m", &mut rng).unwrap();
    bob.decrypt(&m).unwrap();
    let bytes = bob.snapshot().to_bytes();
    assert_eq!(talos_crypto::hash::to_hex(&bytes), PINNED);
    // Keys, in order: 0..=3, 5, 7..=13 (no sending chain and no ratchet secret: Bob's next
    // ratchet key is due at his next send).
    assert_eq!(bytes[0], 0xac, "a map of 12 members");
    let pinned = hex::decode(PINNED).unwrap();
    let mut restored = Session::restore(&SessionSnapshot::from_bytes(&pinned).unwrap());
    assert_eq!(&restored.decrypt(&skipped).unwrap()[..], b"s");
}

/// Bob's snapshot: `{0: 1, 1: "talos-v1.1", 2: h'', 3: root, 5: DHr, 7: CKr, 8: 0, 9: 3,
/// 10: 0, 11: true, 12: 2000, 13: [[dh, 1, mk]]}`.
const PINNED: &str = concat!(
    "ac0001016a74616c6f732d76312e3102400358200f05b2dd10925e425846ecbd06a5a28670529239a976f8",
    "6ab71f3556130d7592055820ac54309fa8bae006f307f0217c768b7698f6342657dac1eecbeca2cc12ec9b",
    "190758200cb255c0c361e6df42736e74222b9bfeceaad5e5d7ec1b0a292f22c27b102c45080009030a000b",
    "f50c1907d00d81835820ac54309fa8bae006f307f0217c768b7698f6342657dac1eecbeca2cc12ec9b1901",
    "582024f7e2fd5fa91fabfe364c2bad9c47d018c092c6f1d0580dd71189cf92bf5912",
);
