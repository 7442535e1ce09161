//! The [`Discoverer`] trait, its update channel, and the periodic-refresh loop shared by
//! the HTTP and DNS mechanisms.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Error, TargetGroup};

/// What a discoverer sends: the groups that changed, or an error it met.
///
/// An error never withdraws targets: what a discoverer sent before stays in force until
/// it sends a replacement, as in Prometheus.
pub type Update = Result<Vec<TargetGroup>, Error>;

/// A boxed, sendable future, the return type of [`Discoverer::run`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A source of target groups: Prometheus's `discovery.Discoverer`.
///
/// `run` sends [`Update`]s on `updates` until the receiver is dropped, then returns.
/// The first update should come as soon as the discoverer knows anything. A group with a
/// source already sent replaces it; an empty group withdraws it. A discoverer with
/// nothing more to say (static targets) may return early; its groups stay.
///
/// The trait is object-safe so that the [`Manager`](crate::Manager) can hold providers of
/// every mechanism side by side.
pub trait Discoverer: Send + 'static {
    /// Runs the discoverer until `updates` is closed.
    fn run(self: Box<Self>, updates: mpsc::Sender<Update>) -> BoxFuture<()>;
}

/// The updates of one discoverer as an async stream, running it on the current tokio
/// runtime. Dropping the stream stops the discoverer.
///
/// ```
/// use promlite_discovery::{Discoverer, StaticDiscoverer, TargetGroupSpec, UpdateStream};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let spec = TargetGroupSpec { targets: vec!["localhost:9090".into()], ..Default::default() };
/// let mut stream = UpdateStream::spawn(Box::new(StaticDiscoverer::new(&[spec])));
/// let groups = stream.recv().await.unwrap().unwrap();
/// assert_eq!(groups[0].source, "0");
/// # });
/// ```
#[derive(Debug)]
pub struct UpdateStream {
    rx: mpsc::Receiver<Update>,
    task: JoinHandle<()>,
}

impl UpdateStream {
    /// Spawns `discoverer` and returns its updates.
    pub fn spawn(discoverer: Box<dyn Discoverer>) -> UpdateStream {
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(discoverer.run(tx));
        UpdateStream { rx, task }
    }

    /// The next update, or `None` once the discoverer has finished.
    pub async fn recv(&mut self) -> Option<Update> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for UpdateStream {
    type Item = Update;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Update>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for UpdateStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One refresh of a polling mechanism: Prometheus's `refresh.Discovery` callback.
pub(crate) trait Refresh: Send + 'static {
    /// Looks the targets up once. Errors are returned next to the groups found, so a
    /// mechanism with several lookups (DNS names) can report partial success.
    fn refresh(&mut self) -> impl Future<Output = Vec<Update>> + Send;
}

/// Refreshes at once, then every `interval`, until the receiver goes away.
pub(crate) async fn run_refresh<R: Refresh>(
    mut refresher: R,
    interval: Duration,
    updates: mpsc::Sender<Update>,
    mechanism: &'static str,
) {
    // A zero interval would make tokio's ticker panic (Go's too); one millisecond keeps
    // the loop valid without special-casing it.
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = updates.closed() => return,
        }
        for update in refresher.refresh().await {
            if let Err(e) = &update {
                tracing::error!(mechanism, err = %e, "Unable to refresh target groups");
            }
            if updates.send(update).await.is_err() {
                return;
            }
        }
    }
}
