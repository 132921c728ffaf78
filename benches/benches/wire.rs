//! talos-wire: frame decoder throughput on 64 KiB DATA frames (goal ≥ 2 GB/s), and envelope
//! sign, encode, decode and verify rates.
//!
//! Run: `cargo bench -p talos-benches --bench wire`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code, not library code

use core::hint::black_box;
use core::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use talos_crypto::{SigningKey, Timestamp};
use talos_wire::MessageId;
use talos_wire::envelope::{Envelope, EnvelopeFields, EnvelopeType, Limits, Recipient};
use talos_wire::frame::{self, FrameDecoder, FrameType};

/// 64 frames of 64 KiB, decoded from one buffer in 16 KiB reads (a typical socket read) and
/// in one piece.
fn frames(c: &mut Criterion) {
    let payload = vec![0x5a; 64 * 1024];
    let mut wire = Vec::new();
    for _ in 0..64 {
        frame::encode(FrameType::Data, &payload, &mut wire).unwrap();
    }
    let mut g = c.benchmark_group("wire/frame_decode");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    for (name, read) in [
        ("64KiB-frames/16KiB-reads", 16 * 1024),
        ("64KiB-frames/one-read", wire.len()),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut decoder = FrameDecoder::new();
                let mut n = 0usize;
                for piece in black_box(&wire).chunks(read) {
                    let mut input = piece;
                    while !input.is_empty() {
                        input = &input[decoder.handle_bytes(input).unwrap()..];
                        if let Some(f) = decoder.poll_frame() {
                            n += f.payload.len();
                        }
                    }
                }
                assert_eq!(n, 64 * 64 * 1024);
            })
        });
    }
    g.finish();
}

fn envelope_fields(content: usize) -> EnvelopeFields {
    EnvelopeFields {
        id: "019bb34e-0ae8-7000-8000-000000000001"
            .parse::<MessageId>()
            .unwrap(),
        kind: EnvelopeType::Ratchet,
        sender: "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2".into(),
        recipient: Recipient::Did(
            "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG".into(),
        ),
        timestamp: Timestamp::from_millis(1_768_178_601_000),
        content: vec![7; content],
        chunk: None,
    }
}

/// A 1 KiB ratchet message in an envelope: sign, encode, decode, verify.
fn envelopes(c: &mut Criterion) {
    let key = SigningKey::from_seed(&[1; 32]);
    let vk = key.verifying_key();
    let limits = Limits::default();
    let now = Timestamp::from_millis(1_768_178_601_000);
    let fields = envelope_fields(1024);
    let envelope = Envelope::sign(fields.clone(), &key, &limits).unwrap();
    let wire = envelope.to_cbor();
    let mut g = c.benchmark_group("wire/envelope_1KiB");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| {
        b.iter(|| Envelope::sign(black_box(fields.clone()), &key, &limits).unwrap())
    });
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(wire.len());
            black_box(&envelope).encode(&mut out);
            out
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| Envelope::decode(black_box(&wire), &limits, now).unwrap())
    });
    g.bench_function("decode+verify", |b| {
        b.iter(|| {
            Envelope::decode(black_box(&wire), &limits, now)
                .unwrap()
                .verify(&vk)
                .unwrap()
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = frames, envelopes
}
criterion_main!(benches);
