#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! C2SP checkpoints: strict parsing, a signer that refuses inconsistent checkpoints, and a
//! witness that cosigns only consistent ones.

use talos_ledger::checkpoint::{Checkpoint, CheckpointError, CheckpointSigner, TreeHead, Witness};
use talos_ledger::crypto::SigningKey;
use talos_ledger::merkle::{EMPTY_ROOT, MerkleLog};
use talos_ledger::note::{Note, NoteSigner};

const ORIGIN: &str = "example.com/log42";

fn log_of(n: u64, salt: u8) -> MerkleLog {
    let mut log = MerkleLog::new();
    for i in 0..n {
        log.append(&[salt, i as u8, (i >> 8) as u8]).unwrap();
    }
    log
}

fn signer() -> CheckpointSigner {
    CheckpointSigner::new(ORIGIN, SigningKey::from_seed(&[1; 32])).unwrap()
}

#[test]
fn parse_and_serialise() {
    let root = log_of(5, 0).root();
    let mut cp = Checkpoint::new(ORIGIN, 5, root).unwrap();
    let text = cp.to_text();
    assert!(text.starts_with("example.com/log42\n5\n"));
    assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
    cp.extensions.push("ext line".to_owned());
    assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
    let zero = Checkpoint::new(ORIGIN, 0, EMPTY_ROOT).unwrap();
    assert_eq!(Checkpoint::parse(&zero.to_text()).unwrap().size, 0);
}

#[test]
fn strict_parse_rejects() {
    let root = talos_ledger::crypto::hash::sha256(b"");
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(root)
    };
    let bad = [
        format!("{ORIGIN}\n5\n{b64}"),                      // no final newline
        format!("{ORIGIN}\n05\n{b64}\n"),                   // leading zero
        format!("{ORIGIN}\n+5\n{b64}\n"),                   // sign
        format!("{ORIGIN}\n5 \n{b64}\n"),                   // space
        format!("{ORIGIN}\n\n{b64}\n"),                     // empty size
        format!("{ORIGIN}\n18446744073709551616\n{b64}\n"), // overflow
        format!("{ORIGIN}\n5\n{}\n", &b64[..40]),           // short root
        format!("{ORIGIN}\n5\nAAAA\n"),                     // 3-byte root
        format!("{ORIGIN}\n5\n{}\n", b64.trim_end_matches('=')), // unpadded
        format!("\n5\n{b64}\n"),                            // empty origin
        format!("exa mple\n5\n{b64}\n"),                    // space in origin
        format!("{ORIGIN}\n5\n{b64}\n\n"),                  // empty extension line
        format!("{ORIGIN}\n5\n"),                           // no root
        format!("{ORIGIN}\n5\n{b64}\n{}", "e\n".repeat(17)), // too many extensions
    ];
    for (i, text) in bad.iter().enumerate() {
        assert!(Checkpoint::parse(text).is_err(), "case {i}: {text:?}");
    }
    assert!(Checkpoint::parse(&format!("{ORIGIN}\n0\n{b64}\n")).is_ok());
}

#[test]
fn signer_signs_growing_log_and_opens() {
    let mut s = signer();
    let mut log = log_of(3, 0);
    let n1 = s.sign_log(&log).unwrap();
    let (cp, _) = Checkpoint::open(&n1.to_bytes(), &[s.verifier()]).unwrap();
    assert_eq!(cp.size, 3);
    assert_eq!(cp.root, log.root());
    for i in 0..10u8 {
        log.append(&[9, i]).unwrap();
        s.sign_log(&log).unwrap();
    }
    assert_eq!(
        s.last_signed(),
        Some(TreeHead {
            size: 13,
            root: log.root()
        })
    );
    // Re-signing the same tree is fine.
    s.sign_log(&log).unwrap();
    // Open with another origin's key fails.
    let other =
        CheckpointSigner::new("other.example/log", SigningKey::from_seed(&[5; 32])).unwrap();
    assert!(Checkpoint::open(&n1.to_bytes(), &[other.verifier()]).is_err());
}

#[test]
fn signer_refuses_inconsistent() {
    let mut s = signer();
    let log = log_of(8, 0);
    s.sign_log(&log).unwrap();
    // A smaller tree: rollback.
    assert!(matches!(
        s.sign_log(&log_of(5, 0)),
        Err(CheckpointError::Log(_) | CheckpointError::Rollback { .. })
    ));
    let cp5 = Checkpoint::new(ORIGIN, 5, log.root_at(5).unwrap()).unwrap();
    assert!(matches!(
        s.sign(&cp5, &[]),
        Err(CheckpointError::Rollback { .. })
    ));
    // Same size, another root.
    let forked = log_of(8, 1);
    assert!(matches!(
        s.sign_log(&forked),
        Err(CheckpointError::Inconsistent { .. })
    ));
    // A larger fork: its own consistency proof does not start from our root.
    let forked = log_of(12, 1);
    assert!(matches!(
        s.sign_log(&forked),
        Err(CheckpointError::Inconsistent { .. })
    ));
    let cp12 = Checkpoint::new(ORIGIN, 12, forked.root()).unwrap();
    let proof = forked.consistency_proof(8, 12).unwrap();
    assert!(matches!(
        s.sign(&cp12, &proof),
        Err(CheckpointError::Inconsistent { .. })
    ));
    // Without a proof.
    let good = log_of(12, 0);
    let cp = Checkpoint::new(ORIGIN, 12, good.root()).unwrap();
    assert!(s.sign(&cp, &[]).is_err());
    // Wrong origin.
    let cp = Checkpoint::new("other.example", 12, good.root()).unwrap();
    assert!(matches!(
        s.sign(&cp, &good.consistency_proof(8, 12).unwrap()),
        Err(CheckpointError::WrongOrigin(_))
    ));
    // The refusals did not move the state; the real extension still signs.
    assert_eq!(s.last_signed().unwrap().size, 8);
    let cp = Checkpoint::new(ORIGIN, 12, good.root()).unwrap();
    s.sign(&cp, &good.consistency_proof(8, 12).unwrap())
        .unwrap();
}

#[test]
fn signer_state_survives_restart() {
    let mut s = signer();
    s.sign_log(&log_of(8, 0)).unwrap();
    let state = s.last_signed().unwrap().to_bytes();
    assert!(TreeHead::from_bytes(&state[..39]).is_err());
    assert!(TreeHead::from_bytes(&[state.as_slice(), &[0]].concat()).is_err());
    let mut restarted = signer();
    restarted.restore_last_signed(Some(TreeHead::from_bytes(&state).unwrap()));
    assert!(restarted.sign_log(&log_of(8, 1)).is_err());
    restarted.sign_log(&log_of(9, 0)).unwrap();
}

#[test]
fn witness_cosigns_only_consistent() {
    let mut s = signer();
    let wkey = NoteSigner::new("witness.example/w1", SigningKey::from_seed(&[2; 32])).unwrap();
    let mut w = Witness::new(wkey.clone(), 1);
    // Unknown log.
    let log = log_of(4, 0);
    let n4 = s.sign_log(&log).unwrap();
    assert!(matches!(
        w.cosign(&n4.to_bytes(), &[]),
        Err(CheckpointError::UnknownOrigin(_))
    ));
    w.add_log(s.verifier()).unwrap();
    // Bounded.
    let other = CheckpointSigner::new("b.example", SigningKey::from_seed(&[4; 32])).unwrap();
    assert!(matches!(
        w.add_log(other.verifier()),
        Err(CheckpointError::TooManyLogs(1))
    ));

    let cosigned = w.cosign(&n4.to_bytes(), &[]).unwrap();
    let keys = [s.verifier(), w.verifier()];
    assert_eq!(cosigned.verify(&keys).unwrap().len(), 2);
    assert_eq!(w.last_seen(ORIGIN).unwrap().size, 4);

    // Consistent growth with a proof.
    let log7 = log_of(7, 0);
    let n7 = s.sign_log(&log7).unwrap();
    assert!(w.cosign(&n7.to_bytes(), &[]).is_err()); // no proof
    w.cosign(&n7.to_bytes(), &log7.consistency_proof(4, 7).unwrap())
        .unwrap();

    // A fork signed by the log key (a compromised or buggy log) is refused.
    let mut rogue = signer();
    let fork = log_of(9, 1);
    let nf = rogue.sign_log(&fork).unwrap();
    assert!(matches!(
        w.cosign(&nf.to_bytes(), &fork.consistency_proof(7, 9).unwrap()),
        Err(CheckpointError::Inconsistent { .. })
    ));
    // An older checkpoint is refused.
    assert!(matches!(
        w.cosign(&n4.to_bytes(), &[]),
        Err(CheckpointError::Rollback { .. })
    ));
    // A checkpoint not signed by the log key.
    let mut forged = Note::new(
        Checkpoint::new(ORIGIN, 10, log_of(10, 0).root())
            .unwrap()
            .to_text(),
    )
    .unwrap();
    forged.sign(&wkey).unwrap();
    assert!(w.cosign(&forged.to_bytes(), &[]).is_err());
    assert_eq!(w.last_seen(ORIGIN).unwrap().size, 7);
}
