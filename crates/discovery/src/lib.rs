//! Service discovery for promlite: where the targets to scrape come from.
//!
//! Prometheus finds its targets through service discovery mechanisms, each turning
//! some source of truth — the configuration itself, files, an HTTP endpoint, DNS,
//! Kubernetes — into *target groups*: label sets with an `__address__` and
//! `__meta_*` labels, which relabeling then shapes into scrape targets. This crate holds
//! those mechanisms, their configuration as written in `prometheus.yml`, and the manager
//! that runs them for every scrape job.
//!
//! # Main types
//!
//! - [`TargetGroup`]: Prometheus's `targetgroup.Group` — a source name, the targets'
//!   label sets and labels common to them. [`TargetGroupSpec`] is its YAML/JSON form.
//! - [`Discoverer`]: a mechanism at work. It sends [`Update`]s (changed groups, or an
//!   error) on a tokio channel until the receiver goes away; [`UpdateStream`] runs one
//!   as an async stream.
//! - The mechanisms, each a serde configuration type taking Prometheus's YAML unchanged
//!   (field names, defaults, validation messages) and a discoverer:
//!   [`StaticDiscoverer`] (`static_configs`), [`FileSdConfig`]/[`FileDiscoverer`]
//!   (`file_sd_configs`), [`HttpSdConfig`]/[`HttpDiscoverer`] (`http_sd_configs`),
//!   [`DnsSdConfig`]/[`DnsDiscoverer`] (`dns_sd_configs`), and, with the `kubernetes`
//!   feature, `kubernetes::KubernetesSdConfig`/`kubernetes::KubernetesDiscoverer`
//!   (`kubernetes_sd_configs`): an API server listed and watched for every role (node,
//!   service, pod, endpoints, endpointslice, ingress), its objects translated to
//!   `__meta_kubernetes_*` labels, with `attach_metadata` (node, namespace,
//!   deployment, job and cron job metadata).
//! - [`HttpClientConfig`]: the credentials (`basic_auth`, `authorization`,
//!   `bearer_token[_file]`) and `tls_config` of mechanisms that call an HTTP API, with
//!   Prometheus's validation; HTTP SD and Kubernetes SD build their clients from it.
//! - `kubernetes::operator` (feature `kubernetes`): the Prometheus Operator's
//!   ServiceMonitor and PodMonitor objects translated to the scrape jobs the Operator
//!   generates — job name, SD configuration and relabel chain (as
//!   `promlite_relabel::RelabelConfig`s) — for the config crate to take in, and the
//!   `Prometheus` resource's monitor selectors that decide which monitors count.
//! - [`ServiceDiscoveryConfigs`]: the `*_sd_configs` keys of a scrape job, to flatten
//!   into a scrape configuration; [`SdConfig`]: one provider's configuration.
//! - [`Manager`]: runs the providers of every job, merges their groups by source, and
//!   publishes each job's full list on a [`tokio::sync::watch`] channel, debounced as
//!   Prometheus does (quickly after a quiet period, at most every five seconds while
//!   changes keep coming).
//! - [`PromDuration`]: durations such as `30s` or `1h30m`, parsed and printed the
//!   Prometheus way.
//! - [`Error`]: every failure, with Prometheus's messages.
//!
//! # Design decisions
//!
//! - **Pure translation, thin async edges.** What a mechanism makes of its input —
//!   a file's bytes ([`file_groups`]), an HTTP answer ([`check_response`],
//!   [`response_groups`]), DNS records ([`dns_group`]), Kubernetes objects — is a plain
//!   function tested without I/O. Only the discoverers' loops (timers, file
//!   notifications, sockets) are async.
//! - **Errors never withdraw targets.** A file that stops parsing, an endpoint that
//!   answers 500, a DNS server that times out: the discoverer reports the error (the
//!   manager logs it and keeps it, see [`Manager::errors`]) and the last good groups
//!   stay, as in Prometheus. Only an answer that says "nothing is there" (a file removed,
//!   a shorter list, NXDOMAIN) withdraws groups, by sending them empty.
//! - **Prometheus's semantics, including its choices of detail**: static groups are
//!   sourced `"0"`, `"1"`, …; file and HTTP groups `"{path}:{index}"` and
//!   `"{url}:{index}"`; the final dot of DNS names is kept in `__meta_dns_*` labels but
//!   dropped from addresses; HTTP SD insists on status 200 and a JSON content type;
//!   every configured job is published, with an empty list when it has no targets, so
//!   that consumers drop stale ones.
//! - **Kubernetes without `kube`.** The watcher speaks the API's list and watch
//!   protocol itself over the `reqwest` client the other mechanisms use, decoding with
//!   `k8s-openapi`'s types. It needs five GET requests and a line splitter; the `kube`
//!   crate would bring a second HTTP stack (hyper with tower layers), its own TLS and
//!   kubeconfig handling and a runtime of reflectors and stores to adapt, for less
//!   control over what Prometheus does precisely: which kinds are watched per role,
//!   holding groups back until every cache is listed, and re-deriving only the groups
//!   an event touches.
//! - **Light by default.** TLS for HTTP SD (`https` feature) and Kubernetes
//!   (`kubernetes` feature) are opt-in; without them the crate builds on tokio, hyper
//!   (through reqwest), hickory and notify alone.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Duration;
//! use promlite_discovery::{Manager, ManagerOptions, ServiceDiscoveryConfigs};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let job: ServiceDiscoveryConfigs = serde_norway::from_str("
//! static_configs:
//!   - targets: [localhost:9090]
//!     labels: {env: dev}
//! ").unwrap();
//!
//! let mut manager = Manager::new(ManagerOptions {
//!     initial_delay: Duration::from_millis(1),
//!     ..ManagerOptions::default()
//! });
//! let mut sets = manager.subscribe();
//! manager.apply_config(HashMap::from([("prometheus".to_string(), job.to_sd_configs())])).unwrap();
//!
//! sets.changed().await.unwrap();
//! let groups = &sets.borrow()["prometheus"];
//! assert_eq!(groups[0].source, "0");
//! assert_eq!(groups[0].targets[0].get("__address__"), Some("localhost:9090"));
//! assert_eq!(groups[0].labels.get("env"), Some("dev"));
//! # });
//! ```
#![deny(missing_docs)]

mod client;
mod config;
mod discoverer;
mod dns;
mod duration;
mod error;
mod file;
mod group;
mod http;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
mod manager;
mod static_sd;

pub use client::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
pub use config::{SdConfig, ServiceDiscoveryConfigs};
pub use discoverer::{BoxFuture, Discoverer, Update, UpdateStream};
pub use dns::{
    DEFAULT_DNS_REFRESH, DNS_MX_RECORD_TARGET_LABEL, DNS_NAME_LABEL, DNS_NS_RECORD_TARGET_LABEL,
    DNS_SRV_RECORD_PORT_LABEL, DNS_SRV_RECORD_TARGET_LABEL, DnsDiscoverer, DnsRecordType,
    DnsSdConfig, dns_group,
};
pub use duration::PromDuration;
pub use error::Error;
pub use file::{
    DEFAULT_FILE_REFRESH, FILEPATH_LABEL, FileDiscoverer, FileSdConfig, FileState, file_groups,
};
pub use group::{ADDRESS_LABEL, Format, TargetGroup, TargetGroupSpec, parse_target_groups};
pub use http::{
    DEFAULT_HTTP_REFRESH, HttpDiscoverer, HttpSdConfig, URL_LABEL, check_response, response_groups,
};
pub use manager::{Manager, ManagerOptions, TargetSets};
pub use static_sd::{StaticDiscoverer, static_groups};
