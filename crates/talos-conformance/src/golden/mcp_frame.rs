//! `mcp/frame.json`: signed `MCP_MESSAGE` / `MCP_RESPONSE` frames binding a JSON-RPC message.

use talos_crypto::SigningKey;
use talos_crypto::json::{self, Value};
use talos_mcp::frame::{FrameError, McpMessage, McpResponse, ResultCode, Signed, payload_hash};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte};
use crate::util::{field, hex_array, hex_field, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "mcp/frame.json",
    contract: "mcp/frame.schema.json",
    description: "MCP tunnel frames (talos-v1.1). inputs.kind is MCP_MESSAGE or MCP_RESPONSE; \
                  inputs.message is the JSON-RPC message the frame binds: request_hash (or \
                  response_hash) = lowercase hex SHA-256 of its RFC 8785 canonical JSON \
                  (expected.payload_hash). The frame has inputs.fields plus type, \
                  protocol_version \"1\" and the hash, and is signed with the Ed25519 key of \
                  inputs.seed_hex: sig = unpadded base64url Ed25519 over the canonical JSON of \
                  every member but sig. expected.json is the frame's canonical JSON, sig \
                  included. Negative cases apply inputs.tamper (set: replace or, with null, \
                  remove members; flip_byte: flip the lowest bit of byte index of the base64url \
                  member field; message: a replacement JSON-RPC message) to the signed frame; a \
                  receiver parses the frame strictly, verifies sig with the signer's key, and \
                  checks the hash against the message it received.",
    producer: mcp_producer,
    specs,
    derive,
};

fn mcp_producer() -> String {
    format!("talos-mcp {}", talos_mcp::VERSION)
}

const SEED: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The upstream TypeScript SDK's vectors: their peer, capability and its hash.
const PEER: &str = "did:talos:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
const TS_CAPABILITY: &str = r#"{"constraints":{"method":"get","tool":"weather"},"exp":1700003600,"iat":1700000000,"iss":"did:talos:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29","scope":"tools/call","sig":"8rtCwK-LicFDp0CwwZKqfP8EXRetBoJah7nuL8kvT18M6AZruC_snB_SnQwrVziSgPXPVyJQx4pDd4CzhD0JCg","sub":"did:talos:recipient","v":"1"}"#;
const TS_CAPABILITY_HASH: &str = "836d468b513bff38de7037ca9ba731a20580a6fa74e9a8485f13e295005a9e36";

fn parse(text: &str) -> Value {
    json::parse(text.as_bytes()).unwrap_or(Value::Null)
}

fn request() -> Value {
    parse(
        r#"{"id":"req-123","jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"city":"Paris"},"name":"weather"}}"#,
    )
}

fn message_fields(extra: &[(&str, Value)]) -> Value {
    let mut fields = object([
        ("session_id", s("sess-uuid-42")),
        ("correlation_id", s("corr-uuid-99")),
        ("peer_id", s(PEER)),
        ("issued_at", n(1_700_000_100)),
        ("tool", s("tools/call")),
        ("method", s("weather")),
        ("capability_hash", s(TS_CAPABILITY_HASH)),
    ]);
    if let Value::Object(map) = &mut fields {
        for (k, v) in extra {
            map.insert((*k).into(), v.clone());
        }
    }
    fields
}

fn case(kind: &str, message: Value, fields: Value, tamper: Option<Value>) -> Value {
    let mut inputs = object([
        ("seed_hex", s(SEED)),
        ("kind", s(kind)),
        ("message", message),
        ("fields", fields),
    ]);
    if let (Some(t), Value::Object(map)) = (tamper, &mut inputs) {
        map.insert("tamper".into(), t);
    }
    inputs
}

fn response_fields(extra: &[(&str, Value)]) -> Value {
    let mut fields = message_fields(&[]);
    if let Value::Object(map) = &mut fields {
        map.remove("capability_hash");
        map.insert("result_code".into(), s("OK"));
        map.insert("mcp_id".into(), s("req-123"));
        for (k, v) in extra {
            map.insert((*k).into(), v.clone());
        }
    }
    fields
}

fn set(changes: Value) -> Option<Value> {
    Some(object([("set", changes)]))
}

fn specs() -> Vec<Spec> {
    let capability = parse(TS_CAPABILITY);
    let answer = parse(
        r#"{"id":"req-123","jsonrpc":"2.0","result":{"content":[{"text":"sunny","type":"text"}]}}"#,
    );
    let denied = parse(
        r#"{"error":{"code":-31403,"data":{"method":"tools/call","reason":"UNKNOWN_TOOL","talos":"denied","target":"weather"},"message":"denied by Talos: UNKNOWN_TOOL"},"id":"req-123","jsonrpc":"2.0"}"#,
    );
    vec![
        Spec::ok(
            "message-upstream-ts",
            "the upstream TypeScript SDK's MCP_MESSAGE (seed 00…00, the first request of its \
             session, with the SDK's capability): request_hash 488e1cd5…, sig _bkDMv…",
            case(
                "MCP_MESSAGE",
                request(),
                message_fields(&[("method", s("weather/get")), ("capability", capability)]),
                None,
            ),
        ),
        Spec::ok(
            "message-follow-up",
            "a follow-up of the session: the capability's hash only, method the tool's name",
            case("MCP_MESSAGE", request(), message_fields(&[]), None),
        ),
        Spec::ok(
            "message-resource",
            "a resources/read: method is the URI",
            case(
                "MCP_MESSAGE",
                parse(r#"{"id":7,"jsonrpc":"2.0","method":"resources/read","params":{"uri":"file:///repo/README.md"}}"#),
                message_fields(&[("tool", s("resources/read")), ("method", s("file:///repo/README.md"))]),
                None,
            ),
        ),
        Spec::ok("response-ok", "an answered call", case("MCP_RESPONSE", answer.clone(), response_fields(&[]), None)),
        Spec::ok(
            "response-deny",
            "a denied call: the JSON-RPC error Talos answers with, DENY and the reason",
            case(
                "MCP_RESPONSE",
                denied,
                response_fields(&[("result_code", s("DENY")), ("denial_reason", s("UNKNOWN_TOOL"))]),
                None,
            ),
        ),
        Spec::ok(
            "response-numeric-id",
            "mcp_id may be a number",
            case(
                "MCP_RESPONSE",
                parse(r#"{"id":3,"jsonrpc":"2.0","result":{}}"#),
                response_fields(&[("mcp_id", n(3))]),
                None,
            ),
        ),
        Spec::err(
            "message-swapped",
            "the frame arrives with another request than the one it binds",
            case(
                "MCP_MESSAGE",
                request(),
                message_fields(&[]),
                Some(object([(
                    "message",
                    parse(r#"{"id":"req-123","jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"city":"Oslo"},"name":"weather"}}"#),
                )])),
            ),
            "hash",
        ),
        Spec::err(
            "message-tampered-tool",
            "tool changed after signing",
            case("MCP_MESSAGE", request(), message_fields(&[]), set(object([("method", s("delete"))]))),
            "signature",
        ),
        Spec::err(
            "message-tampered-sig",
            "one bit of the signature flipped",
            case(
                "MCP_MESSAGE",
                request(),
                message_fields(&[]),
                Some(object([("flip_byte", object([("field", s("sig")), ("index", n(5))]))])),
            ),
            "signature",
        ),
        Spec::err(
            "message-missing-request-hash",
            "request_hash removed: the request is not bound (upstream negative/missing_request_binding)",
            case("MCP_MESSAGE", request(), message_fields(&[]), set(object([("request_hash", Value::Null)]))),
            "request_hash",
        )
        .schema_invalid(),
        Spec::err(
            "message-unknown-member",
            "a member the format does not define",
            case("MCP_MESSAGE", request(), message_fields(&[]), set(object([("_talos_capability", s("x"))]))),
            "unknown member",
        )
        .schema_invalid(),
        Spec::err(
            "message-wrong-version",
            "protocol_version 2",
            case("MCP_MESSAGE", request(), message_fields(&[]), set(object([("protocol_version", s("2"))]))),
            "protocol version",
        )
        .schema_invalid(),
        Spec::err(
            "response-bad-result-code",
            "result_code outside OK / DENY / ERROR",
            case("MCP_RESPONSE", answer.clone(), response_fields(&[]), set(object([("result_code", s("MAYBE"))]))),
            "result_code",
        )
        .schema_invalid(),
        Spec::err(
            "response-uppercase-hash",
            "response_hash in uppercase hex",
            case(
                "MCP_RESPONSE",
                answer,
                response_fields(&[]),
                set(object([("response_hash", s("AB".repeat(32)))])),
            ),
            "response_hash",
        )
        .schema_invalid(),
    ]
}

enum Frame {
    Message(Signed<McpMessage>),
    Response(Signed<McpResponse>),
}

impl Frame {
    fn hash(&self) -> [u8; 32] {
        match self {
            Self::Message(f) => f.frame().request_hash,
            Self::Response(f) => f.frame().response_hash,
        }
    }

    fn json(&self) -> Vec<u8> {
        match self {
            Self::Message(f) => f.to_json(),
            Self::Response(f) => f.to_json(),
        }
    }

    fn open(kind: &str, bytes: &[u8], key: &SigningKey) -> Result<Self, FrameError> {
        let key = key.verifying_key();
        if kind == "MCP_MESSAGE" {
            let f = Signed::<McpMessage>::from_json(bytes)?;
            f.verify(&key)?;
            Ok(Self::Message(f))
        } else {
            let f = Signed::<McpResponse>::from_json(bytes)?;
            f.verify(&key)?;
            Ok(Self::Response(f))
        }
    }
}

fn text(fields: &Value, name: &str) -> Result<String, String> {
    str_field(fields, name).map(str::to_owned)
}

fn sign(kind: &str, hash: [u8; 32], fields: &Value, key: &SigningKey) -> Result<Frame, String> {
    let session_id = text(fields, "session_id")?;
    let correlation_id = text(fields, "correlation_id")?;
    let peer_id = text(fields, "peer_id")?;
    let issued_at = u64_field(fields, "issued_at")?;
    let tool = text(fields, "tool")?;
    let method = text(fields, "method")?;
    let signed = if kind == "MCP_MESSAGE" {
        let frame = McpMessage {
            session_id,
            correlation_id,
            peer_id,
            issued_at,
            request_hash: hash,
            tool,
            method,
            capability_hash: hex_array(fields, "capability_hash")?,
            capability: fields.get("capability").and_then(Value::as_object).cloned(),
        };
        Frame::Message(Signed::sign(frame, key).map_err(|e| e.to_string())?)
    } else {
        let result_code = match str_field(fields, "result_code")? {
            "OK" => ResultCode::Ok,
            "DENY" => ResultCode::Deny,
            _ => ResultCode::Error,
        };
        let frame = McpResponse {
            session_id,
            correlation_id,
            peer_id,
            issued_at,
            response_hash: hash,
            tool,
            method,
            result_code,
            denial_reason: fields
                .get("denial_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            mcp_id: fields.get("mcp_id").cloned(),
        };
        Frame::Response(Signed::sign(frame, key).map_err(|e| e.to_string())?)
    };
    Ok(signed)
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let key =
        SigningKey::from_seed_slice(&hex_field(inputs, "seed_hex")?).map_err(|e| e.to_string())?;
    let kind = str_field(inputs, "kind")?;
    let message = field(inputs, "message")?;
    let hash = payload_hash(message);
    let signed = sign(kind, hash, field(inputs, "fields")?, &key)?;
    let json_bytes = signed.json();
    let mut object = json::parse(&json_bytes).map_err(|e| e.to_string())?;
    let Some(tamper) = inputs.get("tamper") else {
        let back = Frame::open(kind, &json_bytes, &key).map_err(|e| e.to_string())?;
        if back.json() != json_bytes || back.hash() != hash {
            return Err("round trip changed the frame".into());
        }
        let text = String::from_utf8(json_bytes).map_err(|e| e.to_string())?;
        return Ok(Derived::Ok {
            object,
            expected: crate::util::object([
                ("payload_hash", s(talos_crypto::hash::to_hex(&hash))),
                ("json", s(text)),
            ]),
        });
    };
    if let Some(changes) = tamper.get("set") {
        apply_changes(&mut object, changes);
    }
    if let Some(flip) = tamper.get("flip_byte") {
        let index = usize::try_from(u64_field(flip, "index")?).map_err(|e| e.to_string())?;
        flip_b64u_byte(&mut object, str_field(flip, "field")?, index)?;
    }
    let received = tamper.get("message").unwrap_or(message);
    let bytes = object.to_canonical_vec();
    match Frame::open(kind, &bytes, &key) {
        Err(e) => Ok(Derived::failed(Some(object), &e)),
        Ok(frame) if frame.hash() != payload_hash(received) => {
            let what = if kind == "MCP_MESSAGE" {
                "request_hash"
            } else {
                "response_hash"
            };
            Ok(Derived::Err {
                object: Some(object),
                code: talos_crypto::ErrorCode::FrameInvalid.as_str().to_owned(),
                message: format!("the frame's {what} does not bind the message received"),
            })
        }
        Ok(_) => Err("the tampered frame was accepted".into()),
    }
}
