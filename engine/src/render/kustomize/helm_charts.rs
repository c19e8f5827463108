//! kustomize's `helmCharts` (and `helmGlobals.chartHome`): charts vendored
//! under a kustomization's chart home (default `charts/`), rendered through
//! the same path as a chart source ([`crate::render::helm`]): the same
//! `helm`, bounds, render cache, provenance and test-hook handling, with
//! the target cluster's capabilities. Values are combined as kustomize
//! combines them (`valuesFile`, `valuesInline` by `valuesMerge`,
//! `additionalValuesFiles`).
//!
//! An entry with `repo` (an `https://` chart repository or an `oci://`
//! registry) and an exact `version` whose chart is not vendored is pulled
//! by Plumbline before render, where kustomize pulls it to
//! (`<chartHome>/<name>-<version>/<name>`, [`to_pull`] lists them; the
//! fetch is [`crate::render::helm::kustomize_charts`]), so render itself
//! reads only the tree. Any other chart that is not under the chart home
//! is an error. IO: runs `helm template`.

use serde::Deserialize;
use serde_json::Value;

use super::transform::Context;
use super::{resolve, Error, FILE_NAMES};
use crate::render::helm::{self, HelmSpec, Release};
use crate::render::{Manifest, Tree};

/// kustomize's default chart home, relative to the kustomization.
const DEFAULT_CHART_HOME: &str = "charts";

/// The release namespace when an entry names none: `helm template`'s own
/// default.
const DEFAULT_NAMESPACE: &str = "default";

/// `helmGlobals`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Globals {
    /// Where charts are, relative to the kustomization.
    #[serde(default)]
    chart_home: Option<String>,
}

/// The fields of `helmGlobals` that are accepted without effect:
/// `configHome` (a vendored chart needs no helm configuration).
const GLOBALS_IGNORED: [&str; 1] = ["configHome"];

/// One entry of `helmCharts`: kustomize's `HelmChart`, without the fields
/// of [`CHART_REFUSED`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chart {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    release_name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    values_file: Option<String>,
    #[serde(default)]
    additional_values_files: Vec<String>,
    #[serde(default)]
    values_inline: Option<Value>,
    #[serde(default)]
    values_merge: Option<String>,
    #[serde(default, rename = "includeCRDs")]
    include_crds: bool,
    #[serde(default)]
    skip_hooks: bool,
    #[serde(default)]
    api_versions: Vec<String>,
    #[serde(default)]
    kube_version: Option<String>,
}

/// Every field of an entry that is read.
const CHART_FIELDS: [&str; 13] = [
    "name",
    "version",
    "repo",
    "releaseName",
    "namespace",
    "valuesFile",
    "additionalValuesFiles",
    "valuesInline",
    "valuesMerge",
    "includeCRDs",
    "skipHooks",
    "apiVersions",
    "kubeVersion",
];

/// Fields of an entry accepted without effect: `skipTests` (test hooks are
/// never applied anyway, docs/helm.md).
const CHART_IGNORED: [&str; 1] = ["skipTests"];

/// Fields of an entry that are refused, with why.
const CHART_REFUSED: [(&str, &str); 4] = [
    (
        "digest",
        "the repository's index or the registry verifies the chart's digest",
    ),
    (
        "devel",
        "charts are pulled at an exact version; give it as version",
    ),
    ("nameTemplate", "give releaseName"),
    ("debug", "helm's debug output is not read"),
];

/// Why `fields` has a key that is not in `read` or `ignored`, if it has.
fn unknown_field(
    fields: &Value,
    read: &[&str],
    ignored: &[&str],
    refused: &[(&str, &str)],
) -> Option<String> {
    let keys = fields.as_object()?.keys();
    keys.filter(|key| !read.contains(&key.as_str()) && !ignored.contains(&key.as_str()))
        .map(|key| match refused.iter().find(|(name, _)| name == key) {
            Some((_, why)) => format!("field `{key}` is not supported ({why})"),
            None => format!("unknown field `{key}`"),
        })
        .next()
}

/// Whether any kustomization of `tree` has `helmCharts`: a render of it
/// may run helm.
pub(crate) fn declared_in(tree: &Tree) -> bool {
    tree.iter()
        .filter(|(path, _)| {
            let name = path.rsplit('/').next().unwrap_or(path);
            FILE_NAMES.contains(&name)
        })
        .any(|(_, bytes)| {
            let text = String::from_utf8_lossy(bytes);
            // Most kustomizations do not mention it: no need to parse them.
            text.contains("helmCharts")
                && crate::yaml::from_str::<Value>(&text)
                    .ok()
                    .and_then(|k| k.get("helmCharts").cloned())
                    .is_some_and(|charts| !charts.is_null())
        })
}

/// A `helmCharts` entry whose chart is to be pulled before render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pull {
    /// The kustomization file that asks for it.
    pub kustomization: String,
    /// The chart's name.
    pub name: String,
    /// Its exact version.
    pub version: String,
    /// The chart repository's URL or `oci://` registry repository.
    pub repo: String,
    /// Where its files go: `<chartHome>/<name>-<version>/<name>`.
    pub dir: String,
}

/// The charts of the `helmCharts` the render of `root` reaches (the
/// kustomizations at or under it and what their `resources` and
/// `components` include) that have `repo` and an exact `version` and are
/// not under their chart home. Entries that are wrong in any way are
/// left to render, which reports them.
pub(crate) fn to_pull(tree: &Tree, root: &str) -> Vec<Pull> {
    let mut pulls: Vec<Pull> = Vec::new();
    for dir in reached(tree, root) {
        let Some(file) = super::kustomization_file(tree, &dir) else {
            continue;
        };
        let text = String::from_utf8_lossy(tree.get(&file).unwrap_or_default());
        if !text.contains("helmCharts") {
            continue;
        }
        let Ok(k) = crate::yaml::from_str::<Value>(&text) else {
            continue;
        };
        let home = k
            .get("helmGlobals")
            .and_then(|g| g.get("chartHome"))
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_CHART_HOME);
        let Some(home) = resolve(&dir, home) else {
            continue;
        };
        let entries = k.get("helmCharts").and_then(Value::as_array);
        for entry in entries.into_iter().flatten() {
            let Ok(chart) = serde_json::from_value::<Chart>(entry.clone()) else {
                continue;
            };
            let (Some(version), Some(repo)) = (chart.version, chart.repo) else {
                continue;
            };
            let dir = pulled_dir(&home, &chart.name, &version);
            let pull = Pull {
                kustomization: file.clone(),
                name: chart.name,
                version,
                repo,
                dir,
            };
            if exact_version(&pull.version)
                && !tree.is_dir(&pull.dir)
                && !pulls.iter().any(|p| p.dir == pull.dir)
            {
                pulls.push(pull);
            }
        }
    }
    pulls
}

/// The directories of the kustomizations a render of `root` builds: those
/// at or under it, and the directories their `resources` and
/// `components` name, transitively.
fn reached(tree: &Tree, root: &str) -> Vec<String> {
    let prefix = if root.is_empty() {
        String::new()
    } else {
        format!("{root}/")
    };
    let mut pending: Vec<String> = tree
        .iter()
        .filter_map(|(path, _)| {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            let inside = dir == root || path.starts_with(&prefix);
            (inside && FILE_NAMES.contains(&name)).then(|| dir.to_owned())
        })
        .collect();
    let mut seen: Vec<String> = Vec::new();
    while let Some(dir) = pending.pop() {
        if seen.contains(&dir) {
            continue;
        }
        if let Some(k) = super::kustomization_file(tree, &dir).and_then(|file| {
            crate::yaml::from_str::<Value>(&String::from_utf8_lossy(tree.get(&file)?)).ok()
        }) {
            for key in ["resources", "components"] {
                let named = k.get(key).and_then(Value::as_array);
                let included = named.into_iter().flatten().filter_map(Value::as_str);
                pending.extend(
                    included
                        .filter_map(|path| resolve(&dir, path))
                        .filter(|path| super::kustomization_file(tree, path).is_some()),
                );
            }
        }
        seen.push(dir);
    }
    seen
}

/// Where kustomize pulls chart `name` at `version` to.
fn pulled_dir(home: &str, name: &str, version: &str) -> String {
    format!("{home}/{name}-{version}/{name}")
        .trim_start_matches('/')
        .to_owned()
}

/// Whether `version` is one plain version (`1.4.2`, not `=1.4.2` or a
/// range), as kustomize requires: it names the directory the chart is
/// pulled to.
fn exact_version(version: &str) -> bool {
    crate::render::helm::version::exact(version).is_some() && !version.trim_start().starts_with('=')
}

/// Render every `helmCharts` entry of kustomization `k` and add its objects
/// to `objects`. Problems of the kustomization go to `errors`, helm's to
/// `render_errors`.
pub(super) fn generate(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut Vec<Manifest>,
    errors: &mut Vec<Error>,
    render_errors: &mut Vec<crate::render::Error>,
) {
    let entries = match k.get("helmCharts") {
        None | Some(Value::Null) => return,
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            errors.push(invalid(cx, "`helmCharts` must be a list".into()));
            return;
        }
    };
    let globals: Globals = match k.get("helmGlobals").filter(|g| !g.is_null()) {
        None => Globals::default(),
        Some(globals) => {
            let parsed = match unknown_field(globals, &["chartHome"], &GLOBALS_IGNORED, &[]) {
                Some(message) => Err(message),
                None => serde_json::from_value(globals.clone()).map_err(|e| e.to_string()),
            };
            match parsed {
                Ok(globals) => globals,
                Err(message) => return errors.push(invalid(cx, format!("helmGlobals: {message}"))),
            }
        }
    };
    let home = globals.chart_home.as_deref().unwrap_or(DEFAULT_CHART_HOME);
    let Some(home) = resolve(cx.dir, home) else {
        return errors.push(Error::Outside {
            file: cx.file.to_owned(),
            path: home.to_owned(),
        });
    };
    for (i, entry) in entries.iter().enumerate() {
        let what = format!(
            "helmCharts[{}] ({})",
            i + 1,
            entry["name"].as_str().unwrap_or("?")
        );
        let parsed = match unknown_field(entry, &CHART_FIELDS, &CHART_IGNORED, &CHART_REFUSED) {
            Some(message) => Err(message),
            None => serde_json::from_value::<Chart>(entry.clone()).map_err(|e| e.to_string()),
        };
        let rendered = parsed.and_then(|chart| render(&chart, &home, cx, render_errors));
        match rendered {
            Ok(rendered) => objects.extend(rendered),
            Err(message) => errors.push(invalid(cx, format!("{what}: {message}"))),
        }
    }
}

/// Render one chart; a problem of the entry is the `Err` message, helm's
/// own go to `render_errors` (and render nothing).
fn render(
    chart: &Chart,
    home: &str,
    cx: &Context<'_>,
    render_errors: &mut Vec<crate::render::Error>,
) -> Result<Vec<Manifest>, String> {
    let dir = chart_dir(chart, home, cx.tree)?;
    let name = helm::chart_name(cx.tree, &dir).map_err(|e| e.to_string())?;
    let release_name = chart.release_name.clone().ok_or(
        "releaseName is required: without it kustomize has helm generate a new random \
         release name on every build",
    )?;
    let values = values(chart, &dir, cx)?;
    let release = Release {
        name: release_name,
        namespace: chart
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
    };
    let spec = HelmSpec {
        kube_version: chart.kube_version.clone(),
        api_versions: chart.api_versions.clone(),
        ..HelmSpec::default()
    };
    let options = helm::HelmOptions {
        include_crds: chart.include_crds,
        no_hooks: chart.skip_hooks,
        ..cx.options.helm.clone()
    };
    let mut problems = Vec::new();
    let templated = helm::template(
        cx.tree,
        &dir,
        &name,
        &values,
        &spec,
        &release,
        &options,
        cx.options,
        &mut problems,
    );
    match templated {
        Ok(objects) if problems.is_empty() => Ok(objects),
        Ok(_) => {
            render_errors.extend(problems);
            Ok(Vec::new())
        }
        Err(e) => {
            render_errors.push(crate::render::Error::Helm(e));
            Ok(Vec::new())
        }
    }
}

/// The chart's directory in the tree, as kustomize looks for it:
/// `<chartHome>/<name>`, or `<chartHome>/<name>-<version>/<name>` for an
/// entry with `version` and `repo` (where it is pulled to before render).
fn chart_dir(chart: &Chart, home: &str, tree: &Tree) -> Result<String, String> {
    let dir = match (&chart.version, &chart.repo) {
        (Some(version), Some(_)) => pulled_dir(home, &chart.name, version),
        _ => format!("{home}/{}", chart.name)
            .trim_start_matches('/')
            .to_owned(),
    };
    if tree.is_dir(&dir) {
        return Ok(dir);
    }
    Err(match (&chart.repo, &chart.version) {
        (None, _) => format!("no chart at {dir}, and no repo to pull it from"),
        (Some(repo), None) => format!(
            "no chart at {dir}: give the version to pull from {repo} (an exact version, \
             as kustomize requires)"
        ),
        (Some(repo), Some(version)) if !exact_version(version) => format!(
            "version {version:?} is not an exact version: kustomize pulls charts at an exact \
             version (it names the directory {dir}); pin the version of {} in {repo}",
            chart.name
        ),
        (Some(repo), Some(_)) => format!(
            "no chart at {dir}: it was not pulled from {repo} before render (Plumbline pulls it \
             when it fetches the source)"
        ),
    })
}

/// The values documents of an entry, as kustomize passes them: the values
/// file (by default the chart's `values.yaml`) combined with
/// `valuesInline` by `valuesMerge`, then `additionalValuesFiles`.
fn values(chart: &Chart, dir: &str, cx: &Context<'_>) -> Result<Vec<Vec<u8>>, String> {
    let values_file = match &chart.values_file {
        Some(file) => resolve(cx.dir, file).ok_or(format!("{file:?} is outside the source"))?,
        None => format!("{dir}/values.yaml"),
    };
    let mut documents = Vec::new();
    let inline = chart
        .values_inline
        .as_ref()
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
    match inline {
        None => documents.push(read(cx, &values_file)?.0),
        Some(inline) => {
            let merge = chart.values_merge.as_deref().unwrap_or("override");
            let combined = match merge {
                "replace" => inline.clone(),
                "override" => without_nulls(merged(read(cx, &values_file)?.1, inline.clone())),
                "merge" => without_nulls(merged(inline.clone(), read(cx, &values_file)?.1)),
                other => {
                    return Err(format!(
                        "valuesMerge {other:?} must be one of merge, override, replace"
                    ))
                }
            };
            documents.push(serde_json::to_vec(&combined).unwrap_or_default());
        }
    }
    for file in &chart.additional_values_files {
        let path = resolve(cx.dir, file).ok_or(format!("{file:?} is outside the source"))?;
        documents.push(read(cx, &path)?.0);
    }
    Ok(documents)
}

/// A values file of the tree: its bytes and its mapping.
fn read(cx: &Context<'_>, path: &str) -> Result<(Vec<u8>, Value), String> {
    let bytes = cx
        .tree
        .get(path)
        .ok_or(format!("values file {path} not found"))?;
    let text =
        std::str::from_utf8(bytes).map_err(|_| format!("values file {path}: not UTF-8 text"))?;
    let value: Value =
        crate::yaml::from_str(text).map_err(|e| format!("values file {path}: not YAML: {e}"))?;
    match value {
        Value::Null => Ok((bytes.to_vec(), Value::Object(Default::default()))),
        Value::Object(_) => Ok((bytes.to_vec(), value)),
        _ => Err(format!("values file {path}: not a mapping of values")),
    }
}

/// `over` merged onto `base`: mappings key by key, anything else replaced
/// (Helm's merge of values files, and kustomize's of `valuesInline`).
fn merged(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (key, value) in over {
                let value = match base.remove(&key) {
                    Some(old) => merged(old, value),
                    None => value,
                };
                base.insert(key, value);
            }
            Value::Object(base)
        }
        (_, over) => over,
    }
}

/// `value` without the keys whose value is null, at any depth: what
/// kustomize's merge of `valuesInline` leaves (so a chart default of
/// `limits: null` is not passed on).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

fn invalid(cx: &Context<'_>, message: String) -> Error {
    Error::Invalid {
        file: cx.file.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_merge_maps_key_by_key_and_replaces_the_rest() {
        let base = json!({"image": {"repository": "nginx", "tag": "1"}, "ports": [80], "x": 1});
        let over = json!({"image": {"tag": "2"}, "ports": [443], "x": null});
        assert_eq!(
            merged(base, over),
            json!({"image": {"repository": "nginx", "tag": "2"}, "ports": [443], "x": null})
        );
    }

    #[test]
    fn a_tree_declares_helm_charts_in_any_of_its_kustomizations() {
        let mut tree = Tree::new();
        tree.insert("base/kustomization.yaml", "resources: [a.yaml]\n");
        tree.insert("notes/helmCharts.yaml", "helmCharts: [{name: x}]\n");
        assert!(!declared_in(&tree));
        tree.insert(
            "overlay/kustomization.yml",
            "resources: [../base]\nhelmCharts:\n",
        );
        assert!(!declared_in(&tree));
        tree.insert("app/Kustomization", "helmCharts:\n- name: web\n");
        assert!(declared_in(&tree));
    }

    #[test]
    fn charts_with_a_repo_and_an_exact_version_that_are_not_vendored_are_pulled() {
        let mut tree = Tree::new();
        tree.insert(
            "base/kustomization.yaml",
            "helmGlobals: {chartHome: vendored}\nhelmCharts:\n\
             - {name: web, repo: https://charts.example, version: 1.0.0}\n\
             - {name: db, repo: oci://reg.example/charts, version: 2.0.0}\n\
             - {name: ranged, repo: https://charts.example, version: ^1}\n\
             - {name: local}\n",
        );
        tree.insert(
            "base/vendored/db-2.0.0/db/Chart.yaml",
            "name: db\nversion: 2.0.0\n",
        );
        tree.insert("app/kustomization.yaml", "resources: [../base]\n");
        tree.insert(
            "other/kustomization.yaml",
            "helmCharts: [{name: x, repo: https://x, version: 1.0.0}]\n",
        );
        let expected = Pull {
            kustomization: "base/kustomization.yaml".into(),
            name: "web".into(),
            version: "1.0.0".into(),
            repo: "https://charts.example".into(),
            dir: "base/vendored/web-1.0.0/web".into(),
        };
        assert_eq!(to_pull(&tree, "app"), [expected]);
        assert_eq!(to_pull(&tree, "other").len(), 1);
        assert_eq!(to_pull(&tree, "").len(), 2);
    }

    #[test]
    fn merged_values_lose_their_nulls_as_in_kustomize() {
        let values = json!({"resources": {"limits": null, "requests": {"cpu": "1m"}}, "x": [null]});
        assert_eq!(
            without_nulls(values),
            json!({"resources": {"requests": {"cpu": "1m"}}, "x": [null]})
        );
    }

    #[test]
    fn charts_are_found_where_kustomize_puts_them() {
        let mut tree = Tree::new();
        tree.insert("app/charts/web/Chart.yaml", "name: web\nversion: 1.0.0\n");
        tree.insert(
            "app/charts/db-2.0.0/db/Chart.yaml",
            "name: db\nversion: 2.0.0\n",
        );
        let chart = |name: &str, version: Option<&str>, repo: Option<&str>| Chart {
            name: name.into(),
            version: version.map(Into::into),
            repo: repo.map(Into::into),
            ..serde_json::from_value(json!({"name": name})).unwrap()
        };
        let found = |c: &Chart| chart_dir(c, "app/charts", &tree);
        assert_eq!(found(&chart("web", None, None)).unwrap(), "app/charts/web");
        assert_eq!(
            found(&chart("web", Some("1.0.0"), None)).unwrap(),
            "app/charts/web"
        );
        assert_eq!(
            found(&chart("db", Some("2.0.0"), Some("https://charts.example"))).unwrap(),
            "app/charts/db-2.0.0/db"
        );
        let ranged = found(&chart("cache", Some("^3"), Some("https://charts.example")));
        assert!(ranged.unwrap_err().starts_with(
            "version \"^3\" is not an exact version: kustomize pulls charts at an exact version"
        ));
        let unversioned = found(&chart("cache", None, Some("https://charts.example")));
        assert!(unversioned
            .unwrap_err()
            .starts_with("no chart at app/charts/cache: give the version"));
        let missing = found(&chart("cache", None, None)).unwrap_err();
        assert_eq!(
            missing,
            "no chart at app/charts/cache, and no repo to pull it from"
        );
    }
}
