#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! TGA traces: the golden digest chain, the execution-log state machine, recovery.

use std::path::PathBuf;

use proptest::prelude::*;
use talos_crypto::hash;
use talos_crypto::json::{self, Map, Value};
use talos_ledger::tga::{
    self, ArtifactType, ExecutionLog, GENESIS_PREV_DIGEST, Recovery, State, TgaError, is_legal,
    verify_log, verify_trace,
};

/// Where the shared vectors live: `$TALOS_SHARED_VECTORS`, else `../../../shared/vectors`
/// from this crate (the project layout puts `shared/` beside `main/`).
fn shared_vectors_dir() -> PathBuf {
    std::env::var_os("TALOS_SHARED_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    )
}

fn load(name: &str) -> Value {
    let path = shared_vectors_dir()
        .join("talos-contracts/test_vectors/tga")
        .join(name);
    json::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn chain() -> [Value; 4] {
    let doc = load("golden_trace_chain.json");
    [
        "action_request",
        "supervisor_decision",
        "tool_call",
        "tool_effect",
    ]
    .map(|k| doc.get(k).unwrap().clone())
}

fn set(v: &mut Value, key: &str, to: Value) {
    let Value::Object(m) = v else { panic!() };
    m.insert(key.into(), to);
}

/// Recomputes `_digest` after an edit, so that only the link is wrong.
fn redigest(v: &mut Value) {
    let d = tga::artifact_digest(v).unwrap();
    set(v, "_digest", Value::String(hash::to_hex(&d)));
}

#[test]
fn golden_chain_digests_and_links() {
    let [req, dec, call, eff] = chain();
    let want = [
        "2324025c70403e13382cfcd81abfabd77fb99163b23835088f7aceec54d8cf71",
        "6693053f45301214ff15e9ea7b1ab7d683c7b848af6f08edd9be2b91aac3e7af",
        "4b2525328b1bd4790f211f69e9b2700e2561261e6e39e242bcb6b7ae3a8c1ad1",
        "fcbee14c2f8459744b195e577cff091e014e7879776d1710ddd717c6912d41cd",
    ];
    for (artifact, want) in [&req, &dec, &call, &eff].into_iter().zip(want) {
        assert_eq!(hash::to_hex(&tga::artifact_digest(artifact).unwrap()), want);
    }
    verify_trace(&req, &dec, Some(&call), Some(&eff)).unwrap();
    // Shorter traces: denied (no call), call without effect.
    verify_trace(&req, &dec, None, None).unwrap();
    verify_trace(&req, &dec, Some(&call), None).unwrap();
    assert!(matches!(
        verify_trace(&req, &dec, None, Some(&eff)),
        Err(TgaError::BrokenLink(_))
    ));
}

#[test]
fn tampering_is_caught() {
    let [req, dec, call, eff] = chain();
    // Content changed, _digest left: digest mismatch.
    let mut bad = call.clone();
    set(
        &mut bad,
        "ts",
        Value::String("2026-01-15T14:55:00.001Z".into()),
    );
    let err = verify_trace(&req, &dec, Some(&bad), Some(&eff)).unwrap_err();
    assert_eq!(err, TgaError::DigestMismatch("tool_call"));
    assert_eq!(err.code(), "DIGEST_MISMATCH");
    // _digest_alg is in the preimage, and must be sha256.
    let mut bad = req.clone();
    set(&mut bad, "_digest_alg", Value::String("sha512".into()));
    assert!(verify_trace(&bad, &dec, None, None).is_err());
    // Content changed and re-digested: the next artefact's link breaks.
    let mut bad = dec.clone();
    set(&mut bad, "rationale", Value::String("Approved!".into()));
    redigest(&mut bad);
    assert_eq!(
        verify_trace(&req, &bad, Some(&call), Some(&eff)),
        Err(TgaError::BrokenLink("supervisor_decision_digest"))
    );
    // Another trace id, re-digested: refused.
    let mut bad = eff.clone();
    set(
        &mut bad,
        "trace_id",
        Value::String("01946896-1234-7567-89ab-000000000099".into()),
    );
    redigest(&mut bad);
    assert_eq!(
        verify_trace(&req, &dec, Some(&call), Some(&bad)),
        Err(TgaError::BrokenLink("trace_id"))
    );
    // Wrong schema_id for the slot.
    assert!(matches!(
        verify_trace(&dec, &dec, None, None),
        Err(TgaError::Malformed {
            field: "schema_id",
            ..
        })
    ));
    // Uppercase hex is not the format.
    let mut bad = req.clone();
    let upper = bad.get("_digest").unwrap().as_str().unwrap().to_uppercase();
    set(&mut bad, "_digest", Value::String(upper));
    assert!(matches!(
        verify_trace(&bad, &dec, None, None),
        Err(TgaError::Malformed {
            field: "_digest",
            ..
        })
    ));
}

fn entry(seq: u32, from: State, to: State, artifact: ArtifactType) -> Value {
    let mut m = Map::new();
    m.insert("sequence_number".into(), Value::Number(seq.into()));
    m.insert("from_state".into(), from.as_str().into());
    m.insert("to_state".into(), to.as_str().into());
    m.insert("artifact_type".into(), artifact.as_str().into());
    if matches!(artifact, ArtifactType::ToolCall | ArtifactType::ToolEffect) {
        m.insert("tool_call_id".into(), "call-1".into());
        m.insert("idempotency_key".into(), "key-1".into());
    }
    Value::Object(m)
}

fn happy(last: State) -> Vec<Value> {
    use ArtifactType as A;
    use State as S;
    let mut v = vec![
        entry(1, S::Pending, S::Pending, A::ActionRequest),
        entry(2, S::Pending, S::Authorized, A::SupervisorDecision),
        entry(3, S::Authorized, S::Executing, A::ToolCall),
    ];
    v.push(entry(4, S::Executing, last, A::ToolEffect));
    v
}

#[test]
fn state_transition_vectors_pass() {
    let doc = load("state_transition_vectors.json");
    let list = |k: &str| match doc.get(k) {
        Some(Value::Array(a)) => a.clone(),
        _ => panic!("{k}"),
    };
    let entries = |c: &Value, k: &str| match c.get(k) {
        Some(Value::Array(a)) => a.clone(),
        _ => panic!("{k}"),
    };
    let valid = list("valid_transitions");
    assert_eq!(valid.len(), 3);
    for case in &valid {
        let log = verify_log(&entries(case, "entries")).unwrap();
        assert!(log.state().unwrap().is_final());
    }
    let invalid = list("invalid_transitions");
    assert_eq!(invalid.len(), 6);
    for case in &invalid {
        let want = case.get("expected_error").unwrap().as_str().unwrap();
        assert_eq!(
            verify_log(&entries(case, "entries")).unwrap_err().code(),
            want
        );
    }
    let recovery = list("recovery_vectors");
    assert_eq!(recovery.len(), 2);
    let actions: Vec<_> = recovery
        .iter()
        .map(|c| verify_log(&entries(c, "initial_log")).unwrap().recovery())
        .collect();
    assert_eq!(
        actions[0],
        Recovery::ReDispatch {
            tool_call_id: "01936a8b-4c2d-7000-8001-000000000003".into(),
            idempotency_key: "idem-key-003".into(),
        }
    );
    assert_eq!(actions[0].action(), Some("RE_DISPATCH_SAME_TOOL_CALL"));
    assert_eq!(
        actions[1],
        Recovery::ReplayOnly {
            state: State::Completed
        }
    );
    assert_eq!(actions[1].action(), Some("REPLAY_ONLY_NO_DISPATCH"));
}

#[test]
fn handle_entry_refuses_without_changing_state() {
    let mut log = ExecutionLog::new();
    assert_eq!(log.recovery(), Recovery::Empty);
    let steps = happy(State::Completed);
    log.handle_entry(&steps[0]).unwrap();
    // Replaying the genesis entry: duplicate sequence number.
    let err = log.handle_entry(&steps[0]).unwrap_err();
    assert_eq!(err.code(), "STATE_SEQUENCE_GAP");
    // Skipping ahead.
    assert_eq!(
        log.handle_entry(&steps[2]).unwrap_err(),
        TgaError::SequenceGap {
            expected: 2,
            got: 3
        }
    );
    assert_eq!(log.len(), 1);
    assert_eq!(
        log.recovery(),
        Recovery::Resume {
            state: State::Pending
        }
    );
    log.handle_entry(&steps[1]).unwrap();
    // A tool call without its id; then with a null id.
    let mut call = steps[2].clone();
    let Value::Object(m) = &mut call else {
        panic!()
    };
    m.remove("tool_call_id");
    assert_eq!(
        log.handle_entry(&call).unwrap_err().code(),
        "MISSING_TOOL_CALL_ID"
    );
    set(&mut call, "tool_call_id", Value::Null);
    assert_eq!(
        log.handle_entry(&call).unwrap_err().code(),
        "MISSING_TOOL_CALL_ID"
    );
    assert_eq!(log.state(), Some(State::Authorized));
    log.handle_entry(&steps[2]).unwrap();
    // The effect must name the logged call.
    let mut other = steps[3].clone();
    set(&mut other, "tool_call_id", "call-2".into());
    assert_eq!(
        log.handle_entry(&other),
        Err(TgaError::ToolCallMismatch { seq: 4 })
    );
    log.handle_entry(&steps[3]).unwrap();
    // Final: nothing more, whatever it claims.
    for to in [State::Completed, State::Failed, State::Executing] {
        let e = entry(5, State::Completed, to, ArtifactType::ToolEffect);
        assert_eq!(
            log.handle_entry(&e).unwrap_err().code(),
            "STATE_INVALID_TRANSITION"
        );
    }
    assert_eq!(log.len(), 4);
    assert_eq!(
        log.recovery(),
        Recovery::ReplayOnly {
            state: State::Completed
        }
    );
}

#[test]
fn digests_chain_entries() {
    let mut log = ExecutionLog::new();
    let mut steps = happy(State::Failed);
    // Genesis: prev_entry_digest is 32 zero bytes (64 hex zeros).
    set(
        &mut steps[0],
        "prev_entry_digest",
        Value::String("0".repeat(64)),
    );
    let d0 = tga::entry_digest(&steps[0]).unwrap();
    set(
        &mut steps[0],
        "entry_digest",
        Value::String(hash::to_hex(&d0)),
    );
    log.handle_entry(&steps[0]).unwrap();
    assert_eq!(log.last_digest(), d0);
    assert_ne!(d0, GENESIS_PREV_DIGEST);
    // A wrong prev_entry_digest breaks the chain; the right one is accepted.
    set(
        &mut steps[1],
        "prev_entry_digest",
        Value::String("0".repeat(64)),
    );
    assert_eq!(
        log.handle_entry(&steps[1]),
        Err(TgaError::BrokenLink("prev_entry_digest"))
    );
    set(
        &mut steps[1],
        "prev_entry_digest",
        Value::String(hash::to_hex(&d0)),
    );
    log.handle_entry(&steps[1]).unwrap();
    // A claimed entry_digest that does not match.
    set(
        &mut steps[2],
        "entry_digest",
        Value::String(hash::to_hex(&d0)),
    );
    assert_eq!(
        log.handle_entry(&steps[2]),
        Err(TgaError::DigestMismatch("entry_digest"))
    );
    // Malformed members.
    set(&mut steps[2], "entry_digest", Value::String("xyz".into()));
    assert!(matches!(
        log.handle_entry(&steps[2]),
        Err(TgaError::Malformed { .. })
    ));
    set(&mut steps[2], "sequence_number", Value::String("3".into()));
    assert!(matches!(
        log.handle_entry(&steps[2]),
        Err(TgaError::Malformed { .. })
    ));
    assert_eq!(log.len(), 2);
}

#[test]
fn recovery_without_idempotency_key_is_unresolved() {
    let mut steps = happy(State::Completed);
    steps.truncate(3);
    let Value::Object(m) = &mut steps[2] else {
        panic!()
    };
    m.remove("idempotency_key");
    let log = verify_log(&steps).unwrap();
    assert_eq!(
        log.recovery(),
        Recovery::Unresolved {
            tool_call_id: "call-1".into()
        }
    );
    assert_eq!(log.recovery().action(), None);
    // Denied is final too.
    let denied = [
        entry(
            1,
            State::Pending,
            State::Pending,
            ArtifactType::ActionRequest,
        ),
        entry(
            2,
            State::Pending,
            State::Denied,
            ArtifactType::SupervisorDecision,
        ),
    ];
    let log = verify_log(&denied).unwrap();
    assert_eq!(
        log.recovery(),
        Recovery::ReplayOnly {
            state: State::Denied
        }
    );
}

#[test]
fn long_and_oversized_input_is_refused() {
    let mut steps = happy(State::Completed);
    steps.push(entry(
        5,
        State::Completed,
        State::Completed,
        ArtifactType::ToolEffect,
    ));
    assert!(matches!(
        verify_log(&steps),
        Err(TgaError::Malformed { field: "log", .. })
    ));
    assert!(matches!(
        tga::parse(&vec![b' '; tga::MAX_ARTIFACT_LEN + 1]),
        Err(TgaError::TooLarge { .. })
    ));
}

const STATES: [State; 6] = [
    State::Pending,
    State::Authorized,
    State::Executing,
    State::Completed,
    State::Failed,
    State::Denied,
];
const ARTIFACTS: [ArtifactType; 4] = [
    ArtifactType::ActionRequest,
    ArtifactType::SupervisorDecision,
    ArtifactType::ToolCall,
    ArtifactType::ToolEffect,
];

proptest! {
    /// Random logs, biased towards well-formed ones (consecutive sequence numbers, each entry
    /// from the previous state): the layered verifier and one-at-a-time appends accept the
    /// same logs, and every accepted log follows the table from PENDING.
    #[test]
    fn verifier_and_state_machine_agree(
        steps in proptest::collection::vec(
            (
                prop_oneof![4 => Just(None), 1 => (0u32..6).prop_map(Some)],
                prop_oneof![4 => Just(None), 1 => (0usize..6).prop_map(Some)],
                0usize..6,
                0usize..4,
                prop_oneof![4 => Just(true), 1 => Just(false)],
            ),
            0..6,
        )
    ) {
        let mut state = 0;
        let mut concrete = Vec::new();
        for (i, &(seq, from, to, art, id)) in steps.iter().enumerate() {
            let seq = seq.unwrap_or(u32::try_from(i).unwrap() + 1);
            let from = from.unwrap_or(state);
            concrete.push((seq, from, to, art, id));
            state = to;
        }
        let entries: Vec<Value> = concrete
            .iter()
            .map(|&(seq, from, to, art, id)| {
                let mut e = entry(seq, STATES[from], STATES[to], ARTIFACTS[art]);
                if !id {
                    set(&mut e, "tool_call_id", Value::Null);
                }
                e
            })
            .collect();
        let mut log = ExecutionLog::new();
        let appended = entries.iter().all(|e| log.handle_entry(e).is_ok());
        let verified = verify_log(&entries);
        prop_assert_eq!(appended, verified.is_ok());
        if appended {
            let mut state = State::Pending;
            for (i, &(seq, from, to, art, _)) in concrete.iter().enumerate() {
                prop_assert_eq!(u64::from(seq), i as u64 + 1);
                prop_assert_eq!(STATES[from], state);
                prop_assert!(is_legal(u64::from(seq), STATES[from], STATES[to], ARTIFACTS[art]));
                state = STATES[to];
            }
            prop_assert_eq!(log.state(), concrete.last().map(|c| STATES[c.2]));
        }
    }

    #[test]
    fn arbitrary_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(v) = tga::parse(&bytes) {
            let _ = ExecutionLog::new().handle_entry(&v);
            let _ = verify_trace(&v, &v, Some(&v), Some(&v));
        }
    }
}
