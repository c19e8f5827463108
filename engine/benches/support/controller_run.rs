//! The controller the controller and fleet benchmarks run in their process:
//! its CRDs, how it is started and stopped, Git push rounds, and what they
//! read of it (memory, its reconcile histogram, waits on both, each with
//! the benchmark's patience, a guard against a hung bench). Included with
//! `#[path]` by the benchmarks that use it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::CustomResourceExt;
use plumbline::controller::crd::{ClusterSyncPolicy, SyncUnit};
use plumbline::controller::metrics::Metrics;
use plumbline::controller::reconciler::is_ready;
use plumbline::controller::runner::{Controller, Options};
use plumbline::controller::sync_unit::Access;
use plumbline::controller::webhook::GitPush;
use plumbline::policy::{HostConfig, PolicyHost};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Apply the CRDs the controller serves and wait until each is Established
/// (a real server serves it only then).
pub async fn install_crds(client: &kube::Client, patience: Duration) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [
        serde_json::to_value(SyncUnit::crd()).unwrap(),
        serde_json::to_value(ClusterSyncPolicy::crd()).unwrap(),
    ] {
        let name = crd["metadata"]["name"].as_str().unwrap().to_owned();
        crds.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&crd))
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            let crd = crds.get(&name).await.unwrap();
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                break;
            }
            assert!(started.elapsed() < patience, "CRD {name} never Established");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The controller's options: policies compiled by the `plumbline` binary,
/// its caches under `scratch`, `config` for its clients, and `file://`
/// repositories allowed (the benchmark's repository is a local directory).
pub fn options(scratch: &Path, config: kube::Config, metrics: &Arc<Metrics>) -> Options {
    let host = PolicyHost::new(HostConfig {
        cache_dir: Some(scratch.join("policies")),
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .unwrap();
    let mut options = Options::new(host, scratch.join("cache"), Arc::clone(metrics));
    options.config = Some(config);
    options.access = Access::new(true);
    options
}

/// The controller running on a task of this process, with a Git push
/// webhook.
pub struct Running {
    pushes: mpsc::Sender<GitPush>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Start the controller with `client` and `options`.
    pub fn start(client: kube::Client, options: Options) -> Self {
        let (pushes, pushes_rx) = mpsc::channel(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            Controller::new(client, options)
                .with_webhook(pushes_rx)
                .run(async move {
                    let _ = stopped.await;
                }),
        );
        Running { pushes, stop, task }
    }

    /// A no-change round: a Git push of repository `url`'s `main` to the
    /// webhook, until `count` synced reconciles have happened. Returns its
    /// wall time, the reconciles and their mean duration in milliseconds.
    pub async fn push_round(
        &self,
        url: &str,
        metrics: &Metrics,
        count: u64,
        patience: Duration,
    ) -> (Duration, u64, f64) {
        let (count0, sum0) = reconciles(metrics);
        let started = Instant::now();
        self.pushes
            .send(GitPush {
                urls: vec![url.to_owned()],
                reference: "refs/heads/main".into(),
                after: None,
            })
            .await
            .unwrap();
        wait_reconciles(metrics, count0, count, patience).await;
        let wall = started.elapsed();
        let (count1, sum1) = reconciles(metrics);
        let done = count1 - count0;
        (wall, done, (sum1 - sum0) / done.max(1) as f64 * 1000.0)
    }

    /// Stop the controller gracefully and wait until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// Resident and peak resident memory of this process, in MiB.
pub fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The value of a metric line `name` (exact, labels included).
pub fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `(count, sum)` of synced reconciles from the controller's histogram.
pub fn reconciles(metrics: &Metrics) -> (u64, f64) {
    (
        metric(
            metrics,
            "plumbline_reconcile_duration_seconds_count{result=\"synced\"}",
        ) as u64,
        metric(
            metrics,
            "plumbline_reconcile_duration_seconds_sum{result=\"synced\"}",
        ),
    )
}

/// Failed reconciles so far, from the controller's histogram.
pub fn failures(metrics: &Metrics) -> u64 {
    metric(
        metrics,
        "plumbline_reconcile_duration_seconds_count{result=\"failed\"}",
    ) as u64
}

/// Wait until `count` synced reconciles have happened since `from`.
pub async fn wait_reconciles(metrics: &Metrics, from: u64, count: u64, patience: Duration) {
    let started = Instant::now();
    while reconciles(metrics).0 < from + count {
        assert!(started.elapsed() < patience, "reconciles never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Let triggers from the previous phase run out: no new reconcile for 2 s.
pub async fn settle(metrics: &Metrics) {
    let mut last = reconciles(metrics).0;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = reconciles(metrics).0;
        if now == last {
            return;
        }
        last = now;
    }
}

/// Wait until there are `count` SyncUnits, all Ready.
pub async fn wait_all_ready(units: &Api<SyncUnit>, count: usize, patience: Duration) {
    let started = Instant::now();
    loop {
        let list = units.list(&ListParams::default()).await.unwrap();
        if list.items.len() == count && list.items.iter().all(is_ready) {
            return;
        }
        assert!(started.elapsed() < patience, "SyncUnits never all Ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `p` quantile (0 to 1) of `sorted`, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Drift: ConfigMap `name` edited by another field manager (`kubectl-edit`
/// sets `data.mode` to `drifted`); waits until the controller has put
/// `mode: fast` back, and returns how long that took. `what` names the
/// object if it never is.
pub async fn drift_until_repaired(
    api: &Api<ConfigMap>,
    name: &str,
    what: &str,
    patience: Duration,
) -> Duration {
    let started = Instant::now();
    api.patch(
        name,
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        },
        &Patch::Merge(json!({"data": {"mode": "drifted"}})),
    )
    .await
    .unwrap();
    loop {
        let live = api.get(name).await.unwrap();
        let mode = live.data.as_ref().and_then(|d| d.get("mode"));
        if mode.map(String::as_str) == Some("fast") {
            return started.elapsed();
        }
        assert!(started.elapsed() < patience, "{what} was never repaired");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
