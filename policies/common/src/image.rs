//! Container image references, parsed and normalised the way Docker does
//! it: `nginx` means `docker.io/library/nginx`, `me/app` means
//! `docker.io/me/app`, `index.docker.io` is `docker.io`, and the first
//! path component is a registry only when it contains `.` or `:` or is
//! `localhost`. No IO.

use std::fmt;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// One parsed, normalised image reference:
/// `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host (with port), e.g. `docker.io`, `ghcr.io`,
    /// `localhost:5000`.
    pub registry: String,
    /// The repository path inside the registry, e.g. `library/nginx`.
    pub repository: String,
    /// The tag, if one is given.
    pub tag: Option<String>,
    /// The digest (`sha256:<hex>`), if one is given.
    pub digest: Option<String>,
}

/// Why an image reference could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The reference is empty.
    Empty,
    /// The repository path is empty or has characters Docker refuses
    /// (upper case, spaces, ...).
    BadRepository(String),
    /// The tag is empty or has characters Docker refuses.
    BadTag(String),
    /// The digest is not `<algorithm>:<hex>` of the algorithm's length.
    BadDigest(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => f.write_str("the image reference is empty"),
            Error::BadRepository(r) => write!(f, "`{r}` is not a valid repository name"),
            Error::BadTag(t) => write!(f, "`{t}` is not a valid tag"),
            Error::BadDigest(d) => write!(
                f,
                "`{d}` is not a valid digest (expected sha256:<64 hex digits>, \
                 sha384:<96> or sha512:<128>)"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl ImageRef {
    /// Parse and normalise an image reference.
    pub fn parse(image: &str) -> Result<Self, Error> {
        if image.is_empty() {
            return Err(Error::Empty);
        }
        let (name_and_tag, digest) = match image.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest)?;
                (rest, Some(digest.to_owned()))
            }
            None => (image, None),
        };
        let (registry, remainder) = split_registry(name_and_tag);
        let (path, tag) = match remainder.rsplit_once(':') {
            Some((path, tag)) => {
                check_tag(tag)?;
                (path, Some(tag.to_owned()))
            }
            None => (remainder, None),
        };
        check_repository(path)?;
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, e.g. `docker.io/library/nginx`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether the normalised name is `prefix` or lies under it (`prefix/...`);
    /// `prefix` is a registry or a registry with a path, already normalised
    /// with [`normalise_prefix`].
    pub fn is_under(&self, prefix: &str) -> bool {
        let name = self.name();
        name == prefix
            || name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The same reference with its name prefix `from` replaced by `to`
    /// (the tag and digest are kept). `None` if it is not under `from`.
    pub fn with_prefix_replaced(&self, from: &str, to: &str) -> Option<String> {
        if !self.is_under(from) {
            return None;
        }
        let name = self.name();
        let mut out = format!("{to}{}", &name[from.len()..]);
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        Some(out)
    }
}

impl fmt::Display for ImageRef {
    /// The fully qualified form, e.g. `docker.io/library/nginx:1.27`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Normalise a registry (or registry/path) prefix written by an operator:
/// `index.docker.io` becomes `docker.io`, and a Docker Hub prefix of one
/// component (`docker.io/nginx`) is not expanded, since it names a prefix
/// and not an image. Refuses schemes, trailing slashes, tags and digests.
pub fn normalise_prefix(prefix: &str) -> Result<String, String> {
    if prefix.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if prefix.contains("://") {
        return Err(format!(
            "`{prefix}` must be a registry host (and optional path), without a scheme"
        ));
    }
    if prefix.ends_with('/') || prefix.starts_with('/') || prefix.contains("//") {
        return Err(format!("`{prefix}` must not start or end with `/`"));
    }
    if prefix.contains('@') {
        return Err(format!("`{prefix}` must not contain a digest"));
    }
    let (host, path) = match prefix.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (prefix, None),
    };
    if path.is_some_and(|p| p.contains(':')) {
        return Err(format!("`{prefix}` must not contain a tag"));
    }
    if host.chars().any(|c| c.is_whitespace()) || path.is_some_and(|p| check_repository(p).is_err())
    {
        return Err(format!(
            "`{prefix}` is not a valid registry or repository prefix"
        ));
    }
    let host = canonical_registry(host);
    Ok(match path {
        Some(path) => format!("{host}/{path}"),
        None => host.to_owned(),
    })
}

/// Split off the registry of a reference without digest, defaulting to
/// Docker Hub.
fn split_registry(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (canonical_registry(first).to_owned(), rest)
        }
        _ => (DOCKER_HUB.to_owned(), name),
    }
}

/// Docker Hub's aliases mapped to [`DOCKER_HUB`].
fn canonical_registry(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
        other => other,
    }
}

fn check_repository(path: &str) -> Result<(), Error> {
    let valid_component = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && c.as_bytes()[0].is_ascii_alphanumeric()
            && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
    };
    if path.split('/').all(valid_component) {
        Ok(())
    } else {
        Err(Error::BadRepository(path.to_owned()))
    }
}

fn check_tag(tag: &str) -> Result<(), Error> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.as_bytes()[0] == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::BadTag(tag.to_owned()))
    }
}

fn check_digest(digest: &str) -> Result<(), Error> {
    let bad = || Error::BadDigest(digest.to_owned());
    let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    if hex.len() == length
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(image: &str) -> ImageRef {
        ImageRef::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"))
    }

    #[test]
    fn normalises_docker_hub_names() {
        assert_eq!(parse("nginx").to_string(), "docker.io/library/nginx");
        assert_eq!(parse("me/app:1").to_string(), "docker.io/me/app:1");
        assert_eq!(
            parse("index.docker.io/library/nginx:1.27").to_string(),
            "docker.io/library/nginx:1.27"
        );
        assert_eq!(parse("docker.io/nginx").name(), "docker.io/library/nginx");
    }

    #[test]
    fn recognises_registries_ports_tags_and_digests() {
        let image = parse(&format!("localhost:5000/team/app:v2@{DIGEST}"));
        assert_eq!(image.registry, "localhost:5000");
        assert_eq!(image.repository, "team/app");
        assert_eq!(image.tag.as_deref(), Some("v2"));
        assert_eq!(image.digest.as_deref(), Some(DIGEST));
        assert_eq!(parse("localhost/app").registry, "localhost");
        assert_eq!(parse("ghcr.io/o/r").tag, None);
    }

    #[test]
    fn refuses_malformed_references() {
        assert_eq!(ImageRef::parse(""), Err(Error::Empty));
        assert!(matches!(
            ImageRef::parse("Nginx"),
            Err(Error::BadRepository(_))
        ));
        assert!(matches!(ImageRef::parse("nginx:"), Err(Error::BadTag(_))));
        assert!(matches!(
            ImageRef::parse("nginx@sha256:abc"),
            Err(Error::BadDigest(_))
        ));
    }

    #[test]
    fn replaces_prefixes_keeping_tag_and_digest() {
        let image = parse(&format!("nginx:1@{DIGEST}"));
        assert_eq!(
            image.with_prefix_replaced("docker.io", "mirror.local/hub"),
            Some(format!("mirror.local/hub/library/nginx:1@{DIGEST}"))
        );
        assert_eq!(image.with_prefix_replaced("docker.io/lib", "x"), None);
        assert_eq!(
            normalise_prefix("index.docker.io").as_deref(),
            Ok("docker.io")
        );
        assert!(normalise_prefix("https://ghcr.io").is_err());
        assert!(normalise_prefix("ghcr.io/").is_err());
    }
}
