//! The static type checker, Prometheus's `checkAST`: which value types each operator,
//! function and aggregation accepts, plus the rules on vector matching.
//!
//! It runs after a successful parse and normalises two things as Prometheus does: set
//! operators get many-to-many matching, and matching is dropped when an operand is a
//! scalar.

use promlite_model::go_quote;

use crate::ast::{Cardinality, Expr, PosRange, ValueType, VectorSelector};
use crate::error::{ErrorKind, ParseError};

pub(crate) fn check(e: &mut Expr, src: &[u8]) -> Result<ValueType, ParseError> {
    Checker { src }.check(e)
}

struct Checker<'a> {
    src: &'a [u8],
}

type R<T> = Result<T, ParseError>;

impl Checker<'_> {
    fn err(&self, span: PosRange, message: impl Into<String>) -> ParseError {
        ParseError::new(ErrorKind::Type, span, self.src, message.into())
    }

    // One match over every node kind; the short names (`a` for an aggregation, `b` for a
    // binary expression, …) keep its arms readable side by side.
    #[allow(clippy::many_single_char_names)]
    fn check(&self, e: &mut Expr) -> R<ValueType> {
        let span = e.span();
        match e {
            Expr::Aggregate(a) => {
                let t = self.check(&mut a.expr)?;
                if t != ValueType::Vector {
                    return Err(self.err(
                        a.expr.span(),
                        format!(
                            "expected type instant vector in aggregation expression, got {}",
                            t.documented()
                        ),
                    ));
                }
                if let Some(p) = &mut a.param {
                    let want = if a.op == crate::AggregateOp::CountValues {
                        ValueType::String
                    } else {
                        ValueType::Scalar
                    };
                    let t = self.check(p)?;
                    if t != want {
                        return Err(self.err(
                            p.span(),
                            format!(
                                "expected type {} in aggregation parameter, got {}",
                                want.documented(),
                                t.documented()
                            ),
                        ));
                    }
                }
                Ok(ValueType::Vector)
            }
            Expr::Binary(b) => {
                let lt = self.check(&mut b.lhs)?;
                let rt = self.check(&mut b.rhs)?;
                let op_range = self.op_range(b.lhs.span().end, b.rhs.span().start);
                if b.return_bool && !b.op.is_comparison() {
                    return Err(self.err(
                        op_range,
                        "bool modifier can only be used on comparison operators",
                    ));
                }
                if b.op.is_comparison()
                    && !b.return_bool
                    && lt == ValueType::Scalar
                    && rt == ValueType::Scalar
                {
                    return Err(self.err(
                        op_range,
                        "comparisons between scalars must use BOOL modifier",
                    ));
                }
                if let Some(vm) = &mut b.matching {
                    if b.op.is_set_operator() && vm.card == Cardinality::OneToOne {
                        vm.card = Cardinality::ManyToMany;
                    }
                    if vm.on
                        && let Some(l) = vm.labels.iter().find(|l| vm.include.contains(l))
                    {
                        return Err(self.err(
                            op_range,
                            format!(
                                "label {} must not occur in ON and GROUP clause at once",
                                go_quote(l)
                            ),
                        ));
                    }
                }
                for (t, side) in [(lt, b.lhs.span()), (rt, b.rhs.span())] {
                    if t != ValueType::Scalar && t != ValueType::Vector {
                        return Err(self.err(
                            side,
                            "binary expression must contain only scalar and instant vector types",
                        ));
                    }
                }
                let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
                if let Some(vm) = &b.matching {
                    let fill = vm.fill_lhs.is_some() || vm.fill_rhs.is_some();
                    if !both_vectors {
                        if !vm.labels.is_empty() {
                            return Err(self.err(
                                span,
                                "vector matching only allowed between instant vectors",
                            ));
                        }
                        if fill {
                            return Err(self.err(
                                span,
                                "filling in missing series only allowed between instant vectors",
                            ));
                        }
                    } else if b.op.is_set_operator() {
                        if matches!(vm.card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                            return Err(self.err(
                                span,
                                format!(
                                    "no grouping allowed for {} operation",
                                    go_quote(b.op.as_str())
                                ),
                            ));
                        }
                        if fill {
                            return Err(self.err(
                                span,
                                "filling in missing series not allowed for set operators",
                            ));
                        }
                    }
                }
                if !both_vectors {
                    b.matching = None;
                }
                if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set_operator() {
                    return Err(self.err(
                        span,
                        format!(
                            "set operator {} not allowed in binary scalar expression",
                            go_quote(b.op.as_str())
                        ),
                    ));
                }
                Ok(if lt == ValueType::Scalar && rt == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                })
            }
            Expr::Call(c) => {
                let f = c.func;
                let nargs = f.arg_types.len();
                let n = c.args.len();
                let q = go_quote(f.name);
                if f.variadic == 0 {
                    if nargs != n {
                        return Err(self.err(
                            span,
                            format!("expected {nargs} argument(s) in call to {q}, got {n}"),
                        ));
                    }
                } else {
                    let min = nargs.saturating_sub(1);
                    if min > n {
                        return Err(self.err(
                            span,
                            format!("expected at least {min} argument(s) in call to {q}, got {n}"),
                        ));
                    }
                    let max = min + f.variadic.max(0) as usize;
                    if f.variadic > 0 && max < n {
                        return Err(self.err(
                            span,
                            format!("expected at most {max} argument(s) in call to {q}, got {n}"),
                        ));
                    }
                }
                // info()'s second argument is a selector of labels only; it may match
                // the empty string on every label.
                let mut bypass = false;
                if f.name == "info" && n > 1 {
                    let t = c.args[1].value_type();
                    if t != ValueType::Vector {
                        return Err(self.err(
                            span,
                            format!(
                                "expected type instant vector in call to function {q}, got {}",
                                t.documented()
                            ),
                        ));
                    }
                    match &c.args[1] {
                        Expr::VectorSelector(v) if v.name.is_some() => {
                            return Err(self.err(
                                v.span,
                                "expected label selectors only, got vector selector instead",
                            ));
                        }
                        Expr::VectorSelector(_) => bypass = true,
                        other => {
                            return Err(self.err(other.span(), "expected label selectors only"));
                        }
                    }
                }
                for (i, arg) in c.args.iter_mut().enumerate() {
                    let idx = if i >= nargs {
                        if f.variadic == 0 || nargs == 0 {
                            break;
                        }
                        nargs - 1
                    } else {
                        i
                    };
                    let t = match arg {
                        Expr::VectorSelector(v) if bypass && i == 1 => {
                            self.selector(v, true)?;
                            ValueType::Vector
                        }
                        _ => self.check(arg)?,
                    };
                    if t != f.arg_types[idx] {
                        return Err(self.err(
                            arg.span(),
                            format!(
                                "expected type {} in call to function {q}, got {}",
                                f.arg_types[idx].documented(),
                                t.documented()
                            ),
                        ));
                    }
                }
                Ok(f.return_type)
            }
            Expr::Paren(p) => self.check(&mut p.expr),
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr)?;
                if t != ValueType::Scalar && t != ValueType::Vector {
                    return Err(self.err(
                        span,
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            go_quote(t.documented())
                        ),
                    ));
                }
                Ok(t)
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr)?;
                if t != ValueType::Vector {
                    return Err(self.err(
                        span,
                        format!("subquery is only allowed on instant vector, got {t} instead"),
                    ));
                }
                Ok(ValueType::Matrix)
            }
            Expr::MatrixSelector(m) => {
                self.selector(&m.selector, false)?;
                Ok(ValueType::Matrix)
            }
            Expr::VectorSelector(v) => {
                self.selector(v, false)?;
                Ok(ValueType::Vector)
            }
            Expr::Number(_) => Ok(ValueType::Scalar),
            Expr::String(_) => Ok(ValueType::String),
        }
    }

    fn selector(&self, v: &VectorSelector, bypass_empty_check: bool) -> R<()> {
        if let Some(name) = &v.name {
            let others = &v.matchers[..v.matchers.len().saturating_sub(1)];
            if let Some(m) = others
                .iter()
                .find(|m| m.name() == promlite_model::METRIC_NAME)
            {
                return Err(self.err(
                    v.span,
                    format!(
                        "metric name must not be set twice: {} or {}",
                        go_quote(name),
                        go_quote(m.value())
                    ),
                ));
            }
            return Ok(());
        }
        // A selector must not match every series by accident (e.g. a typo'd name).
        if !bypass_empty_check
            && v.matchers
                .iter()
                .all(promlite_model::Matcher::matches_empty)
        {
            return Err(self.err(
                v.span,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(())
    }

    /// The operator's position between two operands, whitespace trimmed (Prometheus's
    /// `opRange`).
    fn op_range(&self, lhs_end: u32, rhs_start: u32) -> PosRange {
        let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let len = self.src.len() as u32;
        let mut start = lhs_end;
        while start < len && is_space(self.src[start as usize]) {
            start += 1;
        }
        let mut end = rhs_start.saturating_sub(1);
        while end > start && end < len && is_space(self.src[end as usize]) {
            end -= 1;
        }
        PosRange::new(start, end.max(start))
    }
}
