//! What a registry collects into: owned snapshots of metric families ([`MetricFamily`],
//! [`MetricPoint`], [`MetricValue`]), and the traits metrics ([`Metric`]) and custom
//! collectors ([`Collector`]) implement to produce them.

use parking_lot::Mutex;
use promlite_model::{Exemplar, Histogram, Labels, LabelsBuilder, MetricType};

use crate::atomic::now_ms;
use crate::error::{Error, Result};

/// One metric family, as collected: its metadata and a snapshot of every series.
///
/// `name` is the family name in the OpenMetrics sense: a counter's name carries no
/// `_total` and an info metric's no `_info` (the encoders add the suffixes each format
/// wants); a unit, when set, is the name's last component.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name.
    pub name: String,
    /// The HELP text.
    pub help: String,
    /// The unit (e.g. `seconds`), or empty.
    pub unit: String,
    /// The type.
    pub metric_type: MetricType,
    /// The series, sorted by labels.
    pub points: Vec<MetricPoint>,
}

/// One series of a family: its labels (without the metric name) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// The labels, without `__name__` and without the per-sample `le`, `quantile` or
    /// state label that the encoders add.
    pub labels: Labels,
    /// The value.
    pub value: MetricValue,
}

/// The value of one series at collection time.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricValue {
    /// A counter: its total, creation time and latest exemplar.
    Counter {
        /// The total.
        value: f64,
        /// When the counter was created, in milliseconds since the epoch.
        created: Option<i64>,
        /// The latest exemplar, if one was recorded.
        exemplar: Option<Exemplar>,
    },
    /// A gauge's value.
    Gauge(f64),
    /// A histogram.
    Histogram(HistogramValue),
    /// A summary.
    Summary(SummaryValue),
    /// An info metric: the labels are the information, the value is always 1.
    Info,
    /// A state set: each state and whether it is set.
    StateSet(Vec<(String, bool)>),
    /// A value of unknown type.
    Unknown(f64),
}

/// A histogram snapshot: classic buckets, native buckets, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    /// The number of observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Classic buckets with cumulative counts, ending with `+Inf` (which equals `count`
    /// unless the snapshot raced an observation). A native-only histogram has just the
    /// `+Inf` bucket, which is what the text formats show of it.
    pub buckets: Vec<Bucket>,
    /// The native (exponential) histogram, if the histogram is configured for one.
    pub native: Option<Histogram>,
    /// When the histogram was created, in milliseconds since the epoch.
    pub created: Option<i64>,
}

/// A classic histogram bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// The inclusive upper bound (`le`).
    pub upper_bound: f64,
    /// Observations at or below the bound.
    pub cumulative_count: u64,
    /// The latest exemplar that fell into this bucket.
    pub exemplar: Option<Exemplar>,
}

/// A summary snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryValue {
    /// The number of observations (all time, not only the window).
    pub count: u64,
    /// Their sum (all time).
    pub sum: f64,
    /// `(quantile, value)` pairs over the sliding window; values are NaN when the window
    /// is empty.
    pub quantiles: Vec<(f64, f64)>,
    /// When the summary was created, in milliseconds since the epoch.
    pub created: Option<i64>,
}

/// A metric that can be registered: it knows its type and appends snapshots of its
/// series.
///
/// Implemented by every metric type of this crate and by [`Family`](crate::Family).
/// Implement it for a metric type of your own; implement [`Collector`] instead to produce
/// whole families (e.g. from another system's state).
pub trait Metric: Send + Sync + 'static {
    /// The type the family is exposed as.
    fn metric_type(&self) -> MetricType;

    /// Appends the metric's series. `labels` are the labels every series gets (the
    /// registry's constant labels); a family adds its children's labels to them.
    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>);

    /// Label names the metric's series carry besides `labels`, so the registry can refuse
    /// reserved names (`le` on a histogram) at registration. Empty by default.
    fn label_names(&self) -> &[String] {
        &[]
    }
}

/// A source of whole metric families, collected on every scrape or collection.
///
/// Use it for values that live elsewhere (a cache's statistics, the process's
/// `/proc` entries) and are cheaper to read on demand than to mirror into metrics.
/// The registry adds its constant labels to the collector's series but no prefix: a
/// collector names its families itself.
pub trait Collector: Send + Sync + 'static {
    /// Appends the current families.
    fn collect(&self, out: &mut Vec<MetricFamily>);
}

/// The latest exemplar of a counter or a bucket: replaced on each exemplar update.
///
/// It is a small mutex because an exemplar is a set of labels, which cannot be swapped
/// atomically; updates with an exemplar are the slow path and allocate its labels.
#[derive(Debug, Default)]
pub(crate) struct ExemplarCell(Mutex<Option<Exemplar>>);

impl ExemplarCell {
    pub(crate) fn set(&self, e: Exemplar) {
        *self.0.lock() = Some(e);
    }

    pub(crate) fn get(&self) -> Option<Exemplar> {
        self.0.lock().clone()
    }
}

/// Builds an exemplar stamped with the current time, checking the OpenMetrics length
/// limit (128 characters of label names and values together).
pub(crate) fn exemplar(labels: &[(&str, &str)], value: f64) -> Result<Exemplar> {
    let len: usize = labels
        .iter()
        .map(|(n, v)| n.chars().count() + v.chars().count())
        .sum();
    if len > 128 {
        return Err(Error::ExemplarTooLong(len));
    }
    let mut b = LabelsBuilder::new();
    for (n, v) in labels {
        if n.is_empty() {
            return Err(Error::InvalidLabelName((*n).to_owned()));
        }
        if b.get(n).is_some() {
            return Err(Error::DuplicateLabelName((*n).to_owned()));
        }
        b.set(n, v);
    }
    Ok(Exemplar {
        labels: b.build(),
        value,
        timestamp: Some(now_ms()),
    })
}

/// `base` and `extra` as one label set (`extra` wins on a clash, which validation
/// prevents anyway). Costs nothing when `base` is empty.
pub(crate) fn merge_labels(base: &Labels, extra: &Labels) -> Labels {
    if base.is_empty() {
        return extra.clone();
    }
    if extra.is_empty() {
        return base.clone();
    }
    let mut b = base.to_builder();
    for l in extra {
        b.set(l.name, l.value);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemplar_length_limit() {
        let long = "x".repeat(121);
        assert!(exemplar(&[("trace_id", &long)], 1.0).is_err());
        let ok = "x".repeat(120);
        let e = exemplar(&[("trace_id", &ok)], 1.0).unwrap();
        assert_eq!(e.labels.get("trace_id"), Some(ok.as_str()));
        assert_eq!(
            exemplar(&[("a", "1"), ("a", "2")], 1.0),
            Err(Error::DuplicateLabelName("a".into()))
        );
    }
}
