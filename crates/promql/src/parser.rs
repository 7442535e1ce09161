//! The hand-written parser: recursive descent for the grammar, precedence climbing (Pratt)
//! for binary operators, with Prometheus's error messages.
//!
//! Prometheus uses a yacc grammar whose error messages depend on which grammar state
//! recovers from an error: inside an aggregation, an offset, an `@` modifier or a range
//! selector the message names that context. The parser keeps the innermost such context in
//! `ctx` and uses it for "unexpected …" messages, which reproduces those texts. Like
//! Prometheus, only the first error is reported, so the parser stops at the first one.

use promlite_model::{MatchType, Matcher, go_quote};

use crate::ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, DurationExpr,
    DurationValue, Expr, MatrixSelector, NumberLiteral, ParenExpr, PosRange, StringLiteral,
    SubqueryExpr, UnaryExpr, UnaryOp, VectorMatching, VectorSelector,
};
use crate::error::{ErrorKind, ParseError};
use crate::functions::function;
use crate::go;
use crate::lexer::{Lexer, T, Token, describe};

/// How deeply expressions may nest (parentheses, operator chains, modifiers, arguments)
/// before parsing fails with "expression too deeply nested". Prometheus has no limit; we
/// need one because parsing, checking, printing and dropping trees recurse.
pub const MAX_DEPTH: u32 = 512;

/// Options switching on Prometheus's experimental PromQL features, each off by default as
/// in Prometheus. Build with the chained setters:
///
/// ```
/// let opts = promlite_promql::ParserOptions::new().experimental_functions(true);
/// assert!(opts.experimental_functions_enabled());
/// ```
// Each switch is an independent Prometheus feature flag.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ParserOptions {
    experimental_functions: bool,
    duration_expressions: bool,
    extended_range_selectors: bool,
    binop_fill_modifiers: bool,
}

impl ParserOptions {
    /// All experimental features off (Prometheus's defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Every experimental feature on (what Prometheus's own test scripts use).
    pub fn all() -> Self {
        ParserOptions {
            experimental_functions: true,
            duration_expressions: true,
            extended_range_selectors: true,
            binop_fill_modifiers: true,
        }
    }

    /// Experimental functions (`info`, `sort_by_label`, `mad_over_time`, `ts_of_*`,
    /// `double_exponential_smoothing`, `step()`, …) and the `limitk`/`limit_ratio`
    /// aggregations (`--enable-feature=promql-experimental-functions`).
    pub fn experimental_functions(mut self, on: bool) -> Self {
        self.experimental_functions = on;
        self
    }

    /// Duration expressions such as `foo[5m + 1m]`, `step()`, `min_of(…)`
    /// (`--enable-feature=promql-duration-expr`).
    pub fn duration_expressions(mut self, on: bool) -> Self {
        self.duration_expressions = on;
        self
    }

    /// The `anchored` and `smoothed` range-selector modifiers
    /// (`--enable-feature=promql-extended-range-selectors`).
    pub fn extended_range_selectors(mut self, on: bool) -> Self {
        self.extended_range_selectors = on;
        self
    }

    /// `fill()`, `fill_left()`, `fill_right()` on binary operators
    /// (`--enable-feature=promql-binop-fill-modifiers`).
    pub fn binop_fill_modifiers(mut self, on: bool) -> Self {
        self.binop_fill_modifiers = on;
        self
    }

    /// Whether experimental functions are enabled.
    pub fn experimental_functions_enabled(&self) -> bool {
        self.experimental_functions
    }

    /// Whether duration expressions are enabled.
    pub fn duration_expressions_enabled(&self) -> bool {
        self.duration_expressions
    }

    /// Whether `anchored`/`smoothed` are enabled.
    pub fn extended_range_selectors_enabled(&self) -> bool {
        self.extended_range_selectors
    }

    /// Whether fill modifiers are enabled.
    pub fn binop_fill_modifiers_enabled(&self) -> bool {
        self.binop_fill_modifiers
    }
}

/// A PromQL parser with fixed options. Cheap to copy; parsing keeps no state between
/// calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parser {
    options: ParserOptions,
}

impl Parser {
    /// A parser with `options`.
    pub fn new(options: ParserOptions) -> Self {
        Parser { options }
    }

    /// The options in force.
    pub fn options(&self) -> ParserOptions {
        self.options
    }

    /// Parses and type-checks one expression.
    pub fn parse(&self, input: &str) -> Result<Expr, ParseError> {
        self.parse_bytes(input.as_bytes())
    }

    /// Like [`parse`](Self::parse) for input that may not be UTF-8 (an HTTP query
    /// parameter, a fuzzer's bytes); invalid UTF-8 is reported where Prometheus reports
    /// it.
    pub fn parse_bytes(&self, input: &[u8]) -> Result<Expr, ParseError> {
        if u32::try_from(input.len()).is_err() {
            return Err(ParseError::new(
                ErrorKind::Limit,
                PosRange::default(),
                input,
                "query too long".into(),
            ));
        }
        let mut p = P {
            src: input,
            lx: Lexer::new(input),
            buf: [EOF_TOKEN; 2],
            buffered: 0,
            opts: self.options,
            depth: 0,
            ctx: Ctx::None,
            last_end: 0,
        };
        let mut expr = p.top()?;
        crate::check::check(&mut expr, input)?;
        Ok(expr)
    }

    /// Parses a series selector (`up{job="api"}`, `{__name__=~".+"}`) into its matchers,
    /// as Prometheus's `ParseMetricSelector` does for the HTTP API's `match[]` and
    /// promtool's `--match`: unlike a PromQL expression, a selector may consist only of
    /// matchers that match the empty string, and nothing but a selector is accepted.
    pub fn parse_metric_selector(
        &self,
        input: &str,
    ) -> Result<Vec<promlite_model::Matcher>, ParseError> {
        let src = input.as_bytes();
        if u32::try_from(src.len()).is_err() {
            return Err(ParseError::new(
                ErrorKind::Limit,
                PosRange::default(),
                src,
                "query too long".into(),
            ));
        }
        let mut p = P {
            src,
            lx: Lexer::new(src),
            buf: [EOF_TOKEN; 2],
            buffered: 0,
            opts: self.options,
            depth: 0,
            ctx: Ctx::None,
            last_end: 0,
        };
        match p.top()? {
            Expr::VectorSelector(v)
                if v.offset == crate::ast::DurationValue::Fixed(0)
                    && v.at.is_none()
                    && !v.anchored
                    && !v.smoothed =>
            {
                Ok(v.matchers)
            }
            other => Err(ParseError::new(
                ErrorKind::Syntax,
                other.span(),
                src,
                format!("unexpected expression {other}, expected a series selector"),
            )),
        }
    }
}

/// Parses a series selector with the default options; see
/// [`Parser::parse_metric_selector`].
///
/// ```
/// let m = promlite_promql::parse_metric_selector(r#"{__name__=~".*", job=""}"#).unwrap();
/// assert_eq!(m.len(), 2);
/// assert!(promlite_promql::parse_metric_selector("up + 1").is_err());
/// ```
pub fn parse_metric_selector(input: &str) -> Result<Vec<promlite_model::Matcher>, ParseError> {
    Parser::default().parse_metric_selector(input)
}

/// Parses `input` with the default options (no experimental features).
///
/// ```
/// let e = promlite_promql::parse("sum by (job) (rate(http_requests_total[5m]))").unwrap();
/// assert_eq!(e.to_string(), "sum by (job) (rate(http_requests_total[5m]))");
/// ```
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    Parser::default().parse(input)
}

const EOF_TOKEN: Token = Token {
    kind: T::Eof,
    start: 0,
    end: 0,
};

/// The grammar state that Prometheus's yacc parser recovers in; it names the context of
/// an "unexpected …" message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    None,
    Aggregation,
    Offset,
    At,
    BracketStart,
    BracketAfterRange,
    BracketAfterColon,
    BracketAfterStep,
    GroupingOpen,
    GroupingLabel,
    GroupingSep,
    LabelIdentOrClose,
    LabelOp,
    LabelString,
    LabelSep,
}

impl Ctx {
    fn suffix(self) -> &'static str {
        match self {
            Ctx::None => "",
            Ctx::Aggregation => " in aggregation",
            Ctx::Offset => " in offset, expected number, duration, step(), or range()",
            Ctx::At => " in @, expected timestamp",
            Ctx::BracketStart => {
                " in subquery or range selector, expected number, duration, step(), or range()"
            }
            Ctx::BracketAfterRange => r#" in subquery or range, expected ":" or "]""#,
            Ctx::BracketAfterColon => {
                r#" in subquery selector, expected number, duration, step(), range(), or "]""#
            }
            Ctx::BracketAfterStep => r#" in subquery selector, expected "]""#,
            Ctx::GroupingOpen => r#" in grouping opts, expected "(""#,
            Ctx::GroupingLabel => " in grouping opts, expected label",
            Ctx::GroupingSep => r#" in grouping opts, expected "," or ")""#,
            Ctx::LabelIdentOrClose => r#" in label matching, expected identifier or "}""#,
            Ctx::LabelOp => " in label matching, expected label matching operator",
            Ctx::LabelString => " in label matching, expected string",
            Ctx::LabelSep => r#" in label matching, expected "," or "}""#,
        }
    }
}

type R<T> = Result<T, ParseError>;

struct P<'a> {
    src: &'a [u8],
    lx: Lexer<'a>,
    buf: [Token; 2],
    buffered: usize,
    opts: ParserOptions,
    depth: u32,
    ctx: Ctx,
    last_end: u32,
}

fn binary_op(k: T) -> Option<BinaryOp> {
    Some(match k {
        T::Add => BinaryOp::Add,
        T::Sub => BinaryOp::Sub,
        T::Mul => BinaryOp::Mul,
        T::Div => BinaryOp::Div,
        T::Mod => BinaryOp::Mod,
        T::Pow => BinaryOp::Pow,
        T::Atan2 => BinaryOp::Atan2,
        T::EqlC => BinaryOp::Eql,
        T::Neq => BinaryOp::Neq,
        T::Lte => BinaryOp::Lte,
        T::Lss => BinaryOp::Lss,
        T::Gte => BinaryOp::Gte,
        T::Gtr => BinaryOp::Gtr,
        T::TrimUpper => BinaryOp::TrimUpper,
        T::TrimLower => BinaryOp::TrimLower,
        T::And => BinaryOp::And,
        T::Or => BinaryOp::Or,
        T::Unless => BinaryOp::Unless,
        _ => return None,
    })
}

fn aggregate_op(k: T) -> AggregateOp {
    match k {
        T::Avg => AggregateOp::Avg,
        T::Bottomk => AggregateOp::Bottomk,
        T::Count => AggregateOp::Count,
        T::CountValues => AggregateOp::CountValues,
        T::Group => AggregateOp::Group,
        T::Max => AggregateOp::Max,
        T::Min => AggregateOp::Min,
        T::Quantile => AggregateOp::Quantile,
        T::Stddev => AggregateOp::Stddev,
        T::Stdvar => AggregateOp::Stdvar,
        T::Topk => AggregateOp::Topk,
        T::Limitk => AggregateOp::Limitk,
        T::LimitRatio => AggregateOp::LimitRatio,
        _ => AggregateOp::Sum,
    }
}

/// Tokens Prometheus accepts as a label name in `by (…)`, `on (…)` and friends.
fn is_grouping_label(k: T) -> bool {
    matches!(
        k,
        T::Identifier
            | T::MetricIdentifier
            | T::Bool
            | T::By
            | T::GroupLeft
            | T::GroupRight
            | T::Fill
            | T::FillLeft
            | T::FillRight
            | T::Ignoring
            | T::And
            | T::Or
            | T::Unless
            | T::Offset
            | T::On
            | T::Start
            | T::End
            | T::Atan2
            | T::Step
            | T::Range
            | T::Anchored
            | T::Smoothed
            | T::MaxOf
            | T::MinOf
    ) || (k.is_aggregator())
}

fn match_type(k: T) -> Option<MatchType> {
    Some(match k {
        T::Eql => MatchType::Equal,
        T::Neq => MatchType::NotEqual,
        T::EqlRegex => MatchType::Regexp,
        T::NeqRegex => MatchType::NotRegexp,
        _ => return None,
    })
}

/// Prometheus's `durationLiteralOutOfRange`: the seconds would overflow nanoseconds.
fn out_of_range(v: f64) -> bool {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0 / 1e9;
    !(-LIMIT..=LIMIT).contains(&v)
}

/// Go's `regexp` error shape, `error parsing regexp: <code>: `<expr>``, for a matcher
/// regex. The explanation comes from the Rust engine; the common cases are renamed to
/// Go's codes so the usual mistakes read as in Prometheus.
fn regex_error_message(e: &promlite_model::Error) -> String {
    let promlite_model::Error::InvalidRegex { pattern, message } = e else {
        return e.to_string();
    };
    let last = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let what = last.strip_prefix("error: ").unwrap_or(last);
    let code = match what {
        "unclosed group" => "missing closing )",
        "unopened group" => "unexpected )",
        "unclosed character class" => "missing closing ]",
        "unrecognized escape sequence" => "invalid escape sequence",
        "repetition operator missing expression" => "missing argument to repetition operator",
        "invalid character class range, the start must be <= the end" => {
            "invalid character class range"
        }
        "incomplete escape sequence, reached end of pattern prematurely" => {
            "trailing backslash at end of expression"
        }
        other => other,
    };
    format!("error parsing regexp: {code}: `^(?s:{pattern})$`")
}

fn span_of(t: Token) -> PosRange {
    PosRange::new(t.start, t.end)
}

/// Which fields of an expression the `offset` and `@` modifiers set.
fn modifier_target(
    e: &mut Expr,
) -> Option<(&mut DurationValue, &mut Option<AtModifier>, &mut u32)> {
    match e {
        Expr::VectorSelector(v) => Some((&mut v.offset, &mut v.at, &mut v.span.end)),
        Expr::MatrixSelector(m) => {
            Some((&mut m.selector.offset, &mut m.selector.at, &mut m.span.end))
        }
        Expr::Subquery(s) => Some((&mut s.offset, &mut s.at, &mut s.span.end)),
        _ => None,
    }
}

/// Prometheus records a parenthesised duration literal as a node starting at `(`; other
/// duration nodes start where their first operand starts. Errors use these positions.
fn duration_error_start(e: &DurationExpr) -> PosRange {
    match e {
        DurationExpr::Binary { lhs, .. } => duration_error_start(lhs),
        DurationExpr::Paren { expr, span } => match **expr {
            DurationExpr::Number(_) => *span,
            ref inner => duration_error_start(inner),
        },
        other => other.span(),
    }
}

fn paren_duration(inner: DurationExpr, span: PosRange) -> DurationExpr {
    match inner {
        // Prometheus marks an expression as wrapped; wrapping twice prints once.
        DurationExpr::Paren { expr, .. } => DurationExpr::Paren { expr, span },
        other => DurationExpr::Paren {
            expr: Box::new(other),
            span,
        },
    }
}

impl P<'_> {
    // ---- tokens -------------------------------------------------------------------

    #[inline]
    fn peek(&mut self) -> Token {
        if self.buffered == 0 {
            self.buf[0] = self.lx.next_token();
            self.buffered = 1;
        }
        self.buf[0]
    }

    #[inline]
    fn peek2(&mut self) -> Token {
        self.peek();
        if self.buffered == 1 {
            self.buf[1] = self.lx.next_token();
            self.buffered = 2;
        }
        self.buf[1]
    }

    #[inline]
    fn advance(&mut self) -> Token {
        let t = self.peek();
        self.buf[0] = self.buf[1];
        self.buffered -= 1;
        self.last_end = t.end;
        t
    }

    fn text(&self, t: Token) -> &str {
        std::str::from_utf8(&self.src[t.start as usize..t.end as usize]).unwrap_or("")
    }

    // ---- errors -------------------------------------------------------------------

    fn err(&self, kind: ErrorKind, span: PosRange, message: impl Into<String>) -> ParseError {
        ParseError::new(kind, span, self.src, message.into())
    }

    /// "unexpected <token>[ in <context>]"; a lexical error token reports the lexer's
    /// message instead, as Prometheus never reports an error twice.
    fn unexpected(&self, t: Token, ctx: Ctx) -> ParseError {
        if t.kind == T::Error
            && let Some(e) = &self.lx.error
        {
            return self.err(
                ErrorKind::Lexical,
                PosRange::new(e.start, self.src.len() as u32),
                e.message.clone(),
            );
        }
        let message = format!("unexpected {}{}", describe(t, self.src), ctx.suffix());
        self.err(ErrorKind::Syntax, span_of(t), message)
    }

    fn expect(&mut self, kind: T, ctx: Ctx) -> R<Token> {
        let t = self.peek();
        if t.kind == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected(t, ctx))
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.peek();
            return Err(self.err(
                ErrorKind::Limit,
                span_of(t),
                format!("expression too deeply nested (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    // ---- expressions --------------------------------------------------------------

    fn top(&mut self) -> R<Expr> {
        let t = self.peek();
        if t.kind == T::Eof {
            return Err(self.err(
                ErrorKind::Syntax,
                PosRange::default(),
                "no expression found in input",
            ));
        }
        let e = self.expr(0)?;
        let t = self.peek();
        if t.kind != T::Eof {
            return Err(self.unexpected(t, Ctx::None));
        }
        Ok(e)
    }

    fn expr(&mut self, min_prec: u8) -> R<Expr> {
        self.enter()?;
        let mut lhs = self.unary()?;
        let mut chained = 0;
        while let Some(op) = binary_op(self.peek().kind) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.advance();
            let (matching, return_bool) = self.bin_modifiers()?;
            // `^` is right-associative; everything else is left-associative.
            let rhs = self.expr(if op == BinaryOp::Pow { prec } else { prec + 1 })?;
            let fill = matching.fill_lhs.is_some() || matching.fill_rhs.is_some();
            lhs = Expr::Binary(Box::new(BinaryExpr {
                op,
                lhs,
                rhs,
                matching: Some(matching),
                return_bool,
            }));
            if fill && !self.opts.binop_fill_modifiers {
                return Err(self.err(
                    ErrorKind::Semantic,
                    lhs.span(),
                    "binop fill modifiers are experimental and not enabled",
                ));
            }
            // A left-associative chain deepens the tree without recursing here, but
            // everything walking the tree later recurses, so it counts.
            self.enter()?;
            chained += 1;
        }
        self.depth -= chained + 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> R<Expr> {
        let t = self.peek();
        if matches!(t.kind, T::Add | T::Sub) {
            self.advance();
            // A unary operator binds like `*`: tighter than `+`, looser than `^`.
            let operand = self.expr(BinaryOp::Pow.precedence())?;
            return Ok(match operand {
                Expr::Number(mut n) => {
                    if t.kind == T::Sub {
                        n.value = -n.value;
                    }
                    n.span.start = t.start;
                    Expr::Number(n)
                }
                other => {
                    let span = PosRange::new(t.start, other.span().end);
                    Expr::Unary(Box::new(UnaryExpr {
                        op: if t.kind == T::Sub {
                            UnaryOp::Minus
                        } else {
                            UnaryOp::Plus
                        },
                        expr: other,
                        span,
                    }))
                }
            });
        }
        let e = self.primary()?;
        self.postfix(e)
    }

    fn primary(&mut self) -> R<Expr> {
        let t = self.peek();
        match t.kind {
            T::Number | T::Duration => {
                self.advance();
                Ok(Expr::Number(self.number_literal(t)?))
            }
            T::String => {
                self.advance();
                let raw = go::unquote_bytes(self.text(t));
                let (value, bytes) = match String::from_utf8(raw) {
                    Ok(s) => (s, None),
                    Err(e) => (
                        String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        Some(e.into_bytes().into_boxed_slice()),
                    ),
                };
                Ok(Expr::String(Box::new(StringLiteral {
                    value,
                    bytes,
                    span: span_of(t),
                })))
            }
            T::LParen => {
                self.advance();
                let inner = self.expr(0)?;
                let rp = self.expect(T::RParen, self.ctx)?;
                Ok(Expr::Paren(Box::new(ParenExpr {
                    expr: inner,
                    span: PosRange::new(t.start, rp.end),
                })))
            }
            T::LBrace => self.vector_selector(None),
            T::Identifier | T::Start | T::End | T::Step | T::Range | T::MaxOf | T::MinOf => {
                if self.peek2().kind == T::LParen {
                    self.call()
                } else {
                    self.vector_selector(Some(t))
                }
            }
            k if k.is_aggregator() => {
                if matches!(self.peek2().kind, T::LParen | T::By | T::Without) {
                    self.aggregate()
                } else {
                    self.vector_selector(Some(t))
                }
            }
            T::MetricIdentifier
            | T::And
            | T::Or
            | T::Unless
            | T::By
            | T::Without
            | T::Offset
            | T::Anchored
            | T::Smoothed
            | T::Fill
            | T::FillLeft
            | T::FillRight => self.vector_selector(Some(t)),
            _ => Err(self.unexpected(t, self.ctx)),
        }
    }

    fn postfix(&mut self, mut e: Expr) -> R<Expr> {
        let mut chained = 0;
        loop {
            e = match self.peek().kind {
                T::LBracket => self.range_or_subquery(e)?,
                T::Offset => self.offset(e)?,
                T::At => self.at(e)?,
                T::Anchored | T::Smoothed => self.anchored_smoothed(e)?,
                _ => break,
            };
            self.enter()?;
            chained += 1;
        }
        self.depth -= chained;
        Ok(e)
    }

    fn number_literal(&self, t: Token) -> R<NumberLiteral> {
        let text = self.text(t);
        let (value, duration) = if t.kind == T::Duration {
            let ns = go::parse_duration(text)
                .map_err(|m| self.err(ErrorKind::Lexical, span_of(t), m))?;
            (go::nanos_to_seconds(ns), true)
        } else {
            let v = go::parse_number(text).map_err(|m| {
                self.err(
                    ErrorKind::Lexical,
                    span_of(t),
                    format!("error parsing number: {m}"),
                )
            })?;
            (v, false)
        };
        Ok(NumberLiteral {
            value,
            duration,
            span: span_of(t),
        })
    }

    // ---- selectors ----------------------------------------------------------------

    fn vector_selector(&mut self, name: Option<Token>) -> R<Expr> {
        let mut vs = VectorSelector::default();
        let (mut start, mut end) = (self.peek().start, 0);
        if let Some(n) = name {
            self.advance();
            vs.name = Some(self.text(n).to_owned());
            start = n.start;
            end = n.end;
        }
        if self.peek().kind == T::LBrace {
            let (matchers, close) = self.label_matchers()?;
            vs.matchers = matchers;
            end = close;
        }
        if let Some(name) = &vs.name {
            vs.matchers
                .push(Matcher::equal(promlite_model::METRIC_NAME, name.clone()));
        }
        vs.span = PosRange::new(start, end);
        Ok(Expr::VectorSelector(Box::new(vs)))
    }

    fn label_matchers(&mut self) -> R<(Vec<Matcher>, u32)> {
        self.advance();
        let mut matchers = Vec::new();
        if self.peek().kind == T::RBrace {
            return Ok((matchers, self.advance().end));
        }
        loop {
            let t = self.peek();
            match t.kind {
                T::Identifier | T::String => {
                    self.advance();
                    let name = if t.kind == T::String {
                        go::unquote(self.text(t))
                    } else {
                        self.text(t).to_owned()
                    };
                    let op = self.peek();
                    if let Some(mt) = match_type(op.kind) {
                        self.advance();
                        let v = self.expect(T::String, Ctx::LabelString)?;
                        let value = go::unquote(self.text(v));
                        let m = Matcher::new(mt, name, value).map_err(|e| {
                            self.err(
                                ErrorKind::Semantic,
                                PosRange::new(t.start, v.end),
                                regex_error_message(&e),
                            )
                        })?;
                        matchers.push(m);
                    } else if t.kind == T::String {
                        // A lone quoted name is the metric name: {"http.requests"}.
                        matchers.push(Matcher::equal(promlite_model::METRIC_NAME, name));
                    } else {
                        return Err(self.unexpected(op, Ctx::LabelOp));
                    }
                }
                _ => return Err(self.unexpected(t, Ctx::LabelIdentOrClose)),
            }
            let t = self.peek();
            match t.kind {
                T::Comma => {
                    self.advance();
                    if self.peek().kind == T::RBrace {
                        return Ok((matchers, self.advance().end));
                    }
                }
                T::RBrace => return Ok((matchers, self.advance().end)),
                _ => return Err(self.unexpected(t, Ctx::LabelSep)),
            }
        }
    }

    fn range_or_subquery(&mut self, e: Expr) -> R<Expr> {
        let lb = self.advance();
        let saved = std::mem::replace(&mut self.ctx, Ctx::BracketStart);
        let range = self.duration_expr(0)?;
        let range = self.positive(range)?;
        let t = self.peek();
        let out = match t.kind {
            T::RBracket => {
                let rb = self.advance();
                let msg = match &e {
                    Expr::VectorSelector(v) if !v.offset.is_unset() => {
                        Some("no offset modifiers allowed before range")
                    }
                    Expr::VectorSelector(v) if v.at.is_some() => {
                        Some("no @ modifiers allowed before range")
                    }
                    Expr::VectorSelector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(msg) = msg {
                    return Err(self.err(
                        ErrorKind::Semantic,
                        PosRange::new(lb.start, rb.end),
                        msg,
                    ));
                }
                let Expr::VectorSelector(vs) = e else {
                    unreachable!("checked above")
                };
                let span = PosRange::new(vs.span.start, rb.end);
                Expr::MatrixSelector(Box::new(MatrixSelector {
                    selector: *vs,
                    range,
                    span,
                }))
            }
            T::Colon => {
                self.advance();
                self.ctx = Ctx::BracketAfterColon;
                let step = if self.peek().kind == T::RBracket {
                    DurationValue::Fixed(0)
                } else {
                    let d = self.duration_expr(0)?;
                    self.positive(d)?
                };
                let rb = self.expect(T::RBracket, Ctx::BracketAfterStep)?;
                let span = PosRange::new(e.span().start, rb.end);
                Expr::Subquery(Box::new(SubqueryExpr {
                    expr: e,
                    range,
                    step,
                    offset: DurationValue::Fixed(0),
                    at: None,
                    span,
                }))
            }
            _ => return Err(self.unexpected(t, Ctx::BracketAfterRange)),
        };
        self.ctx = saved;
        Ok(out)
    }

    /// Prometheus's `positive_duration_expr`: a literal range or step must be > 0.
    fn positive(&self, d: DurationExpr) -> R<DurationValue> {
        match d {
            DurationExpr::Number(n) => {
                if n.value <= 0.0 {
                    return Err(self.err(
                        ErrorKind::Semantic,
                        n.span,
                        "duration must be greater than 0",
                    ));
                }
                Ok(DurationValue::Fixed(go::seconds_to_millis(
                    n.value, n.duration,
                )))
            }
            other => Ok(DurationValue::Expr(other)),
        }
    }

    fn offset(&mut self, mut e: Expr) -> R<Expr> {
        self.advance();
        let saved = std::mem::replace(&mut self.ctx, Ctx::Offset);
        let value = self.offset_duration()?;
        self.ctx = saved;
        let end = self.last_end;
        let span = e.span();
        match modifier_target(&mut e) {
            None => Err(self.err(
                ErrorKind::Semantic,
                span,
                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
            )),
            Some((offset, _, e_end)) => {
                if !offset.is_unset() {
                    return Err(self.err(
                        ErrorKind::Semantic,
                        span,
                        "offset may not be set multiple times",
                    ));
                }
                *offset = value;
                *e_end = end;
                Ok(e)
            }
        }
    }

    /// The value after `offset`: a literal, a signed literal, `step()`, `range()`,
    /// `min_of`/`max_of`, or a parenthesised duration expression, each optionally
    /// signed. Anything after it belongs to the enclosing expression, so
    /// `foo offset 5s - 8` subtracts 8 from the selector.
    fn offset_duration(&mut self) -> R<DurationValue> {
        let t = self.peek();
        let de = match t.kind {
            T::Number | T::Duration => {
                self.advance();
                let n = self.number_literal(t)?;
                if out_of_range(n.value) {
                    return Err(self.err(ErrorKind::Semantic, n.span, "duration out of range"));
                }
                return Ok(DurationValue::Fixed(go::seconds_to_millis(
                    n.value, n.duration,
                )));
            }
            T::Add | T::Sub => {
                self.advance();
                let neg = t.kind == T::Sub;
                let t2 = self.peek();
                match t2.kind {
                    T::Number | T::Duration => {
                        self.advance();
                        let n = self.number_literal(t2)?;
                        let v = if neg { -n.value } else { n.value };
                        if out_of_range(v) {
                            return Err(self.err(
                                ErrorKind::Semantic,
                                span_of(t),
                                "duration out of range",
                            ));
                        }
                        return Ok(DurationValue::Fixed(go::seconds_to_millis(v, n.duration)));
                    }
                    T::Step | T::Range | T::MaxOf | T::MinOf => {
                        let inner = self.duration_call()?;
                        self.experimental_duration(span_of(t))?;
                        Self::sign(neg, t.start, inner)
                    }
                    T::LParen => {
                        self.advance();
                        let inner = self.duration_expr(0)?;
                        let rp = self.expect(T::RParen, self.ctx)?;
                        let p = paren_duration(inner, PosRange::new(t2.start, rp.end));
                        Self::sign(neg, t.start, p)
                    }
                    _ => return Err(self.unexpected(t2, self.ctx)),
                }
            }
            T::Step | T::Range | T::MaxOf | T::MinOf => {
                let d = self.duration_call()?;
                self.experimental_duration(d.span())?;
                d
            }
            T::LParen => {
                self.advance();
                let inner = self.duration_expr(0)?;
                let rp = self.expect(T::RParen, self.ctx)?;
                self.experimental_duration(duration_error_start(&inner))?;
                paren_duration(inner, PosRange::new(t.start, rp.end))
            }
            _ => return Err(self.unexpected(t, self.ctx)),
        };
        Ok(DurationValue::Expr(de))
    }

    fn sign(neg: bool, start: u32, e: DurationExpr) -> DurationExpr {
        if neg {
            let span = PosRange::new(start, e.span().end);
            DurationExpr::Negate {
                expr: Box::new(e),
                span,
            }
        } else {
            e
        }
    }

    fn experimental_duration(&self, at: PosRange) -> R<()> {
        if self.opts.duration_expressions {
            Ok(())
        } else {
            Err(self.err(
                ErrorKind::Semantic,
                at,
                "experimental duration expression is not enabled",
            ))
        }
    }

    fn duration_expr(&mut self, min_prec: u8) -> R<DurationExpr> {
        self.enter()?;
        let mut lhs = self.duration_unary()?;
        let mut chained = 0;
        loop {
            let t = self.peek();
            let op = match t.kind {
                T::Add => BinaryOp::Add,
                T::Sub => BinaryOp::Sub,
                T::Mul => BinaryOp::Mul,
                T::Div => BinaryOp::Div,
                T::Mod => BinaryOp::Mod,
                T::Pow => BinaryOp::Pow,
                _ => break,
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.advance();
            let rhs = self.duration_expr(if op == BinaryOp::Pow { prec } else { prec + 1 })?;
            self.experimental_duration(duration_error_start(&lhs))?;
            if matches!(op, BinaryOp::Div | BinaryOp::Mod)
                && matches!(rhs, DurationExpr::Number(n) if n.value == 0.0)
            {
                let msg = if op == BinaryOp::Div {
                    "division by zero"
                } else {
                    "modulo by zero"
                };
                return Err(self.err(ErrorKind::Semantic, span_of(t), msg));
            }
            lhs = DurationExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
            self.enter()?;
            chained += 1;
        }
        self.depth -= chained + 1;
        Ok(lhs)
    }

    fn duration_unary(&mut self) -> R<DurationExpr> {
        let t = self.peek();
        match t.kind {
            T::Add | T::Sub => {
                self.advance();
                let operand = self.duration_expr(BinaryOp::Pow.precedence())?;
                match operand {
                    DurationExpr::Number(mut n) => {
                        if t.kind == T::Sub {
                            n.value = -n.value;
                        }
                        if out_of_range(n.value) {
                            return Err(self.err(
                                ErrorKind::Semantic,
                                span_of(t),
                                "duration out of range",
                            ));
                        }
                        n.span.start = t.start;
                        Ok(DurationExpr::Number(n))
                    }
                    other => Ok(Self::sign(t.kind == T::Sub, t.start, other)),
                }
            }
            T::Number | T::Duration => {
                self.advance();
                let n = self.number_literal(t)?;
                if out_of_range(n.value) {
                    return Err(self.err(ErrorKind::Semantic, n.span, "duration out of range"));
                }
                Ok(DurationExpr::Number(n))
            }
            T::Step | T::Range | T::MaxOf | T::MinOf => {
                let d = self.duration_call()?;
                self.experimental_duration(d.span())?;
                Ok(d)
            }
            T::LParen => {
                self.advance();
                let inner = self.duration_expr(0)?;
                let rp = self.expect(T::RParen, self.ctx)?;
                self.experimental_duration(duration_error_start(&inner))?;
                Ok(paren_duration(inner, PosRange::new(t.start, rp.end)))
            }
            _ => Err(self.unexpected(t, self.ctx)),
        }
    }

    /// `step()`, `range()`, `min_of(a, b)`, `max_of(a, b)` in a duration.
    fn duration_call(&mut self) -> R<DurationExpr> {
        let t = self.advance();
        self.expect(T::LParen, self.ctx)?;
        match t.kind {
            T::Step | T::Range => {
                let rp = self.expect(T::RParen, self.ctx)?;
                let span = PosRange::new(t.start, rp.end);
                Ok(if t.kind == T::Step {
                    DurationExpr::Step(span)
                } else {
                    DurationExpr::Range(span)
                })
            }
            _ => {
                let lhs = Box::new(self.duration_expr(0)?);
                self.expect(T::Comma, self.ctx)?;
                let rhs = Box::new(self.duration_expr(0)?);
                let rp = self.expect(T::RParen, self.ctx)?;
                let span = PosRange::new(t.start, rp.end);
                Ok(if t.kind == T::MaxOf {
                    DurationExpr::MaxOf { lhs, rhs, span }
                } else {
                    DurationExpr::MinOf { lhs, rhs, span }
                })
            }
        }
    }

    fn at(&mut self, mut e: Expr) -> R<Expr> {
        self.advance();
        let saved = std::mem::replace(&mut self.ctx, Ctx::At);
        let t = self.peek();
        let (at, seconds) = match t.kind {
            T::Number | T::Duration => {
                self.advance();
                (None, Some(self.number_literal(t)?.value))
            }
            T::Add | T::Sub => {
                self.advance();
                let n = self.peek();
                if !matches!(n.kind, T::Number | T::Duration) {
                    return Err(self.unexpected(n, Ctx::At));
                }
                self.advance();
                let v = self.number_literal(n)?.value;
                (None, Some(if t.kind == T::Sub { -v } else { v }))
            }
            T::Start | T::End => {
                self.advance();
                self.expect(T::LParen, Ctx::At)?;
                self.expect(T::RParen, Ctx::At)?;
                let m = if t.kind == T::Start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                };
                (Some(m), None)
            }
            _ => return Err(self.unexpected(t, Ctx::At)),
        };
        self.ctx = saved;
        let span = e.span();
        let at = match seconds {
            Some(ts) => {
                if !ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64 {
                    return Err(self.err(
                        ErrorKind::Semantic,
                        span,
                        format!(
                            "timestamp out of bounds for @ modifier: {}",
                            go::format_f6(ts)
                        ),
                    ));
                }
                AtModifier::Timestamp((ts * 1000.0).round() as i64)
            }
            None => at.unwrap_or(AtModifier::Start),
        };
        let end = self.last_end;
        match modifier_target(&mut e) {
            None => Err(self.err(
                ErrorKind::Semantic,
                span,
                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
            )),
            Some((_, slot, e_end)) => {
                if slot.is_some() {
                    return Err(self.err(
                        ErrorKind::Semantic,
                        span,
                        "@ <timestamp> may not be set multiple times",
                    ));
                }
                *slot = Some(at);
                *e_end = end;
                Ok(e)
            }
        }
    }

    fn anchored_smoothed(&mut self, mut e: Expr) -> R<Expr> {
        let t = self.advance();
        let (name, anchored) = if t.kind == T::Anchored {
            ("anchored", true)
        } else {
            ("smoothed", false)
        };
        let span = e.span();
        if !self.opts.extended_range_selectors {
            return Err(self.err(
                ErrorKind::Semantic,
                span,
                format!("{name} modifier is experimental and not enabled"),
            ));
        }
        let (vs, end) = match &mut e {
            Expr::VectorSelector(v) => (&mut **v, None),
            Expr::MatrixSelector(m) => (&mut m.selector, Some(&mut m.span.end)),
            Expr::Subquery(_) => {
                return Err(self.err(
                    ErrorKind::Semantic,
                    span,
                    format!("{name} modifier is not supported for subqueries"),
                ));
            }
            _ => {
                return Err(self.err(
                    ErrorKind::Semantic,
                    span,
                    format!("{name} modifier not implemented"),
                ));
            }
        };
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        if vs.anchored && vs.smoothed {
            return Err(self.err(
                ErrorKind::Semantic,
                span,
                "anchored and smoothed modifiers cannot be used together",
            ));
        }
        match end {
            Some(end) => *end = t.end,
            None => vs.span.end = t.end,
        }
        Ok(e)
    }

    // ---- operators, calls, aggregations -------------------------------------------

    fn bin_modifiers(&mut self) -> R<(VectorMatching, bool)> {
        let mut vm = VectorMatching {
            card: Cardinality::OneToOne,
            labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill_lhs: None,
            fill_rhs: None,
        };
        let mut return_bool = false;
        if self.peek().kind == T::Bool {
            self.advance();
            return_bool = true;
        }
        if matches!(self.peek().kind, T::On | T::Ignoring) {
            vm.on = self.advance().kind == T::On;
            vm.labels = self.grouping()?.0;
            let g = self.peek().kind;
            if matches!(g, T::GroupLeft | T::GroupRight) {
                self.advance();
                vm.card = if g == T::GroupLeft {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                if self.peek().kind == T::LParen {
                    vm.include = self.grouping()?.0;
                }
            }
        }
        match self.peek().kind {
            T::Fill => {
                self.advance();
                let v = self.fill_value()?;
                vm.fill_lhs = Some(v);
                vm.fill_rhs = Some(v);
            }
            T::FillLeft => {
                self.advance();
                vm.fill_lhs = Some(self.fill_value()?);
                if self.peek().kind == T::FillRight {
                    self.advance();
                    vm.fill_rhs = Some(self.fill_value()?);
                }
            }
            T::FillRight => {
                self.advance();
                vm.fill_rhs = Some(self.fill_value()?);
                if self.peek().kind == T::FillLeft {
                    self.advance();
                    vm.fill_lhs = Some(self.fill_value()?);
                }
            }
            _ => {}
        }
        Ok((vm, return_bool))
    }

    fn fill_value(&mut self) -> R<f64> {
        self.expect(T::LParen, self.ctx)?;
        let mut sign = 1.0;
        let t = self.peek();
        if matches!(t.kind, T::Add | T::Sub) {
            self.advance();
            if t.kind == T::Sub {
                sign = -1.0;
            }
        }
        let n = self.peek();
        if !matches!(n.kind, T::Number | T::Duration) {
            return Err(self.unexpected(n, self.ctx));
        }
        self.advance();
        let v = self.number_literal(n)?.value;
        self.expect(T::RParen, self.ctx)?;
        Ok(sign * v)
    }

    /// `( label, "label", … )` after `by`, `without`, `on`, `ignoring`, `group_x`.
    fn grouping(&mut self) -> R<(Vec<String>, u32)> {
        self.expect(T::LParen, Ctx::GroupingOpen)?;
        let mut labels = Vec::new();
        if self.peek().kind == T::RParen {
            return Ok((labels, self.advance().end));
        }
        loop {
            let t = self.peek();
            let label = if is_grouping_label(t.kind) {
                self.text(t).to_owned()
            } else if t.kind == T::String {
                let s = go::unquote(self.text(t));
                if s.is_empty() {
                    return Err(self.err(
                        ErrorKind::Semantic,
                        span_of(t),
                        format!("invalid label name for grouping: {}", go_quote(&s)),
                    ));
                }
                s
            } else {
                return Err(self.unexpected(t, Ctx::GroupingLabel));
            };
            self.advance();
            labels.push(label);
            let t = self.peek();
            match t.kind {
                T::Comma => {
                    self.advance();
                    if self.peek().kind == T::RParen {
                        return Ok((labels, self.advance().end));
                    }
                }
                T::RParen => return Ok((labels, self.advance().end)),
                _ => return Err(self.unexpected(t, Ctx::GroupingSep)),
            }
        }
    }

    /// `( expr, … )`, returning the arguments and the end of `)`.
    fn call_args(&mut self) -> R<(Vec<Expr>, u32)> {
        self.expect(T::LParen, self.ctx)?;
        let mut args = Vec::new();
        if self.peek().kind == T::RParen {
            return Ok((args, self.advance().end));
        }
        // A call nests more parser frames than a parenthesis; it counts as two levels.
        self.enter()?;
        loop {
            args.push(self.expr(0)?);
            let t = self.peek();
            match t.kind {
                T::Comma => {
                    self.advance();
                    if self.peek().kind == T::RParen {
                        return Err(self.err(
                            ErrorKind::Syntax,
                            span_of(t),
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                T::RParen => {
                    self.depth -= 1;
                    return Ok((args, self.advance().end));
                }
                _ => return Err(self.unexpected(t, self.ctx)),
            }
        }
    }

    fn call(&mut self) -> R<Expr> {
        let name_tok = self.advance();
        let (args, end) = self.call_args()?;
        let name = self.text(name_tok);
        let Some(func) = function(name) else {
            return Err(self.err(
                ErrorKind::Semantic,
                span_of(name_tok),
                format!("unknown function with name {}", go_quote(name)),
            ));
        };
        if func.experimental && !self.opts.experimental_functions {
            return Err(self.err(
                ErrorKind::Semantic,
                span_of(name_tok),
                format!("function {} is not enabled", go_quote(name)),
            ));
        }
        Ok(Expr::Call(Box::new(Call {
            func,
            args,
            span: PosRange::new(name_tok.start, end),
        })))
    }

    fn aggregate(&mut self) -> R<Expr> {
        let op_tok = self.advance();
        let op = aggregate_op(op_tok.kind);
        let saved = std::mem::replace(&mut self.ctx, Ctx::Aggregation);
        let mut grouping = None;
        if matches!(self.peek().kind, T::By | T::Without) {
            let without = self.advance().kind == T::Without;
            grouping = Some((self.grouping()?.0, without));
        }
        let t = self.peek();
        if t.kind != T::LParen {
            return Err(self.unexpected(t, Ctx::Aggregation));
        }
        let (mut args, mut end) = self.call_args()?;
        if grouping.is_none() && matches!(self.peek().kind, T::By | T::Without) {
            let without = self.advance().kind == T::Without;
            let (labels, close) = self.grouping()?;
            grouping = Some((labels, without));
            end = close;
        }
        self.ctx = saved;
        let span = PosRange::new(op_tok.start, end);
        if args.is_empty() {
            return Err(self.err(
                ErrorKind::Semantic,
                span,
                "no arguments for aggregate expression provided",
            ));
        }
        if op.is_experimental() && !self.opts.experimental_functions {
            return Err(self.err(
                ErrorKind::Semantic,
                span,
                format!(
                    "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                ),
            ));
        }
        let want = if op.has_param() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.err(
                ErrorKind::Semantic,
                span,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        let expr = args.pop().unwrap_or(Expr::Number(NumberLiteral {
            value: 0.0,
            duration: false,
            span,
        }));
        let param = args.pop();
        let (grouping, without) = grouping.unwrap_or_default();
        Ok(Expr::Aggregate(Box::new(AggregateExpr {
            op,
            expr,
            param,
            grouping,
            without,
            span,
        })))
    }
}
