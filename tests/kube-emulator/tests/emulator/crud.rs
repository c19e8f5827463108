//! Storage semantics: create/get/update, resourceVersion, uid, generation, status subresource,
//! errors as Status objects, selectors and paging.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{code, obj, start};

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    obj(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
}

fn deployment(name: &str) -> Deployment {
    obj(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}
    }))
}

#[tokio::test]
async fn create_get_conflicts_and_missing() {
    let (_e, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.as_ref().unwrap().parse().unwrap();

    let err = cms
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("api error")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(status.message, "configmaps \"a\" already exists");

    assert_eq!(code(cms.get("missing").await.unwrap_err()), 404);
    let nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "no-such-ns");
    let err = nowhere
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("api error")
    };
    assert_eq!(
        (status.code, status.message.as_str()),
        (404, "namespaces \"no-such-ns\" not found")
    );

    let mut changed = created.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = cms
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = updated
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1, "resourceVersion increases");
    assert_eq!(updated.metadata.uid, created.metadata.uid);
    // `changed` still carries rv1: a stale write.
    let err = cms
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("api error")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn invalid_objects_are_rejected_with_causes() {
    let (_e, client) = start().await;
    let deps: Api<Deployment> = Api::namespaced(client, "default");
    let bad: Deployment = obj(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}),
    );
    let err = deps.create(&PostParams::default(), &bad).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("api error")
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status
            .message
            .starts_with("Deployment.apps \"d\" is invalid"),
        "{}",
        status.message
    );
    let causes = status.details.unwrap().causes;
    for field in ["spec.selector", "spec.template.spec.containers"] {
        assert!(
            causes
                .iter()
                .any(|c| c.field == field && c.reason == "FieldValueRequired"),
            "{field}: {causes:?}"
        );
    }
}

#[tokio::test]
async fn generation_tracks_spec_and_status_is_a_subresource() {
    let (_e, client) = start().await;
    let deps: Api<Deployment> = Api::namespaced(client, "default");
    let d = deps
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));

    let labels = json!({"metadata": {"labels": {"x": "y"}}});
    let d = deps
        .patch("web", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "metadata changes do not bump generation"
    );

    let status = json!({"status": {"replicas": 3, "observedGeneration": 1}});
    let d = deps
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "status changes do not bump generation"
    );
    assert_eq!(d.status.unwrap().replicas, Some(3));

    let main_status = json!({"status": {"replicas": 9}, "spec": {"replicas": 4}});
    let d = deps
        .patch("web", &PatchParams::default(), &Patch::Merge(&main_status))
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );
    assert_eq!(
        d.status.unwrap().replicas,
        Some(3),
        "status ignored on the main resource"
    );
}

#[tokio::test]
async fn selectors_and_paging() {
    let (_e, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "fe" } else { "be" };
        let labels = if i == 6 {
            json!({"app": "x"})
        } else {
            json!({"app": "x", "tier": tier})
        };
        cms.create(&PostParams::default(), &cm(&format!("cm-{i}"), labels))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier=fe"))
                .await
                .unwrap()
        ),
        ["cm-0", "cm-2", "cm-4"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier!=fe,app"))
                .await
                .unwrap()
        ),
        ["cm-1", "cm-3", "cm-5", "cm-6"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier in (be),app=x"))
                .await
                .unwrap()
        ),
        ["cm-1", "cm-3", "cm-5"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier notin (fe,be)"))
                .await
                .unwrap()
        ),
        ["cm-6"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap()
        ),
        ["cm-6"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=cm-3"))
                .await
                .unwrap()
        ),
        ["cm-3"]
    );

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = cms.list(&lp).await.unwrap();
        pages += 1;
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        if pages == 1 {
            assert_eq!(page.metadata.remaining_item_count, Some(4));
        }
        seen.extend(names(page));
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
}
