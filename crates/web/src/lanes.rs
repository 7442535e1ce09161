//! Connections served on the CPU their packets arrive on (Linux, two CPUs or more).
//!
//! Each connection's requests wake the thread that serves it. A thread left to the
//! scheduler is usually woken on another CPU than its client's, which on a virtual
//! machine whose idle CPUs halt costs an interrupt to the halted CPU and a VM exit:
//! measured here, a small query took 90-130 µs that way against about 50 µs when its
//! thread happened to run on the client's CPU. So the server keeps a *lane* per CPU it
//! may run on: a small runtime whose two worker threads are pinned to that CPU. An
//! accepted connection goes to the lane of the CPU that processed its packets
//! (`SO_INCOMING_CPU`): for a client on the same machine, the CPU the client ran on;
//! for a network client, the CPU its receive queue interrupts. Its requests then wake a
//! thread on that CPU, behind the softirq that delivered them.
//!
//! One of a lane's two threads may evaluate a query in place while the other serves
//! its lane's connections; further queries go to the blocking pool, whose threads are
//! not pinned, as are the query engine's helper threads. The connection limit is
//! counted before a connection is handed to its lane.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use crate::conn::{Counted, Slots};
use crate::{Error, WebService};

/// Worker threads per lane: one may evaluate a query while the other serves.
const LANE_WORKERS: usize = 2;

/// A connection on its way to its lane: the socket, its slot and its peer.
type Handoff = (
    std::net::TcpStream,
    Option<OwnedSemaphorePermit>,
    SocketAddr,
);

/// The CPUs this process may run on, when there are at least two and they can be told.
pub(crate) fn cpus() -> Option<Vec<usize>> {
    let cpus = imp::allowed_cpus()?;
    (cpus.len() >= 2).then_some(cpus)
}

/// This thread's lane's count of evaluations in place, when it is a lane's worker.
pub(crate) fn in_place_count() -> Option<Arc<AtomicUsize>> {
    LANE.with(|l| l.borrow().clone())
}

thread_local! {
    static LANE: std::cell::RefCell<Option<Arc<AtomicUsize>>> = const { std::cell::RefCell::new(None) };
}

/// One lane, in the order of its CPU in the list served: its runtime and the sender of
/// its connections.
struct Lane {
    runtime: tokio::runtime::Runtime,
    tx: mpsc::UnboundedSender<Handoff>,
}

/// Runs the lanes' runtimes down without blocking, when the server ends (also on an
/// error or a panic): their serving has ended by then, or is cut off with them.
struct Lanes(Vec<Lane>);

impl Drop for Lanes {
    fn drop(&mut self) {
        for lane in self.0.drain(..) {
            lane.runtime.shutdown_background();
        }
    }
}

/// The lane listener: the connections the dispatcher hands to one lane.
struct LaneListener {
    rx: mpsc::UnboundedReceiver<Handoff>,
    local: SocketAddr,
}

impl axum::serve::Listener for LaneListener {
    type Io = Counted<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((tcp, slot, addr)) = self.rx.recv().await else {
                // The dispatcher has ended; the lane ends by its shutdown signal.
                return std::future::pending().await;
            };
            // Registered with this lane's reactor, so that its readiness wakes a thread
            // of this lane.
            match TcpStream::from_std(tcp) {
                Ok(io) => return (Counted::new(io, slot), addr),
                Err(e) => tracing::debug!(err = %e, "cannot move a connection to its lane"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `listener` plain (no TLS, no authentication) on a lane per CPU of `cpus`,
/// until `shutdown`; then each lane finishes its requests in flight, as
/// `axum::serve`'s graceful shutdown does.
pub(crate) async fn serve(
    listener: TcpListener,
    service: WebService,
    shutdown: impl Future<Output = ()> + Send + 'static,
    slots: Slots,
    cpus: &[usize],
) -> Result<(), Error> {
    use axum::ServiceExt as _;
    let local = listener.local_addr().map_err(Error::Serve)?;
    // Threads inherit their creator's CPU affinity: the query engine's helper threads
    // start now, from this unpinned thread, rather than from a lane's first query.
    promlite_promql::helpers::with_helpers(std::iter::empty::<fn()>(), || ());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut lanes = Lanes(Vec::with_capacity(cpus.len()));
    let mut done = Vec::with_capacity(cpus.len());
    let mut pinned = Vec::with_capacity(cpus.len());
    for &cpu in cpus {
        let (runtime, ready) = lane_runtime(cpu, cpus).map_err(Error::Serve)?;
        pinned.push(ready);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut stop = stop_rx.clone();
        let service = service.clone();
        done.push(runtime.spawn(async move {
            axum::serve(LaneListener { rx, local }, service.into_make_service())
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }));
        lanes.0.push(Lane { runtime, tx });
    }
    // The lanes' workers pin themselves as they first go idle, at once; the first
    // connections wait for that (a bound keeps a stuck lane from holding the server).
    for ready in pinned {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), ready.notified()).await;
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0usize;
    loop {
        let (conn, addr) = tokio::select! {
            c = slots.accept(&listener) => c,
            () = &mut shutdown => break,
        };
        let (io, slot) = conn.into_parts();
        let cpu = socket2::SockRef::from(&io).cpu_affinity().ok();
        let lane = lane_for(cpu, cpus, &mut next);
        match io.into_std() {
            Ok(std) => {
                let _ = lanes.0[lane].tx.send((std, slot, addr));
            }
            Err(e) => tracing::debug!(err = %e, "cannot hand a connection to its lane"),
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    for d in done {
        match d.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Serve(e)),
            Err(e) => return Err(Error::Serve(std::io::Error::other(e))),
        }
    }
    Ok(())
}

/// The lane (an index into `cpus`) for a connection whose packets `cpu` processed: that
/// CPU's lane, or, for a CPU without one (none known yet, or one this process may not
/// use), the lanes in turn (`next` counts the turns).
fn lane_for(cpu: Option<usize>, cpus: &[usize], next: &mut usize) -> usize {
    cpu.and_then(|c| cpus.iter().position(|&l| l == c))
        .unwrap_or_else(|| {
            *next = next.wrapping_add(1);
            *next % cpus.len()
        })
}

/// A lane's runtime: its worker threads pinned to `cpu` and marked as this lane's (see
/// [`in_place_count`]), and what is notified once both are. Threads inherit their
/// creator's affinity, so every thread of the runtime starts with all of `all`; the
/// workers narrow theirs when they first park (blocking threads never park), that is
/// as soon as they are idle, right after the runtime starts.
fn lane_runtime(
    cpu: usize,
    all: &[usize],
) -> std::io::Result<(tokio::runtime::Runtime, Arc<tokio::sync::Notify>)> {
    let evaluating = Arc::new(AtomicUsize::new(0));
    let pinned = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(tokio::sync::Notify::new());
    let all = all.to_vec();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(LANE_WORKERS)
        .thread_name(format!("promlite-web-cpu{cpu}"))
        .on_thread_start(move || imp::pin_to(&all))
        .on_thread_park({
            let ready = Arc::clone(&ready);
            move || {
                LANE.with(|l| {
                    let mut l = l.borrow_mut();
                    if l.is_none() {
                        imp::pin_to(&[cpu]);
                        *l = Some(Arc::clone(&evaluating));
                        if pinned.fetch_add(1, Ordering::AcqRel) + 1 == LANE_WORKERS {
                            ready.notify_one();
                        }
                    }
                });
            }
        })
        .enable_all()
        .build()?;
    Ok((runtime, ready))
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod imp {
    /// The CPUs in this thread's affinity mask.
    pub(super) fn allowed_cpus() -> Option<Vec<usize>> {
        // SAFETY: `cpu_set_t` is plain bits; a zeroed one is an empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `set` is a valid, writable mask of `size` bytes; 0 is this thread.
        if unsafe { libc::sched_getaffinity(0, size, &raw mut set) } != 0 {
            return None;
        }
        // SAFETY: every index is below `CPU_SETSIZE`, the mask's size in bits.
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
                .collect(),
        )
    }

    /// Lets this thread run on `cpus` only; on failure it keeps its affinity.
    pub(super) fn pin_to(cpus: &[usize]) {
        // SAFETY: `cpu_set_t` is plain bits; a zeroed one is an empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            // SAFETY: `cpu` is below `CPU_SETSIZE`, within the mask.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `set` is a valid mask of `size` bytes and 0 is this thread.
        if unsafe { libc::sched_setaffinity(0, size, &raw const set) } != 0 {
            tracing::debug!(?cpus, "cannot set a web thread's CPUs");
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn allowed_cpus() -> Option<Vec<usize>> {
        None
    }

    pub(super) fn pin_to(_cpus: &[usize]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// End to end on loopback: a client pinned to a CPU connects, and its requests are
    /// answered by a thread on that CPU, for each CPU in turn.
    #[cfg(target_os = "linux")]
    #[test]
    fn requests_are_served_on_their_clients_cpu() {
        use std::io::{Read, Write};
        let Some(cpus) = cpus() else {
            return;
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        #[allow(unsafe_code)]
        // SAFETY: `sched_getcpu` takes no arguments and only returns a number.
        let here = || unsafe { libc::sched_getcpu() };
        let router = axum::Router::new().route(
            "/cpu",
            axum::routing::get(move || async move { here().to_string() }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let lane_cpus = cpus.clone();
        let server = rt.spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            serve(listener, router.into(), shutdown, Slots::new(0), &lane_cpus).await
        });
        for &cpu in &cpus {
            let answered = std::thread::spawn(move || {
                imp::pin_to(&[cpu]);
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                let mut answers = Vec::new();
                for _ in 0..3 {
                    c.write_all(b"GET /cpu HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    let mut buf = [0u8; 1024];
                    let n = c.read(&mut buf).unwrap();
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    answers.push(text.rsplit("\r\n\r\n").next().unwrap_or("").to_string());
                }
                answers
            })
            .join()
            .unwrap();
            assert_eq!(answered, vec![cpu.to_string(); 3], "client on CPU {cpu}");
        }
        let _ = stop.send(());
        rt.block_on(server).unwrap().unwrap();
        rt.shutdown_background();
    }

    #[test]
    fn a_connection_goes_to_its_cpus_lane_or_the_lanes_in_turn() {
        let cpus = [0, 2, 5];
        let mut next = 0;
        assert_eq!(lane_for(Some(5), &cpus, &mut next), 2);
        assert_eq!(lane_for(Some(0), &cpus, &mut next), 0);
        let others: Vec<usize> = [None, Some(1), Some(9), None]
            .into_iter()
            .map(|c| lane_for(c, &cpus, &mut next))
            .collect();
        assert_eq!(others, [1, 2, 0, 1]);
    }

    #[test]
    fn lane_workers_are_pinned_and_marked_and_blocking_threads_are_not() {
        let Some(cpus) = cpus() else {
            return;
        };
        let cpu = cpus[1];
        let (rt, ready) = lane_runtime(cpu, &cpus).unwrap();
        let on_worker = rt.block_on(async {
            ready.notified().await;
            tokio::spawn(async { (imp::allowed_cpus(), in_place_count().is_some()) })
                .await
                .unwrap()
        });
        assert_eq!(on_worker, (Some(vec![cpu]), true));
        // Started by a pinned worker, a blocking thread gets every CPU back.
        let on_blocking = rt.block_on(async {
            tokio::spawn(async {
                tokio::task::spawn_blocking(|| (imp::allowed_cpus(), in_place_count().is_some()))
                    .await
                    .unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(on_blocking, (Some(cpus), false));
        rt.shutdown_background();
    }
}
