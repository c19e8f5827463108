//! Fan-out: a `SyncUnitSet` stamps one SyncUnit per registered cluster
//! whose labels its `clusterSelector` matches, like Argo CD's
//! ApplicationSet cluster generator, and removes it when the cluster is
//! deregistered or no longer matches.
//!
//! In: the SyncUnitSets and the cluster registrations ([`super::clusters`]).
//! Out: SyncUnits named `<set>-<cluster>` in the set's namespace, labelled
//! `plumbline.dev/set` and `plumbline.dev/cluster`, owned by the set (so
//! the garbage collector deletes them with it), with `spec.cluster` set and
//! `{{cluster.name}}` / `{{cluster.labels.KEY}}` replaced in the string
//! values of their policies' settings ([`stamp`], no IO). IO: lists
//! registration Secrets, server-side applies and deletes SyncUnits.
//!
//! A set is reconciled when it changes, when a registration Secret is
//! created, changed or deleted, when one of its SyncUnits changes or is
//! deleted (it is stamped again), and every five minutes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{CustomResource, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::clusters::{REGISTRATION_LABEL, REGISTRATION_VALUE};
use super::crd::{SyncUnit, SyncUnitSpec};
use super::sync_unit::selects;

/// The label naming the SyncUnitSet a stamped SyncUnit belongs to.
pub const SET_LABEL: &str = "plumbline.dev/set";
/// The label naming the registered cluster a stamped SyncUnit syncs into.
pub const CLUSTER_LABEL: &str = "plumbline.dev/cluster";
/// The field manager of stamped SyncUnits.
pub const FIELD_MANAGER: &str = "plumbline-fleet";

/// How often a set is reconciled without a trigger.
const RESYNC: Duration = Duration::from_secs(300);

/// One SyncUnit per registered cluster matching a selector.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "SyncUnitSet",
    plural = "syncunitsets",
    shortname = "sus",
    category = "plumbline",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct SyncUnitSetSpec {
    /// The registered clusters to stamp a SyncUnit for, by the labels of
    /// their registration Secrets (`matchLabels`, `matchExpressions`); all
    /// registered clusters when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    /// The spec of each stamped SyncUnit; its `cluster` is set to the
    /// cluster's name, and `{{cluster.name}}` and `{{cluster.labels.KEY}}`
    /// in its policies' settings are replaced per cluster.
    pub template: SyncUnitSpec,
}

/// Why a set could not be reconciled; retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading registrations or writing SyncUnits failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// A registered cluster as a set sees it: its name and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The cluster's name.
    pub name: String,
    /// Its labels (the registration Secret's, but the registration label).
    pub labels: BTreeMap<String, String>,
}

/// The SyncUnit `set` stamps for `cluster`, as an apply patch.
pub fn stamp(set: &SyncUnitSet, cluster: &Member) -> Value {
    let mut spec = serde_json::to_value(&set.spec.template).unwrap_or_else(|_| json!({}));
    spec["cluster"] = json!(cluster.name);
    if let Some(policies) = spec.get_mut("policies").and_then(Value::as_array_mut) {
        for policy in policies {
            if let Some(settings) = policy.get_mut("settings") {
                substitute(settings, cluster);
            }
        }
    }
    let set_name = set.name_any();
    let owner = set.controller_owner_ref(&()).map(|owner| {
        json!({"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.name,
               "uid": owner.uid, "controller": true})
    });
    json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
        "metadata": {
            "name": stamped_name(&set_name, &cluster.name),
            "namespace": set.namespace(),
            "labels": {SET_LABEL: set_name, CLUSTER_LABEL: cluster.name},
            "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
        },
        "spec": spec,
    })
}

/// The name of the SyncUnit of set `set` for cluster `cluster`.
pub fn stamped_name(set: &str, cluster: &str) -> String {
    format!("{set}-{cluster}")
}

/// Replace `{{cluster.name}}` and `{{cluster.labels.KEY}}` in every string
/// of `value` (a missing label is empty).
fn substitute(value: &mut Value, cluster: &Member) {
    match value {
        Value::String(text) => *text = expand(text, cluster),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, cluster)),
        Value::Object(fields) => fields.values_mut().for_each(|v| substitute(v, cluster)),
        _ => {}
    }
}

fn expand(text: &str, cluster: &Member) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + length].trim();
        let replacement = match name.strip_prefix("cluster.labels.") {
            Some(key) => Some(cluster.labels.get(key).cloned().unwrap_or_default()),
            None if name == "cluster.name" => Some(cluster.name.clone()),
            None => None,
        };
        out.push_str(&rest[..start]);
        match replacement {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + length + 2]),
        }
        rest = &rest[start + length + 2..];
    }
    out.push_str(rest);
    out
}

struct Context {
    client: kube::Client,
    namespace: String,
}

/// Reconcile SyncUnitSets until `shutdown` turns true. Does nothing (and
/// says so) when the SyncUnitSet CRD is not installed.
pub async fn run(client: kube::Client, namespace: String, mut shutdown: watch::Receiver<bool>) {
    let sets: Api<SyncUnitSet> = Api::all(client.clone());
    if let Err(error) = sets.list(&ListParams::default().limit(1)).await {
        tracing::info!(%error, "SyncUnitSets are not served: no fan-out");
        return;
    }
    let registrations: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let controller = Controller::new(sets, watcher::Config::default());
    let store = controller.store();
    let context = Arc::new(Context { client, namespace });
    controller
        .owns(
            Api::<SyncUnit>::all(context.client.clone()),
            watcher::Config::default().labels(SET_LABEL),
        )
        .watches(
            registrations,
            watcher::Config::default()
                .labels(&format!("{REGISTRATION_LABEL}={REGISTRATION_VALUE}")),
            move |_: Secret| {
                store
                    .state()
                    .iter()
                    .map(|set| ObjectRef::from_obj(&**set))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "SyncUnitSet");
            }
        })
        .await;
}

fn reconcile(
    set: Arc<SyncUnitSet>,
    ctx: Arc<Context>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Action, Error>> + Send>> {
    Box::pin(async move {
        if set.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let members = members(&ctx, set.spec.cluster_selector.as_ref()).await?;
        let namespace = set.namespace().unwrap_or_default();
        let units: Api<SyncUnit> = Api::namespaced(ctx.client.clone(), &namespace);
        for member in &members {
            let unit = stamp(&set, member);
            let name = stamped_name(&set.name_any(), &member.name);
            units
                .patch(
                    &name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&unit),
                )
                .await
                .map_err(|source| Error::Kube {
                    what: format!("stamping SyncUnit {namespace}/{name}"),
                    source,
                })?;
        }
        let stamped = units
            .list(&ListParams::default().labels(&format!("{SET_LABEL}={}", set.name_any())))
            .await
            .map_err(|source| Error::Kube {
                what: format!("listing the SyncUnits of set {}", set.name_any()),
                source,
            })?;
        for unit in stamped.items {
            let cluster = unit
                .labels()
                .get(CLUSTER_LABEL)
                .cloned()
                .unwrap_or_default();
            if members.iter().any(|m| m.name == cluster) {
                continue;
            }
            tracing::info!(set = %set.name_any(), %cluster, "cluster left the set: deleting its SyncUnit");
            let name = unit.name_any();
            units
                .delete(&name, &DeleteParams::default())
                .await
                .map_err(|source| Error::Kube {
                    what: format!("deleting SyncUnit {namespace}/{name}"),
                    source,
                })?;
        }
        Ok(Action::requeue(RESYNC))
    })
}

/// The registered clusters `selector` matches.
async fn members(ctx: &Context, selector: Option<&LabelSelector>) -> Result<Vec<Member>, Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let registered = secrets
        .list(&ListParams::default().labels(&format!("{REGISTRATION_LABEL}={REGISTRATION_VALUE}")))
        .await
        .map_err(|source| Error::Kube {
            what: format!("listing cluster registrations in {}", ctx.namespace),
            source,
        })?;
    Ok(registered
        .items
        .iter()
        .map(|secret| Member {
            name: secret.name_any(),
            labels: secret
                .labels()
                .iter()
                .filter(|(key, _)| key.as_str() != REGISTRATION_LABEL)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .filter(|member| selects(selector, &member.labels))
        .collect())
}

fn error_policy(set: Arc<SyncUnitSet>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(set = %set.name_any(), %error, "SyncUnitSet failed");
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_values_replace_their_placeholders_in_settings_only() {
        let set: SyncUnitSet = serde_json::from_value(json!({
            "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnitSet",
            "metadata": {"name": "shop", "namespace": "team", "uid": "u-1"},
            "spec": {"template": {
                "source": {"url": "https://git.example.com/{{cluster.name}}.git"},
                "policies": [{"module": {"path": "p.wasm"},
                              "settings": {"region": "{{cluster.labels.region}}",
                                           "list": ["at {{ cluster.name }}", "{{cluster.labels.none}}x"],
                                           "other": "{{unknown}}"}}]}},
        }))
        .unwrap();
        let member = Member {
            name: "prod-eu".into(),
            labels: BTreeMap::from([("region".into(), "eu".into())]),
        };
        let unit = stamp(&set, &member);
        assert_eq!(unit["metadata"]["name"], "shop-prod-eu");
        assert_eq!(unit["metadata"]["labels"][SET_LABEL], "shop");
        assert_eq!(unit["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(unit["spec"]["cluster"], "prod-eu");
        let settings = &unit["spec"]["policies"][0]["settings"];
        assert_eq!(settings["region"], "eu");
        assert_eq!(settings["list"], json!(["at prod-eu", "x"]));
        assert_eq!(settings["other"], "{{unknown}}");
        // Only settings are templated.
        assert_eq!(
            unit["spec"]["source"]["url"],
            "https://git.example.com/{{cluster.name}}.git"
        );
    }
}
