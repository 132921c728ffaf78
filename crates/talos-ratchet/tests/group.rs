//! Sender-key groups: members exchanging messages in and out of order, duplicates, forgeries,
//! skip bounds, removal and rotation, late joiners, snapshots, encodings, and random delivery
//! schedules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(clippy::needless_range_loop)] // members are indexed by number throughout

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng as _;
use talos_ratchet::group::{
    DistributionError, GroupConfig, GroupDecodeError, GroupDecryptError, GroupId, GroupMessage,
    GroupSession, GroupSnapshot, MemberId, MembershipError, SenderKeyDistribution,
};

const GROUP: GroupId = GroupId::from_bytes([0x42; 32]);

fn id(n: u8) -> MemberId {
    MemberId::from_bytes([n; 32])
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Carries a distribution as bytes, as a pairwise session would (alternating encodings).
fn carry(d: &SenderKeyDistribution, json: bool) -> SenderKeyDistribution {
    if json {
        SenderKeyDistribution::from_json(&d.to_json()).unwrap()
    } else {
        SenderKeyDistribution::from_cbor(&d.to_cbor()).unwrap()
    }
}

fn wire(m: &GroupMessage, json: bool) -> GroupMessage {
    if json {
        GroupMessage::from_json(&m.to_json()).unwrap()
    } else {
        GroupMessage::from_cbor(&m.to_cbor()).unwrap()
    }
}

/// `n` members (ids 1..=n) who all know each other's sender keys.
fn group_of(n: u8, config: GroupConfig, seed: u8) -> Vec<GroupSession> {
    let mut rng = rng(seed);
    let mut members: Vec<GroupSession> = (1..=n)
        .map(|i| GroupSession::new(config, GROUP, id(i), 0, &mut rng))
        .collect();
    let ids: Vec<MemberId> = members.iter().map(|m| *m.me()).collect();
    for (i, m) in members.iter_mut().enumerate() {
        for (j, other) in ids.iter().enumerate() {
            if i != j {
                let _ = m.add_member(*other).unwrap();
            }
        }
    }
    for i in 0..members.len() {
        let d = members[i].distribution();
        for j in 0..members.len() {
            if i != j {
                members[j]
                    .handle_distribution(&ids[i], &carry(&d, (i + j) % 2 == 0))
                    .unwrap();
            }
        }
    }
    members
}

fn state(s: &GroupSession) -> Vec<u8> {
    s.snapshot().to_bytes().to_vec()
}

/// A deterministic shuffle.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(i, usize::try_from(x % (i as u64 + 1)).unwrap());
    }
}

#[test]
fn four_members_exchange_in_and_out_of_order() {
    let mut g = group_of(4, GroupConfig::default(), 1);
    let mut sent = Vec::new();
    for round in 0..5 {
        for s in 0..4 {
            let text = format!("member {s} message {round}");
            let m = g[s].encrypt(text.as_bytes()).unwrap();
            assert_eq!(m.iteration(), round);
            sent.push((s, m, text));
        }
    }
    for r in 0..4 {
        let mut order: Vec<usize> = (0..sent.len()).collect();
        shuffle(&mut order, 7 + r as u64);
        for (k, &i) in order.iter().enumerate() {
            let (s, m, text) = &sent[i];
            let m = wire(m, k % 2 == 0);
            if *s == r {
                assert_eq!(g[r].decrypt(&m), Err(GroupDecryptError::OwnMessage));
            } else {
                assert_eq!(&g[r].decrypt(&m).unwrap()[..], text.as_bytes());
            }
        }
        for s in 0..4 {
            if s != r {
                assert_eq!(g[r].stored_keys(g[s].me()), 0, "every skipped key was used");
            }
        }
    }
}

#[test]
fn duplicates_are_rejected_and_change_nothing() {
    let mut g = group_of(3, GroupConfig::default(), 2);
    let m0 = g[0].encrypt(b"zero").unwrap();
    let m1 = g[0].encrypt(b"one").unwrap();
    let m2 = g[0].encrypt(b"two").unwrap();
    assert_eq!(&g[1].decrypt(&m2).unwrap()[..], b"two");
    assert_eq!(g[1].stored_keys(&id(1)), 2);
    for dup in [&m2, &m2] {
        let before = state(&g[1]);
        assert_eq!(
            g[1].decrypt(dup),
            Err(GroupDecryptError::DuplicateOrExpired { iteration: 2 })
        );
        assert_eq!(state(&g[1]), before);
    }
    assert_eq!(&g[1].decrypt(&m0).unwrap()[..], b"zero");
    assert_eq!(
        g[1].decrypt(&m0),
        Err(GroupDecryptError::DuplicateOrExpired { iteration: 0 })
    );
    assert_eq!(&g[1].decrypt(&m1).unwrap()[..], b"one");
    assert_eq!(g[1].stored_keys(&id(1)), 0);
    // The other receiver is independent.
    assert_eq!(&g[2].decrypt(&m1).unwrap()[..], b"one");
}

#[test]
fn forgeries_leave_the_state_unchanged() {
    let mut g = group_of(3, GroupConfig::default(), 3);
    let _ = g[0].encrypt(b"first").unwrap();
    let m = g[0].encrypt(b"attack at dawn").unwrap();
    let json = String::from_utf8(m.to_json()).unwrap();
    let before = state(&g[1]);

    let mut tampered = Vec::new();
    // Flip one bit of the ciphertext, of the signature, and move the message in the chain.
    let mut ct = m.to_cbor();
    let pos = ct
        .windows(m.ciphertext().len())
        .position(|w| w == m.ciphertext())
        .unwrap();
    ct[pos + 3] ^= 1;
    tampered.push(GroupMessage::from_cbor(&ct).unwrap());
    let mut sig = m.to_cbor();
    let sig_bytes = m.signature().to_bytes();
    let pos = sig.windows(64).position(|w| w == sig_bytes).unwrap();
    sig[pos + 10] ^= 0x80;
    tampered.push(GroupMessage::from_cbor(&sig).unwrap());
    for (from, to) in [
        ("\"iteration\":1", "\"iteration\":5"),
        ("\"iteration\":1", "\"iteration\":0"),
    ] {
        tampered.push(GroupMessage::from_json(json.replace(from, to).as_bytes()).unwrap());
    }
    // Mallory signs a message in member 1's name with her own key.
    let mut mallory = GroupSession::new(GroupConfig::default(), GROUP, id(1), 0, &mut rng(99));
    tampered.push(mallory.encrypt(b"attack at dawn").unwrap());
    for t in &tampered {
        assert_eq!(
            g[1].decrypt(t),
            Err(GroupDecryptError::BadSignature),
            "{t:?}"
        );
        assert_eq!(state(&g[1]), before);
    }
    assert_eq!(&g[1].decrypt(&m).unwrap()[..], b"attack at dawn");
}

#[test]
fn a_signed_message_that_does_not_open_changes_nothing() {
    // Bob holds Alice's signing key with a wrong chain key: the signature verifies, the
    // ciphertext does not open, and Bob's chain must not move.
    let mut g = group_of(2, GroupConfig::default(), 4);
    let real = g[0].distribution();
    let mut json = String::from_utf8(real.to_json().to_vec()).unwrap();
    let ck = json.split("\"chain_key\":\"").nth(1).unwrap()[..43].to_owned();
    let wrong = if ck.starts_with('A') { "B" } else { "A" };
    json = json.replacen(&ck, &format!("{wrong}{}", &ck[1..]), 1);
    let mut bob = GroupSession::new(GroupConfig::default(), GROUP, id(2), 0, &mut rng(5));
    bob.add_member(id(1)).unwrap();
    bob.handle_distribution(
        &id(1),
        &SenderKeyDistribution::from_json(json.as_bytes()).unwrap(),
    )
    .unwrap();
    let m = g[0].encrypt(b"x").unwrap();
    let m5 = (0..5).map(|_| g[0].encrypt(b"y").unwrap()).last().unwrap();
    let before = state(&bob);
    assert_eq!(bob.decrypt(&m), Err(GroupDecryptError::DecryptionFailed));
    assert_eq!(bob.decrypt(&m5), Err(GroupDecryptError::DecryptionFailed));
    assert_eq!(state(&bob), before);
    assert_eq!(bob.stored_keys(&id(1)), 0);
}

#[test]
fn max_skip_edges() {
    let mut g = group_of(3, GroupConfig::default(), 6);
    let sent: Vec<GroupMessage> = (0..1002u32)
        .map(|i| g[0].encrypt(&i.to_be_bytes()).unwrap())
        .collect();
    // 1001 ahead of iteration 0: refused, nothing changes.
    let before = state(&g[1]);
    assert_eq!(
        g[1].decrypt(&sent[1001]),
        Err(GroupDecryptError::TooManySkipped {
            gap: 1001,
            limit: 1000
        })
    );
    assert!(
        GroupDecryptError::TooManySkipped {
            gap: 1001,
            limit: 1000
        }
        .to_string()
        .contains("too many skipped messages")
    );
    assert_eq!(state(&g[1]), before);
    // Exactly 1000 ahead: accepted, 1000 keys stored.
    assert_eq!(
        &g[1].decrypt(&sent[1000]).unwrap()[..],
        &1000u32.to_be_bytes()
    );
    assert_eq!(g[1].stored_keys(&id(1)), 1000);
    assert_eq!(
        &g[1].decrypt(&sent[1001]).unwrap()[..],
        &1001u32.to_be_bytes()
    );
    for i in [0usize, 999, 500] {
        assert_eq!(
            &g[1].decrypt(&sent[i]).unwrap()[..],
            &(i as u32).to_be_bytes()
        );
    }
    assert_eq!(g[1].stored_keys(&id(1)), 997);

    // A smaller configured gap, on the other receiver.
    let mut config = GroupConfig::default();
    config.set_max_skip(3);
    let mut small = group_of(2, config, 7);
    let m: Vec<GroupMessage> = (0..6).map(|_| small[0].encrypt(b"m").unwrap()).collect();
    assert!(matches!(
        small[1].decrypt(&m[4]),
        Err(GroupDecryptError::TooManySkipped { gap: 4, limit: 3 })
    ));
    small[1].decrypt(&m[3]).unwrap();
    small[1].decrypt(&m[5]).unwrap();
}

#[test]
fn stored_keys_are_bounded_oldest_first() {
    let mut config = GroupConfig::default();
    config.set_max_stored_keys(10).set_max_skip(100);
    let mut g = group_of(2, config, 8);
    let m: Vec<GroupMessage> = (0..80).map(|_| g[0].encrypt(b"m").unwrap()).collect();
    g[1].decrypt(&m[50]).unwrap();
    // The window keeps the 9 keys just behind the head (41..=49); older ones were evicted.
    assert_eq!(g[1].stored_keys(&id(1)), 9);
    assert_eq!(
        g[1].decrypt(&m[40]),
        Err(GroupDecryptError::DuplicateOrExpired { iteration: 40 })
    );
    g[1].decrypt(&m[41]).unwrap();
    g[1].decrypt(&m[49]).unwrap();
    assert_eq!(g[1].stored_keys(&id(1)), 7);
    // In-order traffic slides the window past old holes.
    for msg in &m[51..70] {
        g[1].decrypt(msg).unwrap();
    }
    assert_eq!(g[1].stored_keys(&id(1)), 0);
    assert!(g[1].decrypt(&m[45]).is_err());
}

/// Removes member `gone` at every other member, and exchanges the new keys.
fn remove(g: &mut [GroupSession], gone: usize, seed: u8) {
    let gone_id = *g[gone].me();
    let mut rng = rng(seed);
    let mut fresh = Vec::new();
    for (i, s) in g.iter_mut().enumerate() {
        if i != gone {
            fresh.push((i, s.remove_member(&gone_id, &mut rng).unwrap()));
        }
    }
    for (i, d) in &fresh {
        for (j, s) in g.iter_mut().enumerate() {
            if j != gone && j != *i {
                s.handle_distribution(d.sender(), &carry(d, false)).unwrap();
            }
        }
    }
}

#[test]
fn a_removed_member_reads_nothing_sent_after_the_rotation() {
    let mut g = group_of(4, GroupConfig::default(), 9);
    let before_removal = g[0].encrypt(b"old news").unwrap();
    let late_old = g[1]
        .encrypt(b"sent before the removal, delivered after")
        .unwrap();
    assert_eq!(&g[3].decrypt(&before_removal).unwrap()[..], b"old news");
    let removed = g[3].snapshot();

    remove(&mut g, 3, 10);
    for s in &g[..3] {
        assert_eq!(s.epoch(), 1);
        assert!(!s.is_member(&id(4)));
    }
    let after: Vec<GroupMessage> = (0..3)
        .map(|s| g[s].encrypt(format!("secret from {s}").as_bytes()).unwrap())
        .collect();
    for (s, m) in after.iter().enumerate() {
        assert_eq!(m.epoch(), 1);
        for r in 0..3 {
            if r != s {
                assert_eq!(
                    &g[r].decrypt(m).unwrap()[..],
                    format!("secret from {s}").as_bytes()
                );
            }
        }
        // The removed member, with everything it ever had, cannot open it.
        let mut d = GroupSession::restore(&removed).unwrap();
        assert_eq!(
            d.decrypt(m),
            Err(GroupDecryptError::UnknownSenderKey { epoch: 1 })
        );
        // Re-labelling the message with the old epoch breaks the signature.
        let relabelled = String::from_utf8(m.to_json())
            .unwrap()
            .replace("\"epoch\":1", "\"epoch\":0");
        let relabelled = GroupMessage::from_json(relabelled.as_bytes()).unwrap();
        assert_eq!(d.decrypt(&relabelled), Err(GroupDecryptError::BadSignature));
    }
    // The removed member's own messages are refused.
    let mut d = GroupSession::restore(&removed).unwrap();
    let from_removed = d.encrypt(b"still here?").unwrap();
    assert_eq!(
        g[0].decrypt(&from_removed),
        Err(GroupDecryptError::NotAMember)
    );
    // Its old-epoch key cannot be installed again.
    let stale = GroupSession::restore(&removed).unwrap().distribution();
    assert_eq!(
        g[0].handle_distribution(&id(4), &stale),
        Err(DistributionError::NotAMember)
    );

    // Grace: a message under the previous epoch, sent before the removal, still opens...
    assert_eq!(
        &g[2].decrypt(&late_old).unwrap()[..],
        b"sent before the removal, delivered after"
    );
    // ...until the grace ends; then the old epoch is refused.
    assert_eq!(g[0].end_grace(), 2);
    assert_eq!(
        g[0].decrypt(&late_old),
        Err(GroupDecryptError::EpochRetired {
            epoch: 0,
            current: 1
        })
    );
    // A distribution under the retired epoch is refused too.
    let mut alone = GroupSession::new(GroupConfig::default(), GROUP, id(2), 0, &mut rng(11));
    alone.add_member(id(1)).unwrap();
    let old_key = alone.distribution();
    assert_eq!(
        g[0].handle_distribution(&id(2), &old_key),
        Err(DistributionError::EpochRetired {
            epoch: 0,
            current: 1
        })
    );
}

#[test]
fn a_late_joiner_cannot_read_earlier_messages() {
    let mut g = group_of(2, GroupConfig::default(), 12);
    let early: Vec<GroupMessage> = (0..3).map(|_| g[0].encrypt(b"early").unwrap()).collect();
    let mut eve = GroupSession::new(GroupConfig::default(), GROUP, id(5), 0, &mut rng(13));
    for s in g.iter_mut() {
        let d = s.add_member(id(5)).unwrap();
        assert_eq!(d.iteration(), u32::try_from(s.next_iteration()).unwrap());
        eve.add_member(*s.me()).unwrap();
        eve.handle_distribution(s.me(), &carry(&d, true)).unwrap();
        let back = eve.distribution();
        s.handle_distribution(&id(5), &back).unwrap();
    }
    for m in &early {
        let before = state(&eve);
        assert_eq!(
            eve.decrypt(m),
            Err(GroupDecryptError::DuplicateOrExpired {
                iteration: m.iteration()
            })
        );
        assert_eq!(state(&eve), before);
    }
    let now = g[0].encrypt(b"welcome").unwrap();
    assert_eq!(&eve.decrypt(&now).unwrap()[..], b"welcome");
    let hello = eve.encrypt(b"hi all").unwrap();
    assert_eq!(&g[0].decrypt(&hello).unwrap()[..], b"hi all");
    assert_eq!(&g[1].decrypt(&hello).unwrap()[..], b"hi all");
}

#[test]
fn distributions_are_checked() {
    let mut g = group_of(3, GroupConfig::default(), 14);
    let d1 = g[0].distribution();
    // Resending a known key is harmless and keeps the chain position.
    let m = g[0].encrypt(b"a").unwrap();
    g[1].decrypt(&m).unwrap();
    g[1].handle_distribution(&id(1), &d1).unwrap();
    assert!(g[1].decrypt(&m).is_err());
    // Member 3 cannot install a key in member 1's name.
    assert_eq!(
        g[1].handle_distribution(&id(3), &d1),
        Err(DistributionError::SenderMismatch)
    );
    // Our own key, a conflicting key, another group, a non-member.
    let own = g[1].distribution();
    assert_eq!(
        g[1].handle_distribution(&id(2), &own),
        Err(DistributionError::OwnKey)
    );
    let impostor = GroupSession::new(GroupConfig::default(), GROUP, id(1), 0, &mut rng(15));
    assert_eq!(
        g[1].handle_distribution(&id(1), &impostor.distribution()),
        Err(DistributionError::ConflictingKey { epoch: 0 })
    );
    let other = GroupSession::new(
        GroupConfig::default(),
        GroupId::from_bytes([1; 32]),
        id(1),
        0,
        &mut rng(16),
    );
    assert_eq!(
        g[1].handle_distribution(&id(1), &other.distribution()),
        Err(DistributionError::WrongGroup)
    );
    let stranger = GroupSession::new(GroupConfig::default(), GROUP, id(9), 0, &mut rng(17));
    assert_eq!(
        g[1].handle_distribution(&id(9), &stranger.distribution()),
        Err(DistributionError::NotAMember)
    );
    // Membership errors.
    assert_eq!(
        g[1].add_member(id(1)).unwrap_err(),
        MembershipError::AlreadyMember
    );
    assert_eq!(
        g[1].remove_member(&id(2), &mut rng(1)).unwrap_err(),
        MembershipError::RemovingSelf
    );
    assert_eq!(
        g[1].remove_member(&id(9), &mut rng(1)).unwrap_err(),
        MembershipError::NotAMember
    );
}

#[test]
fn debug_output_holds_no_key_material() {
    let g = group_of(2, GroupConfig::default(), 18);
    let d = g[0].distribution();
    let json = String::from_utf8(d.to_json().to_vec()).unwrap();
    let ck_b64 = json.split("\"chain_key\":\"").nth(1).unwrap()[..43].to_owned();
    let ck = talos_crypto::base64url::decode(&ck_b64).unwrap();
    let ck_hex = hex::encode(&ck);
    for text in [
        format!("{d:?}"),
        format!("{:?}", g[0]),
        format!("{:?}", g[1]),
        format!("{:?}", g[1].snapshot()),
    ] {
        assert!(!text.contains(&ck_hex) && !text.contains(&ck_b64), "{text}");
        assert!(!text.contains(&format!("{ck:?}")), "{text}");
    }
    assert!(format!("{d:?}").contains("<redacted>"));
}

/// The chain key field of a distribution's JSON.
fn chain_key(d: &SenderKeyDistribution) -> Vec<u8> {
    let json = String::from_utf8(d.to_json().to_vec()).unwrap();
    let b64 = &json.split("\"chain_key\":\"").nth(1).unwrap()[..43];
    talos_crypto::base64url::decode(b64).unwrap()
}

#[test]
fn chain_keys_are_erased_as_they_are_used() {
    let mut g = group_of(2, GroupConfig::default(), 22);
    let ck0 = chain_key(&g[0].distribution());
    let m0 = g[0].encrypt(b"m0").unwrap();
    let ck1 = chain_key(&g[0].distribution());
    assert_ne!(ck0, ck1);
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    // Neither the sender nor, once it decrypted, the receiver keeps the used chain key.
    assert!(!contains(&g[0].snapshot().to_bytes(), &ck0));
    assert!(contains(&g[1].snapshot().to_bytes(), &ck0));
    g[1].decrypt(&m0).unwrap();
    let receiver = g[1].snapshot().to_bytes();
    assert!(!contains(&receiver, &ck0));
    assert!(contains(&receiver, &ck1));
    // A removal replaces the sender key entirely.
    let mut three = group_of(3, GroupConfig::default(), 23);
    let before = chain_key(&three[0].distribution());
    let after = three[0].remove_member(&id(3), &mut rng(24)).unwrap();
    assert_eq!(after.epoch(), 1);
    assert_eq!(after.iteration(), 0);
    assert_ne!(chain_key(&after), before);
    assert!(!contains(&three[0].snapshot().to_bytes(), &before));
}

#[test]
fn snapshots_continue_exactly() {
    let mut g = group_of(3, GroupConfig::default(), 19);
    let m: Vec<GroupMessage> = (0..6).map(|i| g[0].encrypt(&[i]).unwrap()).collect();
    g[1].decrypt(&m[4]).unwrap(); // keys 0..=3 stored
    let snap = g[1].snapshot();
    let bytes = snap.to_bytes();
    assert_eq!(snap.format(), 1);
    let reread = GroupSnapshot::from_bytes(&bytes).unwrap();
    assert_eq!(reread.to_bytes(), bytes, "the encoding is stable");
    let mut restored = GroupSession::restore(&reread).unwrap();
    for i in [2usize, 5, 0] {
        assert_eq!(&restored.decrypt(&m[i]).unwrap()[..], &[i as u8]);
        assert_eq!(&g[1].decrypt(&m[i]).unwrap()[..], &[i as u8]);
    }
    assert_eq!(state(&restored), state(&g[1]));
    // A restored sender continues its chain: the very same bytes as the original.
    let sender_copy = GroupSession::restore(&g[0].snapshot()).unwrap();
    let mut sender_copy = sender_copy;
    let a = g[0].encrypt(b"next").unwrap();
    let b = sender_copy.encrypt(b"next").unwrap();
    assert_eq!(a, b);
    assert_eq!(&restored.decrypt(&a).unwrap()[..], b"next");
    assert!(g[1].decrypt(&b).is_ok());
    assert!(restored.decrypt(&b).is_err(), "one message, one decryption");
}

#[test]
fn corrupt_snapshots_are_refused() {
    let g = group_of(2, GroupConfig::default(), 20);
    let bytes = g[0].snapshot().to_bytes().to_vec();
    assert!(GroupSnapshot::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(GroupSnapshot::from_bytes(b"").is_err());
    assert!(GroupSnapshot::from_bytes(&[0xa0]).is_err());
    // format 2: the key "format" is followed by its value, 1.
    let pos = bytes.windows(7).position(|w| w == b"\x66format").unwrap();
    let mut newer = bytes.clone();
    assert_eq!(newer[pos + 7], 1);
    newer[pos + 7] = 2;
    assert!(matches!(
        GroupSnapshot::from_bytes(&newer),
        Err(talos_ratchet::group::GroupSnapshotError::UnsupportedFormat(
            2
        ))
    ));
    // Every truncation fails cleanly.
    for cut in 0..bytes.len() {
        assert!(GroupSnapshot::from_bytes(&bytes[..cut]).is_err());
    }
}

#[test]
fn snapshots_tolerate_members_added_later() {
    let g = group_of(2, GroupConfig::default(), 25);
    let mut bytes = g[1].snapshot().to_bytes().to_vec();
    // Top-level map of 9 members: add a 10th, "new": 1, as a later format might.
    assert_eq!(bytes[0], 0xa9);
    bytes[0] = 0xaa;
    bytes.extend_from_slice(&[0x63, b'n', b'e', b'w', 0x01]);
    let snap = GroupSnapshot::from_bytes(&bytes).unwrap();
    let restored = GroupSession::restore(&snap).unwrap();
    assert_eq!(state(&restored), state(&g[1]));
}

#[test]
fn encodings_are_strict() {
    let mut g = group_of(2, GroupConfig::default(), 21);
    let m = g[0].encrypt(b"payload").unwrap();
    let json = String::from_utf8(m.to_json()).unwrap();
    let cbor = m.to_cbor();
    assert_eq!(GroupMessage::from_json(json.as_bytes()).unwrap(), m);
    assert_eq!(GroupMessage::from_cbor(&cbor).unwrap(), m);
    assert!(json.starts_with("{\"ciphertext\":\""));
    // Unknown, missing, null members; wrong lengths; versions; non-canonical forms.
    let bad_json = [
        json.replacen('{', "{\"extra\":1,", 1),
        json.replace(",\"v\":1", ""),
        json.replace("\"v\":1", "\"v\":null"),
        json.replace("\"v\":1", "\"v\":2"),
        json.replace("\"epoch\":0", "\"epoch\":4294967296"),
        json.replace("\"epoch\":0", "\"epoch\":-1"),
        json.replace("\"group\":\"", "\"group\":\"AA"),
        json.replace("\"iteration\":0", "\"iteration\":0.5"),
    ];
    for (i, bad) in bad_json.iter().enumerate() {
        assert_ne!(bad, &json, "case {i} did not change the message");
        let err = GroupMessage::from_json(bad.as_bytes()).unwrap_err();
        if i == 3 {
            assert_eq!(err, GroupDecodeError::UnsupportedVersion(2));
        }
    }
    // JSON formatting is free (the value is what counts); CBOR has one accepted encoding.
    let spaced = json.replacen(':', ": ", 1);
    assert_eq!(GroupMessage::from_json(spaced.as_bytes()).unwrap(), m);
    let mut long_head = cbor.clone();
    long_head.splice(0..1, [0xb8, 7]);
    assert!(GroupMessage::from_cbor(&long_head).is_err());
    let mut trailing = cbor.clone();
    trailing.push(0);
    assert!(GroupMessage::from_cbor(&trailing).is_err());
    for cut in 0..cbor.len() {
        assert!(GroupMessage::from_cbor(&cbor[..cut]).is_err());
    }
    assert!(matches!(
        GroupMessage::from_cbor(&vec![0; talos_ratchet::group::MAX_MESSAGE_LEN + 1]),
        Err(GroupDecodeError::TooLarge { .. })
    ));
    // A tag-less ciphertext.
    let short = json.replace(
        &talos_crypto::base64url::encode(m.ciphertext()),
        &talos_crypto::base64url::encode(&m.ciphertext()[..15]),
    );
    assert!(matches!(
        GroupMessage::from_json(short.as_bytes()),
        Err(GroupDecodeError::Malformed(_))
    ));
    // Distributions: same rules, and a signing key must be a valid Ed25519 key.
    let d = g[0].distribution();
    let djson = String::from_utf8(d.to_json().to_vec()).unwrap();
    assert_eq!(
        SenderKeyDistribution::from_cbor(&d.to_cbor())
            .unwrap()
            .to_cbor(),
        d.to_cbor()
    );
    let sk = talos_crypto::base64url::encode(d.signing_key().as_bytes());
    let small_order = talos_crypto::base64url::encode(&[0u8; 32]);
    let bad = djson.replace(&sk, &small_order);
    assert!(SenderKeyDistribution::from_json(bad.as_bytes()).is_err());
    assert!(
        SenderKeyDistribution::from_json(djson.replacen('{', "{\"x\":1,", 1).as_bytes()).is_err()
    );
    // Too large plaintext.
    assert!(
        g[0].encrypt(&vec![0; talos_ratchet::group::MAX_PLAINTEXT_LEN + 1])
            .is_err()
    );
}

/// One random schedule: `counts[s]` messages from each of 3 members; each receiver gets every
/// message of the others in a random order with random duplicates; a snapshot of one receiver
/// is taken and restored at a random point.
fn run_schedule(counts: [u8; 3], seed: u64, dups: &[usize], restore_at: usize) {
    let mut g = group_of(3, GroupConfig::default(), 30);
    let mut sent = Vec::new();
    let max = *counts.iter().max().unwrap();
    for round in 0..max {
        for s in 0..3 {
            if round < counts[s] {
                let text = vec![s as u8, round];
                sent.push((s, g[s].encrypt(&text).unwrap(), text));
            }
        }
    }
    for r in 0..3 {
        let mut order: Vec<usize> = (0..sent.len()).filter(|&i| sent[i].0 != r).collect();
        let originals = order.len();
        for &d in dups {
            if originals > 0 {
                order.push(order[d % originals]);
            }
        }
        shuffle(&mut order, seed.wrapping_add(r as u64));
        let mut seen = std::collections::BTreeSet::new();
        for (k, &i) in order.iter().enumerate() {
            if k == restore_at {
                let snap = GroupSnapshot::from_bytes(&g[r].snapshot().to_bytes()).unwrap();
                g[r] = GroupSession::restore(&snap).unwrap();
            }
            let (_, m, text) = &sent[i];
            let result = g[r].decrypt(&wire(m, k % 3 == 0));
            if seen.insert(i) {
                assert_eq!(&result.unwrap()[..], &text[..]);
            } else {
                assert_eq!(
                    result,
                    Err(GroupDecryptError::DuplicateOrExpired {
                        iteration: m.iteration()
                    })
                );
            }
        }
        assert_eq!(seen.len(), originals);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_delivered_message_decrypts_exactly_once(
        counts in proptest::array::uniform3(0u8..12),
        seed in any::<u64>(),
        dups in proptest::collection::vec(any::<usize>(), 0..8),
        restore_at in 0usize..40,
    ) {
        run_schedule(counts, seed, &dups, restore_at);
    }

    #[test]
    fn altered_messages_never_open_and_change_nothing(
        edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
    ) {
        let mut g = group_of(2, GroupConfig::default(), 31);
        let _ = g[0].encrypt(b"earlier").unwrap();
        let m = g[0].encrypt(b"the message").unwrap();
        let mut bytes = m.to_cbor();
        for (at, xor) in &edits {
            let len = bytes.len();
            bytes[at % len] ^= xor;
        }
        let before = state(&g[1]);
        if let Ok(altered) = GroupMessage::from_cbor(&bytes)
            && altered != m
        {
            prop_assert!(g[1].decrypt(&altered).is_err());
            prop_assert_eq!(state(&g[1]), before);
        }
        prop_assert_eq!(&g[1].decrypt(&m).unwrap()[..], b"the message");
    }
}
