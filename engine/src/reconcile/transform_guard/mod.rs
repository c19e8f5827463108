//! What transformers may do to the desired set, and what they did.
//!
//! A transformer is code from a policy author, and what it returns is
//! applied with the sync's rights. The guard is deny by default: each
//! transformer's edit is checked against its policy's
//! `allow` ([`crate::spec::TransformerAllowance`]): it may
//! add or move objects only of the kinds and into the namespaces listed
//! there, and make security-sensitive edits ([`rules`]) only of the classes
//! listed there. All together, transformers may add at most as many
//! objects as were rendered (at least 10; `transformerGuard`). What each
//! transformer added, removed, moved or changed is summarised for people
//! ([`TransformerSummary`]). Pure: no IO.

mod allowances;
pub mod rules;
mod summary;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::object::ObjectKey;
use crate::spec::{TransformerAllowance, TransformerGuard};

use summary::step;
pub use summary::TransformerSummary;

/// Objects need never be refused for growth below this many additions.
const MIN_ADDED: usize = 10;

/// Watches the transformers one by one: what each did and what it was
/// refused. Give it every step ([`Guard::observe`]), then take its
/// findings ([`Guard::finish`]).
#[derive(Debug)]
pub struct Guard<'a> {
    target_namespace: &'a str,
    summaries: Vec<TransformerSummary>,
    refused: Vec<String>,
}

impl<'a> Guard<'a> {
    /// A guard for a sync whose target namespace is `target_namespace`.
    pub fn new(target_namespace: &'a str) -> Self {
        Guard {
            target_namespace,
            summaries: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Judge and summarise what `policy`, allowed `allowance`, returned
    /// (`after`) for what it was given (`before`).
    pub fn observe(
        &mut self,
        policy: &str,
        allowance: &TransformerAllowance,
        before: &[Value],
        after: &[Value],
    ) {
        let step = step(before, after);
        self.refused.extend(allowances::refusals(
            policy,
            allowance,
            self.target_namespace,
            &step,
        ));
        let summary = TransformerSummary::of(policy, &step);
        if !summary.is_empty() {
            self.summaries.push(summary);
        }
    }

    /// The summaries of the transformers that changed anything, in order,
    /// and every refusal.
    pub fn finish(self) -> (Vec<TransformerSummary>, Vec<String>) {
        (self.summaries, self.refused)
    }
}

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

/// The refusal of growth beyond `transformerGuard.maxAddedPercent` of the
/// `rendered` count, if `changes` grew the set that much.
pub fn growth_refusal(
    changes: &Changes,
    rendered: usize,
    guard: &TransformerGuard,
) -> Option<String> {
    let share = usize::try_from(guard.max_added_percent).unwrap_or(usize::MAX);
    let limit = (rendered.saturating_mul(share) / 100).max(MIN_ADDED);
    (changes.added.len() > limit).then(|| {
        format!(
            "transformers added {} objects to {rendered} rendered; the sync allows {limit} \
             (transformerGuard.maxAddedPercent {})",
            changes.added.len(),
            guard.max_added_percent
        )
    })
}

fn identity(key: &ObjectKey) -> (String, String, String) {
    (key.group.clone(), key.kind.clone(), key.name.clone())
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
    fn growth_is_bounded_by_the_rendered_count() {
        let guard = TransformerGuard::default();
        let many = Changes {
            added: (0..25)
                .map(|i| key("", "ConfigMap", Some("shop"), &format!("n{i}")))
                .collect(),
            ..Changes::default()
        };
        assert_eq!(
            growth_refusal(&many, 30, &guard),
            None,
            "up to as many as rendered"
        );
        let refused = growth_refusal(&many, 20, &guard).unwrap();
        assert!(
            refused.contains("added 25 objects to 20 rendered; the sync allows 20"),
            "{refused}"
        );
        let few = Changes {
            added: many.added[..10].to_vec(),
            ..Changes::default()
        };
        assert_eq!(growth_refusal(&few, 1, &guard), None, "at least 10");
    }

    #[test]
    fn the_guard_summarises_each_transformer_and_collects_every_refusal() {
        let config_map = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}});
        let rendered = [config_map("a")];
        let first = [config_map("a"), config_map("b")];
        let second = [config_map("b")];
        let mut guard = Guard::new("shop");
        let allowed = TransformerAllowance {
            add: vec![crate::spec::KindRef {
                kind: "ConfigMap".into(),
                group: String::new(),
            }],
            namespaces: vec!["shop".into()],
            sensitive: Vec::new(),
        };
        guard.observe("adds", &allowed, &rendered, &first);
        guard.observe("drops", &TransformerAllowance::default(), &first, &second);
        guard.observe("idle", &TransformerAllowance::default(), &second, &second);
        guard.observe("hostile", &TransformerAllowance::default(), &second, &first);
        let (summaries, refused) = guard.finish();
        let shown: Vec<String> = summaries.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "policy adds added 1, removed 0, changed 0 objects",
                "policy drops added 0, removed 1, changed 0 objects",
                "policy hostile added 1, removed 0, changed 0 objects",
            ]
        );
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(
            refused
                .iter()
                .all(|r| r.starts_with("transformer hostile added ConfigMap shop/a")),
            "{refused:?}"
        );
    }
}
