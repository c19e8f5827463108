//! The `replacements` field: copy a value from one object's field into
//! fields of other objects. No IO.
//!
//! A replacement (inline, or a file named by `path` holding one or a list)
//! is `{source, targets}`. `source` selects exactly one object (`group`,
//! `version`, `kind`, `name`, `namespace`) and a `fieldPath` (default
//! `metadata.name`); each target has `select`, optional `reject` (lists of
//! selectors), `fieldPaths` and `options`. Field paths are dot-separated:
//! `spec.template.spec.containers.[name=app].image`, `*` for every item,
//! a number for a list index, `[key.with.dots]` for a map key. `options`:
//! `delimiter` with `index` (replace one part of a delimited string) and
//! `create` (create missing fields).

use serde_json::{Map, Value};

use super::target::Target;
use super::transform::Context;
use super::{resolve, Error};
use crate::render::{yaml, Manifest};

/// Apply `replacements` of `k` to `objects`. Selectors match an object's
/// current name or its name before this kustomization's prefix and suffix
/// (`names_before`, index-aligned).
pub(super) fn apply(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut [Manifest],
    names_before: &[String],
    errors: &mut Vec<Error>,
) {
    let Some(entries) = k.get("replacements") else {
        return;
    };
    let Some(entries) = entries.as_array() else {
        errors.push(invalid(cx, "`replacements` must be a list".into()));
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let what = format!("replacements[{}]", i + 1);
        let replacements = match load(entry, cx) {
            Ok(list) => list,
            Err(message) => {
                errors.push(invalid(cx, format!("{what}: {message}")));
                continue;
            }
        };
        for r in &replacements {
            if let Err(message) = replace(r, objects, names_before) {
                errors.push(invalid(cx, format!("{what}: {message}")));
            }
        }
    }
}

fn invalid(cx: &Context<'_>, message: String) -> Error {
    Error::Invalid {
        file: cx.file.to_owned(),
        message,
    }
}

/// The replacements of one entry: itself, or those of the file it names.
fn load(entry: &Value, cx: &Context<'_>) -> Result<Vec<Value>, String> {
    let Some(path) = entry.get("path").and_then(Value::as_str) else {
        return Ok(vec![entry.clone()]);
    };
    let resolved = resolve(cx.dir, path).ok_or(format!("{path:?} is outside the source path"))?;
    let bytes = cx
        .tree
        .get(&resolved)
        .ok_or(format!("file {path:?} not found"))?;
    let mut parse_errors = Vec::new();
    let docs = yaml::parse(&resolved, bytes, cx.options, &mut parse_errors);
    if let Some(e) = parse_errors.first() {
        return Err(e.to_string());
    }
    Ok(docs
        .into_iter()
        .flat_map(|d| match d.value {
            Value::Array(items) => items,
            other => vec![other],
        })
        .collect())
}

/// Options of a source or target.
#[derive(Default)]
struct Options {
    delimiter: Option<String>,
    index: i64,
    create: bool,
}

impl Options {
    fn parse(v: Option<&Value>) -> Options {
        Options {
            delimiter: v
                .and_then(|v| v.get("delimiter"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            index: v
                .and_then(|v| v.get("index"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            create: v.and_then(|v| v.get("create")).and_then(Value::as_bool) == Some(true),
        }
    }
}

/// Apply one replacement.
fn replace(r: &Value, objects: &mut [Manifest], names_before: &[String]) -> Result<(), String> {
    let source = r.get("source").ok_or("needs a `source`")?;
    let selector = without(source, &["fieldPath", "options"]);
    let select = Target::parse(&selector).map_err(|e| format!("source: {e}"))?;
    let mut found = objects
        .iter()
        .zip(names_before)
        .filter(|(m, before)| selects(&select, &m.object, before))
        .map(|(m, _)| m);
    let object = found.next().ok_or("the source selects no object")?;
    if found.next().is_some() {
        return Err("the source selects more than one object".into());
    }
    let field_path = source
        .get("fieldPath")
        .and_then(Value::as_str)
        .unwrap_or("metadata.name");
    let mut value = get(&object.object, &segments(field_path))
        .ok_or(format!("source field {field_path} does not exist"))?;
    let options = Options::parse(source.get("options"));
    if let Some(delimiter) = &options.delimiter {
        let text = value.as_str().ok_or("a delimiter needs a string source")?;
        let part = usize::try_from(options.index)
            .ok()
            .and_then(|i| text.split(delimiter.as_str()).nth(i))
            .ok_or(format!("source index {} is out of range", options.index))?;
        value = Value::String(part.to_owned());
    }
    let targets = r
        .get("targets")
        .and_then(Value::as_array)
        .ok_or("needs a list of `targets`")?;
    for target in targets {
        apply_target(target, &value, objects, names_before)?;
    }
    Ok(())
}

/// A copy of a map without some keys.
fn without(v: &Value, keys: &[&str]) -> Value {
    let mut map = v.as_object().cloned().unwrap_or_default();
    for key in keys {
        map.remove(*key);
    }
    Value::Object(map)
}

/// Whether `target` selects `object`, by its current name or `before`.
fn selects(target: &Target, object: &Value, before: &str) -> bool {
    target.matches(object) || target.matches_as(object, before)
}

fn apply_target(
    target: &Value,
    value: &Value,
    objects: &mut [Manifest],
    names_before: &[String],
) -> Result<(), String> {
    let select = Target::parse(target.get("select").ok_or("a target needs `select`")?)
        .map_err(|e| format!("select: {e}"))?;
    let reject: Vec<Target> = target
        .get("reject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Target::parse(r).map_err(|e| format!("reject: {e}")))
        .collect::<Result<_, _>>()?;
    let paths: Vec<&str> = target
        .get("fieldPaths")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| p.as_str().ok_or("`fieldPaths` must list strings"))
        .collect::<Result<_, _>>()?;
    let options = Options::parse(target.get("options"));
    for (m, before) in objects.iter_mut().zip(names_before) {
        if !selects(&select, &m.object, before)
            || reject.iter().any(|r| selects(r, &m.object, before))
        {
            continue;
        }
        for path in &paths {
            set(&mut m.object, &segments(path), value, &options)
                .map_err(|e| format!("target field {path}: {e}"))?;
        }
    }
    Ok(())
}

/// Split a field path on dots outside brackets. Empty segments (a leading
/// dot, as kubebuilder writes `.metadata.name`, or two dots) are dropped
/// and spaces around segments trimmed, as kyaml does.
pub(super) fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    let mut end_segment = |current: &mut String| {
        let segment = std::mem::take(current);
        let segment = segment.trim();
        if !segment.is_empty() {
            out.push(segment.to_owned());
        }
    };
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => {
                end_segment(&mut current);
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    end_segment(&mut current);
    out
}

/// The value at a path (the first match of wildcards).
pub(super) fn get(v: &Value, path: &[String]) -> Option<Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v.clone());
    };
    match (v, first.strip_prefix('[').and_then(|s| s.strip_suffix(']'))) {
        (Value::Array(items), Some(sel)) => items
            .iter()
            .find(|item| element_matches(item, sel))
            .and_then(|item| get(item, rest)),
        (Value::Object(map), Some(key)) => get(map.get(key)?, rest),
        (Value::Array(items), None) if first == "*" => items.iter().find_map(|i| get(i, rest)),
        (Value::Array(items), None) => get(items.get(first.parse::<usize>().ok()?)?, rest),
        (Value::Object(map), None) => get(map.get(first.as_str())?, rest),
        _ => None,
    }
}

/// Whether a list element matches `key=value`.
fn element_matches(item: &Value, selector: &str) -> bool {
    let Some((key, value)) = selector.split_once('=') else {
        return false;
    };
    match item.get(key) {
        Some(Value::String(s)) => s == value,
        Some(other) => serde_json::from_str::<Value>(value).ok().as_ref() == Some(other),
        None => false,
    }
}

/// Set the value at a path; a missing field is an error unless
/// `options.create` (missing list items are never created), as in
/// kustomize.
fn set(v: &mut Value, path: &[String], value: &Value, options: &Options) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *v = match &options.delimiter {
            Some(d) => Value::String(replace_part(v, d, options.index, value)?),
            None => value.clone(),
        };
        return Ok(());
    };
    let bracket = first.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    match v {
        Value::Array(items) => {
            if let Some(sel) = bracket {
                let mut matched = items
                    .iter_mut()
                    .filter(|i| element_matches(i, sel))
                    .peekable();
                if matched.peek().is_none() {
                    return Err(format!("no list item [{sel}]"));
                }
                matched.try_for_each(|item| set(item, rest, value, options))
            } else if first == "*" {
                items
                    .iter_mut()
                    .try_for_each(|i| set(i, rest, value, options))
            } else {
                let i: usize = first
                    .parse()
                    .map_err(|_| format!("{first} is not a list index"))?;
                let item = items
                    .get_mut(i)
                    .ok_or(format!("index {i} is out of range"))?;
                set(item, rest, value, options)
            }
        }
        Value::Object(map) => {
            let key = bracket.unwrap_or(first);
            if !map.contains_key(key) {
                if !options.create {
                    return Err(format!("{key} does not exist"));
                }
                map.insert(key.to_owned(), Value::Object(Map::new()));
            }
            set(
                map.get_mut(key).unwrap_or(&mut Value::Null),
                rest,
                value,
                options,
            )
        }
        Value::Null if options.create => {
            *v = Value::Object(Map::new());
            set(v, path, value, options)
        }
        _ => Err(format!("cannot enter {first}")),
    }
}

/// `target` split by `delimiter` with part `index` replaced by `value`
/// (kustomize: a negative index prepends, one past the end appends).
fn replace_part(
    target: &Value,
    delimiter: &str,
    index: i64,
    value: &Value,
) -> Result<String, String> {
    let text = target.as_str().unwrap_or("");
    let value = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    let mut parts: Vec<String> = text.split(delimiter).map(str::to_owned).collect();
    match usize::try_from(index) {
        Ok(i) if i < parts.len() => parts[i] = value,
        Ok(_) => parts.push(value),
        Err(_) => parts.insert(0, value),
    }
    Ok(parts.join(delimiter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_list_items_map_keys_and_indexes() {
        let v = json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}]},
                       "metadata": {"labels": {"app.kubernetes.io/name": "n"}}});
        let at = |p: &str| get(&v, &segments(p));
        assert_eq!(at("spec.containers.[name=b].image"), Some(json!("y:2")));
        assert_eq!(at("spec.containers.0.name"), Some(json!("a")));
        assert_eq!(
            at("metadata.labels.[app.kubernetes.io/name]"),
            Some(json!("n"))
        );
        assert_eq!(at("spec.missing"), None);
        assert_eq!(at(".spec.containers.0.name"), Some(json!("a")));
        assert_eq!(segments(". spec..image"), ["spec", "image"]);
    }

    #[test]
    fn delimited_parts_and_creation() {
        let mut v = json!({"spec": {"image": "reg/app:1"}});
        let options = Options {
            delimiter: Some(":".into()),
            index: 1,
            create: false,
        };
        set(&mut v, &segments("spec.image"), &json!("2"), &options).unwrap();
        assert_eq!(v["spec"]["image"], "reg/app:2");
        let missing = set(
            &mut v,
            &segments("spec.new.x"),
            &json!(1),
            &Options::default(),
        );
        assert_eq!(missing, Err("new does not exist".into()));
        let create = Options {
            create: true,
            ..Options::default()
        };
        set(&mut v, &segments("spec.new.x"), &json!(1), &create).unwrap();
        assert_eq!(v["spec"]["new"]["x"], 1);
    }
}
