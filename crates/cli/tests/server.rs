//! The `promlite` server as a user runs it: the binary on a free port, scraping itself,
//! answering the HTTP API, reloading, stopping on SIGTERM and keeping its data.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server, killed if a test fails before stopping it.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A configuration scraping the server itself every second, so tests need not wait 15s.
fn write_config(dir: &Path, port: u16) -> std::path::PathBuf {
    write_config_under(dir, port, "")
}

/// [`write_config`] for a server that serves under `prefix` (such as `/prom`), where its
/// own metrics are too.
fn write_config_under(dir: &Path, port: u16, prefix: &str) -> std::path::PathBuf {
    let metrics_path = if prefix.is_empty() {
        String::new()
    } else {
        format!("    metrics_path: {prefix}/metrics\n")
    };
    let path = dir.join("prometheus.yml");
    std::fs::write(
        &path,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: promlite\n{metrics_path}    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    path
}

fn start(data: &Path, port: u16, extra: &[String]) -> Server {
    start_under(data, port, extra, "")
}

/// [`start`] for a server that serves under `prefix`, where its readiness is asked.
fn start_under(data: &Path, port: u16, extra: &[String], prefix: &str) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_promlite"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let ready = format!("{prefix}/-/ready");
    wait_for(Duration::from_secs(30), || {
        http(port, "GET", &ready).is_some_and(|(code, _)| code == 200)
    });
    server
}

/// A peer program on `PATH`. Missing, it is a failure under `PROMLITE_PEERS=1` (CI
/// installs the peers) and a skipped test elsewhere.
fn peer(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
            "{name} is not installed but PROMLITE_PEERS=1"
        );
        eprintln!("{name} not installed; test not run");
    }
    found
}

/// A server in `dir` scraping itself every second, started and past its first scrape.
fn start_self_scraping(dir: &Path) -> Server {
    let port = free_port();
    let config = write_config(dir, port);
    let server = start(
        &dir.join("data"),
        port,
        &[format!("--config.file={}", config.display())],
    );
    up_sample(port, None);
    server
}

/// Polls `f` (a readiness probe) until it holds or `limit` passes.
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request; `None` when nothing listens.
fn http(port: u16, method: &str, target: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

fn api(port: u16, target: &str) -> (u16, Value) {
    let (code, body) = http(port, "GET", target).expect("server answers");
    (code, serde_json::from_str(&body).expect("JSON body"))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `up{job="promlite"}` sample at `time` (now when `None`), once there is one.
fn up_sample(port: u16, time: Option<&str>) -> Value {
    let time = time.map(|t| format!("&time={t}")).unwrap_or_default();
    let target = format!("/api/v1/query?query={}{time}", enc(r#"up{job="promlite"}"#));
    let mut found = Value::Null;
    wait_for(Duration::from_secs(30), || {
        let (_, v) = api(port, &target);
        found = v["data"]["result"][0].clone();
        !found.is_null()
    });
    found
}

fn sigterm(server: &mut Server) -> ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn server_scrapes_itself_answers_the_api_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let config = write_config(dir.path(), port);
    let flags = vec![format!("--config.file={}", config.display())];
    let mut server = start(&data, port, &flags);

    // The self-scrape produces `up` = 1.
    let sample = up_sample(port, None);
    assert_eq!(sample["value"][1], "1", "{sample}");
    assert_eq!(sample["metric"]["instance"], format!("127.0.0.1:{port}"));
    let t = sample["value"][0].as_f64().unwrap();

    // query_range: a matrix of [number, "string"] pairs.
    let (code, v) = api(
        port,
        &format!(
            "/api/v1/query_range?query=up&start={}&end={}&step=1s",
            t - 5.0,
            t + 1.0
        ),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert!(!values.is_empty());
    assert!(values[0][0].is_number() && values[0][1].is_string(), "{v}");

    // Metadata endpoints see the scraped series.
    let (_, v) = api(port, &format!("/api/v1/series?match[]={}", enc("up")));
    assert_eq!(v["data"][0]["job"], "promlite", "{v}");
    let (_, v) = api(port, "/api/v1/labels");
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names.contains(&"job") && names.contains(&"instance"), "{v}");
    let (_, v) = api(port, "/api/v1/label/__name__/values");
    let metric_names = v["data"].to_string();
    assert!(metric_names.contains("promlite_build_info"), "{v}");
    assert!(metric_names.contains("scrape_duration_seconds"), "{v}");

    // The targets page shows the self-scrape as healthy.
    let (_, v) = api(port, "/api/v1/targets");
    let target = &v["data"]["activeTargets"][0];
    assert_eq!(target["scrapePool"], "promlite", "{v}");
    assert_eq!(target["health"], "up", "{v}");
    assert_eq!(target["scrapeInterval"], "1s", "{v}");

    // A bad query is bad data, with Prometheus's parse error.
    let (code, v) = api(port, "/api/v1/query?query=up%7B");
    assert_eq!(code, 400);
    assert_eq!(v["errorType"], "bad_data");
    assert_eq!(
        v["error"],
        "invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces"
    );

    // Lifecycle endpoints are off without the flag.
    assert_eq!(
        http(port, "POST", "/-/reload"),
        Some((403, "Lifecycle API is not enabled.".to_string()))
    );

    // SIGTERM stops it cleanly; a restart on the same directory has the old samples.
    let status = sigterm(&mut server);
    assert!(status.success(), "{status}");
    drop(server);
    let server = start(&data, port, &flags);
    let when = format!("{t}");
    let again = up_sample(server.port, Some(&when));
    assert_eq!(again["value"], sample["value"], "{again}");
    // The restart replayed the WAL the first run wrote.
    let (code, v) = api(server.port, "/api/v1/status/walreplay");
    assert_eq!(code, 200, "{v}");
    let (min, max, current) = (
        v["data"]["min"].as_u64().unwrap(),
        v["data"]["max"].as_u64().unwrap(),
        v["data"]["current"].as_u64().unwrap(),
    );
    assert!(min <= max && current == max, "{v}");
}

#[test]
fn reload_keeps_the_old_config_when_the_new_one_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let flags = vec![
        format!("--config.file={}", config.display()),
        "--web.enable-lifecycle".to_string(),
    ];
    let mut server = start(&dir.path().join("data"), port, &flags);
    assert_eq!(http(port, "POST", "/-/reload").map(|r| r.0), Some(200));

    std::fs::write(&config, "scrape_configs:\n  - job_name: [\n").unwrap();
    let (code, body) = http(port, "POST", "/-/reload").unwrap();
    assert_eq!(code, 500, "{body}");
    assert!(body.starts_with("failed to reload config: "), "{body}");
    let (_, v) = api(port, "/api/v1/status/runtimeinfo");
    assert_eq!(v["data"]["reloadConfigSuccess"], false, "{v}");
    let (_, v) = api(port, "/api/v1/status/config");
    assert!(
        v["data"]["yaml"]
            .as_str()
            .unwrap()
            .contains("scrape_interval: 1s"),
        "{v}"
    );
    // The old job keeps scraping.
    assert_eq!(up_sample(port, None)["value"][1], "1");

    // `/-/quit` stops the server like a signal.
    assert_eq!(
        http(port, "POST", "/-/quit"),
        Some((200, "Requesting termination... Goodbye!".to_string()))
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "server did not quit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn default_config_scrapes_the_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(&dir.path().join("data"), port, &[]);
    // Discovery hands the static target over shortly after the server is ready.
    let mut v = Value::Null;
    wait_for(Duration::from_secs(30), || {
        v = api(server.port, "/api/v1/targets").1;
        !v["data"]["activeTargets"][0].is_null()
    });
    let target = &v["data"]["activeTargets"][0];
    assert_eq!(target["labels"]["job"], "promlite", "{v}");
    assert_eq!(
        target["scrapeUrl"],
        format!("http://127.0.0.1:{port}/metrics"),
        "{v}"
    );
    assert_eq!(target["scrapeInterval"], "15s", "{v}");
    let (_, v) = api(server.port, "/api/v1/status/flags");
    assert_eq!(v["data"]["query.timeout"], "2m", "{v}");
    assert_eq!(v["data"]["query.max-samples"], "50000000", "{v}");
    let (code, body) = http(server.port, "GET", "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("promlite_build_info{"), "{body}");
    assert!(body.contains("promlite_tsdb_head_series "), "{body}");
}

#[test]
fn admin_api_snapshots_and_deletes_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let config = write_config(dir.path(), port);
    let flags = vec![
        format!("--config.file={}", config.display()),
        "--web.enable-admin-api".to_string(),
    ];
    let mut server = start(&data, port, &flags);
    up_sample(port, None);

    let (code, body) = http(port, "POST", "/api/v1/admin/tsdb/snapshot").unwrap();
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let name = v["data"]["name"].as_str().unwrap();
    assert!(data.join("snapshots").join(name).is_dir(), "{body}");

    let target = format!(
        "/api/v1/admin/tsdb/delete_series?match[]={}",
        enc(r#"up{job="promlite"}"#)
    );
    assert_eq!(http(port, "POST", &target).map(|r| r.0), Some(204));
    assert_eq!(
        http(port, "GET", "/api/v1/admin/tsdb/delete_series").map(|r| r.0),
        Some(405)
    );
    assert_eq!(
        http(port, "POST", "/api/v1/admin/tsdb/clean_tombstones").map(|r| r.0),
        Some(204)
    );

    // SIGHUP with the configuration unchanged keeps the server running and healthy.
    let status = Command::new("kill")
        .arg("-HUP")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(http(port, "GET", "/-/healthy").map(|r| r.0), Some(200));
    assert!(server.child.try_wait().unwrap().is_none());
    let (_, v) = api(port, "/api/v1/status/runtimeinfo");
    assert_eq!(v["data"]["reloadConfigSuccess"], true, "{v}");
}

/// The UI as a person sees it: headless Chromium (Debian's package) loads the Targets
/// and Query pages of a running server and runs their JavaScript; the rendered pages
/// show the healthy self-scrape target and the query's result.
/// The DOM headless Chromium renders for `page` of the server on `port`, after up to
/// five seconds of the page's scripts.
fn render_page(chromium: &Path, port: u16, page: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://127.0.0.1:{port}{page}"))
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ui_renders_targets_and_query_results_in_a_real_browser() {
    let Some(chromium) = peer("chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_self_scraping(dir.path());
    let port = server.port;
    let render = |page: &str| render_page(&chromium, port, page);
    let targets = render("/targets");
    assert!(
        targets.contains(r#"<td class="up">UP</td>"#),
        "targets page:\n{targets}"
    );
    assert!(targets.contains(&format!("http://127.0.0.1:{port}/metrics")));
    let query = render("/query?expr=up&tab=table");
    assert!(query.contains(r#"job="promlite""#), "query page:\n{query}");
    let graph = render("/query?expr=up&tab=graph&range=300");
    assert!(
        graph.contains("<polyline") || graph.contains("<circle"),
        "graph page:\n{graph}"
    );
    let status = render("/status");
    assert!(
        status.contains("<th>Number of Series</th><td class=\"mono\">")
            && status.contains("<th class=\"mono\">job=promlite</th>"),
        "status page:\n{status}"
    );
}

/// Behind a proxy that forwards a path: with an external URL whose path is `/prom/`,
/// everything is served under `/prom` (as Prometheus's default `--web.route-prefix`),
/// the root redirects there, and the UI's pages work in a real browser.
#[test]
fn an_external_url_path_prefixes_every_route() {
    let Some(chromium) = peer("chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config_under(dir.path(), port, "/prom");
    let _server = start_under(
        &dir.path().join("data"),
        port,
        &[
            format!("--config.file={}", config.display()),
            format!("--web.external-url=http://127.0.0.1:{port}/prom/"),
        ],
        "/prom",
    );
    assert_eq!(http(port, "GET", "/-/ready").map(|r| r.0), Some(404));
    let (_, flags) = api(port, "/prom/api/v1/status/flags");
    assert_eq!(flags["data"]["web.route-prefix"], "/prom", "{flags}");
    let target = format!("/prom/api/v1/query?query={}", enc(r#"up{job="promlite"}"#));
    wait_for(Duration::from_secs(30), || {
        api(port, &target).1["data"]["result"][0]["value"][1] == "1"
    });
    let render = |page: &str| render_page(&chromium, port, page);
    // The root redirects twice, to the query page under the prefix.
    let query = render("/?expr=up&tab=table");
    assert!(query.contains("<nav>"), "root:\n{query}");
    let targets = render("/prom/targets");
    assert!(
        targets.contains(r#"<td class="up">UP</td>"#),
        "targets page:\n{targets}"
    );
    let query = render("/prom/query?expr=up&tab=table");
    assert!(query.contains(r#"job="promlite""#), "query page:\n{query}");
}

/// Prometheus's own client, `promtool query …`, works against promlite's API.
#[test]
fn promtool_queries_promlite() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_self_scraping(dir.path());
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}");
    let now = promlite_model::value::now_ms() / 1000;
    let start = (now - 60).to_string();
    let end = (now + 1).to_string();
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["query", "instant", &url, "up"], r#"job="promlite""#),
        (
            vec![
                "query", "range", "--start", &start, "--end", &end, "--step", "1s", &url, "up",
            ],
            r#"job="promlite""#,
        ),
        (
            vec!["query", "series", "--match", "up", &url],
            r#"job="promlite""#,
        ),
        (vec!["query", "labels", &url, "job"], "promlite"),
    ];
    for (args, want) in cases {
        let out = Command::new(&promtool).args(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(want),
            "promtool {args:?} printed:\n{stdout}"
        );
    }
}

/// Real Prometheus 2.42 federates from promlite's `/federate` (and so also reads its
/// text output): the series promlite scraped appear in Prometheus with their labels.
#[test]
fn prometheus_federates_from_promlite() {
    let Some(prometheus) = peer("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_self_scraping(dir.path());
    let port = server.port;
    // promlite's own answer first.
    let (code, text) = http(
        port,
        "GET",
        &format!("/federate?match[]={}", enc(r#"{job="promlite"}"#)),
    )
    .unwrap();
    assert_eq!(code, 200);
    assert!(text.contains("# TYPE up untyped\n"), "{text}");
    assert!(
        text.contains(&format!(
            "up{{instance=\"127.0.0.1:{port}\",job=\"promlite\"}} 1 "
        )),
        "{text}"
    );

    let prom_port = free_port();
    let prom_cfg = dir.path().join("federate.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['{{job=\"promlite\"}}']\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(prometheus)
        .arg(format!("--config.file={}", prom_cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let q = format!("/api/v1/query?query={}", enc(r#"up{job="promlite"}"#));
    let mut found = String::new();
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        if let Some((200, body)) = http(prom_port, "GET", &q)
            && body.contains(r#""job":"promlite""#)
        {
            found = body;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        found.contains(r#""value":["#) && found.contains(r#","1"]"#),
        "Prometheus never federated up from promlite: {found}"
    );
}

/// `/api/v1/metadata` lists what scrapes recorded (type, help, unit per metric name), and
/// `/api/v1/status/tsdb` the head's size and cardinalities.
#[test]
fn metadata_and_tsdb_status_describe_the_scraped_head() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_self_scraping(dir.path());
    let port = server.port;
    let (code, v) = api(port, "/api/v1/metadata?metric=promlite_build_info");
    assert_eq!(code, 200, "{v}");
    let entries = v["data"]["promlite_build_info"]
        .as_array()
        .expect("an entry for the metric");
    assert_eq!(entries[0]["type"], "gauge");
    assert!(
        entries[0]["help"]
            .as_str()
            .unwrap()
            .contains("constant '1' value")
    );
    let (_, v) = api(port, "/api/v1/metadata?limit=1");
    assert_eq!(v["data"].as_object().unwrap().len(), 1);
    let (code, v) = api(port, "/api/v1/metadata?limit=x");
    assert_eq!((code, v["errorType"].as_str()), (400, Some("bad_data")));

    // Per target, from the scrape loop's cache.
    let (code, v) = api(
        port,
        "/api/v1/targets/metadata?metric=promlite_build_info&match_target=%7Bjob%3D%22promlite%22%7D",
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"][0]["target"]["job"], "promlite", "{v}");
    assert_eq!(v["data"][0]["type"], "gauge", "{v}");
    assert!(v["data"][0].get("metric").is_none(), "{v}");
    let (_, v) = api(port, "/api/v1/targets/metadata?limit=1");
    let all = v["data"].as_array().unwrap();
    assert!(
        all.len() > 1 && all.iter().all(|e| e["metric"].is_string()),
        "{v}"
    );
    // The relabel trace of the job (no relabel_configs: no steps) and its errors.
    let labels = enc(&format!(
        r#"{{"__address__":"127.0.0.1:{port}","job":"promlite"}}"#
    ));
    let (code, v) = api(
        port,
        &format!("/api/v1/targets/relabel_steps?scrapePool=promlite&labels={labels}"),
    );
    assert_eq!(
        (code, v["data"].to_string()),
        (200, r#"{"steps":[]}"#.to_string())
    );
    let (code, v) = api(
        port,
        &format!("/api/v1/targets/relabel_steps?scrapePool=nope&labels={labels}"),
    );
    assert_eq!(code, 400, "{v}");
    assert_eq!(
        v["error"],
        "error retrieving scrape config: scrape pool \"nope\" not found"
    );

    // `/api/v1/status/tsdb` describes the head the scrapes filled.
    let (code, v) = api(port, "/api/v1/status/tsdb");
    assert_eq!(code, 200, "{v}");
    let head = &v["data"]["headStats"];
    let num_series = head["numSeries"].as_u64().unwrap();
    assert!(num_series > 0, "{v}");
    assert!(head["chunkCount"].as_u64().unwrap() >= num_series, "{v}");
    assert!(head["minTime"].as_i64().unwrap() <= head["maxTime"].as_i64().unwrap());
    let by_name = v["data"]["seriesCountByMetricName"].as_array().unwrap();
    assert!(by_name.len() <= 10 && !by_name.is_empty(), "{v}");
    let counts: Vec<u64> = by_name
        .iter()
        .map(|e| e["value"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {v}"
    );
    let pairs = v["data"]["seriesCountByLabelValuePair"].as_array().unwrap();
    assert!(
        pairs
            .iter()
            .any(|e| e["name"] == "job=promlite" && e["value"].as_u64() == Some(num_series)),
        "every series carries the job label: {v}"
    );
    let (_, v) = api(port, "/api/v1/status/tsdb?limit=1");
    assert_eq!(
        v["data"]["labelValueCountByLabelName"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (code, v) = api(port, "/api/v1/status/tsdb?limit=0");
    assert_eq!((code, v["errorType"].as_str()), (400, Some("bad_data")));
}

/// `/metrics` comes from the instrumentation client: build info, the process collector
/// and the server's gauges, and promtool's linter finds nothing to complain about.
#[test]
fn own_metrics_are_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_self_scraping(dir.path());
    let (code, body) = http(server.port, "GET", "/metrics").unwrap();
    assert_eq!(code, 200);
    for name in [
        "promlite_build_info{",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "promlite_tsdb_head_series ",
        "promlite_scrape_pool_targets{scrape_job=\"promlite\"} 1",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }
    if let Some(promtool) = peer("promtool") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
