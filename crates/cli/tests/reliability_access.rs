//! Access control of the real binary, seen by a real client (curl, from Debian; required
//! under `PROMLITE_PEERS=1`): with `--web.config.file` the server speaks only TLS with
//! its certificate, asks for basic authentication checked against a bcrypt hash, and
//! even an authenticated client finds the admin and lifecycle endpoints off, as they
//! are by default.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, http};

/// bcrypt (cost 10) of `s3cret`, made with the `bcrypt` crate the server verifies with.
const HASH: &str = "$2b$10$hDyzu5baeMCzg9TSvdwtm.5pubclFZAPBSBTfUshPvZzcDJkNIcY.";

/// Runs curl; returns its exit code, the HTTP status it saw (0 if none) and the body.
fn curl(curl: &Path, args: &[&str], url: &str) -> (i32, u16, String) {
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

#[test]
fn tls_and_bcrypt_basic_auth_with_a_real_client_admin_and_lifecycle_off() {
    let Some(curl_bin) = common::peer("curl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/data");
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::copy(certs.join(f), dir.path().join(f)).unwrap();
    }
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: {HASH}\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let mut server = common::spawn(
        Path::new(env!("CARGO_BIN_EXE_promlite")),
        &[
            format!("--web.config.file={}", web.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        ],
    );
    let ca = dir.path().join("ca.crt");
    let ca = ca.to_str().unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let authed = ["--cacert", ca, "-u", "alice:s3cret"];
    // Ready once curl gets through TLS and authentication.
    let deadline = Instant::now() + Duration::from_mins(1);
    while curl(&curl_bin, &authed, &format!("{base}/-/ready")).1 != 200 {
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "server exited on start"
        );
        assert!(Instant::now() < deadline, "server not ready over TLS");
        std::thread::sleep(Duration::from_millis(100));
    }

    let query = format!("{base}/api/v1/query?query=vector(1)");
    let (_, code, body) = curl(&curl_bin, &authed, &query);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""status":"success""#), "{body}");

    // Without credentials, or with wrong ones: 401, with a challenge.
    for args in [
        &["--cacert", ca][..],
        &["--cacert", ca, "-u", "alice:wrong"][..],
        &["--cacert", ca, "-u", "mallory:s3cret"][..],
    ] {
        let (_, code, body) = curl(&curl_bin, args, &query);
        assert_eq!(code, 401, "{args:?}: {body}");
        assert!(!body.contains("success"), "{args:?}: {body}");
    }
    let out = Command::new(&curl_bin)
        .args(["-sS", "-o", "/dev/null", "-D", "-", "--cacert", ca])
        .arg(&query)
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.contains("www-authenticate: basic"), "{head}");

    // A client that does not trust the certificate gets no connection (curl 60), and
    // plain HTTP gets no HTTP answer.
    let (exit, code, _) = curl(&curl_bin, &["-u", "alice:s3cret"], &query);
    assert_eq!((exit, code), (60, 0), "untrusted certificate accepted");
    assert_eq!(http(port, "/api/v1/query?query=vector(1)"), None);

    // Admin and lifecycle endpoints are off by default, even for an authenticated user:
    // Prometheus's `errorUnavailable` (a 500, as its API maps that type) and 403.
    let admin = (
        500,
        r#""errorType":"unavailable","error":"admin APIs disabled""#,
    );
    let lifecycle = (403, "Lifecycle API is not enabled.");
    for (method, path, (want_code, want)) in [
        ("POST", "/api/v1/admin/tsdb/snapshot", admin),
        ("PUT", "/api/v1/admin/tsdb/delete_series?match[]=up", admin),
        ("POST", "/api/v1/admin/tsdb/clean_tombstones", admin),
        ("POST", "/-/reload", lifecycle),
        ("POST", "/-/quit", lifecycle),
        ("PUT", "/-/quit", lifecycle),
    ] {
        let mut args = authed.to_vec();
        args.extend(["-X", method]);
        let (_, code, body) = curl(&curl_bin, &args, &format!("{base}{path}"));
        assert_eq!(code, want_code, "{method} {path}: {body}");
        assert!(body.contains(want), "{method} {path}: {body}");
    }
    // Still running after all of that.
    assert!(server.0.try_wait().unwrap().is_none(), "server exited");
    assert_eq!(curl(&curl_bin, &authed, &query).1, 200);
}
