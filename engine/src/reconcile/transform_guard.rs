//! What transformers may do to the desired set: which objects they added,
//! removed or moved to another namespace, and whether the sync allows it.
//!
//! A transformer is code from a policy author, and the objects it adds are
//! applied with the sync's rights. By default it may not add (or move an
//! object into) cluster-scoped RBAC — `ClusterRole`, `ClusterRoleBinding` —
//! nor anything in `kube-system`, and it may add at most as many objects as
//! were rendered (at least 10). A sync widens or narrows this with
//! `transformerGuard` ([`TransformerGuard`]). Pure: no IO.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::object::ObjectKey;
use crate::spec::TransformerGuard;

/// Kinds a transformer may not add unless the sync lists them.
const GUARDED_KINDS: [(&str, &str); 2] = [
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
];

/// Namespaces a transformer may not add objects to unless the sync lists them.
const GUARDED_NAMESPACES: [&str; 1] = ["kube-system"];

/// Objects need never be refused for growth below this many additions.
const MIN_ADDED: usize = 10;

/// How the transformers changed the set of objects (not their contents).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Objects that were not rendered.
    pub added: Vec<ObjectKey>,
    /// Rendered objects that are gone.
    pub removed: Vec<ObjectKey>,
    /// Rendered objects now in another namespace: `(from, to)`.
    pub moved: Vec<(ObjectKey, ObjectKey)>,
}

impl Changes {
    /// Nothing added, removed or moved.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.moved.is_empty()
    }
}

/// Compare the rendered identities with the transformed ones. An object
/// whose group, kind and name stay but whose namespace changed was moved.
pub fn changes(rendered: &[ObjectKey], transformed: &[ObjectKey]) -> Changes {
    let before: BTreeSet<&ObjectKey> = rendered.iter().collect();
    let after: BTreeSet<&ObjectKey> = transformed.iter().collect();
    let mut gone: BTreeMap<(String, String, String), ObjectKey> = rendered
        .iter()
        .filter(|key| !after.contains(key))
        .map(|key| (identity(key), key.clone()))
        .collect();
    let mut result = Changes::default();
    for key in transformed.iter().filter(|key| !before.contains(key)) {
        match gone.remove(&identity(key)) {
            Some(from) => result.moved.push((from, key.clone())),
            None => result.added.push(key.clone()),
        }
    }
    result.removed = gone.into_values().collect();
    result
}

/// Every way `changes` breaks the sync's guard, one message each; empty
/// when it keeps to it.
pub fn refusals(changes: &Changes, rendered: usize, guard: &TransformerGuard) -> Vec<String> {
    let mut refused = Vec::new();
    let arrivals = changes
        .added
        .iter()
        .map(|key| ("added", key))
        .chain(changes.moved.iter().map(|(_, to)| ("moved", to)));
    for (how, key) in arrivals {
        if !kind_allowed(key, guard) {
            refused.push(format!(
                "a transformer {how} {key}: kind {} is not in the sync's transformerGuard.allowKinds",
                kind_name(key)
            ));
        }
        if let Some(namespace) = key.namespace.as_deref() {
            if !namespace_allowed(namespace, guard) {
                refused.push(format!(
                    "a transformer {how} {key}: namespace {namespace} is not in the sync's \
                     transformerGuard.allowNamespaces"
                ));
            }
        }
    }
    let share = usize::try_from(guard.max_added_percent).unwrap_or(usize::MAX);
    let limit = (rendered.saturating_mul(share) / 100).max(MIN_ADDED);
    if changes.added.len() > limit {
        refused.push(format!(
            "transformers added {} objects to {rendered} rendered; the sync allows {limit} \
             (transformerGuard.maxAddedPercent {})",
            changes.added.len(),
            guard.max_added_percent
        ));
    }
    refused
}

fn identity(key: &ObjectKey) -> (String, String, String) {
    (key.group.clone(), key.kind.clone(), key.name.clone())
}

/// `Kind` for the core group, `Kind.group` otherwise.
fn kind_name(key: &ObjectKey) -> String {
    if key.group.is_empty() {
        key.kind.clone()
    } else {
        format!("{}.{}", key.kind, key.group)
    }
}

fn kind_allowed(key: &ObjectKey, guard: &TransformerGuard) -> bool {
    if guard.allow_kinds.is_empty() {
        return !GUARDED_KINDS
            .iter()
            .any(|(group, kind)| key.group == *group && key.kind == *kind);
    }
    let name = kind_name(key);
    guard
        .allow_kinds
        .iter()
        .any(|allowed| *allowed == name || *allowed == key.kind)
}

fn namespace_allowed(namespace: &str, guard: &TransformerGuard) -> bool {
    if guard.allow_namespaces.is_empty() {
        return !GUARDED_NAMESPACES.contains(&namespace);
    }
    guard
        .allow_namespaces
        .iter()
        .any(|allowed| allowed == namespace)
}

/// What transformers changed in one object, for people: each path marked
/// `+` (added), `-` (removed) or `~` (changed); an object added or removed
/// as a whole is one line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    /// The object.
    pub object: String,
    /// What changed in it.
    pub changes: Vec<String>,
}

/// The edits transformers made: `before` is the rendered set by key,
/// `after` what the transformers returned.
pub fn edits(before: &BTreeMap<ObjectKey, Value>, after: &[Value]) -> Vec<Edit> {
    let mut found = Vec::new();
    let mut kept = BTreeSet::new();
    for object in after {
        let Some(key) = ObjectKey::of(object) else {
            continue;
        };
        let mut changes = Vec::new();
        match before.get(&key) {
            Some(old) => changed_paths(old, object, "", &mut changes),
            None => changes.push("+ added by a transformer".to_owned()),
        }
        if !changes.is_empty() {
            found.push(Edit {
                object: key.to_string(),
                changes,
            });
        }
        kept.insert(key);
    }
    for key in before.keys().filter(|k| !kept.contains(*k)) {
        found.push(Edit {
            object: key.to_string(),
            changes: vec!["- removed by a transformer".to_owned()],
        });
    }
    found
}

/// Paths where `new` differs from `old`, marked `+` (added), `-`
/// (removed) or `~` (changed).
fn changed_paths(old: &Value, new: &Value, prefix: &str, out: &mut Vec<String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match (a.get(key), value) {
                    (Some(previous), _) => changed_paths(previous, value, &join(key), out),
                    (None, Value::Object(_)) => {
                        changed_paths(&json!({}), value, &join(key), out);
                    }
                    (None, _) => out.push(format!("+ {}", join(key))),
                }
            }
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(format!("- {}", join(key)));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                changed_paths(x, y, &format!("{prefix}[{i}]"), out);
            }
        }
        (a, b) if a != b => out.push(format!("~ {prefix}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn changed_paths_name_added_removed_and_changed_fields() {
        let old = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "list": [1, 2]});
        let new =
            json!({"metadata": {"name": "a", "labels": {"x": "2", "y": "3"}}, "list": [1, 3]});
        let mut out = Vec::new();
        changed_paths(&old, &new, "", &mut out);
        assert_eq!(
            out,
            ["~ list[1]", "~ metadata.labels.x", "+ metadata.labels.y"]
        );
    }

    use super::*;

    fn key(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }

    #[test]
    fn added_removed_and_moved_objects_are_told_apart() {
        let rendered = [
            key("", "ConfigMap", Some("shop"), "a"),
            key("", "ConfigMap", Some("shop"), "b"),
            key("", "Secret", Some("shop"), "c"),
        ];
        let transformed = [
            key("", "ConfigMap", Some("shop"), "a"),
            key("", "ConfigMap", Some("other"), "b"),
            key("", "ConfigMap", Some("shop"), "d"),
        ];
        let found = changes(&rendered, &transformed);
        assert_eq!(found.added, [key("", "ConfigMap", Some("shop"), "d")]);
        assert_eq!(found.removed, [key("", "Secret", Some("shop"), "c")]);
        assert_eq!(
            found.moved,
            [(
                key("", "ConfigMap", Some("shop"), "b"),
                key("", "ConfigMap", Some("other"), "b")
            )]
        );
    }

    #[test]
    fn the_default_refuses_cluster_rbac_and_kube_system_and_unbounded_growth() {
        let guard = TransformerGuard::default();
        let binding = key(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            None,
            "root",
        );
        let system = key("", "ConfigMap", Some("kube-system"), "x");
        let moved = Changes {
            moved: vec![(key("", "ConfigMap", Some("shop"), "y"), system.clone())],
            ..Changes::default()
        };
        let added = Changes {
            added: vec![binding, key("", "ConfigMap", Some("shop"), "ok")],
            ..Changes::default()
        };
        let refused = refusals(&added, 5, &guard);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].contains("ClusterRoleBinding.rbac.authorization.k8s.io"));
        let refused = refusals(&moved, 5, &guard);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("moved ConfigMap kube-system/x"),
            "{refused:?}"
        );

        let many = Changes {
            added: (0..25)
                .map(|i| key("", "ConfigMap", Some("shop"), &format!("n{i}")))
                .collect(),
            ..Changes::default()
        };
        assert!(
            refusals(&many, 30, &guard).is_empty(),
            "up to as many as rendered"
        );
        let refused = refusals(&many, 20, &guard);
        assert!(refused[0].contains("added 25 objects to 20 rendered; the sync allows 20"));
    }

    #[test]
    fn a_sync_can_allow_what_the_default_refuses() {
        let guard = TransformerGuard {
            allow_kinds: vec!["ClusterRoleBinding.rbac.authorization.k8s.io".into()],
            allow_namespaces: vec!["kube-system".into()],
            max_added_percent: 100,
        };
        let added = Changes {
            added: vec![
                key(
                    "rbac.authorization.k8s.io",
                    "ClusterRoleBinding",
                    None,
                    "root",
                ),
                key("", "ConfigMap", Some("kube-system"), "x"),
            ],
            ..Changes::default()
        };
        let refused = refusals(&added, 5, &guard);
        // Only the listed kinds may be added once a list is given.
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("kind ConfigMap is not in"),
            "{refused:?}"
        );
    }
}
