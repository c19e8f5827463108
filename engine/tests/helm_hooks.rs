//! Helm hooks as Plumbline's phases, on the real control plane with Helm
//! v4.2.3's own code rendering: a chart's `pre-install`/`pre-upgrade`
//! hooks run, in the order of their weights and to completion, before the
//! rest of the release is applied; its `post-*` hooks after; their delete
//! policies are carried out; and hooks no sync runs are never applied.
//! The tests play the Job controller (there is no kubelet).

mod binary_support;
mod cli_support;
mod reconcile_support;
mod server_support;
mod source_support;
mod status_support;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::Api;
use plumbline::plan::waves::{schedule, Phase, StepId};
use plumbline::reconcile::{Outcome, Status, SyncUnit};
use reconcile_support::{line, Repo, World};
use server_support::Server;
use status_support::{complete, exists, fail, wait_until, Controllers};

/// A Job of the chart, annotated with `annotations` (YAML lines).
fn job(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n{annotations}\
         spec:\n  backoffLimit: 0\n  template:\n    spec:\n      serviceAccountName: shop-hooks\n      \
         restartPolicy: Never\n      containers:\n      - name: main\n        \
         image: shop/{name}:{{{{ .Values.version }}}}\n"
    )
}

/// A chart like those in the wild: a migration Job before the release, a
/// smoke test after it, both running as a hook ServiceAccount that each
/// phase needs, plus a delete hook and a test hook that no sync runs.
fn write_chart(repo: &Repo) {
    let account = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shop-hooks\n  \
        annotations:\n    helm.sh/hook: pre-install,pre-upgrade,post-install,post-upgrade\n    \
        helm.sh/hook-weight: \"-5\"\n    \
        helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n";
    let settings = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n\
        data:\n  version: \"{{ .Values.version }}\"\n";
    let test = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: shop-test\n  annotations:\n    \
        helm.sh/hook: test\nspec:\n  containers:\n  - name: t\n    image: busybox\n";
    repo.write(
        "shop/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 1.0.0\n",
    )
    .write("shop/values.yaml", "version: \"1\"\n")
    .write("shop/templates/account.yaml", account)
    .write("shop/templates/settings.yaml", settings)
    .write(
        "shop/templates/migrate.yaml",
        &job(
            "migrate",
            "    helm.sh/hook: pre-install,pre-upgrade\n    \
                 helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n",
        ),
    )
    .write(
        "shop/templates/smoke.yaml",
        &job(
            "smoke",
            "    helm.sh/hook: post-install,post-upgrade\n    helm.sh/hook-weight: \"1\"\n",
        ),
    )
    .write(
        "shop/templates/cleanup.yaml",
        &job("cleanup", "    helm.sh/hook: pre-delete\n"),
    )
    .write("shop/templates/test.yaml", test)
    .commit("the shop chart");
}

/// The kinds of the chart, in the namespace `shop`.
struct Shop {
    jobs: Api<Job>,
    accounts: Api<ServiceAccount>,
    config_maps: Api<ConfigMap>,
}

impl Shop {
    fn in_cluster(client: &kube::Client) -> Self {
        Shop {
            jobs: Api::namespaced(client.clone(), "shop"),
            accounts: Api::namespaced(client.clone(), "shop"),
            config_maps: Api::namespaced(client.clone(), "shop"),
        }
    }
}

/// The `helm` the tests run: Helm v4.2.3's code.
fn helm() -> std::path::PathBuf {
    binary_support::repo_root().join("tests/helm/helm")
}

/// A sync of the chart into the namespace `shop`.
fn chart_sync(world: &World) -> SyncUnit {
    std::env::set_var("PLUMBLINE_HELM", helm());
    let mut unit = world.unit("  createNamespace: true\n  timeout: 60s\n");
    unit.config.spec.source.path = "shop".to_owned();
    unit.config.spec.sync.target_namespace = Some("shop".to_owned());
    unit.config.spec.source.helm =
        Some(serde_json::from_str(r#"{"releaseName": "shop"}"#).unwrap());
    unit
}

async fn helm_hooks_run_as_phases_in_weight_order_with_their_delete_policies(server: Server) {
    let world = World::on(server);
    write_chart(&world.repo);
    let unit = chart_sync(&world);

    // The plan places each hook: the ServiceAccount (weight -5) before the
    // migration, the smoke test after the release; the namespace they run
    // in comes first.
    let plan = world.plan(&unit).await;
    let steps: Vec<(StepId, Vec<String>)> = schedule(&plan)
        .unwrap()
        .steps
        .iter()
        .map(|step| {
            let names = step
                .objects
                .iter()
                .map(|&i| plan.objects[i].key.to_string());
            (step.id, names.collect())
        })
        .collect();
    let step = |phase, wave| StepId { phase, wave };
    assert_eq!(
        steps,
        [
            (step(Phase::Setup, 0), vec!["Namespace shop".to_owned()]),
            (
                step(Phase::Pre, -5),
                vec!["ServiceAccount shop/shop-hooks".to_owned()]
            ),
            (
                step(Phase::Pre, 0),
                vec!["Job.batch shop/migrate".to_owned()]
            ),
            (
                step(Phase::Main, 0),
                vec!["ConfigMap shop/settings".to_owned()]
            ),
            (
                step(Phase::Post, 1),
                vec!["Job.batch shop/smoke".to_owned()]
            ),
        ]
    );

    let client = world.client();
    let Shop {
        jobs,
        accounts,
        config_maps,
    } = Shop::in_cluster(&client);
    let job_controller = async {
        wait_until("the migration applied", || exists(&jobs, "migrate")).await;
        assert!(exists(&accounts, "shop-hooks").await, "weight -5 not first");
        assert!(
            !exists(&config_maps, "settings").await,
            "the release applied before its pre-install hook completed"
        );
        complete(&jobs, "migrate").await;

        wait_until("the smoke test applied", || exists(&jobs, "smoke")).await;
        assert!(exists(&config_maps, "settings").await);
        assert!(
            !exists(&jobs, "migrate").await,
            "hook-succeeded kept the migration"
        );
        assert!(
            exists(&accounts, "shop-hooks").await,
            "the post phase lost the ServiceAccount it runs as"
        );
        complete(&jobs, "smoke").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), job_controller);
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(
        line(&report, "Job.batch shop/migrate").message.as_deref(),
        Some("deleted after its phase succeeded (delete-policy on-success)")
    );
    assert_eq!(
        line(&report, "ServiceAccount shop/shop-hooks")
            .message
            .as_deref(),
        Some("deleted after the sync succeeded (delete-policy on-success)")
    );
    assert!(!exists(&accounts, "shop-hooks").await);
    // Helm's default, before-hook-creation only: kept until it runs again.
    let smoke = jobs.get("smoke").await.unwrap().metadata.uid;
    assert!(!exists(&jobs, "cleanup").await, "a pre-delete hook ran");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    assert!(!exists(&pods, "shop-test").await, "a test hook ran");
    assert!(report.objects.iter().all(|l| l.key.name != "cleanup"));

    // Nothing changed: no hook runs again.
    let idle = world.reconcile(&unit).await;
    assert_eq!(idle.status, Status::Synced, "{idle:#?}");
    assert!(idle.summary.in_sync(), "{:?}", idle.summary);
    assert_eq!(jobs.get("smoke").await.unwrap().metadata.uid, smoke);
    assert!(!exists(&jobs, "migrate").await && !exists(&accounts, "shop-hooks").await);

    // An upgrade: every hook runs again, the smoke test's old Job deleted
    // first.
    world
        .repo
        .write("shop/values.yaml", "version: \"2\"\n")
        .commit("version 2");
    let _controllers = Controllers::play(client.clone(), "shop");
    let upgrade = world.reconcile(&unit).await;
    assert_eq!(upgrade.status, Status::Synced, "{upgrade:#?}");
    assert_eq!(
        line(&upgrade, "Job.batch shop/migrate").outcome,
        Outcome::Created
    );
    let smoke_line = line(&upgrade, "Job.batch shop/smoke");
    assert_eq!(
        smoke_line.message.as_deref(),
        Some("deleted and created again (delete-policy before-creation)")
    );
    assert_ne!(jobs.get("smoke").await.unwrap().metadata.uid, smoke);
    let settings = config_maps.get("settings").await.unwrap();
    assert_eq!(settings.data.unwrap()["version"], "2");
}

async fn a_failed_pre_install_hook_stops_the_release_and_keeps_its_hooks(server: Server) {
    let world = World::on(server);
    write_chart(&world.repo);
    let unit = chart_sync(&world);
    let client = world.client();
    let Shop {
        jobs,
        accounts,
        config_maps,
    } = Shop::in_cluster(&client);
    let job_controller = async {
        wait_until("the migration applied", || exists(&jobs, "migrate")).await;
        fail(&jobs, "migrate").await;
    };
    let (report, ()) = tokio::join!(world.reconcile(&unit), job_controller);
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    let errors = serde_json::to_value(&report.errors).unwrap();
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("pre phase failed: Job.batch shop/migrate is Failed"),
        "{message}"
    );
    assert!(!exists(&config_maps, "settings").await);
    assert!(!exists(&jobs, "smoke").await);
    // Neither has hook-failed: both stay, for someone to read the logs.
    assert!(exists(&jobs, "migrate").await);
    assert!(exists(&accounts, "shop-hooks").await);
}

#[test]
fn plan_shows_each_hook_in_its_phase_with_its_delete_policy() {
    let repo = Repo::new();
    write_chart(&repo);
    let args = [
        "plan",
        "shop",
        "--release-name",
        "shop",
        "--namespace",
        "shop",
    ];
    let mut plan = cli_support::command(&cli_support::cache_dir(), repo.dir.path(), &args);
    let out = cli_support::run(plan.env("PLUMBLINE_HELM", helm()))
        .expect(1)
        .stdout;
    // Each heading, then its object, then the object's delete policy.
    let expected = [
        "pre phase, wave -5: runs when the sync changes anything",
        "+ create    ServiceAccount shop/shop-hooks",
        "delete-policy: before-creation, on-success (once the sync ends: the post phase \
         needs it too)",
        "pre phase: runs when the sync changes anything",
        "+ create    Job.batch shop/migrate",
        "delete-policy: before-creation, on-success\n",
        "wave 0",
        "+ create    ConfigMap shop/settings",
        "post phase, wave 1: runs after every wave is healthy and the prune",
        "+ create    Job.batch shop/smoke",
        "delete-policy: before-creation\n",
    ];
    let mut from = 0;
    for text in expected {
        let at = out[from..]
            .find(text)
            .unwrap_or_else(|| panic!("{text:?} not after byte {from} of:\n{out}"));
        from += at + text.len();
    }
    assert!(
        !out.contains("cleanup") && !out.contains("shop-test"),
        "{out}"
    );
}

on_real_server!(
    helm_hooks_run_as_phases_in_weight_order_with_their_delete_policies,
    a_failed_pre_install_hook_stops_the_release_and_keeps_its_hooks,
);
