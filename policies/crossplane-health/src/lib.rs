//! `crossplane-health`: a health policy for Crossplane's managed resources
//! (every kind of `*.upbound.io` and `*.crossplane.io`: the Upbound and
//! community providers, cluster-scoped and namespaced) and for Crossplane's
//! own packages and definitions in `*.crossplane.io`.
//!
//! A managed resource carries two conditions (crossplane `apis/core/v2`):
//! `Ready` (`Available`, `Creating`, `Deleting`, `Unavailable`) says whether
//! the external resource exists and can be used; `Synced`
//! (`ReconcileSuccess`, `ReconcileError`, `ReconcilePaused`) whether the
//! provider could make it match the spec. kstatus reads `Ready` alone, so
//! a bucket that is `Ready=True` while every update of it fails
//! (`Synced=False`, `ReconcileError`) is current, and a resource the
//! provider has not observed yet (no conditions) is current too. This
//! policy reads both, as Argo CD's Crossplane check does:
//!
//! - `Synced=False` with `ReconcileError` (the spec cannot be applied), or
//!   `LastAsyncOperation=False` (an asynchronous create or update of an
//!   Upjet provider failed), is **failed**, with the provider's message;
//! - a paused resource (`crossplane.io/paused: "true"`, or `Synced=False`
//!   with `ReconcilePaused`) is **unknown**: nothing reconciles it;
//! - a condition written for an older generation is **in progress**;
//! - `Ready=True` is **current**; any other `Ready` is **in progress**;
//! - packages and definitions without `Ready` are judged by the conditions
//!   they carry (`Installed`, `Healthy`, `Established`, `Offered`): all
//!   true is current, otherwise in progress;
//! - with no conditions at all, a managed resource (`spec.forProvider`) is
//!   **in progress** (the provider has not observed it yet); a kind that
//!   carries no readiness (a Composition, a ProviderConfig) is current.

use plumbline_sdk::{
    Assessment, Condition, Context, GroupKind, Health, Metadata, Object, PolicyInfo,
};

/// The policy.
struct CrossplaneHealth;

/// The annotation that pauses a managed resource's reconciliation.
const PAUSED: &str = "crossplane.io/paused";

/// Conditions Crossplane's packages (`Installed`, `Healthy`) and composite
/// resource definitions (`Established`, `Offered`) carry instead of `Ready`.
const PACKAGE_CONDITIONS: [&str; 4] = ["Installed", "Healthy", "Established", "Offered"];

impl Metadata for CrossplaneHealth {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "crossplane-health",
            env!("CARGO_PKG_VERSION"),
            "Health of Crossplane managed resources and packages: Synced=False \
             (ReconcileError) is failed even when Ready=True, an unobserved resource is in \
             progress.",
        )
    }
}

impl Health for CrossplaneHealth {
    fn kinds() -> Vec<GroupKind> {
        vec![
            GroupKind::new("*.upbound.io", "*"),
            GroupKind::new("*.crossplane.io", "*"),
        ]
    }

    fn assess(live: &Object, _desired: Option<&Object>, _ctx: &Context) -> Assessment {
        let ready = live.condition("Ready");
        let synced = live.condition("Synced");
        let paused_by_reason = synced.filter(|s| s.reason() == "ReconcilePaused");
        if live.annotation(PAUSED) == Some("true") || paused_by_reason.is_some() {
            return Assessment::unknown(format!(
                "reconciliation is paused ({PAUSED}): its status says nothing about the \
                 applied spec"
            ));
        }
        if let Some(stale) = stale([ready, synced], live.generation()) {
            return stale;
        }
        if let Some(synced) = synced.filter(|s| s.status() == "False") {
            return Assessment::failed(synced.describe());
        }
        if let Some(operation) = live
            .condition("LastAsyncOperation")
            .filter(|c| c.status() == "False")
        {
            return Assessment::failed(operation.describe());
        }
        if let Some(ready) = ready {
            return match ready.status() {
                "True" => Assessment::current(ready.describe()),
                _ => Assessment::in_progress(ready.describe()),
            };
        }
        let carried: Vec<Condition> = PACKAGE_CONDITIONS
            .iter()
            .filter_map(|kind| live.condition(kind))
            .collect();
        if let Some(pending) = carried.iter().find(|c| !c.is_true()) {
            return Assessment::in_progress(pending.describe());
        }
        if !carried.is_empty() {
            return Assessment::current("");
        }
        if live.get("spec.forProvider").is_some() || synced.is_some() {
            return Assessment::in_progress(format!(
                "waiting for the provider to observe the {}",
                live.kind()
            ));
        }
        Assessment::current("")
    }
}

/// In progress when one of `conditions` was written for a generation older
/// than `generation`.
fn stale<const N: usize>(
    conditions: [Option<Condition>; N],
    generation: Option<i64>,
) -> Option<Assessment> {
    let generation = generation?;
    let observed = conditions
        .into_iter()
        .flatten()
        .filter_map(|c| c.observed_generation())
        .find(|observed| *observed < generation)?;
    Some(Assessment::in_progress(format!(
        "the provider has observed generation {observed}, not yet generation {generation}"
    )))
}

plumbline_sdk::export_policy!(CrossplaneHealth, health);
