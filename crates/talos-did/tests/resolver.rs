//! Resolution policy: the highest sequence number wins whatever the arrival order, TTL and
//! record expiry, the DID bound with least-recently-used eviction, and the Kademlia key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use core::time::Duration;

use proptest::prelude::*;
use talos_crypto::hash::sha256;
use talos_crypto::{SigningKey, Timestamp, x25519};
use talos_did::record::{DiscoveryRecord, Policy, Prekeys, RecordFields, SignedPrekey};
use talos_did::resolver::{Config, InsertError, Inserted, Resolver};
use talos_did::{DidKey, validate_batch};

const BASE: u64 = 1_768_178_601_000;
const SECOND: u64 = 1000;

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&[seed; 32])
}

/// A record of `identity` with `seq`; `variant` changes its content (an address).
fn record(identity: &SigningKey, seq: u64, variant: u8, expires_at: u64) -> DiscoveryRecord {
    let fields = RecordFields {
        seq,
        issued_at: at(BASE),
        expires_at: at(expires_at),
        addresses: vec![format!("/ip4/192.0.2.{variant}/tcp/4001")],
        tools: vec![],
        prekeys: Prekeys {
            signed: SignedPrekey::sign(identity, 1, x25519::PublicKey::from_bytes([7; 32])),
            one_time: vec![],
            pq: None,
        },
        puzzle_nonce: None,
    };
    DiscoveryRecord::sign(fields, identity).unwrap()
}

fn insert(
    resolver: &mut Resolver,
    now: u64,
    record: &DiscoveryRecord,
) -> Result<Inserted, InsertError> {
    let valid = record.validate(at(now), &Policy::default()).unwrap();
    resolver.insert(at(now), valid)
}

fn config(ttl_secs: u64, max_dids: usize) -> Config {
    let mut config = Config::default();
    config
        .set_ttl(Duration::from_secs(ttl_secs))
        .set_max_dids(max_dids);
    config
}

#[test]
fn kademlia_key_is_sha256_of_the_public_key() {
    let pk = key(1).verifying_key();
    let did = DidKey::Ed25519(pk);
    assert_eq!(did.kademlia_key(), sha256(pk.as_bytes()));
    assert_eq!(
        talos_crypto::hash::to_hex(&did.kademlia_key()),
        pk.address()
    );
    let x = DidKey::X25519(pk.to_x25519());
    assert_eq!(x.kademlia_key(), sha256(pk.to_x25519().as_bytes()));
    assert_ne!(x.kademlia_key(), did.kademlia_key());
}

#[test]
fn higher_seq_wins_and_equal_seq_conflicts() {
    let alice = key(1);
    let did = DidKey::Ed25519(alice.verifying_key());
    let exp = BASE + 3600 * SECOND;
    let mut r = Resolver::new(Config::default());
    assert!(r.is_empty());
    assert_eq!(r.resolve(at(BASE), &did), None);
    let (v1, v2, v2b, v3) = (
        record(&alice, 1, 1, exp),
        record(&alice, 2, 1, exp),
        record(&alice, 2, 2, exp),
        record(&alice, 3, 1, exp),
    );
    assert_eq!(insert(&mut r, BASE, &v2), Ok(Inserted::New));
    assert_eq!(
        insert(&mut r, BASE, &v1),
        Err(InsertError::Stale { seq: 1, current: 2 })
    );
    let conflict = insert(&mut r, BASE, &v2b).unwrap_err();
    assert_eq!(conflict, InsertError::Conflict { seq: 2 });
    assert!(conflict.to_string().contains("conflicting record: seq 2"));
    assert_eq!(insert(&mut r, BASE, &v2), Ok(Inserted::Refreshed));
    assert_eq!(r.resolve(at(BASE), &did), Some(&v2));
    assert_eq!(
        insert(&mut r, BASE, &v3),
        Ok(Inserted::Replaced { previous_seq: 2 })
    );
    assert_eq!(r.resolve(at(BASE), &did), Some(&v3));
    assert_eq!(r.highest_seq(&did), Some(3));
    assert_eq!(r.len(), 1);
    // X25519 DIDs never have records.
    let x = DidKey::X25519(alice.verifying_key().to_x25519());
    assert_eq!(r.resolve(at(BASE), &x), None);
    assert_eq!(r.highest_seq(&x), None);
    assert!(!r.remove(&x));
    assert!(r.remove(&did));
    assert!(!r.remove(&did));
    assert_eq!(r.highest_seq(&did), None);
    // Forgotten: an older record is new again.
    assert_eq!(insert(&mut r, BASE, &v1), Ok(Inserted::New));
}

#[test]
fn ttl_and_record_expiry() {
    let alice = key(1);
    let did = DidKey::Ed25519(alice.verifying_key());
    let mut r = Resolver::new(config(300, 16));
    assert_eq!(r.config().ttl(), Duration::from_secs(300));
    let long = record(&alice, 1, 1, BASE + 3600 * SECOND);
    insert(&mut r, BASE, &long).unwrap();
    assert_eq!(r.resolve(at(BASE + 300 * SECOND - 1), &did), Some(&long));
    assert_eq!(r.resolve(at(BASE + 300 * SECOND), &did), None);
    // Past its TTL the record is not served, but its seq still counts.
    assert_eq!(r.highest_seq(&did), Some(1));
    let older = record(&alice, 0, 1, BASE + 3600 * SECOND);
    assert_eq!(
        insert(&mut r, BASE + 301 * SECOND, &older),
        Err(InsertError::Stale { seq: 0, current: 1 })
    );
    // Received again: served for another TTL.
    assert_eq!(
        insert(&mut r, BASE + 400 * SECOND, &long),
        Ok(Inserted::Refreshed)
    );
    assert_eq!(r.resolve(at(BASE + 699 * SECOND), &did), Some(&long));
    assert_eq!(r.resolve(at(BASE + 700 * SECOND), &did), None);

    // A record that expires before its TTL ends is served until it expires.
    let bob = key(2);
    let bob_did = DidKey::Ed25519(bob.verifying_key());
    let short = record(&bob, 1, 1, BASE + 1000 * SECOND + 60 * SECOND);
    insert(&mut r, BASE + 1000 * SECOND, &short).unwrap();
    assert_eq!(
        r.resolve(at(BASE + 1060 * SECOND - 1), &bob_did),
        Some(&short)
    );
    assert_eq!(r.resolve(at(BASE + 1060 * SECOND), &bob_did), None);
    // Validated in time, inserted too late.
    let late = record(&bob, 2, 1, BASE + 2000 * SECOND);
    let valid = late
        .validate(at(BASE + 1999 * SECOND), &Policy::default())
        .unwrap();
    let err = r.insert(at(BASE + 2000 * SECOND), valid).unwrap_err();
    assert!(matches!(err, InsertError::Expired { .. }));
    assert!(err.to_string().contains("expired"));
}

#[test]
fn prune_drops_bodies_and_keeps_seq() {
    let alice = key(1);
    let did = DidKey::Ed25519(alice.verifying_key());
    let mut r = Resolver::new(config(10, 16));
    let v5 = record(&alice, 5, 1, BASE + 3600 * SECOND);
    insert(&mut r, BASE, &v5).unwrap();
    assert_eq!(r.prune(at(BASE + 9 * SECOND)), 0);
    assert_eq!(r.prune(at(BASE + 10 * SECOND)), 1);
    assert_eq!(r.prune(at(BASE + 11 * SECOND)), 0);
    assert_eq!(r.highest_seq(&did), Some(5));
    assert_eq!(
        insert(
            &mut r,
            BASE + 11 * SECOND,
            &record(&alice, 5, 2, BASE + 3600 * SECOND)
        ),
        Err(InsertError::Conflict { seq: 5 })
    );
    assert_eq!(
        insert(&mut r, BASE + 11 * SECOND, &v5),
        Ok(Inserted::Refreshed)
    );
    assert_eq!(r.resolve(at(BASE + 11 * SECOND), &did), Some(&v5));
}

#[test]
fn time_never_goes_backwards() {
    let alice = key(1);
    let did = DidKey::Ed25519(alice.verifying_key());
    let mut r = Resolver::new(config(300, 16));
    let v1 = record(&alice, 1, 1, BASE + 3600 * SECOND);
    insert(&mut r, BASE, &v1).unwrap();
    assert_eq!(r.resolve(at(BASE + 300 * SECOND), &did), None);
    // An earlier `now` afterwards is taken as the latest one seen.
    assert_eq!(r.resolve(at(BASE), &did), None);
}

#[test]
fn the_least_recently_used_did_is_evicted() {
    let keys: Vec<SigningKey> = (1..=4).map(key).collect();
    let dids: Vec<DidKey> = keys
        .iter()
        .map(|k| DidKey::Ed25519(k.verifying_key()))
        .collect();
    let records: Vec<DiscoveryRecord> = keys
        .iter()
        .map(|k| record(k, 1, 1, BASE + 3600 * SECOND))
        .collect();
    let mut r = Resolver::new(config(300, 2));
    assert_eq!(r.config().max_dids(), 2);
    insert(&mut r, BASE, &records[0]).unwrap();
    insert(&mut r, BASE, &records[1]).unwrap();
    // Using the first makes the second the least recently used.
    assert!(r.resolve(at(BASE), &dids[0]).is_some());
    insert(&mut r, BASE, &records[2]).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r.highest_seq(&dids[1]), None);
    assert!(r.resolve(at(BASE), &dids[0]).is_some());
    // Refreshing counts as a use too.
    insert(&mut r, BASE, &records[2]).unwrap();
    insert(&mut r, BASE, &records[3]).unwrap();
    assert_eq!(r.highest_seq(&dids[0]), None);
    assert_eq!(r.highest_seq(&dids[2]), Some(1));
    assert_eq!(r.highest_seq(&dids[3]), Some(1));
    // At least one DID is always kept.
    assert_eq!(config(300, 0).max_dids(), 1);
}

#[test]
fn batch_validated_records_feed_the_resolver() {
    let records: Vec<DiscoveryRecord> = (1..=20)
        .map(|s| record(&key(s), u64::from(s), 1, BASE + 60 * SECOND))
        .collect();
    let mut r = Resolver::new(Config::default());
    for verdict in validate_batch(&records, at(BASE), &Policy::default()) {
        assert_eq!(r.insert(at(BASE), verdict.unwrap()), Ok(Inserted::New));
    }
    assert_eq!(r.len(), 20);
}

/// One arrival: which record (seq 0..4, content variant 0..2) at which time.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    seq: u64,
    variant: u8,
    /// Seconds after BASE; may go backwards between arrivals.
    time: u64,
    /// Resolve at this many seconds after the arrival.
    look: u64,
}

fn arrival() -> impl Strategy<Value = Arrival> {
    (0u64..4, 0u8..2, 0u64..400, 0u64..120).prop_map(|(seq, variant, time, look)| Arrival {
        seq,
        variant,
        time,
        look,
    })
}

/// The record's expiry is a function of (seq, variant), so equal pairs are equal records.
fn expiry(seq: u64, variant: u8) -> u64 {
    BASE + (120 + 60 * seq + 90 * u64::from(variant)) * SECOND
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever order records arrive in (and however time moves), the resolver agrees with a
    /// model of the rules: a lower seq never replaces a higher one, an equal seq with other
    /// content is refused, the same record refreshes, and the record served is the current
    /// one while its TTL and expiry last.
    #[test]
    fn an_older_record_never_replaces_a_newer_one(
        arrivals in prop::collection::vec(arrival(), 1..24),
    ) {
        let alice = key(1);
        let did = DidKey::Ed25519(alice.verifying_key());
        let ttl = 60 * SECOND;
        let mut r = Resolver::new(config(60, 8));
        // Model: the current (seq, variant), served until `fresh_until`; the clamped clock.
        let mut current: Option<(u64, u8)> = None;
        let mut fresh_until = 0;
        let mut clock = 0;
        let mut highest = None::<u64>;
        for a in &arrivals {
            let record = record(&alice, a.seq, a.variant, expiry(a.seq, a.variant));
            let now = BASE + a.time * SECOND;
            let Ok(valid) = record.validate(at(now), &Policy::default()) else {
                prop_assert!(now >= expiry(a.seq, a.variant));
                continue;
            };
            clock = clock.max(now);
            let outcome = r.insert(at(now), valid);
            let expires = expiry(a.seq, a.variant);
            let expected = if clock >= expires {
                Err(InsertError::Expired { expires_at_ms: expires, now_ms: clock })
            } else {
                match current {
                    None => Ok(Inserted::New),
                    Some((seq, _)) if a.seq < seq => {
                        Err(InsertError::Stale { seq: a.seq, current: seq })
                    }
                    Some((seq, variant)) if a.seq == seq && a.variant != variant => {
                        Err(InsertError::Conflict { seq })
                    }
                    Some((seq, _)) if a.seq == seq => Ok(Inserted::Refreshed),
                    Some((seq, _)) => Ok(Inserted::Replaced { previous_seq: seq }),
                }
            };
            prop_assert_eq!(&outcome, &expected);
            if outcome.is_ok() {
                current = Some((a.seq, a.variant));
                fresh_until = (clock + ttl).min(expires);
            }
            // The highest seq never goes down, and is the highest accepted so far.
            let seen = r.highest_seq(&did);
            prop_assert!(seen >= highest);
            prop_assert_eq!(seen, current.map(|(seq, _)| seq));
            highest = seen;
            // What is served.
            let look = now + a.look * SECOND;
            clock = clock.max(look);
            let served = r.resolve(at(look), &did).cloned();
            let want = current
                .filter(|_| clock < fresh_until)
                .map(|(seq, variant)| self::record(&alice, seq, variant, expiry(seq, variant)));
            prop_assert_eq!(served, want);
        }
    }
}
