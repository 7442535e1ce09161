//! Floats written as Go's `strconv.FormatFloat` writes them with the shortest precision,
//! which is how Prometheus writes every float it shows: `'f'` in the HTTP API's JSON,
//! `'g'` (Go's `%v`) in the text exposition format and in PromQL's printed expressions.
//!
//! The digits are the shortest that read back to the same float, with halfway cases
//! rounded to the even digit as Go rounds them (`639075167746196.25` is
//! `639075167746196.2`); they come from `zmij`, and only their layout is Go's here.

use std::fmt::{self, Write};

/// The shortest round-trip digits of a finite, non-zero float: `0.d₁d₂…dₙ × 10^point`.
struct Digits {
    negative: bool,
    ascii: [u8; 17],
    len: usize,
    point: i32,
}

impl Digits {
    fn of(v: f64) -> Digits {
        let mut buf = zmij::Buffer::new();
        let s = buf.format_finite(v);
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (mantissa, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (s, 0),
        };
        let int_len = mantissa.find('.').unwrap_or(mantissa.len());
        let mut d = Digits {
            negative,
            ascii: [0; 17],
            len: 0,
            point: i32::try_from(int_len).unwrap_or(0) + exp,
        };
        for b in mantissa.bytes().filter(u8::is_ascii_digit) {
            if d.len == 0 && b == b'0' {
                d.point -= 1; // a leading zero of `0.001`
            } else if d.len < d.ascii.len() {
                d.ascii[d.len] = b;
                d.len += 1;
            }
        }
        while d.len > 1 && d.ascii[d.len - 1] == b'0' {
            d.len -= 1;
        }
        d
    }

    fn str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.ascii[..self.len]).unwrap_or("0")
    }

    /// Go's `%f` layout of these digits: no exponent, as many decimals as they need.
    fn write_plain(&self, out: &mut impl Write) -> fmt::Result {
        if self.negative {
            out.write_char('-')?;
        }
        let digits = self.str();
        let len = i32::try_from(self.len).unwrap_or(i32::MAX);
        if self.point <= 0 {
            out.write_str("0.")?;
            zeros(out, -self.point)?;
            out.write_str(digits)
        } else if len <= self.point {
            out.write_str(digits)?;
            zeros(out, self.point - len)
        } else {
            let (int, frac) = digits.split_at(self.point as usize);
            out.write_str(int)?;
            out.write_char('.')?;
            out.write_str(frac)
        }
    }

    /// Go's `%e` layout: one digit, the rest after a point, and an exponent of at least
    /// two digits (`1.5e+06`, `1e-05`).
    fn write_exponent(&self, out: &mut impl Write) -> fmt::Result {
        if self.negative {
            out.write_char('-')?;
        }
        let (first, rest) = self.str().split_at(1);
        out.write_str(first)?;
        if !rest.is_empty() {
            out.write_char('.')?;
            out.write_str(rest)?;
        }
        let exp = self.point - 1;
        let sign = if exp < 0 { '-' } else { '+' };
        write!(out, "e{sign}{:02}", exp.unsigned_abs())
    }
}

fn zeros(out: &mut impl Write, n: i32) -> fmt::Result {
    for _ in 0..n {
        out.write_char('0')?;
    }
    Ok(())
}

/// Writes the values every format spells alike; returns whether `v` was one of them.
fn write_special(out: &mut impl Write, v: f64) -> Result<bool, fmt::Error> {
    let s = if v.is_nan() {
        "NaN"
    } else if v == f64::INFINITY {
        "+Inf"
    } else if v == f64::NEG_INFINITY {
        "-Inf"
    } else if v == 0.0 {
        if v.is_sign_negative() { "-0" } else { "0" }
    } else {
        return Ok(false);
    };
    out.write_str(s)?;
    Ok(true)
}

/// Writes `v` as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: never an exponent
/// (`1e21` is `1000000000000000000000`), `NaN`, `+Inf`, `-Inf`.
///
/// ```
/// let mut s = String::new();
/// promlite_model::write_go_f(&mut s, 0.00001).unwrap();
/// assert_eq!(s, "0.00001");
/// ```
pub fn write_go_f(out: &mut impl Write, v: f64) -> fmt::Result {
    if write_special(out, v)? {
        return Ok(());
    }
    Digits::of(v).write_plain(out)
}

/// Writes `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which is also Go's `%v`:
/// an exponent below 1e-4 and from 1e6 up (`1e+06`, `1.5e-05`), plain otherwise.
///
/// ```
/// let mut s = String::new();
/// promlite_model::write_go_g(&mut s, 1446321.0).unwrap();
/// assert_eq!(s, "1.446321e+06");
/// ```
pub fn write_go_g(out: &mut impl Write, v: f64) -> fmt::Result {
    if write_special(out, v)? {
        return Ok(());
    }
    let d = Digits::of(v);
    let exp = d.point - 1;
    if (-4..6).contains(&exp) {
        d.write_plain(out)
    } else {
        d.write_exponent(out)
    }
}

/// Writes `v` as Go's `strconv.FormatFloat(v, 'e', -1, 64)`: one digit, the rest after
/// a point, and an exponent with a sign and at least two digits (`2.7e+01`, `0e+00`).
///
/// ```
/// let mut s = String::new();
/// promlite_model::write_go_e(&mut s, 0.000_000_15).unwrap();
/// assert_eq!(s, "1.5e-07");
/// ```
pub fn write_go_e(out: &mut impl Write, v: f64) -> fmt::Result {
    if v == 0.0 {
        return out.write_str(if v.is_sign_negative() {
            "-0e+00"
        } else {
            "0e+00"
        });
    }
    if write_special(out, v)? {
        return Ok(());
    }
    Digits::of(v).write_exponent(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_go_f(&mut s, v).unwrap();
        s
    }

    fn g(v: f64) -> String {
        let mut s = String::new();
        write_go_g(&mut s, v).unwrap();
        s
    }

    fn e(v: f64) -> String {
        let mut s = String::new();
        write_go_e(&mut s, v).unwrap();
        s
    }

    /// Outputs of Go 1.19's `strconv.FormatFloat` for these values (written as Go's
    /// output reads, without digit separators).
    #[test]
    // 639075167746196.25 is exact, and halfway between the shortest candidates .2 and .3.
    #[allow(clippy::unreadable_literal, clippy::excessive_precision)]
    fn as_go_writes_them() {
        let cases: &[(f64, &str, &str)] = &[
            (0.0, "0", "0"),
            (-0.0, "-0", "-0"),
            (1.0, "1", "1"),
            (-2.5, "-2.5", "-2.5"),
            (0.1, "0.1", "0.1"),
            (100.0, "100", "100"),
            (123456.0, "123456", "123456"),
            (1e6, "1000000", "1e+06"),
            (1446321.0, "1446321", "1.446321e+06"),
            (0.0001, "0.0001", "0.0001"),
            (0.00001, "0.00001", "1e-05"),
            (0.000123, "0.000123", "0.000123"),
            (1.5e-7, "0.00000015", "1.5e-07"),
            (1e21, "1000000000000000000000", "1e+21"),
            (1.7976931348623157e308, "", "1.7976931348623157e+308"),
            (5e-324, "", "5e-324"),
            (
                639075167746196.25,
                "639075167746196.2",
                "6.390751677461962e+14",
            ),
            (f64::NAN, "NaN", "NaN"),
            (f64::INFINITY, "+Inf", "+Inf"),
            (f64::NEG_INFINITY, "-Inf", "-Inf"),
        ];
        for &(v, want_f, want_g) in cases {
            if !want_f.is_empty() {
                assert_eq!(f(v), want_f, "'f' of {v:e}");
            }
            assert_eq!(g(v), want_g, "'g' of {v:e}");
        }
        for (v, want) in [
            (0.0, "0e+00"),
            (-0.0, "-0e+00"),
            (27.0, "2.7e+01"),
            (-1.5e-7, "-1.5e-07"),
            (1e100, "1e+100"),
            (639075167746196.25, "6.390751677461962e+14"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(e(v), want, "'e' of {v:e}");
        }
        assert_eq!(f(5e-324).len(), "0.".len() + 323 + 1);
        assert!(f(1.7976931348623157e308).starts_with("179769313486231570000"));
    }

    proptest! {
        /// Both layouts read back to the same float, with the shortest digits.
        #[test]
        fn round_trip(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            for s in [f(v), g(v), e(v)] {
                prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{}", s);
            }
            // The plain layout of 'g' is 'f''s.
            let exp = Digits::of(v).point - 1;
            if v != 0.0 && (-4..6).contains(&exp) {
                prop_assert_eq!(g(v), f(v));
            }
        }

        /// The digits are Rust's shortest digits whenever the two agree on rounding
        /// (they differ only on exact halfway cases).
        #[test]
        fn shortest_digits(v in any::<f64>().prop_filter("finite", |v| v.is_finite() && *v != 0.0)) {
            let ours = Digits::of(v);
            let rust = format!("{:e}", v.abs());
            let rust_digits: String = rust.split('e').next().unwrap_or("").chars().filter(char::is_ascii_digit).collect();
            prop_assert_eq!(ours.str().len(), rust_digits.len(), "{} vs {}", ours.str(), rust);
        }
    }
}
