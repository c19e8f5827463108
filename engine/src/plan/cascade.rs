//! What deleting a Namespace or a CustomResourceDefinition takes with it,
//! and whether that includes objects the sync does not own.
//!
//! Deleting a Namespace deletes everything in it; deleting a CRD deletes
//! every custom resource of the kind it defines. Before such a prune, the
//! apply stage lists what is really there ([`Contents`], from the API
//! server) and [`foreign`] tells the sync's objects from the others.
//! Sans-IO.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Action, Inventory, Plan};
use crate::object::ObjectKey;

/// What a deletion takes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cascade {
    /// Everything in the Namespace of this name.
    Namespace(String),
    /// Every custom resource of a kind, in every namespace.
    CustomResources {
        /// The kind's `apiVersion` (the definition's storage version).
        api_version: String,
        /// The kind.
        kind: String,
    },
}

/// What deleting `key` takes with it, if anything: a Namespace's contents,
/// or the custom resources of a CustomResourceDefinition (`live` is the
/// definition as the API server returned it; without it, nothing is known
/// of its kind).
pub fn of(key: &ObjectKey, live: Option<&Value>) -> Option<Cascade> {
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Namespace") => Some(Cascade::Namespace(key.name.clone())),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let crd = live?;
            let (group, kind) = defined_kind(crd)?;
            let versions = crd.pointer("/spec/versions")?.as_array()?;
            let version = versions
                .iter()
                .find(|v| v["storage"] == Value::Bool(true))
                .or(versions.first())?["name"]
                .as_str()?;
            Some(Cascade::CustomResources {
                api_version: format!("{group}/{version}"),
                kind: kind.to_owned(),
            })
        }
        _ => None,
    }
}

/// The group and kind a CustomResourceDefinition defines.
pub(super) fn defined_kind(crd: &Value) -> Option<(&str, &str)> {
    Some((
        crd.pointer("/spec/group")?.as_str()?,
        crd.pointer("/spec/names/kind")?.as_str()?,
    ))
}

/// Whether deleting an object of this kind deletes other objects with it
/// (a Namespace, a CustomResourceDefinition).
pub fn cascades(key: &ObjectKey) -> bool {
    matches!(
        (key.group.as_str(), key.kind.as_str()),
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// What a [`Cascade`] would delete, as listed from the API server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// The objects found.
    pub objects: Vec<Content>,
    /// Kinds that could not be listed (forbidden): what is there is not
    /// known.
    pub unlisted: Vec<String>,
}

/// One object a deletion would take with it (its metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Its identity.
    pub key: ObjectKey,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// The uids of its `metadata.ownerReferences`.
    pub owners: Vec<String>,
    /// The value of its `plumbline.dev/sync` label.
    pub sync_label: Option<String>,
}

/// The contents that are not `sync`'s: neither inventory members that are
/// still the sync's (with its label and the recorded uid), nor owned (through `ownerReferences`, at any depth)
/// by one, nor what the API server and its controllers make by themselves
/// (the certificate ConfigMaps kube-controller-manager publishes in every
/// namespace, its `default` ServiceAccount, Events, the Endpoints of a
/// Service of the sync). An object served by two groups is named once.
pub fn foreign<'a>(
    contents: &'a Contents,
    inventory: &Inventory,
    sync: &str,
) -> Vec<&'a ObjectKey> {
    let is_member = |content: &Content| {
        content.sync_label.as_deref() == Some(sync)
            && inventory
                .entries
                .get(&content.key)
                .is_some_and(|entry| entry.uid.is_none() || entry.uid == content.uid)
    };
    let not_ours: BTreeSet<&str> = contents
        .objects
        .iter()
        .filter(|c| !is_member(c))
        .filter_map(|c| c.uid.as_deref())
        .collect();
    let mut ours: BTreeSet<&str> = inventory
        .entries
        .values()
        .filter_map(|entry| entry.uid.as_deref())
        .filter(|uid| !not_ours.contains(uid))
        .collect();
    ours.extend(
        contents
            .objects
            .iter()
            .filter(|c| is_member(c))
            .filter_map(|c| c.uid.as_deref()),
    );
    // Owned by an object of the sync, or by one that is (a Deployment's
    // ReplicaSets' Pods).
    loop {
        let owned: Vec<&str> = contents
            .objects
            .iter()
            .filter(|c| c.owners.iter().any(|owner| ours.contains(owner.as_str())))
            .filter_map(|c| c.uid.as_deref())
            .filter(|uid| !ours.contains(uid))
            .collect();
        if owned.is_empty() {
            break;
        }
        ours.extend(owned);
    }
    let mut seen = BTreeSet::new();
    contents
        .objects
        .iter()
        .filter(|c| !is_member(c) && !c.uid.as_deref().is_some_and(|uid| ours.contains(uid)))
        .filter(|c| !made_by_the_cluster(&c.key, inventory))
        .filter(|c| c.uid.as_deref().is_none_or(|uid| seen.insert(uid)))
        .map(|c| &c.key)
        .collect()
}

/// Objects the API server and its controllers make by themselves.
fn made_by_the_cluster(key: &ObjectKey, inventory: &Inventory) -> bool {
    match (key.group.as_str(), key.kind.as_str(), key.name.as_str()) {
        ("", "ConfigMap", "kube-root-ca.crt" | "openshift-service-ca.crt")
        | ("", "ServiceAccount", "default") => true,
        ("" | "events.k8s.io", "Event", _) => true,
        ("", "Endpoints", _) => inventory.entries.contains_key(&ObjectKey {
            kind: "Service".to_owned(),
            ..key.clone()
        }),
        _ => false,
    }
}

/// How many objects a refusal names; the rest are counted.
const NAMED: usize = 5;

/// Why deleting `key` is refused: it would take `foreign` objects with it,
/// or contents of `unlisted` kinds that could not be checked.
pub fn refusal(key: &ObjectKey, foreign: &[&ObjectKey], unlisted: &[String]) -> String {
    let mut reasons = Vec::new();
    if !foreign.is_empty() {
        let mut named: Vec<String> = foreign
            .iter()
            .take(NAMED)
            .map(ToString::to_string)
            .collect();
        if foreign.len() > NAMED {
            named.push(format!("and {} more", foreign.len() - NAMED));
        }
        reasons.push(format!(
            "{} object(s) this sync does not own would be deleted with it ({})",
            foreign.len(),
            named.join(", ")
        ));
    }
    if !unlisted.is_empty() {
        reasons.push(format!(
            "what it holds of {} cannot be listed (forbidden)",
            unlisted.join(", ")
        ));
    }
    format!(
        "not pruned: {}; move or delete them, or set spec.pruneGuard.allowCascade: true to delete {key} with everything in it",
        reasons.join("; ")
    )
}

impl Plan {
    /// Refuse the prunes of `refused` (object and why): they become
    /// [`Action::PruneRefused`].
    pub fn refuse_prunes(&mut self, mut refused: std::collections::BTreeMap<ObjectKey, String>) {
        for object in &mut self.objects {
            if object.action != Action::Prune {
                continue;
            }
            if let Some(reason) = refused.remove(&object.key) {
                object.action = Action::PruneRefused { reason };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Entry;
    use serde_json::json;

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: kind.to_owned(),
            namespace: Some("team".to_owned()),
            name: name.to_owned(),
        }
    }

    fn content(kind: &str, name: &str, uid: &str, owners: &[&str]) -> Content {
        Content {
            key: key(kind, name),
            uid: Some(uid.to_owned()),
            owners: owners.iter().map(|&o| o.to_owned()).collect(),
            sync_label: Some("shop".to_owned()),
        }
    }

    fn member(inventory: &mut Inventory, kind: &str, name: &str, uid: &str) {
        let mut entry = Entry::recovered(&json!({"apiVersion": "v1"}));
        entry.uid = Some(uid.to_owned());
        inventory.entries.insert(key(kind, name), entry);
    }

    #[test]
    fn only_what_neither_the_sync_nor_the_cluster_made_is_foreign() {
        let mut inventory = Inventory::default();
        member(&mut inventory, "Deployment", "web", "d");
        member(&mut inventory, "Service", "web", "s");
        member(&mut inventory, "ConfigMap", "replaced", "old");
        member(&mut inventory, "ConfigMap", "handed-over", "h");
        let contents = Contents {
            objects: vec![
                content("Deployment", "web", "d", &[]),
                content("ReplicaSet", "web-1", "rs", &["d"]),
                content("Pod", "web-1-x", "p", &["rs"]),
                content("Service", "web", "s", &[]),
                content("Endpoints", "web", "e", &[]),
                content("ConfigMap", "kube-root-ca.crt", "r", &[]),
                content("ConfigMap", "openshift-service-ca.crt", "o", &[]),
                content("ServiceAccount", "default", "sa", &[]),
                content("Event", "web.1", "ev", &[]),
                content("ConfigMap", "replaced", "new", &[]),
                content("Secret", "theirs", "t", &[]),
                content("Pod", "theirs-owned", "to", &["t"]),
                Content {
                    sync_label: Some("other".to_owned()),
                    ..content("ConfigMap", "handed-over", "h", &[])
                },
            ],
            unlisted: Vec::new(),
        };
        let names: Vec<String> = foreign(&contents, &inventory, "shop")
            .iter()
            .map(|k| k.name.clone())
            .collect();
        assert_eq!(names, ["replaced", "theirs", "theirs-owned", "handed-over"]);
    }

    #[test]
    fn a_refusal_names_a_few_and_counts_the_rest() {
        let keys: Vec<ObjectKey> = (0..8).map(|i| key("ConfigMap", &format!("c{i}"))).collect();
        let foreign: Vec<&ObjectKey> = keys.iter().collect();
        let namespace = ObjectKey {
            group: String::new(),
            kind: "Namespace".to_owned(),
            namespace: None,
            name: "team".to_owned(),
        };
        let reason = refusal(&namespace, &foreign, &[]);
        assert!(reason.contains("8 object(s)"), "{reason}");
        assert!(reason.contains("ConfigMap team/c4, and 3 more"), "{reason}");
        assert!(!reason.contains("c5"), "{reason}");
        assert!(reason.contains("pruneGuard.allowCascade"), "{reason}");
    }

    #[test]
    fn a_crd_cascades_to_its_storage_version() {
        let crd = json!({"spec": {"group": "example.com", "names": {"kind": "Widget"},
            "versions": [{"name": "v1alpha1", "storage": false}, {"name": "v1", "storage": true}]}});
        let key = ObjectKey {
            group: "apiextensions.k8s.io".to_owned(),
            kind: "CustomResourceDefinition".to_owned(),
            namespace: None,
            name: "widgets.example.com".to_owned(),
        };
        assert_eq!(
            of(&key, Some(&crd)),
            Some(Cascade::CustomResources {
                api_version: "example.com/v1".to_owned(),
                kind: "Widget".to_owned()
            })
        );
        assert_eq!(of(&key, None), None);
        assert!(cascades(&key));
    }
}
