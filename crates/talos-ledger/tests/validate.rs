#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The five-layer validation engine: one test per failure code, reports with several
//! failures, the structural short-circuit, forks, and batch import.

use talos_crypto::{SigningKey, Timestamp, cbor};
use talos_ledger::block::{
    Block, Chain, ChainConfig, InsertError, Inserted, leading_zero_bits, mine,
};
use talos_ledger::entry::{Anchor, Body, Entry, Message};
use talos_ledger::validate::{AnchorCheck, Code, Layer, decode_block};

const T0: u64 = 1_700_000_000_000;

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

const SENDER: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

fn entry(id: u8, sender: &str, nonce: u64) -> Vec<u8> {
    Entry::new(
        [id; 16],
        sender,
        nonce,
        ts(0),
        Body::MessageSent(Message {
            peer: SENDER.into(),
            session_id: vec![id],
            header_hash: [id; 32],
        }),
    )
    .unwrap()
    .to_cbor()
}

fn anchor_entry(id: u8, origin: &str) -> Vec<u8> {
    Entry::new(
        [id; 16],
        SENDER,
        1000 + u64::from(id),
        ts(0),
        Body::Anchor(Anchor {
            origin: origin.into(),
            size: 5,
            root: [7; 32],
            note: "note".into(),
        }),
    )
    .unwrap()
    .to_cbor()
}

fn chain(difficulty: u8) -> (SigningKey, Chain) {
    let k = key(1);
    let mut config = ChainConfig::default();
    config.set_difficulty(difficulty);
    let genesis = Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(0), difficulty);
    let genesis = mine(genesis, &k, 1 << 24).unwrap();
    (k, Chain::new(config, genesis).unwrap())
}

fn next(chain: &Chain, k: &SigningKey, entries: Vec<Vec<u8>>, at: u64) -> Block {
    mine(
        chain.candidate(&k.verifying_key(), entries, ts(at)),
        k,
        1 << 24,
    )
    .unwrap()
}

/// Re-signs a block after its header was edited (no proof-of-work: difficulty 0 chains).
fn resign(mut block: Block, k: &SigningKey) -> Block {
    block.header.signature = k.sign(&block.hash());
    block
}

fn codes_of(chain: &Chain, block: &Block, now: u64) -> Vec<Code> {
    chain.validate(block, ts(now), None).codes()
}

#[test]
fn a_valid_block_has_an_empty_report() {
    let (k, chain) = chain(0);
    let block = next(
        &chain,
        &k,
        vec![entry(1, SENDER, 1), entry(2, SENDER, 2)],
        10,
    );
    let report = chain.validate(&block, ts(20), None);
    assert!(report.is_valid(), "{report}");
    assert_eq!(report.to_json(), b"[]");
}

#[test]
fn code_100_malformed_block_unsupported_version() {
    let (k, chain) = chain(0);
    let mut block = next(&chain, &k, Vec::new(), 10);
    block.header.version = 2;
    let block = resign(block, &k);
    assert_eq!(codes_of(&chain, &block, 20), [Code::MalformedBlock]);
    // Bytes that are not a block at all.
    let report = decode_block(b"\xa1\x61x\x01").unwrap_err();
    assert_eq!(report.codes(), [Code::MalformedBlock]);
}

/// A block's wire form with the header fields written by hand, so one can be left out or
/// mistyped.
fn handmade(block: &Block, skip: &str, text_difficulty: bool) -> Vec<u8> {
    let h = &block.header;
    let mut fields: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut push = |name, f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = Vec::new();
        f(&mut v);
        fields.push((name, v));
    };
    push("prev", &|o| cbor::write_bytes(o, &h.prev));
    push("nonce", &|o| cbor::write_uint(o, h.nonce));
    push("height", &|o| cbor::write_uint(o, h.height));
    push("version", &|o| cbor::write_uint(o, h.version));
    push("producer", &|o| cbor::write_text(o, &h.producer));
    push("signature", &|o| {
        cbor::write_bytes(o, &h.signature.to_bytes())
    });
    push("timestamp", &|o| {
        cbor::write_uint(o, h.timestamp.as_millis())
    });
    push("tree_root", &|o| cbor::write_bytes(o, &h.tree_root));
    push("tree_size", &|o| cbor::write_uint(o, h.tree_size));
    push("difficulty", &|o| {
        if text_difficulty {
            cbor::write_text(o, "zero");
        } else {
            cbor::write_uint(o, u64::from(h.difficulty));
        }
    });
    fields.retain(|(name, _)| *name != skip);
    let mut out = Vec::new();
    cbor::write_map_header(&mut out, 2);
    cbor::write_text(&mut out, "header");
    cbor::write_map_header(&mut out, fields.len());
    for (name, value) in &fields {
        cbor::write_text(&mut out, name);
        out.extend_from_slice(value);
    }
    cbor::write_text(&mut out, "entries");
    cbor::write_array_header(&mut out, block.entries.len());
    for e in &block.entries {
        cbor::write_bytes(&mut out, e);
    }
    out
}

#[test]
fn code_101_missing_field() {
    let (k, chain) = chain(0);
    let block = next(&chain, &k, vec![entry(1, SENDER, 1)], 10);
    // The handmade form of the whole block is the block's own encoding.
    assert_eq!(handmade(&block, "", false), block.to_cbor());
    for field in ["nonce", "prev", "signature", "tree_root"] {
        let report = decode_block(&handmade(&block, field, false)).unwrap_err();
        assert_eq!(report.codes(), [Code::MissingField], "{field}");
        assert!(report.failures()[0].message.contains(field));
    }
}

#[test]
fn code_102_invalid_type() {
    let (k, chain) = chain(0);
    let block = next(&chain, &k, Vec::new(), 10);
    let report = decode_block(&handmade(&block, "", true)).unwrap_err();
    assert_eq!(report.codes(), [Code::InvalidType]);
    // A producer that is not an Ed25519 did:key.
    let mut bad = block.clone();
    bad.header.producer = "did:web:example.com".into();
    assert_eq!(codes_of(&chain, &bad, 20), [Code::InvalidType]);
}

#[test]
fn code_103_size_exceeded() {
    let (k, chain) = chain(0);
    let block = next(&chain, &k, vec![vec![0; 100_001]], 10);
    assert_eq!(codes_of(&chain, &block, 20), [Code::SizeExceeded]);
    // Eleven entries of 99 999 bytes: each fits, the block does not.
    let block = next(&chain, &k, vec![vec![0; 99_999]; 11], 10);
    assert_eq!(codes_of(&chain, &block, 20), [Code::SizeExceeded]);
    // Too large to decode at all.
    let report = decode_block(&vec![0; 1_000_001]).unwrap_err();
    assert_eq!(report.codes(), [Code::SizeExceeded]);
}

#[test]
fn structural_failures_are_all_listed_and_stop_deeper_layers() {
    let (k, chain) = chain(4);
    let mut block = chain.candidate(
        &k.verifying_key(),
        vec![vec![1; 100_001], b"junk".to_vec()],
        ts(10_000_000),
    );
    block.header.version = 9;
    block.header.producer = "did:key:not-a-key".into();
    // No signature, no proof-of-work, a timestamp far in the future, an entry that does not
    // decode: none of it is reported, since the structure is wrong.
    let report = chain.validate(&block, ts(0), None);
    assert_eq!(
        report.codes(),
        [Code::MalformedBlock, Code::SizeExceeded, Code::InvalidType]
    );
    assert!(
        report
            .failures()
            .iter()
            .all(|f| f.layer() == Layer::Structural)
    );
}

#[test]
fn code_200_hash_mismatch_foreign_genesis() {
    let (k, chain) = chain(0);
    let other = mine(
        Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(1), 0),
        &k,
        1,
    )
    .unwrap();
    assert_eq!(codes_of(&chain, &other, 20), [Code::HashMismatch]);
    // Our own genesis is simply known.
    let mut chain = chain;
    let genesis = chain.block_at(0).unwrap().clone();
    assert_eq!(chain.insert(genesis, ts(0), None), Ok(Inserted::Known));
}

#[test]
fn code_201_signature_invalid() {
    let (k, chain) = chain(0);
    let mut block = next(&chain, &k, Vec::new(), 10);
    block.header.nonce += 1;
    assert_eq!(codes_of(&chain, &block, 20), [Code::SignatureInvalid]);
    // Signed by someone else than the producer it names.
    let mut block = next(&chain, &k, Vec::new(), 10);
    block.header.signature = key(2).sign(&block.hash());
    assert_eq!(codes_of(&chain, &block, 20), [Code::SignatureInvalid]);
}

#[test]
fn code_202_merkle_invalid() {
    let (k, chain) = chain(0);
    let mut block = chain.candidate(&k.verifying_key(), vec![entry(1, SENDER, 1)], ts(10));
    block.header.tree_root[0] ^= 1;
    let block = mine(block, &k, 1).unwrap();
    assert_eq!(codes_of(&chain, &block, 20), [Code::MerkleInvalid]);
    let mut block = chain.candidate(&k.verifying_key(), vec![entry(1, SENDER, 1)], ts(10));
    block.header.tree_size = 2;
    let block = mine(block, &k, 1).unwrap();
    let report = chain.validate(&block, ts(20), None);
    assert_eq!(report.codes(), [Code::MerkleInvalid]);
    let json = String::from_utf8(report.to_json()).unwrap();
    assert!(
        json.contains(r#""details":{"expected":"1","got":"2"}"#),
        "{json}"
    );
    // Entries swapped: same size, other root.
    let mut block = next(
        &chain,
        &k,
        vec![entry(1, SENDER, 1), entry(2, SENDER, 2)],
        10,
    );
    block.entries.swap(0, 1);
    let block = resign(block, &k);
    assert_eq!(codes_of(&chain, &block, 20), [Code::MerkleInvalid]);
}

#[test]
fn code_300_pow_invalid() {
    let (k, chain) = chain(8);
    let mut block = chain.candidate(&k.verifying_key(), Vec::new(), ts(10));
    while leading_zero_bits(&block.hash()) >= 8 {
        block.header.nonce += 1;
    }
    let block = resign(block, &k);
    assert_eq!(codes_of(&chain, &block, 20), [Code::PowInvalid]);
    let mined = mine(block, &k, 1 << 20).unwrap();
    assert!(chain.validate(&mined, ts(20), None).is_valid());
}

#[test]
fn code_301_timestamp_invalid() {
    let (k, mut chain) = chain(0);
    // 300 s of skew is allowed, 300.001 s is not.
    let ok = next(&chain, &k, Vec::new(), 300_000);
    assert!(chain.validate(&ok, ts(0), None).is_valid());
    let late = next(&chain, &k, Vec::new(), 300_001);
    assert_eq!(codes_of(&chain, &late, 0), [Code::TimestampInvalid]);
    // Not before the parent.
    let b1 = next(&chain, &k, Vec::new(), 1_000);
    chain.insert(b1, ts(1_000), None).unwrap();
    let early = next(&chain, &k, Vec::new(), 999);
    assert_eq!(codes_of(&chain, &early, 2_000), [Code::TimestampInvalid]);
}

#[test]
fn code_302_chain_link_broken() {
    let (k, chain) = chain(0);
    let mut orphan = chain.candidate(&k.verifying_key(), Vec::new(), ts(10));
    orphan.header.prev = [9; 32];
    let orphan = mine(orphan, &k, 1).unwrap();
    assert_eq!(codes_of(&chain, &orphan, 20), [Code::ChainLinkBroken]);
    let mut skip = chain.candidate(&k.verifying_key(), Vec::new(), ts(10));
    skip.header.height = 2;
    let skip = mine(skip, &k, 1).unwrap();
    assert_eq!(codes_of(&chain, &skip, 20), [Code::ChainLinkBroken]);
}

#[test]
fn code_303_difficulty_mismatch() {
    let (k, chain) = chain(0);
    let mut block = chain.candidate(&k.verifying_key(), Vec::new(), ts(10));
    block.header.difficulty = 3;
    let block = mine(block, &k, 1 << 16).unwrap();
    assert_eq!(codes_of(&chain, &block, 20), [Code::DifficultyMismatch]);
    // Above the configured maximum: refused before anything else.
    let mut block = chain.candidate(&k.verifying_key(), Vec::new(), ts(10));
    block.header.difficulty = 200;
    assert_eq!(codes_of(&chain, &block, 20), [Code::SizeExceeded]);
}

#[test]
fn code_400_duplicate_message() {
    let (k, mut chain) = chain(0);
    let twice = next(
        &chain,
        &k,
        vec![entry(1, SENDER, 1), entry(1, SENDER, 2)],
        10,
    );
    assert_eq!(codes_of(&chain, &twice, 20), [Code::DuplicateMessage]);
    // Against the ancestry.
    let b1 = next(&chain, &k, vec![entry(1, SENDER, 1)], 10);
    let fork_parent = chain.tip_hash();
    chain.insert(b1, ts(10), None).unwrap();
    let again = next(&chain, &k, vec![entry(1, SENDER, 7)], 20);
    assert_eq!(codes_of(&chain, &again, 30), [Code::DuplicateMessage]);
    // The same entry on a competing fork is not a duplicate there.
    let sibling = mine(
        {
            let mut b = chain.candidate(&key(2).verifying_key(), vec![entry(1, SENDER, 1)], ts(11));
            // Rebuild on the genesis instead of the tip.
            let genesis = chain.get(&fork_parent).unwrap();
            b.header.prev = fork_parent;
            b.header.height = 1;
            b.header.tree_size = 1;
            b.header.tree_root = talos_ledger::merkle::leaf_hash(&entry(1, SENDER, 1));
            assert_eq!(genesis.header.tree_size, 0);
            b
        },
        &key(2),
        1,
    )
    .unwrap();
    let report = chain.validate(&sibling, ts(30), None);
    assert!(report.is_valid(), "{report}");
    // Equal work: the lower hash wins, so either outcome is possible.
    assert!(matches!(
        chain.insert(sibling, ts(30), None),
        Ok(Inserted::NewTip | Inserted::SideBranch)
    ));
}

#[test]
fn code_401_nonce_reused() {
    let (k, mut chain) = chain(0);
    let block = next(
        &chain,
        &k,
        vec![entry(1, SENDER, 5), entry(2, SENDER, 5)],
        10,
    );
    assert_eq!(codes_of(&chain, &block, 20), [Code::NonceReused]);
    // Another sender may use the same nonce.
    let other = "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH";
    let block = next(
        &chain,
        &k,
        vec![entry(1, SENDER, 5), entry(2, other, 5)],
        10,
    );
    assert!(chain.validate(&block, ts(20), None).is_valid());
    chain.insert(block, ts(20), None).unwrap();
    let block = next(&chain, &k, vec![entry(3, other, 5)], 30);
    assert_eq!(codes_of(&chain, &block, 40), [Code::NonceReused]);
}

#[test]
fn code_402_message_format_invalid() {
    let (k, chain) = chain(0);
    let block = next(
        &chain,
        &k,
        vec![entry(1, SENDER, 1), b"not an entry".to_vec()],
        10,
    );
    let report = chain.validate(&block, ts(20), None);
    assert_eq!(report.codes(), [Code::MessageFormatInvalid]);
    assert_eq!(report.failures()[0].details[0], ("entry", "1".to_string()));
}

struct Checker;

impl AnchorCheck for Checker {
    fn check(&self, anchor: &Anchor) -> Result<(), String> {
        if anchor.origin == "good.example/log" {
            Ok(())
        } else {
            Err("root differs from the checkpoint we hold".into())
        }
    }

    fn is_known(&self, origin: &str) -> bool {
        origin != "unknown.example/log"
    }
}

#[test]
fn code_500_anchor_mismatch() {
    let (k, chain) = chain(0);
    let good = next(&chain, &k, vec![anchor_entry(1, "good.example/log")], 10);
    assert!(chain.validate(&good, ts(20), Some(&Checker)).is_valid());
    let bad = next(&chain, &k, vec![anchor_entry(1, "bad.example/log")], 10);
    let report = chain.validate(&bad, ts(20), Some(&Checker));
    assert_eq!(report.codes(), [Code::AnchorMismatch]);
    assert_eq!(report.failures()[0].layer(), Layer::CrossChain);
    // Without a checker the cross-chain layer is skipped.
    assert!(chain.validate(&bad, ts(20), None).is_valid());
}

#[test]
fn code_501_external_verification_failed() {
    let (k, chain) = chain(0);
    let block = next(&chain, &k, vec![anchor_entry(1, "unknown.example/log")], 10);
    assert_eq!(
        chain.validate(&block, ts(20), Some(&Checker)).codes(),
        [Code::ExternalVerificationFailed]
    );
}

#[test]
fn a_report_lists_every_failure_in_layer_order() {
    let (k, chain) = chain(0);
    let mut block = chain.candidate(
        &k.verifying_key(),
        vec![
            entry(1, SENDER, 1),
            entry(1, SENDER, 1),
            b"junk".to_vec(),
            anchor_entry(3, "bad.example/log"),
        ],
        ts(900_000),
    );
    block.header.difficulty = 1;
    block.header.tree_size = 99;
    let mut block = mine(block, &k, 1 << 16).unwrap();
    block.header.nonce = block.header.nonce.wrapping_add(1 << 40); // breaks the signature
    let report = chain.validate(&block, ts(0), Some(&Checker));
    let codes = report.codes();
    assert!(codes.contains(&Code::SignatureInvalid), "{codes:?}");
    assert!(codes.contains(&Code::MerkleInvalid));
    assert!(codes.contains(&Code::DifficultyMismatch));
    assert!(codes.contains(&Code::TimestampInvalid));
    assert!(codes.contains(&Code::DuplicateMessage));
    assert!(codes.contains(&Code::NonceReused));
    assert!(codes.contains(&Code::MessageFormatInvalid));
    assert!(codes.contains(&Code::AnchorMismatch));
    let layers: Vec<Layer> = report.failures().iter().map(|f| f.layer()).collect();
    let mut sorted = layers.clone();
    sorted.sort();
    assert_eq!(layers, sorted, "failures come layer by layer");

    // The JSON form: {code, code_name, message, layer, block_index, details} per failure.
    let json: serde_json::Value = serde_json::from_slice(&report.to_json()).unwrap();
    let items = json.as_array().unwrap();
    assert_eq!(items.len(), report.failures().len());
    for (item, failure) in items.iter().zip(report.failures()) {
        let obj = item.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "block_index",
                "code",
                "code_name",
                "details",
                "layer",
                "message"
            ]
        );
        assert_eq!(obj["code"], u64::from(failure.code.number()));
        assert_eq!(obj["code_name"], failure.code.name());
        assert_eq!(obj["block_index"], 1);
    }
}

#[test]
fn codes_numbers_names_and_layers() {
    let numbers: Vec<u32> = Code::ALL.iter().map(|c| c.number()).collect();
    assert_eq!(
        numbers,
        [
            100, 101, 102, 103, 200, 201, 202, 300, 301, 302, 303, 400, 401, 402, 500, 501
        ]
    );
    assert_eq!(Code::NonceReused.name(), "NONCE_REUSED");
    assert_eq!(Code::AnchorMismatch.layer(), Layer::CrossChain);
    assert_eq!(Code::MissingField.layer(), Layer::Structural);
    assert_eq!(Layer::CrossChain.as_str(), "cross_chain");
}

#[test]
fn a_fork_block_is_checked_against_its_own_parent() {
    let (k, mut chain) = chain(0);
    let genesis = chain.tip_hash();
    let a1 = next(&chain, &k, vec![entry(1, SENDER, 1)], 10);
    chain.insert(a1, ts(10), None).unwrap();
    let a2 = next(&chain, &k, vec![entry(2, SENDER, 2)], 20);
    chain.insert(a2, ts(20), None).unwrap();
    // A fork from genesis with three entries; its commitments extend the genesis frontier.
    let k2 = key(2);
    let mut b1 = Block::genesis_candidate(
        &k2.verifying_key(),
        vec![
            entry(3, SENDER, 3),
            entry(4, SENDER, 4),
            entry(5, SENDER, 5),
        ],
        ts(15),
        0,
    );
    b1.header.height = 1;
    b1.header.prev = genesis;
    let b1 = mine(b1, &k2, 1).unwrap();
    assert_eq!(
        chain.insert(b1.clone(), ts(30), None),
        Ok(Inserted::SideBranch)
    );
    assert_eq!(chain.height(), 2);
    assert_eq!(chain.frontier(&b1.hash()).unwrap().size(), 3);
    // Extending the fork twice makes it the best chain (3 blocks of work 1 against 2).
    let mut b2 =
        Block::genesis_candidate(&k2.verifying_key(), vec![entry(6, SENDER, 6)], ts(16), 0);
    let mut f = chain.frontier(&b1.hash()).unwrap().clone();
    f.push(talos_ledger::merkle::leaf_hash(&entry(6, SENDER, 6)));
    b2.header.height = 2;
    b2.header.prev = b1.hash();
    b2.header.tree_size = f.size();
    b2.header.tree_root = f.root();
    let b2 = mine(b2, &k2, 1).unwrap();
    chain.insert(b2.clone(), ts(30), None).unwrap();
    let b3 = mine(
        {
            let mut b = Block::genesis_candidate(&k2.verifying_key(), Vec::new(), ts(17), 0);
            b.header.height = 3;
            b.header.prev = b2.hash();
            b.header.tree_size = f.size();
            b.header.tree_root = f.root();
            b
        },
        &k2,
        1,
    )
    .unwrap();
    assert_eq!(chain.insert(b3.clone(), ts(30), None), Ok(Inserted::NewTip));
    assert_eq!(chain.tip_hash(), b3.hash());
    assert_eq!(chain.block_at(1).unwrap(), &b1);
    assert_eq!(chain.tree_size(), 4);
}

#[test]
fn import_reports_bad_blocks_and_keeps_good_ones() {
    let (k, mut chain) = chain(0);
    let mut shadow = chain.clone();
    let mut blocks = Vec::new();
    for i in 0..5u8 {
        let b = next(
            &shadow,
            &k,
            vec![entry(10 + i, SENDER, u64::from(i) + 10)],
            u64::from(i) * 10 + 10,
        );
        shadow.insert(b.clone(), ts(100), None).unwrap();
        blocks.push(b);
    }
    let mut broken = blocks.clone();
    broken[3].header.nonce ^= 1;
    let outcome = chain.import(broken, ts(100), None);
    assert_eq!(outcome.inserted, 3);
    // Block 3's signature fails; block 4's parent was refused.
    assert_eq!(
        outcome.report.codes(),
        [Code::SignatureInvalid, Code::ChainLinkBroken]
    );
    assert_eq!(outcome.report.failures()[0].block_index, 4);
    let outcome = chain.import(blocks, ts(100), None);
    assert_eq!((outcome.inserted, outcome.known), (2, 3));
    assert!(outcome.new_tip && outcome.report.is_valid());
    assert_eq!(chain.tip_hash(), shadow.tip_hash());
}

mod mutations {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any change to a valid block (a header field, an entry byte, the entry list) is
        /// reported; the unchanged block is valid.
        #[test]
        fn every_mutation_is_detected(field in 0usize..10, value in any::<u64>(), byte in any::<u8>()) {
            let (k, chain) = chain(0);
            let block = next(&chain, &k, vec![entry(1, SENDER, 1), entry(2, SENDER, 2)], 10);
            prop_assert!(chain.validate(&block, ts(20), None).is_valid());
            let mut m = block.clone();
            let h = &mut m.header;
            match field {
                0 => h.height = h.height.wrapping_add(1 + value % 1000),
                1 => h.prev[usize::from(byte) % 32] ^= 1 | byte,
                2 => h.tree_size = h.tree_size.wrapping_add(1 + value % 1000),
                3 => h.tree_root[usize::from(byte) % 32] ^= 1 | byte,
                4 => h.timestamp = Timestamp::from_millis(h.timestamp.as_millis() ^ (1 + value % 100_000)),
                5 => h.difficulty = h.difficulty.wrapping_add(1 | byte),
                6 => h.nonce ^= 1 | value,
                7 => {
                    let mut sig = h.signature.to_bytes();
                    sig[usize::from(byte) % 64] ^= 1;
                    h.signature = talos_crypto::Signature::from_bytes(&sig);
                }
                8 => {
                    let e = &mut m.entries[usize::from(byte) % 2];
                    let len = e.len();
                    e[(value as usize) % len] ^= 1 | byte;
                }
                _ => {
                    m.entries.pop();
                }
            }
            prop_assert!(!chain.validate(&m, ts(20), None).is_valid());
        }
    }
}

#[test]
fn a_held_hash_with_other_bytes_is_validated_not_known() {
    let (k, mut chain) = chain(0);
    let block = next(&chain, &k, vec![entry(1, SENDER, 1)], 10);
    chain.insert(block.clone(), ts(10), None).unwrap();
    // Same header (so the same hash), other signature.
    let mut forged = block.clone();
    forged.header.signature = key(2).sign(&block.hash());
    assert_eq!(forged.hash(), block.hash());
    match chain.insert(forged.clone(), ts(20), None) {
        Err(InsertError::Invalid(report)) => {
            assert_eq!(report.codes(), [Code::SignatureInvalid]);
        }
        other => panic!("{other:?}"),
    }
    // Same header, other entries.
    let mut swapped = block.clone();
    swapped.entries = vec![entry(2, SENDER, 2)];
    let outcome = chain.import(vec![swapped], ts(20), None);
    assert_eq!(outcome.report.codes(), [Code::MerkleInvalid]);
    assert_eq!(outcome.known, 0);
    assert_eq!(chain.insert(block, ts(20), None), Ok(Inserted::Known));
}
