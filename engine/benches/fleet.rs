//! Fleet benchmark: one controller, several target clusters (harness =
//! false; prints numbers). Run with `cargo bench -p plumbline --bench fleet`.
//!
//! Real control planes side by side (`tests/control-plane`: etcd +
//! kube-apiserver v1.36 each): one **management** cluster holding the
//! SyncUnits and the cluster registrations, and `TARGETS` **targets**. The
//! controller runs in this process ([`Controller::run`], its default
//! concurrency: 4 reconciles at once, 2 per cluster), with the binary's
//! allocator; the servers are other processes, so the memory printed is the
//! controller's (and this process's small polling clients').
//!
//! One real Git repository (`file://`) holds `UNITS` directories of
//! `OBJECTS` objects each — a mix of Deployments, the Services in front of
//! them and ConfigMaps, across five namespaces — and every target gets a
//! SyncUnit (`spec.cluster: tN`, `selfHeal: true`) per directory: by
//! default 5 targets × 20 SyncUnits × 100 objects = 10,000 objects.
//! `PLUMBLINE_BENCH_FLEET=TARGETSxUNITSxOBJECTS` (e.g. `2x20x100`) scales it
//! down where five targets do not fit.
//!
//! Phases, each printed with its wall time:
//! 0. the **floor**: every object sent as a server-side apply patch to its
//!    target from 16 parallel connections per target, all targets at once,
//!    with no client work at all; then deleted again (same servers, same
//!    run);
//! 1. **cold**: every SyncUnit created at once; until all are Ready;
//! 2. **no-change rounds**: a Git push webhook triggers every SyncUnit;
//!    until each has reconciled once;
//! 3. **drift**: a ConfigMap in a target edited by another field manager,
//!    timed until the controller has put it back (the target's drift watch
//!    → repair of that object), one at a time, across targets;
//! 4. the controller's **peak RSS** since it started (the floor's clients
//!    are not counted: the peak is reset before the controller starts).

#[path = "support/controller_run.rs"]
mod controller_run;
mod support;
#[path = "support/workload.rs"]
mod workload;

/// The allocator of the `plumbline` binary, so the controller measured here
/// runs as it ships.
#[global_allocator]
static ALLOCATOR: plumbline::allocator::Allocator = plumbline::allocator::Allocator;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use control_plane::ControlPlane;
use controller_run::{
    drift_until_repaired, failures, install_crds, memory, metric, percentile, reconciles, settle,
    wait_all_ready, Running,
};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use plumbline::controller::crd::SyncUnit;
use plumbline::controller::metrics::Metrics;
use serde::Deserialize as _;
use serde_json::{json, Value};
use support::git;

/// Parallel connections per target for the floor: Plumbline's default
/// apply concurrency.
const CONCURRENCY: usize = 16;
/// The namespaces each target's objects spread over.
const NAMESPACES: usize = 5;
const PER_FILE: usize = 10;
const ROUNDS: usize = 5;
const DRIFTS: usize = 20;
/// Where the controller lives in every cluster: registrations in the
/// management cluster, inventories and claims in the targets.
const CONTROLLER_NAMESPACE: &str = "plumbline-system";
/// A guard against a hung bench, not a measurement.
const PATIENCE: Duration = Duration::from_secs(1800);

/// How big the fleet is.
#[derive(Clone, Copy)]
struct Fleet {
    targets: usize,
    units: usize,
    objects: usize,
}

impl Fleet {
    /// 5 × 20 × 100, or `PLUMBLINE_BENCH_FLEET=TARGETSxUNITSxOBJECTS`.
    fn from_env() -> Self {
        let Ok(text) = std::env::var("PLUMBLINE_BENCH_FLEET") else {
            return Fleet {
                targets: 5,
                units: 20,
                objects: 100,
            };
        };
        let numbers: Vec<usize> = text.split('x').filter_map(|n| n.parse().ok()).collect();
        match numbers[..] {
            [targets, units, objects] if targets > 0 && units > 0 && objects >= PER_FILE => Fleet {
                targets,
                units,
                objects: objects - objects % PER_FILE,
            },
            _ => {
                panic!("PLUMBLINE_BENCH_FLEET={text:?} is not TARGETSxUNITSxOBJECTS, e.g. 5x20x100")
            }
        }
    }

    fn total(&self) -> usize {
        self.targets * self.units * self.objects
    }
}

fn namespace_of(unit: usize, file: usize) -> String {
    format!("fleet-{}", (unit * 7 + file) % NAMESPACES)
}

/// The ConfigMap that drift sample `sample` edits: `(unit, namespace,
/// name)`.
fn drifted(fleet: Fleet, sample: usize) -> (usize, String, String) {
    let unit = (sample * 7) % fleet.units;
    let file = sample % (fleet.objects / PER_FILE);
    (
        unit,
        namespace_of(unit, file),
        format!("u{unit:02}-{file}-2"),
    )
}

/// Ten objects of unit `unit`, file `file`: in turn a Deployment (with
/// quantities the server normalises), the Service in front of it, and a
/// ConfigMap. Returns the YAML and the objects as JSON (for the floor).
fn manifest_file(unit: usize, file: usize) -> (String, Vec<Value>) {
    let namespace = namespace_of(unit, file);
    let text = workload::mixed_objects(&format!("u{unit:02}-{file}"), &namespace, PER_FILE);
    let objects = serde_yaml::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect();
    (text, objects)
}

/// A Git repository with one directory per SyncUnit of a target; returns
/// the objects of one target (every target gets the same).
fn repository(dir: &Path, fleet: Fleet) -> Vec<Value> {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut objects = Vec::new();
    for unit in 0..fleet.units {
        let unit_dir = dir.join(format!("units/u{unit:02}"));
        std::fs::create_dir_all(&unit_dir).unwrap();
        for file in 0..fleet.objects / PER_FILE {
            let (text, mut these) = manifest_file(unit, file);
            std::fs::write(unit_dir.join(format!("objects-{file:03}.yaml")), text).unwrap();
            objects.append(&mut these);
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "generated"]);
    objects
}

/// Start counting the peak RSS (VmHWM) afresh from now.
fn reset_peak_memory() {
    // Linux: writing 5 to clear_refs resets the peak resident set size.
    if let Err(error) = std::fs::write("/proc/self/clear_refs", "5") {
        println!("(cannot reset the peak RSS: {error}; the peak includes the floor's clients)");
    }
}

async fn apply_namespaces(client: &kube::Client, names: impl IntoIterator<Item = String>) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in names {
        let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        namespaces
            .patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&object))
            .await
            .unwrap();
    }
}

fn object_namespaces() -> impl Iterator<Item = String> {
    (0..NAMESPACES).map(|n| format!("fleet-{n}"))
}

/// The API resource of a manifest's `apiVersion` and `kind`.
fn resource_of(object: &Value) -> ApiResource {
    let (group, version) = match object["apiVersion"].as_str().unwrap().split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", object["apiVersion"].as_str().unwrap()),
    };
    let kind = object["kind"].as_str().unwrap();
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: object["apiVersion"].as_str().unwrap().into(),
        kind: kind.into(),
        plural,
    }
}

/// Server-side apply `objects` to `client`'s cluster from [`CONCURRENCY`]
/// parallel requests.
async fn raw_apply(client: kube::Client, objects: &[Value]) {
    futures_util::stream::iter(objects)
        .map(|object| {
            let resource = resource_of(object);
            let api: Api<DynamicObject> = Api::namespaced_with(
                client.clone(),
                object["metadata"]["namespace"].as_str().unwrap(),
                &resource,
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
}

/// Delete what the floor applied, so the controller creates it afresh.
async fn delete_floor(client: &kube::Client, objects: &[Value]) {
    let mut kinds: Vec<ApiResource> = Vec::new();
    for object in objects {
        let resource = resource_of(object);
        if !kinds.iter().any(|k| k.kind == resource.kind) {
            kinds.push(resource);
        }
    }
    for namespace in object_namespaces() {
        for resource in &kinds {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &namespace, resource);
            api.delete_collection(&DeleteParams::default(), &ListParams::default())
                .await
                .unwrap();
        }
    }
}

/// The PEM CA that signs a control plane's serving certificate.
fn ca_of(plane: &ControlPlane) -> String {
    let path = plane.kubeconfig().clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.certificate_authority.clone())
        .expect("the control plane's kubeconfig names its CA file");
    std::fs::read_to_string(path).unwrap()
}

/// Register target `index` in the management cluster: server, CA and the
/// administrator's token.
async fn register(management: &kube::Client, index: usize, plane: &ControlPlane) {
    let secrets: Api<Secret> = Api::namespaced(management.clone(), CONTROLLER_NAMESPACE);
    let name = format!("t{index}");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": CONTROLLER_NAMESPACE,
                     "labels": {"plumbline.dev/secret-type": "cluster"}},
        "stringData": {"server": plane.url(), "ca.crt": ca_of(plane), "token": "admin-token"},
    });
    secrets
        .patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&secret))
        .await
        .unwrap();
}

async fn run(fleet: Fleet) {
    let Fleet {
        targets: target_count,
        units: unit_count,
        objects: per_unit,
    } = fleet;
    let total = fleet.total();
    let scratch = tempfile::TempDir::new().unwrap();
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let objects = repository(&repo, fleet);
    let url = format!("file://{}", repo.display());

    let started = Instant::now();
    let planes = futures_util::future::join_all(
        (0..=target_count).map(|_| async { ControlPlane::start().await }),
    )
    .await;
    let mut planes: Vec<ControlPlane> = match planes.into_iter().collect() {
        Ok(planes) => planes,
        Err(error) => {
            println!("no fleet benchmark: cannot start the control planes: {error}");
            return;
        }
    };
    let management_plane = planes.remove(0);
    let targets = planes;
    println!(
        "\n{target_count} target cluster(s) x {unit_count} SyncUnits x {per_unit} objects \
         (Deployments, Services, ConfigMaps in {NAMESPACES} namespaces) = {total} objects; \
         {} real control planes (etcd + kube-apiserver v1.36) started side by side in {:.1} s",
        target_count + 1,
        started.elapsed().as_secs_f64(),
    );
    let target_clients: Vec<kube::Client> = targets.iter().map(ControlPlane::client).collect();
    for client in &target_clients {
        apply_namespaces(client, object_namespaces()).await;
    }

    // 0. the floor, on the same servers: applied, then deleted again
    let started = Instant::now();
    futures_util::future::join_all(
        target_clients
            .iter()
            .map(|client| raw_apply(client.clone(), &objects)),
    )
    .await;
    let floor = started.elapsed();
    for client in &target_clients {
        delete_floor(client, &objects).await;
    }
    println!(
        "floor: raw parallel server-side apply ({CONCURRENCY} connections per target, all targets at once): \
         {:.2} s ({:.0} objects/s)",
        floor.as_secs_f64(),
        total as f64 / floor.as_secs_f64(),
    );
    drop(objects);

    let management = management_plane.client();
    install_crds(&management, PATIENCE).await;
    apply_namespaces(
        &management,
        (0..target_count)
            .map(|t| format!("t{t}"))
            .chain([CONTROLLER_NAMESPACE.to_owned()]),
    )
    .await;
    for (index, plane) in targets.iter().enumerate() {
        register(&management, index, plane).await;
    }

    reset_peak_memory();
    let (rss, _) = memory();
    let metrics = Arc::new(Metrics::new());
    let options = controller_run::options(scratch.path(), management_plane.config(), &metrics);
    println!(
        "controller in this process against the management cluster; concurrency {}, {} per cluster; \
         RSS before it starts: {rss:.1} MiB",
        options.concurrency, options.per_cluster_concurrency,
    );
    let controller = Running::start(management.clone(), options);

    // 1. cold
    let started = Instant::now();
    for target in 0..target_count {
        let namespace = format!("t{target}");
        let api: Api<SyncUnit> = Api::namespaced(management.clone(), &namespace);
        for unit in 0..unit_count {
            let name = format!("u{unit:02}");
            let object = json!({
                "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "cluster": namespace,
                    "source": {"url": url, "ref": {"branch": "main"}, "path": format!("units/{name}")},
                    "interval": "1h",
                    "selfHeal": true,
                },
            });
            api.patch(&name, &PatchParams::apply("bench"), &Patch::Apply(&object))
                .await
                .unwrap();
        }
    }
    let units: Api<SyncUnit> = Api::all(management.clone());
    let unit_total = target_count * unit_count;
    wait_all_ready(&units, unit_total, PATIENCE).await;
    let cold = started.elapsed();
    let (count, sum) = reconciles(&metrics);
    let (rss, peak) = memory();
    println!(
        "cold: all {unit_total} SyncUnits Ready in {:.2} s ({:.0} objects/s, {:.2}x floor); \
         {count} reconciles, mean {:.0} ms each; RSS {rss:.1} MiB, peak {peak:.1} MiB",
        cold.as_secs_f64(),
        total as f64 / cold.as_secs_f64(),
        cold.as_secs_f64() / floor.as_secs_f64(),
        sum / count.max(1) as f64 * 1000.0,
    );
    settle(&metrics).await;

    // 2. no-change rounds, triggered by a push webhook
    let mut walls = Vec::new();
    for round in 1..=ROUNDS {
        let (wall, done, mean_ms) = controller
            .push_round(&url, &metrics, unit_total as u64, PATIENCE)
            .await;
        walls.push(wall);
        let (rss, _) = memory();
        println!(
            "no-change round {round}: {unit_total} SyncUnits in {:.2} s; mean {mean_ms:.0} ms per reconcile \
             ({done} reconciles); RSS {rss:.1} MiB",
            wall.as_secs_f64(),
        );
    }
    settle(&metrics).await;

    // 3. drift to repair, across targets
    let mut latencies = Vec::new();
    for sample in 0..DRIFTS {
        let target = sample % target_count;
        let (_, namespace, name) = drifted(fleet, sample);
        let api: Api<ConfigMap> = Api::namespaced(target_clients[target].clone(), &namespace);
        let what = format!("{namespace}/{name} in t{target}");
        latencies.push(drift_until_repaired(&api, &name, &what, PATIENCE).await);
    }
    latencies.sort();
    let repairs = metric(
        &metrics,
        "plumbline_drift_repair_duration_seconds_count{result=\"synced\"}",
    );
    println!(
        "drift to repair ({DRIFTS} edits in the targets, one at a time): p50 {:.0} ms, p90 {:.0} ms, \
         max {:.0} ms; {repairs} single-object repairs so far",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.9).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );

    let (rss, peak) = memory();
    let slowest = walls.iter().max().copied().unwrap_or_default();
    let fastest = walls.iter().min().copied().unwrap_or_default();
    println!(
        "failed reconciles over the whole run: {}; RSS now {rss:.1} MiB",
        failures(&metrics)
    );
    println!(
        "summary: cold {:.2} s = {:.2}x the floor ({:.2} s); no-change round {:.2}-{:.2} s; \
         drift repair p50 {:.0} ms; controller peak RSS {peak:.1} MiB (target < 150 MiB: {})",
        cold.as_secs_f64(),
        cold.as_secs_f64() / floor.as_secs_f64(),
        floor.as_secs_f64(),
        fastest.as_secs_f64(),
        slowest.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        if peak < 150.0 { "met" } else { "NOT met" },
    );

    controller.stop().await;
}

fn main() {
    plumbline::allocator::return_freed_memory_at_once();
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
        .block_on(run(Fleet::from_env()));
}
