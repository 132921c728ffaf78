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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
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

    for (i, bytes) in [&b""[..], b"f", b"fo", b"foo", &[0xfb, 0xff, 0xbf], &[0; 32]].iter().enumerate() {
        write("base64url", &format!("b{i}.txt"), base64url::encode(bytes).as_bytes())?;
    }

    let boxes = [
        ("anonymous", SealedBox::seal_anonymous(&mut rng, &fuzz_recipient, b"hello")?),
        ("authenticated", SealedBox::seal_authenticated(&mut rng, &alice, &fuzz_recipient, b"hi")?),
        ("empty", SealedBox::seal_anonymous(&mut rng, &fuzz_recipient, b"")?),
        ("other_recipient", SealedBox::seal_authenticated(&mut rng, &alice, &other_recipient, b"x")?),
    ];
    for (name, sealed) in &boxes {
        write("sealed_box", &format!("{name}.cbor"), &sealed.to_cbor())?;
        write("sealed_box", &format!("{name}.json"), &sealed.to_json())?;
        write("json_parse", &format!("sealed_{name}.json"), &sealed.to_json())?;
    }

    let files = [
        ("clear", KeyFile::unencrypted(&alice)),
        ("tiny", KeyFile::encrypt(&mut rng, &alice, b"fuzz", KdfParams::new(64, 1, 1)?)?),
        ("tiny_lanes", KeyFile::encrypt(&mut rng, &alice, b"other", KdfParams::new(64, 2, 8)?)?),
        ("costly", KeyFile::encrypt(&mut rng, &alice, b"fuzz", KdfParams::new(1024, 3, 1)?)?),
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
        let spaced = String::from_utf8(canonical)?.replacen('{', "{ ", 1).replacen(':', " :\n", 1);
        write("signed_message", &format!("msg{i}_spaced.json"), spaced.as_bytes())?;
    }

    wire_seeds(&alice)
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
    let kinds = [EnvelopeType::Text, EnvelopeType::StreamChunk, EnvelopeType::Ratchet];
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
                recipient: if i == 0 { Recipient::Broadcast } else { Recipient::Did("did:web:example.com".into()) },
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
    write("frame_decoder", "truncated.bin", &stream[..stream.len() - 2])?;

    let mut signed = SdkFrame::new(SdkFrameType::Data, b"test payload".to_vec());
    signed.signature = Some(vec![1; 64]);
    for (i, f) in [SdkFrame::new(SdkFrameType::Handshake, b"hi".to_vec()), signed].iter().enumerate() {
        write("sdk_frame", &format!("frame{i}.txt"), f.encode().as_bytes())?;
    }
    Ok(())
}
