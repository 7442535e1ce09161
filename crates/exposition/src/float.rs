//! Float and timestamp formatting as Prometheus writes them.
//!
//! Go's `strconv.FormatFloat(f, 'g', -1, 64)` prints the shortest digits that round-trip
//! and switches to exponent form below 1e-4 and from 1e6 up (`1.446321e+06`, as in any
//! Go exporter's output): [`promlite_model::write_go_g`], shared with PromQL's printer.

use std::fmt::Write;

/// Appends `v` as Go's `%g` with shortest precision (`1e+06`, `0.25`, `NaN`, `+Inf`).
pub fn write_go_float(out: &mut String, v: f64) {
    // Writing to a `String` cannot fail.
    let _ = promlite_model::write_go_g(out, v);
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
