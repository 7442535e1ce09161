//! The server's settings for the C allocator (glibc's malloc; nothing elsewhere).
//!
//! A query over many series allocates many mid-sized buffers at once: `sum by (l)
//! (rate(h_hundred[5m]))` over 1000 steps holds 1100 series of 1000 points, about 18 MiB
//! in 16 KiB pieces, and frees them when its answer is written. glibc returns free memory
//! at the top of a heap to the kernel once it passes the trim threshold, which starts at
//! 128 KiB and only grows with the largest single block freed, so those pieces went back
//! after every such query and the next one faulted them in again: 5,000 page faults per
//! request, 18 % of its time on this machine (`docs/benchmarks.md`). The server fixes
//! both thresholds at 32 MiB, the value glibc's own dynamic thresholds grow to at most
//! on 64-bit systems: buffers up to that size come from the heap and a heap keeps up to
//! that much free memory at its top. The peak memory of the side-by-side benchmark did
//! not change.
//!
//! Whoever sets malloc's parameters themselves, through `GLIBC_TUNABLES` or glibc's
//! older `MALLOC_*_` variables, keeps them: the server then sets nothing.

/// The trim and mmap thresholds the server sets: 32 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const THRESHOLD: i32 = 32 << 20;

/// Sets glibc's trim and mmap thresholds (see the module's documentation), unless the
/// environment sets malloc's parameters. Returns whether it set them. Does nothing and
/// returns `false` where the C library is not glibc.
pub(crate) fn tune() -> bool {
    if user_tuned(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())) {
        return false;
    }
    set_thresholds()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_thresholds() -> bool {
    // SAFETY: `mallopt` only changes allocator parameters, under the allocator's own
    // lock; it takes no pointers and any value is accepted or refused with 0.
    let mmap = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) };
    // SAFETY: as above.
    let trim = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD) };
    mmap == 1 && trim == 1
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> bool {
    false
}

/// Whether the environment (read through `var`) sets any of malloc's parameters.
fn user_tuned(var: impl Fn(&str) -> Option<String>) -> bool {
    const OLD_STYLE: [&str; 6] = [
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TOP_PAD_",
        "MALLOC_MMAP_MAX_",
        "MALLOC_ARENA_MAX",
        "MALLOC_ARENA_TEST",
    ];
    var("GLIBC_TUNABLES").is_some_and(|t| t.contains("glibc.malloc."))
        || OLD_STYLE.iter().any(|name| var(name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_in_the_environment_win() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        assert!(!user_tuned(env(&[])));
        assert!(!user_tuned(env(&[(
            "GLIBC_TUNABLES",
            "glibc.rtld.optional_static_tls=512"
        )])));
        assert!(user_tuned(env(&[(
            "GLIBC_TUNABLES",
            "glibc.malloc.trim_threshold=1"
        )])));
        assert!(user_tuned(env(&[("MALLOC_ARENA_MAX", "2")])));
        assert!(user_tuned(env(&[("MALLOC_TRIM_THRESHOLD_", "0")])));
    }

    /// With the thresholds set, memory freed at the top of a heap stays mapped: a second
    /// round of the same allocations touches no new pages. (Without them, glibc trims
    /// the 16 MiB after the first round and the second faults it all in again.)
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_freed_working_set_is_reused_without_page_faults() {
        // Tests run on threads of their own; the environment of `cargo test` may set
        // malloc's parameters, which `tune` then leaves alone.
        if !tune() {
            return;
        }
        // On a thread of its own, so that the counts are this work's alone.
        let faults = std::thread::spawn(|| {
            let round = || {
                let blocks: Vec<Vec<u8>> = (0..1024).map(|i| vec![i as u8; 16 << 10]).collect();
                std::hint::black_box(&blocks);
            };
            round();
            let before = minor_faults();
            round();
            minor_faults() - before
        })
        .join()
        .expect("the allocating thread");
        // 16 MiB is 4096 pages; a few faults may come from elsewhere in the process's
        // bookkeeping, none from re-used blocks.
        assert!(faults < 256, "{faults} page faults in the second round");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    fn minor_faults() -> i64 {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `getrusage` fills the struct it is given, which lives for the call.
        let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        assert_eq!(r, 0, "getrusage");
        // SAFETY: zero-initialised and filled in by the successful call.
        unsafe { usage.assume_init() }.ru_minflt
    }
}
