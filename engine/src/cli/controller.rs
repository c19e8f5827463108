//! `plumbline controller`: run the in-cluster controller.
//!
//! Connects like `kubectl` (in the cluster: the pod's service account),
//! serves `/healthz`, `/readyz`, `/metrics` and the Git webhook, optionally
//! takes part in leader election, and reconciles SyncUnits until SIGTERM or
//! Ctrl+C; then it finishes the reconciles in flight and exits 0. Losing
//! leadership exits 1 so that the pod restarts as a follower, after giving
//! the reconciles in flight only as long as no other replica can take the
//! Lease yet (lease duration minus renew deadline), so that two replicas
//! never reconcile at once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use super::sync::{flat, runtime};
use super::Global;
use crate::controller::http::{self, Webhook};
use crate::controller::leader::{self, Elector};
use crate::controller::metrics::Metrics;
use crate::controller::runner::{Controller, Options};
use crate::controller::shard::Shard;
use crate::controller::sync_unit::Access;
use crate::policy::{HostConfig, PolicyHost};

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

/// Run the controller until it is told to stop.
pub fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let config =
        crate::apply::client_config(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let client = kube::Client::try_from(config.clone()).map_err(flat)?;
    let identity = args.identity.clone().unwrap_or_else(host_name);

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let signal = super::interrupt::signalled().await;
        tracing::info!(signal, "shutdown requested");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let metrics = Arc::new(Metrics::new());
    let (pushes_tx, pushes_rx) = mpsc::channel(64);
    let webhook = match &args.webhook_secret_file {
        Some(path) => Some(Webhook {
            secret: std::fs::read(path)
                .with_context(|| format!("reading the webhook secret {}", path.display()))?
                .trim_ascii()
                .to_vec(),
            pushes: pushes_tx,
        }),
        None => None,
    };

    // Without election this replica always leads; the sender is kept so
    // the channel stays open.
    // The elector's task is awaited before exiting: on shutdown it
    // releases the Lease, so a standby takes over at once.
    // After losing the Lease, no other replica can take it for the lease
    // duration minus the renew deadline: reconciles in flight get that
    // long, not the shutdown timeout.
    let shutdown_grace = Duration::from_secs(args.shutdown_timeout);
    let (leading, _always_leading, elector, loss_grace) = if args.leader_elect {
        let options = leader::Options::new(&args.namespace, &args.lease_name, &identity);
        let loss_grace = options
            .lease_duration
            .saturating_sub(options.renew_deadline)
            .min(shutdown_grace);
        let (leading, task) = Elector::new(client.clone(), options).spawn(stopped(stop_rx.clone()));
        (leading, None, Some(task), loss_grace)
    } else {
        let (sender, leading) = watch::channel(true);
        (leading, Some(sender), None, shutdown_grace)
    };
    let released = |elector: Option<tokio::task::JoinHandle<()>>| async move {
        if let Some(task) = elector {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    };
    let mut gauge = leading.clone();
    let leader_metric = Arc::clone(&metrics);
    tokio::spawn(async move {
        loop {
            let leads = *gauge.borrow_and_update();
            leader_metric.set_leader(leads);
            if gauge.changed().await.is_err() {
                break;
            }
        }
    });
    let listener = http::bind(&args.listen).await.map_err(flat)?;
    let state = http::State {
        metrics: Arc::clone(&metrics),
        ready: leading.clone(),
        webhook,
    };
    let server = tokio::spawn(http::serve(listener, state, stopped(stop_rx.clone())));

    // Wait to lead (or to be told to stop first). The elector only ends
    // after a shutdown request; if it is gone otherwise, whether this
    // replica leads is unknown, so it must not reconcile.
    let mut waiting = leading.clone();
    let mut stop_wait = stop_rx.clone();
    tokio::select! {
        biased;
        _ = stop_wait.wait_for(|stop| *stop) => {
            released(elector).await;
            return Ok(ExitCode::SUCCESS);
        }
        led = waiting.wait_for(|leads| *leads) => if led.is_err() {
            if *stop_rx.borrow() {
                return Ok(ExitCode::SUCCESS);
            }
            tracing::error!("leader election stopped before this replica led; exiting");
            return Ok(ExitCode::from(2));
        }
    }
    tracing::info!(%identity, shard = %args.shard, "reconciling SyncUnits");

    let host = PolicyHost::new(HostConfig {
        cache_dir: Some(args.cache_dir.join("policies")),
        ..HostConfig::default()
    })
    .map_err(flat)?;
    let mut options = Options::new(host, args.cache_dir.clone(), metrics);
    options.config = Some(config);
    options.inventory_namespace.clone_from(&args.namespace);
    options.shard = args.shard.clone();
    options.webhook = Some(pushes_rx);
    options.instance = Some(identity);
    options.concurrency = args.concurrency;
    options.access = Access::new(args.allow_file_urls);

    // Stop reconciling on shutdown, or when leadership is lost (or the
    // elector is gone, so leadership is unknown).
    let (stop, mut lost) = (stop_rx.clone(), leading.clone());
    let controller = Controller::new(client, options).run(async move {
        let mut stop = stop;
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {}
            _ = lost.wait_for(|leads| !*leads) => {}
        }
    });
    // A graceful shutdown waits for the reconciles in flight, and
    // kube-runtime first waits for its cache of SyncUnits to fill: with the
    // API server unreachable that never happens, so give up after a while.
    let mut deadline = stop_rx.clone();
    let mut lost = leading.clone();
    tokio::select! {
        () = controller => {}
        () = async {
            let grace = tokio::select! {
                biased;
                _ = deadline.wait_for(|s| *s) => shutdown_grace,
                _ = lost.wait_for(|leads| !*leads) => loss_grace,
            };
            tokio::time::sleep(grace).await;
            tracing::warn!(?grace, "reconciles still running at the deadline; exiting anyway");
        } => {}
    }
    // Without a shutdown request, only a lost leadership stops the
    // controller.
    if !*stop_rx.borrow() {
        tracing::error!("leadership lost; exiting so that another replica takes over");
        return Ok(ExitCode::from(1));
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    released(elector).await;
    Ok(ExitCode::SUCCESS)
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "plumbline".into())
}
