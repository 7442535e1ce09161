//! The pure core of a scrape: a response body in, samples appended to a transaction out,
//! with the per-target series cache, limits, staleness markers and report series.

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;
use promlite_exposition::{
    Entry, Format, OpenMetricsParser, Parser, PromParser, ProtobufOptions, ProtobufParser,
};
use promlite_model::{Labels, LabelsBuilder, METRIC_NAME, Metadata, MetricType, STALE_NAN};
use promlite_relabel::{RelabelConfig, relabel};
use promlite_storage::{Appender, HistogramRef, SeriesRef};

use crate::Error;

/// How a job's series are labelled and limited: the settings [`append_body`] needs.
// Prometheus's per-job switches, each a plain flag in its configuration.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// The target's labels (without internal `__` labels), attached to every series.
    pub target_labels: Labels,
    /// Keep exposed labels on conflict instead of renaming them `exported_*`.
    pub honor_labels: bool,
    /// Use exposed timestamps.
    pub honor_timestamps: bool,
    /// Write staleness markers for series with exposed timestamps too.
    pub track_timestamps_staleness: bool,
    /// Metric relabeling.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Most samples after relabeling (0: no limit).
    pub sample_limit: u64,
    /// Most labels per series (0: no limit).
    pub label_limit: u64,
    /// Longest label name (0: no limit).
    pub label_name_length_limit: u64,
    /// Longest label value (0: no limit).
    pub label_value_length_limit: u64,
    /// Ingest native histograms.
    pub native_histograms: bool,
}

#[derive(Debug)]
struct CacheEntry {
    /// The series as written in the body, the cache key: its range in
    /// `SeriesTable::keys`.
    key: Range<usize>,
    r: SeriesRef,
    /// Labels after target labels and metric relabeling; `None` when relabeling dropped
    /// the series.
    labels: Option<Labels>,
    /// The iteration (scrape) that last saw the series.
    last_iter: u64,
    /// The value `last_iter` had before, restored when a scrape fails half-way.
    prev_iter: u64,
    /// Whether that scrape's sample is subject to staleness (it had no explicit timestamp,
    /// or timestamps are tracked).
    stale_tracked: bool,
}

/// A target's series cache, keyed by the raw series text of the body, so that a steady
/// scrape finds every series without building its labels and appends with the store's
/// cached [`SeriesRef`]. It also remembers which series the previous scrape had, for
/// staleness markers.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    series: SeriesTable,
    iter: u64,
    builder: LabelsBuilder,
    family: Family,
    metadata: SharedMetadata,
}

/// The cached series in the order the body first listed them, with a hash index over
/// their keys.
///
/// A target lists its series in the same order scrape after scrape, so each lookup first
/// tries the entry after the last one found: a steady scrape walks the entries in memory
/// order and compares each key once, without hashing it or probing the index. With a
/// thousand targets the caches do not stay in the CPU's cache between scrapes, and
/// random probes into a hash table were the scrape's main cost (cache misses on the
/// buckets and then on the keys); the walk lets the hardware prefetch instead. Series
/// out of order, new or gone fall back to the index.
///
/// The keys live end to end in one string, in the same order, so the walk reads them
/// sequentially too (as separate allocations they were scattered among the other
/// targets' and cost a cache miss each).
#[derive(Debug, Default)]
struct SeriesTable {
    entries: Vec<CacheEntry>,
    /// Every entry's key; `CacheEntry::key` is its range.
    keys: String,
    index: hashbrown::HashTable<usize>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Where the next series of a steady scrape is expected.
    cursor: usize,
}

impl SeriesTable {
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The position of the series `key`, if cached.
    fn find(&mut self, key: &str) -> Option<usize> {
        let (entries, keys) = (&self.entries, self.keys.as_str());
        let i = match entries.get(self.cursor) {
            Some(e) if &keys[e.key.clone()] == key => self.cursor,
            _ => *self.index.find(self.hasher.hash_one(key), |&i| {
                &keys[entries[i].key.clone()] == key
            })?,
        };
        self.cursor = i + 1;
        Some(i)
    }

    /// Caches the series `key`, which `find` did not find; returns its position.
    fn insert(&mut self, key: &str, mut e: CacheEntry) -> usize {
        let i = self.entries.len();
        e.key = self.keys.len()..self.keys.len() + key.len();
        self.keys.push_str(key);
        self.entries.push(e);
        let (entries, keys, hasher) = (&self.entries, self.keys.as_str(), &self.hasher);
        self.index.insert_unique(hasher.hash_one(key), i, |&j| {
            hasher.hash_one(&keys[entries[j].key.clone()])
        });
        self.cursor = i + 1;
        i
    }

    /// Keeps the entries `keep` accepts, in order; rebuilds the keys and the index only
    /// when some go.
    fn retain(&mut self, mut keep: impl FnMut(&CacheEntry) -> bool) {
        if self.entries.iter().all(&mut keep) {
            return;
        }
        let old_keys = std::mem::take(&mut self.keys);
        self.entries.retain(keep);
        self.index.clear();
        for e in &mut self.entries {
            let start = self.keys.len();
            self.keys.push_str(&old_keys[e.key.clone()]);
            e.key = start..self.keys.len();
        }
        let (entries, keys, hasher) = (&self.entries, self.keys.as_str(), &self.hasher);
        for (i, e) in entries.iter().enumerate() {
            self.index
                .insert_unique(hasher.hash_one(&keys[e.key.clone()]), i, |&j| {
                    hasher.hash_one(&keys[entries[j].key.clone()])
                });
        }
    }
}

/// The family being read: the name of the last `# TYPE`/`# HELP`/`# UNIT`, whose
/// metadata goes to the store with the family's new series. Its buffer is reused
/// across scrapes.
#[derive(Debug, Default)]
struct Family {
    name: String,
}

impl Family {
    fn switch_to(&mut self, name: &str) {
        if self.name != name {
            self.name.clear();
            self.name.push_str(name);
        }
    }

    /// Whether a sample of `metric` belongs to this family (`x`, `x_total`, `x_bucket`, …).
    fn covers(&self, metric: &str) -> bool {
        !self.name.is_empty()
            && metric
                .strip_prefix(self.name.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
    }
}

/// A family's metadata as a target's scrapes report it; its texts are ranges of
/// `MetaTable::text`.
#[derive(Debug)]
struct MetaEntry {
    name: Range<usize>,
    help: Range<usize>,
    unit: Range<usize>,
    metric_type: MetricType,
    /// The scrape that last reported it.
    last_iter: u64,
}

/// One `# TYPE`, `# HELP` or `# UNIT` line.
#[derive(Debug, Clone, Copy)]
enum MetaLine<'a> {
    Type(MetricType),
    Help(&'a str),
    Unit(&'a str),
}

/// Metadata of a family no scrape has reported for this many scrapes is forgotten, as
/// Prometheus forgets it.
const METADATA_KEEP_ITERATIONS: u64 = 10;

/// The metadata a target's scrapes reported, by metric family name: written by the scrape
/// loop's cache, read by [`Target::metadata`](crate::Target::metadata) for the API. The
/// loop takes the lock once per scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedMetadata(Arc<Mutex<MetaTable>>);

/// Families in the order the body first listed them, found like [`SeriesTable`]'s
/// series: the `# HELP` and `# TYPE` lines of a steady target each cost one comparison
/// with the entry at (or just before) the cursor, and one of the help text. Names, help
/// texts and units live end to end in one string, read in order; a replaced text stays
/// there as garbage until the garbage outgrows the live text.
#[derive(Debug, Default)]
struct MetaTable {
    entries: Vec<MetaEntry>,
    text: String,
    garbage: usize,
    index: HashMap<String, usize>,
    cursor: usize,
}

impl MetaTable {
    /// Records one metadata line of family `name` in scrape `iter`. A family seen before
    /// is updated in place, so a steady target allocates nothing.
    fn record(&mut self, name: &str, iter: u64, line: MetaLine<'_>) {
        let c = self.cursor;
        let at = |i: usize| {
            self.entries
                .get(i)
                .is_some_and(|e| &self.text[e.name.clone()] == name)
        };
        let i = if c > 0 && at(c - 1) {
            c - 1
        } else if at(c) {
            c
        } else if let Some(&i) = self.index.get(name) {
            i
        } else {
            let i = self.entries.len();
            let start = self.text.len();
            self.text.push_str(name);
            self.entries.push(MetaEntry {
                name: start..self.text.len(),
                help: 0..0,
                unit: 0..0,
                metric_type: MetricType::Unknown,
                last_iter: iter,
            });
            self.index.insert(name.to_owned(), i);
            i
        };
        self.cursor = i + 1;
        let e = &mut self.entries[i];
        e.last_iter = iter;
        let (range, new) = match line {
            MetaLine::Type(t) => {
                e.metric_type = t;
                return;
            }
            MetaLine::Help(h) => (&mut e.help, h),
            MetaLine::Unit(u) => (&mut e.unit, u),
        };
        if self.text[range.clone()] != *new {
            self.garbage += range.len();
            let start = self.text.len();
            self.text.push_str(new);
            *range = start..self.text.len();
            if self.garbage > 4096 && self.garbage > self.text.len() / 2 {
                self.compact();
            }
        }
    }

    /// Rewrites `text` with the live texts only.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.text);
        for e in &mut self.entries {
            for r in [&mut e.name, &mut e.help, &mut e.unit] {
                let start = self.text.len();
                self.text.push_str(&old[r.clone()]);
                *r = start..self.text.len();
            }
        }
        self.garbage = 0;
    }

    fn metadata(&self, e: &MetaEntry) -> Metadata {
        Metadata {
            metric_type: e.metric_type,
            help: self.text[e.help.clone()].to_owned(),
            unit: self.text[e.unit.clone()].to_owned(),
        }
    }

    fn get(&self, name: &str) -> Option<Metadata> {
        self.index
            .get(name)
            .map(|&i| self.metadata(&self.entries[i]))
    }

    /// Forgets the families no scrape reported for `METADATA_KEEP_ITERATIONS` scrapes.
    fn prune(&mut self, iter: u64) {
        let keep = |e: &MetaEntry| e.last_iter + METADATA_KEEP_ITERATIONS >= iter;
        if self.entries.iter().all(keep) {
            return;
        }
        self.entries.retain(keep);
        self.compact();
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (self.text[e.name.clone()].to_owned(), i))
            .collect();
    }
}

impl SharedMetadata {
    /// Every family's metadata, sorted by family name.
    pub(crate) fn list(&self) -> Vec<(String, Metadata)> {
        let t = self.0.lock();
        let mut v: Vec<(String, Metadata)> = t
            .entries
            .iter()
            .map(|e| (t.text[e.name.clone()].to_owned(), t.metadata(e)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The metadata of the family `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Metadata> {
        self.0.lock().get(name)
    }
}

/// What one scrape appended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendResult {
    /// Samples in the body (`scrape_samples_scraped`).
    pub total: u64,
    /// Samples kept after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: u64,
    /// Series new to the cache (`scrape_series_added`).
    pub series_added: u64,
}

/// Series not seen for this many scrapes leave the cache.
const CACHE_KEEP_ITERATIONS: u64 = 4;

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> ScrapeCache {
        ScrapeCache::default()
    }

    /// A cache whose scrapes report the metric families' metadata (type, help, unit) to
    /// `target`, for [`Target::metadata`](crate::Target::metadata): the cache of a
    /// target's scrapes, whoever makes them.
    pub fn for_target(target: &crate::Target) -> ScrapeCache {
        ScrapeCache {
            metadata: target.shared_metadata(),
            ..ScrapeCache::default()
        }
    }

    /// The metadata (type, help, unit) the scrapes reported, by metric family name,
    /// sorted by name. A family stays until no scrape has reported it for 10 scrapes,
    /// as in Prometheus.
    pub fn metadata(&self) -> Vec<(String, Metadata)> {
        self.metadata.list()
    }

    /// Number of cached series (dropped ones included).
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.series.entries.is_empty()
    }

    /// Appends a staleness marker at `t` for every series the last scrape had, and
    /// forgets them: what a loop does when its target goes away.
    pub fn append_all_stale(&mut self, app: &mut dyn Appender, t: i64) -> Result<(), Error> {
        self.iter += 1;
        self.mark_stale(app, t)
    }

    fn mark_stale(&mut self, app: &mut dyn Appender, t: i64) -> Result<(), Error> {
        let prev = self.iter - 1;
        for e in &mut self.series.entries {
            if e.last_iter == prev
                && e.stale_tracked
                && let Some(l) = &e.labels
            {
                match app.append(e.r, l, t, STALE_NAN) {
                    Ok(r) => e.r = r,
                    // Prometheus ignores a stale marker the store finds out of order.
                    Err(
                        promlite_storage::Error::OutOfOrderSample
                        | promlite_storage::Error::DuplicateSampleForTimestamp
                        | promlite_storage::Error::OutOfBounds
                        | promlite_storage::Error::TooOldSample,
                    ) => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
        let iter = self.iter;
        self.series
            .retain(|e| e.last_iter + CACHE_KEEP_ITERATIONS >= iter);
        self.metadata.0.lock().prune(iter);
        Ok(())
    }
}

/// Merges the target's labels into a scraped series (Prometheus's
/// `mutateSampleLabels`): with `honor_labels`, exposed labels win; otherwise target labels
/// win and the exposed values move to `exported_<name>` (more `exported_` prefixes until
/// the name is free, shorter names first).
pub fn merge_target_labels(
    series: &Labels,
    target: &Labels,
    honor: bool,
    b: &mut LabelsBuilder,
) -> Labels {
    b.reset(series);
    if honor {
        for l in target {
            if !series.has(l.name) {
                b.set(l.name, l.value);
            }
        }
        return b.build();
    }
    let mut conflicts: Vec<(&str, &str)> = Vec::new();
    for l in target {
        if let Some(v) = series.get(l.name)
            && !v.is_empty()
        {
            conflicts.push((l.name, v));
        }
        b.set(l.name, l.value);
    }
    conflicts.sort_by_key(|(n, _)| n.len());
    for (name, value) in conflicts {
        let mut new = name.to_owned();
        loop {
            new.insert_str(0, "exported_");
            if b.get(&new).is_none_or(str::is_empty) {
                b.set(&new, value);
                break;
            }
        }
    }
    b.build()
}

fn check_label_limits(l: &Labels, o: &AppendOptions) -> Result<(), Error> {
    let metric = || l.metric_name().unwrap_or_default().to_owned();
    if o.label_limit > 0 && l.len() as u64 > o.label_limit {
        return Err(Error::LabelLimit {
            metric: metric(),
            count: l.len(),
            limit: o.label_limit,
        });
    }
    if o.label_name_length_limit == 0 && o.label_value_length_limit == 0 {
        return Ok(());
    }
    for p in l {
        if o.label_name_length_limit > 0 && p.name.len() as u64 > o.label_name_length_limit {
            return Err(Error::LabelNameLength {
                metric: metric(),
                name: p.name.to_owned(),
                length: p.name.len(),
                limit: o.label_name_length_limit,
            });
        }
        if o.label_value_length_limit > 0 && p.value.len() as u64 > o.label_value_length_limit {
            return Err(Error::LabelValueLength {
                metric: metric(),
                name: p.name.to_owned(),
                value: p.value.to_owned(),
                length: p.value.len(),
                limit: o.label_value_length_limit,
            });
        }
    }
    Ok(())
}

/// Store errors that reject one sample without failing the scrape, as Prometheus's
/// `checkAddError` treats them.
fn is_sample_rejection(e: &promlite_storage::Error) -> bool {
    matches!(
        e,
        promlite_storage::Error::OutOfOrderSample
            | promlite_storage::Error::DuplicateSampleForTimestamp
            | promlite_storage::Error::OutOfBounds
            | promlite_storage::Error::TooOldSample
    )
}

/// Parses `body` in `format` and appends its samples at scrape time `t` (milliseconds):
/// Prometheus's `scrapeLoop.append`.
///
/// An empty body with `format` `None` is a failed scrape: nothing is appended, and every
/// series of the previous scrape gets a staleness marker. On error the caller rolls the
/// transaction back and calls again with no body, so that the failure too marks the
/// previous series stale.
pub fn append_body(
    cache: &mut ScrapeCache,
    app: &mut dyn Appender,
    body: &[u8],
    format: Option<Format>,
    t: i64,
    o: &AppendOptions,
) -> Result<AppendResult, Error> {
    cache.iter += 1;
    let iter = cache.iter;
    let mut res = AppendResult::default();
    if let Some(format) = format
        && let Err(e) = append_entries(cache, app, body, format, t, o, &mut res)
    {
        // Forget this attempt, so that the failure's own (empty) append marks exactly
        // the series of the last good scrape stale.
        for e in &mut cache.series.entries {
            if e.last_iter == iter {
                e.last_iter = e.prev_iter;
            }
        }
        cache.series.retain(|e| e.last_iter != 0);
        cache.iter -= 1;
        return Err(e);
    }
    cache.mark_stale(app, t)?;
    Ok(res)
}

/// Parses `body` with the parser of `format`, each a concrete type so that the sample
/// loop is compiled for it: through `Box<dyn Parser>` every entry (a large enum) was
/// returned through the vtable and copied, a measurable share of a scrape.
fn append_entries(
    cache: &mut ScrapeCache,
    app: &mut dyn Appender,
    body: &[u8],
    format: Format,
    t: i64,
    o: &AppendOptions,
    res: &mut AppendResult,
) -> Result<(), Error> {
    match format {
        Format::PrometheusText => {
            append_parsed(cache, app, PromParser::from_bytes(body)?, t, o, res)
        }
        Format::OpenMetrics => {
            append_parsed(cache, app, OpenMetricsParser::from_bytes(body)?, t, o, res)
        }
        Format::Protobuf => {
            let options = ProtobufOptions {
                keep_classic_histograms: !o.native_histograms,
                ignore_native_histograms: !o.native_histograms,
            };
            let parser = ProtobufParser::with_options(body, options);
            append_parsed(cache, app, parser, t, o, res)
        }
    }
}

fn append_parsed<P: Parser>(
    cache: &mut ScrapeCache,
    app: &mut dyn Appender,
    mut parser: P,
    t: i64,
    o: &AppendOptions,
    res: &mut AppendResult,
) -> Result<(), Error> {
    let iter = cache.iter;
    {
        let ScrapeCache {
            series,
            builder,
            family,
            metadata,
            ..
        } = cache;
        // Metadata does not carry over from the last scrape's final family.
        family.name.clear();
        series.cursor = 0;
        let mut metadata = metadata.0.lock();
        metadata.cursor = 0;
        loop {
            // The entry is read where the parser returned it: moving it out of the
            // `Result` (with `?`) cost a 176-byte copy per entry, a tenth of a scrape.
            let next = parser.next();
            let entry = match &next {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) => return Err(e.clone().into()),
            };
            let (key, name, ts, value) = match entry {
                Entry::Series(s) => (s.series, s.name, s.timestamp, Ok(s.value)),
                Entry::Histogram(h) => (h.series, h.name, h.timestamp, Err(h.histogram)),
                Entry::Type { name, metric_type } => {
                    family.switch_to(name);
                    metadata.record(name, iter, MetaLine::Type(*metric_type));
                    continue;
                }
                Entry::Help { name, help } => {
                    family.switch_to(name);
                    metadata.record(name, iter, MetaLine::Help(help));
                    continue;
                }
                Entry::Unit { name, unit } => {
                    family.switch_to(name);
                    metadata.record(name, iter, MetaLine::Unit(unit));
                    continue;
                }
                Entry::Comment(_) => continue,
            };
            res.total += 1;
            let i = if let Some(i) = series.find(key) {
                i
            } else {
                let raw = match entry {
                    Entry::Series(s) => s.to_labels(builder),
                    Entry::Histogram(h) => h.to_labels(builder),
                    _ => unreachable!("only samples reach here"),
                };
                let merged = merge_target_labels(&raw, &o.target_labels, o.honor_labels, builder);
                let labels = if o.metric_relabel_configs.is_empty() {
                    Some(merged)
                } else {
                    relabel(&merged, &o.metric_relabel_configs, builder)
                };
                if let Some(l) = &labels {
                    if !l.has(METRIC_NAME) {
                        return Err(Error::NameLabelMissing);
                    }
                    check_label_limits(l, o)?;
                    res.series_added += 1;
                }
                series.insert(
                    key,
                    CacheEntry {
                        key: 0..0,
                        r: SeriesRef::NONE,
                        labels,
                        last_iter: 0,
                        prev_iter: 0,
                        stale_tracked: false,
                    },
                )
            };
            // The series a steady scrape appends next: the store may start loading it.
            let next = series.entries.get(series.cursor).map(|n| n.r);
            let e = &mut series.entries[i];
            if e.last_iter != iter {
                e.prev_iter = e.last_iter;
                e.last_iter = iter;
            }
            let Some(labels) = &e.labels else {
                continue;
            };
            res.added += 1;
            if o.sample_limit > 0 && res.added > o.sample_limit {
                return Err(Error::SampleLimit);
            }
            let sample_t = match ts {
                Some(ts) if o.honor_timestamps => ts,
                _ => t,
            };
            if let Some(next) = next.filter(|&n| n != SeriesRef::NONE) {
                app.prefetch(next);
            }
            let appended = match value {
                Ok(v) => app.append(e.r, labels, sample_t, v),
                Err(h) => {
                    let h = match h {
                        promlite_exposition::HistogramRef::Int(h) => HistogramRef::Int(h),
                        promlite_exposition::HistogramRef::Float(h) => HistogramRef::Float(h),
                    };
                    app.append_histogram(e.r, labels, sample_t, h)
                }
            };
            let new_series = e.r == SeriesRef::NONE;
            match appended {
                Ok(r) => {
                    e.r = r;
                    // Metadata goes to the store once per series, when it is first seen.
                    if new_series
                        && family.covers(name)
                        && let Some(m) = metadata.get(family.name.as_str())
                    {
                        e.r = app.update_metadata(r, labels, &m)?;
                    }
                    // Exemplars ride along with their sample (the store drops repeats of
                    // the one a target keeps exposing). One that fails validation is
                    // dropped alone, as Prometheus drops it, not the scrape.
                    match entry {
                        Entry::Series(s) => {
                            if let Some(x) = &s.exemplar {
                                let mut ex = x.to_exemplar(builder);
                                ex.timestamp.get_or_insert(sample_t);
                                let _ = app.append_exemplar(e.r, labels, &ex);
                            }
                        }
                        Entry::Histogram(h) => {
                            for x in h.exemplars {
                                let mut ex = x.clone();
                                ex.timestamp.get_or_insert(sample_t);
                                let _ = app.append_exemplar(e.r, labels, &ex);
                            }
                        }
                        _ => {}
                    }
                }
                Err(err) if is_sample_rejection(&err) => {}
                Err(err) => return Err(err.into()),
            }
            e.stale_tracked = !(ts.is_some() && o.honor_timestamps) || o.track_timestamps_staleness;
        }
    }
    Ok(())
}

/// The numbers behind a scrape's report series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    /// Whether the scrape succeeded (`up`).
    pub up: bool,
    /// `scrape_duration_seconds`.
    pub duration_seconds: f64,
    /// What was appended.
    pub appended: AppendResult,
    /// `scrape_timeout_seconds` (extra metrics).
    pub timeout_seconds: f64,
    /// `scrape_sample_limit` (extra metrics).
    pub sample_limit: u64,
    /// `scrape_body_size_bytes` (extra metrics; -1 when the body limit was hit).
    pub body_size_bytes: f64,
}

/// The report series' names, with references cached by the loop.
const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];
const EXTRA_REPORT_NAMES: [&str; 3] = [
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
];

/// The report series of a target, labelled once and appended with cached references.
#[derive(Debug, Default)]
pub struct ReportSeries {
    series: Vec<(Labels, SeriesRef)>,
}

impl ReportSeries {
    /// The report series for a target with `target_labels`; with `extra`, the three
    /// series of `extra_scrape_metrics` too. Target labels win over the report names'
    /// own labels, as in Prometheus's `mutateReportSampleLabels`.
    pub fn new(target_labels: &Labels, extra: bool) -> ReportSeries {
        let mut b = LabelsBuilder::new();
        let names = REPORT_NAMES
            .iter()
            .chain(if extra { &EXTRA_REPORT_NAMES[..] } else { &[] });
        let series = names
            .map(|n| {
                let own = Labels::from_pairs([(METRIC_NAME, *n)]);
                (
                    merge_target_labels(&own, target_labels, false, &mut b),
                    SeriesRef::NONE,
                )
            })
            .collect();
        ReportSeries { series }
    }

    /// Appends the report of one scrape at `t`.
    pub fn append(&mut self, app: &mut dyn Appender, t: i64, r: &Report) -> Result<(), Error> {
        let values = [
            if r.up { 1.0 } else { 0.0 },
            r.duration_seconds,
            r.appended.total as f64,
            r.appended.added as f64,
            r.appended.series_added as f64,
            r.timeout_seconds,
            r.sample_limit as f64,
            r.body_size_bytes,
        ];
        self.append_values(app, t, &values)
    }

    /// Appends staleness markers to every report series at `t`.
    pub fn append_stale(&mut self, app: &mut dyn Appender, t: i64) -> Result<(), Error> {
        self.append_values(app, t, &[STALE_NAN; 8])
    }

    fn append_values(
        &mut self,
        app: &mut dyn Appender,
        t: i64,
        values: &[f64],
    ) -> Result<(), Error> {
        for ((l, r), v) in self.series.iter_mut().zip(values) {
            match app.append(*r, l, t, *v) {
                Ok(nr) => *r = nr,
                Err(e) if is_sample_rejection(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promlite_model::{Matcher, MetricType, is_stale_nan};
    use promlite_storage::{Appendable, MemStore, Queryable, ValueType};

    fn samples(store: &MemStore, name: &str) -> Vec<(String, i64, f64)> {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        let mut out = Vec::new();
        for s in q.select(true, None, &[Matcher::equal("__name__", name)]) {
            let s = s.unwrap();
            let mut it = s.samples();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                out.push((s.labels().to_string(), t, v));
            }
        }
        out
    }

    fn run(
        store: &MemStore,
        cache: &mut ScrapeCache,
        body: &str,
        t: i64,
        o: &AppendOptions,
    ) -> Result<AppendResult, Error> {
        let mut app = store.appender();
        let fmt = (!body.is_empty()).then_some(Format::PrometheusText);
        let r = append_body(cache, app.as_mut(), body.as_bytes(), fmt, t, o);
        match r {
            Ok(r) => {
                app.commit().unwrap();
                Ok(r)
            }
            Err(e) => {
                app.rollback().unwrap();
                let mut app = store.appender();
                append_body(cache, app.as_mut(), b"", None, t, o).unwrap();
                app.commit().unwrap();
                Err(e)
            }
        }
    }

    #[test]
    fn exemplars_are_stored_with_their_samples() {
        let store = MemStore::new();
        let mut cache = ScrapeCache::new();
        let o = AppendOptions {
            target_labels: Labels::from_pairs([("job", "j")]),
            ..AppendOptions::default()
        };
        let body =
            "# TYPE req counter\nreq_total 5 # {trace_id=\"abc\"} 0.5 123.0\nplain 1\n# EOF\n";
        let mut app = store.appender();
        append_body(
            &mut cache,
            app.as_mut(),
            body.as_bytes(),
            Some(Format::OpenMetrics),
            1_000,
            &o,
        )
        .unwrap();
        app.commit().unwrap();
        let series = Labels::from_pairs([("__name__", "req_total"), ("job", "j")]);
        let ex = store.exemplars(&series);
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].labels.get("trace_id"), Some("abc"));
        assert_eq!((ex[0].value, ex[0].timestamp), (0.5, Some(123_000)));
    }

    #[test]
    fn exported_prefix_and_honor_labels() {
        let series = Labels::from_pairs([("__name__", "m"), ("job", "x"), ("exported_job", "y")]);
        let target = Labels::from_pairs([("job", "node"), ("instance", "h:1")]);
        let mut b = LabelsBuilder::new();
        assert_eq!(
            merge_target_labels(&series, &target, false, &mut b).to_string(),
            r#"{__name__="m", exported_exported_job="x", exported_job="y", instance="h:1", job="node"}"#
        );
        assert_eq!(
            merge_target_labels(&series, &target, true, &mut b).to_string(),
            r#"{__name__="m", exported_job="y", instance="h:1", job="x"}"#
        );
    }

    #[test]
    fn steady_scrapes_staleness_and_limits() {
        let store = MemStore::new();
        let mut cache = ScrapeCache::new();
        let o = AppendOptions {
            target_labels: Labels::from_pairs([("job", "j")]),
            honor_timestamps: true,
            metric_relabel_configs: serde_norway::from_str(
                "- {source_labels: [__name__], regex: drop_me, action: drop}",
            )
            .unwrap(),
            ..AppendOptions::default()
        };
        let r = run(
            &store,
            &mut cache,
            "a 1\nb 2\ndrop_me 3\nc 4 500\n",
            1000,
            &o,
        )
        .unwrap();
        assert_eq!(
            r,
            AppendResult {
                total: 4,
                added: 3,
                series_added: 3
            }
        );
        let r = run(&store, &mut cache, "a 2\ndrop_me 3\n", 2000, &o).unwrap();
        assert_eq!(
            r,
            AppendResult {
                total: 2,
                added: 1,
                series_added: 0
            }
        );
        let b = samples(&store, "b");
        assert_eq!(b.len(), 2);
        assert!(is_stale_nan(b[1].2) && b[1].1 == 2000);
        // `c` had its own timestamp: no staleness marker unless tracked.
        assert_eq!(
            samples(&store, "c"),
            vec![(r#"{__name__="c", job="j"}"#.into(), 500, 4.0)]
        );
        assert!(samples(&store, "drop_me").is_empty());

        let limited = AppendOptions {
            sample_limit: 1,
            ..o.clone()
        };
        let err = run(&store, &mut cache, "a 3\nd 1\n", 3000, &limited).unwrap_err();
        assert_eq!(err.to_string(), "sample limit exceeded");
        let a = samples(&store, "a");
        assert_eq!(a.len(), 3);
        assert!(
            is_stale_nan(a[2].2),
            "a failed scrape marks the last series stale"
        );
        assert!(samples(&store, "d").is_empty());

        let labels = AppendOptions {
            label_limit: 1,
            ..o
        };
        let err = run(&store, &mut cache, "e{x=\"1\"} 1\n", 4000, &labels).unwrap_err();
        assert_eq!(
            err.to_string(),
            "label_limit exceeded (metric: e, number of labels: 3, limit: 1)"
        );
    }

    #[test]
    fn target_metadata_follows_the_scrapes() {
        let store = MemStore::new();
        let mut cache = ScrapeCache::new();
        let o = AppendOptions::default();
        let body =
            "# HELP a_total Counts a.\n# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 2\n";
        run(&store, &mut cache, body, 1000, &o).unwrap();
        // A second scrape of the same body must not repeat the help text (regression:
        // help was appended to the last family's buffer when the body had one family).
        run(&store, &mut cache, body, 2000, &o).unwrap();
        let meta = |name: &str, t: MetricType, help: &str, unit: &str| {
            (
                name.to_owned(),
                Metadata {
                    metric_type: t,
                    help: help.into(),
                    unit: unit.into(),
                },
            )
        };
        assert_eq!(
            cache.metadata(),
            vec![
                meta("a_total", MetricType::Counter, "Counts a.", ""),
                meta("b", MetricType::Gauge, "", ""),
            ]
        );
        let one = "# HELP only Only.\nonly 1\n";
        for t in 0..2 {
            run(&store, &mut cache, one, 3000 + t, &o).unwrap();
        }
        assert_eq!(
            cache.metadata()[2],
            meta("only", MetricType::Unknown, "Only.", "")
        );

        // Changed help replaces the old text; families unreported for 10 scrapes go.
        let changed = "# HELP only Changed.\nonly 1\n";
        for t in 0..10 {
            run(&store, &mut cache, changed, 4000 + t, &o).unwrap();
        }
        assert_eq!(
            cache.metadata(),
            vec![meta("only", MetricType::Unknown, "Changed.", "")]
        );

        // A help text that changes every scrape leaves garbage behind, which is
        // compacted away once it outgrows the live text.
        for t in 0..200 {
            let help = format!("{t:0>100}");
            run(
                &store,
                &mut cache,
                &format!("# HELP only {help}\nonly 1\n"),
                5000 + t,
                &o,
            )
            .unwrap();
            assert_eq!(cache.metadata()[0].1.help, help);
        }
        let table = cache.metadata.0.lock();
        assert!(table.text.len() < 3 * 4096, "{}", table.text.len());
    }

    #[test]
    fn series_cache_survives_reordering_and_removal() {
        let store = MemStore::new();
        let mut cache = ScrapeCache::new();
        let o = AppendOptions::default();
        let added = |r: AppendResult| r.series_added;
        let mut t = 0;
        let mut scrape = |cache: &mut ScrapeCache, body: &str| {
            t += 1000;
            run(&store, cache, body, t, &o).unwrap()
        };
        assert_eq!(added(scrape(&mut cache, "a 1\nb 1\nc 1\nd 1\n")), 4);
        assert_eq!(added(scrape(&mut cache, "d 1\nb 1\na 1\nc 1\n")), 0);
        assert_eq!(added(scrape(&mut cache, "a 1\nc 1\ne 1\n")), 1);
        // b and d leave the cache after CACHE_KEEP_ITERATIONS scrapes without them; the
        // index is rebuilt, so every remaining series is still found.
        for _ in 0..5 {
            assert_eq!(added(scrape(&mut cache, "c 1\ne 1\na 1\n")), 0);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(added(scrape(&mut cache, "e 1\nb 1\na 1\nc 1\n")), 1);
        assert_eq!(cache.len(), 4);
    }
}
