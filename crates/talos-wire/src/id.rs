//! Message ids (UUIDv7), cursors and event ordering, as the upstream vectors define them.

use core::cmp::Ordering;
use core::fmt;
use core::str::FromStr;

use rand_core::CryptoRng;
use talos_crypto::{Timestamp, base64url};

/// A UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, version 7, 74 random bits, variant
/// `10`. Written in the canonical lowercase hyphenated form; parsing accepts only that form.
///
/// ```
/// use talos_crypto::Timestamp;
/// use talos_wire::MessageId;
/// # use rand_chacha::rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
///
/// let id = MessageId::generate(Timestamp::from_millis(1_700_000_000_000), &mut rng);
/// assert_eq!(id.timestamp(), Timestamp::from_millis(1_700_000_000_000));
/// let text = id.to_string();
/// assert_eq!(text.parse::<MessageId>().unwrap(), id);
/// assert!("0190A5E0-7C3A-7000-8000-000000000001".parse::<MessageId>().is_err()); // uppercase
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId([u8; 16]);

impl MessageId {
    /// A fresh id for `now`: the top 48 bits are `now` in milliseconds (wrapping past the year
    /// 10889), the rest random but for the version and variant bits.
    pub fn generate(now: Timestamp, rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes[6..]);
        bytes[..6].copy_from_slice(&now.as_millis().to_be_bytes()[2..]);
        bytes[6] = 0x70 | (bytes[6] & 0x0f);
        bytes[8] = 0x80 | (bytes[8] & 0x3f);
        Self(bytes)
    }

    /// An id from its 16 bytes.
    ///
    /// # Errors
    /// [`IdError`] unless the version is 7 and the variant is RFC 9562's.
    pub fn from_bytes(bytes: [u8; 16]) -> Result<Self, IdError> {
        if bytes[6] >> 4 != 7 || bytes[8] >> 6 != 0b10 {
            return Err(IdError);
        }
        Ok(Self(bytes))
    }

    /// The 16 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The embedded Unix time, in milliseconds.
    #[must_use]
    pub fn timestamp(&self) -> Timestamp {
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&self.0[..6]);
        Timestamp::from_millis(u64::from_be_bytes(ms))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = talos_crypto::hash::to_hex(&self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl FromStr for MessageId {
    type Err = IdError;

    /// Parses the canonical form: `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let text = s.as_bytes();
        if text.len() != 36 {
            return Err(IdError);
        }
        let mut bytes = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &c) in text.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(IdError);
                }
                continue;
            }
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return Err(IdError),
            };
            bytes[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
            nibbles += 1;
        }
        Self::from_bytes(bytes)
    }
}

impl serde::Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Not a canonical lowercase UUIDv7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid message id: expected a lowercase hyphenated UUIDv7")]
pub struct IdError;

/// A position in an event stream: `(timestamp in Unix seconds, event id)`, as upstream
/// cursors encode it: base64url of `"{seconds}:{event_id}"`.
///
/// Cursors compare ascending by `(seconds, id)`; a query "after" a cursor is exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Unix seconds.
    pub seconds: u64,
    /// The event id.
    pub id: MessageId,
}

impl Cursor {
    /// The cursor's text form.
    #[must_use]
    pub fn encode(&self) -> String {
        base64url::encode(format!("{}:{}", self.seconds, self.id).as_bytes())
    }

    /// Parses a cursor: strict base64url of `"{seconds}:{id}"`, seconds in canonical decimal
    /// (no sign, no leading zeros), id a canonical UUIDv7.
    ///
    /// # Errors
    /// [`CursorError`] for anything else.
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let bytes = base64url::decode(text).map_err(|_| CursorError)?;
        let text = core::str::from_utf8(&bytes).map_err(|_| CursorError)?;
        let (seconds, id) = text.split_once(':').ok_or(CursorError)?;
        let canonical_digits = !seconds.is_empty()
            && seconds.bytes().all(|b| b.is_ascii_digit())
            && (seconds == "0" || !seconds.starts_with('0'));
        if !canonical_digits {
            return Err(CursorError);
        }
        Ok(Self {
            seconds: seconds.parse().map_err(|_| CursorError)?,
            id: id.parse().map_err(|_| CursorError)?,
        })
    }
}

/// Not a valid cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor: expected base64url of \"<seconds>:<uuidv7>\"")]
pub struct CursorError;

/// Upstream event order (`ordering.json`): newest first. `Less` means `a` sorts before `b`:
/// `a` has the later timestamp, or the same timestamp and the byte-wise greater id.
#[must_use]
pub fn event_order(a: (u64, &MessageId), b: (u64, &MessageId)) -> Ordering {
    b.0.cmp(&a.0).then_with(|| b.1.cmp(a.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> MessageId {
        s.parse().unwrap()
    }

    #[test]
    fn parse_rejects_every_non_canonical_form() {
        for bad in [
            "",
            "not-a-uuid",
            "0190a5e0-7c3a-6000-8000-000000000001",
            "0190a5e0-7c3a-7000-7000-000000000001",
            "0190a5e0-7c3a-7000-c000-000000000001",
            "0190a5e0-7c3a-7000-8000-00000000000",
            "0190a5e0-7c3a-7000-8000-0000000000010",
            "0190a5e07c3a-7000-8000-0000000000001-",
            "0190a5e0-7c3a-7000-8000-00000000000g",
            "{0190a5e0-7c3a-7000-8000-000000000001}",
            "0190A5E0-7C3A-7000-8000-000000000001",
        ] {
            assert_eq!(bad.parse::<MessageId>(), Err(IdError), "{bad}");
        }
        let good = "0190a5e0-7c3a-7fff-bfff-ffffffffffff";
        assert_eq!(id(good).to_string(), good);
        assert_eq!(
            id(good).timestamp(),
            Timestamp::from_millis(0x0190_a5e0_7c3a)
        );
    }

    #[test]
    fn cursor_round_trip_and_strictness() {
        let c = Cursor {
            seconds: 1_703_721_600,
            id: id("0190a5e0-7c3a-7000-8000-000000000001"),
        };
        assert_eq!(
            c.encode(),
            "MTcwMzcyMTYwMDowMTkwYTVlMC03YzNhLTcwMDAtODAwMC0wMDAwMDAwMDAwMDE"
        );
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in [
            "01:0190a5e0-7c3a-7000-8000-000000000001",
            "+1:0190a5e0-7c3a-7000-8000-000000000001",
            ":x",
            "1",
        ] {
            assert_eq!(
                Cursor::decode(&base64url::encode(bad.as_bytes())),
                Err(CursorError),
                "{bad}"
            );
        }
        assert!(
            Cursor::decode("0:0190a5e0-7c3a-7000-8000-000000000001").is_err(),
            "not base64url"
        );
    }
}
