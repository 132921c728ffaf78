#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Hostile and unusual input to both tunnel ends: forged, replayed, stale and tampered
//! frames, capabilities that do not belong, malformed lines, bounds, cancellation rules and
//! timeouts.

mod common;

use core::time::Duration;

use common::{Pair, at, capability, capability_for, client_key, did, parse, policy, server_key};
use talos_mcp::acl::revocation::Revocation;
use talos_mcp::crypto::SigningKey;
use talos_mcp::crypto::json::Value;
use talos_mcp::jsonrpc::{DENIED, INVALID_REQUEST, OVERLOADED, PARSE_ERROR, TIMED_OUT};
use talos_mcp::packet::Packet;
use talos_mcp::{ClientConfig, Output, ServerConfig, TunnelError};

const CALL_ECHO: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#;

fn call(id: u64, tool: &str) -> Vec<u8> {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#)
        .into_bytes()
}

fn result(id: u64) -> Vec<u8> {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[]}}}}"#).into_bytes()
}

fn code(line: &[u8]) -> Option<i64> {
    match parse(line).get("error")?.get("code")? {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn reason(line: &[u8]) -> Option<String> {
    Some(
        parse(line)
            .get("error")?
            .get("data")?
            .get("reason")?
            .as_str()?
            .to_owned(),
    )
}

/// Sends `line` from the client and takes the packet it produced, without delivering it.
fn intercept(pair: &mut Pair, line: &[u8]) -> Vec<u8> {
    pair.client.handle_local(line, pair.now).unwrap();
    match pair.client.poll_output() {
        Some(Output::Peer(p)) => p,
        other => panic!("{other:?}"),
    }
}

fn to_server(pair: &mut Pair, packet: &[u8]) -> Result<(), TunnelError> {
    let r = pair.server.handle_peer(packet, &mut pair.guard, pair.now);
    pair.collect();
    r
}

#[test]
fn an_allowed_call_round_trips_and_is_audited() {
    let mut pair = Pair::new(capability("tool:echo"), policy(""));
    pair.from_client(CALL_ECHO).unwrap();
    assert_eq!(pair.at_server, [CALL_ECHO.to_vec()]);
    pair.now = at(2);
    pair.from_server(&result(1)).unwrap();
    assert_eq!(pair.at_client, [result(1)]);
    let record = &pair.audit[0];
    assert_eq!(record.target, "echo");
    assert_eq!(record.peer, did(&client_key()));
    assert_eq!(record.latency_us, 1_000_000);
    assert_eq!(
        record.request_hash,
        talos_mcp::payload_hash(&parse(CALL_ECHO))
    );
    assert!(
        record.plaintext.is_none(),
        "arguments are not recorded unless configured"
    );
    let entry = record.to_tool_call().unwrap();
    assert_eq!(entry.tool(), "echo");
}

#[test]
fn plaintext_is_recorded_only_when_configured() {
    let mut server = ServerConfig::new(server_key(), client_key().verifying_key());
    server.record_plaintext = true;
    let client = ClientConfig::new(
        [9; 16],
        client_key(),
        server_key().verifying_key(),
        capability("tool:echo"),
    );
    let mut pair = Pair::with_configs(client, server, policy(""));
    pair.from_client(CALL_ECHO).unwrap();
    pair.from_server(&result(1)).unwrap();
    let plain = pair.audit[0].plaintext.as_ref().unwrap();
    assert!(plain.arguments.contains("\"message\":\"hi\""));
    assert_eq!(
        plain.result.as_deref().map(str::as_bytes),
        Some(&result(1)[..])
    );
}

#[test]
fn replayed_call_is_dropped() {
    let mut pair = Pair::new(capability("tool:echo"), policy(""));
    let packet = intercept(&mut pair, CALL_ECHO);
    to_server(&mut pair, &packet).unwrap();
    assert!(matches!(
        to_server(&mut pair, &packet),
        Err(TunnelError::Replay(_))
    ));
    assert_eq!(pair.at_server.len(), 1);
}

#[test]
fn stale_and_future_frames_are_dropped() {
    for skew in [-301_i64, 301] {
        let mut pair = Pair::new(capability("tool:echo"), policy(""));
        pair.now = at(1000);
        let packet = intercept(&mut pair, CALL_ECHO);
        pair.now = at(1000_u64.checked_add_signed(skew).unwrap());
        assert!(matches!(
            to_server(&mut pair, &packet),
            Err(TunnelError::Stale { .. })
        ));
        assert!(pair.at_server.is_empty());
    }
}

#[test]
fn tampered_message_or_frame_is_dropped() {
    let mut pair = Pair::new(capability("tool:echo tool:delete"), policy(""));
    let packet = intercept(&mut pair, CALL_ECHO);
    let Packet::Call { frame, .. } = Packet::decode(&packet).unwrap() else {
        panic!()
    };
    // The same frame around another request: the hash binds the message.
    let swapped = Packet::Call {
        frame: frame.clone(),
        message: call(1, "delete"),
    }
    .encode();
    assert!(matches!(
        to_server(&mut pair, &swapped),
        Err(TunnelError::Mismatch("request_hash"))
    ));
    // A flipped byte in the frame: the signature fails.
    let mut flipped = packet.clone();
    let at_sig = flipped.len() - CALL_ECHO.len() - 10;
    flipped[at_sig] ^= 1;
    assert!(to_server(&mut pair, &flipped).is_err());
    assert!(pair.at_server.is_empty());
    // The original still goes through.
    to_server(&mut pair, &packet).unwrap();
    assert_eq!(pair.at_server.len(), 1);
}

#[test]
fn a_frame_signed_by_another_key_is_dropped() {
    let mut pair = Pair::new(capability("tool:echo"), policy(""));
    let intruder = SigningKey::from_seed(&[66; 32]);
    let mut other = Pair::with_configs(
        ClientConfig::new(
            [9; 16],
            intruder,
            server_key().verifying_key(),
            capability("tool:echo"),
        ),
        ServerConfig::new(server_key(), client_key().verifying_key()),
        policy(""),
    );
    let packet = intercept(&mut other, CALL_ECHO);
    assert!(matches!(
        to_server(&mut pair, &packet),
        Err(TunnelError::Frame(_))
    ));
    assert!(pair.at_server.is_empty());
}

#[test]
fn a_capability_of_another_subject_is_refused() {
    let stranger = did(&SigningKey::from_seed(&[5; 32]));
    let mut pair = Pair::new(capability_for(&stranger, "tool:*", 3600), policy(""));
    pair.from_client(CALL_ECHO).unwrap();
    assert!(pair.at_server.is_empty());
    assert_eq!(code(&pair.at_client[0]), Some(DENIED));
    assert_eq!(reason(&pair.at_client[0]).as_deref(), Some("INVALID"));
}

#[test]
fn a_capability_the_peer_issued_itself_is_refused() {
    // Validly signed, to the right subject, but by the client's own key: a peer cannot grant
    // itself tools the server never granted, even where its policy would allow them.
    let client = client_key();
    let fields = talos_mcp::acl::token::TokenFields::new(
        did(&client),
        did(&client),
        "tool:*",
        at(0),
        at(3600),
    );
    let token = talos_mcp::acl::token::CapabilityToken::issue(&client, &fields).unwrap();
    let mut pair = Pair::new(token, policy(""));
    pair.from_client(CALL_ECHO).unwrap();
    assert!(pair.at_server.is_empty());
    assert_eq!(code(&pair.at_client[0]), Some(DENIED));
    assert_eq!(reason(&pair.at_client[0]).as_deref(), Some("INVALID"));

    // A server configured to honour another issuer's capabilities accepts that issuer's.
    let operator = SigningKey::from_seed(&[6; 32]);
    let fields = talos_mcp::acl::token::TokenFields::new(
        did(&operator),
        did(&client),
        "tool:echo",
        at(0),
        at(3600),
    );
    let token = talos_mcp::acl::token::CapabilityToken::issue(&operator, &fields).unwrap();
    let mut server = ServerConfig::new(server_key(), client.verifying_key());
    server.capability_issuer = operator.verifying_key();
    let client_config = ClientConfig::new([9; 16], client, server_key().verifying_key(), token);
    let mut pair = Pair::with_configs(client_config, server, policy(""));
    pair.from_client(CALL_ECHO).unwrap();
    assert_eq!(pair.at_server, [CALL_ECHO.to_vec()]);
}

#[test]
fn expired_and_tampered_capabilities_are_refused() {
    let mut pair = Pair::new(
        capability_for(&did(&client_key()), "tool:echo", 60),
        policy(""),
    );
    pair.now = at(120);
    pair.from_client(CALL_ECHO).unwrap();
    assert_eq!(reason(&pair.at_client[0]).as_deref(), Some("EXPIRED"));
    assert!(pair.at_server.is_empty());

    // A token whose scope was widened after signing.
    let token = capability("tool:echo");
    let forged = String::from_utf8(token.to_json())
        .unwrap()
        .replace("tool:echo", "tool:*");
    let forged = talos_mcp::acl::token::CapabilityToken::from_json(forged.as_bytes()).unwrap();
    let mut pair = Pair::new(forged, policy(""));
    pair.from_client(&call(1, "delete")).unwrap();
    assert_eq!(
        reason(&pair.at_client[0]).as_deref(),
        Some("SIGNATURE_INVALID")
    );
    assert!(pair.at_server.is_empty());
}

#[test]
fn a_follow_up_without_a_cached_capability_is_no_capability_and_the_client_recovers() {
    let mut pair = Pair::new(capability("tool:echo"), policy(""));
    // The first call (which carries the capability) is lost on the way.
    let _lost = intercept(&mut pair, CALL_ECHO);
    pair.now = at(2);
    pair.from_client(&call(2, "echo")).unwrap();
    assert_eq!(reason(&pair.at_client[0]).as_deref(), Some("NO_CAPABILITY"));
    assert!(pair.at_server.is_empty());
    // The client sends the capability again with its next call.
    pair.from_client(&call(3, "echo")).unwrap();
    assert_eq!(pair.at_server, [call(3, "echo")]);
}

#[test]
fn a_first_request_outside_the_scope_still_admits_the_capability() {
    let mut pair = Pair::new(capability("tool:echo"), policy(""));
    pair.from_client(&call(1, "delete")).unwrap();
    assert_eq!(reason(&pair.at_client[0]).as_deref(), Some("UNKNOWN_TOOL"));
    pair.from_client(&call(2, "echo")).unwrap();
    assert_eq!(pair.at_server, [call(2, "echo")]);
}

#[test]
fn initialize_admits_the_capability_and_lists_are_filtered() {
    let mut pair = Pair::new(capability("tool:echo"), policy(""));
    let init = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    pair.from_client(init).unwrap();
    assert_eq!(pair.at_server.len(), 1);
    pair.from_client(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .unwrap();
    pair.from_server(br#"{"jsonrpc":"2.0","id":0,"result":{}}"#)
        .unwrap();
    pair.from_server(br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"delete"},{"title":"no name"}]}}"#).unwrap();
    let list = parse(&pair.at_client[1]);
    let names: Vec<_> = match list.get("result").unwrap().get("tools").unwrap() {
        Value::Array(items) => items
            .iter()
            .map(|i| i.get("name").and_then(Value::as_str))
            .collect(),
        _ => panic!(),
    };
    assert_eq!(names, [Some("echo")]);
}

#[test]
fn a_revoked_capability_is_denied_on_the_next_call() {
    let token = capability("tool:echo");
    let mut pair = Pair::new(token.clone(), policy(""));
    pair.from_client(CALL_ECHO).unwrap();
    pair.from_server(&result(1)).unwrap();
    let revocation = Revocation::issue(
        &server_key(),
        *token.capability_hash(),
        &did(&server_key()),
        at(1),
        None,
    )
    .unwrap();
    pair.guard.revoke(&revocation, &token).unwrap();
    pair.from_client(&call(2, "echo")).unwrap();
    assert_eq!(
        reason(pair.at_client.last().unwrap()).as_deref(),
        Some("REVOKED")
    );
    assert_eq!(pair.at_server.len(), 1);
}

#[test]
fn bad_lines_from_the_client_are_answered_not_forwarded() {
    let mut pair = Pair::new(capability("tool:*"), policy(""));
    let cases: [(&[u8], i64, Value); 6] = [
        (b"{not json", PARSE_ERROR, Value::Null),
        (
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            INVALID_REQUEST,
            Value::Null,
        ),
        (
            br#"{"jsonrpc":"1.0","id":4,"method":"ping"}"#,
            INVALID_REQUEST,
            parse(b"4"),
        ),
        (
            br#"{"jsonrpc":"2.0","id":"x","method":"ping","params":[1]}"#,
            INVALID_REQUEST,
            parse(br#""x""#),
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\n\"id\":5,\"method\":\"ping\"}",
            INVALID_REQUEST,
            Value::Null,
        ),
        (
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            INVALID_REQUEST,
            Value::Null,
        ),
    ];
    for (i, (line, expected, id)) in cases.iter().enumerate() {
        assert!(pair.from_client(line).is_err(), "case {i}");
        let answer = pair.at_client.last().unwrap();
        assert_eq!(code(answer), Some(*expected), "case {i}");
        assert_eq!(parse(answer).get("id"), Some(id), "case {i}");
    }
    assert!(pair.at_server.is_empty());
    assert!(pair.wire.is_empty());
}

#[test]
fn duplicate_ids_and_the_pending_bound_are_answered() {
    let mut client = ClientConfig::new(
        [9; 16],
        client_key(),
        server_key().verifying_key(),
        capability("tool:*"),
    );
    client.max_pending = 2;
    let server = ServerConfig::new(server_key(), client_key().verifying_key());
    let mut pair = Pair::with_configs(client, server, policy(""));
    pair.from_client(&call(1, "a")).unwrap();
    assert!(matches!(
        pair.client.handle_local(&call(1, "b"), pair.now),
        Err(TunnelError::DuplicateId(_))
    ));
    pair.collect();
    assert_eq!(code(pair.at_client.last().unwrap()), Some(INVALID_REQUEST));
    pair.from_client(&call(2, "b")).unwrap();
    assert!(pair.from_client(&call(3, "c")).is_err());
    assert_eq!(code(pair.at_client.last().unwrap()), Some(OVERLOADED));
    assert_eq!(pair.at_server.len(), 2);
    // An answer frees a slot.
    pair.from_server(&result(1)).unwrap();
    pair.from_client(&call(3, "c")).unwrap();
    assert_eq!(pair.at_server.len(), 3);
}

#[test]
fn cancellation_may_only_name_the_senders_own_pending_requests() {
    let mut pair = Pair::new(capability("tool:*"), policy(""));
    let cancel = |id: u64| {
        format!(r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id}}}}}"#).into_bytes()
    };
    // Nothing pending: the client's cancel is dropped.
    assert!(pair.from_client(&cancel(1)).is_err());
    // The server's request id 7 is the server's: the client may not cancel it by that id,
    // and the server may not cancel the client's request 1.
    pair.from_client(&call(1, "a")).unwrap();
    pair.from_server(br#"{"jsonrpc":"2.0","id":7,"method":"roots/list"}"#)
        .unwrap();
    assert!(pair.from_client(&cancel(7)).is_err());
    assert!(pair.from_server(&cancel(1)).is_err());
    assert_eq!(pair.at_server.len(), 1);
    // Each side may cancel its own.
    pair.from_server(&cancel(7)).unwrap();
    pair.from_client(&cancel(1)).unwrap();
    assert_eq!(pair.at_server.len(), 2);
    assert_eq!(pair.client.pending(), 0);
    assert_eq!(pair.server.pending(), 0);
    // A late answer to the cancelled request is dropped.
    assert!(pair.from_server(&result(1)).is_err());
}

#[test]
fn a_response_the_peer_did_not_ask_for_is_dropped() {
    let mut pair = Pair::new(capability("tool:*"), policy(""));
    assert!(pair.from_server(&result(1)).is_err());
    assert!(pair.from_client(&result(1)).is_err());
    assert!(pair.at_client.is_empty() && pair.at_server.is_empty());
}

#[test]
fn talos_fields_are_stripped_before_the_server() {
    let mut pair = Pair::new(capability("tool:*"), policy(""));
    pair.from_client(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_talos_capability":"x","arguments":{}}}"#).unwrap();
    let forwarded = parse(&pair.at_server[0]);
    assert!(
        forwarded
            .get("params")
            .unwrap()
            .get("_talos_capability")
            .is_none()
    );
    assert_eq!(
        forwarded
            .get("params")
            .unwrap()
            .get("name")
            .and_then(Value::as_str),
        Some("a")
    );
}

#[test]
fn unanswered_requests_time_out() {
    let mut client = ClientConfig::new(
        [9; 16],
        client_key(),
        server_key().verifying_key(),
        capability("tool:*"),
    );
    client.request_timeout = Duration::from_secs(30);
    let server = ServerConfig::new(server_key(), client_key().verifying_key());
    let mut pair = Pair::with_configs(client, server, policy(""));
    pair.from_client(&call(1, "a")).unwrap();
    assert_eq!(pair.client.poll_timeout(), Some(at(31)));
    pair.client.handle_timeout(at(30));
    pair.collect();
    assert!(pair.at_client.is_empty());
    pair.client.handle_timeout(at(31));
    pair.collect();
    assert_eq!(code(&pair.at_client[0]), Some(TIMED_OUT));
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn a_forged_reply_is_refused_and_the_client_is_told() {
    let mut pair = Pair::new(capability("tool:*"), policy(""));
    let packet = intercept(&mut pair, &call(1, "a"));
    to_server(&mut pair, &packet).unwrap();
    pair.server
        .handle_local(&result(1), &mut pair.guard, pair.now)
        .unwrap();
    let Some(Output::Peer(reply)) = pair.server.poll_output() else {
        panic!()
    };
    let Packet::Reply { frame, .. } = Packet::decode(&reply).unwrap() else {
        panic!()
    };
    let forged = Packet::Reply {
        frame,
        message:
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"forged"}]}}"#
                .to_vec(),
    };
    assert!(matches!(
        pair.client.handle_peer(&forged.encode(), pair.now),
        Err(TunnelError::Mismatch(_))
    ));
    pair.collect();
    assert_eq!(
        code(&pair.at_client[0]),
        Some(talos_mcp::jsonrpc::TUNNEL_ERROR)
    );
    // The genuine reply now finds nothing pending.
    assert!(pair.client.handle_peer(&reply, pair.now).is_err());
}

#[test]
fn the_upstream_vector_frame_is_what_a_client_tunnel_would_sign() {
    // The request hash a tunnel binds is that of the canonical request (REFERENCE §7.3).
    let request = br#"{"id":"req-123","jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"city":"Paris"},"name":"weather"}}"#;
    let mut pair = Pair::new(capability("tool:weather"), policy(""));
    let packet = intercept(&mut pair, request);
    let Packet::Call { frame, message } = Packet::decode(&packet).unwrap() else {
        panic!()
    };
    assert_eq!(message, request);
    assert_eq!(
        talos_mcp::crypto::hash::to_hex(&frame.frame().request_hash),
        "488e1cd5a7c4f781822e8d63c318ec4063c62c9977cd60f438ed8ecfc69e632d"
    );
    assert_eq!(frame.frame().tool, "tools/call");
    assert_eq!(frame.frame().method, "weather");
    assert!(frame.frame().capability.is_some());
}

#[test]
fn a_channel_authenticated_server_skips_only_the_signature_check() {
    let mut server = ServerConfig::new(server_key(), client_key().verifying_key());
    server.verify_signatures = false;
    let client = ClientConfig::new(
        [9; 16],
        client_key(),
        server_key().verifying_key(),
        capability("tool:echo"),
    );
    let mut pair = Pair::with_configs(client, server, policy(""));
    let packet = intercept(&mut pair, CALL_ECHO);
    // A flipped signature byte is not checked here (the channel authenticated the packet)...
    let Packet::Call { frame, message } = Packet::decode(&packet).unwrap() else {
        panic!()
    };
    let mut json = parse(&frame.to_json());
    let Value::Object(members) = &mut json else {
        panic!()
    };
    members.insert(
        "sig".into(),
        Value::String(talos_mcp::crypto::base64url::encode(&[7; 64])),
    );
    let forged_sig = talos_mcp::frame::Signed::from_json(&json.to_canonical_vec()).unwrap();
    let repacked = Packet::Call {
        frame: forged_sig,
        message: message.clone(),
    }
    .encode();
    to_server(&mut pair, &repacked).unwrap();
    assert_eq!(pair.at_server.len(), 1);
    // ...but replay, the hash binding and enforcement still are.
    assert!(matches!(
        to_server(&mut pair, &repacked),
        Err(TunnelError::Replay(_))
    ));
    let swapped = Packet::Call {
        frame,
        message: call(1, "delete"),
    }
    .encode();
    assert!(matches!(
        to_server(&mut pair, &swapped),
        Err(TunnelError::Mismatch(_))
    ));
    pair.from_client(&call(2, "delete")).unwrap();
    assert_eq!(
        reason(pair.at_client.last().unwrap()).as_deref(),
        Some("UNKNOWN_TOOL")
    );
    assert_eq!(pair.at_server.len(), 1);
}
