//! RFC 8785 output: sorted members, minimal escapes, ECMAScript number formatting.

use core::cmp::Ordering;
use core::fmt::Write as _;

use super::{Map, Value};

pub(super) fn write_value(value: &Value, out: &mut Vec<u8>) {
    // One implementation, over `String`, for both outputs.
    let mut s = String::new();
    write_value_string(value, &mut s);
    out.extend_from_slice(s.as_bytes());
}

pub(super) fn write_value_string(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n.as_f64(), out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value_string(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map, out: &mut String) {
    out.push('{');
    // A BTreeMap iterates in code-point order, which equals RFC 8785's UTF-16 order unless a
    // key holds a character beyond the BMP (a surrogate pair sorts before U+E000..U+FFFF).
    let astral = map.keys().any(|k| k.bytes().any(|b| b >= 0xF0));
    let mut first = true;
    let mut member = |key: &str, value: &Value, out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
        write_string(key, out);
        out.push(':');
        write_value_string(value, out);
    };
    if astral {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
        for (k, v) in entries {
            member(k, v, out);
        }
    } else {
        for (k, v) in map {
            member(k, v, out);
        }
    }
    out.push('}');
}

/// Order by UTF-16 code units, as RFC 8785 §3.2.3 requires.
pub(crate) fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A JSON string with RFC 8785's escapes.
pub(crate) fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let mut run_start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0a => "\\n",
            0x0c => "\\f",
            0x0d => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run_start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        run_start = i + 1;
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// ECMAScript `Number::toString(x)` (ECMA-262 §6.1.6.1.20) for a finite double, which is
/// what RFC 8785 §3.2.2.3 prescribes. `ryu-js` implements exactly that, including the
/// round-half-to-even choice between two shortest digit strings.
pub(super) fn write_number(x: f64, out: &mut String) {
    if x == 0.0 {
        out.push('0'); // both +0 and -0
        return;
    }
    // Integers below 2^53 print as their digits (no exponent before 1e21), which is faster
    // than the shortest-digits search.
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)] // integral and below 2^53 in magnitude
        let _ = write!(out, "{}", x as i64);
        return;
    }
    out.push_str(ryu_js::Buffer::new().format_finite(x));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(x: f64) -> String {
        let mut s = String::new();
        write_number(x, &mut s);
        s
    }

    /// Integers below 2^53 take a shortcut; it prints what the shortest-digits search does.
    #[test]
    fn integer_shortcut_matches_ryu_js() {
        let mut x = 1.0f64;
        let mut cases = vec![1.0, -1.0, 9_007_199_254_740_991.0, -9_007_199_254_740_991.0];
        while x < 9e15 {
            cases.extend([x, x + 1.0, x - 1.0, -x, x * 7.0 + 3.0]);
            x *= 10.0;
        }
        for x in cases {
            let x = x.trunc();
            if x == 0.0 || x.abs() >= 9_007_199_254_740_992.0 {
                continue;
            }
            assert_eq!(num(x), ryu_js::Buffer::new().format_finite(x), "{x}");
        }
    }

    /// RFC 8785 Appendix B, and ECMAScript edge cases.
    #[test]
    fn numbers_as_ecmascript_prints_them() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, want) in cases {
            assert_eq!(num(f64::from_bits(bits)), want, "{bits:#018x}");
        }
        assert_eq!(num(1e21), "1e+21");
        assert_eq!(num(1e-7), "1e-7");
        assert_eq!(num(123e-20), "1.23e-18");
        assert_eq!(num(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(num(100.0), "100");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(-1e300), "-1e+300");
    }

    #[test]
    fn string_escapes_are_minimal() {
        let mut s = String::new();
        write_string("\u{0}\u{1f}\u{7f}\"\\/\u{2028}é\n\t\u{8}\u{c}\r", &mut s);
        assert_eq!(
            s,
            "\"\\u0000\\u001f\u{7f}\\\"\\\\/\u{2028}é\\n\\t\\b\\f\\r\""
        );
    }

    #[test]
    fn utf16_order_differs_from_code_point_order() {
        // U+FF01 is one UTF-16 unit 0xFF01; U+1F510 is 0xD83D 0xDD10, which sorts first.
        assert_eq!(utf16_cmp("\u{ff01}", "\u{1f510}"), Ordering::Greater);
        assert!("\u{ff01}" < "\u{1f510}");
    }
}
