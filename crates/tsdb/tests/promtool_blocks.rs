//! Reading blocks Prometheus wrote: the two blocks promtool 2.42 built from `source.om`
//! (`promtool tsdb create-blocks-from openmetrics`) hold exactly the samples of that
//! file, and the index-format-v1 block opens and answers queries.

use std::collections::BTreeMap;
use std::path::PathBuf;

use promlite_exposition::{Entry, OpenMetricsParser};
use promlite_model::{Labels, LabelsBuilder, MatchType, Matcher};
use promlite_storage::{Queryable, SampleValue, collect_samples};
use promlite_tsdb::block::Block;

fn conformance(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/tsdb"
    ))
    .join(rel);
    assert!(p.exists(), "conformance data missing at {}", p.display());
    p
}

type Data = BTreeMap<Labels, Vec<(i64, u64)>>;

fn read_all(blocks: &[Block], all: &Matcher) -> Data {
    let mut out = Data::new();
    for b in blocks {
        let q = b.querier(i64::MIN, i64::MAX).unwrap();
        for s in q.select(true, None, std::slice::from_ref(all)) {
            let s = s.unwrap();
            let samples = collect_samples(&*s).into_iter().map(|x| match x.value {
                SampleValue::Float(v) => (x.t, v.to_bits()),
                _ => panic!("unexpected histogram"),
            });
            out.entry(s.labels().clone()).or_default().extend(samples);
        }
    }
    out
}

#[test]
fn promtool_blocks_hold_exactly_the_source_samples() {
    let src = std::fs::read_to_string(conformance("promtool-2.42/source.om")).unwrap();
    let mut want = Data::new();
    let mut p = OpenMetricsParser::new(&src);
    let mut lb = LabelsBuilder::new();
    while let Some(e) = p.next().unwrap() {
        if let Entry::Series(s) = e {
            let t = s.timestamp.expect("source.om has timestamps");
            want.entry(s.to_labels(&mut lb))
                .or_default()
                .push((t, s.value.to_bits()));
        }
    }
    let mut blocks: Vec<Block> = std::fs::read_dir(conformance("promtool-2.42/data"))
        .unwrap()
        .map(|e| Block::open(&e.unwrap().path()).unwrap())
        .collect();
    blocks.sort_by_key(|b| b.meta().min_time);
    let got = read_all(
        &blocks,
        &Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap(),
    );
    assert_eq!(got.len(), 6);
    assert_eq!(got, want);
    let total: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
    assert_eq!(total, got.values().map(|v| v.len() as u64).sum::<u64>());

    // Label queries answer from the postings table.
    let q = blocks[0].querier(i64::MIN, i64::MAX).unwrap();
    assert_eq!(
        q.label_names(None, &[]).unwrap(),
        ["__name__", "instance", "job"]
    );
    assert_eq!(q.label_values("job", None, &[]).unwrap(), ["api", "web"]);
    let sel = q.select(
        true,
        None,
        &[
            Matcher::equal("job", "web"),
            Matcher::new(MatchType::NotRegexp, "instance", "a|b").unwrap(),
        ],
    );
    let names: Vec<String> = sel.map(|s| s.unwrap().labels().to_string()).collect();
    assert_eq!(
        names,
        [r#"{__name__="http_requests_total", instance="c", job="web"}"#]
    );

    // A window inside the block is clipped exactly.
    let (lo, hi) = (1_700_000_100_000, 1_700_000_200_000);
    let q = blocks[0].querier(lo, hi).unwrap();
    for s in q.select(true, None, &[Matcher::equal("instance", "a")]) {
        let s = s.unwrap();
        let ts: Vec<i64> = collect_samples(&*s).iter().map(|x| x.t).collect();
        let full: Vec<i64> = want[s.labels()]
            .iter()
            .map(|x| x.0)
            .filter(|t| (lo..=hi).contains(t))
            .collect();
        assert_eq!(ts, full);
    }
}

#[test]
fn index_v1_block_opens_and_answers() {
    let b = Block::open(&conformance("index_format_v1")).unwrap();
    // Its series have no metric name; a matcher that matches the empty string selects all.
    assert_eq!(b.index().label_names(), ["bar", "foo"]);
    let got = read_all(
        std::slice::from_ref(&b),
        &Matcher::new(MatchType::Regexp, "foo", ".*").unwrap(),
    );
    assert_eq!(got.len(), 102);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 102);
    assert_eq!(b.meta().stats.num_series, 102);
}
