//! Binary operators: arithmetic, comparisons, set operators and `atan2`, between scalars
//! and instant vectors, with Prometheus's vector matching (one-to-one, many-to-one,
//! one-to-many, the experimental `fill` modifiers) and its error texts.

use hashbrown::HashMap;
use std::sync::Arc;

use promlite_model::{FloatHistogram, Labels, LabelsBuilder, METRIC_NAME};

use crate::ast::{BinaryExpr, BinaryOp, Cardinality, Expr, PosRange, ValueType, VectorMatching};
use crate::engine::{Evaluator, StepCtx, push_sample};
use crate::eval_error::EvalError;
use crate::hist;
use crate::value::{Annotations, Matrix, Sample, Series, Vector};

pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, b: &BinaryExpr) -> Result<Matrix, EvalError> {
    let lt = b.lhs.value_type();
    let rt = b.rhs.value_type();
    let pos = Expr::Binary(Box::new(b.clone())).span();
    let op = b.op;
    let saved = ev.stats_decoding;
    if matches!(op, BinaryOp::TrimUpper | BinaryOp::TrimLower) {
        ev.stats_decoding = false;
    }
    let lhs = ev.eval_matrix(&b.lhs);
    let rhs = ev.eval_matrix(&b.rhs);
    ev.stats_decoding = saved;
    let (lhs, rhs) = (lhs?, rhs?);
    match (lt, rt) {
        (ValueType::Scalar, ValueType::Scalar) => ev.range_eval(&[lhs, rhs], |v, _| {
            let (Some(l), Some(r)) = (v[0].first(), v[1].first()) else {
                return Ok(Vec::new());
            };
            Ok(vec![Sample::float(
                Labels::empty(),
                0,
                scalar_binop(op, l.f, r.f),
            )])
        }),
        (ValueType::Vector, ValueType::Vector) => {
            let default_matching = VectorMatching {
                card: if op.is_set_operator() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                },
                labels: Vec::new(),
                on: false,
                include: Vec::new(),
                fill_lhs: None,
                fill_rhs: None,
            };
            let matching = b.matching.as_ref().unwrap_or(&default_matching);
            let mut sigs = Signatures::default();
            let lsig = sigs.of(&lhs, matching);
            let rsig = sigs.of(&rhs, matching);
            let nsigs = sigs.count();
            if let Some(m) = joined_series(
                ev,
                op,
                [&lhs, &rhs],
                matching,
                [&lsig, &rsig],
                nsigs,
                b.return_bool,
                pos,
            ) {
                return m;
            }
            let return_bool = b.return_bool;
            let mut cache = ResultMetrics::default();
            let delayed = ev.delayed;
            let args = [lhs, rhs];
            ev.range_eval(&args, |v, ctx| {
                let ls: Vec<u32> = ctx.series_idx[0].iter().map(|&i| lsig[i]).collect();
                let rs: Vec<u32> = ctx.series_idx[1].iter().map(|&i| rsig[i]).collect();
                match op {
                    BinaryOp::And => Ok(set_and(&v[0], &v[1], &ls, &rs, nsigs)),
                    BinaryOp::Or => Ok(set_or(&v[0], &v[1], &ls, &rs, nsigs)),
                    BinaryOp::Unless => Ok(set_unless(&v[0], &v[1], &ls, &rs, nsigs)),
                    _ => {
                        let li: Vec<u32> = ctx.series_idx[0].iter().map(|&i| i as u32).collect();
                        let ri: Vec<u32> = ctx.series_idx[1].iter().map(|&i| i as u32).collect();
                        vector_binop(
                            op,
                            &v[0],
                            &v[1],
                            matching,
                            return_bool,
                            &Sides {
                                lsig: &ls,
                                rsig: &rs,
                                lidx: &li,
                                ridx: &ri,
                                nsigs,
                            },
                            &mut cache,
                            delayed,
                            ctx,
                            pos,
                        )
                    }
                }
            })
        }
        (ValueType::Vector, ValueType::Scalar) => ev.range_eval(&[lhs, rhs], |v, ctx| {
            let s = v[1].first().map_or(f64::NAN, |s| s.f);
            Ok(vector_scalar(op, &v[0], s, false, b.return_bool, ctx, pos))
        }),
        (ValueType::Scalar, ValueType::Vector) => ev.range_eval(&[lhs, rhs], |v, ctx| {
            let s = v[0].first().map_or(f64::NAN, |s| s.f);
            Ok(vector_scalar(op, &v[1], s, true, b.return_bool, ctx, pos))
        }),
        _ => Err(EvalError::msg("invalid operand types for binary operation")),
    }
}

/// Vector-vector arithmetic and comparisons between float series whose pairing cannot
/// change from step to step, evaluated pair by pair instead of step by step: when every
/// signature has at most one right-hand series (and, one-to-one, at most one left-hand
/// series) and the pairs' result label sets are distinct, no step can raise a matching
/// error and each left series meets the same right series at every step where both have
/// a point. Each pair's points are then merged once along time. The output keeps the
/// order the step-by-step evaluation gives (by first point, then left-hand order).
/// `None` when the shape does not allow it (fill modifiers, `group_right`, histograms,
/// possible duplicates): the caller evaluates step by step.
#[allow(clippy::too_many_arguments)]
fn joined_series(
    ev: &mut Evaluator<'_>,
    op: BinaryOp,
    [lhs, rhs]: [&Matrix; 2],
    matching: &VectorMatching,
    [lsig, rsig]: [&[u32]; 2],
    nsigs: usize,
    return_bool: bool,
    pos: PosRange,
) -> Option<Result<Matrix, EvalError>> {
    use BinaryOp::{Add, Atan2, Div, Eql, Gte, Gtr, Lss, Lte, Mod, Mul, Neq, Pow, Sub};
    let float_op = matches!(
        op,
        Add | Sub | Mul | Div | Pow | Mod | Atan2 | Eql | Neq | Gtr | Lss | Gte | Lte
    );
    if !float_op
        || matching.fill_lhs.is_some()
        || matching.fill_rhs.is_some()
        || !matches!(
            matching.card,
            Cardinality::OneToOne | Cardinality::ManyToOne
        )
        || lhs.iter().chain(rhs).any(|s| !s.histograms.is_empty())
    {
        return None;
    }
    let mut right: Vec<Option<usize>> = vec![None; nsigs];
    for (j, &sig) in rsig.iter().enumerate() {
        if right[sig as usize].replace(j).is_some() {
            return None;
        }
    }
    if matching.card == Cardinality::OneToOne {
        let mut seen = vec![false; nsigs];
        for &sig in lsig {
            if std::mem::replace(&mut seen[sig as usize], true) {
                return None;
            }
        }
    }
    let drop_name = !ev.delayed && return_bool;
    let pairs: Vec<(usize, usize, Labels)> = lhs
        .iter()
        .enumerate()
        .filter_map(|(i, ls)| {
            let j = right[lsig[i] as usize]?;
            let m = result_metric(&ls.metric, &rhs[j].metric, op, matching, drop_name);
            Some((i, j, m))
        })
        .collect();
    let mut distinct = hashbrown::HashSet::with_capacity(pairs.len());
    if !pairs.iter().all(|(_, _, m)| distinct.insert(m)) {
        return None;
    }
    drop(distinct);
    let steps = ev.steps();
    let mut out: Vec<(i64, usize, Series)> = Vec::with_capacity(pairs.len());
    let mut total = 0;
    for (i, j, metric) in pairs {
        if let Err(e) = ev.tick() {
            return Some(Err(e));
        }
        let (l, r) = (&lhs[i].floats, &rhs[j].floats);
        let mut s = Series {
            metric,
            drop_name: return_bool,
            ..Series::default()
        };
        let (mut a, mut b) = (0, 0);
        while let (Some(pl), Some(pr)) = (l.get(a), r.get(b)) {
            if pl.t != pr.t {
                if pl.t < pr.t {
                    a += 1;
                } else {
                    b += 1;
                }
                continue;
            }
            a += 1;
            b += 1;
            let Some((f, _, keep)) = elem_binop(op, pl.f, pr.f, None, None, pos, &mut ev.annos)
            else {
                continue;
            };
            let f = if return_bool {
                if keep { 1.0 } else { 0.0 }
            } else if keep {
                f
            } else {
                continue;
            };
            push_sample(&mut s, pl.t, f, None, steps);
        }
        if let Some(first) = s.floats.first() {
            total += s.floats.len();
            out.push((first.t, i, s));
        }
    }
    out.sort_by_key(|(t, i, _)| (*t, *i));
    if let Err(e) = ev.add_samples(total) {
        return Some(Err(e));
    }
    Some(Ok(out.into_iter().map(|(_, _, s)| s).collect()))
}

/// Maps each series to the ordinal of its matching signature (the labels the match is
/// made on), computed once per query rather than per step.
#[derive(Default)]
struct Signatures {
    ids: HashMap<Labels, u32>,
}

impl Signatures {
    fn of(&mut self, m: &Matrix, matching: &VectorMatching) -> Vec<u32> {
        m.iter()
            .map(|s| {
                let sig = match_labels(&s.metric, matching);
                let n = self.ids.len() as u32;
                *self.ids.entry(sig).or_insert(n)
            })
            .collect()
    }

    fn count(&self) -> usize {
        self.ids.len()
    }
}

/// Prometheus's `MatchLabels`: the labels named by `on`, or all but those named by
/// `ignoring` and the metric name.
fn match_labels(l: &Labels, matching: &VectorMatching) -> Labels {
    if matching.on {
        l.retain(|lb| matching.labels.iter().any(|n| n == lb.name))
    } else {
        l.retain(|lb| lb.name != METRIC_NAME && !matching.labels.iter().any(|n| n == lb.name))
    }
}

fn set_and(l: &Vector, r: &Vector, ls: &[u32], rs: &[u32], n: usize) -> Vector {
    if l.is_empty() || r.is_empty() {
        return Vec::new();
    }
    let mut present = vec![false; n];
    for &s in rs {
        present[s as usize] = true;
    }
    l.iter()
        .zip(ls)
        .filter(|(_, s)| present[**s as usize])
        .map(|(x, _)| x.clone())
        .collect()
}

fn set_or(l: &Vector, r: &Vector, ls: &[u32], rs: &[u32], n: usize) -> Vector {
    let mut present = vec![false; n];
    let mut out = Vec::with_capacity(l.len() + r.len());
    for (x, &s) in l.iter().zip(ls) {
        present[s as usize] = true;
        out.push(x.clone());
    }
    for (x, &s) in r.iter().zip(rs) {
        if !present[s as usize] {
            out.push(x.clone());
        }
    }
    out
}

fn set_unless(l: &Vector, _r: &Vector, ls: &[u32], rs: &[u32], n: usize) -> Vector {
    let mut present = vec![false; n];
    for &s in rs {
        present[s as usize] = true;
    }
    l.iter()
        .zip(ls)
        .filter(|(_, s)| !present[**s as usize])
        .map(|(x, _)| x.clone())
        .collect()
}

struct Sides<'a> {
    lsig: &'a [u32],
    rsig: &'a [u32],
    lidx: &'a [u32],
    ridx: &'a [u32],
    nsigs: usize,
}

#[allow(clippy::too_many_arguments)]
fn vector_binop(
    op: BinaryOp,
    lhs: &Vector,
    rhs: &Vector,
    matching: &VectorMatching,
    return_bool: bool,
    sides: &Sides<'_>,
    cache: &mut ResultMetrics,
    delayed: bool,
    ctx: &mut StepCtx<'_>,
    pos: PosRange,
) -> Result<Vector, EvalError> {
    if (lhs.is_empty() && rhs.is_empty())
        || ((lhs.is_empty() || rhs.is_empty())
            && matching.fill_lhs.is_none()
            && matching.fill_rhs.is_none())
    {
        return Ok(Vec::new());
    }
    let one_to_many = matching.card == Cardinality::OneToMany;
    let (lhs, rhs, lsig, rsig, lidx, ridx) = if one_to_many {
        (rhs, lhs, sides.rsig, sides.lsig, sides.ridx, sides.lidx)
    } else {
        (lhs, rhs, sides.lsig, sides.rsig, sides.lidx, sides.ridx)
    };
    // Prometheus does not swap the fill values with the sides for `group_right`:
    // `fill_right` still fills a missing series of the (swapped) right side.
    let (fill_many, fill_one) = (matching.fill_lhs, matching.fill_rhs);
    // Index of the "one" side's sample per signature.
    let mut right: Vec<Option<usize>> = vec![None; sides.nsigs];
    for (i, rs) in rhs.iter().enumerate() {
        let sig = rsig[i] as usize;
        if let Some(prev) = right[sig] {
            let one_side = if one_to_many { "left" } else { "right" };
            let matched = match_labels(&rs.metric, matching);
            let mut d1 = rs.metric.to_string();
            let mut d2 = rhs[prev].metric.to_string();
            if d1 > d2 {
                std::mem::swap(&mut d1, &mut d2);
            }
            return Err(EvalError::msg(format!(
                "found duplicate series for the match group {matched} on the {one_side} hand-side of the operation: [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        right[sig] = Some(i);
    }
    let one_to_one = matching.card == Cardinality::OneToOne;
    let mut st = MatchState {
        once: vec![false; sides.nsigs],
        sets: hashbrown::HashSet::new(),
        out: Vec::new(),
    };
    let do_op = |st: &mut MatchState,
                 ls: &Sample,
                 rs: &Sample,
                 sig: u32,
                 key: Option<(u32, u32)>,
                 cache: &mut ResultMetrics,
                 annos: &mut Annotations|
     -> Result<(), EvalError> {
        let (fl, fr, hl, hr) = if one_to_many {
            (rs.f, ls.f, rs.h.as_deref(), ls.h.as_deref())
        } else {
            (ls.f, rs.f, ls.h.as_deref(), rs.h.as_deref())
        };
        // Incompatible operand types drop the pair, `bool` or not.
        let Some((mut f, mut h, keep)) = elem_binop(op, fl, fr, hl, hr, pos, annos) else {
            return Ok(());
        };
        let drop_name = !delayed && return_bool;
        let (metric, id) = cache.of(key, drop_name, || {
            result_metric(&ls.metric, &rs.metric, op, matching, drop_name)
        });
        if one_to_one {
            if st.once[sig as usize] {
                return Err(EvalError::msg(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if !st.sets.insert((sig, id)) {
            return Err(EvalError::msg(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        st.once[sig as usize] = true;
        if return_bool {
            h = None;
            f = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            return Ok(());
        }
        st.out.push(Sample {
            metric,
            t: 0,
            f,
            h,
            drop_name: return_bool,
        });
        Ok(())
    };
    for (i, ls) in lhs.iter().enumerate() {
        let sig = lsig[i];
        let filled;
        let (rs, key) = match right[sig as usize] {
            Some(j) => (&rhs[j], Some((lidx[i], ridx[j]))),
            None => {
                let Some(fill) = fill_one else { continue };
                filled = Sample::float(match_labels(&ls.metric, matching), 0, fill);
                (&filled, None)
            }
        };
        do_op(&mut st, ls, rs, sig, key, cache, ctx.annos)?;
    }
    if let Some(fill) = fill_many {
        for (j, rs) in rhs.iter().enumerate() {
            let sig = rsig[j];
            if st.once[sig as usize] {
                continue;
            }
            let ls = Sample::float(match_labels(&rs.metric, matching), 0, fill);
            do_op(&mut st, &ls, rs, sig, None, cache, ctx.annos)?;
        }
    }
    Ok(st.out)
}

struct MatchState {
    /// By signature: whether a pair with it was output at this step.
    once: Vec<bool>,
    /// The (signature, result metric) pairs output at this step (many-to-one and
    /// one-to-many matching, where a signature may match several times but must not
    /// yield the same series twice).
    sets: hashbrown::HashSet<(u32, u32)>,
    out: Vector,
}

/// The result labels of each pair of input series, computed once per query, and an
/// ordinal per distinct result label set, so a step checks duplicates by number.
#[derive(Default)]
struct ResultMetrics {
    by_pair: HashMap<(u32, u32, bool), (Labels, u32)>,
    ids: HashMap<Labels, u32>,
}

impl ResultMetrics {
    /// The result labels of the pair `key` (left and right series ordinals; `None` for a
    /// filled-in side, which is not cached), computed by `make` the first time.
    fn of(
        &mut self,
        key: Option<(u32, u32)>,
        drop_name: bool,
        make: impl FnOnce() -> Labels,
    ) -> (Labels, u32) {
        if let Some((l, r)) = key
            && let Some((m, id)) = self.by_pair.get(&(l, r, drop_name))
        {
            return (m.clone(), *id);
        }
        let m = make();
        let n = self.ids.len() as u32;
        let id = *self.ids.entry(m.clone()).or_insert(n);
        if let Some((l, r)) = key {
            self.by_pair.insert((l, r, drop_name), (m.clone(), id));
        }
        (m, id)
    }
}

fn changes_metric_schema(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Mod
            | BinaryOp::Atan2
    )
}

fn result_metric(
    lhs: &Labels,
    rhs: &Labels,
    op: BinaryOp,
    matching: &VectorMatching,
    drop_name: bool,
) -> Labels {
    let mut b = LabelsBuilder::new();
    b.reset(lhs);
    if drop_name || changes_metric_schema(op) {
        b.del(METRIC_NAME);
        b.del("__type__");
        b.del("__unit__");
    }
    if matching.card == Cardinality::OneToOne {
        if matching.on {
            b.keep(&matching.labels);
        } else {
            for n in &matching.labels {
                b.del(n);
            }
        }
    }
    for n in &matching.include {
        match rhs.get(n) {
            Some(v) if !v.is_empty() => {
                b.set(n, v);
            }
            _ => {
                b.del(n);
            }
        }
    }
    b.build()
}

fn vector_scalar(
    op: BinaryOp,
    lhs: &Vector,
    s: f64,
    swap: bool,
    return_bool: bool,
    ctx: &mut StepCtx<'_>,
    pos: PosRange,
) -> Vector {
    let mut out = Vec::with_capacity(lhs.len());
    for ls in lhs {
        let (lf, rf, lh, rh) = if swap {
            (s, ls.f, None, ls.h.as_deref())
        } else {
            (ls.f, s, ls.h.as_deref(), None)
        };
        let Some((mut f, mut h, mut keep)) = elem_binop(op, lf, rf, lh, rh, pos, ctx.annos) else {
            continue;
        };
        // With the scalar on the left of a comparison, the vector's value is kept.
        if op.is_comparison() && swap {
            f = rf;
            h.clone_from(&ls.h);
        }
        if return_bool {
            f = if keep { 1.0 } else { 0.0 };
            h = None;
            keep = true;
        }
        if keep {
            let mut o = ls.clone();
            o.f = f;
            o.h = h;
            if changes_metric_schema(op) || return_bool {
                ctx.drop_name(&mut o);
            }
            out.push(o);
        }
    }
    out
}

pub(crate) fn scalar_binop(op: BinaryOp, l: f64, r: f64) -> f64 {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Pow => l.powf(r),
        BinaryOp::Mod => go_mod(l, r),
        BinaryOp::Eql => b(l == r),
        BinaryOp::Neq => b(l != r),
        BinaryOp::Gtr => b(l > r),
        BinaryOp::Lss => b(l < r),
        BinaryOp::Gte => b(l >= r),
        BinaryOp::Lte => b(l <= r),
        BinaryOp::Atan2 => l.atan2(r),
        _ => f64::NAN,
    }
}

/// Go's `math.Mod`: the result has the sign of `x` (Rust's `%` agrees).
fn go_mod(x: f64, y: f64) -> f64 {
    x % y
}

fn incompatible(l: &str, op: BinaryOp, r: &str, pos: PosRange, annos: &mut Annotations) {
    annos.info(
        format!(
            "incompatible sample types encountered for binary operator \"{}\": {l} {} {r}",
            op.as_str(),
            op.as_str()
        ),
        pos,
    );
}

/// One element of a binary operation: `(value, histogram, keep)`, or `None` when the
/// types do not combine (an info annotation says so).
fn elem_binop(
    op: BinaryOp,
    l: f64,
    r: f64,
    hl: Option<&FloatHistogram>,
    hr: Option<&FloatHistogram>,
    pos: PosRange,
    annos: &mut Annotations,
) -> Option<(f64, Option<Arc<FloatHistogram>>, bool)> {
    match (hl, hr) {
        (None, None) => Some(match op {
            BinaryOp::Add => (l + r, None, true),
            BinaryOp::Sub => (l - r, None, true),
            BinaryOp::Mul => (l * r, None, true),
            BinaryOp::Div => (l / r, None, true),
            BinaryOp::Pow => (l.powf(r), None, true),
            BinaryOp::Mod => (go_mod(l, r), None, true),
            BinaryOp::Eql => (l, None, l == r),
            BinaryOp::Neq => (l, None, l != r),
            BinaryOp::Gtr => (l, None, l > r),
            BinaryOp::Lss => (l, None, l < r),
            BinaryOp::Gte => (l, None, l >= r),
            BinaryOp::Lte => (l, None, l <= r),
            BinaryOp::Atan2 => (l.atan2(r), None, true),
            _ => {
                incompatible("float", op, "float", pos, annos);
                return None;
            }
        }),
        (None, Some(h)) => {
            if op == BinaryOp::Mul {
                Some((0.0, Some(Arc::new(hist::compact(&hist::scale(h, l)))), true))
            } else {
                incompatible("float", op, "histogram", pos, annos);
                None
            }
        }
        (Some(h), None) => match op {
            BinaryOp::Mul => Some((0.0, Some(Arc::new(hist::compact(&hist::scale(h, r)))), true)),
            BinaryOp::Div => Some((0.0, Some(Arc::new(hist::compact(&hist::div(h, r)))), true)),
            BinaryOp::TrimUpper => Some((0.0, Some(Arc::new(hist::trim(h, r, true))), true)),
            BinaryOp::TrimLower => Some((0.0, Some(Arc::new(hist::trim(h, r, false))), true)),
            _ => {
                incompatible("histogram", op, "float", pos, annos);
                None
            }
        },
        (Some(a), Some(b)) => match op {
            BinaryOp::Add | BinaryOp::Sub => {
                let res = if op == BinaryOp::Add {
                    hist::add(a, b)
                } else {
                    hist::sub(a, b)
                };
                match res {
                    Ok(out) => {
                        let operation = if op == BinaryOp::Add {
                            "addition"
                        } else {
                            "subtraction"
                        };
                        if out.reconciled {
                            annos.info(
                                format!(
                                    "mismatched custom buckets were reconciled during {operation}"
                                ),
                                pos,
                            );
                        }
                        if out.collision {
                            annos.warn(
                                format!("conflicting counter resets during histogram {operation}"),
                                pos,
                            );
                        }
                        let mut h = out.h;
                        if op == BinaryOp::Sub {
                            h.counter_reset_hint = promlite_model::CounterResetHint::Gauge;
                        }
                        Some((0.0, Some(Arc::new(hist::compact(&h))), true))
                    }
                    Err(()) => {
                        annos.warn(
                            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name \"\"",
                            pos,
                        );
                        None
                    }
                }
            }
            BinaryOp::Eql => Some((0.0, Some(Arc::new(a.clone())), hist::equals(a, b))),
            BinaryOp::Neq => Some((0.0, Some(Arc::new(a.clone())), !hist::equals(a, b))),
            _ => {
                incompatible("histogram", op, "histogram", pos, annos);
                None
            }
        },
    }
}
