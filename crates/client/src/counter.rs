//! [`Counter`]: a monotonic total, `u64` or `f64`.

use std::sync::Arc;

use promlite_model::{Labels, MetricType};

use crate::atomic::{Number, now_ms};
use crate::collect::{ExemplarCell, Metric, MetricPoint, MetricValue, exemplar};
use crate::error::Result;

/// A counter: a total that only goes up (until the process restarts).
///
/// A handle: clones share the value, so keep one in a struct or a static and register a
/// clone. Increments are one relaxed `fetch_add` for `u64` (a compare-and-swap loop for
/// `f64`) and never allocate. The counter's creation time is kept and exposed as
/// `_created` in OpenMetrics and as the created timestamp in protobuf.
///
/// Register it under its family name, with or without `_total` (`http_requests` and
/// `http_requests_total` mean the same); the encoders write the `_total` sample.
///
/// ```
/// use promlite_client::{Counter, Registry};
///
/// let requests: Counter = Counter::default();
/// let registry = Registry::new();
/// registry.register("http_requests", "HTTP requests served.", requests.clone()).unwrap();
/// requests.inc();
/// requests.inc_by(2);
/// assert_eq!(requests.get(), 3);
/// ```
#[derive(Debug)]
pub struct Counter<N: Number = u64> {
    pub(crate) core: Arc<CounterCore<N>>,
}

#[derive(Debug)]
pub(crate) struct CounterCore<N: Number> {
    pub(crate) value: N::Atomic,
    created: i64,
    exemplar: ExemplarCell,
}

impl<N: Number> Clone for Counter<N> {
    fn clone(&self) -> Self {
        Counter {
            core: Arc::clone(&self.core),
        }
    }
}

impl<N: Number> Default for Counter<N> {
    fn default() -> Self {
        Counter {
            core: Arc::new(CounterCore {
                value: N::atomic(N::default()),
                created: now_ms(),
                exemplar: ExemplarCell::default(),
            }),
        }
    }
}

impl<N: Number> Counter<N> {
    /// A counter at zero, created now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `v`. Negative and NaN increments are ignored: a counter never goes down.
    #[inline]
    pub fn inc_by(&self, v: N) {
        if !v.is_negative_or_nan() {
            N::add(&self.core.value, v);
        }
    }

    /// Adds `v` and records an exemplar (e.g. `[("trace_id", id)]`) with the value `v`
    /// and the current time. This path allocates the exemplar's labels.
    pub fn inc_by_with_exemplar(&self, v: N, labels: &[(&str, &str)]) -> Result<()> {
        let e = exemplar(labels, v.to_f64())?;
        self.inc_by(v);
        self.core.exemplar.set(e);
        Ok(())
    }

    /// The current total.
    pub fn get(&self) -> N {
        N::load(&self.core.value)
    }

    /// When the counter was created, in milliseconds since the epoch.
    pub fn created(&self) -> i64 {
        self.core.created
    }
}

impl Counter<u64> {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.core
            .value
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Counter<f64> {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1.0);
    }
}

impl<N: Number> Metric for Counter<N> {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>) {
        out.push(MetricPoint {
            labels: labels.clone(),
            value: MetricValue::Counter {
                value: self.get().to_f64(),
                created: Some(self.core.created),
                exemplar: self.core.exemplar.get(),
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_only() {
        let c: Counter<f64> = Counter::new();
        c.inc();
        c.inc_by(0.5);
        c.inc_by(-3.0);
        c.inc_by(f64::NAN);
        assert_eq!(c.get(), 1.5);
        let d = c.clone();
        d.inc();
        assert_eq!(c.get(), 2.5);
    }

    #[test]
    fn exemplar_is_collected() {
        let c: Counter = Counter::new();
        c.inc_by_with_exemplar(3, &[("trace_id", "abc")]).unwrap();
        let mut out = Vec::new();
        c.collect_points(&Labels::empty(), &mut out);
        let MetricValue::Counter {
            value, exemplar, ..
        } = &out[0].value
        else {
            panic!("not a counter: {out:?}")
        };
        assert_eq!(*value, 3.0);
        let e = exemplar.as_ref().unwrap();
        assert_eq!((e.labels.get("trace_id"), e.value), (Some("abc"), 3.0));
    }
}
