//! IO-free types for Kubernetes-style objects, shared by every stage.
//!
//! Objects are kept as [`serde_json::Value`]: Plumbline handles any kind,
//! including custom resources it has no Rust type for. [`ObjectKey`] is the
//! identity of an object (two objects with the same key are the same object),
//! and [`ObjectRef`] is how an object is named to policies and people;
//! [`scope`] knows which built-in kinds are cluster-scoped.

use std::fmt;

pub mod scope;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Identity of an object: API group, kind, namespace and name.
///
/// The version is deliberately not part of the key: `apps/v1` and
/// `apps/v1beta2` Deployments with the same name are the same object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    /// API group, empty for the core group (`v1`).
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects or objects that name none.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectKey {
    /// The key of a JSON object, or `None` if it lacks `apiVersion`, `kind`
    /// or `metadata.name`.
    pub fn of(object: &Value) -> Option<Self> {
        let r = ObjectRef::of(object)?;
        Some(r.key())
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)?;
        } else {
            write!(f, "{}.{}", self.kind, self.group)?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " {ns}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// How an object is named to policies and people: `apiVersion`, kind,
/// namespace and name (the WIT `object-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// `metadata.namespace`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// The reference of a JSON object, or `None` if it lacks `apiVersion`,
    /// `kind` or `metadata.name`.
    pub fn of(object: &Value) -> Option<Self> {
        let api_version = object.get("apiVersion")?.as_str()?.to_owned();
        let kind = object.get("kind")?.as_str()?.to_owned();
        let metadata = object.get("metadata")?;
        let name = metadata.get("name")?.as_str()?.to_owned();
        let namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned);
        Some(Self {
            api_version,
            kind,
            namespace,
            name,
        })
    }

    /// The API group: the part of `apiVersion` before the `/`, empty for `v1`.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The identity of the referenced object.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group().to_owned(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.api_version, self.kind)?;
        match &self.namespace {
            Some(ns) => write!(f, " {ns}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// `metadata.uid` of an object, if the API server gave it one.
pub fn uid(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

/// `metadata.resourceVersion` of an object, if the API server gave it one.
pub fn resource_version(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// The value of label `name` on an object, if set.
pub fn label<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(name))
        .and_then(Value::as_str)
}

/// The map `metadata.<field>` of an object (`labels`, `annotations`),
/// made empty if it is missing; `None` if the object has no `metadata` or
/// the field is not a map.
pub fn metadata_map_mut<'a>(
    object: &'a mut Value,
    field: &str,
) -> Option<&'a mut Map<String, Value>> {
    object
        .get_mut("metadata")?
        .as_object_mut()?
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// Whether an object is being deleted (`metadata.deletionTimestamp` set,
/// finalizers still running).
pub fn is_terminating(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reference_and_key_of_a_namespaced_object() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"}
        });
        let r = ObjectRef::of(&deployment).unwrap();
        assert_eq!(r.group(), "apps");
        assert_eq!(r.to_string(), "apps/v1 Deployment shop/web");
        assert_eq!(r.key().to_string(), "Deployment.apps shop/web");
    }

    #[test]
    fn core_group_is_empty_and_empty_namespace_is_none() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ""}});
        let key = ObjectKey::of(&cm).unwrap();
        assert_eq!(key.group, "");
        assert_eq!(key.namespace, None);
        assert_eq!(key.to_string(), "ConfigMap c");
    }

    #[test]
    fn objects_without_identity_have_no_key() {
        assert!(ObjectKey::of(&json!({"kind": "ConfigMap", "metadata": {"name": "c"}})).is_none());
        assert!(ObjectKey::of(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).is_none());
        assert!(ObjectKey::of(&json!("text")).is_none());
    }
}
