//! `/api/v1/write` (the remote-write receiver, behind `--web.enable-remote-write-receiver`)
//! and `/api/v1/read` (remote read), both answered by `promlite-remote`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::Web;

const DISABLED: &str =
    "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n";

fn text(status: u16, msg: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

/// The answer to a body too large to read (or unreadable): a 413 that names the limit,
/// which remote-write clients do not retry.
fn body_rejected(e: &BytesRejection, limit: usize) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        text(
            413,
            &format!("request body too large: exceeds the limit of {limit} bytes"),
        )
    } else {
        text(400, &e.body_text())
    }
}

async fn write(
    State(web): State<Web>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !web.is_ready() {
        return crate::lifecycle::unavailable();
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_rejected(&e, web.inner.remote_write.max_body_bytes),
    };
    let Some(app) = web
        .inner
        .appendable
        .clone()
        .filter(|_| web.inner.options.enable_remote_write_receiver)
    else {
        return (StatusCode::NOT_FOUND, DISABLED).into_response();
    };
    let opts = web.inner.remote_write.clone();
    let done = tokio::task::spawn_blocking(move || {
        promlite_remote::handle_write_with(&opts, &body, &headers, app.as_ref())
    })
    .await;
    match done {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => text(e.status(), &e.to_string()),
        Err(e) => text(500, &e.to_string()),
    }
}

async fn read(State(web): State<Web>, body: Result<Bytes, BytesRejection>) -> Response {
    if !web.is_ready() {
        return crate::lifecycle::unavailable();
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_rejected(&e, promlite_remote::codec::DEFAULT_MAX_BODY_BYTES),
    };
    // Past the concurrency limit a read waits for a turn, as in Prometheus.
    let _turn = match &web.inner.read_turns {
        Some(turns) => turns.acquire().await.ok(),
        None => None,
    };
    let store = std::sync::Arc::clone(&web.inner.store);
    let mut opts = web.inner.remote_read.clone();
    opts.external_labels = web
        .inner
        .control
        .as_ref()
        .map_or_else(promlite_model::Labels::empty, |c| c.external_labels());
    let done = tokio::task::spawn_blocking(move || {
        promlite_remote::handle_read_with(&opts, &body, store.as_ref())
    })
    .await;
    match done {
        Ok(Ok(reply)) => {
            let mut r = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, reply.content_type)],
                reply.body,
            )
                .into_response();
            if let Some(enc) = reply.content_encoding {
                r.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static(enc),
                );
            }
            r
        }
        Ok(Err(e)) => text(e.status(), &e.to_string()),
        Err(e) => text(500, &e.to_string()),
    }
}

/// The remote-write and remote-read routes. Their answers carry no CORS headers, as in
/// Prometheus, but a preflight is answered as for the rest of the API.
pub(crate) fn routes(web: Web) -> Router {
    // Bodies up to the receiver's own limit on a decoded request (32 MiB by default, as
    // Prometheus) reach it; axum's default of 2 MiB would refuse large batches.
    let write_limit = web.inner.remote_write.max_body_bytes;
    Router::new()
        .route(
            "/api/v1/write",
            post(write)
                .layer(DefaultBodyLimit::max(write_limit))
                .options(crate::cors::preflight),
        )
        .route(
            "/api/v1/read",
            post(read)
                .layer(DefaultBodyLimit::max(
                    promlite_remote::codec::DEFAULT_MAX_BODY_BYTES,
                ))
                .options(crate::cors::preflight),
        )
        .with_state(web)
}
