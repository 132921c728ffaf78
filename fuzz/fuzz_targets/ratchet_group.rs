//! Sender-key group decoders take any bytes: group messages and distributions re-encode to
//! themselves, and a message or distribution that a member refuses leaves its session as it
//! was; group snapshots that decode restore without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use talos_crypto::Zeroizing;
use talos_ratchet::group::{GroupMessage, GroupSession, GroupSnapshot, SenderKeyDistribution};

/// Member 1's session, which reads what members 0 and 2 send.
fn reader() -> &'static Zeroizing<Vec<u8>> {
    static READER: OnceLock<Zeroizing<Vec<u8>>> = OnceLock::new();
    READER.get_or_init(|| talos_fuzz::group_fixture()[1].snapshot().to_bytes())
}

fn session() -> GroupSession {
    GroupSession::restore(&GroupSnapshot::from_bytes(reader()).expect("own snapshot"))
        .expect("own snapshot")
}

fn unchanged(session: &GroupSession) {
    assert_eq!(
        &session.snapshot().to_bytes()[..],
        &reader()[..],
        "a refusal changed the session"
    );
}

fn decrypt(message: &GroupMessage) {
    let mut session = session();
    if session.decrypt(message).is_err() {
        unchanged(&session);
    }
}

fn distribute(distribution: &SenderKeyDistribution) {
    let mut session = session();
    let from = *distribution.sender();
    if session.handle_distribution(&from, distribution).is_err() {
        unchanged(&session);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = GroupMessage::from_cbor(data) {
        assert_eq!(message.to_cbor(), data);
        decrypt(&message);
    }
    if let Ok(message) = GroupMessage::from_json(data) {
        assert_eq!(
            GroupMessage::from_json(&message.to_json()).as_ref(),
            Ok(&message)
        );
        decrypt(&message);
    }
    if let Ok(distribution) = SenderKeyDistribution::from_cbor(data) {
        assert_eq!(&distribution.to_cbor()[..], data);
        distribute(&distribution);
    }
    if let Ok(distribution) = SenderKeyDistribution::from_json(data) {
        distribute(&distribution);
    }
    if let Ok(snapshot) = GroupSnapshot::from_bytes(data) {
        let _ = GroupSession::restore(&snapshot);
    }
});
