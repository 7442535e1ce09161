//! End-to-end tests of the discoverers and the manager against real files, a loopback
//! HTTP server and a loopback DNS responder. Nothing here reaches beyond 127.0.0.1.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use promlite_discovery::{
    DnsDiscoverer, DnsSdConfig, Error, FileDiscoverer, FileSdConfig, HttpDiscoverer, HttpSdConfig,
    Manager, ManagerOptions, PromDuration, SdConfig, ServiceDiscoveryConfigs, TargetGroup, Update,
    UpdateStream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Mutex;
use tokio::time::timeout;

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(10);

async fn next(stream: &mut UpdateStream) -> Update {
    timeout(LIMIT, stream.recv())
        .await
        .expect("no update in time")
        .expect("discoverer ended")
}

async fn next_groups(stream: &mut UpdateStream) -> Vec<TargetGroup> {
    match next(stream).await {
        Ok(g) => g,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn addresses(g: &TargetGroup) -> Vec<&str> {
    g.targets
        .iter()
        .filter_map(|t| t.get("__address__"))
        .collect()
}

// ---------------------------------------------------------------------------------
// file_sd

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_follows_rewrites_and_keeps_last_good_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.json");
    std::fs::write(
        &path,
        r#"[{"targets": ["a:1", "b:1"], "labels": {"env": "prod"}}, {"targets": ["c:1"]}]"#,
    )
    .unwrap();
    let pattern = dir.path().join("*.json").to_string_lossy().into_owned();
    let mut config = FileSdConfig::new(vec![pattern]).unwrap();
    // Only notifications may cause the re-reads below: the ticker is an hour away.
    config.refresh_interval = PromDuration::from_secs(3600);
    let mut stream = UpdateStream::spawn(Box::new(FileDiscoverer::new(config)));
    let file = path.to_string_lossy().into_owned();

    let groups = next_groups(&mut stream).await;
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, format!("{file}:0"));
    assert_eq!(addresses(&groups[0]), ["a:1", "b:1"]);
    assert_eq!(groups[0].labels.get("__meta_filepath"), Some(file.as_str()));
    assert_eq!(groups[0].labels.get("env"), Some("prod"));

    // A rewrite with one group fewer: the new first group, and the second withdrawn.
    std::fs::write(&path, r#"[{"targets": ["z:9"]}]"#).unwrap();
    let groups = wait_for(&mut stream, |g| g.iter().any(|g| addresses(g) == ["z:9"])).await;
    let withdrawn: Vec<_> = groups
        .iter()
        .filter(|g| g.targets.is_empty())
        .map(|g| g.source.clone())
        .collect();
    assert_eq!(withdrawn, [format!("{file}:1")]);

    // A broken file: an error naming the file, and no group changes.
    std::fs::write(&path, "[{not json").unwrap();
    let err = loop {
        match next(&mut stream).await {
            Err(e) => break e,
            // Late re-reads of the previous content may still arrive; nothing else may.
            Ok(groups) => assert!(
                groups.iter().all(|g| addresses(g) == ["z:9"]),
                "a broken file must not change groups: {groups:?}"
            ),
        }
    };
    assert!(
        matches!(&err, Error::File { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("error reading file {file}: ")),
        "{err}"
    );

    // Repaired: the groups come back.
    std::fs::write(&path, r#"[{"targets": ["y:8"]}]"#).unwrap();
    wait_for(&mut stream, |g| g.iter().any(|g| addresses(g) == ["y:8"])).await;

    // Removed: its group is withdrawn.
    std::fs::remove_file(&path).unwrap();
    wait_for(&mut stream, |g| {
        g.iter()
            .any(|g| g.source == format!("{file}:0") && g.targets.is_empty())
    })
    .await;
}

/// Skips updates (and errors) until one satisfies `want`.
async fn wait_for(
    stream: &mut UpdateStream,
    want: impl Fn(&[TargetGroup]) -> bool,
) -> Vec<TargetGroup> {
    loop {
        if let Ok(groups) = next(stream).await
            && want(&groups)
        {
            return groups;
        }
    }
}

#[tokio::test]
async fn file_sd_reads_yaml_and_reports_bad_files_per_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.yml"),
        "- targets: ['g:1']\n  labels: {team: a}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "- targets: ['b:1']\n  unknown: 1\n",
    )
    .unwrap();
    let pattern = dir.path().join("*.yml").to_string_lossy().into_owned();
    let mut stream = UpdateStream::spawn(Box::new(FileDiscoverer::new(
        FileSdConfig::new(vec![pattern]).unwrap(),
    )));
    let groups = next_groups(&mut stream).await;
    assert_eq!(groups.len(), 1);
    assert_eq!(addresses(&groups[0]), ["g:1"]);
    let err = next(&mut stream).await.unwrap_err();
    assert!(err.to_string().contains("bad.yml"), "{err}");
    assert!(err.to_string().contains("unknown field `unknown`"), "{err}");
}

// ---------------------------------------------------------------------------------
// http_sd

/// A canned HTTP answer: status line, content type, body.
type Answer = (&'static str, &'static str, String);

/// A one-request-per-connection HTTP/1.1 server on 127.0.0.1 answering from `answers`
/// in turn (the last one repeats). It records each request head.
async fn http_server(answers: Vec<Answer>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sd", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            log.lock()
                .await
                .push(String::from_utf8_lossy(&buf).into_owned());
            let (status, ctype, body) = &answers[n.min(answers.len() - 1)];
            n += 1;
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, seen)
}

fn http_config(url: &str) -> HttpSdConfig {
    let mut c = HttpSdConfig::new(url).unwrap();
    c.refresh_interval = PromDuration::new(Duration::from_millis(50));
    c
}

#[tokio::test]
async fn http_sd_fetches_labels_and_withdraws() {
    let (url, seen) = http_server(vec![
        (
            "200 OK",
            "application/json",
            r#"[{"targets": ["a:1"], "labels": {"k": "v"}}, {"targets": ["b:1"]}]"#.into(),
        ),
        ("500 Internal Server Error", "application/json", "[]".into()),
        ("200 OK", "text/plain", "[]".into()),
        (
            "200 OK",
            "application/json; charset=utf-8",
            r#"[{"targets": ["c:1"]}]"#.into(),
        ),
    ])
    .await;
    let mut stream = UpdateStream::spawn(Box::new(HttpDiscoverer::new(http_config(&url))));

    let groups = next_groups(&mut stream).await;
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, format!("{url}:0"));
    assert_eq!(
        groups[0].labels.to_string(),
        format!(r#"{{__meta_url="{url}", k="v"}}"#)
    );
    assert_eq!(addresses(&groups[1]), ["b:1"]);

    let err = next(&mut stream).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "server returned HTTP status 500 Internal Server Error"
    );
    let err = next(&mut stream).await.unwrap_err();
    assert_eq!(err.to_string(), r#"unsupported content type "text/plain""#);

    let groups = next_groups(&mut stream).await;
    assert_eq!(addresses(&groups[0]), ["c:1"]);
    assert_eq!(groups[1].source, format!("{url}:1"));
    assert!(
        groups[1].targets.is_empty(),
        "the second group is withdrawn"
    );

    let head = seen.lock().await[0].to_ascii_lowercase();
    assert!(head.starts_with("get /sd http/1.1\r\n"), "{head}");
    assert!(head.contains("accept: application/json\r\n"), "{head}");
    assert!(
        head.contains("x-prometheus-refresh-interval-seconds: 0.05\r\n"),
        "{head}"
    );
}

// ---------------------------------------------------------------------------------
// dns_sd

/// The records a test DNS responder serves, by name and type; tests change it live.
type Zone = Arc<std::sync::Mutex<HashMap<(String, RecordType), Vec<RData>>>>;

/// A UDP DNS responder on 127.0.0.1 answering from `zone`: SRV and A records by name;
/// names starting with `fail.` get SERVFAIL, unknown names NXDOMAIN. Counts queries.
async fn dns_server(zone: Zone) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&queries);
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let mut resp = Message::new(
                query.metadata.id,
                MessageType::Response,
                query.metadata.op_code,
            );
            resp.metadata.recursion_desired = query.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            let Some(q) = query.queries.first().cloned() else {
                continue;
            };
            let qname = q.name().to_ascii();
            resp.add_query(q.clone());
            let answers = zone
                .lock()
                .unwrap()
                .get(&(qname.clone(), q.query_type()))
                .cloned();
            if qname.starts_with("fail.") {
                resp.metadata.response_code = ResponseCode::ServFail;
            } else if let Some(rdatas) = answers {
                for rd in rdatas {
                    resp.add_answer(Record::from_rdata(q.name().clone(), 0, rd));
                }
            } else {
                resp.metadata.response_code = ResponseCode::NXDomain;
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
        }
    });
    (addr, queries)
}

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

#[tokio::test]
async fn dns_sd_srv_a_nxdomain_and_servfail() {
    let zone = Arc::new(std::sync::Mutex::new(HashMap::from([
        (
            ("_svc._tcp.test.".to_owned(), RecordType::SRV),
            vec![
                RData::SRV(SRV::new(0, 0, 9100, name("n1.test."))),
                RData::SRV(SRV::new(0, 0, 9101, name("n2.test."))),
            ],
        ),
        (
            ("a.test.".to_owned(), RecordType::A),
            vec![RData::A(A::new(127, 0, 0, 7))],
        ),
    ])));
    let (server, _) = dns_server(Arc::clone(&zone)).await;

    let config: DnsSdConfig = serde_norway::from_str(
        "names: [_svc._tcp.test., gone.test., fail.test.]\nrefresh_interval: 50ms",
    )
    .unwrap();
    let mut stream = UpdateStream::spawn(Box::new(
        DnsDiscoverer::new(config).with_nameservers(vec![server]),
    ));
    let groups = next_groups(&mut stream).await;
    assert_eq!(
        groups.len(),
        2,
        "the failing name sends no group: {groups:?}"
    );
    assert_eq!(groups[0].source, "_svc._tcp.test.");
    assert_eq!(
        groups[0].targets[1].to_string(),
        r#"{__address__="n2.test:9101", __meta_dns_name="_svc._tcp.test.", __meta_dns_srv_record_port="9101", __meta_dns_srv_record_target="n2.test."}"#
    );
    assert_eq!(groups[1].source, "gone.test.");
    assert!(groups[1].targets.is_empty(), "NXDOMAIN is an empty group");
    let err = next(&mut stream).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(r#"could not resolve "fail.test.": "#),
        "{err}"
    );

    // A changed zone is seen on a later refresh: nothing is cached.
    zone.lock().unwrap().insert(
        ("_svc._tcp.test.".to_owned(), RecordType::SRV),
        vec![RData::SRV(SRV::new(0, 0, 1, name("n3.test.")))],
    );
    loop {
        if let Ok(groups) = next(&mut stream).await
            && addresses(&groups[0]) == ["n3.test:1"]
        {
            break;
        }
    }

    let config: DnsSdConfig =
        serde_norway::from_str("names: [a.test.]\ntype: A\nport: 9100").unwrap();
    let mut stream = UpdateStream::spawn(Box::new(
        DnsDiscoverer::new(config).with_nameservers(vec![server]),
    ));
    let groups = next_groups(&mut stream).await;
    assert_eq!(
        groups[0].targets[0].to_string(),
        r#"{__address__="127.0.0.7:9100", __meta_dns_name="a.test."}"#
    );
}

// ---------------------------------------------------------------------------------
// manager

fn fast() -> ManagerOptions {
    ManagerOptions {
        update_interval: Duration::from_millis(50),
        initial_delay: Duration::from_millis(5),
        dns_nameservers: None,
    }
}

fn jobs(entries: &[(&str, &str)]) -> HashMap<String, Vec<SdConfig>> {
    entries
        .iter()
        .map(|(job, yaml)| {
            let c: ServiceDiscoveryConfigs = serde_norway::from_str(yaml).unwrap();
            ((*job).to_owned(), c.to_sd_configs())
        })
        .collect()
}

async fn wait_sets(
    rx: &mut tokio::sync::watch::Receiver<Arc<promlite_discovery::TargetSets>>,
    want: impl Fn(&promlite_discovery::TargetSets) -> bool,
) -> Arc<promlite_discovery::TargetSets> {
    timeout(LIMIT, async {
        loop {
            let now = Arc::clone(&rx.borrow_and_update());
            if want(&now) {
                return now;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("no matching target sets in time")
}

#[tokio::test]
async fn manager_merges_jobs_reloads_and_drops_stale() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    std::fs::write(&file, r#"[{"targets": ["f:1"]}]"#).unwrap();
    let file_job = format!("file_sd_configs: [{{files: ['{}']}}]", file.display());

    let mut m = Manager::new(fast());
    let mut rx = m.subscribe();
    m.apply_config(jobs(&[
        (
            "a",
            "static_configs: [{targets: ['s:1']}, {targets: ['s:2'], labels: {x: y}}]",
        ),
        ("b", &file_job),
        (
            "c",
            "static_configs: [{targets: ['s:1']}, {targets: ['s:2'], labels: {x: y}}]",
        ),
        ("empty", "{}"),
    ]))
    .unwrap();
    let sets = wait_sets(&mut rx, |s| {
        s.get("b").is_some_and(|g| !g.is_empty()) && s.get("a").is_some_and(|g| g.len() == 2)
    })
    .await;
    assert_eq!(sets["a"][1].source, "1");
    assert_eq!(sets["a"][1].labels.get("x"), Some("y"));
    assert_eq!(
        sets["c"], sets["a"],
        "identical configurations share a provider"
    );
    assert!(sets["empty"].is_empty());
    assert_eq!(addresses(&sets["b"][0]), ["f:1"]);

    // Reload: job a changes, b keeps its provider, c and empty go away.
    m.apply_config(jobs(&[
        ("a", "static_configs: [{targets: ['s:9']}]"),
        ("b", &file_job),
    ]))
    .unwrap();
    let sets = wait_sets(&mut rx, |s| {
        s.get("a")
            .is_some_and(|g| g.len() == 1 && addresses(&g[0]) == ["s:9"])
    })
    .await;
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert_eq!(
        addresses(&sets["b"][0]),
        ["f:1"],
        "an unchanged provider keeps its groups"
    );

    // A broken file is reported and keeps the job's targets.
    std::fs::write(&file, "nope").unwrap();
    timeout(LIMIT, async {
        while m.errors().is_empty() {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the file error is reported");
    let (provider, err) = &m.errors()[0];
    assert!(provider.starts_with("file/"), "{provider}");
    assert!(err.to_string().contains("t.json"), "{err}");
    assert_eq!(addresses(&m.current()["b"][0]), ["f:1"]);
}

#[tokio::test]
async fn manager_uses_configured_dns_servers() {
    let zone = Arc::new(std::sync::Mutex::new(HashMap::from([(
        ("_m._tcp.test.".to_owned(), RecordType::SRV),
        vec![RData::SRV(SRV::new(0, 0, 7, name("m.test.")))],
    )])));
    let (server, queries) = dns_server(zone).await;
    let mut m = Manager::new(ManagerOptions {
        dns_nameservers: Some(vec![server]),
        ..fast()
    });
    let mut rx = m.subscribe();
    m.apply_config(jobs(&[(
        "dns",
        "dns_sd_configs: [{names: [_m._tcp.test.]}]",
    )]))
    .unwrap();
    let sets = wait_sets(&mut rx, |s| s.get("dns").is_some_and(|g| !g.is_empty())).await;
    assert_eq!(addresses(&sets["dns"][0]), ["m.test:7"]);
    assert!(queries.load(Ordering::SeqCst) >= 1);
}
