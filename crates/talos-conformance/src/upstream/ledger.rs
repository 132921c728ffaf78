//! Upstream talos-ledger vectors: audit events and TGA traces.

use talos_crypto::hash;
use talos_crypto::json::{Map, Value};
use talos_ledger::audit::{
    AuditEvent, ClientIpHash, META_REDACTED_KEYS, META_REDACTION_APPLIED, canonical_ip, redact_meta,
};
use talos_ledger::tga::{self, ExecutionLog, Recovery, State};

use crate::report::{Cases, Outcome};
use crate::util::{array_field, field, hex_field, same, str_field};

/// `audit_event_vectors.json`: canonical bytes and `event_hash` of each event, the client IP
/// HMAC, and the normative meta redaction.
pub(super) fn audit_event_vectors(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let mut skipped = Vec::new();
    cases.each(doc, "tests", "name", |case| {
        let name = str_field(case, "name")?;
        let unhashed = field(case, "event_without_hash")?;
        let event = AuditEvent::from_unhashed(unhashed).map_err(|e| e.to_string())?;
        same(
            "event_hash",
            str_field(case, "event_hash")?,
            event.event_hash_hex().as_str(),
        )?;
        if case.get("canonical_bytes_hex").is_some() {
            same(
                "canonical bytes",
                hex_field(case, "canonical_bytes_hex")?,
                event.hashed_bytes(),
            )?;
        }
        // The whole event, hash included, verifies as a received one.
        AuditEvent::from_json(&event.to_json()).map_err(|e| format!("verify: {e}"))?;

        let ctx = field(case, "input_context")?;
        let http = field(unhashed, "http")?;
        let ip = ctx.get("client_ip").and_then(Value::as_str);
        let key = ctx.get("ip_hmac_key").and_then(Value::as_str);
        match (ip.filter(|ip| canonical_ip(ip).is_some()), key) {
            (Some(ip), Some(key)) => {
                let key_id = str_field(ctx, "ip_hmac_key_id")?;
                let h = ClientIpHash::compute(key.as_bytes(), key_id, ip)
                    .ok_or("client_ip not an IP")?;
                same(
                    "client_ip_hash",
                    str_field(http, "client_ip_hash")?,
                    hash::to_hex(&h.hash).as_str(),
                )?;
                same(
                    "client_ip_hash_key_id",
                    str_field(http, "client_ip_hash_key_id")?,
                    key_id,
                )?;
            }
            _ => {
                if http.get("client_ip_hash").is_some() {
                    return Err("unknown client IP, yet client_ip_hash present".into());
                }
            }
        }

        if let Some(Value::Object(unfiltered)) = ctx.get("unfiltered_meta") {
            let what = format!("{name}.meta_redaction");
            if let Some(reason) = super::skipped(&format!("audit_event_vectors.json#{what}")) {
                skipped.push((what, reason));
            } else {
                let Some(Value::Object(expected)) = unhashed.get("meta") else {
                    return Err("meta is not an object".into());
                };
                // The surface's allowlist is the keys the vector kept.
                let allowlist: Vec<&str> = expected
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != META_REDACTION_APPLIED && *k != META_REDACTED_KEYS)
                    .collect();
                same(
                    "redacted meta",
                    expected,
                    &redact_meta(unfiltered, &allowlist),
                )?;
            }
        }
        Ok(())
    });
    for (what, reason) in skipped {
        cases.skip(&what, reason);
    }
    cases.finish()
}

/// `tga/golden_trace_chain.json`: each artefact's `_digest`, then the links.
pub(super) fn golden_trace_chain(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let names = [
        "action_request",
        "supervisor_decision",
        "tool_call",
        "tool_effect",
    ];
    for name in names {
        cases.check(
            name,
            (|| {
                let artifact = field(doc, name)?;
                let digest = tga::artifact_digest(artifact).map_err(|e| e.to_string())?;
                same(
                    "_digest",
                    str_field(artifact, "_digest")?,
                    hash::to_hex(&digest).as_str(),
                )
            })(),
        );
    }
    cases.check(
        "links",
        (|| {
            tga::verify_trace(
                field(doc, "action_request")?,
                field(doc, "supervisor_decision")?,
                Some(field(doc, "tool_call")?),
                Some(field(doc, "tool_effect")?),
            )
            .map_err(|e| e.to_string())
        })(),
    );
    cases.finish()
}

/// `tga/state_transition_vectors.json`: valid logs, invalid logs with their error codes,
/// and recovery actions.
pub(super) fn state_transition_vectors(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "valid_transitions", "description", |case| {
        let entries = array_field(case, "entries")?;
        tga::verify_log(entries).map_err(|e| format!("{}: {e}", e.code()))?;
        let mut log = ExecutionLog::new();
        for entry in entries {
            log.handle_entry(entry)
                .map_err(|e| format!("handle_entry: {}: {e}", e.code()))?;
        }
        Ok(())
    });
    cases.each(doc, "invalid_transitions", "description", |case| {
        let entries = array_field(case, "entries")?;
        let want = str_field(case, "expected_error")?;
        match tga::verify_log(entries) {
            Ok(_) => return Err(format!("accepted; expected {want}")),
            Err(e) => same("error", want, e.code())?,
        }
        // One entry at a time, the log is refused too (at the first faulty entry).
        let mut log = ExecutionLog::new();
        if entries.iter().all(|entry| log.handle_entry(entry).is_ok()) {
            return Err("handle_entry accepted every entry".into());
        }
        Ok(())
    });
    cases.each(doc, "recovery_vectors", "description", |case| {
        let log = tga::verify_log(array_field(case, "initial_log")?)
            .map_err(|e| format!("{}: {e}", e.code()))?;
        let recovery = log.recovery();
        same(
            "recovery_action",
            Some(str_field(case, "recovery_action")?),
            recovery.action(),
        )?;
        let enforced = matches!(case.get("idempotency_enforced"), Some(Value::Bool(true)));
        same(
            "idempotency_enforced",
            enforced,
            matches!(recovery, Recovery::ReDispatch { .. }),
        )?;
        let after = str_field(case, "expected_state_after_recovery")?;
        match &recovery {
            Recovery::ReDispatch {
                tool_call_id,
                idempotency_key,
            } => {
                same("after re-dispatch", "COMPLETED_OR_FAILED", after)?;
                // Either effect of the re-dispatched call may be logged next.
                for to in ["COMPLETED", "FAILED"] {
                    let mut done = log.clone();
                    done.handle_entry(&effect(&log, to, tool_call_id, idempotency_key))
                        .map_err(|e| format!("effect {to}: {e}"))?;
                }
                Ok(())
            }
            Recovery::ReplayOnly { state } => same("state", after, state.as_str()),
            other => Err(format!("unexpected recovery {other:?}")),
        }
    });
    cases.finish()
}

/// The tool effect entry that follows `log`'s tool call.
fn effect(log: &ExecutionLog, to: &str, tool_call_id: &str, idempotency_key: &str) -> Value {
    let seq = u32::try_from(log.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let mut map = Map::new();
    map.insert("sequence_number".into(), Value::Number(seq.into()));
    map.insert("from_state".into(), State::Executing.as_str().into());
    map.insert("to_state".into(), to.into());
    map.insert("artifact_type".into(), "tool_effect".into());
    map.insert("tool_call_id".into(), tool_call_id.into());
    map.insert("idempotency_key".into(), idempotency_key.into());
    map.insert(
        "prev_entry_digest".into(),
        hash::to_hex(&log.last_digest()).into(),
    );
    Value::Object(map)
}
