//! JSON-6902 `patches` with a `target` selector. No IO.

use regex_lite::Regex;
use serde_json::Value;

use super::transform::Context;
use super::{resolve, Error};
use crate::render::{yaml, Manifest};

/// Apply every entry of `patches` in order.
pub(super) fn apply(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut [Manifest],
    errors: &mut Vec<Error>,
) {
    let Some(patches) = k.get("patches") else {
        return;
    };
    let Some(patches) = patches.as_array() else {
        errors.push(invalid(cx, "`patches` must be a list".into()));
        return;
    };
    for (i, entry) in patches.iter().enumerate() {
        let index = i + 1;
        match prepare(entry, index, cx) {
            Ok((target, ops)) => {
                for m in objects.iter_mut() {
                    if target.matches(&m.object) {
                        if let Err(message) = apply_ops(&mut m.object, &ops) {
                            errors.push(Error::Patch {
                                file: cx.file.to_owned(),
                                index,
                                object: describe(&m.object),
                                message,
                            });
                        }
                    }
                }
            }
            Err(e) => errors.push(e),
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

/// Read one `patches` entry: its target and its operations.
fn prepare(entry: &Value, index: usize, cx: &Context<'_>) -> Result<(Target, Vec<Value>), Error> {
    let Some(map) = entry.as_object() else {
        return Err(invalid(cx, format!("patches[{index}] must be a mapping")));
    };
    for key in map.keys() {
        if !["path", "patch", "target"].contains(&key.as_str()) {
            return Err(Error::Unsupported {
                file: cx.file.to_owned(),
                field: format!("patches.{key}"),
                line: super::line_of_key_anywhere(cx, key),
            });
        }
    }
    let (name, text) = match (map.get("patch"), map.get("path")) {
        (Some(Value::String(inline)), None) => {
            (format!("{} patch {index}", cx.file), inline.clone())
        }
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
                format!("patches[{index}] needs exactly one of `patch` (a string) or `path`"),
            ))
        }
    };
    let mut parse_errors = Vec::new();
    let docs = yaml::parse(&name, text.as_bytes(), cx.options, &mut parse_errors);
    if let Some(e) = parse_errors.into_iter().next() {
        return Err(invalid(cx, format!("patches[{index}]: {e}")));
    }
    let ops = match docs.into_iter().next().map(|d| d.value) {
        Some(Value::Array(ops)) => ops,
        Some(Value::Object(_)) => {
            return Err(Error::Unsupported {
                file: cx.file.to_owned(),
                field: "patches (strategic-merge)".into(),
                line: super::line_of_key_anywhere(cx, "patches"),
            })
        }
        _ => return Err(invalid(cx, format!("patches[{index}] is empty"))),
    };
    let target = match map.get("target") {
        Some(t) => {
            Target::parse(t).map_err(|m| invalid(cx, format!("patches[{index}].target: {m}")))?
        }
        None => {
            return Err(invalid(
                cx,
                format!("patches[{index}]: a JSON-6902 patch needs a `target`"),
            ))
        }
    };
    Ok((target, ops))
}

/// A patch target: anchored regular expressions and label/annotation
/// selectors.
struct Target {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

impl Target {
    fn parse(v: &Value) -> Result<Self, String> {
        let map = v.as_object().ok_or("must be a mapping")?;
        let known = [
            "group",
            "version",
            "kind",
            "name",
            "namespace",
            "labelSelector",
            "annotationSelector",
        ];
        if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown field {k}"));
        }
        let re = |key: &str| -> Result<Option<Regex>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Regex::new(&format!("^(?:{s})$"))
                    .map(Some)
                    .map_err(|e| format!("{key}: {e}")),
                Some(_) => Err(format!("{key} must be a string")),
            }
        };
        let selector = |key: &str| -> Result<Vec<Requirement>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => {
                    Requirement::parse_all(s).map_err(|e| format!("{key}: {e}"))
                }
                Some(_) => Err(format!("{key} must be a string")),
            }
        };
        Ok(Self {
            group: re("group")?,
            version: re("version")?,
            kind: re("kind")?,
            name: re("name")?,
            namespace: re("namespace")?,
            labels: selector("labelSelector")?,
            annotations: selector("annotationSelector")?,
        })
    }

    fn matches(&self, object: &Value) -> bool {
        let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
        let api_version = s("/apiVersion");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ok = |re: &Option<Regex>, v: &str| re.as_ref().is_none_or(|re| re.is_match(v));
        ok(&self.group, group)
            && ok(&self.version, version)
            && ok(&self.kind, s("/kind"))
            && ok(&self.name, s("/metadata/name"))
            && ok(&self.namespace, s("/metadata/namespace"))
            && self
                .labels
                .iter()
                .all(|r| r.matches(object.pointer("/metadata/labels")))
            && self
                .annotations
                .iter()
                .all(|r| r.matches(object.pointer("/metadata/annotations")))
    }
}

/// One requirement of an equality-based selector: `k=v`, `k==v`, `k!=v`,
/// `k` (exists) or `!k` (absent).
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

impl Requirement {
    fn parse_all(s: &str) -> Result<Vec<Self>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                if p.contains(" in ") || p.contains(" notin ") || p.contains('(') {
                    Err(format!("set-based requirement {p:?} is not supported"))
                } else if let Some((k, v)) = p.split_once("!=") {
                    Ok(Self::NotEquals(k.trim().into(), v.trim().into()))
                } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                    Ok(Self::Equals(k.trim().into(), v.trim().into()))
                } else if let Some(k) = p.strip_prefix('!') {
                    Ok(Self::Absent(k.trim().into()))
                } else {
                    Ok(Self::Exists(p.into()))
                }
            })
            .collect()
    }

    fn matches(&self, map: Option<&Value>) -> bool {
        let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
        match self {
            Self::Equals(k, v) => get(k) == Some(v.as_str()),
            Self::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Self::Exists(k) => get(k).is_some(),
            Self::Absent(k) => get(k).is_none(),
        }
    }
}

/// Apply RFC 6902 operations to `doc`.
pub(crate) fn apply_ops(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for (i, op) in ops.iter().enumerate() {
        apply_op(doc, op).map_err(|e| format!("operation {}: {e}", i + 1))?;
    }
    Ok(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let field = |k: &str| op.get(k).and_then(Value::as_str);
    let name = field("op").ok_or("missing `op`")?;
    let path = field("path").ok_or("missing `path`")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| "missing `value`".to_owned())
    };
    match name {
        "add" => add(doc, path, value()?),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let target = doc
                .pointer_mut(path)
                .ok_or_else(|| format!("path {path} does not exist"))?;
            *target = value()?;
            Ok(())
        }
        "move" => {
            let from = field("from").ok_or("missing `from`")?;
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        "copy" => {
            let from = field("from").ok_or("missing `from`")?;
            let v = doc
                .pointer(from)
                .cloned()
                .ok_or_else(|| format!("path {from} does not exist"))?;
            add(doc, path, v)
        }
        "test" => {
            let expected = value()?;
            match doc.pointer(path) {
                Some(actual) if *actual == expected => Ok(()),
                _ => Err(format!("test failed at {path}")),
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// Split a JSON pointer into its parent pointer and unescaped last token.
fn split(path: &str) -> Result<(&str, String), String> {
    let slash = path
        .rfind('/')
        .ok_or_else(|| format!("invalid path {path:?}"))?;
    let token = path[slash + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..slash], token))
}

/// `add`, creating missing parent objects like kustomize does
/// (json-patch's `EnsurePathExistsOnAdd`).
fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, token) = split(path)?;
    if doc.pointer(parent).is_none() {
        add(doc, parent, Value::Object(serde_json::Map::new()))?;
    }
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            if token == "-" {
                items.push(value);
                return Ok(());
            }
            let i: usize = token
                .parse()
                .map_err(|_| format!("invalid index in {path}"))?;
            if i > items.len() {
                return Err(format!("index out of range in {path}"));
            }
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!("parent of {path} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, token) = split(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token),
        Some(Value::Array(items)) => token
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    }
    .ok_or_else(|| format!("path {path} does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_operations() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c": "x"});
        let ops = json!([
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/a/e~1f"},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "test", "path": "/a/b", "value": [0, 2, 3]}
        ]);
        apply_ops(&mut doc, ops.as_array().unwrap()).unwrap();
        assert_eq!(doc, json!({"a": {"b": [0, 2, 3], "e/f": "y"}, "c": "y"}));
        let err = apply_ops(&mut doc, &[json!({"op": "remove", "path": "/nope"})]).unwrap_err();
        assert_eq!(err, "operation 1: path /nope does not exist");
    }

    #[test]
    fn targets_are_anchored_regexes_with_selectors() {
        let t = Target::parse(
            &json!({"kind": "Deployment", "name": "(a|b)-ctl", "labelSelector": "app=x,!skip"}),
        )
        .unwrap();
        let obj = |name: &str, labels: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels}});
        assert!(t.matches(&obj("a-ctl", json!({"app": "x"}))));
        assert!(!t.matches(&obj("a-ctl-2", json!({"app": "x"}))));
        assert!(!t.matches(&obj("b-ctl", json!({"app": "x", "skip": "1"}))));
    }
}
