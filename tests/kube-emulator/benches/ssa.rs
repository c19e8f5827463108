//! Server-side apply throughput: a parallel `kube::Client` applies Deployments to the emulator
//! over HTTP and the bench prints requests per second. Run with `cargo bench -p kube-emulator`.
//! The loops are bounded by request count; nothing leaves 127.0.0.1.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube_emulator::Emulator;
use serde_json::{json, Value};

const OBJECTS: usize = 200;
const REQUESTS: usize = 30_000;
const CONCURRENCY: usize = 64;

fn deployment(i: usize, generation: usize) -> Value {
    let name = format!("web-{i}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}, "annotations": {"bench/generation": generation.to_string()}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "registry/app:1.2",
                                                       "ports": [{"containerPort": 8080}],
                                                       "env": [{"name": "MODE", "value": "bench"}],
                                                       "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}
    })
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs `REQUESTS` applies from `CONCURRENCY` tasks; `changing` makes every apply a write.
/// Returns wall-clock req/s and req/s per CPU-second used by the process.
async fn run(api: Arc<Api<Deployment>>, changing: bool, round: usize) -> (f64, Option<f64>) {
    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let mut tasks = Vec::new();
    for t in 0..CONCURRENCY {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let params = PatchParams::apply("bench");
            let mut n = t;
            while n < REQUESTS {
                let i = n % OBJECTS;
                let generation = if changing { round * REQUESTS + n } else { 0 };
                let body = deployment(i, generation);
                api.patch(&format!("web-{i}"), &params, &Patch::Apply(&body))
                    .await
                    .expect("apply succeeds");
                n += CONCURRENCY;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task completes");
    }
    let wall = REQUESTS as f64 / started.elapsed().as_secs_f64();
    let per_cpu = cpu_start
        .zip(cpu_seconds())
        .map(|(a, b)| REQUESTS as f64 / (b - a));
    (wall, per_cpu)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let emulator = Emulator::start().await.expect("emulator starts");
        let api = Arc::new(Api::<Deployment>::namespaced(emulator.client().expect("client"), "default"));
        // Warm-up: create the objects.
        for i in 0..OBJECTS {
            api.patch(&format!("web-{i}"), &PatchParams::apply("bench"), &Patch::Apply(&deployment(i, 0))).await.expect("create");
        }
        let unchanged = run(api.clone(), false, 0).await;
        let changed = run(api.clone(), true, 1).await;
        let counts = emulator.requests();
        for (name, (wall, per_cpu)) in [("no-change", unchanged), ("changing", changed)] {
            let per_cpu = per_cpu.map(|c| format!("{c:.0} req per CPU-second of client+server")).unwrap_or_default();
            println!("ssa/{name:<10} {REQUESTS} applies, {CONCURRENCY} in flight, {OBJECTS} Deployments: {wall:>6.0} req/s wall ({per_cpu})");
        }
        println!("requests seen by the emulator: apply={} (resourceVersion now {})", counts.apply, emulator.resource_version());
    });
}
