//! `/api/v1/parse_query`: a PromQL syntax tree as the JSON object Prometheus's UI draws
//! its tree view from (Prometheus's `translateAST`). Prometheus builds Go maps, which
//! encode with their keys sorted, so every object here lists its keys in byte order.

use std::fmt::Write as _;

use promlite_model::Matcher;
use promlite_promql::{
    AtModifier, Cardinality, DurationExpr, DurationValue, Expr, NumberLiteral, UnaryOp,
    VectorSelector,
};

use crate::json::write_str;

/// The tree of `e` as JSON.
pub(crate) fn translate(e: &Expr) -> String {
    let mut out = String::new();
    expr(&mut out, e);
    out
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
fn go_float_f(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust prints the shortest round-trip digits without an exponent, as Go's 'f' does.
    format!("{v}")
}

/// A JSON number for a Go `*float64` (`null` when absent; Go's encoder writes floats
/// with 'f' between 1e-6 and 1e21 and 'e' outside).
fn json_opt_float(out: &mut String, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => {
            let a = v.abs();
            if a != 0.0 && !(1e-6..1e21).contains(&a) {
                let s = format!("{v:e}");
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let (sign, d) = e.strip_prefix('-').map_or(('+', e), |d| ('-', d));
                let _ = write!(out, "{m}e{sign}{d:0>2}");
            } else {
                let _ = write!(out, "{v}");
            }
        }
        // Absent; or NaN or an infinity, which Go's encoder refuses.
        _ => out.push_str("null"),
    }
}

fn key(out: &mut String, first: &mut bool, k: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    write_str(out, k);
    out.push(':');
}

fn str_list(out: &mut String, l: &[String]) {
    out.push('[');
    for (i, s) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, s);
    }
    out.push(']');
}

fn matchers(out: &mut String, ms: &[Matcher]) {
    out.push('[');
    for (i, m) in ms.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        write_str(out, m.name());
        out.push_str(",\"type\":");
        write_str(out, m.match_type().as_str());
        out.push_str(",\"value\":");
        write_str(out, m.value());
        out.push('}');
    }
    out.push(']');
}

/// `offset`/`range`/`step` as Prometheus splits them: milliseconds of a fixed duration
/// (else 0) and the expression (else `null`).
fn duration_pair(out: &mut String, first: &mut bool, name: &str, d: &DurationValue) {
    key(out, first, name);
    let _ = write!(out, "{}", d.fixed().unwrap_or(0));
    key(out, first, &format!("{name}Expr"));
    match d {
        DurationValue::Fixed(_) => out.push_str("null"),
        DurationValue::Expr(e) => duration_expr(out, e, false),
    }
}

fn at_parts(out: &mut String, first: &mut bool, at: Option<AtModifier>) {
    key(out, first, "startOrEnd");
    out.push_str(match at {
        Some(AtModifier::Start) => "\"start\"",
        Some(AtModifier::End) => "\"end\"",
        _ => "null",
    });
    key(out, first, "timestamp");
    match at {
        Some(AtModifier::Timestamp(t)) => {
            let _ = write!(out, "{t}");
        }
        _ => out.push_str("null"),
    }
}

fn number(out: &mut String, n: &NumberLiteral, in_duration: bool) {
    if in_duration {
        let _ = write!(out, "{{\"duration\":{},", n.duration);
    } else {
        out.push('{');
    }
    out.push_str("\"type\":\"numberLiteral\",\"val\":");
    write_str(out, &go_float_f(n.value));
    out.push('}');
}

fn duration_node(
    out: &mut String,
    op: &str,
    lhs: Option<&DurationExpr>,
    rhs: Option<&DurationExpr>,
    wrapped: bool,
) {
    out.push_str("{\"lhs\":");
    match lhs {
        Some(l) => duration_expr(out, l, false),
        None => out.push_str("null"),
    }
    out.push_str(",\"op\":");
    write_str(out, op);
    out.push_str(",\"rhs\":");
    match rhs {
        Some(r) => duration_expr(out, r, false),
        None => out.push_str("null"),
    }
    let _ = write!(out, ",\"type\":\"durationExpr\",\"wrapped\":{wrapped}}}");
}

fn duration_expr(out: &mut String, d: &DurationExpr, wrapped: bool) {
    match d {
        // A parenthesised literal is a unary-plus node in Prometheus's tree.
        DurationExpr::Number(_) if wrapped => duration_node(out, "+", None, Some(d), true),
        DurationExpr::Number(n) => number(out, n, true),
        DurationExpr::Negate { expr, .. } => match &**expr {
            DurationExpr::Number(n) => number(
                out,
                &NumberLiteral {
                    value: -n.value,
                    ..*n
                },
                true,
            ),
            _ => duration_node(out, "-", None, Some(expr), wrapped),
        },
        DurationExpr::Binary { op, lhs, rhs } => {
            duration_node(out, op.as_str(), Some(lhs), Some(rhs), wrapped);
        }
        DurationExpr::Paren { expr, .. } => duration_expr(out, expr, true),
        DurationExpr::Step(_) => duration_node(out, "step", None, None, wrapped),
        DurationExpr::Range(_) => duration_node(out, "range", None, None, wrapped),
        DurationExpr::MinOf { lhs, rhs, .. } => {
            duration_node(out, "min", Some(lhs), Some(rhs), wrapped);
        }
        DurationExpr::MaxOf { lhs, rhs, .. } => {
            duration_node(out, "max", Some(lhs), Some(rhs), wrapped);
        }
    }
}

fn card(c: Cardinality) -> &'static str {
    match c {
        Cardinality::OneToOne => "one-to-one",
        Cardinality::ManyToOne => "many-to-one",
        Cardinality::OneToMany => "one-to-many",
        Cardinality::ManyToMany => "many-to-many",
    }
}

fn selector_fields(out: &mut String, first: &mut bool, vs: &VectorSelector) {
    key(out, first, "anchored");
    let _ = write!(out, "{}", vs.anchored);
    key(out, first, "matchers");
    matchers(out, &vs.matchers);
    key(out, first, "name");
    write_str(out, vs.name.as_deref().unwrap_or(""));
    duration_pair(out, first, "offset", &vs.offset);
}

fn expr(out: &mut String, e: &Expr) {
    let mut first = true;
    out.push('{');
    match e {
        Expr::Aggregate(a) => {
            key(out, &mut first, "expr");
            expr(out, &a.expr);
            key(out, &mut first, "grouping");
            str_list(out, &a.grouping);
            key(out, &mut first, "op");
            write_str(out, a.op.as_str());
            key(out, &mut first, "param");
            match &a.param {
                Some(p) => expr(out, p),
                None => out.push_str("null"),
            }
            key(out, &mut first, "type");
            out.push_str("\"aggregation\"");
            key(out, &mut first, "without");
            let _ = write!(out, "{}", a.without);
        }
        Expr::Binary(b) => {
            key(out, &mut first, "bool");
            let _ = write!(out, "{}", b.return_bool);
            key(out, &mut first, "lhs");
            expr(out, &b.lhs);
            key(out, &mut first, "matching");
            match &b.matching {
                None => out.push_str("null"),
                Some(m) => {
                    out.push_str("{\"card\":");
                    write_str(out, card(m.card));
                    out.push_str(",\"fillValues\":{\"lhs\":");
                    json_opt_float(out, m.fill_lhs);
                    out.push_str(",\"rhs\":");
                    json_opt_float(out, m.fill_rhs);
                    out.push_str("},\"include\":");
                    str_list(out, &m.include);
                    out.push_str(",\"labels\":");
                    str_list(out, &m.labels);
                    let _ = write!(out, ",\"on\":{}}}", m.on);
                }
            }
            key(out, &mut first, "op");
            write_str(out, b.op.as_str());
            key(out, &mut first, "rhs");
            expr(out, &b.rhs);
            key(out, &mut first, "type");
            out.push_str("\"binaryExpr\"");
        }
        Expr::Call(c) => {
            key(out, &mut first, "args");
            out.push('[');
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                expr(out, a);
            }
            out.push(']');
            key(out, &mut first, "func");
            out.push_str("{\"argTypes\":[");
            for (i, t) in c.func.arg_types.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, t.as_str());
            }
            out.push_str("],\"name\":");
            write_str(out, c.func.name);
            out.push_str(",\"returnType\":");
            write_str(out, c.func.return_type.as_str());
            let _ = write!(out, ",\"variadic\":{}}}", c.func.variadic);
            key(out, &mut first, "type");
            out.push_str("\"call\"");
        }
        Expr::MatrixSelector(m) => {
            selector_fields(out, &mut first, &m.selector);
            duration_pair(out, &mut first, "range", &m.range);
            key(out, &mut first, "smoothed");
            let _ = write!(out, "{}", m.selector.smoothed);
            at_parts(out, &mut first, m.selector.at);
            key(out, &mut first, "type");
            out.push_str("\"matrixSelector\"");
        }
        Expr::Number(n) => {
            out.pop();
            number(out, n, false);
            return;
        }
        Expr::Paren(p) => {
            key(out, &mut first, "expr");
            expr(out, &p.expr);
            key(out, &mut first, "type");
            out.push_str("\"parenExpr\"");
        }
        Expr::String(s) => {
            key(out, &mut first, "type");
            out.push_str("\"stringLiteral\"");
            key(out, &mut first, "val");
            write_str(out, &s.value);
        }
        Expr::Subquery(sq) => {
            key(out, &mut first, "expr");
            expr(out, &sq.expr);
            duration_pair(out, &mut first, "offset", &sq.offset);
            duration_pair(out, &mut first, "range", &sq.range);
            key(out, &mut first, "startOrEnd");
            out.push_str(match sq.at {
                Some(AtModifier::Start) => "\"start\"",
                Some(AtModifier::End) => "\"end\"",
                _ => "null",
            });
            duration_pair(out, &mut first, "step", &sq.step);
            key(out, &mut first, "timestamp");
            match sq.at {
                Some(AtModifier::Timestamp(t)) => {
                    let _ = write!(out, "{t}");
                }
                _ => out.push_str("null"),
            }
            key(out, &mut first, "type");
            out.push_str("\"subquery\"");
        }
        Expr::Unary(u) => {
            key(out, &mut first, "expr");
            expr(out, &u.expr);
            key(out, &mut first, "op");
            write_str(
                out,
                match u.op {
                    UnaryOp::Plus => "+",
                    UnaryOp::Minus => "-",
                },
            );
            key(out, &mut first, "type");
            out.push_str("\"unaryExpr\"");
        }
        Expr::VectorSelector(vs) => {
            selector_fields(out, &mut first, vs);
            key(out, &mut first, "smoothed");
            let _ = write!(out, "{}", vs.smoothed);
            at_parts(out, &mut first, vs.at);
            key(out, &mut first, "type");
            out.push_str("\"vectorSelector\"");
        }
        _ => {
            key(out, &mut first, "type");
            out.push_str("\"unknown\"");
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> serde_json::Value {
        let e = promlite_promql::Parser::new(promlite_promql::ParserOptions::all())
            .parse(q)
            .unwrap();
        serde_json::from_str(&translate(&e)).unwrap()
    }

    #[test]
    fn selectors_and_calls() {
        let t = tree(r#"rate(http_requests_total{job="api"}[5m] offset 1m)"#);
        assert_eq!(t["type"], "call");
        assert_eq!(t["func"]["name"], "rate");
        assert_eq!(t["func"]["argTypes"], serde_json::json!(["matrix"]));
        assert_eq!(t["func"]["returnType"], "vector");
        let m = &t["args"][0];
        assert_eq!(m["type"], "matrixSelector");
        assert_eq!(m["range"], 300_000);
        assert_eq!(m["offset"], 60_000);
        assert_eq!(m["name"], "http_requests_total");
        assert_eq!(m["timestamp"], serde_json::Value::Null);
        assert_eq!(
            m["matchers"],
            serde_json::json!([
                {"name": "job", "type": "=", "value": "api"},
                {"name": "__name__", "type": "=", "value": "http_requests_total"}
            ])
        );
    }

    #[test]
    fn keys_are_sorted_like_go_maps() {
        let e = promlite_promql::parse("sum by (job) (a) / on(job) group_left b").unwrap();
        let s = translate(&e);
        assert!(s.starts_with(r#"{"bool":false,"lhs":{"expr":"#), "{s}");
        let t: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(t["matching"]["card"], "many-to-one");
        assert_eq!(t["matching"]["labels"], serde_json::json!(["job"]));
        assert_eq!(t["lhs"]["grouping"], serde_json::json!(["job"]));
        assert_eq!(tree("1.5")["val"], "1.5");
        assert_eq!(tree("-a")["op"], "-");
        assert_eq!(tree("a @ start()")["startOrEnd"], "start");
        assert_eq!(tree("a @ 10")["timestamp"], 10_000);
        assert_eq!(tree("a[5m:1m]")["step"], 60_000);
        assert_eq!(tree(r#""x""#)["val"], "x");
    }
}
