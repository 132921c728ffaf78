//! `wire/frame.json`: binary frames, and byte streams the decoder must refuse.

use talos_crypto::json::Value;
use talos_wire::frame::{self, FrameDecoder, FrameError, FrameType};

use super::{Derived, Family, Spec};
use crate::util::{hex_field, object, s, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "wire/frame.json",
    contract: "wire/frame.schema.json",
    description: "Binary frames: magic \"BMP\\x01\", type byte, u32 big-endian length, payload. `object` is \
                  the frame; expected.wire_hex its bytes. Negative cases give a byte stream (wire_hex) and \
                  the decoder's maximum payload; every stream is decoded both whole and one byte at a time, \
                  with the same result.",
    producer: super::wire_producer,
    specs,
    derive,
};

fn frame_input(kind: FrameType, payload: &[u8]) -> Value {
    object([
        ("type_byte", crate::util::n(u32::from(kind.to_byte()))),
        ("payload_hex", s(hex::encode(payload))),
    ])
}

fn stream_input(wire: &[u8], max_payload: u32) -> Value {
    object([
        ("wire_hex", s(hex::encode(wire))),
        ("max_payload", crate::util::n(max_payload)),
    ])
}

fn specs() -> Vec<Spec> {
    let payload: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let mut two = Vec::new();
    frame::encode(FrameType::Ping, b"p", &mut two).unwrap_or_default();
    frame::encode(FrameType::Pong, b"p", &mut two).unwrap_or_default();
    let mut specs = vec![
        Spec::ok(
            "data",
            "a DATA frame",
            frame_input(FrameType::Data, b"hello"),
        ),
        Spec::ok(
            "data-300",
            "a DATA frame of 300 bytes",
            frame_input(FrameType::Data, &payload),
        ),
        Spec::ok(
            "handshake",
            "a HANDSHAKE frame",
            frame_input(FrameType::Handshake, br#"{"version":1}"#),
        ),
        Spec::ok(
            "handshake-ack",
            "a HANDSHAKE_ACK frame",
            frame_input(FrameType::HandshakeAck, b"ok"),
        ),
        Spec::ok(
            "ping-empty",
            "a PING frame with no payload",
            frame_input(FrameType::Ping, b""),
        ),
        Spec::ok(
            "pong",
            "a PONG frame",
            frame_input(FrameType::Pong, b"\x00\x01"),
        ),
        Spec::ok(
            "error",
            "an ERROR frame",
            frame_input(FrameType::Error, b"bad request"),
        ),
        Spec::ok("close", "a CLOSE frame", frame_input(FrameType::Close, b"")),
    ];
    specs.extend([
        Spec::err("bad-magic", "the magic is not BMP", stream_input(b"XMP\x01\x01\0\0\0\0", 1024), "magic"),
        Spec::err("other-version", "magic of version 2", stream_input(b"BMP\x02\x01\0\0\0\0", 1024), "magic"),
        Spec::err("unknown-type", "type byte 0x08", stream_input(b"BMP\x01\x08\0\0\0\0", 1024), "type"),
        Spec::err(
            "too-large",
            "a header announcing 1025 bytes to a decoder that takes 1024: refused before any payload",
            stream_input(b"BMP\x01\x01\0\0\x04\x01", 1024),
            "too large",
        ),
        Spec::err("truncated-header", "the stream ends inside a header", stream_input(b"BMP\x01\x01", 1024), "truncated"),
        Spec::err(
            "truncated-payload",
            "the stream ends inside a payload",
            stream_input(b"BMP\x01\x01\0\0\0\x05abc", 1024),
            "truncated",
        ),
        Spec::err(
            "garbage-after-frames",
            "two good frames, then garbage: the frames are delivered, then the stream fails",
            stream_input(&[&two[..], b"garbage!!"].concat(), 1024),
            "magic",
        ),
    ]);
    specs
}

/// Decodes `wire` in slices of `step` bytes; the frames delivered, and the first error.
fn decode(wire: &[u8], max: u32, step: usize) -> (Vec<frame::Frame>, Option<FrameError>) {
    let mut decoder = FrameDecoder::with_max_payload(max);
    let mut frames = Vec::new();
    for piece in wire.chunks(step.max(1)) {
        let mut input = piece;
        while !input.is_empty() {
            match decoder.handle_bytes(input) {
                Ok(used) => input = &input[used..],
                Err(e) => return (frames, Some(e)),
            }
            frames.extend(decoder.poll_frame());
        }
    }
    (frames, decoder.finish().err())
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    if inputs.get("wire_hex").is_some() {
        let wire = hex_field(inputs, "wire_hex")?;
        let max = u32::try_from(u64_field(inputs, "max_payload")?).map_err(|e| e.to_string())?;
        let whole = decode(&wire, max, wire.len());
        let bytewise = decode(&wire, max, 1);
        if whole != bytewise {
            return Err("decoding whole and byte by byte disagree".into());
        }
        return match whole.1 {
            Some(err) => Ok(Derived::failed(None, &err)),
            None => Err("the stream was accepted".into()),
        };
    }
    let byte = u8::try_from(u64_field(inputs, "type_byte")?).map_err(|e| e.to_string())?;
    let kind = FrameType::from_byte(byte).map_err(|e| e.to_string())?;
    let payload = hex_field(inputs, "payload_hex")?;
    let mut wire = Vec::new();
    frame::encode(kind, &payload, &mut wire).map_err(|e| e.to_string())?;
    let (frames, err) = decode(&wire, frame::DEFAULT_MAX_PAYLOAD, 1);
    if err.is_some() || frames.len() != 1 || frames[0].kind != kind || frames[0].payload != payload
    {
        return Err("the frame does not decode to itself".into());
    }
    Ok(Derived::Ok {
        object: object([
            ("type", s(kind.as_str())),
            ("payload", s(talos_crypto::base64url::encode(&payload))),
        ]),
        expected: object([("wire_hex", s(hex::encode(&wire)))]),
    })
}
