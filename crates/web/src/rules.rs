//! Rules and alerts as the API shows them: the [`RuleSource`] the server plugs in, the
//! snapshot types it returns, and their JSON in Prometheus's shapes (`/api/v1/rules`,
//! `/api/v1/alerts`, `/api/v1/alertmanagers`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use promlite_model::{Labels, Matcher};

use crate::error::ApiError;
use crate::json::{format_float, write_labels, write_str};
use crate::params::{ZERO_TIME, format_rfc3339};

/// Where the rules, alerts and Alertmanagers pages get their data: the rule manager.
pub trait RuleSource: Send + Sync {
    /// Every rule group, in file order, with its rules' latest state.
    fn rule_groups(&self) -> Vec<RuleGroupStatus>;
    /// The Alertmanagers alerts are sent to, and those dropped by relabeling (URLs of
    /// their `/api/v2/alerts` endpoints).
    fn alertmanagers(&self) -> AlertmanagerStatus {
        AlertmanagerStatus::default()
    }
}

/// The Alertmanagers in use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertmanagerStatus {
    /// URLs alerts are sent to.
    pub active: Vec<String>,
    /// URLs of discovered Alertmanagers that relabeling dropped.
    pub dropped: Vec<String>,
}

/// One rule group's state.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroupStatus {
    /// The group's name.
    pub name: String,
    /// The file it was loaded from.
    pub file: String,
    /// Its evaluation interval.
    pub interval: Duration,
    /// Its series limit (0: none).
    pub limit: usize,
    /// How long its last evaluation took.
    pub evaluation_time: Duration,
    /// When it was last evaluated (`None`: not yet).
    pub last_evaluation: Option<SystemTime>,
    /// Its rules, in order.
    pub rules: Vec<RuleStatus>,
}

/// One rule's state.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStatus {
    /// The recorded metric or the alert's name.
    pub name: String,
    /// The expression, as PromQL text.
    pub query: String,
    /// The labels the rule adds.
    pub labels: Labels,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    pub health: RuleHealth,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
    /// How long the last evaluation took.
    pub evaluation_time: Duration,
    /// When it was last evaluated (`None`: not yet).
    pub last_evaluation: Option<SystemTime>,
    /// What kind of rule it is, with the alerting rule's own fields.
    pub kind: RuleKind,
}

pub use promlite_rules::{AlertState, RuleHealth};

/// Recording or alerting.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// A recording rule.
    Recording,
    /// An alerting rule.
    Alerting {
        /// The most severe state of its alerts.
        state: AlertState,
        /// `for`.
        duration: Duration,
        /// `keep_firing_for`.
        keep_firing_for: Duration,
        /// Its annotation templates.
        annotations: Labels,
        /// Its active (pending or firing) alerts.
        alerts: Vec<AlertStatus>,
    },
}

/// One active alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertStatus {
    /// Its labels (the series', the rule's, `alertname`).
    pub labels: Labels,
    /// Its expanded annotations.
    pub annotations: Labels,
    /// Pending or firing.
    pub state: AlertState,
    /// When it became active.
    pub active_at: SystemTime,
    /// Since when it has been kept firing by `keep_firing_for`, if it is.
    pub keep_firing_since: Option<SystemTime>,
    /// The expression's value when last evaluated.
    pub value: f64,
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest exponent form, with a sign
/// and at least two exponent digits (`2.7e+01`), as alert values are shown.
pub(crate) fn format_float_e(v: f64) -> String {
    let mut s = String::new();
    // Writing to a `String` cannot fail.
    let _ = promlite_model::write_go_e(&mut s, v);
    s
}

fn write_time(out: &mut String, t: Option<SystemTime>) {
    let s = t.map(format_rfc3339);
    write_str(out, s.as_deref().unwrap_or(ZERO_TIME));
}

fn write_alert(out: &mut String, a: &AlertStatus) {
    out.push_str("{\"labels\":");
    write_labels(out, &a.labels);
    out.push_str(",\"annotations\":");
    write_labels(out, &a.annotations);
    out.push_str(",\"state\":");
    write_str(out, a.state.as_str());
    out.push_str(",\"activeAt\":");
    write_time(out, Some(a.active_at));
    if let Some(t) = a.keep_firing_since {
        out.push_str(",\"keepFiringSince\":");
        write_time(out, Some(t));
    }
    out.push_str(",\"value\":");
    write_str(out, &format_float_e(a.value));
    out.push('}');
}

/// `/api/v1/alerts`: every active alert of every alerting rule.
pub(crate) fn alerts_json(groups: &[RuleGroupStatus]) -> String {
    let mut out = String::from("{\"alerts\":[");
    let mut first = true;
    for r in groups.iter().flat_map(|g| &g.rules) {
        if let RuleKind::Alerting { alerts, .. } = &r.kind {
            for a in alerts {
                if !first {
                    out.push(',');
                }
                first = false;
                write_alert(&mut out, a);
            }
        }
    }
    out.push_str("]}");
    out
}

/// `/api/v1/alertmanagers`.
pub(crate) fn alertmanagers_json(s: &AlertmanagerStatus) -> String {
    let list = |out: &mut String, urls: &[String]| {
        out.push('[');
        for (i, u) in urls.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"url\":");
            write_str(out, u);
            out.push('}');
        }
        out.push(']');
    };
    let mut out = String::from("{\"activeAlertmanagers\":");
    list(&mut out, &s.active);
    out.push_str(",\"droppedAlertmanagers\":");
    list(&mut out, &s.dropped);
    out.push('}');
    out
}

/// The filters of `/api/v1/rules`.
#[derive(Debug, Default)]
pub(crate) struct RuleFilter {
    /// `type`: `None` for both kinds, else alerting (`alert`) or recording (`record`).
    pub(crate) alerting_only: Option<bool>,
    pub(crate) rule_names: HashSet<String>,
    pub(crate) group_names: HashSet<String>,
    pub(crate) files: HashSet<String>,
    /// `match[]`: a rule is kept when its labels match one of the sets.
    pub(crate) matchers: Vec<Vec<Matcher>>,
    pub(crate) exclude_alerts: bool,
    /// `group_limit` (0: no pagination).
    pub(crate) group_limit: usize,
    pub(crate) next_token: String,
}

/// The pagination token of a group: a hash of its file and name, as Prometheus makes
/// it (the exact bytes differ; tokens are opaque to clients).
fn group_token(g: &RuleGroupStatus) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in g.file.bytes().chain([0xff]).chain(g.name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `/api/v1/rules` with Prometheus's filters and pagination; groups left without rules
/// by the filters are omitted.
pub(crate) fn rules_json(groups: &[RuleGroupStatus], f: &RuleFilter) -> Result<String, ApiError> {
    let mut out = String::from("{\"groups\":[");
    let mut written = 0usize;
    let mut found_token = f.next_token.is_empty();
    let mut next_token = None;
    for g in groups {
        if f.group_limit > 0 && !found_token {
            if group_token(g) != f.next_token {
                continue;
            }
            found_token = true;
        }
        if !f.group_names.is_empty() && !f.group_names.contains(&g.name) {
            continue;
        }
        if !f.files.is_empty() && !f.files.contains(&g.file) {
            continue;
        }
        let mut rules = String::new();
        for r in &g.rules {
            if !f.rule_names.is_empty() && !f.rule_names.contains(&r.name) {
                continue;
            }
            if !f.matchers.is_empty()
                && !f.matchers.iter().any(|ms| {
                    ms.iter()
                        .all(|m| m.matches(r.labels.get(m.name()).unwrap_or("")))
                })
            {
                continue;
            }
            let alerting = matches!(r.kind, RuleKind::Alerting { .. });
            if f.alerting_only.is_some_and(|a| a != alerting) {
                continue;
            }
            if !rules.is_empty() {
                rules.push(',');
            }
            write_rule(&mut rules, r, f.exclude_alerts);
        }
        if rules.is_empty() {
            continue;
        }
        if f.group_limit > 0 && written == f.group_limit {
            next_token = Some(group_token(g));
            break;
        }
        if written > 0 {
            out.push(',');
        }
        written += 1;
        out.push_str("{\"name\":");
        write_str(&mut out, &g.name);
        out.push_str(",\"file\":");
        write_str(&mut out, &g.file);
        out.push_str(",\"rules\":[");
        out.push_str(&rules);
        out.push_str("],\"interval\":");
        format_float(&mut out, g.interval.as_secs_f64());
        let _ = write!(out, ",\"limit\":{}", g.limit);
        out.push_str(",\"evaluationTime\":");
        format_float(&mut out, g.evaluation_time.as_secs_f64());
        out.push_str(",\"lastEvaluation\":");
        write_time(&mut out, g.last_evaluation);
        out.push('}');
    }
    if !found_token {
        return Err(ApiError::invalid_param(
            format!(
                "invalid group_next_token '{}'. were rule groups changed?",
                f.next_token
            ),
            "group_next_token",
        ));
    }
    out.push(']');
    if let Some(t) = next_token {
        out.push_str(",\"groupNextToken\":");
        write_str(&mut out, &t);
    }
    out.push('}');
    Ok(out)
}

fn write_rule(out: &mut String, r: &RuleStatus, exclude_alerts: bool) {
    let common_tail = |out: &mut String| {
        out.push_str(",\"health\":");
        write_str(out, r.health.as_str());
        if let Some(e) = r.last_error.as_deref().filter(|e| !e.is_empty()) {
            out.push_str(",\"lastError\":");
            write_str(out, e);
        }
        out.push_str(",\"evaluationTime\":");
        format_float(out, r.evaluation_time.as_secs_f64());
        out.push_str(",\"lastEvaluation\":");
        write_time(out, r.last_evaluation);
    };
    match &r.kind {
        RuleKind::Alerting {
            state,
            duration,
            keep_firing_for,
            annotations,
            alerts,
        } => {
            out.push_str("{\"state\":");
            write_str(out, state.as_str());
            out.push_str(",\"name\":");
            write_str(out, &r.name);
            out.push_str(",\"query\":");
            write_str(out, &r.query);
            out.push_str(",\"duration\":");
            format_float(out, duration.as_secs_f64());
            out.push_str(",\"keepFiringFor\":");
            format_float(out, keep_firing_for.as_secs_f64());
            out.push_str(",\"labels\":");
            write_labels(out, &r.labels);
            out.push_str(",\"annotations\":");
            write_labels(out, annotations);
            out.push_str(",\"alerts\":");
            if exclude_alerts {
                out.push_str("null");
            } else {
                out.push('[');
                for (i, a) in alerts.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_alert(out, a);
                }
                out.push(']');
            }
            common_tail(out);
            out.push_str(",\"type\":\"alerting\"}");
        }
        RuleKind::Recording => {
            out.push_str("{\"name\":");
            write_str(out, &r.name);
            out.push_str(",\"query\":");
            write_str(out, &r.query);
            out.push_str(",\"labels\":");
            write_labels(out, &r.labels);
            common_tail(out);
            out.push_str(",\"type\":\"recording\"}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_exponent_format() {
        for (v, s) in [
            (1.0, "1e+00"),
            (27.0, "2.7e+01"),
            (0.5, "5e-01"),
            (1e100, "1e+100"),
            (-3.25e-7, "-3.25e-07"),
            (0.0, "0e+00"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(format_float_e(v), s, "{v}");
        }
    }
}

/// The rule manager (and the notifier, for the Alertmanagers) as a [`RuleSource`].
#[derive(Debug, Clone)]
pub struct ManagedRules {
    /// The rule manager.
    pub manager: std::sync::Arc<promlite_rules::Manager>,
    /// The notifier, if alerts are sent.
    pub notifier: Option<promlite_rules::Notifier>,
}

fn ms_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn map_labels(m: &std::collections::BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// A rule not evaluated yet shows as inactive, as Prometheus's alerting rules do.
fn alert_state(s: AlertState) -> AlertState {
    match s {
        AlertState::Unknown => AlertState::Inactive,
        other => other,
    }
}

impl RuleSource for ManagedRules {
    fn rule_groups(&self) -> Vec<RuleGroupStatus> {
        self.manager
            .groups()
            .into_iter()
            .map(|g| RuleGroupStatus {
                name: g.name,
                file: g.file,
                interval: g.interval,
                limit: usize::try_from(g.limit).unwrap_or(0),
                evaluation_time: g.evaluation_time,
                last_evaluation: g.last_evaluation.map(ms_time),
                rules: g
                    .rules
                    .into_iter()
                    .map(|r| RuleStatus {
                        name: r.name,
                        query: r.query,
                        labels: map_labels(&r.labels),
                        health: r.health,
                        last_error: r.last_error,
                        evaluation_time: r.evaluation_time,
                        last_evaluation: r.last_evaluation.map(ms_time),
                        kind: match r.alerting {
                            None => RuleKind::Recording,
                            Some(a) => RuleKind::Alerting {
                                state: alert_state(a.state),
                                duration: a.duration,
                                keep_firing_for: a.keep_firing_for,
                                annotations: map_labels(&a.annotations),
                                alerts: a
                                    .alerts
                                    .into_iter()
                                    .filter(|x| {
                                        matches!(x.state, AlertState::Pending | AlertState::Firing)
                                    })
                                    .map(|x| AlertStatus {
                                        labels: x.labels,
                                        annotations: x.annotations,
                                        state: alert_state(x.state),
                                        active_at: ms_time(x.active_at),
                                        keep_firing_since: x.keep_firing_since.map(ms_time),
                                        value: x.value,
                                    })
                                    .collect(),
                            },
                        },
                    })
                    .collect(),
            })
            .collect()
    }

    fn alertmanagers(&self) -> AlertmanagerStatus {
        AlertmanagerStatus {
            active: self
                .notifier
                .as_ref()
                .map(|n| n.stats().alertmanagers.into_iter().map(|a| a.url).collect())
                .unwrap_or_default(),
            dropped: self
                .notifier
                .as_ref()
                .map(promlite_rules::Notifier::dropped_alertmanagers)
                .unwrap_or_default(),
        }
    }
}
