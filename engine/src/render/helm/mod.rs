//! Helm charts as a source: render a chart directory of the sync's source
//! with `helm template` of the user's own `helm` executable, then read its
//! output like any manifest file.
//!
//! In: the fetched [`Tree`], the chart's directory in it, the sync's
//! [`HelmSpec`] (release name, namespace, values) and [`HelmOptions`] (which
//! `helm`, timeout, output cap). Out: [`Rendered`] objects whose
//! [`Origin`](super::Origin) names the chart, its version and the template
//! (`podinfo@6.14.1: templates/deployment.yaml`), or every error at once.
//!
//! IO: the chart and values files are written to a private temporary
//! directory, and `helm template` runs as a child process with no network
//! access needed (`--include-crds`; the chart's dependencies are vendored
//! under `charts/`, or fetched beforehand by [`dependencies`]). Test hooks
//! are dropped; other hooks are ordinary objects (docs/helm.md). Renders
//! are cached in memory by their inputs ([`cache`]): an unchanged chart
//! with unchanged values is not rendered again. Charts of HTTP(S) chart
//! repositories ([`repository`]) and OCI registries ([`oci_chart`]) are
//! fetched by the source stage into a [`Tree`] with the chart at its root.
//!
//! What comes from a cluster is read by the caller and handed in: the
//! target cluster's version and API versions ([`capabilities`], through
//! [`HelmOptions::for_cluster`]) and, in the controller, the values of
//! `valuesFrom` ([`values_from`]). kustomize's `helmCharts` render through
//! `template` too.

pub mod cache;
pub mod capabilities;
pub mod chart_fetch;
mod command;
pub mod dependencies;
pub mod kustomize_charts;
pub mod oci_chart;
pub mod output;
pub mod repository;
pub mod values_from;
pub mod version;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Errors, Manifest, RenderOptions, Rendered, Tree};
pub use capabilities::Capabilities;
use values_from::{ResolvedValues, ValuesReference};

/// The file that makes a directory a chart.
pub const CHART_FILE: &str = "Chart.yaml";

/// How a chart is rendered: `source.helm` of a sync (plumbline.yaml and
/// SyncUnit alike), close to Argo CD's `source.helm`. The chart is the
/// directory `source.path` of the sync's source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmSpec {
    /// The release name (`.Release.Name`); default: the sync's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// The release namespace (`.Release.Namespace`); default: the sync's
    /// target namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Values files of the source, relative to the chart directory, in
    /// order (later wins); `helm template -f`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Keys of ConfigMaps and Secrets in the SyncUnit's namespace holding
    /// values, in order, after `valuesFiles` and before `values`. Read by
    /// the controller only; a `plumbline.yaml` refuses it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesReference>,
    /// Inline values, applied after the values files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object")]
    pub values: Option<Value>,
    /// `--set` expressions (`image.tag=v2`), applied last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    /// `.Capabilities.KubeVersion` (`--kube-version`, e.g. `1.36.0`);
    /// default: the target cluster's version when known, else helm's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// API versions added to `.Capabilities.APIVersions` (`--api-versions`,
    /// e.g. `monitoring.coreos.com/v1`), besides the cluster's when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    /// Values files outside the source (the CLI's `--values`), applied
    /// after `valuesFiles`. Never read from a sync specification.
    #[serde(skip)]
    #[schemars(skip)]
    pub local_values_files: Vec<PathBuf>,
    /// What the controller read for `valuesFrom` ([`ResolvedValues::add`]);
    /// `None` until it is read. Never serialized or shown.
    #[serde(skip)]
    #[schemars(skip)]
    pub resolved_values_from: Option<ResolvedValues>,
}

fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Which `helm` runs and within which bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmOptions {
    /// The executable: `$PLUMBLINE_HELM`, else `helm` on `$PATH`.
    pub executable: PathBuf,
    /// Longest a render may take (default 60 s; `$PLUMBLINE_HELM_TIMEOUT`
    /// in seconds).
    pub timeout: Duration,
    /// Most bytes `helm template` may print (default 64 MiB).
    pub max_output: u64,
    /// `--kube-version`, when the target cluster is known.
    pub kube_version: Option<String>,
    /// `--api-versions`, when the target cluster is known.
    pub api_versions: Vec<String>,
    /// Take an unchanged render from the in-process cache instead of
    /// running helm again (default true).
    pub cache: bool,
    /// `--include-crds` (default true; a kustomize `helmCharts` entry
    /// says `includeCRDs`).
    pub include_crds: bool,
    /// `--no-hooks` (default false; a kustomize `helmCharts` entry says
    /// `skipHooks`).
    pub no_hooks: bool,
}

impl HelmOptions {
    /// These options for a render whose target cluster is known to have
    /// `capabilities` (its version and API versions, passed to helm unless
    /// the chart's spec sets a version).
    pub fn for_cluster(mut self, capabilities: Option<&Capabilities>) -> Self {
        if let Some(capabilities) = capabilities {
            self.kube_version = Some(capabilities.kube_version.clone());
            self.api_versions = capabilities.api_versions.clone();
        }
        self
    }
}

impl Default for HelmOptions {
    fn default() -> Self {
        let timeout = std::env::var("PLUMBLINE_HELM_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(Duration::from_secs(60), Duration::from_secs_f64);
        HelmOptions {
            executable: command::default_executable(),
            timeout,
            max_output: 64 << 20,
            kube_version: None,
            api_versions: Vec::new(),
            cache: true,
            include_crds: true,
            no_hooks: false,
        }
    }
}

/// A chart that could not be rendered. Each names the chart (and version).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No `helm` executable.
    #[error(
        "rendering a Helm chart needs a `helm` executable (Helm 3.8 or later), and {} was not found: \
         install Helm (https://helm.sh/docs/intro/install/) or set PLUMBLINE_HELM to its path",
        executable.display()
    )]
    HelmMissing {
        /// What was looked for.
        executable: PathBuf,
    },
    /// The chart directory has no `Chart.yaml`.
    #[error("chart {path:?}: no {CHART_FILE} in the source")]
    ChartNotFound {
        /// The directory.
        path: String,
    },
    /// `Chart.yaml` is not a chart's metadata.
    #[error("chart {path:?}: {CHART_FILE}: {message}")]
    BadChart {
        /// The directory.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A values file is missing or not YAML.
    #[error("chart {chart}: values file {file}: {message}")]
    BadValues {
        /// `name@version`.
        chart: String,
        /// The file, as given.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// `helm template` failed; its message (schema violations, `required`,
    /// `fail`, template errors) is quoted.
    #[error("chart {chart}: helm template failed: {message}")]
    Failed {
        /// `name@version`.
        chart: String,
        /// Helm's standard error.
        message: String,
    },
    /// `helm template` ran past its timeout and was stopped.
    #[error("chart {chart}: helm template ran longer than {timeout:?} and was stopped")]
    Timeout {
        /// `name@version`.
        chart: String,
        /// The timeout.
        timeout: Duration,
    },
    /// `helm template` printed more than the cap and was stopped.
    #[error("chart {chart}: helm template printed more than {limit} bytes and was stopped")]
    OutputTooLarge {
        /// `name@version`.
        chart: String,
        /// The cap.
        limit: u64,
    },
    /// Writing the chart out or running helm failed.
    #[error("chart {chart}: {message}")]
    Io {
        /// `name@version`.
        chart: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// A short machine-readable reason, for metrics and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::HelmMissing { .. } => "HelmMissing",
            Error::ChartNotFound { .. } => "ChartNotFound",
            Error::BadChart { .. } => "InvalidChart",
            Error::BadValues { .. } => "InvalidValues",
            Error::Failed { .. } => "HelmTemplateFailed",
            Error::Timeout { .. } => "HelmTimeout",
            Error::OutputTooLarge { .. } => "HelmOutputTooLarge",
            Error::Io { .. } => "HelmIO",
        }
    }
}

/// The release a chart is rendered as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `.Release.Name`.
    pub name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
}

/// Whether the directory `path` of `tree` is a chart.
pub fn is_chart(tree: &Tree, path: &str) -> bool {
    tree.get(&join(path, CHART_FILE)).is_some()
}

/// Render the chart at `path` of `tree` as `release`; see the module
/// documentation. A render whose inputs are all unchanged since an earlier
/// one in this process is taken from the [`cache`] without running helm.
pub fn render(
    tree: &Tree,
    path: &str,
    spec: &HelmSpec,
    release: &Release,
    helm: &HelmOptions,
    options: &RenderOptions,
) -> super::Result<Rendered> {
    let one = |e: Error| Errors(vec![super::Error::Helm(e)]);
    let chart = chart_name(tree, path).map_err(one)?;
    let values = values_documents(tree, path, spec, &chart).map_err(one)?;
    let mut errors = Vec::new();
    let objects = template(
        tree,
        path,
        &chart,
        &values,
        spec,
        release,
        helm,
        options,
        &mut errors,
    )
    .map_err(one)?;
    super::finish(objects, errors, path, options)
}

/// `helm template` of the chart `chart` (`name@version`) at `path` of
/// `tree`, with the values documents `values` in order and the rest of
/// `spec` (`set`, capabilities), or its output from the [`cache`]: its
/// objects; problems of the output go to `errors`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn template(
    tree: &Tree,
    path: &str,
    chart: &str,
    values: &[Vec<u8>],
    spec: &HelmSpec,
    release: &Release,
    helm: &HelmOptions,
    options: &RenderOptions,
    errors: &mut Vec<super::Error>,
) -> Result<Vec<Manifest>, Error> {
    let kube_version = spec.kube_version.as_ref().or(helm.kube_version.as_ref());
    let api_versions: Vec<&String> = helm.api_versions.iter().chain(&spec.api_versions).collect();
    let key = render_key(
        tree,
        path,
        spec,
        release,
        helm,
        values,
        kube_version,
        &api_versions,
    );
    let printed = match cache::get(&key).filter(|_| helm.cache) {
        Some(printed) => printed,
        None => {
            let printed = run_helm(
                tree,
                path,
                release,
                helm,
                chart,
                values,
                &spec.set,
                kube_version,
                &api_versions,
            )?;
            let printed = std::sync::Arc::new(printed);
            cache::put(key, printed.clone());
            printed
        }
    };
    Ok(output::objects(chart, &printed, options, errors))
}

/// Everything that decides what `helm template` prints.
#[allow(clippy::too_many_arguments)]
fn render_key(
    tree: &Tree,
    path: &str,
    spec: &HelmSpec,
    release: &Release,
    helm: &HelmOptions,
    values: &[Vec<u8>],
    kube_version: Option<&String>,
    api_versions: &[&String],
) -> cache::Key {
    let mut key = cache::KeyBuilder::new()
        .part("executable", helm.executable.as_os_str().as_encoded_bytes())
        .part("release", release.name.as_bytes())
        .part("namespace", release.namespace.as_bytes())
        .part("include-crds", &[u8::from(helm.include_crds)])
        .part("no-hooks", &[u8::from(helm.no_hooks)])
        .part(
            "kube-version",
            kube_version.map_or(&b""[..], |v| v.as_bytes()),
        );
    let prefix = join(path, "");
    for (file, bytes) in tree.iter().filter(|(file, _)| file.starts_with(&prefix)) {
        key = key
            .part("chart-file", file.as_bytes())
            .part("content", bytes);
    }
    for document in values {
        key = key.part("values", document);
    }
    for expression in &spec.set {
        key = key.part("set", expression.as_bytes());
    }
    for api in api_versions {
        key = key.part("api-version", api.as_bytes());
    }
    key.finish()
}

/// Write the chart and values out and run `helm template`.
#[allow(clippy::too_many_arguments)]
fn run_helm(
    tree: &Tree,
    path: &str,
    release: &Release,
    helm: &HelmOptions,
    chart: &str,
    values: &[Vec<u8>],
    set: &[String],
    kube_version: Option<&String>,
    api_versions: &[&String],
) -> Result<Vec<u8>, Error> {
    let workspace = Workspace::create(chart)?;
    let chart_dir = workspace.write_chart(tree, path)?;
    let mut args = vec![
        "template".to_owned(),
        release.name.clone(),
        chart_dir.display().to_string(),
        "--namespace".to_owned(),
        release.namespace.clone(),
    ];
    if helm.include_crds {
        args.push("--include-crds".to_owned());
    }
    if helm.no_hooks {
        args.push("--no-hooks".to_owned());
    }
    for (n, document) in values.iter().enumerate() {
        let file = workspace.write_file(&format!("values-{n}.yaml"), document, chart)?;
        args.extend(["--values".to_owned(), file.display().to_string()]);
    }
    for expression in set {
        args.extend(["--set".to_owned(), expression.clone()]);
    }
    if let Some(version) = kube_version {
        args.extend(["--kube-version".to_owned(), version.clone()]);
    }
    for api in api_versions {
        args.extend(["--api-versions".to_owned(), (*api).clone()]);
    }
    let printed = command::run(
        &helm.executable,
        &args,
        helm.timeout,
        helm.max_output,
        chart,
    )?;
    Ok(printed.stdout)
}

/// `name@version` from the chart's `Chart.yaml`.
pub(crate) fn chart_name(tree: &Tree, path: &str) -> Result<String, Error> {
    let bad = |message: String| Error::BadChart {
        path: path.to_owned(),
        message,
    };
    let bytes = tree
        .get(&join(path, CHART_FILE))
        .ok_or_else(|| Error::ChartNotFound {
            path: path.to_owned(),
        })?;
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let metadata: Value = crate::yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
    let field = |name: &str| {
        metadata
            .get(name)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(format!("no `{name}`")))
    };
    Ok(format!("{}@{}", field("name")?, field("version")?))
}

/// The values documents to pass, in order: the source's files (checked to
/// be YAML mappings), then what `valuesFrom` read, then the inline values,
/// then the CLI's local files.
fn values_documents(
    tree: &Tree,
    path: &str,
    spec: &HelmSpec,
    chart: &str,
) -> Result<Vec<Vec<u8>>, Error> {
    let bad = |file: &str, message: String| Error::BadValues {
        chart: chart.to_owned(),
        file: file.to_owned(),
        message,
    };
    let check = |file: &str, bytes: &[u8]| -> Result<Vec<u8>, Error> {
        let text = std::str::from_utf8(bytes).map_err(|_| bad(file, "not UTF-8 text".into()))?;
        let value: Value =
            crate::yaml::from_str(text).map_err(|e| bad(file, format!("not YAML: {e}")))?;
        if !(value.is_object() || value.is_null()) {
            return Err(bad(file, "not a mapping of values".into()));
        }
        Ok(bytes.to_vec())
    };
    let mut documents = Vec::new();
    for file in &spec.values_files {
        let in_tree =
            normalize(&join(path, file)).ok_or_else(|| bad(file, "outside the source".into()))?;
        let bytes = tree.get(&in_tree).ok_or_else(|| {
            bad(
                file,
                format!("not found in the source (looked for {in_tree})"),
            )
        })?;
        documents.push(check(file, bytes)?);
    }
    if !spec.values_from.is_empty() {
        let resolved = spec.resolved_values_from.as_ref().ok_or_else(|| {
            bad(
                "valuesFrom",
                "ConfigMaps and Secrets are read by the controller only; \
                 elsewhere give valuesFiles or --values"
                    .into(),
            )
        })?;
        documents.extend(resolved.documents.iter().cloned());
    }
    if let Some(values) = &spec.values {
        documents.push(serde_json::to_vec(values).unwrap_or_default());
    }
    for local in &spec.local_values_files {
        let name = local.display().to_string();
        let bytes = std::fs::read(local).map_err(|e| bad(&name, e.to_string()))?;
        documents.push(check(&name, &bytes)?);
    }
    Ok(documents)
}

/// `a/./b/../c` → `a/c`; `None` when it leaves the root.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// A private temporary directory holding the chart and the values files of
/// one render; removed on drop.
struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    fn create(chart: &str) -> Result<Self, Error> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("plumbline-helm-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_private_dir(&dir).map_err(|e| Error::Io {
            chart: chart.to_owned(),
            message: format!("creating {}: {e}", dir.display()),
        })?;
        Ok(Workspace { dir })
    }

    /// Write the files under `path` of `tree` to `<workspace>/chart/`.
    fn write_chart(&self, tree: &Tree, path: &str) -> Result<PathBuf, Error> {
        let root = self.dir.join("chart");
        let prefix = join(path, "");
        for (file, bytes) in tree.iter() {
            let Some(relative) = file.strip_prefix(&prefix) else {
                continue;
            };
            let target = root.join(relative);
            let written = target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&target, bytes));
            written.map_err(|e| Error::Io {
                chart: path.to_owned(),
                message: format!("writing {}: {e}", target.display()),
            })?;
        }
        Ok(root)
    }

    fn write_file(&self, name: &str, bytes: &[u8], chart: &str) -> Result<PathBuf, Error> {
        let target = self.dir.join(name);
        std::fs::write(&target, bytes).map_err(|e| Error::Io {
            chart: chart.to_owned(),
            message: format!("writing {}: {e}", target.display()),
        })?;
        Ok(target)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_file_paths_stay_inside_the_source() {
        assert_eq!(
            normalize("charts/app/../values/prod.yaml").as_deref(),
            Some("charts/values/prod.yaml")
        );
        assert_eq!(normalize("app/../../etc/passwd"), None);
    }

    #[test]
    fn the_chart_is_named_by_name_and_version() {
        let mut tree = Tree::new();
        tree.insert(
            "deploy/Chart.yaml",
            "apiVersion: v2\nname: shop\nversion: 1.2.0\n",
        );
        assert_eq!(chart_name(&tree, "deploy").unwrap(), "shop@1.2.0");
        assert!(is_chart(&tree, "deploy") && !is_chart(&tree, ""));
        let missing = chart_name(&tree, "other").unwrap_err();
        assert!(missing.to_string().contains("no Chart.yaml"), "{missing}");
        tree.insert("bad/Chart.yaml", "apiVersion: v2\nname: shop\n");
        let error = chart_name(&tree, "bad").unwrap_err();
        assert!(error.to_string().contains("no `version`"), "{error}");
    }
}
