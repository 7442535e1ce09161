//! The evaluator: [`Engine`] runs instant and range queries over any
//! [`Queryable`](promlite_storage::Queryable).
//!
//! Like Prometheus, every instant-vector and scalar node evaluates to a matrix holding one
//! point per step of the query range (an instant query is a range query of one step), so
//! the tree is walked once per query, not once per step. Selectors stream one series at
//! a time out of storage: a series' samples are read once into a buffer and every step's
//! window is a slice of it, found by moving two cursors forward.

use hashbrown::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use promlite_model::{FloatHistogram, Labels, METRIC_NAME, Matcher, is_stale_nan};
use promlite_storage::{LastSample, Queryable, SelectHints, ValueType as StoreType};

use crate::ast::{
    AtModifier, BinaryOp, DurationExpr, DurationValue, Expr, MatrixSelector, SubqueryExpr, UnaryOp,
    ValueType, VectorSelector,
};
use crate::eval_error::EvalError;
use crate::parser::{Parser, ParserOptions};
use crate::stats::{QueryStats, QueryTimings, SampleCounts};
use crate::value::{Annotations, FPoint, HPoint, Matrix, Sample, Series, Value, Vector};

/// Prometheus's default maximum number of points per series of a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Options of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub(crate) lookback_delta: i64,
    pub(crate) max_samples: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) delayed_name_removal: bool,
    pub(crate) no_step_subquery_interval: i64,
    pub(crate) parser: ParserOptions,
    pub(crate) max_points_per_series: Option<i64>,
    pub(crate) start_timestamps: bool,
    pub(crate) parallelism: usize,
    pub(crate) parallel_min_samples: usize,
    pub(crate) per_step_stats: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Some(Duration::from_mins(2)),
            delayed_name_removal: false,
            no_step_subquery_interval: 60_000,
            parser: ParserOptions::new(),
            max_points_per_series: Some(MAX_POINTS_PER_SERIES),
            start_timestamps: false,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            parallel_min_samples: 64_000,
            per_step_stats: false,
        }
    }
}

impl EngineOptions {
    /// Prometheus's defaults: 5m lookback, 50M samples, 2m timeout, name removal at
    /// once, 1m default subquery step, 11,000 points per series, stable syntax only.
    pub fn new() -> Self {
        Self::default()
    }

    /// How far back an instant selector looks for a sample (milliseconds).
    pub fn lookback_delta(mut self, ms: i64) -> Self {
        self.lookback_delta = if ms <= 0 { 5 * 60 * 1000 } else { ms };
        self
    }

    /// The most samples a query may hold in memory at once.
    pub fn max_samples(mut self, n: usize) -> Self {
        self.max_samples = n;
        self
    }

    /// The longest a query may run; `None` for no limit.
    pub fn timeout(mut self, d: Option<Duration>) -> Self {
        self.timeout = d;
        self
    }

    /// Prometheus's `promql-delayed-name-removal` feature: `__name__` is removed when the
    /// query finishes rather than by each function, so e.g. `rate(a[1m]) or rate(b[1m])`
    /// keeps both series apart until the end.
    pub fn delayed_name_removal(mut self, on: bool) -> Self {
        self.delayed_name_removal = on;
        self
    }

    /// The step of subqueries written without one (`x[5m:]`), in milliseconds.
    pub fn no_step_subquery_interval(mut self, ms: i64) -> Self {
        self.no_step_subquery_interval = ms.max(1);
        self
    }

    /// The parser options (experimental syntax).
    pub fn parser_options(mut self, p: ParserOptions) -> Self {
        self.parser = p;
        self
    }

    /// The most points a range query may return per series (`None`: no limit); the
    /// Prometheus API uses 11,000.
    pub fn max_points_per_series(mut self, n: Option<i64>) -> Self {
        self.max_points_per_series = n;
        self
    }

    /// Prometheus's experimental `UseStartTimestamps`: samples' start times (see
    /// `promlite_storage::SampleIterator::at_st`) mark counter resets and the start of
    /// counting for `rate`, `increase`, `irate` and `resets`, and `start_timestamp()`
    /// returns them. Off by default, as in Prometheus.
    pub fn start_timestamps(mut self, on: bool) -> Self {
        self.start_timestamps = on;
        self
    }

    /// How many threads one query may use for the per-series work of its selectors
    /// (reading samples, range functions): 1 evaluates on the calling thread only, as
    /// Prometheus does. The default is the number of CPUs, at most 4. Results are the
    /// same for every setting.
    pub fn parallelism(mut self, threads: usize) -> Self {
        self.parallelism = threads.max(1);
        self
    }

    /// How many samples a selector reads on the calling thread before it shares the
    /// rest of its series with other threads (see [`Self::parallelism`]); below about
    /// this much work, waking a helper costs more than it saves. Default 64,000. The
    /// series read must also average 256 samples (or this number, if lower): a helper
    /// walks the whole selection to find its share, which costs more than evaluating
    /// short series such as an instant query's.
    pub fn parallel_min_samples(mut self, samples: usize) -> Self {
        self.parallel_min_samples = samples;
        self
    }

    /// Prometheus's `promql-per-step-stats` feature: queries that ask for it (see
    /// [`CancellableEngine::per_step_stats`]) count the samples they read step by step
    /// in [`QueryStats::per_step`]. Off by default.
    pub fn per_step_stats(mut self, on: bool) -> Self {
        self.per_step_stats = on;
        self
    }
}

/// The result of a query: a value and the annotations raised while computing it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warnings and infos.
    pub annotations: Annotations,
    /// Samples read and held, and timings (Prometheus's `stats`).
    pub stats: QueryStats,
}

/// The PromQL engine. Cheap to share; each query creates its own evaluator.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

/// A handle to cancel running queries: pass it to [`Engine::with_cancel`] and call
/// [`CancelToken::cancel`] from another thread.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every query using this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Per-query settings beyond the engine's.
#[derive(Debug, Clone, Default)]
struct QueryCtx {
    cancel: Option<CancelToken>,
    /// The query asks for per-step sample counts (granted if the options allow).
    per_step_stats: bool,
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Engine {
        Engine { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// A view of this engine whose queries stop with
    /// [`EvalError::Canceled`] once `token` is cancelled.
    pub fn with_cancel(&self, token: CancelToken) -> CancellableEngine<'_> {
        CancellableEngine {
            engine: self,
            ctx: QueryCtx {
                cancel: Some(token),
                per_step_stats: false,
            },
        }
    }

    /// Parses `query` with the engine's parser options.
    pub fn parse(&self, query: &str) -> Result<Expr, EvalError> {
        Ok(Parser::new(self.opts.parser).parse(query)?)
    }

    /// Evaluates `query` at `t` (milliseconds).
    pub fn instant_query(
        &self,
        store: &dyn Queryable,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, EvalError> {
        self.uncancellable().instant_query(store, query, t)
    }

    /// Evaluates `query` at every `step` from `start` to `end` (milliseconds).
    pub fn range_query(
        &self,
        store: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, EvalError> {
        self.uncancellable()
            .range_query(store, query, start, end, step)
    }

    /// This engine's queries with no token to cancel them.
    fn uncancellable(&self) -> CancellableEngine<'_> {
        CancellableEngine {
            engine: self,
            ctx: QueryCtx::default(),
        }
    }

    /// Evaluates a parsed expression at `t`.
    pub fn instant_expr(
        &self,
        store: &dyn Queryable,
        expr: &Expr,
        t: i64,
    ) -> Result<QueryResult, EvalError> {
        run(
            &self.opts,
            &QueryCtx::default(),
            store,
            expr,
            t,
            t,
            0,
            Instant::now(),
        )
    }

    /// Evaluates a parsed expression over a range.
    pub fn range_expr(
        &self,
        store: &dyn Queryable,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, EvalError> {
        check_range(&self.opts, expr, start, end, step)?;
        run(
            &self.opts,
            &QueryCtx::default(),
            store,
            expr,
            start,
            end,
            step,
            Instant::now(),
        )
    }
}

/// An [`Engine`] bound to a [`CancelToken`].
#[derive(Debug)]
pub struct CancellableEngine<'e> {
    engine: &'e Engine,
    ctx: QueryCtx,
}

impl CancellableEngine<'_> {
    /// Asks for per-step sample counts in the queries' [`QueryStats::per_step`]; they
    /// are given only if the engine's options allow them too
    /// ([`EngineOptions::per_step_stats`]), as Prometheus needs both its feature flag
    /// and `stats=all`.
    pub fn per_step_stats(mut self, on: bool) -> Self {
        self.ctx.per_step_stats = on;
        self
    }

    /// See [`Engine::instant_query`].
    pub fn instant_query(
        &self,
        store: &dyn Queryable,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, EvalError> {
        let began = Instant::now();
        let expr = self.engine.parse(query)?;
        run(&self.engine.opts, &self.ctx, store, &expr, t, t, 0, began)
    }

    /// See [`Engine::range_query`].
    pub fn range_query(
        &self,
        store: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, EvalError> {
        let began = Instant::now();
        let expr = self.engine.parse(query)?;
        check_range(&self.engine.opts, &expr, start, end, step)?;
        run(
            &self.engine.opts,
            &self.ctx,
            store,
            &expr,
            start,
            end,
            step,
            began,
        )
    }
}

fn check_range(
    opts: &EngineOptions,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), EvalError> {
    if step <= 0 {
        return Err(EvalError::InvalidStep);
    }
    if end < start {
        return Err(EvalError::EndBeforeStart);
    }
    if let Some(max) = opts.max_points_per_series
        && (end - start) / step >= max
    {
        return Err(EvalError::TooManyPoints);
    }
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => Ok(()),
        other => Err(EvalError::InvalidRangeQueryType(other.documented())),
    }
}

// The query, its range and when it arrived (its parse counts as preparation): a
// struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn run(
    opts: &EngineOptions,
    ctx: &QueryCtx,
    store: &dyn Queryable,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    began: Instant,
) -> Result<QueryResult, EvalError> {
    let instant = step == 0;
    let query_preparation = began.elapsed();
    let eval_start = Instant::now();
    let steps = if instant {
        1
    } else {
        usize::try_from((end - start) / step).map_or(1, |n| n + 1)
    };
    let mut ev = Evaluator {
        store,
        start,
        end,
        interval: if instant { 1 } else { step },
        query_start: start,
        query_end: end,
        query_step: step,
        lookback: opts.lookback_delta,
        max_samples: opts.max_samples,
        current_samples: 0,
        delayed: opts.delayed_name_removal,
        no_step_subquery_interval: opts.no_step_subquery_interval,
        deadline: opts.timeout.map(|d| Instant::now() + d),
        cancel: ctx.cancel.clone(),
        annos: Annotations::default(),
        ticks: 0,
        stats_decoding: false,
        use_st: opts.start_timestamps,
        threads: opts.parallelism,
        parallel_min_samples: opts.parallel_min_samples,
        peak_samples: 0,
        counts: SampleCounts::new(steps, opts.per_step_stats && ctx.per_step_stats),
        subquery_read: 0,
    };
    let val = ev.eval(expr)?;
    let mut timings = QueryTimings {
        query_preparation,
        inner_eval: eval_start.elapsed(),
        ..QueryTimings::default()
    };
    let mat = match val {
        Val::String(s) => {
            timings.eval_total = began.elapsed();
            return Ok(QueryResult {
                value: Value::String { t: start, s },
                stats: ev.stats(start, timings),
                annotations: ev.annos,
            });
        }
        Val::Matrix(m) => m,
    };
    let value = if instant {
        match expr.value_type() {
            ValueType::Scalar => Value::Scalar {
                t: start,
                v: mat
                    .first()
                    .and_then(|s| s.floats.first())
                    .map_or(f64::NAN, |p| p.f),
            },
            ValueType::Matrix => {
                let mut mat = ev.cleanup_matrix(mat)?;
                mat.sort_by(|a, b| a.metric.cmp(&b.metric));
                Value::Matrix(mat)
            }
            _ => {
                let mut vec: Vector = Vec::with_capacity(mat.len());
                for s in mat {
                    let (f, h) = match (s.histograms.first(), s.floats.first()) {
                        (Some(h), _) => (0.0, Some(h.h.clone())),
                        (None, Some(p)) => (p.f, None),
                        (None, None) => continue,
                    };
                    vec.push(Sample {
                        metric: s.metric,
                        t: start,
                        f,
                        h,
                        drop_name: s.drop_name,
                    });
                }
                Value::Vector(ev.cleanup_vector(vec)?)
            }
        }
    } else {
        let mut mat = ev.cleanup_matrix(mat)?;
        let sorting = Instant::now();
        mat.sort_by(|a, b| a.metric.cmp(&b.metric));
        timings.result_sort = sorting.elapsed();
        Value::Matrix(mat)
    };
    timings.eval_total = began.elapsed();
    Ok(QueryResult {
        value,
        stats: ev.stats(start, timings),
        annotations: ev.annos,
    })
}

/// What a node evaluates to inside the evaluator.
pub(crate) enum Val {
    /// Instant vectors and scalars (one point per step), and range vectors.
    Matrix(Matrix),
    /// A string literal.
    String(String),
}

/// The samples of one series between two times, read once from storage.
pub(crate) struct Loaded {
    pub(crate) metric: Labels,
    pub(crate) floats: Vec<FPoint>,
    pub(crate) hists: Vec<HPoint>,
    /// Start times of `floats` and `hists`, index for index; empty when the series has
    /// none (or the start-timestamp option is off).
    pub(crate) sts: Sts,
    pub(crate) drop_name: bool,
}

/// Start times parallel to a series' floats and histograms (Prometheus's
/// `StartTimestamps`); each list is empty or as long as its samples.
#[derive(Debug, Default)]
pub(crate) struct Sts {
    pub(crate) floats: Vec<i64>,
    pub(crate) hists: Vec<i64>,
}

/// What an instant selector returns for the sample it finds at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Its value.
    Value,
    /// Its timestamp in seconds (`timestamp()`).
    Timestamp,
    /// Its start time in seconds, 0 if unknown (`start_timestamp()`).
    StartTimestamp,
}

/// One step's window of a range-vector argument.
pub(crate) struct Window<'a> {
    pub(crate) metric: &'a Labels,
    pub(crate) floats: &'a [FPoint],
    pub(crate) hists: &'a [HPoint],
    /// Start times of `floats` (empty, or as long as `floats`).
    pub(crate) float_sts: &'a [i64],
    /// Start times of `hists` (empty, or as long as `hists`).
    pub(crate) hist_sts: &'a [i64],
    /// Index of `floats[0]` in the series' float samples, to find per-series facts
    /// computed once (the counter resets of `rate`) that fall in this window.
    pub(crate) float_off: usize,
}

pub(crate) struct Evaluator<'a> {
    pub(crate) store: &'a dyn Queryable,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) interval: i64,
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    pub(crate) query_step: i64,
    pub(crate) lookback: i64,
    pub(crate) max_samples: usize,
    pub(crate) current_samples: usize,
    pub(crate) delayed: bool,
    pub(crate) no_step_subquery_interval: i64,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) annos: Annotations,
    pub(crate) ticks: u32,
    /// Selectors below `histogram_count`/`_sum`/`_avg` read histograms the way
    /// Prometheus's `HistogramStatsIterator` does: unknown counter-reset hints are
    /// replaced by on-the-fly reset detection.
    pub(crate) stats_decoding: bool,
    /// Whether samples' start times are read (the `start_timestamps` option).
    pub(crate) use_st: bool,
    /// Threads a selection may use (see `par.rs`); 1 in helper threads.
    pub(crate) threads: usize,
    /// Samples a selection reads alone before it shares its series.
    pub(crate) parallel_min_samples: usize,
    /// The highest `current_samples` since it was last reset (see `par.rs`).
    pub(crate) peak_samples: usize,
    /// The samples the selectors read, for the query's statistics.
    pub(crate) counts: SampleCounts,
    /// What the last subquery evaluated read (see [`Self::subquery_eval`]).
    pub(crate) subquery_read: i64,
}

/// Per-step state of [`Evaluator::range_eval`]: where each input series' cursor is.
struct Gather {
    fi: Vec<usize>,
    hi: Vec<usize>,
}

impl Gather {
    fn new(m: &Matrix) -> Gather {
        Gather {
            fi: vec![0; m.len()],
            hi: vec![0; m.len()],
        }
    }

    /// The samples of `m` at `ts` (and the index of each sample's series in `m`).
    ///
    /// `out` and `idx` hold the previous step's samples: a series present at both steps
    /// usually keeps its place, and its sample is then updated in place rather than
    /// rebuilt, which saves a label-set clone and drop (two atomic operations) per
    /// series per step.
    fn at(&mut self, m: &Matrix, ts: i64, out: &mut Vector, idx: &mut Vec<usize>) {
        let mut k = 0;
        for (i, s) in m.iter().enumerate() {
            let (f, h) = if let Some(p) = s.floats.get(self.fi[i])
                && p.t == ts
            {
                self.fi[i] += 1;
                (p.f, None)
            } else if let Some(p) = s.histograms.get(self.hi[i])
                && p.t == ts
            {
                self.hi[i] += 1;
                (0.0, Some(p.h.clone()))
            } else {
                continue;
            };
            if k < out.len() && idx[k] == i {
                let o = &mut out[k];
                o.t = ts;
                o.f = f;
                o.h = h;
            } else {
                let sample = Sample {
                    metric: s.metric.clone(),
                    t: ts,
                    f,
                    h,
                    drop_name: s.drop_name,
                };
                if k < out.len() {
                    out[k] = sample;
                    idx[k] = i;
                } else {
                    out.push(sample);
                    idx.push(i);
                }
            }
            k += 1;
        }
        out.truncate(k);
        idx.truncate(k);
    }
}

/// The per-step context handed to functions and operators.
pub(crate) struct StepCtx<'e> {
    pub(crate) ts: i64,
    pub(crate) delayed: bool,
    pub(crate) annos: &'e mut Annotations,
    /// For each argument, the index of each sample's series in the argument's matrix.
    pub(crate) series_idx: &'e [Vec<usize>],
}

impl StepCtx<'_> {
    /// Marks `s` to lose its metric name, now or (delayed) at the end of the query.
    pub(crate) fn drop_name(&self, s: &mut Sample) {
        if self.delayed {
            s.drop_name = true;
        } else {
            s.metric = s.metric.retain(crate::engine::keep_label);
        }
    }
}

impl<'a> Evaluator<'a> {
    pub(crate) fn steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1) as usize
    }

    pub(crate) fn check_time(&mut self) -> Result<(), EvalError> {
        if let Some(c) = &self.cancel
            && c.is_cancelled()
        {
            return Err(EvalError::Canceled("expression evaluation"));
        }
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(EvalError::Timeout("expression evaluation"));
        }
        Ok(())
    }

    /// A cheaper [`Self::check_time`] for hot loops: looks at the clock every 256 calls.
    pub(crate) fn tick(&mut self) -> Result<(), EvalError> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(256) {
            self.check_time()
        } else {
            Ok(())
        }
    }

    pub(crate) fn add_samples(&mut self, n: usize) -> Result<(), EvalError> {
        self.current_samples += n;
        self.peak_samples = self.peak_samples.max(self.current_samples);
        if self.current_samples > self.max_samples {
            return Err(EvalError::TooManySamples("query execution"));
        }
        Ok(())
    }

    pub(crate) fn child(&self, start: i64, end: i64, interval: i64) -> Evaluator<'a> {
        Evaluator {
            store: self.store,
            start,
            end,
            interval,
            query_start: self.query_start,
            query_end: self.query_end,
            query_step: self.query_step,
            lookback: self.lookback,
            max_samples: self.max_samples,
            current_samples: self.current_samples,
            delayed: self.delayed,
            no_step_subquery_interval: self.no_step_subquery_interval,
            deadline: self.deadline,
            cancel: self.cancel.clone(),
            annos: Annotations::default(),
            ticks: 0,
            stats_decoding: false,
            use_st: self.use_st,
            threads: self.threads,
            parallel_min_samples: self.parallel_min_samples,
            peak_samples: self.current_samples,
            // On its own grid of steps: totals only.
            counts: SampleCounts::default(),
            subquery_read: 0,
        }
    }

    /// The query's statistics once it is evaluated: the samples counted on the grid
    /// of steps from `start`, and the most samples held.
    fn stats(&mut self, start: i64, timings: QueryTimings) -> QueryStats {
        let counts = std::mem::take(&mut self.counts);
        let interval = self.interval;
        QueryStats {
            total_queryable_samples: counts.total,
            peak_samples: self.peak_samples,
            per_step: counts.per_step.map(|p| {
                (0i64..)
                    .zip(p)
                    .map(|(i, n)| (start + i * interval, n))
                    .collect()
            }),
            timings,
        }
    }

    /// Counts the points of `s`, an instant selector's output, as the samples it read:
    /// one at each step where it found one.
    pub(crate) fn count_selected(&mut self, s: &Series) {
        if self.counts.per_step.is_none() {
            self.counts.total += (s.floats.len() + s.histograms.len()) as i64;
            return;
        }
        let (start, interval) = (self.start, self.interval);
        for t in s
            .floats
            .iter()
            .map(|p| p.t)
            .chain(s.histograms.iter().map(|p| p.t))
        {
            self.counts.add(
                usize::try_from((t - start) / interval).unwrap_or(usize::MAX),
                1,
            );
        }
    }

    pub(crate) fn eval_matrix(&mut self, e: &Expr) -> Result<Matrix, EvalError> {
        match self.eval(e)? {
            Val::Matrix(m) => Ok(m),
            Val::String(_) => Err(EvalError::msg("unexpected string value")),
        }
    }

    pub(crate) fn eval(&mut self, e: &Expr) -> Result<Val, EvalError> {
        self.check_time()?;
        if self.end < self.start {
            return Ok(Val::Matrix(Vec::new()));
        }
        match e {
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::String(s) => Ok(Val::String(s.value.clone())),
            Expr::Number(n) => {
                let v = n.value;
                Ok(Val::Matrix(self.scalar_series(|_| v)))
            }
            Expr::Unary(u) => {
                let mut m = self.eval_matrix(&u.expr)?;
                if u.op == UnaryOp::Minus {
                    for s in &mut m {
                        if !s.metric.is_empty() {
                            if self.delayed {
                                s.drop_name = true;
                            } else {
                                s.metric = s.metric.retain(crate::engine::keep_label);
                            }
                        }
                        for p in &mut s.floats {
                            p.f = -p.f;
                        }
                        for p in &mut s.histograms {
                            p.h = Arc::new(crate::hist::scale(&p.h, -1.0));
                        }
                    }
                    if !self.delayed {
                        m = merge_same_labelset(m)?;
                    }
                }
                Ok(Val::Matrix(m))
            }
            Expr::VectorSelector(vs) => Ok(Val::Matrix(self.vector_selector(vs, Pick::Value)?)),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(self.matrix_selector_instant(ms)?)),
            Expr::Subquery(sq) => {
                let (m, _) = self.subquery_instant(sq)?;
                Ok(Val::Matrix(m))
            }
            Expr::Binary(b) => Ok(Val::Matrix(crate::binop::eval_binary(self, b)?)),
            Expr::Aggregate(a) => Ok(Val::Matrix(crate::aggr::eval_aggregate(self, a)?)),
            Expr::Call(c) => Ok(Val::Matrix(crate::funcs::eval_call(self, c)?)),
        }
    }

    /// A scalar: one series without labels with `f(ts)` at every step.
    pub(crate) fn scalar_series(&self, f: impl Fn(i64) -> f64) -> Matrix {
        let mut floats = Vec::with_capacity(self.steps());
        let mut ts = self.start;
        while ts <= self.end {
            floats.push(FPoint { t: ts, f: f(ts) });
            ts += self.interval;
        }
        vec![Series {
            metric: Labels::empty(),
            floats,
            histograms: Vec::new(),
            drop_name: false,
        }]
    }

    /// Evaluates a scalar argument to one value per step.
    pub(crate) fn eval_scalar_steps(&mut self, e: &Expr) -> Result<Vec<f64>, EvalError> {
        let m = self.eval_matrix(e)?;
        let n = self.steps();
        let mut out = vec![f64::NAN; n];
        if let Some(s) = m.first() {
            for p in &s.floats {
                let i = ((p.t - self.start) / self.interval) as usize;
                if i < n {
                    out[i] = p.f;
                }
            }
        }
        Ok(out)
    }

    /// Resolves an `@` modifier to milliseconds.
    pub(crate) fn at_time(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    /// Resolves a duration (fixed or an experimental expression) to milliseconds.
    pub(crate) fn duration(&self, d: &DurationValue) -> Result<i64, EvalError> {
        match d {
            DurationValue::Fixed(ms) => Ok(*ms),
            DurationValue::Expr(e) => {
                let secs = self.duration_expr(e)?;
                if secs.is_nan() || secs.is_infinite() {
                    return Err(EvalError::msg(format!("invalid duration: {}", {
                        let mut t = String::new();
                        let _ = crate::go::write_float(&mut t, secs);
                        t
                    })));
                }
                Ok((secs * 1000.0).round() as i64)
            }
        }
    }

    fn duration_expr(&self, e: &DurationExpr) -> Result<f64, EvalError> {
        Ok(match e {
            DurationExpr::Number(n) => n.value,
            DurationExpr::Negate { expr, .. } => -self.duration_expr(expr)?,
            DurationExpr::Paren { expr, .. } => self.duration_expr(expr)?,
            DurationExpr::Step(_) => self.query_step as f64 / 1000.0,
            DurationExpr::Range(_) => (self.query_end - self.query_start) as f64 / 1000.0,
            DurationExpr::MinOf { lhs, rhs, .. } => {
                self.duration_expr(lhs)?.min(self.duration_expr(rhs)?)
            }
            DurationExpr::MaxOf { lhs, rhs, .. } => {
                self.duration_expr(lhs)?.max(self.duration_expr(rhs)?)
            }
            DurationExpr::Binary { op, lhs, rhs } => {
                let (a, b) = (self.duration_expr(lhs)?, self.duration_expr(rhs)?);
                match op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    BinaryOp::Div => {
                        if b == 0.0 {
                            return Err(EvalError::msg("division by zero"));
                        }
                        a / b
                    }
                    BinaryOp::Mod => {
                        if b == 0.0 {
                            return Err(EvalError::msg("modulo by zero"));
                        }
                        a % b
                    }
                    BinaryOp::Pow => a.powf(b),
                    _ => return Err(EvalError::msg("unexpected duration operator")),
                }
            }
        })
    }

    /// The store's querier over `[mint, maxt]`; a failure to open it is a storage error.
    pub(crate) fn querier(
        &self,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn promlite_storage::Querier + 'a>, EvalError> {
        self.store
            .querier(mint, maxt)
            .map_err(|e| EvalError::Storage(e.to_string()))
    }

    /// Reads every series matching `matchers` with samples in `[mint, maxt]`, dropping
    /// staleness markers when `drop_stale` (range selectors never see them).
    pub(crate) fn select(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        drop_stale: bool,
        mut each: impl FnMut(&mut Self, Loaded) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let q = self.querier(mint, maxt)?;
        let mut set = q.select(true, Some(hints), matchers);
        // Series of one selection usually hold about as many samples as each other, so
        // the last one's count sizes the next buffer and saves its regrowth copies.
        let mut expect = 0;
        for series in set.by_ref() {
            self.tick()?;
            let series = series.map_err(|e| EvalError::Storage(e.to_string()))?;
            let Some(loaded) = self.load(&*series, mint, maxt, drop_stale, &mut expect)? else {
                continue;
            };
            each(self, loaded)?;
        }
        // A secondary store that failed (remote read) leaves a warning, not an error.
        for w in set.warnings() {
            self.annos.storage(w);
        }
        Ok(())
    }

    /// Reads one series' samples in `[mint, maxt]` (see [`Self::select`]); `None` when it
    /// has none there. `expect` carries the previous series' sample count as the size
    /// of the next buffer.
    pub(crate) fn load(
        &mut self,
        series: &dyn promlite_storage::Series,
        mint: i64,
        maxt: i64,
        drop_stale: bool,
        expect: &mut usize,
    ) -> Result<Option<Loaded>, EvalError> {
        let mut it = series.samples();
        let mut floats = Vec::with_capacity(*expect);
        let mut hists = Vec::new();
        let mut sts = Sts::default();
        let mut any_st = false;
        let mut vt = it.seek(mint);
        loop {
            match vt {
                StoreType::None => break,
                StoreType::Float if !self.use_st => {
                    let from = floats.len();
                    vt = it.read_floats(maxt, &mut floats);
                    if drop_stale {
                        drop_stale_markers(&mut floats, from);
                    }
                    if vt == StoreType::Float {
                        // Stopped at a sample after `maxt`.
                        break;
                    }
                    continue;
                }
                StoreType::Float => {
                    let (t, f) = it.at();
                    if t > maxt {
                        break;
                    }
                    if !(drop_stale && is_stale_nan(f)) {
                        floats.push(FPoint { t, f });
                        if self.use_st {
                            let st = it.at_st();
                            any_st |= st != 0;
                            sts.floats.push(st);
                        }
                    }
                }
                StoreType::Histogram | StoreType::FloatHistogram => {
                    let (t, h) = it.at_float_histogram();
                    if t > maxt {
                        break;
                    }
                    if !(drop_stale && is_stale_nan(h.sum)) {
                        hists.push(HPoint {
                            t,
                            h: Arc::new(h.into_owned()),
                        });
                        if self.use_st {
                            let st = it.at_st();
                            any_st |= st != 0;
                            sts.hists.push(st);
                        }
                    }
                }
            }
            vt = it.next();
        }
        if !any_st {
            sts = Sts::default();
        }
        if let Some(e) = it.err() {
            return Err(EvalError::Storage(e.to_string()));
        }
        *expect = floats.len();
        if floats.is_empty() && hists.is_empty() {
            return Ok(None);
        }
        if self.stats_decoding {
            for i in 1..hists.len() {
                if hists[i].h.counter_reset_hint == promlite_model::CounterResetHint::Unknown
                    && !is_stale_nan(hists[i].h.sum)
                    && !is_stale_nan(hists[i - 1].h.sum)
                {
                    let reset = crate::hist::detect_reset(&hists[i].h, &hists[i - 1].h);
                    let mut h = (*hists[i].h).clone();
                    h.counter_reset_hint = if reset {
                        promlite_model::CounterResetHint::CounterReset
                    } else {
                        promlite_model::CounterResetHint::NotCounterReset
                    };
                    hists[i].h = Arc::new(h);
                }
            }
        }
        let loaded = Loaded {
            metric: series.labels().clone(),
            floats,
            hists,
            sts,
            drop_name: false,
        };
        Ok(Some(loaded))
    }

    /// Evaluates an instant selector at every step; `pick` says which part of the sample
    /// found becomes each point's value.
    pub(crate) fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        pick: Pick,
    ) -> Result<Matrix, EvalError> {
        let orig_t = pick != Pick::Value;
        if vs.smoothed && !orig_t {
            return self.smoothed_selector(vs);
        }
        let offset = self.duration(&vs.offset)?;
        let at = self.at_time(vs.at);
        let (first_ref, last_ref) = match at {
            Some(t) => (t - offset, t - offset),
            None => (self.start - offset, self.end - offset),
        };
        let hints = SelectHints {
            start: first_ref - self.lookback + 1,
            end: last_ref,
            step: if self.start == self.end {
                0
            } else {
                self.interval
            },
            func: None,
            range: 0,
        };
        if (at.is_some() || self.start == self.end)
            && pick != Pick::StartTimestamp
            && !self.stats_decoding
        {
            return self.instant_selector(vs, first_ref, &hints, pick);
        }
        let (start, end, interval, lookback) = (self.start, self.end, self.interval, self.lookback);
        let steps = self.steps();
        self.select_map(
            &vs.matchers,
            first_ref - lookback + 1,
            last_ref,
            &hints,
            false,
            &|ev: &mut Evaluator<'a>, l: Loaded| {
                // At most one point per step, and usually one per step: sized once
                // rather than grown by doubling (capped like `push_sample`).
                let points = steps.min(1024);
                let mut s = Series {
                    metric: l.metric,
                    floats: if l.floats.is_empty() && !orig_t {
                        Vec::new()
                    } else {
                        Vec::with_capacity(points)
                    },
                    ..Series::default()
                };
                let (mut fi, mut hi) = (0usize, 0usize);
                let mut ts = start;
                while ts <= end {
                    let r = match at {
                        Some(t) => t - offset,
                        None => ts - offset,
                    };
                    while fi < l.floats.len() && l.floats[fi].t <= r {
                        fi += 1;
                    }
                    while hi < l.hists.len() && l.hists[hi].t <= r {
                        hi += 1;
                    }
                    let f = fi.checked_sub(1).map(|i| l.floats[i]);
                    let h = hi.checked_sub(1).map(|i| &l.hists[i]);
                    let pick_hist = match (f, h) {
                        (Some(f), Some(h)) => h.t > f.t,
                        (None, Some(_)) => true,
                        _ => false,
                    };
                    let time_of = |t: i64, sts: &[i64], i: usize| match pick {
                        Pick::StartTimestamp => crate::funcs::st_at(sts, i) as f64 / 1000.0,
                        _ => t as f64 / 1000.0,
                    };
                    if pick_hist {
                        if let Some(h) = h
                            && h.t > r - lookback
                            && !is_stale_nan(h.h.sum)
                        {
                            if orig_t {
                                s.floats.push(FPoint {
                                    t: ts,
                                    f: time_of(h.t, &l.sts.hists, hi - 1),
                                });
                            } else {
                                s.histograms.push(HPoint {
                                    t: ts,
                                    h: h.h.clone(),
                                });
                            }
                        }
                    } else if let Some(f) = f
                        && f.t > r - lookback
                        && !is_stale_nan(f.f)
                    {
                        s.floats.push(FPoint {
                            t: ts,
                            f: if orig_t {
                                time_of(f.t, &l.sts.floats, fi - 1)
                            } else {
                                f.f
                            },
                        });
                    }
                    ts += interval;
                }
                if s.is_empty() {
                    return Ok(None);
                }
                ev.count_selected(&s);
                ev.add_samples(s.len())?;
                Ok(Some(s))
            },
        )
    }

    /// [`Self::vector_selector`] where every step looks up the same time `r` (an instant
    /// query, or an `@` modifier): only the newest sample of each series' window
    /// `(r - lookback, r]` matters, so it is read alone
    /// ([`promlite_storage::SampleIterator::last_in`]) instead of loading the window.
    /// A staleness marker there means no value, as in the general path.
    fn instant_selector(
        &mut self,
        vs: &VectorSelector,
        r: i64,
        hints: &SelectHints,
        pick: Pick,
    ) -> Result<Matrix, EvalError> {
        let (mint, maxt) = (r - self.lookback + 1, r);
        let (start, interval, steps) = (self.start, self.interval, self.steps());
        let q = self.querier(mint, maxt)?;
        let mut set = q.select(true, Some(hints), &vs.matchers);
        let mut out = Vec::new();
        for series in set.by_ref() {
            self.tick()?;
            let series = series.map_err(|e| EvalError::Storage(e.to_string()))?;
            let last = series
                .last_in(mint, maxt)
                .map_err(|e| EvalError::Storage(e.to_string()))?;
            let step_ts = (0..steps).map(|i| start + i as i64 * interval);
            let mut s = Series {
                metric: series.labels().clone(),
                ..Series::default()
            };
            match last {
                Some(LastSample::Float(p)) if !is_stale_nan(p.f) => {
                    let f = if pick == Pick::Timestamp {
                        p.t as f64 / 1000.0
                    } else {
                        p.f
                    };
                    s.floats = step_ts.map(|t| FPoint { t, f }).collect();
                }
                Some(LastSample::Histogram(t, h)) if !is_stale_nan(h.sum) => {
                    if pick == Pick::Timestamp {
                        let f = t as f64 / 1000.0;
                        s.floats = step_ts.map(|t| FPoint { t, f }).collect();
                    } else {
                        s.histograms = step_ts.map(|t| HPoint { t, h: h.clone() }).collect();
                    }
                }
                _ => continue,
            }
            self.count_selected(&s);
            self.add_samples(s.len())?;
            out.push(s);
        }
        for w in set.warnings() {
            self.annos.storage(w);
        }
        Ok(out)
    }

    /// An instant selector with the `smoothed` modifier: at each step, the value
    /// interpolated between the samples around the step time, looking one lookback delta
    /// to either side (Prometheus's `smoothSeries`). Staleness markers are skipped, as
    /// in range selectors, because the value is interpolated rather than looked up.
    fn smoothed_selector(&mut self, vs: &VectorSelector) -> Result<Matrix, EvalError> {
        let offset = self.duration(&vs.offset)?;
        let at = self.at_time(vs.at);
        let refs = step_refs(self.start, self.end, self.interval, at, offset);
        let (first_ref, last_ref) = (refs[0], refs[refs.len() - 1]);
        let lookback = self.lookback;
        let hints = SelectHints {
            start: first_ref - lookback + 1,
            end: last_ref + lookback,
            step: if self.start == self.end {
                0
            } else {
                self.interval
            },
            func: None,
            range: 0,
        };
        let mut out = Vec::new();
        let (start, interval) = (self.start, self.interval);
        self.select(
            &vs.matchers,
            first_ref - lookback + 1,
            last_ref + lookback,
            &hints,
            true,
            |ev, l| {
                let mut s = Series {
                    metric: l.metric.clone(),
                    ..Series::default()
                };
                let name = l.metric.metric_name().unwrap_or("");
                let windows = windows_around(&l, &refs, lookback, lookback);
                for (step, w) in windows.iter().enumerate() {
                    let ts = start + step as i64 * interval;
                    match crate::extended::smoothed_at(
                        w.floats,
                        w.hists,
                        refs[step],
                        &mut ev.annos,
                        vs.span,
                        name,
                    ) {
                        crate::extended::Smoothed::None => {}
                        crate::extended::Smoothed::Float(f) => s.floats.push(FPoint { t: ts, f }),
                        crate::extended::Smoothed::Hist(h) => {
                            s.histograms.push(HPoint { t: ts, h });
                        }
                    }
                }
                if !s.is_empty() {
                    ev.count_selected(&s);
                    ev.add_samples(s.len())?;
                    out.push(s);
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// A range selector evaluated at an instant query's time: its raw samples.
    fn matrix_selector_instant(&mut self, ms: &MatrixSelector) -> Result<Matrix, EvalError> {
        let mut out = Vec::new();
        let ts = self.start;
        let vs = &ms.selector;
        let extended = vs.anchored || vs.smoothed;
        let modifier = if vs.anchored { "anchored" } else { "smoothed" };
        let end = self.at_time(vs.at).unwrap_or(ts) - self.duration(&vs.offset)?;
        let start = end - self.duration(&ms.range)?;
        self.range_windows(ms, false, |ev, l, windows| {
            if let Some(w) = windows.first() {
                let floats = if extended {
                    if !w.hists.is_empty() {
                        return Err(EvalError::msg(format!(
                            "{modifier} modifier is not supported with histograms"
                        )));
                    }
                    crate::extended::extend_floats(w.floats, start, end, vs.smoothed)
                } else {
                    w.floats.to_vec()
                };
                let s = Series {
                    metric: l.metric.clone(),
                    floats,
                    histograms: w.hists.to_vec(),
                    drop_name: false,
                };
                if !s.is_empty() {
                    // Every sample of the window, at the query's one step.
                    ev.counts.add(0, s.len());
                    ev.add_samples(s.len())?;
                    out.push(s);
                }
            }
            let _ = ts;
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams the series of a range selector; for each, calls `each` with its samples
    /// and the window of every step (empty windows included, one per step).
    pub(crate) fn range_windows(
        &mut self,
        ms: &MatrixSelector,
        for_rate: bool,
        mut each: impl FnMut(&mut Self, &Loaded, &[Window<'_>]) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let (mint, maxt, hints, refs, before, after) = self.range_bounds(ms, for_rate)?;
        self.select(&ms.selector.matchers, mint, maxt, &hints, true, |ev, l| {
            let windows = windows_around(&l, &refs, before, after);
            each(ev, &l, &windows)
        })
    }

    /// What a range selector reads: the first and last sample time, the storage hints,
    /// the reference time of every step, and how far each step's window reaches back
    /// and forward from it.
    // A one-use tuple, unpacked at once by both callers.
    #[allow(clippy::type_complexity)]
    fn range_bounds(
        &self,
        ms: &MatrixSelector,
        for_rate: bool,
    ) -> Result<(i64, i64, SelectHints, Vec<i64>, i64, i64), EvalError> {
        let vs = &ms.selector;
        let offset = self.duration(&vs.offset)?;
        let range = self.duration(&ms.range)?;
        let at = self.at_time(vs.at);
        let (first_ref, last_ref) = match at {
            Some(t) => (t - offset, t - offset),
            None => (self.start - offset, self.end - offset),
        };
        // `anchored` and `smoothed` read past the window; the functions cut it back.
        let (before, after) = crate::extended::read_bounds(vs, range, self.lookback);
        let hints = SelectHints {
            start: first_ref - before + 1,
            end: last_ref + after,
            step: if self.start == self.end {
                0
            } else {
                self.interval
            },
            func: for_rate.then(|| "rate".to_owned()),
            range,
        };
        let refs = step_refs(self.start, self.end, self.interval, at, offset);
        Ok((
            first_ref - before + 1,
            last_ref + after,
            hints,
            refs,
            before,
            after,
        ))
    }

    /// [`Self::range_windows`] for work that keeps one value per series, on several
    /// threads for large selections (see `par.rs`): the values come back in selection
    /// order.
    pub(crate) fn range_windows_map<T: Send>(
        &mut self,
        ms: &MatrixSelector,
        for_rate: bool,
        work: &(impl Fn(&mut Self, &Loaded, Windows<'_, '_>) -> Result<Option<T>, EvalError> + Sync),
    ) -> Result<Vec<T>, EvalError> {
        let (mint, maxt, hints, refs, before, after) = self.range_bounds(ms, for_rate)?;
        self.select_map(
            &ms.selector.matchers,
            mint,
            maxt,
            &hints,
            true,
            &|ev: &mut Self, l: Loaded| {
                let windows = Windows::new(&l, &refs, before, after);
                work(ev, &l, windows)
            },
        )
    }

    /// Evaluates a subquery: the inner expression over the subquery's own steps, for the
    /// reference times of this evaluator. Returns the series and the subquery's range.
    pub(crate) fn subquery_eval(&mut self, sq: &SubqueryExpr) -> Result<(Matrix, i64), EvalError> {
        let offset = self.duration(&sq.offset)?;
        let range = self.duration(&sq.range)?;
        let step = match self.duration(&sq.step)? {
            0 => self.no_step_subquery_interval,
            s => s,
        };
        let at = self.at_time(sq.at);
        let (ref_start, ref_end) = match at {
            Some(t) => (t, t),
            None => {
                let aligned_end =
                    self.start + ((self.end - self.start) / self.interval) * self.interval;
                (self.start, aligned_end)
            }
        };
        let lower = ref_start - offset - range;
        // Subquery steps are aligned to absolute multiples of the step (Prometheus does so
        // that results do not depend on the outer query's start time).
        let mut sub_start = step * lower.div_euclid(step);
        if sub_start <= lower {
            sub_start += step;
        }
        let sub_end = ref_end - offset;
        let mut child = self.child(sub_start, sub_end, step);
        let mut m = child.eval_matrix(&sq.expr)?;
        self.current_samples = child.current_samples;
        self.peak_samples = self.peak_samples.max(child.peak_samples);
        // What the subquery read: counted by the caller only when the subquery stands
        // alone (see `subquery_instant`); a function over it counts its output points.
        self.subquery_read = child.counts.total;
        self.annos.merge(std::mem::take(&mut child.annos));
        for s in &mut m {
            for p in &mut s.histograms {
                use promlite_model::CounterResetHint as H;
                // Prometheus forgets explicit counter-reset hints of subquery results:
                // a subquery may skip or repeat the sample that carried them.
                if matches!(p.h.counter_reset_hint, H::CounterReset | H::NotCounterReset) {
                    let mut h = (*p.h).clone();
                    h.counter_reset_hint = H::Unknown;
                    p.h = Arc::new(h);
                }
            }
        }
        Ok((m, range))
    }

    /// A subquery at the top of an instant query (or under `@`-free nodes that need a
    /// matrix): its points within the window.
    fn subquery_instant(&mut self, sq: &SubqueryExpr) -> Result<(Matrix, i64), EvalError> {
        let (m, range) = self.subquery_eval(sq)?;
        // Prometheus adds all a bare subquery read at the query's last step.
        let last = usize::try_from((self.end - self.start) / self.interval).unwrap_or(0);
        self.counts
            .add(last, usize::try_from(self.subquery_read).unwrap_or(0));
        let offset = self.duration(&sq.offset)?;
        let at = self.at_time(sq.at);
        let r = at.unwrap_or(self.start) - offset;
        let mut out = Vec::with_capacity(m.len());
        for mut s in m {
            s.floats.retain(|p| p.t > r - range && p.t <= r);
            s.histograms.retain(|p| p.t > r - range && p.t <= r);
            if !s.is_empty() {
                out.push(s);
            }
        }
        Ok((out, range))
    }

    /// The generic per-step evaluation of an operator or function over instant-vector
    /// and scalar arguments (Prometheus's `rangeEval`). `f` gets the arguments' samples
    /// at each step and returns the output samples of that step.
    pub(crate) fn range_eval(
        &mut self,
        args: &[Matrix],
        mut f: impl FnMut(&[Vector], &mut StepCtx<'_>) -> Result<Vector, EvalError>,
    ) -> Result<Matrix, EvalError> {
        let steps = self.steps();
        let mut gathers: Vec<Gather> = args.iter().map(Gather::new).collect();
        let mut vectors: Vec<Vector> = args.iter().map(|m| Vec::with_capacity(m.len())).collect();
        let mut idx: Vec<Vec<usize>> = args.iter().map(|_| Vec::new()).collect();
        let instant = self.start == self.end;
        let mut out: Matrix = Vec::new();
        // Output series by labels, the step each last got a point, and for the k-th
        // result of the previous step its output series: results usually come in the same
        // order every step, so comparing with that series' labels skips most lookups.
        let mut by_labels: HashMap<Labels, usize> = HashMap::new();
        let mut last_ts: Vec<i64> = Vec::new();
        let mut guess: Vec<usize> = Vec::new();
        let mut ts = self.start;
        let mut annos = std::mem::take(&mut self.annos);
        while ts <= self.end {
            self.tick()?;
            for (i, m) in args.iter().enumerate() {
                gathers[i].at(m, ts, &mut vectors[i], &mut idx[i]);
            }
            let mut ctx = StepCtx {
                ts,
                delayed: self.delayed,
                annos: &mut annos,
                series_idx: &idx,
            };
            let result = match f(&vectors, &mut ctx) {
                Ok(r) => r,
                Err(e) => {
                    self.annos = annos;
                    return Err(e);
                }
            };
            if instant {
                if !self.delayed && contains_same_labelset(&result) {
                    self.annos = annos;
                    return Err(EvalError::same_labelset());
                }
                self.annos = annos;
                let n = result.len();
                let mat = result
                    .into_iter()
                    .map(|s| {
                        let mut ser = Series {
                            metric: s.metric,
                            drop_name: s.drop_name,
                            ..Series::default()
                        };
                        match s.h {
                            Some(h) => ser.histograms.push(HPoint { t: ts, h }),
                            None => ser.floats.push(FPoint { t: ts, f: s.f }),
                        }
                        ser
                    })
                    .collect();
                self.add_samples(n)?;
                return Ok(mat);
            }
            if let Err(e) = self.add_samples(result.len()) {
                self.annos = annos;
                return Err(e);
            }
            for (k, s) in result.into_iter().enumerate() {
                let found = match guess.get(k) {
                    Some(&g) if out[g].metric == s.metric => Some(g),
                    _ => by_labels.get(&s.metric).copied(),
                };
                let i = match found {
                    Some(i) => {
                        if last_ts[i] == ts {
                            self.annos = annos;
                            return Err(EvalError::same_labelset());
                        }
                        last_ts[i] = ts;
                        push_sample(&mut out[i], ts, s.f, s.h, steps);
                        i
                    }
                    None => {
                        by_labels.insert(s.metric.clone(), out.len());
                        last_ts.push(ts);
                        let mut ser = Series {
                            metric: s.metric,
                            drop_name: s.drop_name,
                            ..Series::default()
                        };
                        push_sample(&mut ser, ts, s.f, s.h, steps);
                        out.push(ser);
                        out.len() - 1
                    }
                };
                match guess.get_mut(k) {
                    Some(g) => *g = i,
                    None => guess.push(i),
                }
            }
            ts += self.interval;
        }
        self.annos = annos;
        Ok(out)
    }

    fn cleanup_matrix(&mut self, mut mat: Matrix) -> Result<Matrix, EvalError> {
        if !self.delayed {
            return Ok(mat);
        }
        for s in &mut mat {
            if s.drop_name {
                s.metric = s.metric.retain(crate::engine::keep_label);
                s.drop_name = false;
            }
        }
        merge_same_labelset(mat)
    }

    fn cleanup_vector(&mut self, mut vec: Vector) -> Result<Vector, EvalError> {
        if !self.delayed {
            return Ok(vec);
        }
        for s in &mut vec {
            if s.drop_name {
                s.metric = s.metric.retain(crate::engine::keep_label);
                s.drop_name = false;
            }
        }
        if contains_same_labelset(&vec) {
            return Err(EvalError::same_labelset());
        }
        Ok(vec)
    }
}

#[inline]
pub(crate) fn push_sample(
    s: &mut Series,
    ts: i64,
    f: f64,
    h: Option<Arc<FloatHistogram>>,
    steps: usize,
) {
    match h {
        Some(h) => {
            if s.histograms.capacity() == 0 {
                s.histograms.reserve(steps.min(1024));
            }
            s.histograms.push(HPoint { t: ts, h });
        }
        None => push_float(s, ts, f, steps),
    }
}

/// [`push_sample`] of a float: small enough to inline into the per-step loops of range
/// functions, where the whole `push_sample` stayed a call (about 28 instructions per
/// sample, callgrind).
#[inline]
pub(crate) fn push_float(s: &mut Series, ts: i64, f: f64, steps: usize) {
    if s.floats.capacity() == 0 {
        s.floats.reserve(steps.min(1024));
    }
    s.floats.push(FPoint { t: ts, f });
}

/// The reference time (window end) of every step.
pub(crate) fn step_refs(
    start: i64,
    end: i64,
    interval: i64,
    at: Option<i64>,
    offset: i64,
) -> Vec<i64> {
    let mut refs = Vec::with_capacity(((end - start) / interval + 1) as usize);
    let mut ts = start;
    while ts <= end {
        refs.push(at.unwrap_or(ts) - offset);
        ts += interval;
    }
    refs
}

/// The left-open windows `(r - before, r + after]` of a series for each reference time
/// (`after` is non-zero only for `smoothed` selectors, which read past the window).
pub(crate) fn windows_around<'l>(
    l: &'l Loaded,
    refs: &[i64],
    before: i64,
    after: i64,
) -> Vec<Window<'l>> {
    Windows::new(l, refs, before, after).collect()
}

/// [`windows_around`] one window at a time: range functions walk a series' windows once,
/// in step order, so they need not be stored (1,000 steps are 64 KB per series).
pub(crate) struct Windows<'l, 'r> {
    l: &'l Loaded,
    refs: std::slice::Iter<'r, i64>,
    before: i64,
    after: i64,
    flo: usize,
    fhi: usize,
    hlo: usize,
    hhi: usize,
    flo_step: usize,
    fhi_step: usize,
    prev: i64,
}

impl<'l, 'r> Windows<'l, 'r> {
    pub(crate) fn new(l: &'l Loaded, refs: &'r [i64], before: i64, after: i64) -> Self {
        Windows {
            l,
            refs: refs.iter(),
            before,
            after,
            flo: 0,
            fhi: 0,
            hlo: 0,
            hhi: 0,
            flo_step: 0,
            fhi_step: 0,
            prev: i64::MIN,
        }
    }
}

impl<'l> Windows<'l, '_> {
    /// Moves to the next step and returns the index ranges of its window in the series'
    /// floats and histograms, without building the [`Window`]: callers skip empty steps
    /// and read float-only series without the slices they do not need.
    // `inline(always)`: with plain `#[inline]` it stays a call per step in the range
    // functions' loop (callgrind: about 4 % more instructions for `max_over_time`).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn next_bounds(&mut self) -> Option<(Range<usize>, Range<usize>)> {
        let r = *self.refs.next()?;
        let l = self.l;
        if r < self.prev {
            // Never happens for increasing steps; recompute from scratch to stay correct.
            self.flo = 0;
            self.fhi = 0;
            self.hlo = 0;
            self.hhi = 0;
        }
        self.prev = r;
        let lo = r - self.before;
        let hi = r + self.after;
        self.fhi = advance(&l.floats, self.fhi, l.floats.len(), hi, &mut self.fhi_step);
        self.flo = advance(&l.floats, self.flo, self.fhi, lo, &mut self.flo_step);
        while self.hhi < l.hists.len() && l.hists[self.hhi].t <= hi {
            self.hhi += 1;
        }
        while self.hlo < self.hhi && l.hists[self.hlo].t <= lo {
            self.hlo += 1;
        }
        Some((
            self.flo.min(self.fhi)..self.fhi,
            self.hlo.min(self.hhi)..self.hhi,
        ))
    }

    /// The window of the given ranges (from [`Self::next_bounds`]).
    #[allow(clippy::inline_always)] // See `next_bounds`.
    #[inline(always)]
    pub(crate) fn window(&self, fr: Range<usize>, hr: Range<usize>) -> Window<'l> {
        let l = self.l;
        Window {
            float_off: fr.start,
            metric: &l.metric,
            float_sts: if l.sts.floats.is_empty() {
                &[]
            } else {
                &l.sts.floats[fr.clone()]
            },
            hist_sts: if l.sts.hists.is_empty() {
                &[]
            } else {
                &l.sts.hists[hr.clone()]
            },
            floats: &l.floats[fr],
            hists: &l.hists[hr],
        }
    }
}

impl<'l> Iterator for Windows<'l, '_> {
    type Item = Window<'l>;

    #[inline]
    fn next(&mut self) -> Option<Window<'l>> {
        let (fr, hr) = self.next_bounds()?;
        Some(self.window(fr, hr))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.refs.size_hint()
    }
}

/// The first index from `i` (at most `end`) whose point is after `t`, `floats[i..]`
/// being sorted. Regularly spaced samples move each window edge by the same count at
/// every step, so the previous step's count (`step`) is tried first and confirmed with
/// two comparisons; the one-by-one scan it replaces ended each step on a mispredicted
/// branch.
#[inline]
fn advance(floats: &[FPoint], i: usize, end: usize, t: i64, step: &mut usize) -> usize {
    let guess = i + *step;
    if guess <= end
        && (guess == i || floats[guess - 1].t <= t)
        && (guess == end || floats[guess].t > t)
    {
        return guess;
    }
    let mut j = i;
    while j < end && floats[j].t <= t {
        j += 1;
    }
    *step = j - i;
    j
}

/// The index of the first staleness marker in `floats`. Most series have none, so blocks
/// of samples are first checked with a branch-free fold (which the compiler vectorizes)
/// and only a block with a marker is searched one by one: about half the instructions
/// per sample of the plain search (callgrind), which every selected sample goes through.
fn first_stale_marker(floats: &[FPoint]) -> Option<usize> {
    /// Samples checked at once.
    const BLOCK: usize = 256;
    for (b, block) in floats.chunks(BLOCK).enumerate() {
        // `|`, not `||`: a branch per sample would keep the fold from being vectorized.
        #[allow(clippy::needless_bitwise_bool)]
        let any = block.iter().fold(false, |any, p| any | is_stale_nan(p.f));
        if any {
            return block
                .iter()
                .position(|p| is_stale_nan(p.f))
                .map(|i| b * BLOCK + i);
        }
    }
    None
}

/// Removes staleness markers from `floats[from..]`.
fn drop_stale_markers(floats: &mut Vec<FPoint>, from: usize) {
    let Some(first) = first_stale_marker(&floats[from..]) else {
        return;
    };
    let mut keep = from + first;
    for i in keep + 1..floats.len() {
        if !is_stale_nan(floats[i].f) {
            floats[keep] = floats[i];
            keep += 1;
        }
    }
    floats.truncate(keep);
}

pub(crate) fn contains_same_labelset(v: &Vector) -> bool {
    if v.len() <= 1 {
        return false;
    }
    if v.len() == 2 {
        return v[0].metric == v[1].metric;
    }
    let mut seen = hashbrown::HashSet::with_capacity(v.len());
    v.iter().any(|s| !seen.insert(&s.metric))
}

/// Joins series whose labels became equal (after a name was dropped) when their points
/// do not overlap; overlapping points are Prometheus's duplicate-labelset error.
pub(crate) fn merge_same_labelset(mat: Matrix) -> Result<Matrix, EvalError> {
    if mat.len() <= 1 {
        return Ok(mat);
    }
    let mut seen = hashbrown::HashSet::with_capacity(mat.len());
    let dup = mat.iter().any(|s| !seen.insert(&s.metric));
    drop(seen);
    if !dup {
        return Ok(mat);
    }
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Matrix = Vec::new();
    for s in mat {
        match index.get(&s.metric) {
            Some(&i) => {
                let base = &mut out[i];
                base.floats.extend(s.floats);
                base.histograms.extend(s.histograms);
                base.floats.sort_by_key(|p| p.t);
                base.histograms.sort_by_key(|p| p.t);
                if base.floats.windows(2).any(|w| w[0].t == w[1].t)
                    || base.histograms.windows(2).any(|w| w[0].t == w[1].t)
                {
                    return Err(EvalError::same_labelset());
                }
            }
            None => {
                index.insert(s.metric.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// The labels `absent()`/`absent_over_time()` return: the equality matchers of the
/// selector, unless a label is matched more than once.
pub(crate) fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => &**vs,
        Expr::MatrixSelector(ms) => &ms.selector,
        _ => return Labels::empty(),
    };
    // Prometheus's historic behaviour: a label matched by equality once is kept, any
    // other matcher on it removes it (so `x{job="a",job="b"}` yields no `job`).
    let mut b = promlite_model::LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in &vs.matchers {
        if m.name() == METRIC_NAME {
            continue;
        }
        if m.match_type() == promlite_model::MatchType::Equal && !has.contains(&m.name()) {
            b.set(m.name(), m.value());
            has.push(m.name());
        } else {
            b.del(m.name());
        }
    }
    b.build()
}

/// Whether a label survives name removal: Prometheus drops the metric name together
/// with the other metadata labels (`__type__`, `__unit__`) of its type-and-unit feature,
/// because a function's result is no longer of the input's type or unit.
pub(crate) fn keep_label(l: promlite_model::Label<'_>) -> bool {
    !matches!(l.name, METRIC_NAME | "__type__" | "__unit__")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dropping staleness markers with the blocked search keeps exactly the other samples
    /// in order, for markers at block edges, in the first and last block, and none.
    #[test]
    fn drop_stale_markers_keeps_the_other_samples() {
        let stale = promlite_model::STALE_NAN;
        for len in [0usize, 1, 2, 255, 256, 257, 600] {
            let cases: [&[usize]; 6] = [
                &[],
                &[0],
                &[len.saturating_sub(1)],
                &[255, 256],
                &[256],
                &[3, 300, 599],
            ];
            for marks in cases {
                for from in [0, 1, 257] {
                    let floats: Vec<FPoint> = (0..len)
                        .map(|i| FPoint {
                            t: i64::try_from(i).unwrap_or(i64::MAX),
                            f: if marks.contains(&i) { stale } else { f64::NAN },
                        })
                        .collect();
                    let from = from.min(len);
                    let want: Vec<i64> = floats
                        .iter()
                        .enumerate()
                        .filter(|&(i, p)| i < from || !is_stale_nan(p.f))
                        .map(|(_, p)| p.t)
                        .collect();
                    let mut got = floats.clone();
                    drop_stale_markers(&mut got, from);
                    let got: Vec<i64> = got.iter().map(|p| p.t).collect();
                    assert_eq!(got, want, "len {len}, markers {marks:?}, from {from}");
                }
            }
        }
    }
}
