//! `plumbline push DIR oci://host/repo:tag`: publish a directory of
//! manifests as an OCI artifact in Flux's layout (a deterministic tar+gzip
//! of its files), so CI can ship what it rendered and a sync with an
//! `oci://` source can apply it. Prints the digest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::output::outln;
use super::registry::{self, RegistryArgs};
use super::{Global, OutputFormat};
use crate::oci;
use crate::source::{self, Limits};

/// Arguments of `push`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline push deploy oci://ghcr.io/acme/shop-manifests:v1.4.0 --source https://git.example.com/shop.git --revision v1.4.0@sha1:4e69cc

Every file under DIR is packed (.git skipped), symlinks resolved as a Git
source would; the same files give the same digest.")]
pub struct Args {
    /// The directory of manifests (kustomizations included).
    pub dir: PathBuf,
    /// Where to push: oci://host/repository:tag.
    pub reference: String,
    /// Where the manifests come from (annotation
    /// org.opencontainers.image.source), e.g. the Git URL.
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// Which revision they are (annotation
    /// org.opencontainers.image.revision), e.g. `main@sha1:<commit>`.
    #[arg(long, value_name = "REVISION")]
    pub revision: Option<String>,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What `push` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    reference: String,
    digest: String,
    files: usize,
}

/// Pack the directory, push it and print the digest.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let reference = registry::parse(&args.reference)?;
    let tree = source::read_local_dir(&args.dir, &Limits::default()).map_err(super::sync::flat)?;
    if tree.is_empty() {
        anyhow::bail!("{}: no files to push", args.dir.display());
    }
    let mut annotations = BTreeMap::new();
    if let Some(source) = args.source {
        annotations.insert("org.opencontainers.image.source".to_owned(), source);
    }
    if let Some(revision) = args.revision {
        annotations.insert("org.opencontainers.image.revision".to_owned(), revision);
    }
    let options = args.registry.options(&reference)?;
    let digest = registry::block_on(oci::bundle::push_manifests(
        &reference,
        &tree,
        annotations,
        &options,
    ))?;
    let report = Report {
        reference: reference.to_string(),
        digest,
        files: tree.len(),
    };
    match global.output {
        OutputFormat::Human => {
            outln!("pushed {} ({} files)", report.reference, report.files);
            outln!("digest: {}", report.digest);
        }
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => outln!("{}", serde_yaml::to_string(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}
