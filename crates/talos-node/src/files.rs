//! File transfer between nodes: the I/O around talos-wire's [`Chunker`] and [`Reassembler`].
//!
//! # Sending ([`Node::send_file`](crate::node::Node::send_file))
//!
//! The file is hashed once, streaming, through a [`Chunker`] ([`hash_file`]): each chunk's
//! BLAKE3 tree hash and the whole file's hash, in a [`Manifest`], with 32 bytes held per chunk.
//! The chunk size is the media type's default, at most [`MAX_FILE_CHUNK`] so that a sealed
//! chunk fits one request. Then the node sends, each frame sealed through the peer's ratchet
//! session ([`Messenger::seal_stream`](crate::messenger::Messenger::seal_stream)):
//!
//! 1. the `STREAM_START` (signed with the envelope; its id is the stream id), until the
//!    receiver acknowledges it;
//! 2. every chunk not acknowledged yet, a few at a time, each read again from the file
//!    ([`read_chunk`]); a chunk the receiver has not acknowledged (connection cut, receiver
//!    restarting) is sent again, sealed anew, after a backoff;
//! 3. a `STREAM_END`, which the receiver acknowledges only once the whole file matched the
//!    announced hash and is in place.
//!
//! The sender keeps which chunks were acknowledged for as long as `send_file` runs; a stall
//! (nothing acknowledged for the send timeout) ends it with an error.
//!
//! # Receiving ([`Inbox`])
//!
//! A `STREAM_START` is recorded in the store ([`StoredStream`]) and a partial file
//! `<files dir>/<stream id>.part` is created. Each chunk is checked by the
//! [`Reassembler`] (stream, sequence, length, hash at its offset), written at its offset and
//! fsynced, and recorded in the store ([`Store::put_stream_chunk`]); only then is it
//! acknowledged. A chunk already received is a duplicate: acknowledged again. When the last
//! chunk is in, [`Reassembler::finish`] checks the whole-file hash and the file is renamed to
//! `<files dir>/<name>` (the announced name if it is a plain file name and free, else prefixed
//! with the stream id, else the stream id alone).
//!
//! A node restarted on the same data directory rebuilds a stream's reassembler on its next
//! chunk: from the stored `STREAM_START` and the chunks recorded as received, re-read from the
//! partial file and checked again (a chunk that no longer matches is simply missing and is
//! received again).
//!
//! The files directory is `<data dir>/files`; a node with an in-memory store uses
//! `<temp dir>/talos-files-<peer id>`.

use core::cell::Cell;
use core::fmt;
use core::ops::Range;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use talos_wire::MessageId;
use talos_wire::chunk::{
    ChunkError, ChunkInfo, ChunkOutcome, Chunker, DETECT_LEN, MAX_NAME_LEN, Manifest, MediaType,
    Reassembler, ReassemblyError, Sink, StreamStart,
};

use crate::store::{Store, StoreError, StoredStream};

/// The largest chunk the node sends, 512 KiB: a sealed chunk must fit one request
/// ([`MAX_REQUEST_LEN`](crate::net::MAX_REQUEST_LEN), 1 MiB).
pub const MAX_FILE_CHUNK: u32 = 512 * 1024;

/// How many files being received a node keeps in memory (each holds up to 2 MiB of chunk
/// hashes); beyond it the oldest is dropped from memory, to be rebuilt from the store and its
/// partial file when its next chunk comes.
pub const MAX_INCOMING: usize = 64;

/// The suffix of a file being received.
pub const PART_SUFFIX: &str = ".part";

/// Why a file could not be sent or received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Reading or writing a file failed.
    #[error("file i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The file cannot be announced (too large for its type, too many chunks).
    #[error("file refused: {0}")]
    Chunk(#[from] ChunkError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The file changed size while it was being hashed or sent.
    #[error("the file changed while it was being sent")]
    Changed,
    /// The receiver refused the stream (it does not know it, or the file did not verify).
    #[error("the receiver refused stream {0}")]
    Refused(MessageId),
    /// A chunk for a stream this node does not know.
    #[error("unknown stream {0}")]
    UnknownStream(MessageId),
    /// A frame of a stream from another sender than the one that announced it, or a second
    /// announcement of a stream id with other contents.
    #[error("stream {0} belongs to another sender or announcement")]
    Conflict(MessageId),
    /// A chunk refused by the reassembler (wrong hash, length, sequence).
    #[error("chunk refused: {0}")]
    BadChunk(String),
    /// Every chunk arrived but the file does not have the announced hash: it was discarded.
    #[error("stream {0}: the file does not match the announced hash; discarded")]
    HashMismatch(MessageId),
    /// A `STREAM_END` for a stream not received completely.
    #[error("stream {0} is not complete")]
    Incomplete(MessageId),
}

/// What [`Node::send_file`](crate::node::Node::send_file) returns once the receiver confirmed
/// the whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileReceipt {
    /// The stream id.
    pub id: MessageId,
    /// The receiver's DID.
    pub to: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The file's BLAKE3 hash, which the receiver verified.
    pub hash: [u8; 32],
    /// The number of chunks.
    pub chunks: u32,
    /// How many chunk sends were repeats (not acknowledged the first time).
    pub resent: u32,
}

/// A plain file name, or `None`: 1 to 255 bytes, no path separator, NUL or control
/// character, not `.` or `..` (the rules of a `STREAM_START` name), and not starting with a
/// dot (no hidden files, no `..` prefix).
#[must_use]
pub fn safe_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control);
    ok.then_some(name)
}

/// Hashes the file at `path` once, streaming, through a [`Chunker`] for stream `stream_id`:
/// its media type from its first bytes, chunks of the type's default size but at most
/// [`MAX_FILE_CHUNK`], its name if [`safe_name`] allows it. Blocking: run it off the async
/// threads.
///
/// # Errors
/// [`FileError::Io`], [`FileError::Chunk`] (e.g. too large for its media type),
/// [`FileError::Changed`].
pub fn hash_file(path: &Path, stream_id: MessageId) -> Result<Manifest, FileError> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut head = vec![0u8; usize::try_from(size).map_or(DETECT_LEN, |s| s.min(DETECT_LEN))];
    file.read_exact(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    let (media, mime) = MediaType::detect(&head);
    let chunk_size = media.chunk_size().min(MAX_FILE_CHUNK);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(safe_name);
    let mut chunker = Chunker::with_media(stream_id, size, media, mime, name, Some(chunk_size))?;
    let mut buf = vec![0u8; chunk_size as usize];
    while let Some(len) = chunker.next_len() {
        let chunk = buf.get_mut(..len).ok_or(FileError::Changed)?;
        file.read_exact(chunk).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FileError::Changed,
            _ => FileError::Io(e),
        })?;
        chunker.handle_chunk(chunk)?;
    }
    if file.read(&mut [0u8; 1])? != 0 {
        return Err(FileError::Changed);
    }
    Ok(chunker.finish()?)
}

/// Reads bytes `range` of the file at `path` (a chunk to send). Blocking.
///
/// # Errors
/// [`FileError::Io`]; [`FileError::Changed`] if the file is shorter now.
pub fn read_chunk(path: &Path, range: Range<u64>) -> Result<Vec<u8>, FileError> {
    let len =
        usize::try_from(range.end.saturating_sub(range.start)).map_err(|_| FileError::Changed)?;
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(range.start))?;
    let mut data = vec![0u8; len];
    file.read_exact(&mut data).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FileError::Changed,
        _ => FileError::Io(e),
    })?;
    Ok(data)
}

/// A partial file as a [`Sink`]: each chunk written at its offset and fsynced before the
/// reassembler counts it. While `replay` is set (a reassembler being rebuilt from what the
/// file already holds), writes are skipped.
struct PartFile {
    file: File,
    replay: Cell<bool>,
}

impl Sink for PartFile {
    type Error = std::io::Error;

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.replay.get() {
            return Ok(());
        }
        let mut file = &self.file;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(data)?;
        file.sync_data()
    }
}

/// A file being received.
struct Incoming {
    from: String,
    name: Option<String>,
    size: u64,
    hash: [u8; 32],
    rx: Reassembler<PartFile>,
    /// The last progress reported, in percent.
    percent: u64,
}

/// A file received and verified, from [`Inbox::chunk`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedFile {
    /// The stream id.
    pub id: MessageId,
    /// The sender's DID.
    pub from: String,
    /// The name the sender announced, if any.
    pub name: Option<String>,
    /// Where the file is now.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its BLAKE3 hash (verified).
    pub hash: [u8; 32],
}

/// What [`Inbox::chunk`] did with a chunk; in every case acknowledge it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// Already received (or the whole file is): nothing written.
    Duplicate,
    /// Written and recorded. `report` is set when the progress reached a new percent.
    Accepted {
        /// Bytes received so far.
        received: u64,
        /// The file's size.
        total: u64,
        /// Whether to report progress now (about every 1 %).
        report: bool,
    },
    /// The last chunk: the file is verified and in place.
    Complete(ReceivedFile),
}

/// The receiving side of file transfer (see the [module docs](self)).
pub struct Inbox {
    dir: PathBuf,
    streams: Mutex<BTreeMap<MessageId, Incoming>>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("dir", &self.dir)
            .field("receiving", &self.streams().len())
            .finish()
    }
}

impl Inbox {
    /// An inbox writing files into `dir` (created on first use).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            streams: Mutex::new(BTreeMap::new()),
        }
    }

    /// Where received files go.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn streams(&self) -> MutexGuard<'_, BTreeMap<MessageId, Incoming>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn part_path(&self, id: MessageId) -> PathBuf {
        self.dir.join(format!("{id}{PART_SUFFIX}"))
    }

    /// Handles a `STREAM_START` from `from`: records the stream and creates its partial file,
    /// committed before it returns (then acknowledge it). A start already recorded, with the
    /// same sender and contents, is a duplicate: nothing changes.
    ///
    /// # Errors
    /// [`FileError::Conflict`] for a known stream id with another sender or contents;
    /// [`FileError::Io`], [`FileError::Store`].
    pub fn start(&self, store: &Store, from: &str, start: &StreamStart) -> Result<(), FileError> {
        let id = start.stream_id();
        let cbor = start.to_cbor();
        if let Some(stored) = store.stream(id)? {
            return if stored.from == from && stored.start == cbor {
                Ok(())
            } else {
                Err(FileError::Conflict(id))
            };
        }
        let mut streams = self.streams();
        std::fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.part_path(id))?;
        store.put_stream(&StoredStream {
            id,
            from: from.to_owned(),
            start: cbor,
            path: None,
        })?;
        make_room(&mut streams);
        streams.insert(id, incoming(from, start, file));
        Ok(())
    }

    /// Handles a chunk from `from`: checked, written and fsynced at its offset, recorded in
    /// the store; the last one verifies the whole file and puts it in place. Acknowledge the
    /// chunk when this returns `Ok`.
    ///
    /// # Errors
    /// [`FileError::UnknownStream`], [`FileError::Conflict`] (another sender),
    /// [`FileError::BadChunk`] (nothing written), [`FileError::HashMismatch`] (the file is
    /// discarded and the stream forgotten), [`FileError::Io`], [`FileError::Store`]: do not
    /// acknowledge.
    pub fn chunk(
        &self,
        store: &Store,
        from: &str,
        info: &ChunkInfo,
        data: &[u8],
    ) -> Result<Received, FileError> {
        let id = info.stream_id;
        let mut streams = self.streams();
        if !streams.contains_key(&id) {
            match self.load(store, id)? {
                Some(incoming) => {
                    make_room(&mut streams);
                    streams.insert(id, incoming);
                }
                None => {
                    // Received already: a late duplicate.
                    return match store.stream(id)? {
                        Some(stored) if stored.from == from => Ok(Received::Duplicate),
                        Some(_) => Err(FileError::Conflict(id)),
                        None => Err(FileError::UnknownStream(id)),
                    };
                }
            }
        }
        let incoming = streams.get_mut(&id).ok_or(FileError::UnknownStream(id))?;
        if incoming.from != from {
            return Err(FileError::Conflict(id));
        }
        match incoming.rx.handle_chunk(info, data) {
            Ok(ChunkOutcome::Duplicate) => return Ok(Received::Duplicate),
            Ok(_) => {}
            Err(ReassemblyError::Sink(error)) => {
                // The reassembler is unchanged; the chunk stays missing.
                return Err(FileError::Io(error));
            }
            Err(error) => return Err(FileError::BadChunk(error.to_string())),
        }
        if let Err(error) = store.put_stream_chunk(id, info.sequence, &info.hash) {
            // The reassembler counts the chunk, the store does not: drop the reassembler, to
            // be rebuilt from the store on the next chunk, so the chunk is received again.
            streams.remove(&id);
            return Err(error.into());
        }
        let (received, total) = incoming.rx.progress();
        if !incoming.rx.is_complete() {
            let percent = received.saturating_mul(100) / total.max(1);
            let report = percent > incoming.percent;
            incoming.percent = incoming.percent.max(percent);
            return Ok(Received::Accepted {
                received,
                total,
                report,
            });
        }
        let incoming = streams.remove(&id).ok_or(FileError::UnknownStream(id))?;
        drop(streams);
        self.complete(store, id, incoming).map(Received::Complete)
    }

    /// Verifies a complete stream and puts its file in place.
    fn complete(
        &self,
        store: &Store,
        id: MessageId,
        incoming: Incoming,
    ) -> Result<ReceivedFile, FileError> {
        let Incoming {
            from,
            name,
            size,
            hash,
            rx,
            ..
        } = incoming;
        let part = self.part_path(id);
        let sink = match rx.finish() {
            Ok(sink) => sink,
            Err(error) => {
                tracing::warn!(%id, %error, "received file discarded");
                let _ = std::fs::remove_file(&part);
                store.remove_stream(id)?;
                return Err(FileError::HashMismatch(id));
            }
        };
        sink.file.sync_all()?;
        drop(sink);
        let path = self.final_path(id, name.as_deref());
        std::fs::rename(&part, &path)?;
        sync_dir(&self.dir);
        store.finish_stream(id, &path.to_string_lossy())?;
        Ok(ReceivedFile {
            id,
            from,
            name,
            path,
            size,
            hash,
        })
    }

    /// Where a received file goes: its name if it is safe and free, else prefixed with the
    /// stream id, else the stream id.
    fn final_path(&self, id: MessageId, name: Option<&str>) -> PathBuf {
        match name.and_then(safe_name) {
            Some(name) => {
                let plain = self.dir.join(name);
                if plain.exists() {
                    self.dir.join(format!("{id}-{name}"))
                } else {
                    plain
                }
            }
            None => self.dir.join(id.to_string()),
        }
    }

    /// Handles a `STREAM_END`: `Ok` (acknowledge it) once stream `stream_id` from `from` is
    /// received and verified.
    ///
    /// # Errors
    /// [`FileError::Incomplete`], [`FileError::UnknownStream`], [`FileError::Conflict`],
    /// [`FileError::Store`].
    pub fn end(&self, store: &Store, from: &str, stream_id: MessageId) -> Result<(), FileError> {
        match store.stream(stream_id)? {
            Some(stored) if stored.from != from => Err(FileError::Conflict(stream_id)),
            Some(stored) if stored.path.is_some() => Ok(()),
            Some(_) => Err(FileError::Incomplete(stream_id)),
            None => Err(FileError::UnknownStream(stream_id)),
        }
    }

    /// Rebuilds the reassembler of stream `id` from the store and its partial file (after a
    /// restart, or after a store failure); `None` if the stream is received already.
    fn load(&self, store: &Store, id: MessageId) -> Result<Option<Incoming>, FileError> {
        let stored = store.stream(id)?.ok_or(FileError::UnknownStream(id))?;
        if stored.path.is_some() {
            return Ok(None);
        }
        let start = StreamStart::from_cbor(&stored.start).map_err(|_| StoreError::Corrupt {
            table: "file_streams",
            what: "stream start",
        })?;
        std::fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.part_path(id))?;
        let mut incoming = incoming(&stored.from, &start, file);
        incoming.rx.sink().replay.set(true);
        let mut buf = Vec::new();
        let mut lost = 0u32;
        for (sequence, hash) in store.stream_chunks(id)? {
            let Some(range) = start.chunk_range(sequence) else {
                continue;
            };
            let Ok(len) = usize::try_from(range.end - range.start) else {
                continue;
            };
            buf.resize(len, 0);
            let mut file = &incoming.rx.sink().file;
            let read = file
                .seek(SeekFrom::Start(range.start))
                .and_then(|_| file.read_exact(&mut buf));
            let info = ChunkInfo {
                stream_id: id,
                sequence,
                total: start.total(),
                hash,
            };
            if read.is_err() || incoming.rx.handle_chunk(&info, &buf).is_err() {
                // Not on disk as recorded: it is missing, and received again.
                lost += 1;
            }
        }
        incoming.rx.sink().replay.set(false);
        let (received, total) = incoming.rx.progress();
        incoming.percent = received.saturating_mul(100) / total.max(1);
        tracing::info!(%id, received, total, lost, "resuming a file being received");
        Ok(Some(incoming))
    }
}

/// Drops the oldest streams (stream ids are UUIDv7: the smallest is the oldest) from memory
/// until there is room for one more; their state stays in the store and partial file.
fn make_room(streams: &mut BTreeMap<MessageId, Incoming>) {
    while streams.len() >= MAX_INCOMING {
        if streams.pop_first().is_none() {
            break;
        }
    }
}

fn incoming(from: &str, start: &StreamStart, file: File) -> Incoming {
    Incoming {
        from: from.to_owned(),
        name: start.name().map(str::to_owned),
        size: start.size(),
        hash: *start.hash(),
        rx: Reassembler::new(
            start,
            PartFile {
                file,
                replay: Cell::new(false),
            },
        ),
        percent: 0,
    }
}

/// Makes a rename in `dir` durable where the platform allows (best effort).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// The files directory of a node: `<data dir>/files`, or for a node without a data directory
/// `<temp dir>/talos-files-<name>`.
#[must_use]
pub fn files_dir(data_dir: Option<&Path>, name: &str) -> PathBuf {
    data_dir.map_or_else(
        || std::env::temp_dir().join(format!("talos-files-{name}")),
        |dir| dir.join("files"),
    )
}
