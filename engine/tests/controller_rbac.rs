//! RBAC for real, on the real control plane only (the emulator has no
//! authorization): the controller runs with its own service account's token
//! and nothing but the roles `plumbline install` grants, and a SyncUnit that
//! names a `serviceAccountName` applies with that account's rights alone.

mod controller_support;
mod reconcile_support;
mod server_support;

use controller_support::{condition, config_map, is_ready, mode, ready_message, spec_for, Fixture};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use plumbline::apply::{Cluster, Options as ApplyOptions};
use plumbline::controller::crd::SyncUnit;
use plumbline::controller::install;
use serde_json::{json, Value};
use server_support::Server;

const CONTROLLER_NAMESPACE: &str = "plumbline-system";

/// A fixture on a real server with everything `plumbline install` applies
/// except the workloads (no kubelet would run them), and a controller
/// configuration authenticated by the controller service account's token.
async fn installed() -> Option<(Fixture, kube::Config)> {
    let server = Server::real().await?;
    let fixture = Fixture::on(server).await;
    let manifests: Vec<Value> = install::manifests(&install::Options::default())
        .into_iter()
        .filter(|o| !matches!(o["kind"].as_str(), Some("Deployment" | "Service")))
        .collect();
    let cluster = Cluster::new(fixture.client(), ApplyOptions::default());
    install::apply(&cluster, &manifests).await.unwrap();
    let config = fixture
        .world
        .server
        .control_plane()
        .config_for_service_account(CONTROLLER_NAMESPACE, install::NAME)
        .await
        .unwrap();
    Some((fixture, config))
}

async fn apply_as_admin(fixture: &Fixture, objects: &[Value]) {
    let cluster = Cluster::new(fixture.client(), ApplyOptions::default());
    for object in objects {
        cluster.apply_one(object).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_needs_nothing_beyond_its_installed_roles() {
    let Some((fixture, config)) = installed().await else {
        return;
    };
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("app");
    let client = kube::Client::try_from(config.clone()).unwrap();
    let running = fixture.start_as(client, config, |_| {});
    let url = fixture.world.repo.url();
    fixture
        .put_sync_unit(
            "team",
            "shop",
            spec_for(&url, "app", json!({"selfHeal": true})),
        )
        .await;
    fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;

    // The drift watch (list/watch of every kind), the reapply and the
    // status write all run as the controller's service account.
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    config_maps
        .patch(
            "settings",
            &edit,
            &Patch::Merge(json!({"data": {"mode": "slow"}})),
        )
        .await
        .unwrap();
    fixture
        .wait_for_object(&config_maps, "settings", "remediated", |o| {
            mode(o) == Some("fast")
        })
        .await;
    let events = fixture.events("team", "shop").await;
    assert!(!events.is_empty(), "the controller records Events");

    // Deleting the SyncUnit prunes through the finalizer.
    let units: Api<SyncUnit> = Api::namespaced(fixture.client(), "team");
    units.delete("shop", &Default::default()).await.unwrap();
    fixture
        .wait_for_object(&units, "shop", "deleted", |o| o.is_none())
        .await;
    assert!(config_maps.get_opt("settings").await.unwrap().is_none());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impersonated_service_account_applies_in_its_namespace_only() {
    let Some((fixture, config)) = installed().await else {
        return;
    };
    // Service account `deployer` may do anything in `team-a` and write its
    // inventory (the installed `plumbline-inventory` role), and nothing
    // else.
    fixture.ensure_namespace("team-a").await;
    apply_as_admin(
        &fixture,
        &[
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "deployer", "namespace": "team-a"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "everything", "namespace": "team-a"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "deployer-everything", "namespace": "team-a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "everything"},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team-a"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "deployer-inventory", "namespace": CONTROLLER_NAMESPACE},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "plumbline-inventory"},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team-a"}]}),
        ],
    )
    .await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("app");
    let client = kube::Client::try_from(config.clone()).unwrap();
    let running = fixture.start_as(client, config, |_| {});
    let url = fixture.world.repo.url();
    let as_deployer = |target: &str| {
        spec_for(
            &url,
            "app",
            json!({"serviceAccountName": "deployer", "targetNamespace": target}),
        )
    };

    fixture
        .put_sync_unit("team-a", "inside", as_deployer("team-a"))
        .await;
    fixture
        .wait_for_unit("team-a", "inside", "Ready", is_ready)
        .await;
    let inside: Api<ConfigMap> = Api::namespaced(fixture.client(), "team-a");
    assert!(inside.get_opt("settings").await.unwrap().is_some());

    fixture
        .put_sync_unit("team-a", "outside", as_deployer("shop"))
        .await;
    let refused = fixture
        .wait_for_unit("team-a", "outside", "refused", |u| {
            condition(u, "Ready")
                .is_some_and(|(status, reason)| status == "False" && reason != "Progressing")
        })
        .await;
    let message = ready_message(&refused);
    // Refused at the first request outside its rights, naming the account,
    // the kind and the namespace.
    assert!(
        message.contains("403 Forbidden")
            && message.contains("system:serviceaccount:team-a:deployer")
            && message.contains("\"configmaps\"")
            && message.contains("in the namespace \"shop\""),
        "{message}"
    );
    let outside: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    assert!(outside.get_opt("settings").await.unwrap().is_none());
    running.stop().await;
}
