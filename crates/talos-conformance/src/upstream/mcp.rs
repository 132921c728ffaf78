//! Upstream MCP vectors: the SDK's signed request (`sdk/mcp_sign_verify.json`), and the
//! tool-call envelope, document digests and write-content policy cases
//! (`schemas/mcp/hashing_vectors.json`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use talos_crypto::SigningKey;
use talos_crypto::hash::to_hex;
use talos_crypto::json::Value;
use talos_mcp::digest::{
    SdkSignedRequest, bytes_document_digest, json_document_digest, tool_call_digest,
};
use talos_mcp::document::WritePolicy;

use crate::report::{Cases, Outcome};
use crate::util::{field, hex_array, same, str_field};

/// `schemas/mcp/hashing_vectors.json`: each tool-call envelope's digest, each document's digest
/// (`json`: canonical JSON; `bytes`: the std-base64-decoded bytes), and each negative
/// write-content case refused with its `DOC_*` code.
pub(super) fn hashing_vectors(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "tool_call_vectors", "description", |vector| {
        let digest = tool_call_digest(field(vector, "input")?).map_err(|e| e.to_string())?;
        same(
            "digest",
            str_field(vector, "digest")?,
            to_hex(&digest).as_str(),
        )
    });
    cases.each(doc, "document_vectors", "description", |vector| {
        let digest = match str_field(vector, "doc_type")? {
            "json" => json_document_digest(field(vector, "input")?),
            "bytes" => bytes_document_digest(
                &STANDARD
                    .decode(str_field(vector, "input_b64")?)
                    .map_err(|e| format!("input_b64: {e}"))?,
            ),
            other => return Err(format!("unknown doc_type {other:?}")),
        };
        same(
            "digest",
            str_field(vector, "digest")?,
            to_hex(&digest).as_str(),
        )
    });
    cases.each(
        doc,
        "negative_validation_vectors",
        "description",
        |vector| {
            let policy =
                WritePolicy::from_json(field(vector, "doc_spec")?, vector.get("expected_hashes"))
                    .map_err(|e| format!("policy: {e}"))?;
            match policy.validate(field(vector, "args")?) {
                Ok(_) => Err("write content accepted".into()),
                Err(e) => same("error code", str_field(vector, "error_code")?, e.code()),
            }
        },
    );
    cases.finish()
}

/// `sdk/mcp_sign_verify.json`: the canonical payload byte for byte, a 64-byte signature that
/// verifies, and `verify` false against another correlation id.
pub(super) fn mcp_sign_verify(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let mut signed: Option<(SdkSignedRequest, SigningKey)> = None;
    cases.each(doc, "vectors", "test_id", |vector| {
        let inputs = field(vector, "inputs")?;
        let key = SigningKey::from_seed(&hex_array::<32>(inputs, "signer_seed_hex")?);
        let Value::Object(request) = field(inputs, "request")?.clone() else {
            return Err("\"request\" is not an object".into());
        };
        let Value::Number(timestamp) = field(inputs, "timestamp")? else {
            return Err("\"timestamp\" is not a number".into());
        };
        let request = SdkSignedRequest::sign(
            &key,
            request,
            str_field(inputs, "session_id")?,
            str_field(inputs, "correlation_id")?,
            str_field(inputs, "tool")?,
            str_field(inputs, "action")?,
            *timestamp,
        );
        let expected = field(vector, "expected")?;
        same(
            "payload_canonical",
            str_field(expected, "payload_canonical")?,
            core::str::from_utf8(&request.payload).map_err(|e| e.to_string())?,
        )?;
        same("signature length", 64, request.signature.to_bytes().len())?;
        same(
            "verify",
            true,
            request.verify(str_field(inputs, "correlation_id")?, &key.verifying_key()),
        )?;
        signed = Some((request, key));
        Ok(())
    });
    cases.each(doc, "negative_cases", "test_id", |vector| {
        let inputs = field(vector, "inputs")?;
        let (request, key) = signed.as_ref().ok_or("no signed request to check")?;
        let mut relabelled = request.clone();
        relabelled.correlation_id = str_field(inputs, "actual_correlation_id")?.to_owned();
        let expected = matches!(
            field(field(vector, "expected")?, "verify")?,
            Value::Bool(true)
        );
        same(
            "verify",
            expected,
            relabelled.verify(
                str_field(inputs, "expected_correlation_id")?,
                &key.verifying_key(),
            ),
        )
    });
    cases.finish()
}
