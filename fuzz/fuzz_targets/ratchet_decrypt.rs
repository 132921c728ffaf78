//! Arbitrary bytes as a message (CBOR and upstream JSON) into `decrypt` on a live talos-v2
//! session: a refused message leaves the session byte-for-byte as it was, and what decodes
//! re-encodes to itself. The session is Bob's after an X3DH start from fixed seeds; the seed
//! corpus holds Alice's next messages, so the decrypt paths past the decoders run too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use talos_ratchet::message::Message;
use talos_ratchet::session::Session;
use talos_ratchet::snapshot::SessionSnapshot;

fn bob() -> &'static SessionSnapshot {
    static BOB: OnceLock<SessionSnapshot> = OnceLock::new();
    BOB.get_or_init(|| talos_fuzz::ratchet_fixture().bob.snapshot())
}

fn check(message: &Message) {
    let mut session = Session::restore(bob());
    let before = session.snapshot().to_bytes();
    if session.decrypt(message).is_err() {
        assert_eq!(
            session.snapshot().to_bytes(),
            before,
            "a refused message changed the session"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::from_cbor(data) {
        assert_eq!(message.to_cbor(), data);
        check(&message);
    }
    if let Ok(message) = Message::from_json(data) {
        assert_eq!(
            Message::from_json(&message.to_json()).as_ref(),
            Ok(&message)
        );
        check(&message);
    }
});
