//! A small service that watches itself: it counts its requests with promlite's client,
//! keeps an hour of that history in memory, evaluates an alerting rule in-process and
//! prints when it fires, and answers a PromQL query before it exits. No port is opened.
//!
//! ```text
//! cargo run --example embedded [SECONDS]
//! ```

use std::error::Error;
use std::time::{Duration, Instant, SystemTime};

use promlite::Monitor;
use promlite::client::{Counter, Family, Histogram, HistogramConfig, Registry};
use promlite::promql::Value;

const RULES: &str = r#"
groups:
  - name: embedded
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: |
          sum(rate(http_requests_total{code="500"}[5s]))
            / sum(rate(http_requests_total[5s])) > 0.1
        labels:
          severity: page
        annotations:
          summary: "{{ $value | humanizePercentage }} of requests fail"
"#;

fn main() -> Result<(), Box<dyn Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);

    // The service's own instrumentation.
    let registry = Registry::new();
    let requests: Family<[String; 1], Counter> = Family::new(["code"])?;
    registry.register(
        "http_requests",
        "Requests handled, by status code.",
        requests.clone(),
    )?;
    let latency = Histogram::new(&HistogramConfig::classic([0.005, 0.01, 0.05, 0.1])?);
    registry.register_with_unit(
        "http_request_duration",
        "Time to handle a request.",
        "seconds",
        latency.clone(),
    )?;

    // The monitor: an hour in memory, the registry collected every half second, the
    // alert evaluated every second.
    let monitor = Monitor::builder()
        .in_memory()
        .retention(Duration::from_hours(1))
        .register("embedded", &registry)
        .collect_interval(Duration::from_millis(500))
        .rules_yaml("alerts.yml", RULES)
        .on_alert(|alerts| {
            for a in alerts {
                let state = if a.ends_at > 0 && a.ends_at <= now_ms() {
                    "resolved"
                } else {
                    "firing"
                };
                println!(
                    "ALERT {} {state}: {}",
                    a.labels.get("alertname").unwrap_or_default(),
                    a.annotations.get("summary").unwrap_or_default()
                );
            }
        })
        .build()?;

    // The "work": healthy at first, then one request in four fails.
    let start = Instant::now();
    let (ok, failed) = (
        requests.get_or_create(&["200"])?,
        requests.get_or_create(&["500"])?,
    );
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        n += 1;
        let degraded = start.elapsed() > Duration::from_secs(seconds / 3);
        if degraded && n.is_multiple_of(4) {
            failed.inc();
        } else {
            ok.inc();
        }
        latency.observe(0.002 * (n % 10) as f64);
        std::thread::sleep(Duration::from_millis(5));
    }

    monitor.collect_now();
    let r = monitor.query(
        "sum by (code) (increase(http_requests_total[1h]))",
        SystemTime::now(),
    )?;
    println!("requests in the last hour, by code:");
    if let Value::Vector(v) = r.value {
        for s in v {
            println!(
                "  code={} {:.0}",
                s.metric.get("code").unwrap_or_default(),
                s.f
            );
        }
    }
    let r = monitor.query(
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[1h])))",
        SystemTime::now(),
    )?;
    if let Value::Vector(v) = r.value {
        for s in v {
            println!("p90 latency: {:.4}s", s.f);
        }
    }
    monitor.shutdown_blocking();
    Ok(())
}

fn now_ms() -> i64 {
    promlite::model::value::now_ms()
}
