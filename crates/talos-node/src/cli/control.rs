//! The control socket: a `talos` command run on a data directory that a running node holds
//! (`talos listen`, `talos mcp-serve`) asks that node to run it, instead of failing on the
//! directory's lock.
//!
//! The running node listens on `<data dir>/control.sock` (a Unix socket, mode 0600: whoever
//! may use it may read the data directory anyway). A client writes one request — its command
//! line, as a JSON array of strings, on one line — and reads one response, a JSON object
//! `{"code": N, "stdout": "...", "stderr": "..."}`; then the connection closes. Requests are at
//! most [`MAX_REQUEST`] bytes and must arrive within [`REQUEST_TIMEOUT`]. The node runs the
//! commands that read or change its state: `id`, `peers`, `status`, `history`, `cap`,
//! `ledger` and `send`.

use core::convert::Infallible;
use core::time::Duration;
use std::path::{Path, PathBuf};

use talos_crypto::json::{self, Map, Value};
use talos_node::node::Node;

use super::CliError;

/// The socket's file name in the data directory.
pub(crate) const SOCKET: &str = "control.sock";

/// The largest request accepted.
pub(crate) const MAX_REQUEST: usize = 64 * 1024;

/// How long a client may take to send its request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket of the node running on `dir`.
pub(crate) fn socket(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// Asks the node running on `dir` to run this process's command line; prints what it
/// printed and returns its exit status.
#[cfg(unix)]
pub(crate) async fn forward(dir: &Path, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let path = socket(dir);
    let mut stream = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
        CliError::new(format!(
            "{} is in use by a running talos node, and its control socket {} does not answer \
             ({e})",
            dir.display(),
            path.display()
        ))
    })?;
    let argv: Vec<Value> = std::env::args().skip(1).map(Value::from).collect();
    let mut request = Value::Array(argv).to_canonical_vec();
    request.push(b'\n');
    stream.write_all(&request).await?;
    stream.shutdown().await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = json::parse(&response)
        .map_err(|e| CliError::new(format!("the running node's answer is not JSON: {e}")))?;
    let text = |name: &str| {
        response
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    out.write_all(text("stdout").as_bytes())?;
    let code = match response.get("code") {
        Some(Value::Number(n)) => n.as_u64().and_then(|c| u8::try_from(c).ok()).unwrap_or(1),
        _ => 1,
    };
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::with_code(
            text("stderr").trim_end().to_owned(),
            code,
        ))
    }
}

/// Without Unix sockets there is no control socket.
#[cfg(not(unix))]
pub(crate) async fn forward(dir: &Path, _out: &mut dyn std::io::Write) -> Result<(), CliError> {
    Err(CliError::new(format!(
        "{} is in use by a running talos node; stop it first",
        dir.display()
    )))
}

/// Serves the control socket of `node` on `dir` until the future is dropped; requests are
/// answered one at a time.
#[cfg(unix)]
pub(crate) async fn serve(node: &Node, dir: &Path) -> Result<Infallible, CliError> {
    use std::os::unix::fs::PermissionsExt as _;

    let path = socket(dir);
    // A socket left by a node that was killed: the directory lock proves nobody serves it.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", path.display())))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let _remove = RemoveOnDrop(path);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if let Err(error) = answer(node, dir, stream).await {
            tracing::debug!(%error, "control request failed");
        }
    }
}

/// Without Unix sockets there is no control socket: nothing to serve.
#[cfg(not(unix))]
pub(crate) async fn serve(_node: &Node, _dir: &Path) -> Result<Infallible, CliError> {
    core::future::pending().await
}

#[cfg(unix)]
struct RemoveOnDrop(PathBuf);

#[cfg(unix)]
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(unix)]
async fn answer(
    node: &Node,
    dir: &Path,
    mut stream: tokio::net::UnixStream,
) -> std::io::Result<()> {
    use clap::Parser as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut request = Vec::new();
    let read = tokio::time::timeout(
        REQUEST_TIMEOUT,
        (&mut stream)
            .take(MAX_REQUEST as u64 + 1)
            .read_to_end(&mut request),
    )
    .await;
    let mut stdout = Vec::new();
    let result = match read {
        Err(_) => Err(CliError::new("control request not received in time")),
        Ok(Err(e)) => Err(CliError::new(format!("control request: {e}"))),
        Ok(Ok(_)) if request.len() > MAX_REQUEST => Err(CliError::new("control request too large")),
        Ok(Ok(_)) => match argv(&request) {
            Some(args) => {
                match super::Cli::try_parse_from(core::iter::once("talos".to_owned()).chain(args)) {
                    Ok(cli) => super::on_node(cli, node, dir, &mut stdout).await,
                    Err(e) => Err(CliError::new(e.to_string())),
                }
            }
            None => Err(CliError::new(
                "a control request is a JSON array of strings",
            )),
        },
    };
    let mut response = Map::new();
    let (code, stderr) = match result {
        Ok(()) => (0, String::new()),
        Err(error) => (error.code, error.message),
    };
    response.insert(
        "code".into(),
        Value::Number(json::Number::from(u32::from(code))),
    );
    response.insert(
        "stdout".into(),
        Value::from(String::from_utf8_lossy(&stdout).into_owned()),
    );
    response.insert("stderr".into(), Value::from(stderr));
    stream
        .write_all(&Value::Object(response).to_canonical_vec())
        .await?;
    stream.shutdown().await
}

/// The command line in a request.
fn argv(request: &[u8]) -> Option<Vec<String>> {
    match json::parse(request.strip_suffix(b"\n").unwrap_or(request)).ok()? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}
