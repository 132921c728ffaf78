//! `talos-conformance jcs` agrees with RFC 8785 and refuses what it must.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write as _;
use std::process::{Command, Stdio};

fn jcs(input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_talos-conformance"))
        .arg("jcs")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(input: &str, want: &str) {
    let (code, out, err) = jcs(input);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, want, ""),
        "input {input:?}"
    );
}

fn refused(input: &str, needle: &str) {
    let (code, out, err) = jcs(input);
    assert_eq!(code, 2, "input {input:?}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

#[test]
fn keys_sort_by_utf16_code_units() {
    // RFC 8785 §3.2.3's example keys.
    ok(
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
    );
    ok(
        r#"{"a":{"c":1,"b":{"z":[{"y":2,"x":1}]}}}"#,
        r#"{"a":{"b":{"z":[{"x":1,"y":2}]},"c":1}}"#,
    );
}

#[test]
fn numbers() {
    ok(
        "[9007199254740992,-9007199254740992,9007199254740991]",
        "[9007199254740992,-9007199254740992,9007199254740991]",
    );
    ok("[-0,-0.0,0e10]", "[0,0,0]");
    ok(
        "[1.0,1.5,0.1,1e21,1e20,1e-6,1e-7,-1.25e-10]",
        "[1,1.5,0.1,1e+21,100000000000000000000,0.000001,1e-7,-1.25e-10]",
    );
    // RFC 8785 Appendix B.
    ok(
        "[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001]",
        "[333333333.3333333,1e+30,4.5,0.002,1e-27]",
    );
    refused("[9007199254740993]", "2^53");
    refused("[1152921504606846976]", "2^53");
    // Beyond 2^53, integers spelled as canonical output spells them stay accepted.
    ok(
        "[1e20,100000000000000000000,1152921504606847000]",
        "[100000000000000000000,100000000000000000000,1152921504606847000]",
    );
    refused("[1e999]", "double");
}

#[test]
fn strings_and_refusals() {
    ok(r#""\u00e9\u2028\/\u0007""#, "\"é\u{2028}/\\u0007\"");
    refused(r#"{"a":1,"a":2}"#, "duplicate key");
    refused(r#"["\udc00"]"#, "lone surrogate");
    refused("{", "invalid JSON");
    refused("", "invalid JSON");
    refused("[1] x", "trailing");
}
