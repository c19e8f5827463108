//! A SyncUnit that names a registered cluster (`spec.cluster`): which
//! connection its reconcile, cleanup and repairs go through, and what its
//! status says when there is none.
//!
//! In: the SyncUnit and the [`Context`]. Out: a [`Reach`]: the controller's
//! own cluster, a pooled [`Target`] that answered its probe (with one of
//! the cluster's reconcile slots), busy, or why the cluster cannot be used.
//! IO: the registration Secret (management cluster), the target's
//! `/version`; on failure the SyncUnit's status and an Event.
//!
//! A cluster that cannot be reached fails the reconcile **before** anything
//! is fetched, listed, applied or pruned, so a connection fault never
//! prunes; it is retried with the SyncUnit's backoff, and the others keep
//! reconciling: a reconcile never waits for a busy cluster's slot but comes
//! back a moment later, so one cluster's SyncUnits cannot take all of the
//! controller's reconcile slots.

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tokio::sync::OwnedSemaphorePermit;

use super::clusters::{self, Target};
use super::crd::{SyncUnit, SyncUnitStatus};
use super::reconciler::{write_status, Context, Result};
use super::status::{self, Verdict};
use super::sync_unit;
use crate::apply::Cluster;

/// How soon a SyncUnit whose cluster has no free reconcile slot comes back.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Where a SyncUnit's reconcile goes.
pub enum Reach {
    /// The controller's own cluster (no `spec.cluster`).
    Local,
    /// A registered cluster that answered, and a reconcile slot in it
    /// (released when dropped).
    Remote(Arc<Target>, OwnedSemaphorePermit),
    /// A registered cluster whose reconcile slots are all taken.
    Busy,
    /// The registered cluster cannot be used.
    Failed(clusters::Error),
}

/// Find, probe and take a slot of the cluster `object` syncs into, and
/// claim its sync name there ([`super::claim`]).
pub async fn reach(ctx: &Context, object: &SyncUnit) -> Reach {
    let Some(name) = &object.spec.cluster else {
        return Reach::Local;
    };
    let target = match ctx.clusters.target(name).await {
        Ok(target) => target,
        Err(error) => return Reach::Failed(error),
    };
    let Some(permit) = target.try_permit() else {
        return Reach::Busy;
    };
    match claimed(ctx, object, &target).await {
        Ok(()) => Reach::Remote(target, permit),
        Err(error) => Reach::Failed(error),
    }
}

/// Check that `object` may use `target` with the identity it asks for,
/// probe `target`, then claim the sync name of `object` there.
async fn claimed(ctx: &Context, object: &SyncUnit, target: &Target) -> Result<(), clusters::Error> {
    let namespace = object.namespace().unwrap_or_default();
    if let Some(account) = &object.spec.service_account_name {
        target.may_impersonate(&impersonated(&namespace, account))?;
    }
    target.probe().await?;
    // An invalid sync name is reported by the reconcile itself.
    let Ok(sync) = sync_unit::sync_name(&namespace, &object.name_any()) else {
        return Ok(());
    };
    let me = ctx.clusters.identity().await?;
    target
        .claim(&ctx.options.inventory_namespace, &sync, me)
        .await
}

/// The connection a cleanup of `object` prunes through: the controller's
/// own client, or the registered cluster's (probed first, so an
/// unreachable cluster fails the cleanup before anything is read).
pub async fn client_for_cleanup(
    ctx: &Context,
    object: &SyncUnit,
) -> Result<Option<Arc<Target>>, clusters::Error> {
    let Some(name) = &object.spec.cluster else {
        return Ok(None);
    };
    let target = ctx.clusters.target(name).await?;
    claimed(ctx, object, &target).await?;
    Ok(Some(target))
}

/// A [`Cluster`] on `target` for a sync of `namespace`: the pooled client,
/// or one impersonating the SyncUnit's `serviceAccountName` there.
pub fn cluster_on(
    target: &Target,
    object: &SyncUnit,
    namespace: &str,
    options: crate::apply::Options,
) -> Result<Cluster, clusters::Error> {
    let client = match &object.spec.service_account_name {
        Some(account) => target.client_as(&impersonated(namespace, account))?,
        None => target.client(),
    };
    Ok(Cluster::new(client, options))
}

/// The user a SyncUnit of `namespace` with `serviceAccountName: account`
/// impersonates.
fn impersonated(namespace: &str, account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{account}")
}

/// Record that the cluster of `object` cannot be used (status, when it
/// changed, and a Warning Event), then retry with backoff if the failure
/// may go away, else wait for the interval or a change (a changed
/// registration Secret triggers its SyncUnits).
pub async fn report_failure(
    ctx: &Context,
    object: &SyncUnit,
    previous: &SyncUnitStatus,
    interval: Duration,
    error: &clusters::Error,
) -> Result<Action> {
    record_failure(ctx, object, previous, error).await?;
    let me = ObjectRef::from_obj(object);
    Ok(Action::requeue(if error.is_retryable() {
        ctx.backoff(&me, interval)
    } else {
        ctx.succeeded(&me);
        interval
    }))
}

/// Write the status `error` makes (when it changed) and a Warning Event.
pub async fn record_failure(
    ctx: &Context,
    object: &SyncUnit,
    previous: &SyncUnitStatus,
    error: &clusters::Error,
) -> Result<()> {
    tracing::warn!(syncunit = %object.name_any(), reason = error.reason(), %error,
                   "cannot use the SyncUnit's cluster");
    let message = error.to_string();
    let verdict = if error.is_retryable() {
        Verdict::progressing(error.reason(), message.clone())
    } else {
        Verdict::stalled(error.reason(), message.clone())
    };
    let generation = object.metadata.generation;
    let mut next = status::with_verdict(previous, &verdict, generation, &status::now());
    if status::changed(previous, &next) {
        next.last_reconcile_time = Some(status::now());
        let namespace = object.namespace().unwrap_or_default();
        let api: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), &namespace);
        write_status(&api, &object.name_any(), previous, &next).await?;
        ctx.events
            .failure(&object.object_ref(&()), error.reason(), &message)
            .await;
    }
    Ok(())
}
