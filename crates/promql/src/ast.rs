//! The PromQL syntax tree: plain enums and structs with byte ranges, plus walking helpers.
//!
//! The shapes follow Prometheus's `promql/parser/ast.go` so that the printer can reproduce
//! its `String()` output, with two deliberate changes: durations are whole milliseconds
//! (what Prometheus's engine uses), and a unary `+` in a duration expression is dropped
//! at parse time (Prometheus keeps a node that prints as nothing, which breaks
//! `parse(print(x)) == x`).

use std::fmt;

use promlite_model::Matcher;

use crate::functions::Function;

/// A byte range `[start, end)` in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PosRange {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl PosRange {
    /// A range from `start` to `end`.
    pub fn new(start: u32, end: u32) -> Self {
        PosRange { start, end }
    }
}

/// The four PromQL value types (and `None` for argument lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No value (only argument lists).
    None,
    /// An instant vector.
    Vector,
    /// A scalar.
    Scalar,
    /// A range vector ("matrix").
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// The name used in the documentation and most error messages ("instant vector",
    /// "range vector", "scalar", "string").
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            other => other.as_str(),
        }
    }

    /// Prometheus's internal name ("vector", "matrix", …), used by a few messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Vector => "vector",
            ValueType::Scalar => "scalar",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expr {
    /// `sum by (job) (x)`, `topk(5, x)`, …
    Aggregate(Box<AggregateExpr>),
    /// `a + on (x) b`, `a and b`, `a > bool 1`, …
    Binary(Box<BinaryExpr>),
    /// `rate(x[5m])`, …
    Call(Box<Call>),
    /// `x[5m]`
    MatrixSelector(Box<MatrixSelector>),
    /// `1`, `-2.5e3`, `0x1f`, `Inf`, `5m` (a duration used as a number of seconds)
    Number(NumberLiteral),
    /// `(expr)`
    Paren(Box<ParenExpr>),
    /// `"text"`
    String(Box<StringLiteral>),
    /// `expr[5m:1m]`
    Subquery(Box<SubqueryExpr>),
    /// `-expr`, `+expr` (number literals fold the sign instead)
    Unary(Box<UnaryExpr>),
    /// `x{job="a"} offset 5m @ 100`
    VectorSelector(Box<VectorSelector>),
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk` (scalar parameter)
    Topk,
    /// `bottomk` (scalar parameter)
    Bottomk,
    /// `count_values` (string parameter)
    CountValues,
    /// `quantile` (scalar parameter)
    Quantile,
    /// `limitk` (experimental; scalar parameter)
    Limitk,
    /// `limit_ratio` (experimental; scalar parameter)
    LimitRatio,
}

impl AggregateOp {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the operator takes a parameter before the aggregated expression.
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Whether the operator is experimental (needs `experimental_functions`).
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The aggregated expression.
    pub expr: Expr,
    /// The parameter of `topk`, `bottomk`, `count_values`, `quantile`, `limitk`,
    /// `limit_ratio`.
    pub param: Option<Expr>,
    /// The `by`/`without` labels.
    pub grouping: Vec<String>,
    /// `without` rather than `by`.
    pub without: bool,
    /// From the operator to the closing parenthesis.
    pub span: PosRange,
}

/// Binary operators, in Prometheus's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^` (right-associative)
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `<=`
    Lte,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `>`
    Gtr,
    /// `</` (trim the upper part of native histograms)
    TrimUpper,
    /// `>/` (trim the lower part of native histograms)
    TrimLower,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lte => "<=",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Gtr => ">",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// Binding power: `or` 1, `and`/`unless` 2, comparisons 3, `+ -` 4, `* / % atan2` 5,
    /// `^` 6.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Lte
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Gtr
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// `== != <= < >= >`
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Lte
                | BinaryOp::Lss
                | BinaryOp::Gte
                | BinaryOp::Gtr
        )
    }

    /// `and or unless`
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cardinality of a vector match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cardinality {
    /// The default for arithmetic and comparisons.
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// How the two sides of a binary operation between instant vectors are matched.
#[derive(Debug, Clone)]
pub struct VectorMatching {
    /// The cardinality.
    pub card: Cardinality,
    /// The `on`/`ignoring` labels.
    pub labels: Vec<String>,
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// The `group_left`/`group_right` labels copied from the "one" side.
    pub include: Vec<String>,
    /// `fill_left` (or `fill`) value for a missing left-hand series (experimental).
    pub fill_lhs: Option<f64>,
    /// `fill_right` (or `fill`) value for a missing right-hand series (experimental).
    pub fill_rhs: Option<f64>,
}

impl PartialEq for VectorMatching {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: Option<f64>, b: Option<f64>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
                (None, None) => true,
                _ => false,
            }
        }
        self.card == other.card
            && self.labels == other.labels
            && self.on == other.on
            && self.include == other.include
            && same(self.fill_lhs, other.fill_lhs)
            && same(self.fill_rhs, other.fill_rhs)
    }
}

/// A binary operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// Vector matching; `None` once type checking found a scalar operand.
    pub matching: Option<VectorMatching>,
    /// `bool` on a comparison: return 0/1 instead of filtering.
    pub return_bool: bool,
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function.
    pub func: &'static Function,
    /// The arguments.
    pub args: Vec<Expr>,
    /// From the name to the closing parenthesis.
    pub span: PosRange,
}

/// A duration in a range, subquery step or offset: a fixed value or (experimental) an
/// expression evaluated per query.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationValue {
    /// Whole milliseconds (Prometheus's engine truncates to milliseconds too). For an
    /// offset or subquery step, 0 means "not given".
    Fixed(i64),
    /// A duration expression such as `5m + step()`.
    Expr(DurationExpr),
}

impl Default for DurationValue {
    fn default() -> Self {
        DurationValue::Fixed(0)
    }
}

impl DurationValue {
    /// The fixed value in milliseconds, if not an expression.
    pub fn fixed(&self) -> Option<i64> {
        match self {
            DurationValue::Fixed(ms) => Some(*ms),
            DurationValue::Expr(_) => None,
        }
    }

    /// Whether this is the "not given" value.
    pub fn is_unset(&self) -> bool {
        matches!(self, DurationValue::Fixed(0))
    }
}

/// A duration expression (experimental `duration_expressions` except for plain literals).
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A number of seconds, written as a number or a duration.
    Number(NumberLiteral),
    /// `-expr`
    Negate {
        /// The operand.
        expr: Box<DurationExpr>,
        /// From the `-` to the end of the operand.
        span: PosRange,
    },
    /// `lhs op rhs` with one of `+ - * / % ^`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<DurationExpr>,
        /// Right operand.
        rhs: Box<DurationExpr>,
    },
    /// `(expr)`; nested parentheses collapse into one, as Prometheus prints them.
    Paren {
        /// The wrapped expression.
        expr: Box<DurationExpr>,
        /// From `(` to `)`.
        span: PosRange,
    },
    /// `step()`: the query step.
    Step(PosRange),
    /// `range()`: the query range.
    Range(PosRange),
    /// `min_of(a, b)`
    MinOf {
        /// First operand.
        lhs: Box<DurationExpr>,
        /// Second operand.
        rhs: Box<DurationExpr>,
        /// From the name to `)`.
        span: PosRange,
    },
    /// `max_of(a, b)`
    MaxOf {
        /// First operand.
        lhs: Box<DurationExpr>,
        /// Second operand.
        rhs: Box<DurationExpr>,
        /// From the name to `)`.
        span: PosRange,
    },
}

impl DurationExpr {
    /// The byte range of the expression.
    pub fn span(&self) -> PosRange {
        match self {
            DurationExpr::Number(n) => n.span,
            DurationExpr::Binary { lhs, rhs, .. } => {
                PosRange::new(lhs.span().start, rhs.span().end)
            }
            DurationExpr::Negate { span, .. }
            | DurationExpr::Paren { span, .. }
            | DurationExpr::Step(span)
            | DurationExpr::Range(span)
            | DurationExpr::MinOf { span, .. }
            | DurationExpr::MaxOf { span, .. } => *span,
        }
    }

    fn clear_spans(&mut self) {
        match self {
            DurationExpr::Number(n) => n.span = PosRange::default(),
            DurationExpr::Binary { lhs, rhs, .. } => {
                lhs.clear_spans();
                rhs.clear_spans();
            }
            DurationExpr::Negate { expr, span } | DurationExpr::Paren { expr, span } => {
                *span = PosRange::default();
                expr.clear_spans();
            }
            DurationExpr::Step(span) | DurationExpr::Range(span) => *span = PosRange::default(),
            DurationExpr::MinOf { lhs, rhs, span } | DurationExpr::MaxOf { lhs, rhs, span } => {
                *span = PosRange::default();
                lhs.clear_spans();
                rhs.clear_spans();
            }
        }
    }
}

/// A range selector `selector[range]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    /// The selector; `offset`, `@`, `anchored` and `smoothed` written after the range are
    /// stored on it, as in Prometheus.
    pub selector: VectorSelector,
    /// The range.
    pub range: DurationValue,
    /// From the selector to `]` (or the last modifier).
    pub span: PosRange,
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// `@ <seconds>`, stored as milliseconds since the epoch.
    Timestamp(i64),
    /// `@ start()`
    Start,
    /// `@ end()`
    End,
}

/// A subquery `expr[range:step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// The inner expression.
    pub expr: Expr,
    /// The range.
    pub range: DurationValue,
    /// The step; `Fixed(0)` when omitted (`[5m:]`).
    pub step: DurationValue,
    /// The offset; `Fixed(0)` when absent.
    pub offset: DurationValue,
    /// The `@` modifier.
    pub at: Option<AtModifier>,
    /// From the inner expression to `]` (or the last modifier).
    pub span: PosRange,
}

/// A number literal.
#[derive(Debug, Clone, Copy)]
pub struct NumberLiteral {
    /// The value (seconds when written as a duration).
    pub value: f64,
    /// Written as a duration (`5m`), so printed as one.
    pub duration: bool,
    /// Where it was written, including a folded sign.
    pub span: PosRange,
}

impl PartialEq for NumberLiteral {
    /// NaN equals NaN here: trees compare structurally.
    fn eq(&self, other: &Self) -> bool {
        (self.value == other.value || (self.value.is_nan() && other.value.is_nan()))
            && self.duration == other.duration
            && self.span == other.span
    }
}

/// `(expr)`
#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    /// The wrapped expression.
    pub expr: Expr,
    /// From `(` to `)`.
    pub span: PosRange,
}

/// A string literal (unquoted).
#[derive(Debug, Clone, PartialEq)]
pub struct StringLiteral {
    /// The value. Bytes that are not UTF-8 (from `\xff`-style escapes) read as U+FFFD.
    pub value: String,
    /// The exact unquoted bytes, kept only when they are not valid UTF-8 (Go strings may
    /// hold any bytes): Prometheus quotes such bytes back as `\xNN` in its output and
    /// error messages, which `value` alone cannot reproduce.
    pub bytes: Option<Box<[u8]>>,
    /// Where it was written, quotes included.
    pub span: PosRange,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `+`
    Plus,
    /// `-`
    Minus,
}

/// `-expr` or `+expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Expr,
    /// From the operator to the end of the operand.
    pub span: PosRange,
}

/// An instant vector selector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorSelector {
    /// The metric name written before the braces.
    pub name: Option<String>,
    /// All matchers, including `__name__="<name>"` (last) when a name was written.
    pub matchers: Vec<Matcher>,
    /// The offset; `Fixed(0)` when absent.
    pub offset: DurationValue,
    /// The `@` modifier.
    pub at: Option<AtModifier>,
    /// The experimental `anchored` modifier.
    pub anchored: bool,
    /// The experimental `smoothed` modifier.
    pub smoothed: bool,
    /// From the name (or `{`) to the last token of the selector or its modifiers.
    pub span: PosRange,
}

impl Expr {
    /// The byte range the expression covers.
    pub fn span(&self) -> PosRange {
        match self {
            Expr::Aggregate(a) => a.span,
            Expr::Binary(b) => PosRange::new(b.lhs.span().start, b.rhs.span().end),
            Expr::Call(c) => c.span,
            Expr::MatrixSelector(m) => m.span,
            Expr::Number(n) => n.span,
            Expr::Paren(p) => p.span,
            Expr::String(s) => s.span,
            Expr::Subquery(s) => s.span,
            Expr::Unary(u) => u.span,
            Expr::VectorSelector(v) => v.span,
        }
    }

    /// The type the expression evaluates to (assuming it type-checked).
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Aggregate(_) | Expr::VectorSelector(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Number(_) => ValueType::Scalar,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::String(_) => ValueType::String,
            Expr::Unary(u) => u.expr.value_type(),
        }
    }

    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Children<'_> {
        let (a, b, rest): (Option<&Expr>, Option<&Expr>, &[Expr]) = match self {
            Expr::Aggregate(a) => (a.param.as_ref(), Some(&a.expr), &[]),
            Expr::Binary(b) => (Some(&b.lhs), Some(&b.rhs), &[]),
            Expr::Call(c) => (None, None, &c.args),
            Expr::Paren(p) => (Some(&p.expr), None, &[]),
            Expr::Subquery(s) => (Some(&s.expr), None, &[]),
            Expr::Unary(u) => (Some(&u.expr), None, &[]),
            Expr::MatrixSelector(_)
            | Expr::Number(_)
            | Expr::String(_)
            | Expr::VectorSelector(_) => (None, None, &[]),
        };
        Children {
            first: a,
            second: b,
            rest: rest.iter(),
        }
    }

    /// Visits the tree depth-first, parents before children. `visit` returns whether to
    /// descend into the node's children. Matrix selectors are leaves: their selector is
    /// reached through [`MatrixSelector::selector`].
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Expr) -> bool) {
        if visit(self) {
            for child in self.children() {
                child.walk(visit);
            }
        }
    }

    /// All vector selectors in the tree, including those inside range selectors, in
    /// source order (Prometheus's `ExtractSelectors`).
    pub fn selectors(&self) -> Vec<&VectorSelector> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            match e {
                Expr::VectorSelector(v) => out.push(&**v),
                Expr::MatrixSelector(m) => out.push(&m.selector),
                _ => {}
            }
            true
        });
        out
    }

    /// Puts the tree in the form the printer produces, so trees parsed from differently
    /// formatted text compare equal: every position is reset to 0 and each selector's
    /// matchers are sorted the way they print (the matcher for a written metric name
    /// stays last). `parse(print(e))` equals `e` after both are normalized.
    pub fn normalize(&mut self) {
        self.clear_spans();
        self.walk_selectors_mut(&mut |v| {
            let n = v.matchers.len() - usize::from(v.name.is_some());
            v.matchers[..n].sort_by_cached_key(crate::printer::matcher_string);
        });
    }

    fn walk_selectors_mut(&mut self, f: &mut impl FnMut(&mut VectorSelector)) {
        match self {
            Expr::VectorSelector(v) => f(v),
            Expr::MatrixSelector(m) => f(&mut m.selector),
            Expr::Aggregate(a) => {
                a.expr.walk_selectors_mut(f);
                if let Some(p) = &mut a.param {
                    p.walk_selectors_mut(f);
                }
            }
            Expr::Binary(b) => {
                b.lhs.walk_selectors_mut(f);
                b.rhs.walk_selectors_mut(f);
            }
            Expr::Call(c) => c.args.iter_mut().for_each(|a| a.walk_selectors_mut(f)),
            Expr::Paren(p) => p.expr.walk_selectors_mut(f),
            Expr::Subquery(s) => s.expr.walk_selectors_mut(f),
            Expr::Unary(u) => u.expr.walk_selectors_mut(f),
            Expr::Number(_) | Expr::String(_) => {}
        }
    }

    fn clear_spans(&mut self) {
        match self {
            Expr::Aggregate(a) => {
                a.span = PosRange::default();
                a.expr.clear_spans();
                if let Some(p) = &mut a.param {
                    p.clear_spans();
                }
            }
            Expr::Binary(b) => {
                b.lhs.clear_spans();
                b.rhs.clear_spans();
            }
            Expr::Call(c) => {
                c.span = PosRange::default();
                c.args.iter_mut().for_each(Expr::clear_spans);
            }
            Expr::MatrixSelector(m) => {
                m.span = PosRange::default();
                m.selector.clear_spans();
                clear_duration(&mut m.range);
            }
            Expr::Number(n) => n.span = PosRange::default(),
            Expr::Paren(p) => {
                p.span = PosRange::default();
                p.expr.clear_spans();
            }
            Expr::String(s) => s.span = PosRange::default(),
            Expr::Subquery(s) => {
                s.span = PosRange::default();
                s.expr.clear_spans();
                clear_duration(&mut s.range);
                clear_duration(&mut s.step);
                clear_duration(&mut s.offset);
            }
            Expr::Unary(u) => {
                u.span = PosRange::default();
                u.expr.clear_spans();
            }
            Expr::VectorSelector(v) => v.clear_spans(),
        }
    }
}

fn clear_duration(d: &mut DurationValue) {
    if let DurationValue::Expr(e) = d {
        e.clear_spans();
    }
}

impl VectorSelector {
    fn clear_spans(&mut self) {
        self.span = PosRange::default();
        clear_duration(&mut self.offset);
    }
}

/// Iterator over an expression's direct children (see [`Expr::children`]).
#[derive(Debug, Clone)]
pub struct Children<'a> {
    first: Option<&'a Expr>,
    second: Option<&'a Expr>,
    rest: std::slice::Iter<'a, Expr>,
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a Expr;

    fn next(&mut self) -> Option<&'a Expr> {
        self.first
            .take()
            .or_else(|| self.second.take())
            .or_else(|| self.rest.next())
    }
}
