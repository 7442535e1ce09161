//! `promlite check …`: validation tools modelled on `promtool check`.
//!
//! `check metrics` reads an exposition from a file or standard input and behaves like
//! `promtool check metrics`: a parse error is printed as `error while linting: LINE:COL:
//! message` and exits 1; lint problems are printed one per line as `metric_name problem`,
//! sorted by metric then text, and exit 3 (promtool's `lintErrExitCode`); a clean input
//! prints nothing and exits 0.
//!
//! The verdicts are promtool's: the text format is read in the exposition parser's strict
//! mode, which accepts and rejects what promtool's parser (expfmt) does and groups samples
//! into families as it does, where the scrape parser would be more lenient in some places
//! and stricter in others (`crates/cli/tests/promtool_peer.rs` compares both on a table of
//! broken inputs). One lint differs on purpose: duplicate series are reported as `metric
//! not unique`, as promtool does from Prometheus 3 on; 2.42's promlint did not check them.
//!
//! promtool only reads the text format. We also read OpenMetrics, chosen when the input's
//! last non-blank line is `# EOF` (OpenMetrics requires that line and the text format has
//! no reason to end with it), so `curl -H 'Accept: application/openmetrics-text' …`
//! output can be checked too.
//!
//! `check rules` reads rule files with `promlite_rules`, which validates them as Prometheus's
//! `rulefmt` does, and prints what `promtool check rules` prints: `SUCCESS: N rules found`,
//! or `FAILED:` with every problem (positions as `file:line:col:` where promtool prints
//! `file: line:col:`), and promtool's duplicate-rule lint.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;

use clap::Subcommand;
use promlite_exposition::{
    Entry, ErrorKind, OpenMetricsOptions, OpenMetricsParser, ParseError, Position, PromOptions,
    PromParser, TextParser,
};
use promlite_model::MetricType;

/// What to check.
#[derive(Subcommand)]
pub(crate) enum CheckCommand {
    /// Lint metrics exposition read from a file or standard input (like `promtool check
    /// metrics`). Exit codes: 0 clean, 1 parse error, 3 lint problems.
    Metrics {
        /// The file to read; standard input when absent.
        file: Option<std::path::PathBuf>,
    },
    /// Check configuration files (like `promtool check config`): `SUCCESS` or `FAILED`
    /// with the reason and its file:line:col per file; exit 1 if any failed.
    Config {
        /// The configuration files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Check rule files (like `promtool check rules`): `SUCCESS: N rules found` or
    /// `FAILED:` with every problem and its file:line:col; exit 1 if any file is invalid.
    Rules {
        /// The rule files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Linting checks to apply: `duplicate-rules`, `all` or `none`.
        #[arg(long, default_value = "duplicate-rules")]
        lint: RulesLint,
        /// Make lint problems exit with status 3.
        #[arg(long)]
        lint_fatal: bool,
        /// Ignore fields Prometheus does not know instead of failing.
        #[arg(long)]
        ignore_unknown_fields: bool,
    },
    /// Check web configuration files for `--web.config.file` (like `promtool check
    /// web-config`): `FILE SUCCESS` or `FILE FAILED: reason`; exit 1 if any failed.
    #[command(name = "web-config")]
    WebConfig {
        /// The web configuration files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// promtool's `--lint` settings for rule files.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RulesLint {
    /// No lint.
    None,
    /// Rules with the same name and labels.
    DuplicateRules,
    /// Every lint (only `duplicate-rules` exists).
    All,
}

/// promtool's exit code for lint problems.
const LINT_EXIT: u8 = 3;

pub(crate) fn run(cmd: CheckCommand) -> ExitCode {
    match cmd {
        CheckCommand::Metrics { file } => check_metrics(file.as_deref()),
        CheckCommand::Config { files } => check_config(&files),
        CheckCommand::Rules {
            files,
            lint,
            lint_fatal,
            ignore_unknown_fields,
        } => check_rules(&files, lint, lint_fatal, ignore_unknown_fields),
        CheckCommand::WebConfig { files } => check_web_config(&files),
    }
}

/// promtool's `check web-config`: one line per file on standard error.
fn check_web_config(files: &[std::path::PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        match promlite_web::WebConfig::load(f) {
            Ok(_) => eprintln!("{} SUCCESS", f.display()),
            Err(e) => {
                failed = true;
                // The error already names the file; promtool prints it once.
                let msg = e.to_string();
                let prefix = format!("{}: ", f.display());
                eprintln!(
                    "{} FAILED: {}",
                    f.display(),
                    msg.strip_prefix(&prefix).unwrap_or(&msg)
                );
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// promtool's `check rules`: per file `Checking FILE`, then `  SUCCESS: N rules found` on
/// standard output, or `  FAILED:` and one problem per line on standard error, and a
/// blank line. Invalid files exit 1; duplicate rules are reported the same way but only
/// change the exit status (to 3) with `--lint-fatal`, as in promtool.
fn check_rules(
    files: &[std::path::PathBuf],
    lint: RulesLint,
    lint_fatal: bool,
    ignore_unknown_fields: bool,
) -> ExitCode {
    let opts = promlite_rules::RuleFileOptions::new().ignore_unknown_fields(ignore_unknown_fields);
    let mut invalid = false;
    let mut linted = false;
    for f in files {
        println!("Checking {}", f.display());
        match opts.load(f) {
            Err(errs) => {
                invalid = true;
                eprintln!("  FAILED:");
                for e in errs {
                    eprintln!("{e}");
                }
            }
            Ok(rgs) => {
                let dups = if lint == RulesLint::None {
                    Vec::new()
                } else {
                    promlite_rules::duplicate_rules(&rgs)
                };
                if dups.is_empty() {
                    println!("  SUCCESS: {} rules found", rgs.rule_count());
                } else {
                    linted = true;
                    eprintln!("  FAILED:");
                    eprintln!("lint error {} duplicate rule(s) found.", dups.len());
                    for (name, labels) in &dups {
                        eprintln!("Metric: {name}\nLabel(s):");
                        for (k, v) in labels {
                            eprintln!("\t{k}: {v}");
                        }
                    }
                    eprintln!("Might cause inconsistency while recording expressions");
                }
            }
        }
        println!();
    }
    if invalid {
        ExitCode::FAILURE
    } else if linted && lint_fatal {
        ExitCode::from(LINT_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

/// promtool's `check config` output: `Checking FILE`, then ` SUCCESS: …` on standard
/// output or `  FAILED: …` on standard error, and a blank line.
fn check_config(files: &[std::path::PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        println!("Checking {}", f.display());
        match promlite_config::Config::load(f) {
            Ok(cfg) => {
                // As promtool: the rule files the configuration names (globs relative
                // to its directory) are counted here and checked after it.
                let base = f.parent().unwrap_or(std::path::Path::new("."));
                let mut rule_files = Vec::new();
                for pattern in &cfg.rule_files {
                    let full = base.join(pattern);
                    match glob::glob(&full.to_string_lossy()) {
                        Ok(paths) => rule_files.extend(paths.flatten()),
                        Err(e) => {
                            eprintln!("  FAILED: {pattern}: {e}");
                            failed = true;
                        }
                    }
                }
                if !rule_files.is_empty() {
                    println!("  SUCCESS: {} rule files found", rule_files.len());
                }
                println!(
                    " SUCCESS: {} is valid prometheus config file syntax",
                    f.display()
                );
                println!();
                if !rule_files.is_empty()
                    && check_rules(&rule_files, RulesLint::DuplicateRules, false, false)
                        != ExitCode::SUCCESS
                {
                    failed = true;
                }
                continue;
            }
            Err(e) => {
                eprintln!("  FAILED: {e}");
                failed = true;
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn check_metrics(file: Option<&std::path::Path>) -> ExitCode {
    let data = if let Some(path) = file {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map(|_| buf)
            .map_err(|e| format!("reading standard input: {e}"))
    };
    let data = match data {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match lint(&data) {
        Err(e) => {
            eprintln!("error while linting: {e}");
            ExitCode::FAILURE
        }
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for p in &problems {
                eprintln!("{} {}", p.metric, p.text);
            }
            ExitCode::from(LINT_EXIT)
        }
    }
}

/// A lint finding, as promlint reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Problem {
    pub(crate) metric: String,
    pub(crate) text: String,
}

/// A metric family as the text format groups samples: declared by HELP/TYPE, or implied
/// by a sample name.
#[derive(Default)]
struct Family {
    name: String,
    mtype: MetricType,
    has_help: bool,
    /// Label names of each series (the labels that distinguish series within the family;
    /// `le` and `quantile` of histograms and summaries do not).
    series: Vec<Vec<String>>,
    /// Sample identities seen, for the "metric not unique" check.
    samples: HashMap<String, usize>,
    duplicates: usize,
    sample_count: usize,
    /// Offset of the first sample with a label value that lossy UTF-8 decoding changed.
    replaced_value: Option<usize>,
}

/// Whether the input is OpenMetrics: it ends with a `# EOF` line.
fn is_openmetrics(data: &[u8]) -> bool {
    let end = data
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let trimmed = &data[..end];
    trimmed.ends_with(b"\n# EOF") || trimmed == b"# EOF"
}

/// Parses `data` and lints its families with promlint's rules.
///
/// The text format is parsed in strict mode, which accepts and rejects what promtool's
/// parser (expfmt) does and groups samples into families as it does. expfmt reads bytes
/// and rejects invalid UTF-8 only in label values; our parsers read `&str`, so input that
/// is not UTF-8 is read lossily and a label value holding the replacement character
/// counts as the invalid one (a genuine U+FFFD in such a file would be misjudged).
pub(crate) fn lint(data: &[u8]) -> Result<Vec<Problem>, ParseError> {
    let om = is_openmetrics(data);
    let families = if om {
        // A validation tool holds OpenMetrics input to the specification's structural
        // rules, which the scrape path (like Prometheus's) does not enforce.
        let strict = OpenMetricsOptions {
            strict: true,
            ..OpenMetricsOptions::default()
        };
        match std::str::from_utf8(data) {
            Ok(text) => collect(OpenMetricsParser::with_options(text, strict), false)?,
            Err(_) => collect(OpenMetricsParser::from_bytes(data)?, false)?,
        }
    } else if let Ok(text) = std::str::from_utf8(data) {
        collect(PromParser::with_options(text, STRICT), true)?
    } else {
        let text = String::from_utf8_lossy(data);
        let families = collect(PromParser::with_options(&text, STRICT), true)?;
        if let Some(&offset) = families.iter().find_map(|f| f.replaced_value.as_ref()) {
            return Err(ParseError::new(
                Position::in_text(text.as_bytes(), offset),
                ErrorKind::InvalidUtf8,
            ));
        }
        families
    };
    let mut problems = Vec::new();
    // expfmt drops families without samples (a HELP or TYPE alone), so promlint never
    // sees them.
    for f in families.iter().filter(|f| f.sample_count > 0) {
        lint_family(f, om, &mut problems);
    }
    problems.sort();
    Ok(problems)
}

const STRICT: PromOptions = PromOptions { strict: true };

/// Whether sample `name` belongs to family `f` (the suffixes the text format's decoder
/// folds into a family).
fn owns(f: &Family, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(f.name.as_str()) else {
        return false;
    };
    let suffixes: &[&str] = match f.mtype {
        MetricType::Histogram | MetricType::GaugeHistogram => {
            &["_bucket", "_sum", "_count", "_created", "_gsum", "_gcount"]
        }
        MetricType::Summary => &["_sum", "_count", "_created"],
        MetricType::Counter => &["_total", "_created"],
        MetricType::Info => &["_info"],
        _ => &[],
    };
    rest.is_empty() || suffixes.contains(&rest)
}

/// What `collect` keeps of an entry: owned, so the parser can be asked for the entry's
/// family once the entry (which borrows the parser) is gone.
enum Item {
    Help(String),
    Type(String, MetricType),
    Unit(String),
    Sample {
        name: String,
        labels: Vec<(String, String)>,
        offset: usize,
    },
    Other,
}

impl Item {
    fn of(e: Entry<'_>, input: &str) -> Item {
        match e {
            Entry::Help { name, .. } => Item::Help(name.to_owned()),
            Entry::Type { name, metric_type } => Item::Type(name.to_owned(), metric_type),
            Entry::Unit { name, .. } => Item::Unit(name.to_owned()),
            Entry::Series(s) => Item::Sample {
                name: s.name.to_owned(),
                labels: s
                    .labels
                    .iter()
                    .map(|l| (l.name.to_owned(), l.value.to_owned()))
                    .collect(),
                // `series` is a slice of the input: its address gives the line for errors.
                offset: (s.series.as_ptr() as usize).saturating_sub(input.as_ptr() as usize),
            },
            Entry::Comment(_) | Entry::Histogram(_) => Item::Other,
        }
    }
}

/// Groups the entries into families: as the strict parser reports them (expfmt's
/// grouping) when `strict`, else by the open family and its type's suffixes.
fn collect<const OM: bool>(
    mut p: TextParser<'_, OM>,
    strict: bool,
) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut family_for = |families: &mut Vec<Family>, name: &str| -> usize {
        *index.entry(name.to_owned()).or_insert_with(|| {
            families.push(Family {
                name: name.to_owned(),
                ..Family::default()
            });
            families.len() - 1
        })
    };
    let input = p.input();
    let mut current: Option<usize> = None;
    while let Some(item) = p.next()?.map(|e| Item::of(e, input)) {
        let grouped = if strict { p.family() } else { None };
        match item {
            Item::Help(name) => {
                let i = family_for(&mut families, grouped.unwrap_or(&name));
                families[i].has_help = true;
                current = Some(i);
            }
            Item::Type(name, metric_type) => {
                let i = family_for(&mut families, grouped.unwrap_or(&name));
                families[i].mtype = metric_type;
                current = Some(i);
            }
            Item::Unit(name) => current = Some(family_for(&mut families, &name)),
            Item::Sample {
                name,
                labels,
                offset,
            } => {
                let i = match (grouped, current) {
                    (Some(g), _) => family_for(&mut families, g),
                    (None, Some(i)) if owns(&families[i], &name) => i,
                    (None, _) => family_for(&mut families, &name),
                };
                current = Some(i);
                let f = &mut families[i];
                f.sample_count += 1;
                if f.replaced_value.is_none() && labels.iter().any(|(_, v)| v.contains('\u{FFFD}'))
                {
                    f.replaced_value = Some(offset);
                }
                let grouped_type = matches!(
                    f.mtype,
                    MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary
                );
                let mut names: Vec<String> = labels
                    .iter()
                    .filter(|(n, _)| !(grouped_type && (n == "le" || n == "quantile")))
                    .map(|(n, _)| n.clone())
                    .collect();
                names.sort();
                let mut id = name;
                let mut pairs = labels;
                pairs.sort_unstable();
                for (n, v) in pairs {
                    id.push('\u{0}');
                    id.push_str(&n);
                    id.push('\u{0}');
                    id.push_str(&v);
                }
                let seen = f.samples.entry(id).or_insert(0);
                *seen += 1;
                if *seen == 2 {
                    f.duplicates += 1;
                }
                // One label-name set per series, as promlint sees one Metric per series.
                if !f.series.contains(&names) || names.is_empty() {
                    f.series.push(names);
                }
            }
            Item::Other => {}
        }
    }
    Ok(families)
}

/// Units promlint recognises, with their base unit.
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// The first `_`-separated word of `name` that is a known unit, optionally prefixed.
fn metric_unit(name: &str) -> Option<(&str, &'static str)> {
    for word in name.split('_') {
        for &(unit, base) in UNITS {
            if word == unit
                || UNIT_PREFIXES
                    .iter()
                    .any(|p| word.strip_prefix(p) == Some(unit))
            {
                return Some((word, base));
            }
        }
    }
    None
}

fn has_camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// Lints one family. In OpenMetrics a counter family is named without `_total` (its
/// samples carry it), so that rule is checked only for the text format.
fn lint_family(f: &Family, om: bool, out: &mut Vec<Problem>) {
    let mut add = |text: String| {
        out.push(Problem {
            metric: f.name.clone(),
            text,
        });
    };
    let n = f.name.as_str();
    let t = f.mtype;
    let untyped = t == MetricType::Unknown;
    let is_histogram = matches!(t, MetricType::Histogram | MetricType::GaugeHistogram);
    let is_summary = t == MetricType::Summary;

    if !f.has_help {
        add("no help text".into());
    }
    if let Some((unit, base)) = metric_unit(n)
        && unit != base
    {
        add(format!("use base unit {base:?} instead of {unit:?}"));
    }
    let is_counter = t == MetricType::Counter;
    if is_counter && !n.ends_with("_total") && !om {
        add(r#"counter metrics should have "_total" suffix"#.into());
    } else if !untyped && !is_counter && n.ends_with("_total") {
        add(r#"non-counter metrics should not have "_total" suffix"#.into());
    }
    if !untyped && t != MetricType::Gauge && n.ends_with("_timestamp_seconds") {
        add(r#"non-gauge metrics should not have "_timestamp_seconds" suffix"#.into());
    }
    if !untyped {
        if !is_histogram && n.ends_with("_bucket") {
            add(r#"non-histogram metrics should not have "_bucket" suffix"#.into());
        }
        if !is_histogram && !is_summary && n.ends_with("_count") {
            add(r#"non-histogram and non-summary metrics should not have "_count" suffix"#.into());
        }
        if !is_histogram && !is_summary && n.ends_with("_sum") {
            add(r#"non-histogram and non-summary metrics should not have "_sum" suffix"#.into());
        }
        for labels in &f.series {
            for l in labels {
                if !is_histogram && l == "le" {
                    add(r#"non-histogram metrics should not have "le" label"#.into());
                }
                if !is_summary && l == "quantile" {
                    add(r#"non-summary metrics should not have "quantile" label"#.into());
                }
            }
        }
    }
    let lower = n.to_ascii_lowercase();
    for typename in [
        "counter",
        "gauge",
        "summary",
        "histogram",
        "gauge_histogram",
    ] {
        if lower.contains(&format!("_{typename}_")) || lower.ends_with(&format!("_{typename}")) {
            add(format!("metric name should not include type '{typename}'"));
        }
    }
    if n.contains(':') {
        add("metric names should not contain ':'".into());
    }
    if has_camel_case(n) {
        add("metric names should be written in 'snake_case' not 'camelCase'".into());
    }
    for labels in &f.series {
        for l in labels {
            if has_camel_case(l) {
                add("label names should be written in 'snake_case' not 'camelCase'".into());
            }
        }
    }
    for abbr in UNIT_ABBREVIATIONS {
        if lower.contains(&format!("_{abbr}_")) || lower.ends_with(&format!("_{abbr}")) {
            add("metric names should not contain abbreviated units".into());
        }
    }
    for _ in 0..f.duplicates {
        add("metric not unique".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(input: &str) -> Vec<String> {
        lint(input.as_bytes())
            .unwrap()
            .into_iter()
            .map(|p| format!("{} {}", p.metric, p.text))
            .collect()
    }

    #[test]
    fn promlint_rules() {
        let input = "\
# HELP requests Requests.
# TYPE requests counter
requests 1
# TYPE temp_total gauge
temp_total 1
# HELP x_count X.
# TYPE x_count gauge
x_count{le=\"1\",quantile=\"2\"} 1
# HELP httpRequests H.
# TYPE httpRequests untyped
httpRequests{pathName=\"/\"} 1
# HELP disk_kilobytes D.
# TYPE disk_kilobytes gauge
disk_kilobytes 1
# HELP up_gauge U.
# TYPE up_gauge gauge
up_gauge 1
# HELP rate:x R.
# TYPE rate:x gauge
rate:x 1
# HELP lat_ms L.
# TYPE lat_ms histogram
lat_ms_bucket{le=\"+Inf\"} 1
lat_ms_sum 1
lat_ms_count 1
# HELP dup D.
# TYPE dup gauge
dup{a=\"1\"} 1
dup{a=\"1\"} 2
";
        assert_eq!(
            problems(input),
            [
                "disk_kilobytes use base unit \"bytes\" instead of \"kilobytes\"",
                "dup metric not unique",
                "httpRequests label names should be written in 'snake_case' not 'camelCase'",
                "httpRequests metric names should be written in 'snake_case' not 'camelCase'",
                "lat_ms metric names should not contain abbreviated units",
                "rate:x metric names should not contain ':'",
                "requests counter metrics should have \"_total\" suffix",
                "temp_total no help text",
                "temp_total non-counter metrics should not have \"_total\" suffix",
                "up_gauge metric name should not include type 'gauge'",
                "x_count non-histogram and non-summary metrics should not have \"_count\" suffix",
                "x_count non-histogram metrics should not have \"le\" label",
                "x_count non-summary metrics should not have \"quantile\" label",
            ]
        );
    }

    #[test]
    fn openmetrics_is_detected_by_its_eof() {
        assert!(is_openmetrics(b"a 1\n# EOF\n"));
        assert!(is_openmetrics(b"# EOF"));
        assert!(!is_openmetrics(b"a 1\n"));
        assert!(problems("# HELP a A.\n# TYPE a counter\na_total 1\n# EOF\n").is_empty());
    }
}
