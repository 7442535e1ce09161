//! Go's `fmt` as templates use it: `%v` printing of template values, `printf` verbs
//! with flags, width and precision, and `strconv`'s float formats.

use std::fmt::Write as _;

use promlite_model::go_quote;

use super::value::Value;

/// Go's `strconv.FormatFloat(v, 'g', prec, 64)`; `None` is the shortest precision that
/// round-trips, what `%v` uses. Go then switches to an exponent below 1e-4 and, because
/// it decides with precision 6 when the precision is shortest, from 1e6 up.
pub(crate) fn format_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sci = match prec {
        None => format!("{v:e}"),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v),
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let eprec = match prec {
        None => 6,
        Some(p) => p.max(1) as i32,
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else {
        out.push_str(&fixed_from_digits(digits, exp + 1));
    }
    out
}

/// Places the decimal point `dp` digits into `digits`.
fn fixed_from_digits(digits: &str, dp: i32) -> String {
    let nd = digits.len() as i32;
    if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

/// Go's `%e` with `prec` decimals.
pub(crate) fn format_e(v: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sci = format!("{v:.prec$e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let e = if upper { 'E' } else { 'e' };
    format!(
        "{mant}{e}{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// Go's `%f` with `prec` decimals.
pub(crate) fn format_f(v: f64, prec: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.prec$}"))
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v == f64::INFINITY {
        Some("+Inf".into())
    } else if v == f64::NEG_INFINITY {
        Some("-Inf".into())
    } else {
        None
    }
}

/// Go's `%v` of a float64.
pub(crate) fn float_v(v: f64) -> String {
    format_g(v, None)
}

/// Go's type name of a value, as fmt prints it in `%!verb(type=value)`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Html(_) => "template.HTML",
        Value::Map(_, true) => "map[string]string",
        Value::Map(_, false) => "map[string]interface {}",
        Value::List(_) => "template.queryResult",
        Value::Sample(_) => "*template.sample",
        Value::Struct(..) => "struct",
        Value::Time(_) => "*time.Time",
        Value::Invalid => "<invalid>",
    }
}

/// Go's `fmt.Sprint` of one value (`%v`).
pub(crate) fn sprint_value(v: &Value, out: &mut String) {
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Invalid => out.push_str("<no value>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&float_v(*f)),
        Value::Str(s) | Value::Html(s) => out.push_str(s),
        Value::Map(m, _) => {
            out.push_str("map[");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                sprint_value(v, out);
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                sprint_value(v, out);
            }
            out.push(']');
        }
        Value::Sample(s) => {
            out.push_str("&{map[");
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:{v}");
            }
            out.push_str("] ");
            out.push_str(&float_v(s.value));
            out.push('}');
        }
        Value::Struct(fields, _) => {
            out.push('{');
            for (i, (_, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                sprint_value(v, out);
            }
            out.push('}');
        }
        Value::Time(ns) => out.push_str(&super::funcs::format_time(*ns)),
    }
}

/// Go's `fmt.Sprint(args...)`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_) | Value::Html(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        sprint_value(a, &mut out);
    }
    out
}

/// Go's `fmt.Sprintln(args...)`: spaces between all operands, then a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        sprint_value(a, &mut out);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)] // Go's fmt flags, one bool each as in fmt.fmtFlags.
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf(format, args...)` for the verbs templates use.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let mut num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = match args.get(next_arg) {
                    Some(Value::Int(i)) => Some((*i).max(0) as usize),
                    _ => None,
                };
                next_arg += 1;
                return v;
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_arg += 1;
        let body = format_one(verb, spec, arg);
        pad(&mut out, &body, spec);
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[next_arg..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(type_name(a));
            out.push('=');
            sprint_value(a, &mut out);
        }
        out.push(')');
    }
    out
}

fn pad(out: &mut String, body: &str, spec: Spec) {
    let len = body.chars().count();
    let w = spec.width.unwrap_or(0);
    if len >= w {
        out.push_str(body);
    } else if spec.minus {
        out.push_str(body);
        out.push_str(&" ".repeat(w - len));
    } else if spec.zero && body.starts_with(['-', '+']) {
        out.push_str(&body[..1]);
        out.push_str(&"0".repeat(w - len));
        out.push_str(&body[1..]);
    } else if spec.zero {
        out.push_str(&"0".repeat(w - len));
        out.push_str(body);
    } else {
        out.push_str(&" ".repeat(w - len));
        out.push_str(body);
    }
}

fn bad_verb(verb: char, arg: &Value) -> String {
    let mut s = format!("%!{verb}({}=", type_name(arg));
    sprint_value(arg, &mut s);
    s.push(')');
    s
}

fn signed(s: String, spec: Spec, negative: bool) -> String {
    if negative || s.starts_with(['+', '-']) {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_one(verb: char, spec: Spec, arg: &Value) -> String {
    match (verb, arg) {
        ('v', Value::Float(f)) => signed(
            match spec.prec {
                Some(p) => format_g(*f, Some(p)),
                None => float_v(*f),
            },
            spec,
            *f < 0.0,
        ),
        ('v' | 'd', Value::Int(i)) => signed(i.to_string(), spec, *i < 0),
        ('v' | 's', Value::Str(s) | Value::Html(s)) => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('v', _) | ('s', Value::Map(..) | Value::List(_) | Value::Sample(_) | Value::Time(_)) => {
            let mut s = String::new();
            sprint_value(arg, &mut s);
            s
        }
        ('t', Value::Bool(b)) => b.to_string(),
        ('q', Value::Str(s) | Value::Html(s)) => {
            if spec.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            }
        }
        ('q', Value::Int(i)) => match char::from_u32(*i as u32) {
            Some(c) => format!("'{}'", go_quote(&c.to_string()).trim_matches('"')),
            None => bad_verb(verb, arg),
        },
        ('x' | 'X', Value::Int(i)) => {
            let s = if verb == 'x' {
                format!("{:x}", i.unsigned_abs())
            } else {
                format!("{:X}", i.unsigned_abs())
            };
            let s = if spec.sharp { format!("0x{s}") } else { s };
            signed(if *i < 0 { format!("-{s}") } else { s }, spec, *i < 0)
        }
        ('x' | 'X', Value::Str(s) | Value::Html(s)) => {
            let mut o = String::new();
            for b in s.bytes() {
                if verb == 'x' {
                    let _ = write!(o, "{b:02x}");
                } else {
                    let _ = write!(o, "{b:02X}");
                }
            }
            o
        }
        ('x' | 'X', Value::Float(f)) => {
            // Go's %x of a float is hexadecimal mantissa/exponent; rarely used in alerts.
            bad_verb(verb, &Value::Float(*f))
        }
        ('U', Value::Int(i)) => format!("U+{i:04X}"),
        ('o', Value::Int(i)) => signed(format!("{i:o}"), spec, *i < 0),
        ('b', Value::Int(i)) => signed(format!("{i:b}"), spec, *i < 0),
        ('c', Value::Int(i)) => {
            char::from_u32(*i as u32).map_or_else(|| bad_verb(verb, arg), String::from)
        }
        ('f' | 'F', Value::Float(f)) => {
            signed(format_f(*f, spec.prec.unwrap_or(6)), spec, *f < 0.0)
        }
        ('e' | 'E', Value::Float(f)) => signed(
            format_e(*f, spec.prec.unwrap_or(6), verb == 'E'),
            spec,
            *f < 0.0,
        ),
        ('g' | 'G', Value::Float(f)) => {
            let s = format_g(*f, spec.prec);
            let s = if verb == 'G' { s.to_uppercase() } else { s };
            signed(s, spec, *f < 0.0)
        }
        _ => bad_verb(verb, arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(float_v(1.0), "1");
        assert_eq!(float_v(0.1), "0.1");
        assert_eq!(float_v(1_234_567.0), "1.234567e+06");
        assert_eq!(float_v(123_456.0), "123456");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_v(f64::INFINITY), "+Inf");
        assert_eq!(format_g(1.234_567_8, Some(4)), "1.235");
        assert_eq!(format_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(format_g(100_000.0, Some(4)), "1e+05");
        assert_eq!(format_g(0.0, Some(4)), "0");
        assert_eq!(format_g(999.9999, Some(4)), "1000");
        assert_eq!(format_e(1234.5, 6, false), "1.234500e+03");
    }

    #[test]
    fn printf_verbs() {
        let f = Value::Float(2.5);
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%.2f", vec![f.clone()], "2.50"),
            ("%f", vec![f.clone()], "2.500000"),
            ("%g", vec![f.clone()], "2.5"),
            ("%v", vec![f.clone()], "2.5"),
            ("%e", vec![f.clone()], "2.500000e+00"),
            ("%d items", vec![Value::Int(3)], "3 items"),
            (
                "%5d|%-5d|%05d",
                vec![Value::Int(3), Value::Int(3), Value::Int(-3)],
                "    3|3    |-0003",
            ),
            ("%s", vec![Value::Str("x".into())], "x"),
            ("%q", vec![Value::Str("a\"b".into())], "\"a\\\"b\""),
            ("%x", vec![Value::Int(255)], "ff"),
            ("%x", vec![Value::Str("hi".into())], "6869"),
            ("%d", vec![Value::Str("x".into())], "%!d(string=x)"),
            ("%d", vec![], "%!d(MISSING)"),
            (
                "%s",
                vec![Value::Str("a".into()), Value::Int(1)],
                "a%!(EXTRA int=1)",
            ),
            ("100%%", vec![], "100%"),
            ("%t", vec![Value::Bool(true)], "true"),
            ("%U", vec![Value::Int(65)], "U+0041"),
            ("%.1s", vec![Value::Str("abc".into())], "a"),
            ("%+.1f", vec![Value::Float(2.0)], "+2.0"),
        ];
        for (fmt, args, want) in cases {
            assert_eq!(sprintf(fmt, &args), want, "{fmt}");
        }
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            sprint(&[
                Value::Int(1),
                Value::Int(2),
                Value::Str("a".into()),
                Value::Int(3)
            ]),
            "1 2a3"
        );
        assert_eq!(sprintln(&[Value::Str("a".into()), Value::Int(1)]), "a 1\n");
    }
}
