//! Writes valid inputs into `fuzz/corpus/<target>/` as starting points for the fuzzer, which
//! cannot forge signatures or find a matching seed and public key on its own:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus
//! ```
//!
//! Deterministic (fixed keys and RNG seed). The corpus directory is git-ignored.

use std::fs;
use std::path::Path;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use talos_crypto::key_file::KdfParams;
use talos_crypto::x25519::StaticSecret;
use talos_crypto::{KeyFile, SealedBox, SignedMessage, SigningKey, base64url, json};

fn write(target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = ChaCha20Rng::from_seed([0; 32]);
    let alice = SigningKey::from_seed(&[1; 32]);
    // The recipient the sealed_box target opens with.
    let fuzz_recipient = StaticSecret::from_bytes([7; 32]).public_key();
    let other_recipient = SigningKey::from_seed(&[2; 32]).verifying_key().to_x25519();

    let documents: &[&str] = &[
        r#"{"b":[1.0,-0,1e21,0.1,-5e-324,9007199254740992],"a":"\u00e9\n\"\\\ud83d\ude00","c":{"":null,"t":true,"f":false}}"#,
        "[[[[[]]]],{},\"\",\"\\u0000\\u001f\\/\"]",
        "{\"\u{ff01}\":1,\"\u{1f510}\":2,\"z\":3}",
        " \t\r\n123.456e-7 ",
        "\"plain\"",
    ];
    for (i, doc) in documents.iter().enumerate() {
        write("json_parse", &format!("doc{i}.json"), doc.as_bytes())?;
    }

    for (i, bytes) in [&b""[..], b"f", b"fo", b"foo", &[0xfb, 0xff, 0xbf], &[0; 32]]
        .iter()
        .enumerate()
    {
        write(
            "base64url",
            &format!("b{i}.txt"),
            base64url::encode(bytes).as_bytes(),
        )?;
    }

    let boxes = [
        (
            "anonymous",
            SealedBox::seal_anonymous(&mut rng, &fuzz_recipient, b"hello")?,
        ),
        (
            "authenticated",
            SealedBox::seal_authenticated(&mut rng, &alice, &fuzz_recipient, b"hi")?,
        ),
        (
            "empty",
            SealedBox::seal_anonymous(&mut rng, &fuzz_recipient, b"")?,
        ),
        (
            "other_recipient",
            SealedBox::seal_authenticated(&mut rng, &alice, &other_recipient, b"x")?,
        ),
    ];
    for (name, sealed) in &boxes {
        write("sealed_box", &format!("{name}.cbor"), &sealed.to_cbor())?;
        write("sealed_box", &format!("{name}.json"), &sealed.to_json())?;
        write(
            "json_parse",
            &format!("sealed_{name}.json"),
            &sealed.to_json(),
        )?;
    }

    let files = [
        ("clear", KeyFile::unencrypted(&alice)),
        (
            "tiny",
            KeyFile::encrypt(&mut rng, &alice, b"fuzz", KdfParams::new(64, 1, 1)?)?,
        ),
        (
            "tiny_lanes",
            KeyFile::encrypt(&mut rng, &alice, b"other", KdfParams::new(64, 2, 8)?)?,
        ),
        (
            "costly",
            KeyFile::encrypt(&mut rng, &alice, b"fuzz", KdfParams::new(1024, 3, 1)?)?,
        ),
    ];
    for (name, file) in &files {
        write("key_file", &format!("{name}.cbor"), &file.to_bytes())?;
    }

    let payloads: &[&str] = &[
        r#"{"hello":"world","n":[0,-1,9007199254740991],"nested":{"ok":true,"none":null}}"#,
        r#""caf\u00e9 \ud83d\ude00 \"quoted\"""#,
        "[]",
        "-9007199254740991",
    ];
    for (i, payload) in payloads.iter().enumerate() {
        let msg = SignedMessage::sign(&alice, json::parse(payload.as_bytes())?)?;
        let canonical = msg.to_json();
        write("signed_message", &format!("msg{i}.json"), &canonical)?;
        write("json_parse", &format!("signed{i}.json"), &canonical)?;
        // Any formatting is accepted; give the fuzzer one with whitespace too.
        let spaced = String::from_utf8(canonical)?
            .replacen('{', "{ ", 1)
            .replacen(':', " :\n", 1);
        write(
            "signed_message",
            &format!("msg{i}_spaced.json"),
            spaced.as_bytes(),
        )?;
    }

    wire_seeds(&alice)?;
    did_seeds()?;
    did_record_seeds()?;
    did_trust_seeds()?;
    ratchet_seeds()
}

/// Envelopes signed by the key the `envelope` target verifies with, frame streams, and
/// upstream SDK frames.
fn wire_seeds(alice: &SigningKey) -> Result<(), Box<dyn std::error::Error>> {
    use talos_crypto::Timestamp;
    use talos_wire::chunk::ChunkInfo;
    use talos_wire::envelope::{Envelope, EnvelopeFields, EnvelopeType, Limits, Recipient};
    use talos_wire::frame::{self, FrameType};
    use talos_wire::sdk_frame::{SdkFrame, SdkFrameType};

    let now = Timestamp::from_millis(1_768_178_601_000);
    let kinds = [
        EnvelopeType::Text,
        EnvelopeType::StreamChunk,
        EnvelopeType::Ratchet,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let id = format!("019bb34e-0ae8-7000-8000-00000000000{i}").parse()?;
        let chunk = (kind == EnvelopeType::StreamChunk).then(|| ChunkInfo {
            stream_id: id,
            sequence: 1,
            total: 3,
            hash: [9; 32],
        });
        let envelope = Envelope::sign(
            EnvelopeFields {
                id,
                kind,
                sender: "did:key:z6MkAlice".into(),
                recipient: if i == 0 {
                    Recipient::Broadcast
                } else {
                    Recipient::Did("did:web:example.com".into())
                },
                timestamp: now,
                content: vec![i as u8; 3 * i],
                chunk,
            },
            alice,
            &Limits::default(),
        )?;
        write("envelope", &format!("env{i}.cbor"), &envelope.to_cbor())?;
        write("envelope", &format!("env{i}.json"), &envelope.to_json())?;
    }

    let mut stream = vec![3u8]; // the target's first byte picks the piece size
    frame::encode(FrameType::Handshake, br#"{"version":1}"#, &mut stream)?;
    frame::encode(FrameType::Data, &[0x5a; 300], &mut stream)?;
    frame::encode(FrameType::Ping, b"", &mut stream)?;
    write("frame_decoder", "three.bin", &stream)?;
    write(
        "frame_decoder",
        "truncated.bin",
        &stream[..stream.len() - 2],
    )?;

    let mut signed = SdkFrame::new(SdkFrameType::Data, b"test payload".to_vec());
    signed.signature = Some(vec![1; 64]);
    for (i, f) in [
        SdkFrame::new(SdkFrameType::Handshake, b"hi".to_vec()),
        signed,
    ]
    .iter()
    .enumerate()
    {
        write("sdk_frame", &format!("frame{i}.txt"), f.encode().as_bytes())?;
    }
    Ok(())
}

/// DIDs of every supported form (and a few near misses) for `did_parse`; documents in each
/// style, with services, extensions and embedded methods, as JSON and CBOR for `did_document`.
fn did_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use talos_did::{Did, DidKey, Document, Element, PeerDid, Purpose, Service, Style};

    let key = SigningKey::from_seed(&[1; 32]).verifying_key();
    let x = key.to_x25519();
    let agent = Service::talos_agent("#agent", ["/ip4/127.0.0.1/tcp/4001"])?;
    let mcp = Service::talos_mcp("#mcp", ["read_file", "search"])?;
    let peer2 = PeerDid::numalgo2(&[
        Element::key(Purpose::Authentication, DidKey::Ed25519(key)),
        Element::key(Purpose::KeyAgreement, DidKey::X25519(x)),
        Element::Service(agent),
        Element::Service(mcp),
    ])?;
    let dids: Vec<Did> = vec![
        Did::from(key),
        Did::Key(DidKey::X25519(x)),
        PeerDid::numalgo0(DidKey::Ed25519(key)).into(),
        peer2.into(),
        // The DIF spec's example: DIDComm services with abbreviations and no ids.
        "did:peer:2.Vz6Mkj3PUd1WjvaDhNZhhhXQdz5UnZXmS7ehtx8bsPpD47kKc.Ez6LSg8zQom395jKLrGiBNruB9MM6V8PWuf2FpEy4uRFiqQBR.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9leGFtcGxlLmNvbS9kaWRjb21tIiwiYSI6WyJkaWRjb21tL3YyIl0sInIiOlsiZGlkOmV4YW1wbGU6MTIzNDU2Nzg5YWJjZGVmZ2hpI2tleS0xIl19fQ.SeyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9leGFtcGxlLmNvbS9hbm90aGVyIiwiYSI6WyJkaWRjb21tL3YyIl0sInIiOlsiZGlkOmV4YW1wbGU6MTIzNDU2Nzg5YWJjZGVmZ2hpI2tleS0yIl19fQ".parse()?,
    ];
    for (i, did) in dids.iter().enumerate() {
        write(
            "did_parse",
            &format!("did{i}.txt"),
            did.to_string().as_bytes(),
        )?;
        for (j, style) in Style::ALL.into_iter().enumerate() {
            let doc = Document::resolve_with(did, style);
            write("did_document", &format!("doc{i}_{j}.json"), &doc.to_json())?;
            write("did_document", &format!("doc{i}_{j}.cbor"), &doc.to_cbor())?;
        }
    }
    for (i, near) in [
        "did:peer:1zQmS19jtYDvGtKVrJhQnRFpBQAx3pJ9omx2HpNrcXFuRCz9",
        "did:web:example.com",
        "did:peer:2.X",
    ]
    .iter()
    .enumerate()
    {
        write("did_parse", &format!("near{i}.txt"), near.as_bytes())?;
    }
    let doc = Document::resolve(&Did::from(key))
        .with_talos_agent(["/ip4/203.0.113.7/tcp/4001", "/dns4/a.example/udp/4001/quic-v1"])?
        .with_mcp_tools(["read_file", "git.commit"])?
        .with_service(Service::from_json_value(&json::parse(
            br##"{"id":"#hub","type":["LinkedDomains"],"serviceEndpoint":{"origins":["https://a.example"]},"n":-3}"##,
        )?)?)?;
    let mut value = doc.to_json_value();
    if let json::Value::Object(map) = &mut value {
        map.insert(
            "alsoKnownAs".into(),
            json::parse(br#"["https://alice.example"]"#)?,
        );
        map.insert(
            "x-ext".into(),
            json::parse(br#"{"a":[null,true,false,-1,9007199254740991,"\u00e9"]}"#)?,
        );
        let embedded = json::parse(
            format!(
                r##"[{{"id":"#e","type":"Ed25519VerificationKey2018","controller":"{}","publicKeyBase58":"{}"}}]"##,
                Did::from(key),
                bs58::encode(key.as_bytes()).into_string()
            )
            .as_bytes(),
        )?;
        map.insert("assertionMethod".into(), embedded);
    }
    let rich = Document::from_json_value(&value)?;
    write("did_document", "rich.json", &rich.to_json())?;
    write("did_document", "rich.cbor", &rich.to_cbor())?;
    Ok(())
}

/// Signed discovery records for `did_record`: minimal, typical, with an ML-KEM prekey and a
/// puzzle solution at difficulty 4 (what the target's second policy requires), as CBOR and
/// JSON; valid at the target's `now`.
fn did_record_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use talos_crypto::{Timestamp, x25519};
    use talos_did::puzzle;
    use talos_did::record::{
        DiscoveryRecord, OneTimePrekey, PqPrekey, Prekeys, RecordFields, SignedPrekey,
    };

    let now = 1_768_178_601_000;
    for (i, seed) in [1u8, 2, 3].into_iter().enumerate() {
        let identity = SigningKey::from_seed(&[seed; 32]);
        let fields = RecordFields {
            seq: u64::from(seed),
            issued_at: Timestamp::from_millis(now - 60_000),
            expires_at: Timestamp::from_millis(now + 3_600_000),
            addresses: [
                "/ip4/203.0.113.7/tcp/4001",
                "/ip6/2001:db8::7/udp/4001/quic-v1",
            ][..=i.min(1)]
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            tools: ["search", "fetch_page"][..i.min(2)]
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            prekeys: Prekeys {
                signed: SignedPrekey::sign(&identity, 1, x25519::PublicKey::from_bytes([seed; 32])),
                one_time: (0..3 * i as u32)
                    .map(|id| OneTimePrekey {
                        id,
                        key: x25519::PublicKey::from_bytes([id as u8; 32]),
                    })
                    .collect(),
                pq: (i == 2).then(|| PqPrekey::sign(&identity, 2, Box::new([seed; 1184]))),
            },
            puzzle_nonce: if i == 0 {
                None
            } else {
                puzzle::solve(&identity.verifying_key(), 4, 0, 1 << 20)
            },
        };
        let record = DiscoveryRecord::sign(fields, &identity)?;
        write("did_record", &format!("record{i}.cbor"), &record.to_cbor())?;
        write("did_record", &format!("record{i}.json"), &record.to_json())?;
    }
    Ok(())
}

/// Endorsements at each level and revocations of them, as CBOR and JSON, for `did_trust`.
fn did_trust_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use talos_crypto::Timestamp;
    use talos_did::{DidKey, TrustLevel};

    let endorser = SigningKey::from_seed(&[1; 32]);
    let issued_at = Timestamp::from_millis(1_768_178_601_000);
    for (i, level) in TrustLevel::ALL.into_iter().enumerate() {
        let subject = DidKey::Ed25519(SigningKey::from_seed(&[10 + i as u8; 32]).verifying_key());
        let expires_at = Timestamp::from_millis(issued_at.as_millis() + 86_400_000);
        let endorsement =
            talos_did::Endorsement::sign(&endorser, &subject, level, issued_at, expires_at)?;
        write(
            "did_trust",
            &format!("endorsement{i}.cbor"),
            &endorsement.to_cbor(),
        )?;
        write(
            "did_trust",
            &format!("endorsement{i}.json"),
            &endorsement.to_json(),
        )?;
        let revocation = endorsement.revoke(&endorser, expires_at)?;
        write(
            "did_trust",
            &format!("revocation{i}.cbor"),
            &revocation.to_cbor(),
        )?;
        write(
            "did_trust",
            &format!("revocation{i}.json"),
            &revocation.to_json(),
        )?;
    }
    Ok(())
}

/// Messages, handshakes, bundles, group messages, distributions and snapshots from the
/// fixtures in `src/lib.rs`, which the `ratchet_*` targets' sessions accept.
fn ratchet_seeds() -> Result<(), Box<dyn std::error::Error>> {
    let fixture = talos_fuzz::ratchet_fixture();
    for (i, message) in fixture.next.iter().enumerate() {
        write(
            "ratchet_decrypt",
            &format!("message{i}.cbor"),
            &message.to_cbor(),
        )?;
        write(
            "ratchet_decrypt",
            &format!("message{i}.json"),
            &message.to_json(),
        )?;
    }
    write(
        "ratchet_handshake",
        "initial.cbor",
        &fixture.initial.to_cbor(),
    )?;
    write(
        "ratchet_handshake",
        "initial.json",
        &fixture.initial.to_json(),
    )?;
    let bundle = fixture.store.bundle(None)?;
    write("ratchet_handshake", "bundle.cbor", &bundle.to_cbor())?;
    write("ratchet_handshake", "bundle.json", &bundle.to_json())?;
    write(
        "ratchet_handshake",
        "store.cbor",
        &fixture.store.to_snapshot(),
    )?;
    let snapshot = fixture.bob.snapshot().to_bytes();
    write("ratchet_snapshot", "bob.cbor", &snapshot)?;
    let sealed =
        talos_ratchet::snapshot::seal(&[9; 32], &snapshot, &mut ChaCha20Rng::from_seed([3; 32]));
    write("ratchet_snapshot", "bob.sealed", &sealed)?;

    let mut members = talos_fuzz::group_fixture();
    let distribution = members[0].distribution();
    write(
        "ratchet_group",
        "distribution.cbor",
        &distribution.to_cbor(),
    )?;
    write(
        "ratchet_group",
        "distribution.json",
        &distribution.to_json(),
    )?;
    for i in 0..3 {
        let message = members[0].encrypt(format!("group message {i}").as_bytes())?;
        write(
            "ratchet_group",
            &format!("message{i}.cbor"),
            &message.to_cbor(),
        )?;
        write(
            "ratchet_group",
            &format!("message{i}.json"),
            &message.to_json(),
        )?;
    }
    write(
        "ratchet_group",
        "snapshot.cbor",
        &members[1].snapshot().to_bytes(),
    )?;
    ledger_seeds()?;
    acl_seeds()?;
    mcp_seeds()?;
    mcp_tunnel_seeds()?;
    Ok(())
}

/// Signed MCP frames (seed 00…00, the key the mcp_frame target verifies with).
fn mcp_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use talos_mcp::frame::{McpMessage, McpResponse, ResultCode, Signed, payload_hash};

    let key = SigningKey::from_seed(&[0; 32]);
    let request = json::parse(br#"{"id":"req-123","jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"city":"Paris"},"name":"weather"}}"#)?;
    let message = McpMessage {
        session_id: "sess-uuid-42".into(),
        correlation_id: "corr-uuid-99".into(),
        peer_id: "did:talos:peer".into(),
        issued_at: 1_700_000_100,
        request_hash: payload_hash(&request),
        tool: "tools/call".into(),
        method: "weather/get".into(),
        capability_hash: [7; 32],
        capability: None,
    };
    write("mcp_frame", "message.json", &Signed::sign(message, &key)?.to_json())?;
    let response = McpResponse {
        session_id: "sess-uuid-42".into(),
        correlation_id: "corr-uuid-99".into(),
        peer_id: "did:talos:server".into(),
        issued_at: 1_700_000_101,
        response_hash: [9; 32],
        tool: "tools/call".into(),
        method: "weather/get".into(),
        result_code: ResultCode::Deny,
        denial_reason: Some("SCOPE_MISMATCH".into()),
        mcp_id: Some(json::Value::from("req-123")),
    };
    write("mcp_frame", "response.json", &Signed::sign(response, &key)?.to_json())?;
    Ok(())
}

/// Tokens signed with the key the acl_token target verifies with (seed 00…00), a revocation,
/// and policy files, for the talos-acl targets.
fn acl_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use talos_acl::revocation::Revocation;
    use talos_acl::token::{CapabilityToken, TokenFields};
    use talos_crypto::Timestamp;

    let key = SigningKey::from_seed(&[0; 32]);
    let iat = Timestamp::from_millis(1_700_000_000_000);
    let exp = Timestamp::from_millis(1_700_003_600_000);
    let mut constraints = json::Map::new();
    constraints.insert(
        "paths".into(),
        json::Value::Array(vec!["repo/src/**".into(), "docs/*.md".into()]),
    );
    constraints.insert("max_arg_bytes".into(), json::Value::Number(4096u32.into()));
    let tokens = [
        TokenFields::new("did:talos:fuzz", "did:talos:recipient", "tool:fs", iat, exp),
        TokenFields::new(
            "did:talos:fuzz",
            "did:talos:recipient",
            "tool:fs/method:read tool:git/method:* tool:*/resource:repo/**",
            iat,
            exp,
        )
        .with_constraints(constraints),
        TokenFields::new("did:talos:fuzz", "did:talos:recipient", "tools/call", iat, exp),
    ];
    let mut issued = Vec::new();
    for (i, fields) in tokens.iter().enumerate() {
        let token = CapabilityToken::issue(&key, fields)?;
        write("acl_token", &format!("token{i}.json"), &token.to_json())?;
        issued.push(token);
    }
    let child = TokenFields::new("did:talos:recipient", "did:talos:third", "tool:fs/method:read", iat, exp)
        .with_parent(&issued[0]);
    write("acl_token", "child.json", &CapabilityToken::issue(&key, &child)?.to_json())?;
    let revocation = Revocation::issue(&key, *issued[0].capability_hash(), "did:talos:fuzz", iat, Some("test"))?;
    write("acl_token", "revocation.json", &revocation.to_json())?;

    let peer = talos_did::Did::from(key.verifying_key()).to_string();
    write(
        "acl_policy",
        "policy.toml",
        format!(
            "default_allow = false\n\n[peers.\"{peer}\"]\nenabled = true\nallow_tools = [\"read_*\", \"list_directory\"]\n\
             deny_tools = [\"write_*\"]\nallow_resources = [\"file:///repo/**\"]\ndeny_resources = [\"file:///repo/**/.env\"]\n\
             rate = {{ requests_per_second = 10, burst = 20, bytes_per_day = 100000000 }}\n"
        )
        .as_bytes(),
    )?;
    write("acl_policy", "empty.toml", b"default_allow = true\n")?;
    Ok(())
}

/// Signed checkpoints, key strings, proofs and blocks for the talos-ledger targets.
fn ledger_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use talos_crypto::Timestamp;
    use talos_ledger::block::{Block, Chain, ChainConfig, mine};
    use talos_ledger::checkpoint::CheckpointSigner;
    use talos_ledger::entry::{Body, Decision, Entry, ToolCall};
    use talos_ledger::merkle::MerkleLog;

    let key = SigningKey::from_seed(&[1; 32]);
    let mut log = MerkleLog::new();
    for i in 0u8..13 {
        log.append(&[i; 7])?;
    }
    let mut signer = CheckpointSigner::new("example.com/fuzz", key.clone())?;
    let note = signer.sign_log(&log)?;
    write("ledger_note", "checkpoint.txt", &note.to_bytes())?;
    write("ledger_note", "vkey.txt", signer.verifier().to_vkey().as_bytes())?;
    write(
        "ledger_note",
        "peter.txt",
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n".as_bytes(),
    )?;
    for (i, (a, b)) in [(5u64, 13u64), (0, 13), (12, 13), (8, 13)].iter().enumerate() {
        let mut input = a.to_le_bytes().to_vec();
        input.extend_from_slice(&b.to_le_bytes());
        input.extend_from_slice(&log.leaf_hash_at(*a)?);
        for hash in log.inclusion_proof(*a, *b)? {
            input.extend_from_slice(&hash);
        }
        write("ledger_proof", &format!("inclusion{i}.bin"), &input)?;
    }

    let sender = talos_did::Did::from(key.verifying_key()).to_string();
    let t0 = 1_768_178_601_000;
    let mut config = ChainConfig::default();
    config.set_difficulty(0);
    let genesis = Block::genesis_candidate(
        &key.verifying_key(),
        Vec::new(),
        Timestamp::from_millis(t0),
        0,
    );
    let genesis = mine(genesis, &key, 1).map_err(|_| "mining at difficulty 0")?;
    write("ledger_block", "genesis.cbor", &genesis.to_cbor())?;
    let chain = Chain::new(config, genesis).map_err(|r| format!("{:?}", r.codes()))?;
    let entries = (0u8..3)
        .map(|i| {
            let call = ToolCall::new("read_file", [i; 32], Some([9; 32]), Decision::Allow, "", 7)?;
            Ok(Entry::new(
                [i; 16],
                sender.as_str(),
                u64::from(i),
                Timestamp::from_millis(t0),
                Body::ToolCall(call),
            )?
            .to_cbor())
        })
        .collect::<Result<Vec<_>, talos_ledger::entry::EntryError>>()?;
    let block = chain.candidate(&key.verifying_key(), entries, Timestamp::from_millis(t0 + 1));
    let block = mine(block, &key, 1).map_err(|_| "mining at difficulty 0")?;
    write("ledger_block", "block1.cbor", &block.to_cbor())?;
    Ok(())
}

/// Inputs for the mcp_tunnel target: `[config][op][len: u16 LE][payload]...` (see the target's
/// docs). The recorded MCP traffic in `crates/talos-mcp/tests/transcripts/`, line by line
/// through both tunnel ends, under both capabilities; packets a client and a server end with
/// the target's keys, session, capabilities and clock produce; and single lines and packets
/// on their own for the framing checks.
fn mcp_tunnel_seeds() -> Result<(), Box<dyn std::error::Error>> {
    use talos_acl::guard::Guard;
    use talos_acl::policy::Policy;
    use talos_acl::rate::RateConfig;
    use talos_acl::token::{CapabilityToken, TokenFields};
    use talos_crypto::Timestamp;
    use talos_mcp::{ClientConfig, ClientTunnel, Output, ServerConfig, ServerTunnel};

    // As in fuzz_targets/mcp_tunnel.rs.
    const START_SECS: u64 = 1_767_225_600;
    const SESSION: [u8; 16] = [9; 16];
    const SCOPES: [&str; 2] = [
        "tool:echo tool:read_file tool:@resources/resource:file:///repo/** tool:@prompts/method:greet",
        "tool:*",
    ];
    const CLIENT_LINE: u8 = 0;
    const SERVER_LINE: u8 = 1;
    const TO_SERVER: u8 = 2;
    const TO_CLIENT: u8 = 3;
    const TIME: u8 = 4;
    const DELIVER: u8 = 5;
    const REPLAY: u8 = 6;
    const CORRUPT: u8 = 8;

    fn op(out: &mut Vec<u8>, op: u8, payload: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
        out.push(op);
        out.extend_from_slice(&u16::try_from(payload.len())?.to_le_bytes());
        out.extend_from_slice(payload);
        Ok(())
    }

    let client_key = SigningKey::from_seed(&[1; 32]);
    let server_key = SigningKey::from_seed(&[2; 32]);
    let client_did = talos_did::Did::from(client_key.verifying_key()).to_string();
    let server_did = talos_did::Did::from(server_key.verifying_key()).to_string();
    let at = |secs| Timestamp::from_secs(START_SECS + secs).ok_or("time out of range");
    let mut tokens = Vec::new();
    for scope in SCOPES {
        let fields = TokenFields::new(
            server_did.as_str(),
            client_did.as_str(),
            scope,
            at(0)?,
            at(3600)?,
        );
        tokens.push(CapabilityToken::issue(&server_key, &fields)?);
    }

    // Recorded traffic, 15 lines per input, each line followed by a delivery.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/talos-mcp/tests/transcripts");
    let mut names: Vec<_> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    names.sort();
    for path in &names {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("file name")?;
        let text = fs::read_to_string(path)?;
        let mut lines = Vec::new();
        for record in text.lines() {
            let record = json::parse(record.as_bytes())?;
            let line = record
                .get("line")
                .and_then(json::Value::as_str)
                .ok_or("line")?;
            let c2s = record.get("dir").and_then(json::Value::as_str) == Some("c2s");
            lines.push((c2s, line.as_bytes().to_vec()));
        }
        for (n, (_, line)) in lines.iter().enumerate() {
            write("mcp_tunnel", &format!("{stem}_line{n}.json"), line)?;
        }
        for (chunk, part) in lines.chunks(15).enumerate() {
            for config in [0u8, 1] {
                let mut input = vec![config];
                for (c2s, line) in part {
                    op(
                        &mut input,
                        if *c2s { CLIENT_LINE } else { SERVER_LINE },
                        line,
                    )?;
                    op(&mut input, DELIVER, b"")?;
                }
                write(
                    "mcp_tunnel",
                    &format!("{stem}_{chunk}_scope{config}.bin"),
                    &input,
                )?;
            }
        }
    }

    // Packets of live tunnel ends with the target's configuration.
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#;
    let call2 = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/repo/a"}}}"#;
    let answer = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
    let roots = br#"{"jsonrpc":"2.0","id":7,"method":"roots/list"}"#;
    let progress = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#;
    for (config, token) in tokens.iter().enumerate() {
        let config = u8::try_from(config)?;
        let mut client = ClientTunnel::new(ClientConfig::new(
            SESSION,
            client_key.clone(),
            server_key.verifying_key(),
            token.clone(),
        ));
        let mut server = ServerTunnel::new(ServerConfig::new(
            server_key.clone(),
            client_key.verifying_key(),
        ));
        let policy = Policy::from_toml(&format!(
            "default_allow = true\n[peers.\"{client_did}\"]\nallow_tools = [\"*\"]\nallow_resources = [\"**\"]\n"
        ))?;
        let mut guard = Guard::new(policy, RateConfig::default());
        let now = at(1)?;
        // The one packet among an end's outputs.
        let peer = |outputs: Vec<Output>| {
            outputs
                .into_iter()
                .find_map(|o| match o {
                    Output::Peer(p) => Some(p),
                    _ => None,
                })
                .ok_or("expected a packet")
        };
        client.handle_local(call, now)?;
        let call_packet = peer(std::iter::from_fn(|| client.poll_output()).collect())?;
        server.handle_peer(&call_packet, &mut guard, now)?;
        while server.poll_output().is_some() {}
        let mut from_server = |line: &[u8]| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
            server.handle_local(line, &mut guard, now)?;
            Ok(peer(std::iter::from_fn(|| server.poll_output()).collect())?)
        };
        let reply_packet = from_server(answer)?;
        let roots_packet = from_server(roots)?;
        let progress_packet = from_server(progress)?;

        for (name, packet) in [
            ("call", &call_packet),
            ("reply", &reply_packet),
            ("relay", &roots_packet),
        ] {
            write("mcp_tunnel", &format!("packet_{name}{config}.bin"), packet)?;
        }
        // The call straight to the server end, twice (a replay), then corrupted.
        let mut input = vec![config];
        op(&mut input, TO_SERVER, &call_packet)?;
        op(&mut input, TO_SERVER, &call_packet)?;
        op(&mut input, SERVER_LINE, answer)?;
        op(&mut input, DELIVER, b"")?;
        write("mcp_tunnel", &format!("raw_call{config}.bin"), &input)?;
        // The client's own call, answered by the recorded reply packet.
        let mut input = vec![config];
        op(&mut input, CLIENT_LINE, call)?;
        op(&mut input, TO_CLIENT, &reply_packet)?;
        op(&mut input, TO_CLIENT, &roots_packet)?;
        op(&mut input, TO_CLIENT, &progress_packet)?;
        op(
            &mut input,
            CLIENT_LINE,
            br#"{"jsonrpc":"2.0","id":7,"result":{"roots":[]}}"#,
        )?;
        op(&mut input, DELIVER, b"")?;
        write("mcp_tunnel", &format!("raw_reply{config}.bin"), &input)?;
        // A call in flight replayed, one corrupted, then time passes beyond the timeout.
        let mut input = vec![config];
        op(&mut input, CLIENT_LINE, call)?;
        op(&mut input, REPLAY, b"")?;
        op(&mut input, CLIENT_LINE, call2)?;
        op(&mut input, CORRUPT, &[40, 0, 4])?;
        op(&mut input, SERVER_LINE, answer)?;
        op(&mut input, TIME, &[100, 0])?;
        op(&mut input, DELIVER, b"")?;
        write("mcp_tunnel", &format!("replay{config}.bin"), &input)?;
    }
    Ok(())
}
