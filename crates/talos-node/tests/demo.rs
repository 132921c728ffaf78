#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! `talos demo` runs its three-node story and exits 0; its transcript shows every step.

mod common;

use core::time::Duration;
use std::process::Command;

use common::{TALOS, finish};

#[test]
fn the_demo_runs_every_step() {
    let output = finish(
        Command::new(TALOS).arg("demo").env_remove("TALOS_HOME"),
        Duration::from_secs(120),
    );
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
        "identical true",
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
