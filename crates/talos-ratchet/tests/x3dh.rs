//! The talos-v2 session start: X3DH handshakes, prekey state, encodings and failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use core::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::{SigningKey, Timestamp, x25519};
use talos_ratchet::ProtocolVersion;
use talos_ratchet::prekeys::{
    BundleError, MAX_ONE_TIME_BATCH, MAX_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEYS, PrekeyBundle,
    PrekeyError, PrekeyStore, SignedPrekey,
};
use talos_ratchet::session::{DecryptError, Session};
use talos_ratchet::x3dh::{
    self, HandshakeDecodeError, HandshakeError, InitialHeader, InitialMessage, PqHeader,
};

const T0: u64 = 1_768_178_601_000;
const DAY: u64 = 86_400_000;

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

fn alice() -> SigningKey {
    SigningKey::from_seed(&[0xa1; 32])
}

fn bob_store(rng: &mut ChaCha20Rng) -> PrekeyStore {
    let mut store = PrekeyStore::new(SigningKey::from_seed(&[0xb0; 32]), rng);
    store.generate_one_time_prekeys(5, rng).unwrap();
    store
}

/// Alice starts a session from `bundle` and sends `text`.
fn start(
    bundle: &PrekeyBundle,
    text: &[u8],
    rng: &mut ChaCha20Rng,
) -> (Session, InitialHeader, InitialMessage) {
    let (mut session, header) = x3dh::initiate(&alice(), bundle, rng).unwrap();
    let message = session.encrypt(text, rng).unwrap();
    let initial = header.wrap(message);
    (session, header, initial)
}

fn handshake_and_conversation(with_opk: bool) {
    let mut r = rng(1);
    let mut store = bob_store(&mut r);
    let opk = with_opk.then(|| store.one_time_prekeys()[2].id);
    let bundle = store.bundle(opk).unwrap();
    let (mut a, header, initial) = start(&bundle, b"hello bob", &mut r);
    assert_eq!(header.one_time_prekey_id, opk);
    assert_eq!(header.signed_prekey_id, store.signed_prekey().id);
    assert_eq!(a.version(), ProtocolVersion::V2);
    assert!(!a.has_received());

    let (mut b, first) = x3dh::respond(&mut store, &initial).unwrap();
    assert_eq!(&first[..], b"hello bob");
    assert_eq!(b.version(), ProtocolVersion::V2);
    let mut ad = alice().verifying_key().to_bytes().to_vec();
    ad.extend_from_slice(store.identity_key().as_bytes());
    assert_eq!(a.associated_data(), &ad[..]);
    assert_eq!(b.associated_data(), &ad[..]);
    assert_eq!(store.one_time_prekey_count(), if with_opk { 4 } else { 5 });

    // Alice sends a second message before Bob answers: still an initial message, and it
    // belongs to the session Bob already has.
    let second = header.wrap(a.encrypt(b"still there?", &mut r).unwrap());
    assert_eq!(&b.decrypt(&second.message).unwrap()[..], b"still there?");

    // Bob replies; Alice stops sending the header.
    let reply = b.encrypt(b"hi alice", &mut r).unwrap();
    assert_eq!(&a.decrypt(&reply).unwrap()[..], b"hi alice");
    assert!(a.has_received());

    for i in 0..6u8 {
        let m = a.encrypt(&[i; 40], &mut r).unwrap();
        assert_eq!(&b.decrypt(&m).unwrap()[..], &[i; 40]);
        let m = b.encrypt(&[i + 100; 3], &mut r).unwrap();
        assert_eq!(&a.decrypt(&m).unwrap()[..], &[i + 100; 3]);
    }
}

#[test]
fn handshake_with_one_time_prekey() {
    handshake_and_conversation(true);
}

#[test]
fn handshake_without_one_time_prekey() {
    handshake_and_conversation(false);
}

#[test]
fn both_sides_derive_the_same_secret() {
    let mut r = rng(2);
    let store = bob_store(&mut r);
    for opk in [None, Some(1)] {
        let bundle = store.bundle(opk).unwrap();
        let (mine, header) = x3dh::agree_initiator(&alice(), &bundle, &mut r).unwrap();
        let theirs = x3dh::agree_responder(&store, &header).unwrap();
        assert_eq!(mine.secret_key(), theirs.secret_key());
        assert_eq!(mine.associated_data(), theirs.associated_data());
        assert_eq!(mine.version(), ProtocolVersion::V2);
        // The secret depends on every input: another ephemeral key gives another one.
        let (other, _) = x3dh::agree_initiator(&alice(), &bundle, &mut r).unwrap();
        assert_ne!(mine.secret_key(), other.secret_key());
        // Debug never shows it.
        let shown = format!("{mine:?}");
        assert!(
            !shown.contains(&hex::encode(mine.secret_key())[..16]),
            "{shown}"
        );
    }
}

#[test]
fn one_time_prekey_is_consumed_exactly_once() {
    let mut r = rng(3);
    let mut store = bob_store(&mut r);
    let id = store.one_time_prekeys()[0].id;
    let bundle = store.bundle(Some(id)).unwrap();
    let (_, _, initial) = start(&bundle, b"one", &mut r);
    x3dh::respond(&mut store, &initial).unwrap();
    // A replay of the same initial message.
    assert_eq!(
        x3dh::respond(&mut store, &initial).unwrap_err(),
        HandshakeError::OneTimePrekeyUsed(id)
    );
    // A fresh session start that names the same prekey.
    let (_, _, again) = start(&bundle, b"two", &mut r);
    let err = x3dh::respond(&mut store, &again).unwrap_err();
    assert_eq!(err, HandshakeError::OneTimePrekeyUsed(id));
    assert!(err.to_string().contains("already used"));
    assert!(store.bundle(Some(id)).is_err());
    // An id never issued is a different error.
    let mut forged = again.clone();
    forged.header.one_time_prekey_id = Some(9999);
    assert_eq!(
        x3dh::respond(&mut store, &forged).unwrap_err(),
        HandshakeError::UnknownOneTimePrekey(9999)
    );
    // The used id stays used across a snapshot.
    let mut restored = PrekeyStore::from_snapshot(&store.to_snapshot()).unwrap();
    assert_eq!(
        x3dh::respond(&mut restored, &again).unwrap_err(),
        HandshakeError::OneTimePrekeyUsed(id)
    );
}

#[test]
fn signed_prekey_rotation_with_grace() {
    let mut r = rng(4);
    let mut store = bob_store(&mut r);
    let old_bundle = store.bundle(None).unwrap();
    let old = old_bundle.signed_prekey.id;
    let new = store
        .rotate_signed_prekey(Timestamp::from_millis(T0), &mut r)
        .unwrap();
    assert_ne!(new.id, old);
    assert_eq!(store.signed_prekey(), new);
    assert_eq!(store.bundle(None).unwrap().signed_prekey, new);
    assert_eq!(store.signed_prekey_ids(), vec![old, new.id]);

    // Within the grace period an initiator with the old bundle still gets through.
    let grace = Duration::from_secs(7 * 86_400);
    assert_eq!(
        store.expire_signed_prekeys(Timestamp::from_millis(T0 + 6 * DAY), grace),
        0
    );
    let (_, _, initial) = start(&old_bundle, b"old bundle", &mut r);
    let (_, pt) = x3dh::respond(&mut store, &initial).unwrap();
    assert_eq!(&pt[..], b"old bundle");

    // After it, the old key is gone.
    assert_eq!(
        store.expire_signed_prekeys(Timestamp::from_millis(T0 + 7 * DAY), grace),
        1
    );
    assert_eq!(store.signed_prekey_ids(), vec![new.id]);
    let (_, _, late) = start(&old_bundle, b"too late", &mut r);
    assert_eq!(
        x3dh::respond(&mut store, &late).unwrap_err(),
        HandshakeError::UnknownSignedPrekey(old)
    );
    // The new one works, and cannot be removed while current.
    let (_, _, fresh) = start(&store.bundle(None).unwrap(), b"new", &mut r);
    x3dh::respond(&mut store, &fresh).unwrap();
    assert_eq!(
        store.remove_signed_prekey(new.id).unwrap_err(),
        PrekeyError::CurrentSignedPrekey(new.id)
    );
    assert_eq!(
        store.remove_signed_prekey(old).unwrap_err(),
        PrekeyError::UnknownSignedPrekey(old)
    );
    // The current key never expires, however much time passes.
    assert_eq!(
        store.expire_signed_prekeys(Timestamp::from_millis(u64::MAX), Duration::ZERO),
        0
    );
}

#[test]
fn signed_prekeys_are_bounded() {
    let mut r = rng(5);
    let mut store = bob_store(&mut r);
    for i in 1..MAX_SIGNED_PREKEYS {
        store
            .rotate_signed_prekey(Timestamp::from_millis(T0 + i as u64), &mut r)
            .unwrap();
    }
    let before = store.to_snapshot();
    assert_eq!(
        store
            .rotate_signed_prekey(Timestamp::from_millis(T0 + DAY), &mut r)
            .unwrap_err(),
        PrekeyError::TooManySignedPrekeys {
            max: MAX_SIGNED_PREKEYS
        }
    );
    assert_eq!(
        *store.to_snapshot(),
        *before,
        "refused rotation changed nothing"
    );
    let oldest = store.signed_prekey_ids()[0];
    store.remove_signed_prekey(oldest).unwrap();
    store
        .rotate_signed_prekey(Timestamp::from_millis(T0 + DAY), &mut r)
        .unwrap();
}

#[test]
fn one_time_prekeys_are_bounded() {
    let mut r = rng(6);
    let mut store = PrekeyStore::new(SigningKey::from_seed(&[1; 32]), &mut r);
    assert!(matches!(
        store.generate_one_time_prekeys(MAX_ONE_TIME_BATCH + 1, &mut r),
        Err(PrekeyError::BatchTooLarge { .. })
    ));
    let mut ids = Vec::new();
    while store.one_time_prekey_count() < MAX_ONE_TIME_PREKEYS {
        ids.extend(
            store
                .generate_one_time_prekeys(MAX_ONE_TIME_BATCH, &mut r)
                .unwrap()
                .iter()
                .map(|k| k.id),
        );
    }
    assert_eq!(ids.len(), MAX_ONE_TIME_PREKEYS);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    assert!(matches!(
        store.generate_one_time_prekeys(1, &mut r),
        Err(PrekeyError::TooManyOneTimePrekeys { .. })
    ));
    assert_eq!(store.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
}

#[test]
fn bad_signatures_are_refused() {
    let mut r = rng(7);
    let store = bob_store(&mut r);
    let good = store.bundle(Some(1)).unwrap();
    good.verify().unwrap();

    // Signed by someone else.
    let mut forged = good.clone();
    let mallory = SigningKey::from_seed(&[0x66; 32]);
    forged.signed_prekey =
        SignedPrekey::sign(&mallory, good.signed_prekey.id, good.signed_prekey.key);
    assert_eq!(forged.verify(), Err(BundleError::BadSignature));
    assert_eq!(
        x3dh::initiate(&alice(), &forged, &mut r).unwrap_err(),
        HandshakeError::BadSignature
    );
    // A key swapped under a valid signature, and a signature over another id.
    let mut swapped = good.clone();
    swapped.signed_prekey.key = x25519::StaticSecret::from_bytes([9; 32]).public_key();
    assert_eq!(
        x3dh::agree_initiator(&alice(), &swapped, &mut r).unwrap_err(),
        HandshakeError::BadSignature
    );
    let mut renumbered = good.clone();
    renumbered.signed_prekey.id += 1;
    assert_eq!(
        x3dh::initiate(&alice(), &renumbered, &mut r).unwrap_err(),
        HandshakeError::BadSignature
    );
    // The signed message is the one talos-did records use.
    let m = good.signed_prekey.signed_message();
    assert_eq!(&m[..22], b"talos-v2 signed prekey");
    assert_eq!(m[22..26], good.signed_prekey.id.to_be_bytes());
    assert_eq!(m[26..], good.signed_prekey.key.to_bytes());
}

#[test]
fn small_order_keys_are_refused() {
    let mut r = rng(8);
    let mut store = bob_store(&mut r);
    let identity = store.identity().clone();
    let mut bundle = store.bundle(None).unwrap();
    bundle.signed_prekey = SignedPrekey::sign(&identity, 1, x25519::PublicKey::from_bytes([0; 32]));
    assert_eq!(
        x3dh::initiate(&alice(), &bundle, &mut r).unwrap_err(),
        HandshakeError::NonContributory
    );
    let (_, _, mut initial) = start(&store.bundle(Some(1)).unwrap(), b"x", &mut r);
    initial.header.ephemeral_key = x25519::PublicKey::from_bytes([0; 32]);
    let before = store.to_snapshot();
    assert_eq!(
        x3dh::respond(&mut store, &initial).unwrap_err(),
        HandshakeError::NonContributory
    );
    assert_eq!(*store.to_snapshot(), *before);
}

#[test]
fn forged_initial_messages_leave_the_store_unchanged() {
    let mut r = rng(9);
    let mut store = bob_store(&mut r);
    let bundle = store.bundle(Some(2)).unwrap();
    let (_, _, genuine) = start(&bundle, b"genuine", &mut r);
    let before = store.to_snapshot();

    let mut tampered = genuine.clone();
    tampered.message.ciphertext[0] ^= 1;
    let mut wrong_counter = genuine.clone();
    wrong_counter.message.header.n = 1;
    let mut other_sender = genuine.clone();
    other_sender.header.identity_key = SigningKey::from_seed(&[0x77; 32]).verifying_key();
    let mut other_ephemeral = genuine.clone();
    other_ephemeral.header.ephemeral_key = x25519::StaticSecret::from_bytes([5; 32]).public_key();
    let mut no_opk = genuine.clone();
    no_opk.header.one_time_prekey_id = None;
    for forged in [
        tampered,
        wrong_counter,
        other_sender,
        other_ephemeral,
        no_opk,
    ] {
        let err = x3dh::respond(&mut store, &forged).unwrap_err();
        assert_eq!(
            err,
            HandshakeError::FirstMessage(DecryptError::DecryptionFailed),
            "{forged:?}"
        );
        assert!(err.to_string().contains("decryption failed"));
        assert_eq!(*store.to_snapshot(), *before, "the store changed");
    }
    // The one-time prekey survived, so the genuine message still goes through.
    let (_, pt) = x3dh::respond(&mut store, &genuine).unwrap();
    assert_eq!(&pt[..], b"genuine");
}

#[test]
fn version_mixing_is_an_error() {
    let mut r = rng(10);
    let mut store = bob_store(&mut r);
    let (_, header, initial) = start(&store.bundle(None).unwrap(), b"v2", &mut r);

    let mut claims_pq = initial.clone();
    claims_pq.header.version = ProtocolVersion::V2Pq;
    assert!(matches!(
        x3dh::respond(&mut store, &claims_pq).unwrap_err(),
        HandshakeError::VersionMismatch(_)
    ));
    let mut carries_kem = initial.clone();
    carries_kem.header.pq = Some(PqHeader {
        prekey_id: 1,
        ciphertext: Box::new([0; 1088]),
    });
    assert!(matches!(
        x3dh::respond(&mut store, &carries_kem).unwrap_err(),
        HandshakeError::VersionMismatch(_)
    ));
    let mut v1 = initial.clone();
    v1.header.version = ProtocolVersion::V1_1;
    let err = x3dh::respond(&mut store, &v1).unwrap_err();
    assert_eq!(err, HandshakeError::UnsupportedVersion("talos-v1.1"));
    assert_eq!(
        talos_crypto::ErrorCode::from(&err).as_str(),
        "TALOS_PROTOCOL_MISMATCH"
    );

    // The same mixtures on the wire are refused by the decoders.
    let json = String::from_utf8(initial.to_json()).unwrap();
    let as_v1 = json.replace(r#""protocol":"talos-v2""#, r#""protocol":"talos-v1.1""#);
    assert_eq!(
        InitialMessage::from_json(as_v1.as_bytes()).unwrap_err(),
        HandshakeDecodeError::UnsupportedProtocol("talos-v1.1")
    );
    let as_pq = json.replace(r#""protocol":"talos-v2""#, r#""protocol":"talos-v2-pq""#);
    assert_eq!(
        InitialMessage::from_json(as_pq.as_bytes()).unwrap_err(),
        HandshakeDecodeError::VersionMismatch
    );
    assert_eq!(
        InitialHeader::from_cbor(&carries_kem.header.to_cbor()).unwrap_err(),
        HandshakeDecodeError::VersionMismatch
    );
    let unknown = json.replace(r#""protocol":"talos-v2""#, r#""protocol":"talos-v9""#);
    assert!(matches!(
        InitialMessage::from_json(unknown.as_bytes()).unwrap_err(),
        HandshakeDecodeError::UnknownProtocol(_)
    ));
    assert_eq!(header.version, ProtocolVersion::V2);
    // The genuine one still works: nothing above touched the store.
    x3dh::respond(&mut store, &initial).unwrap();
}

#[test]
fn initial_message_encodings() {
    let mut r = rng(11);
    let store = bob_store(&mut r);
    for opk in [None, Some(3)] {
        let (_, _, initial) = start(&store.bundle(opk).unwrap(), b"encode me", &mut r);
        let json = initial.to_json();
        let cbor = initial.to_cbor();
        assert_eq!(InitialMessage::from_json(&json).unwrap(), initial);
        assert_eq!(InitialMessage::from_cbor(&cbor).unwrap(), initial);
        assert_eq!(talos_crypto::json::canonicalize(&json).unwrap(), json);
        assert!(cbor.len() < json.len());
        // The message inside is exactly the ratchet message's JSON.
        let text = String::from_utf8(json.clone()).unwrap();
        let inner = String::from_utf8(initial.message.to_json()).unwrap();
        assert!(text.ends_with(&format!(r#""message":{inner}}}"#)), "{text}");
        assert_eq!(
            InitialHeader::from_json(&initial.header.to_json()).unwrap(),
            initial.header
        );
        assert_eq!(
            InitialHeader::from_cbor(&initial.header.to_cbor()).unwrap(),
            initial.header
        );
        // Truncations and bit flips of the CBOR are errors, never panics.
        for cut in 0..cbor.len() {
            assert!(InitialMessage::from_cbor(&cbor[..cut]).is_err());
        }
        for i in 0..cbor.len().min(200) {
            let mut bad = cbor.clone();
            bad[i] ^= 0x20;
            if let Ok(decoded) = InitialMessage::from_cbor(&bad) {
                assert_eq!(decoded.to_cbor(), bad, "one accepted form per value");
            }
        }
    }
    let (_, _, initial) = start(&store.bundle(Some(1)).unwrap(), b"x", &mut r);
    let json = String::from_utf8(initial.to_json()).unwrap();
    // Extra members, null members, non-canonical spellings.
    let extra = json.replacen(r#"{"header":{"#, r#"{"header":{"extra":1,"#, 1);
    assert!(InitialMessage::from_json(extra.as_bytes()).is_err());
    let top_extra = json.replacen('{', r#"{"a":1,"#, 1);
    assert!(InitialMessage::from_json(top_extra.as_bytes()).is_err());
    let null = json.replacen(
        r#""one_time_prekey_id":1"#,
        r#""one_time_prekey_id":null"#,
        1,
    );
    assert!(InitialMessage::from_json(null.as_bytes()).is_err());
    let spaced = json.replacen(r#""header":"#, r#""header": "#, 1);
    assert_eq!(
        InitialMessage::from_json(spaced.as_bytes()).unwrap(),
        initial,
        "any JSON formatting of the canonical value"
    );
    let big_id = json.replacen(
        r#""signed_prekey_id":1"#,
        r#""signed_prekey_id":4294967296"#,
        1,
    );
    assert!(InitialMessage::from_json(big_id.as_bytes()).is_err());
    let short_key = json.replacen(r#""ephemeral_key":""#, r#""ephemeral_key":"AA"#, 1);
    assert!(InitialMessage::from_json(short_key.as_bytes()).is_err());
    assert!(matches!(
        InitialMessage::from_json(&vec![b' '; x3dh::MAX_INITIAL_MESSAGE_JSON_LEN + 1]),
        Err(HandshakeDecodeError::TooLarge { .. })
    ));
}

#[test]
fn bundle_encodings() {
    let mut r = rng(12);
    let store = bob_store(&mut r);
    for opk in [None, Some(4)] {
        let bundle = store.bundle(opk).unwrap();
        assert_eq!(PrekeyBundle::from_json(&bundle.to_json()).unwrap(), bundle);
        assert_eq!(PrekeyBundle::from_cbor(&bundle.to_cbor()).unwrap(), bundle);
    }
    let json = String::from_utf8(store.bundle(None).unwrap().to_json()).unwrap();
    assert!(json.starts_with(r#"{"identity_key":""#), "{json}");
    let v2 = json.replace(r#""v":1"#, r#""v":2"#);
    assert_eq!(
        PrekeyBundle::from_json(v2.as_bytes()).unwrap_err(),
        BundleError::UnsupportedVersion(2)
    );
    let extra = json.replace(r#""v":1"#, r#""v":1,"w":1"#);
    assert!(PrekeyBundle::from_json(extra.as_bytes()).is_err());
}

#[test]
fn store_snapshot_round_trip() {
    let mut r = rng(13);
    let mut store = bob_store(&mut r);
    store
        .rotate_signed_prekey(Timestamp::from_millis(T0), &mut r)
        .unwrap();
    let bundle = store.bundle(Some(1)).unwrap();
    let (_, _, initial) = start(&bundle, b"before snapshot", &mut r);
    let saved = store.to_snapshot();
    let mut restored = PrekeyStore::from_snapshot(&saved).unwrap();
    assert_eq!(*restored.to_snapshot(), *saved, "deterministic");
    assert_eq!(restored.identity_key(), store.identity_key());
    assert_eq!(restored.signed_prekey_ids(), store.signed_prekey_ids());
    assert_eq!(restored.one_time_prekeys(), store.one_time_prekeys());
    let (_, pt) = x3dh::respond(&mut restored, &initial).unwrap();
    assert_eq!(&pt[..], b"before snapshot");
    // Ids keep increasing after a restore.
    let next = restored.generate_one_time_prekeys(1, &mut r).unwrap()[0].id;
    assert_eq!(next, 6);
    // Garbage and other formats are errors.
    assert!(PrekeyStore::from_snapshot(&saved[..saved.len() - 1]).is_err());
    assert!(PrekeyStore::from_snapshot(b"").is_err());
    let mut other_format = saved.to_vec();
    let pos = other_format
        .windows(7)
        .position(|w| w == b"\x66format")
        .unwrap();
    other_format[pos + 7] = 2;
    assert_eq!(
        PrekeyStore::from_snapshot(&other_format).unwrap_err(),
        PrekeyError::UnsupportedSnapshot(2)
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let mut r = rng(14);
    let store = bob_store(&mut r);
    let shown = format!("{store:?}");
    let seed = hex::encode(store.identity().to_seed().as_ref());
    assert!(!shown.contains(&seed[..16]), "{shown}");
    assert!(shown.contains("PrekeyStore"), "{shown}");
    let snapshot = store.to_snapshot();
    // The snapshot does hold the seed (it is the whole state), so it must never be printed
    // by Debug of the store.
    assert!(
        snapshot
            .windows(32)
            .any(|w| w == &store.identity().to_seed()[..])
    );
}

/// libsignal's `test_ratcheting_session_as_bob` (rust/protocol/tests/ratchet.rs, also in
/// the Java and C ports): the X3DH-era KDF with info "WhisperText" and 64 bytes out, over
/// DH(SPK_B, IK_A) ‖ DH(IK_B, EK_A) ‖ DH(SPK_B, EK_A) (REFERENCE §2.6).
#[test]
fn signal_x3dh_kdf_known_answer() {
    let key = |h: &str| -> [u8; 32] { hex::decode(h).unwrap().try_into().unwrap() };
    let bob_identity = x25519::StaticSecret::from_bytes(key(
        "4875cc69ddf8ea0719ec947d61081135868d5fd801f02c0225e516df2156605e",
    ));
    let bob_signed_prekey = x25519::StaticSecret::from_bytes(key(
        "583900131fb727998b7803fe6ac22cc591f342e4e42a8c8d5d78194209b8d253",
    ));
    // Signal's serialised public keys carry a 0x05 type byte first.
    let alice_identity = x25519::PublicKey::from_bytes(key(
        "b4a8455660ada65b401007f615e654041746432e3339c6875149bceefcb42b4a",
    ));
    let alice_base = x25519::PublicKey::from_bytes(key(
        "472d1fb1a9862c3af6beaca8920277e2b26f4a79213ec7c906aeb35e03cf8950",
    ));
    assert_eq!(
        hex::encode(bob_signed_prekey.public_key().as_bytes()),
        "ac248a8f263be6863576eb0362e28c828f0107a3379d34bab1586bf8c770cd67"
    );
    let mut km = Vec::new();
    km.extend_from_slice(
        bob_signed_prekey
            .diffie_hellman(&alice_identity)
            .unwrap()
            .as_bytes(),
    );
    km.extend_from_slice(bob_identity.diffie_hellman(&alice_base).unwrap().as_bytes());
    km.extend_from_slice(
        bob_signed_prekey
            .diffie_hellman(&alice_base)
            .unwrap()
            .as_bytes(),
    );
    let mut okm = [0u8; 64];
    x3dh::kdf(b"WhisperText", &km, &mut okm).unwrap();
    assert_eq!(
        hex::encode(&okm[..32]),
        "3e6130d0a8c8e5b8ad65eb8b7d95fa3ab84710d48d92f34dcda43f9909261bca"
    );
    assert_eq!(
        hex::encode(&okm[32..]),
        "9797caca53c989bbe229a40ca7727010eb2604fc14945d77958a0aeda088b44d"
    );
    // The two-byte prefix bug gives something else.
    let mut buggy_ikm = vec![0xff, 32];
    buggy_ikm.extend_from_slice(&km);
    let mut buggy = [0u8; 64];
    talos_crypto::hash::hkdf_sha256(Some(&[0; 32]), &buggy_ikm, b"WhisperText", &mut buggy)
        .unwrap();
    assert_ne!(buggy, okm);
}

#[test]
fn unknown_signed_prekey_and_wrong_store() {
    let mut r = rng(15);
    let mut store = bob_store(&mut r);
    let (_, _, initial) = start(&store.bundle(Some(1)).unwrap(), b"x", &mut r);
    let mut wrong_id = initial.clone();
    wrong_id.header.signed_prekey_id = 77;
    assert_eq!(
        x3dh::respond(&mut store, &wrong_id).unwrap_err(),
        HandshakeError::UnknownSignedPrekey(77)
    );
    // Another identity's store (Carol) with the same prekey ids cannot read it.
    let mut carol = PrekeyStore::new(SigningKey::from_seed(&[0xc0; 32]), &mut rng(15));
    carol.generate_one_time_prekeys(5, &mut r).unwrap();
    assert_eq!(
        x3dh::respond(&mut carol, &initial).unwrap_err(),
        HandshakeError::FirstMessage(DecryptError::DecryptionFailed)
    );
    assert_eq!(carol.one_time_prekey_count(), 5);
}
