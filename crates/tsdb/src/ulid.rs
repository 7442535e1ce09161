//! ULIDs for block names: 48 bits of milliseconds and 80 random bits in Crockford's
//! base32, so block directories sort by creation time as Prometheus's do.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new ULID string (26 characters).
pub(crate) fn new_ulid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = promlite_model::value::now_ms().max(0) as u128;
    // Randomness from the standard library's per-process random hash keys, mixed with a
    // counter: unique within a process and unpredictable across processes, which is all
    // block naming needs.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(ms);
    let hi = h.finish();
    h.write_u8(0x5a);
    let lo = h.finish();
    let random = ((u128::from(hi) << 64 | u128::from(lo)) >> 48) & ((1u128 << 80) - 1);
    let v = (ms & ((1 << 48) - 1)) << 80 | random;
    (0..26)
        .rev()
        .map(|i| ALPHABET[((v >> (5 * i)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ulids_are_26_crockford_chars_and_unique() {
        let a = super::new_ulid();
        let b = super::new_ulid();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| super::ALPHABET.contains(&c)));
    }
}
