//! Strict base64url: `decode(encode(b)) == b` for any bytes, and every accepted text is the
//! one encoding of what it decodes to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::base64url;

fuzz_target!(|data: &[u8]| {
    assert_eq!(base64url::decode(&base64url::encode(data)).as_deref(), Ok(data));
    let Ok(text) = core::str::from_utf8(data) else { return };
    if let Ok(bytes) = base64url::decode(text) {
        assert_eq!(base64url::encode(&bytes), text, "accepted a non-canonical encoding");
    }
});
