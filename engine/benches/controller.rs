//! Controller benchmark (harness = false; prints numbers).
//!
//! Two shapes of 10,000 ConfigMaps from one real Git repository, each
//! reconciled by the real controller ([`Controller::run`]) against a fresh
//! real kube-apiserver v1.36 + etcd (`tests/control-plane`), or, where no
//! control-plane binaries exist, the Kubernetes API emulation in a child
//! process (this same binary, started with `PLUMBLINE_BENCH_EMULATOR=1`):
//!
//! - **one SyncUnit of 10,000 objects** (the large unit);
//! - **100 SyncUnits of 100 objects** (many small ones).
//!
//! Either way the server is another process, so the resident memory printed
//! is the controller's alone. Before each shape, the **floor**: the same
//! objects sent as server-side apply patches from 16 parallel connections
//! to that server, with no client work at all.
//!
//! Phases, each printed with its wall time:
//! 1. cold: every SyncUnit created at once; until all are Ready;
//! 2. no-change rounds: a Git push webhook for the repository triggers
//!    every SyncUnit; ten rounds, RSS after each (is memory flat?);
//! 3. drift: a ConfigMap edited by another field manager, timed until the
//!    controller has put it back (drift watch → repair of that object), 20
//!    times, RSS after.
//!
//! Per-reconcile latencies come from the controller's own
//! `plumbline_reconcile_duration_seconds` histogram (sum / count).
//! Run with `cargo bench -p plumbline --bench controller`.

#[path = "support/controller_run.rs"]
mod controller_run;
mod support;

/// The allocator of the `plumbline` binary, so the controller measured here
/// runs as it ships.
#[global_allocator]
static ALLOCATOR: plumbline::allocator::Allocator = plumbline::allocator::Allocator;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use controller_run::{
    drift_until_repaired, failures, install_crds, memory, percentile, reconciles, settle,
    wait_all_ready, Running,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use plumbline::controller::crd::SyncUnit;
use plumbline::controller::metrics::Metrics;
use serde_json::json;
use support::git;

const PER_FILE: usize = 10;
/// The floor's parallel connections: Plumbline's default apply concurrency.
const CONCURRENCY: usize = 16;
const NAMESPACES: usize = 10;
const ROUNDS: usize = 10;
const DRIFTS: usize = 20;
/// A guard against a hung bench, not a measurement.
const PATIENCE: Duration = Duration::from_secs(900);

/// How the 10,000 objects are split into SyncUnits.
#[derive(Clone, Copy)]
struct Shape {
    units: usize,
    per_unit: usize,
}

fn config_map_name(unit: usize, index: usize) -> String {
    format!("u{unit:03}-c{index:05}")
}

/// A Git repository with one directory per SyncUnit; returns every object
/// (for the floor).
fn repository(dir: &Path, shape: Shape) -> Vec<serde_json::Value> {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut objects = Vec::new();
    for unit in 0..shape.units {
        let unit_dir = dir.join(format!("units/u{unit:03}"));
        std::fs::create_dir_all(&unit_dir).unwrap();
        for file in 0..shape.per_unit / PER_FILE {
            let mut text = String::new();
            for i in 0..PER_FILE {
                let index = file * PER_FILE + i;
                let name = config_map_name(unit, index);
                text.push_str(&format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n\
                     data:\n  mode: fast\n  index: \"{index}\"\n"
                ));
                objects.push(json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": namespace_of(unit)},
                    "data": {"mode": "fast", "index": index.to_string()},
                }));
            }
            std::fs::write(unit_dir.join(format!("config-{file:03}.yaml")), text).unwrap();
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "generated"]);
    objects
}

fn namespace_of(unit: usize) -> String {
    format!("bench-{}", unit % NAMESPACES)
}

/// The API server the controller talks to, in other processes.
enum ApiServer {
    Real(Box<control_plane::ControlPlane>),
    Emulated(Child),
}

impl ApiServer {
    /// A real control plane if binaries exist, else the emulation; with a
    /// client configuration and a description for the output.
    async fn start() -> (Self, kube::Config, &'static str) {
        if let Ok(plane) = control_plane::ControlPlane::start().await {
            let config = plane.config();
            return (
                ApiServer::Real(Box::new(plane)),
                config,
                "a real kube-apiserver v1.36 + etcd",
            );
        }
        let (child, address) = start_emulator();
        let mut config = kube::Config::new(address.parse::<hyper::Uri>().unwrap());
        config.default_namespace = "default".into();
        (
            ApiServer::Emulated(child),
            config,
            "the Kubernetes API emulation (no control-plane binaries found)",
        )
    }

    /// Stops the server's processes and waits for them.
    fn stop(self) {
        match self {
            ApiServer::Real(mut plane) => plane.stop(),
            ApiServer::Emulated(mut child) => {
                drop(child.stdin.take());
                let _ = child.wait();
            }
        }
    }
}

/// The emulation in a child process; its URL is its first line of output.
fn start_emulator() -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("PLUMBLINE_BENCH_EMULATOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

/// Child mode: serve until stdin closes (the parent exited or is done).
fn serve_emulator() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let emulator = kube_emulator::Emulator::start_with(kube_emulator::Options {
            watch_window: 200_000,
            ..kube_emulator::Options::default()
        })
        .await
        .unwrap();
        println!("{}", emulator.url());
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
        })
        .await
        .unwrap();
    });
}

/// The namespaces the objects go in, and the controller's.
async fn create_namespaces(client: &kube::Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names = (0..NAMESPACES)
        .map(|n| format!("bench-{n}"))
        .chain(["plumbline-system".to_owned()]);
    for name in names {
        let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        namespaces
            .patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&object))
            .await
            .unwrap();
    }
}

/// The floor: every object as a server-side apply patch from
/// [`CONCURRENCY`] parallel requests, on a fresh server of its own.
async fn floor(objects: &[serde_json::Value]) -> Option<Duration> {
    let (server, config, _) = ApiServer::start().await;
    let client = kube::Client::try_from(config).unwrap();
    create_namespaces(&client).await;
    let started = Instant::now();
    futures_util::stream::iter(objects)
        .map(|object| {
            let api: Api<ConfigMap> = Api::namespaced(
                client.clone(),
                object["metadata"]["namespace"].as_str().unwrap(),
            );
            async move {
                let name = object["metadata"]["name"].as_str().unwrap();
                api.patch(name, &PatchParams::apply("floor"), &Patch::Apply(object))
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let took = started.elapsed();
    server.stop();
    Some(took)
}

async fn run(shape: Shape) {
    let Shape {
        units: unit_count,
        per_unit,
    } = shape;
    let total = unit_count * per_unit;
    let scratch = tempfile::TempDir::new().unwrap();
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let objects = repository(&repo, shape);
    let url = format!("file://{}", repo.display());
    let floor = floor(&objects).await.unwrap();
    drop(objects);
    println!(
        "\n{unit_count} SyncUnit(s) x {per_unit} ConfigMaps = {total} objects\n\
         floor: raw parallel server-side apply ({CONCURRENCY} connections): {:.2} s ({:.0} objects/s)",
        floor.as_secs_f64(),
        total as f64 / floor.as_secs_f64(),
    );

    let (server, config, server_name) = ApiServer::start().await;
    let client = kube::Client::try_from(config.clone()).unwrap();
    install_crds(&client, PATIENCE).await;
    create_namespaces(&client).await;

    let (rss, _) = memory();
    println!(
        "controller against {server_name} (separate processes), concurrency 4; \
         RSS before it starts: {rss:.1} MiB"
    );

    let metrics = Arc::new(Metrics::new());
    let controller = Running::start(
        client.clone(),
        controller_run::options(scratch.path(), config, &metrics),
    );

    // 1. cold
    let started = Instant::now();
    for unit in 0..unit_count {
        let namespace = namespace_of(unit);
        let api: Api<SyncUnit> = Api::namespaced(client.clone(), &namespace);
        let name = format!("u{unit:03}");
        let object = json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "source": {"url": url, "ref": {"branch": "main"}, "path": format!("units/{name}")},
                "interval": "1h",
                "selfHeal": true,
            },
        });
        api.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&object))
            .await
            .unwrap();
    }
    let units: Api<SyncUnit> = Api::all(client.clone());
    wait_all_ready(&units, unit_count, PATIENCE).await;
    let cold = started.elapsed();
    let (count, sum) = reconciles(&metrics);
    let (rss, _) = memory();
    println!(
        "cold: all {unit_count} Ready in {:.2} s ({:.0} objects/s, {:.2}x floor); {count} reconciles, mean {:.0} ms each; RSS {rss:.1} MiB",
        cold.as_secs_f64(),
        total as f64 / cold.as_secs_f64(),
        cold.as_secs_f64() / floor.as_secs_f64(),
        sum / count.max(1) as f64 * 1000.0,
    );
    settle(&metrics).await;

    // 2. no-change rounds, triggered by a push webhook
    let mut samples = Vec::new();
    let mut walls = Vec::new();
    for round in 1..=ROUNDS {
        let (wall, done, mean_ms) = controller
            .push_round(&url, &metrics, unit_count as u64, PATIENCE)
            .await;
        walls.push(wall);
        let (rss, _) = memory();
        samples.push(rss);
        println!(
            "no-change round {round:>2}: {unit_count} SyncUnit(s) in {:.2} s; mean {mean_ms:.0} ms per reconcile ({done} reconciles); RSS {rss:.1} MiB",
            wall.as_secs_f64(),
        );
    }
    settle(&metrics).await;

    // 3. drift to remediation
    let mut latencies = Vec::new();
    for sample in 0..DRIFTS {
        let (unit, index) = if unit_count >= DRIFTS {
            (sample * (unit_count / DRIFTS), 0)
        } else {
            (0, sample * (per_unit / DRIFTS))
        };
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace_of(unit));
        let name = config_map_name(unit, index);
        latencies.push(drift_until_repaired(&api, &name, &name, PATIENCE).await);
    }
    latencies.sort();
    let (rss, _) = memory();
    samples.push(rss);
    println!(
        "drift to remediation ({DRIFTS} manual edits, one at a time): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms; RSS {rss:.1} MiB",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.9).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );

    println!(
        "failed reconciles over the whole run: {}",
        failures(&metrics)
    );
    let (rss, peak) = memory();
    let first = samples.first().copied().unwrap_or_default();
    let last = samples[samples.len().saturating_sub(2)];
    println!(
        "memory: RSS after round 1 {first:.1} MiB, after round {ROUNDS} {last:.1} MiB ({:+.1} MiB over {} reconciles); now {rss:.1} MiB, peak {peak:.1} MiB",
        last - first,
        (ROUNDS - 1) * unit_count,
    );
    if unit_count == 1 {
        let repair = percentile(&latencies, 0.5);
        let most = samples.iter().copied().fold(0.0, f64::max);
        let slowest = walls.iter().max().copied().unwrap_or_default();
        println!(
            "targets for one SyncUnit of {per_unit} objects: edit to repair p50 <= 100 ms: {} ({:.0} ms); \
             RSS <= 100 MiB after every no-change round and after the repairs: {} (at most {most:.1} MiB); \
             no-change reconcile <= 1 s: {} (slowest round {:.2} s)",
            met(repair <= Duration::from_millis(100)),
            repair.as_secs_f64() * 1000.0,
            met(most <= 100.0),
            met(slowest <= Duration::from_secs(1)),
            slowest.as_secs_f64(),
        );
    }

    controller.stop().await;
    server.stop();
}

/// How a target reads in the output.
fn met(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

fn main() {
    plumbline::allocator::return_freed_memory_at_once();
    if std::env::var_os("PLUMBLINE_BENCH_EMULATOR").is_some() {
        serve_emulator();
        return;
    }
    // RUST_LOG=plumbline=debug shows what the controller does meanwhile.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            for shape in shapes() {
                run(shape).await;
            }
        });
}

/// The shapes to run: both, or those `PLUMBLINE_BENCH_SHAPES` names
/// (`1x10000`, `100x100`).
fn shapes() -> Vec<Shape> {
    let wanted = std::env::var("PLUMBLINE_BENCH_SHAPES").unwrap_or_default();
    [
        Shape {
            units: 1,
            per_unit: 10_000,
        },
        Shape {
            units: 100,
            per_unit: 100,
        },
    ]
    .into_iter()
    .filter(|s| wanted.is_empty() || wanted.contains(&format!("{}x{}", s.units, s.per_unit)))
    .collect()
}
