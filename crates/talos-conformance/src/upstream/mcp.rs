//! Upstream MCP vectors: the SDK's signed request (`sdk/mcp_sign_verify.json`).

use talos_crypto::SigningKey;
use talos_crypto::json::Value;
use talos_mcp::digest::SdkSignedRequest;

use crate::report::{Cases, Outcome};
use crate::util::{field, hex_array, same, str_field};

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
