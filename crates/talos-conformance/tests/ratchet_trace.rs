//! `ratchet-trace`: talos-v1.1 Double Ratchet traces in the upstream `v1_1_0_roundtrip.json`
//! format replay byte for byte, both the upstream file, a trace written by the upstream Python
//! SDK (`tests/data/ratchet_trace_python.json`, from `.ci/ratchet-interop/trace.py generate
//! --seed 2026 --messages 60` with talos-sdk-py 0.1.25) and long traces we generate; tampered
//! traces fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use core::time::Duration;
use std::path::PathBuf;
use std::time::Instant;

use talos_conformance::trace::{self, TraceError};
use talos_crypto::json::{self, Value};

/// `TALOS_SHARED_VECTORS`, or `../shared/vectors` beside the project root.
fn shared_vectors() -> PathBuf {
    let dir = std::env::var_os("TALOS_SHARED_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    assert!(
        dir.join("talos-contracts/test_vectors").is_dir(),
        "upstream vectors not found at {}; set TALOS_SHARED_VECTORS to the shared vectors directory",
        dir.display()
    );
    dir
}

fn read(path: PathBuf) -> Value {
    json::parse(&std::fs::read(&path).unwrap()).unwrap()
}

fn upstream() -> Value {
    read(shared_vectors().join("talos-contracts/test_vectors/sdk/ratchet/v1_1_0_roundtrip.json"))
}

fn python() -> Value {
    read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ratchet_trace_python.json"))
}

fn steps_mut(trace: &mut Value) -> &mut Vec<Value> {
    match trace {
        Value::Object(map) => match map.get_mut("steps") {
            Some(Value::Array(steps)) => steps,
            _ => panic!("no steps"),
        },
        _ => panic!("not an object"),
    }
}

fn set(step: &mut Value, key: &str, value: Option<Value>) {
    let Value::Object(map) = step else {
        panic!("step is not an object")
    };
    match value {
        Some(v) => map.insert(key.to_owned(), v),
        None => map.remove(key),
    };
}

fn get<'a>(step: &'a Value, key: &str) -> &'a str {
    step.get(key).and_then(Value::as_str).unwrap()
}

fn is(step: &Value, action: &str) -> bool {
    step.get("action").and_then(Value::as_str) == Some(action)
}

#[test]
fn upstream_golden_trace_replays() {
    let summary = trace::replay(&upstream()).unwrap();
    assert_eq!(
        (summary.steps, summary.encrypts, summary.decrypts),
        (4, 2, 2)
    );
    assert_eq!(
        summary.new_ratchet_keys, 1,
        "Bob's reply starts a new ratchet key"
    );
    assert_eq!(summary.out_of_order, 0);
}

#[test]
fn python_sdk_trace_replays() {
    let summary = trace::replay(&python()).unwrap();
    assert_eq!((summary.steps, summary.encrypts), (120, 60));
    assert!(summary.new_ratchet_keys >= 5, "{summary}");
    assert!(summary.out_of_order >= 5, "{summary}");
}

#[test]
fn long_generated_trace_replays_in_bounded_time() {
    let start = Instant::now();
    let (doc, generated) = trace::generate(20_261_122, 2_000).unwrap();
    let replayed = trace::replay(&doc).unwrap();
    assert_eq!(generated, replayed);
    assert_eq!((replayed.steps, replayed.encrypts), (4_000, 2_000));
    assert!(replayed.new_ratchet_keys >= 100, "{replayed}");
    assert!(replayed.out_of_order >= 100, "{replayed}");
    // Generation replays too, so this is three passes over 2 000 messages.
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn generation_is_deterministic_per_seed() {
    let (a, _) = trace::generate(5, 30).unwrap();
    let (b, _) = trace::generate(5, 30).unwrap();
    let (c, _) = trace::generate(6, 30).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Written and read back through the strict parser, it still replays.
    let text = talos_conformance::golden::to_pretty(&a);
    trace::replay(&json::parse(text.as_bytes()).unwrap()).unwrap();
}

#[test]
fn a_single_message_trace_replays() {
    let (doc, summary) = trace::generate(1, 1).unwrap();
    assert_eq!(
        (summary.steps, summary.encrypts, summary.decrypts),
        (2, 1, 1)
    );
    trace::replay(&doc).unwrap();
}

#[test]
fn generate_refuses_out_of_range_counts() {
    assert!(matches!(
        trace::generate(1, 0),
        Err(TraceError::Malformed(_))
    ));
    assert!(matches!(
        trace::generate(1, trace::MAX_MESSAGES + 1),
        Err(TraceError::Malformed(_))
    ));
}

/// Applies `change` to a copy of `doc` and expects replay to fail with a mismatch.
fn expect_mismatch(doc: &Value, what: &str, change: impl FnOnce(&mut Vec<Value>)) {
    let mut doc = doc.clone();
    change(steps_mut(&mut doc));
    match trace::replay(&doc) {
        Err(TraceError::Mismatch(_)) => {}
        other => panic!("{what}: expected a mismatch, got {other:?}"),
    }
}

#[test]
fn tampered_traces_fail() {
    for doc in [upstream(), python()] {
        expect_mismatch(&doc, "wrong expected plaintext", |steps| {
            let step = steps.iter_mut().rfind(|s| is(s, "decrypt")).unwrap();
            set(step, "expected_plaintext", Some(Value::from("dGFtcGVyZWQ")));
        });
        expect_mismatch(&doc, "other nonce", |steps| {
            let step = steps.iter_mut().find(|s| is(s, "encrypt")).unwrap();
            let nonce = get(step, "nonce");
            let first = if nonce.starts_with('A') { "B" } else { "A" };
            let nonce = format!("{first}{}", &nonce[1..]);
            set(step, "nonce", Some(Value::from(nonce)));
        });
        expect_mismatch(&doc, "other ciphertext", |steps| {
            let step = steps.iter_mut().rfind(|s| is(s, "encrypt")).unwrap();
            let mut ct = talos_crypto::base64url::decode(get(step, "ciphertext")).unwrap();
            ct[0] ^= 1;
            set(
                step,
                "ciphertext",
                Some(Value::from(talos_crypto::base64url::encode(&ct))),
            );
        });
        expect_mismatch(&doc, "missing ratchet_priv", |steps| {
            let step = steps
                .iter_mut()
                .find(|s| s.get("ratchet_priv").is_some())
                .unwrap();
            set(step, "ratchet_priv", None);
        });
        expect_mismatch(&doc, "forged message", |steps| {
            let wire = steps
                .iter()
                .rfind(|s| is(s, "encrypt"))
                .map(|s| get(s, "wire_message_b64u").to_owned())
                .unwrap();
            let mut bytes = talos_crypto::base64url::decode(&wire).unwrap();
            // Flip a bit inside the ciphertext's base64url text: still valid JSON and b64u.
            let pos = 16;
            bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
            let forged = talos_crypto::base64url::encode(&bytes);
            let step = steps
                .iter_mut()
                .rfind(|s| is(s, "decrypt") && get(s, "wire_message_b64u") == wire)
                .unwrap();
            set(step, "wire_message_b64u", Some(Value::from(forged)));
        });
    }
}

#[test]
fn malformed_traces_are_refused() {
    let doc = upstream();
    let mut no_steps = doc.clone();
    steps_mut(&mut no_steps).clear();
    assert!(matches!(
        trace::replay(&no_steps),
        Err(TraceError::Malformed(_))
    ));
    let mut unknown = doc.clone();
    set(
        &mut steps_mut(&mut unknown)[0],
        "action",
        Some(Value::from("shred")),
    );
    assert!(matches!(
        trace::replay(&unknown),
        Err(TraceError::Malformed(_))
    ));
    let mut twice = python();
    let steps = steps_mut(&mut twice);
    let first = steps.iter().position(|s| is(s, "decrypt")).unwrap();
    let dup = steps[first].clone();
    steps.insert(first + 1, dup);
    assert!(matches!(
        trace::replay(&twice),
        Err(TraceError::Malformed(_))
    ));
    assert!(matches!(
        trace::replay(&Value::from("not a trace")),
        Err(TraceError::Malformed(_))
    ));
}

#[test]
fn the_command_line_replays_and_generates() {
    let bin = env!("CARGO_BIN_EXE_talos-conformance");
    let dir = std::env::temp_dir().join(format!("talos-ratchet-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("ours.json");
    let status = std::process::Command::new(bin)
        .args(["ratchet-trace", "--generate"])
        .arg(&out)
        .args(["--seed", "9", "--messages", "50"])
        .status()
        .unwrap();
    assert!(status.success());
    let replay = |path: &std::path::Path| {
        std::process::Command::new(bin)
            .arg("ratchet-trace")
            .arg(path)
            .output()
            .unwrap()
    };
    let ok = replay(&out);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let mut bad = read(out.clone());
    let step = steps_mut(&mut bad)
        .iter_mut()
        .rfind(|s| is(s, "decrypt"))
        .unwrap();
    set(step, "expected_plaintext", Some(Value::from("dGFtcGVyZWQ")));
    let bad_path = dir.join("bad.json");
    std::fs::write(&bad_path, bad.to_canonical_vec()).unwrap();
    assert_eq!(replay(&bad_path).status.code(), Some(1));
    std::fs::write(&bad_path, b"{}").unwrap();
    assert_eq!(replay(&bad_path).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
