//! The scrape crate's error type: rejected scrape configurations, failed scrapes and
//! invalid targets.

/// Everything that can go wrong in scraping.
///
/// The messages of failed scrapes are Prometheus's, because the targets page shows them
/// to users who compare them with Prometheus's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scrape configuration is invalid (Prometheus's validation message).
    #[error("{0}")]
    Config(String),
    /// A scrape job uses a service discovery mechanism promlite does not provide.
    #[error("promlite does not support {0}")]
    UnsupportedDiscovery(String),
    /// A relabel rule is invalid.
    #[error(transparent)]
    Relabel(#[from] promlite_relabel::Error),
    /// A target's labels after relabeling are unusable (no address, bad interval, …).
    #[error("{0}")]
    InvalidTarget(String),
    /// The HTTP request failed (connection refused, timeout, …).
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The request could not be sent or its response read (Go's wording: the method,
    /// the URL, then the cause).
    #[error("{0}")]
    Transport(String),
    /// The scrape did not finish within `scrape_timeout` (Go's wording for a deadline).
    #[error("context deadline exceeded (scrape timeout {0:?})")]
    Timeout(std::time::Duration),
    /// The target answered with a status other than 200.
    #[error("server returned HTTP status {0}")]
    Status(String),
    /// The (uncompressed) body was larger than `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// The gzip-compressed body could not be decompressed.
    #[error("error decompressing response: {0}")]
    Gzip(std::io::Error),
    /// The response's content type is unusable and no fallback protocol is configured.
    #[error(transparent)]
    ContentType(#[from] promlite_exposition::ContentTypeError),
    /// The body does not parse.
    #[error(transparent)]
    Parse(#[from] promlite_exposition::ParseError),
    /// More samples than `sample_limit` after metric relabeling.
    #[error("sample limit exceeded")]
    SampleLimit,
    /// A series has more labels than `label_limit`.
    #[error(
        "label_limit exceeded (metric: {metric:.50}, number of labels: {count}, limit: {limit})"
    )]
    LabelLimit {
        /// The series' metric name.
        metric: String,
        /// Its number of labels.
        count: usize,
        /// The limit.
        limit: u64,
    },
    /// A label name is longer than `label_name_length_limit`.
    #[error(
        "label_name_length_limit exceeded (metric: {metric:.50}, label name: {name:.50}, length: {length}, limit: {limit})"
    )]
    LabelNameLength {
        /// The series' metric name.
        metric: String,
        /// The offending label name.
        name: String,
        /// Its length.
        length: usize,
        /// The limit.
        limit: u64,
    },
    /// A label value is longer than `label_value_length_limit`.
    #[error(
        "label_value_length_limit exceeded (metric: {metric:.50}, label name: {name:.50}, value: {value:.50}, length: {length}, limit: {limit})"
    )]
    LabelValueLength {
        /// The series' metric name.
        metric: String,
        /// The label whose value is too long.
        name: String,
        /// The value.
        value: String,
        /// Its length.
        length: usize,
        /// The limit.
        limit: u64,
    },
    /// A series lost its metric name to metric relabeling.
    #[error("__name__ label is missing")]
    NameLabelMissing,
    /// More targets than `target_limit` after relabeling.
    #[error("target_limit exceeded (number of targets: {count}, limit: {limit})")]
    TargetLimit {
        /// Targets found.
        count: usize,
        /// The limit.
        limit: u64,
    },
    /// The OAuth 2.0 token endpoint refused or garbled the token (Go's `oauth2:`
    /// messages).
    #[error("oauth2: {0}")]
    OAuth2(String),
    /// No scrape pool (job) has this name.
    #[error("scrape pool {0:?} not found")]
    UnknownScrapePool(String),
    /// The store refused the scrape's transaction.
    #[error(transparent)]
    Storage(#[from] promlite_storage::Error),
}
