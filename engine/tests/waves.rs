//! Waves, phases and waiting for health, on the real control plane (etcd +
//! kube-apiserver v1.36, no kubelet and no controllers): the tests play the
//! controllers' part and write the status of Deployments and Jobs through
//! the status subresource, as a real controller would. A sync applies a
//! wave only once the waves before it are healthy, stops with the objects
//! and their health when one is not healthy in time, runs a `pre` Job to
//! completion before anything else, and a SyncUnit's dependents wait until
//! it is healthy.

mod binary_support;
mod cli_support;
mod controller_support;
mod reconcile_support;
mod server_support;
mod source_support;
mod status_support;

use cli_support::plumbline_async;
use controller_support::{is_ready, ready, spec_for, Fixture};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use plumbline::reconcile::{Outcome, Report, Status};
use reconcile_support::{line, World};
use serde_json::json;
use server_support::Server;
use status_support::{complete, exists, fail, roll_out, wait_until};

fn deployment(name: &str, wave: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:\n    \
         plumbline.dev/wave: \"{wave}\"\nspec:\n  replicas: 1\n  selector:\n    matchLabels: \
         {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      \
         containers:\n      - name: main\n        image: {image}\n"
    )
}

fn config_map(name: &str, wave: &str, mode: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    \
         plumbline.dev/wave: \"{wave}\"\ndata:\n  mode: {mode}\n"
    )
}

const MIGRATION: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    plumbline.dev/phase: pre
    plumbline.dev/delete-policy: on-success
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: shop/migrate:1
";

async fn create_namespace(world: &World, name: &str) {
    let api: Api<Namespace> = Api::all(world.client());
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(name, &PatchParams::apply("test"), &Patch::Apply(&namespace))
        .await
        .unwrap();
}

fn error_messages(report: &Report) -> Vec<(String, String)> {
    let errors = serde_json::to_value(&report.errors).unwrap();
    errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn three_waves_apply_in_order_and_a_wave_not_healthy_in_time_stops_the_sync(server: Server) {
    let world = World::on(server);
    create_namespace(&world, "shop").await;
    world
        .repo
        .write("db.yaml", &deployment("db", "1", "postgres:16"))
        .write("old.yaml", &config_map("old", "1", "kept"))
        .write("app.yaml", &deployment("app", "2", "shop/app:1"))
        .write("app-config.yaml", &config_map("app-config", "2", "fast"))
        .write("done.yaml", &config_map("done", "3", "first"))
        .commit("three waves");
    let unit = world.unit("  timeout: 60s\n");
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "shop");

    let controllers = async {
        wait_until("wave 1 applied", || exists(&deployments, "db")).await;
        assert!(
            !exists(&deployments, "app").await,
            "wave 2 before wave 1 is healthy"
        );
        assert!(!exists(&config_maps, "app-config").await);
        assert!(!exists(&config_maps, "done").await);
        roll_out(&deployments, "db").await;

        wait_until("wave 2 applied", || exists(&deployments, "app")).await;
        assert!(exists(&config_maps, "app-config").await);
        assert!(
            !exists(&config_maps, "done").await,
            "wave 3 before wave 2 is healthy"
        );
        roll_out(&deployments, "app").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), controllers);
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(
        line(&report, "ConfigMap shop/done").outcome,
        Outcome::Created
    );
    assert_eq!(
        line(&report, "Deployment.apps shop/app").health,
        Some(plumbline::health::Health::Current)
    );

    // A new image for `app` (wave 2) that never rolls out, a change to
    // wave 3, and `old` leaves Git: the sync waits 2 s for wave 2, then
    // stops, applying and pruning nothing after it.
    world
        .repo
        .write("app.yaml", &deployment("app", "2", "shop/app:2"))
        .write("done.yaml", &config_map("done", "3", "second"))
        .remove("old.yaml")
        .commit("app 2");
    let impatient = world.unit("  timeout: 2s\n");
    let report = world.reconcile(&impatient).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let errors = error_messages(&report);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (reason, message) = &errors[0];
    assert_eq!(reason, "HealthCheckFailed");
    assert!(
        message.starts_with(
            "wave 2 is not healthy after 2s: Deployment.apps shop/app is InProgress: "
        ) && message.contains("nothing later was applied, nothing was pruned"),
        "{message}"
    );
    assert_eq!(
        line(&report, "Deployment.apps shop/app").outcome,
        Outcome::Updated
    );
    let done = line(&report, "ConfigMap shop/done");
    assert_eq!(done.outcome, Outcome::Skipped);
    assert_eq!(
        done.message.as_deref(),
        Some("not applied: wave 2 is not healthy")
    );
    let live_done = config_maps.get("done").await.unwrap();
    assert_eq!(live_done.data.unwrap()["mode"], "first");
    assert!(
        exists(&config_maps, "old").await,
        "pruned after a failed wave"
    );
    assert_eq!(
        line(&report, "ConfigMap shop/old").outcome,
        Outcome::Skipped
    );
}

async fn a_pre_job_completes_before_anything_else_is_applied_and_runs_once(server: Server) {
    let world = World::on(server);
    create_namespace(&world, "shop").await;
    world
        .repo
        .write("migrate.yaml", MIGRATION)
        .write("web.yaml", &deployment("web", "0", "shop/web:1"))
        .write("settings.yaml", &config_map("settings", "0", "fast"))
        .commit("a release with a migration");
    let unit = world.unit("");
    let jobs: Api<Job> = Api::namespaced(world.client(), "shop");
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "shop");

    let job_controller = async {
        wait_until("the pre Job applied", || exists(&jobs, "migrate")).await;
        assert!(
            !exists(&deployments, "web").await,
            "applied before the pre Job completed"
        );
        assert!(!exists(&config_maps, "settings").await);
        complete(&jobs, "migrate").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), job_controller);
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert!(exists(&deployments, "web").await);
    let migrate = line(&report, "Job.batch shop/migrate");
    assert_eq!(migrate.outcome, Outcome::Created);
    assert_eq!(
        migrate.message.as_deref(),
        Some("deleted after its phase succeeded (delete-policy on-success)")
    );
    assert!(
        !exists(&jobs, "migrate").await,
        "on-success did not delete it"
    );

    // Nothing changed: the hook does not run again, and its deletion is
    // no drift.
    let again = world.reconcile(&unit).await;
    assert_eq!(again.status, Status::Synced, "{again:#?}");
    assert!(again.summary.in_sync(), "{:?}", again.summary);
    let migrate = line(&again, "Job.batch shop/migrate");
    assert_eq!(migrate.outcome, Outcome::Unchanged);
    assert!(!exists(&jobs, "migrate").await, "the hook ran again");
}

async fn a_pre_job_that_fails_stops_the_sync_naming_it(server: Server) {
    let world = World::on(server);
    create_namespace(&world, "shop").await;
    world
        .repo
        .write("migrate.yaml", MIGRATION)
        .write("web.yaml", &deployment("web", "0", "shop/web:1"))
        .commit("a release with a migration");
    let unit = world.unit("");
    let jobs: Api<Job> = Api::namespaced(world.client(), "shop");
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let job_controller = async {
        wait_until("the pre Job applied", || exists(&jobs, "migrate")).await;
        fail(&jobs, "migrate").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), job_controller);
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let errors = error_messages(&report);
    assert_eq!(
        errors,
        [(
            "HealthCheckFailed".to_owned(),
            "pre phase failed: Job.batch shop/migrate is Failed: BackoffLimitExceeded: \
             Job has reached the specified backoff limit (the sync stopped there: nothing \
             later was applied, nothing was pruned)"
                .to_owned()
        )]
    );
    assert!(
        !exists(&deployments, "web").await,
        "applied after the pre phase failed"
    );
    assert_eq!(
        line(&report, "Deployment.apps shop/web").outcome,
        Outcome::Skipped
    );
    // Kept (no on-failure policy), for someone to read its logs.
    assert!(exists(&jobs, "migrate").await);
}

async fn a_before_creation_job_runs_again_only_when_the_sync_changes_something(server: Server) {
    let world = World::on(server);
    create_namespace(&world, "shop").await;
    let seed = MIGRATION.replace("name: migrate", "name: seed").replace(
        "delete-policy: on-success",
        "delete-policy: before-creation",
    );
    world
        .repo
        .write("seed.yaml", &seed)
        .write("web.yaml", &deployment("web", "0", "shop/web:1"))
        .commit("web with a seed Job");
    let unit = world.unit("");
    let jobs: Api<Job> = Api::namespaced(world.client(), "shop");
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let uid = |job: Job| job.metadata.uid.unwrap();
    let first_run = async {
        wait_until("the seed Job applied", || exists(&jobs, "seed")).await;
        complete(&jobs, "seed").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), first_run);
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    let first = uid(jobs.get("seed").await.unwrap());

    // Nothing to do: the Job is neither deleted nor run again.
    let idle = world.reconcile(&unit).await;
    assert_eq!(idle.status, Status::Synced, "{idle:#?}");
    assert_eq!(uid(jobs.get("seed").await.unwrap()), first);

    // A new image: the Job runs again, to completion, before it is applied.
    world
        .repo
        .write("web.yaml", &deployment("web", "0", "shop/web:2"))
        .commit("web 2");
    let image = |d: Deployment| {
        let d = serde_json::to_value(d).unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .map(str::to_owned)
    };
    let second_run = async {
        wait_until("the seed Job created again", || async {
            jobs.get_opt("seed")
                .await
                .unwrap()
                .is_some_and(|j| uid(j) != first)
        })
        .await;
        let live = deployments.get("web").await.unwrap();
        assert_eq!(
            image(live).as_deref(),
            Some("shop/web:1"),
            "applied before the Job ran"
        );
        complete(&jobs, "seed").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), second_run);
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    let seed_line = line(&report, "Job.batch shop/seed");
    assert_eq!(
        seed_line.message.as_deref(),
        Some("deleted and created again (delete-policy before-creation)")
    );
    let live = deployments.get("web").await.unwrap();
    assert_eq!(image(live).as_deref(), Some("shop/web:2"));
}

async fn depends_on_waits_until_the_dependency_is_healthy(server: Server) {
    let fixture = Fixture::on(server).await;
    let repo = &fixture.world.repo;
    repo.write("db/db.yaml", &deployment("db", "0", "postgres:16"))
        .write("app/app.yaml", &config_map("app", "0", "fast"))
        .commit("a database and its user");
    let url = repo.url();
    let running = fixture.start();
    fixture
        .put_sync_unit(
            "team",
            "db",
            spec_for(&url, "db", json!({"wait": true, "timeout": "3s"})),
        )
        .await;
    fixture
        .put_sync_unit(
            "team",
            "app",
            spec_for(&url, "app", json!({"dependsOn": [{"name": "db"}]})),
        )
        .await;
    // Applied, not healthy: not Ready, and its dependent waits.
    let db = fixture
        .wait_for_unit("team", "db", "not healthy", |u| {
            ready(u).is_some_and(|(_, reason)| reason == "HealthCheckFailed")
        })
        .await;
    let message = &db.status.as_ref().unwrap().conditions[0].message;
    assert!(
        message.contains("Deployment.apps shop/db is InProgress"),
        "{message}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    assert!(
        !exists(&config_maps, "app").await,
        "applied before its dependency was healthy"
    );
    let app = fixture
        .wait_for_unit("team", "app", "waiting for db", |u| {
            ready(u).is_some_and(|(_, reason)| reason == "DependencyNotReady")
        })
        .await;
    assert!(!is_ready(&app));

    let deployments: Api<Deployment> = Api::namespaced(fixture.client(), "shop");
    roll_out(&deployments, "db").await;
    fixture.wait_for_unit("team", "db", "Ready", is_ready).await;
    fixture
        .wait_for_unit("team", "app", "Ready", is_ready)
        .await;
    assert!(exists(&config_maps, "app").await);
    running.stop().await;
}

async fn plan_shows_the_waves_and_sync_wait_fails_naming_what_is_not_healthy(server: Server) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("web.yaml"), deployment("web", "0", "shop/web:1")).unwrap();
    std::fs::write(dir.join("after.yaml"), config_map("after", "1", "fast")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig_file(elsewhere.path());
    let kc = kubeconfig.to_str().unwrap();

    let plan = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(1);
    let out = &plan.stdout;
    let wave_0 = out
        .find("wave 0: must be healthy before the next wave is applied:")
        .unwrap_or_else(|| panic!("{out}"));
    let web = out.find("+ create    Deployment.apps default/web").unwrap();
    let wave_1 = out.find("wave 1:").unwrap();
    let after = out.find("+ create    ConfigMap default/after").unwrap();
    assert!(wave_0 < web && web < wave_1 && wave_1 < after, "{out}");
    let json = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc, "-o", "json"])
        .await
        .expect(1);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let waves: Vec<(&str, i64)> = document["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["object"].as_str().unwrap(), o["wave"].as_i64().unwrap()))
        .collect();
    assert!(
        waves.contains(&("Deployment.apps default/web", 0)),
        "{waves:?}"
    );
    assert!(waves.contains(&("ConfigMap default/after", 1)), "{waves:?}");
    assert_eq!(
        document["steps"],
        json!([{"phase": "main", "wave": 0, "objects": 1},
               {"phase": "main", "wave": 1, "objects": 1}])
    );

    // Wave 1 waits for wave 0, which no controller rolls out.
    let sync = plumbline_async(dir, &["sync", ".", "--kubeconfig", kc, "--timeout", "2s"])
        .await
        .expect(2);
    assert!(
        sync.stderr.contains(
            "error: wave 0 is not healthy after 2s: Deployment.apps default/web is InProgress: \
             0 of 1 replicas updated"
        ),
        "{}",
        sync.stderr
    );
    assert!(
        sync.stdout
            .contains("? skipped    ConfigMap default/after  (not applied: wave 0 is not healthy)"),
        "{}",
        sync.stdout
    );

    // One wave: only --wait waits, and says what is not healthy.
    std::fs::write(dir.join("after.yaml"), config_map("after", "0", "fast")).unwrap();
    plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(0);
    let waited = plumbline_async(
        dir,
        &["sync", ".", "--kubeconfig", kc, "--wait", "--timeout", "2s"],
    )
    .await
    .expect(2);
    assert!(
        waited
            .stderr
            .contains("wave 0 is not healthy after 2s: Deployment.apps default/web"),
        "{}",
        waited.stderr
    );
    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    roll_out(&deployments, "web").await;
    let healthy = plumbline_async(dir, &["sync", ".", "--kubeconfig", kc, "--wait"])
        .await
        .expect(0);
    assert!(
        healthy
            .stdout
            .contains("= unchanged  Deployment.apps default/web  [Current]"),
        "{}",
        healthy.stdout
    );
}

/// A repository written for Argo CD: its sync waves and PreSync/PostSync
/// hooks order a Plumbline sync as they ordered Argo CD's.
async fn argo_cd_sync_waves_and_hooks_order_the_sync_as_in_argo_cd(server: Server) {
    let world = World::on(server);
    create_namespace(&world, "shop").await;
    let migrate = MIGRATION.replace(
        "    plumbline.dev/phase: pre\n    plumbline.dev/delete-policy: on-success\n",
        "    argocd.argoproj.io/hook: PreSync\n    \
         argocd.argoproj.io/hook-delete-policy: HookSucceeded\n",
    );
    let smoke = MIGRATION.replace("name: migrate", "name: smoke").replace(
        "    plumbline.dev/phase: pre\n    plumbline.dev/delete-policy: on-success\n",
        "    argocd.argoproj.io/hook: PostSync\n",
    );
    let db = deployment("db", "0", "postgres:16").replace(
        "plumbline.dev/wave: \"0\"",
        "argocd.argoproj.io/sync-wave: \"-1\"",
    );
    for manifest in [&migrate, &smoke, &db] {
        assert!(!manifest.contains("plumbline.dev/"), "{manifest}");
    }
    world
        .repo
        .write("migrate.yaml", &migrate)
        .write("smoke.yaml", &smoke)
        .write("db.yaml", &db)
        .write("app.yaml", &config_map("app", "0", "fast"))
        .copy_dir(
            &reconcile_support::corpus().join("argo-cd__sync-waves"),
            "upstream",
        )
        .commit("an application written for Argo CD");
    let unit = world.unit("  timeout: 60s\n");
    let jobs: Api<Job> = Api::namespaced(world.client(), "shop");
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "shop");
    let controllers = async {
        wait_until("the PreSync Job applied", || exists(&jobs, "migrate")).await;
        assert!(!exists(&deployments, "db").await, "a wave before PreSync");
        complete(&jobs, "migrate").await;
        wait_until("wave -1 applied", || exists(&deployments, "db")).await;
        assert!(
            !exists(&config_maps, "app").await,
            "wave 0 before wave -1 is healthy"
        );
        roll_out(&deployments, "db").await;
        wait_until("the PostSync Job applied", || exists(&jobs, "smoke")).await;
        assert!(exists(&config_maps, "app").await);
        complete(&jobs, "smoke").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), controllers);
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert!(
        !exists(&jobs, "migrate").await,
        "HookSucceeded kept the Job"
    );
    assert!(
        exists(&jobs, "smoke").await,
        "BeforeHookCreation deleted it"
    );

    // Argo CD's own sync-waves example (its documentation's two
    // ConfigMaps) lands in waves 1 and 2.
    let plan = world.plan(&unit).await;
    let steps = plumbline::plan::waves::schedule(&plan).unwrap();
    let wave_of = |name: &str| {
        let step = steps.steps.iter().find(|step| {
            step.objects
                .iter()
                .any(|&i| plan.objects[i].key.name == name)
        });
        step.map(|step| step.id.to_string())
    };
    assert_eq!(wave_of("cm-1").as_deref(), Some("wave 1"));
    assert_eq!(wave_of("cm-2").as_deref(), Some("wave 2"));
    assert_eq!(wave_of("db").as_deref(), Some("wave -1"));
}

on_real_server!(
    argo_cd_sync_waves_and_hooks_order_the_sync_as_in_argo_cd,
    plan_shows_the_waves_and_sync_wait_fails_naming_what_is_not_healthy,
    three_waves_apply_in_order_and_a_wave_not_healthy_in_time_stops_the_sync,
    a_pre_job_completes_before_anything_else_is_applied_and_runs_once,
    a_pre_job_that_fails_stops_the_sync_naming_it,
    a_before_creation_job_runs_again_only_when_the_sync_changes_something,
    depends_on_waits_until_the_dependency_is_healthy,
);
