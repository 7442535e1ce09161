//! The lifecycle and self-monitoring endpoints: `/-/healthy`, `/-/ready`, `/-/reload`,
//! `/-/quit` and `/metrics`, with Prometheus's plain-text answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::Web;

/// Prometheus's answer while not ready (storage opening, or shutting down).
pub(crate) fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response()
}

fn only_post() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        "Only POST or PUT requests allowed",
    )
        .into_response()
}

async fn healthy() -> &'static str {
    "Prometheus Server is Healthy.\n"
}

async fn ready(State(web): State<Web>) -> Response {
    if web.is_ready() {
        "Prometheus Server is Ready.\n".into_response()
    } else {
        unavailable()
    }
}

async fn reload(State(web): State<Web>) -> Response {
    let Some(control) = web
        .inner
        .control
        .clone()
        .filter(|_| web.inner.options.enable_lifecycle)
    else {
        return forbidden();
    };
    match control.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        // Go's http.Error appends a newline to the message.
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

async fn quit(State((web, once)): State<(Web, Arc<AtomicBool>)>) -> Response {
    let Some(control) = web
        .inner
        .control
        .clone()
        .filter(|_| web.inner.options.enable_lifecycle)
    else {
        return forbidden();
    };
    if once.swap(true, Ordering::AcqRel) {
        return "Termination already in progress.".into_response();
    }
    control.quit();
    "Requesting termination... Goodbye!".into_response()
}

async fn metrics(State(web): State<Web>) -> Response {
    let mut out = String::new();
    if let Some(m) = &web.inner.metrics {
        m.write(&mut out);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The lifecycle routes and `/metrics`.
pub(crate) fn routes(web: Web) -> Router {
    let once = Arc::new(AtomicBool::new(false));
    let quit_routes = Router::new()
        .route(
            "/-/quit",
            get(|| async { only_post() }).post(quit).put(quit),
        )
        .with_state((web.clone(), once));
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route(
            "/-/reload",
            get(|| async { only_post() }).post(reload).put(reload),
        )
        .route("/metrics", get(metrics))
        .with_state(web)
        .merge(quit_routes)
}
