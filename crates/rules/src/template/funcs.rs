//! The functions a template may call: Go's built-ins and Prometheus's template
//! functions, with their output formats and error messages.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use super::gofmt::{self, format_g, type_name};
use super::value::{QuerySample, Value};

/// Runs a PromQL query at the template's evaluation time.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<Vec<QuerySample>, String> + 'a;

/// What Prometheus's functions need from outside the template.
pub(crate) struct Env<'a> {
    pub(crate) query: Option<&'a QueryFn<'a>>,
    pub(crate) external_url: &'a str,
}

/// Names of Go's built-in functions.
const BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// Names of Prometheus's template functions.
const PROMETHEUS: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "now",
    "urlQueryEscape",
    "stripPort",
    "stripDomain",
];

/// Whether a template may call `name`.
pub(crate) fn exists(name: &str) -> bool {
    BUILTINS.contains(&name) || PROMETHEUS.contains(&name)
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn want_str(a: &[Value], i: usize) -> Result<String, Failure> {
    match &a[i] {
        Value::Str(s) | Value::Html(s) => Ok(s.clone()),
        other => Err(Failure::ArgType {
            index: i,
            expected: "string",
            got: type_name(other),
        }),
    }
}

fn want_sample(a: &[Value], i: usize) -> Result<Rc<QuerySample>, Failure> {
    match &a[i] {
        Value::Sample(s) => Ok(s.clone()),
        // A nil pointer reaches the function, which dereferences it.
        Value::Nil => Err(fail(
            "runtime error: invalid memory address or nil pointer dereference",
        )),
        other => Err(Failure::ArgType {
            index: i,
            expected: "*template.sample",
            got: type_name(other),
        }),
    }
}

fn want_list(a: &[Value], i: usize) -> Result<Rc<Vec<Value>>, Failure> {
    match &a[i] {
        Value::List(l) => Ok(l.clone()),
        Value::Nil => Ok(Rc::new(Vec::new())),
        other => Err(Failure::ArgType {
            index: i,
            expected: "template.queryResult",
            got: type_name(other),
        }),
    }
}

/// Prometheus's `ConvertToFloat`: numbers and numeric strings.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) | Value::Html(s) => parse_go_float(s).ok_or_else(|| {
            format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                promlite_model::go_quote(s)
            )
        }),
        other => Err(format!("can't convert {} to float", type_name(other))),
    }
}

/// Go's `strconv.ParseFloat` for the spellings that matter: decimals, exponents,
/// `Inf`/`NaN` in any case, and underscores never.
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return match (lower.as_str(), body) {
            (_, "nan") => Some(f64::NAN),
            (l, _) if l.starts_with('-') => Some(f64::NEG_INFINITY),
            _ => Some(f64::INFINITY),
        };
    }
    if body.is_empty()
        || body
            .bytes()
            .any(|c| !(c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-')))
    {
        return None;
    }
    s.parse().ok()
}

/// Calls function `name` with evaluated arguments; errors are Go's text after `at <…>: `.
pub(crate) fn call(env: &Env<'_>, name: &str, args: &[Value]) -> Result<Value, Failure> {
    call_inner(env, name, args).map_err(|e| match e {
        Failure::Call(m) => Failure::Call(format!("error calling {name}: {m}")),
        args => args,
    })
}

/// Why a call failed; Go reports the two kinds at different nodes.
pub(crate) enum Failure {
    /// Arguments of the wrong number or type: reported without `error calling`.
    Args(String),
    /// The function itself failed.
    Call(String),
    /// Argument `index` (counting the piped value last) has the wrong type.
    ArgType {
        index: usize,
        expected: &'static str,
        got: &'static str,
    },
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Args(s)
    }
}

fn fail(m: impl Into<String>) -> Failure {
    Failure::Call(m.into())
}

fn call_inner(env: &Env<'_>, name: &str, a: &[Value]) -> Result<Value, Failure> {
    let one_float = |a: &[Value]| -> Result<f64, Failure> {
        arity(name, a, 1)?;
        to_float(&a[0]).map_err(Failure::Call)
    };
    let one_str = |a: &[Value]| -> Result<String, Failure> {
        arity(name, a, 1)?;
        want_str(a, 0)
    };
    Ok(match name {
        "not" => {
            arity(name, a, 1)?;
            Value::Bool(!a[0].truth())
        }
        "len" => {
            arity(name, a, 1)?;
            Value::Int(match &a[0] {
                Value::Str(s) | Value::Html(s) => s.len(),
                Value::Map(m, _) => m.len(),
                Value::List(l) => l.len(),
                other => return Err(fail(format!("len of type {}", type_name(other)))),
            } as i64)
        }
        "index" => {
            if a.is_empty() {
                return Err(Failure::Args(
                    "wrong number of args for index: want at least 1 got 0".into(),
                ));
            }
            let mut v = a[0].clone();
            for k in &a[1..] {
                v = match (&v, k) {
                    (Value::Map(m, strings), key) => {
                        let (Value::Str(key) | Value::Html(key)) = key else {
                            return Err(fail(format!(
                                "value has type {}; should be string",
                                type_name(key)
                            )));
                        };
                        m.get(key.as_str()).cloned().unwrap_or(if *strings {
                            Value::Str(String::new())
                        } else {
                            Value::Invalid
                        })
                    }
                    (Value::List(l), Value::Int(i)) => l
                        .get(usize::try_from(*i).unwrap_or(usize::MAX))
                        .cloned()
                        .ok_or_else(|| fail(format!("index out of range: {i}")))?,
                    (Value::Str(s), Value::Int(i)) => s
                        .as_bytes()
                        .get(usize::try_from(*i).unwrap_or(usize::MAX))
                        .map(|b| Value::Int(i64::from(*b)))
                        .ok_or_else(|| fail(format!("index out of range: {i}")))?,
                    (Value::Nil, _) => return Err(fail("index of untyped nil")),
                    (other, _) => {
                        return Err(fail(format!(
                            "can't index item of type {}",
                            type_name(other)
                        )));
                    }
                };
            }
            v
        }
        "slice" => {
            if a.is_empty() || a.len() > 4 {
                return Err(fail("wrong number of args for slice"));
            }
            let idx: Vec<usize> = a[1..]
                .iter()
                .map(|v| match v {
                    Value::Int(i) if *i >= 0 => Ok(*i as usize),
                    _ => Err(fail("cannot index slice/array with nil")),
                })
                .collect::<Result<_, _>>()?;
            match &a[0] {
                Value::Str(s) => {
                    let lo = idx.first().copied().unwrap_or(0);
                    let hi = idx.get(1).copied().unwrap_or(s.len());
                    if lo > hi || hi > s.len() || !s.is_char_boundary(lo) || !s.is_char_boundary(hi)
                    {
                        return Err(fail(format!("index out of range: {hi}")));
                    }
                    Value::Str(s[lo..hi].to_owned())
                }
                Value::List(l) => {
                    let lo = idx.first().copied().unwrap_or(0);
                    let hi = idx.get(1).copied().unwrap_or(l.len());
                    if lo > hi || hi > l.len() {
                        return Err(fail(format!("index out of range: {hi}")));
                    }
                    Value::List(Rc::new(l[lo..hi].to_vec()))
                }
                other => {
                    return Err(fail(format!(
                        "can't slice item of type {}",
                        type_name(other)
                    )));
                }
            }
        }
        "print" => Value::Str(gofmt::sprint(a)),
        "println" => Value::Str(gofmt::sprintln(a)),
        "printf" => {
            if a.is_empty() {
                return Err(Failure::Args(
                    "wrong number of args for printf: want at least 1 got 0".into(),
                ));
            }
            let f = want_str(a, 0)?;
            Value::Str(gofmt::sprintf(&f, &a[1..]))
        }
        "html" => Value::Str(html_escape(&gofmt::sprint(a))),
        "js" => Value::Str(js_escape(&gofmt::sprint(a))),
        "urlquery" => Value::Str(query_escape(&gofmt::sprint(a))),
        "call" => return Err(fail("call of nil")),
        "eq" => {
            if a.len() < 2 {
                return Err(fail("missing argument for comparison"));
            }
            let mut any = false;
            for b in &a[1..] {
                if compare(&a[0], b).map_err(fail)? == Some(Ordering::Equal) {
                    any = true;
                    break;
                }
            }
            Value::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, a, 2)?;
            let ord = compare(&a[0], &a[1]).map_err(fail)?;
            if name != "ne" && ord.is_none() {
                return Err(fail("invalid type for comparison"));
            }
            Value::Bool(match name {
                "ne" => ord != Some(Ordering::Equal),
                "lt" => ord == Some(Ordering::Less),
                "le" => ord != Some(Ordering::Greater),
                "gt" => ord == Some(Ordering::Greater),
                _ => ord != Some(Ordering::Less),
            })
        }
        // Prometheus's functions.
        "query" => {
            let q = one_str(a)?;
            let Some(f) = env.query else {
                return Err(fail("no query engine available"));
            };
            let samples = f(&q).map_err(fail)?;
            Value::List(Rc::new(
                samples
                    .into_iter()
                    .map(|s| Value::Sample(Rc::new(s)))
                    .collect(),
            ))
        }
        "first" => {
            arity(name, a, 1)?;
            let l = want_list(a, 0)?;
            l.first()
                .cloned()
                .ok_or_else(|| fail("first() called on vector with no elements"))?
        }
        "label" => {
            arity(name, a, 2)?;
            let l = want_str(a, 0)?;
            let s = want_sample(a, 1)?;
            Value::Str(s.labels.get(&l).cloned().unwrap_or_default())
        }
        "value" => {
            arity(name, a, 1)?;
            Value::Float(want_sample(a, 0)?.value)
        }
        "strvalue" => {
            arity(name, a, 1)?;
            let s = want_sample(a, 0)?;
            Value::Str(s.labels.get("__value__").cloned().unwrap_or_default())
        }
        "args" => Value::Map(
            Rc::new(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v.clone()))
                    .collect(),
            ),
            false,
        ),
        "reReplaceAll" => {
            arity(name, a, 3)?;
            let (p, repl, text) = (want_str(a, 0)?, want_str(a, 1)?, want_str(a, 2)?);
            let re = compile(&p).map_err(fail)?;
            Value::Str(re.replace_all(&text, repl.as_str()).into_owned())
        }
        "match" => {
            arity(name, a, 2)?;
            let (p, s) = (want_str(a, 0)?, want_str(a, 1)?);
            let re = compile(&p).map_err(fail)?;
            Value::Bool(re.is_match(&s))
        }
        "safeHtml" => Value::Html(one_str(a)?),
        "title" => Value::Str(title(&one_str(a)?)),
        "toUpper" => Value::Str(one_str(a)?.to_uppercase()),
        "toLower" => Value::Str(one_str(a)?.to_lowercase()),
        "graphLink" => Value::Str(format!(
            "/graph?g0.expr={}&g0.tab=0",
            query_escape(&one_str(a)?)
        )),
        "tableLink" => Value::Str(format!(
            "/graph?g0.expr={}&g0.tab=1",
            query_escape(&one_str(a)?)
        )),
        "sortByLabel" => {
            arity(name, a, 2)?;
            let label = want_str(a, 0)?;
            let mut l = (*want_list(a, 1)?).clone();
            let key = |v: &Value| match v {
                Value::Sample(s) => s.labels.get(&label).cloned().unwrap_or_default(),
                _ => String::new(),
            };
            l.sort_by_key(key);
            Value::List(Rc::new(l))
        }
        "humanize" => Value::Str(humanize(one_float(a)?)),
        "humanize1024" => Value::Str(humanize1024(one_float(a)?)),
        "humanizeDuration" => Value::Str(humanize_duration(one_float(a)?)),
        "humanizePercentage" => {
            Value::Str(format!("{}%", format_g(one_float(a)? * 100.0, Some(4))))
        }
        "humanizeTimestamp" => {
            let v = one_float(a)?;
            if v.is_finite() {
                Value::Str(format_time(seconds_to_nanos(v).map_err(fail)?))
            } else {
                Value::Str(format_g(v, Some(4)))
            }
        }
        "toTime" => {
            let v = one_float(a)?;
            if !v.is_finite() {
                return Err(fail("value is NaN or Inf"));
            }
            Value::Time(seconds_to_nanos(v).map_err(fail)?)
        }
        "toDuration" => {
            let v = one_float(a)?;
            if !v.is_finite() {
                return Err(fail("value is NaN or Inf"));
            }
            Value::Str(go_duration((v * 1e9).round() as i64))
        }
        "now" => {
            arity(name, a, 0)?;
            Value::Float(promlite_model::value::now_ms() as f64 / 1000.0)
        }
        "pathPrefix" => {
            arity(name, a, 0)?;
            Value::Str(url_path(env.external_url).to_owned())
        }
        "externalURL" => {
            arity(name, a, 0)?;
            Value::Str(env.external_url.to_owned())
        }
        "parseDuration" => {
            let s = one_str(a)?;
            let d = crate::file::parse_duration(&s).ok_or_else(|| {
                fail(format!(
                    "not a valid duration string: {}",
                    promlite_model::go_quote(&s)
                ))
            })?;
            Value::Float(d.as_secs_f64())
        }
        "urlQueryEscape" => Value::Str(query_escape(&one_str(a)?)),
        "stripPort" => {
            let s = one_str(a)?;
            Value::Str(split_host_port(&s).map_or(s.clone(), |(h, _)| h))
        }
        "stripDomain" => {
            let s = one_str(a)?;
            let (host, port) = split_host_port(&s).unwrap_or((s.clone(), String::new()));
            if host.parse::<std::net::IpAddr>().is_ok() {
                Value::Str(s)
            } else {
                let short = host.split('.').next().unwrap_or("").to_owned();
                Value::Str(if port.is_empty() {
                    short
                } else {
                    join_host_port(&short, &port)
                })
            }
        }
        other => return Err(fail(format!("function {other:?} not defined"))),
    })
}

/// Go's `eq`/`lt` comparison: same basic kinds only; `None` when the kinds are equal but
/// unordered (bools).
fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, String> {
    use Value::{Bool, Float, Html, Int, List, Map, Nil, Str, Struct};
    Ok(match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Float(x), Float(y)) => x.partial_cmp(y).or(Some(Ordering::Less)),
        (Str(x) | Html(x), Str(y) | Html(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => (x == y).then_some(Ordering::Equal),
        (Nil, Nil) => Some(Ordering::Equal),
        (Map(..) | List(_) | Struct(..), _) | (_, Map(..) | List(_) | Struct(..)) => {
            return Err("non-comparable types".into());
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn compile(p: &str) -> Result<regex::Regex, String> {
    let rust = promlite_model::go_regex_to_rust(p);
    regex::Regex::new(&rust).map_err(|e| {
        format!(
            "error parsing regexp: {}",
            go_regexp_error(&rust).unwrap_or_else(|| e.to_string())
        )
    })
}

/// Go's `regexp/syntax` wording for the syntax errors people make most, located by
/// `regex-syntax`'s parser (the `regex` crate only gives its own text).
fn go_regexp_error(p: &str) -> Option<String> {
    use regex_syntax::ast::ErrorKind as K;
    let err = regex_syntax::ast::parse::Parser::new().parse(p).err()?;
    let at = err.span().start.offset;
    let rest = p.get(at..).unwrap_or(p);
    Some(match err.kind() {
        K::GroupUnclosed => format!("missing closing ): `{p}`"),
        K::GroupUnopened => format!("unexpected ): `{p}`"),
        K::ClassUnclosed => format!("missing closing ]: `{rest}`"),
        K::RepetitionMissing => format!(
            "missing argument to repetition operator: `{}`",
            rest.chars().next().unwrap_or('*')
        ),
        K::EscapeUnexpectedEof => "trailing backslash at end of expression: ``".to_owned(),
        _ => return None,
    })
}

/// Prometheus's `humanize`: SI prefixes, four significant digits.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_g(v, Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus's `humanize1024`: binary prefixes.
pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return format_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus's `humanizeDuration`: `1d 2h 3m 4s`, or sub-second prefixes.
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return format_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let whole = v as i64;
        let (s, m, h, d) = (
            whole % 60,
            whole / 60 % 60,
            whole / 3600 % 24,
            whole / 86400,
        );
        return if d != 0 {
            format!("{sign}{d}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", format_g(v, Some(4)))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, Some(4)))
}

fn seconds_to_nanos(v: f64) -> Result<i64, String> {
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::float_v(v)
        ));
    }
    // Prometheus goes through model.Time (milliseconds) for humanizeTimestamp and toTime.
    Ok((ns as i64) / 1_000_000 * 1_000_000)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let (y, m, d) = promlite_model::time::civil_from_days(z);
    (y, m as u32, d as u32)
}

/// Splits nanoseconds since the epoch into date, time of day and fraction.
fn split_time(ns: i64) -> ((i64, u32, u32), (i64, i64, i64), i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    (
        civil_from_days(days),
        (sod / 3600, sod / 60 % 60, sod % 60),
        frac,
    )
}

/// Go's `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn format_time(ns: i64) -> String {
    let ((y, mo, d), (h, mi, s), frac) = split_time(ns);
    let mut out = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
    if frac != 0 {
        let f = format!("{frac:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// RFC 3339 with milliseconds when present, in UTC (`2006-01-02T15:04:05.123Z`), the way
/// Go's JSON encoding of `time.Time` writes it (up to nanoseconds, trailing zeros cut).
pub(crate) fn format_rfc3339(ms: i64) -> String {
    let ((y, mo, d), (h, mi, s), frac) = split_time(ms.saturating_mul(1_000_000));
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if frac != 0 {
        let f = format!("{frac:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Methods of `*time.Time` a template may use as fields.
pub(crate) fn time_method(ns: i64, name: &str) -> Option<Value> {
    Some(match name {
        "Unix" => Value::Int(ns.div_euclid(1_000_000_000)),
        "UnixMilli" => Value::Int(ns.div_euclid(1_000_000)),
        "UnixNano" => Value::Int(ns),
        "UTC" => Value::Time(ns),
        "String" => Value::Str(format_time(ns)),
        "Year" => Value::Int(split_time(ns).0.0),
        _ => return None,
    })
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", trim_frac(u as f64 / 1e3))
    } else if u < 1_000_000_000 {
        format!("{}ms", trim_frac(u as f64 / 1e6))
    } else {
        let total_s = u / 1_000_000_000;
        let frac = u % 1_000_000_000;
        let (h, m, s) = (total_s / 3600, total_s / 60 % 60, total_s % 60);
        let mut secs = s.to_string();
        if frac != 0 {
            secs.push('.');
            secs.push_str(format!("{frac:09}").trim_end_matches('0'));
        }
        if h > 0 {
            format!("{h}h{m}m{secs}s")
        } else if m > 0 {
            format!("{m}m{secs}s")
        } else {
            format!("{secs}s")
        }
    };
    if neg { format!("-{body}") } else { body }
}

fn trim_frac(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Go's `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The path of an absolute URL (`http://h:9090/prefix` → `/prefix`).
fn url_path(u: &str) -> &str {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

/// Go's `net.SplitHostPort`.
fn split_host_port(s: &str) -> Option<(String, String)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host.to_owned(), port.to_owned()));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host.to_owned(), port.to_owned()))
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Builds template data for an alert: `.Labels`, `.ExternalLabels`, `.ExternalURL`,
/// `.Value`.
pub(crate) fn alert_data(
    labels: &BTreeMap<String, String>,
    external_labels: &BTreeMap<String, String>,
    external_url: &str,
    value: f64,
) -> Value {
    Value::Struct(
        Rc::new(vec![
            ("Labels", Value::string_map(labels)),
            ("ExternalLabels", Value::string_map(external_labels)),
            ("ExternalURL", Value::Str(external_url.to_owned())),
            ("Value", Value::Float(value)),
        ]),
        "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizers_match_prometheus() {
        type Case = (fn(f64) -> String, f64, &'static str);
        let cases: &[Case] = &[
            (humanize, 1_234_567.0, "1.235M"),
            (humanize, 0.0, "0"),
            (humanize, 1.0, "1"),
            (humanize, 1000.0, "1k"),
            (humanize, 12345.0, "12.35k"),
            (humanize, 0.001_234, "1.234m"),
            (humanize, -1234.0, "-1.234k"),
            (humanize, f64::INFINITY, "+Inf"),
            (humanize, f64::NAN, "NaN"),
            (humanize1024, 1024.0, "1ki"),
            (humanize1024, 1_048_576.0, "1Mi"),
            (humanize1024, 0.5, "0.5"),
            (humanize_duration, 3661.0, "1h 1m 1s"),
            (humanize_duration, 0.0, "0s"),
            (humanize_duration, 90061.0, "1d 1h 1m 1s"),
            (humanize_duration, 60.0, "1m 0s"),
            (humanize_duration, 1.5, "1.5s"),
            (humanize_duration, 0.0012, "1.2ms"),
            (humanize_duration, -3661.0, "-1h 1m 1s"),
        ];
        for (f, v, want) in cases {
            assert_eq!(f(*v), *want, "{v}");
        }
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(
            format_time(1_435_065_584_128_000_000),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(format_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(format_rfc3339(1_500), "1970-01-01T00:00:01.5Z");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    }

    #[test]
    fn host_helpers() {
        assert_eq!(split_host_port("a.b:90"), Some(("a.b".into(), "90".into())));
        assert_eq!(
            split_host_port("[::1]:90"),
            Some(("::1".into(), "90".into()))
        );
        assert_eq!(split_host_port("a.b"), None);
        assert_eq!(url_path("http://x:9090/pre/fix"), "/pre/fix");
        assert_eq!(query_escape("a b&c"), "a+b%26c");
        assert_eq!(title("hello world-foo"), "Hello World-Foo");
    }
}
