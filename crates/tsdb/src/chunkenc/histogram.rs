//! Native-histogram chunks (`EncHistogram` = 2 and `EncFloatHistogram` = 3) in the layout
//! of Prometheus 3's `docs/format/chunks.md`: a sample count, a counter-reset header byte,
//! then a bit stream holding the chunk's bucket layout (zero threshold, schema, spans,
//! custom bounds) once, the first sample in full, and every later sample as deltas of
//! deltas (integer fields) or XORs (float fields).
//!
//! A chunk has one layout. Where Prometheus's appender re-codes a chunk when buckets
//! appear, this encoder starts a new chunk — readers accept either. It also starts a new
//! chunk at a detected counter reset (flagged in the header, as Prometheus does) and around
//! staleness markers, which therefore always sit first in a chunk, written in full.

use promlite_model::{
    BucketLayout, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Histogram, Span,
    value::is_stale_nan,
};

use super::bstream::{BitReader, BitWriter, Eof};
use super::varbit::{
    put_varbit_int, put_varbit_uint, put_xor, read_varbit_int, read_varbit_uint, read_xor,
};

/// Header byte values (the top two bits).
const HEADER_COUNTER_RESET: u8 = 0b1000_0000;
const HEADER_NOT_COUNTER_RESET: u8 = 0b0100_0000;
const HEADER_GAUGE: u8 = 0b1100_0000;
const HEADER_MASK: u8 = 0b1100_0000;

/// Samples per chunk before a new one is started.
const MAX_SAMPLES: usize = 120;

/// An encoded histogram chunk: its time range, sample count and bytes.
#[derive(Debug, Clone)]
pub struct HistogramChunk {
    /// First sample's timestamp.
    pub mint: i64,
    /// Last sample's timestamp.
    pub maxt: i64,
    /// Number of samples.
    pub samples: usize,
    /// The chunk (header included).
    pub bytes: Vec<u8>,
}

/// The layout every sample of a chunk shares.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    schema: i32,
    zero_threshold: f64,
    positive: Vec<Span>,
    negative: Vec<Span>,
    custom: Vec<f64>,
}

/// Whether two samples can share a chunk: everything of the layout but the reset hint
/// is equal. Compared in place: the encoder asks this of every sample.
fn same_layout(a: &BucketLayout<'_>, b: &BucketLayout<'_>) -> bool {
    a.schema == b.schema
        && a.zero_threshold == b.zero_threshold
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && a.custom_values == b.custom_values
}

fn header_for(hint: CounterResetHint) -> u8 {
    match hint {
        CounterResetHint::CounterReset => HEADER_COUNTER_RESET,
        CounterResetHint::NotCounterReset => HEADER_NOT_COUNTER_RESET,
        CounterResetHint::Gauge => HEADER_GAUGE,
        CounterResetHint::Unknown => 0,
    }
}

fn put_zero_threshold(w: &mut BitWriter, zt: f64) {
    // Powers of two from 2^-243 to 2^10 take one byte (the binary exponent, biased);
    // zero is a zero byte; anything else is 255 and the 64 raw bits.
    let bits = zt.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1022; // frexp exponent for normal numbers
    let mantissa = bits & ((1 << 52) - 1);
    if zt == 0.0 && bits == 0 {
        w.write_byte(0);
    } else if zt > 0.0 && mantissa == 0 && (-242..=11).contains(&exp) && (bits >> 52) & 0x7ff != 0 {
        w.write_byte((exp + 243) as u8);
    } else {
        w.write_byte(255);
        w.write_bits(bits, 64);
    }
}

fn read_zero_threshold(r: &mut BitReader<'_>) -> Result<f64, Eof> {
    match r.read_byte()? {
        0 => Ok(0.0),
        255 => Ok(f64::from_bits(r.read_bits(64)?)),
        b => Ok(0.5 * 2f64.powi(i32::from(b) - 243)),
    }
}

fn put_spans(w: &mut BitWriter, spans: &[Span]) {
    put_varbit_uint(w, spans.len() as u64);
    for s in spans {
        put_varbit_uint(w, u64::from(s.length));
        put_varbit_int(w, i64::from(s.offset));
    }
}

fn read_spans(r: &mut BitReader<'_>) -> Result<Vec<Span>, Eof> {
    let n = read_varbit_uint(r)?;
    // Each span takes at least two bits: a corrupt count cannot make us allocate much.
    let mut out = Vec::with_capacity((n as usize).min(1024));
    for _ in 0..n {
        let length = u32::try_from(read_varbit_uint(r)?).map_err(|_| Eof)?;
        let offset = i32::try_from(read_varbit_int(r)?).map_err(|_| Eof)?;
        out.push(Span { offset, length });
    }
    Ok(out)
}

fn put_custom(w: &mut BitWriter, values: &[f64]) {
    put_varbit_uint(w, values.len() as u64);
    for &v in values {
        // Bounds written by people are short decimals: x*1000 as an integer when that is
        // exact and small, else a 0 bit and the raw float.
        let y = v * 1000.0;
        if (0.0..=33_554_430.0).contains(&y) && y.fract() == 0.0 {
            put_varbit_uint(w, y as u64 + 1);
        } else {
            w.write_bit(false);
            w.write_bits(v.to_bits(), 64);
        }
    }
}

fn read_custom(r: &mut BitReader<'_>) -> Result<Vec<f64>, Eof> {
    let n = read_varbit_uint(r)?;
    let mut out = Vec::with_capacity((n as usize).min(1024));
    for _ in 0..n {
        let v = read_varbit_uint(r)?;
        // A 0 prefix bit reads as the value 0: the raw float follows.
        out.push(if v == 0 {
            f64::from_bits(r.read_bits(64)?)
        } else {
            (v - 1) as f64 / 1000.0
        });
    }
    Ok(out)
}

fn put_layout(w: &mut BitWriter, l: &BucketLayout<'_>) {
    put_zero_threshold(w, l.zero_threshold);
    put_varbit_int(w, i64::from(l.schema));
    put_spans(w, l.positive_spans);
    put_spans(w, l.negative_spans);
    if l.schema == CUSTOM_BUCKETS_SCHEMA {
        put_custom(w, l.custom_values);
    }
}

fn read_layout(r: &mut BitReader<'_>) -> Result<Layout, Eof> {
    let zero_threshold = read_zero_threshold(r)?;
    let schema = i32::try_from(read_varbit_int(r)?).map_err(|_| Eof)?;
    let positive = read_spans(r)?;
    let negative = read_spans(r)?;
    let custom = if schema == CUSTOM_BUCKETS_SCHEMA {
        read_custom(r)?
    } else {
        Vec::new()
    };
    Ok(Layout {
        schema,
        zero_threshold,
        positive,
        negative,
        custom,
    })
}

fn bucket_count(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.length as usize).sum()
}

/// Absolute bucket counts from Prometheus's delta-encoded integer buckets.
fn absolute(deltas: &[i64]) -> Vec<i64> {
    let mut acc = 0i64;
    deltas
        .iter()
        .map(|d| {
            acc = acc.wrapping_add(*d);
            acc
        })
        .collect()
}

/// What the chunk encoder needs of a histogram sample; integer and float histograms
/// share the chunk structure and differ in how their values are written.
trait ChunkSample {
    /// What later samples are encoded against: the previous values and their deltas.
    type State;
    fn layout(&self) -> BucketLayout<'_>;
    fn sum(&self) -> f64;
    /// Writes the chunk's first sample's values in full.
    fn put_first(&self, w: &mut BitWriter) -> Self::State;
    /// Whether this sample's counts fell below the previous sample's.
    fn decreased(&self, prev: &Self::State) -> bool;
    /// Writes this sample's values against the previous sample's.
    fn put_next(&self, w: &mut BitWriter, state: &mut Self::State);
}

/// Integer state: count, zero count, sum and buckets with their last deltas.
struct IntState {
    cnt: (i64, i64),
    zcnt: (i64, i64),
    sum: f64,
    lead: u8,
    trail: u8,
    buckets: Vec<i64>,
    bucket_deltas: Vec<i64>,
}

fn int_buckets(h: &Histogram) -> Vec<i64> {
    h.positive_buckets
        .iter()
        .chain(&h.negative_buckets)
        .copied()
        .collect()
}

impl ChunkSample for Histogram {
    type State = IntState;
    fn layout(&self) -> BucketLayout<'_> {
        self.bucket_layout()
    }
    fn sum(&self) -> f64 {
        self.sum
    }
    fn put_first(&self, w: &mut BitWriter) -> IntState {
        put_varbit_uint(w, self.count);
        put_varbit_uint(w, self.zero_count);
        w.write_bits(self.sum.to_bits(), 64);
        let buckets = int_buckets(self);
        for b in &buckets {
            put_varbit_int(w, *b);
        }
        IntState {
            cnt: (self.count as i64, 0),
            zcnt: (self.zero_count as i64, 0),
            sum: self.sum,
            lead: 0xff,
            trail: 0,
            bucket_deltas: vec![0; buckets.len()],
            buckets,
        }
    }
    fn decreased(&self, prev: &IntState) -> bool {
        (self.count as i64) < prev.cnt.0
            || (self.zero_count as i64) < prev.zcnt.0
            || absolute(&int_buckets(self))
                .iter()
                .zip(absolute(&prev.buckets))
                .any(|(a, b)| *a < b)
    }
    fn put_next(&self, w: &mut BitWriter, st: &mut IntState) {
        for (v, (last, last_delta)) in [
            (self.count as i64, &mut st.cnt),
            (self.zero_count as i64, &mut st.zcnt),
        ] {
            let d = v.wrapping_sub(*last);
            put_varbit_int(w, d.wrapping_sub(*last_delta));
            (*last, *last_delta) = (v, d);
        }
        put_xor(w, self.sum, st.sum, &mut st.lead, &mut st.trail);
        st.sum = self.sum;
        for (k, b) in int_buckets(self).into_iter().enumerate() {
            let d = b.wrapping_sub(st.buckets[k]);
            put_varbit_int(w, d.wrapping_sub(st.bucket_deltas[k]));
            (st.buckets[k], st.bucket_deltas[k]) = (b, d);
        }
    }
}

/// Float state: count, zero count, sum and buckets, each with its XOR window.
struct FloatState {
    prev: Vec<f64>,
    windows: Vec<(u8, u8)>,
}

fn float_values(h: &FloatHistogram) -> Vec<f64> {
    [h.count, h.zero_count, h.sum]
        .into_iter()
        .chain(
            h.positive_buckets
                .iter()
                .chain(&h.negative_buckets)
                .copied(),
        )
        .collect()
}

impl ChunkSample for FloatHistogram {
    type State = FloatState;
    fn layout(&self) -> BucketLayout<'_> {
        self.bucket_layout()
    }
    fn sum(&self) -> f64 {
        self.sum
    }
    fn put_first(&self, w: &mut BitWriter) -> FloatState {
        let prev = float_values(self);
        for v in &prev {
            w.write_bits(v.to_bits(), 64);
        }
        FloatState {
            windows: vec![(0xff, 0); prev.len()],
            prev,
        }
    }
    fn decreased(&self, st: &FloatState) -> bool {
        let cur = float_values(self);
        cur[0] < st.prev[0]
            || cur[1] < st.prev[1]
            || cur[3..].iter().zip(&st.prev[3..]).any(|(a, b)| a < b)
    }
    fn put_next(&self, w: &mut BitWriter, st: &mut FloatState) {
        let cur = float_values(self);
        for (k, v) in cur.iter().enumerate() {
            let (lead, trail) = &mut st.windows[k];
            put_xor(w, *v, st.prev[k], lead, trail);
        }
        st.prev = cur;
    }
}

/// Encodes histograms (time-ordered) into chunks: a new chunk at 120 samples, at a new
/// bucket layout, at a counter reset (flagged) and around staleness markers.
fn encode<H: ChunkSample>(samples: &[(i64, &H)]) -> Vec<HistogramChunk> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut header = None;
    while i < samples.len() {
        let (t0, h0) = samples[i];
        let layout = h0.layout();
        let gauge = layout.counter_reset_hint == CounterResetHint::Gauge;
        let hdr = header
            .take()
            .unwrap_or_else(|| header_for(layout.counter_reset_hint));
        let mut w = BitWriter::with_header(3, 128);
        w.bytes[2] = hdr;
        put_layout(&mut w, &layout);
        put_varbit_int(&mut w, t0);
        let mut state = h0.put_first(&mut w);
        let (mut t, mut t_delta) = (t0, 0i64);
        let mut n = 1;
        i += 1;
        let stale_first = is_stale_nan(h0.sum());
        while i < samples.len() && n < MAX_SAMPLES && !stale_first {
            let (ts, h) = samples[i];
            let l = h.layout();
            if is_stale_nan(h.sum()) || !same_layout(&l, &layout) {
                break;
            }
            if !gauge
                && (h.decreased(&state) || l.counter_reset_hint == CounterResetHint::CounterReset)
            {
                header = Some(HEADER_COUNTER_RESET);
                break;
            }
            let d = ts.wrapping_sub(t);
            put_varbit_int(&mut w, d.wrapping_sub(t_delta));
            (t, t_delta) = (ts, d);
            h.put_next(&mut w, &mut state);
            n += 1;
            i += 1;
        }
        w.bytes[..2].copy_from_slice(&(n as u16).to_be_bytes());
        out.push(HistogramChunk {
            mint: t0,
            maxt: t,
            samples: n,
            bytes: w.bytes,
        });
        if gauge {
            header = Some(HEADER_GAUGE);
        } else if header.is_none() && i < samples.len() {
            // A new layout or a staleness marker, not a reset: say nothing either way.
            header = Some(header_for(samples[i].1.layout().counter_reset_hint));
        }
    }
    out
}

/// Encodes integer histograms (time-ordered) into chunks.
pub(crate) fn encode_histograms(samples: &[(i64, &Histogram)]) -> Vec<HistogramChunk> {
    encode(samples)
}

/// Encodes float histograms (time-ordered) into chunks.
pub(crate) fn encode_float_histograms(samples: &[(i64, &FloatHistogram)]) -> Vec<HistogramChunk> {
    encode(samples)
}

/// Decodes a histogram chunk of either encoding; every sample comes out as a
/// [`FloatHistogram`] (integer chunks also as [`Histogram`] through
/// [`HistogramIter::at_histogram`]).
#[derive(Debug)]
pub struct HistogramIter<'a> {
    r: BitReader<'a>,
    float: bool,
    total: u16,
    read: u16,
    header: u8,
    layout: Option<Layout>,
    t: i64,
    t_delta: i64,
    cnt: i64,
    cnt_delta: i64,
    zcnt: i64,
    zcnt_delta: i64,
    buckets: Vec<i64>,
    bucket_deltas: Vec<i64>,
    floats: Vec<f64>,
    state: Vec<(u8, u8)>,
    int_hist: Histogram,
    float_hist: FloatHistogram,
}

impl<'a> HistogramIter<'a> {
    /// A decoder over `bytes` (header included); `float` for `EncFloatHistogram`.
    pub fn new(bytes: &'a [u8], float: bool) -> Result<HistogramIter<'a>, Eof> {
        let h = bytes.get(..3).ok_or(Eof)?;
        Ok(HistogramIter {
            r: BitReader::new(&bytes[3..]),
            float,
            total: u16::from_be_bytes([h[0], h[1]]),
            read: 0,
            header: h[2] & HEADER_MASK,
            layout: None,
            t: 0,
            t_delta: 0,
            cnt: 0,
            cnt_delta: 0,
            zcnt: 0,
            zcnt_delta: 0,
            buckets: Vec::new(),
            bucket_deltas: Vec::new(),
            floats: Vec::new(),
            state: Vec::new(),
            int_hist: Histogram::default(),
            float_hist: FloatHistogram::default(),
        })
    }

    /// The current sample's time.
    pub fn t(&self) -> i64 {
        self.t
    }

    /// The current sample (integer chunks only).
    pub fn at_histogram(&self) -> &Histogram {
        &self.int_hist
    }

    /// The current sample as float counts.
    pub fn at_float_histogram(&self) -> &FloatHistogram {
        &self.float_hist
    }

    fn hint(&self) -> CounterResetHint {
        match (self.header, self.read) {
            (HEADER_GAUGE, _) => CounterResetHint::Gauge,
            (HEADER_COUNTER_RESET, 0) => CounterResetHint::CounterReset,
            (HEADER_NOT_COUNTER_RESET, _) | (_, 1..) => CounterResetHint::NotCounterReset,
            _ => CounterResetHint::Unknown,
        }
    }

    /// Advances; `Ok(false)` at the end.
    pub fn next_sample(&mut self) -> Result<bool, Eof> {
        if self.read == self.total {
            return Ok(false);
        }
        let hint = self.hint();
        if self.read == 0 {
            let layout = read_layout(&mut self.r)?;
            let nb = bucket_count(&layout.positive) + bucket_count(&layout.negative);
            self.t = read_varbit_int(&mut self.r)?;
            if self.float {
                self.floats = (0..3 + nb)
                    .map(|_| self.r.read_bits(64).map(f64::from_bits))
                    .collect::<Result<_, _>>()?;
                self.state = vec![(0xff, 0); self.floats.len()];
            } else {
                self.cnt = read_varbit_uint(&mut self.r)? as i64;
                self.zcnt = read_varbit_uint(&mut self.r)? as i64;
                self.floats = vec![f64::from_bits(self.r.read_bits(64)?)];
                self.state = vec![(0xff, 0)];
                self.buckets = (0..nb)
                    .map(|_| read_varbit_int(&mut self.r))
                    .collect::<Result<_, _>>()?;
                self.bucket_deltas = vec![0; nb];
            }
            self.layout = Some(layout);
        } else {
            let d = self.t_delta.wrapping_add(read_varbit_int(&mut self.r)?);
            self.t = self.t.wrapping_add(d);
            self.t_delta = d;
            if self.float {
                for k in 0..self.floats.len() {
                    let (l, tr) = &mut self.state[k];
                    self.floats[k] = read_xor(&mut self.r, self.floats[k], l, tr)?;
                }
            } else {
                let d = self.cnt_delta.wrapping_add(read_varbit_int(&mut self.r)?);
                self.cnt = self.cnt.wrapping_add(d);
                self.cnt_delta = d;
                let d = self.zcnt_delta.wrapping_add(read_varbit_int(&mut self.r)?);
                self.zcnt = self.zcnt.wrapping_add(d);
                self.zcnt_delta = d;
                let (l, tr) = &mut self.state[0];
                self.floats[0] = read_xor(&mut self.r, self.floats[0], l, tr)?;
                for k in 0..self.buckets.len() {
                    let d = self.bucket_deltas[k].wrapping_add(read_varbit_int(&mut self.r)?);
                    self.buckets[k] = self.buckets[k].wrapping_add(d);
                    self.bucket_deltas[k] = d;
                }
            }
        }
        self.read += 1;
        let Some(l) = &self.layout else {
            return Err(Eof);
        };
        let np = bucket_count(&l.positive);
        if self.float {
            let f = &self.floats;
            self.float_hist = FloatHistogram {
                counter_reset_hint: hint,
                schema: l.schema,
                zero_threshold: l.zero_threshold,
                count: f[0],
                zero_count: f[1],
                sum: f[2],
                positive_spans: l.positive.clone(),
                negative_spans: l.negative.clone(),
                positive_buckets: f[3..3 + np].to_vec(),
                negative_buckets: f[3 + np..].to_vec(),
                custom_values: l.custom.clone(),
            };
        } else {
            self.int_hist = Histogram {
                counter_reset_hint: hint,
                schema: l.schema,
                zero_threshold: l.zero_threshold,
                count: self.cnt as u64,
                zero_count: self.zcnt as u64,
                sum: self.floats[0],
                positive_spans: l.positive.clone(),
                negative_spans: l.negative.clone(),
                positive_buckets: self.buckets[..np].to_vec(),
                negative_buckets: self.buckets[np..].to_vec(),
                custom_values: l.custom.clone(),
            };
            self.float_hist = self.int_hist.to_float();
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hist(count: u64, buckets: Vec<i64>, schema: i32, sum: f64) -> Histogram {
        Histogram {
            schema,
            count,
            zero_count: count / 4,
            sum,
            zero_threshold: 2f64.powi(-128),
            positive_spans: vec![Span {
                offset: -1,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets,
            ..Default::default()
        }
    }

    fn decode_int(chunks: &[HistogramChunk]) -> Vec<(i64, Histogram)> {
        let mut out = Vec::new();
        for c in chunks {
            let mut it = HistogramIter::new(&c.bytes, false).unwrap();
            while it.next_sample().unwrap() {
                out.push((it.t(), it.at_histogram().clone()));
            }
        }
        out
    }

    proptest! {
        #[test]
        fn integer_histograms_round_trip(steps in proptest::collection::vec((1i64..100_000, 0u64..50, 0usize..3, 0u8..10), 1..300)) {
            let mut t = 0;
            let mut count = 0;
            let mut samples = Vec::new();
            for (dt, inc, nb, reset) in steps {
                t += dt;
                count = if reset == 0 { inc } else { count + inc };
                let buckets: Vec<i64> = (0..=nb as i64).map(|k| (count as i64 / (k + 2)) - k).collect();
                samples.push((t, hist(count, buckets, if nb == 2 { 3 } else { 0 }, count as f64 * 0.7)));
            }
            let refs: Vec<(i64, &Histogram)> = samples.iter().map(|(t, h)| (*t, h)).collect();
            let chunks = encode_histograms(&refs);
            let got = decode_int(&chunks);
            prop_assert_eq!(got.len(), samples.len());
            for ((gt, gh), (wt, wh)) in got.iter().zip(&samples) {
                prop_assert_eq!(gt, wt);
                let mut gh = gh.clone();
                gh.counter_reset_hint = wh.counter_reset_hint;
                prop_assert_eq!(&gh, wh);
            }
        }

        #[test]
        fn float_histograms_round_trip(values in proptest::collection::vec((1i64..1000, any::<f64>(), 0.0f64..1e9), 1..200)) {
            let mut t = 0;
            let mut samples = Vec::new();
            for (dt, sum, c) in values {
                t += dt;
                let h = FloatHistogram {
                    schema: CUSTOM_BUCKETS_SCHEMA,
                    count: c,
                    zero_count: 0.0,
                    sum,
                    positive_spans: vec![Span { offset: 0, length: 3 }],
                    positive_buckets: vec![c / 3.0, c / 2.0, c],
                    custom_values: vec![0.1, 0.25, 1.5, 1e-9],
                    counter_reset_hint: CounterResetHint::Gauge,
                    ..Default::default()
                };
                samples.push((t, h));
            }
            let refs: Vec<(i64, &FloatHistogram)> = samples.iter().map(|(t, h)| (*t, h)).collect();
            let chunks = encode_float_histograms(&refs);
            let mut got = Vec::new();
            for c in &chunks {
                let mut it = HistogramIter::new(&c.bytes, true).unwrap();
                while it.next_sample().unwrap() {
                    got.push((it.t(), it.at_float_histogram().clone()));
                }
            }
            prop_assert_eq!(got.len(), samples.len());
            for ((gt, gh), (wt, wh)) in got.iter().zip(&samples) {
                prop_assert_eq!(gt, wt);
                prop_assert_eq!(gh.sum.to_bits(), wh.sum.to_bits());
                prop_assert_eq!(&gh.positive_buckets, &wh.positive_buckets);
                prop_assert_eq!(&gh.custom_values, &wh.custom_values);
                prop_assert_eq!(gh.counter_reset_hint, CounterResetHint::Gauge);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), float in any::<bool>()) {
            if let Ok(mut it) = HistogramIter::new(&bytes, float) {
                while let Ok(true) = it.next_sample() {}
            }
        }
    }

    #[test]
    fn counter_resets_start_flagged_chunks_and_zero_thresholds_encode_compactly() {
        let a = hist(10, vec![5, 1], 0, 1.0);
        let b = hist(3, vec![1, 1], 0, 0.5);
        let chunks = encode_histograms(&[(1, &a), (2, &b)]);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].bytes[2], HEADER_COUNTER_RESET);
        let got = decode_int(&chunks);
        assert_eq!(got[1].1.counter_reset_hint, CounterResetHint::CounterReset);
        for zt in [0.0, 2f64.powi(-128), 1.0, 1024.0, 0.3, 2f64.powi(-243)] {
            let mut w = BitWriter::default();
            put_zero_threshold(&mut w, zt);
            let mut r = BitReader::new(&w.bytes);
            assert_eq!(
                read_zero_threshold(&mut r).unwrap().to_bits(),
                zt.to_bits(),
                "{zt}"
            );
        }
        let mut w = BitWriter::default();
        put_zero_threshold(&mut w, 2f64.powi(-128));
        assert_eq!(
            w.bytes.len(),
            2,
            "one byte (plus the writer's empty trailing byte)"
        );
    }
}
