//! [`PromDuration`]: durations written the Prometheus way (`1h30m`, `5m`, `30s`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use promlite_model::go_quote;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A duration in Prometheus's configuration syntax: `[0-9]+` followed by one of `y`, `w`,
/// `d`, `h`, `m`, `s`, `ms`, units from largest to smallest (`1h30m`, not `30m1h`), or
/// `0` alone. A year is 365 days, a week 7 days.
///
/// This is `model.Duration` of Prometheus's common library: parsing accepts exactly
/// what it accepts, with its error messages, and printing gives what it prints (`90d`,
/// not `12w6d`: years and weeks only when they divide the value exactly).
///
/// ```
/// use promlite_discovery::PromDuration;
///
/// let d: PromDuration = "1h30m".parse().unwrap();
/// assert_eq!(d.as_std().as_secs(), 5400);
/// assert_eq!(d.to_string(), "1h30m");
/// assert!("30m1h".parse::<PromDuration>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(Duration);

const MS: u64 = 1;
const SECOND: u64 = 1000 * MS;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;
const YEAR: u64 = 365 * DAY;

/// Units in the order they must appear, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", YEAR),
    ("w", WEEK),
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", SECOND),
    ("ms", MS),
];

impl PromDuration {
    /// Wraps a standard duration.
    pub const fn new(d: Duration) -> PromDuration {
        PromDuration(d)
    }

    /// A whole number of seconds.
    pub const fn from_secs(secs: u64) -> PromDuration {
        PromDuration(Duration::from_secs(secs))
    }

    /// The standard duration.
    pub const fn as_std(self) -> Duration {
        self.0
    }
}

impl From<Duration> for PromDuration {
    fn from(d: Duration) -> Self {
        PromDuration(d)
    }
}

impl From<PromDuration> for Duration {
    fn from(d: PromDuration) -> Self {
        d.0
    }
}

impl FromStr for PromDuration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        // Go's time.Duration is signed nanoseconds; Prometheus rejects what overflows it.
        const MAX_NANOS: u128 = i64::MAX as u128;
        match s {
            "0" => return Ok(PromDuration(Duration::ZERO)),
            "" => return Err(Error::InvalidDuration("empty duration string".into())),
            _ => {}
        }
        let invalid =
            || Error::InvalidDuration(format!("not a valid duration string: {}", go_quote(s)));
        let mut rest = s;
        let mut total_ms: u128 = 0;
        let mut last_unit = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            let value: u128 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
            if unit_len == 0 {
                return Err(invalid());
            }
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let Some(pos) = UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(Error::InvalidDuration(format!(
                    "unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(s)
                )));
            };
            if last_unit.is_some_and(|last| pos <= last) {
                return Err(invalid());
            }
            last_unit = Some(pos);
            total_ms = total_ms.saturating_add(value.saturating_mul(u128::from(UNITS[pos].1)));
            if total_ms.saturating_mul(1_000_000) > MAX_NANOS {
                return Err(Error::InvalidDuration("duration out of range".into()));
            }
        }
        Ok(PromDuration(Duration::from_millis(total_ms as u64)))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (i, &(unit, len)) in UNITS.iter().enumerate() {
            // Years and weeks are printed only when they divide the value exactly, as
            // Prometheus does: `90d` reads better than `12w6d`.
            if i < 2 && !ms.is_multiple_of(len) {
                continue;
            }
            let n = ms / len;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                ms -= n * len;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_table() {
        // (input, milliseconds, printed form)
        let cases: &[(&str, u64, &str)] = &[
            ("0", 0, "0s"),
            ("0s", 0, "0s"),
            ("30s", 30 * SECOND, "30s"),
            ("5m", 5 * MINUTE, "5m"),
            ("1h30m", HOUR + 30 * MINUTE, "1h30m"),
            ("90d", 90 * DAY, "90d"),
            ("14d", 2 * WEEK, "2w"),
            ("1y", YEAR, "1y"),
            ("1s500ms", 1500, "1s500ms"),
            ("2w3d", 2 * WEEK + 3 * DAY, "17d"),
            ("60s", MINUTE, "1m"),
        ];
        for &(input, ms, printed) in cases {
            let d: PromDuration = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.as_std(), Duration::from_millis(ms), "{input}");
            assert_eq!(d.to_string(), printed, "{input}");
        }
    }

    #[test]
    fn rejections_have_prometheus_messages() {
        let cases: &[(&str, &str)] = &[
            ("", "empty duration string"),
            ("5", "not a valid duration string: \"5\""),
            ("m", "not a valid duration string: \"m\""),
            ("30m1h", "not a valid duration string: \"30m1h\""),
            ("1h1h", "not a valid duration string: \"1h1h\""),
            ("5min", "unknown unit \"min\" in duration \"5min\""),
            ("-5s", "not a valid duration string: \"-5s\""),
            ("300y", "duration out of range"),
        ];
        for &(input, message) in cases {
            let err = input.parse::<PromDuration>().unwrap_err();
            assert_eq!(err.to_string(), message, "{input}");
        }
    }
}
