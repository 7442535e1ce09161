//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`,
//! `stdvar`, `quantile`, `topk`, `bottomk`, `count_values`, `limitk`, `limit_ratio`).
//!
//! Each input series is assigned its group once, by hashing the grouping labels into a
//! map; every step then folds the series' point into its group's accumulator. No
//! per-step label sets are built. Float sums use Kahan compensation and `avg` falls back
//! to an incremental mean on overflow, exactly as Prometheus does, so results agree to
//! the last bit in the conformance tests.

use hashbrown::HashMap;
use std::sync::Arc;

use promlite_model::{CounterResetHint, FloatHistogram, Labels, LabelsBuilder, METRIC_NAME};

use crate::ast::{AggregateExpr, AggregateOp, Expr};
use crate::engine::{Evaluator, push_sample};
use crate::eval_error::EvalError;
use crate::hist;
use crate::value::{Matrix, Series};

/// Kahan summation step (Prometheus's `kahansum.Inc`).
/// Adds `f` to an average as Prometheus does: a compensated sum while it stays finite,
/// then (from the sample that would overflow it) an incremental mean. `count` already
/// includes `f`; `c` is the compensation of whichever of `sum` and `mean` is in use.
fn avg_add(f: f64, count: f64, sum: &mut f64, c: &mut f64, mean: &mut f64, incremental: &mut bool) {
    if !*incremental {
        let (nv, nc) = kahan_inc(f, *sum, *c);
        if !nv.is_infinite() {
            *sum = nv;
            *c = nc;
            return;
        }
        *incremental = true;
        *mean = *sum / (count - 1.0);
        *c /= count - 1.0;
    }
    let q = (count - 1.0) / count;
    (*mean, *c) = kahan_inc(f / count, q * *mean, q * *c);
}

pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The labels of a group: only the `by` labels, or all but the `without` labels and the
/// metric name.
pub(crate) fn grouping_labels(l: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        l.retain(|lb| lb.name != METRIC_NAME && !grouping.iter().any(|g| g == lb.name))
    } else {
        l.retain(|lb| grouping.iter().any(|g| g == lb.name))
    }
}

#[derive(Default, Clone)]
struct Group {
    seen: bool,
    f: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    h: Option<hist::KahanSum>,
    h_incremental: bool,
    has_float: bool,
    has_hist: bool,
    incompatible: bool,
    incremental: bool,
    reset_seen: bool,
    not_reset_seen: bool,
    drop_name: bool,
    values: Vec<f64>,
    picks: Vec<(usize, f64, Option<Arc<FloatHistogram>>)>,
}

/// Per-series cursor over a matrix, advanced step by step.
pub(crate) struct Cursor {
    fi: Vec<usize>,
    hi: Vec<usize>,
}

impl Cursor {
    pub(crate) fn new(n: usize) -> Cursor {
        Cursor {
            fi: vec![0; n],
            hi: vec![0; n],
        }
    }

    /// The value of series `i` at `ts`, if it has one.
    pub(crate) fn next(
        &mut self,
        s: &Series,
        i: usize,
        ts: i64,
    ) -> Option<(f64, Option<Arc<FloatHistogram>>)> {
        if let Some(p) = s.floats.get(self.fi[i])
            && p.t == ts
        {
            self.fi[i] += 1;
            return Some((p.f, None));
        }
        if let Some(p) = s.histograms.get(self.hi[i])
            && p.t == ts
        {
            self.hi[i] += 1;
            return Some((0.0, Some(p.h.clone())));
        }
        None
    }
}

fn track_hint(g: &mut Group, h: &FloatHistogram) {
    match h.counter_reset_hint {
        CounterResetHint::CounterReset => g.reset_seen = true,
        CounterResetHint::NotCounterReset => g.not_reset_seen = true,
        _ => {}
    }
}

pub(crate) fn eval_aggregate(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
) -> Result<Matrix, EvalError> {
    let mut grouping = a.grouping.clone();
    grouping.sort();
    let expr_pos = a.expr.span();
    if a.op == AggregateOp::CountValues {
        let label = match a.param.as_ref().map(crate::funcs::unwrap) {
            Some(Expr::String(s)) => {
                if let Some(b) = &s.bytes {
                    // Not UTF-8, so not a label name; quoted from the bytes as Go does.
                    return Err(EvalError::msg(format!(
                        "invalid label name {}",
                        crate::go::go_quote_bytes(b)
                    )));
                }
                s.value.clone()
            }
            _ => return Err(EvalError::msg("count_values needs a string parameter")),
        };
        if !crate::funcs::valid_label_name(&label) {
            return Err(EvalError::msg(format!(
                "invalid label name {}",
                promlite_model::go_quote(&label)
            )));
        }
        if !a.without {
            grouping.push(label.clone());
            grouping.sort();
        }
        let input = ev.eval_matrix(&a.expr)?;
        let without = a.without;
        return ev.range_eval(&[input], |v, _| {
            let mut groups: Vec<(Labels, f64)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            let mut b = LabelsBuilder::new();
            for s in &v[0] {
                b.reset(&s.metric);
                let value = match &s.h {
                    Some(h) => crate::funcs::histogram_string(h),
                    None => {
                        let mut t = String::new();
                        let _ = crate::go::write_float(&mut t, s.f);
                        t
                    }
                };
                b.set(&label, &value);
                let m = b.build();
                let g = grouping_labels(&m, &grouping, without);
                match index.get(&g) {
                    Some(&i) => groups[i].1 += 1.0,
                    None => {
                        index.insert(g.clone(), groups.len());
                        groups.push((g, 1.0));
                    }
                }
            }
            Ok(groups
                .into_iter()
                .map(|(l, c)| crate::value::Sample::float(l, 0, c))
                .collect())
        });
    }
    let params = match &a.param {
        Some(p) if a.op != AggregateOp::CountValues => Some(ev.eval_scalar_steps(p)?),
        _ => None,
    };
    let input = ev.eval_matrix(&a.expr)?;
    let k_op = matches!(
        a.op,
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio
    );
    // Group assignment, once per series.
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut to_group = Vec::with_capacity(input.len());
    let mut out: Matrix = Vec::new();
    for s in &input {
        let key = grouping_labels(&s.metric, &grouping, a.without);
        let n = index.len();
        let g = *index.entry(key.clone()).or_insert_with(|| {
            if !k_op {
                out.push(Series {
                    metric: key,
                    ..Series::default()
                });
            }
            n
        });
        to_group.push(g);
    }
    let ngroups = index.len();
    let param_pos = a.param.as_ref().map(Expr::span).unwrap_or_default();
    if let Some(ps) = &params {
        let max = ps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = ps.iter().copied().fold(f64::INFINITY, f64::min);
        let any_nan = ps.iter().any(|p| p.is_nan());
        match a.op {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                if max < 1.0 && !any_nan {
                    return Ok(Vec::new());
                }
                if any_nan {
                    return Err(EvalError::msg("Parameter value is NaN"));
                }
                if min <= -9.223_372_036_854_776e18 {
                    return Err(EvalError::msg(format!(
                        "Scalar value {} underflows int64",
                        go_v(min)
                    )));
                }
                if max >= 9.223_372_036_854_776e18 {
                    return Err(EvalError::msg(format!(
                        "Scalar value {} overflows int64",
                        go_v(max)
                    )));
                }
            }
            AggregateOp::LimitRatio => {
                if max == 0.0 && min == 0.0 {
                    return Ok(Vec::new());
                }
                if any_nan {
                    return Err(EvalError::msg("Ratio value is NaN"));
                }
                if max > 1.0 {
                    ev.annos.warn(
                        format!(
                            "ratio value should be between -1 and 1, got {}, capping to 1",
                            go_v(max)
                        ),
                        param_pos,
                    );
                }
                if min < -1.0 {
                    ev.annos.warn(
                        format!(
                            "ratio value should be between -1 and 1, got {}, capping to -1",
                            go_v(min)
                        ),
                        param_pos,
                    );
                }
            }
            AggregateOp::Quantile => {
                if any_nan {
                    ev.annos.warn(
                        "quantile value should be between 0 and 1, got NaN",
                        param_pos,
                    );
                }
                if max > 1.0 {
                    ev.annos.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            go_v(max)
                        ),
                        param_pos,
                    );
                }
                if min < 0.0 {
                    ev.annos.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            go_v(min)
                        ),
                        param_pos,
                    );
                }
            }
            _ => {}
        }
    }
    let steps = ev.steps();
    if params.is_none()
        && let Some(fold) = FloatFold::of(a.op, &input)
    {
        return fold.run(ev, &input, &to_group, ngroups, out);
    }
    let instant = ev.start == ev.end;
    let mut groups = vec![Group::default(); ngroups];
    let mut cursor = Cursor::new(input.len());
    let mut k_out: Vec<Series> = Vec::new();
    let mut k_index: HashMap<usize, usize> = HashMap::new();
    let mut ts = ev.start;
    let mut step = 0usize;
    let op = a.op;
    let op_name = op.as_str();
    while ts <= ev.end {
        ev.tick()?;
        let param = params.as_ref().map_or(0.0, |p| p[step]);
        for g in &mut groups {
            g.seen = false;
        }
        if k_op {
            let k = match op {
                AggregateOp::LimitRatio => 0,
                _ => (param as i64).min(input.len() as i64),
            };
            let ratio = param.clamp(-1.0, 1.0);
            for (si, s) in input.iter().enumerate() {
                let Some((f, h)) = cursor.next(s, si, ts) else {
                    continue;
                };
                let g = &mut groups[to_group[si]];
                if !g.seen {
                    g.seen = true;
                    g.picks.clear();
                }
                match op {
                    AggregateOp::Topk | AggregateOp::Bottomk => {
                        if h.is_some() {
                            ev.annos.info(
                                format!("ignored histogram in {op_name} aggregation"),
                                a.span,
                            );
                            continue;
                        }
                        g.picks.push((si, f, None));
                    }
                    AggregateOp::Limitk => {
                        if (g.picks.len() as i64) < k {
                            g.picks.push((si, f, h));
                        }
                    }
                    _ => {
                        if ratio_sample(ratio, &s.metric) {
                            g.picks.push((si, f, h));
                        }
                    }
                }
            }
            if matches!(
                op,
                AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk
            ) && k < 1
            {
                ts += ev.interval;
                step += 1;
                continue;
            }
            for g in &mut groups {
                if !g.seen {
                    continue;
                }
                match op {
                    AggregateOp::Topk => {
                        // NaN ranks lowest, so it is picked last.
                        keep_first_k(&mut g.picks, k as usize, |x, y| desc_nan_last(x.1, y.1));
                    }
                    AggregateOp::Bottomk => {
                        keep_first_k(&mut g.picks, k as usize, |x, y| asc_nan_last(x.1, y.1));
                    }
                    _ => {}
                }
                for (si, f, h) in g.picks.drain(..) {
                    let i = *k_index.entry(si).or_insert_with(|| {
                        k_out.push(Series {
                            metric: input[si].metric.clone(),
                            drop_name: input[si].drop_name,
                            ..Series::default()
                        });
                        k_out.len() - 1
                    });
                    if instant {
                        // Instant results keep the per-group order (topk descending).
                        let mut ser = Series {
                            metric: input[si].metric.clone(),
                            drop_name: input[si].drop_name,
                            ..Series::default()
                        };
                        push_sample(&mut ser, ts, f, h, 1);
                        out.push(ser);
                    } else {
                        push_sample(&mut k_out[i], ts, f, h, steps);
                    }
                }
            }
            ts += ev.interval;
            step += 1;
            continue;
        }
        for (si, s) in input.iter().enumerate() {
            let Some((f, h)) = cursor.next(s, si, ts) else {
                continue;
            };
            let g = &mut groups[to_group[si]];
            if !g.seen {
                *g = Group {
                    seen: true,
                    f,
                    mean: f,
                    count: 1.0,
                    drop_name: s.drop_name,
                    values: std::mem::take(&mut g.values),
                    picks: std::mem::take(&mut g.picks),
                    ..Group::default()
                };
                g.values.clear();
                match op {
                    AggregateOp::Sum | AggregateOp::Avg => match &h {
                        Some(h) => {
                            track_hint(g, h);
                            g.h = Some(hist::KahanSum::new(h));
                            g.has_hist = true;
                        }
                        None => g.has_float = true,
                    },
                    AggregateOp::Stddev | AggregateOp::Stdvar => {
                        if h.is_some() {
                            g.seen = false;
                            ev.annos.info(
                                format!("ignored histogram in {op_name} aggregation"),
                                expr_pos,
                            );
                        } else if f.is_nan() || f.is_infinite() {
                            g.f = f64::NAN;
                        } else {
                            g.f = 0.0;
                        }
                    }
                    AggregateOp::Quantile => {
                        if h.is_some() {
                            g.seen = false;
                            ev.annos.info(
                                format!("ignored histogram in {op_name} aggregation"),
                                expr_pos,
                            );
                        }
                        g.values.push(f);
                    }
                    AggregateOp::Group => g.f = 1.0,
                    AggregateOp::Min | AggregateOp::Max if h.is_some() => {
                        g.seen = false;
                        ev.annos.info(
                            format!("ignored histogram in {op_name} aggregation"),
                            expr_pos,
                        );
                    }
                    _ => {}
                }
                continue;
            }
            if g.incompatible {
                continue;
            }
            if s.drop_name {
                g.drop_name = true;
            }
            match op {
                AggregateOp::Sum => match h {
                    Some(h) => {
                        g.has_hist = true;
                        track_hint(g, &h);
                        if let Some(acc) = &mut g.h {
                            match acc.add(&h) {
                                Ok(reconciled) => {
                                    if reconciled {
                                        ev.annos.info(
                                            "mismatched custom buckets were reconciled during aggregation",
                                            expr_pos,
                                        );
                                    }
                                }
                                Err(()) => {
                                    mixed_schema_warning(ev, &s.metric, expr_pos);
                                    g.incompatible = true;
                                }
                            }
                        }
                    }
                    None => {
                        g.has_float = true;
                        (g.f, g.kahan_c) = kahan_inc(f, g.f, g.kahan_c);
                    }
                },
                AggregateOp::Avg => {
                    g.count += 1.0;
                    match h {
                        Some(h) => {
                            g.has_hist = true;
                            track_hint(g, &h);
                            if let Some(acc) = &mut g.h {
                                match acc.add_for_mean(&h, g.count, &mut g.h_incremental) {
                                    Ok(reconciled) => {
                                        if reconciled {
                                            ev.annos.info(
                                                "mismatched custom buckets were reconciled during aggregation",
                                                expr_pos,
                                            );
                                        }
                                    }
                                    Err(()) => {
                                        mixed_schema_warning(ev, &s.metric, expr_pos);
                                        g.incompatible = true;
                                    }
                                }
                            }
                        }
                        None => {
                            g.has_float = true;
                            avg_add(
                                f,
                                g.count,
                                &mut g.f,
                                &mut g.kahan_c,
                                &mut g.mean,
                                &mut g.incremental,
                            );
                        }
                    }
                }
                AggregateOp::Max => {
                    if h.is_some() {
                        ev.annos
                            .info("ignored histogram in max aggregation", expr_pos);
                        continue;
                    }
                    if g.f < f || g.f.is_nan() {
                        g.f = f;
                    }
                }
                AggregateOp::Min => {
                    if h.is_some() {
                        ev.annos
                            .info("ignored histogram in min aggregation", expr_pos);
                        continue;
                    }
                    if g.f > f || g.f.is_nan() {
                        g.f = f;
                    }
                }
                AggregateOp::Count => g.count += 1.0,
                AggregateOp::Stddev | AggregateOp::Stdvar => {
                    if h.is_none() {
                        g.count += 1.0;
                        let delta = f - g.mean;
                        g.mean += delta / g.count;
                        g.f += delta * (f - g.mean);
                    } else {
                        ev.annos.info(
                            format!("ignored histogram in {op_name} aggregation"),
                            expr_pos,
                        );
                    }
                }
                AggregateOp::Quantile => {
                    if h.is_some() {
                        ev.annos
                            .info("ignored histogram in quantile aggregation", expr_pos);
                        continue;
                    }
                    g.values.push(f);
                }
                _ => {}
            }
        }
        for (gi, g) in groups.iter_mut().enumerate() {
            if !g.seen {
                continue;
            }
            let mut hv: Option<FloatHistogram> = None;
            let mut fv = g.f;
            match op {
                AggregateOp::Avg | AggregateOp::Sum => {
                    if g.has_float && g.has_hist {
                        ev.annos.warn(
                            "encountered a mix of histograms and floats for aggregation",
                            expr_pos,
                        );
                        continue;
                    }
                    if g.incompatible {
                        continue;
                    }
                    if g.has_hist {
                        let h = match g.h.take() {
                            Some(k) if op == AggregateOp::Avg => k.mean(g.count, g.h_incremental),
                            Some(k) => k.total(),
                            None => FloatHistogram::default(),
                        };
                        hv = Some(hist::compact(&h));
                    } else if op == AggregateOp::Sum {
                        fv = g.f + g.kahan_c;
                    } else if g.incremental {
                        fv = g.mean + g.kahan_c;
                    } else {
                        fv = g.f / g.count + g.kahan_c / g.count;
                    }
                }
                AggregateOp::Count => fv = g.count,
                AggregateOp::Stdvar => fv = g.f / g.count,
                AggregateOp::Stddev => fv = (g.f / g.count).sqrt(),
                AggregateOp::Quantile => fv = quantile(param, &mut g.values),
                _ => {}
            }
            if g.reset_seen && g.not_reset_seen {
                ev.annos.warn(
                    "conflicting counter resets during histogram aggregation",
                    expr_pos,
                );
            }
            let ser = &mut out[gi];
            ser.drop_name = g.drop_name;
            push_sample(ser, ts, fv, hv.map(Arc::new), steps);
        }
        ev.add_samples(0)?;
        ts += ev.interval;
        step += 1;
    }
    if k_op && !instant {
        out = k_out;
    }
    out.retain(|s| !s.is_empty());
    ev.add_samples(out.iter().map(Series::len).sum())?;
    Ok(out)
}

/// The float-only aggregations (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`,
/// `stdvar`) over inputs without histograms, folded series by series instead of step by
/// step: each input series' points are read in one pass into its group's row of
/// per-step accumulators, so the points are visited in memory order rather than
/// jumping across every series at every step. A step's accumulator still receives the
/// series in input order, so sums are the same to the last bit. Steps are taken in
/// blocks that bound the accumulators to about 2.5 MB.
struct FloatFold {
    op: AggregateOp,
    drop_name: bool,
}

/// One group's accumulator at one step (the float fields of [`Group`]).
#[derive(Clone, Copy, Default)]
struct Cell {
    seen: bool,
    incremental: bool,
    f: f64,
    c: f64,
    mean: f64,
    count: f64,
}

impl FloatFold {
    /// The fold for `op` when it applies: no histograms in `input` and every series
    /// with the same pending name removal.
    fn of(op: AggregateOp, input: &Matrix) -> Option<FloatFold> {
        let folds = matches!(
            op,
            AggregateOp::Sum
                | AggregateOp::Avg
                | AggregateOp::Count
                | AggregateOp::Min
                | AggregateOp::Max
                | AggregateOp::Group
                | AggregateOp::Stddev
                | AggregateOp::Stdvar
        );
        let drop_name = input.first().is_some_and(|s| s.drop_name);
        (folds
            && input
                .iter()
                .all(|s| s.histograms.is_empty() && s.drop_name == drop_name))
        .then_some(FloatFold { op, drop_name })
    }

    #[inline]
    fn first(&self, c: &mut Cell, f: f64) {
        *c = Cell {
            seen: true,
            incremental: false,
            f,
            c: 0.0,
            mean: f,
            count: 1.0,
        };
        match self.op {
            AggregateOp::Stddev | AggregateOp::Stdvar => {
                c.f = if f.is_nan() || f.is_infinite() {
                    f64::NAN
                } else {
                    0.0
                };
            }
            AggregateOp::Group => c.f = 1.0,
            _ => {}
        }
    }

    #[inline]
    fn add(&self, g: &mut Cell, f: f64) {
        if !g.seen {
            self.first(g, f);
            return;
        }
        match self.op {
            AggregateOp::Sum => (g.f, g.c) = kahan_inc(f, g.f, g.c),
            AggregateOp::Avg => {
                g.count += 1.0;
                avg_add(
                    f,
                    g.count,
                    &mut g.f,
                    &mut g.c,
                    &mut g.mean,
                    &mut g.incremental,
                );
            }
            AggregateOp::Max if g.f < f || g.f.is_nan() => g.f = f,
            AggregateOp::Min if g.f > f || g.f.is_nan() => g.f = f,
            AggregateOp::Count => g.count += 1.0,
            AggregateOp::Stddev | AggregateOp::Stdvar => {
                g.count += 1.0;
                let delta = f - g.mean;
                g.mean += delta / g.count;
                g.f += delta * (f - g.mean);
            }
            _ => {}
        }
    }

    fn value(&self, g: &Cell) -> f64 {
        match self.op {
            AggregateOp::Sum => g.f + g.c,
            AggregateOp::Avg if g.incremental => g.mean + g.c,
            AggregateOp::Avg => g.f / g.count + g.c / g.count,
            AggregateOp::Count => g.count,
            AggregateOp::Stdvar => g.f / g.count,
            AggregateOp::Stddev => (g.f / g.count).sqrt(),
            _ => g.f,
        }
    }

    /// Folds `input` into `out` (one series per group, in group order). Every point of
    /// an evaluated instant vector lies on a step of the evaluator.
    fn run(
        &self,
        ev: &mut Evaluator<'_>,
        input: &Matrix,
        to_group: &[usize],
        ngroups: usize,
        mut out: Matrix,
    ) -> Result<Matrix, EvalError> {
        const CELLS: usize = 1 << 16;
        let steps = ev.steps();
        let (start, interval) = (ev.start, ev.interval);
        let block = (CELLS / ngroups.max(1)).clamp(1, steps.max(1));
        let mut cells = vec![Cell::default(); ngroups * block];
        let mut cursor = vec![0usize; input.len()];
        let mut first = 0usize;
        while first < steps {
            let n = block.min(steps - first);
            let t_lo = start + first as i64 * interval;
            let t_hi = t_lo + (n as i64 - 1) * interval;
            cells[..ngroups * n].fill(Cell::default());
            for (si, s) in input.iter().enumerate() {
                ev.tick()?;
                let g = to_group[si];
                let row = &mut cells[g * n..(g + 1) * n];
                let mut i = cursor[si];
                while let Some(p) = s.floats.get(i)
                    && p.t <= t_hi
                {
                    if p.t >= t_lo {
                        self.add(&mut row[((p.t - t_lo) / interval) as usize], p.f);
                    }
                    i += 1;
                }
                cursor[si] = i;
            }
            for (g, ser) in out.iter_mut().enumerate() {
                for (k, cell) in cells[g * n..(g + 1) * n].iter().enumerate() {
                    if cell.seen {
                        ser.drop_name = self.drop_name;
                        let ts = t_lo + k as i64 * interval;
                        push_sample(ser, ts, self.value(cell), None, steps);
                    }
                }
            }
            ev.add_samples(0)?;
            first += n;
        }
        out.retain(|s| !s.is_empty());
        ev.add_samples(out.iter().map(Series::len).sum())?;
        Ok(out)
    }
}

fn mixed_schema_warning(ev: &mut Evaluator<'_>, metric: &Labels, pos: crate::ast::PosRange) {
    ev.annos.warn(
        format!(
            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
            promlite_model::go_quote(metric.metric_name().unwrap_or(""))
        ),
        pos,
    );
}

/// The first `k` of `items` stably sorted by `cmp`, in that order: what `sort_by` and
/// `truncate(k)` leave. A small `k` (topk's usual 1 to 10 out of hundreds of series at
/// every step) takes one pass that inserts each item among the best so far, O(n·k)
/// comparisons instead of a sort of all of them.
fn keep_first_k<T>(items: &mut Vec<T>, k: usize, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if k >= items.len() || k > 16 {
        items.sort_by(&cmp);
        items.truncate(k);
        return;
    }
    // `items[..kept]` holds the best so far in order; what lies between it and `i` was
    // passed over.
    let mut kept = 0;
    for i in 0..items.len() {
        // After every kept item that does not rank below it: equal items keep their
        // order, as in a stable sort.
        let pos = (0..kept)
            .find(|&j| cmp(&items[j], &items[i]) == std::cmp::Ordering::Greater)
            .unwrap_or(kept);
        if pos >= k {
            continue;
        }
        // Into the slot after the kept ones (or over the last, which drops out), then
        // rotated to its place.
        let slot = kept.min(k - 1);
        items.swap(slot, i);
        items[pos..=slot].rotate_right(1);
        kept = (kept + 1).min(k);
    }
    items.truncate(kept);
}

fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Whether `limit_ratio(r, …)` keeps a series: its label hash, scaled to `[0, 1]`, is
/// compared with the ratio, so the same series are kept at every step, and a negative
/// ratio keeps exactly the complement of the positive one.
fn ratio_sample(r: f64, l: &Labels) -> bool {
    let off = labels_hash(l) as f64 / u64::MAX as f64;
    (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r)
}

/// Prometheus's `labels.Labels.Hash`: xxhash64 (seed 0) of every name and value, each
/// followed by a `0xff` byte. `limit_ratio` must use this exact hash, not our own
/// `Hash` impl, because which series it keeps is visible in query results and the
/// conformance tests count the overlap of two ratios.
pub(crate) fn labels_hash(l: &Labels) -> u64 {
    const SEP: [u8; 1] = [0xff];
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for p in l {
        h.update(p.name.as_bytes());
        h.update(&SEP);
        h.update(p.value.as_bytes());
        h.update(&SEP);
    }
    h.digest()
}

/// Prometheus's `quantile` over floats: linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go sorts NaN first (its Less treats NaN as smallest).
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Go's `%v` for a float.
pub(crate) fn go_v(v: f64) -> String {
    let mut s = String::new();
    let _ = crate::go::write_float_v(&mut s, v);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keep_first_k_is_a_stable_sort_cut_to_k(
            values in proptest::collection::vec(
                prop_oneof![Just(f64::NAN), Just(1.0), Just(-1.0), -5.0f64..5.0],
                0..60,
            ),
            k in 0usize..24,
        ) {
            let items: Vec<(usize, f64)> = values.into_iter().enumerate().collect();
            for cmp in [desc_nan_last, asc_nan_last] {
                let mut want = items.clone();
                want.sort_by(|x, y| cmp(x.1, y.1));
                want.truncate(k);
                let mut got = items.clone();
                keep_first_k(&mut got, k, |x, y| cmp(x.1, y.1));
                let ids = |v: &[(usize, f64)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
                prop_assert_eq!(ids(&got), ids(&want));
            }
        }
    }
}
