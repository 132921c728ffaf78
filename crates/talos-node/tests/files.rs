#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! File transfer between two nodes on loopback: a 100 MB file with the receiver shut down and
//! restarted on the same data directory (and port) at about 30 % of the chunks, completing with
//! the source's size and BLAKE3 hash; small files (empty, one chunk); and the receiving side's
//! checks (a chunk with a wrong hash is refused, a rebuilt receiver resumes).

use core::time::Duration;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use libp2p::Multiaddr;
use talos_node::files::{FileError, Inbox, Received};
use talos_node::identity::Protection;
use talos_node::node::{MessageId, Node, NodeBuilder, NodeConfig, NodeEvent, init_identity};
use talos_node::store::Store;
use talos_wire::chunk::chunk_all;
use tokio::sync::broadcast;

/// The big file: 100 MB.
const SIZE: u64 = 100 * 1000 * 1000;
/// The big test's bound.
const LIMIT: Duration = Duration::from_secs(240);

fn config() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.send_timeout = Duration::from_secs(60);
    config.retry_base = Duration::from_millis(200);
    config.retry_max = Duration::from_secs(1);
    config.retry_tick = Duration::from_millis(200);
    config
        .network
        .set_request_timeout(Duration::from_secs(10))
        .set_query_timeout(Duration::from_secs(3));
    config
}

/// A data directory with a new identity; returns its DID.
fn init(dir: &Path) -> String {
    let store = Store::open(dir).unwrap();
    init_identity(&store, Protection::Unencrypted)
        .unwrap()
        .did()
        .to_string()
}

async fn start(dir: &Path, listen: Option<Multiaddr>, bootstrap: Vec<Multiaddr>) -> Node {
    let mut builder = NodeBuilder::new()
        .data_dir(dir)
        .bootstrap(bootstrap)
        .config(config());
    if let Some(listen) = listen {
        builder = builder.listen(vec![listen]);
    }
    builder.build().await.unwrap()
}

/// Restarts a node on `dir` listening on `listen`, retrying while the port is not free yet.
async fn restart(dir: &Path, listen: &Multiaddr, bootstrap: Vec<Multiaddr>) -> Node {
    let begin = Instant::now();
    loop {
        let built = NodeBuilder::new()
            .data_dir(dir)
            .listen(vec![listen.clone()])
            .bootstrap(bootstrap.clone())
            .config(config())
            .build()
            .await;
        match built {
            Ok(node) => return node,
            Err(error) => {
                assert!(
                    begin.elapsed() < Duration::from_secs(30),
                    "restart: {error}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// `/ip4/127.0.0.1/tcp/PORT` of a node's first address.
fn tcp_of(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .take_while(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect()
}

/// Two nodes, B (the receiver) first, A bootstrapped from B, and B's record published.
async fn pair(root: &Path) -> (Node, Node, PathBuf, Multiaddr) {
    let (a_dir, b_dir) = (root.join("a"), root.join("b"));
    init(&a_dir);
    init(&b_dir);
    let b = start(&b_dir, None, Vec::new()).await;
    let b_addr = b.listen_addrs().await.unwrap().remove(0);
    let a = start(&a_dir, None, vec![b_addr.clone()]).await;
    let begin = Instant::now();
    while b.publish().await.is_err() {
        assert!(
            begin.elapsed() < Duration::from_secs(20),
            "B's record not published"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (a, b, b_dir, b_addr)
}

/// A file of `size` pseudo-random bytes from a fixed seed, written 1 MiB at a time; it starts
/// with the gzip magic so that it is an archive (500 MiB limit; unknown binary is 50 MiB).
fn write_random(path: &Path, size: u64, seed: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = seed;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    let mut first = true;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        if first {
            buf[..4].copy_from_slice(&[0x1f, 0x8b, 0x08, 0x00]);
            first = false;
        }
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap();
        file.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    file.into_inner().unwrap().sync_all().unwrap();
}

/// Size and BLAKE3 of a file, read 1 MiB at a time.
fn hash_of(path: &Path) -> (u64, [u8; 32]) {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    (size, *hasher.finalize().as_bytes())
}

/// Waits for the `File` event of stream `id`.
async fn file_event(
    events: &mut broadcast::Receiver<NodeEvent>,
    id: MessageId,
) -> (PathBuf, u64, [u8; 32]) {
    loop {
        match events.recv().await {
            Ok(NodeEvent::File {
                id: got,
                path,
                size,
                hash,
                ..
            }) if got == id => return (path, size, hash),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(error) => panic!("events: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabytes_with_the_receiver_restarted() {
    tokio::time::timeout(LIMIT, big())
        .await
        .expect("test timed out");
}

async fn big() {
    let begin = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let source = root.path().join("big.bin");
    write_random(&source, SIZE, 0x7a10_5f11e);
    let (src_size, src_hash) = hash_of(&source);
    assert_eq!(src_size, SIZE);

    let (a, b, b_dir, b_addr) = pair(root.path()).await;
    let a_addr = a.listen_addrs().await.unwrap().remove(0);
    let b_did = b.did().to_owned();
    let mut b_events = b.events();
    let a = Arc::new(a);
    let sender = {
        let (a, source, b_did) = (Arc::clone(&a), source.clone(), b_did.clone());
        tokio::spawn(async move { a.send_file(&b_did, &source).await })
    };

    // Cut at about 30 %: shut B down, restart it on the same data directory and port.
    let stream = loop {
        match b_events.recv().await {
            Ok(NodeEvent::FileProgress {
                id,
                received,
                total,
                ..
            }) if received * 10 >= total * 3 => break id,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(error) => panic!("events: {error}"),
        }
    };
    let cut = begin.elapsed();
    b.shutdown().await;
    let part = b_dir.join("files").join(format!("{stream}.part"));
    assert!(part.exists(), "the partial file stays");
    let b = restart(&b_dir, &tcp_of(&b_addr), vec![a_addr]).await;
    let mut b_events = b.events();

    let receipt = sender.await.unwrap().expect("send_file");
    assert_eq!(receipt.id, stream);
    assert_eq!(receipt.size, SIZE);
    assert_eq!(receipt.hash, src_hash);
    let (path, size, hash) =
        tokio::time::timeout(Duration::from_secs(10), file_event(&mut b_events, stream))
            .await
            .expect("no File event");
    assert_eq!((size, hash), (SIZE, src_hash));
    assert_eq!(path, b_dir.join("files").join("big.bin"));
    assert_eq!(hash_of(&path), (src_size, src_hash));
    assert!(!part.exists(), "no partial file left");
    eprintln!(
        "100 MB: cut at {cut:?}, done at {:?}, {} chunks, {} resent",
        begin.elapsed(),
        receipt.chunks,
        receipt.resent
    );
    b.shutdown().await;
    Arc::try_unwrap(a).unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_one_chunk_files() {
    tokio::time::timeout(Duration::from_secs(60), small())
        .await
        .expect("test timed out");
}

async fn small() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, b_dir, _) = pair(root.path()).await;
    let mut b_events = b.events();
    let files_dir = b_dir.join("files");
    assert_eq!(b.files_dir(), files_dir);

    let empty = root.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let receipt = a.send_file(b.did(), &empty).await.unwrap();
    assert_eq!((receipt.size, receipt.chunks), (0, 1));
    assert_eq!(receipt.hash, *blake3::hash(b"").as_bytes());
    let (path, size, hash) = file_event(&mut b_events, receipt.id).await;
    assert_eq!(path, files_dir.join("empty.txt"));
    assert_eq!((size, hash), (0, receipt.hash));
    assert_eq!(std::fs::read(&path).unwrap(), b"");

    let one = root.path().join("note.txt");
    let text = "one chunk of text\n".repeat(100);
    std::fs::write(&one, &text).unwrap();
    let receipt = a.send_file(b.did(), &one).await.unwrap();
    assert_eq!(receipt.chunks, 1);
    let (path, _, hash) = file_event(&mut b_events, receipt.id).await;
    assert_eq!(path, files_dir.join("note.txt"));
    assert_eq!(hash, *blake3::hash(text.as_bytes()).as_bytes());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // The same name again: not overwritten, put next to it under the stream id.
    let receipt = a.send_file(b.did(), &one).await.unwrap();
    let (path, _, _) = file_event(&mut b_events, receipt.id).await;
    assert_eq!(path, files_dir.join(format!("{}-note.txt", receipt.id)));

    // The history holds no file bytes.
    assert!(b.history(None).unwrap().is_empty());
    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn receiver_refuses_bad_chunks_and_resumes() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::in_memory().unwrap();
    let dir = root.path().join("files");
    let id: MessageId = "0190a5e0-7c3a-7000-8000-000000000001".parse().unwrap();
    let object: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let (start, chunks) = chunk_all(id, &object, Some("x.bin"), Some(1024)).unwrap();
    assert_eq!(chunks.len(), 5);
    let from = "did:key:z6MkSender";
    let inbox = Inbox::new(dir.clone());
    inbox.start(&store, from, &start).unwrap();
    // Announced twice: a duplicate. Another sender with the same id: refused.
    inbox.start(&store, from, &start).unwrap();
    assert!(matches!(
        inbox.start(&store, "did:key:z6MkOther", &start),
        Err(FileError::Conflict(_))
    ));

    // A chunk whose bytes do not match its hash is refused, and nothing is recorded.
    let mut bad = chunks[1].data.clone();
    bad[7] ^= 1;
    assert!(matches!(
        inbox.chunk(&store, from, &chunks[1].info, &bad),
        Err(FileError::BadChunk(_))
    ));
    assert!(store.stream_chunks(id).unwrap().is_empty());
    // A chunk from another sender is refused.
    assert!(matches!(
        inbox.chunk(
            &store,
            "did:key:z6MkOther",
            &chunks[1].info,
            &chunks[1].data
        ),
        Err(FileError::Conflict(_))
    ));

    for chunk in &chunks[..2] {
        assert!(matches!(
            inbox.chunk(&store, from, &chunk.info, &chunk.data).unwrap(),
            Received::Accepted { .. }
        ));
    }
    assert_eq!(
        inbox
            .chunk(&store, from, &chunks[0].info, &chunks[0].data)
            .unwrap(),
        Received::Duplicate
    );
    assert!(matches!(
        inbox.end(&store, from, id),
        Err(FileError::Incomplete(_))
    ));

    // A new inbox on the same store and directory (a restart) resumes from the partial file.
    drop(inbox);
    let inbox = Inbox::new(dir.clone());
    assert_eq!(
        inbox
            .chunk(&store, from, &chunks[1].info, &chunks[1].data)
            .unwrap(),
        Received::Duplicate
    );
    for chunk in &chunks[2..4] {
        inbox.chunk(&store, from, &chunk.info, &chunk.data).unwrap();
    }
    let Received::Complete(file) = inbox
        .chunk(&store, from, &chunks[4].info, &chunks[4].data)
        .unwrap()
    else {
        panic!("not complete")
    };
    assert_eq!(file.path, dir.join("x.bin"));
    assert_eq!(std::fs::read(&file.path).unwrap(), object);
    assert!(!dir.join(format!("{id}.part")).exists());
    inbox.end(&store, from, id).unwrap();
    // Late duplicates of a received file are acknowledged.
    assert_eq!(
        inbox
            .chunk(&store, from, &chunks[2].info, &chunks[2].data)
            .unwrap(),
        Received::Duplicate
    );

    // A stream nobody announced is refused.
    let other: MessageId = "0190a5e0-7c3a-7000-8000-000000000002".parse().unwrap();
    let (_, stray) = chunk_all(other, &object, None, Some(1024)).unwrap();
    assert!(matches!(
        inbox.chunk(&store, from, &stray[0].info, &stray[0].data),
        Err(FileError::UnknownStream(_))
    ));
}
