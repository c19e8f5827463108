//! The contract's data types (generated from `wit/policy.wit`) and
//! convenience constructors for them. No IO.

use crate::bindings::base::plumbline::policy::types;
use crate::object::{Object, ParseError};

pub use types::{
    Context, Drift, FieldChange, ObjectRef, PolicyInfo, Remediation, Severity, SourceInfo,
    Violation,
};

impl PolicyInfo {
    /// A policy without settings.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            settings_schema: None,
        }
    }

    /// Declares the JSON Schema of the policy's settings.
    pub fn with_settings_schema(mut self, schema: serde_json::Value) -> Self {
        self.settings_schema = Some(schema.to_string());
        self
    }
}

impl Context {
    /// A context with these settings and nothing else (no source, no
    /// target): what a policy's unit tests need to call it directly.
    pub fn with_settings(settings: &serde_json::Value) -> Self {
        Self {
            source: SourceInfo {
                url: String::new(),
                revision: String::new(),
                path: String::new(),
            },
            target: String::new(),
            settings_json: settings.to_string(),
        }
    }

    /// The operator's settings, parsed. They were accepted by
    /// [`Metadata::check_settings`](crate::Metadata::check_settings) when the
    /// policy was loaded; text that is not JSON (which the host never sends)
    /// reads as `null`.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::from_str(&self.settings_json).unwrap_or(serde_json::Value::Null)
    }
}

impl Violation {
    /// A violation of a rule about the desired set as a whole, not about one
    /// object.
    pub fn about_set(message: impl Into<String>, severity: Severity) -> Self {
        Self {
            target: None,
            path: String::new(),
            message: message.into(),
            severity,
        }
    }
}

impl Drift {
    /// The object as Plumbline wants it.
    pub fn desired_object(&self) -> Result<Object, ParseError> {
        Object::parse(&self.desired)
    }

    /// The object as it is in the cluster (an empty object if it was
    /// deleted; see [`Drift::is_deleted`]).
    pub fn live_object(&self) -> Result<Object, ParseError> {
        Object::parse(&self.live)
    }

    /// Whether the object is gone from the cluster.
    pub fn is_deleted(&self) -> bool {
        matches!(
            serde_json::from_str::<serde_json::Value>(&self.live),
            Ok(serde_json::Value::Object(map)) if map.is_empty()
        )
    }
}

impl std::fmt::Display for ObjectRef {
    /// `apiVersion/kind namespace/name`, e.g. `apps/v1/Deployment web/api`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} ", self.api_version, self.kind)?;
        match &self.namespace {
            Some(namespace) => write!(f, "{namespace}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(live: &str) -> Drift {
        Drift {
            target: ObjectRef {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                namespace: None,
                name: "shop".into(),
            },
            desired: r#"{"kind":"Namespace","metadata":{"name":"shop"}}"#.into(),
            live: live.into(),
            changes: Vec::new(),
        }
    }

    #[test]
    fn a_drift_with_an_empty_live_object_is_a_deletion() {
        assert!(drift("{}").is_deleted());
        assert!(!drift(r#"{"kind":"Namespace"}"#).is_deleted());
        let desired = drift("{}").desired_object().expect("desired parses");
        assert_eq!(desired.name(), "shop");
    }

    #[test]
    fn object_refs_display_with_and_without_namespace() {
        let mut target = drift("{}").target;
        assert_eq!(target.to_string(), "v1/Namespace shop");
        target.namespace = Some("ns".into());
        assert_eq!(target.to_string(), "v1/Namespace ns/shop");
    }

    #[test]
    fn settings_read_as_json_and_schemas_are_serialised() {
        let ctx = Context::with_settings(&serde_json::json!({"labels": ["team"]}));
        assert_eq!(ctx.settings()["labels"][0], "team");
        let info = PolicyInfo::new("p", "1.0.0", "d")
            .with_settings_schema(serde_json::json!({"type": "object"}));
        assert_eq!(
            info.settings_schema.as_deref(),
            Some(r#"{"type":"object"}"#)
        );
    }
}
