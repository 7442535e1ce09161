//! The remote-write receiver: decodes a `prometheus.WriteRequest` and appends it through
//! an [`Appendable`] in one transaction.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use promlite_model::{Labels, LabelsBuilder, ValidationScheme};
use promlite_storage::{Appendable, HistogramRef, SeriesRef};
use prost::Message;

use crate::codec::{
    DEFAULT_MAX_BODY_BYTES, HistogramSample, exemplar_labels_from_proto, histogram_from_proto,
    labels_from_proto, metadata_from_proto, snappy_decompress,
};
use crate::{RemoteError, prompb};

/// The remote-write protocol version header and the 1.0 value this receiver speaks.
pub const REMOTE_WRITE_VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";

/// Settings of the receiver.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Largest body accepted, compressed or decompressed (32 MiB, as Prometheus).
    pub max_body_bytes: usize,
    /// Which metric and label names are valid (Prometheus 3: UTF-8).
    pub validation: ValidationScheme,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            validation: ValidationScheme::Utf8,
        }
    }
}

/// What one accepted write request appended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Series in the request.
    pub series: usize,
    /// Float samples appended.
    pub samples: usize,
    /// Native-histogram samples appended.
    pub histograms: usize,
    /// Exemplars appended.
    pub exemplars: usize,
    /// Exemplars the store refused (out of order …); as in Prometheus they are counted
    /// and skipped, not an error.
    pub exemplars_dropped: usize,
    /// Series whose metadata was updated.
    pub metadata: usize,
}

/// Handles a remote-write 1.0 request with default [`WriteOptions`]. On success the
/// caller answers `204 No Content`; on error, [`RemoteError::status`] with the error's
/// text as body.
///
/// ```
/// use promlite_remote::{handle_write, prompb, encode_write_request};
/// use promlite_storage::MemStore;
///
/// let req = prompb::WriteRequest {
///     timeseries: vec![prompb::TimeSeries {
///         labels: vec![prompb::Label { name: "__name__".into(), value: "up".into() }],
///         samples: vec![prompb::Sample { value: 1.0, timestamp: 1_000 }],
///         ..Default::default()
///     }],
///     metadata: vec![],
/// };
/// let store = MemStore::new();
/// let stats = handle_write(&encode_write_request(&req), &http::HeaderMap::new(), &store).unwrap();
/// assert_eq!(stats.samples, 1);
/// ```
pub fn handle_write(
    body: &[u8],
    headers: &HeaderMap,
    app: &dyn Appendable,
) -> Result<WriteStats, RemoteError> {
    handle_write_with(&WriteOptions::default(), body, headers, app)
}

/// [`handle_write`] with explicit options.
pub fn handle_write_with(
    opts: &WriteOptions,
    body: &[u8],
    headers: &HeaderMap,
    app: &dyn Appendable,
) -> Result<WriteStats, RemoteError> {
    check_headers(headers)?;
    let req = decode_write_request(body, opts.max_body_bytes)?;
    append_request(opts, &req, app)
}

/// Checks the media type and encoding as Prometheus 3 does for 1.0 requests: a missing
/// `Content-Type` means 1.0; otherwise it must be `application/x-protobuf`, optionally
/// with `proto=prometheus.WriteRequest`. A present `Content-Encoding` must be `snappy`.
fn check_headers(headers: &HeaderMap) -> Result<(), RemoteError> {
    if let Some(ct) = headers.get(CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default();
        let mut parts = ct.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !media.eq_ignore_ascii_case("application/x-protobuf") {
            return Err(RemoteError::UnsupportedMediaType(format!(
                "unsupported content type {ct:?}, expected application/x-protobuf"
            )));
        }
        for p in parts {
            if let Some(proto) = p.strip_prefix("proto=")
                && proto != "prometheus.WriteRequest"
            {
                return Err(RemoteError::UnsupportedMediaType(format!(
                    "unsupported protobuf message {proto:?}: this receiver speaks remote write 1.0 (prometheus.WriteRequest)"
                )));
            }
        }
    }
    if let Some(enc) = headers.get(CONTENT_ENCODING)
        && !enc.as_bytes().eq_ignore_ascii_case(b"snappy")
    {
        return Err(RemoteError::UnsupportedMediaType(format!(
            "unsupported content encoding {:?}, expected snappy",
            enc.to_str().unwrap_or_default()
        )));
    }
    Ok(())
}

/// Decodes a snappy-compressed `WriteRequest`, enforcing `limit` on both sizes.
pub fn decode_write_request(
    body: &[u8],
    limit: usize,
) -> Result<prompb::WriteRequest, RemoteError> {
    if body.len() > limit {
        return Err(RemoteError::BodyTooLarge {
            size: body.len() as u64,
            limit: limit as u64,
        });
    }
    let raw = snappy_decompress(body, limit)?;
    Ok(prompb::WriteRequest::decode(raw.as_slice())?)
}

/// Encodes and snappy-compresses a `WriteRequest`, ready to send.
pub fn encode_write_request(req: &prompb::WriteRequest) -> Vec<u8> {
    crate::codec::snappy_compress(&req.encode_to_vec())
}

/// Validates every series first (so a bad label set appends nothing), then appends all
/// samples in one transaction. A sample the store rejects rolls the transaction back and
/// is returned as the error; its status is 400 for out-of-order, out-of-bounds, too-old
/// and duplicate samples, as Prometheus answers so clients do not retry them.
fn append_request(
    opts: &WriteOptions,
    req: &prompb::WriteRequest,
    app: &dyn Appendable,
) -> Result<WriteStats, RemoteError> {
    let mut b = LabelsBuilder::new();
    let labels = req
        .timeseries
        .iter()
        .map(|ts| labels_from_proto(&ts.labels, opts.validation, &mut b))
        .collect::<Result<Vec<Labels>, _>>()?;
    let mut stats = WriteStats {
        series: labels.len(),
        ..WriteStats::default()
    };
    let mut appender = app.appender();
    let mut refs = Vec::with_capacity(labels.len());
    for (ts, ls) in req.timeseries.iter().zip(&labels) {
        let mut r = SeriesRef::NONE;
        for s in &ts.samples {
            r = appender.append(r, ls, s.timestamp, s.value)?;
            stats.samples += 1;
        }
        for h in &ts.histograms {
            r = match histogram_from_proto(h)? {
                HistogramSample::Int(hi) => {
                    appender.append_histogram(r, ls, h.timestamp, HistogramRef::Int(&hi))?
                }
                HistogramSample::Float(hf) => {
                    appender.append_histogram(r, ls, h.timestamp, HistogramRef::Float(&hf))?
                }
            };
            stats.histograms += 1;
        }
        for e in &ts.exemplars {
            let ex = promlite_model::Exemplar {
                labels: exemplar_labels_from_proto(&e.labels, &mut b),
                value: e.value,
                timestamp: Some(e.timestamp),
            };
            match appender.append_exemplar(r, ls, &ex) {
                Ok(nr) => {
                    r = nr;
                    stats.exemplars += 1;
                }
                // Prometheus counts and skips exemplars the store refuses.
                Err(e) => {
                    tracing::debug!(series = %ls, error = %e, "remote write: exemplar dropped");
                    stats.exemplars_dropped += 1;
                }
            }
        }
        refs.push(r);
    }
    for m in &req.metadata {
        if m.metric_family_name.is_empty() {
            continue;
        }
        let meta = metadata_from_proto(m);
        for (ls, r) in labels.iter().zip(&refs) {
            if ls
                .metric_name()
                .is_some_and(|n| belongs_to_family(n, &m.metric_family_name))
            {
                appender.update_metadata(*r, ls, &meta)?;
                stats.metadata += 1;
            }
        }
    }
    appender.commit()?;
    Ok(stats)
}

/// Whether series `name` is part of metric family `family`: the family itself or one of
/// the suffixed series a histogram, summary or counter family exposes.
pub(crate) fn belongs_to_family(name: &str, family: &str) -> bool {
    name == family
        || name.strip_prefix(family).is_some_and(|rest| {
            matches!(
                rest,
                "_bucket" | "_sum" | "_count" | "_total" | "_created" | "_gcount" | "_gsum"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use promlite_model::{Matcher, Metadata, MetricType};
    use promlite_storage::{MemStore, Queryable, SampleValue, collect_samples};

    fn label(n: &str, v: &str) -> prompb::Label {
        prompb::Label {
            name: n.into(),
            value: v.into(),
        }
    }

    fn series(name: &str, samples: &[(i64, f64)]) -> prompb::TimeSeries {
        prompb::TimeSeries {
            labels: vec![label("__name__", name), label("job", "test")],
            samples: samples
                .iter()
                .map(|&(timestamp, value)| prompb::Sample { value, timestamp })
                .collect(),
            ..Default::default()
        }
    }

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "application/x-protobuf".parse().unwrap());
        h.insert(CONTENT_ENCODING, "snappy".parse().unwrap());
        h.insert(REMOTE_WRITE_VERSION_HEADER, "0.1.0".parse().unwrap());
        h
    }

    fn read_all(store: &MemStore, name: &str) -> Vec<promlite_storage::Sample> {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        let mut set = q.select(true, None, &[Matcher::equal("__name__", name)]);
        set.next()
            .map(|s| collect_samples(&*s.unwrap()))
            .unwrap_or_default()
    }

    #[test]
    fn appends_samples_histograms_exemplars_and_metadata() {
        let h = promlite_model::Histogram {
            count: 3,
            sum: 4.0,
            schema: 0,
            positive_spans: vec![promlite_model::Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1, 1],
            ..Default::default()
        };
        let mut hs = series("lat", &[]);
        hs.histograms
            .push(crate::codec::histogram_to_proto(1_000, &h));
        let mut req_series = series("req_total", &[(1_000, 1.0), (2_000, 2.0)]);
        req_series.exemplars.push(prompb::Exemplar {
            labels: vec![label("trace_id", "abc")],
            value: 1.0,
            timestamp: 2_000,
        });
        let req = prompb::WriteRequest {
            timeseries: vec![req_series, hs],
            metadata: vec![crate::codec::metadata_to_proto(
                "req",
                &Metadata {
                    metric_type: MetricType::Counter,
                    help: "Requests.".into(),
                    unit: String::new(),
                },
            )],
        };
        let store = MemStore::new();
        let stats = handle_write(&encode_write_request(&req), &headers(), &store).unwrap();
        assert_eq!(
            stats,
            WriteStats {
                series: 2,
                samples: 2,
                histograms: 1,
                exemplars: 1,
                exemplars_dropped: 0,
                metadata: 1,
            }
        );
        let got = read_all(&store, "req_total");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].value, SampleValue::Float(2.0));
        let got = read_all(&store, "lat");
        assert_eq!(got[0].value, SampleValue::Histogram(h.into()));
    }

    #[test]
    fn invalid_labels_append_nothing_and_answer_400() {
        let mut bad = series("b", &[(1, 1.0)]);
        bad.labels.reverse();
        let req = prompb::WriteRequest {
            timeseries: vec![series("a", &[(1, 1.0)]), bad],
            metadata: vec![],
        };
        let store = MemStore::new();
        let err = handle_write(&encode_write_request(&req), &headers(), &store).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("not sorted"), "{err}");
        assert!(read_all(&store, "a").is_empty());
    }

    #[test]
    fn out_of_order_sample_rolls_back_and_answers_400() {
        let store = MemStore::new();
        let first = prompb::WriteRequest {
            timeseries: vec![series("a", &[(2_000, 1.0)])],
            metadata: vec![],
        };
        handle_write(&encode_write_request(&first), &headers(), &store).unwrap();
        let second = prompb::WriteRequest {
            timeseries: vec![series("c", &[(5, 5.0)]), series("a", &[(1_000, 1.0)])],
            metadata: vec![],
        };
        let err = handle_write(&encode_write_request(&second), &headers(), &store).unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        assert!(read_all(&store, "c").is_empty());
    }

    #[test]
    fn bad_bodies_and_headers() {
        let store = MemStore::new();
        let err = handle_write(b"not snappy at all", &headers(), &store).unwrap_err();
        assert_eq!(err.status(), 400);
        let err = handle_write(
            &crate::codec::snappy_compress(b"\xff\xff"),
            &headers(),
            &store,
        )
        .unwrap_err();
        assert_eq!(err.status(), 400, "{err}");

        let mut h = headers();
        h.insert(CONTENT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(handle_write(b"", &h, &store).unwrap_err().status(), 415);
        let mut h = headers();
        h.insert(
            CONTENT_TYPE,
            "application/x-protobuf;proto=io.prometheus.write.v2.Request"
                .parse()
                .unwrap(),
        );
        assert_eq!(handle_write(b"", &h, &store).unwrap_err().status(), 415);

        let big = encode_write_request(&prompb::WriteRequest {
            timeseries: vec![series("a", &[(1, 1.0); 100])],
            metadata: vec![],
        });
        let opts = WriteOptions {
            max_body_bytes: 64,
            ..WriteOptions::default()
        };
        let err = handle_write_with(&opts, &big, &headers(), &store).unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn family_membership() {
        assert!(belongs_to_family("http_seconds_bucket", "http_seconds"));
        assert!(belongs_to_family("up", "up"));
        assert!(!belongs_to_family("up_other", "up"));
    }
}
