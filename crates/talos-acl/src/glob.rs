//! Path-style globs for tool names and resource URIs, compiled once and matched without
//! allocating.
//!
//! # Syntax
//!
//! | Pattern | Matches |
//! |---|---|
//! | `*`  | any run of characters (possibly empty) that contains no `/` |
//! | `**` | any run of characters (possibly empty), `/` included; it must be a whole path segment (`a/**/b`, `**/x`) or a suffix after `/` (`repo/src/**`), or the whole pattern. `**/` also matches nothing at all, so `a/**/b` matches `a/b` and `**/x` matches `x` |
//! | `?`  | exactly one character other than `/` |
//! | anything else | itself, literally (there are no character classes: `[` and `]` are literals, and there is no escape character) |
//!
//! Characters are Unicode scalar values, so `?` matches one `char`, not one byte. `**/`
//! stands for zero or more whole directories, as in gitignore: `a/**/b` matches `a/b`,
//! `a/x/b` and `a/x/y/b`, and `**/.env` matches `.env` and `x/.env` (a deny rule for
//! `file:///repo/**/.env` also covers `file:///repo/.env`). A trailing `/**` needs its `/`:
//! `repo/src/**` matches `repo/src/` and `repo/src/a/b.rs` but not `repo/src`.
//!
//! A pattern is refused ([`GlobError`]) when it is empty, longer than [`MAX_GLOB_LEN`] bytes,
//! has more than [`MAX_GLOB_WILDCARDS`] wildcards, contains NUL, has three stars in a row, or
//! has a `**` glued to other characters of its segment (`a**b`, `x**`).
//!
//! # Cost
//!
//! [`Glob::matches`] never allocates and never backtracks: a literal pattern is a string
//! comparison, a leading and a trailing literal part are checked with `starts_with` /
//! `ends_with`, and the wildcard middle is run as an NFA: with fewer than 64 tokens, one bit
//! per state and a few word operations per character (shift-and); longer, a state set in a
//! fixed-size bitset on the stack, `O(text length × pattern length)` at worst. A hostile
//! pattern such as `*a*a*a*a*a*a*b*` against ten thousand `a`s takes tens of microseconds.
//!
//! # Attenuation
//!
//! [`Glob::covers`] answers "does this pattern match everything that one matches?" soundly:
//! `true` is a proof, `false` may mean "could not tell". Delegation uses it to check that a
//! child's patterns are within its parent's.
//!
//! ```
//! use talos_acl::glob::Glob;
//!
//! let src = Glob::new("file:///repo/src/**")?;
//! assert!(src.matches("file:///repo/src/lib.rs"));
//! assert!(src.matches("file:///repo/src/a/b/c.rs"));
//! assert!(!src.matches("file:///repo/README.md"));
//!
//! let read = Glob::new("read_*")?;
//! assert!(read.matches("read_file"));
//! assert!(!read.matches("write_file"));
//! assert!(!Glob::new("*.rs")?.matches("src/lib.rs")); // `*` stops at `/`
//! assert!(Glob::new("file?.txt")?.matches("file1.txt"));
//! assert!(Glob::new("[draft]")?.matches("[draft]")); // brackets are literal
//! assert!(Glob::new("a/**/b")?.matches("a/b")); // `**/` may match nothing
//!
//! // Attenuation: the narrower pattern is covered by the wider one, not the other way round.
//! let rs = Glob::new("file:///repo/src/*.rs")?;
//! assert!(src.covers(&rs));
//! assert!(!rs.covers(&src));
//!
//! assert!(Glob::new("a**b").is_err());
//! # Ok::<(), talos_acl::glob::GlobError>(())
//! ```

use core::fmt;

/// The longest pattern accepted, in bytes.
pub const MAX_GLOB_LEN: usize = 1024;

/// The most wildcards (`*`, `**` and `?` each count one) a pattern may hold.
pub const MAX_GLOB_WILDCARDS: usize = 32;

/// Words of the NFA state bitset: one state per pattern token plus the accepting state.
const STATE_WORDS: usize = (MAX_GLOB_LEN + 1).div_ceil(64);

/// Why a pattern was refused by [`Glob::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GlobError {
    /// The pattern is the empty string.
    #[error("empty glob pattern")]
    Empty,
    /// The pattern is longer than [`MAX_GLOB_LEN`] bytes.
    #[error("glob pattern is {len} bytes, more than the maximum {max}")]
    TooLong {
        /// The pattern's length in bytes.
        len: usize,
        /// The limit, [`MAX_GLOB_LEN`].
        max: usize,
    },
    /// The pattern has more than [`MAX_GLOB_WILDCARDS`] wildcards.
    #[error("glob pattern has {count} wildcards, more than the maximum {max}")]
    TooManyWildcards {
        /// How many wildcards the pattern has (counted up to one past the limit).
        count: usize,
        /// The limit, [`MAX_GLOB_WILDCARDS`].
        max: usize,
    },
    /// Three or more `*` in a row.
    #[error("three or more `*` in a row at byte {offset}")]
    TooManyStars {
        /// Byte offset of the first `*` of the run.
        offset: usize,
    },
    /// A `**` that is not a whole path segment (`a**b`, `x**`, `**y`).
    #[error("`**` at byte {offset} must be a whole path segment (between `/`s or at an end)")]
    BadDoubleStar {
        /// Byte offset of the `**`.
        offset: usize,
    },
    /// The pattern contains a NUL character.
    #[error("NUL character at byte {offset} in glob pattern")]
    Nul {
        /// Byte offset of the NUL.
        offset: usize,
    },
}

/// One compiled pattern element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// This character.
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: a run without `/`.
    Star,
    /// `**`: any run.
    DStar,
}

impl Tok {
    const fn is_star(self) -> bool {
        matches!(self, Self::Star | Self::DStar)
    }
}

/// A compiled glob pattern (see the [module docs](self) for the syntax).
///
/// Build it once with [`Glob::new`]; [`Glob::matches`] then allocates nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Box<str>,
    toks: Box<[Tok]>,
    /// Byte length of the leading literal part of `pattern` (the whole pattern if literal).
    prefix_len: usize,
    /// Byte length of the trailing literal part of `pattern` (0 if literal).
    suffix_len: usize,
    /// Token range `[mid_start, mid_end)` from the first to the last wildcard.
    mid_start: usize,
    mid_end: usize,
    /// The middle as a bit-parallel NFA, when it has fewer than 64 tokens.
    fast: Option<BitNfa>,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Glob").field(&&*self.pattern).finish()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl core::str::FromStr for Glob {
    type Err = GlobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Glob {
    /// Compiles `pattern`.
    ///
    /// # Errors
    ///
    /// [`GlobError`] when the pattern is empty, too long, has too many wildcards, contains NUL,
    /// has `***`, or has a `**` that is not a whole path segment.
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        if pattern.len() > MAX_GLOB_LEN {
            return Err(GlobError::TooLong {
                len: pattern.len(),
                max: MAX_GLOB_LEN,
            });
        }
        let bytes = pattern.as_bytes();
        let mut toks = Vec::with_capacity(pattern.len());
        let mut wildcards = 0usize;
        let mut iter = pattern.char_indices().peekable();
        while let Some((offset, c)) = iter.next() {
            let tok = match c {
                '\0' => return Err(GlobError::Nul { offset }),
                '?' => Tok::One,
                '*' => {
                    if iter.next_if(|&(_, c)| c == '*').is_some() {
                        if iter.peek().is_some_and(|&(_, c)| c == '*') {
                            return Err(GlobError::TooManyStars { offset });
                        }
                        let before_ok = offset == 0 || bytes.get(offset - 1) == Some(&b'/');
                        let after_ok = matches!(bytes.get(offset + 2), None | Some(&b'/'));
                        if !(before_ok && after_ok) {
                            return Err(GlobError::BadDoubleStar { offset });
                        }
                        Tok::DStar
                    } else {
                        Tok::Star
                    }
                }
                c => Tok::Lit(c),
            };
            if !matches!(tok, Tok::Lit(_)) {
                wildcards += 1;
                if wildcards > MAX_GLOB_WILDCARDS {
                    return Err(GlobError::TooManyWildcards {
                        count: wildcards,
                        max: MAX_GLOB_WILDCARDS,
                    });
                }
            }
            toks.push(tok);
        }

        let first_wild = toks.iter().position(|t| !matches!(t, Tok::Lit(_)));
        let (prefix_len, suffix_len, mid_start, mid_end) = match first_wild {
            None => (pattern.len(), 0, toks.len(), toks.len()),
            Some(first) => {
                let mut last = toks
                    .iter()
                    .rposition(|t| !matches!(t, Tok::Lit(_)))
                    .unwrap_or(first);
                // `**/` may match nothing, so its `/` must stay with it in the middle.
                if toks.get(last) == Some(&Tok::DStar) && toks.get(last + 1) == Some(&Tok::Lit('/'))
                {
                    last += 1;
                }
                let lit_len = |ts: &[Tok]| -> usize {
                    ts.iter()
                        .map(|t| match t {
                            Tok::Lit(c) => c.len_utf8(),
                            _ => 0,
                        })
                        .sum()
                };
                let prefix = toks.get(..first).map_or(0, lit_len);
                let suffix = toks.get(last + 1..).map_or(0, lit_len);
                (prefix, suffix, first, last + 1)
            }
        };

        let fast = toks.get(mid_start..mid_end).and_then(BitNfa::new);
        Ok(Self {
            pattern: pattern.into(),
            toks: toks.into_boxed_slice(),
            prefix_len,
            suffix_len,
            mid_start,
            mid_end,
            fast,
        })
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// `true` when the pattern has no wildcard, so it matches exactly one string: itself.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        self.mid_start == self.mid_end
    }

    /// `true` when the pattern is `**` alone, which matches every string.
    #[must_use]
    pub fn is_match_all(&self) -> bool {
        matches!(*self.toks, [Tok::DStar])
    }

    /// Whether `text` matches the whole pattern. Allocates nothing.
    #[must_use]
    pub fn matches(&self, text: &str) -> bool {
        if self.is_literal() {
            return *self.pattern == *text;
        }
        let (Some(prefix), Some(suffix)) = (
            self.pattern.get(..self.prefix_len),
            self.pattern
                .get(self.pattern.len().saturating_sub(self.suffix_len)..),
        ) else {
            return false;
        };
        if text.len() < self.prefix_len + self.suffix_len
            || !text.starts_with(prefix)
            || !text.ends_with(suffix)
        {
            return false;
        }
        let Some(middle) = text.get(self.prefix_len..text.len() - self.suffix_len) else {
            return false;
        };
        let Some(mid) = self.toks.get(self.mid_start..self.mid_end) else {
            return false;
        };
        match (mid, &self.fast) {
            ([Tok::DStar], _) => true,
            ([Tok::Star], _) => !middle.contains('/'),
            (_, Some(fast)) => fast.run(middle),
            (_, None) => run_nfa(mid, middle.chars().map(Sym::Char)),
        }
    }

    /// Whether every string `other` matches is also matched by `self` (language inclusion).
    ///
    /// Sound: `true` only when that holds. The check runs `self` over `other`'s pattern,
    /// letting each of `self`'s wildcards absorb a literal or a narrower wildcard of `other`;
    /// it may answer `false` where inclusion holds but needs one of `other`'s wildcards to be
    /// split across several of `self`'s (`?*` does cover `*?`, yet this says `false`). Exact
    /// when `other` is literal.
    #[must_use]
    pub fn covers(&self, other: &Self) -> bool {
        if self.pattern == other.pattern || self.is_match_all() {
            return true;
        }
        if other.is_literal() {
            return self.matches(other.as_str());
        }
        run_nfa(
            &self.toks,
            other.toks.iter().map(|t| match *t {
                Tok::Lit(c) => Sym::Char(c),
                Tok::One => Sym::One,
                Tok::Star => Sym::Star,
                Tok::DStar => Sym::DStar,
            }),
        )
    }
}

/// An input symbol of the NFA: a text character, or a wildcard of another pattern (for
/// [`Glob::covers`]), standing for the set of strings that wildcard matches.
#[derive(Clone, Copy)]
enum Sym {
    Char(char),
    One,
    Star,
    DStar,
}

/// What token `tok` may do when it reads `sym`: advance to the next state, stay (a star
/// absorbing it), or neither.
const fn step(tok: Tok, sym: Sym) -> (bool, bool) {
    // (advance, stay)
    match (tok, sym) {
        (Tok::Lit(a), Sym::Char(b)) => (a == b, false),
        (Tok::Lit(_), _) => (false, false),
        (Tok::One, Sym::Char(c)) => (c != '/', false),
        // `?` reads exactly one non-`/` character, as the other pattern's `?` does.
        (Tok::One, Sym::One) => (true, false),
        (Tok::One, _) => (false, false),
        (Tok::Star, Sym::Char(c)) => (false, c != '/'),
        (Tok::Star, Sym::One | Sym::Star) => (false, true),
        (Tok::Star, Sym::DStar) => (false, false),
        (Tok::DStar, _) => (false, true),
    }
}

/// A fixed-size set of NFA states (`toks.len() + 1 ≤ MAX_GLOB_LEN + 1`).
#[derive(Clone, Copy)]
struct States([u64; STATE_WORDS]);

impl States {
    const EMPTY: Self = Self([0; STATE_WORDS]);

    /// Adds state `i` and its ε-closure: a star may match the empty string, so being before
    /// a star also means being after it; and `**/` may match nothing at all, so being before
    /// it also means being after its `/`. Stars are never adjacent (`***` is refused), so
    /// the closure is a short forward walk.
    fn insert(&mut self, toks: &[Tok], mut i: usize) {
        loop {
            self.set(i);
            match toks.get(i) {
                Some(Tok::Star) => i += 1,
                Some(Tok::DStar) if toks.get(i + 1) == Some(&Tok::Lit('/')) => {
                    self.set(i + 1);
                    i += 2;
                }
                Some(Tok::DStar) => i += 1,
                _ => break,
            }
        }
    }

    /// Adds state `i` after a star there absorbed a symbol: the star may stop now, but a
    /// `**/` that has matched something cannot also match nothing, so no skip over its `/`.
    fn insert_after_stay(&mut self, toks: &[Tok], i: usize) {
        self.set(i);
        if toks.get(i).is_some_and(|t| t.is_star()) {
            self.insert(toks, i + 1);
        }
    }

    fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn is_empty(&self, words: usize) -> bool {
        self.0.iter().take(words).all(|&w| w == 0)
    }
}

/// The same NFA as [`run_nfa`] for fewer than 64 tokens, one bit per state, stepped with a
/// few word operations per character (shift-and with stars).
#[derive(Debug, Clone, PartialEq, Eq)]
struct BitNfa {
    /// `(c, positions of the literal c)`, sorted by `c`.
    lits: Box<[(char, u64)]>,
    /// Positions of `?`.
    one: u64,
    /// Positions of `*`.
    star: u64,
    /// Positions of `**`.
    dstar: u64,
    /// Positions of a `**` followed by `/` (that pair may match nothing).
    dstar_slash: u64,
    /// The accepting state.
    accept: u64,
}

impl BitNfa {
    fn new(toks: &[Tok]) -> Option<Self> {
        if toks.len() >= 64 {
            return None;
        }
        let mut lits: Vec<(char, u64)> = Vec::new();
        let (mut one, mut star, mut dstar, mut dstar_slash) = (0, 0, 0, 0);
        for (i, tok) in toks.iter().enumerate() {
            let bit = 1u64 << i;
            match *tok {
                Tok::Lit(c) => match lits.iter_mut().find(|(l, _)| *l == c) {
                    Some((_, m)) => *m |= bit,
                    None => lits.push((c, bit)),
                },
                Tok::One => one |= bit,
                Tok::Star => star |= bit,
                Tok::DStar => {
                    dstar |= bit;
                    if toks.get(i + 1) == Some(&Tok::Lit('/')) {
                        dstar_slash |= bit;
                    }
                }
            }
        }
        lits.sort_unstable_by_key(|&(c, _)| c);
        Some(Self {
            lits: lits.into_boxed_slice(),
            one,
            star,
            dstar,
            dstar_slash,
            accept: 1 << toks.len(),
        })
    }

    /// The ε-closure of freshly entered states `x` (see [`States::insert`]).
    const fn closure(&self, mut x: u64) -> u64 {
        loop {
            let y = x | ((x & (self.star | self.dstar)) << 1) | ((x & self.dstar_slash) << 2);
            if y == x {
                return x;
            }
            x = y;
        }
    }

    fn run(&self, text: &str) -> bool {
        let stars = self.star | self.dstar;
        let mut d = self.closure(1);
        for c in text.chars() {
            let lit = match self.lits.binary_search_by_key(&c, |&(l, _)| l) {
                Ok(i) => self.lits.get(i).map_or(0, |&(_, m)| m),
                Err(_) => 0,
            };
            let (advance, stay) = if c == '/' {
                (lit, self.dstar)
            } else {
                (lit | self.one, stars)
            };
            let stayed = d & stay;
            // A star that absorbed `c` may stop now; a `**/` that did cannot also be empty,
            // so the state after it is entered without the skip over its `/`.
            let entered = ((d & advance) << 1) | ((stayed & stars) << 1);
            d = self.closure(entered) | stayed;
            if d == 0 {
                return false;
            }
        }
        d & self.accept != 0
    }
}

/// Runs the anchored NFA of `toks` over `input`; `true` when the input is accepted.
fn run_nfa(toks: &[Tok], input: impl Iterator<Item = Sym>) -> bool {
    let accept = toks.len();
    if accept > MAX_GLOB_LEN {
        return false;
    }
    let words = (accept + 1).div_ceil(64);
    let mut cur = States::EMPTY;
    cur.insert(toks, 0);
    for sym in input {
        let mut next = States::EMPTY;
        for (wi, &word) in cur.0.iter().enumerate().take(words) {
            let mut w = word;
            while w != 0 {
                let i = wi * 64 + w.trailing_zeros() as usize;
                w &= w - 1;
                let Some(&tok) = toks.get(i) else { continue };
                let (advance, stay) = step(tok, sym);
                if advance {
                    next.insert(toks, i + 1);
                }
                if stay {
                    next.insert_after_stay(toks, i);
                }
            }
        }
        if next.is_empty(words) {
            return false;
        }
        cur = next;
    }
    cur.contains(accept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_fast_paths() {
        let g = Glob::new("list_directory").unwrap();
        assert!(g.is_literal());
        assert!(g.matches("list_directory"));
        assert!(!g.matches("list_directory2"));
        let g = Glob::new("a/**").unwrap();
        assert!(g.matches("a/"));
        assert!(g.matches("a/b/c"));
        assert!(!g.matches("a"));
        let g = Glob::new("a/**/b").unwrap();
        assert!(g.matches("a/b"));
        assert!(g.matches("a/x/y/b"));
        assert!(!g.matches("ab"));
        let g = Glob::new("**/x").unwrap();
        assert!(g.matches("x"));
        assert!(g.matches("a/x"));
        assert!(!g.matches("ax"));
        let g = Glob::new("x*y").unwrap();
        assert!(g.matches("xy"));
        assert!(g.matches("xaay"));
        assert!(!g.matches("xa/y"));
        // Prefix and suffix must not overlap.
        assert!(!Glob::new("ab*ba").unwrap().matches("aba"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The bit-parallel NFA agrees with the state-set NFA.
        #[test]
        fn fast_path_agrees(
            parts in proptest::collection::vec(
                proptest::sample::select(&["a", "b", "/", "*", "?", "/**/", "**/", "/**", "é"][..]),
                1..12,
            ),
            text in "[ab/é]{0,16}",
        ) {
            if let Ok(g) = Glob::new(&parts.concat()) {
                let all = g.toks.get(..).unwrap_or_default();
                let slow = run_nfa(all, text.chars().map(Sym::Char));
                if let Some(fast) = BitNfa::new(all) {
                    proptest::prop_assert_eq!(fast.run(&text), slow);
                }
                proptest::prop_assert_eq!(g.matches(&text), slow);
            }
        }
    }

    #[test]
    fn errors() {
        assert_eq!(Glob::new(""), Err(GlobError::Empty));
        assert_eq!(
            Glob::new("a**"),
            Err(GlobError::BadDoubleStar { offset: 1 })
        );
        assert_eq!(
            Glob::new("**b"),
            Err(GlobError::BadDoubleStar { offset: 0 })
        );
        assert_eq!(
            Glob::new("a/***"),
            Err(GlobError::TooManyStars { offset: 2 })
        );
        assert_eq!(Glob::new("a\0"), Err(GlobError::Nul { offset: 1 }));
        assert!(Glob::new("**").unwrap().is_match_all());
    }
}
