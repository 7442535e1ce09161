//! A fake Kubernetes API server on 127.0.0.1 for the watcher's tests: it answers list
//! requests from canned `List` bodies and holds watch requests open as chunked
//! streams of newline-delimited JSON events that the test writes line by line, as a
//! real API server streams them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

/// Every wait on the fake server is bounded by this.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The path, without the query.
    pub(crate) path: String,
    /// The decoded query parameters, in order.
    pub(crate) query: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<String>,
}

impl Request {
    /// A query parameter's value.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a watch request.
    pub(crate) fn is_watch(&self) -> bool {
        self.param("watch") == Some("1")
    }
}

#[derive(Default)]
struct State {
    /// Answers to list requests by path: status and body.
    lists: HashMap<String, (u16, String)>,
    requests: Vec<Request>,
    /// Watch streams opened and not yet claimed by the test, by path.
    watches: HashMap<String, VecDeque<mpsc::UnboundedSender<String>>>,
}

/// The server. Dropping it leaves its task running until the test's runtime ends.
pub(crate) struct FakeApi {
    /// `http://127.0.0.1:{port}`.
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

/// A watch stream the server holds open: each [`send`](WatchStream::send) is one
/// event line; dropping it ends the stream, as the API server does when the watch's
/// `timeoutSeconds` passes.
pub(crate) struct WatchStream {
    tx: mpsc::UnboundedSender<String>,
    /// The request that opened it.
    pub(crate) request: Request,
}

impl WatchStream {
    /// Writes one event, `{"type": …, "object": …}`, as one line.
    pub(crate) fn send(&self, event: &serde_json::Value) {
        self.tx
            .send(event.to_string())
            .expect("the watcher closed its stream");
    }
}

impl FakeApi {
    /// Starts a server with no lists: every path answers 404 until set.
    pub(crate) async fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let changed = Arc::new(Notify::new());
        let (s, c) = (Arc::clone(&state), Arc::clone(&changed));
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, Arc::clone(&s), Arc::clone(&c)));
            }
        });
        FakeApi {
            url,
            state,
            changed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Answers list requests for `path` with `list` (a `…List` object).
    pub(crate) fn set_list(&self, path: &str, list: &serde_json::Value) {
        self.set_answer(path, 200, list.to_string());
    }

    /// Answers list requests for `path` with a status and body.
    pub(crate) fn set_answer(&self, path: &str, status: u16, body: String) {
        self.lock().lists.insert(path.to_owned(), (status, body));
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// Waits until `pred` holds for the requests seen.
    pub(crate) async fn wait_requests(&self, what: &str, pred: impl Fn(&[Request]) -> bool) {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if pred(&self.lock().requests) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(LIMIT, wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:#?}", self.requests()));
    }

    /// The next watch stream opened on `path`, waiting for the watcher to open it.
    pub(crate) async fn watch(&self, path: &str) -> WatchStream {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                let taken = {
                    let mut st = self.lock();
                    let tx = st.watches.get_mut(path).and_then(VecDeque::pop_front);
                    tx.map(|tx| {
                        let request = st
                            .requests
                            .iter()
                            .rev()
                            .find(|r| r.path == path && r.is_watch())
                            .cloned()
                            .expect("a watch request was recorded");
                        WatchStream { tx, request }
                    })
                };
                if let Some(w) = taken {
                    return w;
                }
                notified.await;
            }
        };
        tokio::time::timeout(LIMIT, wait)
            .await
            .unwrap_or_else(|_| panic!("no watch on {path}: {:#?}", self.requests()))
    }
}

/// Serves one connection: one request, then close.
async fn serve(mut sock: TcpStream, state: Arc<Mutex<State>>, changed: Arc<Notify>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let authorization = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_owned())
    });
    let parsed = url::Url::parse(&format!("http://x{target}")).unwrap();
    let request = Request {
        path: parsed.path().to_owned(),
        query: parsed.query_pairs().into_owned().collect(),
        authorization,
    };
    let watch = request.is_watch();
    let path = request.path.clone();
    if watch {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        {
            let mut st = state.lock().unwrap();
            st.requests.push(request);
            st.watches.entry(path).or_default().push_back(tx);
        }
        changed.notify_waiters();
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                    Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        while let Some(line) = rx.recv().await {
            let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n").await;
        let _ = sock.shutdown().await;
        return;
    }
    let answer = {
        let mut st = state.lock().unwrap();
        st.requests.push(request);
        st.lists.get(&path).cloned()
    };
    changed.notify_waiters();
    let (status, body) = answer.unwrap_or_else(|| {
        (
            404,
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("the server could not find the requested resource ({path})"),
                "reason": "NotFound", "code": 404
            })
            .to_string(),
        )
    });
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        _ => "Error",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}
