//! The atomic number types behind counters and gauges, and the small helpers (float
//! addition on an `AtomicU64`, the wall clock) shared by every metric.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

/// A number a [`Counter`](crate::Counter) or [`Gauge`](crate::Gauge) can hold: `u64`,
/// `i64` or `f64`, each stored in one atomic word so updates take no lock.
///
/// Integer updates are a single `fetch_add`; `f64` updates are a compare-and-swap loop
/// on the value's bits (there is no atomic float addition in hardware).
pub trait Number: sealed::Sealed + Copy + Default + PartialOrd + Send + Sync + 'static {
    /// The atomic cell holding the value.
    #[doc(hidden)]
    type Atomic: Send + Sync + std::fmt::Debug;
    /// A new cell.
    #[doc(hidden)]
    fn atomic(v: Self) -> Self::Atomic;
    /// Adds `v` (wrapping for integers).
    #[doc(hidden)]
    fn add(a: &Self::Atomic, v: Self);
    /// Subtracts `v` (wrapping for integers).
    #[doc(hidden)]
    fn sub(a: &Self::Atomic, v: Self);
    /// Reads the value.
    #[doc(hidden)]
    fn load(a: &Self::Atomic) -> Self;
    /// Stores `v`.
    #[doc(hidden)]
    fn store(a: &Self::Atomic, v: Self);
    /// Raises the value to `v` if it is below (for `absolute` counter updates).
    #[doc(hidden)]
    fn fetch_max(a: &Self::Atomic, v: Self);
    /// The value as a float, as every exposition format carries it.
    fn to_f64(self) -> f64;
    /// Whether the value is below zero or NaN (never true for `u64`).
    #[doc(hidden)]
    fn is_negative_or_nan(self) -> bool;
}

/// `Number` for an integer type and its atomic: every operation is one atomic
/// instruction.
macro_rules! integer_number {
    ($t:ty, $atomic:ty, $negative:expr) => {
        impl Number for $t {
            type Atomic = $atomic;
            fn atomic(v: $t) -> $atomic {
                <$atomic>::new(v)
            }
            #[inline]
            fn add(a: &$atomic, v: $t) {
                a.fetch_add(v, Ordering::Relaxed);
            }
            #[inline]
            fn sub(a: &$atomic, v: $t) {
                a.fetch_sub(v, Ordering::Relaxed);
            }
            fn load(a: &$atomic) -> $t {
                a.load(Ordering::Relaxed)
            }
            fn store(a: &$atomic, v: $t) {
                a.store(v, Ordering::Relaxed);
            }
            fn fetch_max(a: &$atomic, v: $t) {
                a.fetch_max(v, Ordering::Relaxed);
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn is_negative_or_nan(self) -> bool {
                let negative: fn($t) -> bool = $negative;
                negative(self)
            }
        }
    };
}

integer_number!(u64, AtomicU64, |_| false);
integer_number!(i64, AtomicI64, |v| v < 0);

impl Number for f64 {
    type Atomic = AtomicU64;
    fn atomic(v: f64) -> AtomicU64 {
        AtomicU64::new(v.to_bits())
    }
    #[inline]
    fn add(a: &AtomicU64, v: f64) {
        add_f64(a, v);
    }
    #[inline]
    fn sub(a: &AtomicU64, v: f64) {
        add_f64(a, -v);
    }
    fn load(a: &AtomicU64) -> f64 {
        f64::from_bits(a.load(Ordering::Relaxed))
    }
    fn store(a: &AtomicU64, v: f64) {
        a.store(v.to_bits(), Ordering::Relaxed);
    }
    fn fetch_max(a: &AtomicU64, v: f64) {
        let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            (f64::from_bits(bits) < v).then_some(v.to_bits())
        });
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_negative_or_nan(self) -> bool {
        self.is_nan() || self < 0.0
    }
}

/// Adds `v` to the float whose bits `a` holds.
#[inline]
pub(crate) fn add_f64(a: &AtomicU64, v: f64) {
    let mut old = a.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(old) + v).to_bits();
        match a.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => old = seen,
        }
    }
}

/// Reads the float whose bits `a` holds.
#[inline]
pub(crate) fn load_f64(a: &AtomicU64) -> f64 {
    f64::from_bits(a.load(Ordering::Relaxed))
}

/// The wall clock in milliseconds since the Unix epoch (0 before 1970, which a clock
/// set that wrong deserves).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_add_and_max() {
        let a = f64::atomic(1.5);
        f64::add(&a, 2.0);
        f64::sub(&a, 0.5);
        assert_eq!(f64::load(&a), 3.0);
        f64::fetch_max(&a, 2.0);
        assert_eq!(f64::load(&a), 3.0);
        f64::fetch_max(&a, 7.0);
        assert_eq!(f64::load(&a), 7.0);
        assert!(f64::NAN.is_negative_or_nan());
        assert!(!0.0f64.is_negative_or_nan());
    }
}
