//! The talos-v1.1 session start: bundles, signatures, small-order keys, and the upstream
//! trace's first message reproduced from its inputs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Infallible, SeedableRng as _, TryCryptoRng, TryRng};
use talos_crypto::x25519::{PublicKey, StaticSecret};
use talos_crypto::{SigningKey, base64url};
use talos_ratchet::ProtocolVersion;
use talos_ratchet::session::DecryptError;
use talos_ratchet::v1_1::{self, BundleError, PrekeyBundle, StartError};

/// Returns the scripted bytes, then panics.
struct Scripted(Vec<u8>);

impl TryRng for Scripted {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unimplemented!()
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unimplemented!()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(dst.len() <= self.0.len(), "script exhausted");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl TryCryptoRng for Scripted {}

fn b64(text: &str) -> Vec<u8> {
    base64url::decode(text).unwrap()
}

/// `sdk/ratchet/v1_1_0_roundtrip.json`, step 1, from its inputs.
#[test]
fn upstream_first_message() {
    let bundle = PrekeyBundle::from_json(
        br#"{"identity_key":"E80vGn1T8vhm2dystAQ5VBKzpbXf8_zf98es-RuGZkw","signed_prekey":"ZPLNJFKa-PyNyrhA0PD9KAd_2KMiPfzkZe9hz9e6xnc","prekey_signature":"aubPCBHtdqGqq7vBOSFzLl4o5FFfO4jUaTVPtVO3mJ9Q2cYmd9SSQ7kEkwFDADLJqB2Uk66xcciuW1r4rD4lCA","one_time_prekey":null}"#,
    )
    .unwrap();
    bundle.verify().unwrap();
    let mut rng = Scripted(b64("2N4czt7AZRLm9CmTbo2FPL77rwxOnC8Aq45uDSnqbXE"));
    let mut alice = v1_1::initiate(&bundle, &mut rng).unwrap();
    assert!(rng.0.is_empty(), "EKa takes exactly 32 bytes");
    assert_eq!(alice.version(), ProtocolVersion::V1_1);
    assert!(alice.associated_data().is_empty());
    let mut rng = Scripted(b64("45SxE8It1J5W8_4T"));
    let m = alice.encrypt(&b64("SGVsbG8gQm9i"), &mut rng).unwrap();
    assert_eq!(
        m.header.to_canonical_json(),
        br#"{"dh":"ZS08FeNGY32XUEKJQa0P1Wf_skkb4DUGu9Issoincno","n":0,"pn":0}"#
    );
    assert_eq!(
        base64url::encode(&m.ciphertext),
        "ntqRXDLNWlpthH0V2ZRZEgrmX93G_bkLuw"
    );

    let spk = StaticSecret::from_bytes(
        b64("OM7eZuUYF0K0iSccFg_9doJbna0fDQNimjhYwHDQz1k")
            .try_into()
            .unwrap(),
    );
    let (mut bob, plaintext) = v1_1::accept(&spk, &m).unwrap();
    assert_eq!(&plaintext[..], b"Hello Bob");
    // Step 3: Bob's reply with ratchet_priv = 0x11 × 32, then the nonce.
    let mut script = vec![0x11; 32];
    script.extend_from_slice(&b64("XC87rzqZteZxNa-P"));
    let reply = bob
        .encrypt(&b64("SGkgQWxpY2U"), &mut Scripted(script))
        .unwrap();
    assert_eq!(
        base64url::encode(&reply.ciphertext),
        "1JR6WDZnuJ-2-H3jCfTbg1wv8TlrpdiJ"
    );
    assert_eq!(&alice.decrypt(&reply).unwrap()[..], b"Hi Alice");
}

#[test]
fn bundle_json_round_trip_and_strictness() {
    let identity = SigningKey::from_seed(&[1; 32]);
    let spk = StaticSecret::from_bytes([2; 32]).public_key();
    let bundle = PrekeyBundle::new(&identity, &spk);
    bundle.verify().unwrap();
    let json = bundle.to_json();
    assert!(json.starts_with(br#"{"identity_key":""#));
    assert_eq!(PrekeyBundle::from_json(&json).unwrap(), bundle);
    assert_eq!(bundle.signed_prekey(), &spk);
    assert_eq!(bundle.identity_key(), &identity.verifying_key());

    let text = String::from_utf8(json).unwrap();
    let with = |extra: &str| format!("{},{extra}}}", &text[..text.len() - 1]);
    assert_eq!(
        PrekeyBundle::from_json(with(r#""one_time_prekey":"AAAA""#).as_bytes()).unwrap_err(),
        BundleError::OneTimePrekeyUnsupported
    );
    assert!(PrekeyBundle::from_json(with(r#""one_time_prekey":null"#).as_bytes()).is_ok());
    assert_eq!(
        PrekeyBundle::from_json(with(r#""extra":1"#).as_bytes()).unwrap_err(),
        BundleError::UnexpectedField("extra".into())
    );
    let no_sig = text.replace("prekey_signature", "prekey_signaturX");
    assert!(PrekeyBundle::from_json(no_sig.as_bytes()).is_err());
    assert_eq!(
        PrekeyBundle::from_json(
            br#"{"identity_key":"AA","signed_prekey":"AA","prekey_signature":"AA"}"#
        )
        .unwrap_err(),
        BundleError::InvalidKey("identity_key")
    );
}

#[test]
fn bad_signature_and_small_order_keys_are_refused() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let identity = SigningKey::from_seed(&[1; 32]);
    let spk = StaticSecret::generate(&mut rng).public_key();
    let other = StaticSecret::generate(&mut rng).public_key();
    let good = PrekeyBundle::new(&identity, &spk);
    let forged =
        PrekeyBundle::from_parts(identity.verifying_key(), other, *good.prekey_signature());
    let err = v1_1::initiate(&forged, &mut rng).unwrap_err();
    assert_eq!(err, StartError::InvalidSignature);
    assert!(err.to_string().contains("signature"));

    // A properly signed small-order prekey.
    let zero = PublicKey::from_bytes([0; 32]);
    let weak = PrekeyBundle::new(&identity, &zero);
    assert_eq!(
        v1_1::initiate(&weak, &mut rng).unwrap_err(),
        StartError::InvalidDhKey
    );

    // A first message under another prekey does not start a session.
    let mut alice = v1_1::initiate(&good, &mut rng).unwrap();
    let m = alice.encrypt(b"hi", &mut rng).unwrap();
    let wrong = StaticSecret::generate(&mut rng);
    assert_eq!(
        v1_1::accept(&wrong, &m).unwrap_err(),
        StartError::Decrypt(DecryptError::DecryptionFailed)
    );
    let mut weak_header = m.header;
    weak_header.dh = zero;
    assert_eq!(
        v1_1::respond(&wrong, &weak_header).unwrap_err(),
        StartError::InvalidDhKey
    );
}
