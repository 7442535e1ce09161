//! [`PromliteRecorder`]: a [`metrics::Recorder`] that keeps what the `metrics` facade's
//! macros record in promlite metrics, exposed through a [`Registry`].

use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashMap;
use metrics::{Key, KeyName, Metadata, SharedString, Unit};
use parking_lot::RwLock;
use promlite_model::{Labels, MetricType};

use crate::atomic::Number;
use crate::collect::{Collector, Metric, MetricFamily};
use crate::counter::{Counter, CounterCore};
use crate::family::DEFAULT_CARDINALITY_LIMIT;
use crate::gauge::{Gauge, GaugeCore};
use crate::histogram::{Histogram, HistogramConfig, HistogramCore};
use crate::registry::Registry;

/// Configures a [`PromliteRecorder`].
#[derive(Debug, Clone)]
pub struct RecorderBuilder {
    histogram: HistogramConfig,
    limit: usize,
}

impl Default for RecorderBuilder {
    fn default() -> Self {
        RecorderBuilder {
            histogram: HistogramConfig::default(),
            limit: DEFAULT_CARDINALITY_LIMIT,
        }
    }
}

impl RecorderBuilder {
    /// The buckets of every histogram the recorder creates (Prometheus's default
    /// buckets unless set; a native configuration works too).
    pub fn histogram(mut self, config: HistogramConfig) -> Self {
        self.histogram = config;
        self
    }

    /// The most series (name and label set) the recorder keeps; new ones past it are
    /// dropped (their handles do nothing) and counted in
    /// [`PromliteRecorder::rejected`].
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The recorder, registered as a collector in `registry`.
    pub fn build(self, registry: &Registry) -> PromliteRecorder {
        let core = Arc::new(RecorderCore {
            histogram: self.histogram,
            limit: self.limit,
            rejected: AtomicU64::new(0),
            metrics: RwLock::new(HashMap::default()),
            descriptions: RwLock::new(HashMap::default()),
        });
        registry.register_collector(RecorderCollector(Arc::clone(&core)));
        PromliteRecorder { core }
    }
}

/// A [`metrics::Recorder`] backed by promlite metrics: counters are `u64`
/// [`Counter`]s, gauges `f64` [`Gauge`]s and histograms [`Histogram`]s, one per
/// metric name and label set, exposed through the [`Registry`] the recorder was built
/// with (as a collector, so they appear in every format and in in-process collection).
///
/// Names and label names are made Prometheus-safe (characters outside `[a-zA-Z0-9_:]`
/// become `_`); `describe_*` texts become HELP, and a unit becomes the family's unit when
/// the name already ends with it (`request_seconds` with [`Unit::Seconds`]). A name used
/// with two kinds keeps the kind it was first recorded with; the other handles do
/// nothing.
///
/// ```
/// use promlite_client::{PromliteRecorder, Registry};
///
/// let registry = Registry::new();
/// let recorder = PromliteRecorder::new(&registry);
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("jobs_done", "queue" => "mail").increment(2);
/// });
/// let mut text = String::new();
/// registry.encode_text(&mut text);
/// assert!(text.contains("jobs_done_total{queue=\"mail\"} 2\n"));
/// ```
#[derive(Debug, Clone)]
pub struct PromliteRecorder {
    core: Arc<RecorderCore>,
}

#[derive(Debug)]
struct RecorderCore {
    histogram: HistogramConfig,
    limit: usize,
    rejected: AtomicU64,
    metrics: RwLock<HashMap<Key, Handle, BuildHasherDefault<KeyHasher>>>,
    descriptions: RwLock<HashMap<String, Description>>,
}

#[derive(Debug, Clone)]
struct Description {
    help: String,
    unit: Option<Unit>,
}

#[derive(Debug, Clone)]
enum Handle {
    Counter(Counter<u64>),
    Gauge(Gauge<f64>),
    Histogram(Histogram),
}

impl Handle {
    fn kind(&self) -> MetricType {
        match self {
            Handle::Counter(_) => MetricType::Counter,
            Handle::Gauge(_) => MetricType::Gauge,
            Handle::Histogram(_) => MetricType::Histogram,
        }
    }
}

/// A `metrics::Key` carries its hash, computed once when the key was built; passing it
/// through saves hashing it again.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl PromliteRecorder {
    /// A recorder with the default settings, registered in `registry`.
    pub fn new(registry: &Registry) -> Self {
        RecorderBuilder::default().build(registry)
    }

    /// A builder for other histogram buckets or another series limit.
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder::default()
    }

    /// How many new series the limit refused.
    pub fn rejected(&self) -> u64 {
        self.core.rejected.load(Ordering::Relaxed)
    }

    fn handle(&self, key: &Key, make: impl FnOnce() -> Handle) -> Option<Handle> {
        if let Some(h) = self.core.metrics.read().get(key) {
            return Some(h.clone());
        }
        let mut map = self.core.metrics.write();
        if let Some(h) = map.get(key) {
            return Some(h.clone());
        }
        if map.len() >= self.core.limit {
            self.core.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let h = make();
        map.insert(key.clone(), h.clone());
        Some(h)
    }

    fn describe(&self, key: &KeyName, unit: Option<Unit>, description: &SharedString) {
        self.core.descriptions.write().insert(
            sanitize(key.as_str(), true),
            Description {
                help: description.to_string(),
                unit,
            },
        );
    }
}

impl metrics::Recorder for PromliteRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        match self.handle(key, || Handle::Counter(Counter::new())) {
            Some(Handle::Counter(c)) => metrics::Counter::from_arc(c.core),
            _ => metrics::Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        match self.handle(key, || Handle::Gauge(Gauge::new())) {
            Some(Handle::Gauge(g)) => metrics::Gauge::from_arc(g.core),
            _ => metrics::Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let config = &self.core.histogram;
        match self.handle(key, || Handle::Histogram(Histogram::new(config))) {
            Some(Handle::Histogram(h)) => metrics::Histogram::from_arc(h.core),
            _ => metrics::Histogram::noop(),
        }
    }
}

impl metrics::CounterFn for CounterCore<u64> {
    fn increment(&self, value: u64) {
        u64::add(&self.value, value);
    }
    fn absolute(&self, value: u64) {
        u64::fetch_max(&self.value, value);
    }
}

impl metrics::GaugeFn for GaugeCore<f64> {
    fn increment(&self, value: f64) {
        f64::add(&self.0, value);
    }
    fn decrement(&self, value: f64) {
        f64::sub(&self.0, value);
    }
    fn set(&self, value: f64) {
        f64::store(&self.0, value);
    }
}

impl metrics::HistogramFn for HistogramCore {
    fn record(&self, value: f64) {
        self.observe(value);
    }
}

/// A name (`colon` allowed) or label name made of `[a-zA-Z0-9_:]`, not starting with a
/// digit.
fn sanitize(name: &str, colon: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        let ok = c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':');
        out.push(if ok { c } else { '_' });
    }
    out
}

/// Exposes the recorder's metrics, grouped into families by name.
struct RecorderCollector(Arc<RecorderCore>);

impl Collector for RecorderCollector {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let mut by_name: BTreeMap<String, Vec<(Labels, Handle)>> = BTreeMap::new();
        for (key, h) in self.0.metrics.read().iter() {
            let labels = Labels::from_pairs(
                key.labels()
                    .map(|l| (sanitize(l.key(), false), l.value().to_owned())),
            );
            by_name
                .entry(sanitize(key.name(), true))
                .or_default()
                .push((labels, h.clone()));
        }
        let descriptions = self.0.descriptions.read();
        for (name, mut series) in by_name {
            series.sort_by(|a, b| a.0.cmp(&b.0));
            let Some(kind) = series.first().map(|s| s.1.kind()) else {
                continue;
            };
            let d = descriptions.get(&name);
            let unit = d
                .and_then(|d| d.unit)
                .map(|u| u.as_str())
                .filter(|u| {
                    let family = name.strip_suffix("_total").unwrap_or(&name);
                    family.ends_with(&format!("_{u}"))
                })
                .unwrap_or("");
            let mut points = Vec::with_capacity(series.len());
            for (labels, h) in series.iter().filter(|s| s.1.kind() == kind) {
                match h {
                    Handle::Counter(c) => c.collect_points(labels, &mut points),
                    Handle::Gauge(g) => g.collect_points(labels, &mut points),
                    Handle::Histogram(h) => h.collect_points(labels, &mut points),
                }
            }
            let family = if kind == MetricType::Counter {
                name.strip_suffix("_total").unwrap_or(&name).to_owned()
            } else {
                name.clone()
            };
            out.push(MetricFamily {
                name: family,
                help: d.map(|d| d.help.clone()).unwrap_or_default(),
                unit: unit.to_owned(),
                metric_type: kind,
                points,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_land_in_the_registry() {
        let registry = Registry::new();
        let recorder = PromliteRecorder::builder().limit(3).build(&registry);
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_histogram!("op_seconds", Unit::Seconds, "Operation latency.");
            metrics::describe_counter!("requests_total", "Requests.");
            for _ in 0..3 {
                metrics::counter!("requests_total", "code" => "200").increment(1);
            }
            metrics::counter!("requests_total", "code" => "500").absolute(7);
            metrics::gauge!("queue.depth").set(4.0);
            metrics::gauge!("queue.depth").decrement(1.5);
            // Past the limit of three series: dropped and counted.
            metrics::histogram!("op_seconds").record(0.2);
            metrics::counter!("requests_total", "code" => "200").increment(1);
        });
        assert_eq!(recorder.rejected(), 1);
        let mut text = String::new();
        registry.encode_text(&mut text);
        assert_eq!(
            text,
            "# TYPE queue_depth gauge\nqueue_depth 2.5\n\
             # HELP requests_total Requests.\n# TYPE requests_total counter\n\
             requests_total{code=\"200\"} 4\nrequests_total{code=\"500\"} 7\n"
        );
    }

    #[test]
    fn units_and_histograms() {
        let registry = Registry::new();
        let recorder = PromliteRecorder::new(&registry);
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_histogram!("op_seconds", Unit::Seconds, "Operation latency.");
            metrics::histogram!("op_seconds", "op" => "read").record(0.2);
            metrics::histogram!("op_seconds", "op" => "read").record(3.0);
            // The same name as a gauge: ignored, the histogram came first.
            metrics::gauge!("op_seconds", "op" => "write").set(1.0);
        });
        let f = registry.collect();
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].name.as_str(), f[0].unit.as_str()),
            ("op_seconds", "seconds")
        );
        let mut om = String::new();
        registry.encode_openmetrics(&mut om);
        assert!(
            om.contains("op_seconds_bucket{op=\"read\",le=\"0.25\"} 1\n"),
            "{om}"
        );
        assert!(om.contains("op_seconds_count{op=\"read\"} 2\n"), "{om}");
        assert_eq!(sanitize("1a.b:c", true), "_1a_b:c");
        assert_eq!(sanitize("a:b", false), "a_b");
    }
}
