//! Hostile input: random, truncated and mutated bodies never panic the receiver, the
//! read handler or the frame reader, and valid requests round-trip through the receiver.

use promlite_model::{Labels, Matcher};
use promlite_remote::codec::{read_frame, snappy_compress};
use promlite_remote::{
    encode_read_request, encode_write_request, handle_read, handle_write, prompb,
};
use promlite_storage::{Appendable, MemStore, Queryable, SampleValue, SeriesRef, collect_samples};
use proptest::prelude::*;

fn label(n: &str, v: &str) -> prompb::Label {
    prompb::Label {
        name: n.into(),
        value: v.into(),
    }
}

fn store() -> MemStore {
    let s = MemStore::new();
    let mut a = s.appender();
    let ls = Labels::from_pairs([("__name__", "m"), ("job", "x")]);
    for i in 0..50 {
        a.append(SeriesRef::NONE, &ls, i * 1000, i as f64).unwrap();
    }
    a.commit().unwrap();
    s
}

/// A valid request to mutate: floats, a histogram, an exemplar and metadata.
fn valid_write() -> Vec<u8> {
    let h = promlite_remote::codec::histogram_to_proto(
        5,
        &promlite_model::Histogram {
            count: 2,
            positive_spans: vec![promlite_model::Span {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![1, 0],
            ..Default::default()
        },
    );
    encode_write_request(&prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![label("__name__", "a"), label("job", "j")],
            samples: vec![prompb::Sample {
                value: 1.0,
                timestamp: 1,
            }],
            exemplars: vec![prompb::Exemplar {
                labels: vec![label("trace_id", "t")],
                value: 1.0,
                timestamp: 1,
            }],
            histograms: vec![h],
        }],
        metadata: vec![prompb::MetricMetadata {
            r#type: 1,
            metric_family_name: "a".into(),
            help: "h".into(),
            unit: String::new(),
        }],
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let s = MemStore::new();
        let h = http::HeaderMap::new();
        let _ = handle_write(&body, &h, &s);
        let _ = handle_write(&snappy_compress(&body), &h, &s);
        let mut v2 = http::HeaderMap::new();
        v2.insert(
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request".parse().unwrap(),
        );
        let _ = handle_write(&snappy_compress(&body), &v2, &s);
        let _ = handle_read(&body, &s);
        let _ = handle_read(&snappy_compress(&body), &s);
        let _ = read_frame(&body, 1 << 20);
    }

    #[test]
    fn truncated_and_mutated_requests_never_panic(
        cut in 0usize..400, flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..8)
    ) {
        let s = MemStore::new();
        let h = http::HeaderMap::new();
        let raw = {
            let body = valid_write();
            snap::raw::Decoder::new().decompress_vec(&body).unwrap()
        };
        let mut m = raw.clone();
        for (i, b) in flips {
            if !m.is_empty() {
                let i = i % m.len();
                m[i] ^= b;
            }
        }
        m.truncate(cut.min(m.len()));
        let _ = handle_write(&snappy_compress(&m), &h, &s);
        let read = encode_read_request(
            vec![prompb::Query {
                start_timestamp_ms: 0,
                end_timestamp_ms: 100_000,
                matchers: vec![prompb::LabelMatcher { r#type: 0, name: "__name__".into(), value: "m".into() }],
                hints: None,
            }],
            &[prompb::ResponseType::StreamedXorChunks],
        );
        let mut r = snap::raw::Decoder::new().decompress_vec(&read).unwrap();
        for (i, b) in m.iter().enumerate().take(4) {
            if !r.is_empty() {
                let k = (i * 7 + *b as usize) % r.len();
                r[k] ^= *b;
            }
        }
        r.truncate(cut.min(r.len()));
        let _ = handle_read(&snappy_compress(&r), &store());
    }

    #[test]
    fn written_floats_read_back_exactly(
        series in proptest::collection::btree_map("[a-z]{1,6}", proptest::collection::vec(any::<f64>(), 1..20), 1..6)
    ) {
        let req = prompb::WriteRequest {
            timeseries: series.iter().map(|(job, vs)| prompb::TimeSeries {
                labels: vec![label("__name__", "p"), label("job", job)],
                samples: vs.iter().enumerate().map(|(i, &value)| prompb::Sample { value, timestamp: i as i64 }).collect(),
                ..Default::default()
            }).collect(),
            metadata: vec![],
        };
        let s = MemStore::new();
        let stats = handle_write(&encode_write_request(&req), &http::HeaderMap::new(), &s).unwrap();
        prop_assert_eq!(stats.samples, series.values().map(Vec::len).sum::<usize>());
        let q = s.querier(i64::MIN, i64::MAX).unwrap();
        for (got, (job, vs)) in q.select(true, None, &[Matcher::equal("__name__", "p")]).zip(&series) {
            let got = got.unwrap();
            prop_assert_eq!(got.labels().get("job"), Some(job.as_str()));
            let vals: Vec<u64> = collect_samples(&*got).iter().map(|x| match x.value {
                SampleValue::Float(v) => v.to_bits(),
                _ => 0,
            }).collect();
            // proto3 leaves out fields equal to their default, and -0.0 == 0.0, so -0.0
            // arrives as 0.0 (Prometheus's gogo-generated encoder does the same).
            let want: Vec<u64> = vs.iter().map(|&v| if v == 0.0 { 0 } else { v.to_bits() }).collect();
            prop_assert_eq!(vals, want);
        }
    }
}
