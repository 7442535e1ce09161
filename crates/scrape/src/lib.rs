//! Prometheus scraping for promlite: scrape pools and loops, target labels, report
//! series, staleness markers and limits.
//!
//! A scrape job ([`ScrapeConfig`], one `scrape_configs` entry of `prometheus.yml`) gets
//! its targets from service discovery as target groups. Each discovered label set is
//! turned into a [`Target`] by [`populate_labels`] — the job's defaults
//! (`job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
//! `__scrape_timeout__`, `__param_*`), `relabel_configs`, and `instance` defaulting to
//! `__address__` — or dropped (kept for the targets page with its discovered labels).
//! The [`ScrapeManager`] runs one tokio task per target; each scrape's body is parsed
//! and appended to any [`Appendable`](promlite_storage::Appendable) in one transaction
//! together with the report series `up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling` and
//! `scrape_series_added`.
//!
//! # Main types
//!
//! - [`ScrapeConfig`], [`HttpClientConfig`], [`ScrapeDefaults`]: the job's YAML form
//!   with Prometheus's defaults and validation messages. The `config` crate composes them
//!   into a whole `prometheus.yml`.
//! - [`ScrapeManager`]: pools per job, loops per target, fed by
//!   `promlite_discovery::Manager`'s target sets; [`Target`] and [`TargetState`] for the
//!   API's targets page (health up/down/unknown, last scrape, duration, error), and
//!   [`Target::metadata`] for `/api/v1/targets/metadata` (the TYPE/HELP/UNIT its scrapes
//!   reported, kept by the loop's cache and shared with the target); [`DroppedTarget`]
//!   and [`ScrapeManager::relabel_steps`] ([`RelabelStep`]) for
//!   `/api/v1/targets/relabel_steps`, which shows the rule that dropped a target.
//! - [`append_body`] and [`ScrapeCache`]: the pure core of a scrape, body in, samples
//!   out; [`ReportSeries`]; [`merge_target_labels`] (honor_labels and `exported_`).
//! - [`Error`]: every failure, with Prometheus's messages (`sample limit exceeded`,
//!   `label_limit exceeded (…)`, `server returned HTTP status 500 Internal Server Error`).
//!
//! # Design decisions
//!
//! - **The cache is keyed by the raw series text** of the body (`name{labels}` as
//!   written), as Prometheus keys it. A steady scrape finds every series with one string
//!   comparison — the cache keeps its entries (and their keys, end to end in one string)
//!   in the order the body lists them and tries the entry after the last one found
//!   before its hash index, so with a thousand cold caches a scrape walks memory in order
//!   instead of missing the CPU cache on every probe — appends with the store's cached
//!   [`SeriesRef`](promlite_storage::SeriesRef) and builds no labels: nothing is allocated per
//!   sample. Only a new series pays for labels, target labels, metric relabeling and the
//!   label limits — which is why limits are checked on cache misses only, as in
//!   Prometheus. Series dropped by metric relabeling are cached as dropped.
//! - **Staleness is an append of nothing.** A failed scrape is appended as an empty
//!   body, so "series of the last scrape missing from this one" covers disappeared series
//!   and failed scrapes alike; a target that goes away marks its series and report series
//!   stale when its loop stops. Series with exposed timestamps are exempt unless
//!   `track_timestamps_staleness` is set. Unlike Prometheus, which waits up to 1.1
//!   intervals before writing end-of-run markers (so that a loop restarted by a reload
//!   can take over), promlite writes them at once: a reload that changes a job restarts
//!   its loops without markers instead.
//! - **The pure core knows no I/O.** [`append_body`] takes bytes, a format, a time and
//!   an [`Appender`](promlite_storage::Appender); the loop around it only fetches,
//!   times and commits. The appender never lives across an `.await`, so stores need not
//!   be `Send` inside a transaction.
//! - **HTTP through reqwest** (the client the discovery crate already uses), TLS behind
//!   the `https` feature, which applies `tls_config` (CA, client certificate,
//!   `insecure_skip_verify`, versions; `server_name` is refused, as rustls through reqwest
//!   cannot verify against another name). Credentials: basic auth, authorization/bearer
//!   (inline or file, re-read each scrape) and `oauth2` client credentials. Compression is negotiated with `Accept-Encoding: gzip` and
//!   decoded here with flate2 under the body size limit, as Prometheus does, rather than
//!   by the client, so the limit applies to the uncompressed body.
//! - **Start offsets** spread targets over the interval from a hash of the target's
//!   labels and URL, pinned to absolute time (Prometheus's `Target.offset`).
//!
//! # Example
//!
//! ```
//! use promlite_exposition::Format;
//! use promlite_model::{Labels, Matcher};
//! use promlite_scrape::{AppendOptions, ScrapeCache, append_body};
//! use promlite_storage::{Appendable, MemStore, Queryable, ValueType};
//!
//! let store = MemStore::new();
//! let mut cache = ScrapeCache::new();
//! let opts = AppendOptions {
//!     target_labels: Labels::from_pairs([("job", "node"), ("instance", "h:9100")]),
//!     honor_timestamps: true,
//!     ..AppendOptions::default()
//! };
//! let body = b"# TYPE up_time gauge\nup_time{job=\"exposed\"} 42\n";
//! let mut app = store.appender();
//! let r = append_body(&mut cache, app.as_mut(), body, Some(Format::PrometheusText), 1_000, &opts).unwrap();
//! app.commit().unwrap();
//! assert_eq!((r.total, r.added, r.series_added), (1, 1, 1));
//!
//! let q = store.querier(0, 2_000).unwrap();
//! let s = q.select(true, None, &[Matcher::equal("__name__", "up_time")]).next().unwrap().unwrap();
//! assert_eq!(
//!     s.labels().to_string(),
//!     r#"{__name__="up_time", exported_job="exposed", instance="h:9100", job="node"}"#
//! );
//! let mut it = s.samples();
//! assert_eq!(it.next(), ValueType::Float);
//! assert_eq!(it.at(), (1_000, 42.0));
//! ```
#![deny(missing_docs)]

mod append;
mod config;
mod conn;
mod error;
mod http;
mod manager;
mod target;

pub use append::{
    AppendOptions, AppendResult, Report, ReportSeries, ScrapeCache, append_body,
    merge_target_labels,
};
pub use config::{
    Authorization, BasicAuth, ByteSize, HttpClientConfig, HttpHeader, OAuth2,
    PROTO_FIRST_SCRAPE_PROTOCOLS, ScrapeConfig, ScrapeDefaults, TlsConfig, UNSUPPORTED_SD_CONFIGS,
    check_static_targets, check_unknown_fields, non_null_rules, parse_scrape_protocol,
    validate_escaping, validate_scrape_protocols,
};
pub use error::Error;
pub use http::{HttpScraper, Response, apply_tls_config, client_builder, with_credentials};
pub use manager::{DroppedTarget, ManagerOptions, ScrapeManager};
pub use target::{
    ADDRESS_LABEL, Health, META_LABEL_PREFIX, METRICS_PATH_LABEL, PARAM_LABEL_PREFIX, Populated,
    RelabelStep, SCHEME_LABEL, SCRAPE_INTERVAL_LABEL, SCRAPE_TIMEOUT_LABEL, Target, TargetState,
    offset, populate_labels, relabel_steps, targets_from_groups,
};
