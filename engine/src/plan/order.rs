//! The order in which objects are applied.
//!
//! Definitions first (CustomResourceDefinitions and Namespaces, which the
//! rest may need and which must be established before use), then the other
//! cluster-scoped objects, then namespaced ones. Inside a stage, kinds follow
//! the install order Helm and Argo CD users know (ServiceAccounts and
//! ConfigMaps before the Deployments that mount them, webhooks last).
//! Prune runs in the reverse order.

use serde::Serialize;

use crate::object::ObjectKey;

/// The stage an object is applied in. Each stage completes (and, for
/// definitions, becomes established) before the next starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Stage {
    /// CustomResourceDefinitions and Namespaces.
    Definitions,
    /// Other cluster-scoped objects (ClusterRoles, StorageClasses, ...).
    ClusterScoped,
    /// Namespaced objects.
    Namespaced,
}

/// Kinds in install order; kinds not listed come after all of these, in
/// name order, and before the kinds in [`LAST`].
const INSTALL_ORDER: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Kinds applied after everything else: webhooks would otherwise intercept
/// the objects of their own sync before their backends exist.
const LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The stage of an object, given whether its kind is namespaced.
pub fn stage(key: &ObjectKey, namespaced: bool) -> Stage {
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            Stage::Definitions
        }
        _ if namespaced => Stage::Namespaced,
        _ => Stage::ClusterScoped,
    }
}

/// The position of a kind within its stage (lower goes first).
pub fn kind_rank(kind: &str) -> usize {
    if let Some(i) = INSTALL_ORDER.iter().position(|k| *k == kind) {
        i
    } else if let Some(i) = LAST.iter().position(|k| *k == kind) {
        INSTALL_ORDER.len() + 1 + i
    } else {
        INSTALL_ORDER.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(group: &str, kind: &str) -> ObjectKey {
        ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: None,
            name: "x".into(),
        }
    }

    #[test]
    fn definitions_come_first_then_cluster_then_namespaced() {
        assert_eq!(stage(&key("", "Namespace"), false), Stage::Definitions);
        assert_eq!(
            stage(
                &key("apiextensions.k8s.io", "CustomResourceDefinition"),
                false
            ),
            Stage::Definitions
        );
        assert_eq!(
            stage(&key("rbac.authorization.k8s.io", "ClusterRole"), false),
            Stage::ClusterScoped
        );
        assert_eq!(stage(&key("apps", "Deployment"), true), Stage::Namespaced);
        assert!(
            Stage::Definitions < Stage::ClusterScoped && Stage::ClusterScoped < Stage::Namespaced
        );
    }

    #[test]
    fn config_before_workloads_unknown_kinds_before_webhooks() {
        assert!(kind_rank("ConfigMap") < kind_rank("Deployment"));
        assert!(kind_rank("ServiceAccount") < kind_rank("Deployment"));
        assert!(kind_rank("Deployment") < kind_rank("Widget"));
        assert!(kind_rank("Widget") < kind_rank("ValidatingWebhookConfiguration"));
    }
}
