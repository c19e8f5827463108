//! Deletion: finalizers, propagation through ownerReferences, namespace deletion.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;

use crate::{code, obj, start};

fn cm(name: &str, extra: serde_json::Value) -> ConfigMap {
    let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    if let Some(m) = extra.as_object() {
        for (k, val) in m {
            v["metadata"][k] = val.clone();
        }
    }
    obj(v)
}

fn owned_by(owner: &ConfigMap) -> serde_json::Value {
    json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner.name_any(), "uid": owner.uid().unwrap()}]})
}

#[tokio::test]
async fn finalizers_hold_objects_terminating_until_removed() {
    let (_e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(
        &PostParams::default(),
        &cm("f", json!({"finalizers": ["example.com/hold"]})),
    )
    .await
    .unwrap();
    let deleted = cms.delete("f", &DeleteParams::default()).await.unwrap();
    let held = deleted.left().expect("object returned while terminating");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(cms
        .get("f")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    cms.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(code(cms.get("f").await.unwrap_err()), 404);
}

#[tokio::test]
async fn propagation_background_orphan_and_foreground() {
    let (_e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let pp = PostParams::default();

    let owner = cms.create(&pp, &cm("owner-bg", json!({}))).await.unwrap();
    cms.create(&pp, &cm("dep-bg", owned_by(&owner)))
        .await
        .unwrap();
    cms.delete("owner-bg", &DeleteParams::background())
        .await
        .unwrap();
    assert_eq!(
        code(cms.get("dep-bg").await.unwrap_err()),
        404,
        "background: dependents collected"
    );

    let owner = cms.create(&pp, &cm("owner-or", json!({}))).await.unwrap();
    cms.create(&pp, &cm("dep-or", owned_by(&owner)))
        .await
        .unwrap();
    cms.delete("owner-or", &DeleteParams::orphan())
        .await
        .unwrap();
    assert_eq!(code(cms.get("owner-or").await.unwrap_err()), 404);
    let orphan = cms.get("dep-or").await.unwrap();
    assert!(
        orphan.metadata.owner_references.is_none(),
        "orphan: ownerReferences removed"
    );

    let owner = cms.create(&pp, &cm("owner-fg", json!({}))).await.unwrap();
    let mut refs = owned_by(&owner);
    refs["finalizers"] = json!(["example.com/hold"]);
    cms.create(&pp, &cm("dep-fg", refs)).await.unwrap();
    cms.delete("owner-fg", &DeleteParams::foreground())
        .await
        .unwrap();
    let waiting = cms.get("owner-fg").await.unwrap();
    assert!(
        waiting
            .finalizers()
            .iter()
            .any(|f| f == "foregroundDeletion"),
        "foreground: owner waits for dependents"
    );
    assert!(cms
        .get("dep-fg")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    cms.patch(
        "dep-fg",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(code(cms.get("dep-fg").await.unwrap_err()), 404);
    assert_eq!(
        code(cms.get("owner-fg").await.unwrap_err()),
        404,
        "owner goes once its dependents are gone"
    );
}

#[tokio::test]
async fn namespace_deletion_removes_its_contents() {
    let (_e, client) = start().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "team");
    cms.create(&PostParams::default(), &cm("plain", json!({})))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &cm("held", json!({"finalizers": ["example.com/hold"]})),
    )
    .await
    .unwrap();

    nss.delete("team", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("team").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert_eq!(code(cms.get("plain").await.unwrap_err()), 404);
    assert_eq!(
        code(
            cms.create(&PostParams::default(), &cm("new", json!({})))
                .await
                .unwrap_err()
        ),
        403
    );

    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(
        code(nss.get("team").await.unwrap_err()),
        404,
        "namespace goes once empty"
    );
}
