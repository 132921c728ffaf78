//! `did/document.json`: DID documents generated from DIDs, and documents a reader must refuse.

use talos_crypto::json::{self, Map, Number, Value};
use talos_crypto::{SigningKey, hash};
use talos_did::{Did, DidKey, Document, Element, PeerDid, Purpose, Service, Style};

use super::{Derived, Family, Spec, apply_changes};
use crate::util::{array_field, hex_array, object, s, str_field};

pub(super) const FAMILY: Family = Family {
    file: "did/document.json",
    contract: "did/document.schema.json",
    description: "DID documents. A did:key (or did:peer:0) of the Ed25519 key of seed_hex (key: \
                  \"x25519\" for the X25519 did:key of its derived key-agreement key) expands as the \
                  did:key method specifies, in the given style (Multikey, Ed25519VerificationKey2018 or \
                  JsonWebKey2020), with the derived X25519 key-agreement key; a did:peer:2 (from `did`, or \
                  encoded from `peer2` elements: purpose code plus seed, E keys being the seed's derived \
                  X25519 key) expands as the DIF spec says. talos_agent and mcp_tools add the Talos \
                  services. `object` is the document's JSON form; expected.cbor_hex its deterministic \
                  CBOR, expected.did the DID, and for DIDs with an Ed25519 authentication key \
                  expected.address and expected.kademlia_key_hex (both hex SHA-256 of that key). Negative \
                  cases alter the document (tamper.set replaces top-level members) and read it back, then \
                  check it against check_did (default: its DID).",
    producer: || format!("talos-did {}", talos_did::VERSION),
    specs,
    derive,
};

fn seed(byte: u8) -> String {
    format!("{}{byte:02x}", "00".repeat(31))
}

fn inputs(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Map>(),
    )
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|i| s(*i)).collect())
}

/// The DIF spec's `did:peer:2` example (`spec/core.md`, "Example Peer DID 2").
const SPEC_PEER2: &str = "did:peer:2.Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc.Ez6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9leGFtcGxlLmNvbS9kaWRjb21tIiwiYSI6WyJkaWRjb21tL3YyIl0sInIiOlsiZGlkOmV4YW1wbGU6MTIzNDU2Nzg5YWJjZGVmZ2hpI2tleS0xIl19fQ.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9leGFtcGxlLmNvbS9hbm90aGVyIiwiYSI6WyJkaWRjb21tL3YyIl0sInIiOlsiZGlkOmV4YW1wbGU6MTIzNDU2Nzg5YWJjZGVmZ2hpI2tleS0yIl19fQ";

/// The document of seed `byte` in the Multikey style, as a JSON value (to build tampered
/// members from).
fn multikey_doc(byte: u8) -> Value {
    Document::resolve(&Did::from(seed_key(byte))).to_json_value()
}

/// The Ed25519 key of seed 00…0`byte`.
fn seed_key(byte: u8) -> talos_crypto::VerifyingKey {
    let mut seed = [0u8; 32];
    seed[31] = byte;
    SigningKey::from_seed(&seed).verifying_key()
}

fn methods(doc: &Value) -> Vec<Value> {
    match doc.get("verificationMethod") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

fn with_member(mut value: Value, key: &str, member: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(key.to_owned(), member);
    }
    value
}

fn tamper(set: Value) -> (&'static str, Value) {
    ("tamper", object([("set", set)]))
}

#[allow(clippy::too_many_lines)] // one list of cases
fn specs() -> Vec<Spec> {
    let one = multikey_doc(1);
    let one_methods = methods(&one);
    let ed = one_methods.first().cloned().unwrap_or(Value::Null);
    let x = one_methods.get(1).cloned().unwrap_or(Value::Null);
    let ed_id = ed.get("id").cloned().unwrap_or(Value::Null);
    let two_key = methods(&multikey_doc(2))
        .first()
        .and_then(|m| m.get("publicKeyMultibase"))
        .cloned()
        .unwrap_or(Value::Null);
    let multikey = || ("style", s("Multikey"));
    let seed1 = || ("seed_hex", s(seed(1)));
    let mut small_order = vec![0xed, 0x01, 1];
    small_order.extend_from_slice(&[0; 31]);
    let too_many: Vec<Value> = (0..65)
        .map(|i| with_member(ed.clone(), "id", s(format!("#k{i}"))))
        .collect();
    vec![
        Spec::ok(
            "key-multikey-seed-01",
            "did:key of seed 00…01, Multikey (the current did:key spec)",
            inputs(&[seed1(), multikey()]),
        ),
        Spec::ok(
            "key-multikey-seed-ff",
            "did:key of seed ff…ff, Multikey",
            inputs(&[("seed_hex", s("ff".repeat(32))), multikey()]),
        ),
        Spec::ok(
            "key-2018-seed-00",
            "did:key of seed 00…00, Ed25519VerificationKey2018 (as the W3C CCG vector)",
            inputs(&[
                ("seed_hex", s(seed(0))),
                ("style", s("Ed25519VerificationKey2018")),
            ]),
        ),
        Spec::ok(
            "key-2018-seed-03",
            "did:key of seed 00…03, Ed25519VerificationKey2018 (as the W3C CCG vector)",
            inputs(&[
                ("seed_hex", s(seed(3))),
                ("style", s("Ed25519VerificationKey2018")),
            ]),
        ),
        Spec::ok(
            "key-jwk-seed-05",
            "did:key of seed 00…05, JsonWebKey2020 (as the W3C CCG vector)",
            inputs(&[("seed_hex", s(seed(5))), ("style", s("JsonWebKey2020"))]),
        ),
        Spec::ok(
            "key-x25519",
            "the X25519 did:key of seed 00…01's key-agreement key: keyAgreement only",
            inputs(&[seed1(), ("key", s("x25519")), multikey()]),
        ),
        Spec::ok(
            "peer0-seed-01",
            "did:peer:0 of seed 00…01: the did:key document under its own id",
            inputs(&[seed1(), ("method", s("peer0")), multikey()]),
        ),
        Spec::ok(
            "talos-services",
            "did:key of seed 00…01 with a TalosAgent and a TalosMcp service",
            inputs(&[
                seed1(),
                multikey(),
                (
                    "talos_agent",
                    strings(&[
                        "/ip4/203.0.113.7/tcp/4001",
                        "/ip4/203.0.113.7/udp/4001/quic-v1",
                    ]),
                ),
                ("mcp_tools", strings(&["read_file", "search", "git.commit"])),
            ]),
        ),
        Spec::ok(
            "peer2-talos",
            "a did:peer:2 with an authentication and a key-agreement key and a TalosAgent service",
            inputs(&[
                (
                    "peer2",
                    Value::Array(vec![
                        object([("purpose", s("V")), ("seed_hex", s(seed(1)))]),
                        object([("purpose", s("E")), ("seed_hex", s(seed(1)))]),
                        object([("purpose", s("A")), ("seed_hex", s(seed(2)))]),
                    ]),
                ),
                ("peer2_talos_agent", strings(&["/ip4/127.0.0.1/tcp/4001"])),
            ]),
        ),
        Spec::ok(
            "peer2-spec-example",
            "the DIF peer DID spec's did:peer:2 example: abbreviated DIDComm services without ids",
            inputs(&[("did", s(SPEC_PEER2))]),
        ),
        Spec::err(
            "id-mismatch",
            "the document of seed 00…01 offered for the DID of seed 00…02",
            inputs(&[
                seed1(),
                multikey(),
                ("check_did", s(Did::from(seed_key(2)).to_string())),
            ]),
            "id does not match",
        ),
        Spec::err(
            "keys-mismatch",
            "the right id, but the Ed25519 method holds another key",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([(
                    "verificationMethod",
                    Value::Array(vec![
                        with_member(ed.clone(), "publicKeyMultibase", two_key),
                        x.clone(),
                    ]),
                )])),
            ]),
            "keys do not match",
        ),
        Spec::err(
            "duplicate-method-id",
            "the X25519 method reuses the Ed25519 method's id",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([(
                    "verificationMethod",
                    Value::Array(vec![
                        ed.clone(),
                        with_member(x.clone(), "id", ed_id.clone()),
                    ]),
                )])),
            ]),
            "duplicate id",
        ),
        Spec::err(
            "dangling-reference",
            "keyAgreement names a method the document does not define",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([("keyAgreement", strings(&["#missing"]))])),
            ]),
            "unknown verification method",
        ),
        Spec::err(
            "key-purpose-mismatch",
            "keyAgreement names the Ed25519 method",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([("keyAgreement", Value::Array(vec![ed_id]))])),
            ]),
            "key type does not fit",
        ),
        Spec::err(
            "foreign-method-id",
            "a method id under another DID",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([(
                    "verificationMethod",
                    Value::Array(vec![
                        ed.clone(),
                        with_member(x.clone(), "id", s("did:example:other#key-1")),
                    ]),
                )])),
            ]),
            "not a fragment",
        ),
        Spec::err(
            "small-order-key",
            "a Multikey value holding a small-order Ed25519 point",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([(
                    "verificationMethod",
                    Value::Array(vec![
                        with_member(
                            ed.clone(),
                            "publicKeyMultibase",
                            s(format!("z{}", bs58_encode(&small_order))),
                        ),
                        x.clone(),
                    ]),
                )])),
            ]),
            "invalid key",
        ),
        Spec::err(
            "float-extension",
            "an extension member holding a floating-point number",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([(
                    "x-weight",
                    Value::Number(Number::from_f64(0.5).unwrap_or(Number::from(0u32))),
                )])),
            ]),
            "not allowed",
        ),
        Spec::err(
            "unknown-method-type",
            "a verification method type this profile does not read",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([(
                    "verificationMethod",
                    Value::Array(vec![
                        with_member(ed.clone(), "type", s("EcdsaSecp256k1VerificationKey2019")),
                        x.clone(),
                    ]),
                )])),
            ]),
            "unsupported verification method type",
        )
        .schema_invalid(),
        Spec::err(
            "empty-service-list",
            "an empty service list (omit the member instead)",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([("service", Value::Array(Vec::new()))])),
            ]),
            "empty service",
        )
        .schema_invalid(),
        Spec::err(
            "missing-context",
            "no @context",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([("@context", Value::Null)])),
            ]),
            "missing member @context",
        )
        .schema_invalid(),
        Spec::err(
            "too-many-methods",
            "65 verification methods",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([("verificationMethod", Value::Array(too_many))])),
            ]),
            "too many verification methods",
        )
        .schema_invalid(),
        Spec::err(
            "talos-agent-not-a-multiaddr",
            "a TalosAgent endpoint that is not a multiaddr",
            inputs(&[
                seed1(),
                multikey(),
                tamper(object([(
                    "service",
                    Value::Array(vec![object([
                        ("id", s("#agent")),
                        ("type", s("TalosAgent")),
                        ("serviceEndpoint", strings(&["ip4/203.0.113.7/tcp/4001"])),
                    ])]),
                )])),
            ]),
            "invalid entry",
        )
        .schema_invalid(),
        Spec::err(
            "peer-unknown-purpose",
            "a did:peer:2 element with purpose code X",
            inputs(&[(
                "did",
                s("did:peer:2.Xz6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"),
            )]),
            "unknown did:peer purpose code",
        ),
        Spec::err(
            "peer-numalgo-4",
            "did:peer numalgo 4 is not supported",
            inputs(&[(
                "did",
                s("did:peer:4zQmb7xLdVY9TXx8oov5XgpGUmGELgqiAV2699s43i6Qdm3M"),
            )]),
            "unsupported did:peer numalgo",
        ),
    ]
}

/// base58btc (for building a malformed key in a case; the library is not trusted to).
fn bs58_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new();
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for d in &mut digits {
            carry += u32::from(*d) << 8;
            *d = u8::try_from(carry % 58).unwrap_or(0);
            carry /= 58;
        }
        while carry > 0 {
            digits.push(u8::try_from(carry % 58).unwrap_or(0));
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    core::iter::repeat_n('1', zeros)
        .chain(
            digits
                .iter()
                .rev()
                .map(|&d| char::from(ALPHABET.get(usize::from(d)).copied().unwrap_or(b'1'))),
        )
        .collect()
}

fn the_did(inputs: &Value) -> Result<Result<Did, talos_did::DidError>, String> {
    if let Some(text) = inputs.get("did").and_then(Value::as_str) {
        return Ok(text.parse());
    }
    if inputs.get("peer2").is_some() {
        let mut elements = Vec::new();
        for item in array_field(inputs, "peer2")? {
            let key = SigningKey::from_seed(&hex_array::<32>(item, "seed_hex")?).verifying_key();
            let code = str_field(item, "purpose")?
                .chars()
                .next()
                .ok_or("empty purpose")?;
            let purpose = Purpose::from_peer_code(code).ok_or("unknown purpose")?;
            let key = if purpose == Purpose::KeyAgreement {
                DidKey::X25519(key.to_x25519())
            } else {
                DidKey::Ed25519(key)
            };
            elements.push(Element::key(purpose, key));
        }
        if inputs.get("peer2_talos_agent").is_some() {
            let addrs = string_list(inputs, "peer2_talos_agent")?;
            let service = Service::talos_agent("#talos-agent", addrs).map_err(|e| e.to_string())?;
            elements.push(Element::Service(service));
        }
        return Ok(PeerDid::numalgo2(&elements).map(Did::from));
    }
    let key = SigningKey::from_seed(&hex_array::<32>(inputs, "seed_hex")?).verifying_key();
    let key = match inputs.get("key").and_then(Value::as_str) {
        None => DidKey::Ed25519(key),
        Some("x25519") => DidKey::X25519(key.to_x25519()),
        Some(other) => return Err(format!("unknown key {other:?}")),
    };
    Ok(Ok(match inputs.get("method").and_then(Value::as_str) {
        None => Did::Key(key),
        Some("peer0") => PeerDid::numalgo0(key).into(),
        Some(other) => return Err(format!("unknown method {other:?}")),
    }))
}

fn string_list(inputs: &Value, key: &str) -> Result<Vec<String>, String> {
    array_field(inputs, key)?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{key}: not a string"))
        })
        .collect()
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let did = match the_did(inputs)? {
        Ok(did) => did,
        Err(e) => return Ok(Derived::failed(None, &e)),
    };
    let style = match inputs.get("style").and_then(Value::as_str) {
        None => Style::default(),
        Some(name) => Style::from_name(name).ok_or_else(|| format!("unknown style {name:?}"))?,
    };
    let mut doc = Document::resolve_with(&did, style);
    if inputs.get("talos_agent").is_some() {
        doc = doc
            .with_talos_agent(string_list(inputs, "talos_agent")?)
            .map_err(|e| e.to_string())?;
    }
    if inputs.get("mcp_tools").is_some() {
        doc = doc
            .with_mcp_tools(string_list(inputs, "mcp_tools")?)
            .map_err(|e| e.to_string())?;
    }
    let mut object = doc.to_json_value();
    let tampered = inputs.get("tamper").is_some();
    if let Some(set) = inputs.get("tamper").and_then(|t| t.get("set")) {
        apply_changes(&mut object, set);
    }
    let check = match inputs.get("check_did").and_then(Value::as_str) {
        Some(text) => text.parse::<Did>().map_err(|e| e.to_string())?,
        None => did.clone(),
    };
    let negative = tampered || inputs.get("check_did").is_some();
    let read = Document::from_json(&object.to_canonical_vec()).and_then(|d| {
        d.check_did(&check)?;
        Ok(d)
    });
    match (read, negative) {
        (Err(e), true) => Ok(Derived::failed(Some(object), &e)),
        (Ok(_), true) => Err("the altered document was accepted".into()),
        (Err(e), false) => Err(e.to_string()),
        (Ok(read), false) => {
            let cbor = doc.to_cbor();
            if read != doc || Document::from_cbor(&cbor).map_err(|e| e.to_string())? != doc {
                return Err("JSON or CBOR round trip changed the document".into());
            }
            if json::canonicalize(&doc.to_json()).map_err(|e| e.to_string())? != doc.to_json() {
                return Err("the JSON form is not canonical".into());
            }
            let mut expected = Map::new();
            expected.insert("did".into(), s(did.to_string()));
            expected.insert("cbor_hex".into(), s(hex::encode(&cbor)));
            if let Some(key) = did.signing_key() {
                if doc.signing_key() != Some(key) {
                    return Err("the document authenticates another key".into());
                }
                expected.insert("address".into(), s(key.address()));
                expected.insert(
                    "kademlia_key_hex".into(),
                    s(hash::to_hex(&hash::sha256(key.as_bytes()))),
                );
            }
            Ok(Derived::Ok {
                object,
                expected: Value::Object(expected),
            })
        }
    }
}
