//! A sync whose source is an OCI artifact (`oci://host/repository:tag` or
//! `@sha256:…`): its tar+gzip of manifests, pulled and unpacked into the
//! same in-memory tree a Git source gives, so it renders like a directory
//! (kustomizations included); or a Helm chart (pushed by `helm push`), its
//! chart at the root of the tree, which renders as a chart. A `semver`
//! range, or a chart's `version` (Helm's constraints), picks the tag
//! first. The revision is what the reference resolved to:
//! `<tag>@sha256:…`, or the digest alone. With `source.verify`, the
//! digest's cosign signature is verified before any layer is pulled.

use super::desired::Fetched;
use super::{Error, SyncUnit};
use crate::oci::{self, ArtifactRef};
use crate::render::helm::chart_fetch::ArchiveCache;
use crate::render::helm::oci_chart as chart_oci;
use crate::source::verify::TrustedKeys;

/// Pull the sync's artifact with the credentials of its configuration
/// (a docker config file, else the user's) and read it like a directory;
/// a Helm chart's artifact becomes a tree with the chart at its root, its
/// archive kept under `cache_dir/charts`. With `keys`, nothing of it is
/// pulled until a trusted key's signature of its digest is verified.
pub fn fetch(
    unit: &SyncUnit,
    cache_dir: &std::path::Path,
    keys: Option<&TrustedKeys>,
) -> Result<Fetched, Error> {
    let started = std::time::Instant::now();
    let spec = &unit.config.spec.source;
    let reference =
        chart_oci::reference(&spec.url, spec.chart.as_deref()).map_err(Error::Artifact)?;
    let auth = registry_auth(unit, &reference)?;
    let options = oci::Options {
        auth,
        insecure: spec.insecure,
        ..oci::Options::default()
    };
    let cache = ArchiveCache::new(cache_dir.join("charts"));
    let pull = async {
        let (semver, version) = (spec.semver.as_deref(), spec.version.as_deref());
        let reference = pick_tag(reference, semver, version, &options).await?;
        let digest = oci::resolve(&reference, &options).await?;
        let pinned = reference.pinned(&digest);
        let verified = match keys {
            Some(keys) => vec![oci::signature::verify(&pinned, &digest, keys, &options).await?],
            None => Vec::new(),
        };
        let pulled = chart_oci::pull(&pinned, &options, &cache).await?;
        Ok((reference, pulled, verified))
    };
    let (reference, pulled, verified) = block_on(pull)?.map_err(Error::Artifact)?;
    let revision = match &reference.tag {
        Some(tag) => format!("{tag}@{}", pulled.digest),
        None => pulled.digest.clone(),
    };
    if pulled.chart.is_some() && !spec.path.trim_matches('/').is_empty() {
        return Err(Error::Spec(crate::spec::Error::Invalid {
            file: unit.file.clone(),
            message: format!(
                "{reference} is a Helm chart, rendered whole: source.path names a directory of manifests"
            ),
        }));
    }
    Ok(Fetched {
        revision: Some(revision),
        tree: pulled.tree,
        duration: Some(started.elapsed()),
        verified,
        chart: pulled.chart,
    })
}

/// The reference to pull: as given, or at the tag that `semver` (Cargo's
/// ranges) or `version` (Helm's constraints, docs/helm.md) picks.
async fn pick_tag(
    reference: ArtifactRef,
    semver: Option<&str>,
    version: Option<&str>,
    options: &oci::Options,
) -> oci::Result<ArtifactRef> {
    let refuse = |message: &str| oci::Error::Layout {
        reference: reference.to_string(),
        message: message.to_owned(),
    };
    let pinned = reference.tag.is_some() || reference.digest.is_some();
    match (semver, version) {
        (None, None) => Ok(reference),
        _ if pinned => Err(refuse(
            "semver and version pick the tag: give the repository without tag or digest",
        )),
        (Some(_), Some(_)) => Err(refuse("give either semver or version, not both")),
        (Some(range), None) => oci::resolve_range(&reference, range, options).await,
        (None, Some(version)) => chart_oci::resolve_version(&reference, version, options).await,
    }
}

/// The credentials for `reference`: from the configured docker config
/// file, else the user's.
fn registry_auth(unit: &SyncUnit, reference: &ArtifactRef) -> Result<oci::Auth, Error> {
    let refused = |message: String| {
        Error::Artifact(oci::Error::Credentials {
            reference: reference.to_string(),
            message,
        })
    };
    let file = unit
        .config
        .spec
        .source
        .credentials
        .as_ref()
        .and_then(|c| c.registry_config_file.as_ref());
    match file {
        Some(file) => {
            let path = unit.resolve(file);
            let json = std::fs::read(&path)
                .map_err(|e| refused(format!("cannot read {}: {e}", path.display())))?;
            oci::credentials::from_docker_config(&json, &reference.registry)
                .map_err(|e| refused(format!("{}: {e}", path.display())))
        }
        None => oci::credentials::from_user_config(&reference.registry).map_err(refused),
    }
}

/// Run `future` to its end from this (blocking) thread: on the runtime
/// the thread belongs to (a reconcile's blocking task), or on a runtime of
/// its own (the CLI's `plan` and `render`).
pub(super) fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, Error> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Panicked {
                    stage: "starting a runtime for the OCI pull",
                    message: e.to_string(),
                })?;
            Ok(runtime.block_on(future))
        }
    }
}
