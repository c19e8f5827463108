//! kustomization-lite: build a directory with a `kustomization.yaml` the way
//! `kubectl kustomize` does, for a subset of its fields. No IO, except
//! `helm template` for `helmCharts`.
//!
//! `fields` lists every kustomize field and whether it is built; a field
//! that is not is an [`Error::Unsupported`], never silently ignored (all of
//! a build's at once). Built: `resources`, `components`, generators
//! (`generator`), `helmCharts` (`helm_charts`), patches (`patch`:
//! strategic merge with the [`schema`] of built-in kinds or the CRD of a custom resource (`crd`),
//! JSON 6902), `namespace`, `namePrefix`, `nameSuffix`, `labels`,
//! `commonLabels`, `commonAnnotations`, `replicas`, `images`,
//! `replacements` (`replacement`), `vars` (`vars`), `configurations`
//! (`config`) and `buildMetadata: [originAnnotations]`
//! (`build_metadata`).
//!
//! Per kustomization, resources are accumulated in `resources` order, its
//! `configurations` read, then `components`, then, in kustomize's order:
//! generators (then `helmCharts`, rendered by helm: `helm_charts`),
//! `patchesStrategicMerge`, `patches`, namespace, name
//! prefix/suffix (with references to renamed objects updated), labels,
//! annotations, `patchesJson6902`, `replicas`, images, `replacements`, and
//! its `vars` find their objects. At the end of the top-level build:
//! generated objects get their hash suffix, vars are replaced, origin
//! annotations added.

mod build_metadata;
mod config;
mod crd;
mod fields;
mod generator;
mod helm_charts;
mod json6902;
mod namespace;
mod patch;
mod replacement;
mod replicas;
pub mod schema;
mod smp;
mod target;
mod transform;
mod vars;

use serde_json::Value;

use config::Config;

use super::{manifests, yaml, Manifest, RenderOptions, Tree};

pub(crate) use helm_charts::declared_in as declares_helm_charts;
pub(crate) use helm_charts::to_pull as helm_charts_to_pull;

/// File names of a kustomization, in the order kustomize looks for them.
const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A problem with a kustomization; every variant names the kustomization file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A field or form that is not built (yet), or not kustomize's.
    #[error("{file}: line {line}: field `{field}` is not supported ({reason})")]
    Unsupported {
        /// The kustomization file.
        file: String,
        /// The field, e.g. `configMapGenerator` or `patches (strategic-merge)`.
        field: String,
        /// Its line.
        line: usize,
        /// Why, e.g. `Helm is not supported yet`.
        reason: String,
    },
    /// A field has the wrong shape.
    #[error("{file}: {message}")]
    Invalid {
        /// The kustomization file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A resource, patch file or directory does not exist in the tree.
    #[error("{file}: {what} {path:?} not found")]
    NotFound {
        /// The kustomization file.
        file: String,
        /// `resource` or `patch`.
        what: &'static str,
        /// The path as written.
        path: String,
    },
    /// A path leaves the source path (or is a remote URL).
    #[error("{file}: {path:?} is outside the source path")]
    Outside {
        /// The kustomization file.
        file: String,
        /// The path as written.
        path: String,
    },
    /// A directory resource has no kustomization.
    #[error("{file}: resource directory {dir:?} has no kustomization.yaml")]
    NoKustomization {
        /// The kustomization file.
        file: String,
        /// The directory.
        dir: String,
    },
    /// Kustomizations include each other in a cycle.
    #[error("{file}: resource {dir:?} is included in a cycle")]
    Cycle {
        /// The kustomization file.
        file: String,
        /// The directory that closes the cycle.
        dir: String,
    },
    /// A var cannot be resolved (or is declared twice).
    #[error("{file}: line {line}: var `{var}`: {message}")]
    Var {
        /// The kustomization that declares the var.
        file: String,
        /// The line of its declaration.
        line: usize,
        /// The var's name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A patch could not be applied.
    #[error("{file}: {patch} on {object}: {message}")]
    Patch {
        /// The kustomization file.
        file: String,
        /// Which patch: field, index and file, e.g.
        /// `patches[2] (overlay/patch.yaml)`.
        patch: String,
        /// The object patched (`Kind name`).
        object: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// A short machine-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Unsupported { .. } => "KustomizeUnsupported",
            Error::Invalid { .. } => "KustomizeInvalid",
            Error::NotFound { .. } => "KustomizeNotFound",
            Error::Outside { .. } => "KustomizeOutside",
            Error::NoKustomization { .. } => "KustomizeNoKustomization",
            Error::Cycle { .. } => "KustomizeCycle",
            Error::Patch { .. } => "KustomizePatchFailed",
            Error::Var { .. } => "KustomizeVar",
        }
    }
}

/// The kustomization file of directory `dir` (`""` is the root), if any.
pub(crate) fn kustomization_file(tree: &Tree, dir: &str) -> Option<String> {
    FILE_NAMES
        .iter()
        .map(|name| join(dir, name))
        .find(|path| tree.get(path).is_some())
}

/// Build the kustomization in `dir`. Problems go to `errors`.
pub(crate) fn build(
    tree: &Tree,
    dir: &str,
    options: &RenderOptions,
    errors: &mut Vec<super::Error>,
) -> Vec<Manifest> {
    let mut stack = Vec::new();
    let mut builder = Builder {
        tree,
        options,
        errors,
    };
    let mut built = builder.build(dir, &mut stack);
    let mut problems = Vec::new();
    generator::add_hashes(&mut built.objects, &built.config);
    vars::resolve(
        &built.vars,
        &built.config,
        &mut built.objects,
        &mut problems,
    );
    if built.origin_annotations {
        build_metadata::annotate_origins(dir, &mut built.objects);
    }
    for e in problems {
        builder.error(e);
    }
    built.objects
}

/// What building a kustomization accumulates from itself and everything
/// it includes: objects, the field specs of `configurations`, and the
/// declared `vars` (both flow upwards, as in kustomize); and whether the
/// rendered kustomization asks for origin annotations.
#[derive(Default)]
struct Accumulated {
    objects: Vec<Manifest>,
    config: Config,
    vars: Vec<vars::Var>,
    origin_annotations: bool,
}

struct Builder<'a> {
    tree: &'a Tree,
    options: &'a RenderOptions,
    errors: &'a mut Vec<super::Error>,
}

impl Builder<'_> {
    fn error(&mut self, e: Error) {
        self.errors.push(super::Error::Kustomize(e));
    }

    fn build(&mut self, dir: &str, stack: &mut Vec<String>) -> Accumulated {
        let mut built = Accumulated::default();
        self.accumulate(dir, Kind::Kustomization, stack, &mut built);
        built
    }

    /// Read the kustomization (or component) in `dir`, add its resources
    /// and components to `acc`, then run its patches and transformers
    /// on all of `acc.objects`, as kustomize does.
    fn accumulate(
        &mut self,
        dir: &str,
        expected: Kind,
        stack: &mut Vec<String>,
        acc: &mut Accumulated,
    ) {
        let Some(file) = kustomization_file(self.tree, dir) else {
            return;
        };
        let bytes = self.tree.get(&file).unwrap_or_default();
        let docs = yaml::parse(&file, bytes, self.options, self.errors);
        let Some(k) = docs.into_iter().next().map(|d| d.value) else {
            return;
        };
        let Some(fields) = k.as_object() else {
            self.error(Error::Invalid {
                file,
                message: "a kustomization must be a mapping".into(),
            });
            return;
        };
        let text = String::from_utf8_lossy(bytes);
        // kustomize builds a Component as the rendered directory too.
        let top = stack.is_empty();
        let mut refused = fields::check(fields, &file, &text);
        let (origins, refused_metadata) = build_metadata::check(&k, &file, &text);
        refused.extend(refused_metadata);
        let mut ok = refused.is_empty();
        for e in refused {
            self.error(e);
        }
        if top {
            acc.origin_annotations = origins;
        }
        let kind = k
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("Kustomization");
        if kind != expected.name() && !(top && kind == Kind::Component.name()) {
            self.error(Error::Invalid {
                file: file.clone(),
                message: format!("kind {kind:?} where a {} is expected", expected.name()),
            });
            ok = false;
        }
        // Resources and components are read even when this kustomization
        // is refused, so that one render reports every refused field.
        let mut errors = Vec::new();
        stack.push(dir.to_owned());
        for resource in strings(&k, "resources", &file, self.errors) {
            self.resource(dir, &file, &resource, stack, acc, &mut errors);
        }
        let own = Config::load(&k, &file, dir, self.tree, self.options, &mut errors);
        acc.config.merge(own);
        for component in strings(&k, "components", &file, self.errors) {
            if let Some(path) = self.directory(dir, &file, &component, stack) {
                self.accumulate(&path, Kind::Component, stack, acc);
            }
        }
        stack.pop();
        if !ok {
            for e in errors {
                self.error(e);
            }
            return;
        }

        let context = transform::Context {
            file: &file,
            dir,
            tree: self.tree,
            options: self.options,
            config: &acc.config,
        };
        let objects = &mut acc.objects;
        let line = |field: &str| line_of_key(&text, field);
        generator::generate(&k, &context, line, objects, &mut errors);
        helm_charts::generate(&k, &context, objects, &mut errors, self.errors);
        patch::strategic_merge(&k, &context, objects, &mut errors);
        patch::patches(&k, &context, objects, &mut errors);
        let names_before: Vec<String> = objects
            .iter()
            .map(|m| {
                m.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        transform::apply(&k, &context, objects, &mut errors);
        patch::json6902(&k, &context, objects, &names_before, &mut errors);
        replicas::apply(&k, &context, objects, &names_before, &mut errors);
        transform::images(&k, &context, objects, &mut errors);
        replacement::apply(&k, &context, objects, &names_before, &mut errors);
        vars::declare(
            &k,
            &context,
            objects,
            &names_before,
            &mut acc.vars,
            &mut errors,
        );
        for e in errors {
            self.error(e);
        }
    }

    /// Add resource `resource` (a file, or a directory with a
    /// kustomization) to `acc`.
    fn resource(
        &mut self,
        dir: &str,
        file: &str,
        resource: &str,
        stack: &mut Vec<String>,
        acc: &mut Accumulated,
        errors: &mut Vec<Error>,
    ) {
        if let Some(path) = resolve(dir, resource) {
            if let Some(bytes) = self.tree.get(&path) {
                let objects = manifests::from_file(&path, bytes, self.options, self.errors);
                acc.objects.extend(objects);
                return;
            }
        }
        if let Some(path) = self.directory(dir, file, resource, stack) {
            let built = self.build(&path, stack);
            acc.objects.extend(built.objects);
            acc.config.merge(built.config);
            vars::merge(&mut acc.vars, built.vars, errors);
        }
    }

    /// The directory `relative` names from `dir`, if it is inside the tree,
    /// has a kustomization and does not close a cycle; else the problem is
    /// reported.
    fn directory(
        &mut self,
        dir: &str,
        file: &str,
        relative: &str,
        stack: &[String],
    ) -> Option<String> {
        let Some(path) = resolve(dir, relative) else {
            self.error(Error::Outside {
                file: file.to_owned(),
                path: relative.to_owned(),
            });
            return None;
        };
        let problem = if !self.tree.is_dir(&path) && !path.is_empty() {
            Error::NotFound {
                file: file.to_owned(),
                what: "resource",
                path: relative.to_owned(),
            }
        } else if stack.contains(&path) {
            Error::Cycle {
                file: file.to_owned(),
                dir: relative.to_owned(),
            }
        } else if kustomization_file(self.tree, &path).is_none() {
            Error::NoKustomization {
                file: file.to_owned(),
                dir: relative.to_owned(),
            }
        } else {
            return Some(path);
        };
        self.error(problem);
        None
    }
}

/// What a kustomization file must be where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A resource directory or the rendered directory (which may also be
    /// a Component).
    Kustomization,
    /// An entry of `components`.
    Component,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Kustomization => "Kustomization",
            Kind::Component => "Component",
        }
    }
}

/// `dir/name`, or `name` at the root.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Resolve `relative` against `dir` inside the tree; `None` if it leaves the
/// tree or is a URL.
pub(crate) fn resolve(dir: &str, relative: &str) -> Option<String> {
    if relative.contains("://") || relative.starts_with('/') || relative.starts_with("git@") {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split('/') {
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

/// The list of strings under `key`; a wrong shape is reported.
fn strings(k: &Value, key: &str, file: &str, errors: &mut Vec<super::Error>) -> Vec<String> {
    match k.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            errors.push(super::Error::Kustomize(Error::Invalid {
                file: file.to_owned(),
                message: format!("`{key}` must be a list of strings"),
            }));
            Vec::new()
        }
    }
}

/// The 1-based line where top-level `key:` appears (1 if not found).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .or_else(|| {
                    l.strip_prefix('"')
                        .and_then(|l| l.strip_prefix(key))
                        .and_then(|l| l.strip_prefix('"'))
                })
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(1, |i| i + 1)
}

/// The 1-based line of the first `key: value` (or `- key: value`, value
/// quoted or not) at any indentation in `text` (1 if not found).
fn line_of_entry(text: &str, key: &str, value: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.strip_prefix(key)
                .and_then(|rest| rest.trim_start().strip_prefix(':'))
                .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == value)
        })
        .map_or(1, |i| i + 1)
}

/// The 1-based line of the first `key:` at any indentation in the
/// kustomization of `cx` (1 if not found).
fn line_of_key_anywhere(cx: &transform::Context<'_>, key: &str) -> usize {
    let text = String::from_utf8_lossy(cx.tree.get(cx.file).unwrap_or_default());
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside_the_tree() {
        assert_eq!(resolve("a/b", "../c/d.yaml").as_deref(), Some("a/c/d.yaml"));
        assert_eq!(resolve("", "./x").as_deref(), Some("x"));
        assert_eq!(resolve("a", "../.."), None);
        assert_eq!(resolve("", "https://github.com/x/y"), None);
    }

    #[test]
    fn key_lines() {
        assert_eq!(
            line_of_key("a: 1\nconfigMapGenerator:\n- x\n", "configMapGenerator"),
            2
        );
    }
}
