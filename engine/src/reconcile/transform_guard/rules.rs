//! Which edits of one object are security-sensitive, by class
//! ([`SensitiveEdit`]): what a transformer may only do with its policy's
//! `allow.sensitive`. Pure: no IO.
//!
//! An edit is compared with the object the transformer was given (`None`
//! when it added the object):
//!
//! - `rbac`: `rules` or `aggregationRule` of a Role or ClusterRole,
//!   `subjects` or `roleRef` of a RoleBinding or ClusterRoleBinding (any
//!   change; an added one is a change), and a Secret that holds a service
//!   account's token.
//! - `admission`: any change (labels aside) of an object of
//!   `admissionregistration.k8s.io`: webhook configurations, admission
//!   policies and their bindings.
//! - `api-extensions`: any change (labels aside) of a CustomResourceDefinition
//!   or an APIService.
//! - `namespace-security`: a `pod-security.kubernetes.io/*` label of a
//!   Namespace set, changed or removed.
//! - `host-volumes`: a PersistentVolume's `hostPath` or `local` set or
//!   changed.
//! - `privileged-pods`: in any pod spec of the object (a map with a
//!   `containers` list: Pods, workload templates, custom resources alike), a
//!   privilege granted that was not ([`pod_grants`]) or a protection taken
//!   away ([`pod_protections`]).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::spec::SensitiveEdit;

/// One sensitive edit: its class and what it touched, for people.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sensitive {
    /// The class of edit.
    pub rule: SensitiveEdit,
    /// What changed, e.g. `roleRef` or `container app: privileged`.
    pub what: String,
}

/// The sensitive edits that turn `before` (`None`: the object was added)
/// into `after`.
pub fn sensitive_edits(before: Option<&Value>, after: &Value) -> Vec<Sensitive> {
    let group = group_of(after);
    let kind = after["kind"].as_str().unwrap_or_default();
    let mut found = Vec::new();
    let mut push = |rule, what: String| found.push(Sensitive { rule, what });
    match (group, kind) {
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            for field in changed_fields(before, after, &["rules", "aggregationRule"]) {
                push(SensitiveEdit::Rbac, field);
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            for field in changed_fields(before, after, &["subjects", "roleRef"]) {
                push(SensitiveEdit::Rbac, field);
            }
        }
        ("", "Secret") => {
            if let Some(account) = token_of(after).filter(|a| Some(*a) != before.and_then(token_of))
            {
                push(
                    SensitiveEdit::Rbac,
                    format!("a token of service account {account}"),
                );
            }
        }
        ("admissionregistration.k8s.io", _) if differs_beyond_labels(before, after) => {
            push(SensitiveEdit::Admission, format!("the {kind}"));
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("apiregistration.k8s.io", "APIService")
            if differs_beyond_labels(before, after) =>
        {
            push(SensitiveEdit::ApiExtensions, format!("the {kind}"));
        }
        ("", "Namespace") => {
            let old = before.map(pod_security_labels).unwrap_or_default();
            let new = pod_security_labels(after);
            for label in old.symmetric_difference(&new) {
                let name = label.split('=').next().unwrap_or_default();
                push(SensitiveEdit::NamespaceSecurity, format!("label {name}"));
            }
        }
        ("", "PersistentVolume") => {
            for field in changed_fields(
                before.map(|b| &b["spec"]),
                &after["spec"],
                &["hostPath", "local"],
            ) {
                if after["spec"].get(&field).is_some() {
                    push(SensitiveEdit::HostVolumes, format!("spec.{field}"));
                }
            }
        }
        _ => {}
    }
    let old_grants = before.map(pod_grants).unwrap_or_default();
    for grant in pod_grants(after).difference(&old_grants) {
        push(SensitiveEdit::PrivilegedPods, grant.clone());
    }
    if let Some(before) = before {
        let kept = pod_protections(after);
        for protection in pod_protections(before).difference(&kept) {
            push(
                SensitiveEdit::PrivilegedPods,
                format!("{protection} taken away"),
            );
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The API group of an object's `apiVersion`, empty for the core group.
fn group_of(object: &Value) -> &str {
    object["apiVersion"]
        .as_str()
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(group, _)| group)
}

/// Those of `fields` whose value differs between `before` and `after`
/// (every one `after` has, when there is no `before`).
fn changed_fields(before: Option<&Value>, after: &Value, fields: &[&str]) -> Vec<String> {
    fields
        .iter()
        .filter(|field| after.get(**field) != before.and_then(|b| b.get(**field)))
        .map(|field| (*field).to_owned())
        .collect()
}

/// Whether the objects differ anywhere but in `metadata.labels` (always,
/// when there is no `before`).
fn differs_beyond_labels(before: Option<&Value>, after: &Value) -> bool {
    let Some(before) = before else {
        return true;
    };
    let without_labels = |object: &Value| {
        let mut object = object.clone();
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("labels");
        }
        object
    };
    without_labels(before) != without_labels(after)
}

/// The service account a Secret holds a token of, if it is one.
fn token_of(secret: &Value) -> Option<&str> {
    if secret["type"] != "kubernetes.io/service-account-token" {
        return None;
    }
    Some(
        secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
            .as_str()
            .unwrap_or_default(),
    )
}

/// A Namespace's `pod-security.kubernetes.io/*` labels, as `name=value`.
fn pod_security_labels(namespace: &Value) -> BTreeSet<String> {
    namespace["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.starts_with("pod-security.kubernetes.io/"))
        .map(|(name, value)| format!("{name}={value}"))
        .collect()
}

/// Every pod spec in `object`: each map with a `containers` list, and the
/// path to it.
fn pod_specs(object: &Value) -> Vec<(String, &Map<String, Value>)> {
    fn walk<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a Map<String, Value>)>) {
        match value {
            Value::Object(map) => {
                if map.get("containers").is_some_and(Value::is_array) {
                    out.push((path.clone(), map));
                }
                for (key, child) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, path, out);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(object, String::new(), &mut found);
    found
}

/// The containers of a pod spec (init and ephemeral ones too), by name.
fn containers(pod: &Map<String, Value>) -> impl Iterator<Item = (&str, &Value)> {
    ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|list| pod.get(list)?.as_array())
        .flatten()
        .map(|c| (c["name"].as_str().unwrap_or_default(), c))
}

/// The privileges the pod specs of `object` grant, one line each:
/// privileged or host-process containers, host namespaces, host paths and
/// ports, added capabilities, user or group 0, privilege escalation
/// explicitly allowed, unconfined seccomp or AppArmor, unmasked `/proc`,
/// and a service account other than `default`.
pub fn pod_grants(object: &Value) -> BTreeSet<String> {
    let mut grants = BTreeSet::new();
    for (path, pod) in pod_specs(object) {
        let mut grant = |what: String| grants.insert(format!("{path}: {what}"));
        for field in ["hostNetwork", "hostPID", "hostIPC"] {
            if pod.get(field) == Some(&Value::Bool(true)) {
                grant(field.to_owned());
            }
        }
        for volume in pod
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(host) = volume.get("hostPath") {
                let at = host["path"].as_str().unwrap_or_default();
                grant(format!("hostPath volume {at}"));
            }
        }
        for field in ["serviceAccountName", "serviceAccount"] {
            if let Some(account) = pod.get(field).and_then(Value::as_str) {
                if account != "default" {
                    grant(format!("service account {account}"));
                }
            }
        }
        if let Some(context) = pod.get("securityContext") {
            for what in context_grants(context) {
                grant(format!("pod {what}"));
            }
        }
        for (name, container) in containers(pod) {
            for what in context_grants(&container["securityContext"]) {
                grant(format!("container {name}: {what}"));
            }
            for port in container["ports"].as_array().into_iter().flatten() {
                if let Some(host_port) = port.get("hostPort") {
                    grant(format!("container {name}: hostPort {host_port}"));
                }
            }
        }
    }
    grants
}

/// What a pod's or a container's `securityContext` grants.
fn context_grants(context: &Value) -> Vec<String> {
    let mut grants = Vec::new();
    for field in ["privileged", "allowPrivilegeEscalation"] {
        if context[field] == true {
            grants.push(field.to_owned());
        }
    }
    if context["windowsOptions"]["hostProcess"] == true {
        grants.push("windowsOptions.hostProcess".to_owned());
    }
    for field in ["runAsUser", "runAsGroup"] {
        if context[field] == 0 {
            grants.push(format!("{field} 0"));
        }
    }
    for capability in context["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
    {
        grants.push(format!(
            "capability {}",
            capability.as_str().unwrap_or_default()
        ));
    }
    for profile in ["seccompProfile", "appArmorProfile"] {
        if context[profile]["type"] == "Unconfined" {
            grants.push(format!("{profile} Unconfined"));
        }
    }
    if context["procMount"] == "Unmasked" {
        grants.push("procMount Unmasked".to_owned());
    }
    grants
}

/// The protections the pod specs of `object` set, one line each: run as
/// non-root, no privilege escalation, read-only root file system, dropped
/// capabilities, a seccomp or AppArmor profile, a non-zero user, no service
/// account token.
pub fn pod_protections(object: &Value) -> BTreeSet<String> {
    let mut protections = BTreeSet::new();
    for (path, pod) in pod_specs(object) {
        let mut protect = |what: String| protections.insert(format!("{path}: {what}"));
        if pod.get("automountServiceAccountToken") == Some(&Value::Bool(false)) {
            protect("automountServiceAccountToken false".to_owned());
        }
        if let Some(context) = pod.get("securityContext") {
            for what in context_protections(context) {
                protect(format!("pod {what}"));
            }
        }
        for (name, container) in containers(pod) {
            for what in context_protections(&container["securityContext"]) {
                protect(format!("container {name}: {what}"));
            }
        }
    }
    protections
}

/// What a pod's or a container's `securityContext` protects.
fn context_protections(context: &Value) -> Vec<String> {
    let mut protections = Vec::new();
    for (field, value) in [
        ("runAsNonRoot", true),
        ("allowPrivilegeEscalation", false),
        ("readOnlyRootFilesystem", true),
        ("privileged", false),
    ] {
        if context[field] == value {
            protections.push(format!("{field} {value}"));
        }
    }
    for field in ["runAsUser", "runAsGroup"] {
        if let Some(id) = context[field].as_u64().filter(|id| *id != 0) {
            protections.push(format!("{field} {id}"));
        }
    }
    for capability in context["capabilities"]["drop"]
        .as_array()
        .into_iter()
        .flatten()
    {
        protections.push(format!(
            "dropped capability {}",
            capability.as_str().unwrap_or_default()
        ));
    }
    for profile in ["seccompProfile", "appArmorProfile"] {
        if let Some(kind) = context[profile]["type"].as_str() {
            if kind != "Unconfined" {
                protections.push(format!("{profile} {kind}"));
            }
        }
    }
    protections
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(edits: &[Sensitive]) -> Vec<(SensitiveEdit, &str)> {
        edits.iter().map(|e| (e.rule, e.what.as_str())).collect()
    }

    fn binding(role: &str) -> Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "b", "namespace": "shop"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "name": "dev"}]})
    }

    fn deployment(pod: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": pod}}})
    }

    #[test]
    fn a_binding_whose_role_changes_or_that_is_added_is_an_rbac_edit() {
        let before = binding("view");
        let after = binding("cluster-admin");
        assert_eq!(
            rules(&sensitive_edits(Some(&before), &after)),
            [(SensitiveEdit::Rbac, "roleRef")]
        );
        assert_eq!(
            rules(&sensitive_edits(None, &after)),
            [
                (SensitiveEdit::Rbac, "roleRef"),
                (SensitiveEdit::Rbac, "subjects")
            ]
        );
        let mut labelled = before.clone();
        labelled["metadata"]["labels"] = json!({"team": "a"});
        assert!(sensitive_edits(Some(&before), &labelled).is_empty());
    }

    #[test]
    fn role_rules_webhooks_crds_and_tokens_are_sensitive() {
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        let mut escalating = role.clone();
        escalating["rules"][0]["verbs"] = json!(["escalate", "bind", "impersonate"]);
        assert_eq!(
            rules(&sensitive_edits(Some(&role), &escalating)),
            [(SensitiveEdit::Rbac, "rules")]
        );
        let webhook = json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration", "metadata": {"name": "w"}, "webhooks": []});
        assert_eq!(
            rules(&sensitive_edits(None, &webhook)),
            [(SensitiveEdit::Admission, "the MutatingWebhookConfiguration")]
        );
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition", "metadata": {"name": "a.b"}, "spec": {}});
        let mut relabelled = crd.clone();
        relabelled["metadata"]["labels"] = json!({"x": "y"});
        assert!(sensitive_edits(Some(&crd), &relabelled).is_empty());
        assert_eq!(
            rules(&sensitive_edits(None, &crd)),
            [(SensitiveEdit::ApiExtensions, "the CustomResourceDefinition")]
        );
        let token = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "t", "annotations": {"kubernetes.io/service-account.name": "admin"}}});
        assert_eq!(
            rules(&sensitive_edits(None, &token)),
            [(SensitiveEdit::Rbac, "a token of service account admin")]
        );
    }

    #[test]
    fn pod_security_labels_and_host_volumes_are_sensitive() {
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "kube-system", "labels": {"pod-security.kubernetes.io/enforce": "restricted", "team": "a"}}});
        let mut relaxed = namespace.clone();
        relaxed["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = json!("privileged");
        assert_eq!(
            rules(&sensitive_edits(Some(&namespace), &relaxed)),
            [(
                SensitiveEdit::NamespaceSecurity,
                "label pod-security.kubernetes.io/enforce"
            )]
        );
        let volume = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
            "spec": {"hostPath": {"path": "/"}, "capacity": {"storage": "1Gi"}}});
        assert_eq!(
            rules(&sensitive_edits(None, &volume)),
            [(SensitiveEdit::HostVolumes, "spec.hostPath")]
        );
    }

    #[test]
    fn privileges_granted_and_protections_taken_away_are_privileged_pod_edits() {
        let plain = deployment(json!({"containers": [{"name": "app", "image": "a",
            "securityContext": {"runAsNonRoot": true}}]}));
        assert!(
            sensitive_edits(None, &plain).is_empty(),
            "a plain pod grants nothing"
        );
        let hostile = deployment(json!({"hostPID": true,
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "app", "image": "a",
                "securityContext": {"privileged": true, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}}]}));
        let found = sensitive_edits(Some(&plain), &hostile);
        let what: Vec<&str> = found.iter().map(|e| e.what.as_str()).collect();
        assert!(
            found
                .iter()
                .all(|e| e.rule == SensitiveEdit::PrivilegedPods),
            "{found:?}"
        );
        assert_eq!(
            what,
            [
                "spec.template.spec: container app: capability SYS_ADMIN",
                "spec.template.spec: container app: privileged",
                "spec.template.spec: container app: runAsNonRoot true taken away",
                "spec.template.spec: container app: runAsUser 0",
                "spec.template.spec: hostPID",
                "spec.template.spec: hostPath volume /",
            ]
        );
        // The same privileges, given again, are no edit.
        assert!(sensitive_edits(Some(&hostile), &hostile).is_empty());
    }
}
