//! promlite's HTTP server: Prometheus's HTTP API v1, `/metrics` and the lifecycle
//! endpoints (`/-/healthy`, `/-/ready`, `/-/reload`, `/-/quit`), on axum.
//!
//! # What it serves
//!
//! - `/api/v1/query`, `/api/v1/query_range` (GET or POST form), evaluated by a
//!   [`promlite_promql::Engine`] over any [`Queryable`]; `/api/v1/series`,
//!   `/api/v1/labels`, `/api/v1/label/<name>/values`; `/api/v1/format_query`;
//!   `/api/v1/parse_query` (the syntax tree, as Prometheus's UI tree view reads it).
//! - `/api/v1/rules` (with Prometheus's filters and pagination), `/api/v1/alerts` and
//!   `/api/v1/alertmanagers` from a [`RuleSource`] (the rule manager).
//! - `/api/v1/targets` from a [`TargetSource`] (implemented for
//!   [`promlite_scrape::ScrapeManager`]).
//! - `/api/v1/status/{buildinfo,flags,config,runtimeinfo}` from [`WebOptions`] and a
//!   [`Control`].
//! - `/api/v1/admin/tsdb/{delete_series,snapshot}` through a [`TsdbAdmin`]
//!   (implemented for [`promlite_tsdb::Db`]), only with [`WebOptions::enable_admin_api`].
//! - `/-/reload` and `/-/quit` through a [`Control`], only with
//!   [`WebOptions::enable_lifecycle`].
//! - `/metrics`: whatever the [`MetricsSource`] writes, in the text format.
//! - `/federate?match[]=…`: the newest sample of each matching series, in the text
//!   format, for federation.
//! - The web UI (`/query`, `/alerts`, `/rules`, `/targets`, `/status`, assets under
//!   `/static/`): pages built
//!   into the binary that use the API like any client; no CDN, no build step.
//!
//! # Design decisions
//!
//! - **Only this crate knows JSON, and writes it by hand.** Responses must be
//!   Prometheus's byte for byte — sample values as Go's `strconv.FormatFloat` strings
//!   (`"1"`, `"NaN"`, `"+Inf"`, `"1e-07"`), timestamps as seconds with a three-digit
//!   millisecond fraction, Go's HTML-safe string escaping — so the encoder is a few
//!   functions over a `String` rather than serde types shadowing the core ones. Query
//!   answers are written as bytes ([`write_result_json`]): a range answer's points,
//!   100,000 of them for 100 series over 1,000 steps, are laid out in place in the
//!   output buffer with table-driven digits.
//! - **Dependencies come in as trait objects** ([`Queryable`], [`TargetSource`],
//!   [`TsdbAdmin`], [`Control`], [`MetricsSource`]), so the router is tested against
//!   an in-memory store and fakes, and the binary wires in the TSDB and scrape manager.
//! - **Errors map to HTTP once**: the API's error kinds (`bad_data` 400, `execution`
//!   422, `canceled` 499, `timeout` 503, `internal` 500) are decided in one place, with
//!   Prometheus's messages (`invalid parameter "query": 1:4: parse error: …`).
//! - **Queries run where they leave an I/O thread free**: evaluation is CPU work and
//!   must not stall all of the runtime's I/O threads. A query is evaluated on the
//!   request's own thread while that leaves at least one other thread of a
//!   multi-threaded runtime free: most queries take well under a millisecond, and a
//!   hand-off to another thread costs two wake-ups (40-60 µs on loopback, more than
//!   most of them take); tokio's other workers steal the busy thread's tasks
//!   meanwhile. Past that, and on a current-thread runtime, queries and the other
//!   storage reads run on the blocking pool (`spawn_blocking`), where a request dropped
//!   by its client cancels its query through a [`promlite_promql::CancelToken`]; a
//!   query evaluated in place ends only with its answer or the query timeout.
//! - **The query endpoints before the router**: the server serves
//!   [`Web::service`], which sends `/api/v1/query` and `/api/v1/query_range` (the
//!   endpoints that take the most requests, many of them small) straight to their
//!   handlers and everything else through the axum router, whose matching, boxed route
//!   services and extractors were a sixth of a small query's work. A request without a
//!   form body is taken apart before its future is made, so that the future is one
//!   allocation small enough for glibc's per-thread cache. Under a `--web.config.file`
//!   every request goes through the router, which its authentication wraps.
//! - **Connections served on the CPU their packets arrive on** (Linux, two CPUs or
//!   more, plain HTTP): [`serve`] keeps a lane per CPU, a small runtime whose two
//!   threads are pinned to that CPU, and hands each accepted connection to the lane of
//!   the CPU that processed its packets (`SO_INCOMING_CPU`). A request then wakes a
//!   thread on that CPU, where the client (on the same machine) or the receive queue
//!   (over a network) is, instead of a thread the scheduler usually wakes on another,
//!   halted CPU: a one-series instant query took about 50 µs instead of 90-130 µs on a
//!   two-CPU virtual machine. Under a `--web.config.file` (TLS, authentication) the
//!   connections are served by the server's runtime as before.
//! - **Not ready, not serving**: until [`Web::set_ready`] the API answers 503
//!   `Service Unavailable`, as Prometheus does while its storage opens.
//!
//! Known differences from Prometheus: `format_query` returns the one-line canonical
//! form (Prometheus's `Pretty` breaks long queries over lines); the exemplar and target
//! metadata endpoints are not served yet; `globalUrl` equals
//! `scrapeUrl`; label names in `U__` escaped form are not unescaped.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use promlite_model::Labels;
//! use promlite_storage::{Appendable, MemStore, SeriesRef};
//! use promlite_web::{Web, WebOptions};
//!
//! let store = Arc::new(MemStore::new());
//! let mut app = store.appender();
//! app.append(SeriesRef::NONE, &Labels::from_pairs([("__name__", "up")]), 1_000, 1.0).unwrap();
//! app.commit().unwrap();
//!
//! let web = Web::new(store, WebOptions::default());
//! web.set_ready(true);
//! let service = web.service(); // serve it with `promlite_web::serve`
//! # drop(service);
//! ```
#![deny(missing_docs)]

mod api;
mod ast_json;
mod conn;
mod cors;
mod error;
mod federate;
mod json;
mod lanes;
mod lifecycle;
mod params;
mod remote;
mod rules;
mod ui;
mod webconfig;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use promlite_model::Matcher;
use promlite_promql::{Engine, EngineOptions};
use promlite_scrape::{DroppedTarget, ScrapeManager, Target};
use promlite_storage::Queryable;

pub use cors::cors_origin;
pub use error::Error;
pub use rules::{
    AlertState, AlertStatus, AlertmanagerStatus, ManagedRules, RuleGroupStatus, RuleHealth,
    RuleKind, RuleSource, RuleStatus,
};
pub use webconfig::WebConfig;

/// Appends `value` (as UTF-8 JSON text) as the `result` of Prometheus's `/api/v1/query` and
/// `/api/v1/query_range` answers, byte for byte as Prometheus writes it, and returns the
/// `resultType` that names its shape (`"matrix"`, `"vector"`, `"scalar"`, `"string"`).
///
/// For programs that evaluate PromQL in-process and answer in Prometheus's JSON without
/// this crate's server; the server writes its answers with it.
///
/// ```
/// use promlite_model::Labels;
/// use promlite_promql::{FPoint, Series, Value};
///
/// let series = Series {
///     metric: Labels::from_pairs([("__name__", "up")]),
///     floats: vec![FPoint { t: 1_500, f: 1.0 }],
///     ..Series::default()
/// };
/// let mut out = Vec::new();
/// let kind = promlite_web::write_result_json(&mut out, &Value::Matrix(vec![series]));
/// assert_eq!(kind, "matrix");
/// assert_eq!(out, br#"[{"metric":{"__name__":"up"},"values":[[1.500,"1"]]}]"#);
/// ```
pub fn write_result_json(out: &mut Vec<u8>, value: &promlite_promql::Value) -> &'static str {
    json::write_value(out, value);
    json::result_type(value)
}

/// A boxed error from a dependency, shown to API clients by its `Display`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed future, for the async methods of the dependency traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the targets page gets its targets.
pub trait TargetSource: Send + Sync {
    /// Active targets by scrape pool (job).
    fn active_targets(&self) -> BTreeMap<String, Vec<Arc<Target>>>;
    /// Targets dropped by relabeling.
    fn dropped_targets(&self) -> Vec<DroppedTarget>;
    /// What each of the job's `relabel_configs` makes of `labels` (discovered labels),
    /// for `/api/v1/targets/relabel_steps`; `Err` names why (an unknown job).
    fn relabel_steps(
        &self,
        job: &str,
        labels: &promlite_model::Labels,
    ) -> Result<Vec<promlite_scrape::RelabelStep>, String> {
        let _ = labels;
        Err(format!("scrape pool {job:?} not found"))
    }
}

impl TargetSource for ScrapeManager {
    fn active_targets(&self) -> BTreeMap<String, Vec<Arc<Target>>> {
        ScrapeManager::active_targets(self)
    }
    fn dropped_targets(&self) -> Vec<DroppedTarget> {
        ScrapeManager::dropped_targets(self)
    }
    fn relabel_steps(
        &self,
        job: &str,
        labels: &promlite_model::Labels,
    ) -> Result<Vec<promlite_scrape::RelabelStep>, String> {
        ScrapeManager::relabel_steps(self, job, labels).map_err(|e| e.to_string())
    }
}

/// The TSDB operations of the admin API.
pub trait TsdbAdmin: Send + Sync {
    /// Deletes samples in `[mint, maxt]` of the series matching `matchers`.
    fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), BoxError>;
    /// Writes a snapshot into `dir` (which exists), with the head's data when `with_head`.
    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), BoxError>;
    /// Rewrites the blocks with tombstones without the deleted data
    /// (`/api/v1/admin/tsdb/clean_tombstones`).
    fn clean_tombstones(&self) -> Result<(), BoxError> {
        Ok(())
    }
    /// The data directory; snapshots go to its `snapshots/` folder.
    fn dir(&self) -> PathBuf;
    /// Metric metadata by metric name (type, help, unit), for `/api/v1/metadata`.
    fn metadata(&self) -> Vec<(String, promlite_model::Metadata)> {
        Vec::new()
    }
    /// The head's size and largest cardinalities, for `/api/v1/status/tsdb`; `None` where
    /// the storage keeps no such index.
    fn head_stats(&self, _limit: usize) -> Option<promlite_tsdb::HeadStats> {
        None
    }
    /// Exemplars with timestamps in `[mint, maxt]` of the series matching any of the
    /// matcher sets, per series (sorted by labels), each series' in time order; for
    /// `/api/v1/query_exemplars`.
    fn exemplars(
        &self,
        _mint: i64,
        _maxt: i64,
        _selectors: &[Vec<Matcher>],
    ) -> Vec<(promlite_model::Labels, Vec<promlite_model::Exemplar>)> {
        Vec::new()
    }
    /// Progress of the WAL replay at start-up, for `/api/v1/status/walreplay`.
    fn wal_replay(&self) -> promlite_tsdb::WalReplayStatus {
        promlite_tsdb::WalReplayStatus::default()
    }
}

impl TsdbAdmin for promlite_tsdb::Db {
    fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<(), BoxError> {
        promlite_tsdb::Db::delete(self, mint, maxt, matchers)?;
        Ok(())
    }
    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), BoxError> {
        promlite_tsdb::Db::snapshot(self, dir, with_head)?;
        Ok(())
    }
    fn clean_tombstones(&self) -> Result<(), BoxError> {
        promlite_tsdb::Db::clean_tombstones(self)?;
        Ok(())
    }
    fn dir(&self) -> PathBuf {
        promlite_tsdb::Db::dir(self).to_owned()
    }
    fn metadata(&self) -> Vec<(String, promlite_model::Metadata)> {
        self.head().metadata_by_metric()
    }
    fn head_stats(&self, limit: usize) -> Option<promlite_tsdb::HeadStats> {
        Some(self.head().stats(limit))
    }
    fn exemplars(
        &self,
        mint: i64,
        maxt: i64,
        selectors: &[Vec<Matcher>],
    ) -> Vec<(promlite_model::Labels, Vec<promlite_model::Exemplar>)> {
        let mut by_series: BTreeMap<promlite_model::Labels, Vec<promlite_model::Exemplar>> =
            BTreeMap::new();
        for ms in selectors {
            for (l, e) in self.head().exemplars(mint, maxt, ms) {
                let list = by_series.entry(l).or_default();
                if !list.contains(&e) {
                    list.push(e);
                }
            }
        }
        by_series
            .into_iter()
            .map(|(l, mut es)| {
                es.sort_by_key(|e| e.timestamp);
                (l, es)
            })
            .collect()
    }
    fn wal_replay(&self) -> promlite_tsdb::WalReplayStatus {
        promlite_tsdb::Db::wal_replay(self)
    }
}

/// The server around the web layer: configuration text, reloads and shutdown.
pub trait Control: Send + Sync {
    /// Reloads the configuration; an error keeps the old one and is shown to the client.
    fn reload(&self) -> BoxFuture<'_, Result<(), BoxError>>;
    /// Asks the server to shut down.
    fn quit(&self);
    /// The configuration in force, as YAML.
    fn config_yaml(&self) -> String;
    /// Whether the last reload succeeded, and when the configuration last loaded.
    fn reload_status(&self) -> (bool, Option<SystemTime>);
    /// The configuration's `external_labels`, which remote read adds to the series it
    /// returns (none unless overridden).
    fn external_labels(&self) -> promlite_model::Labels {
        promlite_model::Labels::empty()
    }
}

/// Writes the server's own metrics for `/metrics`, in the Prometheus text format.
pub trait MetricsSource: Send + Sync {
    /// Appends the metrics to `out`.
    fn write(&self, out: &mut String);
}

/// Build information for `/api/v1/status/buildinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Version, e.g. `0.1.0`.
    pub version: String,
    /// VCS revision.
    pub revision: String,
    /// VCS branch.
    pub branch: String,
    /// Who built it.
    pub build_user: String,
    /// When.
    pub build_date: String,
    /// The toolchain (Prometheus's `goVersion` field).
    pub toolchain: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: String::new(),
            branch: String::new(),
            build_user: String::new(),
            build_date: String::new(),
            toolchain: "rust".to_string(),
        }
    }
}

/// Options of a [`Web`].
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)]
pub struct WebOptions {
    /// The engine's options (lookback, limits); its timeout is [`Self::query_timeout`].
    pub engine: EngineOptions,
    /// The longest a query may run (`--query.timeout`); a request's `timeout` parameter
    /// can only shorten it. Kept here because the engine's options are write-only.
    pub query_timeout: Option<Duration>,
    /// Serve `/-/reload` and `/-/quit` (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// Serve the admin API (`--web.enable-admin-api`).
    pub enable_admin_api: bool,
    /// Accept remote writes on `/api/v1/write` (`--web.enable-remote-write-receiver`);
    /// they are appended through [`Web::with_appendable`]'s store.
    pub enable_remote_write_receiver: bool,
    /// The command-line flags, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// Build information.
    pub build_info: BuildInfo,
    /// When the server started.
    pub start_time: SystemTime,
    /// The retention, as shown by runtimeinfo (`15d`).
    pub storage_retention: String,
    /// The path the API and UI are served under (`--web.route-prefix`, which defaults
    /// to the external URL's path): empty for the root, else like `/prometheus`, which
    /// serves `/prometheus/api/v1/query` and redirects `/` to `/prometheus`. See
    /// [`route_prefix`].
    pub route_prefix: String,
    /// `--web.cors.origin`: the origins whose scripts may read the API's answers
    /// (compiled with [`cors_origin`]). `None`, Prometheus's default pattern `.*`,
    /// allows any origin.
    pub cors_origin: Option<regex::Regex>,
    /// `--query.max-concurrency`: how many queries (`query`, `query_range`) evaluate at
    /// once; others wait for a turn, within their timeout (0: no limit).
    pub max_concurrent_queries: usize,
}

/// The path of an external URL (`--web.external-url`), the default route prefix: `/`
/// when the URL has none or does not parse.
pub fn url_path(external_url: &str) -> String {
    url::Url::parse(external_url).map_or_else(|_| "/".to_owned(), |u| u.path().to_owned())
}

/// Normalises a route prefix as Prometheus does (`"/" + strings.Trim(prefix, "/")`),
/// but with the root as the empty string: `prometheus/` and `/prometheus` both become
/// `/prometheus`, `/` and the empty string the root.
pub fn route_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            engine: EngineOptions::new(),
            query_timeout: Some(Duration::from_mins(2)),
            enable_lifecycle: false,
            enable_admin_api: false,
            enable_remote_write_receiver: false,
            flags: BTreeMap::new(),
            build_info: BuildInfo::default(),
            start_time: SystemTime::now(),
            storage_retention: String::new(),
            route_prefix: String::new(),
            cors_origin: None,
            max_concurrent_queries: 20,
        }
    }
}

/// Prometheus's default of `--storage.remote.read-concurrent-limit`: remote reads
/// answered at once.
pub const DEFAULT_READ_CONCURRENCY: usize = 10;

/// A semaphore of `max` turns (queries evaluated, remote reads answered at once);
/// `None` for no limit (0).
fn turns(max: usize) -> Option<Arc<tokio::sync::Semaphore>> {
    (max > 0).then(|| Arc::new(tokio::sync::Semaphore::new(max)))
}

/// The web layer: its dependencies and options; [`Web::router`] makes the axum router.
#[derive(Clone)]
pub struct Web {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Queryable>,
    engine: Engine,
    options: WebOptions,
    targets: Option<Arc<dyn TargetSource>>,
    admin: Option<Arc<dyn TsdbAdmin>>,
    control: Option<Arc<dyn Control>>,
    metrics: Option<Arc<dyn MetricsSource>>,
    rules: Option<Arc<dyn RuleSource>>,
    appendable: Option<Arc<dyn promlite_storage::Appendable>>,
    /// Limits of the remote-write receiver (body size, label limits).
    remote_write: promlite_remote::WriteOptions,
    /// Limits of remote read (samples, frame size); its external labels come from
    /// [`Control::external_labels`] at each request.
    remote_read: promlite_remote::ReadOptions,
    /// Turns to answer a remote read (`--storage.remote.read-concurrent-limit`).
    read_turns: Option<Arc<tokio::sync::Semaphore>>,
    ready: AtomicBool,
    /// Queries being evaluated on the web runtime's own threads (see `api::evaluate`).
    inline_evals: AtomicUsize,
    /// Turns to evaluate a query (`WebOptions::max_concurrent_queries`); `None`: no
    /// limit.
    query_turns: Option<Arc<tokio::sync::Semaphore>>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("options", &self.inner.options)
            .field("ready", &self.inner.ready.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Web {
    /// A web layer answering queries over `store`, with no targets, admin, control or
    /// metrics source (add them with the `with_*` methods before cloning).
    pub fn new(store: Arc<dyn Queryable>, options: WebOptions) -> Web {
        let options_turns = options.max_concurrent_queries;
        Web {
            inner: Arc::new(Inner {
                store,
                engine: Engine::new(options.engine.clone().timeout(options.query_timeout)),
                options,
                targets: None,
                admin: None,
                control: None,
                metrics: None,
                rules: None,
                appendable: None,
                remote_write: promlite_remote::WriteOptions::default(),
                remote_read: promlite_remote::ReadOptions::default(),
                read_turns: turns(DEFAULT_READ_CONCURRENCY),
                ready: AtomicBool::new(false),
                inline_evals: AtomicUsize::new(0),
                query_turns: turns(options_turns),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        // Configuration happens before the router is built and the value is shared, so
        // the Arc is unique here; a shared one is copied rather than mutated under users.
        if Arc::get_mut(&mut self.inner).is_none() {
            let i = &self.inner;
            self.inner = Arc::new(Inner {
                store: Arc::clone(&i.store),
                engine: i.engine.clone(),
                options: i.options.clone(),
                targets: i.targets.clone(),
                admin: i.admin.clone(),
                control: i.control.clone(),
                metrics: i.metrics.clone(),
                rules: i.rules.clone(),
                appendable: i.appendable.clone(),
                remote_write: i.remote_write.clone(),
                remote_read: i.remote_read.clone(),
                read_turns: i.read_turns.clone(),
                ready: AtomicBool::new(i.ready.load(Ordering::Relaxed)),
                inline_evals: AtomicUsize::new(0),
                query_turns: i.query_turns.clone(),
            });
        }
        Arc::get_mut(&mut self.inner).expect("unique after copy")
    }

    /// Serves `/api/v1/targets` from `targets`.
    pub fn with_targets(mut self, targets: Arc<dyn TargetSource>) -> Web {
        self.inner_mut().targets = Some(targets);
        self
    }

    /// Runs the admin API on `admin` (when enabled in the options).
    pub fn with_admin(mut self, admin: Arc<dyn TsdbAdmin>) -> Web {
        self.inner_mut().admin = Some(admin);
        self
    }

    /// Reloads, quits and shows the configuration through `control`.
    pub fn with_control(mut self, control: Arc<dyn Control>) -> Web {
        self.inner_mut().control = Some(control);
        self
    }

    /// Serves `/metrics` from `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricsSource>) -> Web {
        self.inner_mut().metrics = Some(metrics);
        self
    }

    /// Serves `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/alertmanagers` (and the
    /// Rules and Alerts pages) from `rules`.
    pub fn with_rules(mut self, rules: Arc<dyn RuleSource>) -> Web {
        self.inner_mut().rules = Some(rules);
        self
    }

    /// Appends remote writes (with [`WebOptions::enable_remote_write_receiver`]) to
    /// `store`.
    pub fn with_appendable(mut self, store: Arc<dyn promlite_storage::Appendable>) -> Web {
        self.inner_mut().appendable = Some(store);
        self
    }

    /// Sets the remote-write receiver's limits (default: Prometheus's 32 MiB decoded
    /// body, no label limits). Bodies larger than `max_body_bytes` are refused before
    /// they are read whole.
    pub fn with_remote_write_options(mut self, opts: promlite_remote::WriteOptions) -> Web {
        self.inner_mut().remote_write = opts;
        self
    }

    /// Remote read's limits (`--storage.remote.read-sample-limit`,
    /// `--storage.remote.read-max-bytes-in-frame`; its external labels are ignored:
    /// they come from [`Control::external_labels`]) and how many reads are answered at
    /// once (`--storage.remote.read-concurrent-limit`, 10; 0: no limit).
    pub fn with_remote_read_options(
        mut self,
        opts: promlite_remote::ReadOptions,
        concurrent_limit: usize,
    ) -> Web {
        let inner = self.inner_mut();
        inner.remote_read = opts;
        inner.read_turns = turns(concurrent_limit);
        self
    }

    /// Marks the server ready (or not): the API and `/-/ready` answer 503 until then.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Release);
    }

    fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// The axum router with every endpoint, under the route prefix if there is one.
    pub fn router(&self) -> Router {
        let prefix = route_prefix(&self.inner.options.route_prefix);
        let all = api::routes(self.clone())
            .merge(lifecycle::routes(self.clone()))
            .merge(federate::routes(self.clone()))
            .merge(remote::routes(self.clone()))
            .merge(ui::routes(&prefix));
        if prefix.is_empty() {
            return all;
        }
        // As Prometheus: the root redirects to the prefix, whose own root redirects to
        // the query page.
        let to_prefix = prefix.clone();
        let to_query = format!("{prefix}/query");
        Router::new()
            .route(
                "/",
                get(move || std::future::ready(ui::found(to_prefix.clone()))),
            )
            .route(
                &format!("{prefix}/"),
                get(move || std::future::ready(ui::found(to_query.clone()))),
            )
            .nest(&prefix, all)
    }
}

/// What [`serve`] serves: a router, and for [`Web::service`] the query endpoints
/// reached before it.
///
/// The query endpoints take the most requests, many of them small (a dashboard's
/// panels, Grafana's instant queries), and routing through axum (matching, the boxed
/// route service and its layers) is about a sixth of a small query's work; so the
/// front compares the path with theirs first. Any other request, and every request
/// under a `--web.config.file` (whose authentication wraps the routes), goes through
/// the router.
#[derive(Clone)]
pub struct WebService {
    router: Router,
    queries: Option<Arc<QueryPaths>>,
}

/// The query endpoints' paths (under the route prefix) and the API they reach.
struct QueryPaths {
    web: Web,
    query: String,
    query_range: String,
}

impl From<Router> for WebService {
    fn from(router: Router) -> WebService {
        WebService {
            router,
            queries: None,
        }
    }
}

impl Web {
    /// The router with the query endpoints in front of it (see [`WebService`]).
    pub fn service(&self) -> WebService {
        let prefix = route_prefix(&self.inner.options.route_prefix);
        WebService {
            router: self.router(),
            queries: Some(Arc::new(QueryPaths {
                web: self.clone(),
                query: format!("{prefix}/api/v1/query"),
                query_range: format!("{prefix}/api/v1/query_range"),
            })),
        }
    }
}

/// The future of [`WebService`]'s answers.
pub(crate) type ServiceFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

impl tower_service::Service<axum::extract::Request> for WebService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ServiceFuture;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> ServiceFuture {
        if let Some(q) = &self.queries
            && matches!(
                *req.method(),
                axum::http::Method::GET | axum::http::Method::POST
            )
        {
            let path = req.uri().path();
            if path == q.query {
                return api::query_direct(q.web.clone(), req);
            }
            if path == q.query_range {
                return api::query_range_direct(q.web.clone(), req);
            }
        }
        Box::pin(tower_service::Service::call(&mut self.router, req))
    }
}

/// Serves `service` (a [`Router`], or [`Web::service`]) on `listener` until `shutdown`
/// completes, then finishes the requests in flight (graceful shutdown). On Linux with
/// two CPUs or more, each connection is served by a thread pinned to the CPU its
/// packets arrive on (see the crate's design decisions); the caller's runtime accepts.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: impl Into<WebService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_with_config(listener, service, shutdown, None, 0).await
}

/// [`serve`] with a `--web.config.file`: TLS when it configures a certificate, basic
/// authentication when it lists users, and its response headers; and at most
/// `max_connections` connections open at once (`--web.max-connections`; 0: no limit).
pub async fn serve_with_config(
    listener: tokio::net::TcpListener,
    service: impl Into<WebService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    config: Option<Arc<WebConfig>>,
    max_connections: usize,
) -> Result<(), Error> {
    use axum::ServiceExt as _;
    let slots = conn::Slots::new(max_connections);
    let plain = |listener| conn::Limited::new(listener, slots.clone());
    let service = service.into();
    let Some(config) = config else {
        if let Some(cpus) = lanes::cpus() {
            return lanes::serve(listener, service, shutdown, slots, &cpus).await;
        }
        return axum::serve(plain(listener), service.into_make_service())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve);
    };
    // Authentication and the configured headers wrap the routes: no request may pass
    // around them.
    let router = config.wrap(service.router);
    match config.server_config() {
        Some(tls) => {
            let listener =
                webconfig::TlsListener::new(listener, tls, slots.clone()).map_err(Error::Serve)?;
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(Error::Serve)
        }
        None => axum::serve(plain(listener), router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve),
    }
}

/// Turns Nagle's algorithm off on an accepted connection, as Go (so Prometheus) does
/// for every TCP connection: a response written in more than one piece (the head, then
/// a large body as the socket takes it) must not wait for the client's ACK of the
/// previous piece.
pub(crate) fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(err = %e, "cannot set TCP_NODELAY");
    }
}

/// The random part of a snapshot's name, from the clock's nanoseconds: names only need
/// to differ between snapshots, not to be unpredictable.
fn random_u64() -> u64 {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos();
    // A multiplicative hash spreads the clock's low bits over the whole word.
    (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n >> 64) as u64
}
