//! `talos-conformance did-key` and `did-doc`: the DID of a seed, and the canonical document of
//! a DID, agree with the W3C vectors and the library; bad input is one line on stderr, exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_talos-conformance"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn refused(args: &[&str], needle: &str) {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "{args:?}");
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

const SEED_1: &str = "0000000000000000000000000000000000000000000000000000000000000001";
const DID_1: &str = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";

#[test]
fn did_key_of_a_seed() {
    assert_eq!(
        run(&["did-key", SEED_1]),
        (0, format!("{DID_1}\n"), String::new())
    );
    // The W3C CCG vector for seed 00…05.
    let (code, out, _) = run(&["did-key", &format!("{}05", "00".repeat(31))]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "did:key:z6MkwYMhwTvsq376YBAcJHy3vyRWzBgn5vKfVqqDCgm7XVKU\n"
    );
    refused(&["did-key", "00"], "seed");
    refused(&["did-key", &"00".repeat(33)], "seed");
    refused(&["did-key", "xyz"], "hex");
}

#[test]
fn did_doc_of_a_did() {
    let (code, out, err) = run(&["did-doc", DID_1]);
    assert_eq!((code, err.as_str()), (0, ""));
    let json = out.strip_suffix('\n').unwrap();
    let did: talos_did::Did = DID_1.parse().unwrap();
    let doc = talos_did::Document::resolve(&did);
    assert_eq!(json.as_bytes(), doc.to_json());
    assert_eq!(
        talos_crypto::json::canonicalize(json.as_bytes()).unwrap(),
        json.as_bytes()
    );

    let (code, out, _) = run(&["did-doc", DID_1, "--style", "Ed25519VerificationKey2018"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"publicKeyBase58\":\"6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt\""));

    let peer = DID_1.replace("did:key:", "did:peer:0");
    let (code, out, _) = run(&["did-doc", &peer]);
    assert_eq!(code, 0);
    assert!(out.starts_with("{\"@context\""));

    refused(
        &["did-doc", "did:web:example.com"],
        "unsupported DID method",
    );
    refused(&["did-doc", "did:peer:4zQm"], "numalgo");
    refused(&["did-doc", "did:key:z6Mk"], "");
    refused(&["did-doc", DID_1, "--style", "Fancy"], "unknown style");
}
