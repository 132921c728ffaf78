//! The talos-v2-pq session start: PQXDH with ML-KEM-768 (feature `pq`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![cfg(feature = "pq")]

use core::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::{SigningKey, Timestamp};
use talos_ratchet::ProtocolVersion;
use talos_ratchet::pqxdh;
use talos_ratchet::prekeys::{
    BundleError, MAX_PQ_PREKEYS, PqPrekey, PrekeyBundle, PrekeyError, PrekeyStore,
};
use talos_ratchet::session::DecryptError;
use talos_ratchet::x3dh::{self, HandshakeError, InitialMessage};

const T0: u64 = 1_768_178_601_000;

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

fn alice() -> SigningKey {
    SigningKey::from_seed(&[0xa1; 32])
}

fn bob_store(rng: &mut ChaCha20Rng) -> PrekeyStore {
    let mut store = PrekeyStore::new(SigningKey::from_seed(&[0xb0; 32]), rng);
    store.generate_one_time_prekeys(3, rng).unwrap();
    store
        .rotate_pq_prekey(Timestamp::from_millis(T0), rng)
        .unwrap();
    store
}

fn start(bundle: &PrekeyBundle, text: &[u8], rng: &mut ChaCha20Rng) -> InitialMessage {
    let (mut session, header) = pqxdh::initiate(&alice(), bundle, rng).unwrap();
    assert_eq!(session.version(), ProtocolVersion::V2Pq);
    header.wrap(session.encrypt(text, rng).unwrap())
}

#[test]
fn pqxdh_handshake_and_conversation() {
    for opk in [None, Some(2)] {
        let mut r = rng(1);
        let mut store = bob_store(&mut r);
        let bundle = store.bundle(opk).unwrap();
        bundle.verify().unwrap();
        let pq = bundle.pq_prekey.clone().unwrap();
        assert_eq!(pq.key.len(), 1184);
        let (mut a, header) = pqxdh::initiate(&alice(), &bundle, &mut r).unwrap();
        assert_eq!(header.version, ProtocolVersion::V2Pq);
        let kem = header.pq.as_ref().unwrap();
        assert_eq!(kem.prekey_id, pq.id);
        assert_eq!(kem.ciphertext.len(), 1088);
        let initial = header.wrap(a.encrypt(b"post-quantum hello", &mut r).unwrap());
        // Both encodings carry the ciphertext.
        assert_eq!(
            InitialMessage::from_json(&initial.to_json()).unwrap(),
            initial
        );
        assert_eq!(
            InitialMessage::from_cbor(&initial.to_cbor()).unwrap(),
            initial
        );

        let (mut b, pt) = x3dh::respond(&mut store, &initial).unwrap();
        assert_eq!(&pt[..], b"post-quantum hello");
        assert_eq!(b.version(), ProtocolVersion::V2Pq);
        assert_eq!(a.associated_data(), b.associated_data());
        // The last-resort PQ prekey is not consumed; the one-time prekey is.
        assert_eq!(store.pq_prekey().unwrap(), pq);
        assert_eq!(
            store.one_time_prekey_count(),
            if opk.is_some() { 2 } else { 3 }
        );

        let reply = b.encrypt(b"pq reply", &mut r).unwrap();
        assert_eq!(&a.decrypt(&reply).unwrap()[..], b"pq reply");
        for i in 0..4u8 {
            let m = a.encrypt(&[i; 9], &mut r).unwrap();
            assert_eq!(&b.decrypt(&m).unwrap()[..], &[i; 9]);
            let m = b.encrypt(&[i; 2], &mut r).unwrap();
            assert_eq!(&a.decrypt(&m).unwrap()[..], &[i; 2]);
        }
    }
}

#[test]
fn pq_secret_differs_from_x3dh_secret() {
    // The same randomness for the X25519 part: the KEM secret and the info string change SK.
    let store = bob_store(&mut rng(2));
    let bundle = store.bundle(None).unwrap();
    let (classic, h1) = x3dh::agree_initiator(&alice(), &bundle, &mut rng(3)).unwrap();
    let (hybrid, h2) = pqxdh::agree_initiator(&alice(), &bundle, &mut rng(3)).unwrap();
    assert_eq!(h1.ephemeral_key, h2.ephemeral_key);
    assert_ne!(classic.secret_key(), hybrid.secret_key());
    assert_eq!(classic.associated_data(), hybrid.associated_data());
    assert_eq!(hybrid.version(), ProtocolVersion::V2Pq);
    assert_eq!(
        x3dh::agree_responder(&store, &h2).unwrap().secret_key(),
        hybrid.secret_key()
    );
    // X3DH ignores the PQ prekey of a bundle.
    assert!(h1.pq.is_none());
    assert_eq!(h1.version, ProtocolVersion::V2);
}

#[test]
fn wrong_kem_ciphertext_fails_and_changes_nothing() {
    let mut r = rng(4);
    let mut store = bob_store(&mut r);
    let genuine = start(&store.bundle(Some(1)).unwrap(), b"kem", &mut r);
    let before = store.to_snapshot();
    let mut flipped = genuine.clone();
    flipped.header.pq.as_mut().unwrap().ciphertext[100] ^= 1;
    assert_eq!(
        x3dh::respond(&mut store, &flipped).unwrap_err(),
        HandshakeError::FirstMessage(DecryptError::DecryptionFailed)
    );
    let mut unknown = genuine.clone();
    unknown.header.pq.as_mut().unwrap().prekey_id = 42;
    assert_eq!(
        x3dh::respond(&mut store, &unknown).unwrap_err(),
        HandshakeError::UnknownPqPrekey(42)
    );
    // A downgrade: the KEM part stripped and the version lowered. Bob computes an X3DH
    // secret, which is not Alice's, so the first message does not decrypt.
    let mut downgraded = genuine.clone();
    downgraded.header.pq = None;
    downgraded.header.version = ProtocolVersion::V2;
    assert_eq!(
        x3dh::respond(&mut store, &downgraded).unwrap_err(),
        HandshakeError::FirstMessage(DecryptError::DecryptionFailed)
    );
    assert_eq!(*store.to_snapshot(), *before);
    x3dh::respond(&mut store, &genuine).unwrap();
}

#[test]
fn pq_bundle_failures() {
    let mut r = rng(5);
    let store = bob_store(&mut r);
    let good = store.bundle(None).unwrap();

    let mut forged = good.clone();
    let pq = forged.pq_prekey.take().unwrap();
    forged.pq_prekey = Some(PqPrekey::sign(
        &SigningKey::from_seed(&[0x66; 32]),
        pq.id,
        pq.key.clone(),
    ));
    assert_eq!(forged.verify(), Err(BundleError::BadPqSignature));
    assert_eq!(
        pqxdh::initiate(&alice(), &forged, &mut r).unwrap_err(),
        HandshakeError::BadPqSignature
    );
    // `PrekeyBundle::verify` covers every signature in a bundle.
    assert_eq!(forged.verify().unwrap_err(), BundleError::BadPqSignature);

    let mut missing = good.clone();
    missing.pq_prekey = None;
    assert_eq!(
        pqxdh::initiate(&alice(), &missing, &mut r).unwrap_err(),
        HandshakeError::MissingPqPrekey
    );

    // A key that is not a valid ML-KEM encapsulation key (coefficients ≥ q), validly signed.
    let identity = store.identity().clone();
    let mut invalid = good.clone();
    invalid.pq_prekey = Some(PqPrekey::sign(&identity, 9, Box::new([0xff; 1184])));
    assert_eq!(
        pqxdh::initiate(&alice(), &invalid, &mut r).unwrap_err(),
        HandshakeError::InvalidPqKey
    );

    // The PQ prekey's signed message is the one talos-did records use.
    let m = pq.signed_message();
    assert_eq!(m.len(), 18 + 4 + 1184);
    assert_eq!(&m[..18], b"talos-v2 pq prekey");
    assert_eq!(m[18..22], pq.id.to_be_bytes());
}

#[test]
fn pq_prekey_rotation_and_snapshot() {
    let mut r = rng(6);
    let mut store = bob_store(&mut r);
    let old_bundle = store.bundle(None).unwrap();
    let old = old_bundle.pq_prekey.as_ref().unwrap().id;
    let new = store
        .rotate_pq_prekey(Timestamp::from_millis(T0 + 1000), &mut r)
        .unwrap();
    assert_ne!(new.id, old);
    assert_eq!(store.pq_prekey_ids(), vec![old, new.id]);

    // A snapshot keeps both, and the restored store answers with either.
    let mut restored = PrekeyStore::from_snapshot(&store.to_snapshot()).unwrap();
    assert_eq!(*restored.to_snapshot(), *store.to_snapshot());
    let initial = start(&old_bundle, b"old pq key", &mut r);
    assert_eq!(
        &x3dh::respond(&mut restored, &initial).unwrap().1[..],
        b"old pq key"
    );

    let grace = Duration::from_secs(3600);
    assert_eq!(
        store.expire_pq_prekeys(Timestamp::from_millis(T0 + 1000 + 3_600_000), grace),
        1
    );
    assert_eq!(store.pq_prekey_ids(), vec![new.id]);
    assert_eq!(
        x3dh::respond(&mut store, &initial).unwrap_err(),
        HandshakeError::UnknownPqPrekey(old)
    );
    for i in 1..MAX_PQ_PREKEYS {
        store
            .rotate_pq_prekey(Timestamp::from_millis(T0 + 2000 + i as u64), &mut r)
            .unwrap();
    }
    assert_eq!(
        store
            .rotate_pq_prekey(Timestamp::from_millis(T0 + 9000), &mut r)
            .unwrap_err(),
        PrekeyError::TooManyPqPrekeys {
            max: MAX_PQ_PREKEYS
        }
    );
}
