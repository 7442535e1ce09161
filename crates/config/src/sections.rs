//! The sections whose behaviour lives in other crates: `alerting`, `remote_write`,
//! `remote_read`, `storage`, `tracing` and `otlp`. They are read and validated here as
//! typed structs with Prometheus's defaults.

use std::collections::BTreeMap;

use promlite_discovery::{PromDuration, ServiceDiscoveryConfigs};
use promlite_model::go_quote;
use promlite_relabel::RelabelConfig;
use promlite_scrape::{
    ByteSize, HttpClientConfig, TlsConfig, check_static_targets, check_unknown_fields,
    non_null_rules,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

fn custom<E: serde::de::Error>(e: impl std::fmt::Display) -> E {
    E::custom(e)
}

/// The `alerting` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertingConfig {
    /// Relabeling applied to every alert before it is sent.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// The Alertmanagers to send to.
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertingYaml {
    #[serde(default)]
    alert_relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(default)]
    alertmanagers: Option<Vec<Option<AlertmanagerConfig>>>,
}

impl<'de> Deserialize<'de> for AlertingConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Some(y) = Option::<AlertingYaml>::deserialize(d)? else {
            return Ok(AlertingConfig::default());
        };
        let alert_relabel_configs = non_null_rules(
            y.alert_relabel_configs,
            "empty or null alert relabeling rule",
        )
        .map_err(custom)?;
        let alertmanagers = y
            .alertmanagers
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.ok_or_else(|| custom("empty or null alert manager config")))
            .collect::<Result<_, D::Error>>()?;
        Ok(AlertingConfig {
            alert_relabel_configs,
            alertmanagers,
        })
    }
}

/// One `alertmanagers` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// The HTTP client.
    pub http_client_config: HttpClientConfig,
    /// Where the Alertmanagers are found.
    pub service_discovery_configs: ServiceDiscoveryConfigs,
    /// `http` or `https`.
    pub scheme: String,
    /// Prefix of the API path.
    pub path_prefix: String,
    /// Timeout of a push (10s).
    pub timeout: PromDuration,
    /// Only `v2`.
    pub api_version: String,
    /// Relabeling of discovered Alertmanagers.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabeling of alerts sent to these Alertmanagers.
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

// The last flattened map collects leftover keys; its values are never looked at.
#[allow(clippy::zero_sized_map_values)]
#[derive(Deserialize)]
struct AlertmanagerYaml {
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    timeout: Option<PromDuration>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(default)]
    alert_relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(flatten)]
    http: HttpClientConfig,
    #[serde(flatten)]
    sd: ServiceDiscoveryConfigs,
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

impl<'de> Deserialize<'de> for AlertmanagerConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let y = AlertmanagerYaml::deserialize(d)?;
        check_unknown_fields(&y.unknown, "config.AlertmanagerConfig").map_err(custom)?;
        let mut http = y.http;
        http.validate().map_err(custom)?;
        check_static_targets(&y.sd).map_err(custom)?;
        let api_version = y.api_version.unwrap_or_else(|| "v2".into());
        if api_version != "v2" {
            return Err(custom(format!(
                "expected Alertmanager api version to be one of [v2] but got {api_version}"
            )));
        }
        Ok(AlertmanagerConfig {
            http_client_config: http,
            service_discovery_configs: y.sd,
            scheme: y.scheme.unwrap_or_else(|| "http".into()),
            path_prefix: y.path_prefix.unwrap_or_default(),
            timeout: y.timeout.unwrap_or(PromDuration::from_secs(10)),
            api_version,
            relabel_configs: non_null_rules(
                y.relabel_configs,
                "empty or null Alertmanager target relabeling rule",
            )
            .map_err(custom)?,
            alert_relabel_configs: non_null_rules(
                y.alert_relabel_configs,
                "empty or null Alertmanager alert relabeling rule",
            )
            .map_err(custom)?,
        })
    }
}

/// Headers remote endpoints may not set, with Prometheus's reasons.
fn check_remote_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    const RESERVED: &[&str] = &[
        "Host",
        "Content-Encoding",
        "Content-Length",
        "Content-Type",
        "User-Agent",
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Www-Authenticate",
        "Accept-Encoding",
        "X-Prometheus-Remote-Write-Version",
        "X-Prometheus-Remote-Read-Version",
        "X-Prometheus-Scrape-Timeout-Seconds",
        "X-Amz-Date",
        "X-Amz-Security-Token",
        "X-Amz-Content-Sha256",
    ];
    for name in headers.keys() {
        if name.eq_ignore_ascii_case("authorization") {
            return Err("authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into());
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "{name} is a reserved header. It must not be changed"
            ));
        }
    }
    Ok(())
}

/// `queue_config` of a remote write endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Samples buffered per shard (10000).
    pub capacity: u64,
    /// Most shards (50).
    pub max_shards: u64,
    /// Fewest shards (1).
    pub min_shards: u64,
    /// Samples per request (2000).
    pub max_samples_per_send: u64,
    /// Longest wait before sending a partial batch (5s).
    pub batch_send_deadline: PromDuration,
    /// First retry back-off (30ms).
    pub min_backoff: PromDuration,
    /// Longest retry back-off (5s).
    pub max_backoff: PromDuration,
    /// Retry on HTTP 429 (true).
    pub retry_on_http_429: bool,
    /// Drop samples older than this (0: never).
    pub sample_age_limit: PromDuration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: PromDuration::from_secs(5),
            min_backoff: PromDuration::new(std::time::Duration::from_millis(30)),
            max_backoff: PromDuration::from_secs(5),
            retry_on_http_429: true,
            sample_age_limit: PromDuration::from_secs(0),
        }
    }
}

impl QueueConfig {
    fn validate(&self) -> Result<(), String> {
        if self.capacity == 0 {
            return Err("capacity for remote write queue must be greater than 0".into());
        }
        if self.max_shards == 0 {
            return Err("max_shards for remote write queue must be greater than 0".into());
        }
        if self.min_shards == 0 {
            return Err("min_shards for remote write queue must be greater than 0".into());
        }
        if self.min_shards > self.max_shards {
            return Err(
                "min_shards for remote write queue must be less than or equal to max_shards".into(),
            );
        }
        if self.max_samples_per_send == 0 {
            return Err(
                "max_samples_per_send for remote write queue must be greater than 0".into(),
            );
        }
        if self.max_backoff < self.min_backoff {
            return Err(
                "max_backoff for remote write queue must be greater than or equal to min_backoff"
                    .into(),
            );
        }
        Ok(())
    }
}

/// `metadata_config` of a remote write endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Send metadata (true).
    pub send: bool,
    /// How often (1m).
    pub send_interval: PromDuration,
    /// Entries per request (500).
    pub max_samples_per_send: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: PromDuration::from_secs(60),
            max_samples_per_send: 500,
        }
    }
}

/// One `remote_write` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    /// The endpoint.
    pub url: String,
    /// Request timeout (30s).
    pub remote_timeout: PromDuration,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// Relabeling of written series.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// A name unique among remote writes.
    pub name: String,
    /// Send exemplars.
    pub send_exemplars: bool,
    /// Send native histograms.
    pub send_native_histograms: bool,
    /// Resolve the host to all its addresses and spread requests.
    pub round_robin_dns: bool,
    /// `prometheus.WriteRequest` (v1, default) or `io.prometheus.write.v2.Request`.
    pub protobuf_message: String,
    /// Queue settings.
    pub queue_config: QueueConfig,
    /// Metadata settings.
    pub metadata_config: MetadataConfig,
    /// AWS SigV4, Azure AD and Google IAM settings, kept as written (not yet used).
    pub cloud_auth: BTreeMap<String, serde_norway::Value>,
    /// The HTTP client.
    pub http_client_config: HttpClientConfig,
}

// The last flattened map collects leftover keys; its values are never looked at.
#[allow(clippy::zero_sized_map_values)]
#[derive(Deserialize)]
struct RemoteWriteYaml {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    remote_timeout: Option<PromDuration>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    write_relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    send_exemplars: Option<bool>,
    #[serde(default)]
    send_native_histograms: Option<bool>,
    #[serde(default)]
    round_robin_dns: Option<bool>,
    #[serde(default)]
    protobuf_message: Option<String>,
    #[serde(default)]
    queue_config: Option<QueueConfig>,
    #[serde(default)]
    metadata_config: Option<MetadataConfig>,
    #[serde(default)]
    sigv4: Option<serde_norway::Value>,
    #[serde(default)]
    azuread: Option<serde_norway::Value>,
    #[serde(default)]
    google_iam: Option<serde_norway::Value>,
    #[serde(flatten)]
    http: HttpClientConfig,
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

impl<'de> Deserialize<'de> for RemoteWriteConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let y = RemoteWriteYaml::deserialize(d)?;
        check_unknown_fields(&y.unknown, "config.RemoteWriteConfig").map_err(custom)?;
        let url = y.url.unwrap_or_default();
        if url.is_empty() {
            return Err(custom("url for remote_write is empty"));
        }
        let headers = y.headers.unwrap_or_default();
        check_remote_headers(&headers).map_err(custom)?;
        let protobuf_message = y
            .protobuf_message
            .unwrap_or_else(|| "prometheus.WriteRequest".into());
        if protobuf_message != "prometheus.WriteRequest"
            && protobuf_message != "io.prometheus.write.v2.Request"
        {
            return Err(custom(format!(
                "unknown remote write protobuf message {protobuf_message}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
            )));
        }
        let queue_config = y.queue_config.unwrap_or_default();
        queue_config.validate().map_err(custom)?;
        let mut http = y.http;
        let mut cloud_auth = BTreeMap::new();
        for (k, v) in [
            ("sigv4", y.sigv4),
            ("azuread", y.azuread),
            ("google_iam", y.google_iam),
        ] {
            if let Some(v) = v {
                cloud_auth.insert(k.to_owned(), v);
            }
        }
        if cloud_auth.len() > 1
            || (!cloud_auth.is_empty()
                && (http.basic_auth.is_some()
                    || http.authorization.is_some()
                    || http.oauth2.is_some()
                    || http.bearer_token.is_some()
                    || http.bearer_token_file.is_some()))
        {
            return Err(custom(
                "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured",
            ));
        }
        http.validate().map_err(custom)?;
        Ok(RemoteWriteConfig {
            url,
            remote_timeout: y.remote_timeout.unwrap_or(PromDuration::from_secs(30)),
            headers,
            write_relabel_configs: non_null_rules(
                y.write_relabel_configs,
                "empty or null relabeling rule in remote write config",
            )
            .map_err(custom)?,
            name: y.name.unwrap_or_default(),
            send_exemplars: y.send_exemplars.unwrap_or(false),
            send_native_histograms: y.send_native_histograms.unwrap_or(false),
            round_robin_dns: y.round_robin_dns.unwrap_or(false),
            protobuf_message,
            queue_config,
            metadata_config: y.metadata_config.unwrap_or_default(),
            cloud_auth,
            http_client_config: http,
        })
    }
}

/// One `remote_read` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteReadConfig {
    /// The endpoint.
    pub url: String,
    /// Request timeout (1m).
    pub remote_timeout: PromDuration,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// A name unique among remote reads.
    pub name: String,
    /// Matchers every query must carry to be sent here.
    pub required_matchers: BTreeMap<String, String>,
    /// Also read ranges the local store covers.
    pub read_recent: bool,
    /// Add external labels as matchers (true).
    pub filter_external_labels: bool,
    /// The HTTP client.
    pub http_client_config: HttpClientConfig,
}

// The last flattened map collects leftover keys; its values are never looked at.
#[allow(clippy::zero_sized_map_values)]
#[derive(Deserialize)]
struct RemoteReadYaml {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    remote_timeout: Option<PromDuration>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    required_matchers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    read_recent: Option<bool>,
    #[serde(default)]
    filter_external_labels: Option<bool>,
    #[serde(flatten)]
    http: HttpClientConfig,
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

impl<'de> Deserialize<'de> for RemoteReadConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let y = RemoteReadYaml::deserialize(d)?;
        check_unknown_fields(&y.unknown, "config.RemoteReadConfig").map_err(custom)?;
        let url = y.url.unwrap_or_default();
        if url.is_empty() {
            return Err(custom("url for remote_read is empty"));
        }
        let headers = y.headers.unwrap_or_default();
        check_remote_headers(&headers).map_err(custom)?;
        let mut http = y.http;
        http.validate().map_err(custom)?;
        Ok(RemoteReadConfig {
            url,
            remote_timeout: y.remote_timeout.unwrap_or(PromDuration::from_secs(60)),
            headers,
            name: y.name.unwrap_or_default(),
            required_matchers: y.required_matchers.unwrap_or_default(),
            read_recent: y.read_recent.unwrap_or(false),
            filter_external_labels: y.filter_external_labels.unwrap_or(true),
            http_client_config: http,
        })
    }
}

/// The `storage` section.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// TSDB settings.
    pub tsdb: Option<TsdbConfig>,
    /// Exemplar storage settings.
    pub exemplars: Option<ExemplarsConfig>,
}

/// `storage.tsdb`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    /// How far out of order samples may be.
    pub out_of_order_time_window: Option<PromDuration>,
    /// Compact stale series when this fraction of the head is stale.
    pub stale_series_compaction_threshold: Option<f64>,
    /// Retention settings.
    pub retention: Option<RetentionConfig>,
    /// Chunk encodings.
    #[serde(deserialize_with = "chunk_encoding")]
    pub chunk_encoding: Option<ChunkEncodingConfig>,
}

/// `storage.tsdb.retention`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RetentionConfig {
    /// Keep data this long.
    pub time: Option<PromDuration>,
    /// Keep at most this much data.
    pub size: Option<ByteSize>,
    /// Keep at most this share of the disk, in percent.
    pub percentage: Option<f64>,
}

impl<'de> Deserialize<'de> for RetentionConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, default)]
        struct Y {
            time: Option<PromDuration>,
            size: Option<ByteSize>,
            percentage: Option<f64>,
        }
        let y = Option::<Y>::deserialize(d)?.unwrap_or_default();
        if let Some(p) = y.percentage
            && !(0.0..=100.0).contains(&p)
        {
            return Err(custom(format!(
                "invalid retention percentage {p}, must be between 0 and 100"
            )));
        }
        Ok(RetentionConfig {
            time: y.time,
            size: y.size,
            percentage: y.percentage,
        })
    }
}

/// `storage.tsdb.chunk_encoding`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkEncodingConfig {
    /// `xor` or `xor2`.
    pub floats: String,
}

fn chunk_encoding<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<ChunkEncodingConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Y {
        #[serde(default)]
        floats: Option<String>,
    }
    let Some(y) = Option::<Y>::deserialize(d)? else {
        return Ok(None);
    };
    let floats = y.floats.unwrap_or_else(|| "xor".into());
    if floats != "xor" && floats != "xor2" {
        return Err(custom(format!(
            "invalid float chunk encoding {}, must be one of [xor xor2]",
            go_quote(&floats)
        )));
    }
    Ok(Some(ChunkEncodingConfig { floats }))
}

/// `storage.exemplars`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    /// Exemplars kept in memory.
    pub max_exemplars: i64,
}

/// The `tracing` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TracingConfig {
    /// `grpc` (default) or `http`.
    pub client_type: String,
    /// The collector.
    pub endpoint: String,
    /// Share of traces sampled.
    pub sampling_fraction: f64,
    /// Use plain text.
    pub insecure: bool,
    /// TLS settings.
    pub tls_config: TlsConfig,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// `gzip` or empty.
    pub compression: String,
    /// Export timeout.
    pub timeout: Option<PromDuration>,
}

impl<'de> Deserialize<'de> for TracingConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, default)]
        struct Y {
            client_type: Option<String>,
            endpoint: String,
            sampling_fraction: f64,
            insecure: bool,
            tls_config: TlsConfig,
            headers: BTreeMap<String, String>,
            compression: String,
            timeout: Option<PromDuration>,
        }
        let Some(y) = Option::<Y>::deserialize(d)? else {
            return Ok(TracingConfig::default());
        };
        let client_type = y.client_type.unwrap_or_else(|| "grpc".into());
        if client_type != "grpc" && client_type != "http" {
            return Err(custom(format!(
                "expected tracing client type to be to be one of [grpc http], but got {}",
                go_quote(&client_type)
            )));
        }
        if y.endpoint.is_empty() {
            return Err(custom("tracing endpoint must be set"));
        }
        if !y.compression.is_empty() && y.compression != "gzip" {
            return Err(custom(format!(
                "invalid compression type {} provided, valid options: gzip",
                y.compression
            )));
        }
        if y.headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("authorization"))
        {
            return Err(custom(
                "custom authorization header configuration is not yet supported",
            ));
        }
        check_remote_headers(&y.headers).map_err(custom)?;
        Ok(TracingConfig {
            client_type,
            endpoint: y.endpoint,
            sampling_fraction: y.sampling_fraction,
            insecure: y.insecure,
            tls_config: y.tls_config,
            headers: y.headers,
            compression: y.compression,
            timeout: y.timeout,
        })
    }
}

/// The `otlp` section (the OTLP receiver's translation settings).
// Prometheus's switches, each a plain flag in its configuration.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OtlpConfig {
    /// Resource attributes promoted to labels.
    pub promote_resource_attributes: Vec<String>,
    /// Promote every resource attribute but the ignored ones.
    pub promote_all_resource_attributes: bool,
    /// Attributes not promoted under `promote_all_resource_attributes`.
    pub ignore_resource_attributes: Vec<String>,
    /// How OTLP names become Prometheus names.
    pub translation_strategy: String,
    /// Keep `service.*` attributes on `target_info`.
    pub keep_identifying_resource_attributes: bool,
    /// Convert classic histograms to NHCB.
    pub convert_histograms_to_nhcb: bool,
    /// Promote scope metadata to labels.
    pub promote_scope_metadata: bool,
    /// The remaining switches, as written.
    pub other: BTreeMap<String, bool>,
}

const TRANSLATION_STRATEGIES: [&str; 4] = [
    "UnderscoreEscapingWithSuffixes",
    "UnderscoreEscapingWithoutSuffixes",
    "NoUTF8EscapingWithSuffixes",
    "NoTranslation",
];

fn clean_attributes(list: Vec<String>, what: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for a in list {
        let a = a.trim().to_owned();
        if a.is_empty() {
            return Err(format!("empty {what}"));
        }
        if out.contains(&a) {
            return Err(format!("duplicated {what} {}", go_quote(&a)));
        }
        out.push(a);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for OtlpConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[allow(clippy::struct_excessive_bools)] // The YAML form of the flags above.
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, default)]
        struct Y {
            promote_resource_attributes: Vec<String>,
            promote_all_resource_attributes: bool,
            ignore_resource_attributes: Vec<String>,
            translation_strategy: Option<String>,
            keep_identifying_resource_attributes: bool,
            convert_histograms_to_nhcb: bool,
            promote_scope_metadata: bool,
            label_name_underscore_sanitization: Option<bool>,
            label_name_preserve_multiple_underscores: Option<bool>,
        }
        let y = Option::<Y>::deserialize(d)?.unwrap_or_default();
        let strategy = y
            .translation_strategy
            .unwrap_or_else(|| TRANSLATION_STRATEGIES[0].into());
        if !TRANSLATION_STRATEGIES.contains(&strategy.as_str()) {
            return Err(custom(format!(
                "unsupported OTLP translation strategy {}",
                go_quote(&strategy)
            )));
        }
        if y.promote_all_resource_attributes && !y.promote_resource_attributes.is_empty() {
            return Err(custom(
                "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
            ));
        }
        if !y.promote_all_resource_attributes && !y.ignore_resource_attributes.is_empty() {
            return Err(custom(
                "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
            ));
        }
        let promote = clean_attributes(
            y.promote_resource_attributes,
            "promoted OTel resource attribute",
        )
        .map_err(custom)?;
        let ignore = clean_attributes(
            y.ignore_resource_attributes,
            "'ignore_resource_attributes' OTel resource attribute",
        )
        .map_err(custom)?;
        let mut other = BTreeMap::new();
        for (k, v) in [
            (
                "label_name_underscore_sanitization",
                y.label_name_underscore_sanitization,
            ),
            (
                "label_name_preserve_multiple_underscores",
                y.label_name_preserve_multiple_underscores,
            ),
        ] {
            if let Some(v) = v {
                other.insert(k.to_owned(), v);
            }
        }
        Ok(OtlpConfig {
            promote_resource_attributes: promote,
            promote_all_resource_attributes: y.promote_all_resource_attributes,
            ignore_resource_attributes: ignore,
            translation_strategy: strategy,
            keep_identifying_resource_attributes: y.keep_identifying_resource_attributes,
            convert_histograms_to_nhcb: y.convert_histograms_to_nhcb,
            promote_scope_metadata: y.promote_scope_metadata,
            other,
        })
    }
}
