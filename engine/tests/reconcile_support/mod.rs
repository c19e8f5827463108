//! Fixtures for reconcile tests: a real Git repository in a temp dir, a
//! sync configuration pointing at it over `file://`, an API server (the real
//! control plane or the emulator, see `server_support`), and a policy host.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use plumbline::apply::{Cluster, Options};
use plumbline::policy::{HostConfig, PolicyHost, PolicySet};
use plumbline::reconcile::desired::{Depth, Target};
use plumbline::reconcile::{self, Report, SyncUnit};
use plumbline::spec::SyncConfig;
use tempfile::TempDir;

use crate::server_support::{Requests, Server};

/// A Git repository with a working tree, driven by the `git` CLI.
pub struct Repo {
    pub dir: TempDir,
}

impl Repo {
    pub fn new() -> Self {
        let repo = Repo {
            dir: TempDir::new().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "test@plumbline.dev"]);
        repo.git(&["config", "user.name", "Plumbline Test"]);
        repo
    }

    pub fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?} failed");
    }

    pub fn write(&self, path: &str, text: &str) -> &Self {
        let file = self.dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
        self
    }

    pub fn remove(&self, path: &str) -> &Self {
        std::fs::remove_file(self.dir.path().join(path)).unwrap();
        self
    }

    /// Copy a directory tree into the working tree.
    pub fn copy_dir(&self, from: &Path, to: &str) -> &Self {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let target = if to.is_empty() {
                name.clone()
            } else {
                format!("{to}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                self.copy_dir(&entry.path(), &target);
            } else {
                let bytes = std::fs::read(entry.path()).unwrap();
                let file = self.dir.path().join(&target);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, bytes).unwrap();
            }
        }
        self
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }
}

/// Everything one reconcile needs.
pub struct World {
    pub repo: Repo,
    pub server: Server,
    /// Requests the engine sent (through [`World::cluster`]).
    pub requests: Requests,
    pub host: PolicyHost,
    pub scratch: TempDir,
}

impl World {
    /// A world on the emulator (for fault injection and request accounting).
    pub async fn new() -> Self {
        Self::on(Server::emulator().await)
    }

    /// A world on the given server.
    pub fn on(server: Server) -> Self {
        let scratch = TempDir::new().unwrap();
        let host = PolicyHost::new(HostConfig {
            cache_dir: Some(scratch.path().join("policy-cache")),
            compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
            ..HostConfig::default()
        })
        .unwrap();
        World {
            repo: Repo::new(),
            server,
            requests: Requests::default(),
            host,
            scratch,
        }
    }

    /// A sync of the repository's `main` branch with the given extra spec
    /// lines (YAML, indented under `spec:`).
    pub fn unit(&self, extra_spec: &str) -> SyncUnit {
        self.unit_at(&self.repo.url(), "{branch: main}", extra_spec)
    }

    pub fn unit_at(&self, url: &str, reference: &str, extra_spec: &str) -> SyncUnit {
        let text = format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: shop}}\n\
             spec:\n  source: {{url: \"{url}\", ref: {reference}}}\n  targetNamespace: shop\n{extra_spec}"
        );
        SyncUnit {
            config: SyncConfig::from_yaml(&text, "plumbline.yaml").unwrap(),
            base_dir: PathBuf::from("/"),
            file: "plumbline.yaml".into(),
        }
    }

    pub fn policies(&self, unit: &SyncUnit) -> PolicySet {
        reconcile::policies::load(&self.host, unit).unwrap()
    }

    pub fn cluster(&self) -> Cluster {
        Cluster::new(
            self.server.counting_client(&self.requests),
            Options::default(),
        )
    }

    /// The emulator (for tests of faults and request counts).
    pub fn emulator(&self) -> &kube_emulator::Emulator {
        self.server.emulator_handle()
    }

    /// An administrator's client (not counted).
    pub fn client(&self) -> kube::Client {
        self.server.client()
    }

    pub fn git_cache(&self) -> &Path {
        self.scratch.path()
    }

    /// What `plumbline plan` shows for `unit`: the desired state planned
    /// against the cluster, read as a reconcile reads it; nothing written.
    pub async fn plan(&self, unit: &SyncUnit) -> plumbline::plan::Plan {
        let policies = self.policies(unit);
        let (git, rendered) = (
            self.git_cache().join("git"),
            self.scratch.path().join("plans"),
        );
        // Charts see the cluster, as `plumbline plan --context` shows them.
        let target = Target::new(self.server.client(), tokio::runtime::Handle::current());
        let (_, objects) = tokio::task::block_in_place(|| {
            let depth = Depth::Previewed;
            reconcile::load_kept(unit, &policies, &git, &rendered, depth, Some(&target))
        })
        .unwrap();
        let options = Options {
            dry_run: true,
            ..Options::default()
        };
        let cluster = Cluster::new(self.server.client(), options);
        let preview = reconcile::preview(unit, objects, Some(&cluster), false);
        preview.await.unwrap().planned
    }

    pub async fn reconcile(&self, unit: &SyncUnit) -> Report {
        let policies = self.policies(unit);
        reconcile::reconcile(
            unit,
            &policies,
            &self.cluster(),
            &self.git_cache().join("git"),
        )
        .await
    }
}

/// The shared real-world corpus (a copy lives in tests/corpus).
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus")
}

/// A spec fragment using the test policy with all roles, deciding drift as
/// `remediation` says.
pub fn all_roles_policy(remediation: &str) -> String {
    format!(
        "  policies:\n    - module: {}\n      settings: {{remediation: {remediation}}}\n",
        policy_artifacts::TEST_ALL_ROLES
    )
}

/// A Namespace manifest.
pub fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// A ConfigMap manifest in `namespace`.
pub fn config_map_in(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  mode: fast\n"
    )
}

/// The report line of the object whose key reads `object` (e.g.
/// `Service shop/web`).
pub fn line<'a>(report: &'a Report, object: &str) -> &'a reconcile::ObjectReport {
    report
        .objects
        .iter()
        .find(|o| o.key.to_string() == object)
        .unwrap_or_else(|| panic!("no line for {object}: {report:#?}"))
}
