//! Whether a live object is provably this sync's, and what deleting it
//! would take with it.
//!
//! Prune deletes an object only when the live object still carries the
//! sync's `plumbline.dev/sync` label and has the uid recorded when the sync
//! applied it. Anything else (recreated by someone else, handed over to
//! another sync) changed ownership: it is reported, never deleted. The
//! apply stage adds a uid precondition to the DELETE, so an object replaced
//! between the read and the delete is not deleted either.

use serde_json::Value;

use super::{Action, Entry, Inventory, Live, PlannedObject, UpdateReason};
use crate::apply::SYNC_LABEL;
use crate::object::{self, ObjectKey};

/// Why a live object is not this sync's any more, or `None` if it is.
///
/// An entry without a recorded uid (an inventory written before uids were
/// recorded) is judged by the label alone.
pub fn changed(live: &Value, entry: &Entry, sync: &str) -> Option<String> {
    match object::label(live, SYNC_LABEL) {
        None => return Some(format!("ownership changed: label {SYNC_LABEL} was removed")),
        Some(owner) if owner != sync => {
            return Some(format!(
                "ownership changed: label {SYNC_LABEL} is now {owner:?} (not {sync:?})"
            ))
        }
        Some(_) => {}
    }
    let live_uid = object::uid(live);
    match &entry.uid {
        Some(recorded) if live_uid != Some(recorded.as_str()) => Some(format!(
            "ownership changed: uid is {} (recorded {recorded}); the object was deleted and created again",
            live_uid.unwrap_or("<none>")
        )),
        _ => None,
    }
}

/// The sync that applied `live` (its `plumbline.dev/sync` label), when that
/// is another sync than `sync` and not one of the syncs it may take objects
/// from (`take_over_syncs`, the sync's `takeOver.syncs`).
pub fn other_sync<'l>(live: &'l Value, sync: &str, take_over_syncs: &[String]) -> Option<&'l str> {
    let owner = object::label(live, SYNC_LABEL)?;
    (owner != sync && !take_over_syncs.iter().any(|s| s == owner)).then_some(owner)
}

/// Whether applying `object` adopts it: it exists, the sync has no record
/// of it (not even one recovered from its label), and it does not carry
/// the sync's label.
pub fn adopts(
    object: &PlannedObject,
    live: Option<&Value>,
    inventory: &Inventory,
    sync: &str,
) -> bool {
    let adopt = Action::Update {
        reason: UpdateReason::Adopt,
    };
    object.action == adopt
        && !inventory.entries.contains_key(&object.key)
        && live.is_some_and(|live| object::label(live, SYNC_LABEL) != Some(sync))
}

/// The inventory members that deleting `key` deletes too: the objects in a
/// Namespace, or the custom resources of a CustomResourceDefinition
/// (`live` is the definition as the API server returned it).
pub fn cascade<'a>(
    key: &ObjectKey,
    live: Option<&Value>,
    inventory: &'a Inventory,
) -> Vec<&'a ObjectKey> {
    let members = inventory.entries.keys();
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Namespace") => members
            .filter(|member| member.namespace.as_deref() == Some(key.name.as_str()))
            .collect(),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let Some((group, kind)) = live.and_then(super::cascade::defined_kind) else {
                return Vec::new();
            };
            members
                .filter(|member| member.group == group && member.kind == kind)
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The uids of the live copies of `keys`: two keys with one uid are one
/// object served by two groups (core `v1 Event` and `events.k8s.io/v1
/// Event`).
pub fn uids<'a>(
    keys: impl Iterator<Item = &'a ObjectKey>,
    live: &'a Live,
) -> std::collections::BTreeSet<&'a str> {
    keys.filter_map(|key| live.get(key).and_then(object::uid))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(uid: Option<&str>) -> Entry {
        let mut entry = Entry::recovered(&json!({"apiVersion": "v1"}));
        entry.desired_hash = "applied".into();
        entry.uid = uid.map(str::to_owned);
        entry
    }

    fn live(label: Option<&str>, uid: &str) -> Value {
        let labels = label.map_or(json!({}), |l| json!({SYNC_LABEL: l}));
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "uid": uid, "labels": labels}})
    }

    #[test]
    fn only_the_labelled_object_with_the_recorded_uid_is_ours() {
        assert_eq!(changed(&live(Some("a"), "1"), &entry(Some("1")), "a"), None);
        assert_eq!(changed(&live(Some("a"), "1"), &entry(None), "a"), None);
        let recreated = changed(&live(Some("a"), "2"), &entry(Some("1")), "a").unwrap();
        assert!(
            recreated.contains("deleted and created again"),
            "{recreated}"
        );
        let moved = changed(&live(Some("b"), "1"), &entry(Some("1")), "a").unwrap();
        assert!(moved.contains("\"b\""), "{moved}");
        assert!(changed(&live(None, "1"), &entry(Some("1")), "a").is_some());
    }

    #[test]
    fn another_syncs_object_is_its_own_unless_listed_for_takeover() {
        let of_b = live(Some("b"), "1");
        assert_eq!(other_sync(&of_b, "a", &[]), Some("b"));
        assert_eq!(other_sync(&of_b, "a", &["c".into()]), Some("b"));
        assert_eq!(other_sync(&of_b, "a", &["b".into()]), None);
        assert_eq!(other_sync(&of_b, "b", &[]), None);
        assert_eq!(other_sync(&live(None, "1"), "a", &[]), None);
    }
}
