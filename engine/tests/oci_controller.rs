//! The controller with OCI artifacts: a SyncUnit whose manifests and policy
//! come from an htpasswd-protected registry (credentials from a
//! `kubernetes.io/dockerconfigjson` Secret), on the real API server. A new
//! artifact behind the tag reaches the cluster at the next interval, and
//! the status says which tag and digest ran. Issue #26. With `verify`,
//! only artifacts a trusted cosign key signed are applied. Issue #27.

mod controller_support;
mod cosign_support;
mod reconcile_support;
mod server_support;

use std::collections::BTreeMap;

use controller_support::{apply, condition, is_ready, ready, Fixture};
use cosign_support::KeyPair;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use plumbline::oci::{self, bundle, policy, ArtifactRef, Auth};
use plumbline::source::Tree;
use registry::{Options, Registry};
use serde_json::json;
use server_support::Server;

fn access() -> oci::Options {
    oci::Options {
        auth: Auth::Basic {
            username: "ci".to_owned(),
            password: "s3cret".to_owned(),
        },
        insecure: true,
        ..oci::Options::default()
    }
}

/// Push one labelled ConfigMap `settings` with `mode` to `reference`.
async fn push_manifests(reference: &ArtifactRef, mode: &str) -> String {
    push_manifests_with(reference, mode, &access()).await
}

/// [`push_manifests`] with `options`.
async fn push_manifests_with(
    reference: &ArtifactRef,
    mode: &str,
    options: &oci::Options,
) -> String {
    let mut tree = Tree::new();
    tree.insert(
        "settings.yaml",
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {{team: shop}}\ndata:\n  mode: {mode}\n")
            .into_bytes(),
    );
    bundle::push_manifests(reference, &tree, BTreeMap::new(), options)
        .await
        .unwrap()
}

async fn a_new_artifact_behind_a_tag_reaches_the_cluster_at_the_next_interval(server: Server) {
    let Some(registry) = Registry::start_or_skip(Options::with_user("ci", "s3cret")) else {
        return;
    };
    let host = registry.host();
    let manifests: ArtifactRef = format!("oci://{host}/shop/manifests:stable")
        .parse()
        .unwrap();
    let labels: ArtifactRef = format!("oci://{host}/policies/required-labels:v1")
        .parse()
        .unwrap();
    let first = push_manifests(&manifests, "blue").await;
    let component = std::fs::read(policy_artifacts::REQUIRED_LABELS).unwrap();
    let policy_digest = policy::push_policy(&labels, component, &access())
        .await
        .unwrap();

    let fixture = Fixture::on(server).await;
    fixture.ensure_namespace("team").await;
    let secrets: Api<Secret> = Api::namespaced(fixture.client(), "team");
    // base64 of "ci:s3cret".
    let config = json!({"auths": {host.clone(): {"auth": "Y2k6czNjcmV0"}}}).to_string();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "registry"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config},
    });
    apply(&secrets, "registry", &secret).await;
    let running = fixture.start();
    let spec = json!({
        "source": {"url": manifests.to_string(), "secretRef": {"name": "registry"}, "insecure": true},
        "interval": "2s",
        "targetNamespace": "shop",
        "policies": [{
            "module": {"url": labels.to_string(), "pullSecretRef": {"name": "registry"}, "insecure": true},
            "settings": {"labels": ["team"]},
        }],
    });
    fixture.put_sync_unit("team", "shop", spec).await;
    let unit = fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;
    let status = unit.status.unwrap();
    assert_eq!(
        status.last_applied_revision,
        Some(format!("stable@{first}"))
    );
    let artifacts: Vec<(String, Option<String>, String)> = status
        .artifacts
        .iter()
        .map(|a| (a.used_for.clone(), a.tag.clone(), a.digest.clone()))
        .collect();
    assert!(
        artifacts.contains(&(
            "policy required-labels".into(),
            Some("v1".into()),
            policy_digest.clone()
        )),
        "{artifacts:?}"
    );
    assert!(
        artifacts.contains(&("source".into(), Some("stable".into()), first.clone())),
        "{artifacts:?}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let mode = |o: Option<&serde_json::Value>, m: &str| {
        o.and_then(|o| o.pointer("/data/mode"))
            .and_then(|v| v.as_str())
            == Some(m)
    };
    fixture
        .wait_for_object(&config_maps, "settings", "blue", |o| mode(o, "blue"))
        .await;

    // CI pushes a new artifact to the same tag: the next interval applies it.
    let second = push_manifests(&manifests, "green").await;
    fixture
        .wait_for_object(&config_maps, "settings", "green", |o| mode(o, "green"))
        .await;
    let expected = format!("stable@{second}");
    fixture
        .wait_for_unit("team", "shop", "at the new digest", |u| {
            u.status
                .as_ref()
                .is_some_and(|s| s.last_applied_revision.as_deref() == Some(expected.as_str()))
        })
        .await;

    // A tag nobody pushed: the sync stalls with a typed reason naming the
    // reference, and the cluster keeps what it has.
    let missing = format!("oci://{host}/shop/manifests:v9");
    fixture
        .patch_spec("team", "shop", json!({"source": {"url": missing}}))
        .await;
    let unit = fixture
        .wait_for_unit("team", "shop", "failing on the missing tag", |u| {
            ready(u).is_some_and(|(_, reason)| reason == "ArtifactNotFound")
        })
        .await;
    let conditions = &unit.status.unwrap().conditions;
    let text = &conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .message;
    assert!(text.contains(&missing), "{text}");
    assert!(config_maps.get_opt("settings").await.unwrap().is_some());
    running.stop().await;
}

async fn an_unsigned_artifact_behind_a_signed_tag_is_not_applied_until_it_is_signed(
    server: Server,
) {
    let Some(registry) = Registry::start_or_skip(Options::default()) else {
        return;
    };
    let host = registry.host();
    let options = cosign_support::insecure();
    let keys_dir = tempfile::tempdir().unwrap();
    let alice = KeyPair::generate(keys_dir.path(), "alice");
    let manifests: ArtifactRef = format!("oci://{host}/shop/signed:stable").parse().unwrap();
    let labels: ArtifactRef = format!("oci://{host}/policies/required-labels:v1")
        .parse()
        .unwrap();
    let first = push_manifests_with(&manifests, "blue", &options).await;
    oci::signature::sign(&manifests, &alice.signer(), &options)
        .await
        .unwrap();
    let component = std::fs::read(policy_artifacts::REQUIRED_LABELS).unwrap();
    policy::push_policy(&labels, component, &options)
        .await
        .unwrap();
    let policy_digest = oci::signature::sign(&labels, &alice.signer(), &options)
        .await
        .unwrap()
        .reference
        .digest
        .unwrap();

    let fixture = Fixture::on(server).await;
    fixture.ensure_namespace("team").await;
    let secrets: Api<Secret> = Api::namespaced(fixture.client(), "team");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cosign"},
        "stringData": {"cosign.pub": std::fs::read_to_string(&alice.public).unwrap()},
    });
    apply(&secrets, "cosign", &secret).await;
    let running = fixture.start();
    let spec = json!({
        "source": {
            "url": manifests.to_string(), "insecure": true,
            "verify": {"secretRef": {"name": "cosign"}},
        },
        "interval": "1s",
        "targetNamespace": "shop",
        "policies": [{
            "module": {"url": labels.to_string(), "insecure": true, "verify": {"secretRef": {"name": "cosign"}}},
            "settings": {"labels": ["team"]},
        }],
    });
    fixture.put_sync_unit("team", "shop", spec).await;
    let unit = fixture
        .wait_for_unit("team", "shop", "Ready", is_ready)
        .await;
    let status = unit.status.unwrap();
    assert_eq!(
        status.last_applied_revision,
        Some(format!("stable@{first}"))
    );
    assert_eq!(status.verified.len(), 1, "{status:?}");
    let verified = &status.verified[0];
    assert_eq!(
        (verified.kind.as_str(), verified.format.as_str()),
        ("artifact", "cosign")
    );
    assert_eq!(verified.object, format!("{manifests}@{first}"));
    assert_eq!(verified.fingerprint, alice.fingerprint());
    let signed_by: Vec<(&str, &str, Option<&str>)> = status
        .artifacts
        .iter()
        .map(|a| {
            (
                a.used_for.as_str(),
                a.digest.as_str(),
                a.signed_by.as_deref(),
            )
        })
        .collect();
    let fingerprint = alice.fingerprint();
    assert!(
        signed_by.contains(&("source", first.as_str(), Some(fingerprint.as_str())))
            && signed_by.contains(&(
                "policy required-labels",
                policy_digest.as_str(),
                Some(fingerprint.as_str())
            )),
        "{signed_by:?}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let mode = |o: Option<&serde_json::Value>, m: &str| {
        o.and_then(|o| o.pointer("/data/mode"))
            .and_then(|v| v.as_str())
            == Some(m)
    };
    fixture
        .wait_for_object(&config_maps, "settings", "blue", |o| mode(o, "blue"))
        .await;

    // An unsigned artifact behind the tag: Stalled, the old one stays.
    let second = push_manifests_with(&manifests, "green", &options).await;
    let unit = fixture
        .wait_for_unit("team", "shop", "Stalled on the unsigned artifact", |u| {
            condition(u, "Stalled") == Some(("True".into(), "UnsignedRevision".into()))
        })
        .await;
    let status = unit.status.unwrap();
    let why = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .message;
    assert!(why.contains(&format!("{manifests}@{second}")), "{why}");
    assert!(why.contains("it is not signed"), "{why}");
    assert!(why.contains(&fingerprint), "{why}");
    assert_eq!(
        status.last_applied_revision,
        Some(format!("stable@{first}"))
    );
    assert_eq!(status.verified[0].object, format!("{manifests}@{first}"));
    let settings = config_maps.get("settings").await.unwrap();
    assert_eq!(settings.data.unwrap()["mode"], "blue", "unsigned applied");
    let events = fixture
        .wait_for_event("team", "shop", "UnsignedRevision")
        .await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "UnsignedRevision" && note.contains(&second)),
        "{events:?}"
    );
    let refused = running
        .metrics
        .encode()
        .lines()
        .find_map(|l| {
            l.strip_prefix("plumbline_unverified_revisions_total{reason=\"UnsignedRevision\"} ")
        })
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(refused >= 1);

    // Signing it: the sync proceeds.
    oci::signature::sign(&manifests, &alice.signer(), &options)
        .await
        .unwrap();
    fixture
        .wait_for_object(&config_maps, "settings", "green", |o| mode(o, "green"))
        .await;
    let expected = format!("stable@{second}");
    fixture
        .wait_for_unit("team", "shop", "Ready at the signed digest", |u| {
            is_ready(u)
                && u.status
                    .as_ref()
                    .is_some_and(|s| s.last_applied_revision.as_deref() == Some(expected.as_str()))
        })
        .await;
    running.stop().await;
}

on_real_server!(
    a_new_artifact_behind_a_tag_reaches_the_cluster_at_the_next_interval,
    an_unsigned_artifact_behind_a_signed_tag_is_not_applied_until_it_is_signed,
);
