//! Plan: desired objects vs live objects -> what a sync will do.
//!
//! Sans-IO. The planner *receives* the desired set (after transformers and
//! validators), the live objects (as the API server returned them, with
//! `metadata.managedFields`) and the sync's [`Inventory`], and returns a
//! [`Plan`]: one [`PlannedObject`] per object, in apply order, each with an
//! [`Action`]. Fetching live state and executing the plan are the apply
//! stage's job.
//!
//! How an object's action is decided:
//!
//! | in Git | in cluster | in inventory | action |
//! |---|---|---|---|
//! | yes | no | no, or with another manifest | [`Action::Create`] |
//! | yes | no | yes, same manifest | [`Action::Drifted`] (deleted), or [`Action::Unchanged`] if a remediator ignored the deletion |
//! | yes | yes | no | [`Action::Update`] (adopt) |
//! | yes | yes | yes, other manifest | [`Action::Update`] (Git changed) |
//! | yes | yes | yes, same manifest | [`Action::Unchanged`] or [`Action::Drifted`] |
//! | no | yes, still ours | yes | [`Action::Prune`] (or [`Action::Orphan`] when prune is off, [`Action::KeptAdopted`] when the sync adopted it and does not prune adopted objects) |
//! | no | yes, not ours any more | yes | [`Action::OwnershipChanged`] |
//! | no | yes, annotated `helm.sh/resource-policy: keep` | yes | [`Action::OwnershipChanged`] (left in place, as Helm does) |
//! | any | being deleted | any | [`Action::Terminating`] |
//! | yes | yes, another sync's | no | [`Action::OwnedByAnotherSync`] (unless the sync may take it over) |
//! | yes | yes, another sync's | yes | [`Action::Lost`] (unless the sync may take it over) |
//!
//! "Still ours" ([`ownership::changed`]): the live object carries the
//! sync's label and the uid recorded in the inventory. An inventory member
//! whose live uid is that of a desired object is the same object under
//! another group (core `v1 Event` and `events.k8s.io/v1 Event`), and is
//! never pruned.
//!
//! The apply stage refines the prunes with what only the API server knows:
//! a pruned Namespace or CustomResourceDefinition that would take objects
//! the sync does not own with it is refused ([`cascade`],
//! [`Action::PruneRefused`]), and members whose kind is no longer served
//! are added as [`Action::Unserved`].
//!
//! Drift follows the design's rule: a field Plumbline owns whose live value
//! differs from the value the API server returned after the last apply, or
//! that another field manager took over. Defaulted and normalised fields are
//! never compared with the manifest, so `cpu: 1000m` is never drift. Fields a
//! remediator chose to ignore stay ignored until the manifest changes.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::object::ObjectKey;

pub mod cascade;
pub mod fields;
pub mod hooks;
pub mod immutable;
pub mod inventory;
pub mod manifest;
pub mod order;
pub mod ownership;
pub mod waves;

pub use fields::FieldPath;
pub use inventory::{Entry, Inventory};
pub use manifest::{DesiredObject, Manifest};
pub use order::Stage;

/// Settings of one planning run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Plumbline's server-side apply field manager name.
    pub field_manager: String,
    /// Whether inventory members that left Git are deleted.
    pub prune: bool,
    /// Whether that includes members the sync adopted
    /// ([`Entry::adopted`]).
    pub prune_adopted: bool,
    /// The sync's name: the value of the `plumbline.dev/sync` label on the
    /// objects it owns.
    pub sync: String,
    /// The field managers whose fields a reapply takes over
    /// (`spec.takeOver.managers`): what they wrote and Git does not set is
    /// drift, because the reapply removes it.
    pub take_over: Vec<String>,
    /// The other syncs whose objects this sync may take over
    /// (`spec.takeOver.syncs`): an object another sync applied is
    /// [`Action::OwnedByAnotherSync`] or [`Action::Lost`] unless its sync
    /// is listed here.
    pub take_over_syncs: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            field_manager: "plumbline".to_owned(),
            prune: true,
            prune_adopted: false,
            sync: String::new(),
            take_over: crate::spec::take_over_managers(),
            take_over_syncs: Vec::new(),
        }
    }
}

/// Live objects by identity.
pub type Live = BTreeMap<ObjectKey, Value>;

/// What a plan needs of a live object that still has the `resourceVersion`
/// its apply returned ([`Entry::resource_version`]): it is exactly what was
/// applied, so its fields are never compared, and only its identity,
/// metadata (ownership, version, deletion) and status (health) are kept,
/// without its spec, data and `managedFields`.
pub fn summary(object: Value) -> Value {
    let Value::Object(mut fields) = object else {
        return object;
    };
    let mut kept = serde_json::Map::new();
    for name in ["apiVersion", "kind", "metadata", "status"] {
        if let Some(value) = fields.remove(name) {
            kept.insert(name.to_owned(), value);
        }
    }
    if let Some(metadata) = kept.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    Value::Object(kept)
}

/// What a sync will do, object by object, in apply order (prunes last, in
/// reverse apply order).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// One entry per desired, drifted or pruned object.
    pub objects: Vec<PlannedObject>,
}

impl Plan {
    /// The desired objects of the plan (their manifests shared, not
    /// copied).
    pub fn desired_objects(&self) -> Vec<DesiredObject> {
        let desired = self.objects.iter().filter_map(|o| {
            Some(DesiredObject {
                key: o.key.clone(),
                api_version: o.api_version.clone(),
                manifest: o.desired.clone()?,
            })
        });
        desired.collect()
    }
}

/// What happens to one object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedObject {
    /// Identity of the object.
    pub key: ObjectKey,
    /// `apiVersion` to apply (or prune) it with.
    pub api_version: String,
    /// The stage it is applied in.
    pub stage: Stage,
    /// What happens to it.
    pub action: Action,
    /// The desired manifest; `None` for prunes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Manifest>,
}

/// The action for one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// The object does not exist: create it.
    Create,
    /// The object exists and must be applied.
    Update {
        /// Why.
        reason: UpdateReason,
    },
    /// Nothing to do.
    Unchanged,
    /// The live object drifted from what Plumbline applied; a remediator
    /// decides what happens.
    Drifted(Drift),
    /// The object left Git: delete it.
    Prune,
    /// The object left Git but prune is off: leave it and report it.
    Orphan,
    /// The object left Git but is not provably this sync's any more (another
    /// sync's label, no label, or another uid): leave it, report it, and
    /// forget it.
    OwnershipChanged {
        /// What changed.
        reason: String,
    },
    /// The object is being deleted (`deletionTimestamp` set): leave it and
    /// report it.
    Terminating,
    /// Git changes fields that the API server accepts and does not change
    /// ([`immutable::kept_by_server`]): the object is not applied, and the
    /// sync fails it by name until someone deletes it (the next sync then
    /// creates it from Git).
    Immutable {
        /// The fields, with their live and desired values.
        changes: Vec<FieldChange>,
    },
    /// The object left Git, but the sync adopted it (it existed before the
    /// sync first applied it) and does not prune adopted objects: leave
    /// it and report it.
    KeptAdopted,
    /// The object left Git, but deleting it would delete objects the sync
    /// does not own (see [`cascade`]): leave it and report why.
    PruneRefused {
        /// What it would take with it.
        reason: String,
    },
    /// The object left Git, but no version of its kind is served any more:
    /// it can be neither checked nor deleted, and stays in the inventory.
    Unserved,
    /// The object is in Git, but another sync applied it (its label names
    /// that sync), this sync never held it, and `takeOver.syncs` does not
    /// list the other sync: it is not applied, and the sync fails with
    /// `OwnedByAnotherSync`.
    OwnedByAnotherSync {
        /// The sync whose label it carries.
        owner: String,
    },
    /// The object is in Git and in the inventory, but another sync took it
    /// over, and `takeOver.syncs` does not list that sync: it is not
    /// applied (the two syncs do not fight over it) and stays in the
    /// inventory; the sync does not fail.
    Lost {
        /// The sync whose label it carries now.
        owner: String,
    },
}

/// Why an existing object is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UpdateReason {
    /// The manifest in Git changed since the last apply.
    GitChanged,
    /// The object exists but this sync has not applied it yet (first sync,
    /// or a lost inventory): apply to take ownership.
    Adopt,
}

/// How a live object drifted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// The object was deleted from the cluster.
    pub deleted: bool,
    /// The fields that changed (empty when deleted).
    pub changes: Vec<FieldChange>,
}

/// One drifted field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Where the field is.
    pub path: FieldPath,
    /// The value in the desired manifest, if it sets the field.
    pub desired: Option<Value>,
    /// The value in the cluster, if the field is there.
    pub live: Option<Value>,
    /// Other field managers that now own the field, if Plumbline lost it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taken_over_by: Vec<String>,
}

impl Plan {
    /// The number of objects with each action, for summaries.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for object in &self.objects {
            match object.action {
                Action::Create => s.create += 1,
                Action::Update { .. } => s.update += 1,
                Action::Unchanged => s.unchanged += 1,
                Action::Drifted(_) => s.drifted += 1,
                Action::Prune => s.prune += 1,
                Action::Orphan => s.orphan += 1,
                Action::OwnershipChanged { .. } => s.ownership_changed += 1,
                Action::Terminating => s.terminating += 1,
                Action::Immutable { .. } => s.immutable += 1,
                Action::KeptAdopted => s.kept_adopted += 1,
                Action::PruneRefused { .. } => s.prune_refused += 1,
                Action::Unserved => s.unserved += 1,
                Action::OwnedByAnotherSync { .. } => s.owned_by_another_sync += 1,
                Action::Lost { .. } => s.lost += 1,
            }
        }
        s
    }

    /// Refuse a prune that deletes more than `max_share` (0.0–1.0) of the
    /// inventory, or all of it, unless `allow` is set. A pruned Namespace or
    /// CustomResourceDefinition counts the inventory members it takes with
    /// it (see [`Plan::pruned_with_cascade`]); so does each Namespace or
    /// CustomResourceDefinition of `recreated`, which a remediator's
    /// `recreate` deletes with everything in it (and creates again). And
    /// `foreign`, the objects the sync does not own that those deletions
    /// take with them, count both as deleted and in the whole.
    pub fn check_prune_guard(
        &self,
        inventory: &Inventory,
        live: &Live,
        recreated: &std::collections::BTreeSet<ObjectKey>,
        guard: &crate::spec::PruneGuard,
        foreign: usize,
    ) -> Result<(), PruneRefused> {
        let mut deleted = self.pruned_with_cascade(inventory, live);
        let pruned = deleted.len();
        for key in recreated {
            deleted.insert(key);
            deleted.extend(ownership::cascade(key, live.get(key), inventory));
        }
        let prunes = deleted.len();
        let total = inventory.entries.len();
        if guard.allow_mass_prune || prunes + foreign == 0 {
            return Ok(());
        }
        // Counts are far below 2^52, so the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let share = (prunes + foreign) as f64 / (total + foreign) as f64;
        if prunes == total || share > guard.max_share {
            return Err(PruneRefused {
                prunes,
                inventory: total,
                foreign,
                recreated: prunes - pruned,
                max_share: guard.max_share,
            });
        }
        Ok(())
    }

    /// The inventory members a prune deletes: the pruned objects, the
    /// objects of the sync inside a pruned Namespace, and the custom
    /// resources of a pruned CustomResourceDefinition.
    pub fn pruned_with_cascade<'a>(
        &'a self,
        inventory: &'a Inventory,
        live: &Live,
    ) -> std::collections::BTreeSet<&'a ObjectKey> {
        let mut deleted = std::collections::BTreeSet::new();
        for object in self.objects.iter().filter(|o| o.action == Action::Prune) {
            deleted.insert(&object.key);
            deleted.extend(ownership::cascade(
                &object.key,
                live.get(&object.key),
                inventory,
            ));
        }
        deleted
    }

    /// Add the inventory members that left Git and whose kind no version of
    /// the API server serves any more, as [`Action::Unserved`].
    pub fn add_unserved(
        &mut self,
        unserved: &std::collections::BTreeSet<ObjectKey>,
        inventory: &Inventory,
    ) {
        for key in unserved {
            let Some(entry) = inventory.entries.get(key) else {
                continue;
            };
            self.objects.push(PlannedObject {
                key: key.clone(),
                api_version: entry.api_version.clone(),
                stage: order::stage(key, key.namespace.is_some()),
                action: Action::Unserved,
                desired: None,
            });
        }
    }
}

/// A prune refused by the mass-deletion guard.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "refusing to prune {prunes} of {inventory} objects this sync owns{}{} (more than {:.0} %, or all of them); \
     if this is intended, set spec.pruneGuard.allowMassPrune: true (or raise spec.pruneGuard.maxShare) for this sync",
    if *foreign > 0 { format!(" and {foreign} it does not own") } else { String::new() },
    if *recreated > 0 {
        format!(", {recreated} of them deleted by a remediator's recreate of a Namespace or CustomResourceDefinition")
    } else {
        String::new()
    },
    max_share * 100.0
)]
pub struct PruneRefused {
    /// Objects of the sync the plan would delete.
    pub prunes: usize,
    /// Objects in the inventory.
    pub inventory: usize,
    /// Objects the sync does not own that would be deleted with them.
    pub foreign: usize,
    /// How many of `prunes` a remediator's `recreate` of a Namespace or
    /// CustomResourceDefinition deletes (and creates again), and no prune
    /// does.
    pub recreated: usize,
    /// The configured maximum share.
    pub max_share: f64,
}

/// Counts of planned actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Objects to create.
    pub create: usize,
    /// Objects to update.
    pub update: usize,
    /// Objects in sync.
    pub unchanged: usize,
    /// Objects that drifted.
    pub drifted: usize,
    /// Objects to delete.
    pub prune: usize,
    /// Objects left behind because prune is off.
    pub orphan: usize,
    /// Objects that left Git but are not this sync's any more.
    pub ownership_changed: usize,
    /// Objects being deleted.
    pub terminating: usize,
    /// Objects whose change in Git the API server would not make.
    pub immutable: usize,
    /// Adopted objects that left Git, left in place.
    pub kept_adopted: usize,
    /// Prunes refused: they would delete objects the sync does not own.
    pub prune_refused: usize,
    /// Objects that left Git whose kind is no longer served.
    pub unserved: usize,
    /// Objects in Git that another sync applied: a sync refuses them.
    pub owned_by_another_sync: usize,
    /// Objects in Git that another sync took over: a sync leaves them.
    pub lost: usize,
}

impl Summary {
    /// Whether the cluster already matches Git.
    pub fn in_sync(&self) -> bool {
        self.create
            + self.update
            + self.drifted
            + self.prune
            + self.terminating
            + self.immutable
            + self.prune_refused
            + self.owned_by_another_sync
            == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to create, {} to update, {} unchanged, {} drifted, {} to prune",
            self.create, self.update, self.unchanged, self.drifted, self.prune
        )?;
        if self.orphan > 0 {
            write!(f, ", {} orphaned (prune is off)", self.orphan)?;
        }
        if self.ownership_changed > 0 {
            write!(
                f,
                ", {} not pruned (ownership changed)",
                self.ownership_changed
            )?;
        }
        if self.terminating > 0 {
            write!(f, ", {} terminating", self.terminating)?;
        }
        if self.immutable > 0 {
            write!(f, ", {} cannot change (immutable)", self.immutable)?;
        }
        if self.kept_adopted > 0 {
            write!(f, ", {} adopted, not pruned", self.kept_adopted)?;
        }
        if self.prune_refused > 0 {
            write!(
                f,
                ", {} not pruned (would delete what the sync does not own)",
                self.prune_refused
            )?;
        }
        if self.unserved > 0 {
            write!(f, ", {} no longer served", self.unserved)?;
        }
        if self.owned_by_another_sync > 0 {
            write!(
                f,
                ", {} not applied (another sync's)",
                self.owned_by_another_sync
            )?;
        }
        if self.lost > 0 {
            write!(f, ", {} lost to another sync", self.lost)?;
        }
        Ok(())
    }
}

/// Plan a sync. `desired` must already carry namespaces for namespaced
/// objects (objects without `metadata.namespace` are treated as
/// cluster-scoped) and must not contain objects without identity (render
/// rejects those).
pub fn plan(desired: &[Value], live: &Live, inventory: &Inventory, options: &Options) -> Plan {
    let desired = desired.iter().filter_map(DesiredObject::of).collect();
    plan_owned(desired, live, inventory, options)
}

/// [`plan`], taking the desired objects into the plan: their manifests are
/// moved, not copied, and parsed only where a field comparison needs them.
pub fn plan_owned(
    desired: Vec<DesiredObject>,
    live: &Live,
    inventory: &Inventory,
    options: &Options,
) -> Plan {
    let mut objects: Vec<PlannedObject> = desired
        .into_iter()
        .map(|object| {
            let DesiredObject {
                key,
                api_version,
                manifest,
            } = object;
            let entry = inventory.entries.get(&key).filter(|e| !e.is_recovered());
            let action = match live.get(&key) {
                Some(live) if crate::object::is_terminating(live) => Action::Terminating,
                live => desired_action(&key, &manifest, live, entry, options),
            };
            let action = unless_another_syncs(action, &key, live.get(&key), inventory, options);
            PlannedObject {
                stage: order::stage(&key, key.namespace.is_some()),
                api_version,
                key,
                action,
                desired: Some(manifest),
            }
        })
        .collect();
    objects.sort_by(|a, b| apply_order(a).cmp(&apply_order(b)));

    let mut prunes = prune_candidates(&objects, live, inventory, options);
    prunes.sort_by(|a, b| apply_order(b).cmp(&apply_order(a)));
    objects.extend(prunes);
    Plan { objects }
}

/// The inventory members that left Git and still exist, each with what
/// happens to it. A member that is the same object as a desired one (one
/// uid, two groups) is no candidate. Each is addressed with the
/// `apiVersion` the live object was read with, which is served even when
/// the recorded one no longer is.
fn prune_candidates(
    desired: &[PlannedObject],
    live: &Live,
    inventory: &Inventory,
    options: &Options,
) -> Vec<PlannedObject> {
    let desired_keys: std::collections::BTreeSet<&ObjectKey> =
        desired.iter().map(|o| &o.key).collect();
    let desired_uids = ownership::uids(desired_keys.iter().copied(), live);
    let mut seen_uids = std::collections::BTreeSet::new();
    inventory
        .entries
        .iter()
        .filter(|(key, _)| !desired_keys.contains(key))
        .filter_map(|(key, entry)| {
            let object = live.get(key)?;
            let uid = crate::object::uid(object);
            if uid.is_some_and(|uid| desired_uids.contains(uid) || !seen_uids.insert(uid)) {
                return None;
            }
            Some(PlannedObject {
                key: key.clone(),
                api_version: object["apiVersion"]
                    .as_str()
                    .unwrap_or(&entry.api_version)
                    .to_owned(),
                stage: order::stage(key, key.namespace.is_some()),
                action: prune_action(object, entry, options),
                desired: None,
            })
        })
        .collect()
}

/// `action` for a desired object, unless it writes an object another sync
/// applied ([`ownership::other_sync`]): then the object is
/// [`Action::Lost`] when this sync held it (the other sync took it over),
/// and [`Action::OwnedByAnotherSync`] when it never did.
fn unless_another_syncs(
    action: Action,
    key: &ObjectKey,
    live: Option<&Value>,
    inventory: &Inventory,
    options: &Options,
) -> Action {
    if matches!(action, Action::Unchanged | Action::Terminating) {
        return action;
    }
    let Some(owner) =
        live.and_then(|l| ownership::other_sync(l, &options.sync, &options.take_over_syncs))
    else {
        return action;
    };
    let owner = owner.to_owned();
    if inventory.entries.contains_key(key) {
        Action::Lost { owner }
    } else {
        Action::OwnedByAnotherSync { owner }
    }
}

/// What happens to a live inventory member that left Git.
fn prune_action(live: &Value, entry: &Entry, options: &Options) -> Action {
    if let Some(reason) = ownership::changed(live, entry, &options.sync) {
        Action::OwnershipChanged { reason }
    } else if crate::render::helm::output::is_kept_on_prune(live) {
        Action::OwnershipChanged {
            reason: format!(
                "annotated {}: keep, left in place",
                crate::render::helm::output::RESOURCE_POLICY_ANNOTATION
            ),
        }
    } else if crate::object::is_terminating(live) {
        Action::Terminating
    } else if entry.adopted && options.prune && !options.prune_adopted {
        Action::KeptAdopted
    } else if options.prune {
        Action::Prune
    } else {
        Action::Orphan
    }
}

fn apply_order(object: &PlannedObject) -> (Stage, usize, &ObjectKey) {
    (
        object.stage,
        order::kind_rank(&object.key.kind),
        &object.key,
    )
}

fn desired_action(
    key: &ObjectKey,
    desired: &Manifest,
    live: Option<&Value>,
    entry: Option<&Entry>,
    options: &Options,
) -> Action {
    let same_manifest = entry.is_some_and(|e| e.desired_hash == desired.hash());
    match (live, entry) {
        (None, Some(entry)) if same_manifest && entry.ignored.contains(&FieldPath::root()) => {
            Action::Unchanged
        }
        (None, _) if same_manifest => Action::Drifted(Drift {
            deleted: true,
            changes: Vec::new(),
        }),
        (None, _) => Action::Create,
        (Some(live), None) => update(desired, live, UpdateReason::Adopt),
        (Some(live), Some(_)) if !same_manifest => update(desired, live, UpdateReason::GitChanged),
        // Not written since the apply recorded in the entry: exactly what
        // was applied.
        (Some(live), Some(entry))
            if entry.resource_version.is_some()
                && entry.resource_version.as_deref() == crate::object::resource_version(live) =>
        {
            Action::Unchanged
        }
        (Some(live), Some(entry)) => {
            let desired = desired.value();
            let desired = fields::stored_form(&desired);
            let changes = drifted_fields(&desired, live, entry, options);
            if changes.is_empty() {
                Action::Unchanged
            } else {
                tracing::debug!(object = %key, fields = changes.len(), "drift detected");
                Action::Drifted(Drift {
                    deleted: false,
                    changes,
                })
            }
        }
    }
}

/// An update of `live` to `desired`, or [`Action::Immutable`] when it
/// changes fields the API server would keep as they are.
fn update(desired: &Manifest, live: &Value, reason: UpdateReason) -> Action {
    let changes = immutable::kept_by_server(desired, live);
    if changes.is_empty() {
        Action::Update { reason }
    } else {
        Action::Immutable { changes }
    }
}

/// The owned fields of `live` that differ from the inventory record or that
/// another manager took over, and the fields the takeover managers wrote
/// that Git does not set, minus ignored ones: every change a reapply makes.
/// `desired` is in [`fields::stored_form`]; a field recorded where it is
/// written is compared where the API server stores it
/// ([`fields::stored_path`]).
fn drifted_fields(
    desired: &Value,
    live: &Value,
    entry: &Entry,
    options: &Options,
) -> Vec<FieldChange> {
    let manager = options.field_manager.as_str();
    let owners = fields::owners(live);
    let changes = entry
        .owned
        .iter()
        .filter(|owned| !is_ignored(entry, &owned.path))
        .filter_map(|owned| {
            let live_value = fields::lookup(live, &fields::stored_path(live, &owned.path));
            let changed = inventory::value_digest(live_value) != owned.digest;
            let field_owners = owners.get(&owned.path);
            let still_ours = field_owners.is_some_and(|m| m.contains(manager));
            let taken_over_by: Vec<String> = match (still_ours, field_owners) {
                (false, Some(managers)) => managers.iter().cloned().collect(),
                _ => Vec::new(),
            };
            (changed || !taken_over_by.is_empty()).then(|| FieldChange {
                path: owned.path.clone(),
                desired: fields::lookup_desired(desired, &owned.path).cloned(),
                live: live_value.cloned(),
                taken_over_by,
            })
        })
        .collect();
    let mut changes = describe_missing_items(changes, desired, live, entry, &owners);
    for added in written_by_takeover_managers(desired, live, &options.take_over) {
        let covered = changes.iter().any(|c| added.path.starts_with(&c.path));
        if !covered && !is_ignored(entry, &added.path) {
            changes.push(added);
        }
    }
    changes
}

/// The fields of `live` that the takeover `managers` wrote and `desired`
/// does not set, each as a change with its live value and the managers that
/// wrote it: a reapply moves their fields to Plumbline
/// ([`crate::apply::takeover`]) and so removes these (an env var or a
/// Service port added with `kubectl`, a label added with `kubectl label`).
/// A map or list item Git does not have is one change, not one per field.
fn written_by_takeover_managers(
    desired: &Value,
    live: &Value,
    managers: &[String],
) -> Vec<FieldChange> {
    let mut written: BTreeMap<FieldPath, std::collections::BTreeSet<String>> = BTreeMap::new();
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array);
    for entry in entries.into_iter().flatten() {
        let manager = entry.get("manager").and_then(Value::as_str).unwrap_or("");
        if entry.get("subresource").is_some() || !managers.iter().any(|m| m == manager) {
            continue;
        }
        let Some(tree) = entry.get("fieldsV1") else {
            continue;
        };
        for path in fields::not_set_in(tree, desired) {
            written.entry(path).or_default().insert(manager.to_owned());
        }
    }
    written
        .into_iter()
        .filter_map(|(path, managers)| {
            Some(FieldChange {
                live: Some(fields::lookup(live, &path)?.clone()),
                desired: None,
                path,
                taken_over_by: managers.into_iter().collect(),
            })
        })
        .collect()
}

/// Whether a remediator chose to ignore the drift of this field, or of the
/// list item or map it is in.
fn is_ignored(entry: &Entry, path: &FieldPath) -> bool {
    entry
        .ignored
        .iter()
        .any(|ignored| !ignored.0.is_empty() && path.starts_with(ignored))
}

/// Changes in list items that are gone from the live object, described as
/// whole items: one change per missing item, with its desired value, instead
/// of one per field with every value absent. The live items of the same
/// list that neither Git nor the record has (another manager put them in
/// place of Plumbline's, as `kubectl patch` replacing a port does) are
/// listed too, with their managers.
fn describe_missing_items(
    changes: Vec<FieldChange>,
    desired: &Value,
    live: &Value,
    entry: &Entry,
    owners: &BTreeMap<FieldPath, std::collections::BTreeSet<String>>,
) -> Vec<FieldChange> {
    let mut described: Vec<FieldChange> = Vec::new();
    for change in changes {
        let Some(item) = missing_item(live, &change.path) else {
            described.push(change);
            continue;
        };
        if described.iter().any(|c| c.path == item) {
            continue;
        }
        let added = items_added_in_place(&item, desired, live, entry, owners);
        described.push(FieldChange {
            desired: fields::lookup_desired(desired, &item).cloned(),
            path: item,
            live: None,
            taken_over_by: Vec::new(),
        });
        for change in added {
            if !described.iter().any(|c| c.path == change.path) {
                described.push(change);
            }
        }
    }
    described
}

/// The first list item (by merge key) on `path` that the live object does
/// not have.
fn missing_item(live: &Value, path: &FieldPath) -> Option<FieldPath> {
    (1..=path.0.len())
        .filter(|&len| matches!(path.0[len - 1], fields::Segment::Key(_)))
        .map(|len| path.prefix(len))
        .find(|item| fields::lookup(live, item).is_none())
}

/// The live items of the list holding the missing `item` that Git does not
/// want and Plumbline's record does not know, each as a change with the
/// managers that own its fields.
fn items_added_in_place(
    item: &FieldPath,
    desired: &Value,
    live: &Value,
    entry: &Entry,
    owners: &BTreeMap<FieldPath, std::collections::BTreeSet<String>>,
) -> Vec<FieldChange> {
    let list = item.prefix(item.0.len() - 1);
    let Some(fields::Segment::Key(key)) = item.0.last() else {
        return Vec::new();
    };
    let key_fields = fields::key_fields(key);
    let resolves_to = |path: &FieldPath, target: &Value| {
        path.0.len() > list.0.len()
            && path.starts_with(&list)
            && fields::lookup(live, &path.prefix(list.0.len() + 1))
                .is_some_and(|found| std::ptr::eq(found, target))
    };
    let items = fields::lookup(live, &list).and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|live_item| {
            let mut path = list.clone();
            path.0.push(fields::item_key(live_item, &key_fields));
            let recorded = entry.owned.iter().any(|o| resolves_to(&o.path, live_item));
            let wanted = fields::lookup_desired(desired, &path).is_some();
            (!recorded && !wanted).then(|| FieldChange {
                taken_over_by: owners
                    .iter()
                    .filter(|(owned, _)| resolves_to(owned, live_item))
                    .flat_map(|(_, managers)| managers.iter().cloned())
                    .collect::<std::collections::BTreeSet<String>>()
                    .into_iter()
                    .collect(),
                path,
                desired: None,
                live: Some(live_item.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
