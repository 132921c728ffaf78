#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The upstream digest vectors (`schemas/mcp/hashing_vectors.json`) and the SDK's signed
//! request (`test_vectors/sdk/mcp_sign_verify.json`), read from `../shared/vectors`.

mod common;

use common::{array, read_contract as read};
use talos_crypto::hash::to_hex;
use talos_crypto::json::{self, Value};
use talos_crypto::{SigningKey, base64url};
use talos_mcp::digest::{
    EnvelopeError, SdkSignedRequest, bytes_document_digest, json_document_digest, tool_call_digest,
};

#[test]
fn upstream_digest_vectors() {
    let doc = read("schemas/mcp/hashing_vectors.json");
    let calls = array(&doc, "tool_call_vectors");
    assert_eq!(calls.len(), 3);
    for case in calls {
        let digest = tool_call_digest(case.get("input").unwrap()).unwrap();
        assert_eq!(
            to_hex(&digest),
            case.get("digest").unwrap().as_str().unwrap()
        );
    }
    let docs = array(&doc, "document_vectors");
    assert_eq!(docs.len(), 2);
    for case in docs {
        let want = case.get("digest").unwrap().as_str().unwrap();
        let got = match case.get("doc_type").unwrap().as_str().unwrap() {
            "json" => json_document_digest(case.get("input").unwrap()),
            "bytes" => {
                let b64 = case.get("input_b64").unwrap().as_str().unwrap();
                // Standard padded base64 in the vector.
                let unpadded = b64
                    .trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_");
                bytes_document_digest(&base64url::decode(&unpadded).unwrap())
            }
            other => panic!("doc_type {other}"),
        };
        assert_eq!(to_hex(&got), want);
    }
}

#[test]
fn envelopes_outside_the_contract_are_refused() {
    let bad = |text: &[u8]| tool_call_digest(&json::parse(text).unwrap()).unwrap_err();
    assert_eq!(
        bad(br#"{"tool_server":"Sys","tool_name":"ping","capability":{"read_only":true},"args":{}}"#),
        EnvelopeError::Malformed("tool_server")
    );
    assert_eq!(
        bad(br#"{"tool_server":"sys","tool_name":"p ing","capability":{"read_only":true},"args":{}}"#),
        EnvelopeError::Malformed("tool_name")
    );
    assert_eq!(
        bad(br#"{"tool_server":"sys","tool_name":"ping","capability":{"read_only":1},"args":{}}"#),
        EnvelopeError::Malformed("capability")
    );
    assert_eq!(
        bad(br#"{"tool_server":"sys","tool_name":"ping","capability":{"read_only":true},"args":[]}"#),
        EnvelopeError::Malformed("args")
    );
    assert_eq!(
        bad(br#"{"tool_server":"sys","tool_name":"ping","capability":{"read_only":true},"args":{},"x":1}"#),
        EnvelopeError::Unknown("x".into())
    );
}

#[test]
fn upstream_sdk_signed_request() {
    let doc = read("test_vectors/sdk/mcp_sign_verify.json");
    let case = &array(&doc, "vectors")[0];
    let inputs = case.get("inputs").unwrap();
    let s = |k: &str| inputs.get(k).unwrap().as_str().unwrap();
    let seed: [u8; 32] = hex::decode(s("signer_seed_hex"))
        .unwrap()
        .try_into()
        .unwrap();
    let key = SigningKey::from_seed(&seed);
    let Some(Value::Object(request)) = inputs.get("request").cloned() else {
        panic!()
    };
    let Some(Value::Number(ts)) = inputs.get("timestamp").cloned() else {
        panic!()
    };
    let signed = SdkSignedRequest::sign(
        &key,
        request,
        s("session_id"),
        s("correlation_id"),
        s("tool"),
        s("action"),
        ts,
    );
    let expected = case.get("expected").unwrap();
    assert_eq!(
        String::from_utf8(signed.payload.clone()).unwrap(),
        expected.get("payload_canonical").unwrap().as_str().unwrap()
    );
    assert_eq!(signed.signature.to_bytes().len(), 64);
    assert!(signed.verify("corr-456", &key.verifying_key()));

    // The negative case: a response checked against another correlation id.
    let negative = &array(&doc, "negative_cases")[0];
    let ni = negative.get("inputs").unwrap();
    let expected_id = ni.get("expected_correlation_id").unwrap().as_str().unwrap();
    let actual_id = ni.get("actual_correlation_id").unwrap().as_str().unwrap();
    let mut other = signed.clone();
    other.correlation_id = actual_id.to_owned();
    assert!(!other.verify(expected_id, &key.verifying_key()));
    // The id beside the payload cannot be swapped without the one inside it.
    let mut relabelled = signed.clone();
    relabelled.correlation_id = "corr-789".into();
    assert!(!relabelled.verify("corr-789", &key.verifying_key()));
    assert!(!signed.verify("corr-456", &SigningKey::from_seed(&[9; 32]).verifying_key()));
}
