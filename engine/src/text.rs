//! Cutting long text for places with a size limit (Event notes, condition
//! and violation messages in a status, objects quoted in errors). No IO.

use std::borrow::Cow;

/// `text` cut to at most `max` bytes at a character boundary, with `…`
/// appended when something was cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_at_a_character_boundary_and_marked() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdef", 3), "abc…");
        let long = "é".repeat(800);
        let cut = truncate(&long, 1000);
        assert!(cut.len() <= 1003 && cut.ends_with('…'), "{cut}");
        assert_eq!(cut.chars().filter(|c| *c == 'é').count(), 500);
    }
}
