//! Guards the hot-path promise: once warm, a chain allocates only the returned label set,
//! and nothing when no rule changed anything.
// A counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use promlite_model::{Labels, LabelsBuilder};
use promlite_relabel::{RelabelConfig, relabel};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn warm_chains_allocate_only_the_result() {
    let rules: Vec<RelabelConfig> = serde_norway::from_str(
        r#"
- source_labels: [__address__]
  target_label: instance
- source_labels: [__address__]
  regex: "(.*):(\\d+)"
  target_label: port
  replacement: "${2}"
- source_labels: [job, instance]
  separator: "/"
  target_label: __tmp_hash
  modulus: 4
  action: hashmod
- source_labels: [job]
  regex: "node|api"
  action: keep
- source_labels: [instance]
  target_label: host
  action: uppercase
- regex: "__meta_kubernetes_pod_label_(.+)"
  action: labelmap
- regex: "__meta_.*|__tmp_.*"
  action: labeldrop
"#,
    )
    .unwrap();
    let filters: Vec<RelabelConfig> = serde_norway::from_str(
        r#"
- source_labels: [job]
  regex: "node|api"
  action: keep
- source_labels: [__name__]
  regex: "go_.*"
  action: drop
"#,
    )
    .unwrap();
    let input = Labels::from_pairs([
        ("__address__", "10.0.0.1:9100"),
        ("__meta_kubernetes_pod_label_app", "web"),
        ("__meta_kubernetes_namespace", "prod"),
        ("job", "node"),
    ]);
    let mut b = LabelsBuilder::new();
    let want = relabel(&input, &rules, &mut b).unwrap();
    assert_eq!(
        want.to_string(),
        r#"{__address__="10.0.0.1:9100", app="web", host="10.0.0.1:9100", instance="10.0.0.1:9100", job="node", port="9100"}"#
    );
    // Warm up every buffer, then count.
    for _ in 0..3 {
        let _ = relabel(&input, &rules, &mut b);
        let _ = relabel(&input, &filters, &mut b);
    }
    let mut out = None;
    let n = allocations(|| out = relabel(&input, &rules, &mut b));
    assert_eq!(out, Some(want));
    assert_eq!(n, 1, "a rewriting chain allocates only the returned set");
    let n = allocations(|| out = relabel(&input, &filters, &mut b));
    assert_eq!(out, Some(input.clone()));
    assert_eq!(n, 0, "a chain that changes nothing allocates nothing");
}
