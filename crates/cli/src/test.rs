//! `promlite test promql FILE...`: runs PromQL test scripts (Prometheus's `promqltest`
//! language) and reports like a test runner: one line per failing eval (`file:line:
//! expression: expected … got …`), one summary line per file, and last, exactly `N passed,
//! M failed` counting eval commands. Exit status 1 if anything failed.
//!
//! `promlite test rules FILE...`: runs rule unit tests in promtool's format and prints
//! what `promtool test rules` prints per file (`Unit Testing:  FILE`, `SUCCESS` or
//! `FAILED:` with each expected-vs-got), then last `N passed, M failed` counting test
//! groups. Exit status 1 if any failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use promlite_promql::promqltest::{RunOptions, run_file};

/// What to test.
#[derive(Subcommand)]
pub(crate) enum TestCommand {
    /// Run PromQL test scripts (`load`/`eval` files as in Prometheus's promqltest).
    Promql {
        /// Skip the extra `@` and range-query consistency checks Prometheus runs on each
        /// instant eval.
        #[arg(long)]
        skip_consistency_checks: bool,
        /// The test scripts.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run rule unit tests (promtool's `test rules` format).
    Rules {
        /// Only run test groups whose name matches this regular expression (repeatable).
        #[arg(long)]
        run: Vec<String>,
        /// Accept fields Prometheus does not know in the rule files.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// The unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(crate) fn run(cmd: TestCommand) -> ExitCode {
    match cmd {
        TestCommand::Promql {
            skip_consistency_checks,
            files,
        } => test_promql(skip_consistency_checks, &files),
        TestCommand::Rules {
            run,
            ignore_unknown_fields,
            files,
        } => test_rules(run, ignore_unknown_fields, &files),
    }
}

fn test_rules(run: Vec<String>, ignore_unknown_fields: bool, files: &[PathBuf]) -> ExitCode {
    let options = promlite_rules::TestOptions {
        run,
        ignore_unknown_fields,
    };
    let reports: Vec<_> = files
        .iter()
        .map(|f| promlite_rules::run_test_file_with(f, &options))
        .collect();
    for line in promlite_rules::report_lines(&reports) {
        println!("{line}");
    }
    if reports.iter().all(promlite_rules::TestReport::success) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn test_promql(skip_consistency_checks: bool, files: &[PathBuf]) -> ExitCode {
    let options = RunOptions {
        skip_consistency_checks,
        ..RunOptions::default()
    };
    let (mut passed, mut failed, mut broken) = (0, 0, false);
    for file in files {
        let report = run_file(file, &options);
        for line in report.failure_lines() {
            println!("{line}");
        }
        broken |= !report.errors.is_empty();
        println!(
            "{} {}: {} evals, {} failed",
            if report.failed() == 0 && report.errors.is_empty() {
                "ok  "
            } else {
                "FAIL"
            },
            file.display(),
            report.evals.len(),
            report.failed()
        );
        passed += report.passed();
        failed += report.failed();
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
