//! Health: is a live object ready? (kstatus rules)
//!
//! Pure: a live object (as JSON, as the API server returned it) goes in, a
//! [`Health`] comes out. No IO. The rules follow the Kubernetes `kstatus`
//! library that Flux and kpt use, so a status a platform team already knows
//! means the same thing here:
//!
//! - a status whose `observedGeneration` is behind `metadata.generation` is
//!   still [`Health::InProgress`]: the controller has not seen the change yet;
//! - an object with `metadata.deletionTimestamp` is [`Health::Terminating`];
//! - built-in kinds with well-known status fields get a rule each
//!   ([`workloads`]: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod;
//!   [`cluster`]: Namespace, CustomResourceDefinition, PersistentVolumeClaim,
//!   Service);
//! - anything else is judged by its conditions ([`conditions`]): `Stalled` or
//!   a false `Ready` mean what they say, no status at all means
//!   [`Health::Current`] (a ConfigMap is ready as soon as it exists).
//!
//! [`Assessor`] puts health policies (the `health` role of the policy
//! contract) in front of these rules: a policy judges the kinds it
//! declares, the rules above every other kind (`docs/health.md`).

use std::fmt;

use serde::Serialize;
use serde_json::Value;

mod assessor;
pub mod cluster;
pub mod conditions;
pub mod workloads;

pub use assessor::Assessor;

/// The readiness of one live object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "message")]
pub enum Health {
    /// The object is fully reconciled and ready.
    Current,
    /// The object is still being reconciled; the message says what is pending.
    InProgress(String),
    /// Reconciliation failed and will not recover on its own.
    Failed(String),
    /// The object is being deleted.
    Terminating,
    /// A health policy could not tell; the message says why.
    Unknown(String),
}

impl Health {
    /// Whether the object is ready.
    pub fn is_current(&self) -> bool {
        matches!(self, Health::Current)
    }

    pub(crate) fn in_progress(message: impl Into<String>) -> Self {
        Health::InProgress(message.into())
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Health::Failed(message.into())
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Current => f.write_str("Current"),
            Health::InProgress(m) => write!(f, "InProgress: {m}"),
            Health::Failed(m) => write!(f, "Failed: {m}"),
            Health::Terminating => f.write_str("Terminating"),
            Health::Unknown(m) => write!(f, "Unknown: {m}"),
        }
    }
}

/// Assess the readiness of one live object.
pub fn assess(object: &Value) -> Health {
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::Terminating;
    }
    if let Some(stale) = conditions::stale_generation(object) {
        return stale;
    }
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(group, _)| group);
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let specific = match (group, kind) {
        ("apps", "Deployment") => Some(workloads::deployment(object)),
        ("apps", "StatefulSet") => Some(workloads::stateful_set(object)),
        ("apps", "DaemonSet") => Some(workloads::daemon_set(object)),
        ("apps", "ReplicaSet") => Some(workloads::replica_set(object)),
        ("batch", "Job") => Some(workloads::job(object)),
        ("", "Pod") => Some(workloads::pod(object)),
        ("", "Namespace") => Some(cluster::namespace(object)),
        ("", "PersistentVolumeClaim") => Some(cluster::persistent_volume_claim(object)),
        ("", "Service") => Some(cluster::service(object)),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            Some(cluster::custom_resource_definition(object))
        }
        _ => None,
    };
    specific.unwrap_or_else(|| conditions::generic(object))
}

/// Read an integer field at a JSON pointer, treating a missing field as `0`
/// (the API server omits zero counts from status).
pub(crate) fn int_at(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_without_status_are_current() {
        let cm =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
        assert_eq!(assess(&cm), Health::Current);
    }

    #[test]
    fn deletion_timestamp_means_terminating() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(assess(&cm), Health::Terminating);
    }

    #[test]
    fn observed_generation_behind_is_in_progress_for_any_kind() {
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "generation": 3},
            "status": {"observedGeneration": 2,
                       "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(matches!(assess(&widget), Health::InProgress(m) if m.contains("generation 3")));
    }
}
