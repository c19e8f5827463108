//! Picking a chart version the way Helm does: `version: ">=6 <7"`,
//! `^1.4`, `~1.4.2`, `1.x`, `1.2 - 1.4`, `^1 || ^2`, or an exact `6.14.1`.
//! The highest version that matches wins; pre-releases match only when the
//! constraint names one (Helm without `--devel`); no constraint is the
//! highest stable version. No IO.
//!
//! Helm's constraints (Masterminds semver) differ from Cargo's: a bare
//! version is exact (`6.1` is `6.1.x`, not `^6.1`), comparators are
//! separated by spaces or commas, `||` separates alternatives, and `a - b`
//! is an inclusive range. They are translated to [`semver::VersionReq`]s.

/// The highest of `versions` matching `constraint` (`None`: any stable
/// version), or `None` when none does; `Err` when the constraint does not
/// parse. A version may start with `v`; in OCI tags `_` stands for `+`.
pub fn highest_matching<'a>(
    constraint: Option<&str>,
    versions: impl IntoIterator<Item = &'a str>,
) -> Result<Option<&'a str>, String> {
    let alternatives = parse(constraint.unwrap_or("*"))?;
    Ok(versions
        .into_iter()
        .filter_map(|text| {
            let version = parse_version(text)?;
            alternatives
                .iter()
                .any(|r| r.matches(&version))
                .then_some((version, text))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, text)| text))
}

/// Whether `constraint` names one exact version (`6.14.1`, `=6.14.1`,
/// `v6.14.1`), which an OCI registry has as a tag.
pub fn exact(constraint: &str) -> Option<semver::Version> {
    let text = constraint.trim();
    let text = text.strip_prefix('=').unwrap_or(text).trim();
    parse_version(text)
}

/// A version as Helm writes it: an optional `v`, `_` for `+` (OCI tags).
fn parse_version(text: &str) -> Option<semver::Version> {
    let text = text.strip_prefix('v').unwrap_or(text).replace('_', "+");
    semver::Version::parse(&text).ok()
}

/// The alternatives of a Helm constraint as Cargo requirements.
fn parse(constraint: &str) -> Result<Vec<semver::VersionReq>, String> {
    let invalid = |why: String| format!("{constraint:?} is not a version constraint: {why}");
    constraint
        .split("||")
        .map(|alternative| {
            let comparators = comparators(alternative).map_err(invalid)?;
            semver::VersionReq::parse(&comparators.join(", ")).map_err(|e| invalid(e.to_string()))
        })
        .collect()
}

/// The comparators of one alternative in Cargo's syntax.
fn comparators(alternative: &str) -> Result<Vec<String>, String> {
    let tokens: Vec<&str> = alternative
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // `1.2 - 1.4`: inclusive at both ends.
        if tokens.get(i + 1) == Some(&"-") {
            let high = tokens.get(i + 2).ok_or("a range `a - b` without its end")?;
            out.push(format!(">={}", tokens[i]));
            out.push(format!("<={high}"));
            i += 3;
            continue;
        }
        let mut token = tokens[i].to_owned();
        // An operator written apart from its version: `>= 1.2`.
        if token.chars().all(|c| "<>=!~^".contains(c)) {
            let version = tokens.get(i + 1).ok_or("an operator without a version")?;
            token.push_str(version);
            i += 1;
        }
        out.push(comparator(&token)?);
        i += 1;
    }
    if out.is_empty() {
        out.push("*".to_owned());
    }
    Ok(out)
}

/// One comparator in Cargo's syntax: a bare version is exact, `=<` is
/// `<=`, `~>` is `~`; `!=` is not supported.
fn comparator(token: &str) -> Result<String, String> {
    let token = token.strip_prefix('v').unwrap_or(token);
    if token.starts_with("!=") {
        return Err("`!=` is not supported; use a range".to_owned());
    }
    if let Some(version) = token.strip_prefix("=<") {
        return Ok(format!("<={}", strip_v(version)));
    }
    if let Some(version) = token.strip_prefix("~>") {
        return Ok(format!("~{}", strip_v(version)));
    }
    let operator_len = token
        .find(|c: char| !"<>=~^".contains(c))
        .unwrap_or(token.len());
    let (operator, version) = token.split_at(operator_len);
    let version = strip_v(version);
    if version.chars().all(|c| c == '*' || c == 'x' || c == 'X') {
        return Ok("*".to_owned());
    }
    let wildcard = version
        .split('.')
        .any(|part| matches!(part, "x" | "X" | "*"));
    Ok(match operator {
        "" if wildcard => version.to_owned(),
        "" => format!("={version}"),
        _ => format!("{operator}{version}"),
    })
}

fn strip_v(version: &str) -> &str {
    version.strip_prefix('v').unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSIONS: [&str; 8] = [
        "6.0.0",
        "6.14.1",
        "v6.13.0",
        "7.0.0",
        "7.1.0-rc.1",
        "5.9.9",
        "not-a-version",
        "6.14.2_build.1",
    ];

    fn pick(constraint: Option<&str>) -> Option<&'static str> {
        highest_matching(constraint, VERSIONS).unwrap()
    }

    #[test]
    fn helm_constraints_pick_the_highest_matching_version() {
        assert_eq!(pick(Some(">=6 <7")), Some("6.14.2_build.1"));
        assert_eq!(pick(Some(">=6, <6.14")), Some("v6.13.0"));
        assert_eq!(pick(Some(">= 6.0.0 < 6.14.0")), Some("v6.13.0"));
        assert_eq!(pick(Some("6.14.1")), Some("6.14.1"));
        assert_eq!(pick(Some("=6.0.0")), Some("6.0.0"));
        assert_eq!(pick(Some("6.13")), Some("v6.13.0"));
        assert_eq!(pick(Some("6.x")), Some("6.14.2_build.1"));
        assert_eq!(pick(Some("~6.13.0")), Some("v6.13.0"));
        assert_eq!(pick(Some("^5")), Some("5.9.9"));
        assert_eq!(pick(Some("5.0 - 6.0")), Some("6.0.0"));
        assert_eq!(pick(Some("^5 || ^7")), Some("7.0.0"));
        assert_eq!(pick(Some(">=8")), None);
    }

    #[test]
    fn prereleases_only_when_the_constraint_names_one() {
        assert_eq!(pick(None), Some("7.0.0"));
        assert_eq!(pick(Some("*")), Some("7.0.0"));
        assert_eq!(pick(Some(">=7.1.0-rc.0")), Some("7.1.0-rc.1"));
    }

    #[test]
    fn a_constraint_that_does_not_parse_is_an_error_naming_it() {
        let error = highest_matching(Some(">=six"), VERSIONS).unwrap_err();
        assert!(
            error.contains("\">=six\" is not a version constraint"),
            "{error}"
        );
        assert!(highest_matching(Some("!=6.0.0"), VERSIONS).is_err());
    }

    #[test]
    fn exact_versions_are_recognised() {
        assert!(exact("6.14.1").is_some() && exact("=v6.14.1").is_some());
        assert!(exact(">=6").is_none() && exact("6.x").is_none());
    }
}
