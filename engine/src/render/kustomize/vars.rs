//! The `vars` field (deprecated in kustomize, common in real
//! repositories): `$(NAME)` in some fields is replaced by a field of an
//! object of the build. No IO.
//!
//! ```yaml
//! vars:
//! - name: SERVICE
//!   objref: {apiVersion: v1, kind: Service, name: web}
//!   fieldref: {fieldpath: metadata.name}   # the default
//! ```
//!
//! As in kustomize: a var's `objref` is matched (apiVersion and kind
//! exactly, name as it is or as it was before this kustomization's
//! prefix/suffix, namespace when given) when its kustomization is built,
//! and its value is read at the end of the whole build, so it sees later
//! renames and hash suffixes. `$(NAME)` is replaced in the `varReference`
//! fields (kustomize's built-in list: container `args`, `command`,
//! `env.value` and `volumeMounts.mountPath` of workloads, NFS servers,
//! Service ports, Ingress hosts and TLS secret, `metadata.labels` and
//! `metadata.annotations`; plus those of `configurations`). A field that is exactly `$(NAME)` takes the value's
//! type (a number stays a number); `$$` escapes `$`; `$(UNKNOWN)` is left
//! as it is. A var whose object or field is missing is an error naming
//! the var and its kustomization.

use serde_json::Value;

use super::config::{Config, FieldSpec};
use super::replacement;
use super::transform::Context;
use super::Error;
use crate::object::metadata_map_mut;
use crate::render::Manifest;

/// Annotation that marks the object a var reads, until the end of the
/// build (removed there).
const MARK: &str = "internal.plumbline.dev/vars";

/// A declared var.
#[derive(Debug, Clone)]
pub(super) struct Var {
    name: String,
    field_path: String,
    /// The kustomization that declares it, and the line.
    file: String,
    line: usize,
}

impl Var {
    fn error(&self, message: String) -> Error {
        Error::Var {
            file: self.file.clone(),
            line: self.line,
            var: self.name.clone(),
            message,
        }
    }
}

/// Declare the `vars` of `k` into `declared`: mark the object each one
/// reads. `names_before` (index-aligned with `objects`) are the names
/// before this kustomization's prefix and suffix.
pub(super) fn declare(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut [Manifest],
    names_before: &[String],
    declared: &mut Vec<Var>,
    errors: &mut Vec<Error>,
) {
    let entries = match k.get("vars") {
        None | Some(Value::Null) => return,
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            errors.push(Error::Invalid {
                file: cx.file.to_owned(),
                message: "`vars` must be a list".into(),
            });
            return;
        }
    };
    let text = String::from_utf8_lossy(cx.tree.get(cx.file).unwrap_or_default());
    for (i, entry) in entries.iter().enumerate() {
        let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
        let var = Var {
            name: name.to_owned(),
            field_path: entry
                .pointer("/fieldref/fieldpath")
                .and_then(Value::as_str)
                .unwrap_or("metadata.name")
                .to_owned(),
            file: cx.file.to_owned(),
            line: super::line_of_entry(&text, "name", name),
        };
        if name.is_empty() {
            errors.push(Error::Invalid {
                file: cx.file.to_owned(),
                message: format!("vars[{}] needs a `name`", i + 1),
            });
            continue;
        }
        match ObjRef::parse(entry.get("objref")) {
            Ok(objref) => {
                let found: Vec<usize> = objects
                    .iter()
                    .zip(names_before)
                    .enumerate()
                    .filter(|(_, (m, before))| objref.matches(&m.object, before))
                    .map(|(i, _)| i)
                    .collect();
                match found[..] {
                    [i] => {
                        mark(&mut objects[i].object, name);
                        merge(declared, vec![var], errors);
                    }
                    [] => errors
                        .push(var.error(format!("objref {objref} matches no object of the build"))),
                    _ => errors.push(
                        var.error(format!("objref {objref} matches {} objects", found.len())),
                    ),
                }
            }
            Err(message) => errors.push(var.error(message)),
        }
    }
}

/// Add `vars` to `declared`; a name declared twice is an error.
pub(super) fn merge(declared: &mut Vec<Var>, vars: Vec<Var>, errors: &mut Vec<Error>) {
    for var in vars {
        match declared.iter().find(|d| d.name == var.name) {
            Some(first) => errors.push(var.error(format!(
                "declared twice (also in {} line {})",
                first.file, first.line
            ))),
            None => declared.push(var),
        }
    }
}

/// A var's `objref`.
struct ObjRef {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

impl ObjRef {
    fn parse(v: Option<&Value>) -> Result<ObjRef, String> {
        let map = v
            .and_then(Value::as_object)
            .ok_or("needs an `objref` mapping")?;
        let s = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
        let api_version = s("apiVersion").unwrap_or_else(|| {
            match (
                s("group").unwrap_or_default(),
                s("version").unwrap_or_default(),
            ) {
                (g, v) if g.is_empty() => v,
                (g, v) => format!("{g}/{v}"),
            }
        });
        Ok(ObjRef {
            api_version,
            kind: s("kind").ok_or("objref needs a `kind`")?,
            name: s("name").ok_or("objref needs a `name`")?,
            namespace: s("namespace"),
        })
    }

    /// kustomize's match: apiVersion and kind exactly, the name now or
    /// `before`, the namespace (no namespace is `default`) when given.
    fn matches(&self, object: &Value, before: &str) -> bool {
        let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
        let namespace = |ns: &str| if ns.is_empty() { "default" } else { ns }.to_owned();
        s("/apiVersion") == self.api_version
            && s("/kind") == self.kind
            && (s("/metadata/name") == self.name || before == self.name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| namespace(ns) == namespace(s("/metadata/namespace")))
    }
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let version = if self.api_version.is_empty() {
            "(no apiVersion)"
        } else {
            &self.api_version
        };
        write!(f, "{version} {} {}", self.kind, self.name)
    }
}

fn mark(object: &mut Value, name: &str) {
    if let Some(map) = metadata_map_mut(object, "annotations") {
        let names = match map.get(MARK).and_then(Value::as_str) {
            Some(names) => format!("{names},{name}"),
            None => name.to_owned(),
        };
        map.insert(MARK.into(), Value::String(names));
    }
}

/// Remove the mark from `object`; the var names it held.
fn unmark(object: &mut Value) -> Vec<String> {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Vec::new();
    };
    let Some(Value::Object(annotations)) = meta.get_mut("annotations") else {
        return Vec::new();
    };
    let Some(Value::String(names)) = annotations.remove(MARK) else {
        return Vec::new();
    };
    if annotations.is_empty() {
        meta.remove("annotations");
    }
    names.split(',').map(str::to_owned).collect()
}

/// At the end of the whole build: read every declared var from the object
/// it marks and replace `$(NAME)` in the `varReference` fields.
pub(super) fn resolve(
    declared: &[Var],
    config: &Config,
    objects: &mut [Manifest],
    errors: &mut Vec<Error>,
) {
    if declared.is_empty() {
        return;
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    let mut found: Vec<String> = Vec::new();
    for m in objects.iter_mut() {
        for name in unmark(&mut m.object) {
            let Some(var) = declared.iter().find(|v| v.name == name) else {
                continue;
            };
            match value(&m.object, &var.field_path) {
                Ok(value) => values.push((name.clone(), value)),
                Err(message) => errors.push(var.error(message)),
            }
            found.push(name);
        }
    }
    for var in declared.iter().filter(|v| !found.contains(&v.name)) {
        errors.push(var.error("its object was removed from the build".into()));
    }
    let lookup = |name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let specs: Vec<FieldSpec> = builtin_references()
        .chain(config.var_reference.iter().cloned())
        .collect();
    for m in objects.iter_mut() {
        for spec in &specs {
            spec.each(&mut m.object, false, &mut |v| match v {
                Value::Object(map) => {
                    for value in map.values_mut() {
                        replace(value, &lookup);
                    }
                }
                other => replace(other, &lookup),
            });
        }
    }
}

/// The value of `object` at a var's field path (`spec.ports[0].port`,
/// `metadata.annotations.[a.b]`). As in kustomize, brackets after a field
/// hold a list index only.
fn value(object: &Value, field_path: &str) -> Result<Value, String> {
    let mut path = Vec::new();
    for segment in replacement::segments(field_path) {
        match segment.split_once('[') {
            Some((field, rest)) if !field.is_empty() => {
                let index = rest.trim_end_matches(']');
                if !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "fieldref {field_path}: [{index}] is not a list index"
                    ));
                }
                path.extend([field.to_owned(), index.to_owned()]);
            }
            _ => path.push(segment),
        }
    }
    match replacement::get(object, &path) {
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => Ok(v),
        Some(_) => Err(format!(
            "fieldref {field_path} is not a string, number or boolean"
        )),
        None => Err(format!(
            "fieldref {field_path} does not exist in its object"
        )),
    }
}

/// Replace `$(NAME)` in a string value.
fn replace<'v>(value: &mut Value, lookup: &impl Fn(&str) -> Option<&'v Value>) {
    if let Value::String(s) = value {
        if s.contains('$') {
            *value = expand(s, lookup);
        }
    }
}

/// kustomize's expansion: `$(NAME)` is replaced by the var's value (the
/// whole string, if it is exactly `$(NAME)`: the value with its type),
/// `$$` is `$`, anything else stays as it is.
fn expand<'v>(input: &str, lookup: &impl Fn(&str) -> Option<&'v Value>) -> Value {
    let mut out = String::new();
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match lookup(name) {
                Some(v) if input.len() == name.len() + 3 => return v.clone(),
                Some(Value::String(s)) => out.push_str(s),
                Some(v) => out.push_str(&v.to_string()),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Value::String(out)
}

/// kustomize's built-in `varReference` field specs.
fn builtin_references() -> impl Iterator<Item = FieldSpec> {
    /// Workload kinds: their pod spec, and where kustomize looks for NFS
    /// servers of their volumes (its CronJob path lacks a `spec`).
    const WORKLOADS: [(&str, &str, Option<&str>); 7] = [
        (
            "CronJob",
            "spec/jobTemplate/spec/template/spec",
            Some("spec/jobTemplate/spec/template/volumes/nfs/server"),
        ),
        (
            "DaemonSet",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        (
            "Deployment",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        (
            "Job",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        ("Pod", "spec", Some("spec/volumes/nfs/server")),
        (
            "ReplicaSet",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        ("StatefulSet", "spec/template/spec", None),
    ];
    const CONTAINER_FIELDS: [&str; 4] = ["args", "command", "env/value", "volumeMounts/mountPath"];
    const OTHERS: [(Option<&str>, &str); 10] = [
        (Some("Deployment"), "spec/template/metadata/annotations"),
        (Some("Ingress"), "spec/rules/host"),
        (Some("Ingress"), "spec/tls/hosts"),
        (Some("Ingress"), "spec/tls/secretName"),
        (Some("Service"), "spec/ports/port"),
        (Some("Service"), "spec/ports/targetPort"),
        (
            Some("StatefulSet"),
            "spec/volumeClaimTemplates/spec/nfs/server",
        ),
        (Some("PersistentVolume"), "spec/nfs/server"),
        (None, "metadata/labels"),
        (None, "metadata/annotations"),
    ];
    let spec = |kind: &'static str, path: String| FieldSpec {
        kind: Some(kind.into()),
        path: path.into(),
        ..FieldSpec::builtin(None, None, "", false)
    };
    let workloads = WORKLOADS.into_iter().flat_map(move |(kind, pod, nfs)| {
        let containers = ["containers", "initContainers"]
            .into_iter()
            .flat_map(move |list| {
                CONTAINER_FIELDS
                    .into_iter()
                    .map(move |field| spec(kind, format!("{pod}/{list}/{field}")))
            });
        containers.chain(nfs.map(|path| spec(kind, path.to_owned())))
    });
    workloads.chain(
        OTHERS
            .into_iter()
            .map(|(kind, path)| FieldSpec::builtin(None, kind, path, false)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_is_kustomizes() {
        let values = [("SVC", json!("web")), ("N", json!(3))];
        let lookup = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        let e = |s: &str| expand(s, &lookup);
        assert_eq!(e("--svc=$(SVC)"), json!("--svc=web"));
        assert_eq!(e("$(N)"), json!(3));
        assert_eq!(e("$(SVC):$(N)"), json!("web:3"));
        assert_eq!(
            e("$$(SVC) $(NOPE) $(SVC x$y $"),
            json!("$(SVC) $(NOPE) $(SVC x$y $")
        );
    }

    #[test]
    fn field_paths_with_indexes_and_dotted_keys() {
        let d = json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}],
                                "ports": [{"port": 80}]}, "metadata": {"annotations": {"a.b": "c"}}});
        assert_eq!(value(&d, "spec.containers[1].image"), Ok(json!("y:2")));
        assert!(value(&d, "spec.containers[name=a].image").is_err());
        assert_eq!(value(&d, "spec.ports[0].port"), Ok(json!(80)));
        assert_eq!(value(&d, "metadata.annotations.[a.b]"), Ok(json!("c")));
        assert!(value(&d, "spec.missing").is_err());
        assert!(value(&d, "spec.ports").is_err());
    }
}
