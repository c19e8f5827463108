//! Which kinds are namespaced, before and without asking a cluster.
//!
//! Namespace defaulting and apply ordering need to know whether a kind lives
//! in namespaces. The answer comes from, in order: the cluster's discovery
//! (when there is a cluster), the CustomResourceDefinitions in the desired
//! set itself (their CRs may be applied before the API server knows them),
//! and a table of the built-in cluster-scoped kinds. Anything else is taken
//! to be namespaced, which is what most custom kinds are.

use std::collections::HashMap;

use serde_json::Value;

/// Built-in kinds that are cluster-scoped, by group.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("policy", "PodSecurityPolicy"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
];

/// Scopes known from CRDs in the desired set, plus the built-in table.
#[derive(Debug, Default)]
pub struct Scopes {
    from_crds: HashMap<(String, String), bool>,
}

impl Scopes {
    /// Learn the scope of every kind a CRD in `objects` defines.
    pub fn from_desired(objects: &[Value]) -> Self {
        let from_crds = objects
            .iter()
            .filter(|o| {
                o["kind"] == "CustomResourceDefinition"
                    && o["apiVersion"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
            })
            .filter_map(|crd| {
                let group = crd.pointer("/spec/group")?.as_str()?.to_owned();
                let kind = crd.pointer("/spec/names/kind")?.as_str()?.to_owned();
                let namespaced = crd.pointer("/spec/scope")?.as_str()? == "Namespaced";
                Some(((group, kind), namespaced))
            })
            .collect();
        Scopes { from_crds }
    }

    /// Whether `kind` of `group` is namespaced, as far as is known without a
    /// cluster.
    pub fn is_namespaced(&self, group: &str, kind: &str) -> bool {
        if let Some(namespaced) = self.from_crds.get(&(group.to_owned(), kind.to_owned())) {
            return *namespaced;
        }
        !CLUSTER_SCOPED.contains(&(group, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn built_in_cluster_kinds_crds_and_the_namespaced_default() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "clusterdummies.argoproj.io"},
            "spec": {"group": "argoproj.io", "scope": "Cluster",
                     "names": {"kind": "ClusterDummy", "plural": "clusterdummies"}}});
        let scopes = Scopes::from_desired(&[crd]);
        assert!(!scopes.is_namespaced("argoproj.io", "ClusterDummy"));
        assert!(!scopes.is_namespaced("rbac.authorization.k8s.io", "ClusterRole"));
        assert!(scopes.is_namespaced("apps", "Deployment"));
        assert!(scopes.is_namespaced("example.com", "Widget"));
    }
}
