//! Signed MCP frames from arbitrary bytes: `Signed::<McpMessage>` and `Signed::<McpResponse>`
//! `from_json` never panic; a frame that parses writes canonical JSON that parses to the same
//! frame and writes itself again byte for byte, and verification with a fixed key either
//! passes or fails without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::SigningKey;
use talos_mcp::frame::{McpMessage, McpResponse, Signed};

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_seed(&[0; 32]).verifying_key();
    if let Ok(frame) = Signed::<McpMessage>::from_json(data) {
        let json = frame.to_json();
        let again = Signed::<McpMessage>::from_json(&json).expect("canonical output parses");
        assert_eq!(again.frame(), frame.frame());
        assert_eq!(again.to_json(), json);
        assert_eq!(frame.verify(&key).is_ok(), again.verify(&key).is_ok());
    }
    if let Ok(frame) = Signed::<McpResponse>::from_json(data) {
        let json = frame.to_json();
        let again = Signed::<McpResponse>::from_json(&json).expect("canonical output parses");
        assert_eq!(again.frame(), frame.frame());
        assert_eq!(again.to_json(), json);
        assert_eq!(frame.verify(&key).is_ok(), again.verify(&key).is_ok());
    }
});
