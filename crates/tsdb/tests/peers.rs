//! Interoperability with the real Prometheus 2.42 tools (Debian's packages):
//! - blocks promlite writes pass `promtool tsdb analyze`, and Prometheus started on a copy
//!   of the data directory — blocks, WAL checkpoint and WAL segments, all written by
//!   promlite — answers, through its HTTP API, with exactly the samples promlite's querier
//!   returns;
//! - native histograms promlite writes (integer histogram chunks in blocks, histogram
//!   records in the WAL, across a counter reset and a schema change) are decoded by
//!   Prometheus 2.42 (`--enable-feature=native-histograms`) to the same samples;
//! - blocks `promtool tsdb create-blocks-from openmetrics` writes read back identically.
//!
//! Peers are used when installed; with `PROMLITE_PEERS=1` (CI) a missing one fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use promlite_model::{Labels, MatchType, Matcher};
use promlite_storage::{Appendable, Queryable, SampleValue, SeriesRef, collect_samples};
use promlite_tsdb::block::Block;
use promlite_tsdb::{Db, DbOptions};

fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
            "peer {name} is not installed but PROMLITE_PEERS=1"
        );
        eprintln!("peer {name} not installed; interop test not run");
    }
    found
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("promlite-peers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

type Data = BTreeMap<String, Vec<(i64, u64)>>;

fn read(q: &dyn Queryable, m: &Matcher) -> Data {
    let q = q.querier(i64::MIN, i64::MAX).unwrap();
    q.select(true, None, std::slice::from_ref(m))
        .map(|s| {
            let s = s.unwrap();
            let v = collect_samples(&*s)
                .into_iter()
                .map(|x| match x.value {
                    SampleValue::Float(v) => (x.t, v.to_bits()),
                    _ => panic!("histogram"),
                })
                .collect();
            (s.labels().to_string(), v)
        })
        .collect()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let code = resp.get(9..12)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n")?.1.to_owned();
    Some((code, body))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Starts Prometheus on a copy of `data` (it may compact or rewrite what it opens) on a
/// free port with `extra` flags, and waits until it is ready.
fn prometheus_on_copy(
    prometheus: &Path,
    work: &Path,
    data: &Path,
    extra: &[&str],
) -> (Killed, u16) {
    let copy = work.join("copy");
    copy_dir(data, &copy);
    let _ = std::fs::remove_file(copy.join("lock"));
    let config = work.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", copy.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=10y")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_mins(1);
    while http_get(port, "/-/ready").is_none_or(|(c, _)| c != 200) {
        assert!(Instant::now() < deadline, "Prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (p, port)
}

#[test]
fn prometheus_reads_promlite_blocks() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let Some(prometheus) = peer("prometheus") else {
        return;
    };
    let work = tmp("ours");
    let data = work.join("data");
    // Five hours of 15 s samples ending now, so Prometheus's retention keeps them.
    let end = promlite_model::value::now_ms() / 15_000 * 15_000;
    let start = end - 5 * 3600 * 1000;
    let ours = {
        let db = Db::open(&data, DbOptions::default()).unwrap();
        let mut app = db.appender();
        for t in (start..=end).step_by(15_000) {
            for (i, job) in ["api", "web", "db"].iter().enumerate() {
                for inst in 0..4 {
                    let l = Labels::from_pairs([
                        ("__name__", "interop_metric"),
                        ("job", job),
                        ("instance", &format!("host-{inst}:9100")),
                    ]);
                    let v =
                        ((t - start) / 15_000) as f64 * (i as f64 + 0.5) + f64::from(inst) / 3.0;
                    app.append(SeriesRef::NONE, &l, t, v).unwrap();
                }
            }
        }
        app.commit().unwrap();
        db.compact().unwrap();
        assert!(!db.blocks().is_empty(), "expected persisted blocks");
        // Deletions in a block (tombstones file) and in the head (WAL record), which
        // Prometheus must honour too.
        let victim = [
            Matcher::equal("job", "api"),
            Matcher::equal("instance", "host-0:9100"),
        ];
        assert!(
            db.delete(start + 3_600_000, end - 3_600_000, &victim)
                .unwrap()
                >= 2
        );
        read(&db, &Matcher::equal("__name__", "interop_metric"))
    };
    assert_eq!(ours.len(), 12);

    let out = Command::new(&promtool)
        .args(["tsdb", "analyze"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool tsdb analyze failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Block ID"), "{text}");

    // Prometheus on a copy (it may compact or rewrite what it opens).
    let (_p, port) = prometheus_on_copy(&prometheus, &work, &data, &[]);
    // A range selector at `end` returns every raw sample in (end-6h, end].
    let q = urlencode("interop_metric[6h]");
    let (code, body) = http_get(
        port,
        &format!("/api/v1/query?query={q}&time={}", end as f64 / 1000.0),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut theirs = Data::new();
    for series in v["data"]["result"].as_array().unwrap() {
        let labels = Labels::from_pairs(
            series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
        );
        let samples = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                (t, v.to_bits())
            })
            .collect();
        theirs.insert(labels.to_string(), samples);
    }
    let n: usize = theirs.values().map(Vec::len).sum();
    eprintln!("Prometheus returned {} series, {n} samples", theirs.len());
    assert_eq!(n, ours.values().map(Vec::len).sum::<usize>());
    assert!(n < 12 * (5 * 240 + 1), "the deleted samples are gone");
    assert_eq!(
        theirs, ours,
        "Prometheus returns different samples from promlite's blocks"
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn promlite_reads_promtool_blocks() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let work = tmp("theirs");
    let mut om = String::from("# HELP gen_total A counter.\n# TYPE gen_total counter\n");
    let mut want = Data::new();
    let base = 1_700_000_000i64;
    for i in 0..2000i64 {
        for s in 0..3 {
            let t = base + i * 10;
            let v = (i * (s + 1)) as f64 + 0.25;
            writeln!(om, "gen_total{{s=\"{s}\"}} {v} {t}").unwrap();
            let key =
                Labels::from_pairs([("__name__", "gen_total"), ("s", &s.to_string())]).to_string();
            want.entry(key).or_default().push((t * 1000, v.to_bits()));
        }
    }
    om.push_str("# EOF\n");
    let src = work.join("in.om");
    std::fs::write(&src, om).unwrap();
    let out = work.join("blocks");
    let st = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&src)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut got = Data::new();
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if !p.join("meta.json").exists() {
            continue;
        }
        let b = Block::open(&p).unwrap();
        for (k, v) in read(
            &b,
            &Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap(),
        ) {
            got.entry(k).or_default().extend(v);
        }
    }
    for v in got.values_mut() {
        v.sort_unstable();
    }
    assert_eq!(got, want);
    std::fs::remove_dir_all(&work).unwrap();
}

/// An integer native histogram at step `i`: three positive buckets and one apart, one
/// negative bucket and the zero bucket, all growing; it restarts (a counter reset) at
/// step 600, and from step 800 its schema is 1 instead of 0.
fn histogram_at(i: u64, k: u64) -> promlite_model::Histogram {
    use promlite_model::{Histogram, Span};
    let n = if i >= 600 { i - 600 } else { i } + 1;
    let abs = [n * (k + 1), n * 2, n * 3 + k, n];
    let neg = n * (k + 2);
    let zero = n / 2;
    let mut deltas = Vec::new();
    let mut prev = 0i64;
    for a in abs {
        deltas.push(a as i64 - prev);
        prev = a as i64;
    }
    Histogram {
        schema: i32::from(i >= 800),
        zero_threshold: 0.001,
        zero_count: zero,
        count: zero + abs.iter().sum::<u64>() + neg,
        sum: n as f64 * 2.5 + k as f64,
        positive_spans: vec![
            Span {
                offset: 0,
                length: 3,
            },
            Span {
                offset: 2,
                length: 1,
            },
        ],
        positive_buckets: deltas,
        negative_spans: vec![Span {
            offset: 1,
            length: 1,
        }],
        negative_buckets: vec![neg as i64],
        ..Histogram::default()
    }
}

/// Per series: each sample's time, count, sum and sorted non-empty bucket counts.
type HistData = BTreeMap<String, Vec<(i64, f64, f64, Vec<u64>)>>;

#[test]
fn prometheus_reads_promlite_native_histograms() {
    let Some(prometheus) = peer("prometheus") else {
        return;
    };
    let work = tmp("hist");
    let data = work.join("data");
    let end = promlite_model::value::now_ms() / 15_000 * 15_000;
    let start = end - 1199 * 15_000;
    let ours: HistData = {
        let db = Db::open(&data, DbOptions::default()).unwrap();
        let mut app = db.appender();
        for (i, t) in (start..=end).step_by(15_000).enumerate() {
            for k in 0..2u64 {
                let l = Labels::from_pairs([
                    ("__name__", "interop_hist"),
                    ("job", if k == 0 { "api" } else { "web" }),
                ]);
                let h = histogram_at(i as u64, k);
                app.append_histogram(
                    SeriesRef::NONE,
                    &l,
                    t,
                    promlite_storage::HistogramRef::Int(&h),
                )
                .unwrap();
            }
        }
        app.commit().unwrap();
        // Blocks for the older hours; the newest stay in the head (WAL histogram records).
        db.compact().unwrap();
        assert!(!db.blocks().is_empty(), "expected persisted blocks");
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        q.select(true, None, &[Matcher::equal("__name__", "interop_hist")])
            .map(|s| {
                let s = s.unwrap();
                let v = collect_samples(&*s)
                    .into_iter()
                    .map(|x| {
                        let h = match x.value {
                            SampleValue::Histogram(h) => h.to_float(),
                            SampleValue::FloatHistogram(h) => (*h).clone(),
                            SampleValue::Float(_) => panic!("float sample"),
                        };
                        let mut counts: Vec<u64> = h
                            .positive_buckets
                            .iter()
                            .chain(&h.negative_buckets)
                            .chain(std::iter::once(&h.zero_count))
                            .filter(|c| **c > 0.0)
                            .map(|c| *c as u64)
                            .collect();
                        counts.sort_unstable();
                        (x.t, h.count, h.sum, counts)
                    })
                    .collect();
                (s.labels().to_string(), v)
            })
            .collect()
    };
    assert_eq!(ours.values().map(Vec::len).sum::<usize>(), 2400);

    let (_p, port) = prometheus_on_copy(
        &prometheus,
        &work,
        &data,
        &["--enable-feature=native-histograms"],
    );
    let q = urlencode("interop_hist[6h]");
    let (code, body) = http_get(
        port,
        &format!("/api/v1/query?query={q}&time={}", end as f64 / 1000.0),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let num = |x: &serde_json::Value| -> f64 { x.as_str().unwrap().parse().unwrap() };
    let mut theirs = HistData::new();
    for series in v["data"]["result"].as_array().unwrap() {
        let labels = Labels::from_pairs(
            series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
        );
        let samples = series["histograms"]
            .as_array()
            .unwrap_or_else(|| panic!("no histograms in {series}"))
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let h = &p[1];
                let mut counts: Vec<u64> = h["buckets"]
                    .as_array()
                    .map(|b| b.iter().map(|b| num(&b[3]) as u64).collect())
                    .unwrap_or_default();
                counts.retain(|c| *c > 0);
                counts.sort_unstable();
                (t, num(&h["count"]), num(&h["sum"]), counts)
            })
            .collect();
        theirs.insert(labels.to_string(), samples);
    }
    let n: usize = theirs.values().map(Vec::len).sum();
    eprintln!(
        "Prometheus returned {} histogram series, {n} samples",
        theirs.len()
    );
    assert_eq!(
        theirs, ours,
        "Prometheus decodes promlite's histogram chunks and WAL records differently"
    );
    // Counter resets: Prometheus's rate over the reset agrees in sign (no negative rate).
    let q = urlencode("histogram_count(rate(interop_hist[5m]))");
    let t_reset = start + 601 * 15_000;
    let (_, body) = http_get(
        port,
        &format!("/api/v1/query?query={q}&time={}", t_reset as f64 / 1000.0),
    )
    .unwrap();
    assert!(body.contains(r#""status":"success""#), "{body}");
    assert!(
        !body.contains("\"-"),
        "negative rate over the reset: {body}"
    );
    std::fs::remove_dir_all(&work).unwrap();
}
