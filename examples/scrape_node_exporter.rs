//! Scrapes a node_exporter and prints each CPU mode's rate, as
//! `rate(node_cpu_seconds_total[1m])` summed by mode.
//!
//! ```text
//! cargo run --example scrape_node_exporter [HOST:PORT]   # default localhost:9100
//! ```

use std::error::Error;
use std::time::{Duration, Instant, SystemTime};

use promlite::Monitor;
use promlite::promql::Value;

fn main() -> Result<(), Box<dyn Error>> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9100".into());
    let monitor = Monitor::builder()
        .in_memory()
        .scrape_targets("node", [target.as_str()], Duration::from_secs(1))
        .build()?;

    // A rate needs two scrapes in its window.
    let expr = "sum by (mode) (rate(node_cpu_seconds_total[1m]))";
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        std::thread::sleep(Duration::from_millis(500));
        let r = monitor.query(expr, SystemTime::now())?;
        if let Value::Vector(v) = r.value
            && !v.is_empty()
        {
            break v;
        }
        if Instant::now() > deadline {
            let why = monitor
                .targets()
                .into_iter()
                .map(|t| format!("{} {}: {}", t.url, t.health, t.last_error))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(format!("no CPU samples from {target} after 20s ({why})").into());
        }
    };
    println!("{expr}");
    for s in rows {
        println!(
            "  mode={:<10} {:.4} CPU-seconds/s",
            s.metric.get("mode").unwrap_or_default(),
            s.f
        );
    }
    monitor.shutdown_blocking();
    Ok(())
}
