//! `talos ledger`: the node's audit ledger (talos-ledger's RFC 9162 Merkle log in the store).
//!
//! - `checkpoint` signs the ledger's current tree head as a C2SP `tlog-checkpoint` (a signed
//!   note whose key name is the log's origin, [`origin`]), checks the signature, and prints
//!   the note.
//! - `prove ENTRY_ID` prints the inclusion proof of one entry (by index, or by its 16-byte id
//!   in hex or UUID form) against the current checkpoint, after verifying it.
//! - `verify` walks the whole ledger: every entry is present, decodes as a talos-ledger
//!   [`Entry`] (deterministic CBOR), hashes to the stored leaf; every stored subtree hash is
//!   recomputed from the leaves; the recomputed root equals the log's root and a freshly
//!   signed checkpoint verifies. Any mismatch is an error (non-zero exit).
//! - `export` writes every entry for an auditor: JSON lines (`{"index", "leaf_hash", "entry"}`,
//!   the entry in its canonical JSON form), or with `--json` one document with the origin,
//!   size, root, the signed checkpoint and the entries.
//!
//! Hashes are lowercase hex in the output; the checkpoint note carries the root in base64 as
//! C2SP defines.
//!
//! The checkpoint signer here keeps no state between runs (the store has no row for the last
//! signed tree head), so its rollback protection is only the ledger's own append-only store.

use std::io::Write;
use std::path::{Path, PathBuf};

use talos_crypto::base64url;
use talos_crypto::hash::{from_hex, to_hex};
use talos_crypto::json::{self, Map, Value};
use talos_ledger::checkpoint::{Checkpoint, CheckpointSigner};
use talos_ledger::entry::Entry;
use talos_ledger::merkle::{self, Frontier, Hash, Store as _, leaf_hash, node_hash};
use talos_ledger::note::Note;
use talos_node::store::Ledger;

pub(crate) use super::cap::Ctx;
use super::cap::{num, write_json, write_out};
use crate::cli::CliError;

/// The most problems `verify` lists in its error (it counts them all).
const MAX_LISTED_PROBLEMS: usize = 10;

/// `talos ledger …`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum LedgerCommand {
    /// Print the ledger's current signed checkpoint (a C2SP signed note).
    Checkpoint,
    /// Print and verify the inclusion proof of one entry against the current checkpoint.
    Prove {
        /// The entry: its index (decimal), or its 16-byte id (32 hex digits or a UUID).
        entry_id: String,
    },
    /// Check the whole ledger: every entry, every stored hash, the root and the checkpoint.
    Verify,
    /// Export every entry as JSON lines (with --json: one JSON document) for an auditor.
    Export {
        /// Write to FILE instead of the output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The origin (and checkpoint key name) of the ledger of the node with DID `did`:
/// `talos/<did>`.
#[must_use]
pub(crate) fn origin(did: &str) -> String {
    format!("talos/{did}")
}

/// Runs a `ledger` command, writing its result to `out`.
///
/// # Errors
/// A [`CliError`]: an entry that does not exist, a proof or checkpoint that does not verify,
/// any mismatch found by `verify`, a store or output failure.
pub(crate) fn run(cmd: LedgerCommand, ctx: &Ctx<'_>, out: &mut dyn Write) -> Result<(), CliError> {
    let ledger = ctx
        .store
        .ledger()
        .map_err(|e| CliError::new(format!("cannot open the ledger: {e}")))?;
    match cmd {
        LedgerCommand::Checkpoint => checkpoint(ctx, &ledger, out),
        LedgerCommand::Prove { entry_id } => prove(ctx, &ledger, &entry_id, out),
        LedgerCommand::Verify => verify(ctx, &ledger, out),
        LedgerCommand::Export { out: file } => export(ctx, &ledger, file.as_deref(), out),
    }
}

/// A signed checkpoint of the ledger as it is now, verified with our key.
struct Signed {
    checkpoint: Checkpoint,
    note: Note,
    vkey: String,
}

fn sign_checkpoint(ctx: &Ctx<'_>, ledger: &Ledger) -> Result<Signed, CliError> {
    let origin = origin(&ctx.did());
    let mut signer = CheckpointSigner::new(&origin, ctx.key.clone())
        .map_err(|e| CliError::new(format!("checkpoint signer: {e}")))?;
    let note = signer
        .sign_log(ledger.log())
        .map_err(|e| CliError::new(format!("cannot sign the checkpoint: {e}")))?;
    let verifier = signer.verifier();
    let (checkpoint, note) =
        Checkpoint::open(&note.to_bytes(), core::slice::from_ref(&verifier))
            .map_err(|e| CliError::new(format!("the signed checkpoint does not verify: {e}")))?;
    if checkpoint.size != ledger.size() || checkpoint.root != ledger.root() {
        return Err(CliError::new(
            "the signed checkpoint does not match the ledger",
        ));
    }
    Ok(Signed {
        checkpoint,
        note,
        vkey: verifier.to_vkey(),
    })
}

fn note_text(note: &Note) -> String {
    String::from_utf8_lossy(&note.to_bytes()).into_owned()
}

fn checkpoint_json(signed: &Signed) -> Map {
    let mut doc = Map::new();
    doc.insert(
        "origin".into(),
        Value::from(signed.checkpoint.origin.as_str()),
    );
    doc.insert("size".into(), num(signed.checkpoint.size));
    doc.insert("root".into(), Value::from(to_hex(&signed.checkpoint.root)));
    doc.insert("note".into(), Value::from(note_text(&signed.note)));
    doc.insert("vkey".into(), Value::from(signed.vkey.as_str()));
    doc
}

// --- checkpoint ---

fn checkpoint(ctx: &Ctx<'_>, ledger: &Ledger, out: &mut dyn Write) -> Result<(), CliError> {
    let signed = sign_checkpoint(ctx, ledger)?;
    if ctx.json {
        write_json(out, &Value::Object(checkpoint_json(&signed)))
    } else {
        write_out(out, &signed.note.to_bytes())
    }
}

// --- prove ---

/// How `prove` names an entry.
#[derive(Debug, PartialEq, Eq)]
enum EntryRef {
    Index(u64),
    Id([u8; 16]),
}

fn parse_entry_ref(text: &str) -> Result<EntryRef, CliError> {
    if !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse()
    {
        return Ok(EntryRef::Index(i));
    }
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let dashes_ok = text.len() == 32
        || (text.len() == 36
            && text
                .char_indices()
                .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23)));
    if dashes_ok && let Some(id) = from_hex(&hex.to_ascii_lowercase()) {
        return Ok(EntryRef::Id(id));
    }
    Err(CliError::new(format!(
        "invalid entry id {:?}: expected an index or a 16-byte id (32 hex digits or a UUID)",
        super::cap::cut(text)
    )))
}

fn entry_bytes(ledger: &Ledger, index: u64) -> Result<Vec<u8>, CliError> {
    ledger
        .entry(index)
        .map_err(|e| CliError::new(format!("store: {e}")))?
        .ok_or_else(|| CliError::new(format!("entry {index} is missing from the store")))
}

fn find_entry(ledger: &Ledger, id: &[u8; 16]) -> Result<u64, CliError> {
    for index in 0..ledger.size() {
        let bytes = entry_bytes(ledger, index)?;
        if Entry::from_cbor(&bytes).is_ok_and(|e| e.id() == id) {
            return Ok(index);
        }
    }
    Err(CliError::new(format!(
        "no entry with id {} in the ledger",
        to_hex(id)
    )))
}

fn prove(
    ctx: &Ctx<'_>,
    ledger: &Ledger,
    entry_id: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let size = ledger.size();
    let index = match parse_entry_ref(entry_id)? {
        EntryRef::Index(i) if i < size => i,
        EntryRef::Index(i) => {
            return Err(CliError::new(format!(
                "no entry {i}: the ledger has {size} entries"
            )));
        }
        EntryRef::Id(id) => find_entry(ledger, &id)?,
    };
    let bytes = entry_bytes(ledger, index)?;
    let leaf = leaf_hash(&bytes);
    let stored = ledger
        .log()
        .leaf_hash_at(index)
        .map_err(|e| CliError::new(format!("ledger: {e}")))?;
    if stored != leaf {
        return Err(CliError::new(format!(
            "entry {index} does not match its leaf hash in the tree: the store is corrupt \
             (run `talos ledger verify`)"
        )));
    }
    let proof = ledger
        .log()
        .inclusion_proof(index, size)
        .map_err(|e| CliError::new(format!("ledger: {e}")))?;
    let signed = sign_checkpoint(ctx, ledger)?;
    merkle::verify_inclusion(index, size, &leaf, &proof, &signed.checkpoint.root).map_err(|e| {
        CliError::new(format!(
            "the inclusion proof of entry {index} does not verify: {e}"
        ))
    })?;
    let entry = Entry::from_cbor(&bytes).ok();
    if ctx.json {
        let mut doc = Map::new();
        doc.insert("index".into(), num(index));
        doc.insert("size".into(), num(size));
        if let Some(e) = &entry {
            doc.insert("entry_id".into(), Value::from(to_hex(e.id())));
            doc.insert("kind".into(), Value::from(e.kind().as_str()));
        }
        doc.insert("leaf_hash".into(), Value::from(to_hex(&leaf)));
        doc.insert(
            "proof".into(),
            Value::Array(proof.iter().map(|h| Value::from(to_hex(h))).collect()),
        );
        doc.insert("root".into(), Value::from(to_hex(&signed.checkpoint.root)));
        doc.insert("checkpoint".into(), Value::Object(checkpoint_json(&signed)));
        doc.insert("verified".into(), Value::Bool(true));
        write_json(out, &Value::Object(doc))
    } else {
        use core::fmt::Write as _;
        let mut s = String::new();
        let described = entry.as_ref().map_or_else(String::new, |e| {
            format!(" ({}, id {})", e.kind(), to_hex(e.id()))
        });
        let _ = writeln!(s, "entry {index}{described} of {size}");
        let _ = writeln!(s, "leaf hash {}", to_hex(&leaf));
        let _ = writeln!(s, "inclusion proof, {} hashes, leaf to root:", proof.len());
        for h in &proof {
            let _ = writeln!(s, "  {}", to_hex(h));
        }
        let _ = writeln!(s, "root      {}", to_hex(&signed.checkpoint.root));
        let _ = writeln!(s, "verified against the signed checkpoint:");
        s.push_str(&note_text(&signed.note));
        write_out(out, s.as_bytes())
    }
}

// --- verify ---

/// What `verify` found.
#[derive(Debug, Default)]
struct Findings {
    problems: Vec<String>,
    count: usize,
}

impl Findings {
    fn add(&mut self, problem: String) {
        self.count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

/// Walks every entry: recomputes each leaf and each complete subtree hash and compares them
/// with the store; returns the recomputed root.
fn walk(ledger: &Ledger, findings: &mut Findings) -> Result<Hash, CliError> {
    let store = ledger.log().store();
    let store_err = |e: &dyn core::fmt::Display| CliError::new(format!("store: {e}"));
    let mut frontier = Frontier::new();
    // Roots of the complete subtrees so far, largest first, as (level, hash).
    let mut stack: Vec<(u8, Hash)> = Vec::new();
    for index in 0..ledger.size() {
        let leaf = match ledger.entry(index).map_err(|e| store_err(&e))? {
            Some(bytes) => {
                if let Err(e) = Entry::from_cbor(&bytes) {
                    findings.add(format!("entry {index} is not a valid ledger entry: {e}"));
                }
                leaf_hash(&bytes)
            }
            None => {
                findings.add(format!("entry {index} is missing"));
                // Go on with the stored leaf hash so the rest of the tree is still checked.
                store
                    .get(0, index)
                    .map_err(|e| store_err(&e))?
                    .unwrap_or([0; 32])
            }
        };
        frontier.push(leaf);
        let (mut level, mut i, mut hash) = (0u8, index, leaf);
        loop {
            match store.get(level, i).map_err(|e| store_err(&e))? {
                Some(stored) if stored == hash => {}
                Some(_) if level == 0 => {
                    findings.add(format!("entry {index} does not match its leaf hash"));
                }
                Some(_) => findings.add(format!(
                    "stored subtree hash at level {level} index {i} does not match the entries"
                )),
                None => findings.add(format!(
                    "stored subtree hash at level {level} index {i} is missing"
                )),
            }
            if i & 1 == 0 {
                break;
            }
            let Some((_, left)) = stack.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level = level.saturating_add(1);
            i >>= 1;
        }
        stack.push((level, hash));
    }
    if ledger
        .entry(ledger.size())
        .map_err(|e| store_err(&e))?
        .is_some()
    {
        findings.add(format!(
            "an entry is stored beyond the ledger's size ({})",
            ledger.size()
        ));
    }
    Ok(frontier.root())
}

fn verify(ctx: &Ctx<'_>, ledger: &Ledger, out: &mut dyn Write) -> Result<(), CliError> {
    let mut findings = Findings::default();
    let root = walk(ledger, &mut findings)?;
    if root != ledger.root() {
        findings.add(format!(
            "the log's root {} is not the root of its entries {}",
            to_hex(&ledger.root()),
            to_hex(&root)
        ));
    }
    let signed = match sign_checkpoint(ctx, ledger) {
        Ok(s) => Some(s),
        Err(e) => {
            findings.add(e.to_string());
            None
        }
    };
    if let Some(s) = &signed
        && s.checkpoint.root != root
    {
        findings.add("the checkpoint's root is not the root of the entries".to_owned());
    }
    if findings.count > 0 {
        if ctx.json {
            // The report for a program; the error (and the exit status) follow.
            let mut doc = Map::new();
            doc.insert("ok".into(), Value::Bool(false));
            doc.insert("size".into(), num(ledger.size()));
            doc.insert("problem_count".into(), num(findings.count as u64));
            doc.insert(
                "problems".into(),
                Value::Array(
                    findings
                        .problems
                        .iter()
                        .map(|p| Value::from(p.as_str()))
                        .collect(),
                ),
            );
            write_json(out, &Value::Object(doc))?;
        }
        let more = findings.count - findings.problems.len();
        let tail = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        return Err(CliError::new(format!(
            "ledger verification failed, {} problem(s): {}{tail}",
            findings.count,
            findings.problems.join("; ")
        )));
    }
    let Some(signed) = signed else {
        return Err(CliError::new("ledger verification failed: no checkpoint"));
    };
    if ctx.json {
        let mut doc = Map::new();
        doc.insert("ok".into(), Value::Bool(true));
        doc.insert("size".into(), num(ledger.size()));
        doc.insert("root".into(), Value::from(to_hex(&root)));
        doc.insert("checkpoint".into(), Value::Object(checkpoint_json(&signed)));
        write_json(out, &Value::Object(doc))
    } else {
        let text = format!(
            "ledger ok: {} entries, every entry and stored hash checked\nroot {}\n\
             checkpoint signed by {} and verified\n",
            ledger.size(),
            to_hex(&root),
            signed.checkpoint.origin
        );
        write_out(out, text.as_bytes())
    }
}

// --- export ---

/// One exported entry: its index, leaf hash and canonical JSON form (or, for bytes that do not
/// decode, the raw bytes in base64url and the error).
fn export_entry(index: u64, bytes: &[u8]) -> Value {
    let mut m = Map::new();
    m.insert("index".into(), num(index));
    m.insert("leaf_hash".into(), Value::from(to_hex(&leaf_hash(bytes))));
    match Entry::from_cbor(bytes).map(|e| json::parse(&e.to_json())) {
        Ok(Ok(v)) => {
            m.insert("entry".into(), v);
        }
        Ok(Err(e)) => {
            m.insert("raw".into(), Value::from(base64url::encode(bytes)));
            m.insert("error".into(), Value::from(e.to_string()));
        }
        Err(e) => {
            m.insert("raw".into(), Value::from(base64url::encode(bytes)));
            m.insert("error".into(), Value::from(e.to_string()));
        }
    }
    Value::Object(m)
}

fn export(
    ctx: &Ctx<'_>,
    ledger: &Ledger,
    file: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let Some(path) = file else {
        return write_export(ctx, ledger, out);
    };
    let cannot =
        |e: &std::io::Error| CliError::new(format!("cannot write {}: {e}", path.display()));
    let mut writer = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| cannot(&e))?);
    write_export(ctx, ledger, &mut writer)?;
    writer
        .into_inner()
        .map_err(|e| cannot(e.error()))?
        .sync_all()
        .map_err(|e| cannot(&e))?;
    let size = ledger.size();
    if ctx.json {
        let mut doc = Map::new();
        doc.insert("file".into(), Value::from(path.display().to_string()));
        doc.insert("entries".into(), num(size));
        write_json(out, &Value::Object(doc))
    } else {
        write_out(
            out,
            format!("exported {size} entries to {}\n", path.display()).as_bytes(),
        )
    }
}

/// Streams the export to `w`, one entry at a time: JSON lines, or (`--json`) one canonical
/// JSON document `{"entries": [...], "note", "origin", "root", "size", "vkey"}`.
fn write_export(ctx: &Ctx<'_>, ledger: &Ledger, w: &mut dyn Write) -> Result<(), CliError> {
    let put = |w: &mut dyn Write, bytes: &[u8]| {
        w.write_all(bytes)
            .map_err(|e| CliError::new(format!("cannot write the export: {e}")))
    };
    let mut line = Vec::new();
    if ctx.json {
        let signed = sign_checkpoint(ctx, ledger)?;
        // "entries" sorts before every other member, so this is the canonical form.
        let rest = Value::Object(checkpoint_json(&signed)).to_canonical_vec();
        put(w, br#"{"entries":["#)?;
        for index in 0..ledger.size() {
            line.clear();
            if index > 0 {
                line.push(b',');
            }
            export_entry(index, &entry_bytes(ledger, index)?).write_canonical(&mut line);
            put(w, &line)?;
        }
        put(w, b"],")?;
        put(w, rest.get(1..).unwrap_or_default())?;
        put(w, b"\n")?;
    } else {
        for index in 0..ledger.size() {
            line.clear();
            export_entry(index, &entry_bytes(ledger, index)?).write_canonical(&mut line);
            line.push(b'\n');
            put(w, &line)?;
        }
    }
    w.flush()
        .map_err(|e| CliError::new(format!("cannot write the export: {e}")))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use talos_crypto::hash::{from_hex, to_hex};
    use talos_crypto::json::{self, Value};
    use talos_crypto::{SigningKey, Timestamp};
    use talos_did::Did;
    use talos_ledger::checkpoint::Checkpoint;
    use talos_ledger::entry::{Body, Decision, Entry, ToolCall};
    use talos_ledger::merkle::{leaf_hash, node_hash, verify_inclusion};
    use talos_ledger::note::NoteVerifier;
    use talos_node::store::{DB_FILE, Store};

    use super::{Ctx, EntryRef, LedgerCommand, origin, parse_entry_ref, run};

    const NOW: u64 = 1_767_225_600;

    #[derive(Parser)]
    struct TestCli {
        #[command(subcommand)]
        cmd: LedgerCommand,
    }

    struct Env {
        dir: tempfile::TempDir,
        store: Option<Store>,
        key: SigningKey,
    }

    impl Env {
        /// A store whose ledger holds `n` tool-call entries (ids `[i; 16]`).
        fn with_entries(n: u8) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("data")).unwrap();
            let key = SigningKey::from_seed(&[1; 32]);
            let did = Did::from(key.verifying_key()).to_string();
            let mut ledger = store.ledger().unwrap();
            for i in 0..n {
                let entry = entry(&did, i);
                assert_eq!(ledger.append_entry(&entry.to_cbor()).unwrap(), u64::from(i));
            }
            drop(ledger);
            Self {
                dir,
                store: Some(store),
                key,
            }
        }

        fn did(&self) -> String {
            Did::from(self.key.verifying_key()).to_string()
        }

        fn run_mode(&self, json: bool, args: &[&str]) -> Result<String, String> {
            let cli =
                TestCli::try_parse_from(core::iter::once("ledger").chain(args.iter().copied()))
                    .map_err(|e| format!("usage: {e}"))?;
            let ctx = Ctx {
                key: &self.key,
                store: self.store.as_ref().unwrap(),
                json,
                now: Timestamp::from_secs(NOW).unwrap(),
            };
            let mut out = Vec::new();
            run(cli.cmd, &ctx, &mut out).map_err(|e| e.to_string())?;
            Ok(String::from_utf8(out).unwrap())
        }

        fn run(&self, args: &[&str]) -> Result<String, String> {
            self.run_mode(false, args)
        }

        fn run_json(&self, args: &[&str]) -> Result<Value, String> {
            let text = self.run_mode(true, args)?;
            Ok(json::parse(text.as_bytes()).unwrap())
        }

        /// Closes the store, changes its database directly, and opens it again.
        fn tamper(&mut self, f: impl FnOnce(&redb::WriteTransaction)) {
            drop(self.store.take());
            let path = self.dir.path().join("data").join(DB_FILE);
            {
                let db = redb::Database::create(&path).unwrap();
                let txn = db.begin_write().unwrap();
                f(&txn);
                txn.commit().unwrap();
            }
            self.store = Some(Store::open(&self.dir.path().join("data")).unwrap());
        }
    }

    fn entry(did: &str, i: u8) -> Entry {
        let call =
            ToolCall::new("search", [i; 32], Some([7; 32]), Decision::Allow, "ok", 5).unwrap();
        Entry::new(
            [i; 16],
            did,
            u64::from(i),
            Timestamp::from_secs(NOW + u64::from(i)).unwrap(),
            Body::ToolCall(call),
        )
        .unwrap()
    }

    const ENTRIES: redb::TableDefinition<'_, u64, &[u8]> =
        redb::TableDefinition::new("ledger_entries");
    const HASHES: redb::TableDefinition<'_, (u8, u64), [u8; 32]> =
        redb::TableDefinition::new("ledger_hashes");

    fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
        v.get(key).and_then(Value::as_str).unwrap()
    }

    #[test]
    fn checkpoint_is_a_signed_note_of_the_ledger() {
        let env = Env::with_entries(5);
        let note = env.run(&["checkpoint"]).unwrap();
        let verifier = NoteVerifier::new(&origin(&env.did()), env.key.verifying_key()).unwrap();
        let (checkpoint, _) =
            Checkpoint::open(note.as_bytes(), core::slice::from_ref(&verifier)).unwrap();
        assert_eq!(checkpoint.origin, origin(&env.did()));
        assert_eq!(checkpoint.size, 5);
        let ledger = env.store.as_ref().unwrap().ledger().unwrap();
        assert_eq!(checkpoint.root, ledger.root());

        let doc = env.run_json(&["checkpoint"]).unwrap();
        assert_eq!(str_of(&doc, "note"), note);
        assert_eq!(str_of(&doc, "vkey"), verifier.to_vkey());
        assert_eq!(str_of(&doc, "root"), to_hex(&ledger.root()));

        let empty = Env::with_entries(0);
        let note = empty.run(&["checkpoint"]).unwrap();
        assert!(
            note.contains("\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"),
            "{note}"
        );
        empty.run(&["verify"]).unwrap();
        assert!(
            empty
                .run(&["prove", "0"])
                .unwrap_err()
                .contains("no entry 0")
        );
    }

    #[test]
    fn every_entry_has_a_verified_inclusion_proof() {
        let env = Env::with_entries(7);
        let did = env.did();
        for i in 0..7u8 {
            let by_index = env.run_json(&["prove", &i.to_string()]).unwrap();
            assert_eq!(by_index.get("verified"), Some(&Value::Bool(true)));
            // Check the proof independently against the signed checkpoint's root.
            let leaf = leaf_hash(&entry(&did, i).to_cbor());
            assert_eq!(str_of(&by_index, "leaf_hash"), to_hex(&leaf));
            let Some(Value::Array(proof)) = by_index.get("proof") else {
                panic!("no proof")
            };
            let proof: Vec<[u8; 32]> = proof
                .iter()
                .map(|h| from_hex(h.as_str().unwrap()).unwrap())
                .collect();
            let note = str_of(by_index.get("checkpoint").unwrap(), "note");
            let verifier = NoteVerifier::new(&origin(&did), env.key.verifying_key()).unwrap();
            let (checkpoint, _) = Checkpoint::open(note.as_bytes(), &[verifier]).unwrap();
            verify_inclusion(u64::from(i), 7, &leaf, &proof, &checkpoint.root).unwrap();

            // The same entry by its id, in hex and in UUID form.
            let hex = to_hex(&[i; 16]);
            let by_id = env.run_json(&["prove", &hex]).unwrap();
            assert_eq!(by_id.get("index"), by_index.get("index"));
            let uuid = format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            );
            let text = env.run(&["prove", &uuid]).unwrap();
            assert!(
                text.starts_with(&format!("entry {i} (tool_call, id {hex}) of 7")),
                "{text}"
            );
        }
        assert!(env.run(&["prove", "7"]).unwrap_err().contains("no entry 7"));
        assert!(
            env.run(&["prove", &to_hex(&[9; 16])])
                .unwrap_err()
                .contains("no entry with id")
        );
        for bad in ["", "x", "0x01", "1.5", &to_hex(&[1; 15])] {
            assert!(
                env.run(&["prove", bad])
                    .unwrap_err()
                    .contains("invalid entry id"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn entry_refs() {
        assert_eq!(parse_entry_ref("0").unwrap(), EntryRef::Index(0));
        assert_eq!(
            parse_entry_ref("18446744073709551615").unwrap(),
            EntryRef::Index(u64::MAX)
        );
        let hex = "0123456789abcdef0123456789ABCDEF";
        let id = parse_entry_ref(hex).unwrap();
        assert_eq!(
            id,
            parse_entry_ref("01234567-89ab-cdef-0123-456789abcdef").unwrap()
        );
        assert!(parse_entry_ref("0123456789-abcdef0123456789abcdef").is_err());
        assert!(parse_entry_ref("18446744073709551616").is_err());
    }

    #[test]
    fn verify_passes_then_fails_after_corruption() {
        let mut env = Env::with_entries(6);
        let text = env.run(&["verify"]).unwrap();
        assert!(text.starts_with("ledger ok: 6 entries"), "{text}");
        let doc = env.run_json(&["verify"]).unwrap();
        assert_eq!(doc.get("ok"), Some(&Value::Bool(true)));

        // Replace entry 2 with another well-formed entry: its leaf no longer matches.
        let other = entry(&env.did(), 99).to_cbor();
        env.tamper(|txn| {
            txn.open_table(ENTRIES)
                .unwrap()
                .insert(2, other.as_slice())
                .unwrap();
        });
        let err = env.run(&["verify"]).unwrap_err();
        assert!(
            err.contains("entry 2 does not match its leaf hash"),
            "{err}"
        );
        let err = env.run(&["prove", "2"]).unwrap_err();
        assert!(err.contains("corrupt"), "{err}");
        env.run(&["prove", "3"]).unwrap();

        // Bytes that are not an entry at all.
        env.tamper(|txn| {
            txn.open_table(ENTRIES)
                .unwrap()
                .insert(2, &b"junk"[..])
                .unwrap();
        });
        let err = env.run(&["verify"]).unwrap_err();
        assert!(err.contains("entry 2 is not a valid ledger entry"), "{err}");
        let lines = env.run(&["export"]).unwrap();
        assert!(lines.lines().nth(2).unwrap().contains("\"raw\""), "{lines}");

        // Restore the entry, then corrupt an interior hash instead.
        let good = entry(&env.did(), 2).to_cbor();
        env.tamper(|txn| {
            txn.open_table(ENTRIES)
                .unwrap()
                .insert(2, good.as_slice())
                .unwrap();
        });
        env.run(&["verify"]).unwrap();
        env.tamper(|txn| {
            txn.open_table(HASHES)
                .unwrap()
                .insert((1, 0), [0; 32])
                .unwrap();
        });
        let err = env.run(&["verify"]).unwrap_err();
        assert!(err.contains("level 1 index 0 does not match"), "{err}");

        // Repair the hash, then remove an entry.
        let did = env.did();
        let left = leaf_hash(&entry(&did, 0).to_cbor());
        let right = leaf_hash(&entry(&did, 1).to_cbor());
        env.tamper(|txn| {
            let repaired = node_hash(&left, &right);
            txn.open_table(HASHES)
                .unwrap()
                .insert((1, 0), repaired)
                .unwrap();
            txn.open_table(ENTRIES).unwrap().remove(4).unwrap();
        });
        let err = env.run(&["verify"]).unwrap_err();
        assert!(
            err.contains("entry 4 is missing") && err.contains(" 1 problem"),
            "{err}"
        );
        assert!(env.run(&["prove", "4"]).unwrap_err().contains("missing"));
    }

    #[test]
    fn export_lists_every_entry() {
        let env = Env::with_entries(4);
        let lines = env.run(&["export"]).unwrap();
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(lines.len(), 4);
        for (i, line) in lines.iter().enumerate() {
            let v = json::parse(line.as_bytes()).unwrap();
            let e = Entry::from_json(&v.get("entry").unwrap().to_canonical_vec()).unwrap();
            assert_eq!(e, entry(&env.did(), u8::try_from(i).unwrap()));
            assert_eq!(str_of(&v, "leaf_hash"), to_hex(&leaf_hash(&e.to_cbor())));
        }
        let text = env.run_mode(true, &["export"]).unwrap();
        assert_eq!(
            json::canonicalize(text.trim_end().as_bytes()).unwrap(),
            text.trim_end().as_bytes()
        );
        let doc = json::parse(text.as_bytes()).unwrap();
        let Some(Value::Array(entries)) = doc.get("entries") else {
            panic!("no entries")
        };
        assert_eq!(entries.len(), 4);
        assert!(str_of(&doc, "note").starts_with(&origin(&env.did())));

        let file = env.dir.path().join("audit.jsonl");
        let said = env
            .run(&["export", "--out", file.to_str().unwrap()])
            .unwrap();
        assert!(said.contains("exported 4 entries"), "{said}");
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 4);
        let said = env
            .run_json(&["export", "--out", file.to_str().unwrap()])
            .unwrap();
        assert_eq!(said.get("entries"), doc.get("size"));
        let written = json::parse(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(written, doc);

        let empty = Env::with_entries(0);
        assert_eq!(empty.run(&["export"]).unwrap(), "");
        let doc = empty.run_json(&["export"]).unwrap();
        assert_eq!(doc.get("entries"), Some(&Value::Array(Vec::new())));
    }
}
