//! Property tests (proptest): round trips, tamper detection, canonical-form idempotence, and
//! decoders that never panic. Case counts are modest; Argon2 tests use tiny parameters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use proptest::sample::Index;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use talos_crypto::aead::{ChaCha20Poly1305, XChaCha20Poly1305};
use talos_crypto::json::{self, Map, Number, Value};
use talos_crypto::key_file::KdfParams;
use talos_crypto::record::{Field, Record, SafeUint};
use talos_crypto::sealed_box::SealedBoxError;
use talos_crypto::{KeyFile, SealedBox, SignedMessage, SigningKey, base64url};

/// Flips one bit of `bytes`, chosen by `bit` over the whole bit length. `bytes` must not be empty.
fn flip_bit(bytes: &mut [u8], bit: Index) {
    let i = bit.index(bytes.len() * 8);
    bytes[i / 8] ^= 1 << (i % 8);
}

// ---------------------------------------------------------------------------------------------
// AEAD
// ---------------------------------------------------------------------------------------------

macro_rules! aead_properties {
    ($name:ident, $cipher:ty, $nonce_len:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(96))]

            /// Seal then open returns the plaintext; one flipped bit anywhere in the sealed
            /// output, or in the associated data, makes open fail.
            #[test]
            fn $name(
                key in any::<[u8; 32]>(),
                nonce in any::<[u8; $nonce_len]>(),
                aad in prop::collection::vec(any::<u8>(), 0..64),
                plaintext in prop::collection::vec(any::<u8>(), 0..4096),
                sealed_bit in any::<Index>(),
                aad_bit in any::<Index>(),
            ) {
                let cipher = <$cipher>::new(&key);
                let sealed = cipher.seal(&nonce, &aad, &plaintext).unwrap();
                prop_assert_eq!(sealed.len(), plaintext.len() + 16);
                prop_assert_eq!(cipher.open(&nonce, &aad, &sealed).unwrap(), plaintext.clone());

                let mut tampered = sealed.clone();
                flip_bit(&mut tampered, sealed_bit);
                prop_assert!(cipher.open(&nonce, &aad, &tampered).is_err());

                if !aad.is_empty() {
                    let mut other_aad = aad.clone();
                    flip_bit(&mut other_aad, aad_bit);
                    prop_assert!(cipher.open(&nonce, &other_aad, &sealed).is_err());
                }
                // Extra associated data is a different associated data.
                let mut longer_aad = aad.clone();
                longer_aad.push(0);
                prop_assert!(cipher.open(&nonce, &longer_aad, &sealed).is_err());
            }
        }
    };
}

aead_properties!(
    chacha20_poly1305_round_trip_and_tamper,
    ChaCha20Poly1305,
    12
);
aead_properties!(
    xchacha20_poly1305_round_trip_and_tamper,
    XChaCha20Poly1305,
    24
);

// ---------------------------------------------------------------------------------------------
// Sealed boxes
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Anonymous and authenticated boxes survive both encodings and open to the plaintext;
    /// `open_from` with the wrong expected sender fails.
    #[test]
    fn sealed_box_round_trip(
        rng_seed in any::<[u8; 32]>(),
        sender_seed in any::<[u8; 32]>(),
        recipient_seed in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let sender = SigningKey::from_seed(&sender_seed);
        let recipient = SigningKey::from_seed(&recipient_seed);
        let secret = recipient.to_x25519();
        let to = recipient.verifying_key().to_x25519();

        let anonymous = SealedBox::seal_anonymous(&mut rng, &to, &plaintext).unwrap();
        let authenticated = SealedBox::seal_authenticated(&mut rng, &sender, &to, &plaintext).unwrap();
        for (sealed, expected_sender) in [(&anonymous, None), (&authenticated, Some(sender.verifying_key()))] {
            let from_json = SealedBox::from_json(&sealed.to_json()).unwrap();
            let from_cbor = SealedBox::from_cbor(&sealed.to_cbor()).unwrap();
            prop_assert_eq!(&from_json, sealed);
            prop_assert_eq!(&from_cbor, sealed);
            for decoded in [from_json, from_cbor] {
                let opened = decoded.open(&secret).unwrap();
                prop_assert_eq!(&opened.plaintext, &plaintext);
                prop_assert_eq!(opened.sender, expected_sender);
            }
        }

        prop_assert_eq!(authenticated.open_from(&secret, &sender.verifying_key()).unwrap(), plaintext.clone());
        let stranger = SigningKey::from_seed(&[0x5a; 32]).verifying_key();
        prop_assume!(stranger != sender.verifying_key());
        prop_assert_eq!(
            authenticated.open_from(&secret, &stranger),
            Err(SealedBoxError::UnexpectedSender)
        );
        prop_assert_eq!(
            anonymous.open_from(&secret, &sender.verifying_key()),
            Err(SealedBoxError::UnexpectedSender)
        );
    }

    /// Changing any byte of a box's CBOR form either fails to decode or fails to open; it never
    /// opens (to any plaintext) and never panics.
    #[test]
    fn sealed_box_cbor_byte_change_is_caught(
        rng_seed in any::<[u8; 32]>(),
        authenticated in any::<bool>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..128),
        position in any::<Index>(),
        mask in 1u8..=255,
    ) {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let recipient = SigningKey::from_seed(&[7; 32]);
        let to = recipient.verifying_key().to_x25519();
        let sealed = if authenticated {
            SealedBox::seal_authenticated(&mut rng, &SigningKey::from_seed(&[8; 32]), &to, &plaintext)
        } else {
            SealedBox::seal_anonymous(&mut rng, &to, &plaintext)
        }
        .unwrap();
        let mut wire = sealed.to_cbor();
        let i = position.index(wire.len());
        wire[i] ^= mask;
        if let Ok(decoded) = SealedBox::from_cbor(&wire) {
            let opened = decoded.open(&recipient.to_x25519());
            prop_assert!(opened.is_err(), "byte {} ^ {:#04x} still opens: {:?}", i, mask, opened);
        }
    }
}

/// The CBOR property above, exhaustively for one box of each kind: every byte position, three
/// different changes each.
#[test]
fn sealed_box_every_cbor_byte_change_is_caught() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let recipient = SigningKey::from_seed(&[7; 32]);
    let to = recipient.verifying_key().to_x25519();
    let boxes = [
        SealedBox::seal_anonymous(&mut rng, &to, b"hello").unwrap(),
        SealedBox::seal_authenticated(&mut rng, &SigningKey::from_seed(&[8; 32]), &to, b"hello")
            .unwrap(),
    ];
    for sealed in boxes {
        let wire = sealed.to_cbor();
        for i in 0..wire.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut changed = wire.clone();
                changed[i] ^= mask;
                if let Ok(decoded) = SealedBox::from_cbor(&changed) {
                    let opened = decoded.open(&recipient.to_x25519());
                    assert!(opened.is_err(), "byte {i} ^ {mask:#04x} still opens");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// base64url
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// decode(encode(x)) == x, and the encoding is unpadded base64url.
    #[test]
    fn base64url_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = base64url::encode(&bytes);
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(text.len(), (bytes.len() * 4).div_ceil(3));
        prop_assert_eq!(&base64url::decode(&text).unwrap(), &bytes);
        // Appending to a buffer writes the same text after what is there.
        let mut out = b"prefix".to_vec();
        base64url::encode_to_vec(&bytes, &mut out);
        prop_assert_eq!(&out[..6], b"prefix");
        prop_assert_eq!(&out[6..], text.as_bytes());
    }

    /// decode never panics, and whatever it accepts is the one canonical encoding of its output.
    #[test]
    fn base64url_decode_total_and_strict(
        text in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_\\-]{0,40}",
            "[A-Za-z0-9_\\-+/= \n]{0,40}",
        ]
    ) {
        if let Ok(bytes) = base64url::decode(&text) {
            prop_assert_eq!(base64url::encode(&bytes), text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON
// ---------------------------------------------------------------------------------------------

/// Characters that stress string escaping and UTF-16 key ordering.
fn json_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range(' ', '~'), // printable ASCII, with '"', '\\' and '/'
        2 => prop::char::range('\u{0}', '\u{1f}'), // control characters
        1 => Just('\u{7f}'),
        1 => Just('\u{2028}'),
        1 => prop::char::range('\u{e000}', '\u{ffff}'), // sorts after surrogates in UTF-16
        2 => prop::char::range('\u{10000}', '\u{10ffff}'), // astral: a surrogate pair in UTF-16
        2 => any::<char>(),
    ]
}

fn json_string() -> impl Strategy<Value = String> {
    prop::collection::vec(json_char(), 0..10).prop_map(|chars| chars.into_iter().collect())
}

/// An integer within ±2^53 (exactly representable; `json::parse` accepts it).
fn json_integer() -> impl Strategy<Value = Number> {
    (-(1i64 << 53)..=(1i64 << 53)).prop_map(|i| Number::try_from(i).unwrap())
}

/// Any finite double: normal, subnormal, zero of either sign; plus, explicitly, decimals of
/// ordinary size and integral doubles in [2^53, 1e21), which ECMAScript prints as plain digits
/// and random bit patterns almost never reach.
fn json_double() -> impl Strategy<Value = Number> {
    use prop::num::f64;
    let magnitude = prop_oneof![
        3 => f64::POSITIVE | f64::NORMAL | f64::SUBNORMAL | f64::ZERO,
        1 => -1e6..1e6,
        1 => 9_007_199_254_740_992.0..1e21,
    ];
    (magnitude, any::<bool>())
        .prop_map(|(x, negative)| Number::from_f64(if negative { -x } else { x }).unwrap())
}

fn json_value(number: BoxedStrategy<Number>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number.prop_map(Value::Number),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_string(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect::<Map>())),
        ]
    })
}

/// The whole value model: integers within ±2^53 and any finite double.
fn any_json_value() -> impl Strategy<Value = Value> {
    json_value(prop_oneof![json_integer(), json_double()].boxed())
}

/// Checks `canonicalize(canon(x)) == canon(x)` and that `parse(canon(x))` re-canonicalises to
/// the same bytes.
fn check_canonical_idempotence(value: &Value) -> Result<(), TestCaseError> {
    let canonical = value.to_canonical_vec();
    prop_assert_eq!(value.to_canonical_string().into_bytes(), canonical.clone());
    let again = json::canonicalize(&canonical).map_err(|e| {
        TestCaseError::fail(format!("{e} for {}", String::from_utf8_lossy(&canonical)))
    })?;
    prop_assert_eq!(&again, &canonical);
    let parsed = json::parse(&canonical).unwrap();
    prop_assert_eq!(parsed.to_canonical_vec(), canonical);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// RFC 8785 output is a fixed point of canonicalisation, over the full value model
    /// (integers within ±2^53 and any finite double).
    #[test]
    fn canonical_json_idempotent(value in any_json_value()) {
        check_canonical_idempotence(&value)?;
    }

    /// `json::parse` never panics on arbitrary bytes, nor on JSON-like text.
    #[test]
    fn json_parse_never_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            "[\\[\\]{}:,\"0-9eE.+\\-truefalsn\\\\u ]{0,64}".prop_map(String::into_bytes),
        ]
    ) {
        if let Ok(value) = json::parse(&bytes) {
            // What parses, canonicalises, and the canonical form parses back to it.
            let canonical = value.to_canonical_vec();
            prop_assert_eq!(json::parse(&canonical), Ok(value));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Record: the direct canonical writer equals canonicalising the JSON value
// ---------------------------------------------------------------------------------------------

/// Field names, ASCII and not: `é` sorts before a surrogate pair in both UTF-8 and UTF-16,
/// `\u{e000}` after it in UTF-16 but before it in UTF-8, `"` and control characters need escapes.
const NAMES: [&str; 10] = [
    "v",
    "sig",
    "a_b",
    "A",
    "é",
    "\u{e000}",
    "\u{1f600}",
    "q\"\n",
    "",
    "zz",
];

fn record_field(depth: u32) -> BoxedStrategy<Field<'static>> {
    let leaf = prop_oneof![
        (0..=json::MAX_SAFE_INTEGER).prop_map(|n| Field::Uint(SafeUint::new(n).unwrap())),
        json_string().prop_map(Field::text),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Field::bytes),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        1 => prop::collection::vec(record_field(depth - 1), 0..4).prop_map(Field::List),
        1 => record(depth - 1).prop_map(Field::Record),
    ]
    .boxed()
}

fn record(depth: u32) -> BoxedStrategy<Record<'static>> {
    (
        prop::sample::subsequence(NAMES.to_vec(), 0..=NAMES.len()).prop_shuffle(),
        prop::collection::vec(record_field(depth), NAMES.len()),
    )
        .prop_map(|(names, fields)| {
            names
                .into_iter()
                .zip(fields)
                .fold(Record::new(), |r, (name, field)| r.with(name, field))
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `Record::to_json` writes canonical JSON directly; it must be exactly the canonical form
    /// of the record's JSON value.
    #[test]
    fn record_json_is_the_canonical_form_of_its_value(record in record(2)) {
        prop_assert_eq!(record.to_json(), record.to_json_value().to_canonical_vec());
    }
}

/// RFC 8785 prints the double 1e20 as `100000000000000000000`; the parser must take that
/// integer literal back (it is exactly a double), so `canonicalize` is idempotent on it.
#[test]
fn canonicalize_accepts_its_own_output_for_1e20() {
    let once = json::canonicalize(b"1e20").expect("1e20 is a valid double");
    assert_eq!(once, b"100000000000000000000");
    assert_eq!(json::canonicalize(&once), Ok(once.clone()));
}

// ---------------------------------------------------------------------------------------------
// SignedMessage
// ---------------------------------------------------------------------------------------------

/// Payloads in the signing profile: integers within ±(2^53 − 1), no floats.
fn signable_value() -> impl Strategy<Value = Value> {
    let safe =
        (-((1i64 << 53) - 1)..=((1i64 << 53) - 1)).prop_map(|i| Number::try_from(i).unwrap());
    json_value(safe.boxed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// sign → to_json → from_json is the identity; changing any one byte of the JSON is
    /// rejected, or (only where the change is invisible after parsing, such as the case of a
    /// hex digit in a `\u00XX` escape) yields the identical message, never a different one.
    #[test]
    fn signed_message_round_trip_and_byte_change(
        seed in any::<[u8; 32]>(),
        payload in signable_value(),
        position in any::<Index>(),
        mask in 1u8..=255,
    ) {
        let key = SigningKey::from_seed(&seed);
        let message = SignedMessage::sign(&key, payload.clone()).unwrap();
        let bytes = message.to_json();
        let back = SignedMessage::from_json(&bytes).unwrap();
        prop_assert_eq!(&back, &message);
        prop_assert_eq!(back.payload(), &payload);
        prop_assert_eq!(back.signer(), &key.verifying_key());
        prop_assert_eq!(back.to_json(), bytes.clone());

        let mut changed = bytes.clone();
        let i = position.index(changed.len());
        changed[i] ^= mask;
        if let Ok(accepted) = SignedMessage::from_json(&changed) {
            prop_assert_eq!(
                &accepted, &message,
                "byte {} ^ {:#04x} accepted as a different message", i, mask
            );
        }
    }
}

/// The byte-change property above, exhaustively for one message: every position, three
/// different changes each.
#[test]
fn signed_message_every_byte_change() {
    let key = SigningKey::from_seed(&[2; 32]);
    let payload = json::parse(br#"{"a":[1,-2,null,true],"b":"caf\u00e9 \ud83d\ude00"}"#).unwrap();
    let message = SignedMessage::sign(&key, payload).unwrap();
    let bytes = message.to_json();
    let mut accepted = 0;
    for i in 0..bytes.len() {
        for mask in [0x01, 0x20, 0xff] {
            let mut changed = bytes.clone();
            changed[i] ^= mask;
            if let Ok(other) = SignedMessage::from_json(&changed) {
                assert_eq!(
                    other, message,
                    "byte {i} ^ {mask:#04x} accepted as a different message"
                );
                accepted += 1;
            }
        }
    }
    // This message has no `\u00XX` escape in its canonical form, so nothing is accepted.
    assert_eq!(accepted, 0);
}

/// A single-byte change that `from_json` does accept: the case of a hex digit in a `\u00XX`
/// escape. It parses to the same payload, so the identical message comes back.
#[test]
fn signed_message_escape_case_change_yields_identical_message() {
    let key = SigningKey::from_seed(&[3; 32]);
    let message = SignedMessage::sign(&key, Value::String("\u{1f}".into())).unwrap();
    let bytes = message.to_json();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("\\u001f").expect("control character is escaped") + 5;
    let mut changed = bytes;
    assert_eq!(changed[at], b'f');
    changed[at] ^= 0x20; // 'f' -> 'F'
    let accepted = SignedMessage::from_json(&changed).expect("\\u001F is the same string");
    assert_eq!(accepted, message);
}

// ---------------------------------------------------------------------------------------------
// KeyFile
// ---------------------------------------------------------------------------------------------

fn tiny_params() -> KdfParams {
    KdfParams::new(8, 1, 1).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// encrypt → to_bytes → from_bytes → decrypt returns the key; changing any one byte of the
    /// file makes `from_bytes` or `decrypt` fail.
    #[test]
    fn key_file_round_trip_and_byte_change(
        rng_seed in any::<[u8; 32]>(),
        key_seed in any::<[u8; 32]>(),
        passphrase in prop::collection::vec(any::<u8>(), 1..32),
        position in any::<Index>(),
        mask in 1u8..=255,
    ) {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let key = SigningKey::from_seed(&key_seed);
        let file = KeyFile::encrypt(&mut rng, &key, &passphrase, tiny_params()).unwrap();
        let bytes = file.to_bytes();

        let read = KeyFile::from_bytes(&bytes).unwrap();
        prop_assert!(read.is_encrypted());
        prop_assert_eq!(read.kdf_params(), Some(tiny_params()));
        prop_assert_eq!(read.verifying_key(), key.verifying_key());
        prop_assert_eq!(read.to_bytes(), bytes.clone());
        let opened = read.decrypt(&passphrase).unwrap();
        prop_assert_eq!(*opened.to_seed(), key_seed);

        let mut changed = bytes.clone();
        let i = position.index(changed.len());
        changed[i] ^= mask;
        if let Ok(file) = KeyFile::from_bytes(&changed) {
            let result = file.decrypt(&passphrase);
            prop_assert!(result.is_err(), "byte {} ^ {:#04x} still decrypts", i, mask);
        }
    }

    /// The unencrypted form round-trips too, and any one-byte change is refused by `from_bytes`
    /// or yields a file whose key does not decrypt.
    #[test]
    fn unencrypted_key_file_round_trip_and_byte_change(
        key_seed in any::<[u8; 32]>(),
        position in any::<Index>(),
        mask in 1u8..=255,
    ) {
        let key = SigningKey::from_seed(&key_seed);
        let bytes = KeyFile::unencrypted(&key).to_bytes();
        let read = KeyFile::from_bytes(&bytes).unwrap();
        prop_assert!(!read.is_encrypted());
        prop_assert_eq!(*read.decrypt(b"ignored").unwrap().to_seed(), key_seed);

        let mut changed = bytes.clone();
        let i = position.index(changed.len());
        changed[i] ^= mask;
        if let Ok(file) = KeyFile::from_bytes(&changed) {
            prop_assert!(file.decrypt(b"").is_err(), "byte {} ^ {:#04x} still loads", i, mask);
        }
    }
}

/// The key-file property above, exhaustively for one encrypted and one unencrypted file: every
/// byte position, three different changes each.
#[test]
fn key_file_every_byte_change_is_caught() {
    let key = SigningKey::from_seed(&[4; 32]);
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let files = [
        KeyFile::encrypt(&mut rng, &key, b"pass", tiny_params()).unwrap(),
        KeyFile::unencrypted(&key),
    ];
    for file in files {
        let bytes = file.to_bytes();
        for i in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut changed = bytes.clone();
                changed[i] ^= mask;
                if let Ok(file) = KeyFile::from_bytes(&changed) {
                    assert!(
                        file.decrypt(b"pass").is_err(),
                        "byte {i} ^ {mask:#04x} still decrypts"
                    );
                }
            }
        }
    }
}
