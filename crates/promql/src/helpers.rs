//! Helper threads for one query's work, kept off the caller's CPU.
//!
//! A large selection (see `par.rs`) and a large answer's JSON hand part of their work to
//! rayon's pool while the calling thread goes on with the rest. On a two-CPU KVM guest
//! that first gained nothing, and `perf sched timehist` showed why: the kernel often
//! queues a woken helper on its waker's CPU (cache-warm; and a halted virtual CPU may
//! not count as idle), behind the caller that is still running there, while the other
//! CPU stays idle until the next load balancing, milliseconds later. So the caller
//! yields once after handing out jobs, which lets a helper queued behind it start, and a
//! helper that starts on its caller's CPU narrows its own affinity to the other CPUs,
//! which moves it at once; it restores its affinity when its job is done.

/// Runs `mine` on this thread while `jobs` run on helper threads, and returns when all
/// are done. Each job is first moved off this thread's CPU if it starts there.
///
/// A job may not start before `mine` ends (the pool is busy); whoever waits for its
/// result must then do it itself, as `par.rs` and the JSON writer do, rather than wait.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let sum = AtomicU64::new(0);
/// let sum = &sum;
/// let jobs = (1..=3).map(|i| move || {
///     sum.fetch_add(i, Ordering::Relaxed);
/// });
/// let mine = promlite_promql::helpers::with_helpers(jobs, || 10);
/// assert_eq!(mine + sum.load(Ordering::Relaxed), 16);
/// ```
pub fn with_helpers<'s, J, R>(jobs: impl IntoIterator<Item = J>, mine: impl FnOnce() -> R) -> R
where
    J: FnOnce() + Send + 's,
{
    let here = current_cpu();
    let body = |scope: &rayon::Scope<'s>| {
        for job in jobs {
            scope.spawn(move |_| away_from(here, job));
        }
        std::thread::yield_now();
        mine()
    };
    rayon::in_place_scope(body)
}

/// The CPU the calling thread runs on, where the platform tells.
fn current_cpu() -> Option<usize> {
    imp::current_cpu()
}

/// Runs `f`, first moving this thread off CPU `avoid` if it runs there and may run
/// elsewhere, and restoring its affinity afterwards.
fn away_from<R>(avoid: Option<usize>, f: impl FnOnce() -> R) -> R {
    let _moved = Restore(avoid.and_then(|cpu| {
        if imp::current_cpu() == Some(cpu) {
            imp::exclude(cpu)
        } else {
            None
        }
    }));
    f()
}

/// Puts a saved affinity back when dropped, also when the job panics.
struct Restore(Option<imp::Saved>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            imp::restore(saved);
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod imp {
    /// An affinity mask to put back.
    pub(super) struct Saved(libc::cpu_set_t);

    pub(super) fn current_cpu() -> Option<usize> {
        // SAFETY: `sched_getcpu` takes no arguments and only returns a number.
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).ok()
    }

    /// Takes `cpu` out of this thread's affinity, returning the mask before, when
    /// another CPU remains allowed.
    pub(super) fn exclude(cpu: usize) -> Option<Saved> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return None;
        }
        // SAFETY: `cpu_set_t` is plain bits; a zeroed one is an empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `set` is a valid, writable mask of `size` bytes; 0 is this thread.
        if unsafe { libc::sched_getaffinity(0, size, &raw mut set) } != 0 {
            return None;
        }
        let saved = Saved(set);
        // SAFETY: `cpu` is below `CPU_SETSIZE` (checked above), so these stay in the
        // mask's bounds.
        unsafe {
            if !libc::CPU_ISSET(cpu, &set) {
                return None;
            }
            libc::CPU_CLR(cpu, &mut set);
            if libc::CPU_COUNT(&set) == 0 {
                return None;
            }
        }
        // SAFETY: as above; the kernel migrates this thread off `cpu` at once.
        (unsafe { libc::sched_setaffinity(0, size, &raw const set) } == 0).then_some(saved)
    }

    pub(super) fn restore(saved: &Saved) {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `saved.0` is a mask the kernel gave for this thread. A failure leaves
        // the narrower mask, which only costs this helper the one CPU.
        unsafe {
            libc::sched_setaffinity(0, size, &raw const saved.0);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) struct Saved;

    pub(super) fn current_cpu() -> Option<usize> {
        None
    }

    pub(super) fn exclude(_cpu: usize) -> Option<Saved> {
        None
    }

    pub(super) fn restore(_saved: &Saved) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_thread_leaves_an_excluded_cpu_and_gets_its_affinity_back() {
        let Some(here) = current_cpu() else {
            return;
        };
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        match imp::exclude(here) {
            Some(saved) => {
                // The kernel has moved this thread before the call returned.
                assert_ne!(current_cpu(), Some(here));
                imp::restore(&saved);
            }
            None => assert_eq!(cpus, 1, "another CPU was allowed"),
        }
        assert_eq!(
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpus
        );
        assert_eq!(away_from(Some(here), || 7), 7);
        assert_eq!(away_from(None, || 8), 8);
    }

    #[test]
    fn every_job_and_the_callers_part_run() {
        let done = AtomicUsize::new(0);
        let done = &done;
        let mine = with_helpers(
            (0..5).map(|i| {
                move || {
                    done.fetch_add(i, Ordering::Relaxed);
                }
            }),
            || 100,
        );
        assert_eq!(mine, 100);
        assert_eq!(done.load(Ordering::Relaxed), 10);
    }
}
