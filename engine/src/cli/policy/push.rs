//! `plumbline policy push FILE.wasm oci://host/repo:tag`: publish a built
//! component as an OCI artifact in the CNCF Wasm layout; prints the digest
//! to pin it by.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::print_structured;
use crate::cli::output::outln;
use crate::cli::registry::{self, RegistryArgs};
use crate::cli::Global;
use crate::oci;

/// Arguments of `policy push`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline policy push target/required-labels.wasm oci://ghcr.io/acme/policies/required-labels:v1.2.0
  plumbline policy push labels.wasm oci://127.0.0.1:5000/labels:dev --insecure

Prints the manifest digest: reference the policy by it
(module: oci://host/repo@sha256:...) to pin exactly what was pushed.")]
pub struct PushArgs {
    /// The component file (`.wasm`).
    pub component: PathBuf,
    /// Where to push: oci://host/repository:tag.
    pub reference: String,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What `policy push` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    reference: String,
    digest: String,
    pinned: String,
}

/// Push the component and print its digest.
pub fn run(args: PushArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let reference = registry::parse(&args.reference)?;
    let component = std::fs::read(&args.component)
        .with_context(|| format!("cannot read {}", args.component.display()))?;
    let options = args.registry.options(&reference)?;
    let digest = registry::block_on(oci::policy::push_policy(&reference, component, &options))?;
    let report = Report {
        pinned: reference.pinned(&digest).to_string(),
        reference: reference.to_string(),
        digest,
    };
    if !print_structured(global, &report)? {
        outln!("pushed {}", report.reference);
        outln!("digest: {}", report.digest);
    }
    Ok(ExitCode::SUCCESS)
}
