//! The patch fields of a kustomization: `patchesStrategicMerge`, `patches`
//! (strategic-merge or JSON-6902, with or without `target`) and
//! `patchesJson6902`. Reads the patch text (inline or a file of the tree)
//! and applies it to the matching objects. No IO.

use serde_json::Value;

use super::target::Target;
use super::transform::Context;
use super::{crd, json6902, resolve, smp, Error};
use crate::render::{yaml, Manifest};

/// One patch, parsed.
enum Patch {
    /// JSON-6902 operations, on the objects of a target.
    Json6902 { target: Target, ops: Vec<Value> },
    /// A strategic-merge patch, on the objects of a target or, without
    /// one, on the object it names itself.
    Strategic {
        target: Option<Target>,
        patch: Value,
    },
}

/// Where a patch came from, for error messages.
struct Source {
    /// `patches`, `patchesStrategicMerge` or `patchesJson6902`.
    field: &'static str,
    /// 1-based index in the field.
    index: usize,
    /// The patch file, or `inline`.
    file: String,
}

impl Source {
    fn describe(&self) -> String {
        format!("{}[{}] ({})", self.field, self.index, self.file)
    }
}

/// `patchesStrategicMerge`: file paths or inline patches, each possibly
/// with many documents.
pub(super) fn strategic_merge(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut Vec<Manifest>,
    errors: &mut Vec<Error>,
) {
    for (index, entry) in entries(k, "patchesStrategicMerge", cx, errors) {
        let Some(text) = entry.as_str() else {
            errors.push(invalid(
                cx,
                format!("patchesStrategicMerge[{index}] must be a string"),
            ));
            continue;
        };
        // kustomize reads an entry as a file when it names one, else as an
        // inline patch.
        let file = resolve(cx.dir, text).filter(|p| cx.tree.get(p).is_some());
        let (file, text) = match file {
            Some(path) => {
                let bytes = cx.tree.get(&path).unwrap_or_default();
                (path, String::from_utf8_lossy(bytes).into_owned())
            }
            None if text.contains('\n') || text.contains(": ") => {
                ("inline".to_owned(), text.to_owned())
            }
            None => {
                errors.push(Error::NotFound {
                    file: cx.file.to_owned(),
                    what: "patch",
                    path: text.to_owned(),
                });
                continue;
            }
        };
        let source = Source {
            field: "patchesStrategicMerge",
            index,
            file,
        };
        for patch in documents(&text, &source, cx, errors) {
            if patch.is_array() {
                errors.push(invalid(
                    cx,
                    format!(
                        "{}: expected a strategic-merge patch, found a list",
                        source.describe()
                    ),
                ));
                continue;
            }
            apply(
                &Patch::Strategic {
                    target: None,
                    patch,
                },
                &source,
                cx,
                objects,
                errors,
            );
        }
    }
}

/// `patches`: `{path | patch, target, options}`; JSON-6902 when the patch
/// is a list of operations, strategic-merge otherwise.
pub(super) fn patches(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut Vec<Manifest>,
    errors: &mut Vec<Error>,
) {
    for (index, entry) in entries(k, "patches", cx, errors) {
        match read_entry(
            entry,
            "patches",
            index,
            &["path", "patch", "target", "options"],
            cx,
        ) {
            Ok((source, text, target)) => {
                for patch in parse(&text, target, &source, cx, errors) {
                    apply(&patch, &source, cx, objects, errors);
                }
            }
            Err(e) => errors.push(e),
        }
    }
}

/// `patchesJson6902`: `{target, path | patch}` with JSON-6902 operations.
/// It runs after the name prefix and suffix; a target name also matches
/// the name an object had before them (`names_before`, index-aligned).
pub(super) fn json6902(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut [Manifest],
    names_before: &[String],
    errors: &mut Vec<Error>,
) {
    for (index, entry) in entries(k, "patchesJson6902", cx, errors) {
        match read_entry(
            entry,
            "patchesJson6902",
            index,
            &["path", "patch", "target"],
            cx,
        ) {
            Ok((source, text, target)) => {
                for patch in parse(&text, target, &source, cx, errors) {
                    let Patch::Json6902 { target, ops } = patch else {
                        errors.push(invalid(
                            cx,
                            format!(
                                "{}: expected a list of JSON-6902 operations",
                                source.describe()
                            ),
                        ));
                        continue;
                    };
                    for (m, before) in objects.iter_mut().zip(names_before) {
                        if target.matches(&m.object) || target.matches_as(&m.object, before) {
                            if let Err(message) = json6902::apply_ops(&mut m.object, &ops) {
                                errors.push(Error::Patch {
                                    file: cx.file.to_owned(),
                                    patch: source.describe(),
                                    object: describe(&m.object),
                                    message,
                                });
                            }
                        }
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
}

/// The entries of list field `key`, with 1-based indexes.
fn entries<'k>(
    k: &'k Value,
    key: &str,
    cx: &Context<'_>,
    errors: &mut Vec<Error>,
) -> Vec<(usize, &'k Value)> {
    match k.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().enumerate().map(|(i, v)| (i + 1, v)).collect(),
        Some(_) => {
            errors.push(invalid(cx, format!("`{key}` must be a list")));
            Vec::new()
        }
    }
}

fn invalid(cx: &Context<'_>, message: String) -> Error {
    Error::Invalid {
        file: cx.file.to_owned(),
        message,
    }
}

fn describe(object: &Value) -> String {
    let get = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("?");
    format!("{} {}", get("/kind"), get("/metadata/name"))
}

/// Read a `{path | patch, target}` entry: where it is from, its text and
/// its target.
fn read_entry(
    entry: &Value,
    field: &'static str,
    index: usize,
    known: &[&str],
    cx: &Context<'_>,
) -> Result<(Source, String, Option<Target>), Error> {
    let Some(map) = entry.as_object() else {
        return Err(invalid(cx, format!("{field}[{index}] must be a mapping")));
    };
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            return Err(Error::Unsupported {
                file: cx.file.to_owned(),
                field: format!("{field}[{index}].{key}"),
                line: super::line_of_key_anywhere(cx, key),
                reason: "not supported yet".into(),
            });
        }
    }
    if let Some(options) = map.get("options").and_then(Value::as_object) {
        if options.values().any(|v| v == &Value::Bool(true)) {
            return Err(Error::Unsupported {
                file: cx.file.to_owned(),
                field: format!("{field}[{index}].options"),
                line: super::line_of_key_anywhere(cx, "options"),
                reason: "allowNameChange and allowKindChange are not supported yet".into(),
            });
        }
    }
    let (file, text) = match (map.get("patch"), map.get("path")) {
        (Some(Value::String(inline)), None) => ("inline".to_owned(), inline.clone()),
        (None, Some(Value::String(path))) => {
            let resolved = resolve(cx.dir, path).ok_or_else(|| Error::Outside {
                file: cx.file.to_owned(),
                path: path.clone(),
            })?;
            let bytes = cx.tree.get(&resolved).ok_or_else(|| Error::NotFound {
                file: cx.file.to_owned(),
                what: "patch",
                path: path.clone(),
            })?;
            (resolved, String::from_utf8_lossy(bytes).into_owned())
        }
        _ => {
            return Err(invalid(
                cx,
                format!("{field}[{index}] needs exactly one of `patch` (a string) or `path`"),
            ))
        }
    };
    let target = match map.get("target") {
        Some(t) => Some(
            Target::parse(t).map_err(|m| invalid(cx, format!("{field}[{index}].target: {m}")))?,
        ),
        None => None,
    };
    Ok((Source { field, index, file }, text, target))
}

/// The documents of a patch's text.
fn documents(text: &str, source: &Source, cx: &Context<'_>, errors: &mut Vec<Error>) -> Vec<Value> {
    let mut parse_errors = Vec::new();
    let docs = yaml::parse(&source.file, text.as_bytes(), cx.options, &mut parse_errors);
    for e in parse_errors {
        errors.push(invalid(cx, format!("{}: {e}", source.describe())));
    }
    docs.into_iter().map(|d| d.value).collect()
}

/// Parse a `patches`-style text: one list of JSON-6902 operations, or
/// strategic-merge documents.
fn parse(
    text: &str,
    target: Option<Target>,
    source: &Source,
    cx: &Context<'_>,
    errors: &mut Vec<Error>,
) -> Vec<Patch> {
    let docs = documents(text, source, cx, errors);
    if docs.is_empty() {
        errors.push(invalid(cx, format!("{} is empty", source.describe())));
        return Vec::new();
    }
    if let [Value::Array(ops)] = &docs[..] {
        let Some(target) = target else {
            errors.push(invalid(
                cx,
                format!("{}: a JSON-6902 patch needs a `target`", source.describe()),
            ));
            return Vec::new();
        };
        return vec![Patch::Json6902 {
            target,
            ops: ops.clone(),
        }];
    }
    docs.into_iter()
        .map(|patch| Patch::Strategic {
            target: target.clone(),
            patch,
        })
        .collect()
}

/// Apply one patch to the objects it selects.
fn apply(
    patch: &Patch,
    source: &Source,
    cx: &Context<'_>,
    objects: &mut Vec<Manifest>,
    errors: &mut Vec<Error>,
) {
    let failed = |object: &Value, message: String| Error::Patch {
        file: cx.file.to_owned(),
        patch: source.describe(),
        object: describe(object),
        message,
    };
    match patch {
        Patch::Json6902 { target, ops } => {
            for m in objects.iter_mut().filter(|m| target.matches(&m.object)) {
                if let Err(message) = json6902::apply_ops(&mut m.object, ops) {
                    errors.push(failed(&m.object, message));
                }
            }
        }
        Patch::Strategic { target, patch } => {
            let selected: Vec<usize> = objects
                .iter()
                .enumerate()
                .filter(|(_, m)| match target {
                    Some(t) => t.matches(&m.object),
                    None => names(patch, &m.object),
                })
                .map(|(i, _)| i)
                .collect();
            if selected.is_empty() && target.is_none() {
                errors.push(failed(patch, "matches no object of the build".into()));
            }
            let patch = match target {
                Some(_) => without_identity(patch),
                None => patch.clone(),
            };
            for i in selected.into_iter().rev() {
                let crd_schema = crd::schema_for(objects, &objects[i].object);
                let outcome = smp::apply(&mut objects[i].object, &patch, crd_schema.as_ref());
                if outcome == smp::Outcome::Deleted {
                    objects.remove(i);
                }
            }
        }
    }
}

/// Whether a strategic-merge patch without target names `object`: same
/// apiVersion, kind and name, and the same namespace (none counts as
/// `default`).
fn names(patch: &Value, object: &Value) -> bool {
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let namespace = |v: &Value| s(v, "/metadata/namespace").unwrap_or_else(|| "default".into());
    ["/apiVersion", "/kind", "/metadata/name"]
        .iter()
        .all(|p| s(patch, p) == s(object, p))
        && namespace(patch) == namespace(object)
}

/// A targeted patch without the identity it names itself (apiVersion,
/// kind, name, namespace): kustomize patches the targets as they are.
fn without_identity(patch: &Value) -> Value {
    let mut patch = patch.clone();
    if let Some(map) = patch.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            meta.remove("name");
            meta.remove("namespace");
        }
    }
    patch
}
