//! Crash safety: a writer process is killed with SIGKILL at random moments, over and
//! over; after each kill the store must open, and every sample whose commit the writer
//! acknowledged must be there, with no gaps.
//!
//! The writer is this same test binary re-run with `PROMLITE_CRASH_WRITER` set: it then
//! runs [`writer`] instead of returning at once.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use promlite_model::{Labels, Matcher};
use promlite_storage::{Appendable, Queryable, SeriesRef, collect_samples};
use promlite_tsdb::Head;
use promlite_tsdb::wal::WalOptions;

const SERIES: usize = 50;

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "crash_test"), ("series", &i.to_string())])
}

fn open(dir: &Path) -> Head {
    Head::open(
        &promlite_tsdb::HeadOptions::default(),
        dir,
        WalOptions::default(),
    )
    .expect("the store must open after a crash")
}

/// Per series, the timestamps stored.
fn contents(head: &Head) -> Vec<Vec<i64>> {
    let q = head.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = vec![Vec::new(); SERIES];
    for s in q.select(false, None, &[Matcher::equal("__name__", "crash_test")]) {
        let s = s.unwrap();
        let i: usize = s.labels().get("series").unwrap().parse().unwrap();
        out[i] = collect_samples(&*s).iter().map(|x| x.t).collect();
    }
    out
}

/// The writer: continues after whatever survived, acknowledging each commit on stdout.
#[test]
fn writer() {
    let Ok(dir) = std::env::var("PROMLITE_CRASH_WRITER") else {
        return;
    };
    let head = open(Path::new(&dir));
    let start = contents(&head).iter().map(Vec::len).min().unwrap_or(0) as i64;
    let refs: Vec<Labels> = (0..SERIES).map(labels).collect();
    for round in start.. {
        let mut app = head.appender();
        for l in &refs {
            // Series that got ahead in an unacknowledged commit are skipped by the store.
            let _ = app.append(SeriesRef::NONE, l, round, round as f64);
        }
        app.commit().unwrap();
        println!("{round}");
    }
}

#[test]
fn sigkill_loses_no_acknowledged_sample() {
    let dir = std::env::temp_dir().join(format!("promlite-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap();
    let mut seed = u64::from(std::process::id()) | 1;
    let mut acked: i64 = -1;
    for kill in 0..15 {
        let mut child = Command::new(&exe)
            .args(["--exact", "writer", "--nocapture", "--test-threads=1"])
            .env("PROMLITE_CRASH_WRITER", &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait_for = 1 + (seed % 40) as usize;
        let mut seen = 0;
        for line in out.lines() {
            let Ok(line) = line else { break };
            if let Ok(r) = line.trim().parse::<i64>() {
                acked = acked.max(r);
                seen += 1;
                if seen == wait_for {
                    break;
                }
            }
        }
        // The writer is mid-way through later commits now: kill it there.
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(seen > 0, "writer {kill} acknowledged nothing");

        let head = open(&dir);
        for (i, ts) in contents(&head).iter().enumerate() {
            let n = ts.len() as i64;
            assert!(
                n > acked,
                "kill {kill}: series {i} has {n} samples, {} were acknowledged",
                acked + 1
            );
            assert!(
                ts.iter().copied().eq(0..n),
                "kill {kill}: series {i} has gaps"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
