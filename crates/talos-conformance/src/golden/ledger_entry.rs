//! `ledger/entry.json`: one ledger entry of every kind, its CBOR and leaf hash, and entries a
//! decoder must refuse.

use talos_crypto::json::{self, Number, Value};
use talos_crypto::{SigningKey, Timestamp, base64url, hash};
use talos_ledger::audit::{
    AuditEvent, AuditEventFields, ClientIpHash, Http, Method, Outcome, Principal,
};
use talos_ledger::checkpoint::CheckpointSigner;
use talos_ledger::entry::{
    Anchor, AuditEventEntry, Body, CapabilityIssued, CapabilityRevoked, Decision, Entry, Message,
    OptInPlaintext, Session, ToolCall,
};
use talos_ledger::merkle::{MerkleLog, leaf_hash};

use super::{Derived, Family, Spec, apply_changes};
use crate::util::{field, hex_array, hex_field, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "ledger/entry.json",
    contract: "ledger/entry.schema.json",
    description: "Ledger entries v1, one of every kind. inputs give the entry's fields (hashes and byte \
                  strings in hex, DIDs as strings); an audit_event entry's event is built from \
                  inputs.body.event (the client IP keyed-hashed with HMAC-SHA256 under ip_key_hex) and \
                  carried as its RFC 8785 canonical JSON; an anchor's note is the checkpoint of a log of \
                  `size` leaves (leaf i the ASCII of \"anchored entry i\") signed by the key of \
                  log_seed_hex named origin. `object` is the entry's canonical JSON form; expected.cbor_b64u \
                  is its deterministic CBOR (the bytes in a block), expected.leaf_hash_hex SHA-256(0x00 ‖ \
                  CBOR), expected.canonical_json the canonical JSON text, and for an audit event \
                  expected.event_hash_hex its event_hash. Negative cases alter the JSON form before it is \
                  decoded: tamper.set replaces top-level members, tamper.body_set body members, \
                  tamper.body_plaintext_repeat sets body.opt_in_plaintext to \
                  {arguments: char repeated count times}; oversize entries are refused when built and when \
                  decoded.",
    producer: || format!("talos-ledger {}", talos_ledger::VERSION),
    specs,
    derive,
};

const TS: u64 = 1_768_178_601_000;

fn big(value: u64) -> Value {
    Value::Number(Number::try_from(value).unwrap_or(Number::from(0u32)))
}

fn did(seed: u8) -> String {
    talos_did::DidKey::Ed25519(SigningKey::from_seed(&[seed; 32]).verifying_key()).to_string()
}

fn h(text: &str) -> Value {
    s(hex::encode(hash::sha256(text.as_bytes())))
}

fn entry(kind: &str, id: u8, nonce: u64, body: Value) -> Value {
    object([
        ("kind", s(kind)),
        ("id_hex", s(hex::encode([id; 16]))),
        ("sender", s(did(0x11))),
        ("nonce", big(nonce)),
        ("ts_ms", big(TS + nonce * 1000)),
        ("body", body),
    ])
}

fn with(mut value: Value, name: &str, extra: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(name.into(), extra);
    }
    value
}

fn message() -> Value {
    object([
        ("peer", s(did(0x22))),
        ("session_id_hex", s("5e5510000000000000000000000000a1")),
        ("header_hash_hex", h("message header 1")),
    ])
}

fn tool_call() -> Value {
    object([
        ("tool", s("search")),
        ("request_hash_hex", h("tools/call search request")),
        ("response_hash_hex", h("tools/call search response")),
        ("decision", s("allow")),
        ("reason", s("policy p1: search allowed for team blue")),
        ("latency_us", n(1250)),
    ])
}

fn audit_event() -> Value {
    object([
        ("event_id", s("01945a3b-7c00-7000-8000-000000000001")),
        ("ts", s("2026-01-12T00:43:21.000Z")),
        ("request_id", s("req-0001")),
        ("surface_id", s("mcp-gateway")),
        ("principal_id", s("agent-alice")),
        ("team_id", s("team-blue")),
        ("signer_key_id", s("k-2026-01")),
        ("method", s("POST")),
        ("path", s("/v1/tools/{tool}/call")),
        ("status_code", n(200)),
        ("client_ip", s("203.0.113.7")),
        ("ip_key_hex", s(hex::encode([0x1b; 32]))),
        ("ip_key_id", s("ipk-1")),
    ])
}

#[allow(clippy::too_many_lines)] // one list of cases
fn specs() -> Vec<Spec> {
    let tamper = |set: Value| object([("set", set)]);
    vec![
        Spec::ok(
            "message-sent",
            "a message sent: its header's hash, never its content",
            entry("message_sent", 1, 0, message()),
        ),
        Spec::ok(
            "message-received",
            "a message received",
            entry("message_received", 2, 1, message()),
        ),
        Spec::ok(
            "session-established",
            "a session established with a peer",
            entry(
                "session_established",
                3,
                2,
                object([
                    ("peer", s(did(0x22))),
                    ("session_id_hex", s("5e5510000000000000000000000000a1")),
                    ("protocol_version", n(2)),
                    ("handshake_hash_hex", h("handshake transcript")),
                ]),
            ),
        ),
        Spec::ok(
            "capability-issued",
            "a capability issued, by its hash",
            entry(
                "capability_issued",
                4,
                3,
                object([
                    ("capability_hash_hex", h("capability c1")),
                    ("issuer", s(did(0x11))),
                    ("subject", s(did(0x22))),
                    ("exp_ms", big(TS + 86_400_000)),
                ]),
            ),
        ),
        Spec::ok(
            "capability-revoked",
            "a capability revoked: the revocation's canonical JSON, opaque",
            entry(
                "capability_revoked",
                5,
                4,
                object([(
                    "revocation",
                    s("{\"capability\":\"c1\",\"revoked_at\":1768178605000,\"v\":1}"),
                )]),
            ),
        ),
        Spec::ok(
            "tool-call-allowed",
            "an MCP tool call allowed: request and response hashes, decision, latency",
            entry("tool_call", 6, 5, tool_call()),
        ),
        Spec::ok(
            "tool-call-denied",
            "a denied tool call: no response hash",
            entry(
                "tool_call",
                7,
                6,
                object([
                    ("tool", s("delete_repo")),
                    ("request_hash_hex", h("tools/call delete_repo request")),
                    ("decision", s("deny")),
                    ("reason", s("policy p2: delete_repo denied")),
                    ("latency_us", n(87)),
                ]),
            ),
        ),
        Spec::ok(
            "tool-call-opt-in-plaintext",
            "a tool call whose recorder opted in to plaintext arguments and result",
            entry(
                "tool_call",
                8,
                7,
                with(
                    tool_call(),
                    "opt_in_plaintext",
                    object([
                        ("arguments", s("{\"query\":\"talos ledger\"}")),
                        ("result", s("{\"hits\":3}")),
                    ]),
                ),
            ),
        ),
        Spec::ok(
            "audit-event",
            "an upstream talos.audit_event v1 (signed principal, hashed client IP)",
            entry("audit_event", 9, 8, object([("event", audit_event())])),
        ),
        Spec::ok(
            "anchor",
            "another log's signed checkpoint at size 3, anchored",
            entry(
                "anchor",
                10,
                9,
                object([
                    ("origin", s("peer.talos.example/log")),
                    ("log_seed_hex", s(hex::encode([0x4f; 32]))),
                    ("size", n(3)),
                ]),
            ),
        ),
        Spec::err(
            "unknown-member",
            "a top-level member the format does not have",
            with(
                entry("message_sent", 1, 0, message()),
                "tamper",
                tamper(object([("ttl", n(60))])),
            ),
            "unknown field",
        )
        .schema_invalid(),
        Spec::err(
            "unknown-body-member",
            "a body member no kind has",
            with(
                entry("message_sent", 1, 0, message()),
                "tamper",
                object([("body_set", object([("content", s("hello"))]))]),
            ),
            "unknown field",
        )
        .schema_invalid(),
        Spec::err(
            "foreign-body-member",
            "a message entry with a tool call's member",
            with(
                entry("message_sent", 1, 0, message()),
                "tamper",
                object([("body_set", object([("tool", s("search"))]))]),
            ),
            "does not have",
        )
        .schema_invalid(),
        Spec::err(
            "unknown-kind",
            "a kind this version does not know",
            with(
                entry("message_sent", 1, 0, message()),
                "tamper",
                tamper(object([("kind", s("message_deleted"))])),
            ),
            "unknown entry kind",
        )
        .schema_invalid(),
        Spec::err(
            "version-2",
            "a format version this crate does not read",
            with(
                entry("message_sent", 1, 0, message()),
                "tamper",
                tamper(object([("v", n(2))])),
            ),
            "unsupported entry version",
        )
        .schema_invalid(),
        Spec::err(
            "oversize-decoded",
            "a decoder offered a tool call whose opted-in arguments (100 000 bytes) take its CBOR \
             over 100 000 bytes",
            with(
                entry("tool_call", 11, 10, tool_call()),
                "tamper",
                object([(
                    "body_plaintext_repeat",
                    object([("char", s("a")), ("count", big(100_000))]),
                )]),
            ),
            "too large",
        ),
        Spec::err(
            "oversize",
            "a tool call with 100 000 bytes of opted-in arguments: over the 100 000-byte limit",
            entry(
                "tool_call",
                11,
                10,
                with(
                    tool_call(),
                    "opt_in_plaintext_repeat",
                    object([("char", s("a")), ("count", big(100_000))]),
                ),
            ),
            "too large",
        ),
    ]
}

fn hash32(value: &Value, name: &str) -> Result<[u8; 32], String> {
    hex_array::<32>(value, name)
}

fn text(value: &Value, name: &str) -> Result<String, String> {
    Ok(str_field(value, name)?.to_owned())
}

fn audit(event: &Value) -> Result<AuditEvent, String> {
    let client_ip = ClientIpHash::compute(
        &hex_field(event, "ip_key_hex")?,
        text(event, "ip_key_id")?,
        str_field(event, "client_ip")?,
    );
    let method = match str_field(event, "method")? {
        "POST" => Method::Post,
        "GET" => Method::Get,
        other => return Err(format!("method {other}")),
    };
    AuditEvent::new(AuditEventFields {
        event_id: text(event, "event_id")?,
        ts: text(event, "ts")?,
        request_id: text(event, "request_id")?,
        surface_id: text(event, "surface_id")?,
        outcome: Outcome::Success,
        principal: Principal::Signed {
            principal_id: text(event, "principal_id")?,
            team_id: text(event, "team_id")?,
            signer_key_id: text(event, "signer_key_id")?,
        },
        http: Http {
            method,
            path: text(event, "path")?,
            status_code: u16::try_from(u64_field(event, "status_code")?)
                .map_err(|e| e.to_string())?,
            client_ip,
        },
        resource: None,
        meta: json::Map::new(),
    })
    .map_err(|e| e.to_string())
}

fn tool_call_body(b: &Value) -> Result<ToolCall, String> {
    let decision = match str_field(b, "decision")? {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        other => return Err(format!("decision {other}")),
    };
    let response = b
        .get("response_hash_hex")
        .map(|_| hash32(b, "response_hash_hex"))
        .transpose()?;
    let mut call = ToolCall::new(
        str_field(b, "tool")?,
        hash32(b, "request_hash_hex")?,
        response,
        decision,
        str_field(b, "reason")?,
        u64_field(b, "latency_us")?,
    )
    .map_err(|e| e.to_string())?;
    if let Some(p) = b.get("opt_in_plaintext") {
        call = call.with_opt_in_plaintext(OptInPlaintext {
            arguments: text(p, "arguments")?,
            result: p.get("result").map(|_| text(p, "result")).transpose()?,
        });
    }
    if let Some(p) = b.get("opt_in_plaintext_repeat") {
        let count = usize::try_from(u64_field(p, "count")?).map_err(|e| e.to_string())?;
        call = call.with_opt_in_plaintext(OptInPlaintext {
            arguments: str_field(p, "char")?.repeat(count),
            result: None,
        });
    }
    Ok(call)
}

fn body(kind: &str, b: &Value) -> Result<(Body, Option<AuditEvent>), String> {
    let message = || -> Result<Message, String> {
        Ok(Message {
            peer: text(b, "peer")?,
            session_id: hex_field(b, "session_id_hex")?,
            header_hash: hash32(b, "header_hash_hex")?,
        })
    };
    Ok((
        match kind {
            "message_sent" => Body::MessageSent(message()?),
            "message_received" => Body::MessageReceived(message()?),
            "session_established" => Body::SessionEstablished(Session {
                peer: text(b, "peer")?,
                session_id: hex_field(b, "session_id_hex")?,
                protocol_version: u32::try_from(u64_field(b, "protocol_version")?)
                    .map_err(|e| e.to_string())?,
                handshake_hash: hash32(b, "handshake_hash_hex")?,
            }),
            "capability_issued" => Body::CapabilityIssued(CapabilityIssued {
                capability_hash: hash32(b, "capability_hash_hex")?,
                issuer: text(b, "issuer")?,
                subject: text(b, "subject")?,
                exp: Timestamp::from_millis(u64_field(b, "exp_ms")?),
            }),
            "capability_revoked" => Body::CapabilityRevoked(CapabilityRevoked {
                revocation: text(b, "revocation")?.into_bytes(),
            }),
            "tool_call" => Body::ToolCall(tool_call_body(b)?),
            "audit_event" => {
                let event = audit(field(b, "event")?)?;
                let entry = AuditEventEntry::new(event.to_json()).map_err(|e| e.to_string())?;
                if entry != AuditEventEntry::from(&event) {
                    return Err("the two ways of wrapping an event differ".into());
                }
                return Ok((Body::AuditEvent(entry), Some(event)));
            }
            "anchor" => {
                let origin = str_field(b, "origin")?;
                let size = u64_field(b, "size")?;
                let mut log = MerkleLog::new();
                for i in 0..size {
                    log.append(format!("anchored entry {i}").as_bytes())
                        .map_err(|e| e.to_string())?;
                }
                let key = SigningKey::from_seed(&hex_array::<32>(b, "log_seed_hex")?);
                let mut signer = CheckpointSigner::new(origin, key).map_err(|e| e.to_string())?;
                let note = signer.sign_log(&log).map_err(|e| e.to_string())?;
                Body::Anchor(Anchor {
                    origin: origin.to_owned(),
                    size,
                    root: log.root(),
                    note: note.to_string(),
                })
            }
            other => return Err(format!("kind {other}")),
        },
        None,
    ))
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let kind = str_field(inputs, "kind")?;
    let (body, event) = body(kind, field(inputs, "body")?)?;
    if body.kind().as_str() != kind {
        return Err("the body is of another kind".into());
    }
    let entry = match Entry::new(
        hex_array::<16>(inputs, "id_hex")?,
        str_field(inputs, "sender")?,
        u64_field(inputs, "nonce")?,
        Timestamp::from_millis(u64_field(inputs, "ts_ms")?),
        body,
    ) {
        Ok(entry) => entry,
        Err(e) => return Ok(Derived::failed(None, &e)),
    };
    let json_bytes = entry.to_json();
    let mut object = json::parse(&json_bytes).map_err(|e| e.to_string())?;
    if let Some(tamper) = inputs.get("tamper") {
        if let Some(set) = tamper.get("set") {
            apply_changes(&mut object, set);
        }
        if let (Some(set), Value::Object(map)) = (tamper.get("body_set"), &mut object)
            && let Some(body) = map.get_mut("body")
        {
            apply_changes(body, set);
        }
        if let (Some(repeat), Value::Object(map)) =
            (tamper.get("body_plaintext_repeat"), &mut object)
            && let Some(body) = map.get_mut("body")
        {
            let count = usize::try_from(u64_field(repeat, "count")?).map_err(|e| e.to_string())?;
            let arguments = str_field(repeat, "char")?.repeat(count);
            apply_changes(
                body,
                &crate::util::object([(
                    "opt_in_plaintext",
                    crate::util::object([("arguments", s(arguments))]),
                )]),
            );
        }
    }
    let decoded = match Entry::from_json(&object.to_canonical_vec()) {
        Ok(decoded) => decoded,
        Err(e) => return Ok(Derived::failed(Some(object), &e)),
    };
    let cbor = entry.to_cbor();
    let from_cbor = Entry::from_cbor(&cbor).map_err(|e| e.to_string())?;
    if decoded != entry || from_cbor != entry {
        return Err("the entry does not decode to itself".into());
    }
    let canonical = String::from_utf8(json_bytes).map_err(|e| e.to_string())?;
    let mut expected = object_pairs(vec![
        ("cbor_b64u", s(base64url::encode(&cbor))),
        ("cbor_len", big(cbor.len() as u64)),
        ("leaf_hash_hex", s(hex::encode(leaf_hash(&cbor)))),
        ("canonical_json", s(canonical)),
    ]);
    if let (Some(event), Value::Object(map)) = (event, &mut expected) {
        map.insert("event_hash_hex".into(), s(event.event_hash_hex()));
    }
    Ok(Derived::Ok { object, expected })
}

fn object_pairs(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}
