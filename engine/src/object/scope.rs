//! The built-in Kubernetes kinds that are cluster-scoped: the one table the
//! engine uses (kustomize's namespace transformer, namespace defaulting and
//! apply ordering), with their API groups. Any other kind is namespaced
//! unless a CustomResourceDefinition says otherwise
//! ([`crate::reconcile::scope`]).
//!
//! The standard policies carry the same list by kind name
//! (`policies/common/src/scope.rs`, a guest crate built for wasm); a test
//! here checks that the two agree, and `engine/tests/apply.rs` checks the
//! table against the real API server's discovery.

/// Cluster-scoped built-in kinds, as `(group, kind)` (core and the built-in
/// API groups, current and recently removed versions).
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
];

/// Whether `kind` of `group` is a built-in cluster-scoped kind.
pub fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&(group, kind))
}

/// Whether a built-in kind of this name, in any group, is cluster-scoped
/// (kustomize matches by kind name alone).
pub fn is_cluster_scoped_kind(kind: &str) -> bool {
    CLUSTER_SCOPED.iter().any(|(_, k)| *k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The string literals of the guest list `BUILT_IN_CLUSTER_SCOPED`.
    fn guest_list() -> BTreeSet<&'static str> {
        let source = include_str!("../../../policies/common/src/scope.rs");
        let start = source
            .find("BUILT_IN_CLUSTER_SCOPED")
            .expect("the guest list");
        let list = &source[start..];
        let list = &list[..list.find("];").expect("the end of the guest list")];
        list.split('"').skip(1).step_by(2).collect()
    }

    #[test]
    fn the_policies_guest_list_names_the_same_kinds() {
        let engine: BTreeSet<&str> = CLUSTER_SCOPED.iter().map(|(_, kind)| *kind).collect();
        assert_eq!(guest_list(), engine);
        assert_eq!(engine.len(), CLUSTER_SCOPED.len(), "a kind listed twice");
    }

    #[test]
    fn kinds_match_with_their_group_or_by_name() {
        assert!(is_cluster_scoped(
            "rbac.authorization.k8s.io",
            "ClusterRole"
        ));
        assert!(!is_cluster_scoped("example.com", "ClusterRole"));
        assert!(is_cluster_scoped_kind("ClusterRole"));
        assert!(!is_cluster_scoped_kind("Deployment"));
    }
}
