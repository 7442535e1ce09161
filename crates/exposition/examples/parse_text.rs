//! A driver for instruction-count profiling of the text parser: parses a file (or the
//! synthetic scrape of `benches/exposition.rs`) a number of times, touching every sample
//! as the benchmark does, so `valgrind --tool=callgrind` gives counts that do not drift
//! with the load of a shared machine.
//!
//! `cargo run --release -p promlite-exposition --example parse_text -- FILE|synthetic [N] [strict]`
//!
//! `strict` parses in strict (expfmt) mode, as `promlite check metrics` does.

use std::hint::black_box;

use promlite_exposition::{Entry, PromOptions, PromParser};

/// The benchmark's synthetic scrape: `n` gauges with HELP, TYPE and three labels each.
fn synthetic_gauges(n: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for i in 0..n {
        let _ = write!(
            s,
            "# HELP app_gauge_{i} Synthetic gauge number {i}.\n# TYPE app_gauge_{i} gauge\n\
             app_gauge_{i}{{instance=\"host-{}:9100\",job=\"node\",zone=\"eu-west-1a\"}} {}.25\n",
            i % 7,
            i * 3
        );
    }
    s
}

fn main() {
    let mut args = std::env::args().skip(1);
    let src = args
        .next()
        .expect("usage: parse_text FILE|synthetic [N] [strict]");
    let n: usize = args.next().map_or(100, |a| a.parse().expect("N"));
    let options = PromOptions {
        strict: args.next().as_deref() == Some("strict"),
    };
    let body = if src == "synthetic" {
        synthetic_gauges(2000)
    } else {
        std::fs::read_to_string(&src).expect("read input")
    };
    let mut acc = 0.0;
    for _ in 0..n {
        let mut p = PromParser::with_options(black_box(&body), options);
        while let Some(e) = p.next().expect("valid input") {
            if let Entry::Series(s) = e {
                acc += s.value + s.labels.len() as f64;
            }
        }
    }
    println!("{acc}");
}
