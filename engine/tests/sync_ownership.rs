//! Two syncs that declare the same object, on the real control plane: the
//! second is refused, naming the first, unless it lists the first in
//! `takeOver.syncs`; once it took the object over, the first reports it
//! lost instead of taking it back, so they never flip it back and forth.
//! Issue #23.

mod reconcile_support;
mod server_support;

use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use plumbline::apply::SYNC_LABEL;
use plumbline::plan::{Action, Plan, UpdateReason};
use plumbline::reconcile::{Outcome, Report, Status, SyncUnit};
use plumbline::spec::SyncConfig;
use reconcile_support::World;
use server_support::Server;

fn shared(mode: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  mode: {mode}\n")
}

/// A sync named `name` of the repository's `path`, with `extra` spec lines.
fn sync_of(world: &World, name: &str, path: &str, extra: &str) -> SyncUnit {
    let text = format!(
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: {name}}}\n\
         spec:\n  source: {{url: \"{}\", ref: {{branch: main}}, path: \"{path}\"}}\n  \
         targetNamespace: default\n{extra}",
        world.repo.url()
    );
    SyncUnit {
        config: SyncConfig::from_yaml(&text, "plumbline.yaml").unwrap(),
        base_dir: PathBuf::from("/"),
        file: "plumbline.yaml".into(),
    }
}

/// The report line of ConfigMap `shared`.
fn line(report: &Report) -> &plumbline::reconcile::ObjectReport {
    report
        .objects
        .iter()
        .find(|o| o.key.name == "shared")
        .unwrap_or_else(|| panic!("no line for shared: {report:?}"))
}

/// The live ConfigMap's owner (its sync label) and mode.
async fn live(world: &World) -> (String, String) {
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "default");
    let shared = config_maps.get("shared").await.unwrap();
    let owner = shared.metadata.labels.unwrap_or_default()[SYNC_LABEL].clone();
    (owner, shared.data.unwrap_or_default()["mode"].clone())
}

async fn a_second_sync_declaring_an_object_is_refused_unless_it_takes_it_over(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("first/shared.yaml", &shared("first"))
        .write("second/shared.yaml", &shared("second"));
    world.repo.commit("two syncs declare one ConfigMap");
    let first = sync_of(&world, "first", "first", "");
    let report = world.reconcile(&first).await;
    assert_eq!(report.status, Status::Synced, "{report:?}");
    assert_eq!(live(&world).await, ("first".into(), "first".into()));

    // Without takeover the second sync fails for that object, naming the
    // first, and changes nothing.
    let second = sync_of(&world, "second", "second", "");
    let refused = world.reconcile(&second).await;
    assert_eq!(refused.status, Status::Failed, "{refused:?}");
    let refusal = line(&refused);
    assert_eq!(refusal.outcome, Outcome::Failed, "{refused:?}");
    let message = refusal.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("applied by sync \"first\"") && message.contains("takeOver.syncs"),
        "{message}"
    );
    assert_eq!(refused.errors[0].error().reason(), "OwnedByAnotherSync");
    assert_eq!(live(&world).await, ("first".into(), "first".into()));

    // Allowed to take over, it takes the object.
    let taking = sync_of(&world, "second", "second", "  takeOver: {syncs: [first]}\n");
    let taken = world.reconcile(&taking).await;
    assert_eq!(taken.status, Status::Synced, "{taken:?}");
    assert_eq!(live(&world).await, ("second".into(), "second".into()));

    // The first reports it lost rather than fighting, every time.
    for _ in 0..2 {
        let report = world.reconcile(&first).await;
        let lost = line(&report);
        assert_eq!(lost.outcome, Outcome::Lost, "{report:?}");
        let message = lost.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("taken over by sync \"second\""),
            "{message}"
        );
        assert_eq!(live(&world).await, ("second".into(), "second".into()));
    }
    // And the second, syncing again, finds nothing to change.
    let again = world.reconcile(&taking).await;
    assert_eq!(again.status, Status::Synced, "{again:?}");
    assert_eq!(line(&again).outcome, Outcome::Unchanged, "{again:?}");
}

/// The planned action of ConfigMap `shared`.
fn planned(plan: &Plan) -> &Action {
    let object = plan.objects.iter().find(|o| o.key.name == "shared");
    &object
        .unwrap_or_else(|| panic!("no shared in {plan:#?}"))
        .action
}

/// `plan` shows what `sync` then does with an object of another sync: the
/// refusal (not an update), the takeover once allowed, and the loss on the
/// side of the sync it was taken from.
async fn plan_shows_what_sync_does_with_the_objects_of_another_sync(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("first/shared.yaml", &shared("first"))
        .write("second/shared.yaml", &shared("second"));
    world.repo.commit("two syncs declare one ConfigMap");
    let first = sync_of(&world, "first", "first", "");
    assert_eq!(world.reconcile(&first).await.status, Status::Synced);

    let second = sync_of(&world, "second", "second", "");
    let plan = world.plan(&second).await;
    let refused = Action::OwnedByAnotherSync {
        owner: "first".into(),
    };
    assert_eq!(planned(&plan), &refused, "{plan:#?}");
    assert_eq!(plan.summary().owned_by_another_sync, 1);
    assert!(!plan.summary().in_sync());
    let report = world.reconcile(&second).await;
    assert_eq!(line(&report).outcome, Outcome::Failed, "{report:?}");
    assert_eq!(report.errors[0].error().reason(), "OwnedByAnotherSync");

    let taking = sync_of(&world, "second", "second", "  takeOver: {syncs: [first]}\n");
    let adopt = Action::Update {
        reason: UpdateReason::Adopt,
    };
    assert_eq!(planned(&world.plan(&taking).await), &adopt);
    let taken = world.reconcile(&taking).await;
    assert_eq!(line(&taken).outcome, Outcome::Adopted, "{taken:?}");

    let plan = world.plan(&first).await;
    let lost = Action::Lost {
        owner: "second".into(),
    };
    assert_eq!(planned(&plan), &lost, "{plan:#?}");
    assert_eq!(plan.summary().lost, 1);
    let report = world.reconcile(&first).await;
    assert_eq!(report.status, Status::Synced, "{report:?}");
    assert_eq!(line(&report).outcome, Outcome::Lost, "{report:?}");
    assert_eq!(live(&world).await, ("second".into(), "second".into()));
}

on_real_server!(
    a_second_sync_declaring_an_object_is_refused_unless_it_takes_it_over,
    plan_shows_what_sync_does_with_the_objects_of_another_sync,
);
