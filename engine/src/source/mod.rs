//! Fetch the desired state: the files under a path of a Git repository at a
//! branch, tag or commit, or of a local directory.
//!
//! In: a [`Source`] (URL, [`GitRef`], path, [`Credentials`]) and a cache
//! directory. Out: [`Fetched`], the resolved commit and the files as an
//! in-memory [`Tree`] that [`crate::render`] consumes.
//!
//! Does IO: it talks to the remote through gix (`file://` and local paths,
//! `git://`, `ssh://` through the system `ssh`, smart HTTP(S) with rustls) and
//! keeps one bare, shallow repository per URL in the cache directory, so later
//! fetches are incremental. Files are read straight from the object database,
//! never checked out. [`read_local_dir`] reads a directory through cap-std, so
//! no path can leave it.
//!
//! Every fetch that succeeds records its commit as the *last good revision* of
//! that source; when the remote is unreachable or the ref vanished, the error
//! says which revision that was and [`last_good`] still reads its files.

mod credentials;
mod git;
mod local;
mod tree;
pub mod verify;

use std::num::NonZeroU32;

pub use credentials::{Credentials, Secret};
pub use git::{fetch, last_good};
pub use gix::ObjectId;
pub use local::read_local_dir;
pub use tree::Tree;
pub use verify::{Verification, Verified};

/// Where the desired state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Repository URL: `https://…`, `ssh://…`, `git@host:path`, `git://…`,
    /// `file://…` or a local path. Must not contain a password: use
    /// [`Source::credentials`].
    pub url: String,
    /// What to fetch.
    pub reference: GitRef,
    /// Directory inside the repository to read, `/`-separated; empty for the
    /// repository root.
    pub path: String,
    /// How to authenticate; [`Credentials::None`] for public repositories.
    pub credentials: Credentials,
}

/// The revision of a [`Source`]; in `plumbline.yaml` and a SyncUnit,
/// `ref: {branch: main}`, `{tag: v1.2.0}` or `{commit: <40 hex>}`: exactly
/// one, refused otherwise when parsed, and by the CRD's schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RefFields", into = "RefFields")]
pub enum GitRef {
    /// The tip of a branch, e.g. `main` (`refs/heads/main`).
    Branch(String),
    /// A tag, e.g. `v1.2.0` (`refs/tags/v1.2.0`); annotated tags are peeled.
    Tag(String),
    /// An exact commit, as a full 40-digit hexadecimal SHA-1.
    Commit(String),
}

/// How a [`GitRef`] is written: one of three optional fields.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RefFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
}

impl TryFrom<RefFields> for GitRef {
    type Error = &'static str;

    fn try_from(fields: RefFields) -> Result<Self, Self::Error> {
        match (fields.branch, fields.tag, fields.commit) {
            (Some(branch), None, None) => Ok(GitRef::Branch(branch)),
            (None, Some(tag), None) => Ok(GitRef::Tag(tag)),
            (None, None, Some(commit)) => Ok(GitRef::Commit(commit)),
            _ => Err("a ref sets exactly one of branch, tag or commit"),
        }
    }
}

impl From<GitRef> for RefFields {
    fn from(reference: GitRef) -> Self {
        let mut fields = RefFields {
            branch: None,
            tag: None,
            commit: None,
        };
        match reference {
            GitRef::Branch(branch) => fields.branch = Some(branch),
            GitRef::Tag(tag) => fields.tag = Some(tag),
            GitRef::Commit(commit) => fields.commit = Some(commit),
        }
        fields
    }
}

impl schemars::JsonSchema for GitRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GitRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Git reference: exactly one of branch, tag or commit.",
            "type": "object",
            "properties": {
                "branch": {"type": "string", "description": "A branch name."},
                "tag": {"type": "string", "description": "A tag name."},
                "commit": {"type": "string", "description": "A full commit id (40 hex digits)."}
            },
            "oneOf": [
                {"required": ["branch"]},
                {"required": ["tag"]},
                {"required": ["commit"]}
            ]
        })
    }
}

impl std::fmt::Display for GitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitRef::Branch(b) => write!(f, "branch {b}"),
            GitRef::Tag(t) => write!(f, "tag {t}"),
            GitRef::Commit(c) => write!(f, "commit {c}"),
        }
    }
}

/// Whether `text` names a remote repository rather than a local path, by
/// git's own rule: a URL with a scheme (`https://`, `ssh://`, `file://`,
/// ...), or scp-like syntax (`git@host:path`, `host:path`), where a colon
/// comes before any slash. A local path may contain `@` (`./team@2/repo`,
/// `/srv/a@b`) or a colon after a slash (`./a:b`); a one-letter prefix is a
/// drive (`C:\repo`), as git treats it.
pub fn is_url(text: &str) -> bool {
    if text.contains("://") {
        return true;
    }
    match text.split_once(':') {
        Some((host, _)) => host.len() > 1 && !host.contains(['/', '\\']),
        None => false,
    }
}

/// Limits on what a source may contain; each one exceeded is its own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most files under the path (symlinks count). Default 20 000.
    pub max_files: usize,
    /// Largest single file in bytes. Default 8 MiB.
    pub max_file_size: u64,
    /// Largest sum of all file sizes in bytes. Default 256 MiB.
    pub max_total_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_files: 20_000,
            max_file_size: 8 << 20,
            max_total_size: 256 << 20,
        }
    }
}

/// How to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// History depth to fetch: `Some(1)` (the default) fetches only the
    /// commit itself; `None` fetches the whole history.
    pub depth: Option<NonZeroU32>,
    /// Limits on the files read.
    pub limits: Limits,
    /// The program used for `ssh://` and `user@host:path` URLs; default
    /// `ssh` from `PATH`. It is called like OpenSSH.
    pub ssh_program: Option<String>,
    /// Signatures the fetched revision must carry (`source.verify`); it is
    /// refused with [`Error::Unverified`] before its files are read.
    pub verify: Option<Verification>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            depth: NonZeroU32::new(1),
            limits: Limits::default(),
            ssh_program: None,
            verify: None,
        }
    }
}

/// The result of a fetch: the commit the reference resolved to and the
/// files under the source path at that commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The resolved commit.
    pub commit: ObjectId,
    /// The files under [`Source::path`].
    pub files: Tree,
    /// The signed objects [`FetchOptions::verify`] checked (the tag, the
    /// commit, or both); empty without verification.
    pub verified: Vec<Verified>,
}

/// Errors of fetching and reading a source.
///
/// Messages never contain credentials. [`Error::is_retryable`] tells whether
/// trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be parsed.
    #[error("invalid repository URL {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be parsed.
        #[source]
        source: gix::Error,
    },
    /// The URL carries a password or token, which would end up in logs.
    #[error("repository URL {url} contains a password: give it as credentials instead")]
    CredentialsInUrl {
        /// The URL with the password replaced by `***`.
        url: String,
    },
    /// The reference is not usable (e.g. an abbreviated commit SHA).
    #[error("invalid {reference}: {reason}")]
    InvalidReference {
        /// The reference.
        reference: GitRef,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A secret (token, password) could not be read from its file or variable.
    #[error("cannot read credentials from {origin}")]
    Secret {
        /// The file or environment variable.
        origin: String,
        /// Why (the value itself is never included).
        #[source]
        source: std::io::Error,
    },
    /// The cache repository could not be created, opened or updated.
    #[error("cache repository {path}")]
    Cache {
        /// The repository's directory.
        path: std::path::PathBuf,
        /// The underlying failure.
        #[source]
        source: gix::Error,
    },
    /// Connecting to the remote or listing its refs failed (network down,
    /// host unknown, authentication refused, repository missing).
    #[error("cannot reach {url}{}", last_good_note(last_good))]
    Unreachable {
        /// The repository URL.
        url: String,
        /// The last revision fetched successfully, if any.
        last_good: Option<ObjectId>,
        /// The underlying failure.
        #[source]
        source: gix::Error,
    },
    /// The branch or tag does not exist on the remote (any more).
    #[error("{reference} not found in {url}{}", last_good_note(last_good))]
    RefNotFound {
        /// The repository URL.
        url: String,
        /// The missing reference.
        reference: GitRef,
        /// The last revision fetched successfully, if any.
        last_good: Option<ObjectId>,
    },
    /// Receiving objects from the remote failed.
    #[error("fetching {reference} from {url} failed{}", last_good_note(last_good))]
    Fetch {
        /// The repository URL.
        url: String,
        /// The reference being fetched.
        reference: GitRef,
        /// The last revision fetched successfully, if any.
        last_good: Option<ObjectId>,
        /// The underlying failure.
        #[source]
        source: gix::Error,
    },
    /// The fetched revision does not carry the signatures
    /// [`FetchOptions::verify`] asks for; its files were not read and it
    /// did not become the last good revision.
    #[error("{reference} of {url} is not verified: {source}")]
    Unverified {
        /// The repository URL.
        url: String,
        /// The reference fetched.
        reference: GitRef,
        /// What is wrong.
        #[source]
        source: Box<verify::Error>,
    },
    /// The interrupt flag was raised.
    #[error("interrupted")]
    Interrupted,
    /// The source path does not exist at the commit, or is not a directory.
    #[error("path {path:?} is not a directory at commit {commit}")]
    PathNotFound {
        /// The source path.
        path: String,
        /// The commit read.
        commit: ObjectId,
    },
    /// An object of the repository could not be read.
    #[error("cannot read {path:?} at commit {commit}")]
    ReadObject {
        /// The path of the file or directory.
        path: String,
        /// The commit read.
        commit: ObjectId,
        /// The underlying failure.
        #[source]
        source: gix::Error,
    },
    /// A file of a local directory could not be read.
    #[error("cannot read {path}")]
    ReadLocal {
        /// The path, relative to the directory given.
        path: String,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// A symlink points outside the source path.
    #[error("symlink {path} points outside the source path (to {target:?})")]
    SymlinkEscape {
        /// The symlink, relative to the source path.
        path: String,
        /// Its target as stored.
        target: String,
    },
    /// A symlink inside the source path cannot be followed.
    #[error("symlink {path} (to {target:?}) cannot be followed: {reason}")]
    SymlinkUnresolved {
        /// The symlink, relative to the source path.
        path: String,
        /// Its target as stored.
        target: String,
        /// Why.
        reason: &'static str,
    },
    /// More files than [`Limits::max_files`].
    #[error("more than {limit} files under the source path")]
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
    /// A file larger than [`Limits::max_file_size`].
    #[error("file {path} is {size} bytes, more than the limit of {limit}")]
    FileTooLarge {
        /// The file, relative to the source path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Files adding up to more than [`Limits::max_total_size`].
    #[error("files under the source path add up to more than {limit} bytes")]
    TotalTooLarge {
        /// The limit.
        limit: u64,
    },
}

fn last_good_note(last_good: &Option<ObjectId>) -> String {
    match last_good {
        Some(id) => format!(" (last good revision {id} is still available)"),
        None => String::new(),
    }
}

impl Error {
    /// Whether trying again later may succeed (network and remote trouble),
    /// as opposed to errors that need a change of input.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::RefNotFound { .. }
                | Error::Fetch { .. }
                | Error::Interrupted
                | Error::Cache { .. }
        )
    }

    /// The last revision fetched successfully, for errors that leave one.
    pub fn last_good(&self) -> Option<ObjectId> {
        match self {
            Error::Unreachable { last_good, .. }
            | Error::RefNotFound { last_good, .. }
            | Error::Fetch { last_good, .. } => *last_good,
            _ => None,
        }
    }

    /// A short machine-readable reason, for metrics and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } => "InvalidURL",
            Error::CredentialsInUrl { .. } => "CredentialsInURL",
            Error::InvalidReference { .. } => "InvalidReference",
            Error::Secret { .. } => "CredentialsUnavailable",
            Error::Cache { .. } => "CacheFailed",
            Error::Unreachable { .. } => "RemoteUnreachable",
            Error::RefNotFound { .. } => "RefNotFound",
            Error::Fetch { .. } => "FetchFailed",
            Error::Unverified { source, .. } => source.reason(),
            Error::Interrupted => "Interrupted",
            Error::PathNotFound { .. } => "PathNotFound",
            Error::ReadObject { .. } | Error::ReadLocal { .. } => "ReadFailed",
            Error::SymlinkEscape { .. } => "SymlinkEscape",
            Error::SymlinkUnresolved { .. } => "SymlinkUnresolved",
            Error::TooManyFiles { .. } => "TooManyFiles",
            Error::FileTooLarge { .. } => "FileTooLarge",
            Error::TotalTooLarge { .. } => "TotalSizeTooLarge",
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_scp_like_names_are_remote_and_paths_with_at_signs_are_local() {
        for remote in [
            "https://git.example.com/shop.git",
            "ssh://git@host/shop.git",
            "file:///srv/repos/shop",
            "git@github.com:org/shop.git",
            "host.example.com:shop.git",
        ] {
            assert!(is_url(remote), "{remote}");
        }
        for local in [
            "./team@2/repo",
            "/srv/a@b/repo",
            "repo",
            "../deploy",
            "./a:b",
            "/tmp/x:y",
            "C:\\repos\\shop",
        ] {
            assert!(!is_url(local), "{local}");
        }
    }

    #[test]
    fn a_reference_is_one_of_branch_tag_or_commit_in_yaml_and_json() {
        let tag: GitRef = serde_json::from_str(r#"{"tag": "v1"}"#).unwrap();
        assert_eq!(tag, GitRef::Tag("v1".into()));
        assert_eq!(
            serde_json::to_value(GitRef::Branch("main".into())).unwrap(),
            serde_json::json!({"branch": "main"})
        );
        assert!(serde_json::from_str::<GitRef>(r#"{"tag": "v1", "branch": "main"}"#).is_err());
        assert!(serde_json::from_str::<GitRef>("{}").is_err());
    }
}
