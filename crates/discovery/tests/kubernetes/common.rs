//! Helpers shared by the Kubernetes test files: fixtures, label maps, and what
//! Prometheus's scrape manager makes of a discovered target.

use std::collections::BTreeMap;
use std::path::Path;

use promlite_discovery::kubernetes::operator::ScrapeJob;
use promlite_model::{Labels, LabelsBuilder};
use promlite_relabel::relabel;

/// Labels as a sorted map, for comparisons that print well.
pub(crate) type LabelMap = BTreeMap<String, String>;

pub(crate) fn map(l: &Labels) -> LabelMap {
    l.iter()
        .map(|l| (l.name.to_owned(), l.value.to_owned()))
        .collect()
}

/// A file of `tests/kubernetes/`.
pub(crate) fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kubernetes")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What Prometheus's scrape manager makes of a discovered target before and after
/// relabeling (`PopulateLabels`): the job's settings as `__`-labels under the target's
/// and group's labels, then the relabel chain, then `instance` defaulting to the
/// address and every `__`-label removed.
pub(crate) fn scrape_target(job: &ScrapeJob, group: &Labels, target: &Labels) -> Option<LabelMap> {
    let mut b = LabelsBuilder::new();
    b.set("job", &job.job_name);
    b.set(
        "__metrics_path__",
        job.metrics_path.as_deref().unwrap_or("/metrics"),
    );
    b.set("__scheme__", job.scheme.as_deref().unwrap_or("http"));
    b.set("__scrape_interval__", "1m");
    b.set("__scrape_timeout__", "10s");
    for l in group.iter().chain(target.iter()) {
        b.set(l.name, l.value);
    }
    let input = b.build();
    let out = relabel(&input, &job.relabel_configs, &mut b)?;
    let mut m = map(&out);
    let address = m.get("__address__")?.clone();
    m.entry("instance".to_owned()).or_insert(address);
    m.retain(|k, _| !k.starts_with("__"));
    Some(m)
}
