//! Regression tests for the sandbox holes hostile policies found (issue 15):
//! memories and tables beyond the memory budget, output counted in items,
//! terminal escapes, the compile budget and deterministic NaNs. Each hostile
//! component is built here from WAT; each test asserts the refusal or fault
//! and then that the same host still loads and runs a good policy.

#[path = "policy_host/fixtures.rs"]
mod fixtures;

use std::process::Command;
use std::time::Duration;

use fixtures::{assert_host_still_works, host, objects, spec};
use plumbline::policy::{
    Error, EvalContext, Fault, FaultKind, Limit, LimitOverrides, PolicyHost, Role,
};

/// The fault of validating one object with a policy that loads.
fn validate_fault(host: &PolicyHost, bytes: Vec<u8>, limits: LimitOverrides) -> Fault {
    let policy = host.load(spec("hostile", bytes).limits(limits)).unwrap();
    match policy.validate(&objects(1), &EvalContext::default()) {
        Err(Error::Fault(fault)) => fault,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn assert_exceeded(fault: &Fault, role: Role, limit: Limit, value: &str) {
    assert_eq!((fault.policy.as_str(), fault.role), ("hostile", role));
    match &fault.kind {
        FaultKind::LimitExceeded { limit: l, value: v } => {
            assert_eq!(*l, limit, "{fault}");
            assert!(v.contains(value), "{fault}");
        }
        other => panic!("expected the {limit}, got {other:?}"),
    }
    assert!(fault.to_string().contains(&limit.to_string()), "{fault}");
}

/// Loading `bytes` is refused with `limit`, in a message naming the limit
/// and its override key.
fn assert_refused(host: &PolicyHost, bytes: Vec<u8>, limits: LimitOverrides, limit: Limit) {
    match host.load(spec("hostile", bytes).limits(limits)) {
        Err(e @ Error::OverLimit { .. }) => {
            let Error::OverLimit { limit: l, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*l, limit, "{e}");
            let message = e.to_string();
            assert!(
                message.contains("hostile")
                    && message.contains(&limit.to_string())
                    && message.contains(limit.key()),
                "{message}"
            );
        }
        Err(other) => panic!("expected the {limit}, got {other}"),
        Ok(_) => panic!("expected the {limit}, the policy loaded"),
    }
}

#[test]
fn memories_share_one_budget_and_extra_memories_fault_the_memory_limit() {
    let host = host();
    // Three extra memories of 119 MiB each: every one fits the 128 MiB
    // budget alone, together they do not.
    let fault = validate_fault(
        &host,
        fixtures::many_memories(3, 1904),
        LimitOverrides::default(),
    );
    assert_exceeded(&fault, Role::Validator, Limit::Memory, "134217728 bytes");
    // A smaller budget is shared the same way.
    let limits = LimitOverrides {
        memory_bytes: Some(8 << 20),
        ..Default::default()
    };
    let fault = validate_fault(&host, fixtures::many_memories(2, 64), limits);
    assert_exceeded(&fault, Role::Validator, Limit::Memory, "8388608 bytes");
    assert_host_still_works(&host);
}

#[test]
fn more_memories_than_the_sandbox_allows_are_refused_at_load() {
    let host = host();
    // The component: 8 extra memories (9 in all).
    assert_refused(
        &host,
        fixtures::many_memories(8, 1904),
        LimitOverrides::default(),
        Limit::Memories,
    );
    // Raising the cap lets it load; the budget still stops it.
    let limits = LimitOverrides {
        max_memories: Some(9),
        ..Default::default()
    };
    let fault = validate_fault(&host, fixtures::many_memories(8, 1904), limits);
    assert_exceeded(&fault, Role::Validator, Limit::Memory, "134217728 bytes");
    assert_host_still_works(&host);
}

#[test]
fn a_huge_table_is_refused_at_load_or_faults_before_filling() {
    let host = host();
    // table.grow to 400M elements and table.fill: no epoch check happens
    // inside either instruction, so the element cap is what bounds them.
    let fault = validate_fault(
        &host,
        fixtures::table_filler(400_000_000),
        LimitOverrides::default(),
    );
    assert_exceeded(
        &fault,
        Role::Validator,
        Limit::TableElements,
        "1048576 elements",
    );
    assert_refused(
        &host,
        fixtures::huge_declared_table(400_000_000),
        LimitOverrides::default(),
        Limit::TableElements,
    );
    // Within the element cap, tables are charged to the memory budget.
    let limits = LimitOverrides {
        memory_bytes: Some(4 << 20),
        ..Default::default()
    };
    let fault = validate_fault(&host, fixtures::table_filler(1 << 20), limits);
    assert_exceeded(&fault, Role::Validator, Limit::Memory, "4194304 bytes");
    // A table that fits is filled and the evaluation passes.
    let policy = host
        .load(spec("fits", fixtures::table_filler(1000)))
        .unwrap();
    let eval = policy
        .validate(&objects(3), &EvalContext::default())
        .unwrap();
    assert_eq!(eval.value.len(), 3);
    assert_host_still_works(&host);
}

#[test]
fn hundreds_of_thousands_of_empty_violations_fault_the_output_limits() {
    let host = host();
    // 700 000 empty violations do not fit the host's copy budget of one
    // call (100 000 items plus 8 MiB of text): refused before they are
    // copied.
    let fault = validate_fault(
        &host,
        fixtures::many_violations(700_000),
        LimitOverrides::default(),
    );
    assert_exceeded(&fault, Role::Validator, Limit::Output, "100000 items");
    // 150 000 fit the copy budget (they carry no text) and are then counted.
    let fault = validate_fault(
        &host,
        fixtures::many_violations(150_000),
        LimitOverrides::default(),
    );
    assert_exceeded(
        &fault,
        Role::Validator,
        Limit::OutputItems,
        "100000 items (returned 150000 violations)",
    );
    // With the limit raised, the violations are all returned.
    let limits = LimitOverrides {
        output_items: Some(700_000),
        ..Default::default()
    };
    let policy = host
        .load(spec("many", fixtures::many_violations(700_000)).limits(limits))
        .unwrap();
    let eval = policy
        .validate(&objects(1), &EvalContext::default())
        .unwrap();
    assert_eq!(eval.value.len(), 700_000);
    assert!(eval.value[0].message.is_empty() && eval.value[0].path.is_empty());
    assert_host_still_works(&host);
}

#[test]
fn a_transformer_returning_too_many_objects_faults_the_output_item_limit() {
    let host = host();
    let limits = LimitOverrides {
        output_items: Some(1000),
        ..Default::default()
    };
    let policy = host
        .load(spec("hostile", fixtures::many_objects(1001)).limits(limits))
        .unwrap();
    match policy.transform(&objects(1), &EvalContext::default()) {
        Err(Error::Fault(fault)) => assert_exceeded(
            &fault,
            Role::Transformer,
            Limit::OutputItems,
            "returned 1001 objects",
        ),
        other => panic!("expected a fault, got {other:?}"),
    }
    let policy = host
        .load(spec("fits", fixtures::many_objects(1000)).limits(limits))
        .unwrap();
    let eval = policy
        .transform(&objects(1), &EvalContext::default())
        .unwrap();
    assert_eq!(eval.value.len(), 1000);
    assert_host_still_works(&host);
}

#[test]
fn output_bytes_are_counted_before_the_strings_are_copied() {
    let host = host();
    // One 64 MiB message against a 1 MiB output limit: refused by the copy
    // budget before the message is copied.
    let limits = LimitOverrides {
        output_bytes: Some(1 << 20),
        ..Default::default()
    };
    let fault = validate_fault(&host, fixtures::oversized_output(64), limits);
    assert_exceeded(&fault, Role::Validator, Limit::Output, "1048576 bytes");
    assert_host_still_works(&host);
}

#[test]
fn a_component_or_function_too_large_to_compile_is_refused_before_compiling() {
    let host = host();
    let bytes = fixtures::large_function(40_000);
    let limits = LimitOverrides {
        function_bytes: Some(64 << 10),
        ..Default::default()
    };
    assert_refused(&host, bytes.clone(), limits, Limit::FunctionSize);
    let limits = LimitOverrides {
        component_bytes: Some(bytes.len() as u64 - 1),
        ..Default::default()
    };
    assert_refused(&host, bytes.clone(), limits, Limit::ComponentSize);
    // Nothing was compiled for either refusal.
    assert_eq!(host.cache_stats().compiled, 0);
    // Within the default limits it loads.
    host.load(spec("large", bytes)).unwrap();
    assert_host_still_works(&host);
}

#[test]
fn a_compilation_past_its_deadline_is_refused_and_not_retried() {
    let host = host();
    // 300 KB of code cannot be compiled in a millisecond.
    let bytes = fixtures::large_function(100_000);
    let limits = LimitOverrides {
        compile_timeout: Some(Duration::from_millis(1)),
        ..Default::default()
    };
    assert_refused(&host, bytes.clone(), limits, Limit::CompileTime);
    // Loading it again with the same deadline is refused without compiling.
    assert_refused(&host, bytes.clone(), limits, Limit::CompileTime);
    assert_eq!(host.cache_stats().compiled, 0);
    // A longer deadline compiles it.
    host.load(spec("large", bytes)).unwrap();
    assert_eq!(host.cache_stats().compiled, 1);
    assert_host_still_works(&host);
}

#[test]
fn nans_are_canonical_whatever_the_cpu() {
    let host = host();
    let policy = host.load(spec("nan", fixtures::nan_bits())).unwrap();
    // 0/0 is the canonical NaN 0x7fc00000 (x86 produces 0xffc00000).
    let eval = policy.validate(&[], &EvalContext::default()).unwrap();
    assert_eq!(eval.value.len(), 1);
}

#[test]
fn terminal_escapes_in_policy_messages_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(
        manifests.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    )
    .unwrap();
    let policy = dir.path().join("escapes.wasm");
    std::fs::write(&policy, fixtures::terminal_escapes()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plumbline"))
        .arg("validate")
        .arg(&manifests)
        .arg("--policy")
        .arg(&policy)
        .env("NO_COLOR", "1")
        .env("PLUMBLINE_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[escapes] metadata.labels.team: \\u{1b}[2K\\r0 error(s)\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(stdout.contains(": 1 error(s)"), "{stdout}");
}
