//! `--web.config.file`: basic authentication, response headers, TLS and client
//! certificates, over real sockets with a real HTTPS client, and the configuration's
//! validation errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promlite_storage::MemStore;
use promlite_web::{Web, WebConfig, WebOptions};
use tokio::net::TcpListener;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Writes `yaml` next to copies of the test certificates and loads it.
fn config(dir: &Path, yaml: &str) -> Result<WebConfig, promlite_web::Error> {
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::copy(data(f), dir.join(f)).unwrap();
    }
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).unwrap();
    WebConfig::load(&path)
}

async fn start(cfg: WebConfig) -> u16 {
    let web = Web::new(Arc::new(MemStore::new()), WebOptions::default());
    web.set_ready(true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(promlite_web::serve_with_config(
        listener,
        web.router(),
        std::future::pending(),
        Some(Arc::new(cfg)),
        0,
    ));
    port
}

fn client(identity: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(data("ca.crt")).unwrap()).unwrap();
    let mut b = reqwest::Client::builder().add_root_certificate(ca);
    if identity {
        let mut pem = std::fs::read(data("client.crt")).unwrap();
        pem.extend(std::fs::read(data("client.key")).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "basic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        ),
    )
    .unwrap();
    let port = start(cfg).await;
    let url = format!("http://127.0.0.1:{port}/api/v1/query?query=1");
    let c = reqwest::Client::new();
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic");
    assert_eq!(r.headers()["x-frame-options"], "deny");
    let r = c
        .get(&url)
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(&url)
        .basic_auth("bob", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for _ in 0..2 {
        // The second time the verified password comes from the cache.
        let r = c
            .get(&url)
            .basic_auth("alice", Some("s3cret"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-frame-options"], "deny");
        assert!(r.text().await.unwrap().contains(r#""status":"success""#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let port = start(cfg).await;
    let r = client(false)
        .get(format!("https://127.0.0.1:{port}/-/healthy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
            .await
            .is_err()
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n",
    )
    .unwrap();
    let port = start(cfg).await;
    let url = format!("https://127.0.0.1:{port}/-/healthy");
    assert!(
        client(false).get(&url).send().await.is_err(),
        "a client certificate is required"
    );
    let r = client(true).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn invalid_configurations_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let err = |yaml: &str| config(dir.path(), yaml).unwrap_err().to_string();
    assert!(
        err("tls_server_config:\n  cert_file: server.crt\n")
            .ends_with("missing one of key or key_file"),
        "{}",
        err("tls_server_config:\n  cert_file: server.crt\n")
    );
    assert!(
        err("tls_server_config:\n  key_file: server.key\n")
            .ends_with("missing one of cert or cert_file")
    );
    assert!(
        err("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n")
            .contains("failed to read cert_file")
    );
    assert!(
        err("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n")
            .ends_with("client CA's have been configured without a Client Auth Policy")
    );
    assert!(
        err("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n")
            .ends_with("invalid ClientAuth: Sometimes")
    );
    assert!(
        err("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS11\n")
            .ends_with("unknown TLS version: TLS11")
    );
    assert!(
        err("basic_auth_users:\n  alice: notahash\n")
            .contains("invalid bcrypt hash for user \"alice\"")
    );
    assert!(
        err("http_server_config:\n  headers:\n    X-Powered-By: me\n")
            .ends_with("HTTP header \"X-Powered-By\" can not be configured")
    );
    assert!(
        err("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n")
            .contains("invalid value for X-Content-Type-Options")
    );
    assert!(err("tls_config:\n  cert_file: x\n").contains("unknown field `tls_config`"));
    // An empty file is a valid configuration that changes nothing.
    assert!(config(dir.path(), "").is_ok());
}
