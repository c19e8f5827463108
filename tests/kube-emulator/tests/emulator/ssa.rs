//! Server-side apply: managed fields, conflicts and force, ownership taken by updates, field
//! removal, dry run, no-op applies, and the other patch types.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};

use crate::{apply, start};

fn deployment(replicas: i64, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}
    })
}

fn managers(obj: &DynamicObject) -> Vec<(String, String)> {
    obj.metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn fields_of(obj: &DynamicObject, manager: &str) -> Value {
    let mf = obj
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.manager.as_deref() == Some(manager))
        .expect("manager present");
    mf.fields_v1.as_ref().expect("fieldsV1").0.clone()
}

fn deployments(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::erase::<Deployment>(&());
    Api::namespaced_with(client, "default", &ar)
}

#[tokio::test]
async fn apply_records_fields_v1_without_defaults() {
    let (_e, client) = start().await;
    let api = deployments(client);
    let d = apply(&api, "plumbline", deployment(2, json!({"team": "a"})))
        .await
        .unwrap();
    assert_eq!(
        managers(&d),
        [("plumbline".to_string(), "Apply".to_string())]
    );
    let f = fields_of(&d, "plumbline");
    assert_eq!(f["f:metadata"], json!({"f:labels": {"f:team": {}}}));
    let container = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert_eq!(container["."], json!({}));
    assert!(container["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object());
    assert!(
        f["f:spec"].get("f:strategy").is_none(),
        "defaulted fields are not owned by the applier"
    );
    assert_eq!(
        d.data["spec"]["strategy"]["type"], "RollingUpdate",
        "but they are present"
    );
}

#[tokio::test]
async fn conflict_names_the_other_manager_and_force_takes_ownership() {
    let (_e, client) = start().await;
    let api = deployments(client);
    apply(&api, "plumbline", deployment(2, json!({})))
        .await
        .unwrap();
    // Another actor scales with a plain merge patch (an Update operation).
    let scale = json!({"spec": {"replicas": 5}});
    let edited = api
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(&scale),
        )
        .await
        .unwrap();
    assert_eq!(
        fields_of(&edited, "kubectl-edit"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(
        fields_of(&edited, "plumbline")["f:spec"]
            .get("f:replicas")
            .is_none(),
        "ownership moved to the updater"
    );

    let err = apply(&api, "plumbline", deployment(2, json!({})))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("api error")
    };
    assert_eq!(status.code, 409);
    assert_eq!(status.message, "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas");
    let causes = status.details.unwrap().causes;
    assert_eq!(
        (causes[0].reason.as_str(), causes[0].field.as_str()),
        ("FieldManagerConflict", ".spec.replicas")
    );

    // Same value as the other manager: shared, no conflict.
    let shared = apply(&api, "plumbline", deployment(5, json!({})))
        .await
        .unwrap();
    assert!(fields_of(&shared, "kubectl-edit")["f:spec"]
        .get("f:replicas")
        .is_some());

    let forced = api
        .patch(
            "web",
            &PatchParams::apply("plumbline").force(),
            &Patch::Apply(deployment(2, json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["replicas"], 2);
    assert!(
        !managers(&forced).iter().any(|(m, _)| m == "kubectl-edit"),
        "the updater lost its only field"
    );
}

#[tokio::test]
async fn fields_dropped_from_apply_are_removed_unless_owned_by_others() {
    let (_e, client) = start().await;
    let api = deployments(client);
    apply(
        &api,
        "plumbline",
        deployment(1, json!({"a": "1", "b": "2"})),
    )
    .await
    .unwrap();
    apply(&api, "other", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"b": "2"}}}))
        .await
        .unwrap();
    let d = apply(&api, "plumbline", deployment(1, json!({})))
        .await
        .unwrap();
    assert_eq!(
        d.metadata.labels.unwrap(),
        [("b".to_string(), "2".to_string())].into(),
        "a removed, b kept by other"
    );
}

#[tokio::test]
async fn dry_run_and_no_op_apply_store_nothing() {
    let (e, client) = start().await;
    let api = deployments(client);
    let d = apply(&api, "plumbline", deployment(1, json!({})))
        .await
        .unwrap();
    let rv = d.metadata.resource_version.clone();
    let dry = api
        .patch(
            "web",
            &PatchParams::apply("plumbline").dry_run(),
            &Patch::Apply(deployment(3, json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(dry.data["spec"]["replicas"], 3);
    assert_eq!(api.get("web").await.unwrap().data["spec"]["replicas"], 1);

    let before = e.resource_version();
    let again = apply(&api, "plumbline", deployment(1, json!({})))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version, rv,
        "identical apply changes nothing"
    );
    assert_eq!(e.resource_version(), before);
}

#[tokio::test]
async fn json_and_strategic_patches_record_update_managers() {
    let (_e, client) = start().await;
    let api = deployments(client.clone());
    apply(&api, "plumbline", deployment(1, json!({})))
        .await
        .unwrap();
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1"}]}}}});
    let d = api
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("injector".into()),
                ..Default::default()
            },
            &Patch::Strategic(&smp),
        )
        .await
        .unwrap();
    let names: Vec<&str> = d.data["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["nginx", "sidecar"],
        "strategic merge patch merges containers by name"
    );
    assert!(
        fields_of(&d, "injector")["f:spec"]["f:template"]["f:spec"]["f:containers"]
            ["k:{\"name\":\"sidecar\"}"]
            .is_object()
    );

    let ops = json!([{"op": "test", "path": "/spec/replicas", "value": 1}, {"op": "replace", "path": "/spec/replicas", "value": 7}]);
    let req =
        http::Request::patch("/apis/apps/v1/namespaces/default/deployments/web?fieldManager=ops")
            .header("content-type", "application/json-patch+json")
            .body(serde_json::to_vec(&ops).unwrap())
            .unwrap();
    let d: DynamicObject = client.request(req).await.unwrap();
    assert_eq!(d.data["spec"]["replicas"], 7);
    assert_eq!(fields_of(&d, "ops"), json!({"f:spec": {"f:replicas": {}}}));
}
