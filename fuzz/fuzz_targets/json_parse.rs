//! `json::parse` takes any bytes; an accepted value's RFC 8785 form parses back to the same
//! value, is a fixed point of `canonicalize`, and is what `canonicalize(input)` returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::json;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = json::parse(data) else { return };
    let canonical = value.to_canonical_vec();
    let text = String::from_utf8_lossy(&canonical);
    assert_eq!(json::canonicalize(data).as_ref(), Ok(&canonical), "canonicalize(input) differs from {text}");
    assert_eq!(json::parse(&canonical).as_ref(), Ok(&value), "canonical form {text} does not parse back");
    assert_eq!(json::canonicalize(&canonical).as_ref(), Ok(&canonical), "canonicalize not idempotent on {text}");
});
