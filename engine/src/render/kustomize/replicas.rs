//! The `replicas` field: `{name, count}` sets `spec.replicas` of the
//! Deployments, ReplicaSets, ReplicationControllers and StatefulSets of that
//! name (kustomize's default field specs). No IO.

use serde_json::Value;

use super::transform::Context;
use super::Error;
use crate::render::Manifest;

/// Kinds whose `spec.replicas` the field sets.
const KINDS: [&str; 4] = [
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "StatefulSet",
];

/// Apply `replicas` of `k`. A name matches an object's current name or
/// its name before this kustomization's prefix and suffix (`names_before`,
/// index-aligned).
pub(super) fn apply(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut [Manifest],
    names_before: &[String],
    errors: &mut Vec<Error>,
) {
    let Some(entries) = k.get("replicas").and_then(Value::as_array) else {
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let name = entry.get("name").and_then(Value::as_str);
        let count = entry.get("count").and_then(Value::as_i64);
        let (Some(name), Some(count)) = (name, count) else {
            errors.push(Error::Invalid {
                file: cx.file.to_owned(),
                message: format!(
                    "replicas[{}] needs a string `name` and an integer `count`",
                    i + 1
                ),
            });
            continue;
        };
        for (m, before) in objects.iter_mut().zip(names_before) {
            let kind = m.object["kind"].as_str().unwrap_or("");
            let current = m.object["metadata"]["name"].as_str().unwrap_or("");
            if KINDS.contains(&kind) && (current == name || before == name) {
                m.object["spec"]["replicas"] = Value::from(count);
            }
        }
    }
}
