//! The committed golden vectors pass, and generating them again reproduces them byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

use talos_conformance::golden;
use talos_conformance::report::Outcome;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors")
}

#[test]
fn committed_vectors_pass() {
    let report = golden::run(&vectors_dir()).unwrap();
    println!("{report}");
    assert!(!report.failed());
    let (passed, _, skipped) = report.counts();
    assert_eq!(skipped, 0);
    assert_eq!(passed, golden::FAMILIES.len());
}

#[test]
fn generation_is_deterministic_and_matches_the_committed_files() {
    let out = std::env::temp_dir().join(format!("talos-golden-{}", std::process::id()));
    let written = golden::generate(&out).unwrap();
    assert_eq!(written.len(), golden::FAMILIES.len());
    for family in golden::FAMILIES {
        let fresh = std::fs::read(out.join(family.file)).unwrap();
        let committed = std::fs::read(vectors_dir().join(family.file)).unwrap();
        assert!(
            fresh == committed,
            "{} differs: run `talos-conformance generate`",
            family.file
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn an_altered_expected_value_fails() {
    let family = &golden::FAMILIES[0];
    let text = std::fs::read_to_string(vectors_dir().join(family.file)).unwrap();
    let mut doc = talos_crypto::json::parse(text.as_bytes()).unwrap();
    // Change the first case's expected hash.
    let talos_crypto::json::Value::Object(root) = &mut doc else {
        panic!()
    };
    let Some(talos_crypto::json::Value::Array(cases)) = root.get_mut("cases") else {
        panic!()
    };
    let talos_crypto::json::Value::Object(case) = &mut cases[0] else {
        panic!()
    };
    case.insert(
        "expected".into(),
        talos_crypto::json::parse(br#"{"sha256_hex":"00"}"#).unwrap(),
    );
    assert!(matches!(family.check(&doc), Outcome::Fail { .. }));
}
