//! The text parsers: Prometheus text 0.0.4 and OpenMetrics 1.0, one hand-written byte
//! lexer parameterised by dialect.
//!
//! Both dialects share names, label sets, quoting and float syntax; they differ in
//! whitespace (free in the text format, single spaces in OpenMetrics), timestamps (integer
//! milliseconds versus float seconds), exemplars, `# UNIT`, `# EOF` and the structural rules
//! OpenMetrics adds. The dialect is a const generic, so each parser is compiled without the
//! other's branches.

use std::collections::{HashMap, HashSet};

use promlite_model::{METRIC_NAME, MetricType};

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
    /// Enforce the OpenMetrics specification's structural rules: at most one HELP, TYPE
    /// and UNIT per family, metadata before samples, and no family resuming after
    /// another began. Prometheus's own parser (scrapes, `promtool tsdb
    /// create-blocks-from openmetrics`) checks none of these, so neither does the
    /// default; validation tools turn it on.
    pub strict: bool,
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
    /// expfmt's rules ([`PromOptions::strict`]); always false for OpenMetrics.
    strict: bool,
    expfmt: ExpfmtState,
}

/// Options of the Prometheus text parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromOptions {
    /// Accept and reject what client_golang/common's `expfmt.TextParser` does, as of
    /// Prometheus 2.42 (the parser behind `promtool check metrics`), instead of the
    /// leniency of Prometheus's scrape parser. See "Strict mode" in the crate docs.
    pub strict: bool,
}

/// What strict mode remembers to apply expfmt's rules: every metric family by name, as
/// expfmt's `TextParser` keeps them (in a map, so families may interleave), with what has
/// been declared for it. One entry per family, nothing per sample.
#[derive(Default)]
struct ExpfmtState {
    families: HashMap<Box<str>, ExpfmtFamily>,
    /// The family of the last line, for [`TextParser::family`].
    current: String,
}

#[derive(Default, Clone, Copy)]
struct ExpfmtFamily {
    help: bool,
    mtype: Option<MetricType>,
    /// The type was implied (untyped) by a sample, not declared by TYPE.
    implied: bool,
}

impl ExpfmtState {
    /// The family a sample or metadata `name` belongs to, created if new; it becomes the
    /// current one. Like expfmt, `_count` and `_sum` fold into an existing summary, and
    /// those and `_bucket` into an existing histogram; any other name is its own family.
    fn family(&mut self, name: &str) -> &mut ExpfmtFamily {
        let key = self.resolve(name);
        self.current.clear();
        self.current.push_str(key);
        // Looked up before inserting so that only a new family allocates its key.
        if !self.families.contains_key(key) {
            self.families.insert(key.into(), ExpfmtFamily::default());
        }
        self.families.get_mut(key).expect("inserted above")
    }

    fn resolve<'n>(&self, name: &'n str) -> &'n str {
        if self.families.contains_key(name) {
            return name;
        }
        let folded = |suffixes: &[&str], t: MetricType| {
            suffixes
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| !b.is_empty()))
                .filter(|base| self.families.get(*base).and_then(|f| f.mtype) == Some(t))
        };
        folded(&["_count", "_sum"], MetricType::Summary)
            .or_else(|| folded(&["_count", "_sum", "_bucket"], MetricType::Histogram))
            .unwrap_or(name)
    }

    fn set_type(&mut self, t: MetricType) {
        if let Some(f) = self.families.get_mut(self.current.as_str()) {
            f.mtype = Some(t);
        }
    }
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

/// Marks (high bit set) the bytes of `v` that are ASCII letters, digits or `_`, and `:`
/// too when `COLON`: eight name characters classified at once, with additions that never
/// carry from one byte into the next because every byte is first cut to seven bits.
#[inline]
fn name_bytes<const COLON: bool>(v: u64) -> u64 {
    let hi = splat(0x80);
    let v7 = v & splat(0x7F);
    // `x` is in `lo..=up` when `x + (0x80 - lo)` has its high bit set and `x + (0x7F - up)`
    // has not.
    let in_range = |x: u64, lo: u8, up: u8| (x + splat(0x80 - lo)) & !(x + splat(0x7F - up));
    // `| 0x20` folds upper-case letters onto lower-case ones (and no other byte onto one).
    let letter = in_range(v7 | splat(0x20), b'a', b'z');
    let digit = in_range(v7, b'0', b'9');
    // `(x ^ c) + 0x7F` has its high bit set exactly when `x != c`.
    let under = !((v7 ^ splat(b'_')) + splat(0x7F));
    let mut ok = letter | digit | under;
    if COLON {
        ok |= !((v7 ^ splat(b':')) + splat(0x7F));
    }
    // Bytes from 0x80 up are never name characters.
    ok & !v & hi
}

/// Scans name characters (letters, digits, `_`, and `:` when `COLON`) from `i`, eight
/// bytes per step while they last: metric names are long (`node_cpu_seconds_total`) and
/// appear on HELP, TYPE and every sample line, so this is the lexer's busiest loop.
#[inline]
fn scan_name<const COLON: bool>(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(arr) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let bad = !name_bytes::<COLON>(u64::from_le_bytes(arr)) & splat(0x80);
        if bad != 0 {
            return i + (bad.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    scan(b, i, if COLON { &METRIC_CHAR } else { &LABEL_CHAR })
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
    // Separators are nearly always one space: settle that case without a loop.
    if b.get(i) == Some(&b' ') && !matches!(b.get(i + 1), Some(b' ' | b'\t')) {
        return i + 1;
    }
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

/// Eight copies of a byte in a `u64`, for the SWAR scans below.
const fn splat(c: u8) -> u64 {
    0x0101_0101_0101_0101 * c as u64
}

/// Marks (high bit set) the zero bytes of `v`. A borrow can also mark a byte above a
/// zero byte, never one below it, so the lowest mark is always a true zero byte.
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(splat(1)) & !v & splat(0x80)
}

/// The index of the first `"`, `\` or line feed at or after `i`, or `b.len()`.
///
/// Label values are short but many, so this looks at eight bytes per step (SWAR: three
/// byte compares on a `u64`) instead of calling `memchr3`, whose set-up costs more than
/// a typical label value; the tail is scanned byte by byte.
#[inline]
fn quote_stop(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let Ok(arr) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let v = u64::from_le_bytes(arr);
        let m = zero_bytes(v ^ splat(b'"'))
            | zero_bytes(v ^ splat(b'\\'))
            | zero_bytes(v ^ splat(b'\n'));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if matches!(c, b'"' | b'\\' | b'\n') {
            break;
        }
        i += 1;
    }
    i
}

/// Lexes a double-quoted string whose opening quote is at `pos`; returns its unescaped
/// span and the index after the closing quote. `\\`, `\"` and `\n` are unescaped; any
/// other escape is kept verbatim, as Prometheus's scrape parser does, or rejected when
/// `strict` (as expfmt does).
#[inline]
fn quoted(
    b: &[u8],
    input: &str,
    pos: usize,
    scratch: &mut String,
    what: &'static str,
    strict: bool,
) -> Lex<(StrSpan, usize)> {
    let start = pos + 1;
    let i = quote_stop(b, start);
    // The common case, no escape, stays inline in the label loop; the rest is a call.
    if b.get(i) == Some(&b'"') {
        return Ok((input_span(start, i), i + 1));
    }
    quoted_slow(b, input, pos, i, scratch, what, strict)
}

/// [`quoted`] from `i`, the first stop byte, when it is not the closing quote: copies the
/// string into scratch, unescaping.
#[cold]
#[inline(never)]
fn quoted_slow(
    b: &[u8],
    input: &str,
    pos: usize,
    mut i: usize,
    scratch: &mut String,
    what: &'static str,
    strict: bool,
) -> Lex<(StrSpan, usize)> {
    let start = pos + 1;
    if b.get(i) != Some(&b'\\') {
        return expected(b, input, pos, what);
    }
    let s0 = scratch.len();
    let mut run = start;
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
                    Some(_) if strict => {
                        return fail(i, ErrorKind::InvalidEscape(found_at(b, input, i + 1)));
                    }
                    Some(_) => {
                        // Kept verbatim: the backslash here, the character with the run.
                        scratch.push('\\');
                        run = i + 1;
                        i = quote_stop(b, i + 1);
                        continue;
                    }
                }
                run = i + 2;
                i = quote_stop(b, i + 2);
            }
            _ => return expected(b, input, pos, what),
        }
    }
}

/// Lexes HELP text from `start` to the end of its line in one pass; returns the text's
/// span and the index of the line end. `\\` and `\n` are unescaped in both formats, and
/// `\"` in OpenMetrics; other escapes are kept verbatim, or rejected when `strict`.
fn help_text(
    b: &[u8],
    input: &str,
    start: usize,
    om: bool,
    strict: bool,
    scratch: &mut String,
) -> Lex<(StrSpan, usize)> {
    let stop = |from: usize| {
        b.get(from..)
            .and_then(|r| memchr::memchr2(b'\n', b'\\', r))
            .map_or(b.len(), |n| from + n)
    };
    let mut i = stop(start);
    if b.get(i) != Some(&b'\\') {
        return Ok((input_span(start, i), i));
    }
    let s0 = scratch.len();
    let mut run = start;
    while b.get(i) == Some(&b'\\') {
        scratch.push_str(input.get(run..i).unwrap_or(""));
        match b.get(i + 1) {
            Some(b'\\') => scratch.push('\\'),
            Some(b'n') => scratch.push('\n'),
            Some(b'"') if om => scratch.push('"'),
            _ if strict => return fail(i, ErrorKind::InvalidEscape(found_at(b, input, i + 1))),
            _ => {
                // Kept verbatim; the next character (maybe the line end) is looked at again.
                scratch.push('\\');
                run = i + 1;
                i = stop(run);
                continue;
            }
        }
        run = i + 2;
        i = stop(run);
    }
    scratch.push_str(input.get(run..i).unwrap_or(""));
    let span = StrSpan {
        start: s0,
        end: scratch.len(),
        scratch: true,
    };
    Ok((span, i))
}

/// Exact powers of ten: every one up to 1e22 is representable in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Reads decimal digits from `i` into `acc`; returns the index after them.
#[inline]
fn digits(b: &[u8], mut i: usize, acc: &mut u64) -> usize {
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        *acc = acc.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    i
}

/// The fast path for decimal floats: `[+-]digits[.digits][(e|E)[+-]digits]` starting at
/// `i` and ending at a blank, a line feed or the end of the input. Returns the value and
/// the index after it, or `None` to send the token to the general parser.
///
/// It answers only when the result is exact by construction (Clinger's fast path): at
/// most 19 digits whose integer is at most 2^53, so it converts to f64 exactly, scaled by
/// an exact power of ten up to 1e22 with one multiplication or division, which IEEE
/// arithmetic rounds correctly. That is the same correctly rounded result
/// `str::parse::<f64>` and Go's `strconv.ParseFloat` give, bit for bit (a property test
/// checks it); anything else (long mantissas, big exponents, `Inf`, `NaN`) takes the
/// general path.
#[inline]
pub(crate) fn fast_decimal(b: &[u8], mut i: usize) -> Option<(f64, usize)> {
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut mant = 0u64;
    let d0 = i;
    i = digits(b, i, &mut mant);
    let mut ndigits = i - d0;
    let mut exp: i64 = 0;
    if b.get(i) == Some(&b'.') {
        let f0 = i + 1;
        i = digits(b, f0, &mut mant);
        ndigits += i - f0;
        exp = -((i - f0) as i64);
    }
    if ndigits == 0 || ndigits > 19 {
        return None;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let e0 = i;
        let mut e = 0u64;
        i = digits(b, i, &mut e);
        // More than four exponent digits could wrap `e`; such values are not exact anyway.
        if i == e0 || i - e0 > 4 {
            return None;
        }
        exp += if eneg { -(e as i64) } else { e as i64 };
    }
    if !matches!(b.get(i), None | Some(b' ' | b'\t' | b'\n')) || mant > 1 << 53 {
        return None;
    }
    let exact = mant as f64;
    let v = match exp {
        0 => exact,
        1..=22 => exact * POW10[exp as usize],
        -22..=-1 => exact / POW10[(-exp) as usize],
        _ => return None,
    };
    Some((if neg { -v } else { v }, i))
}

/// Parses a sample value with Go's `strconv.ParseFloat` syntax minus the characters
/// Prometheus rejects (`_` digit separators and hex floats' `p` exponent).
#[inline]
pub(crate) fn parse_float(tok: &str) -> Result<f64, ErrorKind> {
    let b = tok.as_bytes();
    if let Some((v, end)) = fast_decimal(b, 0)
        && end == b.len()
    {
        return Ok(v);
    }
    parse_float_slow(tok)
}

/// The general float parser behind [`parse_float`] and the lexer's fast path.
#[cold]
fn parse_float_slow(tok: &str) -> Result<f64, ErrorKind> {
    let b = tok.as_bytes();
    if b.iter().any(|&c| matches!(c, b'_' | b'p' | b'P')) {
        return Err(ErrorKind::UnsupportedFloatChar(tok.to_owned()));
    }
    // Rust's float syntax equals Go's for decimal input, including `Inf`, `+Inf`, `NaN`
    // and `infinity` in any case. Go's hex floats need `p`, rejected above.
    let v = tok
        .parse::<f64>()
        .map_err(|_| ErrorKind::InvalidFloat(tok.to_owned()))?;
    // Go reports a finite literal that overflows (`1e400`) as a range error where Rust
    // rounds it to infinity; Prometheus rejects the sample, so do we. Only the spelled-out
    // infinities contain an `i`.
    if v.is_infinite() && !b.iter().any(|&c| c == b'i' || c == b'I') {
        return Err(ErrorKind::InvalidFloat(tok.to_owned()));
    }
    Ok(v)
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

/// A TYPE word as expfmt reads it: the names of client_model's `MetricType` enum, in
/// any letter case, and nothing else (not even trailing blanks).
fn expfmt_type(s: &str) -> Option<MetricType> {
    const TYPES: [(&str, MetricType); 6] = [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("summary", MetricType::Summary),
        ("untyped", MetricType::Unknown),
        ("histogram", MetricType::Histogram),
        ("gauge_histogram", MetricType::GaugeHistogram),
    ];
    TYPES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, t)| t)
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

    /// A parser for Prometheus text 0.0.4 with `options`.
    pub fn with_options(input: &'a str, options: PromOptions) -> Self {
        let mut p = Self::make(input, OpenMetricsOptions::default());
        p.strict = options.strict;
        p
    }

    /// A parser over bytes, which must be UTF-8, with `options`.
    pub fn from_bytes_with_options(
        input: &'a [u8],
        options: PromOptions,
    ) -> Result<Self, ParseError> {
        let mut p = Self::from_bytes(input)?;
        p.strict = options.strict;
        Ok(p)
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
            strict: false,
            expfmt: ExpfmtState::default(),
        }
    }

    /// In strict mode, the metric family the last entry was counted in, named as expfmt
    /// names it: a summary's `x_count` sample belongs to `x`, a TYPE line for
    /// `x_bucket` of a histogram `x` to `x`. `None` when not strict or before the first
    /// sample or metadata line.
    pub fn family(&self) -> Option<&str> {
        (self.strict && !self.expfmt.current.is_empty()).then_some(self.expfmt.current.as_str())
    }

    /// The input being parsed. Entry strings that are not unescaped are slices of it, so
    /// their offset in it (by address) locates them.
    pub fn input(&self) -> &'a str {
        self.input
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
                        if !OM && self.strict {
                            self.strict_line_end()?;
                        }
                        return Ok(Some(tok));
                    }
                    if OM && self.om.eof {
                        return Ok(None);
                    }
                }
                b'\n' if !OM => self.pos += 1,
                b' ' | b'\t' if !OM => {
                    // Blank-led lines: only blank lines are allowed, as in Prometheus; expfmt
                    // (strict) skips leading blanks.
                    let i = skip_blanks(b, pos);
                    match b.get(i) {
                        Some(b'\n') => self.pos = i + 1,
                        None => self.pos = i,
                        Some(_) if self.strict => self.pos = i,
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
                    if !OM && self.strict {
                        self.strict_line_end()?;
                    }
                    return Ok(Some(Tok::Series(tok)));
                }
                _ => return expected(b, self.input, pos, "a valid start token"),
            }
        }
    }

    /// expfmt's checks on a HELP or TYPE line for `name` at `pos`: one of each per
    /// family, and no TYPE once samples made the family untyped.
    fn strict_metadata(&mut self, name: &str, what: &'static str, pos: usize) -> Lex<()> {
        let f = self.expfmt.family(name);
        let kind = if what == "HELP" {
            if !f.help {
                f.help = true;
                return Ok(());
            }
            ErrorKind::DuplicateMetadata {
                what,
                name: String::new(),
            }
        } else {
            match f.mtype {
                None => return Ok(()),
                Some(_) if f.implied => ErrorKind::MetadataAfterSamples {
                    what,
                    name: String::new(),
                },
                Some(_) => ErrorKind::DuplicateMetadata {
                    what,
                    name: String::new(),
                },
            }
        };
        let family = self.expfmt.current.clone();
        fail(
            pos,
            match kind {
                ErrorKind::MetadataAfterSamples { what, .. } => {
                    ErrorKind::MetadataAfterSamples { what, name: family }
                }
                _ => ErrorKind::DuplicateMetadata { what, name: family },
            },
        )
    }

    /// expfmt's checks on a sample: its family becomes untyped if it had no TYPE, the
    /// label name `__name__` is reserved, and a summary's `quantile` and a histogram's
    /// `le` must be floats.
    fn strict_sample(&mut self, tok: &SeriesTok) -> Lex<()> {
        let (input, scratch) = (self.input, self.scratch.as_str());
        let f = self.expfmt.family(tok.name.resolve(input, scratch));
        if f.mtype.is_none() {
            f.mtype = Some(MetricType::Unknown);
            f.implied = true;
        }
        let bound = match f.mtype {
            Some(MetricType::Summary) => "quantile",
            Some(MetricType::Histogram) => "le",
            _ => "",
        };
        for l in LabelPairs::spans(input, scratch, &self.spans) {
            if l.name == METRIC_NAME {
                return fail(
                    tok.series.start,
                    ErrorKind::ReservedLabelName(l.name.to_owned()),
                );
            }
            if l.name == bound && parse_float(l.value).is_err() {
                return fail(
                    tok.series.start,
                    ErrorKind::InvalidBound {
                        label: bound,
                        value: l.value.to_owned(),
                    },
                );
            }
        }
        Ok(())
    }

    /// expfmt reads every line through its line feed, so a last line without one is an
    /// error ("unexpected end of input stream"), whatever the line holds.
    fn strict_line_end(&self) -> Lex<()> {
        let b = self.input.as_bytes();
        if self.pos >= b.len() && b.last() != Some(&b'\n') {
            return fail(b.len(), ErrorKind::MissingLineFeed);
        }
        Ok(())
    }

    /// Lexes a line starting with `#`. Returns `None` for `# EOF` (OpenMetrics).
    fn comment_line(&mut self) -> Lex<Option<Tok>> {
        let b = self.input.as_bytes();
        let input = self.input;
        let pos = self.pos;
        if OM {
            let end = line_end(b, pos);
            let next_line = (end + 1).min(b.len());
            let rest = input.get(pos..end).unwrap_or("");
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
                    help_text(b, input, text_start, true, false, &mut self.scratch)?.0,
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

        // Prometheus text: `#`, blanks, then HELP/TYPE and blanks, or any comment. The line
        // end is found while lexing, not up front: HELP text is scanned once, for the line
        // end and escapes together, and a TYPE line ends right after its type word.
        let strict = self.strict;
        let kw = skip_blanks(b, pos + 1);
        let what = match b.get(kw..kw + 4) {
            Some(b"HELP") => "HELP",
            Some(b"TYPE") => "TYPE",
            _ => return Ok(Some(self.comment_rest(kw))),
        };
        match b.get(kw + 4) {
            Some(b' ' | b'\t') => {}
            // expfmt ignores a keyword alone on its line.
            Some(b'\n') | None if strict => return Ok(Some(self.comment_rest(kw))),
            Some(b'\n') | None => return expected(b, input, kw + 4, meta_name_expectation(what)),
            Some(_) => {
                // `# HELPER …` is an ordinary comment.
                return Ok(Some(self.comment_rest(kw)));
            }
        }
        let name_pos = skip_blanks(b, kw + 4);
        if strict {
            match b.get(name_pos) {
                // A keyword with no name is ignored by expfmt too.
                Some(b'\n') | None => return Ok(Some(self.comment_rest(kw))),
                Some(&c) if METRIC_START[usize::from(c)] => {}
                _ => return fail(name_pos, ErrorKind::InvalidMetricNameInComment),
            }
        }
        let (name, after_name) = self.meta_name(name_pos, what)?;
        let text_start = skip_blanks(b, after_name);
        if text_start == after_name && !matches!(b.get(after_name), Some(b'\n') | None) {
            if strict {
                return fail(after_name, ErrorKind::InvalidMetricNameInComment);
            }
            return expected(b, input, after_name, "space after metric name in metadata");
        }
        if strict {
            let name = name.resolve(input, &self.scratch).to_owned();
            // expfmt looks the family up (creating it) before it looks at the text, so a
            // HELP or TYPE line without text still counts as seen for nothing but that.
            let empty = matches!(b.get(text_start), Some(b'\n') | None);
            if empty {
                if text_start > after_name {
                    self.expfmt.family(&name);
                }
                self.pos = (text_start + 1).min(b.len());
                return Ok(Some(Tok::Comment(input_span(kw, text_start))));
            }
            self.strict_metadata(&name, what, pos)?;
        }
        if what == "HELP" {
            let (help, end) = help_text(b, input, text_start, false, strict, &mut self.scratch)?;
            self.pos = (end + 1).min(b.len());
            return Ok(Some(Tok::Help(name, help)));
        }
        // Type words are lower-case letters (and `_` in expfmt's `gauge_histogram`); when
        // one reaches the line end there is nothing to trim or search.
        let mut e = text_start;
        while let Some(&c) = b.get(e) {
            if !(c.is_ascii_alphabetic() || c == b'_') {
                break;
            }
            e += 1;
        }
        let end = if matches!(b.get(e), Some(b'\n') | None) {
            e
        } else {
            line_end(b, e)
        };
        self.pos = (end + 1).min(b.len());
        let raw = input.get(text_start..end).unwrap_or("");
        if strict {
            // expfmt takes the rest of the line, blanks included, in any letter case.
            return match expfmt_type(raw) {
                Some(t) => {
                    self.expfmt.set_type(t);
                    Ok(Some(Tok::Type(name, t)))
                }
                None => fail(text_start, ErrorKind::InvalidMetricType(raw.to_owned())),
            };
        }
        let t = if end == e {
            raw
        } else {
            raw.trim_end_matches([' ', '\t'])
        };
        if t.is_empty() {
            return fail(text_start, ErrorKind::ExpectedText("TYPE"));
        }
        match text_type(t) {
            Some(t) => Ok(Some(Tok::Type(name, t))),
            None => fail(text_start, ErrorKind::InvalidMetricType(t.to_owned())),
        }
    }

    /// A comment line of the text format whose text starts at `kw`: the rest of the line.
    fn comment_rest(&mut self, kw: usize) -> Tok {
        let b = self.input.as_bytes();
        let end = line_end(b, kw);
        self.pos = (end + 1).min(b.len());
        Tok::Comment(input_span(kw.min(end), end))
    }

    /// Lexes the metric name of a metadata line: legacy or quoted.
    fn meta_name(&mut self, pos: usize, what: &'static str) -> Lex<(StrSpan, usize)> {
        let b = self.input.as_bytes();
        match b.get(pos) {
            Some(&c) if METRIC_START[usize::from(c)] => {
                let e = scan_name::<true>(b, pos + 1);
                Ok((input_span(pos, e), e))
            }
            Some(b'"') => {
                let (s, e) = quoted(
                    b,
                    self.input,
                    pos,
                    &mut self.scratch,
                    meta_name_expectation(what),
                    false,
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
        // Only the text format has a strict mode; this lets the OpenMetrics build drop it.
        let strict = !OM && self.strict;
        let start = self.pos;
        let mut i = start;
        let mut name = None;
        if b.get(i) == Some(&b'{') {
            if strict {
                // expfmt knows no quoted names, so a series must start with its name.
                return fail(start, ErrorKind::MetricNameNotSet);
            }
        } else {
            let e = scan_name::<true>(b, i + 1);
            name = Some(input_span(i, e));
            i = e;
            if strict && matches!(b.get(i), Some(b' ' | b'\t')) {
                // expfmt allows blanks between the name and the braces.
                let j = skip_blanks(b, i);
                if b.get(j) == Some(&b'{') {
                    i = j;
                }
            }
        }
        self.spans.clear();
        if b.get(i) == Some(&b'{') {
            let slot = if strict { None } else { Some(&mut name) };
            i = labels(
                b,
                input,
                i + 1,
                &mut self.scratch,
                &mut self.spans,
                slot,
                strict,
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
            // expfmt reads the value straight after a closing brace.
            if j == i && !(strict && i > start && b.get(i - 1) == Some(&b'}')) {
                return expected(b, input, i, "value after metric");
            }
            j
        };
        // The value: decimal numbers, nearly all of them, are parsed while they are
        // scanned; the rest (and OpenMetrics values ending in a tab, which belongs to the
        // token there) go through the general parser.
        let (value, v1) = match fast_decimal(b, v0) {
            Some((v, e)) if !(OM && b.get(e) == Some(&b'\t')) => (v, e),
            _ => {
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
                let v = parse_float_slow(input.get(v0..v1).unwrap_or(""))
                    .map_err(|k| Box::new(At(v0, k)))?;
                (v, v1)
            }
        };
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
        } else if b.get(i) == Some(&b'\n') {
            // No timestamp: the common case.
            self.pos = i + 1;
        } else {
            let t0 = skip_blanks(b, i);
            let mut t1 = t0;
            while let Some(&c) = b.get(t1) {
                if matches!(c, b' ' | b'\t' | b'\n') {
                    break;
                }
                t1 += 1;
            }
            if t1 > t0 || (strict && t0 > i) {
                // expfmt takes a blank after the value as the start of a timestamp.
                let ts = input.get(t0..t1).unwrap_or("");
                match parse_int_ts(ts) {
                    Some(t) => tok.timestamp = Some(t),
                    None => return fail(t0, ErrorKind::InvalidTimestamp(ts.to_owned())),
                }
            }
            let e = if strict { t1 } else { skip_blanks(b, t1) };
            match b.get(e) {
                Some(b'\n') => self.pos = e + 1,
                None => self.pos = e,
                Some(_) => return expected(b, input, e, "next entry after timestamp"),
            }
        }
        if strict {
            self.strict_sample(&tok)?;
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
        let mut i = labels(
            b,
            input,
            i + 2,
            &mut self.scratch,
            &mut self.ex_spans,
            None,
            false,
        )?;
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
        let strict = self.options.strict;
        let om = &mut self.om;
        if om.open && om.family == name {
            let seen = match what {
                "HELP" => &mut om.has_help,
                "TYPE" => &mut om.has_type,
                _ => &mut om.has_unit,
            };
            if strict && *seen {
                return fail(
                    pos,
                    ErrorKind::DuplicateMetadata {
                        what,
                        name: name.to_owned(),
                    },
                );
            }
            if strict && om.has_samples {
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
        let strict = self.options.strict;
        let om = &mut self.om;
        if strict {
            if om.open {
                om.closed.insert(om.family.as_str().into());
            }
            if om.closed.contains(name) {
                return fail(pos, ErrorKind::InterleavedFamily(name.to_owned()));
            }
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
/// allowed only when `name` is given and not yet set; `strict` (expfmt) allows no quoted
/// names at all and no escapes other than `\\`, `\"` and `\n`.
#[allow(clippy::many_single_char_names)] // `b`, `i`, `e`, `s`, `q`: bytes, index, end, span, quote.
#[inline]
fn labels(
    b: &[u8],
    input: &str,
    mut i: usize,
    scratch: &mut String,
    spans: &mut Vec<PairSpan>,
    mut name: Option<&mut Option<StrSpan>>,
    strict: bool,
) -> Lex<usize> {
    loop {
        // Blanks are allowed around every token, but real input has none: test the byte
        // before paying for the skip.
        if matches!(b.get(i), Some(b' ' | b'\t')) {
            i = skip_blanks(b, i);
        }
        let lname = match b.get(i) {
            Some(&c) if LABEL_START[usize::from(c)] => {
                let e = scan_name::<false>(b, i + 1);
                let s = input_span(i, e);
                i = e;
                s
            }
            Some(b'}') => return Ok(i + 1),
            Some(b'"') if strict => {
                return fail(i, ErrorKind::InvalidLabelName(found_at(b, input, i)));
            }
            Some(b'"') => {
                let q = i;
                let (s, e) = quoted(b, input, i, scratch, "label name", false)?;
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
        if b.get(i) == Some(&b'=') && b.get(i + 1) == Some(&b'"') {
            i += 1;
        } else {
            i = skip_blanks(b, i);
            if b.get(i) != Some(&b'=') {
                return expected(b, input, i, "equal");
            }
            i = skip_blanks(b, i + 1);
            if b.get(i) != Some(&b'"') {
                return expected(b, input, i, "label value");
            }
        }
        let n0 = i;
        let (value, e) = quoted(b, input, i, scratch, "label value", strict)?;
        // Label names are compared as bytes, length first: in real label sets the lengths
        // almost always differ, so most comparisons stop there.
        let ln = lname.bytes(input, scratch);
        if spans
            .iter()
            .any(|p| p.name.len() == ln.len() && p.name.bytes(input, scratch) == ln)
        {
            let ln = lname.resolve(input, scratch);
            return fail(n0, ErrorKind::DuplicateLabelName(ln.to_owned()));
        }
        spans.push(PairSpan { name: lname, value });
        i = e;
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i + 1),
            _ => {
                i = skip_blanks(b, i);
                match b.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => return Ok(i + 1),
                    _ => return expected(b, input, i, "comma or brace close"),
                }
            }
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
    fn overflowing_floats_are_rejected_like_go() {
        // Go's ParseFloat reports a range error where Rust would round to infinity.
        assert!(matches!(
            parse_float("1e400"),
            Err(ErrorKind::InvalidFloat(_))
        ));
        assert!(matches!(
            parse_float("-2e308"),
            Err(ErrorKind::InvalidFloat(_))
        ));
        assert_eq!(parse_float("1e-400"), Ok(0.0));
        assert_eq!(parse_float("-Infinity"), Ok(f64::NEG_INFINITY));
    }

    proptest::proptest! {
        /// The fast path answers only with the bits `str::parse::<f64>` gives (which are
        /// Go's `ParseFloat`'s for decimal input), and for every plain decimal it answers.
        #[test]
        fn fast_decimal_agrees_with_str_parse(
            sign in proptest::sample::select(vec!["", "-", "+"]),
            int in "[0-9]{0,12}",
            frac in proptest::option::of("[0-9]{0,12}"),
            exp in proptest::option::of((proptest::sample::select(vec!["e", "E"]), proptest::sample::select(vec!["", "-", "+"]), 0u32..40)),
            end in proptest::sample::select(vec!["", " ", "\n", "\t"]),
        ) {
            let mut tok = format!("{sign}{int}");
            if let Some(f) = &frac {
                tok.push('.');
                tok.push_str(f);
            }
            if let Some((e, es, n)) = exp {
                tok = format!("{tok}{e}{es}{n}");
            }
            let input = format!("{tok}{end}");
            let want = tok.parse::<f64>();
            if let Some((v, e)) = fast_decimal(input.as_bytes(), 0) {
                    proptest::prop_assert_eq!(e, tok.len());
                    let want = *want.as_ref().expect("fast path accepted what str::parse rejects");
                    proptest::prop_assert_eq!(v.to_bits(), want.to_bits(), "{}", tok);
            } else {
                    // Declining is allowed, but not for short plain decimals with a small
                    // exponent: those are the fast path's reason to exist.
                    let digits = int.len() + frac.as_ref().map_or(0, String::len);
                    let e = exp.map_or(0, |(_, es, n)| if es == "-" { -i64::from(n) } else { i64::from(n) });
                    let eff = e - frac.as_ref().map_or(0, |f| f.len() as i64);
                    proptest::prop_assert!(!((1..=15).contains(&digits) && (-22..=22).contains(&eff)), "declined {}", tok);
            }
            // The public entry point agrees whichever path it takes.
            if let Ok(w) = want
                && w.is_finite()
            {
                proptest::prop_assert_eq!(parse_float(&tok).map(f64::to_bits), Ok(w.to_bits()));
            }
        }

        /// Random floats printed in Rust's shortest and exponent forms read back exactly.
        #[test]
        fn floats_round_trip(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            if v.is_finite() {
                for s in [format!("{v}"), format!("{v:e}"), format!("{v:.3}")] {
                    let want = s.parse::<f64>().unwrap();
                    proptest::prop_assert_eq!(parse_float(&s).map(f64::to_bits), Ok(want.to_bits()), "{}", s);
                }
            }
        }

        /// The eight-bytes-at-a-time scans stop where a byte-at-a-time scan does.
        #[test]
        fn swar_scans_agree_with_byte_scans(s in proptest::collection::vec(proptest::sample::select(b"aZ09_:{} =\"\\\n\x80\xff-.".to_vec()), 0..40), from in 0usize..8) {
            let from = from.min(s.len());
            proptest::prop_assert_eq!(scan_name::<true>(&s, from), scan(&s, from, &METRIC_CHAR));
            proptest::prop_assert_eq!(scan_name::<false>(&s, from), scan(&s, from, &LABEL_CHAR));
            let stop = s[from..].iter().position(|c| matches!(c, b'"' | b'\\' | b'\n')).map_or(s.len(), |p| from + p);
            proptest::prop_assert_eq!(quote_stop(&s, from), stop);
        }
    }

    /// Runs a parser to its end: the first error's message, or `ok`.
    fn verdict(mut p: PromParser<'_>) -> String {
        loop {
            match p.next() {
                Ok(Some(_)) => {}
                Ok(None) => return "ok".into(),
                Err(e) => return e.to_string(),
            }
        }
    }

    /// Strict mode against the scrape parser on the inputs where expfmt and Prometheus's
    /// scrape parser disagree (each verdict checked against promtool 2.42 by the peer test
    /// in `crates/cli/tests/promtool_peer.rs`).
    #[test]
    fn strict_mode_follows_expfmt() {
        let cases: &[(&str, &str, &str)] = &[
            // (input, scrape parser, strict)
            (
                "m{a=\"\\q\"} 1\n",
                "ok",
                "1:6: invalid escape sequence '\\q'",
            ),
            (
                "# HELP m a \\q\nm 1\n",
                "ok",
                "1:12: invalid escape sequence '\\q'",
            ),
            (
                "# HELP m \\\"\nm 1\n",
                "ok",
                "1:10: invalid escape sequence '\\\"'",
            ),
            (
                "# HELP m a\n# HELP m b\n",
                "ok",
                "2:1: duplicate HELP for metric family \"m\"",
            ),
            (
                "m 1\n# TYPE m gauge\n",
                "ok",
                "2:1: TYPE for metric family \"m\" after its samples",
            ),
            (
                "# TYPE m histogram\nm_sum 1\n# TYPE m_bucket gauge\n",
                "ok",
                "3:1: duplicate TYPE for metric family \"m\"",
            ),
            ("a 1\nb 1\na 2\n", "ok", "ok"),
            (
                "m{__name__=\"x\"} 1\n",
                "ok",
                "1:1: label name \"__name__\" is reserved",
            ),
            (
                "# TYPE m summary\nm_sum{quantile=\"x\"} 1\n",
                "ok",
                "2:1: expected float as value for 'quantile' label, got \"x\"",
            ),
            (
                "m 1",
                "ok",
                "1:4: unexpected end of input stream: the last line has no line feed",
            ),
            (
                "# c",
                "ok",
                "1:4: unexpected end of input stream: the last line has no line feed",
            ),
            ("m 1 \n", "ok", "1:5: invalid timestamp \"\""),
            (
                "m 1 2 \n",
                "ok",
                "1:6: expected next entry after timestamp, got \" \"",
            ),
            ("{\"m\"} 1\n", "ok", "1:1: metric name not set"),
            (
                "m{\"a\"=\"b\"} 1\n",
                "ok",
                "1:3: invalid label name \"\\\"\"",
            ),
            (
                "# HELP \"m\" x\n",
                "ok",
                "1:8: invalid metric name in comment",
            ),
            (
                "# TYPE m COUNTER\nm 1\n",
                "1:10: invalid metric type \"COUNTER\"",
                "ok",
            ),
            (
                "# TYPE m gauge_histogram\nm 1\n",
                "1:10: invalid metric type \"gauge_histogram\"",
                "ok",
            ),
            (
                "# TYPE m gauge \nm 1\n",
                "ok",
                "1:10: invalid metric type \"gauge \"",
            ),
            ("# TYPE m\nm 1\n", "1:9: expected text in TYPE", "ok"),
            (
                "# HELP\n",
                "1:7: expected metric name after HELP, got \"\\n\"",
                "ok",
            ),
            (
                "m{a=\"b\"}1\n",
                "1:9: expected value after metric, got \"1\"",
                "ok",
            ),
            (
                "m {a=\"b\"} 1\n",
                "1:3: invalid float \"{a=\\\"b\\\"}\"",
                "ok",
            ),
            (
                "  m 1\n",
                "1:1: expected a valid start token, got \" \"",
                "ok",
            ),
        ];
        for &(input, lenient, strict) in cases {
            assert_eq!(
                verdict(PromParser::new(input)),
                lenient,
                "scrape parser on {input:?}"
            );
            let p = PromParser::with_options(input, PromOptions { strict: true });
            assert_eq!(verdict(p), strict, "strict mode on {input:?}");
        }
    }

    #[test]
    fn strict_mode_reports_expfmt_families() {
        let input = "# TYPE s summary\ns_count 1\n# HELP s_sum x\ns_total 2\n";
        let mut p = PromParser::with_options(input, PromOptions { strict: true });
        let mut seen = Vec::new();
        while p.next().unwrap().is_some() {
            seen.push(p.family().unwrap().to_owned());
        }
        assert_eq!(seen, ["s", "s", "s", "s_total"]);
        assert_eq!(PromParser::new(input).family(), None);
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
