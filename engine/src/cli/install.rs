//! `plumbline install`: install the controller, or print its manifests.
//!
//! The manifests come from [`crate::controller::install`]; with `--print`
//! they go to stdout as YAML (`examples/deploy/plumbline.yaml` is that
//! output), otherwise they are server-side applied to the cluster in order.

use std::process::ExitCode;

use super::output::{out, outln};
use super::sync::{flat, runtime, ClusterArgs};
use super::{Global, OutputFormat};
use crate::apply;
use crate::controller::install::{self, Options};
use crate::controller::target_install;

/// Arguments of `plumbline install`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline install --print > plumbline.yaml           # review, then kubectl apply -f plumbline.yaml
  plumbline install --context kind-dev                 # apply to the cluster
  plumbline install --print --shards 3 --replicas 2    # 3 hash shards, a standby for each
  plumbline install --print --webhook                  # serve POST /hooks/git (Secret plumbline-webhook)
  plumbline install --no-wildcard-apply                # no write-everything role: every SyncUnit names a serviceAccountName
  plumbline install --target --context prod-eu         # a target cluster for a controller elsewhere (docs/clusters.md)

Exit codes: 0 printed or installed, 2 error (nothing after the failing
object is applied).")]
pub struct Args {
    /// Print the manifests instead of applying them.
    #[arg(long)]
    print: bool,
    /// The controller's namespace.
    #[arg(long, default_value = "plumbline-system")]
    namespace: String,
    /// The controller image (default: this version's release image).
    #[arg(long)]
    image: Option<String>,
    /// Hash shards: one Deployment (and Lease) per shard.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    shards: u32,
    /// Pods per shard; one leads, the others stand by.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    replicas: u32,
    /// Serve the Git push webhook with the secret in the Secret
    /// `plumbline-webhook` (key `secret`), which must exist.
    #[arg(long)]
    webhook: bool,
    /// Leave out the ClusterRole `plumbline-apply` (every verb on every
    /// resource, bound to the controller); every SyncUnit must then name a
    /// `serviceAccountName` with the rights its objects need.
    #[arg(long)]
    no_wildcard_apply: bool,
    /// Install what a target cluster needs for a controller in another
    /// cluster (a service account, its token Secret and least-privilege
    /// roles) instead of the controller.
    #[arg(long)]
    target: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// `plumbline install`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let defaults = Options::default();
    let options = Options {
        namespace: args.namespace,
        image: args.image.unwrap_or(defaults.image),
        shards: args.shards,
        replicas: args.replicas,
        webhook: args.webhook,
        wildcard_apply: !args.no_wildcard_apply,
    };
    let objects = if args.target {
        target_install::manifests(&options.namespace, options.wildcard_apply)
    } else {
        install::manifests(&options)
    };
    if args.print {
        match global.output {
            OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&objects)?),
            OutputFormat::Human | OutputFormat::Yaml => out!("{}", install::to_yaml(&objects)),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let apply_options = apply::Options {
        field_manager: install::FIELD_MANAGER.into(),
        ..apply::Options::default()
    };
    runtime()?.block_on(async {
        let cluster = args.cluster.connect(apply_options).await?;
        let installed = install::apply(&cluster, &objects).await.map_err(flat)?;
        for object in installed {
            outln!("applied {object}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
