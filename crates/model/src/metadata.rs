//! Metric types and metadata (HELP, TYPE, UNIT).

use std::fmt;
use std::str::FromStr;

/// The type of a metric family, as the exposition formats declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// A monotonic counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A histogram (classic buckets or native).
    Histogram,
    /// A histogram whose buckets go up and down (OpenMetrics).
    GaugeHistogram,
    /// A summary with precomputed quantiles.
    Summary,
    /// Constant information carried in labels (OpenMetrics).
    Info,
    /// A set of boolean states (OpenMetrics).
    StateSet,
    /// No type declared, or `untyped`.
    #[default]
    Unknown,
}

impl MetricType {
    /// The name Prometheus uses in its metadata API and the OpenMetrics `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricType {
    type Err = ();

    /// Parses a type name; `untyped` (text format) is read as [`MetricType::Unknown`].
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" | "untyped" => MetricType::Unknown,
            _ => return Err(()),
        })
    }
}

/// What a metric family says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Metadata {
    /// The declared type.
    pub metric_type: MetricType,
    /// The HELP text, unescaped.
    pub help: String,
    /// The unit (OpenMetrics `# UNIT`), empty when none.
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
            MetricType::Unknown,
        ] {
            assert_eq!(t.as_str().parse::<MetricType>(), Ok(t));
        }
        assert_eq!("untyped".parse::<MetricType>(), Ok(MetricType::Unknown));
        assert!("Counter".parse::<MetricType>().is_err());
    }
}
