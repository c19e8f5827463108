//! A render kept for reuse: the desired objects of one commit, and what the
//! validators found in them.
//!
//! Rendering is a function of the commit's files, the sync's configuration,
//! its policies and their settings (`baseline::inputs`) and
//! Plumbline itself. A reconcile of a commit it rendered before with the
//! same inputs reuses the render instead of parsing, transforming and
//! validating every manifest again (`load_desired`). The controller keeps
//! it in memory, in the [`super::Baseline`]; `plumbline sync` and `plan`
//! keep it in a file ([`load`]/[`save`]), which also names the build that
//! wrote it, so another build of Plumbline renders again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::desired::{self, Depth, Desired, SyncUnit, Target};
use super::transform_guard::{Changes, Edit, TransformerSummary};
use super::Error;
use crate::object::ObjectKey;
use crate::plan::{DesiredObject, Manifest};
use crate::policy::{PolicySet, Violation};
use crate::render::helm::chart_fetch::ResolvedChart;
use crate::render::Origin;

/// The desired state of one commit, as a reconcile rendered it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The commit; `None` for a local directory, which is never reused.
    pub(super) revision: Option<String>,
    /// `baseline::inputs` it was rendered with.
    pub(super) inputs: String,
    /// What the validators found in it.
    pub(super) violations: Vec<Violation>,
    /// Faults of fail-open policies while it was rendered.
    pub(super) warnings: Vec<String>,
    /// The file each object came from.
    pub(super) origins: BTreeMap<ObjectKey, Origin>,
    /// Objects the transformers added, removed or moved.
    pub(super) changes: Changes,
    /// What the transformers changed in each object, if it was rendered
    /// at [`Depth::Previewed`].
    pub(super) edits: Option<Vec<Edit>>,
    /// What each transformer added, removed, moved or changed.
    pub(super) transformers: Vec<TransformerSummary>,
    /// The objects.
    pub(super) objects: Vec<DesiredObject>,
}

impl Rendered {
    /// Keep `objects` of `desired` (whose own list was taken apart),
    /// rendered at `depth`.
    pub(super) fn of(
        desired: &Desired,
        inputs: &str,
        objects: Vec<DesiredObject>,
        depth: Depth,
    ) -> Rendered {
        Rendered {
            revision: desired.revision.clone(),
            inputs: inputs.to_owned(),
            violations: desired.violations.clone(),
            warnings: desired.warnings.clone(),
            origins: desired.origins.clone(),
            changes: desired.transformer_changes.clone(),
            edits: (depth == Depth::Previewed).then(|| desired.transformer_edits.clone()),
            transformers: desired.transformer_summaries.clone(),
            objects,
        }
    }

    /// Whether this is the render of commit `revision` with `inputs`, and
    /// has what `depth` shows (the transformers' edits, when a sync with
    /// transformers is previewed).
    pub(super) fn is_of(
        &self,
        revision: Option<&str>,
        inputs: &str,
        depth: Depth,
        has_transformers: bool,
    ) -> bool {
        let shown = depth != Depth::Previewed || !has_transformers || self.edits.is_some();
        revision.is_some() && revision == self.revision.as_deref() && inputs == self.inputs && shown
    }

    /// The desired state again: its findings, with the objects apart. No
    /// policy ran, so there are no logs or timings.
    pub(super) fn into_desired(
        self,
        fetch_duration: Option<std::time::Duration>,
        verified: Vec<crate::source::Verified>,
        chart: Option<ResolvedChart>,
    ) -> (Desired, Vec<DesiredObject>) {
        let desired = Desired {
            revision: self.revision,
            objects: Vec::new(),
            origins: self.origins,
            violations: self.violations,
            warnings: self.warnings,
            logs: Vec::new(),
            timings: Vec::new(),
            fetch_duration,
            verified,
            chart,
            transformer_changes: self.changes,
            transformer_edits: self.edits.unwrap_or_default(),
            transformer_summaries: self.transformers,
        };
        (desired, self.objects)
    }
}

/// Where a reconcile finds a render it may reuse, and what it leaves.
pub(super) enum Reuse {
    /// Render every time; leave nothing.
    Nothing,
    /// The render kept in this directory; keep this one's there.
    Kept(PathBuf),
    /// The render of the previous baseline; leave a baseline.
    Baseline(Option<Box<Rendered>>),
}

/// The desired state of `unit` at `depth`, reusing the render kept in
/// `rendered_dir` if it is of the fetched commit with the same inputs, and
/// keeping a new one there: what `plumbline plan` reads. Its Helm charts
/// see the capabilities of `target`, when given.
pub fn load_kept(
    unit: &SyncUnit,
    policies: &PolicySet,
    cache_dir: &Path,
    rendered_dir: &Path,
    depth: Depth,
    target: Option<&Target>,
) -> Result<(Desired, Vec<DesiredObject>), Error> {
    let inputs = super::baseline::inputs(unit, policies);
    let reuse = Reuse::Kept(rendered_dir.to_owned());
    let loaded = load_desired(unit, policies, cache_dir, &inputs, reuse, depth, target)?;
    Ok((loaded.desired, loaded.objects))
}

/// What [`load_desired`] gives: the desired state, its objects, and the
/// inputs it was rendered with (the sync's, and the capabilities of the
/// target cluster its charts saw).
pub(super) struct Loaded {
    pub(super) desired: Desired,
    pub(super) objects: Vec<DesiredObject>,
    pub(super) inputs: String,
}

/// The desired state of `unit` at `depth`: the render `reuse` holds if it
/// is of the fetched commit with the same `inputs` (and, for a render that
/// runs helm, the same capabilities of `target`), else a new render, kept
/// if `reuse` says so.
pub(super) fn load_desired(
    unit: &SyncUnit,
    policies: &PolicySet,
    cache_dir: &Path,
    inputs: &str,
    reuse: Reuse,
    depth: Depth,
    target: Option<&Target>,
) -> Result<Loaded, Error> {
    let interrupt = AtomicBool::new(false);
    let fetched = desired::fetch(unit, cache_dir, &interrupt)?;
    let capabilities = match target {
        Some(target) if desired::renders_charts(unit, &fetched.tree) => {
            Some(target.capabilities()?)
        }
        _ => None,
    };
    let inputs = match &capabilities {
        Some(capabilities) => format!("{inputs} {}", capabilities.digest()),
        None => inputs.to_owned(),
    };
    let inputs = inputs.as_str();
    let config = unit.base_dir.join(&unit.file).display().to_string();
    let (previous, keep_in) = match reuse {
        Reuse::Nothing => (None, None),
        Reuse::Kept(dir) => (load(&dir, &config, inputs), Some(dir)),
        Reuse::Baseline(previous) => (previous.map(|p| *p), None),
    };
    let has_transformers = policies.policies().iter().any(|p| p.roles().transformer);
    let revision = fetched.revision.as_deref();
    if let Some(previous) = previous.filter(|p| p.is_of(revision, inputs, depth, has_transformers))
    {
        let (desired, objects) =
            previous.into_desired(fetched.duration, fetched.verified, fetched.chart);
        return Ok(Loaded {
            desired,
            objects,
            inputs: inputs.to_owned(),
        });
    }
    let mut desired = desired::from_source(unit, policies, fetched, depth, capabilities.as_ref())?;
    // From here on each manifest is held as text, not as a `Value`.
    let objects: Vec<DesiredObject> = std::mem::take(&mut desired.objects)
        .into_iter()
        .filter_map(|object| DesiredObject::of(&object))
        .collect();
    if let Some(dir) = keep_in {
        let kept = Rendered::of(&desired, inputs, objects.clone(), depth);
        save(&dir, &config, &kept);
    }
    Ok(Loaded {
        desired,
        objects,
        inputs: inputs.to_owned(),
    })
}

/// A [`Rendered`] as a file holds it.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    /// [`build`] of the Plumbline that wrote it.
    build: String,
    revision: String,
    inputs: String,
    violations: Vec<Violation>,
    warnings: Vec<String>,
    origins: Vec<(ObjectKey, Origin)>,
    changes: Changes,
    edits: Option<Vec<Edit>>,
    transformers: Vec<TransformerSummary>,
    #[serde(borrow)]
    objects: Vec<StoredObject<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredObject<'a> {
    key: ObjectKey,
    api_version: String,
    /// The manifest's JSON text, kept as it is (neither parsed nor
    /// escaped).
    #[serde(borrow)]
    manifest: &'a RawValue,
}

/// This build of Plumbline: its version, and the size and modification
/// time of its executable. `None` when the executable cannot be found.
fn build() -> Option<String> {
    let metadata = std::env::current_exe().ok()?.metadata().ok()?;
    let modified = metadata
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{} {} {}",
        env!("CARGO_PKG_VERSION"),
        metadata.len(),
        modified.as_nanos()
    ))
}

/// The file of the render of the sync configured in `config` with
/// `inputs` in `dir`: one per configuration file, configuration and set of
/// policies, holding its latest commit.
fn file(dir: &Path, config: &str, inputs: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let key = Sha256::new()
        .chain_update(config.len().to_le_bytes())
        .chain_update(config)
        .chain_update(inputs)
        .finalize();
    dir.join(format!("{}.json", &hex::encode(key)[..32]))
}

/// The render stored in `dir` for the sync configured in `config` with
/// `inputs`, if this build of Plumbline wrote it. Anything unreadable is no
/// render: the commit is rendered again.
pub fn load(dir: &Path, config: &str, inputs: &str) -> Option<Rendered> {
    let text = std::fs::read(file(dir, config, inputs)).ok()?;
    let stored: Stored = serde_json::from_slice(&text).ok()?;
    if Some(&stored.build) != build().as_ref() || stored.inputs != inputs {
        return None;
    }
    let objects = stored
        .objects
        .into_iter()
        .map(|o| DesiredObject {
            key: o.key,
            api_version: o.api_version,
            manifest: Manifest::from_text(o.manifest.get()),
        })
        .collect();
    Some(Rendered {
        revision: Some(stored.revision),
        inputs: stored.inputs,
        violations: stored.violations,
        warnings: stored.warnings,
        origins: stored.origins.into_iter().collect(),
        changes: stored.changes,
        edits: stored.edits,
        transformers: stored.transformers,
        objects,
    })
}

/// Store the render of a commit of the sync configured in `config` in
/// `dir`, replacing its previous one; a failure only costs the next run a
/// render, and is logged.
pub fn save(dir: &Path, config: &str, rendered: &Rendered) {
    let Some(revision) = &rendered.revision else {
        return;
    };
    if let Err(error) = try_save(&file(dir, config, &rendered.inputs), revision, rendered) {
        tracing::warn!("the render of {revision} is not kept: {error}");
    }
}

fn try_save(path: &Path, revision: &str, rendered: &Rendered) -> anyhow::Result<()> {
    let build = build().ok_or_else(|| anyhow::anyhow!("the executable is not found"))?;
    let objects = rendered
        .objects
        .iter()
        .map(|o| {
            Ok(StoredObject {
                key: o.key.clone(),
                api_version: o.api_version.clone(),
                manifest: serde_json::from_str(o.manifest.text())?,
            })
        })
        .collect::<serde_json::Result<_>>()?;
    let stored = Stored {
        build,
        revision: revision.to_owned(),
        inputs: rendered.inputs.clone(),
        violations: rendered.violations.clone(),
        warnings: rendered.warnings.clone(),
        origins: rendered.origins.clone().into_iter().collect(),
        changes: rendered.changes.clone(),
        edits: rendered.edits.clone(),
        transformers: rendered.transformers.clone(),
        objects,
    };
    // Manifests can hold Secrets: only their owner reads them.
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let partial = path.with_extension("partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&partial)?, &serde_json::to_vec(&stored)?)?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(revision: &str, inputs: &str) -> Rendered {
        let objects = [
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "a", "namespace": "n"}, "data": {"k": "v \"quoted\""}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "b", "namespace": "n"}, "spec": {"replicas": 2}}),
        ];
        Rendered {
            revision: Some(revision.to_owned()),
            inputs: inputs.to_owned(),
            violations: Vec::new(),
            warnings: vec!["a fail-open policy faulted".to_owned()],
            origins: BTreeMap::new(),
            changes: Changes::default(),
            edits: None,
            transformers: Vec::new(),
            objects: objects.iter().filter_map(DesiredObject::of).collect(),
        }
    }

    #[test]
    fn a_stored_render_comes_back_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let mut kept = rendered("c0ffee", "inputs-1");
        let origin = Origin {
            file: "app/config.yaml".to_owned(),
            document: 2,
            line: 7,
        };
        let key = kept.objects[0].key.clone();
        kept.origins.insert(key.clone(), origin);
        kept.changes.added.push(key);
        kept.edits = Some(vec![Edit {
            object: "ConfigMap n/a".to_owned(),
            changes: vec!["+ metadata.labels.team".to_owned()],
        }]);
        save(dir.path(), "plumbline.yaml", &kept);
        let loaded = load(dir.path(), "plumbline.yaml", "inputs-1").expect("the render is kept");
        assert!(loaded.is_of(Some("c0ffee"), "inputs-1", Depth::Validated, true));
        assert_eq!(loaded.warnings, kept.warnings);
        assert_eq!(loaded.origins, kept.origins);
        assert_eq!(loaded.changes, kept.changes);
        assert_eq!(loaded.edits, kept.edits);
        let manifests = |r: &Rendered| -> Vec<(ObjectKey, String, Manifest)> {
            r.objects
                .iter()
                .map(|o| (o.key.clone(), o.api_version.clone(), o.manifest.clone()))
                .collect()
        };
        assert_eq!(manifests(&loaded), manifests(&kept));
    }

    #[test]
    fn a_kept_render_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("rendered");
        save(&kept, "plumbline.yaml", &rendered("c0ffee", "inputs-1"));
        let mode = |path: &Path| path.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&kept), 0o700);
        assert_eq!(mode(&file(&kept, "plumbline.yaml", "inputs-1")), 0o600);
    }

    #[test]
    fn a_render_is_reused_only_for_its_commit_and_inputs() {
        let dir = tempfile::tempdir().unwrap();
        save(
            dir.path(),
            "plumbline.yaml",
            &rendered("c0ffee", "inputs-1"),
        );
        assert!(load(dir.path(), "plumbline.yaml", "inputs-2").is_none());
        assert!(load(dir.path(), "other/plumbline.yaml", "inputs-1").is_none());
        let loaded = load(dir.path(), "plumbline.yaml", "inputs-1").unwrap();
        assert!(!loaded.is_of(Some("beef"), "inputs-1", Depth::Validated, false));
        assert!(!loaded.is_of(None, "inputs-1", Depth::Validated, false));
        // A preview shows the transformers' edits, which a sync does not
        // record.
        assert!(!loaded.is_of(Some("c0ffee"), "inputs-1", Depth::Previewed, true));
        assert!(loaded.is_of(Some("c0ffee"), "inputs-1", Depth::Previewed, false));
    }

    #[test]
    fn a_render_written_by_another_build_or_damaged_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        save(
            dir.path(),
            "plumbline.yaml",
            &rendered("c0ffee", "inputs-1"),
        );
        let path = file(dir.path(), "plumbline.yaml", "inputs-1");
        let mut stored: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        stored["build"] = json!("0.0.1 1 1");
        std::fs::write(&path, stored.to_string()).unwrap();
        assert!(load(dir.path(), "plumbline.yaml", "inputs-1").is_none());

        std::fs::write(&path, "{\"build\": ").unwrap();
        assert!(load(dir.path(), "plumbline.yaml", "inputs-1").is_none());
    }
}
