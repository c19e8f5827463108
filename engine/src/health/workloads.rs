//! Health rules for workloads: rollouts, jobs and pods.
//!
//! Each function expects an object of its kind whose `observedGeneration` has
//! already been checked by [`super::assess`].

use serde_json::Value;

use super::{conditions, int_at, Health};

/// The number of replicas a workload wants; the API server defaults a
/// missing `spec.replicas` to 1.
fn desired_replicas(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Deployment: all replicas updated and available, old replicas gone, and
/// the rollout has not exceeded its progress deadline.
pub fn deployment(object: &Value) -> Health {
    if let Some(progressing) = conditions::find(object, "Progressing") {
        if progressing.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded") {
            return Health::failed(conditions::describe(progressing));
        }
    }
    let desired = desired_replicas(object);
    let updated = int_at(object, "/status/updatedReplicas");
    let total = int_at(object, "/status/replicas");
    let available = int_at(object, "/status/availableReplicas");
    if updated < desired {
        Health::in_progress(format!("{updated} of {desired} replicas updated"))
    } else if total > updated {
        Health::in_progress(format!(
            "{} old replicas pending termination",
            total - updated
        ))
    } else if available < updated {
        Health::in_progress(format!(
            "{available} of {updated} updated replicas available"
        ))
    } else {
        Health::Current
    }
}

/// StatefulSet: all replicas ready and, for rolling updates, on the update
/// revision.
pub fn stateful_set(object: &Value) -> Health {
    let desired = desired_replicas(object);
    let ready = int_at(object, "/status/readyReplicas");
    let strategy = object
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    if ready < desired {
        return Health::in_progress(format!("{ready} of {desired} replicas ready"));
    }
    if strategy == "RollingUpdate" {
        let current = object.pointer("/status/currentRevision");
        let update = object.pointer("/status/updateRevision");
        if update.is_some() && current != update {
            let updated = int_at(object, "/status/updatedReplicas");
            return Health::in_progress(format!(
                "rolling update: {updated} of {desired} replicas on the new revision"
            ));
        }
    }
    Health::Current
}

/// DaemonSet: the pod is scheduled, updated and available on every node that
/// should run it.
pub fn daemon_set(object: &Value) -> Health {
    if object.pointer("/status/desiredNumberScheduled").is_none() {
        return Health::in_progress("daemon set has no status yet");
    }
    let desired = int_at(object, "/status/desiredNumberScheduled");
    let updated = int_at(object, "/status/updatedNumberScheduled");
    let available = int_at(object, "/status/numberAvailable");
    if updated < desired {
        Health::in_progress(format!("{updated} of {desired} nodes updated"))
    } else if available < desired {
        Health::in_progress(format!("{available} of {desired} nodes available"))
    } else {
        Health::Current
    }
}

/// ReplicaSet: all replicas available.
pub fn replica_set(object: &Value) -> Health {
    let desired = desired_replicas(object);
    let available = int_at(object, "/status/availableReplicas");
    if available < desired {
        Health::in_progress(format!("{available} of {desired} replicas available"))
    } else {
        Health::Current
    }
}

/// Job: current once complete, failed once failed, in progress until then.
pub fn job(object: &Value) -> Health {
    if conditions::has_status(object, "Failed", "True") {
        let failed = conditions::find(object, "Failed").map(conditions::describe);
        return Health::failed(failed.unwrap_or_default());
    }
    if conditions::has_status(object, "Complete", "True") {
        return Health::Current;
    }
    let succeeded = int_at(object, "/status/succeeded");
    let completions = object
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    Health::in_progress(format!("{succeeded} of {completions} completions"))
}

/// Pod: running and ready, or succeeded; failed when it failed.
pub fn pod(object: &Value) -> Health {
    match object.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Health::Current,
        Some("Failed") => Health::failed("pod failed"),
        Some("Running") if conditions::has_status(object, "Ready", "True") => Health::Current,
        Some(phase) => Health::in_progress(format!("pod is {phase}")),
        None => Health::in_progress("pod has no status yet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": 3}, "status": status})
    }

    #[test]
    fn deployment_rollout_states() {
        let cases = [
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 3}),
                Health::in_progress("1 of 3 replicas updated"),
            ),
            (
                json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
                Health::in_progress("1 old replicas pending termination"),
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
                Health::in_progress("2 of 3 updated replicas available"),
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
                Health::Current,
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(
                deployment(&deploy(status.clone())),
                expected,
                "status {status}"
            );
        }
    }

    #[test]
    fn deployment_past_its_deadline_failed() {
        let d = deploy(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"web-1\" has timed out progressing."}]}));
        assert!(
            matches!(deployment(&d), Health::Failed(m) if m.starts_with("ProgressDeadlineExceeded"))
        );
    }

    #[test]
    fn deployment_defaults_to_one_replica() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
                       "spec": {}, "status": {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert_eq!(deployment(&d), Health::Current);
    }

    #[test]
    fn stateful_set_waits_for_the_update_revision() {
        let s = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2, "updatedReplicas": 1,
                       "currentRevision": "db-1", "updateRevision": "db-2"}});
        assert!(matches!(stateful_set(&s), Health::InProgress(_)));
        let mut done = s.clone();
        done["status"]["currentRevision"] = json!("db-2");
        assert_eq!(stateful_set(&done), Health::Current);
    }

    #[test]
    fn daemon_set_counts_nodes() {
        let d = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert_eq!(
            daemon_set(&d),
            Health::in_progress("2 of 3 nodes available")
        );
    }

    #[test]
    fn job_complete_failed_and_running() {
        let job_with = |conditions: Value| {
            json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate"}, "spec": {"completions": 1},
            "status": {"conditions": conditions}})
        };
        assert_eq!(
            job(&job_with(json!([{"type": "Complete", "status": "True"}]))),
            Health::Current
        );
        assert!(
            matches!(job(&job_with(json!([{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded"}]))), Health::Failed(m) if m == "BackoffLimitExceeded")
        );
        assert_eq!(
            job(&job_with(json!([]))),
            Health::in_progress("0 of 1 completions")
        );
    }

    #[test]
    fn pod_phases() {
        let pod_in = |phase: &str, ready: &str| {
            json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p"},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}})
        };
        assert_eq!(pod(&pod_in("Running", "True")), Health::Current);
        assert_eq!(
            pod(&pod_in("Running", "False")),
            Health::in_progress("pod is Running")
        );
        assert_eq!(pod(&pod_in("Succeeded", "False")), Health::Current);
        assert!(matches!(pod(&pod_in("Failed", "False")), Health::Failed(_)));
    }
}
