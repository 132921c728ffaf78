//! Deterministic CBOR (RFC 8949 §4.2.1) for Talos's binary wire and files.
//!
//! Encoding is written by hand, so it cannot fail and is deterministic by construction:
//! shortest heads, definite lengths, map keys in the order of their encoded bytes. Decoding
//! goes through serde ([`decode`]); a type's decoder then re-encodes the value and compares,
//! so each value has exactly one accepted byte form.

use serde::de::DeserializeOwned;

use crate::error::CborError;

/// Major type 0: unsigned integer.
pub const MAJOR_UINT: u8 = 0;
/// Major type 2: byte string.
pub const MAJOR_BYTES: u8 = 2;
/// Major type 3: text string.
pub const MAJOR_TEXT: u8 = 3;
/// Major type 4: array.
pub const MAJOR_ARRAY: u8 = 4;
/// Major type 5: map.
pub const MAJOR_MAP: u8 = 5;

/// Writes a head (major type and argument) in its shortest form.
pub fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

/// Writes an unsigned integer.
pub fn write_uint(out: &mut Vec<u8>, value: u64) {
    write_head(out, MAJOR_UINT, value);
}

/// Writes a byte string.
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_head(out, MAJOR_BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Writes a text string.
pub fn write_text(out: &mut Vec<u8>, text: &str) {
    write_head(out, MAJOR_TEXT, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Writes the head of a map of `len` pairs; the caller writes the pairs in deterministic order.
pub fn write_map_header(out: &mut Vec<u8>, len: usize) {
    write_head(out, MAJOR_MAP, len as u64);
}

/// Writes the head of an array of `len` items.
pub fn write_array_header(out: &mut Vec<u8>, len: usize) {
    write_head(out, MAJOR_ARRAY, len as u64);
}

/// Decodes one CBOR item into `T` through serde; trailing bytes are an error.
///
/// This does not check that the encoding is deterministic: compare a re-encoding of the
/// result with the input for that (every Talos type's decoder does).
///
/// # Errors
/// [`CborError::Malformed`] for bytes that are not a `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CborError> {
    let mut reader = bytes;
    let value: T = ciborium::from_reader(&mut reader)
        .map_err(|e| CborError::Malformed { reason: reason(e) })?;
    if !reader.is_empty() {
        return Err(CborError::Malformed {
            reason: format!("{} trailing bytes", reader.len()),
        });
    }
    Ok(value)
}

/// A decoder error in words of our own (serde's messages for shape errors), so that error
/// text does not depend on ciborium's `Debug` output.
fn reason<E>(err: ciborium::de::Error<E>) -> String {
    match err {
        ciborium::de::Error::Io(_) => "unexpected end of input".into(),
        ciborium::de::Error::Syntax(at) => format!("syntax error at byte {at}"),
        ciborium::de::Error::Semantic(_, message) => message,
        ciborium::de::Error::RecursionLimitExceeded => "nested too deeply".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_shortest() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (23, &[0x17]),
            (24, &[0x18, 24]),
            (255, &[0x18, 0xff]),
            (256, &[0x19, 1, 0]),
            (65_535, &[0x19, 0xff, 0xff]),
            (65_536, &[0x1a, 0, 1, 0, 0]),
            (u64::from(u32::MAX), &[0x1a, 0xff, 0xff, 0xff, 0xff]),
            (1 << 32, &[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for &(value, want) in cases {
            let mut out = Vec::new();
            write_uint(&mut out, value);
            assert_eq!(out, want, "{value}");
            // ciborium reads back the same number.
            assert_eq!(decode::<u64>(&out).unwrap(), value);
        }
    }

    #[test]
    fn decode_rejects_trailing_and_truncated() {
        let mut out = Vec::new();
        write_bytes(&mut out, b"abc");
        assert!(decode::<serde_bytes_like::Bytes>(&out).is_ok());
        let mut long = out.clone();
        long.push(0);
        assert!(decode::<serde_bytes_like::Bytes>(&long).is_err());
        for cut in 0..out.len() {
            assert!(decode::<serde_bytes_like::Bytes>(&out[..cut]).is_err());
        }
    }

    mod serde_bytes_like {
        #[derive(serde::Deserialize)]
        pub(super) struct Bytes(
            #[serde(with = "crate::base64url::serde")]
            #[allow(dead_code)]
            pub(super) Vec<u8>,
        );
    }
}
