//! The rule manager: owns the groups of the loaded rule files, runs each on its interval
//! as a tokio task, replaces them on reload (keeping alert state of groups with the same
//! name and file, as Prometheus does), and answers the API's questions.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use promlite_model::value::now_ms;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::alert::Alert;
use crate::group::{EvalOptions, Group, GroupSnapshot};
use crate::{Error, RuleFileOptions, RuleGroups};

struct Running {
    file: String,
    name: String,
    group: Arc<Mutex<Group>>,
    stop: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

/// Runs rule groups.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use promlite_promql::{Engine, EngineOptions};
/// use promlite_rules::{EvalOptions, Manager, RuleGroups};
/// use promlite_storage::MemStore;
///
/// let store = Arc::new(MemStore::new());
/// let opts = EvalOptions::new(Arc::new(Engine::new(EngineOptions::new())), store.clone(), store);
/// let manager = Manager::new(opts);
/// let yaml = "groups: [{name: g, rules: [{record: one, expr: vector(1)}]}]";
/// let rules = RuleGroups::from_yaml(yaml, Path::new("r.yml")).unwrap();
/// manager.update(vec![("r.yml".to_owned(), rules)]);
/// manager.eval_all(60_000); // what the tasks started by `start` do on each tick
/// let groups = manager.groups();
/// assert_eq!(groups[0].rules[0].health.as_str(), "ok");
/// ```
pub struct Manager {
    opts: Mutex<Arc<EvalOptions>>,
    groups: Mutex<Vec<Running>>,
    started: Mutex<bool>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("groups", &self.groups.lock().len())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager with no groups.
    pub fn new(opts: EvalOptions) -> Manager {
        Manager {
            opts: Mutex::new(Arc::new(opts)),
            groups: Mutex::new(Vec::new()),
            started: Mutex::new(false),
        }
    }

    /// The shared options.
    pub fn options(&self) -> Arc<EvalOptions> {
        Arc::clone(&self.opts.lock())
    }

    /// Changes the options for the groups of the next [`Manager::update`] (external
    /// labels, default interval and query offset after a configuration reload); running
    /// groups keep theirs until then.
    pub fn set_options(&self, change: impl FnOnce(&mut EvalOptions)) {
        let mut opts = self.opts.lock();
        let mut new = EvalOptions::clone(&opts);
        change(&mut new);
        *opts = Arc::new(new);
    }

    /// Replaces the groups with those of `files` (file name, loaded rules). Groups with
    /// the same file and name keep their alert state; removed groups stop and their
    /// series are marked stale. When the manager is started, new groups start too.
    pub fn update(&self, files: Vec<(String, RuleGroups)>) {
        let mut old = std::mem::take(&mut *self.groups.lock());
        let opts = self.options();
        let mut new = Vec::new();
        for (file, rg) in files {
            for g in &rg.groups {
                let mut group = Group::new(&file, g, Arc::clone(&opts));
                if let Some(i) = old.iter().position(|o| o.file == file && o.name == g.name) {
                    let o = old.swap_remove(i);
                    o.stop.notify_one();
                    if let Some(t) = o.task {
                        t.abort();
                    }
                    group.copy_state_from(&o.group.lock());
                }
                new.push(Running {
                    file: file.clone(),
                    name: g.name.clone(),
                    group: Arc::new(Mutex::new(group)),
                    stop: Arc::new(Notify::new()),
                    task: None,
                });
            }
        }
        let now = now_ms();
        for o in old {
            o.stop.notify_one();
            if let Some(t) = o.task {
                t.abort();
            }
            o.group.lock().mark_all_stale(now);
        }
        if *self.started.lock() {
            for r in &mut new {
                r.task = Some(spawn_group(r.group.clone(), r.stop.clone()));
            }
        }
        *self.groups.lock() = new;
    }

    /// Loads `files` (glob patterns, as in `rule_files`) and replaces the groups with
    /// theirs. On any error nothing changes, as a failed Prometheus reload keeps the
    /// running rules; every problem of every file is returned.
    pub fn update_from_files(
        &self,
        files: &[String],
        options: &RuleFileOptions,
    ) -> Result<(), Vec<Error>> {
        self.update(Self::load_files(files, options)?);
        Ok(())
    }

    /// Reads the rule files matching `files` (glob patterns, as in `rule_files`), for
    /// [`Manager::update`]: each file's name and groups, or every problem of every file.
    pub fn load_files(
        files: &[String],
        options: &RuleFileOptions,
    ) -> Result<Vec<(String, RuleGroups)>, Vec<Error>> {
        let mut loaded = Vec::new();
        let mut errors = Vec::new();
        for pattern in files {
            let paths: Vec<std::path::PathBuf> = match glob::glob(pattern) {
                Ok(p) => p.flatten().collect(),
                Err(e) => {
                    errors.push(Error::Io {
                        path: pattern.into(),
                        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.msg),
                    });
                    continue;
                }
            };
            for p in paths {
                match options.load(&p) {
                    Ok(rg) => loaded.push((p.display().to_string(), rg)),
                    Err(e) => errors.extend(e),
                }
            }
        }
        if errors.is_empty() {
            Ok(loaded)
        } else {
            Err(errors)
        }
    }

    /// Starts one task per group on the current tokio runtime. Must be called from
    /// within a runtime.
    pub fn start(&self) {
        *self.started.lock() = true;
        for r in self.groups.lock().iter_mut() {
            if r.task.is_none() {
                r.task = Some(spawn_group(r.group.clone(), r.stop.clone()));
            }
        }
    }

    /// Stops every group task and waits for running evaluations to end.
    pub async fn stop(&self) {
        *self.started.lock() = false;
        let tasks: Vec<JoinHandle<()>> = self
            .groups
            .lock()
            .iter_mut()
            .filter_map(|r| {
                r.stop.notify_one();
                r.task.take()
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Evaluates every group once at `ts`, in order, on the calling thread.
    pub fn eval_all(&self, ts: i64) {
        let groups: Vec<Arc<Mutex<Group>>> =
            self.groups.lock().iter().map(|r| r.group.clone()).collect();
        for g in groups {
            g.lock().eval(ts);
        }
    }

    /// Every group's state, for `/api/v1/rules`.
    pub fn groups(&self) -> Vec<GroupSnapshot> {
        self.groups
            .lock()
            .iter()
            .map(|r| r.group.lock().snapshot())
            .collect()
    }

    /// Every pending or firing alert, for `/api/v1/alerts`.
    pub fn alerts(&self) -> Vec<Alert> {
        self.groups
            .lock()
            .iter()
            .flat_map(|r| r.group.lock().active_alerts())
            .collect()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        for r in self.groups.lock().iter_mut() {
            if let Some(t) = r.task.take() {
                t.abort();
            }
        }
    }
}

/// The group's loop: evaluate at aligned timestamps, skipping missed ones.
fn spawn_group(group: Arc<Mutex<Group>>, stop: Arc<Notify>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (interval, mut next) = {
            let g = group.lock();
            let iv = g.interval().as_millis().max(1) as i64;
            (iv, g.eval_timestamp(now_ms()) + iv)
        };
        loop {
            let wait = Duration::from_millis((next - now_ms()).max(0) as u64);
            tokio::select! {
                () = stop.notified() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let ts = next;
            let g = group.clone();
            if tokio::task::spawn_blocking(move || g.lock().eval(ts))
                .await
                .is_err()
            {
                return;
            }
            next += interval;
            let now = now_ms();
            if next <= now {
                // Missed iterations are skipped, not caught up.
                next += ((now - next) / interval + 1) * interval;
            }
        }
    })
}
