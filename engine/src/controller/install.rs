//! The manifests that install the controller in a cluster, generated from
//! the code so they cannot drift from it: the CustomResourceDefinitions come
//! from the [`super::crd`] types, the flags from the controller's options.
//!
//! In: [`Options`]. Out: the objects, in apply order ([`manifests`]), or
//! one multi-document YAML text ([`to_yaml`]) — what `plumbline install
//! --print` prints and `examples/deploy/plumbline.yaml` holds. Only
//! [`apply`] does IO (server-side apply through a [`Cluster`]).
//!
//! What is installed (namespace `plumbline-system` by default):
//!
//! | object | why |
//! |---|---|
//! | CRDs `syncunits.plumbline.dev`, `clustersyncpolicies.plumbline.dev`, `syncunitsets.plumbline.dev` | the API |
//! | Namespace | the controller, its Leases and the inventory ConfigMaps |
//! | ServiceAccount `plumbline-controller` | the controller's identity |
//! | ClusterRole + Binding `plumbline-controller` | read SyncUnits and ClusterSyncPolicies, write their status and the SyncUnits' prune finalizer, record Events, read credential Secrets, impersonate syncs' service accounts, read (list/watch) objects of every kind, Secrets included, for plan and drift |
//! | Role + Binding `plumbline-controller` (own namespace) | inventory ConfigMaps, leader-election Leases |
//! | ClusterRole + Binding `plumbline-apply` | write rights for syncs that name no `serviceAccountName`; delete this binding to make every sync impersonate a service account |
//! | ClusterRole `plumbline-inventory` | for a RoleBinding in the controller's namespace to each service account syncs impersonate (their inventory is written with their identity) |
//! | Deployment(s) `plumbline-controller[-N]` | one per shard, with probes on `/healthz` and `/readyz` and the metrics port |
//! | Service(s) `plumbline-controller[-N]` | one per shard: `/metrics` for Prometheus and `POST /hooks/git` for forges (it reaches the shard's leader, the only ready pod) |

use kube::CustomResourceExt;
use serde_json::{json, Value};

use super::crd::{ClusterSyncPolicy, SyncUnit};
use crate::apply::Cluster;
use crate::object::ObjectKey;

/// The controller's name: ServiceAccount, roles, Deployment, Service,
/// Lease prefix.
pub const NAME: &str = "plumbline-controller";

/// The port of `/metrics`, the probes and the webhook.
pub const HTTP_PORT: u16 = 8080;

/// Where the controller keeps its Git cache and compiled policies.
pub const CACHE_DIR: &str = "/var/cache/plumbline";

/// The Secret (in the controller's namespace) whose key `secret` holds the
/// webhook's HMAC secret, mounted when [`Options::webhook`] is set.
pub const WEBHOOK_SECRET: &str = "plumbline-webhook";

/// Where the webhook Secret is mounted.
const WEBHOOK_DIR: &str = "/etc/plumbline/webhook";

/// The field manager of `plumbline install`.
pub const FIELD_MANAGER: &str = "plumbline-install";

/// Errors of [`apply`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused an object; the objects before it are
    /// installed.
    #[error("installing {object}: {source}")]
    Apply {
        /// The object, as `Kind namespace/name`.
        object: String,
        /// Why.
        #[source]
        source: crate::apply::Error,
    },
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The controller's namespace.
    pub namespace: String,
    /// The controller image.
    pub image: String,
    /// Hash shards: one Deployment per shard when above 1.
    pub shards: u32,
    /// Pods per Deployment; only the leader of each shard reconciles.
    pub replicas: u32,
    /// Mount the Secret [`WEBHOOK_SECRET`] and serve `POST /hooks/git`.
    pub webhook: bool,
    /// Install the wildcard write role `plumbline-apply` (every verb on
    /// every resource) bound to the controller, for SyncUnits that name no
    /// `serviceAccountName`. Without it, each SyncUnit must name a service
    /// account whose rights cover its objects.
    pub wildcard_apply: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "plumbline-system".into(),
            image: format!(
                "ghcr.io/plumbline-dev/plumbline:{}",
                env!("CARGO_PKG_VERSION")
            ),
            shards: 1,
            replicas: 1,
            webhook: false,
            wildcard_apply: true,
        }
    }
}

/// Every object to install, in apply order (definitions and the namespace
/// first, workloads last).
pub fn manifests(options: &Options) -> Vec<Value> {
    let ns = options.namespace.as_str();
    let mut objects = vec![
        to_value(SyncUnit::crd()),
        to_value(ClusterSyncPolicy::crd()),
        to_value(super::fleet::SyncUnitSet::crd()),
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels()},
        }),
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
        }),
        cluster_role(NAME, controller_rules()),
        cluster_role_binding(NAME, NAME, ns),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
            "rules": [
                rule("", &["configmaps"], &["get", "list", "watch", "create", "update", "patch", "delete"]),
                rule("coordination.k8s.io", &["leases"], &["get", "create", "update"]),
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}],
        }),
        cluster_role(
            "plumbline-inventory",
            vec![rule(
                "",
                &["configmaps"],
                &["get", "list", "create", "update", "patch", "delete"],
            )],
        ),
    ];
    if options.wildcard_apply {
        objects.push(cluster_role(
            "plumbline-apply",
            vec![rule("*", &["*"], &["*"])],
        ));
        objects.push(cluster_role_binding(
            "plumbline-apply",
            "plumbline-apply",
            ns,
        ));
    }
    let count = options.shards.max(1);
    for index in 0..count {
        objects.push(deployment(options, index, count));
    }
    // A Service per shard: a forge's webhook must reach the shard that
    // owns the pushed repository's sync units, so each shard gets its own
    // address (one webhook per shard).
    for index in 0..count {
        let (name, shard) = shard_names(index, count);
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels()},
            "spec": {
                "selector": {"app.kubernetes.io/name": NAME, "plumbline.dev/shard": shard_label(&shard)},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        }));
    }
    objects
}

/// The objects as multi-document YAML, with a header saying how it was
/// made.
pub fn to_yaml(objects: &[Value]) -> String {
    let mut text = String::from(
        "# Plumbline controller: generated by `plumbline install --print`; do not edit.\n",
    );
    for object in objects {
        text.push_str("---\n");
        // A `Value` always serialises.
        text.push_str(&serde_yaml::to_string(object).unwrap_or_default());
    }
    text
}

/// Server-side apply `objects` in order, each once the one before it is
/// stored, and wait for the CRDs to be established. Returns a line per
/// object (`Kind namespace/name`).
pub async fn apply(cluster: &Cluster, objects: &[Value]) -> Result<Vec<String>> {
    let mut installed = Vec::new();
    for object in objects {
        let key = ObjectKey::of(object);
        let name = key
            .as_ref()
            .map_or_else(|| "an unnamed object".to_owned(), ToString::to_string);
        let fail = |source| Error::Apply {
            object: name.clone(),
            source,
        };
        cluster.apply_one(object).await.map_err(fail)?;
        if let Some(key) = key.filter(|k| k.kind == "CustomResourceDefinition") {
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            cluster.wait_ready(&key, api_version).await.map_err(fail)?;
        }
        installed.push(name);
    }
    Ok(installed)
}

fn to_value(crd: impl serde::Serialize) -> Value {
    // CRDs from k8s-openapi types always serialise.
    serde_json::to_value(crd).unwrap_or(Value::Null)
}

fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "plumbline"})
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
}

fn controller_rules() -> Vec<Value> {
    vec![
        rule(
            "plumbline.dev",
            &["syncunits", "clustersyncpolicies"],
            &["get", "list", "watch"],
        ),
        rule(
            "plumbline.dev",
            &["syncunits/status"],
            &["get", "patch", "update"],
        ),
        // The `plumbline.dev/prune` finalizer on SyncUnits; SyncUnitSets
        // stamp SyncUnits and delete them when their cluster leaves.
        rule(
            "plumbline.dev",
            &["syncunits"],
            &["patch", "create", "delete"],
        ),
        rule(
            "plumbline.dev",
            &["syncunitsets"],
            &["get", "list", "watch"],
        ),
        rule("", &["events"], &["create", "patch"]),
        rule("events.k8s.io", &["events"], &["create", "patch"]),
        // Credentials Secrets, and the ConfigMaps and Secrets of a chart's
        // valuesFrom, named by SyncUnits and read by name. The
        // read-everything rule below covers them too; this one keeps them
        // readable when an operator narrows that rule to the synced kinds.
        rule("", &["secrets", "configmaps"], &["get"]),
        // serviceAccountName of a SyncUnit.
        rule("", &["serviceaccounts"], &["impersonate"]),
        // Plan and drift detection read the live state of managed objects
        // of any kind, and watch them. This includes listing and watching
        // every Secret: RBAC cannot subtract a resource from a wildcard.
        rule("*", &["*"], &["get", "list", "watch"]),
    ]
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels()},
        "rules": rules,
    })
}

fn cluster_role_binding(name: &str, role: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    })
}

/// The Deployment, Lease and Service name of shard `index` of `count`,
/// and its `--shard` value.
fn shard_names(index: u32, count: u32) -> (String, String) {
    if count == 1 {
        (NAME.to_owned(), "all".to_owned())
    } else {
        (format!("{NAME}-{index}"), format!("hash:{index}/{count}"))
    }
}

/// `--shard` as a label value (`hash:0/3` → `hash-0-3`).
fn shard_label(shard: &str) -> String {
    shard.replace([':', '/'], "-")
}

fn deployment(options: &Options, index: u32, count: u32) -> Value {
    let (name, shard) = shard_names(index, count);
    let mut pod_labels = labels();
    pod_labels["plumbline.dev/shard"] = json!(shard_label(&shard));
    let mut args = vec![
        "controller".to_owned(),
        format!("--shard={shard}"),
        "--leader-elect".to_owned(),
        format!("--lease-name={name}"),
        format!("--listen=0.0.0.0:{HTTP_PORT}"),
        format!("--cache-dir={CACHE_DIR}"),
        "--log-json".to_owned(),
    ];
    let mut mounts = vec![
        json!({"name": "cache", "mountPath": CACHE_DIR}),
        json!({"name": "tmp", "mountPath": "/tmp"}),
    ];
    let mut volumes = vec![
        json!({"name": "cache", "emptyDir": {}}),
        json!({"name": "tmp", "emptyDir": {}}),
    ];
    if options.webhook {
        args.push(format!("--webhook-secret-file={WEBHOOK_DIR}/secret"));
        mounts.push(json!({"name": "webhook", "mountPath": WEBHOOK_DIR, "readOnly": true}));
        volumes.push(json!({"name": "webhook", "secret": {"secretName": WEBHOOK_SECRET}}));
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": options.namespace, "labels": labels()},
        "spec": {
            "replicas": options.replicas,
            // Only the leader is ready (so the Service sends webhooks to
            // it); a rolling update would wait forever for a new pod to
            // become ready while the old one leads.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": "controller",
                        "image": options.image,
                        "args": args,
                        "env": [
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        ],
                        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"memory": "1Gi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn definitions_come_first_and_workloads_last() {
        let objects = manifests(&Options::default());
        let kinds = kinds(&objects);
        assert_eq!(
            &kinds[..4],
            [
                "CustomResourceDefinition",
                "CustomResourceDefinition",
                "CustomResourceDefinition",
                "Namespace"
            ]
        );
        assert_eq!(&kinds[kinds.len() - 2..], ["Deployment", "Service"]);
        let three = manifests(&Options {
            shards: 3,
            ..Options::default()
        });
        let services: Vec<&Value> = three.iter().filter(|o| o["kind"] == "Service").collect();
        assert_eq!(services.len(), 3);
        assert_eq!(
            services[2]["spec"]["selector"]["plumbline.dev/shard"],
            "hash-2-3"
        );
    }

    #[test]
    fn shards_get_one_deployment_and_lease_each() {
        let objects = manifests(&Options {
            shards: 3,
            ..Options::default()
        });
        let args: Vec<Vec<String>> = objects
            .iter()
            .filter(|o| o["kind"] == "Deployment")
            .map(|d| {
                serde_json::from_value(
                    d["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
                )
                .unwrap()
            })
            .collect();
        assert_eq!(args.len(), 3);
        for (index, args) in args.iter().enumerate() {
            assert!(
                args.contains(&format!("--shard=hash:{index}/3")),
                "{args:?}"
            );
            assert!(
                args.contains(&format!("--lease-name={NAME}-{index}")),
                "{args:?}"
            );
        }
    }

    #[test]
    fn without_the_wildcard_apply_role_nothing_grants_every_verb() {
        let every_verb = |objects: &[Value]| {
            objects.iter().any(|o| {
                o["kind"] == "ClusterRole"
                    && o["rules"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["verbs"] == serde_json::json!(["*"]))
            })
        };
        assert!(every_verb(&manifests(&Options::default())));
        let narrow = manifests(&Options {
            wildcard_apply: false,
            ..Options::default()
        });
        assert!(!every_verb(&narrow));
        assert!(!narrow
            .iter()
            .any(|o| o["metadata"]["name"] == "plumbline-apply"));
    }

    #[test]
    fn the_controller_role_cannot_write_managed_objects() {
        let objects = manifests(&Options::default());
        let role = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == NAME)
            .unwrap();
        for rule in role["rules"].as_array().unwrap() {
            let verbs: Vec<&str> = rule["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if rule["resources"][0] == "*" {
                assert_eq!(verbs, ["get", "list", "watch"]);
            }
            assert!(!verbs.contains(&"*"), "{rule}");
        }
    }
}
