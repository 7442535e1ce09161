//! `promlite check metrics` against the real `promtool check metrics` (Prometheus 2.42,
//! Debian's package) on the same input: the same lint lines (both print them on standard
//! error) and the same exit code. Inputs: the conformance files, a live scrape of a real
//! node_exporter started on a free loopback port, and broken files.
//!
//! The peers are used when installed; with `PROMLITE_PEERS=1` (CI) a missing peer fails.

mod common;

use common::peer;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` with `input` on standard input: exit code, standard output, standard error.
fn run(cmd: &mut Command, input: &[u8]) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn promtool_check(promtool: &Path, input: &[u8]) -> (i32, String, String) {
    run(Command::new(promtool).args(["check", "metrics"]), input)
}

fn promlite_check(input: &[u8]) -> (i32, String, String) {
    run(
        Command::new(env!("CARGO_BIN_EXE_promlite")).args(["check", "metrics"]),
        input,
    )
}

fn compare(promtool: &Path, name: &str, input: &[u8]) {
    let (pt_code, pt_out, pt_err) = promtool_check(promtool, input);
    let (pl_code, pl_out, pl_err) = promlite_check(input);
    assert_eq!(
        pl_code, pt_code,
        "{name}: exit code (promtool printed:\n{pt_err}\nwe printed:\n{pl_err})"
    );
    assert_eq!(
        pl_out, pt_out,
        "{name}: standard output differs from promtool's"
    );
    assert_eq!(
        pl_err, pt_err,
        "{name}: lint output differs from promtool's"
    );
}

fn conformance(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/exposition")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn same_verdicts_as_promtool_on_files() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    compare(
        &promtool,
        "node_exporter-1.5",
        &conformance("real/node_exporter-1.5.prom"),
    );
    compare(
        &promtool,
        "alltypes",
        &conformance("alltypes.237mfs.prom.txt"),
    );
    let cases: &[(&str, &str)] = &[
        (
            "clean",
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\n",
        ),
        ("no help", "# TYPE x_total counter\nx_total 1\n"),
        (
            "counter without _total",
            "# HELP x Things.\n# TYPE x counter\nx 1\n",
        ),
        (
            "camelCase",
            "# HELP fooBar_total x\n# TYPE fooBar_total counter\nfooBar_total 1\n",
        ),
        (
            "milliseconds",
            "# HELP req_milliseconds x\n# TYPE req_milliseconds gauge\nreq_milliseconds 1\n",
        ),
        // expfmt's leniencies, which strict mode accepts too.
        ("HELP without text is no help", "# HELP m\nm 1\n"),
        ("TYPE in upper case", "# TYPE m COUNTER\nm 1\n"),
        ("TYPE without a type", "# TYPE m\n# TYPE m gauge\nm 1\n"),
        (
            "families may interleave",
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",
        ),
        ("value right after the braces", "m{a=\"b\"}1\n"),
        (
            "blanks before the braces and a trailing comma",
            "m {a=\"b\",} 1\n",
        ),
        ("leading blanks", "  m 1\n"),
        ("keyword without a space after #", "#HELP m x\nm 1\n"),
        (
            "HELP or TYPE alone is no family",
            "# HELP m x\n# TYPE n counter\n",
        ),
        (
            "_total of a counter is its own family",
            "# TYPE x counter\nx_total 1\n",
        ),
        (
            "_count of a summary folds into it",
            "# TYPE m summary\n# HELP m_count x\nm_count 1\n",
        ),
        (
            "U+FFFD in HELP and a comment",
            "# HELP m \u{fffd}\n# \u{fffd}\nm 1\n",
        ),
        (
            "overflowing timestamp bound",
            "# HELP m_total x\n# TYPE m_total counter\nm_total{a=\"1\"} 1 -9223372036854775808\n",
        ),
        (
            "values Go spells its way",
            "m inf\nn -infinity\no nan\np 1.\nq -.5e-3\nr 1e-400\n",
        ),
        ("empty input", ""),
    ];
    for (name, input) in cases {
        compare(&promtool, name, input.as_bytes());
    }
    // Not UTF-8 in HELP text and a comment: expfmt checks only label values.
    compare(
        &promtool,
        "raw invalid UTF-8 in HELP",
        b"# HELP m \xff\n# \xfe\nm 1\n",
    );
}

/// Broken input: promtool and promlite both exit 1, and name the same problem on the same
/// line. Each row is the input, the phrase in promtool's message (after `text format
/// parsing error in line N:`) and the phrase in ours (after `LINE:COL:`); the wording
/// differs where ours follows Prometheus's scrape parser. Found by running promtool 2.42.
#[test]
fn broken_input_fails_like_promtool() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let cases: &[(&[u8], &str, &str)] = &[
        (
            b"m{a=\"\\q\"} 1\n",
            "invalid escape sequence '\\q'",
            "invalid escape sequence '\\q'",
        ),
        (
            b"# HELP m a \\q b\nm 1\n",
            "invalid escape sequence '\\q'",
            "invalid escape sequence '\\q'",
        ),
        (
            b"# HELP m a \\\" b\nm 1\n",
            "invalid escape sequence '\\\"'",
            "invalid escape sequence '\\\"'",
        ),
        (
            b"# HELP m one\n# HELP m two\nm 1\n",
            "second HELP line for metric name \"m\"",
            "duplicate HELP for metric family \"m\"",
        ),
        (
            b"# TYPE m gauge\n# TYPE m gauge\nm 1\n",
            "second TYPE line for metric name \"m\"",
            "duplicate TYPE for metric family \"m\"",
        ),
        (
            b"m 1\n# TYPE m gauge\n",
            "or TYPE reported after samples",
            "TYPE for metric family \"m\" after its samples",
        ),
        (
            b"# TYPE m summary\nm_count 1\n# TYPE m_count gauge\n",
            "second TYPE line for metric name \"m\"",
            "duplicate TYPE for metric family \"m\"",
        ),
        (
            b"# TYPE m summary\n# HELP m x\n# HELP m_sum y\nm 1\n",
            "second HELP line for metric name \"m\"",
            "duplicate HELP for metric family \"m\"",
        ),
        (
            b"m 1 1.5\n",
            "expected integer as timestamp, got \"1.5\"",
            "invalid timestamp \"1.5\"",
        ),
        (
            b"m NaN 9223372036854775808\n",
            "expected integer as timestamp",
            "invalid timestamp \"9223372036854775808\"",
        ),
        (
            b"m 1 \n",
            "expected integer as timestamp, got \"\"",
            "invalid timestamp \"\"",
        ),
        (
            b"m 1 2 3\n",
            "spurious string after timestamp",
            "after timestamp",
        ),
        (
            b"m{a=\"b\"} 1 2 \n",
            "spurious string after timestamp",
            "after timestamp",
        ),
        (
            b"m{a=\"b\" 1\n",
            "unexpected end of label value",
            "expected comma or brace close",
        ),
        (
            b"# TYPE m bogus\nm 1\n",
            "unknown metric type \"bogus\"",
            "invalid metric type \"bogus\"",
        ),
        (
            b"# TYPE m gauge \nm 1\n",
            "unknown metric type \"gauge \"",
            "invalid metric type \"gauge \"",
        ),
        (
            b"m abc\n",
            "expected float as value, got \"abc\"",
            "invalid float \"abc\"",
        ),
        (
            b"m 1e400\n",
            "expected float as value, got \"1e400\"",
            "invalid float \"1e400\"",
        ),
        (
            b"m 1_0\n",
            "expected float as value, got \"1_0\"",
            "unsupported character in float \"1_0\"",
        ),
        (
            b"m 1\r\n",
            "expected float as value",
            "invalid float \"1\\r\"",
        ),
        (
            b"m{a=\"b\"}\n",
            "expected float as value, got \"\"",
            "expected value after metric",
        ),
        (
            b"m{__name__=\"x\"} 1\n",
            "label name \"__name__\" is reserved",
            "label name \"__name__\" is reserved",
        ),
        (
            b"m{a=\"1\",a=\"2\"} 1\n",
            "duplicate label names",
            "duplicate label name \"a\"",
        ),
        (
            b"m{a=\"1\nb\"} 1\n",
            "contains unescaped new-line",
            "expected label value",
        ),
        (
            b"m{a=b} 1\n",
            "at start of label value",
            "expected label value",
        ),
        (
            b"m{a!=\"b\"} 1\n",
            "expected '=' after label name",
            "expected equal",
        ),
        (
            b"m{1a=\"b\"} 1\n",
            "invalid label name",
            "expected label name",
        ),
        (
            b"m{\"a\"=\"b\"} 1\n",
            "invalid label name",
            "invalid label name",
        ),
        (
            b"{a=\"b\"} 1\n",
            "invalid metric name",
            "metric name not set",
        ),
        (b"{\"m\"} 1\n", "invalid metric name", "metric name not set"),
        (
            b"# HELP 1m x\n",
            "invalid metric name in comment",
            "invalid metric name in comment",
        ),
        (
            b"# HELP \"m\" x\nm 1\n",
            "invalid metric name in comment",
            "invalid metric name in comment",
        ),
        (
            b"# TYPE m summary\nm{quantile=\"x\"} 1\n",
            "expected float as value for 'quantile' label",
            "expected float as value for 'quantile' label",
        ),
        (
            b"# TYPE m histogram\nm_bucket{le=\"x\"} 1\n",
            "expected float as value for 'le' label",
            "expected float as value for 'le' label",
        ),
        (
            b"m 1",
            "unexpected end of input stream",
            "unexpected end of input stream",
        ),
        (b"m{a=\"\xff\"} 1\n", "invalid label value", "invalid UTF-8"),
    ];
    for &(input, theirs, ours) in cases {
        let shown = String::from_utf8_lossy(input);
        let (pt, _, pt_err) = promtool_check(&promtool, input);
        let (pl, _, pl_err) = promlite_check(input);
        assert_eq!(
            (pl, pt),
            (1, 1),
            "exit codes for {shown:?}: promtool printed {pt_err:?}, we printed {pl_err:?}"
        );
        assert!(
            pt_err.contains(theirs),
            "promtool's message for {shown:?} is {pt_err:?}, expected it to say {theirs:?}"
        );
        assert!(
            pl_err.contains(ours),
            "our message for {shown:?} is {pl_err:?}, expected it to say {ours:?}"
        );
        let pt_line = pt_err
            .split("in line ")
            .nth(1)
            .and_then(|r| r.split(':').next());
        let pl_line = pl_err
            .strip_prefix("error while linting: ")
            .and_then(|r| r.split(':').next());
        assert_eq!(
            pl_line, pt_line,
            "line of the error for {shown:?}: promtool {pt_err:?}, ours {pl_err:?}"
        );
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scrape(port: u16) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n"
    )
    .ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    resp.starts_with(b"HTTP/1.0 200")
        .then(|| resp[split + 4..].to_vec())
}

#[test]
fn same_verdicts_as_promtool_on_a_live_node_exporter() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let Some(exporter) = peer("prometheus-node-exporter") else {
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _child = Killed(
        Command::new(exporter)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node_exporter"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Some(b) = scrape(port) {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "node_exporter did not answer on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.len() > 1000, "suspiciously small scrape");
    compare(&promtool, "live node_exporter", &body);
}
