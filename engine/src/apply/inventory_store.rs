//! Where a sync's inventory lives in the cluster: ConfigMaps in an
//! inventory namespace, labelled `plumbline.dev/inventory=<sync>`.
//!
//! - **Parts** `plumbline-inventory-<sync>-<digest>`: immutable ConfigMaps,
//!   each holding the entries of one hash bucket of object keys as JSON
//!   (`inventory.json`), named by the first 12 hex digits of the sha256 of
//!   that text. A ConfigMap holds at most 1 MiB, so large syncs have several
//!   buckets.
//! - **Head** `plumbline-inventory-<sync>`: names the parts that make up the
//!   inventory (`head.json`).
//!
//! A write creates the parts that do not exist yet (a part whose entries
//! did not change keeps its name, so one changed object writes one part),
//! then replaces the head with a `resourceVersion` precondition, then
//! deletes the parts no head names. Replacing the head is the commit point:
//! a write that stops before it leaves the previous inventory intact, and
//! a concurrent writer fails instead of overwriting. A read that finds a
//! named part missing or not matching its digest knows the inventory is
//! incomplete ([`Stored::complete`]), and reconcile falls back to the
//! `plumbline.dev/sync` label.
//!
//! Inventories written before the head existed (`plumbline-inventory-<sync>-<n>`
//! parts only) are still read, and replaced at the next write.
//!
//! The inventory is written only when it changed, so a reconcile that
//! changes nothing makes no writes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Cluster, Error, Result};
use crate::object::ObjectKey;
use crate::plan::Inventory;

/// The label naming the sync an inventory ConfigMap belongs to.
pub const INVENTORY_LABEL: &str = "plumbline.dev/inventory";

/// Bytes of JSON per part, well under the 1 MiB object limit.
const PART_BYTES: usize = 512 * 1024;

const DATA_KEY: &str = "inventory.json";
const HEAD_KEY: &str = "head.json";

/// An inventory as read from the cluster, with what the next write needs.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The entries that could be read.
    pub inventory: Inventory,
    /// Whether every part of the inventory was read: `false` when there is
    /// no inventory (a new sync, or one lost) or a part is missing or
    /// corrupt (partly written). Objects may then carry the sync's label
    /// without being in [`Stored::inventory`].
    pub complete: bool,
    /// What the next write over this inventory needs.
    pub version: Version,
}

/// Which head a write replaces: the one read, or the one last written.
/// A write made over an older version than the stored one is refused.
#[derive(Debug, Clone, Default)]
pub struct Version {
    /// The head, if there is one.
    head: Option<StoredHead>,
}

/// The head as read: its content and the `resourceVersion` a replacement
/// must match.
#[derive(Debug, Clone)]
struct StoredHead {
    head: Head,
    resource_version: String,
}

/// The content of the head ConfigMap.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Head {
    /// How many hash buckets the entries are split into (a power of two;
    /// it only grows, so unchanged buckets keep their parts).
    buckets: usize,
    /// The names of the parts, one per non-empty bucket.
    parts: Vec<String>,
}

/// One part to store: its name and JSON text.
#[derive(Debug, Clone, PartialEq)]
struct Part {
    name: String,
    text: String,
}

fn inventory_error(sync: &str, message: impl std::fmt::Display) -> Error {
    Error::Inventory {
        sync: sync.to_owned(),
        message: message.to_string(),
    }
}

/// The error of a request about a sync's inventory that failed while
/// `doing` something, with the API server's message.
fn request_error(sync: &str, doing: &str, error: &kube::Error) -> Error {
    inventory_error(sync, format!("{doing}: {}", super::kube_message(error)))
}

fn head_name(sync: &str) -> String {
    format!("plumbline-inventory-{sync}")
}

/// [`load`], unless `known` (an inventory read or written before) is still
/// the stored one: then only its head is read (one small GET, against one
/// LIST of every part), and `known` is returned as it is. Parts are never
/// changed in place, and any write replaces the head, so an unchanged head
/// `resourceVersion` means unchanged parts.
pub async fn load_since(
    cluster: &Cluster,
    namespace: &str,
    sync: &str,
    known: Option<Stored>,
) -> Result<Stored> {
    let Some(known) = known.filter(|k| k.complete) else {
        return load(cluster, namespace, sync).await;
    };
    let Some(known_head) = &known.version.head else {
        return load(cluster, namespace, sync).await;
    };
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    let head = api
        .get_opt(&head_name(sync))
        .await
        .map_err(|e| request_error(sync, &format!("reading its head in {namespace}"), &e))?;
    let unchanged = head.is_some_and(|head| {
        head.metadata.resource_version.as_deref() == Some(known_head.resource_version.as_str())
    });
    if unchanged {
        Ok(known)
    } else {
        load(cluster, namespace, sync).await
    }
}

/// Read a sync's inventory (one LIST); empty and incomplete if it has none.
pub async fn load(cluster: &Cluster, namespace: &str, sync: &str) -> Result<Stored> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    let listed = match api
        .list(&ListParams::default().labels(&format!("{INVENTORY_LABEL}={sync}")))
        .await
    {
        Ok(listed) => listed.items,
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => {
            return Err(request_error(
                sync,
                &format!("listing it in {namespace}"),
                &e,
            ))
        }
    };
    let mut by_name: BTreeMap<String, ConfigMap> = listed
        .into_iter()
        .map(|cm| (cm.metadata.name.clone().unwrap_or_default(), cm))
        .collect();
    match by_name.remove(&head_name(sync)) {
        Some(head) => read_parts(sync, &head, &by_name),
        None => read_legacy(by_name.values()),
    }
    .map_err(|message| inventory_error(sync, message))
}

/// Read the parts a head names; a missing or corrupt part makes the
/// inventory incomplete. An unreadable head is an error.
fn read_parts(
    sync: &str,
    head: &ConfigMap,
    parts: &BTreeMap<String, ConfigMap>,
) -> Result<Stored, String> {
    let text = data(head, HEAD_KEY).ok_or("the head has no head.json")?;
    let content: Head = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut stored = Stored {
        inventory: Inventory::default(),
        complete: true,
        version: Version {
            head: Some(StoredHead {
                resource_version: head.metadata.resource_version.clone().unwrap_or_default(),
                head: content.clone(),
            }),
        },
    };
    // Parts are checked and parsed on every core: a sync of 10,000 objects
    // has some 30 of them.
    let read = crate::parallel::map(&content.parts, |name| {
        parts
            .get(name)
            .and_then(|part| data(part, DATA_KEY))
            .filter(|text| part_name(sync, text) == *name)
            .and_then(|text| serde_json::from_str::<Inventory>(text).ok())
    });
    for (name, part) in content.parts.iter().zip(read) {
        match part {
            Some(part) => stored.inventory.entries.extend(part.entries),
            None => {
                tracing::warn!(%sync, part = %name, "inventory part missing or corrupt");
                stored.complete = false;
            }
        }
    }
    Ok(stored)
}

/// Read an inventory written before heads existed: every labelled part.
fn read_legacy<'a>(parts: impl Iterator<Item = &'a ConfigMap>) -> Result<Stored, String> {
    let mut stored = Stored::default();
    for part in parts {
        let text = data(part, DATA_KEY).ok_or("a part has no inventory.json")?;
        let part: Inventory = serde_json::from_str(text).map_err(|e| e.to_string())?;
        stored.inventory.entries.extend(part.entries);
        stored.complete = true;
    }
    Ok(stored)
}

fn data<'a>(config_map: &'a ConfigMap, key: &str) -> Option<&'a str> {
    config_map.data.as_ref()?.get(key).map(String::as_str)
}

/// Write a sync's inventory over `previous` (the [`Stored::version`]
/// [`load`] returned, or what the last `save` returned): create the changed
/// parts, replace the head if nobody else did since, delete the parts no
/// longer named. Creates the namespace if needed. Returns the version a
/// later write goes over. Does nothing in dry-run mode.
pub async fn save(
    cluster: &Cluster,
    namespace: &str,
    sync: &str,
    previous: &Version,
    inventory: &Inventory,
) -> Result<Version> {
    if cluster.options().dry_run {
        return Ok(previous.clone());
    }
    ensure_namespace(cluster, namespace)
        .await
        .map_err(|e| inventory_error(sync, format!("writing it in namespace {namespace}: {e}")))?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    let old = previous.head.as_ref().map(|h| &h.head);
    let buckets = buckets_for(inventory, old.map_or(1, |h| h.buckets));
    let parts = split(sync, inventory, buckets);
    for part in parts
        .iter()
        .filter(|p| old.is_none_or(|h| !h.parts.contains(&p.name)))
    {
        create_part(&api, namespace, sync, part).await?;
    }
    let head = Head {
        buckets,
        parts: parts.iter().map(|p| p.name.clone()).collect(),
    };
    let resource_version = write_head(&api, namespace, sync, previous.head.as_ref(), &head).await?;
    delete_unnamed(&api, sync, &head).await;
    Ok(Version {
        head: Some(StoredHead {
            head,
            resource_version,
        }),
    })
}

/// Create an immutable part; one that exists already has the same content
/// (its name is its digest).
async fn create_part(api: &Api<ConfigMap>, namespace: &str, sync: &str, part: &Part) -> Result<()> {
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": part.name, "namespace": namespace,
                     "labels": {INVENTORY_LABEL: sync}},
        "immutable": true,
        "data": {DATA_KEY: part.text},
    }))
    .map_err(|e| inventory_error(sync, e))?;
    match api.create(&PostParams::default(), &config_map).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => {
            let doing = format!("writing its part {} in {namespace}", part.name);
            Err(request_error(sync, &doing, &e))
        }
    }
}

/// Create the head, or replace it if its `resourceVersion` is still the one
/// read; returns the new `resourceVersion`. A conflict means another writer
/// got there first.
async fn write_head(
    api: &Api<ConfigMap>,
    namespace: &str,
    sync: &str,
    previous: Option<&StoredHead>,
    head: &Head,
) -> Result<String> {
    let name = head_name(sync);
    let text = serde_json::to_string(head).map_err(|e| inventory_error(sync, e))?;
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {INVENTORY_LABEL: sync},
                     "resourceVersion": previous.map(|p| &p.resource_version)},
        "data": {HEAD_KEY: text},
    }))
    .map_err(|e| inventory_error(sync, e))?;
    let written = match previous {
        Some(_) => {
            api.replace(&name, &PostParams::default(), &config_map)
                .await
        }
        None => api.create(&PostParams::default(), &config_map).await,
    };
    match written {
        Ok(written) => Ok(written.metadata.resource_version.unwrap_or_default()),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(inventory_error(
            sync,
            "changed by another writer since it was read; the next reconcile retries",
        )),
        Err(e) => Err(request_error(
            sync,
            &format!("writing its head {name} in {namespace}"),
            &e,
        )),
    }
}

/// Delete the sync's inventory ConfigMaps that the head does not name
/// (replaced parts, parts of an interrupted write, a pre-head inventory).
/// A failure only leaves garbage for the next write, so it is logged.
async fn delete_unnamed(api: &Api<ConfigMap>, sync: &str, head: &Head) {
    let listed = match api
        .list(&ListParams::default().labels(&format!("{INVENTORY_LABEL}={sync}")))
        .await
    {
        Ok(listed) => listed.items,
        Err(error) => {
            tracing::warn!(%sync, %error, "listing inventory parts to delete");
            return;
        }
    };
    for config_map in listed {
        let name = config_map.metadata.name.unwrap_or_default();
        if name == head_name(sync) || head.parts.contains(&name) {
            continue;
        }
        if let Err(error) = api.delete(&name, &DeleteParams::default()).await {
            tracing::warn!(%sync, part = %name, %error, "deleting a replaced inventory part");
        }
    }
}

/// Create the inventory namespace if it is missing. An identity that may
/// not read namespaces (a sync's service account with rights on the
/// inventory ConfigMaps only) takes it as existing; writing the ConfigMaps
/// says clearly if it does not.
async fn ensure_namespace(cluster: &Cluster, namespace: &str) -> Result<()> {
    let key = ObjectKey {
        group: String::new(),
        kind: "Namespace".into(),
        namespace: None,
        name: namespace.to_owned(),
    };
    let found = match cluster.get(&key, "v1").await {
        Err(Error::Rejected { code: 403, .. }) => return Ok(()),
        found => found?,
    };
    if found.is_none() {
        let object =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
        cluster.apply_one(&object).await?;
    }
    Ok(())
}

/// The name of a part with this text: its digest.
fn part_name(sync: &str, text: &str) -> String {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    format!("plumbline-inventory-{sync}-{}", &digest[..12])
}

/// The bucket of an object key among `buckets`.
fn bucket(key: &ObjectKey, buckets: usize) -> usize {
    let text = serde_json::to_string(key).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The remainder is below `buckets`, a usize.
    #[allow(clippy::cast_possible_truncation)]
    let index = (u64::from_be_bytes(first) % buckets as u64) as usize;
    index
}

/// The entries split into `buckets` hash buckets.
fn bucketed(inventory: &Inventory, buckets: usize) -> Vec<Inventory> {
    let mut parts = vec![Inventory::default(); buckets];
    for (key, entry) in &inventory.entries {
        parts[bucket(key, buckets)]
            .entries
            .insert(key.clone(), entry.clone());
    }
    parts
}

/// The number of buckets to use: at least `at_least`, doubled until every
/// bucket's JSON fits in a part.
fn buckets_for(inventory: &Inventory, at_least: usize) -> usize {
    let mut buckets = at_least.max(1);
    while buckets < inventory.entries.len()
        && bucketed(inventory, buckets)
            .iter()
            .any(|part| serde_json::to_vec(part).map_or(0, |v| v.len()) > PART_BYTES)
    {
        buckets *= 2;
    }
    buckets
}

/// The parts of an inventory split into `buckets`: one per non-empty
/// bucket, in bucket order.
fn split(sync: &str, inventory: &Inventory, buckets: usize) -> Vec<Part> {
    bucketed(inventory, buckets)
        .into_iter()
        .filter(|part| !part.entries.is_empty())
        .map(|part| {
            let text = serde_json::to_string(&part).unwrap_or_default();
            Part {
                name: part_name(sync, &text),
                text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Entry;

    fn inventory(objects: usize) -> Inventory {
        let mut inventory = Inventory::default();
        for i in 0..objects {
            let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("config-{i}"), "namespace": "shop",
                    "managedFields": [{"manager": "plumbline", "operation": "Apply",
                        "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}}}]},
                "data": {"a": "1", "b": "2", "c": "3"}});
            inventory.entries.insert(
                ObjectKey::of(&object).unwrap(),
                Entry::record(&object, &object, "plumbline"),
            );
        }
        inventory
    }

    #[test]
    fn large_inventories_are_split_under_the_part_size() {
        let inventory = inventory(3000);
        let parts = split("shop", &inventory, buckets_for(&inventory, 1));
        assert!(parts.len() > 1, "expected several parts");
        for part in &parts {
            assert!(part.text.len() <= PART_BYTES);
        }
        let total: usize = parts
            .iter()
            .map(|p| {
                serde_json::from_str::<Inventory>(&p.text)
                    .unwrap()
                    .entries
                    .len()
            })
            .sum();
        assert_eq!(total, 3000);
    }

    #[test]
    fn one_changed_entry_changes_one_part() {
        let before = inventory(3000);
        let mut after = before.clone();
        let first = after.entries.values_mut().next().unwrap();
        first.desired_hash = "changed".into();
        let buckets = buckets_for(&before, 1);
        assert!(buckets > 1);
        let (old, new) = (
            split("shop", &before, buckets),
            split("shop", &after, buckets),
        );
        assert_eq!(old.len(), new.len());
        let changed = old.iter().zip(&new).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 1);
    }

    #[test]
    fn an_empty_inventory_has_no_parts() {
        let empty = Inventory::default();
        assert_eq!(buckets_for(&empty, 1), 1);
        assert_eq!(split("shop", &empty, 1), Vec::new());
    }
}
