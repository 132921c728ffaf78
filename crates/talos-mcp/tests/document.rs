#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Write-content validation: the upstream cases of `schemas/mcp/hashing_vectors.json` that
//! concern documents and write content (read from `../shared/vectors`), and our edge cases.

mod common;

use common::{array, read_contract as read};
use talos_crypto::hash::{sha256, to_hex};
use talos_crypto::json::{self, Value};
use talos_mcp::digest::{bytes_document_digest, json_document_digest};
use talos_mcp::document::{
    ContentEncoding, DocumentError, JsonPointer, MAX_POINTER_LEN, MAX_POINTERS, PointerError,
    PolicyError, WritePolicy, python_compact_json,
};

fn j(text: &str) -> Value {
    json::parse(text.as_bytes()).unwrap()
}

fn policy(pointers: &[&str], encoding: ContentEncoding, max: u64) -> WritePolicy {
    WritePolicy::new(
        pointers
            .iter()
            .map(|p| JsonPointer::parse(p).unwrap())
            .collect(),
        encoding,
        max,
    )
    .unwrap()
}

const SHA256_TEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const SHA256_EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn upstream_negative_write_content_vectors() {
    let doc = read("schemas/mcp/hashing_vectors.json");
    let cases = array(&doc, "negative_validation_vectors");
    assert_eq!(cases.len(), 4);
    let mut codes = Vec::new();
    for case in cases {
        let spec = case.get("doc_spec").unwrap();
        let policy = WritePolicy::from_json(spec, case.get("expected_hashes")).unwrap();
        let err = policy.validate(case.get("args").unwrap()).unwrap_err();
        let want = case.get("error_code").unwrap().as_str().unwrap();
        assert_eq!(err.code(), want, "{err}");
        codes.push(want.to_owned());
    }
    codes.sort();
    assert_eq!(
        codes,
        [
            "DOC_ENCODING_INVALID",
            "DOC_HASH_MISMATCH",
            "DOC_POINTER_INVALID",
            "DOC_SIZE_EXCEEDED"
        ]
    );
}

/// Each negative vector, with the one thing wrong put right, passes: the refusal is for the
/// reason the vector names, not another.
#[test]
fn upstream_negative_vectors_repaired_pass() {
    let doc = read("schemas/mcp/hashing_vectors.json");
    let cases = array(&doc, "negative_validation_vectors");
    let by = |code: &str| {
        cases
            .iter()
            .find(|c| c.get("error_code").and_then(Value::as_str) == Some(code))
            .unwrap()
    };

    // Hash mismatch: the true digest of "test".
    let case = by("DOC_HASH_MISMATCH");
    let hashes = j(&format!(
        r#"[{{"pointer":"/data","hash":"{SHA256_TEST}"}}]"#
    ));
    let p = WritePolicy::from_json(case.get("doc_spec").unwrap(), Some(&hashes)).unwrap();
    let written = p.validate(case.get("args").unwrap()).unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].pointer, "/data");
    assert_eq!(written[0].size, 4);
    assert_eq!(to_hex(&written[0].hash), SHA256_TEST);

    // Size exceeded: max 3 refuses "test", max 4 takes it.
    let case = by("DOC_SIZE_EXCEEDED");
    let err = WritePolicy::from_json(case.get("doc_spec").unwrap(), None)
        .unwrap()
        .validate(case.get("args").unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        DocumentError::SizeExceeded {
            pointer: "/data".into(),
            size: 4,
            limit: 3
        }
    );
    assert!(
        policy(&["/data"], ContentEncoding::Utf8, 4)
            .validate(case.get("args").unwrap())
            .is_ok()
    );

    // Invalid base64: valid base64 of "test" passes.
    let case = by("DOC_ENCODING_INVALID");
    let p = WritePolicy::from_json(case.get("doc_spec").unwrap(), None).unwrap();
    assert_eq!(p.encoding(), ContentEncoding::Base64);
    let written = p.validate(&j(r#"{"data":"dGVzdA=="}"#)).unwrap();
    assert_eq!(to_hex(&written[0].hash), SHA256_TEST);

    // Missing pointer: present once the member exists.
    let case = by("DOC_POINTER_INVALID");
    let p = WritePolicy::from_json(case.get("doc_spec").unwrap(), None).unwrap();
    assert_eq!(
        p.validate(case.get("args").unwrap()).unwrap_err(),
        DocumentError::PointerInvalid {
            pointer: "/missing".into(),
            reason: PointerError::MissingMember("missing".into())
        }
    );
    assert!(p.validate(&j(r#"{"missing":"x"}"#)).is_ok());
}

/// The document vectors, as write content: a raw document given as base64 hashes to its
/// bytes digest, and a JSON document (ASCII, integers) to its canonical-JSON digest.
#[test]
fn upstream_document_vectors_as_write_content() {
    let doc = read("schemas/mcp/hashing_vectors.json");
    let docs = array(&doc, "document_vectors");
    assert_eq!(docs.len(), 2);
    for case in docs {
        let want = case.get("digest").unwrap().as_str().unwrap();
        let written = match case.get("doc_type").unwrap().as_str().unwrap() {
            "json" => {
                let input = case.get("input").unwrap();
                assert_eq!(to_hex(&json_document_digest(input)), want);
                policy(&[""], ContentEncoding::Utf8, 1 << 20).validate(input)
            }
            "bytes" => {
                let b64 = case.get("input_b64").unwrap().clone();
                let written = policy(&[""], ContentEncoding::Base64, 1 << 20).validate(&b64);
                assert_eq!(
                    bytes_document_digest(b"Hello World"),
                    written.as_ref().unwrap()[0].hash
                );
                written
            }
            other => panic!("doc_type {other}"),
        }
        .unwrap();
        assert_eq!(to_hex(&written[0].hash), want);
    }
}

#[test]
fn order_of_checks_follows_upstream() {
    // Pointer by pointer; within one, encoding before size before hash.
    let args = j(r#"{"a":"test","b":"not base64!","c":"aaaaaaaaaaaa"}"#);
    let p = policy(&["/a", "/b"], ContentEncoding::Base64, 2);
    // "test" is valid base64 of 3 bytes, over the limit of 2: size wins over /b's encoding.
    assert_eq!(p.validate(&args).unwrap_err().code(), "DOC_SIZE_EXCEEDED");
    let p = policy(&["/b", "/a"], ContentEncoding::Base64, 2);
    assert_eq!(
        p.validate(&args).unwrap_err().code(),
        "DOC_ENCODING_INVALID"
    );
    // Size before hash.
    let p = policy(&["/c"], ContentEncoding::Utf8, 4)
        .with_expected_hash("/c", "00")
        .unwrap();
    assert_eq!(p.validate(&args).unwrap_err().code(), "DOC_SIZE_EXCEEDED");
    // A later pointer's hash is checked only after earlier pointers pass.
    let p = policy(&["/a", "/missing"], ContentEncoding::Utf8, 100)
        .with_expected_hash("/a", "00")
        .unwrap();
    assert_eq!(p.validate(&args).unwrap_err().code(), "DOC_HASH_MISMATCH");
}

#[test]
fn several_pointers_report_in_order() {
    let args = j(r#"{"a":"test","n":null,"o":{"k":[1,"x"]}}"#);
    let p = policy(&["/o", "/a", "/n"], ContentEncoding::Utf8, 100)
        .with_expected_hash("/a", SHA256_TEST)
        .unwrap()
        .with_expected_hash("/n", SHA256_EMPTY)
        .unwrap();
    let written = p.validate(&args).unwrap();
    let pointers: Vec<_> = written.iter().map(|w| w.pointer.as_str()).collect();
    assert_eq!(pointers, ["/o", "/a", "/n"]);
    assert_eq!(written[0].hash, sha256(br#"{"k":[1,"x"]}"#));
    assert_eq!(written[0].size, 13);
    // null is empty content, under either encoding.
    assert_eq!(written[2].size, 0);
    let p = policy(&["/n"], ContentEncoding::Base64, 0);
    assert_eq!(to_hex(&p.validate(&args).unwrap()[0].hash), SHA256_EMPTY);
}

#[test]
fn escaped_pointers_and_array_indices() {
    let args = j(
        r#"{"a/b":"slash","m~n":"tilde","~1":"literal","":"empty key",
        "arr":["zero","one","two","three","four","five","six","seven","eight","nine","ten"],
        "deep":{"x":[{"y":"found"}]}}"#,
    );
    let at = |pointer: &str| {
        JsonPointer::parse(pointer)
            .unwrap()
            .resolve(&args)
            .map(|v| v.as_str().unwrap_or("<not a string>").to_owned())
    };
    assert_eq!(at("/a~1b").unwrap(), "slash");
    assert_eq!(at("/m~0n").unwrap(), "tilde");
    // ~01 is "~1", not "/".
    assert_eq!(at("/~01").unwrap(), "literal");
    assert_eq!(at("/").unwrap(), "empty key");
    assert_eq!(at("/arr/0").unwrap(), "zero");
    assert_eq!(at("/arr/10").unwrap(), "ten");
    assert_eq!(at("/deep/x/0/y").unwrap(), "found");
    assert_eq!(at("/a/b"), Err(PointerError::MissingMember("a".into())));
    assert_eq!(
        at("/arr/11"),
        Err(PointerError::IndexOutOfRange("11".into()))
    );
    assert_eq!(
        at("/arr/99999999999999999999999"),
        Err(PointerError::IndexOutOfRange(
            "99999999999999999999999".into()
        ))
    );
    assert_eq!(at("/arr/-"), Err(PointerError::EndOfArray));
    for bad in ["01", "00", "+1", "-1", "1.0", " 1", "", "x"] {
        assert_eq!(
            at(&format!("/arr/{bad}")),
            Err(PointerError::IndexMalformed(bad.into())),
            "{bad:?}"
        );
    }
    // No stepping into a string (Python's jsonpointer would index its characters).
    assert_eq!(at("/a~1b/0"), Err(PointerError::NotAContainer("0".into())));
    // In a policy, each of these is DOC_POINTER_INVALID.
    let err = policy(&["/arr/01"], ContentEncoding::Utf8, 100)
        .validate(&args)
        .unwrap_err();
    assert_eq!(err.code(), "DOC_POINTER_INVALID");
    assert_eq!(err.pointer(), "/arr/01");
    assert!(err.to_string().contains("/arr/01"));
}

#[test]
fn empty_pointer_is_the_whole_document() {
    let args = j(r#"{"b":2,"a":"é"}"#);
    let p = policy(&[""], ContentEncoding::Utf8, 1000);
    let written = p.validate(&args).unwrap();
    let text = r#"{"a":"\u00e9","b":2}"#;
    assert_eq!(written[0].hash, sha256(text.as_bytes()));
    assert_eq!(written[0].size, 20);
    assert!(JsonPointer::parse("").unwrap().tokens().is_empty());
}

#[test]
fn malformed_pointers_are_refused() {
    assert_eq!(
        JsonPointer::parse("data"),
        Err(PointerError::NoLeadingSlash)
    );
    assert_eq!(JsonPointer::parse("/a~2"), Err(PointerError::BadEscape));
    assert_eq!(JsonPointer::parse("/a~"), Err(PointerError::BadEscape));
    assert_eq!(JsonPointer::parse("/~/x"), Err(PointerError::BadEscape));
    let long = format!("/{}", "a".repeat(MAX_POINTER_LEN));
    assert_eq!(
        JsonPointer::parse(&long),
        Err(PointerError::TooLong(MAX_POINTER_LEN + 1))
    );
    assert!(JsonPointer::parse(&long[..MAX_POINTER_LEN]).is_ok());
    let p: JsonPointer = "/a~1b/~0".parse().unwrap();
    assert_eq!(p.tokens(), ["a/b", "~"]);
    assert_eq!(p.to_string(), "/a~1b/~0");
}

/// Every pointer of up to four characters over a small alphabet: parsing accepts exactly the
/// RFC 6901 syntax, and resolving never panics and agrees with a direct walk.
#[test]
fn small_pointers_exhaustively() {
    let doc =
        j(r#"{"a":{"0":"s","-":["t",{"~":"u","/":"v"}]},"0":["w","x"],"":{"1":"y"},"~":"z"}"#);
    let alphabet = ['/', '~', '0', '1', 'a', '-'];
    let mut texts = vec![String::new()];
    let mut all = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for t in &texts {
            for c in alphabet {
                let mut s = t.clone();
                s.push(c);
                next.push(s);
            }
        }
        all.extend(next.iter().cloned());
        texts = next;
    }
    let mut resolved = Vec::new();
    for text in &all {
        let syntax_ok = (text.is_empty() || text.starts_with('/'))
            && text
                .split('~')
                .skip(1)
                .all(|rest| rest.starts_with('0') || rest.starts_with('1'));
        match JsonPointer::parse(text) {
            Ok(p) => {
                assert!(syntax_ok, "{text:?} accepted");
                if let Ok(v) = p.resolve(&doc) {
                    resolved.push(text.as_str());
                    // The same value by walking the tokens by hand.
                    let mut at = &doc;
                    for t in p.tokens() {
                        at = match at {
                            Value::Object(m) => &m[t],
                            Value::Array(a) => &a[t.parse::<usize>().unwrap()],
                            _ => panic!(),
                        };
                    }
                    assert_eq!(at, v);
                }
            }
            Err(_) => assert!(!syntax_ok, "{text:?} refused"),
        }
    }
    resolved.sort_unstable();
    assert_eq!(
        resolved,
        [
            "", "/", "//1", "/0", "/0/0", "/0/1", "/a", "/a/-", "/a/0", "/~0"
        ]
    );
}

#[test]
fn base64_is_standard_and_strict() {
    let p = policy(&["/d"], ContentEncoding::Base64, 100);
    let decode = |text: &str| {
        let mut m = json::Map::new();
        m.insert("d".into(), Value::from(text));
        p.validate(&Value::Object(m))
            .map(|w| (w[0].size, w[0].hash))
    };
    // Non-UTF-8 bytes are fine content under base64.
    let (size, hash) = decode("//79").unwrap();
    assert_eq!(size, 3);
    assert_eq!(hash, sha256(&[0xff, 0xfe, 0xfd]));
    assert_eq!(decode("").unwrap().0, 0);
    assert_eq!(decode("QQ==").unwrap().1, sha256(b"A"));
    assert_eq!(decode("QUI=").unwrap().1, sha256(b"AB"));
    assert_eq!(decode("+/+/").unwrap().1, sha256(&[0xfb, 0xff, 0xbf]));
    for bad in [
        "QQ",
        "QQ=",
        "QUI",
        "QR==",
        "QUJ=",
        "Q Q==",
        "QQ==\n",
        "-_-_",
        "QQ==QQ==",
        "Q===",
        "====",
        "=QQ=",
        "not-base-64!",
        "é===",
    ] {
        assert_eq!(
            decode(bad).unwrap_err().code(),
            "DOC_ENCODING_INVALID",
            "{bad:?}"
        );
    }
    // The same text under utf8 is its own bytes.
    let args = j(r#"{"d":"//79"}"#);
    let written = policy(&["/d"], ContentEncoding::Utf8, 100)
        .validate(&args)
        .unwrap();
    assert_eq!(written[0].hash, sha256(b"//79"));
    // A non-string under base64 is its JSON text, which is not base64.
    let err = p.validate(&j(r#"{"d":{"a":1}}"#)).unwrap_err();
    assert_eq!(
        err,
        DocumentError::EncodingInvalid {
            pointer: "/d".into(),
            encoding: "base64"
        }
    );
}

#[test]
fn utf8_strings_are_their_bytes() {
    // A string is not re-encoded (no JSON escapes): "héllo" is 6 bytes.
    let args = j(r#"{"d":"h\u00e9llo"}"#);
    let written = policy(&["/d"], ContentEncoding::Utf8, 6)
        .validate(&args)
        .unwrap();
    assert_eq!(
        to_hex(&written[0].hash),
        "3c48591d8d098a4538f5e013dfcf406e948eac4d3277b10bf614e295d6068179"
    );
    assert_eq!(
        policy(&["/d"], ContentEncoding::Utf8, 5)
            .validate(&args)
            .unwrap_err()
            .code(),
        "DOC_SIZE_EXCEEDED"
    );
}

/// Expected output from CPython 3: `json.dumps(json.load(f), sort_keys=True,
/// separators=(",", ":"))` on the same text.
#[test]
fn non_strings_print_as_python_json_dumps() {
    let text = r#"{"b":[1,2.5,true,null,10000000000000000,1152921504606847000,1e+21,1e-7,0.0001,123456789.125,-2.5e-7,5e-324,0.1,-1e+22,0.3333333333333333,-0],"a":"é\n\"\\\t\u007f\u0001😀/\u2028","B":{"z":{}},"é":1,"\uffff":5,"😀":4,"":[]}"#;
    let python = r#"{"":[],"B":{"z":{}},"a":"\u00e9\n\"\\\t\u007f\u0001\ud83d\ude00/\u2028","b":[1,2.5,true,null,10000000000000000,1152921504606847000,1e+21,1e-07,0.0001,123456789.125,-2.5e-07,5e-324,0.1,-1e+22,0.3333333333333333,0],"\u00e9":1,"\uffff":5,"\ud83d\ude00":4}"#;
    let value = j(text);
    assert_eq!(python_compact_json(&value).unwrap(), python);
    let written = policy(&[""], ContentEncoding::Utf8, 1000)
        .validate(&value)
        .unwrap();
    assert_eq!(
        to_hex(&written[0].hash),
        "52f32e27e62d95bf995baeeba1bbf804655a137f833b8172490e4ef2059c9619"
    );
    // Doubles as Python's float repr prints them (integral ones below 10^21 as an int).
    for (number, python) in [
        (1e16, "10000000000000000"),
        (-0.0, "0"),
        (1e-5, "1e-05"),
        (1.23, "1.23"),
        (1e300, "1e+300"),
        (-1.5e-300, "-1.5e-300"),
        (12_345_678_901_234.5, "12345678901234.5"),
        (1_234_567_890_123_456.8, "1234567890123456.8"),
        (9.999_999_999_999_999e20, "999999999999999900000"),
        (1.5e21, "1.5e+21"),
        (0.000_123, "0.000123"),
        (f64::MAX, "1.7976931348623157e+308"),
        (2f64.powi(60), "1152921504606847000"),
        (-(2f64.powi(53)) - 2.0, "-9007199254740994"),
    ] {
        let value = Value::Number(json::Number::from_f64(number).unwrap());
        assert_eq!(python_compact_json(&value).unwrap(), python, "{number}");
    }
}

#[test]
fn too_deep_values_are_an_encoding_error_not_a_crash() {
    // Deeper than the strict parser allows: only a value built in code can be this deep.
    let nest = |depth: usize| {
        let mut v = Value::Null;
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    };
    let p = policy(&[""], ContentEncoding::Utf8, u64::MAX);
    let err = p.validate(&nest(json::MAX_DEPTH + 2)).unwrap_err();
    assert_eq!(err.code(), "DOC_ENCODING_INVALID");
    let written = p.validate(&nest(json::MAX_DEPTH)).unwrap();
    assert_eq!(written[0].size, 2 * json::MAX_DEPTH as u64 + 4);
}

#[test]
fn expected_hashes_compare_exact_lowercase_hex() {
    let args = j(r#"{"d":"test"}"#);
    let with = |hash: &str| {
        policy(&["/d"], ContentEncoding::Utf8, 100)
            .with_expected_hash("/d", hash)
            .unwrap()
            .validate(&args)
    };
    assert!(with(SHA256_TEST).is_ok());
    for bad in [
        SHA256_TEST.to_uppercase(),
        format!("{SHA256_TEST}00"),
        SHA256_TEST[..62].to_owned(),
        String::new(),
        "badhash".to_owned(),
    ] {
        let err = with(&bad).unwrap_err();
        assert_eq!(err.code(), "DOC_HASH_MISMATCH", "{bad:?}");
        assert!(err.to_string().contains(SHA256_TEST));
    }
}

#[test]
fn policies_are_parsed_strictly() {
    let parse =
        |spec: &str, hashes: Option<&str>| WritePolicy::from_json(&j(spec), hashes.map(j).as_ref());
    let ok = r#"{"write_content_pointers":["/data","/b"],"max_write_bytes":100,"content_encoding":"base64"}"#;
    let p = parse(ok, Some(r#"[{"pointer":"/b","hash":"x"}]"#)).unwrap();
    assert_eq!(p.pointers().len(), 2);
    assert_eq!(p.max_write_bytes(), 100);
    assert_eq!(p.encoding(), ContentEncoding::Base64);
    assert!(parse(ok, Some("[]")).is_ok());

    let spec = |pointers: &str, max: &str, encoding: &str| {
        format!(
            r#"{{"write_content_pointers":{pointers},"max_write_bytes":{max},"content_encoding":{encoding}}}"#
        )
    };
    let cases: Vec<(String, Option<&str>, PolicyError)> = vec![
        (
            spec(r#"["/d"]"#, "100", r#""hex""#),
            None,
            PolicyError::Malformed("content_encoding"),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""UTF8""#),
            None,
            PolicyError::Malformed("content_encoding"),
        ),
        (
            spec(r#"["/d"]"#, "-1", r#""utf8""#),
            None,
            PolicyError::Malformed("max_write_bytes"),
        ),
        (
            spec(r#"["/d"]"#, "1.5", r#""utf8""#),
            None,
            PolicyError::Malformed("max_write_bytes"),
        ),
        (
            spec(r#"["/d"]"#, r#""100""#, r#""utf8""#),
            None,
            PolicyError::Malformed("max_write_bytes"),
        ),
        (
            spec(r#""/d""#, "100", r#""utf8""#),
            None,
            PolicyError::Malformed("write_content_pointers"),
        ),
        (
            spec("[1]", "100", r#""utf8""#),
            None,
            PolicyError::Malformed("write_content_pointers"),
        ),
        (
            spec(r#"["d"]"#, "100", r#""utf8""#),
            None,
            PolicyError::Pointer {
                member: "write_content_pointers",
                reason: PointerError::NoLeadingSlash,
            },
        ),
        (
            spec(r#"["/d","/d"]"#, "100", r#""utf8""#),
            None,
            PolicyError::Duplicate("/d".into()),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(r#"{"pointer":"/d","hash":"x"}"#),
            PolicyError::Malformed("expected_hashes"),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(r#"[{"pointer":"/e","hash":"x"}]"#),
            PolicyError::UncheckedHash("/e".into()),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(r#"[{"pointer":"/d","hash":"x"},{"pointer":"/d","hash":"y"}]"#),
            PolicyError::Duplicate("/d".into()),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(r#"[{"pointer":"/d","hash":"x","alg":"sha256"}]"#),
            PolicyError::Unknown("alg".into()),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(r#"[{"pointer":"/d","hash":null}]"#),
            PolicyError::Malformed("expected_hashes.hash"),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(r#"[{"hash":"x"}]"#),
            PolicyError::Malformed("expected_hashes.pointer"),
        ),
        (
            spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(r#"[{"pointer":"/d~","hash":"x"}]"#),
            PolicyError::Pointer {
                member: "expected_hashes.pointer",
                reason: PointerError::BadEscape,
            },
        ),
    ];
    for (spec, hashes, want) in cases {
        assert_eq!(parse(&spec, hashes).unwrap_err(), want, "{spec} {hashes:?}");
    }
    assert_eq!(
        parse(
            r#"{"write_content_pointers":[],"max_write_bytes":1,"content_encoding":"utf8","max_read_bytes":1}"#,
            None
        )
        .unwrap_err(),
        PolicyError::Unknown("max_read_bytes".into())
    );
    assert_eq!(
        parse(
            r#"{"write_content_pointers":[],"content_encoding":"utf8"}"#,
            None
        )
        .unwrap_err(),
        PolicyError::Malformed("max_write_bytes")
    );
    assert_eq!(
        parse("[]", None).unwrap_err(),
        PolicyError::Malformed("doc_spec")
    );
    let hash = "a".repeat(200);
    assert_eq!(
        parse(
            &spec(r#"["/d"]"#, "100", r#""utf8""#),
            Some(&format!(r#"[{{"pointer":"/d","hash":"{hash}"}}]"#))
        )
        .unwrap_err(),
        PolicyError::Malformed("expected_hashes.hash")
    );
    // Bounded counts.
    let many: Vec<String> = (0..=MAX_POINTERS).map(|i| format!(r#""/{i}""#)).collect();
    assert_eq!(
        parse(
            &spec(&format!("[{}]", many.join(",")), "1", r#""utf8""#),
            None
        )
        .unwrap_err(),
        PolicyError::TooMany("pointers")
    );
    let enough = &many[..MAX_POINTERS];
    assert!(
        parse(
            &spec(&format!("[{}]", enough.join(",")), "1", r#""utf8""#),
            None
        )
        .is_ok()
    );
}
