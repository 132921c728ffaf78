//! Envelopes: round trips through both forms, and any changed byte fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::{SigningKey, Timestamp};
use talos_wire::MessageId;
use talos_wire::chunk::ChunkInfo;
use talos_wire::envelope::{
    Envelope, EnvelopeError, EnvelopeFields, EnvelopeType, Limits, Recipient,
};

const NOW: u64 = 1_768_178_601_000;

fn kind() -> impl Strategy<Value = EnvelopeType> {
    prop::sample::select(vec![
        EnvelopeType::Text,
        EnvelopeType::Ack,
        EnvelopeType::StreamStart,
        EnvelopeType::StreamChunk,
        EnvelopeType::StreamEnd,
        EnvelopeType::FileOffer,
        EnvelopeType::McpMessage,
        EnvelopeType::McpResponse,
        EnvelopeType::McpError,
        EnvelopeType::Ratchet,
        EnvelopeType::Receipt,
    ])
}

fn fields() -> impl Strategy<Value = EnvelopeFields> {
    (
        any::<[u8; 32]>(),
        kind(),
        "did:key:z[1-9A-HJ-NP-Za-km-z]{1,48}",
        prop::option::of("did:(key|web|peer):[A-Za-z0-9.%_-]{1,40}"),
        0u64..600_000,
        prop::collection::vec(any::<u8>(), 0..300),
        (any::<u32>(), any::<[u8; 32]>()),
    )
        .prop_map(
            |(seed, kind, sender, recipient, offset, content, (seq, hash))| {
                let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
                let timestamp = Timestamp::from_millis(NOW - 300_000 + offset);
                let chunk = (kind == EnvelopeType::StreamChunk).then(|| ChunkInfo {
                    stream_id: MessageId::generate(timestamp, &mut rng),
                    sequence: seq % 1000,
                    total: seq % 1000 + 1,
                    hash,
                });
                EnvelopeFields {
                    id: MessageId::generate(timestamp, &mut rng),
                    kind,
                    sender,
                    recipient: recipient.map_or(Recipient::Broadcast, Recipient::Did),
                    timestamp,
                    content,
                    chunk,
                }
            },
        )
}

fn key() -> SigningKey {
    SigningKey::from_seed(&[5; 32])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_both_forms(fields in fields()) {
        let limits = Limits::default();
        let now = Timestamp::from_millis(NOW);
        let envelope = Envelope::sign(fields.clone(), &key(), &limits).unwrap();
        let vk = key().verifying_key();
        let via_cbor = Envelope::decode(&envelope.to_cbor(), &limits, now).unwrap().verify(&vk).unwrap();
        let via_json = Envelope::from_json(&envelope.to_json(), &limits, now).unwrap().verify(&vk).unwrap();
        prop_assert_eq!(via_cbor.fields(), &fields);
        prop_assert_eq!(&via_json, &envelope);
        let mut appended = vec![0xff];
        envelope.encode(&mut appended);
        let cbor = envelope.to_cbor();
        prop_assert_eq!(&appended[1..], cbor.as_slice());
    }

    /// Flipping any bit of any byte of a signed envelope never yields an accepted envelope.
    #[test]
    fn any_changed_byte_fails(fields in fields(), mask in 1u8..=255) {
        let limits = Limits::default();
        let now = Timestamp::from_millis(NOW);
        let envelope = Envelope::sign(fields, &key(), &limits).unwrap();
        let wire = envelope.to_cbor();
        let vk = key().verifying_key();
        for i in 0..wire.len() {
            let mut bad = wire.clone();
            bad[i] ^= mask;
            let result = Envelope::decode(&bad, &limits, now).and_then(|u| u.verify(&vk));
            prop_assert!(result.is_err(), "byte {} ^ {:#04x} accepted", i, mask);
        }
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::decode(&bytes, &Limits::default(), Timestamp::from_millis(NOW));
        let _ = Envelope::from_json(&bytes, &Limits::default(), Timestamp::from_millis(NOW));
    }
}

#[test]
fn limits_are_enforced_on_decode() {
    let fields = EnvelopeFields {
        id: "019bb34e-0ae8-7000-8000-000000000001".parse().unwrap(),
        kind: EnvelopeType::Text,
        sender: "did:key:z6Mkx".into(),
        recipient: Recipient::Broadcast,
        timestamp: Timestamp::from_millis(NOW),
        content: vec![1; 100],
        chunk: None,
    };
    let envelope = Envelope::sign(fields.clone(), &key(), &Limits::default()).unwrap();
    let wire = envelope.to_cbor();
    let mut small = Limits::default();
    small.set_max_content(99);
    assert!(matches!(
        Envelope::decode(&wire, &small, Timestamp::from_millis(NOW)),
        Err(EnvelopeError::ContentTooLarge { len: 100, max: 99 })
    ));
    let late = Timestamp::from_millis(NOW + 300_001);
    assert!(matches!(
        Envelope::decode(&wire, &Limits::default(), late),
        Err(EnvelopeError::ClockSkew { .. })
    ));
    let early = Timestamp::from_millis(NOW - 300_000);
    assert!(
        Envelope::decode(&wire, &Limits::default(), early).is_ok(),
        "exactly at the skew limit"
    );

    // Chunk info must match the type, on signing too.
    let mut chunked = fields;
    chunked.chunk = Some(ChunkInfo {
        stream_id: "019bb34e-0ae8-7000-8000-000000000002".parse().unwrap(),
        sequence: 0,
        total: 1,
        hash: [0; 32],
    });
    assert!(matches!(
        Envelope::sign(chunked.clone(), &key(), &Limits::default()),
        Err(EnvelopeError::Malformed(_))
    ));
    chunked.kind = EnvelopeType::StreamChunk;
    assert!(Envelope::sign(chunked.clone(), &key(), &Limits::default()).is_ok());
    chunked.chunk.as_mut().unwrap().sequence = 1;
    assert!(matches!(
        Envelope::sign(chunked, &key(), &Limits::default()),
        Err(EnvelopeError::Malformed(_))
    ));
}

#[test]
fn ids_round_trip_and_carry_time() {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([9; 32]);
    for ms in [0, 1, NOW, (1 << 48) - 1] {
        let id = MessageId::generate(Timestamp::from_millis(ms), &mut rng);
        assert_eq!(id.timestamp(), Timestamp::from_millis(ms));
        assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
        assert_eq!(MessageId::from_bytes(*id.as_bytes()), Ok(id));
    }
}
