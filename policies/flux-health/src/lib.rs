//! `flux-health`: a health policy for Flux's `HelmRelease`,
//! `Kustomization` and sources (`GitRepository`, `OCIRepository`,
//! `HelmRepository`, `HelmChart`, `Bucket`).
//!
//! Flux writes kstatus-style conditions, but kstatus reads them too kindly
//! for a sync that waits: an object Flux has not looked at yet (no
//! conditions) is current, and `Ready=False` after a failed install,
//! upgrade, build or health check is merely in progress, because Flux
//! retries it. This policy reads them as a deploy tool must:
//!
//! - a status for an older generation (`status.observedGeneration`, or the
//!   `Ready` condition's), or no `Ready` condition yet, is **in progress**;
//! - `Stalled=True` is **failed**;
//! - `Ready=False` whose reason ends in `Failed` (`InstallFailed`,
//!   `UpgradeFailed`, `TestFailed`, `ArtifactFailed`, `BuildFailed`,
//!   `HealthCheckFailed`, `ReconciliationFailed`...) or is
//!   `RetriesExceeded` is **failed**, with Flux's message;
//! - `Reconciling=True`, `Ready=Unknown` and any other `Ready=False`
//!   (`DependencyNotReady`, `Progressing`) are **in progress**;
//! - `Ready=True` is **current**;
//! - an object with `spec.suspend: true` is **unknown**: Flux does not
//!   reconcile it, so its status says nothing about the applied spec.

use plumbline_sdk::serde_json::Value;
use plumbline_sdk::{Assessment, Context, GroupKind, Health, Metadata, Object, PolicyInfo};

/// The policy.
struct FluxHealth;

impl Metadata for FluxHealth {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "flux-health",
            env!("CARGO_PKG_VERSION"),
            "Health of Flux HelmReleases, Kustomizations and sources: a failed install, upgrade \
             or build is failed, an object Flux has not reconciled yet is in progress.",
        )
    }
}

impl Health for FluxHealth {
    fn kinds() -> Vec<GroupKind> {
        [
            ("helm.toolkit.fluxcd.io", "HelmRelease"),
            ("kustomize.toolkit.fluxcd.io", "Kustomization"),
            ("source.toolkit.fluxcd.io", "GitRepository"),
            ("source.toolkit.fluxcd.io", "OCIRepository"),
            ("source.toolkit.fluxcd.io", "HelmRepository"),
            ("source.toolkit.fluxcd.io", "HelmChart"),
            ("source.toolkit.fluxcd.io", "Bucket"),
        ]
        .into_iter()
        .map(|(group, kind)| GroupKind::new(group, kind))
        .collect()
    }

    fn assess(live: &Object, _desired: Option<&Object>, _ctx: &Context) -> Assessment {
        if live.get("spec.suspend").and_then(Value::as_bool) == Some(true) {
            return Assessment::unknown(
                "suspended (spec.suspend): Flux does not reconcile it, so its status says \
                 nothing about the applied spec",
            );
        }
        let generation = live.generation();
        let observed = live
            .get("status.observedGeneration")
            .and_then(Value::as_i64);
        let ready = live.condition("Ready");
        let ready_observed = ready.and_then(|r| r.observed_generation());
        for observed in [observed, ready_observed].into_iter().flatten() {
            if let Some(generation) = generation.filter(|g| observed < *g) {
                return Assessment::in_progress(format!(
                    "Flux has observed generation {observed}, not yet generation {generation}"
                ));
            }
        }
        if let Some(stalled) = live.condition("Stalled").filter(|c| c.is_true()) {
            return Assessment::failed(stalled.describe());
        }
        let Some(ready) = ready else {
            return Assessment::in_progress(format!(
                "waiting for Flux to reconcile the {}",
                live.kind()
            ));
        };
        let failed = ready.reason().ends_with("Failed") || ready.reason() == "RetriesExceeded";
        if ready.status() == "False" && failed {
            return Assessment::failed(ready.describe());
        }
        if let Some(reconciling) = live.condition("Reconciling").filter(|c| c.is_true()) {
            return Assessment::in_progress(reconciling.describe());
        }
        match ready.status() {
            "True" => Assessment::current(ready.describe()),
            _ => Assessment::in_progress(ready.describe()),
        }
    }
}

plumbline_sdk::export_policy!(FluxHealth, health);
