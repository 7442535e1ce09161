//! The web UI: a few pages built into the binary (no CDN, no build step) that talk to
//! the HTTP API like any other client — Query (table and graph), Alerts (alerting rules
//! and their active alerts), Rules (groups, health, errors), Targets and Status (build,
//! runtime, flags, configuration and the TSDB head's cardinalities).
//! `/graph` is Prometheus 2's name for the query page and redirects there too.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

const QUERY: &str = include_str!("../ui/query.html");
const TARGETS: &str = include_str!("../ui/targets.html");
const STATUS: &str = include_str!("../ui/status.html");
const ALERTS: &str = include_str!("../ui/alerts.html");
const RULES: &str = include_str!("../ui/rules.html");

/// Static assets by file name, with their content types.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
    (
        "query.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/query.js"),
    ),
    (
        "targets.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/targets.js"),
    ),
    (
        "alerts.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/alerts.js"),
    ),
    (
        "rules.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/rules.js"),
    ),
];

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => ([(header::CONTENT_TYPE, *ty)], *body).into_response(),
        None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

/// A `302 Found` to `location`, as Prometheus redirects (axum's `Redirect::to` answers
/// `303 See Other`).
pub(crate) fn found(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// The UI's routes, served under `prefix` (empty, or like `/prometheus`): the pages
/// link to each other and to the API by relative URLs, so only redirects name it.
pub(crate) fn routes(prefix: &str) -> Router {
    let query = format!("{prefix}/query");
    let graph = query.clone();
    Router::new()
        .route("/", get(move || std::future::ready(found(query.clone()))))
        .route(
            "/graph",
            get(move || std::future::ready(found(graph.clone()))),
        )
        .route("/query", get(|| async { Html(QUERY) }))
        .route("/targets", get(|| async { Html(TARGETS) }))
        .route("/status", get(|| async { Html(STATUS) }))
        .route("/alerts", get(|| async { Html(ALERTS) }))
        .route("/rules", get(|| async { Html(RULES) }))
        .route("/static/{name}", get(asset))
}
