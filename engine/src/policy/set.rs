//! The policies of one sync unit, in configured order, applied as the
//! pipeline stages use them. No IO.
//!
//! - `transform`: each transformer in order, each seeing the previous output.
//! - `validate`: every validator, in parallel; violations tagged by policy.
//! - `remediate`: remediators in order; the first decision wins (a
//!   remediator may abstain).
//!
//! A fault of a fail-closed policy (the default) fails the whole call. A
//! fault of a fail-open policy is returned as a warning in the [`Outcome`]
//! and the policy is skipped. Verdicts (violations, a transformer's
//! rejection, decisions) are never warnings: they are what the policy said.

use rayon::prelude::*;
use serde_json::Value;

use super::fault::Fault;
use super::loaded::{to_json, Evaluation, LoadedPolicy};
use super::state::PolicyLog;
use super::verdict::{Decision, Drift, EvalContext, Violation};
use super::{Error, HostInner, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The log of one policy evaluation within a set call.
#[derive(Debug, Clone)]
pub struct NamedLog {
    /// The configured policy name.
    pub policy: String,
    /// What it logged.
    pub log: PolicyLog,
}

/// How long one policy took in one role (for metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// The configured policy name.
    pub policy: String,
    /// `validator`, `transformer` or `remediator`.
    pub role: &'static str,
    /// Wall-clock time of the evaluation, faults included.
    pub elapsed: Duration,
}

/// The result of a set call: the value, the faults of fail-open policies that
/// were skipped, and every policy's log.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The result.
    pub value: T,
    /// Faults of fail-open policies (skipped, not fatal).
    pub warnings: Vec<Fault>,
    /// Logs of the evaluations, in configured order.
    pub logs: Vec<NamedLog>,
    /// How long each evaluation took, in configured order.
    pub timings: Vec<Timing>,
}

impl<T> Outcome<T> {
    fn new(value: T) -> Self {
        Self {
            value,
            warnings: Vec::new(),
            logs: Vec::new(),
            timings: Vec::new(),
        }
    }

    fn time(&mut self, policy: &LoadedPolicy, role: &'static str, elapsed: Duration) {
        self.timings.push(Timing {
            policy: policy.name().to_owned(),
            role,
            elapsed,
        });
    }

    /// Record one evaluation's result; `Ok(Some(value))` on success,
    /// `Ok(None)` for a skipped fail-open fault, `Err` otherwise.
    fn absorb<R>(
        &mut self,
        policy: &LoadedPolicy,
        result: Result<Evaluation<R>>,
    ) -> Result<Option<R>> {
        match result {
            Ok(eval) => {
                self.logs.push(NamedLog {
                    policy: policy.name().to_owned(),
                    log: eval.log,
                });
                Ok(Some(eval.value))
            }
            Err(Error::Fault(fault)) if policy.fail_open() => {
                tracing::warn!(policy = policy.name(), error = %fault, "fail-open policy faulted; skipped");
                self.warnings.push(fault);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// An ordered set of loaded policies.
#[derive(Clone, Debug)]
pub struct PolicySet {
    host: Arc<HostInner>,
    policies: Vec<LoadedPolicy>,
}

impl PolicySet {
    pub(crate) fn new(host: Arc<HostInner>, policies: Vec<LoadedPolicy>) -> Self {
        Self { host, policies }
    }

    /// The policies, in configured order.
    pub fn policies(&self) -> &[LoadedPolicy] {
        &self.policies
    }

    /// The set of this set's policies that `keep` selects, in order.
    pub fn only(&self, keep: impl Fn(&LoadedPolicy) -> bool) -> Self {
        let policies = self.policies.iter().filter(|p| keep(p)).cloned().collect();
        Self::new(Arc::clone(&self.host), policies)
    }

    /// Map `items` in parallel on the host's evaluation threads (one
    /// hand-over for the whole batch, instead of one per evaluation).
    pub fn map_parallel<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> R + Sync + Send,
    ) -> Vec<R> {
        self.host.pool.install(|| items.par_iter().map(f).collect())
    }

    /// Run every transformer in order over `objects`.
    pub fn transform(&self, objects: Vec<Value>, ctx: &EvalContext) -> Result<Outcome<Vec<Value>>> {
        self.transform_observed(objects, ctx, |_, _, _| {})
    }

    /// [`Self::transform`], showing `observe` what each transformer was
    /// given and what it returned: `(policy, before, after)`. A skipped
    /// fail-open transformer is not shown.
    pub fn transform_observed(
        &self,
        objects: Vec<Value>,
        ctx: &EvalContext,
        mut observe: impl FnMut(&LoadedPolicy, &[Value], &[Value]),
    ) -> Result<Outcome<Vec<Value>>> {
        let mut outcome = Outcome::new(objects);
        for policy in self.policies.iter().filter(|p| p.roles().transformer) {
            let started = Instant::now();
            let result = policy.transform(&outcome.value, ctx);
            outcome.time(policy, "transformer", started.elapsed());
            if let Some(objects) = outcome.absorb(policy, result)? {
                observe(policy, &outcome.value, &objects);
                outcome.value = objects;
            }
        }
        Ok(outcome)
    }

    /// Run every validator over `objects`, in parallel, and collect all
    /// violations in configured policy order.
    pub fn validate(
        &self,
        objects: &[Value],
        ctx: &EvalContext,
    ) -> Result<Outcome<Vec<Violation>>> {
        let json = to_json(objects);
        let validators: Vec<&LoadedPolicy> = self
            .policies
            .iter()
            .filter(|p| p.roles().validator)
            .collect();
        let results: Vec<_> = self.host.pool.install(|| {
            validators
                .par_iter()
                .map(|policy| {
                    let started = Instant::now();
                    (policy.validate_json(&json, ctx), started.elapsed())
                })
                .collect()
        });
        let mut outcome = Outcome::new(Vec::new());
        for (policy, (result, elapsed)) in validators.into_iter().zip(results) {
            outcome.time(policy, "validator", elapsed);
            if let Some(violations) = outcome.absorb(policy, result)? {
                outcome.value.extend(violations);
            }
        }
        Ok(outcome)
    }

    /// Ask the remediators in order; the first decision wins. `None` when no
    /// remediator decided (none configured, all abstained, or all faulted
    /// fail-open).
    pub fn remediate(&self, drift: &Drift, ctx: &EvalContext) -> Result<Outcome<Option<Decision>>> {
        let mut outcome = Outcome::new(None);
        for policy in self.policies.iter().filter(|p| p.roles().remediator) {
            let started = Instant::now();
            let result = policy.remediate(drift, ctx);
            outcome.time(policy, "remediator", started.elapsed());
            if let Some(Some(decision)) = outcome.absorb(policy, result)? {
                outcome.value = Some(decision);
                break;
            }
        }
        Ok(outcome)
    }
}
