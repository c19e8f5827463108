//! Kubernetes Events about SyncUnits: applies, prunes, violations, drift
//! remediations and failures, published through kube-runtime's
//! [`Recorder`] (`events.k8s.io/v1`, deduplicated into series). IO: creates
//! and patches Events.
//!
//! A reconcile that changed nothing publishes nothing, so a steady cluster
//! gets no Event traffic: Events about what a reconcile did (applied,
//! pruned, reapplied, recreated) only when it did something; drift left in
//! place (ignored, reported, deferred) only when it is new or its decision
//! changed; and Events about the state it found (violations, a failure)
//! only when the SyncUnit's status changed with it. Publishing failures are logged, never fatal: an
//! Event is a courtesy, not part of the reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::crd::{DriftSummary, MAX_STATUS_ENTRIES};
use super::status::{drift_entry, drift_persists, leaves_drift, outcome_name};
use crate::reconcile::{ObjectReport, Outcome, Report, Status};

/// The `reportingController` of Plumbline's Events.
pub const CONTROLLER: &str = "plumbline-controller";

/// Publishes Events about SyncUnits.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    /// A publisher; `instance` names this replica (its pod name).
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER.into(),
            instance,
        };
        Events {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// The Events a reconcile report calls for; `drift` is the drift the
    /// SyncUnit's status recorded before it (drift left in place that it
    /// already lists is not announced again); `status_changed` says
    /// whether the report changed the SyncUnit's status (violations and
    /// failures already published are not repeated while it does not).
    pub async fn report(
        &self,
        regarding: &ObjectReference,
        report: &Report,
        drift: Option<&DriftSummary>,
        status_changed: bool,
    ) {
        for event in events_of(report, drift, status_changed) {
            self.publish(regarding, event).await;
        }
    }

    /// A warning that the SyncUnit could not be reconciled.
    pub async fn failure(&self, regarding: &ObjectReference, reason: &str, message: &str) {
        self.simple(regarding, EventType::Warning, reason, message)
            .await;
    }

    /// A normal Event, e.g. that reconciling is suspended.
    pub async fn notice(&self, regarding: &ObjectReference, reason: &str, message: &str) {
        self.simple(regarding, EventType::Normal, reason, message)
            .await;
    }

    async fn simple(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) {
        self.publish(
            regarding,
            Event {
                type_,
                reason: reason.into(),
                note: Some(truncate(message)),
                action: "Reconcile".into(),
                secondary: None,
            },
        )
        .await;
    }

    async fn publish(&self, regarding: &ObjectReference, event: Event) {
        if let Err(error) = self.recorder.publish(&event, regarding).await {
            tracing::warn!(%error, reason = %event.reason, "cannot publish an Event");
        }
    }
}

/// The Events of a report: one per kind of change, none if nothing
/// happened; drift left in place only if `drift` (the status's so far)
/// does not list it with the same decision; the violations and the
/// failure only if `status_changed`.
fn events_of(report: &Report, drift: Option<&DriftSummary>, status_changed: bool) -> Vec<Event> {
    let mut events = Vec::new();
    let normal = |reason: &str, action: &str, note: String| Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(truncate(&note)),
        action: action.into(),
        secondary: None,
    };
    let revision = report.revision.as_deref().unwrap_or("(local)");
    // Drift left in place that the status already lists, decided alike,
    // was announced when it was found.
    let persisting = drift_persists(drift, report);
    let announced = |o: &ObjectReport| {
        leaves_drift(&o.outcome)
            && (persisting || drift.is_some_and(|d| d.entries.contains(&drift_entry(o))))
    };
    let listed = |outcomes: &[Outcome]| -> (usize, String) {
        let objects: Vec<String> = report
            .objects
            .iter()
            .filter(|o| outcomes.contains(&o.outcome) && !announced(o))
            .map(|o| format!("{} ({})", o.key, outcome_name(&o.outcome)))
            .collect();
        let count = objects.len();
        let mut shown: Vec<String> = objects.into_iter().take(MAX_STATUS_ENTRIES).collect();
        if count > shown.len() {
            shown.push(format!("and {} more", count - MAX_STATUS_ENTRIES));
        }
        (count, shown.join(", "))
    };
    let (applied, list) = listed(&[Outcome::Created, Outcome::Updated, Outcome::Adopted]);
    if applied > 0 {
        events.push(normal(
            "Applied",
            "Apply",
            format!("revision {revision}: {applied} object(s) applied: {list}"),
        ));
    }
    let (pruned, list) = listed(&[Outcome::Pruned]);
    if pruned > 0 {
        events.push(normal(
            "Pruned",
            "Prune",
            format!("revision {revision}: {pruned} object(s) pruned: {list}"),
        ));
    }
    let (remediated, list) = listed(&[
        Outcome::Reapplied,
        Outcome::Recreated,
        Outcome::Ignored,
        Outcome::Reported,
        Outcome::Deferred,
    ]);
    if remediated > 0 {
        events.push(normal(
            "DriftRemediated",
            "Remediate",
            format!("{remediated} drifted object(s): {list}"),
        ));
    }
    if !status_changed {
        return events;
    }
    if !report.violations.is_empty() {
        let shown: Vec<String> = report
            .violations
            .iter()
            .take(MAX_STATUS_ENTRIES)
            .map(|v| {
                let target = v
                    .target
                    .as_ref()
                    .map(|t| format!("{} {}: ", t.kind, t.name))
                    .unwrap_or_default();
                format!("[{}] {target}{}", v.policy, v.message)
            })
            .collect();
        let blocked = report.status == Status::Blocked;
        events.push(Event {
            type_: if blocked {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: if blocked {
                "ValidationFailed".into()
            } else {
                "Violations".into()
            },
            note: Some(truncate(&format!(
                "revision {revision}: {} violation(s): {}",
                report.violations.len(),
                shown.join("; ")
            ))),
            action: "Validate".into(),
            secondary: None,
        });
    }
    if let (Status::Failed, Some(failure)) = (report.status, report.deciding_failure()) {
        let notes: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        events.push(Event {
            type_: EventType::Warning,
            reason: failure.error().reason().into(),
            note: Some(truncate(&notes.join("; "))),
            action: "Reconcile".into(),
            secondary: None,
        });
    }
    events
}

/// Event notes are at most 1 kB.
fn truncate(text: &str) -> String {
    crate::text::truncate(text, 1000).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::crd::SyncUnitStatus;
    use crate::controller::status;
    use crate::object::ObjectKey;

    fn drifted(outcome: Outcome) -> Report {
        let mut report = Report::new("shop", false);
        report.objects.push(ObjectReport {
            key: ObjectKey {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: Some("shop".into()),
                name: "settings".into(),
            },
            outcome,
            drifted: vec!["data.mode".into()],
            decision: None,
            message: None,
            health: None,
        });
        report
    }

    fn reasons(events: Vec<Event>) -> Vec<String> {
        events.into_iter().map(|e| e.reason).collect()
    }

    /// The status after a report, with the drift found at a fixed time.
    fn found(report: &Report) -> SyncUnitStatus {
        let mut status = status::with_report(SyncUnitStatus::default(), report);
        if let Some(drift) = &mut status.drift {
            drift.detected_time = "2026-01-01T00:00:00Z".into();
        }
        status
    }

    #[test]
    fn drift_left_in_place_is_recorded_and_announced_once() {
        let reported = drifted(Outcome::Reported);
        assert_eq!(
            reasons(events_of(&reported, None, true)),
            ["DriftRemediated"]
        );
        let first = found(&reported);
        let again = status::with_report(first.clone(), &reported);
        assert!(!status::changed(&first, &again), "{again:?}");
        assert!(reasons(events_of(&reported, first.drift.as_ref(), false)).is_empty());

        // Decided differently: new, so announced and found now.
        let ignored = drifted(Outcome::Ignored);
        assert_eq!(
            reasons(events_of(&ignored, first.drift.as_ref(), false)),
            ["DriftRemediated"]
        );
        let redecided = status::with_report(first.clone(), &ignored);
        assert_ne!(redecided.drift, first.drift);
        assert_ne!(
            redecided.drift.unwrap().detected_time,
            "2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn drift_remediated_again_is_announced_again() {
        let reapplied = drifted(Outcome::Reapplied);
        let first = found(&reapplied);
        assert_eq!(
            reasons(events_of(&reapplied, first.drift.as_ref(), false)),
            ["DriftRemediated"]
        );
        let again = status::with_report(first, &reapplied);
        assert_ne!(again.drift.unwrap().detected_time, "2026-01-01T00:00:00Z");
    }

    #[test]
    fn a_failure_is_announced_with_its_own_reason() {
        let refused = crate::plan::PruneRefused {
            prunes: 3,
            inventory: 4,
            foreign: 0,
            recreated: 0,
            max_share: 0.5,
        };
        let report =
            Report::new("shop", false).fail(crate::reconcile::Error::PruneRefused(refused));
        let events = events_of(&report, None, true);
        assert!(events[0]
            .note
            .as_deref()
            .unwrap()
            .contains("refusing to prune 3 of 4"));
        assert_eq!(reasons(events), ["PruneRefused"]);
        // Announced once: not again while the status does not change.
        assert!(events_of(&report, None, false).is_empty());
    }
}
