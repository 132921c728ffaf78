//! Role-based access control bindings: scopes with attributes, specificity, deny by default.
//!
//! This is the pure logic of the upstream `rbac/*.json` vectors. A [`Scope`] is a type plus
//! string attributes, e.g. `repo {repo: "talosprotocol/talos"}`. A [`Binding`] grants some
//! actions (globs, see [`crate::glob`]) within one scope. An [`Identity`] holds bindings and
//! a [`PrincipalStatus`].
//!
//! # Scope matching ([`Scope::match_required`])
//!
//! A binding scope matches a required scope when
//! - the binding's type is `global` (it matches anything, specificity **0**), or
//! - the types are equal and every required attribute is present in the binding with the same
//!   value or with the value `"*"`; specificity **2** (exact) when no `"*"` was needed, **1**
//!   (wildcard) otherwise.
//!
//! One rule is ours, stricter than the vectors say: a binding attribute the required scope
//! does not name must be `"*"`. A binding for `{repo: x, branch: main}` is narrower than the
//! whole repository `{repo: x}` and does not grant it.
//!
//! # Decisions ([`authorize`])
//!
//! Deny by default: no identity, a principal that is not [`PrincipalStatus::Active`], or no
//! binding whose actions match the action and whose scope matches the required scope → deny,
//! with a [`RbacDenyReason`]. Otherwise allow, reporting the binding chosen: the matching
//! binding of highest specificity, the first one listed among equals.
//!
//! ```
//! use talos_acl::rbac::{Binding, Identity, RbacDecision, Scope, Specificity, authorize};
//!
//! let talos = Scope::new("repo", [("repo", "talosprotocol/talos")])?;
//! let any_repo = Scope::new("repo", [("repo", "*")])?;
//! let id = Identity::new(
//!     "p1",
//!     vec![
//!         Binding::new(&["repo.read"], any_repo)?,
//!         Binding::new(&["repo.*"], talos.clone())?,
//!     ],
//! )?;
//! // Both bindings match; the exact one wins over the wildcard one.
//! assert_eq!(
//!     authorize(Some(&id), "repo.read", &talos),
//!     RbacDecision::Allow { binding: 1, specificity: Specificity::Exact },
//! );
//! assert!(!authorize(Some(&id), "admin.write", &talos).is_allow());
//! assert!(!authorize(None, "repo.read", &talos).is_allow());
//! # Ok::<(), talos_acl::rbac::RbacError>(())
//! ```

use core::fmt;

use crate::glob::{Glob, GlobError};

/// The scope type that matches every required scope.
pub const GLOBAL_SCOPE_TYPE: &str = "global";

/// The attribute value that matches any value.
pub const WILDCARD: &str = "*";

/// Most attributes one scope may carry.
pub const MAX_SCOPE_ATTRIBUTES: usize = 32;

/// Most bindings one identity may hold.
pub const MAX_BINDINGS: usize = 1024;

/// Most action patterns one binding may hold.
pub const MAX_BINDING_ACTIONS: usize = 64;

/// Longest scope type, attribute name or value, or principal id, in bytes.
pub const MAX_RBAC_STRING_LEN: usize = 1024;

/// Why a scope, binding or identity could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RbacError {
    /// A scope type, attribute name or principal id is empty.
    #[error("empty {what}")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A string is longer than [`MAX_RBAC_STRING_LEN`].
    #[error("{what} is longer than {MAX_RBAC_STRING_LEN} bytes")]
    TooLong {
        /// What was too long.
        what: &'static str,
    },
    /// The same attribute name twice in one scope.
    #[error("duplicate scope attribute `{name}`")]
    DuplicateAttribute {
        /// The attribute name.
        name: String,
    },
    /// A `global` scope with attributes (they would mean nothing).
    #[error("a `global` scope takes no attributes")]
    GlobalWithAttributes,
    /// More items than a bound allows.
    #[error("too many {what}: more than {max}")]
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// The bound.
        max: usize,
    },
    /// An action pattern is not a valid glob.
    #[error("bad action pattern `{pattern}`: {source}")]
    BadAction {
        /// The pattern.
        pattern: String,
        /// Why.
        source: GlobError,
    },
}

/// How closely a binding scope matches a required scope; higher is more specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Specificity {
    /// A `global` binding (also the number reported for "no match": 0).
    Global = 0,
    /// Same type, at least one attribute matched through `"*"`.
    Wildcard = 1,
    /// Same type, every attribute equal.
    Exact = 2,
}

impl Specificity {
    /// The number the upstream vectors use: exact 2, wildcard 1, global 0.
    #[must_use]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

fn check_str(s: &str, what: &'static str) -> Result<(), RbacError> {
    if s.is_empty() {
        Err(RbacError::Empty { what })
    } else if s.len() > MAX_RBAC_STRING_LEN {
        Err(RbacError::TooLong { what })
    } else {
        Ok(())
    }
}

/// A scope: a type and string attributes (sorted by name, names unique).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    scope_type: Box<str>,
    attributes: Box<[(Box<str>, Box<str>)]>,
}

impl Scope {
    /// A scope of type `scope_type` with `attributes`.
    ///
    /// # Errors
    ///
    /// [`RbacError`] for an empty type or attribute name, a string over
    /// [`MAX_RBAC_STRING_LEN`], more than [`MAX_SCOPE_ATTRIBUTES`] attributes, a duplicate
    /// name, or attributes on a `global` scope.
    pub fn new<K: AsRef<str>, V: AsRef<str>>(
        scope_type: &str,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, RbacError> {
        check_str(scope_type, "scope type")?;
        let mut attrs: Vec<(Box<str>, Box<str>)> = Vec::new();
        for (k, v) in attributes {
            let (k, v) = (k.as_ref(), v.as_ref());
            if attrs.len() >= MAX_SCOPE_ATTRIBUTES {
                return Err(RbacError::TooMany {
                    what: "scope attributes",
                    max: MAX_SCOPE_ATTRIBUTES,
                });
            }
            check_str(k, "attribute name")?;
            if v.len() > MAX_RBAC_STRING_LEN {
                return Err(RbacError::TooLong {
                    what: "attribute value",
                });
            }
            attrs.push((k.into(), v.into()));
        }
        if scope_type == GLOBAL_SCOPE_TYPE && !attrs.is_empty() {
            return Err(RbacError::GlobalWithAttributes);
        }
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = attrs.windows(2).find(|w| matches!(w, [a, b] if a.0 == b.0)) {
            let name = w.first().map(|a| a.0.to_string()).unwrap_or_default();
            return Err(RbacError::DuplicateAttribute { name });
        }
        Ok(Self {
            scope_type: scope_type.into(),
            attributes: attrs.into_boxed_slice(),
        })
    }

    /// The `global` scope, which as a binding matches every required scope.
    #[must_use]
    pub fn global() -> Self {
        Self {
            scope_type: GLOBAL_SCOPE_TYPE.into(),
            attributes: Box::new([]),
        }
    }

    /// The scope type.
    #[must_use]
    pub fn scope_type(&self) -> &str {
        &self.scope_type
    }

    /// The value of attribute `name`.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .and_then(|i| self.attributes.get(i))
            .map(|(_, v)| &**v)
    }

    /// The attributes, sorted by name.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes.iter().map(|(k, v)| (&**k, &**v))
    }

    /// `true` for the `global` scope type.
    #[must_use]
    pub fn is_global(&self) -> bool {
        *self.scope_type == *GLOBAL_SCOPE_TYPE
    }

    /// Matches `self`, a binding's scope, against the `required` scope: `None` when it does
    /// not match, else its [`Specificity`]. Allocates nothing.
    #[must_use]
    pub fn match_required(&self, required: &Self) -> Option<Specificity> {
        if self.is_global() {
            return Some(Specificity::Global);
        }
        if self.scope_type != required.scope_type {
            return None;
        }
        let mut wildcard = false;
        for (name, want) in required.attributes() {
            match self.attribute(name) {
                Some(WILDCARD) => wildcard = true,
                Some(have) if have == want => {}
                _ => return None,
            }
        }
        // A binding attribute the requirement does not name narrows the binding.
        for (name, have) in self.attributes() {
            if required.attribute(name).is_none() {
                if have == WILDCARD {
                    wildcard = true;
                } else {
                    return None;
                }
            }
        }
        Some(if wildcard {
            Specificity::Wildcard
        } else {
            Specificity::Exact
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scope_type)?;
        f.write_str(" {")?;
        for (i, (k, v)) in self.attributes().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}: {v:?}")?;
        }
        f.write_str("}")
    }
}

/// A grant: some actions (glob patterns such as `repo.*`) within one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    actions: Box<[Glob]>,
    scope: Scope,
}

impl Binding {
    /// A binding granting `actions` within `scope`.
    ///
    /// # Errors
    ///
    /// [`RbacError::BadAction`] for a pattern that is not a glob, [`RbacError::TooMany`] for
    /// more than [`MAX_BINDING_ACTIONS`] patterns.
    pub fn new(actions: &[&str], scope: Scope) -> Result<Self, RbacError> {
        if actions.len() > MAX_BINDING_ACTIONS {
            return Err(RbacError::TooMany {
                what: "binding actions",
                max: MAX_BINDING_ACTIONS,
            });
        }
        let actions = actions
            .iter()
            .map(|a| {
                Glob::new(a).map_err(|source| RbacError::BadAction {
                    pattern: (*a).to_owned(),
                    source,
                })
            })
            .collect::<Result<Box<[_]>, _>>()?;
        Ok(Self { actions, scope })
    }

    /// The binding's scope.
    #[must_use]
    pub const fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The action patterns.
    #[must_use]
    pub fn actions(&self) -> &[Glob] {
        &self.actions
    }

    /// Whether one of the binding's patterns matches `action`.
    #[must_use]
    pub fn allows_action(&self, action: &str) -> bool {
        self.actions.iter().any(|g| g.matches(action))
    }
}

/// Whether a principal may act at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PrincipalStatus {
    /// In good standing.
    #[default]
    Active,
    /// Suspended: denied until reinstated.
    Suspended,
    /// Revoked for good (a revoked key): always denied.
    Revoked,
}

/// A principal with its status and bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    principal_id: Box<str>,
    status: PrincipalStatus,
    bindings: Box<[Binding]>,
}

impl Identity {
    /// An [`PrincipalStatus::Active`] principal with `bindings`.
    ///
    /// # Errors
    ///
    /// [`RbacError`] for an empty or too long id, or more than [`MAX_BINDINGS`] bindings.
    pub fn new(principal_id: &str, bindings: Vec<Binding>) -> Result<Self, RbacError> {
        check_str(principal_id, "principal id")?;
        if bindings.len() > MAX_BINDINGS {
            return Err(RbacError::TooMany {
                what: "bindings",
                max: MAX_BINDINGS,
            });
        }
        Ok(Self {
            principal_id: principal_id.into(),
            status: PrincipalStatus::Active,
            bindings: bindings.into_boxed_slice(),
        })
    }

    /// The same identity with `status`.
    #[must_use]
    pub const fn with_status(mut self, status: PrincipalStatus) -> Self {
        self.status = status;
        self
    }

    /// The principal's id.
    #[must_use]
    pub fn principal_id(&self) -> &str {
        &self.principal_id
    }

    /// The principal's status.
    #[must_use]
    pub const fn status(&self) -> PrincipalStatus {
        self.status
    }

    /// The bindings, in the order given.
    #[must_use]
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }
}

/// Why [`authorize`] denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RbacDenyReason {
    /// No identity was presented.
    NoIdentity,
    /// The principal is revoked.
    Revoked,
    /// The principal is suspended.
    Suspended,
    /// No binding grants this action in this scope (the default).
    NoMatchingBinding,
}

impl RbacDenyReason {
    /// The taxonomy code: [`ErrorCode::Denied`](talos_crypto::ErrorCode::Denied).
    #[must_use]
    pub const fn code(self) -> talos_crypto::ErrorCode {
        talos_crypto::ErrorCode::Denied
    }
}

impl fmt::Display for RbacDenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoIdentity => "denied: no identity",
            Self::Revoked => "denied: principal revoked",
            Self::Suspended => "denied: principal suspended",
            Self::NoMatchingBinding => "denied: no binding grants this action in this scope",
        })
    }
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RbacDecision {
    /// Allowed by the binding at index `binding` of [`Identity::bindings`].
    Allow {
        /// Index of the chosen binding.
        binding: usize,
        /// How specifically its scope matched.
        specificity: Specificity,
    },
    /// Denied.
    Deny(RbacDenyReason),
}

impl RbacDecision {
    /// `true` for [`RbacDecision::Allow`].
    #[must_use]
    pub const fn is_allow(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}

/// Decides whether `identity` may perform `action` within `required`. Deny by default;
/// among matching bindings the most specific wins, the first listed among equals.
/// Allocates nothing.
#[must_use]
pub fn authorize(identity: Option<&Identity>, action: &str, required: &Scope) -> RbacDecision {
    let Some(identity) = identity else {
        return RbacDecision::Deny(RbacDenyReason::NoIdentity);
    };
    match identity.status {
        PrincipalStatus::Active => {}
        PrincipalStatus::Revoked => return RbacDecision::Deny(RbacDenyReason::Revoked),
        PrincipalStatus::Suspended => return RbacDecision::Deny(RbacDenyReason::Suspended),
    }
    let mut best: Option<(usize, Specificity)> = None;
    for (i, b) in identity.bindings.iter().enumerate() {
        let Some(spec) = b.scope.match_required(required) else {
            continue;
        };
        if best.is_some_and(|(_, s)| s >= spec) || !b.allows_action(action) {
            continue;
        }
        best = Some((i, spec));
        if spec == Specificity::Exact {
            break;
        }
    }
    match best {
        Some((binding, specificity)) => RbacDecision::Allow {
            binding,
            specificity,
        },
        None => RbacDecision::Deny(RbacDenyReason::NoMatchingBinding),
    }
}
