//! encode → parse round trips for both text formats, with names that need quoting,
//! every escape, NaN and infinities, timestamps and (OpenMetrics) exemplars.

use std::collections::BTreeMap;

use promlite_exposition::{
    Entry, ExemplarRef, LabelPairs, OpenMetricsParser, PromParser, Sample, TextEncoder, TextParser,
};
use promlite_model::{Label, MetricType};
use proptest::prelude::*;

type Pairs = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
struct S {
    labels: Pairs,
    value: u64,
    timestamp: Option<i64>,
    exemplar: Option<(Pairs, u64, Option<i64>)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Fam {
    help: Option<String>,
    gauge: bool,
    samples: Vec<S>,
}

fn canon(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

fn weird_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        "[a-z.\\-/ ]{1,6}",
        "[\"\\\\\n{}=,# é€😀\t\u{0}]{1,6}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        (0u32..1000).prop_map(f64::from),
    ]
}

fn pairs(max: usize) -> impl Strategy<Value = Pairs> {
    prop::collection::btree_map(weird_string(), any::<String>(), 0..max)
        .prop_map(|m| m.into_iter().collect())
}

fn sample(om: bool) -> impl Strategy<Value = S> {
    let ex = if om {
        prop::option::of((
            prop::collection::btree_map("[a-z_]{1,6}", "[ -~é]{0,10}", 0..3)
                .prop_map(|m| m.into_iter().collect::<Pairs>()),
            value(),
            prop::option::of(any::<i64>()),
        ))
        .boxed()
    } else {
        Just(None).boxed()
    };
    (pairs(4), value(), prop::option::of(any::<i64>()), ex).prop_map(
        |(labels, v, timestamp, ex)| S {
            labels,
            value: canon(v),
            timestamp,
            exemplar: ex.map(|(l, v, t)| (l, canon(v), t)),
        },
    )
}

fn families(om: bool) -> impl Strategy<Value = BTreeMap<String, Fam>> {
    // The text format drops leading blanks of HELP text (Prometheus does too), so they
    // are not generated for it.
    let help = if om {
        any::<String>().boxed()
    } else {
        any::<String>()
            .prop_filter("no leading blank", |h| !h.starts_with([' ', '\t']))
            .boxed()
    };
    prop::collection::btree_map(
        weird_string(),
        (
            prop::option::of(help),
            any::<bool>(),
            prop::collection::vec(sample(om), 1..4),
        )
            .prop_map(|(help, gauge, samples)| Fam {
                help,
                gauge,
                samples,
            }),
        1..5,
    )
}

fn encode<const OM: bool>(fams: &BTreeMap<String, Fam>) -> String {
    let mut out = String::new();
    let mut e = TextEncoder::<OM>::new(&mut out);
    for (name, f) in fams {
        if let Some(h) = &f.help {
            e.help(name, h);
        }
        e.metric_type(
            name,
            if f.gauge {
                MetricType::Gauge
            } else {
                MetricType::Unknown
            },
        );
        for s in &f.samples {
            let labels: Vec<Label<'_>> = s
                .labels
                .iter()
                .map(|(n, v)| Label { name: n, value: v })
                .collect();
            let ex_labels: Vec<Label<'_>> = s
                .exemplar
                .iter()
                .flat_map(|e| e.0.iter().map(|(n, v)| Label { name: n, value: v }))
                .collect();
            let mut smp = Sample::new(
                name,
                LabelPairs::from_slice(&labels),
                f64::from_bits(s.value),
            );
            smp.timestamp = s.timestamp;
            smp.exemplar = s.exemplar.as_ref().map(|x| ExemplarRef {
                labels: LabelPairs::from_slice(&ex_labels),
                value: f64::from_bits(x.1),
                timestamp: x.2,
            });
            e.sample(&smp);
        }
    }
    e.eof();
    out
}

fn owned(l: LabelPairs<'_>) -> Pairs {
    l.iter()
        .map(|l| (l.name.to_owned(), l.value.to_owned()))
        .collect()
}

fn decode<const OM: bool>(mut p: TextParser<'_, OM>) -> Result<BTreeMap<String, Fam>, String> {
    let mut out: BTreeMap<String, Fam> = BTreeMap::new();
    let blank = || Fam {
        help: None,
        gauge: false,
        samples: vec![],
    };
    while let Some(e) = p.next().map_err(|e| e.to_string())? {
        match e {
            Entry::Help { name, help } => {
                out.entry(name.to_owned()).or_insert_with(blank).help = Some(help.to_owned());
            }
            Entry::Type { name, metric_type } => {
                out.entry(name.to_owned()).or_insert_with(blank).gauge =
                    metric_type == MetricType::Gauge;
            }
            Entry::Series(s) => out
                .entry(s.name.to_owned())
                .or_insert_with(blank)
                .samples
                .push(S {
                    labels: owned(s.labels),
                    value: canon(s.value),
                    timestamp: s.timestamp,
                    exemplar: s
                        .exemplar
                        .map(|x| (owned(x.labels), canon(x.value), x.timestamp)),
                }),
            other => return Err(format!("unexpected entry {other:?}")),
        }
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn prometheus_text_round_trips(fams in families(false)) {
        let text = encode::<false>(&fams);
        prop_assert_eq!(decode(PromParser::new(&text)), Ok(fams), "encoded:\n{}", text);
    }

    #[test]
    fn openmetrics_round_trips(fams in families(true)) {
        let text = encode::<true>(&fams);
        prop_assert_eq!(decode(OpenMetricsParser::new(&text)), Ok(fams), "encoded:\n{}", text);
    }
}
