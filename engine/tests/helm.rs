//! Helm charts as a source (docs/helm.md), rendered by the `helm` test
//! executable of tests/helm (Helm v4.2.3's own code): the shared real-world
//! charts render to exactly what Helm prints; bad input fails with one clear
//! error and prunes nothing; charts sync to the real API server and plan
//! clean afterwards; validators see chart output; `helm.sh/resource-policy:
//! keep` survives prune.

mod binary_support;
mod chart_support;
mod cli_support;
mod reconcile_support;
mod server_support;
mod source_support;
mod status_support;

use std::path::{Path, PathBuf};

use binary_support::{repo_root, write_file};
use chart_support::helm_as_v3;
use cli_support::{command, run, Run};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;
use plumbline::reconcile::{Outcome, Status, SyncUnit};
use plumbline::render::helm::output::HookEvents;
use reconcile_support::World;
use serde_json::Value;
use server_support::Server;

/// The shared charts: a copy lives in tests/charts (with the upstream
/// licences), so a clean clone has them.
fn charts() -> PathBuf {
    let root = repo_root();
    [root.join("tests/charts"), root.join("../shared/charts")]
        .into_iter()
        .find(|dir| dir.join("MANIFEST.md").is_file())
        .expect("tests/charts not found")
}

/// The `helm` the tests run.
fn helm() -> PathBuf {
    repo_root().join("tests/helm/helm")
}

/// The test `helm` behind a wrapper that logs each run's arguments to
/// `runs.log` beside it, for the in-process tests (one per test binary).
fn counting_helm() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let wrapper = dir.path().join("helm");
        let log = dir.path().join("runs.log");
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            helm().display()
        );
        std::fs::write(&wrapper, script).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    });
    dir.path()
}

/// How many times the counting `helm` rendered release `release`.
fn helm_runs(release: &str) -> usize {
    let log = std::fs::read_to_string(counting_helm().join("runs.log")).unwrap_or_default();
    log.lines()
        .filter(|line| line.split(' ').nth(1) == Some(release))
        .count()
}

/// `plumbline ARGS` in `dir` with the test `helm` and extra variables.
fn plumbline(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let cache = tempfile::tempdir().unwrap();
    let mut command = command(cache.path(), dir, args);
    command.env("PLUMBLINE_HELM", helm());
    for (name, value) in env {
        command.env(name, value);
    }
    run(&mut command)
}

const CHARTS: [&str; 6] = [
    "podinfo",
    "ingress-nginx",
    "metrics-server",
    "external-dns",
    "grafana",
    "cert-manager",
];

/// The objects of an expected output of real Helm, hooks no sync runs
/// (tests) left out: Plumbline never applies them.
fn expected_objects(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    plumbline::yaml::documents(&text)
        .unwrap()
        .into_iter()
        .filter(|doc| doc.get("apiVersion").is_some() && doc.get("kind").is_some())
        .filter(|doc| !HookEvents::of(doc).never_run())
        .collect()
}

/// Values Helm randomises (grafana's generated admin password and the
/// checksum of its Secret), masked on both sides.
fn mask(object: &mut Value) {
    if let Some(password) = object.pointer_mut("/data/admin-password") {
        *password = Value::String("masked".into());
    }
    let checksum = "/spec/template/metadata/annotations/checksum~1secret";
    if let Some(sum) = object.pointer_mut(checksum) {
        *sum = Value::String("masked".into());
    }
}

/// What Plumbline adds to a rendered object, taken away: its sync label,
/// and the release namespace it gives namespaced objects that name none.
fn without_plumbline_additions(mut object: Value, expected: &Value) -> Value {
    let metadata = object["metadata"].as_object_mut().unwrap();
    if let Some(labels) = metadata.get_mut("labels").and_then(Value::as_object_mut) {
        labels.remove("plumbline.dev/sync");
        if labels.is_empty() && expected.pointer("/metadata/labels").is_none() {
            metadata.remove("labels");
        }
    }
    if expected.pointer("/metadata/namespace").is_none()
        && metadata.get("namespace").and_then(Value::as_str) == Some("demo")
    {
        metadata.remove("namespace");
    }
    object
}

/// Whether two lines of `helm template` output differ only by a value
/// Helm randomises (podinfo's test pod names, grafana's admin password and
/// the checksum of its Secret).
fn same_but_random(got: &str, want: &str) -> bool {
    let random = |line: &str| {
        let line = line.trim();
        (line.starts_with("name: demo-podinfo-") && line.contains("-test-"))
            || line.starts_with("admin-password:")
            || line.starts_with("checksum/secret:")
    };
    got == want || random(got) && random(want)
}

#[test]
fn the_test_helm_prints_what_helm_v4_prints_for_every_shared_chart() {
    let charts = charts();
    for name in CHARTS {
        for variant in ["default", "custom"] {
            let mut command = std::process::Command::new(helm());
            command
                .current_dir(&charts)
                .args(["template", "demo", name]);
            command.args([
                "--namespace",
                "demo",
                "--kube-version",
                "1.36.0",
                "--include-crds",
            ]);
            if variant == "custom" {
                let values = format!("values/{name}-custom.yaml");
                command.args(["--api-versions", "monitoring.coreos.com/v1", "-f", &values]);
            }
            let out = command.output().unwrap();
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            let expected = charts.join(format!("expected/{name}.{variant}.yaml"));
            if !expected.is_file() {
                let error = charts.join(format!("expected/{name}.{variant}.error.txt"));
                let error = std::fs::read_to_string(error).unwrap();
                let message = error.split_once("stderr:\n").unwrap().1;
                let printed = (out.status.code(), stdout.as_str(), stderr.trim_end());
                assert_eq!(
                    printed,
                    (Some(1), "", message.trim_end()),
                    "{name} {variant}"
                );
                continue;
            }
            assert!(out.status.success(), "{name} {variant}: {stderr}");
            let expected = std::fs::read_to_string(expected).unwrap();
            let (got, want): (Vec<&str>, Vec<&str>) =
                (stdout.lines().collect(), expected.lines().collect());
            assert_eq!(got.len(), want.len(), "{name} {variant}: line count");
            for (n, (got, want)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same_but_random(got, want),
                    "{name} {variant} line {}: {got:?} != {want:?}",
                    n + 1
                );
            }
            assert_eq!(stdout.ends_with('\n'), expected.ends_with('\n'));
        }
    }
}

#[test]
fn every_shared_chart_renders_through_plumbline_to_what_helm_prints() {
    let charts = charts();
    let mut compared = 0;
    for name in CHARTS {
        for variant in ["default", "custom"] {
            let expected_file = charts.join(format!("expected/{name}.{variant}.yaml"));
            if !expected_file.is_file() {
                continue;
            }
            let chart = charts.join(name).display().to_string();
            let values = charts
                .join(format!("values/{name}-custom.yaml"))
                .display()
                .to_string();
            let mut args = vec![
                "render",
                &chart,
                "--release-name",
                "demo",
                "--namespace",
                "demo",
            ];
            args.extend(["--kube-version", "1.36.0", "-o", "json"]);
            if variant == "custom" {
                args.extend([
                    "--values",
                    &values,
                    "--api-versions",
                    "monitoring.coreos.com/v1",
                ]);
            }
            let out = plumbline(&charts, &args, &[]).expect(0);
            let rendered: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
            let expected = expected_objects(&expected_file);
            assert_eq!(
                rendered.len(),
                expected.len(),
                "{name} {variant}: object count"
            );
            for (got, want) in rendered.into_iter().zip(expected) {
                let mut got = without_plumbline_additions(got, &want);
                let mut want = want;
                mask(&mut got);
                mask(&mut want);
                assert_eq!(got, want, "{name} {variant}");
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 11, "every expected output was compared");
}

#[test]
fn external_dns_without_its_required_value_fails_with_helms_schema_message() {
    let charts = charts();
    let chart = charts.join("external-dns").display().to_string();
    let out = plumbline(&charts, &["render", &chart], &[]).expect(2);
    assert!(
        out.stderr
            .contains("chart external-dns@1.21.1: helm template failed")
            && out.stderr.contains("missing property 'policy'"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

/// A chart whose Deployment needs `image.tag`.
fn write_small_chart(dir: &Path) {
    let write = |path: &str, text: &str| write_file(&dir.join(path), text);
    write(
        "Chart.yaml",
        "apiVersion: v2\nname: small\nversion: 0.3.0\n",
    );
    write("values.yaml", "image: {repository: nginx}\n");
    write(
        "templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  \
         selector: {matchLabels: {app: small}}\n  template:\n    metadata: {labels: {app: small}}\n    \
         spec:\n      containers:\n      - name: app\n        image: \"{{ .Values.image.repository }}:\
         {{ required \"image.tag is required\" .Values.image.tag }}\"\n",
    );
}

/// One bad input: the arguments, the environment, what the error says.
type BadInput<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn bad_chart_input_fails_with_one_error_naming_chart_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("small");
    write_small_chart(&chart);
    let chart_arg = chart.display().to_string();
    std::fs::write(dir.path().join("bad.yaml"), "image: [1\n").unwrap();
    let slow = dir.path().join("slow-helm");
    std::fs::write(&slow, "#!/bin/sh\nexec sleep 30\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let missing = dir.path().join("no-such-helm").display().to_string();
    let slow = slow.display().to_string();
    let cases: [BadInput; 5] = [
        (
            &["render", &chart_arg],
            &[],
            &[
                "chart small@0.3.0: helm template failed",
                "image.tag is required",
            ],
        ),
        (
            &[
                "render",
                &chart_arg,
                "--values",
                "bad.yaml",
                "--set",
                "image.tag=1",
            ],
            &[],
            &["chart small@0.3.0: values file", "bad.yaml: not YAML"],
        ),
        (
            &["render", &chart_arg, "--set", "image.tag=1"],
            &[("PLUMBLINE_HELM", &slow), ("PLUMBLINE_HELM_TIMEOUT", "1")],
            &["chart small@0.3.0: helm template ran longer than 1s and was stopped"],
        ),
        (
            &["render", &chart_arg, "--set", "image.tag=1"],
            &[("PLUMBLINE_HELM", &missing)],
            &[
                "needs a `helm` executable",
                "no-such-helm was not found",
                "install Helm",
            ],
        ),
        (
            &[
                "render",
                dir.path().to_str().unwrap(),
                "--values",
                "bad.yaml",
            ],
            &[],
            &["are for Helm charts", "not a chart directory"],
        ),
    ];
    for (args, env, wanted) in cases {
        let out = plumbline(dir.path(), args, env).expect(2);
        for text in wanted {
            assert!(
                out.stderr.contains(text),
                "{args:?}: {text:?} in\n{}",
                out.stderr
            );
        }
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    let fine = plumbline(
        dir.path(),
        &["render", &chart_arg, "--set", "image.tag=1.27"],
        &[],
    );
    assert!(fine.expect(0).stdout.contains("image: nginx:1.27"));
}

#[test]
fn a_sync_naming_a_chart_directory_without_chart_yaml_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {name: shop}\n\
         spec:\n  source: {url: ., path: deploy, helm: {releaseName: shop}}\n",
    )
    .unwrap();
    let out = plumbline(dir.path(), &["render", "."], &[]).expect(2);
    assert!(
        out.stderr
            .contains("chart \"deploy\": no Chart.yaml in the source"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_validator_blocks_a_charts_daemonset_and_names_its_template() {
    let charts = charts();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: ingress}}\n\
             spec:\n  source:\n    url: {:?}\n    path: ingress-nginx\n    \
             helm: {{releaseName: demo, namespace: demo, valuesFiles: [../values/ingress-nginx-custom.yaml], \
             apiVersions: [monitoring.coreos.com/v1]}}\n  \
             policies:\n  - module: {:?}\n",
            charts.display().to_string(),
            policy_artifacts::NO_PRIVILEGED
        ),
    )
    .unwrap();
    let out = plumbline(dir.path(), &["validate", "."], &[]).expect(1);
    assert!(
        out.stdout
            .contains("DaemonSet.apps demo/demo-ingress-nginx-controller")
            && out.stdout.contains("capabilities.add")
            && out
                .stdout
                .contains("(ingress-nginx@4.15.1: templates/controller-daemonset.yaml:1)"),
        "{}",
        out.stdout
    );
}

/// A CRD that only serves `kind` of `group`/v1, any content: what the
/// cluster of a chart's custom values already has (prometheus-operator's
/// and cert-manager's kinds), as a stand-in for the operator's own.
fn served_kind_crd(group: &str, kind: &str, plural: &str) -> Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    })
}

/// Sync the shared chart `chart` with its default values (unless Helm's
/// own schema refuses them), then switch the same sync to its custom
/// values: each sync succeeds and the plan after it is in sync. The
/// kinds the custom values render for operators the chart does not ship
/// (ServiceMonitor, PrometheusRule, Certificate) are served by stand-in
/// CRDs first, as a cluster with those operators would.
async fn shared_chart_syncs_with_default_and_custom_values(server: Server, chart: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{GroupVersionKind, PostParams};
    std::env::set_var("PLUMBLINE_HELM", counting_helm().join("helm"));
    let world = World::on(server);
    let crds: Api<CustomResourceDefinition> = Api::all(world.client());
    let kinds = [
        ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
        ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
        ("cert-manager.io", "Certificate", "certificates"),
    ];
    for (group, kind, plural) in kinds {
        if chart == "cert-manager" && group == "cert-manager.io" {
            continue; // the chart's custom values install cert-manager's own
        }
        let crd = serde_json::from_value(served_kind_crd(group, kind, plural)).unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
        let gvk = GroupVersionKind::gvk(group, "v1", kind);
        let mut attempts = 0;
        while let Err(error) = kube::discovery::pinned_kind(&world.client(), &gvk).await {
            attempts += 1;
            assert!(attempts < 900, "{kind} is never served: {error}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // The hooks of ingress-nginx and cert-manager run as phases: their Jobs
    // complete, and the release is healthy before the post phase.
    let _controllers = status_support::Controllers::play(world.client(), chart);
    let charts = charts();
    world
        .repo
        .copy_dir(&charts.join(chart), chart)
        .copy_dir(&charts.join("values"), "values")
        .commit(chart);
    let custom =
        format!(r#"{{"releaseName": "demo", "valuesFiles": ["../values/{chart}-custom.yaml"]}}"#);
    let default = r#"{"releaseName": "demo"}"#.to_owned();
    // external-dns's default values fail Helm's own schema (MANIFEST.md).
    let variants = if chart == "external-dns" {
        vec![("custom", custom)]
    } else {
        vec![("default", default), ("custom", custom)]
    };
    for (variant, helm) in variants {
        let mut unit = chart_sync(&world, chart, chart, chart, &helm);
        // Custom values replace much of what the defaults rendered (10 of
        // ingress-nginx's 19 objects): past the mass-deletion guard, which
        // this sync allows on purpose.
        unit.config.spec.sync.prune_guard.allow_mass_prune = true;
        let report = world.reconcile(&unit).await;
        assert_eq!(report.status, Status::Synced, "{chart} {helm}: {report:#?}");
        // Every hook Helm renders ran in its phase, and was deleted after
        // it if its delete policy says hook-succeeded (ingress-nginx's and
        // cert-manager's hooks; podinfo's custom post-install Job is kept).
        let expected = charts.join(format!("expected/{chart}.{variant}.yaml"));
        for hook in expected_objects(&expected) {
            if !HookEvents::of(&hook).any {
                continue;
            }
            let (kind, name) = (&hook["kind"], &hook["metadata"]["name"]);
            let line = report
                .objects
                .iter()
                .find(|l| l.key.kind == *kind && l.key.name == *name)
                .unwrap_or_else(|| panic!("{chart}: hook {kind} {name} not synced"));
            let message = line.message.as_deref().unwrap_or_default();
            let policy = &hook["metadata"]["annotations"]["helm.sh/hook-delete-policy"];
            assert_eq!(
                message.contains("(delete-policy on-success)"),
                policy
                    .as_str()
                    .unwrap_or_default()
                    .contains("hook-succeeded"),
                "{chart}: hook {kind} {name}: {message}"
            );
        }
        let plan = world.plan(&unit).await;
        assert!(
            plan.summary().in_sync(),
            "{chart} {helm}: {}",
            plan.summary()
        );
    }
}

async fn podinfo_syncs_with_default_and_custom_values(server: Server) {
    shared_chart_syncs_with_default_and_custom_values(server, "podinfo").await;
}

async fn ingress_nginx_syncs_with_default_and_custom_values(server: Server) {
    shared_chart_syncs_with_default_and_custom_values(server, "ingress-nginx").await;
}

async fn metrics_server_syncs_with_default_and_custom_values(server: Server) {
    shared_chart_syncs_with_default_and_custom_values(server, "metrics-server").await;
}

async fn external_dns_syncs_with_custom_values(server: Server) {
    shared_chart_syncs_with_default_and_custom_values(server, "external-dns").await;
}

async fn grafana_syncs_with_default_and_custom_values(server: Server) {
    shared_chart_syncs_with_default_and_custom_values(server, "grafana").await;
}

async fn cert_manager_syncs_with_default_and_custom_values(server: Server) {
    shared_chart_syncs_with_default_and_custom_values(server, "cert-manager").await;
}

on_real_server!(
    podinfo_syncs_with_default_and_custom_values,
    ingress_nginx_syncs_with_default_and_custom_values,
    metrics_server_syncs_with_default_and_custom_values,
    external_dns_syncs_with_custom_values,
    grafana_syncs_with_default_and_custom_values,
    cert_manager_syncs_with_default_and_custom_values,
    chart_changes_in_git_update_and_prune_and_failures_prune_nothing,
    a_reconcile_of_an_unchanged_chart_starts_no_helm,
    charts_see_the_target_clusters_version_and_api_versions,
);

/// A sync of the chart at `path` of the world's repository, into the
/// namespace `namespace` (created by the sync).
fn chart_sync(world: &World, name: &str, path: &str, namespace: &str, helm: &str) -> SyncUnit {
    let mut unit = world.unit("  createNamespace: true\n");
    unit.config.metadata.name = name.to_owned();
    unit.config.spec.source.path = path.to_owned();
    unit.config.spec.sync.target_namespace = Some(namespace.to_owned());
    unit.config.spec.source.helm = Some(serde_json::from_str(helm).unwrap());
    unit
}

async fn chart_changes_in_git_update_and_prune_and_failures_prune_nothing(server: Server) {
    std::env::set_var("PLUMBLINE_HELM", counting_helm().join("helm"));
    let world = World::on(server);
    let kept = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  annotations:\n    \
                helm.sh/resource-policy: keep\ndata: {a: b}\n";
    world
        .repo
        .copy_dir(&charts().join("podinfo"), "chart")
        .write("chart/templates/kept.yaml", kept)
        .write("prod.yaml", "replicaCount: 2\n")
        .commit("podinfo");
    let helm = r#"{"releaseName": "web", "valuesFiles": ["../prod.yaml"]}"#;
    let unit = chart_sync(&world, "web", "chart", "web", helm);
    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "web");
    let replicas = |d: Deployment| d.spec.replicas;
    assert_eq!(
        replicas(deployments.get("web-podinfo").await.unwrap()),
        Some(2)
    );

    // A values change in Git updates; a removed template is pruned, except
    // what says `helm.sh/resource-policy: keep`.
    world
        .repo
        .write("prod.yaml", "replicaCount: 3\n")
        .remove("chart/templates/service.yaml")
        .remove("chart/templates/kept.yaml")
        .commit("three replicas, no service, no kept ConfigMap");
    let second = world.reconcile(&unit).await;
    assert_eq!(second.status, Status::Synced, "{second:#?}");
    assert_eq!(
        replicas(deployments.get("web-podinfo").await.unwrap()),
        Some(3)
    );
    let services: Api<Service> = Api::namespaced(world.client(), "web");
    assert!(services.get_opt("web-podinfo").await.unwrap().is_none());
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "web");
    assert!(config_maps.get_opt("kept").await.unwrap().is_some());
    let kept_line = reconcile_support::line(&second, "ConfigMap web/kept");
    assert_eq!(kept_line.outcome, Outcome::OwnershipChanged, "{second:#?}");

    // A values file that is not YAML fails the sync: nothing is pruned.
    world
        .repo
        .write("prod.yaml", "replicaCount: [3\n")
        .commit("broken values");
    let broken = world.reconcile(&unit).await;
    assert_eq!(broken.status, Status::Failed, "{broken:#?}");
    let message = format!("{broken:?}");
    assert!(
        message.contains("BadValues") && message.contains("not YAML"),
        "{message}"
    );
    assert!(deployments.get_opt("web-podinfo").await.unwrap().is_some());
}

async fn a_reconcile_of_an_unchanged_chart_starts_no_helm(server: Server) {
    std::env::set_var("PLUMBLINE_HELM", counting_helm().join("helm"));
    let world = World::on(server);
    world
        .repo
        .copy_dir(&charts().join("podinfo"), "chart")
        .commit("podinfo");
    let mut unit = chart_sync(
        &world,
        "cached",
        "chart",
        "cached",
        r#"{"releaseName": "cached-web"}"#,
    );
    for _ in 0..2 {
        let report = world.reconcile(&unit).await;
        assert_eq!(report.status, Status::Synced, "{report:#?}");
    }
    assert_eq!(
        helm_runs("cached-web"),
        1,
        "the second reconcile rendered again"
    );

    // Changed values render again.
    unit.config.spec.source.helm.as_mut().unwrap().set = vec!["replicaCount=2".into()];
    let changed = world.reconcile(&unit).await;
    assert_eq!(changed.status, Status::Synced, "{changed:#?}");
    assert_eq!(helm_runs("cached-web"), 2);
}

/// A chart that shows what it sees of the cluster in a ConfigMap, and
/// renders a Widget only where the API server serves `example.dev/v1`.
const CAPABILITIES_TEMPLATE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: capabilities
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  servesWidgets: {{ .Capabilities.APIVersions.Has "example.dev/v1" | quote }}
  servesWidgetKind: {{ .Capabilities.APIVersions.Has "example.dev/v1/Widget" | quote }}
{{- if .Capabilities.APIVersions.Has "example.dev/v1" }}
---
apiVersion: example.dev/v1
kind: Widget
metadata:
  name: blue
spec:
  size: 3
{{- end }}
"#;

/// The CRD that makes the API server serve `example.dev/v1`.
fn widget_crd() -> Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.dev"},
        "spec": {
            "group": "example.dev",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    })
}

async fn charts_see_the_target_clusters_version_and_api_versions(server: Server) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{DynamicObject, GroupVersionKind, PostParams};
    std::env::set_var("PLUMBLINE_HELM", counting_helm().join("helm"));
    let world = World::on(server);
    world
        .repo
        .write(
            "caps/Chart.yaml",
            "apiVersion: v2\nname: caps\nversion: 0.1.0\n",
        )
        .write("caps/templates/capabilities.yaml", CAPABILITIES_TEMPLATE)
        .commit("a chart that looks at the cluster");
    let unit = chart_sync(&world, "caps", "caps", "caps", "{}");
    let server_version = world
        .client()
        .apiserver_version()
        .await
        .unwrap()
        .git_version;
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "caps");
    let seen = |key: &'static str| {
        let config_maps = config_maps.clone();
        async move {
            let map = config_maps.get("capabilities").await.unwrap();
            map.data.unwrap()[key].clone()
        }
    };

    let before = world.reconcile(&unit).await;
    assert_eq!(before.status, Status::Synced, "{before:#?}");
    assert_eq!(seen("kubeVersion").await, server_version);
    assert_eq!(seen("servesWidgets").await, "false");
    assert!(!format!("{before:?}").contains("Widget"), "{before:#?}");

    // Once a CRD serves the version, the next reconcile renders again
    // (the capabilities are part of the render's inputs) and applies the
    // Widget the chart now renders.
    let crds: Api<CustomResourceDefinition> = Api::all(world.client());
    let crd = serde_json::from_value(widget_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let gvk = GroupVersionKind::gvk("example.dev", "v1", "Widget");
    let mut attempts = 0;
    let (resource, _) = loop {
        match kube::discovery::pinned_kind(&world.client(), &gvk).await {
            Ok(found) => break found,
            Err(error) => {
                attempts += 1;
                assert!(attempts < 900, "the Widget CRD is never served: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let after = world.reconcile(&unit).await;
    assert_eq!(after.status, Status::Synced, "{after:#?}");
    assert_eq!(seen("servesWidgets").await, "true");
    assert_eq!(seen("servesWidgetKind").await, "true");
    let widgets: Api<DynamicObject> = Api::namespaced_with(world.client(), "caps", &resource);
    let widget = widgets.get("blue").await.unwrap();
    assert_eq!(widget.data["spec"]["size"], 3);
    let plan = world.plan(&unit).await;
    assert!(plan.summary().in_sync(), "{}", plan.summary());
}

/// A small chart with a CRD under `crds/`, a custom resource and a test
/// hook, for kustomize's `helmCharts`.
fn write_widget_chart(dir: &Path) {
    let write = |path: &str, text: &str| write_file(&dir.join(path), text);
    write(
        "Chart.yaml",
        "apiVersion: v2\nname: widgets\nversion: 0.2.0\n",
    );
    write("values.yaml", "size: 1\ncolor: grey\nshape: square\n");
    let crd = serde_yaml::to_string(&widget_crd()).unwrap();
    write("crds/widgets.yaml", &crd);
    write(
        "templates/widget.yaml",
        "apiVersion: example.dev/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\n  \
         namespace: {{ .Release.Namespace }}\nspec:\n  size: {{ .Values.size }}\n  \
         color: {{ .Values.color }}\n  shape: {{ .Values.shape }}\n",
    );
    write(
        "templates/test.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    \
         helm.sh/hook: test\nspec:\n  containers:\n  - {name: t, image: busybox}\n",
    );
}

/// `dir/<entry>` rendered by Plumbline with the test helm.
fn render_kustomization(
    dir: &Path,
    entry: &str,
) -> plumbline::render::Result<Vec<plumbline::render::Manifest>> {
    use plumbline::render::{self, helm::HelmOptions, RenderOptions};
    let limits = plumbline::source::Limits::default();
    let tree = plumbline::source::read_local_dir(dir, &limits).unwrap();
    let options = RenderOptions {
        path: entry.to_owned(),
        helm: HelmOptions {
            executable: helm(),
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    };
    Ok(render::render(&tree, &options)?.objects)
}

/// Objects as sorted JSON texts, to compare as sets.
fn canonical(objects: Vec<Value>) -> Vec<String> {
    let mut texts: Vec<String> = objects.iter().map(Value::to_string).collect();
    texts.sort();
    texts
}

#[test]
fn kustomize_helm_charts_render_like_live_kubectl_kustomize_enable_helm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| write_file(&root.join(path), text);
    std::fs::create_dir_all(root.join("base/vendored")).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(charts().join("podinfo"))
        .arg(root.join("base/vendored/podinfo"))
        .status()
        .unwrap();
    assert!(copied.success());
    write_widget_chart(&root.join("base/vendored/widgets"));
    write(
        "base/kustomization.yaml",
        "resources: [settings.yaml]\nhelmGlobals:\n  chartHome: vendored\nhelmCharts:\n\
         - name: podinfo\n  releaseName: web\n  namespace: shop\n  skipTests: true\n  \
         valuesInline:\n    replicaCount: 3\n    ui: {message: hello}\n  \
         additionalValuesFiles: [extra.yaml]\n\
         - name: widgets\n  releaseName: blue\n  includeCRDs: true\n  \
         valuesFile: widget-values.yaml\n  valuesMerge: merge\n  valuesInline: {size: 5, shape: round}\n",
    );
    write(
        "base/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
    );
    write(
        "base/extra.yaml",
        "ui:\n  color: '#123456'\nreplicaCount: 4\n",
    );
    write("base/widget-values.yaml", "size: 2\ncolor: red\n");
    write(
        "overlay/kustomization.yaml",
        "resources: [../base]\nnamePrefix: prod-\nnamespace: prod\ncommonLabels: {team: shop}\n",
    );

    let out = std::process::Command::new("kubectl")
        .args(["kustomize", "--enable-helm", "--helm-command"])
        .arg(helm_as_v3(root))
        .arg(root.join("overlay"))
        .output()
        .expect("kubectl must be installed (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // kubectl applies test hooks; Plumbline never does (docs/helm.md).
    let expected: Vec<Value> = plumbline::yaml::documents(&String::from_utf8_lossy(&out.stdout))
        .unwrap()
        .into_iter()
        .filter(|o| !HookEvents::of(o).never_run())
        .collect();
    let rendered = render_kustomization(root, "overlay").unwrap_or_else(|e| panic!("{e}"));
    let find = |kind: &str, name: &str| {
        rendered
            .iter()
            .find(|m| m.object["kind"] == kind && m.object["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {rendered:#?}"))
            .clone()
    };
    // Each object names its chart and template, as from a chart source.
    let widget = find("Widget", "prod-blue");
    assert_eq!(
        widget.origin.to_string(),
        "widgets@0.2.0: templates/widget.yaml: document 1 (line 1)"
    );
    let ours: Vec<Value> = rendered.into_iter().map(|m| m.object).collect();
    let find = |kind: &str, name: &str| {
        ours.iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {ours:#?}"))
            .clone()
    };
    // The values as kustomize combines them: inline over the chart's
    // values, then the additional file; with `merge`, the file wins.
    let deployment = find("Deployment", "prod-web-podinfo");
    assert_eq!(deployment["spec"]["replicas"], 4);
    assert_eq!(deployment["metadata"]["namespace"], "prod");
    assert_eq!(deployment["metadata"]["labels"]["team"], "shop");
    let widget = find("Widget", "prod-blue");
    assert_eq!(
        widget["spec"],
        serde_json::json!({"size": 2, "color": "red", "shape": "round"})
    );
    find("CustomResourceDefinition", "widgets.example.dev");
    assert_eq!(canonical(ours), canonical(expected));
}

#[test]
fn kustomize_helm_charts_that_are_not_vendored_or_unnamed_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_widget_chart(&root.join("charts/widgets"));
    std::fs::write(
        root.join("kustomization.yaml"),
        "helmCharts:\n- name: cache\n  version: 3.1.0\n  repo: https://charts.example.dev\n  \
         releaseName: cache\n- name: widgets\n- name: widgets\n  releaseName: w\n  nameTemplate: x\n\
         - name: cache\n  version: ^3\n  repo: https://charts.example.dev\n  releaseName: c\n",
    )
    .unwrap();
    let errors = render_kustomization(root, "").unwrap_err().to_string();
    for needle in [
        "kustomization.yaml: helmCharts[1] (cache): no chart at charts/cache-3.1.0/cache: \
         it was not pulled from https://charts.example.dev before render",
        "kustomization.yaml: helmCharts[2] (widgets): releaseName is required",
        "kustomization.yaml: helmCharts[3] (widgets): field `nameTemplate` is not supported \
         (give releaseName)",
        "kustomization.yaml: helmCharts[4] (cache): version \"^3\" is not an exact version: \
         kustomize pulls charts at an exact version",
    ] {
        assert!(errors.contains(needle), "{needle}\nnot in:\n{errors}");
    }
}
