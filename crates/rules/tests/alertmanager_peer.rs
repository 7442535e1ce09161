//! Interoperability with Debian's Alertmanager: a group fires an alert over a
//! `MemStore`, the notifier posts it, `amtool` sees it with its templated annotations,
//! and after the condition clears the alert is resolved.
//!
//! Everything runs on 127.0.0.1. Without the peer binaries the test is skipped with a
//! message, unless `PROMLITE_PEERS=1`, where a missing peer is a failure (Debian's
//! package installs `prometheus-alertmanager` and `amtool` in /usr/bin).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use promlite_model::{Labels, STALE_NAN, value::now_ms};
use promlite_promql::{Engine, EngineOptions};
use promlite_rules::{EvalOptions, Group, Notifier, NotifierOptions, RuleGroups};
use promlite_storage::{Appendable, MemStore, SeriesRef};

/// Kills the peer when the test ends, however it ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

fn start_alertmanager(bin: &Path, dir: &Path) -> (Peer, String) {
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\n  group_wait: 0s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alertmanager starts");
    (Peer(child), format!("http://127.0.0.1:{port}"))
}

async fn wait_ready(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{url}/-/ready")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alertmanager at {url} never became ready");
}

/// `amtool alert query` as JSON: the active alerts.
fn amtool_alerts(amtool: &Path, url: &str) -> Vec<serde_json::Value> {
    let out = Command::new(amtool)
        .args(["alert", "query", "-o", "json"])
        .arg(format!("--alertmanager.url={url}"))
        .output()
        .expect("amtool runs");
    assert!(
        out.status.success(),
        "amtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn ours(alerts: &[serde_json::Value]) -> Option<serde_json::Value> {
    alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "DiskFull")
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_alertmanager_and_resolve() {
    let (Some(alertmanager), Some(amtool)) = (
        common::peer("prometheus-alertmanager"),
        common::peer("amtool"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_am, url) = start_alertmanager(&alertmanager, dir.path());
    wait_ready(&url).await;

    // The condition holds 20s ago and stops 10s ago, so the resolution's endsAt is
    // already in the past when Alertmanager receives it.
    let now = now_ms();
    let store = Arc::new(MemStore::new());
    let used = Labels::from_pairs([("__name__", "disk_used_ratio"), ("instance", "db1:9100")]);
    let mut app = store.appender();
    app.append(SeriesRef::NONE, &used, now - 20_000, 0.97)
        .unwrap();
    app.commit().unwrap();

    let notifier = Notifier::new(NotifierOptions {
        external_labels: Labels::from_pairs([("dc", "eu1")]),
        ..NotifierOptions::default()
    })
    .unwrap();
    notifier.set_alertmanagers(std::slice::from_ref(&url));
    let mut opts = EvalOptions::new(
        Arc::new(Engine::new(EngineOptions::new())),
        store.clone(),
        store.clone(),
    );
    opts.sender = Some(Arc::new(notifier.clone()));
    opts.external_url = "http://prometheus.local:9090".into();
    let rules = RuleGroups::from_yaml(
        r#"
groups:
  - name: disks
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.9
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} disk is {{ humanizePercentage $value }} full"
"#,
        Path::new("disks.yml"),
    )
    .unwrap();
    let mut group = Group::new("disks.yml", &rules.groups[0], Arc::new(opts));

    group.eval(now - 20_000);
    notifier
        .flush()
        .await
        .expect("alertmanager accepts the alert");
    let alerts = amtool_alerts(&amtool, &url);
    let a = ours(&alerts).unwrap_or_else(|| panic!("alert not in amtool output: {alerts:?}"));
    assert_eq!(a["annotations"]["summary"], "db1:9100 disk is 97% full");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["labels"]["dc"], "eu1");
    assert_eq!(
        a["generatorURL"],
        "http://prometheus.local:9090/graph?g0.expr=disk_used_ratio+%3E+0.9&g0.tab=1"
    );

    // The series goes stale; the next evaluation resolves the alert.
    let mut app = store.appender();
    app.append(SeriesRef::NONE, &used, now - 15_000, STALE_NAN)
        .unwrap();
    app.commit().unwrap();
    group.eval(now - 10_000);
    assert!(group.active_alerts().is_empty());
    notifier
        .flush()
        .await
        .expect("alertmanager accepts the resolution");
    let mut resolved = false;
    for _ in 0..100 {
        if ours(&amtool_alerts(&amtool, &url)).is_none() {
            resolved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resolved, "the alert is still active in alertmanager");
    let stats = notifier.stats();
    assert_eq!(stats.alertmanagers[0].sent, 2);
    assert_eq!(stats.alertmanagers[0].errors, 0);
}
