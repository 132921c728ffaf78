//! The upstream talos-contracts vectors for talos-crypto pass; everything else is skipped
//! with a reason, never silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::PathBuf;

use talos_conformance::report::Outcome;
use talos_conformance::upstream;

/// `TALOS_SHARED_VECTORS`, or `../shared/vectors` beside the project root.
fn shared_vectors() -> PathBuf {
    let dir = std::env::var_os("TALOS_SHARED_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    assert!(
        dir.join("talos-contracts/test_vectors").is_dir(),
        "upstream vectors not found at {}; set TALOS_SHARED_VECTORS to the shared vectors directory",
        dir.display()
    );
    dir
}

const IMPLEMENTED: &[&str] = &[
    // talos-crypto
    "base64url.json",
    "sdk/canonical_json.json",
    "crypto/canonical_hash.json",
    "sdk/signing_verify.json",
    "crypto/ed25519_signatures.json",
    // talos-wire
    "sdk/frame_codec.json",
    "uuidv7.json",
    "cursor_derivation.json",
    "ordering.json",
    "crypto/replay_nonce.json",
    // talos-ratchet
    "sdk/ratchet/kdf_rk_step.json",
    "sdk/ratchet/kdf_ck_step.json",
    "sdk/ratchet/header_canonical_bytes.json",
    "sdk/ratchet/wire_message_canonical.json",
    "sdk/ratchet/v1_1_0_roundtrip.json",
    "sdk/ratchet/out_of_order.json",
    "sdk/ratchet/max_skip.json",
    "sdk/ratchet/roundtrip_basic.json",
    // talos-acl
    "sdk/capability_verify.json",
    "rbac/scope_match_vectors.json",
    "rbac/deny_by_default.json",
    // talos-mcp
    "sdk/mcp_sign_verify.json",
    "../schemas/mcp/hashing_vectors.json",
    // talos-ledger
    "audit_event_vectors.json",
    "tga/golden_trace_chain.json",
    "tga/state_transition_vectors.json",
];

#[test]
fn upstream_vectors_of_implemented_crates_pass() {
    let report = upstream::run(&shared_vectors().join("talos-contracts/test_vectors")).unwrap();
    println!("{report}");
    assert!(!report.failed());
    for file in IMPLEMENTED {
        assert!(
            matches!(report.outcome(file), Some(Outcome::Pass { .. })),
            "{file}: {:?}",
            report.outcome(file)
        );
    }
    for result in &report.files {
        if let Outcome::Skip { reason } = &result.outcome {
            assert!(
                !reason.contains("no handler"),
                "{} skipped without a known reason",
                result.path
            );
        }
    }
}

/// A copy of an upstream file with one expected value changed must fail.
#[test]
fn a_corrupted_upstream_file_fails() {
    let source = shared_vectors().join("talos-contracts/test_vectors/sdk/signing_verify.json");
    let text = std::fs::read_to_string(source).unwrap();
    let corrupted = text.replacen("4cb5abf6", "4cb5abf7", 1);
    assert_ne!(text, corrupted);
    let dir = std::env::temp_dir().join(format!("talos-upstream-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sdk")).unwrap();
    std::fs::write(dir.join("sdk/signing_verify.json"), corrupted).unwrap();
    let report = upstream::run(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        report.outcome("sdk/signing_verify.json"),
        Some(Outcome::Fail { .. })
    ));
}

/// The `schemas/` sibling of `test_vectors/` is run too: a copy of the MCP hashing vectors
/// with one negative case expecting another code must fail.
#[test]
fn a_corrupted_schema_vector_file_fails() {
    let source = shared_vectors().join("talos-contracts/schemas/mcp/hashing_vectors.json");
    let text = std::fs::read_to_string(source).unwrap();
    let corrupted = text.replacen("\"DOC_SIZE_EXCEEDED\"", "\"DOC_HASH_MISMATCH\"", 1);
    assert_ne!(text, corrupted);
    let root = std::env::temp_dir().join(format!("talos-upstream-schemas-{}", std::process::id()));
    std::fs::create_dir_all(root.join("test_vectors")).unwrap();
    std::fs::create_dir_all(root.join("schemas/mcp")).unwrap();
    std::fs::write(root.join("schemas/mcp/hashing_vectors.json"), &text).unwrap();
    let report = upstream::run(&root.join("test_vectors")).unwrap();
    assert!(matches!(
        report.outcome("../schemas/mcp/hashing_vectors.json"),
        Some(Outcome::Pass { cases: 9, .. })
    ));
    std::fs::write(root.join("schemas/mcp/hashing_vectors.json"), corrupted).unwrap();
    let report = upstream::run(&root.join("test_vectors")).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(matches!(
        report.outcome("../schemas/mcp/hashing_vectors.json"),
        Some(Outcome::Fail { .. })
    ));
}
