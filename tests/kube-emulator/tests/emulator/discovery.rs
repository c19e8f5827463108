//! Discovery (legacy and aggregated) and the CRD lifecycle: kinds appear once the CRD is
//! established and disappear when it is deleted.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use serde_json::json;

use crate::{apply, code, obj, start};

#[tokio::test]
async fn builtin_kinds_are_discoverable_both_ways() {
    let (e, client) = start().await;
    let info = client.apiserver_version().await.unwrap();
    assert_eq!(info.major, "1");
    let wanted = [
        ("", "v1", "Namespace", Scope::Cluster),
        ("", "v1", "ConfigMap", Scope::Namespaced),
        ("", "v1", "Secret", Scope::Namespaced),
        ("", "v1", "Service", Scope::Namespaced),
        ("", "v1", "ServiceAccount", Scope::Namespaced),
        ("", "v1", "PersistentVolumeClaim", Scope::Namespaced),
        ("", "v1", "Pod", Scope::Namespaced),
        ("", "v1", "Event", Scope::Namespaced),
        ("apps", "v1", "Deployment", Scope::Namespaced),
        ("apps", "v1", "StatefulSet", Scope::Namespaced),
        ("apps", "v1", "DaemonSet", Scope::Namespaced),
        ("batch", "v1", "Job", Scope::Namespaced),
        ("batch", "v1", "CronJob", Scope::Namespaced),
        ("networking.k8s.io", "v1", "Ingress", Scope::Namespaced),
        (
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            Scope::Namespaced,
        ),
        (
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            Scope::Namespaced,
        ),
        ("policy", "v1", "PodDisruptionBudget", Scope::Namespaced),
        ("rbac.authorization.k8s.io", "v1", "Role", Scope::Namespaced),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            Scope::Namespaced,
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            Scope::Cluster,
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            Scope::Cluster,
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            Scope::Cluster,
        ),
        ("coordination.k8s.io", "v1", "Lease", Scope::Namespaced),
        ("events.k8s.io", "v1", "Event", Scope::Namespaced),
    ];
    let legacy = Discovery::new(client.clone()).run().await.unwrap();
    let aggregated = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    for d in [&legacy, &aggregated] {
        for (g, v, k, scope) in &wanted {
            let (ar, caps) = d
                .resolve_gvk(&GroupVersionKind::gvk(g, v, k))
                .unwrap_or_else(|| panic!("{g}/{v} {k} discoverable"));
            assert_eq!(&caps.scope, scope, "{k}");
            assert_eq!(ar.kind, *k);
        }
    }
    let (deploy, caps) = legacy
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    assert_eq!(deploy.plural, "deployments");
    assert!(caps
        .subresources
        .iter()
        .any(|(sub, _)| sub.plural == "status"));
    assert!(e.requests().discovery >= 4);
}

fn crd(served_v2: bool) -> CustomResourceDefinition {
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    obj(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [
                    {"name": "v1", "served": true, "storage": true, "schema": schema, "subresources": {"status": {}}},
                    {"name": "v2", "served": served_v2, "storage": false, "schema": schema}]}
    }))
}

#[tokio::test]
async fn crd_kinds_appear_when_established_and_disappear_on_delete() {
    let (_e, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let widget = GroupVersionKind::gvk("example.com", "v1", "Widget");
    assert!(Discovery::new(client.clone())
        .run()
        .await
        .unwrap()
        .resolve_gvk(&widget)
        .is_none());

    let created = crds
        .create(&PostParams::default(), &crd(true))
        .await
        .unwrap();
    let conditions = created.status.unwrap().conditions.unwrap();
    assert!(conditions
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True"));

    let discovery = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&widget)
        .expect("Widget served once established");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v2", "Widget"))
        .is_some());
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w = apply(&widgets, "plumbline", json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}))
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    assert_eq!(w.data["spec"]["size"], 3);

    // Serving a version can be switched off by updating the CRD.
    let mut c = crds.get("widgets.example.com").await.unwrap();
    c.spec = crd(false).spec;
    crds.replace("widgets.example.com", &PostParams::default(), &c)
        .await
        .unwrap();
    assert!(Discovery::new(client.clone())
        .run()
        .await
        .unwrap()
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v2", "Widget"))
        .is_none());

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        code(crds.get("widgets.example.com").await.unwrap_err()),
        404
    );
    assert!(Discovery::new(client.clone())
        .run()
        .await
        .unwrap()
        .resolve_gvk(&widget)
        .is_none());
    assert_eq!(
        code(widgets.get("w1").await.unwrap_err()),
        404,
        "custom resources go with their CRD"
    );

    // A typed built-in still works after all that.
    let deps: Api<Deployment> = Api::default_namespaced(client);
    assert!(deps
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn kubeconfig_builds_a_working_client() {
    let (e, _) = start().await;
    let config = kube::Config::from_custom_kubeconfig(e.kubeconfig(), &Default::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    let names: Vec<String> = namespaces
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}
