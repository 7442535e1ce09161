//! Iteration over a series stored as a list of encoded chunks, shared by the head and
//! blocks: whole chunks outside the wanted range are skipped without decoding.

use std::borrow::Cow;
use std::sync::Arc;

use promlite_model::{FloatHistogram, Histogram};
use promlite_storage::{FPoint, LastSample, SampleIterator, ValueType};

use crate::chunkenc::{Encoding, HistogramIter, XorIter};

/// A chunk to read: its time range, encoding and bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkRef<'a> {
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) encoding: Encoding,
    pub(crate) bytes: &'a [u8],
}

/// The chunk being decoded.
enum Cur<'a> {
    Xor(XorIter<'a>),
    Hist(Box<HistogramIter<'a>>, ValueType),
}

impl Cur<'_> {
    fn next_sample(&mut self) -> Result<bool, crate::chunkenc::Eof> {
        match self {
            Cur::Xor(it) => it.next_sample(),
            Cur::Hist(it, _) => it.next_sample(),
        }
    }

    fn t(&self) -> i64 {
        match self {
            Cur::Xor(it) => it.at().0,
            Cur::Hist(it, _) => it.t(),
        }
    }

    fn value_type(&self) -> ValueType {
        match self {
            Cur::Xor(_) => ValueType::Float,
            Cur::Hist(_, vt) => *vt,
        }
    }
}

/// Iterates a series' chunks in order, clipped to `[mint, maxt]`. The chunks must not
/// overlap in time; a series whose float and histogram chunks do is read through two of
/// these, merged (see [`split_by_kind`]).
pub(crate) struct ChunksIter<'a> {
    /// Borrowed from a block's series where it can be: a query reads each series once.
    chunks: Cow<'a, [ChunkRef<'a>]>,
    next_chunk: usize,
    cur: Option<Cur<'a>>,
    mint: i64,
    maxt: i64,
    err: Option<promlite_storage::Error>,
    done: bool,
}

/// Reads chunks of any encoding in time order: one iterator when all share a kind,
/// otherwise the float and histogram chunks each in order, merged by timestamp.
pub(crate) fn split_by_kind<'a>(
    chunks: &'a [ChunkRef<'a>],
    mint: i64,
    maxt: i64,
) -> Box<dyn SampleIterator + 'a> {
    if chunks.iter().all(|c| c.encoding == Encoding::Xor)
        || chunks.iter().all(|c| c.encoding != Encoding::Xor)
    {
        return Box::new(ChunksIter::new(chunks, mint, maxt));
    }
    let (floats, hists): (Vec<_>, Vec<_>) = chunks
        .iter()
        .copied()
        .partition(|c| c.encoding == Encoding::Xor);
    Box::new(promlite_storage::ChainIterator::new(vec![
        Box::new(ChunksIter::new(floats, mint, maxt)),
        Box::new(ChunksIter::new(hists, mint, maxt)),
    ]))
}

impl<'a> ChunksIter<'a> {
    pub(crate) fn new(
        chunks: impl Into<Cow<'a, [ChunkRef<'a>]>>,
        mint: i64,
        maxt: i64,
    ) -> ChunksIter<'a> {
        ChunksIter {
            chunks: chunks.into(),
            next_chunk: 0,
            cur: None,
            mint,
            maxt,
            err: None,
            done: false,
        }
    }

    fn fail(&mut self, why: &str) -> ValueType {
        self.err = Some(promlite_storage::Error::Other(why.into()));
        self.done = true;
        ValueType::None
    }

    /// Advances to the next sample with timestamp ≥ `t` (and ≥ mint).
    fn advance(&mut self, t: i64) -> ValueType {
        if self.done {
            return ValueType::None;
        }
        let t = t.max(self.mint);
        loop {
            // A float chunk is decoded up to `t` in one tight loop, without stopping at
            // each sample before it.
            if t > i64::MIN
                && let Some(Cur::Xor(it)) = &mut self.cur
            {
                match it.skip_until(t - 1) {
                    Ok(true) => {
                        if it.at().0 > self.maxt {
                            self.done = true;
                            return ValueType::None;
                        }
                        return ValueType::Float;
                    }
                    Ok(false) => self.cur = None,
                    Err(_) => return self.fail("corrupt chunk"),
                }
            }
            if let Some(it) = &mut self.cur {
                match it.next_sample() {
                    Ok(true) => {
                        let st = it.t();
                        if st > self.maxt {
                            self.done = true;
                            return ValueType::None;
                        }
                        if st >= t {
                            return it.value_type();
                        }
                        continue;
                    }
                    Ok(false) => self.cur = None,
                    Err(_) => return self.fail("corrupt chunk"),
                }
            }
            // Skip whole chunks that end before `t`.
            while self.chunks.get(self.next_chunk).is_some_and(|c| c.maxt < t) {
                self.next_chunk += 1;
            }
            let Some(c) = self
                .chunks
                .get(self.next_chunk)
                .filter(|c| c.mint <= self.maxt)
            else {
                self.done = true;
                return ValueType::None;
            };
            self.next_chunk += 1;
            let cur = match c.encoding {
                Encoding::Xor => XorIter::new(c.bytes).map(Cur::Xor),
                Encoding::Histogram => HistogramIter::new(c.bytes, false)
                    .map(|it| Cur::Hist(Box::new(it), ValueType::Histogram)),
                Encoding::FloatHistogram => HistogramIter::new(c.bytes, true)
                    .map(|it| Cur::Hist(Box::new(it), ValueType::FloatHistogram)),
            };
            match cur {
                Ok(it) => self.cur = Some(it),
                Err(_) => return self.fail("corrupt chunk header"),
            }
        }
    }
}

impl SampleIterator for ChunksIter<'_> {
    fn next(&mut self) -> ValueType {
        self.advance(i64::MIN)
    }

    /// Decodes runs of XOR samples straight into `out`, a chunk at a time with the
    /// chunk's batch decoder ([`XorIter::read_until`]): the bulk path range selectors
    /// read through.
    fn read_floats(&mut self, maxt: i64, out: &mut Vec<FPoint>) -> ValueType {
        let end = self.maxt;
        let limit = maxt.min(end);
        // Room for the later chunks this read reaches, as their headers count them: a
        // range query reads thousands of samples per series, which would otherwise grow
        // `out` by doubling, each time copying what it holds.
        let room: usize = self.chunks[self.next_chunk..]
            .iter()
            .take_while(|c| c.mint <= limit)
            .filter(|c| c.encoding == Encoding::Xor)
            .filter_map(|c| XorIter::new(c.bytes).ok())
            .map(|it| it.left())
            .sum();
        let current = match &self.cur {
            Some(Cur::Xor(it)) => it.left() + 1,
            _ => 0,
        };
        out.reserve(room + current);
        loop {
            let Some(Cur::Xor(it)) = &mut self.cur else {
                return self.cur.as_ref().map_or(ValueType::None, Cur::value_type);
            };
            let (t, f) = it.at();
            if t > maxt {
                return ValueType::Float;
            }
            out.push(FPoint { t, f });
            match it.read_until(limit, out) {
                // Stopped at a sample past the iterator's end (exhausted) or past the
                // caller's limit (which stays current).
                Ok(true) => {
                    if it.at().0 > end {
                        self.done = true;
                        return ValueType::None;
                    }
                    return ValueType::Float;
                }
                Ok(false) => {
                    self.cur = None;
                    match self.advance(i64::MIN) {
                        ValueType::Float => {}
                        vt => return vt,
                    }
                }
                Err(_) => return self.fail("corrupt chunk"),
            }
        }
    }

    /// Starts at the last chunk that begins by `maxt` (the chunks before it end before
    /// it begins, so cannot hold the answer), then decodes float chunks with
    /// [`XorIter::last_until`]. A histogram is copied only where it may be the answer:
    /// when its chunk reaches past `maxt` or it is its chunk's last sample.
    fn last_in(&mut self, mint: i64, maxt: i64) -> Option<LastSample> {
        let hi = maxt.min(self.maxt);
        if self.cur.is_none() && !self.done {
            while self
                .chunks
                .get(self.next_chunk + 1)
                .is_some_and(|c| c.mint <= hi)
            {
                self.next_chunk += 1;
            }
            // The usual instant query: the window reaches past the float chunk's end, so
            // the answer is its last sample, where a skip to the end leaves the decoder
            // (no seek to `mint` first, nothing kept on the way). A chunk whose samples
            // do not end by `hi` after all is read below.
            if let Some(c) = self.chunks.get(self.next_chunk)
                && c.encoding == Encoding::Xor
                && c.maxt <= hi
                && let Ok(mut it) = XorIter::new(c.bytes)
                && matches!(it.next_sample(), Ok(true))
                && matches!(it.skip_until(hi), Ok(false))
            {
                let (t, f) = it.at();
                if t <= hi {
                    self.done = true;
                    return (t >= mint.max(self.mint))
                        .then_some(LastSample::Float(FPoint { t, f }));
                }
            }
        }
        let mut last = None;
        let mut vt = self.seek(mint);
        loop {
            match (&mut self.cur, vt) {
                (_, ValueType::None) => return last,
                (Some(Cur::Xor(it)), ValueType::Float) => {
                    let (t, f) = it.at();
                    if t > hi {
                        return last;
                    }
                    let Ok((stopped, newer)) = it.last_until(hi) else {
                        self.fail("corrupt chunk");
                        return last;
                    };
                    last = Some(LastSample::Float(newer.unwrap_or(FPoint { t, f })));
                    if stopped {
                        self.done = true;
                        return last;
                    }
                    self.cur = None;
                    vt = self.advance(i64::MIN);
                }
                _ => {
                    let t = self.at_t();
                    if t > hi {
                        return last;
                    }
                    // A sample before its chunk's end has a successor in the chunk, which
                    // is the newer answer when the chunk ends by `hi`.
                    let chunk_end = self
                        .next_chunk
                        .checked_sub(1)
                        .and_then(|i| self.chunks.get(i))
                        .map_or(i64::MAX, |c| c.maxt);
                    if !(t < chunk_end && chunk_end <= hi) {
                        let (t, h) = self.at_float_histogram();
                        last = Some(LastSample::Histogram(t, Arc::new(h.into_owned())));
                    }
                    vt = self.next();
                }
            }
        }
    }

    fn seek(&mut self, t: i64) -> ValueType {
        if self.done {
            return ValueType::None;
        }
        if let Some(it) = &self.cur
            && it.t() >= t.max(self.mint)
        {
            return it.value_type();
        }
        self.advance(t)
    }

    fn at(&self) -> (i64, f64) {
        match &self.cur {
            Some(Cur::Xor(it)) => it.at(),
            _ => panic!("at() called without a current float sample"),
        }
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        match &self.cur {
            Some(Cur::Hist(it, ValueType::Histogram)) => (it.t(), it.at_histogram()),
            _ => panic!("at_histogram() called without a current integer histogram"),
        }
    }

    fn at_float_histogram(&self) -> (i64, Cow<'_, FloatHistogram>) {
        match &self.cur {
            Some(Cur::Hist(it, _)) => (it.t(), Cow::Borrowed(it.at_float_histogram())),
            _ => panic!("at_float_histogram() called without a current histogram"),
        }
    }

    fn at_t(&self) -> i64 {
        self.cur
            .as_ref()
            .expect("at_t() called without a current sample")
            .t()
    }

    fn err(&self) -> Option<&promlite_storage::Error> {
        self.err.as_ref()
    }
}

/// Hides samples that fall in deleted intervals (tombstones) from another iterator.
pub(crate) struct Deleted<'a> {
    inner: Box<dyn SampleIterator + 'a>,
    intervals: Vec<(i64, i64)>,
}

impl<'a> Deleted<'a> {
    /// Wraps `inner` unless there is nothing to hide.
    pub(crate) fn wrap(
        inner: Box<dyn SampleIterator + 'a>,
        intervals: &[(i64, i64)],
    ) -> Box<dyn SampleIterator + 'a> {
        if intervals.is_empty() {
            inner
        } else {
            Box::new(Deleted {
                inner,
                intervals: intervals.to_vec(),
            })
        }
    }

    /// Moves past deleted samples starting from the current one.
    fn skip(&mut self, mut vt: ValueType) -> ValueType {
        while vt != ValueType::None {
            let t = self.inner.at_t();
            let i = self.intervals.partition_point(|iv| iv.1 < t);
            match self.intervals.get(i) {
                // Inside a deleted interval: jump to its end.
                Some(&(a, b)) if a <= t => vt = self.inner.seek(b.saturating_add(1)),
                _ => return vt,
            }
        }
        vt
    }
}

impl SampleIterator for Deleted<'_> {
    fn next(&mut self) -> ValueType {
        let vt = self.inner.next();
        self.skip(vt)
    }

    fn seek(&mut self, t: i64) -> ValueType {
        let vt = self.inner.seek(t);
        self.skip(vt)
    }

    fn at(&self) -> (i64, f64) {
        self.inner.at()
    }

    fn at_histogram(&self) -> (i64, &Histogram) {
        self.inner.at_histogram()
    }

    fn at_float_histogram(&self) -> (i64, Cow<'_, FloatHistogram>) {
        self.inner.at_float_histogram()
    }

    fn at_t(&self) -> i64 {
        self.inner.at_t()
    }

    fn err(&self) -> Option<&promlite_storage::Error> {
        self.inner.err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunkenc::XorChunk;
    use proptest::prelude::*;

    fn refs(chunks: &[XorChunk]) -> Vec<ChunkRef<'_>> {
        chunks
            .iter()
            .enumerate()
            .map(|(c, x)| ChunkRef {
                mint: c as i64 * 1000,
                maxt: c as i64 * 1000 + 49 * 20,
                encoding: Encoding::Xor,
                bytes: x.bytes(),
            })
            .collect()
    }

    /// `read_floats` reads exactly what `at`/`next` read, across chunk boundaries and
    /// for every combination of the iterator's range and the caller's limit.
    #[test]
    fn bulk_reads_match_sample_by_sample_reads() {
        let chunks: Vec<XorChunk> = (0..4)
            .map(|c| {
                let mut x = XorChunk::new();
                for i in 0..50 {
                    let t = c * 1000 + i * 20;
                    x.append(t, (t as f64).sqrt());
                }
                x
            })
            .collect();
        for (mint, maxt) in [
            (i64::MIN, i64::MAX),
            (0, 3980),
            (500, 2500),
            (1000, 1980),
            (970, 990),
        ] {
            for limit in [-1, 0, 19, 20, 980, 999, 1000, 2470, 5000] {
                let mut slow = ChunksIter::new(refs(&chunks), mint, maxt);
                let mut want = Vec::new();
                let mut vt = slow.next();
                while vt == ValueType::Float {
                    let (t, f) = slow.at();
                    if t > limit {
                        break;
                    }
                    want.push(FPoint { t, f });
                    vt = slow.next();
                }
                let mut fast = ChunksIter::new(refs(&chunks), mint, maxt);
                let mut got = Vec::new();
                let gvt = if fast.next() == ValueType::Float {
                    fast.read_floats(limit, &mut got)
                } else {
                    ValueType::None
                };
                assert_eq!(got, want, "range {mint}..{maxt}, limit {limit}");
                assert_eq!(gvt, vt, "range {mint}..{maxt}, limit {limit}");
                if gvt == ValueType::Float {
                    assert_eq!(fast.at(), slow.at());
                    assert_eq!(fast.next(), slow.next());
                }
            }
        }
    }

    /// Chunks of the given sizes over consecutive samples, with their time ranges.
    fn chunked(samples: &[(i64, f64)], sizes: &[usize]) -> Vec<(i64, i64, XorChunk)> {
        let mut out = Vec::new();
        let mut rest = samples;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            let (head, tail) = rest.split_at(n);
            let mut x = XorChunk::new();
            for &(t, v) in head {
                x.append(t, v);
            }
            out.push((head[0].0, head[n - 1].0, x));
            rest = tail;
        }
        out
    }

    /// The chunks of [`chunked`] as the iterator reads them.
    fn xor_refs(chunks: &[(i64, i64, XorChunk)]) -> impl Iterator<Item = ChunkRef<'_>> {
        chunks.iter().map(|(mint, maxt, x)| ChunkRef {
            mint: *mint,
            maxt: *maxt,
            encoding: Encoding::Xor,
            bytes: x.bytes(),
        })
    }

    proptest! {
        /// After a seek into the middle of a series, bulk reads (the batch decoder) read
        /// exactly what sample-by-sample reads do, for chunks of 1 to 480 samples,
        /// irregular timestamps and NaN or stale-marker values.
        #[test]
        fn bulk_reads_after_seek_match(
            steps in proptest::collection::vec(
                (prop_oneof![4 => Just(10_000i64), 1 => 1i64..30_000, 1 => 1i64..(1 << 36)],
                 prop_oneof![3 => Just(None), 2 => any::<f64>().prop_map(Some),
                             1 => Just(Some(f64::NAN)),
                             1 => Just(Some(f64::from_bits(0x7ff0_0000_0000_0002)))]),
                1..1500),
            sizes in proptest::collection::vec(1usize..=480, 1..6),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 4),
            limits in proptest::collection::vec(-3i64..4, 2),
        ) {
            let mut t = -5_000_000i64;
            let mut v = 0.0;
            let samples: Vec<(i64, f64)> = steps
                .into_iter()
                .map(|(d, nv)| {
                    t += d;
                    v = nv.unwrap_or(v + 1.0);
                    (t, v)
                })
                .collect();
            let pick = |i: usize| samples[picks[i].index(samples.len())].0;
            let chunks = chunked(&samples, &sizes);
            let refs = || xor_refs(&chunks).collect::<Vec<_>>();
            let (a, b) = (pick(0), pick(1));
            let (mint, maxt) = (a.min(b), a.max(b) + limits[0]);
            let seek_to = pick(2);
            let limit = pick(3) + limits[1];
            let mut slow = ChunksIter::new(refs(), mint, maxt);
            let mut fast = ChunksIter::new(refs(), mint, maxt);
            let mut want = Vec::new();
            let mut vt = slow.seek(seek_to);
            // The seek lands on the first sample at or after its time, within the range.
            let first = samples
                .iter()
                .find(|s| s.0 >= seek_to.max(mint))
                .filter(|s| s.0 <= maxt);
            prop_assert_eq!(vt == ValueType::Float, first.is_some());
            if let Some(&(t, v)) = first {
                prop_assert_eq!(slow.at().0, t);
                prop_assert_eq!(slow.at().1.to_bits(), v.to_bits());
            }
            while vt == ValueType::Float {
                let (t, f) = slow.at();
                if t > limit {
                    break;
                }
                want.push((t, f.to_bits()));
                vt = slow.next();
            }
            let mut got = Vec::new();
            let gvt = if fast.seek(seek_to) == ValueType::Float {
                fast.read_floats(limit, &mut got)
            } else {
                ValueType::None
            };
            let got: Vec<_> = got.iter().map(|p| (p.t, p.f.to_bits())).collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(gvt, vt);
            // And both agree with the samples themselves.
            let lo = seek_to.max(mint);
            let truth: Vec<_> = samples
                .iter()
                .filter(|s| s.0 >= lo && s.0 <= maxt && s.0 <= limit)
                .map(|s| (s.0, s.1.to_bits()))
                .collect();
            prop_assert_eq!(&got, &truth);
            if gvt == ValueType::Float {
                prop_assert_eq!(fast.at().0, slow.at().0);
                prop_assert_eq!(fast.next(), slow.next());
            }
        }
    }

    /// Forwards everything but [`SampleIterator::last_in`], which is left to the trait's
    /// default (seek, then step through the window): the reference for the overrides.
    struct Plain<'a>(Box<dyn SampleIterator + 'a>);

    impl SampleIterator for Plain<'_> {
        fn next(&mut self) -> ValueType {
            self.0.next()
        }
        fn seek(&mut self, t: i64) -> ValueType {
            self.0.seek(t)
        }
        fn at(&self) -> (i64, f64) {
            self.0.at()
        }
        fn at_histogram(&self) -> (i64, &Histogram) {
            self.0.at_histogram()
        }
        fn at_float_histogram(&self) -> (i64, Cow<'_, FloatHistogram>) {
            self.0.at_float_histogram()
        }
        fn at_t(&self) -> i64 {
            self.0.at_t()
        }
    }

    /// A sample of a mixed series: a float (`None` repeats the previous value plus
    /// one) or a histogram of the given count (`None`: a staleness marker).
    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Float(Option<f64>),
        Hist(Option<u64>),
    }

    proptest! {
        /// `last_in` (the override, through the float/histogram merge when a series has
        /// both) finds what the trait's default finds and what the samples say: the newest
        /// sample of the window, staleness markers included, across chunk boundaries.
        #[test]
        fn last_in_matches_default(
            steps in proptest::collection::vec(
                (prop_oneof![4 => Just(10_000i64), 1 => 1i64..30_000, 1 => 1i64..(1 << 30)],
                 prop_oneof![
                     3 => Just(Kind::Float(None)),
                     1 => any::<f64>().prop_map(|f| Kind::Float(Some(f))),
                     1 => Just(Kind::Float(Some(f64::from_bits(0x7ff0_0000_0000_0002)))),
                     1 => (0u64..100).prop_map(|c| Kind::Hist(Some(c))),
                     1 => Just(Kind::Hist(None)),
                 ]),
                1..600),
            floats_only in any::<bool>(),
            sizes in proptest::collection::vec(1usize..=150, 1..4),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 4),
            shifts in proptest::collection::vec(-20_000i64..20_000, 4),
        ) {
            let mut t = 1_000_000i64;
            let mut v = 0.0;
            let (mut floats, mut hists) = (Vec::new(), Vec::new());
            for (d, k) in steps {
                t += d;
                match k {
                    Kind::Float(nv) => {
                        v = nv.unwrap_or(v + 1.0);
                        floats.push((t, v));
                    }
                    Kind::Hist(_) if floats_only => {}
                    Kind::Hist(c) => hists.push((t, Histogram {
                        count: c.unwrap_or(0),
                        sum: c.map_or(f64::from_bits(0x7ff0_0000_0000_0002), |c| c as f64),
                        ..Histogram::default()
                    })),
                }
            }
            let xor = if floats.is_empty() { Vec::new() } else { chunked(&floats, &sizes) };
            let hist_refs: Vec<_> = hists.iter().map(|(t, h)| (*t, h)).collect();
            let hchunks = crate::chunkenc::encode_histograms(&hist_refs);
            let mut refs: Vec<ChunkRef<'_>> = xor_refs(&xor)
                .chain(hchunks.iter().map(|c| ChunkRef {
                    mint: c.mint,
                    maxt: c.maxt,
                    encoding: Encoding::Histogram,
                    bytes: &c.bytes,
                }))
                .collect();
            refs.sort_by_key(|c| c.mint);
            let mut all: Vec<(i64, LastSample)> = floats
                .iter()
                .map(|&(t, f)| (t, LastSample::Float(FPoint { t, f })))
                .chain(hists.iter().map(|(t, h)| (*t, LastSample::Histogram(*t, Arc::new(h.to_float())))))
                .collect();
            all.sort_by_key(|s| s.0);
            // Histograms only, with `floats_only` dropping them: nothing to read.
            prop_assume!(!all.is_empty());
            let pick = |i: usize| all[picks[i].index(all.len())].0 + shifts[i];
            let (a, b) = (pick(0), pick(1));
            let (it_mint, it_maxt) = (a.min(b), a.max(b));
            let (c, d) = (pick(2), pick(3));
            let (mint, maxt) = (c.min(d), c.max(d));
            let got = split_by_kind(&refs, it_mint, it_maxt).last_in(mint, maxt);
            let want = Plain(split_by_kind(&refs, it_mint, it_maxt)).last_in(mint, maxt);
            let truth = all
                .iter()
                .rev()
                .find(|s| s.0 >= mint.max(it_mint) && s.0 <= maxt.min(it_maxt))
                .map(|s| s.1.clone());
            // Compared through their debug form: NaN values are not equal to themselves.
            prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
            // The truth by timestamp and value bits (the encoder sets reset hints).
            let key = |s: &Option<LastSample>| s.as_ref().map(|s| match s {
                LastSample::Float(p) => (p.t, p.f.to_bits()),
                LastSample::Histogram(t, h) => (*t, h.sum.to_bits()),
            });
            prop_assert_eq!(key(&got), key(&truth));
        }
    }
}
