#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Signed MCP frames: the upstream TypeScript SDK's MCP_MESSAGE vector byte for byte, round
//! trips, strict parsing and tampering.

use talos_crypto::SigningKey;
use talos_crypto::json::{self, Map, Value};
use talos_mcp::frame::{FrameError, McpMessage, McpResponse, ResultCode, Signed, payload_hash};

/// The TS SDK's capability vector (`positive/capability.json`, REFERENCE.md §5.1).
const CAPABILITY: &[u8] = br#"{"constraints":{"method":"get","tool":"weather"},"exp":1700003600,"iat":1700000000,"iss":"did:talos:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29","scope":"tools/call","sig":"8rtCwK-LicFDp0CwwZKqfP8EXRetBoJah7nuL8kvT18M6AZruC_snB_SnQwrVziSgPXPVyJQx4pDd4CzhD0JCg","sub":"did:talos:recipient","v":"1"}"#;
const CAPABILITY_HASH: &str = "836d468b513bff38de7037ca9ba731a20580a6fa74e9a8485f13e295005a9e36";
const REQUEST: &[u8] = br#"{"id":"req-123","jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"city":"Paris"},"name":"weather"}}"#;

fn ts_message() -> McpMessage {
    let Value::Object(capability) = json::parse(CAPABILITY).unwrap() else {
        panic!()
    };
    McpMessage {
        session_id: "sess-uuid-42".into(),
        correlation_id: "corr-uuid-99".into(),
        peer_id: "did:talos:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
            .into(),
        issued_at: 1_700_000_100,
        request_hash: payload_hash(&json::parse(REQUEST).unwrap()),
        tool: "tools/call".into(),
        method: "weather/get".into(),
        capability_hash: hex::decode(CAPABILITY_HASH).unwrap().try_into().unwrap(),
        capability: Some(capability),
    }
}

#[test]
fn reproduces_the_ts_sdk_mcp_message() {
    let key = SigningKey::from_seed(&[0; 32]);
    let message = ts_message();
    assert_eq!(
        hex::encode(message.request_hash),
        "488e1cd5a7c4f781822e8d63c318ec4063c62c9977cd60f438ed8ecfc69e632d"
    );
    let signed = Signed::sign(message.clone(), &key).unwrap();
    let Value::Object(wire) = json::parse(&signed.to_json()).unwrap() else {
        panic!()
    };
    assert_eq!(
        wire.get("sig").and_then(Value::as_str),
        Some(
            "_bkDMvD77xlbvZe67oBQHwcRD_JiEqXwM33uB8pP4j6s4OAy8CpCQg9zkqSrWrDsAPSBaZMepdMldqAiAB-RDg"
        )
    );
    let parsed = Signed::<McpMessage>::from_json(&signed.to_json()).unwrap();
    parsed.verify(&key.verifying_key()).unwrap();
    assert_eq!(parsed.frame(), &message);
    assert_eq!(parsed.to_json(), signed.to_json());
}

fn tampered(json: &[u8], f: impl FnOnce(&mut Map)) -> Vec<u8> {
    let Value::Object(mut map) = json::parse(json).unwrap() else {
        panic!()
    };
    f(&mut map);
    Value::Object(map).to_canonical_vec()
}

#[test]
fn refuses_tampered_and_malformed_frames() {
    let key = SigningKey::from_seed(&[0; 32]);
    let good = Signed::sign(ts_message(), &key).unwrap().to_json();
    let verify = |bytes: &[u8]| {
        Signed::<McpMessage>::from_json(bytes).and_then(|f| f.verify(&key.verifying_key()))
    };
    assert_eq!(verify(&good), Ok(()));
    // A changed member: the signature no longer verifies.
    let other = tampered(&good, |m| {
        m.insert("tool".into(), Value::from("tools/list"));
    });
    assert_eq!(verify(&other), Err(FrameError::SignatureInvalid));
    // Missing binding, unknown member, wrong type, bad hash, bad version, wrong frame type.
    let missing = tampered(&good, |m| {
        m.remove("request_hash");
    });
    assert_eq!(verify(&missing), Err(FrameError::Missing("request_hash")));
    let unknown = tampered(&good, |m| {
        m.insert("extra".into(), Value::Bool(true));
    });
    assert!(matches!(verify(&unknown), Err(FrameError::Unknown(k)) if k == "extra"));
    let upper = tampered(&good, |m| {
        m.insert(
            "capability_hash".into(),
            Value::from(CAPABILITY_HASH.to_uppercase()),
        );
    });
    assert_eq!(
        verify(&upper),
        Err(FrameError::Malformed("capability_hash"))
    );
    let version = tampered(&good, |m| {
        m.insert("protocol_version".into(), Value::from("2"));
    });
    assert_eq!(verify(&version), Err(FrameError::WrongType("MCP_MESSAGE")));
    assert!(matches!(
        Signed::<McpResponse>::from_json(&good),
        Err(FrameError::WrongType(_))
    ));
    let unsigned = tampered(&good, |m| {
        m.remove("sig");
    });
    assert_eq!(verify(&unsigned), Err(FrameError::Missing("sig")));
    // Duplicate keys and oversize input.
    let dup = [&good[..good.len() - 1], br#","tool":"x"}"#].concat();
    assert!(matches!(verify(&dup), Err(FrameError::Json(_))));
    assert!(matches!(
        verify(&vec![b' '; 70_000]),
        Err(FrameError::TooLarge(_))
    ));
    // Another signer.
    let other_key = SigningKey::from_seed(&[1; 32]);
    assert_eq!(
        Signed::<McpMessage>::from_json(&good)
            .unwrap()
            .verify(&other_key.verifying_key()),
        Err(FrameError::SignatureInvalid)
    );
}

#[test]
fn responses_round_trip() {
    let key = SigningKey::from_seed(&[2; 32]);
    let response =
        json::parse(br#"{"id":"req-123","jsonrpc":"2.0","result":{"content":[]}}"#).unwrap();
    let frame = McpResponse {
        session_id: "sess-uuid-42".into(),
        correlation_id: "corr-uuid-99".into(),
        peer_id: "did:talos:server".into(),
        issued_at: 1_700_000_101,
        response_hash: payload_hash(&response),
        tool: "tools/call".into(),
        method: "weather/get".into(),
        result_code: ResultCode::Deny,
        denial_reason: Some("SCOPE_MISMATCH".into()),
        mcp_id: Some(Value::from("req-123")),
    };
    let signed = Signed::sign(frame.clone(), &key).unwrap();
    let parsed = Signed::<McpResponse>::from_json(&signed.to_json()).unwrap();
    parsed.verify(&key.verifying_key()).unwrap();
    assert_eq!(parsed.frame(), &frame);
    let bad_code = tampered(&signed.to_json(), |m| {
        m.insert("result_code".into(), Value::from("MAYBE"));
    });
    assert_eq!(
        Signed::<McpResponse>::from_json(&bad_code).err(),
        Some(FrameError::Malformed("result_code"))
    );
    // An id that is neither a string nor a number.
    let bad_id = tampered(&signed.to_json(), |m| {
        m.insert("mcp_id".into(), Value::Bool(true));
    });
    assert_eq!(
        Signed::<McpResponse>::from_json(&bad_id).err(),
        Some(FrameError::Malformed("mcp_id"))
    );
}
