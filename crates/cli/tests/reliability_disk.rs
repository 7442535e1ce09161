//! A full disk and a read-only data directory under the real binary. The data
//! directory is a 1 MiB tmpfs mounted by the test (root and `mount` needed: without
//! them the test says so and passes, except under `PROMLITE_PEERS=1`, as in CI, where
//! it fails). The server scrapes a target and receives remote writes until the disk is
//! full; then remote writes are answered 500 with the operating system's error, failed
//! scrape appends are logged, and queries keep answering with every acknowledged
//! sample. Once space returns writes succeed again; after a SIGKILL and restart nothing
//! acknowledged is missing. On a read-only remount the server refuses to start, saying
//! why, and starts again once the mount is writable.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Proc, RW1_HEADERS, enc, free_port, http, now_ms, serve_target, try_post};
use promlite_remote::prompb;

#[path = "../../tsdb/tests/support/tmpfs.rs"]
mod tmpfs;
use tmpfs::Tmpfs;

/// One request: four lasting series and one new one per request, each with a 2 KiB
/// label, so that the series records fill the disk quickly.
fn request(i: u64, t: i64) -> Vec<u8> {
    let pad = "p".repeat(2048);
    let timeseries = (0..5)
        .map(|s| {
            let series = if s < 4 {
                s.to_string()
            } else {
                format!("new{i}")
            };
            prompb::TimeSeries {
                labels: vec![
                    prompb::Label {
                        name: "__name__".into(),
                        value: "disk_rw".into(),
                    },
                    prompb::Label {
                        name: "pad".into(),
                        value: pad.clone(),
                    },
                    prompb::Label {
                        name: "series".into(),
                        value: series,
                    },
                ],
                samples: vec![prompb::Sample {
                    value: i as f64,
                    timestamp: t,
                }],
                ..Default::default()
            }
        })
        .collect();
    promlite_remote::encode_write_request(&prompb::WriteRequest {
        timeseries,
        metadata: vec![],
    })
}

/// Every `(series, timestamp, value)` of `disk_rw` the server returns.
fn stored(port: u16) -> BTreeSet<(String, i64, u64)> {
    let (code, body) = http(
        port,
        &format!(
            "/api/v1/query?query={}&time={}",
            enc("disk_rw[1h]"),
            now_ms() / 1000 + 1
        ),
    )
    .expect("query answered");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = BTreeSet::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let name = s["metric"]["series"].as_str().unwrap().to_string();
        for p in s["values"].as_array().unwrap() {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            let x: f64 = p[1].as_str().unwrap().parse().unwrap();
            out.insert((name.clone(), t, x as u64));
        }
    }
    out
}

fn expand(acked: &[(u64, i64)]) -> BTreeSet<(String, i64, u64)> {
    acked
        .iter()
        .flat_map(|&(i, t)| {
            (0..5).map(move |s| {
                let name = if s < 4 {
                    s.to_string()
                } else {
                    format!("new{i}")
                };
                (name, t, i)
            })
        })
        .collect()
}

/// Acknowledged samples the server does not return (at most five, for the message).
fn missing(port: u16, acked: &[(u64, i64)]) -> Vec<(String, i64, u64)> {
    let have = stored(port);
    expand(acked).difference(&have).take(5).cloned().collect()
}

struct Server {
    proc: Proc,
    port: u16,
}

/// A target exposing the gauge `metric`, and under `dir` a configuration scraping it
/// every second and the path for the server's log.
fn scrape_config(dir: &Path, metric: &str) -> (PathBuf, PathBuf) {
    let body = format!("# TYPE {metric} gauge\n{metric} 1\n");
    let target = serve_target(move || body.clone());
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();
    (config, dir.join("server.log"))
}

/// A remote-write client that writes until stopped: the requests acknowledged with 204
/// are the oracle; every refusal must be a 500 that says why.
struct Writer {
    acked: Arc<Mutex<Vec<(u64, i64)>>>,
    refusals: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl Writer {
    fn start(port: u16) -> Writer {
        let acked: Arc<Mutex<Vec<(u64, i64)>>> = Arc::default();
        let refusals: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = std::thread::spawn({
            let (acked, refusals, stop) =
                (Arc::clone(&acked), Arc::clone(&refusals), Arc::clone(&stop));
            move || {
                let (mut i, mut last_t) = (0u64, 0i64);
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let t = now_ms().max(last_t + 1);
                    last_t = t;
                    let (code, body) = try_post(port, "/api/v1/write", RW1_HEADERS, &request(i, t))
                        .expect("the server answers while it cannot write");
                    let body = String::from_utf8_lossy(&body).into_owned();
                    if code == 204 {
                        acked.lock().unwrap().push((i, t));
                    } else {
                        assert_eq!(code, 500, "{body}");
                        refusals.lock().unwrap().push(body);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        });
        Writer {
            acked,
            refusals,
            stop,
            handle,
        }
    }

    /// Waits until the server refuses remote writes and fails scrape appends (in `log`),
    /// both saying `why`, and checks that everything acknowledged so far is answered
    /// (`context` names the episode in the failure). Returns the refusals so far.
    fn expect_refusals(&self, port: u16, log: &Path, why: &str, context: &str) -> usize {
        common::wait_for(Duration::from_mins(1), || {
            !self.refusals.lock().unwrap().is_empty()
        });
        let first = self.refusals.lock().unwrap()[0].clone();
        assert!(
            first.contains(why) && first.contains("wal"),
            "unclear refusal: {first}"
        );
        common::wait_for(Duration::from_mins(1), || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            text.lines()
                .any(|l| l.contains("appending scrape failed") && l.contains(why))
        });
        let snapshot = self.acked.lock().unwrap().clone();
        assert_eq!(
            missing(port, &snapshot),
            vec![],
            "acknowledged samples missing while {context}"
        );
        self.refusals.lock().unwrap().len()
    }

    /// Waits for 20 more acknowledged writes (the server can write again), stops the
    /// writer, and returns every acknowledged request and the number of refusals.
    fn finish_after_recovery(self) -> (Vec<(u64, i64)>, usize) {
        let before = self.acked.lock().unwrap().len();
        common::wait_for(Duration::from_mins(1), || {
            self.acked.lock().unwrap().len() > before + 20
        });
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap();
        let all = self.acked.lock().unwrap().clone();
        let refused = self.refusals.lock().unwrap().len();
        (all, refused)
    }
}

fn start(data: &Path, config: &Path, log: &Path) -> Server {
    let port = free_port();
    let proc = common::spawn_logged(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--config.file={}", config.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.tsdb.path={}", data.display()),
            "--web.enable-remote-write-receiver".into(),
        ],
        log,
    );
    common::wait_for(Duration::from_mins(1), || {
        http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    Server { proc, port }
}

#[test]
fn full_disk_and_read_only_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mnt"), "1m") else {
        return;
    };
    let data = fs.0.join("data");
    let (config, log) = scrape_config(dir.path(), "disk_target");
    let mut server = start(&data, &config, &log);
    let port = server.port;

    // A writer that keeps the disk full: acknowledged requests are the oracle, refusals
    // must be 500s that say why.
    let w = Writer::start(port);
    // While full: writes are refused and failed scrape appends logged, saying why, and
    // queries answer with everything acknowledged.
    let full_refusals =
        w.expect_refusals(port, &log, "No space left on device", "the disk is full");

    // Space returns: writes succeed again.
    fs.remount("size=64m");
    let (all, refused) = w.finish_after_recovery();
    assert_eq!(missing(port, &all), vec![], "after space returned");

    // Killed and restarted: nothing acknowledged is missing.
    server.proc.0.kill().unwrap();
    server.proc.0.wait().unwrap();
    let server2 = start(&data, &config, &log);
    assert_eq!(missing(server2.port, &all), vec![], "after a restart");
    drop(server2);
    drop(server);

    // Read-only: the server refuses to start and says why; writable again, it starts
    // and has everything.
    fs.remount("ro");
    let out = Command::new(env!("CARGO_BIN_EXE_promlite"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "started on a read-only data directory"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}", data.display())) && err.contains("Read-only file system"),
        "unclear error: {err}"
    );
    fs.remount("rw");
    let server3 = start(&data, &config, &log);
    assert_eq!(
        missing(server3.port, &all),
        vec![],
        "after the read-only episode"
    );
    drop(server3);
    eprintln!(
        "reliability_disk: {} requests acknowledged ({} samples), {} refused with ENOSPC ({full_refusals} before space returned), 0 lost; read-only start refused",
        all.len(),
        all.len() * 5,
        refused,
    );
}

/// `chattr` on every file and directory under `dir` (the immutable flag refuses writes
/// even to root and through descriptors opened before it was set).
fn chattr(flag: &str, dir: &Path) {
    let o = Command::new("chattr")
        .args(["-R", flag])
        .arg(dir)
        .output()
        .expect("chattr (e2fsprogs) runs");
    assert!(o.status.success(), "chattr {flag}: {o:?}");
}

/// Whether `chattr +i` works under `dir` and refuses writes through a descriptor opened
/// before it (ext4 does; tmpfs sets the flag but lets open descriptors write).
fn immutable_flag_enforced(dir: &Path) -> bool {
    use std::io::Write as _;
    let probe = dir.join("probe");
    let Ok(mut f) = std::fs::File::create(&probe) else {
        return false;
    };
    let set = Command::new("chattr")
        .arg("+i")
        .arg(&probe)
        .output()
        .is_ok_and(|o| o.status.success());
    let refused = set && f.write_all(b"x").and_then(|()| f.sync_all()).is_err();
    let _ = Command::new("chattr").arg("-i").arg(&probe).output();
    let _ = std::fs::remove_file(&probe);
    refused
}

/// The data directory stops accepting writes while the server runs — its WAL made
/// immutable, as a read-only remount would (a mount cannot be remounted read-only while
/// files are open for writing) — and accepts them again later. It runs where the
/// filesystem enforces the flag on open descriptors (ext4, where the temporary
/// directory lives here); elsewhere it says so and passes. Meanwhile writes are
/// refused with the operating system's error and queries answer with everything
/// acknowledged; afterwards writes succeed, and after a SIGKILL and restart nothing
/// acknowledged is missing.
#[test]
fn data_dir_becoming_unwritable_while_running() {
    let dir = tempfile::tempdir().unwrap();
    if !immutable_flag_enforced(dir.path()) {
        eprintln!(
            "chattr +i is not enforced on open files under {}; unwritable-WAL test not run",
            dir.path().display()
        );
        return;
    }
    let data = dir.path().join("data");
    let (config, log) = scrape_config(dir.path(), "ro_target");
    let mut server = start(&data, &config, &log);
    let port = server.port;
    let w = Writer::start(port);
    common::wait_for(Duration::from_mins(1), || {
        w.acked.lock().unwrap().len() > 20
    });

    let wal = data.join("wal");
    chattr("+i", &wal);
    // The refusal and the scrape's failed append say why, and nothing acknowledged is
    // missing.
    let refused = w.expect_refusals(
        port,
        &log,
        "Operation not permitted",
        "the WAL is unwritable",
    );

    chattr("-i", &wal);
    let (all, _) = w.finish_after_recovery();
    assert_eq!(
        missing(port, &all),
        vec![],
        "after writes were allowed again"
    );

    server.proc.0.kill().unwrap();
    server.proc.0.wait().unwrap();
    let server2 = start(&data, &config, &log);
    assert_eq!(missing(server2.port, &all), vec![], "after a restart");
    drop(server2);
    drop(server);
    eprintln!(
        "reliability_disk (unwritable WAL): {} requests acknowledged ({} samples), {refused} refused while unwritable, 0 lost",
        all.len(),
        all.len() * 5,
    );
}
