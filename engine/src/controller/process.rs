//! The controller's process: what `plumbline controller` runs, as a
//! library function the CLI calls ([`run`]).
//!
//! Connects like `kubectl` (in the cluster: the pod's service account),
//! serves `/healthz`, `/readyz`, `/metrics` and the Git webhook, optionally
//! takes part in leader election, and reconciles SyncUnits until `shutdown`
//! completes; then it finishes the reconciles in flight and returns
//! [`Exit::Stopped`]. Losing leadership returns [`Exit::LeadershipLost`]
//! (the pod should restart as a follower), after giving the reconciles in
//! flight only as long as no other replica can take the Lease yet (lease
//! duration minus renew deadline), so that two replicas never reconcile at
//! once.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::http::{self, Webhook};
use super::leader::{self, Elector};
use super::metrics::Metrics;
use super::runner::{Controller, Options};
use super::shard::Shard;
use super::sync_unit::Access;
use crate::policy::{HostConfig, PolicyHost};

/// How the controller process runs (the flags of `plumbline controller`).
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// Kubeconfig file; `None` finds it as `kubectl` does.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    pub context: Option<String>,
    /// The controller's namespace: inventories and the Lease.
    pub namespace: String,
    /// This replica's name in the Lease and Events (default: the host name).
    pub identity: Option<String>,
    /// Git cache, compiled policies, downloaded modules, credential files.
    pub cache_dir: PathBuf,
    /// Address of the HTTP server (probes, metrics, webhook).
    pub listen: String,
    /// File holding the Git webhook's HMAC secret; `None`: no webhook.
    pub webhook_secret_file: Option<PathBuf>,
    /// Which SyncUnits this replica reconciles.
    pub shard: Shard,
    /// Take part in leader election (else this replica always leads).
    pub leader_elect: bool,
    /// The Lease's name.
    pub lease_name: String,
    /// SyncUnits reconciled at once.
    pub concurrency: u16,
    /// Accept `file://` URLs and local paths (tests).
    pub allow_file_urls: bool,
    /// How long reconciles in flight get after a shutdown request.
    pub shutdown_timeout: Duration,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Shut down gracefully after `shutdown` completed.
    Stopped,
    /// Leadership was lost: restart as a follower.
    LeadershipLost,
    /// Leader election ended before this replica led.
    NeverLed,
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No client configuration.
    #[error(transparent)]
    Connect(#[from] crate::apply::Error),
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The webhook secret could not be read.
    #[error("reading the webhook secret {}", path.display())]
    WebhookSecret {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server could not listen.
    #[error(transparent)]
    Http(#[from] http::Error),
    /// The policy host could not start.
    #[error("starting the policy host: {0}")]
    PolicyHost(#[source] crate::policy::Error),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Run the controller until `shutdown` completes or leadership is lost.
pub async fn run(
    options: ProcessOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Exit> {
    let args = options;
    let config =
        crate::apply::client_config(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let client = kube::Client::try_from(config.clone()).map_err(Error::Client)?;
    let identity = args.identity.clone().unwrap_or_else(host_name);

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested");
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
                .map_err(|source| Error::WebhookSecret {
                    path: path.clone(),
                    source,
                })?
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
    let shutdown_grace = args.shutdown_timeout;
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
    let listener = http::bind(&args.listen).await?;
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
            return Ok(Exit::Stopped);
        }
        led = waiting.wait_for(|leads| *leads) => if led.is_err() {
            if *stop_rx.borrow() {
                return Ok(Exit::Stopped);
            }
            tracing::error!("leader election stopped before this replica led; exiting");
            return Ok(Exit::NeverLed);
        }
    }
    tracing::info!(%identity, shard = %args.shard, "reconciling SyncUnits");

    let host = PolicyHost::new(HostConfig {
        cache_dir: Some(args.cache_dir.join("policies")),
        ..HostConfig::default()
    })
    .map_err(Error::PolicyHost)?;
    let mut options = Options::new(host, args.cache_dir.clone(), metrics);
    options.config = Some(config);
    options.inventory_namespace.clone_from(&args.namespace);
    options.shard = args.shard.clone();
    options.instance = Some(identity);
    options.concurrency = args.concurrency;
    options.access = Access::new(args.allow_file_urls);

    // Stop reconciling on shutdown, or when leadership is lost (or the
    // elector is gone, so leadership is unknown).
    let (stop, mut lost) = (stop_rx.clone(), leading.clone());
    let controller = Controller::new(client, options)
        .with_webhook(pushes_rx)
        .run(async move {
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
        return Ok(Exit::LeadershipLost);
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    released(elector).await;
    Ok(Exit::Stopped)
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "plumbline".into())
}
