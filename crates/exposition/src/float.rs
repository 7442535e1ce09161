//! Float and timestamp formatting as Prometheus writes them.
//!
//! Go's `strconv.FormatFloat(f, 'g', -1, 64)` prints the shortest digits that round-trip
//! and switches to exponent form below 1e-4 and from 1e6 up (`1.446321e+06`, as in any
//! Go exporter's output). Rust's `{:e}` gives the same
//! shortest digits, so only the layout is rebuilt here.

use std::fmt::Write;

/// Appends `v` as Go's `%g` with shortest precision (`1e+06`, `0.25`, `NaN`, `+Inf`).
pub fn write_go_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    let mut buf = String::with_capacity(24);
    let _ = write!(buf, "{v:e}");
    let (mant, exp) = buf.split_once('e').unwrap_or((&buf, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    if neg {
        out.push('-');
    }
    // Go's rule for shortest 'g': exponent form when exp < -4 || exp >= 6.
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// Appends `v` as Prometheus's `FormatOpenMetricsFloat`: Go's `%g`, with `.0` added to
/// integral values. Used for `le` and `quantile` label values.
pub fn write_openmetrics_float(out: &mut String, v: f64) {
    let start = out.len();
    write_go_float(out, v);
    if v.is_finite() && !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// Appends milliseconds as exact decimal seconds (`1.5`, `-0.001`, `17`), for
/// OpenMetrics timestamps. Integer arithmetic keeps them exact, so they read back to the
/// same milliseconds.
pub(crate) fn write_seconds(out: &mut String, ms: i64) {
    let neg = ms < 0;
    let abs = ms.unsigned_abs();
    let (s, frac) = (abs / 1000, abs % 1000);
    if neg {
        out.push('-');
    }
    let _ = write!(out, "{s}");
    if frac != 0 {
        let f = format!("{frac:03}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64) -> String {
        let mut s = String::new();
        write_go_float(&mut s, v);
        s
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (0.25, "0.25"),
            (100_000.0, "100000"),
            (1e6, "1e+06"),
            (1_446_321.0, "1.446321e+06"),
            (1e21, "1e+21"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(g(v), want, "{v}");
        }
        let mut s = String::new();
        write_openmetrics_float(&mut s, 1.0);
        assert_eq!(s, "1.0");
    }

    #[test]
    fn seconds_are_exact() {
        for (ms, want) in [
            (0, "0"),
            (1500, "1.5"),
            (-1, "-0.001"),
            (1_700_000_000_123, "1700000000.123"),
        ] {
            let mut s = String::new();
            write_seconds(&mut s, ms);
            assert_eq!(s, want);
        }
    }
}
