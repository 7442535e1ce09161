//! Sending alerts to Alertmanagers: Prometheus's `notifier` package. Alerts are
//! labelled with the external labels, relabelled with `alert_relabel_configs`, queued in
//! a bounded queue that drops the oldest, and posted in batches of at most 256 to every
//! Alertmanager's `/api/v2/alerts`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use promlite_model::{Labels, LabelsBuilder};
use promlite_relabel::{RelabelConfig, relabel};

use crate::Error;
use crate::alert::Alert;
use crate::group::AlertSender;
use crate::template::format_rfc3339;

/// Prometheus's `maxBatchSize`.
pub const MAX_BATCH_SIZE: usize = 256;

/// One alert as Alertmanager receives it. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierAlert {
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// When it started firing.
    pub starts_at: i64,
    /// When it was resolved, or until when it is valid while firing.
    pub ends_at: i64,
    /// A link to the rule's expression in Prometheus's UI.
    pub generator_url: String,
}

impl NotifierAlert {
    /// The alert of a rule, as the rule manager hands it to the notifier.
    pub(crate) fn from_alert(a: &Alert, generator_url: &str) -> NotifierAlert {
        NotifierAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: a.fired_at.unwrap_or(a.active_at),
            ends_at: a.resolved_at.or(a.valid_until).unwrap_or(0),
            generator_url: generator_url.to_owned(),
        }
    }
}

/// How the notifier is set up.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// How many alerts wait at most; the oldest are dropped beyond (10,000).
    pub queue_capacity: usize,
    /// Added to every alert that does not have the label.
    pub external_labels: Labels,
    /// `alert_relabel_configs`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Timeout of one POST.
    pub timeout: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: 10_000,
            external_labels: Labels::empty(),
            relabel_configs: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of one Alertmanager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertmanagerStats {
    /// The alerts endpoint.
    pub url: String,
    /// Alerts sent successfully.
    pub sent: u64,
    /// Alerts in failed POSTs.
    pub errors: u64,
}

/// The notifier's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Alerts waiting.
    pub queue_length: usize,
    /// Alerts dropped because the queue was full (or no Alertmanager was configured).
    pub dropped: u64,
    /// Per Alertmanager.
    pub alertmanagers: Vec<AlertmanagerStats>,
}

struct Am {
    url: String,
    sent: AtomicU64,
    errors: AtomicU64,
    /// The client of the Alertmanager's `alertmanagers` entry when it has its own HTTP
    /// settings (TLS, proxy, timeout); the notifier's otherwise.
    client: Option<reqwest::Client>,
    decorate: Option<Decorate>,
    /// The entry's own `alert_relabel_configs`, applied to what this Alertmanager gets.
    relabel: Vec<RelabelConfig>,
}

/// Adds an `alertmanagers` entry's credentials and headers to each request; an error
/// (an unreadable password file, say) fails that send.
pub type Decorate =
    Arc<dyn Fn(reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, String> + Send + Sync>;

/// One Alertmanager to send to: its base URL (alerts go to `{base_url}/api/v2/alerts`)
/// and, when its `alertmanagers` entry sets HTTP client settings, the client and the
/// request decoration they call for.
#[derive(Clone, Default)]
pub struct AlertmanagerTarget {
    /// E.g. `http://127.0.0.1:9093`.
    pub base_url: String,
    /// A client with the entry's TLS, proxy and timeout settings.
    pub client: Option<reqwest::Client>,
    /// The entry's credentials and headers, added to each request.
    pub decorate: Option<Decorate>,
    /// The entry's own `alert_relabel_configs`: applied after the global relabeling, to
    /// the alerts of this Alertmanager only (an alert they drop is not sent to it).
    pub relabel_configs: Vec<RelabelConfig>,
}

impl std::fmt::Debug for AlertmanagerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerTarget")
            .field("base_url", &self.base_url)
            .field("client", &self.client.is_some())
            .field("decorate", &self.decorate.is_some())
            .field("relabel_configs", &self.relabel_configs)
            .finish()
    }
}

struct Inner {
    opts: NotifierOptions,
    /// External labels and `alert_relabel_configs`, replaced on a configuration reload.
    labeling: RwLock<Arc<(Labels, Vec<RelabelConfig>)>>,
    queue: Mutex<VecDeque<NotifierAlert>>,
    wake: tokio::sync::Notify,
    ams: Mutex<Vec<Arc<Am>>>,
    /// URLs of discovered Alertmanagers that relabeling dropped, for the API.
    dropped_ams: Mutex<Vec<String>>,
    dropped: AtomicU64,
    client: reqwest::Client,
}

/// The Alertmanager client. Cheap to clone; clones share the queue.
///
/// Alerts given to [`Notifier::send`] are queued; [`Notifier::run`] (a task on the tokio
/// runtime) or [`Notifier::flush`] posts them.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Notifier {
    /// A notifier with no Alertmanagers yet.
    pub fn new(opts: NotifierOptions) -> Result<Notifier, Error> {
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .build()
            .map_err(|e| Error::Notify {
                url: String::new(),
                message: e.to_string(),
            })?;
        Ok(Notifier {
            inner: Arc::new(Inner {
                labeling: RwLock::new(Arc::new((
                    opts.external_labels.clone(),
                    opts.relabel_configs.clone(),
                ))),
                opts,
                queue: Mutex::new(VecDeque::new()),
                wake: tokio::sync::Notify::new(),
                ams: Mutex::new(Vec::new()),
                dropped_ams: Mutex::new(Vec::new()),
                dropped: AtomicU64::new(0),
                client,
            }),
        })
    }

    /// Sets the Alertmanagers by base URL (`http://127.0.0.1:9093`); alerts go to
    /// `{url}/api/v2/alerts`. Counters of Alertmanagers that stay are kept.
    pub fn set_alertmanagers(&self, base_urls: &[String]) {
        let targets: Vec<AlertmanagerTarget> = base_urls
            .iter()
            .map(|b| AlertmanagerTarget {
                base_url: b.clone(),
                ..AlertmanagerTarget::default()
            })
            .collect();
        self.set_alertmanager_targets(&targets);
    }

    /// Sets the Alertmanagers, each with its own HTTP settings when it has any. Counters
    /// of Alertmanagers that stay are kept.
    pub fn set_alertmanager_targets(&self, targets: &[AlertmanagerTarget]) {
        let mut ams = self.inner.ams.lock();
        let new: Vec<Arc<Am>> = targets
            .iter()
            .map(|t| {
                let url = format!("{}/api/v2/alerts", t.base_url.trim_end_matches('/'));
                let old = ams.iter().find(|a| a.url == url);
                let count = |f: fn(&Am) -> &AtomicU64| {
                    AtomicU64::new(old.map_or(0, |a| f(a).load(Ordering::Relaxed)))
                };
                Arc::new(Am {
                    sent: count(|a| &a.sent),
                    errors: count(|a| &a.errors),
                    url,
                    client: t.client.clone(),
                    decorate: t.decorate.clone(),
                    relabel: t.relabel_configs.clone(),
                })
            })
            .collect();
        *ams = new;
    }

    /// Records the URLs of discovered Alertmanagers that relabeling dropped, as
    /// `/api/v1/alertmanagers` lists them.
    pub fn set_dropped_alertmanagers(&self, urls: Vec<String>) {
        *self.inner.dropped_ams.lock() = urls;
    }

    /// The URLs of discovered Alertmanagers that relabeling dropped.
    pub fn dropped_alertmanagers(&self) -> Vec<String> {
        self.inner.dropped_ams.lock().clone()
    }

    /// Replaces the external labels and `alert_relabel_configs` applied to alerts sent
    /// from now on, as a configuration reload does.
    pub fn set_labeling(&self, external_labels: Labels, relabel_configs: Vec<RelabelConfig>) {
        *self.inner.labeling.write() = Arc::new((external_labels, relabel_configs));
    }

    /// Labels, relabels and queues `alerts`, dropping the oldest beyond capacity.
    pub fn send(&self, alerts: Vec<NotifierAlert>) {
        self.enqueue(self.prepare(alerts));
    }

    /// `alerts` as Alertmanager will receive them: with the external labels (an alert's
    /// own label wins) and relabeled by `alert_relabel_configs`; alerts the relabeling
    /// drops are left out.
    pub fn prepare(&self, alerts: Vec<NotifierAlert>) -> Vec<NotifierAlert> {
        let labeling = Arc::clone(&self.inner.labeling.read());
        let (external_labels, relabel_configs) = &*labeling;
        let mut lb = LabelsBuilder::new();
        let mut out = Vec::with_capacity(alerts.len());
        for mut a in alerts {
            if !external_labels.is_empty() {
                lb.reset(&a.labels);
                for l in external_labels {
                    if lb.get(l.name).is_none() {
                        lb.set(l.name, l.value);
                    }
                }
                a.labels = lb.build();
            }
            if !relabel_configs.is_empty() {
                match relabel(&a.labels, relabel_configs, &mut lb) {
                    Some(l) if !l.is_empty() => a.labels = l,
                    _ => continue,
                }
            }
            out.push(a);
        }
        out
    }

    /// Queues alerts already [prepared](Notifier::prepare), dropping the oldest beyond
    /// capacity.
    pub fn enqueue(&self, alerts: Vec<NotifierAlert>) {
        let mut q = self.inner.queue.lock();
        q.extend(alerts);
        let over = q.len().saturating_sub(self.inner.opts.queue_capacity);
        if over > 0 {
            q.drain(..over);
            self.inner.dropped.fetch_add(over as u64, Ordering::Relaxed);
        }
        drop(q);
        self.inner.wake.notify_one();
    }

    /// The counters.
    pub fn stats(&self) -> NotifierStats {
        NotifierStats {
            queue_length: self.inner.queue.lock().len(),
            dropped: self.inner.dropped.load(Ordering::Relaxed),
            alertmanagers: self
                .inner
                .ams
                .lock()
                .iter()
                .map(|a| AlertmanagerStats {
                    url: a.url.clone(),
                    sent: a.sent.load(Ordering::Relaxed),
                    errors: a.errors.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }

    /// Posts everything queued now, in batches; returns the first failure, if any.
    pub async fn flush(&self) -> Result<(), Error> {
        let mut first_err = None;
        loop {
            let batch: Vec<NotifierAlert> = {
                let mut q = self.inner.queue.lock();
                let n = q.len().min(MAX_BATCH_SIZE);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            if let Err(e) = self.send_batch(&batch).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Sends queued alerts as they arrive until `stop` is notified.
    pub async fn run(&self, stop: Arc<tokio::sync::Notify>) {
        loop {
            tokio::select! {
                () = stop.notified() => return,
                () = self.inner.wake.notified() => {
                    if let Err(e) = self.flush().await {
                        tracing::warn!(error = %e, "sending alerts failed");
                    }
                }
            }
        }
    }

    async fn send_batch(&self, batch: &[NotifierAlert]) -> Result<(), Error> {
        let ams: Vec<Arc<Am>> = self.inner.ams.lock().clone();
        if ams.is_empty() {
            self.inner
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            return Ok(());
        }
        let body = encode(batch);
        let n = batch.len() as u64;
        // Every Alertmanager gets the batch at the same time, as Prometheus's goroutines
        // do, so a slow one does not delay the others.
        let tasks: Vec<_> = ams
            .into_iter()
            .map(|am| {
                let client = am
                    .client
                    .clone()
                    .unwrap_or_else(|| self.inner.client.clone());
                let (body, n) = if am.relabel.is_empty() {
                    (body.clone(), n)
                } else {
                    let own = relabel_alerts(batch, &am.relabel);
                    (encode(&own), own.len() as u64)
                };
                tokio::spawn(async move {
                    if n == 0 {
                        // This Alertmanager's own relabeling dropped every alert.
                        return Ok(());
                    }
                    let req = client
                        .post(&am.url)
                        .header("Content-Type", "application/json")
                        .body(body);
                    let req = match &am.decorate {
                        Some(d) => d(req),
                        None => Ok(req),
                    };
                    let failure = match req {
                        Err(e) => Some(e),
                        Ok(req) => match req.send().await {
                            Ok(resp) if resp.status().is_success() => None,
                            Ok(resp) => Some(format!("bad response status {}", resp.status())),
                            Err(e) => Some(e.to_string()),
                        },
                    };
                    match failure {
                        None => {
                            am.sent.fetch_add(n, Ordering::Relaxed);
                            Ok(())
                        }
                        Some(message) => {
                            am.errors.fetch_add(n, Ordering::Relaxed);
                            Err(Error::Notify {
                                url: am.url.clone(),
                                message,
                            })
                        }
                    }
                })
            })
            .collect();
        let mut first = None;
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first.get_or_insert(e);
                }
                Err(e) => {
                    first.get_or_insert(Error::Notify {
                        url: String::new(),
                        message: e.to_string(),
                    });
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// `alerts` relabeled by `rules`, without those the rules drop.
fn relabel_alerts(alerts: &[NotifierAlert], rules: &[RelabelConfig]) -> Vec<NotifierAlert> {
    let mut lb = LabelsBuilder::new();
    alerts
        .iter()
        .filter_map(|a| {
            let labels = relabel(&a.labels, rules, &mut lb).filter(|l| !l.is_empty())?;
            Some(NotifierAlert {
                labels,
                ..a.clone()
            })
        })
        .collect()
}

impl AlertSender for Notifier {
    fn send(&self, alerts: Vec<NotifierAlert>) {
        Notifier::send(self, alerts);
    }
}

/// The v2 API body: `[{"labels":…,"annotations":…,"startsAt":…,"endsAt":…,"generatorURL":…}]`.
pub(crate) fn encode(alerts: &[NotifierAlert]) -> String {
    let map = |l: &Labels| {
        serde_json::Value::Object(
            l.iter()
                .map(|x| {
                    (
                        x.name.to_owned(),
                        serde_json::Value::String(x.value.to_owned()),
                    )
                })
                .collect(),
        )
    };
    let arr: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let mut o = serde_json::Map::new();
            o.insert("labels".into(), map(&a.labels));
            o.insert("annotations".into(), map(&a.annotations));
            o.insert("startsAt".into(), format_rfc3339(a.starts_at).into());
            o.insert("endsAt".into(), format_rfc3339(a.ends_at).into());
            o.insert("generatorURL".into(), a.generator_url.clone().into());
            serde_json::Value::Object(o)
        })
        .collect();
    serde_json::Value::Array(arr).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str) -> NotifierAlert {
        NotifierAlert {
            labels: Labels::from_pairs([("alertname", name)]),
            annotations: Labels::from_pairs([("summary", "s")]),
            starts_at: 1_000,
            ends_at: 241_000,
            generator_url: "http://p/graph".into(),
        }
    }

    #[test]
    fn body_is_alertmanager_v2_json() {
        assert_eq!(
            encode(&[alert("A")]),
            r#"[{"annotations":{"summary":"s"},"endsAt":"1970-01-01T00:04:01Z","generatorURL":"http://p/graph","labels":{"alertname":"A"},"startsAt":"1970-01-01T00:00:01Z"}]"#
        );
    }

    #[test]
    fn queue_drops_oldest_and_adds_external_labels() {
        let n = Notifier::new(NotifierOptions {
            queue_capacity: 2,
            external_labels: Labels::from_pairs([("cluster", "eu"), ("alertname", "no")]),
            ..NotifierOptions::default()
        })
        .unwrap();
        n.send(vec![alert("A"), alert("B"), alert("C")]);
        let st = n.stats();
        assert_eq!((st.queue_length, st.dropped), (2, 1));
        let q = n.inner.queue.lock();
        assert_eq!(q[0].labels.get("alertname"), Some("B"));
        assert_eq!(q[0].labels.get("cluster"), Some("eu"));
    }
}
