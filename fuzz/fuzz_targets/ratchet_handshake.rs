//! X3DH/PQXDH decoders take any bytes: initial messages and prekey bundles re-encode to
//! themselves, prekey-store snapshots to a fixed point; an initial message that Bob refuses leaves his prekey
//! store as it was (no one-time prekey is consumed by a message that does not decrypt).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use talos_crypto::Zeroizing;
use talos_ratchet::prekeys::{PrekeyBundle, PrekeyStore};
use talos_ratchet::x3dh::{self, InitialMessage};

fn stored() -> &'static Zeroizing<Vec<u8>> {
    static STORE: OnceLock<Zeroizing<Vec<u8>>> = OnceLock::new();
    STORE.get_or_init(|| talos_fuzz::ratchet_fixture().store.to_snapshot())
}

fn respond(initial: &InitialMessage) {
    let mut store = PrekeyStore::from_snapshot(stored()).expect("own snapshot");
    if x3dh::respond(&mut store, initial).is_err() {
        assert_eq!(
            &store.to_snapshot()[..],
            &stored()[..],
            "a refused start changed the store"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(initial) = InitialMessage::from_cbor(data) {
        assert_eq!(initial.to_cbor(), data);
        respond(&initial);
    }
    if let Ok(initial) = InitialMessage::from_json(data) {
        assert_eq!(
            InitialMessage::from_json(&initial.to_json()).as_ref(),
            Ok(&initial)
        );
        respond(&initial);
    }
    if let Ok(bundle) = PrekeyBundle::from_cbor(data) {
        assert_eq!(bundle.to_cbor(), data);
        let _ = bundle.verify();
    }
    if let Ok(bundle) = PrekeyBundle::from_json(data) {
        assert_eq!(
            PrekeyBundle::from_json(&bundle.to_json()).as_ref(),
            Ok(&bundle)
        );
    }
    if let Ok(store) = PrekeyStore::from_snapshot(data) {
        // The decoder ignores unknown members (forward compatibility), so the input need not
        // be canonical; what it re-encodes to is a fixed point.
        let bytes = store.to_snapshot();
        let again = PrekeyStore::from_snapshot(&bytes).expect("own snapshot");
        assert_eq!(&again.to_snapshot()[..], &bytes[..]);
    }
});
