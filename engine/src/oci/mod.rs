//! OCI registries: policies and rendered manifests as OCI artifacts.
//!
//! In: an [`ArtifactRef`] (`oci://host/repository:tag` or `@sha256:…`) and
//! [`Options`] (credentials, `insecure`, limits). Out: an [`Artifact`] whose
//! manifest and blobs were checked against their digests, or the digest of
//! what was pushed. Does IO: HTTP(S) to the registry through `oci-client`
//! (reqwest and rustls with the engine's `ring` provider), with the
//! registry token flow, basic auth or a bearer token.
//!
//! [`fetch`] is the one way in: it resolves a tag to a digest once, pulls
//! the manifest by that digest and the layers the caller selects, each
//! under a size cap and the operation under one deadline, and verifies
//! every digest. Whatever runs on the artifact afterwards (signature
//! verification, compiling a policy, rendering manifests) gets the
//! [`Artifact`] and nothing unverified.
//!
//! [`policy`] holds the Wasm layouts (push, pull), [`bundle`] the tar+gzip
//! manifest layouts, [`signature`] cosign signatures (verify, sign),
//! [`credentials`] the docker `config.json` reader.

pub mod bundle;
pub mod credentials;
pub mod policy;
mod reference;
mod registry;
pub mod select;
pub mod signature;

use std::time::Duration;

pub use reference::{is_oci, ArtifactRef, ParseError, SCHEME};
pub use registry::{fetch, list_tags, push, resolve, Artifact, Blob, Descriptor, Manifest};

/// The tag of `repository` that `range` selects: the highest tag that is a
/// semver version matching it.
pub async fn resolve_range(
    repository: &ArtifactRef,
    range: &str,
    options: &Options,
) -> Result<ArtifactRef> {
    let tags = list_tags(repository, options).await?;
    let layout = |message| Error::Layout {
        reference: repository.repository_url(),
        message,
    };
    match select::highest_matching(range, tags.iter().map(String::as_str)).map_err(layout)? {
        Some(tag) => Ok(repository.at_tag(tag)),
        None => Err(Error::NoMatchingTag {
            reference: repository.repository_url(),
            range: range.to_owned(),
            tags: tags.iter().take(20).cloned().collect::<Vec<_>>().join(", "),
        }),
    }
}

/// How to reach a registry and how much to accept from it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Credentials.
    pub auth: Auth,
    /// Speak plain HTTP instead of HTTPS (only when asked: `--insecure`,
    /// `insecure: true`).
    pub insecure: bool,
    /// The deadline of one whole operation (resolve, pull or push),
    /// connecting included.
    pub timeout: Duration,
    /// The largest manifest accepted.
    pub max_manifest_bytes: u64,
    /// The largest blob (layer or config) accepted.
    pub max_blob_bytes: u64,
}

impl Options {
    /// Default deadline of one operation.
    pub const TIMEOUT: Duration = Duration::from_secs(120);
    /// Default largest manifest (4 MiB, distribution's own limit).
    pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
    /// Default largest blob (64 MiB; a Python component is about 20 MiB).
    pub const MAX_BLOB_BYTES: u64 = 64 << 20;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auth: Auth::Anonymous,
            insecure: false,
            timeout: Self::TIMEOUT,
            max_manifest_bytes: Self::MAX_MANIFEST_BYTES,
            max_blob_bytes: Self::MAX_BLOB_BYTES,
        }
    }
}

/// Registry credentials. `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    /// No credentials (a token is still requested anonymously when the
    /// registry asks for one).
    #[default]
    Anonymous,
    /// User name and password: HTTP basic, or exchanged for a token when the
    /// registry asks for one.
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// A bearer token sent as is.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Why an OCI operation failed. Every message names the reference.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reference does not parse. Not retryable.
    #[error(transparent)]
    Reference(#[from] ParseError),
    /// The tag or digest is not in the repository (or the repository does
    /// not exist). Not retryable until someone pushes it.
    #[error("{reference}: not found in the registry ({message})")]
    NotFound {
        /// The reference.
        reference: String,
        /// What the registry said.
        message: String,
    },
    /// The registry refused the credentials (or the lack of them). Not
    /// retryable until the credentials change.
    #[error("{reference}: the registry refused the credentials ({message})")]
    Unauthorized {
        /// The reference.
        reference: String,
        /// What the registry said.
        message: String,
    },
    /// The operation did not finish within the deadline. Retryable.
    #[error("{reference}: no complete answer from the registry within {after:?}")]
    Timeout {
        /// The reference.
        reference: String,
        /// The deadline.
        after: Duration,
    },
    /// A manifest or blob is larger than its cap. Not retryable.
    #[error("{reference}: the {what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The reference.
        reference: String,
        /// `manifest`, or the blob's digest.
        what: String,
        /// The cap.
        limit: u64,
    },
    /// What the registry sent does not have the digest it should. Not
    /// retryable.
    #[error("{reference}: the {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// `manifest`, or the blob's media type.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// The artifact is not of a kind Plumbline reads (no layer of a known
    /// media type, not a Wasm component, not a tar+gzip of files). Not
    /// retryable.
    #[error("{reference}: {message}")]
    Layout {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// No tag of the repository matches the semver range. Not retryable
    /// until a matching tag is pushed.
    #[error("{reference}: no tag matches the semver range {range} (tags: {tags})")]
    NoMatchingTag {
        /// The repository.
        reference: String,
        /// The range.
        range: String,
        /// Some of the tags found.
        tags: String,
    },
    /// Writing to the local artifact cache failed. Retryable.
    #[error("{reference}: cache {}: {message}", path.display())]
    Cache {
        /// The reference.
        reference: String,
        /// The file.
        path: std::path::PathBuf,
        /// The IO error.
        message: String,
    },
    /// The configured registry credentials could not be read (a missing
    /// or malformed docker config). Not retryable.
    #[error("{reference}: cannot read the registry credentials: {message}")]
    Credentials {
        /// The reference.
        reference: String,
        /// What is wrong (never a secret).
        message: String,
    },
    /// The artifact is not signed by a trusted key (`verify`): nothing of it
    /// is used. Not retryable until someone signs it or the keys change.
    #[error("{reference} is not verified: {refusal}; expected a signature by {expected}")]
    Unverified {
        /// The reference, pinned to the digest verified.
        reference: String,
        /// What was found instead of a good signature.
        refusal: Box<crate::source::verify::cosign::Refusal>,
        /// The trusted keys.
        expected: String,
    },
    /// Any other failure talking to the registry (connection refused, 5xx,
    /// malformed answers). Retryable.
    #[error("{reference}: {message}")]
    Registry {
        /// The reference.
        reference: String,
        /// What failed, with its causes.
        message: String,
    },
}

impl Error {
    /// Whether trying again later, unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. } | Error::Registry { .. } | Error::Cache { .. }
        )
    }

    /// A short machine-readable reason, for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Reference(_) => "InvalidReference",
            Error::NotFound { .. } => "ArtifactNotFound",
            Error::Unauthorized { .. } => "RegistryUnauthorized",
            Error::Timeout { .. } => "RegistryTimeout",
            Error::TooLarge { .. } => "ArtifactTooLarge",
            Error::DigestMismatch { .. } => "ArtifactDigestMismatch",
            Error::Layout { .. } => "ArtifactLayoutUnsupported",
            Error::NoMatchingTag { .. } => "NoMatchingTag",
            Error::Cache { .. } => "CacheFailed",
            Error::Credentials { .. } => "CredentialsFailed",
            Error::Registry { .. } => "RegistryFailed",
            Error::Unverified { refusal, .. } => refusal.reason(),
        }
    }

    /// The reason of a refused signature ([`Error::Unverified`]), for the
    /// `plumbline_unverified_revisions_total` metric; `None` for other
    /// failures.
    pub fn unverified_reason(&self) -> Option<&'static str> {
        match self {
            Error::Unverified { refusal, .. } => Some(refusal.reason()),
            _ => None,
        }
    }
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
