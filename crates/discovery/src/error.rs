//! The discovery crate's error type: rejected configurations and failed refreshes.

use std::fmt;
use std::path::PathBuf;

use promlite_model::write_go_quoted;

/// Everything that can go wrong in service discovery.
///
/// Configuration errors carry Prometheus's own messages, word for word, so a rejected
/// `prometheus.yml` reads the same under promlite as under `promtool check config`.
/// Refresh errors are reported by a [`Discoverer`](crate::Discoverer) on its update
/// channel; the targets it found last stay in force until a refresh succeeds again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A duration such as `refresh_interval` is not in Prometheus's format (`1h30m`,
    /// `5m`, `10s`, `0`). The message is Prometheus's (`not a valid duration string:
    /// "5 minutes"`, `unknown unit "min" in duration "5min"`, `duration out of range`).
    #[error("{0}")]
    InvalidDuration(String),
    /// A target group's `labels` holds a name that is not a valid label name.
    #[error("{} is not a valid label name", Quoted(.0))]
    InvalidLabelName(String),
    /// A list of target groups (a file or an HTTP response) holds a `null` entry.
    #[error("nil target group item found")]
    NilTargetGroup,
    /// A `file_sd_configs` entry lists no file.
    #[error("file service discovery config must contain at least one path name")]
    NoFiles,
    /// A `file_sd_configs` path does not end in `.json`, `.yml` or `.yaml`, or has a `*`
    /// outside its last path element.
    #[error("path name {} is not valid for file discovery", Quoted(.0))]
    InvalidFilePattern(String),
    /// An `http_sd_configs` entry has no `url`.
    #[error("URL is missing")]
    MissingUrl,
    /// The `url` does not parse.
    #[error("parse {}: {message}", Quoted(url))]
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The `url`'s scheme is neither `http` nor `https`.
    #[error("URL scheme must be 'http' or 'https'")]
    UrlScheme,
    /// The `url` has no host.
    #[error("host is missing in URL")]
    UrlMissingHost,
    /// A `dns_sd_configs` entry lists no name.
    #[error("DNS-SD config must contain at least one SRV record name")]
    NoDnsNames,
    /// A `dns_sd_configs` entry of type A, AAAA, MX or NS has no `port`.
    #[error("a port is required in DNS-SD configs for all record types except SRV")]
    DnsPortRequired,
    /// A `dns_sd_configs` entry has a `type` other than SRV, A, AAAA, MX and NS.
    #[error("invalid DNS-SD records type {0}")]
    InvalidDnsType(String),
    /// A configuration names a Kubernetes role promlite does not know.
    #[error("unknown Kubernetes SD role {}", Quoted(.0))]
    InvalidKubernetesRole(String),
    /// A ServiceMonitor or PodMonitor cannot become a scrape job: a relabeling,
    /// interval or timeout of one of its endpoints is invalid. The Operator's admission
    /// webhook would have refused the object; the other monitors are unaffected.
    #[cfg(feature = "kubernetes")]
    #[error("{monitor}: {reason}")]
    InvalidMonitor {
        /// The job the endpoint would have become, `serviceMonitor/{ns}/{name}/{i}`.
        monitor: String,
        /// What is wrong.
        reason: String,
        /// The relabel crate's error, when a relabeling is at fault.
        #[source]
        source: Option<promlite_relabel::Error>,
    },
    /// A file or response body is not a valid JSON list of target groups.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file is not a valid YAML list of target groups.
    #[error(transparent)]
    Yaml(#[from] serde_norway::Error),
    /// A file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A `file_sd_configs` file failed to load. The targets it gave last are kept.
    #[error("error reading file {}: {source}", path.display())]
    File {
        /// The file as matched by the configured pattern.
        path: PathBuf,
        /// Why it failed.
        source: Box<Error>,
    },
    /// A `file_sd_configs` pattern is not a valid glob.
    #[error("error expanding glob {}: {message}", Quoted(pattern))]
    Glob {
        /// The pattern as configured.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file watcher failed; periodic refreshes continue without it.
    #[error("error watching files: {0}")]
    Watch(#[from] notify::Error),
    /// An HTTP SD endpoint answered with a status other than 200.
    #[error("server returned HTTP status {0}")]
    HttpStatus(String),
    /// An HTTP SD endpoint answered with a content type other than `application/json`.
    #[error("unsupported content type {}", Quoted(.0))]
    UnsupportedContentType(String),
    /// The HTTP request failed (connection, timeout, body).
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// A DNS name could not be resolved: every server answered with an error or none
    /// answered. The targets found last for that name are kept.
    #[error("could not resolve {}: {source}", Quoted(name))]
    Dns {
        /// The name as configured.
        name: String,
        /// The resolver's error.
        source: hickory_resolver::net::NetError,
    },
    /// The system's resolver configuration could not be read.
    #[error("could not load resolv.conf: {0}")]
    ResolvConf(hickory_resolver::net::NetError),
    /// A mechanism or part of one that this build of promlite does not provide.
    #[error("{0} is not supported")]
    Unsupported(&'static str),
    /// The inline HTTP client settings of an SD configuration contradict each other
    /// (two kinds of credentials). The message is Prometheus's.
    #[error("{0}")]
    InvalidHttpClientConfig(&'static str),
    /// A credentials, certificate or service-account file could not be read.
    #[error("unable to read {what} {}: {source}", path.display())]
    ReadFile {
        /// What the file holds (`bearer token file`, `CA file`, …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A `kubernetes_sd_configs` entry cannot be used as written: an invalid selector,
    /// an unusable `api_server`, or no in-cluster configuration to fall back on.
    #[cfg(feature = "kubernetes")]
    #[error("{0}")]
    InvalidKubernetesConfig(String),
    /// The Kubernetes API server refused a request or answered with an error status;
    /// the message is the API server's `Status` message when it sent one. The watcher
    /// retries with backoff and keeps the targets it had.
    #[cfg(feature = "kubernetes")]
    #[error("kubernetes API request {path} failed: {status}: {message}")]
    KubernetesApi {
        /// The request path and query.
        path: String,
        /// The HTTP status, with a watch event's `code` for errors sent mid-stream.
        status: u16,
        /// The `Status` reason (`Expired`, `Forbidden`, …), empty when absent.
        reason: String,
        /// What the server said.
        message: String,
    },
    /// A Kubernetes API response (a list, a watch event or one object in them) does not
    /// decode as the kind requested. The object is skipped; the others are used.
    #[cfg(feature = "kubernetes")]
    #[error("kubernetes API request {path}: invalid {what}: {source}")]
    KubernetesDecode {
        /// The request path and query.
        path: String,
        /// What failed to decode (`list`, `watch event`, `Pod`, …).
        what: String,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// Some providers of [`Manager::apply_config`](crate::Manager::apply_config) could not
    /// be started; the others run. Each failure was logged.
    #[error("{0} service discovery configs failed")]
    ProvidersFailed(usize),
}

/// Displays a string quoted as Go's `%q` does, as Prometheus's messages quote it.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_go_quoted(f, self.0)
    }
}
