//! Reconcile benchmark (harness = false; prints numbers).
//!
//! For 1,000 and 10,000 objects (Deployments and ConfigMaps across 20
//! namespaces, 10 objects per file) in a real Git repository, against the
//! in-process Kubernetes API emulation over HTTP: a cold sync (everything
//! created) and a no-change reconcile, with wall time and the API requests
//! each made. Run with `cargo bench -p plumbline --bench reconcile`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use kube_emulator::Emulator;
use plumbline::apply::{Cluster, Options};
use plumbline::policy::{HostConfig, PolicyHost};
use plumbline::reconcile::{self, Outcome, Status, SyncUnit};
use plumbline::spec::SyncConfig;
use support::git;

const NAMESPACES: usize = 20;
const PER_FILE: usize = 10;

/// Ten objects: alternating Deployments (with normalised quantities) and
/// ConfigMaps.
fn manifest_file(file: usize) -> String {
    let namespace = format!("team-{}", file % NAMESPACES);
    let mut text = String::new();
    for i in 0..PER_FILE {
        let name = format!("app-{file}-{i}");
        if i % 2 == 0 {
            text.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
                 spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    \
                 metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        \
                 image: registry.example/app:1.{i}\n        resources:\n          requests: {{cpu: 1000m, memory: 1024Mi}}\n"
            ));
        } else {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
                 data:\n  mode: fast\n  replicas: \"{i}\"\n"
            ));
        }
    }
    text
}

fn repository(dir: &Path, objects: usize) {
    git(dir, &["init", "-q", "-b", "main"]);
    let namespaces: String = (0..NAMESPACES)
        .map(|n| format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{n}\n"))
        .collect();
    std::fs::write(dir.join("namespaces.yaml"), namespaces).unwrap();
    for file in 0..objects / PER_FILE {
        std::fs::write(dir.join(format!("app-{file:05}.yaml")), manifest_file(file)).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "generated"]);
}

fn unit(repo: &Path) -> SyncUnit {
    let text = format!(
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: bench}}\n\
         spec:\n  source: {{url: \"file://{}\", ref: {{branch: main}}}}\n",
        repo.display()
    );
    SyncUnit {
        config: SyncConfig::from_yaml(&text, "bench.yaml").unwrap(),
        base_dir: PathBuf::from("/"),
        file: "bench.yaml".into(),
    }
}

async fn run(objects: usize) {
    let scratch = tempfile::TempDir::new().unwrap();
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    repository(&repo, objects);
    let unit = unit(&repo);
    let host = PolicyHost::new(HostConfig::default()).unwrap();
    let policies = reconcile::policies::load(&host, &unit).unwrap();
    let emulator = Emulator::start().await.unwrap();
    let cluster = Cluster::new(
        emulator.client().unwrap(),
        Options {
            concurrency: 32,
            ..Options::default()
        },
    );
    let cache = scratch.path().join("git");
    let total = objects + NAMESPACES;

    for phase in ["cold sync", "no-change reconcile"] {
        emulator.reset_requests();
        let started = Instant::now();
        let report = reconcile::reconcile(&unit, &policies, &cluster, &cache).await;
        let elapsed = started.elapsed();
        assert_eq!(report.status, Status::Synced, "{:?}", report.errors);
        let expected = if phase == "cold sync" {
            Outcome::Created
        } else {
            Outcome::Unchanged
        };
        assert_eq!(report.count(&expected), total, "{phase}");
        let requests = emulator.requests();
        println!(
            "{total:>6} objects  {phase:<20} {:>8.2} s  {:>8.0} objects/s  requests: {:>6} ({} reads, {} writes)",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            requests.reads() + requests.writes(),
            requests.reads(),
            requests.writes(),
        );
    }
}

#[tokio::main]
async fn main() {
    println!("reconcile against the Kubernetes API emulation (no policies; concurrency 32)");
    for objects in [1_000, 10_000] {
        run(objects).await;
    }
}
