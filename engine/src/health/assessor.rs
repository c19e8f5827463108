//! The health of a live object as a sync judges it: by the first health
//! policy of the sync that declares the object's kind, else by the built-in
//! kstatus rules ([`super::assess`]). No IO beyond the policy host's
//! evaluation.
//!
//! An object being deleted is [`Health::Terminating`] whatever a policy
//! would say. A fault of a fail-closed health policy (the default) makes
//! the object [`Health::Failed`] with the fault's message: policies are
//! deterministic, so waiting would not change the answer. A fault of a
//! fail-open one is logged and the built-in rules judge the object.

use std::sync::Arc;

use serde_json::Value;

use super::Health;
use crate::policy::{EvalContext, LoadedPolicy, PolicySet, WarmPolicy};

/// Judges the health of live objects for one sync: its health policies for
/// the kinds they declare, the built-in rules for every other kind. Cheap to
/// clone; clones share the policies' instances.
///
/// Create one per run: each policy's instances are kept from one object to
/// the next ([`WarmPolicy`]) until the last clone is dropped.
#[derive(Debug, Clone, Default)]
pub struct Assessor {
    /// The sync's health policies, in configured order; `None` without any.
    policies: Option<PolicySet>,
    /// The same policies, each with the instances it keeps for this run.
    warm: Arc<[WarmPolicy]>,
    /// What the policies are told about the sync.
    ctx: EvalContext,
}

impl Assessor {
    /// An assessor with no health policies: the built-in rules for every
    /// kind.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// An assessor with the health policies of `policies` (the others are
    /// ignored), each evaluated with `ctx`.
    pub fn new(policies: &PolicySet, ctx: EvalContext) -> Self {
        let health = policies.only(|p| p.roles().health);
        let warm = health
            .policies()
            .iter()
            .cloned()
            .map(WarmPolicy::new)
            .collect();
        let policies = (!health.policies().is_empty()).then_some(health);
        Self {
            policies,
            warm,
            ctx,
        }
    }

    /// Whether any health policy takes part.
    pub fn has_policies(&self) -> bool {
        self.policies.is_some()
    }

    /// The policy that judges objects of this `apiVersion` and `kind`:
    /// the first that declares it; `None` for the built-in rules.
    pub fn policy_for(&self, api_version: &str, kind: &str) -> Option<&LoadedPolicy> {
        self.warm_for(api_version, kind).map(WarmPolicy::policy)
    }

    /// Whether a health policy judges `live` (by its `apiVersion` and
    /// `kind`), rather than the built-in rules.
    pub fn judges(&self, live: &Value) -> bool {
        self.warm_for_object(live).is_some()
    }

    /// [`Self::warm_for`] the `apiVersion` and `kind` of `object`.
    fn warm_for_object(&self, object: &Value) -> Option<&WarmPolicy> {
        let text = |field| object.get(field).and_then(Value::as_str).unwrap_or("");
        self.warm_for(text("apiVersion"), text("kind"))
    }

    /// [`Self::policy_for`], with the instances it keeps for this run.
    fn warm_for(&self, api_version: &str, kind: &str) -> Option<&WarmPolicy> {
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        self.warm.iter().find(|p| p.policy().assesses(group, kind))
    }

    /// [`Self::assess_json`] of many objects, `(live, desired JSON)` each, in
    /// parallel on the policy host's evaluation threads; the verdicts in the
    /// same order. Cheaper per object than one call each: the batch is handed
    /// to the evaluation threads once, and runs on as many instances of each
    /// policy as there are threads.
    pub fn assess_all(&self, objects: &[(&Value, Option<&str>)]) -> Vec<Health> {
        match &self.policies {
            Some(set) => {
                set.map_parallel(objects, |(live, desired)| self.assess_json(live, *desired))
            }
            None => objects
                .iter()
                .map(|(live, desired)| self.assess_json(live, *desired))
                .collect(),
        }
    }

    /// The health of `live` (an object as read from the cluster);
    /// `desired` is the object as the sync applies it, when known.
    pub fn assess(&self, live: &Value, desired: Option<&Value>) -> Health {
        let desired = desired.map(Value::to_string);
        self.assess_json(live, desired.as_deref())
    }

    /// [`Self::assess`] with the desired object as JSON text.
    pub fn assess_json(&self, live: &Value, desired_json: Option<&str>) -> Health {
        if crate::object::is_terminating(live) {
            return Health::Terminating;
        }
        let Some(warm) = self.warm_for_object(live) else {
            return super::assess(live);
        };
        let policy = warm.policy();
        match warm.assess(live, desired_json, &self.ctx) {
            Ok(evaluation) => evaluation.value,
            Err(error) if policy.fail_open() => {
                tracing::warn!(policy = policy.name(), %error,
                    "fail-open health policy faulted; the built-in rules judge the object");
                super::assess(live)
            }
            Err(error) => Health::Failed(error.to_string()),
        }
    }
}
