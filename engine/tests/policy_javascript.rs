//! JavaScript policies end to end: the ports in `examples/policies/js/`
//! and the sandbox probe in `tests/guests-js/` are built from source with
//! componentize-qjs (once per test binary), then run through the real
//! `plumbline` binary against the SAME suite files as the Rust standard
//! policies, and through the policy host library to read their logs. Also
//! `policy new --lang js` → `policy build` → `policy test` for every role,
//! the build's input-hash skip, build errors that name the file, a second
//! host loading from the compile cache, and the SDK's own unit tests
//! (`node --test` in sdk/js).
//!
//! componentize-qjs comes from `scripts/setup` (`npm ci` in sdk/js); when it
//! is missing, these tests fail with that instruction.

use std::collections::BTreeMap;
mod binary_support;

use std::path::Path;
use std::process::{Command, Output};

use binary_support::{repo_root as repo, run_in_repo as plumbline};
use std::sync::OnceLock;

use plumbline::policy::{
    ComponentSource, EvalContext, HostConfig, LogLine, PolicyHost, PolicySpec, Severity,
};
use plumbline_policy_build::{BuildOptions, Built, Language};
use serde_json::json;

/// The projects built once for every test: the four ports and the probe.
const PROJECTS: [&str; 5] = [
    "examples/policies/js/required-labels",
    "examples/policies/js/common-metadata",
    "examples/policies/js/hpa-replicas",
    "examples/policies/js/cert-manager-health",
    "tests/guests-js/sandbox-probe",
];

/// Build options that keep JavaScript builds of this test binary apart
/// from the developer's, and persistent, so an unchanged project is not
/// componentized again on the next run.
fn options() -> BuildOptions {
    BuildOptions {
        target_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("js-guests")),
        out_dir: None,
        show_output: false,
    }
}

/// Every project of [`PROJECTS`], built, by policy name.
fn built() -> &'static BTreeMap<String, Built> {
    static BUILT: OnceLock<BTreeMap<String, Built>> = OnceLock::new();
    BUILT.get_or_init(|| {
        PROJECTS
            .iter()
            .map(|project| {
                let built = plumbline_policy_build::build(&repo().join(project), &options())
                    .unwrap_or_else(|e| panic!("building {project}: {e}"));
                (built.name.clone(), built)
            })
            .collect()
    })
}

/// The component of one built project.
fn component(name: &str) -> String {
    built()[name].component_path.to_string_lossy().into_owned()
}

/// Standard output, with both streams in the panic message unless the
/// exit code is `want`.
fn expect_exit(output: &Output, want: i32) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(want),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `N passed, 0 failed` at the end of a `policy test` run, with N.
fn passed(stdout: &str) -> usize {
    let last = stdout.trim_end().lines().last().unwrap_or_default();
    let (count, rest) = last
        .split_once(" passed, ")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(rest, "0 failed", "{stdout}");
    count.parse().unwrap_or_else(|_| panic!("{stdout}"))
}

#[test]
fn the_builds_are_pure_components_of_the_listed_roles() {
    for (name, role) in [
        ("required-labels", "validator"),
        ("common-metadata", "transformer"),
        ("hpa-replicas", "remediator"),
        ("cert-manager-health", "health"),
    ] {
        let built = &built()[name];
        assert_eq!(built.language, Language::JavaScript);
        assert!(
            built.toolchain.starts_with("componentize-qjs 0.4.5"),
            "{}",
            built.toolchain
        );
        assert_eq!(
            built.interfaces.imports,
            [
                "plumbline:policy/host@0.1.0",
                "plumbline:policy/types@0.1.0"
            ],
            "{name}: no WASI imports"
        );
        let exports = &built.interfaces.exports;
        assert!(exports.contains(&"plumbline:policy/metadata@0.1.0".to_owned()));
        assert!(exports.contains(&format!("plumbline:policy/{role}@0.1.0")));
        let roles = exports
            .iter()
            .filter(|e| {
                ["validator", "transformer", "remediator", "health"]
                    .iter()
                    .any(|r| e.contains(r))
            })
            .count();
        assert_eq!(roles, 1, "{name}: {exports:?}");
    }
}

#[test]
fn the_standard_suites_pass_against_the_javascript_ports() {
    for name in [
        "required-labels",
        "common-metadata",
        "hpa-replicas",
        "cert-manager-health",
    ] {
        let suite = format!("policies/{name}/tests/suite.yaml");
        let cases = case_count(&suite);
        let component = component(name);
        let output = plumbline(&["policy", "test", "-q", &suite, "--component", &component]);
        let stdout = expect_exit(&output, 0);
        assert!(stdout.contains(&format!("({component})")), "{stdout}");
        assert!(!stdout.contains("FAILED"), "{stdout}");
        assert_eq!(passed(&stdout), cases, "{name}: every case ran: {stdout}");
    }
}

/// The number of cases in a suite file of the repository.
fn case_count(suite: &str) -> usize {
    let text = std::fs::read_to_string(repo().join(suite)).expect("suite");
    let suite: serde_yaml::Value = serde_yaml::from_str(&text).expect("suite YAML");
    suite["cases"].as_sequence().map_or(0, Vec::len)
}

#[test]
fn the_ports_log_through_the_host() {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .expect("host");
    let policy = host
        .load(PolicySpec::new(
            "hpa-replicas",
            ComponentSource::File(built()["hpa-replicas"].component_path.clone()),
        ))
        .expect("loads");
    let object = |replicas: u32| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop",
                            "annotations": {"plumbline.dev/hpa-managed": "true"}},
               "spec": {"replicas": replicas}})
    };
    let drift = serde_json::from_value(json!({
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
        "desired": object(2),
        "live": object(5),
        "changes": [{"path": "spec.replicas", "desired": 2, "live": 5}],
    }))
    .expect("drift");
    let evaluation = policy
        .remediate(&drift, &EvalContext::default())
        .expect("decides");
    assert!(evaluation.value.is_some(), "ignore");
    assert_eq!(
        messages(&evaluation.log.lines),
        ["apps/v1/Deployment shop/web: replica drift left to the HorizontalPodAutoscaler"]
    );
}

fn messages(lines: &[LogLine]) -> Vec<&str> {
    lines.iter().map(|line| line.message.as_str()).collect()
}

/// The attempts the probe makes, by the prefix of its report.
const ATTEMPTS: [&str; 8] = [
    "file: require('fs')",
    "file: std.loadFile",
    "env: process.env.HOME",
    "env: std.getenv",
    "network: fetch",
    "network: new WebSocket",
    "network: new XMLHttpRequest",
    "clock: Date.now()",
];

/// Load a probe component and run it; returns its reports and its log.
fn run_probe(component: &Path) -> (Vec<String>, Vec<LogLine>, bool) {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .expect("host");
    let policy = host
        .load(PolicySpec::new(
            "probe",
            ComponentSource::File(component.to_owned()),
        ))
        .expect("the probe loads");
    let objects = [json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})];
    let evaluation = policy
        .validate(&objects, &EvalContext::default())
        .expect("the probe runs to the end");
    let reports = evaluation
        .value
        .iter()
        .map(|v| {
            assert_eq!(v.severity, Severity::Info);
            v.message.clone()
        })
        .collect();
    (reports, evaluation.log.lines, policy.uses_wasi())
}

/// The report of one attempt.
fn report<'a>(reports: &'a [String], attempt: &str) -> &'a str {
    reports
        .iter()
        .find(|r| r.starts_with(attempt))
        .unwrap_or_else(|| panic!("no report of {attempt}: {reports:#?}"))
}

#[test]
fn the_sandbox_probe_gets_no_file_environment_or_network() {
    let output = plumbline(&[
        "policy",
        "test",
        "-q",
        "tests/guests-js/sandbox-probe/tests/suite.yaml",
        "--component",
        &component("js-sandbox-probe"),
    ]);
    assert_eq!(passed(&expect_exit(&output, 0)), 1);

    let (reports, log, uses_wasi) = run_probe(&built()["js-sandbox-probe"].component_path);
    assert!(!uses_wasi);
    assert_eq!(reports.len(), ATTEMPTS.len(), "{reports:#?}");
    for attempt in ATTEMPTS {
        let outcome = report(&reports, attempt);
        assert!(outcome.contains(": denied: "), "{outcome}");
        // Each attempt is in the log twice: through the SDK's `info` and
        // through `console.log`, which the SDK points at the host log.
        let logged: Vec<&str> = messages(&log)
            .into_iter()
            .filter(|line| line.contains(outcome))
            .collect();
        assert_eq!(
            logged,
            [format!("probe {outcome}"), format!("console {outcome}")],
            "{log:#?}"
        );
    }
    assert!(report(&reports, "clock").contains("a policy has no clock"));
}

#[test]
fn with_wasi_the_probe_still_gets_nothing_but_the_fixed_clock() {
    let temp = tempfile::tempdir().expect("temp dir");
    let source = repo().join("tests/guests-js/sandbox-probe");
    for file in ["policy.js", "package.json"] {
        let text = std::fs::read_to_string(source.join(file)).expect("probe source");
        // Its own name, so it is not built over the probe the other tests
        // run (components are placed by policy name in the shared target).
        let text = text
            .replace(
                "\"roles\": [\"validator\"]",
                "\"roles\": [\"validator\"], \"wasi\": true",
            )
            .replace("\"js-sandbox-probe\"", "\"js-sandbox-probe-wasi\"");
        std::fs::write(temp.path().join(file), text).expect("copy");
    }
    let built = plumbline_policy_build::build(temp.path(), &options()).expect("builds");
    assert!(built.toolchain.contains("WASI"), "{}", built.toolchain);
    assert!(
        built
            .interfaces
            .imports
            .iter()
            .any(|i| i.starts_with("wasi:")),
        "{:?}",
        built.interfaces.imports
    );

    let (reports, log, uses_wasi) = run_probe(&built.component_path);
    assert!(uses_wasi);
    for attempt in &ATTEMPTS[..7] {
        let outcome = report(&reports, attempt);
        assert!(outcome.contains(": denied: ReferenceError"), "{outcome}");
        assert!(messages(&log).iter().any(|line| line.contains(outcome)));
    }
    // 2000-01-01T00:00:00Z, the host's fixed wall clock.
    assert_eq!(
        report(&reports, "clock"),
        "clock: Date.now(): GOT 946684800000"
    );
}

#[test]
fn new_build_and_test_work_for_each_role() {
    let temp = tempfile::tempdir().expect("temp dir");
    let target = temp.path().join("target");
    let target = target.to_string_lossy();
    for role in ["validator", "transformer", "remediator", "health"] {
        let name = format!("js-{role}");
        let dir = temp.path().join(&name);
        let dir_arg = dir.to_string_lossy().into_owned();
        let new = [
            "policy", "new", &name, "--lang", "js", "--role", role, "--dir", &dir_arg,
        ];
        expect_exit(&plumbline(&new), 0);
        for file in ["package.json", "policy.js", "README.md", "tests/suite.yaml"] {
            assert!(dir.join(file).is_file(), "{file}");
        }

        // Not quiet: componentize-qjs's progress must not reach stdout.
        let output = plumbline(&[
            "policy",
            "build",
            "-o",
            "json",
            "--target-dir",
            &target,
            &dir_arg,
        ]);
        let report: serde_json::Value =
            serde_json::from_str(&expect_exit(&output, 0)).expect("JSON report");
        assert_eq!(report["name"], name.as_str());
        assert_eq!(report["language"], "JavaScript");
        assert_eq!(report["roles"], json!([role]), "{report:#}");
        assert_eq!(report["componentized"], true);

        let output = plumbline(&["policy", "test", "-q", "--target-dir", &target, &dir_arg]);
        let stdout = expect_exit(&output, 0);
        assert!(passed(&stdout) >= 2, "{stdout}");
    }
}

#[test]
fn an_unchanged_project_is_not_componentized_again() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("skip");
    let dir_arg = dir.to_string_lossy().into_owned();
    let new = [
        "policy",
        "new",
        "skip",
        "--lang",
        "js",
        "--role",
        "transformer",
        "--dir",
        &dir_arg,
    ];
    expect_exit(&plumbline(&new), 0);
    let options = BuildOptions {
        target_dir: Some(temp.path().join("target")),
        ..options()
    };
    let first = plumbline_policy_build::build(&dir, &options).expect("first build");
    let second = plumbline_policy_build::build(&dir, &options).expect("second build");
    assert!(first.componentized);
    assert!(!second.componentized);
    assert_eq!(first.sha256, second.sha256);

    std::fs::write(dir.join("README.md"), "not a source").expect("readme");
    assert!(
        !plumbline_policy_build::build(&dir, &options)
            .expect("build")
            .componentized
    );
    std::fs::write(dir.join("util.js"), "export const x = 1;\n").expect("module");
    assert!(
        plumbline_policy_build::build(&dir, &options)
            .expect("build")
            .componentized
    );
}

#[test]
fn build_errors_name_the_file_and_the_problem() {
    let temp = tempfile::tempdir().expect("temp dir");
    let target = temp.path().join("target");
    let options = BuildOptions {
        target_dir: Some(target),
        ..options()
    };
    let cases = [
        (
            "syntax",
            "export const metadata = ;\n",
            r#"{"name": "syntax", "plumbline": {"roles": ["validator"]}}"#,
            "/index.js:1:",
        ),
        (
            "missing",
            "import { defineMetadata } from \"plumbline-policy\";\n\
             export const metadata = defineMetadata({name: \"m\", version: \"1\", description: \"d\"});\n",
            r#"{"name": "missing", "plumbline": {"roles": ["validator"]}}"#,
            "./index.js does not export `validator`, but package.json lists it",
        ),
        (
            "unknown-module",
            "import fs from \"fs\";\nexport const metadata = fs;\n",
            r#"{"name": "unknown-module", "plumbline": {"roles": ["validator"]}}"#,
            "fs",
        ),
    ];
    for (name, source, package_json, expected) in cases {
        let dir = temp.path().join(name);
        std::fs::create_dir_all(&dir).expect("project dir");
        std::fs::write(dir.join("index.js"), source).expect("source");
        std::fs::write(dir.join("package.json"), package_json).expect("package.json");
        let err = plumbline_policy_build::build(&dir, &options)
            .expect_err(name)
            .to_string();
        assert!(err.contains("building JavaScript policy"), "{err}");
        assert!(err.contains(expected), "{name}: {err}");
    }
}

#[test]
fn the_sdk_unit_tests_pass_under_node() {
    let output = Command::new("node")
        .args(["--test", "test/"])
        .current_dir(repo().join("sdk/js"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}): run scripts/setup, which installs Node.js and npm")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
    let passed = stdout
        .lines()
        .find_map(|line| line.strip_prefix("# pass "))
        .and_then(|count| count.trim().parse::<usize>().ok());
    assert!(passed.is_some_and(|count| count >= 10), "{stdout}");
}

#[test]
fn a_second_host_loads_the_runtime_from_the_compile_cache() {
    let cache = tempfile::tempdir().expect("cache dir");
    let config = HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    };
    let spec = || {
        PolicySpec::new(
            "required-labels",
            ComponentSource::File(built()["required-labels"].component_path.clone()),
        )
        .settings(json!({"labels": ["team"]}))
    };
    let first = PolicyHost::new(config.clone()).expect("host");
    first.load(spec()).expect("compiles");
    assert_eq!(first.cache_stats().compiled, 1);

    // A new host, as on the next run of `plumbline`: the QuickJS runtime
    // is deserialised, not compiled again (the policy_languages bench
    // prints how long that takes).
    let second = PolicyHost::new(config).expect("host");
    let policy = second.load(spec()).expect("loads from the cache");
    let stats = second.cache_stats();
    assert_eq!((stats.compiled, stats.disk_hits), (0, 1));
    let objects = [json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})];
    let violations = policy
        .validate(&objects, &EvalContext::default())
        .expect("validates")
        .value;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].path, "metadata.labels.team");
}
