//! Write-content validation of tool calls: the upstream `DocumentValidator.validate_write_content`
//! checks (`schemas/mcp/hashing_vectors.json`, REFERENCE.md §7.3) with their `DOC_*` codes.
//!
//! A [`WritePolicy`] names where the content of a write sits in a tool call's arguments (JSON
//! pointers, RFC 6901), how it is encoded (`utf8` or standard `base64`), how large it may be
//! and, optionally, the SHA-256 each piece must have. [`WritePolicy::validate`] takes, for each
//! pointer in order:
//!
//! 1. the value it points at, or [`DocumentError::PointerInvalid`];
//! 2. its bytes: `null` is empty; a string is itself; any other value is its compact JSON as
//!    Python's `json.dumps(value, sort_keys=True, separators=(",", ":"))` prints it (see
//!    [`python_compact_json`]); under `base64` those characters are then decoded, strictly
//!    (standard alphabet, `=` padding, no whitespace, zero trailing bits), or
//!    [`DocumentError::EncodingInvalid`];
//! 3. the size, at most `max_write_bytes`, or [`DocumentError::SizeExceeded`];
//! 4. the SHA-256, compared in constant time with the expected lowercase hex digest if one is
//!    given for that pointer, or [`DocumentError::HashMismatch`];
//!
//! and returns each piece's pointer, size and digest. The first failure wins, as upstream.
//!
//! Where we are stricter than the Python reference (which uses the `jsonpointer` package and
//! non-validating `base64.b64decode`), the input is refused rather than read another way: array
//! indices with leading zeros, indexing into a string, the `-` index, base64 with stray
//! characters or non-zero trailing bits. A policy is checked when it is built: every pointer is
//! well formed, none repeats, and an expected hash names a pointer the policy checks. Numbers
//! are doubles in [`Value`], so the `int`/`float` distinction of Python is made as a JSON
//! producer such as JavaScript spells numbers: an integral number below 10^21 in magnitude
//! prints as Python prints an `int`, any other as Python prints a `float` (so `1.0` or `1e3`
//! in the arguments read as `1` and `1000`, where Python would print `1.0` and `1000.0`).
//! Upstream's batch limit (`max_batch_bytes`, `DOC_BATCH_SIZE_EXCEEDED`) and the read-side
//! checks are not part of this policy.
//!
//! ```
//! use talos_crypto::json;
//! use talos_mcp::document::{DocumentError, WritePolicy};
//!
//! let spec = json::parse(br#"{"write_content_pointers":["/data"],"max_write_bytes":100,"content_encoding":"utf8"}"#)?;
//! let hashes = json::parse(br#"[{"pointer":"/data","hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]"#)?;
//! let policy = WritePolicy::from_json(&spec, Some(&hashes))?;
//!
//! let written = policy.validate(&json::parse(br#"{"data":"test"}"#)?)?;
//! assert_eq!(written[0].size, 4);
//!
//! let err = policy.validate(&json::parse(br#"{"data":"tests"}"#)?).unwrap_err();
//! assert_eq!(err.code(), "DOC_HASH_MISMATCH");
//! assert!(matches!(policy.validate(&json::parse(br#"{}"#)?), Err(DocumentError::PointerInvalid { .. })));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use core::fmt::{self, Write as _};

use subtle::ConstantTimeEq as _;
use talos_crypto::base64url;
use talos_crypto::hash::{from_hex, sha256};
use talos_crypto::json::{MAX_DEPTH, Value};

use crate::frame::Hash;

/// Longest JSON pointer accepted, in bytes.
pub const MAX_POINTER_LEN: usize = 1024;

/// Most pointers a policy may check (and most expected hashes it may carry).
pub const MAX_POINTERS: usize = 64;

/// Longest expected-hash text accepted (a SHA-256 digest is 64 hex digits).
pub const MAX_HASH_TEXT_LEN: usize = 128;

/// Why a JSON pointer is malformed or does not resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PointerError {
    /// Longer than [`MAX_POINTER_LEN`] bytes.
    #[error("pointer is {0} bytes long, over the limit")]
    TooLong(usize),
    /// Neither empty nor starting with `/`.
    #[error("pointer must be empty or start with '/'")]
    NoLeadingSlash,
    /// A `~` not followed by `0` or `1`.
    #[error("pointer has a '~' not followed by '0' or '1'")]
    BadEscape,
    /// An object has no member with this name.
    #[error("member {0:?} not found")]
    MissingMember(String),
    /// An array index that is not `0` or a decimal number without leading zeros.
    #[error("{0:?} is not a valid array index")]
    IndexMalformed(String),
    /// An array index past the end.
    #[error("index {0:?} is out of bounds")]
    IndexOutOfRange(String),
    /// The index `-` (the element after the last), which names no value.
    #[error("index '-' names no element")]
    EndOfArray,
    /// A step into a string, number, boolean or `null`.
    #[error("cannot step into a scalar with {0:?}")]
    NotAContainer(String),
}

/// A JSON pointer (RFC 6901): `""` for the whole document, else `/`-separated reference tokens
/// with `~1` for `/` and `~0` for `~`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

impl JsonPointer {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`PointerError::TooLong`], [`PointerError::NoLeadingSlash`], [`PointerError::BadEscape`].
    pub fn parse(text: &str) -> Result<Self, PointerError> {
        if text.len() > MAX_POINTER_LEN {
            return Err(PointerError::TooLong(text.len()));
        }
        let mut tokens = Vec::new();
        if !text.is_empty() {
            let rest = text.strip_prefix('/').ok_or(PointerError::NoLeadingSlash)?;
            for raw in rest.split('/') {
                tokens.push(unescape(raw)?);
            }
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pointer as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The reference tokens, unescaped.
    #[must_use]
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The value this pointer names in `document`.
    ///
    /// # Errors
    /// [`PointerError::MissingMember`], [`PointerError::IndexMalformed`],
    /// [`PointerError::IndexOutOfRange`], [`PointerError::EndOfArray`],
    /// [`PointerError::NotAContainer`].
    pub fn resolve<'a>(&self, document: &'a Value) -> Result<&'a Value, PointerError> {
        let mut at = document;
        for token in &self.tokens {
            at = match at {
                Value::Object(map) => map
                    .get(token.as_str())
                    .ok_or_else(|| PointerError::MissingMember(token.clone()))?,
                Value::Array(items) => items
                    .get(array_index(token)?)
                    .ok_or_else(|| PointerError::IndexOutOfRange(token.clone()))?,
                _ => return Err(PointerError::NotAContainer(token.clone())),
            };
        }
        Ok(at)
    }
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl core::str::FromStr for JsonPointer {
    type Err = PointerError;

    fn from_str(s: &str) -> Result<Self, PointerError> {
        Self::parse(s)
    }
}

/// One reference token with `~1` → `/` and `~0` → `~` (in one pass, so `~01` is `~1`).
fn unescape(raw: &str) -> Result<String, PointerError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(PointerError::BadEscape),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// An array index token: `0` or `[1-9][0-9]*` that fits in `usize`.
fn array_index(token: &str) -> Result<usize, PointerError> {
    if token == "-" {
        return Err(PointerError::EndOfArray);
    }
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return Err(PointerError::IndexMalformed(token.to_owned()));
    }
    // All digits: the only failure left is overflow, an index no array reaches.
    token
        .parse()
        .map_err(|_| PointerError::IndexOutOfRange(token.to_owned()))
}

/// How write content is encoded in the arguments (`content_encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentEncoding {
    /// `utf8`: the content is the text itself.
    Utf8,
    /// `base64`: the text is standard base64 (RFC 4648 §4, padded) of the content.
    Base64,
}

impl ContentEncoding {
    /// The name in a policy: `"utf8"` or `"base64"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Utf8 => "utf8",
            Self::Base64 => "base64",
        }
    }
}

/// Why a policy was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A required member is missing or has the wrong type or form.
    #[error("write policy member {0} is missing or malformed")]
    Malformed(&'static str),
    /// A member the policy does not have.
    #[error("write policy has an unknown member {0:?}")]
    Unknown(String),
    /// More than [`MAX_POINTERS`] pointers or expected hashes.
    #[error("write policy has more than {MAX_POINTERS} {0}")]
    TooMany(&'static str),
    /// A malformed JSON pointer.
    #[error("write policy member {member}: invalid pointer: {reason}")]
    Pointer {
        /// Where the pointer sits in the policy.
        member: &'static str,
        /// What is wrong with it.
        reason: PointerError,
    },
    /// A pointer listed twice, or two expected hashes for one pointer.
    #[error("write policy names pointer {0:?} twice")]
    Duplicate(String),
    /// An expected hash for a pointer the policy does not check (it would be ignored).
    #[error("expected hash for {0:?}, which the policy does not check")]
    UncheckedHash(String),
}

/// Why a tool call's write content was refused; [`DocumentError::code`] gives the upstream code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// `DOC_POINTER_INVALID`: the pointer names no value in the arguments.
    #[error("failed to resolve pointer '{pointer}': {reason}")]
    PointerInvalid {
        /// The pointer, as written in the policy.
        pointer: String,
        /// Why it does not resolve.
        reason: PointerError,
    },
    /// `DOC_ENCODING_INVALID`: the content is not valid under the policy's encoding.
    #[error("invalid {encoding} content at '{pointer}'")]
    EncodingInvalid {
        /// The pointer.
        pointer: String,
        /// The policy's encoding name.
        encoding: &'static str,
    },
    /// `DOC_SIZE_EXCEEDED`: the content is larger than `max_write_bytes`.
    #[error("write content at '{pointer}' exceeds limit ({size} > {limit})")]
    SizeExceeded {
        /// The pointer.
        pointer: String,
        /// The content's size in bytes.
        size: u64,
        /// The policy's limit.
        limit: u64,
    },
    /// `DOC_HASH_MISMATCH`: the content's SHA-256 is not the expected one.
    #[error("hash mismatch at '{pointer}': got {}", talos_crypto::hash::to_hex(.computed))]
    HashMismatch {
        /// The pointer.
        pointer: String,
        /// The content's SHA-256.
        computed: Hash,
    },
}

impl DocumentError {
    /// The upstream error code: `DOC_POINTER_INVALID`, `DOC_ENCODING_INVALID`,
    /// `DOC_SIZE_EXCEEDED` or `DOC_HASH_MISMATCH`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::PointerInvalid { .. } => "DOC_POINTER_INVALID",
            Self::EncodingInvalid { .. } => "DOC_ENCODING_INVALID",
            Self::SizeExceeded { .. } => "DOC_SIZE_EXCEEDED",
            Self::HashMismatch { .. } => "DOC_HASH_MISMATCH",
        }
    }

    /// The pointer the error is about.
    #[must_use]
    pub fn pointer(&self) -> &str {
        match self {
            Self::PointerInvalid { pointer, .. }
            | Self::EncodingInvalid { pointer, .. }
            | Self::SizeExceeded { pointer, .. }
            | Self::HashMismatch { pointer, .. } => pointer,
        }
    }
}

/// One checked piece of write content (upstream `DocumentHash`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteContent {
    /// The pointer, as written in the policy.
    pub pointer: String,
    /// Size of the content in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub hash: Hash,
}

/// An expected digest: the lowercase hex text as given, and the digest it spells (`None` if it
/// spells none, so it matches nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectedHash {
    pointer: String,
    digest: Option<Hash>,
}

/// Where write content sits in a tool call's arguments and what it must satisfy (upstream
/// `DocumentSpec` write fields plus the call's `expected_hashes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritePolicy {
    pointers: Vec<JsonPointer>,
    encoding: ContentEncoding,
    max_write_bytes: u64,
    expected: Vec<ExpectedHash>,
}

impl WritePolicy {
    /// A policy checking `pointers` (in this order) with no expected hashes.
    ///
    /// # Errors
    /// [`PolicyError::TooMany`] beyond [`MAX_POINTERS`]; [`PolicyError::Duplicate`].
    pub fn new(
        pointers: Vec<JsonPointer>,
        encoding: ContentEncoding,
        max_write_bytes: u64,
    ) -> Result<Self, PolicyError> {
        if pointers.len() > MAX_POINTERS {
            return Err(PolicyError::TooMany("pointers"));
        }
        for (i, p) in pointers.iter().enumerate() {
            if pointers.iter().take(i).any(|q| q == p) {
                return Err(PolicyError::Duplicate(p.text.clone()));
            }
        }
        Ok(Self {
            pointers,
            encoding,
            max_write_bytes,
            expected: Vec::new(),
        })
    }

    /// Adds the expected SHA-256 of the content at `pointer`, as lowercase hex (any other
    /// text, e.g. uppercase, never matches, as upstream compares strings).
    ///
    /// # Errors
    /// [`PolicyError::UncheckedHash`] if the policy does not check `pointer`;
    /// [`PolicyError::Duplicate`] if it already has a hash for it; [`PolicyError::Malformed`]
    /// for a text longer than [`MAX_HASH_TEXT_LEN`].
    pub fn with_expected_hash(mut self, pointer: &str, hash: &str) -> Result<Self, PolicyError> {
        if hash.len() > MAX_HASH_TEXT_LEN {
            return Err(PolicyError::Malformed("expected_hashes.hash"));
        }
        if !self.pointers.iter().any(|p| p.text == pointer) {
            return Err(PolicyError::UncheckedHash(pointer.to_owned()));
        }
        if self.expected.iter().any(|e| e.pointer == pointer) {
            return Err(PolicyError::Duplicate(pointer.to_owned()));
        }
        self.expected.push(ExpectedHash {
            pointer: pointer.to_owned(),
            digest: from_hex::<32>(hash),
        });
        Ok(self)
    }

    /// Parses the upstream shape: `doc_spec` is `{write_content_pointers: [string],
    /// content_encoding: "utf8" | "base64", max_write_bytes: integer ≥ 0}` (no other members),
    /// and `expected_hashes`, if given, is `[{pointer: string, hash: string}]`.
    ///
    /// # Errors
    /// [`PolicyError`].
    pub fn from_json(
        doc_spec: &Value,
        expected_hashes: Option<&Value>,
    ) -> Result<Self, PolicyError> {
        let spec = doc_spec
            .as_object()
            .ok_or(PolicyError::Malformed("doc_spec"))?;
        if let Some(unknown) = spec.keys().find(|k| {
            ![
                "write_content_pointers",
                "content_encoding",
                "max_write_bytes",
            ]
            .contains(&k.as_str())
        }) {
            return Err(PolicyError::Unknown(unknown.clone()));
        }
        let Some(Value::Array(list)) = spec.get("write_content_pointers") else {
            return Err(PolicyError::Malformed("write_content_pointers"));
        };
        if list.len() > MAX_POINTERS {
            return Err(PolicyError::TooMany("pointers"));
        }
        let pointers = list
            .iter()
            .map(|p| {
                let text = p
                    .as_str()
                    .ok_or(PolicyError::Malformed("write_content_pointers"))?;
                JsonPointer::parse(text).map_err(|reason| PolicyError::Pointer {
                    member: "write_content_pointers",
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let encoding = match spec.get("content_encoding").and_then(Value::as_str) {
            Some("utf8") => ContentEncoding::Utf8,
            Some("base64") => ContentEncoding::Base64,
            _ => return Err(PolicyError::Malformed("content_encoding")),
        };
        let max_write_bytes = match spec.get("max_write_bytes") {
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or(PolicyError::Malformed("max_write_bytes"))?,
            _ => return Err(PolicyError::Malformed("max_write_bytes")),
        };
        let mut policy = Self::new(pointers, encoding, max_write_bytes)?;
        if let Some(hashes) = expected_hashes {
            let Value::Array(items) = hashes else {
                return Err(PolicyError::Malformed("expected_hashes"));
            };
            if items.len() > MAX_POINTERS {
                return Err(PolicyError::TooMany("expected hashes"));
            }
            for item in items {
                let entry = item
                    .as_object()
                    .ok_or(PolicyError::Malformed("expected_hashes"))?;
                if let Some(unknown) = entry.keys().find(|k| *k != "pointer" && *k != "hash") {
                    return Err(PolicyError::Unknown(unknown.clone()));
                }
                let pointer = entry
                    .get("pointer")
                    .and_then(Value::as_str)
                    .ok_or(PolicyError::Malformed("expected_hashes.pointer"))?;
                JsonPointer::parse(pointer).map_err(|reason| PolicyError::Pointer {
                    member: "expected_hashes.pointer",
                    reason,
                })?;
                let hash = entry
                    .get("hash")
                    .and_then(Value::as_str)
                    .ok_or(PolicyError::Malformed("expected_hashes.hash"))?;
                policy = policy.with_expected_hash(pointer, hash)?;
            }
        }
        Ok(policy)
    }

    /// The pointers checked, in order.
    #[must_use]
    pub fn pointers(&self) -> &[JsonPointer] {
        &self.pointers
    }

    /// The content encoding.
    #[must_use]
    pub const fn encoding(&self) -> ContentEncoding {
        self.encoding
    }

    /// The largest content accepted at one pointer, in bytes.
    #[must_use]
    pub const fn max_write_bytes(&self) -> u64 {
        self.max_write_bytes
    }

    /// Checks the write content in a tool call's `arguments` (module docs for the steps).
    ///
    /// # Errors
    /// The first [`DocumentError`] met, pointer by pointer.
    pub fn validate(&self, arguments: &Value) -> Result<Vec<WriteContent>, DocumentError> {
        let mut out = Vec::with_capacity(self.pointers.len());
        for pointer in &self.pointers {
            let name = || pointer.text.clone();
            let value =
                pointer
                    .resolve(arguments)
                    .map_err(|reason| DocumentError::PointerInvalid {
                        pointer: name(),
                        reason,
                    })?;
            let encoding_error = || DocumentError::EncodingInvalid {
                pointer: name(),
                encoding: self.encoding.as_str(),
            };
            let content = content_bytes(value, self.encoding).ok_or_else(encoding_error)?;
            let size = u64::try_from(content.len()).unwrap_or(u64::MAX);
            if size > self.max_write_bytes {
                return Err(DocumentError::SizeExceeded {
                    pointer: name(),
                    size,
                    limit: self.max_write_bytes,
                });
            }
            let hash = sha256(&content);
            if let Some(expected) = self.expected.iter().find(|e| e.pointer == pointer.text) {
                let matches = expected
                    .digest
                    .is_some_and(|digest| bool::from(digest.ct_eq(&hash)));
                if !matches {
                    return Err(DocumentError::HashMismatch {
                        pointer: name(),
                        computed: hash,
                    });
                }
            }
            out.push(WriteContent {
                pointer: name(),
                size,
                hash,
            });
        }
        Ok(out)
    }
}

/// The content bytes of `value` (step 2 of the module docs); `None` if the encoding rejects
/// it.
fn content_bytes(value: &Value, encoding: ContentEncoding) -> Option<Vec<u8>> {
    let owned;
    let text = match value {
        Value::Null => return Some(Vec::new()),
        Value::String(s) => s.as_str(),
        other => {
            owned = python_compact_json(other)?;
            owned.as_str()
        }
    };
    match encoding {
        ContentEncoding::Utf8 => Some(text.as_bytes().to_vec()),
        ContentEncoding::Base64 => decode_std_base64(text),
    }
}

/// Strict standard base64 (RFC 4648 §4): alphabet `A–Z a–z 0–9 + /`, length a multiple of 4
/// with at most two `=` at the end, zero trailing bits.
fn decode_std_base64(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let body = text
        .strip_suffix("==")
        .or_else(|| text.strip_suffix('='))
        .unwrap_or(text);
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    // The same alphabet but for two characters; the strict unpadded decoder then checks the
    // length and the trailing bits.
    let url: String = body
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64url::decode(&url).ok()
}

/// `value` as Python's `json.dumps(value, sort_keys=True, separators=(",", ":"))` prints it
/// (with the default `ensure_ascii=True`): members in code-point order, every character
/// outside printable ASCII as a lowercase `\uXXXX` escape (UTF-16 surrogate pairs above
/// U+FFFF), `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`. An integral number below 10^21 in
/// magnitude prints as the `int` a JavaScript producer's spelling denotes (`-0` as `0`, `1e16`
/// as `10000000000000000`, 2^60 as `1152921504606847000`), any other number as Python's float
/// `repr` (`0.5`, `1e-05`, `1e+21`). `None` for a value nested deeper than [`MAX_DEPTH`].
#[must_use]
pub fn python_compact_json(value: &Value) -> Option<String> {
    let mut out = String::new();
    write_python(value, 0, &mut out)?;
    Some(out)
}

fn write_python(value: &Value, depth: usize, out: &mut String) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_python_number(n.as_f64(), out),
        Value::String(s) => write_python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_python(item, depth + 1, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // `Map` iterates in code-point order, which is Python's `sort_keys` order.
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_python_string(key, out);
                out.push(':');
                write_python(item, depth + 1, out)?;
            }
            out.push('}');
        }
    }
    Some(())
}

fn write_python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// 10^21: below it, JavaScript and RFC 8785 spell an integral double as plain digits (its
/// shortest round-trip digits padded with zeros), which Python reads as an `int`.
const PLAIN_INTEGER_LIMIT: f64 = 1e21;

fn write_python_number(x: f64, out: &mut String) {
    if x == 0.0 {
        out.push('0'); // both zeros: `-0` is the int 0 to Python
        return;
    }
    let integer = x.fract() == 0.0 && x.abs() < PLAIN_INTEGER_LIMIT;
    // The shortest round-trip digits d1 d2 … with the decimal point after `point` digits.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let point = exponent + 1;
    if x.is_sign_negative() {
        out.push('-');
    }
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    if integer {
        // As JavaScript prints it (point ≥ len here, as the number is integral).
        out.push_str(&digits);
        for _ in len..point {
            out.push('0');
        }
    } else if point <= -4 || point > 16 {
        // Python's `repr(float)` from here on.
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    } else if point <= 0 {
        out.push_str("0.");
        for _ in 0..point.unsigned_abs() {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point >= len {
        out.push_str(&digits);
        for _ in len..point {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        let (whole, frac) = digits.split_at(usize::try_from(point).unwrap_or(0));
        out.push_str(whole);
        out.push('.');
        out.push_str(frac);
    }
}
