//! Dotted field paths as the engine writes them in violations and drift
//! records: `spec.template.spec.containers[0].image`, with a map key that
//! contains `.`, `[` or `]` quoted in brackets:
//! `metadata.labels["app.kubernetes.io/name"]`. No IO.

/// The path of `key` inside the map at `parent` (which may be empty for
/// the object's root).
pub fn child(parent: &str, key: &str) -> String {
    if key.contains(['.', '[', ']']) {
        format!("{parent}[{key:?}]")
    } else if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Whether `path` is `prefix` itself or a field below it
/// (`spec.selector.matchLabels.app` and `spec.selector` are below
/// `spec.selector`; `spec.selectorX` is not).
pub fn is_at_or_below(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_keys_with_dots() {
        assert_eq!(child("metadata.labels", "team"), "metadata.labels.team");
        assert_eq!(
            child("metadata.labels", "app.kubernetes.io/name"),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
        assert_eq!(child("", "spec"), "spec");
    }

    #[test]
    fn matches_whole_segments_only() {
        assert!(is_at_or_below("spec.selector", "spec.selector"));
        assert!(is_at_or_below(
            "spec.selector.matchLabels.app",
            "spec.selector"
        ));
        assert!(is_at_or_below("data[\"a.b\"]", "data"));
        assert!(!is_at_or_below("spec.selectorX", "spec.selector"));
        assert!(!is_at_or_below("spec", "spec.selector"));
    }
}
