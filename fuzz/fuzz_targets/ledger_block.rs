//! `Block::from_cbor` and the sync `Message::from_cbor` take any bytes: what decodes re-encodes
//! to itself byte for byte, and a decoded block validates (all five layers, at a fixed `now`)
//! against a fixed chain without panicking, alone and through `Chain::import`. (A fuzzer cannot
//! forge signatures; structural, Merkle, consensus and semantic checks all run regardless.)
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use talos_crypto::{SigningKey, Timestamp};
use talos_ledger::block::{Block, Chain, ChainConfig, mine};
use talos_ledger::sync::Message;

const T0: u64 = 1_768_178_601_000;

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let key = SigningKey::from_seed(&[1; 32]);
        let mut config = ChainConfig::default();
        config.set_difficulty(0);
        let genesis = Block::genesis_candidate(
            &key.verifying_key(),
            Vec::new(),
            Timestamp::from_millis(T0),
            0,
        );
        let genesis = mine(genesis, &key, 1).expect("difficulty 0");
        let mut chain = Chain::new(config, genesis).expect("valid genesis");
        let next = chain.candidate(
            &key.verifying_key(),
            Vec::new(),
            Timestamp::from_millis(T0 + 1),
        );
        let next = mine(next, &key, 1).expect("difficulty 0");
        chain
            .insert(next, Timestamp::from_millis(T0 + 1), None)
            .expect("valid block");
        chain
    })
}

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::from_millis(T0 + 60_000);
    if let Ok(block) = Block::from_cbor(data) {
        assert_eq!(block.to_cbor(), data);
        assert_eq!(block.encoded_len(), data.len());
        let chain = chain();
        let report = chain.validate(&block, now, None);
        let _ = report.to_json();
        let mut copy = chain.clone();
        let outcome = copy.import(vec![block], now, None);
        assert_eq!(outcome.report.is_valid(), report.is_valid());
    }
    if let Ok(message) = Message::from_cbor(data) {
        assert_eq!(message.to_cbor(), data);
    }
});
