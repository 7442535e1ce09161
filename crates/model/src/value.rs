//! Sample values and timestamps: the staleness marker and time helpers.
//!
//! Prometheus marks a series as stale by appending a sample whose value is a NaN with one
//! particular bit pattern. Ordinary NaNs produced by arithmetic never carry it, so
//! comparisons must look at the bits, not at `is_nan`.

/// The bit pattern of Prometheus's staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float. Compare with [`is_stale_nan`], never with `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// The bit pattern Prometheus uses for an ordinary NaN (`value.NormalNaN`).
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Whether `v` is the staleness marker (by bit pattern).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Milliseconds since the Unix epoch, promlite's timestamp everywhere.
pub type Timestamp = i64;

/// The current wall-clock time as a [`Timestamp`].
pub fn now_ms() -> Timestamp {
    to_ms(std::time::SystemTime::now())
}

/// A wall-clock time as a [`Timestamp`] (negative before 1970).
pub fn to_ms(t: std::time::SystemTime) -> Timestamp {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_a_nan_but_not_every_nan_is_stale() {
        assert!(STALE_NAN.is_nan());
        assert!(is_stale_nan(STALE_NAN));
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(f64::from_bits(NORMAL_NAN_BITS)));
        assert!(!is_stale_nan(1.0));
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
