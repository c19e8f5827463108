//! Validation a real server performs before storing: object names (DNS-1123 subdomain or
//! label), and per-kind required fields for the kinds Plumbline applies. Failures become 422
//! `Invalid` with one cause per field. Pure; no IO.

use serde_json::Value;

use crate::discovery::ResourceType;
use crate::status::{ApiError, Result};

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_dns_subdomain(s)
}

fn present(obj: &Value, pointer: &str) -> bool {
    match obj.pointer(pointer) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

fn containers(obj: &Value, spec_ptr: &str, prefix: &str, causes: &mut Vec<(String, String)>) {
    let list = obj
        .pointer(&format!("{spec_ptr}/containers"))
        .and_then(Value::as_array);
    match list {
        None => causes.push((format!("{prefix}.containers"), "Required value".into())),
        Some(cs) if cs.is_empty() => {
            causes.push((format!("{prefix}.containers"), "Required value".into()))
        }
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if !present(c, "/name") {
                    causes.push((
                        format!("{prefix}.containers[{i}].name"),
                        "Required value".into(),
                    ));
                }
                if !present(c, "/image") {
                    causes.push((
                        format!("{prefix}.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
    }
}

/// Validates `obj` (already defaulted) as an object of type `t`.
pub fn validate(t: &ResourceType, obj: &Value) -> Result<()> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut causes: Vec<(String, String)> = Vec::new();
    if name.is_empty() {
        causes.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else {
        let ok = if matches!(t.kind.as_str(), "Namespace" | "Service") {
            is_dns_label(name)
        } else {
            is_dns_subdomain(name)
        };
        if !ok {
            causes.push((
                "metadata.name".into(),
                format!("Invalid value: \"{name}\": a lowercase RFC 1123 {} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", if matches!(t.kind.as_str(), "Namespace" | "Service") { "label" } else { "subdomain" }),
            ));
        }
    }
    let required = |causes: &mut Vec<(String, String)>, ptr: &str| {
        if !present(obj, ptr) {
            causes.push((
                ptr.trim_start_matches('/').replace('/', "."),
                "Required value".into(),
            ));
        }
    };
    if !t.custom {
        match t.kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
                required(&mut causes, "/spec/selector");
                containers(
                    obj,
                    "/spec/template/spec",
                    "spec.template.spec",
                    &mut causes,
                );
                if let (Some(Value::Object(sel)), labels) = (
                    obj.pointer("/spec/selector/matchLabels"),
                    obj.pointer("/spec/template/metadata/labels"),
                ) {
                    let matches = sel
                        .iter()
                        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
                    if !matches {
                        causes.push((
                            "spec.template.metadata.labels".into(),
                            "Invalid value: `selector` does not match template `labels`".into(),
                        ));
                    }
                }
            }
            "Job" => containers(
                obj,
                "/spec/template/spec",
                "spec.template.spec",
                &mut causes,
            ),
            "CronJob" => {
                required(&mut causes, "/spec/schedule");
                containers(
                    obj,
                    "/spec/jobTemplate/spec/template/spec",
                    "spec.jobTemplate.spec.template.spec",
                    &mut causes,
                );
            }
            "Pod" => containers(obj, "/spec", "spec", &mut causes),
            "Service" => {
                let ty = obj
                    .pointer("/spec/type")
                    .and_then(Value::as_str)
                    .unwrap_or("ClusterIP");
                let headless =
                    obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
                if ty != "ExternalName" && !headless {
                    required(&mut causes, "/spec/ports");
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                required(&mut causes, "/roleRef/kind");
                required(&mut causes, "/roleRef/name");
            }
            "Ingress" => {
                if let Some(Value::Array(rules)) = obj.pointer("/spec/rules") {
                    for (i, r) in rules.iter().enumerate() {
                        for (j, p) in r
                            .pointer("/http/paths")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .enumerate()
                        {
                            if !present(p, "/pathType") {
                                causes.push((
                                    format!("spec.rules[{i}].http.paths[{j}].pathType"),
                                    "Required value: pathType must be specified".into(),
                                ));
                            }
                        }
                    }
                }
            }
            "CustomResourceDefinition" => {
                for ptr in [
                    "/spec/group",
                    "/spec/names/plural",
                    "/spec/names/kind",
                    "/spec/scope",
                    "/spec/versions",
                ] {
                    required(&mut causes, ptr);
                }
                let group = obj
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let plural = obj
                    .pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
                    causes.push((
                        "metadata.name".into(),
                        format!(
                            "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                        ),
                    ));
                }
                let storage = obj
                    .pointer("/spec/versions")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                            .count()
                    });
                if storage.is_some_and(|n| n != 1) {
                    causes.push((
                        "spec.versions".into(),
                        "Invalid value: must have exactly one version marked as storage version"
                            .into(),
                    ));
                }
            }
            _ => {}
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&t.kind, &t.group, name, causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Registry;
    use serde_json::json;

    #[test]
    fn deployment_needs_selector_and_containers() {
        let t = Registry::default()
            .get("apps", "v1", "deployments")
            .unwrap();
        let err = validate(&t, &json!({"metadata": {"name": "d"}, "spec": {}})).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.message, "Deployment.apps \"d\" is invalid: [spec.selector: Required value, spec.template.spec.containers: Required value]");
        let bad_name = validate(&t, &json!({"metadata": {"name": "Bad_Name"}})).unwrap_err();
        assert!(
            bad_name.message.contains("metadata.name: Invalid value"),
            "{}",
            bad_name.message
        );
    }
}
