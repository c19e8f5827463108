//! What every command that talks to an OCI registry shares: `--insecure`,
//! `--registry-config`, and turning them into [`oci::Options`] for one
//! reference (credentials from the docker `config.json`).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::oci::{self, ArtifactRef};
use crate::reconcile::SyncUnit;

/// Registry access options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP to the registry instead of HTTPS (a registry on
    /// loopback or in a lab; never by default).
    #[arg(long)]
    pub insecure: bool,
    /// A docker config.json to take registry credentials from (default:
    /// $DOCKER_CONFIG/config.json, then ~/.docker/config.json; what
    /// `docker login` and `oras login` write).
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
}

impl RegistryArgs {
    /// The options to reach `reference`'s registry with.
    pub fn options(&self, reference: &ArtifactRef) -> anyhow::Result<oci::Options> {
        let auth = match &self.registry_config {
            Some(file) => {
                let json = std::fs::read(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                oci::credentials::from_docker_config(&json, &reference.registry)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
            }
            None => oci::credentials::from_user_config(&reference.registry)
                .map_err(anyhow::Error::msg)?,
        };
        Ok(oci::Options {
            auth,
            insecure: self.insecure,
            ..oci::Options::default()
        })
    }
}

/// Parse an `oci://` reference given on the command line.
pub fn parse(text: &str) -> anyhow::Result<ArtifactRef> {
    text.parse()
        .map_err(|e: oci::ParseError| anyhow::anyhow!(e))
}

/// Run one registry operation on a fresh runtime (the commands that use
/// it have none of their own).
pub fn block_on<T>(
    operation: impl std::future::Future<Output = oci::Result<T>>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(operation).map_err(super::sync::flat)
}

/// An `oci://` policy module and the digest its reference resolved to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResolvedModule {
    /// The policy's name.
    pub policy: String,
    /// The reference as configured.
    pub reference: String,
    /// The manifest digest it resolved to (what ran).
    pub digest: String,
    /// The signature verified (the policy's `verify`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<crate::source::Verified>,
}

/// Pull the sync's `oci://` policy modules into the cache (a tag resolved
/// to a digest once, here; a digest already pulled is not pulled again)
/// and point each policy at its cached component, named after its
/// repository unless it has a name. A policy with `verify` is pulled only
/// once a trusted key's cosign signature of its digest is verified.
/// Returns what each resolved to.
pub fn pull_policy_modules(unit: &mut SyncUnit) -> anyhow::Result<Vec<ResolvedModule>> {
    let dir = super::sync::cache_root().join("oci").join("policies");
    let mut resolved = Vec::new();
    let base_dir = unit.base_dir.clone();
    for policy in &mut unit.config.spec.policies {
        let text = policy.module.to_string_lossy().into_owned();
        let named = || format!("policy {}", policy.name.as_deref().unwrap_or(&text));
        if !oci::is_oci(&text) {
            continue;
        }
        let reference = parse(&text).with_context(named)?;
        let verification = match &policy.verify {
            Some(verify) => Some(
                verify
                    .read(|path| base_dir.join(path))
                    .map_err(|message| anyhow::anyhow!("{}: verify: {message}", named()))?,
            ),
            None => None,
        };
        let keys = match &verification {
            Some(verification) => Some(
                crate::spec::artifact_keys(verification)
                    .map_err(|message| anyhow::anyhow!("{}: verify: {message}", named()))?,
            ),
            None => None,
        };
        let access = RegistryArgs {
            insecure: policy.insecure,
            registry_config: None,
        };
        let options = access.options(&reference)?;
        let pulled = block_on(oci::policy::pull_cached(&reference, &options, &dir, keys))?;
        if policy.name.is_none() {
            let last = reference.repository.rsplit('/').next().unwrap_or("policy");
            policy.name = Some(last.to_owned());
        }
        tracing::info!(
            policy = policy.name.as_deref().unwrap_or_default(),
            reference = %reference,
            digest = %pulled.digest,
            cached = pulled.cached,
            "policy module resolved"
        );
        resolved.push(ResolvedModule {
            policy: policy.name.clone().unwrap_or_default(),
            reference: reference.to_string(),
            digest: pulled.digest,
            verified: pulled.verified,
        });
        policy.module = pulled.component;
    }
    Ok(resolved)
}
