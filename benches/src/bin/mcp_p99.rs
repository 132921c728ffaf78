//! `mcp_p99`: percentiles of the talos-mcp tunnel's enforcement overhead per allowed
//! `tools/call`, which criterion (means only) does not give.
//!
//! Twice — with every frame's signature verified (the default), and channel-authenticated
//! (`verify_signatures` off, as a node whose packets come through the peer's ratchet session
//! runs it) — after [`WARM_UP`] calls it runs [`CALLS`] allowed calls of one session
//! (capability already admitted, fresh ids, clocks advancing 10 ms per call; see
//! `src/mcp.rs`), timing each of the four steps on its own, and prints p50 / p99 / p99.9 of
//! each step, of steps 2 + 3 (the server side's enforcement: parse, authorize from the session
//! cache, forward; parse, hash, frame, sign, audit — issue 8's goal: ≤ 50 µs at p99) and of the
//! round trip. Then, for the breakdown, the median of an Ed25519 signature and of a
//! verification of a real request frame, timed the same way. A single timing includes reading
//! the clock twice (tens of ns, printed too).
//!
//! Run: `cargo run --release -p talos-benches --bin mcp_p99` (a few seconds).

// Benchmark code, not library code: a failed step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::hint::black_box;
use core::time::Duration;
use std::time::Instant;

use talos_mcp::packet::Packet;
use talos_mcp::{McpMessage, Signed};

#[path = "../mcp.rs"]
mod mcp;

use mcp::{Tunnels, client_key, request_line, response_line};

/// Calls made before timing starts.
const WARM_UP: usize = 2_000;
/// Calls timed.
const CALLS: usize = 20_000;
/// Goal for the enforcement overhead (steps 2 + 3) at p99 (issue 8).
const GOAL_US: f64 = 50.0;

/// p50, p99 and p99.9 of `v`, in µs.
fn percentiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let i = ((v.len() as f64 * p) as usize).min(v.len() - 1);
        v[i] / 1e3
    };
    (at(0.50), at(0.99), at(0.999))
}

fn line(name: &str, v: &mut [f64]) -> f64 {
    let (p50, p99, p999) = percentiles(v);
    println!("{name:<40} p50 {p50:>7.1} µs   p99 {p99:>7.1} µs   p99.9 {p999:>7.1} µs");
    p99
}

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn main() {
    let start = Instant::now();
    let mut tunnels = Tunnels::new();
    let id = tunnels.next();
    let (request, response) = (request_line(id), response_line(id));
    let packet = tunnels.client_request(&request);
    let forwarded = tunnels.server_request(&packet);
    let reply = tunnels.server_response(&response);
    tunnels.client_response(&reply);
    assert_eq!(forwarded, request);
    println!(
        "talos-mcp, {CALLS} allowed tools/call in one session (after {WARM_UP} warm-up calls); \
         request {} B, call packet {} B, answer {} B, reply packet {} B",
        request.len(),
        packet.len(),
        response.len(),
        reply.len()
    );
    for (verify, title) in [
        (true, "every frame's signature verified (the default)"),
        (
            false,
            "channel-authenticated (verify_signatures off, as talos-node runs the tunnel)",
        ),
    ] {
        println!("\n{title}:");
        measure(&mut Tunnels::with_verification(verify), verify);
    }
    // The two Ed25519 operations on a real request frame, for the breakdown.
    let id = tunnels.next();
    let packet = tunnels.client_request(&request_line(id));
    let Packet::Call { frame, .. } = Packet::decode(&packet).unwrap() else {
        panic!("not a call packet");
    };
    let key = client_key();
    let public = key.verifying_key();
    let body: McpMessage = frame.frame().clone();
    let mut verify = Vec::with_capacity(CALLS / 4);
    let mut sign = Vec::with_capacity(CALLS / 4);
    let mut raw_sign = Vec::with_capacity(CALLS / 4);
    let mut clock = Vec::with_capacity(CALLS / 4);
    // A message as long as the frame (the signed bytes are the frame without `sig`).
    let message = frame.to_json();
    for _ in 0..CALLS / 4 {
        let t = Instant::now();
        black_box(&frame).verify(&public).unwrap();
        verify.push(ns(t.elapsed()));
        let b = body.clone();
        let t = Instant::now();
        black_box(Signed::sign(black_box(b), &key).unwrap());
        sign.push(ns(t.elapsed()));
        let t = Instant::now();
        black_box(key.sign(black_box(&message)));
        raw_sign.push(ns(t.elapsed()));
        let t = Instant::now();
        clock.push(ns(t.elapsed()));
    }
    line("request frame: Ed25519 verify", &mut verify);
    line("request frame: sign (JSON + Ed25519)", &mut sign);
    let label = format!("Ed25519 sign alone, {} B", message.len());
    line(&label, &mut raw_sign);
    let (c50, c99, _) = percentiles(&mut clock);
    println!(
        "clock read alone: p50 {:.0} ns, p99 {:.0} ns; total {:.1} s",
        c50 * 1e3,
        c99 * 1e3,
        start.elapsed().as_secs_f64()
    );
}

/// Times [`CALLS`] calls and prints the percentiles of each step and of the enforcement
/// overhead: the server side of an allowed call, steps 2 + 3 (parse, authorize from the
/// session cache, forward; then parse, filter, hash, frame, sign, audit).
fn measure(tunnels: &mut Tunnels, verify: bool) {
    for _ in 0..WARM_UP {
        tunnels.timed_call();
    }
    let mut steps: [Vec<f64>; 4] = Default::default();
    let mut enforcement = Vec::with_capacity(CALLS);
    let mut round_trip = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = tunnels.timed_call();
        for (v, d) in steps.iter_mut().zip(t) {
            v.push(ns(d));
        }
        enforcement.push(ns(t[1] + t[2]));
        round_trip.push(ns(t.iter().sum()));
    }
    assert!(tunnels.idle());
    let check = if verify { "verify, " } else { "" };
    let names = [
        "1 client_request (frame, sign)".to_owned(),
        format!("2 server_request ({check}authorize)"),
        "3 server_response (frame, sign, audit)".to_owned(),
        format!("4 client_response ({check}deliver)"),
    ];
    for (name, v) in names.iter().zip(steps.iter_mut()) {
        line(name, v);
    }
    let p99 = line("2+3 enforcement overhead (server side)", &mut enforcement);
    line("1+2+3+4 round trip", &mut round_trip);
    println!(
        "goal 2+3 p99 <= {GOAL_US} µs: {} ({p99:.1} µs)",
        if p99 <= GOAL_US { "met" } else { "NOT met" }
    );
}
