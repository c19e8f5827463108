//! What a plan's prunes may do, decided once for `plumbline plan` and
//! `plumbline sync` alike: inventory members whose kind is no longer served
//! are shown, a pruned Namespace or CustomResourceDefinition that would
//! take objects the sync does not own with it is refused (unless the sync
//! allows cascading deletes), and the mass-deletion guard counts what is
//! left. Reads from the cluster; writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::apply::{self, Cluster};
use crate::object::ObjectKey;
use crate::plan::{self, cascade, Action, Inventory, Plan, PruneRefused};
use crate::spec::PruneGuard;

/// Refine the prunes `planned` made for `sync` as the module says, and
/// return the mass-deletion guard's verdict on them.
pub async fn check(
    cluster: &Cluster,
    sync: &str,
    planned: &mut Plan,
    inventory: &Inventory,
    live: &plan::Live,
    unserved: &BTreeSet<ObjectKey>,
    guard: &PruneGuard,
) -> apply::Result<Result<(), PruneRefused>> {
    planned.add_unserved(unserved, inventory);
    let mut refused = BTreeMap::new();
    let mut foreign_deleted = 0;
    let cascading = planned
        .objects
        .iter()
        .filter(|o| o.action == Action::Prune)
        .filter_map(|o| Some((&o.key, cascade::of(&o.key, live.get(&o.key))?)));
    for (key, cascade) in cascading {
        let contents = cluster.contents(&cascade).await?;
        let foreign = cascade::foreign(&contents, inventory, sync);
        if foreign.is_empty() && contents.unlisted.is_empty() {
            continue;
        }
        if guard.allow_cascade {
            foreign_deleted += foreign.len();
        } else {
            let reason = cascade::refusal(key, &foreign, &contents.unlisted);
            refused.insert(key.clone(), reason);
        }
    }
    planned.refuse_prunes(refused);
    Ok(planned.check_prune_guard(
        inventory,
        live,
        guard.max_share,
        guard.allow_mass_prune,
        foreign_deleted,
    ))
}
