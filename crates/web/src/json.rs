//! JSON as Prometheus's API writes it, byte for byte: Go's string escaping, sample values
//! as quoted strings (`"1"`, `"NaN"`, `"+Inf"`, `"1e-07"`), timestamps as seconds with at
//! most three decimals.
//!
//! The output is written by hand into a `String` rather than through serde: the value
//! and timestamp formats are Prometheus's own (its `util/jsonutil`), not what a
//! serialiser of `f64` produces, and clients such as Grafana compare them as text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use promlite_model::{FloatHistogram, Labels};
use promlite_promql::Value;

/// Writes `s` as a JSON string the way Go's `encoding/json` does, HTML escaping
/// included (`<` becomes `\u003c`), so that responses are identical to Prometheus's.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let needs_hex =
            esc.is_none() && (c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}'));
        if esc.is_none() && !needs_hex {
            continue;
        }
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes a sample value as Prometheus's `jsonutil.MarshalFloat` does: a quoted Go
/// `strconv.FormatFloat` with format `'f'`, switching to `'e'` below 1e-6 and from
/// 1e21 on (magnitudes), shortest representation that round-trips.
pub(crate) fn write_float(out: &mut String, f: f64) {
    out.push('"');
    format_float(out, f);
    out.push('"');
}

/// The unquoted text of [`write_float`].
pub(crate) fn format_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            // Go's 'e' with precision -1: the shortest digits, the exponent with a sign
            // and at least two digits. Writing to a `String` cannot fail.
            let _ = promlite_model::write_go_e(out, f);
        } else {
            write_shortest_plain(out, f);
        }
    }
}

/// Writes `n` in decimal without going through `core::fmt`.
fn write_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let len = put_u64(&mut buf, n);
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[..len]).unwrap_or(""));
}

/// The shortest round-tripping decimal of a finite `f` without an exponent — Go's 'f'
/// with precision -1 ("-0" included), what Rust's `Display` writes. Whole numbers (most
/// counters and gauges) take the integer path.
fn write_shortest_plain(out: &mut String, f: f64) {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        if f.is_sign_negative() {
            out.push('-');
        }
        write_u64(out, f.abs() as u64);
        return;
    }
    // serde_json writes most values already in Go's 'f' layout (`0.001234`, `12.34`,
    // `-0.5`); only its exponent forms and whole numbers (`1e-6`, `1.5e16`,
    // `12340000000.0`) need the digits re-laid out.
    let mut text = [0u8; 40];
    let n = {
        let mut w = &mut text[..];
        let _ = serde_json::to_writer(&mut w, &f);
        40 - w.len()
    };
    if let Ok(plain) = std::str::from_utf8(&text[..n])
        && !plain.contains('e')
        && !plain.ends_with(".0")
    {
        out.push_str(plain);
        return;
    }
    // Writing to a `String` cannot fail.
    let _ = promlite_model::write_go_f(out, f);
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` with its fast paths: the shortest
/// round-tripping decimal, never an exponent, `NaN`, `+Inf` and `-Inf` spelled Go's way.
fn write_go_f(out: &mut String, f: f64) {
    if f.is_finite() {
        write_shortest_plain(out, f);
    } else {
        let _ = promlite_model::write_go_f(out, f);
    }
}

/// A finite float as Go's encoding/json writes a number: 'f' form, switching to 'e'
/// below 1e-6 and from 1e21 (magnitudes), where a negative exponent loses strconv's
/// leading zero (`1e-7`, `1.5e+21`).
fn write_go_json_float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let start = out.len();
        let _ = promlite_model::write_go_e(out, f);
        // As encoding/json cleans up: `e-07` becomes `e-7`.
        let n = out.len();
        if n - start >= 4 && &out[n - 4..n - 1] == "e-0" {
            out.remove(n - 2);
        }
    } else {
        write_go_f(out, f);
    }
}

/// Writes a millisecond timestamp as seconds, as Prometheus's `jsonutil.MarshalTimestamp`:
/// the whole seconds, then, unless they are whole, a dot and exactly three digits of
/// milliseconds (1500 ms is `1.500`, not `1.5`; Go writes the fraction as an integer).
pub(crate) fn write_timestamp(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let t = t.unsigned_abs();
    write_u64(out, t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let b = [
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        // Only ASCII was written.
        out.push_str(std::str::from_utf8(&b).unwrap_or(""));
    }
}

/// Writes a label set as a JSON object, names in order.
pub(crate) fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, l.name);
        out.push(':');
        write_str(out, l.value);
    }
    out.push('}');
}

/// Writes a list of strings as a JSON array.
pub(crate) fn write_str_array<S: AsRef<str>>(out: &mut String, items: &[S]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, s.as_ref());
    }
    out.push(']');
}

/// `[t, "v"]`.
///
/// Range answers are mostly these (100,000 of them for 100 series over 1,000 steps), so
/// the common case — a timestamp and a value in plain notation — is laid out in a stack
/// buffer and appended once, rather than in five appends that each check the buffer's
/// room and two UTF-8 validations of digit strings.
fn write_point(out: &mut String, t: i64, f: f64) {
    let mut buf = [0u8; 64];
    if let Some(n) = plain_point(&mut buf, t, f)
        && let Ok(text) = std::str::from_utf8(&buf[..n])
    {
        out.push_str(text);
        return;
    }
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_float(out, f);
    out.push(']');
}

/// Lays out `[t,"v"]` in `buf` when the value is finite and Go writes it in plain
/// notation as serde_json does (neither an exponent nor a whole number, which serde_json
/// writes with `.0`); returns its length, or `None` for [`write_point`]'s general path.
fn plain_point(buf: &mut [u8; 64], t: i64, f: f64) -> Option<usize> {
    let abs = f.abs();
    if !f.is_finite() || !(1e-6..1e21).contains(&abs) {
        return None;
    }
    buf[0] = b'[';
    let mut n = 1;
    if t < 0 {
        buf[n] = b'-';
        n += 1;
    }
    let ut = t.unsigned_abs();
    n += put_u64(&mut buf[n..], ut / 1000);
    let frac = ut % 1000;
    if frac != 0 {
        buf[n] = b'.';
        buf[n + 1] = b'0' + (frac / 100) as u8;
        buf[n + 2] = b'0' + (frac / 10 % 10) as u8;
        buf[n + 3] = b'0' + (frac % 10) as u8;
        n += 4;
    }
    buf[n] = b',';
    buf[n + 1] = b'"';
    n += 2;
    if f.fract() == 0.0 && abs < 1e15 {
        if f < 0.0 {
            buf[n] = b'-';
            n += 1;
        }
        n += put_u64(&mut buf[n..], abs as u64);
    } else {
        let start = n;
        let mut w = &mut buf[n..];
        let room = w.len();
        serde_json::to_writer(&mut w, &f).ok()?;
        n += room - w.len();
        let text = &buf[start..n];
        if text.contains(&b'e') || text.ends_with(b".0") {
            return None;
        }
    }
    if n + 2 > buf.len() {
        return None;
    }
    buf[n] = b'"';
    buf[n + 1] = b']';
    Some(n + 2)
}

/// Writes `n` in decimal at the start of `buf` (at least 20 bytes); returns its length.
fn put_u64(buf: &mut [u8], mut n: u64) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = tmp.len() - i;
    buf[..len].copy_from_slice(&tmp[i..]);
    len
}

/// `[t, {histogram}]`.
fn write_hpoint(out: &mut String, t: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_histogram(out, h);
    out.push(']');
}

/// The `resultType` name of a value, as Prometheus's `parser.ValueType`.
pub(crate) fn result_type(v: &Value) -> &'static str {
    match v {
        Value::Scalar { .. } => "scalar",
        Value::String { .. } => "string",
        Value::Vector(_) => "vector",
        Value::Matrix(_) => "matrix",
    }
}

/// Writes the `result` of a query in Prometheus's shapes: `[t,"v"]` for scalars and
/// strings, `{"metric":…,"value":…}` or `"histogram"` per vector sample, and
/// `{"metric":…,"values":[…],"histograms":[…]}` per matrix series (empty lists omitted).
pub(crate) fn write_value(out: &mut String, v: &Value) {
    match v {
        // Scalars and strings go through Prometheus's `MarshalJSON` methods rather than
        // its jsoniter codecs: the time is `float64(T)/1000` in encoding/json's float
        // format (`1.5`, not `1.500`) and the value Go's plain `FormatFloat(v, 'f', -1)`
        // (`0.0000001`, not `1e-07`).
        Value::Scalar { t, v } => {
            out.push('[');
            write_go_json_float(out, *t as f64 / 1000.0);
            out.push_str(",\"");
            write_go_f(out, *v);
            out.push_str("\"]");
        }
        Value::String { t, s } => {
            out.push('[');
            write_go_json_float(out, *t as f64 / 1000.0);
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.metric);
                if let Some(h) = &s.h {
                    out.push_str(",\"histogram\":");
                    write_hpoint(out, s.t, h);
                } else {
                    out.push_str(",\"value\":");
                    write_point(out, s.t, s.f);
                }
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            write_series_list(out, series);
            out.push(']');
        }
    }
}

/// Below this many points in an answer, writing it on one thread is quicker than
/// handing half of it to another.
const PARALLEL_POINTS: usize = 20_000;

/// Writes matrix series, comma-separated. A large answer is cut in two halves of about
/// as many points: rayon's pool writes the second into its own buffer while this thread
/// writes the first, and it is then appended. If no pool thread has started on it by
/// then (the pool is busy), this thread writes it too, rather than wait.
fn write_series_list(out: &mut String, series: &[promlite_promql::Series]) {
    let points = |s: &promlite_promql::Series| s.floats.len() + s.histograms.len();
    let total: usize = series.iter().map(points).sum();
    if total < PARALLEL_POINTS || series.len() < 2 {
        write_series_seq(out, series);
        return;
    }
    let mut half = 0;
    let mut acc = 0;
    while half < series.len() - 1 && acc * 2 < total {
        acc += points(&series[half]);
        half += 1;
    }
    let (first, second) = series.split_at(half);
    let claimed = AtomicBool::new(false);
    let rest: Mutex<Option<String>> = Mutex::new(None);
    rayon::in_place_scope(|scope| {
        scope.spawn(|_| {
            if !claimed.swap(true, Ordering::AcqRel) {
                let mut text = String::with_capacity(crate::api::series_size_hint(second));
                write_series_seq(&mut text, second);
                *rest.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
            }
        });
        write_series_seq(out, first);
        if !claimed.swap(true, Ordering::AcqRel) {
            out.push(',');
            write_series_seq(out, second);
        }
    });
    if let Some(text) = rest.into_inner().unwrap_or_else(PoisonError::into_inner) {
        out.push(',');
        out.push_str(&text);
    }
}

/// Writes matrix series, comma-separated, on this thread.
fn write_series_seq(out: &mut String, series: &[promlite_promql::Series]) {
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        write_labels(out, &s.metric);
        if !s.floats.is_empty() {
            out.push_str(",\"values\":[");
            for (j, p) in s.floats.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_point(out, p.t, p.f);
            }
            out.push(']');
        }
        if !s.histograms.is_empty() {
            out.push_str(",\"histograms\":[");
            for (j, p) in s.histograms.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_hpoint(out, p.t, &p.h);
            }
            out.push(']');
        }
        out.push('}');
    }
}

/// One bucket of a histogram for JSON: boundary rule, lower, upper, count.
struct Bucket {
    boundaries: u8,
    lower: f64,
    upper: f64,
    count: f64,
}

/// Writes a native histogram as Prometheus's `jsonutil.MarshalHistogram`: count, sum and
/// the non-empty buckets in ascending order (negative, zero, positive), each as
/// `[boundaries, "lower", "upper", "count"]` where `boundaries` says which ends are
/// inclusive (0: upper, 1: lower, 2: neither, 3: both).
pub(crate) fn write_histogram(out: &mut String, h: &FloatHistogram) {
    out.push_str("{\"count\":");
    write_float(out, h.count);
    out.push_str(",\"sum\":");
    write_float(out, h.sum);
    let buckets = buckets(h);
    if !buckets.is_empty() {
        out.push_str(",\"buckets\":[");
        for (i, b) in buckets.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "[{},", b.boundaries);
            write_float(out, b.lower);
            out.push(',');
            write_float(out, b.upper);
            out.push(',');
            write_float(out, b.count);
            out.push(']');
        }
        out.push(']');
    }
    out.push('}');
}

fn buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let mut v = Vec::new();
    if h.uses_custom_buckets() {
        // Custom buckets are (previous bound, bound]; the first starts at -Inf and the
        // one past the last bound ends at +Inf, as in Prometheus.
        for (idx, count) in h.positive_bucket_indexes() {
            if count == 0.0 {
                continue;
            }
            let idx = idx.max(0) as usize;
            let lower = if idx == 0 {
                f64::NEG_INFINITY
            } else {
                h.custom_values
                    .get(idx - 1)
                    .copied()
                    .unwrap_or(f64::INFINITY)
            };
            let upper = h.custom_values.get(idx).copied().unwrap_or(f64::INFINITY);
            v.push(Bucket {
                boundaries: 0,
                lower,
                upper,
                count,
            });
        }
        return v;
    }
    let bound = |idx: i32| exponential_bound(idx, h.schema);
    let mut neg: Vec<Bucket> = h
        .negative_bucket_indexes()
        .filter(|(_, c)| *c != 0.0)
        .map(|(idx, count)| Bucket {
            boundaries: 1,
            lower: -bound(idx),
            upper: -bound(idx - 1),
            count,
        })
        .collect();
    neg.reverse();
    v.extend(neg);
    if h.zero_count != 0.0 {
        v.push(Bucket {
            boundaries: 3,
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            count: h.zero_count,
        });
    }
    v.extend(
        h.positive_bucket_indexes()
            .filter(|(_, c)| *c != 0.0)
            .map(|(idx, count)| Bucket {
                boundaries: 0,
                lower: bound(idx - 1),
                upper: bound(idx),
                count,
            }),
    );
    v
}

/// The upper bound of bucket `idx` of an exponential schema: `2^(idx · 2^-schema)`.
fn exponential_bound(idx: i32, schema: i32) -> f64 {
    (f64::from(idx) * (-f64::from(schema)).exp2()).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f64) -> String {
        let mut s = String::new();
        format_float(&mut s, f);
        s
    }

    #[test]
    fn floats_are_formatted_like_prometheus() {
        for (f, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (1e6, "1000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-07"),
            (1e-6, "0.000001"),
            (-2.5e100, "-2.5e+100"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (-0.0, "-0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(float(f), want, "{f:?}");
        }
    }

    #[test]
    fn timestamps_are_seconds_with_millisecond_fraction() {
        for (t, want) in [
            (1_435_781_451_781, "1435781451.781"),
            (1_500, "1.500"),
            (1_005, "1.005"),
            (2_000, "2"),
            (-1_500, "-1.500"),
        ] {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn histograms_list_non_empty_buckets_in_order() {
        use promlite_model::Span;
        let h = FloatHistogram {
            schema: 0,
            count: 9.0,
            sum: 7.5,
            zero_threshold: 0.001,
            zero_count: 1.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![2.0, 0.0, 3.0],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            negative_buckets: vec![3.0],
            ..FloatHistogram::default()
        };
        let mut s = String::new();
        write_histogram(&mut s, &h);
        assert_eq!(
            s,
            r#"{"count":"9","sum":"7.5","buckets":[[1,"-2","-1","3"],[3,"-0.001","0.001","1"],[0,"0.5","1","2"],[0,"2","4","3"]]}"#
        );
    }

    #[test]
    fn strings_are_escaped_like_go() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n<&>\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u003c\u0026\u003e\u0001é""#);
    }
}

#[cfg(test)]
mod float_tests {
    use super::*;

    /// `format_float` as `core::fmt` spells it, the reference for the fast path.
    fn reference(f: f64) -> String {
        if f.is_nan() {
            return "NaN".into();
        }
        if f.is_infinite() {
            return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
        }
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let s = format!("{f:e}");
            let (mant, exp) = s.split_once('e').unwrap();
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let pad = if digits.len() < 2 { "0" } else { "" };
            format!("{mant}e{sign}{pad}{digits}")
        } else {
            format!("{f}")
        }
    }

    fn values() -> Vec<f64> {
        let mut x: f64 = 1.0;
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1.5,
            123_456_789.125,
            1e14,
            1e15,
            1e16,
            1e-6,
            f64::from_bits(1e-6_f64.to_bits() - 1),
            1e21,
            f64::from_bits(1e21_f64.to_bits() - 1),
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1_700_000_000.123,
        ];
        for _ in 0..2000 {
            x = x * 1.618_033_988_749_895 + 0.123;
            if x > 1e20 {
                x /= 1e19;
            }
            values.extend([x, -x, x.round(), -x.round(), x / 7.0, 1.0 / x]);
        }
        // Arbitrary bit patterns: every exponent, random mantissas.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = f64::from_bits(state);
            if v.is_finite() {
                values.push(v);
            }
            // And random mantissas at every magnitude of the plain range.
            let e = (state % 28) as i32 - 6;
            let m = (state >> 11) as f64 / (1u64 << 53) as f64;
            values.push(m * 10f64.powi(e));
        }
        // Values of the benchmark's kind: steps plus fractions of a series count.
        for s in 0..2000 {
            values.push(f64::from(s) + f64::from(s % 1313) / 1313.0);
        }
        values
    }

    /// `[t,"v"]` the general way: timestamp and value each through their own writer.
    fn point_by_parts(t: i64, f: f64) -> String {
        let mut s = String::from("[");
        write_timestamp(&mut s, t);
        s.push(',');
        write_float(&mut s, f);
        s.push(']');
        s
    }

    #[test]
    fn point_fast_path_writes_what_the_parts_write() {
        let times = [
            0,
            1,
            999,
            1_000,
            -1_500,
            1_700_043_190_000,
            1_700_043_190_123,
            i64::MAX,
            i64::MIN + 1,
        ];
        let mut extra = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
        extra.extend(values());
        for (i, &f) in extra.iter().enumerate() {
            let t = times[i % times.len()];
            let mut ours = String::new();
            write_point(&mut ours, t, f);
            assert_eq!(ours, point_by_parts(t, f), "t={t} f={f:?}");
        }
    }

    fn matrix(n: usize, points: usize) -> Vec<promlite_promql::Series> {
        (0..n)
            .map(|i| promlite_promql::Series {
                metric: Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]),
                floats: (0..points + i % 7)
                    .map(|j| promlite_promql::FPoint {
                        t: j as i64 * 15_000,
                        f: j as f64 / 3.0 - i as f64,
                    })
                    .collect(),
                histograms: Vec::new(),
                drop_name: false,
            })
            .collect()
    }

    #[test]
    fn large_matrices_written_in_two_halves_equal_one_pass() {
        for (n, points) in [(2, 20_000), (3, 9_000), (100, 1_000), (7, 0), (1, 30_000)] {
            let m = matrix(n, points);
            let mut whole = String::new();
            write_series_seq(&mut whole, &m);
            let mut halves = String::new();
            write_series_list(&mut halves, &m);
            assert_eq!(halves, whole, "{n} series of {points} points");
        }
    }

    /// `ours` equals `core_fmt`, or both are the same length, read back as `v`, and
    /// differ only in the last digit, ours even and core::fmt's one more: a value exactly
    /// halfway between two shortest candidates, which Go rounds to even and core::fmt up.
    fn same_or_tie(ours: &str, core_fmt: &str, v: f64) {
        if ours == core_fmt {
            return;
        }
        let mantissa = |s: &str| s.split('e').next().unwrap_or("").to_string();
        let (a, b) = (mantissa(ours), mantissa(core_fmt));
        assert_eq!(ours.len(), core_fmt.len(), "{v:e}: {ours} vs {core_fmt}");
        assert_eq!(
            a[..a.len() - 1],
            b[..b.len() - 1],
            "{v:e}: {ours} vs {core_fmt}"
        );
        let (da, db) = (a.as_bytes()[a.len() - 1], b.as_bytes()[b.len() - 1]);
        assert!(da % 2 == 0 && db == da + 1, "{v:e}: {ours} vs {core_fmt}");
        let parse = |s: &str| s.parse::<f64>().unwrap();
        assert_eq!(parse(ours), v, "{ours}");
        assert_eq!(parse(core_fmt), v, "{core_fmt}");
    }

    #[test]
    fn shortest_plain_matches_display_but_for_ties() {
        for v in values() {
            if v.abs() >= 1e21 {
                continue;
            }
            let mut a = String::new();
            write_shortest_plain(&mut a, v);
            same_or_tie(&a, &format!("{v}"), v);
        }
    }

    #[test]
    fn fast_float_format_matches_core_fmt_but_for_ties() {
        for v in values() {
            let mut a = String::new();
            format_float(&mut a, v);
            same_or_tie(&a, &reference(v), v);
        }
    }

    #[test]
    fn ties_round_to_even_like_prometheus() {
        // Prometheus 2.42 answers `vector(639075167746196.25)` with "639075167746196.2"
        // and `vector(27853980377370.3125)` with "27853980377370.312".
        for (f, want) in [
            (639_075_167_746_196.0 + 0.25, "639075167746196.2"),
            (27_853_980_377_370.0 + 0.3125, "27853980377370.312"),
        ] {
            let mut s = String::new();
            format_float(&mut s, f);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn go_json_floats_keep_one_digit_exponents() {
        for (f, want) in [
            (1e-7, "1e-7"),
            (1.5e21, "1.5e+21"),
            (2.5, "2.5"),
            (-1e-9, "-1e-9"),
        ] {
            let mut s = String::new();
            write_go_json_float(&mut s, f);
            assert_eq!(s, want);
        }
    }
}
