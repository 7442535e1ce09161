//! Invariants of counters and histograms under arbitrary inputs, and the text round trip
//! of arbitrary label values.

use promlite_client::{Counter, Family, Histogram, HistogramConfig, MetricValue, Registry};
use promlite_exposition::{Entry, PromOptions, PromParser};
use proptest::prelude::*;

proptest! {
    #[test]
    fn counter_is_the_sum_of_its_increments(incs in prop::collection::vec(0u32..1_000_000, 0..100)) {
        let c: Counter = Counter::new();
        for i in &incs {
            c.inc_by(u64::from(*i));
        }
        prop_assert_eq!(c.get(), incs.iter().map(|i| u64::from(*i)).sum::<u64>());
    }

    #[test]
    fn histogram_snapshot_is_consistent(
        values in prop::collection::vec(prop_oneof![-1e6f64..1e6, Just(0.0), Just(f64::INFINITY)], 0..200),
        schema in -4i32..=8,
    ) {
        let config = HistogramConfig::classic([-10.0, 0.0, 0.5, 1.0, 100.0])
            .unwrap()
            .with_native(schema, 1e-3)
            .unwrap();
        let h = Histogram::new(&config);
        for v in &values {
            h.observe(*v);
        }
        let s = h.snapshot();
        prop_assert_eq!(s.count, values.len() as u64);
        // Cumulative counts never decrease and end at the count.
        prop_assert!(s.buckets.windows(2).all(|w| w[0].cumulative_count <= w[1].cumulative_count));
        prop_assert_eq!(s.buckets.last().map(|b| b.cumulative_count), Some(s.count));
        for b in &s.buckets {
            let expected = values.iter().filter(|v| **v <= b.upper_bound).count() as u64;
            prop_assert_eq!(b.cumulative_count, expected);
        }
        let f = s.native.unwrap().to_float();
        let total: f64 = f.positive_buckets.iter().chain(&f.negative_buckets).sum::<f64>() + f.zero_count;
        prop_assert_eq!(total, values.len() as f64);
        prop_assert_eq!(f.count, values.len() as f64);
    }

    #[test]
    fn family_children_match_a_model(
        ops in prop::collection::vec(
            (prop::collection::vec("[ab]{0,3}|[ab]{7,9}|[ab]{15,18}", 2), any::<bool>()),
            1..200,
        ),
    ) {
        // Values from a two-letter alphabet around the 3-, 8- and 16-byte boundaries of
        // the look-up's word comparison, so near-equal values are common.
        let f: Family<Vec<String>, Counter> = Family::new(["a", "b"]).unwrap();
        let mut model = std::collections::HashMap::<Vec<String>, u64>::new();
        for (values, remove) in &ops {
            let v: Vec<&str> = values.iter().map(String::as_str).collect();
            if *remove {
                prop_assert_eq!(f.remove(&v), model.remove(values).is_some());
            } else {
                f.get_or_create(&v).unwrap().inc();
                *model.entry(values.clone()).or_default() += 1;
            }
        }
        prop_assert_eq!(f.len(), model.len());
        for (values, n) in &model {
            let v: Vec<&str> = values.iter().map(String::as_str).collect();
            prop_assert_eq!(f.get(&v).map(|c| c.get()), Some(*n));
        }
    }

    #[test]
    fn label_values_survive_the_text_format(values in prop::collection::vec("\\PC*", 1..5)) {
        let r = Registry::new();
        let f: Family<Vec<String>, Counter> = Family::new(["v"]).unwrap();
        r.register("x", "X.", f.clone()).unwrap();
        for v in &values {
            f.get_or_create(&[v.as_str()]).unwrap().inc();
        }
        let mut text = String::new();
        r.encode_text(&mut text);
        let mut p = PromParser::with_options(&text, PromOptions { strict: true });
        let mut parsed = Vec::new();
        while let Some(e) = p.next().unwrap() {
            if let Entry::Series(s) = e {
                parsed.push(s.labels.get("v").unwrap_or_default().to_owned());
            }
        }
        let mut expected: Vec<String> = values.clone();
        expected.sort();
        expected.dedup();
        parsed.sort();
        prop_assert_eq!(parsed, expected);
        let collected = r.collect();
        let counters = collected[0].points.iter().filter(|p| matches!(p.value, MetricValue::Counter { .. })).count();
        prop_assert_eq!(counters, collected[0].points.len());
    }
}
