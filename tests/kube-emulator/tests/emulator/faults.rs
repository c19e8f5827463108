//! Fault injection and request accounting.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube_emulator::{Fault, Verb};
use serde_json::json;

use crate::{code, start};

fn cm(v: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"v": v}})
}

#[tokio::test]
async fn throttling_is_retried_by_the_client_and_errors_surface() {
    let (e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.patch("c", &PatchParams::apply("t"), &Patch::Apply(cm("1")))
        .await
        .unwrap();
    e.reset_requests();

    e.faults().inject_on(
        Verb::Get,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
        2,
    );
    let got = cms
        .get("c")
        .await
        .expect("kube retries 429 with Retry-After");
    assert_eq!(got.data.unwrap()["v"], "1");
    assert_eq!(
        e.requests().get,
        3,
        "two throttled attempts and one success"
    );

    e.faults().inject(Fault::InternalError, 1);
    assert_eq!(code(cms.get("c").await.unwrap_err()), 500);

    e.faults().inject(Fault::DropConnection, 1);
    let err = cms.get("c").await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a dropped connection is a transport error: {err:?}"
    );
    assert!(cms.get("c").await.is_ok(), "the next request goes through");

    e.faults().set_latency(Duration::from_millis(20));
    assert!(
        cms.get("c").await.is_ok(),
        "latency delays but does not fail"
    );
    e.faults().clear();
}

#[tokio::test]
async fn requests_are_counted_per_verb_and_no_change_applies_write_nothing() {
    let (e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.patch("c", &PatchParams::apply("t"), &Patch::Apply(cm("1")))
        .await
        .unwrap();
    cms.get("c").await.unwrap();
    cms.list(&Default::default()).await.unwrap();
    cms.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"w": "1"}})),
    )
    .await
    .unwrap();
    cms.delete("c", &Default::default()).await.unwrap();
    let c = e.requests();
    assert_eq!(
        (c.apply, c.get, c.list, c.patch, c.delete, c.create, c.update),
        (1, 1, 1, 1, 1, 0, 0)
    );
    assert_eq!(c.writes(), 3);

    cms.patch("c", &PatchParams::apply("t"), &Patch::Apply(cm("1")))
        .await
        .unwrap();
    let rv = e.resource_version();
    e.reset_requests();
    cms.patch("c", &PatchParams::apply("t"), &Patch::Apply(cm("1")))
        .await
        .unwrap();
    assert_eq!(
        e.resource_version(),
        rv,
        "an unchanged apply stores nothing"
    );
    assert_eq!(e.requests().apply, 1);
}
