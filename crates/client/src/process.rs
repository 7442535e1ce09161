//! [`ProcessCollector`]: the process metrics every Prometheus client library exposes,
//! read from `/proc/self` on Linux.

use std::path::PathBuf;

use promlite_model::{Labels, MetricType};

use crate::collect::{Collector, MetricFamily, MetricPoint, MetricValue};

/// Linux reports CPU times and start times in clock ticks of `USER_HZ`, which is 100 on
/// every architecture Linux supports (the kernel fixes it for user space).
const USER_HZ: f64 = 100.0;

/// Collects `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_virtual_memory_max_bytes`,
/// `process_open_fds`, `process_max_fds` and `process_start_time_seconds`, with the
/// names and meanings of Prometheus's client libraries, from `/proc/self/stat`,
/// `/proc/self/status`, `/proc/self/limits`, `/proc/self/fd` and `/proc/stat`.
///
/// Each file is read on every collection; a file that cannot be read or parsed (another
/// operating system, a sandbox) leaves out the metrics it feeds instead of failing the
/// collection.
///
/// ```
/// use promlite_client::{ProcessCollector, Registry};
///
/// let registry = Registry::new();
/// registry.register_collector(ProcessCollector::new());
/// let names: Vec<String> = registry.collect().into_iter().map(|f| f.name).collect();
/// if cfg!(target_os = "linux") {
///     assert!(names.contains(&"process_cpu_seconds".to_string()));
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    proc_root: PathBuf,
    pid: String,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl ProcessCollector {
    /// A collector for the current process.
    pub fn new() -> Self {
        ProcessCollector {
            proc_root: PathBuf::from("/proc"),
            pid: "self".to_owned(),
        }
    }

    /// A collector reading another process (`pid`) under another procfs mount (tests use
    /// a fixture directory).
    pub fn for_pid(proc_root: impl Into<PathBuf>, pid: u32) -> Self {
        ProcessCollector {
            proc_root: proc_root.into(),
            pid: pid.to_string(),
        }
    }

    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.proc_root.join(&self.pid).join(file)).ok()
    }
}

/// The fields of `/proc/<pid>/stat` after the command name: `fields[0]` is field 3
/// (state) of proc(5).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    // The command name is in parentheses and may itself contain spaces and parentheses,
    // so the fields start after the last `)`.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    Some(rest.split_ascii_whitespace().collect())
}

fn field<T: std::str::FromStr>(fields: &[&str], proc5_number: usize) -> Option<T> {
    fields.get(proc5_number.checked_sub(3)?)?.parse().ok()
}

/// A `Key:   value kB` line of `/proc/<pid>/status`, in bytes.
fn status_bytes(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let mut parts = line.get(key.len()..)?.split_ascii_whitespace();
    let v: f64 = parts.next()?.parse().ok()?;
    Some(match parts.next() {
        Some("kB") => v * 1024.0,
        _ => v,
    })
}

/// The soft limit of a `/proc/<pid>/limits` row (`unlimited` is +Inf).
fn soft_limit(limits: &str, row: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with(row))?;
    let soft = line.get(row.len()..)?.split_ascii_whitespace().next()?;
    if soft == "unlimited" {
        Some(f64::INFINITY)
    } else {
        soft.parse().ok()
    }
}

fn gauge(name: &str, help: &str, unit: &str, v: f64) -> MetricFamily {
    MetricFamily {
        name: name.to_owned(),
        help: help.to_owned(),
        unit: unit.to_owned(),
        metric_type: MetricType::Gauge,
        points: vec![MetricPoint {
            labels: Labels::empty(),
            value: MetricValue::Gauge(v),
        }],
    }
}

impl Collector for ProcessCollector {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let stat = self.read("stat");
        let fields = stat.as_deref().and_then(stat_fields).unwrap_or_default();
        let ticks = |n| field::<u64>(&fields, n);
        if let (Some(utime), Some(stime)) = (ticks(14), ticks(15)) {
            out.push(MetricFamily {
                name: "process_cpu_seconds".to_owned(),
                help: "CPU time the process has spent in user and system mode, in seconds."
                    .to_owned(),
                unit: "seconds".to_owned(),
                metric_type: MetricType::Counter,
                points: vec![MetricPoint {
                    labels: Labels::empty(),
                    value: MetricValue::Counter {
                        value: (utime + stime) as f64 / USER_HZ,
                        created: None,
                        exemplar: None,
                    },
                }],
            });
        }
        if let Some(vsize) = field::<f64>(&fields, 23) {
            out.push(gauge(
                "process_virtual_memory_bytes",
                "Size of the process's virtual address space, in bytes.",
                "bytes",
                vsize,
            ));
        }
        if let Some(rss) = self.read("status").and_then(|s| status_bytes(&s, "VmRSS:")) {
            out.push(gauge(
                "process_resident_memory_bytes",
                "Memory of the process resident in RAM, in bytes.",
                "bytes",
                rss,
            ));
        }
        let boot = std::fs::read_to_string(self.proc_root.join("stat"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())
            });
        if let (Some(boot), Some(start)) = (boot, ticks(22)) {
            out.push(gauge(
                "process_start_time_seconds",
                "When the process started, in seconds since the Unix epoch.",
                "seconds",
                boot + start as f64 / USER_HZ,
            ));
        }
        if let Ok(dir) = std::fs::read_dir(self.proc_root.join(&self.pid).join("fd")) {
            out.push(gauge(
                "process_open_fds",
                "File descriptors the process has open.",
                "",
                dir.count() as f64,
            ));
        }
        if let Some(limits) = self.read("limits") {
            if let Some(n) = soft_limit(&limits, "Max open files") {
                out.push(gauge(
                    "process_max_fds",
                    "The most file descriptors the process may open.",
                    "",
                    n,
                ));
            }
            if let Some(n) = soft_limit(&limits, "Max address space") {
                out.push(gauge(
                    "process_virtual_memory_max_bytes",
                    "The largest virtual address space the process may have, in bytes.",
                    "bytes",
                    n,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 500 104857600 2560 18446744073709551615";
        let f = stat_fields(stat).unwrap();
        assert_eq!(field::<u64>(&f, 14), Some(250));
        assert_eq!(field::<u64>(&f, 15), Some(50));
        assert_eq!(field::<u64>(&f, 22), Some(500));
        assert_eq!(field::<f64>(&f, 23), Some(104_857_600.0));
        assert_eq!(
            status_bytes("Name:\tx\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2_097_152.0)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n\
                      Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(soft_limit(limits, "Max open files"), Some(1024.0));
        assert_eq!(soft_limit(limits, "Max address space"), Some(f64::INFINITY));
    }

    #[test]
    fn fixture_directory() {
        let dir = std::env::temp_dir().join(format!("promlite-client-proc-{}", std::process::id()));
        let pid = dir.join("42");
        std::fs::create_dir_all(pid.join("fd")).unwrap();
        std::fs::write(dir.join("stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
        std::fs::write(
            pid.join("stat"),
            "42 (x) S 1 1 1 0 -1 0 0 0 0 0 100 100 0 0 20 0 1 0 200 4096 1",
        )
        .unwrap();
        std::fs::write(pid.join("fd").join("0"), "").unwrap();
        let mut out = Vec::new();
        ProcessCollector::for_pid(&dir, 42).collect(&mut out);
        let get = |n: &str| {
            out.iter()
                .find(|f| f.name == n)
                .map(|f| f.points[0].value.clone())
        };
        assert_eq!(
            get("process_cpu_seconds"),
            Some(MetricValue::Counter {
                value: 2.0,
                created: None,
                exemplar: None
            })
        );
        assert_eq!(
            get("process_start_time_seconds"),
            Some(MetricValue::Gauge(1_700_000_002.0))
        );
        assert_eq!(get("process_open_fds"), Some(MetricValue::Gauge(1.0)));
        assert_eq!(get("process_resident_memory_bytes"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
