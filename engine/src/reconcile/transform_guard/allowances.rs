//! Whether one transformer's [`Step`] keeps to its policy's allowance
//! ([`TransformerAllowance`]): deny by default. Pure: no IO.
//!
//! - An added object, or one moved to another namespace, needs its kind in
//!   `allow.add` and, when namespaced, its namespace in `allow.namespaces`
//!   (a namespaced object added without one goes to the sync's target
//!   namespace, and is judged there).
//! - Every sensitive edit ([`super::rules`]) of an added, moved or changed
//!   object needs its class in `allow.sensitive`.
//!
//! Removing objects needs no allowance; every step is shown to people
//! ([`super::TransformerSummary`]).

use serde_json::Value;

use super::rules::sensitive_edits;
use super::summary::Step;
use crate::object::scope::is_cluster_scoped;
use crate::object::ObjectKey;
use crate::policy::printable;
use crate::spec::TransformerAllowance;

/// Every way `step` by `policy` breaks `allowance`, one message each
/// (naming the policy, the object and the rule, escaped for a terminal);
/// empty when it keeps to it.
pub fn refusals(
    policy: &str,
    allowance: &TransformerAllowance,
    target_namespace: &str,
    step: &Step,
) -> Vec<String> {
    let policy = printable(policy);
    let mut refused = Vec::new();
    let arrivals = step
        .added
        .iter()
        .map(|(key, after)| ("added", key, None, *after))
        .chain(
            step.moved
                .iter()
                .map(|(_, before, to, after)| ("moved", to, Some(*before), *after)),
        );
    for (how, key, before, after) in arrivals {
        let object = printable(&key.to_string()).into_owned();
        if !allowance.allows_kind(&key.group, &key.kind) {
            refused.push(format!(
                "transformer {policy} {how} {object}: kind {} is not in the policy's allow.add \
                 (add {})",
                kind_name(key),
                kind_entry(key)
            ));
        }
        if let Some(namespace) = landing_namespace(key, target_namespace) {
            if !allowance.allows_namespace(namespace) {
                refused.push(format!(
                    "transformer {policy} {how} {object}: namespace {} is not in the policy's \
                     allow.namespaces",
                    printable(namespace)
                ));
            }
        }
        refused.extend(sensitive(&policy, how, &object, allowance, before, after));
    }
    for (key, before, after) in &step.changed {
        let object = printable(&key.to_string()).into_owned();
        refused.extend(sensitive(
            &policy,
            "changed",
            &object,
            allowance,
            Some(*before),
            after,
        ));
    }
    refused
}

/// The refusals of the sensitive edits from `before` to `after` that
/// `allowance` does not allow.
fn sensitive(
    policy: &str,
    how: &str,
    object: &str,
    allowance: &TransformerAllowance,
    before: Option<&Value>,
    after: &Value,
) -> Vec<String> {
    sensitive_edits(before, after)
        .into_iter()
        .filter(|edit| !allowance.allows(edit.rule))
        .map(|edit| {
            format!(
                "transformer {policy} {how} {object}: {} is a {} edit, which is not in the \
                 policy's allow.sensitive",
                printable(&edit.what),
                edit.rule
            )
        })
        .collect()
}

/// The namespace an object lands in: its own, the target namespace for a
/// namespaced kind that names none, `None` for a cluster-scoped kind.
fn landing_namespace<'a>(key: &'a ObjectKey, target_namespace: &'a str) -> Option<&'a str> {
    match &key.namespace {
        Some(namespace) => Some(namespace),
        None if is_cluster_scoped(&key.group, &key.kind) => None,
        None => Some(target_namespace),
    }
}

/// `Kind` for the core group, `Kind.group` otherwise.
fn kind_name(key: &ObjectKey) -> String {
    if key.group.is_empty() {
        key.kind.clone()
    } else {
        format!("{}.{}", key.kind, key.group)
    }
}

/// The `allow.add` entry that would allow the kind of `key`.
fn kind_entry(key: &ObjectKey) -> String {
    let kind = printable(&key.kind);
    if key.group.is_empty() {
        format!("{{kind: {kind}}}")
    } else {
        format!("{{kind: {kind}, group: {}}}", printable(&key.group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::transform_guard::summary::step;
    use crate::spec::{KindRef, SensitiveEdit};
    use serde_json::json;

    fn allowance(kinds: &[(&str, &str)], namespaces: &[&str]) -> TransformerAllowance {
        TransformerAllowance {
            add: kinds
                .iter()
                .map(|(group, kind)| KindRef {
                    kind: (*kind).into(),
                    group: (*group).into(),
                })
                .collect(),
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
            sensitive: Vec::new(),
        }
    }

    fn config_map(namespace: Option<&str>, name: &str) -> Value {
        let mut object =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        if let Some(namespace) = namespace {
            object["metadata"]["namespace"] = json!(namespace);
        }
        object
    }

    #[test]
    fn by_default_nothing_may_be_added_or_moved() {
        let before = [config_map(Some("shop"), "a")];
        let after = [
            config_map(Some("kube-system"), "a"),
            config_map(Some("shop"), "b"),
        ];
        let refused = refusals(
            "hostile",
            &TransformerAllowance::default(),
            "shop",
            &step(&before, &after),
        );
        assert_eq!(
            refused,
            [
                "transformer hostile added ConfigMap shop/b: kind ConfigMap is not in the \
                 policy's allow.add (add {kind: ConfigMap})",
                "transformer hostile added ConfigMap shop/b: namespace shop is not in the \
                 policy's allow.namespaces",
                "transformer hostile moved ConfigMap kube-system/a: kind ConfigMap is not in the \
                 policy's allow.add (add {kind: ConfigMap})",
                "transformer hostile moved ConfigMap kube-system/a: namespace kube-system is not \
                 in the policy's allow.namespaces",
            ]
        );
    }

    #[test]
    fn allowed_kinds_and_namespaces_may_be_added_and_the_target_namespace_is_judged() {
        let allowed = allowance(&[("", "ConfigMap")], &["shop"]);
        let after = [config_map(Some("shop"), "a"), config_map(None, "b")];
        assert!(refusals("p", &allowed, "shop", &step(&[], &after)).is_empty());
        let refused = refusals("p", &allowed, "other", &step(&[], &after));
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("ConfigMap b: namespace other"),
            "{refused:?}"
        );
        // A kind is matched with its group: Deployment is apps'.
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "shop"}});
        let refused = refusals("p", &allowed, "shop", &step(&[], &[deployment]));
        assert!(
            refused[0].contains("(add {kind: Deployment, group: apps})"),
            "{refused:?}"
        );
    }

    #[test]
    fn a_sensitive_edit_needs_its_class_allowed() {
        let binding = |role: &str| {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "b", "namespace": "shop"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "User", "name": "dev"}]})
        };
        let (before, after) = ([binding("view")], [binding("cluster-admin")]);
        let mut allowed = TransformerAllowance::default();
        let refused = refusals("p", &allowed, "shop", &step(&before, &after));
        assert_eq!(
            refused,
            [
                "transformer p changed RoleBinding.rbac.authorization.k8s.io shop/b: roleRef is a \
              rbac edit, which is not in the policy's allow.sensitive"
            ]
        );
        allowed.sensitive.push(SensitiveEdit::Rbac);
        assert!(refusals("p", &allowed, "shop", &step(&before, &after)).is_empty());
        // An added binding needs its kind, its namespace and the rbac class.
        let refused = refusals("p", &allowed, "shop", &step(&[], &after));
        assert_eq!(refused.len(), 2, "{refused:?}");
        let kinds = allowance(&[("rbac.authorization.k8s.io", "RoleBinding")], &["shop"]);
        let refused = refusals("p", &kinds, "shop", &step(&[], &after));
        assert_eq!(refused.len(), 2, "roleRef and subjects: {refused:?}");
    }
}
