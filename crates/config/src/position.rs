//! Finding where a problem sits in the YAML text, for errors raised after decoding.
//!
//! The YAML decoder reports positions for what it rejects itself, and for errors raised
//! while a section is being decoded it gives the position of that section. Checks that
//! need the whole file (duplicate job names, inheritance from `global`) run after
//! decoding, when positions are gone. Rather than decode twice into a position-carrying
//! tree, these helpers search the text: the block-style YAML of `prometheus.yml` puts
//! every key at the start of a line (after indentation and list dashes), so a key found
//! from a known line onward is the offending one in practice. Flow-style documents may
//! get no or a coarser position, never a wrong message.

/// The first line at or after `from_line` (1-based) whose content starts with `key:`
/// (after indentation and `- `), with the key's column.
pub(crate) fn find_key(src: &str, from_line: usize, key: &str) -> Option<(usize, usize)> {
    for (i, line) in src.lines().enumerate().skip(from_line.saturating_sub(1)) {
        let trimmed = line.trim_start();
        let mut col = line.len() - trimmed.len();
        let mut rest = trimmed;
        while let Some(r) = rest.strip_prefix('-') {
            let r2 = r.trim_start();
            if r2.len() == r.len() && !r.is_empty() {
                break;
            }
            col += rest.len() - r2.len();
            rest = r2;
        }
        for quoted in [key.to_owned(), format!("\"{key}\""), format!("'{key}'")] {
            if let Some(after) = rest.strip_prefix(quoted.as_str())
                && after.trim_start().starts_with(':')
            {
                return Some((i + 1, col + 1));
            }
        }
    }
    None
}

/// The line and column of the `nth` (0-based) `key: value` pair whose value is `value`
/// (plain or quoted).
pub(crate) fn find_key_value(
    src: &str,
    key: &str,
    value: &str,
    nth: usize,
) -> Option<(usize, usize)> {
    let mut seen = 0;
    let mut from = 1;
    while let Some((line, col)) = find_key(src, from, key) {
        let text = src.lines().nth(line - 1).unwrap_or_default();
        let v = text[col - 1..]
            .split_once(':')
            .map_or("", |(_, v)| v)
            .split(" #")
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        if v == value {
            if seen == nth {
                return Some((line, col));
            }
            seen += 1;
        }
        from = line + 1;
    }
    None
}

/// The first occurrence of `needle` at or after `from_line` (1-based).
pub(crate) fn find_text_from(src: &str, from_line: usize, needle: &str) -> Option<(usize, usize)> {
    src.lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
}

/// The first occurrence of `needle` in the text.
pub(crate) fn find_text(src: &str, needle: &str) -> Option<(usize, usize)> {
    src.lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_found() {
        let src = "scrape_configs:\n  - job_name: a\n    scrape_timeout: 5s\n  - job_name: 'a'\n";
        assert_eq!(find_key(src, 1, "job_name"), Some((2, 5)));
        assert_eq!(find_key(src, 3, "job_name"), Some((4, 5)));
        assert_eq!(find_key(src, 2, "scrape_timeout"), Some((3, 5)));
        assert_eq!(find_key_value(src, "job_name", "a", 1), Some((4, 5)));
        assert_eq!(find_text(src, "5s"), Some((3, 21)));
    }
}
