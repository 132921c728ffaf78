//! Per-peer policy: allow and deny globs for tools and resources, per peer DID, from TOML.
//!
//! A node's operator writes which peers may call which tools and read which resources. This
//! module parses that file (given as a string: the node reads it) and evaluates requests
//! against it. It is one of the two gates a request passes: the capability presented must
//! also allow it (see [`crate::verify`]); both must allow.
//!
//! # File format
//!
//! ```toml
//! default_allow = false                # optional, default false
//!
//! [peers."did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"]
//! enabled = true                       # optional, default true
//! allow_tools = ["read_*", "list_directory"]
//! deny_tools = ["write_*"]
//! allow_resources = ["file:///repo/**"]
//! deny_resources = ["file:///repo/.git/**"]
//! rate = { requests_per_second = 10, burst = 20, bytes_per_day = 100000000 }   # optional
//! ```
//!
//! - Peer keys are DIDs (`did:key` or `did:peer`, parsed with [`talos_did::Did`]). Two
//!   entries for the same DID, or for two DIDs with the same signing key, are an error.
//! - Patterns are [`Glob`]s: `*` stops at `/`, `**` crosses it, `?` is one character.
//! - `rate` members are optional; a missing one takes its [`RateLimit::DEFAULT`] value
//!   (100 requests/s, burst 10, 100 000 000 bytes a day); `bytes_per_day = 0` means no byte
//!   budget. The limits are recorded here and enforced by [`crate::rate`].
//! - Unknown keys, wrong types, bad globs, bad DIDs, duplicates and exceeded bounds
//!   ([`MAX_POLICY_BYTES`], [`MAX_PEERS`], [`MAX_PATTERNS`]) are errors; each
//!   [`PolicyError`] names the line and column of the problem.
//!
//! # Evaluation ([`Policy::evaluate`])
//!
//! 1. a peer not in the file → `default_allow`;
//! 2. a peer with `enabled = false` → deny;
//! 3. a tool call: a `deny_tools` match denies (deny wins), else an `allow_tools` match
//!    allows, else `default_allow`;
//! 4. a resource read: the same with `deny_resources` / `allow_resources` on the URI;
//! 5. any other method → `default_allow`.
//!
//! Rate limits (step 3 of the legacy order) are the caller's to apply with
//! [`Policy::rate_limit`] and [`crate::rate::RateLimiter`]. Evaluation allocates nothing; the
//! decision borrows the rule that decided, so it can say which one.
//!
//! ```
//! use talos_acl::policy::{Policy, PolicyRequest};
//!
//! let peer = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";
//! let policy = Policy::from_toml(&format!(
//!     r#"
//! [peers."{peer}"]
//! allow_tools = ["read_*"]
//! deny_tools = ["read_secrets"]
//! "#
//! ))?;
//! assert!(policy.evaluate(peer, &PolicyRequest::ToolCall { tool: "read_file" }).is_allowed());
//! let denied = policy.evaluate(peer, &PolicyRequest::ToolCall { tool: "read_secrets" });
//! assert!(!denied.is_allowed());
//! assert_eq!(denied.to_string(), "denied: matches deny_tools pattern `read_secrets`");
//! // Not in the file: the default (deny).
//! assert!(!policy.evaluate("did:key:other", &PolicyRequest::ToolCall { tool: "read_file" }).is_allowed());
//!
//! let err = Policy::from_toml("default_allow = false\nbogus = 1\n").unwrap_err();
//! assert_eq!(err.line(), Some(2));
//! # Ok::<(), talos_acl::policy::PolicyError>(())
//! ```

use core::fmt;
use core::ops::Range;
use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::glob::{Glob, GlobError};
use crate::rate::RateLimit;

/// The largest policy file accepted, in bytes (1 MiB).
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// The most peers one policy may list.
pub const MAX_PEERS: usize = 10_000;

/// The most patterns one list (`allow_tools`, …) may hold.
pub const MAX_PATTERNS: usize = 256;

/// Which pattern list of a peer entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatternList {
    /// `allow_tools`.
    AllowTools,
    /// `deny_tools`.
    DenyTools,
    /// `allow_resources`.
    AllowResources,
    /// `deny_resources`.
    DenyResources,
}

impl PatternList {
    /// The key as written in the file, e.g. `"deny_tools"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AllowTools => "allow_tools",
            Self::DenyTools => "deny_tools",
            Self::AllowResources => "allow_resources",
            Self::DenyResources => "deny_resources",
        }
    }
}

impl fmt::Display for PatternList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// The file is larger than [`MAX_POLICY_BYTES`].
    #[error("policy file is {len} bytes, more than the maximum {max}")]
    TooLarge {
        /// The file's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type (the TOML parser's
    /// message).
    #[error("{0}")]
    Toml(String),
    /// A peer key that is not a DID this node understands.
    #[error("peer `{peer}` is not a valid DID: {reason}")]
    BadPeer {
        /// The key as written.
        peer: String,
        /// Why the DID parser refused it.
        reason: String,
    },
    /// The same peer twice (same DID, or two DIDs with one signing key).
    #[error("peer `{peer}` is listed twice (also as `{first}`)")]
    DuplicatePeer {
        /// The later entry.
        peer: String,
        /// The earlier entry for the same peer.
        first: String,
    },
    /// More peers than [`MAX_PEERS`].
    #[error("more than {max} peers")]
    TooManyPeers {
        /// The limit.
        max: usize,
    },
    /// More patterns in one list than [`MAX_PATTERNS`].
    #[error("more than {max} patterns in {list}")]
    TooManyPatterns {
        /// The list.
        list: PatternList,
        /// The limit.
        max: usize,
    },
    /// A pattern that is not a valid glob.
    #[error("bad pattern `{pattern}` in {list}: {source}")]
    BadGlob {
        /// The list.
        list: PatternList,
        /// The pattern.
        pattern: String,
        /// Why.
        source: GlobError,
    },
    /// A rate member out of range (`requests_per_second` and `burst` must be at least 1).
    #[error("rate.{field} must be at least 1")]
    BadRate {
        /// The member.
        field: &'static str,
    },
}

/// A policy file could not be loaded: what is wrong ([`PolicyError::kind`]) and where
/// ([`PolicyError::line`], [`PolicyError::column`], both 1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    kind: PolicyErrorKind,
    at: Option<(usize, usize)>,
}

impl PolicyError {
    fn at(kind: PolicyErrorKind, input: &str, span: Option<Range<usize>>) -> Self {
        Self {
            kind,
            at: span.map(|s| line_col(input, s.start)),
        }
    }

    /// What is wrong.
    #[must_use]
    pub const fn kind(&self) -> &PolicyErrorKind {
        &self.kind
    }

    /// The 1-based line of the problem; `None` only for a file that is too large.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.at.map(|(l, _)| l)
    }

    /// The 1-based column (in characters) of the problem.
    #[must_use]
    pub fn column(&self) -> Option<usize> {
        self.at.map(|(_, c)| c)
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, col)) = self.at {
            write!(f, "policy line {line}, column {col}: {}", self.kind)
        } else {
            write!(f, "policy: {}", self.kind)
        }
    }
}

impl core::error::Error for PolicyError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `input`.
fn line_col(input: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(input.len());
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    let before = input.get(..end).unwrap_or_default();
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

// The file as written (serde), spans kept for error messages.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    default_allow: bool,
    #[serde(default)]
    peers: BTreeMap<Spanned<String>, Spanned<PeerToml>>,
}

const fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerToml {
    #[serde(default = "yes")]
    enabled: bool,
    allow_tools: Option<Spanned<Vec<Spanned<String>>>>,
    deny_tools: Option<Spanned<Vec<Spanned<String>>>>,
    allow_resources: Option<Spanned<Vec<Spanned<String>>>>,
    deny_resources: Option<Spanned<Vec<Spanned<String>>>>,
    rate: Option<Spanned<RateToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateToml {
    requests_per_second: Option<Spanned<u32>>,
    burst: Option<Spanned<u32>>,
    bytes_per_day: Option<u64>,
}

/// One peer's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    enabled: bool,
    allow_tools: Box<[Glob]>,
    deny_tools: Box<[Glob]>,
    allow_resources: Box<[Glob]>,
    deny_resources: Box<[Glob]>,
    rate: Option<RateLimit>,
}

impl PeerPolicy {
    /// `false` when the entry says `enabled = false`.
    #[must_use]
    pub const fn enabled(&self) -> bool {
        self.enabled
    }

    /// The patterns of `list`.
    #[must_use]
    pub fn patterns(&self, list: PatternList) -> &[Glob] {
        match list {
            PatternList::AllowTools => &self.allow_tools,
            PatternList::DenyTools => &self.deny_tools,
            PatternList::AllowResources => &self.allow_resources,
            PatternList::DenyResources => &self.deny_resources,
        }
    }

    /// The entry's `rate` table, if it has one.
    #[must_use]
    pub const fn rate_limit(&self) -> Option<RateLimit> {
        self.rate
    }
}

/// A loaded per-peer policy. Build it with [`Policy::from_toml`]; query it with
/// [`Policy::evaluate`] and [`Policy::rate_limit`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    default_allow: bool,
    peers: BTreeMap<Box<str>, PeerPolicy>,
}

/// What a peer asks for, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyRequest<'a> {
    /// `tools/call` of the tool `params.name`.
    ToolCall {
        /// The tool's name.
        tool: &'a str,
    },
    /// `resources/read` (or `resources/list`) of `params.uri`.
    ResourceRead {
        /// The resource URI.
        uri: &'a str,
    },
    /// Any other method.
    Other {
        /// The method name.
        method: &'a str,
    },
}

impl<'a> PolicyRequest<'a> {
    /// The request for an MCP `method` whose target is `target`: `params.name` of a
    /// `tools/call`, `params.uri` of a `resources/read` or `resources/list` (a missing
    /// target is the empty string, which only a pattern matching the empty string allows).
    #[must_use]
    pub const fn from_mcp(method: &'a str, target: Option<&'a str>) -> Self {
        let target = match target {
            Some(t) => t,
            None => "",
        };
        match method.as_bytes() {
            b"tools/call" => Self::ToolCall { tool: target },
            b"resources/read" | b"resources/list" => Self::ResourceRead { uri: target },
            _ => Self::Other { method },
        }
    }
}

/// Why a [`PolicyDecision`] came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyReason<'p> {
    /// The peer is not in the policy: `default_allow` applied.
    UnknownPeer,
    /// The peer's entry has `enabled = false`.
    PeerDisabled,
    /// A pattern matched: `list` says whether it allowed or denied.
    Pattern {
        /// The list the pattern is in.
        list: PatternList,
        /// The pattern that matched.
        pattern: &'p Glob,
    },
    /// No pattern of the peer's lists matched: `default_allow` applied.
    NoPatternMatched,
    /// A method the policy has no lists for: `default_allow` applied.
    OtherMethod,
}

/// The outcome of [`Policy::evaluate`]: allowed or not, and the rule that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyDecision<'p> {
    allowed: bool,
    reason: PolicyReason<'p>,
}

impl<'p> PolicyDecision<'p> {
    /// `true` when the policy allows the request.
    #[must_use]
    pub const fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// The rule that decided.
    #[must_use]
    pub const fn reason(&self) -> PolicyReason<'p> {
        self.reason
    }

    /// The taxonomy code of a denial: [`ErrorCode::Denied`](talos_crypto::ErrorCode::Denied);
    /// `None` when allowed.
    #[must_use]
    pub const fn code(&self) -> Option<talos_crypto::ErrorCode> {
        if self.allowed {
            None
        } else {
            Some(talos_crypto::ErrorCode::Denied)
        }
    }
}

impl fmt::Display for PolicyDecision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.allowed {
            "allowed: "
        } else {
            "denied: "
        })?;
        match self.reason {
            PolicyReason::UnknownPeer => f.write_str("peer not in policy (default)"),
            PolicyReason::PeerDisabled => f.write_str("peer disabled"),
            PolicyReason::Pattern { list, pattern } => {
                write!(f, "matches {list} pattern `{pattern}`")
            }
            PolicyReason::NoPatternMatched => f.write_str("no pattern matched (default)"),
            PolicyReason::OtherMethod => f.write_str("method not covered by policy (default)"),
        }
    }
}

fn compile(
    input: &str,
    list: PatternList,
    patterns: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Result<Box<[Glob]>, PolicyError> {
    let Some(patterns) = patterns else {
        return Ok(Box::new([]));
    };
    if patterns.get_ref().len() > MAX_PATTERNS {
        return Err(PolicyError::at(
            PolicyErrorKind::TooManyPatterns {
                list,
                max: MAX_PATTERNS,
            },
            input,
            Some(patterns.span()),
        ));
    }
    patterns
        .get_ref()
        .iter()
        .map(|p| {
            Glob::new(p.get_ref()).map_err(|source| {
                PolicyError::at(
                    PolicyErrorKind::BadGlob {
                        list,
                        pattern: p.get_ref().clone(),
                        source,
                    },
                    input,
                    Some(p.span()),
                )
            })
        })
        .collect()
}

fn rate(input: &str, rate: &Spanned<RateToml>) -> Result<RateLimit, PolicyError> {
    let r = rate.get_ref();
    let field = |v: &Option<Spanned<u32>>, name: &'static str, default: u32| match v {
        None => Ok(default),
        Some(v) if *v.get_ref() == 0 => Err(PolicyError::at(
            PolicyErrorKind::BadRate { field: name },
            input,
            Some(v.span()),
        )),
        Some(v) => Ok(*v.get_ref()),
    };
    Ok(RateLimit {
        requests_per_second: field(
            &r.requests_per_second,
            "requests_per_second",
            RateLimit::DEFAULT.requests_per_second,
        )?,
        burst: field(&r.burst, "burst", RateLimit::DEFAULT.burst)?,
        bytes_per_day: match r.bytes_per_day {
            None => RateLimit::DEFAULT.bytes_per_day,
            Some(0) => None,
            Some(n) => Some(n),
        },
    })
}

impl Policy {
    /// A policy with no peers that applies `default_allow` to everyone.
    #[must_use]
    pub const fn new(default_allow: bool) -> Self {
        Self {
            default_allow,
            peers: BTreeMap::new(),
        }
    }

    /// Parses a policy file (see the [module docs](self) for the format).
    ///
    /// # Errors
    ///
    /// [`PolicyError`], naming the line and column, for invalid TOML, unknown keys, wrong
    /// types, bad globs, peer keys that are not DIDs, duplicate peers, `rate` values of 0,
    /// and exceeded bounds.
    pub fn from_toml(input: &str) -> Result<Self, PolicyError> {
        if input.len() > MAX_POLICY_BYTES {
            return Err(PolicyError {
                kind: PolicyErrorKind::TooLarge {
                    len: input.len(),
                    max: MAX_POLICY_BYTES,
                },
                at: None,
            });
        }
        let file: FileToml = toml::from_str(input).map_err(|e| {
            PolicyError::at(
                PolicyErrorKind::Toml(e.message().to_owned()),
                input,
                Some(e.span().unwrap_or(0..0)),
            )
        })?;
        // Entries in file order, so a duplicate is reported at its second occurrence.
        let mut entries: Vec<_> = file.peers.into_iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        if entries.len() > MAX_PEERS {
            let span = entries.get(MAX_PEERS).map(|(k, _)| k.span());
            return Err(PolicyError::at(
                PolicyErrorKind::TooManyPeers { max: MAX_PEERS },
                input,
                span,
            ));
        }
        let mut peers = BTreeMap::new();
        let mut by_key: BTreeMap<[u8; 32], Range<usize>> = BTreeMap::new();
        for (key, entry) in entries {
            let name = key.get_ref();
            let did: talos_did::Did = name.parse().map_err(|e: talos_did::DidError| {
                PolicyError::at(
                    PolicyErrorKind::BadPeer {
                        peer: name.clone(),
                        reason: e.to_string(),
                    },
                    input,
                    Some(key.span()),
                )
            })?;
            if let Some(vk) = did.signing_key()
                && let Some(first) = by_key.insert(*vk.as_bytes(), key.span())
            {
                let first = input
                    .get(first)
                    .unwrap_or_default()
                    .trim_matches(['"', '\'']);
                return Err(PolicyError::at(
                    PolicyErrorKind::DuplicatePeer {
                        peer: name.clone(),
                        first: first.to_owned(),
                    },
                    input,
                    Some(key.span()),
                ));
            }
            let e = entry.get_ref();
            let peer = PeerPolicy {
                enabled: e.enabled,
                allow_tools: compile(input, PatternList::AllowTools, e.allow_tools.as_ref())?,
                deny_tools: compile(input, PatternList::DenyTools, e.deny_tools.as_ref())?,
                allow_resources: compile(
                    input,
                    PatternList::AllowResources,
                    e.allow_resources.as_ref(),
                )?,
                deny_resources: compile(
                    input,
                    PatternList::DenyResources,
                    e.deny_resources.as_ref(),
                )?,
                rate: e.rate.as_ref().map(|r| rate(input, r)).transpose()?,
            };
            // TOML itself refuses a key written twice; this catches nothing more than the
            // signing-key check above but keeps the map honest.
            if peers
                .insert(did.to_string().into_boxed_str(), peer)
                .is_some()
            {
                return Err(PolicyError::at(
                    PolicyErrorKind::DuplicatePeer {
                        peer: name.clone(),
                        first: name.clone(),
                    },
                    input,
                    Some(key.span()),
                ));
            }
        }
        Ok(Self {
            default_allow: file.default_allow,
            peers,
        })
    }

    /// The `default_allow` setting.
    #[must_use]
    pub const fn default_allow(&self) -> bool {
        self.default_allow
    }

    /// The entry for `peer` (a DID, compared as written), if any.
    #[must_use]
    pub fn peer(&self, peer: &str) -> Option<&PeerPolicy> {
        self.peers.get(peer)
    }

    /// How many peers the policy lists.
    #[must_use]
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The rate limit configured for `peer`, if its entry has a `rate` table.
    #[must_use]
    pub fn rate_limit(&self, peer: &str) -> Option<RateLimit> {
        self.peers.get(peer).and_then(PeerPolicy::rate_limit)
    }

    /// Decides `request` from `peer` (see the [module docs](self) for the order). Allocates
    /// nothing.
    #[must_use]
    pub fn evaluate<'p>(&'p self, peer: &str, request: &PolicyRequest<'_>) -> PolicyDecision<'p> {
        let default = |reason| PolicyDecision {
            allowed: self.default_allow,
            reason,
        };
        let Some(entry) = self.peers.get(peer) else {
            return default(PolicyReason::UnknownPeer);
        };
        if !entry.enabled {
            return PolicyDecision {
                allowed: false,
                reason: PolicyReason::PeerDisabled,
            };
        }
        let (subject, deny, allow) = match *request {
            PolicyRequest::ToolCall { tool } => {
                (tool, PatternList::DenyTools, PatternList::AllowTools)
            }
            PolicyRequest::ResourceRead { uri } => {
                (uri, PatternList::DenyResources, PatternList::AllowResources)
            }
            PolicyRequest::Other { .. } => return default(PolicyReason::OtherMethod),
        };
        for (list, allowed) in [(deny, false), (allow, true)] {
            if let Some(pattern) = entry.patterns(list).iter().find(|g| g.matches(subject)) {
                return PolicyDecision {
                    allowed,
                    reason: PolicyReason::Pattern { list, pattern },
                };
            }
        }
        default(PolicyReason::NoPatternMatched)
    }
}

impl From<&PolicyError> for talos_crypto::ErrorCode {
    /// A policy file that does not load is bad input.
    fn from(_: &PolicyError) -> Self {
        Self::InvalidInput
    }
}
