//! The apply stage against an API server (the real control plane and the
//! emulator, see `server_support`), over HTTPS/HTTP through the real
//! `kube::Client`: server-side apply, conflicts, live reads, CRDs appearing
//! at runtime, the inventory store — and the planner fed with what a server
//! really returns.

mod server_support;

use plumbline::apply::{self, inventory_store, Cluster, Options, SYNC_LABEL};
use plumbline::object::ObjectKey;
use plumbline::plan::{self, Action, Entry, Inventory};
use serde_json::{json, Value};
use server_support::{Requests, Server};

fn deployment(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {SYNC_LABEL: "shop"}},
        "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "1000m", "memory": "1024Mi"}}}]}}}})
}

fn namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": "shop", "labels": {SYNC_LABEL: "shop"}}})
}

async fn cluster(server: &Server, options: Options) -> Cluster {
    Cluster::new(server.client(), options)
}

/// Apply `desired` one object after the other (a Namespace before what
/// lives in it) and return the inventory recording it.
async fn sync(cluster: &Cluster, desired: &[Value]) -> Inventory {
    let mut inventory = Inventory::default();
    for object in desired {
        let returned = cluster.apply_one(object).await.expect("apply succeeds");
        let key = ObjectKey::of(object).unwrap();
        inventory
            .entries
            .insert(key, Entry::record(object, &returned, "plumbline"));
    }
    inventory
}

fn wanted(desired: &[Value]) -> Vec<(ObjectKey, String)> {
    desired
        .iter()
        .map(|d| {
            (
                ObjectKey::of(d).unwrap(),
                d["apiVersion"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn normalised_quantities_and_defaults_never_show_as_drift(server: Server) {
    let cluster = cluster(&server, Options::default()).await;
    let desired = [namespace(), deployment(2)];
    let inventory = sync(&cluster, &desired).await;

    let live = cluster.live(&wanted(&desired), "shop").await.unwrap();
    let stored = &live[&ObjectKey::of(&deployment(2)).unwrap()];
    // The server normalised the quantity and added defaults ...
    assert_eq!(
        stored.pointer("/spec/template/spec/containers/0/resources/requests/cpu"),
        Some(&json!("1"))
    );
    assert!(stored.pointer("/spec/revisionHistoryLimit").is_some());
    // ... and none of that is drift.
    let planned = plan::plan(&desired, &live, &inventory, &plan::Options::default());
    assert!(planned.summary().in_sync(), "{:#?}", planned.objects);
}

async fn a_no_change_plan_reads_but_never_writes(server: Server) {
    let cluster = cluster(&server, Options::default()).await;
    let desired = [namespace(), deployment(2)];
    let inventory = sync(&cluster, &desired).await;
    let requests = Requests::default();
    let counted = Cluster::new(server.counting_client(&requests), Options::default());
    // Discovery is cached per cluster; warm it, then count.
    counted.live(&wanted(&desired), "shop").await.unwrap();
    requests.reset();

    let live = counted.live(&wanted(&desired), "shop").await.unwrap();
    let planned = plan::plan(&desired, &live, &inventory, &plan::Options::default());
    assert!(planned.summary().in_sync());
    assert_eq!(requests.writes(), 0, "{requests:?}");
    // One labelled list per kind finds every object: no GET per object.
    assert_eq!(requests.reads(), 2, "{requests:?}");
}

async fn live_objects_are_read_page_by_page(server: Server) {
    let cluster = cluster(&server, Options::default()).await;
    let config_maps: Vec<Value> = (0..1_100)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": format!("c{i:04}"), "namespace": "shop",
                                "labels": {SYNC_LABEL: "shop"}},
                   "data": {"index": i.to_string()}})
        })
        .collect();
    sync(&cluster, &[namespace()]).await;
    for applied in cluster.apply(&config_maps).await {
        applied.result.unwrap();
    }
    let requests = Requests::default();
    let counted = Cluster::new(server.counting_client(&requests), Options::default());
    counted.resolve("v1", "ConfigMap").await.unwrap();
    requests.reset();

    let live = counted.live(&wanted(&config_maps), "shop").await.unwrap();
    assert_eq!(live.len(), 1_100);
    assert_eq!(
        live[&ObjectKey::of(&config_maps[1_099]).unwrap()]["data"]["index"],
        "1099"
    );
    // Three pages of at most 500, and no GET per object.
    assert_eq!(requests.reads(), 3, "{requests:?}");
}

async fn another_managers_edit_is_drift_and_a_conflict_unless_forced(server: Server) {
    let cluster = cluster(&server, Options::default()).await;
    let desired = [namespace(), deployment(2)];
    let inventory = sync(&cluster, &desired).await;

    // Someone scales the Deployment with their own field manager.
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        server.client(),
        "shop",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "apps",
            "v1",
            "Deployment",
        )),
    );
    api.patch(
        "web",
        &kube::api::PatchParams::apply("kubectl").force(),
        &kube::api::Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 5}})),
    )
    .await
    .unwrap();

    let live = cluster.live(&wanted(&desired), "shop").await.unwrap();
    // Planned as the sync that applied it ("shop"), so its objects are its own.
    let options = plan::Options {
        sync: "shop".to_owned(),
        ..plan::Options::default()
    };
    let planned = plan::plan(&desired, &live, &inventory, &options);
    let web = planned
        .objects
        .iter()
        .find(|o| o.key.name == "web")
        .unwrap();
    let Action::Drifted(drift) = &web.action else {
        panic!("expected drift, got {:?}", web.action)
    };
    assert_eq!(drift.changes.len(), 1, "{drift:?}");
    assert_eq!(drift.changes[0].path.to_string(), "spec.replicas");
    assert_eq!(drift.changes[0].live, Some(json!(5)));
    assert_eq!(drift.changes[0].taken_over_by, ["kubectl"]);

    // Re-applying without force is a conflict that names the other manager.
    let error = cluster.apply_one(&deployment(2)).await.unwrap_err();
    assert!(matches!(error, apply::Error::Conflict { .. }), "{error}");
    assert!(error.to_string().contains("kubectl"), "{error}");

    // Forced, Plumbline takes the field back.
    let forced = Cluster::new(
        server.client(),
        Options {
            force_conflicts: true,
            ..Options::default()
        },
    );
    let returned = forced.apply_one(&deployment(2)).await.unwrap();
    assert_eq!(returned.pointer("/spec/replicas"), Some(&json!(2)));
}

async fn custom_kinds_resolve_once_their_crd_is_established(server: Server) {
    let cluster = cluster(&server, Options::default()).await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 3}});

    let before = cluster.apply_one(&widget).await.unwrap_err();
    assert!(
        matches!(before, apply::Error::UnknownKind { .. }),
        "{before}"
    );
    assert!(before.is_retryable());

    cluster.apply_one(&crd).await.unwrap();
    cluster
        .wait_ready(&ObjectKey::of(&crd).unwrap(), "apiextensions.k8s.io/v1")
        .await
        .unwrap();
    // The API server serves a new kind in discovery shortly after its CRD
    // is Established; until then the apply fails as retryable, as a
    // reconcile's retry would see it.
    let mut attempts = 0;
    let stored = loop {
        cluster.refresh_discovery();
        match cluster.apply_one(&widget).await {
            Err(error @ plumbline::apply::Error::UnknownKind { .. }) if attempts < 100 => {
                assert!(error.is_retryable());
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            result => break result.unwrap(),
        }
    };
    assert_eq!(stored.pointer("/spec/size"), Some(&json!(3)));
    assert!(
        cluster
            .resolve("example.com/v1", "Widget")
            .await
            .unwrap()
            .namespaced
    );
}

async fn dry_run_stores_nothing_and_delete_of_a_missing_object_is_fine(server: Server) {
    let dry = cluster(
        &server,
        Options {
            dry_run: true,
            ..Options::default()
        },
    )
    .await;
    let real = cluster(&server, Options::default()).await;
    let key = ObjectKey::of(&namespace()).unwrap();

    let returned = dry.apply_one(&namespace()).await.unwrap();
    assert_eq!(returned.pointer("/metadata/name"), Some(&json!("shop")));
    assert!(real.get(&key, "v1").await.unwrap().is_none());

    real.delete(&key, "v1", None).await.unwrap();
    real.apply_one(&namespace()).await.unwrap();
    assert!(real.get(&key, "v1").await.unwrap().is_some());
}

async fn the_inventory_survives_a_round_trip_through_config_maps(server: Server) {
    let cluster = cluster(&server, Options::default()).await;
    let inventory = sync(&cluster, &[namespace(), deployment(2)]).await;

    let none = inventory_store::Version::default();
    inventory_store::save(&cluster, "plumbline-system", "shop", &none, &inventory)
        .await
        .unwrap();
    let loaded = inventory_store::load(&cluster, "plumbline-system", "shop")
        .await
        .unwrap();
    assert_eq!(loaded.inventory, inventory);
    assert!(loaded.complete);
    let other = inventory_store::load(&cluster, "plumbline-system", "other")
        .await
        .unwrap();
    assert!(other.inventory.entries.is_empty());
    assert!(!other.complete, "no inventory is an incomplete one");
}

/// The engine's table of built-in cluster-scoped kinds (namespace
/// defaulting, apply order, kustomize) against the API server's own
/// discovery: every kind it serves is listed exactly when it is
/// cluster-scoped.
async fn the_cluster_scoped_table_agrees_with_discovery(server: Server) {
    let discovery = kube::Discovery::new(server.client()).run().await.unwrap();
    let mut cluster_scoped = 0;
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            let served = capabilities.scope == kube::discovery::Scope::Cluster;
            let listed =
                plumbline::object::scope::is_cluster_scoped(&resource.group, &resource.kind);
            assert_eq!(
                listed, served,
                "{}/{} is cluster-scoped: {served}, listed: {listed}",
                resource.group, resource.kind
            );
            cluster_scoped += usize::from(served);
        }
    }
    assert!(cluster_scoped > 20, "{cluster_scoped}");
}

on_both_servers!(
    normalised_quantities_and_defaults_never_show_as_drift,
    a_no_change_plan_reads_but_never_writes,
    another_managers_edit_is_drift_and_a_conflict_unless_forced,
    custom_kinds_resolve_once_their_crd_is_established,
    dry_run_stores_nothing_and_delete_of_a_missing_object_is_fine,
    the_inventory_survives_a_round_trip_through_config_maps,
);

// Discovery is the real server's; the emulator answers a list in one page.
on_real_server!(
    the_cluster_scoped_table_agrees_with_discovery,
    live_objects_are_read_page_by_page,
);
