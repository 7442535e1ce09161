//! Rule evaluation over a `MemStore`: recording rules, the alert state machine, limits,
//! staleness, group alignment, `for` restoration and what is handed to the notifier.

use std::path::Path;
use std::sync::{Arc, Mutex};

use promlite_model::{Labels, Matcher, is_stale_nan};
use promlite_promql::{Engine, EngineOptions};
use promlite_rules::{
    AlertSender, AlertState, EvalOptions, Group, NotifierAlert, RuleGroups, RuleHealth,
};
use promlite_storage::{Appendable, MemStore, Queryable, SeriesRef};

const MIN: i64 = 60_000;

/// A metric name, its other labels, and its samples.
type SeriesSpec<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn store_with(series: &[SeriesSpec<'_>]) -> Arc<MemStore> {
    let store = Arc::new(MemStore::new());
    let mut app = store.appender();
    for (name, labels, samples) in series {
        let mut pairs = vec![("__name__", *name)];
        pairs.extend_from_slice(labels);
        let l = Labels::from_pairs(pairs);
        for (t, v) in *samples {
            app.append(SeriesRef::NONE, &l, *t, *v).unwrap();
        }
    }
    app.commit().unwrap();
    store
}

#[derive(Default)]
struct Captured(Mutex<Vec<NotifierAlert>>);

impl AlertSender for Captured {
    fn send(&self, alerts: Vec<NotifierAlert>) {
        self.0.lock().unwrap().extend(alerts);
    }
}

fn group(yaml: &str, store: &Arc<MemStore>, tweak: impl FnOnce(&mut EvalOptions)) -> Group {
    let rules = RuleGroups::from_yaml(yaml, Path::new("t.yml")).unwrap();
    let mut opts = EvalOptions::new(
        Arc::new(Engine::new(EngineOptions::new())),
        store.clone(),
        store.clone(),
    );
    tweak(&mut opts);
    Group::new("t.yml", &rules.groups[0], Arc::new(opts))
}

/// The float samples of series matching `name` (and labels), oldest first.
fn samples(store: &MemStore, name: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    q.select(true, None, &[Matcher::equal("__name__", name)])
        .map(|s| {
            let s = s.unwrap();
            let mut it = s.samples();
            let mut v = Vec::new();
            while it.next() != promlite_storage::ValueType::None {
                v.push(it.at());
            }
            (s.labels().clone(), v)
        })
        .collect()
}

#[test]
fn later_rules_see_earlier_results_and_labels_apply() {
    let store = store_with(&[("up", &[("job", "a")], &[(0, 1.0)])]);
    let mut g = group(
        r"
groups:
  - name: g
    labels: {team: infra, tier: x}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {tier: y}
      - record: job:up:double
        expr: job:up:sum * 2
",
        &store,
        |_| {},
    );
    g.eval(0);
    let got = samples(&store, "job:up:double");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, vec![(0, 2.0)]);
    assert_eq!(
        samples(&store, "job:up:sum")[0].0,
        Labels::from_pairs([
            ("__name__", "job:up:sum"),
            ("job", "a"),
            ("team", "infra"),
            ("tier", "y")
        ])
    );
    let snap = g.snapshot();
    assert!(snap.rules.iter().all(|r| r.health == RuleHealth::Ok));
    assert_eq!(snap.last_evaluation, Some(0));
}

#[test]
fn series_that_disappear_get_a_staleness_marker() {
    let store = store_with(&[
        ("x", &[("i", "1")], &[(0, 1.0)]),
        ("x", &[("i", "2")], &[(0, 1.0), (MIN, 1.0)]),
    ]);
    // With a 1m lookback so that `x{i="1"}` is gone at 2m.
    let rules = RuleGroups::from_yaml(
        "groups: [{name: g, rules: [{record: y, expr: x}]}]",
        Path::new("t.yml"),
    )
    .unwrap();
    let opts = EvalOptions::new(
        Arc::new(Engine::new(EngineOptions::new().lookback_delta(MIN))),
        store.clone(),
        store.clone(),
    );
    let mut g = Group::new("t.yml", &rules.groups[0], Arc::new(opts));
    g.eval(0);
    g.eval(MIN + 1);
    let got = samples(&store, "y");
    let one = got.iter().find(|(l, _)| l.get("i") == Some("1")).unwrap();
    assert_eq!(one.1.len(), 2);
    assert!(is_stale_nan(one.1[1].1), "{:?}", one.1);
    assert_eq!(one.1[1].0, MIN + 1);
    let two = got.iter().find(|(l, _)| l.get("i") == Some("2")).unwrap();
    assert!(two.1.iter().all(|(_, v)| !v.is_nan()));
}

#[test]
fn limits_and_duplicates_fail_the_rule_with_prometheus_messages() {
    let store = store_with(&[
        ("x", &[("i", "1")], &[(0, 1.0)]),
        ("x", &[("i", "2")], &[(0, 1.0)]),
    ]);
    let cases = [
        (
            "groups: [{name: g, limit: 1, rules: [{record: y, expr: x}]}]",
            "exceeded limit of 1 with 2 series",
        ),
        (
            "groups: [{name: g, limit: 1, rules: [{alert: A, expr: x}]}]",
            "exceeded limit of 1 with 2 alerts",
        ),
        (
            "groups: [{name: g, rules: [{record: y, expr: x, labels: {i: same}}]}]",
            "vector contains metrics with the same labelset after applying rule labels",
        ),
        (
            "groups: [{name: g, rules: [{alert: A, expr: x, labels: {i: same}}]}]",
            "vector contains metrics with the same labelset after applying alert labels",
        ),
    ];
    for (yaml, want) in cases {
        let mut g = group(yaml, &store, |_| {});
        g.eval(0);
        let r = &g.snapshot().rules[0];
        assert_eq!(r.health, RuleHealth::Err, "{yaml}");
        assert_eq!(r.last_error.as_deref(), Some(want), "{yaml}");
    }
}

#[test]
fn query_offset_shifts_the_query_and_the_output() {
    let store = store_with(&[("x", &[], &[(0, 1.0), (2 * MIN, 5.0)])]);
    let mut g = group(
        "groups: [{name: g, query_offset: 1m, rules: [{record: y, expr: x}]}]",
        &store,
        |_| {},
    );
    g.eval(2 * MIN);
    assert_eq!(samples(&store, "y")[0].1, vec![(MIN, 1.0)]);
}

#[test]
fn alerts_go_pending_then_firing_then_resolved_and_are_sent() {
    let store = store_with(&[(
        "errors",
        &[("job", "api")],
        &[(0, 5.0), (MIN, 5.0), (2 * MIN, 5.0), (3 * MIN, 5.0)],
    )]);
    let sent = Arc::new(Captured::default());
    let sender = sent.clone();
    let mut g = group(
        r#"
groups:
  - name: g
    rules:
      - alert: HighErrors
        expr: errors > 1
        for: 2m
        labels: {severity: "{{ if gt $value 4.0 }}page{{ else }}ticket{{ end }}"}
        annotations:
          summary: "{{ $labels.job }} has {{ $value }} errors ({{ $externalLabels.dc }})"
"#,
        &store,
        |o| {
            o.sender = Some(sender);
            o.external_url = "http://prom:9090".into();
            o.external_labels = [("dc".to_owned(), "eu".to_owned())].into();
        },
    );
    let state_at = |g: &Group| g.snapshot().rules[0].alerting.as_ref().unwrap().state;
    assert_eq!(state_at(&g), AlertState::Unknown);
    g.eval(0);
    assert_eq!(state_at(&g), AlertState::Pending);
    g.eval(MIN);
    assert_eq!(state_at(&g), AlertState::Pending);
    assert!(
        sent.0.lock().unwrap().is_empty(),
        "pending alerts are not sent"
    );
    g.eval(2 * MIN);
    assert_eq!(state_at(&g), AlertState::Firing);
    let alerts = g.active_alerts();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(
        a.labels,
        Labels::from_pairs([
            ("alertname", "HighErrors"),
            ("job", "api"),
            ("severity", "page")
        ])
    );
    assert_eq!(a.annotations.get("summary"), Some("api has 5 errors (eu)"));
    assert_eq!((a.active_at, a.fired_at), (0, Some(2 * MIN)));
    {
        let s = sent.0.lock().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].starts_at, 2 * MIN);
        // Valid for four times max(resend delay 1m, interval 1m).
        assert_eq!(s[0].ends_at, 2 * MIN + 4 * MIN);
        assert_eq!(
            s[0].generator_url,
            "http://prom:9090/graph?g0.expr=errors+%3E+1&g0.tab=1"
        );
    }
    // ALERTS and ALERTS_FOR_STATE.
    let alerts_series = samples(&store, "ALERTS");
    let states: Vec<&str> = alerts_series
        .iter()
        .filter_map(|(l, _)| l.get("alertstate"))
        .collect();
    assert_eq!(states, ["firing", "pending"]);
    let for_state = samples(&store, "ALERTS_FOR_STATE");
    assert_eq!(for_state[0].1.last(), Some(&(2 * MIN, 0.0)));

    // The last sample is at 3m; after the 5m lookback the alert resolves and is sent
    // as resolved.
    g.eval(9 * MIN);
    assert_eq!(state_at(&g), AlertState::Inactive);
    assert!(g.active_alerts().is_empty());
    let s = sent.0.lock().unwrap();
    let last = s.last().unwrap();
    assert_eq!(last.ends_at, 9 * MIN);
    // The firing ALERTS series is marked stale.
    let firing = samples(&store, "ALERTS")
        .into_iter()
        .find(|(l, _)| l.get("alertstate") == Some("firing"))
        .unwrap();
    assert!(is_stale_nan(firing.1.last().unwrap().1));
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let store = store_with(&[("x", &[], &[(0, 1.0)])]);
    let mut g = group(
        "groups: [{name: g, rules: [{alert: A, expr: x > 0, keep_firing_for: 10m}]}]",
        &store,
        |o| o.default_interval = std::time::Duration::from_mins(1),
    );
    g.eval(0);
    assert_eq!(g.active_alerts()[0].state, AlertState::Firing);
    // x is gone after the 5m lookback; the alert keeps firing until 10m after that.
    g.eval(6 * MIN);
    assert_eq!(g.active_alerts()[0].state, AlertState::Firing);
    assert_eq!(g.active_alerts()[0].keep_firing_since, Some(6 * MIN));
    g.eval(16 * MIN);
    assert!(g.active_alerts().is_empty());
}

#[test]
fn failed_templates_put_the_error_in_the_value() {
    let store = store_with(&[("x", &[], &[(0, 1.0)])]);
    let mut g = group(
        r#"groups: [{name: g, rules: [{alert: A, expr: x, annotations: {a: '{{ humanize "no" }}'}}]}]"#,
        &store,
        |_| {},
    );
    g.eval(0);
    let a = g.active_alerts();
    let v = a[0].annotations.get("a").unwrap();
    assert!(
        v.starts_with(
            "<error expanding template: error executing template __alert_A: template: __alert_A:1:"
        ),
        "{v}"
    );
    assert!(
        v.ends_with("error calling humanize: strconv.ParseFloat: parsing \"no\": invalid syntax>"),
        "{v}"
    );
}

#[test]
fn template_queries_run_at_the_evaluation_time() {
    let store = store_with(&[("x", &[], &[(0, 1.0)]), ("y", &[("k", "v")], &[(0, 7.0)])]);
    let mut g = group(
        r#"groups: [{name: g, rules: [{alert: A, expr: x, annotations: {a: '{{ with query "y" }}{{ (first .).Labels.k }}={{ . | first | value }}{{ end }}'}}]}]"#,
        &store,
        |_| {},
    );
    g.eval(MIN);
    assert_eq!(g.active_alerts()[0].annotations.get("a"), Some("v=7"));
}

#[test]
fn groups_are_aligned_by_a_hash_of_name_and_file() {
    let store = Arc::new(MemStore::new());
    let g = group(
        "groups: [{name: g, interval: 1m, rules: []}]",
        &store,
        |_| {},
    );
    let t = g.eval_timestamp(10 * MIN + 12_345);
    assert!(t <= 10 * MIN + 12_345 && t > 9 * MIN + 12_345, "{t}");
    // The same offset within every interval.
    assert_eq!(g.eval_timestamp(20 * MIN + 12_345) - t, 10 * MIN);
    let other = group(
        "groups: [{name: h, interval: 1m, rules: []}]",
        &store,
        |_| {},
    );
    assert_ne!(other.eval_timestamp(10 * MIN) % MIN, t % MIN);
}

#[test]
fn for_state_is_restored_after_a_restart() {
    // ALERTS_FOR_STATE says the alert became active at 0s and was last written at 4m.
    let store = store_with(&[
        ("x", &[], &[(0, 1.0), (6 * MIN, 1.0)]),
        (
            "ALERTS_FOR_STATE",
            &[("alertname", "A")],
            &[(3 * MIN, 0.0), (4 * MIN, 0.0)],
        ),
    ]);
    let mut g = group(
        "groups: [{name: g, rules: [{alert: A, expr: x > 0, for: 30m}]}]",
        &store,
        |o| o.restore_for_state = true,
    );
    g.eval(6 * MIN);
    // Active 4m before going down, down for 2m: activeAt moves by the downtime.
    assert_eq!(g.active_alerts()[0].active_at, 2 * MIN);
    assert!(
        samples(&store, "ALERTS").is_empty(),
        "ALERTS waits for the restore"
    );
}

#[test]
fn no_restore_when_the_state_series_ended_stale_or_the_hold_is_short() {
    let store = store_with(&[
        ("x", &[], &[(0, 1.0), (6 * MIN, 1.0)]),
        (
            "ALERTS_FOR_STATE",
            &[("alertname", "A")],
            &[(3 * MIN, 0.0), (4 * MIN, promlite_model::STALE_NAN)],
        ),
        ("ALERTS_FOR_STATE", &[("alertname", "B")], &[(4 * MIN, 0.0)]),
    ]);
    let mut g = group(
        "groups: [{name: g, rules: [{alert: A, expr: x > 0, for: 30m}, {alert: B, expr: x > 0, for: 5m}]}]",
        &store,
        |o| o.restore_for_state = true,
    );
    g.eval(6 * MIN);
    // A: its last state sample is a staleness marker; B: `for` is below the 10m grace
    // period. Both keep the activeAt of this evaluation.
    let alerts = g.active_alerts();
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| a.active_at == 6 * MIN), "{alerts:?}");
}
