//! `strimzi-health`: a health policy for Strimzi's custom resources (every
//! kind of `kafka.strimzi.io`: `Kafka`, `KafkaNodePool`, `KafkaTopic`,
//! `KafkaUser`, `KafkaConnect`, `KafkaConnector`, `KafkaMirrorMaker2`,
//! `KafkaBridge`, `KafkaRebalance`).
//!
//! Strimzi's operators end every reconciliation with one condition: `Ready`
//! when it succeeded, `NotReady` (status `True`, the exception's class as
//! the reason and its message) when it failed, plus `Warning` conditions.
//! kstatus knows no `NotReady`: a Kafka cluster whose reconciliation fails,
//! or that is still being deployed, has no `Ready=False` to read and is
//! current. This policy reads what Strimzi writes:
//!
//! - reconciliation paused (`strimzi.io/pause-reconciliation: "true"`, or
//!   the `ReconciliationPaused` condition) is **unknown**;
//! - `status.observedGeneration` behind `metadata.generation`, or no status
//!   yet, is **in progress**;
//! - `NotReady=True` is **failed** with Strimzi's `reason: message`, except
//!   reason `Creating` (a new cluster being deployed): **in progress**;
//! - a `Warning` that Strimzi ignored part of the spec (reason
//!   `KafkaStorage`, "changes which are not allowed") is **failed**: the
//!   applied spec will not take effect; other warnings are advice;
//! - `Ready=True` is **current**;
//! - a `KafkaRebalance` is **in progress** while `New`, `PendingProposal`
//!   or `Rebalancing`, and waiting for approval while `ProposalReady`;
//!   `Stopped` is **unknown**;
//! - a `KafkaNodePool` carries no `Ready`: an observed generation is current.

use plumbline_sdk::serde_json::Value;
use plumbline_sdk::{Assessment, Context, GroupKind, Health, Metadata, Object, PolicyInfo};

/// The policy.
struct StrimziHealth;

/// Strimzi's API group.
const GROUP: &str = "kafka.strimzi.io";

/// The annotation that pauses reconciliation.
const PAUSED: &str = "strimzi.io/pause-reconciliation";

impl Metadata for StrimziHealth {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "strimzi-health",
            env!("CARGO_PKG_VERSION"),
            "Health of Strimzi Kafka clusters, node pools, topics, users, Connect, MirrorMaker 2 \
             and rebalances: NotReady is failed, a cluster being deployed in progress.",
        )
    }
}

impl Health for StrimziHealth {
    fn kinds() -> Vec<GroupKind> {
        vec![GroupKind::new(GROUP, "*")]
    }

    fn assess(live: &Object, _desired: Option<&Object>, _ctx: &Context) -> Assessment {
        let paused = live
            .condition("ReconciliationPaused")
            .filter(|c| c.is_true());
        if live.annotation(PAUSED) == Some("true") || paused.is_some() {
            return Assessment::unknown(format!(
                "reconciliation is paused ({PAUSED}): its status says nothing about the \
                 applied spec"
            ));
        }
        if live.get("status").is_none() {
            return Assessment::in_progress(format!(
                "waiting for the Strimzi operator to reconcile the {}",
                live.kind()
            ));
        }
        let observed = live
            .get("status.observedGeneration")
            .and_then(Value::as_i64);
        if let (Some(observed), Some(generation)) = (observed, live.generation()) {
            if observed < generation {
                return Assessment::in_progress(format!(
                    "Strimzi has observed generation {observed}, not yet generation \
                     {generation}"
                ));
            }
        }
        if let Some(not_ready) = live.condition("NotReady").filter(|c| c.is_true()) {
            return match not_ready.reason() {
                "Creating" => Assessment::in_progress(not_ready.describe()),
                _ => Assessment::failed(not_ready.describe()),
            };
        }
        if let Some(ignored) = ignored_spec(live) {
            return ignored;
        }
        if live.condition("Ready").is_some_and(|c| c.is_true()) {
            return Assessment::current("");
        }
        match live.kind() {
            "KafkaRebalance" => rebalance(live),
            "KafkaNodePool" if observed.is_some() => Assessment::current(""),
            kind => Assessment::in_progress(match live.condition("Ready") {
                Some(ready) => ready.describe(),
                None => format!("waiting for the Strimzi operator to reconcile the {kind}"),
            }),
        }
    }
}

/// Failed when a `Warning` says Strimzi ignores part of the applied spec.
fn ignored_spec(live: &Object) -> Option<Assessment> {
    let conditions = live.get("status.conditions")?.as_array()?;
    conditions
        .iter()
        .find(|c| {
            text(c, "type") == "Warning"
                && text(c, "status") == "True"
                && text(c, "reason") == "KafkaStorage"
                && text(c, "message").contains("not allowed")
        })
        .map(|c| Assessment::failed(format!("{}: {}", text(c, "reason"), text(c, "message"))))
}

/// A `KafkaRebalance` by the state its conditions name.
fn rebalance(live: &Object) -> Assessment {
    let is = |state| live.condition(state).is_some_and(|c| c.is_true());
    if is("ProposalReady") {
        return Assessment::in_progress(
            "the optimization proposal is ready and waits for approval \
             (strimzi.io/rebalance=approve)",
        );
    }
    if is("Stopped") {
        return Assessment::unknown("the rebalance was stopped (strimzi.io/rebalance=stop)");
    }
    for (state, message) in [
        ("Rebalancing", "Cruise Control is rebalancing the cluster"),
        (
            "PendingProposal",
            "waiting for Cruise Control's optimization proposal",
        ),
        (
            "New",
            "waiting for Cruise Control to be asked for a proposal",
        ),
    ] {
        if is(state) {
            return Assessment::in_progress(message);
        }
    }
    Assessment::in_progress("waiting for the Strimzi operator to reconcile the KafkaRebalance")
}

/// A text field of a condition (empty if missing).
fn text<'a>(condition: &'a Value, field: &str) -> &'a str {
    condition.get(field).and_then(Value::as_str).unwrap_or("")
}

plumbline_sdk::export_policy!(StrimziHealth, health);
