//! One field list, two encodings: canonical JSON and deterministic CBOR.
//!
//! A Talos object that crosses a boundary describes its fields once as a [`Record`]; the
//! JSON form (bytes as base64url, RFC 8785) and the CBOR form (bytes as byte strings, map keys
//! in RFC 8949 §4.2.1 deterministic order) both come from it, so they cannot drift apart, and
//! neither encoding can fail: integers are [`SafeUint`]s, which JSON carries exactly.
//!
//! Decoding goes through serde (see [`json::from_value`] and
//! [`cbor::decode`]); a decoder then re-encodes with the same `Record`
//! and compares, so each value has one accepted CBOR form.
//!
//! ```
//! use talos_crypto::record::{Field, Record};
//!
//! let record = Record::new()
//!     .with("v", Field::uint(1))
//!     .with("data", Field::bytes(&[0xfb, 0xff][..]))
//!     .with("kind", Field::text("x"))
//!     .with("tags", Field::List(vec![Field::text("a"), Field::uint(2)]));
//! assert_eq!(record.to_json(), br#"{"data":"-_8","kind":"x","tags":["a",2],"v":1}"#);
//! // CBOR: {"v": 1, "data": h'fbff', "kind": "x", "tags": ["a", 2]}, shorter keys first.
//! assert_eq!(record.to_cbor()[..4], [0xa4, 0x61, b'v', 0x01]);
//! ```

use std::borrow::Cow;

use core::fmt::Write as _;

use crate::json::{self, MAX_SAFE_INTEGER, Map, Number, Value};
use crate::{base64url, cbor};

/// An unsigned integer JSON carries exactly: at most 2^53 − 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SafeUint(u64);

impl SafeUint {
    /// The largest value, 2^53 − 1.
    pub const MAX: Self = Self(MAX_SAFE_INTEGER);

    /// `value`, if it is at most 2^53 − 1.
    #[must_use]
    pub const fn new(value: u64) -> Option<Self> {
        if value <= MAX_SAFE_INTEGER {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u32> for SafeUint {
    fn from(value: u32) -> Self {
        Self(u64::from(value))
    }
}

/// A field value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field<'a> {
    /// An unsigned integer.
    Uint(SafeUint),
    /// Text.
    Text(Cow<'a, str>),
    /// Bytes: base64url in JSON, a byte string in CBOR.
    Bytes(Cow<'a, [u8]>),
    /// A nested record.
    Record(Record<'a>),
    /// A list: a JSON array, a CBOR array.
    List(Vec<Self>),
}

impl<'a> Field<'a> {
    /// An integer field from a `u32`.
    #[must_use]
    pub fn uint(value: u32) -> Self {
        Self::Uint(value.into())
    }

    /// A text field.
    pub fn text(text: impl Into<Cow<'a, str>>) -> Self {
        Self::Text(text.into())
    }

    /// A bytes field.
    pub fn bytes(bytes: impl Into<Cow<'a, [u8]>>) -> Self {
        Self::Bytes(bytes.into())
    }
}

/// Named fields; their order does not matter, each encoding sorts them its own way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record<'a>(Vec<(&'static str, Field<'a>)>);

impl<'a> Record<'a> {
    /// No fields.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field (builder style). Names must be unique.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: Field<'a>) -> Self {
        self.0.push((name, value));
        self
    }

    /// Adds a field when `value` is `Some`: absent optional fields are omitted.
    #[must_use]
    pub fn with_opt(self, name: &'static str, value: Option<Field<'a>>) -> Self {
        match value {
            Some(value) => self.with(name, value),
            None => self,
        }
    }

    /// The JSON value.
    #[must_use]
    pub fn to_json_value(&self) -> Value {
        let map: Map = self
            .0
            .iter()
            .map(|(name, field)| ((*name).to_owned(), field.to_json_value()))
            .collect();
        Value::Object(map)
    }

    /// RFC 8785 canonical JSON: the canonical form of [`Record::to_json_value`], written
    /// directly.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = String::new();
        self.write_json(&mut out);
        out.into_bytes()
    }

    fn write_json(&self, out: &mut String) {
        let mut fields: Vec<&(&'static str, Field<'a>)> = self.0.iter().collect();
        fields.sort_by(|a, b| json::utf16_cmp(a.0, b.0));
        out.push('{');
        for (i, (name, field)) in fields.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_string(name, out);
            out.push(':');
            field.write_json(out);
        }
        out.push('}');
    }

    /// Deterministic CBOR.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_cbor(&mut out);
        out
    }

    /// Appends the deterministic CBOR to `out`.
    pub fn write_cbor(&self, out: &mut Vec<u8>) {
        let mut fields: Vec<&(&'static str, Field<'a>)> = self.0.iter().collect();
        // Text keys: a shorter key has a smaller head, so RFC 8949's bytewise order of the
        // encoded keys is by length, then by bytes.
        fields.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(b.0)));
        cbor::write_map_header(out, fields.len());
        for (name, field) in fields {
            cbor::write_text(out, name);
            field.write_cbor(out);
        }
    }
}

impl Field<'_> {
    fn to_json_value(&self) -> Value {
        match self {
            Self::Uint(n) => Value::Number(Number::from(*n)),
            Self::Text(t) => Value::String(t.clone().into_owned()),
            Self::Bytes(b) => Value::String(base64url::encode(b)),
            Self::Record(r) => r.to_json_value(),
            Self::List(items) => Value::Array(items.iter().map(Self::to_json_value).collect()),
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            // At most 2^53 - 1: RFC 8785 prints it as its decimal digits.
            Self::Uint(n) => {
                let _ = write!(out, "{}", n.get());
            }
            Self::Text(t) => json::write_string(t, out),
            Self::Bytes(b) => {
                out.push('"');
                base64url::encode_to(b, out);
                out.push('"');
            }
            Self::Record(r) => r.write_json(out),
            Self::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
        }
    }

    fn write_cbor(&self, out: &mut Vec<u8>) {
        match self {
            Self::Uint(n) => cbor::write_uint(out, n.get()),
            Self::Text(t) => cbor::write_text(out, t),
            Self::Bytes(b) => cbor::write_bytes(out, b),
            Self::Record(r) => r.write_cbor(out),
            Self::List(items) => {
                cbor::write_array_header(out, items.len());
                for item in items {
                    item.write_cbor(out);
                }
            }
        }
    }
}
