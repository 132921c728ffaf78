#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! `talos demo` runs its three-node story and exits 0; its transcript shows every step.

use core::time::Duration;
use std::process::{Command, Stdio};
use std::time::Instant;

#[test]
fn the_demo_runs_every_step() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_talos"))
        .arg("demo")
        .env_remove("TALOS_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("talos demo did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let transcript = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{transcript}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "through the DHT",
        "[x3dh] bob started a session",
        "[msg] carol got: \"hello carol, this is bob\"",
        "[msg] bob got:   \"hi bob, carol here\"",
        "[mcp] tools/list through the tunnel: [\"echo\"]",
        "[mcp] tools/call echo: allowed",
        "[mcp] tools/call delete_everything: denied → code -31403",
        "consistency proof",
        "Advanced",
        "inclusion proof of entry #1",
        "== done: every step checked ==",
    ] {
        assert!(
            transcript.contains(step),
            "missing {step:?} in:\n{transcript}"
        );
    }
}
