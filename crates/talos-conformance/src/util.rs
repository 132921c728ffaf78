//! Small helpers for reading vector files.

use std::path::{Path, PathBuf};

use talos_crypto::json::{Map, Number, Value};

/// Member `key` of an object.
pub(crate) fn field<'a>(value: &'a Value, key: &str) -> Result<&'a Value, String> {
    value
        .get(key)
        .ok_or_else(|| format!("missing field {key:?}"))
}

/// String member `key`.
pub(crate) fn str_field<'a>(value: &'a Value, key: &str) -> Result<&'a str, String> {
    field(value, key)?
        .as_str()
        .ok_or_else(|| format!("field {key:?} is not a string"))
}

/// Hex-decoded string member `key`.
pub(crate) fn hex_field(value: &Value, key: &str) -> Result<Vec<u8>, String> {
    hex::decode(str_field(value, key)?).map_err(|e| format!("field {key:?}: {e}"))
}

/// Hex-decoded string member `key` of exactly `N` bytes.
pub(crate) fn hex_array<const N: usize>(value: &Value, key: &str) -> Result<[u8; N], String> {
    hex_field(value, key)?
        .try_into()
        .map_err(|_| format!("field {key:?} is not {N} bytes"))
}

/// Array member `key`.
pub(crate) fn array_field<'a>(value: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match field(value, key)? {
        Value::Array(items) => Ok(items),
        _ => Err(format!("field {key:?} is not an array")),
    }
}

/// Unsigned integer member `key`.
pub(crate) fn u64_field(value: &Value, key: &str) -> Result<u64, String> {
    match field(value, key)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("field {key:?} is not an unsigned integer")),
        _ => Err(format!("field {key:?} is not a number")),
    }
}

/// `expect == got`, or a message showing both.
pub(crate) fn same<T: PartialEq + core::fmt::Debug>(
    what: &str,
    expected: T,
    got: T,
) -> Result<(), String> {
    if expected == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {got:?}"))
    }
}

/// Checks an `expected_error` object (`{code, message_contains}`) against an error: the code
/// must match and the message must contain the substring, case-insensitively.
pub(crate) fn expect_error(expected: &Value, code: &str, message: &str) -> Result<(), String> {
    let want_code = str_field(expected, "code")?;
    let want_text = str_field(expected, "message_contains")?;
    same("error code", want_code, code)?;
    if message.to_lowercase().contains(&want_text.to_lowercase()) {
        Ok(())
    } else {
        Err(format!(
            "error message {message:?} does not contain {want_text:?}"
        ))
    }
}

/// An object from `(key, value)` pairs.
pub(crate) fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map>(),
    )
}

/// A string value.
pub(crate) fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// A small integer value.
pub(crate) fn n(value: u32) -> Value {
    Value::Number(Number::from(value))
}

/// Every `.json` file under `dir`, as (path relative to `dir` with `/` separators, full path),
/// sorted by relative path. Walks directories instead of globbing (some names hold `@`, `[`).
pub(crate) fn json_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and strictly parses a JSON file.
pub(crate) fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    talos_crypto::json::parse(&bytes).map_err(|e| e.to_string())
}
