//! Function calls: the range-vector functions (`rate`, `*_over_time`, …), evaluated per
//! series over all steps in one pass with sliding windows, and the instant-vector
//! functions, evaluated per step. Each follows Prometheus's `functions.go`, including
//! its float quirks (Kahan sums, the extrapolation rules of `rate`, the monotonicity fix
//! of `histogram_quantile`).

use hashbrown::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use promlite_model::{CounterResetHint, FloatHistogram, Labels, LabelsBuilder, METRIC_NAME};

use crate::aggr::{go_v, kahan_inc, quantile};
use crate::ast::{Call, Expr, PosRange};
use crate::engine::{
    Evaluator, Loaded, Pick, Window, Windows, absent_labels, merge_same_labelset, push_float,
    push_sample, step_refs,
};
use crate::eval_error::EvalError;
use crate::extended;
use crate::hist;
use crate::stats::SampleCounts;
use crate::value::{AnnotationKind, Annotations, FPoint, Matrix, Sample, Series, Vector};

pub(crate) type Out = Option<(f64, Option<Arc<FloatHistogram>>)>;

/// What a range function sees at one step.
pub(crate) struct RangeCtx<'a> {
    /// The step's evaluation time.
    ts: i64,
    /// End of the window (`ts - offset`, or the `@` time).
    pub(crate) ref_t: i64,
    pub(crate) range: i64,
    /// `range` in seconds (`range as f64 / 1000.0`), computed once per series.
    range_secs: f64,
    /// Values of the scalar arguments at every step, in argument order (see
    /// [`RangeCtx::param`]).
    params: &'a [Vec<f64>],
    /// Index of the step, into each of `params`.
    step: usize,
    /// Position of the range argument (annotations point at it).
    pub(crate) pos: PosRange,
    pub(crate) annos: &'a mut Annotations,
    /// The range selector is `anchored`: its window reaches one lookback delta further
    /// back (see `extended.rs`).
    pub(crate) anchored: bool,
    /// The range selector is `smoothed`: its window reaches one lookback delta further
    /// on both sides.
    pub(crate) smoothed: bool,
    /// For `rate` and `increase` over a series without start times: the index `i` of every
    /// float sample followed by a smaller one (a counter reset between `i` and `i + 1`),
    /// over the whole series (see [`Window::float_off`]).
    pub(crate) resets: Option<&'a [usize]>,
    /// Index into `resets` of the first reset at or after the previous window's start:
    /// windows move forward, so each step continues from there instead of searching.
    reset_cursor: usize,
    /// Scratch space for the values of a window (`quantile_over_time`, `mad_over_time`),
    /// reused from step to step instead of allocated at each.
    values: Vec<f64>,
}

/// The indices of float samples followed by a smaller value: where `rate` finds counter
/// resets. Computed once per series, so that each step's window only visits the resets
/// inside it instead of comparing every pair of samples again; windows overlap when the
/// range is longer than the step, so that scan used to repeat range/step times.
///
/// Counters rarely reset, so blocks of pairs are first checked for any reset with a
/// branch-free fold (which the compiler vectorizes), and only blocks with one are walked
/// pair by pair: about 4 instructions per sample against 8 for the walk alone
/// (callgrind), a tenth of a range query's `rate` without resets.
fn counter_resets(floats: &[FPoint], out: &mut Vec<usize>) {
    /// Pairs checked at once.
    const BLOCK: usize = 256;
    out.clear();
    let mut start = 0;
    while start + 1 < floats.len() {
        let block = &floats[start..floats.len().min(start + BLOCK + 1)];
        // `|`, not `||`: a branch per pair would keep the fold from being vectorized.
        #[allow(clippy::needless_bitwise_bool)]
        let any = block
            .windows(2)
            .fold(false, |any, pair| any | (pair[1].f < pair[0].f));
        if any {
            for (i, pair) in block.windows(2).enumerate() {
                if pair[1].f < pair[0].f {
                    out.push(start + i);
                }
            }
        }
        start += block.len() - 1;
    }
}

fn metric_name(l: &Labels) -> String {
    l.metric_name().unwrap_or("").to_owned()
}

pub(crate) fn mixed_warning(w: &Window<'_>, c: &mut RangeCtx<'_>) {
    c.annos.warn(
        format!(
            "encountered a mix of histograms and floats for metric name {}",
            promlite_model::go_quote(&metric_name(w.metric))
        ),
        c.pos,
    );
}

fn ignored_hist_info(w: &Window<'_>, c: &mut RangeCtx<'_>) {
    c.annos.info(
        format!(
            "ignored histograms in a range containing both floats and histograms for metric name {}",
            promlite_model::go_quote(&metric_name(w.metric))
        ),
        c.pos,
    );
}

pub(crate) fn not_counter(w: &Window<'_>, c: &mut RangeCtx<'_>) {
    c.annos.warn(
        format!(
            "this native histogram metric is not a counter: {}",
            promlite_model::go_quote(&metric_name(w.metric))
        ),
        c.pos,
    );
}

pub(crate) fn not_gauge(w: &Window<'_>, c: &mut RangeCtx<'_>) {
    c.annos.warn(
        format!(
            "this native histogram metric is not a gauge: {}",
            promlite_model::go_quote(&metric_name(w.metric))
        ),
        c.pos,
    );
}

/// `a + b` or `a - b` with Prometheus's annotations for reconciled custom buckets and
/// incompatible schemas.
pub(crate) fn combine(
    a: &FloatHistogram,
    b: &FloatHistogram,
    add: bool,
    w: &Window<'_>,
    c: &mut RangeCtx<'_>,
) -> Option<FloatHistogram> {
    let r = if add {
        hist::add(a, b)
    } else {
        hist::sub(a, b)
    };
    match r {
        Ok(r) => {
            if r.reconciled {
                let op = if add { "addition" } else { "subtraction" };
                c.annos.info(
                    format!("mismatched custom buckets were reconciled during {op}"),
                    c.pos,
                );
            }
            Some(r.h)
        }
        Err(()) => {
            mixed_schema(w, c);
            None
        }
    }
}

pub(crate) fn mixed_schema(w: &Window<'_>, c: &mut RangeCtx<'_>) {
    c.annos.warn(
        format!(
            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
            promlite_model::go_quote(&metric_name(w.metric))
        ),
        c.pos,
    );
}

#[allow(clippy::unnecessary_wraps)] // Every range function returns an `Out`.
fn float(f: f64) -> Out {
    Some((f, None))
}

#[allow(clippy::unnecessary_wraps)] // Every range function returns an `Out`.
fn histo(h: FloatHistogram) -> Out {
    Some((0.0, Some(Arc::new(h))))
}

fn histogram_rate(
    w: &Window<'_>,
    c: &mut RangeCtx<'_>,
    is_counter: bool,
) -> Option<FloatHistogram> {
    let points = w.hists;
    let mut prev: FloatHistogram = (*points[0].h).clone();
    let mut custom = prev.uses_custom_buckets();
    let last = &points[points.len() - 1].h;
    if is_counter
        && (prev.counter_reset_hint == CounterResetHint::Gauge
            || last.counter_reset_hint == CounterResetHint::Gauge)
    {
        not_counter(w, c);
    }
    let (ts, sts) = (|i: usize| points[i].t, w.hist_sts);
    if is_counter {
        let second = &points[1].h;
        if (sts.len() > 1 && st_reset(sts[0], ts(0), sts[1], ts(1)))
            || hist::detect_reset(second, &prev)
        {
            prev = FloatHistogram {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..FloatHistogram::default()
            };
            custom = second.uses_custom_buckets();
        }
    }
    if last.uses_custom_buckets() != custom {
        mixed_schema(w, c);
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    for p in &points[1..points.len() - 1] {
        if !is_counter {
            continue;
        }
        if p.h.counter_reset_hint == CounterResetHint::Gauge {
            not_counter(w, c);
        }
        min_schema = min_schema.min(p.h.schema);
        if p.h.uses_custom_buckets() != custom {
            mixed_schema(w, c);
            return None;
        }
    }
    let mut h = combine(&to_schema(last, min_schema), &prev, false, w, c)?;
    if is_counter {
        warn_st_overlap(w, c, ts, sts);
        let mut prev_h: &FloatHistogram = &prev;
        for (i, p) in points.iter().enumerate().skip(1) {
            if (i < sts.len() && st_reset(sts[i - 1], ts(i - 1), sts[i], ts(i)))
                || hist::detect_reset(&p.h, prev_h)
            {
                h = combine(&h, prev_h, true, w, c)?;
            }
            prev_h = &p.h;
        }
    } else if points[0].h.counter_reset_hint != CounterResetHint::Gauge
        || last.counter_reset_hint != CounterResetHint::Gauge
    {
        not_gauge(w, c);
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Some(hist::compact(&h))
}

fn to_schema(h: &FloatHistogram, schema: i32) -> FloatHistogram {
    if h.schema <= schema || h.uses_custom_buckets() {
        return h.clone();
    }
    // Adding an empty histogram of the target schema reduces the resolution.
    let empty = FloatHistogram {
        schema,
        zero_threshold: h.zero_threshold,
        counter_reset_hint: h.counter_reset_hint,
        ..FloatHistogram::default()
    };
    hist::add(h, &empty).map_or_else(|()| h.clone(), |r| r.h)
}

/// Whether a sample's start time says its counter was reset since the previous sample
/// (Prometheus's `isStartTimestampReset`): the start lies after the previous sample, or
/// on it for a delta series (whose previous sample has a start time of its own). An
/// unknown start (0), one at or after the sample (OpenTelemetry's "unknown start") or
/// one before the previous sample is no reset.
pub(crate) fn st_reset(prev_st: i64, prev_t: i64, st: i64, t: i64) -> bool {
    if st == 0 || st >= t || st < prev_t {
        return false;
    }
    if st > prev_t {
        return true;
    }
    // The start is the previous sample's time: a delta, or a cumulative series with
    // an unknown start (then the previous start is unknown, or invalid).
    prev_st <= prev_t && prev_st != 0 && prev_st != prev_t
}

/// The start time of sample `i` (0, unknown, when the series has none).
pub(crate) fn st_at(sts: &[i64], i: usize) -> i64 {
    sts.get(i).copied().unwrap_or(0)
}

/// Whether `i`'s start time points before sample `i - 1` without being the same start
/// (Prometheus's `checkStartTimeOverlap`).
fn st_overlap(prev_st: i64, prev_t: i64, st: i64) -> bool {
    st != 0 && st < prev_t && st != prev_st
}

/// Prometheus's once-per-series warning for samples whose start times overlap.
fn warn_st_overlap(w: &Window<'_>, c: &mut RangeCtx<'_>, ts: impl Fn(usize) -> i64, sts: &[i64]) {
    if (1..sts.len()).any(|i| st_overlap(sts[i - 1], ts(i - 1), sts[i])) {
        c.annos.warn(
            format!(
                "sample has start time that overlaps with previous sample timestamp for metric {}",
                promlite_model::go_quote(&metric_name(w.metric))
            ),
            c.pos,
        );
    }
}

/// `result` plus the value before each counter reset of `floats` (the samples from index
/// `off` of a series whose resets are `resets`, see [`counter_resets`]), added in sample
/// order: the same additions in the same order as the scan of every pair of samples, so
/// the same sum. `cursor` is where the previous (earlier or same) window's resets began.
#[inline]
fn add_resets(
    mut result: f64,
    floats: &[FPoint],
    off: usize,
    resets: &[usize],
    cursor: &mut usize,
) -> f64 {
    let (lo, hi) = (off, off + floats.len().saturating_sub(1));
    let mut k = *cursor;
    if k > resets.len() || (k > 0 && resets[k - 1] >= lo) {
        // A window that moved back (never for increasing steps): search from scratch.
        k = resets.partition_point(|&i| i < lo);
    } else {
        while k < resets.len() && resets[k] < lo {
            k += 1;
        }
    }
    *cursor = k;
    for &i in resets[k..].iter().take_while(|&&i| i < hi) {
        result += floats[i - lo].f;
    }
    result
}

/// [`extrapolated_rate`] of a window of floats without start times (and without
/// histograms, which take no annotation either): the common case of `rate`, `increase`
/// and `delta`, without the `Window` and `RangeCtx` of the general function. `resets`
/// are the series' counter resets with the cursor of [`add_resets`], for counters only.
#[allow(clippy::too_many_arguments)] // The parts of `RangeCtx` it reads, kept apart.
#[inline]
fn float_rate(
    floats: &[FPoint],
    off: usize,
    resets: Option<(&[usize], &mut usize)>,
    ref_t: i64,
    range: i64,
    range_secs: f64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let range_start = ref_t - range;
    let range_end = ref_t;
    let n_minus_one = floats.len().checked_sub(1).filter(|&n| n > 0)?;
    let (first, last) = (floats[0], floats[n_minus_one]);
    let mut result = last.f - first.f;
    if is_counter {
        match resets {
            Some((resets, cursor)) => result = add_resets(result, floats, off, resets, cursor),
            None => {
                for pair in floats.windows(2) {
                    if pair[1].f < pair[0].f {
                        result += pair[0].f;
                    }
                }
            }
        }
    }
    let to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / n_minus_one as f64;
    let threshold = avg * 1.1;
    let to_zero =
        (is_counter && result > 0.0 && first.f >= 0.0).then(|| sampled * (first.f / result));
    let to_start = start_gap(
        (first.t - range_start) as f64 / 1000.0,
        threshold,
        avg,
        to_zero,
    );
    let factor = extrapolation(
        sampled,
        to_start,
        to_end,
        threshold,
        avg,
        is_rate.then_some(range_secs),
    );
    Some(result * factor)
}

/// What [`float_rate_steps`] reads besides the windows: the parts of the call and the
/// series that are the same at every step.
struct FloatRate<'a> {
    /// The series' samples.
    floats: &'a [FPoint],
    /// The end of each step's window.
    refs: &'a [i64],
    /// The series' counter resets (see [`counter_resets`]), for `rate` and `increase`.
    resets: Option<&'a [usize]>,
    /// The time of the first step.
    start: i64,
    /// The time between steps.
    interval: i64,
    /// The range of the window, in milliseconds and in seconds.
    range: i64,
    range_secs: f64,
    /// `rate` or `increase` (else `delta`).
    is_counter: bool,
    /// `rate`.
    is_rate: bool,
    /// The query's step count (see [`push_float`]).
    steps: usize,
}

/// `rate`, `increase` or `delta` ([`float_rate`]) at every step of a float series without
/// histograms or start times, pushed to `s`; returns the most samples in one window.
/// A function of its own, not a branch of the per-series loop: here the windows'
/// cursors stay in registers, where in the larger loop they were kept in memory.
fn float_rate_steps(
    mut windows: Windows<'_, '_>,
    a: &FloatRate<'_>,
    s: &mut Series,
    counts: &mut SampleCounts,
) -> usize {
    let mut cursor = 0;
    let mut window_samples = 0;
    let mut step = 0;
    while let Some((fr, _)) = windows.next_bounds() {
        step += 1;
        if fr.is_empty() {
            continue;
        }
        let step = step - 1;
        window_samples = window_samples.max(fr.len());
        counts.add(step, fr.len());
        let off = fr.start;
        let rate = float_rate(
            &a.floats[fr],
            off,
            a.resets.map(|r| (r, &mut cursor)),
            a.refs[step],
            a.range,
            a.range_secs,
            a.is_counter,
            a.is_rate,
        );
        if let Some(f) = rate {
            push_float(s, a.start + step as i64 * a.interval, f, a.steps);
        }
    }
    window_samples
}

/// How far [`extrapolation`] reaches before the window's first sample, from `to_start`,
/// the gap to the range's start: half the average interval `avg` when the gap exceeds
/// `threshold`, and no further than `to_zero`, where a counter would have been zero.
/// Shared by [`float_rate`] and [`extrapolated_rate`].
#[inline]
fn start_gap(to_start: f64, threshold: f64, avg: f64, to_zero: Option<f64>) -> f64 {
    let to_start = if to_start >= threshold {
        avg / 2.0
    } else {
        to_start
    };
    match to_zero {
        Some(z) if z < to_start => z,
        _ => to_start,
    }
}

/// The factor that extrapolates a window's change to its whole range, shared by
/// [`float_rate`] and [`extrapolated_rate`] so that both compute it alike: the samples
/// cover `sampled` seconds, `to_start` (already limited) and `to_end` lie between them
/// and the range's ends, `to_end` shrinks to half the average interval `avg` when it
/// exceeds `threshold`, and a rate divides by the range (`per_second`, in seconds).
#[inline]
fn extrapolation(
    sampled: f64,
    to_start: f64,
    mut to_end: f64,
    threshold: f64,
    avg: f64,
    per_second: Option<f64>,
) -> f64 {
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = if sampled == 0.0 {
        1.0
    } else {
        (sampled + to_start + to_end) / sampled
    };
    if let Some(range_secs) = per_second {
        factor /= range_secs;
    }
    factor
}

fn extrapolated_rate(w: &Window<'_>, c: &mut RangeCtx<'_>, is_counter: bool, is_rate: bool) -> Out {
    let range_start = c.ref_t - c.range;
    let range_end = c.ref_t;
    if !w.hists.is_empty() && !w.floats.is_empty() {
        mixed_warning(w, c);
        return None;
    }
    let (first_t, last_t, n_minus_one, sts);
    let mut result_f = 0.0;
    let mut result_h: Option<FloatHistogram> = None;
    if !w.hists.is_empty() {
        n_minus_one = w.hists.len() - 1;
        first_t = w.hists[0].t;
        last_t = w.hists[n_minus_one].t;
        sts = w.hist_sts;
        if n_minus_one > 0 {
            result_h = Some(histogram_rate(w, c, is_counter)?);
        }
    } else if !w.floats.is_empty() {
        n_minus_one = w.floats.len() - 1;
        first_t = w.floats[0].t;
        last_t = w.floats[n_minus_one].t;
        sts = w.float_sts;
        result_f = w.floats[n_minus_one].f - w.floats[0].f;
        if let Some(resets) = c.resets.filter(|_| is_counter && sts.is_empty()) {
            result_f = add_resets(result_f, w.floats, w.float_off, resets, &mut c.reset_cursor);
        } else if is_counter {
            warn_st_overlap(w, c, |i| w.floats[i].t, sts);
            for (i, pair) in w.floats.windows(2).enumerate() {
                if pair[1].f < pair[0].f
                    || (i + 1 < sts.len() && st_reset(sts[i], pair[0].t, sts[i + 1], pair[1].t))
                {
                    result_f += pair[0].f;
                }
            }
        }
    } else {
        return None;
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let to_end = (range_end - last_t) as f64 / 1000.0;
    let mut sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = if n_minus_one > 0 {
        sampled / n_minus_one as f64
    } else {
        0.0
    };
    let threshold = avg * 1.1;
    if is_counter
        && sts
            .first()
            .is_some_and(|&st| st != 0 && st > range_start && st < first_t)
    {
        // The first sample's count began inside the range: assume a zero sample at its
        // start time instead of extrapolating to the left. (With one sample, there is no
        // average interval, so no extrapolation to the right either.)
        to_start = 0.0;
        sampled = (last_t - sts[0]) as f64 / 1000.0;
        if let Some(first) = w.floats.first() {
            result_f += first.f;
        } else {
            let first = &w.hists[0].h;
            result_h = match result_h {
                None => Some((**first).clone()),
                Some(h) => Some(combine(&h, first, true, w, c)?),
            };
        }
    } else if n_minus_one == 0 {
        return None;
    } else {
        let to_zero = if !is_counter {
            None
        } else if result_f > 0.0 && !w.floats.is_empty() && w.floats[0].f >= 0.0 {
            Some(sampled * (w.floats[0].f / result_f))
        } else if let Some(h) = &result_h
            && h.count > 0.0
            && !w.hists.is_empty()
            && w.hists[0].h.count >= 0.0
        {
            Some(sampled * (w.hists[0].h.count / h.count))
        } else {
            None
        };
        to_start = start_gap(to_start, threshold, avg, to_zero);
    }
    let factor = extrapolation(
        sampled,
        to_start,
        to_end,
        threshold,
        avg,
        is_rate.then_some(c.range_secs),
    );
    match result_h {
        Some(h) => histo(hist::scale(&h, factor)),
        None => float(result_f * factor),
    }
}

fn instant_value(w: &Window<'_>, c: &mut RangeCtx<'_>, is_rate: bool) -> Out {
    if w.floats.len() + w.hists.len() < 2 {
        return None;
    }
    // The last two samples, whatever their kind, from the last two of each kind (in an
    // array: a `Vec` here was an allocation per step).
    // (t, value, histogram, start time)
    let mut buf: [(i64, f64, Option<&Arc<FloatHistogram>>, i64); 4] = [(0, 0.0, None, 0); 4];
    let mut n = 0;
    for i in w.floats.len().saturating_sub(2)..w.floats.len() {
        let p = &w.floats[i];
        buf[n] = (p.t, p.f, None, st_at(w.float_sts, i));
        n += 1;
    }
    for i in w.hists.len().saturating_sub(2)..w.hists.len() {
        let p = &w.hists[i];
        buf[n] = (p.t, 0.0, Some(&p.h), st_at(w.hist_sts, i));
        n += 1;
    }
    let ss = &mut buf[..n];
    ss.sort_by_key(|s| s.0);
    let ss = &ss[n - 2..];
    let (a, b) = (ss[0], ss[1]);
    let reset_by_st = st_reset(a.3, a.0, b.3, b.0);
    let interval = b.0 - a.0;
    if interval == 0 {
        return None;
    }
    let mut out_f = b.1;
    let mut out_h: Option<FloatHistogram> = None;
    match (a.2, b.2) {
        (None, None) => {
            if !is_rate || ((b.1 >= a.1 || b.1.is_nan() || a.1.is_nan()) && !reset_by_st) {
                out_f = b.1 - a.1;
            }
        }
        (Some(ha), Some(hb)) => {
            if is_rate
                && (hb.counter_reset_hint == CounterResetHint::Gauge
                    || ha.counter_reset_hint == CounterResetHint::Gauge)
            {
                not_counter(w, c);
            }
            if !is_rate
                && (hb.counter_reset_hint != CounterResetHint::Gauge
                    || ha.counter_reset_hint != CounterResetHint::Gauge)
            {
                not_gauge(w, c);
            }
            let mut h = if !is_rate || (!reset_by_st && !hist::detect_reset(hb, ha)) {
                combine(hb, ha, false, w, c)?
            } else {
                (**hb).clone()
            };
            h.counter_reset_hint = CounterResetHint::Gauge;
            out_h = Some(hist::compact(&h));
        }
        _ => {
            mixed_warning(w, c);
            return None;
        }
    }
    if is_rate {
        let secs = interval as f64 / 1000.0;
        match &mut out_h {
            Some(h) => *h = hist::div(h, secs),
            None => out_f /= secs,
        }
    }
    match out_h {
        Some(h) => histo(h),
        None => float(out_f),
    }
}

fn linear_regression(samples: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.f, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.f, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn floats_only<'w>(w: &Window<'w>, c: &mut RangeCtx<'_>) -> Option<&'w [FPoint]> {
    if w.floats.is_empty() {
        return None;
    }
    if !w.hists.is_empty() {
        ignored_hist_info(w, c);
    }
    Some(w.floats)
}

fn hist_sum_or_avg(w: &Window<'_>, c: &mut RangeCtx<'_>, avg: bool) -> Out {
    let mut reset = false;
    let mut not_reset = false;
    let track =
        |h: &FloatHistogram, reset: &mut bool, not_reset: &mut bool| match h.counter_reset_hint {
            CounterResetHint::CounterReset => *reset = true,
            CounterResetHint::NotCounterReset => *not_reset = true,
            _ => {}
        };
    let mut acc = hist::KahanSum::new(&w.hists[0].h);
    let mut incremental = false;
    track(&w.hists[0].h, &mut reset, &mut not_reset);
    for (i, p) in w.hists.iter().enumerate().skip(1) {
        track(&p.h, &mut reset, &mut not_reset);
        let added = if avg {
            acc.add_for_mean(&p.h, (i + 1) as f64, &mut incremental)
        } else {
            acc.add(&p.h)
        };
        match added {
            Ok(reconciled) => {
                if reconciled {
                    c.annos.info(
                        "mismatched custom buckets were reconciled during aggregation",
                        c.pos,
                    );
                }
            }
            Err(()) => {
                mixed_schema(w, c);
                return None;
            }
        }
    }
    let sum = if avg {
        acc.mean(w.hists.len() as f64, incremental)
    } else {
        acc.total()
    };
    if reset && not_reset {
        c.annos.warn(
            "conflicting counter resets during histogram aggregation",
            c.pos,
        );
    }
    histo(hist::compact(&sum))
}

/// A range-vector function, resolved from its name once per call rather than at each of
/// a series' steps (the string comparisons showed up in profiles of range queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    DoubleExponentialSmoothing,
    AvgOverTime,
    SumOverTime,
    CountOverTime,
    PresentOverTime,
    AbsentOverTime,
    LastOverTime,
    FirstOverTime,
    TsOfLastOverTime,
    TsOfFirstOverTime,
    MaxOverTime,
    MinOverTime,
    TsOfMaxOverTime,
    TsOfMinOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    MadOverTime,
    Changes,
    Resets,
}

impl RangeFn {
    /// Every range function with its PromQL name.
    const ALL: [(&'static str, RangeFn); 27] = [
        ("rate", RangeFn::Rate),
        ("increase", RangeFn::Increase),
        ("delta", RangeFn::Delta),
        ("irate", RangeFn::Irate),
        ("idelta", RangeFn::Idelta),
        ("deriv", RangeFn::Deriv),
        ("predict_linear", RangeFn::PredictLinear),
        (
            "double_exponential_smoothing",
            RangeFn::DoubleExponentialSmoothing,
        ),
        ("avg_over_time", RangeFn::AvgOverTime),
        ("sum_over_time", RangeFn::SumOverTime),
        ("count_over_time", RangeFn::CountOverTime),
        ("present_over_time", RangeFn::PresentOverTime),
        ("absent_over_time", RangeFn::AbsentOverTime),
        ("last_over_time", RangeFn::LastOverTime),
        ("first_over_time", RangeFn::FirstOverTime),
        ("ts_of_last_over_time", RangeFn::TsOfLastOverTime),
        ("ts_of_first_over_time", RangeFn::TsOfFirstOverTime),
        ("max_over_time", RangeFn::MaxOverTime),
        ("min_over_time", RangeFn::MinOverTime),
        ("ts_of_max_over_time", RangeFn::TsOfMaxOverTime),
        ("ts_of_min_over_time", RangeFn::TsOfMinOverTime),
        ("stddev_over_time", RangeFn::StddevOverTime),
        ("stdvar_over_time", RangeFn::StdvarOverTime),
        ("quantile_over_time", RangeFn::QuantileOverTime),
        ("mad_over_time", RangeFn::MadOverTime),
        ("changes", RangeFn::Changes),
        ("resets", RangeFn::Resets),
    ];

    /// The range function called `name`, if it is one.
    pub(crate) fn of(name: &str) -> Option<RangeFn> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }
}

/// Range function `f` over one step's window, which holds at least one sample.
///
/// Not inlined: in the per-series loop, the functions' own per-sample loops came out
/// up to 5 % slower or faster (callgrind) with unrelated edits to that loop; a call per
/// window costs less than that.
#[inline(never)]
fn range_fn(f: RangeFn, w: &Window<'_>, c: &mut RangeCtx<'_>) -> Result<Out, EvalError> {
    use RangeFn as F;
    Ok(match f {
        F::Rate | F::Increase | F::Delta if c.anchored || c.smoothed => {
            extended::rate(w, c, f != F::Delta, f == F::Rate)
        }
        F::Rate => extrapolated_rate(w, c, true, true),
        F::Increase => extrapolated_rate(w, c, true, false),
        F::Delta => extrapolated_rate(w, c, false, false),
        F::Irate => instant_value(w, c, true),
        F::Idelta => instant_value(w, c, false),
        F::Deriv => {
            if w.floats.len() < 2 {
                if w.floats.len() == 1 && !w.hists.is_empty() {
                    ignored_hist_info(w, c);
                }
                return Ok(None);
            }
            if !w.hists.is_empty() {
                ignored_hist_info(w, c);
            }
            float(linear_regression(w.floats, w.floats[0].t).0)
        }
        F::PredictLinear => {
            if w.floats.len() < 2 {
                if w.floats.len() == 1 && !w.hists.is_empty() {
                    ignored_hist_info(w, c);
                }
                return Ok(None);
            }
            if !w.hists.is_empty() {
                ignored_hist_info(w, c);
            }
            let (slope, icpt) = linear_regression(w.floats, c.ts);
            float(slope * c.param(0) + icpt)
        }
        F::DoubleExponentialSmoothing => {
            let (sf, tf) = (c.param(0), c.param(1));
            if sf <= 0.0 || sf >= 1.0 {
                return Err(EvalError::msg(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                    crate::go::format_f6(sf)
                )));
            }
            if tf <= 0.0 || tf >= 1.0 {
                return Err(EvalError::msg(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                    crate::go::format_f6(tf)
                )));
            }
            let l = w.floats.len();
            if l < 2 {
                if l == 1 && !w.hists.is_empty() {
                    ignored_hist_info(w, c);
                }
                return Ok(None);
            }
            let fl = w.floats;
            let (mut s0, mut s1, mut b) = (0.0, fl[0].f, fl[1].f - fl[0].f);
            for (i, p) in fl.iter().enumerate().skip(1) {
                let x = sf * p.f;
                b = if i == 1 {
                    b
                } else {
                    tf * (s1 - s0) + (1.0 - tf) * b
                };
                let y = (1.0 - sf) * (s1 + b);
                s0 = s1;
                s1 = x + y;
            }
            if !w.hists.is_empty() {
                ignored_hist_info(w, c);
            }
            float(s1)
        }
        F::AvgOverTime | F::SumOverTime => {
            let avg = f == F::AvgOverTime;
            if !w.floats.is_empty() && !w.hists.is_empty() {
                mixed_warning(w, c);
                return Ok(None);
            }
            if w.floats.is_empty() {
                if w.hists.is_empty() {
                    return Ok(None);
                }
                return Ok(hist_sum_or_avg(w, c, avg));
            }
            if avg {
                let fl = w.floats;
                let (mut sum, mut count, mut mean, mut kc) = (fl[0].f, 1.0, 0.0, 0.0);
                let mut incremental = false;
                for (i, p) in fl.iter().enumerate().skip(1) {
                    count = (i + 1) as f64;
                    if !incremental {
                        let (ns, nc) = kahan_inc(p.f, sum, kc);
                        if !ns.is_infinite() {
                            sum = ns;
                            kc = nc;
                            continue;
                        }
                        incremental = true;
                        mean = sum / (count - 1.0);
                        kc /= count - 1.0;
                    }
                    let q = (count - 1.0) / count;
                    (mean, kc) = kahan_inc(p.f / count, q * mean, q * kc);
                }
                if incremental {
                    float(mean + kc)
                } else {
                    float(sum / count + kc / count)
                }
            } else {
                let (mut sum, mut kc) = (0.0, 0.0);
                for p in w.floats {
                    (sum, kc) = kahan_inc(p.f, sum, kc);
                }
                if sum.is_infinite() {
                    float(sum)
                } else {
                    float(sum + kc)
                }
            }
        }
        F::CountOverTime => {
            if w.floats.is_empty() && w.hists.is_empty() {
                return Ok(None);
            }
            float((w.floats.len() + w.hists.len()) as f64)
        }
        F::PresentOverTime | F::AbsentOverTime => {
            if w.floats.is_empty() && w.hists.is_empty() {
                return Ok(None);
            }
            float(1.0)
        }
        F::LastOverTime => {
            let f = w.floats.last();
            let h = w.hists.last();
            match (f, h) {
                (Some(f), Some(h)) if h.t < f.t => float(f.f),
                (Some(f), None) => float(f.f),
                (_, Some(h)) => Some((0.0, Some(h.h.clone()))),
                (None, None) => None,
            }
        }
        F::FirstOverTime => {
            let f = w.floats.first();
            let h = w.hists.first();
            match (f, h) {
                (Some(f), Some(h)) if f.t < h.t => float(f.f),
                (Some(f), None) => float(f.f),
                (_, Some(h)) => Some((0.0, Some(h.h.clone()))),
                (None, None) => None,
            }
        }
        F::TsOfLastOverTime => {
            if w.floats.is_empty() && w.hists.is_empty() {
                return Ok(None);
            }
            let tf = w.floats.last().map_or(0, |p| p.t);
            let th = w.hists.last().map_or(0, |p| p.t);
            float(tf.max(th) as f64 / 1000.0)
        }
        F::TsOfFirstOverTime => {
            if w.floats.is_empty() && w.hists.is_empty() {
                return Ok(None);
            }
            let tf = w.floats.first().map_or(i64::MAX, |p| p.t);
            let th = w.hists.first().map_or(i64::MAX, |p| p.t);
            float(tf.min(th) as f64 / 1000.0)
        }
        F::MaxOverTime | F::MinOverTime | F::TsOfMaxOverTime | F::TsOfMinOverTime => {
            let Some(fl) = floats_only(w, c) else {
                return Ok(None);
            };
            let is_max = matches!(f, F::MaxOverTime | F::TsOfMaxOverTime);
            let ts = matches!(f, F::TsOfMaxOverTime | F::TsOfMinOverTime);
            let (mut best, mut best_t) = (fl[0].f, fl[0].t);
            for p in fl {
                let better = if ts {
                    if is_max { p.f >= best } else { p.f <= best }
                } else if is_max {
                    p.f > best
                } else {
                    p.f < best
                };
                if better || best.is_nan() {
                    best = p.f;
                    best_t = p.t;
                }
            }
            if ts {
                float(best_t as f64 / 1000.0)
            } else {
                float(best)
            }
        }
        F::StddevOverTime | F::StdvarOverTime => {
            let Some(fl) = floats_only(w, c) else {
                return Ok(None);
            };
            let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for p in fl {
                count += 1.0;
                let delta = p.f - (mean + cm);
                (mean, cm) = kahan_inc(delta / count, mean, cm);
                (aux, ca) = kahan_inc(delta * (p.f - (mean + cm)), aux, ca);
            }
            let var = (aux + ca) / count;
            if f == F::StddevOverTime {
                float(var.sqrt())
            } else {
                float(var)
            }
        }
        F::QuantileOverTime => {
            let q = c.param(0);
            if w.floats.is_empty() {
                return Ok(None);
            }
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                c.annos.warn(
                    format!("quantile value should be between 0 and 1, got {}", go_v(q)),
                    c.param_pos(),
                );
            }
            if !w.hists.is_empty() {
                ignored_hist_info(w, c);
            }
            let mut v = std::mem::take(&mut c.values);
            v.clear();
            v.extend(w.floats.iter().map(|p| p.f));
            let r = quantile(q, &mut v);
            c.values = v;
            float(r)
        }
        F::MadOverTime => {
            let Some(fl) = floats_only(w, c) else {
                return Ok(None);
            };
            if fl.iter().any(|p| p.f.is_nan()) {
                return Ok(float(f64::NAN));
            }
            let mut v = std::mem::take(&mut c.values);
            v.clear();
            v.extend(fl.iter().map(|p| p.f));
            let median = quantile(0.5, &mut v);
            for x in &mut v {
                *x = (*x - median).abs();
            }
            let r = quantile(0.5, &mut v);
            c.values = v;
            float(r)
        }
        F::Changes | F::Resets => {
            if w.floats.is_empty() && w.hists.is_empty() {
                return Ok(None);
            }
            let (mut fi, mut hi) = (0, 0);
            if c.anchored {
                match extended::anchored_starts(w, c.ref_t - c.range) {
                    Some(s) => (fi, hi) = s,
                    None => return Ok(None),
                }
            }
            let mut n = 0usize;
            // (value, histogram, t, start time)
            let mut prev: Option<(f64, Option<&Arc<FloatHistogram>>, i64, i64)> = None;
            while fi < w.floats.len() || hi < w.hists.len() {
                let cur = if hi >= w.hists.len()
                    || (fi < w.floats.len() && w.floats[fi].t < w.hists[hi].t)
                {
                    fi += 1;
                    let p = &w.floats[fi - 1];
                    (p.f, None, p.t, st_at(w.float_sts, fi - 1))
                } else {
                    hi += 1;
                    let p = &w.hists[hi - 1];
                    (0.0, Some(&p.h), p.t, st_at(w.hist_sts, hi - 1))
                };
                if let Some(p) = prev {
                    let reset_by_st = || f == F::Resets && st_reset(p.3, p.2, cur.3, cur.2);
                    let hit = match (p.1, cur.1) {
                        (None, None) => {
                            if f == F::Changes {
                                cur.0 != p.0 && !(cur.0.is_nan() && p.0.is_nan())
                            } else {
                                cur.0 < p.0 || reset_by_st()
                            }
                        }
                        (Some(a), Some(b)) => {
                            if f == F::Changes {
                                !hist::equals(b, a)
                            } else {
                                reset_by_st() || hist::detect_reset(b, a)
                            }
                        }
                        _ => true,
                    };
                    if hit {
                        n += 1;
                    }
                }
                prev = Some(cur);
            }
            float(n as f64)
        }
    })
}

impl RangeCtx<'_> {
    fn param_pos(&self) -> PosRange {
        self.pos
    }

    /// The value of scalar argument `k` (in argument order, the range argument left out)
    /// at this step.
    fn param(&self, k: usize) -> f64 {
        self.params[k][self.step]
    }
}

/// The expression inside any number of parentheses (Prometheus unwraps them before
/// evaluating function arguments, so `rate((x[5m]))` is a range function call).
pub(crate) fn unwrap(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap(&p.expr),
        other => other,
    }
}

/// Whether `name` is a valid label name. Prometheus rejects names that are not valid
/// UTF-8; Rust strings always are, and the parser turned invalid bytes (`"\xff"`) into
/// U+FFFD, so a replacement character stands for them here.
pub(crate) fn valid_label_name(name: &str) -> bool {
    promlite_model::is_valid_label_name(name, promlite_model::ValidationScheme::Utf8)
        && !name.contains('\u{FFFD}')
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

pub(crate) fn eval_call(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix, EvalError> {
    let unwrapped: Vec<Expr> = c.args.iter().map(|a| unwrap(a).clone()).collect();
    let call = Call {
        func: c.func,
        args: unwrapped,
        span: c.span,
    };
    let c = &call;
    let name = c.func.name;
    let saved = ev.stats_decoding;
    match name {
        "histogram_count" | "histogram_sum" | "histogram_avg" => ev.stats_decoding = true,
        "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {
            ev.stats_decoding = false;
        }
        _ => {}
    }
    let r = eval_call_inner(ev, c);
    ev.stats_decoding = saved;
    r
}

fn eval_call_inner(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix, EvalError> {
    let name = c.func.name;
    match name {
        "info" => return crate::info::eval_info(ev, c),
        "label_replace" => return label_replace(ev, c),
        "label_join" => return label_join(ev, c),
        "timestamp" | "start_timestamp" => {
            if let Some(Expr::VectorSelector(vs)) = c.args.first() {
                let pick = if name == "timestamp" {
                    Pick::Timestamp
                } else if ev.use_st {
                    Pick::StartTimestamp
                } else {
                    // Without start times the function has nothing to return.
                    return Ok(Vec::new());
                };
                let mut m = ev.vector_selector(vs, pick)?;
                for s in &mut m {
                    if ev.delayed {
                        s.drop_name = true;
                    } else {
                        s.metric = s.metric.retain(crate::engine::keep_label);
                    }
                }
                return if ev.delayed {
                    Ok(m)
                } else {
                    merge_same_labelset(m)
                };
            }
        }
        _ => {}
    }
    let matrix_idx = c
        .args
        .iter()
        .position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_)));
    if let Some(mi) = matrix_idx {
        return eval_range_call(ev, c, mi);
    }
    if matches!(
        name,
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
    ) && ev.start != ev.end
    {
        ev.annos.warn(
            "sort is ineffective for range queries since results are always ordered by labels",
            c.span,
        );
    }
    // Instant-vector functions.
    let mut args: Vec<Matrix> = Vec::with_capacity(c.args.len());
    let mut strings: Vec<Option<String>> = Vec::with_capacity(c.args.len());
    for a in &c.args {
        match ev.eval(a)? {
            crate::engine::Val::Matrix(m) => {
                args.push(m);
                strings.push(None);
            }
            crate::engine::Val::String(s) => {
                args.push(Vec::new());
                strings.push(Some(s));
            }
        }
    }
    let arg_pos: Vec<PosRange> = c.args.iter().map(Expr::span).collect();
    match name {
        "time" => return Ok(ev.scalar_series(|ts| ts as f64 / 1000.0)),
        "pi" => return Ok(ev.scalar_series(|_| std::f64::consts::PI)),
        "start" => {
            let v = ev.query_start as f64 / 1000.0;
            return Ok(ev.scalar_series(|_| v));
        }
        "end" => {
            let v = ev.query_end as f64 / 1000.0;
            return Ok(ev.scalar_series(|_| v));
        }
        "step" => {
            let v = ev.query_step as f64 / 1000.0;
            return Ok(ev.scalar_series(|_| v));
        }
        "range" => {
            let v = (ev.query_end - ev.query_start) as f64 / 1000.0;
            return Ok(ev.scalar_series(|_| v));
        }
        _ => {}
    }
    let absent_lbls = if name == "absent" {
        absent_labels(&c.args[0])
    } else {
        Labels::empty()
    };
    let delayed = ev.delayed;
    let mut quantile_labels: HashMap<(Labels, u64), Labels> = HashMap::new();
    let mut bucket_keys = BucketKeys::default();
    let out = ev.range_eval(&args, |v, ctx| {
        let mut out: Vector = Vec::new();
        let simple = |v: &Vector, ctx: &mut crate::engine::StepCtx<'_>, f: &dyn Fn(f64) -> f64| {
            let mut out = Vec::with_capacity(v.len());
            for s in v {
                if s.h.is_some() {
                    continue;
                }
                let mut o = s.clone();
                o.f = f(s.f);
                ctx.drop_name(&mut o);
                out.push(o);
            }
            out
        };
        let scalar = |i: usize| v.get(i).and_then(|x| x.first()).map_or(f64::NAN, |s| s.f);
        match name {
            "abs" => out = simple(&v[0], ctx, &f64::abs),
            "ceil" => out = simple(&v[0], ctx, &f64::ceil),
            "floor" => out = simple(&v[0], ctx, &f64::floor),
            "exp" => out = simple(&v[0], ctx, &f64::exp),
            "sqrt" => out = simple(&v[0], ctx, &f64::sqrt),
            "ln" => out = simple(&v[0], ctx, &f64::ln),
            "log2" => out = simple(&v[0], ctx, &f64::log2),
            "log10" => out = simple(&v[0], ctx, &f64::log10),
            "sin" => out = simple(&v[0], ctx, &f64::sin),
            "cos" => out = simple(&v[0], ctx, &f64::cos),
            "tan" => out = simple(&v[0], ctx, &f64::tan),
            "asin" => out = simple(&v[0], ctx, &f64::asin),
            "acos" => out = simple(&v[0], ctx, &f64::acos),
            "atan" => out = simple(&v[0], ctx, &f64::atan),
            "sinh" => out = simple(&v[0], ctx, &f64::sinh),
            "cosh" => out = simple(&v[0], ctx, &f64::cosh),
            "tanh" => out = simple(&v[0], ctx, &f64::tanh),
            "asinh" => out = simple(&v[0], ctx, &f64::asinh),
            "acosh" => out = simple(&v[0], ctx, &f64::acosh),
            "atanh" => out = simple(&v[0], ctx, &f64::atanh),
            "rad" => out = simple(&v[0], ctx, &|x| x * std::f64::consts::PI / 180.0),
            "deg" => out = simple(&v[0], ctx, &|x| x * 180.0 / std::f64::consts::PI),
            "sgn" => {
                out = simple(&v[0], ctx, &|x| {
                    if x < 0.0 {
                        -1.0
                    } else if x > 0.0 {
                        1.0
                    } else {
                        x
                    }
                });
            }
            "round" => {
                let to = if v.len() >= 2 { scalar(1) } else { 1.0 };
                let inv = 1.0 / to;
                out = simple(&v[0], ctx, &|x| (x * inv + 0.5).floor() / inv);
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let (lo, hi) = match name {
                    "clamp" => (scalar(1), scalar(2)),
                    "clamp_min" => (scalar(1), f64::INFINITY),
                    _ => (f64::NEG_INFINITY, scalar(1)),
                };
                if hi < lo {
                    return Ok(out);
                }
                out = simple(&v[0], ctx, &|x| go_max(lo, go_min(hi, x)));
            }
            "timestamp" => {
                for s in &v[0] {
                    let mut o = s.clone();
                    o.f = s.t as f64 / 1000.0;
                    o.h = None;
                    ctx.drop_name(&mut o);
                    out.push(o);
                }
            }
            // Start times reach `start_timestamp` only from a selector right below it
            // (handled before the generic path); of an expression there are none.
            "start_timestamp" => {}
            "vector" => out.push(Sample::float(Labels::empty(), 0, scalar(0))),
            "min_of" => out.push(Sample::float(Labels::empty(), 0, go_min(scalar(0), scalar(1)))),
            "max_of" => out.push(Sample::float(Labels::empty(), 0, go_max(scalar(0), scalar(1)))),
            "scalar" => {
                let mut found = None;
                let mut many = false;
                for s in &v[0] {
                    if s.h.is_none() {
                        if found.is_some() {
                            many = true;
                        }
                        found = Some(s.f);
                    }
                }
                let f = if many { f64::NAN } else { found.unwrap_or(f64::NAN) };
                out.push(Sample::float(Labels::empty(), 0, f));
            }
            "absent" => {
                if v[0].is_empty() {
                    let mut s = Sample::float(absent_lbls.clone(), 0, 1.0);
                    s.drop_name = true;
                    out.push(s);
                }
            }
            "sort" | "sort_desc" => {
                out = v[0].iter().filter(|s| s.h.is_none()).cloned().collect();
                let desc = name == "sort_desc";
                // NaN sorts last either way, as Prometheus's heaps order it.
                out.sort_by(|a, b| match (a.f.is_nan(), b.f.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => b.f.partial_cmp(&a.f).unwrap_or(std::cmp::Ordering::Equal),
                    _ => a.f.partial_cmp(&b.f).unwrap_or(std::cmp::Ordering::Equal),
                });
            }
            "sort_by_label" | "sort_by_label_desc" => {
                let names: Vec<&str> = strings[1..].iter().filter_map(|s| s.as_deref()).collect();
                out.clone_from(&v[0]);
                let desc = name == "sort_by_label_desc";
                out.sort_by(|a, b| {
                    for n in &names {
                        let (x, y) = (a.metric.get(n).unwrap_or(""), b.metric.get(n).unwrap_or(""));
                        if x == y {
                            continue;
                        }
                        let o = natural_cmp(x, y);
                        return if desc { o.reverse() } else { o };
                    }
                    let o = a.metric.cmp(&b.metric);
                    if desc { o.reverse() } else { o }
                });
            }
            "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour"
            | "minute" | "month" | "year" => {
                let f = |secs: f64| date_part(name, secs);
                if v.is_empty() {
                    out.push(Sample::float(Labels::empty(), 0, f((ctx.ts / 1000) as f64)));
                } else {
                    for s in &v[0] {
                        if s.h.is_some() {
                            continue;
                        }
                        let mut o = s.clone();
                        o.f = f(s.f);
                        ctx.drop_name(&mut o);
                        out.push(o);
                    }
                }
            }
            "histogram_count" | "histogram_sum" | "histogram_avg" => {
                for s in &v[0] {
                    let Some(h) = &s.h else { continue };
                    let mut o = s.clone();
                    o.h = None;
                    o.f = match name {
                        "histogram_count" => h.count,
                        "histogram_sum" => h.sum,
                        _ => h.sum / h.count,
                    };
                    ctx.drop_name(&mut o);
                    out.push(o);
                }
            }
            "histogram_stddev" | "histogram_stdvar" => {
                for s in &v[0] {
                    let Some(h) = &s.h else { continue };
                    let mut o = s.clone();
                    o.h = None;
                    let var = histogram_variance(h);
                    o.f = if name == "histogram_stddev" { var.sqrt() } else { var };
                    ctx.drop_name(&mut o);
                    out.push(o);
                }
            }
            "histogram_quantile" | "histogram_fraction" | "histogram_quantiles" => {
                let (vec_i, params): (usize, Vec<f64>) = match name {
                    "histogram_quantile" => (1, vec![scalar(0)]),
                    "histogram_fraction" => (2, vec![scalar(0), scalar(1)]),
                    _ => (0, (2..v.len()).map(scalar).collect()),
                };
                let qlabel = if name == "histogram_quantiles" {
                    strings.get(1).cloned().flatten()
                } else {
                    None
                };
                let hist_pos = arg_pos[vec_i];
                if name != "histogram_fraction" {
                    for (k, q) in params.iter().enumerate() {
                        if q.is_nan() || *q < 0.0 || *q > 1.0 {
                            let p = if name == "histogram_quantile" { arg_pos[0] } else { arg_pos[2 + k] };
                            ctx.annos.warn(
                                format!("quantile value should be between 0 and 1, got {}", go_v(*q)),
                                p,
                            );
                        }
                    }
                }
                let (natives, mut classic) = split_histograms(
                    &v[vec_i],
                    &ctx.series_idx[vec_i],
                    &mut bucket_keys,
                    delayed,
                    ctx.annos,
                    hist_pos,
                );
                let param_list: Vec<f64> = if name == "histogram_fraction" {
                    vec![0.0]
                } else {
                    params.clone()
                };
                let n_params = param_list.len();
                for (qi, q) in param_list.into_iter().enumerate() {
                    for s in &natives {
                        let Some(h) = &s.h else { continue };
                        let mut o = s.clone();
                        o.h = None;
                        let mname = metric_name(&s.metric);
                        o.f = if name == "histogram_fraction" {
                            histogram_fraction(params[0], params[1], h, &mname, ctx.annos, hist_pos)
                        } else {
                            histogram_quantile_native(q, h, &mname, ctx.annos, hist_pos)
                        };
                        ctx.drop_name(&mut o);
                        if let Some(ql) = &qlabel {
                            o.metric = with_quantile(&mut quantile_labels, &o.metric, ql, q);
                        }
                        out.push(o);
                    }
                    for g in &mut classic {
                        if g.buckets.is_empty() {
                            continue;
                        }
                        let mut b = if qi + 1 == n_params {
                            std::mem::take(&mut g.buckets)
                        } else {
                            g.buckets.clone()
                        };
                        let f = if name == "histogram_fraction" {
                            bucket_fraction(params[0], params[1], &mut b)
                        } else {
                            let r = bucket_quantile(q, &mut b);
                            if let Some((min_b, max_b, diff)) = r.1 {
                                let mname = if delayed { metric_name(&g.metric) } else { String::new() };
                                let named = for_metric_name(&mname);
                                ctx.annos.info(
                                    format!(
                                        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile){named}, from buckets {} to {} , with a max diff of {}",
                                        go_v(min_b), go_v(max_b), go_v(diff)
                                    ),
                                    hist_pos,
                                );
                            }
                            r.0
                        };
                        // What `ctx.drop_name` does, with the name dropped once per group.
                        let mut o = Sample {
                            metric: if ctx.delayed {
                                g.metric.clone()
                            } else {
                                bucket_keys.without_name(g.id)
                            },
                            t: 0,
                            f,
                            h: None,
                            drop_name: g.drop_name || ctx.delayed,
                        };
                        if let Some(ql) = &qlabel {
                            o.metric = with_quantile(&mut quantile_labels, &o.metric, ql, q);
                        }
                        out.push(o);
                    }
                }
            }
            _ => {
                return Err(EvalError::msg(format!(
                    "function {name} is not implemented"
                )));
            }
        }
        Ok(out)
    })?;
    Ok(out)
}

fn with_quantile(
    cache: &mut HashMap<(Labels, u64), Labels>,
    l: &Labels,
    label: &str,
    q: f64,
) -> Labels {
    cache
        .entry((l.clone(), q.to_bits()))
        .or_insert_with(|| {
            let mut b = LabelsBuilder::new();
            b.reset(l);
            let v = if q.is_nan() {
                "NaN".to_owned()
            } else {
                openmetrics_float(q)
            };
            b.set(label, &v);
            b.build()
        })
        .clone()
}

/// OpenMetrics float text: always with a decimal point or exponent (`1.0`, `0.5`).
fn openmetrics_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = go_v(v);
    if s.contains(['.', 'e', 'N', 'I']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// Per-query facts about the bucket series of a classic histogram, so that a step assigns
/// its samples to groups by index instead of hashing label sets: each input series' group
/// (its labels without `le`, numbered once) and parsed `le`.
#[derive(Default)]
struct BucketKeys {
    /// By index of the series in the argument matrix.
    series: Vec<Option<(u32, Result<f64, ()>)>>,
    ids: HashMap<Labels, u32>,
    labels: Vec<Labels>,
    /// By group: its labels without the metric name, once asked for.
    unnamed: Vec<Option<Labels>>,
    /// By group: its position in the current step's groups, `u32::MAX` when absent.
    slot: Vec<u32>,
    /// By group: how many buckets it had at its last step (the next step's capacity).
    sizes: Vec<u32>,
}

impl BucketKeys {
    /// The group and parsed `le` of the series at index `i` (`None`: not cached).
    fn of(&mut self, i: Option<usize>, metric: &Labels) -> (u32, Result<f64, ()>) {
        if let Some(Some(k)) = i.and_then(|i| self.series.get(i)) {
            return *k;
        }
        let key = metric.retain(|l| l.name != "le");
        let parsed = parse_go_float(metric.get("le").unwrap_or(""));
        let id = match self.ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.labels.len() as u32;
                self.ids.insert(key.clone(), id);
                self.labels.push(key);
                self.unnamed.push(None);
                self.slot.push(u32::MAX);
                self.sizes.push(0);
                id
            }
        };
        if let Some(i) = i {
            if self.series.len() <= i {
                self.series.resize(i + 1, None);
            }
            self.series[i] = Some((id, parsed));
        }
        (id, parsed)
    }

    /// Group `id`'s labels without the metric name.
    fn without_name(&mut self, id: u32) -> Labels {
        let id = id as usize;
        if let Some(l) = &self.unnamed[id] {
            return l.clone();
        }
        let l = self.labels[id].retain(crate::engine::keep_label);
        self.unnamed[id] = Some(l.clone());
        l
    }
}

/// A classic histogram at one step.
struct BucketGroup {
    /// Its ordinal in [`BucketKeys`].
    id: u32,
    /// Its labels (those of its buckets without `le`).
    metric: Labels,
    drop_name: bool,
    /// `(upper bound, cumulative count)`, in input order.
    buckets: Vec<(f64, f64)>,
}

/// Splits a vector into native-histogram samples and classic bucket groups (in order of
/// first appearance).
fn split_histograms(
    v: &Vector,
    series_idx: &[usize],
    keys: &mut BucketKeys,
    delayed: bool,
    annos: &mut Annotations,
    pos: PosRange,
) -> (Vec<Sample>, Vec<BucketGroup>) {
    let mut natives: Vec<Sample> = Vec::new();
    let mut groups: Vec<BucketGroup> = Vec::new();
    for (j, s) in v.iter().enumerate() {
        if s.h.is_some() {
            natives.push(s.clone());
            continue;
        }
        let (id, parsed) = keys.of(series_idx.get(j).copied(), &s.metric);
        let Ok(upper) = parsed else {
            let named = for_metric_name(if delayed {
                s.metric.metric_name().unwrap_or("")
            } else {
                ""
            });
            annos.warn(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {}{named}",
                    promlite_model::go_quote(s.metric.get("le").unwrap_or(""))
                ),
                pos,
            );
            continue;
        };
        let slot = &mut keys.slot[id as usize];
        if *slot == u32::MAX {
            *slot = groups.len() as u32;
            let mut buckets = Vec::with_capacity(keys.sizes[id as usize] as usize);
            buckets.push((upper, s.f));
            groups.push(BucketGroup {
                id,
                metric: keys.labels[id as usize].clone(),
                drop_name: s.drop_name,
                buckets,
            });
        } else {
            groups[*slot as usize].buckets.push((upper, s.f));
        }
    }
    if !natives.is_empty() {
        natives.retain(|s| {
            if let Some(&id) = keys.ids.get(&s.metric)
                && let Some(&i) = keys.slot.get(id as usize)
                && i != u32::MAX
                && !groups[i as usize].buckets.is_empty()
            {
                let named = for_metric_name(if delayed {
                    s.metric.metric_name().unwrap_or("")
                } else {
                    ""
                });
                annos.warn(
                    format!("vector contains a mix of classic and native histograms{named}"),
                    pos,
                );
                groups[i as usize].buckets.clear();
                return false;
            }
            true
        });
    }
    for g in &groups {
        keys.slot[g.id as usize] = u32::MAX;
        keys.sizes[g.id as usize] = g.buckets.len() as u32;
    }
    (natives, groups)
}

fn parse_go_float(s: &str) -> Result<f64, ()> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" | "INF" => return Ok(f64::INFINITY),
        "-Inf" | "-inf" => return Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => return Ok(f64::NAN),
        _ => {}
    }
    crate::go::parse_number(s).map_err(|_| ())
}

/// Classic-bucket quantile with the monotonicity fix; the second value reports a fix
/// (min bucket, max bucket, max diff).
#[allow(clippy::type_complexity)]
fn bucket_quantile(q: f64, b: &mut Vec<(f64, f64)>) -> (f64, Option<(f64, f64, f64)>) {
    if q.is_nan() {
        return (f64::NAN, None);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if !b.last().is_some_and(|x| x.0 == f64::INFINITY) {
        return (f64::NAN, None);
    }
    coalesce(b);
    let fix = ensure_monotonic(b);
    if b.len() < 2 {
        return (f64::NAN, fix);
    }
    let obs = b[b.len() - 1].1;
    if obs == 0.0 {
        return (f64::NAN, fix);
    }
    let mut rank = q * obs;
    let n = b.len() - 1;
    let i = b[..n].partition_point(|x| x.1 < rank);
    let v = if i == n {
        b[n - 1].0
    } else if i == 0 && b[0].0 <= 0.0 {
        b[0].0
    } else {
        let mut start = 0.0;
        let end = b[i].0;
        let mut count = b[i].1;
        if i > 0 {
            start = b[i - 1].0;
            count -= b[i - 1].1;
            rank -= b[i - 1].1;
        }
        start + (end - start) * (rank / count)
    };
    (v, fix)
}

fn coalesce(b: &mut Vec<(f64, f64)>) {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for &x in b.iter() {
        match out.last_mut() {
            Some(l) if l.0 == x.0 => l.1 += x.1,
            _ => out.push(x),
        }
    }
    *b = out;
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

fn ensure_monotonic(b: &mut [(f64, f64)]) -> Option<(f64, f64, f64)> {
    let mut forced = false;
    let (mut min_b, mut max_b, mut max_diff) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    let mut prev = b[0].1;
    for x in b.iter_mut().skip(1) {
        let curr = x.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            x.1 = prev;
            continue;
        }
        if curr < prev {
            x.1 = prev;
            forced = true;
            min_b = min_b.min(x.0);
            max_b = max_b.max(x.0);
            if prev - curr > max_diff {
                max_diff = prev - curr;
            }
            continue;
        }
        prev = curr;
    }
    forced.then_some((min_b, max_b, max_diff))
}

fn bucket_fraction(lower: f64, upper: f64, b: &mut Vec<(f64, f64)>) -> f64 {
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if !b.last().is_some_and(|x| x.0 == f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(b);
    let count = b[b.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if b[0].0 <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            lower_bound = b[i - 1].0;
        }
        let upper_bound = x.0;
        let interp = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                x.1
            } else {
                rank + (x.1 - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = x.1;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

fn histogram_variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut var, mut c) = (0.0, 0.0);
    for b in hist::all_buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        let val = if h.uses_custom_buckets() {
            f64::midpoint(b.upper, b.lower)
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let v = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 { -v } else { v }
        };
        let d = val - mean;
        (var, c) = kahan_inc(b.count * d * d, var, c);
    }
    (var + c) / h.count
}

fn nan_info(annos: &mut Annotations, what: &str, mname: &str, pos: PosRange) {
    annos.info(format!("{what}{}", for_metric_name(mname)), pos);
}

/// The ` for metric name "…"` suffix of Prometheus's annotations; empty without a name
/// (annotations name the metric only under delayed name removal).
fn for_metric_name(mname: &str) -> String {
    if mname.is_empty() {
        String::new()
    } else {
        format!(" for metric name {}", promlite_model::go_quote(mname))
    }
}

fn histogram_quantile_native(
    q: f64,
    h: &FloatHistogram,
    mname: &str,
    annos: &mut Annotations,
    pos: PosRange,
) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let all = hist::all_buckets(h);
    let forward = h.sum.is_nan() || q < 0.5;
    let order: Vec<&hist::Bucket> = if forward {
        all.iter().collect()
    } else {
        all.iter().rev().collect()
    };
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    let mut count = 0.0;
    let mut bucket = hist::Bucket {
        lower: 0.0,
        upper: 0.0,
        count: 0.0,
    };
    let mut pos_i = order.len();
    for (i, b) in order.iter().enumerate() {
        if b.count == 0.0 {
            continue;
        }
        bucket = **b;
        count += b.count;
        if count >= rank {
            pos_i = i;
            break;
        }
    }
    let custom = h.uses_custom_buckets();
    if !custom && bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    } else if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return bucket.upper;
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return bucket.lower;
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        if h.sum.is_nan() {
            nan_info(
                annos,
                "input to histogram_quantile has NaN observations, result is NaN",
                mname,
                pos,
            );
            return f64::NAN;
        }
        return bucket.upper;
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    if h.sum.is_nan() {
        for b in order.iter().skip(pos_i + 1) {
            count += b.count;
        }
        if count < h.count {
            nan_info(
                annos,
                "input to histogram_quantile has NaN observations, result is skewed higher",
                mname,
                pos,
            );
        }
    }
    let fraction = rank / bucket.count;
    if custom || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return bucket.lower + (bucket.upper - bucket.lower) * fraction;
    }
    let ll = bucket.lower.abs().log2();
    let lu = bucket.upper.abs().log2();
    if bucket.lower > 0.0 {
        (ll + (lu - ll) * fraction).exp2()
    } else {
        -((lu + (ll - lu) * (1.0 - fraction)).exp2())
    }
}

fn histogram_fraction(
    lower: f64,
    upper: f64,
    h: &FloatHistogram,
    mname: &str,
    annos: &mut Annotations,
    pos: PosRange,
) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut count, mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let all = hist::all_buckets(h);
    let custom = h.uses_custom_buckets();
    let mut stop = all.len();
    for (i, b0) in all.iter().enumerate() {
        let mut b = *b0;
        count += b.count;
        let mut zero = false;
        if b.lower <= 0.0 && b.upper >= 0.0 {
            zero = true;
            if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
                b.lower = 0.0;
            } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
                b.upper = 0.0;
            }
        }
        let below = |v: f64, linear: bool| -> f64 {
            if linear {
                (v - b.lower) / (b.upper - b.lower)
            } else {
                let ll = b.lower.abs().log2();
                let lu = b.upper.abs().log2();
                let lv = v.abs().log2();
                if v > 0.0 {
                    (lv - ll) / (lu - ll)
                } else {
                    1.0 - ((lv - lu) / (ll - lu))
                }
            }
        };
        let interp = |v: f64| -> f64 {
            if custom || zero {
                if b.lower == f64::NEG_INFINITY {
                    return b.count;
                }
                rank + b.count * below(v, true)
            } else {
                rank + b.count * below(v, false)
            }
        };
        if !lower_set && b.lower >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && b.lower >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            stop = i;
            break;
        }
        if !lower_set && b.lower < lower && b.upper > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            stop = i;
            break;
        }
        rank += b.count;
    }
    if h.sum.is_nan() {
        for b in all.iter().skip(stop + 1) {
            count += b.count;
        }
        if count < h.count {
            nan_info(
                annos,
                "input to histogram_fraction has NaN observations, which are excluded from all fractions",
                mname,
                pos,
            );
        }
    } else {
        count = h.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / h.count
}

/// Prometheus's `FloatHistogram.String()` (used by `count_values` on histograms).
pub(crate) fn histogram_string(h: &FloatHistogram) -> String {
    let mut s = format!("{{count:{}, sum:{}", go_v(h.count), go_v(h.sum));
    for b in hist::all_buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        let (lo, hi) = (go_v(b.lower), go_v(b.upper));
        let zero = b.lower <= 0.0 && b.upper >= 0.0 && !h.uses_custom_buckets();
        if zero {
            let _ = write!(s, ", [{lo},{hi}]:{}", go_v(b.count));
        } else if b.lower < 0.0 {
            let _ = write!(s, ", [{lo},{hi}):{}", go_v(b.count));
        } else {
            let _ = write!(s, ", ({lo},{hi}]:{}", go_v(b.count));
        }
    }
    s.push('}');
    s
}

/// Natural ("version") string comparison, as Prometheus's `natsort`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let x = a[si..i].trim_start_matches('0');
            let y = b[sj..j].trim_start_matches('0');
            let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        } else {
            if ab[i] != bb[j] {
                return ab[i].cmp(&bb[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

/// Civil date parts from Unix seconds (UTC), without a date library.
fn date_part(name: &str, secs: f64) -> f64 {
    let secs = secs as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = promlite_model::time::civil_from_days(days);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match name {
        "hour" => (sod / 3600) as f64,
        "minute" => ((sod % 3600) / 60) as f64,
        "day_of_month" => d as f64,
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "month" => m as f64,
        "year" => y as f64,
        "day_of_year" => {
            const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
            let mut doy = CUM[(m - 1) as usize] + d;
            if leap && m > 2 {
                doy += 1;
            }
            doy as f64
        }
        _ => {
            const DIM: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let mut n = DIM[(m - 1) as usize];
            if leap && m == 2 {
                n += 1;
            }
            n as f64
        }
    }
}

fn eval_range_call(ev: &mut Evaluator<'_>, c: &Call, mi: usize) -> Result<Matrix, EvalError> {
    let name = c.func.name;
    // Scalar arguments, one value per step.
    let mut params_by_step: Vec<Vec<f64>> = Vec::new();
    for (i, a) in c.args.iter().enumerate() {
        if i != mi {
            params_by_step.push(ev.eval_scalar_steps(a)?);
        }
    }
    let steps = ev.steps();
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let arg = &c.args[mi];
    let pos = arg.span();
    let delayed = ev.delayed;
    let (anchored, smoothed) = match arg {
        Expr::MatrixSelector(ms) => {
            extended::check_function(&ms.selector, name)?;
            (ms.selector.anchored, ms.selector.smoothed)
        }
        _ => (false, false),
    };
    let (start, interval) = (ev.start, ev.interval);
    let func = RangeFn::of(name);
    let reset_index =
        matches!(func, Some(RangeFn::Rate | RangeFn::Increase)) && !anchored && !smoothed;
    // `rate`, `increase` and `delta` of float series without start times go straight to
    // `float_rate`, without the general function's `Window` and checks.
    let extrapolated = match func {
        _ if anchored || smoothed => None,
        Some(RangeFn::Rate) => Some((true, true)),
        Some(RangeFn::Increase) => Some((true, false)),
        Some(RangeFn::Delta) => Some((false, false)),
        _ => None,
    };
    // Runs on several threads at once for large selections (see `par.rs`), so it keeps
    // no state between series.
    let per_series = |ev: &mut Evaluator<'_>,
                      l: &Loaded,
                      mut windows: Windows<'_, '_>,
                      refs: &[i64],
                      range: i64|
     -> Result<Option<Series>, EvalError> {
        ev.tick()?;
        let drop = !keep_name || l.drop_name;
        let mut s = Series {
            metric: if drop && !delayed {
                l.metric.retain(crate::engine::keep_label)
            } else {
                l.metric.clone()
            },
            drop_name: drop,
            ..Series::default()
        };
        let mut annos = std::mem::take(&mut ev.annos);
        let mut window_samples = 0usize;
        let range_secs = range as f64 / 1000.0;
        let mut reset_buf = Vec::new();
        let resets = if reset_index && l.sts.floats.is_empty() {
            counter_resets(&l.floats, &mut reset_buf);
            Some(reset_buf.as_slice())
        } else {
            None
        };
        let fast_rate = extrapolated.filter(|_| l.hists.is_empty() && l.sts.floats.is_empty());
        if let Some((is_counter, is_rate)) = fast_rate {
            let rate = FloatRate {
                floats: &l.floats,
                refs,
                resets,
                start,
                interval,
                range,
                range_secs,
                is_counter,
                is_rate,
                steps,
            };
            window_samples = float_rate_steps(windows, &rate, &mut s, &mut ev.counts);
        } else {
            // One context for all steps; only the step's fields change.
            let mut ctx = RangeCtx {
                ts: 0,
                ref_t: 0,
                range,
                range_secs,
                params: &params_by_step,
                step: 0,
                pos,
                annos: &mut annos,
                anchored,
                smoothed,
                resets,
                reset_cursor: 0,
                values: Vec::new(),
            };
            let mut step = 0;
            while let Some((fr, hr)) = windows.next_bounds() {
                step += 1;
                if fr.is_empty() && hr.is_empty() {
                    continue;
                }
                let step = step - 1;
                window_samples = window_samples.max(fr.len() + hr.len());
                ev.counts.add(step, fr.len() + hr.len());
                let ts = start + step as i64 * interval;
                let w = windows.window(fr, hr);
                ctx.ts = ts;
                ctx.ref_t = refs[step];
                ctx.step = step;
                let out = match (extrapolated, func) {
                    (Some((is_counter, is_rate)), _) => {
                        Ok(extrapolated_rate(&w, &mut ctx, is_counter, is_rate))
                    }
                    (None, Some(f)) => range_fn(f, &w, &mut ctx),
                    (None, None) => Err(EvalError::msg(format!(
                        "function {name} is not implemented"
                    ))),
                };
                match out {
                    Ok(Some((f, None))) => push_float(&mut s, ts, f, steps),
                    Ok(Some((f, h))) => push_sample(&mut s, ts, f, h, steps),
                    Ok(None) => {}
                    Err(e) => {
                        ev.annos = annos;
                        return Err(e);
                    }
                }
            }
        }
        ev.annos = annos;
        if (name == "rate" || name == "increase") && !s.floats.is_empty() {
            const NOT_COUNTER: &str =
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: ";
            let mname = l.metric.metric_name().unwrap_or("");
            // Go quotes such a name as itself in double quotes, so the annotation it
            // would get can be looked up unformatted: added once per metric name, not
            // formatted again for each series.
            let noted = |annos: &Annotations| {
                mname
                    .bytes()
                    .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
                    && annos.holds_quoted(AnnotationKind::Info, pos, NOT_COUNTER, mname)
            };
            if !mname.is_empty()
                && !mname.ends_with("_total")
                && !mname.ends_with("_sum")
                && !mname.ends_with("_count")
                && !mname.ends_with("_bucket")
                && !noted(&ev.annos)
            {
                ev.annos.info(
                    format!("{NOT_COUNTER}{}", promlite_model::go_quote(mname)),
                    pos,
                );
            }
        }
        ev.add_samples(window_samples)?;
        ev.current_samples -= window_samples;
        if s.is_empty() {
            return Ok(None);
        }
        ev.add_samples(s.len())?;
        Ok(Some(s))
    };
    let out: Matrix = match arg {
        Expr::MatrixSelector(ms) => {
            let range = ev.duration(&ms.range)?;
            let offset = ev.duration(&ms.selector.offset)?;
            let at = ev.at_time(ms.selector.at);
            let refs = step_refs(ev.start, ev.end, ev.interval, at, offset);
            ev.range_windows_map(
                ms,
                matches!(name, "rate" | "increase" | "irate"),
                &|ev: &mut Evaluator<'_>, l: &Loaded, w: Windows<'_, '_>| {
                    per_series(ev, l, w, &refs, range)
                },
            )?
        }
        Expr::Subquery(sq) => {
            let (m, range) = ev.subquery_eval(sq)?;
            let offset = ev.duration(&sq.offset)?;
            let at = ev.at_time(sq.at);
            let refs = step_refs(ev.start, ev.end, ev.interval, at, offset);
            let mut out = Vec::new();
            for s in m {
                // Subqueries cut the propagation of start times.
                let l = Loaded {
                    metric: s.metric,
                    floats: s.floats,
                    hists: s.histograms,
                    sts: crate::engine::Sts::default(),
                    drop_name: s.drop_name,
                };
                let windows = Windows::new(&l, &refs, range, 0);
                if let Some(s) = per_series(ev, &l, windows, &refs, range)? {
                    out.push(s);
                }
            }
            out
        }
        _ => return Err(EvalError::msg("expected a range vector argument")),
    };
    if name == "absent_over_time" {
        let mut found = vec![false; steps];
        for s in &out {
            for p in &s.floats {
                found[((p.t - ev.start) / ev.interval) as usize] = true;
            }
        }
        let mut floats = Vec::new();
        for (i, f) in found.iter().enumerate() {
            if !f {
                floats.push(FPoint {
                    t: ev.start + i as i64 * ev.interval,
                    f: 1.0,
                });
            }
        }
        if floats.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![Series {
            metric: absent_labels(arg),
            floats,
            histograms: Vec::new(),
            drop_name: true,
        }]);
    }
    if !delayed {
        let mut seen = hashbrown::HashSet::with_capacity(out.len());
        if out.iter().any(|s| !seen.insert(&s.metric)) {
            return Err(EvalError::same_labelset());
        }
    }
    Ok(out)
}

fn label_replace(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix, EvalError> {
    let s = |i: usize| match &c.args[i] {
        Expr::String(s) => s.value.clone(),
        _ => String::new(),
    };
    let (dst, repl, src, re) = (s(1), s(2), s(3), s(4));
    // Go's RE2 semantics (ASCII Perl classes, `\Q…\E`), as for label matchers.
    let translated = promlite_model::go_regex_to_rust(&re);
    let regex = regex::Regex::new(&format!("^(?s:{translated})$")).map_err(|_| {
        EvalError::msg(format!(
            "invalid regular expression in label_replace(): {re}"
        ))
    })?;
    if !crate::funcs::valid_label_name(&dst) {
        return Err(EvalError::msg(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut m = ev.eval_matrix(&c.args[0])?;
    let mut b = LabelsBuilder::new();
    for s in &mut m {
        let sv = s.metric.get(&src).unwrap_or("").to_owned();
        if let Some(caps) = regex.captures(&sv) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            b.reset(&s.metric);
            b.set(&dst, &res);
            s.metric = b.build();
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    merge_same_labelset(m)
}

fn label_join(ev: &mut Evaluator<'_>, c: &Call) -> Result<Matrix, EvalError> {
    let s = |i: usize| match &c.args[i] {
        Expr::String(s) => s.value.clone(),
        _ => String::new(),
    };
    let (dst, sep) = (s(1), s(2));
    let mut srcs = Vec::new();
    for i in 3..c.args.len() {
        let src = s(i);
        if !crate::funcs::valid_label_name(&src) {
            return Err(EvalError::msg(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
        srcs.push(src);
    }
    if !crate::funcs::valid_label_name(&dst) {
        return Err(EvalError::msg(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut m = ev.eval_matrix(&c.args[0])?;
    let mut b = LabelsBuilder::new();
    for s in &mut m {
        let joined: Vec<&str> = srcs.iter().map(|n| s.metric.get(n).unwrap_or("")).collect();
        let v = joined.join(&sep);
        b.reset(&s.metric);
        b.set(&dst, &v);
        s.metric = b.build();
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    merge_same_labelset(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Loaded, Sts};

    /// `rate` and `increase` with the per-series reset index and its moving cursor, and
    /// `float_rate` (with and without the index, `delta` too), give exactly (bit for bit)
    /// what the scan of every window gives, for windows that overlap, start and end on
    /// resets, hold none, skip samples and move back.
    #[test]
    fn reset_index_matches_window_scan() {
        let values = [
            5.0,
            7.0,
            2.0,
            3.0,
            3.0,
            1.0,
            9.5,
            0.25,
            0.5,
            8.0,
            8.0,
            7.9,
            100.0,
            f64::NAN,
            4.0,
            3.0,
            1e300,
            2.0,
        ];
        let l = Loaded {
            metric: Labels::empty(),
            floats: (0..values.len())
                .map(|i| FPoint {
                    t: i as i64 * 10_000,
                    f: values[i],
                })
                .collect(),
            hists: Vec::new(),
            sts: Sts::default(),
            drop_name: false,
        };
        let mut resets = Vec::new();
        counter_resets(&l.floats, &mut resets);
        // Steps forward, steps that skip samples, and steps that go back (the cursors
        // then search again).
        let forward: Vec<i64> = (0..40).map(|i| i * 5_000).collect();
        let sparse: Vec<i64> = (0..10).map(|i| i * 45_000).collect();
        let back: Vec<i64> = [90, 100, 20, 30, 170, 60, 60, 180]
            .iter()
            .map(|s| s * 1_000)
            .collect();
        for refs in [&forward, &sparse, &back] {
            for range in [15_000, 30_000, 60_000, 200_000] {
                for (is_counter, is_rate) in [(true, true), (true, false), (false, false)] {
                    // One cursor each across a series' windows, as in `eval_range_call`.
                    let (mut ctx_cursor, mut fast_cursor) = (0, 0);
                    let mut windows = Windows::new(&l, refs, range, 0);
                    for &r in refs {
                        let Some((fr, hr)) = windows.next_bounds() else {
                            panic!("a window per step");
                        };
                        let w = windows.window(fr.clone(), hr);
                        let rate_with = |resets: Option<&[usize]>, cursor: &mut usize| {
                            let mut annos = Annotations::default();
                            let mut ctx = RangeCtx {
                                ts: r,
                                ref_t: r,
                                range,
                                range_secs: range as f64 / 1000.0,
                                params: &[],
                                step: 0,
                                pos: PosRange::default(),
                                annos: &mut annos,
                                anchored: false,
                                smoothed: false,
                                resets,
                                reset_cursor: *cursor,
                                values: Vec::new(),
                            };
                            let out = extrapolated_rate(&w, &mut ctx, is_counter, is_rate);
                            *cursor = ctx.reset_cursor;
                            out
                        };
                        let bits = |o: Out| o.map(|(f, _)| f.to_bits());
                        let scanned = bits(rate_with(None, &mut 0));
                        let indexed = bits(rate_with(Some(&resets), &mut ctx_cursor));
                        let secs = range as f64 / 1000.0;
                        let fast = |resets: Option<(&[usize], &mut usize)>| {
                            let f = &l.floats[fr.clone()];
                            float_rate(f, fr.start, resets, r, range, secs, is_counter, is_rate)
                                .map(f64::to_bits)
                        };
                        let fast_scanned = fast(None);
                        let fast_indexed = fast(Some((&resets, &mut fast_cursor)));
                        let at = format!("range {range} at {r} ({is_counter}, {is_rate})");
                        assert_eq!(scanned, indexed, "{at}");
                        assert_eq!(scanned, fast_scanned, "{at}");
                        assert_eq!(scanned, fast_indexed, "{at}");
                    }
                }
            }
        }
    }

    /// The blocked search for counter resets finds exactly the pairs that decrease, for
    /// series shorter and longer than a block, with resets at block edges and NaNs.
    #[test]
    fn counter_resets_match_pairwise_scan() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in [0, 1, 2, 3, 255, 256, 257, 258, 511, 512, 513, 1000] {
            for reset_every in [0, 1, 7, 256, 257] {
                let mut v = 0.0;
                let floats: Vec<FPoint> = (0..len)
                    .map(|i| {
                        let r = next();
                        v = if reset_every > 0 && i % reset_every == reset_every - 1 {
                            (r % 3) as f64
                        } else if r % 97 == 0 {
                            f64::NAN
                        } else {
                            v + (r % 5) as f64
                        };
                        FPoint {
                            t: i64::from(i),
                            f: v,
                        }
                    })
                    .collect();
                let want: Vec<usize> = (1..floats.len())
                    .filter(|&i| floats[i].f < floats[i - 1].f)
                    .map(|i| i - 1)
                    .collect();
                let mut got = vec![usize::MAX];
                counter_resets(&floats, &mut got);
                assert_eq!(got, want, "len {len}, reset every {reset_every}");
            }
        }
    }

    /// Every function whose argument is a range vector has a [`RangeFn`], and the name
    /// of each [`RangeFn`] is such a function's.
    #[test]
    fn range_fn_names_match_the_function_table() {
        for f in crate::functions::FUNCTIONS {
            let is_range = f.arg_types.contains(&crate::ast::ValueType::Matrix);
            assert_eq!(RangeFn::of(f.name).is_some(), is_range, "{}", f.name);
        }
        for (name, f) in RangeFn::ALL {
            assert_eq!(RangeFn::of(name), Some(f));
            assert!(crate::functions::function(name).is_some(), "{name}");
        }
    }
}
