//! An in-process emulation of the Kubernetes API server for Plumbline's tests, spoken to over
//! HTTP by the real `kube::Client`.
//!
//! [`Emulator::start`] binds `127.0.0.1` on a random port and serves discovery, CRUD, list and
//! watch, server-side apply with managed fields, the other patch types, defaulting and
//! quantity normalisation, finalizers, owner-reference garbage collection and namespace
//! deletion, with the semantics Plumbline depends on. Tests steer it through [`Faults`] and read
//! [`RequestCounts`]. The differences from a real API server are listed in the crate's README.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, Patch, PatchParams};
//!
//! let emulator = kube_emulator::Emulator::start().await?;
//! let cms: Api<ConfigMap> = Api::namespaced(emulator.client()?, "default");
//! let cm: ConfigMap = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo"}, "data": {"a": "1"}
//! }))?;
//! cms.patch("demo", &PatchParams::apply("plumbline"), &Patch::Apply(&cm)).await?;
//! assert_eq!(emulator.requests().apply, 1);
//! # Ok(()) }
//! ```

mod discovery;
mod faults;
mod fieldset;
mod http;
mod normalize;
mod patch;
mod requests;
mod selectors;
mod ssa;
mod status;
mod store;
mod validate;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use faults::{Fault, Faults};
pub use normalize::canonical_quantity;
pub use requests::{RequestCounts, Verb};

/// Errors starting the emulator or building a client for it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the loopback listener failed.
    #[error("cannot bind the emulator on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// The listener's URL did not parse as a URI (should not happen).
    #[error("invalid emulator URL {0}")]
    Url(String, #[source] hyper::http::uri::InvalidUri),
    /// `kube` could not build a client from the config.
    #[error("cannot build a kube client for the emulator")]
    Client(#[source] kube::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Knobs for [`Emulator::start_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How many change events are retained for watches; older resourceVersions get 410 Gone.
    pub watch_window: usize,
    /// How often a watch with `allowWatchBookmarks=true` gets a progress BOOKMARK.
    pub bookmark_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            watch_window: 10_000,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

/// A running emulated API server. Dropping it stops the server (open connections end when
/// their clients go away).
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<http::Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator with default [`Options`] on `127.0.0.1:<random port>`. Must be called
    /// inside a Tokio runtime; the server runs on that runtime.
    pub async fn start() -> Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts an emulator with the given options.
    pub async fn start_with(options: Options) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let store = Arc::new(Mutex::new(store::Store::new(options.watch_window)));
        let shared = Arc::new(http::Shared {
            faults: Faults::new(store.clone()),
            store,
            counters: requests::Counters::default(),
            server: addr.to_string(),
            bookmark_interval: options.bookmark_interval,
        });
        let (tx, rx) = oneshot::channel();
        tokio::spawn(http::serve(listener, shared.clone(), rx));
        Ok(Self {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `kube::Config` pointing at the emulator (default namespace `default`, no auth, no TLS).
    pub fn config(&self) -> Result<kube::Config> {
        let url = self.url();
        let uri = url.parse().map_err(|e| Error::Url(url, e))?;
        Ok(kube::Config::new(uri))
    }

    /// A real `kube::Client` talking HTTP to the emulator.
    pub fn client(&self) -> Result<kube::Client> {
        kube::Client::try_from(self.config()?).map_err(Error::Client)
    }

    /// A kubeconfig with one cluster, user and context (`emulator`) for the emulator, e.g. to
    /// write to a file for a CLI under test.
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        use kube::config::{
            AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
        };
        Kubeconfig {
            clusters: vec![NamedCluster {
                name: "emulator".into(),
                cluster: Some(Cluster {
                    server: Some(self.url()),
                    ..Default::default()
                }),
                other: Default::default(),
            }],
            auth_infos: vec![NamedAuthInfo {
                name: "emulator".into(),
                auth_info: Some(AuthInfo::default()),
                other: Default::default(),
            }],
            contexts: vec![NamedContext {
                name: "emulator".into(),
                context: Some(Context {
                    cluster: "emulator".into(),
                    user: Some("emulator".into()),
                    namespace: Some("default".into()),
                    ..Default::default()
                }),
                other: Default::default(),
            }],
            current_context: Some("emulator".into()),
            api_version: Some("v1".into()),
            kind: Some("Config".into()),
            ..Default::default()
        }
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Request counts per verb since start (or the last [`Emulator::reset_requests`]).
    pub fn requests(&self) -> RequestCounts {
        self.shared.counters.snapshot()
    }

    /// Sets all request counters to zero.
    pub fn reset_requests(&self) {
        self.shared.counters.reset();
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .resource_version()
    }

    /// How many objects are stored (including the four built-in namespaces).
    pub fn object_count(&self) -> usize {
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.shared.faults.restart();
    }
}
