//! Helm hooks, read as Plumbline's phases. Sans-IO.
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
//! A hook that lists both a `pre-*` and a `post-*` event (the
//! ServiceAccount and RBAC that both a chart's `pre` and `post` Jobs run
//! with) is applied once, in the `pre` phase, and kept until the `post`
//! phase is done: its `on-success`/`on-failure` deletion waits for the end
//! of the sync ([`super::waves::DeletePolicy::after_post`], set by
//! [`super::waves::Placement::of`]).
//!
//! A hook with none of these events (`test`, `pre-delete`,
//! `post-rollback`, …) is never run by a sync: Helm's render drops it
//! ([`crate::render::helm::output`]); outside a chart it is an ordinary
//! object. As in Helm, a weight that is not an integer counts as 0 and an
//! unknown delete policy is ignored.

use serde_json::Value;

use super::waves::{DeletePolicy, Phase};
use crate::render::helm::output::HookEvents;

/// The annotation ordering the hooks of one event.
pub const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// The annotation saying when Helm deletes a hook.
pub const HOOK_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// What an object's Helm hook annotations say about its place in a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelmHook {
    /// The phase its events map to: `pre` when it lists any `pre-install`
    /// or `pre-upgrade` event, else `post` when it lists a `post-install`
    /// or `post-upgrade` one.
    pub phase: Phase,
    /// Whether it is a `pre` hook that the `post` phase needs too.
    pub also_post: bool,
    /// Its `helm.sh/hook-weight`.
    pub weight: i64,
    /// Its `helm.sh/hook-delete-policy`, `before-creation` by default.
    pub delete_policy: DeletePolicy,
}

impl HelmHook {
    /// Read the Helm hook annotations of `object`; `None` when it is no
    /// hook, or a hook no sync runs.
    pub fn of(object: &Value) -> Option<Self> {
        let HookEvents { pre, post, .. } = HookEvents::of(object);
        if !(pre || post) {
            return None;
        }
        let annotation = |name: &str| {
            object
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(name))
                .and_then(Value::as_str)
        };
        let weight = annotation(HOOK_WEIGHT_ANNOTATION)
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        Some(HelmHook {
            phase: if pre { Phase::Pre } else { Phase::Post },
            also_post: pre && post,
            weight,
            delete_policy: delete_policy(annotation(HOOK_DELETE_POLICY_ANNOTATION)),
        })
    }
}

/// Helm's delete policies as Plumbline's; none listed means Helm's default,
/// `before-hook-creation`.
fn delete_policy(list: Option<&str>) -> DeletePolicy {
    let mut policy = DeletePolicy::default();
    let listed: Vec<&str> = list
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if listed.is_empty() {
        policy.before_creation = true;
    }
    for name in listed {
        match name {
            "before-hook-creation" => policy.before_creation = true,
            "hook-succeeded" => policy.on_success = true,
            "hook-failed" => policy.on_failure = true,
            _ => {}
        }
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(annotations: Value) -> Option<HelmHook> {
        HelmHook::of(&json!({"metadata": {"name": "h", "annotations": annotations}}))
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
}
