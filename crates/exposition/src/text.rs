//! The text parsers: Prometheus text 0.0.4 and OpenMetrics 1.0, one hand-written byte
//! lexer parameterised by dialect.
//!
//! Both dialects share names, label sets, quoting and float syntax; they differ in
//! whitespace (free in the text format, single spaces in OpenMetrics), timestamps (integer
//! milliseconds versus float seconds), exemplars, `# UNIT`, `# EOF` and the structural rules
//! OpenMetrics adds. The dialect is a const generic, so each parser is compiled without the
//! other's branches.

use std::collections::HashSet;

use promlite_model::MetricType;

use crate::entry::{Entry, ExemplarRef, LabelPairs, PairSpan, Parser, Sample, StrSpan};
use crate::error::{ErrorKind, ParseError, Position};
use crate::negotiate::Format;

/// A parser for the Prometheus text format 0.0.4 (and Prometheus 3's quoted UTF-8 names).
pub type PromParser<'a> = TextParser<'a, false>;

/// A parser for OpenMetrics 1.0 text.
pub type OpenMetricsParser<'a> = TextParser<'a, true>;

/// Options of the OpenMetrics parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenMetricsOptions {
    /// Read `_created` lines as the created (start) timestamp of their series instead of
    /// as samples: they are not returned, and the matching samples of counters,
    /// summaries and histograms carry the time in [`Sample::created`]. This is
    /// Prometheus's behaviour when created-timestamp ingestion is on; off, `_created`
    /// lines are ordinary samples.
    pub created_timestamps: bool,
}

/// The text parser behind [`PromParser`] (`OM = false`) and [`OpenMetricsParser`]
/// (`OM = true`).
///
/// ```
/// use promlite_exposition::{Entry, Parser, PromParser};
///
/// let mut p = PromParser::new("# TYPE up gauge\nup{job=\"api\"} 1 1700000000000\n");
/// assert!(matches!(p.next().unwrap(), Some(Entry::Type { name: "up", .. })));
/// let Some(Entry::Series(s)) = p.next().unwrap() else { panic!() };
/// assert_eq!((s.name, s.labels.get("job"), s.value, s.timestamp), ("up", Some("api"), 1.0, Some(1_700_000_000_000)));
/// assert!(p.next().unwrap().is_none());
/// ```
pub struct TextParser<'a, const OM: bool> {
    input: &'a str,
    pos: usize,
    done: bool,
    /// Unescaped strings of the current entry; cleared at each entry.
    scratch: String,
    spans: Vec<PairSpan>,
    ex_spans: Vec<PairSpan>,
    options: OpenMetricsOptions,
    om: OmState,
}

/// What the OpenMetrics parser remembers across lines to enforce the format's structure.
// Independent facts about the open family; a state enum would not fit them.
#[allow(clippy::struct_excessive_bools)]
#[derive(Default)]
struct OmState {
    eof: bool,
    /// Whether a family is open.
    open: bool,
    family: String,
    family_type: MetricType,
    has_help: bool,
    has_type: bool,
    has_unit: bool,
    has_samples: bool,
    /// Families already closed; one entry (and allocation) per family, none per sample.
    closed: HashSet<Box<str>>,
    /// The label key of the series whose created time was looked up last, and the result.
    ct_key: String,
    ct_value: Option<i64>,
    ct_valid: bool,
    key_buf: String,
}

/// An internal error: a byte offset and a kind, turned into a [`ParseError`] with a
/// line and column only when it leaves the parser.
struct At(usize, ErrorKind);

type Lex<T> = Result<T, Box<At>>;

fn fail<T>(pos: usize, kind: ErrorKind) -> Lex<T> {
    Err(Box::new(At(pos, kind)))
}

fn expected<T>(b: &[u8], input: &str, pos: usize, what: &'static str) -> Lex<T> {
    fail(
        pos,
        ErrorKind::Expected {
            expected: what,
            found: found_at(b, input, pos),
        },
    )
}

/// The character at `pos`, for error messages.
fn found_at(b: &[u8], input: &str, pos: usize) -> String {
    if pos >= b.len() {
        return String::new();
    }
    input
        .get(pos..)
        .and_then(|s| s.chars().next())
        .map_or_else(String::new, String::from)
}

/// Internal token: spans into the input or scratch, resolved into an [`Entry`] once the
/// lexer no longer needs mutable access.
enum Tok {
    Help(StrSpan, StrSpan),
    Type(StrSpan, MetricType),
    Unit(StrSpan, StrSpan),
    Comment(StrSpan),
    Series(SeriesTok),
}

struct SeriesTok {
    series: StrSpan,
    name: StrSpan,
    value: f64,
    timestamp: Option<i64>,
    exemplar: Option<(f64, Option<i64>)>,
    created: Option<i64>,
}

/// A byte-class table: letters and `_` always, digits when `digits`, `:` when `colon`.
const fn table(digits: bool, colon: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphabetic()
            || c == b'_'
            || (digits && c.is_ascii_digit())
            || (colon && c == b':');
        i += 1;
    }
    t
}

static METRIC_START: [bool; 256] = table(false, true);
static METRIC_CHAR: [bool; 256] = table(true, true);
static LABEL_START: [bool; 256] = table(false, false);
static LABEL_CHAR: [bool; 256] = table(true, false);

#[inline]
fn input_span(start: usize, end: usize) -> StrSpan {
    StrSpan {
        start,
        end,
        scratch: false,
    }
}

/// Scans `[chars]*` from `i`.
#[inline]
fn scan(b: &[u8], mut i: usize, chars: &[bool; 256]) -> usize {
    while let Some(&c) = b.get(i) {
        if !chars[usize::from(c)] {
            break;
        }
        i += 1;
    }
    i
}

#[inline]
fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// The end of the line starting at or before `i` (the index of `\n`, or the input length).
#[inline]
fn line_end(b: &[u8], i: usize) -> usize {
    match b.get(i..) {
        Some(rest) => memchr::memchr(b'\n', rest).map_or(b.len(), |n| i + n),
        None => b.len(),
    }
}

/// Lexes a double-quoted string whose opening quote is at `pos`; returns its unescaped
/// span and the index after the closing quote. `\\`, `\"` and `\n` are unescaped; any
/// other escape is kept verbatim, as Prometheus does.
fn quoted(
    b: &[u8],
    input: &str,
    pos: usize,
    scratch: &mut String,
    what: &'static str,
) -> Lex<(StrSpan, usize)> {
    let start = pos + 1;
    let mut i = start;
    loop {
        match b.get(i) {
            Some(b'"') => return Ok((input_span(start, i), i + 1)),
            Some(b'\\') => break,
            Some(b'\n') | None => return expected(b, input, pos, what),
            Some(_) => i += 1,
        }
    }
    // Slow path: at least one escape. Copy into scratch, unescaping.
    let s0 = scratch.len();
    scratch.push_str(input.get(start..i).unwrap_or(""));
    let mut run = i;
    loop {
        match b.get(i) {
            Some(b'"') => {
                scratch.push_str(input.get(run..i).unwrap_or(""));
                let span = StrSpan {
                    start: s0,
                    end: scratch.len(),
                    scratch: true,
                };
                return Ok((span, i + 1));
            }
            Some(b'\\') => {
                scratch.push_str(input.get(run..i).unwrap_or(""));
                match b.get(i + 1) {
                    Some(b'\\') => scratch.push('\\'),
                    Some(b'"') => scratch.push('"'),
                    Some(b'n') => scratch.push('\n'),
                    Some(b'\n') | None => return expected(b, input, pos, what),
                    Some(_) => {
                        // Kept verbatim: the backslash here, the character with the run.
                        scratch.push('\\');
                        i += 1;
                        run = i;
                        continue;
                    }
                }
                i += 2;
                run = i;
            }
            Some(b'\n') | None => return expected(b, input, pos, what),
            Some(_) => i += 1,
        }
    }
}

/// Unescapes HELP text: `\\` and `\n` in both formats, and `\"` in OpenMetrics.
fn help_text(input: &str, start: usize, end: usize, om: bool, scratch: &mut String) -> StrSpan {
    let Some(raw) = input.get(start..end) else {
        return input_span(start, start);
    };
    if memchr::memchr(b'\\', raw.as_bytes()).is_none() {
        return input_span(start, end);
    }
    let s0 = scratch.len();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            scratch.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                scratch.push('\\');
                chars.next();
            }
            Some('n') => {
                scratch.push('\n');
                chars.next();
            }
            Some('"') if om => {
                scratch.push('"');
                chars.next();
            }
            _ => scratch.push('\\'),
        }
    }
    StrSpan {
        start: s0,
        end: scratch.len(),
        scratch: true,
    }
}

/// Parses a sample value with Go's `strconv.ParseFloat` syntax minus the characters
/// Prometheus rejects (`_` digit separators and hex floats' `p` exponent).
#[inline]
pub(crate) fn parse_float(tok: &str) -> Result<f64, ErrorKind> {
    let b = tok.as_bytes();
    // Fast path: short unsigned integers, the most common values in real scrapes. Up to 15
    // digits are exact in an f64.
    if !b.is_empty() && b.len() <= 15 {
        let mut n = 0u64;
        let mut all_digits = true;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                all_digits = false;
                break;
            }
            n = n * 10 + u64::from(d);
        }
        if all_digits {
            return Ok(n as f64);
        }
    }
    if b.iter().any(|&c| matches!(c, b'_' | b'p' | b'P')) {
        return Err(ErrorKind::UnsupportedFloatChar(tok.to_owned()));
    }
    // Rust's float syntax equals Go's for decimal input, including `Inf`, `+Inf`, `NaN`
    // and `infinity` in any case. Go's hex floats need `p`, rejected above.
    tok.parse::<f64>()
        .map_err(|_| ErrorKind::InvalidFloat(tok.to_owned()))
}

/// Parses an integer millisecond timestamp (text format).
fn parse_int_ts(tok: &str) -> Option<i64> {
    let b = tok.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?;
        n = if neg {
            n.checked_sub(i64::from(d))?
        } else {
            n.checked_add(i64::from(d))?
        };
    }
    Some(n)
}

/// Float seconds to integer milliseconds, truncating like Go's `int64(ts * 1000)`.
fn seconds_to_ms(s: f64) -> i64 {
    (s * 1000.0) as i64
}

/// An OpenMetrics timestamp (float seconds) in milliseconds. Plain decimals are converted
/// with integer arithmetic, so `1.001` is exactly 1001 ms where `1.001 * 1000.0` would
/// truncate to 1000; other float forms (exponents) go through [`seconds_to_ms`] as in
/// Prometheus. `None` for NaN and infinities.
fn parse_om_ts(tok: &str) -> Result<Option<i64>, ErrorKind> {
    let b = tok.as_bytes();
    let (neg, rest) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let dot = rest.iter().position(|&c| c == b'.').unwrap_or(rest.len());
    let (int, frac) = rest.split_at(dot);
    let frac = frac.get(1..).unwrap_or(&[]);
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    if !int.is_empty() && digits(int) && digits(frac) && (dot == rest.len() || !frac.is_empty()) {
        // Accumulate with the sign applied so that i64::MIN is reachable; overflow falls
        // through to the float path, which saturates like Go's conversion.
        let step = |ms: i64, c: u8| {
            let d = i64::from(c - b'0');
            ms.checked_mul(10).and_then(|m| {
                if neg {
                    m.checked_sub(d)
                } else {
                    m.checked_add(d)
                }
            })
        };
        let mut ms = Some(0i64);
        for &c in int {
            ms = ms.and_then(|m| step(m, c));
        }
        for k in 0..3 {
            ms = ms.and_then(|m| step(m, frac.get(k).copied().unwrap_or(b'0')));
        }
        if let Some(ms) = ms {
            return Ok(Some(ms));
        }
    }
    let f = parse_float(tok)?;
    Ok(f.is_finite().then(|| seconds_to_ms(f)))
}

fn text_type(s: &str) -> Option<MetricType> {
    Some(match s {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Unknown,
        _ => return None,
    })
}

fn om_type(s: &str) -> Option<MetricType> {
    Some(match s {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        "unknown" => MetricType::Unknown,
        _ => return None,
    })
}

/// Whether sample `name` belongs to the open family `family` of type `t`: its exact name
/// (accepted for every type, as Prometheus does not check), or the name plus a suffix the
/// type defines. A gauge `foo` does not own `foo_total`, which real exporters declare as a
/// family of its own.
fn in_family(name: &str, family: &str, t: MetricType) -> bool {
    let Some(rest) = name.strip_prefix(family) else {
        return false;
    };
    let suffixes: &[&str] = match t {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Summary => &["_count", "_sum", "_created"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[],
    };
    rest.is_empty() || suffixes.contains(&rest)
}

impl<'a> TextParser<'a, false> {
    /// A parser for Prometheus text 0.0.4 over `input`.
    pub fn new(input: &'a str) -> Self {
        Self::make(input, OpenMetricsOptions::default())
    }
}

impl<'a> TextParser<'a, true> {
    /// An OpenMetrics parser over `input` with default options.
    pub fn new(input: &'a str) -> Self {
        Self::make(input, OpenMetricsOptions::default())
    }

    /// An OpenMetrics parser with `options`.
    pub fn with_options(input: &'a str, options: OpenMetricsOptions) -> Self {
        Self::make(input, options)
    }
}

impl<'a, const OM: bool> TextParser<'a, OM> {
    pub(crate) fn make(input: &'a str, options: OpenMetricsOptions) -> Self {
        TextParser {
            input,
            pos: 0,
            done: false,
            scratch: String::new(),
            spans: Vec::new(),
            ex_spans: Vec::new(),
            options,
            om: OmState::default(),
        }
    }

    /// A parser over bytes, which must be UTF-8.
    pub fn from_bytes(input: &'a [u8]) -> Result<Self, ParseError> {
        match std::str::from_utf8(input) {
            Ok(s) => Ok(Self::make(s, OpenMetricsOptions::default())),
            Err(e) => Err(ParseError::new(
                Position::in_text(input, e.valid_up_to()),
                ErrorKind::InvalidUtf8,
            )),
        }
    }

    /// The next entry; see [`Parser::next`].
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        self.scratch.clear();
        match self.advance() {
            Ok(Some(tok)) => Ok(Some(self.resolve(tok))),
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(at) => {
                self.done = true;
                let At(pos, kind) = *at;
                Err(ParseError::new(
                    Position::in_text(self.input.as_bytes(), pos),
                    kind,
                ))
            }
        }
    }

    fn resolve(&self, tok: Tok) -> Entry<'_> {
        let (input, scratch) = (self.input, self.scratch.as_str());
        let r = |s: StrSpan| s.resolve(input, scratch);
        match tok {
            Tok::Help(n, h) => Entry::Help {
                name: r(n),
                help: r(h),
            },
            Tok::Type(n, t) => Entry::Type {
                name: r(n),
                metric_type: t,
            },
            Tok::Unit(n, u) => Entry::Unit {
                name: r(n),
                unit: r(u),
            },
            Tok::Comment(c) => Entry::Comment(r(c)),
            Tok::Series(s) => Entry::Series(Sample {
                series: r(s.series),
                name: r(s.name),
                labels: LabelPairs::spans(input, scratch, &self.spans),
                value: s.value,
                timestamp: s.timestamp,
                exemplar: s.exemplar.map(|(value, timestamp)| ExemplarRef {
                    labels: LabelPairs::spans(input, scratch, &self.ex_spans),
                    value,
                    timestamp,
                }),
                created: s.created,
            }),
        }
    }

    fn advance(&mut self) -> Lex<Option<Tok>> {
        let b = self.input.as_bytes();
        loop {
            let pos = self.pos;
            let Some(&c) = b.get(pos) else {
                if OM && !self.om.eof {
                    return fail(pos, ErrorKind::MissingEof);
                }
                return Ok(None);
            };
            match c {
                b'#' => {
                    if let Some(tok) = self.comment_line()? {
                        return Ok(Some(tok));
                    }
                    if OM && self.om.eof {
                        return Ok(None);
                    }
                }
                b'\n' if !OM => self.pos += 1,
                b' ' | b'\t' if !OM => {
                    // Blank-led lines: only blank lines are allowed, as in Prometheus.
                    let i = skip_blanks(b, pos);
                    match b.get(i) {
                        Some(b'\n') => self.pos = i + 1,
                        None => self.pos = i,
                        Some(_) => return expected(b, self.input, pos, "a valid start token"),
                    }
                }
                c if METRIC_START[usize::from(c)] || c == b'{' => {
                    let mut tok = self.series_line()?;
                    if OM {
                        if self.om_sample(&tok)? {
                            continue;
                        }
                        tok.created = self.created_for();
                    }
                    return Ok(Some(Tok::Series(tok)));
                }
                _ => return expected(b, self.input, pos, "a valid start token"),
            }
        }
    }

    /// Lexes a line starting with `#`. Returns `None` for `# EOF` (OpenMetrics).
    fn comment_line(&mut self) -> Lex<Option<Tok>> {
        let b = self.input.as_bytes();
        let input = self.input;
        let pos = self.pos;
        let end = line_end(b, pos);
        let next_line = (end + 1).min(b.len());
        let rest = input.get(pos..end).unwrap_or("");
        if OM {
            let (what, after) = if let Some(r) = rest.strip_prefix("# HELP") {
                ("HELP", r)
            } else if let Some(r) = rest.strip_prefix("# TYPE") {
                ("TYPE", r)
            } else if let Some(r) = rest.strip_prefix("# UNIT") {
                ("UNIT", r)
            } else if rest.starts_with("# EOF") {
                // Only an optional final newline may follow.
                let tail = b.get(pos + 5..).unwrap_or(&[]);
                if tail.is_empty() || tail == b"\n" {
                    self.om.eof = true;
                    self.pos = b.len();
                    return Ok(None);
                }
                return fail(pos, ErrorKind::DataAfterEof);
            } else {
                // `#` lines other than the four keywords are not allowed in OpenMetrics.
                let n = rest.char_indices().nth(3).map_or(rest.len(), |(i, _)| i);
                let found = rest.get(..n).unwrap_or(rest).to_owned();
                return fail(
                    pos,
                    ErrorKind::Expected {
                        expected: "a valid start token",
                        found,
                    },
                );
            };
            match after.as_bytes().first() {
                Some(b' ') => {}
                None => return expected(b, input, pos + 6, meta_name_expectation(what)),
                Some(_) => {
                    return fail(
                        pos,
                        ErrorKind::Expected {
                            expected: "a valid start token",
                            found: rest.get(..7).unwrap_or(rest).to_owned(),
                        },
                    );
                }
            }
            let name_pos = pos + 7;
            let (name, after_name) = self.meta_name(name_pos, what)?;
            let text_start = match b.get(after_name) {
                Some(b' ') => after_name + 1,
                Some(b'\n') | None => return fail(after_name, ErrorKind::ExpectedText(what)),
                Some(_) => {
                    return expected(b, input, after_name, "space after metric name in metadata");
                }
            };
            let text_start = text_start.min(end);
            self.pos = next_line;
            let nm = name.resolve(input, &self.scratch).to_owned();
            let tok = match what {
                "HELP" => Tok::Help(
                    name,
                    help_text(input, text_start, end, true, &mut self.scratch),
                ),
                "TYPE" => {
                    let t = input.get(text_start..end).unwrap_or("");
                    match om_type(t) {
                        Some(t) => Tok::Type(name, t),
                        None => {
                            return fail(text_start, ErrorKind::InvalidMetricType(t.to_owned()));
                        }
                    }
                }
                _ => {
                    let unit = input.get(text_start..end).unwrap_or("");
                    if !unit.is_empty() && !nm.strip_suffix(unit).is_some_and(|p| p.ends_with('_'))
                    {
                        return fail(
                            text_start,
                            ErrorKind::UnitNotSuffix {
                                unit: unit.to_owned(),
                                metric: nm,
                            },
                        );
                    }
                    Tok::Unit(name, input_span(text_start, end))
                }
            };
            self.om_metadata(&nm, what, &tok, pos)?;
            return Ok(Some(tok));
        }

        // Prometheus text: `#`, blanks, then HELP/TYPE and blanks, or any comment.
        let kw = skip_blanks(b, pos + 1);
        let what = match input.get(kw..kw + 4) {
            Some("HELP") => "HELP",
            Some("TYPE") => "TYPE",
            _ => {
                self.pos = next_line;
                return Ok(Some(Tok::Comment(input_span(kw.min(end), end))));
            }
        };
        match b.get(kw + 4) {
            Some(b' ' | b'\t') => {}
            Some(b'\n') | None => return expected(b, input, kw + 4, meta_name_expectation(what)),
            Some(_) => {
                // `# HELPER …` is an ordinary comment.
                self.pos = next_line;
                return Ok(Some(Tok::Comment(input_span(kw, end))));
            }
        }
        let name_pos = skip_blanks(b, kw + 4);
        let (name, after_name) = self.meta_name(name_pos, what)?;
        let text_start = skip_blanks(b, after_name);
        if text_start == after_name && after_name < end {
            return expected(b, input, after_name, "space after metric name in metadata");
        }
        self.pos = next_line;
        if what == "HELP" {
            return Ok(Some(Tok::Help(
                name,
                help_text(input, text_start, end, false, &mut self.scratch),
            )));
        }
        let t = input
            .get(text_start..end)
            .unwrap_or("")
            .trim_end_matches([' ', '\t']);
        if t.is_empty() {
            return fail(text_start, ErrorKind::ExpectedText("TYPE"));
        }
        match text_type(t) {
            Some(t) => Ok(Some(Tok::Type(name, t))),
            None => fail(text_start, ErrorKind::InvalidMetricType(t.to_owned())),
        }
    }

    /// Lexes the metric name of a metadata line: legacy or quoted.
    fn meta_name(&mut self, pos: usize, what: &'static str) -> Lex<(StrSpan, usize)> {
        let b = self.input.as_bytes();
        match b.get(pos) {
            Some(&c) if METRIC_START[usize::from(c)] => {
                let e = scan(b, pos + 1, &METRIC_CHAR);
                Ok((input_span(pos, e), e))
            }
            Some(b'"') => {
                let (s, e) = quoted(
                    b,
                    self.input,
                    pos,
                    &mut self.scratch,
                    meta_name_expectation(what),
                )?;
                if s.start == s.end {
                    return fail(pos, ErrorKind::InvalidMetricName(String::new()));
                }
                Ok((s, e))
            }
            _ => expected(b, self.input, pos, meta_name_expectation(what)),
        }
    }

    /// Lexes a sample line at `self.pos` and moves past it.
    fn series_line(&mut self) -> Lex<SeriesTok> {
        let b = self.input.as_bytes();
        let input = self.input;
        let start = self.pos;
        let mut i = start;
        let mut name = None;
        if b.get(i) != Some(&b'{') {
            let e = scan(b, i + 1, &METRIC_CHAR);
            name = Some(input_span(i, e));
            i = e;
        }
        self.spans.clear();
        if b.get(i) == Some(&b'{') {
            i = labels(
                b,
                input,
                i + 1,
                &mut self.scratch,
                &mut self.spans,
                Some(&mut name),
            )?;
        }
        let series = input_span(start, i);
        let Some(name) = name else {
            return fail(start, ErrorKind::MetricNameNotSet);
        };
        // Separator, value.
        let v0 = if OM {
            if b.get(i) != Some(&b' ') {
                return expected(b, input, i, "value after metric");
            }
            i + 1
        } else {
            let j = skip_blanks(b, i);
            if j == i {
                return expected(b, input, i, "value after metric");
            }
            j
        };
        let mut v1 = v0;
        while let Some(&c) = b.get(v1) {
            if c == b' ' || c == b'\n' || (!OM && c == b'\t') {
                break;
            }
            v1 += 1;
        }
        if v1 == v0 {
            return expected(b, input, v0, "value after metric");
        }
        let value =
            parse_float(input.get(v0..v1).unwrap_or("")).map_err(|k| Box::new(At(v0, k)))?;
        let mut tok = SeriesTok {
            series,
            name,
            value,
            timestamp: None,
            exemplar: None,
            created: None,
        };
        i = v1;
        if OM {
            self.om_tail(&mut tok, i)?;
        } else {
            let t0 = skip_blanks(b, i);
            let mut t1 = t0;
            while let Some(&c) = b.get(t1) {
                if matches!(c, b' ' | b'\t' | b'\n') {
                    break;
                }
                t1 += 1;
            }
            if t1 > t0 {
                let ts = input.get(t0..t1).unwrap_or("");
                match parse_int_ts(ts) {
                    Some(t) => tok.timestamp = Some(t),
                    None => return fail(t0, ErrorKind::InvalidTimestamp(ts.to_owned())),
                }
            }
            let e = skip_blanks(b, t1);
            match b.get(e) {
                Some(b'\n') => self.pos = e + 1,
                None => self.pos = e,
                Some(_) => return expected(b, input, e, "next entry after timestamp"),
            }
        }
        Ok(tok)
    }

    /// The OpenMetrics end of a sample line from `i` (just after the value): timestamp,
    /// exemplar, newline.
    fn om_tail(&mut self, tok: &mut SeriesTok, mut i: usize) -> Lex<()> {
        let b = self.input.as_bytes();
        let input = self.input;
        self.ex_spans.clear();
        if b.get(i) == Some(&b' ') && b.get(i + 1) != Some(&b'#') {
            let t0 = i + 1;
            let mut t1 = t0;
            while let Some(&c) = b.get(t1) {
                if c == b' ' || c == b'\n' {
                    break;
                }
                t1 += 1;
            }
            if t1 == t0 {
                return expected(b, input, i, "timestamp or exemplar");
            }
            let ts = input.get(t0..t1).unwrap_or("");
            match parse_om_ts(ts).map_err(|k| Box::new(At(t0, k)))? {
                Some(t) => tok.timestamp = Some(t),
                None => return fail(t0, ErrorKind::InvalidTimestamp(ts.to_owned())),
            }
            i = t1;
        }
        if b.get(i) == Some(&b' ') && b.get(i + 1) == Some(&b'#') {
            i = self.exemplar(tok, i + 2)?;
        }
        match b.get(i) {
            Some(b'\n') => self.pos = i + 1,
            None => self.pos = i,
            Some(_) => return expected(b, input, i, "next entry after timestamp"),
        }
        Ok(())
    }

    /// Lexes ` {labels} value [timestamp]` of an exemplar from `i` (just after `#`).
    fn exemplar(&mut self, tok: &mut SeriesTok, i: usize) -> Lex<usize> {
        let b = self.input.as_bytes();
        let input = self.input;
        if b.get(i) != Some(&b' ') || b.get(i + 1) != Some(&b'{') {
            return expected(b, input, i, "exemplar labels");
        }
        let l0 = i + 1;
        let mut i = labels(b, input, i + 2, &mut self.scratch, &mut self.ex_spans, None)?;
        let len: usize = LabelPairs::spans(input, &self.scratch, &self.ex_spans)
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if len > 128 {
            return fail(l0, ErrorKind::ExemplarTooLong(len));
        }
        if b.get(i) != Some(&b' ') {
            return expected(b, input, i, "value after exemplar labels");
        }
        i += 1;
        let v0 = i;
        while let Some(&c) = b.get(i) {
            if c == b' ' || c == b'\n' {
                break;
            }
            i += 1;
        }
        if i == v0 {
            return expected(b, input, v0, "value after exemplar labels");
        }
        let value = parse_float(input.get(v0..i).unwrap_or("")).map_err(|k| Box::new(At(v0, k)))?;
        let mut ts = None;
        if b.get(i) == Some(&b' ') {
            let t0 = i + 1;
            i = t0;
            while let Some(&c) = b.get(i) {
                if c == b' ' || c == b'\n' {
                    break;
                }
                i += 1;
            }
            let t = input.get(t0..i).unwrap_or("");
            match parse_om_ts(t).map_err(|k| Box::new(At(t0, k)))? {
                Some(v) => ts = Some(v),
                None => return fail(t0, ErrorKind::InvalidExemplarTimestamp(t.to_owned())),
            }
        }
        tok.exemplar = Some((value, ts));
        Ok(i)
    }

    /// Tracks metric families for OpenMetrics's structural rules on a metadata line.
    fn om_metadata(&mut self, name: &str, what: &'static str, tok: &Tok, pos: usize) -> Lex<()> {
        let om = &mut self.om;
        if om.open && om.family == name {
            let seen = match what {
                "HELP" => &mut om.has_help,
                "TYPE" => &mut om.has_type,
                _ => &mut om.has_unit,
            };
            if *seen {
                return fail(
                    pos,
                    ErrorKind::DuplicateMetadata {
                        what,
                        name: name.to_owned(),
                    },
                );
            }
            if om.has_samples {
                return fail(
                    pos,
                    ErrorKind::MetadataAfterSamples {
                        what,
                        name: name.to_owned(),
                    },
                );
            }
            *seen = true;
        } else {
            self.open_family(name, pos)?;
            let om = &mut self.om;
            match what {
                "HELP" => om.has_help = true,
                "TYPE" => om.has_type = true,
                _ => om.has_unit = true,
            }
        }
        if let Tok::Type(_, t) = tok {
            self.om.family_type = *t;
        }
        Ok(())
    }

    fn open_family(&mut self, name: &str, pos: usize) -> Lex<()> {
        let om = &mut self.om;
        if om.open {
            om.closed.insert(om.family.as_str().into());
        }
        if om.closed.contains(name) {
            return fail(pos, ErrorKind::InterleavedFamily(name.to_owned()));
        }
        om.open = true;
        om.family.clear();
        om.family.push_str(name);
        om.family_type = MetricType::Unknown;
        om.has_help = false;
        om.has_type = false;
        om.has_unit = false;
        om.has_samples = false;
        om.ct_valid = false;
        Ok(())
    }

    /// Family tracking for a sample. Returns true when the sample is a `_created` line
    /// consumed as a created timestamp.
    fn om_sample(&mut self, tok: &SeriesTok) -> Lex<bool> {
        let name = tok.name.resolve(self.input, &self.scratch);
        if !(self.om.open && in_family(name, &self.om.family, self.om.family_type)) {
            let name = name.to_owned();
            self.open_family(&name, tok.series.start)?;
        }
        self.om.has_samples = true;
        let name = tok.name.resolve(self.input, &self.scratch);
        Ok(self.options.created_timestamps
            && self.has_created()
            && name.strip_prefix(self.om.family.as_str()) == Some("_created"))
    }

    fn has_created(&self) -> bool {
        matches!(
            self.om.family_type,
            MetricType::Counter
                | MetricType::Summary
                | MetricType::Histogram
                | MetricType::GaugeHistogram
        )
    }

    /// The created timestamp of the series `tok` belongs to, found by looking ahead in its
    /// family for the `_created` line with the same labels (Prometheus does the same). The
    /// result is cached per series, so a histogram's buckets cost one look-ahead.
    fn created_for(&mut self) -> Option<i64> {
        if !(self.options.created_timestamps && self.has_created()) {
            return None;
        }
        let mut key = std::mem::take(&mut self.om.key_buf);
        series_key(
            LabelPairs::spans(self.input, &self.scratch, &self.spans),
            &mut key,
        );
        if self.om.ct_valid && self.om.ct_key == key {
            self.om.key_buf = key;
            return self.om.ct_value;
        }
        let mut la = TextParser::<true>::make(self.input, OpenMetricsOptions::default());
        la.pos = self.pos;
        let mut found = None;
        let mut other = String::new();
        let b = self.input.as_bytes();
        while let Some(&c) = b.get(la.pos) {
            if !(METRIC_START[usize::from(c)] || c == b'{') {
                break;
            }
            la.scratch.clear();
            let Ok(t) = la.series_line() else { break };
            let name = t.name.resolve(la.input, &la.scratch);
            if !in_family(name, &self.om.family, self.om.family_type) {
                break;
            }
            if name.strip_prefix(self.om.family.as_str()) == Some("_created") {
                series_key(
                    LabelPairs::spans(la.input, &la.scratch, &la.spans),
                    &mut other,
                );
                if other == key {
                    found = Some(seconds_to_ms(t.value));
                    break;
                }
            }
        }
        self.om.ct_key.clear();
        self.om.ct_key.push_str(&key);
        self.om.ct_value = found;
        self.om.ct_valid = true;
        self.om.key_buf = key;
        found
    }
}

/// A comparable key for the labels of a series, without the `le` and `quantile` labels
/// that distinguish the samples of one histogram or summary.
fn series_key(labels: LabelPairs<'_>, out: &mut String) {
    out.clear();
    for l in labels {
        if l.name == "le" || l.name == "quantile" {
            continue;
        }
        out.push_str(l.name);
        out.push('\u{0}');
        out.push_str(l.value);
        out.push('\u{0}');
    }
}

fn meta_name_expectation(what: &str) -> &'static str {
    match what {
        "HELP" => "metric name after HELP",
        "TYPE" => "metric name after TYPE",
        _ => "metric name after UNIT",
    }
}

/// Lexes a label set from `i` (just after `{`) through the closing brace; returns the
/// index after it. A quoted string not followed by `=` is the metric name (Prometheus 3),
/// allowed only when `name` is given and not yet set.
#[allow(clippy::many_single_char_names)] // `b`, `i`, `e`, `s`, `q`: bytes, index, end, span, quote.
fn labels(
    b: &[u8],
    input: &str,
    mut i: usize,
    scratch: &mut String,
    spans: &mut Vec<PairSpan>,
    mut name: Option<&mut Option<StrSpan>>,
) -> Lex<usize> {
    loop {
        i = skip_blanks(b, i);
        let lname = match b.get(i) {
            Some(b'}') => return Ok(i + 1),
            Some(&c) if LABEL_START[usize::from(c)] => {
                let e = scan(b, i + 1, &LABEL_CHAR);
                let s = input_span(i, e);
                i = e;
                s
            }
            Some(b'"') => {
                let q = i;
                let (s, e) = quoted(b, input, i, scratch, "label name")?;
                i = skip_blanks(b, e);
                if matches!(b.get(i), Some(b',' | b'}')) {
                    // A quoted metric name inside the braces.
                    match name.as_deref_mut() {
                        Some(slot @ None) => *slot = Some(s),
                        Some(Some(_)) => return fail(q, ErrorKind::MetricNameSetTwice),
                        None => return expected(b, input, i, "equal"),
                    }
                    if s.start == s.end {
                        return fail(q, ErrorKind::InvalidMetricName(String::new()));
                    }
                    if b.get(i) == Some(&b',') {
                        i += 1;
                    }
                    continue;
                }
                if s.start == s.end {
                    return fail(q, ErrorKind::InvalidLabelName(String::new()));
                }
                s
            }
            _ => return expected(b, input, i, "label name"),
        };
        i = skip_blanks(b, i);
        if b.get(i) != Some(&b'=') {
            return expected(b, input, i, "equal");
        }
        i = skip_blanks(b, i + 1);
        if b.get(i) != Some(&b'"') {
            return expected(b, input, i, "label value");
        }
        let n0 = i;
        let (value, e) = quoted(b, input, i, scratch, "label value")?;
        let ln = lname.resolve(input, scratch);
        if spans.iter().any(|p| p.name.resolve(input, scratch) == ln) {
            return fail(n0, ErrorKind::DuplicateLabelName(ln.to_owned()));
        }
        spans.push(PairSpan { name: lname, value });
        i = skip_blanks(b, e);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i + 1),
            _ => return expected(b, input, i, "comma or brace close"),
        }
    }
}

impl<const OM: bool> Parser for TextParser<'_, OM> {
    fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        TextParser::next(self)
    }

    fn format(&self) -> Format {
        if OM {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_syntax_matches_go() {
        for (s, v) in [
            ("1", 1.0),
            ("-1.5", -1.5),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("123456789012345", 123_456_789_012_345.0),
        ] {
            assert_eq!(parse_float(s), Ok(v), "{s}");
        }
        assert!(parse_float("NaN").unwrap().is_nan());
        assert!(matches!(
            parse_float("1_2"),
            Err(ErrorKind::UnsupportedFloatChar(_))
        ));
        assert!(matches!(
            parse_float("0x1p-3"),
            Err(ErrorKind::UnsupportedFloatChar(_))
        ));
        assert!(matches!(
            parse_float("true"),
            Err(ErrorKind::InvalidFloat(_))
        ));
        assert!(matches!(parse_float(""), Err(ErrorKind::InvalidFloat(_))));
    }

    #[test]
    fn int_timestamps() {
        assert_eq!(parse_int_ts("-12"), Some(-12));
        assert_eq!(parse_int_ts("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int_ts("9223372036854775808"), None);
        assert_eq!(parse_int_ts("1.5"), None);
        assert_eq!(parse_int_ts("-"), None);
    }

    #[test]
    fn om_timestamps_are_exact() {
        assert_eq!(parse_om_ts("1.001"), Ok(Some(1001)));
        assert_eq!(parse_om_ts("-0.5"), Ok(Some(-500)));
        assert_eq!(parse_om_ts("1700000000.1239"), Ok(Some(1_700_000_000_123)));
        assert_eq!(parse_om_ts("1e3"), Ok(Some(1_000_000)));
        assert_eq!(parse_om_ts("NaN"), Ok(None));
        assert_eq!(parse_om_ts("1."), Ok(Some(1000)));
    }

    #[test]
    fn family_suffixes() {
        assert!(in_family("a_total", "a", MetricType::Counter));
        assert!(in_family("a", "a", MetricType::Counter));
        assert!(!in_family("a_total", "a", MetricType::Gauge));
        assert!(!in_family("ab", "a", MetricType::Counter));
        assert!(!in_family("a_totals", "a", MetricType::Counter));
        assert!(in_family("a_gsum", "a", MetricType::GaugeHistogram));
    }
}
