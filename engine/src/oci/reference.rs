//! `oci://host/repository[:tag][@sha256:<hex>]`: what a policy module or a
//! sync source names in a registry. Parsing only, no IO.

use std::fmt;
use std::str::FromStr;

/// The scheme every OCI reference starts with.
pub const SCHEME: &str = "oci://";

/// An artifact in a registry: its registry host, repository, and a tag, a
/// digest, both (the digest wins; the tag is kept for status), or neither
/// (a sync source that picks a tag by semver range).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtifactRef {
    /// Registry host and optional port, e.g. `ghcr.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `acme/policies/required-labels`.
    pub repository: String,
    /// Tag, e.g. `v1.2.0`.
    pub tag: Option<String>,
    /// Digest, `sha256:` and 64 lowercase hex digits.
    pub digest: Option<String>,
}

/// Why a reference does not parse; the message names the reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reference:?} is not an OCI reference: {reason} (expected oci://host/repository:tag or oci://host/repository@sha256:<64 hex>)")]
pub struct ParseError {
    /// The text given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Whether `text` is meant as an OCI reference (starts with `oci://`).
pub fn is_oci(text: &str) -> bool {
    text.starts_with(SCHEME)
}

impl FromStr for ArtifactRef {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let fail = |reason| ParseError {
            reference: text.to_owned(),
            reason,
        };
        let rest = text.strip_prefix(SCHEME).ok_or(fail("no oci:// scheme"))?;
        let (registry, path) = rest
            .split_once('/')
            .ok_or(fail("no repository after the host"))?;
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        {
            return Err(fail(
                "the host is empty or has characters a host cannot have",
            ));
        }
        let (path, digest) = match path.split_once('@') {
            Some((path, digest)) => (path, Some(digest)),
            None => (path, None),
        };
        if let Some(digest) = digest {
            let hex = digest
                .strip_prefix("sha256:")
                .ok_or(fail("the digest is not sha256:<hex>"))?;
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(fail(
                    "the digest is not sha256: and 64 lowercase hex digits",
                ));
            }
        }
        // A tag follows the last `:` after the last `/`.
        let last_segment = path.rsplit('/').next().unwrap_or(path);
        let (repository, tag) = match last_segment.rsplit_once(':') {
            Some((_, tag)) => (&path[..path.len() - tag.len() - 1], Some(tag)),
            None => (path, None),
        };
        let repository_ok = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if !repository_ok {
            return Err(fail(
                "the repository must be lowercase letters, digits, '.', '_', '-' and '/'",
            ));
        }
        if let Some(tag) = tag {
            let tag_ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !tag.starts_with(['.', '-']);
            if !tag_ok {
                return Err(fail(
                    "the tag must be up to 128 letters, digits, '.', '_' and '-'",
                ));
            }
        }
        Ok(ArtifactRef {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }
}

impl ArtifactRef {
    /// The same artifact pinned to `digest` (the tag is kept, for display).
    pub fn pinned(&self, digest: &str) -> ArtifactRef {
        ArtifactRef {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// The same repository at another tag, without a digest.
    pub fn at_tag(&self, tag: &str) -> ArtifactRef {
        ArtifactRef {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// `oci://host/repository`, without tag or digest.
    pub fn repository_url(&self) -> String {
        format!("{SCHEME}{}/{}", self.registry, self.repository)
    }

    /// The reference the client speaks: by digest when there is one, else
    /// by tag (`latest` when neither is given).
    pub(crate) fn to_client(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.clone(),
            ),
            (None, tag) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".to_owned()),
            ),
        }
    }
}

impl fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository_url())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse_with_tag_digest_both_or_neither() {
        let r: ArtifactRef = "oci://127.0.0.1:5000/policies/labels:v1".parse().unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "policies/labels");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest, None);

        let text = format!("oci://ghcr.io/acme/labels@sha256:{HEX}");
        let r: ArtifactRef = text.parse().unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest, Some(format!("sha256:{HEX}")));
        assert_eq!(r.to_string(), text);

        let both = format!("oci://ghcr.io/acme/labels:v2@sha256:{HEX}");
        let r: ArtifactRef = both.parse().unwrap();
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.to_string(), both);

        let r: ArtifactRef = "oci://localhost:5000/manifests".parse().unwrap();
        assert_eq!((r.tag, r.digest), (None, None));
    }

    #[test]
    fn malformed_references_are_refused_naming_them() {
        for bad in [
            "https://ghcr.io/acme/labels:v1",
            "oci://ghcr.io",
            "oci:///labels:v1",
            "oci://ghcr.io/Acme/labels:v1",
            "oci://ghcr.io/acme/labels:",
            "oci://ghcr.io/acme/labels@sha256:abc",
            "oci://ghcr.io/acme/labels@md5:0123",
            "oci://ghcr.io/acme//labels",
        ] {
            let error = bad.parse::<ArtifactRef>().unwrap_err().to_string();
            assert!(error.contains(bad), "{bad}: {error}");
        }
    }
}
