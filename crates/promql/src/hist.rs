//! Native-histogram arithmetic for the evaluator: scaling, addition and subtraction
//! across schemas and zero thresholds, custom-bucket reconciliation, counter-reset
//! detection, compaction, and the bucket walk that quantiles, fractions and variances
//! use.
//!
//! The model crate's [`FloatHistogram`] stores buckets as spans plus counts. Here a side
//! of a histogram is expanded to `(index, count)` pairs, combined, and packed back; the
//! packing drops empty buckets, which is Prometheus's `Compact(0)`.

use promlite_model::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Span};

/// One bucket with its bounds, in ascending order of bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub(crate) lower: f64,
    pub(crate) upper: f64,
    pub(crate) count: f64,
}

/// The upper bound of exponential bucket `idx` under `schema` (Prometheus's
/// `getBoundExponential`).
pub(crate) fn bound(idx: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = i64::from(idx) << (-schema);
        if exp >= 1024 {
            return f64::MAX;
        }
        ldexp(1.0, exp as i32)
    } else {
        let frac_idx = idx & ((1 << schema) - 1);
        let frac = 2f64.powf(f64::from(frac_idx) / f64::from(1 << schema)) / 2.0;
        let exp = (idx >> schema) + 1;
        if frac == 0.5 && exp == 1025 {
            return f64::MAX;
        }
        ldexp(frac, exp)
    }
}

fn ldexp(x: f64, exp: i32) -> f64 {
    if exp > 1023 {
        x * 2f64.powi(1023) * 2f64.powi(exp - 1023)
    } else if exp < -1022 {
        x * 2f64.powi(-1022) * 2f64.powi(exp + 1022)
    } else {
        x * 2f64.powi(exp)
    }
}

/// Expands spans and counts into `(index, count)` pairs.
pub(crate) fn pairs(spans: &[Span], counts: &[f64]) -> Vec<(i32, f64)> {
    promlite_model::bucket_indexes(spans)
        .zip(counts.iter().copied())
        .collect()
}

/// Packs sorted `(index, count)` pairs into spans and counts, dropping empty buckets.
pub(crate) fn pack(p: &[(i32, f64)]) -> (Vec<Span>, Vec<f64>) {
    pack_iter(p.iter().copied().filter(|&(_, c)| c != 0.0))
}

/// Packs sorted `(index, count)` pairs into spans and counts as they come.
fn pack_iter(p: impl Iterator<Item = (i32, f64)>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut counts = Vec::new();
    let mut next: Option<i32> = None;
    for (i, c) in p {
        match (next, spans.last_mut()) {
            (Some(n), Some(s)) if n == i => s.length += 1,
            (Some(n), _) => spans.push(Span {
                offset: i - n,
                length: 1,
            }),
            (None, _) => spans.push(Span {
                offset: i,
                length: 1,
            }),
        }
        counts.push(c);
        next = Some(i + 1);
    }
    (spans, counts)
}

/// Moves pairs to a lower-resolution schema, summing buckets that merge.
fn reduce(p: &[(i32, f64)], from: i32, to: i32) -> Vec<(i32, f64)> {
    if from <= to {
        return p.to_vec();
    }
    let shift = from - to;
    let mut out: Vec<(i32, f64)> = Vec::with_capacity(p.len());
    for &(i, c) in p {
        let t = ((i - 1) >> shift) + 1;
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 += c,
            _ => out.push((t, c)),
        }
    }
    out
}

/// Merges two sorted pair lists, adding (or subtracting) counts.
fn merge(a: &[(i32, f64)], b: &[(i32, f64)], sign: f64) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                out.push((x.0, x.1 + sign * y.1));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(*x);
                i += 1;
            }
            (Some(_) | None, Some(y)) => {
                out.push((y.0, sign * y.1));
                j += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// `h` with every count and the sum multiplied by `f` (a negative factor makes it a
/// gauge, as in Prometheus's `Mul`).
pub(crate) fn scale(h: &FloatHistogram, f: f64) -> FloatHistogram {
    let mut o = h.clone();
    if f < 0.0 {
        o.counter_reset_hint = CounterResetHint::Gauge;
    }
    o.zero_count *= f;
    o.count *= f;
    o.sum *= f;
    o.positive_buckets.iter_mut().for_each(|c| *c *= f);
    o.negative_buckets.iter_mut().for_each(|c| *c *= f);
    o
}

/// `h` with every count and the sum divided by `f`; dividing by zero drops the buckets
/// (Prometheus's `Div`).
pub(crate) fn div(h: &FloatHistogram, f: f64) -> FloatHistogram {
    let mut o = h.clone();
    o.zero_count /= f;
    o.count /= f;
    o.sum /= f;
    if f == 0.0 {
        o.positive_buckets.clear();
        o.negative_buckets.clear();
        o.positive_spans.clear();
        o.negative_spans.clear();
        return o;
    }
    if f < 0.0 {
        o.counter_reset_hint = CounterResetHint::Gauge;
    }
    o.positive_buckets.iter_mut().for_each(|c| *c /= f);
    o.negative_buckets.iter_mut().for_each(|c| *c /= f);
    o
}

/// Empty buckets removed and spans merged (Prometheus's `Compact(0)`).
pub(crate) fn compact(h: &FloatHistogram) -> FloatHistogram {
    let mut o = h.clone();
    let (ps, pb) = pack(&pairs(&h.positive_spans, &h.positive_buckets));
    let (ns, nb) = pack(&pairs(&h.negative_spans, &h.negative_buckets));
    o.positive_spans = ps;
    o.positive_buckets = pb;
    o.negative_spans = ns;
    o.negative_buckets = nb;
    o
}

/// The result of adding or subtracting histograms.
pub(crate) struct Combined {
    pub(crate) h: FloatHistogram,
    /// A `CounterReset` hint met a `NotCounterReset` hint.
    pub(crate) collision: bool,
    /// Custom bucket bounds differed and were intersected.
    pub(crate) reconciled: bool,
}

/// `a + b`. Fails when one uses custom buckets and the other exponential ones.
pub(crate) fn add(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, ()> {
    combine(a, b, 1.0)
}

/// `a - b`. Fails like [`add`].
pub(crate) fn sub(a: &FloatHistogram, b: &FloatHistogram) -> Result<Combined, ()> {
    combine(a, b, -1.0)
}

fn adjust_hint(a: CounterResetHint, b: CounterResetHint) -> (CounterResetHint, bool) {
    use CounterResetHint as H;
    match (a, b) {
        _ if a == b => (a, false),
        (H::Gauge, _) | (_, H::Gauge) => (H::Gauge, false),
        (H::Unknown, _) | (_, H::Unknown) => (H::Unknown, false),
        _ => (H::Unknown, true),
    }
}

fn combine(a: &FloatHistogram, b: &FloatHistogram, sign: f64) -> Result<Combined, ()> {
    if a.uses_custom_buckets() != b.uses_custom_buckets() {
        return Err(());
    }
    let (hint, collision) = adjust_hint(a.counter_reset_hint, b.counter_reset_hint);
    let mut o = FloatHistogram {
        counter_reset_hint: hint,
        schema: a.schema,
        zero_threshold: a.zero_threshold,
        zero_count: a.zero_count,
        count: a.count + sign * b.count,
        sum: a.sum + sign * b.sum,
        ..FloatHistogram::default()
    };
    let mut reconciled = false;
    if a.uses_custom_buckets() {
        let pa = pairs(&a.positive_spans, &a.positive_buckets);
        let pb = pairs(&b.positive_spans, &b.positive_buckets);
        let merged = if a.custom_values == b.custom_values {
            o.custom_values.clone_from(&a.custom_values);
            merge(&pa, &pb, sign)
        } else {
            reconciled = true;
            let bounds = intersect(&a.custom_values, &b.custom_values);
            let ra = remap_custom(&pa, &a.custom_values, &bounds);
            let rb = remap_custom(&pb, &b.custom_values, &bounds);
            o.custom_values = bounds;
            merge(&ra, &rb, sign)
        };
        let (s, c) = pack(&merged);
        o.positive_spans = s;
        o.positive_buckets = c;
        o.zero_threshold = 0.0;
        o.zero_count = 0.0;
        return Ok(Combined {
            h: o,
            collision,
            reconciled,
        });
    }
    let schema = a.schema.min(b.schema);
    o.schema = schema;
    let mut ap = reduce(
        &pairs(&a.positive_spans, &a.positive_buckets),
        a.schema,
        schema,
    );
    let mut an = reduce(
        &pairs(&a.negative_spans, &a.negative_buckets),
        a.schema,
        schema,
    );
    let mut bp = reduce(
        &pairs(&b.positive_spans, &b.positive_buckets),
        b.schema,
        schema,
    );
    let mut bn = reduce(
        &pairs(&b.negative_spans, &b.negative_buckets),
        b.schema,
        schema,
    );
    let (mut azc, mut azt) = (a.zero_count, a.zero_threshold);
    let (mut bzc, mut bzt) = (b.zero_count, b.zero_threshold);
    // Widen the narrower zero bucket until both agree (Prometheus's
    // `reconcileZeroBuckets`): buckets inside the wider zero bucket fold into it.
    let mut guard = 0;
    while azt != bzt && guard < 64 {
        guard += 1;
        if azt > bzt {
            (bzc, bzt) = widen_zero(&mut bp, &mut bn, bzc, bzt, azt, schema);
        }
        if bzt > azt {
            (azc, azt) = widen_zero(&mut ap, &mut an, azc, azt, bzt, schema);
        }
    }
    o.zero_threshold = azt;
    o.zero_count = azc + sign * bzc;
    let (ps, pc) = pack(&merge(&ap, &bp, sign));
    let (ns, nc) = pack(&merge(&an, &bn, sign));
    o.positive_spans = ps;
    o.positive_buckets = pc;
    o.negative_spans = ns;
    o.negative_buckets = nc;
    Ok(Combined {
        h: o,
        collision,
        reconciled,
    })
}

/// Folds buckets below `threshold` into the zero bucket; the threshold grows to the
/// upper bound of a populated bucket it cuts through.
fn widen_zero(
    pos: &mut Vec<(i32, f64)>,
    neg: &mut Vec<(i32, f64)>,
    zc: f64,
    zt: f64,
    mut threshold: f64,
    schema: i32,
) -> (f64, f64) {
    if threshold <= zt {
        return (zc, zt);
    }
    loop {
        let mut count = zc;
        let mut again = false;
        let mut pos_cut = 0;
        for (n, &(i, c)) in pos.iter().enumerate() {
            let lower = bound(i - 1, schema);
            let upper = bound(i, schema);
            if lower >= threshold {
                break;
            }
            count += c;
            pos_cut = n + 1;
            if upper > threshold {
                if c != 0.0 {
                    threshold = upper;
                }
                break;
            }
        }
        let mut neg_cut = 0;
        for (n, &(i, c)) in neg.iter().enumerate() {
            let upper = -bound(i - 1, schema);
            let lower = -bound(i, schema);
            if upper <= -threshold {
                break;
            }
            count += c;
            neg_cut = n + 1;
            if lower < -threshold {
                if c != 0.0 {
                    threshold = -lower;
                    again = true;
                }
                break;
            }
        }
        if again {
            continue;
        }
        pos.drain(..pos_cut);
        neg.drain(..neg_cut);
        return (count, threshold);
    }
}

fn intersect(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Maps custom buckets to the bucket of `bounds` that contains them.
fn remap_custom(p: &[(i32, f64)], from: &[f64], bounds: &[f64]) -> Vec<(i32, f64)> {
    let mut out: Vec<(i32, f64)> = Vec::new();
    for &(i, c) in p {
        let upper = from.get(i as usize).copied().unwrap_or(f64::INFINITY);
        let t = bounds.partition_point(|b| *b < upper) as i32;
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 += c,
            _ => out.push((t, c)),
        }
    }
    out.sort_by_key(|x| x.0);
    out
}

/// Whether two histograms are equal after compaction (Prometheus's `Equals`).
pub(crate) fn equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let same = |x: f64, y: f64| x == y || (x.is_nan() && y.is_nan());
    a.schema == b.schema
        && same(a.zero_threshold, b.zero_threshold)
        && same(a.zero_count, b.zero_count)
        && same(a.count, b.count)
        && same(a.sum, b.sum)
        && (!a.uses_custom_buckets() || a.custom_values == b.custom_values)
        && nonzero(&a.positive_spans, &a.positive_buckets)
            == nonzero(&b.positive_spans, &b.positive_buckets)
        && nonzero(&a.negative_spans, &a.negative_buckets)
            == nonzero(&b.negative_spans, &b.negative_buckets)
}

fn nonzero(spans: &[Span], counts: &[f64]) -> Vec<(i32, u64)> {
    pairs(spans, counts)
        .into_iter()
        .filter(|p| p.1 != 0.0)
        .map(|(i, c)| (i, c.to_bits()))
        .collect()
}

/// Whether `cur` is a counter reset relative to `prev` (Prometheus's `DetectReset`).
pub(crate) fn detect_reset(cur: &FloatHistogram, prev: &FloatHistogram) -> bool {
    match cur.counter_reset_hint {
        CounterResetHint::CounterReset => return true,
        CounterResetHint::NotCounterReset => return false,
        _ => {}
    }
    if cur.count < prev.count {
        return true;
    }
    if cur.uses_custom_buckets() != prev.uses_custom_buckets() {
        return true;
    }
    if cur.uses_custom_buckets() {
        let cp = pairs(&cur.positive_spans, &cur.positive_buckets);
        let pp = pairs(&prev.positive_spans, &prev.positive_buckets);
        let (cp, pp) = if cur.custom_values == prev.custom_values {
            (cp, pp)
        } else {
            let bounds = intersect(&cur.custom_values, &prev.custom_values);
            (
                remap_custom(&cp, &cur.custom_values, &bounds),
                remap_custom(&pp, &prev.custom_values, &bounds),
            )
        };
        return bucket_decreased(&cp, &pp);
    }
    if cur.schema > prev.schema {
        return true;
    }
    if cur.zero_threshold < prev.zero_threshold {
        return true;
    }
    let mut pp = reduce(
        &pairs(&prev.positive_spans, &prev.positive_buckets),
        prev.schema,
        cur.schema,
    );
    let mut pn = reduce(
        &pairs(&prev.negative_spans, &prev.negative_buckets),
        prev.schema,
        cur.schema,
    );
    let (pzc, pzt) = widen_zero(
        &mut pp,
        &mut pn,
        prev.zero_count,
        prev.zero_threshold,
        cur.zero_threshold,
        cur.schema,
    );
    if pzt != cur.zero_threshold && pzt > prev.zero_threshold.max(cur.zero_threshold) {
        return true;
    }
    if cur.zero_count < pzc {
        return true;
    }
    let cp = pairs(&cur.positive_spans, &cur.positive_buckets);
    let cn = pairs(&cur.negative_spans, &cur.negative_buckets);
    bucket_decreased(&cp, &pp) || bucket_decreased(&cn, &pn)
}

fn bucket_decreased(cur: &[(i32, f64)], prev: &[(i32, f64)]) -> bool {
    let mut j = 0;
    for &(i, c) in prev {
        if c == 0.0 {
            continue;
        }
        while j < cur.len() && cur[j].0 < i {
            j += 1;
        }
        match cur.get(j) {
            Some(&(ci, cc)) if ci == i => {
                if cc < c {
                    return true;
                }
            }
            _ => return true,
        }
    }
    false
}

/// All buckets in ascending order of bounds (Prometheus's `AllBucketIterator`):
/// negative buckets, the zero bucket when populated, positive buckets.
pub(crate) fn all_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let mut out = Vec::new();
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        for (i, c) in pairs(&h.positive_spans, &h.positive_buckets) {
            let lower = if i == 0 {
                f64::NEG_INFINITY
            } else {
                h.custom_values
                    .get(i as usize - 1)
                    .copied()
                    .unwrap_or(f64::INFINITY)
            };
            let upper = h
                .custom_values
                .get(i as usize)
                .copied()
                .unwrap_or(f64::INFINITY);
            out.push(Bucket {
                lower,
                upper,
                count: c,
            });
        }
        return out;
    }
    let zt = h.zero_threshold;
    for (i, c) in pairs(&h.negative_spans, &h.negative_buckets)
        .into_iter()
        .rev()
    {
        let mut b = Bucket {
            lower: -bound(i, h.schema),
            upper: -bound(i - 1, h.schema),
            count: c,
        };
        if b.upper < 0.0 && b.upper > -zt {
            b.upper = -zt;
        }
        out.push(b);
    }
    if h.zero_count > 0.0 {
        out.push(Bucket {
            lower: -zt,
            upper: zt,
            count: h.zero_count,
        });
    }
    for (i, c) in pairs(&h.positive_spans, &h.positive_buckets) {
        let mut b = Bucket {
            lower: bound(i - 1, h.schema),
            upper: bound(i, h.schema),
            count: c,
        };
        if b.lower > 0.0 && b.lower < zt {
            b.lower = zt;
        }
        out.push(b);
    }
    out
}

/// The experimental trim operators: `h </ v` keeps the observations below `v`
/// (`upper == true`), `h >/ v` those above, splitting the bucket `v` falls into
/// (linearly for custom buckets, exponentially otherwise) and re-estimating the sum from
/// bucket midpoints, as Prometheus's `TrimBuckets` does.
pub(crate) fn trim(h: &FloatHistogram, v: f64, upper: bool) -> FloatHistogram {
    let mut o = h.clone();
    let custom = h.uses_custom_buckets();
    let (mut count, mut sum) = (0.0, 0.0);
    let mut trimmed = false;
    let (mut has_pos, mut has_neg) = (false, false);
    for negative in [false, true] {
        let (spans, counts) = if negative {
            (&h.negative_spans, &mut o.negative_buckets)
        } else {
            (&h.positive_spans, &mut o.positive_buckets)
        };
        for (n, i) in promlite_model::bucket_indexes(spans).enumerate() {
            let c = counts[n];
            if c == 0.0 {
                continue;
            }
            if negative {
                has_neg = true;
            } else {
                has_pos = true;
            }
            let (lower, up) = if custom {
                (
                    if i == 0 {
                        f64::NEG_INFINITY
                    } else {
                        h.custom_values
                            .get(i as usize - 1)
                            .copied()
                            .unwrap_or(f64::INFINITY)
                    },
                    h.custom_values
                        .get(i as usize)
                        .copied()
                        .unwrap_or(f64::INFINITY),
                )
            } else if negative {
                (-bound(i, h.schema), -bound(i - 1, h.schema))
            } else {
                (bound(i - 1, h.schema), bound(i, h.schema))
            };
            let b = Bucket {
                lower,
                upper: up,
                count: c,
            };
            let keep_all = if upper { up <= v } else { lower >= v };
            let partial = if upper { lower < v } else { up > v };
            if keep_all {
                count += c;
                sum += midpoint(lower, up, !negative, custom) * c;
            } else if partial {
                let (keep, mid) = bucket_trim(b, v, upper, !negative, custom);
                count += keep;
                sum += mid * keep;
                if c != keep {
                    counts[n] = keep;
                    trimmed = true;
                }
            } else {
                counts[n] = 0.0;
                trimmed = true;
            }
        }
    }
    if h.zero_count > 0.0 {
        let (mut lower, mut up) = (-h.zero_threshold, h.zero_threshold);
        if has_neg && !has_pos {
            up = 0.0;
        }
        if has_pos && !has_neg {
            lower = 0.0;
        }
        let zc = h.zero_count;
        let (keep, mid) = if upper {
            if v <= lower {
                (0.0, 0.0)
            } else if v >= up {
                (zc, f64::midpoint(lower, up))
            } else {
                (zc * (v - lower) / (up - lower), f64::midpoint(lower, v))
            }
        } else if v <= lower {
            (zc, f64::midpoint(lower, up))
        } else if v >= up {
            (0.0, 0.0)
        } else {
            (zc * (up - v) / (up - lower), f64::midpoint(v, up))
        };
        if keep != zc {
            o.zero_count = keep;
            trimmed = true;
        }
        sum += mid * keep;
        count += keep;
    }
    if trimmed {
        o.count = count;
        o.sum = sum;
        return compact(&o);
    }
    o
}

fn midpoint(lower: f64, upper: f64, positive: bool, linear: bool) -> f64 {
    if lower.is_infinite() {
        if upper.is_infinite() {
            return 0.0;
        }
        if upper > 0.0 {
            return upper / 2.0;
        }
        return upper;
    } else if upper.is_infinite() {
        return lower;
    }
    if linear {
        return f64::midpoint(lower, upper);
    }
    let g = (lower * upper).abs().sqrt();
    if positive { g } else { -g }
}

fn fraction_below(b: Bucket, v: f64, linear: bool) -> f64 {
    if linear {
        return (v - b.lower) / (b.upper - b.lower);
    }
    let ll = b.lower.abs().log2();
    let lu = b.upper.abs().log2();
    let lv = v.abs().log2();
    if v > 0.0 {
        (lv - ll) / (lu - ll)
    } else {
        1.0 - ((lv - lu) / (ll - lu))
    }
}

fn bucket_trim(b: Bucket, v: f64, upper: bool, positive: bool, custom: bool) -> (f64, f64) {
    let zero_if_inf = |x: f64| if x.is_infinite() { 0.0 } else { x };
    if b.lower == f64::NEG_INFINITY {
        if upper {
            if v >= b.upper {
                return (b.count, 0.0);
            }
            if v > 0.0 && b.upper > 0.0 && b.upper.is_finite() {
                return (b.count * v / b.upper, v / 2.0);
            }
            if b.upper <= 0.0 {
                return (b.count, v);
            }
            return (0.0, zero_if_inf(b.upper));
        }
        if v <= b.lower {
            return (b.count, 0.0);
        }
        if v >= 0.0 && b.upper > v && b.upper.is_finite() {
            return (b.count * (1.0 - v / b.upper), f64::midpoint(v, b.upper));
        }
        return (0.0, zero_if_inf(b.upper));
    }
    if b.upper == f64::INFINITY {
        if upper {
            return (0.0, zero_if_inf(b.lower));
        }
        if v >= b.lower {
            return (b.count, v);
        }
        return (0.0, zero_if_inf(b.lower));
    }
    let under = if v <= b.lower {
        0.0
    } else if v >= b.upper {
        b.count
    } else {
        b.count * fraction_below(b, v, custom)
    };
    if upper {
        (under, midpoint(b.lower, v, positive, custom))
    } else {
        (b.count - under, midpoint(v, b.upper, positive, custom))
    }
}

/// A Kahan-compensated running sum of histograms (Prometheus's `KahanAdd`): every count,
/// the sum and every bucket carry their own compensation term, so adding `1e100`, `1`
/// and `-1e100` leaves `1`.
#[derive(Debug, Clone)]
pub(crate) struct KahanSum {
    sum: FloatHistogram,
    comp: FloatHistogram,
}

/// The buckets of `h` moved to `schema` with a zero bucket of at least `zt`.
fn layout(h: &FloatHistogram, schema: i32, zt: f64) -> (f64, Pairs, Pairs) {
    let mut p = reduce(
        &pairs(&h.positive_spans, &h.positive_buckets),
        h.schema,
        schema,
    );
    let mut n = reduce(
        &pairs(&h.negative_spans, &h.negative_buckets),
        h.schema,
        schema,
    );
    if h.uses_custom_buckets() {
        return (0.0, p, n);
    }
    let (zc, _) = widen_zero(&mut p, &mut n, h.zero_count, h.zero_threshold, zt, schema);
    (zc, p, n)
}

/// `(bucket index, count)` pairs of one side of a histogram.
type Pairs = Vec<(i32, f64)>;

fn kahan_pairs(s: &[(i32, f64)], c: &[(i32, f64)], x: &[(i32, f64)]) -> (Pairs, Pairs) {
    let mut idx: Vec<i32> = s.iter().chain(c).chain(x).map(|p| p.0).collect();
    idx.sort_unstable();
    idx.dedup();
    let get =
        |v: &[(i32, f64)], i: i32| v.binary_search_by_key(&i, |p| p.0).map_or(0.0, |k| v[k].1);
    let mut so = Vec::with_capacity(idx.len());
    let mut co = Vec::with_capacity(idx.len());
    for i in idx {
        let (ns, nc) = crate::aggr::kahan_inc(get(x, i), get(s, i), get(c, i));
        so.push((i, ns));
        co.push((i, nc));
    }
    (so, co)
}

fn with_pairs(
    base: &FloatHistogram,
    zc: f64,
    p: &[(i32, f64)],
    n: &[(i32, f64)],
) -> FloatHistogram {
    let mut o = base.clone();
    o.zero_count = zc;
    let (ps, pc) = pack_keep(p);
    let (ns, nc) = pack_keep(n);
    o.positive_spans = ps;
    o.positive_buckets = pc;
    o.negative_spans = ns;
    o.negative_buckets = nc;
    o
}

/// Like [`pack`] but keeps zero counts (compensation terms are often zero).
fn pack_keep(p: &[(i32, f64)]) -> (Vec<Span>, Vec<f64>) {
    pack_iter(p.iter().copied())
}

impl KahanSum {
    /// A sum starting at `h`.
    pub(crate) fn new(h: &FloatHistogram) -> KahanSum {
        let mut comp = FloatHistogram {
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            ..FloatHistogram::default()
        };
        comp.counter_reset_hint = h.counter_reset_hint;
        KahanSum {
            sum: h.clone(),
            comp,
        }
    }

    /// Whether the running sum overflowed to an infinity somewhere (Prometheus's
    /// `HasOverflow`), the signal to switch to an incremental mean.
    pub(crate) fn has_overflow(&self) -> bool {
        let h = &self.sum;
        h.count.is_infinite()
            || h.sum.is_infinite()
            || h.zero_count.is_infinite()
            || h.positive_buckets.iter().any(|c| c.is_infinite())
            || h.negative_buckets.iter().any(|c| c.is_infinite())
    }

    /// Multiplies the sum and its compensation by `f`.
    pub(crate) fn scale(&mut self, f: f64) {
        let (sh, ch) = (self.sum.counter_reset_hint, self.comp.counter_reset_hint);
        self.sum = scale(&self.sum, f);
        self.comp = scale(&self.comp, f);
        self.sum.counter_reset_hint = sh;
        self.comp.counter_reset_hint = ch;
    }

    /// Adds `h` to a running mean of `count - 1` histograms, or to a running sum until
    /// it would overflow (Prometheus's `avg` over histograms): `incremental` records
    /// which of the two the accumulator holds.
    pub(crate) fn add_for_mean(
        &mut self,
        h: &FloatHistogram,
        count: f64,
        incremental: &mut bool,
    ) -> Result<bool, ()> {
        if !*incremental {
            let mut trial = self.clone();
            let reconciled = trial.add(h)?;
            if !trial.has_overflow() {
                *self = trial;
                return Ok(reconciled);
            }
            *incremental = true;
            self.scale(1.0 / (count - 1.0));
        }
        self.scale((count - 1.0) / count);
        let hint = h.counter_reset_hint;
        let mut part = div(h, count);
        part.counter_reset_hint = hint;
        self.add(&part)
    }

    /// The mean of `count` histograms added with [`Self::add_for_mean`].
    pub(crate) fn mean(&self, count: f64, incremental: bool) -> FloatHistogram {
        let hint = self.sum.counter_reset_hint;
        let mut m = if incremental {
            self.total()
        } else {
            div(&self.total(), count)
        };
        m.counter_reset_hint = hint;
        m
    }

    /// Adds `h`; returns whether custom bounds were reconciled, or `Err` for a mix of
    /// exponential and custom buckets.
    pub(crate) fn add(&mut self, h: &FloatHistogram) -> Result<bool, ()> {
        let shape = combine(&self.sum, h, 1.0)?;
        let hint = adjust_hint(self.sum.counter_reset_hint, h.counter_reset_hint).0;
        if shape.reconciled || self.sum.uses_custom_buckets() {
            // Custom buckets: fold the compensation in first and add plainly.
            let folded =
                combine(&self.sum, &self.comp, 1.0).map_or_else(|()| self.sum.clone(), |r| r.h);
            let r = combine(&folded, h, 1.0)?;
            self.sum = r.h;
            self.sum.counter_reset_hint = hint;
            self.comp = FloatHistogram {
                schema: self.sum.schema,
                custom_values: self.sum.custom_values.clone(),
                ..FloatHistogram::default()
            };
            return Ok(shape.reconciled);
        }
        let (schema, zt) = (shape.h.schema, shape.h.zero_threshold);
        let (szc, sp, sn) = layout(&self.sum, schema, zt);
        let (czc, cp, cn) = layout(&self.comp, schema, zt);
        let (xzc, xp, xn) = layout(h, schema, zt);
        let (pos_s, pos_c) = kahan_pairs(&sp, &cp, &xp);
        let (neg_s, neg_c) = kahan_pairs(&sn, &cn, &xn);
        let (zs, zc) = crate::aggr::kahan_inc(xzc, szc, czc);
        let (cs, cc) = crate::aggr::kahan_inc(h.count, self.sum.count, self.comp.count);
        let (ss, sc) = crate::aggr::kahan_inc(h.sum, self.sum.sum, self.comp.sum);
        let mut base = self.sum.clone();
        base.schema = schema;
        base.zero_threshold = zt;
        base.count = cs;
        base.sum = ss;
        base.counter_reset_hint = hint;
        self.sum = with_pairs(&base, zs, &pos_s, &neg_s);
        let mut cbase = base.clone();
        cbase.count = cc;
        cbase.sum = sc;
        self.comp = with_pairs(&cbase, zc, &pos_c, &neg_c);
        Ok(false)
    }

    /// The compensated total.
    pub(crate) fn total(&self) -> FloatHistogram {
        let hint = self.sum.counter_reset_hint;
        let mut h = combine(&self.sum, &self.comp, 1.0).map_or_else(|()| self.sum.clone(), |r| r.h);
        h.counter_reset_hint = hint;
        h
    }
}
