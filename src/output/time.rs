//! Timestamps and latencies as people read them.
//!
//! Timestamps: the columns show local wall-clock time (`--timestamp-format`:
//! `time`, `rfc3339` or `ns`); JSON keeps the integer and adds an RFC 3339
//! string in UTC. The time zone is the system's (`TZ`, else `/etc/localtime`);
//! where there is none (the FROM-scratch image) it is UTC.
//!
//! Formatting a date per record would be the costliest part of a row, so the
//! text of the current second is kept and only the fraction is written anew:
//! records come in time order, most within the second of the one before.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::push_int;

/// How the columns show `timestamp` (`--timestamp-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// Local time of day to the microsecond: `14:03:07.123456`.
    #[default]
    Time,
    /// Local date and time to the nanosecond, with the zone's offset:
    /// `2026-12-02T14:03:07.123456789+01:00`.
    Rfc3339,
    /// Nanoseconds since the epoch, the integer JSON has.
    Ns,
}

impl TimestampFormat {
    /// Characters of every value (`ns`: up to year 2286).
    pub fn width(self) -> usize {
        match self {
            TimestampFormat::Time => 15,
            TimestampFormat::Rfc3339 => 35,
            TimestampFormat::Ns => 19,
        }
    }
}

/// Appends `n`'s last `width` decimal digits, zero-padded.
pub(super) fn push_digits(mut n: u64, width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + width, b'0');
    for d in out[start..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Formats timestamps in one time zone, keeping the text of the last second.
#[derive(Debug, Clone)]
pub struct TimeText {
    tz: TimeZone,
    /// Offsets are written as `Z` (UTC output) rather than `+00:00`.
    zulu: bool,
    /// The second `civil` and `offset` are for.
    second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS`.
    civil: [u8; 19],
    /// `+HH:MM`, or `Z`.
    offset: [u8; 6],
    offset_len: usize,
}

impl TimeText {
    /// In `tz`, offsets written as `+HH:MM`.
    pub fn new(tz: TimeZone) -> TimeText {
        TimeText { tz, zulu: false, second: None, civil: [b'0'; 19], offset: [b'0'; 6], offset_len: 0 }
    }

    /// UTC with `Z`, as JSON's `timestamp_rfc3339` is.
    pub fn utc() -> TimeText {
        TimeText { zulu: true, ..TimeText::new(TimeZone::UTC) }
    }

    /// The system's time zone (`TZ`, else `/etc/localtime`), or UTC when it
    /// has none or it cannot be read.
    pub fn local() -> TimeText {
        TimeText::new(TimeZone::try_system().unwrap_or(TimeZone::UTC))
    }

    /// Makes `civil` and `offset` those of `second`; false past the dates
    /// the calendar covers.
    fn at(&mut self, second: u64) -> bool {
        if self.second == Some(second) {
            return true;
        }
        let Ok(ts) = i64::try_from(second).map_err(|_| ()).and_then(|s| Timestamp::from_second(s).map_err(|_| ())) else {
            return false;
        };
        let offset = self.tz.to_offset(ts);
        let dt = offset.to_datetime(ts);
        let mut b = Vec::with_capacity(19);
        push_digits(dt.year().max(0) as u64, 4, &mut b);
        b.push(b'-');
        push_digits(dt.month() as u64, 2, &mut b);
        b.push(b'-');
        push_digits(dt.day() as u64, 2, &mut b);
        b.push(b'T');
        push_digits(dt.hour() as u64, 2, &mut b);
        b.push(b':');
        push_digits(dt.minute() as u64, 2, &mut b);
        b.push(b':');
        push_digits(dt.second() as u64, 2, &mut b);
        self.civil.copy_from_slice(&b);
        let secs = offset.seconds();
        if self.zulu && secs == 0 {
            self.offset[0] = b'Z';
            self.offset_len = 1;
        } else {
            // RFC 3339 offsets have no seconds: those of old local mean times are dropped.
            let mut o = Vec::with_capacity(6);
            o.push(if secs < 0 { b'-' } else { b'+' });
            let mins = u64::from(secs.unsigned_abs()) / 60;
            push_digits(mins / 60, 2, &mut o);
            o.push(b':');
            push_digits(mins % 60, 2, &mut o);
            self.offset.copy_from_slice(&o);
            self.offset_len = 6;
        }
        self.second = Some(second);
        true
    }

    /// Appends `ns` (since the epoch) in `format`.
    pub fn push(&mut self, ns: u64, format: TimestampFormat, out: &mut Vec<u8>) {
        let (second, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
        if format == TimestampFormat::Ns || !self.at(second) {
            push_int(ns, out);
            return;
        }
        match format {
            TimestampFormat::Time => {
                out.extend_from_slice(&self.civil[11..]);
                out.push(b'.');
                push_digits(frac / 1000, 6, out);
            }
            TimestampFormat::Rfc3339 | TimestampFormat::Ns => {
                out.extend_from_slice(&self.civil);
                out.push(b'.');
                push_digits(frac, 9, out);
                out.extend_from_slice(&self.offset[..self.offset_len]);
            }
        }
    }
}

/// `HH:MM:SS.uuuuuu` in UTC, from nanoseconds since the epoch.
pub fn time_of_day(ns: u64) -> String {
    let mut out = Vec::with_capacity(15);
    TimeText::new(TimeZone::UTC).push(ns, TimestampFormat::Time, &mut out);
    String::from_utf8(out).expect("digits are ASCII")
}

/// Appends a duration in nanoseconds in the largest unit it reaches (`ns`,
/// `µs`, `ms`, `s`), rounded to the nearest: with one decimal below 10 of
/// that unit (`3.0s`, `8.1µs`), whole from 10 on (`150ms`, `812µs`). So a
/// value is at most five characters wide up to 999 s (`1250s` past that);
/// a rounding that reaches 1000 of a unit is shown in the next (`1.0ms`).
pub fn push_latency(ns: u64, out: &mut Vec<u8>) {
    const UNITS: [(u64, &str); 4] = [(1, "ns"), (1_000, "µs"), (1_000_000, "ms"), (1_000_000_000, "s")];
    let mut u = UNITS.iter().rposition(|&(scale, _)| ns >= scale).unwrap_or(0);
    loop {
        let (scale, name) = UNITS[u];
        let scale = u128::from(scale);
        let n = u128::from(ns);
        let tenths = (n * 10 + scale / 2) / scale;
        if u > 0 && tenths < 100 {
            push_int(tenths / 10, out);
            out.push(b'.');
            push_int(tenths % 10, out);
        } else {
            let whole = (n + scale / 2) / scale;
            if whole >= 1000 && u + 1 < UNITS.len() {
                u += 1;
                continue;
            }
            push_int(whole, out);
        }
        out.extend_from_slice(name.as_bytes());
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(ns: u64) -> String {
        let mut out = Vec::new();
        push_latency(ns, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn at(text: &mut TimeText, ns: u64, format: TimestampFormat) -> String {
        let mut out = Vec::new();
        text.push(ns, format, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn latencies_are_in_human_units() {
        for (ns, want) in [
            (0, "0ns"),
            (999, "999ns"),
            (1_000, "1.0µs"),
            (8_140, "8.1µs"),
            (9_960, "10µs"),
            (812_000, "812µs"),
            (999_400, "999µs"),
            (999_600, "1.0ms"),
            (150_000_000, "150ms"),
            (3_000_000_000, "3.0s"),
            (3_049_999_999, "3.0s"),
            (3_050_000_000, "3.1s"),
            (59_500_000_000, "60s"),
            (1_250_000_000_000, "1250s"),
            (u64::MAX, "18446744074s"),
        ] {
            assert_eq!(latency(ns), want, "{ns}");
        }
        // Never wider than five characters below 1000 s.
        for ns in (0..1_000_000_000_000u64).step_by(999_999_937) {
            assert!(latency(ns).chars().count() <= 5, "{ns}: {}", latency(ns));
        }
    }

    #[test]
    fn timestamps_in_each_format() {
        // 2023-11-14T22:13:20.123456789Z
        let ns = 1_700_000_000_123_456_789;
        let mut utc = TimeText::new(TimeZone::UTC);
        assert_eq!(at(&mut utc, ns, TimestampFormat::Time), "22:13:20.123456");
        assert_eq!(at(&mut utc, ns, TimestampFormat::Rfc3339), "2023-11-14T22:13:20.123456789+00:00");
        assert_eq!(at(&mut utc, ns, TimestampFormat::Ns), "1700000000123456789");
        assert_eq!(at(&mut TimeText::utc(), ns, TimestampFormat::Rfc3339), "2023-11-14T22:13:20.123456789Z");
        let east = jiff::tz::Offset::from_seconds(5 * 3600 + 30 * 60).unwrap();
        let mut ist = TimeText::new(TimeZone::fixed(east));
        assert_eq!(at(&mut ist, ns, TimestampFormat::Time), "03:43:20.123456");
        assert_eq!(at(&mut ist, ns, TimestampFormat::Rfc3339), "2023-11-15T03:43:20.123456789+05:30");
        let west = jiff::tz::Offset::from_seconds(-8 * 3600).unwrap();
        let mut pst = TimeText::new(TimeZone::fixed(west));
        assert_eq!(at(&mut pst, ns, TimestampFormat::Rfc3339), "2023-11-14T14:13:20.123456789-08:00");
        // The kept second is not reused for another one.
        assert_eq!(at(&mut utc, ns + 1_000_000_000, TimestampFormat::Time), "22:13:21.123456");
        assert_eq!(at(&mut utc, 0, TimestampFormat::Rfc3339), "1970-01-01T00:00:00.000000000+00:00");
        for f in [TimestampFormat::Time, TimestampFormat::Rfc3339, TimestampFormat::Ns] {
            assert_eq!(at(&mut ist, ns, f).len(), f.width());
        }
        assert_eq!(time_of_day(86_400_000_000_000 + 3_723_000_005_000), "01:02:03.000005");
    }

    #[test]
    fn a_zone_with_summer_time_changes_offset() {
        // A POSIX TZ rule (no tzdata needed): CET, CEST from the last Sunday of March.
        let tz = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let mut t = TimeText::new(tz);
        // 2024-01-15T12:00:00Z and 2024-07-15T12:00:00Z.
        assert_eq!(at(&mut t, 1_705_320_000_000_000_000, TimestampFormat::Rfc3339), "2024-01-15T13:00:00.000000000+01:00");
        assert_eq!(at(&mut t, 1_721_044_800_000_000_000, TimestampFormat::Rfc3339), "2024-07-15T14:00:00.000000000+02:00");
    }
}
