//! A steady scrape allocates nothing per sample: every series is found in the cache by
//! its raw text and appended with its cached reference.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use promlite_exposition::Format;
use promlite_model::{Exemplar, Labels, Metadata};
use promlite_scrape::{AppendOptions, ScrapeCache, append_body};
use promlite_storage::{Appender, HistogramRef, Result, SeriesRef};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A store that keeps nothing, so only the scrape path's allocations are counted.
struct Discard;

impl Appender for Discard {
    fn append(&mut self, _: SeriesRef, _: &Labels, _: i64, _: f64) -> Result<SeriesRef> {
        Ok(SeriesRef(1))
    }
    fn append_histogram(
        &mut self,
        _: SeriesRef,
        _: &Labels,
        _: i64,
        _: HistogramRef<'_>,
    ) -> Result<SeriesRef> {
        Ok(SeriesRef(1))
    }
    fn append_exemplar(&mut self, r: SeriesRef, _: &Labels, _: &Exemplar) -> Result<SeriesRef> {
        Ok(r)
    }
    fn update_metadata(&mut self, r: SeriesRef, _: &Labels, _: &Metadata) -> Result<SeriesRef> {
        Ok(r)
    }
    fn commit(self: Box<Self>) -> Result<()> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn steady_scrape_allocates_nothing_per_sample() {
    // 200 families of 10 series: the families' HELP and TYPE, recorded as the target's
    // metadata, must cost nothing either once known.
    let mut body = String::new();
    for f in 0..200 {
        writeln!(
            body,
            "# HELP http{f}_requests_total Requests of server {f}.\n# TYPE http{f}_requests_total counter"
        )
        .unwrap();
        for i in 0..10 {
            writeln!(
                body,
                "http{f}_requests_total{{code=\"200\",path=\"/p{i}\"}} {i}"
            )
            .unwrap();
        }
    }
    let opts = AppendOptions {
        target_labels: Labels::from_pairs([("job", "j"), ("instance", "h:1")]),
        honor_timestamps: true,
        ..AppendOptions::default()
    };
    let mut cache = ScrapeCache::new();
    let mut app = Discard;
    let first = append_body(
        &mut cache,
        &mut app,
        body.as_bytes(),
        Some(Format::PrometheusText),
        1,
        &opts,
    )
    .unwrap();
    assert_eq!(first.series_added, 2_000);

    let before = ALLOCS.load(Ordering::Relaxed);
    let second = append_body(
        &mut cache,
        &mut app,
        body.as_bytes(),
        Some(Format::PrometheusText),
        2,
        &opts,
    )
    .unwrap();
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!((second.added, second.series_added), (2_000, 0));
    assert_eq!(cache.metadata().len(), 200);
    assert!(
        allocs < 16,
        "{allocs} allocations for a steady scrape of 2000 samples"
    );
}
