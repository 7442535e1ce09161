//! Rule groups at run time: evaluating the rules of a group in order at one timestamp,
//! storing their output with staleness markers, alert `for` state restoration, and the
//! snapshots the HTTP API reports (Prometheus's `rules/group.go` and `recording.go`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promlite_model::{Labels, LabelsBuilder, METRIC_NAME, Matcher, STALE_NAN};
use promlite_promql::{Engine, Sample, Value};
use promlite_storage::{Appendable, HistogramRef, Queryable, SeriesRef, ValueType};

use crate::alert::{Alert, AlertEvalCtx, AlertEvalError, AlertState, AlertingState};
use crate::notifier::NotifierAlert;
use crate::template::{QuerySample, query_escape};
use crate::{Error, RecordingRule, Rule, RuleGroup};

/// Receives the alerts a group wants sent (the [`Notifier`](crate::Notifier) does).
pub trait AlertSender: Send + Sync {
    /// Queues `alerts` for every Alertmanager.
    fn send(&self, alerts: Vec<NotifierAlert>);
}

/// What every group shares: the engine, the storage, and Prometheus's rule flags.
#[derive(Clone)]
pub struct EvalOptions {
    /// The PromQL engine.
    pub engine: Arc<Engine>,
    /// Where rule queries read.
    pub queryable: Arc<dyn Queryable>,
    /// Where rule results are stored.
    pub appendable: Arc<dyn Appendable>,
    /// Labels of this Prometheus (`$externalLabels`; the notifier adds them to alerts).
    pub external_labels: BTreeMap<String, String>,
    /// The URL this Prometheus is reached at (`$externalURL`, alerts' `generatorURL`).
    pub external_url: String,
    /// Where alerts go; none drops them.
    pub sender: Option<Arc<dyn AlertSender>>,
    /// Minimum time between resends of a firing alert (`--rules.alert.resend-delay`).
    pub resend_delay: Duration,
    /// How long an outage may last for `for` state to be restored
    /// (`--rules.alert.for-outage-tolerance`).
    pub for_outage_tolerance: Duration,
    /// Minimum time left of `for` after a restore (`--rules.alert.for-grace-period`).
    pub for_grace_period: Duration,
    /// Whether to restore `for` state from `ALERTS_FOR_STATE` before the first evaluation.
    pub restore_for_state: bool,
    /// The global `evaluation_interval`, for groups without an `interval`.
    pub default_interval: Duration,
    /// The global `rule_query_offset`, for groups without a `query_offset`.
    pub default_query_offset: Duration,
}

impl EvalOptions {
    /// Prometheus's defaults over `engine` and a store that is both queried and appended.
    pub fn new(
        engine: Arc<Engine>,
        queryable: Arc<dyn Queryable>,
        appendable: Arc<dyn Appendable>,
    ) -> Self {
        EvalOptions {
            engine,
            queryable,
            appendable,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            sender: None,
            resend_delay: Duration::from_mins(1),
            for_outage_tolerance: Duration::from_hours(1),
            for_grace_period: Duration::from_mins(10),
            restore_for_state: false,
            default_interval: Duration::from_mins(1),
            default_query_offset: Duration::ZERO,
        }
    }
}

impl std::fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalOptions")
            .field("external_labels", &self.external_labels)
            .field("external_url", &self.external_url)
            .field("resend_delay", &self.resend_delay)
            .finish_non_exhaustive()
    }
}

/// A rule's health after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleHealth {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl RuleHealth {
    /// `unknown`, `ok` or `err`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Ok => "ok",
            RuleHealth::Err => "err",
        }
    }
}

#[derive(Debug, Clone)]
enum RuleKind {
    Recording(RecordingRule),
    Alerting(AlertingState),
}

#[derive(Debug, Clone)]
struct RuleRun {
    kind: RuleKind,
    labels: BTreeMap<String, String>,
    health: RuleHealth,
    last_error: Option<String>,
    last_evaluation: Option<i64>,
    evaluation_time: Duration,
    /// The series written at the last successful evaluation, to mark them stale when
    /// they disappear.
    previous: HashSet<Labels>,
}

/// A rule as the API reports it.
#[derive(Debug, Clone)]
pub struct RuleSnapshot {
    /// `record` or `alert` name.
    pub name: String,
    /// The expression.
    pub query: String,
    /// The rule's labels (group labels merged in).
    pub labels: BTreeMap<String, String>,
    /// Health.
    pub health: RuleHealth,
    /// The last error, when health is `err`.
    pub last_error: Option<String>,
    /// How long the last evaluation took.
    pub evaluation_time: Duration,
    /// When it was last evaluated (milliseconds since the epoch).
    pub last_evaluation: Option<i64>,
    /// For alerting rules: `for`, `keep_firing_for`, annotations, state and alerts.
    pub alerting: Option<AlertingSnapshot>,
}

/// The alerting part of a [`RuleSnapshot`].
#[derive(Debug, Clone)]
pub struct AlertingSnapshot {
    /// `for`.
    pub duration: Duration,
    /// `keep_firing_for`.
    pub keep_firing_for: Duration,
    /// The annotation templates.
    pub annotations: BTreeMap<String, String>,
    /// The most severe state of its alerts (`Unknown` before the first evaluation).
    pub state: AlertState,
    /// Pending and firing alerts.
    pub alerts: Vec<Alert>,
}

/// A group as the API reports it (`/api/v1/rules`).
#[derive(Debug, Clone)]
pub struct GroupSnapshot {
    /// The group's name.
    pub name: String,
    /// The file it was loaded from.
    pub file: String,
    /// Its evaluation interval.
    pub interval: Duration,
    /// Its query offset.
    pub query_offset: Duration,
    /// Its limit (0: none).
    pub limit: i64,
    /// The rules, in order.
    pub rules: Vec<RuleSnapshot>,
    /// How long the last evaluation of the whole group took.
    pub evaluation_time: Duration,
    /// When the group was last evaluated.
    pub last_evaluation: Option<i64>,
}

/// A group of rules with its run-time state.
///
/// [`Group::eval`] evaluates every rule at one timestamp, in order; each rule's output is
/// committed before the next rule runs, so later rules see earlier rules' results.
pub struct Group {
    name: String,
    file: String,
    interval: Duration,
    query_offset: Duration,
    limit: i64,
    rules: Vec<RuleRun>,
    opts: Arc<EvalOptions>,
    evaluation_time: Duration,
    last_evaluation: Option<i64>,
    /// Whether `for` state still has to be restored before the next evaluation's output.
    pending_restore: bool,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// A group from a loaded rule file's `group`; `file` names the file in the API.
    pub fn new(file: &str, group: &RuleGroup, opts: Arc<EvalOptions>) -> Group {
        let rules = group
            .rules
            .iter()
            .map(|r| {
                // Group labels apply to every rule; a rule's own label wins.
                let mut labels = group.labels.clone();
                labels.extend(r.labels().clone());
                let kind = match r {
                    Rule::Recording(rr) => RuleKind::Recording(rr.clone()),
                    Rule::Alerting(ar) => {
                        let mut ar = ar.clone();
                        ar.labels = labels.clone();
                        let mut st = AlertingState::new(ar);
                        st.restored = !(opts.restore_for_state && st.hold_ms() > 0);
                        RuleKind::Alerting(st)
                    }
                };
                RuleRun {
                    kind,
                    labels,
                    health: RuleHealth::Unknown,
                    last_error: None,
                    last_evaluation: None,
                    evaluation_time: Duration::ZERO,
                    previous: HashSet::new(),
                }
            })
            .collect();
        Group {
            name: group.name.clone(),
            file: file.to_owned(),
            interval: group.interval.unwrap_or(opts.default_interval),
            query_offset: group.query_offset.unwrap_or(opts.default_query_offset),
            limit: group.limit,
            rules,
            pending_restore: opts.restore_for_state,
            opts,
            evaluation_time: Duration::ZERO,
            last_evaluation: None,
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file the group came from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// How often the group runs.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Prometheus's group alignment: the latest evaluation time at or before `now_ms`.
    /// Each group is offset from the interval boundary by a hash of its name and file,
    /// so that groups with the same interval do not all run at the same instant.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.interval.as_nanos().max(1) as i64;
        let offset = (self.hash() % interval as u64) as i64;
        let adj = now_ms.saturating_mul(1_000_000) - offset;
        let base = adj - adj.rem_euclid(interval);
        (base + offset).div_euclid(1_000_000)
    }

    /// Prometheus hashes `labels{file, name}` (xxhash64 of `name\xffvalue\xff…`).
    fn hash(&self) -> u64 {
        let mut b = Vec::new();
        for (k, v) in [("file", &self.file), ("name", &self.name)] {
            b.extend_from_slice(k.as_bytes());
            b.push(0xff);
            b.extend_from_slice(v.as_bytes());
            b.push(0xff);
        }
        xxhash_rust::xxh64::xxh64(&b, 0)
    }

    /// Keeps the alert state of `old` for rules that are the same in both, as
    /// Prometheus does when a reload keeps a group (same name and file).
    pub fn copy_state_from(&mut self, old: &Group) {
        self.last_evaluation = old.last_evaluation;
        self.evaluation_time = old.evaluation_time;
        self.pending_restore = old.pending_restore && self.pending_restore;
        for r in &mut self.rules {
            let Some(o) = old.rules.iter().find(|o| same_rule(o, r)) else {
                continue;
            };
            r.previous = o.previous.clone();
            r.health = o.health;
            r.last_error = o.last_error.clone();
            r.last_evaluation = o.last_evaluation;
            r.evaluation_time = o.evaluation_time;
            if let (RuleKind::Alerting(n), RuleKind::Alerting(o)) = (&mut r.kind, &o.kind) {
                n.active.clone_from(&o.active);
                n.restored = o.restored;
            }
        }
    }

    /// Evaluates every rule at `ts` (milliseconds), storing results and sending alerts.
    pub fn eval(&mut self, ts: i64) {
        let start = Instant::now();
        let offset = self.query_offset.as_millis() as i64;
        let interval = self.interval.as_millis() as i64;
        for i in 0..self.rules.len() {
            let rstart = Instant::now();
            let result = self.eval_rule(i, ts, offset);
            let r = &mut self.rules[i];
            r.last_evaluation = Some(ts);
            match result {
                Ok(written) => {
                    r.health = RuleHealth::Ok;
                    r.last_error = None;
                    let stale: Vec<Labels> = r.previous.difference(&written).cloned().collect();
                    r.previous = written;
                    if let Err(e) = self.append_stale(&stale, ts - offset) {
                        let r = &mut self.rules[i];
                        r.health = RuleHealth::Err;
                        r.last_error = Some(e.to_string());
                    }
                }
                Err(e) => {
                    r.health = RuleHealth::Err;
                    r.last_error = Some(e.to_string());
                }
            }
            self.rules[i].evaluation_time = rstart.elapsed();
            // Alerts are sent even when the rule failed, as Prometheus does: resolved
            // alerts still need to go out.
            if let RuleKind::Alerting(st) = &mut self.rules[i].kind
                && let Some(sender) = &self.opts.sender
            {
                let expr = st.rule.expr.clone();
                let to_send =
                    st.alerts_to_send(ts, self.opts.resend_delay.as_millis() as i64, interval);
                if !to_send.is_empty() {
                    let url = format!(
                        "{}/graph?g0.expr={}&g0.tab=1",
                        self.opts.external_url.trim_end_matches('/'),
                        query_escape(&expr)
                    );
                    sender.send(
                        to_send
                            .into_iter()
                            .map(|a| NotifierAlert::from_alert(&a, &url))
                            .collect(),
                    );
                }
            }
        }
        if self.pending_restore {
            self.restore_for_state(ts);
            self.pending_restore = false;
        }
        self.evaluation_time = start.elapsed();
        self.last_evaluation = Some(ts);
    }

    fn query(&self, q: &str, t: i64) -> Result<Vec<Sample>, String> {
        let expr = self.opts.engine.parse(q).map_err(|e| e.to_string())?;
        self.query_expr(&expr, t)
    }

    fn query_expr(&self, expr: &promlite_promql::Expr, t: i64) -> Result<Vec<Sample>, String> {
        let res = self
            .opts
            .engine
            .instant_expr(self.opts.queryable.as_ref(), expr, t)
            .map_err(|e| e.to_string())?;
        match res.value {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t, v } => Ok(vec![Sample::float(Labels::empty(), t, v)]),
            _ => Err("rule result is not a vector or scalar".into()),
        }
    }

    /// Evaluates rule `i`; returns the series it wrote.
    fn eval_rule(&mut self, i: usize, ts: i64, offset: i64) -> Result<HashSet<Labels>, Error> {
        let eval_err = |m: String| Error::Eval { message: m };
        let qt = ts - offset;
        let samples = match &self.rules[i].kind {
            RuleKind::Recording(rr) => {
                let mut v = self.query_expr(&rr.query, qt).map_err(eval_err)?;
                let mut lb = LabelsBuilder::new();
                for s in &mut v {
                    lb.reset(&s.metric);
                    lb.set(METRIC_NAME, &rr.record);
                    for (k, val) in &self.rules[i].labels {
                        lb.set(k, val);
                    }
                    s.metric = lb.build();
                    s.t = qt;
                }
                let mut seen = HashSet::new();
                if !v.iter().all(|s| seen.insert(s.metric.clone())) {
                    return Err(eval_err(
                        "vector contains metrics with the same labelset after applying rule labels"
                            .into(),
                    ));
                }
                if self.limit > 0 && v.len() > self.limit as usize {
                    return Err(eval_err(format!(
                        "exceeded limit of {} with {} series",
                        self.limit,
                        v.len()
                    )));
                }
                v
            }
            RuleKind::Alerting(st) => {
                let res = self.query_expr(&st.rule.query, qt).map_err(eval_err)?;
                let opts = self.opts.clone();
                let query = |q: &str| -> Result<Vec<QuerySample>, String> {
                    Ok(self
                        .query(q, ts)?
                        .into_iter()
                        .map(|s| QuerySample {
                            labels: s
                                .metric
                                .iter()
                                .map(|l| (l.name.to_owned(), l.value.to_owned()))
                                .collect(),
                            value: s.f,
                        })
                        .collect())
                };
                let ctx = AlertEvalCtx {
                    ts,
                    query_offset: offset,
                    limit: self.limit,
                    external_labels: &opts.external_labels,
                    external_url: &opts.external_url,
                    query: &query,
                };
                // The template query callback borrows `self`; evaluate on a copy of the
                // state and put it back.
                let mut st = st.clone();
                let r = st.eval(res, &ctx);
                if let RuleKind::Alerting(slot) = &mut self.rules[i].kind {
                    *slot = st;
                }
                r.map_err(|e: AlertEvalError| eval_err(e.to_string()))?
            }
        };
        self.append(&samples)
    }

    fn append(&self, samples: &[Sample]) -> Result<HashSet<Labels>, Error> {
        let storage = |e: promlite_storage::Error| Error::Eval {
            message: e.to_string(),
        };
        let mut app = self.opts.appendable.appender();
        let mut written = HashSet::new();
        let mut first_err = None;
        for s in samples {
            let r = match &s.h {
                Some(h) => {
                    app.append_histogram(SeriesRef::NONE, &s.metric, s.t, HistogramRef::Float(h))
                }
                None => app.append(SeriesRef::NONE, &s.metric, s.t, s.f),
            };
            match r {
                Ok(_) => {
                    written.insert(s.metric.clone());
                }
                Err(e) => {
                    // Prometheus keeps going past out-of-order and duplicate samples and
                    // reports the rule as failed.
                    written.insert(s.metric.clone());
                    first_err.get_or_insert(e);
                }
            }
        }
        app.commit().map_err(storage)?;
        match first_err {
            Some(e) => Err(storage(e)),
            None => Ok(written),
        }
    }

    fn append_stale(&self, series: &[Labels], t: i64) -> Result<(), Error> {
        if series.is_empty() {
            return Ok(());
        }
        let mut app = self.opts.appendable.appender();
        for l in series {
            // A series that already has a newer sample rejects the marker; that is fine.
            let _ = app.append(SeriesRef::NONE, l, t, STALE_NAN);
        }
        app.commit().map_err(|e| Error::Eval {
            message: e.to_string(),
        })
    }

    /// Marks every series the group wrote as stale at `ts`, as Prometheus does for
    /// groups removed by a reload.
    pub fn mark_all_stale(&mut self, ts: i64) {
        let all: Vec<Labels> = self
            .rules
            .iter_mut()
            .flat_map(|r| std::mem::take(&mut r.previous))
            .collect();
        let _ = self.append_stale(&all, ts);
    }

    /// Restores the `for` state of pending alerts from `ALERTS_FOR_STATE` (Prometheus's
    /// `RestoreForState`), after the first evaluation made them active again.
    pub fn restore_for_state(&mut self, ts: i64) {
        let tolerance = self.opts.for_outage_tolerance.as_millis() as i64;
        let grace = self.opts.for_grace_period.as_millis() as i64;
        let mint = ts - tolerance;
        let Ok(q) = self.opts.queryable.querier(mint, ts) else {
            return;
        };
        for r in &mut self.rules {
            let RuleKind::Alerting(st) = &mut r.kind else {
                continue;
            };
            st.restored = true;
            let hold = st.hold_ms();
            // Holding for less than the grace period: restoring could only delay it.
            if hold < grace {
                continue;
            }
            let mut matchers = vec![
                Matcher::equal(METRIC_NAME, "ALERTS_FOR_STATE"),
                Matcher::equal("alertname", st.rule.alert.clone()),
            ];
            for (k, v) in &st.rule.labels {
                if !v.contains("{{") {
                    matchers.push(Matcher::equal(k.clone(), v.clone()));
                }
            }
            let mut found: Vec<(Labels, i64, f64)> = Vec::new();
            for s in q.select(false, None, &matchers).flatten() {
                let mut it = s.samples();
                let mut last = None;
                while it.next() == ValueType::Float {
                    last = Some(it.at());
                }
                // A staleness marker last means the alert was not active any more.
                if let Some((t, v)) = last.filter(|(_, v)| !promlite_model::is_stale_nan(*v)) {
                    found.push((s.labels().without_metric_name(), t, v));
                }
            }
            for a in st.active.values_mut() {
                let Some((_, down_at, v)) = found.iter().find(|(l, _, _)| *l == a.labels) else {
                    continue;
                };
                let down_at = down_at.div_euclid(1000) * 1000;
                let mut restored = (*v as i64) * 1000;
                let remaining = hold - (down_at - restored);
                if remaining <= 0 {
                    // It would have fired already: keep the old activeAt.
                } else if remaining < grace {
                    restored = ts + grace - hold;
                } else {
                    restored += ts - down_at;
                }
                a.active_at = restored;
            }
        }
    }

    /// The group's state for the API.
    pub fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            name: self.name.clone(),
            file: self.file.clone(),
            interval: self.interval,
            query_offset: self.query_offset,
            limit: self.limit,
            evaluation_time: self.evaluation_time,
            last_evaluation: self.last_evaluation,
            rules: self
                .rules
                .iter()
                .map(|r| {
                    let (name, query, alerting) = match &r.kind {
                        RuleKind::Recording(rr) => (rr.record.clone(), rr.expr.clone(), None),
                        RuleKind::Alerting(st) => (
                            st.rule.alert.clone(),
                            st.rule.expr.clone(),
                            Some(AlertingSnapshot {
                                duration: st.rule.for_duration,
                                keep_firing_for: st.rule.keep_firing_for,
                                annotations: st.rule.annotations.clone(),
                                state: if r.last_evaluation.is_none() {
                                    AlertState::Unknown
                                } else {
                                    st.state()
                                },
                                alerts: st.active_alerts(),
                            }),
                        ),
                    };
                    RuleSnapshot {
                        name,
                        query,
                        labels: r.labels.clone(),
                        health: r.health,
                        last_error: r.last_error.clone(),
                        evaluation_time: r.evaluation_time,
                        last_evaluation: r.last_evaluation,
                        alerting,
                    }
                })
                .collect(),
        }
    }

    /// Active (pending and firing) alerts of every alerting rule, in rule order.
    pub fn active_alerts(&self) -> Vec<Alert> {
        self.rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleKind::Alerting(st) => Some(st.active_alerts()),
                RuleKind::Recording(_) => None,
            })
            .flatten()
            .collect()
    }

    /// Every alert of the rule named `alert`, resolved ones included.
    pub(crate) fn alerts_of(&self, alert: &str) -> Vec<Alert> {
        let mut v = Vec::new();
        for r in &self.rules {
            if let RuleKind::Alerting(st) = &r.kind
                && st.rule.alert == alert
            {
                v.extend(st.active.values().cloned());
            }
        }
        v
    }
}

fn same_rule(a: &RuleRun, b: &RuleRun) -> bool {
    match (&a.kind, &b.kind) {
        (RuleKind::Recording(x), RuleKind::Recording(y)) => {
            x.record == y.record && x.expr == y.expr && a.labels == b.labels
        }
        (RuleKind::Alerting(x), RuleKind::Alerting(y)) => {
            x.rule.alert == y.rule.alert && x.rule.expr == y.rule.expr && a.labels == b.labels
        }
        _ => false,
    }
}
