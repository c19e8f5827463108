//! Which controller a sync in a registered cluster belongs to, so two
//! controllers (in two management clusters) never apply or prune each
//! other's syncs in a shared target.
//!
//! A sync's name (`<namespace>.<name>` of its SyncUnit) labels its objects
//! and names its inventory; two management clusters with a SyncUnit of the
//! same namespace and name would share both. Before the first reconcile of
//! a sync into a target, the controller **claims** the sync name there: a
//! ConfigMap `plumbline-claim-<sync>` in the inventory namespace whose
//! `controller` key is the controller's identity (the management cluster's
//! `kube-system` namespace uid and the controller's namespace). A sync name
//! claimed by another controller fails with `ClaimedByAnotherController`
//! before anything is read, applied or pruned. The claim is deleted with the
//! sync's inventory when its SyncUnit is deleted.
//!
//! IO: the management cluster's `kube-system` Namespace (once); the claim
//! ConfigMap in the target.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use super::clusters::{Error, Result, Target};

/// The key of the claim ConfigMap naming the controller.
const CONTROLLER_KEY: &str = "controller";

/// The label naming the sync a claim ConfigMap belongs to.
pub const CLAIM_LABEL: &str = "plumbline.dev/claim";

/// The identity of a controller: the uid of its management cluster's
/// `kube-system` Namespace and the controller's namespace.
pub async fn identity(management: &kube::Client, namespace: &str) -> Result<String, kube::Error> {
    let namespaces: Api<Namespace> = Api::all(management.clone());
    let uid = namespaces.get("kube-system").await?.metadata.uid;
    Ok(format!("{}/{namespace}", uid.unwrap_or_default()))
}

/// The name of the claim ConfigMap of `sync`.
pub fn claim_name(sync: &str) -> String {
    format!("plumbline-claim-{sync}")
}

/// Claim `sync` in `target` for controller `me` (in `namespace` of the
/// target): `Ok` when it is unclaimed (it is claimed now) or already ours.
pub async fn claim(target: &Target, namespace: &str, sync: &str, me: &str) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(target.client(), namespace);
    let name = claim_name(sync);
    let unreachable = |doing: &str, e: kube::Error| Error::Unreachable {
        name: target.name().to_owned(),
        message: format!("{doing} claim {namespace}/{name}: {e}"),
    };
    let holder = match api.get_opt(&name).await {
        Ok(found) => found,
        Err(e) => return Err(unreachable("reading the", e)),
    };
    let holder = match holder {
        Some(found) => found,
        None => {
            ensure_namespace(target, namespace).await?;
            let claim: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {CLAIM_LABEL: sync}},
                "data": {CONTROLLER_KEY: me},
            }))
            .expect("a valid ConfigMap");
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => return Ok(()),
                // Claimed meanwhile: by whom?
                Err(kube::Error::Api(status)) if status.code == 409 => api
                    .get(&name)
                    .await
                    .map_err(|e| unreachable("reading the", e))?,
                Err(e) => return Err(unreachable("writing the", e)),
            }
        }
    };
    let by = holder
        .data
        .unwrap_or_default()
        .remove(CONTROLLER_KEY)
        .unwrap_or_default();
    if by == me {
        Ok(())
    } else {
        Err(Error::Claimed {
            name: target.name().to_owned(),
            sync: sync.to_owned(),
            by,
        })
    }
}

/// Give up the claim of `sync` (its SyncUnit was deleted and pruned).
pub async fn release(target: &Target, namespace: &str, sync: &str) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(target.client(), namespace);
    match api
        .delete(&claim_name(sync), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(Error::Unreachable {
            name: target.name().to_owned(),
            message: format!("deleting the claim of {sync}: {e}"),
        }),
    }
}

/// Create `namespace` in the target unless it exists.
async fn ensure_namespace(target: &Target, namespace: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(target.client());
    // Read first: an identity that may not create namespaces (the one
    // `plumbline install --target` makes) finds the installed one.
    if let Ok(Some(_)) = api.get_opt(namespace).await {
        return Ok(());
    }
    let object: Namespace =
        serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("a Namespace");
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(Error::Unreachable {
            name: target.name().to_owned(),
            message: format!("creating namespace {namespace}: {e}"),
        }),
    }
}
