//! `promlite` / `promlite server`: the monitoring server — the facade's
//! [`promlite::Monitor`] on a data directory, serving the HTTP API — configured by
//! Prometheus's flags. It scrapes the configured targets (by default only itself),
//! compacts in the background, reloads on SIGHUP or `POST /-/reload`, and shuts down
//! cleanly on SIGTERM or SIGINT.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use promlite::Monitor;
use promlite_discovery::PromDuration;
use promlite_promql::EngineOptions;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, error, info, warn};

/// The server's flags, named as Prometheus's.
#[derive(Args, Debug, Clone)]
// Boolean flags and their `--no-` negations.
#[allow(clippy::struct_excessive_bools)]
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
    /// How long to retain samples in storage. Without it (and without
    /// --storage.tsdb.retention.size) samples are kept 15 days; with only a size limit,
    /// as long as they fit, as in Prometheus.
    #[arg(long = "storage.tsdb.retention.time", value_name = "DURATION")]
    retention_time: Option<PromDuration>,
    /// Deprecated: --storage.tsdb.retention.time, which wins when both are given.
    #[arg(long = "storage.tsdb.retention", value_name = "DURATION", hide = true)]
    retention_deprecated: Option<PromDuration>,
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
    /// Prefix for the internal routes of web endpoints. Defaults to the path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    route_prefix: Option<String>,
    /// Path to a configuration file that can enable TLS or authentication (Prometheus's
    /// web configuration format: `tls_server_config`, `basic_auth_users`, headers).
    #[arg(long = "web.config.file", value_name = "PATH")]
    web_config_file: Option<PathBuf>,
    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle", overrides_with = "no_enable_lifecycle")]
    enable_lifecycle: bool,
    /// `--no-web.enable-lifecycle`, kingpin's negation of a boolean flag (the last of
    /// the two wins); as for the other boolean flags.
    #[arg(
        long = "no-web.enable-lifecycle",
        hide = true,
        overrides_with = "enable_lifecycle"
    )]
    no_enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions.
    #[arg(long = "web.enable-admin-api", overrides_with = "no_enable_admin_api")]
    enable_admin_api: bool,
    #[arg(
        long = "no-web.enable-admin-api",
        hide = true,
        overrides_with = "enable_admin_api"
    )]
    no_enable_admin_api: bool,
    /// Enable the remote-write receiver at `/api/v1/write`.
    #[arg(
        long = "web.enable-remote-write-receiver",
        overrides_with = "no_enable_remote_write_receiver"
    )]
    enable_remote_write_receiver: bool,
    #[arg(
        long = "no-web.enable-remote-write-receiver",
        hide = true,
        overrides_with = "enable_remote_write_receiver"
    )]
    no_enable_remote_write_receiver: bool,
    /// Regex for CORS origin, fully anchored: the origins whose scripts may read the
    /// API's answers (`.*`: any).
    #[arg(
        long = "web.cors.origin",
        value_name = "REGEX",
        default_value = ".*",
        value_parser = cors_pattern
    )]
    cors_origin: String,
    /// Most labels a series sent to the remote-write receiver may have (0: no limit).
    /// promlite's own flag: Prometheus's receiver has no such limits.
    #[arg(
        long = "web.remote-write-receiver.label-limit",
        value_name = "N",
        default_value_t = 0
    )]
    rw_label_limit: usize,
    /// Longest label name the remote-write receiver accepts (0: no limit).
    #[arg(
        long = "web.remote-write-receiver.label-name-length-limit",
        value_name = "N",
        default_value_t = 0
    )]
    rw_label_name_length_limit: usize,
    /// Longest label value the remote-write receiver accepts (0: no limit).
    #[arg(
        long = "web.remote-write-receiver.label-value-length-limit",
        value_name = "N",
        default_value_t = 0
    )]
    rw_label_value_length_limit: usize,
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
    /// Comma-separated feature flags to enable. promlite knows `promql-per-step-stats`
    /// (per-step sample counts in a query's `stats=all`); the others are ignored with a
    /// warning, as Prometheus does with names it does not know.
    #[arg(long = "enable-feature", value_name = "FEATURE", value_delimiter = ',')]
    enable_feature: Vec<String>,
    /// Only log messages with the given severity or above (RUST_LOG, when set, wins).
    #[arg(
        long = "log.level",
        value_name = "LEVEL",
        default_value = "info",
        value_parser = ["debug", "info", "warn", "error"]
    )]
    log_level: String,
    /// Output format of log messages: logfmt (Prometheus's `ts=… level=… msg=…` lines)
    /// or json (one object per line).
    #[arg(
        long = "log.format",
        value_name = "FORMAT",
        default_value = "logfmt",
        value_parser = ["logfmt", "json"]
    )]
    log_format: String,
    /// Minimum duration of a data block before being persisted: the head's range and
    /// the range of the blocks cut from it.
    #[arg(
        long = "storage.tsdb.min-block-duration",
        value_name = "DURATION",
        default_value = "2h"
    )]
    min_block_duration: PromDuration,
    /// Maximum duration compacted blocks may span. Default: a tenth of the time
    /// retention, at most 31 days. Set it equal to the minimum to turn compaction off
    /// (as Thanos's sidecar asks).
    #[arg(long = "storage.tsdb.max-block-duration", value_name = "DURATION")]
    max_block_duration: Option<PromDuration>,
    /// Size of a WAL segment file (10MB to 256MB, whole MB; 0: 128MB).
    #[arg(
        long = "storage.tsdb.wal-segment-size",
        value_name = "SIZE",
        default_value = "0",
        value_parser = wal_segment_size
    )]
    wal_segment_size: promlite_scrape::ByteSize,
    /// Compress the WAL (snappy). Off unless given, where Prometheus has it on: it
    /// costs CPU on every scrape's records.
    #[arg(
        long = "storage.tsdb.wal-compression",
        overrides_with = "no_wal_compression"
    )]
    wal_compression: bool,
    #[arg(
        long = "no-storage.tsdb.wal-compression",
        hide = true,
        overrides_with = "wal_compression"
    )]
    no_wal_compression: bool,
    /// Maximum number of simultaneous connections (0: no limit); past it, new ones wait
    /// to be accepted until one closes.
    #[arg(long = "web.max-connections", value_name = "N", default_value_t = 512)]
    max_connections: usize,
    /// Maximum number of queries executed concurrently (0: no limit); the others wait
    /// for a turn within their timeout.
    #[arg(long = "query.max-concurrency", value_name = "N", default_value_t = 20)]
    query_max_concurrency: usize,
    /// Maximum overall number of samples to return via the remote read interface, in a
    /// single query (0: no limit). Written as Prometheus's default may be, `5e7`.
    #[arg(
        long = "storage.remote.read-sample-limit",
        value_name = "N",
        default_value = "50000000",
        value_parser = whole_number
    )]
    remote_read_sample_limit: usize,
    /// Maximum number of concurrent remote read calls (0: no limit).
    #[arg(
        long = "storage.remote.read-concurrent-limit",
        value_name = "N",
        default_value_t = 10
    )]
    remote_read_concurrent_limit: usize,
    /// Maximum bytes in a frame for streaming remote read responses.
    #[arg(
        long = "storage.remote.read-max-bytes-in-frame",
        value_name = "BYTES",
        default_value_t = 1_048_576
    )]
    remote_read_max_bytes_in_frame: usize,
    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(
        long = "rules.alert.resend-delay",
        value_name = "DURATION",
        default_value = "1m"
    )]
    alert_resend_delay: PromDuration,
    /// Max time to tolerate an outage for restoring the `for` state of an alert.
    #[arg(
        long = "rules.alert.for-outage-tolerance",
        value_name = "DURATION",
        default_value = "1h"
    )]
    alert_for_outage_tolerance: PromDuration,
    /// Minimum duration between an alert and its restored `for` state; kept only for
    /// alerts with a `for` longer than this.
    #[arg(
        long = "rules.alert.for-grace-period",
        value_name = "DURATION",
        default_value = "10m"
    )]
    alert_for_grace_period: PromDuration,
    /// The capacity of the queue for pending Alertmanager notifications.
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        value_name = "N",
        default_value_t = 10_000
    )]
    notification_queue_capacity: usize,
    /// Prometheus's other server flags, accepted and not used (`compat_flags.rs`).
    #[command(flatten)]
    accepted: crate::compat_flags::Accepted,
}

/// Checks a `--storage.tsdb.wal-segment-size` as Prometheus does (10 to 256 MB, or 0
/// for the default), and that it is a whole number of the WAL's 32 KiB pages.
fn wal_segment_size(s: &str) -> Result<promlite_scrape::ByteSize, String> {
    let size: promlite_scrape::ByteSize = s.parse()?;
    if size.0 == 0 {
        return Ok(size);
    }
    if !(10 << 20..=256 << 20).contains(&size.0) {
        return Err(
            "flag 'storage.tsdb.wal-segment-size' must be set between 10MB and 256MB".into(),
        );
    }
    if !size.0.is_multiple_of(32 << 10) {
        return Err("the WAL segment size must be a multiple of its 32KB pages".into());
    }
    Ok(size)
}

/// A count written as an integer or, as Prometheus's own default `5e7`, in float
/// notation with a whole value.
fn whole_number(s: &str) -> Result<usize, String> {
    if let Ok(n) = s.parse::<usize>() {
        return Ok(n);
    }
    match s.parse::<f64>() {
        Ok(f) if f >= 0.0 && f.fract() == 0.0 && f <= usize::MAX as f64 => Ok(f as usize),
        _ => Err(format!("{s:?} is not a whole number")),
    }
}

/// Checks a `--web.cors.origin` pattern, keeping it as given.
fn cors_pattern(s: &str) -> Result<String, String> {
    promlite_web::cors_origin(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

impl ServerArgs {
    /// The block options the flags describe.
    fn block_options(&self) -> promlite::BlockOptions {
        promlite::BlockOptions {
            min_block_duration: Duration::from(self.min_block_duration),
            max_block_duration: self.max_block_duration.map(Duration::from),
            wal_segment_size: match self.wal_segment_size.0 {
                0 => promlite::BlockOptions::default().wal_segment_size,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            },
            wal_compression: self.wal_compression,
        }
    }

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
                self.retention_time.unwrap_or_default().to_string(),
            ),
            (
                "storage.tsdb.retention",
                self.retention_deprecated.unwrap_or_default().to_string(),
            ),
            (
                "storage.tsdb.retention.size",
                self.retention_size.go_base2(),
            ),
            (
                "web.external-url",
                self.external_url.clone().unwrap_or_default(),
            ),
            ("web.listen-address", self.listen_address.clone()),
            // As Prometheus shows it: normalised, the external URL's path by default.
            ("web.route-prefix", {
                let p =
                    promlite_web::route_prefix(&self.route_prefix.clone().unwrap_or_else(|| {
                        self.external_url
                            .as_deref()
                            .map_or_else(String::new, promlite_web::url_path)
                    }));
                if p.is_empty() { "/".to_owned() } else { p }
            }),
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
            (
                "web.remote-write-receiver.label-limit",
                self.rw_label_limit.to_string(),
            ),
            (
                "web.remote-write-receiver.label-name-length-limit",
                self.rw_label_name_length_limit.to_string(),
            ),
            (
                "web.remote-write-receiver.label-value-length-limit",
                self.rw_label_value_length_limit.to_string(),
            ),
            ("query.timeout", self.query_timeout.to_string()),
            ("query.max-samples", self.query_max_samples.to_string()),
            (
                "query.lookback-delta",
                self.query_lookback_delta.to_string(),
            ),
            ("enable-feature", self.enable_feature.join(",")),
            ("web.cors.origin", self.cors_origin.clone()),
            ("web.max-connections", self.max_connections.to_string()),
            (
                "storage.remote.read-sample-limit",
                self.remote_read_sample_limit.to_string(),
            ),
            (
                "storage.remote.read-concurrent-limit",
                self.remote_read_concurrent_limit.to_string(),
            ),
            (
                "storage.remote.read-max-bytes-in-frame",
                self.remote_read_max_bytes_in_frame.to_string(),
            ),
            (
                "storage.tsdb.min-block-duration",
                self.min_block_duration.to_string(),
            ),
            (
                "storage.tsdb.max-block-duration",
                PromDuration::from(self.block_options().max_block_duration_for(retention(self)))
                    .to_string(),
            ),
            (
                "storage.tsdb.wal-segment-size",
                self.wal_segment_size.go_base2(),
            ),
            (
                "storage.tsdb.wal-compression",
                self.wal_compression.to_string(),
            ),
            (
                "query.max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            (
                "rules.alert.resend-delay",
                self.alert_resend_delay.to_string(),
            ),
            (
                "rules.alert.for-outage-tolerance",
                self.alert_for_outage_tolerance.to_string(),
            ),
            (
                "rules.alert.for-grace-period",
                self.alert_for_grace_period.to_string(),
            ),
            (
                "alertmanager.notification-queue-capacity",
                self.notification_queue_capacity.to_string(),
            ),
            ("log.level", self.log_level.clone()),
            ("log.format", self.log_format.clone()),
        ]
        .into_iter()
        .chain(self.accepted.all())
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Runs the server until a signal or `/-/quit` stops it.
pub(crate) fn run(args: ServerArgs) -> ExitCode {
    // Before any thread starts: see `malloc.rs`.
    let tuned = crate::malloc::tune();
    // --log.level, unless RUST_LOG says more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log_level));
    let format = if args.log_format == "json" {
        crate::log::Format::Json
    } else {
        crate::log::Format::Logfmt
    };
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(crate::log::GoKit(format))
        .try_init();
    if tuned {
        debug!("malloc's trim and mmap thresholds set to 32 MiB");
    }
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
            error!(err = %e, "promlite stopped");
            ExitCode::FAILURE
        }
    }
}

/// The feature flag that turns on per-step sample counts in query statistics.
const PER_STEP_STATS: &str = "promql-per-step-stats";

/// The monitor the flags describe.
fn builder(args: &ServerArgs) -> promlite::MonitorBuilder {
    let query_timeout = Duration::from(args.query_timeout);
    for f in args.enable_feature.iter().filter(|f| !f.is_empty()) {
        if f == PER_STEP_STATS {
            info!("Experimental per-step statistics reporting");
        } else {
            warn!(option = %f, "Unknown option for --enable-feature");
        }
    }
    for (name, value) in args.accepted.given() {
        warn!(
            flag = %format!("--{name}"),
            value,
            "Flag accepted for Prometheus command lines; promlite does not use it"
        );
    }
    log_retention(args);
    let mut b = Monitor::builder()
        .data_dir(&args.storage_path)
        .retention(retention(args))
        .retention_size(args.retention_size.0)
        .engine_options(
            EngineOptions::new()
                .max_samples(args.query_max_samples)
                .lookback_delta(Duration::from(args.query_lookback_delta).as_millis() as i64)
                .per_step_stats(args.enable_feature.iter().any(|f| f == PER_STEP_STATS)),
        )
        .serve(&args.listen_address)
        .enable_lifecycle(args.enable_lifecycle)
        .enable_admin_api(args.enable_admin_api)
        .enable_remote_write_receiver(args.enable_remote_write_receiver)
        .remote_write_receiver_limits(
            args.rw_label_limit,
            args.rw_label_name_length_limit,
            args.rw_label_value_length_limit,
        )
        .query_timeout((!query_timeout.is_zero()).then_some(query_timeout))
        .cors_origin(&args.cors_origin)
        .max_concurrent_queries(args.query_max_concurrency)
        .max_connections(args.max_connections)
        .remote_read_limits(
            args.remote_read_sample_limit,
            args.remote_read_concurrent_limit,
            args.remote_read_max_bytes_in_frame,
        )
        .block_options(args.block_options())
        .alerting(promlite::AlertingOptions {
            resend_delay: Duration::from(args.alert_resend_delay),
            for_outage_tolerance: Duration::from(args.alert_for_outage_tolerance),
            for_grace_period: Duration::from(args.alert_for_grace_period),
            notification_queue_capacity: args.notification_queue_capacity,
        })
        .flags(args.flag_map());
    if let Some(p) = &args.config_file {
        b = b.config_file(p);
    }
    if let Some(p) = &args.web_config_file {
        b = b.web_config_file(p);
    }
    if let Some(p) = &args.route_prefix {
        b = b.route_prefix(p);
    }
    if let Some(u) = &args.external_url {
        b = b.external_url(u);
    }
    b
}

/// The time retention given on the command line: --storage.tsdb.retention.time, else
/// the deprecated --storage.tsdb.retention; `None` when neither is set (or both are 0).
fn given_retention(args: &ServerArgs) -> Option<Duration> {
    let given = |d: Option<PromDuration>| d.map(Duration::from).filter(|d| !d.is_zero());
    given(args.retention_time).or(given(args.retention_deprecated))
}

/// The time retention, as Prometheus 2.42 decides it: the one given, else 15 days
/// unless a size limit is set, in which case samples are kept for as long as they fit
/// (zero: no time limit).
fn retention(args: &ServerArgs) -> Duration {
    given_retention(args).unwrap_or(if args.retention_size.0 > 0 {
        Duration::ZERO
    } else {
        DEFAULT_RETENTION
    })
}

/// Prometheus's default time retention (the TSDB's).
const DEFAULT_RETENTION: Duration = Duration::from_millis(promlite_tsdb::DEFAULT_RETENTION as u64);

/// What Prometheus logs about the retention flags at start.
fn log_retention(args: &ServerArgs) {
    if args.retention_deprecated.is_some() {
        warn!(
            deprecation_notice = "'storage.tsdb.retention' flag is deprecated use 'storage.tsdb.retention.time' instead."
        );
    }
    if given_retention(args).is_none() && args.retention_size.0 == 0 {
        info!(
            duration = %PromDuration::from(DEFAULT_RETENTION),
            "No time or size retention was set so using the default time retention"
        );
    }
}

async fn serve(args: ServerArgs) -> promlite::Result<()> {
    info!(version = env!("CARGO_PKG_VERSION"), "Starting promlite");
    let monitor = builder(&args).start().await?;
    let io = |what: &str, source| promlite::Error::Io {
        what: what.to_owned(),
        source,
    };
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| io("installing SIGTERM handler", e))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| io("installing SIGINT handler", e))?;
    let mut sighup =
        signal(SignalKind::hangup()).map_err(|e| io("installing SIGHUP handler", e))?;
    loop {
        tokio::select! {
            _ = sigterm.recv() => { warn!("Received SIGTERM, exiting gracefully..."); break; }
            _ = sigint.recv() => { warn!("Received SIGINT, exiting gracefully..."); break; }
            () = monitor.quit_requested() => { warn!("Received termination request via web service, exiting gracefully..."); break; }
            _ = sighup.recv() => {
                if let Err(e) = monitor.reload().await {
                    error!(err = %e, "Error reloading config");
                }
            }
        }
    }
    monitor.shutdown().await;
    Ok(())
}
