//! The project's own golden vectors: generated from fixed seeds, checked by re-deriving.
//!
//! Every file in `test-vectors/` is one [`Family`]: it names the contract (a JSON Schema in
//! `contracts/`) that each case's `object` instantiates, and the crate version that produced
//! it. A case holds `inputs`; then either `object` and `expected` (what the library must
//! produce), or `expected_error` (`{code, message_contains}`, the upstream convention) and the
//! rejected `object` if there is one. `schema_valid: false` marks an object the contract
//! itself must reject.
//!
//! Checking a file runs every case's inputs through the library again and compares all of
//! the outputs; the derivations also decode and open what they produced, so both directions
//! are exercised.

use std::path::{Path, PathBuf};

use talos_crypto::json::{Map, Value};

use crate::report::{Cases, Outcome, Report};
use crate::util::{self, expect_error, field, s, same, str_field};

mod acl_chain;
mod acl_policy;
mod acl_revocation;
mod acl_token;
mod canonical_json;
mod chunk_stream;
mod did_document;
mod did_puzzle;
mod did_record;
mod did_trust;
mod envelope;
mod frame;
mod identity;
mod key_file;
mod ledger_block;
mod ledger_checkpoint;
mod ledger_entry;
mod ledger_merkle;
mod mcp_frame;
mod ratchet_group;
mod ratchet_x3dh;
mod sealed_box;
mod signed_message;

/// One file of golden vectors.
#[derive(Debug)]
pub struct Family {
    /// Path of the file, relative to the vector directory.
    pub file: &'static str,
    /// Path of the contract, relative to `contracts/`.
    pub contract: &'static str,
    /// What the file is for.
    pub description: &'static str,
    /// `"<crate> <version>"` of the crate whose behaviour the file records.
    producer: fn() -> String,
    /// The cases to generate.
    specs: fn() -> Vec<Spec>,
    /// Runs one case's inputs through the library.
    derive: fn(&Value) -> Result<Derived, String>,
}

/// A case to generate.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) id: &'static str,
    pub(crate) description: &'static str,
    pub(crate) inputs: Value,
    /// For a negative case: a word the error message must contain.
    pub(crate) error_keyword: Option<&'static str>,
    /// Whether the case's object conforms to the contract.
    pub(crate) schema_valid: bool,
}

impl Spec {
    pub(crate) fn ok(id: &'static str, description: &'static str, inputs: Value) -> Self {
        Self {
            id,
            description,
            inputs,
            error_keyword: None,
            schema_valid: true,
        }
    }

    pub(crate) fn err(
        id: &'static str,
        description: &'static str,
        inputs: Value,
        keyword: &'static str,
    ) -> Self {
        Self {
            id,
            description,
            inputs,
            error_keyword: Some(keyword),
            schema_valid: true,
        }
    }

    pub(crate) fn schema_invalid(mut self) -> Self {
        self.schema_valid = false;
        self
    }
}

/// What running a case produced.
#[derive(Debug)]
pub(crate) enum Derived {
    Ok {
        object: Value,
        expected: Value,
    },
    Err {
        object: Option<Value>,
        code: String,
        message: String,
    },
}

impl Derived {
    /// A negative outcome from a talos-crypto error.
    pub(crate) fn error(object: Option<Value>, err: impl Into<talos_crypto::Error>) -> Self {
        Self::failed(object, &err.into())
    }

    /// A negative outcome from any error that maps itself to a code.
    pub(crate) fn failed<E: core::fmt::Display>(object: Option<Value>, err: &E) -> Self
    where
        for<'a> talos_crypto::ErrorCode: From<&'a E>,
    {
        Self::Err {
            object,
            code: talos_crypto::ErrorCode::from(err).as_str().to_owned(),
            message: err.to_string(),
        }
    }
}

/// Every family, in file order.
pub const FAMILIES: &[Family] = &[
    canonical_json::FAMILY,
    identity::FAMILY,
    key_file::FAMILY,
    sealed_box::FAMILY,
    signed_message::FAMILY,
    envelope::FAMILY,
    frame::FAMILY,
    chunk_stream::FAMILY,
    did_document::FAMILY,
    did_record::FAMILY,
    did_puzzle::FAMILY,
    did_trust::FAMILY,
    ratchet_group::FAMILY,
    ratchet_x3dh::FAMILY,
    acl_token::FAMILY,
    acl_chain::FAMILY,
    acl_revocation::FAMILY,
    acl_policy::FAMILY,
    ledger_merkle::FAMILY,
    ledger_checkpoint::FAMILY,
    ledger_entry::FAMILY,
    ledger_block::FAMILY,
    ledger_block::REPORT_FAMILY,
    mcp_frame::FAMILY,
];

fn crypto_producer() -> String {
    format!("talos-crypto {}", talos_crypto::VERSION)
}

fn wire_producer() -> String {
    format!("talos-wire {}", talos_wire::VERSION)
}

impl Family {
    /// The whole file.
    ///
    /// # Errors
    /// If a case cannot be derived or a negative case's error lacks its keyword: a bug.
    pub fn generate(&self) -> Result<Value, String> {
        let mut cases = Vec::new();
        for spec in (self.specs)() {
            let mut case = Map::new();
            case.insert("id".into(), s(spec.id));
            case.insert("description".into(), s(spec.description));
            case.insert("inputs".into(), spec.inputs.clone());
            if !spec.schema_valid {
                case.insert("schema_valid".into(), Value::Bool(false));
            }
            match (
                (self.derive)(&spec.inputs).map_err(|e| format!("{}: {e}", spec.id))?,
                spec.error_keyword,
            ) {
                (Derived::Ok { object, expected }, None) => {
                    case.insert("object".into(), object);
                    case.insert("expected".into(), expected);
                }
                (
                    Derived::Err {
                        object,
                        code,
                        message,
                    },
                    Some(keyword),
                ) => {
                    if !message.to_lowercase().contains(keyword) {
                        return Err(format!("{}: error {message:?} lacks {keyword:?}", spec.id));
                    }
                    if let Some(object) = object {
                        case.insert("object".into(), object);
                    }
                    case.insert(
                        "expected_error".into(),
                        util::object([("code", s(code)), ("message_contains", s(keyword))]),
                    );
                }
                (Derived::Ok { .. }, Some(_)) => {
                    return Err(format!("{}: expected an error", spec.id));
                }
                (Derived::Err { message, .. }, None) => {
                    return Err(format!("{}: {message}", spec.id));
                }
            }
            cases.push(Value::Object(case));
        }
        Ok(util::object([
            ("contract", s(self.contract)),
            (
                "generator",
                s(format!("talos-conformance {}", crate::VERSION)),
            ),
            ("crate", s((self.producer)())),
            ("description", s(self.description)),
            ("cases", Value::Array(cases)),
        ]))
    }

    /// Checks a file of this family.
    #[must_use]
    pub fn check(&self, file: &Value) -> Outcome {
        let mut cases = Cases::default();
        let header = (|| {
            same("contract", self.contract, str_field(file, "contract")?)?;
            let producer = str_field(file, "crate")?;
            let crate_name = (self.producer)();
            let want = crate_name.split(' ').next().unwrap_or_default();
            same(
                "crate",
                want,
                producer.split(' ').next().unwrap_or_default(),
            )
        })();
        if let Err(e) = header {
            return Outcome::Fail { failures: vec![e] };
        }
        let Ok(items) = util::array_field(file, "cases") else {
            return Outcome::Fail {
                failures: vec!["no cases array".into()],
            };
        };
        for case in items {
            let id = str_field(case, "id").unwrap_or("?");
            cases.check(id, self.check_case(case));
        }
        cases.finish()
    }

    fn check_case(&self, case: &Value) -> Result<(), String> {
        match (self.derive)(field(case, "inputs")?)? {
            Derived::Ok { object, expected } => {
                if case.get("expected_error").is_some() {
                    return Err("expected an error, but the library accepted the case".into());
                }
                same("object", field(case, "object")?, &object)?;
                same("expected", field(case, "expected")?, &expected)
            }
            Derived::Err {
                object,
                code,
                message,
            } => {
                let expected_error = case
                    .get("expected_error")
                    .ok_or_else(|| format!("the library rejected the case: {message}"))?;
                same("object", case.get("object"), object.as_ref())?;
                expect_error(expected_error, &code, &message)
            }
        }
    }
}

/// Writes every family's file under `dir`, returning the paths written.
///
/// # Errors
/// If a file cannot be written or a case cannot be derived.
pub fn generate(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for family in FAMILIES {
        let path = dir.join(family.file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut text = to_pretty(&family.generate()?);
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Checks every `.json` file under `dir`, dispatching by its `contract` field.
///
/// # Errors
/// If `dir` cannot be listed.
pub fn run(dir: &Path) -> std::io::Result<Report> {
    let mut report = Report::default();
    for (rel, path) in util::json_files(dir)? {
        let outcome = match util::read_json(&path) {
            Err(e) => Outcome::Fail { failures: vec![e] },
            Ok(doc) => {
                let contract = doc.get("contract").and_then(Value::as_str).unwrap_or("");
                match FAMILIES.iter().find(|f| f.contract == contract) {
                    Some(family) => family.check(&doc),
                    None => Outcome::Skip {
                        reason: format!("no checker for contract {contract:?}"),
                    },
                }
            }
        };
        report.push(rel, outcome);
    }
    Ok(report)
}

/// JSON with two-space indentation and sorted keys; scalars exactly as in canonical form.
#[must_use]
pub fn to_pretty(value: &Value) -> String {
    let mut out = String::new();
    pretty(value, 0, &mut out);
    out
}

fn pretty(value: &Value, depth: usize, out: &mut String) {
    let indent = |d: usize, out: &mut String| out.extend(core::iter::repeat_n("  ", d));
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(depth + 1, out);
                pretty(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (i, (k, v)) in map.iter().enumerate() {
                indent(depth + 1, out);
                out.push_str(&Value::String(k.clone()).to_canonical_string());
                out.push_str(": ");
                pretty(v, depth + 1, out);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push('}');
        }
        other => out.push_str(&other.to_canonical_string()),
    }
}

/// Replaces members of `object` by those of `changes`; a `null` change removes the member.
pub(crate) fn apply_changes(object: &mut Value, changes: &Value) {
    if let (Value::Object(target), Value::Object(changes)) = (object, changes) {
        for (k, v) in changes {
            if *v == Value::Null {
                target.remove(k);
            } else {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Flips the lowest bit of byte `index` of the base64url member `name` of `object`.
pub(crate) fn flip_b64u_byte(object: &mut Value, name: &str, index: usize) -> Result<(), String> {
    let text = str_field(object, name)?;
    let mut bytes = talos_crypto::base64url::decode(text).map_err(|e| e.to_string())?;
    let byte = bytes
        .get_mut(index)
        .ok_or_else(|| format!("{name} has no byte {index}"))?;
    *byte ^= 1;
    apply_changes(
        object,
        &util::object([(name, s(talos_crypto::base64url::encode(&bytes)))]),
    );
    Ok(())
}

/// The first 32 bytes a `ChaCha20Rng` seeded with `seed` produces (how the vectors' random
/// values are drawn, for implementations that inject them instead).
pub(crate) fn rng_bytes<const N: usize>(seed: [u8; 32], skip: usize) -> [u8; N] {
    use rand_chacha::rand_core::{Rng as _, SeedableRng as _};
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
    let mut skipped = vec![0u8; skip];
    rng.fill_bytes(&mut skipped);
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// A seeded `ChaCha20Rng`.
pub(crate) fn rng(seed: [u8; 32]) -> rand_chacha::ChaCha20Rng {
    use rand_chacha::rand_core::SeedableRng as _;
    rand_chacha::ChaCha20Rng::from_seed(seed)
}
