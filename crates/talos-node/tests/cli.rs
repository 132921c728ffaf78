#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![cfg(unix)]
//! The `talos` binary in temporary data directories: `init`, `id`, two `listen` processes
//! with `--port-file`, `send` exiting 0 with the receipt, `history` showing it, and `send` to
//! an unreachable DID failing within its `--timeout`.

mod common;

use core::time::Duration;
use std::time::Instant;

use common::{Process, TALOS, ok, talos};

#[test]
fn init_listen_send_history() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    let a_did = ok(&a, &["init", "--no-passphrase", "--name", "alice"]);
    let a_did = a_did.trim();
    assert!(a_did.starts_with("did:key:z6Mk"), "{a_did}");
    assert_eq!(ok(&a, &["id"]).trim(), a_did);
    ok(&b, &["init", "--no-passphrase"]);
    let c_did = ok(&c, &["init", "--no-passphrase"]).trim().to_owned();
    // A second init refuses to replace the identity.
    assert!(!talos(&a, &["init", "--no-passphrase"]).status.success());
    // Without a passphrase and without --no-passphrase, init refuses.
    assert!(!talos(&root.path().join("d"), &["init"]).status.success());

    let mut b_listener = Process::listen(&b, None, &[]);
    let b_addr = b_listener.addr();
    assert!(b_addr.contains("/p2p/12D3KooW"), "{b_addr}");
    let mut c_listener = Process::listen(&c, Some(&b_addr), &[]);
    c_listener.addr();

    let sent = ok(
        &a,
        &[
            "send",
            "--bootstrap",
            &b_addr,
            "--timeout",
            "30",
            &c_did,
            "hello from a",
        ],
    );
    assert!(sent.starts_with("delivered "), "{sent}");

    let history = ok(&a, &["history", "--peer", &c_did]);
    assert!(history.contains("[delivered] hello from a"), "{history}");
    let json = ok(&a, &["--json", "history"]);
    assert!(json.contains("\"status\":\"delivered\""), "{json}");

    // An unreachable DID: non-zero within the timeout, and the message stays pending.
    let nobody = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
    let start = Instant::now();
    let failed = talos(
        &a,
        &[
            "send",
            "--bootstrap",
            &b_addr,
            "--timeout",
            "3",
            nobody,
            "anyone?",
        ],
    );
    let took = start.elapsed();
    assert!(!failed.status.success());
    assert!(took < Duration::from_secs(8), "send took {took:?}");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("no receipt"), "{stderr}");
    let history = ok(&a, &["history"]);
    assert!(history.contains("[pending] anyone?"), "{history}");

    let printed = c_listener.stop();
    assert!(
        printed.contains(&format!("{a_did}: hello from a")),
        "{printed}"
    );
    b_listener.stop();
    let received = ok(&c, &["history"]);
    assert!(received.contains("[received] hello from a"), "{received}");
    let status = ok(&a, &["--json", "status"]);
    assert!(status.contains("\"name\":\"alice\""), "{status}");
}

/// While `talos listen` holds a data directory, other commands on it go through its control
/// socket: the running node answers them.
#[test]
fn commands_reach_a_running_node_through_its_control_socket() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let a_did = ok(&a, &["init", "--no-passphrase"]).trim().to_owned();
    let b_did = ok(&b, &["init", "--no-passphrase"]).trim().to_owned();
    let mut b_listener = Process::listen(&b, None, &[]);
    let b_addr = b_listener.addr();
    let mut a_listener = Process::listen(&a, Some(&b_addr), &[]);
    a_listener.addr();
    assert!(a.join("control.sock").exists());

    // Read commands, answered by the running nodes.
    assert_eq!(ok(&a, &["id"]).trim(), a_did);
    let status = ok(&b, &["--json", "status"]);
    assert!(status.contains(&b_did), "{status}");
    // `send` from A's directory: A's running node sends it and waits for the receipt.
    let sent = ok(
        &a,
        &["send", "--timeout", "30", &b_did, "through the socket"],
    );
    assert!(sent.starts_with("delivered "), "{sent}");
    let history = ok(&b, &["history"]);
    assert!(
        history.contains("[received] through the socket"),
        "{history}"
    );
    // A file, the same way: it lands in B's files directory, whole.
    let file = root.path().join("notes.txt");
    std::fs::write(&file, "a file through two running nodes\n".repeat(10_000)).unwrap();
    let sent = ok(&a, &["send-file", &b_did, file.to_str().unwrap()]);
    assert!(sent.starts_with("delivered "), "{sent}");
    assert_eq!(
        std::fs::read(b.join("files").join("notes.txt")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    // Capabilities and the ledger, on the running node's store and key.
    let cap = root.path().join("cap.json");
    ok(
        &b,
        &[
            "cap",
            "issue",
            "--to",
            &a_did,
            "--allow-tool",
            "echo",
            "--ttl",
            "60",
            "--out",
            cap.to_str().unwrap(),
        ],
    );
    let shown = ok(&b, &["cap", "show", cap.to_str().unwrap()]);
    assert!(shown.contains("valid"), "{shown}");
    ok(&b, &["ledger", "verify"]);
    // A command's failure comes back with its exit code and message.
    let refused = talos(&b, &["history", "--peer", "not-a-did"]);
    assert!(!refused.status.success());
    assert!(!String::from_utf8_lossy(&refused.stderr).is_empty());
    // Commands that start a node of their own still refuse a held directory.
    assert!(!talos(&b, &["init", "--no-passphrase"]).status.success());

    a_listener.stop();
    b_listener.stop();
    assert!(!a.join("control.sock").exists());
    assert_eq!(ok(&a, &["id"]).trim(), a_did);
}

/// `GET path` on 127.0.0.1:`port`: the whole response.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn listen_serves_health_and_metrics() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    ok(&a, &["init", "--no-passphrase"]);
    let b_did = ok(&b, &["init", "--no-passphrase"]).trim().to_owned();
    // A free port for the metrics (released just before the listener binds it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let mut b_listener = Process::listen(&b, None, &["--metrics", &metrics]);
    let b_addr = b_listener.addr();
    let start = Instant::now();
    let ready = loop {
        let response = std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok()
            .then(|| http_get(port, "/health/ready"));
        if let Some(response) = response
            && response.starts_with("HTTP/1.1 200")
        {
            break response;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never ready");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ready.ends_with("ready\n"), "{ready}");
    assert!(http_get(port, "/health/live").starts_with("HTTP/1.1 200"));
    let sent = ok(&a, &["send", "--bootstrap", &b_addr, &b_did, "counted"]);
    assert!(sent.starts_with("delivered "), "{sent}");
    let start = Instant::now();
    loop {
        let scrape = http_get(port, "/metrics");
        assert!(scrape.contains("\ntalos_ready 1\n"), "{scrape}");
        if scrape.contains("\ntalos_messages_received_total 1\n") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{scrape}");
        std::thread::sleep(Duration::from_millis(50));
    }
    b_listener.stop();
}

/// `talos ARGS…` on a pseudo-terminal (util-linux `script`), `typed` written to it: its exit
/// status and what the terminal showed.
fn on_terminal(dir: &std::path::Path, args: &str, typed: &str) -> (bool, String) {
    use std::io::Write as _;
    let line = format!("{TALOS} --data-dir {} {args}", dir.display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("TALOS_PASSPHRASE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` (Debian's bsdutils) to run a pseudo-terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{line} did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn the_passphrase_is_asked_on_a_terminal() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a");
    // A new key asks twice; two different answers refuse.
    let (ok_init, shown) = on_terminal(&dir, "init", "one\ntwo\n");
    assert!(
        !ok_init && shown.contains("the passphrases differ"),
        "{shown}"
    );
    let (ok_init, shown) = on_terminal(&dir, "init", "horse staple\nhorse staple\n");
    assert!(ok_init, "{shown}");
    assert!(shown.contains("Passphrase for the identity key"), "{shown}");
    let did = ok(&dir, &["id"]).trim().to_owned();
    assert!(ok(&dir, &["status"]).contains("encrypted"));
    // Using the key asks once: the right passphrase signs, a wrong one is refused.
    let issue = format!("cap issue --to {did} --allow-tool echo --ttl 60");
    let (signed, shown) = on_terminal(&dir, &issue, "horse staple\n");
    assert!(signed && shown.contains(r#""iss":""#), "{shown}");
    let (signed, shown) = on_terminal(&dir, &issue, "battery\n");
    assert!(!signed && shown.contains("wrong passphrase"), "{shown}");
    // Without a terminal and without TALOS_PASSPHRASE, the error says what to do.
    let output = talos(
        &dir,
        &[
            "cap",
            "issue",
            "--to",
            &did,
            "--allow-tool",
            "echo",
            "--ttl",
            "60",
        ],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("TALOS_PASSPHRASE"));
}
