//! A Prometheus command line starts promlite, and the API's cross-origin headers are
//! Prometheus 2.42's: the same requests to both servers (Debian's `prometheus`, when
//! installed; required under `PROMLITE_PEERS=1`) get the same status and CORS headers.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{free_port, http, spawn, spawn_logged, wait_for};

/// Starts promlite in `dir` (an empty configuration, data in `dir/data`, a free port)
/// with `flags`, its standard error in `dir/log`, and waits until it is ready.
fn start(dir: &Path, flags: &[&str]) -> (common::Proc, u16, PathBuf) {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    let port = free_port();
    let log = dir.join("log");
    let mut args = vec![
        "--config.file".to_owned(),
        config.display().to_string(),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    let p = spawn_logged(Path::new(env!("CARGO_BIN_EXE_promlite")), &args, &log);
    wait_for(Duration::from_mins(1), || {
        http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    (p, port, log)
}

/// The flags of a typical Prometheus deployment (systemd units, docker-compose files,
/// the Prometheus Operator with a Thanos sidecar) that promlite does not act on,
/// besides the ones it does.
#[test]
fn a_prometheus_command_line_starts_promlite() {
    let dir = tempfile::tempdir().unwrap();
    let (_p, port, log) = start(
        dir.path(),
        &[
            "--web.console.templates=/etc/prometheus/consoles",
            "--web.console.libraries=/etc/prometheus/console_libraries",
            "--web.enable-lifecycle",
            "--no-web.enable-admin-api",
            "--web.route-prefix=/",
            "--storage.tsdb.retention.time=10d",
            "--storage.tsdb.min-block-duration=2h",
            "--storage.tsdb.max-block-duration=2h",
            "--storage.tsdb.wal-compression",
            "--query.max-concurrency=20",
            "--log.level=info",
            "--log.format=logfmt",
        ],
    );
    let (code, flags) = http(port, "/api/v1/status/flags").unwrap();
    assert_eq!(code, 200);
    for pair in [
        r#""web.console.templates":"/etc/prometheus/consoles""#,
        r#""storage.tsdb.min-block-duration":"2h""#,
        r#""storage.tsdb.max-block-duration":"2h""#,
        r#""storage.tsdb.wal-compression":"true""#,
        r#""storage.tsdb.wal-segment-size":"0B""#,
        r#""storage.tsdb.retention.time":"10d""#,
        r#""web.enable-lifecycle":"true""#,
        r#""web.enable-admin-api":"false""#,
        r#""log.format":"logfmt""#,
        r#""web.cors.origin":".*""#,
        // Not given: Prometheus's default.
        r#""web.max-connections":"512""#,
    ] {
        assert!(flags.contains(pair), "{pair} in {flags}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .all(|l| l.starts_with("ts=") && l.contains(" caller=") && l.contains(" level=")),
        "{text}"
    );
    assert!(
        text.contains(
            r#"level=warn msg="Flag accepted for Prometheus command lines; promlite does not use it" flag=--web.console.templates value=/etc/prometheus/consoles"#
        ),
        "{text}"
    );
    assert!(
        text.contains("msg=\"Server is ready to receive web requests"),
        "{text}"
    );
}

#[test]
fn json_logs_and_refused_values() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_promlite"));
    // Values are checked as Prometheus checks them, before anything starts.
    for (bad, says) in [
        (
            "--log.level=verbose",
            "invalid value 'verbose' for '--log.level",
        ),
        (
            "--web.cors.origin=(",
            "invalid value '(' for '--web.cors.origin",
        ),
        ("--rules.alert.resend-delay=soon", "invalid value 'soon'"),
        ("--web.enable-lifecycle=false", "unexpected value 'false'"),
        (
            "--storage.tsdb.wal-segment-size=1MB",
            "must be set between 10MB and 256MB",
        ),
    ] {
        let out = std::process::Command::new(bin).arg(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{bad}: {err}");
    }
    let (_p, port, log) = start(
        dir.path(),
        &["--log.format=json", "--storage.tsdb.retention.size=1GB"],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["ts", "caller", "level", "msg"] {
            assert!(v[key].is_string(), "{key} in {line}");
        }
    }
    // A size limit alone keeps samples as long as they fit, as in Prometheus.
    let (_, info) = http(port, "/api/v1/status/runtimeinfo").unwrap();
    assert!(info.contains(r#""storageRetention":"1GiB""#), "{info}");
}

/// A request's status and its CORS headers (name: value, lowercase names, sorted).
fn cors(port: u16, method: &str, target: &str, origin: Option<&str>) -> (u16, Vec<String>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let query = method == "POST" && target == "/api/v1/query";
    let body = if query { "query=1" } else { "" };
    let form = if query {
        "Content-Type: application/x-www-form-urlencoded\r\n"
    } else {
        ""
    };
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{origin}{form}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers: Vec<String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(k, _)| k.starts_with("access-control-") || k == "vary")
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    headers.sort();
    (code, headers)
}

#[test]
fn cors_headers_match_prometheus() {
    let Some(prometheus) = common::peer("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    // Each server twice: under the default pattern and under a pattern of two origins.
    let mut servers = Vec::new();
    for (i, extra) in [None, Some(r"--web.cors.origin=https?://(foo|bar)\.example")]
        .into_iter()
        .enumerate()
    {
        let (ours, theirs) = (free_port(), free_port());
        let args = |port: u16, data: &str| {
            let mut a = vec![
                format!("--config.file={}", config.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                format!(
                    "--storage.tsdb.path={}",
                    dir.path().join(format!("{data}{i}")).display()
                ),
            ];
            a.extend(extra.map(str::to_owned));
            a
        };
        let a = spawn(
            Path::new(env!("CARGO_BIN_EXE_promlite")),
            &args(ours, "ours"),
        );
        let b = spawn(&prometheus, &args(theirs, "theirs"));
        servers.push((ours, theirs, a, b));
    }
    for (ours, theirs, _, _) in &servers {
        for port in [*ours, *theirs] {
            wait_for(Duration::from_mins(1), || {
                http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
            });
        }
    }
    let requests: &[(&str, &str, Option<&str>)] = &[
        ("GET", "/api/v1/query?query=1", None),
        ("GET", "/api/v1/query?query=1", Some("https://foo.example")),
        ("GET", "/api/v1/query?query=1", Some("https://baz.example")),
        (
            "GET",
            "/api/v1/query?query=1",
            Some("https://foo.example.evil"),
        ),
        ("POST", "/api/v1/query", Some("https://bar.example")),
        ("GET", "/api/v1/query?query=(", Some("https://foo.example")),
        ("GET", "/api/v1/labels", Some("http://foo.example")),
        (
            "GET",
            "/api/v1/status/buildinfo",
            Some("https://foo.example"),
        ),
        ("OPTIONS", "/api/v1/query", Some("https://foo.example")),
        ("OPTIONS", "/api/v1/series", None),
        (
            "POST",
            "/api/v1/admin/tsdb/snapshot",
            Some("https://foo.example"),
        ),
        ("GET", "/federate?match[]=up", Some("https://foo.example")),
    ];
    for (ours, theirs, _, _) in &servers {
        for &(method, target, origin) in requests {
            let (code_ours, h_ours) = cors(*ours, method, target, origin);
            let (code_theirs, h_theirs) = cors(*theirs, method, target, origin);
            assert_eq!(
                (code_ours, h_ours),
                (code_theirs, h_theirs),
                "{method} {target} {origin:?}"
            );
        }
    }
}
