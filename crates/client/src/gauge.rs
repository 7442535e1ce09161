//! [`Gauge`]: a value that goes up and down, `f64` or `i64`.

use std::sync::Arc;

use promlite_model::{Labels, MetricType};

use crate::atomic::Number;
use crate::collect::{Metric, MetricPoint, MetricValue};

/// A number usable as a gauge: `f64` or `i64` (a gauge may go below zero).
pub trait GaugeNumber: Number {}
impl GaugeNumber for f64 {}
impl GaugeNumber for i64 {}

/// A gauge: a value that can be set, raised and lowered.
///
/// A handle: clones share the value. Every update is one atomic operation (a
/// compare-and-swap loop for `f64` additions) and never allocates.
///
/// ```
/// use promlite_client::Gauge;
///
/// let queue: Gauge = Gauge::default();
/// queue.set(4.0);
/// queue.dec();
/// assert_eq!(queue.get(), 3.0);
/// let workers: Gauge<i64> = Gauge::default();
/// workers.add(-2);
/// assert_eq!(workers.get(), -2);
/// ```
#[derive(Debug)]
pub struct Gauge<N: GaugeNumber = f64> {
    pub(crate) core: Arc<GaugeCore<N>>,
}

/// The shared cell of a gauge.
#[derive(Debug)]
pub(crate) struct GaugeCore<N: GaugeNumber>(pub(crate) N::Atomic);

impl<N: GaugeNumber> Clone for Gauge<N> {
    fn clone(&self) -> Self {
        Gauge {
            core: Arc::clone(&self.core),
        }
    }
}

impl<N: GaugeNumber> Default for Gauge<N> {
    fn default() -> Self {
        Gauge {
            core: Arc::new(GaugeCore(N::atomic(N::default()))),
        }
    }
}

impl<N: GaugeNumber> Gauge<N> {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: N) {
        N::store(&self.core.0, v);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: N) {
        N::add(&self.core.0, v);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: N) {
        N::sub(&self.core.0, v);
    }

    /// The current value.
    pub fn get(&self) -> N {
        N::load(&self.core.0)
    }
}

impl Gauge<f64> {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }
    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.sub(1.0);
    }
}

impl Gauge<i64> {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }
    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.sub(1);
    }
}

impl<N: GaugeNumber> Metric for Gauge<N> {
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }

    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>) {
        out.push(MetricPoint {
            labels: labels.clone(),
            value: MetricValue::Gauge(self.get().to_f64()),
        });
    }
}
