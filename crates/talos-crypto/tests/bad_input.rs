//! Bad input never panics and is refused with a clear error: the variant, and where it matters
//! the message, are asserted for every case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use core::time::Duration;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng};
use talos_crypto::aead::{ChaCha20Poly1305, XChaCha20Poly1305};
use talos_crypto::json::{self, JsonError, Value};
use talos_crypto::key_file::{KdfParams, KeyFileError};
use talos_crypto::sealed_box::SealedBoxError;
use talos_crypto::signed::SignedMessageError;
use talos_crypto::x25519::{EphemeralSecret, PublicKey, StaticSecret};
use talos_crypto::{
    AeadError, Base64Error, BatchVerifyError, CborError, KeyAgreementError, KeyError, KeyFile,
    SealedBox, Signature, SignedMessage, SigningKey, VerifyError, VerifyingKey, base64url, cbor,
    verify_batch,
};

fn unhex32(s: &str) -> [u8; 32] {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

// ---------------------------------------------------------------------------------------------
// Ed25519 keys and signatures
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_of_wrong_length_is_refused_naming_the_seed() {
    for len in (0..=65).filter(|&n| n != 32) {
        let err = SigningKey::from_seed_slice(&vec![7; len]).unwrap_err();
        assert_eq!(err, KeyError::InvalidSeedLength { got: len });
        let text = err.to_string();
        assert!(
            text.contains("seed") && text.contains(&len.to_string()),
            "{text}"
        );
    }
    assert!(SigningKey::from_seed_slice(&[7; 32]).is_ok());
}

#[test]
fn public_keys_of_wrong_length_are_refused() {
    for len in (0..=65).filter(|&n| n != 32) {
        let bytes = vec![9; len];
        let want = KeyError::InvalidLength {
            expected: 32,
            got: len,
        };
        assert_eq!(VerifyingKey::from_slice(&bytes), Err(want.clone()));
        assert_eq!(VerifyingKey::try_from(bytes.as_slice()), Err(want.clone()));
        assert_eq!(PublicKey::from_slice(&bytes), Err(want.clone()));
        assert!(want.to_string().contains("length"), "{want}");
    }
}

/// Every encoding whose y coordinate (sign bit aside) is ≥ p = 2^255 − 19: y = p … 2^255 − 1,
/// with the sign bit clear and set. RFC 8032 §5.1.3 decoding must reject all of them.
#[test]
fn non_canonical_ed25519_keys_are_refused() {
    let mut count = 0;
    for low in 0xed..=0xff_u8 {
        for top in [0x7f, 0xff] {
            let mut bytes = [0xff; 32];
            bytes[0] = low;
            bytes[31] = top;
            let err = VerifyingKey::from_bytes(&bytes).unwrap_err();
            assert_eq!(err, KeyError::NonCanonical, "{}", hex::encode(bytes));
            assert!(err.to_string().contains("canonical"), "{err}");
            count += 1;
        }
    }
    assert_eq!(count, 38);
    // p − 1 is canonical (it is the small-order point y = −1, refused for that reason instead).
    let p_minus_1 = unhex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert_eq!(VerifyingKey::from_bytes(&p_minus_1), Err(KeyError::WeakKey));
}

/// The eight points of small order, in their canonical encodings, are weak keys.
#[test]
fn small_order_ed25519_keys_are_refused() {
    const SMALL_ORDER: [&str; 8] = [
        "0100000000000000000000000000000000000000000000000000000000000000", // identity
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
        "0000000000000000000000000000000000000000000000000000000000000000", // order 4
        "0000000000000000000000000000000000000000000000000000000000000080", // order 4
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
    ];
    for enc in SMALL_ORDER {
        let err = VerifyingKey::from_bytes(&unhex32(enc)).unwrap_err();
        assert_eq!(err, KeyError::WeakKey, "{enc}");
        assert!(err.to_string().contains("small-order"), "{err}");
    }
    // x = 0 with the sign bit set has no valid decoding (RFC 8032 §5.1.3 step 4); refused.
    for enc in [
        "0100000000000000000000000000000000000000000000000000000000000080",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ] {
        assert!(VerifyingKey::from_bytes(&unhex32(enc)).is_err(), "{enc}");
    }
}

#[test]
fn ed25519_key_not_on_the_curve_is_refused() {
    let mut y2 = [0u8; 32];
    y2[0] = 2; // y = 2: (y² − 1)/(d·y² + 1) is not a square mod p
    let err = VerifyingKey::from_bytes(&y2).unwrap_err();
    assert_eq!(err, KeyError::NotOnCurve);
    assert!(err.to_string().contains("curve"), "{err}");
}

#[test]
fn signatures_of_wrong_length_are_refused() {
    for len in (0..=130).filter(|&n| n != 64) {
        let err = Signature::from_slice(&vec![1; len]).unwrap_err();
        assert_eq!(err, VerifyError);
        assert!(err.to_string().contains("signature"), "{err}");
    }
    assert!(Signature::from_slice(&[1; 64]).is_ok());
}

/// Adds the group order L to the scalar half of a signature (little-endian, 32 bytes):
/// the classic malleability of a verifier that does not require s < L.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "s + L fits in 256 bits");
}

#[test]
fn altered_signatures_never_verify() {
    let key = SigningKey::from_seed(&[5; 32]);
    let vk = key.verifying_key();
    let msg = b"pay 10 to bob";
    let good = key.sign(msg).to_bytes();
    for bit in 0..512 {
        let mut bad = good;
        bad[bit / 8] ^= 1 << (bit % 8);
        let bad = Signature::from_bytes(&bad);
        assert_eq!(vk.verify(msg, &bad), Err(VerifyError), "bit {bit}");
        assert_eq!(
            verify_batch(&[msg], &[bad], &[vk]),
            Err(BatchVerifyError::Invalid { index: 0 }),
            "bit {bit}"
        );
    }
    // s + L: the same point equation holds, but s is not reduced. Strict verification refuses.
    let mut malleated = good;
    add_group_order(&mut malleated[32..]);
    let malleated = Signature::from_bytes(&malleated);
    assert_eq!(vk.verify(msg, &malleated), Err(VerifyError));
    assert!(verify_batch(&[msg], &[malleated], &[vk]).is_err());
    // Another key does not verify it either.
    let other = SigningKey::from_seed(&[6; 32]).verifying_key();
    assert_eq!(
        other.verify(msg, &Signature::from_bytes(&good)),
        Err(VerifyError)
    );
}

#[test]
fn batch_with_mismatched_lengths_is_refused() {
    let key = SigningKey::from_seed(&[5; 32]);
    let sig = key.sign(b"m");
    let vk = key.verifying_key();
    let err = verify_batch(&[b"m", b"m"], &[sig], &[vk, vk]).unwrap_err();
    assert_eq!(
        err,
        BatchVerifyError::LengthMismatch {
            messages: 2,
            signatures: 1,
            keys: 2
        }
    );
    assert!(err.to_string().contains("length mismatch"), "{err}");
    assert!(verify_batch(&[b"m"], &[sig], &[]).is_err());
}

// ---------------------------------------------------------------------------------------------
// X25519
// ---------------------------------------------------------------------------------------------

/// u-coordinates for which X25519 gives zero for every scalar (Wycheproof `x25519_test.json`,
/// the cases with an all-zero shared secret; some are non-canonical encodings of the same
/// points). Agreement with any of them is refused.
#[test]
fn x25519_small_order_peer_keys_are_refused() {
    const ZERO_MAKERS: [&str; 14] = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ];
    let mut rng = rng(1);
    for enc in ZERO_MAKERS {
        let peer = PublicKey::from_bytes(unhex32(enc));
        for secret in [
            StaticSecret::from_bytes([0x77; 32]),
            StaticSecret::generate(&mut rng),
        ] {
            let err = secret.diffie_hellman(&peer).unwrap_err();
            assert_eq!(err, KeyAgreementError, "{enc}");
            assert!(err.to_string().contains("small order"), "{err}");
        }
        assert!(
            EphemeralSecret::generate(&mut rng)
                .diffie_hellman(&peer)
                .is_err(),
            "{enc}"
        );
        let mut rng2 = rng.clone();
        assert_eq!(
            SealedBox::seal_anonymous(&mut rng2, &peer, b"x"),
            Err(SealedBoxError::InvalidRecipient),
            "{enc}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// AEAD
// ---------------------------------------------------------------------------------------------

macro_rules! aead_bad_input {
    ($name:ident, $cipher:ty, $nonce_len:expr) => {
        #[test]
        fn $name() {
            let key = [0x11; 32];
            let nonce = [0x22; $nonce_len];
            let cipher = <$cipher>::new(&key);
            let sealed = cipher
                .seal(&nonce, b"aad", b"attack at dawn, bring snacks")
                .unwrap();

            // Truncated at every length, including below the tag size.
            for len in 0..sealed.len() {
                let err = cipher.open(&nonce, b"aad", &sealed[..len]).unwrap_err();
                assert_eq!(err, AeadError::DecryptionFailed, "length {len}");
                assert_eq!(err.to_string(), "decryption failed");
                let mut buf = sealed[..len].to_vec();
                assert!(
                    cipher.open_in_place(&nonce, b"aad", &mut buf).is_err(),
                    "length {len}"
                );
                assert_eq!(buf, &sealed[..len], "a failed open leaves the buffer alone");
            }
            // One byte too many.
            let mut longer = sealed.clone();
            longer.push(0);
            assert_eq!(
                cipher.open(&nonce, b"aad", &longer),
                Err(AeadError::DecryptionFailed)
            );

            // Wrong key: every single-bit change.
            for bit in 0..256 {
                let mut other = key;
                other[bit / 8] ^= 1 << (bit % 8);
                let err = <$cipher>::new(&other)
                    .open(&nonce, b"aad", &sealed)
                    .unwrap_err();
                assert_eq!(err, AeadError::DecryptionFailed, "key bit {bit}");
            }
            // Wrong nonce: every single-bit change.
            for bit in 0..$nonce_len * 8 {
                let mut other = nonce;
                other[bit / 8] ^= 1 << (bit % 8);
                let err = cipher.open(&other, b"aad", &sealed).unwrap_err();
                assert_eq!(err, AeadError::DecryptionFailed, "nonce bit {bit}");
            }
            // Wrong or missing associated data.
            assert!(cipher.open(&nonce, b"", &sealed).is_err());
            assert!(cipher.open(&nonce, b"aaD", &sealed).is_err());
            // And the untouched input still opens.
            assert_eq!(
                cipher.open(&nonce, b"aad", &sealed).unwrap(),
                b"attack at dawn, bring snacks"
            );
        }
    };
}

aead_bad_input!(chacha20_poly1305_bad_input, ChaCha20Poly1305, 12);
aead_bad_input!(xchacha20_poly1305_bad_input, XChaCha20Poly1305, 24);

// ---------------------------------------------------------------------------------------------
// Sealed boxes
// ---------------------------------------------------------------------------------------------

struct BoxFixture {
    alice: SigningKey,
    bob: SigningKey,
    anonymous: SealedBox,
    authenticated: SealedBox,
}

fn box_fixture() -> BoxFixture {
    let mut rng = rng(2);
    let alice = SigningKey::from_seed(&[0xa1; 32]);
    let bob = SigningKey::from_seed(&[0xb0; 32]);
    let to_bob = bob.verifying_key().to_x25519();
    let anonymous = SealedBox::seal_anonymous(&mut rng, &to_bob, b"for bob").unwrap();
    let authenticated =
        SealedBox::seal_authenticated(&mut rng, &alice, &to_bob, b"from alice").unwrap();
    BoxFixture {
        alice,
        bob,
        anonymous,
        authenticated,
    }
}

/// The box's JSON form with `edit` applied to its top-level object, re-serialised canonically.
fn edit_box_json(sealed: &SealedBox, edit: impl FnOnce(&mut json::Map)) -> Vec<u8> {
    let Value::Object(mut map) = json::parse(&sealed.to_json()).unwrap() else {
        panic!("a box is a JSON object");
    };
    edit(&mut map);
    Value::Object(map).to_canonical_vec()
}

fn b64_field(map: &json::Map, name: &str) -> Vec<u8> {
    base64url::decode(
        map.get(name)
            .and_then(Value::as_str)
            .expect("field present"),
    )
    .unwrap()
}

#[test]
fn sealed_box_opened_by_the_wrong_recipient() {
    let f = box_fixture();
    let carol = SigningKey::from_seed(&[0xc0; 32]).to_x25519();
    for sealed in [&f.anonymous, &f.authenticated] {
        let err = sealed.open(&carol).unwrap_err();
        assert_eq!(err, SealedBoxError::WrongRecipient);
        assert!(err.to_string().contains("another key"), "{err}");
    }
    // The Ed25519 identity's own bytes used as an X25519 secret are not the recipient key.
    let wrong_derivation = StaticSecret::from_bytes(*f.bob.to_seed());
    assert_eq!(
        f.anonymous.open(&wrong_derivation),
        Err(SealedBoxError::WrongRecipient)
    );
    assert!(f.anonymous.open(&f.bob.to_x25519()).is_ok());
}

#[test]
fn sealed_box_with_tampered_sender_signature() {
    let f = box_fixture();
    let bob = f.bob.to_x25519();
    // One bit of the signature.
    let json = edit_box_json(&f.authenticated, |map| {
        let mut sig = b64_field(map, "sig");
        sig[10] ^= 0x04;
        map.insert("sig".into(), Value::String(base64url::encode(&sig)));
    });
    let tampered = SealedBox::from_json(&json).unwrap();
    let err = tampered.open(&bob).unwrap_err();
    assert_eq!(err, SealedBoxError::BadSignature);
    assert!(err.to_string().contains("signature"), "{err}");
    assert_eq!(
        tampered.open_from(&bob, &f.alice.verifying_key()),
        Err(SealedBoxError::BadSignature)
    );

    // Another identity claimed as the sender, keeping Alice's signature.
    let mallory = SigningKey::from_seed(&[0x3a; 32]).verifying_key();
    let json = edit_box_json(&f.authenticated, |map| {
        map.insert(
            "sender".into(),
            Value::String(base64url::encode(mallory.as_bytes())),
        );
    });
    let claimed = SealedBox::from_json(&json).unwrap();
    assert_eq!(claimed.claimed_sender(), Some(&mallory));
    assert_eq!(claimed.open(&bob), Err(SealedBoxError::BadSignature));

    // The same tampering survives the CBOR form and is still caught.
    assert_eq!(
        SealedBox::from_cbor(&tampered.to_cbor())
            .unwrap()
            .open(&bob),
        Err(SealedBoxError::BadSignature)
    );
}

#[test]
fn sealed_box_with_tampered_ciphertext_or_keys() {
    let f = box_fixture();
    let bob = f.bob.to_x25519();
    let flip_ct = |map: &mut json::Map| {
        let mut ct = b64_field(map, "ciphertext");
        ct[0] ^= 0x01;
        map.insert("ciphertext".into(), Value::String(base64url::encode(&ct)));
    };
    let anonymous = SealedBox::from_json(&edit_box_json(&f.anonymous, flip_ct)).unwrap();
    let err = anonymous.open(&bob).unwrap_err();
    assert_eq!(err, SealedBoxError::DecryptionFailed);
    assert!(err.to_string().contains("decryption failed"), "{err}");
    // In the authenticated form the signature covers the ciphertext.
    let authenticated = SealedBox::from_json(&edit_box_json(&f.authenticated, flip_ct)).unwrap();
    assert_eq!(authenticated.open(&bob), Err(SealedBoxError::BadSignature));

    // Another ephemeral key: the key agreement changes, and the AAD with it.
    let other_ephemeral = SigningKey::from_seed(&[0xee; 32])
        .verifying_key()
        .to_x25519();
    let json = edit_box_json(&f.anonymous, |map| {
        map.insert(
            "ephemeral".into(),
            Value::String(base64url::encode(other_ephemeral.as_bytes())),
        );
    });
    assert_eq!(
        SealedBox::from_json(&json).unwrap().open(&bob),
        Err(SealedBoxError::DecryptionFailed)
    );
    // A small-order ephemeral key cannot yield a secret at all.
    let json = edit_box_json(&f.anonymous, |map| {
        map.insert(
            "ephemeral".into(),
            Value::String(base64url::encode(&[0u8; 32])),
        );
    });
    assert_eq!(
        SealedBox::from_json(&json).unwrap().open(&bob),
        Err(SealedBoxError::DecryptionFailed)
    );
    // Anonymous boxes have no sender to expect.
    assert_eq!(
        f.anonymous.open_from(&bob, &f.alice.verifying_key()),
        Err(SealedBoxError::UnexpectedSender)
    );
}

#[test]
fn sealed_box_malformed_json() {
    let f = box_fixture();
    let shape = |json: &[u8], needle: &str| match SealedBox::from_json(json) {
        Err(SealedBoxError::Json(JsonError::Shape { reason })) => {
            assert!(
                reason.contains(needle),
                "{reason:?} should mention {needle:?}"
            );
        }
        other => panic!("expected a shape error mentioning {needle:?}, got {other:?}"),
    };

    let extra = edit_box_json(&f.anonymous, |m| {
        m.insert("note".into(), Value::from("hi"));
    });
    shape(&extra, "unknown field");
    let missing = edit_box_json(&f.anonymous, |m| {
        m.remove("ephemeral");
    });
    shape(&missing, "missing field");
    let weak_sender = edit_box_json(&f.authenticated, |m| {
        m.insert(
            "sender".into(),
            Value::String(base64url::encode(&[0u8; 32])),
        );
    });
    shape(&weak_sender, "small-order");
    let padded = edit_box_json(&f.anonymous, |m| {
        let text = format!("{}=", m["ciphertext"].as_str().unwrap());
        m.insert("ciphertext".into(), Value::String(text));
    });
    shape(&padded, "base64url");
    let bad_mode = edit_box_json(&f.anonymous, |m| {
        m.insert("mode".into(), Value::from("Anonymous"));
    });
    shape(&bad_mode, "unknown variant");

    let v2 = edit_box_json(&f.anonymous, |m| {
        m.insert("v".into(), Value::Number(2.into()));
    });
    let err = SealedBox::from_json(&v2).unwrap_err();
    assert_eq!(err, SealedBoxError::UnsupportedVersion(2));
    assert!(err.to_string().contains("version 2"), "{err}");

    let anonymous_with_sig = edit_box_json(&f.anonymous, |m| {
        m.insert("sig".into(), Value::String(base64url::encode(&[1u8; 64])));
    });
    let mode_without_sender = edit_box_json(&f.authenticated, |m| {
        m.remove("sender");
        m.remove("sig");
    });
    let short_ciphertext = edit_box_json(&f.anonymous, |m| {
        m.insert(
            "ciphertext".into(),
            Value::String(base64url::encode(&[0u8; 15])),
        );
    });
    for json in [anonymous_with_sig, mode_without_sender, short_ciphertext] {
        let err = SealedBox::from_json(&json).unwrap_err();
        assert!(matches!(err, SealedBoxError::Malformed(_)), "{err:?}");
        assert!(err.to_string().starts_with("malformed sealed box"), "{err}");
    }

    // Strict JSON underneath: a duplicate key is refused before any field is read.
    let text = String::from_utf8(f.anonymous.to_json()).unwrap();
    let duplicated = text.replacen("{\"ciphertext\"", "{\"v\":1,\"ciphertext\"", 1);
    assert!(matches!(
        SealedBox::from_json(duplicated.as_bytes()),
        Err(SealedBoxError::Json(JsonError::DuplicateKey { .. }))
    ));
    // Whitespace is fine: the JSON form is parsed, not compared.
    let spaced = text.replace(',', " ,\n ");
    assert_eq!(
        SealedBox::from_json(spaced.as_bytes()).as_ref(),
        Ok(&f.anonymous)
    );
}

#[test]
fn sealed_box_malformed_cbor() {
    let f = box_fixture();
    for sealed in [&f.anonymous, &f.authenticated] {
        let wire = sealed.to_cbor();
        for len in 0..wire.len() {
            assert!(
                matches!(
                    SealedBox::from_cbor(&wire[..len]),
                    Err(SealedBoxError::Cbor(CborError::Malformed { .. }))
                ),
                "truncated to {len}"
            );
        }
        let mut trailing = wire.clone();
        trailing.push(0);
        assert!(matches!(
            SealedBox::from_cbor(&trailing),
            Err(SealedBoxError::Cbor(CborError::Malformed { .. }))
        ));
        // The same map with a two-byte head: a valid but non-deterministic encoding.
        let mut long_head = vec![0xb8, wire[0] & 0x1f];
        long_head.extend_from_slice(&wire[1..]);
        assert_eq!(wire[0] & 0xe0, 0xa0, "a box is a small map");
        let err = SealedBox::from_cbor(&long_head).unwrap_err();
        assert_eq!(err, SealedBoxError::Cbor(CborError::NonCanonical));
        assert!(err.to_string().contains("deterministic"), "{err}");
        // The JSON form is not the CBOR form.
        assert!(SealedBox::from_cbor(&sealed.to_json()).is_err());
        assert!(SealedBox::from_json(&wire).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Key files
// ---------------------------------------------------------------------------------------------

const PASSPHRASE: &[u8] = b"correct horse battery staple";

fn tiny_params() -> KdfParams {
    KdfParams::new(8, 1, 1).unwrap()
}

/// A CBOR item, for writing key files by hand.
#[derive(Clone, Debug)]
enum Cbor {
    Uint(u64),
    Text(String),
    Bytes(Vec<u8>),
    Array(Vec<Self>),
    /// Written in the given order (see [`sorted`] for the deterministic one).
    Map(Vec<(String, Self)>),
}

impl Cbor {
    fn text(s: &str) -> Self {
        Self::Text(s.to_owned())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Uint(n) => cbor::write_uint(out, *n),
            Self::Text(t) => cbor::write_text(out, t),
            Self::Bytes(b) => cbor::write_bytes(out, b),
            Self::Array(items) => {
                cbor::write_array_header(out, items.len());
                items.iter().for_each(|item| item.encode(out));
            }
            Self::Map(fields) => {
                cbor::write_map_header(out, fields.len());
                for (name, value) in fields {
                    cbor::write_text(out, name);
                    value.encode(out);
                }
            }
        }
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A map with RFC 8949 §4.2.1 key order for text keys: shorter first, then bytewise.
fn sorted(mut fields: Vec<(String, Cbor)>) -> Cbor {
    fields.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    Cbor::Map(fields)
}

/// The fields of a key file, to be changed one at a time.
#[derive(Clone, Debug)]
struct KeyFileParts {
    v: u64,
    kind: String,
    public: Vec<u8>,
    kdf: Option<KdfParts>,
    nonce: Option<Vec<u8>>,
    secret: Vec<u8>,
    extra: Vec<(String, Cbor)>,
}

#[derive(Clone, Debug)]
struct KdfParts {
    alg: String,
    m_kib: u64,
    t: u64,
    p: u64,
    salt: Vec<u8>,
    extra: Vec<(String, Cbor)>,
}

impl KeyFileParts {
    fn item(&self) -> Cbor {
        let mut fields = vec![
            ("v".to_owned(), Cbor::Uint(self.v)),
            ("kind".to_owned(), Cbor::Text(self.kind.clone())),
            ("public".to_owned(), Cbor::Bytes(self.public.clone())),
            ("secret".to_owned(), Cbor::Bytes(self.secret.clone())),
        ];
        if let Some(kdf) = &self.kdf {
            let mut kdf_fields = vec![
                ("alg".to_owned(), Cbor::Text(kdf.alg.clone())),
                ("m_kib".to_owned(), Cbor::Uint(kdf.m_kib)),
                ("t".to_owned(), Cbor::Uint(kdf.t)),
                ("p".to_owned(), Cbor::Uint(kdf.p)),
                ("salt".to_owned(), Cbor::Bytes(kdf.salt.clone())),
            ];
            kdf_fields.extend(kdf.extra.iter().cloned());
            fields.push(("kdf".to_owned(), sorted(kdf_fields)));
        }
        if let Some(nonce) = &self.nonce {
            fields.push(("nonce".to_owned(), Cbor::Bytes(nonce.clone())));
        }
        fields.extend(self.extra.iter().cloned());
        sorted(fields)
    }

    fn to_bytes(&self) -> Vec<u8> {
        self.item().to_vec()
    }
}

/// A real encrypted key file, and its parts, checked to re-encode to the same bytes.
fn encrypted_sample() -> (SigningKey, KeyFileParts, Vec<u8>) {
    let key = SigningKey::from_seed(&[0x42; 32]);
    let mut rng = rng(3);
    // `KeyFile::encrypt` draws the salt, then the nonce: read them from a copy of the RNG.
    let (mut salt, mut nonce) = ([0u8; 16], [0u8; 24]);
    let mut peek = rng.clone();
    peek.fill_bytes(&mut salt);
    peek.fill_bytes(&mut nonce);
    let bytes = KeyFile::encrypt(&mut rng, &key, PASSPHRASE, tiny_params())
        .unwrap()
        .to_bytes();
    let parts = KeyFileParts {
        v: 1,
        kind: "ed25519".into(),
        public: key.verifying_key().to_bytes().to_vec(),
        kdf: Some(KdfParts {
            alg: "argon2id".into(),
            m_kib: 8,
            t: 1,
            p: 1,
            salt: salt.to_vec(),
            extra: vec![],
        }),
        nonce: Some(nonce.to_vec()),
        secret: bytes[bytes.len() - 48..].to_vec(), // the last field in key order
        extra: vec![],
    };
    assert_eq!(
        hex::encode(parts.to_bytes()),
        hex::encode(&bytes),
        "the test's builder is exact"
    );
    (key, parts, bytes)
}

fn unencrypted_sample() -> (SigningKey, KeyFileParts, Vec<u8>) {
    let key = SigningKey::from_seed(&[0x43; 32]);
    let bytes = KeyFile::unencrypted(&key).to_bytes();
    let parts = KeyFileParts {
        v: 1,
        kind: "ed25519".into(),
        public: key.verifying_key().to_bytes().to_vec(),
        kdf: None,
        nonce: None,
        secret: key.to_seed().to_vec(),
        extra: vec![],
    };
    assert_eq!(
        hex::encode(parts.to_bytes()),
        hex::encode(&bytes),
        "the test's builder is exact"
    );
    (key, parts, bytes)
}

fn assert_cbor_malformed(result: Result<KeyFile, KeyFileError>, needle: &str, what: &str) {
    match result {
        Err(KeyFileError::Cbor(CborError::Malformed { reason })) => {
            assert!(
                reason.contains(needle),
                "{what}: {reason:?} should mention {needle:?}"
            );
        }
        Err(other) => panic!("{what}: expected malformed CBOR, got {other:?}"),
        Ok(file) => panic!("{what}: accepted as {file:?}"),
    }
}

#[test]
fn key_file_samples_load() {
    let (key, _, bytes) = encrypted_sample();
    let file = KeyFile::from_bytes(&bytes).unwrap();
    assert_eq!(
        file.decrypt(PASSPHRASE).unwrap().verifying_key(),
        key.verifying_key()
    );
    let (key, _, bytes) = unencrypted_sample();
    assert_eq!(
        KeyFile::from_bytes(&bytes)
            .unwrap()
            .decrypt(b"")
            .unwrap()
            .verifying_key(),
        key.verifying_key()
    );
}

#[test]
fn key_file_garbage_bytes() {
    assert_cbor_malformed(KeyFile::from_bytes(&[]), "", "empty file");
    let mut rng = rng(4);
    for len in 1..=256 {
        let mut garbage = vec![0u8; len];
        rng.fill_bytes(&mut garbage);
        let err = KeyFile::from_bytes(&garbage).unwrap_err();
        assert!(
            matches!(err, KeyFileError::Cbor(CborError::Malformed { .. })),
            "{len}: {err:?}"
        );
        assert!(err.to_string().starts_with("malformed CBOR"), "{err}");
    }
    assert_cbor_malformed(KeyFile::from_bytes(b"{\"v\":1}"), "", "JSON is not CBOR");
}

#[test]
fn key_file_truncated_at_every_length() {
    for (_, _, bytes) in [encrypted_sample(), unencrypted_sample()] {
        for len in 0..bytes.len() {
            assert!(
                matches!(
                    KeyFile::from_bytes(&bytes[..len]),
                    Err(KeyFileError::Cbor(CborError::Malformed { .. }))
                ),
                "truncated to {len} of {}",
                bytes.len()
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_cbor_malformed(
            KeyFile::from_bytes(&trailing),
            "trailing",
            "one byte appended",
        );
    }
}

#[test]
fn key_file_valid_cbor_of_the_wrong_shape() {
    let (_, parts, _) = encrypted_sample();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("an integer", Cbor::Uint(1).to_vec(), "invalid type"),
        (
            "a text string",
            Cbor::text("ed25519").to_vec(),
            "invalid type",
        ),
        (
            "a byte string",
            Cbor::Bytes(vec![0; 80]).to_vec(),
            "invalid type",
        ),
        ("an empty array", Cbor::Array(vec![]).to_vec(), ""),
        ("an empty map", Cbor::Map(vec![]).to_vec(), "missing field"),
        (
            "v as text",
            sorted(vec![("v".into(), Cbor::text("1"))]).to_vec(),
            "invalid type",
        ),
        (
            "v beyond u32",
            KeyFileParts {
                v: 1 << 32,
                ..parts.clone()
            }
            .to_bytes(),
            "",
        ),
        (
            "no secret",
            {
                let Cbor::Map(mut fields) = parts.item() else {
                    unreachable!()
                };
                fields.retain(|(name, _)| name != "secret");
                Cbor::Map(fields).to_vec()
            },
            "missing field",
        ),
        (
            "public as text",
            {
                let Cbor::Map(mut fields) = parts.item() else {
                    unreachable!()
                };
                for field in &mut fields {
                    if field.0 == "public" {
                        field.1 = Cbor::text("not bytes");
                    }
                }
                Cbor::Map(fields).to_vec()
            },
            "",
        ),
        (
            "kdf as an array",
            {
                let Cbor::Map(mut fields) = parts.item() else {
                    unreachable!()
                };
                for field in &mut fields {
                    if field.0 == "kdf" {
                        field.1 = Cbor::Array(vec![Cbor::Uint(8)]);
                    }
                }
                Cbor::Map(fields).to_vec()
            },
            "",
        ),
    ];
    for (what, bytes, needle) in cases {
        assert_cbor_malformed(KeyFile::from_bytes(&bytes), needle, what);
    }
}

#[test]
fn key_file_wrong_version() {
    let (_, parts, _) = encrypted_sample();
    for v in [0, 2, 0xffff_ffff] {
        let bytes = KeyFileParts { v, ..parts.clone() }.to_bytes();
        let err = KeyFile::from_bytes(&bytes).unwrap_err();
        assert_eq!(
            err,
            KeyFileError::UnsupportedVersion(u32::try_from(v).unwrap())
        );
        assert!(err.to_string().contains("version"), "{err}");
    }
}

#[test]
fn key_file_unknown_fields() {
    let (_, parts, _) = encrypted_sample();
    let mut top = parts.clone();
    top.extra.push(("comment".into(), Cbor::text("my key")));
    assert_cbor_malformed(
        KeyFile::from_bytes(&top.to_bytes()),
        "unknown field",
        "top level",
    );

    let mut inner = parts.clone();
    inner
        .kdf
        .as_mut()
        .unwrap()
        .extra
        .push(("pepper".into(), Cbor::Bytes(vec![1; 16])));
    assert_cbor_malformed(
        KeyFile::from_bytes(&inner.to_bytes()),
        "unknown field",
        "inside kdf",
    );

    let (_, clear, _) = unencrypted_sample();
    let mut clear = clear;
    clear.extra.push(("x".into(), Cbor::Uint(0)));
    assert_cbor_malformed(
        KeyFile::from_bytes(&clear.to_bytes()),
        "unknown field",
        "clear file",
    );
}

#[test]
fn key_file_inconsistent_fields() {
    let (_, parts, _) = encrypted_sample();
    let malformed = |p: KeyFileParts, needle: &str| {
        let err = KeyFile::from_bytes(&p.to_bytes()).unwrap_err();
        match &err {
            KeyFileError::Malformed(reason) => assert!(reason.contains(needle), "{reason}"),
            other => panic!("expected Malformed({needle:?}), got {other:?}"),
        }
        assert!(err.to_string().starts_with("malformed key file"), "{err}");
    };
    malformed(
        KeyFileParts {
            kind: "x25519".into(),
            ..parts.clone()
        },
        "kind",
    );
    let mut p = parts.clone();
    p.kdf.as_mut().unwrap().alg = "argon2i".into();
    malformed(p, "alg");
    let mut p = parts.clone();
    p.kdf.as_mut().unwrap().salt.pop();
    malformed(p, "salt");
    malformed(
        KeyFileParts {
            nonce: Some(vec![0; 12]),
            ..parts.clone()
        },
        "nonce",
    );
    malformed(
        KeyFileParts {
            nonce: None,
            ..parts.clone()
        },
        "both present",
    );
    malformed(
        KeyFileParts {
            kdf: None,
            ..parts.clone()
        },
        "both present",
    );
    let mut p = parts.clone();
    p.secret.pop();
    malformed(p, "48 bytes");
    let (_, clear, _) = unencrypted_sample();
    malformed(
        KeyFileParts {
            secret: vec![0; 48],
            ..clear
        },
        "32 bytes",
    );
}

#[test]
fn key_file_bad_public_key() {
    let (_, parts, _) = encrypted_sample();
    let weak = KeyFileParts {
        public: vec![0; 32],
        ..parts.clone()
    };
    let err = KeyFile::from_bytes(&weak.to_bytes()).unwrap_err();
    assert_eq!(err, KeyFileError::InvalidKey(KeyError::WeakKey));
    assert!(err.to_string().contains("public key"), "{err}");
    let short = KeyFileParts {
        public: vec![1; 31],
        ..parts
    };
    assert_eq!(
        KeyFile::from_bytes(&short.to_bytes()).unwrap_err(),
        KeyFileError::InvalidKey(KeyError::InvalidLength {
            expected: 32,
            got: 31
        })
    );
}

#[test]
fn unencrypted_key_file_with_a_foreign_seed() {
    let (_, clear, _) = unencrypted_sample();
    let err = KeyFile::from_bytes(
        &KeyFileParts {
            secret: vec![0x44; 32],
            ..clear
        }
        .to_bytes(),
    )
    .unwrap_err();
    assert_eq!(err, KeyFileError::KeyMismatch);
    assert!(err.to_string().contains("do not match"), "{err}");
}

/// Splices `with` in place of the one occurrence of `find` in `bytes`.
fn splice(bytes: &[u8], find: &[u8], with: &[u8]) -> Vec<u8> {
    let at: Vec<usize> = bytes
        .windows(find.len())
        .enumerate()
        .filter(|(_, w)| *w == find)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "{} must occur once", hex::encode(find));
    let mut out = bytes[..at[0]].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&bytes[at[0] + find.len()..]);
    out
}

/// Other encodings of a valid file's value: each decodes, then fails the determinism check.
#[test]
fn key_file_non_deterministic_cbor() {
    let (_, parts, bytes) = encrypted_sample();
    assert_eq!(bytes[0], 0xa6, "a six-entry map");
    let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();

    let mut long_map_head = vec![0xb8, 6];
    long_map_head.extend_from_slice(&bytes[1..]);
    variants.push(("map head in two bytes", long_map_head));
    variants.push((
        "v as a two-byte integer",
        splice(&bytes, &[0x61, b'v', 0x01], &[0x61, b'v', 0x18, 0x01]),
    ));
    let mut public_key_head = vec![0x66];
    public_key_head.extend_from_slice(b"public");
    let mut long_bytes_head = public_key_head.clone();
    public_key_head.extend_from_slice(&[0x58, 0x20]);
    long_bytes_head.extend_from_slice(&[0x59, 0x00, 0x20]);
    variants.push((
        "public with a three-byte length",
        splice(&bytes, &public_key_head, &long_bytes_head),
    ));
    let mut indefinite = vec![0xbf];
    indefinite.extend_from_slice(&bytes[1..]);
    indefinite.push(0xff);
    variants.push(("indefinite-length map", indefinite));
    let Cbor::Map(mut fields) = parts.item() else {
        unreachable!()
    };
    fields.reverse();
    variants.push(("keys in reverse order", Cbor::Map(fields).to_vec()));

    for (what, variant) in variants {
        let err = KeyFile::from_bytes(&variant).unwrap_err();
        assert_eq!(err, KeyFileError::Cbor(CborError::NonCanonical), "{what}");
    }
}

#[test]
fn key_file_wrong_passphrase() {
    let (_, _, bytes) = encrypted_sample();
    let file = KeyFile::from_bytes(&bytes).unwrap();
    for wrong in [
        &b"correct horse battery stapler"[..],
        b"Correct horse battery staple",
        b"",
        b"\0",
    ] {
        let err = file.decrypt(wrong).unwrap_err();
        assert_eq!(err, KeyFileError::DecryptionFailed, "{wrong:?}");
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
    }
}

#[test]
fn key_file_empty_passphrase_on_encrypt() {
    let key = SigningKey::from_seed(&[1; 32]);
    let err = KeyFile::encrypt(&mut rng(5), &key, b"", tiny_params()).unwrap_err();
    assert_eq!(err, KeyFileError::EmptyPassphrase);
    assert!(err.to_string().contains("empty passphrase"), "{err}");
}

/// Every covered header field is bound to the ciphertext: change one and decryption fails.
#[test]
fn key_file_altered_header_fails_to_decrypt() {
    let (_, parts, _) = encrypted_sample();
    let mut variants: Vec<(&str, KeyFileParts)> = Vec::new();
    let mut p = parts.clone();
    p.kdf.as_mut().unwrap().m_kib = 16;
    variants.push(("m_kib", p));
    let mut p = parts.clone();
    p.kdf.as_mut().unwrap().t = 2;
    variants.push(("t", p));
    let mut p = parts.clone();
    p.kdf.as_mut().unwrap().salt[0] ^= 1;
    variants.push(("salt", p));
    let mut p = parts.clone();
    p.nonce.as_mut().unwrap()[23] ^= 0x80;
    variants.push(("nonce", p));
    let mut p = parts.clone();
    p.secret[47] ^= 1;
    variants.push(("secret", p));
    let other = SigningKey::from_seed(&[0x99; 32]).verifying_key();
    variants.push((
        "public",
        KeyFileParts {
            public: other.to_bytes().to_vec(),
            ..parts.clone()
        },
    ));

    for (what, p) in variants {
        let file = KeyFile::from_bytes(&p.to_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            file.decrypt(PASSPHRASE).unwrap_err(),
            KeyFileError::DecryptionFailed,
            "{what}"
        );
    }
}

/// Costs beyond the limits are refused by `from_bytes` itself; costs at the limit are accepted
/// without running Argon2 (which at 1 GiB × 16 passes would take minutes).
#[test]
fn key_file_hostile_argon2_parameters() {
    let (_, parts, _) = encrypted_sample();
    let with = |m_kib: u64, t: u64, p: u64| {
        let mut file = parts.clone();
        let kdf = file.kdf.as_mut().unwrap();
        (kdf.m_kib, kdf.t, kdf.p) = (m_kib, t, p);
        file.to_bytes()
    };
    let max_m = u64::from(KdfParams::MAX_M_KIB);
    assert_eq!(max_m, 1 << 20, "1 GiB in KiB");
    for (m_kib, t, p) in [
        (max_m + 1, 1, 1),
        (u64::from(u32::MAX), 1, 1),
        (8, 0, 1),
        (8, 17, 1),
        (8, 1, 0),
        (1024, 1, 17),
        (7, 1, 1),
        (15, 1, 2),
    ] {
        let err = KeyFile::from_bytes(&with(m_kib, t, p)).unwrap_err();
        assert_eq!(
            err,
            KeyFileError::InvalidParams,
            "m_kib={m_kib} t={t} p={p}"
        );
        assert!(err.to_string().contains("m_kib"), "{err}");
    }
    assert_cbor_malformed(
        KeyFile::from_bytes(&with(1 << 32, 1, 1)),
        "",
        "m_kib beyond u32",
    );

    let started = Instant::now();
    let heavy = KeyFile::from_bytes(&with(max_m, 16, 16)).expect("at the limits");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "from_bytes must not run Argon2"
    );
    let params = heavy.kdf_params().unwrap();
    assert_eq!(
        (params.m_kib(), params.t(), params.p()),
        (KdfParams::MAX_M_KIB, 16, 16)
    );

    assert_eq!(
        KdfParams::new(KdfParams::MAX_M_KIB + 1, 1, 1),
        Err(KeyFileError::InvalidParams)
    );
    assert_eq!(KdfParams::new(8, 1, 2), Err(KeyFileError::InvalidParams));
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

fn syntax_reason(input: &[u8]) -> (usize, &'static str) {
    match json::parse(input) {
        Err(JsonError::Syntax { offset, reason }) => {
            // canonicalize refuses it the same way.
            assert_eq!(
                json::canonicalize(input),
                Err(JsonError::Syntax { offset, reason })
            );
            (offset, reason)
        }
        other => panic!(
            "{:?}: expected a syntax error, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

#[test]
fn json_duplicate_keys() {
    for (input, key, offset) in [
        (&br#"{"a":1,"a":2}"#[..], "a", 7),
        (br#"{"a":1,"b":2,"a":1}"#, "a", 13),
        (br#"{"x":{"k":[],"k":[]}}"#, "k", 13),
        (br#"{"a":1,"\u0061":2}"#, "a", 7),
        ("{\"\\u00e9\":0,\"é\":0}".as_bytes(), "é", 12),
    ] {
        let err = json::parse(input).unwrap_err();
        assert_eq!(
            err,
            JsonError::DuplicateKey {
                offset,
                key: key.to_owned()
            },
            "{}",
            String::from_utf8_lossy(input)
        );
        assert!(err.to_string().contains("duplicate key"), "{err}");
    }
    // The same key in sibling objects is fine.
    assert!(json::parse(br#"[{"a":1},{"a":1}]"#).is_ok());
}

#[test]
fn json_lone_surrogates() {
    for input in [
        &br#""\ud800""#[..],
        br#""\udc00""#,
        br#""\udfff x""#,
        br#""\ud800\u0041""#,
        br#""\ud800x""#,
        br#""\udbff\udbff""#,
        br#"{"\ud834":1}"#,
    ] {
        let (_, reason) = syntax_reason(input);
        assert_eq!(
            reason,
            "lone surrogate in string",
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(
        json::parse(br#""\ud83d\ude00""#).unwrap(),
        Value::from("😀")
    );
}

#[test]
fn json_integers_beyond_2_pow_53() {
    for input in [
        &b"9007199254740993"[..],
        b"-9007199254740993",
        b"18446744073709551616",
        b"[1, 99999999999999999999999]",
        b"{\"n\":-12345678901234567890}",
    ] {
        let err = json::parse(input).unwrap_err();
        assert!(
            matches!(err, JsonError::Number { reason, .. } if reason.contains("2^53")),
            "{}: {err:?}",
            String::from_utf8_lossy(input)
        );
    }
    let max = json::parse(b"9007199254740992").unwrap();
    assert_eq!(
        max,
        Value::Number(json::Number::try_from(1u64 << 53).unwrap())
    );
    assert!(json::parse(b"-9007199254740992").is_ok());
    // Beyond 2^53, an integer spelled as RFC 8785 writes its double stays accepted (2^64,
    // 10^20); 18446744073709551616 above is 2^64 exactly, but not its canonical spelling.
    assert!(json::parse(b"18446744073709552000").is_ok());
    assert!(json::parse(b"100000000000000000000").is_ok());
    // Overflowing the double range is its own error.
    for input in [&b"1e400"[..], b"-1e309"] {
        assert!(matches!(
            json::parse(input),
            Err(JsonError::Number {
                reason: "number overflows a double",
                offset: 0
            })
        ));
    }
}

#[test]
fn json_nesting_limit() {
    let arrays = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    assert_eq!(json::MAX_DEPTH, 128);
    assert!(json::parse(arrays(128).as_bytes()).is_ok());
    assert!(json::parse(objects(128).as_bytes()).is_ok());
    for input in [
        arrays(129),
        objects(129),
        format!("[{}]", objects(128)),
        "[".repeat(1_000_000),
    ] {
        let err = json::parse(input.as_bytes()).unwrap_err();
        assert!(matches!(err, JsonError::TooDeep { .. }), "{err:?}");
        assert!(err.to_string().contains("nested deeper than 128"), "{err}");
    }
}

#[test]
fn json_invalid_utf8() {
    for (input, offset) in [
        (&b"\"\xff\""[..], 1),
        (b"\"\xc0\xaf\"", 1),                 // overlong '/'
        (b"\"ab\xed\xa0\x80\"", 3),           // a UTF-8-encoded surrogate
        (b"\"\xe2\x82\"", 1),                 // truncated sequence
        (b"{\"k\":\"\xf5\x80\x80\x80\"}", 6), // beyond U+10FFFF
        (b"[1,\x80]", 3),
    ] {
        assert_eq!(syntax_reason(input), (offset, "invalid UTF-8"), "{input:?}");
    }
}

#[test]
fn json_byte_order_mark() {
    let (offset, reason) = syntax_reason(b"\xef\xbb\xbf{}");
    assert_eq!((offset, reason), (0, "expected a JSON value"));
    let err = json::parse(b"\xef\xbb\xbf{}").unwrap_err();
    assert!(
        err.to_string().starts_with("invalid JSON at byte 0"),
        "{err}"
    );
}

#[test]
fn json_trailing_garbage() {
    for input in [
        &b"{} x"[..],
        b"{}{}",
        b"1 2",
        b"[1]]",
        b"\"a\"b",
        b"null\0",
        b"true false",
        b"0 ,",
    ] {
        let (_, reason) = syntax_reason(input);
        assert_eq!(
            reason, "trailing characters after the JSON value",
            "{input:?}"
        );
    }
    // Surrounding whitespace is not garbage.
    assert!(json::parse(b" \t\r\n{}\n ").is_ok());
}

#[test]
fn json_other_syntax_errors() {
    for input in [
        &b""[..],
        b"   ",
        b"[1,]",
        b"{\"a\":1,}",
        b"01",
        b"-01",
        b"1.",
        b".5",
        b"+1",
        b"-",
        b"1e",
        b"1e+",
        b"NaN",
        b"Infinity",
        b"'a'",
        b"\"\x01\"",
        b"\"tab\there\"",
        b"\"\\x\"",
        b"\"\\u12\"",
        b"\"\\u12g4\"",
        b"\"abc",
        b"tru",
        b"nul",
        b"[1 2]",
        b"{\"a\" 1}",
        b"{1:2}",
        b"{\"a\":}",
        b"[",
        b"\x0c1", // form feed is not JSON whitespace
    ] {
        let (_, reason) = syntax_reason(input);
        let err = json::parse(input).unwrap_err();
        assert!(err.to_string().starts_with("invalid JSON at byte"), "{err}");
        assert!(!reason.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Signed messages and base64url
// ---------------------------------------------------------------------------------------------

fn signed_sample() -> (SigningKey, json::Map) {
    let key = SigningKey::from_seed(&[0x51; 32]);
    let payload = json::parse(br#"{"amount":10,"to":"bob"}"#).unwrap();
    let msg = SignedMessage::sign(&key, payload).unwrap();
    let Value::Object(map) = json::parse(&msg.to_json()).unwrap() else {
        unreachable!()
    };
    (key, map)
}

fn from_map(map: json::Map) -> Result<SignedMessage, SignedMessageError> {
    SignedMessage::from_json(&Value::Object(map).to_canonical_vec())
}

#[test]
fn signed_message_bad_input() {
    let (key, map) = signed_sample();
    assert!(from_map(map.clone()).is_ok());

    let malformed = |result: Result<SignedMessage, SignedMessageError>, what: &str| {
        let err = result.unwrap_err();
        assert!(
            matches!(err, SignedMessageError::Malformed(_)),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().starts_with("malformed signed message"),
            "{err}"
        );
    };
    malformed(SignedMessage::from_json(b"[]"), "array");
    malformed(SignedMessage::from_json(b"\"msg\""), "string");
    let mut m = map.clone();
    m.insert("extra".into(), Value::Null);
    malformed(from_map(m), "extra field");
    let mut m = map.clone();
    m.remove("payload");
    malformed(from_map(m), "missing payload");
    let mut m = map.clone();
    m.remove("v");
    m.insert("w".into(), Value::Number(1.into()));
    malformed(from_map(m), "v renamed");
    let mut m = map.clone();
    m.insert("v".into(), Value::from("1"));
    malformed(from_map(m), "v as text");
    let mut m = map.clone();
    m.insert("sig".into(), Value::String(base64url::encode(&[1; 63])));
    malformed(from_map(m), "63-byte signature");
    let mut m = map.clone();
    m.insert("signer".into(), Value::Number(5.into()));
    malformed(from_map(m), "signer as a number");

    let mut m = map.clone();
    m.insert("v".into(), Value::Number(2.into()));
    assert_eq!(
        from_map(m).unwrap_err(),
        SignedMessageError::UnsupportedVersion(2)
    );

    let mut m = map.clone();
    m.insert("signer".into(), Value::String(base64url::encode(&[0; 32])));
    let err = from_map(m).unwrap_err();
    assert_eq!(err, SignedMessageError::InvalidSigner(KeyError::WeakKey));
    assert!(err.to_string().contains("signer"), "{err}");

    let mut m = map.clone();
    m.insert(
        "payload".into(),
        json::parse(br#"{"amount":1000,"to":"bob"}"#).unwrap(),
    );
    let err = from_map(m).unwrap_err();
    assert_eq!(err, SignedMessageError::BadSignature);
    assert!(err.to_string().contains("signature"), "{err}");

    let mut m = map.clone();
    let mallory = SigningKey::from_seed(&[0x66; 32]).verifying_key();
    m.insert(
        "signer".into(),
        Value::String(base64url::encode(mallory.as_bytes())),
    );
    assert_eq!(from_map(m).unwrap_err(), SignedMessageError::BadSignature);

    assert!(matches!(
        SignedMessage::from_json(br#"{"payload":1,"payload":1,"sig":"","signer":""}"#),
        Err(SignedMessageError::Json(JsonError::DuplicateKey { .. }))
    ));

    // Signing refuses payloads outside the signing profile.
    for payload in [
        &b"1.5"[..],
        b"[9007199254740992]",
        b"{\"a\":-9007199254740992}",
        b"1e300",
    ] {
        let value = json::parse(payload).unwrap();
        assert!(
            matches!(
                SignedMessage::sign(&key, value),
                Err(JsonError::Unsupported { .. })
            ),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
}

#[test]
fn base64url_bad_input() {
    for input in [
        "Zm8=", "Zm9v====", "Zm+v", "Zm/v", "Zm 9v", " Zm9v", "Zm9v\n", "Z", "Zm9vY", "Zm9", "Zg=",
        "é",
    ] {
        let err = base64url::decode(input).unwrap_err();
        assert!(
            matches!(err, Base64Error::Invalid { .. }),
            "{input:?}: {err:?}"
        );
        assert!(err.to_string().starts_with("invalid base64url"), "{err}");
    }
    assert_eq!(base64url::decode("Zm8").unwrap(), b"fo");
    assert_eq!(
        base64url::decode_array::<32>("Zm8"),
        Err(Base64Error::WrongLength {
            expected: 32,
            got: 2
        })
    );
}
