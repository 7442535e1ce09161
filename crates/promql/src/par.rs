//! Spreading a selector's series over threads: the per-series work of a large selection
//! (reading and decoding samples, a range function's windows) runs on the calling
//! thread and on helpers, with the result Prometheus's serial evaluation gives.
//!
//! A selection starts on the calling thread alone. Only once it has read
//! [`EngineOptions::parallel_min_samples`](crate::EngineOptions::parallel_min_samples)
//! samples of long series does it hand shares of the rest to rayon's pool, whose threads
//! keep running between queries, so a query pays a wake-up rather than a thread start,
//! and small queries pay nothing. The storage traits' series are not `Send`, so each
//! share opens its own querier, runs the same selection and takes the series after the
//! hand-off point whose label hash falls to it; the calling thread takes the others and
//! notes, in selection order, which series went where. Until a pool thread starts on a
//! share, the calling thread takes that share's series too as it meets them, and the
//! helper starts after the last one taken: a busy or slow-to-wake pool costs a query the
//! helper's walk at most, never a wait.
//!
//! Nothing a thread computes is applied at once. Each series leaves a [`Done`]: its
//! output, its annotations, and how many samples it held at its peak and at its end.
//! These are then replayed in selection order on the calling thread, exactly as the
//! serial loop would have applied them: the max-samples limit is checked against the
//! running total of the series before, annotations are merged in the same order (their
//! first-seen order and last-seen position are what Prometheus keeps), and the first
//! error in selection order is the one returned. Threads still check the limit and the
//! deadline on their own counts as they go, which is conservative: their counts never
//! exceed the serial one, so a thread that stops with "too many samples" marks a series
//! at or after the point where the serial loop would have stopped.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use promlite_model::{Labels, Matcher};
use promlite_storage::SelectHints;

use crate::engine::{Evaluator, Loaded};
use crate::eval_error::EvalError;
use crate::stats::SampleCounts;
use crate::value::Annotations;

/// The fewest samples per series (on average over those read) for which a selection
/// is shared with helpers.
const MIN_SAMPLES_PER_SERIES: usize = 256;

/// What evaluating one series left behind, applied when the series' turn comes.
pub(crate) struct Done<T> {
    out: Result<Option<T>, EvalError>,
    annos: Annotations,
    /// The most samples the evaluation held at once beyond those held before it.
    peak: usize,
    /// The samples it still held at its end beyond those held before it.
    kept: usize,
    /// The samples its selectors read, for the query's statistics.
    counts: SampleCounts,
}

/// The thread a series above the hand-off point goes to (0: the calling thread).
fn owner(l: &Labels, threads: usize) -> usize {
    // `DefaultHasher::new` has fixed keys: every thread gets the same answer.
    let mut h = std::hash::DefaultHasher::new();
    l.hash(&mut h);
    (h.finish() % threads as u64) as usize
}

/// Where the threads may stop: after the first series (in selection order) known to
/// end in an error, since nothing after it can change the result.
#[derive(Default)]
struct StopAt {
    set: AtomicBool,
    at: Mutex<Option<Labels>>,
}

impl StopAt {
    fn mark(&self, l: &Labels) {
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        if at.as_ref().is_none_or(|a| l < a) {
            *at = Some(l.clone());
        }
        self.set.store(true, Ordering::Release);
    }

    /// Stops everyone (a timeout, a cancellation, a storage failure).
    fn mark_all(&self) {
        self.mark(&Labels::empty());
    }

    /// Whether a series with labels `l` comes after a marked one.
    fn passed(&self, l: &Labels) -> bool {
        if !self.set.load(Ordering::Acquire) {
            return false;
        }
        let at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        at.as_ref().is_some_and(|a| l > a || a.is_empty())
    }
}

/// A helper's part of a selection, done by whichever thread claims it first: a pool
/// thread, or the calling thread once its own part is done.
struct Share<'a, T> {
    state: Mutex<ShareState>,
    ev: Mutex<Option<Evaluator<'a>>>,
    result: Mutex<Option<HelperPart<T>>>,
}

/// Who has a share's series: until a pool thread starts on it, the calling thread takes
/// them itself as it walks the selection, and the helper then skips those.
#[derive(Default)]
struct ShareState {
    started: bool,
    /// The last of the share's series that the calling thread took.
    taken_upto: Option<Labels>,
}

fn lock<X>(m: &Mutex<X>) -> std::sync::MutexGuard<'_, X> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A series after the hand-off point, in the calling thread's selection order.
enum Slot<T> {
    /// Evaluated by the calling thread.
    Mine(Done<T>),
    /// Left to helper `owner`.
    Theirs(Labels, usize),
}

/// What a helper returns: its series in its selection order, and the set's warnings.
type HelperPart<T> = Result<(Vec<(Labels, Done<T>)>, Vec<String>), EvalError>;

impl<'a> Evaluator<'a> {
    /// Runs `work` on one loaded series and keeps what it did aside (see [`Done`]).
    pub(crate) fn record<T>(
        &mut self,
        l: Loaded,
        work: &impl Fn(&mut Evaluator<'a>, Loaded) -> Result<Option<T>, EvalError>,
    ) -> Done<T> {
        let before = self.current_samples;
        self.peak_samples = before;
        let outer = self.counts.fresh();
        let outer = std::mem::replace(&mut self.counts, outer);
        let out = work(self, l);
        Done {
            out,
            annos: std::mem::take(&mut self.annos),
            peak: self.peak_samples.saturating_sub(before),
            kept: self.current_samples.saturating_sub(before),
            counts: std::mem::replace(&mut self.counts, outer),
        }
    }

    /// Applies one series' [`Done`] as the serial loop would have: `Ok(None)` when it
    /// left nothing to keep.
    pub(crate) fn apply<T>(&mut self, d: Done<T>) -> Result<Option<T>, EvalError> {
        let too_many = self.current_samples.saturating_add(d.peak) > self.max_samples;
        match d.out {
            // A limit crossed inside the series comes before anything after it.
            _ if too_many => Err(EvalError::TooManySamples("query execution")),
            Err(e) => Err(e),
            Ok(v) => {
                self.annos.merge(d.annos);
                self.peak_samples = self.peak_samples.max(self.current_samples + d.peak);
                self.current_samples += d.kept;
                self.counts.merge(d.counts);
                Ok(v)
            }
        }
    }

    /// An evaluator for a helper thread: the same query, limits and clock, its own
    /// annotations and counters, and no helpers of its own.
    fn fork(&self) -> Evaluator<'a> {
        let mut ev = self.child(self.start, self.end, self.interval);
        ev.stats_decoding = self.stats_decoding;
        ev.threads = 1;
        // Counted on the same grid as this evaluator, to be added to its counts.
        ev.counts = self.counts.fresh();
        ev
    }

    /// [`Self::select`] that evaluates each series with `work` and returns the kept
    /// outputs in selection order, on several threads once the selection is large (see
    /// the module documentation).
    // The arguments of `select` plus the work: a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn select_map<T: Send>(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        drop_stale: bool,
        work: &(impl Fn(&mut Evaluator<'a>, Loaded) -> Result<Option<T>, EvalError> + Sync),
    ) -> Result<Vec<T>, EvalError> {
        let q = self.querier(mint, maxt)?;
        let mut set = q.select(true, Some(hints), matchers);
        let mut out = Vec::new();
        let mut expect = 0;
        let (mut read, mut loaded) = (0usize, 0usize);
        let mut handoff = None;
        // One series ahead: a selection whose series are all read by now never hands
        // off (a helper would only walk it again).
        let mut next = set.next();
        while let Some(series) = next.take() {
            self.tick()?;
            let series = series.map_err(|e| EvalError::Storage(e.to_string()))?;
            let loaded_one = self.load(&*series, mint, maxt, drop_stale, &mut expect)?;
            next = set.next();
            let Some(l) = loaded_one else {
                continue;
            };
            read += l.floats.len() + l.hists.len();
            loaded += 1;
            if let Some(v) = work(self, l)? {
                out.push(v);
            }
            // A helper walks the whole selection to find its series, so it pays off
            // only where series are long: an instant query's windows of a few dozen
            // samples cost less to evaluate than the walk.
            if next.is_some()
                && self.threads > 1
                && read >= self.parallel_min_samples
                && read >= MIN_SAMPLES_PER_SERIES.min(self.parallel_min_samples) * loaded
            {
                handoff = Some(series.labels().clone());
                break;
            }
        }
        let Some(bound) = handoff else {
            for w in set.warnings() {
                self.annos.storage(w);
            }
            return Ok(out);
        };

        let threads = self.threads;
        let stop = StopAt::default();
        let base = self.current_samples;
        // `record` measures each series' peak from its own start; the query's peak so far
        // is put back after the replay.
        let peak_before = self.peak_samples;
        let earlier = std::mem::take(&mut self.annos);
        let shares: Vec<Share<'a, T>> = (1..threads)
            .map(|_| Share {
                state: Mutex::new(ShareState::default()),
                ev: Mutex::new(Some(self.fork())),
                result: Mutex::new(None),
            })
            .collect();
        // Runs share `k` on a pool thread, from where the calling thread has got to.
        let run_share = |k: usize| {
            let share = &shares[k - 1];
            let from = {
                let mut state = lock(&share.state);
                if state.started {
                    return;
                }
                state.started = true;
                state.taken_upto.clone().unwrap_or_else(|| bound.clone())
            };
            let Some(mut ev) = lock(&share.ev).take() else {
                return;
            };
            let part = ev.helper_part(
                k, threads, &from, matchers, mint, maxt, hints, drop_stale, work, &stop,
            );
            if part.is_err() {
                stop.mark_all();
            }
            *lock(&share.result) = Some(part);
        };
        let run_share = &run_share;
        let jobs = (1..threads).map(|k| move || run_share(k));
        let (slots, mine) = crate::helpers::with_helpers(jobs, || {
            let mut slots: Vec<Slot<T>> = Vec::new();
            let mut mine: Result<(), EvalError> = Ok(());
            for series in next.into_iter().chain(set.by_ref()) {
                let series = match series {
                    Ok(s) => s,
                    Err(e) => {
                        mine = Err(EvalError::Storage(e.to_string()));
                        break;
                    }
                };
                let labels = series.labels();
                let k = owner(labels, threads);
                if k != 0 {
                    let mut state = lock(&shares[k - 1].state);
                    if state.started {
                        drop(state);
                        slots.push(Slot::Theirs(labels.clone(), k));
                        continue;
                    }
                    // No pool thread has started on this share (the pool is busy or
                    // slow to wake): this series is the calling thread's.
                    state.taken_upto = Some(labels.clone());
                }
                if stop.passed(labels) {
                    break;
                }
                if let Err(e) = self.tick() {
                    mine = Err(e);
                    break;
                }
                let l = match self.load(&*series, mint, maxt, drop_stale, &mut expect) {
                    Ok(Some(l)) => l,
                    Ok(None) => continue,
                    Err(e) => {
                        mine = Err(e);
                        break;
                    }
                };
                let d = self.record(l, work);
                let failed = d.out.is_err();
                slots.push(Slot::Mine(d));
                if failed {
                    stop.mark(labels);
                    break;
                }
            }
            if mine.is_err() {
                stop.mark_all();
            }
            // A share no pool thread has started by now was taken here series by
            // series (or is past an error): a late start must find nothing to do.
            for share in &shares {
                lock(&share.state).started = true;
            }
            (slots, mine)
        });
        let parts: Vec<HelperPart<T>> = shares
            .into_iter()
            .map(|s| {
                s.result
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .unwrap_or_else(|| Ok((Vec::new(), Vec::new())))
            })
            .collect();
        mine?;
        let mut theirs = Vec::with_capacity(parts.len());
        for part in parts {
            let (done, warnings) = part?;
            theirs.push((done.into_iter(), warnings));
        }

        // The replay, in the calling thread's selection order.
        self.annos = earlier;
        self.current_samples = base;
        let mut pending: Vec<Vec<(Labels, Done<T>)>> = theirs.iter().map(|_| Vec::new()).collect();
        for slot in slots {
            let d = match slot {
                Slot::Mine(d) => d,
                Slot::Theirs(labels, k) => {
                    match take_helper_result(&mut theirs[k - 1].0, &mut pending[k - 1], &labels) {
                        Some(d) => d,
                        // Not in the helper's view of the store (a series created or
                        // removed between the two selections), or it had nothing there.
                        None => continue,
                    }
                }
            };
            if let Some(v) = self.apply(d)? {
                out.push(v);
            }
        }
        self.peak_samples = self.peak_samples.max(peak_before);
        for w in set.warnings() {
            self.annos.storage(w);
        }
        for (_, warnings) in theirs {
            for w in warnings {
                self.annos.storage(w);
            }
        }
        Ok(out)
    }

    /// A helper's share of [`Self::select_map`]: the series after `bound` that hash to
    /// `k`, each evaluated and kept aside.
    // What the helper repeats of the calling thread's selection, and its share.
    #[allow(clippy::too_many_arguments)]
    fn helper_part<T>(
        &mut self,
        k: usize,
        threads: usize,
        bound: &Labels,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        drop_stale: bool,
        work: &impl Fn(&mut Evaluator<'a>, Loaded) -> Result<Option<T>, EvalError>,
        stop: &StopAt,
    ) -> HelperPart<T> {
        let q = self.querier(mint, maxt)?;
        let mut set = q.select(true, Some(hints), matchers);
        let mut done = Vec::new();
        let mut expect = 0;
        for series in set.by_ref() {
            let series = series.map_err(|e| EvalError::Storage(e.to_string()))?;
            let labels = series.labels();
            // Sorted selections come in label order: the calling thread did everything
            // up to `bound`.
            if labels <= bound || owner(labels, threads) != k {
                continue;
            }
            if stop.passed(labels) {
                break;
            }
            self.tick()?;
            let Some(l) = self.load(&*series, mint, maxt, drop_stale, &mut expect)? else {
                continue;
            };
            let d = self.record(l, work);
            let failed = d.out.is_err();
            done.push((labels.clone(), d));
            if failed {
                stop.mark(labels);
                break;
            }
        }
        Ok((done, set.warnings()))
    }
}

/// The helper's result for the series `labels`: normally the next one it returned;
/// results skipped on the way (series the calling thread did not see) are set aside in
/// `pending` in case they come up later.
fn take_helper_result<T>(
    next: &mut impl Iterator<Item = (Labels, Done<T>)>,
    pending: &mut Vec<(Labels, Done<T>)>,
    labels: &Labels,
) -> Option<Done<T>> {
    if let Some(i) = pending.iter().position(|(l, _)| l == labels) {
        return Some(pending.swap_remove(i).1);
    }
    for (l, d) in next.by_ref() {
        if &l == labels {
            return Some(d);
        }
        if l > *labels {
            // The helper had nothing for `labels` (no samples in range, or never saw it).
            pending.push((l, d));
            return None;
        }
        pending.push((l, d));
    }
    None
}
