//! Field takeover, as fluxcd/pkg `ssa` does it: the fields last written by
//! imperative field managers (`kubectl edit`, `kubectl patch`, client-side
//! `kubectl apply`, ...) are moved into Plumbline's own `Apply` entry of
//! `metadata.managedFields` before Plumbline adopts an object or reapplies a
//! drifted one. Server-side apply then treats them as Plumbline's: fields
//! Git does not set are removed, list items another manager put in place of
//! Plumbline's go, and values Git writes differently (`cpu: 1000m` for `1`)
//! no longer conflict.
//!
//! The same rewrite moves what an earlier Plumbline owned of a Secret's
//! `stringData` to `data`: Plumbline applies a Secret's `stringData` as
//! `data` ([`fields::stored_form`]), but an earlier one applied it as it is,
//! and the API server recorded that ownership under `stringData`, which it
//! never stores. Left there, a key that leaves Git after the upgrade would
//! stay in `data`, owned by no one. Pure; [`super::Cluster::take_over`]
//! sends the result.

use serde_json::{json, Value};

use crate::plan::fields;

/// The `metadata.managedFields` of `live` after moving every entry of the
/// given `managers` (on the object itself, not on a subresource such as
/// `status` or `scale`) into `field_manager`'s `Apply` entry, and, in a
/// `v1` Secret, that entry's `stringData` fields to `data`; `None` when
/// neither changes anything.
pub fn managed_fields(live: &Value, managers: &[String], field_manager: &str) -> Option<Value> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let (taken, mut kept): (Vec<&Value>, Vec<&Value>) = entries
        .iter()
        .partition(|entry| is_taken_over(entry, managers));
    let taken_fields = taken.iter().filter_map(|entry| entry.get("fieldsV1")).fold(
        None,
        |merged: Option<Value>, tree| {
            Some(merged.map_or_else(
                || tree.clone(),
                |mut m| {
                    fields::merge_trees(&mut m, tree);
                    m
                },
            ))
        },
    );
    let ours = kept
        .iter()
        .position(|entry| is_apply_entry_of(entry, field_manager));
    let owns_string_data = is_secret(live)
        && ours.is_some_and(|index| kept[index].pointer("/fieldsV1/f:stringData").is_some());
    if taken_fields.is_none() && !owns_string_data {
        return None;
    }
    let mut fields = taken_fields.unwrap_or_else(|| json!({}));
    let api_version = taken
        .iter()
        .find_map(|entry| entry.get("apiVersion").cloned())
        .unwrap_or_else(|| live.get("apiVersion").cloned().unwrap_or(Value::Null));
    let mut entry = match ours {
        Some(index) => {
            let ours = kept.remove(index).clone();
            if let Some(tree) = ours.get("fieldsV1") {
                fields::merge_trees(&mut fields, tree);
            }
            ours
        }
        None => json!({
            "manager": field_manager,
            "operation": "Apply",
            "apiVersion": api_version,
            "fieldsType": "FieldsV1",
        }),
    };
    if is_secret(live) {
        string_data_as_data(&mut fields);
    }
    entry["fieldsV1"] = fields;
    let mut result: Vec<Value> = kept.into_iter().cloned().collect();
    result.push(entry);
    Some(Value::Array(result))
}

/// Whether `object` is a `v1` Secret, whose `stringData` is stored as
/// `data`.
fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Move the `stringData` keys of a Secret's fieldsV1 `tree` to `data`,
/// where the API server stores them.
fn string_data_as_data(tree: &mut Value) {
    let Some(string_data) = tree.as_object_mut().and_then(|t| t.remove("f:stringData")) else {
        return;
    };
    match tree.get_mut("f:data") {
        Some(data) => fields::merge_trees(data, &string_data),
        None => tree["f:data"] = string_data,
    }
}

/// Whether a managedFields entry belongs to a manager taken over (and is
/// not a subresource's).
fn is_taken_over(entry: &Value, managers: &[String]) -> bool {
    let manager = entry.get("manager").and_then(Value::as_str).unwrap_or("");
    entry.get("subresource").is_none() && managers.iter().any(|m| m == manager)
}

/// Whether a managedFields entry is `manager`'s `Apply` entry for the
/// object itself.
fn is_apply_entry_of(entry: &Value, manager: &str) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some("Apply")
        && entry.get("subresource").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, operation: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": "v1",
               "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    fn managers() -> Vec<String> {
        crate::spec::take_over_managers()
    }

    #[test]
    fn kubectl_fields_join_plumblines_apply_entry() {
        let live = json!({"apiVersion": "v1", "metadata": {"managedFields": [
            entry("plumbline", "Apply", json!({"f:data": {"f:a": {}}})),
            entry("kubectl-edit", "Update", json!({"f:data": {"f:b": {}}})),
            entry("kube-controller-manager", "Update", json!({"f:data": {"f:c": {}}})),
            {"manager": "kubectl-patch", "operation": "Update", "subresource": "status",
             "fieldsV1": {"f:status": {}}},
        ]}});
        let result = managed_fields(&live, &managers(), "plumbline").unwrap();
        let managers: Vec<&str> = result
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(
            managers,
            ["kube-controller-manager", "kubectl-patch", "plumbline"]
        );
        assert_eq!(
            result[2]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
    }

    #[test]
    fn an_adopted_object_gets_a_new_apply_entry() {
        let live = json!({"apiVersion": "v1", "metadata": {"managedFields": [
            entry("kubectl-create", "Update", json!({"f:data": {"f:a": {}}})),
        ]}});
        let result = managed_fields(&live, &managers(), "plumbline").unwrap();
        assert_eq!(
            result,
            json!([entry("plumbline", "Apply", json!({"f:data": {"f:a": {}}}))])
        );
    }

    #[test]
    fn a_secrets_string_data_owned_by_an_earlier_apply_moves_to_data() {
        let secret = |fields: Value| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"managedFields": [
                entry("plumbline", "Apply", fields),
                entry("kubectl-edit", "Update", json!({"f:metadata": {"f:labels": {}}})),
            ]}})
        };
        let earlier = secret(json!({"f:data": {"f:a": {}}, "f:stringData": {"f:b": {}}}));
        let result = managed_fields(&earlier, &[], "plumbline").unwrap();
        assert_eq!(result[0]["manager"], "kubectl-edit");
        assert_eq!(
            result[1]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        let taken = managed_fields(&earlier, &managers(), "plumbline").unwrap();
        assert_eq!(
            taken[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {}}})
        );

        let stored_as_data = secret(json!({"f:data": {"f:a": {}}}));
        assert_eq!(managed_fields(&stored_as_data, &[], "plumbline"), None);
        let mut not_a_secret = earlier.clone();
        not_a_secret["kind"] = json!("Vault");
        assert_eq!(managed_fields(&not_a_secret, &[], "plumbline"), None);
    }

    #[test]
    fn nothing_changes_without_entries_of_the_managers() {
        let live = json!({"metadata": {"managedFields": [
            entry("plumbline", "Apply", json!({"f:data": {"f:a": {}}})),
            entry("kubectl-edit", "Update", json!({"f:data": {"f:b": {}}})),
        ]}});
        assert_eq!(managed_fields(&live, &[], "plumbline"), None);
        assert_eq!(managed_fields(&json!({}), &managers(), "plumbline"), None);
    }
}
