//! The data-driven relabel table (`data/cases.yaml`) and hashmod checked against an
//! independent MD5 computation.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use promlite_model::{Labels, LabelsBuilder, ValidationScheme};
use promlite_relabel::{RelabelConfig, RelabelConfigSpec, relabel, trace};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    scheme: Option<String>,
    input: BTreeMap<String, String>,
    rules: Vec<RelabelConfigSpec>,
    #[serde(default)]
    output: Option<BTreeMap<String, String>>,
    #[serde(default)]
    drop: bool,
}

fn scheme(name: Option<&str>) -> ValidationScheme {
    match name {
        None | Some("utf8") => ValidationScheme::Utf8,
        Some("legacy") => ValidationScheme::Legacy,
        Some(other) => panic!("unknown scheme {other:?}"),
    }
}

fn show(l: Option<&Labels>) -> String {
    l.map_or_else(|| "dropped".to_owned(), ToString::to_string)
}

#[test]
fn relabel_cases() {
    let cases: Vec<Case> =
        serde_norway::from_str(include_str!("data/cases.yaml")).expect("cases.yaml parses");
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut builder = LabelsBuilder::new();
    let mut failures = Vec::new();
    for case in &cases {
        assert!(
            case.drop != case.output.is_some(),
            "{}: give exactly one of `output` and `drop`",
            case.name
        );
        let scheme = scheme(case.scheme.as_deref());
        let rules: Vec<RelabelConfig> = case
            .rules
            .iter()
            .map(|r| {
                r.clone()
                    .build(scheme)
                    .unwrap_or_else(|e| panic!("{}: rule {r:?} is invalid: {e}", case.name))
            })
            .collect();
        let input = Labels::from_pairs(&case.input);
        let want = case.output.as_ref().map(Labels::from_pairs);
        let got = relabel(&input, &rules, &mut builder);
        if got != want {
            failures.push(format!(
                "{}\n  input:    {input}\n  expected: {}\n  actual:   {}",
                case.name,
                show(want.as_ref()),
                show(got.as_ref())
            ));
            continue;
        }
        // The trace must agree with the real run, step by step.
        let steps = trace(&input, &rules);
        let last = steps.last().map_or(Some(&input), |s| s.output.as_ref());
        if last != got.as_ref() {
            failures.push(format!(
                "{}: trace ends in {} but relabel gave {}",
                case.name,
                show(last),
                show(got.as_ref())
            ));
        }
        for pair in steps.windows(2) {
            assert_eq!(
                pair[0].output.as_ref(),
                Some(&pair[1].input),
                "{}",
                case.name
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Prometheus's bucket, computed here without the crate: MD5, last eight bytes read
/// big-endian, modulo the modulus.
fn bucket(value: &str, modulus: u64) -> u64 {
    let sum = Md5::digest(value.as_bytes());
    let mut n = 0u64;
    for &b in &sum[8..16] {
        n = (n << 8) | u64::from(b);
    }
    n % modulus
}

#[test]
fn hashmod_matches_prometheus_buckets() {
    // Values from Prometheus's own tests pin the formula.
    assert_eq!(bucket("baz", 1000), 976);
    assert_eq!(bucket("foo\nbar", 1000), 734);
    let mut builder = LabelsBuilder::new();
    for (value, modulus) in [
        ("10.132.183.40:80", 3),
        ("node-exporter-1:9100", 4),
        ("", 10),
        ("日本", 1000),
        ("x", u64::MAX),
        ("a;b", 1 << 40),
    ] {
        let spec = RelabelConfigSpec {
            source_labels: Some(vec!["a".into()]),
            target_label: "h".into(),
            modulus,
            ..RelabelConfigSpec::new(promlite_relabel::Action::HashMod)
        };
        let rule = spec.build(ValidationScheme::Utf8).unwrap();
        let out = relabel(&Labels::from_pairs([("a", value)]), &[rule], &mut builder).unwrap();
        assert_eq!(
            out.get("h"),
            Some(bucket(value, modulus).to_string().as_str()),
            "{value:?} % {modulus}"
        );
    }
}
