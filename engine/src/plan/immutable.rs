//! Changes the API server accepts and then does not make.
//!
//! Most changes to an immutable field are refused with a 422 that names the
//! field, and the apply fails by name. A few are accepted and ignored: the
//! API server keeps the old value and answers with success, so a sync would
//! say "updated" while nothing changed. Those are known here, so the plan
//! shows them as [`super::Action::Immutable`] and the sync fails them by
//! name without applying. Pure; no IO.

use serde_json::Value;

use super::fields::{FieldPath, Segment};
use super::{FieldChange, Manifest};

/// The changes from `live` to the `desired` manifest that the API server
/// would silently not make; empty when there are none. The manifest is
/// parsed only when `live` is such a case.
///
/// The one known case: a headless Service (`clusterIP: None`) whose
/// manifest no longer sets `clusterIP`. An apply without the field is
/// accepted, and the API server keeps the allocated value, `None`, since a
/// Service's cluster IP is immutable; only deleting the Service and creating
/// it again gives it a cluster IP.
pub fn kept_by_server(desired: &Manifest, live: &Value) -> Vec<FieldChange> {
    let is_service = live.get("kind").and_then(Value::as_str) == Some("Service")
        && live.get("apiVersion").and_then(Value::as_str) == Some("v1");
    let live_ip = live.pointer("/spec/clusterIP").and_then(Value::as_str);
    if !(is_service && live_ip == Some("None")) {
        return Vec::new();
    }
    let desired = desired.value();
    let desired_ip = desired.pointer("/spec/clusterIP");
    if desired_ip.is_some_and(|ip| ip.as_str() != Some("")) {
        return Vec::new();
    }
    vec![FieldChange {
        path: FieldPath(vec![
            Segment::Field("spec".to_owned()),
            Segment::Field("clusterIP".to_owned()),
        ]),
        desired: desired_ip.cloned(),
        live: Some(Value::String("None".to_owned())),
        taken_over_by: Vec::new(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec})
    }

    fn manifest(object: &Value) -> Manifest {
        Manifest::new(object)
    }

    #[test]
    fn a_headless_service_cannot_lose_its_none() {
        let live = service(json!({"clusterIP": "None", "ports": [{"port": 80}]}));
        let changes = kept_by_server(&manifest(&service(json!({"ports": [{"port": 80}]}))), &live);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.to_string(), "spec.clusterIP");
        assert_eq!(changes[0].live, Some(json!("None")));
        let empty = service(json!({"clusterIP": ""}));
        assert_eq!(kept_by_server(&manifest(&empty), &live).len(), 1);
    }

    #[test]
    fn other_services_and_kinds_change_as_usual() {
        let headless = service(json!({"clusterIP": "None"}));
        assert!(kept_by_server(&manifest(&headless), &headless).is_empty());
        let allocated = service(json!({"clusterIP": "10.0.0.12"}));
        assert!(kept_by_server(&manifest(&service(json!({}))), &allocated).is_empty());
        let other = json!({"apiVersion": "example.com/v1", "kind": "Service",
            "spec": {"clusterIP": "None"}});
        assert!(kept_by_server(&manifest(&json!({})), &other).is_empty());
    }
}
