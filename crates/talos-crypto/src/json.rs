//! JSON for signatures: a strict parser and RFC 8785 (JCS) canonical output.
//!
//! Talos signs and hashes protocol objects as canonical JSON, so every implementation must
//! produce the same bytes for the same value:
//!
//! - [`canonicalize`] turns any JSON text into its RFC 8785 form: object members sorted by
//!   UTF-16 code units, no whitespace, the minimal string escapes, numbers printed as
//!   ECMAScript prints the IEEE-754 double (`1.0` → `1`, `-0` → `0`, `1e21` → `1e+21`).
//! - [`parse`] is the parser for anything we verify. It rejects what RFC 8785 forbids and
//!   what would let two parties read one document differently: duplicate object keys, lone
//!   surrogates, invalid UTF-8, a byte-order mark, nesting deeper than [`MAX_DEPTH`], numbers
//!   that overflow a double, and integers beyond 2^53 not spelled as RFC 8785 writes their
//!   double (`9007199254740993` denotes no double; RFC 8785 would silently rewrite it, and
//!   two documents would share one canonical form). Every integer up to 2^53 is accepted, and
//!   canonical output always parses again.
//! - [`to_canonical_vec`] is the producer side for signed objects and is stricter still,
//!   following the upstream Talos rule: no floating-point numbers at all, and integers within
//!   ±(2^53 − 1). Within that profile RFC 8785 and the upstream Python canonicaliser agree.
//!
//! ```
//! use talos_crypto::json;
//!
//! let canonical = json::canonicalize(br#"{ "b": [1.0, -0, 1e21], "a": "\u00e9" }"#).unwrap();
//! assert_eq!(canonical, r#"{"a":"é","b":[1,0,1e+21]}"#.as_bytes());
//! assert!(json::parse(br#"{"a":1,"a":2}"#).is_err());
//! ```

use std::collections::BTreeMap;

mod canonical;
pub(crate) use canonical::{utf16_cmp, write_string};
mod parse;
mod serde_bridge;

pub use parse::MAX_DEPTH;
pub use serde_bridge::{from_slice, from_value, to_canonical_vec, to_value};

/// 2^53: every integer of at most this magnitude is exactly a double.
pub const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Largest integer magnitude allowed in signed objects (`Number.MAX_SAFE_INTEGER`, 2^53 − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A JSON value as RFC 8785 models it: numbers are IEEE-754 doubles.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::exhaustive_enums)] // JSON's data model is closed.
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A finite number.
    Number(Number),
    /// A string (valid Unicode: no lone surrogates).
    String(String),
    /// An array.
    Array(Vec<Self>),
    /// An object; keys are unique.
    Object(Map),
}

/// A JSON object. Iteration is in code-point order; canonical output re-sorts by UTF-16
/// code units where the two differ.
pub type Map = BTreeMap<String, Value>;

/// A finite JSON number (an IEEE-754 double, as in RFC 8785).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Number(f64);

impl Number {
    /// A number from a double; `None` for NaN and the infinities, which JSON cannot express.
    #[must_use]
    pub fn from_f64(value: f64) -> Option<Self> {
        value.is_finite().then_some(Self(value))
    }

    /// The value as a double.
    #[must_use]
    pub const fn as_f64(self) -> f64 {
        self.0
    }

    /// The value as an integer, if it is integral with magnitude ≤ 2^53.
    #[must_use]
    #[allow(clippy::cast_possible_truncation, clippy::float_cmp)]
    pub fn as_i64(self) -> Option<i64> {
        let limit = MAX_EXACT_INTEGER as f64;
        (self.0.fract() == 0.0 && self.0.abs() <= limit).then_some(self.0 as i64)
    }

    /// The value as an unsigned integer, if it is integral, ≥ 0 and ≤ 2^53.
    #[must_use]
    pub fn as_u64(self) -> Option<u64> {
        self.as_i64().and_then(|v| u64::try_from(v).ok())
    }
}

impl From<u32> for Number {
    fn from(value: u32) -> Self {
        Self(f64::from(value))
    }
}

impl From<crate::record::SafeUint> for Number {
    #[allow(clippy::cast_precision_loss)] // at most 2^53 - 1: exact
    fn from(value: crate::record::SafeUint) -> Self {
        Self(value.get() as f64)
    }
}

impl From<i32> for Number {
    fn from(value: i32) -> Self {
        Self(f64::from(value))
    }
}

impl TryFrom<u64> for Number {
    type Error = JsonError;
    #[allow(clippy::cast_precision_loss)]
    fn try_from(value: u64) -> Result<Self, JsonError> {
        if value <= MAX_EXACT_INTEGER {
            Ok(Self(value as f64))
        } else {
            Err(JsonError::Unsupported {
                reason: format!("integer {value} exceeds 2^53"),
            })
        }
    }
}

impl TryFrom<i64> for Number {
    type Error = JsonError;
    #[allow(clippy::cast_precision_loss)]
    fn try_from(value: i64) -> Result<Self, JsonError> {
        if value.unsigned_abs() <= MAX_EXACT_INTEGER {
            Ok(Self(value as f64))
        } else {
            Err(JsonError::Unsupported {
                reason: format!("integer {value} exceeds 2^53 in magnitude"),
            })
        }
    }
}

impl Value {
    /// The member `key` of an object; `None` for other values or a missing key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The string, if this is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    #[must_use]
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Self::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The RFC 8785 canonical form, appended to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        canonical::write_value(self, out);
    }

    /// The RFC 8785 canonical form.
    #[must_use]
    pub fn to_canonical_vec(&self) -> Vec<u8> {
        self.to_canonical_string().into_bytes()
    }

    /// The RFC 8785 canonical form as a string.
    #[must_use]
    pub fn to_canonical_string(&self) -> String {
        let mut out = String::new();
        canonical::write_value_string(self, &mut out);
        out
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Self::Number(n)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Self {
        Self::Object(map)
    }
}

/// Parses JSON strictly (see the [module docs](self)).
///
/// # Errors
/// [`JsonError`] naming the byte offset and what was wrong.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    parse::parse(input)
}

/// Parses JSON strictly and returns its RFC 8785 canonical form.
///
/// # Errors
/// As [`parse`].
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>, JsonError> {
    Ok(parse(input)?.to_canonical_vec())
}

/// Checks that `value` fits the signing profile: every number an integer within ±(2^53 − 1).
///
/// # Errors
/// [`JsonError::Unsupported`] naming the first number that does not fit.
pub fn check_signing_profile(value: &Value) -> Result<(), JsonError> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.unsigned_abs() <= MAX_SAFE_INTEGER => Ok(()),
            _ => Err(JsonError::Unsupported {
                reason: format!("{} is not an integer within ±(2^53 - 1)", n.as_f64()),
            }),
        },
        Value::Array(items) => items.iter().try_for_each(check_signing_profile),
        Value::Object(map) => map.values().try_for_each(check_signing_profile),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// Why JSON was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// Not JSON (RFC 8259), or not valid UTF-8.
    #[error("invalid JSON at byte {offset}: {reason}")]
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What was expected or found.
        reason: &'static str,
    },
    /// An object has the same key twice (I-JSON forbids it; parsers disagree on which wins).
    #[error("invalid JSON at byte {offset}: duplicate key {key:?}")]
    DuplicateKey {
        /// Byte offset of the second occurrence.
        offset: usize,
        /// The key, cut to 64 characters.
        key: String,
    },
    /// A number that a double cannot hold exactly enough (see the [module docs](self)).
    #[error("invalid JSON at byte {offset}: {reason}")]
    Number {
        /// Byte offset of the number.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("invalid JSON at byte {offset}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Byte offset where the limit was crossed.
        offset: usize,
    },
    /// A value outside what signed Talos objects may hold (a float, or an integer beyond
    /// ±(2^53 − 1)), or a type that has no JSON form.
    #[error("value not allowed in canonical JSON: {reason}")]
    Unsupported {
        /// What was wrong.
        reason: String,
    },
    /// Valid JSON that does not have the shape the caller asked for.
    #[error("unexpected JSON shape: {reason}")]
    Shape {
        /// What serde reported.
        reason: String,
    },
}
