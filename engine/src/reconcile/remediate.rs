//! Deciding what happens to drifted objects.
//!
//! Each drifted object goes to the sync's remediator policies (the first
//! decision wins). When none decides, the sync's default applies: reapply
//! with self-heal on, report otherwise. A decision deferred earlier is
//! honoured until its time comes, as long as the deferring policy is still
//! one of the sync's remediators; no deferral lasts longer than the sync's
//! maximum. Runs policies; no cluster IO.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Error;
use crate::object::ObjectRef;
use crate::plan::{self, Entry};
use crate::policy::{self, Decision, EvalContext, PolicySet, Remediation};

/// What to do with one drifted object, and who decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The decision.
    pub remediation: Remediation,
    /// The deciding policy's decision record; `None` when the sync's default
    /// (or an earlier deferral) decided.
    pub decision: Option<Decision>,
    /// How long each remediator took.
    pub timings: Vec<policy::Timing>,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The sync's rules for deciding.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Reapply when no remediator decides.
    pub self_heal: bool,
    /// The longest deferral; longer ones are cut to it.
    pub max_deferral: Duration,
}

/// A drifted object, as the planner found it.
#[derive(Debug, Clone)]
pub struct Drifted {
    /// The desired manifest.
    pub desired: Value,
    /// The live object; `None` when it was deleted.
    pub live: Option<Value>,
    /// What drifted.
    pub drift: plan::Drift,
    /// Its inventory entry.
    pub entry: Option<Entry>,
}

/// Decide for one drifted object.
pub fn resolve(
    policies: &PolicySet,
    ctx: &EvalContext,
    object: &Drifted,
    rules: &Rules,
    warnings: &mut Vec<String>,
) -> Result<Resolution, Error> {
    let Drifted {
        desired,
        live,
        drift,
        entry,
    } = object;
    if let Some(left) = entry
        .as_ref()
        .and_then(|e| deferral_left(e, policies, rules.max_deferral))
    {
        return Ok(Resolution {
            remediation: Remediation::Defer(left),
            decision: None,
            timings: Vec::new(),
        });
    }
    let target = ObjectRef::of(desired)
        .ok_or_else(|| Error::InvalidTransform("a drifted object has no identity".into()))?;
    let record = policy::Drift {
        target,
        desired: desired.clone(),
        live: live
            .clone()
            .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        changes: drift
            .changes
            .iter()
            .map(|c| policy::FieldChange {
                path: c.path.to_string(),
                desired: c.desired.clone(),
                live: c.live.clone(),
            })
            .collect(),
    };
    let outcome = policies.remediate(&record, ctx).map_err(Error::Policy)?;
    warnings.extend(outcome.warnings.iter().map(ToString::to_string));
    let timings = outcome.timings;
    Ok(match outcome.value {
        Some(mut decision) => {
            if let Remediation::Defer(asked) = decision.remediation {
                if asked > rules.max_deferral {
                    warnings.push(format!(
                        "policy `{}` deferred its decision for {}s; cut to the sync's maximum of {}s",
                        decision.policy,
                        asked.as_secs(),
                        rules.max_deferral.as_secs()
                    ));
                    decision.remediation = Remediation::Defer(rules.max_deferral);
                }
            }
            Resolution {
                remediation: decision.remediation.clone(),
                decision: Some(decision),
                timings,
            }
        }
        None if rules.self_heal => Resolution {
            remediation: Remediation::Reapply,
            decision: None,
            timings,
        },
        None => Resolution {
            remediation: Remediation::Report(
                "drift detected; self-heal is off and no remediator decided".into(),
            ),
            decision: None,
            timings,
        },
    })
}

/// What is left of an earlier deferral: `None` when there is none, it has
/// passed, or the policy that deferred is no longer one of the sync's
/// remediators. Never more than `max` from now.
fn deferral_left(entry: &Entry, policies: &PolicySet, max: Duration) -> Option<Duration> {
    let until = entry.deferred_until?;
    let still_configured = entry.deferred_by.as_deref().is_none_or(|name| {
        policies
            .policies()
            .iter()
            .any(|p| p.name() == name && p.roles().remediator)
    });
    let now = now();
    (still_configured && until > now).then(|| Duration::from_secs(until - now).min(max))
}
