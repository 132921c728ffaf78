//! `FrameDecoder` takes any bytes in any split: the first byte of the input chooses the piece
//! size. Whatever it accepts re-encodes to the bytes it consumed, it never buffers more than
//! one frame, and the same input split another way gives the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_wire::frame::{FrameDecoder, HEADER_LEN};

const MAX: u32 = 4096;

fn run(data: &[u8], step: usize) -> (Vec<u8>, bool) {
    let mut decoder = FrameDecoder::with_max_payload(MAX);
    let mut reencoded = Vec::new();
    for piece in data.chunks(step) {
        let mut input = piece;
        while !input.is_empty() {
            match decoder.handle_bytes(input) {
                Ok(used) => input = &input[used..],
                Err(_) => return (reencoded, false),
            }
            while let Some(frame) = decoder.poll_frame() {
                frame.encode(&mut reencoded).unwrap();
            }
            assert!(decoder.buffered() <= HEADER_LEN + MAX as usize);
        }
    }
    (reencoded, decoder.finish().is_ok())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else { return };
    let step = usize::from(first % 64) + 1;
    let (frames, clean) = run(data, step);
    assert_eq!(run(data, data.len().max(1)), (frames.clone(), clean), "split changed the result");
    assert!(data.starts_with(&frames), "delivered frames are not the input's prefix");
    if clean {
        assert_eq!(frames, data);
    }
});
