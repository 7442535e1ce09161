//! The HTTP API v1 handlers: queries, series and label metadata, targets, status and
//! admin, each answering in Prometheus's JSON envelope.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use promlite_model::Matcher;
use promlite_promql::{CancelToken, DurationValue, Engine, Expr, QueryResult, Value};
use promlite_storage::Queryable;

use crate::Web;
use crate::cors;
use crate::error::{ApiError, ErrorType};
use crate::json::{
    format_float, result_type, write_labels, write_str, write_str_array, write_value,
};
use crate::params::{
    Form, MAX_TIME, MIN_TIME, ZERO_TIME, format_rfc3339, limit_param, now_ms, parse_duration,
    parse_time, time_param,
};

/// A successful answer: the `data` JSON (absent: 204 No Content, as Prometheus answers
/// endpoints with nothing to say) and the annotations.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// JSON text (UTF-8).
    data: Option<Vec<u8>>,
    warnings: Vec<String>,
    infos: Vec<String>,
    /// `data` already begins with the envelope's `{"status":"success","data":` (large
    /// query answers, which are then not copied again).
    in_envelope: bool,
}

const ENVELOPE: &str = "{\"status\":\"success\",\"data\":";

impl Reply {
    fn data(json: String) -> Reply {
        Reply {
            data: Some(json.into_bytes()),
            ..Reply::default()
        }
    }
}

type ApiResult = Result<Reply, ApiError>;

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    const JSON: HeaderValue = HeaderValue::from_static("application/json");
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, JSON);
    resp
}

/// Prometheus's `Response` envelope, fields in its order.
fn respond(r: ApiResult) -> Response {
    match r {
        Ok(Reply {
            data: None,
            warnings,
            infos,
            ..
        }) if warnings.is_empty() && infos.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(reply) => {
            let data = reply.data.unwrap_or_else(|| b"null".to_vec());
            let mut out = if reply.in_envelope {
                data
            } else {
                let mut out = Vec::with_capacity(data.len() + 64);
                out.extend_from_slice(ENVELOPE.as_bytes());
                out.extend_from_slice(&data);
                out
            };
            // Most answers carry no annotations: then the envelope closes without a
            // scratch string.
            if !reply.warnings.is_empty() || !reply.infos.is_empty() {
                let mut tail = String::new();
                if !reply.warnings.is_empty() {
                    tail.push_str(",\"warnings\":");
                    write_str_array(&mut tail, &reply.warnings);
                }
                if !reply.infos.is_empty() {
                    tail.push_str(",\"infos\":");
                    write_str_array(&mut tail, &reply.infos);
                }
                out.extend_from_slice(tail.as_bytes());
            }
            out.push(b'}');
            json_response(StatusCode::OK, out)
        }
        Err(e) => {
            let mut out = String::from("{\"status\":\"error\",\"errorType\":");
            write_str(&mut out, e.type_str());
            out.push_str(",\"error\":");
            write_str(&mut out, &e.message);
            out.push('}');
            json_response(e.status(), out.into_bytes())
        }
    }
}

/// Checks readiness, reads the form (URL query plus an urlencoded body), runs `f`.
///
/// The request is taken whole rather than through separate extractors, which copy its
/// query and headers and read its body whatever it holds: the body is read only when it
/// is a form, as Go's `ParseForm` reads it.
async fn handle<F, Fut>(web: Web, req: Request, f: F) -> Response
where
    F: FnOnce(Web, Form) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    match prelude(web, req) {
        Prelude::Answer(resp) => resp,
        Prelude::Ready(web, form, cors) => answer(f(web, form), cors).await,
        Prelude::Body(web, req) => with_body(web, req, f).await,
    }
}

/// [`handle`] for a request whose body is a form, still to be read.
async fn with_body<F, Fut>(web: Web, req: Request, f: F) -> Response
where
    F: FnOnce(Web, Form) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_FORM_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let mut resp = body_rejected(&*e);
            cors::apply(&web, &parts.headers, &mut resp);
            return resp;
        }
    };
    let form = Form::parse(parts.uri.query(), Some(&body));
    let cors = origin(&web, &parts.headers);
    drop(parts);
    answer(f(web, form), cors).await
}

/// What an API request comes to before its handler runs, without waiting for anything.
enum Prelude {
    /// Answered already (the server is not ready).
    Answer(Response),
    /// The form, and the origin to answer with CORS headers.
    Ready(Web, Form, Option<(Web, HeaderValue)>),
    /// The body is a form still to be read.
    Body(Web, Request),
}

fn prelude(web: Web, req: Request) -> Prelude {
    if !web.is_ready() {
        return Prelude::Answer(crate::lifecycle::unavailable());
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        return Prelude::Body(web, req);
    }
    let form = Form::parse(req.uri().query(), None);
    let cors = origin(&web, req.headers());
    Prelude::Ready(web, form, cors)
}

/// The origin of a request that names one, whose answer then carries the CORS headers:
/// only that is kept across the evaluation, not the request's head.
fn origin(web: &Web, headers: &axum::http::HeaderMap) -> Option<(Web, HeaderValue)> {
    headers
        .get(header::ORIGIN)
        .map(|o| (web.clone(), o.clone()))
}

/// The response to the handler's reply, with CORS headers for `cors`.
async fn answer(
    reply: impl Future<Output = ApiResult>,
    cors: Option<(Web, HeaderValue)>,
) -> Response {
    match (Answer { reply, cors }).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// An endpoint's answer for the server's front (see `WebService`): a request without a
/// form body is taken apart before the future is made, so that the future holds only
/// the handler's state and the origin, not the request's head, and fits the
/// allocator's per-thread caches (async wrappers would each keep a second copy of the
/// handler's future).
fn direct<F, Fut>(web: Web, req: Request, f: F) -> crate::ServiceFuture
where
    F: FnOnce(Web, Form) -> Fut + Send + 'static,
    Fut: Future<Output = ApiResult> + Send + 'static,
{
    match prelude(web, req) {
        Prelude::Answer(resp) => Box::pin(std::future::ready(Ok(resp))),
        Prelude::Ready(web, form, cors) => Box::pin(Answer {
            reply: f(web, form),
            cors,
        }),
        Prelude::Body(web, req) => Box::pin(async move { Ok(with_body(web, req, f).await) }),
    }
}

pin_project_lite::pin_project! {
    /// The response to a handler's reply, with CORS headers for `cors`, as a future
    /// that holds the reply's future in place (the one place that builds it).
    struct Answer<Fut> {
        #[pin]
        reply: Fut,
        cors: Option<(Web, HeaderValue)>,
    }
}

impl<Fut: Future<Output = ApiResult>> Future for Answer<Fut> {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let std::task::Poll::Ready(reply) = this.reply.poll(cx) else {
            return std::task::Poll::Pending;
        };
        let mut resp = respond(reply);
        if let Some((web, origin)) = this.cors.take() {
            cors::apply_origin(&web, &origin, &mut resp);
        }
        std::task::Poll::Ready(Ok(resp))
    }
}

/// The largest request body the API reads: Go's limit on a parsed form (10 MiB), which
/// is what bounds Prometheus's API.
pub(crate) const MAX_FORM_BYTES: usize = 10 << 20;

/// The answer to a body the API could not read: Prometheus's error when Go refuses an
/// oversized form, or the reason the body could not be read.
fn body_rejected(e: &(dyn std::error::Error + 'static)) -> Response {
    let msg = if e.is::<LengthLimitError>() {
        "error parsing form values: http: POST too large".to_string()
    } else {
        format!("error parsing form values: {e}")
    };
    respond(Err(ApiError::bad_data(msg)))
}

macro_rules! endpoint {
    ($handler:ident, $f:path) => {
        async fn $handler(State(web): State<Web>, req: Request) -> Response {
            handle(web, req, $f).await
        }
    };
}

endpoint!(query_h, query);
endpoint!(query_range_h, query_range);

/// The query endpoints, for the server's front (`WebService`), which reaches them
/// without the router.
pub(crate) fn query_direct(web: Web, req: Request) -> crate::ServiceFuture {
    direct(web, req, query)
}

/// See [`query_direct`].
pub(crate) fn query_range_direct(web: Web, req: Request) -> crate::ServiceFuture {
    direct(web, req, query_range)
}
endpoint!(series_h, series);
endpoint!(labels_h, label_names);
endpoint!(targets_h, targets);
endpoint!(buildinfo_h, buildinfo);
endpoint!(flags_h, flags);
endpoint!(config_h, config);
endpoint!(runtimeinfo_h, runtimeinfo);
endpoint!(format_query_h, format_query);
endpoint!(delete_series_h, delete_series);
endpoint!(snapshot_h, snapshot);
endpoint!(clean_tombstones_h, clean_tombstones);
endpoint!(metadata_h, metadata);
endpoint!(tsdb_status_h, tsdb_status);
endpoint!(rules_h, rules);
endpoint!(parse_query_h, parse_query);
endpoint!(target_metadata_h, target_metadata);
endpoint!(relabel_steps_h, relabel_steps);
endpoint!(query_exemplars_h, query_exemplars);
endpoint!(walreplay_h, walreplay);
endpoint!(alerts_h, alerts);
endpoint!(alertmanagers_h, alertmanagers);

async fn label_values_h(
    State(web): State<Web>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    handle(web, req, |web, form| label_values(web, form, name)).await
}

/// The API routes. Each also answers a CORS preflight (`OPTIONS`; see `cors.rs`).
pub(crate) fn routes(web: Web) -> Router {
    let endpoints: [(&str, MethodRouter<Web>); 24] = [
        ("/api/v1/query", get(query_h).post(query_h)),
        (
            "/api/v1/query_range",
            get(query_range_h).post(query_range_h),
        ),
        ("/api/v1/series", get(series_h).post(series_h)),
        ("/api/v1/labels", get(labels_h).post(labels_h)),
        ("/api/v1/label/{name}/values", get(label_values_h)),
        ("/api/v1/targets", get(targets_h)),
        ("/api/v1/metadata", get(metadata_h)),
        ("/api/v1/status/buildinfo", get(buildinfo_h)),
        ("/api/v1/status/flags", get(flags_h)),
        ("/api/v1/status/config", get(config_h)),
        ("/api/v1/status/runtimeinfo", get(runtimeinfo_h)),
        ("/api/v1/status/tsdb", get(tsdb_status_h)),
        ("/api/v1/rules", get(rules_h)),
        (
            "/api/v1/parse_query",
            get(parse_query_h).post(parse_query_h),
        ),
        ("/api/v1/alerts", get(alerts_h)),
        ("/api/v1/targets/metadata", get(target_metadata_h)),
        ("/api/v1/targets/relabel_steps", get(relabel_steps_h)),
        (
            "/api/v1/query_exemplars",
            get(query_exemplars_h).post(query_exemplars_h),
        ),
        ("/api/v1/status/walreplay", get(walreplay_h)),
        ("/api/v1/alertmanagers", get(alertmanagers_h)),
        (
            "/api/v1/format_query",
            get(format_query_h).post(format_query_h),
        ),
        (
            "/api/v1/admin/tsdb/delete_series",
            post(delete_series_h).put(delete_series_h),
        ),
        (
            "/api/v1/admin/tsdb/snapshot",
            post(snapshot_h).put(snapshot_h),
        ),
        (
            "/api/v1/admin/tsdb/clean_tombstones",
            post(clean_tombstones_h).put(clean_tombstones_h),
        ),
    ];
    endpoints
        .into_iter()
        .fold(Router::new(), |r, (path, methods)| {
            r.route(path, methods.options(cors::preflight))
        })
        .with_state(web)
}

/// Cancels a query when its request is dropped, i.e. when the client went away.
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs blocking storage or evaluation work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))
}

/// Runs a query's evaluation on the request's own thread when that leaves another
/// thread of a multi-threaded runtime free, and on the blocking pool otherwise (see the
/// crate's documentation): most queries take less than the two thread wake-ups of a
/// hand-off.
async fn evaluate<T: Send + 'static>(
    web: &Web,
    timeout: Option<Duration>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    // A turn is nearly always free at once; the wait (a timer and a semaphore's queue
    // entry) is boxed so that it does not enlarge every query's future past what the
    // allocator keeps in its per-thread caches.
    let _turn = match &web.inner.query_turns {
        Some(turns) => Some(match turns.try_acquire() {
            Ok(turn) => turn,
            Err(_) => Box::pin(wait_for_turn(turns, timeout)).await?,
        }),
        None => None,
    };
    match InPlace::admit(&web.inner.inline_evals) {
        Some(_slot) => Ok(f()),
        None => blocking(f).await,
    }
}

/// A turn to evaluate a query among `--query.max-concurrency`, waited for at most
/// `timeout`, as Prometheus's query queue: past it, the query fails as timed out "in
/// query queue".
async fn wait_for_turn(
    turns: &tokio::sync::Semaphore,
    timeout: Option<Duration>,
) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    let closed = |_| ApiError::new(ErrorType::Internal, "query queue closed");
    match timeout {
        Some(t) => match tokio::time::timeout(t, turns.acquire()).await {
            Ok(turn) => turn.map_err(closed),
            Err(_) => Err(ApiError::from_eval(&promlite_promql::EvalError::Timeout(
                "query queue",
            ))),
        },
        None => turns.acquire().await.map_err(closed),
    }
}

/// One of the evaluations running on the web runtime's own threads; it counts in its
/// counter while it lives: the server's, or its lane's on a lane's thread (see
/// `lanes.rs`).
struct InPlace<'a>(Counter<'a>);

enum Counter<'a> {
    Server(&'a AtomicUsize),
    Lane(Arc<AtomicUsize>),
}

impl Counter<'_> {
    fn get(&self) -> &AtomicUsize {
        match self {
            Counter::Server(c) => c,
            Counter::Lane(c) => c,
        }
    }
}

impl<'a> InPlace<'a> {
    /// A slot when fewer than the runtime's threads less one are taken.
    fn admit(server: &'a AtomicUsize) -> Option<InPlace<'a>> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        let spare = handle.metrics().num_workers().saturating_sub(1);
        let count = match crate::lanes::in_place_count() {
            Some(lane) => Counter::Lane(lane),
            None => Counter::Server(server),
        };
        count
            .get()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < spare).then_some(n + 1)
            })
            .ok()?;
        Some(InPlace(count))
    }
}

impl Drop for InPlace<'_> {
    fn drop(&mut self) {
        self.0.get().fetch_sub(1, Ordering::AcqRel);
    }
}

/// The engine for one request: the server's, with the request's `timeout` (never
/// longer than the server's) and `lookback_delta` applied; and that timeout.
fn request_engine(web: &Web, form: &Form) -> Result<(Engine, Option<Duration>), ApiError> {
    let mut opts = web.inner.options.engine.clone();
    let mut changed = false;
    let mut timeout = web.inner.options.query_timeout;
    let to = form.value("timeout");
    if !to.is_empty() {
        let ns = parse_duration(to).map_err(|e| ApiError::invalid_param(e, "timeout"))?;
        let d = Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
        let d = match web.inner.options.query_timeout {
            Some(max) => d.min(max),
            None => d,
        };
        opts = opts.timeout(Some(d));
        timeout = Some(d);
        changed = true;
    }
    let lb = form.value("lookback_delta");
    if !lb.is_empty() {
        let ns = parse_duration(lb).map_err(|e| {
            ApiError::bad_data(format!("error parsing lookback delta duration: {e}"))
        })?;
        // Zero means "the engine's default", as in Prometheus's query options.
        if ns > 0 {
            opts = opts.lookback_delta((ns / 1_000_000) as i64);
            changed = true;
        }
    }
    let engine = if changed {
        Engine::new(opts)
    } else {
        web.inner.engine.clone()
    };
    Ok((engine, timeout))
}

/// About the size of a query answer's JSON, so that its buffer is allocated once rather
/// than grown by doubling (megabytes for range queries): per point a timestamp and a
/// value of about 30 bytes, per series its labels and the keys.
fn reply_size_hint(v: &Value) -> usize {
    let n = match v {
        Value::Matrix(m) => series_size_hint(m),
        Value::Vector(v) => v.iter().map(|s| labels_size_hint(&s.metric) + 40).sum(),
        _ => 64,
    };
    n + 256
}

/// About the bytes of a point `[1700000000,"12.3456789"],`, rounded up.
pub(crate) const POINT_SIZE_HINT: usize = 40;

/// About the size of matrix series' JSON (see [`reply_size_hint`]).
pub(crate) fn series_size_hint(m: &[promlite_promql::Series]) -> usize {
    m.iter()
        .map(|s| {
            labels_size_hint(&s.metric) + POINT_SIZE_HINT * (s.floats.len() + s.histograms.len())
        })
        .sum()
}

fn labels_size_hint(metric: &promlite_model::Labels) -> usize {
    48 + metric
        .iter()
        .map(|l| l.name.len() + l.value.len() + 6)
        .sum::<usize>()
}

/// `{"resultType":…,"result":…}` with the limit applied and annotations rendered.
/// What a query's `stats` parameter asks for: statistics whenever it is not empty
/// (`Some` of when the handler took the request, where its queue time starts), and
/// per-step counts for `stats=all` (which the engine gives only on a server started with
/// `--enable-feature=promql-per-step-stats`), as in Prometheus.
fn stats_param(form: &Form) -> (Option<Instant>, bool) {
    let v = form.value("stats");
    ((!v.is_empty()).then(Instant::now), v == "all")
}

fn query_reply(
    r: QueryResult,
    limit: usize,
    query: &str,
    // When the request was taken and when its evaluation started.
    stats: Option<(Instant, Instant)>,
) -> Reply {
    // Taken before the answer is written: Prometheus's execution times end with the
    // evaluation.
    let timings = stats.map(|(began, started)| crate::json::StatsTimings {
        engine: r.stats.timings,
        exec_queue: started.saturating_duration_since(began),
        exec_total: began.elapsed(),
    });
    let (mut warnings, infos) = r.annotations.as_strings(query);
    let mut value = r.value;
    if limit > 0 {
        let truncated = match &mut value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push("results truncated due to limit".to_string());
        }
    }
    let mut out = Vec::with_capacity(reply_size_hint(&value));
    out.extend_from_slice(ENVELOPE.as_bytes());
    out.extend_from_slice(b"{\"resultType\":\"");
    out.extend_from_slice(result_type(&value).as_bytes());
    out.extend_from_slice(b"\",\"result\":");
    write_value(&mut out, &value);
    if let Some(timings) = timings {
        crate::json::write_query_stats(&mut out, &r.stats, &timings);
    }
    out.push(b'}');
    Reply {
        data: Some(out),
        warnings,
        infos,
        in_envelope: true,
    }
}

async fn query(web: Web, form: Form) -> ApiResult {
    let limit = limit_param(&form)?;
    let ts = time_param(&form, "time", now_ms())?;
    let (engine, timeout) = request_engine(&web, &form)?;
    let text = form.value("query").to_string();
    let token = CancelToken::new();
    let _guard = CancelOnDrop(token.clone());
    let store = Arc::clone(&web.inner.store);
    let (stats, per_step) = stats_param(&form);
    // The answer is written on the evaluating thread too: it is CPU work of the size
    // of the evaluation for large answers.
    let res = evaluate(&web, timeout, move || {
        let started = Instant::now();
        engine
            .with_cancel(token)
            .per_step_stats(per_step)
            .instant_query(&*store, &text, ts)
            .map(|r| query_reply(r, limit, &text, stats.map(|s| (s, started))))
    })
    .await?;
    res.map_err(|e| ApiError::from_eval(&e))
}

async fn query_range(web: Web, form: Form) -> ApiResult {
    let limit = limit_param(&form)?;
    let start = parse_time(form.value("start")).map_err(|e| ApiError::invalid_param(e, "start"))?;
    let end = parse_time(form.value("end")).map_err(|e| ApiError::invalid_param(e, "end"))?;
    if end < start {
        return Err(ApiError::invalid_param(
            "end timestamp must not be before start time",
            "end",
        ));
    }
    let step =
        parse_duration(form.value("step")).map_err(|e| ApiError::invalid_param(e, "step"))?;
    if step <= 0 {
        return Err(ApiError::invalid_param(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
            "step",
        ));
    }
    // Prometheus divides durations in nanoseconds: `end.Sub(start)/step > 11000`.
    if i128::from(end - start) * 1_000_000 / step > 11_000 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let step_ms = (step / 1_000_000) as i64;
    let (engine, timeout) = request_engine(&web, &form)?;
    let text = form.value("query").to_string();
    let token = CancelToken::new();
    let _guard = CancelOnDrop(token.clone());
    let store = Arc::clone(&web.inner.store);
    let (stats, per_step) = stats_param(&form);
    // The answer is written on the evaluating thread too: a range answer's JSON can take
    // as long as its evaluation.
    let res = evaluate(&web, timeout, move || {
        let started = Instant::now();
        engine
            .with_cancel(token)
            .per_step_stats(per_step)
            .range_query(&*store, &text, start, end, step_ms)
            .map(|r| query_reply(r, limit, &text, stats.map(|s| (s, started))))
    })
    .await?;
    res.map_err(|e| ApiError::from_eval(&e))
}

const NON_EMPTY: &str = "match[] must contain at least one non-empty matcher";

/// Parses `match[]` selectors as Prometheus's `parseMatchersParam`: each must be a plain
/// metric selector and hold a matcher that does not match the empty string.
///
/// promql's parser type-checks, so a selector whose matchers all match empty fails
/// there with "vector selector must contain at least one non-empty matcher"; Prometheus
/// parses it and rejects it afterwards with its API message, which is given here too.
pub(crate) fn parse_selectors(inputs: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::with_capacity(inputs.len());
    for s in inputs {
        let matchers = match promlite_promql::parse(s) {
            Ok(Expr::VectorSelector(vs))
                if vs.at.is_none() && vs.offset == DurationValue::Fixed(0) =>
            {
                vs.matchers
            }
            Ok(other) => {
                let pos = other.span();
                return Err(format!(
                    "1:{}: parse error: expected a metric selector, got {}",
                    pos.start + 1,
                    go_type_name(&other)
                ));
            }
            Err(e) if e.message().contains("at least one non-empty matcher") => {
                return Err(NON_EMPTY.to_string());
            }
            Err(e) => return Err(e.to_string()),
        };
        if matchers.iter().all(Matcher::matches_empty) {
            return Err(NON_EMPTY.to_string());
        }
        sets.push(matchers);
    }
    Ok(sets)
}

fn go_type_name(e: &Expr) -> &'static str {
    match e {
        Expr::MatrixSelector(_) => "range vector selector",
        Expr::Number(_) => "number",
        Expr::String(_) => "string",
        Expr::Call(_) => "function call",
        Expr::Aggregate(_) => "aggregation",
        Expr::Binary(_) => "binary expression",
        _ => "expression",
    }
}

fn exec_err(e: &promlite_storage::Error) -> ApiError {
    ApiError::new(ErrorType::Execution, e.to_string())
}

async fn series(web: Web, form: Form) -> ApiResult {
    let inputs = form.values("match[]");
    if inputs.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let limit = limit_param(&form)?;
    let start = time_param(&form, "start", MIN_TIME)?;
    let end = time_param(&form, "end", MAX_TIME)?;
    let sets = parse_selectors(&inputs).map_err(|e| ApiError::invalid_param(e, "match[]"))?;
    let store = Arc::clone(&web.inner.store);
    blocking(move || {
        let q = store
            .querier(start, end)
            .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        let mut all = Vec::new();
        for ms in &sets {
            for s in q.select(true, None, ms) {
                let s = s.map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
                all.push(s.labels().clone());
            }
        }
        if sets.len() > 1 {
            all.sort();
            all.dedup();
        }
        let mut warnings = Vec::new();
        if limit > 0 && all.len() > limit {
            all.truncate(limit);
            warnings.push("results truncated due to limit".to_string());
        }
        let mut out = String::from("[");
        for (i, l) in all.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_labels(&mut out, l);
        }
        out.push(']');
        Ok(Reply {
            data: Some(out.into_bytes()),
            warnings,
            infos: Vec::new(),
            in_envelope: false,
        })
    })
    .await?
}

/// Runs `f` for every matcher set (once with no matchers when there are none) and
/// returns the sorted union, as the labels endpoints merge several `match[]`.
fn union_of(
    sets: &[Vec<Matcher>],
    mut f: impl FnMut(&[Matcher]) -> Result<Vec<String>, promlite_storage::Error>,
) -> Result<Vec<String>, ApiError> {
    let mut all = Vec::new();
    if sets.is_empty() {
        all = f(&[]).map_err(|e| exec_err(&e))?;
    } else {
        for ms in sets {
            all.extend(f(ms).map_err(|e| exec_err(&e))?);
        }
    }
    all.sort();
    all.dedup();
    Ok(all)
}

fn string_list_reply(mut items: Vec<String>, limit: usize) -> Reply {
    let mut warnings = Vec::new();
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    let mut out = String::new();
    write_str_array(&mut out, &items);
    Reply {
        data: Some(out.into_bytes()),
        warnings,
        infos: Vec::new(),
        in_envelope: false,
    }
}

async fn label_names(web: Web, form: Form) -> ApiResult {
    let limit = limit_param(&form)?;
    let start = time_param(&form, "start", MIN_TIME)?;
    let end = time_param(&form, "end", MAX_TIME)?;
    let sets = parse_selectors(&form.values("match[]")).map_err(ApiError::bad_data)?;
    let store = Arc::clone(&web.inner.store);
    blocking(move || {
        let q = store.querier(start, end).map_err(|e| exec_err(&e))?;
        let names = union_of(&sets, |ms| q.label_names(None, ms))?;
        Ok(string_list_reply(names, limit))
    })
    .await?
}

async fn label_values(web: Web, form: Form, name: String) -> ApiResult {
    if name.is_empty() {
        return Err(ApiError::bad_data(format!(
            "invalid label name: {}",
            promlite_model::go_quote(&name)
        )));
    }
    let limit = limit_param(&form)?;
    let start = time_param(&form, "start", MIN_TIME)?;
    let end = time_param(&form, "end", MAX_TIME)?;
    let sets = parse_selectors(&form.values("match[]")).map_err(ApiError::bad_data)?;
    let store: Arc<dyn Queryable> = Arc::clone(&web.inner.store);
    blocking(move || {
        let q = store.querier(start, end).map_err(|e| exec_err(&e))?;
        let values = union_of(&sets, |ms| q.label_values(&name, None, ms))?;
        Ok(string_list_reply(values, limit))
    })
    .await?
}

async fn targets(web: Web, form: Form) -> ApiResult {
    let pool_filter = form.value("scrapePool").to_string();
    let state = form.value("state").to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let mut out = String::from("{\"activeTargets\":[");
    let Some(src) = &web.inner.targets else {
        out.push_str("],\"droppedTargets\":[],\"droppedTargetCounts\":{}}");
        return Ok(Reply::data(out));
    };
    if show_active {
        let mut first = true;
        for (pool, ts) in src.active_targets() {
            if !pool_filter.is_empty() && pool != pool_filter {
                continue;
            }
            for t in ts {
                if !first {
                    out.push(',');
                }
                first = false;
                let st = t.state();
                out.push_str("{\"discoveredLabels\":");
                write_labels(&mut out, t.discovered_labels());
                out.push_str(",\"labels\":");
                write_labels(&mut out, &t.labels());
                out.push_str(",\"scrapePool\":");
                write_str(&mut out, &pool);
                out.push_str(",\"scrapeUrl\":");
                write_str(&mut out, t.url());
                out.push_str(",\"globalUrl\":");
                write_str(&mut out, t.url());
                out.push_str(",\"lastError\":");
                write_str(&mut out, st.last_error.as_deref().unwrap_or(""));
                out.push_str(",\"lastScrape\":");
                let last = st.last_scrape.map(format_rfc3339);
                write_str(&mut out, last.as_deref().unwrap_or(ZERO_TIME));
                out.push_str(",\"lastScrapeDuration\":");
                format_float(&mut out, st.last_duration.as_secs_f64());
                out.push_str(",\"health\":");
                write_str(&mut out, st.health.as_str());
                let internal = t.labels_with_internal();
                out.push_str(",\"scrapeInterval\":");
                write_str(
                    &mut out,
                    internal
                        .get(promlite_scrape::SCRAPE_INTERVAL_LABEL)
                        .unwrap_or(""),
                );
                out.push_str(",\"scrapeTimeout\":");
                write_str(
                    &mut out,
                    internal
                        .get(promlite_scrape::SCRAPE_TIMEOUT_LABEL)
                        .unwrap_or(""),
                );
                out.push('}');
            }
        }
    }
    out.push_str("],\"droppedTargets\":[");
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    if show_dropped {
        let mut first = true;
        for d in src.dropped_targets() {
            *counts.entry(d.job.clone()).or_default() += 1;
            if !pool_filter.is_empty() && d.job != pool_filter {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str("{\"discoveredLabels\":");
            write_labels(&mut out, &d.discovered_labels);
            out.push_str(",\"scrapePool\":");
            write_str(&mut out, &d.job);
            out.push('}');
        }
    }
    out.push(']');
    if show_dropped {
        // Every pool has a count, zero included, as Prometheus reports them.
        for pool in src.active_targets().into_keys() {
            counts.entry(pool).or_default();
        }
        out.push_str(",\"droppedTargetCounts\":{");
        for (i, (pool, n)) in counts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(&mut out, pool);
            let _ = write!(out, ":{n}");
        }
        out.push('}');
    } else {
        out.push_str(",\"droppedTargetCounts\":null");
    }
    out.push('}');
    Ok(Reply::data(out))
}

fn object(out: &mut String, fields: &[(&str, &str)]) {
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

#[allow(clippy::unused_async)]
async fn buildinfo(web: Web, _form: Form) -> ApiResult {
    let b = &web.inner.options.build_info;
    let mut out = String::new();
    object(
        &mut out,
        &[
            ("version", &b.version),
            ("revision", &b.revision),
            ("branch", &b.branch),
            ("buildUser", &b.build_user),
            ("buildDate", &b.build_date),
            ("goVersion", &b.toolchain),
        ],
    );
    Ok(Reply::data(out))
}

/// `/api/v1/targets/metadata`: the metric metadata each active target's scrapes
/// reported, filtered by `match_target` (a label selector on the target's labels) and
/// `metric`, at most `limit` entries.
#[allow(clippy::unused_async)]
async fn target_metadata(web: Web, form: Form) -> ApiResult {
    let limit = match form.value("limit") {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(n) => usize::try_from(n).ok(),
            Err(_) => return Err(ApiError::bad_data("limit must be a number")),
        },
    };
    let match_target = form.value("match_target");
    let matchers = if match_target.is_empty() {
        Vec::new()
    } else {
        promlite_promql::parse_metric_selector(match_target)
            .map_err(|e| ApiError::invalid_param(e, "match_target"))?
    };
    let metric = form.value("metric");
    let mut out = String::from("[");
    let mut n = 0usize;
    let targets = web
        .inner
        .targets
        .as_ref()
        .map(|t| t.active_targets())
        .unwrap_or_default();
    // As in Prometheus, the limit is checked per target: a target's entries come whole.
    for t in targets.values().flatten() {
        if limit.is_some_and(|l| n >= l) {
            break;
        }
        let labels = t.labels();
        if !matchers
            .iter()
            .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
        {
            continue;
        }
        let entries: Vec<(String, promlite_model::Metadata)> = if metric.is_empty() {
            t.metadata()
        } else {
            t.metadata_for(metric)
                .map(|m| (String::new(), m))
                .into_iter()
                .collect()
        };
        for (family, m) in entries {
            if n > 0 {
                out.push(',');
            }
            n += 1;
            out.push_str("{\"target\":");
            write_labels(&mut out, &labels);
            if !family.is_empty() {
                out.push_str(",\"metric\":");
                write_str(&mut out, &family);
            }
            out.push(',');
            write_metadata_fields(&mut out, &m);
            out.push('}');
        }
    }
    out.push(']');
    Ok(Reply::data(out))
}

/// `"type":…,"help":…,"unit":…` of one metric family's metadata.
fn write_metadata_fields(out: &mut String, m: &promlite_model::Metadata) {
    out.push_str("\"type\":");
    write_str(out, m.metric_type.as_str());
    out.push_str(",\"help\":");
    write_str(out, &m.help);
    out.push_str(",\"unit\":");
    write_str(out, &m.unit);
}

/// `/api/v1/targets/relabel_steps`: each of a job's relabel rules with the labels the
/// chain has made of `labels` (a JSON object of discovered labels) by then, and whether
/// the target is still kept — why a target is missing, step by step.
#[allow(clippy::unused_async)]
async fn relabel_steps(web: Web, form: Form) -> ApiResult {
    let pool = form.value("scrapePool");
    if pool.is_empty() {
        return Err(ApiError::bad_data("no scrapePool parameter provided"));
    }
    let raw = form.value("labels");
    if raw.is_empty() {
        return Err(ApiError::bad_data("no labels parameter provided"));
    }
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_data(format!("error parsing labels: {e}")))?;
    let labels = promlite_model::Labels::from_pairs(map);
    let steps = web
        .inner
        .targets
        .as_ref()
        .ok_or_else(|| format!("scrape pool {pool:?} not found"))
        .and_then(|t| t.relabel_steps(pool, &labels))
        .map_err(|e| ApiError::bad_data(format!("error retrieving scrape config: {e}")))?;
    let mut out = String::from("{\"steps\":[");
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let r = &step.rule;
        out.push_str("{\"rule\":{");
        // Go's relabel.Config JSON: camelCase names, empty fields omitted.
        let quoted = |value: &str| {
            let mut v = String::new();
            write_str(&mut v, value);
            v
        };
        let mut fields: Vec<(&str, String)> = Vec::new();
        if !r.source_labels().is_empty() {
            let mut v = String::new();
            crate::json::write_str_array(&mut v, r.source_labels());
            fields.push(("sourceLabels", v));
        }
        for (name, value) in [("separator", r.separator()), ("regex", r.regex().as_str())] {
            if !value.is_empty() {
                fields.push((name, quoted(value)));
            }
        }
        if r.modulus() != 0 {
            fields.push(("modulus", r.modulus().to_string()));
        }
        for (name, value) in [
            ("targetLabel", r.target_label()),
            ("replacement", r.replacement()),
            ("action", r.action().as_str()),
        ] {
            if !value.is_empty() {
                fields.push((name, quoted(value)));
            }
        }
        for (k, (name, v)) in fields.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            write_str(&mut out, name);
            out.push(':');
            out.push_str(v);
        }
        out.push_str("},\"output\":");
        write_labels(&mut out, &step.output);
        let _ = write!(out, ",\"keep\":{}}}", step.keep);
    }
    out.push_str("]}");
    Ok(Reply::data(out))
}

/// `/api/v1/rules`: rule groups with their rules' state, filtered by `type`,
/// `rule_name[]`, `rule_group[]`, `file[]`, `match[]` and `exclude_alerts`, paginated by
/// `group_limit`/`group_next_token`, as in Prometheus.
#[allow(clippy::unused_async)]
async fn rules(web: Web, form: Form) -> ApiResult {
    use crate::rules::RuleFilter;
    let set = |name: &str| form.values(name).iter().map(|s| (*s).to_owned()).collect();
    let typ = form.value("type").to_ascii_lowercase();
    let alerting_only = match typ.as_str() {
        "" => None,
        "alert" => Some(true),
        "record" => Some(false),
        _ => {
            return Err(ApiError::invalid_param(
                format!("not supported value {}", promlite_model::go_quote(&typ)),
                "type",
            ));
        }
    };
    let exclude_alerts = match form.value("exclude_alerts").to_ascii_lowercase().as_str() {
        "" => false,
        v => parse_go_bool(v).ok_or_else(|| {
            ApiError::invalid_param(
                format!(
                    "error converting exclude_alerts: strconv.ParseBool: parsing {}: invalid syntax",
                    promlite_model::go_quote(v)
                ),
                "exclude_alerts",
            )
        })?,
    };
    let next_token = form.value("group_next_token").to_owned();
    let limit = form.value("group_limit");
    if !next_token.is_empty() && limit.is_empty() {
        return Err(ApiError::invalid_param(
            "group_limit needs to be present in order to paginate over the groups",
            "group_next_token",
        ));
    }
    let group_limit = if limit.is_empty() {
        0
    } else {
        match limit.parse::<i32>() {
            Ok(n) if n > 0 => n as usize,
            Ok(_) => {
                return Err(ApiError::invalid_param(
                    "group_limit needs to be greater than 0",
                    "group_limit",
                ));
            }
            Err(_) => {
                return Err(ApiError::invalid_param(
                    format!(
                        "group_limit needs to be a valid number: strconv.ParseInt: parsing {}: invalid syntax",
                        promlite_model::go_quote(limit)
                    ),
                    "group_limit",
                ));
            }
        }
    };
    let matchers = parse_selectors(&form.values("match[]")).map_err(ApiError::bad_data)?;
    let filter = RuleFilter {
        alerting_only,
        rule_names: set("rule_name[]"),
        group_names: set("rule_group[]"),
        files: set("file[]"),
        matchers,
        exclude_alerts,
        group_limit,
        next_token,
    };
    Ok(Reply::data(crate::rules::rules_json(
        &rule_groups(&web),
        &filter,
    )?))
}

/// The rule source's groups (none without one).
fn rule_groups(web: &Web) -> Vec<crate::rules::RuleGroupStatus> {
    web.inner
        .rules
        .as_ref()
        .map(|r| r.rule_groups())
        .unwrap_or_default()
}

/// `/api/v1/alerts`: the active alerts of every alerting rule.
#[allow(clippy::unused_async)]
async fn alerts(web: Web, _form: Form) -> ApiResult {
    Ok(Reply::data(crate::rules::alerts_json(&rule_groups(&web))))
}

/// `/api/v1/alertmanagers`: where alerts go.
#[allow(clippy::unused_async)]
async fn alertmanagers(web: Web, _form: Form) -> ApiResult {
    let status = web
        .inner
        .rules
        .as_ref()
        .map(|r| r.alertmanagers())
        .unwrap_or_default();
    Ok(Reply::data(crate::rules::alertmanagers_json(&status)))
}

/// `/api/v1/metadata`: per metric name, the distinct (type, help, unit) recorded by
/// scrapes; `metric` selects one name, `limit` caps the names and `limit_per_metric`
/// the entries per name, as in Prometheus.
#[allow(clippy::unused_async)]
async fn metadata(web: Web, form: Form) -> ApiResult {
    let parse_limit = |name: &str| -> Result<usize, ApiError> {
        let v = form.value(name);
        if v.is_empty() {
            return Ok(0);
        }
        match v.parse::<i64>() {
            Ok(n) => Ok(usize::try_from(n).unwrap_or(0)),
            Err(_) => Err(ApiError::bad_data(format!("{name} must be a number"))),
        }
    };
    let limit = parse_limit("limit")?;
    let per_metric = parse_limit("limit_per_metric")?;
    let only = form.value("metric");
    let all = web
        .inner
        .admin
        .as_ref()
        .map(|a| a.metadata())
        .unwrap_or_default();
    let mut out = String::from("{");
    let mut names = 0;
    let mut i = 0;
    while i < all.len() {
        let name = &all[i].0;
        let group: Vec<&promlite_model::Metadata> = all[i..]
            .iter()
            .take_while(|(n, _)| n == name)
            .map(|(_, m)| m)
            .collect();
        i += group.len();
        if !only.is_empty() && name != only {
            continue;
        }
        if limit > 0 && names == limit {
            break;
        }
        if names > 0 {
            out.push(',');
        }
        names += 1;
        write_str(&mut out, name);
        out.push_str(":[");
        for (k, m) in group.iter().enumerate() {
            if per_metric > 0 && k == per_metric {
                break;
            }
            if k > 0 {
                out.push(',');
            }
            out.push('{');
            write_metadata_fields(&mut out, m);
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
    Ok(Reply::data(out))
}

#[allow(clippy::unused_async)]
async fn flags(web: Web, _form: Form) -> ApiResult {
    let fields: Vec<(&str, &str)> = web
        .inner
        .options
        .flags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut out = String::new();
    object(&mut out, &fields);
    Ok(Reply::data(out))
}

#[allow(clippy::unused_async)]
async fn config(web: Web, _form: Form) -> ApiResult {
    let yaml = web
        .inner
        .control
        .as_ref()
        .map(|c| c.config_yaml())
        .unwrap_or_default();
    let mut out = String::new();
    object(&mut out, &[("yaml", &yaml)]);
    Ok(Reply::data(out))
}

#[allow(clippy::unused_async)]
async fn runtimeinfo(web: Web, _form: Form) -> ApiResult {
    let o = &web.inner.options;
    let (ok, last) = web
        .inner
        .control
        .as_ref()
        .map_or((true, None), |c| c.reload_status());
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let procs = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut out = String::from("{\"startTime\":");
    write_str(&mut out, &format_rfc3339(o.start_time));
    out.push_str(",\"CWD\":");
    write_str(&mut out, &cwd);
    let _ = write!(out, ",\"reloadConfigSuccess\":{ok},\"lastConfigTime\":");
    write_str(
        &mut out,
        &last.map_or_else(|| ZERO_TIME.to_string(), format_rfc3339),
    );
    let _ = write!(
        out,
        ",\"corruptionCount\":0,\"goroutineCount\":{tasks},\"GOMAXPROCS\":{procs},\"GOMEMLIMIT\":0,\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":"
    );
    write_str(&mut out, &o.storage_retention);
    out.push('}');
    Ok(Reply::data(out))
}

/// The `query` parameter, parsed with the server's parser options; each endpoint wraps
/// the error as Prometheus does for it.
fn query_param(
    web: &Web,
    form: &Form,
) -> Result<promlite_promql::Expr, promlite_promql::EvalError> {
    web.inner.engine.parse(form.value("query"))
}

#[allow(clippy::unused_async)]
async fn format_query(web: Web, form: Form) -> ApiResult {
    let expr = query_param(&web, &form).map_err(|e| ApiError::invalid_param(e, "query"))?;
    let mut out = String::new();
    write_str(&mut out, &expr.to_string());
    Ok(Reply::data(out))
}

/// `/api/v1/parse_query`: the query's syntax tree, as Prometheus's UI tree view reads it.
#[allow(clippy::unused_async)]
async fn parse_query(web: Web, form: Form) -> ApiResult {
    let expr = query_param(&web, &form).map_err(|e| ApiError::invalid_param(e, "query"))?;
    Ok(Reply::data(crate::ast_json::translate(&expr)))
}

/// `/api/v1/query_exemplars`: the exemplars of the series the query's selectors match,
/// in `[start, end]` (default: all time); nothing (204) for a query without selectors.
async fn query_exemplars(web: Web, form: Form) -> ApiResult {
    let start = time_param(&form, "start", MIN_TIME)?;
    let end = time_param(&form, "end", MAX_TIME)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let expr = query_param(&web, &form).map_err(|e| ApiError::bad_data(e.to_string()))?;
    let selectors: Vec<Vec<Matcher>> = expr
        .selectors()
        .into_iter()
        .map(|vs| vs.matchers.clone())
        .collect();
    if selectors.is_empty() {
        return Ok(Reply::default());
    }
    let admin = web.inner.admin.clone();
    blocking(move || {
        let found = admin
            .map(|a| a.exemplars(start, end, &selectors))
            .unwrap_or_default();
        let mut out = String::from("[");
        for (i, (series, exemplars)) in found.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"seriesLabels\":");
            write_labels(&mut out, series);
            out.push_str(",\"exemplars\":[");
            for (k, e) in exemplars.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                out.push_str("{\"labels\":");
                write_labels(&mut out, &e.labels);
                out.push_str(",\"value\":\"");
                format_float(&mut out, e.value);
                out.push_str("\",\"timestamp\":");
                crate::json::write_timestamp(&mut out, e.timestamp.unwrap_or(0));
                out.push('}');
            }
            out.push_str("]}");
        }
        out.push(']');
        Ok(Reply::data(out))
    })
    .await?
}

/// `/api/v1/status/walreplay`: the WAL segments replayed at start-up.
#[allow(clippy::unused_async)]
async fn walreplay(web: Web, _form: Form) -> ApiResult {
    let s = web
        .inner
        .admin
        .as_ref()
        .map(|a| a.wal_replay())
        .unwrap_or_default();
    Ok(Reply::data(format!(
        "{{\"min\":{},\"max\":{},\"current\":{}}}",
        s.min, s.max, s.current
    )))
}

/// `/api/v1/status/tsdb`: the head's size and its ten (or `limit`) largest cardinalities.
async fn tsdb_status(web: Web, form: Form) -> ApiResult {
    let limit = match form.value("limit") {
        "" => 10,
        v => match v.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    let admin = web.inner.admin.clone();
    blocking(move || {
        let stats = admin
            .and_then(|a| a.head_stats(limit))
            .ok_or_else(|| ApiError::new(ErrorType::Internal, "error getting head stats: no TSDB"))?;
        let mut out = String::with_capacity(1024);
        let _ = write!(
            out,
            "{{\"headStats\":{{\"numSeries\":{},\"numLabelPairs\":{},\"chunkCount\":{},\"minTime\":{},\"maxTime\":{}}}",
            stats.num_series, stats.num_label_pairs, stats.chunk_count, stats.min_time, stats.max_time
        );
        let lists = &stats.lists;
        for (key, list) in [
            ("seriesCountByMetricName", &lists.series_count_by_metric_name),
            ("labelValueCountByLabelName", &lists.label_value_count_by_label_name),
            ("memoryInBytesByLabelName", &lists.memory_in_bytes_by_label_name),
            ("seriesCountByLabelValuePair", &lists.series_count_by_label_value_pair),
        ] {
            let _ = write!(out, ",\"{key}\":[");
            for (i, (name, value)) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                write_str(&mut out, name);
                let _ = write!(out, ",\"value\":{value}}}");
            }
            out.push(']');
        }
        out.push('}');
        Ok(Reply::data(out))
    })
    .await?
}

fn admin(web: &Web) -> Result<Arc<dyn crate::TsdbAdmin>, ApiError> {
    match &web.inner.admin {
        Some(a) if web.inner.options.enable_admin_api => Ok(Arc::clone(a)),
        _ => Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled")),
    }
}

async fn delete_series(web: Web, form: Form) -> ApiResult {
    let admin = admin(&web)?;
    let inputs = form.values("match[]");
    if inputs.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = time_param(&form, "start", MIN_TIME)?;
    let end = time_param(&form, "end", MAX_TIME)?;
    let sets = parse_selectors(&inputs).map_err(|e| ApiError::invalid_param(e, "match[]"))?;
    blocking(move || {
        for ms in &sets {
            admin
                .delete(start, end, ms)
                .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        }
        Ok(Reply::default())
    })
    .await?
}

/// `/api/v1/admin/tsdb/clean_tombstones`: 204 once the blocks are rewritten.
async fn clean_tombstones(web: Web, _form: Form) -> ApiResult {
    let admin = admin(&web)?;
    blocking(move || {
        admin
            .clean_tombstones()
            .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        Ok(Reply::default())
    })
    .await?
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

async fn snapshot(web: Web, form: Form) -> ApiResult {
    let admin = admin(&web)?;
    let skip = form.value("skip_head");
    let skip_head = if skip.is_empty() {
        false
    } else {
        parse_go_bool(skip).ok_or_else(|| {
            ApiError::invalid_param(
                format!(
                    "unable to parse boolean: strconv.ParseBool: parsing {}: invalid syntax",
                    promlite_model::go_quote(skip)
                ),
                "skip_head",
            )
        })?
    };
    // Prometheus names snapshots `20060102T150405Z0700-<16 hex digits>`.
    let stamp: String = format_rfc3339(std::time::SystemTime::now())
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect();
    let name = format!("{stamp}Z-{:016x}", crate::random_u64() >> 1);
    let dir = admin.dir().join("snapshots").join(&name);
    blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|e| {
            ApiError::new(
                ErrorType::Internal,
                format!("create snapshot directory: {e}"),
            )
        })?;
        admin
            .snapshot(&dir, !skip_head)
            .map_err(|e| ApiError::new(ErrorType::Internal, format!("create snapshot: {e}")))?;
        let mut out = String::new();
        object(&mut out, &[("name", &name)]);
        Ok(Reply::data(out))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_run_in_place_while_another_runtime_thread_stays_free() {
        let count = AtomicUsize::new(0);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .build()
            .unwrap();
        rt.block_on(async {
            let a = InPlace::admit(&count);
            let b = InPlace::admit(&count);
            assert!(a.is_some() && b.is_some());
            // A third would leave no thread free.
            assert!(InPlace::admit(&count).is_none());
            drop(a);
            assert!(InPlace::admit(&count).is_some());
        });
        assert_eq!(count.load(Ordering::Acquire), 0);
        // A current-thread runtime has no thread to spare, and outside a runtime there
        // is none.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { assert!(InPlace::admit(&count).is_none()) });
        assert!(InPlace::admit(&count).is_none());
    }

    #[tokio::test]
    async fn a_query_waits_for_a_turn_within_its_timeout() {
        let turns = tokio::sync::Semaphore::new(1);
        let first = wait_for_turn(&turns, None).await.unwrap();
        // All turns taken: a query with a timeout fails as Prometheus's does.
        let e = wait_for_turn(&turns, Some(Duration::from_millis(20)))
            .await
            .unwrap_err();
        assert_eq!(
            (e.type_str(), e.message.as_str(), e.status()),
            (
                "timeout",
                "query timed out in query queue",
                StatusCode::SERVICE_UNAVAILABLE
            )
        );
        // One without a timeout waits until a turn is free.
        let waiting = async { wait_for_turn(&turns, None).await.map(drop) };
        let freeing = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(first);
        };
        let (got, ()) = tokio::join!(waiting, freeing);
        assert!(got.is_ok());
        assert!(wait_for_turn(&turns, Some(Duration::ZERO)).await.is_ok());
    }
}

#[cfg(test)]
mod front_tests {
    use super::*;

    /// The front's answer to a query is one allocation that glibc serves from its
    /// per-thread cache (chunks up to 1,032 bytes); an async wrapper around the handler
    /// doubled it past that, to the allocator's slow paths on every request.
    #[test]
    fn query_answers_fit_the_allocators_thread_cache() {
        let web = Web::new(
            Arc::new(promlite_storage::MemStore::new()),
            crate::WebOptions::default(),
        );
        let instant = Answer {
            reply: query(web.clone(), Form::default()),
            cors: None,
        };
        let range = Answer {
            reply: query_range(web, Form::default()),
            cors: None,
        };
        for size in [
            std::mem::size_of_val(&instant),
            std::mem::size_of_val(&range),
        ] {
            assert!(size <= 1024, "{size} bytes");
        }
    }
}
