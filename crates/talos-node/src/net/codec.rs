//! The request-response codec of `/talos/wire/1.0.0`: one length-prefixed message each way.
//!
//! A message is `be32(len) ‖ bytes`, with `len ≤` [`MAX_MESSAGE_LEN`] (1 MiB of payload plus
//! a talos-wire frame header). The bytes are opaque here: talos-wire frames or envelopes,
//! which the node decodes with talos-wire. A longer length is refused before anything is
//! allocated or read, on the reading side and on the writing side alike.

use core::fmt;
use std::io;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;

/// The largest message either side sends or accepts: 1 MiB of payload plus one talos-wire frame
/// header ([`talos_wire::frame::HEADER_LEN`]).
pub const MAX_MESSAGE_LEN: usize = 1024 * 1024 + talos_wire::frame::HEADER_LEN;

/// Length of the big-endian length prefix.
const PREFIX_LEN: usize = 4;

/// Reads one message: a big-endian `u32` length, then that many bytes.
///
/// # Errors
/// `InvalidData` if the length is above `max` (nothing more is read), `UnexpectedEof` if the
/// stream ends early, or the stream's own error.
pub async fn read_message<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; PREFIX_LEN];
    io.read_exact(&mut prefix).await?;
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            TooLarge { len, max },
        ));
    }
    // Grow as bytes arrive rather than trusting the announced length with an allocation.
    let mut bytes = Vec::with_capacity(len.min(64 * 1024));
    let read = io.take(len as u64).read_to_end(&mut bytes).await?;
    if read != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "message shorter than its length prefix",
        ));
    }
    Ok(bytes)
}

/// Writes one message: a big-endian `u32` length, then the bytes.
///
/// # Errors
/// `InvalidInput` if `bytes` is longer than `max` (nothing is written), or the stream's own
/// error.
pub async fn write_message<T>(io: &mut T, bytes: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = bytes.len();
    let prefix = match u32::try_from(len) {
        Ok(prefix) if len <= max => prefix,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                TooLarge { len, max },
            ));
        }
    };
    io.write_all(&prefix.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.flush().await
}

/// The length found and the limit, as the error inside the `io::Error` of an oversized message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message too large: {len} bytes, limit {max}")]
pub struct TooLarge {
    /// The length announced or offered.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

/// The [`Codec`] of `/talos/wire/1.0.0`: requests and responses are opaque byte strings, each
/// framed by [`read_message`] / [`write_message`] and bounded by a limit
/// ([`MAX_MESSAGE_LEN`] by default).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WireCodec {
    max_len: usize,
}

impl WireCodec {
    /// A codec with another limit than [`MAX_MESSAGE_LEN`] (tests, or a stricter node).
    #[must_use]
    pub const fn with_max_len(max_len: usize) -> Self {
        Self { max_len }
    }

    /// The limit on a message's length, in bytes (prefix excluded).
    #[must_use]
    pub const fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Default for WireCodec {
    fn default() -> Self {
        Self::with_max_len(MAX_MESSAGE_LEN)
    }
}

impl fmt::Debug for WireCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireCodec")
            .field("max_len", &self.max_len)
            .finish()
    }
}

impl Codec for WireCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, self.max_len).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, self.max_len).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &request, self.max_len).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &response, self.max_len).await
    }
}
