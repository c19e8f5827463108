//! Which kinds are cluster-scoped: the built-in Kubernetes kinds, the kinds
//! of `CustomResourceDefinition`s with `spec.scope: Cluster` found in the
//! desired set, and kinds an operator names in settings. Kinds are matched
//! by name only (`ClusterRole`, not `rbac.authorization.k8s.io/ClusterRole`).
//! No IO.

use std::collections::BTreeSet;

use plumbline_sdk::serde_json::Value;
use plumbline_sdk::Object;

/// The cluster-scoped kinds of Kubernetes itself (core and the built-in API
/// groups, current and recently removed versions). The engine's table
/// (`engine/src/object/scope.rs`, with groups) must name the same kinds: a
/// test there reads this list and fails when they differ.
pub const BUILT_IN_CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterTrustBundle",
    "ComponentStatus",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "DeviceClass",
    "FlowSchema",
    "IngressClass",
    "IPAddress",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "ResourceSlice",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectReview",
    "SelfSubjectRulesReview",
    "ServiceCIDR",
    "StorageClass",
    "StorageVersion",
    "StorageVersionMigration",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
    "VolumeAttributesClass",
];

/// Decides whether a kind is cluster-scoped.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    extra: BTreeSet<String>,
}

impl Scopes {
    /// The built-in kinds, plus `extra` kinds (from settings), plus the
    /// kinds defined as cluster-scoped by CustomResourceDefinitions in
    /// `objects`.
    pub fn new<'a>(extra: impl IntoIterator<Item = &'a str>, objects: &[Object]) -> Self {
        let mut kinds: BTreeSet<String> = extra.into_iter().map(str::to_owned).collect();
        for object in objects {
            if object.kind() != "CustomResourceDefinition" {
                continue;
            }
            if object.get("spec.scope").and_then(Value::as_str) == Some("Cluster") {
                if let Some(kind) = object.get("spec.names.kind").and_then(Value::as_str) {
                    kinds.insert(kind.to_owned());
                }
            }
        }
        Self { extra: kinds }
    }

    /// Whether objects of `kind` are cluster-scoped (have no namespace).
    pub fn is_cluster_scoped(&self, kind: &str) -> bool {
        BUILT_IN_CLUSTER_SCOPED.contains(&kind) || self.extra.contains(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_built_in_extra_and_crd_defined_kinds() {
        let crd = Object::parse(
            r#"{"kind":"CustomResourceDefinition","spec":{"scope":"Cluster","names":{"kind":"ClusterIssuer"}}}"#,
        )
        .expect("valid object");
        let namespaced_crd = Object::parse(
            r#"{"kind":"CustomResourceDefinition","spec":{"scope":"Namespaced","names":{"kind":"Issuer"}}}"#,
        )
        .expect("valid object");
        let scopes = Scopes::new(["Tenant"], &[crd, namespaced_crd]);
        assert!(scopes.is_cluster_scoped("ClusterRole"));
        assert!(scopes.is_cluster_scoped("Tenant"));
        assert!(scopes.is_cluster_scoped("ClusterIssuer"));
        assert!(!scopes.is_cluster_scoped("Issuer"));
        assert!(!scopes.is_cluster_scoped("Deployment"));
    }
}
