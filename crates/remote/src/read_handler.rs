//! The remote-read server: answers a `prometheus.ReadRequest` from any [`Queryable`],
//! as one snappy-compressed `ReadResponse` (SAMPLES) or a stream of checksummed
//! `ChunkedReadResponse` frames carrying XOR chunks (STREAMED_XOR_CHUNKS).

use promlite_model::{Labels, MatchType, Matcher};
use promlite_storage::{Queryable, SampleIterator, SelectHints, Series, ValueType};
use promlite_tsdb::chunkenc::XorChunk;
use prost::Message;

use crate::codec::{
    DEFAULT_MAX_BODY_BYTES, float_histogram_to_proto, histogram_to_proto, labels_to_proto,
    matcher_from_proto, snappy_compress, snappy_decompress, write_frame,
};
use crate::{RemoteError, prompb};

/// Content type of a SAMPLES response (and of every request).
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// Content type of a STREAMED_XOR_CHUNKS response.
pub const CONTENT_TYPE_STREAMED: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Samples per XOR chunk in streamed responses (Prometheus's head chunk size).
const SAMPLES_PER_CHUNK: usize = 120;

/// Settings of the read handler.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Largest request accepted, compressed or decompressed (32 MiB).
    pub max_body_bytes: usize,
    /// Most samples one request may return, over all its queries (Prometheus's
    /// `--storage.remote.read-sample-limit`, 5e7); 0 means no limit.
    pub sample_limit: usize,
    /// Target size of one streamed frame (`--storage.remote.read-max-bytes-in-frame`,
    /// 1 MiB).
    pub max_bytes_in_frame: usize,
    /// This server's external labels: equality matchers on them are satisfied without
    /// looking at the store, and every returned series carries them (as in Prometheus).
    pub external_labels: Labels,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            sample_limit: 50_000_000,
            max_bytes_in_frame: 1 << 20,
            external_labels: Labels::empty(),
        }
    }
}

/// A read handler's answer: send `body` with these headers and status 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReply {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The `Content-Encoding` header, if any (`snappy` for SAMPLES).
    pub content_encoding: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

/// Answers a remote-read request (snappy-compressed `ReadRequest`) from `q` with default
/// [`ReadOptions`]. On error, answer [`RemoteError::status`] with the error's text.
pub fn handle_read(body: &[u8], q: &dyn Queryable) -> Result<ReadReply, RemoteError> {
    handle_read_with(&ReadOptions::default(), body, q)
}

/// [`handle_read`] with explicit options.
pub fn handle_read_with(
    opts: &ReadOptions,
    body: &[u8],
    q: &dyn Queryable,
) -> Result<ReadReply, RemoteError> {
    if body.len() > opts.max_body_bytes {
        return Err(RemoteError::BodyTooLarge {
            size: body.len() as u64,
            limit: opts.max_body_bytes as u64,
        });
    }
    let raw = snappy_decompress(body, opts.max_body_bytes)?;
    let req = prompb::ReadRequest::decode(raw.as_slice())?;
    let mut budget = SampleBudget {
        limit: opts.sample_limit,
        used: 0,
    };
    match negotiate(&req.accepted_response_types)? {
        prompb::ResponseType::Samples => {
            let mut resp = prompb::ReadResponse::default();
            for query in &req.queries {
                let mut result = prompb::QueryResult::default();
                run_query(opts, query, q, &mut |labels, s| {
                    result
                        .timeseries
                        .push(to_timeseries(labels, s, &mut budget)?);
                    Ok(())
                })?;
                resp.results.push(result);
            }
            Ok(ReadReply {
                content_type: CONTENT_TYPE_PROTOBUF,
                content_encoding: Some("snappy"),
                body: snappy_compress(&resp.encode_to_vec()),
            })
        }
        prompb::ResponseType::StreamedXorChunks => {
            let mut out = Vec::new();
            for (i, query) in req.queries.iter().enumerate() {
                run_query(opts, query, q, &mut |labels, s| {
                    stream_series(opts, i as i64, labels, s, &mut budget, &mut out)
                })?;
            }
            Ok(ReadReply {
                content_type: CONTENT_TYPE_STREAMED,
                content_encoding: None,
                body: out,
            })
        }
    }
}

/// The first accepted response type this server speaks; none listed means SAMPLES.
fn negotiate(accepted: &[i32]) -> Result<prompb::ResponseType, RemoteError> {
    if accepted.is_empty() {
        return Ok(prompb::ResponseType::Samples);
    }
    accepted
        .iter()
        .find_map(|t| prompb::ResponseType::try_from(*t).ok())
        .ok_or_else(|| {
            RemoteError::InvalidRequest(format!(
                "server does not support any of the requested response types: {accepted:?}"
            ))
        })
}

struct SampleBudget {
    limit: usize,
    used: usize,
}

impl SampleBudget {
    fn take(&mut self) -> Result<(), RemoteError> {
        self.used += 1;
        if self.limit > 0 && self.used > self.limit {
            return Err(RemoteError::SampleLimit(self.limit));
        }
        Ok(())
    }
}

/// Selects one query's series and hands each, with its external labels added, to `f`.
fn run_query(
    opts: &ReadOptions,
    query: &prompb::Query,
    q: &dyn Queryable,
    f: &mut dyn FnMut(&Labels, &dyn Series) -> Result<(), RemoteError>,
) -> Result<(), RemoteError> {
    let mut matchers = Vec::with_capacity(query.matchers.len());
    for m in &query.matchers {
        let m = matcher_from_proto(m)?;
        // An equality matcher on an external label is answered by the label itself:
        // the stored series do not carry it.
        if m.match_type() == MatchType::Equal
            && opts.external_labels.get(m.name()).unwrap_or("") == m.value()
            && opts.external_labels.has(m.name())
        {
            continue;
        }
        matchers.push(m);
    }
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(RemoteError::InvalidMatcher(
            "a query needs at least one matcher that does not match the empty string".into(),
        ));
    }
    let hints = query.hints.as_ref().map(|h| SelectHints {
        start: h.start_ms,
        end: h.end_ms,
        step: h.step_ms,
        func: (!h.func.is_empty()).then(|| h.func.clone()),
        range: h.range_ms,
    });
    let querier = q.querier(query.start_timestamp_ms, query.end_timestamp_ms)?;
    for s in querier.select(true, hints.as_ref(), &matchers) {
        let s = s?;
        let labels = with_external_labels(s.labels(), &opts.external_labels);
        f(&labels, &*s)?;
    }
    Ok(())
}

/// `labels` plus the external labels it does not already have.
fn with_external_labels(labels: &Labels, external: &Labels) -> Labels {
    if external.is_empty() {
        return labels.clone();
    }
    let mut b = labels.to_builder();
    for l in external {
        if !labels.has(l.name) {
            b.set(l.name, l.value);
        }
    }
    b.build()
}

fn iter_error(it: &dyn SampleIterator) -> Result<(), RemoteError> {
    match it.err() {
        Some(e) => Err(RemoteError::InvalidRequest(format!(
            "reading series failed: {e}"
        ))),
        None => Ok(()),
    }
}

fn to_timeseries(
    labels: &Labels,
    s: &dyn Series,
    budget: &mut SampleBudget,
) -> Result<prompb::TimeSeries, RemoteError> {
    let mut ts = prompb::TimeSeries {
        labels: labels_to_proto(labels),
        ..Default::default()
    };
    let mut it = s.samples();
    loop {
        match it.next() {
            ValueType::None => break,
            ValueType::Float => {
                let (timestamp, value) = it.at();
                ts.samples.push(prompb::Sample { value, timestamp });
            }
            ValueType::Histogram => {
                let (t, h) = it.at_histogram();
                ts.histograms.push(histogram_to_proto(t, h));
            }
            ValueType::FloatHistogram => {
                let (t, h) = it.at_float_histogram();
                ts.histograms.push(float_histogram_to_proto(t, &h));
            }
        }
        budget.take()?;
    }
    iter_error(&*it)?;
    Ok(ts)
}

/// Encodes one series' floats as XOR chunks of up to 120 samples and writes them as one
/// or more frames of about `max_bytes_in_frame` each (a series never shares a frame, as
/// in Prometheus).
fn stream_series(
    opts: &ReadOptions,
    query_index: i64,
    labels: &Labels,
    s: &dyn Series,
    budget: &mut SampleBudget,
    out: &mut Vec<u8>,
) -> Result<(), RemoteError> {
    let proto_labels = labels_to_proto(labels);
    let mut chunks: Vec<prompb::Chunk> = Vec::new();
    let mut frame_bytes = 0usize;
    let flush = |chunks: &mut Vec<prompb::Chunk>, out: &mut Vec<u8>| {
        if chunks.is_empty() {
            return;
        }
        let frame = prompb::ChunkedReadResponse {
            chunked_series: vec![prompb::ChunkedSeries {
                labels: proto_labels.clone(),
                chunks: std::mem::take(chunks),
            }],
            query_index,
        };
        write_frame(out, &frame.encode_to_vec());
    };
    let mut cur = XorChunk::new();
    let mut mint = 0;
    let mut it = s.samples();
    loop {
        let done = match it.next() {
            ValueType::None => true,
            ValueType::Float => {
                let (t, v) = it.at();
                if cur.num_samples() == 0 {
                    mint = t;
                }
                cur.append(t, v);
                budget.take()?;
                false
            }
            ValueType::Histogram | ValueType::FloatHistogram => {
                return Err(RemoteError::InvalidRequest(format!(
                    "series {labels} holds native histograms, which promlite streams only as SAMPLES responses; request SAMPLES"
                )));
            }
        };
        if cur.num_samples() > 0 && (done || cur.num_samples() >= SAMPLES_PER_CHUNK) {
            let c = prompb::Chunk {
                min_time_ms: mint,
                max_time_ms: cur.last_t(),
                r#type: prompb::ChunkEncoding::Xor as i32,
                data: cur.bytes().to_vec(),
            };
            frame_bytes += c.data.len();
            chunks.push(c);
            cur = XorChunk::new();
            if frame_bytes >= opts.max_bytes_in_frame {
                flush(&mut chunks, out);
                frame_bytes = 0;
            }
        }
        if done {
            break;
        }
    }
    iter_error(&*it)?;
    flush(&mut chunks, out);
    Ok(())
}

/// Builds a snappy-compressed `ReadRequest` for `queries`, accepting `types` in order.
pub fn encode_read_request(queries: Vec<prompb::Query>, types: &[prompb::ResponseType]) -> Vec<u8> {
    let req = prompb::ReadRequest {
        queries,
        accepted_response_types: types.iter().map(|t| *t as i32).collect(),
    };
    snappy_compress(&req.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::matcher_to_proto;
    use promlite_storage::{
        Appendable, HistogramRef, MemStore, Sample, SeriesRef, collect_samples,
    };

    fn store() -> MemStore {
        let store = MemStore::new();
        let mut app = store.appender();
        for (job, n) in [("a", 300), ("b", 5)] {
            let ls = Labels::from_pairs([("__name__", "m"), ("job", job)]);
            for i in 0..n {
                app.append(SeriesRef::NONE, &ls, i * 1000, i as f64)
                    .unwrap();
            }
        }
        let h = promlite_model::Histogram {
            count: 1,
            positive_spans: vec![promlite_model::Span {
                offset: 0,
                length: 1,
            }],
            positive_buckets: vec![1],
            ..Default::default()
        };
        let ls = Labels::from_pairs([("__name__", "h")]);
        app.append_histogram(SeriesRef::NONE, &ls, 1000, HistogramRef::Int(&h))
            .unwrap();
        app.commit().unwrap();
        store
    }

    fn query(name: &str, start: i64, end: i64) -> prompb::Query {
        prompb::Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: vec![matcher_to_proto(&Matcher::equal("__name__", name))],
            hints: None,
        }
    }

    fn samples_response(reply: &ReadReply) -> prompb::ReadResponse {
        assert_eq!(reply.content_type, CONTENT_TYPE_PROTOBUF);
        assert_eq!(reply.content_encoding, Some("snappy"));
        let raw = snappy_decompress(&reply.body, 1 << 30).unwrap();
        prompb::ReadResponse::decode(raw.as_slice()).unwrap()
    }

    #[test]
    fn samples_response_with_histograms_and_ranges() {
        let s = store();
        let body = encode_read_request(vec![query("m", 2_000, 4_000), query("h", 0, 10_000)], &[]);
        let resp = samples_response(&handle_read(&body, &s).unwrap());
        assert_eq!(resp.results.len(), 2);
        let m = &resp.results[0].timeseries;
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].labels[1].value, "a");
        assert_eq!(
            m[0].samples.iter().map(|s| s.timestamp).collect::<Vec<_>>(),
            [2_000, 3_000, 4_000]
        );
        assert_eq!(resp.results[1].timeseries[0].histograms.len(), 1);
    }

    #[test]
    fn streamed_chunks_decode_back_to_the_samples() {
        let s = store();
        let body = encode_read_request(
            vec![query("m", 0, 1_000_000)],
            &[prompb::ResponseType::StreamedXorChunks],
        );
        let reply = handle_read(&body, &s).unwrap();
        assert_eq!(reply.content_type, CONTENT_TYPE_STREAMED);
        // Small frames, so series span several of them and are joined again.
        let small = ReadOptions {
            max_bytes_in_frame: 64,
            ..ReadOptions::default()
        };
        let many = handle_read_with(&small, &body, &s).unwrap();
        assert!(many.body.len() > reply.body.len());
        for reply in [reply, many] {
            let series = crate::decode_chunked_response(&reply.body, 0, 1_000_000).unwrap();
            let per_series: Vec<(String, Vec<Sample>)> = series
                .iter()
                .map(|s| {
                    let job = s.labels().get("job").unwrap_or_default().to_owned();
                    (job, collect_samples(s))
                })
                .collect();
            assert_eq!(per_series.len(), 2);
            assert_eq!(per_series[0].1.len(), 300);
            assert_eq!(per_series[0].1[299], Sample::float(299_000, 299.0));
            assert_eq!(per_series[1].1.len(), 5);
        }
    }
    #[test]
    fn limits_external_labels_and_bad_matchers() {
        let s = store();
        let opts = ReadOptions {
            sample_limit: 10,
            ..ReadOptions::default()
        };
        let body = encode_read_request(vec![query("m", 0, 1_000_000)], &[]);
        let err = handle_read_with(&opts, &body, &s).unwrap_err();
        assert_eq!(err.to_string(), "exceeded sample limit (10)");
        assert_eq!(err.status(), 400);

        let opts = ReadOptions {
            external_labels: Labels::from_pairs([("region", "eu")]),
            ..ReadOptions::default()
        };
        let mut q = query("m", 0, 1_000);
        q.matchers
            .push(matcher_to_proto(&Matcher::equal("region", "eu")));
        let resp = samples_response(
            &handle_read_with(&opts, &encode_read_request(vec![q], &[]), &s).unwrap(),
        );
        let ts = &resp.results[0].timeseries;
        assert_eq!(ts.len(), 2);
        assert!(
            ts[0]
                .labels
                .iter()
                .any(|l| l.name == "region" && l.value == "eu")
        );

        let mut q = query("m", 0, 1_000);
        q.matchers = vec![prompb::LabelMatcher {
            r#type: prompb::MatcherType::Re as i32,
            name: "job".into(),
            value: "(".into(),
        }];
        let err = handle_read(&encode_read_request(vec![q], &[]), &s).unwrap_err();
        assert_eq!(err.status(), 400);
        let mut q = query("m", 0, 1_000);
        q.matchers = vec![];
        assert_eq!(
            handle_read(&encode_read_request(vec![q], &[]), &s)
                .unwrap_err()
                .status(),
            400
        );
    }
}
