//! Operations endpoints: `GET /health/live`, `GET /health/ready` and Prometheus
//! `GET /metrics`, served over plain HTTP/1.1 (`talos listen --metrics ADDR`).
//!
//! [`Metrics`] is a set of counters and gauges that the node updates as it works; [`serve`]
//! answers requests from them. The server reads at most [`MAX_REQUEST_HEAD`] bytes of a
//! request within [`REQUEST_TIMEOUT`], answers, and closes the connection; it never reads a
//! body. Nothing secret is exported: counts only.
//!
//! ```
//! use talos_node::metrics::Metrics;
//!
//! let metrics = Metrics::default();
//! metrics.messages_sent.inc();
//! assert!(metrics.render().contains("talos_messages_sent_total 1\n"));
//! ```

use core::fmt::Write as _;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most bytes of a request read before it is refused.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A count that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The value.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One metric: name, type, help, and its samples (labels, value).
type Family<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, u64)]);

/// What a node exports. Every field is updated by the node; [`render`](Self::render) writes
/// them in the Prometheus text format.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Ready: listening, and the discovery record published.
    pub ready: AtomicBool,
    /// Messages sent and acknowledged by a signed receipt.
    pub messages_sent: Counter,
    /// Messages received (duplicates not counted).
    pub messages_received: Counter,
    /// Messages waiting in the persistent queue for an offline peer.
    pub queued: Gauge,
    /// Peers connected now.
    pub peers: Gauge,
    /// Files received whole, their hash checked.
    pub files_received: Counter,
    /// MCP calls allowed and forwarded.
    pub mcp_allowed: Counter,
    /// MCP calls denied.
    pub mcp_denied: Counter,
    /// Entries in the audit ledger.
    pub ledger_entries: Gauge,
    /// Inputs refused: forged, replayed, malformed or over a limit.
    pub refused: Counter,
}

impl Metrics {
    /// The metrics in the Prometheus text exposition format (version 0.0.4).
    #[must_use]
    pub fn render(&self) -> String {
        let ready = u64::from(self.ready.load(Ordering::Relaxed));
        let families: [Family<'_>; 9] = [
            (
                "talos_ready",
                "gauge",
                "1 when the node listens and its discovery record is published.",
                &[("", ready)],
            ),
            (
                "talos_messages_sent_total",
                "counter",
                "Messages sent and acknowledged by a signed receipt.",
                &[("", self.messages_sent.get())],
            ),
            (
                "talos_messages_received_total",
                "counter",
                "Messages received, duplicates not counted.",
                &[("", self.messages_received.get())],
            ),
            (
                "talos_queued_messages",
                "gauge",
                "Messages queued for offline peers.",
                &[("", self.queued.get())],
            ),
            (
                "talos_peers_connected",
                "gauge",
                "Peers connected now.",
                &[("", self.peers.get())],
            ),
            (
                "talos_files_received_total",
                "counter",
                "Files received whole with a matching hash.",
                &[("", self.files_received.get())],
            ),
            (
                "talos_mcp_calls_total",
                "counter",
                "MCP calls decided by the tunnel.",
                &[
                    ("{decision=\"allow\"}", self.mcp_allowed.get()),
                    ("{decision=\"deny\"}", self.mcp_denied.get()),
                ],
            ),
            (
                "talos_ledger_entries",
                "gauge",
                "Entries in the audit ledger.",
                &[("", self.ledger_entries.get())],
            ),
            (
                "talos_refused_total",
                "counter",
                "Inputs refused: forged, replayed, malformed or over a limit.",
                &[("", self.refused.get())],
            ),
        ];
        let mut out = String::with_capacity(1536);
        for (name, kind, help, samples) in families {
            // Writing to a String cannot fail.
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

/// Serves the endpoints on `listener` until the task is dropped; one task per connection.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &metrics)).await;
        });
    }
}

/// Binds `addr` and serves on it in a new task; returns the bound address (for port 0).
///
/// # Errors
/// When `addr` cannot be bound.
pub async fn spawn(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, metrics));
    Ok(bound)
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, path, version) = (words.next(), words.next(), words.next());
    if !version.is_some_and(|v| v.starts_with(b"HTTP/1.")) || words.next().is_some() {
        return respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
        )
        .await;
    }
    let get = method == Some(b"GET".as_slice());
    match path {
        Some(b"/health/live") if get => {
            respond(&mut stream, "200 OK", "text/plain", "live\n").await
        }
        Some(b"/health/ready") if get => {
            if metrics.ready.load(Ordering::Relaxed) {
                respond(&mut stream, "200 OK", "text/plain", "ready\n").await
            } else {
                respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "not ready\n",
                )
                .await
            }
        }
        Some(b"/metrics") if get => {
            let body = metrics.render();
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
            .await
        }
        Some(b"/health/live" | b"/health/ready" | b"/metrics") => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n",
            )
            .await
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    async fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn endpoints() {
        tokio::time::timeout(Duration::from_secs(20), async {
            let metrics = Arc::new(Metrics::default());
            let addr = spawn("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics))
                .await
                .unwrap();
            let live = get(addr, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert!(live.starts_with("HTTP/1.1 200 OK\r\n"), "{live}");
            let ready = get(addr, b"GET /health/ready HTTP/1.1\r\n\r\n").await;
            assert!(ready.starts_with("HTTP/1.1 503 "), "{ready}");
            metrics.ready.store(true, Ordering::Relaxed);
            let ready = get(addr, b"GET /health/ready HTTP/1.0\r\n\r\n").await;
            assert!(ready.starts_with("HTTP/1.1 200 OK\r\n"), "{ready}");

            metrics.messages_sent.add(3);
            metrics.mcp_denied.inc();
            metrics.peers.set(2);
            let scrape = get(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
            let (head, body) = scrape.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("Content-Length: "), "{head}");
            assert!(body.contains("\ntalos_messages_sent_total 3\n"), "{body}");
            assert!(
                body.contains("\ntalos_mcp_calls_total{decision=\"deny\"} 1\n"),
                "{body}"
            );
            assert!(body.contains("\ntalos_peers_connected 2\n"), "{body}");
            assert!(body.contains("\ntalos_ready 1\n"), "{body}");
            // Each metric name has one TYPE line.
            assert_eq!(body.matches("# TYPE talos_mcp_calls_total ").count(), 1);

            let missing = get(addr, b"GET /nope HTTP/1.1\r\n\r\n").await;
            assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
            let post = get(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await;
            assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
            let garbage = get(addr, b"\x00\x01 garbage\r\n\r\n").await;
            assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
            let mut huge = b"GET /metrics HTTP/1.1\r\n".to_vec();
            huge.extend(core::iter::repeat_n(b'a', MAX_REQUEST_HEAD + 10));
            let huge = get(addr, &huge).await;
            assert!(huge.starts_with("HTTP/1.1 431 "), "{huge}");
        })
        .await
        .unwrap();
    }
}
