//! The controller with charts it fetches itself (docs/helm.md, issue #25):
//! a SyncUnit of a chart of an HTTP chart repository and one of a chart in
//! an OCI registry, on the real API server. A new chart version published
//! reaches the cluster at the next interval (updating, and pruning what
//! the new version no longer renders), and the status says which chart,
//! version and digest ran.

mod binary_support;
mod chart_support;
mod controller_support;
mod reconcile_support;
mod server_support;

use chart_support::{helm, index_digest, publish, push};
use controller_support::{is_ready, Fixture};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use plumbline::controller::crd::SyncUnit;
use registry::{FileServer, Options, Registry};
use serde_json::{json, Value};
use server_support::Server;

/// The `data.version` of ConfigMap `object` is `version`.
fn has_version(object: Option<&Value>, version: &str) -> bool {
    object
        .and_then(|o| o.pointer("/data/version"))
        .and_then(Value::as_str)
        == Some(version)
}

/// The status's record of the source: (url, chart, tag, digest).
fn source_artifact(unit: &SyncUnit) -> Option<(String, Option<String>, Option<String>, String)> {
    let status = unit.status.as_ref()?;
    let artifact = status.artifacts.iter().find(|a| a.used_for == "source")?;
    Some((
        artifact.url.clone(),
        artifact.chart.clone(),
        artifact.tag.clone(),
        artifact.digest.clone(),
    ))
}

/// Run one SyncUnit of `source` into `namespace` until the chart's
/// `version` is applied; then `publish_next` and wait for `next`, with
/// `web-extra` pruned. Returns the two units as the status showed them.
async fn sync_then_follow_a_new_version(
    fixture: &Fixture,
    namespace: &str,
    source: Value,
    publish_next: impl FnOnce(),
) -> (SyncUnit, SyncUnit) {
    let spec = json!({
        "source": source,
        "interval": "2s",
        "targetNamespace": namespace,
        "createNamespace": true,
    });
    fixture.put_sync_unit("team", namespace, spec).await;
    let first = fixture
        .wait_for_unit("team", namespace, "Ready", is_ready)
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), namespace);
    fixture
        .wait_for_object(&config_maps, "web-settings", "at 1.0.0", |o| {
            has_version(o, "1.0.0")
        })
        .await;
    assert!(config_maps.get_opt("web-extra").await.unwrap().is_some());

    publish_next();
    fixture
        .wait_for_object(&config_maps, "web-settings", "at 1.1.0", |o| {
            has_version(o, "1.1.0")
        })
        .await;
    fixture
        .wait_for_object(&config_maps, "web-extra", "pruned", |o| o.is_none())
        .await;
    let second = fixture
        .wait_for_unit("team", namespace, "recording 1.1.0", |u| {
            source_artifact(u).is_some_and(|(_, _, tag, _)| tag.as_deref() == Some("1.1.0"))
        })
        .await;
    (first, second)
}

async fn charts_from_an_http_repository_and_an_oci_registry_follow_new_versions(server: Server) {
    std::env::set_var("PLUMBLINE_HELM", helm());
    let fixture = Fixture::on(server).await;
    fixture.ensure_namespace("team").await;
    let running = fixture.start();

    // A chart repository over HTTP.
    let repo = tempfile::tempdir().unwrap();
    publish(repo.path(), "1.0.0", true);
    publish(repo.path(), "2.0.0", false);
    let files = FileServer::start(repo.path()).unwrap();
    let source = json!({
        "url": files.url(), "chart": "demo", "version": ">=1 <2",
        "helm": {"releaseName": "web"},
    });
    let (first, second) = sync_then_follow_a_new_version(&fixture, "http-chart", source, || {
        publish(repo.path(), "1.1.0", false)
    })
    .await;
    let first_digest = index_digest(repo.path(), "1.0.0");
    assert_eq!(
        source_artifact(&first),
        Some((
            files.url(),
            Some("demo".to_owned()),
            Some("1.0.0".to_owned()),
            first_digest.clone()
        ))
    );
    let status = first.status.unwrap();
    assert_eq!(
        status.last_applied_revision,
        Some(format!("1.0.0@{first_digest}"))
    );
    let second_digest = index_digest(repo.path(), "1.1.0");
    assert_eq!(
        second.status.unwrap().last_applied_revision,
        Some(format!("1.1.0@{second_digest}"))
    );

    // A chart in an OCI registry, pushed by Helm.
    if let Some(registry) = Registry::start_or_skip(Options::default()) {
        let host = registry.host();
        push(&host, "1.0.0", true);
        let source = json!({
            "url": format!("oci://{host}/charts"), "chart": "demo", "version": "~1",
            "insecure": true, "helm": {"releaseName": "web"},
        });
        let (first, second) = sync_then_follow_a_new_version(&fixture, "oci-chart", source, || {
            push(&host, "1.1.0", false)
        })
        .await;
        let (url, chart, tag, digest) = source_artifact(&first).unwrap();
        assert_eq!(url, format!("oci://{host}/charts/demo"));
        assert_eq!((chart, tag), (None, Some("1.0.0".to_owned())));
        assert!(digest.starts_with("sha256:"), "{digest}");
        let (_, _, _, new_digest) = source_artifact(&second).unwrap();
        assert_ne!(new_digest, digest);
    }
    running.stop().await;
}

on_real_server!(charts_from_an_http_repository_and_an_oci_registry_follow_new_versions);
