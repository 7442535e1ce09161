//! [`Monitor`]: a running monitoring engine — storage, scraping, in-process collection,
//! rules and alerting, and optionally the HTTP API — and what a program asks of it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use promlite_config::{Config, Reloader};
use promlite_discovery::{Manager as DiscoveryManager, ManagerOptions as DiscoveryOptions};
use promlite_model::Labels;
use promlite_model::value::to_ms;
use promlite_promql::{Engine, QueryResult};
use promlite_rules::{Alert, AlertSender, NotifierAlert};
use promlite_scrape::{ManagerOptions, ScrapeConfig, ScrapeManager};
use promlite_storage::{Appendable, Queryable};
use promlite_tsdb::{Db, DbOptions, Head, HeadOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::builder::{
    AlertCallback, ConfigInput, DEFAULT_MEMORY_RETENTION, MonitorBuilder, StorageMode,
};
use crate::error::{Error, Result};
use crate::local::{LocalTarget, collect_loop};

/// The remote-write position file in the data directory.
const REMOTE_WRITE_POSITION: &str = "remote_write.position";

/// The storage a monitor writes and reads.
#[derive(Clone)]
pub(crate) enum Store {
    /// A data directory.
    Disk(Arc<Db>),
    /// Memory only.
    Memory(Arc<Head>),
}

impl Store {
    pub(crate) fn queryable(&self) -> Arc<dyn Queryable> {
        match self {
            Store::Disk(db) => Arc::clone(db) as Arc<dyn Queryable>,
            Store::Memory(h) => Arc::clone(h) as Arc<dyn Queryable>,
        }
    }

    pub(crate) fn appendable(&self) -> Arc<dyn Appendable> {
        match self {
            Store::Disk(db) => Arc::clone(db) as Arc<dyn Appendable>,
            Store::Memory(h) => Arc::clone(h) as Arc<dyn Appendable>,
        }
    }

    #[cfg(feature = "web")]
    pub(crate) fn head(&self) -> &Head {
        match self {
            Store::Disk(db) => db.head(),
            Store::Memory(h) => h,
        }
    }

    #[cfg(feature = "web")]
    pub(crate) fn blocks(&self) -> usize {
        match self {
            Store::Disk(db) => db.blocks().len(),
            Store::Memory(_) => 0,
        }
    }
}

/// Where the configuration comes from, once loaded.
enum Source {
    File(Reloader),
    Fixed(Arc<Config>),
}

/// The scrape job a server runs without a configuration: itself, every 15s, at
/// `/metrics` under the route prefix `prefix`.
fn builtin_yaml(addr: Option<SocketAddr>, prefix: &str) -> String {
    let Some(addr) = addr else {
        return "global:\n  scrape_interval: 1m\n".into();
    };
    // A wildcard listen address is scraped through the loopback interface.
    let target = if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    };
    let path = if prefix.is_empty() {
        String::new()
    } else {
        format!(
            "    metrics_path: '{}/metrics'\n",
            prefix.replace('\'', "''")
        )
    };
    format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n  - job_name: promlite\n{path}    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// The configuration side of a running monitor: the loaded configuration plus the
/// builder's own jobs and rules, and the managers it is handed to. The web layer
/// reloads and reads it through this.
pub(crate) struct Core {
    source: Source,
    extra_jobs: Vec<ScrapeConfig>,
    inline_rules: Vec<(String, promlite_rules::RuleGroups)>,
    current: Mutex<Arc<Config>>,
    pub(crate) yaml: Mutex<String>,
    pub(crate) scrape: Arc<ScrapeManager>,
    discovery: Mutex<DiscoveryManager>,
    am_discovery: Mutex<DiscoveryManager>,
    pub(crate) rules: Arc<promlite_rules::Manager>,
    notifier: promlite_rules::Notifier,
    remote_write: Arc<promlite_remote::WriteStorage>,
    /// The data directory, whose WAL feeds remote write; `None` in memory.
    data_dir: Option<PathBuf>,
    /// Tails the WAL for the remote-write queues while there are any.
    wal_watcher: Mutex<Option<promlite_remote::WalWatcher>>,
    pub(crate) quit: Notify,
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    loaded_at: SystemTime,
}

impl Core {
    /// The configuration in force: the file's (or text's) plus the builder's jobs.
    pub(crate) fn config(&self) -> Arc<Config> {
        Arc::clone(&self.current.lock())
    }

    /// `base` with the builder's scrape jobs added, each taking `base`'s defaults.
    fn effective(&self, base: &Config) -> Result<Config> {
        let mut config = base.clone();
        for job in &self.extra_jobs {
            let mut job = job.clone();
            if config
                .scrape_configs
                .iter()
                .any(|c| c.job_name == job.job_name)
            {
                return Err(Error::ScrapeJob {
                    job: job.job_name,
                    message: "found multiple scrape configs with this job name".into(),
                });
            }
            job.apply_defaults(&config.global.scrape_defaults)
                .map_err(|e| Error::ScrapeJob {
                    job: job.job_name.clone(),
                    message: e.to_string(),
                })?;
            config.scrape_configs.push(job);
        }
        Ok(config)
    }

    /// Hands `base` (made effective) to the rule, scrape and discovery managers, the
    /// notifier's discovery and the remote-write queues. Rules load first: if a rule file
    /// is invalid nothing changes, as a failed Prometheus reload keeps everything
    /// running as it was.
    async fn apply(&self, base: &Config) -> Result<()> {
        let config = self.effective(base)?;
        let mut groups = promlite_rules::Manager::load_files(
            &config.rule_files,
            &promlite_rules::RuleFileOptions::new(),
        )
        .map_err(Error::Rules)?;
        groups.extend(self.inline_rules.iter().cloned());
        // External labels, alert relabeling and the rule defaults follow the
        // configuration, as on a Prometheus reload.
        let external: BTreeMap<String, String> = config
            .global
            .external_labels
            .iter()
            .map(|l| (l.name.to_owned(), l.value.to_owned()))
            .collect();
        self.rules.set_options(|o| {
            o.external_labels = external;
            o.default_interval = Duration::from(config.global.evaluation_interval);
            o.default_query_offset = Duration::from(config.global.rule_query_offset);
        });
        self.notifier.set_labeling(
            config.global.external_labels.clone(),
            config.alerting.alert_relabel_configs.clone(),
        );
        self.rules.update(groups);
        self.am_discovery
            .lock()
            .apply_config(
                config
                    .alerting
                    .alertmanagers
                    .iter()
                    .enumerate()
                    .map(|(i, am)| {
                        (
                            format!("alertmanager/{i}"),
                            am.service_discovery_configs.to_sd_configs(),
                        )
                    })
                    .collect(),
            )
            .map_err(|e| {
                Error::Setup(format!(
                    "applying Alertmanager discovery configuration: {e}"
                ))
            })?;
        // Unchanged queues keep running.
        self.remote_write
            .apply_config(&config.remote_write, &config.global.external_labels)
            .await
            .map_err(|e| Error::Setup(format!("remote_write: {e}")))?;
        self.follow_wal(!config.remote_write.is_empty());
        self.scrape
            .apply_config(&config.scrape_configs)
            .map_err(|e| Error::Setup(format!("applying scrape configuration: {e}")))?;
        self.discovery
            .lock()
            .apply_config(config.discovery_configs())
            .map_err(|e| Error::Setup(format!("applying service discovery configuration: {e}")))?;
        *self.current.lock() = Arc::new(config);
        Ok(())
    }

    /// Starts tailing the WAL for remote write when there are queues, and stops when
    /// there are none: decoding every record costs as much as writing it, so a server
    /// without remote write does not pay for it.
    fn follow_wal(&self, queues: bool) {
        let Some(dir) = &self.data_dir else { return };
        let mut watcher = self.wal_watcher.lock();
        match (queues, watcher.is_some()) {
            (true, false) => {
                // From now on, or from where the endpoints last acknowledged (the
                // position file), so a restart loses nothing they were owed.
                *watcher = Some(promlite_remote::WalWatcher::start(
                    &dir.join("wal"),
                    Arc::clone(&self.remote_write),
                    promlite_remote::WalWatcherOptions {
                        start_time: Some(promlite_model::value::now_ms()),
                        position_file: Some(dir.join(REMOTE_WRITE_POSITION)),
                        ..promlite_remote::WalWatcherOptions::default()
                    },
                ));
            }
            (false, true) => {
                if let Some(w) = watcher.take() {
                    w.stop();
                }
                // No queue is owed anything any more; one configured later starts from
                // its own start, as in Prometheus.
                let _ = std::fs::remove_file(dir.join(REMOTE_WRITE_POSITION));
            }
            _ => {}
        }
    }

    /// Reads the configuration file again; on error the old configuration keeps running.
    pub(crate) async fn reload(&self) -> Result<()> {
        let Source::File(reloader) = &self.source else {
            info!("configuration is not from a file; nothing to reload");
            return Ok(());
        };
        let path = reloader.path().to_owned();
        let reloaded = reloader.reload().map_err(|e| Error::Config {
            path: path.clone(),
            source: e,
        })?;
        if reloaded.changed {
            self.apply(&reloaded.config).await?;
            if let Ok(text) = std::fs::read_to_string(&path) {
                *self.yaml.lock() = text;
            }
        }
        info!(file = %path.display(), changed = reloaded.changed, "Completed loading of configuration file");
        Ok(())
    }

    /// Whether the last reload succeeded, and when the configuration last loaded.
    #[cfg(feature = "web")]
    pub(crate) fn reload_status(&self) -> (bool, Option<SystemTime>) {
        match &self.source {
            Source::File(r) => {
                let s = r.status();
                (s.last_successful, s.last_success)
            }
            Source::Fixed(_) => (true, Some(self.loaded_at)),
        }
    }
}

/// The base URLs of the discovered Alertmanagers (the notifier appends
/// `/api/v2/alerts`), as Prometheus derives them: each target's labels with `__scheme__`
/// and `__alerts_path__` set from its `alertmanagers` entry, relabeled by the entry's
/// `relabel_configs` (a dropped target is not used), then
/// `{__scheme__}://{__address__}{__alerts_path__ without /api/v2/alerts}`.
///
/// Also returns the URLs of the targets relabeling dropped, made from their labels
/// before relabeling, as `/api/v1/alertmanagers` lists them.
fn alertmanager_targets(
    config: &Config,
    sets: &promlite_discovery::TargetSets,
) -> (Vec<promlite_rules::AlertmanagerTarget>, Vec<String>) {
    let mut urls = Vec::new();
    let mut dropped = Vec::new();
    let mut b = promlite_model::LabelsBuilder::new();
    for (i, am) in config.alerting.alertmanagers.iter().enumerate() {
        let (client, decorate) = alertmanager_client(am);
        let alerts_path = format!("{}/api/v2/alerts", am.path_prefix.trim_end_matches('/'));
        for group in sets.get(&format!("alertmanager/{i}")).into_iter().flatten() {
            for target in &group.targets {
                b.reset(&group.labels);
                for l in target {
                    b.set(l.name, l.value);
                }
                if b.get("__scheme__").is_none() {
                    b.set("__scheme__", &am.scheme);
                }
                b.set("__alerts_path__", &alerts_path);
                let labels = b.build();
                let Some(labels) = promlite_relabel::relabel(&labels, &am.relabel_configs, &mut b)
                else {
                    if let (Some(scheme), Some(addr)) =
                        (labels.get("__scheme__"), labels.get("__address__"))
                    {
                        dropped.push(format!("{scheme}://{addr}{alerts_path}"));
                    }
                    continue;
                };
                let (Some(scheme), Some(addr), Some(path)) = (
                    labels.get("__scheme__"),
                    labels.get("__address__"),
                    labels.get("__alerts_path__"),
                ) else {
                    continue;
                };
                urls.push(promlite_rules::AlertmanagerTarget {
                    base_url: format!(
                        "{scheme}://{addr}{}",
                        path.strip_suffix("/api/v2/alerts").unwrap_or(path)
                    ),
                    client: client.clone(),
                    decorate: decorate.clone(),
                    relabel_configs: am.alert_relabel_configs.clone(),
                });
            }
        }
    }
    urls.sort_by(|a, b| a.base_url.cmp(&b.base_url));
    urls.dedup_by(|a, b| a.base_url == b.base_url);
    dropped.sort();
    dropped.dedup();
    (urls, dropped)
}

/// The client and request decoration of an `alertmanagers` entry: its `timeout`, TLS
/// and proxy settings, and its credentials and headers on every request, through the
/// same code as scrapes. A client that cannot be built is logged and the notifier's
/// plain one used, so that the entry's alerts still go out where they can.
fn alertmanager_client(
    am: &promlite_config::AlertmanagerConfig,
) -> (Option<reqwest::Client>, Option<promlite_rules::Decorate>) {
    let http = am.http_client_config.clone();
    let client = promlite_scrape::client_builder(&http)
        .and_then(|b| {
            b.timeout(std::time::Duration::from(am.timeout))
                .build()
                .map_err(promlite_scrape::Error::Http)
        })
        .map_err(|e| warn!(err = %e, "Alertmanager client settings"))
        .ok();
    let decorate: promlite_rules::Decorate = std::sync::Arc::new(move |req| {
        promlite_scrape::with_credentials(req, &http).map_err(|e| e.to_string())
    });
    (client, Some(decorate))
}

/// Sends alerts to the notifier and to the program's callback.
struct Senders {
    notifier: promlite_rules::Notifier,
    callback: Option<AlertCallback>,
}

impl AlertSender for Senders {
    fn send(&self, alerts: Vec<NotifierAlert>) {
        // The callback sees the alerts as Alertmanager will: external labels added,
        // alert relabeling applied.
        let alerts = self.notifier.prepare(alerts);
        if alerts.is_empty() {
            return;
        }
        if let Some(f) = &self.callback {
            f(&alerts);
        }
        self.notifier.enqueue(alerts);
    }
}

/// A target as [`Monitor::targets`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetInfo {
    /// The scrape job (pool).
    pub job: String,
    /// The target's labels (`job`, `instance` and the rest).
    pub labels: Labels,
    /// What is scraped: a URL, or `in-process` for a registered registry.
    pub url: String,
    /// `up`, `down`, or `unknown` before the first scrape.
    pub health: &'static str,
    /// The last scrape's error, empty when it succeeded.
    pub last_error: String,
    /// When it was last scraped.
    pub last_scrape: Option<SystemTime>,
}

/// A running monitoring engine embedded in the program: it stores samples (in memory or
/// in a data directory), scrapes the configured targets, collects the program's own
/// registries in-process, evaluates recording and alerting rules, sends alerts, and,
/// with [`MonitorBuilder::serve`], answers Prometheus's HTTP API. Built by
/// [`Monitor::builder`].
///
/// Queries ([`query`](Self::query), [`query_range`](Self::query_range),
/// [`series`](Self::series)) run on the calling thread: from async code, call them from
/// `spawn_blocking` if they may be long. [`reload`](Self::reload) and
/// [`shutdown`](Self::shutdown) are async; [`reload_blocking`](Self::reload_blocking)
/// and [`shutdown_blocking`](Self::shutdown_blocking) are their forms for threads
/// outside any async runtime.
pub struct Monitor {
    parts: Option<Parts>,
    pub(crate) own_runtime: Option<tokio::runtime::Runtime>,
}

/// What a running monitor holds; taken out of the [`Monitor`] when it shuts down.
pub(crate) struct Parts {
    pub(crate) core: Arc<Core>,
    store: Store,
    pub(crate) queryable: Arc<dyn Queryable>,
    engine: Engine,
    pub(crate) locals: Vec<Arc<LocalTarget>>,
    tasks: Vec<JoinHandle<()>>,
    stop: Arc<Notify>,
    notifier: promlite_rules::Notifier,
    stop_notifier: Arc<Notify>,
    notifier_task: Option<JoinHandle<()>>,
    remote_write: Arc<promlite_remote::WriteStorage>,
    pub(crate) handle: tokio::runtime::Handle,
    #[cfg(feature = "web")]
    web: Option<crate::serve::Served>,
}

impl Drop for Monitor {
    /// A monitor dropped without [`Monitor::shutdown`] stops its tasks without waiting
    /// (committed samples are in the WAL already); its own runtime shuts down in the
    /// background, which is allowed in async code too.
    fn drop(&mut self) {
        if let Some(parts) = &self.parts {
            for t in &parts.tasks {
                t.abort();
            }
            if let Some(t) = &parts.notifier_task {
                t.abort();
            }
        }
        if let Some(rt) = self.own_runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `f` on a thread of its own, outside any async runtime, so that blocking on a
/// runtime there is allowed whatever the caller's thread is.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// A builder with the defaults: in memory, one hour of history, nothing scraped.
    pub fn builder() -> MonitorBuilder {
        MonitorBuilder::default()
    }

    pub(crate) async fn start(b: MonitorBuilder) -> Result<Monitor> {
        let started = SystemTime::now();
        if !b.rule_errors.is_empty() {
            return Err(Error::Rules(b.rule_errors));
        }
        let handle = tokio::runtime::Handle::current();

        // The HTTP listener binds first: a server without configuration scrapes itself
        // at the address it really got (port 0 picks one).
        #[cfg(feature = "web")]
        let listener =
            match &b.serve {
                Some(s) => Some(tokio::net::TcpListener::bind(&s.listen).await.map_err(
                    |source| Error::Io {
                        what: format!("listen on {}", s.listen),
                        source,
                    },
                )?),
                None => None,
            };
        #[cfg(feature = "web")]
        let self_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        #[cfg(not(feature = "web"))]
        let self_addr: Option<SocketAddr> = None;

        let (source, yaml) = match &b.config {
            ConfigInput::File(path) => {
                let reloader = Reloader::new(path).map_err(|source| Error::Config {
                    path: path.clone(),
                    source: Arc::new(source),
                })?;
                let text = std::fs::read_to_string(path).unwrap_or_default();
                (Source::File(reloader), text)
            }
            ConfigInput::Yaml(text) => {
                let config = Config::from_yaml(text, Path::new("<inline>")).map_err(|source| {
                    Error::Config {
                        path: "<inline>".into(),
                        source: Arc::new(source),
                    }
                })?;
                (Source::Fixed(Arc::new(config)), text.clone())
            }
            ConfigInput::None => {
                #[cfg(feature = "web")]
                let prefix = b.serve.as_ref().map(crate::builder::ServeOptions::prefix);
                #[cfg(not(feature = "web"))]
                let prefix: Option<String> = None;
                let text = builtin_yaml(self_addr, prefix.as_deref().unwrap_or(""));
                let config =
                    Config::from_yaml(&text, Path::new("promlite.yml")).map_err(|source| {
                        Error::Config {
                            path: "promlite.yml".into(),
                            source: Arc::new(source),
                        }
                    })?;
                (Source::Fixed(Arc::new(config)), text)
            }
        };
        let first = match &source {
            Source::File(r) => r.current(),
            Source::Fixed(c) => Arc::clone(c),
        };

        // Storage.
        let store = match &b.storage {
            StorageMode::Dir(dir) => {
                let retention_ms = b
                    .retention
                    .map_or(promlite_tsdb::DEFAULT_RETENTION, |d| d.as_millis() as i64);
                let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                let defaults = DbOptions::default();
                let min_block = ms(b.blocks.min_block_duration);
                let opts = DbOptions {
                    retention_time: (retention_ms > 0).then_some(retention_ms),
                    retention_size: b.retention_size,
                    max_block_duration: ms(b
                        .blocks
                        .max_block_duration_for(Duration::from_millis(retention_ms as u64))),
                    head: HeadOptions {
                        chunk_range: min_block,
                        ..defaults.head
                    },
                    wal: promlite_tsdb::wal::WalOptions {
                        segment_size: b.blocks.wal_segment_size,
                        compress: b.blocks.wal_compression,
                        ..defaults.wal
                    },
                };
                let path = dir.clone();
                let db = tokio::task::spawn_blocking(move || Db::open(&path, opts))
                    .await
                    .map_err(|e| Error::Setup(format!("opening storage: {e}")))?
                    .map_err(|source| Error::Storage {
                        path: dir.clone(),
                        source,
                    })?;
                info!(path = %dir.display(), "TSDB started");
                Store::Disk(Arc::new(db))
            }
            StorageMode::Memory => Store::Memory(Arc::new(Head::new(&HeadOptions::default()))),
        };

        let scrape = Arc::new(ScrapeManager::new(
            store.appendable(),
            ManagerOptions::default(),
        ));
        let discovery = DiscoveryManager::new(DiscoveryOptions::default());
        let target_sets = discovery.subscribe();
        let am_discovery = DiscoveryManager::new(DiscoveryOptions::default());
        let mut am_sets = am_discovery.subscribe();

        // Rules evaluate with the query engine's settings; their alerts go to the
        // notifier (and the program's callback). External labels, alert relabeling and
        // the rule defaults are set from the configuration by `Core::apply`.
        let notifier = promlite_rules::Notifier::new(promlite_rules::NotifierOptions {
            queue_capacity: b.alerting.notification_queue_capacity,
            ..promlite_rules::NotifierOptions::default()
        })
        .map_err(|e| Error::Setup(format!("notifier: {e}")))?;
        let engine = Engine::new(b.engine.clone());
        let mut eval = promlite_rules::EvalOptions::new(
            Arc::new(engine.clone()),
            store.queryable(),
            store.appendable(),
        );
        #[cfg(feature = "web")]
        {
            eval.external_url = match (&b.serve, self_addr) {
                (Some(s), _) if s.external_url.is_some() => s
                    .external_url
                    .as_deref()
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_owned(),
                (Some(s), _) => format!("http://{}", s.listen),
                (None, _) => String::new(),
            };
        }
        eval.sender = Some(Arc::new(Senders {
            notifier: notifier.clone(),
            callback: b.on_alert.clone(),
        }));
        eval.restore_for_state = true;
        eval.resend_delay = b.alerting.resend_delay;
        eval.for_outage_tolerance = b.alerting.for_outage_tolerance;
        eval.for_grace_period = b.alerting.for_grace_period;
        let rules = Arc::new(promlite_rules::Manager::new(eval));

        // Remote write reads the TSDB's WAL, as Prometheus does, from now on; a position
        // file lets a restart resume where the endpoints stopped acknowledging.
        let remote_write = Arc::new(promlite_remote::WriteStorage::new());
        if !first.remote_write.is_empty() && matches!(store, Store::Memory(_)) {
            return Err(Error::Setup(
                "remote_write reads the write-ahead log: it needs a data directory (MonitorBuilder::data_dir)".into(),
            ));
        }
        // Queries read local data merged with every remote_read endpoint (set at start).
        let mut remote_read: Vec<Arc<dyn Queryable>> = Vec::new();
        for cfg in &first.remote_read {
            let q = promlite_remote::RemoteReadQueryable::new(cfg, handle.clone())
                .map_err(|e| Error::Setup(format!("remote_read {}: {e}", cfg.url)))?
                .with_external_labels(first.global.external_labels.clone());
            remote_read.push(Arc::new(q));
        }
        let queryable: Arc<dyn Queryable> = if remote_read.is_empty() {
            store.queryable()
        } else {
            Arc::new(promlite_storage::MergeQueryable::new(
                store.queryable(),
                remote_read,
            ))
        };

        let core = Arc::new(Core {
            source,
            extra_jobs: b.scrape_jobs.clone(),
            inline_rules: b.rule_groups.clone(),
            current: Mutex::new(Arc::clone(&first)),
            yaml: Mutex::new(yaml),
            scrape: Arc::clone(&scrape),
            discovery: Mutex::new(discovery),
            am_discovery: Mutex::new(am_discovery),
            rules: Arc::clone(&rules),
            notifier: notifier.clone(),
            remote_write: Arc::clone(&remote_write),
            data_dir: match &store {
                Store::Disk(db) => Some(db.dir().to_owned()),
                Store::Memory(_) => None,
            },
            wal_watcher: Mutex::new(None),
            quit: Notify::new(),
            loaded_at: started,
        });
        core.apply(&first).await?;

        let stop = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        // The notifier follows Alertmanager discovery (static_configs included).
        tasks.push(tokio::spawn({
            let core = Arc::clone(&core);
            let notifier = notifier.clone();
            async move {
                loop {
                    let sets = Arc::clone(&am_sets.borrow_and_update());
                    let (targets, dropped) = alertmanager_targets(&core.config(), &sets);
                    notifier.set_alertmanager_targets(&targets);
                    notifier.set_dropped_alertmanagers(dropped);
                    if am_sets.changed().await.is_err() {
                        return;
                    }
                }
            }
        }));
        // Rules start once the configured Alertmanagers are known (at most 5 s later):
        // alerts of the first evaluations would otherwise find no receiver, be dropped,
        // and not be sent again before the resend delay (a minute).
        if !first.alerting.alertmanagers.is_empty() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while notifier.stats().alertmanagers.is_empty()
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        rules.start();
        let stop_notifier = Arc::new(Notify::new());
        let notifier_task = tokio::spawn({
            let notifier = notifier.clone();
            let stop = Arc::clone(&stop_notifier);
            async move { notifier.run(stop).await }
        });
        tasks.push(tokio::spawn({
            let scrape = Arc::clone(&scrape);
            async move { scrape.run(target_sets).await }
        }));

        // The program's own registries, collected in-process.
        let interval = b
            .collect_interval
            .unwrap_or_else(|| Duration::from(first.global.scrape_interval));
        let mut locals = Vec::new();
        for (job, registry) in &b.registries {
            let target = Arc::new(LocalTarget::new(job, registry.clone(), interval));
            locals.push(Arc::clone(&target));
            tasks.push(tokio::spawn(collect_loop(
                target,
                store.appendable(),
                interval,
                Arc::clone(&stop),
            )));
        }

        // Compaction turns full head ranges into blocks and applies retention; in
        // memory, retention drops what is older than the window. File work runs on the
        // blocking pool.
        tasks.push(tokio::spawn({
            let store = store.clone();
            let retention = b.retention;
            let every = b.compaction_interval;
            async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let store = store.clone();
                    let done = tokio::task::spawn_blocking(move || match &store {
                        Store::Disk(db) => db.compact(),
                        Store::Memory(head) => {
                            let keep = retention.unwrap_or(DEFAULT_MEMORY_RETENTION);
                            head.truncate_before(
                                promlite_model::value::now_ms() - keep.as_millis() as i64,
                            );
                            Ok(())
                        }
                    })
                    .await;
                    match done {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => error!(err = %e, "compaction failed"),
                        Err(e) => error!(err = %e, "compaction task failed"),
                    }
                }
            }
        }));

        #[cfg_attr(not(feature = "web"), allow(unused_mut))]
        let mut parts = Parts {
            core,
            store,
            queryable,
            engine,
            locals,
            tasks,
            stop,
            notifier,
            stop_notifier,
            notifier_task: Some(notifier_task),
            remote_write,
            handle,
            #[cfg(feature = "web")]
            web: None,
        };
        #[cfg(feature = "web")]
        if let (Some(opts), Some(listener)) = (&b.serve, listener) {
            parts.web = Some(crate::serve::serve(&parts, opts, listener, started, &b)?);
        }
        Ok(Monitor {
            parts: Some(parts),
            own_runtime: None,
        })
    }

    /// The running parts; only `shutdown` takes them, and it consumes the monitor.
    fn p(&self) -> &Parts {
        self.parts
            .as_ref()
            .expect("a Monitor keeps its parts until shutdown consumes it")
    }

    /// Evaluates the PromQL expression `expr` at `at`.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// let monitor = promlite::Monitor::builder().build().unwrap();
    /// let r = monitor.query("1 + 1", SystemTime::now()).unwrap();
    /// assert!(matches!(r.value, promlite::promql::Value::Scalar { v: 2.0, .. }));
    /// monitor.shutdown_blocking();
    /// ```
    pub fn query(&self, expr: &str, at: SystemTime) -> Result<QueryResult> {
        let p = self.p();
        Ok(p.engine.instant_query(&*p.queryable, expr, to_ms(at))?)
    }

    /// Evaluates `expr` at every `step` from `start` to `end`: a matrix.
    pub fn query_range(
        &self,
        expr: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<QueryResult> {
        Ok(self.p().engine.range_query(
            &*self.p().queryable,
            expr,
            to_ms(start),
            to_ms(end),
            step.as_millis().max(1) as i64,
        )?)
    }

    /// The series matching any of `selectors` (e.g. `up{job="app"}`) with samples
    /// between `start` and `end`, sorted, as `/api/v1/series` answers.
    pub fn series(
        &self,
        selectors: &[&str],
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<Labels>> {
        let q = self.p().queryable.querier(to_ms(start), to_ms(end))?;
        let mut all = Vec::new();
        for sel in selectors {
            let matchers =
                promlite_promql::parse_metric_selector(sel).map_err(|source| Error::Selector {
                    selector: (*sel).to_owned(),
                    source,
                })?;
            for s in q.select(true, None, &matchers) {
                all.push(s?.labels().clone());
            }
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Every pending or firing alert of the alerting rules.
    pub fn alerts(&self) -> Vec<Alert> {
        self.p().core.rules.alerts()
    }

    /// Every rule group's state: rules, health, last evaluation.
    pub fn rule_groups(&self) -> Vec<promlite_rules::GroupSnapshot> {
        self.p().core.rules.groups()
    }

    /// The scrape targets and the in-process registries, with their health.
    pub fn targets(&self) -> Vec<TargetInfo> {
        let info = |job: &str, t: &promlite_scrape::Target| {
            let s = t.state();
            TargetInfo {
                job: job.to_owned(),
                labels: t.labels(),
                url: t.url().to_owned(),
                health: s.health.as_str(),
                last_error: s.last_error.unwrap_or_default(),
                last_scrape: s.last_scrape,
            }
        };
        let p = self.p();
        let scraped = p.core.scrape.active_targets();
        let scraped = scraped
            .iter()
            .flat_map(|(job, targets)| targets.iter().map(|t| info(job, t)));
        let local = p.locals.iter().map(|l| info(&l.job, &l.target));
        scraped.chain(local).collect()
    }

    /// Collects every registered registry now, as the collection task does on its
    /// interval.
    pub fn collect_now(&self) {
        for l in &self.p().locals {
            l.collect(&*self.p().store.appendable());
        }
    }

    /// The storage queries read (local data, merged with `remote_read` endpoints).
    pub fn queryable(&self) -> Arc<dyn Queryable> {
        Arc::clone(&self.p().queryable)
    }

    /// The storage to append samples to directly.
    pub fn appendable(&self) -> Arc<dyn Appendable> {
        self.p().store.appendable()
    }

    /// The address the HTTP server listens on, when serving.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "web")]
        {
            self.p().web.as_ref().map(|w| w.addr)
        }
        #[cfg(not(feature = "web"))]
        {
            None
        }
    }

    /// The data directory, when not in memory.
    pub fn data_dir(&self) -> Option<PathBuf> {
        match &self.p().store {
            Store::Disk(db) => Some(db.dir().to_owned()),
            Store::Memory(_) => None,
        }
    }

    /// Reads the configuration file again and applies it (what SIGHUP and
    /// `POST /-/reload` do); on error the running configuration stays.
    pub async fn reload(&self) -> Result<()> {
        self.p().core.reload().await
    }

    /// [`reload`](Self::reload) for synchronous code. With the monitor's own runtime
    /// ([`MonitorBuilder::build`]) it may be called from anywhere; a monitor started on
    /// a current-thread runtime must use `reload().await` on that runtime instead.
    pub fn reload_blocking(&self) -> Result<()> {
        let p = self.p();
        off_runtime(|| p.handle.block_on(p.core.reload()))
    }

    /// Resolves when `/-/quit` asks the server to stop (with `enable_lifecycle`).
    pub async fn quit_requested(&self) {
        self.p().core.quit.notified().await;
    }

    /// Stops everything in order — HTTP server, rules (and the last notifications),
    /// remote write, scraping (marking series stale), in-process collection,
    /// compaction — and closes the storage.
    pub async fn shutdown(mut self) {
        let rt = self.own_runtime.take();
        let Some(parts) = self.parts.take() else {
            return;
        };
        match rt {
            // The monitor's own runtime runs its tasks; this caller's runtime (if any)
            // only waits.
            Some(rt) => {
                let stopping = rt.spawn(parts.stop_all());
                let _ = stopping.await;
                rt.shutdown_background();
            }
            None => parts.stop_all().await,
        }
    }

    /// [`shutdown`](Self::shutdown) for synchronous code. With the monitor's own
    /// runtime it may be called from anywhere; a monitor started on a current-thread
    /// runtime must use `shutdown().await` on that runtime instead.
    pub fn shutdown_blocking(mut self) {
        let rt = self.own_runtime.take();
        let Some(parts) = self.parts.take() else {
            return;
        };
        off_runtime(move || {
            if let Some(rt) = rt {
                rt.block_on(parts.stop_all());
                drop(rt);
            } else {
                let handle = parts.handle.clone();
                handle.block_on(parts.stop_all());
            }
        });
    }
}

impl Parts {
    async fn stop_all(mut self) {
        #[cfg(feature = "web")]
        if let Some(web) = self.web.take() {
            web.stop().await;
        }
        info!("Stopping rule manager...");
        self.core.rules.stop().await;
        self.stop_notifier.notify_one();
        if let Some(t) = self.notifier_task.take() {
            let _ = t.await;
        }
        if let Some(w) = self.core.wal_watcher.lock().take() {
            w.stop();
        }
        self.remote_write.stop().await;
        info!("Stopping scrape manager...");
        self.core.scrape.stop().await;
        // In-process collection writes its staleness markers, then ends.
        self.stop.notify_waiters();
        for l in &self.locals {
            l.mark_stale(&*self.store.appendable());
        }
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        drop(self.notifier);
        let store = self.store;
        drop(self.queryable);
        drop(self.core);
        if let Store::Disk(db) = store {
            // Every other owner is gone now, unless a compaction is still running on
            // the blocking pool; the WAL is written through on every commit, so dropping
            // the handle loses nothing either way.
            if Arc::strong_count(&db) != 1 {
                warn!("a compaction is still running; the TSDB closes when it ends");
            }
            drop(db);
            info!("TSDB closed");
        }
    }

    #[cfg(feature = "web")]
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    #[cfg(feature = "web")]
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    #[cfg(feature = "web")]
    pub(crate) fn notifier(&self) -> &promlite_rules::Notifier {
        &self.notifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_scrapes_metrics_under_the_route_prefix() {
        let addr = Some("127.0.0.1:9090".parse().unwrap());
        for (prefix, path) in [
            ("", "/metrics"),
            ("/prom", "/prom/metrics"),
            ("/a'b", "/a'b/metrics"),
        ] {
            let yaml = builtin_yaml(addr, prefix);
            let c = Config::from_yaml(&yaml, Path::new("promlite.yml")).unwrap();
            assert_eq!(c.scrape_configs[0].metrics_path, path, "{yaml}");
        }
    }
}
