//! `acl/token.json`: capability tokens issued from seeds, and the decisions they give.
//!
//! Also holds what the other acl families share: keys and DIDs from seeds, requests and
//! decisions as JSON, denials as negative outcomes.

use talos_acl::revocation::RevocationSet;
use talos_acl::scope::Request;
use talos_acl::token::{CapabilityToken, TokenError, TokenFields};
use talos_acl::verify::{Decision, Denial, Verifier};
use talos_crypto::json::{self, Map, Value};
use talos_crypto::{SigningKey, Timestamp, VerifyingKey};
use talos_did::Did;

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte};
use crate::util::{array_field, field, hex_array, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "acl/token.json",
    contract: "acl/capability.schema.json",
    description: "Capability token (talos-v1.1 compact format C): {v: \"1\", iss, sub, scope, iat, \
                  exp, constraints?, parent?, sig}; sig = Ed25519 over the RFC 8785 canonical JSON of \
                  every member but sig (expected.signing_json, UTF-8), unpadded base64url; \
                  capability_hash = lowercase hex SHA-256 of the canonical JSON with sig \
                  (expected.canonical, the bytes to send). Each case issues a token from \
                  inputs.issuer_seed_hex (iss = its did:key, or inputs.iss when given: then the \
                  verifier is given the issuer's key, as the upstream TS vectors do) for the did:key \
                  of inputs.subject_seed_hex, with inputs.scope, iat, exp (Unix seconds) and \
                  constraints; applies inputs.tamper (set: replace members, null removes; flip_byte: \
                  flip the lowest bit of a byte of a base64url member; duplicate: write a member a \
                  second time, first, before the signed members) to the JSON; parses it strictly; \
                  verifies it at inputs.now (Unix seconds, 60 s skew for iat, valid while now <= exp, \
                  no revocations); then authorizes each of inputs.requests ({tool, method?, resource?, \
                  path?, arg_bytes?}). expected.decisions[i] is {allow: true} or {allow: false, reason, \
                  code}: reason is the stable DenyReason (UNKNOWN_TOOL, SCOPE_MISMATCH, \
                  CONSTRAINT_VIOLATION, MALFORMED, ...), code the error taxonomy code. A token that \
                  fails to parse or verify is an expected_error (the object is absent when the text \
                  is not representable as a JSON object, e.g. a duplicate key).",
    producer: acl_producer,
    specs,
    derive,
};

/// `"talos-acl <version>"`.
pub(super) fn acl_producer() -> String {
    format!("talos-acl {}", talos_acl::VERSION)
}

/// Fixed seeds, by name.
pub(super) const SEEDS: &[(&str, &str)] = &[
    (
        "alice",
        "a11ce0000000000000000000000000000000000000000000000000000000a11c",
    ),
    (
        "bob",
        "b0b0000000000000000000000000000000000000000000000000000000000b0b",
    ),
    (
        "carol",
        "ca401000000000000000000000000000000000000000000000000000000ca401",
    ),
    (
        "dave",
        "da7e000000000000000000000000000000000000000000000000000000000da7",
    ),
    (
        "erin",
        "e41e000000000000000000000000000000000000000000000000000000000e41",
    ),
    (
        "mallory",
        "3a1103000000000000000000000000000000000000000000000000000003a110",
    ),
];

/// The seed of a named identity, as hex.
pub(super) fn seed(name: &str) -> Value {
    s(SEEDS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, hex)| *hex))
}

/// The hex public key of a named identity.
fn public_hex(name: &str) -> String {
    let seed = seed(name);
    let key = hex_array::<32>(&object([("seed", seed)]), "seed")
        .map(|seed| SigningKey::from_seed(&seed).verifying_key().to_bytes())
        .unwrap_or_default();
    hex::encode(key)
}

/// Every named identity, `{name: seed_hex}`.
pub(super) fn identities() -> Value {
    let mut map = Map::new();
    for (name, hex) in SEEDS {
        map.insert((*name).into(), s(*hex));
    }
    Value::Object(map)
}

/// 2023-11-14T22:13:20Z: when the vectors' tokens are issued.
pub(super) const IAT: u64 = 1_700_000_000;
/// One hour later.
pub(super) const EXP: u64 = IAT + 3600;
/// Ten minutes after issue: when most cases are decided.
pub(super) const NOW: u64 = IAT + 600;

/// A Unix-seconds member as a JSON number.
pub(super) fn secs(value: u64) -> Value {
    json::Number::try_from(value).map_or_else(|_| n(0), Value::Number)
}

/// A signing key from the 32-byte hex seed `inputs[name]`.
pub(super) fn key(inputs: &Value, name: &str) -> Result<SigningKey, String> {
    Ok(SigningKey::from_seed(&hex_array::<32>(inputs, name)?))
}

/// The did:key of a key.
pub(super) fn did(key: &VerifyingKey) -> String {
    Did::from(*key).to_string()
}

/// A Unix-seconds input as a timestamp.
pub(super) fn time(inputs: &Value, name: &str) -> Result<Timestamp, String> {
    Timestamp::from_secs(u64_field(inputs, name)?).ok_or_else(|| format!("{name} out of range"))
}

/// Parses canonical JSON bytes the library produced.
pub(super) fn to_value(bytes: &[u8]) -> Result<Value, String> {
    json::parse(bytes).map_err(|e| e.to_string())
}

/// Text of bytes the library produced as UTF-8 JSON.
pub(super) fn text(bytes: &[u8]) -> Result<Value, String> {
    Ok(s(
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?
    ))
}

/// The [`TokenFields`] of `spec` (`scope`, `iat`, `exp`, optional `constraints`) from `iss`
/// to `sub`.
pub(super) fn fields(spec: &Value, iss: &str, sub: &str) -> Result<TokenFields, String> {
    let mut fields = TokenFields::new(
        iss,
        sub,
        str_field(spec, "scope")?,
        time(spec, "iat")?,
        time(spec, "exp")?,
    );
    if let Some(c) = spec.get("constraints") {
        let Value::Object(map) = c else {
            return Err("constraints is not an object".into());
        };
        fields = fields.with_constraints(map.clone());
    }
    Ok(fields)
}

/// A request from `{tool, method?, resource?, path?, arg_bytes?}`.
pub(super) fn request(value: &Value) -> Result<Request<'_>, String> {
    let mut request = Request::new(str_field(value, "tool")?);
    if value.get("method").is_some() {
        request = request.with_method(str_field(value, "method")?);
    }
    if value.get("resource").is_some() {
        request = request.with_resource(str_field(value, "resource")?);
    }
    if value.get("path").is_some() {
        request = request.with_path(str_field(value, "path")?);
    }
    if value.get("arg_bytes").is_some() {
        request = request.with_arg_bytes(
            usize::try_from(u64_field(value, "arg_bytes")?).map_err(|e| e.to_string())?,
        );
    }
    Ok(request)
}

/// A decision as JSON: `{allow: true}` or `{allow: false, reason, code}`.
pub(super) fn decision(decision: &Decision) -> Value {
    match decision.denial() {
        None => object([("allow", Value::Bool(true))]),
        Some(d) => object([
            ("allow", Value::Bool(false)),
            ("reason", s(d.reason().code())),
            ("code", s(d.error_code().as_str())),
        ]),
    }
}

/// Verifies `chain` and authorizes each of `inputs.requests` (every request gets the
/// verification's denial when it fails).
pub(super) fn decisions(
    verifier: &Verifier,
    chain: &[CapabilityToken],
    root_key: Option<&VerifyingKey>,
    now: Timestamp,
    revoked: &RevocationSet,
    inputs: &Value,
) -> Result<Value, String> {
    let mut out = Vec::new();
    for r in array_field(inputs, "requests")? {
        out.push(decision(&verifier.authorize(
            chain,
            root_key,
            &request(r)?,
            now,
            revoked,
        )));
    }
    Ok(Value::Array(out))
}

/// A token or chain the verifier refused, as a negative outcome.
pub(super) fn denied(object: Option<Value>, denial: &Denial) -> Derived {
    Derived::Err {
        object,
        code: denial.error_code().as_str().to_owned(),
        message: denial.to_string(),
    }
}

/// A token that does not parse, as a negative outcome (a duplicate key is
/// `SIGNATURE_INVALID`, anything else `MALFORMED`: both `TALOS_INVALID_CAPABILITY`).
pub(super) fn unparsed(object: Option<Value>, err: &TokenError) -> Derived {
    Derived::Err {
        object,
        code: Denial::from(err).error_code().as_str().to_owned(),
        message: err.to_string(),
    }
}

/// Applies `inputs.tamper` (`set`, `flip_byte`) to a JSON object.
pub(super) fn apply_tamper(object: &mut Value, inputs: &Value) -> Result<(), String> {
    if let Some(tamper) = inputs.get("tamper") {
        if let Some(set) = tamper.get("set") {
            apply_changes(object, set);
        }
        if let Some(flip) = tamper.get("flip_byte") {
            let index = usize::try_from(u64_field(flip, "index")?).map_err(|e| e.to_string())?;
            flip_b64u_byte(object, str_field(flip, "field")?, index)?;
        }
    }
    Ok(())
}

/// Canonical JSON of `object` with the member `dup.member` written a second time (first) with
/// `dup.value`: text no JSON object can represent.
pub(super) fn with_duplicate(object: &Value, dup: &Value) -> Result<Vec<u8>, String> {
    let member = str_field(dup, "member")?;
    let value = field(dup, "value")?;
    let canonical = object.to_canonical_vec();
    let rest = canonical.get(1..).ok_or("empty object")?;
    let mut out = Vec::with_capacity(canonical.len() + 64);
    out.push(b'{');
    out.extend_from_slice(&s(member).to_canonical_vec());
    out.push(b':');
    out.extend_from_slice(&value.to_canonical_vec());
    out.push(b',');
    out.extend_from_slice(rest);
    Ok(out)
}

fn specs() -> Vec<Spec> {
    let read_fs = "tool:fs/method:read";
    vec![
        Spec::ok(
            "token-basic",
            "one scope item; its tool and method are allowed, another method and another tool \
             are not",
            token(
                read_fs,
                &[],
                vec![
                    req("fs", Some("read"), &[]),
                    req("fs", Some("write"), &[]),
                    req("shell", None, &[]),
                    req("fs", None, &[]),
                ],
            ),
        ),
        Spec::ok(
            "token-prefix-and-wildcard",
            "tool:git covers every method of git; tool:*/method:list any tool's list",
            token(
                "tool:git tool:*/method:list",
                &[],
                vec![
                    req("git", None, &[]),
                    req("git", Some("push"), &[]),
                    req("fs", Some("list"), &[]),
                    req("fs", Some("read"), &[]),
                ],
            ),
        ),
        Spec::ok(
            "token-resource-globs",
            "resource globs: * stops at /, ** crosses it",
            token(
                "tool:fs/method:read/resource:repo/src/** tool:fs/method:stat/resource:repo/*",
                &[],
                vec![
                    req("fs", Some("read"), &[("resource", s("repo/src/lib.rs"))]),
                    req("fs", Some("read"), &[("resource", s("repo/src/a/b/c.rs"))]),
                    req("fs", Some("read"), &[("resource", s("repo/Cargo.toml"))]),
                    req("fs", Some("stat"), &[("resource", s("repo/Cargo.toml"))]),
                    req("fs", Some("stat"), &[("resource", s("repo/src/lib.rs"))]),
                    req("fs", Some("read"), &[]),
                ],
            ),
        ),
        Spec::ok(
            "token-mcp-tools-call",
            "the upstream TS/MCP form: scope tools/call with constraints.tool and .method",
            token(
                "tools/call",
                &[(
                    "constraints",
                    object([("tool", s("read_file")), ("method", s("call"))]),
                )],
                vec![
                    req("read_file", Some("call"), &[]),
                    req("read_file", Some("other"), &[]),
                    req("write_file", Some("call"), &[]),
                ],
            ),
        ),
        Spec::ok(
            "token-constraint-paths",
            "constraints.paths: the path argument must be present and match a glob",
            token(
                "tool:fs",
                &[(
                    "constraints",
                    object([(
                        "paths",
                        Value::Array(vec![s("repo/src/**"), s("repo/README.md")]),
                    )]),
                )],
                vec![
                    req("fs", Some("read"), &[("path", s("repo/src/main.rs"))]),
                    req("fs", Some("read"), &[("path", s("repo/README.md"))]),
                    req("fs", Some("read"), &[("path", s("repo/.git/config"))]),
                    req("fs", Some("read"), &[]),
                ],
            ),
        ),
        Spec::ok(
            "token-constraint-allowed-tools",
            "constraints.allowed_tools narrows tool:* to the tools it names",
            token(
                "tool:*",
                &[(
                    "constraints",
                    object([(
                        "allowed_tools",
                        Value::Array(vec![s("read_*"), s("list_directory")]),
                    )]),
                )],
                vec![
                    req("read_file", None, &[]),
                    req("list_directory", None, &[]),
                    req("write_file", None, &[]),
                ],
            ),
        ),
        Spec::ok(
            "token-constraint-max-arg-bytes",
            "constraints.max_arg_bytes: at most 1024 bytes of arguments",
            token(
                "tool:fs",
                &[("constraints", object([("max_arg_bytes", secs(1024))]))],
                vec![
                    req("fs", None, &[("arg_bytes", secs(1024))]),
                    req("fs", None, &[("arg_bytes", secs(1025))]),
                    req("fs", None, &[]),
                ],
            ),
        ),
        Spec::ok(
            "token-unknown-constraint",
            "an unknown constraint makes the token unusable: every request is denied as \
             MALFORMED (the contract rejects it too)",
            token(
                "tool:fs",
                &[("constraints", object([("max_calls", secs(3))]))],
                vec![req("fs", Some("read"), &[])],
            ),
        )
        .schema_invalid(),
        Spec::ok(
            "token-upstream-issuer",
            "iss is an opaque did:talos:<hex> string: the verifier is given the issuer's key",
            token(
                read_fs,
                &[("iss", s(format!("did:talos:{}", public_hex("alice"))))],
                vec![req("fs", Some("read"), &[])],
            ),
        ),
        Spec::ok(
            "token-exp-boundary",
            "now == exp: still valid",
            token(
                read_fs,
                &[("now", secs(EXP))],
                vec![req("fs", Some("read"), &[])],
            ),
        ),
        Spec::ok(
            "token-skew-boundary",
            "iat exactly 60 s after now: within the clock skew",
            token(
                read_fs,
                &[("now", secs(IAT - 60))],
                vec![req("fs", Some("read"), &[])],
            ),
        ),
        Spec::err(
            "token-expired",
            "now one second after exp",
            token(
                read_fs,
                &[("now", secs(EXP + 1))],
                vec![req("fs", Some("read"), &[])],
            ),
            "expired",
        ),
        Spec::err(
            "token-future-dated",
            "iat 61 s after now: beyond the clock skew",
            token(
                read_fs,
                &[("now", secs(IAT - 61))],
                vec![req("fs", Some("read"), &[])],
            ),
            "future",
        ),
        Spec::err(
            "token-tampered-sig",
            "one bit of the signature flipped",
            token(
                read_fs,
                &[(
                    "tamper",
                    object([(
                        "flip_byte",
                        object([("field", s("sig")), ("index", secs(5))]),
                    )]),
                )],
                vec![req("fs", Some("read"), &[])],
            ),
            "signature",
        ),
        Spec::err(
            "token-tampered-scope",
            "the scope widened after signing",
            token(
                read_fs,
                &[(
                    "tamper",
                    object([("set", object([("scope", s("tool:fs"))]))]),
                )],
                vec![req("fs", Some("read"), &[])],
            ),
            "signature",
        ),
        Spec::err(
            "token-tampered-exp",
            "the expiry extended after signing",
            token(
                read_fs,
                &[(
                    "tamper",
                    object([("set", object([("exp", secs(EXP + 86_400))]))]),
                )],
                vec![req("fs", Some("read"), &[])],
            ),
            "signature",
        ),
        Spec::err(
            "token-duplicate-key",
            "scope written twice: no single meaning, so no signature can be checked over it",
            token(
                read_fs,
                &[(
                    "tamper",
                    object([(
                        "duplicate",
                        object([("member", s("scope")), ("value", s("tool:*"))]),
                    )]),
                )],
                vec![req("fs", Some("read"), &[])],
            ),
            "duplicate key",
        ),
        Spec::err(
            "token-unknown-field",
            "a member format C does not define",
            token(
                read_fs,
                &[(
                    "tamper",
                    object([("set", object([("aud", s("did:talos:anyone"))]))]),
                )],
                vec![req("fs", Some("read"), &[])],
            ),
            "unknown member",
        )
        .schema_invalid(),
        Spec::err(
            "token-missing-sig",
            "the signature removed",
            token(
                read_fs,
                &[("tamper", object([("set", object([("sig", Value::Null)]))]))],
                vec![req("fs", Some("read"), &[])],
            ),
            "missing member",
        )
        .schema_invalid(),
        Spec::err(
            "token-wrong-version",
            "v is \"2\"",
            token(
                read_fs,
                &[("tamper", object([("set", object([("v", s("2"))]))]))],
                vec![req("fs", Some("read"), &[])],
            ),
            "version",
        )
        .schema_invalid(),
    ]
}

/// A request as JSON.
pub(super) fn req(tool: &str, method: Option<&str>, extra: &[(&str, Value)]) -> Value {
    let mut map = Map::new();
    map.insert("tool".into(), s(tool));
    if let Some(m) = method {
        map.insert("method".into(), s(m));
    }
    for (k, v) in extra {
        map.insert((*k).into(), v.clone());
    }
    Value::Object(map)
}

fn token(scope: &str, extra: &[(&str, Value)], requests: Vec<Value>) -> Value {
    let mut map = Map::new();
    map.insert("issuer_seed_hex".into(), seed("alice"));
    map.insert("subject_seed_hex".into(), seed("bob"));
    map.insert("scope".into(), s(scope));
    map.insert("iat".into(), secs(IAT));
    map.insert("exp".into(), secs(EXP));
    map.insert("now".into(), secs(NOW));
    map.insert("requests".into(), Value::Array(requests));
    for (k, v) in extra {
        map.insert((*k).into(), v.clone());
    }
    Value::Object(map)
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let issuer = key(inputs, "issuer_seed_hex")?;
    let subject = did(&key(inputs, "subject_seed_hex")?.verifying_key());
    let (iss, root_key) = match inputs.get("iss") {
        Some(_) => (
            str_field(inputs, "iss")?.to_owned(),
            Some(issuer.verifying_key()),
        ),
        None => (did(&issuer.verifying_key()), None),
    };
    let token = CapabilityToken::issue(&issuer, &fields(inputs, &iss, &subject)?)
        .map_err(|e| e.to_string())?;
    let again = CapabilityToken::from_json(&token.to_json()).map_err(|e| e.to_string())?;
    if again != token || again.to_json() != token.to_json() {
        return Err("the token does not decode to itself".into());
    }
    let mut shown = to_value(&token.to_json())?;
    apply_tamper(&mut shown, inputs)?;
    let (bytes, shown) = match inputs.get("tamper").and_then(|t| t.get("duplicate")) {
        Some(dup) => (with_duplicate(&shown, dup)?, None),
        None => (shown.to_canonical_vec(), Some(shown)),
    };
    let parsed = match CapabilityToken::from_json(&bytes) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(unparsed(shown, &e)),
    };
    let verifier = Verifier::default();
    let now = time(inputs, "now")?;
    let revoked = RevocationSet::default();
    if let Err(d) = verifier.verify(
        core::slice::from_ref(&parsed),
        root_key.as_ref(),
        now,
        &revoked,
    ) {
        return Ok(denied(shown, &d));
    }
    if inputs.get("tamper").is_some() {
        return Err("the tampered token was accepted".into());
    }
    Ok(Derived::Ok {
        object: shown.ok_or("no object")?,
        expected: object([
            ("capability_hash", s(token.capability_hash_hex())),
            ("canonical", text(&token.to_json())?),
            ("signing_json", text(token.signing_bytes())?),
            (
                "size",
                n(u32::try_from(token.encoded_len()).map_err(|e| e.to_string())?),
            ),
            (
                "decisions",
                decisions(
                    &verifier,
                    core::slice::from_ref(&parsed),
                    root_key.as_ref(),
                    now,
                    &revoked,
                    inputs,
                )?,
            ),
        ]),
    })
}
