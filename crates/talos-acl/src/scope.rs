//! Scopes and constraints: what a capability allows, compiled once per token and checked
//! against a [`Request`] without allocating.
//!
//! # Scope string
//!
//! One or more items separated by single spaces. An item is
//!
//! ```text
//! tool:<name>[/method:<name>][/resource:<pattern>]
//! ```
//!
//! - `<name>` is a non-empty run of characters other than `/`, space and control characters;
//!   `*` matches any value of that key (`tool:*`, `method:*`).
//! - `<pattern>` is the rest of the item (it may hold `/`): a [`Glob`], or `*` for any value.
//! - An item matches a request when every part the item names matches the request's value
//!   for that key; a part the item leaves out matches anything (prefix coverage: `tool:fs`
//!   covers `tool:fs/method:read`). A request without a method (or resource) is matched only
//!   by items that name no method (or resource).
//! - The upstream TS/MCP form: the item `tools/call` together with `constraints.tool` (and
//!   optionally `constraints.method`) means `tool:<constraints.tool>[/method:<constraints.method>]`.
//!
//! A request is denied with `UNKNOWN_TOOL` when no item names its tool, and `SCOPE_MISMATCH`
//! when some item names the tool but none matches; an empty tool or method is
//! `SCOPE_MISMATCH`.
//!
//! # Constraints
//!
//! The optional `constraints` object, every member optional:
//!
//! | member | type | check |
//! |---|---|---|
//! | `paths` | array of globs | the request's `path` must be present and match one |
//! | `allowed_tools` | array of globs | the request's tool must match one |
//! | `max_arg_bytes` | integer | the request's `arg_bytes` must be at most this |
//! | `tool`, `method` | string | the TS form of the scope (above); also checked as constraints: the tool (and method) must equal them (`*`: any) |
//!
//! Any other member makes the token unusable (denied, naming the member): an unknown
//! constraint is never silently ignored.
//!
//! ```
//! use talos_acl::scope::{CompiledScope, Request};
//!
//! let scope = CompiledScope::parse("tool:fs/method:read tool:git/resource:repo/src/**", None).unwrap();
//! assert!(scope.matches(&Request::new("fs").with_method("read")));
//! assert!(!scope.matches(&Request::new("fs").with_method("write")));
//! assert!(scope.matches(&Request::new("git").with_resource("repo/src/lib.rs")));
//! assert!(!scope.matches(&Request::new("shell")));
//! ```

use talos_crypto::json::{Map, Value};

use crate::glob::{Glob, GlobError};

/// The most globs one constraint list (`paths`, `allowed_tools`) may hold.
pub const MAX_CONSTRAINT_GLOBS: usize = 64;

/// One request to authorize: a tool call and what the constraints look at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request<'a> {
    /// The tool name (MCP `params.name`).
    pub tool: &'a str,
    /// The method, if the tool has methods.
    pub method: Option<&'a str>,
    /// The resource the call touches (a URI or path), matched by `resource:` patterns.
    pub resource: Option<&'a str>,
    /// The call's `path` argument, checked against the `paths` constraint.
    pub path: Option<&'a str>,
    /// Size of the call's arguments in bytes, checked against `max_arg_bytes`.
    pub arg_bytes: usize,
}

impl<'a> Request<'a> {
    /// A call of `tool` with no method, resource or path and empty arguments.
    #[must_use]
    pub const fn new(tool: &'a str) -> Self {
        Self {
            tool,
            method: None,
            resource: None,
            path: None,
            arg_bytes: 0,
        }
    }

    /// With a method.
    #[must_use]
    pub const fn with_method(mut self, method: &'a str) -> Self {
        self.method = Some(method);
        self
    }

    /// With a resource.
    #[must_use]
    pub const fn with_resource(mut self, resource: &'a str) -> Self {
        self.resource = Some(resource);
        self
    }

    /// With a `path` argument.
    #[must_use]
    pub const fn with_path(mut self, path: &'a str) -> Self {
        self.path = Some(path);
        self
    }

    /// With the argument size in bytes.
    #[must_use]
    pub const fn with_arg_bytes(mut self, arg_bytes: usize) -> Self {
        self.arg_bytes = arg_bytes;
        self
    }
}

/// Why a scope string or constraints object cannot be compiled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The scope string has an empty item (empty string, double, leading or trailing space).
    #[error("malformed scope: empty scope item")]
    EmptyItem,
    /// An item fits neither grammar (shown cut to 64 characters).
    #[error("malformed scope item {item:?}: {reason}")]
    BadItem {
        /// The item.
        item: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A resource pattern is not a valid glob.
    #[error("malformed scope item {item:?}: {error}")]
    BadPattern {
        /// The item.
        item: String,
        /// The glob error.
        error: GlobError,
    },
    /// A constraint this crate does not know: the token is refused rather than the
    /// constraint ignored.
    #[error("unknown constraint {0:?}")]
    UnknownConstraint(String),
    /// A known constraint with a bad value.
    #[error("malformed constraint {key:?}: {reason}")]
    BadConstraint {
        /// The constraint.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Why a request is outside a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeDenial {
    /// No item names the request's tool.
    UnknownTool,
    /// Items name the tool, but none matches the method or resource (or the tool or
    /// method is empty).
    ScopeMismatch,
}

/// Which constraint a request violates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstraintViolation {
    /// The request has no path, or its path matches none of `paths`.
    Path,
    /// The tool matches none of `allowed_tools`.
    Tool,
    /// `arg_bytes` exceeds `max_arg_bytes`.
    ArgBytes,
    /// The method is absent or differs from the `method` constraint.
    Method,
}

impl ConstraintViolation {
    /// A short message naming the constraint.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Self::Path => "constraint violation: path not allowed by `paths`",
            Self::Tool => "constraint violation: tool not allowed by `allowed_tools`",
            Self::ArgBytes => "constraint violation: arguments larger than `max_arg_bytes`",
            Self::Method => "constraint violation: method not allowed by `method`",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Any,
    /// A name and its [`fingerprint`], compared first so that most mismatches cost one
    /// integer compare.
    Exact(Box<str>, u64),
}

/// The length and first eight bytes of `s`, folded into a `u64`: equal strings have equal
/// fingerprints.
fn fingerprint(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut word = [0_u8; 8];
    for (w, b) in word.iter_mut().zip(bytes) {
        *w = *b;
    }
    u64::from_le_bytes(word) ^ (bytes.len() as u64).rotate_left(40)
}

impl Part {
    fn parse(text: &str, item: &str) -> Result<Self, ScopeError> {
        if text == "*" {
            return Ok(Self::Any);
        }
        if text.is_empty() {
            return Err(bad(item, "empty name"));
        }
        if text.chars().any(|c| c.is_control() || c == '/' || c == ' ') {
            return Err(bad(item, "name holds '/', a space or a control character"));
        }
        Ok(Self::Exact(text.into(), fingerprint(text)))
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(name, _) => **name == *value,
        }
    }

    fn matches_fp(&self, value: &str, fp: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(name, f) => *f == fp && **name == *value,
        }
    }

    fn covers(&self, child: &Self) -> bool {
        match (self, child) {
            (Self::Any, _) => true,
            (Self::Exact(a, _), Self::Exact(b, _)) => a == b,
            (Self::Exact(..), Self::Any) => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Resource {
    Any,
    Pattern(Glob),
}

impl Resource {
    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Pattern(g) => g.matches(value),
        }
    }

    fn covers(&self, child: &Self) -> bool {
        match (self, child) {
            (Self::Any, _) => true,
            (Self::Pattern(p), Self::Pattern(c)) => p.covers(c),
            (Self::Pattern(p), Self::Any) => p.is_match_all(),
        }
    }
}

/// One compiled scope item.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    tool: Part,
    method: Option<Part>,
    resource: Option<Resource>,
}

fn opt_matches<T>(part: Option<&T>, value: Option<&str>, f: impl Fn(&T, &str) -> bool) -> bool {
    match (part, value) {
        (None, _) => true,
        (Some(p), Some(v)) => f(p, v),
        (Some(_), None) => false,
    }
}

fn opt_covers<T>(parent: Option<&T>, child: Option<&T>, f: impl Fn(&T, &T) -> bool) -> bool {
    match (parent, child) {
        (None, _) => true,
        (Some(p), Some(c)) => f(p, c),
        (Some(_), None) => false,
    }
}

impl Item {
    fn covers(&self, child: &Self) -> bool {
        self.tool.covers(&child.tool)
            && opt_covers(self.method.as_ref(), child.method.as_ref(), Part::covers)
            && opt_covers(
                self.resource.as_ref(),
                child.resource.as_ref(),
                Resource::covers,
            )
    }

    fn parse(item: &str, constraints: Option<&Map>) -> Result<Self, ScopeError> {
        if item == "tools/call" {
            return Self::from_ts_constraints(item, constraints);
        }
        let Some(rest) = item.strip_prefix("tool:") else {
            return Err(bad(
                item,
                "expected tool:<name>[/method:<name>][/resource:<pattern>] or tools/call",
            ));
        };
        let (tool, mut rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let tool = Part::parse(tool, item)?;
        let mut method = None;
        if let Some(after) = rest.strip_prefix("/method:") {
            let (name, r) = after.split_at(after.find('/').unwrap_or(after.len()));
            method = Some(Part::parse(name, item)?);
            rest = r;
        }
        let mut resource = None;
        if let Some(pattern) = rest.strip_prefix("/resource:") {
            resource = Some(if pattern == "*" {
                Resource::Any
            } else {
                Resource::Pattern(Glob::new(pattern).map_err(|error| ScopeError::BadPattern {
                    item: cut(item),
                    error,
                })?)
            });
            rest = "";
        }
        if !rest.is_empty() {
            return Err(bad(item, "expected /method:<name> or /resource:<pattern>"));
        }
        Ok(Self {
            tool,
            method,
            resource,
        })
    }

    fn from_ts_constraints(item: &str, constraints: Option<&Map>) -> Result<Self, ScopeError> {
        let get = |key: &str| -> Result<Option<&str>, ScopeError> {
            match constraints.and_then(|c| c.get(key)) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(item, "constraints.tool and .method must be strings")),
            }
        };
        let tool = get("tool")?.ok_or_else(|| bad(item, "tools/call needs constraints.tool"))?;
        let method = get("method")?;
        Ok(Self {
            tool: Part::parse(tool, item)?,
            method: method.map(|m| Part::parse(m, item)).transpose()?,
            resource: None,
        })
    }
}

/// A scope string compiled once; [`CompiledScope::check`] allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledScope {
    items: Box<[Item]>,
}

impl CompiledScope {
    /// Compiles `scope`; `constraints` supplies `tool`/`method` for `tools/call` items.
    ///
    /// # Errors
    /// [`ScopeError`] naming the first item that fits neither grammar.
    pub fn parse(scope: &str, constraints: Option<&Map>) -> Result<Self, ScopeError> {
        let mut items = Vec::new();
        for item in scope.split(' ') {
            if item.is_empty() {
                return Err(ScopeError::EmptyItem);
            }
            if items.len() >= crate::token::MAX_SCOPE_ITEMS {
                return Err(bad(item, "too many scope items"));
            }
            items.push(Item::parse(item, constraints)?);
        }
        Ok(Self {
            items: items.into_boxed_slice(),
        })
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` if there are no items (never, for a parsed scope).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether some item matches `request`.
    #[must_use]
    pub fn matches(&self, request: &Request<'_>) -> bool {
        self.check(request).is_ok()
    }

    /// Checks `request`; on failure, says whether the tool was unknown or the method or
    /// resource did not match. Allocates nothing.
    ///
    /// # Errors
    /// [`ScopeDenial`].
    pub fn check(&self, request: &Request<'_>) -> Result<(), ScopeDenial> {
        if request.tool.is_empty() || request.method == Some("") {
            return Err(ScopeDenial::ScopeMismatch);
        }
        let mut tool_known = false;
        let fp = fingerprint(request.tool);
        for item in &self.items {
            if !item.tool.matches_fp(request.tool, fp) {
                continue;
            }
            tool_known = true;
            if opt_matches(item.method.as_ref(), request.method, Part::matches)
                && opt_matches(item.resource.as_ref(), request.resource, Resource::matches)
            {
                return Ok(());
            }
        }
        Err(if tool_known {
            ScopeDenial::ScopeMismatch
        } else {
            ScopeDenial::UnknownTool
        })
    }

    /// Whether every item of `child` is covered by some item of `self`: then every request
    /// `child` allows, `self` allows. Sound and conservative (see [`Glob::covers`]).
    #[must_use]
    pub fn covers(&self, child: &Self) -> bool {
        child
            .items
            .iter()
            .all(|c| self.items.iter().any(|p| p.covers(c)))
    }
}

/// The compiled `constraints` of one token. [`Constraints::check`] allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Constraints {
    paths: Option<Box<[Glob]>>,
    allowed_tools: Option<Box<[Glob]>>,
    max_arg_bytes: Option<u64>,
    tool: Option<Part>,
    method: Option<Part>,
}

impl Constraints {
    /// Compiles a constraints object (`None`: no constraints).
    ///
    /// # Errors
    /// [`ScopeError::UnknownConstraint`] for a member this crate does not know;
    /// [`ScopeError::BadConstraint`] for a bad value.
    pub fn parse(constraints: Option<&Map>) -> Result<Self, ScopeError> {
        let mut out = Self::default();
        let Some(map) = constraints else {
            return Ok(out);
        };
        for (key, value) in map {
            match key.as_str() {
                "paths" => out.paths = Some(globs("paths", value)?),
                "allowed_tools" => out.allowed_tools = Some(globs("allowed_tools", value)?),
                "max_arg_bytes" => {
                    let n = match value {
                        Value::Number(n) => n.as_u64(),
                        _ => None,
                    };
                    out.max_arg_bytes = Some(n.ok_or_else(|| ScopeError::BadConstraint {
                        key: "max_arg_bytes",
                        reason: "not a non-negative integer".into(),
                    })?);
                }
                // The TS form of the scope, also enforced on their own.
                "tool" => out.tool = Some(name("tool", value)?),
                "method" => out.method = Some(name("method", value)?),
                other => {
                    return Err(ScopeError::UnknownConstraint(cut(other)));
                }
            }
        }
        Ok(out)
    }

    /// `true` when there is nothing to check.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.paths.is_none()
            && self.allowed_tools.is_none()
            && self.max_arg_bytes.is_none()
            && self.tool.is_none()
            && self.method.is_none()
    }

    /// Checks `request`. Allocates nothing.
    ///
    /// # Errors
    /// The [`ConstraintViolation`] found first (`tool`, `method`, `allowed_tools`, `paths`,
    /// then size).
    pub fn check(&self, request: &Request<'_>) -> Result<(), ConstraintViolation> {
        self.check_target(request)?;
        if let Some(paths) = &self.paths {
            match request.path {
                Some(p) if paths.iter().any(|g| g.matches(p)) => {}
                _ => return Err(ConstraintViolation::Path),
            }
        }
        if let Some(max) = self.max_arg_bytes
            && u64::try_from(request.arg_bytes).map_or(true, |n| n > max)
        {
            return Err(ConstraintViolation::ArgBytes);
        }
        Ok(())
    }

    /// The constraints on the tool and method only (`tool`, `method`, `allowed_tools`), not
    /// those on a call's arguments.
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn check_target(&self, request: &Request<'_>) -> Result<(), ConstraintViolation> {
        if let Some(tool) = &self.tool
            && !tool.matches(request.tool)
        {
            return Err(ConstraintViolation::Tool);
        }
        if let Some(method) = &self.method
            && !opt_matches(Some(method), request.method, Part::matches)
        {
            return Err(ConstraintViolation::Method);
        }
        if let Some(tools) = &self.allowed_tools
            && !tools.iter().any(|g| g.matches(request.tool))
        {
            return Err(ConstraintViolation::Tool);
        }
        Ok(())
    }

    /// Whether `self` (a child's constraints) is at least as tight as `parent`'s: each list
    /// the child sets is covered by the parent's, and `max_arg_bytes` does not grow. A
    /// constraint the child leaves out is inherited (the verifier enforces every link's
    /// constraints), so leaving one out is allowed.
    #[must_use]
    pub fn tightens(&self, parent: &Self) -> bool {
        fn list(child: Option<&[Glob]>, parent: Option<&[Glob]>) -> bool {
            match (child, parent) {
                (_, None) | (None, Some(_)) => true,
                (Some(c), Some(p)) => c.iter().all(|g| p.iter().any(|pg| pg.covers(g))),
            }
        }
        list(self.paths.as_deref(), parent.paths.as_deref())
            && list(
                self.allowed_tools.as_deref(),
                parent.allowed_tools.as_deref(),
            )
            && match (self.max_arg_bytes, parent.max_arg_bytes) {
                (Some(c), Some(p)) => c <= p,
                (_, None) | (None, Some(_)) => true,
            }
            && inherit_or_cover(parent.tool.as_ref(), self.tool.as_ref())
            && inherit_or_cover(parent.method.as_ref(), self.method.as_ref())
    }
}

/// A child's `tool`/`method` constraint: absent (inherited) or covered by the parent's.
fn inherit_or_cover(parent: Option<&Part>, child: Option<&Part>) -> bool {
    match (parent, child) {
        (Some(p), Some(c)) => p.covers(c),
        _ => true,
    }
}

fn name(key: &'static str, value: &Value) -> Result<Part, ScopeError> {
    let text = value.as_str().ok_or_else(|| ScopeError::BadConstraint {
        key,
        reason: "not a string".into(),
    })?;
    Part::parse(text, text).map_err(|_| ScopeError::BadConstraint {
        key,
        reason: "empty, or holds '/', a space or a control character".into(),
    })
}

fn globs(key: &'static str, value: &Value) -> Result<Box<[Glob]>, ScopeError> {
    let Value::Array(items) = value else {
        return Err(ScopeError::BadConstraint {
            key,
            reason: "not an array of strings".into(),
        });
    };
    if items.len() > MAX_CONSTRAINT_GLOBS {
        return Err(ScopeError::BadConstraint {
            key,
            reason: format!("more than {MAX_CONSTRAINT_GLOBS} patterns"),
        });
    }
    items
        .iter()
        .map(|v| {
            let s = v.as_str().ok_or_else(|| ScopeError::BadConstraint {
                key,
                reason: "not an array of strings".into(),
            })?;
            Glob::new(s).map_err(|e| ScopeError::BadConstraint {
                key,
                reason: e.to_string(),
            })
        })
        .collect()
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

fn bad(item: &str, reason: &'static str) -> ScopeError {
    ScopeError::BadItem {
        item: cut(item),
        reason,
    }
}
