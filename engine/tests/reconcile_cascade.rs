//! Cascade protection on the real control plane (etcd + kube-apiserver
//! v1.36, with kube-controller-manager where a Namespace must really go):
//! a deletion that would take objects the sync does not own with it (a
//! Namespace's contents, a CRD's custom resources, a `recreate` of either)
//! is refused unless the sync allows cascading deletes; an object the sync
//! adopted is not pruned unless the sync says so; and `plan` shows what
//! `sync` then does, refusals, unserved kinds and the mass-deletion guard
//! included.

mod reconcile_support;
mod server_support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use plumbline::apply::{inventory_store, Cluster, Options};
use plumbline::object::ObjectKey;
use plumbline::plan::{Action, PlannedObject};
use plumbline::reconcile::desired::Depth;
use plumbline::reconcile::{self, Outcome, Preview, Report, Status, SyncUnit};
use reconcile_support::{all_roles_policy, config_map_in, line, namespace, World};
use serde_json::json;
use server_support::Server;

/// What `plumbline plan` shows for the sync: its desired state planned
/// against the cluster, read-only.
async fn plan(world: &World, unit: &SyncUnit) -> Preview {
    let policies = world.policies(unit);
    let git = world.git_cache().join("git");
    let rendered = world.git_cache().join("rendered");
    let (_, objects) =
        reconcile::load_kept(unit, &policies, &git, &rendered, Depth::Previewed, None).unwrap();
    let read_only = Cluster::new(
        world.client(),
        Options {
            dry_run: true,
            ..Options::default()
        },
    );
    reconcile::preview(unit, objects, Some(&read_only), false)
        .await
        .unwrap()
}

/// The planned object whose key reads `object`.
fn planned<'a>(preview: &'a Preview, object: &str) -> &'a PlannedObject {
    preview
        .planned
        .objects
        .iter()
        .find(|o| o.key.to_string() == object)
        .unwrap_or_else(|| panic!("{object} is not in the plan: {:#?}", preview.planned))
}

fn errors(report: &Report) -> String {
    let messages: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    messages.join("\n")
}

/// Namespaces `shop` (with `keep-1`, `keep-2`) and `team` (with `one`) in
/// Git, synced once, plus a ConfigMap and a Secret in `team` that someone
/// else created.
async fn team_with_foreign_objects(world: &World, extra_spec: &str) -> SyncUnit {
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map_in("shop", "keep-1"))
        .write("keep-2.yaml", &config_map_in("shop", "keep-2"))
        .write("team.yaml", &namespace("team"))
        .write("one.yaml", &config_map_in("team", "one"))
        .commit("shop and team");
    let unit = world.unit(extra_spec);
    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");
    let theirs: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "theirs"},
        "data": {"owner": "someone else"}}))
    .unwrap();
    Api::<ConfigMap>::namespaced(world.client(), "team")
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "their-secret"},
        "stringData": {"token": "not plumbline's"}}))
    .unwrap();
    Api::<Secret>::namespaced(world.client(), "team")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    world
        .repo
        .remove("team.yaml")
        .remove("one.yaml")
        .commit("drop the team namespace");
    unit
}

async fn is_terminating(world: &World, name: &str) -> bool {
    let namespaces: Api<Namespace> = Api::all(world.client());
    namespaces
        .get_opt(name)
        .await
        .unwrap()
        .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some())
}

async fn a_namespace_holding_objects_the_sync_does_not_own_is_not_pruned(server: Server) {
    let world = World::on(server);
    let unit = team_with_foreign_objects(&world, "").await;

    let preview = plan(&world, &unit).await;
    let Action::PruneRefused { reason } = &planned(&preview, "Namespace team").action else {
        panic!("{:#?}", preview.planned);
    };
    for named in [
        "2 object(s)",
        "ConfigMap team/theirs",
        "Secret team/their-secret",
    ] {
        assert!(reason.contains(named), "{named} in {reason}");
    }
    assert!(reason.contains("pruneGuard.allowCascade"), "{reason}");
    assert_eq!(
        planned(&preview, "ConfigMap team/one").action,
        Action::Prune
    );
    assert!(!preview.planned.summary().in_sync());

    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let team = line(&report, "Namespace team");
    assert_eq!(team.outcome, Outcome::Refused, "{report:#?}");
    assert_eq!(team.message.as_deref(), Some(reason.as_str()));
    assert!(
        errors(&report).contains("ConfigMap team/theirs"),
        "{report:#?}"
    );
    assert_eq!(line(&report, "ConfigMap team/one").outcome, Outcome::Pruned);
    assert!(!is_terminating(&world, "team").await);
    let theirs = Api::<ConfigMap>::namespaced(world.client(), "team");
    assert!(theirs.get_opt("theirs").await.unwrap().is_some());

    // Once what is not the sync's is gone, only what every namespace holds
    // (kube-root-ca.crt, the default ServiceAccount) is left, and the
    // namespace is pruned.
    theirs
        .delete("theirs", &DeleteParams::default())
        .await
        .unwrap();
    Api::<Secret>::namespaced(world.client(), "team")
        .delete("their-secret", &DeleteParams::default())
        .await
        .unwrap();
    let preview = plan(&world, &unit).await;
    assert_eq!(planned(&preview, "Namespace team").action, Action::Prune);
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(line(&report, "Namespace team").outcome, Outcome::Pruned);
    assert!(is_terminating(&world, "team").await);
}

async fn allowing_cascades_prunes_the_namespace_and_the_guard_counts_its_contents(server: Server) {
    let world = World::on(server);
    let unit = team_with_foreign_objects(&world, "  pruneGuard: {allowCascade: true}\n").await;

    // 2 of the sync's 5 objects, and 2 it does not own: 4 of 7.
    let preview = plan(&world, &unit).await;
    assert_eq!(planned(&preview, "Namespace team").action, Action::Prune);
    let refused = preview.guard.clone().unwrap_err().to_string();
    assert!(
        refused.contains("2 of 5 objects this sync owns and 2 it does not own"),
        "{refused}"
    );
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    assert!(errors(&report).contains(&refused), "{report:#?}");
    assert!(!is_terminating(&world, "team").await);

    let allowed = world.unit("  pruneGuard: {allowCascade: true, maxShare: 0.9}\n");
    let preview = plan(&world, &allowed).await;
    assert_eq!(preview.guard, Ok(()));
    let report = world.reconcile(&allowed).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(line(&report, "Namespace team").outcome, Outcome::Pruned);
    assert!(is_terminating(&world, "team").await);
}

fn widget_crd() -> String {
    "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n\
     spec:\n  group: example.com\n  scope: Namespaced\n\
     \x20 names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n\
     \x20 versions:\n  - name: v1\n    served: true\n    storage: true\n\
     \x20   schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
        .to_owned()
}

fn widget(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  size: 1\n"
    )
}

fn widgets(world: &World, namespace: &str) -> Api<DynamicObject> {
    let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "example.com",
        "v1",
        "Widget",
    ));
    Api::namespaced_with(world.client(), namespace, &resource)
}

async fn a_crd_whose_resources_include_others_is_not_pruned(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map_in("shop", "keep-1"))
        .write("keep-2.yaml", &config_map_in("shop", "keep-2"))
        .write("keep-3.yaml", &config_map_in("shop", "keep-3"))
        .write("crd.yaml", &widget_crd())
        .write("mine.yaml", &widget("shop", "mine"))
        .commit("a CRD and a widget");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);
    let theirs = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "theirs", "namespace": "default"}, "spec": {"size": 2}}))
    .unwrap();
    widgets(&world, "default")
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();

    world.repo.remove("crd.yaml").commit("drop the CRD");
    let preview = plan(&world, &unit).await;
    let crd = planned(
        &preview,
        "CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
    );
    let Action::PruneRefused { reason } = &crd.action else {
        panic!("{:#?}", preview.planned);
    };
    assert!(
        reason.contains("Widget.example.com default/theirs"),
        "{reason}"
    );
    assert!(
        !reason.contains("shop/mine"),
        "the sync's own widget: {reason}"
    );

    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let line = line(
        &report,
        "CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
    );
    assert_eq!(line.outcome, Outcome::Refused, "{report:#?}");
    let crds: Api<CustomResourceDefinition> = Api::all(world.client());
    let live = crds.get("widgets.example.com").await.unwrap();
    assert!(live.metadata.deletion_timestamp.is_none());
    assert!(widgets(&world, "default")
        .get_opt("theirs")
        .await
        .unwrap()
        .is_some());
}

async fn an_adopted_namespace_that_leaves_git_is_left_in_place(server: Server) {
    let world = World::on(server);
    let legacy: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "legacy"}})).unwrap();
    Api::<Namespace>::all(world.client())
        .create(&PostParams::default(), &legacy)
        .await
        .unwrap();
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map_in("shop", "keep-1"))
        .write("keep-2.yaml", &config_map_in("shop", "keep-2"))
        .write("keep-3.yaml", &config_map_in("shop", "keep-3"))
        .write("legacy.yaml", &namespace("legacy"))
        .commit("declare the legacy namespace too");
    let unit = world.unit("");
    let adopted = world.reconcile(&unit).await;
    assert_eq!(adopted.status, Status::Synced, "{adopted:#?}");
    let stored = inventory_store::load(&world.cluster(), "plumbline-system", "shop")
        .await
        .unwrap();
    let key = |name: &str| ObjectKey {
        group: String::new(),
        kind: "Namespace".into(),
        namespace: None,
        name: name.into(),
    };
    assert!(stored.inventory.entries[&key("legacy")].adopted);
    assert!(!stored.inventory.entries[&key("shop")].adopted);

    world.repo.remove("legacy.yaml").commit("stop declaring it");
    let preview = plan(&world, &unit).await;
    assert_eq!(
        planned(&preview, "Namespace legacy").action,
        Action::KeptAdopted
    );
    for _ in 0..2 {
        let report = world.reconcile(&unit).await;
        assert_eq!(report.status, Status::Synced, "{report:#?}");
        let legacy = line(&report, "Namespace legacy");
        assert_eq!(legacy.outcome, Outcome::AdoptedNotPruned, "{report:#?}");
        assert!(
            legacy
                .message
                .as_deref()
                .unwrap()
                .contains("adopted, not pruned"),
            "{legacy:?}"
        );
        assert!(!is_terminating(&world, "legacy").await);
    }

    let pruning = world.unit("  pruneGuard: {pruneAdopted: true}\n");
    assert_eq!(
        planned(&plan(&world, &pruning).await, "Namespace legacy").action,
        Action::Prune
    );
    let report = world.reconcile(&pruning).await;
    assert_eq!(line(&report, "Namespace legacy").outcome, Outcome::Pruned);
    assert!(is_terminating(&world, "legacy").await);
}

/// `shop` with label `team: a` and ConfigMaps in it, synced with the test
/// policy deciding `recreate` for every drift, then the label edited by
/// someone else: the Namespace drifted.
async fn a_drifted_namespace_a_remediator_recreates(world: &World, extra_spec: &str) -> SyncUnit {
    world
        .repo
        .write(
            "shop.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {team: a}\n",
        )
        .write("keep-1.yaml", &config_map_in("shop", "keep-1"))
        .write("keep-2.yaml", &config_map_in("shop", "keep-2"))
        .commit("shop");
    let unit = world.unit(&format!("{}{extra_spec}", all_roles_policy("recreate")));
    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");
    Api::<Namespace>::all(world.client())
        .patch(
            "shop",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "shop", "labels": {"team": "b"}}})),
        )
        .await
        .unwrap();
    unit
}

async fn a_remediator_cannot_recreate_a_namespace_unless_cascades_are_allowed(server: Server) {
    let world = World::on(server);
    let unit = a_drifted_namespace_a_remediator_recreates(&world, "").await;
    let config_maps = Api::<ConfigMap>::namespaced(world.client(), "shop");
    let before = config_maps.get("keep-1").await.unwrap().metadata.uid;

    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let shop = line(&report, "Namespace shop");
    assert_eq!(shop.outcome, Outcome::Refused, "{report:#?}");
    let message = shop.message.as_deref().unwrap();
    assert!(message.contains("recreate refused"), "{message}");
    assert!(message.contains("pruneGuard.allowCascade"), "{message}");
    assert!(errors(&report).contains("recreate refused"), "{report:#?}");
    assert!(!is_terminating(&world, "shop").await);
    let after = config_maps.get("keep-1").await.unwrap().metadata.uid;
    assert_eq!(before, after);
}

async fn an_allowed_recreate_of_a_namespace_says_what_it_deleted(server: Server) {
    let world = World::on(server);
    // It deletes every object of the sync: only a mass deletion allowed
    // lets it happen (see the next test).
    let unit = a_drifted_namespace_a_remediator_recreates(
        &world,
        "  pruneGuard: {allowCascade: true, allowMassPrune: true}\n",
    )
    .await;
    let namespaces: Api<Namespace> = Api::all(world.client());
    let before = namespaces.get("shop").await.unwrap().metadata.uid;

    let report = world.reconcile(&unit).await;
    let shop = line(&report, "Namespace shop");
    assert_eq!(shop.outcome, Outcome::Recreated, "{report:#?}");
    let message = shop.message.as_deref().unwrap();
    assert!(message.contains("with everything in it"), "{message}");
    let after = namespaces.get("shop").await.unwrap().metadata.uid;
    assert_ne!(before, after);
    // What went with the namespace is said, and the sync's objects in it
    // are back.
    assert_eq!(
        line(&report, "ConfigMap shop/keep-1").outcome,
        Outcome::Created,
        "{report:#?}"
    );
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    let config_maps = Api::<ConfigMap>::namespaced(world.client(), "shop");
    assert!(config_maps.get_opt("keep-1").await.unwrap().is_some());
}

/// Issue 23: a remediator's recreate of a Namespace deletes everything in
/// it; the mass-deletion guard counts that, with what the sync does not own
/// in it, and refuses the recreate like a prune.
async fn an_allowed_recreate_of_a_namespace_counts_against_the_mass_deletion_guard(server: Server) {
    let world = World::on(server);
    let unit =
        a_drifted_namespace_a_remediator_recreates(&world, "  pruneGuard: {allowCascade: true}\n")
            .await;
    let theirs: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "theirs"}})).unwrap();
    let config_maps = Api::<ConfigMap>::namespaced(world.client(), "shop");
    config_maps
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(world.client());
    let before = namespaces.get("shop").await.unwrap().metadata.uid;

    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let shop = line(&report, "Namespace shop");
    assert_eq!(shop.outcome, Outcome::Refused, "{report:#?}");
    let refused = errors(&report);
    assert!(
        refused.contains("refusing to prune 3 of 3 objects this sync owns and 1 it does not own"),
        "{refused}"
    );
    assert!(refused.contains("recreate of a Namespace"), "{refused}");
    assert!(
        refused.contains("spec.pruneGuard.allowMassPrune: true"),
        "{refused}"
    );
    assert!(!is_terminating(&world, "shop").await);
    assert_eq!(namespaces.get("shop").await.unwrap().metadata.uid, before);
    assert!(config_maps.get_opt("theirs").await.unwrap().is_some());
}

/// A client of `world`'s server that, on its first apply of ConfigMap
/// `shop/keep-1` (in the apply stages: after the prunes were decided,
/// before they run), has an administrator create ConfigMap `late` in
/// namespace `team`.
fn creating_late_in_team_on_apply(world: &World) -> kube::Client {
    use std::sync::atomic::{AtomicBool, Ordering};
    let admin = Api::<ConfigMap>::namespaced(world.client(), "team");
    let created = std::sync::Arc::new(AtomicBool::new(false));
    let layer =
        tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
            let applying = request.method() == http::Method::PATCH
                && request
                    .uri()
                    .path()
                    .ends_with("/namespaces/shop/configmaps/keep-1");
            if applying && !created.swap(true, Ordering::SeqCst) {
                let late: ConfigMap =
                    serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap();
                let params = PostParams::default();
                let create = admin.create(&params, &late);
                tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(create))
                    .unwrap();
            }
            request
        });
    kube::client::ClientBuilder::try_from(world.server.config())
        .unwrap()
        .with_layer(&layer)
        .build()
}

/// Issue 23: an object created in a Namespace after its prune was decided
/// (while the sync applies) is seen: the Namespace is listed again right
/// before its DELETE, and the prune is refused.
async fn an_object_created_in_a_namespace_while_the_sync_applies_refuses_its_prune(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map_in("shop", "keep-1"))
        .write("keep-2.yaml", &config_map_in("shop", "keep-2"))
        .write("team.yaml", &namespace("team"))
        .write("one.yaml", &config_map_in("team", "one"))
        .commit("shop and team");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);
    let changed =
        config_map_in("shop", "keep-1").replace("\ndata:\n", "\ndata:\n  changed: \"yes\"\n");
    assert_ne!(changed, config_map_in("shop", "keep-1"));
    world
        .repo
        .write("keep-1.yaml", &changed)
        .remove("team.yaml")
        .remove("one.yaml")
        .commit("change keep-1, drop the team namespace");
    assert_eq!(
        planned(&plan(&world, &unit).await, "Namespace team").action,
        Action::Prune
    );

    let cluster = Cluster::new(creating_late_in_team_on_apply(&world), Options::default());
    let policies = world.policies(&unit);
    let report =
        reconcile::reconcile(&unit, &policies, &cluster, &world.git_cache().join("git")).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let keep = line(&report, "ConfigMap shop/keep-1");
    assert_eq!(keep.outcome, Outcome::Updated, "{report:#?}");
    let team = line(&report, "Namespace team");
    assert_eq!(team.outcome, Outcome::Refused, "{report:#?}");
    let message = team.message.as_deref().unwrap();
    assert!(message.contains("ConfigMap team/late"), "{message}");
    assert_eq!(report.errors[0].error().reason(), "CascadeRefused");
    assert!(!is_terminating(&world, "team").await);
    let late = Api::<ConfigMap>::namespaced(world.client(), "team");
    assert!(late.get_opt("late").await.unwrap().is_some());
}

/// CRD `widgets.example.com`, applied by the test, served as `served` says.
async fn served_widget_crd(client: &kube::Client, served: bool) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd: serde_json::Value = serde_yaml::from_str(&widget_crd()).unwrap();
    crd["spec"]["versions"][0]["served"] = json!(served);
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("test").force(),
        &Patch::Apply(crd),
    )
    .await
    .unwrap();
    for _ in 0..300 {
        let listed = client
            .list_api_group_resources("example.com/v1")
            .await
            .is_ok_and(|list| list.resources.iter().any(|r| r.kind == "Widget"));
        if listed == served {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("discovery never showed Widget served: {served}");
}

async fn plan_shows_an_unserved_kind_as_sync_reports_it(server: Server) {
    let world = World::on(server);
    served_widget_crd(&world.client(), true).await;
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("keep-1.yaml", &config_map_in("shop", "keep-1"))
        .write("keep-2.yaml", &config_map_in("shop", "keep-2"))
        .write("widget.yaml", &widget("shop", "w"))
        .commit("a widget");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);

    served_widget_crd(&world.client(), false).await;
    world.repo.remove("widget.yaml").commit("drop the widget");
    let preview = plan(&world, &unit).await;
    assert_eq!(
        planned(&preview, "Widget.example.com shop/w").action,
        Action::Unserved
    );
    assert_eq!(preview.planned.summary().unserved, 1);
    let report = world.reconcile(&unit).await;
    assert_eq!(
        line(&report, "Widget.example.com shop/w").outcome,
        Outcome::Unserved,
        "{report:#?}"
    );
    assert_eq!(report.summary, preview.planned.summary());
}

async fn plan_shows_the_mass_deletion_guard_that_sync_trips(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("shop.yaml", &namespace("shop"))
        .write("one.yaml", &config_map_in("shop", "one"))
        .write("two.yaml", &config_map_in("shop", "two"))
        .write("three.yaml", &config_map_in("shop", "three"))
        .commit("shop");
    let unit = world.unit("");
    assert_eq!(world.reconcile(&unit).await.status, Status::Synced);

    world
        .repo
        .remove("one.yaml")
        .remove("two.yaml")
        .remove("three.yaml")
        .commit("drop most of it");
    let preview = plan(&world, &unit).await;
    let refused = preview.guard.clone().unwrap_err().to_string();
    assert!(refused.contains("refusing to prune 3 of 4"), "{refused}");
    assert!(
        refused.contains("spec.pruneGuard.allowMassPrune: true"),
        "{refused}"
    );
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    assert_eq!(errors(&report), refused);
    assert_eq!(report.summary, preview.planned.summary());
}

on_real_server_with_controllers!(
    a_namespace_holding_objects_the_sync_does_not_own_is_not_pruned,
    allowing_cascades_prunes_the_namespace_and_the_guard_counts_its_contents,
    a_remediator_cannot_recreate_a_namespace_unless_cascades_are_allowed,
    an_allowed_recreate_of_a_namespace_says_what_it_deleted,
    an_allowed_recreate_of_a_namespace_counts_against_the_mass_deletion_guard,
);

on_real_server!(
    an_object_created_in_a_namespace_while_the_sync_applies_refuses_its_prune,
    a_crd_whose_resources_include_others_is_not_pruned,
    an_adopted_namespace_that_leaves_git_is_left_in_place,
    plan_shows_an_unserved_kind_as_sync_reports_it,
    plan_shows_the_mass_deletion_guard_that_sync_trips,
);
