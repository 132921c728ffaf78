//! One field list, two encodings: canonical JSON and deterministic CBOR.
//!
//! A Talos object that crosses a boundary describes its fields once as a [`Record`]; the
//! JSON form (bytes as base64url, RFC 8785) and the CBOR form (bytes as byte strings, keys in
//! RFC 8949 deterministic order) both come from it, so they cannot drift apart, and neither
//! encoding can fail.

use crate::json::{Map, Value};
use crate::{base64url, cbor};

/// A field value.
#[derive(Clone, Debug)]
pub(crate) enum Field {
    /// A small unsigned integer (exact in JSON).
    Uint(u32),
    /// Text.
    Text(&'static str),
    /// Bytes: base64url in JSON, a byte string in CBOR.
    Bytes(Vec<u8>),
    /// A nested record.
    Record(Record),
}

/// An ordered-by-encoding set of named fields.
#[derive(Clone, Debug, Default)]
pub(crate) struct Record(Vec<(&'static str, Field)>);

impl Record {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a field (builder style).
    pub(crate) fn with(mut self, name: &'static str, value: Field) -> Self {
        self.0.push((name, value));
        self
    }

    /// Adds a field when `value` is `Some`.
    pub(crate) fn with_opt(self, name: &'static str, value: Option<Field>) -> Self {
        match value {
            Some(value) => self.with(name, value),
            None => self,
        }
    }

    pub(crate) fn to_json_value(&self) -> Value {
        let map: Map = self
            .0
            .iter()
            .map(|(name, field)| {
                let value = match field {
                    Field::Uint(n) => Value::Number((*n).into()),
                    Field::Text(t) => Value::from(*t),
                    Field::Bytes(b) => Value::String(base64url::encode(b)),
                    Field::Record(r) => r.to_json_value(),
                };
                ((*name).to_owned(), value)
            })
            .collect();
        Value::Object(map)
    }

    /// RFC 8785 canonical JSON.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        self.to_json_value().to_canonical_vec()
    }

    /// Deterministic CBOR: keys sorted by their encoding (shorter first, then bytewise).
    pub(crate) fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_cbor(&mut out);
        out
    }

    fn write_cbor(&self, out: &mut Vec<u8>) {
        let mut fields: Vec<&(&'static str, Field)> = self.0.iter().collect();
        fields.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(b.0)));
        cbor::write_map_header(out, fields.len());
        for (name, field) in fields {
            cbor::write_text(out, name);
            match field {
                Field::Uint(n) => cbor::write_uint(out, u64::from(*n)),
                Field::Text(t) => cbor::write_text(out, t),
                Field::Bytes(b) => cbor::write_bytes(out, b),
                Field::Record(r) => r.write_cbor(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encodings_from_one_list() {
        let r = Record::new()
            .with("data", Field::Bytes(vec![0xfb, 0xff]))
            .with("v", Field::Uint(1))
            .with("kind", Field::Text("x"));
        assert_eq!(r.to_json(), br#"{"data":"-_8","kind":"x","v":1}"#);
        let mut want = vec![0xa3, 0x61, b'v', 0x01, 0x64];
        want.extend_from_slice(b"data");
        want.extend_from_slice(&[0x42, 0xfb, 0xff, 0x64]);
        want.extend_from_slice(b"kind");
        want.extend_from_slice(&[0x61, b'x']);
        assert_eq!(r.to_cbor(), want);
    }
}
