//! The full Prometheus-compatible server in a few lines: a data directory, the HTTP API
//! and UI, scraping itself (or what `prometheus.yml` says), until Ctrl-C or
//! `POST /-/quit`.
//!
//! ```text
//! cargo run --example server [LISTEN_ADDRESS] [DATA_DIR] [CONFIG_FILE]
//! ```

use promlite::Monitor;

#[tokio::main]
async fn main() -> Result<(), promlite::Error> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9090".into());
    let data = args.next().unwrap_or_else(|| "data/".into());
    let mut builder = Monitor::builder()
        .data_dir(data)
        .serve(listen)
        .enable_lifecycle(true);
    if let Some(config) = args.next() {
        builder = builder.config_file(config);
    }
    let monitor = builder.start().await?;
    if let Some(addr) = monitor.local_addr() {
        println!("promlite is serving http://{addr}/");
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = monitor.quit_requested() => {}
    }
    monitor.shutdown().await;
    Ok(())
}
