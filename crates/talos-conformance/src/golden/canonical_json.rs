//! `crypto/canonical_json.json`: RFC 8785 canonical forms, and what the strict parser refuses.

use talos_crypto::json::Value;
use talos_crypto::{hash, json};

use super::{Derived, Family, Spec};
use crate::util::{object, s, str_field};

pub(super) const FAMILY: Family = Family {
    file: "crypto/canonical_json.json",
    contract: "crypto/canonical_json.schema.json",
    description: "RFC 8785 (JCS) canonical JSON of input documents, with SHA-256 of the canonical \
                  bytes; negative cases are documents the strict parser rejects",
    producer: super::crypto_producer,
    specs,
    derive,
};

fn input(text: &str) -> Value {
    object([("input", s(text))])
}

fn specs() -> Vec<Spec> {
    let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    vec![
        Spec::ok(
            "key-order-utf16",
            "members sorted by UTF-16 code units: U+1F600 (a surrogate pair) sorts before U+FF01",
            input(r#"{"\uff01":1,"\ud83d\ude00":2,"\u20ac":3,"aa":4,"a":5,"A":6,"":7}"#),
        ),
        Spec::ok(
            "nested",
            "nested objects and arrays are sorted recursively; array order is kept",
            input(r#"{"b":{"z":[3,{"y":1,"x":2}],"a":null},"a":true}"#),
        ),
        Spec::ok(
            "numbers",
            "numbers as ECMAScript prints the IEEE-754 double, including round-half-even",
            input(
                "[1.0, -0, 0.0, -0.0, 1e21, 1E2, 1.5e+3, 1e-7, 0.000001, 123e-20, 0.1, \
                 0.30000000000000004, 9007199254740992, -9007199254740992, 5e-324, \
                 1.7976931348623157e308, 1424953923781206.25, 333333333.33333325, \
                 999999999999999999999.0, 4.35]",
            ),
        ),
        Spec::ok(
            "large-integers",
            "integers beyond 2^53 spelled as canonical JSON writes their doubles",
            input(
                "[9007199254740994, 100000000000000000000, 1152921504606847000, -295147905179352830000]",
            ),
        ),
        Spec::ok(
            "strings",
            "minimal escapes: only quote, backslash and U+0000..U+001F; short forms where they exist",
            input(
                r#"["\u0000\u001f\"\\\/\b\f\n\r\t", "\u007f\u2028\u2029\u00e9", "\ud83d\udd10 安全"]"#,
            ),
        ),
        Spec::ok(
            "whitespace",
            "insignificant whitespace is removed",
            input("  {\n\t\"a\" :\r [ 1 , 2 ] ,\"b\" : { }\n}  "),
        ),
        Spec::ok(
            "empty-containers",
            "empty objects, arrays and strings",
            input(r#"{"a":{},"b":[],"c":""}"#),
        ),
        Spec::ok(
            "literals",
            "true, false and null",
            input("[true,false,null]"),
        ),
        Spec::ok(
            "scalar",
            "a document that is a single string",
            input(r#""just a string""#),
        ),
        Spec::err(
            "duplicate-key",
            "duplicate object keys are refused",
            input(r#"{"a":1,"a":2}"#),
            "duplicate key",
        ),
        Spec::err(
            "duplicate-key-escaped",
            "keys are compared after unescaping",
            input(r#"{"a":1,"\u0061":2}"#),
            "duplicate key",
        ),
        Spec::err(
            "lone-surrogate",
            "a lone surrogate escape is refused",
            input(r#"["\ud800"]"#),
            "lone surrogate",
        ),
        Spec::err(
            "integer-too-large",
            "2^53 + 1 is no double: reading it would silently change it",
            input("[9007199254740993]"),
            "2^53",
        ),
        Spec::err(
            "large-integer-not-canonical",
            "2^60 is a double, but canonical JSON writes it 1152921504606847000: one spelling only",
            input("[1152921504606846976]"),
            "2^53",
        ),
        Spec::err(
            "overflow",
            "a number beyond the double range",
            input("[1e400]"),
            "overflows",
        ),
        Spec::err("nan", "NaN is not JSON", input("[NaN]"), "invalid json"),
        Spec::err(
            "trailing-comma",
            "a trailing comma is not JSON",
            input("[1,2,]"),
            "invalid json",
        ),
        Spec::err(
            "leading-zero",
            "a leading zero is not JSON",
            input("[01]"),
            "invalid json",
        ),
        Spec::err(
            "bom",
            "a byte-order mark is refused",
            input("\u{feff}{}"),
            "invalid json",
        ),
        Spec::err(
            "too-deep",
            "nesting beyond 128 levels",
            input(&deep),
            "nested deeper",
        ),
        Spec::err(
            "trailing-data",
            "a second value after the document",
            input("{} {}"),
            "trailing",
        ),
    ]
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let text = str_field(inputs, "input")?;
    Ok(match json::canonicalize(text.as_bytes()) {
        Ok(canonical) => {
            let canonical = String::from_utf8(canonical).map_err(|e| e.to_string())?;
            // The canonical form is a fixed point.
            let again = json::canonicalize(canonical.as_bytes()).map_err(|e| e.to_string())?;
            if again != canonical.as_bytes() {
                return Err("canonical form is not a fixed point".into());
            }
            Derived::Ok {
                object: object([("input", s(text)), ("canonical", s(canonical.clone()))]),
                expected: object([(
                    "sha256_hex",
                    s(hash::to_hex(&hash::sha256(canonical.as_bytes()))),
                )]),
            }
        }
        Err(e) => Derived::error(Some(object([("input", s(text))])), e),
    })
}
