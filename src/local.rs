//! In-process collection: a program's own [`Registry`] appended to the monitor's storage
//! on an interval, with no HTTP in between, through the same append path as a network
//! scrape (`promlite_scrape::append_body`: its series cache, staleness markers and the
//! report series `up`, `scrape_duration_seconds`, …).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use promlite_client::Registry;
use promlite_discovery::PromDuration;
use promlite_exposition::Format;
use promlite_model::Labels;
use promlite_scrape::{
    AppendOptions, Health, Report, ReportSeries, SCRAPE_INTERVAL_LABEL, SCRAPE_TIMEOUT_LABEL,
    ScrapeCache, Target, TargetState, append_body,
};
use promlite_storage::Appendable;
use tokio::sync::Notify;
use tracing::warn;

/// The collection state of one registry: the cache, the report series and a buffer
/// reused between collections.
struct State {
    cache: ScrapeCache,
    report: ReportSeries,
    buf: Vec<u8>,
    /// The timestamp of the last collection: each one (and the staleness markers) is
    /// appended at least a millisecond later, so two in the same millisecond do not
    /// collide as duplicate samples.
    last_t: i64,
    /// Set by the staleness markers at shutdown: no collection may follow them.
    stopped: bool,
}

impl State {
    fn next_t(&mut self) -> i64 {
        self.last_t = promlite_model::value::now_ms().max(self.last_t + 1);
        self.last_t
    }
}

/// One registered registry, collected as the target `{job, instance="local"}`.
pub(crate) struct LocalTarget {
    pub(crate) job: String,
    registry: Registry,
    opts: AppendOptions,
    state: Mutex<State>,
    /// The target as the API, the UI and [`Monitor::targets`](crate::Monitor::targets)
    /// show it, beside the scraped ones: labels, URL `in-process`, the last collection's
    /// health, time, duration and error, and the metric metadata it reported.
    pub(crate) target: Arc<Target>,
}

impl LocalTarget {
    /// `registry` collected every `interval` as job `job`.
    pub(crate) fn new(job: &str, registry: Registry, interval: Duration) -> LocalTarget {
        let labels = Labels::from_pairs([("instance", "local"), ("job", job)]);
        let interval = PromDuration::from(interval).to_string();
        let internal = Labels::from_pairs([
            (SCRAPE_INTERVAL_LABEL, interval.as_str()),
            (SCRAPE_TIMEOUT_LABEL, interval.as_str()),
            ("instance", "local"),
            ("job", job),
        ]);
        let target = Arc::new(
            Target::new(
                internal.clone(),
                internal,
                &std::collections::BTreeMap::new(),
            )
            .with_url("in-process"),
        );
        LocalTarget {
            job: job.to_owned(),
            registry,
            state: Mutex::new(State {
                cache: ScrapeCache::for_target(&target),
                report: ReportSeries::new(&labels, false),
                buf: Vec::new(),
                last_t: i64::MIN / 2,
                stopped: false,
            }),
            opts: AppendOptions {
                target_labels: labels,
                honor_timestamps: true,
                native_histograms: true,
                ..AppendOptions::default()
            },
            target,
        }
    }

    /// Appends the registry's current values and the report series at the current time.
    pub(crate) fn collect(&self, store: &dyn Appendable) {
        let started = Instant::now();
        let at = SystemTime::now();
        let mut state = self.state.lock();
        if state.stopped {
            return;
        }
        let t = state.next_t();
        let State {
            cache, report, buf, ..
        } = &mut *state;
        buf.clear();
        // Protobuf carries native histograms and exemplars; parsing it back is the
        // cheapest of the three formats.
        self.registry.encode(Format::Protobuf, buf);
        let mut app = store.appender();
        let result = append_body(cache, &mut *app, buf, Some(Format::Protobuf), t, &self.opts);
        let (up, appended, error) = match result {
            Ok(r) => (true, r, String::new()),
            Err(e) => {
                // Roll the half-written collection back; the empty append marks the
                // last good collection's series stale.
                let _ = app.rollback();
                app = store.appender();
                let _ = append_body(cache, &mut *app, &[], None, t, &self.opts);
                (
                    false,
                    promlite_scrape::AppendResult::default(),
                    e.to_string(),
                )
            }
        };
        let r = Report {
            up,
            duration_seconds: started.elapsed().as_secs_f64(),
            appended,
            ..Report::default()
        };
        let committed = report
            .append(&mut *app, t, &r)
            .map_err(|e| e.to_string())
            .and_then(|()| app.commit().map_err(|e| e.to_string()));
        let error = match committed {
            Ok(()) => error,
            Err(e) => {
                warn!(job = %self.job, err = %e, "appending an in-process collection failed");
                e
            }
        };
        self.target.set_state(TargetState {
            health: if error.is_empty() {
                Health::Up
            } else {
                Health::Down
            },
            last_scrape: Some(at),
            last_duration: started.elapsed(),
            last_error: (!error.is_empty()).then_some(error),
            last_samples: appended.total,
        });
    }

    /// Marks every series of the last collection stale, as a scrape loop does when its
    /// target goes away.
    pub(crate) fn mark_stale(&self, store: &dyn Appendable) {
        let mut state = self.state.lock();
        if std::mem::replace(&mut state.stopped, true) {
            return;
        }
        let t = state.next_t();
        let mut app = store.appender();
        let done = state
            .cache
            .append_all_stale(&mut *app, t)
            .and_then(|()| state.report.append_stale(&mut *app, t));
        let done = done
            .map_err(|e| e.to_string())
            .and_then(|()| app.commit().map_err(|e| e.to_string()));
        if let Err(e) = done {
            warn!(job = %self.job, err = %e, "writing staleness markers failed");
        }
    }
}

/// Collects `target` every `interval` until `stop` is notified.
pub(crate) async fn collect_loop(
    target: Arc<LocalTarget>,
    store: Arc<dyn Appendable>,
    interval: Duration,
    stop: Arc<Notify>,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.notified() => return,
        }
        let (target, store) = (Arc::clone(&target), Arc::clone(&store));
        // Encoding and appending are CPU work: the blocking pool keeps the runtime's
        // workers free.
        if tokio::task::spawn_blocking(move || target.collect(&*store))
            .await
            .is_err()
        {
            return;
        }
    }
}
