//! promlite: Prometheus re-built as a family of reusable Rust crates, and this crate, the
//! facade that embeds all of it in a program.
//!
//! A [`Monitor`] is a complete monitoring engine inside the process: storage (in memory,
//! or a Prometheus-format data directory), scraping from `prometheus.yml` and service
//! discovery, in-process collection of the program's own [`client::Registry`] (no HTTP),
//! recording and alerting rules with Alertmanager notification, remote write and read,
//! PromQL queries from code, and — with the `web` feature — Prometheus's HTTP API and
//! UI. The `promlite` server binary is this same `Monitor` behind command-line flags.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use promlite::Monitor;
//! use promlite::client::{Counter, Registry};
//!
//! // The program's own metrics.
//! let registry = Registry::new();
//! let jobs: Counter = Counter::new();
//! registry.register("jobs_done", "Jobs finished.", jobs.clone()).unwrap();
//!
//! // A monitor keeping an hour of history in memory, with an alert on them.
//! let monitor = Monitor::builder()
//!     .in_memory()
//!     .retention(Duration::from_hours(1))
//!     .register("worker", &registry)
//!     .rules_yaml("rules.yml", "groups:
//!   - name: worker
//!     rules:
//!       - alert: NoJobs
//!         expr: jobs_done_total == 0
//! ")
//!     .build()
//!     .unwrap();
//!
//! jobs.inc_by(2);
//! monitor.collect_now(); // the collection task does this every interval
//! // A collection in the same millisecond as the task's first one is stamped a
//! // millisecond later (each keeps its own timestamp): query just after it.
//! let r = monitor
//!     .query("jobs_done_total", SystemTime::now() + Duration::from_millis(1))
//!     .unwrap();
//! let promlite::promql::Value::Vector(v) = r.value else { panic!() };
//! assert_eq!(v[0].f, 2.0);
//! assert_eq!(v[0].metric.get("job"), Some("worker"));
//! monitor.shutdown_blocking();
//! ```
//!
//! Programs already instrumented with the [`metrics`](https://docs.rs/metrics) facade
//! install `promlite::client::PromliteRecorder` (feature `metrics`) and register its
//! registry. Rule unit tests in promtool's format run from `cargo test` with
//! [`rules::test_file`].
//!
//! # Cargo features
//!
//! - `web` (default): the HTTP API, UI and `/metrics` ([`MonitorBuilder::serve`]);
//!   without it no HTTP server is linked.
//! - `https` (default): scraping `https://` targets and remote endpoints (rustls).
//! - `kubernetes`: `kubernetes_sd_configs` and the Prometheus Operator's
//!   ServiceMonitor/PodMonitor translation ([`discovery`]).
//! - `metrics`: the `metrics` facade recorder in [`client`].
//!
//! The component crates are re-exported under short names for everything the builder
//! does not cover.
#![deny(missing_docs)]

mod builder;
mod error;
mod local;
mod monitor;
#[cfg(feature = "web")]
mod serve;

pub use builder::{AlertingOptions, BlockOptions, DEFAULT_MEMORY_RETENTION, MonitorBuilder};
pub use error::{Error, Result};
pub use monitor::{Monitor, TargetInfo};

pub use promlite_client as client;
pub use promlite_config as config;
pub use promlite_discovery as discovery;
pub use promlite_exposition as exposition;
pub use promlite_model as model;
pub use promlite_promql as promql;
pub use promlite_relabel as relabel;
pub use promlite_remote as remote;
pub use promlite_rules as rules;
pub use promlite_scrape as scrape;
pub use promlite_storage as storage;
pub use promlite_tsdb as tsdb;
#[cfg(feature = "web")]
pub use promlite_web as web;
