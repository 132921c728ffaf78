//! What the two ends of a tunnel send each other: a request in a signed `MCP_MESSAGE`, its
//! answer in a signed `MCP_RESPONSE`, and everything else relayed as it is.
//!
//! The JSON-RPC message travels as its exact bytes next to the frame, which binds it through
//! `request_hash` / `response_hash`. Notifications, server→client requests and their
//! responses are [`Packet::Relay`]ed without a frame: they are not calls to authorize, and the
//! channel carrying packets (a ratchet-encrypted talos-wire session, wired by the node) already
//! authenticates the peer.
//!
//! Layout: one byte of kind (`1` call, `2` reply, `3` relay); for a call or a reply a 4-byte
//! big-endian length and that many bytes of the frame's canonical JSON; then the message's
//! bytes to the end.
//!
//! ```
//! use talos_mcp::packet::Packet;
//!
//! let packet = Packet::Relay { message: br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec() };
//! assert_eq!(Packet::decode(&packet.encode())?, packet);
//! # Ok::<(), talos_mcp::packet::PacketError>(())
//! ```

use crate::frame::{FrameError, MAX_FRAME_BYTES, McpMessage, McpResponse, Signed};
use crate::jsonrpc::MAX_LINE_BYTES;

const CALL: u8 = 1;
const REPLY: u8 = 2;
const RELAY: u8 = 3;

/// The largest packet: a frame and a message of the largest sizes, and the header.
pub const MAX_PACKET_BYTES: usize = 5 + MAX_FRAME_BYTES + MAX_LINE_BYTES;

/// One unit between the ends of a tunnel.
#[derive(Clone, Debug)]
#[allow(clippy::exhaustive_enums)] // the wire has exactly these kinds; a new one is a new version
pub enum Packet {
    /// A request of the client side, framed and signed.
    Call {
        /// The signed `MCP_MESSAGE`.
        frame: Signed<McpMessage>,
        /// The JSON-RPC request's bytes.
        message: Vec<u8>,
    },
    /// The server side's answer to a [`Packet::Call`], framed and signed.
    Reply {
        /// The signed `MCP_RESPONSE`.
        frame: Signed<McpResponse>,
        /// The JSON-RPC response's bytes.
        message: Vec<u8>,
    },
    /// Any other message, either way: notifications, server→client requests and their
    /// responses.
    Relay {
        /// The JSON-RPC message's bytes.
        message: Vec<u8>,
    },
}

impl PartialEq for Packet {
    fn eq(&self, other: &Self) -> bool {
        self.encode() == other.encode()
    }
}

/// Why bytes are not a packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than its header says, or empty.
    #[error("truncated packet")]
    Truncated,
    /// An unknown kind byte.
    #[error("unknown packet kind {0}")]
    UnknownKind(u8),
    /// Over [`MAX_PACKET_BYTES`], or a frame over [`MAX_FRAME_BYTES`].
    #[error("packet too large")]
    TooLarge,
    /// The frame does not parse.
    #[error("invalid frame: {0}")]
    Frame(#[from] FrameError),
}

impl Packet {
    /// The JSON-RPC message's bytes.
    #[must_use]
    pub fn message(&self) -> &[u8] {
        match self {
            Self::Call { message, .. } | Self::Reply { message, .. } | Self::Relay { message } => {
                message
            }
        }
    }

    /// The packet's bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let (kind, frame) = match self {
            Self::Call { frame, .. } => (CALL, Some(frame.to_json())),
            Self::Reply { frame, .. } => (REPLY, Some(frame.to_json())),
            Self::Relay { .. } => (RELAY, None),
        };
        let message = self.message();
        let frame_len = frame.as_ref().map_or(0, |f| 4 + f.len());
        let mut out = Vec::with_capacity(1 + frame_len + message.len());
        out.push(kind);
        if let Some(frame) = frame {
            // Frames are at most MAX_FRAME_BYTES by construction (`Signed::sign` checks).
            out.extend_from_slice(&u32::try_from(frame.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(&frame);
        }
        out.extend_from_slice(message);
        out
    }

    /// Reads a packet; the frame is parsed (not yet verified).
    ///
    /// # Errors
    /// [`PacketError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, PacketError> {
        if bytes.len() > MAX_PACKET_BYTES {
            return Err(PacketError::TooLarge);
        }
        let (&kind, rest) = bytes.split_first().ok_or(PacketError::Truncated)?;
        if kind == RELAY {
            return Ok(Self::Relay {
                message: rest.to_vec(),
            });
        }
        if kind != CALL && kind != REPLY {
            return Err(PacketError::UnknownKind(kind));
        }
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(PacketError::Truncated)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| PacketError::TooLarge)?;
        if len > MAX_FRAME_BYTES {
            return Err(PacketError::TooLarge);
        }
        let (frame, message) = rest.split_at_checked(len).ok_or(PacketError::Truncated)?;
        let message = message.to_vec();
        Ok(if kind == CALL {
            Self::Call {
                frame: Signed::from_json(frame)?,
                message,
            }
        } else {
            Self::Reply {
                frame: Signed::from_json(frame)?,
                message,
            }
        })
    }
}
