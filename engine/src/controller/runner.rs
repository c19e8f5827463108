//! The controller loop: kube-runtime's `Controller` over SyncUnits, fed by
//! every trigger Plumbline knows.
//!
//! A SyncUnit is reconciled when
//! - its spec (generation), labels or finalizers change, it is being
//!   deleted (the `plumbline.dev/prune` finalizer then prunes), and once at
//!   start;
//! - its interval passes (each reconcile requeues itself);
//! - a managed object changes or is deleted and cannot be repaired on its
//!   own ([`super::drift_watch`] notices it, [`super::repair`] repairs
//!   it against the last reconcile's baseline when it can);
//! - a Git push webhook names its repository and ref;
//! - a ClusterSyncPolicy selecting it changes, or one that selected it
//!   changes so that it does not any more (by its labels or, with a
//!   `clusterSelector`, by its registered cluster's labels);
//! - a SyncUnit it depends on becomes Ready.
//!
//! Status writes do not trigger reconciles (the SyncUnit watch is filtered
//! on generation and labels). kube-runtime runs at most one reconcile per
//! SyncUnit at a time and merges triggers that arrive meanwhile.
//!
//! [`Controller::run`] returns after `shutdown` resolves and every
//! reconcile in flight has finished: no apply is cut off half-way, and the
//! next replica resumes from the status and inventory in the cluster.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::Api;
use kube::runtime::controller::Config;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, PredicateConfig, WatchStreamExt};
use kube::ResourceExt;
use tokio::sync::{mpsc, watch};

use super::clusters::{Clusters, REGISTRATION_LABEL, REGISTRATION_VALUE};
use super::crd::{ClusterSyncPolicy, SyncUnit};
use super::drift_watch::DriftWatch;
use super::events::Events;
use super::metrics::Metrics;
use super::reconciler::{self, Backoff, Context};
use super::repair::{self, Baselines, Noticed};
use super::shard::Shard;
use super::sync_unit::{policy_selects, selects, Access};
use super::webhook::GitPush;
use crate::apply;
use crate::policy::PolicyHost;
use crate::source::GitRef;

/// How the controller runs. Every reconcile sees them as
/// [`Context::options`](reconciler::Context::options).
pub struct Options {
    /// The client configuration, to impersonate syncs' service accounts;
    /// `None` refuses SyncUnits that set `serviceAccountName`.
    pub config: Option<kube::Config>,
    /// Loads and runs policies.
    pub host: PolicyHost,
    /// Git cache, downloaded modules and credential files.
    pub cache_dir: PathBuf,
    /// Namespace of the inventory ConfigMaps (the controller's own).
    pub inventory_namespace: String,
    /// Which URLs SyncUnits may name; module download limits.
    pub access: Access,
    /// How objects are applied.
    pub apply: apply::Options,
    /// Which SyncUnits this replica reconciles.
    pub shard: Shard,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The name of this replica in Events (its pod name).
    pub instance: Option<String>,
    /// SyncUnits reconciled at once.
    pub concurrency: u16,
    /// SyncUnits reconciled at once into one registered cluster (see
    /// [`super::clusters`]), so one cluster cannot take every slot.
    pub per_cluster_concurrency: u16,
    /// First retry delay after a failure; doubles up to the interval.
    pub retry_base: Duration,
}

impl Options {
    /// Defaults: all SyncUnits, inventories in `plumbline-system`, four
    /// reconciles at once, retries from 5 s.
    pub fn new(host: PolicyHost, cache_dir: PathBuf, metrics: Arc<Metrics>) -> Self {
        Options {
            config: None,
            host,
            cache_dir,
            inventory_namespace: "plumbline-system".into(),
            access: Access::default(),
            apply: apply::Options::default(),
            shard: Shard::All,
            metrics,
            instance: None,
            concurrency: 4,
            per_cluster_concurrency: 2,
            retry_base: Duration::from_secs(5),
        }
    }
}

/// The controller of one replica.
pub struct Controller {
    client: kube::Client,
    options: Options,
    webhook: Option<mpsc::Receiver<GitPush>>,
}

impl Controller {
    /// A controller talking through `client`.
    pub fn new(client: kube::Client, options: Options) -> Self {
        Controller {
            client,
            options,
            webhook: None,
        }
    }

    /// Also reconcile the SyncUnits following the repository and ref of
    /// each Git push received from the webhook endpoint.
    #[must_use]
    pub fn with_webhook(mut self, pushes: mpsc::Receiver<GitPush>) -> Self {
        self.webhook = Some(pushes);
        self
    }

    /// Reconcile until `shutdown` resolves, then finish the reconciles in
    /// flight and return.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
        let Controller {
            client,
            options,
            webhook,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (trigger_tx, mut trigger_rx) = mpsc::unbounded_channel::<ObjectRef<SyncUnit>>();
        let (noticed_tx, noticed_rx) = mpsc::unbounded_channel::<Noticed>();

        let mut watch_config = watcher::Config::default();
        if let Some(selector) = options.shard.label_selector() {
            watch_config = watch_config.labels(&selector);
        }
        let (reader, writer) = reflector::store();
        let sync_units = reflector::reflector(
            writer,
            watcher(Api::<SyncUnit>::all(client.clone()), watch_config),
        )
        .default_backoff()
        .applied_objects()
        .predicate_filter(spec_or_labels, PredicateConfig::default());

        if let Some(pushes) = webhook {
            tokio::spawn(forward_pushes(
                pushes,
                reader.clone(),
                trigger_tx.clone(),
                stop_rx.clone(),
            ));
        }
        let concurrency = options.concurrency;
        let clusters = Clusters::new(
            client.clone(),
            &options.inventory_namespace,
            usize::from(options.per_cluster_concurrency),
            noticed_tx.clone(),
            stop_rx.clone(),
        );
        let registrations = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(
            client.clone(),
            &options.inventory_namespace,
        );
        let context = Arc::new(Context {
            client: client.clone(),
            events: Events::new(client.clone(), options.instance.clone()),
            drift: DriftWatch::new(client.clone(), noticed_tx, stop_rx.clone()),
            triggers: trigger_tx,
            store: reader.clone(),
            backoff: Backoff::new(options.retry_base),
            baselines: Baselines::default(),
            clusters,
            options,
        });
        let repairs = repair::run(context.clone(), noticed_rx, stop_rx.clone());
        let fan_out = tokio::spawn(super::fleet::run(
            client.clone(),
            context.options.inventory_namespace.clone(),
            stop_rx.clone(),
        ));

        let selections = Selections::new(reader.clone(), context.clone());
        let targeting = reader.clone();
        let triggers = futures_util::stream::poll_fn(move |cx| trigger_rx.poll_recv(cx));
        kube::runtime::Controller::for_stream(sync_units, reader)
            .with_config(Config::default().concurrency(concurrency))
            .watches(
                Api::<ClusterSyncPolicy>::all(client),
                watcher::Config::default(),
                move |policy: ClusterSyncPolicy| selections.update(&policy),
            )
            // A registration registered, rotated or removed: its SyncUnits
            // reconnect (or report why they cannot) at once.
            .watches(
                registrations,
                watcher::Config::default()
                    .labels(&format!("{REGISTRATION_LABEL}={REGISTRATION_VALUE}")),
                move |secret: k8s_openapi::api::core::v1::Secret| {
                    syncing_into(&targeting, &secret.name_any())
                },
            )
            .reconcile_on(triggers)
            .graceful_shutdown_on(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing the reconciles in flight");
                let _ = stop_tx.send(true);
            })
            .run(reconciler::reconcile, reconciler::error_policy, context)
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "controller");
                }
            })
            .await;
        // The repair in flight, if any, finishes like a reconcile does.
        let _ = repairs.await;
        let _ = fan_out.await;
    }
}

/// Reconcile on spec (generation), label, finalizer and deletion changes
/// only, not on status writes.
fn spec_or_labels(object: &SyncUnit) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    object.metadata.generation.hash(&mut hasher);
    object.labels().hash(&mut hasher);
    object.finalizers().hash(&mut hasher);
    object
        .metadata
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// Each ClusterSyncPolicy as last seen, so a change also reconciles the
/// SyncUnits it no longer selects (a narrowed selector releases them from
/// the policy at once), SyncUnits created since it was last seen included.
struct Selections {
    store: Store<SyncUnit>,
    context: Arc<Context>,
    last: Mutex<HashMap<String, ClusterSyncPolicy>>,
}

impl Selections {
    fn new(store: Store<SyncUnit>, context: Arc<Context>) -> Self {
        Selections {
            store,
            context,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `policy` selects `unit`. A SyncUnit into a registered
    /// cluster that is not connected has no known cluster labels: it counts
    /// as selected when its own labels match, and its reconcile decides.
    fn selects(&self, policy: &ClusterSyncPolicy, unit: &SyncUnit) -> bool {
        match &unit.spec.cluster {
            None => policy_selects(policy, unit.labels(), None),
            Some(name) => match self.context.clusters.labels(name) {
                Some(labels) => policy_selects(policy, unit.labels(), Some(&labels)),
                None => selects(policy.spec.sync_selector.as_ref(), unit.labels()),
            },
        }
    }

    /// The SyncUnits to reconcile after `policy` changed (or was deleted):
    /// those it selects now and those it selected as it was before.
    fn update(&self, policy: &ClusterSyncPolicy) -> HashSet<ObjectRef<SyncUnit>> {
        let before = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(policy.name_any(), policy.clone());
        self.store
            .state()
            .iter()
            .filter(|unit| {
                self.selects(policy, unit)
                    || before
                        .as_ref()
                        .is_some_and(|before| self.selects(before, unit))
            })
            .map(|unit| ObjectRef::from_obj(&**unit))
            .collect()
    }
}

/// The SyncUnits that sync into the registered cluster `name`.
fn syncing_into(store: &Store<SyncUnit>, name: &str) -> Vec<ObjectRef<SyncUnit>> {
    store
        .state()
        .iter()
        .filter(|unit| unit.spec.cluster.as_deref() == Some(name))
        .map(|unit| ObjectRef::from_obj(&**unit))
        .collect()
}

/// Turn webhook pushes into triggers of the SyncUnits following the
/// pushed repository and ref.
async fn forward_pushes(
    mut pushes: mpsc::Receiver<GitPush>,
    store: Store<SyncUnit>,
    triggers: mpsc::UnboundedSender<ObjectRef<SyncUnit>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let push = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            push = pushes.recv() => match push {
                Some(push) => push,
                None => return,
            },
        };
        for unit in store.state() {
            let reference = unit
                .spec
                .source
                .reference
                .clone()
                .unwrap_or_else(|| GitRef::Branch("main".into()));
            if push.affects(&unit.spec.source.url, &reference) {
                tracing::info!(syncunit = %unit.name_any(), reference = %push.reference, "Git push");
                let _ = triggers.send(ObjectRef::from_obj(&*unit));
            }
        }
    }
}
