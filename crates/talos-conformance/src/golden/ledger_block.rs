//! `ledger/block.json`: a genesis block and a chain of blocks with their CBOR, hashes and
//! tree heads; `ledger/validation_report.json`: the reports of invalid blocks, every failure
//! of every layer listed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use talos_crypto::json::{self, Number, Value};
use talos_crypto::{SigningKey, Timestamp, base64url};
use talos_ledger::block::{Block, BlockDecodeError, Chain, ChainConfig, mine};
use talos_ledger::checkpoint::{Checkpoint, CheckpointSigner};
use talos_ledger::entry::{Anchor, Body, Entry, Message};
use talos_ledger::validate::{self, AnchorCheck, ValidationReport};

use super::{Derived, Family, Spec};
use crate::util::{array_field, field, hex_array, hex_field, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "ledger/block.json",
    contract: "ledger/block.schema.json",
    description: "Blocks v1. A block is the deterministic CBOR map {\"header\": {version, height, prev, \
                  tree_size, tree_root, timestamp, producer, difficulty, nonce, signature}, \"entries\": \
                  [entry CBOR…]}; block hash = SHA-256 of the header's CBOR without signature; signature = \
                  Ed25519 by the producer's did:key over the block hash; with difficulty d the block hash \
                  starts with d zero bits (nonces tried from 0). tree_size and tree_root are the RFC 9162 \
                  log after the block's entries (each entry's leaf hash is SHA-256(0x00 ‖ its CBOR)). \
                  inputs.blocks lists the chain from genesis; each block's entries are message_sent \
                  entries by the did:key of sender_seed_hex with id [id; 16], that nonce, the block's \
                  timestamp, peer the producer and header_hash [id; 32], unless raw_hex gives the bytes. \
                  `object` is the last block in JSON form (byte strings unpadded base64url); \
                  expected.blocks gives each block's CBOR, hash and tree head, and expected the chain's \
                  height, tip and cumulative work (2^difficulty per block). Negative cases alter the \
                  last block's CBOR (truncate_cbor_by, append_cbor_hex) and must be refused by the \
                  decoder.",
    producer: || format!("talos-ledger {}", talos_ledger::VERSION),
    specs: block_specs,
    derive: derive_block,
};

pub(super) const REPORT_FAMILY: Family = Family {
    file: "ledger/validation_report.json",
    contract: "ledger/validation_report.schema.json",
    description: "Validation reports of invalid blocks. A chain is built as in ledger/block.json from \
                  inputs.chain (difficulty, blocks); then a bad block on its tip (or, with bad.height0, a \
                  genesis block for it; with genesis: true, a genesis block for a chain of that \
                  difficulty) is made from inputs.bad: its entries, \
                  then mutate_before_signing changes header members (version, height, prev_hex, \
                  timestamp_ms, producer, difficulty), the block is mined (mine: true; else signed with \
                  nonce 0), and mutate_after_signing changes header members (tree_root_hex) without \
                  re-signing. It is validated at now_ms; with held_anchor the validator holds that \
                  checkpoint (origin, size, root_hex) of another log, and an anchor entry (whose note is that \
                  checkpoint signed by the key of seed 0x4f…, named origin) of that origin \
                  must agree with it at the same size. With decode_truncated the bad block's CBOR is \
                  truncated by that many bytes and decoded. `object` is the report: every failure, \
                  layer by layer (structural 1xx, cryptographic 2xx, consensus 3xx, semantic 4xx, \
                  cross-chain 5xx; structural failures stop validation); expected.block_cbor_b64u is \
                  the bad block and expected.codes the failure code names in order.",
    producer: || format!("talos-ledger {}", talos_ledger::VERSION),
    specs: report_specs,
    derive: derive_report,
};

const TS: u64 = 1_768_178_601_000;
const MINUTE: u64 = 60_000;
const PRODUCER: &str = "5050505050505050505050505050505050505050505050505050505050505050";
const SENDER: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const BUDGET: u64 = 1 << 24;

fn big(value: u64) -> Value {
    Value::Number(Number::try_from(value).unwrap_or(Number::from(0u32)))
}

fn entries(ids: &[(u8, u64)]) -> Value {
    Value::Array(
        ids.iter()
            .map(|(id, nonce)| object([("id", big(u64::from(*id))), ("nonce", big(*nonce))]))
            .collect(),
    )
}

fn block(height: u64, ids: &[(u8, u64)]) -> Value {
    object([
        ("timestamp_ms", big(TS + height * MINUTE)),
        ("entries", entries(ids)),
    ])
}

fn chain_inputs(difficulty: u64, blocks: Vec<Value>) -> Value {
    object([
        ("producer_seed_hex", s(PRODUCER)),
        ("sender_seed_hex", s(SENDER)),
        ("difficulty", big(difficulty)),
        ("blocks", Value::Array(blocks)),
    ])
}

fn with(mut value: Value, name: &str, extra: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(name.into(), extra);
    }
    value
}

fn three_blocks(difficulty: u64) -> Value {
    chain_inputs(
        difficulty,
        vec![
            block(0, &[(1, 0), (2, 1)]),
            block(1, &[(3, 2), (4, 3), (5, 4)]),
            block(2, &[(6, 5)]),
        ],
    )
}

fn block_specs() -> Vec<Spec> {
    vec![
        Spec::ok(
            "genesis-d0",
            "a genesis block with two entries, no proof-of-work",
            chain_inputs(0, vec![block(0, &[(1, 0), (2, 1)])]),
        ),
        Spec::ok(
            "genesis-empty-d0",
            "a genesis block without entries: the empty tree",
            chain_inputs(0, vec![block(0, &[])]),
        ),
        Spec::ok(
            "chain-d0",
            "genesis and two blocks, difficulty 0",
            three_blocks(0),
        ),
        Spec::ok(
            "chain-d8",
            "genesis and two blocks, difficulty 8 (mined)",
            three_blocks(8),
        ),
        Spec::err(
            "truncated",
            "the last block's CBOR missing its last byte",
            with(three_blocks(0), "truncate_cbor_by", big(1)),
            "cbor",
        ),
        Spec::err(
            "trailing-bytes",
            "a byte after the last block's CBOR",
            with(three_blocks(0), "append_cbor_hex", s("00")),
            "cbor",
        ),
    ]
}

fn report_specs() -> Vec<Spec> {
    let chain = || chain_inputs(0, vec![block(0, &[(1, 0), (2, 1)]), block(1, &[(3, 2)])]);
    let bad = |ids: &[(u8, u64)], pairs: Vec<(&str, Value)>| {
        let mut b = block(2, ids);
        for (k, v) in pairs {
            b = with(b, k, v);
        }
        b
    };
    let case = |bad: Value, extra: Vec<(&str, Value)>| {
        let mut v = object([
            ("chain", chain()),
            ("bad", bad),
            ("now_ms", big(TS + 10 * MINUTE)),
        ]);
        for (k, x) in extra {
            v = with(v, k, x);
        }
        v
    };
    let raw = |hex: &str| object([("raw_hex", s(hex))]);
    vec![
        Spec::ok(
            "structural",
            "version 2, a producer that is not an Ed25519 did:key and difficulty 65: three \
             structural failures, and nothing else checked",
            case(
                bad(
                    &[(7, 7)],
                    vec![
                        ("mine", Value::Bool(false)),
                        (
                            "mutate_before_signing",
                            object([
                                ("version", big(2)),
                                ("producer", s("did:web:producer.example")),
                                ("difficulty", big(65)),
                            ]),
                        ),
                    ],
                ),
                vec![],
            ),
        ),
        Spec::ok(
            "crypto-consensus-semantic",
            "tree_root changed after signing (bad signature and Merkle commitment), difficulty 12 \
             on a difficulty-0 chain without the work, a timestamp before the parent's, a reused \
             entry id, a nonce reused from the chain and an entry that does not decode",
            case(
                {
                    let mut b = bad(
                        &[(7, 7), (7, 8), (8, 2)],
                        vec![
                            ("mine", Value::Bool(false)),
                            (
                                "mutate_before_signing",
                                object([("difficulty", big(12)), ("timestamp_ms", big(TS))]),
                            ),
                            (
                                "mutate_after_signing",
                                object([("tree_root_hex", s(hex::encode([0xee; 32])))]),
                            ),
                        ],
                    );
                    if let Value::Object(m) = &mut b
                        && let Some(Value::Array(list)) = m.get_mut("entries")
                    {
                        list.push(raw("a0"));
                    }
                    b
                },
                vec![],
            ),
        ),
        Spec::ok(
            "unknown-parent-future",
            "prev not held, height 5, a timestamp an hour after now",
            case(
                bad(
                    &[(9, 9)],
                    vec![
                        ("mine", Value::Bool(true)),
                        (
                            "mutate_before_signing",
                            object([
                                ("prev_hex", s(hex::encode([0x42; 32]))),
                                ("height", big(5)),
                                ("timestamp_ms", big(TS + 70 * MINUTE)),
                            ]),
                        ),
                    ],
                ),
                vec![],
            ),
        ),
        Spec::ok(
            "cross-chain",
            "an anchor that disagrees with the held checkpoint of its log, and an anchor of a log \
             we hold nothing for",
            case(
                {
                    let anchors = Value::Array(vec![
                        object([
                            ("id", big(10)),
                            ("nonce", big(10)),
                            (
                                "anchor",
                                object([
                                    ("origin", s("peer.talos.example/log")),
                                    ("size", big(3)),
                                    ("root_hex", s(hex::encode([0xbb; 32]))),
                                ]),
                            ),
                        ]),
                        object([
                            ("id", big(11)),
                            ("nonce", big(11)),
                            (
                                "anchor",
                                object([
                                    ("origin", s("stranger.example/log")),
                                    ("size", big(1)),
                                    ("root_hex", s(hex::encode([0xcc; 32]))),
                                ]),
                            ),
                        ]),
                    ]);
                    with(block(2, &[]), "entries", anchors)
                },
                vec![(
                    "held_anchor",
                    object([
                        ("origin", s("peer.talos.example/log")),
                        ("size", big(3)),
                        ("root_hex", s(hex::encode([0xaa; 32]))),
                    ]),
                )],
            ),
        ),
        Spec::ok(
            "genesis-wrong-difficulty",
            "a difficulty-0 genesis block offered to a chain of difficulty 8",
            object([
                ("chain", chain_inputs(8, vec![])),
                ("bad", block(0, &[(1, 0)])),
                ("genesis", Value::Bool(true)),
                ("now_ms", big(TS)),
            ]),
        ),
        Spec::ok(
            "other-genesis",
            "another height-0 block offered to a running chain",
            case(
                with(block(0, &[(12, 12)]), "height0", Value::Bool(true)),
                vec![],
            ),
        ),
        Spec::ok(
            "undecodable",
            "block bytes truncated by one byte: one structural failure",
            case(bad(&[(7, 7)], vec![]), vec![("decode_truncated", big(1))]),
        ),
    ]
}

fn entry_bytes(spec: &Value, sender: &str, peer: &str, ts: Timestamp) -> Result<Vec<u8>, String> {
    if spec.get("raw_hex").is_some() {
        return hex_field(spec, "raw_hex");
    }
    let id = u8::try_from(u64_field(spec, "id")?).map_err(|e| e.to_string())?;
    let body = match spec.get("anchor") {
        Some(a) => {
            let (origin, size) = (str_field(a, "origin")?, u64_field(a, "size")?);
            let root = hex_array::<32>(a, "root_hex")?;
            // The anchored log's checkpoint, signed by that log's key (seed 0x4f…).
            let mut signer = CheckpointSigner::new(origin, SigningKey::from_seed(&[0x4f; 32]))
                .map_err(|e| e.to_string())?;
            let checkpoint = Checkpoint::new(origin, size, root).map_err(|e| e.to_string())?;
            let note = signer.sign(&checkpoint, &[]).map_err(|e| e.to_string())?;
            Body::Anchor(Anchor {
                origin: origin.to_owned(),
                size,
                root,
                note: note.to_string(),
            })
        }
        None => Body::MessageSent(Message {
            peer: peer.to_owned(),
            session_id: vec![id],
            header_hash: [id; 32],
        }),
    };
    let entry = Entry::new([id; 16], sender, u64_field(spec, "nonce")?, ts, body)
        .map_err(|e| e.to_string())?;
    Ok(entry.to_cbor())
}

struct Setup {
    key: SigningKey,
    sender: String,
    config: ChainConfig,
}

fn setup(inputs: &Value) -> Result<Setup, String> {
    let key = SigningKey::from_seed(&hex_array::<32>(inputs, "producer_seed_hex")?);
    let sender = talos_did::DidKey::Ed25519(
        SigningKey::from_seed(&hex_array::<32>(inputs, "sender_seed_hex")?).verifying_key(),
    )
    .to_string();
    let mut config = ChainConfig::default();
    config
        .set_difficulty(u8::try_from(u64_field(inputs, "difficulty")?).map_err(|e| e.to_string())?);
    Ok(Setup {
        key,
        sender,
        config,
    })
}

fn block_entries(setup: &Setup, spec: &Value) -> Result<(Timestamp, Vec<Vec<u8>>), String> {
    let ts = Timestamp::from_millis(u64_field(spec, "timestamp_ms")?);
    let peer = talos_ledger::block::producer_did(&setup.key.verifying_key());
    let list = array_field(spec, "entries")?
        .iter()
        .map(|e| entry_bytes(e, &setup.sender, &peer, ts))
        .collect::<Result<Vec<_>, String>>()?;
    Ok((ts, list))
}

fn mined(block: Block, key: &SigningKey) -> Result<Block, String> {
    mine(block, key, BUDGET).map_err(|e| e.to_string())
}

/// Builds the chain of `inputs.blocks`, returning it and its blocks in order.
fn build(setup: &Setup, inputs: &Value) -> Result<(Option<Chain>, Vec<Block>), String> {
    let mut chain: Option<Chain> = None;
    let mut blocks = Vec::new();
    for spec in array_field(inputs, "blocks")? {
        let (ts, list) = block_entries(setup, spec)?;
        let block = match &chain {
            None => {
                let candidate = Block::genesis_candidate(
                    &setup.key.verifying_key(),
                    list,
                    ts,
                    setup.config.difficulty(),
                );
                let genesis = mined(candidate, &setup.key)?;
                chain = Some(Chain::new(setup.config, genesis.clone()).map_err(|e| e.to_string())?);
                genesis
            }
            Some(c) => {
                let next = mined(
                    c.candidate(&setup.key.verifying_key(), list, ts),
                    &setup.key,
                )?;
                let now = ts;
                chain
                    .as_mut()
                    .ok_or("no chain")?
                    .insert(next.clone(), now, None)
                    .map_err(|e| e.to_string())?;
                next
            }
        };
        blocks.push(block);
    }
    Ok((chain, blocks))
}

fn b64u(bytes: &[u8]) -> Value {
    s(base64url::encode(bytes))
}

fn block_json(block: &Block) -> Value {
    let h = &block.header;
    object([
        (
            "header",
            object([
                ("version", big(h.version)),
                ("height", big(h.height)),
                ("prev", b64u(&h.prev)),
                ("tree_size", big(h.tree_size)),
                ("tree_root", b64u(&h.tree_root)),
                ("timestamp", big(h.timestamp.as_millis())),
                ("producer", s(h.producer.clone())),
                ("difficulty", big(u64::from(h.difficulty))),
                ("nonce", big(h.nonce)),
                ("signature", b64u(&h.signature.to_bytes())),
            ]),
        ),
        (
            "entries",
            Value::Array(block.entries.iter().map(|e| b64u(e)).collect()),
        ),
    ])
}

fn block_summary(block: &Block) -> Value {
    object([
        ("height", big(block.header.height)),
        ("block_hash_hex", s(hex::encode(block.hash()))),
        ("cbor_b64u", b64u(&block.to_cbor())),
        ("tree_size", big(block.header.tree_size)),
        ("tree_root_hex", s(hex::encode(block.header.tree_root))),
        (
            "checkpoint_root_base64",
            s(STANDARD.encode(block.header.tree_root)),
        ),
        (
            "leaf_hashes_hex",
            Value::Array(
                block
                    .leaf_hashes()
                    .iter()
                    .map(|h| s(hex::encode(h)))
                    .collect(),
            ),
        ),
    ])
}

fn decode_code(err: &BlockDecodeError) -> &'static str {
    talos_crypto::ErrorCode::from(err).as_str()
}

fn derive_block(inputs: &Value) -> Result<Derived, String> {
    let setup = setup(inputs)?;
    let (chain, blocks) = build(&setup, inputs)?;
    let chain = chain.ok_or("no blocks")?;
    let last = blocks.last().ok_or("no blocks")?;
    let mut cbor = last.to_cbor();
    if inputs.get("truncate_cbor_by").is_some() || inputs.get("append_cbor_hex").is_some() {
        if inputs.get("truncate_cbor_by").is_some() {
            let by = usize::try_from(u64_field(inputs, "truncate_cbor_by")?)
                .map_err(|e| e.to_string())?;
            cbor.truncate(cbor.len().saturating_sub(by));
        }
        if inputs.get("append_cbor_hex").is_some() {
            cbor.extend(hex_field(inputs, "append_cbor_hex")?);
        }
        return match Block::from_cbor(&cbor) {
            Ok(_) => Err("altered block bytes decoded".into()),
            Err(e) => Ok(Derived::Err {
                object: None,
                code: decode_code(&e).into(),
                message: e.to_string(),
            }),
        };
    }
    for block in &blocks {
        if Block::from_cbor(&block.to_cbor()).map_err(|e| e.to_string())? != *block {
            return Err("a block does not decode to itself".into());
        }
        if block.header.producer_key() != Some(setup.key.verifying_key())
            || setup
                .key
                .verifying_key()
                .verify(&block.hash(), &block.header.signature)
                .is_err()
        {
            return Err("a block's signature does not verify".into());
        }
    }
    if chain.tip_hash() != last.hash() {
        return Err("the last block is not the tip".into());
    }
    Ok(Derived::Ok {
        object: block_json(last),
        expected: object([
            (
                "blocks",
                Value::Array(blocks.iter().map(block_summary).collect()),
            ),
            ("height", big(chain.height())),
            ("tip_hex", s(hex::encode(chain.tip_hash()))),
            ("tree_size", big(chain.tree_size())),
            ("cumulative_work", s(chain.cumulative_work().to_string())),
        ]),
    })
}

struct HeldAnchor {
    origin: String,
    size: u64,
    root: [u8; 32],
}

impl AnchorCheck for HeldAnchor {
    fn check(&self, anchor: &Anchor) -> Result<(), String> {
        if anchor.size == self.size && anchor.root != self.root {
            return Err(format!("another root at size {}", self.size));
        }
        Ok(())
    }

    fn is_known(&self, origin: &str) -> bool {
        origin == self.origin
    }
}

fn apply_header(block: &mut Block, changes: &Value) -> Result<(), String> {
    let h = &mut block.header;
    if changes.get("version").is_some() {
        h.version = u64_field(changes, "version")?;
    }
    if changes.get("height").is_some() {
        h.height = u64_field(changes, "height")?;
    }
    if changes.get("prev_hex").is_some() {
        h.prev = hex_array::<32>(changes, "prev_hex")?;
    }
    if changes.get("timestamp_ms").is_some() {
        h.timestamp = Timestamp::from_millis(u64_field(changes, "timestamp_ms")?);
    }
    if changes.get("producer").is_some() {
        str_field(changes, "producer")?.clone_into(&mut h.producer);
    }
    if changes.get("difficulty").is_some() {
        h.difficulty =
            u8::try_from(u64_field(changes, "difficulty")?).map_err(|e| e.to_string())?;
    }
    if changes.get("tree_root_hex").is_some() {
        h.tree_root = hex_array::<32>(changes, "tree_root_hex")?;
    }
    Ok(())
}

fn derive_report(inputs: &Value) -> Result<Derived, String> {
    let chain_inputs = field(inputs, "chain")?;
    let setup = setup(chain_inputs)?;
    let (chain, _) = build(&setup, chain_inputs)?;
    let bad_spec = field(inputs, "bad")?;
    let (ts, list) = block_entries(&setup, bad_spec)?;
    let genesis = inputs.get("genesis").is_some();
    let height0 = bad_spec.get("height0").is_some();
    let mut bad = match (&chain, genesis || height0) {
        (Some(chain), false) => chain.candidate(&setup.key.verifying_key(), list, ts),
        _ => Block::genesis_candidate(&setup.key.verifying_key(), list, ts, 0),
    };
    if let Some(changes) = bad_spec.get("mutate_before_signing") {
        apply_header(&mut bad, changes)?;
    }
    if bad_spec.get("mine") == Some(&Value::Bool(true)) {
        bad = mined(bad, &setup.key)?;
    } else {
        bad.header.signature = setup.key.sign(&bad.hash());
    }
    if let Some(changes) = bad_spec.get("mutate_after_signing") {
        apply_header(&mut bad, changes)?;
    }
    let cbor = bad.to_cbor();
    let now = Timestamp::from_millis(u64_field(inputs, "now_ms")?);
    let held = inputs
        .get("held_anchor")
        .map(|a| -> Result<HeldAnchor, String> {
            Ok(HeldAnchor {
                origin: str_field(a, "origin")?.to_owned(),
                size: u64_field(a, "size")?,
                root: hex_array::<32>(a, "root_hex")?,
            })
        })
        .transpose()?;
    let report: ValidationReport = if inputs.get("decode_truncated").is_some() {
        let by =
            usize::try_from(u64_field(inputs, "decode_truncated")?).map_err(|e| e.to_string())?;
        let cut = cbor
            .get(..cbor.len().saturating_sub(by))
            .ok_or("too short")?;
        match validate::decode_block(cut) {
            Ok(_) => return Err("truncated bytes decoded".into()),
            Err(report) => report,
        }
    } else if genesis {
        match Chain::new(setup.config, bad.clone()) {
            Ok(_) => return Err("an invalid genesis was accepted".into()),
            Err(report) => report,
        }
    } else {
        let chain = chain.as_ref().ok_or("no chain")?;
        let anchors = held.as_ref().map(|h| h as &dyn AnchorCheck);
        chain.validate(&bad, now, anchors)
    };
    if report.is_valid() {
        return Err("the bad block validated".into());
    }
    let object = json::parse(&report.to_json()).map_err(|e| e.to_string())?;
    // A decoded block validates the same way from its bytes.
    if inputs.get("decode_truncated").is_none()
        && Block::from_cbor(&cbor).map_err(|e| e.to_string())? != bad
    {
        return Err("the bad block does not decode to itself".into());
    }
    Ok(Derived::Ok {
        object,
        expected: object_codes(&report, &cbor),
    })
}

fn object_codes(report: &ValidationReport, cbor: &[u8]) -> Value {
    object([
        ("block_cbor_b64u", b64u(cbor)),
        (
            "codes",
            Value::Array(report.codes().iter().map(|c| s(c.name())).collect()),
        ),
        (
            "layers",
            Value::Array(
                report
                    .failures()
                    .iter()
                    .map(|f| s(f.layer().as_str()))
                    .collect(),
            ),
        ),
    ])
}
