//! `talos-conformance`: generate and run Talos golden vectors, run upstream vectors, and
//! canonicalise JSON.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use talos_conformance::{capability, golden, merkle, report::Report, upstream};

#[derive(Parser)]
#[command(name = "talos-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rewrite every golden vector file, deterministically, from fixed seeds.
    Generate {
        /// Directory to write into.
        #[arg(long, default_value = "test-vectors")]
        out: PathBuf,
    },
    /// Run golden vectors through the library crates.
    Vectors {
        /// Directory of vector files.
        #[arg(default_value = "test-vectors")]
        dir: PathBuf,
    },
    /// Run a directory laid out like upstream talos-contracts `test_vectors/`.
    TalosContracts {
        /// The `test_vectors` directory.
        dir: PathBuf,
    },
    /// Read one JSON document on stdin and print its RFC 8785 canonical form.
    Jcs,
    /// Print the did:key of the Ed25519 key of a 32-byte seed (64 hex digits).
    DidKey {
        /// The seed, hex.
        seed_hex: String,
    },
    /// Print the DID document of a did:key or did:peer (0 or 2), as canonical JSON.
    DidDoc {
        /// The DID.
        did: String,
        /// Key style for did:key and did:peer:0: Multikey, Ed25519VerificationKey2018 or
        /// JsonWebKey2020.
        #[arg(long, default_value = "Multikey")]
        style: String,
    },
    /// Replay a talos-v1.1 Double Ratchet trace (the format of upstream v1_1_0_roundtrip.json)
    /// through talos-ratchet, or with --generate write one that talos-ratchet produced.
    RatchetTrace {
        /// The trace to replay.
        #[arg(required_unless_present = "generate", conflicts_with = "generate")]
        file: Option<PathBuf>,
        /// Write a generated trace to this file instead.
        #[arg(long, value_name = "OUT", requires_all = ["seed", "messages"])]
        generate: Option<PathBuf>,
        /// Seed of the ChaCha20 RNG behind keys, nonces, plaintexts and schedule.
        #[arg(long, requires = "generate")]
        seed: Option<u64>,
        /// Number of messages Alice and Bob send between them.
        #[arg(long, requires = "generate")]
        messages: Option<usize>,
    },
    /// Run a transparency-dev Merkle `testdata` directory (inclusion and consistency probes).
    Merkle {
        /// The `testdata` directory.
        dir: PathBuf,
    },
    /// Leaf data as hex, one per line on stdin: print the RFC 9162 root (hex).
    MerkleRoot,
    /// Leaf data as hex on stdin: print the inclusion proof of INDEX in the tree of SIZE
    /// leaves, one hash (hex) per line.
    MerkleInclusion {
        /// Tree size.
        size: u64,
        /// Leaf index (0-based).
        index: u64,
    },
    /// Leaf data as hex on stdin: print the consistency proof from SIZE1 to SIZE2, one hash
    /// (hex) per line.
    MerkleConsistency {
        /// Older tree size.
        size1: u64,
        /// Newer tree size.
        size2: u64,
    },
    /// Sign the note text on stdin (ending in a newline) with a Go `note` private key; print
    /// the signed note.
    NoteSign {
        /// `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`.
        #[arg(long)]
        key: String,
    },
    /// JSON lines `{"seed_hex", "sub", "scope", "iat", "exp"}` on stdin: print a capability
    /// token (talos-acl) for each, issued by the seed's did:key, one canonical JSON per line.
    CapabilityIssue,
    /// JSON lines `{"token", "now"}` on stdin: print `valid <capability_hash>` or
    /// `invalid <CODE>` for each (issuer key from the token's did:key, `now` in seconds).
    CapabilityVerify,
    /// Verify the signed note on stdin with a Go `note` verifier key: print its text and exit
    /// 0, or print the reason and exit 1.
    NoteVerify {
        /// `<name>+<hex id>+<base64(0x01 ‖ public key)>`.
        #[arg(long)]
        vkey: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Generate { out } => match golden::generate(&out) {
            Ok(paths) => {
                for path in paths {
                    println!("wrote {}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("talos-conformance: generate failed: {e}");
                ExitCode::from(2)
            }
        },
        Command::Vectors { dir } => finish(golden::run(&dir), &dir),
        Command::TalosContracts { dir } => finish(upstream::run(&dir), &dir),
        Command::Jcs => jcs(),
        Command::DidKey { seed_hex } => did_key(&seed_hex),
        Command::DidDoc { did, style } => did_doc(&did, &style),
        Command::RatchetTrace {
            file,
            generate,
            seed,
            messages,
        } => ratchet_trace(file.as_deref(), generate.as_deref(), seed, messages),
        Command::Merkle { dir } => finish(merkle::run(&dir), &dir),
        Command::MerkleRoot => stdin_command(|input| merkle::root(input).map(|r| r + "\n")),
        Command::MerkleInclusion { size, index } => {
            stdin_command(|input| merkle::inclusion(input, size, index))
        }
        Command::MerkleConsistency { size1, size2 } => {
            stdin_command(|input| merkle::consistency(input, size1, size2))
        }
        Command::NoteSign { key } => stdin_command(|input| merkle::note_sign(input, &key)),
        Command::NoteVerify { vkey } => note_verify(&vkey),
        Command::CapabilityIssue => stdin_command(capability::issue),
        Command::CapabilityVerify => stdin_command(capability::verify),
    }
}

/// Exit 0 and the text for a verified note, 1 and the reason for a rejected one, 2 if stdin
/// cannot be read.
fn note_verify(vkey: &str) -> ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        return refuse(&format!("cannot read stdin: {e}"));
    }
    match merkle::note_verify(&input, vkey) {
        Ok(text) => print(text.as_bytes()),
        Err(e) => {
            eprintln!("talos-conformance: note-verify: {e}");
            ExitCode::from(1)
        }
    }
}

/// Reads stdin as UTF-8, runs `f` and prints its output exactly; an error exits with code 2.
fn stdin_command(f: impl FnOnce(&str) -> Result<String, String>) -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        return refuse(&format!("cannot read stdin: {e}"));
    }
    match f(&input) {
        Ok(out) => print(out.as_bytes()),
        Err(e) => refuse(&e),
    }
}

/// Exit 0 on success, 1 on a mismatch, 2 on a malformed trace or an I/O error.
fn ratchet_trace(
    file: Option<&std::path::Path>,
    out: Option<&std::path::Path>,
    seed: Option<u64>,
    messages: Option<usize>,
) -> ExitCode {
    use talos_conformance::trace::{self, TraceError};
    let result = match (file, out, seed, messages) {
        (_, Some(out), Some(seed), Some(messages)) => trace::generate_file(out, seed, messages)
            .map(|summary| format!("wrote {}: {summary}", out.display())),
        (Some(file), ..) => {
            trace::replay_file(file).map(|summary| format!("{}: pass, {summary}", file.display()))
        }
        _ => return refuse("give a trace FILE, or --generate OUT --seed N --messages M"),
    };
    match result {
        Ok(line) => print_line(format!("ratchet-trace: {line}").as_bytes()),
        Err(e @ TraceError::Mismatch(_)) => {
            eprintln!("talos-conformance: ratchet-trace: {e}");
            ExitCode::from(1)
        }
        Err(e) => refuse(&format!("ratchet-trace: {e}")),
    }
}

/// Writes `bytes` to stdout exactly, or fails with exit code 2.
fn print(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// `text` and a newline.
fn print_line(text: &[u8]) -> ExitCode {
    print(&[text, b"\n"].concat())
}

/// One line on stderr, exit code 2.
fn refuse(message: &str) -> ExitCode {
    eprintln!("talos-conformance: {message}");
    ExitCode::from(2)
}

fn did_key(seed_hex: &str) -> ExitCode {
    let seed = match hex::decode(seed_hex) {
        Ok(seed) => seed,
        Err(e) => return refuse(&format!("seed is not hex: {e}")),
    };
    match talos_crypto::SigningKey::from_seed_slice(&seed) {
        Ok(key) => print_line(
            talos_did::Did::from(key.verifying_key())
                .to_string()
                .as_bytes(),
        ),
        Err(e) => refuse(&e.to_string()),
    }
}

fn did_doc(did: &str, style: &str) -> ExitCode {
    let Some(style) = talos_did::Style::from_name(style) else {
        return refuse(&format!("unknown style {style:?}"));
    };
    match did.parse::<talos_did::Did>() {
        Ok(did) => print_line(&talos_did::Document::resolve_with(&did, style).to_json()),
        Err(e) => refuse(&e.to_string()),
    }
}

fn finish(report: std::io::Result<Report>, dir: &std::path::Path) -> ExitCode {
    match report {
        Ok(report) => {
            println!("{report}");
            if report.failed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("talos-conformance: cannot read {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}

fn jcs() -> ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        return refuse(&format!("cannot read stdin: {e}"));
    }
    match talos_crypto::json::canonicalize(&input) {
        Ok(canonical) => print(&canonical),
        Err(e) => refuse(&e.to_string()),
    }
}
