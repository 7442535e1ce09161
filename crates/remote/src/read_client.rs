//! The remote-read client: a [`Queryable`] that answers selections by sending a
//! `ReadRequest` (SAMPLES) to a `remote_read` endpoint, ready to be merged with local
//! storage through `promlite_storage::MergeQueryable`.

use std::sync::Arc;

use promlite_config::RemoteReadConfig;
use promlite_model::{Labels, MatchType, Matcher};
use promlite_storage::{
    ListSeriesSet, Querier, Queryable, Sample, SampleSeries, SampleValue, SelectHints, Series,
    SeriesSet,
};
use prost::Message;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};

use promlite_tsdb::chunkenc::{HistogramIter, XorIter};

use crate::codec::{
    DEFAULT_MAX_BODY_BYTES, HistogramSample, histogram_from_proto, matcher_to_proto, read_frame,
    snappy_compress, snappy_decompress,
};
use crate::endpoint::{Endpoint, error_for_status};
use crate::{RemoteError, prompb};

/// Callback giving the oldest timestamp local storage holds (see
/// [`RemoteReadQueryable::with_local_start_time`]).
pub type LocalStartTime = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A `remote_read` endpoint as a [`Queryable`].
///
/// Requests run on the tokio runtime given at construction, from a short-lived thread,
/// so `select` may be called from any synchronous context (PromQL runs on tokio's
/// blocking pool) without blocking a runtime worker.
///
/// ```no_run
/// # fn run(cfg: &promlite_config::RemoteReadConfig, local: std::sync::Arc<dyn promlite_storage::Queryable>) -> Result<(), promlite_remote::RemoteError> {
/// use std::sync::Arc;
/// use promlite_remote::RemoteReadQueryable;
/// use promlite_storage::MergeQueryable;
///
/// let remote = RemoteReadQueryable::new(cfg, tokio::runtime::Handle::current())?;
/// // Local storage is primary (its errors fail a query); remote stores only warn.
/// let all = MergeQueryable::new(local, vec![Arc::new(remote) as Arc<dyn promlite_storage::Queryable>]);
/// # let _ = all; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteReadQueryable {
    endpoint: Endpoint,
    required: Vec<(String, String)>,
    read_recent: bool,
    filter_external_labels: bool,
    external_labels: Labels,
    local_start: Option<LocalStartTime>,
    runtime: tokio::runtime::Handle,
    streamed: bool,
}

impl std::fmt::Debug for RemoteReadQueryable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteReadQueryable")
            .field("url", &self.endpoint.url)
            .finish_non_exhaustive()
    }
}

impl RemoteReadQueryable {
    /// A client for `cfg`, sending its requests on `runtime`.
    pub fn new(
        cfg: &RemoteReadConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<RemoteReadQueryable, RemoteError> {
        Ok(RemoteReadQueryable {
            endpoint: Endpoint::new(
                &cfg.url,
                cfg.remote_timeout.as_std(),
                &cfg.headers,
                &cfg.http_client_config,
            )?,
            required: cfg
                .required_matchers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            read_recent: cfg.read_recent,
            filter_external_labels: cfg.filter_external_labels,
            external_labels: Labels::empty(),
            local_start: None,
            runtime,
            streamed: false,
        })
    }

    /// This server's external labels: with `filter_external_labels` (the default) they
    /// are sent as equality matchers and removed from the returned series, as
    /// Prometheus does.
    pub fn with_external_labels(mut self, labels: Labels) -> Self {
        self.external_labels = labels;
        self
    }

    /// Also accept STREAMED_XOR_CHUNKS responses (preferred when the server offers them,
    /// as Prometheus and Thanos do); off by default, like Prometheus's own client.
    pub fn with_streamed_chunks(mut self, on: bool) -> Self {
        self.streamed = on;
        self
    }

    /// How `read_recent: false` learns what local storage covers: a callback returning
    /// the oldest local timestamp. Ranges from there on are not read remotely. Without
    /// a callback every range is read.
    pub fn with_local_start_time(mut self, f: LocalStartTime) -> Self {
        self.local_start = Some(f);
        self
    }

    /// Sends one query and decodes the series it returns, from whichever response type
    /// the server chose.
    fn read(&self, query: prompb::Query) -> Result<Vec<SampleSeries>, RemoteError> {
        let (mint, maxt) = (query.start_timestamp_ms, query.end_timestamp_ms);
        let accepted = if self.streamed {
            vec![
                prompb::ResponseType::StreamedXorChunks as i32,
                prompb::ResponseType::Samples as i32,
            ]
        } else {
            vec![prompb::ResponseType::Samples as i32]
        };
        let req = prompb::ReadRequest {
            queries: vec![query],
            accepted_response_types: accepted,
        };
        let body = snappy_compress(&req.encode_to_vec());
        let send = async {
            let resp = self
                .endpoint
                .post()?
                .header(CONTENT_ENCODING, "snappy")
                .header(CONTENT_TYPE, "application/x-protobuf")
                .header("X-Prometheus-Remote-Read-Version", "0.1.0")
                .body(body)
                .send()
                .await?;
            let resp = error_for_status(resp).await?;
            let streamed = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-streamed-protobuf"));
            Ok::<_, RemoteError>((streamed, resp.bytes().await?))
        };
        let rt = &self.runtime;
        let (streamed, bytes) = std::thread::scope(|s| {
            s.spawn(|| rt.block_on(send))
                .join()
                .unwrap_or_else(|_| Err(RemoteError::Config("remote read thread panicked".into())))
        })?;
        if streamed {
            return decode_chunked_response(&bytes, mint, maxt);
        }
        let raw = snappy_decompress(&bytes, DEFAULT_MAX_BODY_BYTES * 4)?;
        let mut resp = prompb::ReadResponse::decode(raw.as_slice())?;
        resp.results
            .pop()
            .map(|r| r.timeseries)
            .unwrap_or_default()
            .iter()
            .map(series_from_proto)
            .collect()
    }
}

impl Queryable for RemoteReadQueryable {
    fn querier(&self, mint: i64, maxt: i64) -> promlite_storage::Result<Box<dyn Querier + '_>> {
        let mut maxt = maxt;
        if !self.read_recent
            && let Some(local) = &self.local_start
        {
            let start = local();
            if mint > start {
                return Ok(Box::new(RemoteQuerier {
                    q: self,
                    mint,
                    maxt,
                    empty: true,
                }));
            }
            maxt = maxt.min(start);
        }
        Ok(Box::new(RemoteQuerier {
            q: self,
            mint,
            maxt,
            empty: false,
        }))
    }
}

struct RemoteQuerier<'a> {
    q: &'a RemoteReadQueryable,
    mint: i64,
    maxt: i64,
    empty: bool,
}

/// A selection that failed: yields its error once.
struct ErrorSet<'q>(
    Option<promlite_storage::Error>,
    std::marker::PhantomData<&'q ()>,
);

impl<'q> Iterator for ErrorSet<'q> {
    type Item = promlite_storage::Result<Box<dyn Series + 'q>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.take().map(Err)
    }
}

impl<'q> SeriesSet<'q> for ErrorSet<'q> {}

impl RemoteQuerier<'_> {
    fn select_series(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Result<Vec<SampleSeries>, RemoteError> {
        let q = self.q;
        // Prometheus's required_matchers: only queries carrying every one of them as an
        // equality matcher go to this endpoint.
        let has = |n: &str, v: &str| {
            matchers
                .iter()
                .any(|m| m.match_type() == MatchType::Equal && m.name() == n && m.value() == v)
        };
        if self.empty || !q.required.iter().all(|(n, v)| has(n, v)) {
            return Ok(Vec::new());
        }
        let mut wire: Vec<prompb::LabelMatcher> = matchers.iter().map(matcher_to_proto).collect();
        let mut added = Vec::new();
        if q.filter_external_labels {
            for l in &q.external_labels {
                if !matchers.iter().any(|m| m.name() == l.name) {
                    wire.push(matcher_to_proto(&Matcher::equal(l.name, l.value)));
                    added.push(l.name.to_owned());
                }
            }
        }
        let query = prompb::Query {
            start_timestamp_ms: self.mint,
            end_timestamp_ms: self.maxt,
            matchers: wire,
            hints: hints.map(|h| prompb::ReadHints {
                step_ms: h.step,
                func: h.func.clone().unwrap_or_default(),
                start_ms: h.start,
                end_ms: h.end,
                grouping: Vec::new(),
                by: false,
                range_ms: h.range,
            }),
        };
        let mut out = Vec::new();
        for series in q.read(query)? {
            let labels = series
                .labels()
                .retain(|l| !added.iter().any(|a| a == l.name));
            let samples = promlite_storage::collect_samples(&series);
            out.push(SampleSeries::new(labels, samples));
        }
        if sorted {
            out.sort_by(|a, b| a.labels().cmp(b.labels()));
        }
        Ok(out)
    }
}

impl Querier for RemoteQuerier<'_> {
    fn select<'q>(
        &'q self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'q> + 'q> {
        match self.select_series(sorted, hints, matchers) {
            Ok(series) => Box::new(ListSeriesSet::new(series)),
            Err(e) => Box::new(ErrorSet(
                Some(promlite_storage::Error::Other(Box::new(e))),
                std::marker::PhantomData,
            )),
        }
    }

    /// Remote read has no label-values call; like Prometheus's remote querier this
    /// store contributes no values (the local store answers).
    fn label_values(
        &self,
        _name: &str,
        _hints: Option<&promlite_storage::LabelHints>,
        _matchers: &[Matcher],
    ) -> promlite_storage::Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// As [`label_values`](Self::label_values): no names from the remote side.
    fn label_names(
        &self,
        _hints: Option<&promlite_storage::LabelHints>,
        _matchers: &[Matcher],
    ) -> promlite_storage::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// A `TimeSeries` of a SAMPLES response as a series (floats and histograms merged in
/// time order; empty label values dropped).
fn series_from_proto(ts: &prompb::TimeSeries) -> Result<SampleSeries, RemoteError> {
    let mut b = promlite_model::LabelsBuilder::new();
    for l in &ts.labels {
        if !l.value.is_empty() {
            b.set(&l.name, &l.value);
        }
    }
    let mut samples: Vec<Sample> = ts
        .samples
        .iter()
        .map(|s| Sample::float(s.timestamp, s.value))
        .collect();
    for h in &ts.histograms {
        let v = match histogram_from_proto(h)? {
            HistogramSample::Int(h) => SampleValue::Histogram(Arc::new(h)),
            HistogramSample::Float(h) => SampleValue::FloatHistogram(Arc::new(h)),
        };
        samples.push(Sample::new(h.timestamp, v));
    }
    samples.sort_by_key(|s| s.t);
    samples.dedup_by_key(|s| s.t);
    Ok(SampleSeries::new(b.build(), samples))
}

/// Decodes a STREAMED_XOR_CHUNKS body (CRC-checked frames of `ChunkedReadResponse`)
/// into series with samples in `[mint, maxt]`. A series continued over several frames
/// is joined; XOR, histogram and float-histogram chunks are read with tsdb's decoders.
pub fn decode_chunked_response(
    body: &[u8],
    mint: i64,
    maxt: i64,
) -> Result<Vec<SampleSeries>, RemoteError> {
    let corrupt = |_| RemoteError::InvalidRequest("corrupt chunk in streamed response".into());
    let mut out: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (frame, r) = read_frame(rest, DEFAULT_MAX_BODY_BYTES)?;
        rest = r;
        let resp = prompb::ChunkedReadResponse::decode(frame)?;
        for cs in resp.chunked_series {
            let mut b = promlite_model::LabelsBuilder::new();
            for l in &cs.labels {
                if !l.value.is_empty() {
                    b.set(&l.name, &l.value);
                }
            }
            let labels = b.build();
            if out.last().is_none_or(|(l, _)| *l != labels) {
                out.push((labels, Vec::new()));
            }
            let Some((_, samples)) = out.last_mut() else {
                continue;
            };
            for c in &cs.chunks {
                let mut push = |s: Sample| {
                    if s.t >= mint && s.t <= maxt {
                        samples.push(s);
                    }
                };
                match prompb::ChunkEncoding::try_from(c.r#type) {
                    Ok(prompb::ChunkEncoding::Xor) => {
                        let mut it = XorIter::new(&c.data).map_err(corrupt)?;
                        while it.next_sample().map_err(corrupt)? {
                            let (t, v) = it.at();
                            push(Sample::float(t, v));
                        }
                    }
                    Ok(prompb::ChunkEncoding::Histogram) => {
                        let mut it = HistogramIter::new(&c.data, false).map_err(corrupt)?;
                        while it.next_sample().map_err(corrupt)? {
                            let h = Arc::new(it.at_histogram().clone());
                            push(Sample::new(it.t(), SampleValue::Histogram(h)));
                        }
                    }
                    Ok(prompb::ChunkEncoding::FloatHistogram) => {
                        let mut it = HistogramIter::new(&c.data, true).map_err(corrupt)?;
                        while it.next_sample().map_err(corrupt)? {
                            let h = Arc::new(it.at_float_histogram().clone());
                            push(Sample::new(it.t(), SampleValue::FloatHistogram(h)));
                        }
                    }
                    _ => {
                        return Err(RemoteError::InvalidRequest(format!(
                            "unsupported chunk encoding {} in streamed response",
                            c.r#type
                        )));
                    }
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(labels, mut samples)| {
            // Chunks may overlap: keep time order and one sample per timestamp.
            samples.sort_by_key(|s| s.t);
            samples.dedup_by_key(|s| s.t);
            SampleSeries::new(labels, samples)
        })
        .collect())
}
