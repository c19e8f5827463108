//! C policies end to end: `examples/policies/c/required-labels`,
//! `examples/policies/c/cert-manager-health` and the sandbox probe `tests/guests-c/sandbox-probe`, built from source with
//! clang + wasi-libc through `plumbline-policy-build` (as `plumbline policy
//! build` does), then run by the real `plumbline` binary against the Rust
//! policy's own suite, and by the policy host to see what the sandbox gave
//! the probe. Without the C toolchain these tests fail, naming the command
//! that installs it.

mod binary_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use binary_support::{plumbline_command, repo_root as repo};
use std::sync::OnceLock;

use plumbline::policy::{
    ComponentSource, EvalContext, HostConfig, LoadedPolicy, PolicyHost, PolicySpec, Severity,
};
use plumbline_policy_build::{BuildOptions, Built, Language};
use serde_json::{json, Value};

/// Build a C project of the repository once per test binary.
fn build(project: &str, cell: &'static OnceLock<Built>) -> &'static Built {
    cell.get_or_init(|| {
        plumbline_policy_build::build(&repo().join(project), &BuildOptions::default())
            .unwrap_or_else(|e| panic!("building {project}: {}", error_chain(&e)))
    })
}

fn required_labels() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build("examples/policies/c/required-labels", &BUILT)
}

fn cert_manager_health() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build("examples/policies/c/cert-manager-health", &BUILT)
}

fn probe() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    build("tests/guests-c/sandbox-probe", &BUILT)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Run `plumbline ARGS...` in the repository root.
fn plumbline(args: &[&str], env: &[(&str, &str)]) -> Output {
    plumbline_command(args)
        .envs(env.iter().copied())
        .output()
        .expect("run plumbline")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `plumbline policy test -o json SUITE --component COMPONENT`: asserts
/// that it succeeded and every case of the suite passed.
fn run_suite(suite: &str, component: &Path) {
    let component = component.to_string_lossy();
    let output = plumbline(
        &[
            "policy",
            "test",
            "-o",
            "json",
            suite,
            "--component",
            &component,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    let text = std::fs::read_to_string(repo().join(suite)).expect("suite");
    let cases: serde_yaml::Value = serde_yaml::from_str(&text).expect("suite YAML");
    let expected = cases["cases"].as_sequence().expect("cases").len();
    assert!(expected > 0, "{suite} has no cases");
    assert_eq!(summary["failed"], 0, "{summary:#}");
    assert_eq!(summary["passed"], expected, "{summary:#}");
}

#[test]
fn the_c_build_is_a_pure_component_described_by_the_builder() {
    let built = required_labels();
    assert_eq!(built.name, "required-labels");
    assert_eq!(built.language, Language::C);
    assert!(built.toolchain.contains("clang"), "{}", built.toolchain);
    assert!(
        built.toolchain.contains("wit-bindgen-c 0.60.0"),
        "{}",
        built.toolchain
    );
    assert!(built.component_path.is_file());
    assert_eq!(
        built.size,
        std::fs::metadata(&built.component_path)
            .expect("component")
            .len()
    );
    // No printf, no WASI: the component imports only the contract.
    assert_eq!(
        built.interfaces.imports,
        [
            "plumbline:policy/host@0.1.0",
            "plumbline:policy/types@0.1.0"
        ]
    );
    assert_eq!(
        built.interfaces.exports,
        [
            "plumbline:policy/metadata@0.1.0",
            "plumbline:policy/validator@0.1.0"
        ]
    );
}

#[test]
fn the_rust_policys_suite_passes_against_the_c_build() {
    run_suite(
        "policies/required-labels/tests/suite.yaml",
        &required_labels().component_path,
    );
}

#[test]
fn the_rust_health_policys_suite_passes_against_the_c_build() {
    let built = cert_manager_health();
    assert_eq!(built.name, "cert-manager-health");
    assert!(
        built
            .interfaces
            .exports
            .contains(&"plumbline:policy/health@0.1.0".to_owned()),
        "{:?}",
        built.interfaces.exports
    );
    run_suite(
        "policies/cert-manager-health/tests/suite.yaml",
        &built.component_path,
    );
}

#[test]
fn the_pattern_suite_passes_against_the_c_and_the_rust_build() {
    let suite = "examples/policies/c/required-labels/tests/patterns.yaml";
    run_suite(suite, &required_labels().component_path);
    run_suite(suite, Path::new(policy_artifacts::REQUIRED_LABELS));
}

#[test]
fn syntax_outside_the_c_subset_is_refused_at_the_settings_check() {
    run_suite(
        "examples/policies/c/required-labels/tests/c-subset.yaml",
        &required_labels().component_path,
    );
}

#[test]
fn policy_build_builds_the_c_project() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().to_string_lossy();
    let output = plumbline(
        &[
            "policy",
            "build",
            "-o",
            "json",
            "--target-dir",
            &target,
            "examples/policies/c/required-labels",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["language"], "C");
    assert_eq!(report["roles"], json!(["validator"]));
    let component = PathBuf::from(report["component"].as_str().expect("component path"));
    assert!(component.starts_with(dir.path()), "{}", component.display());
    // The same sources give the same component, wherever they are built.
    assert_eq!(
        std::fs::read(&component).expect("component"),
        std::fs::read(&required_labels().component_path).expect("component")
    );
}

#[test]
fn a_missing_compiler_fails_naming_the_install_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = plumbline(
        &[
            "policy",
            "build",
            "--target-dir",
            &dir.path().to_string_lossy(),
            "examples/policies/c/required-labels",
        ],
        &[("PLUMBLINE_CLANG", "/nonexistent/clang-14")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/clang-14"), "{stderr}");
    assert!(
        stderr.contains("apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"),
        "{stderr}"
    );
}

fn load_probe(host: &PolicyHost) -> LoadedPolicy {
    let source = ComponentSource::File(probe().component_path.clone());
    host.load(PolicySpec::new("c-sandbox-probe", source))
        .expect("the probe loads")
}

#[test]
fn the_sandbox_gives_a_c_policy_no_files_no_environment_and_no_sockets() {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .expect("host");
    let policy = load_probe(&host);
    assert!(policy.uses_wasi(), "the probe is built with wasi-libc");
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let eval = policy
        .validate(&[object], &EvalContext::default())
        .expect("the probe runs");
    let messages: Vec<&str> = eval.value.iter().map(|v| v.message.as_str()).collect();
    assert!(eval.value.iter().all(|v| v.severity == Severity::Info));
    let expected = [
        "file: fopen(\"/etc/passwd\") failed: ",
        "file: opendir(\"/\") failed: ",
        "env: getenv(\"HOME\") returned NULL",
        "env: environ has 0 variables",
        "socket: create-tcp-socket(ipv4) failed: access-denied",
    ];
    assert_eq!(messages.len(), expected.len(), "{messages:#?}");
    for (message, expected) in messages.iter().zip(expected) {
        assert!(message.starts_with(expected), "{message:?} vs {expected:?}");
    }
    // Every attempt is in the policy log twice: through the host's log
    // function, and as a line the probe wrote to stderr (captured by the
    // sandbox).
    for expected in expected {
        let lines: Vec<_> = eval
            .log
            .lines
            .iter()
            .filter(|line| line.message.contains(expected))
            .collect();
        assert_eq!(lines.len(), 2, "{expected:?} in {:#?}", eval.log.lines);
        assert!(
            lines.iter().any(|l| l.message.starts_with("probe: ")),
            "{lines:#?}"
        );
    }
}
