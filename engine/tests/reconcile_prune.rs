//! Prune safety on the real control plane (etcd + kube-apiserver v1.36):
//! Plumbline deletes only what is provably its own, keeps its inventory
//! whole, and says what it did not delete and why. Each test is one story
//! that used to lose or leak objects.

mod reconcile_support;
mod server_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use plumbline::apply::{inventory_store, Cluster, Options};
use plumbline::controller::cleanup;
use plumbline::object::ObjectKey;
use plumbline::plan::{Entry, Inventory};
use plumbline::reconcile::{self, Outcome, Report, Status, SyncUnit};
use plumbline::spec::SyncConfig;
use reconcile_support::{config_map_in, line, namespace, World};
use serde_json::{json, Value};
use server_support::{Requests, Server};

const INVENTORY_NAMESPACE: &str = "plumbline-system";

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  mode: fast\n")
}

/// A sync named `name` of the repository's `path`.
fn sync_of(world: &World, name: &str, path: &str) -> SyncUnit {
    let text = format!(
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: {name}}}\n\
         spec:\n  source: {{url: \"{}\", ref: {{branch: main}}, path: \"{path}\"}}\n  targetNamespace: shop\n",
        world.repo.url()
    );
    SyncUnit {
        config: SyncConfig::from_yaml(&text, "plumbline.yaml").unwrap(),
        base_dir: PathBuf::from("/"),
        file: "plumbline.yaml".into(),
    }
}

/// `unit`, allowed to take over the objects of sync `owner` (to hand
/// objects over from it).
fn taking_from(owner: &str, mut unit: SyncUnit) -> SyncUnit {
    unit.config.spec.sync.take_over.syncs = vec![owner.to_owned()];
    unit
}

/// A world on the real control plane with namespace `shop` and the
/// ConfigMaps `settings`, `keep-1` and `keep-2` in Git, synced once.
async fn synced_shop(server: Server) -> (World, SyncUnit) {
    let world = World::on(server);
    world
        .repo
        .write("namespace.yaml", &namespace("shop"))
        .write("settings.yaml", &config_map("settings"))
        .write("keep-1.yaml", &config_map("keep-1"))
        .write("keep-2.yaml", &config_map("keep-2"))
        .commit("shop");
    let unit = world.unit("");
    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");
    (world, unit)
}

fn config_maps(world: &World, namespace: &str) -> Api<ConfigMap> {
    Api::namespaced(world.client(), namespace)
}

fn has_line(report: &Report, object: &str) -> bool {
    report.objects.iter().any(|o| o.key.to_string() == object)
}

/// Someone else's ConfigMap `settings` in `shop`, with `labels`.
fn foreign_settings(labels: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": "settings", "labels": labels},
        "data": {"owner": "someone else"}}))
    .unwrap()
}

/// `kubectl delete` then `kubectl create`: the same name, a new uid.
async fn replace_settings(client: kube::Client, labels: Value) -> ConfigMap {
    let api: Api<ConfigMap> = Api::namespaced(client, "shop");
    api.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    api.create(&PostParams::default(), &foreign_settings(labels))
        .await
        .unwrap()
}

async fn an_object_recreated_by_someone_else_is_not_pruned(server: Server) {
    let (world, unit) = synced_shop(server).await;
    let foreign = replace_settings(world.client(), json!({})).await;

    world.repo.remove("settings.yaml").commit("drop settings");
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    let settings = line(&report, "ConfigMap shop/settings");
    assert_eq!(settings.outcome, Outcome::OwnershipChanged, "{report:#?}");
    assert!(
        settings.message.as_deref().unwrap().contains("label"),
        "{settings:?}"
    );
    let live = config_maps(&world, "shop").get("settings").await.unwrap();
    assert_eq!(live.metadata.uid, foreign.metadata.uid);

    // Forgotten: the next reconcile neither touches nor mentions it.
    world.requests.reset();
    let again = world.reconcile(&unit).await;
    assert!(!has_line(&again, "ConfigMap shop/settings"), "{again:#?}");
    assert_eq!(world.requests.deletes(), 0);
}

async fn a_recreated_object_that_copies_the_label_is_not_pruned_either(server: Server) {
    let (world, unit) = synced_shop(server).await;
    replace_settings(world.client(), json!({"plumbline.dev/sync": "shop"})).await;

    world.repo.remove("settings.yaml").commit("drop settings");
    let report = world.reconcile(&unit).await;
    let settings = line(&report, "ConfigMap shop/settings");
    assert_eq!(settings.outcome, Outcome::OwnershipChanged, "{report:#?}");
    assert!(
        settings.message.as_deref().unwrap().contains("uid"),
        "{settings:?}"
    );
    assert!(config_maps(&world, "shop")
        .get_opt("settings")
        .await
        .unwrap()
        .is_some());
}

async fn an_object_handed_to_another_sync_is_not_pruned_by_the_first(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("a/namespace.yaml", &namespace("shop"))
        .write("a/shared.yaml", &config_map("shared"))
        .write("a/keep-1.yaml", &config_map("keep-1"))
        .write("a/keep-2.yaml", &config_map("keep-2"))
        .write("b/own.yaml", &config_map("own"))
        .commit("a owns shared");
    let (a, b) = (
        sync_of(&world, "a", "a"),
        taking_from("a", sync_of(&world, "b", "b")),
    );
    assert_eq!(world.reconcile(&a).await.status, Status::Synced);
    assert_eq!(world.reconcile(&b).await.status, Status::Synced);

    world.repo.remove("a/shared.yaml");
    world
        .repo
        .write("b/shared.yaml", &config_map("shared"))
        .commit("hand shared over to b");
    let adopted = world.reconcile(&b).await;
    assert_eq!(
        line(&adopted, "ConfigMap shop/shared").outcome,
        Outcome::Adopted,
        "{adopted:#?}"
    );
    let handed_over = world.reconcile(&a).await;
    assert_eq!(handed_over.status, Status::Synced, "{handed_over:#?}");
    let shared = line(&handed_over, "ConfigMap shop/shared");
    assert_eq!(shared.outcome, Outcome::OwnershipChanged);
    assert!(
        shared.message.as_deref().unwrap().contains("\"b\""),
        "{shared:?}"
    );
    let live = config_maps(&world, "shop").get("shared").await.unwrap();
    assert_eq!(live.metadata.labels.unwrap()["plumbline.dev/sync"], "b");
    let b_again = world.reconcile(&b).await;
    assert_eq!(
        line(&b_again, "ConfigMap shop/shared").outcome,
        Outcome::Unchanged
    );
}

async fn deleting_a_sync_leaves_what_was_handed_to_another_sync(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("a/namespace.yaml", &namespace("shop"))
        .write("a/shared.yaml", &config_map("shared"))
        .write("a/mine.yaml", &config_map("mine"))
        .commit("a owns shared");
    let a = sync_of(&world, "a", "a");
    world.reconcile(&a).await;
    world.repo.remove("a/shared.yaml");
    world
        .repo
        .write("b/shared.yaml", &config_map("shared"))
        .commit("hand shared over to b");
    world
        .reconcile(&taking_from("a", sync_of(&world, "b", "b")))
        .await;

    let cluster = world.cluster();
    let deleted = cleanup::prune_all(&cluster, INVENTORY_NAMESPACE, "a")
        .await
        .unwrap();
    // `mine` goes; `shared` is b's, so the namespace that holds it stays
    // (deleting it would delete `shared`).
    assert_eq!(deleted, 1);
    let api = config_maps(&world, "shop");
    assert!(api.get_opt("shared").await.unwrap().is_some());
    assert!(api.get_opt("mine").await.unwrap().is_none());
    let namespaces: Api<Namespace> = Api::all(world.client());
    let shop = namespaces.get("shop").await.unwrap();
    assert!(shop.metadata.deletion_timestamp.is_none());
}

/// A client that, just before the first DELETE of ConfigMap `settings`,
/// lets a rival replace it (same name and label, new uid): the race between
/// reading the live state and deleting that the uid precondition closes.
fn client_racing_a_replacement(server: &Server) -> kube::Client {
    let rival = server.config();
    let raced = Arc::new(AtomicBool::new(false));
    let race =
        tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
            let target = request.method() == http::Method::DELETE
                && request.uri().path().ends_with("/configmaps/settings");
            if target && !raced.swap(true, Ordering::SeqCst) {
                let rival = rival.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let client = kube::Client::try_from(rival).unwrap();
                        replace_settings(client, json!({"plumbline.dev/sync": "shop"})).await
                    })
                })
                .join()
                .unwrap();
            }
            request
        });
    kube::client::ClientBuilder::try_from(server.config())
        .unwrap()
        .with_layer(&race)
        .build()
}

async fn a_delete_racing_a_replacement_is_refused_by_the_uid_precondition(server: Server) {
    let (world, unit) = synced_shop(server).await;
    world.repo.remove("settings.yaml").commit("drop settings");

    let cluster = Cluster::new(
        client_racing_a_replacement(&world.server),
        Options::default(),
    );
    let report = reconcile::reconcile(
        &unit,
        &world.policies(&unit),
        &cluster,
        &world.git_cache().join("git"),
    )
    .await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    let settings = line(&report, "ConfigMap shop/settings");
    assert_eq!(settings.outcome, Outcome::OwnershipChanged, "{report:#?}");
    assert!(
        settings.message.as_deref().unwrap().contains("recondition"),
        "{settings:?}"
    );
    let live = config_maps(&world, "shop").get("settings").await.unwrap();
    assert_eq!(live.data.unwrap()["owner"], "someone else");
    // Reported once, not retried forever.
    let again = world.reconcile(&unit).await;
    assert_eq!(again.status, Status::Synced, "{again:#?}");
    assert!(!has_line(&again, "ConfigMap shop/settings"), "{again:#?}");
}

const EVENT_TIME: &str = "2026-01-01T00:00:00.000000Z";

fn event_v1() -> String {
    format!(
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: deployed\n\
         involvedObject: {{apiVersion: v1, kind: ConfigMap, name: keep-1, namespace: shop}}\n\
         reason: Deployed\nmessage: shop deployed\ntype: Normal\naction: Deploy\n\
         eventTime: \"{EVENT_TIME}\"\nreportingComponent: plumbline.dev/test\nreportingInstance: test\n"
    )
}

fn event_events_k8s_io() -> String {
    format!(
        "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: deployed\n\
         regarding: {{apiVersion: v1, kind: ConfigMap, name: keep-1, namespace: shop}}\n\
         reason: Deployed\nnote: shop deployed\ntype: Normal\naction: Deploy\n\
         eventTime: \"{EVENT_TIME}\"\nreportingController: plumbline.dev/test\nreportingInstance: test\n"
    )
}

async fn an_event_served_by_two_groups_does_not_prune_itself(server: Server) {
    let (world, unit) = synced_shop(server).await;
    world
        .repo
        .write("event.yaml", &event_events_k8s_io())
        .commit("an event");
    let created = world.reconcile(&unit).await;
    assert_eq!(created.status, Status::Synced, "{created:#?}");
    let events: Api<DynamicObject> = Api::namespaced_with(
        world.client(),
        "shop",
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
    );
    let uid = events.get("deployed").await.unwrap().metadata.uid;

    world
        .repo
        .write("event.yaml", &event_v1())
        .commit("the event, written as core v1");
    let moved = world.reconcile(&unit).await;
    assert_eq!(moved.status, Status::Synced, "{moved:#?}");
    assert_eq!(moved.count(&Outcome::Pruned), 0, "{moved:#?}");
    assert_eq!(events.get("deployed").await.unwrap().metadata.uid, uid);

    let again = world.reconcile(&unit).await;
    assert_eq!(again.count(&Outcome::Pruned), 0, "{again:#?}");
    assert!(events.get_opt("deployed").await.unwrap().is_some());
}

/// CRD `widgets.example.com` with versions `v1alpha1` and `v1` (storage),
/// each served as `served` says, applied by the test (not by the sync).
async fn widget_crd(client: &kube::Client, served: [bool; 2]) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [
                {"name": "v1alpha1", "served": served[0], "storage": false, "schema": schema},
                {"name": "v1", "served": served[1], "storage": true, "schema": schema}]}});
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("test").force(),
        &Patch::Apply(crd),
    )
    .await
    .unwrap();
    wait_for_discovery(client, served).await;
}

/// Poll until discovery serves exactly the versions `served` says.
async fn wait_for_discovery(client: &kube::Client, served: [bool; 2]) {
    for _ in 0..300 {
        let mut now = [false; 2];
        for (i, version) in ["v1alpha1", "v1"].iter().enumerate() {
            now[i] = client
                .list_api_group_resources(&format!("example.com/{version}"))
                .await
                .is_ok_and(|list| list.resources.iter().any(|r| r.kind == "Widget"));
        }
        if now == served {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("discovery never served {served:?}");
}

fn widget(name: &str, api_version: &str) -> String {
    format!(
        "apiVersion: {api_version}\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  size: 1\n"
    )
}

fn widgets(world: &World) -> Api<DynamicObject> {
    let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "example.com",
        "v1",
        "Widget",
    ));
    Api::namespaced_with(world.client(), "shop", &resource)
}

async fn an_object_of_a_retired_api_version_is_pruned_through_the_served_one(server: Server) {
    let world = World::on(server);
    widget_crd(&world.client(), [true, true]).await;
    world
        .repo
        .write("namespace.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map("keep-1"))
        .write("keep-2.yaml", &config_map("keep-2"))
        .write("widget.yaml", &widget("old", "example.com/v1alpha1"))
        .commit("an old widget");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);

    widget_crd(&world.client(), [false, true]).await;
    world
        .repo
        .remove("widget.yaml")
        .commit("drop the old widget");
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(
        line(&report, "Widget.example.com shop/old").outcome,
        Outcome::Pruned,
        "{report:#?}"
    );
    assert!(widgets(&world).get_opt("old").await.unwrap().is_none());
}

async fn an_object_whose_kind_is_no_longer_served_is_reported_until_it_is_again(server: Server) {
    let world = World::on(server);
    widget_crd(&world.client(), [true, true]).await;
    world
        .repo
        .write("namespace.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map("keep-1"))
        .write("keep-2.yaml", &config_map("keep-2"))
        .write("widget.yaml", &widget("w", "example.com/v1"))
        .commit("a widget");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);

    widget_crd(&world.client(), [false, false]).await;
    world.repo.remove("widget.yaml").commit("drop the widget");
    for _ in 0..2 {
        let report = world.reconcile(&unit).await;
        let widget = line(&report, "Widget.example.com shop/w");
        assert_eq!(widget.outcome, Outcome::Unserved, "{report:#?}");
        assert!(
            widget
                .message
                .as_deref()
                .unwrap()
                .contains("no longer served"),
            "{widget:?}"
        );
    }

    widget_crd(&world.client(), [false, true]).await;
    assert!(widgets(&world).get_opt("w").await.unwrap().is_some());
    let report = world.reconcile(&unit).await;
    assert_eq!(
        line(&report, "Widget.example.com shop/w").outcome,
        Outcome::Pruned,
        "{report:#?}"
    );
    assert!(widgets(&world).get_opt("w").await.unwrap().is_none());
}

/// The inventory ConfigMaps of sync `shop`.
async fn inventory_parts(world: &World) -> Vec<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(world.client(), INVENTORY_NAMESPACE);
    api.list(&ListParams::default().labels("plumbline.dev/inventory=shop"))
        .await
        .unwrap()
        .items
}

async fn a_lost_inventory_falls_back_to_the_label(server: Server) {
    let (world, unit) = synced_shop(server).await;
    let api: Api<ConfigMap> = Api::namespaced(world.client(), INVENTORY_NAMESPACE);
    for part in inventory_parts(&world).await {
        api.delete(&part.metadata.name.unwrap(), &DeleteParams::default())
            .await
            .unwrap();
    }

    world.repo.remove("settings.yaml").commit("drop settings");
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(
        line(&report, "ConfigMap shop/settings").outcome,
        Outcome::Pruned,
        "{report:#?}"
    );
    assert!(config_maps(&world, "shop")
        .get_opt("settings")
        .await
        .unwrap()
        .is_none());
    let stored = inventory_store::load(&world.cluster(), INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();
    assert!(stored.complete);
    assert_eq!(stored.inventory.entries.len(), 3, "{stored:#?}");
}

/// A Service: the endpoints controller copies its labels, the sync's label
/// included, to the Endpoints it creates.
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";

async fn a_lost_inventory_does_not_claim_what_a_controller_copied_the_label_to(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("namespace.yaml", &namespace("shop"))
        .write("service.yaml", SERVICE)
        .write("keep-1.yaml", &config_map("keep-1"))
        .write("keep-2.yaml", &config_map("keep-2"))
        .commit("a service");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);
    let endpoints: Api<k8s_openapi::api::core::v1::Endpoints> =
        Api::namespaced(world.client(), "shop");
    let copied = loop {
        if let Some(found) = endpoints.get_opt("web").await.unwrap() {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        copied.metadata.labels.unwrap()["plumbline.dev/sync"],
        "shop",
        "the endpoints controller copies the Service's labels"
    );
    let api: Api<ConfigMap> = Api::namespaced(world.client(), INVENTORY_NAMESPACE);
    for part in inventory_parts(&world).await {
        api.delete(&part.metadata.name.unwrap(), &DeleteParams::default())
            .await
            .unwrap();
    }

    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(report.count(&Outcome::Pruned), 0, "{report:#?}");
    let stored = inventory_store::load(&world.cluster(), INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();
    assert_eq!(stored.inventory.entries.len(), 4, "{stored:#?}");
}

async fn a_partly_written_inventory_is_detected_and_recovered(server: Server) {
    let (world, unit) = synced_shop(server).await;
    let api: Api<ConfigMap> = Api::namespaced(world.client(), INVENTORY_NAMESPACE);
    let parts: Vec<String> = inventory_parts(&world)
        .await
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .filter(|name| name != "plumbline-inventory-shop")
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    api.delete(&parts[0], &DeleteParams::default())
        .await
        .unwrap();
    let stored = inventory_store::load(&world.cluster(), INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();
    assert!(!stored.complete, "a missing part must be noticed");

    world.repo.remove("settings.yaml").commit("drop settings");
    let report = world.reconcile(&unit).await;
    assert_eq!(
        line(&report, "ConfigMap shop/settings").outcome,
        Outcome::Pruned,
        "{report:#?}"
    );
    let repaired = inventory_store::load(&world.cluster(), INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();
    assert!(repaired.complete);
    assert_eq!(repaired.inventory.entries.len(), 3);
}

/// An inventory of `objects` ConfigMap entries, as an apply would record.
fn large_inventory(objects: usize) -> Inventory {
    let mut inventory = Inventory::default();
    for i in 0..objects {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("config-{i}"), "namespace": "shop", "uid": format!("uid-{i}"),
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

async fn one_changed_object_writes_one_inventory_part(server: Server) {
    let requests = Requests::default();
    let cluster = Cluster::new(server.counting_client(&requests), Options::default());
    let inventory = large_inventory(8000);
    let none = inventory_store::Version::default();
    inventory_store::save(&cluster, INVENTORY_NAMESPACE, "shop", &none, &inventory)
        .await
        .unwrap();
    let stored = inventory_store::load(&cluster, INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();
    assert!(stored.complete);
    assert_eq!(stored.inventory, inventory);
    let api: Api<ConfigMap> = Api::namespaced(server.client(), INVENTORY_NAMESPACE);
    let parts = api
        .list(&ListParams::default().labels("plumbline.dev/inventory=shop"))
        .await
        .unwrap()
        .items
        .len();
    assert!(parts > 4, "{parts} ConfigMaps");

    let mut changed = inventory.clone();
    changed.entries.values_mut().next().unwrap().desired_hash = "changed in Git".into();
    requests.reset();
    inventory_store::save(
        &cluster,
        INVENTORY_NAMESPACE,
        "shop",
        &stored.version,
        &changed,
    )
    .await
    .unwrap();
    // One new part, the head, and the replaced part deleted.
    assert_eq!(requests.writes(), 3, "{requests:?}");
    let reloaded = inventory_store::load(&cluster, INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();
    assert_eq!(reloaded.inventory, changed);
}

async fn a_concurrent_inventory_write_is_refused(server: Server) {
    let cluster = Cluster::new(server.client(), Options::default());
    let none = inventory_store::Version::default();
    let first = large_inventory(2);
    inventory_store::save(&cluster, INVENTORY_NAMESPACE, "shop", &none, &first)
        .await
        .unwrap();
    let read = inventory_store::load(&cluster, INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();

    let mut mine = first.clone();
    mine.entries.pop_first();
    let mut theirs = first.clone();
    theirs.entries.pop_last();
    inventory_store::save(
        &cluster,
        INVENTORY_NAMESPACE,
        "shop",
        &read.version,
        &theirs,
    )
    .await
    .unwrap();
    let refused =
        inventory_store::save(&cluster, INVENTORY_NAMESPACE, "shop", &read.version, &mine)
            .await
            .unwrap_err();
    assert!(refused.to_string().contains("another writer"), "{refused}");
    let stored = inventory_store::load(&cluster, INVENTORY_NAMESPACE, "shop")
        .await
        .unwrap();
    assert_eq!(stored.inventory, theirs);
}

async fn a_terminating_object_is_reported_as_terminating(server: Server) {
    let (world, unit) = synced_shop(server).await;
    let api = config_maps(&world, "shop");
    api.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    api.delete("settings", &DeleteParams::default())
        .await
        .unwrap();

    let report = world.reconcile(&unit).await;
    assert_eq!(
        line(&report, "ConfigMap shop/settings").outcome,
        Outcome::Terminating,
        "{report:#?}"
    );
    assert_eq!(report.summary.terminating, 1);
    assert!(!report.summary.in_sync());

    api.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
}

async fn the_prune_guard_counts_what_a_namespace_takes_with_it(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map("keep-1"))
        .write("keep-2.yaml", &config_map("keep-2"))
        .write("team.yaml", &namespace("team"))
        .write("team-1.yaml", &config_map_in("team", "one"))
        .write("team-2.yaml", &config_map_in("team", "two"))
        .write("team-3.yaml", &config_map_in("team", "three"))
        .commit("two namespaces");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);

    // Only the Namespace leaves Git, but deleting it deletes 3 more.
    world
        .repo
        .remove("team.yaml")
        .commit("drop the team namespace");
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.to_string().contains("refusing to prune 4 of 7")),
        "{report:#?}"
    );
    let namespaces: Api<Namespace> = Api::all(world.client());
    let team = namespaces.get("team").await.unwrap();
    assert!(team.metadata.deletion_timestamp.is_none());
}

fn widget_crd_manifest() -> String {
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n\
     spec:\n  group: example.com\n  scope: Namespaced\n\
     \x20 names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n\
     \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n\
     \x20   schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
        .to_owned()
}

async fn the_prune_guard_counts_the_custom_resources_of_a_pruned_crd(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map("keep-1"))
        .write("keep-2.yaml", &config_map("keep-2"))
        .write("crd.yaml", &widget_crd_manifest())
        .write("w1.yaml", &widget("one", "example.com/v1"))
        .write("w2.yaml", &widget("two", "example.com/v1"))
        .write("w3.yaml", &widget("three", "example.com/v1"))
        .commit("a CRD and its widgets");
    let unit = world.unit("");
    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");

    world.repo.remove("crd.yaml").commit("drop the CRD");
    let report = world.reconcile(&unit).await;
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.to_string().contains("refusing to prune 4 of 7")),
        "{report:#?}"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(world.client());
    let crd = crds.get("widgets.example.com").await.unwrap();
    assert!(crd.metadata.deletion_timestamp.is_none());
    assert!(widgets(&world).get_opt("one").await.unwrap().is_some());
}

on_real_server_with_controllers!(
    a_lost_inventory_does_not_claim_what_a_controller_copied_the_label_to
);

on_real_server!(
    an_object_recreated_by_someone_else_is_not_pruned,
    a_recreated_object_that_copies_the_label_is_not_pruned_either,
    an_object_handed_to_another_sync_is_not_pruned_by_the_first,
    deleting_a_sync_leaves_what_was_handed_to_another_sync,
    a_delete_racing_a_replacement_is_refused_by_the_uid_precondition,
    an_event_served_by_two_groups_does_not_prune_itself,
    an_object_of_a_retired_api_version_is_pruned_through_the_served_one,
    an_object_whose_kind_is_no_longer_served_is_reported_until_it_is_again,
    a_lost_inventory_falls_back_to_the_label,
    a_partly_written_inventory_is_detected_and_recovered,
    one_changed_object_writes_one_inventory_part,
    a_concurrent_inventory_write_is_refused,
    a_terminating_object_is_reported_as_terminating,
    the_prune_guard_counts_what_a_namespace_takes_with_it,
    the_prune_guard_counts_the_custom_resources_of_a_pruned_crd,
);
