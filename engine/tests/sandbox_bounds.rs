//! Regression tests for what a hostile policy or manifest could make the
//! engine around the sandbox do (issue 24): compilations that take
//! gigabytes, logs of empty lines, YAML alias bombs in settings, suites and
//! fixtures, raw terminal escapes in names and errors, and invalid
//! components whose reason was hidden. Hostile
//! inputs are built here; the binary runs as a child whose peak resident
//! memory is measured.

#[path = "policy_host/fixtures.rs"]
mod fixtures;
mod peak_rss;

use std::path::Path;
use std::process::Command;

use fixtures::{assert_host_still_works, host, objects, spec};
use peak_rss::{run_measured, tail};
use plumbline::policy::{Error, EvalContext, Limit, LimitOverrides};

/// `plumbline ARGS` in `dir`, without colour, cluster or shared caches.
fn plumbline(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plumbline"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("PLUMBLINE_CACHE_DIR", dir.join("cache"));
    command
}

/// A directory with one ConfigMap manifest named `name` (YAML
/// double-quoted, so escapes like `\e` are allowed).
fn manifests(dir: &Path, name: &str) {
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"{name}\"\n"),
    )
    .unwrap();
}

/// A validator that logs `n` empty warnings (`n` = -1: until stopped).
fn empty_log_lines(n: i32) -> Vec<u8> {
    fixtures::validator(&format!(
        "(local $i i32)
         (block $done (loop $next
           (br_if $done (i32.eq (local.get $i) (i32.const {n})))
           (call $log (i32.const 3) (i32.const 0) (i32.const 0))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br $next)))
         (call $violations (i32.const 0))"
    ))
}

/// A 256 KiB string anchored once and referenced 4 000 times under
/// `bomb`, indented by `indent`: a gigabyte from a quarter of a megabyte of
/// YAML (within serde_yaml's own alias repetition limit).
fn alias_bomb(indent: &str) -> String {
    let big = "x".repeat(256 << 10);
    let refs = vec!["*big"; 4000].join(", ");
    format!("{indent}anchor: &big {big}\n{indent}bomb: [{refs}]\n")
}

#[test]
fn empty_log_lines_are_charged_and_capped() {
    let host = host();
    let limits = LimitOverrides {
        timeout: Some(std::time::Duration::from_secs(30)),
        ..Default::default()
    };
    let policy = host
        .load(spec("chatty", empty_log_lines(200_000)).limits(limits))
        .unwrap();
    let eval = policy
        .validate(&objects(1), &EvalContext::default())
        .unwrap();
    // 1000 lines (the line cap; 64 KiB at 64 bytes a line would be 1024).
    assert_eq!(eval.log.lines.len(), 1000);
    assert_eq!(eval.log.dropped_lines, 199_000);
    assert_eq!(eval.log.dropped_bytes, 0);
    assert_host_still_works(&host);
}

#[test]
fn a_policy_logging_empty_lines_until_its_deadline_stays_within_memory() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), "cm");
    std::fs::write(dir.path().join("chatty.wasm"), empty_log_lines(-1)).unwrap();
    let run = run_measured(&mut plumbline(
        dir.path(),
        &["validate", "manifests", "--policy", "chatty.wasm"],
    ));
    run.assert_rss_within_budget();
    assert_eq!(run.status.code(), Some(2), "{}", tail(&run.stderr));
    assert!(
        run.stderr
            .contains("policy `chatty` (validator) faulted: exceeded the wall-clock timeout"),
        "{}",
        tail(&run.stderr)
    );
    // At most the line cap is printed, and the rest is counted.
    let printed = run.stderr.lines().count();
    assert!(printed < 1100, "{printed} lines on stderr");
    assert!(
        run.stderr.contains("dropped_lines="),
        "{}",
        tail(&run.stderr)
    );
}

#[test]
fn a_yaml_bomb_in_policy_settings_is_refused_within_memory() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), "cm");
    std::fs::write(dir.path().join("good.wasm"), fixtures::good_validator()).unwrap();
    let config = format!(
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: shop}}\n\
         spec:\n  source: {{url: ., path: manifests}}\n  policies:\n  - module: good.wasm\n    settings:\n{}",
        alias_bomb("      ")
    );
    std::fs::write(dir.path().join("plumbline.yaml"), config).unwrap();
    let run = run_measured(&mut plumbline(dir.path(), &["validate", "."]));
    run.assert_rss_within_budget();
    assert_eq!(run.status.code(), Some(2), "{}", tail(&run.stderr));
    assert!(
        run.stderr.contains("plumbline.yaml") && run.stderr.contains("expands to more than"),
        "{}",
        tail(&run.stderr)
    );
}

#[test]
fn yaml_bombs_in_policy_suites_and_fixtures_are_refused_within_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.wasm"), fixtures::good_validator()).unwrap();
    let case =
        "cases:\n- name: one\n  validate: {files: [bomb.yaml]}\n  expect: {violations: []}\n";
    std::fs::write(
        dir.path().join("suite.yaml"),
        format!("policy: good.wasm\nsettings:\n{}{case}", alias_bomb("  ")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fixture.yaml"),
        format!("policy: good.wasm\n{case}"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bomb.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\ndata:\n{}",
            alias_bomb("  ")
        ),
    )
    .unwrap();
    for (suite, names) in [
        ("suite.yaml", "suite.yaml: invalid suite"),
        ("fixture.yaml", "fixture bomb.yaml is not valid YAML"),
    ] {
        let run = run_measured(&mut plumbline(dir.path(), &["policy", "test", suite]));
        run.assert_rss_within_budget();
        assert_eq!(run.status.code(), Some(2), "{}", tail(&run.stderr));
        assert!(
            run.stderr.contains(names) && run.stderr.contains("expands to more than"),
            "{}",
            tail(&run.stderr)
        );
    }
}

#[test]
fn object_names_in_plan_output_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    // ESC [2K (erase the line), CR, and U+061C (a bidirectional control).
    manifests(dir.path(), "evil\\e[2K\\r\\u061Cname");
    let run = run_measured(&mut plumbline(dir.path(), &["plan", "manifests"]));
    let stdout = &run.stdout;
    assert_eq!(run.status.code(), Some(1), "{stdout}\n{}", run.stderr);
    assert!(stdout.contains("evil\\u{1b}[2K\\r\\u{61c}name"), "{stdout}");
    for raw in ['\u{1b}', '\r', '\u{61c}'] {
        assert!(!stdout.contains(raw), "{raw:?} in {stdout:?}");
    }
}

/// A component whose import name carries terminal codes: not a valid
/// component, and its name must not reach the terminal raw.
fn escaping_import_name() -> Vec<u8> {
    wat::parse_str(r#"(component (import "evil\u{1b}[2K\u{61c}name" (func)))"#).unwrap()
}

#[test]
fn invalid_components_say_why_with_their_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), "cm");
    std::fs::write(dir.path().join("bad.wasm"), escaping_import_name()).unwrap();
    std::fs::write(
        dir.path().join("suite.yaml"),
        "policy: bad.wasm\ncases:\n- name: one\n  validate: {objects: []}\n  expect: {violations: []}\n",
    )
    .unwrap();
    for args in [
        &["validate", "manifests", "--policy", "bad.wasm"][..],
        &["policy", "inspect", "bad.wasm"],
        &["policy", "test", "suite.yaml"],
    ] {
        let run = run_measured(&mut plumbline(dir.path(), args));
        let stderr = &run.stderr;
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        for raw in ['\u{1b}', '\u{61c}'] {
            assert!(!stderr.contains(raw), "{args:?}: {raw:?} in {stderr:?}");
            assert!(!run.stdout.contains(raw), "{args:?}: {raw:?} in stdout");
        }
        // The reason is shown, with the name escaped.
        assert!(
            stderr.contains("evil\\u{1b}[2K\\u{61c}name"),
            "{args:?}: {stderr}"
        );
    }
}

/// Loading `bytes` as `hostile` with `limits` is refused with `limit`, in
/// a message naming the policy, the limit and its override key, and
/// nothing was compiled.
fn assert_refused_before_compiling(bytes: Vec<u8>, limits: LimitOverrides, limit: Limit) {
    let host = host();
    match host.load(spec("hostile", bytes).limits(limits)) {
        Err(e @ Error::OverLimit { .. }) => {
            let message = e.to_string();
            let Error::OverLimit { limit: found, .. } = e else {
                unreachable!()
            };
            assert_eq!(found, limit, "{message}");
            assert!(
                message.contains("policy `hostile` refused at load")
                    && message.contains(&limit.to_string())
                    && message.contains(limit.key()),
                "{message}"
            );
        }
        Err(other) => panic!("expected the {limit}, got {other}"),
        Ok(_) => panic!("expected the {limit}, the policy loaded"),
    }
    assert_eq!(host.cache_stats().compiled, 0);
    assert_host_still_works(&host);
}

/// A validator with an unused function of `locals` locals whose body
/// branches back to its loop `branches` times, each branch keeping a
/// different pair of locals live: cranelift's SSA construction and register
/// allocation grow with locals times blocks.
fn many_locals_and_branches(locals: usize, branches: usize) -> Vec<u8> {
    let mut body = String::new();
    for k in 0..branches {
        let (a, c) = (k % locals, (k * 7 + 1) % locals);
        body.push_str(&format!(
            "local.get {a} i32.eqz br_if 0 local.get {c} local.set {a} "
        ));
    }
    fixtures::validator_with(
        &format!(
            "(func $costly (local {}) loop {body} end)",
            "i32 ".repeat(locals)
        ),
        fixtures::GOOD_VALIDATE,
    )
}

/// Components nested `depth` deep, each instantiating the one inside it
/// `fan_out` times; the innermost instantiates a core module once.
fn nested_instantiations(depth: usize, fan_out: usize) -> Vec<u8> {
    let mut text = "(component $l0 (core module $m) (core instance (instantiate $m)))".to_owned();
    for level in 1..=depth {
        let inner = level - 1;
        let instances = format!("(instance (instantiate $l{inner}))").repeat(fan_out);
        text = format!("(component $l{level} {text} {instances})");
    }
    wat::parse_str(format!(
        "(component {text} (instance (instantiate $l{depth})))"
    ))
    .unwrap()
}

#[test]
fn components_that_would_be_costly_to_compile_are_refused_before_compiling() {
    let defaults = LimitOverrides::default();
    // Functions: 300 of them against a limit of 200.
    let functions = fixtures::validator_with(&"(func)".repeat(300), fixtures::GOOD_VALIDATE);
    let few = LimitOverrides {
        max_functions: Some(200),
        ..Default::default()
    };
    assert_refused_before_compiling(functions.clone(), few, Limit::Functions);
    // Code size: the same functions against 500 bytes of code.
    let small = LimitOverrides {
        code_bytes: Some(500),
        ..Default::default()
    };
    assert_refused_before_compiling(functions, small, Limit::CodeSize);
    // One function with 20 000 locals and 3 000 branches: 2e8 local-bytes,
    // over the default.
    assert_refused_before_compiling(
        many_locals_and_branches(20_000, 3_000),
        defaults,
        Limit::FunctionLocals,
    );
    // 150 000 element segment items, over the default of 100 000.
    let items = "$costly ".repeat(150_000);
    let elements = fixtures::validator_with(
        &format!("(func $costly) (elem func {items})"),
        fixtures::GOOD_VALIDATE,
    );
    assert_refused_before_compiling(elements, defaults, Limit::ElementItems);
    // 20 levels of nested components, over the default of 16.
    assert_refused_before_compiling(
        nested_instantiations(20, 1),
        defaults,
        Limit::ComponentNesting,
    );
    // 1.3 KB that expands to 10^6 instantiations when compiled.
    let bomb = nested_instantiations(6, 10);
    assert!(bomb.len() < 2000, "{}", bomb.len());
    assert_refused_before_compiling(bomb, defaults, Limit::Instances);
}

#[test]
fn a_compilation_past_its_memory_budget_is_killed_and_refused() {
    let host = host();
    // Within the static limits once they are raised, but compiling it
    // takes about 400 MB: the compile child is killed at 300 MiB.
    let limits = LimitOverrides {
        function_locals_bytes: Some(u64::MAX),
        compile_memory_bytes: Some(300 << 20),
        ..Default::default()
    };
    match host.load(spec("hostile", many_locals_and_branches(1_000, 20_000)).limits(limits)) {
        Err(
            e @ Error::OverLimit {
                limit: Limit::CompileMemory,
                ..
            },
        ) => {
            let message = e.to_string();
            assert!(
                message.contains(
                    "policy `hostile` refused at load: its compilation ran out of memory"
                ) && message.contains("`compileMemoryBytes`"),
                "{message}"
            );
        }
        other => panic!("expected the compile memory limit, got {other:?}"),
    }
    assert_eq!(host.cache_stats().compiled, 0);
    assert_host_still_works(&host);
}

#[test]
fn hostile_compilations_stay_within_the_host_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path(), "cm");
    std::fs::write(dir.path().join("bomb.wasm"), nested_instantiations(6, 10)).unwrap();
    std::fs::write(
        dir.path().join("costly.wasm"),
        many_locals_and_branches(1_000, 20_000),
    )
    .unwrap();
    // Refused by the static limits.
    let run = run_measured(&mut plumbline(
        dir.path(),
        &["validate", "manifests", "--policy", "bomb.wasm"],
    ));
    run.assert_rss_within_budget();
    assert_eq!(run.status.code(), Some(2), "{}", tail(&run.stderr));
    assert!(
        run.stderr.contains("policy `bomb` refused at load")
            && run.stderr.contains("`maxInstances`"),
        "{}",
        tail(&run.stderr)
    );
    // Compiled, and killed at its memory budget; the peak counts the
    // compile child too.
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {name: shop}\n\
         spec:\n  source: {url: ., path: manifests}\n  policies:\n  - module: costly.wasm\n    \
         limits: {functionLocalsBytes: 1000000000, compileMemoryBytes: 314572800}\n",
    )
    .unwrap();
    let run = run_measured(&mut plumbline(dir.path(), &["validate", "."]));
    run.assert_rss_within_budget();
    assert_eq!(run.status.code(), Some(2), "{}", tail(&run.stderr));
    assert!(
        run.stderr
            .contains("policy `costly` refused at load: its compilation ran out of memory"),
        "{}",
        tail(&run.stderr)
    );
}
