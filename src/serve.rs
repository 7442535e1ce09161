//! The HTTP side of a [`Monitor`](crate::Monitor) (feature `web`): Prometheus's API and
//! UI over the monitor's storage and managers, and the server's own `/metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use promlite_web::{
    BoxError, BoxFuture, BuildInfo, Control, MetricsSource, TargetSource, Web, WebOptions,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::builder::{MonitorBuilder, ServeOptions};
use crate::error::{Error, Result};
use crate::local::LocalTarget;
use crate::monitor::{Core, Parts, Store};

/// A running HTTP server.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    web: Web,
    stop: Arc<Notify>,
    task: JoinHandle<std::result::Result<(), promlite_web::Error>>,
    /// The runtime the server runs on: see [`web_runtime`]. Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Served {
    /// Stops accepting requests and waits for the server to end.
    pub(crate) async fn stop(mut self) {
        self.web.set_ready(false);
        self.stop.notify_one();
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(err = %e, "web server failed"),
            Err(e) => error!(err = %e, "web server task failed"),
        }
    }
}

impl Drop for Served {
    /// Ends the web runtime without waiting: dropping a runtime blocks, which async code
    /// may not. Queries still running on its blocking pool finish or time out alone.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The HTTP server's own runtime, apart from the monitor's.
///
/// Queries are evaluated on the thread that serves their request while another of these
/// threads stays free, as Prometheus evaluates them in the request's goroutine: a
/// hand-off to another thread and back costs two thread wake-ups, about as much as a
/// small query's evaluation. A thread that evaluates cannot serve anything else
/// meanwhile, so the server does not share its threads with scraping, rule evaluation
/// and the storage's background work: a burst of heavy queries slows other requests
/// only, as Prometheus's query concurrency limit does. Twice as many threads as cores (at
/// least four) keep requests flowing while some evaluate.
fn web_runtime() -> Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads((2 * cores).max(4))
        .thread_name("promlite-web")
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            what: "starting the web server's runtime".into(),
            source,
        })
}

/// The targets the API and UI list: the scrape manager's, then the program's own
/// registries collected in-process (job by job, as `{job, instance="local"}` with URL
/// `in-process`), so that a program sees its registries' health where a Prometheus user
/// looks for targets.
struct MonitorTargets {
    scrape: Arc<promlite_scrape::ScrapeManager>,
    local: Vec<Arc<LocalTarget>>,
}

impl TargetSource for MonitorTargets {
    fn active_targets(&self) -> BTreeMap<String, Vec<Arc<promlite_scrape::Target>>> {
        let mut all = self.scrape.active_targets();
        for l in &self.local {
            all.entry(l.job.clone())
                .or_default()
                .push(Arc::clone(&l.target));
        }
        all
    }

    fn dropped_targets(&self) -> Vec<promlite_scrape::DroppedTarget> {
        self.scrape.dropped_targets()
    }

    fn relabel_steps(
        &self,
        job: &str,
        labels: &promlite_model::Labels,
    ) -> std::result::Result<Vec<promlite_scrape::RelabelStep>, String> {
        TargetSource::relabel_steps(&*self.scrape, job, labels)
    }
}

/// The monitor's controls as the web layer calls them. A reload starts and stops
/// scrape loops, discovery and rule groups, which must live on the monitor's runtime,
/// not on the web server's: it runs there.
struct MonitorControl {
    core: Arc<Core>,
    monitor: tokio::runtime::Handle,
}

impl Control for MonitorControl {
    fn reload(&self) -> BoxFuture<'_, std::result::Result<(), BoxError>> {
        let core = Arc::clone(&self.core);
        let reload = self.monitor.spawn(async move { core.reload().await });
        Box::pin(async move {
            match reload.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    error!(err = %e, "reload failed");
                    Err(BoxError::from(e.to_string()))
                }
                Err(e) => Err(BoxError::from(e.to_string())),
            }
        })
    }

    fn quit(&self) {
        self.core.quit.notify_one();
    }

    fn config_yaml(&self) -> String {
        self.core.yaml.lock().clone()
    }

    fn reload_status(&self) -> (bool, Option<SystemTime>) {
        self.core.reload_status()
    }

    fn external_labels(&self) -> promlite_model::Labels {
        self.core.config().global.external_labels.clone()
    }
}

/// The server's own `/metrics`, through the instrumentation client: build info, the
/// process collector, and gauges read from the storage and the managers when scraped.
struct SelfMetrics {
    registry: promlite_client::Registry,
    store: Store,
    core: Arc<Core>,
    head_series: promlite_client::Gauge<f64>,
    blocks: promlite_client::Gauge<f64>,
    reload_ok: promlite_client::Gauge<f64>,
    reload_time: promlite_client::Gauge<f64>,
    pool_targets: promlite_client::Family<[String; 1], promlite_client::Gauge<f64>>,
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl SelfMetrics {
    fn new(store: Store, core: Arc<Core>) -> std::result::Result<Self, promlite_client::Error> {
        use promlite_client::{Family, Gauge, Info, ProcessCollector, Registry};
        let registry = Registry::new();
        let gauge =
            |name: &str, help: &str| -> std::result::Result<Gauge<f64>, promlite_client::Error> {
                let g = Gauge::new();
                registry.register(name, help, g.clone())?;
                Ok(g)
            };
        registry.register(
            "promlite_build",
            "A metric with a constant '1' value labeled by version and toolchain.",
            Info::new([
                ("goversion", "rust"),
                ("version", env!("CARGO_PKG_VERSION")),
            ])?,
        )?;
        registry.register_collector(ProcessCollector::new());
        let pool_targets = Family::new(["scrape_job"])?;
        registry.register(
            "promlite_scrape_pool_targets",
            "Current number of active targets in each scrape pool.",
            pool_targets.clone(),
        )?;
        Ok(SelfMetrics {
            head_series: gauge(
                "promlite_tsdb_head_series",
                "Total number of series in the head block.",
            )?,
            blocks: gauge(
                "promlite_tsdb_blocks_loaded",
                "Number of currently loaded data blocks.",
            )?,
            reload_ok: gauge(
                "promlite_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful.",
            )?,
            reload_time: gauge(
                "promlite_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload.",
            )?,
            pool_targets,
            registry,
            store,
            core,
        })
    }
}

impl MetricsSource for SelfMetrics {
    fn write(&self, out: &mut String) {
        self.head_series.set(self.store.head().num_series() as f64);
        self.blocks.set(self.store.blocks() as f64);
        let (ok, last) = self.core.reload_status();
        self.reload_ok.set(if ok { 1.0 } else { 0.0 });
        self.reload_time.set(last.map_or(0.0, unix_seconds));
        // Pools that went away must not linger: the family is rebuilt each time.
        self.pool_targets.clear();
        for (pool, targets) in self.core.scrape.active_targets() {
            if let Ok(g) = self.pool_targets.get_or_create(&[pool.as_str()]) {
                g.set(targets.len() as f64);
            }
        }
        self.registry.encode_text(out);
    }
}

/// Starts the HTTP server of `monitor` on `listener`, on a runtime of its own
/// ([`web_runtime`]). Must run inside the monitor's runtime, which owns `listener`.
pub(crate) fn serve(
    monitor: &Parts,
    opts: &ServeOptions,
    listener: tokio::net::TcpListener,
    started: SystemTime,
    b: &MonitorBuilder,
) -> Result<Served> {
    let store = monitor.store().clone();
    let retention = match (&store, b.retention) {
        (Store::Memory(_), r) => r.unwrap_or(crate::builder::DEFAULT_MEMORY_RETENTION),
        (Store::Disk(_), Some(r)) => r,
        (Store::Disk(_), None) => {
            std::time::Duration::from_millis(promlite_tsdb::DEFAULT_RETENTION as u64)
        }
    };
    let retention = promlite_discovery::PromDuration::from(retention).to_string();
    let cors_origin = match &opts.cors_origin {
        None => None,
        Some(p) => promlite_web::cors_origin(p)
            .map_err(|e| Error::Setup(format!("could not compile CORS regex string {p:?}: {e}")))?,
    };
    let options = WebOptions {
        engine: monitor.engine().options().clone(),
        query_timeout: opts.query_timeout.filter(|d| !d.is_zero()),
        enable_lifecycle: opts.enable_lifecycle,
        enable_admin_api: opts.enable_admin_api,
        enable_remote_write_receiver: opts.enable_remote_write_receiver,
        flags: opts.flags.clone(),
        build_info: BuildInfo::default(),
        start_time: started,
        // Prometheus shows both limits as "15d or 512MiB", and a size limit alone (no
        // time limit) as "512MiB".
        storage_retention: match b.retention_size {
            Some(size) if retention == "0s" => promlite_scrape::ByteSize(size).go_base2(),
            Some(size) => format!(
                "{retention} or {}",
                promlite_scrape::ByteSize(size).go_base2()
            ),
            None => retention,
        },
        route_prefix: opts.prefix(),
        cors_origin,
        max_concurrent_queries: opts.max_concurrent_queries,
    };
    let core = Arc::clone(&monitor.core);
    let mut web = Web::new(Arc::clone(&monitor.queryable), options)
        .with_targets(Arc::new(MonitorTargets {
            scrape: Arc::clone(&core.scrape),
            local: monitor.locals.clone(),
        }) as Arc<dyn TargetSource>)
        .with_appendable(store.appendable())
        .with_control(Arc::new(MonitorControl {
            core: Arc::clone(&core),
            monitor: monitor.handle.clone(),
        }) as Arc<dyn Control>)
        .with_rules(Arc::new(promlite_web::ManagedRules {
            manager: Arc::clone(&core.rules),
            notifier: Some(monitor.notifier().clone()),
        }))
        .with_metrics(Arc::new(
            SelfMetrics::new(store.clone(), Arc::clone(&core))
                .map_err(|e| Error::Setup(format!("self metrics: {e}")))?,
        ));
    let [
        label_limit,
        label_name_length_limit,
        label_value_length_limit,
    ] = opts.remote_write_limits;
    web = web.with_remote_write_options(promlite_remote::WriteOptions {
        label_limit,
        label_name_length_limit,
        label_value_length_limit,
        ..promlite_remote::WriteOptions::default()
    });
    let [sample_limit, concurrent_limit, max_bytes_in_frame] = opts.remote_read_limits;
    web = web.with_remote_read_options(
        promlite_remote::ReadOptions {
            sample_limit,
            max_bytes_in_frame,
            ..promlite_remote::ReadOptions::default()
        },
        concurrent_limit,
    );
    if let Store::Disk(db) = &store {
        web = web.with_admin(Arc::clone(db) as Arc<dyn promlite_web::TsdbAdmin>);
    }
    let web_config = match &opts.web_config_file {
        Some(p) => Some(Arc::new(
            promlite_web::WebConfig::load(p).map_err(|e| Error::Setup(e.to_string()))?,
        )),
        None => None,
    };
    let scheme = if web_config
        .as_ref()
        .is_some_and(|c| c.tls_enabled_for_serving())
    {
        "https"
    } else {
        "http"
    };
    let addr = listener.local_addr().map_err(|source| Error::Io {
        what: "listen address".into(),
        source,
    })?;
    // The listener moves to the web runtime's reactor, so that accepting and serving
    // wake that runtime's threads only.
    let runtime = web_runtime()?;
    let listener = listener.into_std().and_then(|l| {
        let _in_web = runtime.enter();
        tokio::net::TcpListener::from_std(l)
    });
    let listener = listener.map_err(|source| Error::Io {
        what: "moving the listener to the web server's runtime".into(),
        source,
    })?;
    let stop = Arc::new(Notify::new());
    let task = runtime.spawn({
        let stop = Arc::clone(&stop);
        promlite_web::serve_with_config(
            listener,
            web.service(),
            async move { stop.notified().await },
            web_config,
            opts.max_connections,
        )
    });
    web.set_ready(true);
    info!(
        url = %format!("{scheme}://{addr}/"),
        "Server is ready to receive web requests: the UI is at {scheme}://{addr}/ and the HTTP API at {scheme}://{addr}/api/v1/"
    );
    Ok(Served {
        addr,
        web,
        stop,
        task,
        runtime: Some(runtime),
    })
}
