//! The desired state of a sync: fetch, render, default namespaces,
//! transform, label, validate.
//!
//! Shared by every command that needs desired objects (`render`, `validate`,
//! `plan`, `sync`) and by the controller, so all of them see exactly the same
//! objects. Fetching is blocking Git IO; policies run on the policy host's
//! threads; the rest is pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::Value;

use super::scope::Scopes;
use super::transform_guard;
use super::Error;
use crate::apply::SYNC_LABEL;
use crate::object::ObjectKey;
use crate::policy::{EvalContext, NamedLog, PolicySet, SourceInfo, Timing, Violation};
use crate::render::helm::chart_fetch::ResolvedChart;
use crate::render::helm::{Capabilities, HelmOptions};
use crate::render::{self, Origin, RenderOptions};
use crate::source::{self, FetchOptions, Tree};
use crate::spec::SyncConfig;
use crate::text::truncate;

/// A sync configuration together with the directory its relative paths
/// (local sources, policy modules) are resolved from.
#[derive(Debug, Clone)]
pub struct SyncUnit {
    /// The configuration.
    pub config: SyncConfig,
    /// Directory of the configuration file.
    pub base_dir: PathBuf,
    /// Name of the configuration file, for error messages.
    pub file: String,
}

impl SyncUnit {
    /// The sync's name.
    pub fn name(&self) -> &str {
        &self.config.metadata.name
    }

    /// Resolve a path from the configuration against its directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The local directory the source names, if it is one and no Git
    /// reference was given (then the working tree is read as it is, without
    /// its `.git`).
    fn local_dir(&self) -> Option<PathBuf> {
        let spec = &self.config.spec.source;
        if spec.reference.is_some() || source::is_url(&spec.url) {
            return None;
        }
        let dir = self.resolve(Path::new(&spec.url));
        dir.is_dir().then_some(dir)
    }
}

/// Where the desired state came from and what it is.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The commit, for Git sources; `None` for a local directory.
    pub revision: Option<String>,
    /// The objects to apply, after transformers, with the sync label.
    pub objects: Vec<Value>,
    /// The file each object came from.
    pub origins: BTreeMap<ObjectKey, Origin>,
    /// Every violation the validators found (any severity).
    pub violations: Vec<Violation>,
    /// Faults of fail-open policies, which did not block.
    pub warnings: Vec<String>,
    /// What the policies logged.
    pub logs: Vec<NamedLog>,
    /// How long each transformer and validator took.
    pub timings: Vec<Timing>,
    /// How long the Git fetch took; `None` for a local directory.
    pub fetch_duration: Option<std::time::Duration>,
    /// The signed tag and commit `source.verify` checked, with their
    /// signers; empty without verification.
    pub verified: Vec<source::Verified>,
    /// The chart and version a chart repository's source resolved to
    /// (docs/helm.md); `None` for other sources.
    pub chart: Option<ResolvedChart>,
    /// Objects the transformers added, removed or moved.
    pub transformer_changes: transform_guard::Changes,
    /// What the transformers changed in each object; recorded only at
    /// [`Depth::Previewed`].
    pub transformer_edits: Vec<transform_guard::Edit>,
    /// What each transformer added, removed, moved or changed, in order
    /// (those that changed nothing left out).
    pub transformer_summaries: Vec<transform_guard::TransformerSummary>,
}

impl Desired {
    /// Error-severity violations, which block a sync.
    pub fn blocking_violations(&self) -> usize {
        self.violations
            .iter()
            .filter(|v| v.severity == crate::policy::Severity::Error)
            .count()
    }
}

/// The cluster a sync is rendered for, whose version and API versions its
/// Helm charts see (docs/helm.md). Asked from a blocking thread, through
/// the runtime of its client.
#[derive(Clone)]
pub struct Target {
    client: kube::Client,
    runtime: tokio::runtime::Handle,
}

impl Target {
    /// The cluster of `client`, asked through `runtime`.
    pub fn new(client: kube::Client, runtime: tokio::runtime::Handle) -> Self {
        Target { client, runtime }
    }

    /// Ask the cluster for its capabilities (blocks; not from inside the
    /// runtime's own tasks).
    pub fn capabilities(&self) -> Result<Capabilities, Error> {
        let discovered = self.runtime.block_on(Capabilities::discover(&self.client));
        discovered.map_err(|source| {
            Error::Apply(Box::new(crate::apply::Error::Discovery {
                what: "the cluster's version and API versions, for Helm charts".into(),
                source,
            }))
        })
    }
}

/// How far [`load`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Render and transform only (for `plumbline render`).
    Transformed,
    /// Also run the validators.
    Validated,
    /// Validated, and what the transformers changed in each object
    /// recorded ([`Desired::transformer_edits`], for `plumbline plan`).
    Previewed,
}

/// Fetch and render the sync's source, then run its policies.
///
/// `cache_dir` keeps bare Git repositories between runs.
pub fn load(
    unit: &SyncUnit,
    policies: &PolicySet,
    cache_dir: &Path,
    depth: Depth,
    interrupt: &AtomicBool,
) -> Result<Desired, Error> {
    let fetched = fetch(unit, cache_dir, interrupt)?;
    from_source(unit, policies, fetched, depth, None)
}

/// What [`fetch`] read: the commit (`None` for a local directory), the
/// files, and how long the Git fetch took.
pub struct Fetched {
    /// The commit, for Git sources.
    pub revision: Option<String>,
    /// The files.
    pub tree: Tree,
    /// How long the Git fetch took; `None` for a local directory.
    pub duration: Option<std::time::Duration>,
    /// What `source.verify` checked.
    pub verified: Vec<source::Verified>,
    /// The chart a chart repository's source resolved to.
    pub chart: Option<ResolvedChart>,
}

/// Render fetched files, then run the sync's policies ([`load`] after its
/// fetch). Helm charts see the target cluster's `capabilities` when it is
/// known.
pub fn from_source(
    unit: &SyncUnit,
    policies: &PolicySet,
    fetched: Fetched,
    depth: Depth,
    capabilities: Option<&Capabilities>,
) -> Result<Desired, Error> {
    let Fetched {
        revision,
        tree,
        duration: fetch_duration,
        verified,
        chart,
    } = fetched;
    let options = RenderOptions {
        path: unit.config.spec.source.path.trim_matches('/').to_owned(),
        allow_empty: unit.config.spec.sync.allow_empty,
        helm: HelmOptions::default().for_cluster(capabilities),
        ..RenderOptions::default()
    };
    let rendered = render_source(unit, &tree, &options).map_err(Error::Render)?;
    let mut origins = BTreeMap::new();
    let mut objects = Vec::with_capacity(rendered.objects.len());
    for manifest in rendered.objects {
        if let Some(key) = ObjectKey::of(&manifest.object) {
            origins.insert(key, manifest.origin);
        }
        objects.push(manifest.object);
    }

    let spec = &unit.config.spec;
    let namespace = spec.sync.target_namespace.as_deref().unwrap_or("default");
    default_namespace(&mut objects, namespace);
    if spec.sync.create_namespace {
        add_namespace(&mut objects, namespace);
    }
    let ctx = EvalContext {
        source: SourceInfo {
            url: spec.source.url.clone(),
            revision: revision.clone().unwrap_or_default(),
            path: spec.source.path.clone(),
        },
        target: unit.name().to_owned(),
    };
    let rendered: Vec<ObjectKey> = objects.iter().filter_map(ObjectKey::of).collect();
    let has_transformers = policies.policies().iter().any(|p| p.roles().transformer);
    let before: Option<BTreeMap<ObjectKey, Value>> =
        (depth == Depth::Previewed && has_transformers).then(|| {
            let keyed = objects
                .iter()
                .filter_map(|o| Some((ObjectKey::of(o)?, o.clone())));
            keyed.collect()
        });
    let mut guard = transform_guard::Guard::new(namespace);
    let transformed = policies
        .transform_observed(objects, &ctx, |policy, before, after| {
            guard.observe(policy.name(), policy.transformer_allowance(), before, after);
        })
        .map_err(Error::Policy)?;
    let (transformer_summaries, mut refused) = guard.finish();
    let mut warnings: Vec<String> = transformed
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut logs = transformed.logs;
    let mut timings = transformed.timings;
    // What a transformer added (or stripped of its namespace) gets the
    // target namespace like what was rendered, before anything checks,
    // compares or applies it.
    let mut objects = transformed.value;
    default_namespace(&mut objects, namespace);
    let mut objects = check_transformed(objects)?;
    let transformer_edits = before
        .map(|before| transform_guard::edits(&before, &objects))
        .unwrap_or_default();
    let after: Vec<ObjectKey> = objects.iter().filter_map(ObjectKey::of).collect();
    let transformer_changes = transform_guard::changes(&rendered, &after);
    refused.extend(transform_guard::growth_refusal(
        &transformer_changes,
        rendered.len(),
        &spec.sync.transformer_guard,
    ));
    if !refused.is_empty() {
        return Err(Error::TransformRefused(refused));
    }
    for object in &mut objects {
        set_label(object, SYNC_LABEL, unit.name());
    }

    let mut violations = Vec::new();
    if depth != Depth::Transformed {
        let validated = policies.validate(&objects, &ctx).map_err(Error::Policy)?;
        warnings.extend(validated.warnings.iter().map(ToString::to_string));
        logs.extend(validated.logs);
        timings.extend(validated.timings);
        violations = validated.value;
    }
    Ok(Desired {
        revision,
        objects,
        origins,
        violations,
        warnings,
        logs,
        timings,
        fetch_duration,
        verified,
        chart,
        transformer_changes,
        transformer_edits,
        transformer_summaries,
    })
}

/// Render the fetched files: the source path as a Helm chart when the sync
/// says `helm` or the path holds a `Chart.yaml`, else as manifests.
fn render_source(
    unit: &SyncUnit,
    tree: &Tree,
    options: &RenderOptions,
) -> render::Result<render::Rendered> {
    let source = &unit.config.spec.source;
    if source.helm.is_none() && !render::helm::is_chart(tree, &options.path) {
        return render::render(tree, options);
    }
    let spec = source.helm.clone().unwrap_or_default();
    let target_namespace = unit.config.spec.sync.target_namespace.as_deref();
    let release = render::helm::Release {
        name: spec
            .release_name
            .clone()
            .unwrap_or_else(|| unit.name().to_owned()),
        namespace: spec
            .namespace
            .clone()
            .unwrap_or_else(|| target_namespace.unwrap_or("default").to_owned()),
    };
    render::helm::render(tree, &options.path, &spec, &release, &options.helm, options)
}

/// Whether rendering `tree` for `unit` may run helm: the sync says `helm`,
/// its path holds a `Chart.yaml`, or a kustomization of the tree has
/// `helmCharts`. Only such a render needs the target cluster's
/// capabilities.
pub fn renders_charts(unit: &SyncUnit, tree: &Tree) -> bool {
    let source = &unit.config.spec.source;
    source.helm.is_some()
        || render::helm::is_chart(tree, source.path.trim_matches('/'))
        || render::kustomize::declares_helm_charts(tree)
}

/// Fetch the sync's source: its Git repository into `cache_dir`, or its
/// local directory as it is, with the dependencies of the chart it renders
/// and the charts of the kustomize `helmCharts` it renders that are not
/// vendored (docs/helm.md).
pub fn fetch(unit: &SyncUnit, cache_dir: &Path, interrupt: &AtomicBool) -> Result<Fetched, Error> {
    let mut fetched = fetch_source(unit, cache_dir, interrupt)?;
    super::chart_source::vendor_dependencies(unit, &mut fetched, cache_dir)?;
    super::chart_source::vendor_kustomize_charts(unit, &mut fetched, cache_dir)?;
    Ok(fetched)
}

/// [`fetch`] without the charts it fetches for the render.
fn fetch_source(
    unit: &SyncUnit,
    cache_dir: &Path,
    interrupt: &AtomicBool,
) -> Result<Fetched, Error> {
    let started = std::time::Instant::now();
    let options = FetchOptions {
        verify: unit
            .config
            .verification(&unit.file, |path| unit.resolve(path))
            .map_err(Error::Spec)?,
        ..FetchOptions::default()
    };
    if crate::oci::is_oci(&unit.config.spec.source.url) {
        let keys = match &options.verify {
            Some(verification) => {
                Some(crate::spec::artifact_keys(verification).map_err(|message| {
                    Error::Spec(crate::spec::Error::Keys {
                        file: unit.file.clone(),
                        message,
                    })
                })?)
            }
            None => None,
        };
        return super::artifact::fetch(unit, cache_dir, keys);
    }
    if unit.config.spec.source.chart.is_some() {
        return super::chart_source::fetch(unit, cache_dir);
    }
    if let Some(dir) = unit.local_dir() {
        if options.verify.is_some() {
            return Err(Error::Spec(crate::spec::Error::Invalid {
                file: unit.file.clone(),
                message: format!(
                    "source.verify needs a Git revision, but {} is read as a directory: \
                     give source.ref to verify its commits",
                    dir.display()
                ),
            }));
        }
        let tree = source::read_local_dir(&dir, &options.limits).map_err(Error::Fetch)?;
        return Ok(Fetched {
            revision: None,
            tree,
            duration: None,
            verified: Vec::new(),
            chart: None,
        });
    }
    let mut source = unit.config.source(&unit.file).map_err(Error::Spec)?;
    // The whole repository is read and rendered at the source path, so a
    // kustomization can reach `../base` as it can in a checkout.
    source.path = String::new();
    // A relative local path is relative to the configuration file.
    if !source::is_url(&source.url) {
        source.url = unit.resolve(Path::new(&source.url)).display().to_string();
    }
    let fetched = source::fetch(
        &source,
        cache_dir,
        &options,
        gix::progress::Discard,
        interrupt,
    )
    .map_err(Error::Fetch)?;
    Ok(Fetched {
        revision: Some(fetched.commit.to_string()),
        tree: fetched.files,
        duration: Some(started.elapsed()),
        verified: fetched.verified,
        chart: None,
    })
}

/// Give namespaced objects without a namespace the sync's target namespace.
fn default_namespace(objects: &mut [Value], namespace: &str) {
    let scopes = Scopes::from_desired(objects);
    for object in objects.iter_mut() {
        let Some(key) = ObjectKey::of(object) else {
            continue;
        };
        if key.namespace.is_none() && scopes.is_namespaced(&key.group, &key.kind) {
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert("namespace".into(), Value::String(namespace.to_owned()));
            }
        }
    }
}

/// Add a Namespace object for `namespace` unless the set has one.
fn add_namespace(objects: &mut Vec<Value>, namespace: &str) {
    let present = objects
        .iter()
        .filter_map(ObjectKey::of)
        .any(|key| key.group.is_empty() && key.kind == "Namespace" && key.name == namespace);
    if !present {
        objects.insert(
            0,
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        );
    }
}

/// Transformers may add, change and drop objects, but what they return must
/// still be a valid desired set: objects with identity, no duplicates.
fn check_transformed(objects: Vec<Value>) -> Result<Vec<Value>, Error> {
    let mut seen = std::collections::BTreeSet::new();
    for object in &objects {
        let key = ObjectKey::of(object).ok_or_else(|| {
            Error::InvalidTransform(format!(
                "an object without apiVersion, kind or metadata.name: {}",
                truncate(&object.to_string(), 200)
            ))
        })?;
        if !seen.insert(key.clone()) {
            return Err(Error::InvalidTransform(format!("{key} appears twice")));
        }
    }
    Ok(objects)
}

fn set_label(object: &mut Value, key: &str, value: &str) {
    if let Some(labels) = crate::object::metadata_map_mut(object, "labels") {
        labels.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn namespaces_are_defaulted_only_for_namespaced_kinds() {
        let mut objects = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "other"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
        ];
        default_namespace(&mut objects, "shop");
        assert_eq!(objects[0]["metadata"]["namespace"], "shop");
        assert_eq!(objects[1]["metadata"]["namespace"], "other");
        assert!(objects[2]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn the_target_namespace_is_added_once() {
        let mut objects =
            vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})];
        add_namespace(&mut objects, "shop");
        add_namespace(&mut objects, "shop");
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["metadata"]["name"], "shop");
    }

    #[test]
    fn transformer_output_must_keep_identity_and_uniqueness() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(check_transformed(vec![cm.clone()]).is_ok());
        let twice = check_transformed(vec![cm.clone(), cm]).unwrap_err();
        assert!(
            twice.to_string().contains("ConfigMap c appears twice"),
            "{twice}"
        );
        let nameless = check_transformed(vec![json!({"kind": "ConfigMap"})]).unwrap_err();
        assert!(
            nameless.to_string().contains("without apiVersion"),
            "{nameless}"
        );
    }

    #[test]
    fn the_sync_label_is_added_to_existing_labels() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}});
        set_label(&mut cm, SYNC_LABEL, "shop");
        assert_eq!(
            cm["metadata"]["labels"],
            json!({"a": "b", SYNC_LABEL: "shop"})
        );
    }
}
