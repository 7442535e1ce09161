//! Test helpers: a loopback remote-write/remote-read server over a `MemStore` that can be
//! told to fail, configuration from YAML, and polling for eventual conditions.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use promlite_config::{Config, RemoteReadConfig, RemoteWriteConfig};
use promlite_remote::{handle_read, handle_write, prompb};
use promlite_storage::MemStore;

/// What the server answers the next requests with before behaving normally.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fail {
    /// 500.
    Status500,
    /// 429 with `Retry-After: 0`.
    Status429,
    /// 400.
    Status400,
}

/// Shared state of the loopback server.
#[derive(Default)]
pub(crate) struct Receiver {
    pub(crate) store: MemStore,
    pub(crate) requests: AtomicUsize,
    pub(crate) failures: Mutex<Vec<Fail>>,
    pub(crate) decoded: Mutex<Vec<prompb::WriteRequest>>,
    pub(crate) headers: Mutex<Vec<HeaderMap>>,
}

async fn write(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    rx.requests.fetch_add(1, Ordering::SeqCst);
    rx.headers.lock().push(headers.clone());
    let fail = {
        let mut f = rx.failures.lock();
        if f.is_empty() {
            None
        } else {
            Some(f.remove(0))
        }
    };
    match fail {
        Some(Fail::Status500) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
        }
        Some(Fail::Status429) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("Retry-After", "0")],
                "slow down",
            )
                .into_response();
        }
        Some(Fail::Status400) => return (StatusCode::BAD_REQUEST, "no").into_response(),
        None => {}
    }
    if let Ok(req) = promlite_remote::decode_write_request(&body, 1 << 26) {
        rx.decoded.lock().push(req);
    }
    match handle_write(&body, &headers, &rx.store) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.to_string(),
        )
            .into_response(),
    }
}

async fn read(State(rx): State<Arc<Receiver>>, body: Bytes) -> Response {
    let rx2 = rx.clone();
    let r = tokio::task::spawn_blocking(move || handle_read(&body, &rx2.store))
        .await
        .expect("read handler panicked");
    match r {
        Ok(reply) => {
            let mut h = HeaderMap::new();
            h.insert("Content-Type", reply.content_type.parse().unwrap());
            if let Some(enc) = reply.content_encoding {
                h.insert("Content-Encoding", enc.parse().unwrap());
            }
            (StatusCode::OK, h, reply.body).into_response()
        }
        Err(e) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.to_string(),
        )
            .into_response(),
    }
}

/// Serves `/api/v1/write` and `/api/v1/read` for `rx` on `listener`.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    rx: Arc<Receiver>,
) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new()
        .route("/api/v1/write", axum::routing::post(write))
        .route("/api/v1/read", axum::routing::post(read))
        .with_state(rx);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// A server on a fresh loopback port.
pub(crate) async fn start() -> (Arc<Receiver>, String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let rx = Arc::new(Receiver::default());
    let h = serve(listener, rx.clone());
    (rx, format!("http://{addr}"), h)
}

/// The `remote_write` entries of a `prometheus.yml` text.
pub(crate) fn remote_write(yaml: &str) -> Vec<RemoteWriteConfig> {
    Config::from_yaml(yaml, Path::new("test.yml"))
        .expect("test config")
        .remote_write
}

/// The `remote_read` entries of a `prometheus.yml` text.
pub(crate) fn remote_read(yaml: &str) -> Vec<RemoteReadConfig> {
    Config::from_yaml(yaml, Path::new("test.yml"))
        .expect("test config")
        .remote_read
}

/// Polls `f` until it holds, failing with `what` after a generous two minutes (a bound
/// against hangs, not a timing assertion).
pub(crate) async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition never held: {what}");
}
