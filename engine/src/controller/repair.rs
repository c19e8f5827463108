//! Incremental drift repair: one changed managed object is repaired on its
//! own, in about the time of one apply, however large its SyncUnit is.
//!
//! In: [`Noticed`] objects from the [`super::drift_watch`]. Out: the
//! object repaired through [`Baseline::repair`] (the remediators decide, as
//! in a full reconcile), the SyncUnit's status and Events updated, or, when
//! no repair is possible, a trigger for a full reconcile. IO: the apply of
//! the repaired object, the status write and Events.
//!
//! Each SyncUnit has a [`Slot`]: the [`Baseline`] its last successful
//! reconcile left, with the policies and cluster connection it ran with.
//! A full reconcile holds the slot's lock while it runs and replaces the
//! baseline at its end; notices that arrive meanwhile wait for it.
//! Anything a repair cannot stand for goes to a full reconcile instead: no
//! baseline (the last reconcile failed or was blocked), a spec changed
//! since it, or a repair that failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch, OwnedMutexGuard};

use super::crd::SyncUnit;
use super::reconciler::{write_status, Context};
use super::status::{self, Verdict};
use crate::apply::Cluster;
use crate::object::ObjectKey;
use crate::policy::PolicySet;
use crate::reconcile::{Baseline, Report, Status};

/// A managed object that changed or was deleted, and the SyncUnit whose
/// label it carries.
#[derive(Debug)]
pub struct Noticed {
    /// The SyncUnit named by the object's `plumbline.dev/sync` label.
    pub owner: ObjectRef<SyncUnit>,
    /// The registered cluster the object is in; `None` for the
    /// controller's own.
    pub cluster: Option<String>,
    /// The object.
    pub key: ObjectKey,
    /// The object as the watch delivered it; `None` when it was deleted.
    pub live: Option<Value>,
}

/// What a SyncUnit's last successful reconcile left for repairs.
pub struct Held {
    /// The desired state and inventory it applied.
    pub baseline: Baseline,
    /// The policies it ran with.
    pub policies: PolicySet,
    /// The connection it applied through (possibly impersonating).
    pub cluster: Cluster,
    /// The registered cluster that connection reaches (`spec.cluster`);
    /// `None` for the controller's own.
    pub target: Option<String>,
    /// The SyncUnit's `metadata.generation` it reconciled.
    pub generation: Option<i64>,
    /// Its report, with the outcomes of later repairs merged in: what the
    /// status is made from.
    pub report: Report,
}

/// One SyncUnit's [`Held`] baseline, behind the lock full reconciles hold.
pub type Slot = Arc<tokio::sync::Mutex<Option<Held>>>;

/// The slots of every SyncUnit this replica reconciled.
#[derive(Default)]
pub struct Baselines {
    slots: Mutex<HashMap<ObjectRef<SyncUnit>, Slot>>,
}

impl Baselines {
    /// The slot of `unit`, created empty on first use.
    pub fn slot(&self, unit: &ObjectRef<SyncUnit>) -> Slot {
        self.slots().entry(unit.clone()).or_default().clone()
    }

    /// Drop the baseline of `unit` (suspended, or deleted).
    pub fn forget(&self, unit: &ObjectRef<SyncUnit>) {
        self.slots().remove(unit);
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<SyncUnit>, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Repair noticed objects until `shutdown` turns true. Runs on its own
/// thread, driven by the runtime's handle: an apply's future cannot be
/// proved `Send` (see [`super::reconciler`]).
///
/// Notices for a SyncUnit whose reconcile is running wait until it ends
/// (the newest notice of each object), and are then checked against the
/// baseline it left: most are that reconcile's own applies coming back.
pub fn run(
    ctx: Arc<Context>,
    mut noticed: mpsc::UnboundedReceiver<Noticed>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            let mut waiting: HashMap<ObjectRef<SyncUnit>, HashMap<ObjectKey, Noticed>> =
                HashMap::new();
            let mut retry = tokio::time::interval(RETRY_WAITING);
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return,
                    next = noticed.recv() => match next {
                        Some(next) => {
                            if let Some(busy) = repair(&ctx, next).await {
                                wait(&mut waiting, busy);
                            }
                        }
                        None => return,
                    },
                    _ = retry.tick(), if !waiting.is_empty() => {
                        let units: Vec<ObjectRef<SyncUnit>> = waiting.keys().cloned().collect();
                        for unit in units {
                            if ctx.baselines.slot(&unit).try_lock().is_err() {
                                continue;
                            }
                            for (_, next) in waiting.remove(&unit).unwrap_or_default() {
                                if let Some(busy) = repair(&ctx, next).await {
                                    wait(&mut waiting, busy);
                                }
                            }
                        }
                    }
                }
            }
        });
    })
}

/// How often notices waiting for a running reconcile look again.
const RETRY_WAITING: std::time::Duration = std::time::Duration::from_millis(100);

/// Keep a notice until its SyncUnit's reconcile ends; a newer notice of
/// the same object replaces it.
fn wait(waiting: &mut HashMap<ObjectRef<SyncUnit>, HashMap<ObjectKey, Noticed>>, noticed: Noticed) {
    waiting
        .entry(noticed.owner.clone())
        .or_default()
        .insert(noticed.key.clone(), noticed);
}

/// Repair one noticed object, or ask for a full reconcile of its owner.
/// Gives the notice back when the owner's reconcile is running.
async fn repair(ctx: &Context, noticed: Noticed) -> Option<Noticed> {
    let unit = ctx.store.get(&noticed.owner)?;
    if !ctx.options.shard.owns(&unit.metadata) || unit.spec.cluster != noticed.cluster {
        // An object labelled for this SyncUnit in a cluster it does not
        // sync into is not its object.
        return None;
    }
    let Ok(held) = ctx.baselines.slot(&noticed.owner).try_lock_owned() else {
        return Some(noticed);
    };
    let Some(mut held) = usable(held, &unit) else {
        let _ = ctx.triggers.send(noticed.owner);
        return None;
    };
    let started = Instant::now();
    let held = held.as_mut()?;
    let repaired = held
        .baseline
        .repair(&noticed.key, noticed.live, &held.policies, &held.cluster)
        .await?;
    ctx.options
        .metrics
        .record_repair(&repaired, started.elapsed());
    tracing::info!(syncunit = %noticed.owner, object = %noticed.key,
                   elapsed = ?started.elapsed(), "repaired: {repaired}");
    if repaired.status != Status::Synced {
        // The full reconcile reports the failure and retries with backoff.
        let _ = ctx.triggers.send(noticed.owner);
        return None;
    }
    merge(&mut held.report, &repaired);
    publish(ctx, &unit, &held.report, &repaired).await;
    None
}

/// The held baseline, if a repair may use it: there is one, and the
/// SyncUnit has not changed since (spec, suspend, deletion).
fn usable(
    held: OwnedMutexGuard<Option<Held>>,
    unit: &SyncUnit,
) -> Option<OwnedMutexGuard<Option<Held>>> {
    let current = held.as_ref().is_some_and(|held| {
        held.generation == unit.metadata.generation
            && held.target == unit.spec.cluster
            && !unit.spec.suspend
            && unit.metadata.deletion_timestamp.is_none()
    });
    current.then_some(held)
}

/// Put the outcome of a repair in place of the object's line in the report
/// of the last reconcile.
fn merge(report: &mut Report, repaired: &Report) {
    for line in &repaired.objects {
        match report.objects.iter_mut().find(|o| o.key == line.key) {
            Some(old) => *old = line.clone(),
            None => report.objects.push(line.clone()),
        }
    }
}

/// Write the status the merged report makes (if it changed), and the
/// Events of the repair.
async fn publish(ctx: &Context, unit: &SyncUnit, merged: &Report, repaired: &Report) {
    let (Some(namespace), name) = (unit.namespace(), unit.name_any()) else {
        return;
    };
    let previous = unit.status.clone().unwrap_or_default();
    let generation = unit.metadata.generation;
    let verdict = Verdict::of_report(merged);
    let mut next = status::with_report(
        status::with_verdict(&previous, &verdict, generation, &status::now()),
        merged,
    );
    let changed = status::changed(&previous, &next);
    if changed {
        next.last_reconcile_time = Some(status::now());
        let api: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), &namespace);
        if let Err(error) = write_status(&api, &name, &previous, &next).await {
            tracing::warn!(syncunit = %name, %error, "writing the status after a repair");
        }
    }
    let reference = unit.object_ref(&());
    ctx.events
        .report(&reference, repaired, previous.drift.as_ref(), changed)
        .await;
}
