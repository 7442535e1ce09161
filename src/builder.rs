//! [`MonitorBuilder`]: what a [`Monitor`] stores, scrapes, evaluates and serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use promlite_client::Registry;
use promlite_promql::EngineOptions;
use promlite_rules::{NotifierAlert, RuleFileOptions, RuleGroups};
use promlite_scrape::ScrapeConfig;

use crate::error::{Error, Result};
use crate::monitor::Monitor;

/// Where samples are kept.
#[derive(Debug, Clone)]
pub(crate) enum StorageMode {
    /// Only in memory: nothing is written to disk and nothing survives the process.
    Memory,
    /// A Prometheus-format data directory (WAL and blocks).
    Dir(PathBuf),
}

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub(crate) enum ConfigInput {
    /// No configuration: scrape nothing (or, when serving, only the server itself).
    None,
    /// A `prometheus.yml` file, reloadable.
    File(PathBuf),
    /// `prometheus.yml` text.
    Yaml(String),
}

/// A callback that sees every batch of alerts the rules send.
pub(crate) type AlertCallback = Arc<dyn Fn(&[NotifierAlert]) + Send + Sync>;

/// The HTTP server's settings (feature `web`).
#[cfg(feature = "web")]
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    pub(crate) listen: String,
    pub(crate) web_config_file: Option<PathBuf>,
    pub(crate) external_url: Option<String>,
    pub(crate) route_prefix: Option<String>,
    pub(crate) enable_lifecycle: bool,
    pub(crate) enable_admin_api: bool,
    pub(crate) enable_remote_write_receiver: bool,
    pub(crate) query_timeout: Option<Duration>,
    pub(crate) flags: BTreeMap<String, String>,
    pub(crate) remote_write_limits: [usize; 3],
    /// Remote read's sample limit, concurrent reads and frame size.
    pub(crate) remote_read_limits: [usize; 3],
    pub(crate) cors_origin: Option<String>,
    pub(crate) max_concurrent_queries: usize,
    pub(crate) max_connections: usize,
}

#[cfg(feature = "web")]
impl ServeOptions {
    /// The path the API and UI are served under, normalised (empty for the root): the
    /// route prefix if given, else the external URL's path, as in Prometheus.
    pub(crate) fn prefix(&self) -> String {
        promlite_web::route_prefix(&match (&self.route_prefix, &self.external_url) {
            (Some(p), _) => p.clone(),
            (None, Some(u)) => promlite_web::url_path(u),
            (None, None) => String::new(),
        })
    }
}

/// Builds a [`Monitor`]: storage, configuration, in-process registries, rules and,
/// with the `web` feature, the HTTP API and UI.
///
/// Every setting has a default: in memory with one hour of history, no scrape jobs, no
/// rules, no HTTP server. [`build`](MonitorBuilder::build) starts the monitor on a
/// runtime of its own (for programs without tokio);
/// [`start`](MonitorBuilder::start) starts it on the caller's tokio runtime.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use promlite::Monitor;
/// use promlite::client::{Counter, Registry};
///
/// let registry = Registry::new();
/// let requests: Counter = Counter::new();
/// registry.register("requests", "Requests served.", requests.clone()).unwrap();
/// requests.inc_by(3);
///
/// let monitor = Monitor::builder()
///     .in_memory()
///     .register("app", &registry)
///     .collect_interval(Duration::from_millis(50))
///     .build()
///     .unwrap();
/// monitor.collect_now(); // what the collection task does every interval
/// let r = monitor.query("requests_total", SystemTime::now()).unwrap();
/// let promlite::promql::Value::Vector(v) = r.value else { panic!("{:?}", r.value) };
/// assert_eq!(v[0].f, 3.0);
/// monitor.shutdown_blocking();
/// ```
#[must_use]
pub struct MonitorBuilder {
    pub(crate) storage: StorageMode,
    pub(crate) retention: Option<Duration>,
    pub(crate) retention_size: Option<u64>,
    pub(crate) config: ConfigInput,
    pub(crate) scrape_jobs: Vec<ScrapeConfig>,
    pub(crate) rule_groups: Vec<(String, RuleGroups)>,
    pub(crate) rule_errors: Vec<promlite_rules::Error>,
    pub(crate) registries: Vec<(String, Registry)>,
    pub(crate) collect_interval: Option<Duration>,
    pub(crate) on_alert: Option<AlertCallback>,
    pub(crate) engine: EngineOptions,
    pub(crate) alerting: AlertingOptions,
    pub(crate) blocks: BlockOptions,
    pub(crate) compaction_interval: Duration,
    #[cfg(feature = "web")]
    pub(crate) serve: Option<ServeOptions>,
}

impl std::fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("storage", &self.storage)
            .field("config", &self.config)
            .field("scrape_jobs", &self.scrape_jobs.len())
            .field("rule_groups", &self.rule_groups.len())
            .field("registries", &self.registries.len())
            .finish_non_exhaustive()
    }
}

impl Default for MonitorBuilder {
    fn default() -> Self {
        MonitorBuilder {
            storage: StorageMode::Memory,
            retention: None,
            retention_size: None,
            config: ConfigInput::None,
            scrape_jobs: Vec::new(),
            rule_groups: Vec::new(),
            rule_errors: Vec::new(),
            registries: Vec::new(),
            collect_interval: None,
            on_alert: None,
            engine: EngineOptions::new(),
            alerting: AlertingOptions::default(),
            blocks: BlockOptions::default(),
            compaction_interval: Duration::from_mins(1),
            #[cfg(feature = "web")]
            serve: None,
        }
    }
}

/// How long in-memory storage keeps samples unless told otherwise.
pub const DEFAULT_MEMORY_RETENTION: Duration = Duration::from_hours(1);

/// How a data directory's blocks and WAL are laid out: Prometheus's
/// `--storage.tsdb.min-block-duration`, `--storage.tsdb.max-block-duration`,
/// `--storage.tsdb.wal-segment-size` and `--storage.tsdb.wal-compression` flags.
/// [`Default`] is promlite's defaults (Prometheus's, but for WAL compression, which is
/// off).
///
/// Setting both block durations to two hours turns compaction off, as Thanos's sidecar
/// asks of Prometheus:
///
/// ```
/// use std::time::Duration;
/// let two_hours = Duration::from_hours(2);
/// let thanos = promlite::BlockOptions {
///     min_block_duration: two_hours,
///     max_block_duration: Some(two_hours),
///     ..promlite::BlockOptions::default()
/// };
/// let builder = promlite::Monitor::builder().block_options(thanos);
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOptions {
    /// The head's range, which is also the range of the blocks it is cut into (2h).
    pub min_block_duration: Duration,
    /// The longest block compaction makes; `None`: a tenth of the time retention, at
    /// most 31 days, as in Prometheus.
    pub max_block_duration: Option<Duration>,
    /// The WAL's segment size in bytes (128 MiB), a multiple of its 32 KiB pages.
    pub wal_segment_size: usize,
    /// Snappy-compress WAL records that shrink (off).
    pub wal_compression: bool,
}

impl BlockOptions {
    /// The longest block compaction makes under the time retention `retention` (zero:
    /// none): [`Self::max_block_duration`] if set, else a tenth of the retention, at
    /// most 31 days, as in Prometheus; never shorter than the head's range.
    #[must_use]
    pub fn max_block_duration_for(&self, retention: Duration) -> Duration {
        let month = Duration::from_hours(31 * 24);
        let derived = if retention.is_zero() {
            month
        } else {
            (retention / 10).min(month)
        };
        self.max_block_duration
            .unwrap_or(derived)
            .max(self.min_block_duration)
    }
}

impl Default for BlockOptions {
    fn default() -> Self {
        BlockOptions {
            min_block_duration: Duration::from_hours(2),
            max_block_duration: None,
            wal_segment_size: promlite_tsdb::wal::log::DEFAULT_SEGMENT_SIZE,
            wal_compression: false,
        }
    }
}

/// How alerts are resent, restored after a restart and queued for Alertmanager:
/// Prometheus's `--rules.alert.*` and `--alertmanager.notification-queue-capacity`
/// flags. [`Default`] is Prometheus's defaults.
///
/// ```
/// use std::time::Duration;
/// let quick = promlite::AlertingOptions {
///     resend_delay: Duration::from_secs(10),
///     ..promlite::AlertingOptions::default()
/// };
/// let builder = promlite::Monitor::builder().alerting(quick);
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertingOptions {
    /// Least time between two sends of a firing alert (`--rules.alert.resend-delay`, 1m).
    pub resend_delay: Duration,
    /// The longest outage after which an alert's `for` state is still restored from
    /// `ALERTS_FOR_STATE` (`--rules.alert.for-outage-tolerance`, 1h).
    pub for_outage_tolerance: Duration,
    /// The least `for` time left to an alert restored after an outage
    /// (`--rules.alert.for-grace-period`, 10m).
    pub for_grace_period: Duration,
    /// Alerts waiting for Alertmanager at most; the oldest are dropped beyond
    /// (`--alertmanager.notification-queue-capacity`, 10,000).
    pub notification_queue_capacity: usize,
}

impl Default for AlertingOptions {
    fn default() -> Self {
        AlertingOptions {
            resend_delay: Duration::from_mins(1),
            for_outage_tolerance: Duration::from_hours(1),
            for_grace_period: Duration::from_mins(10),
            notification_queue_capacity: 10_000,
        }
    }
}

impl MonitorBuilder {
    /// Keep samples in memory only (the default), for [`retention`](Self::retention)
    /// (one hour unless set).
    pub fn in_memory(mut self) -> Self {
        self.storage = StorageMode::Memory;
        self
    }

    /// Keep samples in a Prometheus-format data directory (`--storage.tsdb.path`): a
    /// WAL replayed on restart, two-hour blocks compacted in the background, retention
    /// by time (15 days unless set) and size. Prometheus's tools read it.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = StorageMode::Dir(dir.into());
        self
    }

    /// How long to keep samples (`--storage.tsdb.retention.time`); zero keeps them
    /// forever on disk.
    pub fn retention(mut self, d: Duration) -> Self {
        self.retention = Some(d);
        self
    }

    /// Most bytes the blocks of a data directory may use
    /// (`--storage.tsdb.retention.size`); the oldest blocks go first.
    pub fn retention_size(mut self, bytes: u64) -> Self {
        self.retention_size = (bytes > 0).then_some(bytes);
        self
    }

    /// Read `prometheus.yml` from `path` (`--config.file`): scrape jobs, service
    /// discovery, rule files, Alertmanagers, remote write and read. [`Monitor::reload`]
    /// reads it again.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = ConfigInput::File(path.into());
        self
    }

    /// Use `yaml`, the text of a `prometheus.yml`, as the configuration.
    pub fn config_yaml(mut self, yaml: impl Into<String>) -> Self {
        self.config = ConfigInput::Yaml(yaml.into());
        self
    }

    /// Add a scrape job to those of the configuration; it takes the configuration's
    /// `global` defaults. Its name must be unique.
    pub fn scrape_job(mut self, job: ScrapeConfig) -> Self {
        self.scrape_jobs.push(job);
        self
    }

    /// Add a scrape job named `job` for fixed `targets` (`host:port`), scraped every
    /// `interval` at `/metrics` (the timeout is the global one, capped by the interval).
    pub fn scrape_targets<I, S>(self, job: &str, targets: I, interval: Duration) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut c = ScrapeConfig::new(job);
        c.scrape_interval = Some(interval.into());
        c.service_discovery_configs
            .static_configs
            .push(promlite_discovery::TargetGroupSpec {
                targets: targets.into_iter().map(Into::into).collect(),
                labels: BTreeMap::new(),
            });
        self.scrape_job(c)
    }

    /// Add the rule groups of `yaml`, a rule file's text (`groups: [...]`), under the
    /// file name `name` (shown by the rules API). Errors are reported by
    /// [`build`](Self::build) with their line and column.
    pub fn rules_yaml(mut self, name: &str, yaml: &str) -> Self {
        match RuleFileOptions::new().from_yaml(yaml, Path::new(name)) {
            Ok(groups) => self.rule_groups.push((name.to_owned(), groups)),
            Err(errs) => self.rule_errors.extend(errs),
        }
        self
    }

    /// Collect `registry` in-process on the collection interval, with no HTTP, as the
    /// target `{job="<job>", instance="local"}`: its samples, `up` and the other report
    /// series, and staleness markers when metrics disappear.
    pub fn register(mut self, job: &str, registry: &Registry) -> Self {
        self.registries.push((job.to_owned(), registry.clone()));
        self
    }

    /// How often registered registries are collected; default: the configuration's
    /// global `scrape_interval` (1 minute unless set).
    pub fn collect_interval(mut self, d: Duration) -> Self {
        self.collect_interval = Some(d);
        self
    }

    /// Call `f` with every batch of alerts the rules send (firing and resolved), as
    /// Alertmanager would receive them; Alertmanagers of the configuration still get
    /// them too.
    pub fn on_alert(mut self, f: impl Fn(&[NotifierAlert]) + Send + Sync + 'static) -> Self {
        self.on_alert = Some(Arc::new(f));
        self
    }

    /// PromQL engine settings: lookback delta, sample limit, timeout and the rest.
    pub fn engine_options(mut self, opts: EngineOptions) -> Self {
        self.engine = opts;
        self
    }

    /// How alerts are resent, restored and queued (Prometheus's defaults unless set).
    pub fn alerting(mut self, opts: AlertingOptions) -> Self {
        self.alerting = opts;
        self
    }

    /// Block durations and WAL settings of a data directory (see [`BlockOptions`]).
    pub fn block_options(mut self, opts: BlockOptions) -> Self {
        self.blocks = opts;
        self
    }

    /// How often the data directory is compacted and retention applied (default one
    /// minute).
    pub fn compaction_interval(mut self, d: Duration) -> Self {
        self.compaction_interval = d;
        self
    }

    /// Serve Prometheus's HTTP API and the web UI on `addr` (`--web.listen-address`;
    /// port 0 picks a free port, see [`Monitor::local_addr`]). Without a configuration,
    /// the server scrapes itself, as `promlite` does.
    #[cfg(feature = "web")]
    pub fn serve(mut self, addr: impl Into<String>) -> Self {
        self.serve_options().listen = addr.into();
        self
    }

    /// `--web.config.file`: TLS and basic authentication for the HTTP server.
    #[cfg(feature = "web")]
    pub fn web_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.serve_options().web_config_file = Some(path.into());
        self
    }

    /// `--web.external-url`: the URL users reach the server at (alerts link to it).
    #[cfg(feature = "web")]
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        self.serve_options().external_url = Some(url.into());
        self
    }

    /// `--web.route-prefix`: the path the API and UI are served under (default: the
    /// external URL's path, else the root). With `/prometheus`, queries go to
    /// `/prometheus/api/v1/query` and `/` redirects to `/prometheus`, as behind a
    /// reverse proxy that forwards a path.
    #[cfg(feature = "web")]
    pub fn route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.serve_options().route_prefix = Some(prefix.into());
        self
    }

    /// `--web.enable-lifecycle`: `POST /-/reload` and `/-/quit`.
    #[cfg(feature = "web")]
    pub fn enable_lifecycle(mut self, on: bool) -> Self {
        self.serve_options().enable_lifecycle = on;
        self
    }

    /// `--web.enable-admin-api`: deleting series, snapshots, tombstones.
    #[cfg(feature = "web")]
    pub fn enable_admin_api(mut self, on: bool) -> Self {
        self.serve_options().enable_admin_api = on;
        self
    }

    /// `--web.enable-remote-write-receiver`: accept remote writes at `/api/v1/write`.
    #[cfg(feature = "web")]
    pub fn enable_remote_write_receiver(mut self, on: bool) -> Self {
        self.serve_options().enable_remote_write_receiver = on;
        self
    }

    /// Limits on the series the remote-write receiver accepts: most labels per series,
    /// longest label name, longest label value (0: no limit, as in Prometheus). A write
    /// with a series over a limit is refused whole with a 400 naming it.
    #[cfg(feature = "web")]
    pub fn remote_write_receiver_limits(
        mut self,
        label_limit: usize,
        label_name_length_limit: usize,
        label_value_length_limit: usize,
    ) -> Self {
        self.serve_options().remote_write_limits = [
            label_limit,
            label_name_length_limit,
            label_value_length_limit,
        ];
        self
    }

    /// Remote read's limits: most samples one request may return
    /// (`--storage.remote.read-sample-limit`, 50,000,000; 0: none), reads answered at
    /// once (`--storage.remote.read-concurrent-limit`, 10; 0: no limit) and the target
    /// size of a streamed frame (`--storage.remote.read-max-bytes-in-frame`, 1 MiB).
    #[cfg(feature = "web")]
    pub fn remote_read_limits(
        mut self,
        sample_limit: usize,
        concurrent_limit: usize,
        max_bytes_in_frame: usize,
    ) -> Self {
        self.serve_options().remote_read_limits =
            [sample_limit, concurrent_limit, max_bytes_in_frame];
        self
    }

    /// `--query.timeout` for HTTP queries (default two minutes; `None`: no limit).
    #[cfg(feature = "web")]
    pub fn query_timeout(mut self, d: Option<Duration>) -> Self {
        self.serve_options().query_timeout = d;
        self
    }

    /// `--web.cors.origin`: the origins whose scripts may read the API's answers, a
    /// pattern that must match a request's whole `Origin` header. Prometheus's default,
    /// `.*`, allows any. A pattern that does not compile makes starting fail.
    #[cfg(feature = "web")]
    pub fn cors_origin(mut self, pattern: impl Into<String>) -> Self {
        self.serve_options().cors_origin = Some(pattern.into());
        self
    }

    /// `--query.max-concurrency`: how many HTTP queries evaluate at once (20, as in
    /// Prometheus); the others wait for a turn within their timeout. 0: no limit.
    #[cfg(feature = "web")]
    pub fn max_concurrent_queries(mut self, n: usize) -> Self {
        self.serve_options().max_concurrent_queries = n;
        self
    }

    /// `--web.max-connections`: how many HTTP connections may be open at once (512, as
    /// in Prometheus); past it, new ones wait to be accepted until one closes. 0: no
    /// limit.
    #[cfg(feature = "web")]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.serve_options().max_connections = n;
        self
    }

    /// The command-line flags `/api/v1/status/flags` shows.
    #[cfg(feature = "web")]
    pub fn flags(mut self, flags: BTreeMap<String, String>) -> Self {
        self.serve_options().flags = flags;
        self
    }

    #[cfg(feature = "web")]
    fn serve_options(&mut self) -> &mut ServeOptions {
        // The web and remote crates' defaults, which are Prometheus's.
        let read = promlite_remote::ReadOptions::default();
        self.serve.get_or_insert_with(|| ServeOptions {
            listen: "127.0.0.1:9090".into(),
            web_config_file: None,
            external_url: None,
            route_prefix: None,
            enable_lifecycle: false,
            enable_admin_api: false,
            enable_remote_write_receiver: false,
            query_timeout: Some(Duration::from_mins(2)),
            flags: BTreeMap::new(),
            remote_write_limits: [0; 3],
            remote_read_limits: [
                read.sample_limit,
                promlite_web::DEFAULT_READ_CONCURRENCY,
                read.max_bytes_in_frame,
            ],
            cors_origin: None,
            max_concurrent_queries: promlite_web::WebOptions::default().max_concurrent_queries,
            max_connections: 512,
        })
    }

    /// Starts the monitor on a tokio runtime of its own (two worker threads), for
    /// programs that have none. It may be called from async code too (it blocks the
    /// caller until the monitor runs); there [`start`](Self::start) is the natural form.
    pub fn build(self) -> Result<Monitor> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("promlite")
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                what: "starting the async runtime".into(),
                source,
            })?;
        // Blocking on a runtime is refused on a thread that is inside another one.
        crate::monitor::off_runtime(move || {
            let started = rt.block_on(Monitor::start(self));
            match started {
                Ok(mut monitor) => {
                    monitor.own_runtime = Some(rt);
                    Ok(monitor)
                }
                Err(e) => {
                    rt.shutdown_background();
                    Err(e)
                }
            }
        })
    }

    /// Starts the monitor on the current tokio runtime (multi-threaded or not).
    pub async fn start(self) -> Result<Monitor> {
        Monitor::start(self).await
    }
}
