//! Validity rules for metric and label names.
//!
//! Prometheus 3 accepts any UTF-8 name when the UTF-8 validation scheme is in force and
//! the legacy character sets otherwise. Both checks live here so every parser and API
//! applies the same rule.

/// Which names are valid: Prometheus's `model.NameValidationScheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ValidationScheme {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, `[a-zA-Z_][a-zA-Z0-9_]*` for labels.
    Legacy,
    /// Any non-empty UTF-8 string (Prometheus 3's default).
    #[default]
    Utf8,
}

/// Whether `name` is a metric name under the legacy character set `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Whether `name` is a label name under the legacy character set `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Whether `name` is a valid metric name under `scheme`.
pub fn is_valid_metric_name(name: &str, scheme: ValidationScheme) -> bool {
    match scheme {
        ValidationScheme::Legacy => is_valid_legacy_metric_name(name),
        ValidationScheme::Utf8 => !name.is_empty(),
    }
}

/// Whether `name` is a valid label name under `scheme`.
pub fn is_valid_label_name(name: &str, scheme: ValidationScheme) -> bool {
    match scheme {
        ValidationScheme::Legacy => is_valid_legacy_label_name(name),
        ValidationScheme::Utf8 => !name.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names() {
        for ok in ["a", "_", "a_b:c", "A9", ":x", "__name__"] {
            assert!(is_valid_legacy_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "é"] {
            assert!(!is_valid_legacy_metric_name(bad), "{bad}");
        }
        assert!(!is_valid_legacy_label_name(":x"));
        assert!(!is_valid_legacy_label_name("a:b"));
        assert!(is_valid_legacy_label_name("_a9"));
    }

    #[test]
    fn utf8_names() {
        assert!(is_valid_metric_name(
            "http.requests",
            ValidationScheme::Utf8
        ));
        assert!(!is_valid_metric_name(
            "http.requests",
            ValidationScheme::Legacy
        ));
        assert!(!is_valid_label_name("", ValidationScheme::Utf8));
    }
}
