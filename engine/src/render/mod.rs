//! Turn manifest files into objects.
//!
//! In: a [`Tree`] (path → bytes, from [`crate::source`]) and
//! [`RenderOptions`] (which directory of the tree to render, size limit).
//! Out: [`Rendered`], the objects in file order, each with its [`Origin`]
//! (file, document, line); or [`Errors`], every problem of the render at
//! once. Pure (no IO), except for Helm charts ([`helm`]).
//!
//! - Without a kustomization in the rendered directory, every `*.yaml`,
//!   `*.yml` and `*.json` file under it is read (recursively, in path order);
//!   files and directories starting with `.` and files matched by a
//!   `.plumblineignore` there (gitignore syntax) are skipped. A subdirectory
//!   holding a kustomization is built as one instead of read file by file.
//! - With `kustomization.yaml`, `kustomization.yml` or `Kustomization`
//!   there, the kustomization is built ([`kustomize`] lists the supported
//!   fields; any other field is an error).
//! - Multi-document YAML and JSON are read with size, depth and alias limits
//!   (see `yaml.rs`); `kind: List` and other `*List` kinds are flattened.
//! - Every object needs `apiVersion`, `kind` and `metadata.name`, and no two
//!   objects may share group, kind, namespace and name (not even in two
//!   versions: the API server stores them as one object).
//! - A path that is not in the tree is an error, and so is a render without
//!   objects unless [`RenderOptions::allow_empty`] is set.
//! - A Helm chart is rendered by [`helm::render`] (IO: it runs `helm
//!   template`), whose output goes through the same checks.

pub mod helm;
mod ignore;
pub mod kustomize;
mod manifests;
mod yaml;

use std::fmt;

use serde_json::Value;

use crate::object::ObjectKey;
pub use crate::source::Tree;

/// Options of a render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Directory of the tree to render, `/`-separated (`""`, the default, is
    /// the root). Kustomizations may reach other directories of the tree
    /// (`../base`), never outside it.
    pub path: String,
    /// Largest manifest file that is parsed, in bytes (checked before
    /// parsing). Default 8 MiB.
    pub max_file_size: u64,
    /// Whether a render without objects is a success. Default false: an
    /// empty render is [`Error::Empty`], so a mistake (a wrong path, a
    /// kustomization that builds nothing) can never look like "delete
    /// everything".
    pub allow_empty: bool,
    /// How Helm charts are rendered (the chart of a sync, and kustomize's
    /// `helmCharts`): which `helm`, its bounds, the target cluster's
    /// capabilities.
    pub helm: helm::HelmOptions,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            path: String::new(),
            max_file_size: 8 << 20,
            allow_empty: false,
            helm: helm::HelmOptions::default(),
        }
    }
}

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// File path relative to the tree root.
    pub file: String,
    /// 1-based index of the document in the file.
    pub document: usize,
    /// 1-based line where the document starts (for items of a `List`, the
    /// line of the list).
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.file, self.document, self.line
        )
    }
}

/// One rendered object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object, as JSON.
    pub object: Value,
    /// Its origin. For kustomizations: the resource file it was read from.
    pub origin: Origin,
}

/// The result of a render.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rendered {
    /// The objects, in file order (kustomizations: in `resources` order).
    pub objects: Vec<Manifest>,
}

/// One problem found while rendering. Every variant names the file and,
/// where there is one, the document and line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A file is larger than [`RenderOptions::max_file_size`].
    #[error("{file}: {size} bytes, more than the limit of {limit}")]
    FileTooLarge {
        /// The file.
        file: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest file is not UTF-8 text.
    #[error("{file}: not UTF-8 text")]
    NotUtf8 {
        /// The file.
        file: String,
    },
    /// Invalid YAML or JSON, or input beyond the parser's limits (nesting,
    /// alias expansion).
    #[error("{file}: document {document}, line {line} column {column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A document is not a mapping (e.g. a bare string or list).
    #[error("{origin}: expected an object, found {found}")]
    NotAnObject {
        /// The document.
        origin: Origin,
        /// What was found.
        found: &'static str,
    },
    /// An object lacks `apiVersion`, `kind` or `metadata.name`.
    #[error("{origin}: object has no {field}")]
    MissingField {
        /// The document.
        origin: Origin,
        /// The missing field.
        field: &'static str,
    },
    /// Two objects have the same identity.
    #[error("duplicate object {key}: {first} and {second}")]
    Duplicate {
        /// The shared identity.
        key: ObjectKey,
        /// Where it appeared first.
        first: Origin,
        /// Where it appeared again.
        second: Origin,
    },
    /// Two objects are one object of the API server in two versions: the
    /// same group, kind, namespace and name with different `apiVersion`s
    /// (kubebuilder's v1 and v2 samples of one resource, say). Applying
    /// both would make one overwrite the other.
    #[error(
        "same object in two versions: {key} is {first_version} in {first} and {second_version} in {second} (the API server stores one object; keep one version)"
    )]
    TwoVersions {
        /// The shared identity.
        key: ObjectKey,
        /// The `apiVersion` where it appeared first.
        first_version: String,
        /// Where it appeared first.
        first: Origin,
        /// The other `apiVersion`.
        second_version: String,
        /// Where it appeared again.
        second: Origin,
    },
    /// The directory to render ([`RenderOptions::path`]) is not in the
    /// tree.
    #[error("path {path:?} does not exist in the source")]
    PathNotFound {
        /// The path as given.
        path: String,
    },
    /// The render produced no objects and [`RenderOptions::allow_empty`] is
    /// not set.
    #[error(
        "path {path:?} renders no objects (set allowEmpty: true in the sync if that is intended)"
    )]
    Empty {
        /// The rendered path (`""` is the root).
        path: String,
    },
    /// A kustomization could not be built.
    #[error(transparent)]
    Kustomize(#[from] kustomize::Error),
    /// A Helm chart could not be rendered.
    #[error(transparent)]
    Helm(#[from] helm::Error),
}

impl Error {
    /// A short machine-readable reason, for metrics and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::FileTooLarge { .. } => "FileTooLarge",
            Error::NotUtf8 { .. } => "NotUTF8",
            Error::Syntax { .. } => "InvalidSyntax",
            Error::NotAnObject { .. } => "NotAnObject",
            Error::MissingField { .. } => "MissingField",
            Error::Duplicate { .. } => "DuplicateObject",
            Error::TwoVersions { .. } => "ObjectInTwoVersions",
            Error::PathNotFound { .. } => "PathNotFound",
            Error::Empty { .. } => "EmptyRender",
            Error::Kustomize(e) => e.reason(),
            Error::Helm(e) => e.reason(),
        }
    }
}

/// All errors of one render, in the order they were found.
#[derive(Debug, Clone, PartialEq)]
pub struct Errors(pub Vec<Error>);

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} render error(s):", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// Result of this module: rendered objects, or every error found.
pub type Result<T, E = Errors> = std::result::Result<T, E>;

/// Render `tree` into objects; see the module documentation for the rules.
pub fn render(tree: &Tree, options: &RenderOptions) -> Result<Rendered> {
    let root = options.path.trim_matches('/');
    if !root.is_empty() && !tree.is_dir(root) {
        return Err(Errors(vec![Error::PathNotFound {
            path: options.path.clone(),
        }]));
    }
    let mut errors = Vec::new();
    let objects = if kustomize::kustomization_file(tree, root).is_some() {
        kustomize::build(tree, root, options, &mut errors)
    } else {
        plain(tree, root, options, &mut errors)
    };
    finish(objects, errors, root, options)
}

/// The checks every render ends with: no duplicate objects, and no empty
/// render unless allowed.
fn finish(
    objects: Vec<Manifest>,
    mut errors: Vec<Error>,
    root: &str,
    options: &RenderOptions,
) -> Result<Rendered> {
    check_duplicates(&objects, &mut errors);
    if errors.is_empty() && objects.is_empty() && !options.allow_empty {
        errors.push(Error::Empty {
            path: root.to_owned(),
        });
    }
    if errors.is_empty() {
        Ok(Rendered { objects })
    } else {
        Err(Errors(errors))
    }
}

/// Whether `path` names a manifest file by its extension.
pub(crate) fn is_manifest(path: &str) -> bool {
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// Render the directory `root` of a tree that has no kustomization there.
fn plain(
    tree: &Tree,
    root: &str,
    options: &RenderOptions,
    errors: &mut Vec<Error>,
) -> Vec<Manifest> {
    let ignore = ignore::Ignore::from_tree(tree, root);
    let prefix = if root.is_empty() {
        String::new()
    } else {
        format!("{root}/")
    };
    let mut parts: Vec<Part> = Vec::new();
    let mut built: Vec<String> = Vec::new();
    for (path, bytes) in tree.iter() {
        let Some(relative) = path.strip_prefix(&prefix) else {
            continue;
        };
        if relative.split('/').any(|part| part.starts_with('.')) || ignore.is_ignored(relative) {
            continue;
        }
        // The top-most directory with a kustomization owns the file.
        let segments: Vec<&str> = relative.split('/').collect();
        let owner = (1..segments.len())
            .map(|n| format!("{prefix}{}", segments[..n].join("/")))
            .find(|dir| kustomize::kustomization_file(tree, dir).is_some());
        if let Some(dir) = owner {
            if !built.contains(&dir) {
                built.push(dir.clone());
                parts.push(Part::Kustomization(dir));
            }
            continue;
        }
        if is_manifest(path) {
            parts.push(Part::File(path, bytes));
        }
    }
    let mut files = parse_in_parallel(&parts, options).into_iter();
    let mut objects = Vec::new();
    for part in &parts {
        match part {
            Part::Kustomization(dir) => {
                objects.extend(kustomize::build(tree, dir, options, errors))
            }
            Part::File(..) => {
                let (manifests, file_errors) = files.next().unwrap_or_default();
                objects.extend(manifests);
                errors.extend(file_errors);
            }
        }
    }
    objects
}

/// What a plain directory is made of, in the tree's order.
enum Part<'a> {
    /// A manifest file: its path and content.
    File(&'a str, &'a [u8]),
    /// A directory with a kustomization, built as a whole.
    Kustomization(String),
}

/// Parse the manifest files of `parts` on every core, each file's objects
/// and errors in the order of the files.
fn parse_in_parallel(parts: &[Part], options: &RenderOptions) -> Vec<(Vec<Manifest>, Vec<Error>)> {
    let files: Vec<(&str, &[u8])> = parts
        .iter()
        .filter_map(|part| match part {
            Part::File(path, bytes) => Some((*path, *bytes)),
            Part::Kustomization(_) => None,
        })
        .collect();
    crate::parallel::map(&files, |(path, bytes)| {
        let mut errors = Vec::new();
        let manifests = manifests::from_file(path, bytes, options, &mut errors);
        (manifests, errors)
    })
}

fn check_duplicates(objects: &[Manifest], errors: &mut Vec<Error>) {
    let mut seen: std::collections::HashMap<ObjectKey, &Manifest> = Default::default();
    let api_version = |m: &Manifest| {
        m.object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    for m in objects {
        let Some(key) = ObjectKey::of(&m.object) else {
            continue;
        };
        let Some(first) = seen.get(&key) else {
            seen.insert(key, m);
            continue;
        };
        let (first_version, second_version) = (api_version(first), api_version(m));
        errors.push(if first_version == second_version {
            Error::Duplicate {
                key,
                first: first.origin.clone(),
                second: m.origin.clone(),
            }
        } else {
            Error::TwoVersions {
                key,
                first_version,
                first: first.origin.clone(),
                second_version,
                second: m.origin.clone(),
            }
        });
    }
}
