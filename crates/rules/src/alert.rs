//! Alerting rules at run time: the per-alert state machine (inactive → pending → firing,
//! `keep_firing_for`, resolved alerts kept for resending) and the `ALERTS` /
//! `ALERTS_FOR_STATE` series, following Prometheus's `rules/alerting.go`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use promlite_model::{Labels, LabelsBuilder, METRIC_NAME};
use promlite_promql::Sample;

use crate::AlertingRule;
use crate::template::{QueryFn, TemplateContext, expand_alert_text};

/// How long a resolved alert is kept so it is resent as resolved (Prometheus's
/// `resolvedRetention`).
pub(crate) const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert (or, for a rule, of its most severe alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// For a rule that has not been evaluated yet.
    Unknown,
    /// Not active (or resolved).
    Inactive,
    /// Active for less than the rule's `for`.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl AlertState {
    /// `inactive`, `pending` or `firing` (or `unknown`), as the API and the `alertstate`
    /// label spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Unknown => "unknown",
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert of an alerting rule. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The alert's labels: the series' labels without `__name__`, the rule's (templated)
    /// labels, and `alertname`.
    pub labels: Labels,
    /// The templated annotations.
    pub annotations: Labels,
    /// The state.
    pub state: AlertState,
    /// The value of the series that made the alert active, at the last evaluation.
    pub value: f64,
    /// When the alert became active (pending).
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// When it was last sent to Alertmanager.
    pub last_sent_at: Option<i64>,
    /// Until when the last sending is valid (`endsAt` of a firing alert).
    pub valid_until: Option<i64>,
    /// Since when it keeps firing only because of `keep_firing_for`.
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Whether the alert should be (re)sent at `ts`: never while pending; when resolved
    /// since the last send; otherwise once per `resend_delay`.
    pub(crate) fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(r) = self.resolved_at
            && self.last_sent_at.is_none_or(|s| r > s)
        {
            return true;
        }
        self.last_sent_at.is_none_or(|s| s + resend_delay < ts)
    }
}

/// Why an alerting rule's evaluation failed.
#[derive(Debug)]
pub(crate) enum AlertEvalError {
    Duplicate,
    Limit(usize, usize),
}

impl fmt::Display for AlertEvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertEvalError::Duplicate => f.write_str(
                "vector contains metrics with the same labelset after applying alert labels",
            ),
            AlertEvalError::Limit(limit, n) => {
                write!(f, "exceeded limit of {limit} with {n} alerts")
            }
        }
    }
}

/// An alerting rule's run-time state.
#[derive(Debug, Clone)]
pub(crate) struct AlertingState {
    pub(crate) rule: AlertingRule,
    /// Active and recently resolved alerts, by their labels.
    pub(crate) active: HashMap<Labels, Alert>,
    /// Whether `for` state has been restored (or restoring is not wanted); `ALERTS`
    /// series are written only then, as Prometheus does.
    pub(crate) restored: bool,
}

/// What one evaluation needs besides the rule.
pub(crate) struct AlertEvalCtx<'a> {
    pub(crate) ts: i64,
    pub(crate) query_offset: i64,
    pub(crate) limit: i64,
    pub(crate) external_labels: &'a BTreeMap<String, String>,
    pub(crate) external_url: &'a str,
    pub(crate) query: &'a QueryFn<'a>,
}

impl AlertingState {
    pub(crate) fn new(rule: AlertingRule) -> Self {
        AlertingState {
            rule,
            active: HashMap::new(),
            restored: true,
        }
    }

    /// Evaluates the rule on the query result `res`; returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples to store.
    pub(crate) fn eval(
        &mut self,
        res: Vec<Sample>,
        ctx: &AlertEvalCtx<'_>,
    ) -> Result<Vec<Sample>, AlertEvalError> {
        let ts = ctx.ts;
        let hold = self.rule.for_duration.as_millis() as i64;
        let keep = self.rule.keep_firing_for.as_millis() as i64;
        let tctx = TemplateContext {
            query: Some(ctx.query),
            external_labels: Some(ctx.external_labels),
            external_url: ctx.external_url,
        };
        let mut fresh: HashMap<Labels, Alert> = HashMap::new();
        for s in res {
            let series_labels: BTreeMap<String, String> = s
                .metric
                .iter()
                .map(|l| (l.name.to_owned(), l.value.to_owned()))
                .collect();
            let expand =
                |text: &str| expand_alert_text(&self.rule.alert, text, &series_labels, s.f, &tctx);
            let mut lb = LabelsBuilder::new();
            lb.reset(&s.metric);
            lb.del(METRIC_NAME);
            for (k, v) in &self.rule.labels {
                lb.set(k, &expand(v));
            }
            lb.set("alertname", &self.rule.alert);
            let labels = lb.build();
            let annotations = Labels::from_pairs(
                self.rule
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), expand(v))),
            );
            if fresh.contains_key(&labels) {
                return Err(AlertEvalError::Duplicate);
            }
            fresh.insert(
                labels.clone(),
                Alert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value: s.f,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }
        let returned: std::collections::HashSet<Labels> = fresh.keys().cloned().collect();
        for (k, a) in fresh {
            match self.active.get_mut(&k) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(k, a);
                }
            }
        }
        let mut out = Vec::new();
        let mut active_pending = 0;
        let mut remove = Vec::new();
        let eval_t = ts - ctx.query_offset;
        // Sorted so that the output (and unit test diffs) is deterministic.
        let mut keys: Vec<Labels> = self.active.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let Some(a) = self.active.get_mut(&k) else {
                continue;
            };
            if returned.contains(&k) {
                a.keep_firing_since = None;
            } else {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            }
            active_pending += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if self.restored {
                out.push(alert_sample(a, eval_t));
                out.push(for_state_sample(a, eval_t));
            }
        }
        for k in remove {
            self.active.remove(&k);
        }
        if ctx.limit > 0 && active_pending > ctx.limit as usize {
            self.active.clear();
            return Err(AlertEvalError::Limit(ctx.limit as usize, active_pending));
        }
        Ok(out)
    }

    /// The rule's state: that of its most severe alert.
    pub(crate) fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// The active (pending or firing) alerts, sorted by labels.
    pub(crate) fn active_alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The alerts to send at `ts`, marking them sent (Prometheus's `sendAlerts`).
    pub(crate) fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay: i64,
        interval: i64,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts, resend_delay) {
                a.last_sent_at = Some(ts);
                // Allow for two evaluation or Alertmanager send failures.
                a.valid_until = Some(ts + 4 * resend_delay.max(interval));
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Labels of the `ALERTS_FOR_STATE` selector for this rule.
    pub(crate) fn hold_ms(&self) -> i64 {
        self.rule.for_duration.as_millis() as i64
    }
}

fn alert_sample(a: &Alert, t: i64) -> Sample {
    let mut lb = LabelsBuilder::new();
    lb.reset(&a.labels);
    lb.set(METRIC_NAME, "ALERTS");
    lb.set("alertstate", a.state.as_str());
    Sample::float(lb.build(), t, 1.0)
}

fn for_state_sample(a: &Alert, t: i64) -> Sample {
    let mut lb = LabelsBuilder::new();
    lb.reset(&a.labels);
    lb.set(METRIC_NAME, "ALERTS_FOR_STATE");
    Sample::float(lb.build(), t, (a.active_at.div_euclid(1000)) as f64)
}
