//! `wire/chunk_stream.json`: objects cut into chunks, and streams a receiver must refuse.

use talos_crypto::json::{self, Map, Value};
use talos_wire::chunk::{Reassembler, StreamStart, VecSink, chunk_all};

use super::{Derived, Family, Spec, apply_changes, flip_b64u_byte};
use crate::util::{hex_field, n, object, s, str_field, u64_field};

pub(super) const FAMILY: Family = Family {
    file: "wire/chunk_stream.json",
    contract: "wire/stream_start.schema.json",
    description: "Chunked streams: `object` is the STREAM_START announcement (JSON form), \
                  expected.stream_start_cbor_hex its wire form, and expected.chunks every chunk's \
                  sequence and BLAKE3 chaining-value hash. The object is prefix_hex followed by \
                  bytes b[i] = (31 * i + 7) mod 251 for i = 0, 1, ... up to `size` bytes in all. \
                  Receivers reassemble the chunks in reverse order. Negative cases alter the \
                  announcement (`set`, or a flipped bit of its hash) or one chunk (flip_chunk).",
    producer: super::wire_producer,
    specs,
    derive,
};

const STREAM: &str = "019bb34e-0ae8-7000-8000-0000000000c1";

fn input(size: u32, prefix: &[u8], chunk_size: Option<u32>, name: Option<&str>) -> Map {
    let mut m = Map::new();
    m.insert("stream_id".into(), s(STREAM));
    m.insert("size".into(), n(size));
    m.insert("prefix_hex".into(), s(hex::encode(prefix)));
    if let Some(c) = chunk_size {
        m.insert("chunk_size".into(), n(c));
    }
    if let Some(name) = name {
        m.insert("name".into(), s(name));
    }
    m
}

fn with(mut m: Map, key: &str, value: Value) -> Value {
    m.insert(key.into(), value);
    Value::Object(m)
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

fn specs() -> Vec<Spec> {
    vec![
        Spec::ok(
            "empty",
            "the empty object: one empty chunk",
            Value::Object(input(0, b"", None, None)),
        ),
        Spec::ok(
            "text-one-chunk",
            "a short text: one chunk, whose hash is the whole-object hash",
            Value::Object(input(40, b"hello, talos\n", None, None)),
        ),
        Spec::ok(
            "four-chunks",
            "3 500 bytes in 1 KiB chunks: three full, one partial; the whole hash merges four chaining values",
            Value::Object(input(3500, b"", Some(1024), None)),
        ),
        Spec::ok(
            "exact-multiple",
            "4 096 bytes in 1 KiB chunks: four full chunks",
            Value::Object(input(4096, b"", Some(1024), None)),
        ),
        Spec::ok(
            "seven-chunks",
            "7 chunks of 2 KiB: an uneven tree",
            Value::Object(input(14_000, b"", Some(2048), None)),
        ),
        Spec::ok(
            "png-named",
            "a PNG by its magic bytes, with a file name",
            Value::Object(input(3000, PNG, Some(1024), Some("diagram.png"))),
        ),
        Spec::err(
            "total-mismatch",
            "the announcement's total disagrees with size and chunk_size",
            with(
                input(3500, b"", Some(1024), None),
                "tamper",
                object([("set", object([("total", n(5))]))]),
            ),
            "total",
        ),
        Spec::err(
            "chunk-size-not-a-power-of-two",
            "chunk_size 1000",
            with(
                input(3500, b"", Some(1024), None),
                "tamper",
                object([("set", object([("chunk_size", n(1000))]))]),
            ),
            "chunk size",
        )
        .schema_invalid(),
        Spec::err(
            "too-large-for-its-media",
            "an image announced at 60 MiB (the image limit is 50 MiB)",
            with(
                input(3000, PNG, Some(1024), None),
                "tamper",
                object([(
                    "set",
                    object([("size", n(60 * 1024 * 1024)), ("total", n(61_440))]),
                )]),
            ),
            "too large",
        ),
        Spec::err(
            "corrupt-chunk",
            "one bit of chunk 1 flipped in transit: refused on arrival",
            with(input(3500, b"", Some(1024), None), "flip_chunk", n(1)),
            "does not match its hash",
        ),
        Spec::err(
            "wrong-object-hash",
            "every chunk matches its own hash, but the announced object hash is another",
            with(
                input(3500, b"", Some(1024), None),
                "tamper",
                object([("flip_hash", Value::Bool(true))]),
            ),
            "hash",
        ),
    ]
}

fn object_bytes(inputs: &Value) -> Result<Vec<u8>, String> {
    let size = usize::try_from(u64_field(inputs, "size")?).map_err(|e| e.to_string())?;
    let mut data = hex_field(inputs, "prefix_hex")?;
    data.truncate(size);
    let start = data.len();
    data.extend((start..size).map(|i| ((31 * i + 7) % 251) as u8));
    Ok(data)
}

fn derive(inputs: &Value) -> Result<Derived, String> {
    let data = object_bytes(inputs)?;
    let stream_id = str_field(inputs, "stream_id")?
        .parse()
        .map_err(|e: talos_wire::IdError| e.to_string())?;
    let chunk_size = inputs
        .get("chunk_size")
        .map(|_| {
            u64_field(inputs, "chunk_size")
                .and_then(|c| u32::try_from(c).map_err(|e| e.to_string()))
        })
        .transpose()?;
    let name = inputs.get("name").and_then(Value::as_str);
    let (start, chunks) =
        chunk_all(stream_id, &data, name, chunk_size).map_err(|e| e.to_string())?;
    let mut object = json::parse(&start.to_json()).map_err(|e| e.to_string())?;
    let tamper = inputs.get("tamper");
    if let Some(set) = tamper.and_then(|t| t.get("set")) {
        apply_changes(&mut object, set);
    }
    if tamper.and_then(|t| t.get("flip_hash")).is_some() {
        flip_b64u_byte(&mut object, "hash", 0)?;
    }
    let flip = inputs
        .get("flip_chunk")
        .map(|_| u64_field(inputs, "flip_chunk"))
        .transpose()?;
    let negative = tamper.is_some() || flip.is_some();

    let announced = match StreamStart::from_json(&object.to_canonical_vec()) {
        Ok(a) => a,
        Err(e) if negative => return Ok(Derived::failed(Some(object), &e)),
        Err(e) => return Err(e.to_string()),
    };
    let mut rx = Reassembler::new(&announced, VecSink::new(announced.size()));
    for chunk in chunks.iter().rev() {
        let mut bytes = chunk.data.clone();
        if flip == Some(u64::from(chunk.info.sequence))
            && let Some(b) = bytes.first_mut()
        {
            *b ^= 1;
        }
        if let Err(e) = rx.handle_chunk(&chunk.info, &bytes) {
            return if negative {
                Ok(Derived::failed(Some(object), &e))
            } else {
                Err(e.to_string())
            };
        }
    }
    match (rx.finish(), negative) {
        (Err(e), true) => Ok(Derived::failed(Some(object), &e)),
        (Err(e), false) => Err(e.to_string()),
        (Ok(_), true) => Err("the altered stream was accepted".into()),
        (Ok(sink), false) => {
            if sink.into_bytes() != data
                || StreamStart::from_cbor(&start.to_cbor()).as_ref() != Ok(&start)
            {
                return Err("the stream does not reassemble to the object".into());
            }
            let chunk_list = chunks
                .iter()
                .map(|c| {
                    crate::util::object([
                        ("sequence", n(c.info.sequence)),
                        ("hash", s(talos_crypto::base64url::encode(&c.info.hash))),
                        ("len", n(u32::try_from(c.data.len()).unwrap_or(u32::MAX))),
                    ])
                })
                .collect();
            Ok(Derived::Ok {
                object,
                expected: crate::util::object([
                    ("stream_start_cbor_hex", s(hex::encode(start.to_cbor()))),
                    ("chunks", Value::Array(chunk_list)),
                ]),
            })
        }
    }
}
