//! The notifier against a minimal HTTP receiver on 127.0.0.1: batches of at most 256,
//! every Alertmanager gets every alert, failures are counted, bodies are v2 JSON.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use promlite_model::Labels;
use promlite_rules::{Notifier, NotifierAlert, NotifierOptions};

/// Accepts connections and answers each POST with `status`, recording the bodies.
fn receiver(status: u16) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    // Request line and headers.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if let Ok(v) = serde_json::from_slice(&body) {
                        seen.lock().unwrap().push(v);
                    }
                    let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    if conn.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, bodies)
}

fn alerts(n: usize) -> Vec<NotifierAlert> {
    (0..n)
        .map(|i| NotifierAlert {
            labels: Labels::from_pairs([("alertname", "A".to_owned()), ("i", i.to_string())]),
            annotations: Labels::empty(),
            starts_at: 1_000,
            ends_at: 2_000,
            generator_url: String::new(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_go_to_every_alertmanager_and_failures_are_counted() {
    let (a, a_bodies) = receiver(200);
    let (b, b_bodies) = receiver(200);
    let (bad, _) = receiver(500);
    let n = Notifier::new(NotifierOptions::default()).unwrap();
    n.set_alertmanagers(&[a.clone(), b.clone(), bad.clone()]);
    n.send(alerts(300));
    let err = n.flush().await.unwrap_err();
    assert!(err.to_string().contains("bad response status 500"), "{err}");
    for bodies in [&a_bodies, &b_bodies] {
        let sizes: Vec<usize> = bodies
            .lock()
            .unwrap()
            .iter()
            .map(|v| v.as_array().map_or(0, Vec::len))
            .collect();
        assert_eq!(sizes, [256, 44]);
    }
    let first = &a_bodies.lock().unwrap()[0][0];
    assert_eq!(first["labels"]["alertname"], "A");
    assert_eq!(first["startsAt"], "1970-01-01T00:00:01Z");
    let stats = n.stats();
    let by_url = |u: &str| {
        stats
            .alertmanagers
            .iter()
            .find(|s| s.url.starts_with(u))
            .cloned()
            .unwrap()
    };
    assert_eq!((by_url(&a).sent, by_url(&a).errors), (300, 0));
    assert_eq!((by_url(&b).sent, by_url(&b).errors), (300, 0));
    assert_eq!((by_url(&bad).sent, by_url(&bad).errors), (0, 300));
    assert_eq!(stats.queue_length, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabeling_and_external_labels_apply_before_sending() {
    let configs: Vec<promlite_relabel::RelabelConfig> = serde_json::from_str(
        r#"[
            {"source_labels": ["i"], "regex": "1.*", "action": "drop"},
            {"target_label": "team", "replacement": "db"}
        ]"#,
    )
    .unwrap();
    let n = Notifier::new(NotifierOptions {
        relabel_configs: configs,
        external_labels: Labels::from_pairs([("dc", "eu1")]),
        ..NotifierOptions::default()
    })
    .unwrap();
    let (url, bodies) = receiver(200);
    n.set_alertmanagers(&[url]);
    n.send(alerts(3));
    n.flush().await.unwrap();
    let bodies = bodies.lock().unwrap();
    let sent: Vec<(String, String, String)> = bodies[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let l = &a["labels"];
            (
                l["i"].as_str().unwrap_or("").to_owned(),
                l["team"].as_str().unwrap_or("").to_owned(),
                l["dc"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // i=1 is dropped; the others get team="db" and the external label.
    assert_eq!(
        sent,
        [
            ("0".to_owned(), "db".to_owned(), "eu1".to_owned()),
            ("2".to_owned(), "db".to_owned(), "eu1".to_owned())
        ]
    );
}

/// An Alertmanager entry's own `alert_relabel_configs` shape only what that
/// Alertmanager receives: one drops an alert and labels the rest, the other gets all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alertmanager_gets_its_own_relabeling() {
    let (a, a_bodies) = receiver(200);
    let (b, b_bodies) = receiver(200);
    let rules: Vec<promlite_relabel::RelabelConfig> = serde_norway::from_str(
        "[{source_labels: [i], regex: '1', action: drop}, {target_label: via, replacement: a}]",
    )
    .unwrap();
    let n = Notifier::new(NotifierOptions::default()).unwrap();
    n.set_alertmanager_targets(&[
        promlite_rules::AlertmanagerTarget {
            base_url: a,
            relabel_configs: rules,
            ..Default::default()
        },
        promlite_rules::AlertmanagerTarget {
            base_url: b,
            ..Default::default()
        },
    ]);
    n.send(alerts(3));
    n.flush().await.unwrap();
    let got = |bodies: &Arc<Mutex<Vec<serde_json::Value>>>| -> Vec<(String, String)> {
        bodies.lock().unwrap()[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["labels"]["i"].as_str().unwrap_or("").to_owned(),
                    x["labels"]["via"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        got(&a_bodies),
        [("0".into(), "a".into()), ("2".into(), "a".into())]
    );
    assert_eq!(
        got(&b_bodies),
        [
            ("0".into(), String::new()),
            ("1".into(), String::new()),
            ("2".into(), String::new())
        ]
    );
}
