//! Planner scenarios, with live objects shaped as an API server returns them
//! after a server-side apply (managedFields, defaulted and normalised fields).

use serde_json::{json, Value};

use super::*;
use std::collections::BTreeSet;

/// A mass-deletion guard of `max_share`, allowing mass prunes if `allow`.
fn guard(max_share: f64, allow: bool) -> crate::spec::PruneGuard {
    crate::spec::PruneGuard {
        max_share,
        allow_mass_prune: allow,
        ..crate::spec::PruneGuard::default()
    }
}

fn namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"plumbline.dev/sync": "shop"}}})
}

fn config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "settings", "namespace": "shop",
                        "labels": {"plumbline.dev/sync": "shop"}}, "data": {"mode": "fast"}})
}

fn deployment(replicas: i64, cpu: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop", "labels": {"plumbline.dev/sync": "shop"}},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": [
               {"name": "web", "image": "nginx:1.27",
                "resources": {"requests": {"cpu": cpu}}}]}}}})
}

const DEPLOYMENT_FIELDS: &str = r#"{"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {},
        "f:resources": {"f:requests": {"f:cpu": {}}}}}}}}}"#;

/// The Deployment as the API server returns it after Plumbline applied
/// `deployment(2, "1000m")`: quantity normalised, defaults added (and not
/// owned by Plumbline).
fn applied_deployment() -> Value {
    let fields: Value = serde_json::from_str(DEPLOYMENT_FIELDS).unwrap();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop", "managedFields": [
               {"manager": "plumbline", "operation": "Apply", "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1", "fieldsV1": fields}]},
           "spec": {"replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                    "template": {"spec": {"containers": [
               {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "resources": {"requests": {"cpu": "1"}}}]}}}})
}

#[test]
fn the_summary_is_camel_case_like_the_rest_of_the_plan() {
    let summary = serde_json::to_value(Summary::default()).unwrap();
    let keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    assert!(keys.iter().any(|k| *k == "ownershipChanged"), "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains('_')), "{keys:?}");
}

/// The options of sync `shop`.
fn options() -> Options {
    Options {
        sync: "shop".into(),
        ..Options::default()
    }
}

fn key(object: &Value) -> ObjectKey {
    ObjectKey::of(object).unwrap()
}

/// Inventory and live state right after a sync of `desired` where the
/// server returned `returned`.
fn synced(desired: &Value, returned: &Value) -> (Inventory, Live) {
    let mut inventory = Inventory::default();
    inventory
        .entries
        .insert(key(desired), Entry::record(desired, returned, "plumbline"));
    let live = Live::from([(key(desired), returned.clone())]);
    (inventory, live)
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.objects
        .iter()
        .map(|o| (o.key.to_string(), o.action.clone()))
        .collect()
}

#[test]
fn first_sync_creates_everything_definitions_first() {
    let desired = [deployment(2, "1000m"), config_map(), namespace()];
    let plan = plan(&desired, &Live::new(), &Inventory::default(), &options());
    let order: Vec<String> = plan.objects.iter().map(|o| o.key.to_string()).collect();
    assert_eq!(
        order,
        [
            "Namespace shop",
            "ConfigMap shop/settings",
            "Deployment.apps shop/web"
        ]
    );
    assert!(plan.objects.iter().all(|o| o.action == Action::Create));
    assert_eq!(plan.objects[0].stage, Stage::Definitions);
    assert_eq!(plan.summary().create, 3);
    assert!(!plan.summary().in_sync());
}

#[test]
fn normalised_and_defaulted_fields_are_not_drift() {
    let desired = deployment(2, "1000m");
    let (inventory, live) = synced(&desired, &applied_deployment());
    let plan = plan(&[desired], &live, &inventory, &options());
    assert_eq!(
        actions(&plan),
        [("Deployment.apps shop/web".into(), Action::Unchanged)]
    );
    assert!(plan.summary().in_sync());
}

#[test]
fn a_field_taken_over_by_another_manager_is_drift() {
    let desired = deployment(2, "1000m");
    let (inventory, mut live) = synced(&desired, &applied_deployment());
    // `kubectl scale` (an Update by another manager) takes spec.replicas.
    let edited = live.get_mut(&key(&desired)).unwrap();
    edited["spec"]["replicas"] = json!(5);
    let fields: Value =
        serde_json::from_str(&DEPLOYMENT_FIELDS.replace(r#""f:replicas": {}, "#, "")).unwrap();
    edited["metadata"]["managedFields"] = json!([
        {"manager": "plumbline", "operation": "Apply", "fieldsV1": fields},
        {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);

    let plan = plan(&[desired], &live, &inventory, &options());
    let Action::Drifted(drift) = &plan.objects[0].action else {
        panic!("expected drift, got {:?}", plan.objects[0].action)
    };
    assert!(!drift.deleted);
    assert_eq!(drift.changes.len(), 1);
    let change = &drift.changes[0];
    assert_eq!(change.path.to_string(), "spec.replicas");
    assert_eq!(change.desired, Some(json!(2)));
    assert_eq!(change.live, Some(json!(5)));
    assert_eq!(change.taken_over_by, ["kubectl"]);
}

#[test]
fn a_changed_value_is_drift_even_if_ownership_stayed() {
    let desired = deployment(2, "1000m");
    let (inventory, mut live) = synced(&desired, &applied_deployment());
    live.get_mut(&key(&desired)).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("nginx:evil");
    let plan = plan(&[desired], &live, &inventory, &options());
    let Action::Drifted(drift) = &plan.objects[0].action else {
        panic!("expected drift")
    };
    assert_eq!(
        drift.changes[0].path.to_string(),
        "spec.template.spec.containers[name=web].image"
    );
    assert!(drift.changes[0].taken_over_by.is_empty());
}

#[test]
fn ignored_fields_stay_ignored_until_git_changes() {
    let desired = deployment(2, "1000m");
    let (mut inventory, mut live) = synced(&desired, &applied_deployment());
    live.get_mut(&key(&desired)).unwrap()["spec"]["replicas"] = json!(7);
    let entry = inventory.entries.get_mut(&key(&desired)).unwrap();
    let replicas = entry
        .owned
        .iter()
        .find(|f| f.path.to_string() == "spec.replicas")
        .unwrap();
    entry.ignored.insert(replicas.path.clone());

    let unchanged = plan(&[desired], &live, &inventory, &options());
    assert_eq!(unchanged.objects[0].action, Action::Unchanged);

    let changed_in_git = plan(&[deployment(3, "1000m")], &live, &inventory, &options());
    assert_eq!(
        changed_in_git.objects[0].action,
        Action::Update {
            reason: UpdateReason::GitChanged
        }
    );
}

#[test]
fn a_change_in_git_is_an_update_not_drift() {
    let (inventory, live) = synced(&deployment(2, "1000m"), &applied_deployment());
    let plan = plan(&[deployment(4, "1000m")], &live, &inventory, &options());
    assert_eq!(
        plan.objects[0].action,
        Action::Update {
            reason: UpdateReason::GitChanged
        }
    );
}

#[test]
fn a_deleted_object_is_drift_and_an_unknown_existing_one_is_adopted() {
    let desired = deployment(2, "1000m");
    let (inventory, _) = synced(&desired, &applied_deployment());
    let deleted = plan(
        std::slice::from_ref(&desired),
        &Live::new(),
        &inventory,
        &options(),
    );
    assert_eq!(
        deleted.objects[0].action,
        Action::Drifted(Drift {
            deleted: true,
            changes: vec![]
        })
    );

    let mut ignoring = inventory.clone();
    let entry = ignoring.entries.get_mut(&key(&desired)).unwrap();
    entry.ignored.insert(FieldPath::root());
    let ignored = plan(
        std::slice::from_ref(&desired),
        &Live::new(),
        &ignoring,
        &options(),
    );
    assert_eq!(ignored.objects[0].action, Action::Unchanged);

    let live = Live::from([(key(&desired), applied_deployment())]);
    let adopted = plan(&[desired], &live, &Inventory::default(), &options());
    assert_eq!(
        adopted.objects[0].action,
        Action::Update {
            reason: UpdateReason::Adopt
        }
    );
}

#[test]
fn objects_that_left_git_are_pruned_in_reverse_order() {
    let mut inventory = Inventory::default();
    let mut live = Live::new();
    for object in [namespace(), config_map(), deployment(2, "1")] {
        inventory
            .entries
            .insert(key(&object), Entry::record(&object, &object, "plumbline"));
        live.insert(key(&object), object);
    }
    let gone = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gone", "namespace": "shop"}});
    inventory
        .entries
        .insert(key(&gone), Entry::record(&gone, &gone, "plumbline"));

    let plan = plan(&[namespace()], &live, &inventory, &options());
    let pruned: Vec<String> = plan
        .objects
        .iter()
        .filter(|o| o.action == Action::Prune)
        .map(|o| o.key.to_string())
        .collect();
    // The Secret is already gone from the cluster: nothing to delete.
    assert_eq!(
        pruned,
        ["Deployment.apps shop/web", "ConfigMap shop/settings"]
    );
    assert_eq!(plan.objects[1].api_version, "apps/v1");

    let no_prune = Options {
        prune: false,
        ..options()
    };
    let orphans = super::plan(&[namespace()], &live, &inventory, &no_prune).summary();
    assert_eq!((orphans.prune, orphans.orphan), (0, 2));
}

#[test]
fn an_adopted_object_that_left_git_is_pruned_only_when_the_sync_says_so() {
    let mut inventory = Inventory::default();
    let mut live = Live::new();
    for object in [namespace(), config_map()] {
        let mut entry = Entry::record(&object, &object, "plumbline");
        entry.adopted = key(&object).kind == "ConfigMap";
        inventory.entries.insert(key(&object), entry);
        live.insert(key(&object), object);
    }
    let kept = plan(&[namespace()], &live, &inventory, &options());
    assert_eq!(kept.objects[1].action, Action::KeptAdopted);
    assert!(kept.summary().in_sync());
    assert!(kept.summary().to_string().contains("1 adopted, not pruned"));

    let pruning = Options {
        prune_adopted: true,
        ..options()
    };
    let pruned = plan(&[namespace()], &live, &inventory, &pruning);
    assert_eq!(pruned.objects[1].action, Action::Prune);
}

#[test]
fn the_prune_guard_refuses_mass_deletion_unless_allowed() {
    let mut inventory = Inventory::default();
    let mut live = Live::new();
    let cms: Vec<Value> = (0..4)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("c{i}"), "namespace": "shop",
                            "labels": {"plumbline.dev/sync": "shop"}}})
        })
        .collect();
    for cm in &cms {
        inventory
            .entries
            .insert(key(cm), Entry::record(cm, cm, "plumbline"));
        live.insert(key(cm), cm.clone());
    }
    let half = plan(&cms[..2], &live, &inventory, &options());
    assert_eq!(
        half.check_prune_guard(&inventory, &live, &BTreeSet::new(), &guard(0.5, false), 0),
        Ok(())
    );
    // What the pruned objects take with them that the sync does not own
    // counts too.
    let taking_more = half
        .check_prune_guard(&inventory, &live, &BTreeSet::new(), &guard(0.5, false), 1)
        .unwrap_err();
    assert!(
        taking_more
            .to_string()
            .contains("2 of 4 objects this sync owns and 1 it does not own"),
        "{taking_more}"
    );

    let most = plan(&cms[..1], &live, &inventory, &options());
    let refused = most
        .check_prune_guard(&inventory, &live, &BTreeSet::new(), &guard(0.5, false), 0)
        .unwrap_err();
    assert_eq!((refused.prunes, refused.inventory), (3, 4));
    assert!(
        refused
            .to_string()
            .contains("refusing to prune 3 of 4 objects"),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("spec.pruneGuard.allowMassPrune: true"),
        "{refused}"
    );
    assert_eq!(
        most.check_prune_guard(&inventory, &live, &BTreeSet::new(), &guard(0.5, true), 0),
        Ok(())
    );

    let all = plan(&[], &live, &inventory, &options());
    assert!(all
        .check_prune_guard(&inventory, &live, &BTreeSet::new(), &guard(1.0, false), 0)
        .is_err());
}

/// A live object of sync `shop` with the given identity and uid.
fn owned(api_version: &str, kind: &str, namespace: Option<&str>, name: &str, uid: &str) -> Value {
    let mut object = json!({"apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "uid": uid, "labels": {"plumbline.dev/sync": "shop"}}});
    if let Some(namespace) = namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    object
}

/// Inventory and live state of objects applied as they are.
fn applied(objects: &[Value]) -> (Inventory, Live) {
    let mut inventory = Inventory::default();
    let mut live = Live::new();
    for object in objects {
        inventory
            .entries
            .insert(key(object), Entry::record(object, object, "plumbline"));
        live.insert(key(object), object.clone());
    }
    (inventory, live)
}

#[test]
fn one_object_under_two_groups_is_not_pruned_for_the_group_git_left() {
    let core = owned("v1", "Event", Some("shop"), "deployed", "uid-1");
    let (inventory, mut live) = applied(&[core]);
    let events = owned(
        "events.k8s.io/v1",
        "Event",
        Some("shop"),
        "deployed",
        "uid-1",
    );
    live.insert(key(&events), events.clone());

    let plan = plan(&[events], &live, &inventory, &options());
    assert_eq!(plan.summary().prune, 0, "{:#?}", plan.objects);
}

#[test]
fn the_prune_guard_counts_what_a_namespace_or_crd_takes_with_it() {
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com", "uid": "crd",
                     "labels": {"plumbline.dev/sync": "shop"}},
        "spec": {"group": "example.com", "names": {"kind": "Widget"}}});
    let team = owned("v1", "Namespace", None, "team", "ns");
    let in_team = owned("v1", "ConfigMap", Some("team"), "one", "cm-1");
    let widget = owned("example.com/v1", "Widget", Some("shop"), "w", "w-1");
    let elsewhere = owned("v1", "ConfigMap", Some("shop"), "two", "cm-2");
    let all = [
        crd.clone(),
        team.clone(),
        in_team.clone(),
        widget.clone(),
        elsewhere,
    ];
    let (inventory, live) = applied(&all);

    let keep: Vec<Value> = all[2..].to_vec();
    let planned = plan(&keep, &live, &inventory, &options());
    let deleted: Vec<String> = planned
        .pruned_with_cascade(&inventory, &live)
        .into_iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        deleted,
        [
            "ConfigMap team/one",
            "Namespace team",
            "CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
            "Widget.example.com shop/w",
        ]
    );
    let refused = planned
        .check_prune_guard(&inventory, &live, &BTreeSet::new(), &guard(0.5, false), 0)
        .unwrap_err();
    assert_eq!((refused.prunes, refused.inventory), (4, 5));
}

#[test]
fn the_prune_guard_counts_what_a_recreated_namespace_takes_with_it() {
    let team = owned("v1", "Namespace", None, "team", "ns");
    let one = owned("v1", "ConfigMap", Some("team"), "one", "cm-1");
    let two = owned("v1", "ConfigMap", Some("team"), "two", "cm-2");
    let elsewhere = owned("v1", "ConfigMap", Some("shop"), "three", "cm-3");
    let all = [team.clone(), one, two, elsewhere];
    let (inventory, live) = applied(&all);
    let planned = plan(&all, &live, &inventory, &options());
    let recreated = BTreeSet::from([key(&team)]);

    let refused = planned
        .check_prune_guard(&inventory, &live, &recreated, &guard(0.5, false), 0)
        .unwrap_err();
    assert_eq!((refused.prunes, refused.inventory), (3, 4));
    assert_eq!(refused.recreated, 3);
    assert!(
        refused.to_string().contains("recreate of a Namespace"),
        "{refused}"
    );
    let allowed = guard(0.8, false);
    let within = planned.check_prune_guard(&inventory, &live, &recreated, &allowed, 0);
    assert_eq!(within, Ok(()));
    // Foreign contents it takes along count too.
    let with_foreign = planned.check_prune_guard(&inventory, &live, &recreated, &allowed, 2);
    assert_eq!(with_foreign.unwrap_err().foreign, 2);
}

#[test]
fn a_terminating_object_is_neither_unchanged_nor_pruned_again() {
    let settings = owned("v1", "ConfigMap", Some("shop"), "settings", "uid-1");
    let (inventory, _) = applied(std::slice::from_ref(&settings));
    let mut terminating = settings.clone();
    terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let live = Live::from([(key(&settings), terminating)]);

    let kept = plan(&[settings], &live, &inventory, &options());
    assert_eq!(kept.objects[0].action, Action::Terminating);
    let left = plan(&[], &live, &inventory, &options());
    assert_eq!(left.objects[0].action, Action::Terminating);
    assert!(!left.summary().in_sync());
}

#[test]
fn an_object_with_the_resource_version_its_apply_returned_is_not_compared_field_by_field() {
    let desired = deployment(2, "1000m");
    let mut returned = applied_deployment();
    returned["metadata"]["resourceVersion"] = json!("41");
    let (inventory, mut live) = synced(&desired, &returned);
    assert_eq!(
        inventory.entries[&key(&desired)]
            .resource_version
            .as_deref(),
        Some("41")
    );
    // Any write changes the resourceVersion: an edit comes with a new one
    // and is drift ...
    let edited = live.get_mut(&key(&desired)).unwrap();
    edited["spec"]["replicas"] = json!(5);
    edited["metadata"]["resourceVersion"] = json!("42");
    let plan_of = |live: &Live| plan(std::slice::from_ref(&desired), live, &inventory, &options());
    assert!(matches!(
        plan_of(&live).objects[0].action,
        Action::Drifted(_)
    ));
    // ... while the version of the apply vouches for the fields (here a
    // different value under the same version, which a real API server
    // never returns, shows that they are not read).
    live.get_mut(&key(&desired)).unwrap()["metadata"]["resourceVersion"] = json!("41");
    assert_eq!(plan_of(&live).objects[0].action, Action::Unchanged);
}

#[test]
fn a_new_resource_version_alone_needs_no_inventory_write() {
    let desired = config_map();
    let mut returned = desired.clone();
    returned["metadata"]["resourceVersion"] = json!("7");
    let (mut inventory, _) = synced(&desired, &returned);
    let before = inventory.clone();
    returned["metadata"]["resourceVersion"] = json!("9");
    let entry = Entry::record(&desired, &returned, "plumbline");
    assert!(!inventory.record(key(&desired), entry.clone()));
    assert_ne!(inventory, before, "the new version is kept");
    let mut git_changed = entry;
    git_changed.desired_hash = "other".into();
    assert!(inventory.record(key(&desired), git_changed));
}

#[test]
fn an_object_another_sync_applied_is_refused_or_lost_unless_taken_over() {
    let desired = config_map();
    let mut theirs = config_map();
    theirs["metadata"]["labels"] = json!({crate::apply::SYNC_LABEL: "other"});
    let live = Live::from([(key(&desired), theirs.clone())]);

    let never_held = plan(&[desired.clone()], &live, &Inventory::default(), &options());
    let refused = Action::OwnedByAnotherSync {
        owner: "other".into(),
    };
    assert_eq!(never_held.objects[0].action, refused);
    assert_eq!(never_held.summary().owned_by_another_sync, 1);
    assert!(!never_held.summary().in_sync());

    let (inventory, _) = synced(&desired, &desired);
    let mut changed = desired.clone();
    changed["data"]["mode"] = json!("slow");
    let held = plan(&[changed], &live, &inventory, &options());
    let lost = Action::Lost {
        owner: "other".into(),
    };
    assert_eq!(held.objects[0].action, lost);
    assert_eq!(held.summary().lost, 1);
    assert!(held.summary().in_sync());

    let taking = Options {
        take_over_syncs: vec!["other".into()],
        ..options()
    };
    let taken = plan(&[desired], &live, &Inventory::default(), &taking);
    let adopt = Action::Update {
        reason: UpdateReason::Adopt,
    };
    assert_eq!(taken.objects[0].action, adopt);
}
