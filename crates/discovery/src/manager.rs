//! The [`Manager`]: runs the providers of every scrape job, merges their groups and
//! hands consumers the latest full set, debounced.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::{Discoverer, DnsDiscoverer, Error, SdConfig, TargetGroup, Update};

/// Every job's target groups: what the [`Manager`] publishes.
pub type TargetSets = HashMap<String, Vec<TargetGroup>>;

/// How the [`Manager`] paces its updates.
///
/// Prometheus sends the first update after a change quickly and, while changes keep
/// coming, at growing intervals up to five seconds, so that a discoverer that changes
/// constantly cannot make scrape pools reload constantly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOptions {
    /// The longest wait between a change and its publication (Prometheus: 5s).
    pub update_interval: Duration,
    /// The wait after a change that follows a quiet period (Prometheus: 100ms), which
    /// gathers the burst of first updates from every provider into one.
    pub initial_delay: Duration,
    /// Name servers for `dns_sd_configs` providers; the system's when `None`.
    pub dns_nameservers: Option<Vec<SocketAddr>>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            update_interval: Duration::from_secs(5),
            initial_delay: Duration::from_millis(100),
            dns_nameservers: None,
        }
    }
}

/// Runs service discovery for a set of jobs: Prometheus's `discovery.Manager`.
///
/// [`apply_config`](Manager::apply_config) starts one provider per distinct
/// [`SdConfig`] (jobs with identical configurations share one), keeps providers whose
/// configuration did not change across reloads, and stops the others. Each provider's
/// groups are kept by source; the full [`TargetSets`] of every configured job (empty
/// for a job with no targets, so consumers drop stale ones) is published on a
/// [`watch`] channel, paced by [`ManagerOptions`].
///
/// The manager must be created inside a tokio runtime; dropping it stops everything.
#[derive(Debug)]
pub struct Manager {
    shared: Arc<Shared>,
    sender: JoinHandle<()>,
    options: ManagerOptions,
    next_provider: usize,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Notify,
    out: watch::Sender<Arc<TargetSets>>,
}

#[derive(Debug, Default)]
struct State {
    jobs: BTreeSet<String>,
    providers: Vec<Provider>,
    /// Each provider's groups by source. Groups are the same for every job a provider
    /// serves, so they are kept once per provider.
    groups: HashMap<String, BTreeMap<String, TargetGroup>>,
    errors: HashMap<String, Arc<Error>>,
}

#[derive(Debug)]
struct Provider {
    name: String,
    config: Option<SdConfig>,
    jobs: BTreeSet<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; they stay usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Manager {
    /// A manager with no jobs, publishing an empty set until configured.
    pub fn new(options: ManagerOptions) -> Manager {
        let (out, _) = watch::channel(Arc::new(TargetSets::new()));
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            out,
        });
        let sender = tokio::spawn(run_sender(Arc::clone(&shared), options.clone()));
        Manager {
            shared,
            sender,
            options,
            next_provider: 0,
        }
    }

    /// A receiver of the published target sets. Its first value is the current one.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TargetSets>> {
        self.shared.out.subscribe()
    }

    /// Replaces the configuration: `jobs` maps each job name to its providers'
    /// configurations (see [`ServiceDiscoveryConfigs::to_sd_configs`](crate::ServiceDiscoveryConfigs::to_sd_configs)).
    ///
    /// Unchanged providers keep running with their groups; a provider that fails to
    /// start is logged and counted in [`Error::ProvidersFailed`], and the others run.
    pub fn apply_config(&mut self, jobs: HashMap<String, Vec<SdConfig>>) -> Result<(), Error> {
        let mut failed = 0;
        let mut state = self.shared.lock();
        let mut new_jobs: HashMap<usize, BTreeSet<String>> = HashMap::new();
        let mut started = Vec::new();
        let mut names: Vec<&String> = jobs.keys().collect();
        names.sort();
        for job in names {
            for cfg in &jobs[job] {
                if let Some(i) = state
                    .providers
                    .iter()
                    .position(|p| p.config.as_ref() == Some(cfg))
                {
                    new_jobs.entry(i).or_default().insert(job.clone());
                    continue;
                }
                if let Some(p) = started
                    .iter_mut()
                    .find(|p: &&mut Provider| p.config.as_ref() == Some(cfg))
                {
                    p.jobs.insert(job.clone());
                    continue;
                }
                match self.discoverer_for(cfg) {
                    Ok(d) => {
                        let name = format!("{}/{}", cfg.mechanism(), self.next_provider);
                        self.next_provider += 1;
                        let mut p = Provider {
                            name,
                            config: Some(cfg.clone()),
                            jobs: BTreeSet::from([job.clone()]),
                            tasks: Vec::new(),
                        };
                        p.tasks = spawn_provider(&self.shared, p.name.clone(), d);
                        started.push(p);
                    }
                    Err(e) => {
                        tracing::error!(err = %e, mechanism = cfg.mechanism(), job = %job, "Cannot create service discovery");
                        failed += 1;
                    }
                }
            }
        }
        // Providers no job wants any more stop (dropping one aborts its tasks), and
        // their groups go with them.
        let old = std::mem::take(&mut state.providers);
        for (i, mut p) in old.into_iter().enumerate() {
            if let Some(jobs) = new_jobs.remove(&i) {
                p.jobs = jobs;
                state.providers.push(p);
            } else {
                state.groups.remove(&p.name);
                state.errors.remove(&p.name);
            }
        }
        state.providers.extend(started);
        state.jobs = jobs.into_keys().collect();
        drop(state);
        self.shared.changed.notify_one();
        if failed > 0 {
            return Err(Error::ProvidersFailed(failed));
        }
        Ok(())
    }

    /// Runs a discoverer built by the caller for `job`, next to the configured ones:
    /// Prometheus's `StartCustomProvider`. It lasts until the next
    /// [`apply_config`](Manager::apply_config).
    pub fn start_provider(&mut self, job: &str, name: &str, discoverer: Box<dyn Discoverer>) {
        let name = format!("{name}/{}", self.next_provider);
        self.next_provider += 1;
        let mut p = Provider {
            name: name.clone(),
            config: None,
            jobs: BTreeSet::from([job.to_owned()]),
            tasks: Vec::new(),
        };
        p.tasks = spawn_provider(&self.shared, name, discoverer);
        let mut state = self.shared.lock();
        state.jobs.insert(job.to_owned());
        state.providers.push(p);
    }

    /// The last error of each provider that reported one, by provider name
    /// (`file/0`, `dns/3`, …). An error does not withdraw a provider's targets.
    pub fn errors(&self) -> Vec<(String, Arc<Error>)> {
        let state = self.shared.lock();
        let mut out: Vec<_> = state
            .errors
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The full target sets now, without waiting for the next publication.
    pub fn current(&self) -> TargetSets {
        all_groups(&self.shared.lock())
    }

    fn discoverer_for(&self, cfg: &SdConfig) -> Result<Box<dyn Discoverer>, Error> {
        if let (SdConfig::Dns(c), Some(servers)) = (cfg, &self.options.dns_nameservers) {
            return Ok(Box::new(
                DnsDiscoverer::new(c.clone()).with_nameservers(servers.clone()),
            ));
        }
        cfg.discoverer()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.sender.abort();
        // Providers abort their own tasks when dropped.
        self.shared.lock().providers.clear();
    }
}

/// Starts a discoverer and the task folding its updates into the shared state.
fn spawn_provider(
    shared: &Arc<Shared>,
    name: String,
    discoverer: Box<dyn Discoverer>,
) -> Vec<JoinHandle<()>> {
    let (tx, mut rx) = mpsc::channel::<Update>(16);
    let run = tokio::spawn(discoverer.run(tx));
    let shared = Arc::clone(shared);
    let fold = tokio::spawn(async move {
        while let Some(update) = rx.recv().await {
            let mut state = shared.lock();
            match update {
                Ok(groups) => {
                    let mine = state.groups.entry(name.clone()).or_default();
                    apply_groups(mine, groups);
                }
                Err(e) => {
                    tracing::warn!(provider = %name, err = %e, "Discovery error");
                    state.errors.insert(name.clone(), Arc::new(e));
                    continue;
                }
            }
            drop(state);
            shared.changed.notify_one();
        }
    });
    vec![run, fold]
}

/// Prometheus's `updateGroup`: a group with targets replaces its source's, an empty one
/// removes it.
pub(crate) fn apply_groups(
    by_source: &mut BTreeMap<String, TargetGroup>,
    groups: Vec<TargetGroup>,
) {
    for g in groups {
        if g.targets.is_empty() {
            by_source.remove(&g.source);
        } else {
            by_source.insert(g.source.clone(), g);
        }
    }
}

/// Every configured job's groups, a job with none mapping to an empty list.
fn all_groups(state: &State) -> TargetSets {
    let mut out: TargetSets = state.jobs.iter().map(|j| (j.clone(), Vec::new())).collect();
    for p in &state.providers {
        let Some(groups) = state.groups.get(&p.name) else {
            continue;
        };
        for job in &p.jobs {
            out.entry(job.clone())
                .or_default()
                .extend(groups.values().cloned());
        }
    }
    out
}

/// Publishes the target sets after changes: the first soon after a quiet period, then at
/// intervals growing by half up to `update_interval` while changes keep coming.
async fn run_sender(shared: Arc<Shared>, options: ManagerOptions) {
    let max = options.update_interval.max(options.initial_delay);
    let mut delay = options.initial_delay;
    let mut last_sent: Option<Instant> = None;
    loop {
        shared.changed.notified().await;
        if last_sent.is_none_or(|t| t.elapsed() > max) {
            delay = options.initial_delay;
        }
        tokio::time::sleep(delay).await;
        let sets = all_groups(&shared.lock());
        // `send_replace` publishes even with no receiver yet; a later subscriber sees
        // the latest value.
        shared.out.send_replace(Arc::new(sets));
        last_sent = Some(Instant::now());
        delay = delay.mul_f64(1.5).min(max);
    }
}

#[cfg(test)]
mod tests {
    use promlite_model::Labels;

    use super::*;

    fn group(source: &str, targets: &[&str]) -> TargetGroup {
        TargetGroup {
            source: source.to_owned(),
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs([("__address__", *t)]))
                .collect(),
            labels: Labels::empty(),
        }
    }

    #[test]
    fn apply_groups_table() {
        let mut m = BTreeMap::new();
        apply_groups(&mut m, vec![group("a", &["x:1"]), group("b", &["y:1"])]);
        apply_groups(&mut m, vec![group("a", &["x:2"]), group("b", &[])]);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(m["a"].targets[0].get("__address__"), Some("x:2"));
        apply_groups(&mut m, vec![group("zz", &[])]);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn all_groups_lists_every_job_and_shares_providers() {
        let mut state = State {
            jobs: BTreeSet::from(["a".to_owned(), "b".to_owned(), "empty".to_owned()]),
            ..State::default()
        };
        state.providers.push(Provider {
            name: "static/0".into(),
            config: None,
            jobs: BTreeSet::from(["a".to_owned(), "b".to_owned()]),
            tasks: Vec::new(),
        });
        state
            .groups
            .entry("static/0".into())
            .or_default()
            .insert("0".into(), group("0", &["h:1"]));
        let sets = all_groups(&state);
        assert_eq!(sets["a"], vec![group("0", &["h:1"])]);
        assert_eq!(sets["b"], sets["a"]);
        assert!(sets["empty"].is_empty());
    }
}
