//! Prometheus metrics of the controller, served as OpenMetrics text at
//! `/metrics` by [`super::http`].
//!
//! In: reconcile [`Report`]s and their durations, Git fetch durations,
//! leadership changes and webhook deliveries. Out: the text exposition from
//! [`Metrics::encode`]. No IO; counters are atomics, safe to share behind
//! an `Arc` between the runner and the HTTP server.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `plumbline_reconcile_duration_seconds` | histogram | `result` (`synced`, `blocked`, `failed`) |
//! | `plumbline_drift_repair_duration_seconds` | histogram | `result` (`synced`, `failed`): one drifted object repaired without a full reconcile |
//! | `plumbline_policy_evaluation_duration_seconds` | histogram | `policy`, `role` |
//! | `plumbline_drift_events_total` | counter | `decision` (`reapply`, `ignore`, `report`, `recreate`, `defer`) |
//! | `plumbline_objects_applied_total` | counter | |
//! | `plumbline_objects_pruned_total` | counter | |
//! | `plumbline_git_fetch_duration_seconds` | histogram | |
//! | `plumbline_leader` | gauge | (1 while this replica leads) |
//! | `plumbline_webhook_deliveries_total` | counter | `outcome` (`accepted`, `ignored`, `bad_signature`, `bad_request`) |

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::reconcile::{Outcome, Report, Status};

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    policy: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabel {
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The reasons a revision is refused by `source.verify`, as `reason`
/// label values (see [`crate::source::verify::Error::reason`]).
const UNVERIFIED_REASONS: [&str; 5] = [
    "UnsignedRevision",
    "UntrustedSigner",
    "InvalidSignature",
    "NotAnnotatedTag",
    "VerificationFailed",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The drift decisions, as `decision` label values.
const DECISIONS: [&str; 5] = ["reapply", "ignore", "report", "recreate", "defer"];

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// What a webhook delivery led to, for
/// `plumbline_webhook_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A push with a valid signature; its sync units were triggered.
    Accepted,
    /// A validly signed event that is not a push (e.g. `ping`).
    Ignored,
    /// The signature was missing or wrong (answered 401).
    BadSignature,
    /// The body was not a push event Plumbline understands (answered 400).
    BadRequest,
}

impl Delivery {
    fn label(self) -> &'static str {
        match self {
            Delivery::Accepted => "accepted",
            Delivery::Ignored => "ignored",
            Delivery::BadSignature => "bad_signature",
            Delivery::BadRequest => "bad_request",
        }
    }
}

/// The controller's metrics and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    reconcile_duration: HistogramFamily<ResultLabel>,
    repair_duration: HistogramFamily<ResultLabel>,
    policy_duration: HistogramFamily<PolicyLabels>,
    drift_events: Family<DecisionLabel, Counter>,
    objects_applied: Counter,
    objects_pruned: Counter,
    git_fetch_duration: Histogram,
    leader: Gauge,
    webhook_deliveries: Family<OutcomeLabel, Counter>,
    unverified_revisions: Family<ReasonLabel, Counter>,
}

/// Buckets for whole reconciles and Git fetches: 10 ms to 5 min.
fn slow_buckets() -> Histogram {
    Histogram::new([
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    ])
}

/// Buckets for one policy's evaluations: 100 µs to 2.5 s (the default
/// deadline of one evaluation is 2 s).
fn fast_buckets() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ])
}

/// The `result` label of a report.
fn result_of(report: &Report) -> &'static str {
    match report.status {
        Status::Synced => "synced",
        Status::Blocked => "blocked",
        Status::Failed => "failed",
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the `plumbline_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("plumbline");
        let reconcile_duration =
            HistogramFamily::<ResultLabel>::new_with_constructor(slow_buckets as fn() -> Histogram);
        let repair_duration =
            HistogramFamily::<ResultLabel>::new_with_constructor(fast_buckets as fn() -> Histogram);
        let policy_duration = HistogramFamily::<PolicyLabels>::new_with_constructor(
            fast_buckets as fn() -> Histogram,
        );
        let drift_events = Family::<DecisionLabel, Counter>::default();
        let objects_applied = Counter::default();
        let objects_pruned = Counter::default();
        let git_fetch_duration = slow_buckets();
        let leader = Gauge::default();
        let webhook_deliveries = Family::<OutcomeLabel, Counter>::default();
        let unverified_revisions = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "unverified_revisions",
            "Reconciles that refused a Git revision failing source.verify, by reason",
            unverified_revisions.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile of a sync unit, by result",
            reconcile_duration.clone(),
        );
        registry.register(
            "drift_repair_duration_seconds",
            "Duration of repairing one drifted object without a full reconcile, by result",
            repair_duration.clone(),
        );
        registry.register(
            "policy_evaluation_duration_seconds",
            "Duration of one policy's evaluations in a reconcile, by policy and role",
            policy_duration.clone(),
        );
        registry.register(
            "drift_events",
            "Drifted objects found, by the remediation decision taken",
            drift_events.clone(),
        );
        registry.register(
            "objects_applied",
            "Objects created, updated, reapplied or recreated",
            objects_applied.clone(),
        );
        registry.register(
            "objects_pruned",
            "Objects deleted because they left Git",
            objects_pruned.clone(),
        );
        registry.register(
            "git_fetch_duration_seconds",
            "Duration of fetching a sync unit's Git source",
            git_fetch_duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease, else 0",
            leader.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Git push webhook deliveries, by outcome",
            webhook_deliveries.clone(),
        );
        // Label values from closed sets are exposed at 0 from the start, so
        // rates and alerts work before the first event.
        for result in ["synced", "blocked", "failed"] {
            drop(reconcile_duration.get_or_create(&ResultLabel { result }));
        }
        for result in ["synced", "failed"] {
            drop(repair_duration.get_or_create(&ResultLabel { result }));
        }
        for decision in DECISIONS {
            drop(drift_events.get_or_create(&DecisionLabel { decision }));
        }
        for reason in UNVERIFIED_REASONS {
            drop(unverified_revisions.get_or_create(&ReasonLabel { reason }));
        }
        for delivery in [
            Delivery::Accepted,
            Delivery::Ignored,
            Delivery::BadSignature,
            Delivery::BadRequest,
        ] {
            drop(webhook_deliveries.get_or_create(&OutcomeLabel {
                outcome: delivery.label(),
            }));
        }
        Metrics {
            registry,
            reconcile_duration,
            repair_duration,
            policy_duration,
            drift_events,
            objects_applied,
            objects_pruned,
            git_fetch_duration,
            leader,
            webhook_deliveries,
            unverified_revisions,
        }
    }

    /// Record one reconcile: its duration by result, drift decisions,
    /// objects applied and pruned, each policy's evaluation time and the
    /// Git fetch time.
    pub fn record_reconcile(&self, report: &Report, elapsed: Duration) {
        if let Some(fetch) = report.fetch_duration {
            self.record_git_fetch(fetch);
        }
        self.reconcile_duration
            .get_or_create(&ResultLabel {
                result: result_of(report),
            })
            .observe(elapsed.as_secs_f64());
        self.record_objects(report);
        for failure in &report.errors {
            if let Some(reason) = failure.error().unverified_reason() {
                self.record_unverified(reason);
            }
        }
    }

    /// Count a revision or artifact refused by verification (a Git
    /// `source.verify`, a cosign `verify`), by its reason
    /// ([`crate::reconcile::Error::unverified_reason`]).
    pub fn record_unverified(&self, reason: &'static str) {
        self.unverified_revisions
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Record one drifted object repaired without a full reconcile
    /// ([`super::repair`]): its duration, decision and policy times.
    pub fn record_repair(&self, report: &Report, elapsed: Duration) {
        self.repair_duration
            .get_or_create(&ResultLabel {
                result: result_of(report),
            })
            .observe(elapsed.as_secs_f64());
        self.record_objects(report);
    }

    /// The policy times, drift decisions and applied and pruned objects of
    /// a report.
    fn record_objects(&self, report: &Report) {
        for timing in &report.policy_timings {
            self.record_policy(&timing.policy, timing.role, timing.elapsed);
        }
        let mut applied = 0;
        let mut pruned = 0;
        for object in &report.objects {
            match object.outcome {
                Outcome::Created | Outcome::Updated | Outcome::Adopted => applied += 1,
                Outcome::Pruned => pruned += 1,
                _ => {}
            }
            let decision = match object.outcome {
                Outcome::Reapplied => "reapply",
                Outcome::Ignored => "ignore",
                Outcome::Reported => "report",
                Outcome::Recreated => "recreate",
                Outcome::Deferred => "defer",
                _ => continue,
            };
            if matches!(object.outcome, Outcome::Reapplied | Outcome::Recreated) {
                applied += 1;
            }
            self.drift_events
                .get_or_create(&DecisionLabel { decision })
                .inc();
        }
        self.objects_applied.inc_by(applied);
        self.objects_pruned.inc_by(pruned);
    }

    /// Record a failure that ended a reconcile before it produced a report
    /// (e.g. the sync unit could not be turned into a configuration).
    pub fn record_reconcile_error(&self, elapsed: Duration) {
        self.reconcile_duration
            .get_or_create(&ResultLabel { result: "failed" })
            .observe(elapsed.as_secs_f64());
    }

    /// Record the time one policy spent evaluating in one role.
    pub fn record_policy(&self, policy: &str, role: &str, elapsed: Duration) {
        self.policy_duration
            .get_or_create(&PolicyLabels {
                policy: policy.to_owned(),
                role: role.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Record one Git fetch.
    pub fn record_git_fetch(&self, elapsed: Duration) {
        self.git_fetch_duration.observe(elapsed.as_secs_f64());
    }

    /// Set whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Count one webhook delivery.
    pub fn record_delivery(&self, delivery: Delivery) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabel {
                outcome: delivery.label(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition of every metric ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed_with_help_and_type() {
        let metrics = Metrics::new();
        metrics.record_policy("deny-latest", "validator", Duration::from_millis(2));
        metrics.record_git_fetch(Duration::from_millis(30));
        metrics.set_leader(true);
        metrics.record_delivery(Delivery::BadSignature);
        let text = metrics.encode();
        for line in [
            "# TYPE plumbline_reconcile_duration_seconds histogram",
            "plumbline_reconcile_duration_seconds_count{result=\"blocked\"} 0",
            "# TYPE plumbline_policy_evaluation_duration_seconds histogram",
            "plumbline_policy_evaluation_duration_seconds_count{policy=\"deny-latest\",role=\"validator\"} 1",
            "plumbline_drift_events_total{decision=\"recreate\"} 0",
            "plumbline_objects_applied_total 0",
            "plumbline_objects_pruned_total 0",
            "plumbline_git_fetch_duration_seconds_count 1",
            "plumbline_leader 1",
            "plumbline_webhook_deliveries_total{outcome=\"bad_signature\"} 1",
            "plumbline_webhook_deliveries_total{outcome=\"accepted\"} 0",
            "plumbline_policy_evaluation_duration_seconds_bucket{le=\"0.0025\",policy=\"deny-latest\",role=\"validator\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
