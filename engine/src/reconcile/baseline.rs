//! Incremental drift repair: what a reconcile leaves behind so that one
//! drifted object can be repaired without reconciling the whole sync.
//!
//! A [`Baseline`] is the desired state a successful reconcile applied (each
//! manifest as compact JSON), the inventory it recorded, and the
//! `resourceVersion` each object had when that reconcile last saw or wrote
//! it. [`Baseline::repair`] plans a single object against it, lets the
//! remediators decide as a reconcile would, and applies the decision: the
//! same revision, the same policies, the same rules, for one object.
//! Fetching, rendering, listing and planning the other objects is left to
//! the next full reconcile (a Git change, a spec change, or the interval).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::rendered::Rendered;
use super::SyncUnit;
use super::{decide, remediate, Report, Run, Status};
use crate::apply::{inventory_store, Cluster};
use crate::object::{self, ObjectKey};
use crate::plan::{self, Action, Inventory, Live};
use crate::policy::{EvalContext, PolicySet};

/// The state of a sync as its last successful reconcile left it.
#[derive(Debug)]
pub struct Baseline {
    pub(super) sync: String,
    pub(super) inventory_namespace: String,
    /// The render it applied; each manifest is held as text
    /// ([`plan::Manifest`]) and parsed again only for the object repaired.
    pub(super) rendered: Rendered,
    /// Where each object is in [`Baseline::rendered`].
    pub(super) index: HashMap<ObjectKey, usize>,
    pub(super) inventory: Inventory,
    pub(super) version: inventory_store::Version,
    /// The `resourceVersion` each object had when it was last applied or
    /// found unchanged: a notice of the same version is no change.
    pub(super) resource_versions: BTreeMap<ObjectKey, String>,
    /// The `resourceVersion` the field takeover of the last repair of an
    /// object gave it on the way to the apply: the notice of that version
    /// is not news either.
    pub(super) passed_versions: HashMap<ObjectKey, String>,
    pub(super) ctx: EvalContext,
    pub(super) rules: remediate::Rules,
    pub(super) take_over: crate::spec::TakeOver,
    /// Whether a `recreate` may delete a Namespace or CRD with everything
    /// in it (`pruneGuard.allowCascade`).
    pub(super) allow_cascade: bool,
    pub(super) plan: plan::Options,
}

/// Where each of `rendered`'s objects is, by key.
pub(super) fn index(rendered: &Rendered) -> HashMap<ObjectKey, usize> {
    let keys = rendered.objects.iter().map(|o| o.key.clone());
    keys.zip(0..).collect()
}

/// A digest of everything besides the commit that shapes a sync's desired
/// state: its configuration, the values its chart's `valuesFrom` read, and
/// each policy's component, settings, failure mode and transformer
/// allowance, in order.
pub(super) fn inputs(unit: &SyncUnit, policies: &PolicySet) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_string(&unit.config).unwrap_or_default());
    let helm = unit.config.spec.source.helm.as_ref();
    for document in helm
        .and_then(|helm| helm.resolved_values_from.as_ref())
        .into_iter()
        .flat_map(|resolved| resolved.documents())
    {
        hasher.update(document.len().to_le_bytes());
        hasher.update(document);
    }
    for policy in policies.policies() {
        for part in [policy.name(), &policy.digest(), policy.settings_json()] {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part);
        }
        hasher.update([u8::from(policy.fail_open())]);
        let allowance = serde_json::to_string(policy.transformer_allowance()).unwrap_or_default();
        hasher.update(allowance.len().to_le_bytes());
        hasher.update(allowance);
    }
    hex::encode(hasher.finalize())
}

impl Baseline {
    /// What the next reconcile reuses: the render, and the inventory as
    /// last read or written.
    pub(super) fn into_reused(self) -> (Rendered, inventory_store::Stored) {
        let stored = inventory_store::Stored {
            inventory: self.inventory,
            // Another run marked as applying may have applied objects
            // since: they are looked for again.
            complete: !self.version.is_marked(),
            version: self.version,
        };
        (self.rendered, stored)
    }

    /// The inventory as last recorded.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Repair one object after it changed (`live`) or was deleted (`None`):
    /// plan it against the baseline, let the remediators decide, and apply
    /// the decision. Returns the report of what was done, or `None` when
    /// there was nothing to do: the object is not desired (leaving Git is
    /// the full reconcile's business), it has the `resourceVersion` last
    /// seen, or it matches what was applied.
    pub async fn repair(
        &mut self,
        key: &ObjectKey,
        live: Option<Value>,
        policies: &PolicySet,
        cluster: &Cluster,
    ) -> Option<Report> {
        let desired = &self.rendered.objects[*self.index.get(key)?];
        // A phase object's presence is its phase's business: it is never
        // repaired (a delete policy may have removed it on purpose).
        let placement = plan::waves::Placement::of_manifest(&desired.manifest);
        if placement.map_or(true, |p| p.is_phase()) {
            return None;
        }
        let seen = live.as_ref().and_then(object::resource_version);
        let known = [
            &self.resource_versions.get(key),
            &self.passed_versions.get(key),
        ];
        if seen.is_some() && known.iter().any(|k| k.map(String::as_str) == seen) {
            return None;
        }
        let live: Live = live.map(|l| (key.clone(), l)).into_iter().collect();
        let mut inventory = Inventory::default();
        if let Some(entry) = self.inventory.entries.get(key) {
            inventory.entries.insert(key.clone(), entry.clone());
        }
        let planned = plan::plan_owned(vec![desired.clone()], &live, &inventory, &self.plan);
        let planned_object = planned.objects.iter().find(|o| &o.key == key)?;
        if matches!(
            planned_object.action,
            Action::Unchanged | Action::Terminating
        ) {
            self.remember(key, live.get(key));
            return None;
        }

        let mut report = Report::new(&self.sync, cluster.options().dry_run);
        report.revision.clone_from(&self.rendered.revision);
        report.summary = planned.summary();
        let decided = decide(&planned, &live, &inventory, policies, &self.ctx, self.rules).await;
        let decisions = match decided {
            Ok((decisions, warnings)) => {
                report.warnings.extend(warnings);
                let timings = decisions.values().flat_map(|r| r.timings.iter().cloned());
                report.policy_timings.extend(timings);
                decisions
            }
            Err(error) => return Some(report.fail(error)),
        };
        let reclaim: BTreeSet<ObjectKey> = inventory
            .entries
            .iter()
            .filter(|(_, entry)| !entry.ignored.is_empty())
            .map(|(key, _)| key.clone())
            .collect();
        let mut run = Run {
            cluster,
            assessor: crate::health::Assessor::new(policies, self.ctx.clone()),
            report,
            inventory,
            reclaim,
            inventory_changed: false,
            take_over: &self.take_over,
            allow_cascade: self.allow_cascade,
            recreate_guard: super::RecreateGuard::Unchecked,
            adopting: BTreeSet::new(),
            recreated_namespaces: BTreeSet::new(),
            resource_versions: BTreeMap::new(),
            passed_versions: BTreeMap::new(),
            stopped: None,
            judged_later: Vec::new(),
        };
        run.stage(&[planned_object], &decisions, &live).await;
        let Run {
            mut report,
            mut inventory,
            resource_versions,
            passed_versions,
            ..
        } = run;
        self.passed_versions.remove(key);
        self.passed_versions.extend(passed_versions);
        match resource_versions.get(key) {
            Some(written) => {
                self.resource_versions.insert(key.clone(), written.clone());
            }
            None => self.remember(key, live.get(key)),
        }
        if let Some(entry) = inventory.entries.remove(key) {
            if self.inventory.record(key.clone(), entry) {
                let saved = inventory_store::save(
                    cluster,
                    &self.inventory_namespace,
                    &self.sync,
                    &self.version,
                    &self.inventory,
                )
                .await;
                match saved {
                    Ok(version) => self.version = version,
                    Err(error) => report.push_error(super::Error::from(error)),
                }
            }
        }
        if !report.errors.is_empty() {
            report.status = Status::Failed;
        }
        Some(report)
    }

    /// Record the `resourceVersion` an object was found unchanged at.
    fn remember(&mut self, key: &ObjectKey, live: Option<&Value>) {
        match live.and_then(object::resource_version) {
            Some(seen) => {
                self.resource_versions.insert(key.clone(), seen.to_owned());
            }
            None => {
                self.resource_versions.remove(key);
            }
        }
    }
}
