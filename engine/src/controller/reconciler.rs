//! One reconcile of one SyncUnit, as kube-runtime's controller calls it.
//!
//! In: the SyncUnit and the shared [`Context`]. Out: the next
//! [`Action`] (requeue after the interval, or sooner with backoff after a
//! failure). IO: reads dependencies, ClusterSyncPolicies and the inventory;
//! runs [`crate::reconcile::reconcile`]; writes the status (only when it
//! changed, so a steady state costs no writes) and Events; tells the drift
//! watch which kinds the sync manages; triggers dependents once Ready.
//!
//! Order of checks: not this replica's shard → nothing; with `prune`, the
//! `plumbline.dev/prune` finalizer is added first, and a SyncUnit being
//! deleted has its objects and inventory pruned ([`super::cleanup`]) before
//! the finalizer is released; `suspend` → record that and stop; a
//! `dependsOn` chain back to itself → Stalled (`DependencyCycle`); a
//! `dependsOn` not Ready → wait; then resolve and reconcile.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, finalizer, Event as FinalizerEvent};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::cleanup;
use super::clusters::{self, Clusters, Target};
use super::crd::{ClusterSyncPolicy, SyncUnit, SyncUnitStatus};
use super::drift_watch::DriftWatch;
use super::events::Events;
use super::remote::{self, Reach};
use super::repair::{Baselines, Held};
use super::runner::Options;
use super::status::{self, Verdict};
use super::sync_unit::{self, Resolver};
use crate::apply::{inventory_store, Cluster};
use crate::reconcile::{self, Baseline, Status};

/// Errors that end a reconcile early; kube-runtime's error policy retries
/// them with backoff. Failures of the sync itself (fetch, render, apply)
/// are not errors here: they are reported in the status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SyncUnit has no namespace (the CRD is namespaced; should not
    /// happen).
    #[error("SyncUnit {0} has no namespace")]
    NoNamespace(String),
    /// Reading or writing through the API failed. Retryable.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The reconcile panicked (a bug); retried with backoff.
    #[error("the reconcile panicked: {0}")]
    Panicked(String),
    /// Adding or removing the prune finalizer failed in a way that is not
    /// an API error (kube-runtime's finalizer helper).
    #[error("the finalizer {PRUNE_FINALIZER}: {0}")]
    Finalizer(String),
    /// Pruning a deleted SyncUnit's objects failed; the finalizer stays.
    #[error("pruning the objects of the deleted sync {sync}: {source}")]
    Cleanup {
        /// The sync.
        sync: String,
        /// What failed.
        #[source]
        source: cleanup::Error,
    },
    /// A client impersonating the sync's service account could not be built.
    #[error("impersonating {account}: {source}")]
    Impersonate {
        /// The service account.
        account: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The SyncUnit's registered cluster cannot be used.
    #[error(transparent)]
    Cluster(#[from] clusters::Error),
}

impl Error {
    /// A short machine-readable reason, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NoNamespace(_) => "NoNamespace",
            Error::Kube { .. } => "ApiFailed",
            Error::Impersonate { .. } => "ImpersonationFailed",
            Error::Panicked(_) => "Panicked",
            Error::Finalizer(_) => "FinalizerFailed",
            Error::Cleanup { .. } => "CleanupFailed",
            Error::Cluster(error) => error.reason(),
        }
    }
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything reconciles share: the controller's [`Options`] and what
/// the controller built from them.
pub struct Context {
    /// The controller's own client.
    pub client: kube::Client,
    /// How the controller runs (policy host, cache, inventory namespace,
    /// access, apply options, shard, metrics, ...).
    pub options: Options,
    /// Event publisher.
    pub events: Events,
    /// Watches of managed objects.
    pub drift: DriftWatch,
    /// Ask for a SyncUnit to be reconciled (dependents, once Ready).
    pub triggers: mpsc::UnboundedSender<ObjectRef<SyncUnit>>,
    /// The controller's cache of SyncUnits.
    pub store: Store<SyncUnit>,
    /// Consecutive failures per SyncUnit, for retry delays.
    pub backoff: Backoff,
    /// What each SyncUnit's last successful reconcile left for repairs of
    /// single drifted objects ([`super::repair`]).
    pub baselines: Baselines,
    /// The registered clusters SyncUnits sync into (`spec.cluster`).
    pub clusters: Clusters,
}

impl Context {
    /// The delay before retrying a failing SyncUnit (counting the failure).
    pub(super) fn backoff(&self, object: &ObjectRef<SyncUnit>, interval: Duration) -> Duration {
        self.backoff
            .failed(object, interval, |unit| self.store.get(unit).is_some())
    }

    /// The SyncUnit's failures are over: the next one waits the least.
    pub(super) fn succeeded(&self, object: &ObjectRef<SyncUnit>) {
        self.backoff.reset(object);
    }
}

/// Consecutive failures per SyncUnit: retry `n` (1-based) waits
/// `base * 2^(n-1)`, at most the SyncUnit's interval.
pub struct Backoff {
    base: Duration,
    failures: Mutex<HashMap<ObjectRef<SyncUnit>, u32>>,
}

impl Backoff {
    /// No failures yet; the first retry waits `base`.
    pub fn new(base: Duration) -> Self {
        Backoff {
            base,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Count a failure of `unit` and return the delay before its retry.
    /// The counts of SyncUnits for which `exists` is false (deleted ones)
    /// are dropped meanwhile.
    pub fn failed(
        &self,
        unit: &ObjectRef<SyncUnit>,
        interval: Duration,
        exists: impl Fn(&ObjectRef<SyncUnit>) -> bool,
    ) -> Duration {
        let mut failures = self.failures();
        failures.retain(|other, _| other == unit || exists(other));
        let n = failures.entry(unit.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let factor = 2u32.saturating_pow((*n - 1).min(16));
        self.base.saturating_mul(factor).min(interval)
    }

    /// Forget the failures of `unit`.
    pub fn reset(&self, unit: &ObjectRef<SyncUnit>) {
        self.failures().remove(unit);
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<SyncUnit>, u32>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reconcile one SyncUnit. (Boxed: the future's `Send` is then checked
/// here, where rustc can prove it, rather than inside kube-runtime.)
pub fn reconcile(
    object: Arc<SyncUnit>,
    ctx: Arc<Context>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Action>> + Send>> {
    Box::pin(reconcile_unit(object, ctx))
}

/// The finalizer that prunes a deleted SyncUnit's objects.
pub const PRUNE_FINALIZER: &str = "plumbline.dev/prune";

async fn reconcile_unit(object: Arc<SyncUnit>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.options.shard.owns(&object.metadata) {
        return Ok(Action::await_change());
    }
    let has_finalizer = object.finalizers().iter().any(|f| f == PRUNE_FINALIZER);
    if !object.spec.sync.prune && !has_finalizer {
        if object.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        return apply_unit(object, ctx).await;
    }
    let namespace = object
        .namespace()
        .ok_or_else(|| Error::NoNamespace(object.name_any()))?;
    let api: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), &namespace);
    boxed(finalizer(
        &api,
        PRUNE_FINALIZER,
        object,
        |event| async move {
            match event {
                FinalizerEvent::Apply(object) => apply_unit(object, ctx).await,
                FinalizerEvent::Cleanup(object) => clean_up(object, ctx).await,
            }
        },
    ))
    .await
    .map_err(|error| match error {
        finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => error,
        finalizer::Error::AddFinalizer(source) => Error::Kube {
            what: format!("adding the finalizer {PRUNE_FINALIZER}"),
            source,
        },
        finalizer::Error::RemoveFinalizer(source) => Error::Kube {
            what: format!("removing the finalizer {PRUNE_FINALIZER}"),
            source,
        },
        other => Error::Finalizer(other.to_string()),
    })
}

/// The SyncUnit is being deleted: prune its objects and inventory unless
/// it is suspended or does not prune. An error keeps the finalizer (and
/// is retried with backoff); it is reported in an Event and the status.
async fn clean_up(object: Arc<SyncUnit>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = object
        .namespace()
        .ok_or_else(|| Error::NoNamespace(object.name_any()))?;
    let name = object.name_any();
    let reference = object_reference(&object);
    ctx.baselines.forget(&ObjectRef::from_obj(&*object));
    let why_not = if object.spec.suspend {
        Some("spec.suspend is true")
    } else if !object.spec.sync.prune {
        Some("spec.prune is false")
    } else {
        None
    };
    let sync = sync_unit::sync_name(&namespace, &name).ok();
    let (Some(sync), None) = (sync, why_not) else {
        let why = why_not.unwrap_or("its name never was a valid sync name");
        let message = format!("deleted: its objects are left in the cluster ({why})");
        boxed(ctx.events.notice(&reference, "Orphaned", &message)).await;
        return Ok(Action::await_change());
    };
    let target = match boxed(remote::client_for_cleanup(&ctx, &object)).await {
        Ok(target) => target,
        // A deregistered cluster is gone for this controller: its objects
        // are left there (nothing is pruned because a connection is
        // missing), and the SyncUnit goes.
        Err(error @ clusters::Error::NotRegistered { .. }) => {
            let message = format!("deleted: its objects are left in the cluster ({error})");
            boxed(ctx.events.notice(&reference, "Orphaned", &message)).await;
            return Ok(Action::await_change());
        }
        Err(error) => {
            // The finalizer stays; the cleanup is retried with backoff.
            let previous = object.status.clone().unwrap_or_default();
            boxed(remote::record_failure(&ctx, &object, &previous, &error)).await?;
            return Err(error.into());
        }
    };
    let cluster = cluster_for(&ctx, &object, &namespace, target.as_deref())?;
    let pruned = run_cleanup(
        cluster,
        ctx.options.inventory_namespace.clone(),
        sync.clone(),
    )
    .await
    .map_err(|e| Error::Panicked(e.to_string()))?;
    let released = match (&pruned, &target) {
        (Ok(_), Some(target)) => {
            boxed(target.release(&ctx.options.inventory_namespace, &sync)).await
        }
        _ => Ok(()),
    };
    if let Err(error) = released {
        boxed(remote::record_failure(
            &ctx,
            &object,
            &object.status.clone().unwrap_or_default(),
            &error,
        ))
        .await?;
        return Err(error.into());
    }
    match pruned {
        Ok(deleted) => {
            let message = format!("deleted: pruned its {deleted} object(s) and its inventory");
            boxed(ctx.events.notice(&reference, "Pruned", &message)).await;
            ctx.succeeded(&ObjectRef::from_obj(&*object));
            Ok(Action::await_change())
        }
        Err(error) => {
            let message = format!("pruning the deleted SyncUnit's objects: {error}");
            let previous = object.status.clone().unwrap_or_default();
            let verdict = Verdict::progressing("CleanupFailed", message.clone());
            let next = status::with_verdict(
                &previous,
                &verdict,
                object.metadata.generation,
                &status::now(),
            );
            if status::changed(&previous, &next) {
                let api: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), &namespace);
                write_status(&api, &name, &previous, &next).await?;
            }
            boxed(ctx.events.failure(&reference, "CleanupFailed", &message)).await;
            Err(Error::Cleanup {
                sync,
                source: error,
            })
        }
    }
}

/// Reconcile a SyncUnit that is not being deleted.
async fn apply_unit(object: Arc<SyncUnit>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = object
        .namespace()
        .ok_or_else(|| Error::NoNamespace(object.name_any()))?;
    let name = object.name_any();
    let me = ObjectRef::from_obj(&*object);
    let api: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), &namespace);
    let previous = object.status.clone().unwrap_or_default();
    let generation = object.metadata.generation;
    let interval = sync_unit::parse_interval(&object.spec.interval).unwrap_or(DEFAULT_INTERVAL);

    if object.spec.suspend {
        ctx.baselines.forget(&me);
        let mut next = previous.clone();
        next.observed_generation = generation;
        set_condition(
            &mut next,
            status::RECONCILING,
            "False",
            "Suspended",
            "spec.suspend is true: not reconciling",
        );
        if status::changed(&previous, &next) {
            write_status(&api, &name, &previous, &next).await?;
            boxed(ctx.events.notice(
                &object_reference(&object),
                "Suspended",
                "spec.suspend is true",
            ))
            .await;
        }
        return Ok(Action::await_change());
    }

    if let Some(cycle) = boxed(dependency_cycle(&ctx, &object, &namespace)).await? {
        let message = format!("dependsOn leads back to itself: {}", cycle.join(" -> "));
        let verdict = Verdict::stalled("DependencyCycle", message.clone());
        let next = status::with_verdict(&previous, &verdict, generation, &status::now());
        if status::changed(&previous, &next) {
            write_status(&api, &name, &previous, &next).await?;
            boxed(
                ctx.events
                    .failure(&object_reference(&object), "DependencyCycle", &message),
            )
            .await;
            // The other members find the cycle now rather than at their
            // next dependency recheck.
            for member in &cycle {
                if let Some((ns, other)) = member.split_once('/') {
                    if (ns, other) != (namespace.as_str(), name.as_str()) {
                        let _ = ctx.triggers.send(ObjectRef::new(other).within(ns));
                    }
                }
            }
        }
        // Fixed by editing any member's dependsOn, which reconciles only
        // that member: look again as a waiting unit does.
        return Ok(Action::requeue(DEPENDENCY_RECHECK.min(interval)));
    }

    if let Some(waiting) = unready_dependency(&ctx, &object, &namespace).await? {
        let verdict = Verdict::progressing("DependencyNotReady", waiting);
        let next = status::with_verdict(&previous, &verdict, generation, &status::now());
        if status::changed(&previous, &next) {
            write_status(&api, &name, &previous, &next).await?;
        }
        // Dependencies trigger their dependents when they become Ready; the
        // requeue only covers a dependency that is created later.
        return Ok(Action::requeue(DEPENDENCY_RECHECK.min(interval)));
    }

    // A registered cluster is reached before anything is fetched or
    // applied, so a connection fault prunes nothing.
    let (target, _slot) = match boxed(remote::reach(&ctx, &object)).await {
        Reach::Local => (None, None),
        Reach::Remote(target, slot) => (Some(target), Some(slot)),
        Reach::Busy => return Ok(Action::requeue(remote::BUSY_RETRY)),
        Reach::Failed(error) => {
            return boxed(remote::report_failure(
                &ctx, &object, &previous, interval, &error,
            ))
            .await
        }
    };

    let started = Instant::now();
    let mut previous = previous;
    if previous.observed_generation != generation {
        let verdict = Verdict::progressing(
            "Progressing",
            format!("reconciling generation {}", generation.unwrap_or_default()),
        );
        let next = status::with_verdict(&previous, &verdict, generation, &status::now());
        write_status(&api, &name, &previous, &next).await?;
        previous = next;
    }

    // Repairs of single objects wait for this reconcile, whose baseline
    // replaces the one they would use.
    let mut held = ctx.baselines.slot(&me).lock_owned().await;
    let last_baseline = held.take().map(|held| held.baseline);
    let cluster_policies = list_cluster_policies(&ctx).await?;
    let resolver = Resolver {
        client: &ctx.client,
        host: &ctx.options.host,
        cache_dir: &ctx.options.cache_dir,
        inventory_namespace: &ctx.options.inventory_namespace,
        access: &ctx.options.access,
    };
    let cluster_labels = target.as_ref().map(|target| &target.registration.labels);
    let resolved = match boxed(resolver.resolve(&object, &cluster_policies, cluster_labels)).await {
        Ok(resolved) => resolved,
        Err(error) => {
            tracing::warn!(syncunit = %me, %error, "cannot resolve the SyncUnit");
            ctx.options
                .metrics
                .record_reconcile_error(started.elapsed());
            if let Some(reason) = error.unverified_reason() {
                ctx.options.metrics.record_unverified(reason);
            }
            let message = error.to_string();
            let verdict = if error.is_retryable() {
                Verdict::progressing(error.reason(), message.clone())
            } else {
                Verdict::stalled(error.reason(), message.clone())
            };
            let mut next = status::with_verdict(&previous, &verdict, generation, &status::now());
            next.last_reconcile_time = Some(status::now());
            if status::changed(&previous, &next) {
                write_status(&api, &name, &previous, &next).await?;
                boxed(
                    ctx.events
                        .failure(&object_reference(&object), error.reason(), &message),
                )
                .await;
            }
            return Ok(Action::requeue(if error.is_retryable() {
                ctx.backoff(&me, interval)
            } else {
                ctx.succeeded(&me);
                interval
            }));
        }
    };

    let cluster = cluster_for(&ctx, &object, &namespace, target.as_deref())?;
    let (report, baseline, cluster, resolved) = run_reconcile(
        resolved,
        cluster,
        ctx.options.cache_dir.join("git"),
        last_baseline,
    )
    .await
    .map_err(|e| Error::Panicked(e.to_string()))?;
    ctx.options
        .metrics
        .record_reconcile(&report, started.elapsed());
    tracing::info!(syncunit = %me, elapsed = ?started.elapsed(), "{report}");

    // The inventory as recorded: the baseline's, or read back after a
    // reconcile that left none.
    let loaded = match &baseline {
        Some(_) => None,
        None => inventory_store::load(
            &cluster,
            &ctx.options.inventory_namespace,
            resolved.unit.name(),
        )
        .await
        .ok()
        .map(|stored| stored.inventory),
    };
    let inventory = baseline
        .as_ref()
        .map(Baseline::inventory)
        .or(loaded.as_ref());
    let kinds: std::collections::BTreeSet<(String, String)> = inventory
        .iter()
        .flat_map(|inventory| &inventory.entries)
        .map(|(key, entry)| (entry.api_version.clone(), key.kind.clone()))
        .collect();
    let inventory_count = inventory.map(|inventory| inventory.entries.len() as u64);

    let verdict = Verdict::of_report(&report);
    let mut next = status::with_report(
        status::with_verdict(&previous, &verdict, generation, &status::now()),
        &report,
    );
    next.artifacts.clone_from(&resolved.artifacts);
    next.artifacts.extend(sync_unit::source_artifact(
        &resolved.unit,
        report.revision.as_deref(),
        &report.verified,
    ));
    if inventory_count.is_some() {
        next.inventory_count = inventory_count;
    }
    let changed = status::changed(&previous, &next);
    if changed {
        next.last_reconcile_time = Some(status::now());
        write_status(&api, &name, &previous, &next).await?;
    }
    boxed(ctx.events.report(
        &object_reference(&object),
        &report,
        previous.drift.as_ref(),
        changed,
    ))
    .await;

    *held = baseline.map(|baseline| Held {
        baseline,
        policies: resolved.policies,
        cluster,
        target: object.spec.cluster.clone(),
        generation,
        report: report.clone(),
    });
    drop(held);
    // Watches start once the baseline is in place: their first list is
    // checked against it.
    let (drift, watch_client) = match &target {
        Some(target) => (target.drift(), target.client()),
        None => (&ctx.drift, ctx.client.clone()),
    };
    let watcher = Cluster::new(watch_client, ctx.options.apply.clone());
    boxed(drift.ensure(&watcher, kinds.into_iter())).await;

    match report.status {
        Status::Synced => {
            ctx.succeeded(&me);
            trigger_dependents(&ctx, &object, &namespace);
            Ok(Action::requeue(interval))
        }
        Status::Failed if verdict.reconciling => Ok(Action::requeue(ctx.backoff(&me, interval))),
        // Stalled: nothing changes until the spec (which triggers a
        // reconcile) or the revision does. No retries; only the interval's
        // poll of Git (the failures before it are over).
        Status::Blocked | Status::Failed => {
            ctx.succeeded(&me);
            Ok(Action::requeue(interval))
        }
    }
}

/// What kube-runtime does after [`reconcile()`] returned an error: retry
/// with backoff.
pub fn error_policy(object: Arc<SyncUnit>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(syncunit = %object.name_any(), reason = error.reason(), %error, "reconcile failed");
    let interval = sync_unit::parse_interval(&object.spec.interval).unwrap_or(DEFAULT_INTERVAL);
    Action::requeue(ctx.backoff(&ObjectRef::from_obj(&*object), interval))
}

/// The interval used when the spec's is invalid (the status says so).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// How often a SyncUnit waiting for a missing dependency looks again.
const DEPENDENCY_RECHECK: Duration = Duration::from_secs(30);

/// The first dependency that is not Ready for its current generation, as a
/// message; read from the API, not the cache, so a dependency that just
/// became Ready is seen at once.
async fn unready_dependency(
    ctx: &Context,
    object: &SyncUnit,
    namespace: &str,
) -> Result<Option<String>> {
    for dependency in &object.spec.depends_on {
        let dep_namespace = dependency.namespace.as_deref().unwrap_or(namespace);
        let api: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), dep_namespace);
        let found = api
            .get_opt(&dependency.name)
            .await
            .map_err(|source| Error::Kube {
                what: format!("reading dependency {dep_namespace}/{}", dependency.name),
                source,
            })?;
        let Some(found) = found else {
            return Ok(Some(format!(
                "dependency SyncUnit {dep_namespace}/{} does not exist",
                dependency.name
            )));
        };
        if !is_ready(&found) {
            return Ok(Some(format!(
                "dependency SyncUnit {dep_namespace}/{} is not Ready",
                dependency.name
            )));
        }
    }
    Ok(None)
}

/// The shortest `dependsOn` chain from `object` back to itself, as
/// `namespace/name` steps starting and ending with it; `None` if there is
/// none. Read from the API (breadth-first), so a cycle closed a moment ago
/// is seen.
async fn dependency_cycle(
    ctx: &Context,
    object: &SyncUnit,
    namespace: &str,
) -> Result<Option<Vec<String>>> {
    let start = (namespace.to_owned(), object.name_any());
    let edges = |unit: &SyncUnit, unit_namespace: &str| -> Vec<(String, String)> {
        unit.spec
            .depends_on
            .iter()
            .map(|d| {
                let ns = d.namespace.as_deref().unwrap_or(unit_namespace);
                (ns.to_owned(), d.name.clone())
            })
            .collect()
    };
    // Each unit reached, with the unit it was reached from.
    let mut parent: HashMap<(String, String), (String, String)> = HashMap::new();
    let mut queue: std::collections::VecDeque<(String, String)> = std::collections::VecDeque::new();
    for next in edges(object, namespace) {
        if next == start {
            return Ok(Some(vec![path_step(&start), path_step(&start)]));
        }
        if !parent.contains_key(&next) {
            parent.insert(next.clone(), start.clone());
            queue.push_back(next);
        }
    }
    while let Some(current) = queue.pop_front() {
        let api: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), &current.0);
        let found = api
            .get_opt(&current.1)
            .await
            .map_err(|source| Error::Kube {
                what: format!("reading dependency {}/{}", current.0, current.1),
                source,
            })?;
        let Some(found) = found else { continue };
        for next in edges(&found, &current.0) {
            if next == start {
                let mut chain = vec![path_step(&start)];
                let mut at = current.clone();
                while at != start {
                    chain.push(path_step(&at));
                    match parent.get(&at) {
                        Some(previous) => at = previous.clone(),
                        None => break,
                    }
                }
                chain.push(path_step(&start));
                let last = chain.len() - 1;
                chain[1..last].reverse();
                return Ok(Some(chain));
            }
            if !parent.contains_key(&next) {
                parent.insert(next.clone(), current.clone());
                queue.push_back(next);
            }
        }
    }
    Ok(None)
}

fn path_step((namespace, name): &(String, String)) -> String {
    format!("{namespace}/{name}")
}

/// Ready for the generation it has now.
pub fn is_ready(object: &SyncUnit) -> bool {
    object.status.as_ref().is_some_and(|s| {
        s.observed_generation == object.metadata.generation
            && status::condition(s, status::READY).is_some_and(|c| c.status == "True")
    })
}

/// Ask for a reconcile of every cached SyncUnit that depends on `object`.
fn trigger_dependents(ctx: &Context, object: &SyncUnit, namespace: &str) {
    let name = object.name_any();
    for other in ctx.store.state() {
        let other_namespace = other.namespace().unwrap_or_default();
        let depends = other.spec.depends_on.iter().any(|d| {
            d.name == name && d.namespace.as_deref().unwrap_or(&other_namespace) == namespace
        });
        if depends {
            let _ = ctx.triggers.send(ObjectRef::from_obj(&*other));
        }
    }
}

async fn list_cluster_policies(ctx: &Context) -> Result<Vec<ClusterSyncPolicy>> {
    let api: Api<ClusterSyncPolicy> = Api::all(ctx.client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        // The CRD is optional: without it, no cluster-wide policies.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(source) => Err(Error::Kube {
            what: "listing ClusterSyncPolicies".into(),
            source,
        }),
    }
}

/// The cluster connection a sync applies through: the controller's own,
/// or one impersonating the sync's service account; on the registered
/// `target` when the SyncUnit names one.
fn cluster_for(
    ctx: &Context,
    object: &SyncUnit,
    namespace: &str,
    target: Option<&Target>,
) -> Result<Cluster> {
    let mut options = ctx.options.apply.clone();
    options.force_conflicts = object.spec.sync.force_conflicts;
    if let Some(target) = target {
        return Ok(remote::cluster_on(target, object, namespace, options)?);
    }
    let Some(account) = &object.spec.service_account_name else {
        return Ok(Cluster::new(ctx.client.clone(), options));
    };
    let user = format!("system:serviceaccount:{namespace}:{account}");
    let mut config = ctx
        .options
        .config
        .clone()
        .ok_or_else(|| Error::Impersonate {
            account: user.clone(),
            source: kube::Error::Service("no client configuration to impersonate with".into()),
        })?;
    config.auth_info.impersonate = Some(user.clone());
    let client = kube::Client::try_from(config).map_err(|source| Error::Impersonate {
        account: user,
        source,
    })?;
    Ok(Cluster::new(client, options))
}

/// Write the status with a JSON merge patch that also removes what the old
/// status had and the new one does not. (Owned inputs and a boxed future:
/// rustc cannot prove the borrowing version `Send` for kube-runtime.)
pub(super) fn write_status(
    api: &Api<SyncUnit>,
    name: &str,
    old: &SyncUnitStatus,
    new: &SyncUnitStatus,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>> {
    let old = serde_json::to_value(old).unwrap_or(Value::Null);
    let new = serde_json::to_value(new).unwrap_or(Value::Null);
    let patch = serde_json::json!({ "status": removing(&old, new) });
    let (api, name) = (api.clone(), name.to_owned());
    Box::pin(async move {
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|source| Error::Kube {
                what: format!("writing the status of SyncUnit {name}"),
                source,
            })?;
        Ok(())
    })
}

/// `new` with `null` for every key of `old` it lacks, so a merge patch
/// removes them (objects recursively; arrays are replaced whole).
fn removing(old: &Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(mut new)) => {
            for (key, old_value) in old {
                match new.remove(key) {
                    Some(value) => {
                        new.insert(key.clone(), removing(old_value, value));
                    }
                    None => {
                        new.insert(key.clone(), Value::Null);
                    }
                }
            }
            Value::Object(new)
        }
        (_, new) => new,
    }
}

fn set_condition(
    status: &mut SyncUnitStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
) {
    let now = status::now();
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(condition) => {
            if condition.status != value {
                condition.last_transition_time = now;
            }
            condition.status = value.into();
            condition.reason = reason.into();
            condition.message = message.into();
            condition.observed_generation = status.observed_generation;
        }
        None => status.conditions.push(Condition {
            type_: type_.into(),
            status: value.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
            observed_generation: status.observed_generation,
        }),
    }
}

fn object_reference(object: &SyncUnit) -> k8s_openapi::api::core::v1::ObjectReference {
    object.object_ref(&())
}

/// Run [`reconcile::reconcile_to_baseline`] on a blocking thread that
/// drives it with the runtime's handle. Its future cannot be proved `Send`
/// (apply's parallel streams hold closures over borrowed objects), which
/// kube-runtime requires of a reconciler; IO still runs on the runtime.
async fn run_reconcile(
    resolved: sync_unit::Resolved,
    cluster: Cluster,
    git_cache: PathBuf,
    previous: Option<Baseline>,
) -> std::result::Result<Reconciled, tokio::task::JoinError> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let (report, baseline) = handle.block_on(reconcile::reconcile_to_baseline(
            &resolved.unit,
            &resolved.policies,
            &cluster,
            &git_cache,
            previous,
        ));
        (report, baseline, cluster, resolved)
    })
    .await
}

/// What [`run_reconcile`] gives back: the report, the baseline for
/// repairs, and what it was given.
type Reconciled = (
    reconcile::Report,
    Option<Baseline>,
    Cluster,
    sync_unit::Resolved,
);

/// Run [`cleanup::prune_all`] the way [`run_reconcile`] runs a reconcile
/// (its future cannot be proved `Send` either).
async fn run_cleanup(
    cluster: Cluster,
    inventory_namespace: String,
    sync: String,
) -> std::result::Result<cleanup::Result<usize>, tokio::task::JoinError> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(cleanup::prune_all(&cluster, &inventory_namespace, &sync))
    })
    .await
}

/// Box a future as `Send` where it is created. rustc checks the `Send` of
/// an async fn's future generically over lifetimes when kube-runtime asks,
/// and fails on futures that borrow (rust-lang/rust#110338); a boxed
/// `dyn Future + Send` is checked here instead.
fn boxed<'a, T>(
    future: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    Box::pin(future)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_doubles_up_to_the_interval_and_forgets_deleted_units() {
        let backoff = Backoff::new(Duration::from_secs(5));
        let (a, b) = (
            ObjectRef::new("a").within("t"),
            ObjectRef::new("b").within("t"),
        );
        let hour = Duration::from_secs(3600);
        let all = |_: &ObjectRef<SyncUnit>| true;
        let delays: Vec<u64> = (0..4)
            .map(|_| backoff.failed(&a, hour, all).as_secs())
            .collect();
        assert_eq!(delays, [5, 10, 20, 40]);
        assert_eq!(
            backoff.failed(&a, Duration::from_secs(30), all).as_secs(),
            30
        );
        backoff.reset(&a);
        assert_eq!(backoff.failed(&a, hour, all).as_secs(), 5);
        // `a` is deleted: its count goes when `b` fails.
        assert_eq!(backoff.failed(&b, hour, |unit| unit != &a).as_secs(), 5);
        assert_eq!(backoff.failed(&a, hour, all).as_secs(), 5);
    }

    #[test]
    fn merge_patches_remove_what_the_new_status_lacks() {
        let old = json!({"a": 1, "drift": {"detected": 1, "entries": [1]}, "keep": [1]});
        let new = json!({"drift": {"detected": 2}, "keep": [2]});
        assert_eq!(
            removing(&old, new),
            json!({"a": null, "drift": {"detected": 2, "entries": null}, "keep": [2]})
        );
    }
}
