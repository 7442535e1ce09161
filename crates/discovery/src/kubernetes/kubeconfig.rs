//! `kubeconfig_file`: the API server and credentials of a kubeconfig's current
//! context, as client-go's `BuildConfigFromFlags("", path)` reads them for Prometheus.
//!
//! Supported: the cluster's `server`, `certificate-authority[-data]`,
//! `insecure-skip-tls-verify`; the user's `token`, `tokenFile`,
//! `client-certificate[-data]`, `client-key[-data]`, `username`/`password`. Credential
//! plugins (`exec`, `auth-provider`) are refused with an error rather than ignored.
//! Relative paths are taken from the kubeconfig's directory.

use std::path::Path;

use serde::Deserialize;

use crate::client::read_file;
use crate::{BasicAuth, Error, HttpClientConfig};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct KubeConfig {
    #[serde(default)]
    current_context: String,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: String,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    #[serde(default)]
    certificate_authority: String,
    #[serde(default)]
    certificate_authority_data: String,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    #[serde(default)]
    token: String,
    #[serde(default, rename = "tokenFile")]
    token_file: String,
    #[serde(default)]
    client_certificate: String,
    #[serde(default)]
    client_certificate_data: String,
    #[serde(default)]
    client_key: String,
    #[serde(default)]
    client_key_data: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    exec: Option<serde_json::Value>,
    #[serde(default)]
    auth_provider: Option<serde_json::Value>,
}

/// The API server URL and client settings of the kubeconfig at `path`.
pub(super) fn load(path: &Path) -> Result<(String, HttpClientConfig), Error> {
    let text = read_file("kubeconfig file", path)?;
    let fail = |why: String| {
        Error::InvalidKubernetesConfig(format!("kubeconfig {}: {why}", path.display()))
    };
    let kc: KubeConfig = serde_norway::from_slice(&text).map_err(|e| fail(e.to_string()))?;
    if kc.current_context.is_empty() {
        return Err(fail("no current-context".to_owned()));
    }
    let context = kc
        .contexts
        .iter()
        .find(|c| c.name == kc.current_context)
        .ok_or_else(|| fail(format!("context {:?} not found", kc.current_context)))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == context.context.cluster)
        .ok_or_else(|| fail(format!("cluster {:?} not found", context.context.cluster)))?;
    let user = if context.context.user.is_empty() {
        &User::default()
    } else {
        &kc.users
            .iter()
            .find(|u| u.name == context.context.user)
            .ok_or_else(|| fail(format!("user {:?} not found", context.context.user)))?
            .user
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(Error::Unsupported(
            "kubeconfig credential plugins (exec, auth-provider)",
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = |p: &str| -> String {
        if p.is_empty() {
            String::new()
        } else {
            dir.join(p).to_string_lossy().into_owned()
        }
    };
    let data = |d: &str, what: &str| -> Result<String, Error> {
        let bytes = base64_decode(d).map_err(|e| fail(format!("{what}: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let c = &cluster.cluster;
    let mut http = HttpClientConfig::default();
    http.tls_config.ca = data(&c.certificate_authority_data, "certificate-authority-data")?;
    http.tls_config.ca_file = file(&c.certificate_authority);
    http.tls_config.insecure_skip_verify = c.insecure_skip_tls_verify;
    http.tls_config.cert = data(&user.client_certificate_data, "client-certificate-data")?;
    http.tls_config.cert_file = file(&user.client_certificate);
    http.tls_config.key = data(&user.client_key_data, "client-key-data")?;
    http.tls_config.key_file = file(&user.client_key);
    http.bearer_token.clone_from(&user.token);
    if user.token.is_empty() {
        http.bearer_token_file = file(&user.token_file);
    }
    if !user.username.is_empty() {
        http.basic_auth = Some(BasicAuth {
            username: user.username.clone(),
            password: user.password.clone(),
            password_file: String::new(),
        });
    }
    http.validate().map_err(|e| fail(e.to_string()))?;
    Ok((c.server.clone(), http))
}

/// Standard base64 with padding, as kubeconfigs hold certificate data; whitespace is
/// skipped.
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body = clean
        .strip_suffix(b"==")
        .or_else(|| clean.strip_suffix(b"="));
    let body = body.unwrap_or(&clean);
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        let v = value(c).ok_or_else(|| format!("invalid base64 character {:?}", c as char))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_table() {
        for (text, want) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9v\nYmFy", "foobar"),
        ] {
            assert_eq!(base64_decode(text).unwrap(), want.as_bytes(), "{text}");
        }
        assert!(base64_decode("Zm9*").is_err());
    }

    #[test]
    fn current_context_gives_server_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "
apiVersion: v1
kind: Config
current-context: kind-dev
contexts:
  - {name: other, context: {cluster: other, user: other}}
  - {name: kind-dev, context: {cluster: kind-dev, user: kind-dev, namespace: web}}
clusters:
  - name: kind-dev
    cluster: {server: 'https://127.0.0.1:40123', certificate-authority-data: LS0tLS1CRUdJTg==}
  - name: other
    cluster: {server: 'https://other:6443'}
users:
  - name: kind-dev
    user: {client-certificate: certs/dev.crt, client-key-data: a2V5}
  - name: other
    user: {token: abc}
",
        )
        .unwrap();
        let (server, http) = load(&path).unwrap();
        assert_eq!(server, "https://127.0.0.1:40123");
        assert_eq!(http.tls_config.ca, "-----BEGIN");
        assert_eq!(
            Path::new(&http.tls_config.cert_file),
            dir.path().join("certs/dev.crt")
        );
        assert_eq!(http.tls_config.key, "key");
        assert!(http.bearer_token.is_empty());
    }

    #[test]
    fn unusable_kubeconfigs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let cases = [
            ("clusters: []", "no current-context"),
            ("current-context: x", "context \"x\" not found"),
            (
                "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]",
                "kubeconfig credential plugins (exec, auth-provider) is not supported",
            ),
        ];
        for (text, want) in cases {
            std::fs::write(&path, text).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
