//! [`Timestamp`]: the one notion of time shared by every Talos crate.

use core::fmt;
use core::time::Duration;

/// Milliseconds since the Unix epoch (1970-01-01T00:00:00Z), UTC, ignoring leap seconds.
///
/// Protocol crates never read a clock: the caller passes `now: Timestamp` into every
/// time-dependent operation. Upstream Talos objects carry Unix *seconds* in most places;
/// convert at the edge with [`Timestamp::from_secs`] and [`Timestamp::as_secs`].
///
/// `Display` prints RFC 3339 with milliseconds (`2023-11-14T22:13:20.000Z`), the format of
/// upstream audit events; `Debug` prints the raw milliseconds.
///
/// ```
/// use core::time::Duration;
/// use talos_crypto::Timestamp;
///
/// let t = Timestamp::from_secs(1_700_000_000).unwrap();
/// assert_eq!(t.as_millis(), 1_700_000_000_000);
/// assert_eq!(t.to_string(), "2023-11-14T22:13:20.000Z");
/// let later = t.saturating_add(Duration::from_secs(300));
/// assert_eq!(later.duration_since(t), Some(Duration::from_secs(300)));
/// ```
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// 1970-01-01T00:00:00.000Z.
    pub const UNIX_EPOCH: Self = Self(0);

    /// A timestamp `ms` milliseconds after the epoch.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// A timestamp `secs` whole seconds after the epoch; `None` if it does not fit in `u64` ms.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Option<Self> {
        match secs.checked_mul(1000) {
            Some(ms) => Some(Self(ms)),
            None => None,
        }
    }

    /// Whole seconds since the epoch, rounded down.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// `self + d`, or `None` on overflow. Sub-millisecond parts of `d` are dropped.
    #[must_use]
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        self.0.checked_add(duration_ms(d)?).map(Self)
    }

    /// `self + d`, saturating at the largest representable time.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Self {
        self.checked_add(d).unwrap_or(Self(u64::MAX))
    }

    /// `self - d`, or `None` before the epoch.
    #[must_use]
    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        self.0.checked_sub(duration_ms(d)?).map(Self)
    }

    /// `self - d`, saturating at the epoch.
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Self {
        self.checked_sub(d).unwrap_or(Self::UNIX_EPOCH)
    }

    /// How long after `earlier` this is; `None` if `earlier` is later.
    #[must_use]
    pub fn duration_since(self, earlier: Self) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_millis)
    }

    /// The distance between two timestamps, whichever is earlier.
    #[must_use]
    pub fn abs_diff(self, other: Self) -> Duration {
        Duration::from_millis(self.0.abs_diff(other.0))
    }
}

fn duration_ms(d: Duration) -> Option<u64> {
    u64::try_from(d.as_millis()).ok()
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let secs = self.0 / 1000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`, for non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_rfc3339_millis() {
        assert_eq!(
            Timestamp::UNIX_EPOCH.to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(951_782_400_123).to_string(),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            Timestamp::from_millis(1_768_178_601_999).to_string(),
            "2026-01-12T00:43:21.999Z"
        );
        assert_eq!(
            Timestamp::from_millis(253_402_300_799_999).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        // Must not panic at the extreme.
        let _ = Timestamp::from_millis(u64::MAX).to_string();
    }

    #[test]
    fn arithmetic_saturates_and_checks() {
        let t = Timestamp::from_millis(1000);
        assert_eq!(t.checked_sub(Duration::from_secs(2)), None);
        assert_eq!(
            t.saturating_sub(Duration::from_secs(2)),
            Timestamp::UNIX_EPOCH
        );
        assert_eq!(
            Timestamp::from_millis(u64::MAX).checked_add(Duration::from_millis(1)),
            None
        );
        assert_eq!(
            t.saturating_add(Duration::MAX),
            Timestamp::from_millis(u64::MAX)
        );
        assert_eq!(Timestamp::from_secs(u64::MAX), None);
        assert_eq!(
            t.abs_diff(Timestamp::from_millis(250)),
            Duration::from_millis(750)
        );
        assert_eq!(Timestamp::from_millis(250).duration_since(t), None);
    }
}
