//! Waves, phases and waiting for health, as a reconcile runs them.
//!
//! The plan's desired objects are grouped into steps
//! ([`plan::waves::schedule`]): the `pre` phase, the waves in ascending
//! order, the `post` phase. Each step is applied in the usual stages
//! (definitions, cluster-scoped, namespaced). Before a step that writes
//! anything, every object of the steps before it must be healthy; a phase
//! is waited for as soon as it is applied. A step that fails, or is not
//! healthy within the sync's `timeout`, stops the sync: nothing later is
//! applied, nothing is pruned, and the error names the objects and their
//! health. With `wait: true` the last wave is waited for too, so a sync
//! ends `Synced` only once everything is healthy.
//!
//! Phases run only when the sync writes something (a create, update,
//! reapply, recreate or prune, or a phase object new or changed in Git):
//! a sync with nothing to do runs no hook. Phase objects are never
//! drift-healed ([`plan::waves::settle_phases`]).
//!
//! Every health judgement goes through the run's [`crate::health::Assessor`]:
//! the sync's health policies for the kinds they declare, the built-in
//! kstatus rules for the rest.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{remediate, Error, Outcome, Run, Status};
use crate::health::Health;
use crate::object::ObjectKey;
use crate::plan::waves::{DeletePolicy, Phase, Schedule, Step, StepId};
use crate::plan::{self, Action, Live, Plan, PlannedObject, Stage};
use crate::policy::Remediation;

/// Group the plan into steps and settle its phase objects; an annotation
/// that cannot be read fails the reconcile before anything is written.
pub(super) fn prepare(planned: &mut Plan) -> Result<Schedule, Error> {
    let schedule = plan::waves::schedule(planned).map_err(Error::InvalidOrder)?;
    plan::waves::settle_phases(planned, &schedule);
    Ok(schedule)
}

/// Objects a wave or phase left unhealthy, for [`Error::Unhealthy`].
#[derive(Debug)]
pub struct Unhealthy {
    /// The step they belong to (`wave 2`, `pre phase`).
    pub step: String,
    /// How long was waited; `None` when an object failed (no need to wait
    /// any longer).
    pub timeout: Option<Duration>,
    /// Each object that is not healthy, with its last health.
    pub objects: Vec<(ObjectKey, Health)>,
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.timeout {
            Some(timeout) => write!(
                f,
                "{} is not healthy after {}",
                self.step,
                humantime::format_duration(timeout)
            )?,
            None => write!(f, "{} failed", self.step)?,
        }
        f.write_str(": ")?;
        const SHOWN: usize = 5;
        for (i, (key, health)) in self.objects.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{key} is {health}")?;
        }
        if self.objects.len() > SHOWN {
            write!(f, "; and {} more", self.objects.len() - SHOWN)?;
        }
        f.write_str(" (the sync stopped there: nothing later was applied, nothing was pruned)")
    }
}

/// How a reconcile waits for health.
pub(super) struct Waiting {
    /// How long one wait may take.
    pub timeout: Duration,
    /// Whether the last wave is waited for too (`spec.wait`).
    pub wait: bool,
}

/// An object a later step waits for.
struct Member {
    key: ObjectKey,
    api_version: String,
    step: StepId,
}

/// The steps of one reconcile, as they run.
pub(super) struct Steps<'p> {
    planned: &'p Plan,
    schedule: &'p Schedule,
    /// Whether the phases run: the sync writes something.
    phases_run: bool,
    /// Objects applied (or found) by earlier steps and not yet seen
    /// healthy.
    pending: Vec<Member>,
    /// `pre` objects the `post` phase needs too: their delete policy is
    /// carried out when the sync ends.
    held: Vec<(Member, DeletePolicy)>,
}

impl<'p> Steps<'p> {
    /// The steps of `planned`, with the remediators' `decisions`.
    pub fn new(
        planned: &'p Plan,
        schedule: &'p Schedule,
        decisions: &std::collections::BTreeMap<ObjectKey, remediate::Resolution>,
    ) -> Self {
        let phases_run = schedule.has_phases()
            && planned
                .objects
                .iter()
                .any(|o| o.action == Action::Prune || writes(o, decisions));
        Steps {
            planned,
            schedule,
            phases_run,
            pending: Vec::new(),
            held: Vec::new(),
        }
    }

    fn objects(&self, step: &Step) -> Vec<&'p PlannedObject> {
        step.objects
            .iter()
            .map(|&i| &self.planned.objects[i])
            .collect()
    }
}

/// The note for deleting a phase object by its delete `policy` once `what`
/// (its phase, or the sync) succeeded or failed; `None` when the policy
/// keeps it.
fn deletion(policy: &DeletePolicy, succeeded: bool, what: &str) -> Option<String> {
    match succeeded {
        true if policy.on_success => Some(format!(
            "deleted after {what} succeeded (delete-policy on-success)"
        )),
        false if policy.on_failure => Some(format!(
            "deleted after {what} failed (delete-policy on-failure)"
        )),
        _ => None,
    }
}

/// Whether applying `object` writes to the cluster.
fn writes(
    object: &PlannedObject,
    decisions: &std::collections::BTreeMap<ObjectKey, remediate::Resolution>,
) -> bool {
    match object.action {
        Action::Create | Action::Update { .. } | Action::Immutable { .. } => true,
        Action::Drifted(_) => decisions.get(&object.key).is_some_and(|resolution| {
            matches!(
                resolution.remediation,
                Remediation::Reapply | Remediation::Recreate
            )
        }),
        _ => false,
    }
}

impl Run<'_> {
    /// Run the `pre` phase and the waves, in order; with `wait` (or a
    /// `post` phase to run), wait until the last wave is healthy.
    pub(super) async fn steps_before_prune(
        &mut self,
        steps: &mut Steps<'_>,
        decisions: &std::collections::BTreeMap<ObjectKey, remediate::Resolution>,
        live: &Live,
        waiting: &Waiting,
    ) {
        let before: Vec<&Step> = steps
            .schedule
            .steps
            .iter()
            .filter(|s| s.id.phase != Phase::Post)
            .collect();
        for step in before {
            self.step(step, steps, decisions, live, waiting).await;
        }
        let post_runs = steps.phases_run
            && steps
                .schedule
                .steps
                .iter()
                .any(|s| s.id.phase == Phase::Post);
        if (waiting.wait || post_runs) && !self.stopped() {
            let pending = std::mem::take(&mut steps.pending);
            self.await_healthy(&pending, live, waiting).await;
        }
    }

    /// Run the `post` phase (after the prune), unless the sync failed.
    pub(super) async fn post_phase(
        &mut self,
        steps: &mut Steps<'_>,
        decisions: &std::collections::BTreeMap<ObjectKey, remediate::Resolution>,
        live: &Live,
        waiting: &Waiting,
    ) {
        if !self.report.errors.is_empty() && !self.stopped() {
            self.stopped = Some("not applied: the sync had errors".to_owned());
            self.report.status = Status::Failed;
        }
        let post: Vec<&Step> = steps
            .schedule
            .steps
            .iter()
            .filter(|s| s.id.phase == Phase::Post)
            .collect();
        for step in post {
            self.step(step, steps, decisions, live, waiting).await;
        }
        let succeeded = !self.stopped();
        for (member, policy) in std::mem::take(&mut steps.held) {
            if let Some(note) = deletion(&policy, succeeded, "the sync") {
                self.delete_phase_object(&member, &note).await;
            }
        }
    }

    /// Whether a failure stopped the sync.
    fn stopped(&self) -> bool {
        self.report.status == Status::Failed
    }

    async fn step(
        &mut self,
        step: &Step,
        steps: &mut Steps<'_>,
        decisions: &std::collections::BTreeMap<ObjectKey, remediate::Resolution>,
        live: &Live,
        waiting: &Waiting,
    ) {
        let objects = steps.objects(step);
        let is_phase = step.id.phase.is_hook();
        if is_phase && !steps.phases_run {
            self.idle_phase(step.id, &objects, live);
            return;
        }
        let writes = is_phase || objects.iter().any(|o| writes(o, decisions));
        if writes && !self.stopped() && !steps.pending.is_empty() {
            let pending = std::mem::take(&mut steps.pending);
            self.await_healthy(&pending, live, waiting).await;
        }
        if is_phase && !self.stopped() {
            let held = self
                .run_phase(step, &objects, decisions, live, waiting)
                .await;
            steps.held.extend(held);
            return;
        }
        self.apply_stages(&objects, decisions, live).await;
        steps.pending.extend(objects.iter().map(|o| Member {
            key: o.key.clone(),
            api_version: o.api_version.clone(),
            step: step.id,
        }));
    }

    /// Apply objects in the usual stages: definitions, cluster-scoped,
    /// namespaced. After a failure, they are reported as not applied.
    async fn apply_stages(
        &mut self,
        objects: &[&PlannedObject],
        decisions: &std::collections::BTreeMap<ObjectKey, remediate::Resolution>,
        live: &Live,
    ) {
        for stage in [Stage::Definitions, Stage::ClusterScoped, Stage::Namespaced] {
            let of_stage: Vec<&PlannedObject> = objects
                .iter()
                .copied()
                .filter(|o| o.stage == stage)
                .collect();
            if !of_stage.is_empty() {
                self.stage(&of_stage, decisions, live).await;
            }
        }
    }

    /// Report the objects of a phase that does not run: the sync writes
    /// nothing else.
    fn idle_phase(&mut self, step: StepId, objects: &[&PlannedObject], live: &Live) {
        for object in objects {
            let health = live.get(&object.key).map(|l| self.assessor.assess(l, None));
            let (outcome, message) = if object.action == Action::Terminating {
                (Outcome::Terminating, "being deleted: left alone".to_owned())
            } else {
                (
                    Outcome::Unchanged,
                    format!("{step}: not run, the sync changes nothing else"),
                )
            };
            self.push(object, outcome, Some(message), health);
        }
    }

    /// Run a phase: delete what `before-creation` says (and wait for what
    /// is being deleted), apply every object, wait until all are healthy,
    /// then delete what `on-success` or `on-failure` says. Returns the
    /// objects whose deletion waits for the end of the sync
    /// ([`DeletePolicy::after_post`]), once their phase succeeded.
    async fn run_phase(
        &mut self,
        step: &Step,
        objects: &[&PlannedObject],
        decisions: &std::collections::BTreeMap<ObjectKey, remediate::Resolution>,
        live: &Live,
        waiting: &Waiting,
    ) -> Vec<(Member, DeletePolicy)> {
        let dry_run = self.cluster.options().dry_run;
        let mut to_apply: Vec<PlannedObject> = Vec::with_capacity(objects.len());
        let mut recreated = Vec::new();
        for (object, policy) in objects.iter().zip(&step.delete_policies) {
            let Some(found) = live.get(&object.key) else {
                to_apply.push(PlannedObject {
                    action: Action::Create,
                    ..(*object).clone()
                });
                continue;
            };
            let terminating = object.action == Action::Terminating;
            if !(policy.before_creation || terminating) {
                to_apply.push((*object).clone());
                continue;
            }
            match self.delete_and_wait(object, found, terminating).await {
                Ok(()) => {
                    recreated.push(object.key.clone());
                    to_apply.push(PlannedObject {
                        action: Action::Create,
                        ..(*object).clone()
                    });
                }
                Err(error) => {
                    let message = error.to_string();
                    self.report.push_error(Error::from(error));
                    self.report.status = Status::Failed;
                    self.push(object, Outcome::Failed, Some(message), None);
                }
            }
        }
        let refs: Vec<&PlannedObject> = to_apply.iter().collect();
        self.apply_stages(&refs, decisions, live).await;
        for key in &recreated {
            self.note(
                key,
                "deleted and created again (delete-policy before-creation)",
            );
        }
        if dry_run || self.stopped() {
            return Vec::new();
        }
        let members: Vec<Member> = to_apply
            .iter()
            .map(|o| Member {
                key: o.key.clone(),
                api_version: o.api_version.clone(),
                step: step.id,
            })
            .collect();
        let healthy = self.await_healthy(&members, live, waiting).await;
        let policies: HashMap<&ObjectKey, &DeletePolicy> = objects
            .iter()
            .map(|o| &o.key)
            .zip(&step.delete_policies)
            .collect();
        let mut held = Vec::new();
        for member in members {
            let Some(&&policy) = policies.get(&member.key) else {
                continue;
            };
            if healthy && policy.after_post {
                held.push((member, policy));
            } else if let Some(note) = deletion(&policy, healthy, "its phase") {
                self.delete_phase_object(&member, &note).await;
            }
        }
        held
    }

    /// Delete a phase object before its phase applies it again (unless it
    /// is already being deleted), and wait until it is gone.
    async fn delete_and_wait(
        &self,
        object: &PlannedObject,
        found: &Value,
        terminating: bool,
    ) -> crate::apply::Result<()> {
        if !terminating {
            let uid = crate::object::uid(found);
            self.cluster
                .delete(&object.key, &object.api_version, uid)
                .await?;
        }
        self.cluster
            .wait_deleted(&object.key, &object.api_version)
            .await
    }

    /// Delete a phase object its delete policy removes; its inventory
    /// record stays, so the next sync knows it ran and does not create it
    /// again until its phase runs again.
    async fn delete_phase_object(&mut self, member: &Member, note: &str) {
        let uid = self
            .inventory
            .entries
            .get(&member.key)
            .and_then(|e| e.uid.clone());
        let deleted = self
            .cluster
            .delete(&member.key, &member.api_version, uid.as_deref())
            .await;
        match deleted {
            Ok(()) => self.note(&member.key, note),
            Err(error) => {
                let message = format!("not deleted by its delete policy: {error}");
                self.note(&member.key, &message);
                self.report.push_error(Error::from(error));
                self.report.status = Status::Failed;
            }
        }
    }

    /// Add a note to the report line of `key`.
    fn note(&mut self, key: &ObjectKey, note: &str) {
        if let Some(line) = self.report.objects.iter_mut().rev().find(|l| &l.key == key) {
            line.message = Some(match line.message.take() {
                Some(message) => format!("{message}; {note}"),
                None => note.to_owned(),
            });
        }
    }

    /// Wait until every member is healthy, polling those that are not;
    /// stop early when one failed. Returns whether all became healthy;
    /// if not, the reconcile fails with [`Error::Unhealthy`] and nothing
    /// later is applied. Members that were not applied (failed, skipped,
    /// another sync's, being deleted) are not waited for. Nothing is
    /// waited for in a dry run.
    async fn await_healthy(&mut self, members: &[Member], live: &Live, waiting: &Waiting) -> bool {
        if self.cluster.options().dry_run || members.is_empty() {
            return true;
        }
        let lines: HashMap<&ObjectKey, usize> = self
            .report
            .objects
            .iter()
            .enumerate()
            .map(|(i, line)| (&line.key, i))
            .collect();
        let mut watched: Vec<(&Member, usize, Health)> = Vec::new();
        for member in members {
            let Some(&at) = lines.get(&member.key) else {
                continue;
            };
            let line = &self.report.objects[at];
            if matches!(
                line.outcome,
                Outcome::Failed
                    | Outcome::Skipped
                    | Outcome::Lost
                    | Outcome::Terminating
                    | Outcome::Refused
            ) {
                continue;
            }
            let health = line
                .health
                .clone()
                .or_else(|| live.get(&member.key).map(|l| self.assessor.assess(l, None)))
                .unwrap_or_else(|| Health::InProgress("not read yet".to_owned()));
            watched.push((member, at, health));
        }
        let deadline = Instant::now() + waiting.timeout;
        let mut pause = Duration::from_millis(200);
        let verdict = loop {
            if watched.iter().all(|(_, _, health)| health.is_current()) {
                break None;
            }
            if watched
                .iter()
                .any(|(_, _, health)| matches!(health, Health::Failed(_)))
            {
                break Some(None);
            }
            if Instant::now() >= deadline {
                break Some(Some(waiting.timeout));
            }
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            for (member, _, health) in watched.iter_mut().filter(|(_, _, h)| !h.is_current()) {
                match self.cluster.get(&member.key, &member.api_version).await {
                    Ok(Some(object)) => *health = self.assessor.assess(&object, None),
                    Ok(None) => *health = Health::InProgress("not found".to_owned()),
                    Err(error) => {
                        self.report.push_error(Error::from(error));
                        self.report.status = Status::Failed;
                        return false;
                    }
                }
            }
        };
        for (_, at, health) in &watched {
            self.report.objects[*at].health = Some(health.clone());
        }
        let Some(timeout) = verdict else {
            return true;
        };
        let unhealthy: Vec<&(&Member, usize, Health)> = watched
            .iter()
            .filter(|(_, _, health)| match timeout {
                None => matches!(health, Health::Failed(_)),
                Some(_) => !health.is_current(),
            })
            .collect();
        let step = unhealthy.first().map(|(m, _, _)| m.step.to_string());
        let step = step.unwrap_or_default();
        for (_, at, _) in &unhealthy {
            let line = &mut self.report.objects[*at];
            if line.message.is_none() {
                line.message = Some(format!("{step}: not healthy"));
            }
        }
        self.report.push_error(Error::Unhealthy(Box::new(Unhealthy {
            step: step.clone(),
            timeout,
            objects: unhealthy
                .iter()
                .map(|(m, _, health)| (m.key.clone(), health.clone()))
                .collect(),
        })));
        self.report.status = Status::Failed;
        self.stopped = Some(format!("not applied: {step} is not healthy"));
        false
    }
}
