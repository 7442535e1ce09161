#![allow(dead_code)]
//! The registry the encoding tests share: one metric of every kind, with deterministic
//! values (created timestamps aside, which tests normalise).

use promlite_client::{
    Counter, Family, Gauge, Histogram, HistogramConfig, Info, Registry, StateSet, Summary,
    SummaryConfig,
};

pub(crate) fn fixture() -> Registry {
    let r = Registry::builder()
        .const_label("service", "shop")
        .build()
        .unwrap();
    let requests: Family<[String; 2], Counter> = Family::new(["method", "code"]).unwrap();
    r.register(
        "http_requests_total",
        "HTTP requests served.",
        requests.clone(),
    )
    .unwrap();
    requests.get_or_create(&["GET", "200"]).unwrap().inc_by(7);
    requests.get_or_create(&["POST", "500"]).unwrap().inc();

    let cpu: Counter<f64> = Counter::new();
    r.register_with_unit(
        "worker_cpu",
        "CPU time of the workers.",
        "seconds",
        cpu.clone(),
    )
    .unwrap();
    cpu.inc_by(1.25);

    let queue: Gauge = Gauge::new();
    r.register("queue_length", "Jobs waiting.", queue.clone())
        .unwrap();
    queue.set(3.0);

    let latency = Family::<Vec<String>, Histogram>::with_constructor(["route"], || {
        Histogram::new(&HistogramConfig::classic([0.1, 0.5, 1.0]).unwrap())
    })
    .unwrap();
    r.register_with_unit(
        "http_request_duration",
        "Request latency.",
        "seconds",
        latency.clone(),
    )
    .unwrap();
    let h = latency.get_or_create(&["/cart"]).unwrap();
    for v in [0.05, 0.3, 0.3, 2.0] {
        h.observe(v);
    }

    let sizes = Histogram::new(&HistogramConfig::native(0, 0.0).unwrap());
    r.register_with_unit("response_size", "Response sizes.", "bytes", sizes.clone())
        .unwrap();
    for v in [0.0, 1.0, 3.0, 3.5, 100.0] {
        sizes.observe(v);
    }

    let rpc = Summary::new(&SummaryConfig::new([0.5, 0.9]).unwrap());
    r.register_with_unit("rpc_duration", "RPC latency.", "seconds", rpc.clone())
        .unwrap();
    for v in 1..=10 {
        rpc.observe(f64::from(v) / 10.0);
    }

    r.register(
        "build",
        "Build information.",
        Info::new([("version", "1.2.3")]).unwrap(),
    )
    .unwrap();

    let mode = StateSet::new(["serving", "draining"]).unwrap();
    r.register("mode", "Serving mode.", mode.clone()).unwrap();
    mode.set_only("serving").unwrap();
    r
}

/// Replaces the values of `_created` lines, which hold the wall-clock time the fixture
/// was built at.
pub(crate) fn normalise_created(text: &str) -> String {
    text.lines()
        .map(|l| {
            let series_end = l.rfind(' ').unwrap_or(l.len());
            if l.get(..series_end)
                .is_some_and(|s| s.split('{').next().is_some_and(|n| n.ends_with("_created")))
            {
                format!("{} <created>\n", &l[..series_end])
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}
