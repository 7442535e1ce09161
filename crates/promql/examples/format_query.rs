//! Formats PromQL queries read from stdin, one per line, like Prometheus's
//! `/api/v1/format_query`: prints the canonical form or the parse error.
//!
//! `echo 'sum by(job)(rate(x[5m]))' | cargo run -p promlite-promql --example format_query`
//! Pass `--all` to enable every experimental feature.

use std::io::BufRead;

use promlite_promql::{Parser, ParserOptions};

fn main() {
    let all = std::env::args().any(|a| a == "--all");
    let parser = Parser::new(if all {
        ParserOptions::all()
    } else {
        ParserOptions::new()
    });
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin is readable");
        match parser.parse(&line) {
            Ok(expr) => println!("{expr}"),
            Err(err) => println!("{err}"),
        }
    }
}
