//! Waves and phases: the order in which a sync applies its objects, read
//! from their annotations. Sans-IO.
//!
//! - `plumbline.dev/wave: "N"` (an integer, negative allowed, default 0):
//!   waves are applied in ascending order, each only once the waves before
//!   it are healthy.
//! - `plumbline.dev/phase: pre | post` (Argo CD's `PreSync` / `PostSync`
//!   hooks, Helm's `pre-*` / `post-*` hooks): `pre` objects are applied,
//!   and must become healthy (a Job complete), before any other object;
//!   `post` objects after every wave is healthy and the prune is done.
//!   Phase objects may carry a wave too, ordering them within their phase.
//! - `plumbline.dev/delete-policy` (phase objects only; a comma-separated
//!   list): `before-creation` deletes the live object before the phase
//!   applies it again, `on-success` deletes it once its phase succeeded,
//!   `on-failure` once its phase failed (Argo CD's `BeforeHookCreation`,
//!   `HookSucceeded`, `HookFailed`; Helm's `before-hook-creation`,
//!   `hook-succeeded`, `hook-failed`).
//!
//! - Helm hooks (`helm.sh/hook`, `helm.sh/hook-weight`,
//!   `helm.sh/hook-delete-policy`) and Argo CD's annotations
//!   (`argocd.argoproj.io/sync-wave`, `hook`, `hook-delete-policy`) are
//!   read as phases, waves and delete policies ([`super::hooks`]); each
//!   `plumbline.dev/` annotation wins over the one it corresponds to.
//!
//! [`schedule`] groups a [`Plan`]'s desired objects into [`Step`]s in the
//! order they are applied (Namespaces and CustomResourceDefinitions with no
//! placement of their own first, when anything has one), and refuses annotations it cannot read, naming
//! the object. Prunes belong to no step: they run after the last wave and
//! before the post phase.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::hooks::{argo_wave, Hook};
use super::{Action, Manifest, Plan, PlannedObject};

/// The annotation naming an object's wave.
pub const WAVE_ANNOTATION: &str = "plumbline.dev/wave";
/// The annotation naming an object's phase.
pub const PHASE_ANNOTATION: &str = "plumbline.dev/phase";
/// The annotation listing a phase object's delete policies.
pub const DELETE_POLICY_ANNOTATION: &str = "plumbline.dev/delete-policy";

/// A phase: objects applied before, or after, all the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// First of all, when the sync has waves or phases: the Namespaces and
    /// CustomResourceDefinitions that carry no placement of their own,
    /// which the objects of every later step may need (as Helm installs a
    /// chart's CRDs before its `pre-install` hooks). Assigned by
    /// [`schedule`], never by an annotation.
    Setup,
    /// Before every wave (a database migration Job).
    Pre,
    /// The sync's regular objects, in waves.
    Main,
    /// After every wave is healthy and the prune is done (a smoke test).
    Post,
}

impl Phase {
    /// Whether it is the `pre` or the `post` phase, whose objects run as
    /// hooks: only when the sync writes something, with delete policies,
    /// never drift-healed.
    pub fn is_hook(self) -> bool {
        matches!(self, Phase::Pre | Phase::Post)
    }
}

/// When a phase object is deleted (any combination).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletePolicy {
    /// Delete the live object before the phase applies it again, so it
    /// runs again (a Job's template cannot be changed in place).
    pub before_creation: bool,
    /// Delete it once its phase succeeded.
    pub on_success: bool,
    /// Delete it once its phase failed.
    pub on_failure: bool,
    /// `on-success` and `on-failure` wait until the sync ends: a Helm hook
    /// of both the `pre` and the `post` phase, applied in `pre` and needed
    /// in `post` too.
    pub after_post: bool,
}

impl DeletePolicy {
    /// Whether no policy is set: the object stays.
    pub fn is_empty(&self) -> bool {
        !(self.before_creation || self.on_success || self.on_failure)
    }
}

impl fmt::Display for DeletePolicy {
    /// `before-creation, on-success`, and when the deletion waits for the
    /// end of the sync, `(on-success once the sync ends)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = [
            (self.before_creation, "before-creation"),
            (self.on_success, "on-success"),
            (self.on_failure, "on-failure"),
        ];
        let names: Vec<&str> = named
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&names.join(", "))?;
        if self.after_post && (self.on_success || self.on_failure) {
            f.write_str(" (once the sync ends: the post phase needs it too)")?;
        }
        Ok(())
    }
}

/// Where an object goes in the order of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Its phase ([`Phase::Main`] for regular objects).
    pub phase: Phase,
    /// Its wave (default 0).
    pub wave: i64,
    /// When it is deleted (phase objects only).
    pub delete_policy: DeletePolicy,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            phase: Phase::Main,
            wave: 0,
            delete_policy: DeletePolicy::default(),
        }
    }
}

impl Placement {
    /// Whether the object belongs to the `pre` or `post` phase.
    pub fn is_phase(&self) -> bool {
        self.phase.is_hook()
    }

    /// Read an object's placement from its annotations.
    pub fn of(object: &Value) -> Result<Self, String> {
        let annotation = |name: &str| {
            object
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(name))
        };
        let text = |name: &str| -> Result<Option<&str>, String> {
            match annotation(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim())),
                Some(other) => Err(format!(
                    "annotation {name} must be a string (quote it: \"{other}\"), got {other}"
                )),
            }
        };
        let hook = match Hook::of(object) {
            // A phase of Plumbline's own replaces the hook's.
            Err(_) if annotation(PHASE_ANNOTATION).is_some() => None,
            hook => hook?,
        };
        let wave = match text(WAVE_ANNOTATION)? {
            None => match argo_wave(object)? {
                Some(wave) => wave,
                None => hook.map_or(0, |h| h.weight),
            },
            Some(value) => value.parse::<i64>().map_err(|_| {
                format!(
                    "annotation {WAVE_ANNOTATION} must be an integer like \"-1\" or \"2\", \
                     got {value:?}"
                )
            })?,
        };
        let phase = match text(PHASE_ANNOTATION)? {
            None => hook.map_or(Phase::Main, |h| h.phase),
            Some("pre") => Phase::Pre,
            Some("post") => Phase::Post,
            Some(value) => {
                return Err(format!(
                    "annotation {PHASE_ANNOTATION} must be \"pre\" or \"post\", got {value:?}"
                ))
            }
        };
        let mut delete_policy = match hook {
            Some(hook) if phase != Phase::Main => hook.delete_policy,
            _ => DeletePolicy::default(),
        };
        if let Some(list) = text(DELETE_POLICY_ANNOTATION)? {
            delete_policy = DeletePolicy::default();
            if phase == Phase::Main {
                return Err(format!(
                    "annotation {DELETE_POLICY_ANNOTATION} is for phase objects: \
                     add {PHASE_ANNOTATION}: pre or post, or remove it"
                ));
            }
            for policy in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match policy {
                    "before-creation" => delete_policy.before_creation = true,
                    "on-success" => delete_policy.on_success = true,
                    "on-failure" => delete_policy.on_failure = true,
                    other => {
                        return Err(format!(
                            "annotation {DELETE_POLICY_ANNOTATION}: unknown policy {other:?} \
                             (known: before-creation, on-success, on-failure)"
                        ))
                    }
                }
            }
        }
        delete_policy.after_post = phase == Phase::Pre && hook.is_some_and(|h| h.also_post);
        Ok(Placement {
            phase,
            wave,
            delete_policy,
        })
    }

    /// [`Placement::of`] a manifest, parsing it only when its text
    /// mentions one of the annotations (a sync without waves or hooks
    /// parses nothing).
    pub fn of_manifest(manifest: &Manifest) -> Result<Self, String> {
        let text = manifest.text();
        let mentions = text.match_indices("\"plumbline.dev/").any(|(at, prefix)| {
            let rest = &text[at + prefix.len()..];
            ["wave\"", "phase\"", "delete-policy\""]
                .iter()
                .any(|name| rest.starts_with(name))
        }) || text.contains("\"helm.sh/hook\"")
            || text.contains("\"argocd.argoproj.io/");
        if mentions {
            Self::of(&manifest.value())
        } else {
            Ok(Placement::default())
        }
    }
}

/// One step of a sync: the objects of one phase and wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepId {
    /// The phase.
    pub phase: Phase,
    /// The wave within it.
    pub wave: i64,
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.phase {
            Phase::Setup => f.write_str("namespaces and definitions"),
            Phase::Main => write!(f, "wave {}", self.wave),
            Phase::Pre | Phase::Post => {
                let name = if self.phase == Phase::Pre {
                    "pre"
                } else {
                    "post"
                };
                if self.wave == 0 {
                    write!(f, "{name} phase")
                } else {
                    write!(f, "{name} phase, wave {}", self.wave)
                }
            }
        }
    }
}

/// The objects of one step, as indexes into [`Plan::objects`], in apply
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Which step.
    pub id: StepId,
    /// Its objects.
    pub objects: Vec<usize>,
    /// Each object's delete policy, in the order of `objects`.
    pub delete_policies: Vec<DeletePolicy>,
}

/// The steps of a plan, in the order they run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Every step with at least one object.
    pub steps: Vec<Step>,
}

impl Schedule {
    /// Whether the sync has more than one step, or any phase: what `plan`
    /// shows waves for.
    pub fn is_ordered(&self) -> bool {
        self.steps.len() > 1 || self.has_phases()
    }

    /// Whether any object belongs to a phase.
    pub fn has_phases(&self) -> bool {
        self.steps.iter().any(|s| s.id.phase.is_hook())
    }

    /// The step each object is in, by index into [`Plan::objects`].
    pub fn step_of(&self) -> BTreeMap<usize, StepId> {
        self.steps
            .iter()
            .flat_map(|step| step.objects.iter().map(move |&i| (i, step.id)))
            .collect()
    }
}

/// Group the desired objects of `plan` into steps, in the order a sync
/// applies them; every annotation that cannot be read is an error naming
/// its object. When any object has a wave or phase, the Namespaces and
/// CustomResourceDefinitions without one come first ([`Phase::Setup`]).
pub fn schedule(plan: &Plan) -> Result<Schedule, Vec<String>> {
    let mut placed = Vec::new();
    let mut errors = Vec::new();
    for (index, object) in plan.objects.iter().enumerate() {
        let Some(manifest) = &object.desired else {
            continue;
        };
        match Placement::of_manifest(manifest) {
            Ok(placement) => placed.push((index, placement)),
            Err(message) => errors.push(format!("{}: {message}", object.key)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let ordered = placed.iter().any(|(_, p)| *p != Placement::default());
    let mut steps: BTreeMap<StepId, Step> = BTreeMap::new();
    for (index, placement) in placed {
        let kind = plan.objects[index].key.kind.as_str();
        let setup = ordered
            && placement == Placement::default()
            && matches!(kind, "Namespace" | "CustomResourceDefinition");
        let id = StepId {
            phase: if setup { Phase::Setup } else { placement.phase },
            wave: placement.wave,
        };
        let step = steps.entry(id).or_insert_with(|| Step {
            id,
            objects: Vec::new(),
            delete_policies: Vec::new(),
        });
        step.objects.push(index);
        step.delete_policies.push(placement.delete_policy);
    }
    Ok(Schedule {
        steps: steps.into_values().collect(),
    })
}

/// Phase objects are never drift-healed: whether one is there is its
/// phase's business (a delete policy may have removed it on purpose). A
/// drifted phase object is planned as unchanged, so no remediator sees
/// it; the phase applies it again when it runs.
pub fn settle_phases(plan: &mut Plan, schedule: &Schedule) {
    for step in schedule.steps.iter().filter(|s| s.id.phase.is_hook()) {
        for &index in &step.objects {
            let object: &mut PlannedObject = &mut plan.objects[index];
            if matches!(object.action, Action::Drifted(_)) {
                object.action = Action::Unchanged;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Inventory, Live, Options};
    use serde_json::json;

    fn object(name: &str, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "shop", "annotations": annotations}})
    }

    /// The plan of `desired` against an empty cluster.
    fn plan_of(desired: &[Value]) -> Plan {
        crate::plan::plan(
            desired,
            &Live::new(),
            &Inventory::default(),
            &Options::default(),
        )
    }

    /// Each step's name and the names of its objects.
    fn order<'p>(plan: &'p Plan, schedule: &Schedule) -> Vec<(String, Vec<&'p str>)> {
        let names = |step: &Step| {
            let names = step.objects.iter();
            names.map(|&i| plan.objects[i].key.name.as_str()).collect()
        };
        schedule
            .steps
            .iter()
            .map(|step| (step.id.to_string(), names(step)))
            .collect()
    }

    #[test]
    fn placements_read_waves_phases_and_delete_policies() {
        assert_eq!(
            Placement::of(&object("a", json!({}))).unwrap(),
            Placement::default()
        );
        let late = Placement::of(&object("a", json!({"plumbline.dev/wave": "-2"}))).unwrap();
        assert_eq!(late.wave, -2);
        let hook = Placement::of(&object(
            "a",
            json!({"plumbline.dev/phase": "pre",
                   "plumbline.dev/delete-policy": "before-creation, on-success"}),
        ))
        .unwrap();
        assert_eq!(hook.phase, Phase::Pre);
        assert!(hook.delete_policy.before_creation && hook.delete_policy.on_success);
        assert!(!hook.delete_policy.on_failure);
    }

    #[test]
    fn helm_hooks_are_placed_in_phases_and_plumbline_annotations_win() {
        let rbac = Placement::of(&object(
            "sa",
            json!({"helm.sh/hook": "pre-install,pre-upgrade,post-install,post-upgrade",
                   "helm.sh/hook-weight": "-5",
                   "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}),
        ))
        .unwrap();
        assert_eq!((rbac.phase, rbac.wave), (Phase::Pre, -5));
        let policy = rbac.delete_policy;
        assert!(policy.before_creation && policy.on_success && policy.after_post);
        assert!(!policy.on_failure);

        let moved = Placement::of(&object(
            "check",
            json!({"helm.sh/hook": "pre-install,post-install", "helm.sh/hook-weight": "3",
                   "plumbline.dev/phase": "post", "plumbline.dev/wave": "1",
                   "plumbline.dev/delete-policy": "on-failure"}),
        ))
        .unwrap();
        assert_eq!((moved.phase, moved.wave), (Phase::Post, 1));
        assert_eq!(
            moved.delete_policy,
            DeletePolicy {
                on_failure: true,
                ..DeletePolicy::default()
            }
        );

        // Argo CD's wave; Plumbline's wins over it, and a phase of
        // Plumbline's over a hook type it has no phase for.
        let argo = Placement::of(&object("a", json!({"argocd.argoproj.io/sync-wave": "2"})));
        assert_eq!(argo.unwrap().wave, 2);
        let ours = Placement::of(&object(
            "a",
            json!({"argocd.argoproj.io/sync-wave": "2", "plumbline.dev/wave": "-1"}),
        ));
        assert_eq!(ours.unwrap().wave, -1);
        let sync_hook = object(
            "a",
            json!({"argocd.argoproj.io/hook": "Sync", "plumbline.dev/phase": "post"}),
        );
        assert_eq!(Placement::of(&sync_hook).unwrap().phase, Phase::Post);
        let refused = object("a", json!({"argocd.argoproj.io/hook": "Sync"}));
        assert!(Placement::of(&refused)
            .unwrap_err()
            .contains("not \"Sync\""));

        // A delete hook in plain manifests is an ordinary object.
        let cleanup = object("cleanup", json!({"helm.sh/hook": "pre-delete"}));
        assert_eq!(Placement::of(&cleanup).unwrap(), Placement::default());
        let manifest = Manifest::new(&object("job", json!({"helm.sh/hook": "post-install"})));
        assert_eq!(
            Placement::of_manifest(&manifest).unwrap().phase,
            Phase::Post
        );
    }

    #[test]
    fn delete_policies_print_as_they_are_written() {
        let policy = |annotations| {
            Placement::of(&object("a", annotations))
                .unwrap()
                .delete_policy
        };
        let kept = policy(json!({"plumbline.dev/phase": "pre"}));
        assert!(kept.is_empty());
        let both = policy(json!({"helm.sh/hook": "pre-install,post-install",
                                 "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}));
        assert_eq!(
            both.to_string(),
            "before-creation, on-success (once the sync ends: the post phase needs it too)"
        );
        let failed = policy(json!({"plumbline.dev/phase": "post",
                                   "plumbline.dev/delete-policy": "on-failure"}));
        assert_eq!(failed.to_string(), "on-failure");
    }

    #[test]
    fn unreadable_annotations_are_refused_saying_what_is_wrong() {
        let error = |annotations| Placement::of(&object("a", annotations)).unwrap_err();
        assert!(error(json!({"plumbline.dev/wave": "first"})).contains("must be an integer"));
        assert!(error(json!({"plumbline.dev/phase": "PreSync"})).contains("\"pre\" or \"post\""));
        assert!(error(json!({"plumbline.dev/delete-policy": "on-success"}))
            .contains("for phase objects"));
        assert!(error(json!({"plumbline.dev/phase": "post",
                             "plumbline.dev/delete-policy": "hook-succeeded"}))
        .contains("unknown policy \"hook-succeeded\""));
    }

    #[test]
    fn a_schedule_runs_pre_then_waves_in_ascending_order_then_post() {
        let desired = [
            object("post", json!({"plumbline.dev/phase": "post"})),
            object("two", json!({"plumbline.dev/wave": "2"})),
            object("zero", json!({})),
            object("minus", json!({"plumbline.dev/wave": "-1"})),
            object("pre", json!({"plumbline.dev/phase": "pre"})),
        ];
        let plan = plan_of(&desired);
        let schedule = schedule(&plan).unwrap();
        let order = order(&plan, &schedule);
        assert_eq!(
            order,
            [
                ("pre phase".to_owned(), vec!["pre"]),
                ("wave -1".to_owned(), vec!["minus"]),
                ("wave 0".to_owned(), vec!["zero"]),
                ("wave 2".to_owned(), vec!["two"]),
                ("post phase".to_owned(), vec!["post"]),
            ]
        );
        assert!(schedule.is_ordered() && schedule.has_phases());
    }

    #[test]
    fn namespaces_and_definitions_come_first_when_anything_is_ordered() {
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "shop"}});
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1",
                         "kind": "CustomResourceDefinition",
                         "metadata": {"name": "widgets.shop.dev"}});
        let late = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "late", "annotations": {"plumbline.dev/wave": "1"}}});
        let desired = [
            object("pre", json!({"helm.sh/hook": "pre-install"})),
            object("zero", json!({})),
            namespace.clone(),
            crd,
            late,
        ];
        let plan = plan_of(&desired);
        let schedule = schedule(&plan).unwrap();
        let order = order(&plan, &schedule);
        assert_eq!(
            order,
            [
                (
                    "namespaces and definitions".to_owned(),
                    vec!["shop", "widgets.shop.dev"]
                ),
                ("pre phase".to_owned(), vec!["pre"]),
                ("wave 0".to_owned(), vec!["zero"]),
                ("wave 1".to_owned(), vec!["late"]),
            ]
        );

        // Without waves or phases, there is one step.
        let plain = [namespace, object("zero", json!({}))];
        let plan = plan_of(&plain);
        assert_eq!(super::schedule(&plan).unwrap().steps.len(), 1);
    }

    #[test]
    fn a_plan_without_annotations_is_one_wave_and_parses_no_manifest() {
        let desired = [object("a", json!({})), object("b", json!({}))];
        let plan = plan_of(&desired);
        let schedule = schedule(&plan).unwrap();
        assert_eq!(schedule.steps.len(), 1);
        assert!(!schedule.is_ordered());
        // A ConfigMap whose data mentions the annotation is still read
        // correctly.
        let mentions = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "doc", "namespace": "shop"},
            "data": {"\"plumbline.dev/wave\"": "5"}});
        let placement = Placement::of_manifest(&Manifest::new(&mentions)).unwrap();
        assert_eq!(placement, Placement::default());
    }
}
