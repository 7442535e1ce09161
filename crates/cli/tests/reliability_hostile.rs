//! Hostile input against the real binary: targets exposing a million series, a label
//! bomb, kilobyte-long label names and values; oversized remote-write, remote-read and
//! API bodies; a snappy body announcing a gigabyte; queries that would load too many
//! samples. Each is refused with Prometheus's error text (where Prometheus has one) and
//! the server keeps serving: small queries succeed while hostile requests are in flight,
//! one of them held open on purpose for the whole time.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Proc, RW1_HEADERS, enc, free_port, http, now_ms, serve_target, try_post};
use promlite_remote::prompb;

fn start(dir: &Path, config: &str, extra: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    let mut args = vec![
        format!("--config.file={}", path.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
    ];
    args.extend(extra.iter().map(ToString::to_string));
    let p = common::spawn(Path::new(env!("CARGO_BIN_EXE_promlite")), &args);
    common::wait_for(Duration::from_mins(1), || {
        http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    (p, port)
}

/// A small query that must keep working: `vector(1)` needs no data.
fn small_query_ok(port: u16) -> bool {
    http(port, &format!("/api/v1/query?query={}", enc("vector(1)")))
        .is_some_and(|(c, b)| c == 200 && b.contains(r#""1""#))
}

/// `(job, lastError)` of every active target.
fn target_errors(port: u16) -> Vec<(String, String)> {
    let Some((200, body)) = http(port, "/api/v1/targets") else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["labels"]["job"].as_str().unwrap_or("").to_string(),
                t["lastError"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn scrape_limits_refuse_hostile_targets_with_prometheus_errors() {
    let dir = tempfile::tempdir().unwrap();
    // A million series (about 25 MB of text), generated once. Label counts below include
    // the job and instance labels, as Prometheus counts them.
    let million: Arc<String> = Arc::new((0..1_000_000).fold(String::new(), |mut s, i| {
        use std::fmt::Write as _;
        let _ = writeln!(s, "bomb_series{{i=\"{i}\"}} 1");
        s
    }));
    let big_scrapes = Arc::new(AtomicUsize::new(0));
    let big = serve_target({
        let (m, n) = (Arc::clone(&million), Arc::clone(&big_scrapes));
        move || {
            n.fetch_add(1, Ordering::Relaxed);
            m.as_str().to_owned()
        }
    });
    let labels: String = (0..100)
        .map(|i| format!("l{i:03}=\"v\""))
        .collect::<Vec<_>>()
        .join(",");
    let label_bomb = serve_target(move || format!("label_bomb{{{labels}}} 1\n"));
    let long_value = serve_target(|| format!("long_value{{v=\"{}\"}} 1\n", "x".repeat(100_000)));
    let long_name = serve_target(|| format!("long_name{{{}=\"v\"}} 1\n", "n".repeat(10_000)));
    let job = |name: &str, port: u16, limit: &str| {
        format!(
            "  - job_name: {name}\n    {limit}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}{}{}",
        job("sample_limit", big, "sample_limit: 1000"),
        job("body_size_limit", big, "body_size_limit: 1MB"),
        job("label_limit", label_bomb, "label_limit: 30"),
        job(
            "label_value_length_limit",
            long_value,
            "label_value_length_limit: 1000"
        ),
        job(
            "label_name_length_limit",
            long_name,
            "label_name_length_limit: 100"
        ),
    );
    let (_server, port) = start(dir.path(), &config, &[]);

    let expected = [
        ("sample_limit", "sample limit exceeded".to_string()),
        ("body_size_limit", "body size limit exceeded".to_string()),
        (
            "label_limit",
            "label_limit exceeded (metric: label_bomb, number of labels: 103, limit: 30)"
                .to_string(),
        ),
        (
            "label_value_length_limit",
            format!(
                "label_value_length_limit exceeded (metric: long_value, label name: v, value: {}, length: 100000, limit: 1000)",
                "x".repeat(50)
            ),
        ),
        (
            "label_name_length_limit",
            format!(
                "label_name_length_limit exceeded (metric: long_name, label name: {}, length: 10000, limit: 100)",
                "n".repeat(50)
            ),
        ),
    ];
    // While the hostile scrapes run every second, small queries keep succeeding.
    let mut small = 0;
    common::wait_for(Duration::from_mins(1), || {
        assert!(
            small_query_ok(port),
            "a small query failed during hostile scrapes"
        );
        small += 1;
        let errs = target_errors(port);
        // Several rounds of million-series scrapes, not just the first.
        big_scrapes.load(Ordering::Relaxed) >= 6
            && expected
                .iter()
                .all(|(job, _)| errs.iter().any(|(j, e)| j == job && !e.is_empty()))
    });
    let errs = target_errors(port);
    for (job, want) in &expected {
        let got = errs
            .iter()
            .find(|(j, _)| j == job)
            .map_or("", |(_, e)| e.as_str());
        assert_eq!(got, want, "lastError of job {job}");
    }
    // Nothing of a refused scrape is stored (up is, and says 0).
    for name in ["bomb_series", "label_bomb", "long_value", "long_name"] {
        let (_, body) = http(
            port,
            &format!("/api/v1/query?query={}", enc(&format!("count({name})"))),
        )
        .unwrap();
        assert!(body.contains(r#""result":[]"#), "{name} was stored: {body}");
    }
    let (_, body) = http(port, &format!("/api/v1/query?query={}", enc("sum(up)"))).unwrap();
    assert!(body.contains(r#""0""#), "up: {body}");
    eprintln!(
        "reliability_hostile: 5 hostile scrape targets refused ({} million-series scrapes); {small} small queries succeeded meanwhile",
        big_scrapes.load(Ordering::Relaxed)
    );
}

/// Sends a request whose body comes from `body` in a separate thread (so a server that
/// answers before reading it all does not deadlock the test) and returns status and
/// response body.
fn post_streamed(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    len: usize,
    fill: u8,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_mins(1))).ok()?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        head.extend([*k, ": ", *v, "\r\n"]);
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    let mut w = s.try_clone().ok()?;
    let writer = std::thread::spawn(move || {
        let chunk = vec![fill; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            if w.write_all(&chunk[..n]).is_err() {
                return;
            }
            left -= n;
        }
    });
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        common::dechunk(body)
    } else {
        body.to_string()
    };
    Some((code, body))
}

#[test]
fn oversized_bodies_and_heavy_queries_are_refused_while_small_queries_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start(
        dir.path(),
        "global:\n  scrape_interval: 1h\n",
        &[
            "--web.enable-remote-write-receiver",
            "--query.max-samples=1000",
        ],
    );
    // 5000 samples of one series: a range query over all of them is too much.
    let t0 = now_ms() - 3_600_000;
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![prompb::Label {
                name: "__name__".into(),
                value: "heavy".into(),
            }],
            samples: (0..5000)
                .map(|i| prompb::Sample {
                    value: f64::from(i),
                    timestamp: t0 + i64::from(i) * 500,
                })
                .collect(),
            ..Default::default()
        }],
        metadata: vec![],
    };
    let body = promlite_remote::encode_write_request(&req);
    let (code, text) = try_post(port, "/api/v1/write", RW1_HEADERS, &body).unwrap();
    assert_eq!(code, 204, "{}", String::from_utf8_lossy(&text));

    // Held open on purpose: a remote write that announces 16 MB and sends 1 MB.
    let mut held = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        held,
        "POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: {}\r\n\r\n",
        16 << 20
    )
    .unwrap();
    held.write_all(&vec![0u8; 1 << 20]).unwrap();

    let heavy = format!(
        "/api/v1/query?query={}&time={}",
        enc("count_over_time(heavy[2h])"),
        (t0 + 3_000_000) / 1000
    );
    let (code, body) = http(port, &heavy).unwrap();
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains(
            "query processing would load too many samples into memory in query execution"
        ),
        "{body}"
    );

    // Hostile requests from four threads, again and again, while small queries run.
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let hostile: Vec<_> = (0..4)
        .map(|k| {
            let (stop, refused, heavy) = (Arc::clone(&stop), Arc::clone(&refused), heavy.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (code, body) = match k {
                        0 => http(port, &heavy).unwrap(),
                        // Over the receiver's 32 MiB limit.
                        1 => post_streamed(port, "/api/v1/write", RW1_HEADERS, 33 << 20, 0xff)
                            .unwrap(),
                        // Over the API's 10 MiB form limit.
                        2 => post_streamed(
                            port,
                            "/api/v1/query",
                            &[("Content-Type", "application/x-www-form-urlencoded")],
                            11 << 20,
                            b'a',
                        )
                        .unwrap(),
                        // A 20-byte snappy body announcing a 1 GiB request.
                        _ => {
                            let mut bomb = vec![0x80, 0x80, 0x80, 0x80, 0x04];
                            bomb.extend_from_slice(&[0u8; 15]);
                            let (c, b) =
                                try_post(port, "/api/v1/write", RW1_HEADERS, &bomb).unwrap();
                            (c, String::from_utf8_lossy(&b).into_owned())
                        }
                    };
                    let want: (u16, &str) = match k {
                        0 => (422, "query processing would load too many samples"),
                        1 => (413, "request body too large: exceeds the limit of 33554432 bytes"),
                        2 => (400, "error parsing form values: http: POST too large"),
                        _ => (
                            413,
                            "request body too large: 1073741824 bytes exceeds the limit of 33554432 bytes",
                        ),
                    };
                    assert_eq!(code, want.0, "hostile request {k}: {body}");
                    assert!(body.contains(want.1), "hostile request {k}: {body}");
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut small = 0;
    while small < 40 || refused.load(Ordering::Relaxed) < 20 {
        assert!(
            small_query_ok(port),
            "a small query failed while hostile requests were in flight"
        );
        small += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for h in hostile {
        h.join().unwrap();
    }
    // The held request is still open and unanswered; the server is fine.
    assert!(small_query_ok(port));
    drop(held);
    assert!(small_query_ok(port));
    eprintln!(
        "reliability_hostile: {} hostile requests refused, {small} small queries succeeded meanwhile, one 16 MB upload held open throughout",
        refused.load(Ordering::Relaxed)
    );
}

/// A remote-write label bomb against `--web.remote-write-receiver.label-limit` and the
/// name/value length limits: the whole write is refused with a 400 that names the limit,
/// nothing of it is stored, and a write within the limits still lands.
#[test]
fn remote_write_label_bombs_are_refused_by_the_receiver_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start(
        dir.path(),
        "global:\n  scrape_interval: 1h\n",
        &[
            "--web.enable-remote-write-receiver",
            "--web.remote-write-receiver.label-limit=10",
            "--web.remote-write-receiver.label-name-length-limit=64",
            "--web.remote-write-receiver.label-value-length-limit=256",
        ],
    );
    let series = |name: &str, labels: Vec<(String, String)>| prompb::TimeSeries {
        labels: std::iter::once(("__name__".to_string(), name.to_string()))
            .chain(labels)
            .map(|(name, value)| prompb::Label { name, value })
            .collect(),
        samples: vec![prompb::Sample {
            value: 1.0,
            timestamp: now_ms(),
        }],
        ..Default::default()
    };
    let write = |ts: prompb::TimeSeries| {
        let body = promlite_remote::encode_write_request(&prompb::WriteRequest {
            timeseries: vec![ts],
            metadata: vec![],
        });
        let (code, text) = try_post(port, "/api/v1/write", RW1_HEADERS, &body).unwrap();
        (code, String::from_utf8_lossy(&text).into_owned())
    };
    let bombs = [
        series(
            "bomb_many",
            (0..1000)
                .map(|i| (format!("l{i:04}"), "v".into()))
                .collect(),
        ),
        series("bomb_name", vec![("n".repeat(1000), "v".into())]),
        series("bomb_value", vec![("l".into(), "v".repeat(100_000))]),
    ];
    for (bomb, want) in bombs.into_iter().zip(["label_limit", "name", "value"]) {
        let (code, text) = write(bomb);
        assert_eq!(code, 400, "{text}");
        assert!(text.contains(want), "{text}");
        assert!(small_query_ok(port));
    }
    let (code, text) = write(series("fine", vec![("job".into(), "ok".into())]));
    assert_eq!(code, 204, "{text}");
    for (name, want) in [
        ("bomb_many", "0"),
        ("bomb_name", "0"),
        ("bomb_value", "0"),
        ("fine", "1"),
    ] {
        let (c, body) = http(
            port,
            &format!("/api/v1/query?query={}", enc(&format!("count({name})"))),
        )
        .unwrap();
        assert_eq!(c, 200, "{body}");
        let got = if body.contains(r#""result":[]"#) {
            "0"
        } else {
            "1"
        };
        assert_eq!(got, want, "{name}: {body}");
    }
}
