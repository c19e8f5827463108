//! `plumbline controller`: run the in-cluster controller. Parses the flags
//! and calls [`crate::controller::process::run`] until SIGTERM or Ctrl+C;
//! exits 0 after a graceful shutdown, 1 when leadership was lost (the pod
//! restarts as a follower), 2 when it could not start.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::sync::runtime;
use super::Global;
use crate::controller::process::{self, Exit, ProcessOptions};
use crate::controller::shard::Shard;

/// Arguments of `plumbline controller`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline controller                                  # in a pod: everything from the environment
  plumbline controller --kubeconfig ~/.kube/config --context kind-dev --cache-dir /tmp/plumbline
  plumbline controller --leader-elect --shard hash:0/2  # replica 0 of a 2-way hash split

Exit codes: 0 after a graceful shutdown (SIGTERM, Ctrl+C), 1 when leadership
was lost, 2 when it could not start (or leader election ended before it led).")]
pub struct Args {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the
    /// in-cluster service account).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long)]
    context: Option<String>,
    /// The controller's namespace: inventories and the leader Lease live
    /// there.
    #[arg(long, env = "POD_NAMESPACE", default_value = "plumbline-system")]
    namespace: String,
    /// This replica's name, in Events and the Lease (default: the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Git cache, compiled policies, downloaded modules, credential files.
    #[arg(long, default_value = "/var/cache/plumbline")]
    cache_dir: PathBuf,
    /// Address of `/healthz`, `/readyz`, `/metrics` and `/hooks/git`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: String,
    /// File with the Git webhook's shared secret; without it, `/hooks/git`
    /// answers 404.
    #[arg(long, env = "PLUMBLINE_WEBHOOK_SECRET_FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// Which SyncUnits this replica reconciles: `all`, `hash:INDEX/COUNT`
    /// or `label:KEY=VALUE`.
    #[arg(long, default_value = "all")]
    shard: Shard,
    /// Take part in leader election (a Lease); reconcile only while leading.
    #[arg(long)]
    leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "plumbline-controller")]
    lease_name: String,
    /// SyncUnits reconciled at once.
    #[arg(long, default_value_t = 4)]
    concurrency: u16,
    /// Accept `file://` URLs and local paths in SyncUnits (sources and
    /// policy modules). Only for tests: such a URL reads the controller's
    /// own files, other tenants' cached repositories included.
    #[arg(long)]
    allow_file_urls: bool,
    /// Seconds to let reconciles in flight finish after SIGTERM (keep it
    /// below the pod's terminationGracePeriodSeconds).
    #[arg(long, default_value_t = 25)]
    shutdown_timeout: u64,
}

/// Run the controller until SIGTERM or Ctrl+C ([`process::run`]).
pub fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    let options = ProcessOptions {
        kubeconfig: args.kubeconfig,
        context: args.context,
        namespace: args.namespace,
        identity: args.identity,
        cache_dir: args.cache_dir,
        listen: args.listen,
        webhook_secret_file: args.webhook_secret_file,
        shard: args.shard,
        leader_elect: args.leader_elect,
        lease_name: args.lease_name,
        concurrency: args.concurrency,
        allow_file_urls: args.allow_file_urls,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
    };
    let shutdown = async {
        let signal = super::interrupt::signalled().await;
        tracing::info!(signal, "signal received");
    };
    let exit = runtime()?.block_on(process::run(options, shutdown))?;
    Ok(match exit {
        Exit::Stopped => ExitCode::SUCCESS,
        Exit::LeadershipLost => ExitCode::from(1),
        Exit::NeverLed => ExitCode::from(2),
    })
}
