//! Typed values in and out of [`Value`], through serde.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{JsonError, Map, Number, Value};

/// The canonical JSON of a typed value, under the signing profile: integers within
/// ±(2^53 − 1) and no floating-point numbers (the upstream Talos rule for signed objects).
/// Map keys must be strings.
///
/// # Errors
/// [`JsonError::Unsupported`] for a float, an out-of-range integer or a non-string map key.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Claims { sub: &'static str, exp: u64 }
/// let bytes = talos_crypto::json::to_canonical_vec(&Claims { sub: "bob", exp: 1 }).unwrap();
/// assert_eq!(bytes, br#"{"exp":1,"sub":"bob"}"#);
/// ```
pub fn to_canonical_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JsonError> {
    Ok(to_value(value)?.to_canonical_vec())
}

/// A typed value as a [`Value`], under the signing profile of [`to_canonical_vec`].
///
/// # Errors
/// As [`to_canonical_vec`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, JsonError> {
    let json = serde_json::to_value(value).map_err(|e| JsonError::Unsupported {
        reason: e.to_string(),
    })?;
    let value = from_serde_json(json)?;
    super::check_signing_profile(&value)?;
    Ok(value)
}

fn from_serde_json(json: serde_json::Value) -> Result<Value, JsonError> {
    Ok(match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Number(number(&n)?),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(from_serde_json)
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, from_serde_json(v)?)))
                .collect::<Result<Map, JsonError>>()?,
        ),
    })
}

fn number(n: &serde_json::Number) -> Result<Number, JsonError> {
    if let Some(u) = n.as_u64() {
        Number::try_from(u)
    } else if let Some(i) = n.as_i64() {
        Number::try_from(i)
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .ok_or_else(|| JsonError::Unsupported {
                reason: format!("{n} is not a finite number"),
            })
    }
}

/// A typed value from a [`Value`].
///
/// # Errors
/// [`JsonError::Shape`] if the value does not deserialize into `T`.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, JsonError> {
    serde_json::from_value(to_serde_json(value)).map_err(|e| JsonError::Shape {
        reason: e.to_string(),
    })
}

/// Parses JSON strictly (as [`parse`](super::parse)) into a typed value.
///
/// # Errors
/// As [`parse`](super::parse), or [`JsonError::Shape`].
pub fn from_slice<T: DeserializeOwned>(input: &[u8]) -> Result<T, JsonError> {
    from_value(&super::parse(input)?)
}

fn to_serde_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => serde_json::Value::from(i),
            None => serde_json::Number::from_f64(n.as_f64())
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
        },
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde_json).collect()),
        Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_serde_json(v)))
                .collect(),
        ),
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap as _, SerializeSeq as _};
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => match n.as_i64() {
                Some(i) => serializer.serialize_i64(i),
                None => serializer.serialize_f64(n.as_f64()),
            },
            Self::String(s) => serializer.serialize_str(s),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(map) => {
                let mut m = serializer.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}
