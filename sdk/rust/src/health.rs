//! The health role's data types (generated from `wit/policy.wit`) and
//! constructors for them, plus [`Object::condition`] for the status
//! conditions most health rules read. No IO.

use crate::bindings::health::exports::plumbline::policy::health;
use crate::object::Object;

pub use health::{Assessment, GroupKind, Status as HealthStatus};

impl GroupKind {
    /// The kind `kind` of API group `group` (empty for the core group;
    /// `*.` and a domain, e.g. `*.upbound.io`, for every group under it;
    /// `kind` `*` for every kind of the group).
    pub fn new(group: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
        }
    }
}

impl Assessment {
    /// Fully reconciled and ready.
    pub fn current(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Current, message)
    }

    /// Still being reconciled; may become ready on its own.
    pub fn in_progress(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::InProgress, message)
    }

    /// Failed, and will not recover on its own.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Failed, message)
    }

    /// The policy cannot tell.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Unknown, message)
    }

    fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// One entry of an object's `status.conditions`.
#[derive(Debug, Clone, Copy)]
pub struct Condition<'a> {
    value: &'a serde_json::Value,
}

impl<'a> Condition<'a> {
    fn field(&self, name: &str) -> &'a str {
        self.value
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    }

    /// `status`: `"True"`, `"False"` or `"Unknown"` (empty if missing).
    pub fn status(&self) -> &'a str {
        self.field("status")
    }

    /// Whether `status` is `"True"`.
    pub fn is_true(&self) -> bool {
        self.status() == "True"
    }

    /// `reason` (empty if missing).
    pub fn reason(&self) -> &'a str {
        self.field("reason")
    }

    /// `message` (empty if missing).
    pub fn message(&self) -> &'a str {
        self.field("message")
    }

    /// `observedGeneration`, if the condition records it.
    pub fn observed_generation(&self) -> Option<i64> {
        self.value
            .get("observedGeneration")
            .and_then(serde_json::Value::as_i64)
    }

    /// `reason: message`, or whichever of them is set, or
    /// `<type> is <status>` when neither is.
    pub fn describe(&self) -> String {
        match (self.reason(), self.message()) {
            ("", "") => format!("{} is {}", self.field("type"), self.status()),
            (reason, "") => reason.to_owned(),
            ("", message) => message.to_owned(),
            (reason, message) => format!("{reason}: {message}"),
        }
    }
}

impl Object {
    /// The condition of type `condition_type` in `status.conditions`.
    pub fn condition(&self, condition_type: &str) -> Option<Condition<'_>> {
        self.get("status.conditions")?
            .as_array()?
            .iter()
            .find(|c| c.get("type").and_then(serde_json::Value::as_str) == Some(condition_type))
            .map(|value| Condition { value })
    }

    /// `metadata.generation`, if set.
    pub fn generation(&self) -> Option<i64> {
        self.get("metadata.generation")
            .and_then(serde_json::Value::as_i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_found_by_type_and_described() {
        let object = Object::parse(
            r#"{"kind":"Certificate","metadata":{"name":"c","generation":2},
                "status":{"conditions":[
                  {"type":"Issuing","status":"False"},
                  {"type":"Ready","status":"False","reason":"Failed","message":"no issuer",
                   "observedGeneration":2}]}}"#,
        )
        .expect("object");
        let ready = object.condition("Ready").expect("Ready");
        assert!(!ready.is_true());
        assert_eq!(ready.describe(), "Failed: no issuer");
        assert_eq!(ready.observed_generation(), object.generation());
        assert_eq!(
            object.condition("Issuing").expect("Issuing").describe(),
            "Issuing is False"
        );
        assert!(object.condition("Stalled").is_none());
    }
}
