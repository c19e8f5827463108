//! The `namespace` field: move a kustomization's objects into one
//! namespace, as kustomize's namespace transformer does. No IO.
//!
//! - `metadata.namespace` of every object that is not of a built-in
//!   cluster-scoped kind (custom resources count as namespaced);
//! - the name of `v1` Namespace objects;
//! - subjects named `default` of RoleBindings and ClusterRoleBindings;
//! - the namespace fields of kustomize's table: an APIService's
//!   `spec/service/namespace` (created) and a CustomResourceDefinition's
//!   conversion webhook `spec/conversion/webhook/clientConfig/service/namespace`
//!   (where set);
//! - the `namespace` field specs of `configurations` (such as a webhook
//!   configuration's `webhooks/clientConfig/service/namespace`), which must
//!   end at a string.

use serde_json::Value;

use super::config::{Config, FieldSpec};
use crate::object::scope::is_cluster_scoped_kind;
use crate::render::Manifest;

/// Namespace fields of kustomize's table (beyond `metadata`).
static NAMESPACE_FIELDS: [FieldSpec; 2] = [
    FieldSpec::builtin(
        Some("apiregistration.k8s.io"),
        Some("APIService"),
        "spec/service/namespace",
        true,
    ),
    FieldSpec::builtin(
        Some("apiextensions.k8s.io"),
        Some("CustomResourceDefinition"),
        "spec/conversion/webhook/clientConfig/service/namespace",
        false,
    ),
];

/// Set namespace `ns` on `objects`: their metadata and the namespace
/// fields of kustomize's table and of `config`. Returns the problems
/// (a field spec that ends at a map or list, not a namespace).
pub(super) fn apply(ns: &str, config: &Config, objects: &mut [Manifest]) -> Vec<String> {
    let mut problems = Vec::new();
    for m in objects.iter_mut() {
        let kind = kind(&m.object).to_owned();
        if kind == "Namespace" && m.object.get("apiVersion") == Some(&Value::from("v1")) {
            if let Some(name) = m.object.pointer_mut("/metadata/name") {
                *name = Value::String(ns.to_owned());
            }
        }
        if !is_cluster_scoped_kind(&kind) {
            if let Some(meta) = m.object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), Value::String(ns.to_owned()));
            }
        }
        if kind == "RoleBinding" || kind == "ClusterRoleBinding" {
            default_subjects(ns, &mut m.object);
        }
        // `metadata` is done above, as kustomize does it whatever the
        // configurations say.
        let specs = NAMESPACE_FIELDS.iter().chain(
            config
                .namespace
                .iter()
                .filter(|s| s.path != "metadata/namespace" && s.path != "metadata/name"),
        );
        for spec in specs {
            let mut found = None;
            spec.each(&mut m.object, true, &mut |v| match v {
                Value::Object(_) | Value::Array(_) => found = Some(shape(v)),
                _ => *v = Value::String(ns.to_owned()),
            });
            if let Some(found) = found {
                let name = m.object.pointer("/metadata/name").and_then(Value::as_str);
                problems.push(format!(
                    "namespace field spec {} of {kind} {}: found a {found}, not a namespace",
                    spec.path,
                    name.unwrap_or("")
                ));
            }
        }
    }
    problems
}

fn kind(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn shape(v: &Value) -> &'static str {
    if v.is_array() {
        "list"
    } else {
        "map"
    }
}

/// kustomize gives subjects named `default` the namespace.
fn default_subjects(ns: &str, binding: &mut Value) {
    let Some(subjects) = binding.get_mut("subjects").and_then(Value::as_array_mut) else {
        return;
    };
    for subject in subjects {
        if subject.get("name").and_then(Value::as_str) == Some("default") {
            if let Some(s) = subject.as_object_mut() {
                s.insert("namespace".into(), Value::String(ns.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Origin;
    use serde_json::json;

    fn manifests(objects: Vec<Value>) -> Vec<Manifest> {
        objects
            .into_iter()
            .map(|object| Manifest {
                object,
                origin: Origin {
                    file: "a.yaml".into(),
                    document: 1,
                    line: 1,
                },
            })
            .collect()
    }

    #[test]
    fn table_and_configured_fields_get_the_namespace() {
        let webhook = FieldSpec {
            group: Some("admissionregistration.k8s.io".into()),
            version: None,
            kind: Some("ValidatingWebhookConfiguration".into()),
            path: "webhooks/clientConfig/service/namespace".into(),
            create: true,
        };
        let config = Config {
            namespace: vec![webhook],
            ..Config::default()
        };
        let mut objects = manifests(vec![
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                   "metadata": {"name": "v"},
                   "webhooks": [{"clientConfig": {"service": {"name": "s", "namespace": "system"}}},
                                {"clientConfig": {"service": {"name": "s"}}}]}),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": "a.example.com"},
                   "spec": {"conversion": {"webhook": {"clientConfig": {"service": {"name": "s", "namespace": "system"}}}}}}),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": "b.example.com"}, "spec": {}}),
            json!({"apiVersion": "example.com/v1", "kind": "Namespace", "metadata": {"name": "not-core"}}),
        ]);
        assert!(apply("prod", &config, &mut objects).is_empty());
        assert_eq!(
            objects[0].object["webhooks"],
            json!([{"clientConfig": {"service": {"name": "s", "namespace": "prod"}}},
                   {"clientConfig": {"service": {"name": "s", "namespace": "prod"}}}])
        );
        assert!(objects[0].object["metadata"].get("namespace").is_none());
        assert_eq!(
            objects[1].object["spec"]["conversion"]["webhook"]["clientConfig"]["service"]
                ["namespace"],
            "prod"
        );
        assert_eq!(objects[2].object["spec"], json!({}));
        assert_eq!(objects[3].object["metadata"]["name"], "not-core");
    }

    #[test]
    fn a_field_spec_ending_at_a_map_is_a_problem() {
        let config = Config {
            namespace: vec![FieldSpec {
                group: None,
                version: None,
                kind: Some("Widget".into()),
                path: "spec/target".into(),
                create: false,
            }],
            ..Config::default()
        };
        let mut objects = manifests(vec![
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"target": {"namespace": "a"}}}),
        ]);
        assert_eq!(
            apply("prod", &config, &mut objects),
            ["namespace field spec spec/target of Widget w: found a map, not a namespace"]
        );
    }
}
