//! `/federate`: the newest sample of every series matching the `match[]` selectors, in
//! the text exposition format, so another Prometheus can scrape promlite as a federation
//! source. As in Prometheus, series are grouped by metric name under an `untyped` TYPE
//! line, carry their timestamps, and staleness markers are left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use promlite_model::{
    Labels, METRIC_NAME, is_stale_nan, is_valid_legacy_label_name, is_valid_legacy_metric_name,
};
use promlite_storage::ValueType;

use crate::Web;
use crate::params::{Form, now_ms};

/// How far back a series' newest sample may lie (Prometheus's default lookback).
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Text-format escaping of a label value: backslash, double quote and newline.
fn write_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_series(out: &mut String, name: &str, labels: &Labels, t: i64, v: f64) {
    let legacy = is_valid_legacy_metric_name(name);
    let mut first = true;
    if legacy {
        out.push_str(name);
    } else {
        // Prometheus 3's quoted form for a name outside the legacy character set.
        out.push_str("{\"");
        write_escaped(out, name);
        out.push('"');
        first = false;
    }
    for l in labels.iter().filter(|l| l.name != METRIC_NAME) {
        out.push(if first { '{' } else { ',' });
        first = false;
        if is_valid_legacy_label_name(l.name) {
            out.push_str(l.name);
        } else {
            out.push('"');
            write_escaped(out, l.name);
            out.push('"');
        }
        out.push_str("=\"");
        write_escaped(out, l.value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    promlite_exposition::write_go_float(out, v);
    let _ = writeln!(out, " {t}");
}

async fn federate(State(web): State<Web>, RawQuery(q): RawQuery) -> Response {
    let form = Form::parse(q.as_deref(), None);
    let sets = match crate::api::parse_selectors(&form.values("match[]")) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let store = Arc::clone(&web.inner.store);
    let now = now_ms();
    let body = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let q = store
            .querier(now - LOOKBACK_MS, now)
            .map_err(|e| e.to_string())?;
        // By metric name, then labels: the order Prometheus writes families in.
        let mut latest: BTreeMap<(String, Labels), (i64, f64)> = BTreeMap::new();
        for ms in &sets {
            for s in q.select(false, None, ms) {
                let s = s.map_err(|e| e.to_string())?;
                let mut it = s.samples();
                let mut last = None;
                loop {
                    match it.next() {
                        ValueType::None => break,
                        ValueType::Float => last = Some(it.at()),
                        // Native histograms are federated in the protobuf format only.
                        ValueType::Histogram | ValueType::FloatHistogram => {}
                    }
                }
                if let Some((t, v)) = last.filter(|(_, v)| !is_stale_nan(*v)) {
                    let name = s.labels().metric_name().unwrap_or_default().to_owned();
                    latest.insert((name, s.labels().clone()), (t, v));
                }
            }
        }
        let mut out = String::new();
        let mut family: Option<&str> = None;
        for ((name, labels), (t, v)) in &latest {
            if family != Some(name.as_str()) {
                let _ = writeln!(out, "# TYPE {name} untyped");
                family = Some(name);
            }
            write_series(&mut out, name, labels, *t, *v);
        }
        Ok(out)
    })
    .await;
    match body {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The federation route.
pub(crate) fn routes(web: Web) -> Router {
    Router::new()
        .route("/federate", get(federate))
        .with_state(web)
}
