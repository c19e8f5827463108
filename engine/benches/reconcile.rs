//! Reconcile benchmark against the real API server (harness = false; prints
//! numbers). Run with `cargo bench -p plumbline --bench reconcile`.
//!
//! For 2,000 and 10,000 objects (a mixed workload: Deployments with
//! `1000m`/`1024Mi` quantities, the Services in front of them, and
//! ConfigMaps, across 10 namespaces, 10 objects per file) in a real Git
//! repository, each measurement on a fresh control plane (etcd +
//! kube-apiserver v1.36 from `tests/control-plane`):
//!
//! - **floor**: the same objects sent as server-side apply patches from 16
//!   parallel connections, namespaces first, with no client work at all;
//! - **plumbline sync** (the CLI binary, cold: everything created), then a
//!   no-change `sync` and a no-change `plan`, each with wall time and peak
//!   RSS (`/usr/bin/time`);
//! - **the floor of a no-change run**: the reads it cannot avoid (the
//!   inventory ConfigMaps and a paged list of each kind), bodies received
//!   but not parsed;
//! - **kubectl apply --server-side** (2,000 objects only: it is sequential).
//!
//! Ratios to the floor are printed. Without control-plane binaries it says
//! so and measures nothing.

mod support;
#[path = "support/workload.rs"]
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use control_plane::ControlPlane;
use futures_util::{stream, StreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::Value;
use support::git;

const NAMESPACES: usize = 10;
const PER_FILE: usize = 10;
/// Plumbline's default apply concurrency, used by the floor too.
const CONCURRENCY: usize = 16;

/// Ten objects, in turn a Deployment (with quantities the server
/// normalises), the Service in front of it, and a ConfigMap.
fn manifest_file(file: usize) -> String {
    let namespace = format!("team-{}", file % NAMESPACES);
    workload::mixed_objects(&format!("app-{file}"), &namespace, PER_FILE)
}

/// A Git repository with the namespaces (first, by file name) and
/// `objects` objects; returns every object, for the floor.
fn repository(dir: &Path, objects: usize) -> Vec<Value> {
    git(dir, &["init", "-q", "-b", "main"]);
    let namespaces: String = (0..NAMESPACES)
        .map(|n| format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{n}\n"))
        .collect();
    let mut texts = vec![namespaces.clone()];
    std::fs::write(dir.join("0-namespaces.yaml"), namespaces).unwrap();
    for file in 0..objects / PER_FILE {
        let text = manifest_file(file);
        std::fs::write(dir.join(format!("app-{file:05}.yaml")), &text).unwrap();
        texts.push(text);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "generated"]);
    texts
        .iter()
        .flat_map(|text| {
            text.split("---\n")
                .filter(|doc| !doc.trim().is_empty())
                .map(|doc| serde_yaml::from_str::<Value>(doc).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn resource(object: &Value) -> ApiResource {
    let (group, version, plural) = match object["kind"].as_str().unwrap() {
        "Deployment" => ("apps", "v1", "deployments"),
        "ConfigMap" => ("", "v1", "configmaps"),
        "Service" => ("", "v1", "services"),
        "Namespace" => ("", "v1", "namespaces"),
        other => panic!("no resource for {other}"),
    };
    let gvk = kube::api::GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap());
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

/// The floor: every object as a server-side apply patch, namespaces first,
/// then the rest from [`CONCURRENCY`] parallel requests.
async fn raw_apply(plane: &ControlPlane, objects: &[Value]) -> Duration {
    let client = plane.client();
    let params = PatchParams::apply("floor").force();
    let started = Instant::now();
    let (namespaces, rest): (Vec<&Value>, Vec<&Value>) =
        objects.iter().partition(|o| o["kind"] == "Namespace");
    for batch in [namespaces, rest] {
        stream::iter(batch)
            .map(|object| {
                let client = client.clone();
                let params = params.clone();
                async move {
                    let name = object["metadata"]["name"].as_str().unwrap();
                    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
                        Some(namespace) => {
                            Api::namespaced_with(client, namespace, &resource(object))
                        }
                        None => Api::all_with(client, &resource(object)),
                    };
                    api.patch(name, &params, &Patch::Apply(object))
                        .await
                        .unwrap();
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
    }
    started.elapsed()
}

/// The reads no no-change sync can avoid, with no client work on what they
/// return: the sync's inventory ConfigMaps, and a paged list (500 a page,
/// as Plumbline reads) of each kind with the sync's label, the kinds side
/// by side. Bodies are received; only each page's `continue` token is
/// looked at.
async fn read_floor(plane: &ControlPlane) -> Duration {
    let client = plane.client();
    let started = Instant::now();
    let inventory = (
        "/api/v1/namespaces/plumbline-system/configmaps",
        "plumbline.dev/inventory=bench",
    );
    let kinds = [
        "/apis/apps/v1/deployments",
        "/api/v1/configmaps",
        "/api/v1/services",
        "/api/v1/namespaces",
    ]
    .map(|path| (path, "plumbline.dev/sync=bench"));
    stream::iter(std::iter::once(inventory).chain(kinds))
        .map(|(path, selector)| list_unparsed(&client, path, selector))
        .buffer_unordered(5)
        .collect::<Vec<()>>()
        .await;
    started.elapsed()
}

/// Every page of `path` with `selector`, received and dropped.
async fn list_unparsed(client: &kube::Client, path: &str, selector: &str) {
    #[derive(serde::Deserialize)]
    struct Page {
        metadata: kube::api::ListMeta,
    }
    let mut params = kube::api::ListParams::default().labels(selector).limit(500);
    loop {
        let request = kube::core::Request::new(path).list(&params).unwrap();
        let text = client.request_text(request.map(Into::into)).await.unwrap();
        let page: Page = serde_json::from_str(&text).unwrap();
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return,
        }
    }
}

/// One run of a command: wall time, peak RSS (MiB) and exit code.
struct Run {
    wall: Duration,
    rss_mib: f64,
    code: i32,
    stdout: String,
}

/// Runs `program args` in `dir` under `/usr/bin/time -f %M` (peak RSS in
/// KiB), with Plumbline's caches in `dir/cache`.
fn measured(program: &str, args: &[&str], dir: &Path) -> Run {
    let rss_file = dir.join("rss");
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(program)
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env("PLUMBLINE_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("/usr/bin/time runs (Debian package `time`)");
    let wall = started.elapsed();
    let kib: f64 = std::fs::read_to_string(&rss_file)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0.0);
    if !matches!(output.status.code(), Some(0 | 1)) {
        panic!(
            "{program} {args:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Run {
        wall,
        rss_mib: kib / 1024.0,
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

/// A directory holding a `plumbline.yaml` for the repository.
fn sync_config(scratch: &Path, repo: &Path) -> PathBuf {
    let dir = scratch.join("sync");
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: bench}}\n\
         spec:\n  source: {{url: \"file://{}\", ref: {{branch: main}}}}\n",
        repo.display()
    );
    std::fs::write(dir.join("plumbline.yaml"), text).unwrap();
    dir
}

fn line(what: &str, total: usize, run: &Run, floor: Duration) {
    println!(
        "{total:>6} objects  {what:<34} {:>7.2} s  {:>6.0} objects/s  {:>5.2}x floor  peak RSS {:>6.1} MiB",
        run.wall.as_secs_f64(),
        total as f64 / run.wall.as_secs_f64(),
        run.wall.as_secs_f64() / floor.as_secs_f64(),
        run.rss_mib,
    );
}

async fn run(objects: usize) {
    let scratch = tempfile::TempDir::new().unwrap();
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let all = repository(&repo, objects);
    let total = all.len();
    let plumbline = env!("CARGO_BIN_EXE_plumbline");

    let floor = {
        let plane = ControlPlane::start().await.unwrap();
        raw_apply(&plane, &all).await
    };
    println!(
        "{total:>6} objects  {:<34} {:>7.2} s  {:>6.0} objects/s",
        "floor: raw parallel server-side apply",
        floor.as_secs_f64(),
        total as f64 / floor.as_secs_f64()
    );

    let plane = ControlPlane::start().await.unwrap();
    let kubeconfig = plane.kubeconfig_path().display().to_string();
    let dir = sync_config(scratch.path(), &repo);
    let args = |command: &'static str| {
        vec![
            command,
            ".",
            "--kubeconfig",
            &kubeconfig,
            "-q",
            "-o",
            "json",
        ]
    };
    let cold = measured(plumbline, &args("sync"), &dir);
    assert_eq!(cold.code, 0, "{}", cold.stdout);
    line("plumbline sync, cold", total, &cold, floor);
    let again = measured(plumbline, &args("sync"), &dir);
    assert_eq!(again.code, 0);
    line("plumbline sync, no change", total, &again, floor);
    let plan = measured(plumbline, &args("plan"), &dir);
    assert_eq!(plan.code, 0, "no change: plan exits 0");
    line("plumbline plan, no change", total, &plan, floor);
    let reads = read_floor(&plane).await;
    println!(
        "{total:>6} objects  {:<34} {:>7.2} s  (no-change sync {:.2}x, plan {:.2}x this floor)",
        "floor of a no-change run: its reads",
        reads.as_secs_f64(),
        again.wall.as_secs_f64() / reads.as_secs_f64(),
        plan.wall.as_secs_f64() / reads.as_secs_f64(),
    );
    if objects >= 10_000 {
        let within = |run: &Run, seconds: f64| {
            if run.wall.as_secs_f64() <= seconds {
                "met"
            } else {
                "NOT met"
            }
        };
        let peak = cold.rss_mib.max(again.rss_mib);
        let cold_ratio = cold.wall.as_secs_f64() / floor.as_secs_f64();
        println!(
            "{total:>6} objects  targets: cold sync <= 1.1x floor: {} ({cold_ratio:.2}x); \
             no-change sync <= 1 s: {}; no-change plan <= 1 s: {}; \
             sync peak RSS <= 150 MiB: {} ({peak:.1} MiB)",
            if cold_ratio <= 1.1 { "met" } else { "NOT met" },
            within(&again, 1.0),
            within(&plan, 1.0),
            if peak <= 150.0 { "met" } else { "NOT met" },
        );
    }
    drop(plane);

    if objects <= 2_000 {
        let plane = ControlPlane::start().await.unwrap();
        let kubeconfig = plane.kubeconfig_path().display().to_string();
        let repo_dir = repo.display().to_string();
        let kubectl = measured(
            "kubectl",
            &[
                "apply",
                "--server-side",
                "--kubeconfig",
                &kubeconfig,
                "-f",
                &repo_dir,
                "-o",
                "name",
            ],
            scratch.path(),
        );
        assert_eq!(kubectl.code, 0);
        line("kubectl apply --server-side, cold", total, &kubectl, floor);
    }
}

#[tokio::main]
async fn main() {
    if control_plane::assets::locate().ok().flatten().is_none() {
        println!(
            "reconcile benchmark skipped: {}",
            control_plane::assets::why_unavailable()
        );
        return;
    }
    println!(
        "reconcile against a real kube-apiserver v1.36 + etcd on loopback (fresh control plane per \
         measurement; apply concurrency {CONCURRENCY}; no policies; {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for objects in [2_000, 10_000] {
        run(objects).await;
    }
}
