//! `health::Assessor` with a real health policy (`tests/guests/health-probe`)
//! on the policy host: the policy is asked about the kinds it declares and
//! nothing else, gets the desired object, and its faults make the object
//! failed (fail-closed) or leave it to the built-in rules (fail-open).

#[path = "policy_host/fixtures.rs"]
mod fixtures;

use std::time::Duration;

use fixtures::host;
use plumbline::health::{self, Assessor, Health};
use plumbline::policy::{ComponentSource, EvalContext, GroupKind, LimitOverrides, PolicySpec};
use serde_json::{json, Value};

fn probe(fail_open: bool, limits: LimitOverrides) -> Assessor {
    let host = host();
    let spec = PolicySpec::new(
        "health-probe",
        ComponentSource::File(policy_artifacts::TEST_HEALTH_PROBE.into()),
    )
    .fail_open(fail_open)
    .limits(limits);
    let policy = host.load(spec).expect("load the probe");
    assert!(policy.roles().health && !policy.roles().validator);
    assert_eq!(
        policy.health_kinds(),
        [
            GroupKind {
                group: "example.com".into(),
                kind: "Widget".into()
            },
            GroupKind {
                group: "probe.example.com".into(),
                kind: "*".into()
            },
        ]
    );
    Assessor::new(&host.set(vec![policy]), EvalContext::default())
}

fn object(api_version: &str, kind: &str, labels: Value, annotations: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
           "metadata": {"name": "w", "namespace": "shop", "labels": labels, "annotations": annotations},
           "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Waiting"}]}})
}

fn asking(api_version: &str, kind: &str, status: &str) -> Value {
    object(api_version, kind, json!({}), json!({"test/health": status}))
}

#[test]
fn only_the_declared_kinds_are_asked_and_the_rest_get_the_built_in_rules() {
    let assessor = probe(false, LimitOverrides::default());
    let widget = asking("example.com/v1", "Widget", "failed");
    assert_eq!(
        assessor.assess(&widget, None),
        Health::Failed("asked for failed".into())
    );
    // `*` covers every kind of its group, in any version.
    let gadget = asking("probe.example.com/v1beta2", "Gadget", "unknown");
    assert_eq!(
        assessor.assess(&gadget, None),
        Health::Unknown("asked for unknown".into())
    );
    let current = asking("probe.example.com/v1", "Gizmo", "current");
    assert_eq!(assessor.assess(&current, None), Health::Current);
    // Another kind of the same group, another group: the built-in rules.
    for other in [
        asking("example.com/v1", "Gadget", "failed"),
        asking("other.example.com/v1", "Widget", "failed"),
    ] {
        assert_eq!(assessor.assess(&other, None), health::assess(&other));
        assert_eq!(
            assessor.assess(&other, None),
            Health::InProgress("Waiting".into())
        );
    }
    // Being deleted: the policy is not asked (it would panic here).
    let mut leaving = object(
        "example.com/v1",
        "Widget",
        json!({"test/panic": "yes"}),
        json!({}),
    );
    leaving["metadata"]["deletionTimestamp"] = json!("2026-12-07T10:00:00Z");
    assert_eq!(assessor.assess(&leaving, None), Health::Terminating);
    assert_eq!(
        Assessor::builtin().assess(&widget, None),
        Health::InProgress("Waiting".into())
    );
    // In a batch, the same verdicts in the same order.
    let batch: Vec<Value> = ["failed", "current", "in-progress", "failed"]
        .iter()
        .enumerate()
        .map(|(i, status)| {
            let api = if i == 3 {
                "other.example.com/v1"
            } else {
                "example.com/v1"
            };
            asking(api, "Widget", status)
        })
        .collect();
    let pairs: Vec<(&Value, Option<&str>)> = batch.iter().map(|o| (o, None)).collect();
    let one_by_one: Vec<Health> = batch.iter().map(|o| assessor.assess(o, None)).collect();
    assert_eq!(assessor.assess_all(&pairs), one_by_one);
    assert_eq!(one_by_one[3], Health::InProgress("Waiting".into()));
}

#[test]
fn the_policy_gets_the_desired_object_when_there_is_one() {
    let assessor = probe(false, LimitOverrides::default());
    let live = object("example.com/v1", "Widget", json!({}), json!({}));
    let desired = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                         "metadata": {"name": "wanted", "namespace": "shop"}});
    assert_eq!(
        assessor.assess(&live, Some(&desired)),
        Health::InProgress("desired wanted seen".into())
    );
    assert_eq!(
        assessor.assess_json(&live, Some(&desired.to_string())),
        Health::InProgress("desired wanted seen".into())
    );
    assert_eq!(
        assessor.assess(&live, None),
        Health::Unknown("no desired object".into())
    );
}

#[test]
fn a_fail_closed_fault_fails_the_object_and_a_fail_open_one_leaves_it_to_the_built_in_rules() {
    let limits = LimitOverrides {
        timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let panicking = object(
        "example.com/v1",
        "Widget",
        json!({"test/panic": "yes"}),
        json!({}),
    );
    let looping = object(
        "example.com/v1",
        "Widget",
        json!({"test/loop": "yes"}),
        json!({}),
    );
    let closed = probe(false, limits);
    let Health::Failed(trapped) = closed.assess(&panicking, None) else {
        panic!("a trap fails the object");
    };
    assert!(
        trapped.contains("policy `health-probe` (health) faulted: trapped"),
        "{trapped}"
    );
    let Health::Failed(late) = closed.assess(&looping, None) else {
        panic!("a deadline fails the object");
    };
    assert!(late.contains("wall-clock timeout of 200ms"), "{late}");
    // The next object is judged as usual.
    let widget = asking("example.com/v1", "Widget", "in-progress");
    assert_eq!(
        closed.assess(&widget, None),
        Health::InProgress("asked for in-progress".into())
    );

    let open = probe(true, limits);
    assert_eq!(
        open.assess(&panicking, None),
        Health::InProgress("Waiting".into())
    );
    assert_eq!(
        open.assess(&looping, None),
        Health::InProgress("Waiting".into())
    );
}
