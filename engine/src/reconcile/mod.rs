//! Reconcile: make the cluster match Git, once.
//!
//! The one-shot entry point the CLI (`plumbline sync`, `plumbline plan`) and
//! the controller both use: [`reconcile`] takes a [`SyncUnit`] and returns a
//! [`Report`]. It runs the whole pipeline:
//!
//! 1. [`desired::load`]: fetch, render, transform, validate — or reuse the
//!    render of the same commit with the same inputs ([`rendered`]). Any
//!    failure here ends the reconcile with nothing written and nothing
//!    pruned; error-severity violations end it as [`Status::Blocked`]. The
//!    inventory is read meanwhile.
//! 2. [`read_state`]: complete the inventory (from the sync's label when it
//!    is lost or partly written), read the live objects, and
//!    [`plan`] them.
//! 3. [`remediate`]: each drifted object gets a decision from the
//!    remediator policies (or the sync's default).
//! 4. Mark the inventory as being applied when objects it does not hold
//!    are about to be ([`inventory_store::begin_applying`]), then apply in
//!    stages (definitions, then cluster-scoped, then namespaced objects),
//!    waiting for CRDs and namespaces to be established.
//! 5. Prune, in reverse order, only when everything before succeeded and
//!    the mass-deletion guard allows it; a Namespace or CRD that would take
//!    objects the sync does not own with it is refused ([`prune_check`]).
//! 6. Record the inventory (only if it changed, or to remove the mark)
//!    and assess health.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::Value;

use crate::apply::{self, inventory_store, Cluster};
use crate::health;
use crate::object::ObjectKey;
use crate::plan::{self, Action, Entry, FieldPath, Inventory, Stage};
use crate::policy::{EvalContext, PolicySet, Remediation, SourceInfo};

mod artifact;
mod baseline;
mod chart_source;
pub mod desired;
pub mod policies;
pub mod preview;
pub mod prune_check;
pub mod remediate;
pub mod rendered;
mod report;
pub mod scope;
pub mod transform_guard;
pub mod waves;

pub use baseline::Baseline;
pub use desired::{Desired, SyncUnit};
pub use preview::{preview, Preview};
pub use rendered::load_kept;
use rendered::{Rendered, Reuse};
pub use report::{Failure, ObjectReport, Outcome, Report, Status};

/// What made a reconcile fail, typed up to the status and Events.
///
/// Each variant has a [`reason`](Error::reason) (the status condition's
/// and the Event's) and says whether it [may go away by
/// itself](Error::is_retryable): transient failures (network, 5xx, 409
/// conflicts, timeouts) are retried with backoff; permanent ones (an
/// invalid spec, a manifest the API server refuses, a policy's rejection,
/// render errors of a revision) stall the sync until its spec or revision
/// changes.
///
/// Variants that name an object box its key: `Result`s of this error are
/// returned all along the pipeline, and four strings inline would double
/// their size.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sync configuration is unusable. Permanent.
    #[error(transparent)]
    Spec(crate::spec::Error),
    /// Fetching the source failed; the last good revision is kept.
    /// Transient when the remote may come back (see
    /// [`crate::source::Error::is_retryable`]).
    #[error("fetch failed: {0}")]
    Fetch(#[source] crate::source::Error),
    /// Pulling the source's OCI artifact failed (the message names the
    /// reference); nothing is planned. Transient as the OCI error says.
    #[error("fetch failed: {0}")]
    Artifact(#[source] crate::oci::Error),
    /// Fetching the source's chart from its Helm chart repository failed
    /// (the message names the repository, chart and version); nothing is
    /// planned. Transient as the chart error says.
    #[error("fetch failed: {0}")]
    Chart(#[source] crate::render::helm::chart_fetch::Error),
    /// Rendering failed; every render error is listed. Permanent for the
    /// revision.
    #[error("{0}")]
    Render(#[source] crate::render::Errors),
    /// A policy could not be loaded, refused the desired state, or faulted
    /// (fail-closed). Permanent: policies are deterministic.
    #[error("{0}")]
    Policy(#[source] crate::policy::Error),
    /// A policy project could not be built into a component. Permanent.
    #[error("building policy {}: {source}", project.display())]
    PolicyBuild {
        /// The policy project directory.
        project: std::path::PathBuf,
        /// What failed (`plumbline_policy_build::Error`, or that this
        /// build cannot build policy projects).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Transformers returned an unusable desired set. Permanent.
    #[error("transformers returned an invalid desired set: {0}")]
    InvalidTransform(String),
    /// Transformers did what their policies are not allowed to (one
    /// message each, naming the policy, the object and the rule); nothing
    /// was applied. Permanent.
    #[error("transformers were refused, nothing was applied: {}", .0.join("; "))]
    TransformRefused(Vec<String>),
    /// Validators found error-severity violations; nothing was written.
    /// Permanent.
    #[error("{count} error-severity violation(s) block the sync; nothing was applied")]
    Violations {
        /// How many.
        count: usize,
    },
    /// An API request failed: an object refused (permanent for 400, 413 and
    /// 422 responses and immutable fields), or a request that may succeed
    /// later (see [`crate::apply::Error::is_retryable`]).
    #[error(transparent)]
    Apply(Box<crate::apply::Error>),
    /// The mass-deletion guard refused the prune. Permanent.
    #[error(transparent)]
    PruneRefused(#[from] crate::plan::PruneRefused),
    /// A deletion that would take objects the sync does not own with it
    /// (a prune or a `recreate` of a Namespace or CRD) was refused.
    /// Permanent.
    #[error("{object}: {message}")]
    CascadeRefused {
        /// The object that was not deleted.
        object: Box<ObjectKey>,
        /// Why, and what would have been deleted.
        message: String,
    },
    /// An object this sync declares was applied by another sync, which this
    /// one may not take it from (`takeOver.syncs`). Permanent.
    #[error(
        "{object}: applied by sync {owner:?}, not this one: not applied (list {owner:?} \
         in takeOver.syncs to take it over)"
    )]
    OwnedByAnotherSync {
        /// The object.
        object: Box<ObjectKey>,
        /// The sync whose label it carries.
        owner: String,
    },
    /// The annotations that order the sync (`plumbline.dev/wave`,
    /// `plumbline.dev/phase`, `plumbline.dev/delete-policy`) could not be
    /// read, one message per object; nothing was applied. Permanent.
    #[error("cannot order the objects, so nothing is applied: {}", .0.join("; "))]
    InvalidOrder(Vec<String>),
    /// Objects of a wave or phase failed, or were not healthy in time; the
    /// sync stopped there. Transient when they were only not ready yet
    /// (the next try waits again), permanent when one failed.
    #[error("{0}")]
    Unhealthy(Box<waves::Unhealthy>),
    /// A stage panicked (a bug). Transient: retried with backoff.
    #[error("{stage} panicked: {message}")]
    Panicked {
        /// What was running.
        stage: &'static str,
        /// The panic's message.
        message: String,
    },
}

impl From<crate::apply::Error> for Error {
    fn from(error: crate::apply::Error) -> Self {
        Error::Apply(Box::new(error))
    }
}

impl Error {
    /// A short machine-readable reason, for metrics, conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Spec(_) => "InvalidSpec",
            Error::Fetch(crate::source::Error::PathNotFound { .. }) => "PathNotFound",
            Error::Fetch(error @ crate::source::Error::Unverified { .. }) => error.reason(),
            Error::Fetch(_) => "FetchFailed",
            Error::Artifact(error) => error.reason(),
            Error::Chart(error) => error.reason(),
            Error::Render(errors) => render_reason(errors),
            Error::Policy(_) => "PolicyFailed",
            Error::PolicyBuild { .. } => "PolicyBuildFailed",
            Error::InvalidTransform(_) => "InvalidTransform",
            Error::TransformRefused(_) => "TransformRefused",
            Error::Violations { .. } => "ValidationFailed",
            Error::Apply(error) => error.reason(),
            Error::PruneRefused(_) => "PruneRefused",
            Error::CascadeRefused { .. } => "CascadeRefused",
            Error::OwnedByAnotherSync { .. } => "OwnedByAnotherSync",
            Error::InvalidOrder(_) => "InvalidOrder",
            Error::Unhealthy(_) => "HealthCheckFailed",
            Error::Panicked { .. } => "Panicked",
        }
    }

    /// The reason of a revision refused by verification (Git
    /// `source.verify`, or an artifact's cosign signature), for the
    /// `plumbline_unverified_revisions_total` metric; `None` for other
    /// failures.
    pub fn unverified_reason(&self) -> Option<&'static str> {
        match self {
            Error::Fetch(error @ crate::source::Error::Unverified { .. }) => Some(error.reason()),
            Error::Artifact(error) => error.unverified_reason(),
            _ => None,
        }
    }

    /// Whether trying again later, with the same spec and revision, may
    /// succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Fetch(error) => error.is_retryable(),
            Error::Artifact(error) => error.is_retryable(),
            Error::Chart(error) => error.is_retryable(),
            Error::Apply(error) => error.is_retryable(),
            Error::Panicked { .. } => true,
            Error::Unhealthy(unhealthy) => unhealthy.timeout.is_some(),
            Error::Spec(_)
            | Error::InvalidOrder(_)
            | Error::Render(_)
            | Error::Policy(_)
            | Error::PolicyBuild { .. }
            | Error::InvalidTransform(_)
            | Error::TransformRefused(_)
            | Error::Violations { .. }
            | Error::PruneRefused(_)
            | Error::CascadeRefused { .. }
            | Error::OwnedByAnotherSync { .. } => false,
        }
    }

    /// The error of a task that panicked while running `stage`.
    pub(crate) fn panicked(stage: &'static str, error: &tokio::task::JoinError) -> Self {
        Error::Panicked {
            stage,
            message: error.to_string(),
        }
    }
}

/// The reason of a failed render: `PathNotFound` or `EmptyRender` when that
/// is all that went wrong (the sync's path, not its manifests, needs
/// fixing), else `RenderFailed`.
fn render_reason(errors: &crate::render::Errors) -> &'static str {
    let reasons: BTreeSet<&str> = errors.0.iter().map(crate::render::Error::reason).collect();
    match reasons.into_iter().collect::<Vec<_>>()[..] {
        [reason @ ("PathNotFound" | "EmptyRender")] => reason,
        _ => "RenderFailed",
    }
}

/// Reconcile one sync against `cluster`. Writes are server-side dry-runs
/// when the cluster's options say so. `cache_dir` keeps bare Git
/// repositories between runs.
pub async fn reconcile(
    unit: &SyncUnit,
    policies: &PolicySet,
    cluster: &Cluster,
    cache_dir: &Path,
) -> Report {
    reconcile_with(unit, policies, cluster, cache_dir, Reuse::Nothing, None)
        .await
        .0
}

/// [`reconcile`], reusing the render of the same commit with the same
/// inputs that an earlier run kept in `rendered_dir`
/// ([`rendered::load`]), and keeping its own there: what `plumbline sync`
/// runs.
pub async fn reconcile_kept(
    unit: &SyncUnit,
    policies: &PolicySet,
    cluster: &Cluster,
    cache_dir: &Path,
    rendered_dir: &Path,
) -> Report {
    let reuse = Reuse::Kept(rendered_dir.to_owned());
    reconcile_with(unit, policies, cluster, cache_dir, reuse, None)
        .await
        .0
}

/// [`reconcile`], also returning the [`Baseline`] single objects can be
/// repaired against until the next reconcile, when this one ended
/// [`Status::Synced`] with real writes. With the `previous` baseline, a
/// commit it was rendered from with the same inputs is not rendered again,
/// and its inventory is not read again while the stored one is the one it
/// holds.
pub async fn reconcile_to_baseline(
    unit: &SyncUnit,
    policies: &PolicySet,
    cluster: &Cluster,
    cache_dir: &Path,
    previous: Option<Baseline>,
) -> (Report, Option<Baseline>) {
    let (rendered, known) = previous.map(Baseline::into_reused).unzip();
    let reuse = Reuse::Baseline(rendered.map(Box::new));
    reconcile_with(unit, policies, cluster, cache_dir, reuse, known).await
}

/// The reconcile, reusing and leaving what `reuse` says, with the
/// inventory last `known` ([`inventory_store::load_since`]).
async fn reconcile_with(
    unit: &SyncUnit,
    policies: &PolicySet,
    cluster: &Cluster,
    cache_dir: &Path,
    reuse: Reuse,
    known: Option<inventory_store::Stored>,
) -> (Report, Option<Baseline>) {
    let report = Report::new(unit.name(), cluster.options().dry_run);
    let inputs = baseline::inputs(unit, policies);
    let keep_baseline = matches!(reuse, Reuse::Baseline(_));
    let spec = &unit.config.spec;
    let target = desired::Target::new(cluster.client().clone(), tokio::runtime::Handle::current());
    let loading = {
        let (unit, policies, cache_dir) = (unit.clone(), policies.clone(), cache_dir.to_owned());
        tokio::task::spawn_blocking(move || {
            let depth = desired::Depth::Validated;
            let target = Some(&target);
            rendered::load_desired(&unit, &policies, &cache_dir, &inputs, reuse, depth, target)
        })
    };
    // The inventory is read while the desired state loads.
    let reading =
        inventory_store::load_since(cluster, &spec.inventory_namespace, unit.name(), known);
    let (loaded, stored) = tokio::join!(loading, reading);
    let rendered::Loaded {
        mut desired,
        objects,
        inputs,
    } = match loaded {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(error)) => return (report.fail(error), None),
        Err(panicked) => {
            let error = Error::panicked("loading the desired state", &panicked);
            return (report.fail(error), None);
        }
    };
    let mut report = report;
    report.revision.clone_from(&desired.revision);
    report.verified.clone_from(&desired.verified);
    report.fetch_duration = desired.fetch_duration;
    report.policy_timings.clone_from(&desired.timings);
    report.warnings.extend(desired.warnings.iter().cloned());
    report.violations.clone_from(&desired.violations);
    report
        .transformers
        .clone_from(&desired.transformer_summaries);
    if desired.blocking_violations() > 0 {
        let count = desired.blocking_violations();
        let mut report = report.fail(Error::Violations { count });
        report.status = Status::Blocked;
        return (report, None);
    }

    let stored = match stored {
        Ok(stored) => stored,
        Err(error) => return (report.fail(Error::from(error)), None),
    };
    let state = match read_state(cluster, unit.name(), &objects, stored).await {
        Ok(state) => state,
        Err(error) => return (report.fail(Error::from(error)), None),
    };
    let plan_options = plan_options(unit, &cluster.options().field_manager);
    let mut planned = plan::plan_owned(objects, &state.live, &state.inventory, &plan_options);
    let ctx = EvalContext {
        source: SourceInfo {
            url: spec.source.url.clone(),
            revision: desired.revision.clone().unwrap_or_default(),
            path: spec.source.path.clone(),
        },
        target: unit.name().to_owned(),
    };
    let rules = remediate::Rules {
        self_heal: spec.sync.self_heal,
        max_deferral: std::time::Duration::from_secs(spec.sync.max_deferral_seconds.into()),
    };
    let decided = decide(
        &planned,
        &state.live,
        &state.inventory,
        policies,
        &ctx,
        rules,
    )
    .await;
    let decisions = match decided {
        Ok((decisions, warnings)) => {
            report.warnings.extend(warnings);
            let timings = decisions.values().flat_map(|r| r.timings.iter().cloned());
            report.policy_timings.extend(timings);
            decisions
        }
        Err(error) => {
            report.summary = planned.summary();
            return (report.fail(error), None);
        }
    };
    // Decided before anything is applied, with the inventory as it was
    // read: the prunes, and the Namespaces and CRDs a remediator recreates.
    let allow_cascade = spec.sync.prune_guard.allow_cascade;
    let recreated = prune_check::cascading_recreates(&decisions, allow_cascade);
    let checked = prune_check::check(
        cluster,
        unit.name(),
        &mut planned,
        &state,
        &recreated,
        &spec.sync.prune_guard,
    );
    let guard = match checked.await {
        Ok(guard) => guard,
        Err(error) => return (report.fail(Error::from(error)), None),
    };
    let schedule = match waves::prepare(&mut planned) {
        Ok(schedule) => schedule,
        Err(error) => return (report.fail(error), None),
    };
    let timeout = match spec.sync.health_timeout() {
        Ok(timeout) => timeout,
        Err(message) => {
            let file = unit.file.clone();
            let error = Error::Spec(crate::spec::Error::Invalid { file, message });
            return (report.fail(error), None);
        }
    };
    report.summary = planned.summary();

    let State {
        version,
        rewrite,
        inventory,
        live,
        ..
    } = state;
    let mut run = Run {
        cluster,
        assessor: health::Assessor::new(policies, ctx.clone()),
        report,
        reclaim: inventory
            .entries
            .iter()
            .filter(|(_, entry)| !entry.ignored.is_empty())
            .map(|(key, _)| key.clone())
            .collect(),
        inventory,
        inventory_changed: false,
        take_over: &spec.sync.take_over,
        allow_cascade,
        recreate_guard: match guard {
            Ok(()) => RecreateGuard::Allowed,
            Err(_) => RecreateGuard::Refused,
        },
        adopting: BTreeSet::new(),
        recreated_namespaces: BTreeSet::new(),
        resource_versions: BTreeMap::new(),
        passed_versions: BTreeMap::new(),
        stopped: None,
        judged_later: Vec::new(),
    };
    // Before anything the inventory does not hold is applied, the head is
    // marked: if this run is killed, or another sync of it writes the
    // inventory first, what it applied is found by its label next time.
    let mut version = version;
    if applies_unrecorded(&planned, &run.inventory) {
        let namespace = &spec.inventory_namespace;
        match inventory_store::begin_applying(cluster, namespace, unit.name(), &version).await {
            Ok(marked) => version = marked,
            Err(error) => return (run.report.fail(Error::from(error)), None),
        }
    }
    let waiting = waves::Waiting {
        timeout,
        wait: spec.sync.wait,
    };
    let mut steps = waves::Steps::new(&planned, &schedule, &decisions);
    run.steps_before_prune(&mut steps, &decisions, &live, &waiting)
        .await;

    let prunes: Vec<&plan::PlannedObject> = planned
        .objects
        .iter()
        .filter(|o| o.desired.is_none())
        .collect();
    match guard {
        // Reported even after other errors: it may have refused a
        // remediator's recreate.
        Err(refused) => {
            run.skip(&prunes, "not pruned: the mass-deletion guard refused");
            run.report.push_error(Error::PruneRefused(refused));
        }
        _ if !run.report.errors.is_empty() => {
            run.skip(&prunes, "not pruned: the sync had errors");
        }
        Ok(()) => run.prune(&prunes, &live).await,
    }
    run.post_phase(&mut steps, &decisions, &live, &waiting)
        .await;
    let kept = retained(&planned);
    let before = run.inventory.entries.len();
    run.inventory.entries.retain(|key, _| kept.contains(key));
    // The revision is recorded once the sync applied it without errors.
    let new_revision = run.report.errors.is_empty()
        && desired.revision.is_some()
        && run.inventory.revision != desired.revision;
    if new_revision {
        run.inventory.revision.clone_from(&desired.revision);
    }
    // A marked head is written even if nothing else changed, to remove the
    // mark.
    let changed = rewrite
        || version.is_marked()
        || run.inventory_changed
        || new_revision
        || run.inventory.entries.len() != before;
    // The version the next write goes over; `None` when this write failed.
    let version = if changed && !cluster.options().dry_run {
        let saved = inventory_store::save(
            cluster,
            &spec.inventory_namespace,
            unit.name(),
            &version,
            &run.inventory,
        )
        .await;
        match saved {
            Ok(version) => Some(version),
            Err(error) => {
                run.report.push_error(Error::from(error));
                None
            }
        }
    } else {
        Some(version)
    };
    if !run.report.errors.is_empty() {
        run.report.status = Status::Failed;
    }
    let baseline = match version {
        Some(version)
            if keep_baseline
                && run.report.status == Status::Synced
                && !cluster.options().dry_run =>
        {
            let mut resource_versions = std::mem::take(&mut run.resource_versions);
            for (key, object) in &live {
                if let Some(seen) = crate::object::resource_version(object) {
                    resource_versions
                        .entry(key.clone())
                        .or_insert_with(|| seen.to_owned());
                }
            }
            // A repair names no files: the baseline keeps no origins.
            desired.origins.clear();
            let depth = desired::Depth::Validated;
            let rendered = Rendered::of(&desired, &inputs, planned.desired_objects(), depth);
            Some(Baseline {
                sync: unit.name().to_owned(),
                inventory_namespace: spec.inventory_namespace.clone(),
                index: baseline::index(&rendered),
                rendered,
                inventory: std::mem::take(&mut run.inventory),
                version,
                resource_versions,
                passed_versions: std::mem::take(&mut run.passed_versions)
                    .into_iter()
                    .collect(),
                ctx,
                rules,
                take_over: spec.sync.take_over.clone(),
                allow_cascade: spec.sync.prune_guard.allow_cascade,
                plan: plan_options,
            })
        }
        _ => None,
    };
    (run.report, baseline)
}

/// The plan options of `unit`, applied with `field_manager`: what `sync`
/// and `plan` both plan with.
pub(crate) fn plan_options(unit: &SyncUnit, field_manager: &str) -> plan::Options {
    let spec = &unit.config.spec.sync;
    plan::Options {
        field_manager: field_manager.to_owned(),
        prune: spec.prune,
        prune_adopted: spec.prune_guard.prune_adopted,
        sync: unit.name().to_owned(),
        take_over: spec.take_over.managers.clone(),
        take_over_syncs: spec.take_over.syncs.clone(),
    }
}

/// What a reconcile knows before it plans.
pub struct State {
    /// Which inventory the next write replaces.
    pub version: inventory_store::Version,
    /// Whether the inventory must be written even if the reconcile changes
    /// nothing in it: the stored one was incomplete, or lacked uids now
    /// filled in.
    pub rewrite: bool,
    /// The inventory to plan with: the stored one, with uids filled in from
    /// the labelled live objects where an older inventory lacks them, and,
    /// when the stored one is incomplete, an entry for every object that
    /// carries the sync's label ([`Entry::recovered`]).
    pub inventory: Inventory,
    /// The live objects of the desired set and of the inventory.
    pub live: plan::Live,
    /// Inventory members not in Git whose kind no version of the API
    /// server serves any more: they can be neither read nor deleted.
    pub unserved: BTreeSet<ObjectKey>,
}

/// Read the live state of `sync` for a plan of `desired`, with its `stored`
/// inventory ([`inventory_store::load`]).
/// When the stored inventory is lost or partly written, every object that
/// carries the sync's label and was server-side applied by Plumbline's field
/// manager counts as a member, so nothing it applied leaks (objects a
/// controller copied the label to, like a Service's Endpoints, were not
/// applied, and are not claimed).
pub async fn read_state(
    cluster: &Cluster,
    sync: &str,
    desired: &[plan::DesiredObject],
    mut stored: inventory_store::Stored,
) -> apply::Result<State> {
    let mut inventory = std::mem::take(&mut stored.inventory);
    if !stored.complete {
        let manager = &cluster.options().field_manager;
        for (key, object) in cluster.labelled(sync).await? {
            if plan::fields::applied_by(&object, manager).is_some() {
                inventory
                    .entries
                    .entry(key)
                    .or_insert_with(|| Entry::recovered(&object));
            }
        }
    }
    // Desired objects unchanged in Git that still have the version of
    // their recorded apply are kept as summaries: they plan as unchanged,
    // and neither their fields nor a diff are ever shown.
    let applied: std::collections::HashMap<&ObjectKey, &str> = desired
        .iter()
        .filter_map(|object| {
            let entry = inventory.entries.get(&object.key)?;
            let version = entry.resource_version.as_deref()?;
            (entry.desired_hash == object.manifest.hash()).then_some((&object.key, version))
        })
        .collect();
    let compact = |key: &ObjectKey, object: Value| {
        let version = crate::object::resource_version(&object);
        if version.is_some() && applied.get(key).copied() == version {
            plan::summary(object)
        } else {
            object
        }
    };
    let live = cluster
        .live_compacting(&live_objects_to_read(desired, &inventory), sync, &compact)
        .await?;
    let filled = fill_in_uids(&mut inventory, &live, sync);
    let unserved = unserved(cluster, desired, &inventory, &live).await?;
    Ok(State {
        version: stored.version,
        rewrite: !stored.complete || filled,
        inventory,
        live,
        unserved,
    })
}

/// Whether the plan applies an object the inventory does not hold (a
/// create, an adoption): one that a stopped run would leave unrecorded.
fn applies_unrecorded(planned: &plan::Plan, inventory: &Inventory) -> bool {
    planned.objects.iter().any(|o| {
        o.desired.is_some()
            && !matches!(
                o.action,
                Action::Unchanged | Action::Terminating | Action::OwnedByAnotherSync { .. }
            )
            && !inventory.entries.contains_key(&o.key)
    })
}

/// Record the uid of members of an inventory written before uids were,
/// from the live object if it carries the sync's label. Returns whether
/// any was filled in.
fn fill_in_uids(inventory: &mut Inventory, live: &plan::Live, sync: &str) -> bool {
    let mut filled = false;
    for (key, entry) in inventory
        .entries
        .iter_mut()
        .filter(|(_, e)| e.uid.is_none())
    {
        let Some(object) = live.get(key) else {
            continue;
        };
        if crate::object::label(object, apply::SYNC_LABEL) == Some(sync) {
            entry.uid = crate::object::uid(object).map(str::to_owned);
            filled |= entry.uid.is_some();
        }
    }
    filled
}

/// Inventory members not in Git and not found live whose kind is served in
/// no version any more (as opposed to objects that are simply gone).
async fn unserved(
    cluster: &Cluster,
    desired: &[plan::DesiredObject],
    inventory: &Inventory,
    live: &plan::Live,
) -> apply::Result<BTreeSet<ObjectKey>> {
    let desired_keys: BTreeSet<&ObjectKey> = desired.iter().map(|o| &o.key).collect();
    let mut unserved = BTreeSet::new();
    for (key, entry) in &inventory.entries {
        if desired_keys.contains(key) || live.contains_key(key) {
            continue;
        }
        match cluster.resolve_served(&entry.api_version, &key.kind).await {
            Err(apply::Error::UnknownKind { .. }) => {
                unserved.insert(key.clone());
            }
            Err(error) => return Err(error),
            Ok(_) => {}
        }
    }
    Ok(unserved)
}

/// The inventory members that stay after a reconcile (those pruned are
/// removed as they are deleted): the objects in Git, those that left Git
/// but are still this sync's and still there (prune is off, they are
/// adopted, terminating, or a guard or an error stopped the prune), and
/// those whose kind is not served. Members gone from the cluster, or not
/// this sync's any more, are forgotten.
fn retained(planned: &plan::Plan) -> BTreeSet<&ObjectKey> {
    planned
        .objects
        .iter()
        .filter(|o| {
            o.desired.is_some()
                || matches!(
                    o.action,
                    Action::Prune
                        | Action::Orphan
                        | Action::Terminating
                        | Action::KeptAdopted
                        | Action::PruneRefused { .. }
                        | Action::Unserved
                )
        })
        .map(|o| &o.key)
        .collect()
}

/// The objects whose live state a plan needs: the desired ones and the
/// inventory's, each with the `apiVersion` to read it with.
pub fn live_objects_to_read(
    desired: &[plan::DesiredObject],
    inventory: &Inventory,
) -> Vec<(ObjectKey, String)> {
    let mut wanted: Vec<(ObjectKey, String)> = desired
        .iter()
        .map(|o| (o.key.clone(), o.api_version.clone()))
        .collect();
    wanted.extend(
        inventory
            .entries
            .iter()
            .map(|(key, entry)| (key.clone(), entry.api_version.clone())),
    );
    wanted
}

/// Remediation decisions for every drifted object.
async fn decide(
    planned: &plan::Plan,
    live: &plan::Live,
    inventory: &Inventory,
    policies: &PolicySet,
    ctx: &EvalContext,
    rules: remediate::Rules,
) -> Result<(BTreeMap<ObjectKey, remediate::Resolution>, Vec<String>), Error> {
    let drifted: Vec<(ObjectKey, remediate::Drifted)> = planned
        .objects
        .iter()
        .filter_map(|o| match (&o.action, &o.desired) {
            (Action::Drifted(drift), Some(desired)) => Some((
                o.key.clone(),
                remediate::Drifted {
                    desired: desired.value(),
                    live: live.get(&o.key).cloned(),
                    drift: drift.clone(),
                    entry: inventory.entries.get(&o.key).cloned(),
                },
            )),
            _ => None,
        })
        .collect();
    if drifted.is_empty() {
        return Ok((BTreeMap::new(), Vec::new()));
    }
    let (policies, ctx) = (policies.clone(), Arc::new(ctx.clone()));
    let decided = tokio::task::spawn_blocking(move || {
        let mut warnings = Vec::new();
        let mut decisions = BTreeMap::new();
        for (key, object) in &drifted {
            let resolution = remediate::resolve(&policies, &ctx, object, &rules, &mut warnings)?;
            decisions.insert(key.clone(), resolution);
        }
        Ok((decisions, warnings))
    })
    .await;
    decided.unwrap_or_else(|panicked| Err(Error::panicked("remediation", &panicked)))
}

/// The state of one reconcile while it writes.
struct Run<'a> {
    cluster: &'a Cluster,
    /// Judges the health of what was applied: the sync's health policies,
    /// else the built-in rules.
    assessor: health::Assessor,
    report: Report,
    /// The inventory as read, changed as objects are applied and pruned.
    inventory: Inventory,
    /// Whether a record in [`Run::inventory`] changed (a new
    /// `resourceVersion` alone does not count).
    inventory_changed: bool,
    /// Objects with ignored drift: when Git changes them, Plumbline takes
    /// their fields back.
    reclaim: std::collections::BTreeSet<ObjectKey>,
    /// The field managers whose fields adopted and reapplied objects take
    /// over (the other syncs whose objects this one may take are the
    /// plan's business: [`Action::OwnedByAnotherSync`], [`Action::Lost`]).
    take_over: &'a crate::spec::TakeOver,
    /// Whether a `recreate` may delete a Namespace or CRD with everything
    /// in it.
    allow_cascade: bool,
    /// What the mass-deletion guard says of a `recreate` of a Namespace or
    /// CRD.
    recreate_guard: RecreateGuard,
    /// The objects this reconcile adopts: they existed, and were not this
    /// sync's, before it applied them.
    adopting: BTreeSet<ObjectKey>,
    /// Namespaces a remediator's `recreate` deleted and created again.
    recreated_namespaces: BTreeSet<String>,
    /// The `resourceVersion` of each object as its apply returned it.
    resource_versions: BTreeMap<ObjectKey, String>,
    /// The `resourceVersion` a field takeover gave an object on the way to
    /// its apply.
    passed_versions: BTreeMap<ObjectKey, String>,
    /// Why the objects of later steps are not applied, once a wave or
    /// phase stopped the sync.
    stopped: Option<String>,
    /// Objects applied in the current stage that a health policy judges,
    /// as the API server returned them with their desired JSON: judged in
    /// one batch when the stage's applies are done.
    judged_later: Vec<(ObjectKey, Value, Option<String>)>,
}

/// What the mass-deletion guard says of a remediator's `recreate` of a
/// Namespace or CRD, which deletes everything in it
/// ([`prune_check::cascading_recreates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecreateGuard {
    /// Counted with the prunes, and allowed.
    Allowed,
    /// Counted with the prunes, and refused: not recreated (the reconcile
    /// reports the guard's refusal once, with its prunes).
    Refused,
    /// Not counted (a repair of one object): left to a full reconcile,
    /// which counts it.
    Unchecked,
}

impl Run<'_> {
    /// The health of `live`, the live version of `object`.
    fn assess(&self, object: &plan::PlannedObject, live: &Value) -> health::Health {
        let desired = object.desired.as_ref().map(|d| d.text());
        self.assessor.assess_json(live, desired)
    }

    /// Fills in the health of unchanged objects, reported at `index` of the
    /// report's lines: one batch for all (a health policy is called once per
    /// object either way, but a batch reaches the evaluation threads once).
    fn assess_unchanged(&mut self, unchanged: &[(usize, &plan::PlannedObject)], live: &plan::Live) {
        let judged: Vec<(usize, &Value, Option<&str>)> = unchanged
            .iter()
            .filter_map(|(index, object)| {
                let desired = object.desired.as_ref().map(|d| d.text());
                live.get(&object.key).map(|l| (*index, l, desired))
            })
            .collect();
        let inputs: Vec<(&Value, Option<&str>)> = judged
            .iter()
            .map(|(_, live, desired)| (*live, *desired))
            .collect();
        let verdicts = self.assessor.assess_all(&inputs);
        for ((index, ..), health) in judged.iter().zip(verdicts) {
            self.report.objects[*index].health = Some(health);
        }
    }

    /// Fills in the health of the objects applied since the last call that
    /// a health policy judges ([`Run::judged_later`]), in one batch.
    fn assess_applied(&mut self) {
        let judged = std::mem::take(&mut self.judged_later);
        if judged.is_empty() {
            return;
        }
        let inputs: Vec<(&Value, Option<&str>)> = judged
            .iter()
            .map(|(_, returned, desired)| (returned, desired.as_deref()))
            .collect();
        let verdicts = self.assessor.assess_all(&inputs);
        let mut verdicts: HashMap<&ObjectKey, health::Health> =
            judged.iter().map(|(key, ..)| key).zip(verdicts).collect();
        for line in self.report.objects.iter_mut().rev() {
            if verdicts.is_empty() {
                break;
            }
            if let Some(health) = verdicts.remove(&line.key) {
                line.health = Some(health);
            }
        }
    }

    /// Apply one stage: creates, updates and drift decisions.
    async fn stage(
        &mut self,
        objects: &[&plan::PlannedObject],
        decisions: &BTreeMap<ObjectKey, remediate::Resolution>,
        live: &plan::Live,
    ) {
        // Applied without forcing, so conflicts with other managers fail ...
        let mut to_apply: Vec<(&plan::PlannedObject, Outcome)> = Vec::new();
        // ... except where Plumbline takes back fields: self-heal, and Git
        // changing an object whose drift was ignored until Git changed.
        let mut to_force: Vec<(&plan::PlannedObject, Outcome)> = Vec::new();
        let mut to_recreate = Vec::new();
        // ... and changes the API server would not make fail by name, like
        // those it refuses.
        let mut immutable = Vec::new();
        // ... and unchanged objects, reported at once and judged in one batch.
        let mut unchanged = Vec::new();
        for object in objects.iter().copied() {
            let namespace = object.key.namespace.as_ref();
            match &object.action {
                Action::OwnedByAnotherSync { owner } => self.refuse_owned(object, owner),
                Action::Lost { owner } => {
                    let message = format!(
                        "taken over by sync {owner:?}: not applied (list {owner:?} in \
                         takeOver.syncs to take it back)"
                    );
                    self.push(object, Outcome::Lost, Some(message), None);
                }
                // Deleted with the namespace a remediator recreated.
                Action::Unchanged | Action::Drifted(_)
                    if namespace.is_some_and(|ns| self.recreated_namespaces.contains(ns)) =>
                {
                    to_apply.push((object, Outcome::Created));
                }
                Action::Create => to_apply.push((object, Outcome::Created)),
                Action::Update { .. } if self.reclaim.contains(&object.key) => {
                    to_force.push((object, Outcome::Updated));
                }
                Action::Update { reason } => {
                    let sync = &self.report.sync;
                    if plan::ownership::adopts(object, live.get(&object.key), &self.inventory, sync)
                    {
                        self.adopting.insert(object.key.clone());
                    }
                    let outcome = match reason {
                        plan::UpdateReason::Adopt => Outcome::Adopted,
                        plan::UpdateReason::GitChanged => Outcome::Updated,
                    };
                    to_apply.push((object, outcome));
                }
                Action::Unchanged => {
                    unchanged.push((self.report.objects.len(), object));
                    self.push(object, Outcome::Unchanged, None, None);
                }
                Action::Drifted(drift) => {
                    let Some(resolution) = decisions.get(&object.key) else {
                        continue;
                    };
                    match &resolution.remediation {
                        Remediation::Reapply => to_force.push((object, Outcome::Reapplied)),
                        Remediation::Recreate if self.refuses_recreate(object) => {
                            self.refuse_recreate(object, resolution);
                        }
                        Remediation::Recreate
                            if plan::cascade::cascades(&object.key)
                                && self.recreate_guard != RecreateGuard::Allowed =>
                        {
                            self.hold_recreate(object, resolution);
                        }
                        Remediation::Recreate => to_recreate.push(object),
                        Remediation::Ignore => self.ignore(object, drift, resolution),
                        Remediation::Report(message) => {
                            let mut line =
                                line(object, Outcome::Reported, Some(message.clone()), None);
                            line.drifted = drifted_paths(object);
                            line.decision.clone_from(&resolution.decision);
                            self.report.objects.push(line);
                        }
                        Remediation::Defer(after) => {
                            self.defer(object, resolution, after.as_secs())
                        }
                    }
                }
                Action::Terminating => {
                    let health = live.get(&object.key).map(|l| self.assess(object, l));
                    let message = "being deleted: left alone; once it is gone, the next sync \
                                   creates it again";
                    self.push(object, Outcome::Terminating, Some(message.into()), health);
                }
                Action::Immutable { changes } => immutable.push((object, changes)),
                Action::Prune
                | Action::Orphan
                | Action::OwnershipChanged { .. }
                | Action::KeptAdopted
                | Action::PruneRefused { .. }
                | Action::Unserved => {}
            }
        }
        self.assess_unchanged(&unchanged, live);
        if self.report.status == Status::Failed {
            let all: Vec<&plan::PlannedObject> = to_apply
                .iter()
                .chain(&to_force)
                .map(|(o, _)| *o)
                .chain(to_recreate.iter().copied())
                .chain(immutable.iter().map(|(o, _)| *o))
                .collect();
            let why = self.stopped.clone();
            let why = why
                .as_deref()
                .unwrap_or("not applied: an earlier stage failed");
            self.skip(&all, why);
            return;
        }
        let to_apply = self.take_over_fields(to_apply, live, decisions).await;
        let to_force = self.take_over_fields(to_force, live, decisions).await;
        self.apply_batch(&to_apply, false, decisions).await;
        self.apply_batch(&to_force, true, decisions).await;
        for (object, changes) in immutable {
            let refused = immutable_refusal(&object.key, changes);
            self.record(object, Outcome::Failed, Err(refused), decisions);
        }
        for object in to_recreate {
            let result = self.recreate(object, live).await;
            let recreated = result.is_ok();
            self.record(object, Outcome::Recreated, result, decisions);
            if recreated && plan::cascade::cascades(&object.key) {
                self.note_cascade(object);
            }
        }
        self.assess_applied();
        if objects.iter().any(|o| o.stage == Stage::Definitions) && !self.cluster.options().dry_run
        {
            self.await_definitions(objects).await;
        }
    }

    /// Refuse an object another sync (`owner`) applied and this one never
    /// held, naming the owner, and fail the reconcile with it.
    fn refuse_owned(&mut self, object: &plan::PlannedObject, owner: &str) {
        let error = Error::OwnedByAnotherSync {
            object: Box::new(object.key.clone()),
            owner: owner.to_owned(),
        };
        let message = error.to_string();
        self.report.push_error(error);
        self.report.status = Status::Failed;
        self.push(object, Outcome::Failed, Some(message), None);
    }

    /// Take over the fields of the sync's takeover managers on the objects
    /// of `batch` that are adopted or reapplied, and move what an earlier
    /// Plumbline owned of a Secret's `stringData` to `data` on every
    /// object of `batch` that exists ([`apply::takeover`]), so the apply
    /// that follows makes them match Git. Objects whose takeover failed are
    /// recorded as failed and left out of the returned batch.
    async fn take_over_fields<'p>(
        &mut self,
        batch: Vec<(&'p plan::PlannedObject, Outcome)>,
        live: &plan::Live,
        decisions: &BTreeMap<ObjectKey, remediate::Resolution>,
    ) -> Vec<(&'p plan::PlannedObject, Outcome)> {
        let mut kept = Vec::with_capacity(batch.len());
        for (object, outcome) in batch {
            let managers: &[String] = if takes_over(object) {
                &self.take_over.managers
            } else {
                &[]
            };
            // A created object has no fields to take over (one in a
            // recreated namespace was read before it was deleted).
            let existing = live
                .get(&object.key)
                .filter(|_| outcome != Outcome::Created);
            let taken = match existing {
                Some(live) => self.cluster.take_over(live, managers).await,
                None => Ok(None),
            };
            match taken {
                Ok(version) => {
                    if let Some(version) = version {
                        self.passed_versions.insert(object.key.clone(), version);
                    }
                    kept.push((object, outcome));
                }
                Err(error) => self.record(object, Outcome::Failed, Err(error), decisions),
            }
        }
        kept
    }

    /// Apply objects in parallel and record each result as it arrives, so
    /// only the objects in flight are held as the API server returned them.
    /// The report lists them in the batch's order all the same.
    async fn apply_batch(
        &mut self,
        batch: &[(&plan::PlannedObject, Outcome)],
        force: bool,
        decisions: &BTreeMap<ObjectKey, remediate::Resolution>,
    ) {
        let cluster = self.cluster;
        let force = force || cluster.options().force_conflicts;
        let with_manifest: Vec<(&plan::PlannedObject, &Outcome)> = batch
            .iter()
            .filter(|(object, _)| object.desired.is_some())
            .map(|(object, outcome)| (*object, outcome))
            .collect();
        // Each manifest is parsed as its apply is sent, and dropped once
        // its result is recorded.
        let manifests = with_manifest
            .iter()
            .filter_map(|(object, _)| Some(object.desired.as_ref()?.value()));
        let mut results = cluster.apply_each(manifests, force).boxed_local();
        let first_line = self.report.objects.len();
        let mut arrived = Vec::with_capacity(with_manifest.len());
        while let Some((index, result)) = results.next().await {
            let (object, outcome) = with_manifest[index];
            self.record(object, outcome.clone(), result, decisions);
            arrived.push(index);
        }
        // `record` adds one line per object, in the order they arrived.
        let mut lines: Vec<(usize, ObjectReport)> = arrived
            .into_iter()
            .zip(self.report.objects.drain(first_line..))
            .collect();
        lines.sort_by_key(|(index, _)| *index);
        self.report
            .objects
            .extend(lines.into_iter().map(|(_, line)| line));
    }

    /// Wait for the CRDs and namespaces of a stage, all at once, then
    /// refresh discovery. Objects being deleted are not waited for: they
    /// will not become ready, and are reported as terminating.
    async fn await_definitions(&mut self, objects: &[&plan::PlannedObject]) {
        let cluster = self.cluster;
        let awaited = objects
            .iter()
            .filter(|o| !matches!(o.action, Action::Terminating | Action::Immutable { .. }));
        let waits: Vec<apply::Result<()>> = futures_util::stream::iter(awaited)
            .map(|object| cluster.wait_ready(&object.key, &object.api_version))
            .buffer_unordered(cluster.options().concurrency.max(1))
            .collect()
            .await;
        for error in waits.into_iter().filter_map(Result::err) {
            self.report.push_error(Error::from(error));
            self.report.status = Status::Failed;
        }
        self.cluster.refresh_discovery();
    }

    /// Whether a `recreate` of `object` is refused: deleting it would
    /// delete other objects, and the sync does not allow that.
    fn refuses_recreate(&self, object: &plan::PlannedObject) -> bool {
        !self.allow_cascade && plan::cascade::cascades(&object.key)
    }

    /// Report a refused `recreate`, and fail the reconcile with it.
    fn refuse_recreate(
        &mut self,
        object: &plan::PlannedObject,
        resolution: &remediate::Resolution,
    ) {
        let message = format!(
            "recreate refused: deleting it deletes everything {}; \
             set spec.pruneGuard.allowCascade: true to allow it",
            if object.key.kind == "Namespace" {
                "in it"
            } else {
                "of the kind it defines"
            }
        );
        let mut line = line(object, Outcome::Refused, Some(message.clone()), None);
        line.drifted = drifted_paths(object);
        line.decision.clone_from(&resolution.decision);
        self.report.objects.push(line);
        self.report.push_error(Error::CascadeRefused {
            object: Box::new(object.key.clone()),
            message,
        });
    }

    /// Report a `recreate` of a Namespace or CRD the mass-deletion guard
    /// refused (the reconcile fails with the guard's refusal, reported
    /// once with its prunes), or that a repair leaves to a full reconcile
    /// (the repair fails, so the full reconcile follows).
    fn hold_recreate(&mut self, object: &plan::PlannedObject, resolution: &remediate::Resolution) {
        let message = match self.recreate_guard {
            RecreateGuard::Unchecked => {
                "recreate left to a full reconcile, which counts what it deletes against \
                 the mass-deletion guard"
            }
            _ => {
                "recreate refused by the mass-deletion guard: it counts everything the \
                 deletion takes with it (see the error)"
            }
        };
        let outcome = match self.recreate_guard {
            RecreateGuard::Unchecked => {
                self.report.status = Status::Failed;
                Outcome::Skipped
            }
            _ => Outcome::Refused,
        };
        let mut line = line(object, outcome, Some(message.to_owned()), None);
        line.drifted = drifted_paths(object);
        line.decision.clone_from(&resolution.decision);
        self.report.objects.push(line);
    }

    /// Say on the report line of a recreated Namespace or CRD what its
    /// deletion took with it; the sync's objects in a recreated Namespace
    /// are applied again in the stage that follows.
    fn note_cascade(&mut self, object: &plan::PlannedObject) {
        let note = if object.key.kind == "Namespace" {
            self.recreated_namespaces.insert(object.key.name.clone());
            "deleted with everything in it (spec.pruneGuard.allowCascade) and created again; \
             the sync's objects in it are created again"
        } else {
            "deleted with every resource of the kind it defines (spec.pruneGuard.allowCascade) \
             and created again"
        };
        if let Some(line) = self.report.objects.last_mut() {
            line.message = Some(note.to_owned());
        }
    }

    /// Delete the object, only if it is still the one that was read (its
    /// uid), and apply it again.
    async fn recreate(
        &self,
        object: &plan::PlannedObject,
        live: &plan::Live,
    ) -> crate::apply::Result<Value> {
        let uid = live.get(&object.key).and_then(crate::object::uid);
        self.cluster
            .delete(&object.key, &object.api_version, uid)
            .await?;
        self.cluster
            .wait_deleted(&object.key, &object.api_version)
            .await?;
        let desired = object
            .desired
            .as_ref()
            .map_or(Value::Null, plan::Manifest::value);
        self.cluster.apply_one_with(&desired, true).await
    }

    fn record(
        &mut self,
        object: &plan::PlannedObject,
        outcome: Outcome,
        result: crate::apply::Result<Value>,
        decisions: &BTreeMap<ObjectKey, remediate::Resolution>,
    ) {
        let decision = decisions.get(&object.key).and_then(|r| r.decision.clone());
        match result {
            Ok(returned) => {
                if let Some(seen) = crate::object::resource_version(&returned) {
                    let seen = seen.to_owned();
                    self.resource_versions.insert(object.key.clone(), seen);
                }
                if let Some(desired) = &object.desired {
                    let manager = &self.cluster.options().field_manager;
                    let mut entry = Entry::applied(desired.hash().to_owned(), &returned, manager);
                    entry.adopted = self.adopting.contains(&object.key);
                    self.inventory_changed |= self.inventory.record(object.key.clone(), entry);
                }
                // A health policy's verdict waits for the stage's batch;
                // the built-in rules judge at once.
                let health = if self.assessor.judges(&returned) {
                    let desired = object.desired.as_ref().map(|d| d.text().to_owned());
                    self.judged_later
                        .push((object.key.clone(), returned, desired));
                    None
                } else {
                    Some(self.assess(object, &returned))
                };
                let mut line = line(object, outcome, None, health);
                line.decision = decision;
                line.drifted = drifted_paths(object);
                self.report.objects.push(line);
            }
            Err(error) => {
                let message = error.to_string();
                self.report.push_error(Error::from(error));
                self.report.status = Status::Failed;
                let mut line = line(object, Outcome::Failed, Some(message), None);
                line.decision = decision;
                line.drifted = drifted_paths(object);
                self.report.objects.push(line);
            }
        }
    }

    fn ignore(
        &mut self,
        object: &plan::PlannedObject,
        drift: &plan::Drift,
        resolution: &remediate::Resolution,
    ) {
        if let Some(entry) = self.inventory.entries.get_mut(&object.key) {
            self.inventory_changed = true;
            if drift.deleted {
                entry.ignored.insert(FieldPath::root());
            }
            entry
                .ignored
                .extend(drift.changes.iter().map(|c| c.path.clone()));
        }
        let mut line = line(object, Outcome::Ignored, None, None);
        line.drifted = drifted_paths(object);
        line.decision.clone_from(&resolution.decision);
        self.report.objects.push(line);
    }

    fn defer(
        &mut self,
        object: &plan::PlannedObject,
        resolution: &remediate::Resolution,
        seconds: u64,
    ) {
        if resolution.decision.is_some() {
            if let Some(entry) = self.inventory.entries.get_mut(&object.key) {
                self.inventory_changed = true;
                entry.deferred_until = Some(remediate::now() + seconds);
                entry.deferred_by = resolution.decision.as_ref().map(|d| d.policy.clone());
            }
        }
        let message = format!("decision deferred for {seconds}s");
        let mut line = line(object, Outcome::Deferred, Some(message), None);
        line.decision.clone_from(&resolution.decision);
        self.report.objects.push(line);
    }

    /// Delete the objects that left Git and are provably this sync's, each
    /// only if it still has the uid it was read with; report the others.
    /// What a Namespace or CRD holds is listed again right before its
    /// DELETE ([`Run::holds_foreign`]).
    async fn prune(&mut self, prunes: &[&plan::PlannedObject], live: &plan::Live) {
        // The members as they were before this prune deleted any: what a
        // Namespace still holds of them while they go is the sync's.
        let members = prunes
            .iter()
            .any(|o| o.action == Action::Prune && plan::cascade::cascades(&o.key))
            .then(|| self.inventory.clone());
        for object in prunes {
            match &object.action {
                Action::Prune => {}
                Action::Orphan => {
                    self.push(object, Outcome::Orphaned, None, None);
                    continue;
                }
                Action::PruneRefused { reason } => {
                    self.refuse_prune(object, reason);
                    continue;
                }
                other => {
                    self.not_pruned(object, other);
                    continue;
                }
            }
            if let Some(members) = &members {
                match self.holds_foreign(object, live, members).await {
                    Ok(None) => {}
                    Ok(Some(reason)) => {
                        self.refuse_prune(object, &reason);
                        continue;
                    }
                    Err(error) => {
                        let message = error.to_string();
                        self.report.push_error(Error::from(error));
                        self.push(object, Outcome::Failed, Some(message), None);
                        continue;
                    }
                }
            }
            let uid = live.get(&object.key).and_then(crate::object::uid);
            match self
                .cluster
                .delete(&object.key, &object.api_version, uid)
                .await
            {
                Ok(()) => {
                    if !self.cluster.options().dry_run {
                        self.inventory.entries.remove(&object.key);
                        self.inventory_changed = true;
                    }
                    self.push(object, Outcome::Pruned, None, None);
                }
                Err(error @ apply::Error::OwnershipChanged { .. }) => {
                    self.inventory.entries.remove(&object.key);
                    self.inventory_changed = true;
                    self.push(
                        object,
                        Outcome::OwnershipChanged,
                        Some(error.to_string()),
                        None,
                    );
                }
                Err(error) => {
                    let message = error.to_string();
                    self.report.push_error(Error::from(error));
                    self.push(object, Outcome::Failed, Some(message), None);
                }
            }
        }
    }

    /// Why the prune of a Namespace or CRD is refused now: listed again
    /// just before its DELETE, it holds objects that are not the sync's
    /// (`members`) or kinds that cannot be listed, which were not there
    /// when the prune was decided (the stages applied since). `None` for
    /// any other object, and when the sync allows cascading deletes.
    async fn holds_foreign(
        &self,
        object: &plan::PlannedObject,
        live: &plan::Live,
        members: &Inventory,
    ) -> apply::Result<Option<String>> {
        let cascade = plan::cascade::of(&object.key, live.get(&object.key));
        let Some(cascade) = cascade.filter(|_| !self.allow_cascade) else {
            return Ok(None);
        };
        let contents = self.cluster.contents(&cascade).await?;
        let foreign = plan::cascade::foreign(&contents, members, &self.report.sync);
        Ok((!foreign.is_empty() || !contents.unlisted.is_empty())
            .then(|| plan::cascade::refusal(&object.key, &foreign, &contents.unlisted)))
    }

    /// Report a prune refused because it would delete objects the sync
    /// does not own, and fail the reconcile with it.
    fn refuse_prune(&mut self, object: &plan::PlannedObject, reason: &str) {
        self.push(object, Outcome::Refused, Some(reason.to_owned()), None);
        self.report.push_error(Error::CascadeRefused {
            object: Box::new(object.key.clone()),
            message: reason.to_owned(),
        });
    }

    /// Report an object that left Git and is not deleted, whatever the
    /// prune guard says: not this sync's any more, being deleted, adopted,
    /// or of a kind no longer served.
    fn not_pruned(&mut self, object: &plan::PlannedObject, action: &Action) {
        match action {
            Action::OwnershipChanged { reason } => {
                self.push(
                    object,
                    Outcome::OwnershipChanged,
                    Some(reason.clone()),
                    None,
                );
            }
            Action::Terminating => self.push(object, Outcome::Terminating, None, None),
            Action::KeptAdopted => {
                let message = "adopted, not pruned: it existed before this sync applied it; \
                               set spec.pruneGuard.pruneAdopted: true to prune it";
                self.push(
                    object,
                    Outcome::AdoptedNotPruned,
                    Some(message.into()),
                    None,
                );
            }
            Action::Unserved => {
                let message = format!(
                    "{} {} is no longer served (nor any other version of it): \
                     it cannot be checked or pruned, and stays in the inventory",
                    object.api_version, object.key.kind
                );
                self.push(object, Outcome::Unserved, Some(message), None);
            }
            _ => {}
        }
    }

    /// Report objects that left Git as skipped (`why`); those that would not
    /// be deleted anyway are reported as what they are.
    fn skip(&mut self, objects: &[&plan::PlannedObject], why: &str) {
        for object in objects {
            match object.action {
                Action::OwnershipChanged { .. }
                | Action::Terminating
                | Action::KeptAdopted
                | Action::Unserved => {
                    self.not_pruned(object, &object.action);
                }
                Action::PruneRefused { ref reason } => self.refuse_prune(object, reason),
                _ => self.push(object, Outcome::Skipped, Some(why.to_owned()), None),
            }
        }
    }

    fn push(
        &mut self,
        object: &plan::PlannedObject,
        outcome: Outcome,
        message: Option<String>,
        health: Option<health::Health>,
    ) {
        let line = line(object, outcome, message, health);
        self.report.objects.push(line);
    }
}

/// The error of an object whose change in Git the API server would accept
/// and not make ([`plan::immutable::kept_by_server`]), naming its fields.
fn immutable_refusal(key: &ObjectKey, changes: &[plan::FieldChange]) -> apply::Error {
    let kept: Vec<String> = changes
        .iter()
        .map(|change| {
            let live = change
                .live
                .as_ref()
                .map_or("(absent)".into(), Value::to_string);
            format!("{} stays {live}", change.path)
        })
        .collect();
    apply::Error::Immutable {
        object: key.clone(),
        fields: changes.iter().map(|c| c.path.to_string()).collect(),
        message: format!(
            "the API server would accept the change and keep the live value: {}",
            kept.join(", ")
        ),
    }
}

/// Whether fields are taken over before applying the object: when it is
/// adopted, and when its drift is reapplied.
fn takes_over(object: &plan::PlannedObject) -> bool {
    matches!(
        object.action,
        Action::Update {
            reason: plan::UpdateReason::Adopt
        } | Action::Drifted(_)
    )
}

/// The paths of an object's drifted fields, if it drifted.
fn drifted_paths(object: &plan::PlannedObject) -> Vec<String> {
    match &object.action {
        Action::Drifted(drift) => drift.changes.iter().map(|c| c.path.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// A report line for an object.
fn line(
    object: &plan::PlannedObject,
    outcome: Outcome,
    message: Option<String>,
    health: Option<health::Health>,
) -> ObjectReport {
    ObjectReport {
        key: object.key.clone(),
        outcome,
        drifted: Vec::new(),
        decision: None,
        message,
        health,
    }
}
