//! Rule unit tests in `promtool test rules` format: input series in the expanding
//! notation, rule files evaluated step by step over an in-memory store, expected alerts
//! and expected PromQL results, with promtool's failure text.
//!
//! The runner follows `cmd/promtool/unittest.go`: input samples are loaded lazily up to
//! each evaluation time, every group is evaluated at every `evaluation_interval` step
//! from the start to the latest `eval_time`, alerts are compared (firing only) after the
//! evaluation at or just before their `eval_time`, and PromQL expressions are queried
//! once all evaluations ran.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use promlite_model::{CounterResetHint, FloatHistogram, Labels, Span};
use promlite_promql::{Engine, EngineOptions, Value};
use promlite_storage::{Appendable, HistogramRef, MemStore, SeriesRef};
use serde::Deserialize;
use serde_norway::Value as Yaml;

use crate::alert::AlertState;
use crate::group::{EvalOptions, Group};
use crate::template::{float_v, go_duration};
use crate::{Error, RuleGroups};

/// The outcome of one test file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestReport {
    /// The file.
    pub path: PathBuf,
    /// A problem with the file itself (unreadable, bad YAML); no test ran.
    pub file_error: Option<String>,
    /// One entry per test group (`tests:` item), in file order.
    pub groups: Vec<TestGroupReport>,
}

/// The outcome of one test group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestGroupReport {
    /// The group's `name`, possibly empty.
    pub name: String,
    /// promtool's failure messages; empty when the group passed.
    pub failures: Vec<String>,
}

impl TestReport {
    /// Test groups that passed.
    pub fn passed(&self) -> usize {
        self.groups.iter().filter(|g| g.failures.is_empty()).count()
    }

    /// Test groups that failed (a file error counts as one).
    pub fn failed(&self) -> usize {
        self.groups.len() - self.passed() + usize::from(self.file_error.is_some())
    }

    /// Whether every test passed.
    pub fn success(&self) -> bool {
        self.failed() == 0
    }

    /// What promtool prints for this file: `Unit Testing:  FILE`, then `  SUCCESS` or
    /// `  FAILED:` and each failure.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("Unit Testing:  {}", self.path.display())];
        if self.success() {
            out.push("  SUCCESS".into());
        } else {
            out.push("  FAILED:".into());
            for f in self
                .file_error
                .iter()
                .chain(self.groups.iter().flat_map(|g| &g.failures))
            {
                out.extend(f.lines().map(str::to_owned));
                out.push(String::new());
            }
        }
        out
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in self.lines() {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

/// The lines `promlite test rules FILE…` prints: each file's report, a blank line after
/// each, and a last line `N passed, M failed` (test groups over all files).
pub fn report_lines(reports: &[TestReport]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        out.extend(r.lines());
        out.push(String::new());
    }
    let passed: usize = reports.iter().map(TestReport::passed).sum();
    let failed: usize = reports.iter().map(TestReport::failed).sum();
    out.push(format!("{passed} passed, {failed} failed"));
    out
}

/// Runs the unit tests in `path`; `Err` when any fails, its message being promtool's
/// report with the expected-vs-got of each failure, so that
/// `#[test] fn alerts() { promlite_rules::test_file("alerts_test.yml").unwrap() }` fails
/// the cargo test with a readable diff.
pub fn test_file(path: impl AsRef<Path>) -> Result<TestReport, Error> {
    let report = run_test_file(path.as_ref());
    if report.success() {
        Ok(report)
    } else {
        Err(Error::UnitTest {
            path: report.path.clone(),
            message: report.to_string(),
        })
    }
}

/// How a test file is run: promtool's `--run` and `--ignore-unknown-fields`.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Only test groups whose name matches one of these regular expressions run (all
    /// when empty).
    pub run: Vec<String>,
    /// Accept fields Prometheus does not know in the rule files.
    pub ignore_unknown_fields: bool,
}

/// Runs the unit tests in `path` and reports every outcome; never fails.
pub fn run_test_file(path: &Path) -> TestReport {
    run_test_file_with(path, &TestOptions::default())
}

/// [`run_test_file`] with options.
pub fn run_test_file_with(path: &Path, options: &TestOptions) -> TestReport {
    let mut report = TestReport {
        path: path.to_owned(),
        ..TestReport::default()
    };
    let file = match std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|src| serde_norway::from_str::<FileYaml>(&src).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            report.file_error = Some(e);
            return report;
        }
    };
    // promtool joins the `--run` patterns into one alternation, unanchored.
    let run = if options.run.is_empty() {
        None
    } else {
        match regex::Regex::new(&options.run.join("|")) {
            Ok(r) => Some(r),
            Err(e) => {
                report.file_error = Some(e.to_string());
                return report;
            }
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let setup = match Setup::new(&file, dir, options.ignore_unknown_fields) {
        Ok(s) => s,
        Err(e) => {
            report.file_error = Some(e);
            return report;
        }
    };
    for tg in &file.tests {
        if run.as_ref().is_some_and(|r| !r.is_match(&tg.name)) {
            continue;
        }
        let failures = match run_group(&setup, tg) {
            Ok(f) => f,
            Err(e) => vec![e],
        };
        report.groups.push(TestGroupReport {
            name: tg.name.clone(),
            failures,
        });
    }
    report
}

// ---------------------------------------------------------------------------------------
// The file format.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileYaml {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<Yaml>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroupYaml>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroupYaml {
    #[serde(default)]
    interval: Option<Yaml>,
    #[serde(default)]
    input_series: Vec<SeriesYaml>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTestYaml>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTestYaml>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_timestamp: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesYaml {
    series: String,
    #[serde(default)]
    values: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTestYaml {
    eval_time: Option<Yaml>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlertYaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlertYaml {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTestYaml {
    expr: String,
    eval_time: Option<Yaml>,
    #[serde(default)]
    exp_samples: Vec<ExpSampleYaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSampleYaml {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    histogram: String,
}

/// A YAML scalar as text (`1`, `1.5`, `"5m"` all read as written).
fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

/// A Prometheus duration in milliseconds; `0` and empty are zero.
fn duration_ms(v: Option<&Yaml>) -> Result<i64, String> {
    let Some(v) = v else { return Ok(0) };
    let s = scalar(v).ok_or("duration must be a string")?;
    if s.is_empty() {
        return Ok(0);
    }
    crate::file::parse_duration(&s)
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| {
            format!(
                "not a valid duration string: {}",
                promlite_model::go_quote(&s)
            )
        })
}

/// Prometheus's `model.Duration.String()`: `1h30m`, `0s`, `500ms`.
fn model_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    for (unit, len) in crate::file::UNITS {
        if rest >= len {
            let _ = write!(out, "{}{unit}", rest / len);
            rest %= len;
        }
    }
    out
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn format_e_shortest(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:E}");
    let (m, e) = s.split_once('E').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

// ---------------------------------------------------------------------------------------
// Running.

struct Setup {
    rule_files: Vec<(String, RuleGroups)>,
    rule_error: Option<String>,
    eval_interval: i64,
    default_interval: Option<Yaml>,
    order: Vec<String>,
    fuzzy: bool,
}

impl Setup {
    fn new(file: &FileYaml, dir: &Path, ignore_unknown_fields: bool) -> Result<Setup, String> {
        let loader = crate::RuleFileOptions::new().ignore_unknown_fields(ignore_unknown_fields);
        let eval_interval = match duration_ms(file.evaluation_interval.as_ref())? {
            0 => 60_000,
            d => d,
        };
        let mut seen = std::collections::HashSet::new();
        for g in &file.group_eval_order {
            if !seen.insert(g) {
                return Err(format!("group name repeated in evaluation order: {g}"));
            }
        }
        let mut rule_files = Vec::new();
        let mut rule_error = None;
        for pattern in &file.rule_files {
            let full = if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                dir.join(pattern)
            };
            let text = full.to_string_lossy().into_owned();
            let paths: Vec<PathBuf> = match glob::glob(&text) {
                Ok(p) => p.flatten().collect(),
                Err(e) => return Err(format!("{text}: {e}")),
            };
            let paths = if paths.is_empty() { vec![full] } else { paths };
            for p in paths {
                match loader.load(&p) {
                    Ok(rg) => rule_files.push((p.display().to_string(), rg)),
                    Err(errs) => {
                        rule_error.get_or_insert_with(|| {
                            errs.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("\n")
                        });
                    }
                }
            }
        }
        Ok(Setup {
            rule_files,
            rule_error,
            eval_interval,
            default_interval: file.evaluation_interval.clone(),
            order: file.group_eval_order.clone(),
            fuzzy: file.fuzzy_compare,
        })
    }
}

/// One input series: labels and (timestamp offset, value) pairs.
struct Input {
    labels: Labels,
    samples: Vec<(i64, InputValue)>,
    next: usize,
    prev_hist: Option<FloatHistogram>,
}

#[derive(Clone)]
enum InputValue {
    Float(f64),
    Hist(Box<FloatHistogram>),
}

fn run_group(setup: &Setup, tg: &TestGroupYaml) -> Result<Vec<String>, String> {
    let interval = match tg.interval.as_ref() {
        Some(v) => duration_ms(Some(v))?,
        None => duration_ms(setup.default_interval.as_ref())?,
    };
    let interval = if interval == 0 {
        setup.eval_interval
    } else {
        interval
    };
    let mint = start_timestamp(tg.start_timestamp.as_ref())?;

    let mut inputs = Vec::new();
    for s in &tg.input_series {
        let text = s.values.as_ref().and_then(scalar).unwrap_or_default();
        // promtool parses `SERIES VALUES` as one line, so an unclosed `{` is reported
        // where the values begin; parsing the line the same way gives its message.
        let labels = parse_series_labels(&s.series).map_err(|e| {
            parse_series_labels(&format!("{} {text}", s.series))
                .err()
                .unwrap_or(e)
        })?;
        let values = parse_values(&text)?;
        let samples = values
            .into_iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (mint + k as i64 * interval, v)))
            .collect();
        inputs.push(Input {
            labels,
            samples,
            next: 0,
            prev_hist: None,
        });
    }
    if let Some(e) = &setup.rule_error {
        return Err(e.clone());
    }

    let store = Arc::new(MemStore::new());
    let engine = Arc::new(Engine::new(EngineOptions::new()));
    let mut opts = EvalOptions::new(engine.clone(), store.clone(), store.clone());
    opts.external_labels = tg.external_labels.clone();
    opts.external_url.clone_from(&tg.external_url);
    opts.default_interval = std::time::Duration::from_millis(setup.eval_interval as u64);
    let opts = Arc::new(opts);
    let mut groups: Vec<Group> = Vec::new();
    for (file, rg) in &setup.rule_files {
        for g in &rg.groups {
            groups.push(Group::new(file, g, opts.clone()));
        }
    }
    if !setup.order.is_empty() {
        let pos = |g: &Group| setup.order.iter().position(|n| n == g.name());
        for g in &groups {
            if pos(g).is_none() {
                return Err(format!(
                    "group {} not found in group_eval_order",
                    promlite_model::go_quote(g.name())
                ));
            }
        }
        groups.sort_by_key(|g| pos(g));
    }

    // Alert tests by eval time.
    let mut alert_tests: BTreeMap<i64, Vec<&AlertTestYaml>> = BTreeMap::new();
    for a in &tg.alert_rule_test {
        alert_tests
            .entry(duration_ms(a.eval_time.as_ref())?)
            .or_default()
            .push(a);
    }
    let mut max_eval = alert_tests.keys().last().copied().unwrap_or(0);
    for e in &tg.promql_expr_test {
        max_eval = max_eval.max(duration_ms(e.eval_time.as_ref())?);
    }
    let times: Vec<i64> = alert_tests.keys().copied().collect();
    let mut curr = 0;
    let mut errs = Vec::new();
    let test_name = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };
    let mut ts = mint;
    while ts <= mint + max_eval {
        load_till(store.as_ref(), &mut inputs, ts)?;
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(ts);
            for r in g.snapshot().rules {
                if let Some(e) = r.last_error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name,
                        go_duration((ts - mint) * 1_000_000)
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return Ok(errs);
        }
        while curr < times.len()
            && ts - mint <= times[curr]
            && times[curr] < ts + setup.eval_interval - mint
        {
            let t = times[curr];
            for case in &alert_tests[&t] {
                let mut got: Vec<(Labels, Labels)> = groups
                    .iter()
                    .flat_map(|g| g.alerts_of(&case.alertname))
                    .filter(|a| a.state == AlertState::Firing)
                    .map(|a| (a.labels, a.annotations))
                    .collect();
                let mut exp: Vec<(Labels, Labels)> = case
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l = a.exp_labels.clone();
                        l.insert("alertname".into(), case.alertname.clone());
                        (
                            Labels::from_pairs(l),
                            Labels::from_pairs(a.exp_annotations.clone()),
                        )
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    errs.push(format!(
                        "{test_name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        case.alertname,
                        model_duration(t),
                        indent(&alerts_string(&exp), "            "),
                        indent(&alerts_string(&got), "            ")
                    ));
                }
            }
            curr += 1;
        }
        ts += setup.eval_interval;
    }

    for case in &tg.promql_expr_test {
        let t = duration_ms(case.eval_time.as_ref())?;
        let when = model_duration(t);
        let got = match engine.instant_query(store.as_ref(), &case.expr, mint + t) {
            Ok(r) => match r.value {
                Value::Vector(v) => v
                    .into_iter()
                    .map(|s| Parsed {
                        labels: s.metric,
                        value: s.f,
                        histogram: s.h.map(|h| histogram_text(&h)).unwrap_or_default(),
                    })
                    .collect::<Vec<_>>(),
                Value::Scalar { v, .. } => vec![Parsed {
                    labels: Labels::empty(),
                    value: v,
                    histogram: String::new(),
                }],
                _ => {
                    errs.push(format!(
                        "    expr: {}, time: {when}, err: rule result is not a vector or scalar",
                        promlite_model::go_quote(&case.expr)
                    ));
                    continue;
                }
            },
            Err(e) => {
                errs.push(format!(
                    "    expr: {}, time: {when}, err: {e}",
                    promlite_model::go_quote(&case.expr)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        let mut bad = None;
        for s in &case.exp_samples {
            let r = parse_series_labels(&s.labels).and_then(|labels| {
                let histogram = if s.histogram.is_empty() {
                    String::new()
                } else {
                    match parse_values(&s.histogram)?.as_slice() {
                        [Some(InputValue::Hist(h))] => histogram_text(h),
                        _ => return Err(format!("expected histogram, got {}", s.histogram)),
                    }
                };
                Ok(Parsed {
                    labels,
                    value: s.value,
                    histogram,
                })
            });
            match r {
                Ok(p) => exp.push(p),
                Err(e) => {
                    bad = Some(format!(
                        "labels {}: {e}",
                        promlite_model::go_quote(&s.labels)
                    ));
                    break;
                }
            }
        }
        if let Some(e) = bad {
            errs.push(format!(
                "    expr: {}, time: {when}, err: {e}",
                promlite_model::go_quote(&case.expr)
            ));
            continue;
        }
        let mut got = got;
        exp.sort_by(|a, b| a.labels.cmp(&b.labels));
        got.sort_by(|a, b| a.labels.cmp(&b.labels));
        let same = exp.len() == got.len()
            && exp.iter().zip(&got).all(|(e, g)| {
                e.labels == g.labels
                    && e.histogram == g.histogram
                    && same_float(e.value, g.value, setup.fuzzy)
            });
        if !same {
            errs.push(format!(
                "    expr: {}, time: {when},\n        exp: {}\n        got: {}",
                promlite_model::go_quote(&case.expr),
                samples_string(&exp),
                samples_string(&got)
            ));
        }
    }
    Ok(errs)
}

/// promtool compares with `==` (so NaN never matches), or with `fuzzy_compare` also
/// accepts the neighbouring floats one unit in the last place away.
fn same_float(a: f64, b: f64, fuzzy: bool) -> bool {
    a == b
        || (fuzzy && (next_toward(a, f64::INFINITY) == b || next_toward(a, f64::NEG_INFINITY) == b))
}

/// Go's `math.Nextafter(x, toward)` for an infinite `toward`.
fn next_toward(x: f64, toward: f64) -> f64 {
    if x.is_nan() || x == toward {
        return x;
    }
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if toward > 0.0 { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let up = (toward > x) == (x > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

struct Parsed {
    labels: Labels,
    value: f64,
    histogram: String,
}

fn samples_string(s: &[Parsed]) -> String {
    if s.is_empty() {
        return "nil".into();
    }
    s.iter()
        .map(|p| {
            if p.histogram.is_empty() {
                format!("{} {}", p.labels, format_e_shortest(p.value))
            } else {
                format!("{} {}", p.labels, p.histogram)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn alerts_string(a: &[(Labels, Labels)]) -> String {
    if a.is_empty() {
        return "[]".into();
    }
    let one = |(l, an): &(Labels, Labels)| format!("Labels:{l}\nAnnotations:{an}");
    let mut s = format!("[\n0:{}", indent(&format!("\n{}", one(&a[0])), "  "));
    for (i, x) in a.iter().enumerate().skip(1) {
        let _ = write!(s, ",\n{i}:{}", indent(&format!("\n{}", one(x)), "  "));
    }
    s.push_str("\n]");
    s
}

/// promtool's `indentLines`: every line but the first gets `ind`.
fn indent(s: &str, ind: &str) -> String {
    s.split('\n')
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_owned()
            } else {
                format!("{ind}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn start_timestamp(v: Option<&Yaml>) -> Result<i64, String> {
    let Some(v) = v else { return Ok(0) };
    let s = scalar(v).ok_or("start_timestamp must be a scalar")?;
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1000.0).round() as i64);
    }
    parse_rfc3339(&s)
        .ok_or_else(|| format!("invalid start_timestamp {}", promlite_model::go_quote(&s)))
}

/// `2024-01-01T00:00:00Z` or with a `±hh:mm` offset and fractional seconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac_ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = format!("{:0<3}", &s[start..i]);
        frac_ms = digits[..3].parse().ok()?;
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && tz.is_ascii() => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz.get(1..3)?.parse::<i64>().ok()? * 3600
                + tz.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = promlite_model::time::days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset) * 1000) + frac_ms)
}

fn parse_series_labels(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    if s.is_empty() || s == "{}" {
        return Ok(Labels::empty());
    }
    let matchers = promlite_promql::parse_metric_selector(s).map_err(|e| e.to_string())?;
    Ok(Labels::from_pairs(
        matchers
            .iter()
            .map(|m| (m.name().to_owned(), m.value().to_owned())),
    ))
}

/// Appends the input samples with timestamps up to `ts`.
fn load_till(store: &MemStore, inputs: &mut [Input], ts: i64) -> Result<(), String> {
    let mut app = store.appender();
    for inp in inputs.iter_mut() {
        while let Some((t, v)) = inp.samples.get(inp.next).cloned() {
            if t > ts {
                break;
            }
            inp.next += 1;
            let r = match v {
                InputValue::Float(f) => app.append(SeriesRef::NONE, &inp.labels, t, f),
                InputValue::Hist(mut h) => {
                    // A store reading histograms back from chunks reports whether each
                    // one follows a counter reset; do the same for loaded series.
                    if h.counter_reset_hint == CounterResetHint::Unknown
                        && let Some(prev) = &inp.prev_hist
                    {
                        h.counter_reset_hint = if is_reset(prev, &h) {
                            CounterResetHint::CounterReset
                        } else {
                            CounterResetHint::NotCounterReset
                        };
                    }
                    inp.prev_hist = Some((*h).clone());
                    app.append_histogram(SeriesRef::NONE, &inp.labels, t, HistogramRef::Float(&h))
                }
            };
            r.map_err(|e| e.to_string())?;
        }
    }
    app.commit().map_err(|e| e.to_string())
}

fn is_reset(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    if cur.count < prev.count || cur.zero_count < prev.zero_count || cur.schema != prev.schema {
        return true;
    }
    let p = bucket_map(&prev.positive_spans, &prev.positive_buckets);
    let c = bucket_map(&cur.positive_spans, &cur.positive_buckets);
    p.iter().any(|(i, v)| c.get(i).copied().unwrap_or(0.0) < *v)
}

fn bucket_map(spans: &[Span], buckets: &[f64]) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    let mut idx = 0i32;
    let mut k = 0;
    for s in spans {
        idx += s.offset;
        for _ in 0..s.length {
            if let Some(v) = buckets.get(k) {
                m.insert(idx, *v);
            }
            k += 1;
            idx += 1;
        }
    }
    m
}

/// Spans and buckets from an index map: one span from the first to the last non-zero
/// bucket (what Prometheus's `Compact` leaves for test expressions).
fn from_bucket_map(m: &BTreeMap<i32, f64>) -> (Vec<Span>, Vec<f64>) {
    let nz: Vec<(&i32, &f64)> = m.iter().filter(|(_, v)| **v != 0.0).collect();
    let (Some(first), Some(last)) = (nz.first(), nz.last()) else {
        return (Vec::new(), Vec::new());
    };
    let (lo, hi) = (*first.0, *last.0);
    let buckets: Vec<f64> = (lo..=hi)
        .map(|i| m.get(&i).copied().unwrap_or(0.0))
        .collect();
    (
        vec![Span {
            offset: lo,
            length: buckets.len() as u32,
        }],
        buckets,
    )
}

/// Prometheus's `FloatHistogram.TestExpression()`.
fn histogram_text(h: &FloatHistogram) -> String {
    let mut res: Vec<String> = Vec::new();
    if h.schema != 0 {
        res.push(format!("schema:{}", h.schema));
    }
    if h.count != 0.0 {
        res.push(format!("count:{}", float_v(h.count)));
    }
    if h.sum != 0.0 {
        res.push(format!("sum:{}", float_v(h.sum)));
    }
    if h.zero_count != 0.0 {
        res.push(format!("z_bucket:{}", float_v(h.zero_count)));
    }
    if h.zero_threshold != 0.0 {
        res.push(format!("z_bucket_w:{}", float_v(h.zero_threshold)));
    }
    if !h.custom_values.is_empty() {
        let v: Vec<String> = h.custom_values.iter().map(|x| float_v(*x)).collect();
        res.push(format!("custom_values:[{}]", v.join(" ")));
    }
    match h.counter_reset_hint {
        CounterResetHint::Unknown => {}
        CounterResetHint::CounterReset => res.push("counter_reset_hint:reset".into()),
        CounterResetHint::NotCounterReset => res.push("counter_reset_hint:not_reset".into()),
        CounterResetHint::Gauge => res.push("counter_reset_hint:gauge".into()),
    }
    for (spans, buckets, bkey, okey) in [
        (&h.positive_spans, &h.positive_buckets, "buckets", "offset"),
        (
            &h.negative_spans,
            &h.negative_buckets,
            "n_buckets",
            "n_offset",
        ),
    ] {
        let (spans, buckets) = from_bucket_map(&bucket_map(spans, buckets));
        if let Some(s) = spans.first()
            && s.offset != 0
        {
            res.push(format!("{okey}:{}", s.offset));
        }
        if !buckets.is_empty() {
            let v: Vec<String> = buckets.iter().map(|x| float_v(*x)).collect();
            res.push(format!("{bkey}:[{}]", v.join(" ")));
        }
    }
    format!("{{{{{}}}}}", res.join(" "))
}

// ---------------------------------------------------------------------------------------
// Series values: the expanding notation, parsed by promqltest's series parser.

/// The values of an `input_series` entry, in the expanding notation promqltest reads.
fn parse_values(s: &str) -> Result<Vec<Option<InputValue>>, String> {
    use promlite_promql::promqltest::{SeriesValue, parse_series_values};
    Ok(parse_series_values(s)?
        .into_iter()
        .map(|v| match v {
            SeriesValue::Omitted => None,
            SeriesValue::Float(f) => Some(InputValue::Float(f)),
            SeriesValue::Histogram(h) => Some(InputValue::Hist(Box::new(h))),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_promtool() {
        assert_eq!(model_duration(0), "0s");
        assert_eq!(model_duration(90_000), "1m30s");
        assert_eq!(model_duration(3_600_000), "1h");
        assert_eq!(model_duration(299_000), "4m59s");
        assert_eq!(format_e_shortest(1.0), "1E+00");
        assert_eq!(format_e_shortest(0.0), "0E+00");
        assert_eq!(format_e_shortest(60.0), "6E+01");
        assert_eq!(format_e_shortest(1.5), "1.5E+00");
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z"),
            Some(1_704_067_200_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T01:00:00.5+01:00"),
            Some(1_704_067_200_500)
        );
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00+0é00"), None);
        assert!(same_float(3.0, 3.000_000_000_000_000_4, true));
        assert!(same_float(3.0, 2.999_999_999_999_999_6, true));
        assert!(!same_float(3.0, 2.999_999_999_999_998_7, true));
        assert!(!same_float(3.0, 3.000_000_000_000_000_4, false));
        assert!(!same_float(f64::NAN, f64::NAN, true));
    }

    #[test]
    fn expanding_notation() {
        let v = parse_values("1+1x2 _ stale 5x1 _x2").unwrap();
        let f: Vec<Option<f64>> = v
            .iter()
            .map(|x| match x {
                Some(InputValue::Float(f)) => Some(*f),
                _ => None,
            })
            .collect();
        assert_eq!(f.len(), 9);
        assert_eq!(&f[..3], &[Some(1.0), Some(2.0), Some(3.0)]);
        assert!(f[4].is_some_and(promlite_model::is_stale_nan));
        assert_eq!(&f[5..], &[Some(5.0), Some(5.0), None, None]);
        let h = parse_values("{{sum:3 count:2 buckets:[2]}}+{{sum:1.3 count:1 buckets:[1]}}x2")
            .unwrap();
        let Some(Some(InputValue::Hist(last))) = h.last() else {
            panic!("not a histogram")
        };
        assert_eq!(histogram_text(last), "{{count:4 sum:5.6 buckets:[4]}}");
    }
}
