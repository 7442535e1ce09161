//! The `global` and `runtime` sections.

use std::collections::BTreeMap;

use promlite_discovery::PromDuration;
use promlite_exposition::ScrapeProtocol;
use promlite_model::{Labels, go_quote};
use promlite_scrape::{ByteSize, ScrapeDefaults, validate_escaping, validate_scrape_protocols};
use serde::{Deserialize, Deserializer};

/// The `global` section: defaults for scrape jobs and rule evaluation, and labels added
/// to everything leaving this server.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// How often to scrape by default (1m).
    pub scrape_interval: PromDuration,
    /// Scrape timeout by default (10s, capped by the interval).
    pub scrape_timeout: PromDuration,
    /// Formats scrapes ask for by default.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// How often rules are evaluated by default (1m).
    pub evaluation_interval: PromDuration,
    /// How far back rule evaluation queries by default.
    pub rule_query_offset: PromDuration,
    /// Labels added to alerts, remote writes and federation.
    pub external_labels: Labels,
    /// File logging PromQL queries.
    pub query_log_file: String,
    /// File logging failed scrapes.
    pub scrape_failure_log_file: String,
    /// Default limits and switches inherited by scrape jobs.
    pub scrape_defaults: ScrapeDefaults,
}

impl Default for GlobalConfig {
    /// Prometheus's `DefaultGlobalConfig`.
    fn default() -> Self {
        let scrape_defaults = ScrapeDefaults::default();
        GlobalConfig {
            scrape_interval: scrape_defaults.scrape_interval,
            scrape_timeout: scrape_defaults.scrape_timeout,
            scrape_protocols: scrape_defaults.scrape_protocols.clone(),
            evaluation_interval: PromDuration::from_secs(60),
            rule_query_offset: PromDuration::from_secs(0),
            external_labels: Labels::empty(),
            query_log_file: String::new(),
            scrape_failure_log_file: String::new(),
            scrape_defaults,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GlobalYaml {
    #[serde(default)]
    scrape_interval: Option<PromDuration>,
    #[serde(default)]
    scrape_timeout: Option<PromDuration>,
    #[serde(default)]
    scrape_protocols: Option<Vec<String>>,
    #[serde(default)]
    evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    rule_query_offset: Option<PromDuration>,
    #[serde(default)]
    external_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    query_log_file: Option<String>,
    #[serde(default)]
    scrape_failure_log_file: Option<String>,
    #[serde(default)]
    body_size_limit: Option<ByteSize>,
    #[serde(default)]
    sample_limit: Option<u64>,
    #[serde(default)]
    target_limit: Option<u64>,
    #[serde(default)]
    label_limit: Option<u64>,
    #[serde(default)]
    label_name_length_limit: Option<u64>,
    #[serde(default)]
    label_value_length_limit: Option<u64>,
    #[serde(default)]
    keep_dropped_targets: Option<u64>,
    #[serde(default)]
    metric_name_validation_scheme: Option<String>,
    #[serde(default)]
    metric_name_escaping_scheme: Option<String>,
    #[serde(default)]
    always_scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(default)]
    scrape_native_histograms: Option<bool>,
    #[serde(default)]
    extra_scrape_metrics: Option<bool>,
}

fn invalid<E: serde::de::Error>(m: impl std::fmt::Display) -> E {
    E::custom(m)
}

impl<'de> Deserialize<'de> for GlobalConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let y = Option::<GlobalYaml>::deserialize(d)?.unwrap_or_default();
        let d0 = GlobalConfig::default();
        let nonzero = |v: Option<PromDuration>| v.filter(|d| !d.as_std().is_zero());
        let scrape_interval = nonzero(y.scrape_interval).unwrap_or(d0.scrape_interval);
        let scrape_timeout = match nonzero(y.scrape_timeout) {
            Some(t) if t > scrape_interval => {
                return Err(invalid(
                    "global scrape timeout greater than scrape interval",
                ));
            }
            Some(t) => t,
            None => std::cmp::min(d0.scrape_timeout, scrape_interval),
        };
        let scrape_protocols = match &y.scrape_protocols {
            None => d0.scrape_protocols.clone(),
            Some(names) => validate_scrape_protocols(names)
                .map_err(|e| invalid(format!("{e} for global config")))?,
        };
        let mut external = BTreeMap::new();
        for (k, v) in y.external_labels.unwrap_or_default() {
            if k.is_empty() {
                return Err(invalid(format!(
                    "{} is not a valid label name",
                    go_quote(&k)
                )));
            }
            if k == "__name__" {
                return Err(invalid(format!(
                    "{} is not a valid label name",
                    go_quote(&k)
                )));
            }
            external.insert(k, v);
        }
        let validation = match y.metric_name_validation_scheme.as_deref() {
            None | Some("" | "utf8") => "utf8",
            Some("legacy") => "legacy",
            Some(other) => {
                return Err(invalid(format!(
                    "unknown global name validation method specified, must be either '', 'legacy' or 'utf8', got {}",
                    go_quote(other)
                )));
            }
        };
        let escaping = y.metric_name_escaping_scheme.unwrap_or_default();
        validate_escaping(validation, &escaping).map_err(invalid)?;
        let defaults = ScrapeDefaults {
            scrape_interval,
            scrape_timeout,
            scrape_protocols: scrape_protocols.clone(),
            scrape_protocols_set: y.scrape_protocols.is_some(),
            body_size_limit: y.body_size_limit.unwrap_or_default(),
            sample_limit: y.sample_limit.unwrap_or(0),
            target_limit: y.target_limit.unwrap_or(0),
            label_limit: y.label_limit.unwrap_or(0),
            label_name_length_limit: y.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: y.label_value_length_limit.unwrap_or(0),
            keep_dropped_targets: y.keep_dropped_targets.unwrap_or(0),
            scrape_failure_log_file: y.scrape_failure_log_file.clone().unwrap_or_default(),
            metric_name_validation_scheme: validation.to_owned(),
            metric_name_escaping_scheme: escaping,
            always_scrape_classic_histograms: y.always_scrape_classic_histograms.unwrap_or(false),
            convert_classic_histograms_to_nhcb: y
                .convert_classic_histograms_to_nhcb
                .unwrap_or(false),
            scrape_native_histograms: y.scrape_native_histograms.unwrap_or(false),
            extra_scrape_metrics: y.extra_scrape_metrics.unwrap_or(false),
        };
        Ok(GlobalConfig {
            scrape_interval,
            scrape_timeout,
            scrape_protocols,
            evaluation_interval: nonzero(y.evaluation_interval).unwrap_or(d0.evaluation_interval),
            rule_query_offset: y.rule_query_offset.unwrap_or_default(),
            external_labels: Labels::from_pairs(&external),
            query_log_file: y.query_log_file.unwrap_or_default(),
            scrape_failure_log_file: y.scrape_failure_log_file.unwrap_or_default(),
            scrape_defaults: defaults,
        })
    }
}

/// The `runtime` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Go's GOGC; accepted for compatibility, meaningless to promlite.
    #[serde(default)]
    pub gogc: Option<i64>,
}
