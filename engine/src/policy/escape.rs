//! Making what a policy says safe to print on a terminal. No IO.
//!
//! Violation messages and paths, names and descriptions, settings errors,
//! transformer errors and log lines are the policy's own text; object
//! names, file names and parse errors quote the manifests'. Printed raw,
//! control characters in them are instructions to the terminal: `ESC [2K`
//! and `CR` erase a line, so a policy could hide the real `1 error(s)` under
//! a fake `0 error(s)`, change colours or the window title. Every place that
//! prints such text for a person passes it through [`printable`] (or
//! [`printable_lines`] where line breaks are meant), which writes control
//! characters as visible escapes. Structured output (JSON, YAML) needs no
//! escaping: its encoders already escape control characters.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character written as an escape: C0 controls
/// (line breaks and tabs included), DEL, C1 controls, the Unicode
/// bidirectional controls that reorder what a terminal shows (U+061C,
/// U+200E/F, U+202A–E, U+2066–9) and the Unicode line and paragraph
/// separators. `\n`, `\r`
/// and `\t` become those two-character escapes, the rest `\u{..}`. Text
/// without such characters is returned as is, without copying.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// As [`printable`], but line breaks (`\n`) are kept: for text that is
/// meant to span lines, printed on lines of its own.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn needs_escape(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(
            c,
            // The bidirectional controls: Arabic letter mark, LRM and RLM,
            // embeddings and overrides, isolates.
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // Line and paragraph separators, which some terminals break on.
            | '\u{2028}' | '\u{2029}'
        )
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let escaped = |c: char| needs_escape(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !escaped(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_written_as_escapes() {
        let hostile = "\u{1b}[2K\r0 error(s)";
        assert_eq!(printable(hostile), "\\u{1b}[2K\\r0 error(s)");
        assert_eq!(
            printable("a\nb\tc\u{9b}d\u{7f}"),
            "a\\nb\\tc\\u{9b}d\\u{7f}"
        );
        assert_eq!(printable("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(printable("a\u{61c}b\u{2028}c"), "a\\u{61c}b\\u{2028}c");
        // Escaping is idempotent: escaped text passes through unchanged.
        assert_eq!(printable("\\u{1b}[2K"), "\\u{1b}[2K");
        assert_eq!(printable_lines("one\ntwo\u{1b}"), "one\ntwo\\u{1b}");
        assert!(matches!(
            printable("plain text, ünïcödé"),
            Cow::Borrowed("plain text, ünïcödé")
        ));
    }
}
