//! talos-mcp: the tunnel's cost per allowed `tools/call` in the steady state of a session (the
//! capability already admitted), step by step — `client_request` (parse, hash, frame, sign),
//! `server_request` (decode, verify, replay check, hash, authorize from the session cache,
//! forward), `server_response` (parse, hash, frame, sign, audit record), `client_response`
//! (verify, hash, deliver) and the `round_trip` of all four — and the parts that dominate them
//! (Ed25519 over a frame, packet decoding, JSON-RPC parsing and hashing). Goal (issue 8): steps
//! 1 + 2 + 3 ≤ 50 µs at p99; criterion gives means, the `mcp_p99` binary the percentiles.
//!
//! Run: `cargo bench -p talos-benches --bench mcp`; percentiles:
//! `cargo run --release -p talos-benches --bin mcp_p99`.

// Benchmark code, not library code: a failed step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::hint::black_box;
use core::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use talos_mcp::McpMessage;
use talos_mcp::Signed;
use talos_mcp::jsonrpc::Message;
use talos_mcp::packet::Packet;

#[path = "../src/mcp.rs"]
mod mcp;

use mcp::{Tunnels, client_key, request_line};

/// Each benchmark runs whole calls and reports only the time of its step(s) (criterion's
/// `iter_custom`), so every request is answered and ids stay fresh. Group `mcp/tools_call`
/// verifies every frame's signature (the default); `mcp/channel` runs the tunnels
/// channel-authenticated (`verify_signatures` off), as a node whose packets come through the
/// peer's ratchet session does.
fn steps(c: &mut Criterion) {
    for (verify, group) in [(true, "mcp/tools_call"), (false, "mcp/channel")] {
        steps_of(c, verify, group);
    }
}

fn steps_of(c: &mut Criterion, verify: bool, group: &str) {
    let mut tunnels = Tunnels::with_verification(verify);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let names = [
        "client_request",
        "server_request",
        "server_response",
        "client_response",
    ];
    for (step, name) in names.into_iter().enumerate() {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += tunnels.timed_call()[step];
                }
                total
            });
        });
    }
    g.bench_function("enforcement", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = tunnels.timed_call();
                total += t[1] + t[2];
            }
            total
        });
    });
    g.bench_function("round_trip", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += tunnels.timed_call().iter().sum::<Duration>();
            }
            total
        });
    });
    g.finish();
    assert!(tunnels.idle());
}

/// The parts that the steps are made of, on a real call's bytes.
fn parts(c: &mut Criterion) {
    let mut tunnels = Tunnels::new();
    let id = tunnels.next();
    let line = request_line(id);
    let packet = tunnels.client_request(&line);
    let Packet::Call { frame, .. } = Packet::decode(&packet).unwrap() else {
        panic!("not a call packet");
    };
    let key = client_key();
    let public = key.verifying_key();
    let body: McpMessage = frame.frame().clone();
    println!(
        "request line {} B, call packet {} B, frame {} B",
        line.len(),
        packet.len(),
        frame.to_json().len()
    );

    let mut g = c.benchmark_group("mcp/parts");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request frame: Ed25519 verify", |b| {
        b.iter(|| black_box(&frame).verify(&public).unwrap());
    });
    g.bench_function("request frame: sign (canonical JSON + Ed25519)", |b| {
        b.iter(|| Signed::sign(black_box(body.clone()), &key).unwrap());
    });
    let message = frame.to_json();
    g.bench_function("Ed25519 sign alone (frame-sized message)", |b| {
        b.iter(|| key.sign(black_box(&message)));
    });
    g.bench_function("call packet: decode (frame parsed, not verified)", |b| {
        b.iter(|| Packet::decode(black_box(&packet)).unwrap());
    });
    g.bench_function("request line: parse + hash", |b| {
        b.iter(|| Message::parse(black_box(&line)).unwrap().hash());
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = steps, parts
}
criterion_main!(benches);
