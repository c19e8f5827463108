//! Health rules for cluster plumbing: namespaces, CRDs, volumes, services.

use serde_json::Value;

use super::{conditions, Health};

/// Namespace: current once `Active`.
pub fn namespace(object: &Value) -> Health {
    match object.pointer("/status/phase").and_then(Value::as_str) {
        Some("Active") | None => Health::Current,
        Some("Terminating") => Health::Terminating,
        Some(phase) => Health::in_progress(format!("namespace is {phase}")),
    }
}

/// CustomResourceDefinition: current once `Established`; failed when the API
/// server did not accept its names.
pub fn custom_resource_definition(object: &Value) -> Health {
    if conditions::has_status(object, "NamesAccepted", "False") {
        let names = conditions::find(object, "NamesAccepted").map(conditions::describe);
        return Health::failed(names.unwrap_or_default());
    }
    if conditions::has_status(object, "Established", "True") {
        Health::Current
    } else {
        Health::in_progress("CRD is not established yet")
    }
}

/// PersistentVolumeClaim: current once `Bound`.
pub fn persistent_volume_claim(object: &Value) -> Health {
    match object.pointer("/status/phase").and_then(Value::as_str) {
        Some("Bound") => Health::Current,
        Some("Lost") => Health::failed("claim lost its volume"),
        Some(phase) => Health::in_progress(format!("claim is {phase}")),
        None => Health::in_progress("claim is not bound yet"),
    }
}

/// Service: current at once, except a `LoadBalancer` that has no ingress
/// address yet.
pub fn service(object: &Value) -> Health {
    let is_load_balancer =
        object.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
    let has_ingress = object
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|ingress| !ingress.is_empty());
    if is_load_balancer && !has_ingress {
        Health::in_progress("load balancer has no address yet")
    } else {
        Health::Current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn namespace_phases() {
        let ns = |phase: &str| {
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop"}, "status": {"phase": phase}})
        };
        assert_eq!(namespace(&ns("Active")), Health::Current);
        assert_eq!(namespace(&ns("Terminating")), Health::Terminating);
    }

    #[test]
    fn crd_waits_for_established_and_fails_on_rejected_names() {
        let crd = |conditions: Value| {
            json!({"apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
            "status": {"conditions": conditions}})
        };
        assert!(matches!(
            custom_resource_definition(&crd(json!([]))),
            Health::InProgress(_)
        ));
        assert_eq!(
            custom_resource_definition(&crd(json!([{"type": "Established", "status": "True"}]))),
            Health::Current
        );
        assert!(
            matches!(custom_resource_definition(&crd(json!([{"type": "NamesAccepted",
            "status": "False", "reason": "ListKindConflict"}]))), Health::Failed(m) if m == "ListKindConflict")
        );
    }

    #[test]
    fn pvc_must_be_bound() {
        let pvc = |phase: &str| {
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"}, "status": {"phase": phase}})
        };
        assert_eq!(persistent_volume_claim(&pvc("Bound")), Health::Current);
        assert_eq!(
            persistent_volume_claim(&pvc("Pending")),
            Health::in_progress("claim is Pending")
        );
    }

    #[test]
    fn load_balancer_needs_an_address() {
        let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        assert!(matches!(service(&svc), Health::InProgress(_)));
        svc["status"]["loadBalancer"]["ingress"] = json!([{"ip": "203.0.113.7"}]);
        assert_eq!(service(&svc), Health::Current);
        let cluster_ip = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
            "spec": {"type": "ClusterIP"}});
        assert_eq!(service(&cluster_ip), Health::Current);
    }
}
