//! Desired manifests as a plan holds them: compact JSON text with its hash,
//! parsed again only for the objects that are applied, compared or shown.
//!
//! A parsed `serde_json::Value` of a small Deployment costs about 8 KB (a
//! B-tree node per map); its text costs a twentieth of that. A reconcile of
//! 10,000 objects in which nothing changed reads only each manifest's hash.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::inventory::hash_text;
use crate::object::ObjectKey;

/// One desired manifest: its compact JSON text (object keys sorted) and
/// [`super::inventory::desired_hash`] of it. Clones share the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    text: Arc<str>,
    hash: String,
}

impl Manifest {
    /// The manifest of `object`.
    pub fn new(object: &Value) -> Self {
        let text = object.to_string();
        Manifest {
            hash: hash_text(&text),
            text: text.into(),
        }
    }

    /// The manifest whose compact JSON text (keys sorted) is `text`.
    pub fn from_text(text: &str) -> Self {
        Manifest {
            hash: hash_text(text),
            text: text.into(),
        }
    }

    /// The manifest as a `Value`, parsed from its text.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.text).expect("serde_json parses the JSON it wrote")
    }

    /// The compact JSON text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// [`super::inventory::desired_hash`] of the manifest.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

impl Serialize for Manifest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

/// A desired object, as the planner receives it.
#[derive(Debug, Clone)]
pub struct DesiredObject {
    /// Identity of the object.
    pub key: ObjectKey,
    /// `apiVersion` to apply it with.
    pub api_version: String,
    /// The manifest.
    pub manifest: Manifest,
}

impl DesiredObject {
    /// `object` as a desired object; `None` without an identity
    /// (`apiVersion`, `kind` and `metadata.name`).
    pub fn of(object: &Value) -> Option<Self> {
        Some(DesiredObject {
            key: ObjectKey::of(object)?,
            api_version: object["apiVersion"].as_str()?.to_owned(),
            manifest: Manifest::new(object),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::inventory::desired_hash;
    use serde_json::json;

    #[test]
    fn a_manifest_round_trips_and_hashes_like_its_value() {
        let object = json!({"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": "a", "namespace": "n"}, "data": {"z": "1", "a": "2"}});
        let manifest = Manifest::new(&object);
        assert_eq!(manifest.value(), object);
        assert_eq!(manifest.hash(), desired_hash(&object));
        assert!(manifest
            .text()
            .starts_with(r#"{"apiVersion":"v1","data":{"a":"2","z":"1"}"#));
    }

    #[test]
    fn objects_without_identity_are_not_desired_objects() {
        assert!(
            DesiredObject::of(&json!({"kind": "ConfigMap", "metadata": {"name": "a"}})).is_none()
        );
        let object = DesiredObject::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "namespace": "n"}}))
        .unwrap();
        assert_eq!(object.api_version, "apps/v1");
        assert_eq!(object.key.namespace.as_deref(), Some("n"));
    }
}
