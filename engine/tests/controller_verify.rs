//! The controller with `source.verify` on the real API server: an unsigned
//! commit pushed on top of a signed one is not applied (the last verified
//! revision stays, the SyncUnit is Stalled with a typed reason, an Event
//! and a metric say why), and signing it makes the sync proceed.

mod controller_support;
mod reconcile_support;
mod server_support;
mod verify_support;

use controller_support::{condition, config_map, is_ready, mode, Fixture};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};
use plumbline::controller::crd::SyncUnit;
use serde_json::json;
use server_support::Server;
use verify_support::{Keys, Signing};

/// The message of a condition.
fn message(unit: &SyncUnit, type_: &str) -> String {
    let status = unit.status.as_ref().unwrap();
    let found = status.conditions.iter().find(|c| c.type_ == type_);
    found.map(|c| c.message.clone()).unwrap_or_default()
}

async fn an_unsigned_commit_on_a_signed_one_is_not_applied_until_it_is_signed(server: Server) {
    let keys = Keys::new();
    let fixture = Fixture::on(server).await;
    let repo = fixture.world.repo.dir.path();
    let gpg = Signing::Gpg(keys.ed25519.clone());
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "signed"));
    let signed = keys.commit(repo, "signed", &gpg);

    fixture.ensure_namespace("team-a").await;
    let secrets: Api<Secret> = Api::namespaced(fixture.client(), "team-a");
    let mut secret = Secret::default();
    secret.metadata.name = Some("signers".into());
    secret.data = Some(
        [(
            "release.asc".to_owned(),
            ByteString(keys.export(&keys.ed25519).into_bytes()),
        )]
        .into_iter()
        .collect(),
    );
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let running = fixture.start();
    let spec = json!({
        "source": {
            "url": fixture.world.repo.url(), "ref": {"branch": "main"}, "path": "app",
            "verify": {"mode": "head", "secretRef": {"name": "signers"}},
        },
        "interval": "1s",
        "targetNamespace": "shop",
    });
    fixture.put_sync_unit("team-a", "shop", spec).await;
    let unit = fixture
        .wait_for_unit("team-a", "shop", "Ready", is_ready)
        .await;
    let status = unit.status.unwrap();
    assert_eq!(
        status.last_applied_revision.as_deref(),
        Some(signed.as_str())
    );
    assert_eq!(status.verified.len(), 1, "{status:?}");
    assert_eq!(status.verified[0].kind, "commit");
    assert_eq!(status.verified[0].object, signed);
    assert_eq!(status.verified[0].format, "openpgp");
    assert_eq!(status.verified[0].fingerprint, keys.ed25519);

    // An unsigned commit on top: changes a ConfigMap, adds another.
    fixture
        .world
        .repo
        .write("app/config.yaml", &config_map("settings", "unsigned"))
        .write("app/extra.yaml", &config_map("extra", "unsigned"));
    let unsigned = keys.commit(repo, "unsigned", &Signing::None);
    let unit = fixture
        .wait_for_unit("team-a", "shop", "Stalled on the unsigned commit", |u| {
            condition(u, "Stalled") == Some(("True".into(), "UnsignedRevision".into()))
        })
        .await;
    let why = message(&unit, "Ready");
    assert!(why.contains(&unsigned), "{why}");
    assert!(why.contains("is not signed"), "{why}");
    assert!(why.contains(&keys.ed25519), "{why}");
    let status = unit.status.clone().unwrap();
    assert_eq!(
        status.last_applied_revision.as_deref(),
        Some(signed.as_str())
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let settings = config_maps.get("settings").await.unwrap();
    assert_eq!(
        settings.data.unwrap()["mode"],
        "signed",
        "nothing of the unsigned commit is applied"
    );
    assert!(config_maps.get_opt("extra").await.unwrap().is_none());
    let events = fixture
        .wait_for_event("team-a", "shop", "UnsignedRevision")
        .await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "UnsignedRevision" && note.contains(&unsigned)),
        "{events:?}"
    );
    let metrics = running.metrics.encode();
    let refused = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("plumbline_unverified_revisions_total{reason=\"UnsignedRevision\"} ")
        })
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(refused >= 1, "{metrics}");

    // Signing it: a signed commit on top of it; the sync proceeds.
    let signed_again = keys.commit(repo, "sign the unsigned change", &gpg);
    let unit = fixture
        .wait_for_unit("team-a", "shop", "Ready at the signed commit", |u| {
            is_ready(u)
                && u.status
                    .as_ref()
                    .and_then(|s| s.last_applied_revision.as_deref())
                    == Some(signed_again.as_str())
        })
        .await;
    assert_eq!(unit.status.unwrap().verified[0].object, signed_again);
    fixture
        .wait_for_object(&config_maps, "settings", "applied", |o| {
            mode(o) == Some("unsigned")
        })
        .await;
    assert!(config_maps.get_opt("extra").await.unwrap().is_some());
    running.stop().await;
}

on_real_server!(an_unsigned_commit_on_a_signed_one_is_not_applied_until_it_is_signed);
