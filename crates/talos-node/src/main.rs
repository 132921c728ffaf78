//! `talos`: the Talos command-line tool (see `talos --help`).

// The layout the project chose: `src/cli/mod.rs` with its subcommands beside it.
#[allow(clippy::mod_module_files)]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
