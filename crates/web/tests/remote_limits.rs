//! The remote-write receiver's limits set through [`Web::with_remote_write_options`]:
//! a label bomb is refused with a 400 naming the limit, a body over `max_body_bytes` with
//! a 413 naming it, and a request within the limits is stored.

use std::sync::Arc;

use promlite_remote::{WriteOptions, encode_write_request, prompb};
use promlite_storage::MemStore;
use promlite_web::{Web, WebOptions};

fn series(labels: Vec<(String, String)>) -> Vec<u8> {
    encode_write_request(&prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: labels
                .into_iter()
                .map(|(name, value)| prompb::Label { name, value })
                .collect(),
            samples: vec![prompb::Sample {
                value: 1.0,
                timestamp: 1_000,
            }],
            ..Default::default()
        }],
        metadata: vec![],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_bombs_and_large_bodies_are_refused_with_the_limit_named() {
    let store = Arc::new(MemStore::new());
    let web = Web::new(
        Arc::clone(&store) as Arc<dyn promlite_storage::Queryable>,
        WebOptions {
            enable_remote_write_receiver: true,
            ..WebOptions::default()
        },
    )
    .with_appendable(Arc::clone(&store) as Arc<dyn promlite_storage::Appendable>)
    .with_remote_write_options(WriteOptions {
        max_body_bytes: 1 << 20,
        label_limit: 30,
        label_value_length_limit: 1000,
        ..WriteOptions::default()
    });
    web.set_ready(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(promlite_web::serve(
        listener,
        web.router(),
        std::future::pending(),
    ));
    // A connection each request: after refusing a body it did not read, the server
    // closes the connection, and a request reusing it could race that close (a broken
    // pipe while its body is written).
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let post = |body: Vec<u8>| {
        client
            .post(format!("http://127.0.0.1:{port}/api/v1/write"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
    };

    let mut bomb = vec![("__name__".to_string(), "bomb".to_string())];
    bomb.extend((0..1000).map(|i| (format!("l{i:04}"), "v".to_string())));
    let r = post(series(bomb)).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().await.unwrap();
    assert_eq!(
        text.trim(),
        "invalid labels: label_limit exceeded (metric: bomb, number of labels: 1001, limit: 30)"
    );

    let long = vec![
        ("__name__".to_string(), "long".to_string()),
        ("v".to_string(), "x".repeat(100_000)),
    ];
    let r = post(series(long)).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("label_value_length_limit exceeded (metric: long, label name: v"),
    );

    let r = post(vec![0u8; 2 << 20]).await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(
        r.text().await.unwrap().trim(),
        "request body too large: exceeds the limit of 1048576 bytes"
    );
    assert_eq!(store.num_series(), 0, "a refused request stored something");

    let ok = vec![
        ("__name__".to_string(), "fine".to_string()),
        ("job".to_string(), "a".to_string()),
    ];
    assert_eq!(post(series(ok)).await.unwrap().status().as_u16(), 204);
    assert_eq!(store.num_series(), 1);
}
