//! The policy host against `test-all-roles`, a Rust policy built from source
//! with the SDK (`tests/guests/all-roles`, via `policy-artifacts`): every
//! role through the real guest toolchain, its settings check, and its
//! misbehaviours (panic, endless loop, runaway allocation), each followed by
//! a well-behaved call on the same host.

use std::time::Duration;

use plumbline::object::ObjectRef;
use plumbline::policy::{
    ComponentSource, Drift, Error, EvalContext, FaultKind, FieldChange, HostConfig, Limit,
    LimitOverrides, LoadedPolicy, PolicyHost, PolicySpec, Remediation, Role, Severity, Trap,
};
use serde_json::{json, Value};

fn load(host: &PolicyHost, settings: Value, limits: LimitOverrides) -> Result<LoadedPolicy, Error> {
    let source = ComponentSource::File(policy_artifacts::TEST_ALL_ROLES.into());
    host.load(
        PolicySpec::new("all-roles", source)
            .settings(settings)
            .limits(limits),
    )
}

fn deployment(labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": labels},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:1.0"}]}}}
    })
}

fn ctx() -> EvalContext {
    EvalContext {
        target: "prod".into(),
        ..Default::default()
    }
}

fn assert_well_behaved(policy: &LoadedPolicy) {
    let eval = policy.validate(&[deployment(json!({}))], &ctx()).unwrap();
    assert!(eval.value.is_empty(), "{:?}", eval.value);
}

#[test]
fn rust_guest_validates_transforms_and_remediates() {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .unwrap();
    let policy = load(&host, json!({}), LimitOverrides::default()).unwrap();
    let roles = policy.roles();
    assert!(roles.validator && roles.transformer && roles.remediator);
    assert_eq!(policy.info().name, "test-all-roles");

    let eval = policy
        .validate(&[deployment(json!({"test/deny": "yes"}))], &ctx())
        .unwrap();
    assert_eq!(eval.value.len(), 1);
    let v = &eval.value[0];
    assert_eq!(v.policy, "all-roles");
    assert_eq!(v.severity, Severity::Error);
    assert_eq!(v.message, "denied by label test/deny=yes");
    assert_eq!(
        v.target.as_ref().unwrap().to_string(),
        "apps/v1 Deployment shop/web"
    );
    assert!(eval
        .log
        .lines
        .iter()
        .any(|l| l.message.contains("validate called with 1 objects")));

    let out = policy.transform(&[deployment(json!({}))], &ctx()).unwrap();
    assert_eq!(
        out.value[0]["metadata"]["labels"]["plumbline.dev/transformed"],
        "true"
    );

    let object = deployment(json!({}));
    let drift = Drift {
        target: ObjectRef::of(&object).unwrap(),
        desired: object.clone(),
        live: object,
        changes: vec![FieldChange {
            path: "spec.replicas".into(),
            desired: Some(json!(3)),
            live: Some(json!(5)),
        }],
    };
    let decision = policy.remediate(&drift, &ctx()).unwrap().value.unwrap();
    assert_eq!(decision.remediation, Remediation::Ignore);

    let deferring = load(
        &host,
        json!({"remediation": "defer"}),
        LimitOverrides::default(),
    )
    .unwrap();
    let decision = deferring.remediate(&drift, &ctx()).unwrap().value.unwrap();
    assert_eq!(
        decision.remediation,
        Remediation::Defer(Duration::from_secs(60))
    );

    let abstaining = load(
        &host,
        json!({"remediation": "abstain"}),
        LimitOverrides::default(),
    )
    .unwrap();
    assert_eq!(abstaining.remediate(&drift, &ctx()).unwrap().value, None);
}

#[test]
fn rust_guest_rejects_settings_with_its_message() {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .unwrap();
    match load(&host, json!({"reject": true}), LimitOverrides::default()) {
        Err(Error::SettingsRejected { policy, message }) => {
            assert_eq!(policy, "all-roles");
            assert_eq!(message, "settings rejected: reject is true");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn rust_guest_misbehaviour_faults_and_the_host_recovers() {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .unwrap();
    let limits = LimitOverrides {
        timeout: Some(Duration::from_millis(300)),
        memory_bytes: Some(32 << 20),
        ..Default::default()
    };
    let policy = load(&host, json!({}), limits).unwrap();
    let fault = |label: &str| match policy.validate(&[deployment(json!({label: "1"}))], &ctx()) {
        Err(Error::Fault(f)) => {
            assert_eq!((f.policy.as_str(), f.role), ("all-roles", Role::Validator));
            f.kind
        }
        other => panic!("{label}: expected a fault, got {other:?}"),
    };

    assert!(matches!(
        fault("test/panic"),
        FaultKind::Trap {
            trap: Trap::UnreachableCodeReached,
            ..
        }
    ));
    assert_well_behaved(&policy);
    assert!(matches!(
        fault("test/loop"),
        FaultKind::LimitExceeded {
            limit: Limit::Timeout,
            ..
        }
    ));
    assert_well_behaved(&policy);
    // The guest's allocator aborts (a trap) when memory.grow is refused;
    // the host reports the refused growth as the memory limit.
    assert!(matches!(
        fault("test/alloc"),
        FaultKind::LimitExceeded {
            limit: Limit::Memory,
            ..
        }
    ));
    assert_well_behaved(&policy);
}
