//! JSON as Prometheus's API writes it, byte for byte: Go's string escaping, sample values
//! as quoted strings (`"1"`, `"NaN"`, `"+Inf"`, `"1e-07"`), timestamps as seconds with at
//! most three decimals.
//!
//! The output is written by hand rather than through serde (into a `String`, and query
//! answers into bytes): the value and timestamp formats are Prometheus's own (its
//! `util/jsonutil`), not what a serialiser of `f64` produces, and clients such as
//! Grafana compare them as text. Sample values in plain notation, the common case, are
//! laid out by one function, [`put_plain`], for both.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use promlite_model::{FloatHistogram, Labels};
use promlite_promql::{FPoint, Value};

/// Writes `s` as a JSON string the way Go's `encoding/json` does, HTML escaping
/// included (`<` becomes `\u003c`), so that responses are identical to Prometheus's.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    // Label names and values rarely hold anything to escape: one byte scan decides.
    // 0xE2 leads U+2028 and U+2029 (and other characters, which the slow path then
    // copies as they are).
    if !s.bytes().any(|b| ESCAPES[usize::from(b)]) {
        out.push_str(s);
        out.push('"');
        return;
    }
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

/// The shortest round-tripping decimal of a finite `f` without an exponent — Go's 'f'
/// with precision -1 ("-0" included), what Rust's `Display` writes: [`put_plain`]'s
/// layout where it has one, Go's digits re-laid out otherwise.
fn write_shortest_plain(out: &mut String, f: f64) {
    let mut buf = [0u8; POINT_ROOM];
    if let Some(len) = put_plain(&mut buf, 0, f) {
        // Only ASCII was written.
        out.push_str(std::str::from_utf8(&buf[..len]).unwrap_or(""));
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
    write_json_number(out, f, true);
}

/// [`write_go_json_float`], or with `clean` false as jsoniter writes it (Prometheus
/// encodes its API responses with jsoniter, which keeps strconv's `e-07`).
fn write_json_number(out: &mut String, f: f64, clean: bool) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let start = out.len();
        let _ = promlite_model::write_go_e(out, f);
        // As encoding/json cleans up: `e-07` becomes `e-7`.
        let n = out.len();
        if clean && n - start >= 4 && &out[n - 4..n - 1] == "e-0" {
            out.remove(n - 2);
        }
    } else {
        write_go_f(out, f);
    }
}

/// A query's timings as its `stats` report them: the engine's own, and the two the
/// server measures around it.
pub(crate) struct StatsTimings {
    /// Measured by the engine.
    pub(crate) engine: promlite_promql::QueryTimings,
    /// From taking the request to starting its evaluation.
    pub(crate) exec_queue: std::time::Duration,
    /// From taking the request to the end of its evaluation.
    pub(crate) exec_total: std::time::Duration,
}

/// Appends `,"stats":{...}` as Prometheus's `stats.QueryStats` is encoded: the timings in
/// seconds (jsoniter's numbers), then the samples, with the per-step counts first when
/// there are any (`[t, n]` pairs, `t` in seconds as encoding/json writes it).
pub(crate) fn write_query_stats(
    out: &mut Vec<u8>,
    stats: &promlite_promql::QueryStats,
    t: &StatsTimings,
) {
    let mut text = String::from(",\"stats\":{\"timings\":{");
    let secs = [
        ("evalTotalTime", t.engine.eval_total),
        ("resultSortTime", t.engine.result_sort),
        ("queryPreparationTime", t.engine.query_preparation),
        ("innerEvalTime", t.engine.inner_eval),
        ("execQueueTime", t.exec_queue),
        ("execTotalTime", t.exec_total),
    ];
    for (i, (name, d)) in secs.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "\"{name}\":");
        write_json_number(&mut text, d.as_secs_f64(), false);
    }
    text.push_str("},\"samples\":{");
    if let Some(steps) = &stats.per_step {
        text.push_str("\"totalQueryableSamplesPerStep\":[");
        for (i, (t, n)) in steps.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push('[');
            write_go_json_float(&mut text, *t as f64 / 1000.0);
            let _ = write!(text, ",{n}]");
        }
        text.push_str("],");
    }
    let _ = write!(
        text,
        "\"totalQueryableSamples\":{},\"peakSamples\":{}}}}}",
        stats.total_queryable_samples, stats.peak_samples
    );
    out.extend_from_slice(text.as_bytes());
}

/// Writes a millisecond timestamp as seconds, as Prometheus's `jsonutil.MarshalTimestamp`:
/// the whole seconds, then, unless they are whole, a dot and exactly three digits of
/// milliseconds (1500 ms is `1.500`, not `1.5`; Go writes the fraction as an integer).
pub(crate) fn write_timestamp(out: &mut String, t: i64) {
    let mut buf = [0u8; POINT_ROOM];
    let len = put_timestamp(&mut buf, 0, t);
    // Only ASCII was written.
    out.push_str(std::str::from_utf8(&buf[..len]).unwrap_or(""));
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

/// Room for the longest text the point writers lay out: `[`, a timestamp (a sign, 16
/// digits of seconds, 4 of milliseconds), `,"`, a value (at most 24 bytes: Go's 'e' form
/// with 17 digits, a sign and a three-digit exponent) and `"]`.
const POINT_ROOM: usize = 64;

/// Two ASCII digits for each number below 100.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes `n` in decimal at `buf[at..]`, two digits a step from the end; returns the
/// position after it. `at` is at most `POINT_ROOM - 20`.
#[inline]
fn put_dec(buf: &mut [u8; POINT_ROOM], at: usize, mut n: u64) -> usize {
    // Ten digits: the seconds of every timestamp from 2001 to 2286.
    if (1_000_000_000..10_000_000_000).contains(&n)
        && let Some(ten) = buf[at..].first_chunk_mut::<10>()
    {
        let (hi, lo) = ten.split_at_mut(5);
        if let (Some(hi), Some(lo)) = (hi.first_chunk_mut(), lo.first_chunk_mut()) {
            put_five(hi, (n / 100_000) as u32);
            put_five(lo, (n % 100_000) as u32);
            return at + 10;
        }
    }
    // Short numbers, the commonest values, count their digits with two comparisons
    // rather than `ilog10`'s twenty instructions.
    let digits = if n < 10_000 {
        if n < 100 {
            1 + usize::from(n >= 10)
        } else {
            3 + usize::from(n >= 1000)
        }
    } else {
        n.ilog10() as usize + 1
    };
    let end = at + digits;
    let mut i = end;
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i] = DIGIT_PAIRS[pair];
        buf[i + 1] = DIGIT_PAIRS[pair + 1];
    }
    if n >= 10 {
        let pair = n as usize * 2;
        buf[i - 2] = DIGIT_PAIRS[pair];
        buf[i - 1] = DIGIT_PAIRS[pair + 1];
    } else {
        buf[i - 1] = b'0' + n as u8;
    }
    end
}

/// Writes `n` (below 100,000) as five digits, leading zeros included, at fixed places:
/// no bounds checks, and independent divisions instead of a chain of them.
#[inline]
fn put_five(out: &mut [u8; 5], n: u32) {
    let high = (n / 1000) as usize * 2;
    let rest = n % 1000;
    let mid = (rest / 10) as usize * 2;
    out[0] = DIGIT_PAIRS[high];
    out[1] = DIGIT_PAIRS[high + 1];
    out[2] = DIGIT_PAIRS[mid];
    out[3] = DIGIT_PAIRS[mid + 1];
    out[4] = b'0' + (rest % 10) as u8;
}

/// Lays out a millisecond timestamp as seconds at `buf[at..]` (see [`write_timestamp`]);
/// returns the position after it. `at` is at most 2.
#[inline]
fn put_timestamp(buf: &mut [u8; POINT_ROOM], mut at: usize, t: i64) -> usize {
    if t < 0 {
        buf[at] = b'-';
        at += 1;
    }
    let t = t.unsigned_abs();
    at = put_dec(buf, at, t / 1000);
    let frac = (t % 1000) as usize;
    if frac != 0 {
        buf[at] = b'.';
        buf[at + 1] = b'0' + (frac / 100) as u8;
        let pair = frac % 100 * 2;
        buf[at + 2] = DIGIT_PAIRS[pair];
        buf[at + 3] = DIGIT_PAIRS[pair + 1];
        at += 4;
    }
    at
}

/// Lays out the common values in Go's 'f' form at `buf[at..]` and returns the position
/// after them (`at` at most `POINT_ROOM - 26`); `None` for the others. Whole numbers
/// below 1e15 are integers (every one of them is its own shortest decimal); other
/// values from 1e-5 to 1e15 are written by zmij in plain notation, which is Go's 'f'
/// there.
#[inline]
fn put_plain(buf: &mut [u8; POINT_ROOM], at: usize, f: f64) -> Option<usize> {
    let abs = f.abs();
    // `abs as u64` saturates; NaN fails every comparison.
    if abs < 1e15 && (abs as u64) as f64 == abs {
        let mut at = at;
        if f.is_sign_negative() {
            buf[at] = b'-';
            at += 1;
        }
        return Some(put_dec(buf, at, abs as u64));
    }
    if !(1e-5..1e15).contains(&abs) {
        return None;
    }
    let mut zmij = zmij::Buffer::new();
    let digits = zmij.format_finite(f).as_bytes();
    let end = at + digits.len();
    buf[at..end].copy_from_slice(digits);
    Some(end)
}

/// Lays out a sample value's text (unquoted, as [`format_float`]) at `buf[at..]`;
/// returns the position after it. `at` is at most `POINT_ROOM - 26`.
#[inline]
fn put_value(buf: &mut [u8; POINT_ROOM], at: usize, f: f64) -> usize {
    if let Some(end) = put_plain(buf, at, f) {
        return end;
    }
    let mut text = String::new();
    format_float(&mut text, f);
    let end = at + text.len();
    buf[at..end].copy_from_slice(text.as_bytes());
    end
}

/// `[t,"v"]`.
///
/// Range answers are mostly these (100,000 of them for 100 series over 1,000 steps), so
/// a point is laid out in place: the buffer grows by a fixed `POINT_ROOM` bytes (a few
/// vector stores), the digits are written there and the rest is cut off again. Laying
/// it out on the stack and copying it over was a third slower: reading back bytes just
/// written one at a time stalls the copy's wide loads.
#[inline]
fn write_point(out: &mut Vec<u8>, t: i64, f: f64) {
    lay_out_point(out, f, |buf| {
        buf[0] = b'[';
        let n = put_timestamp(buf, 1, t);
        buf[n] = b',';
        buf[n + 1] = b'"';
        n + 2
    });
}

/// Lays out a point in place (see [`write_point`]): `prefix` writes `[t,"` at the start
/// of the room and returns its length, then the value and `"]` follow.
#[inline]
fn lay_out_point(out: &mut Vec<u8>, f: f64, prefix: impl FnOnce(&mut [u8; POINT_ROOM]) -> usize) {
    let start = out.len();
    out.extend_from_slice(&[0; POINT_ROOM]);
    let Some(buf) = out[start..].first_chunk_mut::<POINT_ROOM>() else {
        return;
    };
    let n = prefix(buf);
    let n = put_value(buf, n, f);
    buf[n] = b'"';
    buf[n + 1] = b']';
    out.truncate(start + n + 2);
}

/// `[t,"` laid out once per step of a range answer, for [`write_points`]: every
/// series of a range query has its points on the same grid of steps, so formatting each
/// timestamp once per step instead of once per point saves most of a point's
/// timestamp work in answers of many series (about 70 instructions a point).
#[derive(Default)]
struct StampGrid {
    /// Whether to learn a grid at all: it pays off only when another series reuses it
    /// (for a lone series it costs more than writing each point whole).
    shared: bool,
    /// The first point's time and the distance between steps (0: not known yet, or not
    /// `shared`).
    t0: i64,
    step: i64,
    /// The laid-out prefix of step `k` and its length; length 0 until first needed.
    texts: Vec<([u8; STAMP_ROOM], u8)>,
}

/// Room for `[`, a timestamp (a sign, 16 digits of seconds, a dot and three digits) and
/// `,"`.
const STAMP_ROOM: usize = 24;

/// The most steps [`StampGrid`] keeps: the API's limit of points per series.
const MAX_GRID_STEPS: i64 = 11_000;

impl StampGrid {
    /// Learns the grid from a series' first two points, if not known yet.
    fn learn(&mut self, points: &[FPoint]) {
        if self.shared
            && self.step == 0
            && let [a, b, ..] = points
            && b.t > a.t
        {
            self.t0 = a.t;
            self.step = b.t - a.t;
        }
    }

    /// The prefix of step `k` (time `t`), laid out on first use, in its room, and its
    /// length.
    fn text(&mut self, k: usize, t: i64) -> (&[u8; STAMP_ROOM], usize) {
        if self.texts.len() <= k {
            self.texts.resize(k + 1, ([0; STAMP_ROOM], 0));
        }
        let (text, len) = &mut self.texts[k];
        if *len == 0 {
            let mut buf = [0u8; POINT_ROOM];
            buf[0] = b'[';
            let n = put_timestamp(&mut buf, 1, t);
            buf[n] = b',';
            buf[n + 1] = b'"';
            text.copy_from_slice(&buf[..STAMP_ROOM]);
            *len = (n + 2) as u8;
        }
        (text, usize::from(*len))
    }
}

/// A series' points, comma-separated: each `[t,"v"]` as [`write_point`] lays it out,
/// with the `[t,"` of points on the grid of steps copied from `grid`.
fn write_points(out: &mut Vec<u8>, points: &[FPoint], grid: &mut StampGrid) {
    grid.learn(points);
    let (t0, step) = (grid.t0, grid.step);
    // The grid step of the next point, and its time.
    let mut k = 0i64;
    let mut kt = t0;
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if step > 0 {
            // Points are in time order: move along the grid to this one (gaps skip
            // steps); a point between steps or outside the grid is laid out whole.
            while kt < p.t && k < MAX_GRID_STEPS {
                k += 1;
                kt = kt.saturating_add(step);
            }
            if kt == p.t && k < MAX_GRID_STEPS {
                let (stamp, n) = grid.text(k as usize, p.t);
                lay_out_point(out, p.f, |buf| {
                    // All the room, a fixed-size copy (no `memcpy` call); what follows
                    // the prefix is overwritten.
                    if let Some(head) = buf.first_chunk_mut::<STAMP_ROOM>() {
                        *head = *stamp;
                    }
                    n
                });
                continue;
            }
        }
        write_point(out, p.t, p.f);
    }
}

/// `[t, {histogram}]`.
fn write_hpoint(out: &mut Vec<u8>, text: &mut String, t: i64, h: &FloatHistogram) {
    text.clear();
    text.push('[');
    write_timestamp(text, t);
    text.push(',');
    write_histogram(text, h);
    text.push(']');
    out.extend_from_slice(text.as_bytes());
}

/// Whether a byte sends [`write_str`] to its slow path: control characters, the
/// characters JSON or Go's encoder escapes, and 0xE2 (which leads U+2028 and U+2029).
const ESCAPES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b < 0x20 || matches!(b as u8, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xE2);
        b += 1;
    }
    t
};

/// Appends `labels` as a JSON object, as [`write_labels`] writes it: names and values
/// with nothing to escape (nearly all) are copied straight into `out`, the others go
/// through `text` (a scratch buffer). A query answer writes one object per series.
fn write_labels_to(out: &mut Vec<u8>, text: &mut String, labels: &Labels) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str_to(out, text, l.name);
        out.push(b':');
        write_str_to(out, text, l.value);
    }
    out.push(b'}');
}

/// [`write_str`] into bytes, `text` a scratch buffer for strings with escapes.
#[inline]
fn write_str_to(out: &mut Vec<u8>, text: &mut String, s: &str) {
    if s.bytes().any(|b| ESCAPES[usize::from(b)]) {
        text.clear();
        write_str(text, s);
        out.extend_from_slice(text.as_bytes());
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
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
///
/// Into bytes rather than a `String`: a large answer's points are laid out as bytes, and
/// a `String` would check each of them as UTF-8 again. Everything written is either
/// ASCII or a `str`, so the bytes are UTF-8.
pub(crate) fn write_value(out: &mut Vec<u8>, v: &Value) {
    let mut text = String::new();
    match v {
        // Scalars and strings go through Prometheus's `MarshalJSON` methods rather than
        // its jsoniter codecs: the time is `float64(T)/1000` in encoding/json's float
        // format (`1.5`, not `1.500`) and the value Go's plain `FormatFloat(v, 'f', -1)`
        // (`0.0000001`, not `1e-07`).
        Value::Scalar { t, v } => {
            text.push('[');
            write_go_json_float(&mut text, *t as f64 / 1000.0);
            text.push_str(",\"");
            write_go_f(&mut text, *v);
            text.push_str("\"]");
            out.extend_from_slice(text.as_bytes());
        }
        Value::String { t, s } => {
            text.push('[');
            write_go_json_float(&mut text, *t as f64 / 1000.0);
            text.push(',');
            write_str(&mut text, s);
            text.push(']');
            out.extend_from_slice(text.as_bytes());
        }
        Value::Vector(samples) => {
            out.push(b'[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels_to(out, &mut text, &s.metric);
                if let Some(h) = &s.h {
                    out.extend_from_slice(b",\"histogram\":");
                    write_hpoint(out, &mut text, s.t, h);
                } else {
                    out.extend_from_slice(b",\"value\":");
                    write_point(out, s.t, s.f);
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.push(b'[');
            write_series_list(out, series);
            out.push(b']');
        }
    }
}

/// Below this many points in an answer, writing it on one thread is quicker than
/// handing half of it to another.
const PARALLEL_POINTS: usize = 20_000;

/// Writes matrix series, comma-separated. A large answer is cut in two halves of about
/// as many points: a helper thread (promql's `with_helpers`) writes the second into its
/// own buffer while this thread writes the first, and it is then appended. If no helper
/// has started on it by then (the pool is busy), this thread writes it too, rather than
/// wait.
fn write_series_list(out: &mut Vec<u8>, series: &[promlite_promql::Series]) {
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
    let rest: Mutex<Option<Vec<u8>>> = Mutex::new(None);
    let job = || {
        if !claimed.swap(true, Ordering::AcqRel) {
            let mut text = Vec::with_capacity(crate::api::series_size_hint(second));
            write_series_seq(&mut text, second);
            *rest.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
        }
    };
    promlite_promql::helpers::with_helpers([job], || {
        write_series_seq(out, first);
        if !claimed.swap(true, Ordering::AcqRel) {
            out.push(b',');
            write_series_seq(out, second);
        }
    });
    if let Some(text) = rest.into_inner().unwrap_or_else(PoisonError::into_inner) {
        out.push(b',');
        out.extend_from_slice(&text);
    }
}

/// Writes matrix series, comma-separated, on this thread.
fn write_series_seq(out: &mut Vec<u8>, series: &[promlite_promql::Series]) {
    let mut text = String::new();
    let mut grid = StampGrid {
        shared: series.len() > 1,
        ..StampGrid::default()
    };
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"metric\":");
        write_labels_to(out, &mut text, &s.metric);
        if !s.floats.is_empty() {
            // Room for the points up front: the laid-out copies of the last ones then
            // never make the buffer grow (and copy all of it).
            out.reserve(crate::api::POINT_SIZE_HINT * s.floats.len() + POINT_ROOM);
            out.extend_from_slice(b",\"values\":[");
            write_points(out, &s.floats, &mut grid);
            out.push(b']');
        }
        if !s.histograms.is_empty() {
            out.extend_from_slice(b",\"histograms\":[");
            for (j, p) in s.histograms.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_hpoint(out, &mut text, p.t, &p.h);
            }
            out.push(b']');
        }
        out.push(b'}');
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
        for (input, want) in [
            ("plain_name", r#""plain_name""#),
            ("", r#""""#),
            ("€ and \u{2028}\u{2029}", r#""€ and \u2028\u2029""#),
            ("tab\there", r#""tab\there""#),
        ] {
            let mut s = String::new();
            write_str(&mut s, input);
            assert_eq!(s, want, "{input:?}");
        }
    }

    /// The byte writer of query answers writes label sets as `write_labels` does,
    /// strings with escapes included.
    #[test]
    fn label_objects_in_bytes_equal_the_text_writer() {
        for pairs in [
            vec![],
            vec![("__name__", "up")],
            vec![
                ("__name__", "a\"b"),
                ("job", "x<y>&z"),
                ("l", "\u{2028}é\t"),
            ],
            vec![("a", ""), ("b", "plain")],
        ] {
            let labels = Labels::from_pairs(pairs);
            let mut text = String::new();
            write_labels(&mut text, &labels);
            let mut out = b"x".to_vec();
            write_labels_to(&mut out, &mut String::from("junk"), &labels);
            assert_eq!(out[1..], *text.as_bytes(), "{labels:?}");
        }
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
            999_999_999_999,
            1_000_000_000_000,
            1_000_000_000_001,
            9_999_999_999_999,
            10_000_000_000_000,
            -1_700_000_000_000,
            i64::MAX,
            i64::MIN + 1,
        ];
        let mut extra = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
        extra.extend(values());
        for (i, &f) in extra.iter().enumerate() {
            let t = times[i % times.len()];
            let mut ours = Vec::new();
            write_point(&mut ours, t, f);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                point_by_parts(t, f),
                "t={t} f={f:?}"
            );
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

    /// Points written with the grid of laid-out timestamps are the points written one
    /// by one: series on the grid, with gaps, off it, before its start, past its end.
    #[test]
    fn points_on_a_grid_of_steps_are_written_as_alone() {
        let series: Vec<Vec<i64>> = vec![
            (0..50).map(|k| 1_700_000_000_000 + k * 60_000).collect(),
            (0..50).map(|k| 1_700_000_000_000 + k * 180_000).collect(),
            vec![
                1_699_999_000_000,
                1_700_000_000_000,
                1_700_000_030_500,
                1_700_000_060_000,
            ],
            (0..20)
                .map(|k| 1_700_000_000_000 + (k + 5) * 60_000)
                .collect(),
            vec![-120_500, -60_000, 0, 60_000],
            vec![1_700_000_000_000 + (MAX_GRID_STEPS + 3) * 60_000],
            vec![],
            vec![1_700_000_000_000],
        ];
        let mut grid = StampGrid {
            shared: true,
            ..StampGrid::default()
        };
        for (i, ts) in series.iter().enumerate() {
            let points: Vec<FPoint> = ts
                .iter()
                .enumerate()
                .map(|(j, &t)| FPoint {
                    t,
                    f: j as f64 * 0.1 + i as f64,
                })
                .collect();
            let mut want = Vec::new();
            for (j, p) in points.iter().enumerate() {
                if j > 0 {
                    want.push(b',');
                }
                write_point(&mut want, p.t, p.f);
            }
            let mut got = Vec::new();
            write_points(&mut got, &points, &mut grid);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "series {i}"
            );
        }
    }

    #[test]
    fn large_matrices_written_in_two_halves_equal_one_pass() {
        for (n, points) in [(2, 20_000), (3, 9_000), (100, 1_000), (7, 0), (1, 30_000)] {
            let m = matrix(n, points);
            let mut whole = Vec::new();
            write_series_seq(&mut whole, &m);
            let mut halves = Vec::new();
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
