//! [`Info`] (constant information in labels) and [`StateSet`] (a set of named boolean
//! states).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use promlite_model::{Labels, MetricType};

use crate::collect::{Metric, MetricPoint, MetricValue, merge_labels};
use crate::error::{Error, Result};

/// An info metric: labels describing the program (version, build), exposed as
/// `<name>_info{…} 1`.
///
/// OpenMetrics declares it `info`; the text format and protobuf, which have no such type,
/// get a gauge named `<name>_info`, which is how Prometheus stores it either way.
///
/// ```
/// use promlite_client::{Info, Registry};
///
/// let registry = Registry::new();
/// registry.register("build", "Build information.", Info::new([("version", "1.2.0")])?)?;
/// let mut text = String::new();
/// registry.encode_text(&mut text);
/// assert!(text.contains("build_info{version=\"1.2.0\"} 1\n"));
/// # Ok::<(), promlite_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Info {
    labels: Labels,
    names: Arc<[String]>,
}

impl Info {
    /// An info metric with these label pairs.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self> {
        let pairs: Vec<(N, V)> = pairs.into_iter().collect();
        let mut names: Vec<String> = Vec::with_capacity(pairs.len());
        for (n, _) in &pairs {
            let n = n.as_ref();
            if names.iter().any(|x| x == n) {
                return Err(Error::DuplicateLabelName(n.to_owned()));
            }
            names.push(n.to_owned());
        }
        crate::family::check_label_names(&names, None)?;
        Ok(Info {
            labels: Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))),
            names: names.into(),
        })
    }
}

impl Metric for Info {
    fn metric_type(&self) -> MetricType {
        MetricType::Info
    }

    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>) {
        out.push(MetricPoint {
            labels: merge_labels(labels, &self.labels),
            value: MetricValue::Info,
        });
    }

    fn label_names(&self) -> &[String] {
        &self.names
    }
}

/// A state set: named states, each set or not, exposed as one series per state with the
/// state in a label named after the metric (`<name>{<name>="state"} 1`).
///
/// At most 64 states; updates are one atomic operation on a bit set. OpenMetrics declares
/// it `stateset`; the text format and protobuf get a gauge.
///
/// ```
/// use promlite_client::StateSet;
///
/// let mode = StateSet::new(["starting", "serving", "draining"])?;
/// mode.set_only("serving")?;
/// assert_eq!(mode.is_set("serving"), Some(true));
/// assert_eq!(mode.is_set("starting"), Some(false));
/// # Ok::<(), promlite_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StateSet {
    states: Arc<[String]>,
    bits: Arc<AtomicU64>,
}

impl StateSet {
    /// A state set of these states, all unset.
    pub fn new(states: impl IntoIterator<Item = impl Into<String>>) -> Result<Self> {
        let states: Vec<String> = states.into_iter().map(Into::into).collect();
        if states.is_empty() || states.len() > 64 {
            return Err(Error::InvalidStateSet("it needs 1 to 64 states"));
        }
        for (i, s) in states.iter().enumerate() {
            if states[..i].contains(s) {
                return Err(Error::InvalidStateSet("a state is named twice"));
            }
        }
        Ok(StateSet {
            states: states.into(),
            bits: Arc::new(AtomicU64::new(0)),
        })
    }

    fn index(&self, state: &str) -> Result<usize> {
        self.states
            .iter()
            .position(|s| s == state)
            .ok_or_else(|| Error::UnknownState(state.to_owned()))
    }

    /// Sets or clears one state, leaving the others.
    pub fn set(&self, state: &str, on: bool) -> Result<()> {
        let bit = 1u64 << self.index(state)?;
        if on {
            self.bits.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.bits.fetch_and(!bit, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Sets this state and clears every other (an enum-like state set).
    pub fn set_only(&self, state: &str) -> Result<()> {
        let bit = 1u64 << self.index(state)?;
        self.bits.store(bit, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a state is set (`None` for an unknown state).
    pub fn is_set(&self, state: &str) -> Option<bool> {
        let i = self.index(state).ok()?;
        Some(self.bits.load(Ordering::Relaxed) & (1 << i) != 0)
    }
}

impl Metric for StateSet {
    fn metric_type(&self) -> MetricType {
        MetricType::StateSet
    }

    fn collect_points(&self, labels: &Labels, out: &mut Vec<MetricPoint>) {
        let bits = self.bits.load(Ordering::Relaxed);
        let states = self
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), bits & (1 << i) != 0))
            .collect();
        out.push(MetricPoint {
            labels: labels.clone(),
            value: MetricValue::StateSet(states),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_set_bits() {
        let s = StateSet::new(["a", "b"]).unwrap();
        s.set("a", true).unwrap();
        s.set("b", true).unwrap();
        s.set("a", false).unwrap();
        assert_eq!(s.is_set("a"), Some(false));
        assert_eq!(s.is_set("b"), Some(true));
        assert_eq!(s.set("c", true), Err(Error::UnknownState("c".into())));
        assert!(StateSet::new(["a", "a"]).is_err());
        assert!(StateSet::new((0..65).map(|i| i.to_string())).is_err());
    }

    #[test]
    fn info_refuses_reserved_names() {
        assert!(Info::new([("__x", "1")]).is_err());
        assert!(Info::new([("a", "1"), ("a", "2")]).is_err());
    }
}
