//! `ledger/checkpoint.json`: C2SP checkpoints signed as C2SP signed notes, a witness
//! cosignature, and what signers, witnesses and light clients must refuse.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use talos_crypto::SigningKey;
use talos_crypto::json::{Number, Value};
use talos_ledger::checkpoint::{Checkpoint, CheckpointError, CheckpointSigner, Witness};
use talos_ledger::light::{LightClient, LightError, Update};
use talos_ledger::merkle::{Hash, MerkleLog};
use talos_ledger::note::{Note, NoteSigner, NoteVerifier};

use super::{Derived, Family, Spec};
use crate::util::{hex_array, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "ledger/checkpoint.json",
    contract: "ledger/checkpoint.schema.json",
    description: "C2SP tlog-checkpoint bodies (origin, decimal size, standard base64 root, each ending in a \
                  newline) signed as C2SP signed notes with Ed25519: the signature line is \"— <name> \" and \
                  base64(be32(key ID) ‖ signature), key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0..4]. \
                  The log key is named after the origin and derived from log_seed_hex; expected.log_skey and \
                  expected.log_vkey are its Go `note` private and verifier key strings. The log holds \
                  `size` leaves, leaf i being the ASCII of \"talos entry i\"; a fork (fork_at) holds \"forked \
                  entry i\" from index fork_at on. Scenarios: sign (the log signs its checkpoint), cosign (the \
                  log signs size1 then size2; a witness with witness_seed_hex, named witness_name, cosigns \
                  size1, then size2 with the consistency proof between them), verify_with (the note checked \
                  with a key of the same name from verify_seed_hex), tamper_root (the root line replaced \
                  after signing), sign_fork (the signer, having signed size1, is asked to sign the fork at \
                  size2 with the fork's proof), sign_rollback, witness_fork (the witness, having cosigned \
                  size1, is offered the fork's size2), light (a light client trusts size1 and is offered \
                  size2; with fork_at it must report equivocation with both signed checkpoints as \
                  evidence). `object` is the last signed checkpoint (or the refused one).",
    producer: || format!("talos-ledger {}", talos_ledger::VERSION),
    specs,
    derive,
};

const ORIGIN: &str = "log.talos.example/ledger/1";
const LOG_SEED: &str = "4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c";
const WITNESS_SEED: &str = "5757575757575757575757575757575757575757575757575757575757575757";
const OTHER_SEED: &str = "3333333333333333333333333333333333333333333333333333333333333333";

fn big(value: u64) -> Value {
    Value::Number(Number::try_from(value).unwrap_or(Number::from(0u32)))
}

fn case<const N: usize>(scenario: &str, pairs: [(&str, Value); N]) -> Value {
    let mut v = object([
        ("scenario", s(scenario)),
        ("origin", s(ORIGIN)),
        ("log_seed_hex", s(LOG_SEED)),
    ]);
    if let Value::Object(map) = &mut v {
        for (k, x) in pairs {
            map.insert(k.to_owned(), x);
        }
    }
    v
}

fn witness() -> [(&'static str, Value); 2] {
    [
        ("witness_name", s("witness.talos.example/w1")),
        ("witness_seed_hex", s(WITNESS_SEED)),
    ]
}

#[allow(clippy::too_many_lines)] // one list of cases
fn specs() -> Vec<Spec> {
    let [wn, ws] = witness();
    vec![
        Spec::ok(
            "sign-size-5",
            "the log signs its checkpoint at 5 leaves",
            case("sign", [("size", big(5))]),
        ),
        Spec::ok(
            "sign-empty",
            "the first checkpoint of an empty log (root SHA-256 of nothing)",
            case("sign", [("size", big(0))]),
        ),
        Spec::ok(
            "sign-size-1024",
            "a checkpoint at 2^10 leaves",
            case("sign", [("size", big(1024))]),
        ),
        Spec::ok(
            "cosigned",
            "the witness cosigns size 8 after 5; verifying with the log key alone ignores the \
             witness's signature",
            case(
                "cosign",
                [("size1", big(5)), ("size2", big(8)), wn.clone(), ws.clone()],
            ),
        ),
        Spec::ok(
            "light-client-advance",
            "a light client trusts size 5, then advances to 8 with a consistency proof",
            case("light", [("size1", big(5)), ("size2", big(8))]),
        ),
        Spec::err(
            "wrong-key",
            "verified with another key of the same name: no known key signed it",
            case(
                "verify_with",
                [("size", big(5)), ("verify_seed_hex", s(OTHER_SEED))],
            ),
            "no known key",
        ),
        Spec::err(
            "tampered-root",
            "the root line replaced after signing",
            case(
                "tamper_root",
                [("size", big(5)), ("root_hex", s(hex::encode([0xaa; 32])))],
            ),
            "invalid signature",
        ),
        Spec::err(
            "signer-refuses-fork",
            "the log signed size 5; it refuses to sign a fork at 8 (leaf 3 differs)",
            case(
                "sign_fork",
                [("size1", big(5)), ("size2", big(8)), ("fork_at", big(3))],
            ),
            "inconsistent",
        ),
        Spec::err(
            "signer-refuses-rollback",
            "the log signed size 8; it refuses to sign size 5",
            case("sign_rollback", [("size1", big(8)), ("size2", big(5))]),
            "below the last one",
        ),
        Spec::err(
            "witness-refuses-fork",
            "the witness cosigned size 5; it refuses the fork's size 8 (leaf 4 differs)",
            case(
                "witness_fork",
                [
                    ("size1", big(5)),
                    ("size2", big(8)),
                    ("fork_at", big(4)),
                    wn,
                    ws,
                ],
            ),
            "inconsistent",
        ),
        Spec::err(
            "equivocation-same-size",
            "two validly signed checkpoints at size 8 with different roots",
            case(
                "light",
                [("size1", big(8)), ("size2", big(8)), ("fork_at", big(7))],
            ),
            "equivocation",
        ),
        Spec::err(
            "equivocation-larger",
            "a signed checkpoint at 9 that does not extend the held one at 5 (leaf 2 differs)",
            case(
                "light",
                [("size1", big(5)), ("size2", big(9)), ("fork_at", big(2))],
            ),
            "equivocation",
        ),
    ]
}

fn log(size: u64, fork_at: Option<u64>) -> Result<MerkleLog, String> {
    let mut log = MerkleLog::new();
    for i in 0..size {
        let data = match fork_at {
            Some(f) if i >= f => format!("forked entry {i}"),
            _ => format!("talos entry {i}"),
        };
        log.append(data.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(log)
}

fn seed_key(inputs: &Value, name: &str) -> Result<SigningKey, String> {
    Ok(SigningKey::from_seed(&hex_array::<32>(inputs, name)?))
}

fn opt_u64(inputs: &Value, name: &str) -> Result<Option<u64>, String> {
    inputs
        .get(name)
        .map(|_| u64_field(inputs, name))
        .transpose()
}

fn checkpoint_object(note: &Note) -> Result<Value, String> {
    let checkpoint = Checkpoint::parse(note.text()).map_err(|e| e.to_string())?;
    Ok(object([
        ("origin", s(checkpoint.origin.clone())),
        ("tree_size", big(checkpoint.size)),
        ("root", s(STANDARD.encode(checkpoint.root))),
        ("body", s(note.text())),
        ("signed_note", s(note.to_string())),
        (
            "signatures",
            Value::Array(
                note.signatures()
                    .iter()
                    .map(|sig| {
                        object([
                            ("name", s(sig.name())),
                            ("key_id", s(format!("{:08x}", sig.key_id()))),
                            ("signature", s(STANDARD.encode(sig.signature()))),
                        ])
                    })
                    .collect(),
            ),
        ),
    ]))
}

fn checkpoint_code(err: &CheckpointError) -> &'static str {
    talos_crypto::ErrorCode::from(err).as_str()
}

fn light_code(err: &LightError) -> &'static str {
    talos_crypto::ErrorCode::from(err).as_str()
}

fn rejected(object: Value, code: &str, message: String) -> Derived {
    Derived::Err {
        object: Some(object),
        code: code.into(),
        message,
    }
}

fn signed(
    object: Value,
    signer: &NoteSigner,
    note: &Note,
    verified_by: &[&NoteVerifier],
    extra: Vec<(&str, Value)>,
) -> Result<Derived, String> {
    // Round trip: the signed note parses back to itself.
    let parsed = Note::parse(&note.to_bytes()).map_err(|e| e.to_string())?;
    if parsed != *note {
        return Err("the signed note does not parse back to itself".into());
    }
    let verifier = signer.verifier();
    let back = NoteVerifier::from_vkey(&verifier.to_vkey()).map_err(|e| e.to_string())?;
    let back_signer = NoteSigner::from_skey(&signer.to_skey()).map_err(|e| e.to_string())?;
    if back != verifier || back_signer.verifier() != verifier {
        return Err("the key strings do not parse back to the key".into());
    }
    independent_check(note, signer)?;
    let mut expected = object_from(vec![
        ("log_skey", s(signer.to_skey().as_str())),
        ("log_vkey", s(verifier.to_vkey())),
        (
            "verified_by",
            Value::Array(verified_by.iter().map(|v| s(v.name())).collect()),
        ),
    ]);
    if let Value::Object(map) = &mut expected {
        for (k, v) in extra {
            map.insert(k.to_owned(), v);
        }
    }
    Ok(Derived::Ok { object, expected })
}

/// Checks the log's signature line and key strings from the C2SP definitions, without
/// talos-ledger's note code: key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0..4], the
/// verifier key `<name>+<key ID hex>+base64(0x01 ‖ public key)`, and Ed25519 over the text.
fn independent_check(note: &Note, signer: &NoteSigner) -> Result<(), String> {
    let name = signer.name();
    let key = *signer.verifier().key();
    let mut preimage = name.as_bytes().to_vec();
    preimage.extend([0x0a, 0x01]);
    preimage.extend(key.to_bytes());
    let digest = talos_crypto::hash::sha256(&preimage);
    let key_id = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut encoded = vec![0x01];
    encoded.extend(key.to_bytes());
    if signer.verifier().to_vkey() != format!("{name}+{key_id:08x}+{}", STANDARD.encode(&encoded)) {
        return Err("the verifier key string is not the C2SP encoding".into());
    }
    let sig = note
        .signatures()
        .iter()
        .find(|sig| sig.name() == name)
        .ok_or("no signature by the log")?;
    let bytes: [u8; 64] = sig
        .signature()
        .try_into()
        .map_err(|_| "the signature is not 64 bytes".to_owned())?;
    if sig.key_id() != key_id
        || key
            .verify(
                note.text().as_bytes(),
                &talos_crypto::Signature::from_bytes(&bytes),
            )
            .is_err()
    {
        return Err("the log's signature line does not verify independently".into());
    }
    let line = format!(
        "\u{2014} {name} {}\n",
        STANDARD.encode([&key_id.to_be_bytes()[..], &bytes[..]].concat())
    );
    if !note.to_string().contains(&line) {
        return Err("the signature line is not in the C2SP format".into());
    }
    Ok(())
}

fn object_from(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

#[allow(clippy::too_many_lines)] // one dispatch over the scenarios
fn derive(inputs: &Value) -> Result<Derived, String> {
    let origin = str_field(inputs, "origin")?;
    let key = seed_key(inputs, "log_seed_hex")?;
    let note_signer = NoteSigner::new(origin, key.clone()).map_err(|e| e.to_string())?;
    let log_key = note_signer.verifier();
    let mut signer = CheckpointSigner::new(origin, key.clone()).map_err(|e| e.to_string())?;
    let fork_at = opt_u64(inputs, "fork_at")?;
    let size1 = opt_u64(inputs, "size1")?;
    let size2 = opt_u64(inputs, "size2")?;
    let sign_at = |signer: &mut CheckpointSigner, size: u64, fork: Option<u64>| {
        signer
            .sign_log(&log(size, fork)?)
            .map_err(|e| e.to_string())
    };
    match str_field(inputs, "scenario")? {
        "sign" => {
            let note = sign_at(&mut signer, u64_field(inputs, "size")?, None)?;
            let (checkpoint, opened) =
                Checkpoint::open(&note.to_bytes(), core::slice::from_ref(&log_key))
                    .map_err(|e| e.to_string())?;
            if opened != note || checkpoint.to_text() != note.text() {
                return Err("the signed checkpoint does not open to itself".into());
            }
            signed(
                checkpoint_object(&note)?,
                &note_signer,
                &note,
                &[&log_key],
                vec![],
            )
        }
        "cosign" => {
            let (size1, size2) = (size1.ok_or("size1")?, size2.ok_or("size2")?);
            let wkey = seed_key(inputs, "witness_seed_hex")?;
            let wsigner = NoteSigner::new(str_field(inputs, "witness_name")?, wkey)
                .map_err(|e| e.to_string())?;
            let mut witness = Witness::new(wsigner, 4);
            witness
                .add_log(log_key.clone())
                .map_err(|e| e.to_string())?;
            let first = sign_at(&mut signer, size1, None)?;
            witness
                .cosign(&first.to_bytes(), &[])
                .map_err(|e| e.to_string())?;
            let full = log(size2, None)?;
            let second = signer.sign_log(&full).map_err(|e| e.to_string())?;
            let proof = full
                .consistency_proof(size1, size2)
                .map_err(|e| e.to_string())?;
            let cosigned = witness
                .cosign(&second.to_bytes(), &proof)
                .map_err(|e| e.to_string())?;
            let wkey = witness.verifier();
            let both = [log_key.clone(), wkey.clone()];
            let by_both = cosigned.verify(&both).map_err(|e| e.to_string())?;
            let by_log = cosigned
                .verify(core::slice::from_ref(&log_key))
                .map_err(|e| e.to_string())?;
            let by_witness = cosigned
                .verify(core::slice::from_ref(&wkey))
                .map_err(|e| e.to_string())?;
            if by_log.len() != 1 || by_witness.len() != 1 || by_both.len() != 2 {
                return Err("the cosigned note does not verify as expected".into());
            }
            signed(
                checkpoint_object(&cosigned)?,
                &note_signer,
                &cosigned,
                &by_both,
                vec![
                    ("witness_vkey", s(wkey.to_vkey())),
                    (
                        "consistency_proof_hex",
                        Value::Array(proof.iter().map(|h| s(hex::encode(h))).collect()),
                    ),
                ],
            )
        }
        "verify_with" => {
            let note = sign_at(&mut signer, u64_field(inputs, "size")?, None)?;
            let other =
                NoteVerifier::new(origin, seed_key(inputs, "verify_seed_hex")?.verifying_key())
                    .map_err(|e| e.to_string())?;
            match Checkpoint::open(&note.to_bytes(), &[other]) {
                Ok(_) => Err("a note opened under the wrong key".into()),
                Err(e) => Ok(rejected(
                    checkpoint_object(&note)?,
                    checkpoint_code(&e),
                    e.to_string(),
                )),
            }
        }
        "tamper_root" => {
            let note = sign_at(&mut signer, u64_field(inputs, "size")?, None)?;
            let root: Hash = hex_array::<32>(inputs, "root_hex")?;
            let mut checkpoint = Checkpoint::parse(note.text()).map_err(|e| e.to_string())?;
            let old_root = STANDARD.encode(checkpoint.root);
            checkpoint.root = root;
            let text = note
                .to_string()
                .replacen(&old_root, &STANDARD.encode(root), 1);
            let tampered = Note::parse(text.as_bytes()).map_err(|e| e.to_string())?;
            match Checkpoint::open(text.as_bytes(), core::slice::from_ref(&log_key)) {
                Ok(_) => Err("a tampered note opened".into()),
                Err(e) => Ok(rejected(
                    checkpoint_object(&tampered)?,
                    checkpoint_code(&e),
                    e.to_string(),
                )),
            }
        }
        "sign_fork" | "sign_rollback" => {
            let (size1, size2) = (size1.ok_or("size1")?, size2.ok_or("size2")?);
            let _ = sign_at(&mut signer, size1, None)?;
            let other = log(size2, fork_at)?;
            let proof = if size1 < size2 {
                other
                    .consistency_proof(size1, size2)
                    .map_err(|e| e.to_string())?
            } else {
                Vec::new()
            };
            let checkpoint =
                Checkpoint::new(origin, size2, other.root()).map_err(|e| e.to_string())?;
            // What the refused checkpoint would have been, signed by the same key.
            let mut would_be = Note::new(checkpoint.to_text()).map_err(|e| e.to_string())?;
            would_be.sign(&note_signer).map_err(|e| e.to_string())?;
            match signer.sign(&checkpoint, &proof) {
                Ok(_) => Err("the signer signed a checkpoint that does not extend its last".into()),
                Err(e) => {
                    if signer.last_signed().map(|h| h.size) != Some(size1) {
                        return Err("a refusal changed the signer's state".into());
                    }
                    Ok(rejected(
                        checkpoint_object(&would_be)?,
                        checkpoint_code(&e),
                        e.to_string(),
                    ))
                }
            }
        }
        "witness_fork" => {
            let (size1, size2) = (size1.ok_or("size1")?, size2.ok_or("size2")?);
            let wkey = seed_key(inputs, "witness_seed_hex")?;
            let wsigner = NoteSigner::new(str_field(inputs, "witness_name")?, wkey)
                .map_err(|e| e.to_string())?;
            let mut witness = Witness::new(wsigner, 4);
            witness
                .add_log(log_key.clone())
                .map_err(|e| e.to_string())?;
            let first = sign_at(&mut signer, size1, None)?;
            witness
                .cosign(&first.to_bytes(), &[])
                .map_err(|e| e.to_string())?;
            // The log's key signs a fork (a second signer instance: the log equivocates).
            let mut forker = CheckpointSigner::new(origin, key).map_err(|e| e.to_string())?;
            let fork = log(size2, fork_at)?;
            let forked = forker.sign_log(&fork).map_err(|e| e.to_string())?;
            let proof = fork
                .consistency_proof(size1, size2)
                .map_err(|e| e.to_string())?;
            match witness.cosign(&forked.to_bytes(), &proof) {
                Ok(_) => Err("the witness cosigned a fork".into()),
                Err(e) => {
                    if witness.last_seen(origin).map(|h| h.size) != Some(size1) {
                        return Err("a refusal changed the witness's state".into());
                    }
                    Ok(rejected(
                        checkpoint_object(&forked)?,
                        checkpoint_code(&e),
                        e.to_string(),
                    ))
                }
            }
        }
        "light" => {
            let (size1, size2) = (size1.ok_or("size1")?, size2.ok_or("size2")?);
            let mut client = LightClient::new(4);
            client
                .add_log_key(log_key.clone())
                .map_err(|e| e.to_string())?;
            let first = sign_at(&mut signer, size1, None)?;
            if client
                .update(&first.to_bytes(), &[])
                .map_err(|e| e.to_string())?
                != Update::Trusted
            {
                return Err("the first checkpoint was not trusted".into());
            }
            let mut second_signer =
                CheckpointSigner::new(origin, key).map_err(|e| e.to_string())?;
            let second_log = log(size2, fork_at)?;
            let second = second_signer
                .sign_log(&second_log)
                .map_err(|e| e.to_string())?;
            let proof = if size1 < size2 {
                second_log
                    .consistency_proof(size1, size2)
                    .map_err(|e| e.to_string())?
            } else {
                Vec::new()
            };
            match client.update(&second.to_bytes(), &proof) {
                Ok(update) => {
                    if update != Update::Advanced {
                        return Err(format!("unexpected update {update:?}"));
                    }
                    // The newest entry is provably in the advanced checkpoint.
                    let index = size2.checked_sub(1).ok_or("size2 is 0")?;
                    let inclusion = second_log
                        .inclusion_proof(index, size2)
                        .map_err(|e| e.to_string())?;
                    client
                        .verify_entry(
                            origin,
                            format!("talos entry {index}").as_bytes(),
                            index,
                            &inclusion,
                        )
                        .map_err(|e| e.to_string())?;
                    signed(
                        checkpoint_object(&second)?,
                        &note_signer,
                        &second,
                        &[&log_key],
                        vec![("update", s("advanced"))],
                    )
                }
                Err(e) => {
                    if let LightError::Equivocation { evidence, .. } = &e {
                        if evidence.a != first || evidence.b != second {
                            return Err("the evidence is not the two signed checkpoints".into());
                        }
                        if client.signed_note(origin) != Some(&first) {
                            return Err("the held checkpoint changed".into());
                        }
                    }
                    Ok(rejected(
                        checkpoint_object(&second)?,
                        light_code(&e),
                        e.to_string(),
                    ))
                }
            }
        }
        other => Err(format!("unknown scenario {other:?}")),
    }
}
