#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The light client: trust on first checkpoint, inclusion, consistent updates, equivocation.

use proptest::prelude::*;
use talos_ledger::checkpoint::{Checkpoint, CheckpointSigner};
use talos_ledger::crypto::SigningKey;
use talos_ledger::light::{LightClient, LightError, Update};
use talos_ledger::merkle::{Hash, MerkleLog, leaf_hash};
use talos_ledger::note::{Note, NoteSigner};

const ORIGIN: &str = "example.com/log";

fn log_of(n: u64, salt: u8) -> MerkleLog {
    let mut log = MerkleLog::new();
    for i in 0..n {
        log.append(&[salt, i as u8, (i >> 8) as u8]).unwrap();
    }
    log
}

fn key() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

/// A signed checkpoint of `log` by the log key, bypassing the signer's own consistency guard
/// (to model a misbehaving log).
fn signed(log: &MerkleLog) -> Vec<u8> {
    let cp = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap();
    let mut note = Note::new(cp.to_text()).unwrap();
    note.sign(&NoteSigner::new(ORIGIN, key()).unwrap()).unwrap();
    note.to_bytes()
}

fn client() -> LightClient {
    let mut c = LightClient::new(4);
    c.add_log_key(CheckpointSigner::new(ORIGIN, key()).unwrap().verifier())
        .unwrap();
    c
}

#[test]
fn inclusion_and_updates() {
    let mut c = client();
    let log = log_of(10, 0);
    assert!(matches!(
        c.verify_entry(ORIGIN, &[0, 3, 0], 3, &[]),
        Err(LightError::NoCheckpoint(_))
    ));
    assert_eq!(c.update(&signed(&log), &[]).unwrap(), Update::Trusted);
    for i in 0..10u64 {
        let proof = log.inclusion_proof(i, 10).unwrap();
        c.verify_entry(ORIGIN, &[0, i as u8, 0], i, &proof).unwrap();
        assert!(c.verify_entry(ORIGIN, &[1, i as u8, 0], i, &proof).is_err());
    }
    let log2 = log_of(25, 0);
    assert_eq!(
        c.update(&signed(&log2), &log2.consistency_proof(10, 25).unwrap())
            .unwrap(),
        Update::Advanced
    );
    assert_eq!(c.checkpoint(ORIGIN).unwrap().size, 25);
    assert_eq!(c.update(&signed(&log2), &[]).unwrap(), Update::Unchanged);
    // An older consistent checkpoint changes nothing.
    assert_eq!(
        c.update(&signed(&log), &log2.consistency_proof(10, 25).unwrap())
            .unwrap(),
        Update::Older
    );
    assert_eq!(c.checkpoint(ORIGIN).unwrap().size, 25);
    let leaf = leaf_hash(&[0, 20, 0]);
    c.verify_inclusion(ORIGIN, &leaf, 20, &log2.inclusion_proof(20, 25).unwrap())
        .unwrap();
}

#[test]
fn rejects_unknown_and_forged() {
    let mut c = client();
    let log = log_of(3, 0);
    // Signed by another key under the same name.
    let cp = Checkpoint::new(ORIGIN, 3, log.root()).unwrap();
    let mut note = Note::new(cp.to_text()).unwrap();
    note.sign(&NoteSigner::new(ORIGIN, SigningKey::from_seed(&[8; 32])).unwrap())
        .unwrap();
    assert!(matches!(
        c.update(&note.to_bytes(), &[]),
        Err(LightError::Checkpoint(_))
    ));
    // Unknown origin.
    let cp = Checkpoint::new("other.example", 3, log.root()).unwrap();
    let mut note = Note::new(cp.to_text()).unwrap();
    note.sign(&NoteSigner::new("other.example", key()).unwrap())
        .unwrap();
    assert!(matches!(
        c.update(&note.to_bytes(), &[]),
        Err(LightError::Checkpoint(_))
    ));
    assert!(c.checkpoint(ORIGIN).is_none());
    // Bounded key table.
    for i in 0..3u8 {
        c.add_log_key(NoteSigner::new(&format!("l{i}"), key()).unwrap().verifier())
            .unwrap();
    }
    assert!(matches!(
        c.add_log_key(NoteSigner::new("l9", key()).unwrap().verifier()),
        Err(LightError::TooManyLogs(4))
    ));
}

#[test]
fn detects_equivocation() {
    let mut c = client();
    let a = log_of(8, 0);
    c.update(&signed(&a), &[]).unwrap();
    // Same size, different root: self-contained evidence.
    let b = log_of(8, 1);
    match c.update(&signed(&b), &[]) {
        Err(LightError::Equivocation {
            evidence,
            size_a: 8,
            size_b: 8,
            ..
        }) => {
            assert_eq!(evidence.a.to_bytes(), signed(&a));
            assert_eq!(evidence.b.to_bytes(), signed(&b));
            let ca = Checkpoint::parse(evidence.a.text()).unwrap();
            let cb = Checkpoint::parse(evidence.b.text()).unwrap();
            assert_eq!(ca.size, cb.size);
            assert_ne!(ca.root, cb.root);
        }
        other => panic!("expected equivocation, got {other:?}"),
    }
    // Larger fork with its own (failing) proof.
    let fork = log_of(12, 1);
    assert!(matches!(
        c.update(&signed(&fork), &fork.consistency_proof(8, 12).unwrap()),
        Err(LightError::Equivocation { .. })
    ));
    // The held checkpoint did not change.
    assert_eq!(c.checkpoint(ORIGIN).unwrap().root, a.root());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever sequence of (possibly forked) signed checkpoints and proofs arrives, the held
    /// checkpoint is always a prefix of the honest log, once trusted from it.
    #[test]
    fn never_accepts_inconsistent(
        steps in proptest::collection::vec((1u64..200, any::<bool>(), any::<bool>()), 1..12),
    ) {
        let honest = log_of(200, 0);
        let forked = log_of(200, 1);
        let mut c = client();
        c.update(&signed(&log_of(1, 0)), &[]).unwrap();
        for (size, fork, use_honest_proof) in steps {
            let held = c.checkpoint(ORIGIN).unwrap().size;
            let src = if fork { log_of(size, 1) } else { log_of(size, 0) };
            let (lo, hi) = (held.min(size), held.max(size));
            let proof: Vec<Hash> = if lo == hi {
                vec![]
            } else if use_honest_proof {
                honest.consistency_proof(lo, hi).unwrap()
            } else {
                forked.consistency_proof(lo, hi).unwrap()
            };
            let _ = c.update(&signed(&src), &proof);
            let now = c.checkpoint(ORIGIN).unwrap();
            prop_assert_eq!(now.root, honest.root_at(now.size).unwrap());
        }
    }
}

#[test]
fn anchors_are_checked_against_the_held_checkpoint() {
    use talos_ledger::entry::Anchor;
    use talos_ledger::validate::AnchorCheck;

    let mut log = MerkleLog::new();
    let mut signer =
        CheckpointSigner::new("example.com/other", SigningKey::from_seed(&[9; 32])).unwrap();
    let mut client = LightClient::new(4);
    client.add_log_key(signer.verifier()).unwrap();
    log.append(b"x").unwrap();
    log.append(b"y").unwrap();
    let note = signer.sign_log(&log).unwrap();
    client.update(&note.to_bytes(), &[]).unwrap();
    let anchor = |note: &Note, size, root| Anchor {
        origin: "example.com/other".into(),
        size,
        root,
        note: String::from_utf8(note.to_bytes()).unwrap(),
    };

    assert!(client.is_known("example.com/other"));
    assert!(!client.is_known("example.com/unknown"));
    assert_eq!(client.check(&anchor(&note, 2, log.root())), Ok(()));
    // The anchor must say what the signed note says.
    assert!(client.check(&anchor(&note, 3, log.root())).is_err());
    assert!(client.check(&anchor(&note, 2, [0; 32])).is_err());

    // A note from another key claiming the same origin is refused.
    let mut forger =
        CheckpointSigner::new("example.com/other", SigningKey::from_seed(&[8; 32])).unwrap();
    let mut fork = MerkleLog::new();
    fork.append(b"x").unwrap();
    fork.append(b"z").unwrap();
    let forged = forger.sign_log(&fork).unwrap();
    assert!(client.check(&anchor(&forged, 2, fork.root())).is_err());

    // The log itself equivocating at the size we hold is refused; a later size passes on its
    // signature alone.
    let mut equivocating =
        CheckpointSigner::new("example.com/other", SigningKey::from_seed(&[9; 32])).unwrap();
    let other = equivocating.sign_log(&fork).unwrap();
    assert!(client.check(&anchor(&other, 2, fork.root())).is_err());
    log.append(b"w").unwrap();
    let later = signer.sign_log(&log).unwrap();
    assert_eq!(client.check(&anchor(&later, 3, log.root())), Ok(()));
}
