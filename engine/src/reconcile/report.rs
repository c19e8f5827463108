//! The outcome of one reconcile, as data: the CLI prints it, the controller
//! turns it into status conditions and events.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::health::Health;
use crate::object::ObjectKey;
use crate::plan::Summary;
use crate::policy::{Decision, Violation};

use super::transform_guard::TransformerSummary;
use super::Error;

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// The cluster matches Git (possibly after this reconcile's writes);
    /// drift may have been reported or ignored by decision.
    Synced,
    /// Error-severity violations blocked the sync; nothing was written.
    Blocked,
    /// Something failed; see the errors. Nothing was pruned.
    Failed,
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Created.
    Created,
    /// Updated because Git changed.
    Updated,
    /// Existed without being this sync's (first sync, or a lost
    /// inventory), and was applied to take ownership: `plan`'s `adopt`.
    Adopted,
    /// Already as desired.
    Unchanged,
    /// Drifted, and the desired state was applied again.
    Reapplied,
    /// Drifted, and the drift is accepted until Git changes.
    Ignored,
    /// Drifted, and the drift is only reported.
    Reported,
    /// Drifted, and the object was deleted and created again.
    Recreated,
    /// Drifted, and the decision is deferred.
    Deferred,
    /// Deleted because it left Git.
    Pruned,
    /// Left Git, but prune is off.
    Orphaned,
    /// Left Git, but is not this sync's any more (another sync's label, no
    /// label, or another uid): not deleted, and forgotten.
    OwnershipChanged,
    /// In Git, but another sync took it over (`takeOver.syncs`): not
    /// applied, so the two syncs do not fight over it.
    Lost,
    /// Being deleted (`deletionTimestamp` set, finalizers running): left
    /// alone.
    Terminating,
    /// Left Git, but no version of its kind is served any more: it can be
    /// neither checked nor deleted, and stays in the inventory.
    Unserved,
    /// Left Git, but the sync adopted it (it existed before the sync first
    /// applied it) and does not prune adopted objects: left in place, and
    /// kept in the inventory.
    AdoptedNotPruned,
    /// Not deleted: its deletion would take objects the sync does not own
    /// with it (a Namespace's contents, a CRD's custom resources), and the
    /// sync does not allow cascading deletes. The message names them.
    Refused,
    /// Not done: an earlier failure stopped the sync, or a guard refused.
    Skipped,
    /// The write failed.
    Failed,
}

/// One object's line in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    /// The object.
    pub key: ObjectKey,
    /// What happened.
    pub outcome: Outcome,
    /// Paths of drifted fields, if it drifted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
    /// The remediation decision and the policy that made it; `None` when
    /// the sync's default decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// A message: the reported drift, or the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Readiness after the reconcile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// The outcome of one reconcile.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The sync.
    pub sync: String,
    /// The commit reconciled, for Git sources.
    pub revision: Option<String>,
    /// The signed tag and commit `source.verify` checked, with their
    /// signers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<crate::source::Verified>,
    /// Whether writes were server-side dry-runs.
    pub dry_run: bool,
    /// How it ended.
    pub status: Status,
    /// What the plan found.
    pub summary: Summary,
    /// Object by object.
    pub objects: Vec<ObjectReport>,
    /// Every violation the validators found.
    pub violations: Vec<Violation>,
    /// What each transformer added, removed, moved or changed, in order
    /// (those that changed nothing left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transformers: Vec<TransformerSummary>,
    /// Faults of fail-open policies and other non-fatal problems.
    pub warnings: Vec<String>,
    /// What failed, in the order it failed.
    pub errors: Vec<Failure>,
    /// How long each policy evaluation took (for metrics; not printed).
    #[serde(skip)]
    pub policy_timings: Vec<crate::policy::Timing>,
    /// How long the Git fetch took (for metrics; not printed).
    #[serde(skip)]
    pub fetch_duration: Option<std::time::Duration>,
}

impl Report {
    pub(crate) fn new(sync: &str, dry_run: bool) -> Self {
        Report {
            sync: sync.to_owned(),
            revision: None,
            verified: Vec::new(),
            dry_run,
            status: Status::Synced,
            summary: Summary::default(),
            objects: Vec::new(),
            violations: Vec::new(),
            transformers: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            policy_timings: Vec::new(),
            fetch_duration: None,
        }
    }

    pub(crate) fn fail(mut self, error: Error) -> Self {
        self.push_error(error);
        self.status = Status::Failed;
        self
    }

    pub(crate) fn push_error(&mut self, error: Error) {
        self.errors.push(Failure(Arc::new(error)));
    }

    /// The failure that decides what happens next: the first one that
    /// may go away by itself (the sync is retried), else the first one
    /// (the sync is stalled until its spec or revision changes); `None`
    /// when nothing failed.
    pub fn deciding_failure(&self) -> Option<&Failure> {
        self.errors
            .iter()
            .find(|f| f.error().is_retryable())
            .or_else(|| self.errors.first())
    }

    /// The objects with the given outcome.
    pub fn with_outcome(&self, outcome: &Outcome) -> impl Iterator<Item = &ObjectReport> {
        let outcome = outcome.clone();
        self.objects.iter().filter(move |o| o.outcome == outcome)
    }

    /// The number of objects with the given outcome.
    pub fn count(&self, outcome: &Outcome) -> usize {
        self.with_outcome(outcome).count()
    }
}

/// One failure of a reconcile: the typed [`Error`], shared (a report is
/// cloned for the CLI, the status and Events). Serialized as its reason,
/// whether it is retryable, and its message.
#[derive(Debug, Clone)]
pub struct Failure(Arc<Error>);

impl Failure {
    /// The error.
    pub fn error(&self) -> &Error {
        &self.0
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Failure {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            reason: &'a str,
            retryable: bool,
            message: String,
        }
        Shown {
            reason: self.0.reason(),
            retryable: self.0.is_retryable(),
            message: self.0.to_string(),
        }
        .serialize(serializer)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts: Vec<String> = Vec::new();
        for outcome in [
            Outcome::Created,
            Outcome::Updated,
            Outcome::Adopted,
            Outcome::Unchanged,
            Outcome::Reapplied,
            Outcome::Ignored,
            Outcome::Reported,
            Outcome::Recreated,
            Outcome::Deferred,
            Outcome::Pruned,
            Outcome::Orphaned,
            Outcome::OwnershipChanged,
            Outcome::Lost,
            Outcome::Terminating,
            Outcome::Unserved,
            Outcome::AdoptedNotPruned,
            Outcome::Refused,
            Outcome::Skipped,
            Outcome::Failed,
        ] {
            let n = self.count(&outcome);
            if n > 0 {
                let name = serde_json::to_value(&outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                counts.push(format!("{n} {name}"));
            }
        }
        write!(
            f,
            "sync {}: {:?}{}: {}",
            self.sync,
            self.status,
            if self.dry_run { " (dry run)" } else { "" },
            if counts.is_empty() {
                "no objects".to_owned()
            } else {
                counts.join(", ")
            }
        )
    }
}
