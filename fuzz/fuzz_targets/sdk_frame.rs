//! `SdkFrame::decode` takes any bytes; what decodes encodes to a form that decodes to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_wire::sdk_frame::SdkFrame;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = SdkFrame::decode(data) {
        assert_eq!(SdkFrame::decode(frame.encode().as_bytes()), Ok(frame));
    }
});
