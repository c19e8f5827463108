//! What one transformer did to the objects it was given: which it added,
//! removed, moved to another namespace or changed, for the guard
//! ([`Step`]) and for people ([`TransformerSummary`]). Pure: no IO.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::object::ObjectKey;
use crate::policy::printable;

/// One transformer's edit of the set: the objects with what they were
/// and what they became.
#[derive(Debug, Default)]
pub struct Step<'a> {
    /// Objects it was not given.
    pub added: Vec<(ObjectKey, &'a Value)>,
    /// Objects it was given and did not return.
    pub removed: Vec<ObjectKey>,
    /// Objects it returned in another namespace (same group, kind and
    /// name): `(from, before, to, after)`.
    pub moved: Vec<(ObjectKey, &'a Value, ObjectKey, &'a Value)>,
    /// Objects it returned changed: `(key, before, after)`.
    pub changed: Vec<(ObjectKey, &'a Value, &'a Value)>,
}

/// Compare what a transformer was given with what it returned. Objects
/// without an identity are left out (the returned set is refused for them
/// later).
pub fn step<'a>(before: &'a [Value], after: &'a [Value]) -> Step<'a> {
    let keyed = |objects: &'a [Value]| -> BTreeMap<ObjectKey, &'a Value> {
        objects
            .iter()
            .filter_map(|o| Some((ObjectKey::of(o)?, o)))
            .collect()
    };
    let (old, new) = (keyed(before), keyed(after));
    let mut gone: BTreeMap<(String, String, String), (ObjectKey, &Value)> = old
        .iter()
        .filter(|(key, _)| !new.contains_key(*key))
        .map(|(key, value)| (identity(key), (key.clone(), *value)))
        .collect();
    let mut result = Step::default();
    for (key, value) in &new {
        match old.get(key) {
            Some(previous) if previous != value => {
                result.changed.push((key.clone(), *previous, *value));
            }
            Some(_) => {}
            None => match gone.remove(&identity(key)) {
                Some((from, previous)) => result.moved.push((from, previous, key.clone(), *value)),
                None => result.added.push((key.clone(), *value)),
            },
        }
    }
    result.removed = gone.into_values().map(|(key, _)| key).collect();
    result
}

fn identity(key: &ObjectKey) -> (String, String, String) {
    (key.group.clone(), key.kind.clone(), key.name.clone())
}

/// What one transformer added, removed, moved and changed, by object name
/// (escaped for a terminal: the names are the transformer's choice).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformerSummary {
    /// The policy's configured name.
    pub policy: String,
    /// Objects it added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Objects it removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// Objects it moved to another namespace, `from -> to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<String>,
    /// Objects it changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

impl TransformerSummary {
    /// The summary of `step` by `policy`.
    pub fn of(policy: &str, step: &Step) -> Self {
        let name = |key: &ObjectKey| printable(&key.to_string()).into_owned();
        TransformerSummary {
            policy: printable(policy).into_owned(),
            added: step.added.iter().map(|(key, _)| name(key)).collect(),
            removed: step.removed.iter().map(name).collect(),
            moved: step
                .moved
                .iter()
                .map(|(from, _, to, _)| format!("{} -> {}", name(from), name(to)))
                .collect(),
            changed: step.changed.iter().map(|(key, _, _)| name(key)).collect(),
        }
    }

    /// Whether the transformer left the set as it was.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.moved.is_empty()
            && self.changed.is_empty()
    }

    /// Every object named, marked `+` (added), `-` (removed), `>` (moved)
    /// or `~` (changed).
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.added
            .iter()
            .map(|n| format!("+ {n}"))
            .chain(self.removed.iter().map(|n| format!("- {n}")))
            .chain(self.moved.iter().map(|n| format!("> {n}")))
            .chain(self.changed.iter().map(|n| format!("~ {n}")))
    }
}

/// `policy X added 2, removed 1, changed 3 objects` (moves only when
/// there are some).
impl fmt::Display for TransformerSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy {} added {}, removed {}, ",
            self.policy,
            self.added.len(),
            self.removed.len()
        )?;
        if !self.moved.is_empty() {
            write!(f, "moved {}, ", self.moved.len())?;
        }
        write!(f, "changed {} objects", self.changed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map(namespace: &str, name: &str, data: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": {"x": data}})
    }

    #[test]
    fn a_step_tells_added_removed_moved_and_changed_objects_apart() {
        let before = [
            config_map("shop", "same", "1"),
            config_map("shop", "edited", "1"),
            config_map("shop", "travels", "1"),
            config_map("shop", "gone", "1"),
        ];
        let after = [
            config_map("shop", "same", "1"),
            config_map("shop", "edited", "2"),
            config_map("other", "travels", "1"),
            config_map("shop", "new\u{1b}[2J", "1"),
        ];
        let found = step(&before, &after);
        let summary = TransformerSummary::of("p", &found);
        assert_eq!(summary.added, ["ConfigMap shop/new\\u{1b}[2J"]);
        assert_eq!(summary.removed, ["ConfigMap shop/gone"]);
        assert_eq!(
            summary.moved,
            ["ConfigMap shop/travels -> ConfigMap other/travels"]
        );
        assert_eq!(summary.changed, ["ConfigMap shop/edited"]);
        assert_eq!(
            summary.to_string(),
            "policy p added 1, removed 1, moved 1, changed 1 objects"
        );
        assert!(TransformerSummary::of("p", &step(&before, &before)).is_empty());
    }
}
