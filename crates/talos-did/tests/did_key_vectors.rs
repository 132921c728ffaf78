//! The W3C CCG did:key vectors (`w3c-ccg/did-method-key` `test-vectors/ed25519-x25519.json`,
//! vendored under `shared/vectors/did-key/`): for every entry, the DID from the seed, the
//! derived X25519 key-agreement key pair, and the whole `didDocument`, byte for byte as
//! canonical JSON.
//!
//! The file is read from `$TALOS_SHARED_VECTORS/did-key/` if that variable is set, else from
//! `../../../shared/vectors/did-key/` relative to this crate. A missing file fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::PathBuf;

use talos_crypto::json::{self, Value};
use talos_crypto::{SigningKey, base64url};
use talos_did::{Did, DidKey, Document, Style};

fn vector_file() -> PathBuf {
    let dir = std::env::var_os("TALOS_SHARED_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    dir.join("did-key/ed25519-x25519.json")
}

fn load() -> Vec<(String, Value)> {
    let path = vector_file();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the did:key vectors at {} ({e}); set TALOS_SHARED_VECTORS to the shared/vectors directory",
            path.display()
        )
    });
    let Value::Object(map) = json::parse(&bytes).unwrap() else {
        panic!("{}: not a JSON object", path.display())
    };
    map.into_iter().collect()
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut v = value;
    for key in path {
        v = v.get(key).unwrap_or_else(|| panic!("missing {path:?}"));
    }
    v.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

#[test]
fn every_w3c_vector_matches() {
    let entries = load();
    assert_eq!(entries.len(), 5, "the vendored file has five entries");
    for (did_text, entry) in &entries {
        let seed: [u8; 32] = hex::decode(str_at(entry, &["seed"]))
            .unwrap()
            .try_into()
            .unwrap();
        let signing = SigningKey::from_seed(&seed);
        let public = signing.verifying_key();

        // The DID.
        let did = Did::from(public);
        assert_eq!(&did.to_string(), did_text, "seed {}", hex::encode(seed));
        assert_eq!(did_text.parse::<Did>().unwrap(), did);

        // The key-agreement key pair, derived from the Ed25519 key.
        let x_public = public.to_x25519();
        assert_eq!(signing.to_x25519().public_key(), x_public);
        let x_secret = signing.to_x25519().to_bytes();
        let agreement = &entry.get("keyAgreementKeyPair").unwrap();
        let x_multibase = DidKey::X25519(x_public).multibase();
        assert!(
            str_at(agreement, &["id"]).ends_with(&format!("#{x_multibase}")),
            "{did_text}: key agreement id"
        );
        let style = match str_at(entry, &["verificationKeyPair", "type"]) {
            "Ed25519VerificationKey2018" => {
                assert_eq!(
                    str_at(agreement, &["publicKeyBase58"]),
                    bs58::encode(x_public.as_bytes()).into_string()
                );
                assert_eq!(
                    str_at(agreement, &["privateKeyBase58"]),
                    bs58::encode(&x_secret[..]).into_string()
                );
                Style::Ed25519VerificationKey2018
            }
            "JsonWebKey2020" => {
                assert_eq!(
                    str_at(agreement, &["publicKeyJwk", "x"]),
                    base64url::encode(x_public.as_bytes())
                );
                assert_eq!(
                    str_at(agreement, &["privateKeyJwk", "d"]),
                    base64url::encode(&x_secret[..])
                );
                assert_eq!(
                    str_at(entry, &["verificationKeyPair", "privateKeyJwk", "d"]),
                    base64url::encode(&seed)
                );
                Style::JsonWebKey2020
            }
            other => panic!("{did_text}: unexpected key type {other}"),
        };

        // The whole document, byte for byte.
        let want = entry.get("didDocument").unwrap().to_canonical_vec();
        let doc = Document::resolve_with(&did, style);
        assert_eq!(
            String::from_utf8(doc.to_json()).unwrap(),
            String::from_utf8(want.clone()).unwrap(),
            "{did_text}"
        );
        // And the vector's document parses to the same document, in both forms.
        let parsed = Document::from_json(&want).unwrap();
        assert_eq!(parsed, doc);
        assert_eq!(Document::from_cbor(&doc.to_cbor()).unwrap(), doc);
        parsed.check_did(&did).unwrap();
        assert_eq!(parsed.signing_key(), Some(public));
        assert_eq!(parsed.key_agreement_key(), Some(x_public));
    }
}
