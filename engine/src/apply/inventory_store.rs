//! Where a sync's inventory lives in the cluster: ConfigMaps named
//! `plumbline-inventory-<sync>-<n>` in an inventory namespace, each holding
//! part of the entries as JSON (a ConfigMap holds at most 1 MiB, so large
//! syncs take several). Labelled `plumbline.dev/inventory=<sync>`.
//!
//! The inventory is written only when it changed, so a reconcile that
//! changes nothing makes no writes.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

use super::{Cluster, Error, Result};
use crate::object::ObjectKey;
use crate::plan::Inventory;

/// The label naming the sync an inventory ConfigMap belongs to.
pub const INVENTORY_LABEL: &str = "plumbline.dev/inventory";

/// Bytes of JSON per ConfigMap, well under the 1 MiB object limit.
const SHARD_BYTES: usize = 512 * 1024;

const DATA_KEY: &str = "inventory.json";

fn inventory_error(sync: &str, message: impl std::fmt::Display) -> Error {
    Error::Inventory {
        sync: sync.to_owned(),
        message: message.to_string(),
    }
}

/// Read a sync's inventory; empty if it has none yet.
pub async fn load(cluster: &Cluster, namespace: &str, sync: &str) -> Result<Inventory> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    let listed = match api
        .list(&ListParams::default().labels(&format!("{INVENTORY_LABEL}={sync}")))
        .await
    {
        Ok(listed) => listed,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(Inventory::default()),
        Err(e) => return Err(inventory_error(sync, e)),
    };
    let mut inventory = Inventory::default();
    for shard in listed.items {
        let text = shard
            .data
            .as_ref()
            .and_then(|d| d.get(DATA_KEY))
            .ok_or_else(|| inventory_error(sync, "a shard has no inventory.json"))?;
        let part: Inventory = serde_json::from_str(text).map_err(|e| inventory_error(sync, e))?;
        inventory.entries.extend(part.entries);
    }
    Ok(inventory)
}

/// Write a sync's inventory, replacing what was stored. Creates the
/// namespace if needed. Does nothing in dry-run mode.
pub async fn save(
    cluster: &Cluster,
    namespace: &str,
    sync: &str,
    inventory: &Inventory,
) -> Result<()> {
    if cluster.options().dry_run {
        return Ok(());
    }
    ensure_namespace(cluster, namespace).await?;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    let shards = shard(inventory);
    let params = PatchParams::apply(&cluster.options().field_manager).force();
    for (i, part) in shards.iter().enumerate() {
        let name = format!("plumbline-inventory-{sync}-{i}");
        let text = serde_json::to_string(part).map_err(|e| inventory_error(sync, e))?;
        let config_map = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {INVENTORY_LABEL: sync}},
            "data": {DATA_KEY: text},
        });
        api.patch(&name, &params, &Patch::Apply(&config_map))
            .await
            .map_err(|e| inventory_error(sync, e))?;
    }
    let stale = api
        .list(&ListParams::default().labels(&format!("{INVENTORY_LABEL}={sync}")))
        .await
        .map_err(|e| inventory_error(sync, e))?;
    for config_map in stale.items {
        let name = config_map.metadata.name.unwrap_or_default();
        let index = name
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<usize>().ok());
        if index.is_some_and(|i| i >= shards.len()) {
            api.delete(&name, &DeleteParams::default())
                .await
                .map_err(|e| inventory_error(sync, e))?;
        }
    }
    Ok(())
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

/// Split the entries so that each part's JSON stays under [`SHARD_BYTES`].
/// An empty inventory is one empty part (so the sync is still recorded).
fn shard(inventory: &Inventory) -> Vec<Inventory> {
    let mut parts = vec![Inventory::default()];
    let mut size = 0;
    for (key, entry) in &inventory.entries {
        let entry_size = serde_json::to_vec(entry).map_or(0, |v| v.len()) + 128;
        if size + entry_size > SHARD_BYTES && size > 0 {
            parts.push(Inventory::default());
            size = 0;
        }
        size += entry_size;
        if let Some(part) = parts.last_mut() {
            part.entries.insert(key.clone(), entry.clone());
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Entry;

    #[test]
    fn large_inventories_are_split_under_the_shard_size() {
        let mut inventory = Inventory::default();
        for i in 0..3000 {
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
        let parts = shard(&inventory);
        assert!(parts.len() > 1, "expected several shards");
        for part in &parts {
            assert!(serde_json::to_vec(part).unwrap().len() < SHARD_BYTES + 1024);
        }
        let total: usize = parts.iter().map(|p| p.entries.len()).sum();
        assert_eq!(total, 3000);
    }

    #[test]
    fn an_empty_inventory_is_one_empty_shard() {
        assert_eq!(shard(&Inventory::default()), vec![Inventory::default()]);
    }
}
