//! The controller end to end: a real Git repository, policies built from
//! source, an API server, and `plumbline controller`'s runner reconciling
//! SyncUnit resources in-process, the way it runs in a cluster. Every story
//! runs on the real control plane and on the emulator, except the two that
//! inject faults (emulator only).

mod controller_support;
mod reconcile_support;
mod server_support;

use std::time::Duration;

use controller_support::{
    apply, condition, config_map, is_ready, mode, mode_of, ready, spec_for, Fixture, KillOnDrop,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_emulator::{Fault, Verb};
use plumbline::controller::crd::SyncUnit;
use plumbline::controller::sync_unit::{Access, Resolver};
use plumbline::controller::webhook::GitPush;
use serde_json::{json, Value};
use server_support::Server;
use sha2::{Digest, Sha256};

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {team: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

/// Change a ConfigMap the way `kubectl edit` would: another field manager.
async fn edit(api: &Api<ConfigMap>, name: &str, mode: &str) {
    api.patch(
        name,
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        },
        &Patch::Merge(json!({"data": {"mode": mode}})),
    )
    .await
    .unwrap();
}

fn head(fixture: &Fixture) -> String {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(fixture.world.repo.dir.path())
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn a_sync_unit_becomes_ready_with_its_status_filled(server: Server) {
    let fixture = Fixture::on(server).await;
    let wasm = std::fs::read(policy_artifacts::REQUIRED_LABELS).unwrap();
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"))
        .write("app/deployment.yaml", DEPLOYMENT);
    std::fs::create_dir_all(fixture.world.repo.dir.path().join("policies")).unwrap();
    std::fs::write(
        fixture
            .world
            .repo
            .dir
            .path()
            .join("policies/required-labels.wasm"),
        wasm,
    )
    .unwrap();
    fixture.world.repo.commit("app with its policy");
    let running = fixture.start();
    fixture
        .put_sync_unit(
            "team-a",
            "shop",
            spec_for(
                &fixture.world.repo.url(),
                "app",
                json!({
                    "createNamespace": true,
                    "policies": [{
                        "module": {"path": "policies/required-labels.wasm"},
                        "settings": {"labels": ["team"], "kinds": ["ConfigMap", "Deployment"]},
                    }],
                }),
            ),
        )
        .await;

    let unit = fixture
        .wait_for_unit("team-a", "shop", "Ready", is_ready)
        .await;
    let status = unit.status.clone().unwrap();
    assert_eq!(ready(&unit).unwrap().1, "ReconciliationSucceeded");
    assert_eq!(condition(&unit, "Stalled").unwrap().0, "False");
    assert_eq!(condition(&unit, "Reconciling").unwrap().0, "False");
    assert_eq!(status.observed_generation, unit.metadata.generation);
    assert_eq!(
        status.last_applied_revision.as_deref(),
        Some(head(&fixture).as_str())
    );
    assert_eq!(status.last_attempted_revision, status.last_applied_revision);
    // The Namespace (createNamespace), the ConfigMap and the Deployment.
    assert_eq!(status.inventory_count, Some(3));
    assert_eq!(status.violation_count, 0);
    assert!(status.last_reconcile_time.is_some());

    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let applied = config_maps.get("settings").await.unwrap();
    assert_eq!(
        applied.metadata.labels.unwrap()["plumbline.dev/sync"],
        "team-a.shop"
    );
    let events = fixture.wait_for_event("team-a", "shop", "Applied").await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "Applied" && note.contains("ConfigMap shop/settings")),
        "{events:?}"
    );
    // Metrics have the policy's evaluation time and the Git fetch.
    let metrics = running.metrics.encode();
    assert!(
        metrics.contains(
            "plumbline_policy_evaluation_duration_seconds_count{policy=\"required-labels\",role=\"validator\"}"
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("plumbline_git_fetch_duration_seconds_count 0"),
        "{metrics}"
    );
    running.stop().await;
}

async fn a_manual_edit_is_remediated_by_the_watch_not_the_interval(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("app");
    let running = fixture.start();
    let spec = spec_for(&fixture.world.repo.url(), "app", json!({"selfHeal": true}));
    fixture.put_sync_unit("team-a", "shop", spec).await;
    fixture
        .wait_for_unit("team-a", "shop", "Ready", is_ready)
        .await;

    // The interval is an hour: only the watch on managed objects can
    // bring the edit back within the test.
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    edit(&config_maps, "settings", "slow").await;
    let took = fixture
        .wait_for_object(&config_maps, "settings", "remediated", |o| {
            mode(o) == Some("fast")
        })
        .await;
    println!("drift remediated {took:?} after the edit");
    let unit = fixture
        .wait_for_unit("team-a", "shop", "showing the drift", |u| {
            u.status.as_ref().and_then(|s| s.drift.as_ref()).is_some()
        })
        .await;
    let drift = unit.status.unwrap().drift.unwrap();
    assert_eq!(drift.detected, 1);
    assert_eq!(drift.decisions.get("reapplied"), Some(&1));
    assert_eq!(drift.entries[0].object, "ConfigMap shop/settings");
    assert_eq!(drift.entries[0].fields, vec!["data.mode".to_owned()]);
    let events = fixture
        .wait_for_event("team-a", "shop", "DriftRemediated")
        .await;
    assert!(
        events.iter().any(|(reason, _)| reason == "DriftRemediated"),
        "{events:?}"
    );

    // Deleting a managed object is drift too.
    config_maps
        .delete("settings", &Default::default())
        .await
        .unwrap();
    fixture
        .wait_for_object(&config_maps, "settings", "recreated", |o| {
            mode(o) == Some("fast")
        })
        .await;
    running.stop().await;
}

async fn a_drifted_object_in_a_large_unit_is_repaired_alone(server: Server) {
    let fixture = Fixture::on(server).await;
    let manifests: String = (0..300)
        .map(|i| format!("---\n{}", config_map(&format!("settings-{i}"), "fast")))
        .collect();
    fixture.world.repo.write("app/config.yaml", &manifests);
    fixture.world.repo.commit("app");
    let running = fixture.start();
    let spec = spec_for(&fixture.world.repo.url(), "app", json!({"selfHeal": true}));
    fixture.put_sync_unit("team-a", "shop", spec).await;
    fixture
        .wait_for_unit("team-a", "shop", "Ready", is_ready)
        .await;
    let reconciled = running.reconciles("synced");

    // The watch's first list is checked against what the reconcile
    // applied, object by object: no reconcile follows it.
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    edit(&config_maps, "settings-17", "slow").await;
    fixture
        .wait_for_object(&config_maps, "settings-17", "repaired", |o| {
            mode(o) == Some("fast")
        })
        .await;
    config_maps
        .delete("settings-42", &Default::default())
        .await
        .unwrap();
    fixture
        .wait_for_object(&config_maps, "settings-42", "recreated", |o| {
            mode(o) == Some("fast")
        })
        .await;
    let unit = fixture
        .wait_for_unit("team-a", "shop", "showing both repairs", |u| {
            u.status
                .as_ref()
                .and_then(|s| s.drift.as_ref())
                .is_some_and(|d| d.detected == 2)
        })
        .await;
    let drift = unit.status.unwrap().drift.unwrap();
    assert_eq!(drift.decisions.get("reapplied"), Some(&2), "{drift:?}");
    let objects: Vec<&str> = drift.entries.iter().map(|e| e.object.as_str()).collect();
    assert!(
        objects.contains(&"ConfigMap shop/settings-17"),
        "{objects:?}"
    );
    assert!(
        objects.contains(&"ConfigMap shop/settings-42"),
        "{objects:?}"
    );
    assert_eq!(running.repairs("synced"), 2);
    assert_eq!(
        running.reconciles("synced"),
        reconciled,
        "the repairs needed no full reconcile"
    );
    running.stop().await;
}

async fn an_unchanged_commit_is_not_rendered_or_validated_again(server: Server) {
    let fixture = Fixture::on(server).await;
    let wasm = std::fs::read(policy_artifacts::REQUIRED_LABELS).unwrap();
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    std::fs::create_dir_all(fixture.world.repo.dir.path().join("policies")).unwrap();
    std::fs::write(
        fixture.world.repo.dir.path().join("policies/labels.wasm"),
        wasm,
    )
    .unwrap();
    fixture.world.repo.commit("app with its policy");
    let running = fixture.start();
    let policy = json!({"name": "labels", "module": {"path": "policies/labels.wasm"},
                        "settings": {"labels": ["team"], "kinds": ["ConfigMap"]}});
    let spec = spec_for(
        &fixture.world.repo.url(),
        "app",
        json!({"interval": "1s", "policies": [policy]}),
    );
    fixture.put_sync_unit("team-a", "shop", spec).await;
    fixture
        .wait_for_unit("team-a", "shop", "Ready", is_ready)
        .await;
    let validations = || {
        let wanted = "plumbline_policy_evaluation_duration_seconds_count{policy=\"labels\",role=\"validator\"}";
        running
            .metrics
            .encode()
            .lines()
            .find_map(|line| line.strip_prefix(wanted))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let validated = validations();
    assert!(validated > 0);

    // Reconciled every second: the same commit is fetched and its objects
    // planned against the cluster, but not rendered or validated again.
    let reconciled = running.reconciles("synced");
    let started = std::time::Instant::now();
    while running.reconciles("synced") < reconciled + 3 {
        assert!(started.elapsed() < Duration::from_secs(60), "no reconciles");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(validations(), validated);

    // A new commit is rendered and validated.
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "slow"));
    fixture.world.repo.commit("slow");
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    fixture
        .wait_for_object(&config_maps, "settings", "updated from Git", |o| {
            mode(o) == Some("slow")
        })
        .await;
    // (The metrics are recorded when that reconcile ends.)
    let started = std::time::Instant::now();
    while validations() == validated {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the new commit was not validated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await;
}

async fn drift_a_remediator_keeps_reporting_is_recorded_once_then_costs_reads_only(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    let wasm = std::fs::read(policy_artifacts::TEST_ALL_ROLES).unwrap();
    let policies = fixture.world.repo.dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("all-roles.wasm"), wasm).unwrap();
    fixture.world.repo.commit("app with a remediator");
    let running = fixture.start();
    // Reconciles every second, each finding the same drift again.
    let policy = json!({"name": "reporter", "module": {"path": "policies/all-roles.wasm"},
        "settings": {"remediation": "report"}});
    let extra = json!({"interval": "1s", "policies": [policy]});
    let spec = spec_for(&fixture.world.repo.url(), "app", extra);
    fixture.put_sync_unit("team", "shop", spec).await;
    fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;

    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    edit(&config_maps, "settings", "slow").await;
    let unit = fixture
        .wait_for_unit("team", "shop", "showing the reported drift", |u| {
            u.status
                .as_ref()
                .and_then(|s| s.drift.as_ref())
                .is_some_and(|d| d.decisions.get("reported") == Some(&1))
        })
        .await;
    let drift = unit.status.unwrap().drift.unwrap();
    assert_eq!(drift.detected, 1);
    assert_eq!(drift.entries[0].object, "ConfigMap shop/settings");
    assert_eq!(drift.entries[0].fields, vec!["data.mode".to_owned()]);
    assert_eq!(drift.entries[0].decision, "reported");
    assert_eq!(drift.entries[0].policy, "reporter");
    // The Event follows the status write in the same reconcile.
    let started = std::time::Instant::now();
    let drift_events = || async {
        fixture
            .events("team", "shop")
            .await
            .into_iter()
            .filter(|(reason, _)| reason == "DriftRemediated")
            .collect::<Vec<_>>()
    };
    while drift_events().await.is_empty() {
        assert!(
            started.elapsed() < controller_support::PATIENCE,
            "no DriftRemediated Event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let announced = drift_events().await;
    assert!(
        announced[0]
            .1
            .contains("ConfigMap shop/settings (reported)"),
        "{announced:?}"
    );

    // The drift stays, found and reported again on every reconcile: that
    // costs reads only (no status, no Event, no apply).
    fixture.world.requests.reset();
    let before = running.reconciles("synced");
    let started = std::time::Instant::now();
    while running.reconciles("synced") < before + 3 {
        assert!(
            started.elapsed() < controller_support::PATIENCE,
            "no reconciles at the interval"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await;
    let requests = &fixture.world.requests;
    assert_eq!(requests.writes(), 0, "{requests:?}");
    assert!(requests.reads() > 0);
    let api: Api<SyncUnit> = Api::namespaced(fixture.client(), "team");
    let after = api.get("shop").await.unwrap().status.unwrap().drift;
    assert_eq!(after.as_ref(), Some(&drift));
    assert_eq!(drift_events().await, announced);
    let live = config_maps.get("settings").await.unwrap();
    assert_eq!(mode_of(&live), Some("slow"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_while_the_drift_watch_is_down_is_found_when_it_lists_again() {
    let fixture = Fixture::new().await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"))
        .write("spare/config.yaml", &config_map("spare", "fast"));
    fixture.world.repo.commit("two apps");
    let url = fixture.world.repo.url();
    let heal = json!({"selfHeal": true});
    let first = fixture.start();
    fixture
        .put_sync_unit("team-a", "shop", spec_for(&url, "app", heal.clone()))
        .await;
    fixture
        .put_sync_unit("team-a", "spare", spec_for(&url, "spare", heal))
        .await;
    for name in ["shop", "spare"] {
        fixture
            .wait_for_unit("team-a", name, "Ready", is_ready)
            .await;
    }
    first.stop().await;

    // A controller started on a synced cluster reconciles each sync once,
    // changes nothing, and has nothing else to do: from then on only the
    // drift watch can notice anything (the interval is an hour).
    let emulator = &fixture.world.emulator();
    emulator.reset_requests();
    let running = fixture.start();
    let started = std::time::Instant::now();
    // The SyncUnit, ClusterSyncPolicy and ConfigMap watches are open (each
    // after its list).
    while running.reconciles("synced") < 2 || emulator.requests().watch < 3 {
        assert!(
            started.elapsed() < controller_support::PATIENCE,
            "the controller never settled: {:?}",
            emulator.requests()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The API server restarts (its watch window starts over, so watches
    // must list again) and refuses lists and watches for a while.
    let faults = emulator.faults();
    faults.inject_on(Verb::List, Fault::DropConnection, u32::MAX);
    faults.inject_on(Verb::Watch, Fault::DropConnection, u32::MAX);
    faults.restart();
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    edit(&config_maps, "settings", "slow").await;
    config_maps
        .delete("spare", &Default::default())
        .await
        .unwrap();
    faults.clear();

    // Only the re-list can show the edit and the deletion.
    fixture
        .wait_for_object(&config_maps, "settings", "remediated", |o| {
            mode(o) == Some("fast")
        })
        .await;
    fixture
        .wait_for_object(&config_maps, "spare", "recreated", |o| {
            mode(o) == Some("fast")
        })
        .await;
    running.stop().await;
}

/// Commit directory `<step>/` with ConfigMap `cm-<step>` (mode `<step>`)
/// for each of `steps`.
fn commit_steps(fixture: &Fixture, steps: &[&str], message: &str) {
    let repo = &fixture.world.repo;
    for step in steps {
        repo.write(
            &format!("{step}/config.yaml"),
            &config_map(&format!("cm-{step}"), step),
        );
    }
    repo.commit(message);
}

async fn a_depends_on_chain_applies_in_order(server: Server) {
    let fixture = Fixture::on(server).await;
    commit_steps(&fixture, &["a", "b", "c"], "three steps");
    let url = fixture.world.repo.url();
    let running = fixture.start();
    // Created last-first, so only dependsOn can order them.
    let depends = |on: &str| json!({"dependsOn": [{"name": on}]});
    fixture
        .put_sync_unit("team", "third", spec_for(&url, "c", depends("second")))
        .await;
    fixture
        .put_sync_unit("team", "second", spec_for(&url, "b", depends("first")))
        .await;
    for name in ["third", "second"] {
        let unit = fixture
            .wait_for_unit("team", name, "waiting for its dependency", |u| {
                ready(u).is_some_and(|(_, reason)| reason == "DependencyNotReady")
            })
            .await;
        assert_eq!(ready(&unit).unwrap().0, "False");
        assert_eq!(condition(&unit, "Reconciling").unwrap().0, "True");
    }
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    assert!(config_maps.get_opt("cm-b").await.unwrap().is_none());
    assert!(config_maps.get_opt("cm-c").await.unwrap().is_none());

    fixture
        .put_sync_unit("team", "first", spec_for(&url, "a", json!({})))
        .await;
    for name in ["first", "second", "third"] {
        fixture.wait_for_unit("team", name, "Ready", is_ready).await;
    }
    let mut versions = Vec::new();
    for name in ["cm-a", "cm-b", "cm-c"] {
        let object = config_maps.get(name).await.unwrap();
        let version: u64 = object.metadata.resource_version.unwrap().parse().unwrap();
        versions.push(version);
    }
    assert!(
        versions[0] < versions[1] && versions[1] < versions[2],
        "created out of order: {versions:?}"
    );
    running.stop().await;
}

async fn suspend_stops_reconciling_until_resumed(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("frozen/config.yaml", &config_map("frozen", "fast"))
        .write("live/config.yaml", &config_map("live", "fast"));
    fixture.world.repo.commit("two apps");
    let url = fixture.world.repo.url();
    let running = fixture.start();
    let heal = json!({"selfHeal": true});
    fixture
        .put_sync_unit("team", "frozen", spec_for(&url, "frozen", heal.clone()))
        .await;
    fixture
        .put_sync_unit("team", "live", spec_for(&url, "live", heal))
        .await;
    for name in ["frozen", "live"] {
        fixture.wait_for_unit("team", name, "Ready", is_ready).await;
    }

    fixture
        .patch_spec("team", "frozen", json!({"suspend": true}))
        .await;
    fixture
        .wait_for_unit("team", "frozen", "suspended", |u| {
            condition(u, "Reconciling").is_some_and(|(_, reason)| reason == "Suspended")
                && u.status.as_ref().unwrap().observed_generation == u.metadata.generation
        })
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    edit(&config_maps, "frozen", "slow").await;
    edit(&config_maps, "live", "slow").await;
    fixture
        .wait_for_object(&config_maps, "live", "remediated", |o| {
            mode(o) == Some("fast")
        })
        .await;
    // A spec change made after the edit is reconciled after it: once its
    // generation is observed, the frozen sync has been looked at since the
    // edit (a reconcile that ignored `suspend` would have healed it).
    fixture
        .patch_spec("team", "frozen", json!({"interval": "59m"}))
        .await;
    fixture
        .wait_for_unit("team", "frozen", "suspended at the new generation", |u| {
            condition(u, "Reconciling").is_some_and(|(_, reason)| reason == "Suspended")
                && u.status.as_ref().unwrap().observed_generation == u.metadata.generation
                && u.spec.interval == "59m"
        })
        .await;
    let frozen = config_maps.get("frozen").await.unwrap();
    assert_eq!(
        frozen.data.unwrap()["mode"],
        "slow",
        "a suspended sync healed"
    );

    fixture
        .patch_spec("team", "frozen", json!({"suspend": false}))
        .await;
    fixture
        .wait_for_object(&config_maps, "frozen", "remediated after resuming", |o| {
            mode(o) == Some("fast")
        })
        .await;
    running.stop().await;
}

async fn a_cluster_policy_violation_stalls_the_sync_with_the_violation_and_an_event(
    server: Server,
) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("app without an owner label");
    let wasm = std::fs::read(policy_artifacts::REQUIRED_LABELS).unwrap();
    let policy = json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "ClusterSyncPolicy",
        "metadata": {"name": "owners"},
        "spec": {
            "module": {
                "url": format!("file://{}", policy_artifacts::REQUIRED_LABELS),
                "sha256": hex::encode(Sha256::digest(&wasm)),
            },
            "settings": {"labels": ["owner"], "kinds": ["ConfigMap"]},
            "syncSelector": {"matchLabels": {"policy": "strict"}},
        },
    });
    let policies: Api<plumbline::controller::crd::ClusterSyncPolicy> = Api::all(fixture.client());
    apply(&policies, "owners", &policy).await;

    let running = fixture.start();
    let url = fixture.world.repo.url();
    fixture
        .put_sync_unit(
            "team",
            "lax",
            spec_for(&url, "app", json!({"targetNamespace": "lax"})),
        )
        .await;
    fixture.ensure_namespace("team").await;
    let units: Api<plumbline::controller::crd::SyncUnit> =
        Api::namespaced(fixture.client(), "team");
    let strict = json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
        "metadata": {"name": "strict", "namespace": "team", "labels": {"policy": "strict"}},
        "spec": spec_for(&url, "app", json!({})),
    });
    apply(&units, "strict", &strict).await;

    let unit = fixture
        .wait_for_unit("team", "strict", "Stalled", |u| {
            condition(u, "Stalled").is_some_and(|(status, _)| status == "True")
        })
        .await;
    assert_eq!(
        ready(&unit).unwrap(),
        ("False".to_owned(), "ValidationFailed".to_owned())
    );
    let status = unit.status.unwrap();
    assert_eq!(status.violation_count, 1);
    let violation = &status.violations[0];
    assert_eq!(violation.policy, "owners");
    assert_eq!(violation.object, "ConfigMap shop/settings");
    assert_eq!(violation.severity, "error");
    assert!(violation.message.contains("owner"), "{violation:?}");
    assert_eq!(status.last_applied_revision, None);
    assert_eq!(
        status.last_attempted_revision.as_deref(),
        Some(head(&fixture).as_str())
    );
    let events = fixture
        .wait_for_event("team", "strict", "ValidationFailed")
        .await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "ValidationFailed" && note.contains("[owners]")),
        "{events:?}"
    );
    let blocked: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    assert!(blocked.get_opt("settings").await.unwrap().is_none());

    // The policy selects by label: the other sync is not bound by it.
    fixture
        .wait_for_unit("team", "lax", "Ready", is_ready)
        .await;

    // Relaxing the policy reconciles the syncs it selects at once (the
    // interval is an hour).
    let relaxed = json!({"spec": {"settings": {"labels": ["team"], "kinds": ["ConfigMap"]}}});
    policies
        .patch("owners", &PatchParams::default(), &Patch::Merge(&relaxed))
        .await
        .unwrap();
    fixture
        .wait_for_unit("team", "strict", "Ready", is_ready)
        .await;
    assert!(blocked.get_opt("settings").await.unwrap().is_some());

    // Strict again, then narrowed to other syncs: the sync it no longer
    // selects is released at once too.
    let strict_again = json!({"spec": {"settings": {"labels": ["owner"], "kinds": ["ConfigMap"]}}});
    policies
        .patch(
            "owners",
            &PatchParams::default(),
            &Patch::Merge(&strict_again),
        )
        .await
        .unwrap();
    fixture
        .wait_for_unit("team", "strict", "Stalled again", |u| {
            condition(u, "Stalled").is_some_and(|(status, _)| status == "True")
        })
        .await;
    let narrowed = json!({"spec": {"syncSelector": {"matchLabels": {"policy": "stricter"}}}});
    policies
        .patch("owners", &PatchParams::default(), &Patch::Merge(&narrowed))
        .await
        .unwrap();
    fixture
        .wait_for_unit("team", "strict", "Ready once no longer selected", is_ready)
        .await;
    running.stop().await;
}

async fn a_restarted_controller_resumes_without_writing_again(server: Server) {
    let fixture = Fixture::on(server).await;
    // A validator warns about the labelled ConfigMap on every reconcile.
    let warned = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warned\n  labels: {test/warn: \"yes\"}\ndata:\n  mode: fast\n";
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"))
        .write("app/warned.yaml", warned)
        .write("app/deployment.yaml", DEPLOYMENT);
    let wasm = std::fs::read(policy_artifacts::TEST_ALL_ROLES).unwrap();
    let policies = fixture.world.repo.dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("all-roles.wasm"), wasm).unwrap();
    fixture.world.repo.commit("app with a warning");
    let first = fixture.start();
    let spec = spec_for(
        &fixture.world.repo.url(),
        "app",
        json!({"policies": [{"name": "warner", "module": {"path": "policies/all-roles.wasm"}}]}),
    );
    fixture.put_sync_unit("team", "shop", spec).await;
    let unit = fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;
    assert_eq!(unit.status.unwrap().violation_count, 1);
    // The Event follows the status write in the same reconcile.
    let started = std::time::Instant::now();
    loop {
        let events = fixture.events("team", "shop").await;
        if events
            .iter()
            .any(|(reason, note)| reason == "Violations" && note.contains("[warner]"))
        {
            break;
        }
        assert!(
            started.elapsed() < controller_support::PATIENCE,
            "no Violations Event: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the reconcile its own applies trigger finish too, then stop.
    let settled = std::time::Instant::now();
    while first.reconciles("synced") < 2 && settled.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.stop().await;

    fixture.world.requests.reset();
    let second = fixture.start();
    let started = std::time::Instant::now();
    while second.reconciles("synced") < 1 {
        assert!(
            started.elapsed() < controller_support::PATIENCE,
            "no reconcile after restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A graceful stop waits for the reconcile in flight (status, events):
    // the warning, unchanged, is not published again.
    second.stop().await;
    let requests = &fixture.world.requests;
    assert_eq!(requests.writes(), 0, "{requests:?}");
    assert!(requests.reads() > 0);
}

async fn a_git_push_webhook_reconciles_the_syncs_following_the_pushed_ref(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("app");
    let (pushes, webhook) = tokio::sync::mpsc::channel(4);
    let running = fixture.start_with_webhook(webhook);
    let url = fixture.world.repo.url();
    fixture
        .put_sync_unit("team", "shop", spec_for(&url, "app", json!({})))
        .await;
    fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;

    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "slow"));
    fixture.world.repo.commit("slow down");
    let pushed = head(&fixture);
    // The interval is an hour: only the push can bring the commit in.
    pushes
        .send(GitPush {
            urls: vec![url.clone()],
            reference: "refs/heads/main".into(),
            after: Some(pushed.clone()),
        })
        .await
        .unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    fixture
        .wait_for_object(&config_maps, "settings", "updated from the push", |o| {
            mode(o) == Some("slow")
        })
        .await;
    fixture
        .wait_for_unit("team", "shop", "at the pushed revision", |u| {
            u.status
                .as_ref()
                .and_then(|s| s.last_applied_revision.as_deref())
                == Some(pushed.as_str())
        })
        .await;
    running.stop().await;
}

async fn a_module_with_another_digest_stalls_the_sync_naming_the_policy(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("app");
    let running = fixture.start();
    let module = json!({
        "url": format!("file://{}", policy_artifacts::REQUIRED_LABELS),
        "sha256": "0".repeat(64),
    });
    let spec = spec_for(
        &fixture.world.repo.url(),
        "app",
        json!({"policies": [{"name": "labels", "module": module, "settings": {"labels": ["team"]}}]}),
    );
    fixture.put_sync_unit("team", "shop", spec).await;
    let unit = fixture
        .wait_for_unit("team", "shop", "Stalled", |u| {
            condition(u, "Stalled").is_some_and(|(status, _)| status == "True")
        })
        .await;
    assert_eq!(
        ready(&unit).unwrap(),
        ("False".to_owned(), "ModuleDigestMismatch".to_owned())
    );
    let message = &unit.status.unwrap().conditions[0].message;
    assert!(
        message.contains("policy labels") && message.contains("the spec pins 0000"),
        "{message}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    assert!(config_maps.get_opt("settings").await.unwrap().is_none());
    running.stop().await;
}

async fn credentials_come_from_the_secret_into_private_files(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture.ensure_namespace("team").await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(fixture.client(), "team");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git"},
        "stringData": {"username": "bot", "password": "s3cr3t-token"},
    });
    apply(&secrets, "git", &secret).await;
    let unit: SyncUnit = serde_json::from_value(json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
        "metadata": {"name": "shop", "namespace": "team"},
        "spec": {"source": {"url": "https://git.example.com/shop.git", "secretRef": {"name": "git"}}},
    }))
    .unwrap();
    let cache = fixture.world.scratch.path().join("resolver");
    let client = fixture.client();
    let resolver = Resolver {
        client: &client,
        host: &fixture.world.host,
        cache_dir: &cache,
        inventory_namespace: "plumbline-system",
        access: &Access::default(),
    };
    let resolved = resolver.resolve(&unit, &[], None).await.unwrap();
    let config = &resolved.unit.config;
    assert_eq!(config.metadata.name, "team.shop");
    assert_eq!(config.spec.sync.target_namespace.as_deref(), Some("team"));
    let credentials = config.spec.source.credentials.clone().unwrap();
    assert_eq!(credentials.username.as_deref(), Some("bot"));
    let file = credentials.password_file.unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "s3cr3t-token");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let source = config.source("SyncUnit team/shop").unwrap();
    assert!(!format!("{source:?}").contains("s3cr3t-token"));

    // A Secret with none of the keys is refused by name.
    let empty = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git"},
                       "stringData": {"other": "x"}});
    secrets.delete("git", &Default::default()).await.unwrap();
    apply(&secrets, "git", &empty).await;
    let error = resolver
        .resolve(&unit, &[], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Secret team/git has none of the keys"),
        "{error}"
    );
}

async fn the_plumbline_controller_command_reconciles_and_stops_cleanly_on_sigterm(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("app");
    let kubeconfig = fixture
        .world
        .server
        .kubeconfig_file(fixture.world.scratch.path());
    // PLUMBLINE_BIN overrides the binary (a target directory shared with
    // other checkouts may hold another build of it).
    let binary = std::env::var("PLUMBLINE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_plumbline").to_owned());
    let child = std::process::Command::new(binary)
        .arg("controller")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(fixture.world.scratch.path().join("cli-cache"))
        .args(["--listen", "127.0.0.1:0", "--identity", "test-replica"])
        // The fixture's repository is a local directory.
        .arg("--allow-file-urls")
        .env("POD_NAMESPACE", "plumbline-system")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let spec = spec_for(&fixture.world.repo.url(), "app", json!({}));
    fixture.put_sync_unit("team", "shop", spec).await;
    fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;
    // Events follow the status that caused them.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(fixture.client(), "team");
    let started = std::time::Instant::now();
    loop {
        let published = events.list(&Default::default()).await.unwrap().items;
        if published
            .iter()
            .any(|e| e.reporting_instance.as_deref() == Some("test-replica"))
        {
            break;
        }
        assert!(
            started.elapsed() < controller_support::PATIENCE,
            "no Event from test-replica: {published:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.0.as_ref().unwrap().id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = child.0.take().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    });
    let (status, stderr) = tokio::time::timeout(controller_support::PATIENCE, output)
        .await
        .expect("the controller did not exit after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}\n{stderr}");
}

async fn a_failing_sync_is_retried_with_backoff_until_it_recovers(server: Server) {
    let fixture = Fixture::on(server).await;
    let missing = fixture.world.scratch.path().join("later");
    let url = format!("file://{}", missing.display());
    let running = fixture.start();
    fixture
        .put_sync_unit("team", "shop", spec_for(&url, "app", json!({})))
        .await;
    let unit = fixture
        .wait_for_unit("team", "shop", "failing", |u| {
            ready(u).is_some_and(|(_, reason)| reason == "FetchFailed")
        })
        .await;
    assert_eq!(ready(&unit).unwrap().0, "False");
    // Retryable: Reconciling, not Stalled.
    assert_eq!(condition(&unit, "Reconciling").unwrap().0, "True");
    assert_eq!(condition(&unit, "Stalled").unwrap().0, "False");
    let events = fixture.wait_for_event("team", "shop", "FetchFailed").await;
    assert!(
        events.iter().any(|(reason, _)| reason == "FetchFailed"),
        "{events:?}"
    );

    // The repository appears; only the retry (the interval is an hour) can
    // notice.
    std::fs::create_dir_all(missing.join("app")).unwrap();
    std::fs::write(
        missing.join("app/config.yaml"),
        config_map("settings", "fast"),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.email=t@plumbline.dev", "-c", "user.name=T"])
            .args(args)
            .current_dir(&missing)
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "at last"]);
    fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;
    assert!(running.reconciles("failed") >= 1);
    running.stop().await;
}

/// A manifest the API server refuses as invalid (a 422) is refused again
/// until Git or the spec changes: the sync is Stalled, with the API server's
/// reason, one Event, and no retries; a new revision picked up by a spec
/// change recovers it.
async fn an_object_the_api_server_refuses_stalls_the_sync_without_retries(server: Server) {
    let fixture = Fixture::on(server).await;
    let invalid =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  not a key!: x\n";
    fixture.world.repo.write("app/config.yaml", invalid);
    fixture.world.repo.commit("an invalid data key");
    let running = fixture.start();
    let spec = spec_for(&fixture.world.repo.url(), "app", json!({}));
    fixture.put_sync_unit("team", "shop", spec).await;
    let unit = fixture
        .wait_for_unit("team", "shop", "Stalled", |u| {
            condition(u, "Stalled").is_some_and(|(status, _)| status == "True")
        })
        .await;
    assert_eq!(
        ready(&unit).unwrap(),
        ("False".to_owned(), "Rejected".to_owned())
    );
    assert_eq!(condition(&unit, "Reconciling").unwrap().0, "False");
    let message = &unit.status.as_ref().unwrap().conditions[0].message;
    assert!(
        message.contains("422") && message.contains("settings"),
        "{message}"
    );
    let events = fixture.wait_for_event("team", "shop", "Rejected").await;
    assert!(
        events.iter().any(|(reason, _)| reason == "Rejected"),
        "{events:?}"
    );

    // No retries: with a 0.5 s base, a retried failure would have been
    // tried again three times by now.
    let failed = running.reconciles("failed");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(running.reconciles("failed"), failed);

    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"));
    fixture.world.repo.commit("a valid key");
    fixture
        .patch_spec("team", "shop", json!({"interval": "2h"}))
        .await;
    fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;
    running.stop().await;
}

/// The CRD's schema carries the one ref type's rule: exactly one of branch,
/// tag or commit, refused by the API server itself.
async fn the_api_server_refuses_a_ref_naming_both_a_branch_and_a_tag(server: Server) {
    let fixture = Fixture::on(server).await;
    let api: Api<SyncUnit> = Api::namespaced(fixture.client(), "shop");
    let unit = |reference: Value| {
        json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"source": {"url": "https://git.example.com/shop.git", "ref": reference},
                     "selfHeal": true, "pruneGuard": {"maxShare": 0.2}},
        })
    };
    let apply = PatchParams::apply("test");
    let both = unit(json!({"branch": "main", "tag": "v1"}));
    match api.patch("shop", &apply, &Patch::Apply(&both)).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{status:?}"),
        other => panic!("expected a 422, got {other:?}"),
    }
    let tag = unit(json!({"tag": "v1"}));
    let stored = api
        .patch("shop", &apply, &Patch::Apply(&tag))
        .await
        .unwrap();
    assert_eq!(
        stored.spec.source.reference,
        Some(plumbline::source::GitRef::Tag("v1".into()))
    );
    // The shared SyncSpec's fields, flattened, are kept by the server.
    assert!(stored.spec.sync.self_heal);
    assert_eq!(stored.spec.sync.prune_guard.max_share, 0.2);
}

/// The inventory ConfigMaps of a sync, by name.
async fn inventory_of(fixture: &Fixture, sync: &str) -> Vec<String> {
    let api: Api<ConfigMap> = Api::namespaced(fixture.client(), "plumbline-system");
    api.list(&ListParams::default().labels(&format!("plumbline.dev/inventory={sync}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap_or_default())
        .collect()
}

/// On the emulator the first delete of the cleanup also fails (an injected
/// 500), to show the finalizer stays and the cleanup is retried.
async fn deleting_a_pruning_sync_unit_prunes_its_objects_and_inventory_first(server: Server) {
    let fixture = Fixture::on(server).await;
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "fast"))
        .write("app/deployment.yaml", DEPLOYMENT)
        .write("kept/config.yaml", &config_map("kept", "slow"));
    fixture.world.repo.commit("two apps");
    let url = fixture.world.repo.url();
    let running = fixture.start();
    fixture
        .put_sync_unit("team", "pruned", spec_for(&url, "app", json!({})))
        .await;
    fixture
        .put_sync_unit(
            "team",
            "kept",
            spec_for(&url, "kept", json!({"prune": false})),
        )
        .await;
    let units: Api<SyncUnit> = Api::namespaced(fixture.client(), "team");
    for name in ["pruned", "kept"] {
        fixture.wait_for_unit("team", name, "Ready", is_ready).await;
    }
    let pruned = units.get("pruned").await.unwrap();
    assert_eq!(
        pruned.metadata.finalizers,
        Some(vec!["plumbline.dev/prune".to_owned()])
    );
    // `prune: false` needs no finalizer.
    let kept = units.get("kept").await.unwrap();
    assert!(kept.metadata.finalizers.unwrap_or_default().is_empty());
    // A head and one part.
    assert_eq!(inventory_of(&fixture, "team.pruned").await.len(), 2);

    // On the emulator, the first delete of the cleanup fails: the finalizer
    // stays, an Event says why, and the cleanup is retried. Reverse apply
    // order: the Deployment is deleted first.
    running.stop().await;
    units.delete("pruned", &Default::default()).await.unwrap();
    units.delete("kept", &Default::default()).await.unwrap();
    let deleting = units.get("pruned").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    let inject_a_failure = !fixture.world.server.is_real();
    if inject_a_failure {
        let faults = fixture.world.emulator().faults();
        faults.inject_on(Verb::Delete, Fault::InternalError, 1);
    }
    let running = fixture.start();

    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(fixture.client(), "shop");
    fixture
        .wait_for_object(&units, "pruned", "deleted", |o| o.is_none())
        .await;
    assert!(config_maps.get_opt("settings").await.unwrap().is_none());
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    assert!(inventory_of(&fixture, "team.pruned").await.is_empty());
    let events = fixture.events("team", "pruned").await;
    let failed_first = events.iter().any(|(reason, note)| {
        reason == "CleanupFailed"
            && note
                .starts_with("pruning the deleted SyncUnit's objects: Deployment.apps shop/web: ")
    });
    assert_eq!(failed_first, inject_a_failure, "{events:?}");
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "Pruned" && note.contains("pruned its 2 object(s)")),
        "{events:?}"
    );

    // The `prune: false` unit went at once; its objects and inventory stay.
    assert!(units.get_opt("kept").await.unwrap().is_none());
    assert_eq!(
        mode(
            config_maps
                .get_opt("kept")
                .await
                .unwrap()
                .map(|c| serde_json::to_value(c).unwrap())
                .as_ref()
        ),
        Some("slow")
    );
    assert_eq!(inventory_of(&fixture, "team.kept").await.len(), 2);
    running.stop().await;
}

async fn a_depends_on_cycle_stalls_its_members_naming_the_cycle(server: Server) {
    let fixture = Fixture::on(server).await;
    commit_steps(&fixture, &["a", "b", "c", "d"], "four steps");
    let url = fixture.world.repo.url();
    let running = fixture.start();
    let depends = |on: &str| json!({"dependsOn": [{"name": on}]});
    // a → b → c → a, and d depends on the cycle without being in it.
    fixture
        .put_sync_unit("team", "a", spec_for(&url, "a", depends("b")))
        .await;
    fixture
        .put_sync_unit("team", "b", spec_for(&url, "b", depends("c")))
        .await;
    fixture
        .put_sync_unit("team", "d", spec_for(&url, "d", depends("a")))
        .await;
    fixture
        .put_sync_unit("team", "c", spec_for(&url, "c", depends("a")))
        .await;
    let cycles = [
        ("a", "team/a -> team/b -> team/c -> team/a"),
        ("b", "team/b -> team/c -> team/a -> team/b"),
        ("c", "team/c -> team/a -> team/b -> team/c"),
    ];
    for (name, cycle) in cycles {
        let unit = fixture
            .wait_for_unit("team", name, "Stalled by the cycle", |u| {
                condition(u, "Stalled").is_some_and(|(s, r)| s == "True" && r == "DependencyCycle")
            })
            .await;
        assert_eq!(ready(&unit).unwrap().0, "False");
        let message = unit
            .status
            .unwrap()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Stalled")
            .unwrap()
            .message;
        assert!(message.contains(cycle), "{name}: {message}");
    }
    let d = fixture
        .wait_for_unit("team", "d", "waiting", |u| {
            ready(u).is_some_and(|(_, reason)| reason == "DependencyNotReady")
        })
        .await;
    assert_ne!(
        condition(&d, "Stalled").map(|(s, _)| s),
        Some("True".into())
    );
    let events = fixture.wait_for_event("team", "a", "DependencyCycle").await;
    assert!(
        events.iter().any(|(reason, _)| reason == "DependencyCycle"),
        "{events:?}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    for name in ["cm-a", "cm-b", "cm-c"] {
        assert!(config_maps.get_opt(name).await.unwrap().is_none(), "{name}");
    }

    // Breaking the cycle lets the chain apply.
    fixture
        .patch_spec("team", "c", json!({"dependsOn": []}))
        .await;
    for name in ["c", "b", "a", "d"] {
        fixture.wait_for_unit("team", name, "Ready", is_ready).await;
    }
    running.stop().await;
}

on_both_servers!(
    deleting_a_pruning_sync_unit_prunes_its_objects_and_inventory_first,
    a_sync_unit_becomes_ready_with_its_status_filled,
    a_manual_edit_is_remediated_by_the_watch_not_the_interval,
    a_drifted_object_in_a_large_unit_is_repaired_alone,
    an_unchanged_commit_is_not_rendered_or_validated_again,
    drift_a_remediator_keeps_reporting_is_recorded_once_then_costs_reads_only,
    a_depends_on_chain_applies_in_order,
    suspend_stops_reconciling_until_resumed,
    a_cluster_policy_violation_stalls_the_sync_with_the_violation_and_an_event,
    a_restarted_controller_resumes_without_writing_again,
    a_git_push_webhook_reconciles_the_syncs_following_the_pushed_ref,
    a_module_with_another_digest_stalls_the_sync_naming_the_policy,
    credentials_come_from_the_secret_into_private_files,
    the_plumbline_controller_command_reconciles_and_stops_cleanly_on_sigterm,
    a_failing_sync_is_retried_with_backoff_until_it_recovers,
    a_depends_on_cycle_stalls_its_members_naming_the_cycle,
);

on_real_server!(
    an_object_the_api_server_refuses_stalls_the_sync_without_retries,
    the_api_server_refuses_a_ref_naming_both_a_branch_and_a_tag,
);
