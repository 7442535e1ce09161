//! Targets: turning discovered label sets into scrape targets (Prometheus's
//! `PopulateLabels`), their URLs, start offsets and health.

use std::hash::Hasher;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use promlite_discovery::{PromDuration, TargetGroup};
use promlite_model::{
    Labels, LabelsBuilder, Metadata, ValidationScheme, go_quote, is_valid_label_name,
};
use promlite_relabel::{RelabelConfig, relabel, trace};

use crate::append::SharedMetadata;
use crate::{Error, ScrapeConfig};

/// The label holding a target's address.
pub const ADDRESS_LABEL: &str = "__address__";
/// The label holding a target's scheme.
pub const SCHEME_LABEL: &str = "__scheme__";
/// The label holding a target's metrics path.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// The label holding a target's scrape interval.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// The label holding a target's scrape timeout.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// The prefix of labels that set URL parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// The prefix of discovery's meta labels, removed after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";

/// A target's health as the targets page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// `"unknown"`, `"up"` or `"down"`, as Prometheus's API spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of a target's last scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetState {
    /// Health after the last scrape.
    pub health: Health,
    /// When the last scrape started.
    pub last_scrape: Option<SystemTime>,
    /// How long it took.
    pub last_duration: Duration,
    /// Why it failed, if it did.
    pub last_error: Option<String>,
    /// Samples it returned (before metric relabeling).
    pub last_samples: u64,
}

/// A scrape target: its final labels, the labels discovery gave it, and its state.
#[derive(Debug)]
pub struct Target {
    labels: Labels,
    discovered: Labels,
    url: String,
    interval: Duration,
    timeout: Duration,
    state: Mutex<TargetState>,
    metadata: SharedMetadata,
}

impl Target {
    /// A target with the given labels after relabeling (internal `__` labels included)
    /// and the labels before.
    pub fn new(
        labels: Labels,
        discovered: Labels,
        params: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Target {
        let get = |n: &str| labels.get(n).unwrap_or_default();
        let mut url = format!(
            "{}://{}{}",
            get(SCHEME_LABEL),
            get(ADDRESS_LABEL),
            get(METRICS_PATH_LABEL)
        );
        // Parameters: the configured ones, each overridden by its `__param_` label.
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for (name, values) in params {
            if labels.has(&format!("{PARAM_LABEL_PREFIX}{name}")) {
                continue;
            }
            for v in values {
                query.append_pair(name, v);
                any = true;
            }
        }
        for l in &labels {
            if let Some(name) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
                query.append_pair(name, l.value);
                any = true;
            }
        }
        if any {
            url.push('?');
            url.push_str(&query.finish());
        }
        let dur = |n: &str| {
            get(n)
                .parse::<PromDuration>()
                .map(PromDuration::as_std)
                .unwrap_or_default()
        };
        Target {
            interval: dur(SCRAPE_INTERVAL_LABEL),
            timeout: dur(SCRAPE_TIMEOUT_LABEL),
            labels,
            discovered,
            url,
            state: Mutex::new(TargetState::default()),
            metadata: SharedMetadata::default(),
        }
    }

    /// All labels after relabeling, internal `__` labels included.
    pub fn labels_with_internal(&self) -> &Labels {
        &self.labels
    }

    /// The labels the target's series get: those not starting with `__`.
    pub fn labels(&self) -> Labels {
        self.labels.retain(|l| !l.name.starts_with("__"))
    }

    /// The labels discovery gave it, before relabeling.
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered
    }

    /// The URL scraped.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The scrape interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The scrape timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The outcome of the last scrape.
    pub fn state(&self) -> TargetState {
        self.state.lock().clone()
    }

    /// Records the outcome of the last scrape. The scrape manager's loops call it; so
    /// may whatever collects a target some other way (the facade's in-process
    /// registries), to show it in the API and UI as scrapes are shown.
    pub fn set_state(&self, s: TargetState) {
        *self.state.lock() = s;
    }

    /// The same target, shown with `url` as what is scraped: for a target collected
    /// without HTTP (`in-process`).
    pub fn with_url(mut self, url: impl Into<String>) -> Target {
        self.url = url.into();
        self
    }

    /// The metric metadata (type, help, unit) the target's scrapes reported, by metric
    /// family name, sorted by name: what Prometheus's `/api/v1/targets/metadata` lists.
    /// A family stays for 10 scrapes after the target last reported it.
    pub fn metadata(&self) -> Vec<(String, Metadata)> {
        self.metadata.list()
    }

    /// The metadata of one metric family, if the target's scrapes reported it.
    pub fn metadata_for(&self, family: &str) -> Option<Metadata> {
        self.metadata.get(family)
    }

    /// The metadata the target's scrape loop writes.
    pub(crate) fn shared_metadata(&self) -> SharedMetadata {
        self.metadata.clone()
    }

    /// A hash of the labels and URL that identifies the target within its pool.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv64a::default();
        h.write(self.labels.to_string().as_bytes());
        h.write(self.url.as_bytes());
        h.finish()
    }

    /// How long to wait before the first scrape so that targets spread over the
    /// interval: Prometheus's `Target.offset`, pinned to absolute time so every restart
    /// of the loop keeps the same phase.
    pub fn offset(&self, now: SystemTime, seed: u64) -> Duration {
        offset(self.hash(), self.interval, now, seed)
    }
}

/// Prometheus's offset formula for a target of hash `hash`.
pub fn offset(hash: u64, interval: Duration, now: SystemTime, seed: u64) -> Duration {
    let iv = interval.as_nanos() as u64;
    if iv == 0 {
        return Duration::ZERO;
    }
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let base = iv - now % iv;
    let off = (hash ^ seed) % iv;
    let mut next = base + off;
    if next > iv {
        next -= iv;
    }
    Duration::from_nanos(next)
}

/// 64-bit FNV-1a, as Prometheus hashes target identities.
#[derive(Debug)]
pub(crate) struct Fnv64a(u64);

impl Default for Fnv64a {
    fn default() -> Self {
        Fnv64a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64a {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// What [`populate_labels`] made of one discovered target.
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    /// A target to scrape: its labels after relabeling, and before.
    Active {
        /// After relabeling (internal labels kept, `__meta_*` removed).
        labels: Labels,
        /// Before relabeling.
        discovered: Labels,
    },
    /// Relabeling dropped it; kept for the targets page.
    Dropped {
        /// Before relabeling.
        discovered: Labels,
    },
}

/// Prometheus's `PopulateLabels`: adds the job's defaults to a discovered label set
/// (group labels under target labels), relabels it, checks the result and defaults
/// `instance` to the address.
pub fn populate_labels(
    target: &Labels,
    group: &Labels,
    cfg: &ScrapeConfig,
    b: &mut LabelsBuilder,
) -> Result<Populated, Error> {
    b.reset(group);
    for l in target {
        b.set(l.name, l.value);
    }
    let interval = cfg.interval().to_string();
    let timeout = cfg.timeout().to_string();
    let defaults = [
        ("job", cfg.job_name.as_str()),
        (SCRAPE_INTERVAL_LABEL, interval.as_str()),
        (SCRAPE_TIMEOUT_LABEL, timeout.as_str()),
        (METRICS_PATH_LABEL, cfg.metrics_path.as_str()),
        (SCHEME_LABEL, cfg.scheme.as_str()),
    ];
    for (n, v) in defaults {
        if b.get(n).is_none_or(str::is_empty) {
            b.set(n, v);
        }
    }
    for (name, values) in &cfg.params {
        let key = format!("{PARAM_LABEL_PREFIX}{name}");
        if b.get(&key).is_none_or(str::is_empty)
            && let Some(v) = values.first()
        {
            b.set(&key, v);
        }
    }
    let discovered = b.build();
    let Some(relabeled) = relabel(&discovered, &cfg.relabel_configs, b) else {
        return Ok(Populated::Dropped { discovered });
    };
    let addr = relabeled.get(ADDRESS_LABEL).unwrap_or_default();
    if addr.is_empty() {
        return Err(Error::InvalidTarget("no address".into()));
    }
    if addr.contains('/') {
        return Err(Error::InvalidTarget(format!(
            "{} is not a valid hostname",
            go_quote(addr)
        )));
    }
    let parse = |n: &str, what: &str| -> Result<Duration, Error> {
        relabeled
            .get(n)
            .unwrap_or_default()
            .parse::<PromDuration>()
            .map(PromDuration::as_std)
            .map_err(|e| Error::InvalidTarget(format!("error parsing {what}: {e}")))
    };
    let iv = parse(SCRAPE_INTERVAL_LABEL, "scrape interval")?;
    let to = parse(SCRAPE_TIMEOUT_LABEL, "scrape timeout")?;
    if iv.is_zero() {
        return Err(Error::InvalidTarget("scrape interval cannot be 0".into()));
    }
    if to.is_zero() {
        return Err(Error::InvalidTarget("scrape timeout cannot be 0".into()));
    }
    if to > iv {
        return Err(Error::InvalidTarget(format!(
            "scrape timeout cannot be greater than scrape interval ({} > {})",
            go_quote(relabeled.get(SCRAPE_TIMEOUT_LABEL).unwrap_or_default()),
            go_quote(relabeled.get(SCRAPE_INTERVAL_LABEL).unwrap_or_default())
        )));
    }
    b.reset(&relabeled);
    for l in &relabeled {
        if l.name.starts_with(META_LABEL_PREFIX) {
            b.del(l.name);
        }
    }
    if b.get("instance").is_none_or(str::is_empty) {
        let addr = addr.to_owned();
        b.set("instance", &addr);
    }
    let labels = b.build();
    for l in &labels {
        if !is_valid_label_name(l.name, ValidationScheme::Utf8) {
            return Err(Error::InvalidTarget(format!(
                "invalid label name {}",
                go_quote(l.name)
            )));
        }
    }
    Ok(Populated::Active { labels, discovered })
}

/// One rule of a job's `relabel_configs` and what the chain up to it made of a target:
/// an entry of Prometheus's `/api/v1/targets/relabel_steps` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelStep {
    /// The rule.
    pub rule: RelabelConfig,
    /// The labels after this rule (and every one before it); empty once a rule dropped
    /// the target, as Prometheus's `relabel.Process` returns them.
    pub output: Labels,
    /// Whether the target is still kept after this rule.
    pub keep: bool,
}

/// The relabel-step trace of Prometheus's `targetRelabelSteps`: for each rule of
/// `rules`, the outcome of the chain up to and including it, applied to `labels` (a
/// target's discovered labels). Unlike [`trace`], which stops at a drop, there is one
/// step per rule: the rules after a drop are listed with `keep: false`, as Prometheus
/// lists them.
pub fn relabel_steps(labels: &Labels, rules: &[RelabelConfig]) -> Vec<RelabelStep> {
    let mut traced = trace(labels, rules).into_iter();
    rules
        .iter()
        .map(|rule| {
            let output = traced.next().and_then(|s| s.output);
            RelabelStep {
                rule: rule.clone(),
                keep: output.is_some(),
                output: output.unwrap_or_else(Labels::empty),
            }
        })
        .collect()
}

/// The index of the rule of `rules` that drops `labels`, if one does.
pub(crate) fn dropping_rule(labels: &Labels, rules: &[RelabelConfig]) -> Option<usize> {
    trace(labels, rules)
        .last()
        .filter(|s| s.dropped())
        .map(|s| s.index)
}

/// Every target of `groups`, populated; errors are returned with the discovered labels
/// of the target they concern, as Prometheus logs them and moves on.
pub fn targets_from_groups(
    groups: &[TargetGroup],
    cfg: &ScrapeConfig,
) -> (Vec<Populated>, Vec<(Labels, Error)>) {
    let mut b = LabelsBuilder::new();
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for g in groups {
        for t in &g.targets {
            match populate_labels(t, &g.labels, cfg, &mut b) {
                Ok(p) => out.push(p),
                Err(e) => errs.push((t.clone(), e)),
            }
        }
    }
    (out, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populate_adds_defaults_and_instance() {
        let cfg: ScrapeConfig = serde_norway::from_str(
            "job_name: node\nparams: {module: [cpu]}\nrelabel_configs:\n- source_labels: [__meta_x]\n  target_label: x\n",
        )
        .unwrap();
        let t = Labels::from_pairs([("__address__", "h:9100"), ("__meta_x", "1")]);
        let g = Labels::from_pairs([("env", "prod")]);
        let Populated::Active { labels, discovered } =
            populate_labels(&t, &g, &cfg, &mut LabelsBuilder::new()).unwrap()
        else {
            panic!("dropped")
        };
        assert_eq!(discovered.get("__meta_x"), Some("1"));
        assert_eq!(discovered.get("__param_module"), Some("cpu"));
        assert_eq!(
            labels.to_string(),
            r#"{__address__="h:9100", __metrics_path__="/metrics", __param_module="cpu", __scheme__="http", __scrape_interval__="1m", __scrape_timeout__="10s", env="prod", instance="h:9100", job="node", x="1"}"#
        );
        let target = Target::new(labels, discovered, &cfg.params);
        assert_eq!(target.url(), "http://h:9100/metrics?module=cpu");
        assert_eq!(
            target.labels().to_string(),
            r#"{env="prod", instance="h:9100", job="node", x="1"}"#
        );
        assert!(target.offset(SystemTime::now(), 0) <= Duration::from_mins(1));
    }

    #[test]
    fn populate_drops_and_rejects() {
        let cfg: ScrapeConfig = serde_norway::from_str(
            "job_name: n\nrelabel_configs:\n- {source_labels: [__address__], regex: 'x.*', action: drop}\n",
        )
        .unwrap();
        let mut b = LabelsBuilder::new();
        let t = Labels::from_pairs([("__address__", "x:1")]);
        assert!(matches!(
            populate_labels(&t, &Labels::empty(), &cfg, &mut b).unwrap(),
            Populated::Dropped { .. }
        ));
        let t = Labels::from_pairs([("__address__", "y:1"), ("__scrape_timeout__", "2m")]);
        let err = populate_labels(&t, &Labels::empty(), &cfg, &mut b).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"scrape timeout cannot be greater than scrape interval ("2m" > "1m")"#
        );
    }

    #[test]
    fn relabel_steps_list_every_rule_as_prometheus_does() {
        let cfg: ScrapeConfig = serde_norway::from_str(
            "job_name: n\nrelabel_configs:\n- {source_labels: [__address__], target_label: host, regex: '(.*):.*'}\n- {source_labels: [host], regex: db, action: drop}\n- {target_label: team, replacement: x}\n",
        )
        .unwrap();
        let rules = &cfg.relabel_configs;
        let kept = Labels::from_pairs([("__address__", "web:1")]);
        let steps = relabel_steps(&kept, rules);
        assert_eq!(steps.len(), 3);
        assert!(steps.iter().all(|s| s.keep));
        assert_eq!(steps[0].rule, rules[0]);
        assert_eq!(
            steps[2].output.to_string(),
            r#"{__address__="web:1", host="web", team="x"}"#
        );
        assert_eq!(dropping_rule(&kept, rules), None);

        let dropped = Labels::from_pairs([("__address__", "db:1")]);
        let steps = relabel_steps(&dropped, rules);
        let keeps: Vec<bool> = steps.iter().map(|s| s.keep).collect();
        assert_eq!(keeps, [true, false, false]);
        assert_eq!(steps[0].output.get("host"), Some("db"));
        assert!(steps[1].output.is_empty() && steps[2].output.is_empty());
        assert_eq!(steps[2].rule, rules[2]);
        assert_eq!(dropping_rule(&dropped, rules), Some(1));
        assert!(relabel_steps(&dropped, &[]).is_empty());
    }
}
