//! Session snapshots and sealed snapshots take any bytes: a snapshot that decodes re-encodes
//! to itself and restores to a session that can encrypt; `snapshot::open` never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use talos_ratchet::session::Session;
use talos_ratchet::snapshot::{self, SessionSnapshot};

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = SessionSnapshot::from_bytes(data) {
        assert_eq!(&snapshot.to_bytes()[..], data);
        let mut session = Session::restore(&snapshot);
        let _ = session.encrypt(b"after restore", &mut ChaCha20Rng::from_seed([0; 32]));
    }
    let _ = snapshot::open(&[9; 32], data);
});
