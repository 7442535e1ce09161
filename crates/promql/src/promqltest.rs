//! The promqltest runner: Prometheus's PromQL test-script language
//! (`promql/promqltest/README.md`), run against promlite's engine over a
//! [`MemStore`](promlite_storage::MemStore).
//!
//! A script is a list of `load <step>` / `load_with_nhcb <step>` blocks (series in the
//! expanding notation `a+bxn`, `_`, `stale`, `{{…}}` native histograms), `clear`, and
//! `eval instant at <t>` / `eval range from <a> to <b> step <s>` blocks with `expect`
//! lines and expected series. Like Prometheus's runner, every instant eval is checked
//! three ways: as written, with `@ <t>` pinned on every selector and evaluated at other
//! times, and as a range query from `t-1m` to `t+1m` whose middle step must agree.
//!
//! Unlike Prometheus's runner, which stops a file at its first failure, [`run_file`]
//! runs every eval and reports each one, so a caller can print one line per failing eval
//! and an `N passed, M failed` total.
//!
//! ```
//! use promlite_promql::promqltest::{RunOptions, run_script};
//!
//! let report = run_script("inline", "
//! load 1m
//!     http_requests_total{job=\"api\"} 0+10x10
//!
//! eval instant at 5m rate(http_requests_total[5m])
//!     {job=\"api\"} 0.16666666666666666
//! ", &RunOptions::default());
//! assert_eq!(report.passed(), 1, "{:?}", report.evals);
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use promlite_model::{
    CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Labels, LabelsBuilder, STALE_NAN, Span,
};
use promlite_storage::{Appendable, HistogramRef, MemStore, SeriesRef};

use crate::ast::{AtModifier, Expr};
use crate::engine::{Engine, EngineOptions};
use crate::eval_error::EvalError;
use crate::hist;
use crate::parser::{Parser, ParserOptions};
use crate::value::{Annotations, Value};

/// Options of a test run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The engine options; the default matches Prometheus's test engine (delayed name
    /// removal on, 10,000 samples per query, every experimental syntax enabled, start
    /// timestamps used).
    pub engine: EngineOptions,
    /// Skip the extra `@` and range-query consistency checks of instant evals.
    pub skip_consistency_checks: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            engine: EngineOptions::new()
                .delayed_name_removal(true)
                .max_samples(10_000)
                .timeout(Some(std::time::Duration::from_secs(100)))
                .parser_options(ParserOptions::all())
                .max_points_per_series(None)
                .start_timestamps(true),
            skip_consistency_checks: false,
        }
    }
}

/// The outcome of one `eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// 1-based line of the `eval` command.
    pub line: usize,
    /// The query.
    pub expr: String,
    /// `None` when the eval passed; otherwise what went wrong (expected vs got).
    pub failure: Option<String>,
}

/// The outcome of a script.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileReport {
    /// The file name (or the name given to [`run_script`]).
    pub name: String,
    /// One entry per `eval` command, in file order.
    pub evals: Vec<EvalReport>,
    /// Problems outside evals (bad `load` lines, unknown commands), with their lines.
    pub errors: Vec<String>,
}

impl FileReport {
    /// Evals that passed.
    pub fn passed(&self) -> usize {
        self.evals.iter().filter(|e| e.failure.is_none()).count()
    }

    /// Evals that failed.
    pub fn failed(&self) -> usize {
        self.evals.len() - self.passed()
    }

    /// One line per failing eval: `file:line: expr: failure`.
    pub fn failure_lines(&self) -> Vec<String> {
        self.evals
            .iter()
            .filter_map(|e| {
                e.failure
                    .as_ref()
                    .map(|f| format!("{}:{}: {}: {f}", self.name, e.line, e.expr))
            })
            .chain(self.errors.iter().map(|e| format!("{}: {e}", self.name)))
            .collect()
    }
}

/// Runs the script at `path`.
pub fn run_file(path: impl AsRef<Path>, options: &RunOptions) -> FileReport {
    let path = path.as_ref();
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match std::fs::read_to_string(path) {
        Ok(text) => run_script(&name, &text, options),
        Err(e) => FileReport {
            name,
            evals: Vec::new(),
            errors: vec![format!("cannot read {}: {e}", path.display())],
        },
    }
}

/// Runs a script given as text; `name` labels the report.
pub fn run_script(name: &str, text: &str, options: &RunOptions) -> FileReport {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                String::new()
            } else {
                l.to_owned()
            }
        })
        .collect();
    let mut report = FileReport {
        name: name.to_owned(),
        ..FileReport::default()
    };
    let engine = Engine::new(options.engine.clone());
    let mut store = MemStore::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let cmd = l.split_whitespace().next().unwrap_or("").to_lowercase();
        if cmd == "clear" {
            store = MemStore::new();
            i += 1;
        } else if cmd.starts_with("load") {
            let (next, res) = parse_load(&lines, i);
            i = next;
            match res {
                Ok(load) => {
                    if let Err(e) = load.append(&store) {
                        report.errors.push(format!("line {}: {e}", load.line));
                    }
                }
                Err(e) => report.errors.push(e),
            }
        } else if cmd.starts_with("eval") {
            let (next, res) = parse_eval(&lines, i);
            i = next;
            match res {
                Ok(ev) => {
                    let failure = exec_eval(&engine, &store, &ev, options).err();
                    report.evals.push(EvalReport {
                        line: ev.line,
                        expr: ev.expr.clone(),
                        failure,
                    });
                }
                Err((line, expr, e)) => report.evals.push(EvalReport {
                    line,
                    expr,
                    failure: Some(e),
                }),
            }
        } else {
            report
                .errors
                .push(format!("line {}: invalid command {l:?}", i + 1));
            i += 1;
        }
    }
    report
}

// ---------------------------------------------------------------------------------------
// Series descriptions.

/// One value of a series description.
#[derive(Debug, Clone)]
enum SeqValue {
    Omitted,
    Float(f64),
    Hist(Box<FloatHistogram>, bool),
}

fn parse_series(line: &str) -> Result<(Labels, Vec<SeqValue>), String> {
    let (metric, rest) = split_metric(line);
    let labels = parse_labels(metric)?;
    let values = parse_values(rest)?;
    Ok((labels, values))
}

/// One value of a series description, as `load` lines and promtool's unit-test
/// `input_series` write them.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// `_`: no sample at this step.
    Omitted,
    /// A float (`stale` is the staleness marker).
    Float(f64),
    /// A native histogram (`{{…}}`).
    Histogram(FloatHistogram),
}

/// Parses the values of a series description in Prometheus's expanding notation: `1 2
/// 3`, `1+2x3`, `5-1x2`, `_`, `_x3`, `stale`, `{{schema:0 sum:1 count:1 buckets:[1]}}`
/// and `{{…}}+{{…}}x3`, one entry per step.
///
/// ```
/// use promlite_promql::promqltest::{SeriesValue, parse_series_values};
/// let v = parse_series_values("1+1x2 _ 7").unwrap();
/// assert_eq!(v, [1.0, 2.0, 3.0].map(SeriesValue::Float).into_iter()
///     .chain([SeriesValue::Omitted, SeriesValue::Float(7.0)]).collect::<Vec<_>>());
/// ```
pub fn parse_series_values(s: &str) -> Result<Vec<SeriesValue>, String> {
    Ok(parse_values(s)?
        .into_iter()
        .map(|v| match v {
            SeqValue::Omitted => SeriesValue::Omitted,
            SeqValue::Float(f) => SeriesValue::Float(f),
            SeqValue::Hist(h, _) => SeriesValue::Histogram(*h),
        })
        .collect())
}

/// Splits `metric{labels} values` at the end of the metric.
fn split_metric(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'{' {
        i += 1;
    }
    if i < b.len() && b[i] == b'{' {
        let mut in_str: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            match in_str {
                Some(q) => {
                    if c == b'\\' {
                        i += 1;
                    } else if c == q {
                        in_str = None;
                    }
                }
                None => {
                    if c == b'"' || c == b'\'' || c == b'`' {
                        in_str = Some(c);
                    } else if c == b'}' {
                        i += 1;
                        break;
                    }
                }
            }
            i += 1;
        }
    }
    (&line[..i], &line[i..])
}

fn parse_labels(metric: &str) -> Result<Labels, String> {
    let m = metric.trim();
    if m.is_empty() || m == "{}" {
        return Ok(Labels::empty());
    }
    let expr = Parser::new(ParserOptions::all())
        .parse(m)
        .map_err(|e| format!("invalid series {m:?}: {e}"))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!("invalid series {m:?}"));
    };
    let mut b = LabelsBuilder::new();
    for mt in &vs.matchers {
        b.set(mt.name(), mt.value());
    }
    Ok(b.build())
}

fn parse_values(s: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            let (h1, hint1, r) = parse_hist(rest)?;
            rest = r;
            if let Some(r) = rest.strip_prefix('x') {
                let (n, r) = take_uint(r)?;
                for _ in 0..=n {
                    out.push(SeqValue::Hist(Box::new(h1.clone()), hint1));
                }
                rest = r;
            } else if rest.starts_with("+{{") || rest.starts_with("-{{") {
                let add = rest.starts_with('+');
                let (inc, hint2, r) = parse_hist(&rest[1..])?;
                let r = r
                    .strip_prefix('x')
                    .ok_or("expected x<count> after histogram")?;
                let (n, r) = take_uint(r)?;
                rest = r;
                let mut cur = h1;
                out.push(SeqValue::Hist(Box::new(cur.clone()), hint2));
                for _ in 0..n {
                    let next = if add {
                        hist::add(&cur, &inc)
                    } else {
                        hist::sub(&cur, &inc)
                    }
                    .map_err(|()| "cannot combine histograms".to_owned())?;
                    let mut h = next.h;
                    h.counter_reset_hint = cur.counter_reset_hint;
                    cur = h;
                    out.push(SeqValue::Hist(Box::new(cur.clone()), hint2));
                }
            } else {
                out.push(SeqValue::Hist(Box::new(h1), hint1));
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let tok = &rest[..end];
            rest = &rest[end..];
            parse_item(tok, &mut out)?;
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

fn take_uint(s: &str) -> Result<(u64, &str), String> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end]
        .parse::<u64>()
        .map_err(|_| format!("invalid repeat count in {s:?}"))?;
    Ok((n, &s[end..]))
}

/// Parses a number at the start of `s` (sign, `Inf`, `NaN`, hex, decimal, exponent).
fn take_number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let body = &s[i..];
    for word in ["Inf", "inf", "NaN", "nan"] {
        if body.starts_with(word) {
            let end = i + word.len();
            let v = crate::go::parse_number(&s[..end])
                .ok()
                .or(match &s[..end] {
                    "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
                    "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
                    _ => Some(f64::NAN),
                })?;
            return Some((v, &s[end..]));
        }
    }
    // Hexadecimal is not read here: in `52+0x100` the `x` is the repeat marker.
    let start_digits = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == start_digits {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let d = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > d {
            i = j;
        }
    }
    let v: f64 = s[..i].parse().ok()?;
    Some((v, &s[i..]))
}

fn parse_item(tok: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    if tok == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: u64 = n.parse().map_err(|_| format!("invalid item {tok:?}"))?;
        for _ in 0..n {
            out.push(SeqValue::Omitted);
        }
        return Ok(());
    }
    if tok == "stale" {
        out.push(SeqValue::Float(STALE_NAN));
        return Ok(());
    }
    let (base, rest) = take_number(tok).ok_or_else(|| format!("invalid series value {tok:?}"))?;
    if rest.is_empty() {
        out.push(SeqValue::Float(base));
        return Ok(());
    }
    let (inc, rest) = if rest.starts_with('+') || rest.starts_with('-') {
        take_number(rest).ok_or_else(|| format!("invalid series value {tok:?}"))?
    } else {
        (0.0, rest)
    };
    let rest = rest
        .strip_prefix('x')
        .ok_or_else(|| format!("invalid series value {tok:?}"))?;
    let n: u64 = rest
        .parse()
        .map_err(|_| format!("invalid repeat count in {tok:?}"))?;
    let mut v = base;
    for _ in 0..=n {
        out.push(SeqValue::Float(v));
        v += inc;
    }
    Ok(())
}

/// Parses `{{key:value …}}`; returns the histogram, whether a counter-reset hint was
/// given, and the rest of the input.
fn parse_hist(s: &str) -> Result<(FloatHistogram, bool, &str), String> {
    let body_start = 2;
    let end = s
        .find("}}")
        .ok_or_else(|| format!("unterminated histogram in {s:?}"))?;
    let body = &s[body_start..end];
    let rest = &s[end + 2..];
    let mut h = FloatHistogram::default();
    let mut hint_set = false;
    let (mut buckets, mut offset, mut nbuckets, mut noffset) = (Vec::new(), 0i32, Vec::new(), 0i32);
    let mut b = body.trim();
    while !b.is_empty() {
        let colon = b
            .find(':')
            .ok_or_else(|| format!("invalid histogram {body:?}"))?;
        let key = b[..colon].trim();
        let mut v = b[colon + 1..].trim_start();
        let val: &str;
        if v.starts_with('[') {
            let close = v.find(']').ok_or("unterminated bucket list")?;
            val = &v[1..close];
            v = &v[close + 1..];
        } else {
            let e = v.find(char::is_whitespace).unwrap_or(v.len());
            val = &v[..e];
            v = &v[e..];
        }
        b = v.trim_start();
        let num = |x: &str| -> Result<f64, String> {
            take_number(x)
                .filter(|(_, r)| r.is_empty())
                .map(|(n, _)| n)
                .ok_or_else(|| format!("invalid number {x:?} in histogram"))
        };
        let list =
            |x: &str| -> Result<Vec<f64>, String> { x.split_whitespace().map(num).collect() };
        match key {
            "schema" => h.schema = num(val)? as i32,
            "sum" => h.sum = num(val)?,
            "count" => h.count = num(val)?,
            "z_bucket" => h.zero_count = num(val)?,
            "z_bucket_w" => h.zero_threshold = num(val)?,
            "buckets" => buckets = list(val)?,
            "n_buckets" => nbuckets = list(val)?,
            "offset" => offset = num(val)? as i32,
            "n_offset" => noffset = num(val)? as i32,
            "custom_values" => h.custom_values = list(val)?,
            "counter_reset_hint" => {
                hint_set = true;
                h.counter_reset_hint = match val {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("unknown counter_reset_hint {other:?}")),
                };
            }
            other => return Err(format!("unknown histogram key {other:?}")),
        }
    }
    if !buckets.is_empty() {
        h.positive_spans = vec![Span {
            offset,
            length: buckets.len() as u32,
        }];
        h.positive_buckets = buckets;
    }
    if !nbuckets.is_empty() {
        h.negative_spans = vec![Span {
            offset: noffset,
            length: nbuckets.len() as u32,
        }];
        h.negative_buckets = nbuckets;
    }
    Ok((h, hint_set, rest))
}

// ---------------------------------------------------------------------------------------
// load

struct Load {
    line: usize,
    step: i64,
    with_nhcb: bool,
    series: Vec<LoadSeries>,
}

/// One series of a `load` command.
struct LoadSeries {
    labels: Labels,
    values: Vec<SeqValue>,
    /// Start times relative to each sample's timestamp, from an `@st` line (empty when
    /// there is none).
    sts: Vec<Option<i64>>,
}

fn parse_duration_ms(s: &str) -> Result<i64, String> {
    crate::go::parse_duration(s.trim()).map(|ns| ns / 1_000_000)
}

fn parse_load(lines: &[String], i: usize) -> (usize, Result<Load, String>) {
    let head = &lines[i];
    let mut words = head.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let with_nhcb = cmd == "load_with_nhcb";
    let Some(Ok(step)) = words.next().map(parse_duration_ms) else {
        return (
            skip_block(lines, i),
            Err(format!("line {}: invalid load command", i + 1)),
        );
    };
    let mut load = Load {
        line: i + 1,
        step,
        with_nhcb,
        series: Vec::new(),
    };
    let mut j = i + 1;
    // An `@st` line gives the start times of the sample line right after it.
    let mut pending: Option<(usize, Labels, Vec<Option<i64>>)> = None;
    while j < lines.len() && !lines[j].is_empty() {
        let fail = |e: String, at: usize| (skip_block(lines, j), Err(format!("line {at}: {e}")));
        if let Some(st) = parse_st_line(&lines[j]) {
            if let Some((at, ..)) = pending {
                return fail("@st line has no following sample line".into(), at);
            }
            match st {
                Ok((l, sts)) => pending = Some((j + 1, l, sts)),
                Err(e) => return fail(e, j + 1),
            }
            j += 1;
            continue;
        }
        match parse_series(&lines[j]) {
            Ok((l, v)) => {
                let mut sts = Vec::new();
                if let Some((at, st_labels, st_values)) = pending.take() {
                    if st_labels != l {
                        return fail(
                            "@st metric does not match the following sample line metric".into(),
                            at,
                        );
                    }
                    if st_values.len() != v.len() {
                        return fail(
                            format!(
                                "@st line has {} values but sample line has {}",
                                st_values.len(),
                                v.len()
                            ),
                            at,
                        );
                    }
                    sts = st_values;
                }
                if let Some(existing) = load.series.iter_mut().find(|s| s.labels == l) {
                    existing.values = v;
                    existing.sts = sts;
                } else {
                    load.series.push(LoadSeries {
                        labels: l,
                        values: v,
                        sts,
                    });
                }
            }
            Err(e) => return fail(e, j + 1),
        }
        j += 1;
    }
    if let Some((at, ..)) = pending {
        return (
            j,
            Err(format!("line {at}: @st line has no following sample line")),
        );
    }
    (j, Ok(load))
}

/// A parsed `@st` line: the series and each sample's start-time offset.
type StLine = (Labels, Vec<Option<i64>>);

/// A start-time line, `metric{labels}@st <offsets>`: `None` if `line` is not one. Each
/// offset is a duration relative to its sample's timestamp; `_` leaves a sample without
/// a start time. Items are `_`, `_xN`, `D`, `DxN` (N+1 times), and `D+DxN`/`D-DxN`.
fn parse_st_line(line: &str) -> Option<Result<StLine, String>> {
    let (metric, rest) = split_metric(line);
    let (metric, values) = if let Some(m) = metric.strip_suffix("@st") {
        (m, rest)
    } else {
        let r = rest.strip_prefix("@st")?;
        if !r.starts_with(char::is_whitespace) {
            return None;
        }
        (metric, r)
    };
    Some((|| {
        let labels = parse_labels(metric)?;
        let mut out = Vec::new();
        for item in values.split_whitespace() {
            parse_st_item(item, &mut out).map_err(|e| format!("invalid ST item {item:?}: {e}"))?;
        }
        Ok((labels, out))
    })())
}

fn parse_st_item(item: &str, out: &mut Vec<Option<i64>>) -> Result<(), String> {
    if item == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| "invalid repeat count")?;
        if n == 0 {
            return Err("invalid repeat count".into());
        }
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    let (base, rest) = st_duration_prefix(item)?;
    let (delta, count) = if rest.is_empty() {
        out.push(Some(base));
        return Ok(());
    } else if let Some(n) = rest.strip_prefix('x') {
        (0, n)
    } else {
        let negative = rest.starts_with('-');
        if !negative && !rest.starts_with('+') {
            return Err(format!(
                "unexpected character {:?} after duration",
                &rest[..1]
            ));
        }
        let (delta, rest) = st_duration_prefix(&rest[1..])?;
        let n = rest
            .strip_prefix('x')
            .ok_or("expected 'x<count>' after step duration")?;
        (if negative { -delta } else { delta }, n)
    };
    let n: i64 = count.parse().map_err(|_| "invalid repeat count")?;
    out.extend((0..=n).map(|k| Some(base + k * delta)));
    Ok(())
}

/// A signed duration at the start of `s`, in milliseconds, and what follows it (which
/// starts at the first character that is neither a digit nor a unit letter, or at `x`).
fn st_duration_prefix(s: &str) -> Result<(i64, &str), String> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        Some(_) => (false, s),
        None => return Err("empty duration".into()),
    };
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("expected digits in duration {s:?}"));
    }
    let unit = body[digits..]
        .bytes()
        .take_while(|&c| c.is_ascii_alphabetic() && c != b'x')
        .count();
    let end = digits + unit;
    let ms = parse_duration_ms(&body[..end])?;
    Ok((if negative { -ms } else { ms }, &body[end..]))
}

fn skip_block(lines: &[String], mut j: usize) -> usize {
    j += 1;
    while j < lines.len() && !lines[j].is_empty() {
        j += 1;
    }
    j
}

impl Load {
    fn append(&self, store: &MemStore) -> Result<(), String> {
        let mut app = store.appender();
        for LoadSeries {
            labels,
            values,
            sts,
        } in &self.series
        {
            let mut r = SeriesRef::NONE;
            let mut prev: Option<FloatHistogram> = None;
            for (k, v) in values.iter().enumerate() {
                let t = k as i64 * self.step;
                let st = sts.get(k).copied().flatten().map_or(0, |o| t + o);
                match v {
                    SeqValue::Omitted => {}
                    SeqValue::Float(f) => {
                        prev = None;
                        r = app
                            .append_with_st(r, labels, st, t, *f)
                            .map_err(|e| e.to_string())?;
                    }
                    SeqValue::Hist(h, _) => {
                        let mut h = (**h).clone();
                        // The TSDB's chunk encoding decides the counter-reset hint a reader
                        // sees: unknown at the start of a chunk, a detected reset cuts a new
                        // chunk, and every later sample of a counter chunk reads back as
                        // "not a reset". Tests expect those hints, so they are set here.
                        if h.counter_reset_hint != CounterResetHint::Gauge {
                            h.counter_reset_hint = match &prev {
                                None => match h.counter_reset_hint {
                                    CounterResetHint::CounterReset => {
                                        CounterResetHint::CounterReset
                                    }
                                    _ => CounterResetHint::Unknown,
                                },
                                Some(p) => {
                                    if p.counter_reset_hint == CounterResetHint::Gauge
                                        || p.uses_custom_buckets() != h.uses_custom_buckets()
                                    {
                                        CounterResetHint::Unknown
                                    } else if h.counter_reset_hint == CounterResetHint::CounterReset
                                    {
                                        CounterResetHint::CounterReset
                                    } else if h.counter_reset_hint
                                        != CounterResetHint::NotCounterReset
                                        && hist::detect_reset(&h, p)
                                    {
                                        // A detected reset starts a new chunk whose first
                                        // sample reads back as "unknown" (prometheus#15346).
                                        CounterResetHint::Unknown
                                    } else {
                                        CounterResetHint::NotCounterReset
                                    }
                                }
                            };
                        }
                        r = app
                            .append_histogram_with_st(r, labels, st, t, HistogramRef::Float(&h))
                            .map_err(|e| e.to_string())?;
                        prev = Some(h);
                    }
                }
            }
        }
        if self.with_nhcb {
            self.append_nhcb(&mut *app)?;
        }
        app.commit().map_err(|e| e.to_string())
    }

    /// `load_with_nhcb`: classic histogram series (`_bucket`, `_count`, `_sum`) are also
    /// loaded as native histograms with custom buckets, named after the base metric.
    fn append_nhcb(&self, app: &mut dyn promlite_storage::Appender) -> Result<(), String> {
        #[derive(Default)]
        struct Temp {
            buckets: Vec<(f64, f64)>,
            count: Option<f64>,
            sum: Option<f64>,
        }
        let mut by_metric: Vec<(Labels, HashMap<i64, Temp>)> = Vec::new();
        for LoadSeries { labels, values, .. } in &self.series {
            let name = labels.metric_name().unwrap_or("");
            let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
                (b, 0)
            } else if let Some(b) = name.strip_suffix("_count") {
                (b, 1)
            } else if let Some(b) = name.strip_suffix("_sum") {
                (b, 2)
            } else {
                continue;
            };
            let le = if kind == 0 {
                match labels.get("le").map(crate::go::parse_number) {
                    Some(Ok(v)) if !v.is_nan() => v,
                    _ => match labels.get("le") {
                        Some("+Inf" | "Inf") => f64::INFINITY,
                        _ => continue,
                    },
                }
            } else {
                0.0
            };
            let mut b = LabelsBuilder::new();
            b.reset(labels);
            b.del("le");
            b.set("__name__", base);
            let m = b.build();
            let idx = match by_metric.iter().position(|(x, _)| *x == m) {
                Some(i) => i,
                None => {
                    by_metric.push((m, HashMap::new()));
                    by_metric.len() - 1
                }
            };
            for (k, v) in values.iter().enumerate() {
                let SeqValue::Float(f) = v else { continue };
                let t = k as i64 * self.step;
                let tmp = by_metric[idx].1.entry(t).or_default();
                match kind {
                    0 => tmp.buckets.push((le, *f)),
                    1 => tmp.count = Some(*f),
                    _ => tmp.sum = Some(*f),
                }
            }
        }
        for (m, by_t) in by_metric {
            let mut ts: Vec<i64> = by_t.keys().copied().collect();
            ts.sort_unstable();
            let mut r = SeriesRef::NONE;
            let mut prev: Option<FloatHistogram> = None;
            for t in ts {
                let tmp = &by_t[&t];
                let mut b = tmp.buckets.clone();
                b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
                if !b.last().is_some_and(|x| x.0 == f64::INFINITY) {
                    // Without a +Inf bucket the count is the total.
                    let total = tmp.count.unwrap_or(b.last().map_or(0.0, |x| x.1));
                    b.push((f64::INFINITY, total));
                }
                let mut h = FloatHistogram {
                    schema: CUSTOM_BUCKETS_SCHEMA,
                    count: tmp.count.unwrap_or(b.last().map_or(0.0, |x| x.1)),
                    sum: tmp.sum.unwrap_or(0.0),
                    ..FloatHistogram::default()
                };
                let mut pairs = Vec::new();
                let mut prev_c = 0.0;
                for (i, (le, c)) in b.iter().enumerate() {
                    if le.is_finite() {
                        h.custom_values.push(*le);
                    }
                    pairs.push((i as i32, c - prev_c));
                    prev_c = *c;
                }
                let (s, c) = hist::pack(&pairs);
                h.positive_spans = s;
                h.positive_buckets = c;
                if let Some(p) = &prev {
                    h.counter_reset_hint = if hist::detect_reset(&h, p) {
                        CounterResetHint::CounterReset
                    } else {
                        CounterResetHint::NotCounterReset
                    };
                }
                r = app
                    .append_histogram(r, &m, t, HistogramRef::Float(&h))
                    .map_err(|e| e.to_string())?;
                prev = Some(h);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// eval

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpectType {
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
    Ordered,
}

#[derive(Debug)]
enum Matcher {
    Any,
    Msg(String),
    Regex(regex::Regex),
}

impl Matcher {
    fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Msg(m) => m == s,
            Matcher::Regex(r) => r.is_match(s),
        }
    }

    fn describe(&self) -> String {
        match self {
            Matcher::Any => "any".into(),
            Matcher::Msg(m) => format!("msg {m:?}"),
            Matcher::Regex(r) => format!("regex {:?}", r.as_str()),
        }
    }
}

struct EvalCmd {
    line: usize,
    expr: String,
    range: bool,
    start: i64,
    end: i64,
    step: i64,
    eval_t: i64,
    expects: Vec<(ExpectType, Matcher)>,
    fail: bool,
    warn: bool,
    info: bool,
    ordered: bool,
    expected_string: Option<String>,
    exclude_from_range: bool,
    scalar: Option<f64>,
    /// Expected series: labels, position (1-based), values.
    series: Vec<(Labels, usize, Vec<SeqValue>)>,
}

impl EvalCmd {
    fn has(&self, t: ExpectType) -> bool {
        self.expects.iter().any(|(x, _)| *x == t)
    }

    fn is_fail(&self) -> bool {
        self.fail || self.has(ExpectType::Fail)
    }

    fn is_ordered(&self) -> bool {
        self.ordered || self.has(ExpectType::Ordered)
    }
}

type EvalParseError = (usize, String, String);

fn parse_eval(lines: &[String], i: usize) -> (usize, Result<EvalCmd, EvalParseError>) {
    let l = &lines[i];
    let fail = |msg: String, expr: String| -> (usize, Result<EvalCmd, EvalParseError>) {
        (skip_block(lines, i), Err((i + 1, expr, msg)))
    };
    let mut words = l.splitn(2, char::is_whitespace);
    let cmd = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim_start();
    let modifier = cmd.strip_prefix("eval").unwrap_or("");
    let modifier = modifier.strip_prefix('_').unwrap_or(modifier);
    let mut ev = EvalCmd {
        line: i + 1,
        expr: String::new(),
        range: false,
        start: 0,
        end: 0,
        step: 0,
        eval_t: 0,
        expects: Vec::new(),
        fail: modifier == "fail",
        warn: modifier == "warn",
        info: modifier == "info",
        ordered: modifier == "ordered",
        expected_string: None,
        exclude_from_range: false,
        scalar: None,
        series: Vec::new(),
    };
    if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let Some(r) = r.strip_prefix("at") else {
            return fail("invalid evaluation command".into(), l.clone());
        };
        let r = r.trim_start();
        let (t, expr) = r.split_at(r.find(char::is_whitespace).unwrap_or(r.len()));
        expr.trim().clone_into(&mut ev.expr);
        match parse_duration_ms(t) {
            Ok(t) => {
                ev.eval_t = t;
                ev.start = t;
                ev.end = t;
            }
            Err(e) => return fail(format!("invalid timestamp definition {t:?}: {e}"), ev.expr),
        }
    } else if let Some(r) = rest.strip_prefix("range") {
        ev.range = true;
        let mut parts = r.split_whitespace();
        let mut vals = [0i64; 3];
        for (k, kw) in ["from", "to", "step"].iter().enumerate() {
            if parts.next() != Some(kw) {
                return fail("invalid evaluation command".into(), l.clone());
            }
            match parts.next().map(parse_duration_ms) {
                Some(Ok(v)) => vals[k] = v,
                _ => return fail("invalid range definition".into(), l.clone()),
            }
        }
        ev.expr = parts.collect::<Vec<_>>().join(" ");
        // Keep the expression exactly as written (spaces matter for positions).
        if let Some(pos) = find_after_step(r) {
            r[pos..].trim().clone_into(&mut ev.expr);
        }
        (ev.start, ev.end, ev.step) = (vals[0], vals[1], vals[2]);
    } else {
        return fail("invalid evaluation command".into(), l.clone());
    }
    if let Err(e) = Parser::new(ParserOptions::all()).parse(&ev.expr) {
        return fail(format!("invalid expression: {e}"), ev.expr.clone());
    }
    let mut j = i + 1;
    let mut pos = 0usize;
    let mut expect_range_vector = false;
    while j < lines.len() && !lines[j].is_empty() {
        let d = &lines[j];
        j += 1;
        if let Some(r) = d.strip_prefix("expect range vector") {
            let mut parts = r.split_whitespace();
            let mut vals = [0i64; 3];
            for (k, kw) in ["from", "to", "step"].iter().enumerate() {
                if parts.next() != Some(kw) {
                    return fail(format!("invalid expect range vector line {d:?}"), ev.expr);
                }
                match parts.next().map(parse_duration_ms) {
                    Some(Ok(v)) => vals[k] = v,
                    _ => return fail(format!("invalid expect range vector line {d:?}"), ev.expr),
                }
            }
            (ev.start, ev.end, ev.step) = (vals[0], vals[1], vals[2]);
            ev.eval_t = vals[1];
            ev.exclude_from_range = true;
            expect_range_vector = true;
            continue;
        }
        if let Some(r) = d.strip_prefix("expect string") {
            match go_unquote(r.trim()) {
                Some(s) => ev.expected_string = Some(s),
                None => return fail(format!("invalid expected string {r:?}"), ev.expr),
            }
            ev.exclude_from_range = true;
            continue;
        }
        if d.split(' ').next() == Some("expect") {
            match parse_expect(d) {
                Ok(x) => ev.expects.push(x),
                Err(e) => return fail(e, ev.expr),
            }
            continue;
        }
        if ev.fail
            && (d.starts_with("expected_fail_message") || d.starts_with("expected_fail_regexp"))
        {
            let (kw, rest) = d.split_at(d.find(char::is_whitespace).unwrap_or(d.len()));
            let m = if kw == "expected_fail_message" {
                Matcher::Msg(rest.trim().to_owned())
            } else {
                match regex::Regex::new(rest.trim()) {
                    Ok(r) => Matcher::Regex(r),
                    Err(e) => return fail(e.to_string(), ev.expr),
                }
            };
            ev.expects.push((ExpectType::Fail, m));
            continue;
        }
        if let Some(f) = parse_scalar_line(d) {
            ev.scalar = Some(f);
            continue;
        }
        match parse_series(d) {
            Ok((l, v)) => {
                if v.len() > 1 && !ev.range && !expect_range_vector {
                    return fail(
                        "expecting multiple values in instant evaluation not allowed".into(),
                        ev.expr,
                    );
                }
                pos += 1;
                ev.series.push((l, pos, v));
            }
            Err(e) => return fail(format!("line {j}: {e}"), ev.expr),
        }
    }
    (j, Ok(ev))
}

fn find_after_step(r: &str) -> Option<usize> {
    // "from X to Y step Z <expr>": skip six words.
    let mut idx = 0;
    let b = r.as_bytes();
    for _ in 0..6 {
        while idx < b.len() && b[idx].is_ascii_whitespace() {
            idx += 1;
        }
        while idx < b.len() && !b[idx].is_ascii_whitespace() {
            idx += 1;
        }
    }
    (idx <= r.len()).then_some(idx)
}

fn parse_scalar_line(d: &str) -> Option<f64> {
    if let Ok(i) = d.parse::<i64>() {
        return Some(i as f64);
    }
    if let Some(h) = d.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(h, 16)
    {
        return Some(i as f64);
    }
    match d {
        "Inf" | "+Inf" | "inf" | "+inf" | "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Inf" | "-inf" | "-Infinity" => return Some(f64::NEG_INFINITY),
        "NaN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    d.parse::<f64>().ok()
}

fn parse_expect(d: &str) -> Result<(ExpectType, Matcher), String> {
    let rest = d.trim().strip_prefix("expect").unwrap_or("").trim_start();
    let (kind, rest) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
    let t = match kind {
        "fail" => ExpectType::Fail,
        "warn" => ExpectType::Warn,
        "no_warn" => ExpectType::NoWarn,
        "info" => ExpectType::Info,
        "no_info" => ExpectType::NoInfo,
        "ordered" => ExpectType::Ordered,
        other => return Err(format!("invalid expected error/annotation type {other}")),
    };
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok((t, Matcher::Any));
    }
    if let Some(m) = rest.strip_prefix("msg:") {
        return Ok((t, Matcher::Msg(m.trim().to_owned())));
    }
    if let Some(r) = rest.strip_prefix("regex:") {
        return regex::Regex::new(r.trim())
            .map(|r| (t, Matcher::Regex(r)))
            .map_err(|_| format!("invalid regex {} for {kind}", r.trim()));
    }
    Err("invalid expect statement, must match `expect <type> <match_type>: <string>` format".into())
}

/// Go's `strconv.Unquote` for `"…"` and `` `…` ``.
fn go_unquote(s: &str) -> Option<String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Some(s[1..s.len() - 1].to_owned());
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return Some(crate::go::unquote(s));
    }
    None
}

fn exec_eval(
    engine: &Engine,
    store: &MemStore,
    ev: &EvalCmd,
    opts: &RunOptions,
) -> Result<(), String> {
    if ev.range {
        let res = engine.range_query(store, &ev.expr, ev.start, ev.end, ev.step);
        return match res {
            Err(e) => {
                if ev.is_fail() {
                    check_failure(ev, &e)
                } else {
                    Err(format!("error evaluating query: {e}"))
                }
            }
            Ok(r) => {
                if ev.is_fail() {
                    return Err("expected error evaluating query but got none".into());
                }
                check_annotations(ev, &ev.expr, &r.annotations)?;
                compare(ev, &r.value)
            }
        };
    }
    let mut queries = vec![(ev.expr.clone(), ev.eval_t)];
    if !opts.skip_consistency_checks {
        queries.extend(at_modifier_cases(&ev.expr, ev.eval_t));
    }
    for (q, t) in queries {
        run_instant(engine, store, ev, &q, t, opts)?;
    }
    Ok(())
}

fn run_instant(
    engine: &Engine,
    store: &MemStore,
    ev: &EvalCmd,
    q: &str,
    t: i64,
    opts: &RunOptions,
) -> Result<(), String> {
    let res = engine.instant_query(store, q, t);
    let r = match res {
        Err(e) => {
            if ev.is_fail() {
                return check_failure(ev, &e);
            }
            return Err(format!("error evaluating query {q:?}: {e}"));
        }
        Ok(r) => r,
    };
    if ev.is_fail() {
        return Err(format!(
            "expected error evaluating query {q:?} but got none"
        ));
    }
    check_annotations(ev, q, &r.annotations)?;
    compare(ev, &r.value).map_err(|e| format!("{q}: {e}"))?;
    if ev.exclude_from_range || opts.skip_consistency_checks {
        return Ok(());
    }
    if ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| q.contains(f))
    {
        return Ok(());
    }
    let rr = engine
        .range_query(store, q, t - 60_000, t + 60_000, 60_000)
        .map_err(|e| format!("error evaluating query {q:?} in range mode: {e}"))?;
    if ev.is_ordered() {
        return Ok(());
    }
    let Value::Matrix(m) = rr.value else {
        return Err("range query did not return a matrix".into());
    };
    let mut vec = Vec::new();
    for s in &m {
        if let Some(p) = s.floats.iter().find(|p| p.t == t) {
            vec.push(crate::value::Sample::float(s.metric.clone(), t, p.f));
        }
        if let Some(p) = s.histograms.iter().find(|p| p.t == t) {
            vec.push(crate::value::Sample {
                metric: s.metric.clone(),
                t,
                f: 0.0,
                h: Some(p.h.clone()),
                drop_name: false,
            });
        }
    }
    let v = if matches!(r.value, Value::Scalar { .. }) {
        Value::Scalar {
            t,
            v: vec.first().map_or(f64::NAN, |s| s.f),
        }
    } else {
        Value::Vector(vec)
    };
    compare(ev, &v).map_err(|e| format!("{q} (range mode): {e}"))
}

fn check_failure(ev: &EvalCmd, e: &EvalError) -> Result<(), String> {
    let text = e.to_string();
    if let Some((_, m)) = ev.expects.iter().find(|(t, _)| *t == ExpectType::Fail)
        && !m.matches(&text)
    {
        return Err(format!(
            "expected error matching {} but got: {text}",
            m.describe()
        ));
    }
    Ok(())
}

fn check_annotations(ev: &EvalCmd, q: &str, annos: &Annotations) -> Result<(), String> {
    let (warnings, infos) = annos.as_strings(q);
    if ev.warn && warnings.is_empty() {
        return Err("expected warnings but got none".into());
    }
    if ev.info && infos.is_empty() {
        return Err("expected info annotations but got none".into());
    }
    for (kind, want, got) in [
        ("warn", ExpectType::Warn, &warnings),
        ("info", ExpectType::Info, &infos),
    ] {
        let exp: Vec<&Matcher> = ev
            .expects
            .iter()
            .filter(|(t, _)| *t == want)
            .map(|(_, m)| m)
            .collect();
        if exp.is_empty() {
            continue;
        }
        if got.is_empty() {
            return Err(format!("expected {kind} annotations but none were found"));
        }
        for m in &exp {
            if !got.iter().any(|g| m.matches(g)) {
                return Err(format!(
                    "expected {kind} annotation matching {} but no matching annotation was found, found: {got:?}",
                    m.describe()
                ));
            }
        }
        for g in got {
            if !exp.iter().any(|m| m.matches(g)) {
                return Err(format!("unexpected {kind} annotation {g:?}"));
            }
        }
    }
    if ev.has(ExpectType::NoWarn) && !warnings.is_empty() {
        return Err(format!("unexpected warning annotations: {warnings:?}"));
    }
    if ev.has(ExpectType::NoInfo) && !infos.is_empty() {
        return Err(format!("unexpected info annotations: {infos:?}"));
    }
    Ok(())
}

/// Prometheus's `almost.Equal` with the test epsilon: relative 1e-6, NaN equals NaN.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPS: f64 = 1e-6;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPS * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPS
}

fn hist_matches(exp: &FloatHistogram, got: &FloatHistogram, hint_set: bool) -> bool {
    let e = hist::compact(exp);
    let g = hist::compact(got);
    if e.schema != g.schema || !almost_equal(e.count, g.count) || !almost_equal(e.sum, g.sum) {
        return false;
    }
    if e.uses_custom_buckets() && e.custom_values != g.custom_values {
        return false;
    }
    if e.zero_threshold != g.zero_threshold || !almost_equal(e.zero_count, g.zero_count) {
        return false;
    }
    let pe = hist::pairs(&e.positive_spans, &e.positive_buckets);
    let pg = hist::pairs(&g.positive_spans, &g.positive_buckets);
    let ne = hist::pairs(&e.negative_spans, &e.negative_buckets);
    let ng = hist::pairs(&g.negative_spans, &g.negative_buckets);
    let same = |a: &[(i32, f64)], b: &[(i32, f64)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && almost_equal(x.1, y.1))
    };
    if !same(&pe, &pg) || !same(&ne, &ng) {
        return false;
    }
    !hint_set || e.counter_reset_hint == g.counter_reset_hint
}

/// The test-expression form of a histogram, for messages.
fn hist_text(h: &FloatHistogram) -> String {
    let mut s = format!("{{{{schema:{} count:{} sum:{}", h.schema, h.count, h.sum);
    if h.zero_count != 0.0 {
        let _ = write!(s, " z_bucket:{}", h.zero_count);
    }
    if h.zero_threshold != 0.0 {
        let _ = write!(s, " z_bucket_w:{}", h.zero_threshold);
    }
    if !h.custom_values.is_empty() {
        let _ = write!(s, " custom_values:{:?}", h.custom_values);
    }
    let _ = write!(
        s,
        " buckets:{:?} n_buckets:{:?} hint:{:?}}}}}",
        hist::pairs(&h.positive_spans, &h.positive_buckets),
        hist::pairs(&h.negative_spans, &h.negative_buckets),
        h.counter_reset_hint
    );
    s
}

fn compare(ev: &EvalCmd, v: &Value) -> Result<(), String> {
    let index: HashMap<&Labels, usize> = ev
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.0, i))
        .collect();
    match v {
        Value::Matrix(m) => {
            if ev.is_ordered() {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if ev.scalar.is_some() {
                return Err("expected scalar result, but got matrix".into());
            }
            for w in m.windows(2) {
                if w[0].metric > w[1].metric {
                    return Err("matrix results should always be sorted by labels".into());
                }
            }
            let mut seen = vec![false; ev.series.len()];
            for s in m {
                let Some(&i) = index.get(&s.metric) else {
                    return Err(format!("unexpected metric {} in result", s.metric));
                };
                seen[i] = true;
                let mut ef = Vec::new();
                let mut eh = Vec::new();
                for (k, e) in ev.series[i].2.iter().enumerate() {
                    let t = ev.start + k as i64 * ev.step;
                    if t > ev.end {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many points",
                            ev.series[i].2.len(),
                            s.metric
                        ));
                    }
                    match e {
                        SeqValue::Omitted => {}
                        SeqValue::Float(f) => ef.push((t, *f)),
                        SeqValue::Hist(h, set) => eh.push((t, h, *set)),
                    }
                }
                if ef.len() != s.floats.len() || eh.len() != s.histograms.len() {
                    return Err(format!(
                        "expected {} float points and {} histogram points for {}, but got {} floats {:?} and {} histograms",
                        ef.len(),
                        eh.len(),
                        s.metric,
                        s.floats.len(),
                        s.floats.iter().map(|p| (p.t, p.f)).collect::<Vec<_>>(),
                        s.histograms.len()
                    ));
                }
                for (k, (t, f)) in ef.iter().enumerate() {
                    let p = s.floats[k];
                    if p.t != *t {
                        return Err(format!(
                            "expected float value at index {k} for {} to have timestamp {t}, but it had timestamp {}",
                            s.metric, p.t
                        ));
                    }
                    if !almost_equal(p.f, *f) {
                        return Err(format!(
                            "expected float value at index {k} (t={t}) for {} to be {f}, but got {}",
                            s.metric, p.f
                        ));
                    }
                }
                for (k, (t, h, set)) in eh.iter().enumerate() {
                    let p = &s.histograms[k];
                    if p.t != *t {
                        return Err(format!(
                            "expected histogram value at index {k} for {} to have timestamp {t}, but it had timestamp {}",
                            s.metric, p.t
                        ));
                    }
                    if !hist_matches(h, &p.h, *set) {
                        return Err(format!(
                            "expected histogram value at index {k} (t={t}) for {} to be {}, but got {}",
                            s.metric,
                            hist_text(h),
                            hist_text(&p.h)
                        ));
                    }
                }
            }
            for (i, s) in seen.iter().enumerate() {
                if !s {
                    return Err(format!("expected metric {} not found", ev.series[i].0));
                }
            }
            Ok(())
        }
        Value::Vector(vec) => {
            if ev.scalar.is_some() {
                return Err(format!(
                    "expected scalar result, but got vector of {}",
                    vec.len()
                ));
            }
            let mut seen = vec![false; ev.series.len()];
            for (p, s) in vec.iter().enumerate() {
                let Some(&i) = index.get(&s.metric) else {
                    return Err(match &s.h {
                        Some(h) => format!(
                            "unexpected metric {} in result, has value {}",
                            s.metric,
                            hist_text(h)
                        ),
                        None => format!(
                            "unexpected metric {} in result, has value {}",
                            s.metric, s.f
                        ),
                    });
                };
                let (_, pos, vals) = &ev.series[i];
                if ev.is_ordered() && *pos != p + 1 {
                    return Err(format!(
                        "expected metric {} at position {pos} but was at {}",
                        s.metric,
                        p + 1
                    ));
                }
                match (vals.first(), &s.h) {
                    (Some(SeqValue::Hist(h, set)), Some(got)) => {
                        if !hist_matches(h, got, *set) {
                            return Err(format!(
                                "expected {} for {} but got {}",
                                hist_text(h),
                                s.metric,
                                hist_text(got)
                            ));
                        }
                    }
                    (Some(SeqValue::Hist(h, _)), None) => {
                        return Err(format!(
                            "expected histogram {} for {} but got float value {}",
                            hist_text(h),
                            s.metric,
                            s.f
                        ));
                    }
                    (_, Some(got)) => {
                        return Err(format!(
                            "expected float value for {} but got histogram {}",
                            s.metric,
                            hist_text(got)
                        ));
                    }
                    (Some(SeqValue::Float(f)), None) => {
                        if !almost_equal(*f, s.f) {
                            return Err(format!("expected {f} for {} but got {}", s.metric, s.f));
                        }
                    }
                    (_, None) => {
                        if !almost_equal(0.0, s.f) {
                            return Err(format!("expected 0 for {} but got {}", s.metric, s.f));
                        }
                    }
                }
                seen[i] = true;
            }
            for (i, s) in seen.iter().enumerate() {
                if !s {
                    return Err(format!("expected metric {} not found", ev.series[i].0));
                }
            }
            Ok(())
        }
        Value::Scalar { v, .. } => {
            let Some(e) = ev.scalar else {
                return Err(format!(
                    "expected vector or matrix result, but got scalar {v}"
                ));
            };
            if !almost_equal(e, *v) {
                return Err(format!("expected scalar {e} but got {v}"));
            }
            Ok(())
        }
        Value::String { s, .. } => {
            let e = ev.expected_string.clone().unwrap_or_default();
            if &e != s {
                return Err(format!("expected string \"{e}\" but got \"{s}\""));
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// The `@` consistency check.

const AT_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// The query with `@ t` pinned on every selector and subquery (except inside a subquery
/// that already has one), evaluated at other times; empty if the query uses a function
/// whose result depends on the evaluation time itself.
fn at_modifier_cases(q: &str, t: i64) -> Vec<(String, i64)> {
    let Ok(mut expr) = Parser::new(ParserOptions::all()).parse(q) else {
        return Vec::new();
    };
    let mut unsafe_fn = false;
    expr.walk(&mut |e| {
        if let Expr::Call(c) = e
            && AT_UNSAFE.contains(&c.func.name)
        {
            unsafe_fn = true;
        }
        true
    });
    if unsafe_fn {
        return Vec::new();
    }
    pin_at(&mut expr, t);
    let text = expr.to_string();
    let times: Vec<i64> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    times.into_iter().map(|et| (text.clone(), et)).collect()
}

fn pin_at(e: &mut Expr, t: i64) {
    let at = Some(AtModifier::Timestamp(t));
    match e {
        Expr::VectorSelector(v) => {
            if v.at.is_none() {
                v.at = at;
            }
        }
        Expr::MatrixSelector(m) => {
            if m.selector.at.is_none() {
                m.selector.at = at;
            }
        }
        Expr::Subquery(s) => {
            // Prometheus's walk sees the subquery's new `@` on the path to everything
            // below it, so nothing inside a subquery is pinned.
            if s.at.is_none() {
                s.at = at;
            }
        }
        Expr::Aggregate(a) => {
            pin_at(&mut a.expr, t);
            if let Some(p) = &mut a.param {
                pin_at(p, t);
            }
        }
        Expr::Binary(b) => {
            pin_at(&mut b.lhs, t);
            pin_at(&mut b.rhs, t);
        }
        Expr::Call(c) => c.args.iter_mut().for_each(|a| pin_at(a, t)),
        Expr::Paren(p) => pin_at(&mut p.expr, t),
        Expr::Unary(u) => pin_at(&mut u.expr, t),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st_items(s: &str) -> Result<Vec<Option<i64>>, String> {
        let mut out = Vec::new();
        for item in s.split_whitespace() {
            parse_st_item(item, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn st_sequences() {
        assert_eq!(
            st_items("_ _x2 -1m 0 +1m 1ms-1mx2 -30sx1").unwrap(),
            [
                None,
                None,
                None,
                Some(-60_000),
                Some(0),
                Some(60_000),
                Some(1),
                Some(-59_999),
                Some(-119_999),
                Some(-30_000),
                Some(-30_000)
            ]
        );
        assert!(st_items("_x0").is_err());
        assert!(
            st_items("1m*2")
                .unwrap_err()
                .contains("unexpected character")
        );
        assert!(
            st_items("1m+1m")
                .unwrap_err()
                .contains("expected 'x<count>'")
        );
        assert!(st_items("m").unwrap_err().contains("expected digits"));
    }

    #[test]
    fn st_lines_must_precede_their_series() {
        let run = |script: &str| run_script("t", script, &RunOptions::default()).errors;
        let ok = "load 1m\n  a@st _ -1m\n  a 1 2\n";
        assert!(run(ok).is_empty(), "{:?}", run(ok));
        let errs = run("load 1m\n  a{x=\"1\"}@st _ -1m\n  a 1 2\n");
        assert_eq!(
            errs,
            ["line 2: @st metric does not match the following sample line metric"]
        );
        let errs = run("load 1m\n  a@st -1m\n  a 1 2\n");
        assert_eq!(
            errs,
            ["line 2: @st line has 1 values but sample line has 2"]
        );
        let errs = run("load 1m\n  a@st -1m\n");
        assert_eq!(errs, ["line 2: @st line has no following sample line"]);
    }

    #[test]
    fn start_times_reach_start_timestamp_only_when_enabled() {
        let script =
            "load 1m\n  a@st _ -30s\n  a 1 2\n\neval instant at 1m start_timestamp(a)\n  {} 30\n";
        let on = run_script("t", script, &RunOptions::default());
        assert_eq!(on.failed(), 0, "{:?}", on.failure_lines());
        let mut opts = RunOptions::default();
        opts.engine = opts.engine.start_timestamps(false);
        let off = run_script("t", script, &opts);
        assert_eq!(off.failed(), 1);
    }
}
