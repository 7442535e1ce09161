//! The rule manager: running groups on tokio, reloads that keep alert state, and the
//! snapshots for the API.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use promlite_model::Labels;
use promlite_promql::{Engine, EngineOptions};
use promlite_rules::{AlertState, EvalOptions, Manager, RuleGroups};
use promlite_storage::{Appendable, MemStore, SeriesRef};

fn manager(store: &Arc<MemStore>) -> Manager {
    Manager::new(EvalOptions::new(
        Arc::new(Engine::new(EngineOptions::new())),
        store.clone(),
        store.clone(),
    ))
}

fn rules(yaml: &str) -> RuleGroups {
    RuleGroups::from_yaml(yaml, Path::new("r.yml")).unwrap()
}

#[test]
fn reload_keeps_alert_state_of_the_same_group() {
    let store = Arc::new(MemStore::new());
    let mut app = store.appender();
    let x = Labels::from_pairs([("__name__", "x")]);
    for t in [0, 60_000, 120_000] {
        app.append(SeriesRef::NONE, &x, t, 1.0).unwrap();
    }
    app.commit().unwrap();
    let m = manager(&store);
    let yaml = "groups: [{name: g, rules: [{alert: A, expr: x > 0, for: 1m}]}]";
    m.update(vec![("r.yml".into(), rules(yaml))]);
    m.eval_all(0);
    assert_eq!(m.alerts()[0].state, AlertState::Pending);
    // The same group with an added rule: A keeps its activeAt and fires at 1m.
    let yaml2 =
        "groups: [{name: g, rules: [{alert: A, expr: x > 0, for: 1m}, {record: y, expr: x}]}]";
    m.update(vec![("r.yml".into(), rules(yaml2))]);
    m.eval_all(60_000);
    let alerts = m.alerts();
    assert_eq!(
        (alerts[0].state, alerts[0].active_at),
        (AlertState::Firing, 0)
    );
    let groups = m.groups();
    assert_eq!(groups[0].rules.len(), 2);
    assert_eq!(groups[0].file, "r.yml");
    let a = groups[0].rules[0].alerting.as_ref().unwrap();
    assert_eq!(a.duration, Duration::from_mins(1));
    // A group under another file name starts afresh.
    m.update(vec![("other.yml".into(), rules(yaml))]);
    m.eval_all(120_000);
    assert_eq!(m.alerts()[0].state, AlertState::Pending);
}

#[test]
fn started_groups_evaluate_on_their_interval_until_stopped() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(MemStore::new());
        let m = manager(&store);
        m.update(vec![(
            "r.yml".into(),
            rules("groups: [{name: g, interval: 100ms, rules: [{record: one, expr: vector(1)}]}]"),
        )]);
        m.start();
        // Wait (up to a generous deadline) for the first evaluation.
        let mut evaluated = false;
        for _ in 0..200 {
            if m.groups()[0].last_evaluation.is_some() {
                evaluated = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        m.stop().await;
        assert!(evaluated, "the group never ran");
        assert_eq!(m.groups()[0].rules[0].health.as_str(), "ok");
    });
}

#[test]
fn a_failed_reload_keeps_the_running_rules() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "groups: [{name: g, rules: [{record: one, expr: vector(1)}]}]",
    )
    .unwrap();
    let store = Arc::new(MemStore::new());
    let m = manager(&store);
    let pattern = dir.path().join("*.yml").display().to_string();
    m.update_from_files(
        std::slice::from_ref(&pattern),
        &promlite_rules::RuleFileOptions::new(),
    )
    .unwrap();
    assert_eq!(m.groups().len(), 1);
    std::fs::write(
        dir.path().join("bad.yml"),
        "groups: [{name: h, rules: [{record: two, expr: 'up +'}]}]",
    )
    .unwrap();
    let errs = m
        .update_from_files(&[pattern], &promlite_rules::RuleFileOptions::new())
        .unwrap_err();
    assert!(
        errs[0].to_string().contains("could not parse expression"),
        "{errs:?}"
    );
    assert_eq!(m.groups().len(), 1, "the old rules keep running");
}
