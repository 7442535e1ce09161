//! The HTTP API end to end over a socket: a router on an in-memory store, asked the
//! way clients ask, answers checked against the exact bytes Prometheus sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use promlite_model::Labels;
use promlite_storage::{Appendable, MemStore, SeriesRef};
use std::time::{Duration, UNIX_EPOCH};

use promlite_web::{
    AlertState, AlertStatus, AlertmanagerStatus, BoxError, BoxFuture, Control, RuleGroupStatus,
    RuleHealth, RuleKind, RuleSource, RuleStatus, TsdbAdmin, Web, WebOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Sends one HTTP/1.1 request and returns the status and body.
async fn request(port: u16, method: &str, target: &str, form: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = form.unwrap_or("");
    let content_type = if form.is_some() {
        "Content-Type: application/x-www-form-urlencoded\r\n"
    } else {
        ""
    };
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn get(port: u16, target: &str) -> impl Future<Output = (u16, String)> {
    let target = target.to_string();
    async move { request(port, "GET", &target, None).await }
}

/// Percent-encodes a query parameter value.
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

fn store() -> Arc<MemStore> {
    let store = Arc::new(MemStore::new());
    let mut app = store.appender();
    for (job, inst, v) in [("api", "a:1", 1.0), ("api", "b:1", 0.0), ("db", "c:1", 1.0)] {
        let l = Labels::from_pairs([("__name__", "up"), ("job", job), ("instance", inst)]);
        for i in 0..10 {
            app.append(SeriesRef::NONE, &l, i * 15_000, v).unwrap();
        }
    }
    let l = Labels::from_pairs([("__name__", "temp"), ("room", "<hall>")]);
    app.append(SeriesRef::NONE, &l, 30_000, 21.5).unwrap();
    app.commit().unwrap();
    store
}

#[derive(Default)]
struct FakeControl {
    reloads: AtomicUsize,
}

impl Control for FakeControl {
    fn reload(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            self.reloads.fetch_add(1, Ordering::SeqCst);
            Err(BoxError::from("prometheus.yml:3:5: bad"))
        })
    }
    fn quit(&self) {}
    fn config_yaml(&self) -> String {
        "global:\n  scrape_interval: 15s\n".to_string()
    }
    fn reload_status(&self) -> (bool, Option<std::time::SystemTime>) {
        (true, None)
    }
}

/// Two groups: recording rules, and an alerting rule with one firing alert.
struct FakeRules;

impl RuleSource for FakeRules {
    fn rule_groups(&self) -> Vec<RuleGroupStatus> {
        let at = UNIX_EPOCH + Duration::from_millis(1_435_781_451_781);
        let rec = |name: &str| RuleStatus {
            name: name.into(),
            query: "sum by (job) (up)".into(),
            labels: Labels::empty(),
            health: RuleHealth::Ok,
            last_error: None,
            evaluation_time: Duration::from_micros(250),
            last_evaluation: Some(at),
            kind: RuleKind::Recording,
        };
        vec![
            RuleGroupStatus {
                name: "rec".into(),
                file: "/etc/rules/a.yml".into(),
                interval: Duration::from_mins(1),
                limit: 0,
                evaluation_time: Duration::from_millis(1),
                last_evaluation: Some(at),
                rules: vec![rec("job:up:sum"), rec("job:up:sum2")],
            },
            RuleGroupStatus {
                name: "alerts".into(),
                file: "/etc/rules/b.yml".into(),
                interval: Duration::from_secs(30),
                limit: 10,
                evaluation_time: Duration::ZERO,
                last_evaluation: None,
                rules: vec![RuleStatus {
                    name: "Down".into(),
                    query: "up == 0".into(),
                    labels: Labels::from_pairs([("severity", "page")]),
                    health: RuleHealth::Err,
                    last_error: Some("boom".into()),
                    evaluation_time: Duration::ZERO,
                    last_evaluation: None,
                    kind: RuleKind::Alerting {
                        state: AlertState::Firing,
                        duration: Duration::from_mins(5),
                        keep_firing_for: Duration::ZERO,
                        annotations: Labels::from_pairs([("summary", "{{ $labels.job }} down")]),
                        alerts: vec![AlertStatus {
                            labels: Labels::from_pairs([("alertname", "Down"), ("job", "api")]),
                            annotations: Labels::from_pairs([("summary", "api down")]),
                            state: AlertState::Firing,
                            active_at: at,
                            keep_firing_since: None,
                            value: 27.0,
                        }],
                    },
                }],
            },
        ]
    }

    fn alertmanagers(&self) -> AlertmanagerStatus {
        AlertmanagerStatus {
            active: vec!["http://127.0.0.1:9093/api/v2/alerts".into()],
            dropped: Vec::new(),
        }
    }
}

/// Exemplars of one series and a finished WAL replay of segments 3 to 7.
struct FakeAdmin;

impl TsdbAdmin for FakeAdmin {
    fn delete(&self, _: i64, _: i64, _: &[promlite_model::Matcher]) -> Result<(), BoxError> {
        Ok(())
    }
    fn snapshot(&self, _: &std::path::Path, _: bool) -> Result<(), BoxError> {
        Ok(())
    }
    fn dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::new()
    }
    fn exemplars(
        &self,
        mint: i64,
        maxt: i64,
        selectors: &[Vec<promlite_model::Matcher>],
    ) -> Vec<(Labels, Vec<promlite_model::Exemplar>)> {
        let series = Labels::from_pairs([("__name__", "rpc_seconds_bucket"), ("le", "0.5")]);
        let matches = selectors.iter().any(|ms| {
            ms.iter()
                .all(|m| m.matches(series.get(m.name()).unwrap_or("")))
        });
        let e = promlite_model::Exemplar {
            labels: Labels::from_pairs([("trace_id", "abc")]),
            value: 0.25,
            timestamp: Some(1_600_096_945_479),
        };
        if matches && (mint..=maxt).contains(&1_600_096_945_479) {
            vec![(series, vec![e])]
        } else {
            Vec::new()
        }
    }
    fn wal_replay(&self) -> promlite_tsdb::WalReplayStatus {
        promlite_tsdb::WalReplayStatus {
            min: 3,
            max: 7,
            current: 7,
        }
    }
}

/// A server as the binary runs it: the query endpoints in front of the router.
async fn start(options: WebOptions, ready: bool) -> u16 {
    start_with(options, ready, false).await
}

/// A server of `Web::service()`, or of the router alone when `router_only`.
async fn start_with(options: WebOptions, ready: bool, router_only: bool) -> u16 {
    let web = Web::new(store(), options)
        .with_control(Arc::new(FakeControl::default()))
        .with_rules(Arc::new(FakeRules))
        .with_admin(Arc::new(FakeAdmin));
    web.set_ready(ready);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    if router_only {
        tokio::spawn(promlite_web::serve(
            listener,
            web.router(),
            std::future::pending(),
        ));
    } else {
        tokio::spawn(promlite_web::serve(
            listener,
            web.service(),
            std::future::pending(),
        ));
    }
    port
}

/// The query endpoints answer alike whether the front reaches them or the router does:
/// every method, form bodies, errors, a server not ready, a route prefix. (An oversized
/// form through the front: `reliability_hostile` in the CLI's tests.)
#[tokio::test]
async fn the_front_answers_queries_as_the_router() {
    for (prefix, ready) in [("", true), ("/prom", true), ("", false)] {
        let options = || WebOptions {
            route_prefix: prefix.into(),
            ..WebOptions::default()
        };
        let front = start_with(options(), ready, false).await;
        let router = start_with(options(), ready, true).await;
        for (method, target, form) in [
            ("GET", "/api/v1/query?query=up&time=100", None),
            ("GET", "/api/v1/query?query=sum(up", None),
            ("POST", "/api/v1/query", Some("query=count(up)&time=100")),
            (
                "GET",
                "/api/v1/query_range?query=up&start=0&end=100&step=50",
                None,
            ),
            (
                "POST",
                "/api/v1/query_range",
                Some("query=up&start=0&end=100&step=0"),
            ),
            ("PUT", "/api/v1/query?query=up", None),
            ("DELETE", "/api/v1/query_range?query=up", None),
            ("OPTIONS", "/api/v1/query", None),
            ("HEAD", "/api/v1/query?query=up&time=100", None),
            ("GET", "/api/v1/query/?query=up", None),
        ] {
            let target = format!("{prefix}{target}");
            let want = request(router, method, &target, form).await;
            let got = request(front, method, &target, form).await;
            assert_eq!(got, want, "{method} {target} (ready: {ready})");
        }
    }
}

#[tokio::test]
async fn instant_query_has_prometheus_envelope_and_formats() {
    let port = start(WebOptions::default(), true).await;
    let (code, body) = get(port, "/api/v1/query?query=up%7Bjob%3D%22db%22%7D&time=135").await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"c:1","job":"db"},"value":[135,"1"]}]}}"#
    );
    // Scalars go through Go's encoding/json: the time is a plain float and the value
    // is formatted without exponent, unlike vector samples.
    for (q, want) in [
        ("1e-7", r#"[1.5,"0.0000001"]"#),
        ("1/0", r#"[1.5,"+Inf"]"#),
        ("0/0", r#"[1.5,"NaN"]"#),
        ("1e6", r#"[1.5,"1000000"]"#),
    ] {
        let (code, body) = get(port, &format!("/api/v1/query?query={}&time=1.5", enc(q))).await;
        assert_eq!(code, 200, "{q}: {body}");
        assert_eq!(
            body,
            format!(r#"{{"status":"success","data":{{"resultType":"scalar","result":{want}}}}}"#),
            "{q}"
        );
    }
    // Vector samples go through Prometheus's jsonutil: three-digit fractions of
    // seconds and exponent forms for tiny values.
    let (_, body) = get(
        port,
        &format!("/api/v1/query?query={}&time=1.5", enc("vector(1e-7)")),
    )
    .await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.500,"1e-07"]}]}}"#
    );
    // Go's JSON encoder escapes HTML characters.
    let (_, body) = get(port, "/api/v1/query?query=temp&time=60").await;
    assert!(body.contains(r#""room":"\u003chall\u003e""#), "{body}");
    // RFC 3339 times work like unix seconds.
    let (_, a) = get(port, "/api/v1/query?query=up&time=1970-01-01T00:02:15Z").await;
    let (_, b) = get(port, "/api/v1/query?query=up&time=135").await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn post_form_is_read_like_get() {
    let port = start(WebOptions::default(), true).await;
    let (code, body) = request(
        port,
        "POST",
        "/api/v1/query",
        Some("query=count(up)&time=100"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[100,"3"]}]}}"#
    );
}

#[tokio::test]
async fn range_query_shape_and_step_parsing() {
    let port = start(WebOptions::default(), true).await;
    let (code, body) = get(
        port,
        "/api/v1/query_range?query=up%7Bjob%3D%22db%22%7D&start=0&end=30&step=15s",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"c:1","job":"db"},"values":[[0,"1"],[15,"1"],[30,"1"]]}]}}"#
    );
    let (code, body) = get(
        port,
        "/api/v1/query_range?query=up&start=0&end=11001&step=1",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}"#
    );
    let (code, body) = get(port, "/api/v1/query_range?query=up&start=0&end=10&step=0").await;
    assert_eq!(code, 400);
    assert!(body.contains(r#""error":"invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer""#), "{body}");
    let (code, body) = get(port, "/api/v1/query_range?query=up&start=x&end=10&step=1").await;
    assert_eq!(code, 400);
    assert!(
        body.contains(r#"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"#),
        "{body}"
    );
}

/// `body` with every number after a `"...Time":` key replaced by `T`: timings vary.
fn without_timings(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("Time\":") {
        let (head, tail) = rest.split_at(i + 6);
        out.push_str(head);
        out.push('T');
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | '-' | '+')))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn stats_are_added_when_asked_for() {
    let port = start(WebOptions::default(), true).await;
    // Any non-empty value asks; without the engine's per-step feature, `all` gives the
    // same totals. The stats come after the result, timings in seconds first.
    for stats in ["1", "all", "false"] {
        let (code, body) = get(
            port,
            &format!("/api/v1/query?query=up%7Bjob%3D%22db%22%7D&time=135&stats={stats}"),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            without_timings(&body),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"c:1","job":"db"},"value":[135,"1"]}],"stats":{"timings":{"evalTotalTime":T,"resultSortTime":T,"queryPreparationTime":T,"innerEvalTime":T,"execQueueTime":T,"execTotalTime":T},"samples":{"totalQueryableSamples":1,"peakSamples":1}}}}"#,
            "stats={stats}"
        );
    }
    let (_, body) = get(port, "/api/v1/query?query=up&time=135&stats=").await;
    assert!(!body.contains("stats"), "{body}");
    // Per-step counts need the engine's feature and `stats=all`.
    let options = WebOptions {
        engine: promlite_promql::EngineOptions::new().per_step_stats(true),
        ..WebOptions::default()
    };
    let port = start(options, true).await;
    let (_, body) = get(
        port,
        "/api/v1/query_range?query=up%7Bjob%3D%22db%22%7D&start=0&end=30&step=15&stats=all",
    )
    .await;
    assert!(
        without_timings(&body).ends_with(r#""samples":{"totalQueryableSamplesPerStep":[[0,1],[15,1],[30,1]],"totalQueryableSamples":3,"peakSamples":3}}}}"#),
        "{body}"
    );
    let (_, body) = get(
        port,
        "/api/v1/query_range?query=up%7Bjob%3D%22db%22%7D&start=0&end=30&step=15&stats=1",
    )
    .await;
    assert!(
        body.ends_with(r#""samples":{"totalQueryableSamples":3,"peakSamples":3}}}}"#),
        "{body}"
    );
    // A failing query answers with the error alone.
    let (code, body) = get(port, "/api/v1/query?query=sum(&stats=all").await;
    assert_eq!(code, 400);
    assert!(!body.contains("stats"), "{body}");
}

#[tokio::test]
async fn errors_carry_type_status_and_prometheus_text() {
    let port = start(WebOptions::default(), true).await;
    let (code, body) = get(port, "/api/v1/query?query=up%7B").await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces"}"#
    );
    let (code, body) = get(port, "/api/v1/query?query=up&time=never").await;
    assert_eq!(code, 400);
    assert!(body.contains(r#"invalid parameter \"time\": invalid time value for 'time': cannot parse \"never\" to a valid timestamp"#), "{body}");
    // Duplicate output series are an execution error: 422.
    let (code, body) = get(
        port,
        "/api/v1/query?query=label_replace(up,%22instance%22,%22x%22,%22%22,%22%22)&time=100",
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains(r#""errorType":"execution""#), "{body}");
}

#[tokio::test]
async fn series_labels_and_values() {
    let port = start(WebOptions::default(), true).await;
    let (code, body) = get(
        port,
        &format!(
            "/api/v1/series?match[]={}&match[]={}",
            enc(r#"up{job="db"}"#),
            enc("temp")
        ),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"temp","room":"\u003chall\u003e"},{"__name__":"up","instance":"c:1","job":"db"}]}"#
    );
    let (code, body) = get(port, "/api/v1/series").await;
    assert_eq!(code, 400);
    assert!(body.contains("no match[] parameter provided"));
    let (code, body) = get(
        port,
        &format!("/api/v1/series?match[]={}", enc(r#"{job=""}"#)),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"}"#
    );
    let (_, body) = get(port, "/api/v1/labels").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","instance","job","room"]}"#
    );
    let (_, body) = get(port, &format!("/api/v1/labels?match[]={}", enc("temp"))).await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","room"]}"#);
    let (_, body) = get(port, "/api/v1/label/job/values").await;
    assert_eq!(body, r#"{"status":"success","data":["api","db"]}"#);
    let (_, body) = get(port, "/api/v1/label/job/values?limit=1").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["api"],"warnings":["results truncated due to limit"]}"#
    );
}

#[tokio::test]
async fn status_and_format_query() {
    let port = start(WebOptions::default(), true).await;
    let (_, body) = get(port, "/api/v1/status/config").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"yaml":"global:\n  scrape_interval: 15s\n"}}"#
    );
    let (_, body) = get(port, "/api/v1/status/buildinfo").await;
    assert!(
        body.starts_with(r#"{"status":"success","data":{"version":""#),
        "{body}"
    );
    let (_, body) = get(port, "/api/v1/format_query?query=sum%20by(job)(up)").await;
    assert_eq!(body, r#"{"status":"success","data":"sum by (job) (up)"}"#);
    let (_, body) = get(port, "/api/v1/targets").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"activeTargets":[],"droppedTargets":[],"droppedTargetCounts":{}}}"#
    );
}

#[tokio::test]
async fn lifecycle_and_admin_are_off_unless_enabled() {
    let port = start(WebOptions::default(), true).await;
    assert_eq!(
        get(port, "/-/healthy").await,
        (200, "Prometheus Server is Healthy.\n".to_string())
    );
    assert_eq!(
        get(port, "/-/ready").await,
        (200, "Prometheus Server is Ready.\n".to_string())
    );
    assert_eq!(
        request(port, "POST", "/-/reload", None).await,
        (403, "Lifecycle API is not enabled.".to_string())
    );
    let (code, body) = request(port, "POST", "/api/v1/admin/tsdb/snapshot", None).await;
    assert_eq!(code, 500);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}"#
    );

    let port = start(
        WebOptions {
            enable_lifecycle: true,
            ..WebOptions::default()
        },
        true,
    )
    .await;
    assert_eq!(
        request(port, "POST", "/-/reload", None).await,
        (
            500,
            "failed to reload config: prometheus.yml:3:5: bad\n".to_string()
        )
    );
}

#[tokio::test]
async fn not_ready_answers_503() {
    let port = start(WebOptions::default(), false).await;
    assert_eq!(
        get(port, "/-/ready").await,
        (503, "Service Unavailable".to_string())
    );
    assert_eq!(get(port, "/api/v1/query?query=up").await.0, 503);
    assert_eq!(get(port, "/-/healthy").await.0, 200);
}

#[tokio::test]
async fn ui_pages_and_assets_are_served_from_the_binary() {
    let port = start(WebOptions::default(), true).await;
    for page in ["/query", "/targets", "/status", "/alerts", "/rules"] {
        let (status, body) = get(port, page).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            body.contains("<nav>") && body.contains(r#"href="static/style.css""#),
            "{page}"
        );
        // Relative links only, so that the pages work under a route prefix.
        assert!(!body.contains(r#"="/"#), "{page} has an absolute link");
    }
    let (status, body) = request_head(port, "/").await;
    assert_eq!(status, 302, "/ redirects to the query page");
    assert!(body.contains("location: /query\r\n"), "{body}");
    let (status, body) = get(port, "/static/query.js").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""api/v1/query_range""#));
    for (asset, api) in [
        ("alerts.js", "api/v1/rules?type=alert"),
        ("rules.js", "api/v1/rules"),
        ("targets.js", "api/v1/targets/relabel_steps"),
    ] {
        let (status, body) = get(port, &format!("/static/{asset}")).await;
        assert_eq!(status, 200, "{asset}");
        assert!(body.contains(api), "{asset}");
    }
    let (status, _) = get(port, "/static/missing.js").await;
    assert_eq!(status, 404);
}

/// The status line's code and the response head (lower-cased), for redirects.
async fn request_head(port: u16, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let head = out
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_lowercase()
        + "\r\n";
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head)
}

#[tokio::test]
async fn a_route_prefix_serves_everything_under_it() {
    // As `--web.route-prefix=/prom/` (or an external URL with that path) does.
    let options = WebOptions {
        route_prefix: "/prom/".into(),
        ..WebOptions::default()
    };
    let port = start(options, true).await;
    let (code, body) = get(port, "/prom/api/v1/query?query=count(up)&time=100").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""value":[100,"3"]"#), "{body}");
    assert_eq!(get(port, "/prom/-/healthy").await.0, 200);
    assert_eq!(get(port, "/prom/query").await.0, 200);
    assert_eq!(get(port, "/prom/static/query.js").await.0, 200);
    assert_eq!(get(port, "/api/v1/query?query=up").await.0, 404);
    // The root redirects to the prefix, the prefix to its query page.
    for (from, to) in [
        ("/", "/prom"),
        ("/prom", "/prom/query"),
        ("/prom/", "/prom/query"),
        ("/prom/graph", "/prom/query"),
    ] {
        let (code, head) = request_head(port, from).await;
        assert_eq!(code, 302, "{from}: {head}");
        assert!(
            head.contains(&format!("location: {to}\r\n")),
            "{from}: {head}"
        );
    }
}

#[tokio::test]
async fn rules_alerts_and_alertmanagers() {
    let port = start(WebOptions::default(), true).await;
    let (code, body) = get(port, "/api/v1/alerts").await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"Down","job":"api"},"annotations":{"summary":"api down"},"state":"firing","activeAt":"2015-07-01T20:10:51.781Z","value":"2.7e+01"}]}}"#
    );
    let (_, body) = get(port, "/api/v1/alertmanagers").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"activeAlertmanagers":[{"url":"http://127.0.0.1:9093/api/v2/alerts"}],"droppedAlertmanagers":[]}}"#
    );
    let (_, body) = get(port, "/api/v1/rules?type=alert").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"groups":[{"name":"alerts","file":"/etc/rules/b.yml","rules":[{"state":"firing","name":"Down","query":"up == 0","duration":300,"keepFiringFor":0,"labels":{"severity":"page"},"annotations":{"summary":"{{ $labels.job }} down"},"alerts":[{"labels":{"alertname":"Down","job":"api"},"annotations":{"summary":"api down"},"state":"firing","activeAt":"2015-07-01T20:10:51.781Z","value":"2.7e+01"}],"health":"err","lastError":"boom","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"alerting"}],"interval":30,"limit":10,"evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z"}]}}"#
    );
    let (_, body) = get(port, "/api/v1/rules?type=record&rule_name[]=job:up:sum").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"groups":[{"name":"rec","file":"/etc/rules/a.yml","rules":[{"name":"job:up:sum","query":"sum by (job) (up)","labels":{},"health":"ok","evaluationTime":0.00025,"lastEvaluation":"2015-07-01T20:10:51.781Z","type":"recording"}],"interval":60,"limit":0,"evaluationTime":0.001,"lastEvaluation":"2015-07-01T20:10:51.781Z"}]}}"#
    );
    let (_, body) = get(
        port,
        &format!(
            "/api/v1/rules?exclude_alerts=true&match[]={}",
            enc(r#"{severity="page"}"#)
        ),
    )
    .await;
    assert!(body.contains(r#""alerts":null"#), "{body}");
    assert!(!body.contains("job:up:sum"), "{body}");
    // Pagination: one group per page, the token leads to the next.
    let (_, body) = get(port, "/api/v1/rules?group_limit=1").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["groups"].as_array().unwrap().len(), 1);
    let token = v["data"]["groupNextToken"].as_str().unwrap().to_owned();
    let (_, body) = get(
        port,
        &format!("/api/v1/rules?group_limit=1&group_next_token={token}"),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["groups"][0]["name"], "alerts");
    assert!(v["data"].get("groupNextToken").is_none());
    for (q, err) in [
        (
            "type=x",
            r#"invalid parameter \"type\": not supported value \"x\""#,
        ),
        (
            "group_next_token=a",
            "group_limit needs to be present in order to paginate over the groups",
        ),
        (
            "group_limit=1&group_next_token=zz",
            "invalid group_next_token 'zz'. were rule groups changed?",
        ),
    ] {
        let (code, body) = get(port, &format!("/api/v1/rules?{q}")).await;
        assert_eq!(code, 400, "{q}");
        assert!(body.contains(err), "{q}: {body}");
    }
}

#[tokio::test]
async fn parse_query_returns_the_tree() {
    let port = start(WebOptions::default(), true).await;
    let (code, body) = get(port, &format!("/api/v1/parse_query?query={}", enc("-a"))).await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"expr":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"a"}],"name":"a","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"op":"-","type":"unaryExpr"}}"#
    );
    let (code, body) = get(port, "/api/v1/parse_query?query=a%2B").await;
    assert_eq!(code, 400);
    assert!(body.contains(r#"invalid parameter \"query\""#), "{body}");
}

#[tokio::test]
async fn exemplars_and_wal_replay() {
    let port = start(WebOptions::default(), true).await;
    let q = enc("histogram_quantile(0.9, rate(rpc_seconds_bucket[5m]))");
    let (code, body) = get(port, &format!("/api/v1/query_exemplars?query={q}")).await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"rpc_seconds_bucket","le":"0.5"},"exemplars":[{"labels":{"trace_id":"abc"},"value":"0.25","timestamp":1600096945.479}]}]}"#
    );
    let (_, body) = get(port, &format!("/api/v1/query_exemplars?query={q}&end=1000")).await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (code, _) = get(port, "/api/v1/query_exemplars?query=1").await;
    assert_eq!(code, 204, "no selectors, nothing to say");
    let (code, body) = get(port, "/api/v1/query_exemplars?query=up&start=10&end=5").await;
    assert_eq!(code, 400);
    assert!(
        body.contains("end timestamp must not be before start timestamp"),
        "{body}"
    );
    let (_, body) = get(port, "/api/v1/status/walreplay").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"min":3,"max":7,"current":7}}"#
    );
}

/// `--web.max-connections`: past the limit a connection is not served until another
/// one closes (it waits in the kernel's backlog, as under Prometheus's limit listener).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_until_one_closes() {
    let web = Web::new(store(), WebOptions::default());
    web.set_ready(true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(promlite_web::serve_with_config(
        listener,
        web.router(),
        std::future::pending(),
        None,
        1,
    ));
    let request = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    first.write_all(request).await.unwrap();
    let mut buf = [0u8; 512];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    // The first connection stays open (keep-alive): the second is not served.
    let mut second = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    second.write_all(request).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(waited.is_err(), "served past the limit: {waited:?}");
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(10), second.read(&mut buf))
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
}
