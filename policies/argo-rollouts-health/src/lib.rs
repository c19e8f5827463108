//! `argo-rollouts-health`: a health policy for Argo Rollouts' `Rollout`
//! and `AnalysisRun`.
//!
//! A Rollout reports its state in `status.phase` (`Healthy`,
//! `Progressing`, `Paused`, `Degraded`) and keeps `status.observedGeneration`
//! as a *string*. kstatus reads neither: it finds no `Ready` condition and
//! calls a Degraded Rollout, or one whose canary is paused waiting for a
//! promotion, current. This policy reads the phase:
//!
//! - `Healthy` is **current**;
//! - `Degraded` (progress deadline exceeded, an aborted rollout, an invalid
//!   spec) or `status.abort` is **failed**, with the Rollout's message;
//! - `Progressing` and `Paused` are **in progress** (a paused canary waits
//!   for a promotion or its pause duration);
//! - no phase yet, or a status for an older generation, is in progress.
//!
//! An AnalysisRun is current when `Successful`, failed when `Failed` or
//! `Error`, unknown when `Inconclusive`, in progress otherwise.

use plumbline_sdk::serde_json::Value;
use plumbline_sdk::{Assessment, Context, GroupKind, Health, Metadata, Object, PolicyInfo};

/// The policy.
struct ArgoRolloutsHealth;

impl Metadata for ArgoRolloutsHealth {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "argo-rollouts-health",
            env!("CARGO_PKG_VERSION"),
            "Health of Argo Rollouts Rollouts and AnalysisRuns, by their phase: a Degraded \
             Rollout is failed, a paused one in progress.",
        )
    }
}

impl Health for ArgoRolloutsHealth {
    fn kinds() -> Vec<GroupKind> {
        ["Rollout", "AnalysisRun"]
            .into_iter()
            .map(|kind| GroupKind::new("argoproj.io", kind))
            .collect()
    }

    fn assess(live: &Object, _desired: Option<&Object>, _ctx: &Context) -> Assessment {
        match live.kind() {
            "Rollout" => rollout(live),
            _ => analysis_run(live),
        }
    }
}

/// A text field of the object's status (empty if missing).
fn status_text<'a>(live: &'a Object, field: &str) -> &'a str {
    live.get(&format!("status.{field}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `phase: message`, or the phase alone.
fn phase_message(phase: &str, message: &str) -> String {
    match message {
        "" => phase.to_owned(),
        message => format!("{phase}: {message}"),
    }
}

/// The generation the Rollout controller last observed: a string in
/// Rollouts' API, read as a number too.
fn observed_generation(live: &Object) -> Option<i64> {
    match live.get("status.observedGeneration")? {
        Value::String(text) => text.parse().ok(),
        other => other.as_i64(),
    }
}

fn rollout(live: &Object) -> Assessment {
    if let (Some(observed), Some(generation)) = (observed_generation(live), live.generation()) {
        if observed < generation {
            return Assessment::in_progress(format!(
                "the Rollouts controller has observed generation {observed}, not yet generation \
                 {generation}"
            ));
        }
    }
    let phase = status_text(live, "phase");
    let message = status_text(live, "message");
    let aborted = live.get("status.abort").and_then(Value::as_bool) == Some(true);
    match phase {
        _ if aborted => Assessment::failed(phase_message("aborted", message)),
        "Healthy" => Assessment::current(phase_message(phase, message)),
        "Degraded" => Assessment::failed(phase_message(phase, message)),
        "Progressing" | "Paused" => Assessment::in_progress(phase_message(phase, message)),
        "" => Assessment::in_progress("waiting for the Argo Rollouts controller to report a phase"),
        other => Assessment::unknown(format!("unknown Rollout phase `{other}`")),
    }
}

fn analysis_run(live: &Object) -> Assessment {
    let phase = status_text(live, "phase");
    let message = status_text(live, "message");
    match phase {
        "Successful" => Assessment::current(phase_message(phase, message)),
        "Failed" | "Error" => Assessment::failed(phase_message(phase, message)),
        "Inconclusive" => Assessment::unknown(phase_message(phase, message)),
        "" => Assessment::in_progress("waiting for the analysis to start"),
        _ => Assessment::in_progress(phase_message(phase, message)),
    }
}

plumbline_sdk::export_policy!(ArgoRolloutsHealth, health);
