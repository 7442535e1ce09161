//! TSDB figures: append throughput, select-and-decode speed, WAL replay speed (against
//! Prometheus 2.42 replaying the same WAL, when installed), bytes per sample on disk for
//! real node_exporter data (against the same data backfilled by promtool 2.42 in the same
//! run), and head memory per active series. Figures go to `docs/benchmarks.md`.
//!
//! Run: `cargo bench --bench tsdb`. The one-shot figures print first; criterion then
//! measures the throughputs.
// A counting allocator is the honest way to measure memory per series; implementing
// `GlobalAlloc` is unsafe by definition.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use promlite::exposition::{Entry, PromParser};
use promlite::model::{Labels, LabelsBuilder, Matcher};
use promlite::storage::{Appendable, Queryable, SeriesRef, ValueType};
use promlite::tsdb::chunkenc::XorChunk;
use promlite::tsdb::wal::WalOptions;
use promlite::tsdb::{Head, HeadOptions};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged; the counter is only
// bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const NODE_OM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/tsdb/node_exporter-480x15s.om.gz"
);

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("promlite-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .map(|e| {
                if e.path().is_dir() {
                    dir_size(&e.path())
                } else {
                    e.metadata().map_or(0, |m| m.len())
                }
            })
            .sum()
    })
}

/// node_exporter-like label sets: 50 metric names × per-host label values.
fn node_labels(i: usize) -> Labels {
    const NAMES: [&str; 5] = [
        "node_cpu_seconds_total",
        "node_network_receive_bytes_total",
        "node_filesystem_avail_bytes",
        "node_disk_io_time_seconds_total",
        "node_memory_MemFree_bytes",
    ];
    const MODES: [&str; 8] = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let host = i / 400;
    let k = i % 400;
    Labels::from_pairs([
        ("__name__", NAMES[k % 5]),
        ("cpu", &(k / 40).to_string()),
        ("mode", MODES[(k / 5) % 8]),
        (
            "instance",
            &format!(
                "10.{}.{}.{}:9100",
                host / 65536,
                (host / 256) % 256,
                host % 256
            ),
        ),
        ("job", "node"),
    ])
}

fn memory_per_series(n: usize) -> f64 {
    let labels: Vec<Labels> = (0..n).map(node_labels).collect();
    let before = LIVE.load(Ordering::Relaxed);
    let head = Head::new(&HeadOptions::default());
    let mut refs = vec![SeriesRef::NONE; n];
    for round in 0..2 {
        for (chunk_i, chunk) in labels.chunks(10_000).enumerate() {
            let mut app = head.appender();
            for (j, l) in chunk.iter().enumerate() {
                let idx = chunk_i * 10_000 + j;
                refs[idx] = app
                    .append(refs[idx], l, 1_000 + round * 15_000, idx as f64)
                    .unwrap();
            }
            app.commit().unwrap();
        }
    }
    let after = LIVE.load(Ordering::Relaxed);
    black_box(&head);
    (after - before) as f64 / n as f64
}

fn node_exporter_om() -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(NODE_OM).expect("conformance data"))
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// Bytes per sample of chunks (and chunks + index) for the real node_exporter data:
/// promlite's block against promtool's, in the same run.
fn bytes_per_sample() {
    let om = node_exporter_om();
    let work = tmp("size");
    let head = Head::new(&HeadOptions::default());
    // The file is 480 scrapes back to back; read it line-wise as text exposition, since
    // its families repeat once per scrape, and convert its seconds to milliseconds.
    let body = om.trim_end().trim_end_matches("# EOF");
    let mut p = PromParser::new(body);
    let mut lb = LabelsBuilder::new();
    let mut app = head.appender();
    let (mut samples, mut n) = (0u64, 0);
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    while let Some(e) = p.next().unwrap() {
        if let Entry::Series(s) = e {
            let t = s.timestamp.unwrap() * 1000;
            app.append(SeriesRef::NONE, &s.to_labels(&mut lb), t, s.value)
                .unwrap();
            samples += 1;
            n += 1;
            mint = mint.min(t);
            maxt = maxt.max(t);
            if n == 10_000 {
                app.commit().unwrap();
                app = head.appender();
                n = 0;
            }
        }
    }
    app.commit().unwrap();
    let block = head.write_block(&work, mint, maxt + 1).unwrap().unwrap();
    let ours_chunks = dir_size(&block.join("chunks"));
    let ours_total = ours_chunks + std::fs::metadata(block.join("index")).unwrap().len();
    println!(
        "bytes/sample node_exporter-480x15s ({samples} samples): promlite chunks {:.3}, chunks+index {:.3}",
        ours_chunks as f64 / samples as f64,
        ours_total as f64 / samples as f64
    );
    if which("promtool").is_some() {
        let src = work.join("in.om");
        std::fs::write(&src, &om).unwrap();
        let out = work.join("promtool");
        let st = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&src)
            .arg(&out)
            .output()
            .unwrap();
        assert!(st.status.success());
        let (mut chunks, mut total) = (0, 0);
        for e in std::fs::read_dir(&out).unwrap().filter_map(Result::ok) {
            if e.path().join("index").exists() {
                let c = dir_size(&e.path().join("chunks"));
                chunks += c;
                total += c + std::fs::metadata(e.path().join("index")).unwrap().len();
            }
        }
        println!(
            "bytes/sample promtool 2.42: chunks {:.3}, chunks+index {:.3}; promlite/promtool ratio: chunks {:.3}, total {:.3}",
            chunks as f64 / samples as f64,
            total as f64 / samples as f64,
            ours_chunks as f64 / chunks as f64,
            ours_total as f64 / total as f64
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Writes a WAL of `series` × `samples` (15 s apart, one commit per scrape round).
fn write_wal(dir: &Path, series: usize, samples: usize) -> u64 {
    let head = Head::open(
        &HeadOptions::default(),
        &dir.join("wal"),
        WalOptions::default(),
    )
    .unwrap();
    let labels: Vec<Labels> = (0..series).map(node_labels).collect();
    let mut refs = vec![SeriesRef::NONE; series];
    let t0 = promlite::model::value::now_ms() - samples as i64 * 15_000;
    for round in 0..samples {
        let mut app = head.appender();
        for (i, l) in labels.iter().enumerate() {
            refs[i] = app
                .append(refs[i], l, t0 + round as i64 * 15_000, (round * i) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    (series * samples) as u64
}

fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200")
}

/// WAL replay: promlite's `Head::open` against Prometheus 2.42 starting on a copy of the
/// same directory (time until `/-/ready`, which includes its replay).
fn wal_replay(series: usize, samples: usize) {
    let work = tmp("replay");
    let total = write_wal(&work, series, samples);
    let mut ours = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let head = Head::open(
            &HeadOptions::default(),
            &work.join("wal"),
            WalOptions::default(),
        )
        .unwrap();
        ours = ours.min(start.elapsed());
        drop(head);
    }
    println!(
        "WAL replay {series} series × {samples} samples: promlite {:.2}s ({:.1}M samples/s)",
        ours.as_secs_f64(),
        total as f64 / ours.as_secs_f64() / 1e6
    );
    let Some(prom) = which("prometheus") else {
        return;
    };
    let mut theirs = Duration::MAX;
    let mut theirs_logged = Duration::MAX;
    // At a million series one Prometheus start takes minutes; one run is enough there.
    let runs = if series > 200_000 { 1 } else { 2 };
    for run in 0..runs {
        let copy = work.join(format!("copy{run}"));
        std::fs::create_dir_all(copy.join("wal")).unwrap();
        for e in std::fs::read_dir(work.join("wal"))
            .unwrap()
            .filter_map(Result::ok)
        {
            if e.path().is_file() {
                std::fs::copy(e.path(), copy.join("wal").join(e.file_name())).unwrap();
            }
        }
        let cfg = work.join("p.yml");
        std::fs::write(&cfg, "global: {}\n").unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let start = Instant::now();
        let mut child = Command::new(&prom)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", copy.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        while !http_ok(port, "/-/ready") {
            assert!(
                start.elapsed() < Duration::from_mins(10),
                "Prometheus never became ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        theirs = theirs.min(start.elapsed());
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(work.join("prometheus.log")).unwrap_or_default();
        if let Some(d) = log
            .split_whitespace()
            .find_map(|w| w.strip_prefix("total_replay_duration="))
            .and_then(go_duration)
        {
            theirs_logged = theirs_logged.min(d);
        }
    }
    println!(
        "WAL replay Prometheus 2.42: start to ready {:.2}s (promlite {:.1}x faster), replay as logged {:.2}s (promlite {:.1}x faster)",
        theirs.as_secs_f64(),
        theirs.as_secs_f64() / ours.as_secs_f64(),
        theirs_logged.as_secs_f64(),
        theirs_logged.as_secs_f64() / ours.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// Parses the durations Prometheus logs (Go's `time.Duration` text, e.g. `1m25.6s`,
/// `850.3ms`, `54.15µs`).
fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = s.trim_matches('"');
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        total += n * match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "µs" | "us" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

fn criterion_benches(c: &mut Criterion) {
    // Append: 100K and 1M series, one sample each per transaction, references cached as
    // a scrape loop does.
    let mut g = c.benchmark_group("tsdb_append");
    g.sample_size(10);
    for (name, n) in [
        ("100k_series_one_sample_each", 100_000),
        ("1m_series_one_sample_each", 1_000_000),
    ] {
        let head = Head::new(&HeadOptions::default());
        let labels: Vec<Labels> = (0..n).map(node_labels).collect();
        let mut refs = vec![SeriesRef::NONE; n];
        let mut t = 0i64;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                t += 15_000;
                let mut app = head.appender();
                for (i, l) in labels.iter().enumerate() {
                    refs[i] = app.append(refs[i], l, t, i as f64).unwrap();
                }
                app.commit().unwrap();
            });
        });
    }
    g.finish();

    // Select and decode.
    let head = Head::new(&HeadOptions::default());
    let mut app = head.appender();
    for i in 0..10_000 {
        let l = Labels::from_pairs([("__name__", "sel"), ("i", &i.to_string())]);
        for s in 0..120 {
            app.append(SeriesRef::NONE, &l, s * 15_000, (s * i) as f64)
                .unwrap();
        }
    }
    let one = Labels::from_pairs([("__name__", "long")]);
    for s in 0..11_520 {
        app.append(SeriesRef::NONE, &one, s * 15_000, s as f64)
            .unwrap();
    }
    app.commit().unwrap();
    let mut g = c.benchmark_group("tsdb_select_decode");
    let decode = |m: &Matcher| -> u64 {
        let q = head.querier(i64::MIN, i64::MAX).unwrap();
        let mut n = 0;
        for s in q.select(false, None, std::slice::from_ref(m)) {
            let s = s.unwrap();
            let mut it = s.samples();
            while it.next() == ValueType::Float {
                black_box(it.at());
                n += 1;
            }
        }
        n
    };
    g.throughput(Throughput::Elements(11_520));
    g.bench_function("one_series_2_days", |b| {
        b.iter(|| decode(&Matcher::equal("__name__", "long")));
    });
    g.throughput(Throughput::Elements(10_000 * 120));
    g.sample_size(10);
    g.bench_function("10k_series_by_matcher", |b| {
        b.iter(|| decode(&Matcher::equal("__name__", "sel")));
    });
    g.finish();

    // The batch decoder alone, on block-sized (480-sample) chunks of a 10 s scrape whose
    // value changes every sample: whole numbers counting up (`a_one`) and values with
    // ~17 significant digits (`a_hundred`). 16 chunks per iteration, decoded into a
    // reused buffer, as a range query does.
    let mut g = c.benchmark_group("tsdb_xor_read_until");
    for (name, value) in [
        (
            "a_one_480",
            (|s: i64, _: i64| s as f64) as fn(i64, i64) -> f64,
        ),
        ("a_hundred_480", |s, i| s as f64 + i as f64 / 1313.0),
    ] {
        let chunks: Vec<XorChunk> = (0..16i64)
            .map(|i| {
                let mut c = XorChunk::new();
                for s in 0..480 {
                    c.append(1_700_000_000_000 + s * 10_000, value(s + i * 480, i + 1));
                }
                c
            })
            .collect();
        let mut out = Vec::with_capacity(480);
        g.throughput(Throughput::Elements(16 * 480));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0;
                for c in &chunks {
                    out.clear();
                    let mut it = c.samples();
                    let more = it.read_until(black_box(i64::MAX), &mut out).unwrap();
                    n += out.len() + usize::from(more);
                    black_box(&out);
                }
                n
            });
        });
    }
    g.finish();
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wants("memory") {
        println!(
            "head memory per series (1M node-like series, 2 samples each): {:.0} bytes",
            memory_per_series(1_000_000)
        );
    }
    if wants("size") {
        bytes_per_sample();
    }
    if wants("replay") {
        // The figure: a million series of 120 samples each (REPLAY_SERIES to
        // change the count).
        let series = std::env::var("REPLAY_SERIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        wal_replay(series, 120);
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    criterion_benches(&mut c);
    c.final_summary();
}
