//! The controllers the test control plane lacks. It runs etcd and
//! kube-apiserver only: no kubelet, no Deployment or Job controller, no
//! load balancer. These helpers write, through the status subresource,
//! the status those controllers would write, so health can be waited for,
//! and wait for what a sync does meanwhile.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

/// How long a test waits for something before it fails (a guard against
/// hanging, not a performance assertion).
const PATIENCE: Duration = Duration::from_secs(90);

/// Poll until `check` says yes; fail the test, naming `what`, when it never
/// does.
pub async fn wait_until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < PATIENCE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the object `name` exists.
pub async fn exists<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.unwrap().is_some()
}

/// Play the Deployment controller: every replica of the current generation
/// is up and available.
pub async fn roll_out(deployments: &Api<Deployment>, name: &str) {
    let deployment = deployments.get(name).await.unwrap();
    deployments
        .patch_status(name, &PatchParams::default(), &rolled_out(&deployment))
        .await
        .unwrap();
}

/// Play the Job controller: the Job ran to completion.
pub async fn complete(jobs: &Api<Job>, name: &str) {
    jobs.patch_status(name, &PatchParams::default(), &completed())
        .await
        .unwrap();
}

/// Play the Job controller: the Job failed, past its backoff limit.
pub async fn fail(jobs: &Api<Job>, name: &str) {
    let now = "2026-01-01T00:00:00Z";
    let status = json!({"status": {"startTime": now, "failed": 1, "conditions": [
        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit", "lastTransitionTime": now},
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit", "lastTransitionTime": now}]}});
    jobs.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// The status of `deployment` once all its replicas are up.
fn rolled_out(deployment: &Deployment) -> Patch<serde_json::Value> {
    let replicas = deployment.spec.replicas.unwrap_or(1);
    Patch::Merge(
        json!({"status": {"observedGeneration": deployment.metadata.generation,
        "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
        "availableReplicas": replicas}}),
    )
}

/// The status of a Job that ran to completion.
fn completed() -> Patch<serde_json::Value> {
    let now = "2026-01-01T00:00:00Z";
    Patch::Merge(
        json!({"status": {"startTime": now, "completionTime": now, "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}]}}),
    )
}

/// Every workload of a namespace made healthy as soon as it appears or
/// changes, until dropped: Deployments, StatefulSets and DaemonSets roll
/// out, Jobs complete, `LoadBalancer` Services get an address.
pub struct Controllers {
    task: tokio::task::JoinHandle<()>,
}

impl Controllers {
    /// Start playing the controllers in `namespace`.
    pub fn play(client: kube::Client, namespace: &str) -> Self {
        let namespace = namespace.to_owned();
        let task = tokio::spawn(async move {
            loop {
                settle(&client, &namespace).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Controllers { task }
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One pass of every controller over `namespace`. Errors (an object
/// deleted meanwhile, a namespace not created yet) wait for the next pass.
async fn settle(client: &kube::Client, namespace: &str) {
    let all = ListParams::default();
    let status = Patch::Merge;
    let params = PatchParams::default();

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    for deployment in deployments
        .list(&all)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let seen = deployment
            .status
            .as_ref()
            .and_then(|s| s.observed_generation);
        if seen != deployment.metadata.generation {
            let name = deployment.metadata.name.as_deref().unwrap_or_default();
            let _ = deployments
                .patch_status(name, &params, &rolled_out(&deployment))
                .await;
        }
    }

    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    for set in sets.list(&all).await.map(|l| l.items).unwrap_or_default() {
        let seen = set.status.as_ref().and_then(|s| s.observed_generation);
        if seen != set.metadata.generation {
            let replicas = set.spec.replicas.unwrap_or(1);
            let patch = status(
                json!({"status": {"observedGeneration": set.metadata.generation,
                "replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas,
                "availableReplicas": replicas, "currentRevision": "r1", "updateRevision": "r1"}}),
            );
            let name = set.metadata.name.unwrap_or_default();
            let _ = sets.patch_status(&name, &params, &patch).await;
        }
    }

    let daemons: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    for daemon in daemons
        .list(&all)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let seen = daemon.status.as_ref().and_then(|s| s.observed_generation);
        if seen != daemon.metadata.generation {
            let patch = status(
                json!({"status": {"observedGeneration": daemon.metadata.generation,
                "desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1,
                "updatedNumberScheduled": 1, "numberAvailable": 1, "numberMisscheduled": 0}}),
            );
            let name = daemon.metadata.name.unwrap_or_default();
            let _ = daemons.patch_status(&name, &params, &patch).await;
        }
    }

    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    for job in jobs.list(&all).await.map(|l| l.items).unwrap_or_default() {
        let done = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Complete" || c.type_ == "Failed")
            });
        if !done {
            let name = job.metadata.name.unwrap_or_default();
            let _ = jobs.patch_status(&name, &params, &completed()).await;
        }
    }

    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    for service in services
        .list(&all)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let balanced =
            service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
        let addressed = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_some_and(|i| !i.is_empty());
        if balanced && !addressed {
            let patch =
                status(json!({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}));
            let name = service.metadata.name.unwrap_or_default();
            let _ = services.patch_status(&name, &params, &patch).await;
        }
    }
}
