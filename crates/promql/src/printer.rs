//! The canonical printer: `Display` for the syntax tree, producing the one-line form of
//! Prometheus's `Expr.String()` (what `/api/v1/format_query` returns for short queries).
//!
//! The printer adds no parentheses: the tree keeps the user's `ParenExpr`s, and the parser
//! only builds trees whose printed form parses back to the same tree.

use std::fmt::{self, Display, Formatter, Write};

use promlite_model::{go_quote, is_valid_legacy_label_name, write_go_quoted};

use crate::ast::{
    AggregateExpr, AtModifier, BinaryExpr, Cardinality, DurationExpr, DurationValue, Expr,
    MatrixSelector, NumberLiteral, SubqueryExpr, UnaryOp, VectorSelector,
};
use crate::go;

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Aggregate(a) => a.fmt(f),
            Expr::Binary(b) => b.fmt(f),
            Expr::Call(c) => {
                f.write_str(c.func.name)?;
                f.write_char('(')?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    a.fmt(f)?;
                }
                f.write_char(')')
            }
            Expr::MatrixSelector(m) => m.fmt(f),
            Expr::Number(n) => n.fmt(f),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::String(s) => match &s.bytes {
                Some(b) => f.write_str(&crate::go::go_quote_bytes(b)),
                None => write_quoted(f, &s.value),
            },
            Expr::Subquery(s) => s.fmt(f),
            Expr::Unary(u) => {
                f.write_char(if u.op == UnaryOp::Minus { '-' } else { '+' })?;
                u.expr.fmt(f)
            }
            Expr::VectorSelector(v) => v.fmt(f),
        }
    }
}

impl Display for NumberLiteral {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.duration && self.value.is_finite() {
            // Prometheus truncates `seconds * 1e9` to nanoseconds, which prints `1s1ms` as
            // `1s` (1.001 * 1e9 = 1000999999.99…). Rounding keeps every duration literal
            // (always whole milliseconds) exact, so printing round-trips.
            let ns = (self.value.abs() * 1e9).round() as i64;
            if self.value < 0.0 {
                f.write_char('-')?;
            }
            go::write_duration(f, ns / 1_000_000)
        } else {
            go::write_float(f, self.value)
        }
    }
}

/// Go's `strconv.Quote`, except that U+FFFD prints as `\ufffd`. Prometheus's lexer
/// rejects a literal U+FFFD in a string, and our strings hold U+FFFD where Go's would
/// hold bytes that are not UTF-8, so the escape keeps printed queries parseable.
fn write_quoted(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    if s.contains('\u{FFFD}') {
        f.write_str(&go_quote(s).replace('\u{FFFD}', "\\ufffd"))
    } else {
        write_go_quoted(f, s)
    }
}

/// A matcher as Prometheus prints it (`name=~"value"`, the name quoted unless it is a
/// legacy label name).
pub(crate) fn matcher_string(m: &promlite_model::Matcher) -> String {
    struct Show<'a>(&'a promlite_model::Matcher);
    impl Display for Show<'_> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            write_matcher(f, self.0)
        }
    }
    Show(m).to_string()
}

fn write_matcher(f: &mut Formatter<'_>, m: &promlite_model::Matcher) -> fmt::Result {
    if is_valid_legacy_label_name(m.name()) {
        f.write_str(m.name())?;
    } else {
        write_quoted(f, m.name())?;
    }
    f.write_str(m.match_type().as_str())?;
    write_quoted(f, m.value())
}

fn write_labels(f: &mut Formatter<'_>, labels: &[String]) -> fmt::Result {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        if is_valid_legacy_label_name(l) {
            f.write_str(l)?;
        } else {
            write_quoted(f, l)?;
        }
    }
    Ok(())
}

impl Display for AggregateExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if self.without {
            f.write_str(" without (")?;
            write_labels(f, &self.grouping)?;
            f.write_str(") ")?;
        } else if !self.grouping.is_empty() {
            f.write_str(" by (")?;
            write_labels(f, &self.grouping)?;
            f.write_str(") ")?;
        }
        f.write_char('(')?;
        if let Some(p) = &self.param {
            write!(f, "{p}, ")?;
        }
        write!(f, "{})", self.expr)
    }
}

impl Display for BinaryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.lhs, self.op)?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        if let Some(vm) = &self.matching {
            let grouped = matches!(vm.card, Cardinality::ManyToOne | Cardinality::OneToMany);
            if !vm.labels.is_empty() || vm.on || grouped {
                f.write_str(if vm.on { " on (" } else { " ignoring (" })?;
                write_labels(f, &vm.labels)?;
                f.write_char(')')?;
            }
            if grouped {
                f.write_str(if vm.card == Cardinality::ManyToOne {
                    " group_left ("
                } else {
                    " group_right ("
                })?;
                write_labels(f, &vm.include)?;
                f.write_char(')')?;
            }
            match (vm.fill_lhs, vm.fill_rhs) {
                (Some(l), Some(r)) if l == r => {
                    f.write_str(" fill (")?;
                    go::write_float_v(f, l)?;
                    f.write_char(')')?;
                }
                (l, r) => {
                    if let Some(l) = l {
                        f.write_str(" fill_left (")?;
                        go::write_float_v(f, l)?;
                        f.write_char(')')?;
                    }
                    if let Some(r) = r {
                        f.write_str(" fill_right (")?;
                        go::write_float_v(f, r)?;
                        f.write_char(')')?;
                    }
                }
            }
        }
        write!(f, " {}", self.rhs)
    }
}

impl Display for DurationExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Number(n) => n.fmt(f),
            DurationExpr::Negate { expr, .. } => write!(f, "-{expr}"),
            DurationExpr::Binary { op, lhs, rhs } => write!(f, "{lhs} {op} {rhs}"),
            DurationExpr::Paren { expr, .. } => write!(f, "({expr})"),
            DurationExpr::Step(_) => f.write_str("step()"),
            DurationExpr::Range(_) => f.write_str("range()"),
            DurationExpr::MinOf { lhs, rhs, .. } => write!(f, "min_of({lhs}, {rhs})"),
            DurationExpr::MaxOf { lhs, rhs, .. } => write!(f, "max_of({lhs}, {rhs})"),
        }
    }
}

/// A range or step: fixed values print as Prometheus durations.
fn write_range(f: &mut Formatter<'_>, d: &DurationValue) -> fmt::Result {
    match d {
        DurationValue::Fixed(ms) => go::write_duration(f, *ms),
        DurationValue::Expr(e) => e.fmt(f),
    }
}

fn write_offset(f: &mut Formatter<'_>, d: &DurationValue) -> fmt::Result {
    match d {
        DurationValue::Fixed(0) => Ok(()),
        DurationValue::Fixed(ms) if *ms < 0 => {
            f.write_str(" offset -")?;
            go::write_duration(f, -*ms)
        }
        DurationValue::Fixed(ms) => {
            f.write_str(" offset ")?;
            go::write_duration(f, *ms)
        }
        DurationValue::Expr(e) => write!(f, " offset {e}"),
    }
}

fn write_at(f: &mut Formatter<'_>, at: Option<AtModifier>) -> fmt::Result {
    match at {
        None => Ok(()),
        Some(AtModifier::Timestamp(ms)) => write!(f, " @ {:.3}", ms as f64 / 1000.0),
        Some(AtModifier::Start) => f.write_str(" @ start()"),
        Some(AtModifier::End) => f.write_str(" @ end()"),
    }
}

fn write_extended(f: &mut Formatter<'_>, v: &VectorSelector) -> fmt::Result {
    if v.anchored {
        f.write_str(" anchored")
    } else if v.smoothed {
        f.write_str(" smoothed")
    } else {
        Ok(())
    }
}

impl VectorSelector {
    /// The name and matchers without modifiers: `name{a="b",c=~"d"}`. Matchers print
    /// sorted by their text, and the matcher for the written name is left out.
    fn write_selector(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().unwrap_or("");
        let mut parts: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| {
                !(m.name() == promlite_model::METRIC_NAME
                    && m.match_type() == promlite_model::MatchType::Equal
                    && m.value() == name
                    && !name.is_empty())
            })
            .map(matcher_string)
            .collect();
        f.write_str(name)?;
        if !parts.is_empty() {
            parts.sort_unstable();
            f.write_char('{')?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                f.write_str(p)?;
            }
            f.write_char('}')?;
        }
        Ok(())
    }
}

impl Display for VectorSelector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.write_selector(f)?;
        write_at(f, self.at)?;
        write_extended(f, self)?;
        write_offset(f, &self.offset)
    }
}

impl Display for MatrixSelector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.selector.write_selector(f)?;
        f.write_char('[')?;
        write_range(f, &self.range)?;
        f.write_char(']')?;
        write_extended(f, &self.selector)?;
        write_at(f, self.selector.at)?;
        write_offset(f, &self.selector.offset)
    }
}

impl Display for SubqueryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.expr)?;
        write_range(f, &self.range)?;
        f.write_char(':')?;
        if !self.step.is_unset() {
            write_range(f, &self.step)?;
        }
        f.write_char(']')?;
        write_at(f, self.at)?;
        write_offset(f, &self.offset)
    }
}
