//! End to end: a real Git repository, real policies built from source, and
//! an API server — each story runs on the real control plane (etcd +
//! kube-apiserver v1.36) and on the emulator (the reads of a first sync, a
//! metadata-only LIST, on the real one only). Each test is one story a
//! platform team lives through.

#[path = "policy_host/fixtures.rs"]
mod fixtures;
mod reconcile_support;
mod server_support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};
use plumbline::reconcile::{self, Outcome, Report, Status, SyncUnit};
use reconcile_support::{all_roles_policy, World};
use serde_json::json;
use server_support::Server;

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
const CONFIG: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";
const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 1000m, memory: 1024Mi}
";

fn seed(world: &World) {
    world
        .repo
        .write("namespace.yaml", NAMESPACE)
        .write("config.yaml", CONFIG)
        .write("service.yaml", SERVICE)
        .write("deployment.yaml", DEPLOYMENT)
        .commit("shop: first version");
}

/// A world whose repository was seeded and synced once with `spec`.
async fn synced(server: Server, spec: &str) -> (World, SyncUnit) {
    let world = World::on(server);
    seed(&world);
    let unit = world.unit(spec);
    world.reconcile(&unit).await;
    (world, unit)
}

fn outcomes(report: &Report) -> Vec<(String, Outcome)> {
    report
        .objects
        .iter()
        .map(|o| (o.key.to_string(), o.outcome.clone()))
        .collect()
}

fn config_maps(world: &World) -> Api<ConfigMap> {
    Api::namespaced(world.client(), "shop")
}

/// `kubectl edit`: another field manager changes the ConfigMap.
async fn edit_config(world: &World, mode: &str) {
    config_maps(world)
        .patch(
            "settings",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"data": {"mode": mode}})),
        )
        .await
        .unwrap();
}

async fn config_mode(world: &World) -> String {
    let cm = config_maps(world).get("settings").await.unwrap();
    cm.data.unwrap()["mode"].clone()
}

async fn first_sync_creates_everything_in_order_and_a_second_writes_nothing(server: Server) {
    let world = World::on(server);
    seed(&world);
    let unit = world.unit("");

    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");
    assert_eq!(
        outcomes(&first),
        [
            ("Namespace shop".to_owned(), Outcome::Created),
            ("ConfigMap shop/settings".to_owned(), Outcome::Created),
            ("Service shop/web".to_owned(), Outcome::Created),
            ("Deployment.apps shop/web".to_owned(), Outcome::Created),
        ]
    );
    assert_eq!(first.revision.as_ref().map(String::len), Some(40));

    // The API server normalised `cpu: 1000m` to `1`: that is not drift, and
    // a reconcile with nothing changed makes no writes at all.
    world.requests.reset();
    let second = world.reconcile(&unit).await;
    assert_eq!(second.status, Status::Synced, "{second:#?}");
    assert_eq!(second.count(&Outcome::Unchanged), 4, "{second:#?}");
    assert_eq!(
        world.requests.writes(),
        0,
        "a no-change sync writes nothing"
    );
}

async fn a_git_change_updates_exactly_the_changed_object_and_a_removed_file_is_pruned(
    server: Server,
) {
    let (world, unit) = synced(server, "").await;

    world
        .repo
        .write("config.yaml", &CONFIG.replace("fast", "safe"))
        .commit("config: safe mode");
    let changed = world.reconcile(&unit).await;
    assert_eq!(changed.count(&Outcome::Updated), 1, "{changed:#?}");
    assert_eq!(changed.count(&Outcome::Unchanged), 3);
    assert_eq!(config_mode(&world).await, "safe");

    world.repo.remove("service.yaml").commit("drop the service");
    let pruned = world.reconcile(&unit).await;
    assert_eq!(pruned.status, Status::Synced, "{pruned:#?}");
    let gone: Vec<String> = pruned
        .with_outcome(&Outcome::Pruned)
        .map(|o| o.key.to_string())
        .collect();
    assert_eq!(gone, ["Service shop/web"]);
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(world.client(), "shop");
    assert!(services.get_opt("web").await.unwrap().is_none());
}

async fn drift_is_reapplied_when_the_remediator_says_so(server: Server) {
    let (world, unit) = synced(server, &all_roles_policy("reapply")).await;

    edit_config(&world, "debug").await;
    let report = world.reconcile(&unit).await;
    let line = report
        .with_outcome(&Outcome::Reapplied)
        .next()
        .expect("reapplied");
    assert_eq!(line.key.to_string(), "ConfigMap shop/settings");
    assert_eq!(line.drifted, ["data.mode"]);
    assert_eq!(line.decision.as_ref().unwrap().policy, "test-all-roles");
    assert_eq!(config_mode(&world).await, "fast");

    let healed = world.reconcile(&unit).await;
    assert_eq!(healed.count(&Outcome::Unchanged), 4, "{healed:#?}");
}

async fn ignored_drift_stays_until_git_changes_the_field(server: Server) {
    let (world, unit) = synced(server, &all_roles_policy("ignore")).await;

    edit_config(&world, "debug").await;
    let report = world.reconcile(&unit).await;
    assert_eq!(report.count(&Outcome::Ignored), 1, "{report:#?}");
    assert_eq!(config_mode(&world).await, "debug");
    let again = world.reconcile(&unit).await;
    assert_eq!(again.count(&Outcome::Unchanged), 4, "{again:#?}");

    world
        .repo
        .write("config.yaml", &CONFIG.replace("fast", "safe"))
        .commit("config: safe mode");
    let updated = world.reconcile(&unit).await;
    assert_eq!(updated.count(&Outcome::Updated), 1, "{updated:#?}");
}

async fn reported_drift_is_left_alone(server: Server) {
    let (world, unit) = synced(server, &all_roles_policy("report")).await;

    edit_config(&world, "debug").await;
    let report = world.reconcile(&unit).await;
    let line = report
        .with_outcome(&Outcome::Reported)
        .next()
        .expect("reported");
    assert_eq!(line.message.as_deref(), Some("forced by settings"));
    assert_eq!(config_mode(&world).await, "debug");
}

async fn without_remediators_drift_is_reported_unless_self_heal_is_on(server: Server) {
    let (world, _) = synced(server, "").await;
    edit_config(&world, "debug").await;

    let reported = world.reconcile(&world.unit("")).await;
    assert_eq!(reported.count(&Outcome::Reported), 1, "{reported:#?}");
    assert_eq!(config_mode(&world).await, "debug");

    let healed = world.reconcile(&world.unit("  selfHeal: true\n")).await;
    assert_eq!(healed.count(&Outcome::Reapplied), 1, "{healed:#?}");
    assert_eq!(config_mode(&world).await, "fast");
}

async fn a_failing_validator_applies_nothing(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("namespace.yaml", NAMESPACE)
        .write(
            "config.yaml",
            &CONFIG.replace(
                "name: settings",
                "name: settings\n  labels: {test/deny: nope}",
            ),
        )
        .commit("a denied config");
    world.requests.reset();
    let report = world
        .reconcile(&world.unit(&all_roles_policy("reapply")))
        .await;
    assert_eq!(report.status, Status::Blocked, "{report:#?}");
    assert_eq!(report.violations.len(), 1);
    assert_eq!(
        report.violations[0].message,
        "denied by label test/deny=nope"
    );
    assert_eq!(world.requests.writes(), 0);
}

async fn a_failed_fetch_or_render_prunes_nothing(server: Server) {
    let (world, _) = synced(server, "").await;
    world.requests.reset();

    let vanished = world.unit_at(&world.repo.url(), "{branch: gone}", "");
    let fetch_failed = world.reconcile(&vanished).await;
    assert_eq!(fetch_failed.status, Status::Failed);
    let failure = fetch_failed.errors[0].error();
    assert!(failure.to_string().contains("gone"), "{failure}");
    // The branch may come back: retried.
    assert_eq!(failure.reason(), "FetchFailed");
    assert!(failure.is_retryable());

    world.repo.remove("service.yaml");
    world
        .repo
        .write("deployment.yaml", "kind: [unclosed\n")
        .commit("broken");
    let render_failed = world.reconcile(&world.unit("")).await;
    assert_eq!(render_failed.status, Status::Failed);
    let failure = render_failed.errors[0].error();
    assert!(failure.to_string().contains("deployment.yaml"), "{failure}");
    // The revision renders the same every time: stalled, not retried.
    assert_eq!(failure.reason(), "RenderFailed");
    assert!(!failure.is_retryable());

    assert_eq!(
        world.requests.writes(),
        0,
        "a failed fetch or render writes nothing"
    );
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(world.client(), "shop");
    assert!(services.get_opt("web").await.unwrap().is_some());
}

/// Issue 23, finding 12: a sync's path that is missing or renders nothing
/// is named as such in the status, not as a render error of the manifests.
async fn a_missing_path_and_an_empty_render_have_their_own_reasons(server: Server) {
    use plumbline::controller::status::Verdict;

    let (world, _) = synced(server, "").await;
    world
        .repo
        .write("empty/README.md", "no manifests here\n")
        .commit("an empty directory");
    for (path, reason) in [("deploy/prod", "PathNotFound"), ("empty", "EmptyRender")] {
        let mut unit = world.unit("");
        unit.config.spec.source.path = path.into();
        let report = world.reconcile(&unit).await;
        assert_eq!(report.status, Status::Failed, "{report:#?}");
        let failure = report.deciding_failure().unwrap().error();
        assert_eq!(failure.reason(), reason, "{path}: {failure}");
        assert!(!failure.is_retryable());
        let verdict = Verdict::of_report(&report);
        assert_eq!((verdict.reason.as_str(), verdict.stalled), (reason, true));
    }
}

async fn the_mass_deletion_guard_refuses_to_prune_most_of_the_inventory(server: Server) {
    let (world, _) = synced(server, "").await;

    world
        .repo
        .remove("config.yaml")
        .remove("service.yaml")
        .remove("deployment.yaml")
        .commit("oops");
    world.requests.reset();
    let refused = world.reconcile(&world.unit("")).await;
    assert_eq!(refused.status, Status::Failed);
    let failure = refused.deciding_failure().unwrap().error();
    assert!(
        failure.to_string().contains("refusing to prune 3 of 4"),
        "{failure}"
    );
    assert_eq!(failure.reason(), "PruneRefused");
    assert!(!failure.is_retryable());
    assert_eq!(refused.count(&Outcome::Skipped), 3);
    assert_eq!(world.requests.deletes(), 0);

    let allowed = world
        .reconcile(&world.unit("  pruneGuard: {allowMassPrune: true}\n"))
        .await;
    assert_eq!(allowed.count(&Outcome::Pruned), 3, "{allowed:#?}");
}

/// Real-world applications (Argo CD, podinfo; kustomizations, a CRD with its
/// custom resources in one app) sync cleanly, and reconciling them again
/// finds no drift and makes no writes: what the API server defaulted and
/// normalised is never mistaken for drift.
async fn real_world_app(server: Server, app: &str, path: &str, objects: usize) {
    let world = World::on(server);
    world
        .repo
        .copy_dir(&reconcile_support::corpus().join(app), "")
        .commit(app);
    let mut unit = world.unit("  createNamespace: true\n");
    unit.config.spec.source.path = path.to_owned();
    let objects = objects + 1; // the target namespace

    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{app}: {:?}", first.errors);
    assert_eq!(first.count(&Outcome::Created), objects, "{app}: {first:#?}");

    world.requests.reset();
    let second = world.reconcile(&unit).await;
    assert_eq!(
        second.count(&Outcome::Unchanged),
        objects,
        "{app}: {second:#?}"
    );
    assert_eq!(world.requests.writes(), 0, "{app}");
}

async fn real_world_guestbook_stays_in_sync(server: Server) {
    real_world_app(server, "argo-cd__guestbook", "", 2).await;
}

async fn real_world_podinfo_kustomization_stays_in_sync(server: Server) {
    real_world_app(server, "podinfo__kustomize", "", 3).await;
}

async fn real_world_crd_with_its_resources_stays_in_sync(server: Server) {
    real_world_app(server, "argo-cd__crd-creation", "", 5).await;
}

async fn real_world_argo_cd_namespace_install_stays_in_sync(server: Server) {
    real_world_app(server, "argo-cd__manifests", "namespace-install", 50).await;
}

async fn recreate_deletes_and_creates_the_drifted_object_again(server: Server) {
    let (world, unit) = synced(server, &all_roles_policy("recreate")).await;
    let before = config_maps(&world).get("settings").await.unwrap();

    edit_config(&world, "debug").await;
    let report = world.reconcile(&unit).await;
    assert_eq!(report.count(&Outcome::Recreated), 1, "{report:#?}");
    let after = config_maps(&world).get("settings").await.unwrap();
    assert_ne!(before.metadata.uid, after.metadata.uid);
    assert_eq!(config_mode(&world).await, "fast");
}

async fn a_deferred_decision_is_kept_until_its_time_comes(server: Server) {
    let (world, unit) = synced(server, &all_roles_policy("defer")).await;

    edit_config(&world, "debug").await;
    let first = world.reconcile(&unit).await;
    let line = first
        .with_outcome(&Outcome::Deferred)
        .next()
        .expect("deferred");
    assert_eq!(line.decision.as_ref().unwrap().policy, "test-all-roles");
    assert_eq!(line.message.as_deref(), Some("decision deferred for 60s"));

    // Within the minute the deferral stands without asking the policy again.
    let second = world.reconcile(&unit).await;
    let line = second
        .with_outcome(&Outcome::Deferred)
        .next()
        .expect("still deferred");
    assert!(line.decision.is_none(), "{line:?}");
    assert_eq!(config_mode(&world).await, "debug");
}

/// A deferral is cut to the sync's `maxDeferralSeconds`, and it ends when
/// the policy that deferred is no longer one of the sync's remediators.
async fn a_deferral_is_bounded_and_ends_with_its_policy(server: Server) {
    let capped = format!("{}  maxDeferralSeconds: 20\n", all_roles_policy("defer"));
    let (world, unit) = synced(server, &capped).await;

    edit_config(&world, "debug").await;
    let first = world.reconcile(&unit).await;
    let line = first
        .with_outcome(&Outcome::Deferred)
        .next()
        .expect("deferred");
    assert_eq!(line.message.as_deref(), Some("decision deferred for 20s"));
    assert!(
        first
            .warnings
            .iter()
            .any(|w| w.contains("deferred its decision for 60s; cut to the sync's maximum of 20s")),
        "{:?}",
        first.warnings
    );

    // The deferring policy is replaced (the same module under another name,
    // abstaining, so the desired objects stay the same): its deferral goes
    // with it and the sync's own rule (self-heal) decides at once.
    let successor = format!(
        "  policies:\n    - name: successor\n      module: {}\n      settings: {{remediation: abstain}}\n  selfHeal: true\n",
        policy_artifacts::TEST_ALL_ROLES
    );
    let healed = world.reconcile(&world.unit(&successor)).await;
    assert_eq!(healed.count(&Outcome::Reapplied), 1, "{healed:#?}");
    assert_eq!(config_mode(&world).await, "fast");
}

/// A transformer that adds a ClusterRoleBinding (here: the test policy
/// copying an annotated one) is refused unless its policy's `allow` lists
/// the kind and RBAC edits; nothing is applied meanwhile.
async fn objects_a_transformer_adds_are_guarded(server: Server) {
    let world = World::on(server);
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: ops\n  annotations: {test/duplicate: \"yes\"}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects:\n- {kind: Group, name: ops, apiGroup: rbac.authorization.k8s.io}\n";
    world
        .repo
        .write("namespace.yaml", NAMESPACE)
        .write("binding.yaml", binding)
        .commit("a binding the transformer copies");
    world.requests.reset();
    let refused = world
        .reconcile(&world.unit(&all_roles_policy("reapply")))
        .await;
    assert_eq!(refused.status, Status::Failed, "{refused:#?}");
    let messages: Vec<String> = refused.errors.iter().map(ToString::to_string).collect();
    for expected in [
        "added ClusterRoleBinding.rbac.authorization.k8s.io ops-copy: kind \
         ClusterRoleBinding.rbac.authorization.k8s.io is not in the policy's allow.add",
        "added ClusterRoleBinding.rbac.authorization.k8s.io ops-copy: roleRef is a rbac edit",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected}: {messages:?}"
        );
    }
    assert_eq!(world.requests.writes(), 0, "nothing is applied");

    let allowed = format!(
        "{}      allow: {{add: [{{kind: ClusterRoleBinding, group: rbac.authorization.k8s.io}}], \
         sensitive: [rbac]}}\n",
        all_roles_policy("reapply")
    );
    let synced = world.reconcile(&world.unit(&allowed)).await;
    assert_eq!(synced.status, Status::Synced, "{synced:#?}");
    assert_eq!(synced.count(&Outcome::Created), 3, "{synced:#?}");
    let summary: Vec<String> = synced
        .transformers
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        summary,
        ["policy test-all-roles added 1, removed 0, changed 2 objects"],
        "{:#?}",
        synced.transformers
    );
}

/// A namespaced object a transformer adds without a namespace gets the
/// sync's target namespace, like a rendered one, and is applied there.
async fn objects_a_transformer_adds_without_a_namespace_get_the_target_one(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("namespace.yaml", NAMESPACE)
        .write("config.yaml", CONFIG)
        .commit("shop");
    let transformer = world.scratch.path().join("adds-a-config-map.wasm");
    std::fs::write(&transformer, fixtures::adding_transformer()).unwrap();
    let spec = format!(
        "  policies:\n    - module: {}\n      allow: {{add: [{{kind: ConfigMap}}], namespaces: [shop]}}\n",
        transformer.display()
    );
    let report = world.reconcile(&world.unit(&spec)).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    let added = config_maps(&world).get("added-by-policy").await.unwrap();
    assert_eq!(added.metadata.namespace.as_deref(), Some("shop"));
}

async fn when_every_remediator_abstains_the_sync_default_decides(server: Server) {
    let healing = format!("{}  selfHeal: true\n", all_roles_policy("abstain"));
    let (world, unit) = synced(server, &healing).await;

    edit_config(&world, "debug").await;
    let report = world.reconcile(&unit).await;
    let line = report
        .with_outcome(&Outcome::Reapplied)
        .next()
        .expect("reapplied");
    assert!(line.decision.is_none(), "the default decided: {line:?}");
    assert_eq!(config_mode(&world).await, "fast");
}

/// `plumbline sync` keeps each render: a commit reconciled before with the
/// same inputs is not rendered, transformed or validated again, and plans
/// exactly as before. A new commit, or other policy settings, render
/// again; a damaged file is rendered over. Issue #16.
async fn a_kept_render_is_reused_for_the_same_commit_and_inputs(server: Server) {
    let world = World::on(server);
    seed(&world);
    let kept = world.scratch.path().join("rendered");
    let reconcile = |unit: SyncUnit| {
        let (world, kept) = (&world, &kept);
        async move {
            let policies = world.policies(&unit);
            let cluster = world.cluster();
            let git = world.git_cache().join("git");
            reconcile::reconcile_kept(&unit, &policies, &cluster, &git, kept).await
        }
    };
    let policies_ran = |report: &Report| {
        let mut roles: Vec<&str> = report.policy_timings.iter().map(|t| t.role).collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    };

    let unit = world.unit(&all_roles_policy("reapply"));
    let first = reconcile(unit.clone()).await;
    assert_eq!(first.status, Status::Synced, "{:?}", first.errors);
    assert_eq!(policies_ran(&first), ["transformer", "validator"]);
    assert_eq!(first.summary.create, 4);

    let again = reconcile(unit.clone()).await;
    assert_eq!(again.status, Status::Synced, "{:?}", again.errors);
    assert!(
        policies_ran(&again).is_empty(),
        "{:?}",
        again.policy_timings
    );
    assert_eq!(again.summary.unchanged, 4, "{:?}", again.summary);
    assert_eq!(again.revision, first.revision);

    world
        .repo
        .write("config.yaml", &CONFIG.replace("fast", "safe"))
        .commit("shop: safe mode");
    let changed = reconcile(unit.clone()).await;
    assert_eq!(policies_ran(&changed), ["transformer", "validator"]);
    assert_eq!(changed.summary.update, 1, "{:?}", changed.summary);

    let other_settings = world.unit(&all_roles_policy("report"));
    let resettled = reconcile(other_settings.clone()).await;
    assert_eq!(resettled.status, Status::Synced, "{:?}", resettled.errors);
    assert_eq!(policies_ran(&resettled), ["transformer", "validator"]);

    for file in std::fs::read_dir(&kept).unwrap() {
        std::fs::write(file.unwrap().path(), "{\"build\": ").unwrap();
    }
    let damaged = reconcile(other_settings).await;
    assert_eq!(damaged.status, Status::Synced, "{:?}", damaged.errors);
    assert_eq!(policies_ran(&damaged), ["transformer", "validator"]);
    assert_eq!(damaged.summary.unchanged, 4, "{:?}", damaged.summary);
}

/// The controller's next reconcile plans with the inventory its baseline
/// holds only while the stored inventory is that one: after another writer
/// (here a reconcile without a baseline) recorded an object, the stored
/// inventory is read again, and the object is pruned when it leaves Git.
async fn a_baseline_inventory_is_used_only_while_it_is_the_stored_one(server: Server) {
    let world = World::on(server);
    seed(&world);
    let unit = world.unit("");
    let policies = world.policies(&unit);
    let cluster = world.cluster();
    let git = world.git_cache().join("git");
    let (first, baseline) =
        reconcile::reconcile_to_baseline(&unit, &policies, &cluster, &git, None).await;
    assert_eq!(first.status, Status::Synced, "{:?}", first.errors);
    assert!(baseline.is_some());

    let extra = CONFIG.replace("settings", "extra");
    world.repo.write("extra.yaml", &extra).commit("shop: extra");
    let other = world.reconcile(&unit).await;
    assert_eq!(other.status, Status::Synced, "{:?}", other.errors);
    world.repo.remove("extra.yaml").commit("shop: no extra");

    let (last, _) =
        reconcile::reconcile_to_baseline(&unit, &policies, &cluster, &git, baseline).await;
    assert_eq!(last.status, Status::Synced, "{:?}", last.errors);
    assert!(
        outcomes(&last).contains(&("ConfigMap shop/extra".to_owned(), Outcome::Pruned)),
        "{:?}",
        outcomes(&last)
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "shop");
    assert!(config_maps.get_opt("extra").await.unwrap().is_none());
}

/// A first sync of many objects into a namespace reads what is already
/// there with one LIST per kind, not a GET per object (a cold sync of
/// 10,000 objects sent 10,000 GETs before its first apply), and still adopts
/// an object someone else created there.
async fn a_first_sync_lists_a_namespace_instead_of_reading_each_object(server: Server) {
    const CONFIG_MAPS: usize = 40;
    let world = World::on(server);
    let text: String = (0..CONFIG_MAPS)
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\n\
                 data:\n  index: \"{i}\"\n"
            )
        })
        .collect();
    world
        .repo
        .write("namespace.yaml", NAMESPACE)
        .write("configs.yaml", &text)
        .commit("shop: many ConfigMaps");
    // `kubectl create namespace shop` and `kubectl create configmap config-7`.
    let created = PostParams {
        field_manager: Some("kubectl-create".into()),
        ..PostParams::default()
    };
    let namespaces: Api<Namespace> = Api::all(world.client());
    let namespace = serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap();
    namespaces.create(&created, &namespace).await.unwrap();
    let theirs = serde_json::from_value(json!({
        "metadata": {"name": "config-7"}, "data": {"index": "seven"}
    }))
    .unwrap();
    config_maps(&world).create(&created, &theirs).await.unwrap();

    let unit = world.unit("");
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Synced, "{:?}", report.errors);
    let outcomes = outcomes(&report);
    let adopted = ("ConfigMap shop/config-7".to_owned(), Outcome::Adopted);
    assert!(outcomes.contains(&adopted), "{outcomes:?}");
    assert_eq!(
        report.count(&Outcome::Created),
        CONFIG_MAPS - 1,
        "{outcomes:?}"
    );
    assert_eq!(config_index(&world, "config-7").await, "7");
    assert_eq!(
        world
            .requests
            .object_reads_in("/api/v1/namespaces/shop/configmaps"),
        1,
        "only the ConfigMap that existed is read on its own"
    );
}

/// The `index` of a ConfigMap in `shop`.
async fn config_index(world: &World, name: &str) -> String {
    let config_map = config_maps(world).get(name).await.unwrap();
    config_map.data.unwrap()["index"].clone()
}

on_both_servers!(
    first_sync_creates_everything_in_order_and_a_second_writes_nothing,
    a_git_change_updates_exactly_the_changed_object_and_a_removed_file_is_pruned,
    drift_is_reapplied_when_the_remediator_says_so,
    ignored_drift_stays_until_git_changes_the_field,
    reported_drift_is_left_alone,
    without_remediators_drift_is_reported_unless_self_heal_is_on,
    a_failing_validator_applies_nothing,
    a_failed_fetch_or_render_prunes_nothing,
    a_missing_path_and_an_empty_render_have_their_own_reasons,
    real_world_guestbook_stays_in_sync,
    real_world_podinfo_kustomization_stays_in_sync,
    real_world_crd_with_its_resources_stays_in_sync,
    real_world_argo_cd_namespace_install_stays_in_sync,
    the_mass_deletion_guard_refuses_to_prune_most_of_the_inventory,
    recreate_deletes_and_creates_the_drifted_object_again,
    a_deferred_decision_is_kept_until_its_time_comes,
    a_deferral_is_bounded_and_ends_with_its_policy,
    objects_a_transformer_adds_are_guarded,
    objects_a_transformer_adds_without_a_namespace_get_the_target_one,
    when_every_remediator_abstains_the_sync_default_decides,
    a_kept_render_is_reused_for_the_same_commit_and_inputs,
    a_baseline_inventory_is_used_only_while_it_is_the_stored_one,
);

on_real_server!(a_first_sync_lists_a_namespace_instead_of_reading_each_object);
