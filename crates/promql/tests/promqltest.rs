//! Runs every script of Prometheus's promqltest suite (`../shared/conformance/promql`)
//! through promlite's evaluator and compares the per-file pass counts with the recorded
//! ones in `promqltest_expected.txt`: fewer passes than recorded is a regression and
//! fails the test; every failing eval is printed. Set `PROMQLTEST_UPDATE=1` to rewrite
//! the expectations file with the current counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use promlite_promql::promqltest::{RunOptions, run_file};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/promql"
);
const EXPECTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promqltest_expected.txt");

#[test]
fn promqltest_conformance() {
    // Serial evaluation, as Prometheus's.
    let opts = RunOptions::default();
    let opts = RunOptions {
        engine: opts.engine.parallelism(1),
        ..opts
    };
    run_suite(&opts, std::env::var_os("PROMQLTEST_UPDATE").is_some());
}

/// The same suite with every selection of more than one series spread over three
/// threads (see `par.rs`): the answers, annotations and errors must be the serial ones.
#[test]
fn promqltest_conformance_parallel() {
    let opts = RunOptions::default();
    let opts = RunOptions {
        engine: opts.engine.parallelism(3).parallel_min_samples(0),
        ..opts
    };
    run_suite(&opts, false);
}

fn run_suite(opts: &RunOptions, update: bool) {
    let dir = Path::new(DIR);
    assert!(dir.is_dir(), "conformance data missing: {}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let recorded: BTreeMap<String, (usize, usize)> = std::fs::read_to_string(EXPECTED)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.to_owned();
            let passed = w.next()?.parse().ok()?;
            let total = w.next()?.parse().ok()?;
            Some((name, (passed, total)))
        })
        .collect();
    let mut current = BTreeMap::new();
    let mut regressions = Vec::new();
    let (mut all_passed, mut all_failed) = (0, 0);
    for f in &files {
        let report = run_file(f, opts);
        for line in report.failure_lines() {
            println!("FAIL {line}");
        }
        let (p, n) = (report.passed(), report.evals.len());
        all_passed += p;
        all_failed += n - p;
        println!("{}: {p}/{n} passed", report.name);
        if let Some(&(want, _)) = recorded.get(&report.name)
            && p < want
        {
            regressions.push(format!("{}: {p} passed, {want} recorded", report.name));
        }
        current.insert(report.name.clone(), (p, n));
    }
    println!("{all_passed} passed, {all_failed} failed");
    if update {
        let mut text = String::from(
            "# promqltest pass counts per conformance file: <file> <passed> <total evals>.\n# Regenerate with PROMQLTEST_UPDATE=1 cargo test -p promlite-promql --test promqltest.\n",
        );
        for (name, (p, n)) in &current {
            let _ = writeln!(text, "{name} {p} {n}");
        }
        std::fs::write(EXPECTED, text).unwrap();
    }
    assert!(regressions.is_empty(), "regressions: {regressions:#?}");
}
