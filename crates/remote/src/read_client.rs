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

use crate::codec::{
    DEFAULT_MAX_BODY_BYTES, HistogramSample, histogram_from_proto, matcher_to_proto,
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
        })
    }

    /// This server's external labels: with `filter_external_labels` (the default) they
    /// are sent as equality matchers and removed from the returned series, as
    /// Prometheus does.
    pub fn with_external_labels(mut self, labels: Labels) -> Self {
        self.external_labels = labels;
        self
    }

    /// How `read_recent: false` learns what local storage covers: a callback returning
    /// the oldest local timestamp. Ranges from there on are not read remotely. Without
    /// a callback every range is read.
    pub fn with_local_start_time(mut self, f: LocalStartTime) -> Self {
        self.local_start = Some(f);
        self
    }

    /// Sends one query and decodes the series it returns.
    fn read(&self, query: prompb::Query) -> Result<Vec<prompb::TimeSeries>, RemoteError> {
        let req = prompb::ReadRequest {
            queries: vec![query],
            accepted_response_types: vec![prompb::ResponseType::Samples as i32],
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
            Ok::<_, RemoteError>(resp.bytes().await?)
        };
        let rt = &self.runtime;
        let bytes = std::thread::scope(|s| {
            s.spawn(|| rt.block_on(send))
                .join()
                .unwrap_or_else(|_| Err(RemoteError::Config("remote read thread panicked".into())))
        })?;
        let raw = snappy_decompress(&bytes, DEFAULT_MAX_BODY_BYTES * 4)?;
        let mut resp = prompb::ReadResponse::decode(raw.as_slice())?;
        Ok(resp.results.pop().map(|r| r.timeseries).unwrap_or_default())
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
        for ts in q.read(query)? {
            let mut b = promlite_model::LabelsBuilder::new();
            for l in &ts.labels {
                if !l.value.is_empty() && !added.contains(&l.name) {
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
            out.push(SampleSeries::new(b.build(), samples));
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
