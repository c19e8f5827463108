//! The inventory: what a sync owns, and what it applied.
//!
//! For every object a sync applied, the inventory keeps the hash of the
//! desired manifest it applied (to tell a change in Git from drift) and a
//! digest of every field Plumbline owns *as the API server returned it after
//! the apply* (to detect drift without re-implementing Kubernetes defaulting:
//! `cpu: 1000m` comes back as `cpu: "1"`, and `"1"` is what is recorded).
//!
//! Prune only ever deletes inventory members. Pure data; where it is stored
//! is the apply layer's business.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fields::{self, FieldPath};
use crate::object::ObjectKey;

/// Everything one sync owns, keyed by object identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// One entry per object the sync applied and has not pruned.
    #[serde(with = "entries_as_list")]
    pub entries: BTreeMap<ObjectKey, Entry>,
    /// The source revision these entries were applied from: a commit, an
    /// OCI artifact's `<tag>@sha256:…`, or a chart's `<version>@sha256:…`.
    /// `None` for inventories written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

impl Inventory {
    /// Record `entry` for `key`; returns whether that changed the record
    /// (a new `resourceVersion` alone does not: a reapply that restored
    /// exactly what was applied needs no inventory write). An object
    /// recorded as [adopted](Entry::adopted) stays adopted while it keeps
    /// its uid.
    pub fn record(&mut self, key: ObjectKey, mut entry: Entry) -> bool {
        let recorded = self.entries.get(&key);
        entry.adopted |= recorded.is_some_and(|r| r.adopted && r.uid == entry.uid);
        let changed = recorded.is_none_or(|recorded| !recorded.same_record(&entry));
        self.entries.insert(key, entry);
        changed
    }
}

/// What Plumbline applied to one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The `apiVersion` it was applied with (needed to prune it).
    pub api_version: String,
    /// [`desired_hash`] of the manifest that was applied.
    pub desired_hash: String,
    /// Every field Plumbline owned after the apply, with a digest of the
    /// value the API server returned for it.
    pub owned: Vec<OwnedField>,
    /// Fields whose drift a remediator decided to ignore ([`FieldPath::root`]
    /// for the whole object, when its deletion is ignored); cleared when the
    /// desired manifest changes.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub ignored: BTreeSet<FieldPath>,
    /// A remediator deferred its decision until this time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred_until: Option<u64>,
    /// The policy that deferred: the deferral ends when the sync no longer
    /// has it as a remediator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred_by: Option<String>,
    /// `metadata.uid` of the object Plumbline applied: prune deletes only
    /// an object with this uid. `None` in inventories written before uids
    /// were recorded (filled in from the labelled live object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `metadata.resourceVersion` the apply returned: while the live object
    /// still has it, it is exactly what was applied, and drift detection
    /// skips comparing its fields. `None` in older inventories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// The object existed before this sync first applied it (the sync
    /// adopted it): it is pruned only when the sync allows pruning adopted
    /// objects. `false` in inventories written before adoption was
    /// recorded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

/// One field Plumbline owns, and a digest of its applied value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedField {
    /// Where the field is.
    pub path: FieldPath,
    /// [`value_digest`] of the value after the apply.
    pub digest: String,
}

impl Entry {
    /// Record an apply: `returned` is the object as the API server returned
    /// it, with `metadata.managedFields`; `manager` is Plumbline's field
    /// manager name.
    pub fn record(desired: &Value, returned: &Value, manager: &str) -> Self {
        Self::applied(desired_hash(desired), returned, manager)
    }

    /// [`Entry::record`] of an apply of the manifest with `desired_hash`.
    pub fn applied(desired_hash: String, returned: &Value, manager: &str) -> Self {
        let owned = fields::applied_by(returned, manager)
            .map(|tree| fields::leaves(&tree))
            .unwrap_or_default()
            .into_iter()
            .map(|path| OwnedField {
                digest: value_digest(fields::lookup(
                    returned,
                    &fields::stored_path(returned, &path),
                )),
                path,
            })
            .collect();
        Entry {
            api_version: returned
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            desired_hash,
            owned,
            ignored: BTreeSet::new(),
            deferred_until: None,
            deferred_by: None,
            uid: crate::object::uid(returned).map(str::to_owned),
            resource_version: crate::object::resource_version(returned).map(str::to_owned),
            adopted: false,
        }
    }

    /// An entry for a live object that carries this sync's label but is
    /// missing from the inventory (lost or partly written): no applied
    /// manifest is known, so a desired object is adopted again and an
    /// undesired one is pruned under the usual ownership rules.
    pub fn recovered(live: &Value) -> Self {
        Entry {
            api_version: live
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            desired_hash: String::new(),
            owned: Vec::new(),
            ignored: BTreeSet::new(),
            deferred_until: None,
            deferred_by: None,
            uid: crate::object::uid(live).map(str::to_owned),
            resource_version: None,
            adopted: false,
        }
    }

    /// Whether both record the same apply, whatever `resourceVersion` they
    /// noted.
    pub fn same_record(&self, other: &Entry) -> bool {
        let Entry {
            api_version,
            desired_hash,
            owned,
            ignored,
            deferred_until,
            deferred_by,
            uid,
            resource_version: _,
            adopted,
        } = self;
        *api_version == other.api_version
            && *desired_hash == other.desired_hash
            && *owned == other.owned
            && *ignored == other.ignored
            && *deferred_until == other.deferred_until
            && *deferred_by == other.deferred_by
            && *uid == other.uid
            && *adopted == other.adopted
    }

    /// Whether the entry was recovered from a label rather than recorded
    /// by an apply.
    pub fn is_recovered(&self) -> bool {
        self.desired_hash.is_empty()
    }
}

/// The hash of a desired manifest: sha256 of its compact JSON text. A
/// `Value`'s maps keep their keys sorted, so the text, and the hash, do not
/// depend on the key order of the file.
pub fn desired_hash(desired: &Value) -> String {
    hash_text(&desired.to_string())
}

/// sha256 of `text`, in hex.
pub(super) fn hash_text(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A short digest of a field's value; a missing field has its own digest.
pub fn value_digest(value: Option<&Value>) -> String {
    let text = value.map_or_else(|| "<absent>".to_owned(), Value::to_string);
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// `ObjectKey` is a struct, so the map is stored as a list of
/// `{key, ...entry}` records in JSON/YAML. A record is read into a struct
/// that spells out the entry's fields: reading a flattened [`Entry`] would
/// make serde buffer every record (a third of the time a reconcile of
/// 10,000 unchanged objects spent reading its inventory).
mod entries_as_list {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Entry, FieldPath, ObjectKey, OwnedField};

    #[derive(Serialize)]
    struct Pair<'a> {
        key: &'a ObjectKey,
        #[serde(flatten)]
        entry: &'a Entry,
    }

    /// A stored record: the key, and [`Entry`]'s fields as it writes them.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Record {
        key: ObjectKey,
        api_version: String,
        desired_hash: String,
        owned: Vec<OwnedField>,
        #[serde(default)]
        ignored: BTreeSet<FieldPath>,
        deferred_until: Option<u64>,
        deferred_by: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        #[serde(default)]
        adopted: bool,
    }

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<ObjectKey, Entry>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter().map(|(key, entry)| Pair { key, entry }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<ObjectKey, Entry>, D::Error> {
        let records = Vec::<Record>::deserialize(deserializer)?;
        let entries = records.into_iter().map(|record| {
            let entry = Entry {
                api_version: record.api_version,
                desired_hash: record.desired_hash,
                owned: record.owned,
                ignored: record.ignored,
                deferred_until: record.deferred_until,
                deferred_by: record.deferred_by,
                uid: record.uid,
                resource_version: record.resource_version,
                adopted: record.adopted,
            };
            (record.key, entry)
        });
        Ok(entries.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn returned() -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "managedFields": [
                {"manager": "plumbline", "operation": "Apply", "fieldsV1":
                    {"f:data": {"f:a": {}}}}]},
            "data": {"a": "1", "b": "2"}})
    }

    #[test]
    fn record_keeps_only_owned_fields() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let entry = Entry::record(&desired, &returned(), "plumbline");
        assert_eq!(entry.api_version, "v1");
        assert_eq!(entry.owned.len(), 1);
        assert_eq!(entry.owned[0].path.to_string(), "data.a");
        assert_eq!(entry.owned[0].digest, value_digest(Some(&json!("1"))));
        assert_eq!(entry.desired_hash, desired_hash(&desired));
    }

    #[test]
    fn desired_hash_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"kind":"ConfigMap","data":{"x":"1","y":"2"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"data":{"y":"2","x":"1"},"kind":"ConfigMap"}"#).unwrap();
        assert_eq!(desired_hash(&a), desired_hash(&b));
        assert_ne!(
            desired_hash(&a),
            desired_hash(&json!({"kind": "ConfigMap"}))
        );
    }

    #[test]
    fn digests_tell_values_and_absence_apart() {
        assert_ne!(
            value_digest(Some(&json!("1"))),
            value_digest(Some(&json!(1)))
        );
        assert_ne!(value_digest(None), value_digest(Some(&Value::Null)));
    }

    #[test]
    fn inventory_round_trips_through_json() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let mut inventory = Inventory::default();
        let mut entry = Entry::record(&desired, &returned(), "plumbline");
        entry.ignored.insert(FieldPath::root());
        entry.deferred_until = Some(1_700_000_000);
        entry.deferred_by = Some("later".to_owned());
        entry.uid = Some("5f0c".to_owned());
        entry.resource_version = Some("42".to_owned());
        entry.adopted = true;
        inventory
            .entries
            .insert(ObjectKey::of(&desired).unwrap(), entry);
        let text = serde_json::to_string(&inventory).unwrap();
        let back: Inventory = serde_json::from_str(&text).unwrap();
        assert_eq!(back, inventory);
        for field in [
            "key",
            "apiVersion",
            "desiredHash",
            "owned",
            "ignored",
            "deferredUntil",
            "deferredBy",
            "uid",
            "resourceVersion",
            "adopted",
        ] {
            assert!(text.contains(&format!("\"{field}\":")), "{field} in {text}");
        }
    }

    #[test]
    fn entries_without_a_uid_still_load() {
        let text = r#"{"entries":[{"key":{"group":"","kind":"ConfigMap","namespace":"shop","name":"c"},
            "apiVersion":"v1","desiredHash":"abc","owned":[]}]}"#;
        let inventory: Inventory = serde_json::from_str(text).unwrap();
        let entry = inventory.entries.values().next().unwrap();
        assert_eq!(entry.uid, None);
        assert!(!entry.is_recovered());
        assert!(!entry.adopted, "an older inventory adopted nothing");
    }

    #[test]
    fn an_adopted_object_stays_adopted_while_it_keeps_its_uid() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let key = ObjectKey::of(&desired).unwrap();
        let mut inventory = Inventory::default();
        let mut adopted = Entry::record(&desired, &returned(), "plumbline");
        adopted.uid = Some("1".to_owned());
        adopted.adopted = true;
        inventory.record(key.clone(), adopted.clone());

        let mut reapplied = adopted.clone();
        reapplied.adopted = false;
        assert!(!inventory.record(key.clone(), reapplied.clone()));
        assert!(inventory.entries[&key].adopted);

        reapplied.uid = Some("2".to_owned());
        assert!(inventory.record(key.clone(), reapplied));
        assert!(
            !inventory.entries[&key].adopted,
            "created again by the sync"
        );
    }
}
