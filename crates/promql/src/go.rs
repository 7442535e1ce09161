//! Go standard-library behaviour that PromQL inherits from Prometheus: number and duration
//! literals (`strconv.ParseInt`/`ParseFloat`, `model.ParseDuration`), string unquoting, and
//! the quoting and float formats used in error messages and printed queries.

use std::fmt::Write as _;

/// Go's `strconv.QuoteRune` (`%q` of a rune); `None` stands for the lexer's end of input.
pub(crate) fn quote_rune(c: Option<char>) -> String {
    let c = c.unwrap_or('\u{FFFD}');
    let mut s = String::with_capacity(8);
    s.push('\'');
    match c {
        '\'' => s.push_str("\\'"),
        '\\' => s.push_str("\\\\"),
        '\u{7}' => s.push_str("\\a"),
        '\u{8}' => s.push_str("\\b"),
        '\u{c}' => s.push_str("\\f"),
        '\n' => s.push_str("\\n"),
        '\r' => s.push_str("\\r"),
        '\t' => s.push_str("\\t"),
        '\u{b}' => s.push_str("\\v"),
        c if is_printable(c) => s.push(c),
        c => {
            let n = u32::from(c);
            let _ = if n < 0x80 {
                write!(s, "\\x{n:02x}")
            } else if n < 0x1_0000 {
                write!(s, "\\u{n:04x}")
            } else {
                write!(s, "\\U{n:08x}")
            };
        }
    }
    s.push('\'');
    s
}

/// Go's `%#U`: `U+0063 'c'` (the quoted character only when printable).
pub(crate) fn unicode_hash(c: Option<char>) -> String {
    let c = c.unwrap_or('\u{FFFD}');
    let n = u32::from(c);
    if is_printable(c) {
        format!("U+{n:04X} '{c}'")
    } else {
        format!("U+{n:04X}")
    }
}

/// An approximation of Go's `unicode.IsPrint`.
fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
        || ('\u{e000}'..='\u{f8ff}').contains(&c))
}

/// Go's `%.10q`: the first ten characters quoted.
pub(crate) fn quote_prefix10(s: &str) -> String {
    let end = s.char_indices().nth(10).map_or(s.len(), |(i, _)| i);
    promlite_model::go_quote(&s[..end])
}

/// Prometheus's `strutil.Unquote` for a string token the lexer already validated.
///
/// Go strings may hold any bytes, so `\xff` or `\377` yield a byte that is not UTF-8 on
/// its own; Rust strings cannot, and such bytes are replaced by U+FFFD (documented in the
/// crate manual).
pub(crate) fn unquote(tok: &str) -> String {
    match String::from_utf8(unquote_bytes(tok)) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// [`unquote`] without the UTF-8 repair: the bytes Go's `strconv.Unquote` returns.
// A byte-level decoder: `b`, `i`, `c`, `v`, `n` are its cursor and scratch values.
#[allow(clippy::many_single_char_names)]
pub(crate) fn unquote_bytes(tok: &str) -> Vec<u8> {
    let bytes = tok.as_bytes();
    let quote = bytes[0];
    let inner = &tok[1..tok.len() - 1];
    if quote == b'`' || !inner.contains('\\') {
        return inner.as_bytes().to_vec();
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                }
                out.push(v as u8);
            }
            b'x' => {
                let v = hex_value(&b[i..i + 2]);
                i += 2;
                out.push(v as u8);
            }
            b'u' | b'U' => {
                let n = if c == b'u' { 4 } else { 8 };
                let v = hex_value(&b[i..i + n]);
                i += n;
                let ch = char::from_u32(v).unwrap_or('\u{FFFD}');
                let mut buf = [0; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => out.push(other),
        }
    }
    out
}

/// Go's `strconv.Quote` of a byte string: like [`promlite_model::go_quote`], with each
/// byte that is not part of valid UTF-8 written as `\xNN`.
pub(crate) fn go_quote_bytes(b: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in b.utf8_chunks() {
        let q = promlite_model::go_quote(chunk.valid());
        out.push_str(&q[1..q.len() - 1]);
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

fn hex_value(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |acc, &d| {
        acc * 16 + (d as char).to_digit(16).unwrap_or(0)
    })
}

/// Prometheus's `parser.number`: `strconv.ParseInt(s, 0, 64)`, falling back to
/// `strconv.ParseFloat(s, 64)`; the error text is `ParseFloat`'s.
pub(crate) fn parse_number(s: &str) -> Result<f64, String> {
    if let Some(v) = parse_int_base0(s) {
        return Ok(v as f64);
    }
    parse_float(s)
}

/// `strconv.ParseInt(s, 0, 64)` for unsigned tokens; `None` on any error.
fn parse_int_base0(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (base, digits) = if b[0] == b'0' && b.len() > 1 {
        match b[1] {
            b'x' | b'X' if b.len() >= 3 => (16, &b[2..]),
            b'o' | b'O' if b.len() >= 3 => (8, &b[2..]),
            b'b' | b'B' if b.len() >= 3 => (2, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let mut underscores = false;
    let mut n: u64 = 0;
    for &c in digits {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let d = (c as char).to_digit(16)?;
        if d >= base {
            return None;
        }
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    i64::try_from(n).ok()
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseFloat(s, 64)` for the token shapes the lexer produces.
fn parse_float(s: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            promlite_model::go_quote(s)
        )
    };
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    // Hexadecimal floats need a `p` exponent, which the lexer never lets through.
    if lower.starts_with("0x") {
        return Err(syntax());
    }
    let cleaned;
    let text = if s.contains('_') {
        if !underscore_ok(s) {
            return Err(syntax());
        }
        cleaned = s.replace('_', "");
        cleaned.as_str()
    } else {
        s
    };
    if !text
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(syntax());
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            promlite_model::go_quote(s)
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(syntax()),
    }
}

/// Prometheus's `model.ParseDuration`, in nanoseconds like Go's `time.Duration`.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    const UNITS: [(&str, u64, u32); 7] = [
        ("y", 365 * 24 * 3600 * 1_000_000_000, 1),
        ("w", 7 * 24 * 3600 * 1_000_000_000, 2),
        ("d", 24 * 3600 * 1_000_000_000, 3),
        ("h", 3600 * 1_000_000_000, 4),
        ("m", 60 * 1_000_000_000, 5),
        ("s", 1_000_000_000, 6),
        ("ms", 1_000_000, 7),
    ];
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || {
        format!(
            "not a valid duration string: {}",
            promlite_model::go_quote(s)
        )
    };
    let mut rest = s.as_bytes();
    let mut total: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        if !rest[0].is_ascii_digit() {
            return Err(invalid());
        }
        let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let v: u64 = std::str::from_utf8(&rest[..n])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(invalid)?;
        rest = &rest[n..];
        let u = rest.iter().take_while(|c| !c.is_ascii_digit()).count();
        if u == 0 {
            return Err(invalid());
        }
        let unit = String::from_utf8_lossy(&rest[..u]).into_owned();
        rest = &rest[u..];
        let Some(&(_, mult, order)) = UNITS.iter().find(|(name, _, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                promlite_model::go_quote(&unit),
                promlite_model::go_quote(s)
            ));
        };
        if order <= last_unit {
            return Err(invalid());
        }
        last_unit = order;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total += v * mult;
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok(total as i64)
}

/// Go's `time.Duration.Seconds()`.
pub(crate) fn nanos_to_seconds(ns: i64) -> f64 {
    let sec = ns / 1_000_000_000;
    let nsec = ns % 1_000_000_000;
    sec as f64 + nsec as f64 / 1e9
}

/// A literal's seconds as whole milliseconds, the way Prometheus turns a literal into a
/// `time.Duration` (`math.Round(v * 1e9)` nanoseconds) and its engine turns that into
/// milliseconds (truncating division).
///
/// A literal written as a duration is whole milliseconds by construction, and is rounded
/// to them instead: past about 104 days `seconds * 1e9` is no longer exact in a float,
/// and Prometheus's conversion then loses a millisecond (`102d1h56m43s256ms` became
/// `…255ms`), which would also break printing round trips.
pub(crate) fn seconds_to_millis(v: f64, written_as_duration: bool) -> i64 {
    if written_as_duration {
        return (v * 1e3).round() as i64;
    }
    let ns = (v * 1e9).round() as i64;
    ns / 1_000_000
}

/// Prometheus's `model.Duration.String()` for a count of milliseconds.
pub(crate) fn write_duration(out: &mut impl std::fmt::Write, ms: i64) -> std::fmt::Result {
    if ms == 0 {
        return out.write_str("0s");
    }
    let mut ms = ms;
    let units: [(&str, i64, bool); 7] = [
        ("y", 1000 * 60 * 60 * 24 * 365, true),
        ("w", 1000 * 60 * 60 * 24 * 7, true),
        ("d", 1000 * 60 * 60 * 24, false),
        ("h", 1000 * 60 * 60, false),
        ("m", 1000 * 60, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            write!(out, "{v}{unit}")?;
            ms -= v * mult;
        }
    }
    Ok(())
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn write_float(out: &mut impl std::fmt::Write, v: f64) -> std::fmt::Result {
    promlite_model::write_go_f(out, v)
}

/// Go's `%v` of a float64: `%g` with the shortest precision, which switches to an
/// exponent from 1e6 up and below 1e-4.
pub(crate) fn write_float_v(out: &mut impl std::fmt::Write, v: f64) -> std::fmt::Result {
    promlite_model::write_go_g(out, v)
}

/// Go's `%f` (six decimals) with Go's spelling of the special values.
pub(crate) fn format_f6(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6}")
    } else {
        let mut s = String::new();
        let _ = write_float(&mut s, v);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_go() {
        assert_eq!(parse_number("0755"), Ok(493.0));
        assert_eq!(parse_number("0xc"), Ok(12.0));
        assert_eq!(parse_number("1_000"), Ok(1000.0));
        assert_eq!(parse_number("09"), Ok(9.0));
        assert_eq!(parse_number("1_000.5"), Ok(1000.5));
        assert!(parse_number("Inf").unwrap().is_infinite());
        assert!(parse_number("nAn").unwrap().is_nan());
        assert_eq!(
            parse_number("1e400").unwrap_err(),
            "strconv.ParseFloat: parsing \"1e400\": value out of range"
        );
        assert_eq!(
            parse_number("0x").unwrap_err(),
            "strconv.ParseFloat: parsing \"0x\": invalid syntax"
        );
    }

    #[test]
    fn durations_follow_prometheus() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(
            parse_duration("5m1h").unwrap_err(),
            "not a valid duration string: \"5m1h\""
        );
        assert_eq!(
            parse_duration("5y1hs").unwrap_err(),
            "unknown unit \"hs\" in duration \"5y1hs\""
        );
        let mut s = String::new();
        write_duration(&mut s, 90_061_001).unwrap();
        assert_eq!(s, "1d1h1m1s1ms");
        s.clear();
        write_duration(&mut s, 8 * 24 * 3600 * 1000).unwrap();
        assert_eq!(s, "8d");
    }

    #[test]
    fn float_formats() {
        let mut s = String::new();
        write_float_v(&mut s, 1e21).unwrap();
        assert_eq!(s, "1e+21");
        s.clear();
        write_float_v(&mut s, -23.0).unwrap();
        assert_eq!(s, "-23");
        s.clear();
        write_float_v(&mut s, 0.00001).unwrap();
        assert_eq!(s, "1e-05");
        // Halfway between the shortest candidates: Go picks the even digit. (The float
        // is exact; the lint sees its shortest digits, .2, differ from the literal.)
        s.clear();
        #[allow(clippy::excessive_precision)]
        let tie = 639_075_167_746_196.25;
        write_float(&mut s, tie).unwrap();
        assert_eq!(s, "639075167746196.2");
        assert_eq!(quote_rune(Some('~')), "'~'");
        assert_eq!(unicode_hash(Some('c')), "U+0063 'c'");
    }
}
