//! A line diff of two JSON values, for failed test cases: both are printed
//! as pretty JSON and compared line by line (longest common subsequence).
//! Pure.

use serde_json::Value;

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// In both.
    Same(String),
    /// Only in the expected value.
    Expected(String),
    /// Only in the actual value.
    Actual(String),
}

/// The lines of `expected` and `actual` as pretty JSON, with the lines
/// only one of them has marked.
pub fn json_lines(expected: &Value, actual: &Value) -> Vec<Line> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    let (a, b) = (pretty(expected), pretty(actual));
    lines(
        &a.lines().collect::<Vec<_>>(),
        &b.lines().collect::<Vec<_>>(),
    )
}

/// Diff two lists of lines.
fn lines(a: &[&str], b: &[&str]) -> Vec<Line> {
    // lcs[i][j]: length of the longest common subsequence of a[i..], b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(Line::Same(a[i].to_owned()));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(Line::Expected(a[i].to_owned()));
            i += 1;
        } else {
            out.push(Line::Actual(b[j].to_owned()));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_lines_are_marked() {
        let diff = lines(&["{", "a", "b", "}"], &["{", "a", "c", "}"]);
        assert_eq!(
            diff,
            vec![
                Line::Same("{".into()),
                Line::Same("a".into()),
                Line::Expected("b".into()),
                Line::Actual("c".into()),
                Line::Same("}".into()),
            ]
        );
    }
}
