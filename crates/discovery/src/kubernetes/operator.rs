//! The Prometheus Operator's ServiceMonitor and PodMonitor (`monitoring.coreos.com/v1`)
//! translated into the scrape jobs the Operator writes into `prometheus.yml`.
//!
//! [`service_monitor_jobs`] and [`pod_monitor_jobs`] give one [`ScrapeJob`] per
//! endpoint of a monitor, with the job name, the `kubernetes_sd_configs` entry and the
//! `relabel_configs` chain the Operator's `generateServiceMonitorConfig` and
//! `generatePodMonitorConfig` produce, rule for rule and in the same order, so that the
//! targets promlite derives from the same cluster carry the same labels (`job`,
//! `namespace`, `service`, `pod`, `container`, `endpoint`, target labels).
//! [`MonitorSelection`] decides first, as the Operator does, which monitors a
//! `Prometheus` resource picks up at all, and [`explain_service_monitor`] says in plain
//! words why a ServiceMonitor gives no target (not selected, no matching Service, a
//! port name no Service port has, `endpoints` written as a map).
//!
//! The serde types hold the fields that shape targets; the many others of the CRDs
//! (TLS, authorization, OAuth2, proxies, native histograms, scrape classes, enforced
//! namespace labels) are ignored when reading. Relabel rules take Prometheus 3's
//! UTF-8 label-name validation.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use promlite_model::ValidationScheme;
use promlite_relabel::{Action, Regex, RelabelConfig, RelabelConfigSpec};
use serde::Deserialize;

use super::{
    AttachMetadata, KubernetesSdConfig, NamespaceDiscovery, Role, SelectorConfig, sanitize,
};
use crate::{Error, PromDuration};

mod lint;

pub use lint::{Cluster, explain_service_monitor, parse_service_monitor};

/// A `monitoring.coreos.com/v1` ServiceMonitor: scrape the endpoints of the services
/// its selector picks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServiceMonitor {
    /// Name and namespace; the jobs are named after them.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to scrape.
    pub spec: ServiceMonitorSpec,
}

/// The `spec` of a [`ServiceMonitor`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// A service label whose value becomes the `job` label, instead of the service name.
    #[serde(default)]
    pub job_label: String,
    /// Service labels copied onto the targets.
    #[serde(default)]
    pub target_labels: Vec<String>,
    /// Pod labels copied onto the targets.
    #[serde(default)]
    pub pod_target_labels: Vec<String>,
    /// The service ports to scrape; one job each.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Which services, by their labels.
    #[serde(default)]
    pub selector: LabelSelector,
    /// `RelabelConfig` (the default) selects with relabel rules, `RoleSelector` with
    /// the SD configuration's `selectors`.
    #[serde(default)]
    pub selector_mechanism: Option<String>,
    /// Which namespaces to look in.
    #[serde(default)]
    pub namespace_selector: NamespaceSelector,
    /// `Endpoints` or `EndpointSlice`; the Prometheus resource's choice when absent.
    #[serde(default)]
    pub service_discovery_role: Option<String>,
    /// Whether to attach node metadata.
    #[serde(default)]
    pub attach_metadata: Option<MonitorAttachMetadata>,
    /// Scrape limits, copied to the job.
    #[serde(flatten)]
    pub limits: Limits,
}

/// One `endpoints` entry of a [`ServiceMonitorSpec`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The name of the service port to scrape.
    #[serde(default)]
    pub port: String,
    /// The pod port to scrape, by name or number, when `port` is empty.
    #[serde(default)]
    pub target_port: Option<IntOrString>,
    /// Shared scrape settings.
    #[serde(flatten)]
    pub scrape: ScrapeSettings,
}

/// A `monitoring.coreos.com/v1` PodMonitor: scrape the pods its selector picks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PodMonitor {
    /// Name and namespace; the jobs are named after them.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to scrape.
    pub spec: PodMonitorSpec,
}

/// The `spec` of a [`PodMonitor`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitorSpec {
    /// A pod label whose value becomes the `job` label, instead of `{ns}/{name}`.
    #[serde(default)]
    pub job_label: String,
    /// Pod labels copied onto the targets.
    #[serde(default)]
    pub pod_target_labels: Vec<String>,
    /// The pod ports to scrape; one job each.
    #[serde(default)]
    pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
    /// Which pods, by their labels.
    #[serde(default)]
    pub selector: LabelSelector,
    /// As for [`ServiceMonitorSpec::selector_mechanism`].
    #[serde(default)]
    pub selector_mechanism: Option<String>,
    /// Which namespaces to look in.
    #[serde(default)]
    pub namespace_selector: NamespaceSelector,
    /// Whether to attach node metadata.
    #[serde(default)]
    pub attach_metadata: Option<MonitorAttachMetadata>,
    /// Scrape limits, copied to the job.
    #[serde(flatten)]
    pub limits: Limits,
}

/// One `podMetricsEndpoints` entry of a [`PodMonitorSpec`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsEndpoint {
    /// The name of the container port to scrape.
    #[serde(default)]
    pub port: Option<String>,
    /// The number of the container port to scrape, when `port` is absent.
    #[serde(default)]
    pub port_number: Option<i32>,
    /// Deprecated: the container port by name or number.
    #[serde(default)]
    pub target_port: Option<IntOrString>,
    /// Shared scrape settings.
    #[serde(flatten)]
    pub scrape: ScrapeSettings,
}

/// The scrape settings shared by both kinds of endpoint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeSettings {
    /// `metrics_path`.
    #[serde(default)]
    pub path: String,
    /// `scheme`, any letter case.
    #[serde(default)]
    pub scheme: Option<String>,
    /// URL parameters.
    #[serde(default)]
    pub params: Option<BTreeMap<String, Vec<String>>>,
    /// `scrape_interval`.
    #[serde(default)]
    pub interval: String,
    /// `scrape_timeout`.
    #[serde(default)]
    pub scrape_timeout: String,
    /// `honor_labels`.
    #[serde(default)]
    pub honor_labels: bool,
    /// `honor_timestamps`.
    #[serde(default)]
    pub honor_timestamps: Option<bool>,
    /// Whether to drop targets of pods that have finished (the default).
    #[serde(default)]
    pub filter_running: Option<bool>,
    /// User rules appended to the generated `relabel_configs`.
    #[serde(default)]
    pub relabelings: Vec<MonitorRelabelConfig>,
    /// `metric_relabel_configs`.
    #[serde(default)]
    pub metric_relabelings: Vec<MonitorRelabelConfig>,
}

/// A relabel rule as written in a monitor: camelCase, every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorRelabelConfig {
    /// `source_labels`.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// `separator`.
    #[serde(default)]
    pub separator: Option<String>,
    /// `target_label`.
    #[serde(default)]
    pub target_label: String,
    /// `regex`; empty is the default.
    #[serde(default)]
    pub regex: String,
    /// `modulus`.
    #[serde(default)]
    pub modulus: u64,
    /// `replacement`.
    #[serde(default)]
    pub replacement: Option<String>,
    /// `action`, any letter case; empty is `replace`.
    #[serde(default)]
    pub action: String,
}

/// A monitor's `namespaceSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// All namespaces.
    #[serde(default)]
    pub any: bool,
    /// These namespaces; the monitor's own when empty.
    #[serde(default)]
    pub match_names: Vec<String>,
}

/// A monitor's `attachMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MonitorAttachMetadata {
    /// Attach the node's labels.
    #[serde(default)]
    pub node: Option<bool>,
}

/// A monitor's per-scrape limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// `sample_limit`.
    #[serde(default)]
    pub sample_limit: Option<u64>,
    /// `target_limit`.
    #[serde(default)]
    pub target_limit: Option<u64>,
    /// `label_limit`.
    #[serde(default)]
    pub label_limit: Option<u64>,
    /// `label_name_length_limit`.
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    /// `label_value_length_limit`.
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    /// `keep_dropped_targets`.
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
}

/// Settings of the Prometheus resource that shape every monitor's jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorOptions {
    /// The role of ServiceMonitor jobs that do not choose one: `endpoints` (the
    /// Operator's default) or `endpointslice`.
    pub endpoint_role: Role,
    /// Pod labels copied onto the targets of every monitor (`podTargetLabels`).
    pub pod_target_labels: Vec<String>,
    /// Watch only each monitor's own namespace (`ignoreNamespaceSelectors`).
    pub ignore_namespace_selectors: bool,
    /// The number of shards (`shards`, at least 1).
    pub shards: u32,
    /// This server's shard, what the Operator's config reloader substitutes for
    /// `$(SHARD)` in the generated rules.
    pub shard: u32,
}

impl Default for OperatorOptions {
    fn default() -> Self {
        OperatorOptions {
            endpoint_role: Role::Endpoints,
            pod_target_labels: Vec::new(),
            ignore_namespace_selectors: false,
            shards: 1,
            shard: 0,
        }
    }
}

/// A scrape job generated from a monitor endpoint: the part of a `scrape_configs` entry
/// that a monitor determines. Absent settings take the global defaults.
#[derive(Debug, Clone)]
pub struct ScrapeJob {
    /// `serviceMonitor/{namespace}/{name}/{index}` or `podMonitor/…`.
    pub job_name: String,
    /// `honor_labels`.
    pub honor_labels: bool,
    /// `honor_timestamps`.
    pub honor_timestamps: Option<bool>,
    /// `scrape_interval`.
    pub scrape_interval: Option<PromDuration>,
    /// `scrape_timeout`.
    pub scrape_timeout: Option<PromDuration>,
    /// `metrics_path`.
    pub metrics_path: Option<String>,
    /// `scheme`, lower case.
    pub scheme: Option<String>,
    /// `params`.
    pub params: BTreeMap<String, Vec<String>>,
    /// The job's only service discovery.
    pub kubernetes_sd_config: KubernetesSdConfig,
    /// `relabel_configs`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `metric_relabel_configs`.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// `sample_limit` and the other limits.
    pub limits: Limits,
}

impl ScrapeJob {
    /// The job as a `scrape_configs` entry of `prometheus.yml`, the text the Operator
    /// writes into the configuration Secret (settings left to the global defaults are
    /// omitted).
    ///
    /// ```
    /// use promlite_discovery::kubernetes::operator::{
    ///     OperatorOptions, ServiceMonitor, service_monitor_jobs,
    /// };
    /// let m: ServiceMonitor = serde_norway::from_str("
    /// metadata: {name: app, namespace: default}
    /// spec: {selector: {matchLabels: {app: app}}, endpoints: [{port: web}]}
    /// ").unwrap();
    /// let jobs = service_monitor_jobs(&m, &OperatorOptions::default()).unwrap();
    /// let yaml = jobs[0].to_yaml();
    /// assert!(yaml.starts_with("job_name: serviceMonitor/default/app/0\n"), "{yaml}");
    /// assert!(yaml.contains("role: endpoints"), "{yaml}");
    /// ```
    pub fn to_yaml(&self) -> String {
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            job_name: &'a str,
            honor_labels: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            honor_timestamps: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            scrape_interval: Option<PromDuration>,
            #[serde(skip_serializing_if = "Option::is_none")]
            scrape_timeout: Option<PromDuration>,
            #[serde(skip_serializing_if = "Option::is_none")]
            metrics_path: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            scheme: Option<&'a str>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            params: &'a BTreeMap<String, Vec<String>>,
            kubernetes_sd_configs: [&'a KubernetesSdConfig; 1],
            relabel_configs: &'a [RelabelConfig],
            #[serde(skip_serializing_if = "<[RelabelConfig]>::is_empty")]
            metric_relabel_configs: &'a [RelabelConfig],
            #[serde(skip_serializing_if = "Option::is_none")]
            sample_limit: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            target_limit: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            label_limit: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            label_name_length_limit: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            label_value_length_limit: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            keep_dropped_targets: Option<u64>,
        }
        let entry = Entry {
            job_name: &self.job_name,
            honor_labels: self.honor_labels,
            honor_timestamps: self.honor_timestamps,
            scrape_interval: self.scrape_interval,
            scrape_timeout: self.scrape_timeout,
            metrics_path: self.metrics_path.as_deref(),
            scheme: self.scheme.as_deref(),
            params: &self.params,
            kubernetes_sd_configs: [&self.kubernetes_sd_config],
            relabel_configs: &self.relabel_configs,
            metric_relabel_configs: &self.metric_relabel_configs,
            sample_limit: self.limits.sample_limit,
            target_limit: self.limits.target_limit,
            label_limit: self.limits.label_limit,
            label_name_length_limit: self.limits.label_name_length_limit,
            label_value_length_limit: self.limits.label_value_length_limit,
            keep_dropped_targets: self.limits.keep_dropped_targets,
        };
        // Serializing plain strings, numbers and lists cannot fail.
        serde_norway::to_string(&entry).unwrap_or_default()
    }
}

/// A rule under construction: the Operator writes its rules as YAML maps with only the
/// keys it needs, the others taking Prometheus's defaults.
fn rule(action: Action, sources: &[&str], regex: Option<&str>) -> Rule {
    Rule {
        spec: RelabelConfigSpec {
            source_labels: (!sources.is_empty())
                .then(|| sources.iter().map(|s| (*s).to_owned()).collect()),
            ..RelabelConfigSpec::new(action)
        },
        regex: regex.map(str::to_owned),
    }
}

/// A `replace` rule from `sources` to `target`.
fn replace(sources: &[&str], target: &str) -> Rule {
    let mut r = rule(Action::Replace, sources, None);
    target.clone_into(&mut r.spec.target_label);
    r
}

/// A rule whose regex is still text, compiled when the job is finished so that an
/// invalid one becomes the job's error.
struct Rule {
    spec: RelabelConfigSpec,
    regex: Option<String>,
}

impl Rule {
    fn regex(mut self, regex: &str) -> Rule {
        self.regex = Some(regex.to_owned());
        self
    }

    fn replacement(mut self, replacement: &str) -> Rule {
        replacement.clone_into(&mut self.spec.replacement);
        self
    }

    fn build(self, job: &str) -> Result<RelabelConfig, Error> {
        let mut spec = self.spec;
        if let Some(re) = self.regex {
            spec.regex = Some(
                re.parse::<Regex>()
                    .map_err(|e| invalid(job, "relabeling", e))?,
            );
        }
        spec.build(ValidationScheme::Utf8)
            .map_err(|e| invalid(job, "relabeling", e))
    }
}

fn invalid(job: &str, what: &str, e: promlite_relabel::Error) -> Error {
    Error::InvalidMonitor {
        monitor: job.to_owned(),
        reason: format!("invalid {what}"),
        source: Some(e),
    }
}

/// A user rule as the Operator's `generateRelabelConfig` writes it out.
fn user_rule(job: &str, c: &MonitorRelabelConfig) -> Result<Rule, Error> {
    let action = if c.action.is_empty() {
        Action::Replace
    } else {
        c.action
            .parse::<Action>()
            .map_err(|e| invalid(job, "relabeling", e))?
    };
    let mut r = Rule {
        spec: RelabelConfigSpec {
            source_labels: (!c.source_labels.is_empty()).then(|| c.source_labels.clone()),
            modulus: c.modulus,
            target_label: c.target_label.clone(),
            ..RelabelConfigSpec::new(action)
        },
        regex: (!c.regex.is_empty()).then(|| c.regex.clone()),
    };
    if let Some(s) = &c.separator {
        r.spec.separator.clone_from(s);
    }
    if let Some(s) = &c.replacement {
        r.spec.replacement.clone_from(s);
    }
    Ok(r)
}

/// The selector as keep/drop rules on `__meta_kubernetes_{kind}_label*`. Match-label
/// values go into the regex unescaped, as the Operator writes them.
fn selector_rules(rules: &mut Vec<Rule>, selector: &LabelSelector, kind: &str) {
    let label = |k: &str| format!("__meta_kubernetes_{kind}_label_{}", sanitize(k));
    let present = |k: &str| format!("__meta_kubernetes_{kind}_labelpresent_{}", sanitize(k));
    for (k, v) in selector.match_labels.iter().flatten() {
        rules.push(
            rule(Action::Keep, &[&label(k), &present(k)], None).regex(&format!("({v});true")),
        );
    }
    for exp in selector.match_expressions.iter().flatten() {
        let values = exp.values.as_deref().unwrap_or_default().join("|");
        let k = exp.key.as_str();
        rules.push(match exp.operator.as_str() {
            "In" => rule(Action::Keep, &[&label(k), &present(k)], None)
                .regex(&format!("({values});true")),
            "NotIn" => rule(Action::Drop, &[&label(k), &present(k)], None)
                .regex(&format!("({values});true")),
            "Exists" => rule(Action::Keep, &[&present(k)], None).regex("true"),
            "DoesNotExist" => rule(Action::Drop, &[&present(k)], None).regex("true"),
            // The API server rejects other operators; the Operator skips them.
            _ => continue,
        });
    }
}

/// Whether the selector becomes relabel rules (the default) rather than SD selectors.
fn relabel_mechanism(mechanism: Option<&String>) -> bool {
    mechanism.is_none_or(|m| m == "RelabelConfig")
}

/// `(.+)`-guarded copies of `{prefix}{label}` to the sanitized label.
fn copy_labels<'a>(rules: &mut Vec<Rule>, prefix: &str, labels: impl Iterator<Item = &'a String>) {
    for l in labels {
        let l = sanitize(l);
        rules.push(
            replace(&[&format!("{prefix}{l}")], &l)
                .regex("(.+)")
                .replacement("${1}"),
        );
    }
}

/// The rules a TargetPort adds: keep on the pod's container port name or number.
fn target_port_rule(rules: &mut Vec<Rule>, port: Option<&IntOrString>) {
    match port {
        Some(IntOrString::String(s)) if !s.is_empty() => rules.push(
            rule(
                Action::Keep,
                &["__meta_kubernetes_pod_container_port_name"],
                None,
            )
            .regex(s),
        ),
        Some(IntOrString::Int(n)) if *n != 0 => rules.push(
            rule(
                Action::Keep,
                &["__meta_kubernetes_pod_container_port_number"],
                None,
            )
            .regex(&n.to_string()),
        ),
        _ => {}
    }
}

/// TargetPort as the Operator's `IntOrString.String()` prints it.
fn target_port_string(port: Option<&IntOrString>) -> Option<String> {
    match port? {
        IntOrString::String(s) if s.is_empty() => None,
        IntOrString::String(s) => Some(s.clone()),
        IntOrString::Int(n) => Some(n.to_string()),
    }
}

/// The hashmod sharding rules that end every generated chain: a target is kept by the
/// shard its address hashes to, unless `__tmp_disable_sharding` is set.
fn sharding_rules(rules: &mut Vec<Rule>, opts: &OperatorOptions) {
    rules.push(
        replace(&["__address__", "__tmp_hash"], "__tmp_hash")
            .regex("(.+);")
            .replacement("$1"),
    );
    let mut hash = rule(Action::HashMod, &["__tmp_hash"], None);
    "__tmp_hash".clone_into(&mut hash.spec.target_label);
    hash.spec.modulus = u64::from(opts.shards.max(1));
    rules.push(hash);
    rules.push(
        rule(
            Action::Keep,
            &["__tmp_hash", "__tmp_disable_sharding"],
            None,
        )
        .regex(&format!("{};|.+;.+", opts.shard)),
    );
}

/// The namespaces the SD watches: the monitor's own unless the selector says
/// otherwise, all (none listed) for `any`.
fn namespaces(sel: &NamespaceSelector, own: &str, opts: &OperatorOptions) -> Vec<String> {
    if opts.ignore_namespace_selectors {
        vec![own.to_owned()]
    } else if sel.any {
        Vec::new()
    } else if sel.match_names.is_empty() {
        vec![own.to_owned()]
    } else {
        sel.match_names.clone()
    }
}

/// The selector in Kubernetes's string form (apimachinery's `Selector.String()`), as
/// the `RoleSelector` mechanism writes it into the SD configuration: requirements
/// sorted by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, values sorted.
fn label_selector_string(sel: &LabelSelector) -> String {
    let mut reqs: Vec<(&str, String)> = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        reqs.push((k, format!("{k}={v}")));
    }
    for e in sel.match_expressions.iter().flatten() {
        let mut values: Vec<&str> = e.values.iter().flatten().map(String::as_str).collect();
        values.sort_unstable();
        let values = values.join(",");
        let k = e.key.as_str();
        let text = match e.operator.as_str() {
            "In" => format!("{k} in ({values})"),
            "NotIn" => format!("{k} notin ({values})"),
            "Exists" => k.to_owned(),
            "DoesNotExist" => format!("!{k}"),
            _ => continue,
        };
        reqs.push((k, text));
    }
    reqs.sort_by(|a, b| a.0.cmp(b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// The SD `selectors` of the `RoleSelector` mechanism: the monitor's selector for each
/// role the job watches; none under the default relabeling mechanism.
fn role_selectors(
    mechanism: Option<&String>,
    selector: &LabelSelector,
    roles: &[Role],
) -> Vec<SelectorConfig> {
    if relabel_mechanism(mechanism) {
        return Vec::new();
    }
    let label = label_selector_string(selector);
    roles
        .iter()
        .map(|&role| SelectorConfig {
            role,
            label: label.clone(),
            field: String::new(),
        })
        .collect()
}

fn sd_config(
    role: Role,
    names: Vec<String>,
    attach: Option<&MonitorAttachMetadata>,
    selectors: Vec<SelectorConfig>,
) -> KubernetesSdConfig {
    KubernetesSdConfig {
        api_server: None,
        role,
        kubeconfig_file: String::new(),
        namespaces: NamespaceDiscovery {
            own_namespace: false,
            names,
        },
        selectors,
        attach_metadata: AttachMetadata {
            node: attach.and_then(|a| a.node).unwrap_or(false),
            ..AttachMetadata::default()
        },
        http: crate::HttpClientConfig::default(),
    }
}

/// Builds a job from its generated rules and an endpoint's settings.
fn finish(
    job_name: String,
    rules: Vec<Rule>,
    s: &ScrapeSettings,
    sd: KubernetesSdConfig,
    limits: &Limits,
) -> Result<ScrapeJob, Error> {
    let duration = |text: &str, what: &str| -> Result<Option<PromDuration>, Error> {
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|e: Error| Error::InvalidMonitor {
                monitor: job_name.clone(),
                reason: format!("invalid {what}: {e}"),
                source: None,
            })
    };
    let scrape_interval = duration(&s.interval, "interval")?;
    let scrape_timeout = duration(&s.scrape_timeout, "scrapeTimeout")?;
    let relabel_configs = rules
        .into_iter()
        .map(|r| r.build(&job_name))
        .collect::<Result<_, _>>()?;
    let metric_relabel_configs = s
        .metric_relabelings
        .iter()
        .map(|c| user_rule(&job_name, c)?.build(&job_name))
        .collect::<Result<_, _>>()?;
    Ok(ScrapeJob {
        honor_labels: s.honor_labels,
        honor_timestamps: s.honor_timestamps,
        scrape_interval,
        scrape_timeout,
        metrics_path: (!s.path.is_empty()).then(|| s.path.clone()),
        scheme: s.scheme.as_deref().map(str::to_lowercase),
        params: s.params.clone().unwrap_or_default(),
        kubernetes_sd_config: sd,
        relabel_configs,
        metric_relabel_configs,
        limits: limits.clone(),
        job_name,
    })
}

/// The first rule of every chain: the configured job name, kept in
/// `__tmp_prometheus_job_name` for user relabelings to read.
fn init_rules() -> Vec<Rule> {
    vec![replace(&["job"], "__tmp_prometheus_job_name")]
}

fn filter_running(rules: &mut Vec<Rule>, s: &ScrapeSettings) {
    if s.filter_running.unwrap_or(true) {
        rules.push(
            rule(Action::Drop, &["__meta_kubernetes_pod_phase"], None).regex("(Failed|Succeeded)"),
        );
    }
}

/// The scrape jobs of a ServiceMonitor, one per endpoint, as the Operator generates
/// them.
pub fn service_monitor_jobs(
    m: &ServiceMonitor,
    opts: &OperatorOptions,
) -> Result<Vec<ScrapeJob>, Error> {
    let ns = m.metadata.namespace.as_deref().unwrap_or("");
    let name = m.metadata.name.as_deref().unwrap_or("");
    let spec = &m.spec;
    let role = match spec.service_discovery_role.as_deref() {
        Some("EndpointSlice") => Role::EndpointSlice,
        Some(_) => Role::Endpoints,
        None => opts.endpoint_role,
    };
    let (port_name, target_kind, target_name) = if role == Role::EndpointSlice {
        (
            "__meta_kubernetes_endpointslice_port_name",
            "__meta_kubernetes_endpointslice_address_target_kind",
            "__meta_kubernetes_endpointslice_address_target_name",
        )
    } else {
        (
            "__meta_kubernetes_endpoint_port_name",
            "__meta_kubernetes_endpoint_address_target_kind",
            "__meta_kubernetes_endpoint_address_target_name",
        )
    };
    let mut jobs = Vec::with_capacity(spec.endpoints.len());
    for (i, ep) in spec.endpoints.iter().enumerate() {
        let job_name = format!("serviceMonitor/{ns}/{name}/{i}");
        let mut rules = init_rules();
        if relabel_mechanism(spec.selector_mechanism.as_ref()) {
            selector_rules(&mut rules, &spec.selector, "service");
        }
        if ep.port.is_empty() {
            target_port_rule(&mut rules, ep.target_port.as_ref());
        } else {
            rules.push(rule(Action::Keep, &[port_name], None).regex(&ep.port));
        }
        rules.push(
            replace(&[target_kind, target_name], "node")
                .regex("Node;(.*)")
                .replacement("${1}"),
        );
        rules.push(
            replace(&[target_kind, target_name], "pod")
                .regex("Pod;(.*)")
                .replacement("${1}"),
        );
        rules.push(replace(&["__meta_kubernetes_namespace"], "namespace"));
        rules.push(replace(&["__meta_kubernetes_service_name"], "service"));
        rules.push(replace(&["__meta_kubernetes_pod_name"], "pod"));
        rules.push(replace(
            &["__meta_kubernetes_pod_container_name"],
            "container",
        ));
        filter_running(&mut rules, &ep.scrape);
        copy_labels(
            &mut rules,
            "__meta_kubernetes_service_label_",
            spec.target_labels.iter(),
        );
        copy_labels(
            &mut rules,
            "__meta_kubernetes_pod_label_",
            spec.pod_target_labels.iter().chain(&opts.pod_target_labels),
        );
        rules.push(replace(&["__meta_kubernetes_service_name"], "job").replacement("${1}"));
        if !spec.job_label.is_empty() {
            copy_job_label(&mut rules, "service", &spec.job_label);
        }
        let endpoint = if ep.port.is_empty() {
            target_port_string(ep.target_port.as_ref())
        } else {
            Some(ep.port.clone())
        };
        if let Some(e) = endpoint {
            rules.push(replace(&[], "endpoint").replacement(&e));
        }
        for c in &ep.scrape.relabelings {
            rules.push(user_rule(&job_name, c)?);
        }
        sharding_rules(&mut rules, opts);
        let sd = sd_config(
            role,
            namespaces(&spec.namespace_selector, ns, opts),
            spec.attach_metadata.as_ref(),
            role_selectors(
                spec.selector_mechanism.as_ref(),
                &spec.selector,
                &[role, Role::Service],
            ),
        );
        jobs.push(finish(job_name, rules, &ep.scrape, sd, &spec.limits)?);
    }
    Ok(jobs)
}

fn copy_job_label(rules: &mut Vec<Rule>, kind: &str, label: &str) {
    rules.push(
        replace(
            &[&format!(
                "__meta_kubernetes_{kind}_label_{}",
                sanitize(label)
            )],
            "job",
        )
        .regex("(.+)")
        .replacement("${1}"),
    );
}

/// The scrape jobs of a PodMonitor, one per endpoint, as the Operator generates them.
pub fn pod_monitor_jobs(m: &PodMonitor, opts: &OperatorOptions) -> Result<Vec<ScrapeJob>, Error> {
    let ns = m.metadata.namespace.as_deref().unwrap_or("");
    let name = m.metadata.name.as_deref().unwrap_or("");
    let spec = &m.spec;
    let mut jobs = Vec::with_capacity(spec.pod_metrics_endpoints.len());
    for (i, ep) in spec.pod_metrics_endpoints.iter().enumerate() {
        let job_name = format!("podMonitor/{ns}/{name}/{i}");
        let mut rules = init_rules();
        filter_running(&mut rules, &ep.scrape);
        if relabel_mechanism(spec.selector_mechanism.as_ref()) {
            selector_rules(&mut rules, &spec.selector, "pod");
        }
        let port = ep.port.as_deref().filter(|p| !p.is_empty());
        if let Some(p) = port {
            rules.push(
                rule(
                    Action::Keep,
                    &["__meta_kubernetes_pod_container_port_name"],
                    None,
                )
                .regex(p),
            );
        } else if let Some(n) = ep.port_number.filter(|n| *n != 0) {
            rules.push(
                rule(
                    Action::Keep,
                    &["__meta_kubernetes_pod_container_port_number"],
                    None,
                )
                .regex(&n.to_string()),
            );
        } else {
            target_port_rule(&mut rules, ep.target_port.as_ref());
        }
        rules.push(replace(&["__meta_kubernetes_namespace"], "namespace"));
        rules.push(replace(
            &["__meta_kubernetes_pod_container_name"],
            "container",
        ));
        rules.push(replace(&["__meta_kubernetes_pod_name"], "pod"));
        copy_labels(
            &mut rules,
            "__meta_kubernetes_pod_label_",
            spec.pod_target_labels.iter().chain(&opts.pod_target_labels),
        );
        rules.push(replace(&[], "job").replacement(&format!("{ns}/{name}")));
        if !spec.job_label.is_empty() {
            copy_job_label(&mut rules, "pod", &spec.job_label);
        }
        // A port number alone names no endpoint: the Operator sets `endpoint` only
        // from a port name or the deprecated targetPort.
        let endpoint = port.map_or_else(
            || target_port_string(ep.target_port.as_ref()),
            |p| Some(p.to_owned()),
        );
        if let Some(e) = endpoint {
            rules.push(replace(&[], "endpoint").replacement(&e));
        }
        for c in &ep.scrape.relabelings {
            rules.push(user_rule(&job_name, c)?);
        }
        sharding_rules(&mut rules, opts);
        let sd = sd_config(
            Role::Pod,
            namespaces(&spec.namespace_selector, ns, opts),
            spec.attach_metadata.as_ref(),
            role_selectors(
                spec.selector_mechanism.as_ref(),
                &spec.selector,
                &[Role::Pod],
            ),
        );
        jobs.push(finish(job_name, rules, &ep.scrape, sd, &spec.limits)?);
    }
    Ok(jobs)
}

/// Which monitors a `Prometheus` resource picks up: its `serviceMonitorSelector` and
/// `serviceMonitorNamespaceSelector` (or the `podMonitor…` pair), as the Operator
/// applies them before generating any job.
///
/// The Operator's conventions hold: a null selector selects no monitor and an empty one
/// every monitor; a null namespace selector means the Prometheus resource's own
/// namespace and an empty one every namespace. In the usual kube-prometheus-stack
/// install the selector is `matchLabels: {release: <release name>}`, which is why a
/// ServiceMonitor without that label is ignored.
///
/// ```
/// use promlite_discovery::kubernetes::operator::MonitorSelection;
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
///
/// let stack: MonitorSelection = serde_norway::from_str(
///     "{selector: {matchLabels: {release: prometheus-stack}}, namespaceSelector: {}}",
/// ).unwrap();
/// let monitor = |labels: &[(&str, &str)]| ObjectMeta {
///     namespace: Some("default".into()),
///     labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
///     ..ObjectMeta::default()
/// };
/// let no_labels = |_: &str| None;
/// assert!(stack.selects(&monitor(&[("release", "prometheus-stack")]), "monitoring", no_labels));
/// assert!(!stack.selects(&monitor(&[("app", "sample-app")]), "monitoring", no_labels));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorSelection {
    /// The monitors' labels must match; none are selected when absent.
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    /// Their namespace's labels must match; the Prometheus resource's own namespace
    /// when absent.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
}

impl MonitorSelection {
    /// Whether a monitor with metadata `monitor` is selected by a Prometheus resource
    /// in `prometheus_namespace`. `namespace_labels` gives a namespace's labels, for a
    /// namespace selector with requirements; an unknown namespace has none.
    pub fn selects<'a>(
        &self,
        monitor: &ObjectMeta,
        prometheus_namespace: &str,
        namespace_labels: impl Fn(&str) -> Option<&'a BTreeMap<String, String>>,
    ) -> bool {
        let empty = BTreeMap::new();
        let Some(selector) = &self.selector else {
            return false;
        };
        if !label_selector_matches(selector, monitor.labels.as_ref().unwrap_or(&empty)) {
            return false;
        }
        let namespace = monitor.namespace.as_deref().unwrap_or("");
        match &self.namespace_selector {
            None => namespace == prometheus_namespace,
            Some(sel) => label_selector_matches(sel, namespace_labels(namespace).unwrap_or(&empty)),
        }
    }
}

/// Whether `labels` satisfy a label selector, as apimachinery evaluates one: every
/// `matchLabels` pair present, and every expression true (`In`: present with one of the
/// values; `NotIn`: absent or none of them; `Exists`; `DoesNotExist`). An unknown
/// operator, which the API server would have refused, matches nothing. An empty
/// selector matches everything.
pub fn label_selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    pairs
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod selection_tests {
    use super::*;

    #[test]
    fn label_selector_table() {
        let labels: BTreeMap<String, String> = [("app", "web"), ("tier", "front")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let cases: &[(&str, bool)] = &[
            ("{}", true),
            ("matchLabels: {app: web}", true),
            ("matchLabels: {app: web, tier: back}", false),
            (
                "matchExpressions: [{key: app, operator: In, values: [api, web]}]",
                true,
            ),
            (
                "matchExpressions: [{key: app, operator: In, values: [api]}]",
                false,
            ),
            (
                "matchExpressions: [{key: env, operator: NotIn, values: [prod]}]",
                true,
            ),
            (
                "matchExpressions: [{key: app, operator: NotIn, values: [web]}]",
                false,
            ),
            ("matchExpressions: [{key: tier, operator: Exists}]", true),
            (
                "matchExpressions: [{key: tier, operator: DoesNotExist}]",
                false,
            ),
            (
                "matchExpressions: [{key: tier, operator: Gt, values: ['1']}]",
                false,
            ),
        ];
        for (yaml, want) in cases {
            let sel: LabelSelector = serde_norway::from_str(yaml).unwrap();
            assert_eq!(label_selector_matches(&sel, &labels), *want, "{yaml}");
        }
    }

    #[test]
    fn null_and_empty_selectors_follow_the_operator() {
        let monitor = ObjectMeta {
            namespace: Some("apps".to_owned()),
            ..ObjectMeta::default()
        };
        let team: BTreeMap<String, String> = [("team".to_owned(), "a".to_owned())].into();
        let ns = |n: &str| (n == "apps").then_some(&team);
        let sel = |yaml: &str| -> MonitorSelection { serde_norway::from_str(yaml).unwrap() };
        // No selector: nothing is picked up.
        assert!(!sel("{}").selects(&monitor, "apps", ns));
        // Empty selector, no namespace selector: the Prometheus resource's namespace.
        assert!(sel("selector: {}").selects(&monitor, "apps", ns));
        assert!(!sel("selector: {}").selects(&monitor, "monitoring", ns));
        // Empty namespace selector: every namespace; with requirements, by labels.
        assert!(sel("{selector: {}, namespaceSelector: {}}").selects(&monitor, "monitoring", ns));
        assert!(
            sel("{selector: {}, namespaceSelector: {matchLabels: {team: a}}}").selects(
                &monitor,
                "monitoring",
                ns
            )
        );
        assert!(
            !sel("{selector: {}, namespaceSelector: {matchLabels: {team: b}}}").selects(
                &monitor,
                "monitoring",
                ns
            )
        );
    }
}
