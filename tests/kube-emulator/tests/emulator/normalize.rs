//! Normalisation and defaulting a real server does, so that naive diffs see false drift.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

use crate::start;

#[tokio::test]
async fn quantities_are_canonicalised_and_deployments_defaulted() {
    let (_e, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client);
    let desired = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "app", "image": "registry/app:1.2", "ports": [{"containerPort": 8080}],
                      "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "1000m", "memory": "1.5Gi"}}},
                     {"name": "sidecar", "image": "busybox"}]}}}
    });
    let d = deps
        .patch(
            "web",
            &PatchParams::apply("plumbline"),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();
    let v: Value = serde_json::to_value(&d).unwrap();
    let app = &v["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        app["resources"],
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1536Mi"}})
    );
    assert_eq!(app["imagePullPolicy"], "IfNotPresent");
    assert_eq!(app["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(app["terminationMessagePolicy"], "File");
    assert_eq!(app["ports"][0]["protocol"], "TCP");
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"], "Always",
        "no tag means :latest"
    );
    let spec = &v["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(
        (
            &pod["restartPolicy"],
            &pod["dnsPolicy"],
            &pod["schedulerName"]
        ),
        (
            &json!("Always"),
            &json!("ClusterFirst"),
            &json!("default-scheduler")
        )
    );
    assert_eq!(pod["securityContext"], json!({}));

    // Re-applying the un-normalised manifest is a no-op: no conflict, no change.
    let again = deps
        .patch(
            "web",
            &PatchParams::apply("plumbline"),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();
    assert_eq!(again.metadata.resource_version, d.metadata.resource_version);
}

#[tokio::test]
async fn services_get_a_cluster_ip_and_port_defaults() {
    let (_e, client) = start().await;
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let s = svcs
        .patch(
            "web",
            &PatchParams::apply("plumbline"),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();
    let spec = s.spec.unwrap();
    let ip = spec.cluster_ip.clone().unwrap();
    assert!(ip.starts_with("10.96."), "{ip}");
    assert_eq!(spec.cluster_ips, Some(vec![ip.clone()]));
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(serde_json::to_value(&port.target_port).unwrap(), json!(80));
    // The allocated IP survives later applies that do not mention it.
    let s2 = svcs
        .patch(
            "web",
            &PatchParams::apply("plumbline"),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();
    assert_eq!(s2.spec.unwrap().cluster_ip, Some(ip));

    let secrets: Api<Secret> = Api::default_namespaced(client);
    let sec = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hello"}});
    let s = secrets
        .patch("s", &PatchParams::apply("plumbline"), &Patch::Apply(&sec))
        .await
        .unwrap();
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(s.data.unwrap()["password"].0, b"hello");
}
