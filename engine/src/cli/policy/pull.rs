//! `plumbline policy pull oci://…`: fetch a policy artifact (CNCF Wasm,
//! Kubewarden or `vnd.module.wasm` layout), verify its digests, and write
//! the component to a file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::print_structured;
use crate::cli::output::outln;
use crate::cli::registry::{self, RegistryArgs};
use crate::cli::Global;
use crate::oci;

/// Arguments of `policy pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// What to pull: oci://host/repository:tag or @sha256:<digest>.
    pub reference: String,
    /// Where to write the component (default: the repository's last path
    /// segment with `.wasm`, in the current directory).
    #[arg(short = 'O', long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What `policy pull` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    reference: String,
    digest: String,
    component_digest: String,
    file: PathBuf,
    size: u64,
}

/// Pull the policy and write its component.
pub fn run(args: PullArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let reference = registry::parse(&args.reference)?;
    let options = args.registry.options(&reference)?;
    let pulled = registry::block_on(oci::policy::pull_policy(&reference, &options))?;
    let file = args.output_file.unwrap_or_else(|| {
        let last = reference.repository.rsplit('/').next().unwrap_or("policy");
        PathBuf::from(format!("{last}.wasm"))
    });
    std::fs::write(&file, &pulled.component)
        .with_context(|| format!("cannot write {}", file.display()))?;
    let report = Report {
        reference: pulled.artifact.reference.to_string(),
        digest: pulled.artifact.digest.clone(),
        component_digest: pulled.component_digest().to_owned(),
        file,
        size: pulled.component.len() as u64,
    };
    if !print_structured(global, &report)? {
        outln!("pulled {}", report.reference);
        outln!("digest: {}", report.digest);
        outln!("wrote {} ({} bytes)", report.file.display(), report.size);
    }
    Ok(ExitCode::SUCCESS)
}
