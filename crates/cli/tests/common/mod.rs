//! Helpers shared by the CLI's integration tests. Each test file uses a subset.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of a peer program (promtool, node_exporter …) from Debian's packages, if
/// installed. Under `PROMLITE_PEERS=1` (CI) a missing peer fails the test instead.
pub(crate) fn peer(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    assert!(
        found.is_some() || std::env::var("PROMLITE_PEERS").as_deref() != Ok("1"),
        "peer {name} is not installed but PROMLITE_PEERS=1"
    );
    if found.is_none() {
        eprintln!(
            "peer {name} not installed; comparison not run (set PROMLITE_PEERS=1 to require it)"
        );
    }
    found
}

/// A child process, killed when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn http(port: u16, target: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((code, body))
}

pub(crate) fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}

pub(crate) fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn spawn(bin: &Path, args: &[String]) -> Proc {
    Proc(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A POST with a binary body to a server that may be gone: `None` when the connection
/// fails or breaks (the request may or may not have been applied), else the status and
/// body bytes.
pub(crate) fn try_post(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.extend([k, ": ", v, "\r\n"]);
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(resp.get(9..12)?).ok()?.parse().ok()?;
    let head = String::from_utf8_lossy(&resp[..split]).to_ascii_lowercase();
    let body = resp[split + 4..].to_vec();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&String::from_utf8_lossy(&body)).into_bytes()
    } else {
        body
    };
    Some((status, body))
}

/// The headers of a remote write 1.0 request.
pub(crate) const RW1_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// A small deterministic generator (xorshift64*), so "random" fault moments and
/// mutations are the same on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// Serves `body` as a scrape target on a free port from a background thread, for as
/// long as the process runs. `body` is called for every scrape.
pub(crate) fn serve_target(body: impl Fn() -> String + Send + 'static) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let text = body();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    port
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// [`spawn`] with the child's standard error written to `log`, for tests that check
/// what the server logged.
pub(crate) fn spawn_logged(bin: &Path, args: &[String], log: &Path) -> Proc {
    Proc(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Starts the promlite binary on a free port with `--config.file=config` and
/// `--storage.tsdb.path=data` plus `extra`, and waits until it is ready (plain HTTP).
pub(crate) fn start_promlite(config: &Path, data: &Path, extra: &[String]) -> (Proc, u16) {
    let port = free_port();
    let mut args = vec![
        format!("--config.file={}", config.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        format!("--storage.tsdb.path={}", data.display()),
    ];
    args.extend(extra.iter().cloned());
    let p = spawn(Path::new(env!("CARGO_BIN_EXE_promlite")), &args);
    wait_for(Duration::from_mins(1), || {
        http(port, "/-/ready").is_some_and(|(c, _)| c == 200)
    });
    (p, port)
}

/// Copies the web tests' CA, server certificate (127.0.0.1, localhost) and key into
/// `dir`; returns the CA's path.
pub(crate) fn tls_files(dir: &Path) -> PathBuf {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/data");
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::copy(certs.join(f), dir.join(f)).unwrap();
    }
    dir.join("ca.crt")
}

/// A GET of `https://127.0.0.1:{port}{path}` with curl trusting `ca` (and `user:pass`
/// when given): the body of a 2xx answer, else `None`.
pub(crate) fn curl_https(
    curl: &Path,
    ca: &Path,
    user: Option<&str>,
    port: u16,
    path: &str,
) -> Option<String> {
    let mut c = Command::new(curl);
    c.args(["-s", "--fail", "--cacert"]).arg(ca);
    if let Some(u) = user {
        c.args(["-u", u]);
    }
    let out = c
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
