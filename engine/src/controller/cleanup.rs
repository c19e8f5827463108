//! Pruning a deleted SyncUnit's objects: what the `plumbline.dev/prune`
//! finalizer runs before it lets the SyncUnit go.
//!
//! In: the cluster (the sync's client), the inventory namespace and the
//! sync's name. Out: how many objects were deleted. IO: reads the
//! inventory and the live objects ([`read_state`]: a lost or partly
//! written inventory falls back to the sync's label), deletes the objects
//! in reverse apply order (the order [`crate::plan::plan`] gives prunes),
//! then the inventory ConfigMaps. Prune's ownership rules hold: only an
//! object that still carries the sync's label and the recorded uid is
//! deleted, with a uid precondition. Cascade protection holds too: an
//! object the sync adopted, and a Namespace or CRD that holds objects the
//! sync does not own, are left in place (and logged). The inventory goes
//! only when every object is gone, so a failed cleanup is retried from the
//! same inventory.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams};

use crate::apply::{self, inventory_store, Cluster};
use crate::plan::{self, Action};
use crate::reconcile::{prune_check, read_state};
use crate::spec::PruneGuard;

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

/// Delete every object in `sync`'s inventory that still exists, carries
/// the sync's label and has the recorded uid (in reverse apply order), then
/// its inventory ConfigMaps. Returns the number of objects deleted.
pub async fn prune_all(cluster: &Cluster, inventory_namespace: &str, sync: &str) -> Result<usize> {
    let stored = inventory_store::load(cluster, inventory_namespace, sync)
        .await
        .map_err(|e| Error::Apply(Box::new(e)))?;
    let state = read_state(cluster, sync, &[], stored)
        .await
        .map_err(|e| Error::Apply(Box::new(e)))?;
    let options = plan::Options {
        field_manager: cluster.options().field_manager.clone(),
        prune: true,
        prune_adopted: false,
        sync: sync.to_owned(),
        ..plan::Options::default()
    };
    let mut planned = plan::plan(&[], &state.live, &state.inventory, &options);
    // Deleting the SyncUnit asks for everything to go: no mass-deletion
    // guard, but nothing that is not the sync's goes with it.
    let guard = PruneGuard {
        allow_mass_prune: true,
        ..PruneGuard::default()
    };
    let no_recreates = std::collections::BTreeSet::new();
    let checked = prune_check::check(cluster, sync, &mut planned, &state, &no_recreates, &guard);
    let _mass_prune_allowed = checked.await.map_err(|e| Error::Apply(Box::new(e)))?;
    let mut deleted = 0;
    for object in &planned.objects {
        match &object.action {
            Action::OwnershipChanged { reason } | Action::PruneRefused { reason } => {
                tracing::info!(%sync, object = %object.key, "not deleted: {reason}");
            }
            Action::KeptAdopted => {
                tracing::info!(%sync, object = %object.key, "not deleted: adopted, not pruned");
            }
            _ => {}
        }
        if object.action != Action::Prune {
            continue;
        }
        let uid = state.live.get(&object.key).and_then(crate::object::uid);
        match cluster.delete(&object.key, &object.api_version, uid).await {
            Ok(()) => deleted += 1,
            Err(error @ apply::Error::OwnershipChanged { .. }) => {
                tracing::info!(%sync, "{error}");
            }
            Err(error) => return Err(Error::Apply(Box::new(error))),
        }
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
