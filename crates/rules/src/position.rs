//! Where groups and rules sit in the YAML text, for errors raised after decoding.
//!
//! Prometheus decodes a rule file twice, once into plain structs and once into YAML nodes
//! that carry line and column, and reports validation errors at those nodes. serde has no
//! nodes, so this module indexes the block-style text instead: the `groups:` sequence,
//! each group's mapping, its `rules:` sequence, and in each rule the values of `record`,
//! `alert` and `expr`. Rule files are block-style YAML in practice; for flow-style parts
//! (`rules: [...]`) or aliases the index has no entry and errors come without a position,
//! never with a wrong message.

/// Positions (1-based line and column) of one group.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupPos {
    /// The group's mapping (its first key), where Prometheus reports group errors.
    pub(crate) at: Option<(usize, usize)>,
    /// Its rules, in order.
    pub(crate) rules: Vec<RulePos>,
}

/// Positions (1-based line and column) of one rule.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RulePos {
    /// The rule's mapping (its first key).
    pub(crate) at: Option<(usize, usize)>,
    /// The value of `record`.
    pub(crate) record: Option<(usize, usize)>,
    /// The value of `alert`.
    pub(crate) alert: Option<(usize, usize)>,
    /// The value of `expr`.
    pub(crate) expr: Option<(usize, usize)>,
}

/// A non-blank, non-comment line.
struct Line<'a> {
    /// 1-based line number.
    no: usize,
    /// Spaces before the first character.
    indent: usize,
    /// Whether the line starts a sequence item (`- `).
    dash: bool,
    /// Column (0-based, in characters) where the content after any `- ` starts.
    key_col: usize,
    /// The content after any `- `.
    text: &'a str,
}

fn lines(src: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.trim().is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        let (dash, text) = match trimmed.strip_prefix('-') {
            Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t']) => {
                (true, rest.trim_start())
            }
            _ => (false, trimmed),
        };
        let key_col = raw[..raw.len() - text.len()].chars().count();
        out.push(Line {
            no: i + 1,
            indent,
            dash,
            key_col,
            text,
        });
    }
    out
}

/// The items of a block sequence starting at `lines[from]`: `(first, end, key column)`.
fn seq_items(
    lines: &[Line<'_>],
    from: usize,
    to: usize,
    min_indent: usize,
) -> Vec<(usize, usize, usize)> {
    let mut items = Vec::new();
    let Some(first) = lines
        .get(from)
        .filter(|l| from < to && l.dash && l.indent >= min_indent)
    else {
        return items;
    };
    let indent = first.indent;
    let mut i = from;
    while i < to {
        let l = &lines[i];
        if l.indent < indent || (l.indent == indent && !l.dash) {
            break;
        }
        if l.indent == indent && l.dash {
            let key_col = if l.text.is_empty() || l.text.starts_with('#') {
                lines.get(i + 1).map_or(l.key_col, |n| n.key_col)
            } else {
                l.key_col
            };
            items.push((i, to, key_col));
            if let Some(prev) = items.len().checked_sub(2).and_then(|p| items.get_mut(p)) {
                prev.1 = i;
            }
        }
        i += 1;
    }
    if let Some(last) = items.last_mut() {
        last.1 = i;
    }
    items
}

/// The line index of `key:` in the mapping whose keys start at `col`.
fn find_key(lines: &[Line<'_>], from: usize, to: usize, col: usize, key: &str) -> Option<usize> {
    (from..to).find(|&i| {
        let l = &lines[i];
        l.key_col == col
            && [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| {
                    l.text
                        .strip_prefix(k.as_str())
                        .is_some_and(|r| r.trim_start().starts_with(':'))
                })
    })
}

/// The position of the value of the key on `lines[i]`: after the colon, or the next line
/// when the value starts there.
fn value_pos(lines: &[Line<'_>], i: usize) -> Option<(usize, usize)> {
    let l = &lines[i];
    let colon = l.text.find(':')?;
    let after = &l.text[colon + 1..];
    let value = after.trim_start();
    if value.is_empty() || value.starts_with('#') {
        let next = lines.get(i + 1)?;
        return Some((next.no, next.indent + 1));
    }
    let col = l.key_col + l.text[..=colon].chars().count() + (after.len() - value.len());
    Some((l.no, col + 1))
}

fn item_pos(lines: &[Line<'_>], first: usize, key_col: usize) -> Option<(usize, usize)> {
    let l = &lines[first];
    if l.text.is_empty() {
        lines.get(first + 1).map(|n| (n.no, key_col + 1))
    } else {
        Some((l.no, key_col + 1))
    }
}

/// Indexes the groups and rules of a rule file.
pub(crate) fn index(src: &str) -> Vec<GroupPos> {
    let lines = lines(src);
    let n = lines.len();
    let Some(g) = find_key(&lines, 0, n, 0, "groups") else {
        return Vec::new();
    };
    seq_items(&lines, g + 1, n, 0)
        .into_iter()
        .map(|(first, end, col)| {
            let rules = find_key(&lines, first, end, col, "rules").map_or_else(Vec::new, |r| {
                seq_items(&lines, r + 1, end, col)
                    .into_iter()
                    .map(|(rf, re, rc)| {
                        let value = |key| {
                            find_key(&lines, rf, re, rc, key).and_then(|i| value_pos(&lines, i))
                        };
                        RulePos {
                            at: item_pos(&lines, rf, rc),
                            record: value("record"),
                            alert: value("alert"),
                            expr: value("expr"),
                        }
                    })
                    .collect()
            });
            GroupPos {
                at: item_pos(&lines, first, col),
                rules,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_rules_are_found() {
        let src = "# c\ngroups:\n  - name: a\n    rules:\n      - record: x\n        expr: 'up +'\n\n  - name: b\n    rules:\n    - alert: A\n      expr: |\n        up\n    -\n      record: r\n      expr: up\n";
        let idx = index(src);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx[0].at, Some((3, 5)));
        assert_eq!(idx[0].rules[0].record, Some((5, 17)));
        assert_eq!(idx[0].rules[0].expr, Some((6, 15)));
        assert_eq!(idx[1].at, Some((8, 5)));
        assert_eq!(idx[1].rules.len(), 2);
        assert_eq!(idx[1].rules[0].alert, Some((10, 14)));
        assert_eq!(idx[1].rules[0].expr, Some((11, 13)));
        assert_eq!(idx[1].rules[1].at, Some((14, 7)));
        assert_eq!(idx[1].rules[1].record, Some((14, 15)));
    }
}
