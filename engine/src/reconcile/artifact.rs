//! A sync whose source is an OCI artifact (`oci://host/repository:tag` or
//! `@sha256:…`): its tar+gzip of manifests, pulled and unpacked into the
//! same in-memory tree a Git source gives, so it renders like a directory
//! (kustomizations included). A `semver` range picks the tag first. The
//! revision is what the reference resolved to: `<tag>@sha256:…`, or the
//! digest alone. With `source.verify`, the digest's cosign signature is
//! verified before any layer is pulled.

use super::desired::Fetched;
use super::{Error, SyncUnit};
use crate::oci::{self, bundle, ArtifactRef};
use crate::source::verify::TrustedKeys;

/// Pull the sync's artifact with the credentials of its configuration
/// (a docker config file, else the user's) and read it like a directory;
/// with `keys`, only once a trusted key's signature of its digest is
/// verified.
pub fn fetch(unit: &SyncUnit, keys: Option<&TrustedKeys>) -> Result<Fetched, Error> {
    let started = std::time::Instant::now();
    let spec = &unit.config.spec.source;
    let reference: ArtifactRef = spec
        .url
        .parse()
        .map_err(|e: oci::ParseError| Error::Artifact(e.into()))?;
    let auth = registry_auth(unit, &reference)?;
    let options = oci::Options {
        auth,
        insecure: spec.insecure,
        ..oci::Options::default()
    };
    let pull = async {
        let reference = match (&spec.semver, &reference.tag, &reference.digest) {
            (Some(range), None, None) => oci::resolve_range(&reference, range, &options).await?,
            (Some(_), _, _) => {
                return Err(oci::Error::Layout {
                    reference: reference.to_string(),
                    message: "semver picks the tag: give the repository without tag or digest"
                        .to_owned(),
                })
            }
            (None, _, _) => reference,
        };
        let digest = oci::resolve(&reference, &options).await?;
        let pinned = reference.pinned(&digest);
        let verified = match keys {
            Some(keys) => vec![oci::signature::verify(&pinned, &digest, keys, &options).await?],
            None => Vec::new(),
        };
        let (artifact, tree) =
            bundle::pull_manifests(&pinned, &options, bundle::UnpackLimits::default()).await?;
        Ok((reference, artifact, tree, verified))
    };
    let (reference, artifact, tree, verified) = block_on(pull)?.map_err(Error::Artifact)?;
    let revision = match &reference.tag {
        Some(tag) => format!("{tag}@{}", artifact.digest),
        None => artifact.digest.clone(),
    };
    Ok(Fetched {
        revision: Some(revision),
        tree,
        duration: Some(started.elapsed()),
        verified,
    })
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
fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, Error> {
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
