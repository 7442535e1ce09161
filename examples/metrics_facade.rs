//! An application instrumented with the `metrics` facade's macros, unchanged, whose
//! metrics promlite records and queries: `PromliteRecorder` turns `counter!`,
//! `gauge!` and `histogram!` into a promlite registry, and the monitor collects it.
//!
//! ```text
//! cargo run --example metrics_facade
//! ```

use std::error::Error;
use std::time::{Duration, SystemTime};

use promlite::Monitor;
use promlite::client::{HistogramConfig, PromliteRecorder, Registry, linear_buckets};
use promlite::promql::Value;

/// The application, which knows only the `metrics` crate.
fn place_orders() {
    for i in 0..120u32 {
        let region = ["eu", "us", "ap"][(i % 3) as usize];
        metrics::counter!("orders_placed_total", "region" => region).increment(1);
        metrics::histogram!("order_value").record(f64::from(10 + i % 50));
    }
    metrics::gauge!("orders_open").set(7.0);
}

fn main() -> Result<(), Box<dyn Error>> {
    let registry = Registry::new();
    let recorder = PromliteRecorder::builder()
        .histogram(HistogramConfig::classic(linear_buckets(10.0, 10.0, 5)?)?)
        .build(&registry);
    metrics::set_global_recorder(recorder)?;
    let monitor = Monitor::builder()
        .register("shop", &registry)
        .collect_interval(Duration::from_secs(1))
        .build()?;

    place_orders();
    monitor.collect_now();

    for expr in [
        "sum by (region) (orders_placed_total)",
        "orders_open",
        "histogram_quantile(0.5, sum by (le) (order_value_bucket))",
    ] {
        println!("{expr}");
        let r = monitor.query(expr, SystemTime::now())?;
        if let Value::Vector(v) = r.value {
            for s in v {
                println!("  {} {}", s.metric, s.f);
            }
        }
    }
    monitor.shutdown_blocking();
    Ok(())
}
