#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The store: reopen, the lock, the identity key file, the queue, and crash safety of the
//! ledger under SIGKILL.

use core::time::Duration;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use talos_crypto::key_file::KdfParams;
use talos_crypto::{ChaCha20Rng, SeedableRng, Timestamp};
use talos_ledger::merkle::{MerkleLog, leaf_hash, verify_inclusion};
use talos_node::identity::{Identity, IdentityError, Protection, passphrase_from_value};
use talos_node::store::{Batch, Direction, HistoryEntry, Queued, Status, Store, StoreError};
use talos_wire::MessageId;

/// Runs `f` on a thread and fails the test if it takes longer than `secs`.
fn bounded(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {secs} s"),
    }
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

fn fast_params() -> KdfParams {
    KdfParams::new(64, 1, 1).unwrap()
}

const ALICE: &str = "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG";
const BOB: &str = "did:key:z6MkfrQREVs8qh4jDoiTNwHtXq3jB2rMoTtWUbxZ9kLyGSdE";

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

fn id(r: &mut ChaCha20Rng, at: Timestamp) -> MessageId {
    MessageId::generate(at, r)
}

fn entry(r: &mut ChaCha20Rng, peer: &str, at: u64, dir: Direction, body: &str) -> HistoryEntry {
    HistoryEntry {
        id: id(r, ts(at)),
        peer: peer.to_owned(),
        direction: dir,
        timestamp: ts(at),
        status: if dir == Direction::Incoming {
            Status::Received
        } else {
            Status::Pending
        },
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn reopen_finds_everything() {
    bounded(60, || {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rng(1);
        let identity = Identity::generate(&mut r);
        let file = identity
            .to_key_file(&mut r, Protection::Passphrase(b"pw", fast_params()))
            .unwrap();
        let prekeys = talos_ratchet::PrekeyStore::new(identity.signing_key().clone(), &mut r);
        let sealed = identity.seal_prekeys(&mut r, &prekeys).unwrap();

        // Out of time order on purpose: history sorts by timestamp.
        let m3 = entry(&mut r, ALICE, 30, Direction::Outgoing, "third");
        let m1 = entry(&mut r, ALICE, 10, Direction::Incoming, "first");
        let m2 = entry(&mut r, BOB, 20, Direction::Incoming, "second");
        let q1 = Queued {
            id: m3.id,
            peer: ALICE.to_owned(),
            next_attempt: ts(100),
            deadline: ts(10_000),
            attempts: 0,
            payload: b"third".to_vec(),
        };
        let cap = [7u8; 32];

        let (root, size, proof_index) = {
            let store = Store::open(dir.path()).unwrap();
            store.put_identity(&file).unwrap();
            store.put_prekeys(&sealed).unwrap();
            store
                .commit(
                    Batch::new()
                        .put_session(ALICE, b"alice session v1")
                        .put_message(m1.clone()),
                )
                .unwrap();
            store.put_session(ALICE, b"alice session v2").unwrap();
            store.put_session(BOB, b"bob session").unwrap();
            store.put_message(m2.clone()).unwrap();
            store
                .commit(Batch::new().put_message(m3.clone()).enqueue(q1.clone()))
                .unwrap();
            store.put_revocation(&cap, b"revocation bytes").unwrap();

            let mut ledger = store.ledger().unwrap();
            for i in 0..37u32 {
                assert_eq!(
                    ledger
                        .append_entry(format!("entry {i}").as_bytes())
                        .unwrap(),
                    u64::from(i)
                );
            }
            (ledger.root(), ledger.size(), 13u64)
        };

        let store = Store::open(dir.path()).unwrap();
        // Identity and prekeys.
        let file = store.identity().unwrap().unwrap();
        let again = Identity::from_key_file(&file, Some(b"pw")).unwrap();
        assert_eq!(again.did(), identity.did());
        let sealed = store.prekeys().unwrap().unwrap();
        let opened = again.open_prekeys(&sealed).unwrap();
        assert_eq!(opened.signed_prekey(), prekeys.signed_prekey());
        // Sessions.
        assert_eq!(
            store.session(ALICE).unwrap().unwrap().as_slice(),
            b"alice session v2"
        );
        // In DID order.
        assert_eq!(
            store.sessions().unwrap(),
            vec![BOB.to_owned(), ALICE.to_owned()]
        );
        store.remove_session(BOB).unwrap();
        assert!(store.session(BOB).unwrap().is_none());
        // History.
        assert_eq!(
            store.history(None).unwrap(),
            vec![m1.clone(), m2.clone(), m3.clone()]
        );
        assert_eq!(store.history(Some(ALICE)).unwrap(), vec![m1, m3.clone()]);
        assert_eq!(store.history(Some(BOB)).unwrap(), vec![m2]);
        assert!(store.set_status(m3.id, Status::Delivered).unwrap());
        assert_eq!(
            store.message(m3.id).unwrap().unwrap().status,
            Status::Delivered
        );
        // Queue.
        assert_eq!(store.queued().unwrap(), vec![q1.clone()]);
        assert!(store.remove_queued(q1.id).unwrap());
        assert!(!store.remove_queued(q1.id).unwrap());
        assert!(store.queued().unwrap().is_empty());
        // Revocations.
        assert_eq!(
            store.revocation(&cap).unwrap().unwrap(),
            b"revocation bytes"
        );
        assert_eq!(store.revocations().unwrap().len(), 1);
        // Ledger: same size and root, an inclusion proof from the reopened log verifies, and
        // appending continues.
        let mut ledger = store.ledger().unwrap();
        assert_eq!(ledger.size(), size);
        assert_eq!(ledger.root(), root);
        let proof = ledger.log().inclusion_proof(proof_index, size).unwrap();
        let leaf = leaf_hash(&ledger.entry(proof_index).unwrap().unwrap());
        verify_inclusion(proof_index, size, &leaf, &proof, &root).unwrap();
        assert_eq!(ledger.append_entry(b"after reopen").unwrap(), size);
        assert_eq!(ledger.entry(size).unwrap().unwrap(), b"after reopen");
        assert_eq!(recompute(&ledger), ledger.root());
    });
}

/// The root of an in-memory log over the stored entries.
fn recompute(ledger: &talos_node::store::Ledger) -> [u8; 32] {
    let mut log = MerkleLog::new();
    for i in 0..ledger.size() {
        log.append(&ledger.entry(i).unwrap().unwrap()).unwrap();
    }
    log.root()
}

#[test]
fn lock_excludes_a_second_open_until_dropped() {
    bounded(30, || {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::Locked(_))
        ));
        // A ledger keeps the lock too.
        let ledger = store.ledger().unwrap();
        drop(store);
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::Locked(_))
        ));
        drop(ledger);
        let again = Store::open(dir.path()).unwrap();
        drop(again);
        Store::open(dir.path()).unwrap();
    });
}

#[test]
fn in_memory_store_works() {
    bounded(30, || {
        let store = Store::in_memory().unwrap();
        assert!(store.dir().is_none());
        store.put_session(ALICE, b"s").unwrap();
        assert_eq!(store.session(ALICE).unwrap().unwrap().as_slice(), b"s");
        let mut ledger = store.ledger().unwrap();
        ledger.append_entry(b"a").unwrap();
        assert_eq!(store.ledger().unwrap().size(), 1);
        // Two logs over one store: the stale one's append is refused, not merged.
        let mut stale = store.ledger().unwrap();
        ledger.append_entry(b"b").unwrap();
        assert!(stale.append_entry(b"c").is_err());
        assert_eq!(store.ledger().unwrap().size(), 2);
        assert!(matches!(
            store.put_session("", b"x"),
            Err(StoreError::InvalidPeer { .. })
        ));
    });
}

#[test]
fn identity_round_trip_and_wrong_passphrase() {
    bounded(60, || {
        let store = Store::in_memory().unwrap();
        let mut r = rng(2);
        let identity = Identity::generate(&mut r);
        assert!(identity.did().to_string().starts_with("did:key:z6Mk"));
        assert!(!format!("{identity:?}").contains(&format!(
            "{:?}",
            identity.signing_key().to_seed().as_slice()
        )));

        let file = identity
            .to_key_file(
                &mut r,
                Protection::Passphrase(b"correct horse", fast_params()),
            )
            .unwrap();
        assert!(file.is_encrypted());
        assert!(store.identity().unwrap().is_none());
        store.create_identity(&file).unwrap();
        assert!(matches!(
            store.create_identity(&file),
            Err(StoreError::IdentityExists)
        ));
        let file = store.identity().unwrap().unwrap();

        let loaded = Identity::from_key_file(&file, Some(b"correct horse")).unwrap();
        assert_eq!(loaded.verifying_key(), identity.verifying_key());
        let err = Identity::from_key_file(&file, Some(b"wrong")).unwrap_err();
        assert!(matches!(err, IdentityError::WrongPassphrase));
        assert!(err.to_string().contains("wrong passphrase"));
        let err = Identity::from_key_file(&file, None).unwrap_err();
        assert!(matches!(err, IdentityError::PassphraseNeeded));
        assert!(err.to_string().contains("TALOS_PASSPHRASE"));

        // No passphrase at all: in clear, and it opens without one.
        let clear = identity
            .to_key_file(&mut r, Protection::Unencrypted)
            .unwrap();
        assert!(!clear.is_encrypted());
        let loaded = Identity::from_key_file_bytes(&clear.to_bytes(), None).unwrap();
        assert_eq!(loaded.did(), identity.did());
        // An empty passphrase is refused rather than silently protecting nothing.
        assert!(
            identity
                .to_key_file(&mut r, Protection::Passphrase(b"", fast_params()))
                .is_err()
        );

        // The environment variable's value.
        assert!(matches!(
            passphrase_from_value(None),
            Err(IdentityError::PassphraseNeeded)
        ));
        assert!(matches!(
            passphrase_from_value(Some("".into())),
            Err(IdentityError::PassphraseNeeded)
        ));
        assert_eq!(
            passphrase_from_value(Some("s3cret".into()))
                .unwrap()
                .as_slice(),
            b"s3cret"
        );

        // Sealed data: bound to the identity and the label.
        let sealed = identity.seal(&mut r, b"label", b"secret bytes").unwrap();
        assert_eq!(
            identity.open(b"label", &sealed).unwrap().as_slice(),
            b"secret bytes"
        );
        assert!(identity.open(b"other", &sealed).is_err());
        let other = Identity::generate(&mut r);
        assert!(other.open(b"label", &sealed).is_err());
        assert!(identity.open(b"label", &sealed[..10]).is_err());
        assert!(identity.open(b"label", &[]).is_err());
    });
}

#[test]
fn queue_due_and_reschedule_order() {
    bounded(30, || {
        let store = Store::in_memory().unwrap();
        let mut r = rng(3);
        let mut queued = |at: u64, next: u64| Queued {
            id: id(&mut r, ts(at)),
            peer: BOB.to_owned(),
            next_attempt: ts(next),
            deadline: ts(next + 1_000),
            attempts: 0,
            payload: format!("m{at}").into_bytes(),
        };
        let a = queued(1, 300);
        let b = queued(2, 100);
        let c = queued(3, 200);
        for q in [&a, &b, &c] {
            store.enqueue(q.clone()).unwrap();
        }
        let ids = |v: Vec<Queued>| v.into_iter().map(|q| q.id).collect::<Vec<_>>();
        assert!(store.due(ts(99)).unwrap().is_empty());
        assert_eq!(ids(store.due(ts(100)).unwrap()), vec![b.id]);
        assert_eq!(ids(store.due(ts(250)).unwrap()), vec![b.id, c.id]);
        assert_eq!(ids(store.due(ts(1_000)).unwrap()), vec![b.id, c.id, a.id]);

        // b failed: try again after everything else.
        assert!(store.reschedule(b.id, ts(400)).unwrap());
        assert_eq!(ids(store.due(ts(350)).unwrap()), vec![c.id, a.id]);
        let all = store.due(ts(1_000)).unwrap();
        assert_eq!(ids(all.clone()), vec![c.id, a.id, b.id]);
        let b2 = all.last().unwrap();
        assert_eq!(b2.attempts, 1);
        assert_eq!(b2.next_attempt, ts(400));
        assert!(b2.is_expired(ts(1_100)));
        assert!(!b2.is_expired(ts(1_099)));

        // Delivered: removed from the queue and marked in the history in one transaction.
        store
            .put_message(HistoryEntry {
                id: c.id,
                peer: BOB.to_owned(),
                direction: Direction::Outgoing,
                timestamp: ts(3),
                status: Status::Pending,
                body: b"m3".to_vec(),
            })
            .unwrap();
        store
            .commit(
                Batch::new()
                    .remove_queued(c.id)
                    .set_status(c.id, Status::Delivered),
            )
            .unwrap();
        assert_eq!(ids(store.queued().unwrap()), vec![a.id, b.id]);
        assert_eq!(
            store.message(c.id).unwrap().unwrap().status,
            Status::Delivered
        );
        assert!(!store.reschedule(c.id, ts(5)).unwrap());
    });
}

/// The environment variable that turns `crash_writer_child` into the writer.
const CRASH_DIR_ENV: &str = "TALOS_STORE_TEST_CRASH_DIR";
/// Entries the writer appends before it reports that it is running.
const WARMUP: u64 = 20;

fn crash_entry(i: u64) -> Vec<u8> {
    format!(
        "crash test entry {i} {}",
        "x".repeat(usize::try_from(i % 97).unwrap())
    )
    .into_bytes()
}

/// Not a test on its own: with [`CRASH_DIR_ENV`] set, the child process of
/// `ledger_survives_sigkill`, appending until it is killed.
#[test]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&dir)).unwrap();
    let mut ledger = store.ledger().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let start = ledger.size();
    let mut i = start;
    while Instant::now() < deadline {
        assert_eq!(ledger.append_entry(&crash_entry(i)).unwrap(), i);
        // Acknowledged only after the append returned: the parent checks it survives.
        println!("\ncommitted {i}");
        i += 1;
        if i - start == WARMUP {
            println!("\nwriter ready");
        }
    }
}

#[test]
fn ledger_survives_sigkill() {
    bounded(120, || {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..3 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "crash_writer_child",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CRASH_DIR_ENV, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // A reader thread follows the child's output: "writer ready" once, then the
            // highest index acknowledged as committed. (The harness prints "test
            // crash_writer_child ... " before the test's own output, hence the newlines.)
            let stdout = child.stdout.take().unwrap();
            let (ready_tx, ready_rx) = mpsc::channel();
            let reader = std::thread::spawn(move || {
                let mut acked: Option<u64> = None;
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("writer ready") {
                        let _ = ready_tx.send(());
                    } else if let Some(n) = line.strip_prefix("committed ") {
                        acked = Some(n.trim().parse().unwrap());
                    }
                }
                acked
            });
            if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
                let _ = child.kill();
                panic!("the writer never became ready");
            }
            // Let it append for a while, then kill it mid-append (SIGKILL on Unix).
            std::thread::sleep(Duration::from_millis(150 + 100 * round));
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success());
            let acked = reader.join().unwrap().expect("no acknowledged append");

            let store = Store::open(dir.path()).unwrap();
            let ledger = store.ledger().unwrap();
            let size = ledger.size();
            eprintln!("round {round}: reopened at size {size}, last acknowledged {acked}");
            assert!(size >= WARMUP * (round + 1), "round {round}: size {size}");
            assert!(size > acked, "acknowledged entry {acked} lost: size {size}");
            for i in 0..size {
                assert_eq!(
                    ledger.entry(i).unwrap().unwrap(),
                    crash_entry(i),
                    "entry {i}"
                );
            }
            assert!(
                ledger.entry(size).unwrap().is_none(),
                "an entry past the size"
            );
            assert_eq!(recompute(&ledger), ledger.root());
            let last = size - 1;
            let proof = ledger.log().inclusion_proof(last, size).unwrap();
            verify_inclusion(
                last,
                size,
                &leaf_hash(&crash_entry(last)),
                &proof,
                &ledger.root(),
            )
            .unwrap();
        }
    });
}
