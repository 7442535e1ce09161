//! `promlite` / `promlite server`: the monitoring server. It opens the TSDB, scrapes the
//! configured targets (by default only itself), serves the HTTP API, compacts in the
//! background, reloads on SIGHUP or `POST /-/reload`, and shuts down cleanly on SIGTERM
//! or SIGINT.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use promlite_config::{Config, Reloader};
use promlite_discovery::PromDuration;
use promlite_discovery::{Manager as DiscoveryManager, ManagerOptions as DiscoveryOptions};
use promlite_promql::EngineOptions;
use promlite_scrape::{ManagerOptions, ScrapeManager};
use promlite_tsdb::{Db, DbOptions};
use promlite_web::{BoxError, BoxFuture, BuildInfo, Control, MetricsSource, Web, WebOptions};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tracing::{error, info, warn};

/// The server's flags, named as Prometheus's.
#[derive(Args, Debug, Clone)]
pub(crate) struct ServerArgs {
    /// Prometheus configuration file; without it, promlite scrapes only itself.
    #[arg(long = "config.file", value_name = "PATH")]
    config_file: Option<PathBuf>,
    /// Base path for metrics storage.
    #[arg(
        long = "storage.tsdb.path",
        value_name = "PATH",
        default_value = "data/"
    )]
    storage_path: PathBuf,
    /// How long to retain samples in storage.
    #[arg(
        long = "storage.tsdb.retention.time",
        value_name = "DURATION",
        default_value = "15d"
    )]
    retention_time: PromDuration,
    /// Maximum number of bytes the blocks may use (`512MB`, `10GB`; units are powers of
    /// 1024). 0: no limit.
    #[arg(
        long = "storage.tsdb.retention.size",
        value_name = "SIZE",
        default_value = "0"
    )]
    retention_size: promlite_scrape::ByteSize,
    /// Address to listen on for the API and telemetry.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = "127.0.0.1:9090"
    )]
    listen_address: String,
    /// The URL under which promlite is reached from outside (behind a proxy): it
    /// appears in alerts' generator URLs and templates' `$externalURL`. Default: the
    /// listen address.
    #[arg(long = "web.external-url", value_name = "URL")]
    external_url: Option<String>,
    /// Path to a configuration file that can enable TLS or authentication (Prometheus's
    /// web configuration format: `tls_server_config`, `basic_auth_users`, headers).
    #[arg(long = "web.config.file", value_name = "PATH")]
    web_config_file: Option<PathBuf>,
    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions.
    #[arg(long = "web.enable-admin-api")]
    enable_admin_api: bool,
    /// Enable the remote-write receiver at `/api/v1/write`.
    #[arg(long = "web.enable-remote-write-receiver")]
    enable_remote_write_receiver: bool,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m")]
    query_timeout: PromDuration,
    /// Maximum number of samples a single query can load into memory.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    query_max_samples: usize,
    /// The maximum lookback duration for retrieving metrics during expression evaluations.
    #[arg(
        long = "query.lookback-delta",
        value_name = "DURATION",
        default_value = "5m"
    )]
    query_lookback_delta: PromDuration,
}

impl ServerArgs {
    /// The flags as `/api/v1/status/flags` shows them.
    fn flag_map(&self) -> BTreeMap<String, String> {
        let config = self
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        [
            ("config.file", config),
            ("storage.tsdb.path", self.storage_path.display().to_string()),
            (
                "storage.tsdb.retention.time",
                self.retention_time.to_string(),
            ),
            (
                "storage.tsdb.retention.size",
                self.retention_size.to_string(),
            ),
            (
                "web.external-url",
                self.external_url.clone().unwrap_or_default(),
            ),
            ("web.listen-address", self.listen_address.clone()),
            (
                "web.config.file",
                self.web_config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("web.enable-lifecycle", self.enable_lifecycle.to_string()),
            ("web.enable-admin-api", self.enable_admin_api.to_string()),
            (
                "web.enable-remote-write-receiver",
                self.enable_remote_write_receiver.to_string(),
            ),
            ("query.timeout", self.query_timeout.to_string()),
            ("query.max-samples", self.query_max_samples.to_string()),
            (
                "query.lookback-delta",
                self.query_lookback_delta.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The base URLs of the discovered Alertmanagers (the notifier appends
/// `/api/v2/alerts`), as Prometheus derives them: each target's labels with `__scheme__`
/// and `__alerts_path__` set from its `alertmanagers` entry, relabeled by the entry's
/// `relabel_configs` (a dropped target is not used), then
/// `{__scheme__}://{__address__}{__alerts_path__ without /api/v2/alerts}`.
fn alertmanager_urls(config: &Config, sets: &promlite_discovery::TargetSets) -> Vec<String> {
    let mut urls = Vec::new();
    let mut b = promlite_model::LabelsBuilder::new();
    for (i, am) in config.alerting.alertmanagers.iter().enumerate() {
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
                    continue;
                };
                let (Some(scheme), Some(addr), Some(path)) = (
                    labels.get("__scheme__"),
                    labels.get("__address__"),
                    labels.get("__alerts_path__"),
                ) else {
                    continue;
                };
                urls.push(format!(
                    "{scheme}://{addr}{}",
                    path.strip_suffix("/api/v2/alerts").unwrap_or(path)
                ));
            }
        }
    }
    urls.sort();
    urls.dedup();
    urls
}

/// Runs the server until a signal or `/-/quit` stops it.
pub(crate) fn run(args: ServerArgs) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(err = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => {
            info!("See you next time!");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!(err = format!("{e:#}"), "promlite stopped");
            ExitCode::FAILURE
        }
    }
}

/// The scrape job promlite runs without `--config.file`: itself, every 15s.
fn builtin_yaml(listen: &str) -> String {
    // A wildcard listen address is scraped through the loopback interface.
    let target = match listen.rsplit_once(':') {
        Some(("" | "0.0.0.0" | "[::]", port)) => format!("localhost:{port}"),
        _ => listen.to_string(),
    };
    format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n  - job_name: promlite\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// Where the configuration comes from: a file (reloadable) or the built-in job.
enum Source {
    File(Reloader),
    Builtin(Arc<Config>),
}

/// The configuration side of the running server, shared with the web layer.
struct ServerControl {
    source: Source,
    yaml: Mutex<String>,
    scrape: Arc<ScrapeManager>,
    discovery: Mutex<DiscoveryManager>,
    /// Finds the Alertmanagers of `alerting.alertmanagers`, one job per entry.
    am_discovery: Mutex<DiscoveryManager>,
    rules: Arc<promlite_rules::Manager>,
    remote_write: Arc<promlite_remote::WriteStorage>,
    quit: Notify,
    builtin_loaded: SystemTime,
}

impl ServerControl {
    fn config(&self) -> Arc<Config> {
        source_config(&self.source)
    }

    /// Hands the configuration to the rule, scrape and discovery managers and the
    /// notifier. Rule files load first: if one is invalid nothing changes, as a failed
    /// Prometheus reload keeps everything running as it was.
    fn apply(&self, config: &Config) -> anyhow::Result<()> {
        self.rules
            .update_from_files(&config.rule_files, &promlite_rules::RuleFileOptions::new())
            .map_err(|errs| {
                anyhow::anyhow!(
                    "loading rule files: {}",
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
        self.am_discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
            .context("applying Alertmanager discovery configuration")?;
        // Remote-write queues follow the configuration; unchanged ones keep running.
        let remote = Arc::clone(&self.remote_write);
        let (queues, external) = (
            config.remote_write.clone(),
            config.global.external_labels.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) = remote.apply_config(&queues, &external).await {
                error!(err = %e, "applying remote_write configuration");
            }
        });
        self.scrape
            .apply_config(&config.scrape_configs)
            .context("applying scrape configuration")?;
        self.discovery
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .apply_config(config.discovery_configs())
            .context("applying service discovery configuration")?;
        Ok(())
    }

    /// Reloads the file; on error the old configuration keeps running.
    fn reload_now(&self) -> anyhow::Result<()> {
        let Source::File(reloader) = &self.source else {
            info!("configuration is built in; nothing to reload");
            return Ok(());
        };
        let path = reloader.path().to_owned();
        let reloaded = reloader
            .reload()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "couldn't load configuration (--config.file={})",
                    path.display()
                )
            })?;
        if reloaded.changed {
            self.apply(&reloaded.config)?;
            if let Ok(text) = std::fs::read_to_string(&path) {
                *self.yaml.lock().unwrap_or_else(PoisonError::into_inner) = text;
            }
        }
        info!(file = %path.display(), changed = reloaded.changed, "Completed loading of configuration file");
        Ok(())
    }
}

impl Control for ServerControl {
    fn reload(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.reload_now().map_err(|e| {
                error!(err = format!("{e:#}"), "reload failed");
                BoxError::from(format!("{e:#}"))
            })
        })
    }

    fn quit(&self) {
        self.quit.notify_one();
    }

    fn config_yaml(&self) -> String {
        self.yaml
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn reload_status(&self) -> (bool, Option<SystemTime>) {
        match &self.source {
            Source::File(r) => {
                let s = r.status();
                (s.last_successful, s.last_success)
            }
            Source::Builtin(_) => (true, Some(self.builtin_loaded)),
        }
    }
}

/// promlite's own metrics on `/metrics`, read from the live components.
/// The server's own `/metrics`, through the instrumentation client (`promlite-client`):
/// build info, the process collector, and gauges read from the TSDB and the managers
/// when scraped.
struct SelfMetrics {
    registry: promlite_client::Registry,
    db: Arc<Db>,
    control: Arc<ServerControl>,
    head_series: promlite_client::Gauge<f64>,
    blocks: promlite_client::Gauge<f64>,
    reload_ok: promlite_client::Gauge<f64>,
    reload_time: promlite_client::Gauge<f64>,
    pool_targets: promlite_client::Family<[String; 1], promlite_client::Gauge<f64>>,
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl SelfMetrics {
    fn new(db: Arc<Db>, control: Arc<ServerControl>) -> anyhow::Result<SelfMetrics> {
        use promlite_client::{Family, Gauge, Info, ProcessCollector, Registry};
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| -> anyhow::Result<Gauge<f64>> {
            let g = Gauge::new();
            registry.register(name, help, g.clone())?;
            Ok(g)
        };
        registry.register(
            "promlite_build",
            "A metric with a constant '1' value labeled by version and toolchain.",
            Info::new([
                ("goversion", "rust"),
                ("version", env!("CARGO_PKG_VERSION")),
            ])?,
        )?;
        registry.register_collector(ProcessCollector::new());
        let pool_targets = Family::new(["scrape_job"])?;
        registry.register(
            "promlite_scrape_pool_targets",
            "Current number of active targets in each scrape pool.",
            pool_targets.clone(),
        )?;
        Ok(SelfMetrics {
            head_series: gauge(
                "promlite_tsdb_head_series",
                "Total number of series in the head block.",
            )?,
            blocks: gauge(
                "promlite_tsdb_blocks_loaded",
                "Number of currently loaded data blocks.",
            )?,
            reload_ok: gauge(
                "promlite_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful.",
            )?,
            reload_time: gauge(
                "promlite_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload.",
            )?,
            pool_targets,
            registry,
            db,
            control,
        })
    }
}

impl MetricsSource for SelfMetrics {
    fn write(&self, out: &mut String) {
        self.head_series.set(self.db.head().num_series() as f64);
        self.blocks.set(self.db.blocks().len() as f64);
        let (ok, last) = self.control.reload_status();
        self.reload_ok.set(if ok { 1.0 } else { 0.0 });
        self.reload_time.set(last.map_or(0.0, unix_seconds));
        // Pools that went away must not linger: the family is rebuilt each time.
        self.pool_targets.clear();
        for (pool, targets) in self.control.scrape.active_targets() {
            if let Ok(g) = self.pool_targets.get_or_create(&[pool.as_str()]) {
                g.set(targets.len() as f64);
            }
        }
        self.registry.encode_text(out);
    }
}

/// The configuration a source holds now.
fn source_config(source: &Source) -> Arc<Config> {
    match source {
        Source::File(r) => r.current(),
        Source::Builtin(c) => Arc::clone(c),
    }
}

fn load_source(args: &ServerArgs) -> anyhow::Result<(Source, String)> {
    if let Some(path) = &args.config_file {
        let reloader = Reloader::new(path)
            .with_context(|| format!("error loading config from {}", path.display()))?;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        Ok((Source::File(reloader), text))
    } else {
        let yaml = builtin_yaml(&args.listen_address);
        let config = Config::from_yaml(&yaml, Path::new("promlite.yml"))
            .context("built-in configuration")?;
        Ok((Source::Builtin(Arc::new(config)), yaml))
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let start = SystemTime::now();
    info!(version = env!("CARGO_PKG_VERSION"), "Starting promlite");
    let (source, yaml) = load_source(&args)?;

    let retention_ms = Duration::from(args.retention_time).as_millis() as i64;
    let db_opts = DbOptions {
        retention_time: (retention_ms > 0).then_some(retention_ms),
        retention_size: (args.retention_size.0 > 0).then_some(args.retention_size.0),
        ..DbOptions::default()
    };
    let path = args.storage_path.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&path, db_opts))
        .await
        .context("opening storage")?
        .with_context(|| format!("opening storage {}", args.storage_path.display()))?;
    let db = Arc::new(db);
    info!(path = %args.storage_path.display(), "TSDB started");

    let scrape = Arc::new(ScrapeManager::new(
        Arc::clone(&db) as Arc<dyn promlite_storage::Appendable>,
        ManagerOptions::default(),
    ));
    let discovery = DiscoveryManager::new(DiscoveryOptions::default());
    let target_sets = discovery.subscribe();
    let am_discovery = DiscoveryManager::new(DiscoveryOptions::default());
    let mut am_sets = am_discovery.subscribe();

    // Rules evaluate with the same engine settings as queries; their alerts go to the
    // notifier. External labels and alert relabeling are taken from the configuration
    // at start (a reload changes rules, scrape jobs and Alertmanagers, not these).
    let engine_opts = EngineOptions::new()
        .max_samples(args.query_max_samples)
        .lookback_delta(Duration::from(args.query_lookback_delta).as_millis() as i64);
    let first = source_config(&source);
    let external_labels: BTreeMap<String, String> = first
        .global
        .external_labels
        .iter()
        .map(|l| (l.name.to_owned(), l.value.to_owned()))
        .collect();
    let notifier = promlite_rules::Notifier::new(promlite_rules::NotifierOptions {
        external_labels: first.global.external_labels.clone(),
        relabel_configs: first.alerting.alert_relabel_configs.clone(),
        ..promlite_rules::NotifierOptions::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut eval = promlite_rules::EvalOptions::new(
        Arc::new(promlite_promql::Engine::new(engine_opts.clone())),
        Arc::clone(&db) as Arc<dyn promlite_storage::Queryable>,
        Arc::clone(&db) as Arc<dyn promlite_storage::Appendable>,
    );
    eval.external_labels = external_labels;
    eval.external_url = args.external_url.clone().map_or_else(
        || format!("http://{}", args.listen_address),
        |u| u.trim_end_matches('/').to_owned(),
    );
    eval.sender = Some(Arc::new(notifier.clone()));
    eval.restore_for_state = true;
    eval.default_interval = Duration::from(first.global.evaluation_interval);
    eval.default_query_offset = Duration::from(first.global.rule_query_offset);
    let rules = Arc::new(promlite_rules::Manager::new(eval));

    // Remote write reads the TSDB's WAL, as Prometheus does, from now on; a position
    // file lets a restart resume where the endpoints stopped acknowledging.
    let remote_write = Arc::new(promlite_remote::WriteStorage::new());
    remote_write
        .apply_config(&first.remote_write, &first.global.external_labels)
        .await
        .map_err(|e| anyhow::anyhow!("remote_write: {e}"))?;
    let wal_watcher = promlite_remote::WalWatcher::start(
        &args.storage_path.join("wal"),
        Arc::clone(&remote_write),
        promlite_remote::WalWatcherOptions {
            start_time: Some(promlite_model::value::now_ms()),
            position_file: Some(args.storage_path.join("remote_write.position")),
            ..promlite_remote::WalWatcherOptions::default()
        },
    );
    // Queries read local data merged with every remote_read endpoint (set at start).
    let mut remote_read: Vec<Arc<dyn promlite_storage::Queryable>> = Vec::new();
    for cfg in &first.remote_read {
        let q = promlite_remote::RemoteReadQueryable::new(cfg, tokio::runtime::Handle::current())
            .map_err(|e| anyhow::anyhow!("remote_read {}: {e}", cfg.url))?
            .with_external_labels(first.global.external_labels.clone());
        remote_read.push(Arc::new(q));
    }
    let queryable: Arc<dyn promlite_storage::Queryable> = if remote_read.is_empty() {
        Arc::clone(&db) as Arc<dyn promlite_storage::Queryable>
    } else {
        Arc::new(promlite_storage::MergeQueryable::new(
            Arc::clone(&db) as Arc<dyn promlite_storage::Queryable>,
            remote_read,
        ))
    };
    let control = Arc::new(ServerControl {
        source,
        yaml: Mutex::new(yaml),
        scrape: Arc::clone(&scrape),
        discovery: Mutex::new(discovery),
        am_discovery: Mutex::new(am_discovery),
        rules: Arc::clone(&rules),
        remote_write: Arc::clone(&remote_write),
        quit: Notify::new(),
        builtin_loaded: start,
    });
    control.apply(&control.config())?;
    rules.start();
    // The notifier follows Alertmanager discovery (static_configs included).
    let am_task = tokio::spawn({
        let control = Arc::clone(&control);
        let notifier = notifier.clone();
        async move {
            loop {
                let sets = Arc::clone(&am_sets.borrow_and_update());
                notifier.set_alertmanagers(&alertmanager_urls(&control.config(), &sets));
                if am_sets.changed().await.is_err() {
                    return;
                }
            }
        }
    });
    let stop_notifier = Arc::new(Notify::new());
    let notifier_task = tokio::spawn({
        let notifier = notifier.clone();
        let stop = Arc::clone(&stop_notifier);
        async move { notifier.run(stop).await }
    });
    let scrape_task = tokio::spawn({
        let scrape = Arc::clone(&scrape);
        async move { scrape.run(target_sets).await }
    });

    let engine = engine_opts;
    let query_timeout = Duration::from(args.query_timeout);
    let options = WebOptions {
        engine,
        query_timeout: (!query_timeout.is_zero()).then_some(query_timeout),
        enable_lifecycle: args.enable_lifecycle,
        enable_admin_api: args.enable_admin_api,
        enable_remote_write_receiver: args.enable_remote_write_receiver,
        flags: args.flag_map(),
        build_info: BuildInfo::default(),
        start_time: start,
        // Prometheus shows both limits as "15d or 512MiB".
        storage_retention: if args.retention_size.0 > 0 {
            format!("{} or {}", args.retention_time, args.retention_size)
        } else {
            args.retention_time.to_string()
        },
    };
    let web = Web::new(queryable, options)
        .with_targets(Arc::clone(&scrape) as Arc<dyn promlite_web::TargetSource>)
        .with_admin(Arc::clone(&db) as Arc<dyn promlite_web::TsdbAdmin>)
        .with_appendable(Arc::clone(&db) as Arc<dyn promlite_storage::Appendable>)
        .with_control(Arc::clone(&control) as Arc<dyn Control>)
        .with_rules(Arc::new(promlite_web::ManagedRules {
            manager: Arc::clone(&rules),
            notifier: Some(notifier.clone()),
        }))
        .with_metrics(Arc::new(SelfMetrics::new(
            Arc::clone(&db),
            Arc::clone(&control),
        )?));

    let web_config = match &args.web_config_file {
        Some(p) => Some(Arc::new(promlite_web::WebConfig::load(p)?)),
        None => None,
    };
    let scheme = if web_config
        .as_ref()
        .is_some_and(|c| c.tls_enabled_for_serving())
    {
        "https"
    } else {
        "http"
    };
    let listener = tokio::net::TcpListener::bind(&args.listen_address)
        .await
        .with_context(|| format!("listen on {}", args.listen_address))?;
    let addr: SocketAddr = listener.local_addr().context("listen address")?;
    let stop_web = Arc::new(Notify::new());
    let server = tokio::spawn({
        let stop = Arc::clone(&stop_web);
        promlite_web::serve_with_config(
            listener,
            web.router(),
            async move { stop.notified().await },
            web_config,
        )
    });
    web.set_ready(true);
    info!(
        url = %format!("{scheme}://{addr}/"),
        "Server is ready to receive web requests: the UI is at {scheme}://{addr}/ and the HTTP API at {scheme}://{addr}/api/v1/"
    );

    // Compaction turns full head ranges into blocks and applies retention; it is file
    // work, so it runs on the blocking pool.
    let compactor = tokio::spawn({
        let db = Arc::clone(&db);
        async move {
            let mut tick = tokio::time::interval(Duration::from_mins(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let db = Arc::clone(&db);
                match tokio::task::spawn_blocking(move || db.compact()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => error!(err = %e, "compaction failed"),
                    Err(e) => error!(err = %e, "compaction task failed"),
                }
            }
        }
    });

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = sigterm.recv() => { warn!("Received SIGTERM, exiting gracefully..."); break; }
            _ = sigint.recv() => { warn!("Received SIGINT, exiting gracefully..."); break; }
            () = control.quit.notified() => { warn!("Received termination request via web service, exiting gracefully..."); break; }
            _ = sighup.recv() => {
                if let Err(e) = control.reload_now() {
                    error!(err = format!("{e:#}"), "Error reloading config");
                }
            }
        }
    }

    web.set_ready(false);
    stop_web.notify_one();
    info!("Stopping rule manager...");
    rules.stop().await;
    stop_notifier.notify_one();
    let _ = notifier_task.await;
    am_task.abort();
    wal_watcher.stop();
    remote_write.stop().await;
    info!("Stopping scrape manager...");
    scrape.stop().await;
    scrape_task.abort();
    let _ = scrape_task.await;
    compactor.abort();
    let _ = compactor.await;
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(err = %e, "web server failed"),
        Err(e) => error!(err = %e, "web server task failed"),
    }
    drop(web);
    drop(control);
    drop(scrape);
    // Every other owner is gone now, unless a compaction is still running on the
    // blocking pool; the WAL is written through on every commit, so dropping the handle
    // loses nothing either way.
    if Arc::strong_count(&db) != 1 {
        warn!("a compaction is still running; the TSDB closes when it ends");
    }
    drop(db);
    info!("TSDB closed");
    Ok(())
}
