//! Hooks from Helm charts and Argo CD applications, read as Plumbline's
//! phases, waves and delete policies. Sans-IO.
//!
//! A Helm chart marks the objects that run around an install or upgrade
//! with `helm.sh/hook`. Plumbline has no install or upgrade, only syncs, so
//! it maps them the way Argo CD does:
//!
//! | Helm | Plumbline |
//! |---|---|
//! | `pre-install`, `pre-upgrade` | phase `pre` |
//! | `post-install`, `post-upgrade` | phase `post` |
//! | `helm.sh/hook-weight: "N"` | wave `N` within the phase |
//! | `before-hook-creation` (Helm's default) | delete policy `before-creation` |
//! | `hook-succeeded` | delete policy `on-success` |
//! | `hook-failed` | delete policy `on-failure` |
//!
//! Argo CD's own annotations, which repositories synced by Argo CD carry,
//! read the same way, and win over Helm's:
//!
//! | Argo CD | Plumbline |
//! |---|---|
//! | `argocd.argoproj.io/sync-wave: "N"` (any object) | wave `N` |
//! | `argocd.argoproj.io/hook: PreSync` / `PostSync` | phase `pre` / `post` |
//! | `argocd.argoproj.io/hook-delete-policy` | `BeforeHookCreation` (the default), `HookSucceeded`, `HookFailed` as above |
//!
//! Argo CD's `Sync`, `SyncFail`, `Skip`, `PreDelete` and `PostDelete` hooks
//! have no Plumbline equivalent: an object with one is refused, naming it,
//! rather than applied as something it is not.
//!
//! A hook of both phases (the ServiceAccount and RBAC that both a chart's
//! `pre` and `post` Jobs run with) is applied once, in the `pre` phase, and
//! kept until the `post` phase is done: its `on-success`/`on-failure`
//! deletion waits for the end of the sync
//! ([`super::waves::DeletePolicy::after_post`], set by
//! [`super::waves::Placement::of`]).
//!
//! A Helm hook with none of the install or upgrade events (`test`,
//! `pre-delete`, `post-rollback`, …) is never run by a sync: Helm's render
//! drops it ([`crate::render::helm::output`]); outside a chart it is an
//! ordinary object. As in Helm, a Helm weight that is not an integer
//! counts as 0 and an unknown Helm delete policy is ignored.

use serde_json::Value;

use super::waves::{DeletePolicy, Phase};
use crate::render::helm::output::HookEvents;

/// The annotation ordering the hooks of one Helm event.
pub const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// The annotation saying when Helm deletes a hook.
pub const HOOK_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";
/// Argo CD's wave annotation.
pub const ARGO_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";
/// Argo CD's hook annotation.
pub const ARGO_HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// Argo CD's hook delete policy annotation.
pub const ARGO_DELETE_POLICY_ANNOTATION: &str = "argocd.argoproj.io/hook-delete-policy";

/// What an object's hook annotations (Argo CD's, else Helm's) say about
/// its place in a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hook {
    /// The phase it runs in: `pre` when it is a pre hook at all, else
    /// `post`.
    pub phase: Phase,
    /// Whether it is a `pre` hook that the `post` phase needs too.
    pub also_post: bool,
    /// Its `helm.sh/hook-weight` (0 without one).
    pub weight: i64,
    /// Its delete policy, `before-creation` by default.
    pub delete_policy: DeletePolicy,
}

impl Hook {
    /// Read the hook annotations of `object`: `Ok(None)` when it is no
    /// hook, or a Helm hook no sync runs; an error naming the annotation
    /// when it is an Argo CD hook Plumbline cannot run as such.
    pub fn of(object: &Value) -> Result<Option<Self>, String> {
        let (pre, post) = match annotation(object, ARGO_HOOK_ANNOTATION) {
            Some(types) => argo_phases(types)?,
            None => {
                let events = HookEvents::of(object);
                (events.pre, events.post)
            }
        };
        if !(pre || post) {
            return Ok(None);
        }
        let delete_policy = match annotation(object, ARGO_DELETE_POLICY_ANNOTATION) {
            Some(list) => delete_policy(list, ARGO_POLICIES, |other| {
                Err(format!(
                    "annotation {ARGO_DELETE_POLICY_ANNOTATION}: unknown policy {other:?} \
                     (known: BeforeHookCreation, HookSucceeded, HookFailed)"
                ))
            })?,
            // As Helm does, an unknown policy is ignored.
            None => {
                let list = annotation(object, HOOK_DELETE_POLICY_ANNOTATION).unwrap_or_default();
                delete_policy(list, HELM_POLICIES, |_| Ok(()))?
            }
        };
        let weight = annotation(object, HOOK_WEIGHT_ANNOTATION)
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        Ok(Some(Hook {
            phase: if pre { Phase::Pre } else { Phase::Post },
            also_post: pre && post,
            weight,
            delete_policy,
        }))
    }
}

/// An object's `argocd.argoproj.io/sync-wave`, if it has one.
pub fn argo_wave(object: &Value) -> Result<Option<i64>, String> {
    let Some(text) = annotation(object, ARGO_WAVE_ANNOTATION) else {
        return Ok(None);
    };
    text.trim().parse().map(Some).map_err(|_| {
        format!("annotation {ARGO_WAVE_ANNOTATION} must be an integer like \"-1\" or \"2\", got {text:?}")
    })
}

/// The string annotation `name` of `object`.
fn annotation<'o>(object: &'o Value, name: &str) -> Option<&'o str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
}

/// Whether Argo CD hook `types` (`PreSync,PostSync`) run before and after
/// the waves; the types Plumbline has no phase for are refused.
fn argo_phases(types: &str) -> Result<(bool, bool), String> {
    let (mut pre, mut post) = (false, false);
    for kind in types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match kind {
            "PreSync" => pre = true,
            "PostSync" => post = true,
            other => {
                return Err(format!(
                    "annotation {ARGO_HOOK_ANNOTATION}: Plumbline runs PreSync and PostSync \
                     hooks (its pre and post phases), not {other:?}: remove the annotation, \
                     or place the object with plumbline.dev/phase"
                ))
            }
        }
    }
    Ok((pre, post))
}

/// The names of `before-creation`, `on-success` and `on-failure` in Argo CD.
const ARGO_POLICIES: [&str; 3] = ["BeforeHookCreation", "HookSucceeded", "HookFailed"];
/// The names of `before-creation`, `on-success` and `on-failure` in Helm.
const HELM_POLICIES: [&str; 3] = ["before-hook-creation", "hook-succeeded", "hook-failed"];

/// The delete policies of a comma-separated `list`, by their `names` (see
/// [`ARGO_POLICIES`]); `unknown` says what a name not among them does.
/// None listed means the default of both Helm and Argo CD:
/// `before-creation`.
fn delete_policy(
    list: &str,
    names: [&str; 3],
    unknown: impl Fn(&str) -> Result<(), String>,
) -> Result<DeletePolicy, String> {
    let mut policy = DeletePolicy::default();
    let mut listed = false;
    for name in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        listed = true;
        match names.iter().position(|known| *known == name) {
            Some(0) => policy.before_creation = true,
            Some(1) => policy.on_success = true,
            Some(2) => policy.on_failure = true,
            _ => unknown(name)?,
        }
    }
    policy.before_creation |= !listed;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(annotations: Value) -> Option<Hook> {
        Hook::of(&json!({"metadata": {"name": "h", "annotations": annotations}})).unwrap()
    }

    #[test]
    fn install_and_upgrade_events_map_onto_phases() {
        let pre = hook(json!({"helm.sh/hook": "pre-install,pre-upgrade"})).unwrap();
        assert_eq!((pre.phase, pre.also_post), (Phase::Pre, false));
        let post = hook(json!({"helm.sh/hook": " Post-Upgrade "})).unwrap();
        assert_eq!((post.phase, post.also_post), (Phase::Post, false));
        let both =
            hook(json!({"helm.sh/hook": "pre-install,pre-upgrade,post-install,post-upgrade"}))
                .unwrap();
        assert_eq!((both.phase, both.also_post), (Phase::Pre, true));
    }

    #[test]
    fn hooks_no_sync_runs_are_not_phase_hooks() {
        for events in [
            "test",
            "test-success",
            "pre-delete",
            "post-delete,post-rollback",
        ] {
            assert_eq!(hook(json!({"helm.sh/hook": events})), None, "{events}");
        }
        assert_eq!(hook(json!({"other": "x"})), None);
    }

    #[test]
    fn weights_and_delete_policies_read_as_helm_reads_them() {
        let weighted = hook(
            json!({"helm.sh/hook": "post-install", "helm.sh/hook-weight": "-5",
                                   "helm.sh/hook-delete-policy": "hook-succeeded, hook-failed"}),
        )
        .unwrap();
        assert_eq!(weighted.weight, -5);
        let policy = weighted.delete_policy;
        assert!(policy.on_success && policy.on_failure && !policy.before_creation);

        // Helm's defaults: weight 0 when it is not an integer, and
        // before-hook-creation when no policy is named.
        let plain =
            hook(json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "high"})).unwrap();
        assert_eq!(plain.weight, 0);
        assert_eq!(
            plain.delete_policy,
            DeletePolicy {
                before_creation: true,
                ..DeletePolicy::default()
            }
        );
        let unknown = hook(json!({"helm.sh/hook": "pre-install",
                                  "helm.sh/hook-delete-policy": "hook-succeeded,never"}))
        .unwrap();
        assert!(unknown.delete_policy.on_success && !unknown.delete_policy.before_creation);
    }

    #[test]
    fn argo_cd_hooks_and_waves_read_as_argo_cd_reads_them_and_win_over_helms() {
        let pre = hook(json!({"argocd.argoproj.io/hook": "PreSync",
                              "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}))
        .unwrap();
        assert_eq!(pre.phase, Phase::Pre);
        assert!(pre.delete_policy.on_success && !pre.delete_policy.before_creation);
        let both = hook(json!({"argocd.argoproj.io/hook": "PreSync, PostSync"})).unwrap();
        assert_eq!((both.phase, both.also_post), (Phase::Pre, true));
        assert!(both.delete_policy.before_creation, "Argo CD's default");
        // Argo CD's hook wins over Helm's; its delete policy over Helm's.
        let moved = hook(json!({"argocd.argoproj.io/hook": "PostSync",
                                "helm.sh/hook": "pre-install",
                                "helm.sh/hook-delete-policy": "hook-failed"}))
        .unwrap();
        assert_eq!(moved.phase, Phase::Post);
        assert!(moved.delete_policy.on_failure);

        let wave = |value: &str| {
            argo_wave(&json!({"metadata": {"annotations": {ARGO_WAVE_ANNOTATION: value}}}))
        };
        assert_eq!(wave("-3"), Ok(Some(-3)));
        assert!(wave("early").unwrap_err().contains("must be an integer"));
        assert_eq!(argo_wave(&json!({"metadata": {}})), Ok(None));
    }

    #[test]
    fn argo_cd_hooks_plumbline_cannot_run_are_refused_naming_them() {
        for kind in [
            "Sync",
            "SyncFail",
            "Skip",
            "PostDelete",
            "PreSync,PreDelete",
        ] {
            let object = json!({"metadata": {"annotations": {ARGO_HOOK_ANNOTATION: kind}}});
            let error = Hook::of(&object).unwrap_err();
            assert!(
                error.contains("Plumbline runs PreSync and PostSync"),
                "{error}"
            );
        }
        let object = json!({"metadata": {"annotations": {
            ARGO_HOOK_ANNOTATION: "PreSync", ARGO_DELETE_POLICY_ANNOTATION: "Never"}}});
        assert!(Hook::of(&object)
            .unwrap_err()
            .contains("unknown policy \"Never\""));
    }
}
