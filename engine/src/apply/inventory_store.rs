//! Where a sync's inventory lives in the cluster: ConfigMaps in an
//! inventory namespace, labelled `plumbline.dev/inventory=<sync>`.
//!
//! - **Parts** `plumbline-inventory-<sync>-<digest>`: immutable ConfigMaps,
//!   each holding the entries of one hash bucket of object keys as JSON
//!   (`inventory.json`), named by the first 12 hex digits of the sha256 of
//!   that text. A ConfigMap holds at most 1 MiB, so large syncs have several
//!   buckets.
//! - **Head** `plumbline-inventory-<sync>`: names the parts that make up the
//!   inventory, and the source revision they were applied from
//!   (`head.json`).
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
//! **Interrupted and overlapping writers.** Before a reconcile applies an
//! object its inventory does not hold yet, it adds a [`Marker`] to the head
//! ([`begin_applying`]), with the same `resourceVersion` precondition, and
//! its final write removes it. A head with a marker reads as incomplete, so
//! after a process killed mid-sync, or a sync whose final write lost to a
//! concurrent one, the next reconcile (and `plan`) finds what was applied
//! by the sync's label and field manager, and prunes what is not in Git.
//! A marker of another run is removed only once it is older than
//! [`STALE_AFTER`]: until then that run may still be applying, so every
//! reconcile looks for its objects again.
//!
//! Inventories written before the head existed (`plumbline-inventory-<sync>-<n>`
//! parts only) are still read, and replaced at the next write.
//!
//! The inventory is written only when it changed, so a reconcile that
//! changes nothing makes no writes.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt};
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

/// How long a run's [`Marker`] protects it from being removed by another
/// run's write: a sync still applying after this long has its objects
/// found by their label only until the next reconcile after it.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

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
    /// The marker this run added with [`begin_applying`], which its
    /// [`save`] removes.
    mine: Option<Marker>,
}

impl Version {
    /// Whether runs that may have applied objects the inventory does not
    /// hold are marked in the head: the inventory is then incomplete.
    pub fn is_marked(&self) -> bool {
        self.head
            .as_ref()
            .is_some_and(|h| !h.head.applying.is_empty())
    }
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
    /// The runs that started applying objects the parts may not hold, and
    /// have not written the inventory since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    applying: Vec<Marker>,
    /// The source revision of the inventory ([`Inventory::revision`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
}

/// A run that is applying, or was stopped while applying, objects the
/// inventory may not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Which run: unique to one reconcile of one process.
    pub run: String,
    /// When it started applying, in seconds since the Unix epoch.
    pub started: u64,
}

impl Marker {
    /// A marker for a run starting now.
    fn now() -> Self {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let seed = format!(
            "{host}/{}/{}/{run}",
            std::process::id(),
            since_epoch.as_nanos()
        );
        Marker {
            run: hex::encode(&Sha256::digest(seed.as_bytes())[..8]),
            started: since_epoch.as_secs(),
        }
    }

    /// Whether another run may remove it: it is older than [`STALE_AFTER`].
    fn is_stale(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        now.saturating_sub(self.started) > STALE_AFTER.as_secs()
    }
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
    if !content.applying.is_empty() {
        tracing::warn!(%sync, runs = ?content.applying, "a sync was stopped or overtaken while applying; its objects are found by their label");
    }
    let mut stored = Stored {
        inventory: Inventory {
            revision: content.revision.clone(),
            ..Inventory::default()
        },
        complete: content.applying.is_empty(),
        version: Version {
            head: Some(StoredHead {
                resource_version: head.metadata.resource_version.clone().unwrap_or_default(),
                head: content.clone(),
            }),
            mine: None,
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

/// Mark the head, over `previous` (the [`Stored::version`] [`load`]
/// returned), with a [`Marker`] for this run before it applies objects the
/// inventory does not hold: until this run's [`save`] removes it, the
/// inventory reads as incomplete, so whatever the run applied is found by
/// the sync's label even if the process is killed. Fails, before anything
/// is applied, if another writer changed the head since it was read.
/// Creates the namespace if needed. Does nothing in dry-run mode.
pub async fn begin_applying(
    cluster: &Cluster,
    namespace: &str,
    sync: &str,
    previous: &Version,
) -> Result<Version> {
    if cluster.options().dry_run {
        return Ok(previous.clone());
    }
    ensure_namespace(cluster, namespace).await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    let marker = Marker::now();
    let mut head = previous
        .head
        .as_ref()
        .map(|h| h.head.clone())
        .unwrap_or_default();
    head.applying.push(marker.clone());
    let conflict = "changed by another sync of it since this one read it (it is running, or \
                    has just run): nothing was applied; run this sync again";
    let written = write_head(
        &api,
        namespace,
        sync,
        previous.head.as_ref(),
        &head,
        conflict,
    );
    let resource_version = written.await?;
    Ok(Version {
        head: Some(StoredHead {
            head,
            resource_version,
        }),
        mine: Some(marker),
    })
}

/// Write a sync's inventory over `previous` (the [`Stored::version`]
/// [`load`] returned, or what [`begin_applying`] or the last `save`
/// returned): create the changed parts, replace the head if nobody else did
/// since, delete the parts no longer named. The head keeps the markers of
/// other runs younger than [`STALE_AFTER`]; this run's is removed. If
/// another writer got there first, this run's marker is kept in the head
/// (the objects it applied are found by their label) and the write fails.
/// Creates the namespace if needed. Returns the version a later write goes
/// over. Does nothing in dry-run mode.
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
    // The new parts are created side by side: nothing names them until the
    // head is replaced, after all of them exist.
    let new_parts = parts
        .iter()
        .filter(|p| old.is_none_or(|h| !h.parts.contains(&p.name)));
    futures_util::stream::iter(new_parts)
        .map(|part| create_part(&api, namespace, sync, part))
        .buffer_unordered(cluster.options().concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let mine = previous.mine.as_ref();
    let head = Head {
        buckets,
        parts: parts.iter().map(|p| p.name.clone()).collect(),
        applying: still_applying(old.map(|h| &h.applying[..]).unwrap_or_default(), mine),
        revision: inventory.revision.clone(),
    };
    let conflict = match mine {
        Some(_) => {
            "changed by another sync of it while this one applied: what this one applied \
             is not recorded, and the next sync finds it by the sync's label (and prunes \
             what is not in Git)"
        }
        None => "changed by another writer since it was read; the next reconcile retries",
    };
    let written = write_head(
        &api,
        namespace,
        sync,
        previous.head.as_ref(),
        &head,
        conflict,
    )
    .await;
    let resource_version = match (written, mine) {
        (Ok(resource_version), _) => resource_version,
        (Err(error), Some(marker)) => {
            keep_marked(&api, sync, marker).await;
            return Err(error);
        }
        (Err(error), None) => return Err(error),
    };
    delete_unnamed(&api, sync, &head).await;
    Ok(Version {
        head: Some(StoredHead {
            head,
            resource_version,
        }),
        mine: None,
    })
}

/// The markers a run's final write keeps: those of other runs younger than
/// [`STALE_AFTER`] (they may still be applying); not its own.
fn still_applying(markers: &[Marker], mine: Option<&Marker>) -> Vec<Marker> {
    markers
        .iter()
        .filter(|m| Some(*m) != mine && !m.is_stale())
        .cloned()
        .collect()
}

/// After this run's final write lost to another writer: make sure the head
/// still carries this run's marker (another run removes it only once it is
/// stale), so the objects this run applied stay findable by their label.
/// Failures are logged: the write's own error is what is reported.
async fn keep_marked(api: &Api<ConfigMap>, sync: &str, marker: &Marker) {
    for _ in 0..3 {
        let head = match api.get_opt(&head_name(sync)).await {
            // No head: the inventory reads as lost, and is found by label.
            Ok(None) => return,
            Ok(Some(head)) => head,
            Err(error) => {
                tracing::warn!(%sync, %error, "reading the inventory head to keep this run's marker");
                return;
            }
        };
        let Some(mut content) =
            data(&head, HEAD_KEY).and_then(|text| serde_json::from_str::<Head>(text).ok())
        else {
            return;
        };
        if content.applying.contains(marker) {
            return;
        }
        content.applying.push(marker.clone());
        let mut replaced = head;
        let text = serde_json::to_string(&content).unwrap_or_default();
        replaced.data = Some(BTreeMap::from([(HEAD_KEY.to_owned(), text)]));
        match api
            .replace(&head_name(sync), &PostParams::default(), &replaced)
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => {
                tracing::warn!(%sync, %error, "keeping this run's marker in the inventory head");
                return;
            }
        }
    }
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
/// got there first: the error says `conflict`.
async fn write_head(
    api: &Api<ConfigMap>,
    namespace: &str,
    sync: &str,
    previous: Option<&StoredHead>,
    head: &Head,
    conflict: &str,
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
        Err(kube::Error::Api(status)) if status.code == 409 => Err(inventory_error(sync, conflict)),
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
        .list_metadata(&ListParams::default().labels(&format!("{INVENTORY_LABEL}={sync}")))
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

    fn head(content: &str, parts: &[Part]) -> (ConfigMap, BTreeMap<String, ConfigMap>) {
        let config_map = |name: &str, key: &str, text: &str| -> ConfigMap {
            serde_json::from_value(json!({"metadata": {"name": name, "resourceVersion": "7"},
                                          "data": {key: text}}))
            .unwrap()
        };
        let parts = parts
            .iter()
            .map(|p| (p.name.clone(), config_map(&p.name, DATA_KEY, &p.text)))
            .collect();
        (config_map(&head_name("shop"), HEAD_KEY, content), parts)
    }

    #[test]
    fn a_head_that_marks_a_run_applying_reads_as_incomplete() {
        let parts = split("shop", &inventory(3), 1);
        let names = serde_json::to_string(&[&parts[0].name]).unwrap();
        // A head written before markers existed has no `applying`.
        let (plain, stored) = head(&format!(r#"{{"buckets":1,"parts":{names}}}"#), &parts);
        let read = read_parts("shop", &plain, &stored).unwrap();
        assert!(read.complete && !read.version.is_marked());
        assert_eq!(read.inventory.entries.len(), 3);

        let marked =
            format!(r#"{{"buckets":1,"parts":{names},"applying":[{{"run":"a1","started":1}}]}}"#);
        let (marked, stored) = head(&marked, &parts);
        let read = read_parts("shop", &marked, &stored).unwrap();
        assert!(!read.complete && read.version.is_marked());
        assert_eq!(read.inventory.entries.len(), 3, "the parts are still read");
    }

    #[test]
    fn a_final_write_drops_its_own_marker_and_stale_ones_only() {
        let mine = Marker::now();
        let other = Marker::now();
        assert_ne!(mine.run, other.run);
        let stale = Marker {
            run: "old".into(),
            started: other.started - STALE_AFTER.as_secs() - 1,
        };
        let markers = [mine.clone(), other.clone(), stale];
        assert_eq!(still_applying(&markers, Some(&mine)), markers[1..2]);
        assert_eq!(still_applying(&markers[1..], None), markers[1..2]);
    }

    #[test]
    fn an_empty_inventory_has_no_parts() {
        let empty = Inventory::default();
        assert_eq!(buckets_for(&empty, 1), 1);
        assert_eq!(split("shop", &empty, 1), Vec::new());
    }
}
