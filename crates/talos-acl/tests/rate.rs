//! Rate limits: exact refill arithmetic, burst, per-tool isolation, the daily byte budget and
//! its reset, time going backwards, modes, table bounds, hostile values, and the cost of a
//! check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Instant;

use proptest::prelude::*;
use talos_acl::rate::{
    BudgetMode, DAY_MS, LimitKind, RateConfig, RateDecision, RateLimit, RateLimiter,
};
use talos_crypto::Timestamp;

const T0: u64 = 1_700_000_000_000;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn limiter(rps: u32, burst: u32, bytes: Option<u64>) -> RateLimiter {
    RateLimiter::new(RateConfig {
        peer_limit: RateLimit {
            requests_per_second: rps,
            burst,
            bytes_per_day: bytes,
        },
        ..RateConfig::default()
    })
}

fn denied(d: RateDecision) -> (LimitKind, Option<u64>) {
    match d {
        RateDecision::Deny(e) => (e.limit(), e.retry_after_ms()),
        other => panic!("expected a denial, got {other:?}"),
    }
}

/// Counts allowed requests at `now`, up to `max`.
fn drain(l: &mut RateLimiter, peer: &str, tool: Option<&str>, now: Timestamp, max: usize) -> usize {
    (0..max)
        .take_while(|_| l.check(peer, tool, 0, now).is_allowed())
        .count()
}

#[test]
fn burst_then_exact_refill() {
    let mut l = limiter(10, 5, None);
    assert_eq!(drain(&mut l, "p", None, at(0), 100), 5);
    // 10/s = one token per 100 ms; 99 ms is not enough.
    assert_eq!(
        denied(l.check("p", None, 0, at(0))),
        (LimitKind::PeerRequests, Some(100))
    );
    assert_eq!(
        denied(l.check("p", None, 0, at(99))),
        (LimitKind::PeerRequests, Some(1))
    );
    assert!(l.check("p", None, 0, at(100)).is_allowed());
    assert!(!l.check("p", None, 0, at(100)).is_allowed());
    // 250 ms later: 2.5 tokens, so two requests; the half token is kept, not lost.
    assert_eq!(drain(&mut l, "p", None, at(350), 10), 2);
    assert_eq!(denied(l.check("p", None, 0, at(350))).1, Some(50));
    assert_eq!(drain(&mut l, "p", None, at(400), 10), 1);
    // A long pause refills to the burst, not beyond.
    assert_eq!(drain(&mut l, "p", None, at(1_000_000), 100), 5);
}

#[test]
fn odd_rates_do_not_drift() {
    // 3 requests/s: over 10 s exactly 30 tokens are minted, whatever the step.
    let mut l = limiter(3, 1, None);
    let mut allowed = 0;
    assert!(l.check("p", None, 0, at(0)).is_allowed());
    for ms in (7..=10_000).step_by(7) {
        if l.check("p", None, 0, at(ms)).is_allowed() {
            allowed += 1;
        }
    }
    // 10 000 ms (rounded down to the last step, 9 996 ms) × 3/s = 29.988 tokens → 29.
    assert_eq!(allowed, 29);
}

#[test]
fn peers_are_isolated() {
    let mut l = limiter(1, 2, None);
    assert_eq!(drain(&mut l, "a", None, at(0), 10), 2);
    assert_eq!(drain(&mut l, "b", None, at(0), 10), 2);
    assert_eq!(l.peer_count(), 2);
}

#[test]
fn per_tool_isolation() {
    let mut l = RateLimiter::new(RateConfig {
        peer_limit: RateLimit {
            requests_per_second: 1,
            burst: 100,
            bytes_per_day: None,
        },
        tool_limit: Some(RateLimit {
            requests_per_second: 1,
            burst: 3,
            bytes_per_day: None,
        }),
        ..RateConfig::default()
    });
    assert_eq!(drain(&mut l, "p", Some("search"), at(0), 10), 3);
    assert_eq!(
        denied(l.check("p", Some("search"), 0, at(0))).0,
        LimitKind::ToolRequests
    );
    // Another tool of the same peer has its own bucket.
    assert_eq!(drain(&mut l, "p", Some("read"), at(0), 10), 3);
    // Requests without a tool only use the peer bucket (100 − 6 refused/allowed so far).
    assert!(l.check("p", None, 0, at(0)).is_allowed());
    assert_eq!(l.key_count(), 3);
    // A refused tool request does not take from the peer bucket: 100 − 6 − 1 = 93 left.
    for _ in 0..50 {
        assert!(!l.check("p", Some("search"), 0, at(0)).is_allowed());
    }
    assert_eq!(drain(&mut l, "p", None, at(0), 1000), 93);
}

#[test]
fn daily_byte_budget_and_reset() {
    let mut l = limiter(1000, 1000, Some(1000));
    assert!(l.check("p", None, 600, at(0)).is_allowed());
    assert!(l.check("p", None, 400, at(1000)).is_allowed());
    // Budget spent; retry when the window (started at t=0) ends.
    assert_eq!(
        denied(l.check("p", None, 1, at(5000))),
        (LimitKind::BytesPerDay, Some(DAY_MS - 5000))
    );
    // A zero-byte request still passes.
    assert!(l.check("p", None, 0, at(5000)).is_allowed());
    // Just before the reset: still refused; at the reset: a fresh budget.
    assert!(!l.check("p", None, 1, at(DAY_MS - 1)).is_allowed());
    assert!(l.check("p", None, 1000, at(DAY_MS)).is_allowed());
    assert!(!l.check("p", None, 1, at(DAY_MS + 1)).is_allowed());
    // Windows stay aligned to the first: three and a half days later, the window started
    // at day 3.
    assert!(
        l.check("p", None, 1000, at(3 * DAY_MS + DAY_MS / 2))
            .is_allowed()
    );
    assert_eq!(
        denied(l.check("p", None, 1, at(3 * DAY_MS + DAY_MS / 2))).1,
        Some(DAY_MS / 2)
    );
    // More than the whole budget can never pass: no retry time.
    assert_eq!(
        denied(l.check("q", None, 1001, at(0))),
        (LimitKind::BytesPerDay, None)
    );
}

#[test]
fn time_going_backwards_mints_nothing() {
    let mut l = limiter(10, 2, Some(100));
    assert_eq!(drain(&mut l, "p", None, at(10_000), 10), 2);
    // Back in time by a lot, then forward to just before the original time: no tokens.
    assert!(!l.check("p", None, 0, at(0)).is_allowed());
    assert!(!l.check("p", None, 0, at(9_999)).is_allowed());
    assert!(!l.check("p", None, 0, at(10_000)).is_allowed());
    assert!(l.check("p", None, 0, at(10_100)).is_allowed());
    // The byte window is not reset by time going backwards either.
    assert!(l.check("p", None, 100, at(20_000)).is_allowed());
    assert!(!l.check("p", None, 1, at(0)).is_allowed());
    assert!(
        !l.check("p", None, 1, Timestamp::from_millis(0))
            .is_allowed()
    );
}

#[test]
fn modes() {
    let cfg = |mode| RateConfig {
        mode,
        peer_limit: RateLimit {
            requests_per_second: 1,
            burst: 1,
            bytes_per_day: Some(10),
        },
        ..RateConfig::default()
    };
    let mut off = RateLimiter::new(cfg(BudgetMode::Off));
    for _ in 0..100 {
        assert_eq!(off.check("p", None, 1_000_000, at(0)), RateDecision::Allow);
    }
    assert_eq!(off.key_count(), 0);

    let mut warn = RateLimiter::new(cfg(BudgetMode::Warn));
    assert_eq!(warn.check("p", None, 5, at(0)), RateDecision::Allow);
    let RateDecision::Warn(e) = warn.check("p", None, 5, at(0)) else {
        panic!()
    };
    assert_eq!(e.limit(), LimitKind::PeerRequests);
    assert!(e.to_string().starts_with("RATE_LIMITED"));
    // Warn still counts what went through: 10 bytes used now.
    let RateDecision::Warn(e) = warn.check("p", None, 1, at(5000)) else {
        panic!()
    };
    assert_eq!(e.limit(), LimitKind::BytesPerDay);

    let mut hard = RateLimiter::new(cfg(BudgetMode::Hard));
    assert_eq!(hard.check("p", None, 5, at(0)), RateDecision::Allow);
    let RateDecision::Deny(e) = hard.check("p", None, 5, at(0)) else {
        panic!()
    };
    assert_eq!(e.code().as_str(), "TALOS_DENIED");
    // Hard consumed nothing for the refused request: 5 bytes left.
    assert!(hard.check("p", None, 5, at(1000)).is_allowed());
}

#[test]
fn table_is_bounded() {
    let mut l = RateLimiter::new(RateConfig {
        peer_limit: RateLimit {
            requests_per_second: 1,
            burst: 1,
            bytes_per_day: None,
        },
        tool_limit: Some(RateLimit {
            requests_per_second: 1,
            burst: 1,
            bytes_per_day: None,
        }),
        max_peers: 100,
        max_tools_per_peer: 4,
        ..RateConfig::default()
    });
    // Tools of one peer: bounded at 4 (the peer bucket refills in between).
    for i in 0..50u64 {
        let _ = l.check("p", Some(&format!("tool{i}")), 0, at(i * 1000));
    }
    assert_eq!(l.key_count(), 1 + 4);
    // 100 busy peers fill the table; a new one is refused rather than erase a budget.
    assert!(l.check("p", None, 0, at(100_000)).is_allowed());
    for i in 0..99 {
        assert!(
            l.check(&format!("peer{i}"), None, 0, at(100_000))
                .is_allowed()
        );
    }
    assert_eq!(l.peer_count(), 100);
    assert_eq!(
        denied(l.check("newcomer", None, 0, at(100_000))),
        (LimitKind::TableFull, None)
    );
    // Within a second no second sweep; a second later every peer is idle again (1 token
    // at 1/s) and is swept out.
    assert!(!l.check("newcomer", None, 0, at(100_500)).is_allowed());
    assert!(l.check("newcomer", None, 0, at(101_500)).is_allowed());
    assert!(l.peer_count() <= 100);
    assert!(l.key_count() <= 100 * (1 + 4));
    // Many distinct peers over time never grow the table beyond the bound.
    for i in 0..1000u64 {
        let _ = l.check(&format!("x{i}"), Some("t"), 0, at(200_000 + i * 2000));
        assert!(l.peer_count() <= 100);
    }
    l.remove_peer("x999");
    assert!(l.peer_count() < 100);
}

#[test]
fn check_is_fast() {
    let mut l = RateLimiter::new(RateConfig {
        peer_limit: RateLimit {
            requests_per_second: 1_000_000,
            burst: 1_000_000,
            bytes_per_day: None,
        },
        tool_limit: Some(RateLimit {
            requests_per_second: 1_000_000,
            burst: 1_000_000,
            bytes_per_day: None,
        }),
        ..RateConfig::default()
    });
    let peers: Vec<String> = (0..1000).map(|i| format!("did:key:z6Mk{i:044}")).collect();
    for p in &peers {
        let _ = l.check(p, Some("read_file"), 100, at(0));
    }
    let n = 200_000;
    let start = Instant::now();
    for i in 0..n {
        let p = &peers[i % peers.len()];
        assert!(
            l.check(p, Some("read_file"), 100, at(1 + (i as u64) / 1000))
                .is_allowed()
        );
    }
    let per = start.elapsed() / n as u32;
    println!("check (1000 peers, per-tool bucket): {per:?} per call");
    // The seed's bound is 100 µs; even an unoptimised build is far below it.
    assert!(per.as_micros() < 100, "{per:?}");
}

proptest! {
    /// Hostile inputs never panic; over any schedule, the number of allowed requests is at
    /// most burst + rps × elapsed seconds, and the bytes allowed in one window at most the
    /// budget.
    #[test]
    fn never_exceeds_the_bucket(
        rps in 0u32..50,
        burst in 0u32..20,
        budget in prop::option::of(0u64..10_000),
        steps in prop::collection::vec((0u64..3000, 0u64..500, any::<bool>()), 1..200),
    ) {
        let mut l = limiter(rps, burst, budget);
        let mut t = 0u64;
        let mut allowed = 0u64;
        let mut bytes = 0u64;
        for (dt, cost, back) in steps {
            // Sometimes time goes backwards.
            let now = if back { t.saturating_sub(dt) } else { t += dt; t };
            if l.check("p", None, cost, at(now)).is_allowed() {
                allowed += 1;
                bytes += cost;
            }
        }
        prop_assert!(allowed * 1000 <= u64::from(burst) * 1000 + t * u64::from(rps));
        if let Some(b) = budget
            && t < DAY_MS
        {
            prop_assert!(bytes <= b);
        }
    }

    #[test]
    fn extreme_values_do_not_panic(now in any::<u64>(), cost in any::<u64>(), rps in any::<u32>(), burst in any::<u32>()) {
        let mut l = limiter(rps, burst, Some(u64::MAX));
        let _ = l.check("p", Some("t"), cost, Timestamp::from_millis(now));
        let _ = l.check("p", Some("t"), cost, Timestamp::from_millis(u64::MAX));
        let _ = l.check("p", Some("t"), u64::MAX, Timestamp::from_millis(0));
    }
}
