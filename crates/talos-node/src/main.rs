//! `talos`: the Talos command-line tool (skeleton: it prints its version).

fn main() -> std::process::ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        Some("--version" | "-V") | None => {
            println!("talos {}", env!("CARGO_PKG_VERSION"));
            std::process::ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("talos: unknown command {other:?}: the node is not implemented yet");
            std::process::ExitCode::from(2)
        }
    }
}
