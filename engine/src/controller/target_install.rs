//! The manifests a **target cluster** needs so that a controller in another
//! cluster can sync into it (`plumbline install --target`): an identity
//! for the controller and the least rights it needs there. No CRDs, no
//! Deployment: nothing of Plumbline runs in a target. No IO.
//!
//! | object | why |
//! |---|---|
//! | Namespace (`plumbline-system` by default) | the syncs' inventories and claims ([`super::claim`]) |
//! | ServiceAccount `plumbline-remote` | the identity the registration's token belongs to |
//! | Secret `plumbline-remote-token` (`kubernetes.io/service-account-token`) | a token for the registration, filled in by the target's token controller |
//! | Role + Binding `plumbline-remote` (that namespace) | ConfigMaps: the inventories and claims |
//! | ClusterRole + Binding `plumbline-remote-read` | get, list, watch every kind: plan reads live objects, drift watches stream them |
//! | ClusterRole + Binding `plumbline-remote-apply` | create, patch, update, delete every kind, for syncs that name no `serviceAccountName`; left out with `wildcard_apply: false` |
//! | ClusterRole + Binding `plumbline-remote-impersonate` | impersonate service accounts, for syncs that name a `serviceAccountName`; only with `wildcard_apply: false` |

use serde_json::{json, Value};

/// The target's ServiceAccount (and the prefix of its roles).
pub const NAME: &str = "plumbline-remote";

/// The target's long-lived token Secret.
pub const TOKEN_SECRET: &str = "plumbline-remote-token";

/// The objects to apply to a target cluster, in apply order. `namespace`
/// is the controller's (where inventories live, in the target too); without
/// `wildcard_apply`, syncs must impersonate service accounts of the target
/// whose rights cover their objects.
pub fn manifests(namespace: &str, wildcard_apply: bool) -> Vec<Value> {
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": namespace, "labels": labels()}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": NAME, "namespace": namespace, "labels": labels()}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
               "metadata": {"name": TOKEN_SECRET, "namespace": namespace, "labels": labels(),
                            "annotations": {"kubernetes.io/service-account.name": NAME}}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": NAME, "namespace": namespace, "labels": labels()},
               "rules": [rule("", &["configmaps"],
                              &["get", "list", "create", "update", "patch", "delete"])]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": NAME, "namespace": namespace, "labels": labels()},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
               "subjects": [subject(namespace)]}),
    ];
    let read = rule("*", &["*"], &["get", "list", "watch"]);
    let mut bound = vec![(format!("{NAME}-read"), read)];
    if wildcard_apply {
        let write = rule("*", &["*"], &["create", "patch", "update", "delete"]);
        bound.push((format!("{NAME}-apply"), write));
    } else {
        let impersonate = rule("", &["serviceaccounts"], &["impersonate"]);
        bound.push((format!("{NAME}-impersonate"), impersonate));
    }
    for (name, rule) in bound {
        objects.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                            "metadata": {"name": name, "labels": labels()}, "rules": [rule]}),
        );
        objects.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [subject(namespace)],
        }));
    }
    objects
}

fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "plumbline"})
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
}

fn subject(namespace: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": NAME, "namespace": namespace})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `(resources, verbs)` granted cluster-wide.
    fn cluster_wide(objects: &[Value]) -> Vec<(Value, Value)> {
        objects
            .iter()
            .filter(|o| o["kind"] == "ClusterRole")
            .flat_map(|o| o["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| (r["resources"].clone(), r["verbs"].clone()))
            .collect()
    }

    #[test]
    fn without_wildcard_apply_nothing_cluster_wide_writes() {
        let objects = manifests("plumbline-system", false);
        let writes = ["create", "patch", "update", "delete", "*"];
        for (resources, verbs) in cluster_wide(&objects) {
            let verbs: Vec<&str> = verbs
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                !verbs.iter().any(|v| writes.contains(v)),
                "{resources} {verbs:?}"
            );
        }
        // Nothing grants Secrets' or anything's `*` verb, and no role is
        // about Plumbline's own API: nothing of it runs in a target.
        let text = serde_json::to_string(&objects).unwrap();
        assert!(!text.contains("plumbline.dev\""));
        assert!(!text.contains("\"verbs\":[\"*\"]"));
    }

    #[test]
    fn with_wildcard_apply_the_writes_are_bound_apart_from_the_reads() {
        let objects = manifests("fleet", true);
        let names: Vec<&str> = objects
            .iter()
            .filter(|o| o["kind"] == "ClusterRoleBinding")
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["plumbline-remote-read", "plumbline-remote-apply"]);
        assert!(objects
            .iter()
            .all(|o| o["kind"] != "RoleBinding" || o["metadata"]["namespace"] == "fleet"));
    }
}
