//! The remote-write receiver: decodes a `prometheus.WriteRequest` and appends it through
//! an [`Appendable`] in one transaction.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use promlite_model::{Labels, LabelsBuilder, Metadata, ValidationScheme};
use promlite_storage::{Appendable, HistogramRef, SeriesRef};
use prost::Message;

use crate::codec::{
    DEFAULT_MAX_BODY_BYTES, HistogramSample, exemplar_labels_from_proto, histogram_from_proto,
    labels_from_proto, metadata_from_proto, snappy_decompress,
};
use crate::{RemoteError, prompb};

/// The remote-write protocol version header.
pub const REMOTE_WRITE_VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";

/// The `proto=` parameter of a remote write 1.0 request.
pub const PROTO_V1: &str = "prometheus.WriteRequest";
/// The `proto=` parameter of a remote write 2.0 request.
pub const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// Settings of the receiver.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Largest body accepted, compressed or decompressed (32 MiB, as Prometheus).
    pub max_body_bytes: usize,
    /// Which metric and label names are valid (Prometheus 3: UTF-8).
    pub validation: ValidationScheme,
    /// Most labels a series may have, its name included; 0 for no limit (Prometheus's
    /// receiver has none, so this is the default). The scrape option of the same name
    /// brought to the receiver, against label bombs.
    pub label_limit: usize,
    /// Longest label name, in bytes; 0 for no limit (the default).
    pub label_name_length_limit: usize,
    /// Longest label value, in bytes; 0 for no limit (the default).
    pub label_value_length_limit: usize,
}

impl WriteStats {
    /// The response headers remote write 2.0 asks receivers to send (harmless for 1.0
    /// clients, which ignore them): how many samples, histograms and exemplars were
    /// written.
    pub fn response_headers(&self) -> [(&'static str, String); 3] {
        [
            (
                "X-Prometheus-Remote-Write-Samples-Written",
                self.samples.to_string(),
            ),
            (
                "X-Prometheus-Remote-Write-Histograms-Written",
                self.histograms.to_string(),
            ),
            (
                "X-Prometheus-Remote-Write-Exemplars-Written",
                self.exemplars.to_string(),
            ),
        ]
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            validation: ValidationScheme::Utf8,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
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
    let v2 = check_headers(headers)?;
    if body.len() > opts.max_body_bytes {
        return Err(RemoteError::BodyTooLarge {
            size: body.len() as u64,
            limit: opts.max_body_bytes as u64,
        });
    }
    let raw = snappy_decompress(body, opts.max_body_bytes)?;
    if v2 {
        let req = prompb::v2::Request::decode(raw.as_slice())?;
        append_series(&series_v2(opts, &req)?, app)
    } else {
        let req = prompb::WriteRequest::decode(raw.as_slice())?;
        append_series(&series_v1(opts, &req)?, app)
    }
}

/// Checks the media type and encoding as Prometheus 3 does: a missing `Content-Type`
/// means 1.0; otherwise it must be `application/x-protobuf`, with
/// `proto=prometheus.WriteRequest` (1.0, also the default) or
/// `proto=io.prometheus.write.v2.Request` (2.0). A present `Content-Encoding` must be
/// `snappy`. Returns whether the request is 2.0.
fn check_headers(headers: &HeaderMap) -> Result<bool, RemoteError> {
    let mut v2 = false;
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
            match p.strip_prefix("proto=") {
                None | Some(PROTO_V1) => {}
                Some(PROTO_V2) => v2 = true,
                Some(proto) => {
                    return Err(RemoteError::UnsupportedMediaType(format!(
                        "unsupported protobuf message {proto:?}, expected {PROTO_V1} or {PROTO_V2}"
                    )));
                }
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
    Ok(v2)
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

/// One series of a request in either protocol version, validated and ready to append.
struct SeriesIn<'a> {
    labels: Labels,
    samples: &'a [prompb::Sample],
    histograms: &'a [prompb::Histogram],
    exemplars: Vec<promlite_model::Exemplar>,
    metadata: Option<Metadata>,
    /// Start (created) time of the samples, 0 when unknown.
    st: i64,
}

/// Applies the label limits of `opts`, with the texts Prometheus's scrape limits use.
fn check_label_limits(opts: &WriteOptions, labels: &Labels) -> Result<(), RemoteError> {
    let metric = || {
        let n = labels.metric_name().unwrap_or_default();
        n.chars().take(50).collect::<String>()
    };
    let cut = |s: &str| s.chars().take(50).collect::<String>();
    if opts.label_limit > 0 && labels.len() > opts.label_limit {
        return Err(RemoteError::InvalidLabels(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            metric(),
            labels.len(),
            opts.label_limit
        )));
    }
    for l in labels {
        if opts.label_name_length_limit > 0 && l.name.len() > opts.label_name_length_limit {
            return Err(RemoteError::InvalidLabels(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                metric(),
                cut(l.name),
                l.name.len(),
                opts.label_name_length_limit
            )));
        }
        if opts.label_value_length_limit > 0 && l.value.len() > opts.label_value_length_limit {
            return Err(RemoteError::InvalidLabels(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {}, length: {}, limit: {})",
                metric(),
                cut(l.name),
                cut(l.value),
                l.value.len(),
                opts.label_value_length_limit
            )));
        }
    }
    Ok(())
}

/// Validates every 1.0 series (so a bad label set appends nothing) and attaches each
/// family's metadata to the series of that family in the request.
fn series_v1<'a>(
    opts: &WriteOptions,
    req: &'a prompb::WriteRequest,
) -> Result<Vec<SeriesIn<'a>>, RemoteError> {
    let mut b = LabelsBuilder::new();
    let mut out = Vec::with_capacity(req.timeseries.len());
    for ts in &req.timeseries {
        let labels = labels_from_proto(&ts.labels, opts.validation, &mut b)?;
        check_label_limits(opts, &labels)?;
        let name = labels.metric_name().unwrap_or_default();
        let metadata = req
            .metadata
            .iter()
            .find(|m| {
                !m.metric_family_name.is_empty() && belongs_to_family(name, &m.metric_family_name)
            })
            .map(metadata_from_proto);
        let exemplars = ts
            .exemplars
            .iter()
            .map(|e| promlite_model::Exemplar {
                labels: exemplar_labels_from_proto(&e.labels, &mut b),
                value: e.value,
                timestamp: Some(e.timestamp),
            })
            .collect();
        out.push(SeriesIn {
            labels,
            samples: &ts.samples,
            histograms: &ts.histograms,
            exemplars,
            metadata,
            st: 0,
        });
    }
    Ok(out)
}

/// Resolves symbol references into label pairs (checked: in range, paired).
fn refs_to_labels(symbols: &[String], refs: &[u32]) -> Result<Vec<prompb::Label>, RemoteError> {
    if !refs.len().is_multiple_of(2) {
        return Err(RemoteError::InvalidRequest(format!(
            "odd number of label references ({})",
            refs.len()
        )));
    }
    refs.chunks_exact(2)
        .map(|p| {
            let sym = |r: u32| {
                symbols.get(r as usize).cloned().ok_or_else(|| {
                    RemoteError::InvalidRequest(format!(
                        "symbol reference {r} out of range (the table has {} symbols)",
                        symbols.len()
                    ))
                })
            };
            Ok(prompb::Label {
                name: sym(p[0])?,
                value: sym(p[1])?,
            })
        })
        .collect()
}

/// Validates every 2.0 series, resolving its symbol references.
fn series_v2<'a>(
    opts: &WriteOptions,
    req: &'a prompb::v2::Request,
) -> Result<Vec<SeriesIn<'a>>, RemoteError> {
    let mut b = LabelsBuilder::new();
    let sym = |r: u32| req.symbols.get(r as usize).cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(req.timeseries.len());
    for ts in &req.timeseries {
        let labels = labels_from_proto(
            &refs_to_labels(&req.symbols, &ts.labels_refs)?,
            opts.validation,
            &mut b,
        )?;
        check_label_limits(opts, &labels)?;
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in &ts.exemplars {
            exemplars.push(promlite_model::Exemplar {
                labels: exemplar_labels_from_proto(
                    &refs_to_labels(&req.symbols, &e.labels_refs)?,
                    &mut b,
                ),
                value: e.value,
                timestamp: Some(e.timestamp),
            });
        }
        let metadata = ts.metadata.map(|m| {
            metadata_from_proto(&prompb::MetricMetadata {
                r#type: m.r#type,
                metric_family_name: String::new(),
                help: sym(m.help_ref),
                unit: sym(m.unit_ref),
            })
        });
        out.push(SeriesIn {
            labels,
            samples: &ts.samples,
            histograms: &ts.histograms,
            exemplars,
            metadata: metadata.filter(|m| *m != Metadata::default()),
            st: ts.created_timestamp,
        });
    }
    Ok(out)
}

/// Appends validated series in one transaction. A sample the store rejects rolls the
/// transaction back and is returned as the error; its status is 400 for out-of-order,
/// out-of-bounds, too-old and duplicate samples, as Prometheus answers so clients do not
/// retry them.
fn append_series(series: &[SeriesIn<'_>], app: &dyn Appendable) -> Result<WriteStats, RemoteError> {
    let mut stats = WriteStats {
        series: series.len(),
        ..WriteStats::default()
    };
    let mut appender = app.appender();
    for s in series {
        let ls = &s.labels;
        let mut r = SeriesRef::NONE;
        for x in s.samples {
            r = appender.append_with_st(r, ls, s.st, x.timestamp, x.value)?;
            stats.samples += 1;
        }
        for h in s.histograms {
            let t = h.timestamp;
            r = match histogram_from_proto(h)? {
                HistogramSample::Int(hi) => {
                    appender.append_histogram_with_st(r, ls, s.st, t, HistogramRef::Int(&hi))?
                }
                HistogramSample::Float(hf) => {
                    appender.append_histogram_with_st(r, ls, s.st, t, HistogramRef::Float(&hf))?
                }
            };
            stats.histograms += 1;
        }
        for ex in &s.exemplars {
            match appender.append_exemplar(r, ls, ex) {
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
        if let Some(m) = &s.metadata {
            appender.update_metadata(r, ls, m)?;
            stats.metadata += 1;
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
            "application/x-protobuf;proto=io.prometheus.write.v3.Request"
                .parse()
                .unwrap(),
        );
        assert_eq!(handle_write(b"", &h, &store).unwrap_err().status(), 415);
        let mut h = headers();
        h.insert(CONTENT_TYPE, "application/json".parse().unwrap());
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
    fn remote_write_2_symbols_are_checked() {
        let store = MemStore::new();
        let mut h = headers();
        h.insert(
            CONTENT_TYPE,
            format!("application/x-protobuf;proto={PROTO_V2}")
                .parse()
                .unwrap(),
        );
        let req = |refs: Vec<u32>| prompb::v2::Request {
            symbols: vec![String::new(), "__name__".into(), "up".into()],
            timeseries: vec![prompb::v2::TimeSeries {
                labels_refs: refs,
                samples: vec![prompb::Sample {
                    value: 1.0,
                    timestamp: 5,
                }],
                ..Default::default()
            }],
        };
        let body = |r: prompb::v2::Request| crate::codec::snappy_compress(&r.encode_to_vec());
        let stats = handle_write(&body(req(vec![1, 2])), &h, &store).unwrap();
        assert_eq!(stats.samples, 1);
        assert_eq!(
            stats.response_headers()[0],
            ("X-Prometheus-Remote-Write-Samples-Written", "1".to_string())
        );
        for (refs, want) in [(vec![1, 7], "out of range"), (vec![1], "odd number")] {
            let err = handle_write(&body(req(refs)), &h, &store).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.to_string().contains(want), "{err}");
        }
    }

    #[test]
    fn label_bombs_are_refused_by_the_label_limits() {
        let store = MemStore::new();
        let mut labels: Vec<prompb::Label> =
            (0..100).map(|i| label(&format!("l{i:03}"), "v")).collect();
        labels.insert(0, label("__name__", "bomb"));
        let req = |labels: Vec<prompb::Label>| {
            encode_write_request(&prompb::WriteRequest {
                timeseries: vec![prompb::TimeSeries {
                    labels,
                    samples: vec![prompb::Sample {
                        value: 1.0,
                        timestamp: 1,
                    }],
                    ..Default::default()
                }],
                metadata: vec![],
            })
        };
        let opts = WriteOptions {
            label_limit: 30,
            label_name_length_limit: 100,
            label_value_length_limit: 1000,
            ..WriteOptions::default()
        };
        let err = handle_write_with(&opts, &req(labels.clone()), &headers(), &store).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.to_string(),
            "invalid labels: label_limit exceeded (metric: bomb, number of labels: 101, limit: 30)"
        );
        let long_value = vec![label("__name__", "bomb"), label("v", &"x".repeat(5000))];
        let err = handle_write_with(&opts, &req(long_value), &headers(), &store).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid labels: label_value_length_limit exceeded (metric: bomb, label name: v, value: {}, length: 5000, limit: 1000)",
                "x".repeat(50)
            )
        );
        let long_name = vec![label("__name__", "bomb"), label(&"n".repeat(500), "v")];
        let err = handle_write_with(&opts, &req(long_name), &headers(), &store).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid labels: label_name_length_limit exceeded (metric: bomb, label name: nnnn"
            ),
            "{err}"
        );
        assert_eq!(store.num_series(), 0);
        // Without limits (the default, as Prometheus) the same series is accepted.
        handle_write(&req(labels), &headers(), &store).unwrap();
        assert_eq!(store.num_series(), 1);
    }

    #[test]
    fn family_membership() {
        assert!(belongs_to_family("http_seconds_bucket", "http_seconds"));
        assert!(belongs_to_family("up", "up"));
        assert!(!belongs_to_family("up_other", "up"));
    }
}
