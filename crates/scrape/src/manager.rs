//! The async edge: [`ScrapeManager`] keeps one scrape pool per job and one tokio task
//! per target, started at the target's offset in the interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use promlite_discovery::{TargetGroup, TargetSets};
use promlite_exposition::Format;
use promlite_model::Labels;
use promlite_storage::Appendable;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::append::{AppendOptions, AppendResult, Report, ReportSeries, ScrapeCache, append_body};
use crate::conn::Session;
use crate::http::HttpScraper;
use crate::target::{
    Health, Populated, RelabelStep, Target, TargetState, dropping_rule, relabel_steps,
    targets_from_groups,
};
use crate::{Error, ScrapeConfig};

/// Options of a [`ScrapeManager`].
#[derive(Debug, Clone, Default)]
pub struct ManagerOptions {
    /// Mixed into every target's offset, as Prometheus mixes in a hash of its external
    /// labels and hostname so that HA pairs do not scrape in lockstep.
    pub offset_seed: u64,
    /// Start every loop at once instead of at its offset (tests, one-shot tools).
    pub no_offsets: bool,
}

/// A target dropped by relabeling, kept for the targets page.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTarget {
    /// The job.
    pub job: String,
    /// Its labels before relabeling.
    pub discovered_labels: Labels,
    /// The position in the job's `relabel_configs` of the rule that dropped it (`None`
    /// only if no rule did, which relabeling never reports). The whole trace is
    /// [`ScrapeManager::relabel_steps`] of the job and `discovered_labels`.
    pub dropped_by: Option<usize>,
}

struct LoopHandle {
    target: Arc<Target>,
    stop: Option<oneshot::Sender<bool>>,
    task: JoinHandle<()>,
}

impl LoopHandle {
    /// Stops the loop; with `stale`, it marks its series stale first.
    fn stop(mut self, stale: bool) -> JoinHandle<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(stale);
        }
        self.task
    }
}

struct Pool {
    config: Arc<ScrapeConfig>,
    scraper: Arc<HttpScraper>,
    loops: HashMap<u64, LoopHandle>,
    dropped: Vec<(Labels, Option<usize>)>,
    groups: Vec<TargetGroup>,
    errors: Vec<String>,
}

/// Runs the scrape pools of all jobs, appending to one store.
///
/// [`apply_config`](Self::apply_config) sets the jobs; [`sync`](Self::sync) (or
/// [`run`](Self::run), fed by the discovery manager) sets their targets. Loops of
/// targets that go away write staleness markers for their series; loops of a job whose
/// configuration changed are restarted without them, as Prometheus does on reload.
pub struct ScrapeManager {
    store: Arc<dyn Appendable>,
    options: ManagerOptions,
    pools: Mutex<BTreeMap<String, Pool>>,
}

impl std::fmt::Debug for ScrapeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeManager")
            .field("jobs", &self.pools.lock().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ScrapeManager {
    /// A manager appending to `store`.
    pub fn new(store: Arc<dyn Appendable>, options: ManagerOptions) -> ScrapeManager {
        ScrapeManager {
            store,
            options,
            pools: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sets the jobs. New jobs get a pool (targets come with the next
    /// [`sync`](Self::sync)); removed jobs stop and mark their series stale; changed jobs
    /// restart their loops with the new settings. Must run inside a tokio runtime.
    ///
    /// A job whose HTTP client cannot be built is reported and left out; the others
    /// apply.
    pub fn apply_config(&self, configs: &[ScrapeConfig]) -> Result<(), Error> {
        let mut pools = self.pools.lock();
        let mut first_err = None;
        let wanted: HashMap<&str, &ScrapeConfig> =
            configs.iter().map(|c| (c.job_name.as_str(), c)).collect();
        let removed: Vec<String> = pools
            .keys()
            .filter(|j| !wanted.contains_key(j.as_str()))
            .cloned()
            .collect();
        for job in removed {
            if let Some(p) = pools.remove(&job) {
                for (_, l) in p.loops {
                    drop(l.stop(true));
                }
            }
        }
        for c in configs {
            if pools.get(&c.job_name).is_some_and(|p| *p.config == *c) {
                continue;
            }
            let scraper = match HttpScraper::new(c) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            let groups = match pools.remove(&c.job_name) {
                Some(old) => {
                    for (_, l) in old.loops {
                        drop(l.stop(false));
                    }
                    old.groups
                }
                None => Vec::new(),
            };
            let mut pool = Pool {
                config: Arc::new(c.clone()),
                scraper,
                loops: HashMap::new(),
                dropped: Vec::new(),
                groups: Vec::new(),
                errors: Vec::new(),
            };
            self.sync_pool(&mut pool, groups);
            pools.insert(c.job_name.clone(), pool);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Sets the targets of every job named in `sets`.
    pub fn sync(&self, sets: &TargetSets) {
        let mut pools = self.pools.lock();
        for (job, groups) in sets {
            if let Some(pool) = pools.get_mut(job) {
                self.sync_pool(pool, groups.clone());
            }
        }
    }

    /// Follows the discovery manager's target sets until the channel closes.
    pub async fn run(&self, mut sets: watch::Receiver<Arc<TargetSets>>) {
        loop {
            let current = sets.borrow_and_update().clone();
            self.sync(&current);
            if sets.changed().await.is_err() {
                return;
            }
        }
    }

    fn sync_pool(&self, pool: &mut Pool, groups: Vec<TargetGroup>) {
        let (populated, errs) = targets_from_groups(&groups, &pool.config);
        pool.groups = groups;
        pool.errors = errs
            .into_iter()
            .map(|(l, e)| format!("creating target {l} failed: {e}"))
            .collect();
        let mut active = Vec::new();
        pool.dropped.clear();
        for p in populated {
            match p {
                Populated::Active { labels, discovered } => {
                    active.push(Target::new(labels, discovered, &pool.config.params));
                }
                Populated::Dropped { discovered } => {
                    let keep = pool.config.keep_dropped_targets;
                    if keep == 0 || (pool.dropped.len() as u64) < keep {
                        let by = dropping_rule(&discovered, &pool.config.relabel_configs);
                        pool.dropped.push((discovered, by));
                    }
                }
            }
        }
        let limit = pool.config.target_limit;
        if limit > 0 && active.len() as u64 > limit {
            pool.errors.push(
                Error::TargetLimit {
                    count: active.len(),
                    limit,
                }
                .to_string(),
            );
            active.clear();
        }
        let mut keep: HashMap<u64, Target> = HashMap::new();
        for t in active {
            keep.entry(t.hash()).or_insert(t);
        }
        let gone: Vec<u64> = pool
            .loops
            .keys()
            .filter(|h| !keep.contains_key(h))
            .copied()
            .collect();
        for h in gone {
            if let Some(l) = pool.loops.remove(&h) {
                drop(l.stop(true));
            }
        }
        for (h, t) in keep {
            if pool.loops.contains_key(&h) {
                continue;
            }
            let target = Arc::new(t);
            let handle = self.start_loop(pool, Arc::clone(&target));
            pool.loops.insert(h, handle);
        }
    }

    fn start_loop(&self, pool: &Pool, target: Arc<Target>) -> LoopHandle {
        let c = &pool.config;
        let opts = AppendOptions {
            target_labels: target.labels(),
            honor_labels: c.honor_labels,
            honor_timestamps: c.honor_timestamps,
            track_timestamps_staleness: c.track_timestamps_staleness,
            metric_relabel_configs: c.metric_relabel_configs.clone(),
            sample_limit: c.sample_limit,
            label_limit: c.label_limit,
            label_name_length_limit: c.label_name_length_limit,
            label_value_length_limit: c.label_value_length_limit,
            native_histograms: c.scrape_native_histograms.unwrap_or(false),
        };
        let delay = if self.options.no_offsets {
            Duration::ZERO
        } else {
            let now = SystemTime::now();
            on_grid(
                now,
                target.offset(now, self.options.offset_seed),
                target.interval(),
            )
        };
        let (tx, rx) = oneshot::channel();
        let sl = ScrapeLoop {
            target: Arc::clone(&target),
            scraper: Arc::clone(&pool.scraper),
            store: Arc::clone(&self.store),
            cache: ScrapeCache::for_target(&target),
            report: ReportSeries::new(&opts.target_labels, c.extra_scrape_metrics.unwrap_or(false)),
            opts,
        };
        let task = tokio::spawn(sl.run(delay, rx));
        LoopHandle {
            target,
            stop: Some(tx),
            task,
        }
    }

    /// The active targets of every job, by job.
    pub fn active_targets(&self) -> BTreeMap<String, Vec<Arc<Target>>> {
        self.pools
            .lock()
            .iter()
            .map(|(job, p)| {
                let mut ts: Vec<Arc<Target>> =
                    p.loops.values().map(|l| Arc::clone(&l.target)).collect();
                ts.sort_by(|a, b| a.labels_with_internal().cmp(b.labels_with_internal()));
                (job.clone(), ts)
            })
            .collect()
    }

    /// The targets relabeling dropped, by job.
    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        let pools = self.pools.lock();
        pools
            .iter()
            .flat_map(|(job, p)| {
                p.dropped.iter().map(|(l, by)| DroppedTarget {
                    job: job.clone(),
                    discovered_labels: l.clone(),
                    dropped_by: *by,
                })
            })
            .collect()
    }

    /// What each rule of the job's current `relabel_configs` makes of `labels` (a
    /// target's discovered labels), for Prometheus's `/api/v1/targets/relabel_steps`.
    /// Fails with [`Error::UnknownScrapePool`] when no job is called `job`.
    pub fn relabel_steps(&self, job: &str, labels: &Labels) -> Result<Vec<RelabelStep>, Error> {
        let config = self
            .pools
            .lock()
            .get(job)
            .map(|p| Arc::clone(&p.config))
            .ok_or_else(|| Error::UnknownScrapePool(job.to_owned()))?;
        Ok(relabel_steps(labels, &config.relabel_configs))
    }

    /// Problems with targets (unusable labels, target limit), by job.
    pub fn target_errors(&self) -> BTreeMap<String, Vec<String>> {
        self.pools
            .lock()
            .iter()
            .map(|(j, p)| (j.clone(), p.errors.clone()))
            .collect()
    }

    /// Stops every loop without staleness markers (shutdown) and waits for them.
    pub async fn stop(&self) {
        let handles: Vec<JoinHandle<()>> = {
            let mut pools = self.pools.lock();
            std::mem::take(&mut *pools)
                .into_values()
                .flat_map(|p| p.loops.into_values())
                .map(|l| l.stop(false))
                .collect()
        };
        for h in handles {
            let _ = h.await;
        }
    }
}

/// The finest spacing of scrape start times: a hundredth of the interval, at most 10 ms.
const GRID_MAX: Duration = Duration::from_millis(10);

/// `delay` (from `now`) moved later onto the wall-clock grid of a hundredth of
/// `interval` (at most 10 ms), so that targets whose offsets fall close together start
/// together: a thousand targets at 1 s wake the runtime a hundred times per interval
/// rather than a thousand, and each wake-up's scrapes send their requests and read their
/// answers in one turn. The spread over the interval stays Prometheus's, to within
/// the grid.
fn on_grid(now: SystemTime, delay: Duration, interval: Duration) -> Duration {
    let grid = (interval / 100).min(GRID_MAX).as_nanos();
    if grid == 0 {
        return delay;
    }
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let at = now + delay.as_nanos();
    let aligned = at.div_ceil(grid) * grid;
    Duration::from_nanos(u64::try_from(aligned - now).unwrap_or(u64::MAX))
}

/// One target's loop.
struct ScrapeLoop {
    target: Arc<Target>,
    scraper: Arc<HttpScraper>,
    store: Arc<dyn Appendable>,
    cache: ScrapeCache,
    report: ReportSeries,
    opts: AppendOptions,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl ScrapeLoop {
    async fn run(mut self, delay: Duration, mut stop: oneshot::Receiver<bool>) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            // Stopped before its first scrape: nothing to mark stale.
            _ = &mut stop => return,
        }
        let interval = self.target.interval().max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The target's connection and the buffers its scrapes reuse.
        let mut session = Session::default();
        let stale = loop {
            tokio::select! {
                _ = ticker.tick() => {}
                s = &mut stop => break s.unwrap_or(false),
            }
            let start = SystemTime::now();
            let clock = Instant::now();
            let result = tokio::select! {
                r = self.scraper.scrape_with(&mut session, self.target.url(), self.target.timeout()) => r,
                s = &mut stop => break s.unwrap_or(false),
            };
            let result = result.map(|(at, format)| (session.body(&at), format));
            self.process(start, clock.elapsed(), result);
        };
        if stale {
            self.end_of_run(&mut ticker, interval).await;
        }
    }

    /// A target went away (not a shutdown): as Prometheus's `endOfRunStaleness`, wait for
    /// the scrape that would have come next (its time stamps the markers), one more
    /// interval — should the target have come back, its new loop has scraped by then and
    /// the older markers are refused as out of order — and a tenth of an interval, then
    /// mark the series and report series stale. A server shutdown meanwhile cancels the
    /// task, and no markers are written.
    async fn end_of_run(&mut self, ticker: &mut tokio::time::Interval, interval: Duration) {
        if self.target.state().last_scrape.is_none() {
            return;
        }
        ticker.tick().await;
        let stale_time = millis(SystemTime::now());
        ticker.tick().await;
        tokio::time::sleep(interval / 10).await;
        self.finish(stale_time);
    }

    /// Appends a scrape's samples and report in one transaction and updates the
    /// target's state. Synchronous: the appender never lives across an await.
    fn process(
        &mut self,
        start: SystemTime,
        elapsed: Duration,
        result: Result<(&[u8], Format), Error>,
    ) {
        let t = millis(start);
        let mut body_size = 0.0;
        let mut app = self.store.appender();
        let outcome = match &result {
            Ok((body, format)) => {
                body_size = body.len() as f64;
                append_body(
                    &mut self.cache,
                    app.as_mut(),
                    body,
                    Some(*format),
                    t,
                    &self.opts,
                )
            }
            Err(_) => Ok(AppendResult::default()),
        };
        let (appended, err) = match (result, outcome) {
            (Ok(_), Ok(a)) => (a, None),
            (Err(e), _) | (Ok(_), Err(e)) => {
                if matches!(e, Error::BodySizeLimit) {
                    body_size = -1.0;
                }
                // Undo what a half-read body appended, then let the failure mark the
                // previous scrape's series stale, as Prometheus does.
                let _ = app.rollback();
                app = self.store.appender();
                if let Err(e2) =
                    append_body(&mut self.cache, app.as_mut(), b"", None, t, &self.opts)
                {
                    tracing::warn!(
                        target = self.target.url(),
                        "appending stale markers failed: {e2}"
                    );
                }
                (AppendResult::default(), Some(e))
            }
        };
        let report = Report {
            up: err.is_none(),
            duration_seconds: elapsed.as_secs_f64(),
            appended,
            timeout_seconds: self.target.timeout().as_secs_f64(),
            sample_limit: self.opts.sample_limit,
            body_size_bytes: body_size,
        };
        let mut commit_err = self.report.append(app.as_mut(), t, &report).err();
        if let Err(e) = app.commit() {
            commit_err.get_or_insert(e.into());
        }
        if let Some(e) = &commit_err {
            tracing::warn!(target = self.target.url(), "appending scrape failed: {e}");
        }
        self.target.set_state(TargetState {
            health: if err.is_none() {
                Health::Up
            } else {
                Health::Down
            },
            last_scrape: Some(start),
            last_duration: elapsed,
            last_error: err.or(commit_err).map(|e| e.to_string()),
            last_samples: appended.total,
        });
    }

    /// Marks the loop's series and report series stale at `t`.
    fn finish(&mut self, t: i64) {
        let mut app = self.store.appender();
        let r = self
            .cache
            .append_all_stale(app.as_mut(), t)
            .and_then(|()| self.report.append_stale(app.as_mut(), t));
        match r {
            Ok(()) => {
                if let Err(e) = app.commit() {
                    tracing::warn!("committing staleness markers failed: {e}");
                }
            }
            Err(e) => tracing::warn!("appending staleness markers failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_fall_on_the_grid() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let ms = Duration::from_millis;
        for (delay, interval, want) in [
            // 1 s: a 10 ms grid; the start moves later, never earlier.
            (ms(0), ms(1000), Duration::from_nanos(6_543_211)),
            (ms(500), ms(1000), Duration::from_nanos(506_543_211)),
            // 15 s: still 10 ms.
            (ms(7000), ms(15000), Duration::from_nanos(7_006_543_211)),
            // 100 ms: a hundredth, 1 ms.
            (ms(50), ms(100), Duration::from_nanos(50_543_211)),
        ] {
            let d = on_grid(now, delay, interval);
            assert_eq!(d, want, "{delay:?} {interval:?}");
            let at = (now + d).duration_since(SystemTime::UNIX_EPOCH).unwrap();
            assert_eq!(at.as_nanos() % (interval / 100).min(GRID_MAX).as_nanos(), 0);
        }
        // An interval too short for a grid: starts stay where they were.
        assert_eq!(on_grid(now, ms(0), Duration::from_nanos(50)), ms(0));
    }
}
