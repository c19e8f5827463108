//! Drift, field takeover and immutable fields on the real control plane
//! (etcd + kube-apiserver v1.36): the cases where an emulator would have to
//! guess what the API server does with managedFields, Secrets and
//! validation. Edits "made with kubectl" are sent with kubectl's field
//! manager names and request types.

mod reconcile_support;
mod server_support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use plumbline::plan::{Action, Plan, PlannedObject, UpdateReason};
use plumbline::reconcile::{Outcome, Status, SyncUnit};
use reconcile_support::{line, World};
use serde_json::json;
use server_support::Server;

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n";

/// A world whose repository holds the namespace and `files`, synced once
/// with `spec`; panics unless that first sync succeeded.
async fn synced(server: Server, files: &[(&str, &str)], spec: &str) -> (World, SyncUnit) {
    let world = World::on(server);
    world.repo.write("namespace.yaml", NAMESPACE);
    for (path, text) in files {
        world.repo.write(path, text);
    }
    world.repo.commit("shop: first version");
    let unit = world.unit(spec);
    let first = world.reconcile(&unit).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");
    (world, unit)
}

/// Patch options with one of kubectl's field manager names.
fn by(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    }
}

/// `kubectl create namespace shop`.
async fn create_namespace(world: &World) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(world.client());
    let namespace = serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap();
    let params = PostParams {
        field_manager: Some("kubectl-create".into()),
        ..PostParams::default()
    };
    namespaces.create(&params, &namespace).await.unwrap();
}

/// `kubectl patch svc web --type json -p '[{"op":"replace","path":"/spec/ports/0/port","value":8081}]'`
async fn replace_port(world: &World) {
    let services: Api<Service> = Api::namespaced(world.client(), "shop");
    let patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/ports/0/port", "value": 8081}
    ]))
    .unwrap();
    services
        .patch("web", &by("kubectl-patch"), &Patch::Json::<()>(patch))
        .await
        .unwrap();
}

async fn ports(world: &World) -> Vec<(i32, String)> {
    let services: Api<Service> = Api::namespaced(world.client(), "shop");
    let service = services.get("web").await.unwrap();
    let ports = service.spec.unwrap().ports.unwrap();
    ports
        .into_iter()
        .map(|p| (p.port, p.protocol.unwrap_or_default()))
        .collect()
}

async fn a_replaced_service_port_heals_to_exactly_the_ports_in_git(server: Server) {
    let (world, unit) = synced(server, &[("service.yaml", SERVICE)], "  selfHeal: true\n").await;

    replace_port(&world).await;
    let healed = world.reconcile(&unit).await;
    assert_eq!(healed.status, Status::Synced, "{healed:#?}");
    assert_eq!(
        line(&healed, "Service shop/web").outcome,
        Outcome::Reapplied
    );
    assert_eq!(ports(&world).await, [(80, "TCP".to_owned())]);

    let again = world.reconcile(&unit).await;
    assert_eq!(
        line(&again, "Service shop/web").outcome,
        Outcome::Unchanged,
        "{again:#?}"
    );
}

async fn with_takeover_off_the_fields_kubectl_wrote_are_left_to_kubectl(server: Server) {
    let spec = "  selfHeal: true\n  takeOver: {managers: []}\n";
    let (world, unit) = synced(server, &[("service.yaml", SERVICE)], spec).await;

    replace_port(&world).await;
    let report = world.reconcile(&unit).await;
    // The port=8081 item stays kubectl-patch's, next to the reapplied one,
    // and a Service with two unnamed ports is invalid.
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    assert_eq!(line(&report, "Service shop/web").outcome, Outcome::Failed);
    assert_eq!(ports(&world).await, [(8081, "TCP".to_owned())]);
}

async fn an_adopted_object_created_by_kubectl_loses_a_key_removed_from_git(server: Server) {
    let world = World::on(server);
    create_namespace(&world).await;
    // `kubectl create configmap settings --from-literal=mode=fast --from-literal=debug=on`
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "shop");
    let created = serde_json::from_value(json!({
        "metadata": {"name": "settings"}, "data": {"mode": "fast", "debug": "on"}
    }))
    .unwrap();
    let params = PostParams {
        field_manager: Some("kubectl-create".into()),
        ..PostParams::default()
    };
    config_maps.create(&params, &created).await.unwrap();

    let config =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";
    world
        .repo
        .write("namespace.yaml", NAMESPACE)
        .write("config.yaml", &format!("{config}  debug: \"on\"\n"))
        .commit("adopt the settings");
    let unit = world.unit("");
    let adopted = world.reconcile(&unit).await;
    assert_eq!(adopted.status, Status::Synced, "{adopted:#?}");

    world
        .repo
        .write("config.yaml", config)
        .commit("settings: no debug");
    let changed = world.reconcile(&unit).await;
    assert_eq!(changed.status, Status::Synced, "{changed:#?}");
    let data = config_maps.get("settings").await.unwrap().data.unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["mode"], "{data:?}");

    let again = world.reconcile(&unit).await;
    assert_eq!(
        line(&again, "ConfigMap shop/settings").outcome,
        Outcome::Unchanged,
        "{again:#?}"
    );
}

async fn adopting_a_deployment_whose_requests_kubectl_set_does_not_conflict(server: Server) {
    let world = World::on(server);
    create_namespace(&world).await;
    // `kubectl create deployment web --image=nginx:1.27`, then
    // `kubectl set resources deployment web --requests=cpu=1,memory=1Gi`.
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let created = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
    }))
    .unwrap();
    let params = PostParams {
        field_manager: Some("kubectl-create".into()),
        ..PostParams::default()
    };
    deployments.create(&params, &created).await.unwrap();
    let requests = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
    ]}}}});
    deployments
        .patch("web", &by("kubectl-set"), &Patch::Strategic(requests))
        .await
        .unwrap();

    let deployment = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        resources:
          requests: {cpu: 1000m, memory: 1024Mi}
";
    world
        .repo
        .write("namespace.yaml", NAMESPACE)
        .write("deployment.yaml", deployment)
        .commit("adopt the deployment");
    let unit = world.unit("");
    let adopted = world.reconcile(&unit).await;
    assert_eq!(adopted.status, Status::Synced, "{adopted:#?}");
    assert_eq!(
        line(&adopted, "Deployment.apps shop/web").outcome,
        Outcome::Adopted
    );
    let again = world.reconcile(&unit).await;
    assert_eq!(again.status, Status::Synced, "{again:#?}");
    assert_eq!(
        line(&again, "Deployment.apps shop/web").outcome,
        Outcome::Unchanged,
        "{again:#?}"
    );
}

const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cret\n";

async fn password(world: &World) -> String {
    let secrets: Api<Secret> = Api::namespaced(world.client(), "shop");
    let data = secrets.get("db").await.unwrap().data.unwrap();
    String::from_utf8(data["password"].0.clone()).unwrap()
}

async fn editing_the_data_of_a_secret_written_with_string_data_is_drift(server: Server) {
    let (world, unit) = synced(server, &[("secret.yaml", SECRET)], "").await;
    let quiet = world.reconcile(&unit).await;
    assert_eq!(
        line(&quiet, "Secret shop/db").outcome,
        Outcome::Unchanged,
        "{quiet:#?}"
    );

    // `kubectl edit secret db`, changing `data.password`.
    let secrets: Api<Secret> = Api::namespaced(world.client(), "shop");
    let edit = json!({"data": {"password": "b3ZlcnJpZGRlbg=="}});
    secrets
        .patch("db", &by("kubectl-edit"), &Patch::Merge(edit))
        .await
        .unwrap();
    let reported = world.reconcile(&unit).await;
    let drifted = line(&reported, "Secret shop/db");
    assert_eq!(drifted.outcome, Outcome::Reported, "{reported:#?}");
    assert_eq!(drifted.drifted, ["data.password"]);
    assert_eq!(password(&world).await, "overridden");

    let healed = world.reconcile(&world.unit("  selfHeal: true\n")).await;
    assert_eq!(line(&healed, "Secret shop/db").outcome, Outcome::Reapplied);
    assert_eq!(password(&world).await, "s3cret");
    let again = world.reconcile(&unit).await;
    assert_eq!(
        line(&again, "Secret shop/db").outcome,
        Outcome::Unchanged,
        "{again:#?}"
    );
}

/// Sync `before`, change it to `after` in Git, and return the failed
/// report's error naming `object`.
async fn immutable_change(server: Server, before: &str, after: &str, object: &str) -> String {
    let (world, unit) = synced(server, &[("object.yaml", before)], "").await;
    world
        .repo
        .write("object.yaml", after)
        .commit("change an immutable field");
    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    assert_eq!(line(&report, object).outcome, Outcome::Failed);
    let failure = report
        .errors
        .iter()
        .find(|e| e.to_string().starts_with(object))
        .unwrap_or_else(|| panic!("no error names {object}: {report:#?}"));
    // Refused until Git changes: the sync stalls rather than retrying.
    assert_eq!(failure.error().reason(), "ImmutableField");
    assert!(!failure.error().is_retryable());
    failure.to_string()
}

const JOB: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox:1.36
";

async fn a_git_change_to_a_job_template_fails_as_immutable(server: Server) {
    let after = JOB.replace("busybox:1.36", "busybox:1.37");
    let error = immutable_change(server, JOB, &after, "Job.batch shop/migrate").await;
    assert!(error.contains("immutable field spec.template"), "{error}");
}

async fn a_git_change_to_a_headless_service_fails_as_immutable(server: Server) {
    let headless = SERVICE.replace("spec:\n", "spec:\n  clusterIP: None\n");
    let after = headless.replace("clusterIP: None", "clusterIP: 10.0.0.99");
    let error = immutable_change(server, &headless, &after, "Service shop/web").await;
    assert!(error.contains("immutable field spec.clusterIP"), "{error}");
}

const ROLE_BINDING: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: readers
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: Group
  name: readers
  apiGroup: rbac.authorization.k8s.io
";

async fn a_git_change_to_a_role_binding_role_ref_fails_as_immutable(server: Server) {
    let after = ROLE_BINDING.replace("name: view", "name: edit");
    let object = "RoleBinding.rbac.authorization.k8s.io shop/readers";
    let error = immutable_change(server, ROLE_BINDING, &after, object).await;
    assert!(error.contains("immutable field roleRef"), "{error}");
}

/// The planned object `object` (e.g. `Service shop/web`).
fn planned<'a>(plan: &'a Plan, object: &str) -> &'a PlannedObject {
    plan.objects
        .iter()
        .find(|o| o.key.to_string() == object)
        .unwrap_or_else(|| panic!("{object} is not planned: {plan:#?}"))
}

/// The paths of a drifted object's changes, as `plan` shows them.
fn drifted_paths(action: &Action) -> Vec<String> {
    match action {
        Action::Drifted(drift) => drift.changes.iter().map(|c| c.path.to_string()).collect(),
        other => panic!("not drifted: {other:?}"),
    }
}

const WEB: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env:
        - {name: MODE, value: fast}
";

async fn env(world: &World) -> Vec<String> {
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let deployment = deployments.get("web").await.unwrap();
    let containers = deployment.spec.template.spec.unwrap().containers;
    let env = containers[0].env.clone().unwrap_or_default();
    let mut names: Vec<String> = env.into_iter().map(|e| e.name).collect();
    names.sort();
    names
}

/// Issue 23, finding 9: what a heal removes is in the plan.
async fn an_env_var_added_with_kubectl_is_planned_as_drift_and_healed_away(server: Server) {
    let (world, unit) = synced(server, &[("deployment.yaml", WEB)], "").await;
    // `kubectl set env deployment/web DEBUG=1`
    let deployments: Api<Deployment> = Api::namespaced(world.client(), "shop");
    let added = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "DEBUG", "value": "1"}]}
    ]}}}});
    deployments
        .patch("web", &by("kubectl-set"), &Patch::Strategic(added))
        .await
        .unwrap();
    assert_eq!(env(&world).await, ["DEBUG", "MODE"]);

    let item = "spec.template.spec.containers[name=web].env[name=DEBUG]";
    let plan = world.plan(&unit).await;
    let web = planned(&plan, "Deployment.apps shop/web");
    assert_eq!(drifted_paths(&web.action), [item], "{web:#?}");
    let Action::Drifted(drift) = &web.action else {
        unreachable!()
    };
    assert_eq!(
        drift.changes[0].live,
        Some(json!({"name": "DEBUG", "value": "1"}))
    );
    assert_eq!(drift.changes[0].desired, None);
    assert_eq!(drift.changes[0].taken_over_by, ["kubectl-set"]);

    let reported = world.reconcile(&unit).await;
    assert_eq!(line(&reported, "Deployment.apps shop/web").drifted, [item]);
    assert_eq!(env(&world).await, ["DEBUG", "MODE"], "only reported");

    let healing = world.unit("  selfHeal: true\n");
    let healed = world.reconcile(&healing).await;
    assert_eq!(healed.status, Status::Synced, "{healed:#?}");
    let web = line(&healed, "Deployment.apps shop/web");
    assert_eq!(web.outcome, Outcome::Reapplied);
    assert_eq!(web.drifted, [item]);
    assert_eq!(env(&world).await, ["MODE"]);

    let plan = world.plan(&healing).await;
    let web = planned(&plan, "Deployment.apps shop/web");
    assert_eq!(web.action, Action::Unchanged, "{web:#?}");
    let again = world.reconcile(&healing).await;
    let web = line(&again, "Deployment.apps shop/web");
    assert_eq!(web.outcome, Outcome::Unchanged, "{again:#?}");
}

async fn secret_keys(world: &World) -> Vec<String> {
    let secrets: Api<Secret> = Api::namespaced(world.client(), "shop");
    let data = secrets.get("db").await.unwrap().data.unwrap_or_default();
    data.into_keys().collect()
}

/// Issue 23, finding 7.
async fn a_key_removed_from_a_secrets_string_data_leaves_the_secret(server: Server) {
    let two_keys = format!("{SECRET}  user: admin\n");
    let (world, unit) = synced(server, &[("secret.yaml", &two_keys)], "").await;
    assert_eq!(secret_keys(&world).await, ["password", "user"]);

    world
        .repo
        .write("secret.yaml", SECRET)
        .commit("db: no user");
    let plan = world.plan(&unit).await;
    let db = planned(&plan, "Secret shop/db");
    assert!(
        matches!(
            db.action,
            Action::Update {
                reason: UpdateReason::GitChanged
            }
        ),
        "{db:#?}"
    );
    let updated = world.reconcile(&unit).await;
    assert_eq!(updated.status, Status::Synced, "{updated:#?}");
    assert_eq!(line(&updated, "Secret shop/db").outcome, Outcome::Updated);
    assert_eq!(secret_keys(&world).await, ["password"]);
    assert_eq!(password(&world).await, "s3cret");

    let plan = world.plan(&unit).await;
    assert_eq!(planned(&plan, "Secret shop/db").action, Action::Unchanged);
    let again = world.reconcile(&unit).await;
    assert_eq!(line(&again, "Secret shop/db").outcome, Outcome::Unchanged);
}

/// The fields Plumbline's `Apply` entry owns on Secret `db`.
async fn owned_by_plumbline(world: &World) -> serde_json::Value {
    let secrets: Api<Secret> = Api::namespaced(world.client(), "shop");
    let secret = secrets.get("db").await.unwrap();
    let entries = secret.metadata.managed_fields.unwrap_or_default();
    let ours = entries
        .into_iter()
        .find(|e| {
            e.manager.as_deref() == Some("plumbline") && e.operation.as_deref() == Some("Apply")
        })
        .expect("no Apply entry of plumbline");
    ours.fields_v1.unwrap().0
}

/// Issue 23: a Secret an earlier Plumbline applied with `stringData` as it
/// is has its ownership recorded under `stringData`; the first change
/// after the upgrade that removes a key removes it from the Secret.
async fn a_key_removed_after_an_earlier_plumbline_applied_string_data_leaves_the_secret(
    server: Server,
) {
    let two_keys = format!("{SECRET}  user: admin\n");
    let (world, unit) = synced(server, &[("secret.yaml", &two_keys)], "").await;
    // What the earlier Plumbline sent: the manifest as in Git, `stringData`
    // and all, under Plumbline's field manager.
    let earlier = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop",
                     "labels": {plumbline::apply::SYNC_LABEL: "shop"}},
        "stringData": {"password": "s3cret", "user": "admin"}});
    let secrets: Api<Secret> = Api::namespaced(world.client(), "shop");
    let params = PatchParams::apply("plumbline").force();
    secrets
        .patch("db", &params, &Patch::Apply(&earlier))
        .await
        .unwrap();
    let owned = owned_by_plumbline(&world).await;
    assert!(owned.get("f:stringData").is_some(), "{owned}");
    assert_eq!(secret_keys(&world).await, ["password", "user"]);

    world
        .repo
        .write("secret.yaml", SECRET)
        .commit("db: no user");
    let updated = world.reconcile(&unit).await;
    assert_eq!(updated.status, Status::Synced, "{updated:#?}");
    assert_eq!(line(&updated, "Secret shop/db").outcome, Outcome::Updated);
    assert_eq!(secret_keys(&world).await, ["password"]);
    assert_eq!(password(&world).await, "s3cret");
    let owned = owned_by_plumbline(&world).await;
    assert_eq!(owned.get("f:stringData"), None, "{owned}");

    let plan = world.plan(&unit).await;
    assert_eq!(planned(&plan, "Secret shop/db").action, Action::Unchanged);
}

/// Issue 23, finding 8: the API server accepts an apply without
/// `clusterIP` and keeps `None`; plan and sync both say so, by name.
async fn dropping_cluster_ip_none_from_a_headless_service_fails_by_name(server: Server) {
    let headless = SERVICE.replace("spec:\n", "spec:\n  clusterIP: None\n");
    let (world, unit) = synced(server, &[("service.yaml", &headless)], "").await;
    world
        .repo
        .write("service.yaml", SERVICE)
        .commit("web: not headless");

    for round in 0..2 {
        let plan = world.plan(&unit).await;
        let web = planned(&plan, "Service shop/web");
        let Action::Immutable { changes } = &web.action else {
            panic!("round {round}: {web:#?}");
        };
        assert_eq!(changes[0].path.to_string(), "spec.clusterIP");
        assert_eq!(changes[0].live, Some(json!("None")));
        assert!(!plan.summary().in_sync());

        let report = world.reconcile(&unit).await;
        assert_eq!(report.status, Status::Failed, "{report:#?}");
        assert_eq!(line(&report, "Service shop/web").outcome, Outcome::Failed);
        let failure = report.deciding_failure().unwrap();
        assert_eq!(failure.error().reason(), "ImmutableField");
        assert!(!failure.error().is_retryable());
        let message = failure.to_string();
        assert!(
            message.starts_with("Service shop/web: immutable field spec.clusterIP"),
            "{message}"
        );
        let services: Api<Service> = Api::namespaced(world.client(), "shop");
        let spec = services.get("web").await.unwrap().spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
    }
}

/// Issue 23, finding 10. Without kube-controller-manager, a deleted
/// Namespace stays terminating.
async fn a_terminating_namespace_is_reported_without_waiting_for_it(server: Server) {
    let config =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";
    let (world, unit) = synced(server, &[("config.yaml", config)], "").await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(world.client());
    namespaces
        .delete("shop", &kube::api::DeleteParams::default())
        .await
        .unwrap();

    let plan = world.plan(&unit).await;
    assert_eq!(planned(&plan, "Namespace shop").action, Action::Terminating);
    assert!(!plan.summary().in_sync());

    let report = world.reconcile(&unit).await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    let namespace = line(&report, "Namespace shop");
    assert_eq!(namespace.outcome, Outcome::Terminating);
    assert!(
        namespace
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("being deleted"),
        "{namespace:#?}"
    );
    assert_eq!(
        line(&report, "ConfigMap shop/settings").outcome,
        Outcome::Unchanged
    );
}

on_real_server!(
    an_env_var_added_with_kubectl_is_planned_as_drift_and_healed_away,
    a_key_removed_from_a_secrets_string_data_leaves_the_secret,
    a_key_removed_after_an_earlier_plumbline_applied_string_data_leaves_the_secret,
    dropping_cluster_ip_none_from_a_headless_service_fails_by_name,
    a_terminating_namespace_is_reported_without_waiting_for_it,
    a_replaced_service_port_heals_to_exactly_the_ports_in_git,
    with_takeover_off_the_fields_kubectl_wrote_are_left_to_kubectl,
    an_adopted_object_created_by_kubectl_loses_a_key_removed_from_git,
    adopting_a_deployment_whose_requests_kubectl_set_does_not_conflict,
    editing_the_data_of_a_secret_written_with_string_data_is_drift,
    a_git_change_to_a_job_template_fails_as_immutable,
    a_git_change_to_a_headless_service_fails_as_immutable,
    a_git_change_to_a_role_binding_role_ref_fails_as_immutable,
);
