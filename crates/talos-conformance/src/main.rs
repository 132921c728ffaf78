//! `talos-conformance`: generate and run Talos golden vectors, run upstream vectors, and
//! canonicalise JSON.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use talos_conformance::{golden, report::Report, upstream};

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
        eprintln!("talos-conformance: cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    match talos_crypto::json::canonicalize(&input) {
        Ok(canonical) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(&canonical)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
