//! Runs promqltest scripts given on the command line and prints one line per failing
//! eval and an `N passed, M failed` total (a preview of `promlite test promql`).

use promlite_promql::promqltest::{RunOptions, run_file};

fn main() {
    let opts = RunOptions::default();
    let (mut passed, mut failed) = (0, 0);
    for path in std::env::args().skip(1) {
        let report = run_file(&path, &opts);
        for line in report.failure_lines() {
            println!("{line}");
        }
        passed += report.passed();
        failed += report.failed();
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
