//! The experimental extended range selectors, `anchored` and `smoothed`
//! (Prometheus's `extended_range_selectors` feature): which functions accept them, the
//! values they give `rate`, `increase`, `delta`, `changes` and `resets`, and what a bare
//! `x[5m] anchored` or `x smoothed` selector returns.
//!
//! Both modifiers widen what is read around each window `(t - range, t]`:
//!
//! - `anchored` also reads one lookback delta before the window, so the last sample at or
//!   before `t - range` becomes the window's starting value. Nothing is extrapolated:
//!   `increase` is the last value minus that anchor (plus counter-reset corrections).
//! - `smoothed` also reads one lookback delta after the window and replaces both edges
//!   by the value linearly interpolated at `t - range` and at `t` from their
//!   neighbouring samples (a counter reset between them counts as a restart from zero).
//!
//! The windows themselves are cut by the evaluator (`Evaluator::range_windows`); this
//! module only interprets them, following Prometheus's `extendedRate`,
//! `extendedHistogramRate`, `extendFloats`, `pickFirstSampleIndices` and `smoothSeries`.

use std::sync::Arc;

use promlite_model::{CounterResetHint, FloatHistogram};

use crate::ast::PosRange;
use crate::ast::VectorSelector;
use crate::engine::Window;
use crate::eval_error::EvalError;
use crate::funcs::{Out, RangeCtx, combine, mixed_schema, mixed_warning, not_counter, not_gauge};
use crate::hist;
use crate::value::{Annotations, FPoint, HPoint};

/// Functions that may take an `anchored` range: their results stay meaningful when the
/// window starts with a sample from before the range. Sorted, because the error message
/// lists them in this order (Prometheus sorts its map keys).
const ANCHORED_SAFE: &[&str] = &["changes", "delta", "increase", "rate", "resets"];

/// Functions that may take a `smoothed` range: only those that look at nothing but the
/// two interpolated edges and the resets between them.
const SMOOTHED_SAFE: &[&str] = &["delta", "increase", "rate"];

/// Rejects `anchored`/`smoothed` ranges passed to functions that would misread the
/// extra samples outside the window, with Prometheus's error text.
pub(crate) fn check_function(vs: &VectorSelector, func: &str) -> Result<(), EvalError> {
    let (modifier, safe) = if vs.anchored {
        ("anchored", ANCHORED_SAFE)
    } else if vs.smoothed {
        ("smoothed", SMOOTHED_SAFE)
    } else {
        return Ok(());
    };
    if safe.contains(&func) {
        return Ok(());
    }
    Err(EvalError::msg(format!(
        "{modifier} modifier can only be used with: {} - not with {func}",
        safe.join(", ")
    )))
}

/// How far before and after a window's end `t` an extended selector reads: the window
/// is `(t - before, t + after]`.
pub(crate) fn read_bounds(vs: &VectorSelector, range: i64, lookback: i64) -> (i64, i64) {
    if vs.anchored {
        (range + lookback, 0)
    } else if vs.smoothed {
        (range + lookback, lookback)
    } else {
        (range, 0)
    }
}

/// Index of the first point in `ts[..n]` for which `pred` holds, or `n` (Go's
/// `sort.Search`, which the boundary picks below are defined by).
fn search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Linear interpolation at `t` between two samples; for a counter, a drop between them
/// is a reset, so the earlier value is taken as zero.
fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let y1 = if is_counter && p2.f < p1.f { 0.0 } else { p1.f };
    y1 + (p2.f - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

/// The histogram at `t` between two samples, as [`interpolate`] does for floats. Fails
/// when one uses custom buckets and the other exponential ones.
fn interpolate_hist(
    p1: &HPoint,
    p2: &HPoint,
    t: i64,
    is_counter: bool,
    annos: &mut Annotations,
    pos: PosRange,
) -> Result<FloatHistogram, ()> {
    if t == p1.t {
        return Ok((*p1.h).clone());
    }
    if t == p2.t {
        return Ok((*p2.h).clone());
    }
    let fraction = (t - p1.t) as f64 / (p2.t - p1.t) as f64;
    if is_counter && hist::detect_reset(&p2.h, &p1.h) {
        return Ok(hist::scale(&p2.h, fraction));
    }
    let d = hist::sub(&p2.h, &p1.h)?;
    if d.reconciled {
        annos.info(
            "mismatched custom buckets were reconciled during subtraction",
            pos,
        );
    }
    let r = hist::add(&hist::scale(&d.h, fraction), &p1.h)?;
    if r.reconciled {
        annos.info(
            "mismatched custom buckets were reconciled during addition",
            pos,
        );
    }
    Ok(r.h)
}

/// Value at the left edge: interpolated when smoothing and the first sample lies before
/// the range, else the first sample itself (the anchor).
fn pick_left(f: &[FPoint], first: usize, start: i64, smoothed: bool, is_counter: bool) -> f64 {
    if smoothed && f[first].t < start && first + 1 < f.len() {
        return interpolate(f[first], f[first + 1], start, is_counter);
    }
    f[first].f
}

/// Value at the right edge: interpolated when smoothing and the last sample lies after
/// the range, else the last sample itself.
fn pick_right(f: &[FPoint], last: usize, end: i64, smoothed: bool, is_counter: bool) -> f64 {
    if smoothed && last > 0 && f[last].t > end {
        return interpolate(f[last - 1], f[last], end, is_counter);
    }
    f[last].f
}

/// The first and last sample indices an extended window is measured between, or `None`
/// when no sample lies inside the range (nothing to measure).
fn edges(ts: &[i64], start: i64, end: i64, smoothed: bool) -> Option<(usize, usize)> {
    let mut last = ts.len() - 1;
    let first = search(last, |i| ts[i] > start).saturating_sub(1);
    if smoothed {
        last = search(last, |i| ts[i] >= end);
    }
    if ts[last] <= start || (smoothed && ts[first] > end) {
        return None;
    }
    Some((first, last))
}

/// `rate`, `increase` or `delta` over an `anchored` or `smoothed` window.
pub(crate) fn rate(w: &Window<'_>, c: &mut RangeCtx<'_>, is_counter: bool, is_rate: bool) -> Out {
    if !w.hists.is_empty() && !w.floats.is_empty() {
        mixed_warning(w, c);
        return None;
    }
    let start = c.ref_t - c.range;
    let end = c.ref_t;
    let smoothed = c.smoothed;
    if !w.hists.is_empty() {
        let mut h = hist_rate(w, c, start, end, is_counter)?;
        if is_rate {
            h = hist::div(&h, c.range as f64 / 1000.0);
        }
        h.counter_reset_hint = CounterResetHint::Gauge;
        return Some((0.0, Some(Arc::new(hist::compact(&h)))));
    }
    let f = w.floats;
    if f.is_empty() {
        return None;
    }
    let ts: Vec<i64> = f.iter().map(|p| p.t).collect();
    let (mut first, mut last) = edges(&ts, start, end, smoothed)?;
    let left = pick_left(f, first, start, smoothed, is_counter);
    let right = pick_right(f, last, end, smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        // The edges already account for resets next to them; only samples strictly
        // inside the range can add more.
        if f[first].t <= start {
            first += 1;
        }
        if f[last].t >= end {
            last = last.wrapping_sub(1);
        }
        let inner = f.get(first..last.wrapping_add(1)).unwrap_or(&[]);
        let mut prev = left;
        for p in inner {
            if p.f < prev {
                result += prev;
            }
            prev = p.f;
        }
        if right < prev {
            result += prev;
        }
    }
    if is_rate {
        result /= c.range as f64 / 1000.0;
    }
    Some((result, None))
}

/// The histogram `increase`/`delta` of an extended window (not yet divided for `rate`).
fn hist_rate(
    w: &Window<'_>,
    c: &mut RangeCtx<'_>,
    start: i64,
    end: i64,
    is_counter: bool,
) -> Option<FloatHistogram> {
    let h = w.hists;
    let smoothed = c.smoothed;
    let ts: Vec<i64> = h.iter().map(|p| p.t).collect();
    let (first, last) = edges(&ts, start, end, smoothed)?;
    let custom = h[first].h.uses_custom_buckets();
    for p in &h[first..=last] {
        if p.h.uses_custom_buckets() != custom {
            mixed_schema(w, c);
            return None;
        }
        if is_counter && p.h.counter_reset_hint == CounterResetHint::Gauge {
            not_counter(w, c);
        }
    }
    let left = if smoothed && h[first].t < start && first + 1 < h.len() {
        interpolate_hist(&h[first], &h[first + 1], start, is_counter, c.annos, c.pos)
    } else {
        Ok((*h[first].h).clone())
    };
    let right = if smoothed && last > 0 && h[last].t > end {
        interpolate_hist(&h[last - 1], &h[last], end, is_counter, c.annos, c.pos)
    } else {
        Ok((*h[last].h).clone())
    };
    let (Ok(left), Ok(right)) = (left, right) else {
        mixed_schema(w, c);
        return None;
    };
    if !is_counter
        && (left.counter_reset_hint != CounterResetHint::Gauge
            || right.counter_reset_hint != CounterResetHint::Gauge)
    {
        not_gauge(w, c);
    }
    let mut result = combine(&right, &left, false, w, c)?;
    if is_counter {
        // `left` stands for h[first]; when smoothing interpolated it across a reset into
        // h[first + 1], that reset is already counted, so the scan starts after it.
        let mut from = first + 1;
        let mut prev: &FloatHistogram = &left;
        if smoothed
            && h[first].t < start
            && first + 1 < h.len()
            && hist::detect_reset(&h[first + 1].h, &h[first].h)
        {
            prev = &h[first + 1].h;
            from += 1;
        }
        // h[last] is left out: `right` copies it or inherits its reset hint, so comparing
        // it again would count a hinted reset twice.
        if from <= last {
            let mut correction: Option<FloatHistogram> = None;
            let mut add = |x: &FloatHistogram, c: &mut RangeCtx<'_>| -> Option<()> {
                correction = Some(match correction.take() {
                    None => x.clone(),
                    Some(acc) => combine(&acc, x, true, w, c)?,
                });
                Some(())
            };
            for p in &h[from..last] {
                if hist::detect_reset(&p.h, prev) {
                    add(prev, c)?;
                }
                prev = &p.h;
            }
            if hist::detect_reset(&right, prev) {
                add(prev, c)?;
            }
            if let Some(corr) = correction {
                result = combine(&result, &corr, true, w, c)?;
            }
        }
    }
    Some(result)
}

/// For `changes`/`resets` over an `anchored` window: where the float and histogram
/// scans start. The anchor is the single latest sample at or before the range start,
/// whatever its kind; older samples of either kind are skipped. `None` when no sample
/// lies after the range start.
pub(crate) fn anchored_starts(w: &Window<'_>, start: i64) -> Option<(usize, usize)> {
    let fl = search(w.floats.len(), |i| w.floats[i].t > start);
    let hl = search(w.hists.len(), |i| w.hists[i].t > start);
    if fl >= w.floats.len() && hl >= w.hists.len() {
        return None;
    }
    Some(match (fl.checked_sub(1), hl.checked_sub(1)) {
        (None, None) => (0, 0),
        (Some(f), None) => (f, hl),
        (Some(f), Some(h)) if w.floats[f].t >= w.hists[h].t => (f, hl),
        (_, Some(h)) => (fl, h),
    })
}

/// A bare `x[r] anchored` or `x[r] smoothed` at an instant: the samples inside the
/// range framed by a point at each edge, `mint` carrying the anchored or interpolated
/// start value and `maxt` the last or interpolated end value.
pub(crate) fn extend_floats(f: &[FPoint], mint: i64, maxt: i64, smoothed: bool) -> Vec<FPoint> {
    if f.is_empty() {
        return Vec::new();
    }
    let ts: Vec<i64> = f.iter().map(|p| p.t).collect();
    let mut last = f.len() - 1;
    let mut first = search(last, |i| ts[i] > mint).saturating_sub(1);
    if smoothed {
        last = search(last, |i| ts[i] >= maxt);
    }
    if f[last].t <= mint {
        return Vec::new();
    }
    let left = pick_left(f, first, mint, smoothed, false);
    let right = pick_right(f, last, maxt, smoothed, false);
    if f[first].t <= mint {
        first += 1;
    }
    if f[last].t >= maxt {
        last = last.wrapping_sub(1);
    }
    let inner = f.get(first..last.wrapping_add(1)).unwrap_or(&[]);
    let mut out = Vec::with_capacity(inner.len() + 2);
    out.push(FPoint { t: mint, f: left });
    out.extend_from_slice(inner);
    out.push(FPoint { t: maxt, f: right });
    out
}

/// The value of `x smoothed` at one step.
pub(crate) enum Smoothed {
    /// No value at this step.
    None,
    /// A float value.
    Float(f64),
    /// A histogram value.
    Hist(Arc<FloatHistogram>),
}

/// One step of `x smoothed`: the value at `at`, interpolated between the samples around
/// it (read from `(at - lookback, at + lookback]`), or the latest earlier sample when none
/// follows. Mixed floats and histograms, or mixed bucket kinds, give a warning at `pos`
/// and no value.
pub(crate) fn smoothed_at(
    floats: &[FPoint],
    hists: &[HPoint],
    at: i64,
    annos: &mut Annotations,
    pos: PosRange,
    metric: &str,
) -> Smoothed {
    if floats.is_empty() && hists.is_empty() {
        return Smoothed::None;
    }
    if !floats.is_empty() && !hists.is_empty() {
        annos.warn(
            format!(
                "encountered a mix of histograms and floats for metric name {}",
                promlite_model::go_quote(metric)
            ),
            pos,
        );
        return Smoothed::None;
    }
    if hists.is_empty() {
        let i = search(floats.len(), |i| floats[i].t >= at);
        return if i < floats.len() && floats[i].t == at {
            Smoothed::Float(floats[i].f)
        } else if i > 0 && i < floats.len() {
            Smoothed::Float(interpolate(floats[i - 1], floats[i], at, false))
        } else if i > 0 {
            Smoothed::Float(floats[i - 1].f)
        } else {
            Smoothed::None
        };
    }
    let i = search(hists.len(), |i| hists[i].t >= at);
    if i < hists.len() && hists[i].t == at {
        Smoothed::Hist(hists[i].h.clone())
    } else if i > 0 && i < hists.len() {
        let (prev, next) = (&hists[i - 1], &hists[i]);
        if prev.h.uses_custom_buckets() != next.h.uses_custom_buckets() {
            mixed_schema_msg(annos, pos, metric);
            return Smoothed::None;
        }
        // A histogram is a counter unless both neighbours say they are gauges.
        let is_counter = prev.h.counter_reset_hint != CounterResetHint::Gauge
            || next.h.counter_reset_hint != CounterResetHint::Gauge;
        match interpolate_hist(prev, next, at, is_counter, annos, pos) {
            Ok(h) => Smoothed::Hist(Arc::new(h)),
            Err(()) => {
                mixed_schema_msg(annos, pos, metric);
                Smoothed::None
            }
        }
    } else if i > 0 {
        // The hint describes the step from the previous sample, which a carried-forward
        // value no longer has.
        let mut h = (*hists[i - 1].h).clone();
        h.counter_reset_hint = CounterResetHint::Unknown;
        Smoothed::Hist(Arc::new(h))
    } else {
        Smoothed::None
    }
}

fn mixed_schema_msg(annos: &mut Annotations, pos: PosRange, metric: &str) {
    annos.warn(
        format!(
            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
            promlite_model::go_quote(metric)
        ),
        pos,
    );
}
