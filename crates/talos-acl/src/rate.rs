//! Rate limits and budgets: token buckets per peer and per (peer, tool), and a daily byte
//! budget per peer, with injected time.
//!
//! # Model
//!
//! - **Requests**: a token bucket per peer, refilled at [`RateLimit::requests_per_second`]
//!   up to [`RateLimit::burst`] tokens; a request takes one token. Optionally a second
//!   bucket per (peer, tool) ([`RateConfig::tool_limit`]), so one busy tool cannot starve
//!   the others. Arithmetic is in integer milli-tokens: a rate of `r` requests/s adds
//!   exactly `r` milli-tokens per millisecond, so nothing drifts; a new bucket starts full.
//! - **Bytes**: per peer, at most [`RateLimit::bytes_per_day`] bytes (the `cost_bytes` of
//!   each checked request) per **fixed window** of 86 400 000 ms. The first window starts
//!   when the peer is first seen; later windows follow on, aligned to it (not sliding).
//! - **Modes** ([`BudgetMode`]): `Off` never limits and keeps no state; `Warn` lets an
//!   over-limit request through but reports it ([`RateDecision::Warn`]) and still counts
//!   it; `Hard` refuses it ([`RateDecision::Deny`], `RATE_LIMITED`) and consumes nothing.
//!   A request passes only if every limit that applies to it passes.
//! - **Time** comes in as `now`. Time going backwards refills nothing and moves nothing
//!   back: the bucket keeps the latest time it has seen. Every sum saturates, so hostile
//!   values (huge costs, `u64::MAX` timestamps) cannot overflow or panic.
//!
//! # Bounds and eviction
//!
//! At most [`RateConfig::max_peers`] peers and, per peer, [`RateConfig::max_tools_per_peer`]
//! tool buckets. Only state that carries no information is dropped silently:
//! - a new tool of a peer with a full tool table replaces an idle tool bucket of that peer
//!   (one that has refilled completely), else its least recently used one. Only the peer's
//!   own per-tool counts can be lost that way; its per-peer bucket still limits it;
//! - a new peer in a full table triggers a sweep that drops every *idle* peer: bucket full
//!   again, no bytes counted in the current window, all tool buckets full. Dropping one
//!   changes no future decision. If nothing is idle, the new peer is refused
//!   ([`LimitKind::TableFull`]) rather than erasing another peer's budget; sweeps then
//!   happen at most once a second, so a flood of new peers costs O(1) each.
//!
//! ```
//! use talos_acl::crypto::Timestamp;
//! use talos_acl::rate::{RateConfig, RateDecision, RateLimit, RateLimiter};
//!
//! let mut limiter = RateLimiter::new(RateConfig {
//!     peer_limit: RateLimit { requests_per_second: 2, burst: 2, bytes_per_day: Some(1000) },
//!     ..RateConfig::default()
//! });
//! let t0 = Timestamp::from_millis(1_000_000);
//! assert!(limiter.check("peer", Some("read"), 10, t0).is_allowed());
//! assert!(limiter.check("peer", Some("read"), 10, t0).is_allowed());
//! // The burst is spent: denied, retry once a token is back (1 token at 2/s = 500 ms).
//! let RateDecision::Deny(over) = limiter.check("peer", None, 10, t0) else { unreachable!() };
//! assert_eq!(over.retry_after_ms(), Some(500));
//! assert!(limiter.check("peer", None, 10, Timestamp::from_millis(1_000_500)).is_allowed());
//! // The byte budget: 30 of 1000 used; 971 more is too much.
//! let t1 = Timestamp::from_millis(1_010_000);
//! assert!(!limiter.check("peer", None, 971, t1).is_allowed());
//! assert!(limiter.check("peer", None, 970, t1).is_allowed());
//! ```

use core::fmt;
use std::collections::BTreeMap;

use talos_crypto::Timestamp;

/// Length of a byte-budget window: one day, in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// Milli-tokens per request.
const UNIT: u64 = 1000;

/// Least time between two sweeps of a full peer table, in milliseconds.
const SWEEP_INTERVAL_MS: u64 = 1000;

/// Limits for one peer: a token bucket of requests and a daily byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Sustained requests per second (tokens added per second); 0 means no refill.
    pub requests_per_second: u32,
    /// Bucket capacity: the most requests allowed in a burst.
    pub burst: u32,
    /// Bytes allowed per [`DAY_MS`] window; `None` for no byte budget.
    pub bytes_per_day: Option<u64>,
}

impl RateLimit {
    /// The seed defaults: 100 requests/s, burst 10, 100 000 000 bytes a day.
    pub const DEFAULT: Self = Self {
        requests_per_second: 100,
        burst: 10,
        bytes_per_day: Some(100_000_000),
    };
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What happens when a limit is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BudgetMode {
    /// Never limit; keep no state.
    Off,
    /// Allow, but report [`RateDecision::Warn`].
    Warn,
    /// Refuse with [`RateDecision::Deny`].
    #[default]
    Hard,
}

/// Configuration of a [`RateLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateConfig {
    /// What to do when a limit is exceeded.
    pub mode: BudgetMode,
    /// The per-peer limit used by [`RateLimiter::check`].
    pub peer_limit: RateLimit,
    /// The limit per (peer, tool), if any; its `bytes_per_day` is ignored (bytes are
    /// counted per peer).
    pub tool_limit: Option<RateLimit>,
    /// Most peers tracked at once.
    pub max_peers: usize,
    /// Most tool buckets per peer.
    pub max_tools_per_peer: usize,
}

impl Default for RateConfig {
    /// `Hard`, [`RateLimit::DEFAULT`] per peer, no per-tool limit, 10 000 peers, 64 tools
    /// per peer.
    fn default() -> Self {
        Self {
            mode: BudgetMode::Hard,
            peer_limit: RateLimit::DEFAULT,
            tool_limit: None,
            max_peers: 10_000,
            max_tools_per_peer: 64,
        }
    }
}

/// Which limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// The peer's request bucket is empty.
    PeerRequests,
    /// The (peer, tool) request bucket is empty.
    ToolRequests,
    /// The peer's daily byte budget would be exceeded.
    BytesPerDay,
    /// The peer table is full of peers with live state; a new peer cannot be tracked.
    TableFull,
}

/// A limit was exceeded: which one, and when trying again may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateExceeded {
    limit: LimitKind,
    retry_after_ms: Option<u64>,
}

impl RateExceeded {
    /// The denial reason as the protocol spells it.
    pub const REASON: &'static str = "RATE_LIMITED";

    /// Which limit.
    #[must_use]
    pub const fn limit(&self) -> LimitKind {
        self.limit
    }

    /// Milliseconds until the limit lets a request like this one through, when known
    /// (`None` for [`LimitKind::TableFull`] and for requests that can never pass, such as a
    /// cost above the whole daily budget or a bucket that never refills).
    #[must_use]
    pub const fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after_ms
    }

    /// The taxonomy code: [`ErrorCode::Denied`](talos_crypto::ErrorCode::Denied).
    #[must_use]
    pub const fn code(&self) -> talos_crypto::ErrorCode {
        talos_crypto::ErrorCode::Denied
    }
}

impl fmt::Display for RateExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REASON)?;
        f.write_str(match self.limit {
            LimitKind::PeerRequests => ": peer request rate exceeded",
            LimitKind::ToolRequests => ": tool request rate exceeded",
            LimitKind::BytesPerDay => ": daily byte budget exceeded",
            LimitKind::TableFull => ": too many peers tracked",
        })?;
        if let Some(ms) = self.retry_after_ms {
            write!(f, " (retry after {ms} ms)")?;
        }
        Ok(())
    }
}

/// The outcome of [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateDecision {
    /// Within every limit.
    Allow,
    /// Over a limit, allowed because the mode is [`BudgetMode::Warn`].
    Warn(RateExceeded),
    /// Over a limit, refused ([`BudgetMode::Hard`]).
    Deny(RateExceeded),
}

impl RateDecision {
    /// `true` for [`RateDecision::Allow`] and [`RateDecision::Warn`].
    #[must_use]
    pub const fn is_allowed(&self) -> bool {
        !matches!(self, Self::Deny(_))
    }
}

/// A token bucket in milli-tokens.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    /// The latest `now` seen (ms).
    last: u64,
    /// Rate and capacity of the last limit applied, to tell whether it is idle.
    rate: u64,
    cap: u64,
}

impl Bucket {
    fn new(limit: &RateLimit, now: u64) -> Self {
        let cap = u64::from(limit.burst) * UNIT;
        Self {
            tokens: cap,
            last: now,
            rate: u64::from(limit.requests_per_second),
            cap,
        }
    }

    /// Refills for the time since the last call (nothing if time went backwards) under
    /// `limit`.
    fn refill(&mut self, limit: &RateLimit, now: u64) {
        self.rate = u64::from(limit.requests_per_second);
        self.cap = u64::from(limit.burst) * UNIT;
        let elapsed = now.saturating_sub(self.last);
        self.tokens = self
            .tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.cap);
        self.last = self.last.max(now);
    }

    /// [`refill`](Self::refill), returning the bucket.
    fn refilled(&mut self, limit: &RateLimit, now: u64) -> &mut Self {
        self.refill(limit, now);
        self
    }

    /// `None` when a token is available, else the wait in ms (`None` inside if never).
    fn shortfall(&self) -> Option<Option<u64>> {
        if self.tokens >= UNIT {
            return None;
        }
        let need = UNIT - self.tokens;
        Some(if self.rate == 0 || self.cap < UNIT {
            None
        } else {
            Some(need.div_ceil(self.rate))
        })
    }

    fn take(&mut self) {
        self.tokens = self.tokens.saturating_sub(UNIT);
    }

    /// Full again at `now`: dropping it changes nothing.
    fn is_idle(&self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last);
        self.tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            >= self.cap
    }
}

#[derive(Debug, Clone)]
struct PeerState {
    bucket: Bucket,
    window_start: u64,
    bytes_used: u64,
    tools: BTreeMap<Box<str>, Bucket>,
}

impl PeerState {
    fn roll_window(&mut self, now: u64) {
        if now >= self.window_start.saturating_add(DAY_MS) {
            let days = (now - self.window_start) / DAY_MS;
            self.window_start = self
                .window_start
                .saturating_add(days.saturating_mul(DAY_MS));
            self.bytes_used = 0;
        }
    }

    fn is_idle(&self, now: u64) -> bool {
        let bytes_idle = self.bytes_used == 0 || now >= self.window_start.saturating_add(DAY_MS);
        bytes_idle && self.bucket.is_idle(now) && self.tools.values().all(|b| b.is_idle(now))
    }
}

/// Token buckets and byte budgets for many peers (see the [module docs](self)).
///
/// Commands (`&mut self`, with `now`): [`check`](Self::check),
/// [`check_with`](Self::check_with), [`remove_peer`](Self::remove_peer). Getters:
/// [`peer_count`](Self::peer_count), [`key_count`](Self::key_count),
/// [`config`](Self::config).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    config: RateConfig,
    peers: BTreeMap<Box<str>, PeerState>,
    tool_keys: usize,
    last_sweep: Option<u64>,
}

impl RateLimiter {
    /// An empty limiter.
    #[must_use]
    pub const fn new(config: RateConfig) -> Self {
        Self {
            config,
            peers: BTreeMap::new(),
            tool_keys: 0,
            last_sweep: None,
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &RateConfig {
        &self.config
    }

    /// Peers tracked.
    #[must_use]
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Buckets tracked: peers plus (peer, tool) pairs.
    #[must_use]
    pub fn key_count(&self) -> usize {
        self.peers.len() + self.tool_keys
    }

    /// Forgets `peer` (for example when its session ends or its policy changes).
    pub fn remove_peer(&mut self, peer: &str) {
        if let Some(state) = self.peers.remove(peer) {
            self.tool_keys -= state.tools.len().min(self.tool_keys);
        }
    }

    /// Checks one request of `cost_bytes` bytes from `peer`, to `tool` if it is a tool
    /// call, against [`RateConfig::peer_limit`], and counts it unless refused.
    pub fn check(
        &mut self,
        peer: &str,
        tool: Option<&str>,
        cost_bytes: u64,
        now: Timestamp,
    ) -> RateDecision {
        let limit = self.config.peer_limit;
        self.check_with(&limit, peer, tool, cost_bytes, now)
    }

    /// As [`check`](Self::check), with `limit` for this peer (for example its policy's
    /// [`rate`](crate::policy::Policy::rate_limit) table). Allocates only for a peer or
    /// tool seen for the first time.
    pub fn check_with(
        &mut self,
        limit: &RateLimit,
        peer: &str,
        tool: Option<&str>,
        cost_bytes: u64,
        now: Timestamp,
    ) -> RateDecision {
        let mode = self.config.mode;
        if mode == BudgetMode::Off {
            return RateDecision::Allow;
        }
        let now = now.as_millis();
        if !self.peers.contains_key(peer) {
            if !self.make_room(now) {
                return Self::exceeded(mode, LimitKind::TableFull, None);
            }
            let fresh = PeerState {
                bucket: Bucket::new(limit, now),
                window_start: now,
                bytes_used: 0,
                tools: BTreeMap::new(),
            };
            self.peers.insert(peer.into(), fresh);
        }
        let tool_limit = self.config.tool_limit;
        let max_tools = self.config.max_tools_per_peer;
        // Looked up by `&str`: no allocation for a known peer.
        let Some(state) = self.peers.get_mut(peer) else {
            return Self::exceeded(mode, LimitKind::TableFull, None);
        };

        state.bucket.refill(limit, now);
        let mut over: Option<(LimitKind, Option<u64>)> = state
            .bucket
            .shortfall()
            .map(|wait| (LimitKind::PeerRequests, wait));

        let mut bytes_over = None;
        if let Some(budget) = limit.bytes_per_day {
            state.roll_window(now);
            if state.bytes_used.saturating_add(cost_bytes) > budget {
                let wait = (cost_bytes <= budget).then(|| {
                    state
                        .window_start
                        .saturating_add(DAY_MS)
                        .saturating_sub(now)
                });
                bytes_over = Some((LimitKind::BytesPerDay, wait));
            }
        }

        // The (peer, tool) bucket, created (and the table bounded) on first use.
        let tool_bucket = match (tool, tool_limit) {
            (Some(name), Some(tl)) if max_tools > 0 => {
                if !state.tools.contains_key(name) {
                    if state.tools.len() >= max_tools && evict_tool(&mut state.tools, now) {
                        self.tool_keys = self.tool_keys.saturating_sub(1);
                    }
                    state.tools.insert(name.into(), Bucket::new(&tl, now));
                    self.tool_keys = self.tool_keys.saturating_add(1);
                }
                state.tools.get_mut(name).map(|b| b.refilled(&tl, now))
            }
            _ => None,
        };
        if over.is_none() {
            over = tool_bucket
                .as_ref()
                .and_then(|b| b.shortfall())
                .map(|wait| (LimitKind::ToolRequests, wait));
        }
        over = over.or(bytes_over);

        let decision = match over {
            // Hard: refused, nothing consumed.
            Some((kind, wait)) if mode == BudgetMode::Hard => {
                return Self::exceeded(mode, kind, wait);
            }
            Some((kind, wait)) => Self::exceeded(mode, kind, wait),
            None => RateDecision::Allow,
        };
        state.bucket.take();
        if let Some(b) = tool_bucket {
            b.take();
        }
        if limit.bytes_per_day.is_some() {
            state.bytes_used = state.bytes_used.saturating_add(cost_bytes);
        }
        decision
    }

    fn exceeded(mode: BudgetMode, limit: LimitKind, retry_after_ms: Option<u64>) -> RateDecision {
        let e = RateExceeded {
            limit,
            retry_after_ms,
        };
        if mode == BudgetMode::Warn {
            RateDecision::Warn(e)
        } else {
            RateDecision::Deny(e)
        }
    }

    /// Makes room for one more peer; `false` when the table stays full.
    fn make_room(&mut self, now: u64) -> bool {
        if self.peers.len() < self.config.max_peers {
            return true;
        }
        if self
            .last_sweep
            .is_some_and(|t| now >= t && now - t < SWEEP_INTERVAL_MS)
        {
            return false;
        }
        self.last_sweep = Some(now);
        let mut dropped_tools = 0;
        self.peers.retain(|_, s| {
            let keep = !s.is_idle(now);
            if !keep {
                dropped_tools += s.tools.len();
            }
            keep
        });
        self.tool_keys -= dropped_tools.min(self.tool_keys);
        self.peers.len() < self.config.max_peers
    }
}

/// Drops one tool bucket: an idle one if any, else the least recently used. `true` if one
/// was dropped.
fn evict_tool(tools: &mut BTreeMap<Box<str>, Bucket>, now: u64) -> bool {
    let victim = tools
        .iter()
        .find(|(_, b)| b.is_idle(now))
        .or_else(|| tools.iter().min_by_key(|(_, b)| b.last))
        .map(|(k, _)| k.clone());
    victim.is_some_and(|k| tools.remove(&k).is_some())
}
