//! Charts Plumbline fetches itself (docs/helm.md, issue #25): from an HTTP
//! chart repository served on loopback (archives packaged and indexed by
//! Helm's own code, tests/helm) and from the loopback OCI registry (charts
//! pushed by Helm's own registry client, so the media types are Helm's).
//! Through the CLI on the real API server: sync, a clean plan, a new
//! version updates and prunes, the resolved version and digest are
//! recorded; bad input fails with one error naming repository, chart and
//! version, and prunes nothing.

mod binary_support;
mod chart_support;
mod cli_support;
mod server_support;
mod source_support;

use std::path::Path;

use chart_support::{helm, helm_as_v3, helm_run, index_digest, publish, push, write_chart};
use cli_support::{command, run, Run};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use registry::{FileServer, Hanging, Options, Registry};
use serde_json::Value;
use server_support::Server;

/// A directory with a `plumbline.yaml` whose source is `source` (the
/// YAML of `spec.source`, indented by four), into namespace `namespace`.
fn sync_dir(name: &str, source: &str, namespace: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: {name}\n\
             spec:\n  source:\n{source}\n    helm: {{releaseName: web}}\n  \
             targetNamespace: {namespace}\n  createNamespace: true\n"
        ),
    )
    .unwrap();
    dir
}

/// `plumbline ARGS` in `dir` with caches in `cache`, the test `helm` and
/// extra variables, off the runtime.
async fn plumbline(cache: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = command(cache, dir, args);
    command.env("PLUMBLINE_HELM", helm());
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap()
}

/// `plan -o json` against the server: the document.
async fn plan_json(server: &Server, cache: &Path, dir: &Path) -> Value {
    let kubeconfig = server.kubeconfig_file(dir).display().to_string();
    let plan = plumbline(
        cache,
        dir,
        &["plan", ".", "--kubeconfig", &kubeconfig, "-o", "json"],
        &[],
    )
    .await;
    serde_json::from_str(&plan.stdout).unwrap_or_else(|e| panic!("{e}: {plan:?}"))
}

/// `sync .` against the server.
async fn sync(server: &Server, cache: &Path, dir: &Path, env: &[(&str, &str)]) -> Run {
    let kubeconfig = server.kubeconfig_file(dir).display().to_string();
    plumbline(cache, dir, &["sync", ".", "--kubeconfig", &kubeconfig], env).await
}

/// Chart `demo` 1.0.0 (with its `extra` ConfigMap) published to an HTTP
/// chart repository (the directory, served by the file server) and pushed
/// to a registry (`oci://HOST/charts`); `None` when there is no registry
/// (the test is skipped).
fn repository_and_registry() -> Option<(Registry, tempfile::TempDir, FileServer)> {
    let registry = Registry::start_or_skip(Options::default())?;
    let repo = tempfile::tempdir().unwrap();
    publish(repo.path(), "1.0.0", true);
    let files = FileServer::start(repo.path()).unwrap();
    push(&registry.host(), "1.0.0", true);
    Some((registry, repo, files))
}

/// The data of ConfigMap `name`, if it exists.
async fn config_map(config_maps: &Api<ConfigMap>, name: &str) -> Option<Value> {
    let found = config_maps.get_opt(name).await.unwrap()?;
    Some(serde_json::to_value(found.data.unwrap_or_default()).unwrap())
}

async fn a_chart_from_an_http_repository_syncs_updates_and_prunes(server: Server) {
    let repo = tempfile::tempdir().unwrap();
    publish(repo.path(), "1.0.0", true);
    publish(repo.path(), "2.0.0", false);
    publish(repo.path(), "1.2.0-rc.1", false);
    let files = FileServer::start(repo.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let source = format!(
        "    url: {}\n    chart: demo\n    version: \">=1 <2\"",
        files.url()
    );
    let dir = sync_dir("http-chart", &source, "http-chart");
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "http-chart");

    // The constraint picks 1.0.0: 2.0.0 is out of range, 1.2.0-rc.1 a
    // pre-release. The archive is downloaded once, then taken from the
    // cache by its digest.
    sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
    let settings = config_map(&config_maps, "web-settings").await.unwrap();
    assert_eq!(settings["version"], "1.0.0");
    assert!(config_map(&config_maps, "web-extra").await.is_some());
    let plan = plan_json(&server, cache.path(), dir.path()).await;
    assert_eq!(plan["inSync"], true, "{plan:#}");
    let digest = index_digest(repo.path(), "1.0.0");
    assert_eq!(plan["chart"]["name"], "demo");
    assert_eq!(plan["chart"]["version"], "1.0.0");
    assert_eq!(plan["chart"]["digest"], digest.as_str());
    assert_eq!(plan["chart"]["repository"], files.url().as_str());
    assert_eq!(plan["revision"], format!("1.0.0@{digest}").as_str());
    assert_eq!(files.requests("/demo-1.0.0.tgz"), 1);
    assert_eq!(files.requests("/index.yaml"), 2);

    // The human plan says which chart, version and digest, and each object
    // keeps its template.
    let kubeconfig = server.kubeconfig_file(dir.path()).display().to_string();
    let human = plumbline(
        cache.path(),
        dir.path(),
        &["plan", ".", "--kubeconfig", &kubeconfig],
        &[],
    )
    .await;
    let expected = format!("chart:    demo 1.0.0 from {} ({digest})", files.url());
    assert!(human.stdout.contains(&expected), "{}", human.stdout);

    // A new version in range is published: the next sync takes it,
    // updates the ConfigMap and prunes what the new version no longer
    // renders; the plan after it is clean and records the new version.
    publish(repo.path(), "1.1.0", false);
    let updated = sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
    let settings = config_map(&config_maps, "web-settings").await.unwrap();
    assert_eq!(settings["version"], "1.1.0", "{updated:?}");
    assert!(config_map(&config_maps, "web-extra").await.is_none());
    let plan = plan_json(&server, cache.path(), dir.path()).await;
    assert_eq!(plan["inSync"], true, "{plan:#}");
    assert_eq!(plan["chart"]["version"], "1.1.0");
    assert_eq!(
        plan["chart"]["digest"],
        index_digest(repo.path(), "1.1.0").as_str()
    );
    // The inventory records the version and digest it was applied from.
    let inventories: Api<ConfigMap> = Api::namespaced(server.client(), "plumbline-system");
    let head = config_map(&inventories, "plumbline-inventory-http-chart")
        .await
        .expect("the inventory's head");
    let head: Value = serde_json::from_str(head["head.json"].as_str().unwrap()).unwrap();
    let applied = format!("1.1.0@{}", index_digest(repo.path(), "1.1.0"));
    assert_eq!(head["revision"], applied.as_str(), "{head:#}");
    let origins: Vec<&str> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["origin"].as_str())
        .collect();
    assert!(
        origins
            .iter()
            .any(|o| o.contains("demo@1.1.0: templates/settings.yaml")),
        "{origins:?}"
    );
}

async fn a_chart_repository_behind_basic_authentication_is_read_with_the_credentials(
    server: Server,
) {
    let repo = tempfile::tempdir().unwrap();
    publish(repo.path(), "1.0.0", false);
    let files = FileServer::start_with_user(repo.path(), "ci", "s3cret").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let source = format!(
        "    url: {}\n    chart: demo\n    credentials: {{username: ci, passwordEnv: CHART_PASSWORD}}",
        files.url()
    );
    let dir = sync_dir("private-chart", &source, "private-chart");
    let refused = sync(
        &server,
        cache.path(),
        dir.path(),
        &[("CHART_PASSWORD", "wrong")],
    )
    .await;
    assert_ne!(refused.code, 0);
    assert!(format!("{refused:?}").contains("401"), "{refused:?}");
    sync(
        &server,
        cache.path(),
        dir.path(),
        &[("CHART_PASSWORD", "s3cret")],
    )
    .await
    .expect(0);
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "private-chart");
    assert!(config_map(&config_maps, "web-settings").await.is_some());
}

async fn bad_chart_sources_fail_naming_repository_chart_and_version_and_prune_nothing(
    server: Server,
) {
    let repo = tempfile::tempdir().unwrap();
    publish(repo.path(), "1.0.0", true);
    let files = FileServer::start(repo.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let url = files.url();
    let good = format!("    url: {url}\n    chart: demo\n    version: 1.0.0");
    let dir = sync_dir("bad-chart", &good, "bad-chart");
    sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "bad-chart");

    // The archive is replaced behind the index's back (a new cache, so it
    // is downloaded again).
    let tampered = tempfile::tempdir().unwrap();
    let other = write_chart(tampered.path(), "1.0.0", false);
    helm_run(&[
        "package",
        other.to_str().unwrap(),
        "-d",
        tampered.path().to_str().unwrap(),
    ]);
    let original = std::fs::read(repo.path().join("demo-1.0.0.tgz")).unwrap();
    std::fs::copy(
        tampered.path().join("demo-1.0.0.tgz"),
        repo.path().join("demo-1.0.0.tgz"),
    )
    .unwrap();
    let hanging = Hanging::start().unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let cases: Vec<(String, &str, Vec<&str>)> = vec![
        (
            format!("    url: {url}\n    chart: nope\n    version: 1.0.0"),
            "ChartNotFound",
            vec![
                "chart nope (version \"1.0.0\")",
                &url,
                "no chart \"nope\" (it has: demo)",
            ],
        ),
        (
            format!("    url: {url}\n    chart: demo\n    version: 9.9.9"),
            "NoMatchingChartVersion",
            vec![
                "chart demo (version \"9.9.9\")",
                &url,
                "(the index has: 1.0.0)",
            ],
        ),
        (
            format!("    url: {url}\n    chart: demo\n    version: \">=3 <4\""),
            "NoMatchingChartVersion",
            vec!["no version matches \">=3 <4\""],
        ),
        (
            good.clone(),
            "ChartDigestMismatch",
            vec![
                "chart demo 1.0.0",
                &url,
                "the repository's index says sha256:",
            ],
        ),
        (
            format!("    url: http://{closed}\n    chart: demo\n    version: 1.0.0"),
            "ChartRepositoryFailed",
            vec!["chart demo (version \"1.0.0\")", &closed, "index.yaml"],
        ),
        (
            format!(
                "    url: http://{}\n    chart: demo\n    version: 1.0.0",
                hanging.host()
            ),
            "ChartRepositoryTimeout",
            vec![
                "chart demo (version \"1.0.0\")",
                "no complete answer from the repository within 1s",
            ],
        ),
    ];
    for (source, reason, wanted) in cases {
        // Each case syncs the same sync (its inventory holds both
        // ConfigMaps) with a fresh archive cache.
        let dir = sync_dir("bad-chart", &source, "bad-chart");
        let fresh = tempfile::tempdir().unwrap();
        let failed = sync(
            &server,
            fresh.path(),
            dir.path(),
            &[("PLUMBLINE_CHART_TIMEOUT", "1")],
        )
        .await;
        assert_ne!(failed.code, 0, "{reason}: {failed:?}");
        let text = failed.output();
        for part in wanted {
            assert!(text.contains(part), "{reason}: {part:?} not in {text}");
        }
        assert!(config_map(&config_maps, "web-settings").await.is_some());
        assert!(config_map(&config_maps, "web-extra").await.is_some());
    }

    // The archive as the index says: the sync goes through again.
    std::fs::write(repo.path().join("demo-1.0.0.tgz"), original).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    sync(&server, fresh.path(), dir.path(), &[]).await.expect(0);
}

async fn a_chart_from_an_oci_registry_by_tag_range_and_digest(server: Server) {
    let Some(registry) = Registry::start_or_skip(Options::default()) else {
        return;
    };
    let host = registry.host();
    push(&host, "1.0.0", true);
    push(&host, "1.1.0", false);
    let cache = tempfile::tempdir().unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "oci-chart");

    // By an exact version, as Argo CD's repoURL + chart: the chart's own
    // artifact, rendered as a chart; the revision is the tag and the
    // manifest digest.
    let by_version = format!(
        "    url: oci://{host}/charts\n    chart: demo\n    version: 1.0.0\n    insecure: true"
    );
    let dir = sync_dir("oci-chart", &by_version, "oci-chart");
    sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
    assert_eq!(
        config_map(&config_maps, "web-settings").await.unwrap()["version"],
        "1.0.0"
    );
    let plan = plan_json(&server, cache.path(), dir.path()).await;
    assert_eq!(plan["inSync"], true, "{plan:#}");
    let digest = plan["chart"]["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{plan:#}");
    assert_eq!(plan["chart"]["version"], "1.0.0");
    assert_eq!(
        plan["chart"]["repository"],
        format!("oci://{host}/charts/demo").as_str()
    );
    assert_eq!(plan["revision"], format!("1.0.0@{digest}").as_str());

    // By digest: the same chart.
    let by_digest = format!("    url: oci://{host}/charts/demo@{digest}\n    insecure: true");
    let dir = sync_dir("oci-chart", &by_digest, "oci-chart");
    let plan = plan_json(&server, cache.path(), dir.path()).await;
    assert_eq!(plan["inSync"], true, "{plan:#}");
    assert_eq!(plan["chart"]["digest"], digest.as_str());

    // By a range: the highest matching tag, which updates and prunes.
    let by_range =
        format!("    url: oci://{host}/charts/demo\n    version: \"^1\"\n    insecure: true");
    let dir = sync_dir("oci-chart", &by_range, "oci-chart");
    sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
    assert_eq!(
        config_map(&config_maps, "web-settings").await.unwrap()["version"],
        "1.1.0"
    );
    assert!(config_map(&config_maps, "web-extra").await.is_none());
    let plan = plan_json(&server, cache.path(), dir.path()).await;
    assert_eq!(plan["inSync"], true, "{plan:#}");
    assert_eq!(plan["chart"]["version"], "1.1.0");

    // A range no tag matches fails naming the repository and the range,
    // and prunes nothing.
    let none =
        format!("    url: oci://{host}/charts/demo\n    version: \">=5\"\n    insecure: true");
    let dir = sync_dir("oci-chart", &none, "oci-chart");
    let failed = sync(&server, cache.path(), dir.path(), &[]).await;
    assert_ne!(failed.code, 0);
    let text = failed.output();
    assert!(
        text.contains(&format!("oci://{host}/charts/demo")) && text.contains(">=5"),
        "{text}"
    );
    assert!(config_map(&config_maps, "web-settings").await.is_some());
}

/// An umbrella chart `app` in the sync's directory, depending on `demo`
/// (`^1`) from `repository`, with a template of its own.
fn umbrella(dir: &Path, repository: &str) {
    let chart = dir.join("app");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n\
             - name: demo\n  version: \"^1\"\n  repository: {repository}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/own.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-own\n",
    )
    .unwrap();
}

async fn dependencies_from_a_repository_and_a_registry_are_fetched_before_helm_runs(
    server: Server,
) {
    let Some((registry, repo, files)) = repository_and_registry() else {
        return;
    };
    let host = registry.host();
    for (name, repository, publish_next) in [
        (
            "deps-http",
            files.url(),
            Box::new(|| publish(repo.path(), "1.1.0", false)) as Box<dyn Fn()>,
        ),
        (
            "deps-oci",
            format!("oci://{host}/charts"),
            Box::new(|| push(&host, "1.1.0", false)),
        ),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let dir = sync_dir(name, "    url: .\n    path: app\n    insecure: true", name);
        umbrella(dir.path(), &repository);
        let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), name);

        // Nothing vendored under charts/: Plumbline fetches demo 1.0.0.
        sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
        assert!(config_map(&config_maps, "web-own").await.is_some());
        let settings = config_map(&config_maps, "web-settings").await.unwrap();
        assert_eq!(settings["version"], "1.0.0", "{name}");
        assert!(config_map(&config_maps, "web-extra").await.is_some());
        let plan = plan_json(&server, cache.path(), dir.path()).await;
        assert_eq!(plan["inSync"], true, "{name}: {plan:#}");
        assert!(
            plan.to_string()
                .contains("app@0.1.0: charts/demo/templates/settings.yaml"),
            "{name}: {plan:#}"
        );

        // A new version in the range: the next sync takes it and prunes.
        publish_next();
        sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
        let settings = config_map(&config_maps, "web-settings").await.unwrap();
        assert_eq!(settings["version"], "1.1.0", "{name}");
        assert!(config_map(&config_maps, "web-extra").await.is_none());

        // Chart.lock pins the version, as `helm dependency build` reads it.
        std::fs::write(
            dir.path().join("app/Chart.lock"),
            format!("dependencies:\n- name: demo\n  version: 1.0.0\n  repository: {repository}\n"),
        )
        .unwrap();
        sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
        let settings = config_map(&config_maps, "web-settings").await.unwrap();
        assert_eq!(settings["version"], "1.0.0", "{name}");
    }

    // A dependency that cannot be fetched fails the sync naming it, and
    // prunes nothing.
    let dir = sync_dir("deps-http", "    url: .\n    path: app", "deps-http");
    umbrella(dir.path(), &files.url());
    std::fs::remove_file(repo.path().join("demo-1.1.0.tgz")).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let failed = sync(&server, fresh.path(), dir.path(), &[]).await;
    assert_ne!(failed.code, 0);
    let text = failed.output();
    assert!(
        text.contains("chart demo 1.1.0 from") && text.contains("404"),
        "{text}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "deps-http");
    assert!(config_map(&config_maps, "web-own").await.is_some());
}

/// A sync of kustomization `app` (namespace `name`), built on `base`
/// whose `helmCharts` entry is chart `demo` at `version` from `repo`,
/// with values inline.
fn kustomize_dir(name: &str, repo: &str, version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| binary_support::write_file(&dir.path().join(path), text);
    write(
        "plumbline.yaml",
        &format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: {name}\n\
             spec:\n  source:\n    url: .\n    path: app\n    insecure: true\n  \
             targetNamespace: {name}\n  createNamespace: true\n"
        ),
    );
    write(
        "base/kustomization.yaml",
        &format!(
            "helmCharts:\n- name: demo\n  repo: {repo}\n  version: {version}\n  \
             releaseName: web\n  valuesInline: {{mode: green}}\n"
        ),
    );
    write(
        "app/kustomization.yaml",
        "resources: [../base]\ncommonLabels: {team: shop}\n",
    );
    dir
}

/// The ConfigMaps of a render (kind, name, labels, data), sorted.
fn config_maps_of(objects: &[Value]) -> Vec<String> {
    let mut found: Vec<String> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .map(|o| {
            let m = &o["metadata"];
            format!("{} {} {}", m["name"], m["labels"], o["data"])
        })
        .collect();
    found.sort();
    found
}

async fn kustomize_helm_charts_from_a_repository_and_a_registry_are_pulled_before_render(
    server: Server,
) {
    let Some((registry, repo, files)) = repository_and_registry() else {
        return;
    };
    publish(repo.path(), "1.1.0", false);
    let host = registry.host();
    let oci = format!("oci://{host}/charts");

    // What `kubectl kustomize --enable-helm` renders when it pulls the
    // chart from the HTTP repository itself (`helm pull`, test helm).
    let pulled_by_kustomize = kustomize_dir("kchart-http", &files.url(), "1.0.0");
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", "--enable-helm", "--helm-command"])
        .arg(helm_as_v3(pulled_by_kustomize.path()))
        .arg(pulled_by_kustomize.path().join("app"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = plumbline::yaml::documents(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let expected = config_maps_of(&expected);
    assert_eq!(expected.len(), 2, "{expected:?}");

    for (name, repository) in [("kchart-http", files.url()), ("kchart-oci", oci.clone())] {
        let cache = tempfile::tempdir().unwrap();
        let dir = kustomize_dir(name, &repository, "1.0.0");
        sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
        let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), name);
        let settings = config_map(&config_maps, "web-settings").await.unwrap();
        assert_eq!(settings["version"], "1.0.0", "{name}");
        assert_eq!(settings["mode"], "green", "{name}");
        assert!(config_map(&config_maps, "web-extra").await.is_some());
        // The render is kustomize's: the same objects as it pulls.
        let plan = plan_json(&server, cache.path(), dir.path()).await;
        assert_eq!(plan["inSync"], true, "{name}: {plan:#}");
        let rendered = plumbline(cache.path(), dir.path(), &["render", "."], &[])
            .await
            .expect(0);
        let ours = plumbline::yaml::documents(&rendered.stdout).unwrap();
        let ours: Vec<Value> = ours
            .into_iter()
            .map(|mut o| {
                // Plumbline's own labels aside.
                if let Some(labels) = o["metadata"]["labels"].as_object_mut() {
                    labels.retain(|key, _| key == "team");
                }
                o
            })
            .collect();
        assert_eq!(config_maps_of(&ours), expected, "{name}");
        // Nothing was written into the source: the chart is in the render's
        // tree only.
        assert!(!dir.path().join("base/charts").exists());

        // A version the repository does not have fails naming the
        // kustomization, the chart, the version and the repository, and
        // prunes nothing.
        let wrong = kustomize_dir(name, &repository, "9.9.9");
        let failed = sync(&server, cache.path(), wrong.path(), &[]).await;
        assert_ne!(failed.code, 0, "{failed:?}");
        let text = failed.output();
        for part in [
            "kustomization base/kustomization.yaml helmCharts",
            "chart demo (version \"9.9.9\")",
            repository.as_str(),
        ] {
            assert!(text.contains(part), "{name}: {part:?} not in {text}");
        }
        assert!(config_map(&config_maps, "web-extra").await.is_some());

        // A newer exact version: the next sync takes it and prunes.
        if name == "kchart-http" {
            let next = kustomize_dir(name, &repository, "1.1.0");
            sync(&server, cache.path(), next.path(), &[])
                .await
                .expect(0);
            let settings = config_map(&config_maps, "web-settings").await.unwrap();
            assert_eq!(settings["version"], "1.1.0");
            assert!(config_map(&config_maps, "web-extra").await.is_none());
            sync(&server, cache.path(), dir.path(), &[]).await.expect(0);
        }
    }

    // An archive replaced behind the index's back fails the digest check
    // (a fresh cache, so it is downloaded), naming the kustomization,
    // chart and version, and prunes nothing.
    let tampered = tempfile::tempdir().unwrap();
    let other = write_chart(tampered.path(), "1.0.0", false);
    helm_run(&[
        "package",
        other.to_str().unwrap(),
        "-d",
        tampered.path().to_str().unwrap(),
    ]);
    std::fs::copy(
        tampered.path().join("demo-1.0.0.tgz"),
        repo.path().join("demo-1.0.0.tgz"),
    )
    .unwrap();
    let dir = kustomize_dir("kchart-http", &files.url(), "1.0.0");
    let fresh = tempfile::tempdir().unwrap();
    let failed = sync(&server, fresh.path(), dir.path(), &[]).await;
    assert_ne!(failed.code, 0, "{failed:?}");
    let text = failed.output();
    for part in [
        "kustomization base/kustomization.yaml helmCharts: chart demo 1.0.0 from",
        "the repository's index says sha256:",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "kchart-http");
    assert!(config_map(&config_maps, "web-extra").await.is_some());
}

on_real_server!(
    kustomize_helm_charts_from_a_repository_and_a_registry_are_pulled_before_render,
    a_chart_from_an_http_repository_syncs_updates_and_prunes,
    dependencies_from_a_repository_and_a_registry_are_fetched_before_helm_runs,
    a_chart_repository_behind_basic_authentication_is_read_with_the_credentials,
    bad_chart_sources_fail_naming_repository_chart_and_version_and_prune_nothing,
    a_chart_from_an_oci_registry_by_tag_range_and_digest,
);
