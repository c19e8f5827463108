//! `plumbline render`: the objects a sync would apply, after rendering and
//! transformers, as YAML or JSON. Reads the source and builds policies (IO).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use super::output::{self, out, outln};
use super::sync::{self, SourceArgs};
use super::{Global, OutputFormat};
use crate::reconcile::desired::{self, Depth};

/// Arguments of `plumbline render`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline render examples/quickstart                 # plumbline.yaml in the directory
  plumbline render ./manifests                         # plain manifests, no policies
  plumbline render https://git.example.com/shop.git --ref v1.2.0 --path deploy
  plumbline render . --ref main -o json | jq '.[].metadata.name'

Prints multi-document YAML (default) or, with -o json, one JSON list.
Exit codes: 0 rendered, 2 error (fetch, render or policy).")]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
}

/// `plumbline render`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let unit = sync::load_unit(&args.source)?;
    let host = sync::policy_host()?;
    let policies = sync::load_policies(&host, &unit, &[])?;
    let interrupt = AtomicBool::new(false);
    let desired = desired::load(
        &unit,
        &policies,
        &sync::git_cache(),
        Depth::Transformed,
        &interrupt,
    )
    .map_err(|e| sync::desired_error(&args.source, e))?;
    match global.output {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&desired.objects)?),
        OutputFormat::Human | OutputFormat::Yaml => {
            for object in &desired.objects {
                out!("---\n{}", serde_yaml::to_string(object)?);
            }
        }
    }
    for warning in &desired.warnings {
        tracing::warn!("{warning}");
    }
    // Standard output holds only the objects; what transformers added,
    // removed or moved goes to standard error.
    for line in output::transformer_changes(&desired.transformer_changes) {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
