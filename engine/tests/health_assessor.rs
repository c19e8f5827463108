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

/// A Widget with `labels` (the probe's triggers) and no verdict asked for.
fn triggering(labels: Value) -> Value {
    object("example.com/v1", "Widget", labels, json!({}))
}

/// The message of an `Unknown` verdict.
fn unknown_message(health: Health) -> String {
    match health {
        Health::Unknown(message) => message,
        other => panic!("not unknown: {other:?}"),
    }
}

#[test]
fn a_run_reuses_its_instances_a_fault_discards_one_and_a_new_run_starts_fresh() {
    let assessor = probe(false, LimitOverrides::default());
    let counting = triggering(json!({"test/count": "yes"}));
    let calls: Vec<String> = (0..3)
        .map(|_| unknown_message(assessor.assess(&counting, None)))
        .collect();
    assert_eq!(
        calls,
        [
            "call 1 of this instance",
            "call 2 of this instance",
            "call 3 of this instance"
        ]
    );
    // A trap discards the instance it happened in: the next call gets a
    // fresh one.
    let panicking = triggering(json!({"test/panic": "yes"}));
    assert!(matches!(
        assessor.assess(&panicking, None),
        Health::Failed(_)
    ));
    assert_eq!(
        unknown_message(assessor.assess(&counting, None)),
        "call 1 of this instance"
    );
    // Clones share the run's instances; another run has its own.
    assert_eq!(
        unknown_message(assessor.clone().assess(&counting, None)),
        "call 2 of this instance"
    );
    let next_run = probe(false, LimitOverrides::default());
    assert_eq!(
        unknown_message(next_run.assess(&counting, None)),
        "call 1 of this instance"
    );
}

#[test]
fn a_fault_in_one_object_of_a_batch_leaves_the_other_verdicts_alone() {
    let limits = LimitOverrides {
        timeout: Some(Duration::from_millis(300)),
        memory_bytes: Some(32 << 20),
        output_bytes: Some(64 << 10),
        ..Default::default()
    };
    let assessor = probe(false, limits);
    let asked = |status| asking("example.com/v1", "Widget", status);
    let objects = [
        asked("current"),
        asked("failed"),
        asked("in-progress"),
        triggering(json!({"test/panic": "yes"})),
        asked("current"),
        triggering(json!({"test/grow": "yes"})),
        triggering(json!({"test/shout": "1000000"})),
        triggering(json!({"test/loop": "yes"})),
        asked("failed"),
        asked("unknown"),
    ];
    // The objects that fault, and what their message says.
    let faulted = [
        (3, "faulted: trapped"),
        (5, "faulted: exceeded the memory limit of 33554432 bytes"),
        (6, "faulted: exceeded the output size limit"),
        (7, "faulted: exceeded the wall-clock timeout of 300ms"),
    ];
    let expected = |i: usize| match i {
        0 | 4 => Health::Current,
        1 | 8 => Health::Failed("asked for failed".into()),
        2 => Health::InProgress("asked for in-progress".into()),
        9 => Health::Unknown("asked for unknown".into()),
        _ => unreachable!("object {i} faults"),
    };
    let pairs: Vec<(&Value, Option<&str>)> = objects.iter().map(|o| (o, None)).collect();
    let in_a_batch = assessor.assess_all(&pairs);
    let one_by_one: Vec<Health> = objects.iter().map(|o| assessor.assess(o, None)).collect();
    for verdicts in [&in_a_batch, &one_by_one] {
        for (i, verdict) in verdicts.iter().enumerate() {
            match faulted.iter().find(|(at, _)| *at == i) {
                Some((_, says)) => assert!(
                    matches!(verdict, Health::Failed(m) if m.contains(says)),
                    "object {i}: {verdict:?}"
                ),
                None => assert_eq!(verdict, &expected(i), "object {i}"),
            }
        }
    }
    assert_eq!(in_a_batch, one_by_one);
}

#[test]
fn fuel_is_per_call_and_memory_earlier_calls_kept_fails_no_object() {
    // Each call burns about a million instructions: twenty fit in no
    // single budget of thirty million, each fits on its own.
    let fuel = LimitOverrides {
        fuel: Some(30_000_000),
        ..Default::default()
    };
    let assessor = probe(false, fuel);
    let burning = triggering(json!({"test/burn": "1000000", "test/count": "yes"}));
    for call in 1..=20 {
        assert_eq!(
            unknown_message(assessor.assess(&burning, None)),
            format!("call {call} of this instance")
        );
    }

    // Each call keeps 6 MiB for good: two calls fit in 16 MiB, a third
    // does not, and is answered by a fresh instance instead of failing.
    let memory = LimitOverrides {
        memory_bytes: Some(16 << 20),
        ..Default::default()
    };
    let assessor = probe(false, memory);
    let holding = triggering(json!({"test/hold": "6", "test/count": "yes"}));
    let calls: Vec<String> = (0..5)
        .map(|_| unknown_message(assessor.assess(&holding, None)))
        .collect();
    assert_eq!(
        calls,
        [1, 2, 1, 2, 1].map(|n| format!("call {n} of this instance"))
    );
    // An object that does not fit on its own still fails.
    let too_big = triggering(json!({"test/hold": "20"}));
    let verdict = assessor.assess(&too_big, None);
    assert!(
        matches!(&verdict, Health::Failed(m) if m.contains("memory limit of 16777216 bytes")),
        "{verdict:?}"
    );
}
