//! Python policies end to end: the example ports of the standard policies,
//! built from source with componentize-py, pass the SAME suite files as the
//! Rust policies through the real `plumbline policy test`; the sandbox probe
//! gets nothing from files, environment or network and the attempts show in
//! the policy log or as a fault; `policy new --lang python` → build → test
//! passes for every role; a second engine loads the large component from
//! the compile cache instead of compiling it again; the SDK helpers pass
//! their plain-Python unit tests.
//!
//! Needs componentize-py (`scripts/setup` installs it into `.tools/python`);
//! without it every test fails naming that command.

mod binary_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use binary_support::{plumbline_command, repo_root as repo};
use std::sync::OnceLock;

use plumbline::policy::{
    ComponentSource, EvalContext, HostConfig, PolicyHost, PolicySpec, SourceInfo,
};
use plumbline_policy_build::{python, BuildOptions, Built};
use serde_json::{json, Value};

/// Guest builds persist here between test runs, so unchanged sources are
/// not componentized again.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-guests")
}

/// The engine's compile cache for this test binary's `plumbline` runs.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-policy-cache")
}

/// The components under test, built once per test binary.
struct Components {
    required_labels: Built,
    common_metadata: Built,
    hpa_replicas: Built,
    cert_manager_health: Built,
    /// The sandbox probe as committed (`wasi = true`).
    probe_wasi: Built,
    /// The same probe built with `--stub-wasi`.
    probe_stub: Built,
}

fn build(dir: &Path) -> Built {
    let options = BuildOptions {
        target_dir: Some(target_dir()),
        ..BuildOptions::default()
    };
    plumbline_policy_build::build(dir, &options)
        .unwrap_or_else(|e| panic!("building {}: {e:#}", dir.display()))
}

fn components() -> &'static Components {
    static BUILT: OnceLock<Components> = OnceLock::new();
    BUILT.get_or_init(|| {
        let examples = repo().join("examples/policies/python");
        let probe = repo().join("tests/guests-python/sandbox-probe");
        // The stub build: the same app.py with `wasi = false`.
        let stub_dir = target_dir().join("sandbox-probe-stub-src");
        std::fs::create_dir_all(&stub_dir).expect("stub project dir");
        std::fs::copy(probe.join("app.py"), stub_dir.join("app.py")).expect("copy app.py");
        let pyproject = std::fs::read_to_string(probe.join("pyproject.toml"))
            .expect("probe pyproject")
            .replace("name = \"sandbox-probe\"", "name = \"sandbox-probe-stub\"")
            .replace("wasi = true", "wasi = false");
        std::fs::write(stub_dir.join("pyproject.toml"), pyproject).expect("stub pyproject");
        Components {
            required_labels: build(&examples.join("required-labels")),
            common_metadata: build(&examples.join("common-metadata")),
            hpa_replicas: build(&examples.join("hpa-replicas")),
            cert_manager_health: build(&examples.join("cert-manager-health")),
            probe_wasi: build(&probe),
            probe_stub: build(&stub_dir),
        }
    })
}

/// Run `plumbline ARGS...` in the repository with this binary's cache.
fn plumbline(args: &[&str]) -> Output {
    plumbline_command(args)
        .env("PLUMBLINE_CACHE_DIR", cache_dir())
        .output()
        .expect("run plumbline")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_exit(output: &Output, want: i32) {
    assert_eq!(
        output.status.code(),
        Some(want),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn json_out(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(&output.stdout)))
}

/// Run one suite file against a component; return the JSON summary.
fn run_suite(suite: &str, component: &Path, want_exit: i32) -> (Value, String) {
    let component = component.to_string_lossy();
    let output = plumbline(&[
        "-v",
        "-o",
        "json",
        "policy",
        "test",
        suite,
        "--component",
        &component,
    ]);
    assert_exit(&output, want_exit);
    (json_out(&output), text(&output.stderr))
}

/// The number of cases in a suite file.
fn case_count(suite: &str) -> usize {
    let text = std::fs::read_to_string(repo().join(suite)).expect("suite");
    text.lines()
        .filter(|line| line.starts_with("  - name: "))
        .count()
}

#[test]
fn componentize_py_is_installed() {
    let tool = python::find_tool().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        tool.version.starts_with("componentize-py "),
        "{}",
        tool.version
    );
}

#[test]
fn the_standard_suites_pass_against_the_python_ports() {
    let c = components();
    for (name, built, role) in [
        ("required-labels", &c.required_labels, "validator"),
        ("common-metadata", &c.common_metadata, "transformer"),
        ("hpa-replicas", &c.hpa_replicas, "remediator"),
        ("cert-manager-health", &c.cert_manager_health, "health"),
    ] {
        assert_eq!(built.name, name);
        assert!(
            built.toolchain.contains("componentize-py"),
            "{}",
            built.toolchain
        );
        // --stub-wasi: the only imports are the contract's.
        assert!(
            built
                .interfaces
                .imports
                .iter()
                .all(|i| i.starts_with("plumbline:policy/")),
            "{name}: {:?}",
            built.interfaces.imports
        );
        assert!(
            built
                .interfaces
                .exports
                .iter()
                .any(|e| e == &format!("plumbline:policy/{role}@0.1.0")),
            "{name}: {:?}",
            built.interfaces.exports
        );
        let suite = format!("policies/{name}/tests/suite.yaml");
        let (summary, _) = run_suite(&suite, &built.component_path, 0);
        assert_eq!(summary["failed"], 0, "{summary:#}");
        assert_eq!(
            summary["passed"].as_u64(),
            Some(case_count(&suite) as u64),
            "{name}: every case of the Rust policy's suite ran: {summary:#}"
        );
    }
}

#[test]
fn the_sandbox_probe_gets_nothing_from_the_empty_wasi() {
    let built = &components().probe_wasi;
    assert!(
        built
            .interfaces
            .imports
            .iter()
            .any(|i| i.starts_with("wasi:")),
        "the probe is built with WASI imports: {:?}",
        built.interfaces.imports
    );
    let suite = "tests/guests-python/sandbox-probe/tests/suite.yaml";
    let (summary, log) = run_suite(suite, &built.component_path, 0);
    assert_eq!(summary["passed"].as_u64(), Some(4), "{summary:#}");
    for line in [
        "probe file: refused: FileNotFoundError: [Errno 44] No such file or directory: '/etc/passwd'",
        "probe listdir: refused: FileNotFoundError",
        "probe env: got 0 variables {}",
        "probe socket: refused: ModuleNotFoundError: No module named 'socket'",
    ] {
        assert!(log.contains(line), "policy log lacks `{line}`:\n{log}");
    }
}

#[test]
fn the_stub_wasi_probe_traps_on_files_and_the_attempt_is_logged() {
    let built = &components().probe_stub;
    assert!(
        built
            .interfaces
            .imports
            .iter()
            .all(|i| i.starts_with("plumbline:policy/")),
        "--stub-wasi leaves no WASI import: {:?}",
        built.interfaces.imports
    );
    let suite = "tests/guests-python/sandbox-probe/stub-wasi-suite.yaml";
    let (summary, log) = run_suite(suite, &built.component_path, 1);
    let cases = summary["suites"][0]["cases"]
        .as_array()
        .expect("cases")
        .clone();
    let failure = |name: &str| {
        let case = cases
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case `{name}`: {summary:#}"));
        case["failure"]["reason"].as_str().map(str::to_owned)
    };
    for trapping in [
        "reading /etc/passwd traps",
        "listing / traps",
        "importing the socket module traps",
        "an unhandled exception traps after logging its traceback",
    ] {
        let reason = failure(trapping).unwrap_or_else(|| panic!("`{trapping}` passed"));
        assert!(reason.contains("faulted: trapped"), "{trapping}: {reason}");
    }
    assert_eq!(failure("the environment is empty"), None, "{summary:#}");
    for line in [
        "probe file: trying",
        "probe listdir: trying",
        "probe socket: trying",
        "probe env: got 0 variables {}",
        "sandbox-probe validate failed:",
        "ValueError: probe crashed on purpose",
    ] {
        assert!(log.contains(line), "policy log lacks `{line}`:\n{log}");
    }
    assert!(
        ![
            "probe file: got",
            "probe file: refused",
            "probe socket: refused"
        ]
        .iter()
        .any(|line| log.contains(line)),
        "the trapping attempts must not return:\n{log}"
    );
}

#[test]
fn a_second_engine_loads_the_python_component_from_the_compile_cache() {
    let built = &components().required_labels;
    let dir = tempfile::tempdir().expect("cache dir");
    let config = HostConfig {
        cache_dir: Some(dir.path().to_owned()),
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    };
    let spec = || {
        PolicySpec::new(
            "required-labels",
            ComponentSource::File(built.component_path.clone()),
        )
        .settings(json!({"labels": ["team"]}))
    };
    let first = PolicyHost::new(config.clone()).expect("host");
    first.load(spec()).expect("load");
    assert_eq!(first.cache_stats().compiled, 1);

    let second = PolicyHost::new(config).expect("host");
    let policy = second.load(spec()).expect("load from cache");
    let stats = second.cache_stats();
    assert_eq!((stats.compiled, stats.disk_hits), (0, 1));
    let ctx = EvalContext {
        source: SourceInfo {
            url: "test://".into(),
            revision: "0".repeat(40),
            path: String::new(),
        },
        target: "test".into(),
    };
    let objects = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"team": "x"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}),
    ];
    let violations = policy.validate(&objects, &ctx).expect("validate").value;
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path, "metadata.labels.team");
}

#[test]
fn a_scaffolded_python_policy_of_every_role_builds_and_passes_its_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = target_dir().to_string_lossy().into_owned();
    for role in ["validator", "transformer", "remediator", "health"] {
        let project = dir.path().join(role);
        let project_arg = project.to_string_lossy();
        let name = format!("py-{role}");
        let output = plumbline(&[
            "policy",
            "new",
            &name,
            "--lang",
            "python",
            "--role",
            role,
            "--dir",
            &project_arg,
        ]);
        assert_exit(&output, 0);
        assert!(project.join("app.py").is_file() && project.join("pyproject.toml").is_file());

        let output = plumbline(&[
            "-o",
            "json",
            "policy",
            "test",
            &project_arg,
            "--target-dir",
            &target,
        ]);
        assert_exit(&output, 0);
        let summary = json_out(&output);
        assert_eq!(summary["failed"], 0, "{role}: {summary:#}");
        assert!(
            summary["passed"].as_u64().is_some_and(|n| n >= 2),
            "{role}: {summary:#}"
        );
    }
}

#[test]
fn a_broken_python_policy_fails_to_build_with_the_python_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"broken\"\n[tool.plumbline]\nroles = [\"validator\"]\n",
    )
    .expect("pyproject");
    std::fs::write(dir.path().join("app.py"), "import no_such_module\n").expect("app.py");
    let options = BuildOptions {
        target_dir: Some(target_dir()),
        ..BuildOptions::default()
    };
    let err = plumbline_policy_build::build(dir.path(), &options).expect_err("broken");
    let message = format!("{err:#}");
    assert!(
        message.contains("No module named 'no_such_module'"),
        "{message}"
    );
}

#[test]
fn the_sdk_helpers_pass_their_plain_python_unit_tests() {
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "sdk/python/tests", "-v"])
        .current_dir(repo())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3 (scripts/setup needs it too)");
    assert_exit(&output, 0);
    let report = text(&output.stderr);
    assert!(report.contains("\nOK"), "{report}");
    assert!(report.contains("Ran "), "{report}");
}
