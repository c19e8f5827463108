//! Which kinds are namespaced, before and without asking a cluster.
//!
//! Namespace defaulting and apply ordering need to know whether a kind lives
//! in namespaces, before anything is applied. The answer comes from, in
//! order: the CustomResourceDefinitions in the desired set itself (their CRs
//! may be applied before the API server knows them), and the table of
//! built-in cluster-scoped kinds ([`crate::object::scope`]). Anything else
//! is taken to be namespaced, which is what most custom kinds are. The
//! cluster's discovery is not consulted here (apply resolves kinds through
//! it later, [`crate::apply::discovery`]).

use std::collections::HashMap;

use serde_json::Value;

use crate::object::scope::is_cluster_scoped;

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
        !is_cluster_scoped(group, kind)
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
