//! Non-apply patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic merge
//! patch that merges keyed lists by their merge key and honours `$patch: delete` / `replace`
//! (other directives are dropped). Pure functions over JSON.

use serde_json::Value;

use crate::fieldset::{self, list_type, ListType};
use crate::status::ApiError;

/// Applies an RFC 7386 merge patch: objects merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let Value::Object(t) = target else { return };
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Applies a strategic merge patch for an object of `kind`.
pub fn strategic_merge_patch(kind: &str, target: &mut Value, patch: &Value) {
    smp(kind, target, patch, &mut Vec::new());
}

fn smp<'a>(kind: &str, target: &mut Value, patch: &'a Value, fields: &mut Vec<&'a str>) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = patch.clone();
        strip_directives(&mut clean);
        *target = clean;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        fields.push(k.as_str());
        let slot = t.entry(k.clone()).or_insert(Value::Null);
        match (slot.as_array_mut(), v, list_type(kind, fields)) {
            (Some(items), Value::Array(pitems), ListType::Map(keys)) => {
                for pi in pitems {
                    let key = fieldset::item_key(pi, keys);
                    let pos = items
                        .iter()
                        .position(|i| key.is_some() && fieldset::item_key(i, keys) == key);
                    let delete = pi.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            items.remove(i);
                        }
                        (None, true) => {}
                        (Some(i), false) => smp(kind, &mut items[i], pi, fields),
                        (None, false) => {
                            let mut clean = pi.clone();
                            strip_directives(&mut clean);
                            items.push(clean);
                        }
                    }
                }
            }
            (_, Value::Object(_), _) => smp(kind, slot, v, fields),
            _ => {
                let mut clean = v.clone();
                strip_directives(&mut clean);
                *slot = clean;
            }
        }
        fields.pop();
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(
    doc: &'a mut Value,
    tokens: &[String],
    path: &str,
) -> Result<&'a mut Value, ApiError> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| ApiError::bad_patch(format!("jsonpatch: path {path:?} does not exist")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse().map_err(|_| bad_index(path))?
            };
            if i > a.len() {
                return Err(bad_index(path));
            }
            a.insert(i, value);
        }
        _ => {
            return Err(ApiError::bad_patch(format!(
                "jsonpatch add: {path:?} has no container"
            )))
        }
    }
    Ok(())
}

fn bad_index(path: &str) -> ApiError {
    ApiError::bad_patch(format!("jsonpatch: invalid array index in {path:?}"))
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let tokens = split_pointer(path)?;
    let (last, parents) = tokens
        .split_last()
        .ok_or_else(|| ApiError::bad_patch("jsonpatch remove: empty path"))?;
    let missing = || {
        ApiError::bad_patch(format!(
            "jsonpatch remove operation does not apply: doc is missing path: {path:?}"
        ))
    };
    match parent_mut(doc, parents, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| bad_index(path))?;
            if i >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("json patch operation without path"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| ApiError::bad_request(format!("json patch {name} without value")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request(format!("json patch {name} without from")))
        };
        match name {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove_at(doc, path)?;
            }
            "replace" => {
                remove_at(doc, path)?;
                add(doc, path, value()?)?;
            }
            "move" => {
                let v = remove_at(doc, from()?)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let v = doc
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| ApiError::bad_patch("jsonpatch copy: from path missing"))?;
                add(doc, path, v)?;
            }
            "test" => {
                // Like the API server's json-patch library, a missing path
                // tests equal to `null` (kube-runtime's finalizer helper
                // relies on it).
                if doc.pointer(path).unwrap_or(&Value::Null) != &value()? {
                    return Err(ApiError::bad_patch(format!("testing value {path} failed")));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected json patch operation {other:?}"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_path_tests_equal_to_null_only() {
        let mut d = json!({"metadata": {"name": "a"}});
        let ops = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}]);
        json_patch(&mut d, &ops).unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["x"]));
        let ops = json!([{"op": "test", "path": "/metadata/labels", "value": {}}]);
        assert!(json_patch(&mut d, &ops).is_err());
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "9"}, {"name": "b", "$patch": "delete"}]}}}});
        strategic_merge_patch("Deployment", &mut d, &p);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "9"}])
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(&mut d, &json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": 2},
            {"op": "move", "from": "/b", "path": "/d"}, {"op": "test", "path": "/d/c", "value": 2}])).unwrap();
        assert_eq!(d, json!({"a": [1, 2, 3], "d": {"c": 2}}));
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/zz"}])).is_err());
        let mut m = json!({"a": {"b": 1, "c": 2}});
        merge_patch(&mut m, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(m, json!({"a": {"c": 2, "d": 3}}));
    }
}
