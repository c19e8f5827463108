//! A SyncUnit's status from what happened: a reconcile [`Report`], a
//! resolve error, a dependency that is not ready, or suspension. No IO.
//!
//! Conditions follow kstatus: `Ready` says whether the cluster matches Git;
//! `Reconciling` is true while the controller works towards a new state
//! (waiting for a dependency, retrying); `Stalled` is true when it cannot
//! get there without someone changing something (an invalid spec, a
//! validator's violation). A condition's `lastTransitionTime` only moves
//! when its status changes, so an unchanged outcome gives an equal status
//! and the controller writes nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{Timestamp, Unit};

use super::crd::{DriftEntry, DriftSummary, SyncUnitStatus, ViolationStatus, MAX_STATUS_ENTRIES};
use crate::reconcile::{Failure, ObjectReport, Outcome, Report, Status};
use crate::text;

/// `Ready`.
pub const READY: &str = "Ready";
/// `Reconciling`.
pub const RECONCILING: &str = "Reconciling";
/// `Stalled`.
pub const STALLED: &str = "Stalled";

/// Where a reconcile left the SyncUnit, as the three conditions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `Ready` status.
    pub ready: bool,
    /// `Reconciling` status.
    pub reconciling: bool,
    /// `Stalled` status.
    pub stalled: bool,
    /// The reason every true condition (and `Ready`) carries.
    pub reason: String,
    /// The message.
    pub message: String,
}

impl Verdict {
    /// The cluster matches Git.
    pub fn ready(reason: &str, message: String) -> Self {
        Verdict {
            ready: true,
            reconciling: false,
            stalled: false,
            reason: reason.into(),
            message,
        }
    }

    /// Not ready yet; the controller keeps trying.
    pub fn progressing(reason: &str, message: String) -> Self {
        Verdict {
            ready: false,
            reconciling: true,
            stalled: false,
            reason: reason.into(),
            message,
        }
    }

    /// Not ready, and it will not be until someone changes something.
    pub fn stalled(reason: &str, message: String) -> Self {
        Verdict {
            ready: false,
            reconciling: false,
            stalled: true,
            reason: reason.into(),
            message,
        }
    }

    /// The verdict of a reconcile report. A failure that may go away by
    /// itself keeps the sync `Reconciling` (it is retried with backoff);
    /// one that cannot (an invalid manifest, a policy's rejection, render
    /// errors of the revision) stalls it until its spec or revision
    /// changes. The reason is the deciding failure's
    /// ([`Report::deciding_failure`]).
    pub fn of_report(report: &Report) -> Self {
        let failure = match (report.status, report.deciding_failure()) {
            // The state, not what this reconcile changed (Events say
            // that): an unchanged cluster gives an unchanged status.
            (Status::Synced, _) | (_, None) => {
                return Verdict::ready(
                    "ReconciliationSucceeded",
                    format!(
                        "applied revision {}",
                        report.revision.as_deref().unwrap_or("(local)")
                    ),
                )
            }
            (_, Some(failure)) => failure.error(),
        };
        let message = first_line(&report.errors);
        if failure.is_retryable() {
            Verdict::progressing(failure.reason(), message)
        } else {
            Verdict::stalled(failure.reason(), message)
        }
    }
}

/// The status after a verdict, keeping from `previous` what this outcome
/// does not replace and the transition times of unchanged conditions.
pub fn with_verdict(
    previous: &SyncUnitStatus,
    verdict: &Verdict,
    generation: Option<i64>,
    now: &Time,
) -> SyncUnitStatus {
    let mut status = previous.clone();
    status.observed_generation = generation;
    let bool_status = |b: bool| if b { "True" } else { "False" };
    let conditions = [
        (READY, verdict.ready),
        (RECONCILING, verdict.reconciling),
        (STALLED, verdict.stalled),
    ];
    status.conditions = conditions
        .iter()
        .map(|(type_, value)| {
            let (reason, message) = if *value || *type_ == READY {
                (verdict.reason.clone(), verdict.message.clone())
            } else {
                (verdict.reason.clone(), String::new())
            };
            let mut condition = Condition {
                type_: (*type_).to_owned(),
                status: bool_status(*value).to_owned(),
                reason,
                message: text::truncate(&message, 1024).into_owned(),
                last_transition_time: now.clone(),
                observed_generation: generation,
            };
            if let Some(old) = previous.conditions.iter().find(|c| c.type_ == *type_) {
                if old.status == condition.status {
                    condition
                        .last_transition_time
                        .clone_from(&old.last_transition_time);
                }
            }
            condition
        })
        .collect();
    status
}

/// Fill the report's findings into a status: revisions, violations, and
/// drift if any was found (else the last drift found stays). Drift that
/// persists as the status already records it keeps its `detectedTime`, so
/// a drift a remediator keeps ignoring gives an unchanged status.
pub fn with_report(mut status: SyncUnitStatus, report: &Report) -> SyncUnitStatus {
    status.last_attempted_revision.clone_from(&report.revision);
    if report.status == Status::Synced {
        status.last_applied_revision.clone_from(&report.revision);
        status.verified = report.verified.iter().map(verified_status).collect();
    }
    status.violation_count = report.violations.len() as u64;
    status.violations = report
        .violations
        .iter()
        .take(MAX_STATUS_ENTRIES)
        .map(|v| ViolationStatus {
            policy: v.policy.clone(),
            object: v
                .target
                .as_ref()
                .map(|t| match &t.namespace {
                    Some(ns) => format!("{} {ns}/{}", t.kind, t.name),
                    None => format!("{} {}", t.kind, t.name),
                })
                .unwrap_or_default(),
            path: v.path.clone(),
            message: text::truncate(&v.message, 512).into_owned(),
            severity: serde_json::to_value(v.severity)
                .ok()
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default(),
        })
        .collect();
    if let Some(mut drift) = drift_summary(report) {
        if let Some(previous) = status.drift.take() {
            if persists(&previous, &drift, report) {
                drift.detected_time = previous.detected_time;
            }
        }
        status.drift = Some(drift);
    }
    status
}

/// A verified object as the status shows it.
fn verified_status(verified: &crate::source::Verified) -> crate::controller::crd::VerifiedStatus {
    let format = match verified.signer.format {
        crate::source::verify::SignerFormat::Ssh => "ssh",
        crate::source::verify::SignerFormat::OpenPgp => "openpgp",
        crate::source::verify::SignerFormat::Cosign => "cosign",
    };
    crate::controller::crd::VerifiedStatus {
        kind: verified.kind.to_string(),
        object: verified.object.clone(),
        format: format.to_owned(),
        fingerprint: verified.signer.fingerprint.clone(),
    }
}

/// Whether the drift a report found is the drift `previous` records, left
/// in place: the same objects with the same fields and decisions, each
/// ignored, reported or deferred (none reapplied or recreated).
pub fn drift_persists(previous: Option<&DriftSummary>, report: &Report) -> bool {
    match (previous, drift_summary(report)) {
        (Some(previous), Some(found)) => persists(previous, &found, report),
        _ => false,
    }
}

fn persists(previous: &DriftSummary, found: &DriftSummary, report: &Report) -> bool {
    previous.detected == found.detected
        && previous.decisions == found.decisions
        && previous.entries == found.entries
        && report
            .objects
            .iter()
            .filter(|o| drifted(o))
            .all(|o| leaves_drift(&o.outcome))
}

/// Whether an outcome leaves the drift in the cluster (ignored, reported,
/// deferred): the next reconcile finds it again.
pub fn leaves_drift(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Ignored | Outcome::Reported | Outcome::Deferred
    )
}

/// An object's line in the status's drift.
pub fn drift_entry(object: &ObjectReport) -> DriftEntry {
    DriftEntry {
        object: object.key.to_string(),
        fields: object
            .drifted
            .iter()
            .take(MAX_STATUS_ENTRIES)
            .cloned()
            .collect(),
        decision: outcome_name(&object.outcome),
        policy: object
            .decision
            .as_ref()
            .map(|d| d.policy.clone())
            .unwrap_or_default(),
    }
}

fn drifted(object: &ObjectReport) -> bool {
    !object.drifted.is_empty()
        || object.decision.is_some()
        || matches!(
            object.outcome,
            Outcome::Reapplied
                | Outcome::Ignored
                | Outcome::Reported
                | Outcome::Recreated
                | Outcome::Deferred
        )
}

/// The drift of a report, found now, or `None` when nothing drifted.
fn drift_summary(report: &Report) -> Option<DriftSummary> {
    let drifted: Vec<_> = report.objects.iter().filter(|o| drifted(o)).collect();
    if drifted.is_empty() {
        return None;
    }
    let mut decisions = BTreeMap::new();
    for object in &drifted {
        *decisions.entry(outcome_name(&object.outcome)).or_insert(0) += 1;
    }
    Some(DriftSummary {
        detected_time: now().0.to_string(),
        detected: drifted.len() as u64,
        decisions,
        entries: drifted
            .iter()
            .take(MAX_STATUS_ENTRIES)
            .map(|o| drift_entry(o))
            .collect(),
    })
}

/// An outcome's name as reports print it (`reapplied`, `created`, ...).
pub fn outcome_name(outcome: &Outcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether two statuses differ in more than the time of the last reconcile.
pub fn changed(old: &SyncUnitStatus, new: &SyncUnitStatus) -> bool {
    let strip = |s: &SyncUnitStatus| SyncUnitStatus {
        last_reconcile_time: None,
        ..s.clone()
    };
    strip(old) != strip(new)
}

/// The condition of a type, if set.
pub fn condition<'a>(status: &'a SyncUnitStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// Now, to the second: Kubernetes writes times in seconds, so a time
/// read back from the API server equals the one written.
pub fn now() -> Time {
    let now = Timestamp::now();
    Time(now.round(Unit::Second).unwrap_or(now))
}

/// The first failure, and how many more there are.
fn first_line(failures: &[Failure]) -> String {
    match failures {
        [] => String::new(),
        [only] => only.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(rfc3339: &str) -> Time {
        Time(rfc3339.parse().unwrap())
    }

    #[test]
    fn transition_times_move_only_when_a_condition_changes() {
        let first = with_verdict(
            &SyncUnitStatus::default(),
            &Verdict::ready("ReconciliationSucceeded", "ok".into()),
            Some(1),
            &time("2026-01-01T00:00:00Z"),
        );
        let again = with_verdict(
            &first,
            &Verdict::ready("ReconciliationSucceeded", "ok".into()),
            Some(1),
            &time("2026-01-01T00:05:00Z"),
        );
        assert!(!changed(&first, &again));
        let stalled = with_verdict(
            &again,
            &Verdict::stalled("ValidationFailed", "no".into()),
            Some(2),
            &time("2026-01-01T00:06:00Z"),
        );
        let ready = condition(&stalled, READY).unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.last_transition_time, time("2026-01-01T00:06:00Z"));
        assert_eq!(condition(&stalled, STALLED).unwrap().status, "True");
        let reconciling = condition(&stalled, RECONCILING).unwrap();
        assert_eq!(
            reconciling.last_transition_time,
            time("2026-01-01T00:00:00Z")
        );
        assert_eq!(stalled.observed_generation, Some(2));
    }

    /// A failed report with these errors.
    fn failed(errors: Vec<crate::reconcile::Error>) -> Report {
        let mut report = Report::new("shop", false);
        for error in errors {
            report = report.fail(error);
        }
        report
    }

    fn api_error(retryable: bool) -> crate::reconcile::Error {
        let key = crate::object::ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("shop".into()),
            name: "settings".into(),
        };
        crate::reconcile::Error::from(if retryable {
            crate::apply::Error::Inventory {
                sync: "shop".into(),
                message: "etcd is down".into(),
            }
        } else {
            crate::apply::Error::Rejected {
                object: key,
                code: 422,
                reason: "Invalid".into(),
                message: "bad key".into(),
            }
        })
    }

    #[test]
    fn permanent_failures_stall_and_transient_ones_keep_reconciling() {
        let stalled = Verdict::of_report(&failed(vec![api_error(false)]));
        assert!(stalled.stalled && !stalled.reconciling && !stalled.ready);
        assert_eq!(stalled.reason, "Rejected");

        let retried = Verdict::of_report(&failed(vec![api_error(true)]));
        assert!(retried.reconciling && !retried.stalled);
        assert_eq!(retried.reason, "InventoryFailed");

        // Retrying may fix part of it: retried, with the transient reason.
        let both = Verdict::of_report(&failed(vec![api_error(false), api_error(true)]));
        assert!(both.reconciling && !both.stalled);
        assert_eq!(both.reason, "InventoryFailed");
        assert!(both.message.ends_with("(and 1 more)"), "{}", both.message);
    }

    #[tokio::test]
    async fn a_panic_is_reported_as_a_panic_and_retried() {
        let panicked = tokio::spawn(async { panic!("a bug") }).await.unwrap_err();
        let error = crate::reconcile::Error::panicked("remediation", &panicked);
        let verdict = Verdict::of_report(&failed(vec![error]));
        assert_eq!(verdict.reason, "Panicked");
        assert!(verdict.reconciling && !verdict.stalled);
    }

    #[test]
    fn now_is_in_whole_seconds_and_serializes_as_rfc3339() {
        let now = now();
        assert_eq!(now.0.subsec_nanosecond(), 0);
        let written = serde_json::to_value(&now).unwrap();
        let written = written.as_str().unwrap();
        assert!(written.ends_with('Z') && written.len() == 20, "{written}");
        assert_eq!(serde_json::from_value::<Time>(written.into()).unwrap(), now);
    }

    #[test]
    fn conditions_serialize_as_the_api_server_writes_them() {
        let status = with_verdict(
            &SyncUnitStatus::default(),
            &Verdict::stalled("ValidationFailed", "no".into()),
            Some(3),
            &time("2026-01-01T00:06:00Z"),
        );
        let written = serde_json::to_value(&status).unwrap();
        assert_eq!(
            written["conditions"][2],
            serde_json::json!({
                "type": "Stalled", "status": "True", "reason": "ValidationFailed",
                "message": "no", "lastTransitionTime": "2026-01-01T00:06:00Z",
                "observedGeneration": 3,
            })
        );
        let read: SyncUnitStatus = serde_json::from_value(written).unwrap();
        assert_eq!(read, status);
    }
}
