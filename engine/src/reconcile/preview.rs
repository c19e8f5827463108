//! What a sync would do, without doing it (`plumbline plan`).
//!
//! The desired state is planned against the cluster's live objects and the
//! sync's inventory, read exactly as a reconcile reads them
//! ([`super::read_state`]), with its prunes checked exactly as a reconcile
//! checks them ([`super::prune_check`]), or against an empty cluster. On
//! request the
//! creates and updates of that one plan are also sent as server-side
//! dry-run applies, so the API server validates them. Nothing is written.

use serde_json::Value;

use super::{prune_check, read_state, Error, SyncUnit};
use crate::apply::{inventory_store, Cluster};
use crate::plan::waves::Schedule;
use crate::plan::{self, Action, Inventory, Live, Plan, PruneRefused};

/// A plan and what it was made against.
#[derive(Debug)]
pub struct Preview {
    /// What a sync would do, object by object.
    pub planned: Plan,
    /// The live objects the plan was made against (empty without a
    /// cluster).
    pub live: Live,
    /// What the API server refused in the server-side dry run, one message
    /// per object.
    pub rejected: Vec<String>,
    /// The mass-deletion guard's verdict: a sync would refuse the prune.
    pub guard: Result<(), PruneRefused>,
    /// The order of the desired objects: phases and waves.
    pub schedule: Schedule,
}

/// Plan `desired` for `unit` against `cluster`, or against an empty
/// cluster when there is none. With `server_dry_run`, the creates and
/// updates are sent as applies through `cluster`, which must be connected
/// with [`crate::apply::Options::dry_run`] set.
pub async fn preview(
    unit: &SyncUnit,
    desired: Vec<plan::DesiredObject>,
    cluster: Option<&Cluster>,
    server_dry_run: bool,
) -> Result<Preview, Error> {
    let spec = &unit.config.spec;
    let Some(cluster) = cluster else {
        let options = super::plan_options(unit, &plan::Options::default().field_manager);
        let live = Live::new();
        let mut planned = plan::plan_owned(desired, &live, &Inventory::default(), &options);
        let schedule = super::waves::prepare(&mut planned)?;
        return Ok(Preview {
            planned,
            live,
            rejected: Vec::new(),
            guard: Ok(()),
            schedule,
        });
    };
    debug_assert!(cluster.options().dry_run, "a preview writes nothing");
    let options = super::plan_options(unit, &cluster.options().field_manager);
    let stored = inventory_store::load(cluster, &spec.inventory_namespace, unit.name()).await?;
    let state = read_state(cluster, unit.name(), &desired, stored).await?;
    let mut planned = plan::plan_owned(desired, &state.live, &state.inventory, &options);
    // Remediators decide at sync: a plan shows drift, not what a
    // `recreate` would delete.
    let no_recreates = std::collections::BTreeSet::new();
    let guard = prune_check::check(
        cluster,
        unit.name(),
        &mut planned,
        &state,
        &no_recreates,
        &spec.sync.prune_guard,
    )
    .await?;
    let schedule = super::waves::prepare(&mut planned)?;
    let mut rejected = Vec::new();
    if server_dry_run {
        let writes: Vec<Value> = planned
            .objects
            .iter()
            .filter(|o| matches!(o.action, Action::Create | Action::Update { .. }))
            .filter_map(|o| o.desired.as_ref().map(plan::Manifest::value))
            .collect();
        for applied in cluster.apply(&writes).await {
            if let Err(error) = applied.result {
                rejected.push(error.to_string());
            }
        }
    }
    Ok(Preview {
        planned,
        live: state.live,
        rejected,
        guard,
        schedule,
    })
}
