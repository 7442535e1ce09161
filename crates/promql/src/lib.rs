//! PromQL for promlite: the lexer, parser, syntax tree, static type checker and canonical
//! printer of the Prometheus query language, as Prometheus 3 speaks it; the evaluator
//! ([`Engine`]) that runs queries over any [`promlite_storage::Queryable`]; and the
//! [`promqltest`] runner for Prometheus's PromQL test scripts.
//!
//! # What it does
//!
//! [`parse`] (or [`Parser::parse`] with [`ParserOptions`]) turns a query into an [`Expr`]
//! tree and type-checks it exactly as Prometheus's `ParseExpr` does: instant vs range
//! vector vs scalar vs string, function arity and argument types, the vector-matching
//! rules, `bool` on scalar comparisons, and so on. Errors are a [`ParseError`] whose text is
//! Prometheus's, position included (`1:14: parse error: unexpected "=" in label matching,
//! expected string`), because people paste these messages into search engines. Printing an
//! [`Expr`] with `Display` gives the one-line canonical form of Prometheus's `String()`
//! (what `format_query` returns), and parsing that text gives the same tree back.
//!
//! # Main types
//!
//! - [`Expr`]: an enum over [`AggregateExpr`], [`BinaryExpr`], [`Call`],
//!   [`MatrixSelector`], [`NumberLiteral`], [`ParenExpr`], [`StringLiteral`],
//!   [`SubqueryExpr`], [`UnaryExpr`] and [`VectorSelector`]. Every node carries a
//!   [`PosRange`] of byte offsets. [`Expr::children`], [`Expr::walk`] and
//!   [`Expr::selectors`] walk it; [`Expr::value_type`] gives its [`ValueType`].
//! - [`DurationValue`] and [`DurationExpr`]: ranges, subquery steps and offsets, either
//!   fixed milliseconds or (experimental) expressions such as `5m + step()`.
//! - [`Function`] and [`FUNCTIONS`]: every function of Prometheus 3 with its signature.
//! - [`ParserOptions`]: switches for Prometheus's experimental features — functions
//!   (`info`, `sort_by_label`, `mad_over_time`, `ts_of_*`, `limitk`, …), duration
//!   expressions, `anchored`/`smoothed` and `fill()` modifiers. All are off by default,
//!   as in Prometheus; [`ParserOptions::all`] turns everything on.
//!
//! # Evaluation
//!
//! [`Engine::instant_query`] and [`Engine::range_query`] return a [`QueryResult`]: a
//! [`Value`] (scalar, string, instant [`Vector`] or range [`Matrix`], the latter sorted by
//! labels) and the [`Annotations`] Prometheus would return (`PromQL info: metric might not
//! be a counter…`), rendered with the position of the expression they are about. Errors are
//! an [`EvalError`] worded as Prometheus words them. [`EngineOptions`] sets the lookback
//! delta (5m), the sample limit, the timeout, the 11,000-points-per-series limit,
//! delayed `__name__` removal and the parser's experimental switches; a [`CancelToken`]
//! stops a running query.
//!
//! Semantics are Prometheus 3's: left-open windows `(t - range, t]`, staleness markers
//! ending a series' lookback, `@`/`offset`, subqueries on absolute step multiples, native
//! histograms (float counts, all schemas and custom buckets) in every operator, function
//! and aggregation, Kahan summation where Prometheus uses it. Like Prometheus, every node
//! evaluates to one point per step, so a range query walks the tree once: selectors stream
//! series from storage one at a time, range functions slide a window over each series'
//! samples across all steps, and aggregations assign each series its group once, by
//! hashing the grouping labels. `limit_ratio` keeps the series Prometheus keeps, by the
//! same xxhash64 of the label bytes. The experimental `anchored`/`smoothed` range
//! selectors read one lookback delta beyond the window and anchor or interpolate its
//! edges; `info()` joins info metrics on `instance`/`job`, with the first argument's `@`
//! and `offset` applied to them too. `docs/compatibility.md` lists the conformance results.
//!
//! ```
//! use promlite_model::Labels;
//! use promlite_promql::{Engine, EngineOptions, Value};
//! use promlite_storage::{Appendable, MemStore, SeriesRef};
//!
//! let store = MemStore::new();
//! let mut app = store.appender();
//! let s = Labels::from_pairs([("__name__", "requests_total"), ("job", "api")]);
//! for i in 0..10 {
//!     app.append(SeriesRef::NONE, &s, i * 60_000, (i * 60) as f64).unwrap();
//! }
//! app.commit().unwrap();
//!
//! let engine = Engine::new(EngineOptions::new());
//! let r = engine.instant_query(&store, "sum by (job) (rate(requests_total[5m]))", 540_000)?;
//! let Value::Vector(v) = r.value else { unreachable!() };
//! assert_eq!(v[0].metric.to_string(), r#"{job="api"}"#);
//! assert!((v[0].f - 1.0).abs() < 1e-9);
//! # Ok::<(), promlite_promql::EvalError>(())
//! ```
//!
//! # Design decisions
//!
//! - **Hand-written recursive descent with precedence climbing**, not a parser generator:
//!   it is fast (no tables, one token of lookahead, a lexer that allocates nothing), and
//!   it can reproduce Prometheus's yacc error messages by tracking the grammar context an
//!   error occurs in (aggregation, offset, `@`, range, label matching, grouping).
//! - **The lexer is Prometheus's state machine, rule for rule**: number, duration, string
//!   and escape scanning, what is allowed inside `{…}` and `[…]`, keyword recognition —
//!   because its quirks decide which inputs are valid and what the errors say.
//! - **Only the first error is reported**, as Prometheus prints only the first; so the
//!   parser stops there instead of recovering.
//! - **Plain enums with boxed children** so an evaluator can `match` on them cheaply;
//!   matchers are [`promlite_model::Matcher`]s, compiled once at parse time.
//! - **Durations are whole milliseconds**, the unit of Prometheus's engine (it truncates
//!   its nanosecond durations to milliseconds before evaluating).
//! - **A large selection is shared between threads**, where Prometheus evaluates a query
//!   on one goroutine: once a selector has read [`EngineOptions::parallel_min_samples`]
//!   samples of long series on the calling thread, helper threads (up to
//!   [`EngineOptions::parallelism`]) each open their own querier and take part of the
//!   remaining series by label hash, since storage series are not `Send`. What each
//!   series produced (points, annotations, sample counts, errors) is then applied in
//!   selection order, so answers, warnings, the sample limit and errors are the serial
//!   ones; small queries never start a thread. A helper that the kernel starts on its
//!   caller's CPU moves itself to another ([`helpers`]).
//! - **Nesting is bounded** at [`MAX_DEPTH`] levels ("expression too deeply nested"), so
//!   no input can overflow the stack; every loop consumes input, so none can hang.
//!
//! Known differences from Prometheus: regex errors carry the Rust `regex` crate's
//! explanation rather than Go's; string escapes that produce bytes which are not UTF-8
//! (`"\xff"`) evaluate as U+FFFD because Rust strings are UTF-8 (the literal keeps its
//! exact bytes in [`StringLiteral::bytes`], so it prints and is quoted in errors as
//! Prometheus does); a unary `+` in a duration
//! expression is dropped (Prometheus keeps a node that prints as nothing); and duration
//! literals print exactly where Prometheus's float truncation would print `1s1ms` as `1s`.
//!
//! # Example
//!
//! ```
//! use promlite_promql::{Expr, Parser, ParserOptions, ValueType, parse};
//!
//! let expr = parse(r#"sum by(job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.1"#)?;
//! assert_eq!(expr.value_type(), ValueType::Vector);
//! assert_eq!(
//!     expr.to_string(),
//!     r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.1"#
//! );
//! let names: Vec<_> = expr.selectors().iter().filter_map(|s| s.name.clone()).collect();
//! assert_eq!(names, ["http_requests_total"]);
//!
//! let err = parse(r#"foo{__name__= =}"#).unwrap_err();
//! assert_eq!(err.to_string(), r#"1:15: parse error: unexpected "=" in label matching, expected string"#);
//!
//! // Experimental syntax needs its switch.
//! assert!(parse("foo[5m + step()]").is_err());
//! let p = Parser::new(ParserOptions::new().duration_expressions(true));
//! assert!(matches!(p.parse("foo[5m + step()]")?, Expr::MatrixSelector(_)));
//! # Ok::<(), promlite_promql::ParseError>(())
//! ```
#![deny(missing_docs)]
// The evaluator's numeric code keeps Prometheus's short variable names (`f`, `h`, `q`,
// `k`, …) so it can be read side by side with `functions.go` and `engine.go`.
#![allow(clippy::many_single_char_names)]
// `match` with an early-return arm reads better than `if let … else` in the evaluator's
// many "take this value or bail out" steps.
#![allow(clippy::single_match_else)]
// Accumulators and parsed commands carry several independent flags, as Prometheus's do.
#![allow(clippy::struct_excessive_bools)]

mod aggr;
mod ast;
mod binop;
mod check;
mod engine;
mod error;
mod eval_error;
mod extended;
mod funcs;
mod functions;
pub mod fuzzing;
mod go;
pub mod helpers;
mod hist;
mod info;
mod lexer;
mod par;
mod parser;
mod printer;
pub mod promqltest;
mod stats;
mod value;

pub use ast::{
    AggregateExpr, AggregateOp, AtModifier, BinaryExpr, BinaryOp, Call, Cardinality, Children,
    DurationExpr, DurationValue, Expr, MatrixSelector, NumberLiteral, ParenExpr, PosRange,
    StringLiteral, SubqueryExpr, UnaryExpr, UnaryOp, ValueType, VectorMatching, VectorSelector,
};
pub use engine::{
    CancelToken, CancellableEngine, Engine, EngineOptions, MAX_POINTS_PER_SERIES, QueryResult,
};
pub use error::{ErrorKind, Location, ParseError};
pub use eval_error::EvalError;
pub use functions::{FUNCTIONS, Function, function};
pub use parser::{MAX_DEPTH, Parser, ParserOptions, parse, parse_metric_selector};
pub use stats::{QueryStats, QueryTimings};
pub use value::{
    Annotation, AnnotationKind, Annotations, FPoint, HPoint, Matrix, Sample, Series, Value, Vector,
};
