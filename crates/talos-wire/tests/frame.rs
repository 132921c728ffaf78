//! Frames: round trips, every split of a stream, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use talos_wire::frame::{self, Frame, FrameDecoder, FrameError, FrameType, HEADER_LEN};

fn frame_type() -> impl Strategy<Value = FrameType> {
    (1u8..=7).prop_map(|b| FrameType::from_byte(b).unwrap())
}

fn frames() -> impl Strategy<Value = Vec<Frame>> {
    prop::collection::vec(
        (frame_type(), prop::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(kind, payload)| Frame { kind, payload }),
        0..8,
    )
}

fn wire_of(frames: &[Frame]) -> Vec<u8> {
    let mut wire = Vec::new();
    for f in frames {
        f.encode(&mut wire).unwrap();
    }
    wire
}

/// Feeds `pieces` in order; returns the frames and the first error.
fn decode_pieces<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Frame>, Result<(), FrameError>) {
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        let mut input = piece;
        while !input.is_empty() {
            match decoder.handle_bytes(input) {
                Ok(used) => input = &input[used..],
                Err(e) => return (out, Err(e)),
            }
            out.extend(decoder.poll_frame());
            assert!(decoder.buffered() <= HEADER_LEN + 200);
        }
    }
    (out, decoder.finish())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trip(frames in frames()) {
        let wire = wire_of(&frames);
        let (decoded, end) = decode_pieces([wire.as_slice()]);
        prop_assert_eq!(end, Ok(()));
        prop_assert_eq!(decoded, frames);
    }

    /// A valid stream split at every possible boundary yields the same frames.
    #[test]
    fn every_split_point(frames in frames()) {
        let wire = wire_of(&frames);
        for cut in 0..=wire.len() {
            let (decoded, end) = decode_pieces([&wire[..cut], &wire[cut..]]);
            prop_assert_eq!(end, Ok(()));
            prop_assert_eq!(&decoded, &frames);
        }
    }

    /// And in random pieces, one byte at a time included.
    #[test]
    fn random_pieces(frames in frames(), sizes in prop::collection::vec(1usize..40, 1..50)) {
        let wire = wire_of(&frames);
        let mut pieces = Vec::new();
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at >= wire.len() {
                break;
            }
            let end = (at + size).min(wire.len());
            pieces.push(&wire[at..end]);
            at = end;
        }
        let (decoded, end) = decode_pieces(pieces);
        prop_assert_eq!(end, Ok(()));
        prop_assert_eq!(decoded, frames);
    }

    /// Arbitrary bytes never panic, and the decoder never holds more than one frame.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = FrameDecoder::with_max_payload(64);
        let mut input = bytes.as_slice();
        while !input.is_empty() {
            match decoder.handle_bytes(input) {
                Ok(used) => input = &input[used..],
                Err(_) => break,
            }
            let _ = decoder.poll_frame();
            prop_assert!(decoder.buffered() <= HEADER_LEN + 64);
        }
        let _ = decoder.finish();
    }

    /// A stream cut short anywhere inside its last frame reports truncation.
    #[test]
    fn truncation_is_reported(frames in frames().prop_filter("non-empty", |f| !f.is_empty())) {
        let wire = wire_of(&frames);
        let last_len = HEADER_LEN + frames.last().unwrap().payload.len();
        for cut in (wire.len() - last_len + 1)..wire.len() {
            let (decoded, end) = decode_pieces([&wire[..cut]]);
            prop_assert!(matches!(end, Err(FrameError::Truncated { .. })), "{:?}", end);
            prop_assert_eq!(decoded.len(), frames.len() - 1);
        }
    }
}

#[test]
fn encoder_appends_to_the_callers_buffer() {
    let mut out = b"prefix".to_vec();
    frame::encode(FrameType::Data, b"x", &mut out).unwrap();
    assert_eq!(out, b"prefixBMP\x01\x01\0\0\0\x01x");
}

#[test]
fn the_default_maximum_is_16_mib() {
    let mut d = FrameDecoder::new();
    let mut header = b"BMP\x01\x01".to_vec();
    header.extend_from_slice(&(16u32 * 1024 * 1024).to_be_bytes());
    assert_eq!(d.handle_bytes(&header), Ok(HEADER_LEN));
    let mut d = FrameDecoder::new();
    header.truncate(5);
    header.extend_from_slice(&(16u32 * 1024 * 1024 + 1).to_be_bytes());
    assert!(matches!(
        d.handle_bytes(&header),
        Err(FrameError::TooLarge { .. })
    ));
}
