//! Fixtures for controller tests: the reconcile world (a real Git
//! repository, an API server — real or emulated, see `server_support` — and
//! a policy host) with Plumbline's CRDs installed, and controllers run
//! in-process against it, stopped gracefully.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::CustomResourceExt;
use plumbline::controller::crd::{ClusterSyncPolicy, SyncUnit};
use plumbline::controller::metrics::Metrics;
use plumbline::controller::runner::{Controller, Options};
use plumbline::controller::sync_unit::Access;
use plumbline::controller::webhook::GitPush;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::reconcile_support::World;
use crate::server_support::Server;

/// A ConfigMap manifest labelled `team: shop` whose `data.mode` is `mode`.
pub fn config_map(name: &str, mode: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{team: shop}}\ndata:\n  mode: {mode}\n"
    )
}

/// How long a test waits for something the controller should do before it
/// fails (a guard against hanging, not a performance assertion).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A reconcile world with the CRDs installed.
pub struct Fixture {
    pub world: World,
}

impl Fixture {
    /// A fixture on the emulator (for fault injection and request counts).
    pub async fn new() -> Self {
        Self::on(Server::emulator().await).await
    }

    /// A fixture on the given server.
    pub async fn on(server: Server) -> Self {
        let world = World::on(server);
        let crds: Api<CustomResourceDefinition> = Api::all(world.client());
        for crd in [SyncUnit::crd(), ClusterSyncPolicy::crd()] {
            let name = crd.metadata.name.clone().unwrap();
            crds.create(&PostParams::default(), &crd).await.unwrap();
            wait_until_established(&crds, &name).await;
        }
        let fixture = Fixture { world };
        // Where the tests' syncs put their objects.
        for namespace in ["shop", "lax"] {
            fixture.ensure_namespace(namespace).await;
        }
        fixture
    }

    pub fn client(&self) -> kube::Client {
        self.world.client()
    }

    /// Start a controller for every SyncUnit.
    pub fn start(&self) -> Running {
        self.start_with(|_| {})
    }

    /// Start a controller with changed options.
    pub fn start_with(&self, change: impl FnOnce(&mut Options)) -> Running {
        let client = self.world.server.counting_client(&self.world.requests);
        self.launch(client, self.world.server.config(), change, None)
    }

    /// Start a controller for every SyncUnit that also takes Git pushes
    /// from `pushes`, as from its webhook endpoint.
    pub fn start_with_webhook(&self, pushes: mpsc::Receiver<GitPush>) -> Running {
        let client = self.world.server.counting_client(&self.world.requests);
        self.launch(client, self.world.server.config(), |_| {}, Some(pushes))
    }

    /// Start a controller that talks to the API server as `client` (and
    /// impersonates syncs' service accounts with `config`), e.g. with the
    /// token of the controller's own service account.
    pub fn start_as(
        &self,
        client: kube::Client,
        config: kube::Config,
        change: impl FnOnce(&mut Options),
    ) -> Running {
        self.launch(client, config, change, None)
    }

    fn launch(
        &self,
        client: kube::Client,
        config: kube::Config,
        change: impl FnOnce(&mut Options),
        pushes: Option<mpsc::Receiver<GitPush>>,
    ) -> Running {
        let metrics = Arc::new(Metrics::new());
        let mut options = Options::new(
            self.world.host.clone(),
            self.world.scratch.path().join("controller"),
            Arc::clone(&metrics),
        );
        options.config = Some(config);
        options.retry_base = Duration::from_millis(500);
        // The tests' repositories and modules are local files.
        options.access = Access::new(true);
        change(&mut options);
        let mut controller = Controller::new(client, options);
        if let Some(pushes) = pushes {
            controller = controller.with_webhook(pushes);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(controller.run(async move {
            let _ = stopped.await;
        }));
        Running {
            stop: Some(stop),
            task,
            metrics,
        }
    }

    /// Create a namespace unless it exists.
    pub async fn ensure_namespace(&self, name: &str) {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client());
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        apply(&api, name, &namespace).await;
    }

    /// Create or replace a SyncUnit in `namespace` from its spec.
    pub async fn put_sync_unit(&self, namespace: &str, name: &str, spec: Value) {
        self.ensure_namespace(namespace).await;
        let api: Api<SyncUnit> = Api::namespaced(self.client(), namespace);
        let object = json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec,
        });
        api.patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap();
    }

    /// Merge-patch a SyncUnit's spec.
    pub async fn patch_spec(&self, namespace: &str, name: &str, spec: Value) {
        let api: Api<SyncUnit> = Api::namespaced(self.client(), namespace);
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
        .unwrap();
    }

    /// Poll until `check` holds for the SyncUnit; returns it.
    pub async fn wait_for_unit(
        &self,
        namespace: &str,
        name: &str,
        what: &str,
        check: impl Fn(&SyncUnit) -> bool,
    ) -> SyncUnit {
        let api: Api<SyncUnit> = Api::namespaced(self.client(), namespace);
        let started = Instant::now();
        loop {
            let unit = api.get_opt(name).await.unwrap();
            if let Some(unit) = &unit {
                if check(unit) {
                    return unit.clone();
                }
            }
            if started.elapsed() > PATIENCE {
                let status = unit.map(|u| serde_json::to_string_pretty(&u.status).unwrap());
                panic!(
                    "SyncUnit {namespace}/{name} never became {what}; status: {}",
                    status.as_deref().unwrap_or("(no such SyncUnit)")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Poll until the SyncUnit is `Ready=False` with `reason`; returns the
    /// condition's message.
    pub async fn wait_for_reason(&self, namespace: &str, name: &str, reason: &str) -> String {
        let unit = self
            .wait_for_unit(namespace, name, reason, |unit| {
                ready(unit).is_some_and(|(status, found)| status == "False" && found == reason)
            })
            .await;
        ready_message(&unit)
    }

    /// Poll until `check` holds for an object read as JSON (`None` when
    /// it does not exist); returns how long it took.
    pub async fn wait_for_object<K>(
        &self,
        api: &Api<K>,
        name: &str,
        what: &str,
        check: impl Fn(Option<&Value>) -> bool,
    ) -> Duration
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let started = Instant::now();
        loop {
            let object = api
                .get_opt(name)
                .await
                .unwrap()
                .map(|o| serde_json::to_value(o).unwrap());
            if check(object.as_ref()) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{name} never became {what}: {object:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Events about an object, as `(reason, note)`.
    /// Poll until an Event with `reason` about the object exists (the
    /// controller publishes Events after the status that caused them);
    /// returns every Event about it, as [`Fixture::events`].
    pub async fn wait_for_event(
        &self,
        namespace: &str,
        name: &str,
        reason: &str,
    ) -> Vec<(String, String)> {
        let started = Instant::now();
        loop {
            let events = self.events(namespace, name).await;
            if events.iter().any(|(found, _)| found == reason) {
                return events;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no {reason} Event about {namespace}/{name}: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn events(&self, namespace: &str, name: &str) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client(), namespace);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }
}

/// A real API server serves a new CRD's resources only once it is Established.
async fn wait_until_established(crds: &Api<CustomResourceDefinition>, name: &str) {
    let started = Instant::now();
    loop {
        let crd = crds.get(name).await.unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "CRD {name} never became Established"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running controller.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    pub metrics: Arc<Metrics>,
}

impl Running {
    /// Reconciles that ended with `result` (synced, blocked, failed), from
    /// the metrics.
    pub fn reconciles(&self, result: &str) -> u64 {
        self.count("plumbline_reconcile_duration_seconds_count", result)
    }

    /// Single objects repaired without a full reconcile that ended with
    /// `result` (synced, failed), from the metrics.
    pub fn repairs(&self, result: &str) -> u64 {
        self.count("plumbline_drift_repair_duration_seconds_count", result)
    }

    fn count(&self, metric: &str, result: &str) -> u64 {
        let wanted = format!("{metric}{{result=\"{result}\"}}");
        self.metrics
            .encode()
            .lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Ask for a graceful shutdown and wait for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("the controller did not shut down")
            .unwrap();
    }
}

/// A child process killed if the test fails before it ends.
pub struct KillOnDrop(pub Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `Ready` condition's status and reason.
pub fn ready(unit: &SyncUnit) -> Option<(String, String)> {
    condition(unit, "Ready")
}

/// A condition's status and reason.
pub fn condition(unit: &SyncUnit, type_: &str) -> Option<(String, String)> {
    let status = unit.status.as_ref()?;
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// The `Ready` condition's message; empty when there is no such condition.
pub fn ready_message(unit: &SyncUnit) -> String {
    let status = unit.status.as_ref();
    let ready = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    ready.map(|c| c.message.clone()).unwrap_or_default()
}

/// Ready for the generation it has now.
pub fn is_ready(unit: &SyncUnit) -> bool {
    plumbline::controller::reconciler::is_ready(unit)
}

/// A SyncUnit spec for a path of the fixture repository, polling Git only
/// hourly (so anything sooner is a watch or a trigger).
pub fn spec_for(url: &str, path: &str, extra: Value) -> Value {
    let mut spec = json!({
        "source": {"url": url, "ref": {"branch": "main"}, "path": path},
        "interval": "1h",
        "targetNamespace": "shop",
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

/// `data.mode` of a ConfigMap read as JSON (see [`config_map`]).
pub fn mode(object: Option<&Value>) -> Option<&str> {
    object?["data"]["mode"].as_str()
}

/// `data.mode` of a ConfigMap (see [`config_map`]).
pub fn mode_of(config_map: &ConfigMap) -> Option<&str> {
    config_map.data.as_ref()?.get("mode").map(String::as_str)
}

/// Server-side apply `object` as `name` through `api`, as field manager
/// `test`; panics if the server refuses it.
pub async fn apply<K>(api: &Api<K>, name: &str, object: &Value)
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply("test"), &Patch::Apply(object))
        .await
        .unwrap();
}
