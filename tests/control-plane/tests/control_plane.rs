//! The harness itself, against the real binaries: two instances side by side,
//! token users under RBAC, impersonation, and nothing left running after drop.

use control_plane::{ControlPlane, User};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}
    }))
    .unwrap()
}

fn running(pid_dir: &std::path::Path) -> bool {
    // Any process whose command line mentions this instance's directory.
    let needle = pid_dir.display().to_string();
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|cmd| String::from_utf8_lossy(&cmd).contains(&needle))
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_run_side_by_side_and_stop_on_drop() {
    let Some(first) = ControlPlane::start_or_skip().await else {
        return;
    };
    let second = ControlPlane::start().await.unwrap();
    assert_ne!(first.url(), second.url());

    // An object created in one is not in the other.
    let cms: Api<ConfigMap> = Api::namespaced(first.client(), "default");
    cms.create(&PostParams::default(), &config_map("only-in-first"))
        .await
        .unwrap();
    let others: Api<ConfigMap> = Api::namespaced(second.client(), "default");
    assert!(others.get_opt("only-in-first").await.unwrap().is_none());

    let dir = first.dir().to_path_buf();
    assert!(
        running(&dir),
        "etcd and kube-apiserver run with data under {}",
        dir.display()
    );
    drop(first);
    assert!(!running(&dir), "no process of a dropped instance is left");
    assert!(!dir.exists(), "a dropped instance's data is deleted");

    let namespaces: Api<Namespace> = Api::all(second.client());
    assert!(
        namespaces
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len()
            >= 4
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rbac_is_on_and_impersonation_works() {
    let Some(plane) = ControlPlane::start_or_skip().await else {
        return;
    };
    let alice = kube::Client::try_from(plane.config_as(User::Alice)).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(alice, "default");
    let err = cms.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );

    let as_alice = kube::Client::try_from(plane.config_impersonating("alice")).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(as_alice, "default");
    let err = cms.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );

    let admin: Api<ConfigMap> = Api::namespaced(plane.client(), "default");
    admin.list(&ListParams::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubeconfig_file_works_for_kubectl() {
    let Some(plane) = ControlPlane::start_or_skip().await else {
        return;
    };
    let Ok(output) = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(plane.kubeconfig_path())
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
    else {
        eprintln!("skipped: kubectl not installed");
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "namespace/default"
    );
}
