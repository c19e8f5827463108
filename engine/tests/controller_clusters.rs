//! One controller, several clusters: SyncUnits with `spec.cluster` sync
//! into registered target clusters (docs/clusters.md). Every test runs real
//! control planes side by side: a management cluster, where the controller
//! reads SyncUnits and writes status and Events, and one or two targets.

mod controller_support;
mod reconcile_support;
mod server_support;

use control_plane::ControlPlane;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use plumbline::controller::crd::SyncUnit;
use serde_json::{json, Value};

use controller_support::{
    apply, config_map, is_ready, mode, mode_of, ready, ready_message, spec_for, Fixture,
};
use server_support::Server;

/// Where the controller lives, its registrations and its inventories.
const CONTROLLER_NAMESPACE: &str = "plumbline-system";

/// The management cluster with the CRDs, and `count` target clusters; `None`
/// when there are no control-plane binaries (and the test is skipped).
async fn fleet(count: usize) -> Option<(Fixture, Vec<ControlPlane>)> {
    let management = Server::real().await?;
    let fixture = Fixture::on(management).await;
    fixture.ensure_namespace(CONTROLLER_NAMESPACE).await;
    let mut targets = Vec::new();
    for _ in 0..count {
        targets.push(ControlPlane::start_or_skip().await?);
    }
    Some((fixture, targets))
}

/// Commit `app/config.yaml` (one ConfigMap) and the common-metadata
/// transformer as `policies/metadata.wasm` to the fixture's repository.
fn commit_app_with_a_transformer(fixture: &Fixture) {
    let wasm = std::fs::read(policy_artifacts::COMMON_METADATA).unwrap();
    let repo = &fixture.world.repo;
    repo.write("app/config.yaml", &config_map("settings", "fast"));
    std::fs::create_dir_all(repo.dir.path().join("policies")).unwrap();
    std::fs::write(repo.dir.path().join("policies/metadata.wasm"), wasm).unwrap();
    repo.commit("app with a transformer");
}

/// Commit `app/config.yaml`: ConfigMap `settings` with mode `fast`.
fn commit_one_config_map(fixture: &Fixture) {
    let repo = &fixture.world.repo;
    repo.write("app/config.yaml", &config_map("settings", "fast"));
    repo.commit("one ConfigMap");
}

/// Drift: another field manager sets ConfigMap `settings` of `config_maps`
/// to mode `edited`.
async fn edit_settings(config_maps: &Api<ConfigMap>) {
    let namespace = config_maps.namespace().expect("a namespaced Api");
    let edited = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace},
        "data": {"mode": "edited"}});
    config_maps
        .patch(
            "settings",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(&edited),
        )
        .await
        .unwrap();
}

/// The labels of ConfigMap `settings` of `config_maps`.
async fn labels_of(config_maps: &Api<ConfigMap>) -> std::collections::BTreeMap<String, String> {
    config_maps
        .get("settings")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default()
}

/// The PEM CA that signs a test control plane's serving certificate.
fn ca_of(plane: &ControlPlane) -> String {
    let kubeconfig = plane.kubeconfig();
    let path = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.certificate_authority.clone())
        .expect("the test kubeconfig names its CA file");
    std::fs::read_to_string(path).unwrap()
}

/// Register (or re-register) cluster `name` with the given Secret keys.
async fn register(fixture: &Fixture, name: &str, labels: Value, data: Value) {
    let secrets: Api<Secret> = Api::namespaced(fixture.client(), CONTROLLER_NAMESPACE);
    let mut all_labels = json!({"plumbline.dev/secret-type": "cluster"});
    if let (Some(all), Some(more)) = (all_labels.as_object_mut(), labels.as_object()) {
        all.extend(more.clone());
    }
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": CONTROLLER_NAMESPACE, "labels": all_labels},
        "stringData": data,
    });
    secrets
        .patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&secret),
        )
        .await
        .unwrap();
}

/// The Secret keys of a working registration of `plane`: server, CA and
/// the administrator's token.
fn server_and_token(plane: &ControlPlane) -> Value {
    json!({"server": plane.url(), "ca.crt": ca_of(plane), "token": "admin-token"})
}

/// A SyncUnit spec of path `path` into namespace `shop` of cluster
/// `cluster`.
fn remote_spec(url: &str, path: &str, cluster: &str) -> Value {
    remote_spec_in(url, path, cluster, "shop")
}

/// A SyncUnit spec of path `path` into `namespace` of cluster `cluster`.
fn remote_spec_in(url: &str, path: &str, cluster: &str, namespace: &str) -> Value {
    spec_for(
        url,
        path,
        json!({"cluster": cluster, "createNamespace": true, "selfHeal": true,
               "targetNamespace": namespace}),
    )
}

/// The inventory ConfigMaps of `sync` that `client`'s cluster holds.
async fn inventory_in(client: kube::Client, sync: &str) -> usize {
    let api: Api<ConfigMap> = Api::namespaced(client, CONTROLLER_NAMESPACE);
    match api
        .list(&ListParams::default().labels(&format!("plumbline.dev/inventory={sync}")))
        .await
    {
        Ok(list) => list.items.len(),
        Err(kube::Error::Api(status)) if status.code == 404 => 0,
        Err(error) => panic!("listing inventories: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_unit_syncs_into_its_registered_cluster_and_prunes_only_there() {
    let Some((fixture, targets)) = fleet(1).await else {
        return;
    };
    let east = &targets[0];
    commit_one_config_map(&fixture);
    let url = fixture.world.repo.url();
    register(
        &fixture,
        "east",
        json!({"region": "eu"}),
        server_and_token(east),
    )
    .await;
    // A ConfigMap of the same name and sync label in the management
    // cluster: not the remote sync's, so never touched.
    let local: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let decoy = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop",
                     "labels": {"plumbline.dev/sync": "team.remote"}},
        "data": {"mode": "local"}});
    apply(&local, "settings", &decoy).await;

    let running = fixture.start();
    fixture
        .put_sync_unit("team", "remote", remote_spec(&url, "app", "east"))
        .await;
    fixture
        .wait_for_unit("team", "remote", "Ready", is_ready)
        .await;

    let remote: Api<ConfigMap> = Api::namespaced(east.client(), "shop");
    let applied = remote.get("settings").await.unwrap();
    assert_eq!(mode_of(&applied), Some("fast"));
    assert_eq!(
        applied
            .metadata
            .labels
            .unwrap_or_default()
            .get("plumbline.dev/sync"),
        Some(&"team.remote".to_owned())
    );
    // The inventory lives in the target, none in the management cluster.
    assert!(inventory_in(east.client(), "team.remote").await >= 1);
    assert_eq!(inventory_in(fixture.client(), "team.remote").await, 0);
    let untouched = local.get("settings").await.unwrap();
    assert_eq!(mode_of(&untouched), Some("local"));

    // Drift in the target is repaired by its watch, without a full reconcile.
    let full_reconciles = running.reconciles("synced");
    edit_settings(&remote).await;
    fixture
        .wait_for_object(&remote, "settings", "repaired", |o| mode(o) == Some("fast"))
        .await;
    assert!(running.repairs("synced") >= 1);
    assert_eq!(running.reconciles("synced"), full_reconciles);

    // Deleting the SyncUnit prunes the target's objects and inventory.
    let units: Api<SyncUnit> = Api::namespaced(fixture.client(), "team");
    units
        .delete("remote", &DeleteParams::default())
        .await
        .unwrap();
    fixture
        .wait_for_object(&units, "remote", "deleted", |o| o.is_none())
        .await;
    assert!(remote.get_opt("settings").await.unwrap().is_none());
    assert_eq!(inventory_in(east.client(), "team.remote").await, 0);
    let untouched = local.get("settings").await.unwrap();
    assert_eq!(mode_of(&untouched), Some("local"));
    fixture.wait_for_event("team", "remote", "Pruned").await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_cluster_leaves_the_others_reconciling_and_recovers_without_a_wrong_prune() {
    let Some((fixture, mut targets)) = fleet(2).await else {
        return;
    };
    commit_one_config_map(&fixture);
    let url = fixture.world.repo.url();
    for (name, plane) in ["east", "west"].iter().zip(&targets) {
        register(&fixture, name, json!({}), server_and_token(plane)).await;
    }
    let running = fixture.start();
    for name in ["east", "west"] {
        fixture
            .put_sync_unit("team", name, remote_spec(&url, "app", name))
            .await;
    }
    for name in ["east", "west"] {
        fixture.wait_for_unit("team", name, "Ready", is_ready).await;
    }
    let east_objects: Api<ConfigMap> = Api::namespaced(targets[0].client(), "shop");
    let uid_before = east_objects.get("settings").await.unwrap().metadata.uid;

    // East stops; a new commit adds `extra`, and both SyncUnits are asked
    // to reconcile it.
    targets[0].stop_api_server();
    fixture
        .world
        .repo
        .write("app/extra.yaml", &config_map("extra", "new"));
    fixture.world.repo.commit("extra ConfigMap");
    for name in ["east", "west"] {
        fixture
            .patch_spec("team", name, json!({"interval": "30m"}))
            .await;
    }
    // West keeps reconciling.
    fixture
        .wait_for_unit("team", "west", "Ready", is_ready)
        .await;
    let west_objects: Api<ConfigMap> = Api::namespaced(targets[1].client(), "shop");
    assert!(west_objects.get_opt("extra").await.unwrap().is_some());
    // East says why it cannot.
    let message = fixture
        .wait_for_reason("team", "east", "ClusterUnreachable")
        .await;
    assert!(
        message.contains("cluster \"east\" is unreachable"),
        "{message}"
    );
    // Each cause of the connection's failure is told once.
    let causes: Vec<&str> = message.split(": ").collect();
    for (i, cause) in causes.iter().enumerate() {
        assert!(
            !causes[i + 1..].contains(cause),
            "{cause:?} twice: {message}"
        );
    }
    fixture
        .wait_for_event("team", "east", "ClusterUnreachable")
        .await;

    // East comes back: it catches up, and what it had is still there,
    // never deleted and recreated.
    targets[0].start_api_server().await.unwrap();
    fixture
        .wait_for_unit("team", "east", "Ready", is_ready)
        .await;
    assert!(east_objects.get_opt("extra").await.unwrap().is_some());
    let settings = east_objects.get("settings").await.unwrap();
    assert_eq!(settings.metadata.uid, uid_before);
    running.stop().await;
}

/// A self-signed CA that signed none of the test servers' certificates.
fn unrelated_ca(dir: &std::path::Path) -> String {
    let out = dir.join("wrong-ca.crt");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=wrong-ca", "-days", "1", "-keyout"])
        .arg(dir.join("wrong-ca.key"))
        .arg("-out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    std::fs::read_to_string(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_registrations_say_why_and_prune_nothing() {
    let Some((fixture, targets)) = fleet(1).await else {
        return;
    };
    let east = &targets[0];
    commit_one_config_map(&fixture);
    let url = fixture.world.repo.url();
    let wrong_ca = unrelated_ca(fixture.world.scratch.path());
    register(
        &fixture,
        "garbled",
        json!({}),
        json!({"kubeconfig": "clusters: [\n"}),
    )
    .await;
    register(
        &fixture,
        "wrong-ca",
        json!({}),
        json!({"server": east.url(), "ca.crt": wrong_ca, "token": "admin-token"}),
    )
    .await;
    register(
        &fixture,
        "bad-token",
        json!({}),
        json!({"server": east.url(), "ca.crt": ca_of(east), "token": "not-a-token"}),
    )
    .await;
    register(&fixture, "east", json!({}), server_and_token(east)).await;
    // Another controller (another management cluster) holds the sync name
    // `team.claimed` in east.
    let claims: Api<ConfigMap> = Api::namespaced(east.client(), CONTROLLER_NAMESPACE);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(east.client());
    namespaces
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": CONTROLLER_NAMESPACE}})).unwrap(),
        )
        .await
        .unwrap();
    claims
        .create(
            &Default::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "plumbline-claim-team.claimed"},
                "data": {"controller": "another-management-cluster/plumbline-system"},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let running = fixture.start();
    // Each SyncUnit into its own namespace (two syncs may not apply the
    // same object).
    for (unit, cluster) in [
        ("garbled", "garbled"),
        ("wrong-ca", "wrong-ca"),
        ("bad-token", "bad-token"),
        ("nowhere", "nowhere"),
        ("east", "east"),
        ("claimed", "east"),
    ] {
        fixture
            .put_sync_unit("team", unit, remote_spec_in(&url, "app", cluster, unit))
            .await;
    }

    let message = fixture
        .wait_for_reason("team", "garbled", "ClusterConfigInvalid")
        .await;
    assert!(message.contains("`kubeconfig` does not parse"), "{message}");
    let message = fixture
        .wait_for_reason("team", "wrong-ca", "ClusterUnreachable")
        .await;
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    let message = fixture
        .wait_for_reason("team", "bad-token", "ClusterCredentialsRejected")
        .await;
    assert!(message.contains("401"), "{message}");
    let message = fixture
        .wait_for_reason("team", "nowhere", "ClusterNotRegistered")
        .await;
    assert!(
        message.contains("cluster \"nowhere\" is not registered"),
        "{message}"
    );
    let message = fixture
        .wait_for_reason("team", "claimed", "ClaimedByAnotherController")
        .await;
    assert!(
        message.contains("another-management-cluster/plumbline-system"),
        "{message}"
    );
    fixture
        .wait_for_unit("team", "east", "Ready", is_ready)
        .await;
    let remote: Api<ConfigMap> = Api::namespaced(east.client(), "east");
    let uid = remote.get("settings").await.unwrap().metadata.uid;
    // Nothing of the claimed sync was applied, and the claim is intact.
    let claimed: Api<ConfigMap> = Api::namespaced(east.client(), "claimed");
    assert!(claimed.get_opt("settings").await.unwrap().is_none());
    let claim = claims.get("plumbline-claim-team.claimed").await.unwrap();
    assert_eq!(
        claim.data.unwrap()["controller"],
        "another-management-cluster/plumbline-system"
    );

    // Rotated credentials are used at once, without a restart.
    register(&fixture, "bad-token", json!({}), server_and_token(east)).await;
    fixture
        .wait_for_unit("team", "bad-token", "Ready", is_ready)
        .await;

    // Deregistered while its SyncUnit points at it: a clear reason, and
    // nothing pruned.
    let secrets: Api<Secret> = Api::namespaced(fixture.client(), CONTROLLER_NAMESPACE);
    secrets
        .delete("east", &DeleteParams::default())
        .await
        .unwrap();
    let message = fixture
        .wait_for_reason("team", "east", "ClusterNotRegistered")
        .await;
    assert!(
        message.contains("cluster \"east\" is not registered"),
        "{message}"
    );
    assert_eq!(remote.get("settings").await.unwrap().metadata.uid, uid);
    assert!(inventory_in(east.client(), "team.east").await >= 1);
    // Registered again, it is Ready with the same objects.
    register(&fixture, "east", json!({}), server_and_token(east)).await;
    fixture
        .wait_for_unit("team", "east", "Ready", is_ready)
        .await;
    assert_eq!(remote.get("settings").await.unwrap().metadata.uid, uid);
    running.stop().await;
}

/// A token of service account `namespace/name` of `plane` (TokenRequest,
/// one hour), as a registration would hold.
async fn service_account_token(plane: &ControlPlane, namespace: &str, name: &str) -> String {
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {"expirationSeconds": 3600}});
    let request = http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    ))
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&body).unwrap())
    .unwrap();
    let answer: Value = plane.client().request(request).await.unwrap();
    answer["status"]["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rights_install_target_grants_are_enough_to_sync_repair_and_prune() {
    let Some((fixture, targets)) = fleet(1).await else {
        return;
    };
    let east = &targets[0];
    let objects = plumbline::controller::target_install::manifests(CONTROLLER_NAMESPACE, true);
    let installer = plumbline::apply::Cluster::new(
        east.client(),
        plumbline::apply::Options {
            field_manager: "plumbline-install".into(),
            ..Default::default()
        },
    );
    plumbline::controller::install::apply(&installer, &objects)
        .await
        .unwrap();
    let token = service_account_token(east, CONTROLLER_NAMESPACE, "plumbline-remote").await;
    register(
        &fixture,
        "east",
        json!({}),
        json!({"server": east.url(), "ca.crt": ca_of(east), "token": token}),
    )
    .await;
    commit_one_config_map(&fixture);
    let url = fixture.world.repo.url();
    let running = fixture.start();
    fixture
        .put_sync_unit("team", "remote", remote_spec(&url, "app", "east"))
        .await;
    fixture
        .wait_for_unit("team", "remote", "Ready", is_ready)
        .await;
    let remote: Api<ConfigMap> = Api::namespaced(east.client(), "shop");
    edit_settings(&remote).await;
    fixture
        .wait_for_object(&remote, "settings", "repaired", |o| mode(o) == Some("fast"))
        .await;
    let units: Api<SyncUnit> = Api::namespaced(fixture.client(), "team");
    units
        .delete("remote", &DeleteParams::default())
        .await
        .unwrap();
    fixture
        .wait_for_object(&units, "remote", "deleted", |o| o.is_none())
        .await;
    assert!(remote.get_opt("settings").await.unwrap().is_none());
    assert_eq!(inventory_in(east.client(), "team.remote").await, 0);
    running.stop().await;
}

/// Install the SyncUnitSet CRD in the management cluster and wait until it
/// is served.
async fn install_sync_unit_sets(fixture: &Fixture) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::CustomResourceExt;
    use plumbline::controller::fleet::SyncUnitSet;
    let crds: Api<CustomResourceDefinition> = Api::all(fixture.client());
    crds.create(&Default::default(), &SyncUnitSet::crd())
        .await
        .unwrap();
    let sets: Api<SyncUnitSet> = Api::all(fixture.client());
    let started = std::time::Instant::now();
    while sets.list(&ListParams::default()).await.is_err() {
        assert!(started.elapsed() < controller_support::PATIENCE);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_unit_set_stamps_a_sync_unit_per_matching_cluster_as_clusters_come_and_go() {
    let Some((fixture, targets)) = fleet(2).await else {
        return;
    };
    install_sync_unit_sets(&fixture).await;
    commit_app_with_a_transformer(&fixture);
    let url = fixture.world.repo.url();
    let (east, west) = (&targets[0], &targets[1]);
    register(
        &fixture,
        "east",
        json!({"env": "prod", "region": "eu"}),
        server_and_token(east),
    )
    .await;
    register(
        &fixture,
        "west",
        json!({"env": "staging", "region": "us"}),
        server_and_token(west),
    )
    .await;
    let running = fixture.start();
    // The cluster's name and labels reach the transformer as settings.
    let policy = json!({"module": {"path": "policies/metadata.wasm"},
                        "settings": {"labels": {"region": "{{cluster.labels.region}}",
                                                "cluster": "{{cluster.name}}"}}});
    let mut template = spec_for(
        &url,
        "app",
        json!({"createNamespace": true, "policies": [policy]}),
    );
    template["interval"] = json!("1h");
    let sets: Api<plumbline::controller::fleet::SyncUnitSet> =
        Api::namespaced(fixture.client(), "team");
    let set = json!({"apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnitSet",
                     "metadata": {"name": "shop", "namespace": "team"},
                     "spec": {"clusterSelector": {"matchLabels": {"env": "prod"}},
                              "template": template}});
    fixture.ensure_namespace("team").await;
    apply(&sets, "shop", &set).await;

    // East matches: its SyncUnit syncs, with east's values.
    fixture
        .wait_for_unit("team", "shop-east", "Ready", is_ready)
        .await;
    let on_east: Api<ConfigMap> = Api::namespaced(east.client(), "shop");
    let labels = labels_of(&on_east).await;
    assert_eq!(labels["region"], "eu");
    assert_eq!(labels["cluster"], "east");
    let units: Api<SyncUnit> = Api::namespaced(fixture.client(), "team");
    assert!(units.get_opt("shop-west").await.unwrap().is_none());

    // West is relabelled into the set: its SyncUnit appears and syncs.
    register(
        &fixture,
        "west",
        json!({"env": "prod", "region": "us"}),
        server_and_token(west),
    )
    .await;
    fixture
        .wait_for_unit("team", "shop-west", "Ready", is_ready)
        .await;
    let on_west: Api<ConfigMap> = Api::namespaced(west.client(), "shop");
    let labels = labels_of(&on_west).await;
    assert_eq!(labels["region"], "us");

    // West leaves the set (still registered): its SyncUnit goes and prunes
    // west's objects.
    register(
        &fixture,
        "west",
        json!({"env": "staging", "region": "us"}),
        server_and_token(west),
    )
    .await;
    fixture
        .wait_for_object(&units, "shop-west", "deleted", |o| o.is_none())
        .await;
    assert!(on_west.get_opt("settings").await.unwrap().is_none());

    // East is deregistered: its SyncUnit goes, and east's objects are left
    // (nothing is pruned because the connection is gone).
    let secrets: Api<Secret> = Api::namespaced(fixture.client(), CONTROLLER_NAMESPACE);
    secrets
        .delete("east", &DeleteParams::default())
        .await
        .unwrap();
    fixture
        .wait_for_object(&units, "shop-east", "deleted", |o| o.is_none())
        .await;
    assert!(on_east.get_opt("settings").await.unwrap().is_some());
    running.stop().await;
}

/// The labels of `settings` in `config_maps`, or none when it is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_sync_policy_selects_sync_units_by_their_clusters_labels() {
    let Some((fixture, targets)) = fleet(2).await else {
        return;
    };
    commit_app_with_a_transformer(&fixture);
    let url = fixture.world.repo.url();
    let (east, west) = (&targets[0], &targets[1]);
    register(
        &fixture,
        "east",
        json!({"env": "prod"}),
        server_and_token(east),
    )
    .await;
    register(
        &fixture,
        "west",
        json!({"env": "staging"}),
        server_and_token(west),
    )
    .await;
    // Labels the objects of every SyncUnit into a cluster labelled
    // env=prod.
    let policies: Api<plumbline::controller::crd::ClusterSyncPolicy> = Api::all(fixture.client());
    let policy = json!({"apiVersion": "plumbline.dev/v1alpha1", "kind": "ClusterSyncPolicy",
        "metadata": {"name": "prod-marker"},
        "spec": {"module": {"path": "policies/metadata.wasm"},
                 "settings": {"labels": {"tier": "prod"}},
                 "clusterSelector": {"matchLabels": {"env": "prod"}}}});
    apply(&policies, "prod-marker", &policy).await;
    let running = fixture.start();
    for name in ["east", "west"] {
        fixture
            .put_sync_unit("team", name, remote_spec(&url, "app", name))
            .await;
    }
    // One into the controller's own cluster: no registration, so no
    // clusterSelector selects it.
    fixture
        .put_sync_unit(
            "team",
            "local",
            spec_for(
                &url,
                "app",
                json!({"targetNamespace": "local", "createNamespace": true}),
            ),
        )
        .await;
    for name in ["east", "west", "local"] {
        fixture.wait_for_unit("team", name, "Ready", is_ready).await;
    }
    let on_east: Api<ConfigMap> = Api::namespaced(east.client(), "shop");
    let on_west: Api<ConfigMap> = Api::namespaced(west.client(), "shop");
    let on_management: Api<ConfigMap> = Api::namespaced(fixture.client(), "local");
    assert_eq!(
        labels_of(&on_east).await.get("tier").map(String::as_str),
        Some("prod")
    );
    assert!(!labels_of(&on_west).await.contains_key("tier"));
    assert!(!labels_of(&on_management).await.contains_key("tier"));

    // West is relabelled prod: its SyncUnit reconciles with the policy.
    register(
        &fixture,
        "west",
        json!({"env": "prod"}),
        server_and_token(west),
    )
    .await;
    fixture
        .wait_for_object(&on_west, "settings", "labelled by the policy", |o| {
            o.is_some_and(|o| o["metadata"]["labels"]["tier"] == "prod")
        })
        .await;

    // The policy narrowed to another environment: east and west are
    // released from it at once, and the label it added is gone.
    let narrowed = json!({"apiVersion": "plumbline.dev/v1alpha1", "kind": "ClusterSyncPolicy",
        "metadata": {"name": "prod-marker"},
        "spec": {"module": {"path": "policies/metadata.wasm"},
                 "settings": {"labels": {"tier": "prod"}},
                 "clusterSelector": {"matchLabels": {"env": "edge"}}}});
    apply(&policies, "prod-marker", &narrowed).await;
    for config_maps in [&on_east, &on_west] {
        fixture
            .wait_for_object(config_maps, "settings", "released from the policy", |o| {
                o.is_some_and(|o| o["metadata"]["labels"].get("tier").is_none())
            })
            .await;
    }
    assert!(!labels_of(&on_management).await.contains_key("tier"));
    running.stop().await;
}

/// Apply `objects` to `plane` as its administrator.
async fn apply_to(plane: &ControlPlane, objects: &[Value]) {
    let installer = plumbline::apply::Cluster::new(
        plane.client(),
        plumbline::apply::Options {
            field_manager: "test-admin".into(),
            ..Default::default()
        },
    );
    plumbline::controller::install::apply(&installer, objects)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_that_impersonates_applies_with_that_accounts_rights_only() {
    let Some((fixture, targets)) = fleet(1).await else {
        return;
    };
    let east = &targets[0];
    // In east, service account plumbline/deployer may read everything,
    // write the inventories and claims, and write anything in team-a only.
    let binding = |kind: &str, name: &str, namespace: Option<&str>| {
        let mut metadata = json!({"name": format!("deployer-{name}")});
        if let Some(namespace) = namespace {
            metadata["namespace"] = json!(namespace);
        }
        json!({"apiVersion": "rbac.authorization.k8s.io/v1",
               "kind": if kind == "ClusterRole" { "ClusterRoleBinding" } else { "RoleBinding" },
               "metadata": metadata,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "plumbline"}]})
    };
    let namespace =
        |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    apply_to(
        east,
        &[
            namespace("plumbline"),
            namespace("team-a"),
            namespace("team-b"),
            namespace(CONTROLLER_NAMESPACE),
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "deployer", "namespace": "plumbline"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "read-everything"},
                   "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}),
            binding("ClusterRole", "read-everything", None),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "everything", "namespace": "team-a"},
                   "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
            binding("Role", "everything", Some("team-a")),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "inventories", "namespace": CONTROLLER_NAMESPACE},
                   "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]}),
            binding("Role", "inventories", Some(CONTROLLER_NAMESPACE)),
        ],
    )
    .await;
    // The registration holds the administrator's token, and names the
    // account every request impersonates.
    let mut data = server_and_token(east);
    data["serviceAccount"] = json!("plumbline/deployer");
    register(&fixture, "east", json!({}), data).await;
    commit_one_config_map(&fixture);
    let url = fixture.world.repo.url();
    let running = fixture.start();
    let into = |namespace: &str| {
        spec_for(
            &url,
            "app",
            json!({"cluster": "east", "targetNamespace": namespace, "selfHeal": true}),
        )
    };

    // Inside its rights: synced, and its drift repaired.
    fixture
        .put_sync_unit("team", "inside", into("team-a"))
        .await;
    fixture
        .wait_for_unit("team", "inside", "Ready", is_ready)
        .await;
    let inside: Api<ConfigMap> = Api::namespaced(east.client(), "team-a");
    let settings = inside.get("settings").await.unwrap();
    assert_eq!(mode_of(&settings), Some("fast"));
    edit_settings(&inside).await;
    fixture
        .wait_for_object(&inside, "settings", "repaired", |o| mode(o) == Some("fast"))
        .await;

    // Outside them: refused by the target, naming the account, the kind
    // and the namespace; nothing applied there.
    fixture
        .put_sync_unit("team", "outside", into("team-b"))
        .await;
    let refused = fixture
        .wait_for_unit("team", "outside", "refused", |unit| {
            ready(unit).is_some_and(|(status, reason)| status == "False" && reason != "Progressing")
        })
        .await;
    let message = ready_message(&refused);
    assert!(
        message.contains("403 Forbidden")
            && message.contains("system:serviceaccount:plumbline:deployer")
            && message.contains("\"configmaps\"")
            && message.contains("in the namespace \"team-b\""),
        "{message}"
    );
    let outside: Api<ConfigMap> = Api::namespaced(east.client(), "team-b");
    assert!(outside.get_opt("settings").await.unwrap().is_none());

    // A SyncUnit cannot swap the registration's identity for another
    // account of the target, even one that may write team-b.
    apply_to(
        east,
        &[
            namespace("team"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "builder", "namespace": "team"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "builder-everything", "namespace": "team-b"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "cluster-admin"},
                   "subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": "team"}]}),
        ],
    )
    .await;
    let mut as_builder = into("team-b");
    as_builder["serviceAccountName"] = json!("builder");
    fixture.put_sync_unit("team", "escape", as_builder).await;
    let message = fixture
        .wait_for_reason("team", "escape", "ImpersonationConflict")
        .await;
    assert!(
        message.contains("system:serviceaccount:plumbline:deployer")
            && message.contains("system:serviceaccount:team:builder"),
        "{message}"
    );
    assert!(outside.get_opt("settings").await.unwrap().is_none());
    running.stop().await;
}
