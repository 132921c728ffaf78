//! What the tests that run the `talos` binary share: bounded runs of a command, and
//! long-running `talos` processes (`listen`, `mcp-serve`) that write their address to a port
//! file.

#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use core::time::Duration;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Instant;

pub const TALOS: &str = env!("CARGO_BIN_EXE_talos");

/// Runs `command` to completion within `limit`, its output captured.
pub fn finish(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("{command:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `talos --data-dir DIR ARGS…`, without the caller's passphrase or log settings.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(TALOS);
    command
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("TALOS_PASSPHRASE")
        .env_remove("RUST_LOG");
    command
}

/// Runs `talos --data-dir DIR ARGS…` to completion, at most 60 s.
pub fn talos(dir: &Path, args: &[&str]) -> Output {
    finish(&mut command(dir, args), Duration::from_secs(60))
}

/// As [`talos`], which must succeed: its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let output = talos(dir, args);
    assert!(
        output.status.success(),
        "talos {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A long-running `talos` process that writes its address to `<dir>.port`; killed when
/// dropped.
pub struct Process {
    child: Child,
    port_file: PathBuf,
}

impl Process {
    /// `talos --data-dir DIR ARGS… --port-file <dir>.port`, its stdout and stderr as given.
    pub fn start(dir: &Path, args: &[&str], stdout: Stdio, stderr: Stdio) -> Self {
        let port_file = dir.with_extension("port");
        let _ = std::fs::remove_file(&port_file);
        let child = command(dir, args)
            .arg("--port-file")
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        Self { child, port_file }
    }

    /// `talos listen` on a free loopback port, bootstrapped off `bootstrap`, with `extra`
    /// arguments; its stdout is kept for [`stop`](Self::stop), its stderr dropped.
    pub fn listen(dir: &Path, bootstrap: Option<&str>, extra: &[&str]) -> Self {
        let mut args = vec!["listen", "--listen", "/ip4/127.0.0.1/tcp/0"];
        if let Some(addr) = bootstrap {
            args.extend(["--bootstrap", addr]);
        }
        args.extend(extra);
        Self::start(dir, &args, Stdio::piped(), Stdio::null())
    }

    /// The multiaddr the process wrote, once it is there.
    pub fn addr(&mut self) -> String {
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.port_file)
                && text.ends_with('\n')
            {
                return text.trim().to_owned();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("talos exited before listening: {status}");
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no port file");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }

    /// SIGTERM, a clean exit within 20 s, and what it printed on stdout (if kept).
    pub fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                self.child.kill().unwrap();
                panic!("talos did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "talos exited with {status}");
        out
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
