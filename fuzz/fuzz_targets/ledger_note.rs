//! Signed notes and checkpoints from arbitrary bytes: parsing never panics; a note that parses
//! serialises back to the same bytes; verification with the fixed keys either fails or names
//! only keys whose signatures are present; a checkpoint body that parses round-trips; the
//! witness and light client either accept or refuse without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_ledger::checkpoint::{Checkpoint, Witness};
use talos_ledger::crypto::SigningKey;
use talos_ledger::light::LightClient;
use talos_ledger::note::{Note, NoteSigner, NoteVerifier};

const PETER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|data: &[u8]| {
    // Key strings.
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(v) = NoteVerifier::from_vkey(text) {
            assert_eq!(NoteVerifier::from_vkey(&v.to_vkey()).ok(), Some(v));
        }
        if let Ok(s) = NoteSigner::from_skey(text) {
            let again = NoteSigner::from_skey(&s.to_skey()).unwrap();
            assert_eq!(again.verifier(), s.verifier());
        }
        if let Ok(cp) = Checkpoint::parse(text) {
            assert_eq!(cp.to_text(), text);
        }
    }
    let Ok(note) = Note::parse(data) else {
        return;
    };
    assert_eq!(note.to_bytes(), data);
    let log_signer = NoteSigner::new("example.com/log", SigningKey::from_seed(&[1; 32])).unwrap();
    let keys = [
        NoteVerifier::from_vkey(PETER).unwrap(),
        log_signer.verifier(),
    ];
    if let Ok(by) = note.verify(&keys) {
        assert!(!by.is_empty());
        for v in by {
            assert!(note.is_signed_by(v));
        }
    }
    // Witness and light client over the same bytes.
    let mut witness = Witness::new(
        NoteSigner::new("witness", SigningKey::from_seed(&[2; 32])).unwrap(),
        4,
    );
    witness.add_log(log_signer.verifier()).unwrap();
    let _ = witness.cosign(data, &[]);
    let mut client = LightClient::new(4);
    client.add_log_key(log_signer.verifier()).unwrap();
    let _ = client.update(data, &[]);
    let _ = client.update(data, &[]);
});
