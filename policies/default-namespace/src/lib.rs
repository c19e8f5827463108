//! `default-namespace`: a transformer. Sets `metadata.namespace` to the
//! `namespace` setting on every namespaced object that has none (or an
//! empty one). Objects that name a namespace keep it. Cluster-scoped kinds
//! are left alone: the built-in ones, those named in `clusterScopedKinds`,
//! and those defined with `scope: Cluster` by a CustomResourceDefinition in
//! the set.

use plumbline_policies_common::names::check_namespace;
use plumbline_policies_common::scope::Scopes;
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Map, Value};
use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Transformer};

/// The policy.
struct DefaultNamespace;

/// The settings, checked.
struct Config {
    /// The namespace to set.
    namespace: String,
    /// Kinds to treat as cluster-scoped besides the built-in ones.
    cluster_scoped_kinds: Vec<String>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["namespace", "clusterScopedKinds"])?;
        let namespace = s
            .string("namespace")?
            .ok_or_else(|| settings::Error::Missing {
                at: s.name("namespace"),
            })?;
        check_namespace(namespace).map_err(|reason| s.invalid("namespace", reason))?;
        Ok(Self {
            namespace: namespace.to_owned(),
            cluster_scoped_kinds: s
                .string_list("clusterScopedKinds")?
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }
}

impl Metadata for DefaultNamespace {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "default-namespace",
            env!("CARGO_PKG_VERSION"),
            "Puts every namespaced object that names no namespace into the configured one.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["namespace"],
            "properties": {
                "namespace": {"type": "string", "description": "The namespace to set."},
                "clusterScopedKinds": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Further kinds to treat as cluster-scoped (custom resources)."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Transformer for DefaultNamespace {
    fn transform(mut objects: Vec<Object>, ctx: &Context) -> Result<Vec<Object>, String> {
        let config = Config::parse(&ctx.settings()).map_err(String::from)?;
        let scopes = Scopes::new(
            config.cluster_scoped_kinds.iter().map(String::as_str),
            &objects,
        );
        for object in &mut objects {
            if scopes.is_cluster_scoped(object.kind())
                || object.namespace().is_some_and(|ns| !ns.is_empty())
            {
                continue;
            }
            let metadata = object
                .fields_mut()
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if !metadata.is_object() {
                *metadata = Value::Object(Map::new());
            }
            if let Value::Object(metadata) = metadata {
                metadata.insert("namespace".into(), Value::String(config.namespace.clone()));
            }
        }
        Ok(objects)
    }
}

plumbline_sdk::export_policy!(DefaultNamespace, transformer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_without_metadata_get_it_without_trapping() {
        let objects = vec![
            Object::parse(r#"{"kind":"ConfigMap"}"#).expect("object"),
            Object::parse(r#"{"kind":"Secret","metadata":[]}"#).expect("object"),
            Object::parse(r#"{"kind":"Namespace"}"#).expect("object"),
            Object::parse(r#"{}"#).expect("object"),
        ];
        let out = DefaultNamespace::transform(
            objects,
            &Context::with_settings(&json!({"namespace": "shop"})),
        )
        .expect("transformed");
        let values: Vec<Value> = out.into_iter().map(Object::into_value).collect();
        assert_eq!(
            values,
            vec![
                json!({"kind": "ConfigMap", "metadata": {"namespace": "shop"}}),
                json!({"kind": "Secret", "metadata": {"namespace": "shop"}}),
                json!({"kind": "Namespace"}),
                json!({"metadata": {"namespace": "shop"}}),
            ]
        );
    }
}
