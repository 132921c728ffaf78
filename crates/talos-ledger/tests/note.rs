#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! C2SP signed notes: the Go `note` KATs byte-exact, key formats, verification rules and
//! malformed notes.

use talos_ledger::crypto::SigningKey;
use talos_ledger::note::{
    MAX_SIGNATURES, Note, NoteError, NoteSigner, NoteVerifier, is_valid_name, key_id,
};

const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> NoteVerifier {
    NoteVerifier::from_vkey(VKEY).unwrap()
}

fn enoch() -> NoteVerifier {
    NoteVerifier::from_vkey(ENOCH).unwrap()
}

#[test]
fn sign_kat_byte_exact() {
    let signer = NoteSigner::from_skey(SKEY).unwrap();
    assert_eq!(signer.key_id(), 0xc74f_20a3);
    assert_eq!(signer.verifier().to_vkey(), VKEY);
    assert_eq!(*signer.to_skey(), SKEY);
    let mut note = Note::new(TEXT).unwrap();
    note.sign(&signer).unwrap();
    assert_eq!(note.to_string(), format!("{TEXT}\n{PETER_SIG}"));
    // Signing again replaces the line.
    note.sign(&signer).unwrap();
    assert_eq!(note.signatures().len(), 1);
    // Debug hides the key.
    let dbg = format!("{signer:?}");
    assert!(dbg.contains("PeterNeumann") && !dbg.contains("AYEKF"));
}

#[test]
fn vkey_roundtrip_and_key_id() {
    let v = peter();
    assert_eq!(v.name(), "PeterNeumann");
    assert_eq!(v.key_id(), 0xc74f_20a3);
    assert_eq!(key_id(v.name(), v.key()), 0xc74f_20a3);
    assert_eq!(v.to_vkey(), VKEY);
    assert_eq!(enoch().key_id(), 0xaf0c_fe78);
    // new() from a key computes the same ID.
    let signer = NoteSigner::new("Name", SigningKey::from_seed(&[3; 32])).unwrap();
    let v = NoteVerifier::from_vkey(&signer.verifier().to_vkey()).unwrap();
    assert_eq!(v, signer.verifier());
    let s2 = NoteSigner::from_skey(&signer.to_skey()).unwrap();
    assert_eq!(s2.verifier(), signer.verifier());
}

#[test]
fn mangled_keys_rejected() {
    let b = VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            if let Ok(s) = core::str::from_utf8(&b[i..j]) {
                assert!(NoteVerifier::from_vkey(s).is_err(), "{s}");
            }
        }
    }
    let mut m = b.to_vec();
    for i in 0..m.len() {
        m[i] += 1;
        if let Ok(s) = core::str::from_utf8(&m) {
            assert!(NoteVerifier::from_vkey(s).is_err(), "{s}");
        }
        m[i] -= 1;
    }
    let b = SKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            assert!(NoteSigner::from_skey(core::str::from_utf8(&b[i..j]).unwrap()).is_err());
        }
    }
    let mut m = b.to_vec();
    for i in 0..m.len() {
        m[i] += 1;
        assert!(NoteSigner::from_skey(core::str::from_utf8(&m).unwrap()).is_err());
        m[i] -= 1;
    }
    // Wrong length key and unknown algorithm, with adjusted key hashes.
    assert!(
        NoteVerifier::from_vkey(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err()
    );
    assert!(
        NoteVerifier::from_vkey(
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err()
    );
    assert!(matches!(
        NoteVerifier::from_vkey(
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        ),
        Err(NoteError::KeyIdMismatch { .. })
    ));
}

#[test]
fn open_one_known_one_unknown() {
    let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let note = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(note.text(), TEXT);
    assert_eq!(note.signatures().len(), 2);
    assert_eq!(note.to_string(), msg);
    let keys = [peter()];
    let by = note.verify(&keys).unwrap();
    assert_eq!(by.len(), 1);
    assert_eq!(by[0].name(), "PeterNeumann");
    let keys = [peter(), enoch()];
    let by = note.verify(&keys).unwrap();
    assert_eq!(
        by.iter().map(|v| v.name()).collect::<Vec<_>>(),
        ["PeterNeumann", "EnochRoot"]
    );
    assert!(note.is_signed_by(&enoch()));
    assert_eq!(note.verify(&[]), Err(NoteError::NoKnownSignature));
    let only_enoch = Note::parse(format!("{TEXT}\n{ENOCH_SIG}").as_bytes()).unwrap();
    assert_eq!(
        only_enoch.verify(&[peter()]),
        Err(NoteError::NoKnownSignature)
    );
}

#[test]
fn invalid_known_signature_rejects() {
    let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let note = Note::parse(bad.as_bytes()).unwrap();
    assert!(matches!(
        note.verify(&[peter()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    // A valid known one does not save a failing known one.
    let mixed = format!(
        "{TEXT}\n{PETER_SIG}{}ABCD{}",
        &ENOCH_SIG[..60],
        &ENOCH_SIG[60..]
    );
    let note = Note::parse(mixed.as_bytes()).unwrap();
    assert!(note.verify(&[peter()]).is_ok()); // the bad one is unknown here
    assert!(matches!(
        note.verify(&[peter(), enoch()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    // The signature over another text fails.
    let other = format!("{}x\n\n{PETER_SIG}", &TEXT[..TEXT.len() - 1]);
    let note = Note::parse(other.as_bytes()).unwrap();
    assert!(matches!(
        note.verify(&[peter()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn malformed_notes() {
    let bad: Vec<Vec<u8>> = vec![
        TEXT.into(),
        format!("{TEXT}\n").into(),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]).into(),
        format!("\x01{TEXT}\n{PETER_SIG}").into(),
        [b"\xff".as_slice(), format!("{TEXT}\n{PETER_SIG}").as_bytes()].concat(),
        format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=").into(),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n").into(),
        format!("{TEXT}\n{PETER_SIG}").replace("x08go", "x08g!").into(),
        format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n").into(),
        format!("{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").into(),
        format!("{TEXT}\n\u{2014} a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").into(),
        format!("tab\there\n\n{PETER_SIG}").into(),
        format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1)).into(),
        vec![b'a'; talos_ledger::note::MAX_NOTE_SIZE + 1],
    ];
    for (i, msg) in bad.iter().enumerate() {
        assert!(Note::parse(msg).is_err(), "bad note {i} accepted");
    }
    // 16 signatures (C2SP minimum) are accepted.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(16));
    let note = Note::parse(many.as_bytes()).unwrap();
    assert_eq!(note.verify(&[peter()]).unwrap().len(), 1);
    // Text rules when building.
    assert!(Note::new("abc").is_err());
    assert!(Note::new("a\rb\n").is_err());
    assert!(Note::new("ok\n").is_ok());
    assert!(!is_valid_name("") && !is_valid_name("a b") && !is_valid_name("a+b"));
    assert!(NoteSigner::new("bad name", SigningKey::from_seed(&[1; 32])).is_err());
}

#[test]
fn text_with_blank_lines_splits_at_last() {
    let signer = NoteSigner::from_skey(SKEY).unwrap();
    let mut note = Note::new("a\n\nb\n").unwrap();
    note.sign(&signer).unwrap();
    let parsed = Note::parse(&note.to_bytes()).unwrap();
    assert_eq!(parsed.text(), "a\n\nb\n");
    parsed.verify(&[peter()]).unwrap();
}
