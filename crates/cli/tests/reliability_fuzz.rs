//! Hostile input, without a fuzzer: every fuzz target of `fuzz/` (exposition text,
//! OpenMetrics and protobuf, PromQL, WAL records and segments, index and chunk files,
//! remote write 1.0 and 2.0) replays its seed corpus (`fuzz/corpus/<target>/`) and then
//! runs a fixed budget of deterministic mutations of those seeds — bit flips, interesting
//! integers, truncations, deletions, insertions, duplications, varint bombs and splices,
//! from a seeded generator — through the same invariant checks the cargo-fuzz targets
//! call. A failure names the target and iteration and writes the input next to the test
//! binary, so it can be added to the corpus as a regression.
//!
//! `PROMLITE_FUZZ_ITERS=<n>` replaces the budget for longer runs by hand;
//! `PROMLITE_WRITE_SEEDS=1` rewrites the generated seed files (WAL, index, chunks,
//! remote write) from the encoders.

mod common;

use std::path::PathBuf;

use common::Rng;
use promlite_remote::prompb;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus")).join(target)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {} missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|f| {
            let data = std::fs::read(&f).unwrap();
            (f, data)
        })
        .collect()
}

/// Integers that sit on boundaries length and count fields care about.
const INTERESTING: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// One mutated input from the seeds.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&seeds[rng.range(0, seeds.len() as u64) as usize]);
    for _ in 0..rng.range(1, 5) {
        let len = out.len() as u64;
        let at = rng.range(0, len + 1) as usize;
        match rng.range(0, 9) {
            0 if len > 0 => {
                let i = rng.range(0, len) as usize;
                out[i] ^= 1 << rng.range(0, 8);
            }
            1 if len > 0 => {
                let i = rng.range(0, len) as usize;
                out[i] = INTERESTING[rng.range(0, 5) as usize] as u8;
            }
            2 => out.truncate(at),
            3 if len > 0 => {
                let end = (at + rng.range(1, 64) as usize).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 => {
                let n = rng.range(1, 16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let from = rng.range(0, len) as usize;
                let end = (from + rng.range(1, 256) as usize).min(out.len());
                let copy = out[from..end].to_vec();
                let to = rng.range(0, out.len() as u64 + 1) as usize;
                out.splice(to..to, copy);
            }
            6 if len >= 8 => {
                let v = INTERESTING[rng.range(0, INTERESTING.len() as u64) as usize];
                let w = [1usize, 2, 4, 8][rng.range(0, 4) as usize];
                let i = rng.range(0, len - w as u64 + 1) as usize;
                let bytes = if rng.next() & 1 == 0 {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                out[i..i + w].copy_from_slice(&bytes[8 - w..]);
            }
            7 => {
                // A varint as long as they come, claiming a huge length or count.
                let mut bomb = vec![0xffu8; rng.range(5, 10) as usize];
                bomb.push(0x01);
                out.splice(at..at, bomb);
            }
            _ => {
                let other = &seeds[rng.range(0, seeds.len() as u64) as usize];
                let from = rng.range(0, other.len() as u64 + 1) as usize;
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
}

fn budget(default: u64) -> u64 {
    std::env::var("PROMLITE_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Replays `target`'s corpus (every file and its prefixes), then runs `iters`
/// mutations through `check`.
fn run(target: &str, iters: u64, check: fn(&[u8])) {
    let seeds = corpus(target);
    for (f, data) in &seeds {
        let r = std::panic::catch_unwind(|| {
            check(data);
            for n in (0..data.len()).step_by(data.len() / 64 + 1) {
                check(&data[..n]);
            }
        });
        assert!(r.is_ok(), "{target}: invariant broken on {}", f.display());
    }
    let seeds: Vec<Vec<u8>> = seeds.into_iter().map(|(_, d)| d).collect();
    // The seed depends on the target's name only: every run executes the same inputs.
    let mut rng = Rng(target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    let iters = budget(iters);
    let mut input = Vec::new();
    for i in 0..iters {
        mutate(&mut rng, &seeds, &mut input);
        if std::panic::catch_unwind(|| check(&input)).is_err() {
            let dir = std::env::temp_dir();
            let path = dir.join(format!("fuzz-crash-{target}-{i}"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "{target}: invariant broken at mutation {i}; input ({} bytes) written to {}",
                input.len(),
                path.display()
            );
        }
    }
    // The executions for docs/reliability.md.
    eprintln!(
        "fuzz {target}: {} corpus files and {iters} mutations executed without a broken invariant",
        seeds.len()
    );
}

macro_rules! fuzz_test {
    ($name:ident, $target:literal, $iters:expr, $check:expr) => {
        #[test]
        fn $name() {
            run($target, $iters, $check);
        }
    };
}

fuzz_test!(
    text,
    "text",
    20_000,
    promlite_exposition::fuzzing::check_text
);
fuzz_test!(
    openmetrics,
    "openmetrics",
    20_000,
    promlite_exposition::fuzzing::check_openmetrics
);
fuzz_test!(
    protobuf,
    "protobuf",
    20_000,
    promlite_exposition::fuzzing::check_protobuf
);
fuzz_test!(
    promql_parse,
    "promql_parse",
    20_000,
    promlite_promql::fuzzing::fuzz_check
);
fuzz_test!(
    wal_record,
    "wal_record",
    20_000,
    promlite_tsdb::fuzzing::check_wal_record
);
fuzz_test!(
    wal_segment,
    "wal_segment",
    5_000,
    promlite_tsdb::fuzzing::check_wal_segment
);
fuzz_test!(index, "index", 10_000, promlite_tsdb::fuzzing::check_index);
fuzz_test!(
    chunks,
    "chunks",
    20_000,
    promlite_tsdb::fuzzing::check_chunks
);
fuzz_test!(
    remote_write_v1,
    "remote_write_v1",
    10_000,
    promlite_remote::fuzzing::check_write_v1
);
fuzz_test!(
    remote_write_v2,
    "remote_write_v2",
    10_000,
    promlite_remote::fuzzing::check_write_v2
);

/// Remote-write seeds: the protobuf messages (uncompressed; the check compresses them).
fn remote_write_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use prost::Message as _;
    let label = |n: &str, v: &str| prompb::Label {
        name: n.into(),
        value: v.into(),
    };
    let req = prompb::WriteRequest {
        timeseries: vec![
            prompb::TimeSeries {
                labels: vec![
                    label("__name__", "http_requests_total"),
                    label("job", "api"),
                ],
                samples: vec![
                    prompb::Sample {
                        value: 1.0,
                        timestamp: 1_700_000_000_000,
                    },
                    prompb::Sample {
                        value: 2.5,
                        timestamp: 1_700_000_015_000,
                    },
                ],
                exemplars: vec![prompb::Exemplar {
                    labels: vec![label("trace_id", "abc")],
                    value: 0.5,
                    timestamp: 1_700_000_000_000,
                }],
                ..Default::default()
            },
            prompb::TimeSeries {
                labels: vec![label("__name__", "latency_seconds"), label("job", "api")],
                histograms: vec![prompb::Histogram {
                    count: Some(prompb::histogram::Count::CountInt(5)),
                    sum: 1.25,
                    schema: 1,
                    zero_threshold: 0.001,
                    zero_count: Some(prompb::histogram::ZeroCount::ZeroCountInt(1)),
                    positive_spans: vec![prompb::BucketSpan {
                        offset: 0,
                        length: 2,
                    }],
                    positive_deltas: vec![2, 0],
                    timestamp: 1_700_000_000_000,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
        metadata: vec![prompb::MetricMetadata {
            r#type: 1,
            metric_family_name: "http_requests_total".into(),
            help: "Requests.".into(),
            unit: String::new(),
        }],
    };
    let v2 = promlite_remote::codec::write_request_to_v2(&req, |name| {
        (name == "http_requests_total").then(|| promlite_model::Metadata {
            metric_type: promlite_model::MetricType::Counter,
            help: "Requests.".into(),
            unit: String::new(),
        })
    });
    vec![
        (
            "remote_write_v1",
            "samples-histograms-exemplars".into(),
            req.encode_to_vec(),
        ),
        (
            "remote_write_v2",
            "samples-histograms-exemplars".into(),
            v2.encode_to_vec(),
        ),
    ]
}

/// The generated seeds are on disk (rewritten with `PROMLITE_WRITE_SEEDS=1`).
#[test]
fn generated_seeds_are_in_the_corpus() {
    let mut seeds = promlite_tsdb::fuzzing::seeds().unwrap();
    seeds.extend(remote_write_seeds());
    let write = std::env::var("PROMLITE_WRITE_SEEDS").as_deref() == Ok("1");
    for (target, name, data) in seeds {
        let path = corpus_dir(target).join(&name);
        if write {
            std::fs::create_dir_all(corpus_dir(target)).unwrap();
            std::fs::write(&path, &data).unwrap();
        }
        assert!(
            path.is_file(),
            "seed {} missing; run with PROMLITE_WRITE_SEEDS=1",
            path.display()
        );
    }
}
