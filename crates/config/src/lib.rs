//! `prometheus.yml` for promlite: Prometheus 3's configuration schema, defaults and
//! validation, errors that name file, line and column, and reloads that never replace a
//! working configuration with a broken one.
//!
//! # Main types
//!
//! - [`Config`]: the whole file. [`Config::load`] reads it with its
//!   `scrape_config_files`; scrape jobs come out complete (global defaults applied,
//!   relative paths resolved).
//! - The sections: [`GlobalConfig`], [`RuntimeConfig`], scrape jobs
//!   ([`promlite_scrape::ScrapeConfig`], owned by the scrape crate), [`AlertingConfig`]
//!   and [`AlertmanagerConfig`], [`RemoteWriteConfig`], [`RemoteReadConfig`],
//!   [`StorageConfig`], [`TracingConfig`], [`OtlpConfig`]. Service discovery keys are the
//!   discovery crate's [`ServiceDiscoveryConfigs`](promlite_discovery::ServiceDiscoveryConfigs),
//!   relabel rules the relabel crate's.
//! - [`Reloader`]: the configuration in force behind an `Arc`, reloaded on SIGHUP or
//!   `POST /-/reload`; a bad file leaves the old configuration running and says why.
//! - [`Error`]: `file:line:column: reason`.
//!
//! # Design decisions
//!
//! - **Prometheus's words.** Defaults, checks and messages follow Prometheus's
//!   `config/config.go` (`scrape timeout greater than scrape interval for scrape config
//!   with job name "x"`, `found multiple scrape configs with job name "x"`, …), so that
//!   `promlite check config` and `promtool check config` agree on what is wrong.
//! - **Unknown fields are errors**, as in Prometheus's strict decoding. Service
//!   discovery mechanisms promlite does not implement (`ec2_sd_configs`, `consul_sd_configs`,
//!   …) are recognised by name and rejected with `promlite does not support ec2_sd_configs`
//!   rather than silently ignored or reported as typos.
//! - **Positions in two steps.** `serde_norway` reports the line and column of syntax and
//!   type errors, and of errors raised while decoding a section (the section's start).
//!   Errors about one key (unknown fields, unsupported mechanisms) are then moved to the
//!   key's own line by searching the text from the section's start. Checks that need the
//!   whole file (duplicate job names, inheritance from `global`) run after decoding, so
//!   they find their position the same way, by searching for the `job_name` or key they
//!   concern. Decoding twice into a span-carrying tree was the alternative; block-style
//!   YAML makes the search exact in practice, and the message never depends on it.
//! - **Flattened sections and strictness.** Scrape jobs, Alertmanagers and remote
//!   endpoints inline the HTTP client settings and the `*_sd_configs` keys, as in
//!   Prometheus. serde cannot deny unknown fields across `#[serde(flatten)]`, so each of
//!   these types collects the keys nobody took in a last flattened map and rejects them.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use promlite_config::Config;
//!
//! let yaml = "
//! global:
//!   scrape_interval: 15s
//! scrape_configs:
//!   - job_name: node
//!     static_configs: [{targets: ['localhost:9100']}]
//! ";
//! let c = Config::from_yaml(yaml, Path::new("/etc/prometheus/prometheus.yml")).unwrap();
//! assert_eq!(c.scrape_configs[0].interval().to_string(), "15s");
//! assert_eq!(c.scrape_configs[0].timeout().to_string(), "10s");
//!
//! let bad = "scrape_configs:\n  - job_name: node\n    ec2_sd_configs: [{region: eu-west-1}]\n";
//! let err = Config::from_yaml(bad, Path::new("prometheus.yml")).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "prometheus.yml:3:5: scrape_configs: promlite does not support ec2_sd_configs"
//! );
//! ```
#![deny(missing_docs)]

mod error;
mod file;
mod global;
mod position;
mod reload;
mod sections;

pub use error::Error;
pub use file::Config;
pub use global::{GlobalConfig, RuntimeConfig};
pub use reload::{ReloadStatus, Reloaded, Reloader};
pub use sections::{
    AlertingConfig, AlertmanagerConfig, ChunkEncodingConfig, ExemplarsConfig, MetadataConfig,
    OtlpConfig, QueueConfig, RemoteReadConfig, RemoteWriteConfig, RetentionConfig, StorageConfig,
    TracingConfig, TsdbConfig,
};
