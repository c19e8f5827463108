//! The API server a Kubernetes-facing test runs against: the real control
//! plane (`tests/control-plane`: etcd + kube-apiserver v1.36 on loopback), or
//! the in-process emulator, which stays for what a real server cannot do on
//! demand (fault injection, request counting).
//!
//! `on_both_servers!` turns `async fn case(server: Server)` functions into one
//! test per server: `emulator::case` and `real_server::case`. Use it only
//! where the emulator is faithful for what the test asserts; tests of
//! behaviour the emulator does not reproduce use `Server::real()` alone.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use control_plane::ControlPlane;
use kube_emulator::Emulator;

/// One API server for one test (one per test, so the size of the real
/// control plane's handle does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Server {
    /// The in-process emulator.
    Emulator(Emulator),
    /// A real control plane.
    Real(ControlPlane),
}

impl Server {
    /// A fresh emulator.
    pub async fn emulator() -> Self {
        Server::Emulator(Emulator::start().await.unwrap())
    }

    /// A fresh real control plane, or `None` (after one line saying why) when
    /// no binaries exist and `PLUMBLINE_REQUIRE_K8S` is not set.
    pub async fn real() -> Option<Self> {
        ControlPlane::start_or_skip().await.map(Server::Real)
    }

    /// A real control plane with kube-controller-manager (namespace deletion,
    /// garbage collection), or `None` as for [`Server::real`].
    pub async fn real_with_controller_manager() -> Option<Self> {
        let options = control_plane::Options {
            controller_manager: true,
            ..Default::default()
        };
        ControlPlane::start_with_or_skip(options)
            .await
            .map(Server::Real)
    }

    /// An administrator's client.
    pub fn client(&self) -> kube::Client {
        match self {
            Server::Emulator(emulator) => emulator.client().unwrap(),
            Server::Real(plane) => plane.client(),
        }
    }

    /// An administrator's client that counts the requests it sends into
    /// `requests`. This works the same on both
    /// servers, so "a no-change sync writes nothing" is checked on the real one.
    pub fn counting_client(&self, requests: &Requests) -> kube::Client {
        let config = self.config();
        let counts = requests.clone();
        let count =
            tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
                if request.method() == http::Method::GET {
                    let path = request.uri().path().to_owned();
                    counts.read_paths.lock().unwrap().push(path);
                }
                let counter = match *request.method() {
                    http::Method::GET => &counts.reads,
                    http::Method::DELETE => &counts.deletes,
                    _ => &counts.other_writes,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                request
            });
        kube::client::ClientBuilder::try_from(config)
            .unwrap()
            .with_layer(&count)
            .build()
    }

    /// An administrator's `kube::Config`.
    pub fn config(&self) -> kube::Config {
        match self {
            Server::Emulator(emulator) => emulator.config().unwrap(),
            Server::Real(plane) => plane.config(),
        }
    }

    /// `true` for the real control plane.
    pub fn is_real(&self) -> bool {
        matches!(self, Server::Real(_))
    }

    /// The emulator, for fault injection and request counting; panics on a
    /// real server (such a test must not run there).
    pub fn emulator_handle(&self) -> &Emulator {
        match self {
            Server::Emulator(emulator) => emulator,
            Server::Real(_) => panic!("this test needs the emulator's fault injection or counters"),
        }
    }

    /// The real control plane; panics on the emulator.
    pub fn control_plane(&self) -> &ControlPlane {
        match self {
            Server::Real(plane) => plane,
            Server::Emulator(_) => panic!("this test needs the real control plane"),
        }
    }

    /// A kubeconfig file for a CLI under test, written into `dir`.
    pub fn kubeconfig_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = match self {
            Server::Emulator(emulator) => serde_yaml::to_string(&emulator.kubeconfig()).unwrap(),
            Server::Real(plane) => std::fs::read_to_string(plane.kubeconfig_path()).unwrap(),
        };
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Requests sent through a [`Server::counting_client`], counted on the
/// client's side, so the same assertion holds on either server.
#[derive(Clone, Debug, Default)]
pub struct Requests {
    reads: Arc<AtomicU64>,
    deletes: Arc<AtomicU64>,
    other_writes: Arc<AtomicU64>,
    /// The path of every GET request.
    read_paths: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Requests {
    /// Write requests so far (every method but GET: POST, PUT, PATCH, DELETE).
    pub fn writes(&self) -> u64 {
        self.deletes() + self.other_writes.load(Ordering::Relaxed)
    }

    /// DELETE requests so far.
    pub fn deletes(&self) -> u64 {
        self.deletes.load(Ordering::Relaxed)
    }

    /// GET requests so far (get, list, watch, discovery).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// GET requests so far of single objects in `collection` (a path such
    /// as `/api/v1/namespaces/shop/configmaps`): reads of one object each,
    /// not lists.
    pub fn object_reads_in(&self, collection: &str) -> usize {
        let prefix = format!("{}/", collection.trim_end_matches('/'));
        let paths = self.read_paths.lock().unwrap();
        paths.iter().filter(|p| p.starts_with(&prefix)).count()
    }

    /// Start counting from zero.
    pub fn reset(&self) {
        for counter in [&self.reads, &self.deletes, &self.other_writes] {
            counter.store(0, Ordering::Relaxed);
        }
        self.read_paths.lock().unwrap().clear();
    }
}

/// One `#[tokio::test]` per server for each named `async fn NAME(Server)`.
#[macro_export]
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod emulator {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::server_support::Server::emulator().await).await
                }
            )*
        }
        mod real_server {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::server_support::Server::real().await else { return };
                    super::$name(server).await
                }
            )*
        }
    };
}

/// One `#[tokio::test]` on the real server only, for each named `async fn NAME(Server)`.
#[macro_export]
macro_rules! on_real_server {
    ($($name:ident),* $(,)?) => {
        mod real_server_only {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::server_support::Server::real().await else { return };
                    super::$name(server).await
                }
            )*
        }
    };
}

/// One `#[tokio::test]` on a real control plane with kube-controller-manager
/// (for what needs its controllers: namespace deletion, garbage
/// collection), for each named `async fn NAME(Server)`.
#[macro_export]
macro_rules! on_real_server_with_controllers {
    ($($name:ident),* $(,)?) => {
        mod real_server_with_controllers {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::server_support::Server::real_with_controller_manager().await else { return };
                    super::$name(server).await
                }
            )*
        }
    };
}
