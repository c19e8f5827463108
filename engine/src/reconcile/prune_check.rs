//! What a plan's deletions may do, decided once for `plumbline plan` and
//! `plumbline sync` alike: inventory members whose kind is no longer served
//! are shown, a pruned Namespace or CustomResourceDefinition that would
//! take objects the sync does not own with it is refused (unless the sync
//! allows cascading deletes), and the mass-deletion guard counts what is
//! left, with what a remediator's `recreate` of a Namespace or CRD deletes.
//! Reads from the cluster; writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::{remediate, State};
use crate::apply::{self, Cluster};
use crate::object::ObjectKey;
use crate::plan::{cascade, Action, Plan, PruneRefused};
use crate::policy::Remediation;
use crate::spec::PruneGuard;

/// Refine the prunes `planned` made for `sync` with what was read
/// (`state`) as the module says, and return the mass-deletion guard's
/// verdict on them and on the Namespaces and CRDs of `recreated`
/// ([`cascading_recreates`]).
pub async fn check(
    cluster: &Cluster,
    sync: &str,
    planned: &mut Plan,
    state: &State,
    recreated: &BTreeSet<ObjectKey>,
    guard: &PruneGuard,
) -> apply::Result<Result<(), PruneRefused>> {
    let (inventory, live) = (&state.inventory, &state.live);
    planned.add_unserved(&state.unserved, inventory);
    let mut refused = BTreeMap::new();
    let mut foreign_deleted = 0;
    let pruned = planned
        .objects
        .iter()
        .filter(|o| o.action == Action::Prune)
        .map(|o| &o.key);
    let cascading = pruned
        .map(|key| (key, false))
        .chain(recreated.iter().map(|key| (key, true)))
        .filter_map(|(key, recreate)| Some((key, recreate, cascade::of(key, live.get(key))?)));
    for (key, recreate, cascade) in cascading {
        let contents = cluster.contents(&cascade).await?;
        let foreign = cascade::foreign(&contents, inventory, sync);
        if foreign.is_empty() && contents.unlisted.is_empty() {
            continue;
        }
        // A recreate is only decided when cascading deletes are allowed.
        if recreate || guard.allow_cascade {
            foreign_deleted += foreign.len();
        } else {
            let reason = cascade::refusal(key, &foreign, &contents.unlisted);
            refused.insert(key.clone(), reason);
        }
    }
    planned.refuse_prunes(refused);
    Ok(planned.check_prune_guard(inventory, live, recreated, guard, foreign_deleted))
}

/// The Namespaces and CRDs the remediators decided to `recreate`, when the
/// sync allows cascading deletes (`allow_cascade`; otherwise the recreate
/// is refused and deletes nothing): each deletes everything in it.
pub fn cascading_recreates(
    decisions: &BTreeMap<ObjectKey, remediate::Resolution>,
    allow_cascade: bool,
) -> BTreeSet<ObjectKey> {
    decisions
        .iter()
        .filter(|(key, resolution)| {
            allow_cascade
                && matches!(resolution.remediation, Remediation::Recreate)
                && cascade::cascades(key)
        })
        .map(|(key, _)| key.clone())
        .collect()
}
