#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Blocks: wire round trips and strictness, deterministic genesis, mining with a budget, the
//! mempool, and fork choice (most work, ties to the lower hash).

use proptest::prelude::*;
use talos_crypto::{Signature, SigningKey, Timestamp};
use talos_ledger::block::{
    Block, BlockDecodeError, Chain, ChainConfig, Header, Inserted, MAX_MEMPOOL_ENTRIES, Mempool,
    MempoolError, OutOfBudget, leading_zero_bits, mine, producer_did, work,
};
use talos_ledger::entry::{Body, Entry, Message};

const T0: u64 = 1_700_000_000_000;
const SENDER: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed(&[n; 32])
}

fn entry_with(id: [u8; 16], nonce: u64, pad: usize) -> Vec<u8> {
    Entry::new(
        id,
        SENDER,
        nonce,
        ts(0),
        Body::MessageSent(Message {
            peer: SENDER.into(),
            session_id: vec![7; pad.clamp(1, 64)],
            header_hash: [id[0]; 32],
        }),
    )
    .unwrap()
    .to_cbor()
}

fn entry(id: u8) -> Vec<u8> {
    entry_with([id; 16], u64::from(id), 1)
}

fn chain(difficulty: u8) -> (SigningKey, Chain) {
    let k = key(1);
    let mut config = ChainConfig::default();
    config.set_difficulty(difficulty);
    let genesis = Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(0), difficulty);
    let genesis = mine(genesis, &k, 1 << 24).unwrap();
    (k, Chain::new(config, genesis).unwrap())
}

#[test]
fn wire_round_trip_and_strictness() {
    let (k, chain) = chain(0);
    let block = mine(
        chain.candidate(&k.verifying_key(), vec![entry(1), entry(2)], ts(5)),
        &k,
        1,
    )
    .unwrap();
    let bytes = block.to_cbor();
    assert_eq!(bytes.len(), block.encoded_len());
    assert_eq!(Block::from_cbor(&bytes).unwrap(), block);
    // Trailing bytes, truncation and other encodings are refused.
    let mut long = bytes.clone();
    long.push(0);
    assert!(Block::from_cbor(&long).is_err());
    for cut in 0..bytes.len() {
        assert!(Block::from_cbor(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // A non-shortest head for the nonce (0 written as one extra byte) decodes to the same
    // value but is not the deterministic encoding.
    let needle = [b'n', b'o', b'n', b'c', b'e', 0x00];
    let at = bytes.windows(6).position(|w| w == needle).unwrap() + 5;
    let mut loose = bytes[..at].to_vec();
    loose.extend_from_slice(&[0x18, 0x00]);
    loose.extend_from_slice(&bytes[at + 1..]);
    assert!(matches!(
        Block::from_cbor(&loose),
        Err(BlockDecodeError::Cbor(
            talos_crypto::CborError::NonCanonical
        ))
    ));
    assert!(matches!(
        Block::from_cbor(&vec![0; 1_000_001]),
        Err(BlockDecodeError::TooLarge { .. })
    ));
}

#[test]
fn unknown_fields_are_refused() {
    let (k, chain) = chain(0);
    let block = mine(
        chain.candidate(&k.verifying_key(), Vec::new(), ts(5)),
        &k,
        1,
    )
    .unwrap();
    let bytes = block.to_cbor();
    // {header, entries} → {header, entries, "x": 0}
    let mut extra = bytes.clone();
    extra[0] = 0xa3;
    extra.extend_from_slice(&[0x61, b'x', 0x00]);
    assert!(Block::from_cbor(&extra).is_err());
}

#[test]
fn genesis_is_deterministic() {
    let k = key(3);
    let make = || {
        mine(
            Block::genesis_candidate(&k.verifying_key(), vec![entry(1)], ts(0), 6),
            &k,
            1 << 20,
        )
        .unwrap()
    };
    let (a, b) = (make(), make());
    assert_eq!(a, b);
    assert_eq!(a.header.height, 0);
    assert_eq!(a.header.prev, [0; 32]);
    assert_eq!(a.header.tree_size, 1);
    assert_eq!(
        a.header.tree_root,
        talos_ledger::merkle::leaf_hash(&entry(1))
    );
    assert_eq!(a.header.producer, producer_did(&k.verifying_key()));
    assert!(leading_zero_bits(&a.hash()) >= 6);
}

#[test]
fn mining_respects_the_budget_and_resumes() {
    let k = key(4);
    let candidate = Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(0), 12);
    // Find how many attempts the full search takes, then give less.
    let full = mine(candidate.clone(), &k, 1 << 24).unwrap();
    let attempts = full.header.nonce + 1;
    assert!(
        attempts > 1,
        "difficulty 12 should need more than one attempt here"
    );
    let OutOfBudget { block } = mine(candidate.clone(), &k, attempts - 1).unwrap_err();
    assert_eq!(block.header.nonce, attempts - 1);
    // Resuming with one more attempt finds the same block.
    assert_eq!(mine(*block, &k, 1).unwrap(), full);
    // A zero budget never succeeds, even at difficulty 0.
    let easy = Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(0), 0);
    assert!(mine(easy.clone(), &k, 0).is_err());
    assert!(mine(easy, &k, 1).is_ok());
}

#[test]
fn work_is_two_to_the_difficulty_saturating() {
    assert_eq!(work(0), 1);
    assert_eq!(work(2), 4);
    assert_eq!(work(127), 1 << 127);
    assert_eq!(work(128), u128::MAX);
    assert_eq!(work(255), u128::MAX);
}

fn child(chain: &Chain, parent: &Block, k: &SigningKey, at: u64) -> Block {
    let mut b = Block::genesis_candidate(
        &k.verifying_key(),
        Vec::new(),
        ts(at),
        chain.config().difficulty(),
    );
    b.header.height = parent.header.height + 1;
    b.header.prev = parent.hash();
    b.header.tree_size = parent.header.tree_size;
    b.header.tree_root = parent.header.tree_root;
    mine(b, k, 1 << 24).unwrap()
}

#[test]
fn fork_choice_most_work_then_lower_hash() {
    let (k, mut chain) = chain(2);
    let genesis = chain.tip().clone();
    // Two children of genesis with equal work: the lower hash is the tip, whatever the order.
    let a = child(&chain, &genesis, &k, 10);
    let b = child(&chain, &genesis, &key(2), 10);
    let (low, high) = if a.hash() < b.hash() { (a, b) } else { (b, a) };
    let mut other = chain.clone();
    assert_eq!(
        chain.insert(high.clone(), ts(20), None),
        Ok(Inserted::NewTip)
    );
    assert_eq!(
        chain.insert(low.clone(), ts(20), None),
        Ok(Inserted::NewTip)
    );
    assert_eq!(
        other.insert(low.clone(), ts(20), None),
        Ok(Inserted::NewTip)
    );
    assert_eq!(
        other.insert(high.clone(), ts(20), None),
        Ok(Inserted::SideBranch)
    );
    assert_eq!(chain.tip_hash(), low.hash());
    assert_eq!(other.tip_hash(), low.hash());
    assert_eq!(chain.cumulative_work(), 8);
    // More work wins over the lower hash.
    let high2 = child(&chain, &high, &k, 30);
    assert_eq!(
        chain.insert(high2.clone(), ts(40), None),
        Ok(Inserted::NewTip)
    );
    assert_eq!(chain.tip_hash(), high2.hash());
    assert_eq!(chain.height(), 2);
    assert_eq!(chain.block_at(1).unwrap(), &high);
    assert_eq!(chain.cumulative_work(), 12);
    assert!(chain.is_better(13, &[0xff; 32]));
    assert!(!chain.is_better(11, &[0; 32]));
}

#[test]
fn chain_is_bounded_and_prunes_side_branches() {
    let k = key(1);
    let mut config = ChainConfig::default();
    config.set_difficulty(0).set_max_blocks(10);
    let genesis = mine(
        Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(0), 0),
        &k,
        1,
    )
    .unwrap();
    let mut chain = Chain::new(config, genesis.clone()).unwrap();
    // A side branch of one block, then a main chain long enough to fill the tree.
    let side = child(&chain, &genesis, &key(9), 1);
    let mut tip = genesis;
    for i in 0..3 {
        tip = child(&chain, &tip, &k, 2 + i);
        chain.insert(tip.clone(), ts(100), None).unwrap();
    }
    assert_eq!(
        chain.insert(side.clone(), ts(100), None),
        Ok(Inserted::SideBranch)
    );
    for i in 3..20 {
        tip = child(&chain, &tip, &k, 2 + i);
        let r = chain.insert(tip.clone(), ts(100), None);
        if chain.len() < 10 || r.is_ok() {
            assert!(r.is_ok(), "{r:?}");
        } else {
            assert!(matches!(
                r,
                Err(talos_ledger::block::InsertError::Full { max: 10 })
            ));
            break;
        }
    }
    assert!(chain.len() <= 10);
    assert!(
        !chain.contains(&side.hash()),
        "the side branch was pruned first"
    );
}

#[test]
fn mempool_dedups_bounds_and_packs_greedily() {
    let mut pool = Mempool::default();
    pool.insert(entry(1)).unwrap();
    assert_eq!(pool.insert(entry(1)), Err(MempoolError::Duplicate));
    assert!(matches!(
        pool.insert(b"junk".to_vec()),
        Err(MempoolError::Invalid(_))
    ));
    assert!(matches!(
        pool.insert(vec![0; 100_001]),
        Err(MempoolError::TooLarge { .. })
    ));
    let big = entry_with([2; 16], 2, 64);
    let small = entry_with([3; 16], 3, 1);
    pool.insert(big.clone()).unwrap();
    pool.insert(small.clone()).unwrap();
    assert_eq!(pool.len(), 3);
    // Room for entry 1 and the small one, not the big one: greedy skips it.
    let cost = |len: usize| {
        len + if len < 24 {
            1
        } else if len < 256 {
            2
        } else {
            3
        }
    };
    let budget = cost(entry(1).len()) + cost(small.len());
    assert!(cost(big.len()) > cost(small.len()));
    let batch = pool.take_batch(budget);
    assert_eq!(batch, vec![entry(1), small.clone()]);
    assert_eq!(pool.len(), 1);
    assert!(pool.contains(&[2; 16]));
    // Taken ids can come back; included ones are dropped.
    pool.insert(small.clone()).unwrap();
    let block = Block::genesis_candidate(&key(1).verifying_key(), vec![small], ts(0), 0);
    pool.remove_included(&block);
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.take_batch(usize::MAX), vec![big]);
    assert!(pool.is_empty());

    let mut tiny = Mempool::new(2);
    tiny.insert(entry(1)).unwrap();
    tiny.insert(entry(2)).unwrap();
    assert_eq!(tiny.insert(entry(3)), Err(MempoolError::Full { max: 2 }));
    assert_eq!(MAX_MEMPOOL_ENTRIES, 10_000);
}

#[test]
fn blocks_from_serves_the_best_chain() {
    let (k, mut chain) = chain(0);
    for i in 0..5 {
        let b = mine(
            chain.candidate(&k.verifying_key(), vec![entry(i)], ts(u64::from(i))),
            &k,
            1,
        )
        .unwrap();
        chain.insert(b, ts(10), None).unwrap();
    }
    let blocks = chain.blocks_from(2, 10, usize::MAX);
    let heights: Vec<u64> = blocks.iter().map(|b| b.header.height).collect();
    assert_eq!(heights, [2, 3, 4, 5]);
    assert_eq!(chain.blocks_from(2, 2, usize::MAX).len(), 2);
    assert_eq!(chain.blocks_from(2, 10, 1).len(), 1, "at least one block");
    assert!(chain.blocks_from(6, 10, usize::MAX).is_empty());
    assert!(chain.blocks_from(u64::MAX, 10, usize::MAX).is_empty());
}

fn arb_block() -> impl Strategy<Value = Block> {
    (
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u8>(),
        any::<u64>(),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
    )
        .prop_map(
            |(height, prev, tree_size, tree_root, t, difficulty, nonce, entries)| Block {
                header: Header {
                    version: 1,
                    height,
                    prev,
                    tree_size,
                    tree_root,
                    timestamp: Timestamp::from_millis(t),
                    producer: producer_did(&key(5).verifying_key()),
                    difficulty,
                    nonce,
                    signature: Signature::from_bytes(&[difficulty; 64]),
                },
                entries,
            },
        )
}

proptest! {
    #[test]
    fn any_block_round_trips(block in arb_block()) {
        let bytes = block.to_cbor();
        prop_assert_eq!(bytes.len(), block.encoded_len());
        prop_assert_eq!(Block::from_cbor(&bytes).unwrap(), block);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Block::from_cbor(&bytes);
    }
}

#[test]
fn an_invalid_genesis_is_refused() {
    let k = key(1);
    let mut config = ChainConfig::default();
    config.set_difficulty(0);
    let mut genesis = mine(
        Block::genesis_candidate(&k.verifying_key(), vec![entry(1)], ts(0), 0),
        &k,
        1,
    )
    .unwrap();
    genesis.entries.push(entry(2));
    let report = Chain::new(config, genesis).unwrap_err();
    assert_eq!(
        report.codes(),
        [talos_ledger::validate::Code::MerkleInvalid]
    );
    // The chain's difficulty applies to the genesis block too.
    let easy = mine(
        Block::genesis_candidate(&k.verifying_key(), Vec::new(), ts(0), 0),
        &k,
        1,
    )
    .unwrap();
    config.set_difficulty(4);
    assert!(Chain::new(config, easy).is_err());
}
