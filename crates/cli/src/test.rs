//! `promlite test promql FILE...`: runs PromQL test scripts (Prometheus's `promqltest`
//! language) and reports like a test runner: one line per failing eval (`file:line:
//! expression: expected … got …`), one summary line per file, and last, exactly `N passed,
//! M failed` counting eval commands. Exit status 1 if anything failed.

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
}

pub(crate) fn run(cmd: TestCommand) -> ExitCode {
    let TestCommand::Promql {
        skip_consistency_checks,
        files,
    } = cmd;
    let options = RunOptions {
        skip_consistency_checks,
        ..RunOptions::default()
    };
    let (mut passed, mut failed, mut broken) = (0, 0, false);
    for file in &files {
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
