//! Request parameters as Prometheus reads them: form values from the URL and an
//! urlencoded body, times (RFC 3339 or unix seconds), durations (seconds or `1h30m`),
//! limits; and the RFC 3339 rendering of times in responses.

use std::time::{SystemTime, UNIX_EPOCH};

use promlite_model::go_quote;
use promlite_model::time::{civil_from_days, days_from_civil};

use crate::error::ApiError;

/// Form values of a request: the urlencoded body's first, then the URL's, as Go's
/// `Request.ParseForm` orders them, so `FormValue` (the first) prefers the body.
///
/// The decoded names and values lie back to back in one string, so that a request's
/// form costs two allocations however many parameters it has.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form {
    text: String,
    /// Each pair's name and value as `text[start..mid]` and `text[mid..end]`.
    pairs: Vec<(usize, usize, usize)>,
}

impl Form {
    /// Parses `body` (when it is a form) and then `query`.
    pub(crate) fn parse(query: Option<&str>, body: Option<&[u8]>) -> Form {
        let inputs = [
            body.unwrap_or_default(),
            query.unwrap_or_default().as_bytes(),
        ];
        let mut form = Form {
            text: String::with_capacity(inputs.iter().map(|i| i.len()).sum()),
            pairs: Vec::with_capacity(4),
        };
        let mut bytes = Vec::new();
        for input in inputs {
            for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                let (name, value) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &pair[pair.len()..]),
                };
                let start = form.text.len();
                form.push_decoded(name, &mut bytes);
                let mid = form.text.len();
                form.push_decoded(value, &mut bytes);
                form.pairs.push((start, mid, form.text.len()));
            }
        }
        form
    }

    /// Appends `raw` decoded as a form's name or value (`+` a space, `%xx` a byte; a
    /// `%` without two hex digits kept as it is), its bytes read as UTF-8 with invalid
    /// sequences replaced: what `url::form_urlencoded::parse` gives, without a string
    /// for each name and value. `scratch` holds the bytes of an encoded one.
    fn push_decoded(&mut self, raw: &[u8], scratch: &mut Vec<u8>) {
        if !raw.iter().any(|&b| b == b'%' || b == b'+') {
            self.text.push_str(&String::from_utf8_lossy(raw));
            return;
        }
        scratch.clear();
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            let hex = |k: usize| raw.get(k).and_then(|&c| char::from(c).to_digit(16));
            match b {
                b'+' => scratch.push(b' '),
                b'%' => {
                    if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                        scratch.push((hi * 16 + lo) as u8);
                        i += 3;
                        continue;
                    }
                    scratch.push(b'%');
                }
                _ => scratch.push(b),
            }
            i += 1;
        }
        self.text.push_str(&String::from_utf8_lossy(scratch));
    }

    /// The pairs, in order.
    fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|&(start, mid, end)| {
            (
                self.text.get(start..mid).unwrap_or_default(),
                self.text.get(mid..end).unwrap_or_default(),
            )
        })
    }

    /// The first value of `name`, or `""` when absent (Go's `FormValue`).
    pub(crate) fn value(&self, name: &str) -> &str {
        self.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .collect()
    }
}

/// The earliest time the API accepts, in milliseconds: Prometheus's `MinTime`
/// (`time.Unix(math.MinInt64/1000+62135596801, 0)`), the default `start` of metadata
/// queries.
pub(crate) const MIN_TIME: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// The latest time the API accepts, in milliseconds: Prometheus's `MaxTime`.
pub(crate) const MAX_TIME: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses a time as Prometheus's `parseTime`: unix seconds with a fraction rounded to
/// milliseconds, or RFC 3339 with an optional fraction and a `Z` or `±hh:mm` zone.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    if let Some(f) = parse_go_float(s) {
        let secs = f.trunc();
        let ms = ((f - secs) * 1000.0).round();
        return Ok((secs as i64).saturating_mul(1000).saturating_add(ms as i64));
    }
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    Err(format!("cannot parse {} to a valid timestamp", go_quote(s)))
}

/// A time parameter with a default when absent, with Prometheus's error wording.
pub(crate) fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, ApiError> {
    let v = form.value(name);
    if v.is_empty() {
        return Ok(default);
    }
    parse_time(v)
        .map_err(|e| ApiError::invalid_param(format!("invalid time value for '{name}': {e}"), name))
}

/// Parses a duration as Prometheus's API `parseDuration`: float seconds, or a
/// Prometheus duration (`1h30m`, `5m`, `100ms`). Returns nanoseconds, Go's unit, so
/// that the 11,000-points check divides exactly as Prometheus does.
pub(crate) fn parse_duration(s: &str) -> Result<i128, String> {
    if let Some(d) = parse_go_float(s) {
        let ns = d * 1e9;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                go_quote(s)
            ));
        }
        return Ok(ns as i128);
    }
    if let Some(ms) = parse_prom_duration(s) {
        return Ok(i128::from(ms) * 1_000_000);
    }
    Err(format!("cannot parse {} to a valid duration", go_quote(s)))
}

/// Prometheus's duration units, largest first, in milliseconds.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration (`model.ParseDuration`): units `y w d h m s ms`, each at
/// most once and in that order, or a bare `0`. Returns milliseconds.
pub(crate) fn parse_prom_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let pos = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)?;
        let (_, mult) = UNITS[next_unit + pos];
        next_unit += pos + 1;
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(total)
}

/// Go's `strconv.ParseFloat` for the inputs a time or duration parameter gets: decimal
/// and exponent forms, `Inf`, `NaN`; Rust's parser agrees on these, but Go also rejects
/// what Rust accepts in other spellings (`infinity` is accepted by both).
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

fn digits(s: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = s.get(range)?;
    if part.bytes().all(|c| c.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Parses RFC 3339 (`2015-07-01T20:10:51.781Z`, `…+02:00`) into milliseconds,
/// truncating the fraction past milliseconds as `timestamp.FromTime` does.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(s, 0..4)?, digits(s, 5..7)?, digits(s, 8..10)?);
    let (h, mi, sec) = (digits(s, 11..13)?, digits(s, 14..16)?, digits(s, 17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i];
        let mut padded = frac.chars().take(3).collect::<String>();
        while padded.len() < 3 {
            padded.push('0');
        }
        ms = padded.parse::<i64>().ok()?;
    }
    let zone = &s[i..];
    let offset_min = if zone == "Z" {
        0
    } else {
        let zb = zone.as_bytes();
        if zb.len() != 6 || zb[3] != b':' {
            return None;
        }
        let sign = match zb[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (zh, zm) = (digits(zone, 1..3)?, digits(zone, 4..6)?);
        if zh > 23 || zm > 59 {
            return None;
        }
        sign * (zh * 60 + zm)
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// Formats a time as Go's `time.RFC3339Nano` in UTC (`2015-07-01T20:10:51.781Z`; the
/// fraction's trailing zeros dropped), as Prometheus renders times in JSON.
pub(crate) fn format_rfc3339(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let mut secs = -(d.as_secs() as i64);
            let mut nanos = d.subsec_nanos();
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            (secs, nanos)
        }
    };
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Go's zero `time.Time` as RFC 3339, what Prometheus shows for a target never scraped.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parses the `limit` parameter: absent is 0 (no limit); negatives are refused.
pub(crate) fn limit_param(form: &Form) -> Result<usize, ApiError> {
    let s = form.value("limit");
    if s.is_empty() {
        return Ok(0);
    }
    let n: i64 = s.parse().map_err(|_| {
        ApiError::invalid_param(
            format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s)),
            "limit",
        )
    })?;
    usize::try_from(n)
        .map_err(|_| ApiError::invalid_param("limit must be non-negative".to_string(), "limit"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    proptest::proptest! {
        /// Forms decode as `url::form_urlencoded` decodes them, whatever the bytes.
        #[test]
        fn forms_decode_as_the_url_crate(
            query in "[a-z=&%+0-9A-Fé\\x00-\\x7f]{0,40}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            let form = Form::parse(Some(&query), Some(&body));
            let want: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                .chain(url::form_urlencoded::parse(query.as_bytes()))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let got: Vec<(String, String)> =
                form.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn form_values_come_from_the_body_first_then_the_url() {
        let form = Form::parse(
            Some("query=up&match%5B%5D=a%7Bb%3D%22c%22%7D&match[]=x+y&empty="),
            Some(b"query=sum%28up%29&time=1.5"),
        );
        assert_eq!(form.value("query"), "sum(up)");
        assert_eq!(form.value("time"), "1.5");
        assert_eq!(form.values("query"), ["sum(up)", "up"]);
        assert_eq!(form.values("match[]"), ["a{b=\"c\"}", "x y"]);
        assert_eq!(form.value("empty"), "");
        assert_eq!(form.value("absent"), "");
        assert!(form.values("absent").is_empty());
        let none = Form::parse(None, None);
        assert_eq!(none.value("query"), "");
    }

    #[test]
    fn times_parse_like_prometheus() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_time("yesterday"),
            Err("cannot parse \"yesterday\" to a valid timestamp".to_string())
        );
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("100ms"), Ok(100_000_000));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn times_format_as_rfc3339_nano() {
        let t = UNIX_EPOCH + Duration::from_millis(1_435_781_451_780);
        assert_eq!(format_rfc3339(t), "2015-07-01T20:10:51.78Z");
        assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
