//! `SignedMessage::from_json` takes any bytes; an accepted message round-trips through its
//! canonical JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::SignedMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = SignedMessage::from_json(data) else { return };
    assert_eq!(SignedMessage::from_json(&msg.to_json()).as_ref(), Ok(&msg));
});
