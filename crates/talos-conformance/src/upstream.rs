//! Runs a directory laid out like upstream `talos-contracts/test_vectors/`, and the vector
//! files of its sibling `schemas/` folder.

use std::path::Path;

use crate::report::{Outcome, Report};
use crate::util;

mod acl;
mod crypto;
mod ledger;
mod mcp;
mod ratchet;
mod rbac;
mod wire;

/// Upstream cases and fields we do not check, and why (see REFERENCE.md §11).
pub const SKIPPED: &[(&str, &str)] = &[
    (
        "sdk/canonical_json.json#key_ordering.hash_sha256_hex",
        "the expected hash is a placeholder; the SHA-256 of the canonical string is ebba85cf…5370",
    ),
    (
        "sdk/ratchet/wire_message_canonical.json#wire_message_nested_permutation.expected_wire_message_b64u",
        "the expected wire string encodes a dh truncated to 39 characters; the canonical JSON is still checked",
    ),
    (
        "audit_event_vectors.json#failure_meta_filtered.meta_redaction",
        "the vector drops secret_key without the normative redaction markers (REFERENCE.md §6.4); its hash is still checked",
    ),
];

/// Files we have no handler for yet, by path prefix, and why.
pub const NOT_YET: &[(&str, &str)] = &[(
    "crypto/http_attestation_v1.json",
    "HTTP attestation v1 is optional (REFERENCE.md §1.5) and not implemented",
)];

type Handler = fn(&talos_crypto::json::Value) -> Outcome;

/// Handlers by path relative to the vector root.
const HANDLERS: &[(&str, Handler)] = &[
    ("audit_event_vectors.json", ledger::audit_event_vectors),
    ("tga/golden_trace_chain.json", ledger::golden_trace_chain),
    (
        "tga/state_transition_vectors.json",
        ledger::state_transition_vectors,
    ),
    ("base64url.json", crypto::base64url),
    ("sdk/canonical_json.json", crypto::canonical_json),
    ("crypto/canonical_hash.json", crypto::canonical_hash),
    ("sdk/signing_verify.json", crypto::signing_verify),
    ("crypto/ed25519_signatures.json", crypto::ed25519_signatures),
    ("sdk/frame_codec.json", wire::frame_codec),
    ("uuidv7.json", wire::uuidv7),
    ("cursor_derivation.json", wire::cursor_derivation),
    ("ordering.json", wire::ordering),
    ("crypto/replay_nonce.json", wire::replay_nonce),
    ("sdk/ratchet/kdf_rk_step.json", ratchet::kdf_rk_step),
    ("sdk/ratchet/kdf_ck_step.json", ratchet::kdf_ck_step),
    (
        "sdk/ratchet/header_canonical_bytes.json",
        ratchet::header_canonical_bytes,
    ),
    (
        "sdk/ratchet/wire_message_canonical.json",
        ratchet::wire_message_canonical,
    ),
    (
        "sdk/ratchet/v1_1_0_roundtrip.json",
        ratchet::v1_1_0_roundtrip,
    ),
    ("sdk/ratchet/roundtrip_basic.json", ratchet::legacy_trace),
    ("sdk/ratchet/out_of_order.json", ratchet::legacy_trace),
    ("sdk/ratchet/max_skip.json", ratchet::legacy_trace),
    ("sdk/mcp_sign_verify.json", mcp::mcp_sign_verify),
    ("sdk/capability_verify.json", acl::capability_verify),
    ("rbac/scope_match_vectors.json", rbac::scope_match),
    ("rbac/deny_by_default.json", rbac::deny_by_default),
];

/// Vector files in the `schemas/` folder beside `test_vectors/`, by path relative to their
/// common parent; they are reported as `../<path>`.
const SCHEMA_HANDLERS: &[(&str, Handler)] =
    &[("schemas/mcp/hashing_vectors.json", mcp::hashing_vectors)];

/// Runs every `.json` file under `dir`, then, if `dir` is named `test_vectors`, the vector
/// files we know in its sibling `schemas/` folder (`schemas/mcp/hashing_vectors.json`,
/// reported as `../schemas/mcp/hashing_vectors.json`).
///
/// # Errors
/// If `dir` cannot be listed.
pub fn run(dir: &Path) -> std::io::Result<Report> {
    let mut report = Report::default();
    for (rel, path) in util::json_files(dir)? {
        let outcome = if let Some((_, handler)) = HANDLERS.iter().find(|(p, _)| *p == rel) {
            match util::read_json(&path) {
                Ok(doc) => handler(&doc),
                Err(e) => Outcome::Fail { failures: vec![e] },
            }
        } else {
            let reason = NOT_YET
                .iter()
                .find(|(prefix, _)| rel.starts_with(prefix))
                .map_or("no handler for this file", |(_, reason)| reason);
            Outcome::Skip {
                reason: reason.to_owned(),
            }
        };
        report.push(rel, outcome);
    }
    if let Some(parent) = dir
        .parent()
        .filter(|_| dir.file_name().is_some_and(|n| n == "test_vectors"))
    {
        for (rel, handler) in SCHEMA_HANDLERS {
            let path = parent.join(rel);
            if path.is_file() {
                let outcome = match util::read_json(&path) {
                    Ok(doc) => handler(&doc),
                    Err(e) => Outcome::Fail { failures: vec![e] },
                };
                report.push(format!("../{rel}"), outcome);
            }
        }
    }
    Ok(report)
}

/// The reason recorded in [`SKIPPED`] for `key`.
fn skipped(key: &str) -> Option<&'static str> {
    SKIPPED
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, reason)| *reason)
}
