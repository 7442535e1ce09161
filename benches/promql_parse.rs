//! PromQL parsing throughput: promlite's parser against GreptimeDB's `promql-parser` on
//! the same corpus in the same run (figures in `docs/benchmarks.md`).
//!
//! Corpus: every expression of Prometheus's promqltest scripts (`eval` lines) and every
//! rule `expr:` in promtool's test data, from `../shared/conformance`. The comparison uses
//! the expressions both parsers accept (promql-parser lacks Prometheus 3's newest syntax);
//! promlite is also measured on the whole corpus with every experimental feature on.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promlite_promql::{Parser, ParserOptions};

const CONFORMANCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance/");

/// The expression of a promqltest `eval` line (after the instant/range time spec).
fn eval_expr(line: &str) -> Option<&str> {
    let mut rest = line.strip_prefix("eval")?;
    rest = rest.trim_start_matches(|c: char| c == '_' || c.is_ascii_alphabetic());
    let mut words = rest.split_whitespace();
    let skip = match words.next()? {
        "instant" if rest.split_whitespace().nth(1) == Some("at") => 3,
        "instant" => 1,
        "range" => 7,
        _ => return None,
    };
    let mut s = rest.trim_start();
    for _ in 0..skip {
        s = s.trim_start();
        s = &s[s.find(char::is_whitespace)?..];
    }
    Some(s.trim())
}

/// A rule file's single-line `expr:` values, unquoted.
fn rule_exprs(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let v = l
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("expr:")?
                .trim();
            let v = if (v.starts_with('"') && v.ends_with('"') && v.len() > 1)
                || (v.starts_with('\'') && v.ends_with('\'') && v.len() > 1)
            {
                &v[1..v.len() - 1]
            } else {
                v
            };
            (!v.is_empty() && v != "|" && v != ">").then(|| v.to_owned())
        })
        .collect()
}

fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    for (dir, ext) in [("promql", "test"), ("rules", "yml"), ("rules", "yaml")] {
        let path = format!("{CONFORMANCE}{dir}");
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| {
                panic!("{path}: {e} (the shared conformance corpus must sit beside the repository)")
            })
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            if ext == "test" {
                out.extend(text.lines().filter_map(eval_expr).map(str::to_owned));
            } else {
                out.extend(rule_exprs(&text));
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let parser = Parser::new(ParserOptions::all());
    let all: Vec<String> = corpus()
        .into_iter()
        .filter(|q| parser.parse(q).is_ok())
        .collect();
    let common: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|q| promql_parser::parser::parse(q).is_ok())
        .collect();
    let bytes = |qs: &[&str]| qs.iter().map(|q| q.len() as u64).sum::<u64>();
    let all_refs: Vec<&str> = all.iter().map(String::as_str).collect();
    eprintln!(
        "corpus: {} expressions ({} bytes) parse with promlite; {} ({} bytes) with both",
        all_refs.len(),
        bytes(&all_refs),
        common.len(),
        bytes(&common)
    );

    let mut g = c.benchmark_group("promql_parse");
    g.throughput(Throughput::Bytes(bytes(&common)));
    g.bench_function("promlite/common", |b| {
        b.iter(|| {
            for q in &common {
                black_box(parser.parse(black_box(q)).is_ok());
            }
        });
    });
    g.bench_function("promql-parser/common", |b| {
        b.iter(|| {
            for q in &common {
                black_box(promql_parser::parser::parse(black_box(q)).is_ok());
            }
        });
    });
    g.throughput(Throughput::Bytes(bytes(&all_refs)));
    g.bench_function("promlite/all", |b| {
        b.iter(|| {
            for q in &all_refs {
                black_box(parser.parse(black_box(q)).is_ok());
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
