//! The hot path allocates nothing: incrementing, setting and observing existing metrics,
//! and looking up an existing family child by borrowed label values.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use promlite_client::{Counter, Family, Gauge, Histogram, HistogramConfig, StateSet};

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
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.load(Ordering::Relaxed);
    f();
    ALLOCS.load(Ordering::Relaxed) - before
}

// One test function: the counter is global, so tests running in parallel threads would
// count each other's allocations.
#[test]
fn hot_paths_allocate_nothing() {
    let counter: Counter = Counter::new();
    let fcounter: Counter<f64> = Counter::new();
    let gauge: Gauge = Gauge::new();
    let histogram = Histogram::default();
    let native = Histogram::new(&HistogramConfig::native(3, 0.0).unwrap());
    let states = StateSet::new(["a", "b"]).unwrap();
    let family: Family<[String; 2], Counter> = Family::new(["method", "code"]).unwrap();
    let histograms: Family<Vec<String>, Histogram> = Family::new(["route"]).unwrap();
    family.get_or_create(&["GET", "200"]).unwrap();
    histograms.get_or_create(&["/"]).unwrap();
    // Native buckets are created on first use; warm the ones the loop hits.
    for i in 0..100 {
        native.observe(f64::from(i));
    }

    let n = allocations(|| {
        for i in 0..1000 {
            counter.inc();
            counter.inc_by(3);
            fcounter.inc_by(0.5);
            gauge.set(f64::from(i));
            gauge.dec();
            histogram.observe(f64::from(i) / 100.0);
            native.observe(f64::from(i % 100));
            states.set_only("b").unwrap();
            family.get_or_create(&["GET", "200"]).unwrap().inc();
            histograms.get_or_create(&["/"]).unwrap().observe(0.3);
        }
    });
    assert_eq!(n, 0, "allocations on the hot path");
    assert_eq!(family.get(&["GET", "200"]).map(|c| c.get()), Some(1000));
}
