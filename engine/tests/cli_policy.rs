//! `plumbline policy new|build|test|inspect`, run as the real binary: the
//! standard policies' suites through the real policy host, a broken
//! expectation, a scaffolded project of each role built and tested, and
//! inspection of a built component.

mod binary_support;

use std::path::Path;
use std::process::Output;

use binary_support::{repo_root as repo, run_in_repo as plumbline};

use serde_json::Value;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code, with the output in the message when it is not `want`.
fn assert_exit(output: &Output, want: i32) {
    assert_eq!(
        output.status.code(),
        Some(want),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(output)))
}

#[test]
fn every_standard_policy_suite_passes() {
    let policies = repo().join("policies");
    let output = plumbline(&["policy", "test", "-o", "json", &policies.to_string_lossy()]);
    assert_exit(&output, 0);
    let summary = json(&output);
    assert_eq!(summary["failed"], 0, "{summary:#}");
    assert_eq!(summary["errors"], Value::Array(Vec::new()), "{summary:#}");
    let suites = summary["suites"].as_array().expect("suites");
    let standard: Vec<_> = policy_artifacts::ALL
        .iter()
        .filter(|a| a.source.starts_with("policies/"))
        .collect();
    assert_eq!(
        suites.len(),
        standard.len(),
        "one suite per standard policy"
    );
    for artifact in standard {
        let suite = suites
            .iter()
            .find(|s| {
                s["suite"]
                    .as_str()
                    .is_some_and(|p| p.contains(&format!("{}/tests/", artifact.source)))
            })
            .unwrap_or_else(|| panic!("no suite ran for {}", artifact.name));
        let cases = suite["cases"].as_array().expect("cases");
        assert!(cases.len() >= 5, "{}: {} cases", artifact.name, cases.len());
        assert!(
            cases.iter().all(|c| c.get("failure").is_none()),
            "{suite:#}"
        );
    }
    let passed = summary["passed"].as_u64().expect("passed");
    assert!(passed > 150, "{passed} cases passed");
}

#[test]
fn a_broken_expectation_fails_with_a_diff() {
    let temp = tempfile::tempdir().expect("temp dir");
    let source = repo().join("policies/required-labels/tests");
    let text = std::fs::read_to_string(source.join("suite.yaml")).expect("suite");
    // The value-pattern case expects its violation at metadata.labels.team.
    let broken = text.replacen(
        "          path: metadata.labels.team\n          severity: error\n          messageContains: \"value `Payments Team`",
        "          path: metadata.labels.tier\n          severity: error\n          messageContains: \"value `Payments Team`",
        1,
    );
    assert_ne!(broken, text, "the expectation to break was found");
    std::fs::write(temp.path().join("suite.yaml"), broken).expect("write suite");
    std::fs::create_dir(temp.path().join("fixtures")).expect("fixtures");
    std::fs::copy(
        source.join("fixtures/guestbook.yaml"),
        temp.path().join("fixtures/guestbook.yaml"),
    )
    .expect("copy fixture");
    let suite = temp.path().join("suite.yaml");
    let output = plumbline(&[
        "policy",
        "test",
        "--component",
        policy_artifacts::REQUIRED_LABELS,
        &suite.to_string_lossy(),
    ]);
    assert_exit(&output, 1);
    let out = stdout(&output);
    assert!(
        out.contains("FAILED  a value that does not match the pattern is reported"),
        "{out}"
    );
    assert!(
        out.contains("ok      a missing label is reported at its quoted path"),
        "{out}"
    );
    assert!(
        out.contains("1 expected violation(s) not reported, 1 unexpected violation(s)"),
        "{out}"
    );
    assert!(
        out.contains("-       \"path\": \"metadata.labels.tier\","),
        "{out}"
    );
    assert!(
        out.contains("+       \"path\": \"metadata.labels.team\","),
        "{out}"
    );
    assert!(
        out.contains("+       \"message\": \"label `team` has value `Payments Team`"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("passed, 1 failed"), "{out}");
}

#[test]
fn an_invalid_suite_is_a_usage_error_naming_its_line() {
    let temp = tempfile::tempdir().expect("temp dir");
    let suite = temp.path().join("suite.yaml");
    std::fs::write(
        &suite,
        "policy: x.wasm\ncases:\n  - name: both\n    validate: {objects: []}\n    checkSettings: {}\n    expect: {violations: []}\n",
    )
    .expect("write suite");
    let output = plumbline(&["policy", "test", &suite.to_string_lossy()]);
    assert_exit(&output, 2);
    let err = stderr(&output);
    assert!(err.contains("suite.yaml: invalid suite"), "{err}");
    assert!(err.contains("case `both`: needs exactly one of"), "{err}");
    assert!(err.contains("line "), "{err}");
}

#[test]
fn new_build_and_test_work_for_each_role() {
    let temp = tempfile::tempdir().expect("temp dir");
    for role in ["validator", "transformer", "remediator", "health"] {
        let name = format!("demo-{role}");
        let dir = temp.path().join(&name);
        let dir_arg = dir.to_string_lossy().into_owned();
        let output = plumbline(&["policy", "new", &name, "--role", role, "--dir", &dir_arg]);
        assert_exit(&output, 0);
        assert!(dir.join("tests/suite.yaml").is_file());

        let output = plumbline(&["policy", "build", "-q", "-o", "json", &dir_arg]);
        assert_exit(&output, 0);
        let built = json(&output);
        assert_eq!(built["name"], name.as_str());
        assert_eq!(built["roles"], serde_json::json!([role]), "{built:#}");
        let component = built["component"].as_str().expect("component path");
        assert!(Path::new(component).is_file(), "{component}");
        assert_eq!(built["sha256"].as_str().map(str::len), Some(64));

        let output = plumbline(&["policy", "test", "-q", &dir_arg]);
        assert_exit(&output, 0);
        let out = stdout(&output);
        assert!(out.contains(&format!("({component})")), "{out}");
        assert!(!out.contains("FAILED"), "{out}");
        assert!(out.trim_end().ends_with("passed, 0 failed"), "{out}");
        let minimum = if role == "transformer" {
            "2 passed"
        } else {
            ""
        };
        assert!(out.contains(minimum), "{out}");
    }
}

#[test]
fn new_refuses_other_languages_and_occupied_directories() {
    let output = plumbline(&[
        "policy",
        "new",
        "demo",
        "--lang",
        "c",
        "--role",
        "validator",
    ]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("only Rust, Python and JavaScript projects are scaffolded"),
        "{}",
        stderr(&output)
    );

    let temp = tempfile::tempdir().expect("temp dir");
    std::fs::write(temp.path().join("keep.txt"), "mine").expect("write");
    let dir = temp.path().to_string_lossy().into_owned();
    let output = plumbline(&[
        "policy",
        "new",
        "demo",
        "--role",
        "validator",
        "--dir",
        &dir,
    ]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("already exists and is not empty"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(temp.path().join("keep.txt")).expect("kept"),
        "mine"
    );
}

#[test]
fn inspect_shows_roles_metadata_and_imports() {
    let output = plumbline(&[
        "policy",
        "inspect",
        "-o",
        "json",
        policy_artifacts::REPORT_ONLY,
    ]);
    assert_exit(&output, 0);
    let report = json(&output);
    assert_eq!(report["roles"], serde_json::json!(["remediator"]));
    assert_eq!(report["info"]["name"], "report-only");
    assert!(report["info"]["settings_schema"].is_string(), "{report:#}");
    let imports = report["imports"].as_array().expect("imports");
    assert!(
        imports.contains(&"plumbline:policy/host@0.1.0".into()),
        "{report:#}"
    );
    assert_eq!(report["usesWasi"], false);
    assert_eq!(report["sha256"].as_str().map(str::len), Some(64));

    // A policy that refuses `{}` is still inspected; its metadata needs settings.
    let output = plumbline(&["policy", "inspect", policy_artifacts::REQUIRED_LABELS]);
    assert_exit(&output, 0);
    let out = stdout(&output);
    assert!(out.contains("roles:       validator"), "{out}");
    assert!(
        out.contains("metadata:    unavailable: the policy refused the settings {}"),
        "{out}"
    );
    let output = plumbline(&[
        "policy",
        "inspect",
        "--settings",
        r#"{"labels": ["team"]}"#,
        policy_artifacts::REQUIRED_LABELS,
    ]);
    assert_exit(&output, 0);
    let out = stdout(&output);
    assert!(out.contains("name:        required-labels"), "{out}");
    assert!(out.contains("  plumbline:policy/host@0.1.0"), "{out}");
}

/// A suite for the `test-all-roles` guest: two cases fault (a panic and an
/// endless loop), the others pass, covering each kind of expectation.
const ALL_ROLES_SUITE: &str = r#"
policy: all-roles.wasm
cases:
  - name: a panic fails only its own case
    validate:
      objects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {test/panic: "yes"}}}]
    expect: {violations: []}
  - name: an endless loop is stopped by the deadline
    transform:
      objects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {test/loop: "yes"}}}]
    expect: {objects: []}
  - name: a warning and a set-wide error are matched
    settings: {max-objects: 1}
    validate:
      objects:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {test/warn: "w"}}}
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
    expect:
      violations:
        - {target: {kind: ConfigMap, name: a, namespace: null}, severity: warning, messageContains: "test/warn=w"}
        - {target: null, severity: error}
  - name: the transformer's error is matched by substring
    transform:
      objects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: a, annotations: {test/fail-transform: "why"}}}]
    expect: {error: "asked to fail: why"}
  - name: dropped and added objects are compared by identity
    transform:
      objects:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: b, annotations: {test/duplicate: ""}}}
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: gone, annotations: {test/drop: ""}}}
    expect:
      objects:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: b-copy, annotations: {test/duplicate: ""}, labels: {plumbline.dev/transformed: "true"}}}
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: b, annotations: {test/duplicate: ""}, labels: {plumbline.dev/transformed: "true"}}}
  - name: a report is matched by substring
    remediate:
      drift:
        target: {apiVersion: v1, kind: ConfigMap, name: a}
        desired: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
        live: {apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {x: y}}}
        changes: [{path: metadata.labels.x, live: y}]
    expect: {remediation: {report: "labels drifted"}}
  - name: a deferral is matched by its seconds
    remediate:
      drift:
        target: {apiVersion: v1, kind: ConfigMap, name: a}
        desired: {apiVersion: v1, kind: ConfigMap, metadata: {name: a, annotations: {test/defer: "1"}}}
        live: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
        changes: [{path: metadata.annotations.test/defer, desired: "1"}]
    expect: {remediation: {defer: 30}}
  - name: refused settings are matched by substring
    settings: {reject: true}
    checkSettings: {}
    expect: {settingsError: "reject is true"}
"#;

#[test]
fn faults_fail_their_own_case_and_the_others_still_run() {
    let temp = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        policy_artifacts::TEST_ALL_ROLES,
        temp.path().join("all-roles.wasm"),
    )
    .expect("copy component");
    let suite = temp.path().join("suite.yaml");
    std::fs::write(&suite, ALL_ROLES_SUITE).expect("write suite");
    let output = plumbline(&["policy", "test", "-o", "json", &suite.to_string_lossy()]);
    assert_exit(&output, 1);
    let summary = json(&output);
    assert_eq!(summary["passed"], 6, "{summary:#}");
    assert_eq!(summary["failed"], 2, "{summary:#}");
    let cases = summary["suites"][0]["cases"].as_array().expect("cases");
    let reason = |i: usize| cases[i]["failure"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason(0).contains("(validator) faulted: trapped"),
        "{summary:#}"
    );
    assert!(
        reason(1).contains("(transformer) faulted: exceeded the wall-clock timeout"),
        "{summary:#}"
    );
    assert!(
        cases[2..].iter().all(|c| c.get("failure").is_none()),
        "{summary:#}"
    );
}
