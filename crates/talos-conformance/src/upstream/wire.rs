//! Upstream talos-wire vectors.

use core::cmp::Ordering;

use talos_crypto::json::Value;
use talos_crypto::{ErrorCode, Timestamp, base64url};
use talos_wire::replay::{ReplayConfig, ReplayWindow};
use talos_wire::sdk_frame::{SdkFrame, SdkFrameType};
use talos_wire::{Cursor, MessageId, event_order};

use crate::report::{Cases, Outcome};
use crate::util::{array_field, field, hex_field, same, str_field, u64_field};

/// `sdk/frame_codec.json`: base64url of canonical JSON frames.
pub(super) fn frame_codec(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "vectors", "test_id", |vector| {
        let inputs = field(vector, "inputs")?;
        let expected = field(vector, "expected")?;
        if let Some(encoded) = expected.get("encoded_base64url").and_then(Value::as_str) {
            let kind = sdk_type(str_field(inputs, "frame_type")?)?;
            let frame = SdkFrame::new(kind, str_field(inputs, "payload_utf8")?.as_bytes().to_vec());
            same("encoding", encoded, frame.encode().as_str())?;
            same(
                "decoding",
                Ok(frame),
                SdkFrame::decode(encoded.as_bytes()).map_err(|e| e.to_string()),
            )
        } else {
            let frame = SdkFrame::decode(str_field(inputs, "encoded_base64url")?.as_bytes())
                .map_err(|e| e.to_string())?;
            same(
                "type",
                str_field(expected, "frame_type")?,
                frame.kind.as_str(),
            )?;
            same(
                "version",
                u64_field(expected, "version")?,
                u64::from(frame.version),
            )?;
            same(
                "flags",
                u64_field(expected, "flags")?,
                u64::from(frame.flags),
            )
        }
    });
    cases.each(doc, "negative_cases", "test_id", |vector| {
        let inputs = field(vector, "inputs")?;
        let wire = match inputs.get("encoded_base64url").and_then(Value::as_str) {
            Some(text) => text.as_bytes().to_vec(),
            None => hex_field(inputs, "encoded_hex")?,
        };
        let err = SdkFrame::decode(&wire).err().ok_or("decoded")?;
        let expected = field(vector, "expected_error")?;
        same(
            "error code",
            str_field(expected, "code")?,
            ErrorCode::from(&err).as_str(),
        )?;
        match expected.get("message_contains").and_then(Value::as_str) {
            Some(text)
                if !err
                    .to_string()
                    .to_lowercase()
                    .contains(&text.to_lowercase()) =>
            {
                Err(format!("error {err:?} lacks {text:?}"))
            }
            _ => Ok(()),
        }
    });
    cases.finish()
}

fn sdk_type(name: &str) -> Result<SdkFrameType, String> {
    let encoded = base64url::encode(format!(r#"{{"type":"{name}","payload":""}}"#).as_bytes());
    SdkFrame::decode(encoded.as_bytes())
        .map(|f| f.kind)
        .map_err(|e| e.to_string())
}

/// `uuidv7.json`: canonical lowercase UUIDv7 only.
pub(super) fn uuidv7(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    cases.each(doc, "valid", "", |id| {
        let text = id.as_str().ok_or("not a string")?;
        let parsed: MessageId = text
            .parse()
            .map_err(|e: talos_wire::IdError| e.to_string())?;
        same("round trip", text, parsed.to_string().as_str())
    });
    cases.each(doc, "invalid", "", |id| {
        let text = id.as_str().ok_or("not a string")?;
        match text.parse::<MessageId>() {
            Ok(_) => Err("accepted".into()),
            Err(_) => Ok(()),
        }
    });
    cases.finish()
}

fn entries(doc: &Value) -> Result<&[Value], String> {
    match doc {
        Value::Array(items) => Ok(items),
        _ => Err("expected a top-level array".into()),
    }
}

fn id_of(v: &Value) -> Result<MessageId, String> {
    str_field(v, "event_id")?
        .parse()
        .map_err(|e: talos_wire::IdError| e.to_string())
}

/// `cursor_derivation.json`: base64url of `"{seconds}:{event_id}"`.
pub(super) fn cursor_derivation(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    match entries(doc) {
        Ok(items) => {
            for (i, item) in items.iter().enumerate() {
                let result = (|| {
                    let cursor = Cursor {
                        seconds: u64_field(item, "timestamp")?,
                        id: id_of(item)?,
                    };
                    let expected = str_field(item, "expected_cursor")?;
                    same("cursor", expected, cursor.encode().as_str())?;
                    same(
                        "decoded",
                        Ok(cursor),
                        Cursor::decode(expected).map_err(|e| e.to_string()),
                    )
                })();
                cases.check(&format!("#{i}"), result);
            }
        }
        Err(e) => cases.check("file", Err(e)),
    }
    cases.finish()
}

/// `ordering.json`: newest first, ties by the greater id.
pub(super) fn ordering(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    match entries(doc) {
        Ok(items) => {
            for (i, item) in items.iter().enumerate() {
                let result = (|| {
                    let (a, b) = (field(item, "a")?, field(item, "b")?);
                    let (ida, idb) = (id_of(a)?, id_of(b)?);
                    let got = match event_order(
                        (u64_field(a, "timestamp")?, &ida),
                        (u64_field(b, "timestamp")?, &idb),
                    ) {
                        Ordering::Less => "-1",
                        Ordering::Equal => "0",
                        Ordering::Greater => "1",
                    };
                    let want = match field(item, "expected")? {
                        Value::Number(n) => {
                            n.as_i64().map(|v| v.to_string()).ok_or("bad expected")?
                        }
                        _ => return Err("bad expected".into()),
                    };
                    same("order", want.as_str(), got)
                })();
                cases.check(&format!("#{i}"), result);
            }
        }
        Err(e) => cases.check("file", Err(e)),
    }
    cases.finish()
}

/// `crypto/replay_nonce.json`: first sight accepted, any repeat rejected.
pub(super) fn replay_nonce(doc: &Value) -> Outcome {
    let mut cases = Cases::default();
    let mut window: ReplayWindow<(), String> = ReplayWindow::new(ReplayConfig::default());
    match array_field(doc, "tests") {
        Ok(tests) => {
            for (i, test) in tests.iter().enumerate() {
                let result = (|| {
                    let nonce = str_field(test, "nonce")?;
                    let at = Timestamp::from_secs(u64_field(test, "timestamp")?)
                        .ok_or("time out of range")?;
                    let verdict = if window.check(&(), nonce, at, at).is_ok() {
                        "accept"
                    } else {
                        "reject"
                    };
                    same("verdict", str_field(test, "expected")?, verdict)
                })();
                cases.check(&format!("#{i}"), result);
            }
        }
        Err(e) => cases.check("tests", Err(e)),
    }
    cases.finish()
}
