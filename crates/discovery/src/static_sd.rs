//! `static_configs`: targets written in the configuration itself.

use tokio::sync::mpsc;

use crate::discoverer::BoxFuture;
use crate::{Discoverer, TargetGroup, TargetGroupSpec, Update};

/// Emits the groups of a job's `static_configs` once, sourced `"0"`, `"1"`, … in order,
/// as Prometheus numbers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticDiscoverer {
    groups: Vec<TargetGroup>,
}

impl StaticDiscoverer {
    /// The discoverer of a job's `static_configs`.
    pub fn new(specs: &[TargetGroupSpec]) -> StaticDiscoverer {
        StaticDiscoverer {
            groups: static_groups(specs),
        }
    }
}

/// The groups of `static_configs`, sourced by their index.
pub fn static_groups(specs: &[TargetGroupSpec]) -> Vec<TargetGroup> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.to_group(i.to_string()))
        .collect()
}

impl Discoverer for StaticDiscoverer {
    fn run(self: Box<Self>, updates: mpsc::Sender<Update>) -> BoxFuture<()> {
        Box::pin(async move {
            // A closed receiver means nobody listens any more: nothing left to do.
            let _ = updates.send(Ok(self.groups)).await;
        })
    }
}
