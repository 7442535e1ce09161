//! Crash safety end to end: the real `promlite` binary scrapes a target and receives
//! remote writes while it is killed with SIGKILL again and again, at moments picked by a
//! seeded generator (some during startup, while the WAL is being replayed). A remote-write
//! client (remote write 1.0 and 2.0 in turn) is the oracle: every sample the server
//! acknowledged with a 2xx must be queryable after every restart, with its value.
//! Scraped samples a query saw before a kill must be there after it too.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Proc, RW1_HEADERS, Rng, enc, free_port, http, now_ms, serve_target, try_post};
use promlite_remote::prompb;

/// Series written by the remote-write client.
const SERIES: usize = 4;
/// Kill-and-restart rounds.
const ROUNDS: usize = 10;

fn start(data: &Path, config: &Path, port: u16) -> Proc {
    common::spawn(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.tsdb.path={}", data.display()),
            "--web.enable-remote-write-receiver".into(),
        ],
    )
}

fn ready(port: u16) -> bool {
    http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
}

/// The headers of a remote write 2.0 request.
const RW2_HEADERS: &[(&str, &str)] = &[
    (
        "Content-Type",
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    ),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "2.0.0"),
];

/// One remote-write request: sample `i` of every series at `t`, value `i`; every
/// other request speaks remote write 2.0.
fn request(i: u64, t: i64) -> (Vec<u8>, &'static [(&'static str, &'static str)]) {
    let timeseries = (0..SERIES)
        .map(|s| prompb::TimeSeries {
            labels: vec![
                prompb::Label {
                    name: "__name__".into(),
                    value: "crash_rw".into(),
                },
                prompb::Label {
                    name: "series".into(),
                    value: s.to_string(),
                },
            ],
            samples: vec![prompb::Sample {
                value: i as f64,
                timestamp: t,
            }],
            ..Default::default()
        })
        .collect();
    let req = prompb::WriteRequest {
        timeseries,
        metadata: vec![],
    };
    if i.is_multiple_of(2) {
        use prost::Message as _;
        let v2 = promlite_remote::codec::write_request_to_v2(&req, |_| None);
        (
            promlite_remote::codec::snappy_compress(&v2.encode_to_vec()),
            RW2_HEADERS,
        )
    } else {
        (promlite_remote::encode_write_request(&req), RW1_HEADERS)
    }
}

/// The samples of `expr` (a range selector) at the current time, by series label.
fn samples(port: u16, expr: &str) -> Option<BTreeMap<String, Vec<(i64, f64)>>> {
    let (code, body) = http(
        port,
        &format!(
            "/api/v1/query?query={}&time={}",
            enc(expr),
            now_ms() / 1000 + 1
        ),
    )?;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let mut out = BTreeMap::new();
    for series in v["data"]["result"].as_array()? {
        let key = series["metric"]["series"]
            .as_str()
            .or(series["metric"]["__name__"].as_str())
            .unwrap_or("")
            .to_string();
        let values = series["values"]
            .as_array()?
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                let v = p[1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN);
                (t, v)
            })
            .collect();
        out.insert(key, values);
    }
    Some(out)
}

#[test]
fn sigkill_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let scrapes = Arc::new(AtomicU64::new(0));
    let target = serve_target({
        let scrapes = Arc::clone(&scrapes);
        move || {
            let n = scrapes.fetch_add(1, Ordering::Relaxed);
            format!("# TYPE crash_target_total counter\ncrash_target_total {n}\n")
        }
    });
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();

    // The writer sends to whatever port the current server listens on; acknowledged
    // (index, timestamp) pairs are the oracle.
    let port = Arc::new(AtomicU16::new(0));
    let acked: Arc<Mutex<Vec<(u64, i64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (port, acked, stop) = (Arc::clone(&port), Arc::clone(&acked), Arc::clone(&stop));
        move || {
            let (mut i, mut last_t) = (0u64, 0i64);
            let (mut sent, mut refused) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let p = port.load(Ordering::Relaxed);
                if p == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                // Strictly increasing timestamps: a request whose fate is unknown never
                // makes a later one out of order.
                let t = now_ms().max(last_t + 1);
                last_t = t;
                i += 1;
                sent += 1;
                let (body, headers) = request(i, t);
                match try_post(p, "/api/v1/write", headers, &body) {
                    Some((c, _)) if (200..300).contains(&c) => {
                        acked.lock().unwrap().push((i, t));
                    }
                    Some((c, body)) => {
                        // A 5xx while shutting down or starting is fine (not acknowledged);
                        // a 4xx would mean the oracle itself is wrong.
                        assert!(c >= 500, "{c}: {}", String::from_utf8_lossy(&body));
                        refused += 1;
                    }
                    None => refused += 1,
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (sent, refused)
        }
    });

    let mut rng = Rng(0x5eed_0011);
    let mut scraped_seen = 0usize;
    let mut kills = 0;
    let mut checked = 0usize;
    for round in 0..ROUNDS {
        let p = free_port();
        let mut server = start(&data, &config, p);
        // Every third round dies while starting up (WAL replay, repair, first appends).
        if round % 3 == 2 {
            std::thread::sleep(Duration::from_millis(rng.range(0, 150)));
            server.0.kill().unwrap();
            server.0.wait().unwrap();
            kills += 1;
            continue;
        }
        common::wait_for(Duration::from_mins(1), || {
            ready(p) || server.0.try_wait().unwrap().is_some()
        });
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "server exited on start in round {round}"
        );
        // Everything acknowledged before this start must be here.
        let before: Vec<(u64, i64)> = acked.lock().unwrap().clone();
        let got = samples(p, "crash_rw[1h]").expect("query answered");
        for s in 0..SERIES {
            let have: BTreeMap<i64, f64> = got
                .get(&s.to_string())
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default();
            for &(i, t) in &before {
                assert_eq!(
                    have.get(&t),
                    Some(&(i as f64)),
                    "round {round}: acknowledged sample {i} at {t} of series {s} lost \
                     ({} acknowledged, {} present)",
                    before.len(),
                    have.len()
                );
            }
        }
        checked += before.len() * SERIES;
        let scraped = samples(p, "crash_target_total[1h]")
            .and_then(|m| m.get("crash_target_total").map(Vec::len))
            .unwrap_or(0);
        assert!(
            scraped >= scraped_seen,
            "round {round}: scraped samples went from {scraped_seen} to {scraped}"
        );
        port.store(p, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(rng.range(500, 2500)));
        scraped_seen = samples(p, "crash_target_total[1h]")
            .and_then(|m| m.get("crash_target_total").map(Vec::len))
            .unwrap_or(scraped_seen);
        std::thread::sleep(Duration::from_millis(rng.range(0, 200)));
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        kills += 1;
    }

    // A last start: everything ever acknowledged is there, then a clean shutdown.
    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = writer.join().unwrap();
    let p = free_port();
    let server = start(&data, &config, p);
    common::wait_for(Duration::from_mins(1), || ready(p));
    let all = acked.lock().unwrap().clone();
    let got = samples(p, "crash_rw[1h]").expect("query answered");
    let mut lost = 0;
    for s in 0..SERIES {
        let have: BTreeMap<i64, f64> = got
            .get(&s.to_string())
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default();
        lost += all
            .iter()
            .filter(|&&(i, t)| have.get(&t) != Some(&(i as f64)))
            .count();
    }
    assert_eq!(lost, 0, "acknowledged samples lost after the last restart");
    assert!(!all.is_empty(), "no write was ever acknowledged");
    assert!(scraped_seen > 0, "the target was never scraped");
    drop(server);
    // The figures for docs/reliability.md.
    eprintln!(
        "reliability_crash: {kills} SIGKILLs survived, {sent} remote-write requests sent, \
         {} acknowledged ({} samples), {refused} refused or cut off, {checked} sample checks \
         across restarts, {scraped_seen} scraped samples seen before the last kill, lost: {lost}",
        all.len(),
        all.len() * SERIES
    );
}
