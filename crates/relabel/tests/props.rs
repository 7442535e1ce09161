//! Properties of relabeling that hold for any input: complements, partitions,
//! idempotence, and agreement between `relabel` and `trace`.

use std::collections::BTreeMap;

use promlite_model::{Labels, LabelsBuilder, ValidationScheme};
use promlite_relabel::{Action, Regex, RelabelConfig, RelabelConfigSpec, relabel, trace};
use proptest::prelude::*;

fn label_sets() -> impl Strategy<Value = Labels> {
    proptest::collection::btree_map(
        prop_oneof!["[a-c_]{1,3}", "__meta_[a-c]{1,2}", "[a-c]\\.[é日]"],
        prop_oneof!["[a-c]{0,3}", "\\PC{0,6}", Just("\n".to_owned())],
        0..8,
    )
    .prop_map(|m: BTreeMap<String, String>| Labels::from_pairs(m))
}

/// Regexes over names and values seen in `label_sets`.
fn regexes() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("(.*)".to_owned()),
        Just(String::new()),
        Just(".+".to_owned()),
        Just("a.*".to_owned()),
        Just("__meta_(.*)".to_owned()),
        Just("([a-c])(.?)".to_owned()),
        Just("(?P<n>[ab]+)_?(.*)".to_owned()),
        Just("b|c_".to_owned()),
        "[a-c_]{1,3}",
    ]
}

fn names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(prop_oneof!["[a-c_]{1,3}", "__meta_[a-c]{1,2}"], 0..3)
}

fn rule(spec: RelabelConfigSpec) -> Option<RelabelConfig> {
    spec.build(ValidationScheme::Utf8).ok()
}

/// Arbitrary valid rules of every action.
fn rules() -> impl Strategy<Value = RelabelConfig> {
    (
        0..Action::ALL.len(),
        names(),
        regexes(),
        prop_oneof![
            "[a-c_]{1,3}",
            Just("${1}".to_owned()),
            Just("x_$1".to_owned())
        ],
        prop_oneof![
            Just("$1".to_owned()),
            Just("v$2".to_owned()),
            Just(String::new()),
            "[a-c]{0,2}"
        ],
        1u64..10,
    )
        .prop_filter_map(
            "invalid rule",
            |(a, src, re, target, replacement, modulus)| {
                let action = Action::ALL[a];
                let mut spec = RelabelConfigSpec::new(action);
                let re = Some(Regex::new(&re).unwrap());
                match action {
                    Action::Replace => {
                        spec.source_labels = Some(src);
                        spec.regex = re;
                        spec.target_label = target;
                        spec.replacement = replacement;
                    }
                    Action::Keep | Action::Drop => {
                        spec.source_labels = Some(src);
                        spec.regex = re;
                    }
                    Action::KeepEqual
                    | Action::DropEqual
                    | Action::Lowercase
                    | Action::Uppercase => {
                        spec.source_labels = Some(src);
                        spec.target_label = target.replace('$', "");
                    }
                    Action::HashMod => {
                        spec.source_labels = Some(src);
                        spec.target_label = target.replace('$', "");
                        spec.modulus = modulus;
                    }
                    Action::LabelMap => {
                        spec.regex = re;
                        spec.replacement = replacement;
                    }
                    Action::LabelDrop | Action::LabelKeep => spec.regex = re,
                }
                rule(spec)
            },
        )
}

fn single(action: Action, src: Vec<String>, re: &str) -> RelabelConfig {
    let mut spec = RelabelConfigSpec::new(action);
    spec.regex = Some(Regex::new(re).unwrap());
    if !matches!(action, Action::LabelDrop | Action::LabelKeep) {
        spec.source_labels = Some(src);
    }
    rule(spec).unwrap()
}

fn names_of(l: &Labels) -> Vec<String> {
    l.iter().map(|l| l.name.to_owned()).collect()
}

proptest! {
    #[test]
    fn keep_and_drop_are_complements(l in label_sets(), src in names(), re in regexes()) {
        let mut b = LabelsBuilder::new();
        let kept = relabel(&l, &[single(Action::Keep, src.clone(), &re)], &mut b);
        let dropped = relabel(&l, &[single(Action::Drop, src, &re)], &mut b);
        prop_assert!(kept.is_some() != dropped.is_some());
        // Neither filter edits what it lets through.
        for out in [kept, dropped].into_iter().flatten() {
            prop_assert_eq!(out, l.clone());
        }
    }

    #[test]
    fn keepequal_and_dropequal_are_complements(l in label_sets(), src in names(), target in "[a-c_]{1,3}") {
        let mk = |action| {
            let mut s = RelabelConfigSpec::new(action);
            s.source_labels = Some(src.clone());
            s.target_label.clone_from(&target);
            rule(s).unwrap()
        };
        let mut b = LabelsBuilder::new();
        let k = relabel(&l, &[mk(Action::KeepEqual)], &mut b);
        let d = relabel(&l, &[mk(Action::DropEqual)], &mut b);
        prop_assert!(k.is_some() != d.is_some());
    }

    #[test]
    fn labelkeep_and_labeldrop_partition_the_names(l in label_sets(), re in regexes()) {
        let mut b = LabelsBuilder::new();
        let keep = single(Action::LabelKeep, vec![], &re);
        let drop = single(Action::LabelDrop, vec![], &re);
        let kept = relabel(&l, std::slice::from_ref(&keep), &mut b).unwrap();
        let rest = relabel(&l, std::slice::from_ref(&drop), &mut b).unwrap();
        let mut all = names_of(&kept);
        all.extend(names_of(&rest));
        all.sort();
        prop_assert_eq!(all, names_of(&l));
        // Keeping then dropping by the same regex leaves nothing, in either order.
        prop_assert!(relabel(&l, &[keep.clone(), drop.clone()], &mut b).unwrap().is_empty());
        prop_assert!(relabel(&l, &[drop.clone(), keep.clone()], &mut b).unwrap().is_empty());
        // Both are idempotent.
        prop_assert_eq!(relabel(&l, &[keep.clone(), keep], &mut b), Some(kept));
        prop_assert_eq!(relabel(&l, &[drop.clone(), drop], &mut b), Some(rest));
    }

    #[test]
    fn chains_never_yield_empty_values_and_trace_agrees(
        l in label_sets(),
        chain in proptest::collection::vec(rules(), 0..6),
    ) {
        let mut b = LabelsBuilder::new();
        let out = relabel(&l, &chain, &mut b);
        if let Some(out) = &out {
            prop_assert!(out.iter().all(|p| !p.value.is_empty()));
            let mut names = names_of(out);
            let before = names.clone();
            names.sort();
            names.dedup();
            prop_assert_eq!(names, before);
        }
        let steps = trace(&l, &chain);
        let last = steps.last().map_or(Some(&l), |s| s.output.as_ref());
        prop_assert_eq!(last, out.as_ref());
        prop_assert!(steps.iter().rev().skip(1).all(|s| !s.dropped()));
        // Running again on the same thread gives the same answer (no stale scratch state).
        prop_assert_eq!(relabel(&l, &chain, &mut b), out);
    }

    #[test]
    fn hashmod_is_below_the_modulus(l in label_sets(), src in names(), modulus in 1u64..u64::MAX) {
        let mut s = RelabelConfigSpec::new(Action::HashMod);
        s.source_labels = Some(src);
        s.target_label = "h".into();
        s.modulus = modulus;
        let out = relabel(&l, &[rule(s).unwrap()], &mut LabelsBuilder::new()).unwrap();
        let h: u64 = out.get("h").unwrap().parse().unwrap();
        prop_assert!(h < modulus);
    }

    #[test]
    fn case_mapping_is_idempotent(v in "\\PC{0,12}") {
        let l = Labels::from_pairs([("a", v.as_str())]);
        for action in [Action::Lowercase, Action::Uppercase] {
            let mut s = RelabelConfigSpec::new(action);
            s.source_labels = Some(vec!["a".into()]);
            s.target_label = "a".into();
            let r = rule(s).unwrap();
            let mut b = LabelsBuilder::new();
            let once = relabel(&l, std::slice::from_ref(&r), &mut b);
            let twice = relabel(&l, &[r.clone(), r], &mut b);
            prop_assert_eq!(once, twice);
        }
    }

    #[test]
    fn default_replace_copies_exactly(l in label_sets(), src in "[a-c_]{1,3}", target in "[a-c_]{1,3}") {
        let mut s = RelabelConfigSpec::new(Action::Replace);
        s.source_labels = Some(vec![src.clone()]);
        s.target_label.clone_from(&target);
        let out = relabel(&l, &[rule(s).unwrap()], &mut LabelsBuilder::new()).unwrap();
        prop_assert_eq!(out.get(&target), l.get(&src));
    }
}
