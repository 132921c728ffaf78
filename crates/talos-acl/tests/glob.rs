//! Globs: syntax against a reference matcher, errors, `covers` soundness (proptest), and a
//! hostile pattern that must stay fast.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use core::time::Duration;
use std::time::Instant;

use proptest::prelude::*;
use talos_acl::glob::{Glob, GlobError, MAX_GLOB_LEN, MAX_GLOB_WILDCARDS};

/// A slow, obviously correct reference matcher (recursive, exponential in the worst case:
/// only for short inputs).
fn reference(pat: &[char], text: &[char]) -> bool {
    match pat {
        [] => text.is_empty(),
        // `**/` stands for zero or more whole segments: it may also match nothing.
        ['*', '*', '/', rest @ ..] => {
            reference(rest, text) || (0..=text.len()).any(|k| reference(&pat[2..], &text[k..]))
        }
        ['*', '*', rest @ ..] => (0..=text.len()).any(|k| reference(rest, &text[k..])),
        ['*', rest @ ..] => {
            let run = text.iter().take_while(|&&c| c != '/').count();
            (0..=run).any(|k| reference(rest, &text[k..]))
        }
        ['?', rest @ ..] => match text {
            [c, t @ ..] if *c != '/' => reference(rest, t),
            _ => false,
        },
        [p, rest @ ..] => match text {
            [c, t @ ..] if c == p => reference(rest, t),
            _ => false,
        },
    }
}

fn m(p: &str, t: &str) -> bool {
    Glob::new(p).unwrap().matches(t)
}

#[test]
fn syntax_examples() {
    assert!(m("*", "abc"));
    assert!(m("*", ""));
    assert!(!m("*", "a/b"));
    assert!(m("**", "a/b/c"));
    assert!(m("**", ""));
    assert!(m("read_*", "read_file"));
    assert!(!m("read_*", "xread_file"));
    assert!(m("file:///repo/**", "file:///repo/a/b"));
    assert!(!m("file:///repo/**", "file:///other/a"));
    assert!(m("a/**/b", "a/x/y/b"));
    assert!(m("a/**/b", "a/b"));
    assert!(!m("a/**/b", "ab"));
    assert!(m("**/*.rs", "src/a/lib.rs"));
    assert!(m("**/*.rs", "lib.rs"));
    assert!(m("file:///repo/**/.env", "file:///repo/.env"));
    assert!(m("a/**/**/b", "a/b"));
    assert!(!m("a/**", "a"));
    assert!(m("?", "é"));
    assert!(!m("?", "/"));
    assert!(!m("?", ""));
    assert!(m("a?c", "abc"));
    assert!(m("[x]", "[x]"));
    assert!(!m("[x]", "x"));
    assert!(m("*.*", "a.b"));
    assert!(m("*a*b", "xxaxxb"));
    assert!(!m("*a*b", "xxaxxbx"));
}

#[test]
fn long_patterns_use_the_general_nfa() {
    // A wildcard middle of more than 64 tokens.
    let xs = "x".repeat(70);
    let p = format!("a*{xs}?*/**/b");
    for (t, want) in [
        (format!("a{xs}z/b"), true),
        (format!("aqq{xs}zzz/u/v/b"), true),
        (format!("a{xs}/b"), false),
        (format!("a{}z/b", "x".repeat(69)), false),
        (format!("a{xs}z/b/c"), false),
    ] {
        let pc: Vec<char> = p.chars().collect();
        let tc: Vec<char> = t.chars().collect();
        assert_eq!(reference(&pc, &tc), want, "{t}");
        assert_eq!(m(&p, &t), want, "{t}");
    }
}

#[test]
fn errors_are_reported() {
    assert_eq!(Glob::new(""), Err(GlobError::Empty));
    let long = "a".repeat(MAX_GLOB_LEN + 1);
    assert!(matches!(Glob::new(&long), Err(GlobError::TooLong { .. })));
    assert!(Glob::new(&"a".repeat(MAX_GLOB_LEN)).is_ok());
    let many = "?".repeat(MAX_GLOB_WILDCARDS + 1);
    assert!(matches!(
        Glob::new(&many),
        Err(GlobError::TooManyWildcards { .. })
    ));
    assert!(Glob::new(&"?".repeat(MAX_GLOB_WILDCARDS)).is_ok());
    assert!(matches!(
        Glob::new("a**b"),
        Err(GlobError::BadDoubleStar { .. })
    ));
    assert!(matches!(
        Glob::new("a/**b"),
        Err(GlobError::BadDoubleStar { .. })
    ));
    assert!(matches!(
        Glob::new("***"),
        Err(GlobError::TooManyStars { .. })
    ));
    assert!(matches!(
        Glob::new("x\0"),
        Err(GlobError::Nul { offset: 1 })
    ));
    assert!(Glob::new("**/a/**").is_ok());
    // Errors display something a human can read.
    assert!(Glob::new("a**b").unwrap_err().to_string().contains("**"));
}

#[test]
fn accessors() {
    let g = Glob::new("a/*").unwrap();
    assert_eq!(g.as_str(), "a/*");
    assert!(!g.is_literal());
    assert!(Glob::new("a/b").unwrap().is_literal());
    assert_eq!(g, Glob::new("a/*").unwrap());
    assert_eq!(format!("{g:?}"), "Glob(\"a/*\")");
    assert_eq!("a/*".parse::<Glob>().unwrap(), g);
}

#[test]
fn covers_examples() {
    let c = |a: &str, b: &str| Glob::new(a).unwrap().covers(&Glob::new(b).unwrap());
    assert!(c("**", "a/*"));
    assert!(c("a/**", "a/b/*.rs"));
    assert!(c("a/**", "a/**"));
    assert!(c("a/*", "a/b"));
    assert!(!c("a/*", "a/b/c"));
    assert!(c("a/*", "a/?"));
    assert!(c("a/*", "a/x*"));
    assert!(!c("a/?", "a/*"));
    assert!(!c("a/*", "a/**"));
    assert!(!c("a/b", "a/*"));
    assert!(c("read_*", "read_file"));
    assert!(!c("read_*", "write_file"));
    assert!(c("*", "*"));
    assert!(c("**/*.rs", "src/**/*.rs"));
    assert!(c("a/**/b", "a/b"));
    assert!(c("a/**/b", "a/x/**/b"));
    assert!(c("a/**", "a/**/b"));
    assert!(!c("a/*/b", "a/**/b"));
    assert!(!c("a/?/**", "a/**"));
}

#[test]
fn hostile_pattern_is_fast() {
    let g = Glob::new("*a*a*a*a*a*a*b").unwrap();
    let text = "a".repeat(10_000);
    let start = Instant::now();
    assert!(!g.matches(&text));
    let g2 = Glob::new("**/a/**/a/**/a/**/a/**/b").unwrap();
    let text2 = "a/".repeat(5_000);
    assert!(!g2.matches(&text2));
    // No literal prefix or suffix to reject early: the NFA runs over every character.
    let g4 = Glob::new("*a*a*a*a*a*a*b*").unwrap();
    assert!(!g4.matches(&text));
    let g5 = Glob::new("**/a/**/a/**/a/**/b/**").unwrap();
    assert!(!g5.matches(&text2));
    let g3 = Glob::new(&"?*".repeat(16)).unwrap();
    assert!(!g3.matches(&"a".repeat(15)));
    assert!(g3.matches(&"a".repeat(10_000)));
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
}

fn pattern_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("/"),
            Just("*"),
            Just("?"),
            Just("/**/"),
            Just("**/"),
            Just("/**"),
        ],
        1..7,
    )
    .prop_map(|parts| parts.concat())
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![Just('a'), Just('b'), Just('/')], 0..10)
        .prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_agrees_with_reference(p in pattern_strategy(), t in text_strategy()) {
        if let Ok(g) = Glob::new(&p) {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            prop_assert_eq!(g.matches(&t), reference(&pc, &tc), "pattern {:?} text {:?}", p, t);
        }
    }

    #[test]
    fn covers_is_sound(a in pattern_strategy(), b in pattern_strategy(),
                       texts in prop::collection::vec(text_strategy(), 1..40)) {
        if let (Ok(ga), Ok(gb)) = (Glob::new(&a), Glob::new(&b))
            && ga.covers(&gb)
        {
            for t in &texts {
                if gb.matches(t) {
                    prop_assert!(ga.matches(t), "{:?} covers {:?} but not {:?}", a, b, t);
                }
            }
        }
    }

    /// Texts drawn from `b` itself (its wildcards instantiated), so that the soundness check
    /// is not vacuous.
    #[test]
    fn covers_is_sound_on_instances(a in pattern_strategy(), b in pattern_strategy(),
                                    fill in prop::collection::vec(text_strategy(), 8)) {
        if let (Ok(ga), Ok(gb)) = (Glob::new(&a), Glob::new(&b))
            && ga.covers(&gb)
        {
            let mut fills = fill.iter().cycle();
            let mut t = String::new();
            let mut chars = b.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '*' if chars.peek() == Some(&'*') => { chars.next(); t.push_str(fills.next().unwrap()); }
                    '*' => t.push_str(&fills.next().unwrap().replace('/', "")),
                    '?' => t.push('b'),
                    c => t.push(c),
                }
            }
            prop_assert!(gb.matches(&t));
            prop_assert!(ga.matches(&t), "{:?} covers {:?} but not {:?}", a, b, t);
        }
    }

    #[test]
    fn never_panics(p in ".{0,40}", t in ".{0,40}") {
        if let Ok(g) = Glob::new(&p) {
            let _ = g.matches(&t);
            let _ = g.covers(&g);
        }
    }
}

/// Timing (run with `--release -- --ignored --nocapture`): typical and hostile matches.
#[test]
#[ignore = "timing; run in release"]
fn timing() {
    let cases = [
        ("file:///repo/**", "file:///repo/src/a/b/lib.rs"),
        ("read_*", "read_file"),
        ("**/*.rs", "src/a/b/c/lib.rs"),
        ("file:///repo/**/.env", "file:///repo/a/b/c/d/.env"),
    ];
    for (p, t) in cases {
        let g = Glob::new(p).unwrap();
        let n = 1_000_000u32;
        let start = Instant::now();
        for _ in 0..n {
            assert!(core::hint::black_box(&g).matches(core::hint::black_box(t)));
        }
        println!("{p:>24} vs {t:<28} {:?}/match", start.elapsed() / n);
    }
    let g = Glob::new("*a*a*a*a*a*a*b*").unwrap();
    let text = "a".repeat(10_000);
    let start = Instant::now();
    assert!(!g.matches(&text));
    println!("*a*a*a*a*a*a*b* vs 10 000 × a: {:?}", start.elapsed());
}
