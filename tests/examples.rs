//! Runs every example as a user would (`cargo run --example NAME`) and checks what it
//! prints: `cargo test` builds the examples next to this test, under
//! `target/<profile>/examples/`. `scrape_node_exporter` scrapes a real node_exporter
//! (Debian's `prometheus-node-exporter`), a failure under `PROMLITE_PEERS=1` when missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The example binary `name`, built by `cargo test` beside this test's own binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; alone, run `cargo build --examples` first",
        path.display()
    );
    path
}

/// Waits for `child` at most `limit`, killing it past that.
fn wait(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait for example").is_some() {
            return child.wait_with_output().expect("example output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("example output");
            panic!(
                "example ran over {limit:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(name: &str, args: &[&str]) -> String {
    let child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start example");
    let out = wait(child, Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "example {name} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn embedded_fires_its_alert_and_answers_a_query() {
    let out = run("embedded", &["6"]);
    assert!(
        out.contains("ALERT HighErrorRate firing: "),
        "no alert fired:\n{out}"
    );
    assert!(out.contains("code=200 "), "{out}");
    assert!(out.contains("code=500 "), "{out}");
    assert!(out.contains("p90 latency: "), "{out}");
}

#[test]
fn metrics_facade_macros_are_queried_through_promlite() {
    let out = run("metrics_facade", &[]);
    for want in [
        "{region=\"eu\"} 40",
        "{region=\"us\"} 40",
        "{region=\"ap\"} 40",
        "{__name__=\"orders_open\", instance=\"local\", job=\"shop\"} 7",
    ] {
        assert!(out.contains(want), "missing {want}:\n{out}");
    }
    // 120 orders valued 10 + i % 50: 62 of them are at most 30 and 33 at most 20, so
    // the median falls in the (20, 30] bucket.
    let median = out
        .lines()
        .skip_while(|l| !l.starts_with("histogram_quantile"))
        .nth(1)
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("a median line");
    assert!(median > 20.0 && median <= 30.0, "median {median}:\n{out}");
}

#[test]
fn operator_prints_generated_jobs_and_explains_a_silent_monitor() {
    let out = run("operator", &[]);
    assert!(out.starts_with("scrape_configs:\n"), "{out}");
    assert!(
        out.contains("- job_name: serviceMonitor/shop/checkout/0\n"),
        "{out}"
    );
    assert!(
        out.contains("- job_name: podMonitor/shop/workers/0\n"),
        "{out}"
    );
    assert!(
        !out.contains("job_name: serviceMonitor/default/sample-app"),
        "{out}"
    );
    assert!(
        out.contains("# ServiceMonitor default/sample-app gives no target:"),
        "{out}"
    );
    assert!(
        out.contains("not selected by the Prometheus resource"),
        "{out}"
    );
    assert!(out.contains("port name `8000` matches no port"), "{out}");
    // What it prints is a loadable `scrape_configs` list.
    let yaml = out.split("\n\n#").next().unwrap_or_default();
    let config = promlite::config::Config::from_yaml(yaml, "generated.yml".as_ref())
        .unwrap_or_else(|e| panic!("generated config does not load: {e}\n{yaml}"));
    assert_eq!(config.scrape_configs.len(), 2);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The node_exporter binary, or `None` (a skip) when it is missing outside CI.
fn node_exporter() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/prometheus-node-exporter");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("PROMLITE_PEERS").is_none(),
        "PROMLITE_PEERS is set but {} is missing",
        path.display()
    );
    eprintln!("skipping: {} is not installed", path.display());
    None
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn scrape_node_exporter_prints_cpu_rates_per_mode() {
    let Some(bin) = node_exporter() else { return };
    let port = free_port();
    let _exporter = Kill(
        Command::new(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node_exporter"),
    );
    let target = format!("127.0.0.1:{port}");
    let out = run("scrape_node_exporter", &[&target]);
    for mode in ["idle", "system", "user"] {
        assert!(out.contains(&format!("mode={mode} ")), "no {mode}:\n{out}");
    }
}

/// One HTTP/1.0 request; the status code and body.
fn http(addr: &str, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    let code = reply.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((code, body))
}

#[test]
fn server_answers_the_api_and_quits_on_request() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(example("server"))
        .arg("127.0.0.1:0")
        .arg(data.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server example");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the server's first line");
    let addr = line
        .trim()
        .strip_prefix("promlite is serving http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let (code, body) = http(&addr, "GET", "/api/v1/query?query=1%2B1").expect("query");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""resultType":"scalar""#), "{body}");
    assert!(body.contains(r#""2""#), "{body}");
    let (code, body) = http(&addr, "GET", "/api/v1/status/config").expect("config");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("job_name: promlite"), "{body}");
    assert_eq!(http(&addr, "POST", "/-/quit").map(|r| r.0), Some(200));
    let out = wait(child, Duration::from_secs(30));
    assert!(out.status.success(), "{}", out.status);
    assert!(data.path().join("data").join("wal").is_dir());
}
