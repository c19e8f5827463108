//! From a `SyncUnit` custom resource to what [`crate::reconcile::reconcile`]
//! takes: a [`reconcile::SyncUnit`] and a [`PolicySet`].
//!
//! In: the SyncUnit, the ClusterSyncPolicies in the cluster, and a
//! [`Resolver`] (client, policy host, cache directory). Out: a
//! [`Resolved`]. IO: reads the credentials Secret (and writes its values to
//! private files in the cache directory, which is how the Git source reads
//! credentials), downloads policy modules given by URL (cached by sha256,
//! checked against it), pulls policy modules named `oci://` (a tag
//! resolved to a digest at every reconcile, pulled only when that digest is
//! not cached, credentials from a `kubernetes.io/dockerconfigjson` Secret),
//! fetches the sync's repository when a policy module is a path in it, and
//! reads the ConfigMaps and Secrets of a chart's `valuesFrom`. The repository is then pinned to the fetched
//! commit, so policies and manifests come from the same revision.
//!
//! [`Access`] bounds what a SyncUnit can make the controller read: no
//! `file://` URLs or local paths (they would reach the controller's own
//! files, other tenants' cached repositories included) unless the
//! controller runs with `--allow-file-urls`, and module downloads with a
//! timeout and a size limit.
//!
//! ClusterSyncPolicies that select the SyncUnit ([`policy_selects`]: its
//! labels, and the labels of its registered cluster) come first (sorted by
//! name), then the SyncUnit's own policies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::Api;
use kube::ResourceExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::crd::{self, ArtifactStatus, ClusterSyncPolicy, ModuleRef, SyncUnit};
use super::values_from;
use crate::oci;
use crate::policy::{ComponentSource, LimitOverrides, PolicyHost, PolicySet, PolicySpec};
use crate::reconcile;
use crate::source::{self, FetchOptions, GitRef};
use crate::spec::{self, SyncConfig};
use crate::text::error_chain;

/// Why a SyncUnit cannot be turned into a reconcilable sync.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is unusable as written (bad name, ref, interval, module).
    /// Not retryable: the SyncUnit must change.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// A source or module URL names the controller's own file system
    /// (`file://` or a local path) and the controller does not allow that.
    /// Not retryable.
    #[error("{field} {url:?} would read the controller's own file system: file:// URLs and local paths are refused (the controller's --allow-file-urls, meant for tests, accepts them)")]
    FileUrl {
        /// Where the URL is, such as `spec.source.url`.
        field: String,
        /// The URL.
        url: String,
    },
    /// The credentials Secret could not be read. Retryable (it may be
    /// created later).
    #[error("credentials Secret {namespace}/{name}: {source}")]
    Secret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The credentials Secret has none of the keys Plumbline reads. Not
    /// retryable.
    #[error("credentials Secret {namespace}/{name} has none of the keys username+password, password, token, identity, .dockerconfigjson")]
    SecretKeys {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Writing the credentials or a downloaded module to the cache failed.
    #[error("cache directory {}: {source}", path.display())]
    Cache {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A policy module could not be downloaded. Retryable.
    #[error("policy {policy}: cannot download {url}: {message}")]
    Download {
        /// The policy.
        policy: String,
        /// The module URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// A downloaded module does not have the sha256 the spec pins. Not
    /// retryable.
    #[error("policy {policy}: {url} has sha256 {actual}, the spec pins {expected}")]
    Digest {
        /// The policy.
        policy: String,
        /// The module URL.
        url: String,
        /// The pinned digest.
        expected: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// An `oci://` module could not be pulled; retryable as the OCI error
    /// says (a registry that hangs or fails is, a missing tag is not).
    #[error("policy {policy}: {source}")]
    Oci {
        /// The policy.
        policy: String,
        /// What failed, naming the reference.
        #[source]
        source: oci::Error,
    },
    /// A registry pull Secret is missing its `.dockerconfigjson` or it is
    /// malformed. Not retryable.
    #[error("pull Secret {namespace}/{name}: {message}")]
    PullSecret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// What is wrong (never a secret value).
        message: String,
    },
    /// A module path names no file in the sync's repository. Not retryable
    /// until Git changes.
    #[error("policy {policy}: no file {path} in {url} at {revision}")]
    NotInRepository {
        /// The policy.
        policy: String,
        /// The path.
        path: String,
        /// The repository.
        url: String,
        /// The commit read.
        revision: String,
    },
    /// `source.helm.valuesFrom` could not be read: a ConfigMap or Secret
    /// (or its key) is missing, holds no YAML mapping, or the read failed.
    /// Retryable: the object may be created or fixed at any time. Never
    /// carries a value.
    #[error(transparent)]
    ValuesFrom(values_from::Error),
    /// Fetching the repository (for module paths) failed.
    #[error("fetch failed: {0}")]
    Fetch(#[source] source::Error),
    /// The sync configuration derived from the SyncUnit was refused.
    #[error(transparent)]
    Spec(#[from] spec::Error),
    /// A policy did not load (bad component, settings refused).
    #[error("{0}")]
    Policy(#[source] crate::policy::Error),
    /// Fetching or loading policies panicked (a bug). Retryable.
    #[error("{stage} panicked: {message}")]
    Panicked {
        /// What was running.
        stage: &'static str,
        /// The panic's message.
        message: String,
    },
}

impl Error {
    /// Whether trying again later, unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Secret { .. }
            | Error::Download { .. }
            | Error::Cache { .. }
            | Error::Panicked { .. }
            | Error::ValuesFrom(_) => true,
            Error::Fetch(e) => e.is_retryable(),
            Error::Oci { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// The reason of a revision or module refused by verification, for
    /// the `plumbline_unverified_revisions_total` metric; `None` for other
    /// failures.
    pub fn unverified_reason(&self) -> Option<&'static str> {
        match self {
            Error::Fetch(error @ source::Error::Unverified { .. }) => Some(error.reason()),
            Error::Oci { source, .. } => source.unverified_reason(),
            _ => None,
        }
    }

    /// A short machine-readable reason, for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) | Error::Spec(_) => "InvalidSpec",
            Error::FileUrl { .. } => "FileUrlRefused",
            Error::Secret { .. } | Error::SecretKeys { .. } | Error::PullSecret { .. } => {
                "CredentialsFailed"
            }
            Error::Oci { source, .. } => source.reason(),
            Error::Cache { .. } => "CacheFailed",
            Error::Download { .. } => "ModuleDownloadFailed",
            Error::Digest { .. } => "ModuleDigestMismatch",
            Error::NotInRepository { .. } => "ModuleNotFound",
            Error::Fetch(error @ source::Error::Unverified { .. }) => error.reason(),
            Error::Fetch(_) => "FetchFailed",
            Error::Policy(_) => "PolicyFailed",
            Error::Panicked { .. } => "Panicked",
            Error::ValuesFrom(error) => error.reason(),
        }
    }
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error of a task that panicked while running `stage`.
fn panicked(stage: &'static str, error: &tokio::task::JoinError) -> Error {
    Error::Panicked {
        stage,
        message: error.to_string(),
    }
}

/// A SyncUnit ready for [`reconcile::reconcile`].
#[derive(Debug)]
pub struct Resolved {
    /// The sync, named [`sync_name`].
    pub unit: reconcile::SyncUnit,
    /// Its policies, cluster-wide ones first.
    pub policies: PolicySet,
    /// The OCI artifacts it uses, with the digests they resolved to.
    pub artifacts: Vec<ArtifactStatus>,
}

/// What resolving needs from the controller.
pub struct Resolver<'a> {
    /// Reads Secrets.
    pub client: &'a kube::Client,
    /// Loads policies.
    pub host: &'a PolicyHost,
    /// Git cache, downloaded modules and credential files live under it.
    pub cache_dir: &'a Path,
    /// Namespace of the inventory ConfigMaps.
    pub inventory_namespace: &'a str,
    /// Which URLs are accepted, and how modules are downloaded.
    pub access: &'a Access,
}

/// What a SyncUnit may make the controller read, and how policy modules
/// are downloaded. Built once and shared by every reconcile (clones share
/// one HTTP client and its connections).
#[derive(Debug, Clone)]
pub struct Access {
    allow_file_urls: bool,
    download_timeout: Duration,
    max_module_bytes: u64,
    client: Arc<OnceLock<reqwest::Client>>,
}

impl Default for Access {
    /// File URLs refused, [`Access::DOWNLOAD_TIMEOUT`],
    /// [`Access::MAX_MODULE_BYTES`].
    fn default() -> Self {
        Access::new(false)
    }
}

impl Access {
    /// How long a module download may take, connecting included.
    pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
    /// The largest module downloaded (64 MiB; a Python component is about
    /// 20 MiB).
    pub const MAX_MODULE_BYTES: u64 = 64 << 20;

    /// Default download limits; `file://` URLs and local paths accepted
    /// only when `allow_file_urls` is set.
    pub fn new(allow_file_urls: bool) -> Self {
        Access {
            allow_file_urls,
            download_timeout: Self::DOWNLOAD_TIMEOUT,
            max_module_bytes: Self::MAX_MODULE_BYTES,
            client: Arc::default(),
        }
    }

    /// The same access with other download limits: `timeout` for the whole
    /// download, at most `max_bytes` of body.
    pub fn with_download_limits(self, timeout: Duration, max_bytes: u64) -> Self {
        Access {
            download_timeout: timeout,
            max_module_bytes: max_bytes,
            client: Arc::default(),
            ..self
        }
    }

    /// Refuse a repository URL that is a local path or `file://`, unless
    /// allowed; `field` names it in the error.
    fn check_source_url(&self, field: &str, url: &str) -> Result<()> {
        use gix::bstr::ByteSlice;
        // What does not parse is refused later, as an invalid URL.
        let local = gix::url::parse(url.as_bytes().as_bstr())
            .is_ok_and(|parsed| parsed.scheme == gix::url::Scheme::File);
        if !local || self.allow_file_urls {
            Ok(())
        } else {
            Err(Error::FileUrl {
                field: field.to_owned(),
                url: url.to_owned(),
            })
        }
    }

    /// The shared HTTP client, built at the first download.
    fn client(&self) -> Result<&reqwest::Client, reqwest::Error> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let built = reqwest::Client::builder()
            .connect_timeout(self.download_timeout)
            .timeout(self.download_timeout)
            .build()?;
        Ok(self.client.get_or_init(|| built))
    }

    /// Download `url` with the timeout and size limit; `Err` says what
    /// failed.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let timeout = self.download_timeout;
        let describe = |e: reqwest::Error| {
            if e.is_timeout() {
                format!("no complete answer within {timeout:?}")
            } else {
                error_chain(&e)
            }
        };
        let mut response = self
            .client()
            .map_err(describe)?
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(describe)?;
        let too_large = || format!("larger than the limit of {} bytes", self.max_module_bytes);
        if response
            .content_length()
            .is_some_and(|n| n > self.max_module_bytes)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if (bytes.len() + chunk.len()) as u64 > self.max_module_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

/// The name a SyncUnit's objects are labelled with (`plumbline.dev/sync`)
/// and its inventory is stored under: `<namespace>.<name>`, unique in the
/// cluster and a valid label value (at most 63 characters).
pub fn sync_name(namespace: &str, name: &str) -> Result<String> {
    let joined = format!("{namespace}.{name}");
    if joined.len() > 63 {
        return Err(Error::InvalidSpec(format!(
            "namespace and name {joined:?} are longer than the 63 characters of a label value"
        )));
    }
    Ok(joined)
}

/// The SyncUnit a [`sync_name`] stands for: `(namespace, name)`.
pub fn parse_sync_name(label: &str) -> Option<(&str, &str)> {
    label.split_once('.')
}

/// Parse an interval such as `90s`, `5m`, `1h30m` or `2h`.
pub fn parse_interval(text: &str) -> Result<std::time::Duration> {
    let invalid = || {
        Error::InvalidSpec(format!(
            "interval {text:?} is not a duration of a second or more like 90s, 5m or 1h30m"
        ))
    };
    match humantime::parse_duration(text.trim()) {
        Ok(interval) if interval >= std::time::Duration::from_secs(1) => Ok(interval),
        _ => Err(invalid()),
    }
}

impl Resolver<'_> {
    /// Turn a SyncUnit into a sync and its policies;
    /// `cluster` is the labels of the registered cluster it syncs into
    /// (`None` for the controller's own cluster), for the policies'
    /// `clusterSelector`.
    pub async fn resolve(
        &self,
        object: &SyncUnit,
        cluster_policies: &[ClusterSyncPolicy],
        cluster: Option<&BTreeMap<String, String>>,
    ) -> Result<Resolved> {
        let namespace = object.namespace().unwrap_or_default();
        let name = sync_name(&namespace, &object.name_any())?;
        parse_interval(&object.spec.interval)?;
        self.access
            .check_source_url("spec.source.url", &object.spec.source.url)?;
        let credentials = match &object.spec.source.secret_ref {
            Some(secret) => Some(self.credentials(&namespace, &secret.name, &name).await?),
            None => None,
        };
        let verify = match &object.spec.source.verify {
            Some(verify) => Some(self.trusted_keys(&namespace, verify).await?),
            None => None,
        };
        let mut unit = reconcile::SyncUnit {
            config: config(
                object,
                &name,
                &namespace,
                (credentials, verify),
                self.inventory_namespace,
            )?,
            base_dir: self.cache_dir.to_owned(),
            file: format!("SyncUnit {namespace}/{}", object.name_any()),
        };
        if let Some(helm) = unit.config.spec.source.helm.as_mut() {
            if !helm.values_from.is_empty() {
                let read = values_from::read(self.client, &namespace, &helm.values_from).await;
                helm.resolved_values_from = Some(read.map_err(Error::ValuesFrom)?);
            }
        }

        let mut wanted: Vec<Wanted> = Vec::new();
        let mut selected: Vec<&ClusterSyncPolicy> = cluster_policies
            .iter()
            .filter(|p| policy_selects(p, object.labels(), cluster))
            .collect();
        selected.sort_by_key(|p| p.name_any());
        for policy in selected {
            let spec = &policy.spec;
            wanted.push((
                policy.name_any(),
                &spec.module,
                &spec.settings,
                spec.limits,
                spec.fail_open,
                &spec.allow,
                self.inventory_namespace,
            ));
        }
        for policy in &object.spec.policies {
            let name = match (&policy.name, &policy.module.path, &policy.module.url) {
                (Some(name), _, _) => name.clone(),
                (None, None, Some(url)) if oci::is_oci(url) => oci_module_name(url),
                (None, Some(path), _) | (None, None, Some(path)) => module_name(path),
                (None, None, None) => String::new(),
            };
            wanted.push((
                name,
                &policy.module,
                &policy.settings,
                policy.limits,
                policy.fail_open,
                &policy.allow,
                &namespace,
            ));
        }

        let mut tree: Option<source::Tree> = None;
        let mut specs = Vec::with_capacity(wanted.len());
        let mut artifacts = Vec::new();
        for (policy, module, settings, limits, fail_open, allow, keys_namespace) in wanted {
            let bytes = match (&module.path, &module.url, &module.sha256) {
                (None, Some(url), None) if oci::is_oci(url) => {
                    let (bytes, artifact) = self
                        .pull_oci(&policy, url, module, (&namespace, keys_namespace))
                        .await?;
                    artifacts.push(artifact);
                    bytes
                }
                (_, _, _) if module.verify.is_some() => {
                    return Err(Error::InvalidSpec(format!(
                        "policy {policy:?}: module.verify checks the cosign signature of an oci:// module; this module has none"
                    )))
                }
                (None, Some(url), Some(_)) if oci::is_oci(url) => {
                    return Err(Error::InvalidSpec(format!(
                        "policy {policy:?}: an oci:// module is pinned by the digest in its url (@sha256:...), not by sha256"
                    )))
                }
                (Some(_), None, None)
                    if oci::is_oci(&object.spec.source.url) || object.spec.source.chart.is_some() =>
                {
                    return Err(Error::InvalidSpec(format!(
                        "policy {policy:?}: a module path is read from a Git source; with an oci:// or chart source, give the module a url"
                    )))
                }
                (Some(path), None, None) => {
                    if tree.is_none() {
                        tree = Some(self.pin_revision(&mut unit).await?);
                    }
                    let files = tree.as_ref().expect("fetched just above");
                    let path = path.trim_start_matches('/');
                    files
                        .get(path)
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| Error::NotInRepository {
                            policy: policy.clone(),
                            path: path.to_owned(),
                            url: object.spec.source.url.clone(),
                            revision: pinned_revision(&unit),
                        })?
                }
                (None, Some(url), Some(sha256)) => self.download(&policy, url, sha256).await?,
                _ => {
                    return Err(Error::InvalidSpec(format!(
                        "policy {policy:?}: module needs either path, url and sha256, or an oci:// url"
                    )))
                }
            };
            specs.push(
                PolicySpec::new(policy, ComponentSource::Bytes(bytes))
                    .settings(settings.clone())
                    .limits(limit_overrides(limits))
                    .fail_open(fail_open)
                    .transformer_allowance(allow.clone()),
            );
        }
        let host = self.host.clone();
        let policies = tokio::task::spawn_blocking(move || host.load_set(specs))
            .await
            .map_err(|e| panicked("loading policies", &e))?
            .map_err(Error::Policy)?;
        Ok(Resolved {
            unit,
            policies,
            artifacts,
        })
    }

    /// Fetch the sync's repository and pin the sync to the fetched commit.
    async fn pin_revision(&self, unit: &mut reconcile::SyncUnit) -> Result<source::Tree> {
        let mut source = unit.config.source(&unit.file)?;
        source.path = String::new();
        let options = FetchOptions {
            verify: unit
                .config
                .verification(&unit.file, |path| unit.resolve(path))?,
            ..FetchOptions::default()
        };
        let cache_dir = self.cache_dir.join("git");
        let fetched = tokio::task::spawn_blocking(move || {
            source::fetch(
                &source,
                &cache_dir,
                &options,
                gix::progress::Discard,
                &AtomicBool::new(false),
            )
        })
        .await
        .map_err(|e| panicked("fetching the repository", &e))?
        .map_err(Error::Fetch)?;
        // A verified annotated tag is pinned by its own id, so the
        // revision fetched again is verified again in the same mode.
        let pinned = fetched
            .verified
            .iter()
            .find(|v| v.kind == source::verify::ObjectKind::Tag)
            .map_or_else(|| fetched.commit.to_string(), |tag| tag.object.clone());
        unit.config.spec.source.reference = Some(GitRef::Commit(pinned));
        Ok(fetched.files)
    }

    /// The Secret `name` of `namespace`.
    async fn secret(&self, namespace: &str, name: &str) -> Result<Secret> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        api.get(name).await.map_err(|source| Error::Secret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })
    }

    /// Read the Secret of `source.verify` and write each of its values to
    /// a file the sync's verification reads, named
    /// `verify-keys/<namespace>/<secret>/<key>` in messages.
    async fn trusted_keys(
        &self,
        namespace: &str,
        verify: &crd::VerifySpec,
    ) -> Result<spec::VerifySpec> {
        let secret = &verify.secret_ref.name;
        let found = self.secret(namespace, secret).await?;
        let relative = Path::new("verify-keys").join(namespace).join(secret);
        let mut keys = Vec::new();
        for (key, value) in found.data.unwrap_or_default() {
            let file = relative.join(&key);
            write_private(&self.cache_dir.join(&file), &value.0)?;
            keys.push(spec::KeyFile { file });
        }
        Ok(spec::VerifySpec {
            mode: verify.mode,
            keys,
        })
    }

    /// Read the credentials Secret and write its values to private files
    /// the Git source reads.
    async fn credentials(
        &self,
        namespace: &str,
        secret: &str,
        sync: &str,
    ) -> Result<spec::CredentialsSpec> {
        let found = self.secret(namespace, secret).await?;
        let data: BTreeMap<String, Vec<u8>> = found
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let dir = self.cache_dir.join("credentials").join(sync);
        let write = |key: &str| -> Result<Option<PathBuf>> {
            match data.get(key) {
                Some(value) => write_private(&dir.join(key), value).map(Some),
                None => Ok(None),
            }
        };
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let mut spec = spec::CredentialsSpec {
            username: None,
            password_env: None,
            password_file: None,
            ssh_key_file: None,
            known_hosts_file: None,
            registry_config_file: None,
        };
        if data.contains_key(".dockerconfigjson") {
            spec.registry_config_file = write(".dockerconfigjson")?;
        } else if data.contains_key("identity") {
            spec.ssh_key_file = write("identity")?;
            spec.known_hosts_file = write("known_hosts")?;
        } else if data.contains_key("password") {
            spec.username = text("username");
            spec.password_file = write("password")?;
        } else if data.contains_key("token") {
            spec.password_file = write("token")?;
        } else {
            return Err(Error::SecretKeys {
                namespace: namespace.to_owned(),
                name: secret.to_owned(),
            });
        }
        Ok(spec)
    }

    /// The component of an `oci://` module, through the cache (by digest),
    /// and what the status records of it. The pull Secret is read in
    /// `namespace`, the `verify` Secret in `keys_namespace`.
    async fn pull_oci(
        &self,
        policy: &str,
        url: &str,
        module: &ModuleRef,
        (namespace, keys_namespace): (&str, &str),
    ) -> Result<(Vec<u8>, ArtifactStatus)> {
        let reference: oci::ArtifactRef = url
            .parse()
            .map_err(|e: oci::ParseError| Error::InvalidSpec(format!("policy {policy:?}: {e}")))?;
        let auth = match &module.pull_secret_ref {
            Some(secret) => {
                self.registry_auth(namespace, &secret.name, &reference.registry)
                    .await?
            }
            None => oci::Auth::Anonymous,
        };
        let options = oci::Options {
            auth,
            insecure: module.insecure,
            timeout: self.access.download_timeout,
            max_blob_bytes: self.access.max_module_bytes,
            ..oci::Options::default()
        };
        let verification = match &module.verify {
            Some(verify) => Some(self.cosign_keys(policy, keys_namespace, verify).await?),
            None => None,
        };
        let dir = self.cache_dir.join("oci").join("policies");
        let keys = verification.as_ref().map(|v| v.keys.as_ref());
        let pulled = oci::policy::pull_cached(&reference, &options, &dir, keys)
            .await
            .map_err(|source| Error::Oci {
                policy: policy.to_owned(),
                source,
            })?;
        let bytes = std::fs::read(&pulled.component).map_err(|source| Error::Cache {
            path: pulled.component.clone(),
            source,
        })?;
        let artifact = ArtifactStatus {
            used_for: format!("policy {policy}"),
            url: reference.repository_url(),
            chart: None,
            tag: reference.tag.clone(),
            digest: pulled.digest,
            signed_by: pulled.verified.map(|v| v.signer.fingerprint),
        };
        Ok((bytes, artifact))
    }

    /// The cosign keys of a module's `verify`: every value of its Secret
    /// in `namespace`, named `Secret <namespace>/<name> <key>` in messages.
    async fn cosign_keys(
        &self,
        policy: &str,
        namespace: &str,
        verify: &crd::VerifySpec,
    ) -> Result<source::Verification> {
        let secret = &verify.secret_ref.name;
        let found = self.secret(namespace, secret).await?;
        let invalid = |message: String| {
            Error::InvalidSpec(format!("policy {policy:?}: module.verify: {message}"))
        };
        let mut keys = source::verify::TrustedKeys::default();
        for (key, value) in found.data.unwrap_or_default() {
            let origin = format!("Secret {namespace}/{secret} {key}");
            let text =
                String::from_utf8(value.0).map_err(|_| invalid(format!("{origin} is not text")))?;
            keys.add(&text, &origin)
                .map_err(|e| invalid(e.to_string()))?;
        }
        let verification = source::Verification {
            mode: verify.mode,
            keys: Arc::new(keys),
        };
        spec::artifact_keys(&verification).map_err(invalid)?;
        Ok(verification)
    }

    /// The credentials a `kubernetes.io/dockerconfigjson` Secret gives for
    /// `registry`.
    async fn registry_auth(
        &self,
        namespace: &str,
        secret: &str,
        registry: &str,
    ) -> Result<oci::Auth> {
        let found = self.secret(namespace, secret).await?;
        let pull_secret = |message: String| Error::PullSecret {
            namespace: namespace.to_owned(),
            name: secret.to_owned(),
            message,
        };
        let json = found
            .data
            .unwrap_or_default()
            .remove(".dockerconfigjson")
            .ok_or_else(|| {
                pull_secret(
                    "no .dockerconfigjson key (make it a kubernetes.io/dockerconfigjson Secret)"
                        .to_owned(),
                )
            })?;
        oci::credentials::from_docker_config(&json.0, registry).map_err(pull_secret)
    }

    /// The bytes of a module given by URL, from the cache when a file with
    /// the pinned digest is there.
    async fn download(&self, policy: &str, url: &str, sha256: &str) -> Result<Vec<u8>> {
        let expected = sha256.to_ascii_lowercase();
        if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidSpec(format!(
                "policy {policy:?}: sha256 must be 64 hex digits"
            )));
        }
        if url.starts_with("file://") && !self.access.allow_file_urls {
            return Err(Error::FileUrl {
                field: format!("policy {policy:?}: module url"),
                url: url.to_owned(),
            });
        }
        let cached = self
            .cache_dir
            .join("modules")
            .join(format!("{expected}.wasm"));
        if let Ok(bytes) = std::fs::read(&cached) {
            if hex::encode(Sha256::digest(&bytes)) == expected {
                return Ok(bytes);
            }
        }
        let failed = |message: String| Error::Download {
            policy: policy.to_owned(),
            url: url.to_owned(),
            message,
        };
        let bytes = if let Some(path) = url.strip_prefix("file://") {
            std::fs::read(path).map_err(|e| failed(e.to_string()))?
        } else if url.starts_with("https://") || url.starts_with("http://") {
            self.access.fetch(url).await.map_err(failed)?
        } else {
            return Err(Error::InvalidSpec(format!(
                "policy {policy:?}: module url {url:?} must be https://, http:// or file://"
            )));
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != expected {
            return Err(Error::Digest {
                policy: policy.to_owned(),
                url: url.to_owned(),
                expected,
                actual,
            });
        }
        write_private(&cached, &bytes)?;
        Ok(bytes)
    }
}

/// The `plumbline.yaml` shape of a SyncUnit (policies are loaded
/// separately).
/// One policy a SyncUnit runs: its name, module, settings, limits,
/// failure mode, transformer allowance, and the namespace of its module's
/// `verify` Secret.
type Wanted<'a> = (
    String,
    &'a ModuleRef,
    &'a Value,
    crd::LimitsSpec,
    bool,
    &'a spec::TransformerAllowance,
    &'a str,
);

fn config(
    object: &SyncUnit,
    name: &str,
    namespace: &str,
    (credentials, verify): (Option<spec::CredentialsSpec>, Option<spec::VerifySpec>),
    inventory_namespace: &str,
) -> Result<SyncConfig> {
    let spec = &object.spec;
    spec.sync.validate().map_err(Error::InvalidSpec)?;
    let url = &spec.source.url;
    if !source::is_url(url) {
        return Err(Error::InvalidSpec(format!(
            "spec.source.url {url:?} must be a repository URL (https://, ssh://, git://, file://, git@host:path)"
        )));
    }
    let mut sync = spec.sync.clone();
    sync.target_namespace
        .get_or_insert_with(|| namespace.to_owned());
    Ok(SyncConfig {
        api_version: spec::API_VERSION.to_owned(),
        kind: "Sync".to_owned(),
        metadata: spec::Metadata {
            name: name.to_owned(),
        },
        spec: spec::ConfigSpec {
            source: spec::SourceSpec {
                url: url.clone(),
                reference: spec.source.reference.clone(),
                path: spec.source.path.clone(),
                credentials,
                verify,
                insecure: spec.source.insecure,
                semver: spec.source.semver.clone(),
                chart: spec.source.chart.clone(),
                version: spec.source.version.clone(),
                helm: spec.source.helm.clone(),
            },
            policies: Vec::new(),
            inventory_namespace: inventory_namespace.to_owned(),
            sync,
            unknown: BTreeMap::new(),
        },
    })
}

fn pinned_revision(unit: &reconcile::SyncUnit) -> String {
    unit.config
        .spec
        .source
        .reference
        .as_ref()
        .map(|r| match r {
            GitRef::Commit(commit) => commit.clone(),
            GitRef::Branch(_) | GitRef::Tag(_) => String::new(),
        })
        .unwrap_or_default()
}

fn limit_overrides(limits: crd::LimitsSpec) -> LimitOverrides {
    LimitOverrides {
        timeout: limits.timeout_ms.map(std::time::Duration::from_millis),
        memory_bytes: limits.memory_bytes,
        fuel: limits.fuel,
        output_bytes: limits.output_bytes,
        log_bytes: limits.log_bytes,
        stack_bytes: limits.stack_bytes.and_then(|b| usize::try_from(b).ok()),
        ..LimitOverrides::default()
    }
}

/// What the status records of an `oci://` source, or of a chart of a Helm
/// chart repository, after a reconcile that fetched `revision`
/// (`<tag or version>@sha256:…`, or the digest) and `verified` its
/// signature; `None` for other sources, or when nothing was fetched.
pub fn source_artifact(
    unit: &reconcile::SyncUnit,
    revision: Option<&str>,
    verified: &[source::Verified],
) -> Option<ArtifactStatus> {
    let spec = &unit.config.spec.source;
    let url = if oci::is_oci(&spec.url) {
        crate::render::helm::oci_chart::reference(&spec.url, spec.chart.as_deref())
            .ok()?
            .repository_url()
    } else if spec.chart.is_some() {
        spec.url.clone()
    } else {
        return None;
    };
    let (tag, digest) = match revision?.split_once('@') {
        Some((tag, digest)) => (Some(tag.to_owned()), digest),
        None => (None, revision?),
    };
    Some(ArtifactStatus {
        used_for: "source".to_owned(),
        url,
        chart: spec.chart.clone().filter(|_| !oci::is_oci(&spec.url)),
        tag,
        digest: digest.to_owned(),
        signed_by: verified
            .iter()
            .find(|v| v.kind == source::verify::ObjectKind::Artifact)
            .map(|v| v.signer.fingerprint.clone()),
    })
}

/// An `oci://` module's default name: its repository's last segment.
fn oci_module_name(url: &str) -> String {
    url.parse::<oci::ArtifactRef>().map_or_else(
        |_| module_name(url),
        |reference| {
            let last = reference.repository.rsplit('/').next().unwrap_or_default();
            last.to_owned()
        },
    )
}

/// A policy's default name: the module file's name without `.wasm`.
fn module_name(path: &str) -> String {
    crate::policy::name_from_path(Path::new(path.rsplit('/').next().unwrap_or(path)))
}

/// Whether `policy` applies to a SyncUnit labelled `unit` that syncs into
/// the registered cluster labelled `cluster` (`None`: the controller's own
/// cluster, which no `clusterSelector` selects).
pub fn policy_selects(
    policy: &ClusterSyncPolicy,
    unit: &BTreeMap<String, String>,
    cluster: Option<&BTreeMap<String, String>>,
) -> bool {
    let cluster_matches = match (&policy.spec.cluster_selector, cluster) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(selector), Some(labels)) => selects(Some(selector), labels),
    };
    cluster_matches && selects(policy.spec.sync_selector.as_ref(), unit)
}

/// Whether a label selector matches; no selector (or an empty one) matches
/// everything.
pub fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_match = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// Write a file readable only by its owner, atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let cache = |source| Error::Cache {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(cache)?;
    let temp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp).map_err(cache)?;
        file.write_all(bytes).map_err(cache)?;
    }
    std::fs::rename(&temp, path).map_err(cache)?;
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn intervals_parse_in_seconds_minutes_and_hours() {
        assert_eq!(parse_interval("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_interval("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_interval("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_interval("1h 30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_interval("1d").unwrap().as_secs(), 86_400);
        assert_eq!(parse_interval("1.5h").unwrap().as_secs(), 5400);
        for bad in ["", "5", "0s", "500ms", "5x", "m"] {
            let error = parse_interval(bad).unwrap_err().to_string();
            assert!(error.contains("is not a duration"), "{bad}: {error}");
        }
    }

    #[test]
    fn sync_names_join_namespace_and_name_and_split_back() {
        let name = sync_name("team-a", "shop").unwrap();
        assert_eq!(name, "team-a.shop");
        assert_eq!(parse_sync_name(&name), Some(("team-a", "shop")));
        let long = "x".repeat(60);
        assert!(sync_name(&long, "shop").is_err());
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels: BTreeMap<String, String> =
            [("team".to_owned(), "a".to_owned())].into_iter().collect();
        assert!(selects(None, &labels));
        assert!(selects(Some(&LabelSelector::default()), &labels));
        let by_label = LabelSelector {
            match_labels: Some([("team".to_owned(), "b".to_owned())].into_iter().collect()),
            ..LabelSelector::default()
        };
        assert!(!selects(Some(&by_label), &labels));
        let expression = |operator: &str, values: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "team".into(),
                operator: operator.into(),
                values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
            }]),
            ..LabelSelector::default()
        };
        assert!(selects(Some(&expression("In", &["a", "c"])), &labels));
        assert!(!selects(Some(&expression("NotIn", &["a"])), &labels));
        assert!(selects(Some(&expression("Exists", &[])), &labels));
        assert!(!selects(Some(&expression("DoesNotExist", &[])), &labels));
    }

    #[test]
    fn a_cluster_selector_selects_sync_units_by_their_registered_cluster() {
        let policy = |spec: Value| -> ClusterSyncPolicy {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "plumbline.dev/v1alpha1", "kind": "ClusterSyncPolicy",
                "metadata": {"name": "p"},
                "spec": spec,
            }))
            .unwrap()
        };
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let unit = labels(&[("team", "a")]);
        let (prod, staging) = (labels(&[("env", "prod")]), labels(&[("env", "staging")]));
        let module = serde_json::json!({"path": "p.wasm"});
        let by_cluster = policy(serde_json::json!({"module": module,
            "clusterSelector": {"matchLabels": {"env": "prod"}}}));
        assert!(policy_selects(&by_cluster, &unit, Some(&prod)));
        assert!(!policy_selects(&by_cluster, &unit, Some(&staging)));
        // The controller's own cluster has no registration to match.
        assert!(!policy_selects(&by_cluster, &unit, None));
        // Both selectors must match.
        let both = policy(serde_json::json!({"module": module,
            "syncSelector": {"matchLabels": {"team": "b"}},
            "clusterSelector": {"matchLabels": {"env": "prod"}}}));
        assert!(!policy_selects(&both, &unit, Some(&prod)));
        // Without a clusterSelector, the cluster does not matter.
        let any = policy(serde_json::json!({"module": module}));
        assert!(policy_selects(&any, &unit, None) && policy_selects(&any, &unit, Some(&staging)));
    }

    #[test]
    fn module_names_come_from_the_file_name() {
        assert_eq!(
            module_name("policies/required-labels.wasm"),
            "required-labels"
        );
        assert_eq!(
            module_name("https://x/y/report-only.component.wasm"),
            "report-only"
        );
    }
}
