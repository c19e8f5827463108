//! The policy host against real components: role calls, load-time checks,
//! the compile cache, parallel evaluation, and hostile policies. Every
//! hostile case is followed by a well-behaved evaluation on the same host.

#[path = "policy_host/fixtures.rs"]
mod fixtures;

use std::time::Duration;

use fixtures::{assert_host_still_works, host, objects, spec};
use plumbline::policy::{
    ComponentSource, Drift, Error, EvalContext, FaultKind, HostConfig, Limit, LimitOverrides,
    LoadedPolicy, LogLevel, PolicyHost, PolicySpec, Remediation, Role, Severity, SourceInfo, Trap,
};
use serde_json::json;

fn ctx() -> EvalContext {
    EvalContext {
        source: SourceInfo {
            url: "https://example.com/repo.git".into(),
            revision: "0".repeat(40),
            path: "apps".into(),
        },
        target: "prod".into(),
    }
}

/// Load `bytes` with `limits` on `host`, validate, and return the fault.
fn fault_of(
    host: &PolicyHost,
    name: &str,
    bytes: Vec<u8>,
    limits: LimitOverrides,
) -> plumbline::policy::Fault {
    let policy = host.load(spec(name, bytes).limits(limits)).unwrap();
    match policy.validate(&objects(1), &ctx()) {
        Err(Error::Fault(fault)) => fault,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn assert_limit(fault: &plumbline::policy::Fault, policy: &str, limit: Limit, value: &str) {
    assert_eq!(fault.policy, policy);
    assert_eq!(fault.role, Role::Validator);
    match &fault.kind {
        FaultKind::LimitExceeded { limit: l, value: v } => {
            assert_eq!(*l, limit);
            assert!(v.contains(value), "{v}");
        }
        other => panic!("expected {limit}, got {other:?}"),
    }
    let message = fault.to_string();
    assert!(
        message.contains(policy) && message.contains("validator"),
        "{message}"
    );
    assert!(
        message.contains(&limit.to_string()) && message.contains(value),
        "{message}"
    );
}

#[test]
fn validator_reports_violations_tagged_with_the_policy_and_its_log() {
    let host = host();
    let policy = host
        .load(spec("needs-team-label", fixtures::good_validator()))
        .unwrap();
    assert!(policy.roles().validator && !policy.roles().transformer && !policy.roles().remediator);
    assert_eq!(policy.info().name, "fixture");
    assert_eq!(policy.info().version, "0.1.0");
    assert!(!policy.uses_wasi());

    let eval = policy.validate(&objects(3), &ctx()).unwrap();
    assert_eq!(eval.value.len(), 3);
    let v = &eval.value[0];
    assert_eq!(v.policy, "needs-team-label");
    assert_eq!(v.message, "missing label team");
    assert_eq!(v.path, "metadata.labels.team");
    assert_eq!(v.severity, Severity::Error);
    assert_eq!(v.target, None);
    assert_eq!(eval.log.lines.len(), 1);
    assert_eq!(eval.log.lines[0].level, LogLevel::Info);
    assert_eq!(eval.log.lines[0].message, "validating");
}

#[test]
fn transformers_run_in_configured_order_and_validators_all_run() {
    let host = host();
    let set = host
        .load_set(vec![
            spec("first", fixtures::all_roles()),
            spec("second", fixtures::all_roles()),
            spec("only-validates", fixtures::good_validator()),
        ])
        .unwrap();
    let names: Vec<_> = set.policies().iter().map(LoadedPolicy::name).collect();
    assert_eq!(names, ["first", "second", "only-validates"]);

    let out = set.transform(objects(1), &ctx()).unwrap();
    // Each transformer appends one ConfigMap to what it was given.
    assert_eq!(out.value.len(), 3);
    assert_eq!(out.value[0]["metadata"]["name"], "cm-0");
    assert_eq!(out.value[1]["metadata"]["name"], "added-by-policy");
    assert_eq!(out.value[2]["metadata"]["name"], "added-by-policy");
    assert_eq!(out.logs.len(), 2);

    let checked = set.validate(&out.value, &ctx()).unwrap();
    assert_eq!(checked.value.len(), 9);
    let by: Vec<_> = checked.value.iter().map(|v| v.policy.as_str()).collect();
    assert_eq!(by[..3], ["first"; 3]);
    assert_eq!(by[6..], ["only-validates"; 3]);
    assert!(checked.warnings.is_empty());
}

#[test]
fn first_remediator_decision_wins_and_abstentions_pass_on() {
    let host = host();
    let reporter = fixtures::all_roles_with(
        "(i32.const 1100)",
        r#"(i32.store8 (i32.const 1200) (i32.const 1))
           (i32.store8 (i32.const 1204) (i32.const 2))
           (i32.store (i32.const 1208) (i32.const 128))
           (i32.store (i32.const 1212) (i32.const 18))
           (i32.const 1200)"#,
    );
    // `none`: abstains, so the next remediator decides.
    let abstainer = fixtures::all_roles_with(
        "(i32.const 1100)",
        r#"(i32.store8 (i32.const 1200) (i32.const 0))
           (i32.const 1200)"#,
    );
    let set = host
        .load_set(vec![
            spec("validator-only", fixtures::good_validator()),
            spec("abstainer", abstainer.clone()),
            spec("deferrer", fixtures::all_roles()),
            spec("reporter", reporter.clone()),
        ])
        .unwrap();
    let drift = Drift {
        target: plumbline::object::ObjectRef::of(&objects(1)[0]).unwrap(),
        desired: objects(1)[0].clone(),
        live: json!({}),
        changes: vec![],
    };
    let decision = set.remediate(&drift, &ctx()).unwrap().value.unwrap();
    assert_eq!(decision.policy, "deferrer");
    assert_eq!(
        decision.remediation,
        Remediation::Defer(Duration::from_secs(30))
    );

    let alone = host.set(vec![host.load(spec("reporter", reporter)).unwrap()]);
    let decision = alone.remediate(&drift, &ctx()).unwrap().value.unwrap();
    assert_eq!(
        decision.remediation,
        Remediation::Report("missing label team".into())
    );

    let none = host.set(vec![host
        .load(spec("v", fixtures::good_validator()))
        .unwrap()]);
    assert!(none.remediate(&drift, &ctx()).unwrap().value.is_none());

    let all_abstain = host.set(vec![host.load(spec("abstainer", abstainer)).unwrap()]);
    assert!(all_abstain
        .remediate(&drift, &ctx())
        .unwrap()
        .value
        .is_none());
}

#[test]
fn transformer_output_must_be_kubernetes_objects() {
    let host = host();
    let bad = host
        .load(spec("emits-array", fixtures::bad_output_transformer()))
        .unwrap();
    match bad.transform(&objects(1), &ctx()) {
        Err(Error::Fault(f)) => {
            assert_eq!(
                (f.policy.as_str(), f.role),
                ("emits-array", Role::Transformer)
            );
            assert!(
                matches!(&f.kind, FaultKind::BadOutput(why) if why.contains("object 0")),
                "{f}"
            );
        }
        other => panic!("expected bad output, got {other:?}"),
    }
    assert_host_still_works(&host);
}

#[test]
fn a_transformer_rejection_is_a_verdict_even_when_fail_open() {
    let host = host();
    let set = host
        .load_set(vec![
            spec("refuser", fixtures::rejecting_transformer()).fail_open(true)
        ])
        .unwrap();
    match set.transform(objects(1), &ctx()) {
        Err(Error::TransformRejected { policy, message }) => {
            assert_eq!(policy, "refuser");
            assert_eq!(message, "refusing these objects");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn settings_are_checked_at_load_with_the_policys_own_message() {
    let host = host();
    let rejected = host.load(spec("strict", fixtures::good_validator()).settings(json!({"x": 1})));
    match rejected {
        Err(Error::SettingsRejected { policy, message }) => {
            assert_eq!(policy, "strict");
            assert_eq!(message, "settings rejected: this policy takes no settings");
        }
        other => panic!("expected settings rejection, got {other:?}"),
    }
    let accepted = host
        .load(spec("strict", fixtures::good_validator()).settings(json!({})))
        .unwrap();
    assert_eq!(accepted.settings_json(), "{}");
}

#[test]
fn components_without_roles_or_not_components_are_refused() {
    let host = host();
    assert!(matches!(
        host.load(spec("nothing", fixtures::metadata_only())),
        Err(Error::NoRoles { policy }) if policy == "nothing"
    ));
    let core = wat::parse_str("(module)").unwrap();
    assert!(matches!(
        host.load(spec("core-module", core)),
        Err(Error::Compile { policy, .. }) if policy == "core-module"
    ));
    let missing = PolicySpec::new(
        "missing",
        ComponentSource::File("/nonexistent/p.wasm".into()),
    );
    assert!(matches!(host.load(missing), Err(Error::Read { .. })));
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let host = host();
    let limits = LimitOverrides {
        timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let fault = fault_of(&host, "spinner", fixtures::infinite_loop(), limits);
    assert_limit(&fault, "spinner", Limit::Timeout, "200ms");
    assert_host_still_works(&host);
}

#[test]
fn infinite_loop_exhausts_a_fuel_budget() {
    let host = host();
    let limits = LimitOverrides {
        fuel: Some(1_000_000),
        ..Default::default()
    };
    let fault = fault_of(&host, "spinner", fixtures::infinite_loop(), limits);
    assert_limit(&fault, "spinner", Limit::Fuel, "1000000 units");
    assert_host_still_works(&host);
}

#[test]
fn growing_memory_past_the_cap_traps() {
    let host = host();
    let limits = LimitOverrides {
        memory_bytes: Some(16 << 20),
        ..Default::default()
    };
    let fault = fault_of(&host, "hog", fixtures::memory_hog(), limits);
    assert_limit(&fault, "hog", Limit::Memory, "16777216 bytes");
    assert_host_still_works(&host);
}

#[test]
fn unbounded_recursion_hits_the_stack_limit_default_and_overridden() {
    let host = host();
    let fault = fault_of(
        &host,
        "deep",
        fixtures::deep_recursion(),
        LimitOverrides::default(),
    );
    assert_limit(&fault, "deep", Limit::Stack, "524288 bytes");
    assert_host_still_works(&host);

    // A per-policy stack size runs on its own engine.
    let limits = LimitOverrides {
        stack_bytes: Some(4 << 20),
        ..Default::default()
    };
    let fault = fault_of(&host, "deeper", fixtures::deep_recursion(), limits);
    assert_limit(&fault, "deeper", Limit::Stack, "4194304 bytes");
    assert_host_still_works(&host);
}

#[test]
fn oversized_output_is_refused() {
    let host = host();
    let limits = LimitOverrides {
        output_bytes: Some(1 << 20),
        ..Default::default()
    };
    let fault = fault_of(&host, "chatty", fixtures::oversized_output(2), limits);
    assert_limit(&fault, "chatty", Limit::Output, "1048576 bytes");
    assert_host_still_works(&host);
}

#[test]
fn a_trap_is_classified_with_its_code() {
    let host = host();
    let fault = fault_of(
        &host,
        "crasher",
        fixtures::trapping(),
        LimitOverrides::default(),
    );
    assert_eq!(fault.policy, "crasher");
    assert!(
        matches!(
            fault.kind,
            FaultKind::Trap {
                trap: Trap::UnreachableCodeReached,
                ..
            }
        ),
        "{:?}",
        fault.kind
    );
    assert_host_still_works(&host);
}

#[test]
fn unknown_imports_are_refused_at_load_and_named() {
    let host = host();
    match host.load(spec("phones-home", fixtures::unknown_imports())) {
        Err(Error::UnsatisfiedImports { policy, imports }) => {
            assert_eq!(policy, "phones-home");
            assert_eq!(imports, ["evil:net/socket@1.0.0", "evil:fs/files@1.0.0"]);
        }
        other => panic!("expected refused imports, got {other:?}"),
    }
    assert_host_still_works(&host);
}

#[test]
fn wasi_components_get_no_files_and_captured_stdout() {
    let host = host();
    let policy = host
        .load(spec("reads-passwd", fixtures::wasi_filesystem()))
        .unwrap();
    assert!(policy.uses_wasi());
    let eval = policy.validate(&objects(1), &ctx()).unwrap();
    // No preopened directory: nothing to open /etc/passwd (or anything) from.
    assert_eq!(eval.value[0].message, "no preopened directories");
    let lines: Vec<_> = eval
        .log
        .lines
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(lines, [(LogLevel::Info, "opening /etc/passwd")]);
    assert_host_still_works(&host);
}

#[test]
fn wasi_sleep_advances_virtual_time_without_blocking_the_host() {
    let host = host();
    // A real 5 s sleep would overrun this deadline and fault.
    let limits = LimitOverrides {
        timeout: Some(Duration::from_millis(1000)),
        ..Default::default()
    };
    let policy = host
        .load(spec("sleeper", fixtures::wasi_sleeper()).limits(limits))
        .unwrap();
    for _ in 0..2 {
        // Each evaluation starts from monotonic time 0 and sees exactly 5 s pass.
        let eval = policy.validate(&objects(1), &ctx()).unwrap();
        assert_eq!(eval.value.len(), 5);
    }
}

#[test]
fn log_output_past_the_bound_is_dropped_and_counted() {
    let host = host();
    let limits = LimitOverrides {
        log_bytes: Some(4),
        ..Default::default()
    };
    let policy = host
        .load(spec("logger", fixtures::good_validator()).limits(limits))
        .unwrap();
    let eval = policy.validate(&objects(1), &ctx()).unwrap();
    assert!(eval.log.lines.is_empty());
    assert_eq!(eval.log.dropped_bytes, "validating".len() as u64);
}

#[test]
fn fail_open_faults_are_warnings_fail_closed_faults_are_errors() {
    let host = host();
    let open = host
        .load_set(vec![
            spec("crasher", fixtures::trapping()).fail_open(true),
            spec("good", fixtures::good_validator()),
        ])
        .unwrap();
    let out = open.validate(&objects(2), &ctx()).unwrap();
    assert_eq!(out.value.len(), 2);
    assert!(out.value.iter().all(|v| v.policy == "good"));
    assert_eq!(out.warnings.len(), 1);
    assert_eq!(out.warnings[0].policy, "crasher");

    let closed = host
        .load_set(vec![
            spec("crasher", fixtures::trapping()),
            spec("good", fixtures::good_validator()),
        ])
        .unwrap();
    match closed.validate(&objects(2), &ctx()) {
        Err(Error::Fault(f)) => assert_eq!(f.policy, "crasher"),
        other => panic!("expected the fault, got {other:?}"),
    }
}

#[test]
fn compiled_components_are_cached_on_disk_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: Some(dir.path().to_owned()),
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..Default::default()
    };
    let bytes = fixtures::good_validator();

    let first = PolicyHost::new(config.clone()).unwrap();
    first.load(spec("a", bytes.clone())).unwrap();
    first.load(spec("b", bytes.clone())).unwrap();
    let stats = first.cache_stats();
    assert_eq!(
        (stats.compiled, stats.disk_hits, stats.memory_hits),
        (1, 0, 1)
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let digest = first.load(spec("c", bytes.clone())).unwrap().digest();
    assert!(files[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with(&digest));

    // A new host (a restarted engine) loads from disk without compiling.
    let second = PolicyHost::new(config.clone()).unwrap();
    let policy = second.load(spec("a", bytes.clone())).unwrap();
    assert_eq!(second.cache_stats().compiled, 0);
    assert_eq!(second.cache_stats().disk_hits, 1);
    assert_eq!(policy.validate(&objects(1), &ctx()).unwrap().value.len(), 1);

    // A corrupted file is a miss, not an error.
    let mut data = std::fs::read(&files[0]).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&files[0], data).unwrap();
    let third = PolicyHost::new(config).unwrap();
    third.load(spec("a", bytes)).unwrap();
    assert_eq!(third.cache_stats().compiled, 1);
}

#[test]
fn evaluations_run_in_parallel_on_one_policy() {
    let host = host();
    let policy = host
        .load(spec("shared", fixtures::good_validator()))
        .unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let policy = policy.clone();
                s.spawn(move || {
                    for i in 0..20 {
                        let n = (t + i) % 5;
                        let eval = policy.validate(&objects(n), &ctx()).unwrap();
                        assert_eq!(eval.value.len(), n);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let set = host.set(vec![policy.clone(), policy.clone(), policy]);
    assert_eq!(set.validate(&objects(4), &ctx()).unwrap().value.len(), 12);
}
