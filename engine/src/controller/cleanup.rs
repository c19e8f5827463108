//! Pruning a deleted SyncUnit's objects: what the `plumbline.dev/prune`
//! finalizer runs before it lets the SyncUnit go.
//!
//! In: the cluster (the sync's client), the inventory namespace and the
//! sync's name. Out: how many objects were deleted. IO: reads the
//! inventory and the live objects, deletes the objects in reverse apply
//! order (the order [`crate::plan::plan`] gives prunes), then the
//! inventory ConfigMaps. The inventory goes only when every object is
//! gone, so a failed cleanup is retried from the same inventory.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams};

use crate::apply::{self, inventory_store, Cluster};
use crate::plan::{self, Action};
use crate::reconcile::live_objects_to_read;

/// Why a cleanup did not finish; the finalizer stays and it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the inventory or live objects, or deleting an object, failed.
    #[error("{0}")]
    Apply(#[source] Box<apply::Error>),
    /// Deleting an inventory ConfigMap failed.
    #[error("deleting inventory ConfigMap {namespace}/{name}: {source}")]
    Inventory {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Listing the inventory ConfigMaps failed.
    #[error("listing the inventory ConfigMaps of {sync}: {source}")]
    ListInventory {
        /// The sync.
        sync: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Delete every object in `sync`'s inventory that still exists and carries
/// the sync's label (in reverse apply order), then its inventory
/// ConfigMaps. Returns the number of objects deleted.
pub async fn prune_all(cluster: &Cluster, inventory_namespace: &str, sync: &str) -> Result<usize> {
    let inventory = inventory_store::load(cluster, inventory_namespace, sync)
        .await
        .map_err(|e| Error::Apply(Box::new(e)))?;
    let live = cluster
        .live(&live_objects_to_read(&[], &inventory), sync)
        .await
        .map_err(|e| Error::Apply(Box::new(e)))?;
    let options = plan::Options {
        field_manager: cluster.options().field_manager.clone(),
        prune: true,
    };
    let planned = plan::plan(&[], &live, &inventory, &options);
    let mut deleted = 0;
    for object in planned.objects.iter().filter(|o| o.action == Action::Prune) {
        cluster
            .delete(&object.key, &object.api_version)
            .await
            .map_err(|e| Error::Apply(Box::new(e)))?;
        deleted += 1;
    }
    delete_inventory(cluster, inventory_namespace, sync).await?;
    Ok(deleted)
}

/// Delete the inventory ConfigMaps of `sync`.
async fn delete_inventory(cluster: &Cluster, namespace: &str, sync: &str) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().clone(), namespace);
    let selector = format!("{}={sync}", inventory_store::INVENTORY_LABEL);
    let listed = match api.list(&ListParams::default().labels(&selector)).await {
        Ok(listed) => listed,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(source) => {
            return Err(Error::ListInventory {
                sync: sync.to_owned(),
                source: Box::new(source),
            })
        }
    };
    for config_map in listed.items {
        let name = config_map.metadata.name.unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(Error::Inventory {
                    namespace: namespace.to_owned(),
                    name,
                    source: Box::new(source),
                })
            }
        }
    }
    Ok(())
}
