//! `promlite tsdb …` against `promtool tsdb …` (Prometheus 2.42) on the same data:
//! identical `list` and `dump` output on blocks promtool made, identical data from
//! `create-blocks-from openmetrics`, and the same `analyze` figures.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::peer;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn promlite() -> Command {
    Command::new(env!("CARGO_BIN_EXE_promlite"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
            let mut perms = std::fs::metadata(&dst).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&dst, perms).unwrap();
        }
    }
}

fn work(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("promlite-cli-tsdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/tsdb/"
);

#[test]
fn list_and_dump_match_promtool() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let dir = work("list");
    let data = dir.join("data");
    copy_dir(&Path::new(CONFORMANCE).join("promtool-2.42/data"), &data);
    // promtool's dump insists on a WAL directory.
    std::fs::create_dir_all(data.join("wal")).unwrap();
    for args in [
        &["tsdb", "list"][..],
        &["tsdb", "list", "-r"],
        &["tsdb", "dump"],
        &[
            "tsdb",
            "dump",
            "--match={job=\"web\",instance=~\"a|b\"}",
            "--min-time=1700000100000",
            "--max-time=1700000200000",
        ],
    ] {
        let ours = run(promlite().args(args).arg(&data));
        let theirs = run(Command::new(&promtool).args(args).arg(&data));
        assert_eq!(ours, theirs, "promlite {args:?} differs from promtool");
    }
    // analyze: the same figures (ties in promtool's lists are in random order, so the
    // lists are compared as sets).
    let ours = run(promlite().args(["tsdb", "analyze"]).arg(&data));
    let theirs = run(Command::new(&promtool).args(["tsdb", "analyze"]).arg(&data));
    let sorted = |s: &str| {
        let mut v: Vec<&str> = s.lines().collect();
        v.sort_unstable();
        v.join("\n")
    };
    assert_eq!(sorted(&ours), sorted(&theirs));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn create_blocks_from_openmetrics_matches_promtool() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let dir = work("create");
    let mut om = String::from("# HELP gen_total Generated.\n# TYPE gen_total counter\n");
    for i in 0..1500i64 {
        for s in 0..4 {
            // Spans three 2h ranges; families repeat per timestamp, as real dumps do.
            writeln!(
                om,
                "gen_total{{s=\"{s}\"}} {} {}",
                i * (s + 1),
                1_700_000_000 + i * 15
            )
            .unwrap();
        }
        writeln!(
            om,
            "gen_gauge {} {}",
            (i as f64).sin(),
            1_700_000_000 + i * 15
        )
        .unwrap();
    }
    om.push_str("# EOF\n");
    let input = dir.join("in.om");
    std::fs::write(&input, om).unwrap();
    let (ours, theirs) = (dir.join("ours"), dir.join("theirs"));
    let out = run(promlite()
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&ours));
    assert!(out.starts_with("BLOCK ULID"), "{out}");
    run(Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&theirs));
    std::fs::create_dir_all(ours.join("wal")).unwrap();
    std::fs::create_dir_all(theirs.join("wal")).unwrap();
    // Same blocks (time ranges, counts of samples and series) and the same samples, read
    // by promtool from both.
    let columns = |s: String| -> Vec<String> {
        s.lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {} {}", c[1], c[2], c[4], c[6])
            })
            .collect()
    };
    assert_eq!(
        columns(run(Command::new(&promtool)
            .args(["tsdb", "list"])
            .arg(&ours))),
        columns(run(Command::new(&promtool)
            .args(["tsdb", "list"])
            .arg(&theirs)))
    );
    assert_eq!(
        run(Command::new(&promtool).args(["tsdb", "dump"]).arg(&ours)),
        run(Command::new(&promtool).args(["tsdb", "dump"]).arg(&theirs))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn create_blocks_rejects_samples_without_timestamps() {
    let dir = work("nots");
    let input = dir.join("in.om");
    std::fs::write(&input, "a 1\n# EOF\n").unwrap();
    let out = promlite()
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected timestamp for series got none")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
