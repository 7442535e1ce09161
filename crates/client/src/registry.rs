//! [`Registry`]: the set of metrics and collectors a program exposes, with an optional
//! name prefix and constant labels.

use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;
use promlite_exposition::{Entry, Format};
use promlite_model::{Labels, MetricType, ValidationScheme, is_valid_metric_name};

use crate::collect::{Collector, Metric, MetricFamily, merge_labels};
use crate::encode::{self, Style};
use crate::error::{Error, Result};
use crate::family::check_label_names;

/// A registry of metrics and collectors.
///
/// A handle: clones share the registry, so one can be handed to an HTTP handler, the
/// promlite facade and the code that registers metrics alike. Registration and
/// collection take a lock on the registry's list; incrementing a registered metric never
/// touches the registry.
///
/// ```
/// use promlite_client::{Counter, Registry};
///
/// let registry = Registry::builder().prefix("shop").const_label("region", "eu").build()?;
/// let orders: Counter = Counter::default();
/// registry.register("orders", "Orders placed.", orders.clone())?;
/// orders.inc();
/// let families = registry.collect();
/// assert_eq!(families[0].name, "shop_orders");
/// assert_eq!(families[0].points[0].labels.get("region"), Some("eu"));
/// # Ok::<(), promlite_client::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    core: Arc<RegistryCore>,
}

#[derive(Default)]
struct RegistryCore {
    prefix: String,
    const_labels: Labels,
    entries: RwLock<Vec<Registered>>,
}

enum Registered {
    Metric {
        name: String,
        help: String,
        unit: String,
        metric: Box<dyn Metric>,
    },
    Collector(Box<dyn Collector>),
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("prefix", &self.core.prefix)
            .field("const_labels", &self.core.const_labels)
            .field("entries", &self.core.entries.read().len())
            .finish()
    }
}

/// Builds a [`Registry`] with a name prefix and constant labels.
#[derive(Debug, Clone, Default)]
pub struct RegistryBuilder {
    prefix: String,
    const_labels: Vec<(String, String)>,
}

impl RegistryBuilder {
    /// Prefixes every registered metric's name with `prefix_` (collectors name their
    /// families themselves and get no prefix).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Adds a label to every series the registry exposes.
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// The registry, or an error for an invalid prefix or label name.
    pub fn build(self) -> Result<Registry> {
        if !self.prefix.is_empty() && !is_valid_metric_name(&self.prefix, ValidationScheme::Utf8) {
            return Err(Error::InvalidMetricName(self.prefix));
        }
        let names: Vec<String> = self.const_labels.iter().map(|l| l.0.clone()).collect();
        check_label_names(&names, None)?;
        Ok(Registry {
            core: Arc::new(RegistryCore {
                prefix: self.prefix,
                const_labels: Labels::from_pairs(self.const_labels),
                entries: RwLock::new(Vec::new()),
            }),
        })
    }
}

/// The family name a metric registered as `name` gets: a counter loses `_total`, an info
/// metric `_info`, and a unit is appended unless the name already ends with it.
fn family_name(name: &str, metric_type: MetricType, unit: &str) -> String {
    let base = match metric_type {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
        MetricType::Info => name.strip_suffix("_info").unwrap_or(name),
        _ => name,
    };
    let mut out = base.to_owned();
    if !unit.is_empty() && !base.ends_with(&format!("_{unit}")) {
        out.push('_');
        out.push_str(unit);
    }
    out
}

impl Registry {
    /// An empty registry with no prefix and no constant labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for a registry with a prefix or constant labels.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// Registers `metric` under `name` (prefixed with the registry's prefix) with its
    /// HELP text. Refuses invalid and already registered names.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) -> Result<()> {
        self.register_with_unit(name, help, "", metric)
    }

    /// Registers `metric` with a unit (e.g. `seconds`, `bytes`), which OpenMetrics
    /// declares in `# UNIT` and which becomes the name's last component if it is not
    /// already.
    pub fn register_with_unit(
        &self,
        name: &str,
        help: &str,
        unit: &str,
        metric: impl Metric,
    ) -> Result<()> {
        let full = if self.core.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}_{name}", self.core.prefix)
        };
        if name.is_empty() || !is_valid_metric_name(&full, ValidationScheme::Utf8) {
            return Err(Error::InvalidMetricName(full));
        }
        if unit.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            return Err(Error::InvalidMetricName(format!("{full} (unit {unit:?})")));
        }
        let metric_type = metric.metric_type();
        let family = family_name(&full, metric_type, unit);
        let mut names: Vec<String> = metric.label_names().to_vec();
        names.extend(self.core.const_labels.iter().map(|l| l.name.to_owned()));
        check_label_names(&names, Some(metric_type))?;
        let mut entries = self.core.entries.write();
        let taken = entries.iter().any(|e| match e {
            Registered::Metric { name, .. } => *name == family,
            Registered::Collector(_) => false,
        });
        if taken {
            return Err(Error::AlreadyRegistered(family));
        }
        entries.push(Registered::Metric {
            name: family,
            help: help.to_owned(),
            unit: unit.to_owned(),
            metric: Box::new(metric),
        });
        Ok(())
    }

    /// Adds a collector, called on every collection.
    pub fn register_collector(&self, collector: impl Collector) {
        self.core
            .entries
            .write()
            .push(Registered::Collector(Box::new(collector)));
    }

    /// A snapshot of every family, sorted by name, each family's series sorted by labels.
    ///
    /// This is the in-process collection API: the promlite facade calls it (or
    /// [`Registry::visit`]) on its scrape interval and appends the values to storage with
    /// no exposition format in between. Each family comes with its metadata and each
    /// series with its labels (the registry's constant labels included, the metric name
    /// not) and a typed [`MetricValue`](crate::MetricValue).
    pub fn collect(&self) -> Vec<MetricFamily> {
        let mut families = Vec::new();
        let entries = self.core.entries.read();
        let consts = &self.core.const_labels;
        for e in entries.iter() {
            match e {
                Registered::Metric {
                    name,
                    help,
                    unit,
                    metric,
                } => {
                    let mut points = Vec::new();
                    metric.collect_points(consts, &mut points);
                    families.push(MetricFamily {
                        name: name.clone(),
                        help: help.clone(),
                        unit: unit.clone(),
                        metric_type: metric.metric_type(),
                        points,
                    });
                }
                Registered::Collector(c) => {
                    let start = families.len();
                    c.collect(&mut families);
                    if !consts.is_empty() {
                        for f in &mut families[start..] {
                            for p in &mut f.points {
                                p.labels = merge_labels(consts, &p.labels);
                            }
                        }
                    }
                }
            }
        }
        drop(entries);
        families.sort_by(|a, b| a.name.cmp(&b.name));
        for f in &mut families {
            f.points.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        families
    }

    /// Collects and streams the registry as exposition [`Entry`] values — the same type
    /// the scrape parsers yield — so an in-process scraper appends them exactly as it
    /// appends a scrape: metadata entries (`HELP`, `UNIT`, `TYPE`) before each family's
    /// series, float samples with Prometheus's series names (`_total`, `_bucket{le}`,
    /// `_sum`, `_count`, `quantile`, `_info`), exemplars, and created timestamps in
    /// [`Sample::created`](promlite_exposition::Sample::created). Histograms with
    /// native buckets come as one [`Entry::Histogram`] and no classic series, as when
    /// Prometheus scrapes protobuf with native histograms on.
    ///
    /// Strings in each entry borrow the collection and are valid for the call only;
    /// `Sample::to_labels` builds the full label set (metric name included).
    pub fn visit(&self, f: &mut dyn FnMut(Entry<'_>)) {
        for fam in &self.collect() {
            encode::write_family(fam, Style::InProcess, f);
        }
    }

    /// Appends the registry in the Prometheus text format 0.0.4.
    pub fn encode_text(&self, out: &mut String) {
        encode::text(&self.collect(), out);
    }

    /// Appends the registry in OpenMetrics 1.0 text, `# EOF` included.
    pub fn encode_openmetrics(&self, out: &mut String) {
        encode::openmetrics(&self.collect(), out);
    }

    /// Appends the registry as length-delimited protobuf `MetricFamily` messages,
    /// native histograms included.
    pub fn encode_protobuf(&self, out: &mut Vec<u8>) {
        encode::protobuf(&self.collect(), out);
    }

    /// Appends the registry in `format` (as negotiated from a scraper's `Accept` header
    /// with the exposition crate) and returns the `Content-Type` to answer with.
    pub fn encode(&self, format: Format, out: &mut Vec<u8>) -> &'static str {
        encode::encode(&self.collect(), format, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counter, Gauge, Histogram};

    #[test]
    fn names_follow_type_and_unit() {
        assert_eq!(family_name("a_total", MetricType::Counter, ""), "a");
        assert_eq!(family_name("a_total", MetricType::Gauge, ""), "a_total");
        assert_eq!(
            family_name("latency", MetricType::Histogram, "seconds"),
            "latency_seconds"
        );
        assert_eq!(
            family_name("cpu_seconds_total", MetricType::Counter, "seconds"),
            "cpu_seconds"
        );
        assert_eq!(family_name("build_info", MetricType::Info, ""), "build");
    }

    #[test]
    fn registration_is_checked() {
        let r = Registry::new();
        r.register("a_total", "", Counter::<u64>::new()).unwrap();
        assert_eq!(
            r.register("a", "", Counter::<u64>::new()),
            Err(Error::AlreadyRegistered("a".into()))
        );
        assert!(r.register("", "", Gauge::<f64>::new()).is_err());
        assert!(
            r.register_with_unit("x", "", "s e", Gauge::<f64>::new())
                .is_err()
        );
        let r = Registry::builder().const_label("le", "1").build().unwrap();
        assert!(r.register("h", "", Histogram::default()).is_err());
        assert!(Registry::builder().const_label("__x", "1").build().is_err());
    }
}
