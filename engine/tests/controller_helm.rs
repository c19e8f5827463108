//! Helm charts in the controller, end to end on the real API server
//! (docs/helm.md): a chart from the SyncUnit's Git source follows values
//! and template changes in Git (update, prune), and `valuesFrom` a
//! ConfigMap or Secret of the SyncUnit's namespace follows changes of those
//! objects, fails clearly (and prunes nothing) when one is missing, and
//! never shows a Secret's values.

mod binary_support;
mod controller_support;
mod reconcile_support;
mod server_support;

use controller_support::{is_ready, ready, Fixture};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};
use server_support::Server;

on_real_server!(
    a_chart_from_git_follows_values_and_template_changes_in_git,
    values_from_a_config_map_or_secret_follow_their_changes_and_a_missing_one_prunes_nothing,
);

/// The test `helm` (Helm v4.2.3's code), for the in-process controller.
fn use_test_helm() {
    std::env::set_var(
        "PLUMBLINE_HELM",
        binary_support::repo_root().join("tests/helm/helm"),
    );
}

/// A chart rendering a ConfigMap `<release>-settings` from its values
/// (`greeting` defaulting to `greeting`) and a ConfigMap `<release>-extra`.
fn write_chart(fixture: &Fixture, greeting: &str) {
    fixture
        .world
        .repo
        .write(
            "chart/Chart.yaml",
            "apiVersion: v2\nname: greeter\nversion: 1.0.0\n",
        )
        .write(
            "chart/values.yaml",
            &format!("greeting: {greeting}\ncolor: grey\nsize: small\n"),
        )
        .write(
            "chart/templates/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n\
             data:\n  greeting: {{ .Values.greeting | quote }}\n  color: {{ .Values.color | quote }}\n  \
             size: {{ .Values.size | quote }}\n",
        )
        .write(
            "chart/templates/extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata: {a: b}\n",
        );
}

/// A SyncUnit spec for the chart, with `helm` as its `source.helm`.
fn chart_spec(fixture: &Fixture, helm: Value) -> Value {
    json!({
        "source": {
            "url": fixture.world.repo.url(),
            "ref": {"branch": "main"},
            "path": "chart",
            "helm": helm,
        },
        "interval": "1s",
        "targetNamespace": "shop",
    })
}

/// `data[key]` of a ConfigMap read as JSON.
fn data<'a>(object: Option<&'a Value>, key: &str) -> Option<&'a str> {
    object?["data"][key].as_str()
}

async fn a_chart_from_git_follows_values_and_template_changes_in_git(server: Server) {
    use_test_helm();
    let fixture = Fixture::on(server).await;
    write_chart(&fixture, "hello");
    fixture.world.repo.commit("the greeter chart");
    let running = fixture.start();
    let helm = json!({"releaseName": "git"});
    fixture
        .put_sync_unit("team-a", "greeter", chart_spec(&fixture, helm))
        .await;
    fixture
        .wait_for_unit("team-a", "greeter", "Ready", is_ready)
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let settings = config_maps.get("git-settings").await.unwrap();
    assert_eq!(settings.data.unwrap()["greeting"], "hello");
    assert!(config_maps.get_opt("git-extra").await.unwrap().is_some());

    // A values change and a removed template in Git: the next reconcile
    // updates the one and prunes the other.
    write_chart(&fixture, "bonjour");
    fixture
        .world
        .repo
        .remove("chart/templates/extra.yaml")
        .commit("bonjour, and no extra ConfigMap");
    fixture
        .wait_for_object(&config_maps, "git-settings", "updated", |o| {
            data(o, "greeting") == Some("bonjour")
        })
        .await;
    fixture
        .wait_for_object(&config_maps, "git-extra", "pruned", |o| o.is_none())
        .await;
    running.stop().await;
}

async fn values_from_a_config_map_or_secret_follow_their_changes_and_a_missing_one_prunes_nothing(
    server: Server,
) {
    use_test_helm();
    let fixture = Fixture::on(server).await;
    write_chart(&fixture, "hello");
    fixture
        .world
        .repo
        .write("values/prod.yaml", "color: green\nsize: medium\n")
        .commit("the greeter chart");
    fixture.ensure_namespace("team-b").await;
    let apply = PatchParams::apply("test").force();
    let values_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "team-b");
    let put_values = |greeting: &'static str| {
        let values_maps = values_maps.clone();
        let apply = apply.clone();
        async move {
            let map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "greeter-values"},
                "data": {"values.yaml": format!("greeting: {greeting}\nsize: large\n")}});
            values_maps
                .patch("greeter-values", &apply, &Patch::Apply(&map))
                .await
                .unwrap();
        }
    };
    put_values("hi").await;
    let running = fixture.start();
    // valuesFiles, then valuesFrom (in order), then values: later wins.
    let helm = json!({
        "releaseName": "vf",
        "valuesFiles": ["../values/prod.yaml"],
        "valuesFrom": [
            {"kind": "ConfigMap", "name": "greeter-values"},
            {"kind": "Secret", "name": "greeter-secret", "valuesKey": "secret.yaml", "optional": true},
        ],
        "values": {"size": "huge"},
    });
    fixture
        .put_sync_unit("team-b", "greeter", chart_spec(&fixture, helm.clone()))
        .await;
    fixture
        .wait_for_unit("team-b", "greeter", "Ready", is_ready)
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(fixture.client(), "shop");
    let settings = config_maps.get("vf-settings").await.unwrap().data.unwrap();
    assert_eq!(
        (
            &settings["greeting"][..],
            &settings["color"][..],
            &settings["size"][..]
        ),
        ("hi", "green", "huge")
    );

    // A change of the ConfigMap is picked up at the next interval.
    put_values("hey").await;
    fixture
        .wait_for_object(&config_maps, "vf-settings", "updated", |o| {
            data(o, "greeting") == Some("hey")
        })
        .await;

    // A Secret whose values are not YAML fails the sync without showing
    // them; fixed, its values are used.
    let secrets: Api<Secret> = Api::namespaced(fixture.client(), "team-b");
    let put_secret = |text: &'static str| {
        let secrets = secrets.clone();
        let apply = apply.clone();
        async move {
            let secret = json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "greeter-secret"},
                "stringData": {"secret.yaml": text}});
            secrets
                .patch("greeter-secret", &apply, &Patch::Apply(&secret))
                .await
                .unwrap();
        }
    };
    put_secret("greeting: [hunter2-not-closed\n").await;
    let broken = fixture
        .wait_for_unit("team-b", "greeter", "failing on the Secret", |u| {
            ready(u).is_some_and(|(status, reason)| status == "False" && reason == "InvalidValues")
        })
        .await;
    let shown = serde_json::to_string(&broken.status).unwrap();
    assert!(
        shown.contains("Secret team-b/greeter-secret key \\\"secret.yaml\\\": not YAML (line"),
        "{shown}"
    );
    put_secret("greeting: hunter2-greeting\n").await;
    fixture
        .wait_for_object(&config_maps, "vf-settings", "updated", |o| {
            data(o, "greeting") == Some("hunter2-greeting")
        })
        .await;
    let unit = fixture
        .wait_for_unit("team-b", "greeter", "Ready", is_ready)
        .await;
    let events = fixture.events("team-b", "greeter").await;
    let shown = format!("{:?} {events:?}", unit.status);
    assert!(!shown.contains("hunter2"), "{shown}");

    // A missing Secret that is not optional fails the sync with a clear
    // reason, and nothing is pruned.
    let mut strict = helm;
    strict["valuesFrom"][1] = json!({"kind": "Secret", "name": "greeter-missing"});
    fixture
        .put_sync_unit("team-b", "greeter", chart_spec(&fixture, strict))
        .await;
    let missing = fixture
        .wait_for_unit("team-b", "greeter", "failing on the missing Secret", |u| {
            ready(u).is_some_and(|(status, reason)| status == "False" && reason == "ValuesNotFound")
        })
        .await;
    let shown = serde_json::to_string(&missing.status).unwrap();
    assert!(
        shown.contains("valuesFrom: Secret team-b/greeter-missing not found"),
        "{shown}"
    );
    for name in ["vf-settings", "vf-extra"] {
        assert!(
            config_maps.get_opt(name).await.unwrap().is_some(),
            "{name} was pruned"
        );
    }
    running.stop().await;
}
