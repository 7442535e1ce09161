//! The server's remote-write receiver and remote-read endpoint over HTTP: off by default
//! (404 with Prometheus's message), and with `--web.enable-remote-write-receiver` a
//! snappy-compressed WriteRequest lands in the TSDB, is queryable, and reads back
//! through `/api/v1/read`.

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{enc, free_port, http, spawn, wait_for};
use promlite_remote::prompb;

/// A POST with a binary body; returns status and body bytes.
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&resp[9..12]).unwrap().parse().unwrap();
    (status, resp[split + 4..].to_vec())
}

fn start(dir: &Path, receiver: bool) -> (common::Proc, u16) {
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    let mut args = vec![
        format!("--config.file={}", config.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!(
            "--storage.tsdb.path={}",
            dir.join(format!("data{receiver}")).display()
        ),
    ];
    if receiver {
        args.push("--web.enable-remote-write-receiver".into());
    }
    let p = spawn(Path::new(env!("CARGO_BIN_EXE_promlite")), &args);
    wait_for(Duration::from_mins(1), || {
        http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    (p, port)
}

const RW_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

#[test]
fn remote_write_lands_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t = now / 1000 * 1000 - 10_000;
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![
                prompb::Label {
                    name: "__name__".into(),
                    value: "rw_test_total".into(),
                },
                prompb::Label {
                    name: "job".into(),
                    value: "pusher".into(),
                },
            ],
            samples: vec![
                prompb::Sample {
                    value: 1.0,
                    timestamp: t,
                },
                prompb::Sample {
                    value: 2.5,
                    timestamp: t + 5_000,
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let body = promlite_remote::encode_write_request(&req);

    // Off by default.
    let (off, port) = start(dir.path(), false);
    let (code, text) = post(port, "/api/v1/write", RW_HEADERS, &body);
    assert_eq!(code, 404);
    assert!(
        String::from_utf8_lossy(&text).contains("--web.enable-remote-write-receiver"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    drop(off);

    let (_p, port) = start(dir.path(), true);
    let (code, text) = post(port, "/api/v1/write", RW_HEADERS, &body);
    assert_eq!(code, 204, "{}", String::from_utf8_lossy(&text));
    let (_, v) = http(
        port,
        &format!(
            "/api/v1/query?query={}&time={}",
            enc("rw_test_total[1m]"),
            (t + 5_000) as f64 / 1000.0
        ),
    )
    .unwrap();
    assert!(
        v.contains(r#""job":"pusher""#) && v.contains(r#""2.5""#),
        "{v}"
    );

    // Garbage is a 400 with the reason, and nothing is stored.
    let (code, text) = post(port, "/api/v1/write", RW_HEADERS, b"not snappy");
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&text));

    // Remote read returns the samples (SAMPLES response, snappy).
    let read = promlite_remote::encode_read_request(
        vec![prompb::Query {
            start_timestamp_ms: t - 1,
            end_timestamp_ms: t + 10_000,
            matchers: vec![prompb::LabelMatcher {
                r#type: 0,
                name: "__name__".into(),
                value: "rw_test_total".into(),
            }],
            ..Default::default()
        }],
        &[],
    );
    let (code, body) = post(
        port,
        "/api/v1/read",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Read-Version", "0.1.0"),
        ],
        &read,
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let raw = promlite_remote::codec::snappy_decompress(&body, 1 << 20).unwrap();
    let resp = <prompb::ReadResponse as prost::Message>::decode(raw.as_slice()).unwrap();
    let samples: Vec<(i64, f64)> = resp.results[0].timeseries[0]
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value))
        .collect();
    assert_eq!(samples, [(t, 1.0), (t + 5_000, 2.5)]);
}

/// An encoded remote-write request of one sample, `only_in_a 42` at `t`: a series only
/// server A has, which B can only see through remote read.
fn only_in_a(t: i64) -> Vec<u8> {
    promlite_remote::encode_write_request(&prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![prompb::Label {
                name: "__name__".into(),
                value: "only_in_a".into(),
            }],
            samples: vec![prompb::Sample {
                value: 42.0,
                timestamp: t,
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Server B scrapes itself and remote-writes to server A (receiver on), and reads A back
/// through `remote_read`: A ends up with B's series, and B answers a query for a series
/// only A has.
#[test]
fn server_remote_writes_and_reads_another_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_a, a) = start(dir.path(), true);
    // A series only A has, pushed to it directly.
    let t = promlite_model::value::now_ms();
    let (code, _) = post(a, "/api/v1/write", RW_HEADERS, &only_in_a(t - 1_000));
    assert_eq!(code, 204);

    let b = free_port();
    let config = dir.path().join("b.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: promlite-b\n    static_configs:\n      - targets: ['127.0.0.1:{b}']\nremote_write:\n  - url: http://127.0.0.1:{a}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\nremote_read:\n  - url: http://127.0.0.1:{a}/api/v1/read\n"
        ),
    )
    .unwrap();
    let _b = spawn(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{b}"),
            format!("--storage.tsdb.path={}", dir.path().join("b").display()),
        ],
    );
    wait_for(Duration::from_mins(1), || {
        http(b, "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    // B's scrapes arrive at A.
    let q = format!("/api/v1/query?query={}", enc(r#"up{job="promlite-b"}"#));
    wait_for(Duration::from_mins(1), || {
        http(a, &q).is_some_and(|(_, body)| body.contains(r#""job":"promlite-b""#))
    });
    // B reads A's own series through remote_read.
    let q = format!("/api/v1/query?query=only_in_a&time={}", t as f64 / 1000.0);
    let (code, body) = http(b, &q).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""42""#), "{body}");
}

/// Remote write and remote read to a server that serves TLS with a private CA: the
/// sender's `tls_config: {ca_file}` trusts it (Prometheus's setting, applied by the same
/// code as scrapes). The receiver's data is checked with curl (from Debian).
#[test]
fn remote_write_and_read_over_tls_with_a_private_ca() {
    let Some(curl) = common::peer("curl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = common::tls_files(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let a = free_port();
    let a_config = dir.path().join("a.yml");
    std::fs::write(&a_config, "global:\n  scrape_interval: 1h\n").unwrap();
    let _a = spawn(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--config.file={}", a_config.display()),
            format!("--web.listen-address=127.0.0.1:{a}"),
            format!("--web.config.file={}", web.display()),
            format!("--storage.tsdb.path={}", dir.path().join("a").display()),
            "--web.enable-remote-write-receiver".into(),
        ],
    );
    let https = |path: &str| common::curl_https(&curl, &ca, None, a, path);
    wait_for(Duration::from_mins(1), || https("/-/ready").is_some());
    // A series only A has, from before B starts: B can only read it remotely.
    let t = promlite_model::value::now_ms() - 60_000;
    let body = dir.path().join("only_a.bin");
    std::fs::write(&body, only_in_a(t)).unwrap();
    let mut post = std::process::Command::new(&curl);
    post.args(["-s", "--fail", "--cacert"]).arg(&ca);
    for (k, v) in RW_HEADERS {
        post.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = post
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(format!("https://127.0.0.1:{a}/api/v1/write"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let b_config = dir.path().join("b.yml");
    std::fs::write(
        &b_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: promlite-b\n    static_configs:\n      - targets: ['localhost:9']\nremote_write:\n  - url: https://127.0.0.1:{a}/api/v1/write\n    tls_config: {{ca_file: {ca}}}\n    queue_config:\n      batch_send_deadline: 1s\nremote_read:\n  - url: https://127.0.0.1:{a}/api/v1/read\n    tls_config: {{ca_file: {ca}}}\n",
            ca = ca.display()
        ),
    )
    .unwrap();
    let (_b, b) = common::start_promlite(&b_config, &dir.path().join("b"), &[]);
    // B's scrapes arrive at A over TLS.
    let q = format!("/api/v1/query?query={}", enc(r#"up{job="promlite-b"}"#));
    wait_for(Duration::from_mins(1), || {
        https(&q).is_some_and(|body| body.contains(r#""job":"promlite-b""#))
    });
    // And B reads A's own series over TLS (before B's start, so remote read is asked).
    let q = format!("/api/v1/query?query=only_in_a&time={}", t as f64 / 1000.0);
    let (code, body) = http(b, &q).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""42""#), "{body}");
}

/// Remote read as Prometheus answers it: the configuration's external labels are added
/// to the series returned (and a matcher on them is met), and
/// `--storage.remote.read-sample-limit` bounds the samples of one request.
#[test]
fn remote_read_adds_external_labels_and_keeps_its_sample_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1h\n  external_labels:\n    cluster: eu\n",
    )
    .unwrap();
    let start_with = |extra: &[&str]| {
        let port = free_port();
        let mut args = vec![
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            "--web.enable-remote-write-receiver".to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let p = spawn(Path::new(env!("CARGO_BIN_EXE_promlite")), &args);
        wait_for(Duration::from_mins(1), || {
            http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
        });
        (p, port)
    };
    let t = promlite_model::value::now_ms() - 10_000;
    let read = |port: u16| {
        let request = promlite_remote::encode_read_request(
            vec![prompb::Query {
                start_timestamp_ms: t - 60_000,
                end_timestamp_ms: t + 60_000,
                matchers: vec![
                    prompb::LabelMatcher {
                        r#type: 0,
                        name: "__name__".into(),
                        value: "only_in_a".into(),
                    },
                    prompb::LabelMatcher {
                        r#type: 0,
                        name: "cluster".into(),
                        value: "eu".into(),
                    },
                ],
                ..Default::default()
            }],
            &[],
        );
        post(
            port,
            "/api/v1/read",
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Read-Version", "0.1.0"),
            ],
            &request,
        )
    };
    {
        let (_p, port) = start_with(&[]);
        for dt in [0, 1_000] {
            let (code, _) = post(port, "/api/v1/write", RW_HEADERS, &only_in_a(t + dt));
            assert_eq!(code, 204);
        }
        let (code, body) = read(port);
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let raw = promlite_remote::codec::snappy_decompress(&body, 1 << 20).unwrap();
        let resp = <prompb::ReadResponse as prost::Message>::decode(raw.as_slice()).unwrap();
        let series = &resp.results[0].timeseries;
        assert_eq!(series.len(), 1);
        let labels: Vec<(&str, &str)> = series[0]
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(labels, [("__name__", "only_in_a"), ("cluster", "eu")]);
        assert_eq!(series[0].samples.len(), 2);
    }
    let (_p, port) = start_with(&["--storage.remote.read-sample-limit=1"]);
    let (code, body) = read(port);
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("exceeded sample limit (1)"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}
