//! Git push webhooks: check the signature, read the push, and tell which
//! sync units it affects.
//!
//! The format is GitHub's (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256
//! of the raw body with the shared secret>`, `X-GitHub-Event: push`, a JSON
//! body with `ref` and `repository.clone_url` / `ssh_url` / `git_url` /
//! `html_url`); Gitea, Forgejo and Gogs send the same signature header and
//! body. The signature is compared in constant time.
//!
//! In: the secret, the request's headers and body. Out: a [`GitPush`] or
//! the reason the delivery is refused or ignored. No IO; [`super::http`]
//! serves it and sends each push into the runner's channel.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::source::GitRef;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The event-name headers, GitHub's first.
pub const EVENT_HEADERS: [&str; 3] = ["x-github-event", "x-gitea-event", "x-gogs-event"];

/// Why a delivery is not a push to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `X-Hub-Signature-256` header.
    #[error("missing {SIGNATURE_HEADER} header")]
    MissingSignature,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("malformed {SIGNATURE_HEADER} header: expected sha256=<64 hex digits>")]
    MalformedSignature,
    /// The HMAC of the body with the configured secret differs.
    #[error("signature does not match the body (wrong secret?)")]
    BadSignature,
    /// The body is not a push event.
    #[error("not a push event: {0}")]
    Payload(#[source] serde_json::Error),
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A push: the repository, under each URL the forge gives for it, and the
/// pushed ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitPush {
    /// The repository's URLs (clone, SSH, git, web), as sent.
    pub urls: Vec<String>,
    /// The full ref name, e.g. `refs/heads/main` or `refs/tags/v1.2.0`.
    pub reference: String,
    /// The commit the ref points to after the push, when sent.
    pub after: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    after: Option<String>,
    repository: Repository,
}

#[derive(Deserialize)]
struct Repository {
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    git_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

/// Check `X-Hub-Signature-256` against the HMAC-SHA256 of `body`.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<()> {
    let header = header.ok_or(Error::MissingSignature)?;
    let hex_digest = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Error::MalformedSignature)?;
    let expected = hex::decode(hex_digest).map_err(|_| Error::MalformedSignature)?;
    if expected.len() != 32 {
        return Err(Error::MalformedSignature);
    }
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| Error::BadSignature)
}

/// The `X-Hub-Signature-256` value for `body` (what a forge sends).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Read a verified delivery. `Ok(None)` for events other than pushes
/// (`ping` when the hook is created, for instance).
pub fn parse(event: Option<&str>, body: &[u8]) -> Result<Option<GitPush>> {
    if event.is_some_and(|e| e != "push") {
        return Ok(None);
    }
    let payload: Payload = serde_json::from_slice(body).map_err(Error::Payload)?;
    let repo = payload.repository;
    let urls = [repo.clone_url, repo.ssh_url, repo.git_url, repo.html_url]
        .into_iter()
        .flatten()
        .filter(|url| !url.is_empty())
        .collect();
    Ok(Some(GitPush {
        urls,
        reference: payload.reference,
        after: payload.after,
    }))
}

impl GitPush {
    /// Whether a sync unit following `reference` of the repository at
    /// `url` must reconcile now. URLs compare by host and path, whatever
    /// the scheme, user, letter case of the host, trailing `/` or `.git`
    /// (`git@github.com:org/app.git` is `https://github.com/org/app`).
    /// Units pinned to a commit are never affected.
    pub fn affects(&self, url: &str, reference: &GitRef) -> bool {
        let pushed = match reference {
            GitRef::Branch(branch) => format!("refs/heads/{branch}"),
            GitRef::Tag(tag) => format!("refs/tags/{tag}"),
            GitRef::Commit(_) => return false,
        };
        if pushed != self.reference {
            return false;
        }
        let wanted = normalize_url(url);
        self.urls.iter().any(|u| normalize_url(u) == wanted)
    }
}

/// `host/path` of a Git URL, host in lower case, without scheme, user,
/// trailing `/` and `.git`.
fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        // scp-like `user@host:path`
        None => match url.split_once(':') {
            Some((host, path)) if !host.contains('/') => format!("{host}/{path}"),
            _ => url.to_owned(),
        },
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest.as_str(), ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    format!("{}/{}", host.to_ascii_lowercase(), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let header = sign(b"s3cret", body);
        verify(b"s3cret", body, Some(&header)).unwrap();
        assert!(matches!(
            verify(b"other", body, Some(&header)),
            Err(Error::BadSignature)
        ));
        assert!(matches!(
            verify(b"s3cret", b"tampered", Some(&header)),
            Err(Error::BadSignature)
        ));
        assert!(matches!(
            verify(b"s3cret", body, None),
            Err(Error::MissingSignature)
        ));
        for bad in ["sha1=00", "sha256=zz", "sha256=abcd"] {
            assert!(matches!(
                verify(b"s3cret", body, Some(bad)),
                Err(Error::MalformedSignature)
            ));
        }
    }

    #[test]
    fn github_example_signature() {
        // The example from GitHub's "Validating webhook deliveries".
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        verify(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some(header),
        )
        .unwrap();
    }

    #[test]
    fn pushes_affect_units_on_the_same_repository_and_ref() {
        let body = br#"{"ref":"refs/heads/main","after":"abc","repository":{
            "clone_url":"https://github.com/Org/app.git","ssh_url":"git@github.com:Org/app.git",
            "html_url":"https://github.com/Org/app"}}"#;
        let push = parse(Some("push"), body).unwrap().unwrap();
        assert_eq!(push.after.as_deref(), Some("abc"));
        let main = GitRef::Branch("main".into());
        for url in [
            "https://github.com/Org/app",
            "https://GitHub.com/Org/app.git/",
            "ssh://git@github.com/Org/app.git",
            "git@github.com:Org/app",
        ] {
            assert!(push.affects(url, &main), "{url}");
        }
        assert!(!push.affects("https://github.com/Org/other", &main));
        assert!(!push.affects("https://github.com/Org/app", &GitRef::Branch("dev".into())));
        assert!(!push.affects("https://github.com/Org/app", &GitRef::Tag("main".into())));
        assert!(!push.affects("https://github.com/Org/app", &GitRef::Commit("abc".into())));
    }

    #[test]
    fn other_events_are_ignored_and_bad_bodies_refused() {
        assert_eq!(parse(Some("ping"), b"{}").unwrap(), None);
        let error = parse(Some("push"), b"{\"ref\": 1}").unwrap_err();
        assert!(matches!(error, Error::Payload(_)));
        assert!(error.to_string().starts_with("not a push event"), "{error}");
    }
}
