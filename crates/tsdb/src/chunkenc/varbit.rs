//! Variable-width integer encodings of the histogram chunks (Prometheus 3's `varbit.go`):
//! a unary prefix of up to eight 1-bits (ended by a 0 unless all eight are set) selects
//! a payload width of 0, 3, 6, 9, 12, 18, 25, 56 or 64 bits.

use super::bstream::{BitReader, BitWriter, Eof};

/// Payload widths by prefix length.
const WIDTHS: [u32; 9] = [0, 3, 6, 9, 12, 18, 25, 56, 64];

/// Whether signed `x` fits `n` bits in Prometheus's biased range `-(2^(n-1)-1) ..= 2^(n-1)`.
fn fits_signed(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

fn write_prefix(w: &mut BitWriter, ones: u32) {
    // `ones` 1-bits, then a terminating 0 unless the prefix is at its full eight bits.
    if ones < 8 {
        w.write_bits(((1u64 << ones) - 1) << 1, ones + 1);
    } else {
        w.write_bits(0xff, 8);
    }
}

pub(crate) fn put_varbit_int(w: &mut BitWriter, v: i64) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for (i, &n) in WIDTHS.iter().enumerate().skip(1) {
        if n == 64 || fits_signed(v, n) {
            write_prefix(w, i as u32);
            w.write_bits(v as u64, n);
            return;
        }
    }
}

pub(crate) fn put_varbit_uint(w: &mut BitWriter, v: u64) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for (i, &n) in WIDTHS.iter().enumerate().skip(1) {
        if n == 64 || v.leading_zeros() >= 64 - n {
            write_prefix(w, i as u32);
            w.write_bits(v, n);
            return;
        }
    }
}

fn read_width(r: &mut BitReader<'_>) -> Result<u32, Eof> {
    let mut ones = 0;
    while ones < 8 && r.read_bit()? {
        ones += 1;
    }
    Ok(WIDTHS[ones])
}

pub(crate) fn read_varbit_int(r: &mut BitReader<'_>) -> Result<i64, Eof> {
    let n = read_width(r)?;
    match n {
        0 => Ok(0),
        64 => Ok(r.read_bits(64)? as i64),
        _ => {
            let bits = r.read_bits(n)?;
            // Values above half the range are negative in two's complement over n bits.
            Ok(if bits > 1 << (n - 1) {
                bits as i64 - (1i64 << n)
            } else {
                bits as i64
            })
        }
    }
}

pub(crate) fn read_varbit_uint(r: &mut BitReader<'_>) -> Result<u64, Eof> {
    let n = read_width(r)?;
    r.read_bits(n)
}

/// The XOR float encoding of the XOR chunk, with its leading/trailing-zero state kept by
/// the caller per field.
pub(crate) fn put_xor(w: &mut BitWriter, v: f64, prev: f64, leading: &mut u8, trailing: &mut u8) {
    let delta = v.to_bits() ^ prev.to_bits();
    if delta == 0 {
        w.write_bit(false);
        return;
    }
    w.write_bit(true);
    let lz = (delta.leading_zeros() as u8).min(31);
    let tz = delta.trailing_zeros() as u8;
    if *leading != 0xff && lz >= *leading && tz >= *trailing {
        w.write_bit(false);
        w.write_bits(
            delta >> *trailing,
            64 - u32::from(*leading) - u32::from(*trailing),
        );
    } else {
        *leading = lz;
        *trailing = tz;
        w.write_bit(true);
        w.write_bits(u64::from(lz), 5);
        let sig = 64 - u32::from(lz) - u32::from(tz);
        w.write_bits(u64::from(sig), 6);
        w.write_bits(delta >> tz, sig);
    }
}

pub(crate) fn read_xor(
    r: &mut BitReader<'_>,
    prev: f64,
    leading: &mut u8,
    trailing: &mut u8,
) -> Result<f64, Eof> {
    if !r.read_bit()? {
        return Ok(prev);
    }
    if r.read_bit()? {
        *leading = r.read_bits(5)? as u8;
        let mut sig = r.read_bits(6)? as u8;
        if sig == 0 {
            sig = 64;
        }
        *trailing = 64u8.checked_sub(*leading + sig).ok_or(Eof)?;
    }
    // A corrupt stream can ask to reuse a window that was never set.
    let sig = 64u32
        .checked_sub(u32::from(*leading) + u32::from(*trailing))
        .ok_or(Eof)?;
    let bits = r.read_bits(sig)?;
    Ok(f64::from_bits(prev.to_bits() ^ (bits << *trailing)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varbits_round_trip(ints in proptest::collection::vec(prop_oneof![-5i64..5, -300i64..300, any::<i64>(), -(1i64<<30)..(1i64<<30)], 0..50),
                              uints in proptest::collection::vec(prop_oneof![0u64..10, any::<u64>(), 0u64..(1u64<<40)], 0..50)) {
            let mut w = BitWriter::default();
            for &i in &ints { put_varbit_int(&mut w, i); }
            for &u in &uints { put_varbit_uint(&mut w, u); }
            let mut r = BitReader::new(&w.bytes);
            for &i in &ints { prop_assert_eq!(read_varbit_int(&mut r).unwrap(), i); }
            for &u in &uints { prop_assert_eq!(read_varbit_uint(&mut r).unwrap(), u); }
        }
    }

    #[test]
    fn widths_follow_prometheus() {
        // -3..=4 in 3 bits (prefix 10): 5 bits in all; 0 in one bit.
        for (v, bits) in [
            (0i64, 1usize),
            (4, 5),
            (-3, 5),
            (5, 9),
            (32, 9),
            (-31, 9),
            (33, 13),
            (1 << 40, 8 + 56),
            (i64::MAX, 8 + 64),
        ] {
            let mut w = BitWriter::default();
            put_varbit_int(&mut w, v);
            let used = w.bytes.len() * 8 - usize::from(w.free_bits());
            assert_eq!(used, bits, "value {v}");
        }
    }
}
