//! `promlite test rules` on promtool's own unit-test files: the verdict per file (and,
//! with Debian's promtool installed, the same exit status for the files 2.42 can read),
//! promtool's report shape, and the last line `N passed, M failed`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn conformance(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/rules")
        .join(name)
}

fn run(bin: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(["test", "rules"])
        .arg(file)
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn unit_tests_pass_and_fail_like_promtool() {
    let promlite = Path::new(env!("CARGO_BIN_EXE_promlite"));
    let promtool = common::peer("promtool");
    // (file, passes, whether promtool 2.42 understands the file)
    for (name, passes, v242) in [
        ("at-modifier-test.yml", true, true),
        ("long-period.yml", true, true),
        ("negative-offset-test.yml", true, true),
        ("unittest.yml", true, false),
        ("failing.yml", false, true),
        ("bad-input-series.yml", false, true),
        ("bad-promql.yml", false, true),
        ("bad-rules-error-test.yml", false, true),
        ("bad-rules-syntax-test.yml", false, true),
    ] {
        let file = conformance(name);
        let (ok, out) = run(promlite, &file);
        assert_eq!(ok, passes, "{name}:\n{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("Unit Testing:  "), "{out}");
        assert_eq!(
            lines[1],
            if passes { "  SUCCESS" } else { "  FAILED:" },
            "{out}"
        );
        let last = lines.last().unwrap();
        let (p, f) = last
            .split_once(" passed, ")
            .and_then(|(p, f)| {
                Some((
                    p.parse::<usize>().ok()?,
                    f.strip_suffix(" failed")?.parse::<usize>().ok()?,
                ))
            })
            .unwrap_or_else(|| panic!("last line {last:?}"));
        assert_eq!(f == 0, passes, "{name}: {last}");
        assert!(p + f > 0, "{name}: {last}");
        if let (Some(promtool), true) = (&promtool, v242) {
            let (theirs, their_out) = run(promtool, &file);
            assert_eq!(ok, theirs, "{name}: promtool says\n{their_out}");
        }
    }
}
