//! `--web.config.file` end to end: `promlite check web-config` against `promtool check
//! web-config` (Debian's, when installed; required under `PROMLITE_PEERS=1`), and the
//! server serving TLS with it — or refusing to start with a bad one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, http};

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/data")
}

/// Good and bad web configurations, with their certificates beside them.
fn files(dir: &Path) -> Vec<(PathBuf, bool)> {
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::copy(certs().join(f), dir.join(f)).unwrap();
    }
    [
        ("tls.good.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n", true),
        (
            "mtls.good.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
            true,
        ),
        ("headers.good.yml", "http_server_config:\n  headers:\n    X-Frame-Options: deny\n", true),
        ("empty.good.yml", "", true),
        ("nokey.bad.yml", "tls_server_config:\n  cert_file: server.crt\n", false),
        ("nocert.bad.yml", "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n", false),
        ("auth.bad.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n", false),
        ("ca.bad.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n", false),
        ("hash.bad.yml", "basic_auth_users:\n  alice: plain\n", false),
        ("unknown.bad.yml", "tls_config: {}\n", false),
        ("header.bad.yml", "http_server_config:\n  headers:\n    Server: me\n", false),
    ]
    .into_iter()
    .map(|(name, yaml, good)| {
        let p = dir.join(name);
        std::fs::write(&p, yaml).unwrap();
        (p, good)
    })
    .collect()
}

fn check(bin: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(["check", "web-config"])
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_web_config_agrees_with_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let promlite = Path::new(env!("CARGO_BIN_EXE_promlite"));
    let promtool = common::peer("promtool");
    for (file, good) in files(dir.path()) {
        let (ok, text) = check(promlite, &file);
        assert_eq!(ok, good, "{}: {text}", file.display());
        let verdict = if good { "SUCCESS" } else { "FAILED:" };
        assert!(
            text.starts_with(&format!("{} {verdict}", file.display())),
            "{text}"
        );
        if let Some(promtool) = &promtool {
            let (theirs, their_text) = check(promtool, &file);
            assert_eq!(
                ok,
                theirs,
                "{}: promlite {text:?}, promtool {their_text:?}",
                file.display()
            );
        }
    }
}

#[test]
fn server_serves_tls_and_refuses_a_bad_web_config() {
    let dir = tempfile::tempdir().unwrap();
    let all = files(dir.path());
    let good = &all[0].0;
    let port = free_port();
    let mut server = common::spawn(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--web.config.file={}", good.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        ],
    );
    // Listening, but plain HTTP gets no HTTP answer: the port speaks TLS.
    let deadline = Instant::now() + Duration::from_mins(1);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.0.try_wait().unwrap().is_none(), "server exited");
    assert_eq!(http(port, "/-/ready"), None);
    drop(server);

    let bad = &all[4].0;
    let out = Command::new(env!("CARGO_BIN_EXE_promlite"))
        .arg(format!("--web.config.file={}", bad.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data2").display()
        ))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing one of key or key_file"), "{err}");
}
