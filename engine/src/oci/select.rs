//! Picking a tag by semver range (`>=1.2.0 <2`, `^1.4`, `~1.4.2`, `1.x`):
//! the highest tag that parses as a version (an optional leading `v`) and
//! matches. Pre-releases match only when the range names one, as in Cargo.
//! No IO.

/// The highest tag of `tags` matching `range`, or `None`. `Err` when the
/// range does not parse.
pub fn highest_matching<'a>(
    range: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> Result<Option<&'a str>, String> {
    let requirement = semver::VersionReq::parse(range)
        .map_err(|e| format!("{range:?} is not a semver range: {e}"))?;
    Ok(tags
        .into_iter()
        .filter_map(|tag| {
            let version = semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
            requirement.matches(&version).then_some((version, tag))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, tag)| tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_matching_version_wins_and_other_tags_are_ignored() {
        let tags = [
            "v1.2.0",
            "1.10.0",
            "v1.9.3",
            "2.0.0",
            "latest",
            "v1.11.0-rc.1",
            "main",
        ];
        assert_eq!(highest_matching("^1.2", tags), Ok(Some("1.10.0")));
        assert_eq!(
            highest_matching(">=1.0.0, <1.10.0", tags),
            Ok(Some("v1.9.3"))
        );
        assert_eq!(highest_matching("~1.2.0", tags), Ok(Some("v1.2.0")));
        assert_eq!(highest_matching(">=3", tags), Ok(None));
        assert!(highest_matching("not a range", tags)
            .unwrap_err()
            .contains("not a semver range"));
    }
}
