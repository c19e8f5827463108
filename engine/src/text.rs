//! Text for messages: long text cut for places with a size limit (Event
//! notes, condition and violation messages in a status, objects quoted in
//! errors), and an error told with its causes. No IO.

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

/// `error` and each of its sources, `: `-separated, leaving out a source
/// whose text the message already holds (HTTP clients repeat their causes).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
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

    /// An error with its text and its source.
    #[derive(Debug)]
    struct Caused(&'static str, Option<Box<Caused>>);

    impl std::fmt::Display for Caused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Caused {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn an_error_chain_tells_each_cause_once() {
        let refused = Caused("Connection refused", None);
        let connect = Caused("client error (Connect)", Some(Box::new(refused)));
        let service = Caused(
            "ServiceError: client error (Connect)",
            Some(Box::new(connect)),
        );
        assert_eq!(
            error_chain(&service),
            "ServiceError: client error (Connect): Connection refused"
        );
        let alone = Caused("no such file", None);
        assert_eq!(error_chain(&alone), "no such file");
    }
}
