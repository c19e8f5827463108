//! Publishing charts the way Helm does, for the chart repository tests:
//! chart `demo` in two shapes, packaged (`helm package`) and indexed
//! (`helm repo index`) into a repository directory, or pushed to an OCI
//! registry (`helm push`), all by the test `helm` of tests/helm (Helm
//! v4.2.3's own code).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::binary_support::repo_root;

/// The `helm` the tests run (and publish charts with).
pub fn helm() -> PathBuf {
    repo_root().join("tests/helm/helm")
}

/// Run the test `helm` with `args`; panic unless it succeeds.
pub fn helm_run(args: &[&str]) -> String {
    let out = Command::new(helm()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Write chart `demo` at `version` into `dir/demo`: a ConfigMap
/// `<release>-settings` saying the version, and, with `extra`, a
/// ConfigMap `<release>-extra`.
pub fn write_chart(dir: &Path, version: &str, extra: bool) -> PathBuf {
    let chart = dir.join(format!("demo-{version}-src/demo"));
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: demo\nversion: {version}\n"),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "mode: blue\n").unwrap();
    std::fs::write(
        chart.join("templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n\
         data:\n  version: {{ .Chart.Version | quote }}\n  mode: {{ .Values.mode }}\n",
    )
    .unwrap();
    if extra {
        std::fs::write(
            chart.join("templates/extra.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\n",
        )
        .unwrap();
    }
    chart
}

/// Package chart `demo` at `version` into the repository directory
/// `repo` and index it, as `helm package` + `helm repo index` do.
pub fn publish(repo: &Path, version: &str, extra: bool) {
    let work = tempfile::tempdir().unwrap();
    let chart = write_chart(work.path(), version, extra);
    helm_run(&[
        "package",
        chart.to_str().unwrap(),
        "-d",
        repo.to_str().unwrap(),
    ]);
    helm_run(&["repo", "index", repo.to_str().unwrap()]);
}

/// Push chart `demo` at `version` to `oci://<host>/charts/demo:<version>`
/// with Helm's registry client.
pub fn push(host: &str, version: &str, extra: bool) {
    let work = tempfile::tempdir().unwrap();
    let chart = write_chart(work.path(), version, extra);
    let out = work.path().join("out");
    helm_run(&[
        "package",
        chart.to_str().unwrap(),
        "-d",
        out.to_str().unwrap(),
    ]);
    let archive = out.join(format!("demo-{version}.tgz"));
    helm_run(&[
        "push",
        archive.to_str().unwrap(),
        &format!("oci://{host}/charts"),
        "--plain-http",
    ]);
}

/// The index's digest of `demo` at `version`.
pub fn index_digest(repo: &Path, version: &str) -> String {
    let text = std::fs::read_to_string(repo.join("index.yaml")).unwrap();
    let index: Value = serde_yaml::from_str(&text).unwrap();
    let entry = index["entries"]["demo"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["version"] == version)
        .unwrap();
    format!("sha256:{}", entry["digest"].as_str().unwrap())
}

/// A `helm` for `kubectl kustomize --enable-helm`: the kustomize in kubectl
/// (v5.5) refuses a Helm whose `helm version` is not 3.x, and the test helm
/// is v4.2.3, so this one answers `version` with a 3.x; every other
/// command (`helm template`, `helm pull`) is the test helm's own.
pub fn helm_as_v3(dir: &Path) -> PathBuf {
    let shim = dir.join("helm-as-v3");
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = version ]; then echo v3.17.0; exit 0; fi\nexec '{}' \"$@\"\n",
        helm().display()
    );
    std::fs::write(&shim, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    shim
}
