//! Every golden vector file validates against `contracts/vectors.schema.json`, and every
//! case's object against the contract the file names (or, with `schema_valid: false`, is
//! rejected by it), using a real JSON Schema validator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator(path: &Path) -> jsonschema::Validator {
    let schema = load(path);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema",
        "{}: contracts are draft 2020-12",
        path.display()
    );
    jsonschema::meta::validate(&schema)
        .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", path.display()));
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn every_contract_is_a_valid_2020_12_schema_with_a_versioned_id() {
    let mut contracts = Vec::new();
    files(&root().join("contracts"), &mut contracts);
    assert!(contracts.len() >= 6, "found {contracts:?}");
    for path in &contracts {
        let _ = validator(path);
        let id = load(path)["$id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default();
        assert!(
            id.starts_with("urn:talos:contract:"),
            "{}: $id {id:?}",
            path.display()
        );
        assert!(
            id.rsplit(':')
                .next()
                .is_some_and(|v| v.parse::<u32>().is_ok()),
            "{}: $id must end in a version",
            path.display()
        );
    }
}

/// Members of a case's `expected` that are objects of another contract.
const SECONDARY: &[(&str, &str)] = &[
    ("revocation", "did/endorsement_revocation.schema.json"),
    ("bundle", "ratchet/prekey_bundle.schema.json"),
    (
        "sender_key_distribution",
        "ratchet/sender_key_distribution.schema.json",
    ),
];

#[test]
fn every_vector_file_and_case_matches_its_contract() {
    let envelope = validator(&root().join("contracts/vectors.schema.json"));
    let mut vector_files = Vec::new();
    files(&root().join("test-vectors"), &mut vector_files);
    assert!(vector_files.len() >= 5, "found {vector_files:?}");
    let mut valid = 0;
    let mut invalid = 0;
    for path in &vector_files {
        let file = load(path);
        let errors: Vec<String> = envelope
            .iter_errors(&file)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        let contract = validator(
            &root()
                .join("contracts")
                .join(file["contract"].as_str().unwrap()),
        );
        for case in file["cases"].as_array().unwrap() {
            // Objects that cases carry beside their main one, each with its own contract.
            for (member, schema) in SECONDARY {
                if let Some(object) = case["expected"].get(*member) {
                    let errors: Vec<String> = validator(&root().join("contracts").join(schema))
                        .iter_errors(object)
                        .map(|e| format!("{e} at {}", e.instance_path()))
                        .collect();
                    assert!(
                        errors.is_empty(),
                        "{}#{}: {member}: {errors:#?}",
                        path.display(),
                        case["id"]
                    );
                    valid += 1;
                }
            }
            let Some(object) = case.get("object") else {
                continue;
            };
            let id = &case["id"];
            if case.get("schema_valid") == Some(&Value::Bool(false)) {
                assert!(
                    !contract.is_valid(object),
                    "{}#{id}: the contract accepts an object marked invalid",
                    path.display()
                );
                invalid += 1;
            } else {
                let errors: Vec<String> = contract
                    .iter_errors(object)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "{}#{id}: {errors:#?}", path.display());
                valid += 1;
            }
        }
    }
    assert!(
        valid >= 40 && invalid >= 5,
        "valid {valid}, invalid {invalid}"
    );
}

/// The contracts are not just permissive: each rejects a small change to a valid object.
#[test]
fn contracts_reject_near_misses() {
    let sealed = validator(&root().join("contracts/crypto/sealed_box.schema.json"));
    let file = load(&root().join("test-vectors/crypto/sealed_box.json"));
    let authenticated = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "authenticated")
        .map(|c| c["object"].clone())
        .unwrap();
    assert!(sealed.is_valid(&authenticated));
    let mutations: &[(&str, Value)] = &[
        ("mode", Value::from("anonymous")), // sender and sig in anonymous mode
        ("sig", Value::from("AAAA")),       // wrong length
        (
            "recipient",
            Value::from("YDRufJEaX2uhVBKRdMr-dbKUrDu9VUljL0jOxiZvhBB"),
        ), // trailing bits set
        ("ciphertext", Value::from("ab+/")), // standard alphabet
        ("v", Value::from(2)),
        ("extra", Value::from(1)),
    ];
    for (key, value) in mutations {
        let mut object = authenticated.clone();
        object[*key] = value.clone();
        assert!(
            !sealed.is_valid(&object),
            "sealed box schema accepted {key} = {value}"
        );
    }
}
