//! What the controller and fleet benchmarks read of a controller running in
//! their process: its memory, its reconcile histogram, and waits on both
//! (each with the benchmark's patience, a guard against a hung bench).
//! Included with `#[path]` by the benchmarks that use it.

use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use plumbline::controller::crd::SyncUnit;
use plumbline::controller::metrics::Metrics;
use plumbline::controller::reconciler::is_ready;

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
