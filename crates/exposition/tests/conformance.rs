//! Every file of Prometheus's exposition conformance corpus parses, with its entries
//! counted. The expected counts are facts about the files (sample lines, metadata lines);
//! a file added to the corpus without a row here fails the test, so nothing is skipped
//! silently.

use std::path::{Path, PathBuf};

use promlite_exposition::{Entry, OpenMetricsOptions, OpenMetricsParser, PromParser, TextParser};
use promlite_model::{LabelsBuilder, MetricType};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/exposition"
);

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Counts {
    series: usize,
    help: usize,
    types: usize,
    units: usize,
    comments: usize,
    exemplars: usize,
    created: usize,
}

/// file (relative to the corpus), whether OpenMetrics, expected counts.
const CASES: &[(&str, bool, Counts)] = &[
    (
        "alltypes.237mfs.prom.txt",
        false,
        Counts {
            series: 1857,
            help: 237,
            types: 237,
            units: 0,
            comments: 1,
            exemplars: 0,
            created: 0,
        },
    ),
    (
        "real/node_exporter-1.5.prom",
        false,
        Counts {
            series: 507,
            help: 283,
            types: 283,
            units: 0,
            comments: 0,
            exemplars: 0,
            created: 0,
        },
    ),
    (
        "alltypes.5mfs.om.txt",
        true,
        Counts {
            series: 53,
            help: 5,
            types: 5,
            units: 0,
            comments: 0,
            exemplars: 6,
            created: 0,
        },
    ),
    (
        "1histogram.om.txt",
        true,
        Counts {
            series: 42,
            help: 1,
            types: 1,
            units: 0,
            comments: 0,
            exemplars: 0,
            created: 0,
        },
    ),
];

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(DIR);
    assert!(
        dir.is_dir(),
        "conformance corpus missing: expected {} (the shared/ folder beside the repository)",
        dir.display()
    );
    dir
}

fn list(dir: &Path, out: &mut Vec<String>, base: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            list(&p, out, base);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[allow(clippy::many_single_char_names)]
fn count<const OM: bool>(mut p: TextParser<'_, OM>, file: &str) -> Counts {
    let mut c = Counts::default();
    let mut b = LabelsBuilder::new();
    loop {
        match p.next() {
            Ok(None) => return c,
            Err(e) => panic!("{file}: {e}"),
            Ok(Some(Entry::Help { .. })) => c.help += 1,
            Ok(Some(Entry::Type { .. })) => c.types += 1,
            Ok(Some(Entry::Unit { .. })) => c.units += 1,
            Ok(Some(Entry::Comment(_))) => c.comments += 1,
            Ok(Some(Entry::Histogram(_))) => panic!("{file}: native histogram from text"),
            Ok(Some(Entry::Series(s))) => {
                c.series += 1;
                c.exemplars += usize::from(s.exemplar.is_some());
                c.created += usize::from(s.created.is_some());
                let l = s.to_labels(&mut b);
                assert_eq!(l.metric_name(), Some(s.name), "{file}");
                assert!(!s.series.is_empty());
            }
        }
    }
}

#[test]
fn every_corpus_file_parses_with_the_expected_counts() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    list(&dir, &mut files, &dir);
    let known: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    for f in &files {
        assert!(
            known.contains(&f.as_str()),
            "corpus file {f} has no expectation row in {}",
            file!()
        );
    }
    for &(file, om, want) in CASES {
        let text =
            std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = if om {
            count(OpenMetricsParser::new(&text), file)
        } else {
            count(PromParser::new(&text), file)
        };
        assert_eq!(got, want, "{file}");
    }
}

#[test]
fn openmetrics_created_lines_become_created_timestamps() {
    let text = std::fs::read_to_string(corpus_dir().join("alltypes.5mfs.om.txt")).unwrap();
    let mut p = OpenMetricsParser::with_options(
        &text,
        OpenMetricsOptions {
            created_timestamps: true,
            ..OpenMetricsOptions::default()
        },
    );
    let (mut series, mut with_created, mut types) = (0, 0, Vec::new());
    let mut first_bucket_created = None;
    while let Some(e) = p.next().unwrap() {
        match e {
            Entry::Series(s) => {
                assert!(!s.name.ends_with("_created"), "{} was not consumed", s.name);
                series += 1;
                with_created += usize::from(s.created.is_some());
                if s.name == "rpc_durations_histogram_seconds_bucket"
                    && first_bucket_created.is_none()
                {
                    first_bucket_created = s.created;
                }
            }
            Entry::Type { metric_type, .. } => types.push(metric_type),
            _ => {}
        }
    }
    // 9 `_created` lines are consumed; every counter, summary and histogram sample of
    // the file (all but the gauge's one) carries a created time.
    assert_eq!(series, 53 - 9);
    assert_eq!(with_created, series - 1);
    assert_eq!(first_bucket_created, Some(1_726_839_813_016));
    assert_eq!(types[0], MetricType::Gauge);
}

#[test]
fn text_corpus_reads_back_through_the_openmetrics_encoder() {
    // Parse the big text file, write it as OpenMetrics, parse that: same samples.
    use promlite_exposition::OpenMetricsEncoder;
    let text = std::fs::read_to_string(corpus_dir().join("alltypes.237mfs.prom.txt")).unwrap();
    let mut out = String::new();
    let mut want = Vec::new();
    {
        let mut enc = OpenMetricsEncoder::new(&mut out);
        let mut p = PromParser::new(&text);
        while let Some(e) = p.next().unwrap() {
            if let Entry::Series(s) = &e {
                want.push((s.name.to_owned(), s.labels.len(), s.value.to_bits()));
            }
            if !matches!(e, Entry::Comment(_)) {
                enc.entry(&e).unwrap();
            }
        }
        enc.eof();
    }
    let mut got = Vec::new();
    let mut p = OpenMetricsParser::new(&out);
    while let Some(e) = p.next().unwrap() {
        if let Entry::Series(s) = e {
            got.push((s.name.to_owned(), s.labels.len(), s.value.to_bits()));
        }
    }
    assert_eq!(got, want);
}
