//! Rule files: the decoded types, their YAML twins, and Prometheus's validation.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use promlite_model::{METRIC_NAME, ValidationScheme, is_valid_label_name, is_valid_metric_name};
use promlite_promql::{Expr, Parser, ParserOptions};
use serde::Deserialize;

use crate::Error;
use crate::position::{self, GroupPos, RulePos};
use crate::template;

/// A rule file: its groups, in file order.
#[derive(Debug, Clone, Default)]
pub struct RuleGroups {
    /// The groups.
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated one after the other at the same interval.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// The group's name, unique in its file.
    pub name: String,
    /// How often the group is evaluated; the global `evaluation_interval` when absent.
    pub interval: Option<Duration>,
    /// How far in the past queries look; the global `rule_query_offset` when absent.
    pub query_offset: Option<Duration>,
    /// The most alerts or series one rule may produce; 0 (or less) for no limit.
    pub limit: i64,
    /// Labels added to every rule's output, overridden by the rule's own.
    pub labels: BTreeMap<String, String>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Rule {
    /// A rule that stores its expression's result as a new series.
    Recording(RecordingRule),
    /// A rule that fires alerts while its expression returns something.
    Alerting(AlertingRule),
}

impl Rule {
    /// The `record` or `alert` name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.record,
            Rule::Alerting(a) => &a.alert,
        }
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alerting(a) => &a.expr,
        }
    }

    /// The rule's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Rule::Recording(r) => &r.labels,
            Rule::Alerting(a) => &a.labels,
        }
    }
}

/// `record: NAME` with its expression.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    /// The metric name of the new series.
    pub record: String,
    /// The expression as written.
    pub expr: String,
    /// The expression, parsed.
    pub query: Expr,
    /// Labels added to (or replacing those of) the result.
    pub labels: BTreeMap<String, String>,
}

/// `alert: NAME` with its expression, durations, labels and annotations.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    /// The alert's name.
    pub alert: String,
    /// The expression as written.
    pub expr: String,
    /// The expression, parsed.
    pub query: Expr,
    /// How long the expression must return a series before the alert fires (`for`).
    pub for_duration: Duration,
    /// How long the alert keeps firing after the expression stops returning it.
    pub keep_firing_for: Duration,
    /// Labels added to the alert; values are templates.
    pub labels: BTreeMap<String, String>,
    /// Annotations of the alert; values are templates.
    pub annotations: BTreeMap<String, String>,
}

/// How rule files are read: Prometheus's options of `rulefmt.Parse`.
///
/// ```
/// use promlite_model::ValidationScheme;
/// use promlite_rules::RuleFileOptions;
///
/// let opts = RuleFileOptions::new().validation_scheme(ValidationScheme::Legacy);
/// let yaml = "groups: [{name: g, rules: [{record: 'a-b', expr: up}]}]";
/// let errs = opts.from_yaml(yaml, "r.yml".as_ref()).unwrap_err();
/// assert!(errs[0].to_string().ends_with("invalid recording rule name: a-b"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleFileOptions {
    scheme: ValidationScheme,
    parser: ParserOptions,
    ignore_unknown_fields: bool,
}

impl RuleFileOptions {
    /// Prometheus 3's defaults: UTF-8 names, no experimental PromQL, unknown fields
    /// rejected.
    pub fn new() -> Self {
        Self::default()
    }

    /// Which metric, label and annotation names are valid.
    pub fn validation_scheme(mut self, scheme: ValidationScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The PromQL features expressions may use.
    pub fn parser_options(mut self, parser: ParserOptions) -> Self {
        self.parser = parser;
        self
    }

    /// Accept fields Prometheus does not know (promtool's `--ignore-unknown-fields`).
    pub fn ignore_unknown_fields(mut self, on: bool) -> Self {
        self.ignore_unknown_fields = on;
        self
    }

    /// Reads and validates the rule file at `path`.
    pub fn load(&self, path: &Path) -> Result<RuleGroups, Vec<Error>> {
        let src = std::fs::read_to_string(path).map_err(|source| {
            vec![Error::Io {
                path: path.to_owned(),
                source,
            }]
        })?;
        self.from_yaml(&src, path)
    }

    /// Validates `src`, the content of `path` (used in messages only). All problems are
    /// returned, in Prometheus's order.
    pub fn from_yaml(&self, src: &str, path: &Path) -> Result<RuleGroups, Vec<Error>> {
        let file = decode(src, path, self.ignore_unknown_fields)?;
        let positions = position::index(src);
        validate(file, &positions, path, *self)
    }
}

impl RuleGroups {
    /// Reads and validates the rule file at `path` with the default options.
    pub fn load(path: impl AsRef<Path>) -> Result<RuleGroups, Vec<Error>> {
        RuleFileOptions::new().load(path.as_ref())
    }

    /// Validates `src`, the content of `path`, with the default options.
    pub fn from_yaml(src: &str, path: &Path) -> Result<RuleGroups, Vec<Error>> {
        RuleFileOptions::new().from_yaml(src, path)
    }

    /// How many rules the file holds (what promtool prints as `N rules found`).
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

// The YAML twins. Every field is optional at this stage because Prometheus decodes first
// and validates afterwards, so a missing `expr` is a validation error with a rule name
// and position, not a decoding error.

#[derive(Deserialize, Default)]
struct FileYaml {
    #[serde(default)]
    groups: Option<Vec<GroupYaml>>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_norway::Value>,
}

#[derive(Deserialize, Default)]
struct GroupYaml {
    #[serde(default)]
    name: Option<Text>,
    #[serde(default)]
    interval: Option<DurationYaml>,
    #[serde(default)]
    query_offset: Option<DurationYaml>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    rules: Option<Vec<RuleYaml>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Text>>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_norway::Value>,
}

#[derive(Deserialize, Default)]
struct RuleYaml {
    #[serde(default)]
    record: Option<Text>,
    #[serde(default)]
    alert: Option<Text>,
    #[serde(default)]
    expr: Option<Text>,
    #[serde(default, rename = "for")]
    for_duration: Option<DurationYaml>,
    #[serde(default)]
    keep_firing_for: Option<DurationYaml>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Text>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, Text>>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_norway::Value>,
}

/// A string, or any other scalar as its text: Go's YAML decoder gives `expr: 1` or
/// `severity: 2` to a string field, and so must we.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn text(t: Option<Text>) -> String {
    t.map(|t| t.0).unwrap_or_default()
}

fn texts(m: Option<BTreeMap<String, Text>>) -> BTreeMap<String, String> {
    m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// A duration in Prometheus's syntax (`5m`, `1h30m`, `0`), decoded from its string.
struct DurationYaml(Duration);

impl<'de> Deserialize<'de> for DurationYaml {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(s) = Text::deserialize(d)?;
        parse_duration(&s).map(DurationYaml).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "not a valid duration string: {}",
                promlite_model::go_quote(&s)
            ))
        })
    }
}

/// Prometheus's duration units with their length in milliseconds, largest first.
pub(crate) const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Prometheus's `model.ParseDuration`: `0`, or numbers with units from largest to
/// smallest (`y`, `w`, `d`, `h`, `m`, `s`, `ms`), each at most once.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut next_unit = 0;
    let mut ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // `ms` before `m`, so the longer unit wins.
        let (i, (unit, len)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| rest.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())?;
        rest = &rest[unit.len()..];
        next_unit = i + 1;
        ms = ms.checked_add(n.checked_mul(*len)?)?;
    }
    (!s.is_empty()).then(|| Duration::from_millis(ms))
}

/// Decodes the file into its YAML twin, with Prometheus's treatment of empty files,
/// merge keys and unknown fields.
/// Errors come as a list of one, the shape every loading step returns.
fn decode(src: &str, path: &Path, ignore_unknown: bool) -> Result<FileYaml, Vec<Error>> {
    let yaml_err = |e: &serde_norway::Error| vec![yaml_error(path, e)];
    // Prometheus ignores an empty document (the decoder's io.EOF).
    let value: serde_norway::Value = serde_norway::from_str(src).map_err(|e| yaml_err(&e))?;
    if value.is_null() {
        return Ok(FileYaml::default());
    }
    // Decoding the text directly keeps serde_norway's positions for type errors; only
    // merge keys (`<<: *anchor`), which serde_norway leaves to the caller, need the
    // merged value tree, where positions are gone.
    let file: FileYaml = if src.contains("<<") {
        let mut value = value;
        value.apply_merge().map_err(|e| yaml_err(&e))?;
        serde_norway::from_value(value).map_err(|e| yaml_err(&e))?
    } else {
        serde_norway::from_str(src).map_err(|e| yaml_err(&e))?
    };
    if !ignore_unknown {
        unknown_fields(&file, src, path)?;
    }
    Ok(file)
}

/// Prometheus's strict decoding names the first unknown field with its Go type.
fn unknown_fields(file: &FileYaml, src: &str, path: &Path) -> Result<(), Vec<Error>> {
    let positions = position::index(src);
    let fail = |key: &str, ty: &str, at: Option<(usize, usize)>| {
        vec![Error::Yaml {
            path: path.to_owned(),
            position: at,
            message: format!("field {key} not found in type rulefmt.{ty}"),
        }]
    };
    if let Some(k) = file.unknown.keys().next() {
        return Err(fail(k, "RuleGroups", find_line_key(src, 1, k)));
    }
    for (gi, g) in file.groups.iter().flatten().enumerate() {
        let gpos = positions.get(gi).and_then(|p| p.at);
        if let Some(k) = g.unknown.keys().next() {
            let at = gpos.and_then(|(l, _)| find_line_key(src, l, k));
            return Err(fail(k, "RuleGroup", at));
        }
        for (ri, r) in g.rules.iter().flatten().enumerate() {
            if let Some(k) = r.unknown.keys().next() {
                let rpos = positions
                    .get(gi)
                    .and_then(|p| p.rules.get(ri))
                    .and_then(|p| p.at);
                let at = rpos.and_then(|(l, _)| find_line_key(src, l, k));
                return Err(fail(k, "Rule", at));
            }
        }
    }
    Ok(())
}

/// The first `key:` at or after `from_line`, as line and column.
fn find_line_key(src: &str, from_line: usize, key: &str) -> Option<(usize, usize)> {
    src.lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find_map(|(i, l)| {
            let t = l.trim_start_matches([' ', '-']);
            let t2 = t.strip_prefix(key)?;
            t2.trim_start()
                .starts_with(':')
                .then(|| (i + 1, l.len() - t.len() + 1))
        })
}

fn yaml_error(path: &Path, e: &serde_norway::Error) -> Error {
    let mut message = e.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    Error::Yaml {
        path: path.to_owned(),
        position: e.location().map(|l| (l.line(), l.column())),
        message,
    }
}

/// Prometheus's `RuleGroups.Validate`: every problem of every group and rule, in order.
fn validate(
    file: FileYaml,
    positions: &[GroupPos],
    path: &Path,
    opts: RuleFileOptions,
) -> Result<RuleGroups, Vec<Error>> {
    let parser = Parser::new(opts.parser);
    let scheme = opts.scheme;
    let mut errs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut groups = Vec::new();
    for (gi, g) in file.groups.unwrap_or_default().into_iter().enumerate() {
        let gpos = positions.get(gi).cloned().unwrap_or_default();
        let name = text(g.name);
        let group_err = |message: String| Error::Group {
            path: path.to_owned(),
            position: gpos.at,
            group: name.clone(),
            message,
        };
        if name.is_empty() {
            errs.push(group_err("Groupname must not be empty".into()));
        }
        if !seen.insert(name.clone()) {
            errs.push(group_err(format!(
                "groupname: \"{name}\" is repeated in the same file"
            )));
        }
        let labels = texts(g.labels);
        for k in labels.keys() {
            if !is_valid_label_name(k, scheme) || k == METRIC_NAME {
                // Prometheus reports group labels without a position.
                errs.push(Error::Group {
                    path: path.to_owned(),
                    position: None,
                    group: name.clone(),
                    message: format!("invalid label name: {k}"),
                });
            }
        }
        let mut rules = Vec::new();
        for (ri, r) in g.rules.unwrap_or_default().into_iter().enumerate() {
            let rpos = gpos.rules.get(ri).copied().unwrap_or_default();
            match validate_rule(r, rpos, parser, scheme) {
                Ok(rule) => rules.push(rule),
                Err((rule_name, problems)) => {
                    errs.extend(problems.into_iter().map(|p| Error::Rule {
                        path: path.to_owned(),
                        position: p.position,
                        alt_position: p.alt_position,
                        group: name.clone(),
                        rule: ri + 1,
                        name: rule_name.clone(),
                        message: p.message,
                    }));
                }
            }
        }
        groups.push(RuleGroup {
            name,
            interval: g.interval.map(|d| d.0),
            query_offset: g.query_offset.map(|d| d.0),
            limit: g.limit.unwrap_or(0),
            labels,
            rules,
        });
    }
    if errs.is_empty() {
        Ok(RuleGroups { groups })
    } else {
        Err(errs)
    }
}

struct Problem {
    position: Option<(usize, usize)>,
    alt_position: Option<(usize, usize)>,
    message: String,
}

fn problem(position: Option<(usize, usize)>, message: impl Into<String>) -> Problem {
    Problem {
        position,
        alt_position: None,
        message: message.into(),
    }
}

/// Prometheus's `Rule.Validate`, in its order. A missing `record`/`alert`/`expr` node
/// is printed by Prometheus as `0:0:`; we give the rule's own position instead.
fn validate_rule(
    r: RuleYaml,
    pos: RulePos,
    parser: Parser,
    scheme: ValidationScheme,
) -> Result<Rule, (String, Vec<Problem>)> {
    let record = text(r.record);
    let alert = text(r.alert);
    let expr = text(r.expr);
    let for_duration = r.for_duration.map_or(Duration::ZERO, |d| d.0);
    let keep_firing_for = r.keep_firing_for.map_or(Duration::ZERO, |d| d.0);
    let labels = texts(r.labels);
    let annotations = texts(r.annotations);
    let mut problems = Vec::new();

    if !record.is_empty() && !alert.is_empty() {
        problems.push(Problem {
            position: pos.record,
            alt_position: pos.alert,
            message: "only one of 'record' and 'alert' must be set".into(),
        });
    }
    if record.is_empty() && alert.is_empty() {
        problems.push(problem(pos.at, "one of 'record' or 'alert' must be set"));
    }
    let mut query = None;
    if expr.is_empty() {
        problems.push(problem(
            pos.expr.or(pos.at),
            "field 'expr' must be set in rule",
        ));
    } else {
        match parser.parse(&expr) {
            Ok(q) => query = Some(q),
            Err(e) => problems.push(problem(
                pos.expr,
                format!("could not parse expression: {e}"),
            )),
        }
    }
    if !record.is_empty() {
        if !annotations.is_empty() {
            problems.push(problem(
                pos.record,
                "invalid field 'annotations' in recording rule",
            ));
        }
        if !for_duration.is_zero() {
            problems.push(problem(pos.record, "invalid field 'for' in recording rule"));
        }
        if !keep_firing_for.is_zero() {
            problems.push(problem(
                pos.record,
                "invalid field 'keep_firing_for' in recording rule",
            ));
        }
        if !is_valid_metric_name(&record, scheme) {
            problems.push(problem(
                pos.record,
                format!("invalid recording rule name: {record}"),
            ));
        }
        // A PromQL selector pasted into `record` is valid UTF-8, so Prometheus rejects
        // braces explicitly.
        if record.contains(['{', '}']) {
            problems.push(problem(
                pos.record,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {record}"
                ),
            ));
        }
    }
    // Go's label values are checked for UTF-8; Rust strings always are.
    for k in labels.keys() {
        if !is_valid_label_name(k, scheme) || k == METRIC_NAME {
            problems.push(problem(None, format!("invalid label name: {k}")));
        }
    }
    for k in annotations.keys() {
        if !is_valid_label_name(k, scheme) {
            problems.push(problem(None, format!("invalid annotation name: {k}")));
        }
    }
    if !alert.is_empty() {
        for (kind, map) in [("label", &labels), ("annotation", &annotations)] {
            for (k, v) in map {
                if let Err(e) = template::check(&alert, v) {
                    problems.push(problem(
                        None,
                        format!("{kind} {}: {e}", promlite_model::go_quote(k)),
                    ));
                }
            }
        }
    }

    let name = if alert.is_empty() {
        record.clone()
    } else {
        alert.clone()
    };
    match query {
        Some(query) if problems.is_empty() => Ok(if alert.is_empty() {
            Rule::Recording(RecordingRule {
                record,
                expr,
                query,
                labels,
            })
        } else {
            Rule::Alerting(AlertingRule {
                alert,
                expr,
                query,
                for_duration,
                keep_firing_for,
                labels,
                annotations,
            })
        }),
        _ => Err((name, problems)),
    }
}

/// promtool's duplicate-rule lint: rules of the file with the same name and the same
/// labels (group labels overridden by the rule's), each reported once, sorted.
pub fn duplicate_rules(groups: &RuleGroups) -> Vec<(String, BTreeMap<String, String>)> {
    let mut all: Vec<(String, BTreeMap<String, String>)> = groups
        .groups
        .iter()
        .flat_map(|g| {
            g.rules.iter().map(|r| {
                let mut labels = g.labels.clone();
                labels.extend(r.labels().iter().map(|(k, v)| (k.clone(), v.clone())));
                (r.name().to_owned(), labels)
            })
        })
        .collect();
    all.sort();
    let mut dups: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] && dups.last() != Some(&w[1]) {
            dups.push(w[1].clone());
        }
    }
    dups
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_follow_prometheus() {
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_mins(90)));
        assert_eq!(
            parse_duration("1m500ms"),
            Some(Duration::from_millis(60_500))
        );
        assert_eq!(parse_duration("30m1h"), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1.5h"), None);
    }
}
