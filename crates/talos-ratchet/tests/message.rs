//! Message encodings: strict decoders with specific errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use talos_crypto::base64url;
use talos_crypto::x25519::PublicKey;
use talos_ratchet::message::{Header, MAX_CBOR_LEN, Message, MessageError};

const DH: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const NONCE: &str = "YWJjZGVmZ2hpamts"; // "abcdefghijkl"
const CT: &str = "ZW5jcnlwdGVkX2RhdGFfYmxvYg"; // 19 bytes

fn json(ciphertext: &str, header: &str, nonce: &str) -> String {
    format!(r#"{{"ciphertext":"{ciphertext}","header":{header},"nonce":"{nonce}"}}"#)
}

fn header(dh: &str, n: &str, pn: &str) -> String {
    format!(r#"{{"dh":"{dh}","n":{n},"pn":{pn}}}"#)
}

fn decode(text: &str) -> Result<Message, MessageError> {
    Message::from_json(text.as_bytes())
}

#[test]
fn good_message_in_any_formatting() {
    let canonical = json(CT, &header(DH, "1", "0"), NONCE);
    let m = decode(&canonical).unwrap();
    assert_eq!(m.to_json(), canonical.as_bytes());
    assert_eq!(m.header.n, 1);
    assert_eq!(&m.nonce, b"abcdefghijkl");
    let spaced = format!(
        "{{ \"nonce\": \"{NONCE}\", \"header\": {{\"pn\": 0, \"n\": 1, \"dh\": \"{DH}\"}},\n \"ciphertext\": \"{CT}\" }}"
    );
    assert_eq!(decode(&spaced).unwrap(), m);
    assert_eq!(Message::from_wire_b64u(&m.to_wire_b64u()).unwrap(), m);
    assert_eq!(Message::from_cbor(&m.to_cbor()).unwrap(), m);
}

#[test]
fn malformed_json_messages_get_specific_errors() {
    use MessageError as E;
    let h = header(DH, "1", "0");
    let cases: Vec<(String, MessageError)> = vec![
        (
            format!(r#"{{"header":{h},"nonce":"{NONCE}"}}"#),
            E::MissingField("ciphertext"),
        ),
        (
            format!(r#"{{"ciphertext":"{CT}","nonce":"{NONCE}"}}"#),
            E::MissingField("header"),
        ),
        (
            format!(r#"{{"ciphertext":"{CT}","header":{h}}}"#),
            E::MissingField("nonce"),
        ),
        (
            format!(r#"{{"ciphertext":"{CT}","header":{h},"nonce":"{NONCE}","v":1}}"#),
            E::UnexpectedField("v".into()),
        ),
        (
            json(CT, &format!(r#"{{"dh":"{DH}","n":1,"pn":0,"x":0}}"#), NONCE),
            E::InvalidHeader("unexpected member"),
        ),
        (
            json(CT, &format!(r#"{{"dh":"{DH}","n":1}}"#), NONCE),
            E::InvalidHeader("missing pn"),
        ),
        (json(CT, "[]", NONCE), E::InvalidHeader("not an object")),
        (
            json(CT, &header(&format!("{}B", &DH[..42]), "1", "0"), NONCE),
            E::InvalidBase64 { field: "dh" },
        ),
        (
            json(CT, &header(&DH[..42], "1", "0"), NONCE),
            E::InvalidDhKey { len: 31 },
        ),
        (
            json(CT, &header(&format!("{DH}AAAA"), "1", "0"), NONCE),
            E::InvalidDhKey { len: 35 },
        ),
        (
            json(CT, &header(&DH[..40], "1", "0"), NONCE),
            E::InvalidDhKey { len: 30 },
        ),
        (
            json(CT, &header(DH, "4294967296", "0"), NONCE),
            E::CounterOutOfRange { field: "n" },
        ),
        (
            json(CT, &header(DH, "0", "9007199254740992"), NONCE),
            E::CounterOutOfRange { field: "pn" },
        ),
        (
            json(CT, &header(DH, "1e300", "0"), NONCE),
            E::CounterOutOfRange { field: "n" },
        ),
        (
            json(CT, &header(DH, "-1", "0"), NONCE),
            E::InvalidHeader("counters must be non-negative integers"),
        ),
        (
            json(CT, &header(DH, "1.5", "0"), NONCE),
            E::InvalidHeader("counters must be non-negative integers"),
        ),
        (
            json(CT, &header(DH, "\"1\"", "0"), NONCE),
            E::InvalidHeader("counters must be non-negative integers"),
        ),
        (json(CT, &h, "YWJjZGVmZ2hpams"), E::InvalidNonce { len: 11 }),
        (
            json(CT, &h, "YWJjZGVmZ2hpamts="),
            E::InvalidBase64 { field: "nonce" },
        ),
        (
            json("YWJjZGVmZ2hpams", &h, NONCE),
            E::CiphertextTooShort { len: 11 },
        ),
        (
            json("Zm+v", &h, NONCE),
            E::InvalidBase64 {
                field: "ciphertext",
            },
        ),
        ("[1]".into(), E::Malformed("not a JSON object")),
    ];
    for (text, want) in cases {
        assert_eq!(decode(&text).unwrap_err(), want, "{text}");
    }
    assert!(matches!(decode("{"), Err(MessageError::Json(_))));
    let dup =
        format!(r#"{{"ciphertext":"{CT}","ciphertext":"{CT}","header":{h},"nonce":"{NONCE}"}}"#);
    assert!(matches!(decode(&dup), Err(MessageError::Json(_))));
    assert_eq!(
        Message::from_wire_b64u("eyJ9=").unwrap_err(),
        MessageError::InvalidBase64 { field: "wire" }
    );
    let err = decode(&json("YWJjZGVmZ2hpams", &h, NONCE)).unwrap_err();
    assert!(err.to_string().contains("truncat"));
    assert_eq!(
        MessageError::InvalidDhKey { len: 1 }.upstream_code(),
        "RATCHET_INVALID_DH_KEY"
    );
    assert_eq!(
        MessageError::InvalidHeader("x").upstream_code(),
        "RATCHET_INVALID_HEADER"
    );
}

#[test]
fn header_canonical_bytes() {
    let h =
        Header::from_json(br#"{"pn":10,"n":5,"dh":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#)
            .unwrap();
    assert_eq!(
        h.to_canonical_json(),
        br#"{"dh":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","n":5,"pn":10}"#
    );
    let max = Header {
        dh: PublicKey::from_bytes([0xff; 32]),
        n: u32::MAX,
        pn: u32::MAX,
    };
    assert_eq!(Header::from_json(&max.to_canonical_json()).unwrap(), max);
}

#[test]
fn cbor_is_strict() {
    let m = Message {
        header: Header {
            dh: PublicKey::from_bytes([3; 32]),
            n: u32::MAX,
            pn: 24,
        },
        nonce: [4; 12],
        ciphertext: vec![5; 16],
    };
    let good = m.to_cbor();
    assert_eq!(Message::from_cbor(&good).unwrap(), m);
    // Overhead: 1 + 34 + 5 + 2 + 13 + 1 = 56 bytes besides the ciphertext.
    assert_eq!(good.len(), 56 + 16);
    for cut in 0..good.len() {
        assert!(Message::from_cbor(&good[..cut]).is_err());
    }
    // A 4-element array, a map, a text dh, an indefinite-length ciphertext.
    let mut wrong = good.clone();
    wrong[0] = 0x84;
    assert!(Message::from_cbor(&wrong).is_err());
    wrong[0] = 0xa5;
    assert!(Message::from_cbor(&wrong).is_err());
    let mut text = good.clone();
    text[1] = 0x78;
    assert!(Message::from_cbor(&text).is_err());
    let mut short_ct = good.clone();
    short_ct.truncate(good.len() - 17);
    short_ct.push(0x4f);
    short_ct.extend_from_slice(&[5; 15]);
    assert_eq!(
        Message::from_cbor(&short_ct).unwrap_err(),
        MessageError::CiphertextTooShort { len: 15 }
    );
    let mut short_dh = vec![0x85, 0x58, 0x1f];
    short_dh.extend_from_slice(&[3; 31]);
    short_dh.extend_from_slice(&good[35..]);
    assert_eq!(
        Message::from_cbor(&short_dh).unwrap_err(),
        MessageError::InvalidDhKey { len: 31 }
    );
    // n beyond u32 (a valid, shortest 8-byte head).
    let mut big = good[..35].to_vec();
    big.extend_from_slice(&[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]);
    big.extend_from_slice(&good[40..]);
    assert_eq!(
        Message::from_cbor(&big).unwrap_err(),
        MessageError::CounterOutOfRange { field: "n" }
    );
    assert!(matches!(
        Message::from_cbor(&vec![0; MAX_CBOR_LEN + 1]),
        Err(MessageError::TooLarge { .. })
    ));
    let _ = base64url::encode(&good);
}
